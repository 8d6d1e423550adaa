//! Credential storage: a semantic trait and an in-memory implementation.
//!
//! The trait is shaped for a store that commits before the authenticator
//! answers: every mutating call is one atomic operation, and the
//! authenticator sends a response only after that call returned `Ok`. In
//! particular [`CredentialStore::next_counter`] both advances and commits a
//! signature counter, and only the value it returns is ever signed.

use std::collections::{BTreeMap, HashMap};

use zeroize::Zeroizing;

use crate::crypto::keys::PrivateKey;
use crate::limits::DEFAULT_MAX_DISCOVERABLE;
use crate::status::StatusCode;

/// A user account (WebAuthn `PublicKeyCredentialUserEntity`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// The user handle (at most 64 bytes).
    pub id: Vec<u8>,
    /// `name`, truncated to 64 bytes.
    pub name: Option<String>,
    /// `displayName`, truncated to 64 bytes.
    pub display_name: Option<String>,
}

/// A credential kept in the store.
///
/// Discoverable credentials always live here; non-discoverable credentials
/// normally live only in their sealed credential ID, but a store may also
/// hold imported ones with arbitrary IDs.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The credential ID.
    pub id: Vec<u8>,
    /// The RP ID.
    pub rp_id: String,
    /// SHA-256 of the RP ID.
    pub rp_id_hash: [u8; 32],
    /// The RP's name, truncated to 64 bytes.
    pub rp_name: Option<String>,
    /// The user account.
    pub user: User,
    /// The private key.
    pub key: PrivateKey,
    /// Whether the credential is discoverable (a resident key).
    pub discoverable: bool,
    /// credProtect level (0 = not set).
    pub cred_protect: u8,
    /// The credBlob stored with a discoverable credential (CTAP 2.1 §12.2).
    pub cred_blob: Option<Vec<u8>>,
    /// Its place in the order of creation, larger = newer (CTAP 2.1 §6.2.2
    /// step 12.2.1 offers newer credentials first). The store assigns it
    /// when it saves a credential ([`CredentialStore::save`]) and keeps it
    /// across restarts; whatever the caller put here is replaced.
    pub created_order: u64,
}

/// Device-wide state that must survive a restart: the PIN, its retry
/// counters and the settings authenticatorConfig changes. authenticatorReset
/// returns it to [`DeviceState::default`] (with the configured `alwaysUv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceState {
    /// LEFT(SHA-256(PIN), 16) of the current PIN (CTAP 2.1 §6.5.5.5).
    pub pin_hash: Option<[u8; 16]>,
    /// The PIN's length in Unicode code points (for forcePINChange checks).
    pub pin_code_points: u8,
    /// pinRetries (CTAP 2.1 §6.5.2.2): 8 after setPIN, 0 = blocked.
    pub pin_retries: u8,
    /// uvRetries for the built-in UV method.
    pub uv_retries: u8,
    /// The current minimum PIN length (CTAP 2.1 §6.11.4, at least 4).
    pub min_pin_length: u8,
    /// RP IDs that may read minPinLength (CTAP 2.1 §12.4).
    pub min_pin_length_rp_ids: Vec<String>,
    /// forcePINChange (CTAP 2.1 §6.4, getInfo 0x0C).
    pub force_pin_change: bool,
    /// alwaysUv (CTAP 2.1 §6.11.2).
    pub always_uv: bool,
    /// Whether enterprise attestation was enabled (CTAP 2.1 §6.11.1).
    pub enterprise_attestation: bool,
    /// The enrolled fingerprints of the virtual sensor (CTAP 2.1 §6.7),
    /// in enrollment order.
    pub fingerprints: Vec<Fingerprint>,
    /// Built-in UV operations, failed ones included, since the PIN was
    /// last entered (getInfo uvCountSinceLastPinEntry, CTAP 2.2); counted
    /// while a PIN is set.
    pub uv_count_since_pin: u32,
}

/// An enrolled fingerprint template (CTAP 2.1 §6.7): its templateId and
/// templateFriendlyName (empty when none was given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// templateId.
    pub id: Vec<u8>,
    /// templateFriendlyName.
    pub name: String,
}

/// The retry counters' starting values.
pub const MAX_PIN_RETRIES: u8 = 8;

