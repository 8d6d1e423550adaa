//! Administrative operations on the stored credentials: list, get, import,
//! delete, clear and set a signature counter, from outside any CTAP command.
//!
//! These are not CTAP commands: they serve a test harness or an operator
//! (the daemon's control API, the CLI on a state file). Each operation is a
//! function over a [`CredentialStore`] and the [`DeviceConfig`], so that a
//! tool holding only a store and a configuration runs the same code as a
//! running authenticator; [`Authenticator`] wraps each one in a method that
//! also forgets the getNextAssertion and credential management cursors
//! (CTAP 2.1 §6.3, §6.8) once the stored credentials changed, so that no
//! cursor walks a list that no longer exists.
//!
//! ```text
//!   control API ──► Authenticator::delete_credential ──► admin::delete ──► store
//!                          └─► clear_cursors()                              ▲
//!   CLI --state FILE ─────────────────────────────────► admin::delete ──────┘
//! ```
//!
//! Wiping the whole device (credentials, counters, PIN, settings and a new
//! master secret) is [`Authenticator::wipe`], the factory reset that
//! authenticatorReset performs (§6.6); [`clear`] removes the credentials
//! only.

use std::collections::HashSet;

use crate::config::{CounterMode, DeviceConfig};
use crate::crypto::sha256;
use crate::ctap2::Authenticator;
use crate::env::Env;
use crate::store::{CounterScope, Credential, CredentialStore, StoreError};

/// Why an administrative operation failed. The payloads are the facts a
/// caller needs to word its own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No stored credential has this ID.
    NotFound(Vec<u8>),
    /// A credential with this ID is stored already.
    Exists(Vec<u8>),
    /// A discoverable credential for the same RP and user handle is stored
    /// already (`existing` is its ID).
    UserHasCredential {
        /// The RP ID.
        rp_id: String,
        /// The ID of the stored credential.
        existing: Vec<u8>,
    },
    /// The same credential ID appears twice in one import.
    DuplicateInRequest(Vec<u8>),
    /// The device's counters are always zero: there is no counter to set.
    CountersAlwaysZero,
    /// The store failed (or is full, [`StoreError::Full`]).
    Store(StoreError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// A stored credential with the signature counter its next assertion
/// continues from; also what an import stores.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    /// The credential.
    pub credential: Credential,
    /// Its signature counter (0 on a device whose counters are always zero).
    pub sign_count: u32,
}

/// The counter a credential's signatures use on a device with `config`:
/// the device-wide one in global mode, its own otherwise.
pub fn counter_scope(config: &DeviceConfig, id: &[u8]) -> CounterScope {
    match config.counter_mode {
        CounterMode::Global => CounterScope::Global,
        CounterMode::PerCredential
        | CounterMode::AlwaysZero
        | CounterMode::Frozen
        | CounterMode::RandomStep(_) => CounterScope::Credential(sha256(id)),
    }
}

/// The signature counter of the credential `id` as an assertion would
/// continue it: 0 when the counters are always zero, the value of its
/// counter scope otherwise.
pub fn sign_count(
    store: &dyn CredentialStore,
    config: &DeviceConfig,
    id: &[u8],
) -> Result<u32, StoreError> {
    match config.counter_mode {
        CounterMode::AlwaysZero => Ok(0),
        _ => store.counter(counter_scope(config, id)),
    }
}

fn with_count(
    store: &dyn CredentialStore,
    config: &DeviceConfig,
    credential: Credential,
) -> Result<StoredCredential, AdminError> {
    let sign_count = sign_count(store, config, &credential.id)?;
    Ok(StoredCredential {
        credential,
        sign_count,
    })
}

/// Every stored credential with its signature counter, newest first: the
/// order in which getAssertion offers an RP's discoverable credentials
/// (CTAP 2.1 §6.2.2 step 12.2.1).
pub fn list(
    store: &dyn CredentialStore,
    config: &DeviceConfig,
) -> Result<Vec<StoredCredential>, AdminError> {
    let mut all = store.all_stored()?;
    all.sort_by_key(|c| std::cmp::Reverse(c.created_order));
    all.into_iter()
        .map(|c| with_count(store, config, c))
        .collect()
}

