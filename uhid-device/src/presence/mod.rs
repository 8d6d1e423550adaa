//! The daemon's environment for the authenticator, in four parts:
//!
//! ```text
//!   mode    PresenceMode: how the virtual user answers (approve, deny, delay:MS, …)
//!   user    the virtual user: answers, waits, takes touches, polls for U2F
//!   shared  Shared: the transaction and cancel state, the policy, the touches
//!   bus     the device's events (fidosim-control-api's Event) to every listener
//!   env     DaemonEnv, the core's Env: OS randomness and clock, the store,
//!           the virtual user, the core's events onto the bus
//! ```
//!
//! `env` → `user` → `shared` → `mode`, `bus`: the arrows point one way.

mod bus;
mod env;
mod mode;
mod shared;
mod user;

pub use bus::EVENT_BACKLOG;
pub use env::{b64, DaemonEnv, DynStore, OsRng};
pub use fidosim_control_api::event::{Event, EventKind, Notice, StreamLine};
pub use mode::PresenceMode;
pub use shared::Shared;
pub use user::U2F_POLL_ABANDONED;

#[cfg(test)]
mod tests;