impl Default for DeviceState {
    fn default() -> Self {
        Self {
            pin_hash: None,
            pin_code_points: 0,
            pin_retries: MAX_PIN_RETRIES,
            uv_retries: crate::limits::DEFAULT_UV_RETRIES,
            min_pin_length: crate::limits::DEFAULT_MIN_PIN_LENGTH,
            min_pin_length_rp_ids: Vec::new(),
            force_pin_change: false,
            always_uv: false,
            enterprise_attestation: false,
            fingerprints: Vec::new(),
            uv_count_since_pin: 0,
        }
    }
}

/// Which counter a signature uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CounterScope {
    /// The device-wide counter.
    Global,
    /// The counter of one credential, keyed by SHA-256 of its ID.
    Credential([u8; 32]),
}

/// What can go wrong in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// No room for another discoverable credential.
    Full,
    /// The backend failed (I/O, a lost lock); nothing was changed.
    Backend,
    /// The stored data is damaged.
    Corrupt,
}

impl From<StoreError> for StatusCode {
    fn from(e: StoreError) -> Self {
        match e {
            // CTAP 2.1 §6.1.2 step 17: no space for a discoverable credential.
            StoreError::Full => StatusCode::KeyStoreFull,
            StoreError::Backend | StoreError::Corrupt => StatusCode::Other,
        }
    }
}

/// Where credentials, counters and the device master secret live.
pub trait CredentialStore {
    /// The master secret that seals credential IDs, once one was set.
    fn master_secret(&self) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError>;
    /// Sets the master secret (first start).
    fn set_master_secret(&mut self, secret: &[u8; 32]) -> Result<(), StoreError>;
    /// Every discoverable credential of one RP, in any order.
    fn discoverable(&self, rp_id_hash: &[u8; 32]) -> Result<Vec<Credential>, StoreError>;
    /// The discoverable credential of one RP for one user handle, if any
    /// (the one a new discoverable credential replaces, CTAP 2.1 §6.1.2
    /// step 17). The default looks through [`Self::discoverable`]; stores
    /// with an index answer without copying the RP's other credentials.
    fn discoverable_for_user(
        &self,
        rp_id_hash: &[u8; 32],
        user_id: &[u8],
    ) -> Result<Option<Credential>, StoreError> {
        Ok(self
            .discoverable(rp_id_hash)?
            .into_iter()
            .find(|c| c.user.id == user_id))
    }
    /// The stored credential with this ID, if any.
    fn get(&self, id: &[u8]) -> Result<Option<Credential>, StoreError>;
    /// Stores `credential`, in the same atomic operation deleting the
    /// credential `replacing` (the older discoverable credential of the same
    /// RP and user handle, CTAP 2.1 §6.1.2 step 17) and setting the new
    /// credential's counter to `initial_counter`. The credential becomes the
    /// newest: the store gives it a `created_order` above every other one
    /// it has handed out, a number that never repeats while the store lives
    /// (a durable store: across restarts too).
    fn save(
        &mut self,
        credential: Credential,
        replacing: Option<&[u8]>,
        initial_counter: u32,
    ) -> Result<(), StoreError>;
    /// Deletes a credential and its counter; whether it existed.
    fn delete(&mut self, id: &[u8]) -> Result<bool, StoreError>;
    /// How many discoverable credentials are stored.
    fn count_discoverable(&self) -> Result<usize, StoreError>;
    /// How many more discoverable credentials fit.
    fn remaining_discoverable(&self) -> Result<usize, StoreError>;
    /// Advances the counter `scope` by `step` (saturating at `u32::MAX`),
    /// commits it, and returns the new value. A missing counter starts at 0.
    fn next_counter(&mut self, scope: CounterScope, step: u32) -> Result<u32, StoreError>;
    /// The current value of a counter (0 when missing).
    fn counter(&self, scope: CounterScope) -> Result<u32, StoreError>;
    /// Deletes every credential and counter and installs a new master
    /// secret, atomically (authenticatorReset). The device state and the
    /// large-blob array are reset too (to their defaults and the initial
    /// empty array).
    fn reset(&mut self, new_master: &[u8; 32]) -> Result<(), StoreError>;
    /// The device state (the defaults before anything was stored).
    fn device_state(&self) -> Result<DeviceState, StoreError>;
    /// Replaces the device state, atomically.
    fn set_device_state(&mut self, state: &DeviceState) -> Result<(), StoreError>;
    /// The serialized large-blob array (CTAP 2.1 §6.10), including its
    /// trailing hash; `None` until something was written (the device then
    /// serves the initial empty array).
    fn large_blob_array(&self) -> Result<Option<Vec<u8>>, StoreError>;
    /// Replaces the serialized large-blob array, atomically.
    fn set_large_blob_array(&mut self, array: &[u8]) -> Result<(), StoreError>;
    /// Replaces a stored credential's user fields (updateUserInformation,
    /// CTAP 2.1 §6.8.6); whether the credential existed.
    fn update_user(&mut self, id: &[u8], user: &User) -> Result<bool, StoreError>;
    /// Every stored discoverable credential, in any order (credential
    /// management enumerates them).
    fn all_discoverable(&self) -> Result<Vec<Credential>, StoreError>;
    /// Every stored credential, discoverable or imported, ordered by ID.
    fn all_stored(&self) -> Result<Vec<Credential>, StoreError>;
    /// Sets a counter to `value`, committed (a test control: this may move
    /// a counter back, which the authenticator itself never does).
    fn set_counter(&mut self, scope: CounterScope, value: u32) -> Result<(), StoreError>;
}

