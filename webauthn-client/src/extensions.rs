//! Client extensions, as a browser turns them into CTAP authenticator
//! extensions and back into `clientExtensionResults` (WebAuthn L3 §9, §10;
//! CTAP 2.1 §12).
//!
//! | client input | CTAP extension | client output |
//! |---|---|---|
//! | `credProps` | none | `credProps.rk` (in `create`) |
//! | `credBlob` (create) | `credBlob` | `credBlob`: whether it was stored |
//! | `getCredBlob` (get) | `credBlob: true` | `getCredBlob`: the blob |
//! | `credentialProtectionPolicy`, `enforceCredentialProtectionPolicy` | `credProtect` | none |
//! | `minPinLength` | `minPinLength` | none |
//! | `largeBlob.support` (create) | `largeBlobKey` | `largeBlob.supported` |
//! | `prf` (create) | `hmac-secret` | `prf.enabled` |
//! | `prf.eval`, `prf.evalByCredential` (get) | `hmac-secret` | `prf.results` |
//!
//! | `largeBlob.read` (get) | `largeBlobKey`, then authenticatorLargeBlobs get | `largeBlob.blob` |
//! | `largeBlob.write` (get) | `largeBlobKey`, a token with lbw, authenticatorLargeBlobs set | `largeBlob.written` |
//!
//! A large-blob write needs a pinUvAuthToken with the lbw permission; this
//! client gets one through the key's built-in user verification only (it
//! asks no one for a PIN), and says so when the key has none.

use authenticator_core::cbor::{self, Fields, MapBuilder, Value};
use authenticator_core::crypto::pin_protocol::{PinProtocol, SharedSecret};
use serde_json::{json, Map, Value as Json};
use sha2::Digest as _;

use crate::json::{b64url, unb64url};
use crate::ClientError;

/// What getInfo says about extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Support {
    /// extensions (0x02).
    pub(crate) extensions: Vec<String>,
    /// maxCredBlobLength (0x0F).
    pub(crate) max_cred_blob_length: u64,
    /// maxMsgSize (0x05).
    pub(crate) max_msg_size: u64,
    /// maxSerializedLargeBlobArray (0x0B).
    pub(crate) max_large_blob_array: u64,
    /// The uv option: built-in user verification is configured.
    pub(crate) uv: bool,
}

impl Support {
    fn has(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e == name)
    }
}

/// The client extension inputs of the options.
fn inputs(extensions: Option<&Json>) -> Map<String, Json> {
    extensions
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default()
}

fn bytes_input(v: &Json, what: &str) -> Result<Vec<u8>, ClientError> {
    let s = v
        .as_str()
        .ok_or_else(|| ClientError::Type(format!("{what}: a base64url string")))?;
    unb64url(what, s)
}

/// What `create` asks of the authenticator, and what it must report.
#[derive(Debug, Default)]
pub(crate) struct Creation {
    /// The authenticator extensions (makeCredential 0x06).
    pub(crate) ctap: Vec<(Value, Value)>,
    cred_blob: bool,
    large_blob: bool,
    prf: bool,
}

/// CTAP 2.1 §12.1: credProtect's levels for WebAuthn's policy names.
fn cred_protect_level(policy: &str) -> Result<u64, ClientError> {
    match policy {
        "userVerificationOptional" => Ok(1),
        "userVerificationOptionalWithCredentialIDList" => Ok(2),
        "userVerificationRequired" => Ok(3),
        other => Err(ClientError::Type(format!(
            "credentialProtectionPolicy `{other}`: userVerificationOptional, \
             userVerificationOptionalWithCredentialIDList or userVerificationRequired"
        ))),
    }
}

