//! What the model keeps: the credentials the device made, the PIN/UV
//! state (CTAP 2.1 §6.5), the authenticatorConfig settings (§6.11), the
//! large-blob array (§6.10) and the credential management cursors (§6.8),
//! with the helpers every command module uses and the check that the
//! store agrees with the model after each message.

use std::collections::HashMap;

use crate::{authenticator, field, fixture};
use authenticator_core::cbor::Value;
use authenticator_core::config::{AttestationMode, BackupFlags, CounterMode, ResetPolicy};
use authenticator_core::crypto::keys::{Algorithm, PublicKey};
use authenticator_core::crypto::pin_protocol::{PinProtocol, SharedSecret};
use authenticator_core::crypto::sha256;
use authenticator_core::env::{PresencePolicy, TestEnv, UvPolicy};
use authenticator_core::limits;
use authenticator_core::status::StatusCode as S;
use authenticator_core::store::{CredentialStore, MemoryStore, User, MAX_PIN_RETRIES};
use authenticator_core::{Authenticator, DeviceConfig};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::stateful::input::{Pick, Setup};

pub(crate) const RPS: [&str; 3] = ["example.com", "a.example", "b.example"];
pub(crate) const FLAG_UP: u8 = 0x01;
pub(crate) const FLAG_UV: u8 = 0x04;
pub(crate) const FLAG_BE_BS: u8 = 0x18;
pub(crate) const FLAG_ED: u8 = 0x80;

/// The PIN of a device configured with one.
pub(crate) const INITIAL_PIN: &[u8] = b"1234";
/// PINs the operations pick from: valid ones (4 ASCII characters, 4
/// two-byte characters, 8 digits, 4 four-byte characters) and ones that
/// break the §6.5.1 policy (3 characters, 64 bytes, empty, not UTF-8).
pub(crate) const PINS: [&[u8]; 8] = [
    b"1234",
    "\u{e4}\u{e4}\u{e4}\u{e4}".as_bytes(),
    b"12345678",
    "\u{1F600}\u{1F600}\u{1F600}\u{1F600}".as_bytes(),
    b"123",
    &[b'x'; 64],
    b"",
    &[0xff, 0xfe, 0xfd, 0xfc],
];

/// One credential the device made.
pub(crate) struct Cred {
    pub(crate) public: PublicKey,
    pub(crate) rp_id: String,
    /// The rp.name it was made with (credential management lists it).
    pub(crate) rp_name: Option<String>,
    pub(crate) user: User,
    pub(crate) discoverable: bool,
    /// False once reset, replaced or deleted.
    pub(crate) alive: bool,
    pub(crate) last_counter: Option<u32>,
    /// credProtect level (0: none), CTAP 2.1 §12.1.
    pub(crate) cred_protect: u8,
    /// The credBlob stored with it (discoverable credentials only, §12.2).
    pub(crate) cred_blob: Option<Vec<u8>>,
    /// Its largeBlobKey, once one was seen (§12.3).
    pub(crate) large_blob_key: Option<Vec<u8>>,
    /// Creation order (§6.2.2 step 12.2.1 lists the newest first).
    pub(crate) created: u64,
}

/// The pinUvAuthToken in use (CTAP 2.1 §6.5.2.1).
#[derive(Clone)]
pub(crate) struct Token {
    /// The token; `None` when it was issued under a shared secret the
    /// harness does not know (a UV token for a foreign platform key).
    pub(crate) bytes: Option<Vec<u8>>,
    pub(crate) protocol: PinProtocol,
    pub(crate) permissions: u64,
    pub(crate) rp_id: Option<String>,
    pub(crate) issued_ms: u64,
    pub(crate) used: bool,
    pub(crate) user_present: bool,
    pub(crate) user_verified: bool,
}

