//! `fidosim-control-api`: the control API's vocabulary, shared by the
//! daemon that serves it and the clients that call it.
//!
//! Depends on serde alone: never on the authenticator core, the device
//! runtime or the daemon, so any tool can speak to a running fidosim.
#![forbid(unsafe_code)]

pub mod event;
