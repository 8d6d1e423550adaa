//! CTAPHID reassembly: arbitrary reports, interleaved channels and clock
//! moves against one `Ctaphid`, plus a split/reassemble round trip of an
//! arbitrary payload. Checks: no panic; every request handed to the
//! application fits a CTAP message; the round trip returns the payload.

use arbitrary::Arbitrary;
use fidosim_ctaphid::packet::{fragment, Packet, BROADCAST_CID, MAX_MESSAGE_LEN, REPORT_LEN};
use fidosim_ctaphid::{Action, Command, Ctaphid, Settings};

/// One operation.
#[derive(Debug, Arbitrary)]
pub enum Op {
    /// A raw report (padded or cut to 64 bytes).
    Raw(Vec<u8>),
    /// A raw report on an allocated channel (index into the channels).
    OnChannel(u8, Vec<u8>),
    /// A whole message on an allocated channel.
    Message(u8, u8, Vec<u8>),
    /// Allocate a channel.
    Init([u8; 8]),
    /// Let time pass.
    Wait(u16),
    /// The application answers the pending request.
    Respond(Vec<u8>),
}

/// What the fuzzer's bytes decode to.
#[derive(Debug, Arbitrary)]
pub struct Input {
    ops: Vec<Op>,
    ping: Vec<u8>,
}

fn report(bytes: &[u8]) -> [u8; REPORT_LEN] {
    let mut r = [0u8; REPORT_LEN];
    let n = bytes.len().min(REPORT_LEN);
    r[..n].copy_from_slice(&bytes[..n]);
    r
}

fn check(actions: &[Action], channels: &mut Vec<u32>, pending: &mut Option<u64>) {
    for a in actions {
        match a {
            Action::Process(req) => {
                assert!(!req.payload.is_empty() && req.payload.len() <= MAX_MESSAGE_LEN);
                *pending = Some(req.txn);
            }
            Action::Send(reports) => {
                if let Some(Packet::Init {
                    cmd, bcnt, data, ..
                }) = reports.first().and_then(|r| Packet::parse(r))
                {
                    if cmd == Command::Init as u8 && bcnt == 17 {
                        channels.push(u32::from_be_bytes([data[8], data[9], data[10], data[11]]));
                    }
                }
            }
            Action::Cancel { .. } | Action::Wink => {}
        }
    }
}

/// Runs every check on one decoded input.
pub fn run(input: &Input) {
    let mut hid = Ctaphid::new(Settings::default());
    let mut now = 0u64;
    let mut channels: Vec<u32> = Vec::new();
    let mut pending = None;
    for op in input.ops.iter().take(256) {
        let actions = match op {
            Op::Raw(b) => hid.receive(now, &report(b)),
            Op::OnChannel(i, b) => {
                let Some(cid) = channels.get(*i as usize % channels.len().max(1)).copied() else {
                    continue;
                };
                let mut r = report(b);
                r[..4].copy_from_slice(&cid.to_be_bytes());
                hid.receive(now, &r)
            }
            Op::Message(i, cmd, payload) => {
                let Some(cid) = channels.get(*i as usize % channels.len().max(1)).copied() else {
                    continue;
                };
                let mut out = Vec::new();
                for r in fragment(cid, *cmd & 0x7F, payload) {
                    out.extend(hid.receive(now, &r));
                }
                out
            }
            Op::Init(nonce) => {
                let mut out = Vec::new();
                for r in fragment(BROADCAST_CID, Command::Init as u8, nonce) {
                    out.extend(hid.receive(now, &r));
                }
                out
            }
            Op::Wait(ms) => {
                now += u64::from(*ms);
                hid.poll(now)
            }
            Op::Respond(body) => match pending.take() {
                Some(txn) => vec![Action::Send(hid.respond(txn, Command::Cbor, body))],
                None => continue,
            },
        };
        check(&actions, &mut channels, &mut pending);
    }

    // Round trip on a fresh layer: PING echoes any payload up to the maximum.
    let mut hid = Ctaphid::new(Settings::default());
    let mut chans = Vec::new();
    let mut none = None;
    let acts: Vec<Action> = fragment(BROADCAST_CID, Command::Init as u8, &[1; 8])
        .iter()
        .flat_map(|r| hid.receive(0, r))
        .collect();
    check(&acts, &mut chans, &mut none);
    let cid = chans[0];
    let payload = &input.ping[..input.ping.len().min(MAX_MESSAGE_LEN)];
    let mut echoed = Vec::new();
    let mut len = 0usize;
    for r in fragment(cid, Command::Ping as u8, payload) {
        for a in hid.receive(0, &r) {
            if let Action::Send(reports) = a {
                for rep in reports {
                    match Packet::parse(&rep) {
                        Some(Packet::Init { bcnt, data, .. }) => {
                            len = bcnt as usize;
                            echoed.extend_from_slice(data);
                        }
                        Some(Packet::Cont { data, .. }) => echoed.extend_from_slice(data),
                        None => unreachable!(),
                    }
                }
            }
        }
    }
    echoed.truncate(len);
    assert_eq!(echoed, payload);
}

/// [`run`] on raw bytes, decoded as libfuzzer-sys decodes them.
pub fn run_bytes(data: &[u8]) {
    if let Some(input) = crate::decode::<Input>(data) {
        run(&input);
    }
}