/// The stored credential `id`, with its signature counter.
pub fn get(
    store: &dyn CredentialStore,
    config: &DeviceConfig,
    id: &[u8],
) -> Result<StoredCredential, AdminError> {
    let c = store
        .get(id)?
        .ok_or_else(|| AdminError::NotFound(id.to_vec()))?;
    with_count(store, config, c)
}

/// Stores one credential: refuses an ID that is stored already, and a
/// discoverable credential whose RP and user handle have one already (an
/// import never replaces, unlike makeCredential, CTAP 2.1 §6.1.2 step 17).
fn import_one(
    store: &mut dyn CredentialStore,
    config: &DeviceConfig,
    item: StoredCredential,
) -> Result<(), AdminError> {
    let StoredCredential {
        credential,
        sign_count,
    } = item;
    if store.get(&credential.id)?.is_some() {
        return Err(AdminError::Exists(credential.id));
    }
    if credential.discoverable {
        if let Some(other) =
            store.discoverable_for_user(&credential.rp_id_hash, &credential.user.id)?
        {
            return Err(AdminError::UserHasCredential {
                rp_id: credential.rp_id,
                existing: other.id,
            });
        }
    }
    let scope = counter_scope(config, &credential.id);
    let id = credential.id.clone();
    store.save(credential, None, sign_count)?;
    if scope == CounterScope::Global {
        // The global counter never moves back because of an import.
        let current = store.counter(scope)?;
        store.set_counter(scope, current.max(sign_count))?;
    } else {
        store.set_counter(CounterScope::Credential(sha256(&id)), sign_count)?;
    }
    Ok(())
}

