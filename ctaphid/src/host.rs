//! The host end of CTAPHID: what a platform does to talk to a key
//! (CTAP 2.1 §11.2.4 to §11.2.9).
//!
//! [`Reassembler`] turns reports back into messages (pure); [`Client`]
//! sends a request and waits for its answer over a [`Link`], skipping
//! other channels' messages and collecting KEEPALIVE status bytes.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::packet::{
    fragment, Packet, Report, BROADCAST_CID, CONT_DATA_LEN, INIT_DATA_LEN, REPORT_LEN,
};
use crate::Command;

/// How long [`Client::init`] waits for the INIT answer.
const INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// One reassembled message from the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel it came on.
    pub cid: u32,
    /// The command, without the 0x80 bit.
    pub cmd: u8,
    /// The payload, without padding.
    pub payload: Vec<u8>,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no answer from the key in time")
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reassembles one message from an initialization packet and its
/// continuation packets (§11.2.4). Pure: reports in, a message out.
#[derive(Debug, Default)]
pub struct Reassembler {
    partial: Option<Message>,
    len: usize,
    seq: u8,
}

impl Reassembler {
    /// A reassembler waiting for an initialization packet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next report. Answers the message once it is whole; a
    /// report that does not continue the message under way (a continuation
    /// first, another channel, a sequence number out of order) is an
    /// `InvalidData` error and drops the message.
    pub fn push(&mut self, report: &Report) -> io::Result<Option<Message>> {
        let packet = Packet::parse(report).ok_or_else(|| invalid("a short report"))?;
        match (packet, self.partial.take()) {
            (
                Packet::Init {
                    cid,
                    cmd,
                    bcnt,
                    data,
                },
                None,
            ) => {
                let len = usize::from(bcnt);
                let take = len.min(INIT_DATA_LEN);
                let msg = Message {
                    cid,
                    cmd,
                    payload: data[..take].to_vec(),
                };
                self.len = len;
                self.seq = 0;
                self.finish_or_keep(msg)
            }
            (Packet::Init { .. }, Some(_)) => {
                Err(invalid("an initialization packet inside a message"))
            }
            (Packet::Cont { .. }, None) => Err(invalid("expected an initialization packet")),
            (Packet::Cont { cid, seq, data }, Some(mut msg)) => {
                if cid != msg.cid || seq != self.seq {
                    return Err(invalid("continuation out of order"));
                }
                let take = (self.len - msg.payload.len()).min(CONT_DATA_LEN);
                msg.payload.extend_from_slice(&data[..take]);
                self.seq = self.seq.wrapping_add(1);
                self.finish_or_keep(msg)
            }
        }
    }

    fn finish_or_keep(&mut self, msg: Message) -> io::Result<Option<Message>> {
        if msg.payload.len() >= self.len {
            Ok(Some(msg))
        } else {
            self.partial = Some(msg);
            Ok(None)
        }
    }
}

/// Where reports go and come from: a hidraw node, a UDP socket.
pub trait Link {
    /// Sends one report.
    fn send_report(&self, report: &[u8]) -> io::Result<()>;
    /// The next report, or a `TimedOut`/`WouldBlock` error after `timeout`.
    fn recv_report(&self, timeout: Duration) -> io::Result<Report>;
}

/// A key's HID-over-UDP transport (`fidosim run --transport udp`): one
/// report per datagram, from an ephemeral loopback port.
#[derive(Debug)]
pub struct UdpLink {
    sock: UdpSocket,
    device: SocketAddr,
    /// The read timeout last set on the socket (setting it is a syscall).
    timeout: std::cell::Cell<Option<Duration>>,
}

impl UdpLink {
    /// A link to the key at `device`, bound to the loopback address of
    /// the same family.
    pub fn connect(device: SocketAddr) -> io::Result<Self> {
        let local: SocketAddr = if device.is_ipv4() {
            (std::net::Ipv4Addr::LOCALHOST, 0).into()
        } else {
            (std::net::Ipv6Addr::LOCALHOST, 0).into()
        };
        Ok(Self {
            sock: UdpSocket::bind(local)?,
            device,
            timeout: std::cell::Cell::new(None),
        })
    }
}

impl Link for UdpLink {
    fn send_report(&self, report: &[u8]) -> io::Result<()> {
        self.sock.send_to(report, self.device).map(|_| ())
    }

