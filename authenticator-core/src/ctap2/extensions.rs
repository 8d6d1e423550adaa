//! Authenticator extensions (CTAP 2.1 §12): credProtect, hmac-secret,
//! hmac-secret-mc, credBlob, largeBlobKey and minPinLength. Inputs are
//! parsed here; makeCredential and getAssertion apply them.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cbor::{self, Fields, MapBuilder, Value};
use crate::crypto::keys::PrivateKey;
use crate::crypto::pin_protocol::{KeyAgreementKey, PinProtocol};
use crate::limits::MAX_CRED_BLOB_LENGTH;
use crate::status::StatusCode;

/// Extension identifiers, in the order getInfo lists them.
pub(crate) const SUPPORTED: [&str; 6] = [
    "credBlob",
    "credProtect",
    "hmac-secret",
    "hmac-secret-mc",
    "largeBlobKey",
    "minPinLength",
];

/// credProtect levels (CTAP 2.1 §12.1).
pub(crate) mod cred_protect {
    /// userVerificationOptionalWithCredentialIDList.
    pub(crate) const UV_OPTIONAL_WITH_LIST: u8 = 2;
    /// userVerificationRequired.
    pub(crate) const UV_REQUIRED: u8 = 3;
}

/// The hmac-secret input of getAssertion (and hmac-secret-mc of
/// makeCredential), CTAP 2.1 §12.5.
#[derive(Debug, Clone)]
pub(crate) struct HmacSecretInput {
    key_agreement: Value,
    salt_enc: Vec<u8>,
    salt_auth: Vec<u8>,
    protocol: PinProtocol,
}

impl HmacSecretInput {
    fn decode(v: Value) -> Result<Self, StatusCode> {
        let mut m = Fields::from_value(v)?;
        let key_agreement = m.required(0x01)?;
        let salt_enc = cbor::as_bytes(m.required(0x02)?, 96)?;
        let salt_auth = cbor::as_bytes(m.required(0x03)?, 32)?;
        // 0x04 pinUvAuthProtocol, protocol 1 when absent (§12.5).
        let protocol = match m.take(0x04) {
            None => PinProtocol::V1,
            Some(v) => {
                PinProtocol::from_u64(cbor::as_uint(v)?).ok_or(StatusCode::InvalidParameter)?
            }
        };
        Ok(Self {
            key_agreement,
            salt_enc,
            salt_auth,
            protocol,
        })
    }

    /// The encrypted output: HMAC-SHA-256(CredRandom, salt1) [‖ HMAC(…,
    /// salt2)] under the shared secret. A saltAuth that does not verify is
    /// CTAP2_ERR_PIN_AUTH_INVALID; salts that are not 32 or 64 bytes are
    /// CTAP1_ERR_INVALID_LENGTH.
    pub(crate) fn evaluate(
        &self,
        key_agreement: &KeyAgreementKey,
        cred_random: &[u8; 32],
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<Vec<u8>, StatusCode> {
        let shared = key_agreement
            .shared_secret(self.protocol, &self.key_agreement)
            .map_err(|_| StatusCode::InvalidParameter)?;
        if !shared.verify(&self.salt_enc, &self.salt_auth) {
            return Err(StatusCode::PinAuthInvalid);
        }
        let salts = shared
            .decrypt(&self.salt_enc)
            .map_err(|_| StatusCode::InvalidLength)?;
        if salts.len() != 32 && salts.len() != 64 {
            return Err(StatusCode::InvalidLength);
        }
        let mut out = Vec::with_capacity(salts.len());
        for salt in salts.chunks(32) {
            out.extend_from_slice(&hmac_sha256(cred_random, salt));
        }
        shared.encrypt(rng, &out)
    }

    pub(crate) fn protocol(&self) -> PinProtocol {
        self.protocol
    }
}

/// Extension inputs of makeCredential.
#[derive(Debug, Clone, Default)]
pub(crate) struct McExtensions {
    pub(crate) cred_protect: Option<u8>,
    pub(crate) hmac_secret: bool,
    pub(crate) hmac_secret_mc: Option<HmacSecretInput>,
    pub(crate) cred_blob: Option<Vec<u8>>,
    pub(crate) large_blob_key: bool,
    pub(crate) min_pin_length: bool,
}

impl McExtensions {
    /// Parses the inputs this device supports and ignores the rest
    /// (WebAuthn §9).
    pub(crate) fn parse(inputs: Vec<(String, Value)>) -> Result<Self, StatusCode> {
        let mut e = Self::default();
        for (id, v) in inputs {
            match id.as_str() {
                "credProtect" => {
                    let level = cbor::as_uint(v)?;
                    // §12.1: an unknown level is not processed.
                    if (1..=3).contains(&level) {
                        e.cred_protect = u8::try_from(level).ok();
                    }
                }
                "hmac-secret" => e.hmac_secret = cbor::as_bool(v)?,
                "hmac-secret-mc" => e.hmac_secret_mc = Some(HmacSecretInput::decode(v)?),
                "credBlob" => e.cred_blob = Some(cbor::as_bytes(v, usize::MAX)?),
                "largeBlobKey" => {
                    // §12.3: only `true` is a valid input.
                    if !cbor::as_bool(v)? {
                        return Err(StatusCode::InvalidOption);
                    }
                    e.large_blob_key = true;
                }
                "minPinLength" => e.min_pin_length = cbor::as_bool(v)?,
                _ => {}
            }
        }
        Ok(e)
    }

