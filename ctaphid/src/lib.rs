//! `fidosim-ctaphid`: CTAPHID framing (CTAP 2.1 §11.2) for both ends of
//! the wire.
//!
//! ```text
//!   device end (uhid-device)                    host end (webauthn-client, tests, benches)
//!   report ─► Ctaphid::receive(now) ─► Action    Client::cbor(request)
//!                                                  ├─ packet::fragment ─► Link::send_report
//!   Ctaphid::respond ─► packet::fragment           └─ Link::recv_report ─► Reassembler ─► Message
//! ```
//!
//! [`packet`] holds the 64-byte report layout both ends share; [`device`]
//! the device's state machine (channels, lock, timeouts, keepalives);
//! [`host`] a client that allocates a channel and exchanges messages over
//! any [`host::Link`], with [`host::UdpLink`] for fidosim's HID-over-UDP
//! transport.
//!
//! The framing is pure: no clock (the device end takes the time as an
//! argument) and no file descriptor. The one exception is
//! [`host::UdpLink`], a loopback UDP socket for host-side tools and tests.
//! This crate depends on nothing of fidosim's: not the authenticator, not
//! the transports, not the daemon.

pub mod device;
pub mod host;
pub mod packet;

pub use device::{
    Action, Command, Ctaphid, HidError, KeepaliveStatus, Request, SequenceGap, Settings,
};