/// A platform key-agreement key the harness made (§6.5.4 encapsulate).
pub(crate) struct PlatformKey {
    pub(crate) cose: Value,
    pub(crate) protocol: PinProtocol,
    /// The model's key-agreement epoch it was made in.
    pub(crate) epoch: u64,
    /// Shared with the process-wide cache of [`crate::stateful::pin`].
    pub(crate) shared: std::rc::Rc<SharedSecret>,
}

/// What the device does with a platform COSE key (§6.5.4 decapsulate).
#[derive(Clone, Copy)]
pub(crate) enum Peer {
    /// One of ours, made against the device's current key: the shared
    /// secret is `platform[i].shared`.
    Ours(usize),
    /// A P-256 point whose shared secret the harness does not know.
    Foreign,
    /// Not a P-256 point: CTAP1_ERR_INVALID_PARAMETER.
    Invalid,
}

/// What a successful assertion must look like, beyond the credential.
#[derive(Clone)]
pub(crate) struct AssertionPlan {
    pub(crate) rp_id: String,
    pub(crate) client_data_hash: Vec<u8>,
    pub(crate) flags: u8,
    /// Whether user name and displayName are included (§6.2.2 step 12.3:
    /// several accounts, after UV).
    pub(crate) identifying: bool,
    pub(crate) cred_blob: bool,
    pub(crate) large_blob_key: bool,
    /// Verified hmac-secret salts (§12.5); `None` without the extension.
    pub(crate) hmac: Option<(usize, Vec<u8>)>,
}

/// An open getAssertion sequence (§6.3).
pub(crate) struct Sequence {
    pub(crate) plan: AssertionPlan,
    /// IDs still to come, in order.
    pub(crate) pending: Vec<Vec<u8>>,
    pub(crate) last_ms: u64,
}

pub(crate) struct Harness {
    pub(crate) auth: Authenticator<TestEnv>,
    pub(crate) config: DeviceConfig,
    pub(crate) capacity: usize,
    pub(crate) creds: HashMap<Vec<u8>, Cred>,
    /// Every credential ID seen, in order, for `Pick::Known`.
    pub(crate) ids: Vec<Vec<u8>>,
    pub(crate) next_created: u64,
    pub(crate) now: u64,
    pub(crate) power_up: u64,
    pub(crate) sequence: Option<Sequence>,
    /// The last signature counter seen (for the global counter mode).
    pub(crate) global_last: Option<u32>,

    // PIN/UV state (CTAP 2.1 §6.5).
    /// The PIN set, if any (§6.5.5.5).
    pub(crate) pin: Option<Vec<u8>>,
    /// pinRetries (§6.5.2.2).
    pub(crate) pin_retries: u8,
    /// Consecutive PIN mismatches in this power cycle (§6.5.5.7.2).
    pub(crate) mismatches: u8,
    /// uvRetries (§6.5.2.3).
    pub(crate) uv_retries: u8,
    /// alwaysUv (§6.11.2).
    pub(crate) always_uv: bool,
    pub(crate) token: Option<Token>,
    /// Bumped whenever the device's key-agreement keys change: power-up,
    /// reset and a PIN mismatch (§6.5.4 initialize, regenerate).
    pub(crate) epoch: u64,
    /// The key getKeyAgreement returned in this epoch, per protocol.
    pub(crate) agreement: [Option<Value>; 2],
    /// Keys of earlier epochs (a new epoch must bring new keys).
    pub(crate) old_agreements: Vec<Value>,
    pub(crate) platform: Vec<PlatformKey>,
    pub(crate) rng: ChaCha20Rng,
    /// How many platform keys this execution has taken from the pool.
    pub(crate) pool_next: usize,
    /// hmac-secret outputs seen: (credential, UV, salt) → HMAC (§12.5: one
    /// CredRandom per credential and UV state).
    pub(crate) hmac_outputs: HashMap<(Vec<u8>, bool, Vec<u8>), Vec<u8>>,

