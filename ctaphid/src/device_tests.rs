//! One test per CTAPHID rule and error code.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::packet::{fragment, Packet, Report, REPORT_LEN};

const NONCE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

fn layer() -> Ctaphid {
    Ctaphid::new(Settings::default())
}

fn init_report(cid: u32, cmd: u8, payload: &[u8]) -> Vec<Report> {
    fragment(cid, cmd, payload)
}

/// Sends a whole message and returns the actions.
fn send(h: &mut Ctaphid, now: u64, cid: u32, cmd: u8, payload: &[u8]) -> Vec<Action> {
    let mut out = Vec::new();
    for r in init_report(cid, cmd, payload) {
        out.extend(h.receive(now, &r));
    }
    out
}

/// Reassembles the reports of one Send action into (cid, cmd, payload).
fn reply(actions: &[Action]) -> (u32, u8, Vec<u8>) {
    let reports: Vec<&Report> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(r) => Some(r),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(!reports.is_empty(), "no reply in {actions:?}");
    let Some(Packet::Init {
        cid,
        cmd,
        bcnt,
        data,
    }) = Packet::parse(reports[0])
    else {
        panic!("first report is not an init packet");
    };
    let mut payload = data.to_vec();
    for (i, r) in reports[1..].iter().enumerate() {
        let Some(Packet::Cont { cid: c, seq, data }) = Packet::parse(*r) else {
            panic!()
        };
        assert_eq!(c, cid);
        assert_eq!(seq as usize, i);
        payload.extend_from_slice(data);
    }
    payload.truncate(bcnt as usize);
    (cid, cmd, payload)
}

fn error_of(actions: &[Action]) -> (u32, u8) {
    let (cid, cmd, payload) = reply(actions);
    assert_eq!(cmd, Command::Error as u8, "expected ERROR, got {cmd:#x}");
    (cid, payload[0])
}

fn allocate(h: &mut Ctaphid) -> u32 {
    let (cid, cmd, p) = reply(&send(h, 0, BROADCAST_CID, Command::Init as u8, &NONCE));
    assert_eq!(cid, BROADCAST_CID);
    assert_eq!(cmd, Command::Init as u8);
    u32::from_be_bytes(p[8..12].try_into().unwrap())
}

#[test]
fn init_allocates_fresh_channels() {
    let mut h = layer();
    let (_, _, p) = reply(&send(&mut h, 0, BROADCAST_CID, Command::Init as u8, &NONCE));
    assert_eq!(p.len(), 17);
    assert_eq!(&p[..8], &NONCE, "nonce echoed");
    assert_eq!(p[12], 2, "CTAPHID protocol version 2");
    assert_eq!(
        p[16],
        capabilities::WINK | capabilities::CBOR,
        "WINK and CBOR; NMSG clear because MSG is implemented"
    );
    let a = u32::from_be_bytes(p[8..12].try_into().unwrap());
    let b = allocate(&mut h);
    assert_ne!(a, b);
    assert!(a != 0 && a != BROADCAST_CID);
}

#[test]
fn init_on_allocated_channel_resynchronises() {
    let mut h = layer();
    let cid = allocate(&mut h);
    // Start a long message, then INIT on the same channel.
    let parts = fragment(cid, Command::Cbor as u8, &[0x04; 100]);
    assert!(h.receive(0, &parts[0]).is_empty());
    let (rcid, _, p) = reply(&send(&mut h, 0, cid, Command::Init as u8, &NONCE));
    assert_eq!(rcid, cid);
    assert_eq!(&p[8..12], &cid.to_be_bytes(), "same channel");
    // The abandoned message's continuation is ignored now.
    assert!(h.receive(0, &parts[1]).is_empty());
}

#[test]
fn init_during_processing_on_same_channel_cancels() {
    let mut h = layer();
    let cid = allocate(&mut h);
    let acts = send(&mut h, 0, cid, Command::Cbor as u8, &[0x04]);
    let Action::Process(req) = &acts[0] else {
        panic!()
    };
    let acts = send(&mut h, 0, cid, Command::Init as u8, &NONCE);
    assert!(acts.contains(&Action::Cancel { txn: req.txn }));
    assert!(
        h.respond(req.txn, Command::Cbor, &[0]).is_empty(),
        "stale answer dropped"
    );
}

#[test]
fn init_with_wrong_length() {
    let mut h = layer();
    assert_eq!(
        error_of(&send(
            &mut h,
            0,
            BROADCAST_CID,
            Command::Init as u8,
            &[1, 2, 3]
        )),
        (BROADCAST_CID, HidError::InvalidLen as u8)
    );
}