    /// Whether a credBlob input fits (§12.2: longer ones are not stored).
    pub(crate) fn cred_blob_fits(&self) -> bool {
        self.cred_blob
            .as_ref()
            .is_some_and(|b| b.len() <= MAX_CRED_BLOB_LENGTH)
    }
}

/// Extension inputs of getAssertion.
#[derive(Debug, Clone, Default)]
pub(crate) struct GaExtensions {
    pub(crate) hmac_secret: Option<HmacSecretInput>,
    pub(crate) cred_blob: bool,
    pub(crate) large_blob_key: bool,
}

impl GaExtensions {
    /// Parses the inputs this device supports and ignores the rest.
    pub(crate) fn parse(inputs: Vec<(String, Value)>) -> Result<Self, StatusCode> {
        let mut e = Self::default();
        for (id, v) in inputs {
            match id.as_str() {
                "hmac-secret" => e.hmac_secret = Some(HmacSecretInput::decode(v)?),
                "credBlob" => e.cred_blob = cbor::as_bool(v)?,
                "largeBlobKey" => {
                    if !cbor::as_bool(v)? {
                        return Err(StatusCode::InvalidOption);
                    }
                    e.large_blob_key = true;
                }
                _ => {}
            }
        }
        Ok(e)
    }
}

/// Builds an authData extensions map; `None` when empty (no ED flag).
#[derive(Default)]
pub(crate) struct Outputs(Option<MapBuilder>);

impl Outputs {
    pub(crate) fn add(&mut self, id: &str, value: impl Into<Value>) {
        let m = self.0.take().unwrap_or_default();
        self.0 = Some(m.text(id, value));
    }

    pub(crate) fn build(self) -> Option<Value> {
        self.0.map(MapBuilder::build)
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::KeyInit>::new(&Default::default()));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// A per-credential secret derived from the credential's private key, so
/// that stateless credential IDs, stored credentials and clones of a
/// credential all agree.
fn derive(key: &PrivateKey, label: &[u8], input: &[u8]) -> [u8; 32] {
    let mut k = Vec::with_capacity(label.len() + 32);
    k.extend_from_slice(label);
    k.extend_from_slice(key.secret_bytes());
    let k = zeroize::Zeroizing::new(crate::crypto::sha256(&k));
    hmac_sha256(k.as_ref(), input)
}

/// CredRandomWithUV / CredRandomWithoutUV of a credential (§12.5).
pub(crate) fn cred_random(key: &PrivateKey, uv: bool) -> [u8; 32] {
    derive(key, b"fidosim hmac-secret v1\0", &[u8::from(uv)])
}

/// The largeBlobKey of a discoverable credential (§12.3).
pub(crate) fn large_blob_key(key: &PrivateKey) -> [u8; 32] {
    derive(key, b"fidosim largeBlobKey v1\0", &[])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let out = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            cbor::hex(&out),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
