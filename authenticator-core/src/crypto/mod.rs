//! Algorithms, COSE keys, credential-ID sealing and attestation.

pub mod attestation_ca;
pub mod keys;
pub mod pin_protocol;
pub mod seal;

use sha2::{Digest, Sha256};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}