/// A boxed store is a store, so that a daemon can choose its backend at run
/// time (in memory or on disk).
impl<S: CredentialStore + ?Sized> CredentialStore for Box<S> {
    fn master_secret(&self) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError> {
        (**self).master_secret()
    }
    fn set_master_secret(&mut self, secret: &[u8; 32]) -> Result<(), StoreError> {
        (**self).set_master_secret(secret)
    }
    fn discoverable(&self, rp_id_hash: &[u8; 32]) -> Result<Vec<Credential>, StoreError> {
        (**self).discoverable(rp_id_hash)
    }
    fn discoverable_for_user(
        &self,
        rp_id_hash: &[u8; 32],
        user_id: &[u8],
    ) -> Result<Option<Credential>, StoreError> {
        (**self).discoverable_for_user(rp_id_hash, user_id)
    }
    fn get(&self, id: &[u8]) -> Result<Option<Credential>, StoreError> {
        (**self).get(id)
    }
    fn save(
        &mut self,
        credential: Credential,
        replacing: Option<&[u8]>,
        initial_counter: u32,
    ) -> Result<(), StoreError> {
        (**self).save(credential, replacing, initial_counter)
    }
    fn delete(&mut self, id: &[u8]) -> Result<bool, StoreError> {
        (**self).delete(id)
    }
    fn count_discoverable(&self) -> Result<usize, StoreError> {
        (**self).count_discoverable()
    }
    fn remaining_discoverable(&self) -> Result<usize, StoreError> {
        (**self).remaining_discoverable()
    }
    fn next_counter(&mut self, scope: CounterScope, step: u32) -> Result<u32, StoreError> {
        (**self).next_counter(scope, step)
    }
    fn counter(&self, scope: CounterScope) -> Result<u32, StoreError> {
        (**self).counter(scope)
    }
    fn reset(&mut self, new_master: &[u8; 32]) -> Result<(), StoreError> {
        (**self).reset(new_master)
    }
    fn device_state(&self) -> Result<DeviceState, StoreError> {
        (**self).device_state()
    }
    fn set_device_state(&mut self, state: &DeviceState) -> Result<(), StoreError> {
        (**self).set_device_state(state)
    }
    fn large_blob_array(&self) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).large_blob_array()
    }
    fn set_large_blob_array(&mut self, array: &[u8]) -> Result<(), StoreError> {
        (**self).set_large_blob_array(array)
    }
    fn update_user(&mut self, id: &[u8], user: &User) -> Result<bool, StoreError> {
        (**self).update_user(id, user)
    }
    fn all_discoverable(&self) -> Result<Vec<Credential>, StoreError> {
        (**self).all_discoverable()
    }
    fn all_stored(&self) -> Result<Vec<Credential>, StoreError> {
        (**self).all_stored()
    }
    fn set_counter(&mut self, scope: CounterScope, value: u32) -> Result<(), StoreError> {
        (**self).set_counter(scope, value)
    }
}

