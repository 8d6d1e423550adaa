//! Credentials as JSON, in the shape Chrome's DevTools virtual
//! authenticator uses (`WebAuthn.Credential`: binary fields in standard
//! base64, the private key as PKCS#8), so credentials move between Chrome
//! and fidosim both ways. fidosim adds `rpName`, `credProtect` and `credBlob`
//! when they are set; Chrome ignores them.

use authenticator_core::config::{BackupFlags, CounterMode, DeviceConfig};
use authenticator_core::crypto::keys::PrivateKey;
use authenticator_core::crypto::sha256;
use authenticator_core::store::{CounterScope, Credential, CredentialStore, StoreError, User};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The longest credential ID accepted (CTAP 2.1 §6.1 lets IDs be up to
/// 1023 bytes).
const MAX_ID: usize = 1023;
/// User handles are at most 64 bytes (WebAuthn §5.4.3).
const MAX_USER_HANDLE: usize = 64;
/// Names are kept to 64 bytes, as the authenticator does.
const MAX_NAME: usize = 64;

/// One credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialJson {
    /// The credential ID, base64.
    pub credential_id: String,
    /// Whether it is discoverable.
    pub is_resident_credential: bool,
    /// Its RP ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_id: Option<String>,
    /// Its private key: PKCS#8 DER, base64.
    pub private_key: String,
    /// The user handle, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_handle: Option<String>,
    /// Its signature counter.
    #[serde(default)]
    pub sign_count: u32,
    /// Its large blob, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_blob: Option<String>,
    /// The BE flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_eligibility: Option<bool>,
    /// The BS flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_state: Option<bool>,
    /// The user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_display_name: Option<String>,
    /// The RP's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_name: Option<String>,
    /// The credProtect level (1 to 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_protect: Option<u8>,
    /// The credBlob, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_blob: Option<String>,
}

/// Why a request about credentials failed; maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredError {
    /// The input is wrong (400).
    Invalid(String),
    /// No such credential (404).
    NotFound(String),
    /// It clashes with what is stored (409).
    Conflict(String),
    /// No room for another discoverable credential (507).
    Full,
    /// The store failed (500).
    Store(String),
}

impl std::fmt::Display for CredError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(m) | Self::NotFound(m) | Self::Conflict(m) | Self::Store(m) => {
                f.write_str(m)
            }
            Self::Full => {
                f.write_str("no room for another discoverable credential: delete some first")
            }
        }
    }
}

impl From<StoreError> for CredError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Full => Self::Full,
            other => Self::Store(format!(
                "the state store failed ({other:?}); nothing was changed"
            )),
        }
    }
}

/// Standard base64 for output.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// base64 in any of its usual forms: standard or URL-safe alphabet, with or
/// without padding.
pub fn unb64(field: &str, s: &str) -> Result<Vec<u8>, CredError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
        .ok_or_else(|| CredError::Invalid(format!("{field}: not valid base64")))
}

/// URL-safe base64 without padding, for credential IDs in URL paths.
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// The counter a credential's signatures use on a device with `config`.
pub fn counter_scope(config: &DeviceConfig, id: &[u8]) -> CounterScope {
    match config.counter_mode {
        CounterMode::Global => CounterScope::Global,
        _ => CounterScope::Credential(sha256(id)),
    }
}

/// A stored credential as JSON.
pub fn to_json(
    c: &Credential,
    config: &DeviceConfig,
    store: &dyn CredentialStore,
) -> Result<CredentialJson, CredError> {
    let sign_count = match config.counter_mode {
        CounterMode::AlwaysZero => 0,
        _ => store.counter(counter_scope(config, &c.id))?,
    };
    let key = c
        .key
        .to_pkcs8_der()
        .map_err(|_| CredError::Store("a stored private key is damaged".into()))?;
    let synced = config.backup == BackupFlags::Synced;
    Ok(CredentialJson {
        credential_id: b64(&c.id),
        is_resident_credential: c.discoverable,
        rp_id: Some(c.rp_id.clone()),
        private_key: b64(&key),
        user_handle: (!c.user.id.is_empty()).then(|| b64(&c.user.id)),
        sign_count,
        large_blob: None,
        backup_eligibility: Some(synced),
        backup_state: Some(synced),
        user_name: c.user.name.clone(),
        user_display_name: c.user.display_name.clone(),
        rp_name: c.rp_name.clone(),
        cred_protect: (c.cred_protect != 0).then_some(c.cred_protect),
        cred_blob: c.cred_blob.as_deref().map(b64),
    })
}

