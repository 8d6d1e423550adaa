//! `uhid-device`: the device runtime and the operating-system edges of a
//! virtual security key.
//!
//! ```text
//!   /dev/uhid  ──┐                                ┌──► Action::Process ──► authenticator-core
//!                ├─ reports ─► fidosim-ctaphid ──┤
//!   UDP :8111  ──┘                                └──► Action::Send ──► reports back
//! ```
//!
//! The framing (`fidosim-ctaphid`) is pure (packets in, actions out, time
//! passed in); the transports in [`uhid`] and [`udp`] are the only code
//! that touches file descriptors and sockets. [`device`] runs one key's
//! worker, [`presence`] the virtual user, the shared state, the event bus
//! and the authenticator's environment, [`faults`] the injected faults.
//!
//! Depends on `authenticator-core`, `fidosim-ctaphid` and
//! `fidosim-control-api` (the events it publishes); never on the durable
//! store, the control plane's server or the CLI.

pub mod device;
pub mod faults;
mod inbox;
pub mod presence;
pub mod udp;
pub mod uhid;