/// The in-memory store.
#[derive(Debug)]
pub struct MemoryStore {
    master: Option<Zeroizing<[u8; 32]>>,
    credentials: BTreeMap<Vec<u8>, Credential>,
    by_rp: HashMap<[u8; 32], Vec<Vec<u8>>>,
    /// The discoverable credential of each (RP ID hash, user handle).
    by_user: HashMap<([u8; 32], Vec<u8>), Vec<u8>>,
    counters: HashMap<CounterScope, u32>,
    capacity: usize,
    /// How many stored credentials are discoverable.
    discoverable_count: usize,
    state: DeviceState,
    large_blob: Option<Vec<u8>>,
    /// The `created_order` the next saved credential gets.
    next_order: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MAX_DISCOVERABLE)
    }
}

impl MemoryStore {
    /// A store with room for `capacity` discoverable credentials.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            master: None,
            credentials: BTreeMap::new(),
            by_rp: HashMap::new(),
            by_user: HashMap::new(),
            counters: HashMap::new(),
            capacity,
            discoverable_count: 0,
            state: DeviceState::default(),
            large_blob: None,
            next_order: 1,
        }
    }

    /// The `created_order` the next saved credential gets.
    pub fn next_creation_order(&self) -> u64 {
        self.next_order
    }

    /// Makes the next saved credential's `created_order` at least `next`
    /// (a durable store continuing its sequence after a restart).
    pub fn raise_next_creation_order(&mut self, next: u64) {
        self.next_order = self.next_order.max(next);
    }

    /// Stores `credential` like [`CredentialStore::save`], but keeps its
    /// `created_order` (a durable store loading its file, or assigning the
    /// order itself); later credentials are ordered after it.
    pub fn save_ordered(
        &mut self,
        credential: Credential,
        replacing: Option<&[u8]>,
        initial_counter: u32,
    ) -> Result<(), StoreError> {
        let order = credential.created_order;
        self.insert(credential, replacing, initial_counter)?;
        self.next_order = self.next_order.max(order.saturating_add(1));
        Ok(())
    }

    fn insert(
        &mut self,
        credential: Credential,
        replacing: Option<&[u8]>,
        initial_counter: u32,
    ) -> Result<(), StoreError> {
        let frees = replacing.is_some_and(|id| self.credentials.contains_key(id))
            || self.credentials.contains_key(&credential.id);
        if credential.discoverable && !frees && self.remaining_discoverable()? == 0 {
            return Err(StoreError::Full);
        }
        if let Some(old) = replacing {
            self.unlink(old);
        }
        self.unlink(&credential.id);
        let id = credential.id.clone();
        self.by_rp
            .entry(credential.rp_id_hash)
            .or_default()
            .push(id.clone());
        self.counters.insert(
            CounterScope::Credential(crate::crypto::sha256(&id)),
            initial_counter,
        );
        if credential.discoverable {
            self.discoverable_count += 1;
            self.by_user.insert(
                (credential.rp_id_hash, credential.user.id.clone()),
                id.clone(),
            );
        }
        self.credentials.insert(id, credential);
        Ok(())
    }

    /// Every stored credential, ordered by ID.
    pub fn all(&self) -> impl Iterator<Item = &Credential> {
        self.credentials.values()
    }

    fn unindex_user(&mut self, cred: &Credential) {
        let key = (cred.rp_id_hash, cred.user.id.clone());
        if self.by_user.get(&key).is_some_and(|i| *i == cred.id) {
            self.by_user.remove(&key);
        }
    }

    fn unlink(&mut self, id: &[u8]) -> Option<Credential> {
        let cred = self.credentials.remove(id)?;
        if cred.discoverable {
            self.discoverable_count -= 1;
            self.unindex_user(&cred);
        }
        if let Some(ids) = self.by_rp.get_mut(&cred.rp_id_hash) {
            ids.retain(|i| i != id);
            if ids.is_empty() {
                self.by_rp.remove(&cred.rp_id_hash);
            }
        }
        self.counters
            .remove(&CounterScope::Credential(crate::crypto::sha256(id)));
        Some(cred)
    }
}

impl CredentialStore for MemoryStore {
    fn master_secret(&self) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError> {
        Ok(self.master.clone())
    }

    fn set_master_secret(&mut self, secret: &[u8; 32]) -> Result<(), StoreError> {
        self.master = Some(Zeroizing::new(*secret));
        Ok(())
    }