#[test]
fn invalid_channels() {
    let mut h = layer();
    // Channel 0 is reserved.
    assert_eq!(
        error_of(&send(&mut h, 0, 0, Command::Ping as u8, &[1])).1,
        HidError::InvalidChannel as u8
    );
    // Only INIT on the broadcast channel.
    assert_eq!(
        error_of(&send(&mut h, 0, BROADCAST_CID, Command::Ping as u8, &[1])).1,
        HidError::InvalidChannel as u8
    );
    assert_eq!(
        error_of(&send(&mut h, 0, BROADCAST_CID, Command::Cbor as u8, &[4])).1,
        HidError::InvalidChannel as u8
    );
    // A channel never allocated.
    assert_eq!(
        error_of(&send(&mut h, 0, 0x1234, Command::Ping as u8, &[1])).1,
        HidError::InvalidChannel as u8
    );
    assert_eq!(
        error_of(&send(&mut h, 0, 0x1234, Command::Init as u8, &NONCE)).1,
        HidError::InvalidChannel as u8
    );
}

#[test]
fn ping_of_the_largest_message() {
    let mut h = layer();
    let cid = allocate(&mut h);
    let payload: Vec<u8> = (0..7609u32).map(|i| i as u8).collect();
    let (rcid, cmd, p) = reply(&send(&mut h, 0, cid, Command::Ping as u8, &payload));
    assert_eq!((rcid, cmd), (cid, Command::Ping as u8));
    assert_eq!(p, payload);
}

#[test]
fn over_long_message() {
    let mut h = layer();
    let cid = allocate(&mut h);
    let mut r = [0u8; REPORT_LEN];
    r[..4].copy_from_slice(&cid.to_be_bytes());
    r[4] = 0x80 | Command::Ping as u8;
    r[5..7].copy_from_slice(&7610u16.to_be_bytes());
    assert_eq!(error_of(&h.receive(0, &r)).1, HidError::InvalidLen as u8);
}

#[test]
fn sequence_errors() {
    let mut h = layer();
    let cid = allocate(&mut h);
    let parts = fragment(cid, Command::Ping as u8, &[7; 200]);
    h.receive(0, &parts[0]);
    // Skip seq 0.
    assert_eq!(
        error_of(&h.receive(0, &parts[2])),
        (cid, HidError::InvalidSeq as u8)
    );
    // A new init packet on a channel that owes continuations.
    h.receive(0, &parts[0]);
    assert_eq!(
        error_of(&send(&mut h, 0, cid, Command::Ping as u8, &[1])),
        (cid, HidError::InvalidSeq as u8)
    );
    // A stray continuation is ignored.
    assert!(h.receive(0, &parts[1]).is_empty());
}

#[test]
fn message_timeout_without_sleeping() {
    let mut h = layer();
    let cid = allocate(&mut h);
    let parts = fragment(cid, Command::Ping as u8, &[7; 200]);
    h.receive(100, &parts[0]);
    assert_eq!(h.next_deadline(), Some(1_100));
    assert!(h.poll(1_099).is_empty());
    assert_eq!(error_of(&h.poll(1_100)), (cid, HidError::MsgTimeout as u8));
    assert!(
        h.receive(1_101, &parts[1]).is_empty(),
        "the message is gone"
    );
}

#[test]
fn the_message_timer_starts_again_at_each_continuation() {
    let mut h = layer();
    let cid = allocate(&mut h);
    // 7,609 bytes: an initialization and 128 continuation packets, 900 ms
    // apart, 115 s in all: each one within the timeout of the one before.
    let payload: Vec<u8> = (0..7_609u32).map(|i| i as u8).collect();
    let parts = fragment(cid, Command::Cbor as u8, &payload);
    assert_eq!(parts.len(), 129);
    let mut now = 0;
    let mut last = Vec::new();
    for p in &parts {
        now += 900;
        assert!(h.poll(now).is_empty(), "timed out at {now} ms");
        last = h.receive(now, p);
        if last.is_empty() {
            assert_eq!(h.next_deadline(), Some(now + 1_000));
        }
    }
    assert!(matches!(last.as_slice(), [Action::Process(r)] if r.payload == payload));
}

