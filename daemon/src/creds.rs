//! Credentials as JSON, in the shape Chrome's DevTools virtual
//! authenticator uses (`WebAuthn.Credential`: binary fields in standard
//! base64, the private key as PKCS#8), so credentials move between Chrome
//! and fidosim both ways. fidosim adds `rpName`, `credProtect` and `credBlob`
//! when they are set; Chrome ignores them.

use authenticator_core::admin::{self, AdminError, StoredCredential};
use authenticator_core::config::{BackupFlags, DeviceConfig};
use authenticator_core::crypto::keys::PrivateKey;
use authenticator_core::crypto::sha256;
use authenticator_core::store::{Credential, CredentialStore, StoreError, User};
use authenticator_core::{Authenticator, Env};
use base64::Engine as _;

/// The longest credential ID accepted (CTAP 2.1 §6.1 lets IDs be up to
/// 1023 bytes).
const MAX_ID: usize = 1023;
/// User handles are at most 64 bytes (WebAuthn §5.4.3).
const MAX_USER_HANDLE: usize = 64;
/// Names are kept to 64 bytes, as the authenticator does.
const MAX_NAME: usize = 64;

/// One credential, as the control API reads and writes it.
pub use fidosim_control_api::Credential as CredentialJson;

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

impl From<AdminError> for CredError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(id) => Self::NotFound(format!(
                "no stored credential {}; `fidosim credentials list` shows them",
                b64(&id)
            )),
            AdminError::Exists(id) => Self::Conflict(format!(
                "credential {} already exists: delete it first",
                b64(&id)
            )),
            AdminError::UserHasCredential { rp_id, existing } => Self::Conflict(format!(
                "{rp_id} already has a discoverable credential for this user handle ({}): delete it first",
                b64(&existing)
            )),
            AdminError::DuplicateInRequest(id) => Self::Invalid(format!(
                "credential {} appears twice in the request",
                b64(&id)
            )),
            AdminError::CountersAlwaysZero => Self::Conflict(
                "this device's counters are always zero (counter mode zero); there is nothing to set"
                    .into(),
            ),
            AdminError::Store(e) => e.into(),
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

/// A stored credential (as [`admin::list`] reports it) as JSON.
pub fn to_json(
    stored: &StoredCredential,
    config: &DeviceConfig,
) -> Result<CredentialJson, CredError> {
    let StoredCredential {
        credential: c,
        sign_count,
    } = stored;
    let sign_count = *sign_count;
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
        creation_order: Some(c.created_order),
    })
}

/// A credential from JSON, checked; with its signature counter.
pub fn from_json(j: &CredentialJson, config: &DeviceConfig) -> Result<StoredCredential, CredError> {
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
            "privateKey: not a PKCS#8 private key of P-256 (ES256), P-384 (ES384), \
             P-521 (ES512), secp256k1 (ES256K), Ed25519 (EdDSA) or ML-DSA (seed form)"
                .into(),
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
        // The store orders it when it saves it (see import_all).
        created_order: 0,
        id,
    };
    Ok(StoredCredential {
        credential,
        sign_count: j.sign_count,
    })
}

/// Every credential of `list` from JSON, checked; the first defect is
/// the error.
///
/// They come back in the order they are to be stored, oldest first: an
/// import places its credentials after every credential on the key (the
/// store numbers them as it saves them), and among themselves orders them
/// by `creationOrder` where given (an export, a clone), then the ones
/// without one in the order of `list`.
pub fn from_json_all(
    list: &[CredentialJson],
    config: &DeviceConfig,
) -> Result<Vec<StoredCredential>, CredError> {
    let mut checked = list
        .iter()
        .map(|j| Ok((j.creation_order, from_json(j, config)?)))
        .collect::<Result<Vec<_>, CredError>>()?;
    // Stable: equal keys keep the request's order.
    checked.sort_by_key(|(order, _)| (order.is_none(), *order));
    Ok(checked.into_iter().map(|(_, c)| c).collect())
}

/// Imports credentials into a store all or nothing ([`admin::import`]):
/// every one is checked first, an ID given twice is refused, and a failure
/// takes the ones already imported out again. The imported IDs, in order.
/// `imported` hears of each one as it is stored (progress).
pub fn import_all(
    store: &mut dyn CredentialStore,
    config: &DeviceConfig,
    list: &[CredentialJson],
    imported: &mut dyn FnMut(&[u8]),
) -> Result<Vec<Vec<u8>>, CredError> {
    let checked = from_json_all(list, config)?;
    Ok(admin::import(store, config, checked, imported)?)
}

