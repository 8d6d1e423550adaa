//! `fidosim-daemon`: the keys of `fidosim run` and their control API.
//!
//! ```text
//!  RunArgs (flags, [device.NAME] tables, JSON settings)
//!     └─► config::RunConfig ─► assemble::start_device ─► uhid-device worker task
//!                                 │ state file (fidosim-store), identities
//!                                 ▼
//!  serve ── registry::Registry ◄── api::router (axum, Unix socket / TCP)
//!     └─ signals: SIGINT/SIGTERM stop, SIGUSR1 replugs
//! ```
//!
//! Modules point one way: `settings` → `config` → `registry` →
//! `assemble` → `api` → `serve`; `creds` (credentials ↔ JSON), `error`
//! and `event_log` serve them.
//!
//! Depends on the authenticator core, the store, the framing and the
//! device runtime; never on the CLI, rp-check or the WebAuthn client.
#![forbid(unsafe_code)]

pub mod api;
pub mod assemble;
pub mod config;
pub mod creds;
mod error;
mod event_log;
pub mod personas;
pub mod registry;
mod serve;
pub mod settings;

pub use error::{io_reason, Error, EXIT_FAILURE, EXIT_TRANSPORT, EXIT_USAGE};
pub use serve::serve;
