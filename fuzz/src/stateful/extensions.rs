//! Extensions (CTAP 2.1 §12): the inputs as the device reads them, the
//! hmac-secret / hmac-secret-mc salt checks (§12.5) and the extension
//! inputs the operations send.

use authenticator_core::cbor::{self, Fields, MapBuilder, Value};
use authenticator_core::crypto::pin_protocol::PinProtocol;
use authenticator_core::status::StatusCode as S;

use crate::stateful::input::{Fault, GaExtensions, McExtensions, SaltInput};
use crate::stateful::model::{protocol_of, Harness, Peer};

/// A parsed hmac-secret / hmac-secret-mc input (§12.5).
pub(crate) struct SaltIn {
    key_agreement: Value,
    salt_enc: Vec<u8>,
    salt_auth: Vec<u8>,
    protocol: PinProtocol,
}

/// A verified salt input: the platform key it used and the salts.
pub(crate) struct Salts {
    pub(crate) platform: usize,
    pub(crate) salts: Vec<u8>,
}

/// makeCredential extension inputs as the device reads them (§12).
#[derive(Default)]
pub(crate) struct McExtIn {
    pub(crate) cred_protect: Option<u8>,
    pub(crate) hmac_secret: bool,
    pub(crate) hmac_secret_mc: Option<SaltIn>,
    pub(crate) cred_blob: Option<Vec<u8>>,
    pub(crate) large_blob_key: bool,
    pub(crate) min_pin_length: bool,
}

/// getAssertion extension inputs as the device reads them (§12).
#[derive(Default)]
pub(crate) struct GaExtIn {
    pub(crate) hmac_secret: Option<SaltIn>,
    pub(crate) cred_blob: bool,
    pub(crate) large_blob_key: bool,
}

impl Harness {
    /// The hmac-secret evaluation of §12.5: the platform key must be a
    /// point (else INVALID_PARAMETER), saltAuth must verify (else
    /// PIN_AUTH_INVALID), the salts must decrypt to 32 or 64 bytes (else
    /// INVALID_LENGTH).
    pub(crate) fn check_salts(&self, input: &SaltIn) -> Result<Salts, S> {
        match self.peer(input.protocol, &input.key_agreement) {
            Peer::Invalid => Err(S::InvalidParameter),
            Peer::Foreign => Err(S::PinAuthInvalid),
            Peer::Ours(i) => {
                let shared = &self.platform[i].shared;
                if !shared.verify(&input.salt_enc, &input.salt_auth) {
                    return Err(S::PinAuthInvalid);
                }
                let salts = shared
                    .decrypt(&input.salt_enc)
                    .map_err(|_| S::InvalidLength)?
                    .to_vec();
                if salts.len() != 32 && salts.len() != 64 {
                    return Err(S::InvalidLength);
                }
                Ok(Salts { platform: i, salts })
            }
        }
    }

    /// Checks an hmac-secret output against the salts (§12.5): it decrypts
    /// to one HMAC per salt, and each HMAC is the same whenever the same
    /// credential, UV state and salt come back, and differs between UV
    /// states.
    pub(crate) fn check_hmac_output(&mut self, id: &[u8], uv: bool, salts: &Salts, output: &[u8]) {
        let out = self.platform[salts.platform]
            .shared
            .decrypt(output)
            .expect("hmac-secret output does not decrypt");
        assert_eq!(out.len(), salts.salts.len(), "hmac-secret output length");
        for (salt, mac) in salts.salts.chunks(32).zip(out.chunks(32)) {
            let key = (id.to_vec(), uv, salt.to_vec());
            if let Some(seen) = self.hmac_outputs.get(&key) {
                assert_eq!(seen.as_slice(), mac, "hmac-secret output changed");
            }
            if let Some(other) = self.hmac_outputs.get(&(id.to_vec(), !uv, salt.to_vec())) {
                assert_ne!(
                    other.as_slice(),
                    mac,
                    "CredRandom is the same with and without UV"
                );
            }
            self.hmac_outputs.insert(key, mac.to_vec());
        }
    }

    /// An hmac-secret input (§12.5) for the structured operations.
    fn salt_input(&mut self, s: &SaltInput) -> Value {
        let protocol = match s.protocol {
            None | Some(false) => PinProtocol::V1,
            Some(true) => PinProtocol::V2,
        };
        let (ka, shared) = self.platform_key(protocol, s.fault);
        let len = match (s.fault, s.two) {
            (Fault::WrongLength, _) => 16,
            (_, true) => 64,
            (_, false) => 32,
        };
        let salts: Vec<u8> = (0..len)
            .map(|i| s.salt.wrapping_add(i as u8 / 32))
            .collect();
        let salt_enc = self.encrypt(shared, &salts);
        let mut salt_auth = self.authenticate(shared, &salt_enc);
        if matches!(s.fault, Fault::BadAuth) {
            salt_auth[0] ^= 1;
        }
        let mut m = MapBuilder::new()
            .int(0x01, ka)
            .int(0x02, cbor::bytes(salt_enc))
            .int(0x03, cbor::bytes(salt_auth));
        if let Some(v2) = s.protocol {
            m = m.int(0x04, protocol_of(v2).id());
        }
        m.build()
    }

