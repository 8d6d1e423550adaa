//! A running fidosim key over its HID-over-UDP transport (`fidosim run
//! --transport udp`): CTAPHID framing (CTAP 2.1 §11.2.4) on 64-byte
//! datagrams, one channel from CTAPHID_INIT, keepalives skipped.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rand_core::RngCore;

use crate::{ClientError, CtapDevice};

const REPORT: usize = 64;
const BROADCAST: u32 = 0xffff_ffff;
const CMD_INIT: u8 = 0x06;
const CMD_CBOR: u8 = 0x10;
const CMD_KEEPALIVE: u8 = 0x3b;
const CMD_ERROR: u8 = 0x3f;

/// A CTAPHID channel to a key on UDP.
#[derive(Debug)]
pub struct UdpDevice {
    sock: UdpSocket,
    cid: u32,
    /// How long one request may take (a key waiting for a touch sends
    /// keepalives meanwhile).
    pub timeout: Duration,
}

fn io(e: std::io::Error) -> ClientError {
    ClientError::Device(format!("the key on UDP: {e}"))
}

impl UdpDevice {
    /// Opens a channel to the key at `addr`.
    pub fn connect(addr: SocketAddr) -> Result<Self, ClientError> {
        let local: SocketAddr = if addr.is_ipv4() {
            ([127, 0, 0, 1], 0).into()
        } else {
            (std::net::Ipv6Addr::LOCALHOST, 0).into()
        };
        let sock = UdpSocket::bind(local).map_err(io)?;
        sock.connect(addr).map_err(io)?;
        let mut dev = Self {
            sock,
            cid: BROADCAST,
            timeout: Duration::from_secs(30),
        };
        let mut nonce = [0u8; 8];
        rand_core::OsRng.fill_bytes(&mut nonce);
        dev.send(CMD_INIT, &nonce)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (cmd, payload) = dev.recv(deadline)?;
            if cmd == CMD_INIT && payload.len() >= 12 && payload[..8] == nonce {
                dev.cid = u32::from_be_bytes([payload[8], payload[9], payload[10], payload[11]]);
                return Ok(dev);
            }
        }
    }

    fn send(&self, cmd: u8, payload: &[u8]) -> Result<(), ClientError> {
        let len = u16::try_from(payload.len())
            .map_err(|_| ClientError::Device("a request too large for CTAPHID".into()))?;
        let mut first = [0u8; REPORT];
        first[..4].copy_from_slice(&self.cid.to_be_bytes());
        first[4] = cmd | 0x80;
        first[5..7].copy_from_slice(&len.to_be_bytes());
        let n = payload.len().min(REPORT - 7);
        first[7..7 + n].copy_from_slice(&payload[..n]);
        self.sock.send(&first).map_err(io)?;
        for (seq, chunk) in payload[n..].chunks(REPORT - 5).enumerate() {
            let mut cont = [0u8; REPORT];
            cont[..4].copy_from_slice(&self.cid.to_be_bytes());
            cont[4] =
                u8::try_from(seq).map_err(|_| ClientError::Device("too many packets".into()))?;
            cont[5..5 + chunk.len()].copy_from_slice(chunk);
            self.sock.send(&cont).map_err(io)?;
        }
        Ok(())
    }

    fn report(&self, deadline: Instant) -> Result<[u8; REPORT], ClientError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClientError::Device("the key did not answer in time".into()));
        }
        self.sock.set_read_timeout(Some(left)).map_err(io)?;
        let mut buf = [0u8; REPORT];
        let n = self.sock.recv(&mut buf).map_err(io)?;
        if n != REPORT {
            return Err(ClientError::Device(format!("a {n}-byte report")));
        }
        Ok(buf)
    }

    /// The next whole message on this channel: (command, payload).
    fn recv(&self, deadline: Instant) -> Result<(u8, Vec<u8>), ClientError> {
        loop {
            let first = self.report(deadline)?;
            let cid = u32::from_be_bytes([first[0], first[1], first[2], first[3]]);
            if cid != self.cid || first[4] & 0x80 == 0 {
                continue;
            }
            let cmd = first[4] & 0x7f;
            let len = usize::from(u16::from_be_bytes([first[5], first[6]]));
            let mut payload = first[7..REPORT.min(7 + len)].to_vec();
            let mut seq = 0u8;
            while payload.len() < len {
                let cont = self.report(deadline)?;
                if cont[..4] != first[..4] || cont[4] != seq {
                    return Err(ClientError::Device(
                        "a continuation packet out of order".into(),
                    ));
                }
                let take = (len - payload.len()).min(REPORT - 5);
                payload.extend_from_slice(&cont[5..5 + take]);
                seq = seq.wrapping_add(1);
            }
            return Ok((cmd, payload));
        }
    }
}

impl CtapDevice for UdpDevice {
    fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.send(CMD_CBOR, request)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let (cmd, payload) = self.recv(deadline)?;
            match cmd {
                CMD_KEEPALIVE => continue,
                CMD_CBOR => return Ok(payload),
                CMD_ERROR => {
                    return Err(ClientError::Device(format!(
                        "CTAPHID error 0x{:02x}",
                        payload.first().copied().unwrap_or(0)
                    )))
                }
                other => {
                    return Err(ClientError::Device(format!(
                        "an unexpected CTAPHID answer 0x{other:02x}"
                    )))
                }
            }
        }
    }
}
