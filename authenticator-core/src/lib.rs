//! A sans-IO CTAP 2.1 authenticator.
//!
//! The crate turns CTAP2 request bytes into response bytes. It owns the
//! protocol logic — command decoding, credential creation, assertions,
//! attestation, counters — and nothing else: randomness, time, the user's
//! touch and storage come in through [`env::Env`], and the transport
//! (CTAPHID over uhid or UDP) lives in another crate.
//!
//! ```text
//!   transport ──bytes──► Authenticator::handle ──► wire::<cmd>::Request (cbor.rs)
//!       ▲                                               │
//!       │                                    ctap2::<cmd> handler
//!       │                                   │     │       │       │
//!   status ‖ CBOR ◄── Response::encode ◄── rng  clock  check_user  store
//! ```
//!
//! Start with [`Authenticator::new`] and an [`env::Env`] implementation
//! ([`env::TestEnv`] is a deterministic one).
#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod auth_data;
pub mod cbor;
pub mod config;
pub mod crypto;
pub mod ctap2;
pub mod env;
pub mod limits;
pub mod status;
pub mod store;
pub mod wire;

pub use config::DeviceConfig;
pub use crypto::attestation_ca::AttestationIdentity;
pub use ctap2::{Authenticator, SetupError};
pub use env::Env;
pub use status::StatusCode;
pub use store::{CredentialStore, MemoryStore};