/// Imports credentials into a running authenticator, all or nothing
/// ([`Authenticator::import_credentials`]), ordered as [`from_json_all`]
/// says.
pub fn import_into<E: Env>(
    a: &mut Authenticator<E>,
    list: &[CredentialJson],
) -> Result<Vec<Vec<u8>>, CredError> {
    let checked = from_json_all(list, a.config())?;
    Ok(a.import_credentials(checked)?)
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
            creation_order: None,
        }
    }

    #[test]
    fn an_import_comes_after_what_is_stored_ordered_by_creation_order() {
        let config = DeviceConfig::default();
        let mut store = MemoryStore::default();
        let one = |id: u8, user: &[u8], order: Option<u64>| CredentialJson {
            credential_id: b64(&[id]),
            user_handle: Some(b64(user)),
            creation_order: order,
            ..sample(true)
        };
        import_all(&mut store, &config, &[one(1, b"a", None)], &mut |_| {}).unwrap();
        // 40 and 7 keep their relative order (7 before 40); the ones without
        // an order follow, in the request's order.
        let request = [
            one(2, b"b", None),
            one(3, b"c", Some(40)),
            one(4, b"d", None),
            one(5, b"e", Some(7)),
        ];
        let ids = import_all(&mut store, &config, &request, &mut |_| {}).unwrap();
        assert_eq!(ids, [vec![5], vec![3], vec![2], vec![4]]);
        let order = |id: u8| store.get(&[id]).unwrap().unwrap().created_order;
        assert_eq!(
            [1, 5, 3, 2, 4].map(order),
            [1, 2, 3, 4, 5],
            "what was stored comes first, then the import"
        );
    }

    /// A key of an algorithm the device has not enabled is refused; with
    /// the algorithm enabled it imports, and exports as the same PKCS#8.
    #[test]
    fn imports_follow_the_configured_algorithms() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let beyond_default = Algorithm::ALL
            .into_iter()
            .filter(|a| !Algorithm::DEFAULT.contains(a));
        for alg in beyond_default {
            let key = PrivateKey::generate(alg, &mut rng);
            let j = CredentialJson {
                private_key: b64(&key.to_pkcs8_der().unwrap()),
                ..sample(true)
            };
            let mut store = MemoryStore::default();
            let refused = import_all(
                &mut store,
                &DeviceConfig::default(),
                std::slice::from_ref(&j),
                &mut |_| {},
            );
            assert!(
                matches!(&refused, Err(CredError::Invalid(m)) if m.contains(alg.name())),
                "{refused:?}"
            );
            let config = DeviceConfig {
                algorithms: vec![alg],
                ..DeviceConfig::default()
            };
            import_all(&mut store, &config, std::slice::from_ref(&j), &mut |_| {}).unwrap();
            let stored = admin::get(&store, &config, &[1, 2, 3, 4]).unwrap();
            assert_eq!(stored.credential.key.algorithm(), alg);
            assert_eq!(
                to_json(&stored, &config).unwrap().private_key,
                j.private_key
            );
        }
    }

    #[test]
    fn round_trip_through_a_store() {
        let config = DeviceConfig::default();
        let mut store = MemoryStore::default();
        let j = sample(true);
        import_all(&mut store, &config, std::slice::from_ref(&j), &mut |_| {}).unwrap();
        let stored = admin::get(&store, &config, &[1, 2, 3, 4]).unwrap();
        // The store numbered it: the first credential it holds.
        let numbered = CredentialJson {
            creation_order: Some(1),
            ..j.clone()
        };
        assert_eq!(to_json(&stored, &config).unwrap(), numbered);
        // The same again clashes, by ID and by user handle.
        assert!(matches!(
            import_all(&mut store, &config, std::slice::from_ref(&j), &mut |_| {}),
            Err(CredError::Conflict(_))
        ));
        let mut other = j.clone();
        other.credential_id = b64(&[9]);
        assert!(matches!(
            import_all(&mut store, &config, &[other], &mut |_| {}),
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
            import_all(&mut store, &config, &[first.clone(), first.clone()], &mut |_| {}),
            Err(CredError::Invalid(m)) if m.contains("twice")
        ));
        import_all(&mut store, &config, &[second.clone()], &mut |_| {}).unwrap();
        // The second clashes with what is stored: the first goes out again.
        assert!(matches!(
            import_all(&mut store, &config, &[first.clone(), second], &mut |_| {}),
            Err(CredError::Conflict(_))
        ));
        assert!(store.get(&[1, 2, 3, 4]).unwrap().is_none());
        assert_eq!(
            import_all(&mut store, &config, &[first], &mut |_| {}).unwrap(),
            vec![vec![1, 2, 3, 4]]
        );
    }

    #[test]
    fn bad_input_is_named() {
        let config = DeviceConfig::default();
        let check = |f: &dyn Fn(&mut CredentialJson), needle: &str| {
            let mut j = sample(true);
            f(&mut j);
            match from_json(&j, &config) {
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
        assert_eq!(
            from_json(&j, &config).unwrap().credential.id,
            vec![0xfb, 0xff]
        );
    }
}