    // authenticatorConfig state (§6.11).
    /// minPINLength (§6.11.4; 4 on a fresh device, §6.5.1).
    pub(crate) min_pin_length: u8,
    /// minPinLengthRPIDs: the RP IDs that may read minPinLength (§12.4).
    pub(crate) min_pin_rp_ids: Vec<String>,
    /// forcePINChange (§6.4 member 0x0C).
    pub(crate) force_pin_change: bool,
    /// Whether the device has an enterprise attestation identity.
    pub(crate) enterprise_supported: bool,
    /// Whether enableEnterpriseAttestation ran (§6.11.1).
    pub(crate) enterprise_enabled: bool,

    // authenticatorLargeBlobs state (§6.10).
    /// The committed serialized large-blob array.
    pub(crate) large_blob: Vec<u8>,
    /// The write in progress: expectedLength, and the pending bytes (whose
    /// length is expectedNextOffset), §6.10.2 step 5.
    pub(crate) lb_write: Option<(usize, Vec<u8>)>,

    // Credential management enumeration cursors (§6.8.3, §6.8.4): what is
    // left to list.
    pub(crate) cm_rps: Vec<RpSnap>,
    pub(crate) cm_creds: Vec<CredSnap>,
}

/// An RP as enumerateRPs must report it (§6.8.3).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RpSnap {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
}

/// A discoverable credential as enumerateCredentials must report it
/// (§6.8.4), taken when the enumeration began.
#[derive(Clone)]
pub(crate) struct CredSnap {
    pub(crate) id: Vec<u8>,
    pub(crate) user: User,
    pub(crate) public: PublicKey,
    pub(crate) cred_protect: u8,
    pub(crate) large_blob_key: Option<Vec<u8>>,
}

pub(crate) fn client_data_hash(b: u8) -> Vec<u8> {
    sha256(&[b]).to_vec()
}

/// LEFT(SHA-256(pin), 16), what the device keeps of a PIN (§6.5.5.5).
pub(crate) fn pin_hash(pin: &[u8]) -> [u8; 16] {
    let mut h = [0u8; 16];
    h.copy_from_slice(&sha256(pin)[..16]);
    h
}

pub(crate) fn protocol_index(p: PinProtocol) -> usize {
    match p {
        PinProtocol::V1 => 0,
        PinProtocol::V2 => 1,
    }
}

pub(crate) fn protocol_of(v2: bool) -> PinProtocol {
    if v2 {
        PinProtocol::V2
    } else {
        PinProtocol::V1
    }
}

pub(crate) fn other_protocol(p: PinProtocol) -> PinProtocol {
    protocol_of(p == PinProtocol::V1)
}

/// A status as a byte, for comparing with the response.
pub(crate) fn code(r: &Result<impl Sized, S>) -> u8 {
    match r {
        Ok(_) => 0,
        Err(e) => *e as u8,
    }
}

pub(crate) fn bytes_field(map: &[(Value, Value)], key: i64) -> Option<Vec<u8>> {
    field(map, key).and_then(|v| v.as_bytes()).cloned()
}