    pub(crate) fn mc_extensions(&mut self, e: &McExtensions) -> Value {
        let mut m = MapBuilder::new();
        if let Some(level) = e.cred_protect {
            m = m.text("credProtect", level % 5);
        }
        if let Some(blob) = &e.cred_blob {
            m = m.text("credBlob", cbor::bytes(blob.clone()));
        }
        if let Some(b) = e.large_blob_key {
            m = m.text("largeBlobKey", b);
        }
        if let Some(b) = e.hmac_secret {
            m = m.text("hmac-secret", b);
        }
        if let Some(s) = &e.hmac_secret_mc {
            m = m.text("hmac-secret-mc", self.salt_input(s));
        }
        if e.min_pin_length {
            m = m.text("minPinLength", true);
        }
        m.build()
    }

    pub(crate) fn ga_extensions(&mut self, e: &GaExtensions) -> Value {
        let mut m = MapBuilder::new();
        if let Some(b) = e.cred_blob {
            m = m.text("credBlob", b);
        }
        if let Some(b) = e.large_blob_key {
            m = m.text("largeBlobKey", b);
        }
        if let Some(s) = &e.hmac_secret {
            m = m.text("hmac-secret", self.salt_input(s));
        }
        m.build()
    }
}

/// An hmac-secret / hmac-secret-mc input as §12.5 defines it: keyAgreement
/// (0x01), saltEnc (0x02), saltAuth (0x03), pinUvAuthProtocol (0x04,
/// protocol one when absent).
fn parse_salt_input(v: Value) -> Result<SaltIn, S> {
    let mut m = Fields::from_value(v)?;
    let key_agreement = m.required(0x01)?;
    let salt_enc = cbor::as_bytes(m.required(0x02)?, 96)?;
    let salt_auth = cbor::as_bytes(m.required(0x03)?, 32)?;
    let protocol = match m.take(0x04) {
        None => PinProtocol::V1,
        Some(v) => PinProtocol::from_u64(cbor::as_uint(v)?).ok_or(S::InvalidParameter)?,
    };
    Ok(SaltIn {
        key_agreement,
        salt_enc,
        salt_auth,
        protocol,
    })
}

/// makeCredential extension inputs (§12): credProtect levels 1–3 (other
/// numbers are ignored), hmac-secret, hmac-secret-mc, credBlob,
/// largeBlobKey (only `true`), minPinLength; unknown ones are ignored.
pub(crate) fn parse_mc_extensions(inputs: &[(String, Value)]) -> Result<McExtIn, S> {
    let mut e = McExtIn::default();
    for (id, v) in inputs {
        let v = v.clone();
        match id.as_str() {
            "credProtect" => {
                let level = cbor::as_uint(v)?;
                if (1..=3).contains(&level) {
                    e.cred_protect = u8::try_from(level).ok();
                }
            }
            "hmac-secret" => e.hmac_secret = cbor::as_bool(v)?,
            "hmac-secret-mc" => e.hmac_secret_mc = Some(parse_salt_input(v)?),
            "credBlob" => e.cred_blob = Some(cbor::as_bytes(v, usize::MAX)?),
            "largeBlobKey" => {
                if !cbor::as_bool(v)? {
                    return Err(S::InvalidOption);
                }
                e.large_blob_key = true;
            }
            "minPinLength" => e.min_pin_length = cbor::as_bool(v)?,
            _ => {}
        }
    }
    Ok(e)
}

/// getAssertion extension inputs (§12): hmac-secret, credBlob (a bool),
/// largeBlobKey (only `true`).
pub(crate) fn parse_ga_extensions(inputs: &[(String, Value)]) -> Result<GaExtIn, S> {
    let mut e = GaExtIn::default();
    for (id, v) in inputs {
        let v = v.clone();
        match id.as_str() {
            "hmac-secret" => e.hmac_secret = Some(parse_salt_input(v)?),
            "credBlob" => e.cred_blob = cbor::as_bool(v)?,
            "largeBlobKey" => {
                if !cbor::as_bool(v)? {
                    return Err(S::InvalidOption);
                }
                e.large_blob_key = true;
            }
            _ => {}
        }
    }
    Ok(e)
}
