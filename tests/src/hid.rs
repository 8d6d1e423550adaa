//! A CTAPHID client over UDP (one 64-byte report per datagram).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The broadcast channel.
pub const BROADCAST: u32 = 0xFFFF_FFFF;
/// CTAPHID command codes, as the client sees them.
pub mod cmd {
    /// PING.
    pub const PING: u8 = 0x01;
    /// MSG.
    pub const MSG: u8 = 0x03;
    /// LOCK.
    pub const LOCK: u8 = 0x04;
    /// INIT.
    pub const INIT: u8 = 0x06;
    /// WINK.
    pub const WINK: u8 = 0x08;
    /// CBOR.
    pub const CBOR: u8 = 0x10;
    /// CANCEL.
    pub const CANCEL: u8 = 0x11;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 0x3B;
    /// ERROR.
    pub const ERROR: u8 = 0x3F;
}

/// One reassembled message from the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Channel.
    pub cid: u32,
    /// Command.
    pub cmd: u8,
    /// Payload.
    pub payload: Vec<u8>,
}

/// A CTAPHID client bound to an ephemeral loopback port.
#[derive(Debug)]
pub struct UdpHid {
    sock: UdpSocket,
    device: SocketAddr,
    /// The read timeout last set on the socket (setting it is a syscall).
    timeout: std::cell::Cell<Option<Duration>>,
}

impl UdpHid {
    /// A client talking to the device at `device`.
    pub fn connect(device: SocketAddr) -> io::Result<Self> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        Ok(Self {
            sock,
            device,
            timeout: std::cell::Cell::new(None),
        })
    }

    /// Sends one raw report (must be 64 bytes to be a report).
    pub fn send_raw(&self, report: &[u8]) -> io::Result<()> {
        self.sock.send_to(report, self.device).map(|_| ())
    }

    /// Splits a message into reports; `len` overrides the declared length.
    pub fn reports(cid: u32, cmd: u8, payload: &[u8], len: Option<u16>) -> Vec<[u8; 64]> {
        let mut out = Vec::new();
        let mut first = [0u8; 64];
        first[..4].copy_from_slice(&cid.to_be_bytes());
        first[4] = 0x80 | cmd;
        let declared = len.unwrap_or(payload.len() as u16);
        first[5..7].copy_from_slice(&declared.to_be_bytes());
        let n = payload.len().min(57);
        first[7..7 + n].copy_from_slice(&payload[..n]);
        out.push(first);
        let mut rest = &payload[n..];
        let mut seq = 0u8;
        while !rest.is_empty() {
            let mut r = [0u8; 64];
            r[..4].copy_from_slice(&cid.to_be_bytes());
            r[4] = seq;
            let n = rest.len().min(59);
            r[5..5 + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            seq += 1;
            out.push(r);
        }
        out
    }

    /// Sends a whole message.
    pub fn send(&self, cid: u32, cmd: u8, payload: &[u8]) -> io::Result<()> {
        for r in Self::reports(cid, cmd, payload, None) {
            self.send_raw(&r)?;
        }
        Ok(())
    }

    /// Receives one report, or times out.
    pub fn recv_raw(&self, timeout: Duration) -> io::Result<[u8; 64]> {
        // Re-arm the timeout only when it moved by more than 50 ms.
        let stale = self
            .timeout
            .get()
            .is_none_or(|t| t.abs_diff(timeout) > Duration::from_millis(50));
        if stale {
            self.sock.set_read_timeout(Some(timeout))?;
            self.timeout.set(Some(timeout));
        }
        let mut buf = [0u8; 128];
        loop {
            let (n, from) = self.sock.recv_from(&mut buf)?;
            if from != self.device {
                continue;
            }
            if n != 64 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a {n}-byte datagram"),
                ));
            }
            let mut r = [0u8; 64];
            r.copy_from_slice(&buf[..64]);
            return Ok(r);
        }
    }

    /// Receives one whole message (any command, keepalives included).
    pub fn recv(&self, timeout: Duration) -> io::Result<Message> {
        let deadline = Instant::now() + timeout;
        let left = || {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        let r = self.recv_raw(left())?;
        if r[4] & 0x80 == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "expected an initialization packet",
            ));
        }
        let cid = u32::from_be_bytes([r[0], r[1], r[2], r[3]]);
        let len = usize::from(u16::from_be_bytes([r[5], r[6]]));
        let mut payload = r[7..7 + len.min(57)].to_vec();
        let mut seq = 0u8;
        while payload.len() < len {
            let c = self.recv_raw(left())?;
            if u32::from_be_bytes([c[0], c[1], c[2], c[3]]) != cid || c[4] != seq {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "continuation out of order",
                ));
            }
            let n = (len - payload.len()).min(59);
            payload.extend_from_slice(&c[5..5 + n]);
            seq += 1;
        }
        Ok(Message {
            cid,
            cmd: r[4] & 0x7F,
            payload,
        })
    }

    /// Allocates a channel with INIT on the broadcast channel.
    pub fn init(&self) -> io::Result<u32> {
        let nonce = [0x5A, 1, 2, 3, 4, 5, 6, 7];
        self.send(BROADCAST, cmd::INIT, &nonce)?;
        let m = self.recv(Duration::from_secs(5))?;
        if m.cmd != cmd::INIT || m.payload.len() < 17 || m.payload[..8] != nonce {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad INIT reply {m:?}"),
            ));
        }
        Ok(u32::from_be_bytes([
            m.payload[8],
            m.payload[9],
            m.payload[10],
            m.payload[11],
        ]))
    }

    /// Sends a CTAP2 request and waits for its answer, collecting the
    /// KEEPALIVE status bytes seen meanwhile.
    pub fn cbor(
        &self,
        cid: u32,
        request: &[u8],
        timeout: Duration,
    ) -> io::Result<(Vec<u8>, Vec<u8>)> {
        self.send(cid, cmd::CBOR, request)?;
        let deadline = Instant::now() + timeout;
        let mut keepalives = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no CBOR answer"));
            }
            let m = self.recv(left)?;
            match m.cmd {
                cmd::KEEPALIVE => keepalives.extend_from_slice(&m.payload),
                cmd::CBOR => return Ok((m.payload, keepalives)),
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected reply command {other:#x}: {:?}", m.payload),
                    ))
                }
            }
        }
    }
}
