//! HID over UDP: each datagram is one 64-byte report, the way software
//! authenticator simulators and their test clients exchange CTAPHID.
//! Replies go to the address the request on that channel came from.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

use fidosim_ctaphid::packet::{Report, REPORT_LEN};

/// Channels whose peer address is remembered; beyond this the map starts over
/// (a channel's peer is re-learned from its next report).
const MAX_PEERS: usize = 4096;

/// The default listening address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8111";

/// Why a UDP transport could not start.
#[derive(Debug)]
pub enum UdpError {
    /// The address is not on the loopback interface and remote access was not allowed.
    NotLoopback(SocketAddr),
    /// Binding the socket failed.
    Bind(SocketAddr, io::Error),
}

impl std::fmt::Display for UdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotLoopback(a) => write!(
                f,
                "{a} is not a loopback address; use 127.0.0.1 or ::1, or pass --allow-remote \
                 to expose the key to the network"
            ),
            Self::Bind(a, e) => write!(
                f,
                "cannot listen on udp {a}: {e}; is another fidosim running? choose another \
                 address with --udp-listen"
            ),
        }
    }
}

impl std::error::Error for UdpError {}

/// A device reachable over UDP.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
    /// Where to send replies for each channel (the sender of its last report).
    peers: HashMap<u32, SocketAddr>,
    last_peer: Option<SocketAddr>,
}

impl UdpTransport {
    /// Binds `addr`; non-loopback addresses need `allow_remote`.
    pub async fn bind(addr: SocketAddr, allow_remote: bool) -> Result<Self, UdpError> {
        if !addr.ip().is_loopback() && !allow_remote {
            return Err(UdpError::NotLoopback(addr));
        }
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|e| UdpError::Bind(addr, e))?;
        Ok(Self {
            socket,
            peers: HashMap::new(),
            last_peer: None,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The next report. Datagrams of another size are dropped.
    pub async fn recv(&mut self) -> io::Result<Report> {
        let mut buf = [0u8; 2048];
        loop {
            let (n, peer) = self.socket.recv_from(&mut buf).await?;
            // Some clients prefix the report ID 0, as on hidraw.
            let data = match n {
                REPORT_LEN => &buf[..REPORT_LEN],
                65 if buf[0] == 0 => &buf[1..65],
                _ => {
                    tracing::debug!(len = n, %peer, "dropping a datagram that is not a 64-byte report");
                    continue;
                }
            };
            let mut report = [0u8; REPORT_LEN];
            report.copy_from_slice(data);
            let cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
            // Channels are cheap for clients to open; keep the map bounded.
            if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(&cid) {
                self.peers.clear();
            }
            self.peers.insert(cid, peer);
            self.last_peer = Some(peer);
            return Ok(report);
        }
    }

    /// Sends a report to the peer of its channel.
    pub async fn send(&mut self, report: &Report) -> io::Result<()> {
        let cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
        let Some(peer) = self.peers.get(&cid).copied().or(self.last_peer) else {
            return Ok(());
        };
        self.socket.send_to(report, peer).await.map(|_| ())
    }

    /// Forgets the peers (the device was re-plugged).
    pub fn replug(&mut self) {
        self.peers.clear();
    }
}