#[test]
fn a_skipped_sequence_number_is_reported_as_a_gap() {
    let mut h = layer();
    let cid = allocate(&mut h);
    let parts = fragment(cid, Command::Ping as u8, &[7; 300]);
    h.receive(0, &parts[0]);
    h.receive(0, &parts[1]);
    // Continuation 1 is lost; 2 arrives.
    assert_eq!(
        error_of(&h.receive(0, &parts[3])),
        (cid, HidError::InvalidSeq as u8)
    );
    assert_eq!(
        h.take_sequence_gap(),
        Some(SequenceGap {
            cid,
            expected: 1,
            got: 2
        })
    );
    assert_eq!(h.take_sequence_gap(), None, "taken once");
    // A repeated packet is out of order, not a gap.
    h.receive(0, &parts[0]);
    h.receive(0, &parts[1]);
    assert_eq!(
        error_of(&h.receive(0, &parts[1])),
        (cid, HidError::InvalidSeq as u8)
    );
    assert_eq!(h.take_sequence_gap(), None);
}

#[test]
fn other_channel_is_busy_while_assembling_and_processing() {
    let mut h = layer();
    let a = allocate(&mut h);
    let b = allocate(&mut h);
    let parts = fragment(a, Command::Ping as u8, &[7; 100]);
    h.receive(0, &parts[0]);
    assert_eq!(
        error_of(&send(&mut h, 0, b, Command::Ping as u8, &[1])),
        (b, HidError::ChannelBusy as u8)
    );
    let (_, _, p) = reply(&h.receive(0, &parts[1]));
    assert_eq!(p, vec![7; 100]);
    // Processing a CBOR request.
    let acts = send(&mut h, 0, a, Command::Cbor as u8, &[0x04]);
    let Action::Process(req) = acts[0].clone() else {
        panic!()
    };
    assert_eq!(
        error_of(&send(&mut h, 0, b, Command::Cbor as u8, &[0x04])),
        (b, HidError::ChannelBusy as u8)
    );
    assert_eq!(
        error_of(&send(&mut h, 0, a, Command::Ping as u8, &[1])),
        (a, HidError::ChannelBusy as u8)
    );
    // INIT on the broadcast channel still works while busy.
    allocate(&mut h);
    let (rcid, cmd, p) = reply(&[Action::Send(h.respond(req.txn, Command::Cbor, &[0, 0xa0]))]);
    assert_eq!((rcid, cmd, p), (a, Command::Cbor as u8, vec![0, 0xa0]));
    assert!(h.busy_channel().is_none());
}

#[test]
fn cancel() {
    let mut h = layer();
    let a = allocate(&mut h);
    let b = allocate(&mut h);
    // Nothing pending: ignored, no answer.
    assert!(send(&mut h, 0, a, Command::Cancel as u8, &[]).is_empty());
    let acts = send(&mut h, 0, a, Command::Cbor as u8, &[0x02]);
    let Action::Process(req) = acts[0].clone() else {
        panic!()
    };
    // From another channel: ignored.
    assert!(send(&mut h, 0, b, Command::Cancel as u8, &[]).is_empty());
    assert_eq!(
        send(&mut h, 0, a, Command::Cancel as u8, &[]),
        vec![Action::Cancel { txn: req.txn }]
    );
    // The application then answers with KEEPALIVE_CANCEL.
    let (_, _, p) = reply(&[Action::Send(h.respond(req.txn, Command::Cbor, &[0x2D]))]);
    assert_eq!(p, vec![0x2D]);
}

#[test]
fn keepalive_only_while_busy() {
    let mut h = layer();
    let a = allocate(&mut h);
    assert!(h.keepalive(KeepaliveStatus::Processing).is_none());
    let acts = send(&mut h, 0, a, Command::Cbor as u8, &[0x02]);
    let Action::Process(req) = acts[0].clone() else {
        panic!()
    };
    let (cid, cmd, p) = reply(&[Action::Send(
        h.keepalive(KeepaliveStatus::UpNeeded).unwrap(),
    )]);
    assert_eq!((cid, cmd, p), (a, Command::Keepalive as u8, vec![2]));
    h.respond(req.txn, Command::Cbor, &[0]);
    assert!(h.keepalive(KeepaliveStatus::Processing).is_none());
}