    fn recv_report(&self, timeout: Duration) -> io::Result<Report> {
        // A zero read timeout means "none" to the OS: wait at least 1 ms.
        let timeout = timeout.max(Duration::from_millis(1));
        // Re-arm the timeout only when it moved by more than 50 ms.
        let stale = self
            .timeout
            .get()
            .is_none_or(|t| t.abs_diff(timeout) > Duration::from_millis(50));
        if stale {
            self.sock.set_read_timeout(Some(timeout))?;
            self.timeout.set(Some(timeout));
        }
        let mut buf = [0u8; 2 * REPORT_LEN];
        loop {
            let (n, from) = self.sock.recv_from(&mut buf)?;
            if from != self.device {
                continue;
            }
            if n != REPORT_LEN {
                return Err(invalid(format!("a {n}-byte datagram")));
            }
            let mut r = [0u8; REPORT_LEN];
            r.copy_from_slice(&buf[..REPORT_LEN]);
            return Ok(r);
        }
    }
}

/// A CTAPHID client over a [`Link`].
#[derive(Debug)]
pub struct Client<L> {
    link: L,
}

impl<L: Link> Client<L> {
    /// A client over `link`; no channel is allocated yet (see [`Self::init`]).
    pub fn new(link: L) -> Self {
        Self { link }
    }

    /// The link, for sending raw reports.
    pub fn link(&self) -> &L {
        &self.link
    }

