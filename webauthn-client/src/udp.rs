//! A running fidosim key over its HID-over-UDP transport (`fidosim run
//! --transport udp`): the host end of `fidosim-ctaphid` (CTAP 2.1
//! §11.2.4) on 64-byte datagrams, one channel from CTAPHID_INIT,
//! keepalives skipped.

use std::net::SocketAddr;
use std::time::Duration;

use fidosim_ctaphid::host::{Client, UdpLink};

use crate::{ClientError, CtapDevice};

/// A CTAPHID channel to a key on UDP.
#[derive(Debug)]
pub struct UdpDevice {
    client: Client<UdpLink>,
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
        let client = Client::new(UdpLink::connect(addr).map_err(io)?);
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| {
            ClientError::Device(format!("no randomness for the channel nonce: {e}"))
        })?;
        let cid = client.init(nonce).map_err(io)?;
        Ok(Self {
            client,
            cid,
            timeout: Duration::from_secs(30),
        })
    }
}

impl CtapDevice for UdpDevice {
    fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, ClientError> {
        let (answer, _keepalives) = self
            .client
            .cbor(self.cid, request, self.timeout)
            .map_err(io)?;
        Ok(answer)
    }
}
