//! Credential IDs that carry their own key.
//!
//! A credential ID is `version ‖ nonce ‖ AES-256-GCM(key, nonce, contents,
//! aad = version ‖ rpIdHash)`, where `key` is derived from the device's master
//! secret. The contents are the algorithm, the credential's options and the
//! private key's secret (32 bytes for ES256, EdDSA, ES256K and the ML-DSA
//! seed ξ, 48 for
//! ES384, 66 for ES512), so an ID is 63 to 97 bytes long, far below
//! WebAuthn's 1023-byte limit on credential IDs (WebAuthn L3 §4
//! "Credential ID"). Because the RP ID hash is authenticated, an ID
//! presented for another RP does not open; because the key comes from the
//! master secret, an ID from another device (or from before a reset) does not
//! open either. Non-discoverable credentials therefore need no storage.
//!
//! ```text
//!  0      1            13                         47        63
//!  | 0x01 | nonce (12) | ciphertext (34)          | tag (16) |
//!                      | alg | options | secret (32) |
//! ```
//!
//! (the layout for a 32-byte secret; a longer secret lengthens the
//! ciphertext, and the algorithm byte says how long it must be).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::keys::{Algorithm, PrivateKey};
use super::sha256;

/// Format version of sealed credential IDs.
const VERSION: u8 = 0x01;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The algorithm and options bytes before the secret.
const HEADER_LEN: usize = 2;
/// Length of a credential ID with a 32-byte secret (ES256, EdDSA, ES256K),
/// and so of every U2F key handle.
pub const SEALED_ID_LEN: usize = sealed_id_len(Algorithm::Es256);

/// Length of the credential IDs this device issues for `alg`.
pub const fn sealed_id_len(alg: Algorithm) -> usize {
    1 + NONCE_LEN + HEADER_LEN + alg.secret_len() + TAG_LEN
}

const OPT_DISCOVERABLE: u8 = 0x01;
const OPT_CRED_PROTECT_SHIFT: u8 = 1;
const OPT_CRED_PROTECT_MASK: u8 = 0x03 << OPT_CRED_PROTECT_SHIFT;

/// What a credential ID carries.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The credential's private key.
    pub key: PrivateKey,
    /// Whether the credential is discoverable (then it must also be in the store).
    pub discoverable: bool,
    /// credProtect level (0 = not set, 1..=3 per CTAP 2.1 §12.1).
    pub cred_protect: u8,
}

fn aead(master: &[u8; 32]) -> Aes256Gcm {
    let mut input = Zeroizing::new(Vec::with_capacity(64));
    input.extend_from_slice(b"fidosim credential-id key v1\0");
    input.extend_from_slice(master);
    let key = Zeroizing::new(sha256(&input));
    Aes256Gcm::new(&(*key).into())
}

fn alg_byte(alg: Algorithm) -> u8 {
    match alg {
        Algorithm::Es256 => 1,
        Algorithm::EdDsa => 2,
        Algorithm::Es384 => 3,
        Algorithm::Es512 => 4,
        Algorithm::Es256K => 5,
        Algorithm::MlDsa44 => 6,
        Algorithm::MlDsa65 => 7,
        Algorithm::MlDsa87 => 8,
    }
}

fn alg_from_byte(b: u8) -> Option<Algorithm> {
    match b {
        1 => Some(Algorithm::Es256),
        2 => Some(Algorithm::EdDsa),
        3 => Some(Algorithm::Es384),
        4 => Some(Algorithm::Es512),
        5 => Some(Algorithm::Es256K),
        6 => Some(Algorithm::MlDsa44),
        7 => Some(Algorithm::MlDsa65),
        8 => Some(Algorithm::MlDsa87),
        _ => None,
    }
}

/// The longest credential ID this device issues.
pub const MAX_SEALED_ID_LEN: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < Algorithm::ALL.len() {
        let len = sealed_id_len(Algorithm::ALL[i]);
        if len > max {
            max = len;
        }
        i += 1;
    }
    max
};

// WebAuthn L3 §4 "Credential ID": at most 1023 bytes.
const _: () = assert!(MAX_SEALED_ID_LEN <= 1023);