    /// Sends a whole message, split into reports.
    pub fn send(&self, cid: u32, cmd: u8, payload: &[u8]) -> io::Result<()> {
        if payload.len() > crate::packet::MAX_MESSAGE_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {}-byte message is larger than CTAPHID carries ({} bytes)",
                    payload.len(),
                    crate::packet::MAX_MESSAGE_LEN
                ),
            ));
        }
        for r in fragment(cid, cmd, payload) {
            self.link.send_report(&r)?;
        }
        Ok(())
    }

    /// The next whole message on any channel (keepalives included),
    /// waiting at most `timeout` in all.
    pub fn recv(&self, timeout: Duration) -> io::Result<Message> {
        let deadline = Instant::now() + timeout;
        let mut assembler = Reassembler::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            let report = match self.link.recv_report(left) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(timed_out())
                }
                other => other?,
            };
            if let Some(m) = assembler.push(&report)? {
                return Ok(m);
            }
        }
    }

    /// The next whole message on channel `cid`; messages on other channels
    /// are skipped.
    fn recv_on(&self, cid: u32, deadline: Instant) -> io::Result<Message> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self.recv(left)?;
            if m.cid == cid {
                return Ok(m);
            }
        }
    }

    /// Allocates a channel with CTAPHID_INIT on the broadcast channel
    /// (§11.2.9.1.3), answering the new channel ID.
    pub fn init(&self, nonce: [u8; 8]) -> io::Result<u32> {
        self.send(BROADCAST_CID, Command::Init as u8, &nonce)?;
        let deadline = Instant::now() + INIT_TIMEOUT;
        loop {
            let m = self.recv_on(BROADCAST_CID, deadline)?;
            // Another client's INIT answer carries another nonce.
            if m.cmd == Command::Init as u8 && m.payload.len() >= 17 && m.payload[..8] == nonce {
                return Ok(u32::from_be_bytes([
                    m.payload[8],
                    m.payload[9],
                    m.payload[10],
                    m.payload[11],
                ]));
            }
        }
    }

    /// Sends a CTAP2 request (CTAPHID_CBOR) and waits up to `timeout` for
    /// its answer, collecting the KEEPALIVE status bytes seen meanwhile:
    /// (answer, keepalive statuses). A CTAPHID_ERROR answer is an
    /// `InvalidData` error naming its code.
    pub fn cbor(
        &self,
        cid: u32,
        request: &[u8],
        timeout: Duration,
    ) -> io::Result<(Vec<u8>, Vec<u8>)> {
        self.send(cid, Command::Cbor as u8, request)?;
        let deadline = Instant::now() + timeout;
        let mut keepalives = Vec::new();
        loop {
            let m = self.recv_on(cid, deadline)?;
            match m.cmd {
                c if c == Command::Keepalive as u8 => keepalives.extend_from_slice(&m.payload),
                c if c == Command::Cbor as u8 => return Ok((m.payload, keepalives)),
                c if c == Command::Error as u8 => {
                    return Err(invalid(format!(
                        "CTAPHID error 0x{:02x}",
                        m.payload.first().copied().unwrap_or(0)
                    )))
                }
                other => {
                    return Err(invalid(format!(
                        "an unexpected CTAPHID answer 0x{other:02x}: {:?}",
                        m.payload
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::packet::MAX_MESSAGE_LEN;

    #[test]
    fn reassembles_what_fragment_splits() {
        for len in [0, 1, 57, 58, 116, 117, 1000, MAX_MESSAGE_LEN] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let reports = fragment(0x0102_0304, 0x10, &payload);
            let mut r = Reassembler::new();
            let (last, init) = reports.split_last().unwrap();
            for report in init {
                assert_eq!(r.push(report).unwrap(), None, "len {len}");
            }
            let m = r.push(last).unwrap().unwrap();
            assert_eq!((m.cid, m.cmd, m.payload), (0x0102_0304, 0x10, payload));
        }
    }

    #[test]
    fn refuses_out_of_order_continuations() {
        let reports = fragment(7, 0x10, &[0xAA; 200]);
        let mut r = Reassembler::new();
        assert!(r.push(&reports[1]).is_err(), "a continuation first");
        r.push(&reports[0]).unwrap();
        assert!(r.push(&reports[2]).is_err(), "seq 1 before seq 0");
        let mut r = Reassembler::new();
        r.push(&reports[0]).unwrap();
        let mut other = reports[1];
        other[..4].copy_from_slice(&8u32.to_be_bytes());
        assert!(r.push(&other).is_err(), "another channel");
        let mut r = Reassembler::new();
        r.push(&reports[0]).unwrap();
        assert!(r.push(&reports[0]).is_err(), "init inside a message");
    }

    /// A link that answers from a script and records what was sent.
    struct Scripted {
        sent: std::cell::RefCell<Vec<Report>>,
        answers: std::cell::RefCell<std::collections::VecDeque<Report>>,
    }

    impl Link for Scripted {
        fn send_report(&self, report: &[u8]) -> io::Result<()> {
            self.sent.borrow_mut().push(report.try_into().unwrap());
            Ok(())
        }
        fn recv_report(&self, _: Duration) -> io::Result<Report> {
            self.answers
                .borrow_mut()
                .pop_front()
                .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "script ended"))
        }
    }

    fn scripted(answers: Vec<Report>) -> Client<Scripted> {
        Client::new(Scripted {
            sent: Default::default(),
            answers: std::cell::RefCell::new(answers.into()),
        })
    }

    #[test]
    fn init_skips_other_nonces_and_cbor_skips_other_channels() {
        let nonce = [9; 8];
        let mut theirs = vec![1; 8];
        theirs.extend_from_slice(&[0, 0, 0, 5, 2, 1, 0, 0, 0]);
        let mut ours = nonce.to_vec();
        ours.extend_from_slice(&[0, 0, 0, 6, 2, 1, 0, 0, 0]);
        let mut script = fragment(BROADCAST_CID, 0x06, &theirs);
        script.extend(fragment(BROADCAST_CID, 0x06, &ours));
        script.extend(fragment(5, 0x10, &[0x31]));
        script.extend(fragment(6, 0x3B, &[2]));
        script.extend(fragment(6, 0x10, &[0x00, 0xA0]));
        let client = scripted(script);
        let cid = client.init(nonce).unwrap();
        assert_eq!(cid, 6);
        assert_eq!(
            client.cbor(cid, &[0x04], Duration::from_secs(1)).unwrap(),
            (vec![0x00, 0xA0], vec![2])
        );
        let sent = client.link().sent.borrow();
        assert_eq!(&sent[1][..8], &[0, 0, 0, 6, 0x90, 0, 1, 0x04]);
    }

    #[test]
    fn cbor_reports_ctaphid_errors() {
        let client = scripted(fragment(6, 0x3F, &[0x06]));
        let e = client.cbor(6, &[0x04], Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.to_string(), "CTAPHID error 0x06");
        let client = scripted(vec![]);
        assert!(client.send(6, 0x10, &[0; MAX_MESSAGE_LEN + 1]).is_err());
        assert!(client.link().sent.borrow().is_empty());
    }
}