/// A credential from JSON, checked; with its signature counter.
pub fn from_json(
    j: &CredentialJson,
    config: &DeviceConfig,
    now_ms: u64,
) -> Result<(Credential, u32), CredError> {
    let id = unb64("credentialId", &j.credential_id)?;
    if id.is_empty() || id.len() > MAX_ID {
        return Err(CredError::Invalid(format!(
            "credentialId: {} bytes; a credential ID has 1 to {MAX_ID}",
            id.len()
        )));
    }
    let rp_id = j
        .rp_id
        .clone()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| CredError::Invalid("rpId is required".into()))?;
    let der = unb64("privateKey", &j.private_key)?;
    let key = PrivateKey::from_pkcs8_der(&der).map_err(|_| {
        CredError::Invalid(
            "privateKey: not a PKCS#8 P-256 (ES256) or Ed25519 (EdDSA) private key".into(),
        )
    })?;
    if !config.algorithms.contains(&key.algorithm()) {
        return Err(CredError::Invalid(format!(
            "privateKey: this device is configured without {} (--algorithms)",
            key.algorithm().name()
        )));
    }
    let user_id = j
        .user_handle
        .as_deref()
        .map(|u| unb64("userHandle", u))
        .transpose()?
        .unwrap_or_default();
    if user_id.len() > MAX_USER_HANDLE {
        return Err(CredError::Invalid(format!(
            "userHandle: {} bytes; at most {MAX_USER_HANDLE}",
            user_id.len()
        )));
    }
    if j.is_resident_credential && user_id.is_empty() {
        return Err(CredError::Invalid(
            "userHandle is required for a resident (discoverable) credential".into(),
        ));
    }
    if j.large_blob.is_some() {
        return Err(CredError::Invalid(
            "largeBlob: importing a credential's large blob is not supported; leave the field out"
                .into(),
        ));
    }
    let synced = config.backup == BackupFlags::Synced;
    for (field, value) in [
        ("backupEligibility", j.backup_eligibility),
        ("backupState", j.backup_state),
    ] {
        if value.is_some_and(|v| v != synced) {
            return Err(CredError::Invalid(format!(
                "{field}: {}, but this device's BE/BS flags are {synced} (fidosim run --backup {})",
                !synced,
                if synced { "synced" } else { "device-bound" },
            )));
        }
    }
    if let Some(p) = j.cred_protect {
        if !(1..=3).contains(&p) {
            return Err(CredError::Invalid("credProtect: 1, 2 or 3".into()));
        }
    }
    let cred_blob = j
        .cred_blob
        .as_deref()
        .map(|b| unb64("credBlob", b))
        .transpose()?;
    if cred_blob.as_ref().is_some_and(|b| b.len() > 32) {
        return Err(CredError::Invalid("credBlob: at most 32 bytes".into()));
    }
    let credential = Credential {
        rp_id_hash: sha256(rp_id.as_bytes()),
        rp_id,
        rp_name: j.rp_name.as_deref().map(|n| truncate(n, MAX_NAME)),
        user: User {
            id: user_id,
            name: j.user_name.as_deref().map(|n| truncate(n, MAX_NAME)),
            display_name: j
                .user_display_name
                .as_deref()
                .map(|n| truncate(n, MAX_NAME)),
        },
        key,
        discoverable: j.is_resident_credential,
        cred_protect: j.cred_protect.unwrap_or(0),
        cred_blob,
        created_ms: now_ms,
        id,
    };
    Ok((credential, j.sign_count))
}

/// Imports a checked credential: refuses an ID that exists, and a
/// discoverable credential whose RP and user handle already have one.
pub fn import(
    store: &mut dyn CredentialStore,
    config: &DeviceConfig,
    credential: Credential,
    sign_count: u32,
) -> Result<(), CredError> {
    if store.get(&credential.id)?.is_some() {
        return Err(CredError::Conflict(format!(
            "credential {} already exists: delete it first",
            b64(&credential.id)
        )));
    }
    if credential.discoverable {
        if let Some(other) =
            store.discoverable_for_user(&credential.rp_id_hash, &credential.user.id)?
        {
            return Err(CredError::Conflict(format!(
                "{} already has a discoverable credential for this user handle ({}): delete it first",
                credential.rp_id,
                b64(&other.id)
            )));
        }
    }
    let scope = counter_scope(config, &credential.id);
    let id = credential.id.clone();
    store.save(credential, None, sign_count)?;
    if scope == CounterScope::Global {
        // A global counter never moves back because of an import.
        let current = store.counter(scope)?;
        store.set_counter(scope, current.max(sign_count))?;
    } else {
        store.set_counter(CounterScope::Credential(sha256(&id)), sign_count)?;
    }
    Ok(())
}