/// Seals `contents` into a credential ID bound to `rp_id_hash`.
pub fn seal(
    master: &[u8; 32],
    rp_id_hash: &[u8; 32],
    contents: &Sealed,
    rng: &mut impl CryptoRng,
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let secret = contents.key.secret_bytes();
    let mut plaintext = Zeroizing::new(Vec::with_capacity(HEADER_LEN + secret.len()));
    plaintext.push(alg_byte(contents.key.algorithm()));
    plaintext.push(
        u8::from(contents.discoverable)
            | ((contents.cred_protect << OPT_CRED_PROTECT_SHIFT) & OPT_CRED_PROTECT_MASK),
    );
    plaintext.extend_from_slice(secret);
    let aad = aad(rp_id_hash);
    let mut id = Vec::with_capacity(sealed_id_len(contents.key.algorithm()));
    id.push(VERSION);
    id.extend_from_slice(&nonce);
    // AES-GCM encryption into a Vec only fails for inputs over 64 GiB.
    if let Ok(ct) = aead(master).encrypt(
        &Nonce::from(nonce),
        Payload {
            msg: plaintext.as_slice(),
            aad: &aad,
        },
    ) {
        id.extend_from_slice(&ct);
    }
    id
}

fn aad(rp_id_hash: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = VERSION;
    aad[1..].copy_from_slice(rp_id_hash);
    aad
}

/// Opens a credential ID; `None` when it was not issued by this device (with
/// this master secret) for this RP, or is malformed.
pub fn open(master: &[u8; 32], rp_id_hash: &[u8; 32], id: &[u8]) -> Option<Sealed> {
    if id.len() < SEALED_ID_LEN || id.len() > MAX_SEALED_ID_LEN || id[0] != VERSION {
        return None;
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&id[1..1 + NONCE_LEN]);
    let nonce = &Nonce::from(nonce);
    let aad = aad(rp_id_hash);
    let plaintext = Zeroizing::new(
        aead(master)
            .decrypt(
                nonce,
                Payload {
                    msg: &id[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .ok()?,
    );
    let alg = alg_from_byte(*plaintext.first()?)?;
    // from_bytes insists on the algorithm's secret length.
    let key = PrivateKey::from_bytes(alg, plaintext.get(HEADER_LEN..)?).ok()?;
    Some(Sealed {
        key,
        discoverable: plaintext[1] & OPT_DISCOVERABLE != 0,
        cred_protect: (plaintext[1] & OPT_CRED_PROTECT_MASK) >> OPT_CRED_PROTECT_SHIFT,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn round_trip_and_binding() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let master = [1u8; 32];
        let rp = sha256(b"example.com");
        for alg in Algorithm::ALL {
            let key = PrivateKey::generate(alg, &mut rng);
            let s = Sealed {
                key: key.clone(),
                discoverable: true,
                cred_protect: 2,
            };
            let id = seal(&master, &rp, &s, &mut rng);
            assert_eq!(id.len(), sealed_id_len(alg));
            assert!(id.len() <= MAX_SEALED_ID_LEN);
            let o = open(&master, &rp, &id).unwrap();
            assert_eq!(o.key.secret_bytes(), key.secret_bytes());
            assert_eq!(o.key.algorithm(), alg);
            assert!(o.discoverable);
            assert_eq!(o.cred_protect, 2);
            // another RP, another device, a flipped bit, a truncation
            assert!(open(&master, &sha256(b"evil.com"), &id).is_none());
            assert!(open(&[2u8; 32], &rp, &id).is_none());
            for i in 0..id.len() {
                let mut bad = id.clone();
                bad[i] ^= 0x40;
                assert!(open(&master, &rp, &bad).is_none(), "bit flip at {i}");
            }
            assert!(open(&master, &rp, &id[..id.len() - 1]).is_none());
        }
    }

    /// An authentic ID whose algorithm byte and secret length disagree (as
    /// a future or buggy writer could make) opens to nothing rather than to
    /// a wrong key.
    #[test]
    fn secret_of_the_wrong_length_for_its_algorithm_does_not_open() {
        let master = [1u8; 32];
        let rp = sha256(b"example.com");
        for (alg, len) in [
            (Algorithm::Es384, 32),
            (Algorithm::Es256, 48),
            (Algorithm::Es512, 64),
        ] {
            let mut plaintext = vec![alg_byte(alg), 0];
            plaintext.extend(std::iter::repeat_n(7u8, len));
            let nonce = [3u8; NONCE_LEN];
            let ct = aead(&master)
                .encrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: &plaintext,
                        aad: &aad(&rp),
                    },
                )
                .unwrap();
            let id = [&[VERSION][..], &nonce, &ct].concat();
            assert!(
                open(&master, &rp, &id).is_none(),
                "{alg:?} with {len} bytes"
            );
        }
    }
}