#[test]
fn wink_lock_and_unknown_commands() {
    let mut h = layer();
    let a = allocate(&mut h);
    let b = allocate(&mut h);
    let acts = send(&mut h, 0, a, Command::Wink as u8, &[]);
    assert!(acts.contains(&Action::Wink));
    assert_eq!(reply(&acts), (a, Command::Wink as u8, vec![]));
    assert_eq!(
        error_of(&send(&mut h, 0, a, 0x55, &[])),
        (a, HidError::InvalidCmd as u8)
    );
    assert_eq!(
        error_of(&send(&mut h, 0, a, Command::Keepalive as u8, &[1])),
        (a, HidError::InvalidCmd as u8)
    );
    // CBOR needs a command byte, MSG an APDU.
    assert_eq!(
        error_of(&send(&mut h, 0, a, Command::Cbor as u8, &[])),
        (a, HidError::InvalidLen as u8)
    );
    assert_eq!(
        error_of(&send(&mut h, 0, a, Command::Msg as u8, &[])),
        (a, HidError::InvalidLen as u8)
    );
    // LOCK: bad parameters, then a 2 s lock that excludes channel b.
    assert_eq!(
        error_of(&send(&mut h, 0, a, Command::Lock as u8, &[11])),
        (a, HidError::InvalidPar as u8)
    );
    assert_eq!(
        error_of(&send(&mut h, 0, a, Command::Lock as u8, &[])),
        (a, HidError::InvalidLen as u8)
    );
    assert_eq!(
        reply(&send(&mut h, 1_000, a, Command::Lock as u8, &[2])),
        (a, Command::Lock as u8, vec![])
    );
    assert_eq!(
        error_of(&send(&mut h, 1_500, b, Command::Ping as u8, &[1])),
        (b, HidError::ChannelBusy as u8)
    );
    assert_eq!(
        reply(&send(&mut h, 1_500, a, Command::Ping as u8, &[1])).2,
        vec![1]
    );
    // The lock expires by itself ...
    assert_eq!(
        reply(&send(&mut h, 3_000, b, Command::Ping as u8, &[1])).2,
        vec![1]
    );
    // ... or is released with 0.
    send(&mut h, 4_000, a, Command::Lock as u8, &[10]);
    send(&mut h, 4_001, a, Command::Lock as u8, &[0]);
    assert_eq!(
        reply(&send(&mut h, 4_002, b, Command::Ping as u8, &[1])).2,
        vec![1]
    );
}

#[test]
fn short_reports_are_dropped() {
    let mut h = layer();
    assert!(h.receive(0, &[0xff; 63]).is_empty());
    assert!(h.receive(0, &[0xff; 65]).is_empty());
}

/// Property: any payload up to the maximum survives split and reassembly,
/// on any channel, for PING.
#[test]
fn split_assemble_round_trip_property() {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut h = layer();
    let cid = allocate(&mut h);
    let mut lens: Vec<usize> = vec![0, 1, 56, 57, 58, 115, 116, 117, 7608, 7609];
    lens.extend((0..200).map(|_| rng.random_range(0..=7609)));
    for len in lens {
        let payload: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let reports = fragment(cid, Command::Ping as u8, &payload);
        assert_eq!(reports.len(), 1 + len.saturating_sub(57).div_ceil(59));
        let mut acts = Vec::new();
        for r in &reports {
            acts.extend(h.receive(0, r));
        }
        assert_eq!(reply(&acts), (cid, Command::Ping as u8, payload));
    }
}

// ---------------------------------------------------------------------- MSG

/// The U2F_VERSION APDU in extended length encoding.
const VERSION_APDU: [u8; 7] = [0, 3, 0, 0, 0, 0, 0];

#[test]
fn msg_goes_to_the_application_and_is_answered_with_msg() {
    let mut h = layer();
    let a = allocate(&mut h);
    let acts = send(&mut h, 0, a, Command::Msg as u8, &VERSION_APDU);
    assert_eq!(
        acts,
        vec![Action::Process(Request {
            txn: 1,
            cid: a,
            cmd: Command::Msg,
            payload: VERSION_APDU.to_vec(),
        })]
    );
    assert_eq!(h.busy_channel(), Some(a));
    let (cid, cmd, p) = reply(&[Action::Send(h.respond(1, Command::Msg, b"U2F_V2\x90\x00"))]);
    assert_eq!(
        (cid, cmd, p),
        (a, Command::Msg as u8, b"U2F_V2\x90\x00".to_vec())
    );
    assert!(h.busy_channel().is_none());
}

#[test]
fn long_msg_is_reassembled() {
    // A U2F_AUTHENTICATE APDU: 7 + 32 + 32 + 1 + 63 + 2 bytes, three packets.
    let mut h = layer();
    let a = allocate(&mut h);
    let apdu: Vec<u8> = (0..137u32).map(|i| i as u8).collect();
    let acts = send(&mut h, 0, a, Command::Msg as u8, &apdu);
    let [Action::Process(req)] = &acts[..] else {
        panic!("{acts:?}")
    };
    assert_eq!((req.cmd, &req.payload), (Command::Msg, &apdu));
}

