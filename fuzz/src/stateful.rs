//! A sequence of operations against one authenticator, checked against a
//! model of what a CTAP 2.1 authenticator must have done.
//!
//! The input (via `arbitrary`) picks a device configuration (including
//! built-in UV, makeCredUvNotRqd, alwaysUv and an initial PIN) and up to
//! `MAX_OPS` operations: makeCredential and getAssertion (with or without a
//! pinUvAuthParam and extension inputs), getNextAssertion, getInfo, reset,
//! selection, the clientPIN subcommands (setPIN, changePIN, getPinToken,
//! getPinUvAuthTokenUsing{Pin,Uv}WithPermissions, the retry counters),
//! credential management (0x0A and 0x41), authenticatorConfig,
//! largeBlobs reads and fragmented writes, power cycles, clock moves,
//! presence/UV policy changes and raw messages.
//!
//! The model walks the steps of the spec for every message, structured or
//! raw (reading the request with the core's own decoders), and predicts the
//! exact status; for a success it predicts the body too. It keeps what the
//! authenticator must keep: the credentials (with their credProtect level,
//! credBlob and largeBlobKey), the PIN, pinRetries, the mismatches of this
//! power cycle, uvRetries, alwaysUv, the pinUvAuthToken in use (protocol,
//! permissions, RP ID, timers, UP/UV flags) and which key-agreement keys
//! are current, the authenticatorConfig settings (minPINLength and its RP
//! IDs, forcePINChange, enterprise attestation), the serialized large-blob
//! array and the write in progress, and the credential management
//! enumeration cursors. Platform keys the harness made itself have a known
//! shared secret, so it can decrypt tokens and hmac-secret outputs.
//!
//! After every message the store's discoverable credentials (IDs, users,
//! credProtect, credBlob), the device state (PIN hash, pinRetries,
//! uvRetries, alwaysUv, minPINLength, forcePINChange, enterprise
//! attestation) and the large-blob array must equal the model's.
//!
//! The model is split the way `authenticator-core/src/ctap2/` is: one
//! module per command (`make_credential`, `get_assertion`, `get_info`,
//! `client_pin`, `reset`, `cred_mgmt`, `authnr_config`, `large_blobs`),
//! with `pin` (PIN/UV auth state and the platform side of it) and
//! `extensions` beside them; `input` is what the fuzzer's bytes decode to,
//! `model` the state the model keeps, and `driver` sends each operation's
//! messages and dispatches every response to its command's checks.
pub use self::input::Input;
use self::model::Harness;

mod authnr_config;
mod client_pin;
mod cred_mgmt;
mod driver;
mod extensions;
mod get_assertion;
mod get_info;
pub mod input;
mod large_blobs;
mod make_credential;
mod model;
mod pin;
mod reset;

const MAX_OPS: usize = 40;

/// Runs one decoded input: its setup, then its operations, each checked
/// against the model.
pub fn run(input: &Input) {
    let mut h = Harness::new(&input.setup);
    for op in input.ops.iter().take(MAX_OPS) {
        h.run(op);
    }
}

/// [`run`] on raw bytes, decoded as libfuzzer-sys decodes them.
pub fn run_bytes(data: &[u8]) {
    if let Some(input) = crate::decode::<Input>(data) {
        run(&input);
    }
}