/// The authenticator extensions for `create`'s client inputs.
/// `rk`: whether the credential will be discoverable.
pub(crate) fn creation(
    ext: Option<&Json>,
    support: &Support,
    rk: bool,
) -> Result<Creation, ClientError> {
    let ext = inputs(ext);
    let mut c = Creation::default();
    if let Some(blob) = ext.get("credBlob") {
        let blob = bytes_input(blob, "extensions.credBlob")?;
        // CTAP 2.1 §12.2: a blob longer than maxCredBlobLength is not sent.
        if support.has("credBlob")
            && !blob.is_empty()
            && blob.len() as u64 <= support.max_cred_blob_length
        {
            c.ctap.push(("credBlob".into(), cbor::bytes(blob)));
            c.cred_blob = true;
        }
    }
    if let Some(policy) = ext.get("credentialProtectionPolicy") {
        let policy = policy.as_str().ok_or_else(|| {
            ClientError::Type("extensions.credentialProtectionPolicy: a string".into())
        })?;
        let level = cred_protect_level(policy)?;
        let enforce = ext
            .get("enforceCredentialProtectionPolicy")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        if support.has("credProtect") {
            c.ctap.push(("credProtect".into(), level.into()));
        } else if enforce && level > 1 {
            // CTAP 2.1 §12.1: the platform does not create a credential
            // with less protection than the RP enforces.
            return Err(ClientError::NotSupported(format!(
                "the authenticator has no credProtect, and the RP enforces {policy}"
            )));
        }
    }
    if ext.get("minPinLength").and_then(Json::as_bool) == Some(true) && support.has("minPinLength")
    {
        c.ctap.push(("minPinLength".into(), true.into()));
    }
    if let Some(lb) = ext.get("largeBlob") {
        if lb.get("read").is_some() || lb.get("write").is_some() {
            // WebAuthn L3 §10.1.5: read and write belong to get().
            return Err(ClientError::NotSupported(
                "extensions.largeBlob: read and write are for get(), not create()".into(),
            ));
        }
        let support_asked = lb
            .get("support")
            .and_then(Json::as_str)
            .unwrap_or("preferred");
        // CTAP 2.1 §12.3: largeBlobKey is for discoverable credentials only.
        let able = support.has("largeBlobKey") && rk;
        match (support_asked, able) {
            ("required", false) => {
                return Err(ClientError::NotSupported(if rk {
                    "extensions.largeBlob.support is required and the authenticator has no \
                     largeBlobKey"
                        .into()
                } else {
                    "extensions.largeBlob.support is required, which needs a discoverable \
                     credential (residentKey required or preferred)"
                        .into()
                }))
            }
            ("required" | "preferred", true) => {
                c.ctap.push(("largeBlobKey".into(), true.into()));
                c.large_blob = true;
            }
            ("preferred", false) => c.large_blob = true,
            (other, _) => {
                return Err(ClientError::Type(format!(
                    "extensions.largeBlob.support `{other}`: required or preferred"
                )))
            }
        }
    }
    if ext.contains_key("prf") && support.has("hmac-secret") {
        c.ctap.push(("hmac-secret".into(), true.into()));
        c.prf = true;
    }
    Ok(c)
}

/// The authenticator extension outputs in authenticator data: the map
/// that starts at `at` when the ED flag (bit 7) is set (WebAuthn L3 §6.1).
pub(crate) fn outputs(auth_data: &[u8], at: usize) -> Result<Option<Fields>, ClientError> {
    if auth_data.get(32).is_none_or(|f| f & 0x80 == 0) {
        return Ok(None);
    }
    auth_data
        .get(at..)
        .and_then(|rest| Fields::decode(rest).ok())
        .map(Some)
        .ok_or_else(|| {
            ClientError::Device(
                "the authenticator data has the ED flag but no extensions map".into(),
            )
        })
}

/// An output, when the authenticator sent it.
fn take(out: &mut Option<Fields>, name: &str) -> Option<Value> {
    out.as_mut().and_then(|f| f.take_text_key(name))
}

/// `create`'s client extension outputs.
pub(crate) fn creation_results(
    c: &Creation,
    mut out: Option<Fields>,
    large_blob_key: bool,
    results: &mut Map<String, Json>,
) {
    if c.cred_blob {
        let stored = take(&mut out, "credBlob")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        results.insert("credBlob".into(), json!(stored));
    }
    if c.large_blob {
        results.insert("largeBlob".into(), json!({ "supported": large_blob_key }));
    }
    if c.prf {
        let enabled = take(&mut out, "hmac-secret")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        results.insert("prf".into(), json!({ "enabled": enabled }));
    }
}

/// What a get() does with the large-blob array.
#[derive(Debug, Clone)]
enum LargeBlob {
    /// Read the credential's blob.
    Read,
    /// Write this blob for the credential.
    Write(Vec<u8>),
    /// Asked for, but the key has no largeBlobKey.
    Unsupported { write: bool },
}