impl Harness {
    pub(crate) fn new(setup: &Setup) -> Self {
        let config = DeviceConfig {
            attestation: match setup.attestation % 3 {
                0 => AttestationMode::None,
                1 => AttestationMode::SelfAttestation,
                _ => AttestationMode::Batch,
            },
            counter_mode: match setup.counter % 3 {
                0 => CounterMode::PerCredential,
                1 => CounterMode::Global,
                _ => CounterMode::AlwaysZero,
            },
            algorithms: match setup.algorithms % 6 {
                0 => vec![Algorithm::Es256, Algorithm::EdDsa],
                1 => vec![Algorithm::Es256],
                2 => vec![Algorithm::EdDsa],
                3 => vec![Algorithm::Es384, Algorithm::Es256K, Algorithm::Es256],
                4 => vec![Algorithm::Es512, Algorithm::EdDsa, Algorithm::Es256K],
                _ => vec![Algorithm::MlDsa44, Algorithm::MlDsa87, Algorithm::Es256],
            },
            builtin_uv: setup.builtin_uv,
            make_cred_uv_not_rqd: setup.make_cred_uv_not_rqd,
            always_uv: setup.always_uv,
            initial_pin: setup
                .initial_pin
                .then(|| String::from_utf8_lossy(INITIAL_PIN).into_owned()),
            reset_policy: if setup.reset_always {
                ResetPolicy::Always
            } else {
                ResetPolicy::AfterPowerUp
            },
            backup: if setup.synced {
                BackupFlags::Synced
            } else {
                BackupFlags::DeviceBound
            },
            ..DeviceConfig::default()
        };
        let capacity = usize::from(setup.capacity % 8) + 1;
        let mut env = TestEnv::seeded(u64::from(setup.seed));
        env.store = MemoryStore::with_capacity(capacity);
        let mut auth = authenticator(config.clone(), env);
        if setup.enterprise {
            // The batch identity doubles as the enterprise identity, so
            // enterprise attestations verify with the batch key.
            auth.set_enterprise_identity(fixture().identity.clone());
        }
        Self {
            auth,
            capacity,
            creds: HashMap::new(),
            ids: Vec::new(),
            next_created: 0,
            now: 0,
            power_up: 0,
            sequence: None,
            global_last: None,
            pin: setup.initial_pin.then(|| INITIAL_PIN.to_vec()),
            pin_retries: MAX_PIN_RETRIES,
            mismatches: 0,
            uv_retries: config.uv_retries,
            always_uv: config.always_uv,
            token: None,
            epoch: 0,
            agreement: [None, None],
            old_agreements: Vec::new(),
            platform: Vec::new(),
            rng: ChaCha20Rng::seed_from_u64(u64::from(setup.seed) ^ 0x9e37_79b9),
            pool_next: 0,
            hmac_outputs: HashMap::new(),
            min_pin_length: limits::DEFAULT_MIN_PIN_LENGTH,
            min_pin_rp_ids: Vec::new(),
            force_pin_change: false,
            enterprise_supported: setup.enterprise,
            enterprise_enabled: false,
            large_blob: initial_large_blob(),
            lb_write: None,
            cm_rps: Vec::new(),
            cm_creds: Vec::new(),
            config,
        }
    }

    pub(crate) fn pick(&self, p: &Pick) -> Vec<u8> {
        match p {
            Pick::Known(i) if !self.ids.is_empty() => {
                self.ids[usize::from(*i) % self.ids.len()].clone()
            }
            Pick::Known(i) => vec![*i; 63],
            Pick::Random(b) => b.clone(),
        }
    }

    pub(crate) fn presence(&self) -> PresencePolicy {
        self.auth.env().presence
    }

    pub(crate) fn uv_succeeds(&self) -> bool {
        self.auth.env().uv == UvPolicy::Succeed
    }

    pub(crate) fn pin_set(&self) -> bool {
        self.pin.is_some()
    }

    /// §6.1.2 step 6: "protected by some form of user verification": a PIN
    /// is set or a built-in UV method exists.
    pub(crate) fn protected(&self) -> bool {
        self.pin_set() || self.config.builtin_uv
    }

    pub(crate) fn model_discoverable_count(&self) -> usize {
        self.creds
            .values()
            .filter(|c| c.alive && c.discoverable)
            .count()
    }

