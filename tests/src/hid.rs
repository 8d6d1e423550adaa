//! A CTAPHID client over UDP for the tests: the host end of
//! `fidosim-ctaphid` with the raw access a test needs (single reports,
//! a forged length).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use fidosim_ctaphid::host::{Client, Link, UdpLink};
use fidosim_ctaphid::packet::{fragment, Report};

pub use fidosim_ctaphid::host::Message;
pub use fidosim_ctaphid::packet::BROADCAST_CID as BROADCAST;

/// CTAPHID command codes, as the client sees them.
pub mod cmd {
    use fidosim_ctaphid::Command;
    /// PING.
    pub const PING: u8 = Command::Ping as u8;
    /// MSG.
    pub const MSG: u8 = Command::Msg as u8;
    /// LOCK.
    pub const LOCK: u8 = Command::Lock as u8;
    /// INIT.
    pub const INIT: u8 = Command::Init as u8;
    /// WINK.
    pub const WINK: u8 = Command::Wink as u8;
    /// CBOR.
    pub const CBOR: u8 = Command::Cbor as u8;
    /// CANCEL.
    pub const CANCEL: u8 = Command::Cancel as u8;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = Command::Keepalive as u8;
    /// ERROR.
    pub const ERROR: u8 = Command::Error as u8;
}

/// The nonce of [`UdpHid::init`].
const NONCE: [u8; 8] = [0x5A, 1, 2, 3, 4, 5, 6, 7];

/// A CTAPHID client bound to an ephemeral loopback port.
#[derive(Debug)]
pub struct UdpHid {
    client: Client<UdpLink>,
}

impl UdpHid {
    /// A client talking to the device at `device`.
    pub fn connect(device: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            client: Client::new(UdpLink::connect(device)?),
        })
    }

    /// Sends one raw report (must be 64 bytes to be a report).
    pub fn send_raw(&self, report: &[u8]) -> io::Result<()> {
        self.client.link().send_report(report)
    }

    /// Splits a message into reports; `len` overrides the declared length.
    pub fn reports(cid: u32, cmd: u8, payload: &[u8], len: Option<u16>) -> Vec<Report> {
        let mut out = fragment(cid, cmd, payload);
        if let (Some(len), Some(first)) = (len, out.first_mut()) {
            first[5..7].copy_from_slice(&len.to_be_bytes());
        }
        out
    }

    /// Sends a whole message.
    pub fn send(&self, cid: u32, cmd: u8, payload: &[u8]) -> io::Result<()> {
        self.client.send(cid, cmd, payload)
    }

    /// Receives one report, or times out.
    pub fn recv_raw(&self, timeout: Duration) -> io::Result<Report> {
        self.client.link().recv_report(timeout)
    }

    /// Receives one whole message (any channel, any command, keepalives
    /// included).
    pub fn recv(&self, timeout: Duration) -> io::Result<Message> {
        self.client.recv(timeout)
    }

    /// Allocates a channel with INIT on the broadcast channel.
    pub fn init(&self) -> io::Result<u32> {
        self.client.init(NONCE)
    }

    /// Sends a CTAP2 request and waits for its answer, collecting the
    /// KEEPALIVE status bytes seen meanwhile.
    pub fn cbor(
        &self,
        cid: u32,
        request: &[u8],
        timeout: Duration,
    ) -> io::Result<(Vec<u8>, Vec<u8>)> {
        self.client.cbor(cid, request, timeout)
    }
}