/// What `get` asks of the authenticator, and how to read the answer.
pub(crate) struct Assertion {
    /// The authenticator extensions (getAssertion 0x04).
    pub(crate) ctap: Vec<(Value, Value)>,
    cred_blob: bool,
    large_blob: Option<LargeBlob>,
    /// The shared secret of the hmac-secret input, and whether two salts
    /// were sent.
    prf: Option<(SharedSecret, bool)>,
}

/// WebAuthn L3 §10.1.4: the hmac-secret salt for a PRF input.
fn prf_salt(input: &[u8]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(b"WebAuthn PRF");
    h.update([0u8]);
    h.update(input);
    h.finalize().into()
}

/// A PRF evaluation's inputs: `first`, and `second` when given.
type PrfValues = (Vec<u8>, Option<Vec<u8>>);

/// The PRF inputs that apply: `evalByCredential`'s entry for the one
/// allowed credential, else `eval`.
fn prf_inputs(prf: &Json, allowed: &[Vec<u8>]) -> Result<Option<PrfValues>, ClientError> {
    let pick = |values: &Json, what: &str| -> Result<PrfValues, ClientError> {
        let first = values
            .get("first")
            .ok_or_else(|| ClientError::Type(format!("{what}.first is missing")))?;
        let first = bytes_input(first, &format!("{what}.first"))?;
        let second = values
            .get("second")
            .map(|s| bytes_input(s, &format!("{what}.second")))
            .transpose()?;
        Ok((first, second))
    };
    if let Some(by) = prf.get("evalByCredential").and_then(Json::as_object) {
        for id in by.keys() {
            let id = unb64url("extensions.prf.evalByCredential key", id)?;
            // WebAuthn L3 §10.1.4: every key must name an allowed credential.
            if !allowed.contains(&id) {
                return Err(ClientError::NotSupported(
                    "extensions.prf.evalByCredential names a credential that is not in \
                     allowCredentials"
                        .into(),
                ));
            }
        }
        if let [only] = allowed {
            if let Some(values) = by.get(&b64url(only)) {
                return pick(values, "extensions.prf.evalByCredential").map(Some);
            }
        }
    }
    match prf.get("eval") {
        Some(values) => pick(values, "extensions.prf.eval").map(Some),
        None => Ok(None),
    }
}

/// The authenticator extensions for `get`'s client inputs. PRF needs a
/// shared secret: the authenticator's key-agreement key is fetched with
/// clientPIN getKeyAgreement (protocol 2).
pub(crate) fn assertion(
    device: &mut dyn crate::CtapDevice,
    ext: Option<&Json>,
    support: &Support,
    allowed: &[Vec<u8>],
) -> Result<Assertion, ClientError> {
    let ext = inputs(ext);
    let mut a = Assertion {
        ctap: Vec::new(),
        cred_blob: false,
        large_blob: None,
        prf: None,
    };
    if ext.get("getCredBlob").and_then(Json::as_bool) == Some(true) && support.has("credBlob") {
        a.ctap.push(("credBlob".into(), true.into()));
        a.cred_blob = true;
    }
    if let Some(lb) = ext.get("largeBlob") {
        // WebAuthn L3 §10.1.5: support belongs to create(); read and write
        // exclude each other; a write names exactly one credential.
        if lb.get("support").is_some() {
            return Err(ClientError::NotSupported(
                "extensions.largeBlob.support is for create(), not get()".into(),
            ));
        }
        let read = lb.get("read").and_then(Json::as_bool) == Some(true);
        let write = lb
            .get("write")
            .map(|w| bytes_input(w, "extensions.largeBlob.write"))
            .transpose()?;
        let op = match (read, write) {
            (true, Some(_)) => {
                return Err(ClientError::NotSupported(
                    "extensions.largeBlob: read and write together".into(),
                ))
            }
            (_, Some(_)) if allowed.len() != 1 => {
                return Err(ClientError::NotSupported(
                    "extensions.largeBlob.write needs exactly one credential in \
                     allowCredentials"
                        .into(),
                ))
            }
            (_, Some(blob)) => Some(LargeBlob::Write(blob)),
            (true, None) => Some(LargeBlob::Read),
            (false, None) => None,
        };
        if let Some(op) = op {
            if !support.has("largeBlobKey") {
                let write = matches!(op, LargeBlob::Write(_));
                a.large_blob = Some(LargeBlob::Unsupported { write });
            } else {
                if matches!(op, LargeBlob::Write(_)) && !support.uv {
                    return Err(ClientError::NotSupported(
                        "extensions.largeBlob.write needs a pinUvAuthToken with the lbw \
                         permission; this client gets one through built-in user verification, \
                         which this key does not have"
                            .into(),
                    ));
                }
                a.ctap.push(("largeBlobKey".into(), true.into()));
                a.large_blob = Some(op);
            }
        }
    }
    if let Some(prf) = ext.get("prf") {
        if let (Some((first, second)), true) =
            (prf_inputs(prf, allowed)?, support.has("hmac-secret"))
        {
            let protocol = PinProtocol::V2;
            let (platform, shared) = crate::large_blob::key_agreement(device, protocol)?;
            let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
            let mut salts = prf_salt(&first).to_vec();
            if let Some(second) = &second {
                salts.extend_from_slice(&prf_salt(second));
            }
            let salt_enc = shared
                .encrypt(&mut rng, &salts)
                .map_err(|e| ClientError::Device(format!("encrypting the salts: {}", e.name())))?;
            let salt_auth = shared.authenticate(&salt_enc);
            a.ctap.push((
                "hmac-secret".into(),
                MapBuilder::new()
                    .int(1, platform)
                    .int(2, cbor::bytes(salt_enc))
                    .int(3, cbor::bytes(salt_auth))
                    .int(4, protocol.id())
                    .build(),
            ));
            a.prf = Some((shared, second.is_some()));
        }
    }
    Ok(a)
}