    fn discoverable(&self, rp_id_hash: &[u8; 32]) -> Result<Vec<Credential>, StoreError> {
        Ok(self
            .by_rp
            .get(rp_id_hash)
            .into_iter()
            .flatten()
            .filter_map(|id| self.credentials.get(id))
            .filter(|c| c.discoverable)
            .cloned()
            .collect())
    }

    fn discoverable_for_user(
        &self,
        rp_id_hash: &[u8; 32],
        user_id: &[u8],
    ) -> Result<Option<Credential>, StoreError> {
        Ok(self
            .by_user
            .get(&(*rp_id_hash, user_id.to_vec()))
            .and_then(|id| self.credentials.get(id))
            .cloned())
    }

    fn get(&self, id: &[u8]) -> Result<Option<Credential>, StoreError> {
        Ok(self.credentials.get(id).cloned())
    }

    fn save(
        &mut self,
        mut credential: Credential,
        replacing: Option<&[u8]>,
        initial_counter: u32,
    ) -> Result<(), StoreError> {
        credential.created_order = self.next_order;
        self.save_ordered(credential, replacing, initial_counter)
    }

    fn delete(&mut self, id: &[u8]) -> Result<bool, StoreError> {
        Ok(self.unlink(id).is_some())
    }

    fn count_discoverable(&self) -> Result<usize, StoreError> {
        Ok(self.discoverable_count)
    }

    fn remaining_discoverable(&self) -> Result<usize, StoreError> {
        Ok(self.capacity.saturating_sub(self.count_discoverable()?))
    }

    fn next_counter(&mut self, scope: CounterScope, step: u32) -> Result<u32, StoreError> {
        let c = self.counters.entry(scope).or_insert(0);
        *c = c.saturating_add(step);
        Ok(*c)
    }

    fn counter(&self, scope: CounterScope) -> Result<u32, StoreError> {
        Ok(self.counters.get(&scope).copied().unwrap_or(0))
    }

    fn reset(&mut self, new_master: &[u8; 32]) -> Result<(), StoreError> {
        self.credentials.clear();
        self.by_rp.clear();
        self.by_user.clear();
        self.counters.clear();
        self.discoverable_count = 0;
        self.master = Some(Zeroizing::new(*new_master));
        self.state = DeviceState::default();
        self.large_blob = None;
        Ok(())
    }

    fn device_state(&self) -> Result<DeviceState, StoreError> {
        Ok(self.state.clone())
    }

    fn set_device_state(&mut self, state: &DeviceState) -> Result<(), StoreError> {
        self.state = state.clone();
        Ok(())
    }