/// Imports credentials all or nothing: an ID given twice is refused before
/// anything is stored, then each is stored in order, and a failure deletes
/// the ones already stored again. Returns the imported IDs, in order;
/// `imported` hears of each one as it is stored (progress).
pub fn import(
    store: &mut dyn CredentialStore,
    config: &DeviceConfig,
    items: Vec<StoredCredential>,
    imported: &mut dyn FnMut(&[u8]),
) -> Result<Vec<Vec<u8>>, AdminError> {
    let mut seen = HashSet::new();
    for item in &items {
        if !seen.insert(item.credential.id.as_slice()) {
            return Err(AdminError::DuplicateInRequest(item.credential.id.clone()));
        }
    }
    let mut done: Vec<Vec<u8>> = Vec::with_capacity(items.len());
    for item in items {
        let id = item.credential.id.clone();
        if let Err(e) = import_one(store, config, item) {
            // Best effort: the first failure is the one reported.
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

/// Deletes the stored credential `id` and its counter.
pub fn delete(store: &mut dyn CredentialStore, id: &[u8]) -> Result<(), AdminError> {
    if store.delete(id)? {
        Ok(())
    } else {
        Err(AdminError::NotFound(id.to_vec()))
    }
}

/// Deletes every stored credential (the master secret, PIN and settings
/// stay); returns how many there were.
pub fn clear(store: &mut dyn CredentialStore) -> Result<usize, AdminError> {
    let all = store.all_stored()?;
    for c in &all {
        store.delete(&c.id)?;
    }
    Ok(all.len())
}

/// Sets the signature counter of the stored credential `id` (its counter
/// scope: the device-wide counter in global mode). This may move a counter
/// back, which the authenticator itself never does.
pub fn set_sign_count(
    store: &mut dyn CredentialStore,
    config: &DeviceConfig,
    id: &[u8],
    value: u32,
) -> Result<(), AdminError> {
    if config.counter_mode == CounterMode::AlwaysZero {
        return Err(AdminError::CountersAlwaysZero);
    }
    if store.get(id)?.is_none() {
        return Err(AdminError::NotFound(id.to_vec()));
    }
    store.set_counter(counter_scope(config, id), value)?;
    Ok(())
}

impl<E: Env> Authenticator<E> {
    /// Every stored credential, ordered by ID, with its signature counter.
    pub fn list_credentials(&self) -> Result<Vec<StoredCredential>, AdminError> {
        list(self.env().store_ref(), self.config())
    }

    /// The stored credential `id`, with its signature counter.
    pub fn credential(&self, id: &[u8]) -> Result<StoredCredential, AdminError> {
        get(self.env().store_ref(), self.config(), id)
    }

    /// Imports credentials all or nothing (see [`import`]); returns the
    /// imported IDs, in order.
    pub fn import_credentials(
        &mut self,
        items: Vec<StoredCredential>,
    ) -> Result<Vec<Vec<u8>>, AdminError> {
        let config = self.config().clone();
        let done = import(self.env_mut().store(), &config, items, &mut |_| {})?;
        self.clear_cursors();
        Ok(done)
    }

    /// Deletes the stored credential `id`.
    pub fn delete_credential(&mut self, id: &[u8]) -> Result<(), AdminError> {
        let result = delete(self.env_mut().store(), id);
        // The cursors go unless nothing was there to delete; a store
        // failure may have changed something.
        if !matches!(result, Err(AdminError::NotFound(_))) {
            self.clear_cursors();
        }
        result
    }

    /// Deletes every stored credential; returns how many there were.
    pub fn clear_credentials(&mut self) -> Result<usize, AdminError> {
        let result = clear(self.env_mut().store());
        // A failure part way leaves some credentials deleted.
        self.clear_cursors();
        result
    }

    /// Sets the signature counter of the stored credential `id` (see
    /// [`set_sign_count`]). No cursor depends on a counter.
    pub fn set_sign_count(&mut self, id: &[u8], value: u32) -> Result<(), AdminError> {
        let config = self.config().clone();
        set_sign_count(self.env_mut().store(), &config, id, value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cbor::{self, Fields, MapBuilder};
    use crate::crypto::attestation_ca::AttestationIdentity;
    use crate::crypto::keys::{Algorithm, PrivateKey};
    use crate::crypto::pin_protocol::{encapsulate, PinProtocol};
    use crate::env::TestEnv;
    use crate::status::StatusCode;
    use crate::store::{MemoryStore, User};
    use crate::wire::client_pin::permission;
    use rand_chacha::rand_core::SeedableRng;

    const RP: &str = "example.com";

    fn credential(id: &[u8], user: &[u8], discoverable: bool) -> Credential {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(id[0]));
        Credential {
            id: id.to_vec(),
            rp_id: RP.into(),
            rp_id_hash: sha256(RP.as_bytes()),
            rp_name: None,
            user: User {
                id: user.to_vec(),
                name: None,
                display_name: None,
            },
            key: PrivateKey::generate(Algorithm::Es256, &mut rng),
            discoverable,
            cred_protect: 0,
            cred_blob: None,
            created_order: u64::from(id[0]),
        }
    }

    fn item(id: &[u8], user: &[u8], sign_count: u32) -> StoredCredential {
        StoredCredential {
            credential: credential(id, user, true),
            sign_count,
        }
    }

    fn config(mode: CounterMode) -> DeviceConfig {
        DeviceConfig {
            counter_mode: mode,
            ..DeviceConfig::default()
        }
    }

    fn ids(list: &[StoredCredential]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.credential.id.clone()).collect()
    }

    fn device() -> Authenticator<TestEnv> {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
        let identity = AttestationIdentity::generate(
            &mut rng,
            crate::config::DEFAULT_AAGUID,
            "fidosim",
            "fidosim test batch",
        )
        .unwrap();
        Authenticator::new(DeviceConfig::default(), identity, TestEnv::seeded(7)).unwrap()
    }

    /// authenticatorGetAssertion (0x02) for [`RP`] without an allowList.
    fn get_assertion() -> Vec<u8> {
        let m = MapBuilder::new()
            .int(1, RP)
            .int(2, cbor::bytes(vec![0x42; 32]))
            .build();
        let mut out = vec![0x02];
        out.extend(cbor::encode(&m));
        out
    }

    /// authenticatorGetNextAssertion (0x08): its status byte.
    fn get_next(d: &mut Authenticator<TestEnv>) -> u8 {
        d.handle(&[0x08])[0]
    }

    /// A device with three discoverable credentials and a getAssertion
    /// sequence under way (CTAP 2.1 §6.3).
    fn device_in_sequence() -> Authenticator<TestEnv> {
        let mut d = device();
        d.import_credentials(vec![item(&[1], b"a", 0), item(&[2], b"b", 0)])
            .unwrap();
        d.import_credentials(vec![item(&[3], b"c", 0)]).unwrap();
        assert_eq!(d.handle(&get_assertion())[0], 0);
        d
    }

    /// A pinUvAuthToken with the credential management permission, by
    /// built-in UV (getPinUvAuthTokenUsingUvWithPermissions, CTAP 2.1
    /// §6.5.5.7.3).
    fn cm_token(d: &mut Authenticator<TestEnv>) -> Vec<u8> {
        let protocol = PinProtocol::V2;
        let ka = MapBuilder::new().int(1, protocol.id()).int(2, 2).build();
        let mut resp = Fields::decode(&d.process(0x06, &cbor::encode(&ka)).unwrap()).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(77);
        let (key_agreement, shared) =
            encapsulate(protocol, &resp.take(1).unwrap(), &mut rng).unwrap();
        let req = MapBuilder::new()
            .int(1, protocol.id())
            .int(2, 6)
            .int(3, key_agreement)
            .int(9, permission::CM)
            .build();
        let mut resp = Fields::decode(&d.process(0x06, &cbor::encode(&req)).unwrap()).unwrap();
        let Some(cbor::Value::Bytes(enc)) = resp.take(2) else {
            panic!("no token")
        };
        shared.decrypt(&enc).unwrap().to_vec()
    }

    /// A device with three discoverable credentials and a credential
    /// management enumeration of them under way (CTAP 2.1 §6.8.4).
    fn device_enumerating() -> Authenticator<TestEnv> {
        enumerating(device_in_sequence()).0
    }

    /// The credential ID in a credential management response (0x07).
    fn enumerated_id(resp: &[u8]) -> Vec<u8> {
        let mut m = Fields::decode(resp).unwrap();
        let mut cred = Fields::from_value(m.take(7).unwrap()).unwrap();
        cbor::as_bytes(cred.take_text_key("id").unwrap(), 64).unwrap()
    }

    /// `d` with an enumeration of its three credentials of [`RP`] begun,
    /// and the ID enumerateCredentialsBegin answered.
    fn enumerating(mut d: Authenticator<TestEnv>) -> (Authenticator<TestEnv>, Vec<u8>) {
        let token = cm_token(&mut d);
        let params = MapBuilder::new()
            .int(1, cbor::bytes(sha256(RP.as_bytes()).to_vec()))
            .build();
        // enumerateCredentialsBegin (0x04): pinUvAuthParam over 0x04 ‖ params.
        let mut message = vec![0x04];
        message.extend(cbor::encode(&params));
        let req = MapBuilder::new()
            .int(1, 0x04)
            .int(2, params)
            .int(3, PinProtocol::V2.id())
            .int(
                4,
                cbor::bytes(PinProtocol::V2.authenticate(&token, &message)),
            )
            .build();
        let resp = d.process(0x0A, &cbor::encode(&req)).unwrap();
        let first = enumerated_id(&resp);
        let mut resp = Fields::decode(&resp).unwrap();
        assert_eq!(resp.take(9), Some(cbor::Value::from(3)));
        (d, first)
    }

    /// enumerateCredentialsGetNextCredential (0x05): its status.
    fn next_credential(d: &mut Authenticator<TestEnv>) -> Result<(), StatusCode> {
        let req = MapBuilder::new().int(1, 0x05).build();
        d.process(0x0A, &cbor::encode(&req)).map(|_| ())
    }

    #[test]
    fn counter_scope_follows_the_mode() {
        let id = [7u8; 4];
        assert_eq!(
            counter_scope(&config(CounterMode::Global), &id),
            CounterScope::Global
        );
        for mode in [
            CounterMode::PerCredential,
            CounterMode::AlwaysZero,
            CounterMode::Frozen,
            CounterMode::RandomStep(5),
        ] {
            assert_eq!(
                counter_scope(&config(mode), &id),
                CounterScope::Credential(sha256(&id))
            );
        }
    }

    #[test]
    fn list_and_get_report_the_sign_count() {
        let mut store = MemoryStore::default();
        let per = config(CounterMode::PerCredential);
        import(
            &mut store,
            &per,
            vec![item(&[2], b"b", 9), item(&[1], b"a", 4)],
            &mut |_| {},
        )
        .unwrap();
        let all = list(&store, &per).unwrap();
        assert_eq!(ids(&all), vec![vec![1], vec![2]], "ordered by ID");
        assert_eq!(
            all.iter().map(|s| s.sign_count).collect::<Vec<_>>(),
            vec![4, 9]
        );
        assert_eq!(get(&store, &per, &[2]).unwrap().sign_count, 9);
        // Always zero: every credential reports 0, whatever is stored.
        let zero = config(CounterMode::AlwaysZero);
        assert_eq!(get(&store, &zero, &[2]).unwrap().sign_count, 0);
        assert!(list(&store, &zero)
            .unwrap()
            .iter()
            .all(|s| s.sign_count == 0));
        assert_eq!(
            get(&store, &per, &[3]).unwrap_err(),
            AdminError::NotFound(vec![3])
        );
    }

    #[test]
    fn import_refuses_clashes() {
        let mut store = MemoryStore::default();
        let c = config(CounterMode::PerCredential);
        import(&mut store, &c, vec![item(&[1], b"a", 0)], &mut |_| {}).unwrap();
        assert_eq!(
            import(&mut store, &c, vec![item(&[1], b"z", 0)], &mut |_| {}),
            Err(AdminError::Exists(vec![1]))
        );
        assert_eq!(
            import(&mut store, &c, vec![item(&[2], b"a", 0)], &mut |_| {}),
            Err(AdminError::UserHasCredential {
                rp_id: RP.into(),
                existing: vec![1],
            })
        );
        // A non-discoverable credential may share the user handle.
        let other = StoredCredential {
            credential: credential(&[2], b"a", false),
            sign_count: 0,
        };
        import(&mut store, &c, vec![other], &mut |_| {}).unwrap();
        assert_eq!(
            import(
                &mut store,
                &c,
                vec![
                    item(&[5], b"x", 0),
                    item(&[6], b"y", 0),
                    item(&[5], b"w", 0)
                ],
                &mut |_| {}
            ),
            Err(AdminError::DuplicateInRequest(vec![5]))
        );
        assert!(store.get(&[5]).unwrap().is_none(), "nothing was stored");
    }

    #[test]
    fn import_is_all_or_nothing() {
        let mut store = MemoryStore::default();
        let c = config(CounterMode::PerCredential);
        import(&mut store, &c, vec![item(&[3], b"c", 0)], &mut |_| {}).unwrap();
        // The third clashes: the first two go out again.
        let mut heard = Vec::new();
        assert_eq!(
            import(
                &mut store,
                &c,
                vec![
                    item(&[1], b"a", 0),
                    item(&[2], b"b", 0),
                    item(&[3], b"d", 0)
                ],
                &mut |id| heard.push(id.to_vec()),
            ),
            Err(AdminError::Exists(vec![3]))
        );
        assert_eq!(heard, vec![vec![1], vec![2]]);
        assert_eq!(ids(&list(&store, &c).unwrap()), vec![vec![3]]);
        // A full store rolls back as well.
        let mut small = MemoryStore::with_capacity(1);
        assert_eq!(
            import(
                &mut small,
                &c,
                vec![item(&[1], b"a", 0), item(&[2], b"b", 0)],
                &mut |_| {}
            ),
            Err(AdminError::Store(StoreError::Full))
        );
        assert!(list(&small, &c).unwrap().is_empty());
        // The same request, without the clash, goes through.
        assert_eq!(
            import(
                &mut store,
                &c,
                vec![item(&[1], b"a", 0), item(&[2], b"b", 0)],
                &mut |_| {}
            )
            .unwrap(),
            vec![vec![1], vec![2]]
        );
    }

    #[test]
    fn import_sets_counters() {
        // Per credential: each gets its own.
        let mut store = MemoryStore::default();
        let per = config(CounterMode::PerCredential);
        import(&mut store, &per, vec![item(&[1], b"a", 17)], &mut |_| {}).unwrap();
        assert_eq!(
            store
                .counter(CounterScope::Credential(sha256(&[1])))
                .unwrap(),
            17
        );
        // Global: the device-wide counter only ever moves forward.
        let mut store = MemoryStore::default();
        let global = config(CounterMode::Global);
        store.set_counter(CounterScope::Global, 10).unwrap();
        import(&mut store, &global, vec![item(&[1], b"a", 3)], &mut |_| {}).unwrap();
        assert_eq!(store.counter(CounterScope::Global).unwrap(), 10);
        import(&mut store, &global, vec![item(&[2], b"b", 25)], &mut |_| {}).unwrap();
        assert_eq!(store.counter(CounterScope::Global).unwrap(), 25);
    }

    #[test]
    fn delete_and_clear() {
        let mut store = MemoryStore::default();
        let c = config(CounterMode::PerCredential);
        import(
            &mut store,
            &c,
            vec![
                item(&[1], b"a", 0),
                item(&[2], b"b", 0),
                item(&[3], b"c", 0),
            ],
            &mut |_| {},
        )
        .unwrap();
        delete(&mut store, &[2]).unwrap();
        assert_eq!(delete(&mut store, &[2]), Err(AdminError::NotFound(vec![2])));
        // Newest first.
        assert_eq!(ids(&list(&store, &c).unwrap()), vec![vec![3], vec![1]]);
        assert_eq!(clear(&mut store).unwrap(), 2);
        assert_eq!(clear(&mut store).unwrap(), 0);
        assert!(list(&store, &c).unwrap().is_empty());
        // The master secret stays: this is not a reset.
        store.set_master_secret(&[5; 32]).unwrap();
        import(&mut store, &c, vec![item(&[1], b"a", 0)], &mut |_| {}).unwrap();
        clear(&mut store).unwrap();
        assert!(store.master_secret().unwrap().is_some());
    }

    #[test]
    fn set_sign_count_checks_mode_and_id() {
        let mut store = MemoryStore::default();
        let per = config(CounterMode::PerCredential);
        import(&mut store, &per, vec![item(&[1], b"a", 8)], &mut |_| {}).unwrap();
        // A counter may move back through this control.
        set_sign_count(&mut store, &per, &[1], 2).unwrap();
        assert_eq!(get(&store, &per, &[1]).unwrap().sign_count, 2);
        assert_eq!(
            set_sign_count(&mut store, &per, &[9], 2),
            Err(AdminError::NotFound(vec![9]))
        );
        let global = config(CounterMode::Global);
        set_sign_count(&mut store, &global, &[1], 40).unwrap();
        assert_eq!(store.counter(CounterScope::Global).unwrap(), 40);
        assert_eq!(get(&store, &per, &[1]).unwrap().sign_count, 2);
        let zero = config(CounterMode::AlwaysZero);
        assert_eq!(
            set_sign_count(&mut store, &zero, &[1], 2),
            Err(AdminError::CountersAlwaysZero)
        );
        assert_eq!(
            set_sign_count(&mut store, &zero, &[9], 2),
            Err(AdminError::CountersAlwaysZero),
            "the mode is checked first"
        );
    }

    #[test]
    fn authenticator_methods_use_its_store_and_config() {
        let mut d = device();
        d.import_credentials(vec![item(&[1], b"a", 3), item(&[2], b"b", 5)])
            .unwrap();
        assert_eq!(ids(&d.list_credentials().unwrap()), vec![vec![2], vec![1]]);
        d.set_sign_count(&[2], 11).unwrap();
        assert_eq!(d.credential(&[2]).unwrap().sign_count, 11);
        assert_eq!(
            d.credential(&[4]).unwrap_err(),
            AdminError::NotFound(vec![4])
        );
        d.delete_credential(&[1]).unwrap();
        assert_eq!(
            d.delete_credential(&[1]),
            Err(AdminError::NotFound(vec![1]))
        );
        assert_eq!(d.clear_credentials().unwrap(), 1);
        assert!(d.env().store.all().next().is_none());
        let mut zero = d.config().clone();
        zero.counter_mode = CounterMode::AlwaysZero;
        d.set_config(zero).unwrap();
        d.import_credentials(vec![item(&[1], b"a", 3)]).unwrap();
        assert_eq!(d.credential(&[1]).unwrap().sign_count, 0);
        assert_eq!(
            d.set_sign_count(&[1], 1),
            Err(AdminError::CountersAlwaysZero)
        );
    }

    #[test]
    fn the_get_next_assertion_sequence_survives_no_admin_change() {
        // Without an administrative change the sequence goes on: the tests
        // below fail for the right reason.
        let mut d = device_in_sequence();
        assert_eq!(get_next(&mut d), 0);
        // Reading and setting a counter leave it alone.
        let mut d = device_in_sequence();
        d.list_credentials().unwrap();
        d.credential(&[1]).unwrap();
        d.set_sign_count(&[1], 4).unwrap();
        assert_eq!(get_next(&mut d), 0);
        // So does deleting a credential that is not there.
        let mut d = device_in_sequence();
        assert_eq!(
            d.delete_credential(&[9]),
            Err(AdminError::NotFound(vec![9]))
        );
        assert_eq!(get_next(&mut d), 0);
    }

    #[test]
    fn admin_changes_end_the_get_next_assertion_sequence() {
        let not_allowed = StatusCode::NotAllowed as u8;
        let mut d = device_in_sequence();
        d.delete_credential(&[2]).unwrap();
        assert_eq!(get_next(&mut d), not_allowed, "after a delete");
        let mut d = device_in_sequence();
        d.clear_credentials().unwrap();
        assert_eq!(get_next(&mut d), not_allowed, "after a clear");
        let mut d = device_in_sequence();
        d.import_credentials(vec![item(&[4], b"d", 0)]).unwrap();
        assert_eq!(get_next(&mut d), not_allowed, "after an import");
    }

    #[test]
    fn imports_list_assert_and_enumerate_in_creation_order() {
        // Made (imported) in the order 9, 1, 5: neither the IDs' order nor
        // the created_order the items carried.
        let mut d = device();
        let mut late = item(&[9], b"a", 0);
        late.credential.created_order = 1000;
        d.import_credentials(vec![late]).unwrap();
        d.import_credentials(vec![item(&[1], b"b", 0), item(&[5], b"c", 0)])
            .unwrap();
        let newest_first = vec![vec![5], vec![1], vec![9]];
        assert_eq!(ids(&d.list_credentials().unwrap()), newest_first);
        // getAssertion: newest first (CTAP 2.1 §6.2.2 step 12.2.1).
        let mut asserted = Vec::new();
        let mut resp = d.handle(&get_assertion());
        while resp[0] == 0 {
            let mut m = Fields::decode(&resp[1..]).unwrap();
            let mut cred = Fields::from_value(m.take(1).unwrap()).unwrap();
            asserted.push(cbor::as_bytes(cred.take_text_key("id").unwrap(), 64).unwrap());
            resp = d.handle(&[0x08]);
        }
        assert_eq!(asserted, newest_first);
        // Credential management: oldest first.
        let (mut d, first) = enumerating(d);
        let mut enumerated = vec![first];
        for _ in 0..2 {
            let req = MapBuilder::new().int(1, 0x05).build();
            enumerated.push(enumerated_id(
                &d.process(0x0A, &cbor::encode(&req)).unwrap(),
            ));
        }
        assert_eq!(enumerated, vec![vec![9], vec![1], vec![5]]);
    }

    #[test]
    fn admin_changes_end_a_credential_management_enumeration() {
        let mut d = device_enumerating();
        assert_eq!(next_credential(&mut d), Ok(()), "the enumeration goes on");
        d.list_credentials().unwrap();
        d.set_sign_count(&[1], 4).unwrap();
        assert_eq!(next_credential(&mut d), Ok(()), "reading changes nothing");
        let mut d = device_enumerating();
        d.delete_credential(&[2]).unwrap();
        assert_eq!(next_credential(&mut d), Err(StatusCode::NotAllowed));
        let mut d = device_enumerating();
        d.clear_credentials().unwrap();
        assert_eq!(next_credential(&mut d), Err(StatusCode::NotAllowed));
        let mut d = device_enumerating();
        d.import_credentials(vec![item(&[4], b"d", 0)]).unwrap();
        assert_eq!(next_credential(&mut d), Err(StatusCode::NotAllowed));
    }
}