/// `get`'s client extension outputs. `large_blob_key` is the chosen
/// credential's (getAssertion 0x07); the large-blob array is read or
/// written through `device`.
pub(crate) fn assertion_results(
    a: &Assertion,
    mut out: Option<Fields>,
    device: &mut dyn crate::CtapDevice,
    support: &Support,
    large_blob_key: Option<&[u8]>,
) -> Result<Map<String, Json>, ClientError> {
    let mut results = Map::new();
    let fragment = usize::try_from(support.max_msg_size.saturating_sub(64))
        .unwrap_or(usize::MAX)
        .max(1);
    let max_array = usize::try_from(support.max_large_blob_array).unwrap_or(usize::MAX);
    match (&a.large_blob, large_blob_key) {
        (None, _) => {}
        (Some(LargeBlob::Unsupported { write: true }), _) => {
            results.insert("largeBlob".into(), json!({ "written": false }));
        }
        (Some(LargeBlob::Unsupported { write: false }), _) => {
            results.insert("largeBlob".into(), json!({}));
        }
        (Some(LargeBlob::Read), key) => {
            let blob = match key {
                Some(k) => {
                    crate::large_blob::find(&crate::large_blob::read_array(device, fragment)?, k)
                }
                None => None,
            };
            let out = match blob {
                Some(b) => json!({ "blob": b64url(&b) }),
                None => json!({}),
            };
            results.insert("largeBlob".into(), out);
        }
        (Some(LargeBlob::Write(blob)), key) => {
            // A key that gave no largeBlobKey, or a write the key refused,
            // is `written: false`, as a browser reports it.
            let written = match key {
                Some(k) => crate::large_blob::write(device, fragment, max_array, k, blob).is_ok(),
                None => false,
            };
            results.insert("largeBlob".into(), json!({ "written": written }));
        }
    }
    if a.cred_blob {
        let blob = take(&mut out, "credBlob")
            .and_then(|v| cbor::as_bytes(v, 1024).ok())
            .unwrap_or_default();
        results.insert("getCredBlob".into(), json!(b64url(&blob)));
    }
    if let Some((shared, two)) = &a.prf {
        if let Some(enc) = take(&mut out, "hmac-secret").and_then(|v| cbor::as_bytes(v, 256).ok()) {
            let plain = shared.decrypt(&enc).map_err(|_| {
                ClientError::Device("the hmac-secret output does not decrypt".into())
            })?;
            let expected = if *two { 64 } else { 32 };
            if plain.len() != expected {
                return Err(ClientError::Device(format!(
                    "the hmac-secret output has {} bytes, not {expected}",
                    plain.len()
                )));
            }
            let mut r = Map::new();
            r.insert("first".into(), json!(b64url(&plain[..32])));
            if *two {
                r.insert("second".into(), json!(b64url(&plain[32..])));
            }
            results.insert("prf".into(), json!({ "results": r }));
        }
    }
    Ok(results)
}