    fn large_blob_array(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.large_blob.clone())
    }

    fn set_large_blob_array(&mut self, array: &[u8]) -> Result<(), StoreError> {
        self.large_blob = Some(array.to_vec());
        Ok(())
    }

    fn update_user(&mut self, id: &[u8], user: &User) -> Result<bool, StoreError> {
        let Some(old) = self.credentials.get(id).cloned() else {
            return Ok(false);
        };
        if old.discoverable {
            self.unindex_user(&old);
            self.by_user
                .insert((old.rp_id_hash, user.id.clone()), id.to_vec());
        }
        if let Some(c) = self.credentials.get_mut(id) {
            c.user = user.clone();
        }
        Ok(true)
    }

    fn all_discoverable(&self) -> Result<Vec<Credential>, StoreError> {
        Ok(self
            .credentials
            .values()
            .filter(|c| c.discoverable)
            .cloned()
            .collect())
    }

    fn all_stored(&self) -> Result<Vec<Credential>, StoreError> {
        Ok(self.credentials.values().cloned().collect())
    }

    fn set_counter(&mut self, scope: CounterScope, value: u32) -> Result<(), StoreError> {
        self.counters.insert(scope, value);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::keys::{Algorithm, PrivateKey};
    use rand_chacha::rand_core::SeedableRng;

    fn cred(id: u8, rp: &str, user: u8, discoverable: bool) -> Credential {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(id));
        Credential {
            id: vec![id; 16],
            rp_id: rp.into(),
            rp_id_hash: crate::crypto::sha256(rp.as_bytes()),
            rp_name: None,
            user: User {
                id: vec![user],
                ..User::default()
            },
            key: PrivateKey::generate(Algorithm::Es256, &mut rng),
            discoverable,
            cred_protect: 0,
            cred_blob: None,
            created_order: u64::from(id),
        }
    }

    #[test]
    fn the_user_index_follows_every_change() {
        let mut s = MemoryStore::default();
        let a = crate::crypto::sha256(b"a.com");
        let b = crate::crypto::sha256(b"b.com");
        let id_of = |s: &MemoryStore, rp: &[u8; 32], user: u8| {
            let indexed = s.discoverable_for_user(rp, &[user]).unwrap().map(|c| c.id);
            // The index agrees with a search of the RP's credentials.
            let searched = s
                .discoverable(rp)
                .unwrap()
                .into_iter()
                .find(|c| c.user.id == [user])
                .map(|c| c.id);
            assert_eq!(indexed, searched);
            indexed
        };
        s.save(cred(1, "a.com", 1, true), None, 0).unwrap();
        s.save(cred(2, "a.com", 2, true), None, 0).unwrap();
        s.save(cred(3, "b.com", 1, true), None, 0).unwrap();
        s.save(cred(4, "a.com", 3, false), None, 0).unwrap();
        assert_eq!(id_of(&s, &a, 1), Some(vec![1; 16]));
        assert_eq!(id_of(&s, &b, 1), Some(vec![3; 16]));
        assert_eq!(id_of(&s, &a, 3), None, "not discoverable");
        // A new credential for the same RP and user replaces the old one.
        s.save(cred(5, "a.com", 1, true), Some(&[1; 16]), 0)
            .unwrap();
        assert_eq!(id_of(&s, &a, 1), Some(vec![5; 16]));
        assert!(s.delete(&[5; 16]).unwrap());
        assert_eq!(id_of(&s, &a, 1), None);
        // A changed user handle moves the entry.
        let user = User {
            id: vec![9],
            ..User::default()
        };
        assert!(s.update_user(&[2; 16], &user).unwrap());
        assert_eq!(id_of(&s, &a, 2), None);
        assert_eq!(id_of(&s, &a, 9), Some(vec![2; 16]));
        s.reset(&[0; 32]).unwrap();
        assert_eq!(id_of(&s, &b, 1), None);
    }

    #[test]
    fn counts_replacement_and_capacity() {
        let mut s = MemoryStore::with_capacity(2);
        s.save(cred(1, "a.com", 1, true), None, 0).unwrap();
        s.save(cred(2, "a.com", 2, true), None, 0).unwrap();
        assert_eq!(s.remaining_discoverable().unwrap(), 0);
        assert_eq!(
            s.save(cred(3, "b.com", 1, true), None, 0),
            Err(StoreError::Full)
        );
        // Replacing frees the room it needs; non-discoverable needs none.
        s.save(cred(3, "a.com", 1, true), Some(&[1; 16]), 5)
            .unwrap();
        s.save(cred(4, "a.com", 9, false), None, 0).unwrap();
        assert_eq!(s.count_discoverable().unwrap(), 2);
        assert!(s.get(&[1; 16]).unwrap().is_none());
        let rp = crate::crypto::sha256(b"a.com");
        let mut ids: Vec<_> = s
            .discoverable(&rp)
            .unwrap()
            .into_iter()
            .map(|c| c.id[0])
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![2, 3]);
        assert_eq!(
            s.counter(CounterScope::Credential(crate::crypto::sha256(&[3; 16])))
                .unwrap(),
            5
        );
        assert!(s.delete(&[3; 16]).unwrap());
        assert!(!s.delete(&[3; 16]).unwrap());
        assert_eq!(
            s.counter(CounterScope::Credential(crate::crypto::sha256(&[3; 16])))
                .unwrap(),
            0,
            "a deleted credential's counter goes with it"
        );
        assert_eq!(s.count_discoverable().unwrap(), 1);
        s.reset(&[9; 32]).unwrap();
        assert_eq!(s.count_discoverable().unwrap(), 0);
        assert_eq!(s.all().count(), 0);
        assert_eq!(*s.master_secret().unwrap().unwrap(), [9; 32]);
    }

    #[test]
    fn counters_saturate() {
        let mut s = MemoryStore::default();
        assert_eq!(s.next_counter(CounterScope::Global, 1).unwrap(), 1);
        assert_eq!(
            s.next_counter(CounterScope::Global, u32::MAX).unwrap(),
            u32::MAX
        );
        assert_eq!(s.next_counter(CounterScope::Global, 1).unwrap(), u32::MAX);
    }
}
