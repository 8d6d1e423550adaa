//! CTAPHID framing and the operating-system edges of a virtual security key.
//!
//! ```text
//!   /dev/uhid  ──┐                       ┌──► Action::Process ──► authenticator-core
//!                ├─ reports ─► ctaphid ──┤
//!   UDP :8111  ──┘                       └──► Action::Send ──► reports back
//! ```
//!
//! [`ctaphid`] is pure (packets in, actions out, time passed in); the
//! transports in [`uhid`] and [`udp`] are the only code that touches file
//! descriptors and sockets.

pub mod ctaphid;
pub mod device;
pub mod faults;
pub mod presence;
pub mod udp;
pub mod uhid;