#[test]
fn msg_while_busy_and_from_other_channels() {
    let mut h = layer();
    let a = allocate(&mut h);
    let b = allocate(&mut h);
    let acts = send(&mut h, 0, a, Command::Msg as u8, &VERSION_APDU);
    let Action::Process(req) = acts[0].clone() else {
        panic!()
    };
    assert_eq!(
        error_of(&send(&mut h, 0, b, Command::Msg as u8, &VERSION_APDU)),
        (b, HidError::ChannelBusy as u8)
    );
    assert_eq!(
        error_of(&send(&mut h, 0, a, Command::Cbor as u8, &[0x04])),
        (a, HidError::ChannelBusy as u8)
    );
    h.respond(req.txn, Command::Msg, &[0x90, 0x00]);
    // Free again; MSG on the broadcast channel is refused like CBOR.
    assert!(matches!(
        send(&mut h, 0, b, Command::Msg as u8, &VERSION_APDU)[..],
        [Action::Process(_)]
    ));
    let mut h = layer();
    assert_eq!(
        error_of(&send(
            &mut h,
            0,
            BROADCAST_CID,
            Command::Msg as u8,
            &VERSION_APDU
        )),
        (BROADCAST_CID, HidError::InvalidChannel as u8)
    );
}

/// §11.2.9.1.5: CANCEL is for a CTAPHID_CBOR request; during MSG it is
/// ignored, and the MSG answer still arrives.
#[test]
fn cancel_is_ignored_during_msg() {
    let mut h = layer();
    let a = allocate(&mut h);
    let acts = send(&mut h, 0, a, Command::Msg as u8, &VERSION_APDU);
    let Action::Process(req) = acts[0].clone() else {
        panic!()
    };
    assert!(send(&mut h, 0, a, Command::Cancel as u8, &[]).is_empty());
    assert_eq!(h.busy_channel(), Some(a));
    let (cid, cmd, p) = reply(&[Action::Send(h.respond(
        req.txn,
        Command::Msg,
        &[0x90, 0x00],
    ))]);
    assert_eq!((cid, cmd, p), (a, Command::Msg as u8, vec![0x90, 0x00]));
}

/// §11.2.9.1.7: KEEPALIVE "is sent while processing a CTAPHID_MSG" too.
#[test]
fn keepalive_during_msg() {
    let mut h = layer();
    let a = allocate(&mut h);
    let acts = send(&mut h, 0, a, Command::Msg as u8, &VERSION_APDU);
    let Action::Process(req) = acts[0].clone() else {
        panic!()
    };
    let (cid, cmd, p) = reply(&[Action::Send(
        h.keepalive(KeepaliveStatus::Processing).unwrap(),
    )]);
    assert_eq!((cid, cmd, p), (a, Command::Keepalive as u8, vec![1]));
    h.respond(req.txn, Command::Msg, &[0x90, 0x00]);
    assert!(h.keepalive(KeepaliveStatus::Processing).is_none());
}

/// INIT on the channel abandons a MSG request like a CBOR one.
#[test]
fn init_abandons_a_running_msg() {
    let mut h = layer();
    let a = allocate(&mut h);
    let acts = send(&mut h, 0, a, Command::Msg as u8, &VERSION_APDU);
    let Action::Process(req) = acts[0].clone() else {
        panic!()
    };
    let acts = send(&mut h, 0, a, Command::Init as u8, &NONCE);
    assert!(acts.contains(&Action::Cancel { txn: req.txn }));
    assert!(h.respond(req.txn, Command::Msg, &[0x90, 0x00]).is_empty());
}

/// A layer configured with NMSG (a CTAP2-only key) advertises it and
/// refuses MSG.
#[test]
fn nmsg_setting_refuses_msg() {
    let mut h = Ctaphid::new(Settings {
        capabilities: capabilities::WINK | capabilities::CBOR | capabilities::NMSG,
        ..Settings::default()
    });
    let (_, _, p) = reply(&send(&mut h, 0, BROADCAST_CID, Command::Init as u8, &NONCE));
    assert_eq!(p[16] & capabilities::NMSG, capabilities::NMSG);
    let a = u32::from_be_bytes(p[8..12].try_into().unwrap());
    assert_eq!(
        error_of(&send(&mut h, 0, a, Command::Msg as u8, &VERSION_APDU)),
        (a, HidError::InvalidCmd as u8)
    );
    assert!(h.busy_channel().is_none());
}