    /// Checks and records a signature counter (WebAuthn §6.1.1: it must
    /// increase with every assertion unless it is always zero).
    pub(crate) fn check_counter(&mut self, id: &[u8], count: u32) {
        match self.config.counter_mode {
            CounterMode::AlwaysZero => assert_eq!(count, 0, "AlwaysZero counter is {count}"),
            CounterMode::Frozen => {
                let cred = self.creds.get_mut(id).expect("known credential");
                if let Some(last) = cred.last_counter {
                    assert_eq!(count, last, "a frozen counter of {id:02x?} moved");
                }
                cred.last_counter = Some(count);
            }
            CounterMode::RandomStep(max) => {
                let cred = self.creds.get_mut(id).expect("known credential");
                if let Some(last) = cred.last_counter {
                    assert!(
                        (1..=max).contains(&count.wrapping_sub(last)) && count > last,
                        "counter of {id:02x?} went from {last} to {count} (steps 1..={max})"
                    );
                }
                cred.last_counter = Some(count);
            }
            CounterMode::PerCredential | CounterMode::Global => {
                let cred = self.creds.get_mut(id).expect("known credential");
                if let Some(last) = cred.last_counter {
                    assert!(
                        count > last,
                        "counter of {id:02x?} went from {last} to {count}"
                    );
                }
                cred.last_counter = Some(count);
                if self.config.counter_mode == CounterMode::Global {
                    if let Some(last) = self.global_last {
                        assert!(count > last, "global counter went from {last} to {count}");
                    }
                    self.global_last = Some(count);
                }
            }
        }
    }

    /// The store agrees with the model after every message: the
    /// discoverable credentials, and the state that survives a power cycle
    /// (the PIN, pinRetries §6.5.2.2, uvRetries §6.5.2.3, alwaysUv
    /// §6.11.2).
    pub(crate) fn check_store(&self) {
        let store = &self.auth.env().store;
        let stored = store.count_discoverable().expect("count");
        assert_eq!(
            stored,
            self.model_discoverable_count(),
            "store and model disagree on discoverable credentials"
        );
        assert_eq!(
            store.all().filter(|c| c.discoverable).count(),
            stored,
            "count_discoverable disagrees with the stored credentials"
        );
        // Exactly the model's credentials, with their users (§6.8.6),
        // credProtect and credBlob: a failed request stores nothing and
        // replaces nothing.
        for c in store.all().filter(|c| c.discoverable) {
            let m = self
                .creds
                .get(&c.id)
                .filter(|m| m.alive && m.discoverable)
                .unwrap_or_else(|| panic!("stored credential {:02x?} the model lacks", c.id));
            assert_eq!(c.user, m.user, "stored user of {:02x?}", c.id);
            assert_eq!(c.cred_protect, m.cred_protect, "stored credProtect");
            assert_eq!(c.cred_blob, m.cred_blob, "stored credBlob");
        }
        let state = store.device_state().expect("device state");
        assert_eq!(
            state.pin_hash,
            self.pin.as_deref().map(pin_hash),
            "stored PIN hash"
        );
        assert_eq!(state.pin_retries, self.pin_retries, "pinRetries");
        assert_eq!(state.uv_retries, self.uv_retries, "uvRetries");
        assert_eq!(state.always_uv, self.always_uv, "alwaysUv");
        assert_eq!(state.min_pin_length, self.min_pin_length, "minPINLength");
        assert_eq!(
            state.min_pin_length_rp_ids, self.min_pin_rp_ids,
            "minPinLengthRPIDs"
        );
        assert_eq!(
            state.force_pin_change, self.force_pin_change,
            "forcePINChange"
        );
        assert_eq!(
            state.enterprise_attestation, self.enterprise_enabled,
            "enterprise attestation enabled"
        );
        let array = store
            .large_blob_array()
            .expect("large-blob array")
            .unwrap_or_else(initial_large_blob);
        assert_eq!(array, self.large_blob, "serialized large-blob array");
    }
}

/// The serialized large-blob array of a fresh device (CTAP 2.1 §6.10.3):
/// the empty CBOR array and LEFT(SHA-256(0x80), 16).
pub(crate) fn initial_large_blob() -> Vec<u8> {
    [&[0x80u8][..], &sha256(&[0x80])[..16]].concat()
}