/// Imports credentials all or nothing: every one is checked first (and an
/// ID given twice is refused), then each is imported, and a failure takes
/// the ones already imported out again. The imported IDs, in order.
/// `imported` hears of each one as it is stored (progress).
pub fn import_all(
    store: &mut dyn CredentialStore,
    config: &DeviceConfig,
    list: &[CredentialJson],
    now_ms: u64,
    imported: &mut dyn FnMut(&[u8]),
) -> Result<Vec<Vec<u8>>, CredError> {
    let checked = list
        .iter()
        .map(|j| from_json(j, config, now_ms))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    for (c, _) in &checked {
        if !seen.insert(c.id.clone()) {
            return Err(CredError::Invalid(format!(
                "credential {} appears twice in the request",
                b64(&c.id)
            )));
        }
    }
    let mut done: Vec<Vec<u8>> = Vec::new();
    for (c, count) in checked {
        let id = c.id.clone();
        if let Err(e) = import(store, config, c, count) {
            for id in &done {
                let _ = store.delete(id);
            }
            return Err(e);
        }
        imported(&id);
        done.push(id);
    }
    Ok(done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use authenticator_core::crypto::keys::Algorithm;
    use authenticator_core::MemoryStore;
    use rand_chacha::rand_core::SeedableRng;

    fn sample(resident: bool) -> CredentialJson {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let key = PrivateKey::generate(Algorithm::Es256, &mut rng);
        CredentialJson {
            credential_id: b64(&[1, 2, 3, 4]),
            is_resident_credential: resident,
            rp_id: Some("example.org".into()),
            private_key: b64(&key.to_pkcs8_der().unwrap()),
            user_handle: Some(b64(b"user")),
            sign_count: 5,
            large_blob: None,
            backup_eligibility: Some(false),
            backup_state: Some(false),
            user_name: Some("alice".into()),
            user_display_name: None,
            rp_name: None,
            cred_protect: None,
            cred_blob: None,
        }
    }

    #[test]
    fn round_trip_through_a_store() {
        let config = DeviceConfig::default();
        let mut store = MemoryStore::default();
        let j = sample(true);
        let (c, n) = from_json(&j, &config, 0).unwrap();
        import(&mut store, &config, c, n).unwrap();
        let stored = store.get(&[1, 2, 3, 4]).unwrap().unwrap();
        assert_eq!(to_json(&stored, &config, &store).unwrap(), j);
        // The same again clashes, by ID and by user handle.
        let (c, n) = from_json(&j, &config, 0).unwrap();
        assert!(matches!(
            import(&mut store, &config, c, n),
            Err(CredError::Conflict(_))
        ));
        let mut other = j.clone();
        other.credential_id = b64(&[9]);
        let (c, n) = from_json(&other, &config, 0).unwrap();
        assert!(matches!(
            import(&mut store, &config, c, n),
            Err(CredError::Conflict(m)) if m.contains("user handle")
        ));
    }

    #[test]
    fn import_all_is_all_or_nothing() {
        let config = DeviceConfig::default();
        let mut store = MemoryStore::default();
        let first = sample(false);
        let mut second = sample(false);
        second.credential_id = b64(&[5, 6]);
        assert!(matches!(
            import_all(&mut store, &config, &[first.clone(), first.clone()], 0, &mut |_| {}),
            Err(CredError::Invalid(m)) if m.contains("twice")
        ));
        import_all(&mut store, &config, &[second.clone()], 0, &mut |_| {}).unwrap();
        // The second clashes with what is stored: the first goes out again.
        assert!(matches!(
            import_all(
                &mut store,
                &config,
                &[first.clone(), second],
                0,
                &mut |_| {}
            ),
            Err(CredError::Conflict(_))
        ));
        assert!(store.get(&[1, 2, 3, 4]).unwrap().is_none());
        assert_eq!(
            import_all(&mut store, &config, &[first], 0, &mut |_| {}).unwrap(),
            vec![vec![1, 2, 3, 4]]
        );
    }

    #[test]
    fn bad_input_is_named() {
        let config = DeviceConfig::default();
        let check = |f: &dyn Fn(&mut CredentialJson), needle: &str| {
            let mut j = sample(true);
            f(&mut j);
            match from_json(&j, &config, 0) {
                Err(CredError::Invalid(m)) => assert!(m.contains(needle), "{m}"),
                other => panic!("{needle}: {other:?}"),
            }
        };
        check(&|j| j.credential_id = "@@@".into(), "credentialId");
        check(&|j| j.credential_id = String::new(), "credentialId");
        check(&|j| j.private_key = b64(b"junk"), "privateKey");
        check(&|j| j.private_key = "not base64!".into(), "privateKey");
        check(&|j| j.rp_id = None, "rpId");
        check(&|j| j.user_handle = None, "userHandle");
        check(&|j| j.user_handle = Some(b64(&[0; 65])), "userHandle");
        check(&|j| j.large_blob = Some(b64(b"x")), "largeBlob");
        check(&|j| j.backup_state = Some(true), "backupState");
        check(&|j| j.cred_protect = Some(4), "credProtect");
        check(&|j| j.cred_blob = Some(b64(&[0; 33])), "credBlob");
        // URL-safe base64 without padding is accepted too.
        let mut j = sample(false);
        j.credential_id = b64url(&[0xfb, 0xff]);
        j.user_handle = None;
        assert_eq!(from_json(&j, &config, 0).unwrap().0.id, vec![0xfb, 0xff]);
    }
}
