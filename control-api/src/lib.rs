//! `fidosim-control-api`: the control API's vocabulary, shared by the
//! daemon that serves it and the clients that call it.
//!
//! Depends on serde alone (and, with the default `client` feature, on
//! hyper and tokio for [`client::Client`]): never on the authenticator
//! core, the device runtime or the daemon, so any tool can speak to a
//! running fidosim, and the daemon and its clients share one definition of
//! every request and answer.
#![forbid(unsafe_code)]

#[cfg(feature = "client")]
pub mod client;
pub mod counter;
pub mod credential;
pub mod device;
pub mod event;
pub mod fault;
pub mod presence;

#[cfg(feature = "client")]
pub use client::{Client, ClientError, Endpoint, EventStream};
pub use counter::{CounterMode, CounterModeChange, CounterSet, SetCounter};
pub use credential::{Cleared, Credential, CredentialImport, Deleted, ErrorAnswer, Imported};
pub use device::{AddDevice, CloneDevice, DeviceStatus, Removed, Replugged, Reset};
pub use fault::{Fault, FaultKind, FaultRequest, FaultsRemoved, NonCanonicalForm, StatusByte};
pub use presence::{Presence, PresenceChange, Touched};
