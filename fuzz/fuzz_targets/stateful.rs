//! A sequence of operations against one authenticator, checked against a
//! model of what a CTAP 2.1 authenticator must have done.
//!
//! The input (via `arbitrary`) picks a device configuration (including
//! built-in UV, makeCredUvNotRqd, alwaysUv and an initial PIN) and up to
//! `MAX_OPS` operations: makeCredential and getAssertion (with or without a
//! pinUvAuthParam and extension inputs), getNextAssertion, getInfo, reset,
//! selection, the clientPIN subcommands (setPIN, changePIN, getPinToken,
//! getPinUvAuthTokenUsing{Pin,Uv}WithPermissions, the retry counters),
//! credential management (0x0A and 0x41), authenticatorConfig,
//! largeBlobs reads and fragmented writes, power cycles, clock moves,
//! presence/UV policy changes and raw messages.
//!
//! The model walks the steps of the spec for every message, structured or
//! raw (reading the request with the core's own decoders), and predicts the
//! exact status; for a success it predicts the body too. It keeps what the
//! authenticator must keep: the credentials (with their credProtect level,
//! credBlob and largeBlobKey), the PIN, pinRetries, the mismatches of this
//! power cycle, uvRetries, alwaysUv, the pinUvAuthToken in use (protocol,
//! permissions, RP ID, timers, UP/UV flags) and which key-agreement keys
//! are current, the authenticatorConfig settings (minPINLength and its RP
//! IDs, forcePINChange, enterprise attestation), the serialized large-blob
//! array and the write in progress, and the credential management
//! enumeration cursors. Platform keys the harness made itself have a known
//! shared secret, so it can decrypt tokens and hmac-secret outputs.
//!
//! After every message the store's discoverable credentials (IDs, users,
//! credProtect, credBlob), the device state (PIN hash, pinRetries,
//! uvRetries, alwaysUv, minPINLength, forcePINChange, enterprise
//! attestation) and the large-blob array must equal the model's.
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use authenticator_core::cbor::{self, Fields, MapBuilder, Value};
use authenticator_core::config::{AttestationMode, BackupFlags, CounterMode, ResetPolicy};
use authenticator_core::crypto::keys::{Algorithm, PublicKey};
use authenticator_core::crypto::pin_protocol::{
    encapsulate, KeyAgreementKey, PinProtocol, SharedSecret,
};
use authenticator_core::crypto::{seal, sha256};
use authenticator_core::env::{PresencePolicy, TestEnv, UvPolicy};
use authenticator_core::limits;
use authenticator_core::status::StatusCode as S;
use authenticator_core::store::{CredentialStore, MemoryStore, User, MAX_PIN_RETRIES};
use authenticator_core::wire::client_pin::{self, permission, SubCommand};
use authenticator_core::wire::{
    config as cfg_wire, cred_mgmt, get_assertion, large_blobs, make_credential, Command,
};
use authenticator_core::{Authenticator, DeviceConfig};
use authenticator_core_fuzz::{
    authenticator, check_response, field, fixture, parse_auth_data, text_field,
};
use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const MAX_OPS: usize = 40;
const RPS: [&str; 3] = ["example.com", "a.example", "b.example"];
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE_BS: u8 = 0x18;
const FLAG_ED: u8 = 0x80;

/// The PIN of a device configured with one.
const INITIAL_PIN: &[u8] = b"1234";
/// PINs the operations pick from: valid ones (4 ASCII characters, 4
/// two-byte characters, 8 digits, 4 four-byte characters) and ones that
/// break the §6.5.1 policy (3 characters, 64 bytes, empty, not UTF-8).
const PINS: [&[u8]; 8] = [
    b"1234",
    "\u{e4}\u{e4}\u{e4}\u{e4}".as_bytes(),
    b"12345678",
    "\u{1F600}\u{1F600}\u{1F600}\u{1F600}".as_bytes(),
    b"123",
    &[b'x'; 64],
    b"",
    &[0xff, 0xfe, 0xfd, 0xfc],
];

/// The extension identifiers getInfo lists (CTAP 2.1 §6.4 member 0x02).
const EXTENSIONS: [&str; 6] = [
    "credBlob",
    "credProtect",
    "hmac-secret",
    "hmac-secret-mc",
    "largeBlobKey",
    "minPinLength",
];

// ---------------------------------------------------------------------------
// The input.

#[derive(Arbitrary, Debug)]
struct Setup {
    attestation: u8,
    counter: u8,
    algorithms: u8,
    builtin_uv: bool,
    make_cred_uv_not_rqd: bool,
    always_uv: bool,
    initial_pin: bool,
    reset_always: bool,
    synced: bool,
    /// Room for 1..=8 discoverable credentials, so that a full store and
    /// replacement are reachable.
    capacity: u8,
    seed: u8,
    /// An enterprise attestation identity (getInfo `ep`, §7.1).
    enterprise: bool,
}

#[derive(Arbitrary, Debug)]
enum Pick {
    /// The n-th credential ID seen so far (modulo how many there are).
    Known(u8),
    /// Some other bytes.
    Random(Vec<u8>),
}

/// How a makeCredential / getAssertion carries a pinUvAuthParam.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Auth {
    /// authenticate(token, clientDataHash) under the token's protocol.
    Token,
    /// The same under the other protocol.
    OtherProtocol,
    /// The right value with one bit flipped.
    Tampered,
    /// A zero-length pinUvAuthParam (the CTAP 2.0 "touch" probe).
    Empty,
    /// A pinUvAuthParam without pinUvAuthProtocol.
    NoProtocol,
    /// pinUvAuthProtocol 3.
    BadProtocol,
}

/// A defect put into a clientPIN request or an hmac-secret input.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Fault {
    None,
    /// A pinUvAuthParam / saltAuth with one bit flipped (for the token
    /// subcommands: a flipped pinHashEnc; for the UV token: no permissions).
    BadAuth,
    /// A valid platform key whose shared secret the device does not share
    /// (from before the key-agreement keys changed, or never agreed).
    StaleKey,
    /// A keyAgreement that is not a P-256 point.
    BadKey,
    /// A wrong plaintext length: a 32-byte padded PIN, a 32-byte PIN hash,
    /// a 16-byte salt (for the UV token: no keyAgreement).
    WrongLength,
}

/// An hmac-secret (getAssertion) or hmac-secret-mc (makeCredential) input.
#[derive(Arbitrary, Debug)]
struct SaltInput {
    /// The pinUvAuthProtocol member: absent (protocol one), 1 or 2.
    protocol: Option<bool>,
    /// One or two salts.
    two: bool,
    salt: u8,
    fault: Fault,
}

#[derive(Arbitrary, Debug)]
struct McExtensions {
    /// credProtect level; 0 and 4 are not levels (ignored by the device).
    cred_protect: Option<u8>,
    cred_blob: Option<Vec<u8>>,
    large_blob_key: Option<bool>,
    hmac_secret: Option<bool>,
    hmac_secret_mc: Option<SaltInput>,
    min_pin_length: bool,
}

#[derive(Arbitrary, Debug)]
struct GaExtensions {
    cred_blob: Option<bool>,
    large_blob_key: Option<bool>,
    hmac_secret: Option<SaltInput>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum PinPick {
    /// The PIN the model knows is set (or `INITIAL_PIN` when none is).
    Current,
    /// `PINS[n % PINS.len()]`.
    Candidate(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Permissions {
    McGa,
    Mc,
    Ga,
    /// getPinToken (0x05): no permissions member, mc and ga implied.
    Legacy,
    /// Credential management (§6.5.5.7 cm).
    Cm,
    /// Large-blob writes (lbw).
    Lbw,
    /// authenticatorConfig (acfg).
    Acfg,
    /// mc, ga, cm, lbw and acfg.
    All,
    /// Any bits, including 0 and ones the device does not grant.
    Bits(u8),
}

#[derive(Arbitrary, Debug)]
enum Op {
    MakeCredential {
        /// Index into `RPS`.
        rp: u8,
        user: u8,
        rk: bool,
        uv: Option<bool>,
        up: Option<bool>,
        /// 0: ES256, 1: EdDSA, 2: EdDSA then ES256, 3: an unknown algorithm.
        alg: u8,
        exclude: Vec<Pick>,
        client_data: u8,
        /// 0: none given, 1: ["none"], 2: ["packed"], 3: ["x", "packed"].
        formats: u8,
        ext: Option<McExtensions>,
        auth: Option<Auth>,
        /// Whether rp carries its name.
        rp_name: bool,
        /// The enterpriseAttestation member (§6.1.2 step 9): 0–3.
        enterprise: Option<u8>,
    },
    GetAssertion {
        rp: u8,
        allow: Vec<Pick>,
        up: Option<bool>,
        uv: Option<bool>,
        client_data: u8,
        ext: Option<GaExtensions>,
        auth: Option<Auth>,
    },
    GetNextAssertion,
    /// getAssertion without an allowList followed by as many
    /// getNextAssertion calls as it announces (at most 8), so that whole
    /// sequences are common.
    AssertAll {
        rp: u8,
        up: Option<bool>,
        uv: Option<bool>,
        client_data: u8,
        auth: Option<Auth>,
    },
    GetInfo,
    Reset,
    Selection,
    PowerCycle,
    AdvanceClock(u16),
    SetPresence(u8),
    SetUv(bool),
    Raw(Vec<u8>),
    /// getKeyAgreement, then setPIN.
    SetPin {
        v2: bool,
        pin: u8,
        fault: Fault,
    },
    /// getKeyAgreement, then changePIN.
    ChangePin {
        v2: bool,
        current: PinPick,
        new: u8,
        fault: Fault,
    },
    /// getKeyAgreement, then getPinUvAuthTokenUsingPinWithPermissions (or
    /// getPinToken).
    PinToken {
        v2: bool,
        pin: PinPick,
        permissions: Permissions,
        rp: Option<u8>,
        fault: Fault,
    },
    /// getKeyAgreement, then getPinUvAuthTokenUsingUvWithPermissions.
    UvToken {
        v2: bool,
        permissions: Permissions,
        rp: Option<u8>,
        fault: Fault,
    },
    /// getPINRetries and getUVRetries.
    Retries,
    /// authenticatorCredentialManagement (§6.8), as 0x0A or as the
    /// FIDO_2_1_PRE 0x41.
    CredMgmt {
        preview: bool,
        sub: CmSub,
        auth: Option<Auth>,
    },
    /// authenticatorConfig (§6.11).
    Config {
        sub: CfgSub,
        auth: Option<Auth>,
    },
    /// A largeBlobs read (§6.10.2 step 4).
    LargeBlobGet {
        offset: u16,
        get: u16,
        junk: u8,
    },
    /// A whole serialized large-blob array written in fragments (§6.10.2
    /// step 5), each with its pinUvAuthParam; the hash may be wrong.
    LargeBlobWrite {
        data: Vec<u8>,
        fragment: u8,
        corrupt: bool,
        auth: Option<Auth>,
    },
    /// One largeBlobs set fragment: at the expected offset (below 0x8000)
    /// or another one, of `size` bytes or `data`, with a length or not.
    LargeBlobFragment {
        offset: u16,
        data: Vec<u8>,
        size: Option<u16>,
        length: Option<u16>,
        auth: Option<Auth>,
    },
}

/// A credential management subcommand (§6.8.2–§6.8.6).
#[derive(Arbitrary, Debug)]
enum CmSub {
    Metadata,
    /// enumerateRPsBegin, then (with `all`) enumerateRPsGetNextRP until
    /// the last RP.
    Rps {
        all: bool,
    },
    NextRp,
    /// enumerateCredentialsBegin for `RPS[rp]` (or, from 3 on, a hash of
    /// no RP), then (with `all`) GetNextCredential until the last one.
    Credentials {
        rp: u8,
        all: bool,
    },
    NextCredential,
    Delete(Pick),
    /// updateUserInformation with the credential's user handle (or
    /// another one); names absent (None), empty (Some(0)) or new.
    Update {
        cred: Pick,
        other_user: bool,
        name: Option<u8>,
        display_name: Option<u8>,
    },
    /// A subcommand number without parameters.
    Bare(u8),
}

/// An authenticatorConfig subcommand (§6.11.1–§6.11.4).
#[derive(Arbitrary, Debug)]
enum CfgSub {
    EnableEnterpriseAttestation,
    ToggleAlwaysUv,
    /// setMinPINLength; `params` false sends no subCommandParams.
    SetMinPinLength {
        params: bool,
        new_min: Option<u8>,
        rp_ids: Option<u8>,
        force: Option<bool>,
    },
    /// A subcommand number without parameters.
    Other(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    setup: Setup,
    ops: Vec<Op>,
}

// ---------------------------------------------------------------------------
// What the model keeps.

/// One credential the device made.
struct Cred {
    public: PublicKey,
    rp_id: String,
    /// The rp.name it was made with (credential management lists it).
    rp_name: Option<String>,
    user: User,
    discoverable: bool,
    /// False once reset, replaced or deleted.
    alive: bool,
    last_counter: Option<u32>,
    /// credProtect level (0: none), CTAP 2.1 §12.1.
    cred_protect: u8,
    /// The credBlob stored with it (discoverable credentials only, §12.2).
    cred_blob: Option<Vec<u8>>,
    /// Its largeBlobKey, once one was seen (§12.3).
    large_blob_key: Option<Vec<u8>>,
    /// Creation order (§6.2.2 step 12.2.1 lists the newest first).
    created: u64,
}

/// The pinUvAuthToken in use (CTAP 2.1 §6.5.2.1).
#[derive(Clone)]
struct Token {
    /// The token; `None` when it was issued under a shared secret the
    /// harness does not know (a UV token for a foreign platform key).
    bytes: Option<Vec<u8>>,
    protocol: PinProtocol,
    permissions: u64,
    rp_id: Option<String>,
    issued_ms: u64,
    used: bool,
    user_present: bool,
    user_verified: bool,
}

/// A platform key-agreement key the harness made (§6.5.4 encapsulate).
struct PlatformKey {
    cose: Value,
    protocol: PinProtocol,
    /// The model's key-agreement epoch it was made in.
    epoch: u64,
    shared: SharedSecret,
}

/// What the device does with a platform COSE key (§6.5.4 decapsulate).
#[derive(Clone, Copy)]
enum Peer {
    /// One of ours, made against the device's current key: the shared
    /// secret is `platform[i].shared`.
    Ours(usize),
    /// A P-256 point whose shared secret the harness does not know.
    Foreign,
    /// Not a P-256 point: CTAP1_ERR_INVALID_PARAMETER.
    Invalid,
}

/// A parsed hmac-secret / hmac-secret-mc input (§12.5).
struct SaltIn {
    key_agreement: Value,
    salt_enc: Vec<u8>,
    salt_auth: Vec<u8>,
    protocol: PinProtocol,
}

/// A verified salt input: the platform key it used and the salts.
struct Salts {
    platform: usize,
    salts: Vec<u8>,
}

/// makeCredential extension inputs as the device reads them (§12).
#[derive(Default)]
struct McExtIn {
    cred_protect: Option<u8>,
    hmac_secret: bool,
    hmac_secret_mc: Option<SaltIn>,
    cred_blob: Option<Vec<u8>>,
    large_blob_key: bool,
    min_pin_length: bool,
}

/// getAssertion extension inputs as the device reads them (§12).
#[derive(Default)]
struct GaExtIn {
    hmac_secret: Option<SaltIn>,
    cred_blob: bool,
    large_blob_key: bool,
}

/// What a successful assertion must look like, beyond the credential.
#[derive(Clone)]
struct AssertionPlan {
    rp_id: String,
    client_data_hash: Vec<u8>,
    flags: u8,
    /// Whether user name and displayName are included (§6.2.2 step 12.3:
    /// several accounts, after UV).
    identifying: bool,
    cred_blob: bool,
    large_blob_key: bool,
    /// Verified hmac-secret salts (§12.5); `None` without the extension.
    hmac: Option<(usize, Vec<u8>)>,
}

/// An open getAssertion sequence (§6.3).
struct Sequence {
    plan: AssertionPlan,
    /// IDs still to come, in order.
    pending: Vec<Vec<u8>>,
    last_ms: u64,
}

/// What a makeCredential that succeeds must return.
struct McPlan {
    rk: bool,
    alg: Algorithm,
    flags: u8,
    cred_protect: u8,
    /// The credBlob input, if any, and whether it is stored.
    cred_blob: Option<(Vec<u8>, bool)>,
    hmac_secret: bool,
    hmac_mc: Option<Salts>,
    large_blob_key: bool,
    /// The minPinLength output (§12.4), for an RP authenticatorConfig
    /// allowed.
    min_pin_length: Option<u8>,
    /// An enterprise attestation (§7.1).
    enterprise: bool,
}

struct Harness {
    auth: Authenticator<TestEnv>,
    config: DeviceConfig,
    capacity: usize,
    creds: HashMap<Vec<u8>, Cred>,
    /// Every credential ID seen, in order, for `Pick::Known`.
    ids: Vec<Vec<u8>>,
    next_created: u64,
    now: u64,
    power_up: u64,
    sequence: Option<Sequence>,
    /// The last signature counter seen (for the global counter mode).
    global_last: Option<u32>,

    // PIN/UV state (CTAP 2.1 §6.5).
    /// The PIN set, if any (§6.5.5.5).
    pin: Option<Vec<u8>>,
    /// pinRetries (§6.5.2.2).
    pin_retries: u8,
    /// Consecutive PIN mismatches in this power cycle (§6.5.5.7.2).
    mismatches: u8,
    /// uvRetries (§6.5.2.3).
    uv_retries: u8,
    /// alwaysUv (§6.11.2).
    always_uv: bool,
    token: Option<Token>,
    /// Bumped whenever the device's key-agreement keys change: power-up,
    /// reset and a PIN mismatch (§6.5.4 initialize, regenerate).
    epoch: u64,
    /// The key getKeyAgreement returned in this epoch, per protocol.
    agreement: [Option<Value>; 2],
    /// Keys of earlier epochs (a new epoch must bring new keys).
    old_agreements: Vec<Value>,
    platform: Vec<PlatformKey>,
    rng: ChaCha20Rng,
    /// hmac-secret outputs seen: (credential, UV, salt) → HMAC (§12.5: one
    /// CredRandom per credential and UV state).
    hmac_outputs: HashMap<(Vec<u8>, bool, Vec<u8>), Vec<u8>>,

    // authenticatorConfig state (§6.11).
    /// minPINLength (§6.11.4; 4 on a fresh device, §6.5.1).
    min_pin_length: u8,
    /// minPinLengthRPIDs: the RP IDs that may read minPinLength (§12.4).
    min_pin_rp_ids: Vec<String>,
    /// forcePINChange (§6.4 member 0x0C).
    force_pin_change: bool,
    /// Whether the device has an enterprise attestation identity.
    enterprise_supported: bool,
    /// Whether enableEnterpriseAttestation ran (§6.11.1).
    enterprise_enabled: bool,

    // authenticatorLargeBlobs state (§6.10).
    /// The committed serialized large-blob array.
    large_blob: Vec<u8>,
    /// The write in progress: expectedLength, and the pending bytes (whose
    /// length is expectedNextOffset), §6.10.2 step 5.
    lb_write: Option<(usize, Vec<u8>)>,

    // Credential management enumeration cursors (§6.8.3, §6.8.4): what is
    // left to list.
    cm_rps: Vec<RpSnap>,
    cm_creds: Vec<CredSnap>,
}

/// An RP as enumerateRPs must report it (§6.8.3).
#[derive(Clone, Debug, PartialEq)]
struct RpSnap {
    id: String,
    name: Option<String>,
}

/// A discoverable credential as enumerateCredentials must report it
/// (§6.8.4), taken when the enumeration began.
#[derive(Clone)]
struct CredSnap {
    id: Vec<u8>,
    user: User,
    public: PublicKey,
    cred_protect: u8,
    large_blob_key: Option<Vec<u8>>,
}

/// Whether `STATEFUL_TRACE` is set: then every exchange is printed to
/// stderr (for reading a crash input, or checking what the corpus reaches).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("STATEFUL_TRACE").is_some())
}

fn client_data_hash(b: u8) -> Vec<u8> {
    sha256(&[b]).to_vec()
}

/// LEFT(SHA-256(pin), 16), what the device keeps of a PIN (§6.5.5.5).
fn pin_hash(pin: &[u8]) -> [u8; 16] {
    let mut h = [0u8; 16];
    h.copy_from_slice(&sha256(pin)[..16]);
    h
}

fn protocol_index(p: PinProtocol) -> usize {
    match p {
        PinProtocol::V1 => 0,
        PinProtocol::V2 => 1,
    }
}

fn protocol_of(v2: bool) -> PinProtocol {
    if v2 {
        PinProtocol::V2
    } else {
        PinProtocol::V1
    }
}

fn other_protocol(p: PinProtocol) -> PinProtocol {
    protocol_of(p == PinProtocol::V1)
}

/// A status as a byte, for comparing with the response.
fn code(r: &Result<impl Sized, S>) -> u8 {
    match r {
        Ok(_) => 0,
        Err(e) => *e as u8,
    }
}

fn bytes_field(map: &[(Value, Value)], key: i64) -> Option<Vec<u8>> {
    field(map, key).and_then(|v| v.as_bytes()).cloned()
}

impl Harness {
    fn new(setup: &Setup) -> Self {
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
            algorithms: match setup.algorithms % 3 {
                0 => vec![Algorithm::Es256, Algorithm::EdDsa],
                1 => vec![Algorithm::Es256],
                _ => vec![Algorithm::EdDsa],
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

    fn pick(&self, p: &Pick) -> Vec<u8> {
        match p {
            Pick::Known(i) if !self.ids.is_empty() => {
                self.ids[usize::from(*i) % self.ids.len()].clone()
            }
            Pick::Known(i) => vec![*i; 63],
            Pick::Random(b) => b.clone(),
        }
    }

    fn presence(&self) -> PresencePolicy {
        self.auth.env().presence
    }

    fn uv_succeeds(&self) -> bool {
        self.auth.env().uv == UvPolicy::Succeed
    }

    fn pin_set(&self) -> bool {
        self.pin.is_some()
    }

    /// §6.1.2 step 6: "protected by some form of user verification": a PIN
    /// is set or a built-in UV method exists.
    fn protected(&self) -> bool {
        self.pin_set() || self.config.builtin_uv
    }

    fn model_discoverable_count(&self) -> usize {
        self.creds
            .values()
            .filter(|c| c.alive && c.discoverable)
            .count()
    }

    /// Checks and records a signature counter (WebAuthn §6.1.1: it must
    /// increase with every assertion unless it is always zero).
    fn check_counter(&mut self, id: &[u8], count: u32) {
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

    // -----------------------------------------------------------------------
    // One message.

    /// Sends one message, checks the response against the model and
    /// returns the status byte.
    fn exchange(&mut self, message: &[u8]) -> u8 {
        let response = self.auth.handle(message);
        // Keep TestEnv's presence log from growing over a long input.
        self.auth.env_mut().presence_log.clear();
        if trace() {
            // The clientPIN subcommand too, when the request decodes.
            let sub = match message.split_first() {
                Some((0x06, p)) => client_pin::Request::decode(p)
                    .map(|r| format!(" {:?}", r.sub_command))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            eprintln!(
                "cmd {:02x?}{sub} ({} bytes) -> status {:#04x} ({} bytes)",
                message.first(),
                message.len(),
                response[0],
                response.len()
            );
        }
        let body = check_response(message, &response);
        let st = response[0];
        let Some((&cmd, params)) = message.split_first() else {
            assert_eq!(st, S::InvalidLength as u8, "empty message");
            return st;
        };
        // Before any command: the message size (§8: maxMsgSize), then the
        // command byte.
        if message.len() > limits::MAX_MSG_SIZE {
            assert_eq!(st, S::InvalidLength as u8, "message over maxMsgSize");
        } else {
            let Some(command) = Command::from_u8(cmd) else {
                assert_eq!(st, S::InvalidCommand as u8, "unknown command {cmd:#04x}");
                return st;
            };
            // §6.3: any command other than getNextAssertion ends a sequence.
            let sequence = self.sequence.take();
            // Likewise any command other than credential management ends
            // its enumerations (as the device documents; §6.8 only says
            // GetNext continues a Begin).
            if !matches!(
                command,
                Command::CredentialManagement | Command::CredentialManagementPreview
            ) {
                self.cm_rps.clear();
                self.cm_creds.clear();
            }
            match command {
                Command::MakeCredential => self.after_make_credential(params, st, body),
                Command::GetAssertion => self.after_get_assertion(params, st, body),
                Command::GetNextAssertion => self.after_get_next_assertion(sequence, st, body),
                Command::GetInfo => self.after_get_info(st, body),
                Command::ClientPin => self.after_client_pin(params, st, body),
                Command::Reset => self.after_reset(st),
                Command::Selection => {
                    // §6.9: success after a touch.
                    let expected = match self.presence() {
                        PresencePolicy::Approve => 0,
                        PresencePolicy::Deny => S::OperationDenied as u8,
                        PresencePolicy::Timeout => S::UserActionTimeout as u8,
                    };
                    assert_eq!(st, expected, "selection");
                }
                Command::CredentialManagement | Command::CredentialManagementPreview => {
                    self.after_cred_mgmt(params, st, body);
                }
                Command::LargeBlobs => self.after_large_blobs(params, st, body),
                Command::Config => self.after_config(params, st),
                // Not in this build: getInfo has no "bioEnroll" option.
                Command::BioEnrollment | Command::BioEnrollmentPreview => {
                    assert_eq!(st, S::InvalidCommand as u8, "cmd {cmd:#04x}");
                }
            }
        }
        self.check_store();
        st
    }

    /// The store agrees with the model after every message: the
    /// discoverable credentials, and the state that survives a power cycle
    /// (the PIN, pinRetries §6.5.2.2, uvRetries §6.5.2.3, alwaysUv
    /// §6.11.2).
    fn check_store(&self) {
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

    // -----------------------------------------------------------------------
    // Steps shared by makeCredential and getAssertion.

    /// §6.1.2 / §6.2.2 step 1: a zero-length pinUvAuthParam asks for a
    /// touch, then answers PIN_NOT_SET or PIN_INVALID.
    fn pin_probe(&self) -> S {
        match self.presence() {
            PresencePolicy::Approve if self.pin_set() => S::PinInvalid,
            PresencePolicy::Approve => S::PinNotSet,
            _ => S::OperationDenied,
        }
    }

    /// §6.1.2 / §6.2.2 step 2: pinUvAuthProtocol must be given and
    /// supported.
    fn pin_protocol(protocol: Option<u64>) -> Result<PinProtocol, S> {
        PinProtocol::from_u64(protocol.ok_or(S::MissingParameter)?).ok_or(S::InvalidParameter)
    }

    /// performBuiltInUv() with internal retries (§6.5.2.3, §6.1.2 step
    /// 11.2, §6.2.2 step 6.2): a failed match spends one uvRetry, a
    /// success restores them; with none left the request fails at once.
    /// A failure is PUAT_REQUIRED when a PIN could be used instead,
    /// otherwise PIN_BLOCKED with no retries left, else OPERATION_DENIED.
    fn builtin_uv(&mut self) -> Result<(), S> {
        let failure = |pin_set: bool, left: u8| {
            if pin_set {
                S::PuatRequired
            } else if left == 0 {
                S::PinBlocked
            } else {
                S::OperationDenied
            }
        };
        if self.uv_retries == 0 {
            return Err(failure(self.pin_set(), 0));
        }
        match self.presence() {
            PresencePolicy::Deny => return Err(S::OperationDenied),
            PresencePolicy::Timeout => return Err(S::UserActionTimeout),
            PresencePolicy::Approve => {}
        }
        if self.uv_succeeds() {
            self.uv_retries = self.config.uv_retries;
            Ok(())
        } else {
            self.uv_retries -= 1;
            Err(failure(self.pin_set(), self.uv_retries))
        }
    }

    /// The usage-timer observer of §6.5.2.1: a token never used within
    /// 30 s, or older than 10 minutes, is no longer in use; its
    /// user-present flag lasts 30 s.
    fn expire_token(&mut self) {
        let now = self.now;
        if let Some(t) = &mut self.token {
            let age = now.saturating_sub(t.issued_ms);
            if age > limits::TOKEN_MAX_USAGE_MS || (!t.used && age > limits::TOKEN_INITIAL_USAGE_MS)
            {
                self.token = None;
            } else if age > limits::TOKEN_USER_PRESENT_MS {
                t.user_present = false;
            }
        }
    }

    /// verify(pinUvAuthToken, clientDataHash, pinUvAuthParam) and the
    /// permission checks of §6.1.2 step 11.1 / §6.2.2 step 6.1: the token
    /// must be in use under this protocol, carry `permission`, and have no
    /// other permissions RP ID (a token without one is bound to this RP).
    /// Every failure, and a token whose user-verified flag is cleared, is
    /// PIN_AUTH_INVALID. Returns the token's user-present flag.
    fn check_token(
        &mut self,
        protocol: PinProtocol,
        param: &[u8],
        client_data_hash: &[u8],
        permission: u64,
        rp_id: &str,
    ) -> Result<bool, S> {
        self.expire_token();
        let t = self.token.as_mut().ok_or(S::PinAuthInvalid)?;
        let verifies = t
            .bytes
            .as_ref()
            .is_some_and(|b| protocol.verify(b, client_data_hash, param));
        if t.protocol != protocol || !verifies || t.permissions & permission != permission {
            return Err(S::PinAuthInvalid);
        }
        match &t.rp_id {
            Some(bound) if bound != rp_id => return Err(S::PinAuthInvalid),
            Some(_) => {}
            None => t.rp_id = Some(rp_id.to_owned()),
        }
        t.used = true;
        if !t.user_verified {
            return Err(S::PinAuthInvalid);
        }
        Ok(t.user_present)
    }

    /// clearUserPresentFlag(), clearUserVerifiedFlag(),
    /// clearPinUvAuthTokenPermissionsExceptLbw() (§6.1.2 step 14, §6.2.2
    /// step 9): after a request that collected presence.
    fn consume_token(&mut self) {
        if let Some(t) = &mut self.token {
            t.user_present = false;
            t.user_verified = false;
            t.permissions &= permission::LBW;
        }
    }

    /// Classifies a platform key the way decapsulate() will treat it.
    fn peer(&self, protocol: PinProtocol, cose: &Value) -> Peer {
        if let Some(i) = self
            .platform
            .iter()
            .position(|k| k.cose == *cose && k.protocol == protocol && k.epoch == self.epoch)
        {
            return Peer::Ours(i);
        }
        // The core's own COSE_Key parser decides what is a P-256 point.
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        match encapsulate(protocol, cose, &mut rng) {
            Ok(_) => Peer::Foreign,
            Err(_) => Peer::Invalid,
        }
    }

    /// The hmac-secret evaluation of §12.5: the platform key must be a
    /// point (else INVALID_PARAMETER), saltAuth must verify (else
    /// PIN_AUTH_INVALID), the salts must decrypt to 32 or 64 bytes (else
    /// INVALID_LENGTH).
    fn check_salts(&self, input: &SaltIn) -> Result<Salts, S> {
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
    fn check_hmac_output(&mut self, id: &[u8], uv: bool, salts: &Salts, output: &[u8]) {
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

    // -----------------------------------------------------------------------
    // authenticatorMakeCredential (CTAP 2.1 §6.1.2).

    /// Walks §6.1.2 for a decoded request, applying to the model every
    /// effect the steps have (uvRetries, the token's flags and RP ID) up
    /// to the outcome.
    fn model_make_credential(&mut self, req: &make_credential::Request) -> Result<McPlan, S> {
        let pin_auth = &req.pin_uv_auth;
        // Step 1.
        if pin_auth.param.as_deref().is_some_and(<[u8]>::is_empty) {
            return Err(self.pin_probe());
        }
        // Step 2.
        let pin_auth = match &pin_auth.param {
            Some(param) => Some((Self::pin_protocol(pin_auth.protocol)?, param.clone())),
            None => None,
        };
        // Step 3: the first requested algorithm the device has.
        let alg = req
            .algorithms
            .iter()
            .copied()
            .find(|a| self.config.algorithms.contains(a))
            .ok_or(S::UnsupportedAlgorithm)?;
        // Step 5: "uv" needs a built-in method and is ignored next to a
        // pinUvAuthParam; "up" = false is invalid.
        let rk = req.options.rk.unwrap_or(false);
        let mut uv = req.options.uv.unwrap_or(false) && pin_auth.is_none();
        if uv && !self.config.builtin_uv {
            return Err(S::InvalidOption);
        }
        if req.options.up == Some(false) {
            return Err(S::InvalidOption);
        }
        let protected = self.protected();
        let needs_uv = if self.pin_set() {
            S::PuatRequired
        } else {
            S::OperationDenied
        };
        // Step 6: alwaysUv; built-in UV stands in for a CTAP 2.0 platform.
        if self.always_uv {
            if !protected {
                return Err(needs_uv);
            }
            if pin_auth.is_none() && !uv {
                if self.config.builtin_uv {
                    uv = true;
                } else {
                    return Err(needs_uv);
                }
            }
        }
        // Steps 7–8: makeCredUvNotRqd (off under alwaysUv) lets a
        // protected device make non-discoverable credentials without UV,
        // never discoverable ones.
        let uv_not_rqd = self.config.make_cred_uv_not_rqd && !self.always_uv;
        if protected && !uv && pin_auth.is_none() && (!uv_not_rqd || rk) {
            return Err(needs_uv);
        }
        // Step 9: enterpriseAttestation needs a device that supports it
        // and has it enabled (§6.11.1), else INVALID_PARAMETER; only 1
        // (vendor-facilitated, for the configured RP IDs: none here) and 2
        // (platform-managed) are values (§7.1), else INVALID_OPTION.
        let enterprise = match req.enterprise_attestation {
            None => false,
            Some(_) if !(self.enterprise_supported && self.enterprise_enabled) => {
                return Err(S::InvalidParameter);
            }
            Some(1) => false,
            Some(2) => true,
            Some(_) => return Err(S::InvalidOption),
        };
        // Step 11: user verification, by token or built in; the built-in
        // gesture is also presence (step 13).
        let mut flags = 0u8;
        let mut token_up = false;
        if let Some((protocol, param)) = &pin_auth {
            if !protected {
                return Err(S::PinNotSet);
            }
            token_up = self.check_token(
                *protocol,
                param,
                &req.client_data_hash,
                permission::MC,
                &req.rp.id,
            )?;
            flags |= FLAG_UV;
        } else if uv {
            self.builtin_uv()?;
            flags |= FLAG_UV | FLAG_UP;
        }
        // Step 12: a live credential of this RP in the excludeList; a
        // credProtect level 3 one counts only after UV (§12.1).
        let excluded = req.exclude_list.iter().any(|d| {
            self.creds.get(&d.id).is_some_and(|c| {
                c.alive && c.rp_id == req.rp.id && (c.cred_protect != 3 || flags & FLAG_UV != 0)
            })
        });
        if excluded {
            return Err(S::CredentialExcluded);
        }
        // Step 14: presence, unless step 11 collected it (a token's
        // user-present flag counts).
        if flags & FLAG_UP == 0 {
            if !token_up && self.presence() != PresencePolicy::Approve {
                return Err(S::OperationDenied);
            }
            flags |= FLAG_UP;
        }
        self.consume_token();
        // Step 15: extensions.
        let ext = parse_mc_extensions(&req.extensions)?;
        if ext.large_blob_key && !rk {
            // §12.3: a largeBlobKey only for a discoverable credential.
            return Err(S::InvalidOption);
        }
        // hmac-secret-mc (CTAP 2.2 §12.6) is evaluated with the other
        // extensions, before anything is stored: a failure leaves no
        // credential behind and replaces none (step 17 is never reached).
        let hmac_mc = match (&ext.hmac_secret_mc, ext.hmac_secret) {
            (Some(input), true) => Some(self.check_salts(input)?),
            _ => None,
        };
        // §12.4: minPinLength only for RP IDs authenticatorConfig listed
        // (§6.11.4 minPinLengthRPIDs).
        let min_pin_length = (ext.min_pin_length && self.min_pin_rp_ids.contains(&req.rp.id))
            .then_some(self.min_pin_length);
        // Step 17: a discoverable credential needs room, unless it replaces
        // the one of the same RP and user handle.
        if rk && self.model_discoverable_count() == self.capacity {
            let replaces = self.creds.values().any(|c| {
                c.alive && c.discoverable && c.rp_id == req.rp.id && c.user.id == req.user.id
            });
            if !replaces {
                return Err(S::KeyStoreFull);
            }
        }
        Ok(McPlan {
            rk,
            alg,
            flags,
            cred_protect: ext.cred_protect.unwrap_or(0),
            cred_blob: ext.cred_blob.map(|b| {
                // §12.2: stored with a discoverable credential, if it fits.
                let stored = rk && b.len() <= limits::MAX_CRED_BLOB_LENGTH;
                (b, stored)
            }),
            hmac_secret: ext.hmac_secret,
            hmac_mc,
            large_blob_key: ext.large_blob_key,
            min_pin_length,
            enterprise,
        })
    }

    fn after_make_credential(&mut self, params: &[u8], st: u8, body: Option<Vec<(Value, Value)>>) {
        let req = match make_credential::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(st, e as u8, "makeCredential on an undecodable request");
                return;
            }
        };
        let outcome = self.model_make_credential(&req);
        assert_eq!(
            st,
            code(&outcome),
            "makeCredential: device {st:#04x}, model {:?}",
            outcome.as_ref().err()
        );
        let Ok(plan) = outcome else { return };
        // The response (§6.1.2 steps 13–19): authenticator data with
        // attested credential data (WebAuthn §6.1, §6.5.2), UP always, UV
        // as verified, and the attestation statement.
        let body = body.expect("makeCredential body");
        let fmt = field(&body, 0x01)
            .and_then(|v| v.as_text())
            .expect("fmt")
            .to_owned();
        let auth_data = bytes_field(&body, 0x02).expect("authData");
        let Some(Value::Map(att_stmt)) = field(&body, 0x03) else {
            panic!("attStmt is not a map")
        };
        // §6.1.2 step 19: epAtt true exactly for an enterprise attestation.
        assert_eq!(
            field(&body, 0x04),
            plan.enterprise.then_some(&Value::Bool(true)),
            "epAtt"
        );
        let ad = parse_auth_data(&auth_data);
        assert_eq!(ad.rp_id_hash, sha256(req.rp.id.as_bytes()), "rpIdHash");
        assert_eq!(ad.flags & (FLAG_UP | FLAG_UV), plan.flags, "UP/UV flags");
        let be_bs = if self.config.backup == BackupFlags::Synced {
            FLAG_BE_BS
        } else {
            0
        };
        assert_eq!(ad.flags & FLAG_BE_BS, be_bs, "BE/BS flags");
        let authenticator_core_fuzz::Attested { aaguid, id, public } =
            ad.attested.expect("attested credential data");
        assert_eq!(aaguid, self.config.aaguid, "aaguid");
        assert!(
            id.len() <= limits::MAX_CREDENTIAL_ID_LENGTH,
            "credential ID too long"
        );
        assert!(
            matches!(
                (plan.alg, &public),
                (Algorithm::Es256, PublicKey::Es256(_)) | (Algorithm::EdDsa, PublicKey::EdDsa(_))
            ),
            "credential algorithm is not {:?}",
            plan.alg
        );
        assert!(!self.creds.contains_key(&id), "credential ID issued twice");

        // The key the device keeps for this ID is the one it published, and
        // the credProtect level goes with it: in the store for a
        // discoverable credential, sealed in the ID either way.
        let store = &self.auth.env().store;
        let master = store.master_secret().expect("master").expect("set");
        let sealed = seal::open(&master, &ad.rp_id_hash, &id).expect("credential ID does not open");
        assert_eq!(sealed.discoverable, plan.rk, "sealed discoverable bit");
        assert_eq!(sealed.cred_protect, plan.cred_protect, "sealed credProtect");
        assert_eq!(sealed.key.public_key().expect("key"), public, "sealed key");
        let expected_blob = plan
            .cred_blob
            .as_ref()
            .and_then(|(b, stored)| stored.then(|| b.clone()));
        match store.get(&id).expect("store get") {
            Some(c) => {
                assert!(plan.rk, "non-discoverable credential in the store");
                assert_eq!(c.user, req.user, "stored user");
                assert_eq!(c.key.public_key().expect("key"), public, "stored key");
                assert_eq!(c.cred_protect, plan.cred_protect, "stored credProtect");
                assert_eq!(c.cred_blob, expected_blob, "stored credBlob");
            }
            None => assert!(!plan.rk, "discoverable credential not stored"),
        }

        // Extension outputs (§12): exactly those of the processed inputs.
        let outputs = ad.extensions.unwrap_or_default();
        let mut expected_ids = Vec::new();
        if let Some((_, stored)) = &plan.cred_blob {
            expected_ids.push("credBlob");
            assert_eq!(
                text_field(&outputs, "credBlob"),
                Some(&Value::Bool(*stored))
            );
        }
        if plan.cred_protect != 0 {
            expected_ids.push("credProtect");
            assert_eq!(
                text_field(&outputs, "credProtect").and_then(|v| v.as_integer()),
                Some(plan.cred_protect.into()),
                "credProtect output"
            );
        }
        if let Some(min) = plan.min_pin_length {
            expected_ids.push("minPinLength");
            assert_eq!(
                text_field(&outputs, "minPinLength").and_then(|v| v.as_integer()),
                Some(min.into()),
                "minPinLength output"
            );
        }
        if plan.hmac_secret {
            expected_ids.push("hmac-secret");
            assert_eq!(
                text_field(&outputs, "hmac-secret"),
                Some(&Value::Bool(true))
            );
        }
        if let Some(salts) = &plan.hmac_mc {
            expected_ids.push("hmac-secret-mc");
            let out = text_field(&outputs, "hmac-secret-mc")
                .and_then(|v| v.as_bytes())
                .expect("hmac-secret-mc output")
                .clone();
            self.check_hmac_output(&id, plan.flags & FLAG_UV != 0, salts, &out);
        }
        let mut got: Vec<&str> = outputs.iter().filter_map(|(k, _)| k.as_text()).collect();
        got.sort_unstable();
        expected_ids.sort_unstable();
        assert_eq!(got, expected_ids, "extension outputs");
        assert_eq!(ad.flags & FLAG_ED != 0, !expected_ids.is_empty(), "ED flag");
        let large_blob_key = bytes_field(&body, 0x05);
        assert_eq!(
            large_blob_key.is_some(),
            plan.large_blob_key,
            "largeBlobKey"
        );
        if let Some(k) = &large_blob_key {
            assert_eq!(k.len(), 32, "largeBlobKey length");
        }

        // The attestation statement (§6.1.2 step 19; WebAuthn §8.2 packed:
        // full attestation with the batch key and x5c, self attestation
        // with the credential key).
        let signed = [auth_data.as_slice(), req.client_data_hash.as_slice()].concat();
        match fmt.as_str() {
            "none" => assert!(att_stmt.is_empty(), "none attStmt not empty"),
            "packed" => {
                let sig = text_field(att_stmt, "sig")
                    .and_then(|v| v.as_bytes())
                    .expect("packed sig");
                let sig_alg = text_field(att_stmt, "alg")
                    .and_then(|v| v.as_integer())
                    .map(i128::from)
                    .expect("packed alg");
                match text_field(att_stmt, "x5c") {
                    Some(_) => {
                        assert!(
                            self.config.attestation == AttestationMode::Batch || plan.enterprise,
                            "x5c from a device without batch attestation"
                        );
                        assert_eq!(sig_alg, -7, "batch attestation alg");
                        assert!(
                            fixture().batch_public.verify(&signed, sig),
                            "batch attestation signature does not verify"
                        );
                    }
                    None => {
                        assert!(!plan.enterprise, "enterprise attestation without x5c");
                        assert_eq!(self.config.attestation, AttestationMode::SelfAttestation);
                        assert_eq!(sig_alg, i128::from(plan.alg.cose()), "self attestation alg");
                        assert!(
                            public.verify(&signed, sig),
                            "self attestation signature does not verify"
                        );
                    }
                }
            }
            other => panic!("unexpected attestation format {other}"),
        }
        if plan.enterprise {
            // The harness gives the device the batch identity as its
            // enterprise identity, so the x5c branch above checked it.
            assert_eq!(fmt, "packed", "enterprise attestation format");
        } else if self.config.attestation == AttestationMode::None {
            assert_eq!(fmt, "none", "packed attestation from a none device");
        }

        // WebAuthn §6.1.1: a per-credential counter starts at 0; a global
        // one advances with every signature.
        match self.config.counter_mode {
            CounterMode::Global => {
                if let Some(last) = self.global_last {
                    assert!(ad.sign_count > last, "global counter did not advance");
                }
                self.global_last = Some(ad.sign_count);
            }
            _ => assert_eq!(ad.sign_count, 0, "registration counter"),
        }

        // §6.1.2 step 17: a discoverable credential replaces the one of
        // the same RP and user handle.
        if plan.rk {
            for c in self.creds.values_mut() {
                if c.alive && c.discoverable && c.rp_id == req.rp.id && c.user.id == req.user.id {
                    c.alive = false;
                }
            }
        }
        self.ids.push(id.clone());
        self.next_created += 1;
        self.creds.insert(
            id,
            Cred {
                public,
                rp_id: req.rp.id.clone(),
                rp_name: req.rp.name.clone(),
                user: req.user.clone(),
                discoverable: plan.rk,
                alive: true,
                last_counter: match self.config.counter_mode {
                    CounterMode::Global => Some(ad.sign_count),
                    _ => None,
                },
                cred_protect: plan.cred_protect,
                cred_blob: expected_blob,
                large_blob_key,
                created: self.next_created,
            },
        );
    }

    // -----------------------------------------------------------------------
    // authenticatorGetAssertion (§6.2.2) and authenticatorGetNextAssertion
    // (§6.3).

    /// Walks §6.2.2 for a decoded request up to the first credential;
    /// returns the plan and the applicable credentials in order.
    fn model_get_assertion(
        &mut self,
        req: &get_assertion::Request,
    ) -> Result<(AssertionPlan, Vec<Vec<u8>>), S> {
        let pin_auth = &req.pin_uv_auth;
        // Step 1.
        if pin_auth.param.as_deref().is_some_and(<[u8]>::is_empty) {
            return Err(self.pin_probe());
        }
        // Step 2.
        let pin_auth = match &pin_auth.param {
            Some(param) => Some((Self::pin_protocol(pin_auth.protocol)?, param.clone())),
            None => None,
        };
        // Step 4: "rk" is not a getAssertion option; "uv" needs a built-in
        // method and is ignored next to a pinUvAuthParam.
        if req.options.rk.is_some() {
            return Err(S::UnsupportedOption);
        }
        let mut uv = req.options.uv.unwrap_or(false) && pin_auth.is_none();
        let up = req.options.up.unwrap_or(true);
        if uv && !self.config.builtin_uv {
            return Err(S::InvalidOption);
        }
        let protected = self.protected();
        // Step 5: alwaysUv, for requests that want presence.
        if self.always_uv && up && pin_auth.is_none() && !uv {
            if !protected {
                return Err(S::OperationDenied);
            }
            if self.config.builtin_uv {
                uv = true;
            } else {
                return Err(S::PuatRequired);
            }
        }
        // Step 6: user verification, by token or built in.
        let mut flags = 0u8;
        let mut token_up = false;
        if let Some((protocol, param)) = &pin_auth {
            if !protected {
                return Err(S::PinNotSet);
            }
            token_up = self.check_token(
                *protocol,
                param,
                &req.client_data_hash,
                permission::GA,
                &req.rp_id,
            )?;
            flags |= FLAG_UV;
        } else if uv {
            self.builtin_uv()?;
            flags |= FLAG_UV | FLAG_UP;
        }
        let verified = flags & FLAG_UV != 0;
        // Step 7: the applicable credentials. credProtect (§12.1): level 3
        // needs UV; level 2 is found without UV only through the allowList.
        let credentials: Vec<Vec<u8>> = match &req.allow_list {
            Some(list) => list
                .iter()
                .map(|d| &d.id)
                .find(|id| {
                    self.creds.get(*id).is_some_and(|c| {
                        c.alive && c.rp_id == req.rp_id && (verified || c.cred_protect != 3)
                    })
                })
                .cloned()
                .into_iter()
                .collect(),
            None => {
                let mut found: Vec<(&Vec<u8>, &Cred)> = self
                    .creds
                    .iter()
                    .filter(|(_, c)| {
                        c.alive
                            && c.discoverable
                            && c.rp_id == req.rp_id
                            && (verified || c.cred_protect < 2)
                    })
                    .collect();
                // Step 12.2.1: the most recently created first.
                found.sort_by_key(|(_, c)| std::cmp::Reverse(c.created));
                found.into_iter().map(|(id, _)| id.clone()).collect()
            }
        };
        if credentials.is_empty() {
            return Err(S::NoCredentials);
        }
        // Step 9: presence when "up" is true, unless step 6 collected it.
        if up && flags & FLAG_UP == 0 {
            if !token_up && self.presence() != PresencePolicy::Approve {
                return Err(S::OperationDenied);
            }
            flags |= FLAG_UP;
        }
        if up {
            self.consume_token();
        }
        // Step 10: extensions.
        let ext = parse_ga_extensions(&req.extensions)?;
        let hmac = match &ext.hmac_secret {
            Some(input) => {
                let s = self.check_salts(input)?;
                Some((s.platform, s.salts))
            }
            None => None,
        };
        // Step 12: several credentials without an allowList make a
        // sequence; user names only then, and only after UV.
        let several = req.allow_list.is_none() && credentials.len() > 1;
        Ok((
            AssertionPlan {
                rp_id: req.rp_id.clone(),
                client_data_hash: req.client_data_hash.clone(),
                flags,
                identifying: several && verified,
                cred_blob: ext.cred_blob,
                large_blob_key: ext.large_blob_key,
                hmac,
            },
            credentials,
        ))
    }

    fn after_get_assertion(&mut self, params: &[u8], st: u8, body: Option<Vec<(Value, Value)>>) {
        let req = match get_assertion::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(st, e as u8, "getAssertion on an undecodable request");
                return;
            }
        };
        let outcome = self.model_get_assertion(&req);
        assert_eq!(
            st,
            code(&outcome),
            "getAssertion: device {st:#04x}, model {:?}",
            outcome.as_ref().err()
        );
        let Ok((plan, mut credentials)) = outcome else {
            return;
        };
        let body = body.expect("getAssertion body");
        let first = credentials.remove(0);
        let number = (!credentials.is_empty() && req.allow_list.is_none())
            .then(|| u32::try_from(credentials.len() + 1).expect("count"));
        self.check_assertion(&body, &plan, &first, number);
        if number.is_some() {
            self.sequence = Some(Sequence {
                plan,
                pending: credentials,
                last_ms: self.now,
            });
        }
    }

    fn after_get_next_assertion(
        &mut self,
        sequence: Option<Sequence>,
        st: u8,
        body: Option<Vec<(Value, Value)>>,
    ) {
        // §6.3 steps 1–3: a sequence with credentials left, the previous
        // assertion at most 30 s ago; otherwise NOT_ALLOWED.
        let Some(mut seq) = sequence.filter(|s| {
            !s.pending.is_empty()
                && self.now.saturating_sub(s.last_ms) <= limits::GET_NEXT_ASSERTION_WINDOW_MS
        }) else {
            assert_eq!(
                st,
                S::NotAllowed as u8,
                "getNextAssertion without a sequence"
            );
            return;
        };
        assert_eq!(st, 0, "getNextAssertion within its window");
        let next = seq.pending.remove(0);
        self.check_assertion(
            &body.expect("getNextAssertion body"),
            &seq.plan,
            &next,
            None,
        );
        if !seq.pending.is_empty() {
            seq.last_ms = self.now;
            self.sequence = Some(seq);
        }
    }

    /// Checks one assertion by credential `id` (§6.2.2 steps 11–13).
    fn check_assertion(
        &mut self,
        body: &[(Value, Value)],
        plan: &AssertionPlan,
        id: &[u8],
        number: Option<u32>,
    ) {
        let Some(Value::Map(descriptor)) = field(body, 0x01) else {
            panic!("assertion without a credential descriptor")
        };
        assert_eq!(
            text_field(descriptor, "id")
                .and_then(|v| v.as_bytes())
                .map(Vec::as_slice),
            Some(id),
            "assertion by another credential than the model's"
        );
        assert_eq!(
            text_field(descriptor, "type").and_then(|v| v.as_text()),
            Some("public-key")
        );
        let auth_data = bytes_field(body, 0x02).expect("authData");
        let signature = bytes_field(body, 0x03).expect("signature");
        let ad = parse_auth_data(&auth_data);
        assert!(ad.attested.is_none(), "AT set in an assertion");
        assert_eq!(ad.rp_id_hash, sha256(plan.rp_id.as_bytes()), "rpIdHash");
        assert_eq!(ad.flags & (FLAG_UP | FLAG_UV), plan.flags, "UP/UV flags");
        let be_bs = if self.config.backup == BackupFlags::Synced {
            FLAG_BE_BS
        } else {
            0
        };
        assert_eq!(ad.flags & FLAG_BE_BS, be_bs, "BE/BS flags");
        // Step 13: signed with the credential's key over authData ‖
        // clientDataHash.
        let cred = self.creds.get(id).expect("known credential");
        let signed = [auth_data.as_slice(), &plan.client_data_hash].concat();
        assert!(
            cred.public.verify(&signed, &signature),
            "assertion signature does not verify"
        );
        // The user entity: discoverable credentials only; names only when
        // identifying (§6.2.2 step 12.3).
        match field(body, 0x04) {
            Some(Value::Map(user)) => {
                assert!(
                    cred.discoverable,
                    "user entity for a non-discoverable credential"
                );
                let mut expected = vec![("id", Some(cbor::bytes(cred.user.id.clone())))];
                if plan.identifying {
                    expected.push(("name", cred.user.name.clone().map(Value::from)));
                    expected.push((
                        "displayName",
                        cred.user.display_name.clone().map(Value::from),
                    ));
                }
                let expected: Vec<(&str, Value)> = expected
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k, v)))
                    .collect();
                assert_eq!(user.len(), expected.len(), "user entity fields");
                for (k, v) in &expected {
                    assert_eq!(text_field(user, k), Some(v), "user.{k}");
                }
            }
            Some(other) => panic!("user is not a map: {other:?}"),
            None => assert!(
                !cred.discoverable,
                "no user entity for a discoverable credential"
            ),
        }
        let got_number = field(body, 0x05).map(|v| {
            let n = v.as_integer().map(i128::from).expect("numberOfCredentials");
            u32::try_from(n).expect("numberOfCredentials range")
        });
        assert_eq!(got_number, number, "numberOfCredentials");
        // §12.3: a largeBlobKey for discoverable credentials, always the
        // same one.
        let lbk = bytes_field(body, 0x07);
        assert_eq!(
            lbk.is_some(),
            plan.large_blob_key && cred.discoverable,
            "largeBlobKey presence"
        );
        let cred_blob = cred.cred_blob.clone().unwrap_or_default();
        if let Some(k) = lbk {
            let cred = self.creds.get_mut(id).expect("known credential");
            match &cred.large_blob_key {
                Some(known) => assert_eq!(known, &k, "largeBlobKey changed"),
                None => cred.large_blob_key = Some(k),
            }
        }
        // Extension outputs (§12.2 credBlob, §12.5 hmac-secret).
        let outputs = ad.extensions.unwrap_or_default();
        let mut expected_ids = Vec::new();
        if plan.cred_blob {
            expected_ids.push("credBlob");
            assert_eq!(
                text_field(&outputs, "credBlob"),
                Some(&cbor::bytes(cred_blob)),
                "credBlob output"
            );
        }
        if let Some((platform, salts)) = &plan.hmac {
            expected_ids.push("hmac-secret");
            let out = text_field(&outputs, "hmac-secret")
                .and_then(|v| v.as_bytes())
                .expect("hmac-secret output")
                .clone();
            let salts = Salts {
                platform: *platform,
                salts: salts.clone(),
            };
            self.check_hmac_output(id, plan.flags & FLAG_UV != 0, &salts, &out);
        }
        let got: Vec<&str> = outputs.iter().filter_map(|(k, _)| k.as_text()).collect();
        assert_eq!(got.len(), expected_ids.len(), "extension outputs {got:?}");
        assert_eq!(ad.flags & FLAG_ED != 0, !expected_ids.is_empty(), "ED flag");
        self.check_counter(id, ad.sign_count);
    }

    // -----------------------------------------------------------------------
    // authenticatorGetInfo (§6.4).

    fn after_get_info(&mut self, st: u8, body: Option<Vec<(Value, Value)>>) {
        assert_eq!(st, 0, "getInfo");
        let body = body.expect("getInfo body");
        let texts = |key: i64| -> Vec<String> {
            let Some(Value::Array(items)) = field(&body, key) else {
                panic!("getInfo {key:#04x} is not an array")
            };
            items
                .iter()
                .map(|v| v.as_text().expect("text").to_owned())
                .collect()
        };
        let int = |key: i64| {
            field(&body, key)
                .and_then(|v| v.as_integer())
                .map(i128::from)
        };
        assert_eq!(texts(0x01), ["U2F_V2", "FIDO_2_0", "FIDO_2_1"], "versions");
        assert_eq!(texts(0x02), EXTENSIONS, "extensions");
        assert_eq!(
            bytes_field(&body, 0x03).as_deref(),
            Some(&self.config.aaguid[..]),
            "aaguid"
        );
        let Some(Value::Map(options)) = field(&body, 0x04) else {
            panic!("getInfo options is not a map")
        };
        let option = |id: &str| text_field(options, id).map(|v| v.as_bool().expect("bool"));
        assert_eq!(option("rk"), Some(true), "rk");
        assert_eq!(option("up"), Some(true), "up");
        assert_eq!(option("plat"), Some(false), "plat");
        // clientPin: supported; true once a PIN is set.
        assert_eq!(option("clientPin"), Some(self.pin_set()), "clientPin");
        assert_eq!(option("pinUvAuthToken"), Some(true), "pinUvAuthToken");
        // uv: present with a built-in method.
        let uv = self.config.builtin_uv.then_some(true);
        assert_eq!(option("uv"), uv, "uv");
        assert_eq!(option("alwaysUv"), Some(self.always_uv), "alwaysUv");
        // No bio enrollment.
        assert_eq!(option("bioEnroll"), None, "bioEnroll");
        // §6.4: the commands this device implements (0x0A, 0x0C, 0x0D) and
        // setMinPINLength are advertised.
        for id in ["credMgmt", "largeBlobs", "authnrCfg", "setMinPINLength"] {
            assert_eq!(option(id), Some(true), "{id}");
        }
        // alwaysUv turns makeCredUvNotRqd off (§6.11.2).
        assert_eq!(
            option("makeCredUvNotRqd"),
            Some(self.config.make_cred_uv_not_rqd && !self.always_uv),
            "makeCredUvNotRqd"
        );
        // ep: present when enterprise attestation is supported, true once
        // enabled (§6.4, §6.11.1).
        assert_eq!(
            option("ep"),
            self.enterprise_supported.then_some(self.enterprise_enabled),
            "ep"
        );
        assert_eq!(
            int(0x0B),
            Some(limits::MAX_SERIALIZED_LARGE_BLOB_ARRAY as i128),
            "maxSerializedLargeBlobArray"
        );
        assert_eq!(
            int(0x10),
            Some(limits::MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH as i128),
            "maxRPIDsForSetMinPINLength"
        );
        assert_eq!(int(0x05), Some(limits::MAX_MSG_SIZE as i128), "maxMsgSize");
        assert_eq!(
            field(&body, 0x06),
            Some(&Value::Array(vec![2.into(), 1.into()])),
            "pinUvAuthProtocols"
        );
        assert_eq!(
            int(0x07),
            Some(limits::MAX_CREDENTIAL_COUNT_IN_LIST as i128)
        );
        assert_eq!(int(0x08), Some(limits::MAX_CREDENTIAL_ID_LENGTH as i128));
        assert_eq!(texts(0x09), ["usb"], "transports");
        let Some(Value::Array(algs)) = field(&body, 0x0A) else {
            panic!("algorithms is not an array")
        };
        let algs: Vec<i128> = algs
            .iter()
            .map(|a| {
                let Value::Map(a) = a else {
                    panic!("algorithm is not a map")
                };
                text_field(a, "alg")
                    .and_then(|v| v.as_integer())
                    .map(i128::from)
                    .expect("alg")
            })
            .collect();
        let expected: Vec<i128> = self
            .config
            .algorithms
            .iter()
            .map(|a| a.cose().into())
            .collect();
        assert_eq!(algs, expected, "algorithms");
        assert_eq!(
            field(&body, 0x0C),
            Some(&Value::Bool(self.force_pin_change)),
            "forcePINChange"
        );
        assert_eq!(int(0x0D), Some(self.min_pin_length.into()), "minPINLength");
        assert_eq!(
            int(0x0F),
            Some(limits::MAX_CRED_BLOB_LENGTH as i128),
            "maxCredBlobLength"
        );
        // uvModality with a built-in method (fingerprint).
        assert_eq!(int(0x12), self.config.builtin_uv.then_some(2), "uvModality");
        let remaining = int(0x14).expect("remainingDiscoverableCredentials");
        assert_eq!(
            usize::try_from(remaining).expect("remaining") + self.model_discoverable_count(),
            self.capacity,
            "remaining + stored != capacity"
        );
    }

    // -----------------------------------------------------------------------
    // authenticatorClientPIN (§6.5.5).

    /// The PIN check of changePIN and the token subcommands (§6.5.5.6,
    /// §6.5.5.7.1, §6.5.5.7.2): after three mismatches in this power cycle
    /// PIN_AUTH_BLOCKED at once; otherwise one retry is spent, a mismatch
    /// regenerates the key-agreement keys and answers PIN_BLOCKED with no
    /// retries left, PIN_AUTH_BLOCKED at the third mismatch, else
    /// PIN_INVALID; a match restores the retries.
    fn pin_hash_check(&mut self, peer: Peer, pin_hash_enc: &[u8]) -> Result<usize, S> {
        if self.mismatches >= limits::PIN_MISMATCHES_BEFORE_POWER_CYCLE {
            return Err(S::PinAuthBlocked);
        }
        self.pin_retries = self.pin_retries.saturating_sub(1);
        // Only a secret the harness shares can carry the right hash.
        let matched = match peer {
            Peer::Ours(i) => self.platform[i]
                .shared
                .decrypt(pin_hash_enc)
                .is_ok_and(|h| self.pin.as_deref().is_some_and(|p| h[..] == pin_hash(p)))
                .then_some(i),
            Peer::Foreign | Peer::Invalid => None,
        };
        let Some(i) = matched else {
            self.new_epoch();
            self.mismatches += 1;
            return Err(if self.pin_retries == 0 {
                S::PinBlocked
            } else if self.mismatches >= limits::PIN_MISMATCHES_BEFORE_POWER_CYCLE {
                S::PinAuthBlocked
            } else {
                S::PinInvalid
            });
        };
        self.mismatches = 0;
        self.pin_retries = MAX_PIN_RETRIES;
        Ok(i)
    }

    /// newPinEnc (§6.5.5.5 steps 5–8): 64 bytes of zero-padded PIN (else
    /// INVALID_PARAMETER), at most 63 bytes of UTF-8 with at least
    /// minPINLength code points (else PIN_POLICY_VIOLATION).
    fn new_pin(&self, peer: usize, new_pin_enc: &[u8]) -> Result<Vec<u8>, S> {
        let padded = self.platform[peer]
            .shared
            .decrypt(new_pin_enc)
            .map_err(|_| S::InvalidParameter)?;
        if padded.len() != 64 {
            return Err(S::InvalidParameter);
        }
        let end = padded.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let pin = &padded[..end];
        if pin.len() > limits::MAX_PIN_BYTES {
            return Err(S::PinPolicyViolation);
        }
        let points = std::str::from_utf8(pin)
            .map_err(|_| S::PinPolicyViolation)?
            .chars()
            .count();
        if points < usize::from(self.min_pin_length) {
            return Err(S::PinPolicyViolation);
        }
        Ok(pin.to_vec())
    }

    /// §6.5.5.7.2 steps 3–4: permissions must be non-zero and granted.
    fn check_permissions(p: u64) -> Result<(), S> {
        if p == 0 {
            return Err(S::InvalidParameter);
        }
        if p & !permission::SUPPORTED != 0 {
            return Err(S::UnauthorizedPermission);
        }
        Ok(())
    }

    /// A key-agreement member that decapsulates: the peer, or
    /// INVALID_PARAMETER.
    fn shared(&self, protocol: PinProtocol, ka: &Value) -> Result<Peer, S> {
        match self.peer(protocol, ka) {
            Peer::Invalid => Err(S::InvalidParameter),
            p => Ok(p),
        }
    }

    /// Walks the subcommand; a success is what the body must carry.
    fn model_client_pin(&mut self, req: &client_pin::Request) -> Result<PinAnswer, S> {
        match req.sub_command {
            // getPINRetries: pinRetries and whether a power cycle is due.
            SubCommand::GetPinRetries => Ok(PinAnswer::Retries),
            // getUVRetries: only with a built-in method.
            SubCommand::GetUvRetries => {
                if !self.config.builtin_uv {
                    return Err(S::NotAllowed);
                }
                Ok(PinAnswer::UvRetries)
            }
            // getKeyAgreement: the current key of the protocol.
            SubCommand::GetKeyAgreement => {
                Ok(PinAnswer::KeyAgreement(Self::pin_protocol(req.protocol)?))
            }
            // setPIN (§6.5.5.5): only while no PIN is set; the
            // pinUvAuthParam authenticates newPinEnc.
            SubCommand::SetPin => {
                let protocol = Self::pin_protocol(req.protocol)?;
                let (Some(ka), Some(new_pin_enc), Some(param)) = (
                    req.key_agreement.as_ref(),
                    req.new_pin_enc.as_deref(),
                    req.pin_uv_auth_param.as_deref(),
                ) else {
                    return Err(S::MissingParameter);
                };
                if self.pin_set() {
                    return Err(S::PinAuthInvalid);
                }
                let Peer::Ours(i) = self.shared(protocol, ka)? else {
                    return Err(S::PinAuthInvalid);
                };
                if !self.platform[i].shared.verify(new_pin_enc, param) {
                    return Err(S::PinAuthInvalid);
                }
                let pin = self.new_pin(i, new_pin_enc)?;
                self.pin = Some(pin);
                self.pin_retries = MAX_PIN_RETRIES;
                Ok(PinAnswer::Empty)
            }
            // changePIN (§6.5.5.6): the pinUvAuthParam authenticates
            // newPinEnc ‖ pinHashEnc; the old PIN is checked first; the
            // token in use is reset.
            SubCommand::ChangePin => {
                let protocol = Self::pin_protocol(req.protocol)?;
                let (Some(ka), Some(pin_hash_enc), Some(new_pin_enc), Some(param)) = (
                    req.key_agreement.as_ref(),
                    req.pin_hash_enc.as_deref(),
                    req.new_pin_enc.as_deref(),
                    req.pin_uv_auth_param.as_deref(),
                ) else {
                    return Err(S::MissingParameter);
                };
                if !self.pin_set() {
                    return Err(S::PinNotSet);
                }
                if self.pin_retries == 0 {
                    return Err(S::PinBlocked);
                }
                let Peer::Ours(i) = self.shared(protocol, ka)? else {
                    return Err(S::PinAuthInvalid);
                };
                let message = [new_pin_enc, pin_hash_enc].concat();
                if !self.platform[i].shared.verify(&message, param) {
                    return Err(S::PinAuthInvalid);
                }
                self.pin_hash_check(Peer::Ours(i), pin_hash_enc)?;
                let pin = self.new_pin(i, new_pin_enc)?;
                // §6.5.5.6: with forcePINChange the new PIN must differ
                // from the current one; a change clears forcePINChange.
                if self.force_pin_change && self.pin.as_deref() == Some(pin.as_slice()) {
                    return Err(S::PinPolicyViolation);
                }
                self.pin = Some(pin);
                self.force_pin_change = false;
                self.token = None;
                Ok(PinAnswer::Empty)
            }
            // getPinToken (§6.5.5.7.1): no permissions or RP ID, mc and ga
            // implied; getPinUvAuthTokenUsingPinWithPermissions
            // (§6.5.5.7.2). A PIN is not presence: the token's
            // user-present flag starts false.
            SubCommand::GetPinToken | SubCommand::GetPinUvAuthTokenUsingPinWithPermissions => {
                let protocol = Self::pin_protocol(req.protocol)?;
                let (Some(ka), Some(pin_hash_enc)) =
                    (req.key_agreement.as_ref(), req.pin_hash_enc.as_deref())
                else {
                    return Err(S::MissingParameter);
                };
                let (permissions, rp_id) = if req.sub_command == SubCommand::GetPinToken {
                    if req.permissions.is_some() || req.rp_id.is_some() {
                        return Err(S::InvalidParameter);
                    }
                    (permission::MC | permission::GA, None)
                } else {
                    let p = req.permissions.ok_or(S::MissingParameter)?;
                    Self::check_permissions(p)?;
                    (p, req.rp_id.clone())
                };
                if !self.pin_set() {
                    return Err(S::PinNotSet);
                }
                if self.pin_retries == 0 {
                    return Err(S::PinBlocked);
                }
                let peer = self.shared(protocol, ka)?;
                let i = self.pin_hash_check(peer, pin_hash_enc)?;
                // §6.5.5.7.1 / §6.5.5.7.2: after a matching PIN, a pending
                // forcePINChange refuses the token.
                if self.force_pin_change {
                    return Err(S::PinPolicyViolation);
                }
                Ok(PinAnswer::Token {
                    platform: Some(i),
                    protocol,
                    permissions,
                    rp_id,
                    user_present: false,
                })
            }
            // getPinUvAuthTokenUsingUvWithPermissions (§6.5.5.7.3):
            // built-in UV spends a uvRetry on a failed match (UV_INVALID,
            // UV_BLOCKED at 0) and restores them on success; the touch is
            // presence.
            SubCommand::GetPinUvAuthTokenUsingUvWithPermissions => {
                let protocol = Self::pin_protocol(req.protocol)?;
                let ka = req.key_agreement.as_ref().ok_or(S::MissingParameter)?;
                let permissions = req.permissions.ok_or(S::MissingParameter)?;
                Self::check_permissions(permissions)?;
                if !self.config.builtin_uv {
                    return Err(S::NotAllowed);
                }
                let peer = self.shared(protocol, ka)?;
                if self.uv_retries == 0 {
                    return Err(S::UvBlocked);
                }
                match self.presence() {
                    PresencePolicy::Deny => return Err(S::OperationDenied),
                    PresencePolicy::Timeout => return Err(S::UserActionTimeout),
                    PresencePolicy::Approve => {}
                }
                if !self.uv_succeeds() {
                    self.uv_retries -= 1;
                    return Err(if self.uv_retries == 0 {
                        S::UvBlocked
                    } else {
                        S::UvInvalid
                    });
                }
                self.uv_retries = self.config.uv_retries;
                Ok(PinAnswer::Token {
                    platform: match peer {
                        Peer::Ours(i) => Some(i),
                        _ => None,
                    },
                    protocol,
                    permissions,
                    rp_id: req.rp_id.clone(),
                    user_present: true,
                })
            }
        }
    }

    fn after_client_pin(&mut self, params: &[u8], st: u8, body: Option<Vec<(Value, Value)>>) {
        let req = match client_pin::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(st, e as u8, "clientPIN on an undecodable request");
                return;
            }
        };
        let outcome = self.model_client_pin(&req);
        assert_eq!(
            st,
            code(&outcome),
            "clientPIN {:?}: device {st:#04x}, model {:?}",
            req.sub_command,
            outcome.as_ref().err()
        );
        let Ok(answer) = outcome else { return };
        let body = body.unwrap_or_default();
        match answer {
            PinAnswer::Empty => assert!(body.is_empty()),
            PinAnswer::Retries => {
                let power_cycle = self.mismatches >= limits::PIN_MISMATCHES_BEFORE_POWER_CYCLE;
                let expected = MapBuilder::new()
                    .int(0x03, self.pin_retries)
                    .int(0x04, power_cycle)
                    .build();
                assert_eq!(Value::Map(body), expected, "getPINRetries");
            }
            PinAnswer::UvRetries => {
                let expected = MapBuilder::new().int(0x05, self.uv_retries).build();
                assert_eq!(Value::Map(body), expected, "getUVRetries");
            }
            PinAnswer::KeyAgreement(protocol) => {
                assert_eq!(body.len(), 1, "getKeyAgreement members");
                let key = field(&body, 0x01).expect("keyAgreement").clone();
                // §6.5.4: a key-agreement key lasts until the next
                // initialize() or regenerate().
                let slot = &mut self.agreement[protocol_index(protocol)];
                match slot {
                    Some(known) => assert_eq!(*known, key, "key-agreement key changed"),
                    None => {
                        assert!(
                            !self.old_agreements.contains(&key),
                            "key-agreement key not regenerated"
                        );
                        *slot = Some(key);
                    }
                }
            }
            PinAnswer::Token {
                platform,
                protocol,
                permissions,
                rp_id,
                user_present,
            } => {
                assert_eq!(body.len(), 1, "token response members");
                let enc = bytes_field(&body, 0x02).expect("pinUvAuthToken");
                let bytes = platform.map(|i| {
                    let t = self.platform[i]
                        .shared
                        .decrypt(&enc)
                        .expect("token does not decrypt")
                        .to_vec();
                    assert_eq!(t.len(), 32, "pinUvAuthToken length");
                    if let Some(old) = self.token.as_ref().and_then(|t| t.bytes.as_ref()) {
                        assert_ne!(old, &t, "pinUvAuthToken not renewed");
                    }
                    t
                });
                // resetPinUvAuthToken(), beginUsingPinUvAuthToken() (§6.5.4,
                // §6.5.2.1).
                self.token = Some(Token {
                    bytes,
                    protocol,
                    permissions,
                    rp_id,
                    issued_ms: self.now,
                    used: false,
                    user_present,
                    user_verified: true,
                });
            }
        }
    }

    /// New key-agreement keys (§6.5.4 initialize / regenerate).
    fn new_epoch(&mut self) {
        self.epoch += 1;
        for k in self.agreement.iter_mut().filter_map(Option::take) {
            self.old_agreements.push(k);
        }
    }

    /// The per-power-cycle PIN/UV state of a power-up (§6.5.4 initialize).
    fn power_up_pin_state(&mut self) {
        self.new_epoch();
        self.mismatches = 0;
        self.token = None;
    }

    // -----------------------------------------------------------------------
    // authenticatorReset (§6.6).

    fn after_reset(&mut self, st: u8) {
        // Within 10 s of power-up (unless the policy is "always"), then a
        // touch.
        let in_window = self.config.reset_policy == ResetPolicy::Always
            || self.now.saturating_sub(self.power_up) <= limits::RESET_WINDOW_MS;
        let expected = if !in_window {
            S::NotAllowed as u8
        } else {
            match self.presence() {
                PresencePolicy::Approve => 0,
                PresencePolicy::Deny => S::OperationDenied as u8,
                PresencePolicy::Timeout => S::UserActionTimeout as u8,
            }
        };
        assert_eq!(st, expected, "reset");
        if st != 0 {
            return;
        }
        // Every credential goes, and the PIN with its retries, uvRetries
        // and alwaysUv (back to the configured value); the PIN/UV state is
        // that of a power-up.
        for c in self.creds.values_mut() {
            c.alive = false;
        }
        self.global_last = None;
        self.pin = None;
        self.pin_retries = MAX_PIN_RETRIES;
        self.uv_retries = self.config.uv_retries;
        self.always_uv = self.config.always_uv;
        // The authenticatorConfig settings and the large-blob array return
        // to their initial values (§6.6, §6.10.3).
        self.min_pin_length = limits::DEFAULT_MIN_PIN_LENGTH;
        self.min_pin_rp_ids.clear();
        self.force_pin_change = false;
        self.enterprise_enabled = false;
        self.large_blob = initial_large_blob();
        self.lb_write = None;
        self.power_up_pin_state();
        assert_eq!(
            self.auth.env().store.all().count(),
            0,
            "store not empty after reset"
        );
    }

    // -----------------------------------------------------------------------
    // The operations.

    fn run(&mut self, op: &Op) {
        match op {
            Op::MakeCredential {
                rp,
                user,
                rk,
                uv,
                up,
                alg,
                exclude,
                client_data,
                formats,
                ext,
                auth,
                rp_name,
                enterprise,
            } => {
                let param = |a: i64| {
                    MapBuilder::new()
                        .text("alg", a)
                        .text("type", "public-key")
                        .build()
                };
                let algs = match alg % 4 {
                    0 => vec![param(-7)],
                    1 => vec![param(-8)],
                    2 => vec![param(-8), param(-7)],
                    _ => vec![param(-257)],
                };
                let rp = RPS[usize::from(*rp) % RPS.len()];
                let cdh = client_data_hash(*client_data);
                let mut options = MapBuilder::new().text("rk", *rk);
                if let Some(uv) = uv {
                    options = options.text("uv", *uv);
                }
                if let Some(up) = up {
                    options = options.text("up", *up);
                }
                // Extension inputs that need a key agreement first.
                let ext = ext.as_ref().map(|e| self.mc_extensions(e));
                let mut m = MapBuilder::new()
                    .int(0x01, cbor::bytes(cdh.clone()))
                    .int(0x02, {
                        let entity = MapBuilder::new().text("id", rp);
                        match rp_name {
                            true => entity.text("name", rp_display_name(rp)),
                            false => entity,
                        }
                        .build()
                    })
                    .int(
                        0x03,
                        MapBuilder::new()
                            .text("id", cbor::bytes(vec![user % 4]))
                            .text("name", format!("user{}", user % 4))
                            .build(),
                    )
                    .int(0x04, Value::Array(algs))
                    .int(0x07, options.build());
                if !exclude.is_empty() {
                    m = m.int(0x05, self.descriptors(exclude));
                }
                if let Some(ext) = ext {
                    m = m.int(0x06, ext);
                }
                let texts = |l: &[&str]| Value::Array(l.iter().map(|s| Value::from(*s)).collect());
                match formats % 4 {
                    1 => m = m.int(0x0B, texts(&["none"])),
                    2 => m = m.int(0x0B, texts(&["packed"])),
                    3 => m = m.int(0x0B, texts(&["x", "packed"])),
                    _ => {}
                }
                if let Some(e) = enterprise {
                    m = m.int(0x0A, u64::from(e % 4));
                }
                if let Some(a) = auth {
                    m = self.pin_uv_auth(m, *a, &cdh, 0x08, 0x09);
                }
                self.send(0x01, m.build());
            }
            Op::GetAssertion {
                rp,
                allow,
                up,
                uv,
                client_data,
                ext,
                auth,
            } => self.get_assertion(*rp, allow, *up, *uv, *client_data, ext.as_ref(), *auth),
            Op::GetNextAssertion => {
                self.exchange(&[0x08]);
            }
            Op::AssertAll {
                rp,
                up,
                uv,
                client_data,
                auth,
            } => {
                self.get_assertion(*rp, &[], *up, *uv, *client_data, None, *auth);
                for _ in 0..8 {
                    if self.sequence.is_none() {
                        break;
                    }
                    self.exchange(&[0x08]);
                }
            }
            Op::GetInfo => {
                self.exchange(&[0x04]);
            }
            Op::Reset => {
                self.exchange(&[0x07]);
            }
            Op::Selection => {
                self.exchange(&[0x0B]);
            }
            Op::PowerCycle => {
                self.auth.power_cycle();
                self.power_up = self.now;
                self.sequence = None;
                self.lb_write = None;
                self.cm_rps.clear();
                self.cm_creds.clear();
                self.power_up_pin_state();
            }
            Op::AdvanceClock(ms) => {
                self.now += u64::from(*ms);
                self.auth.env_mut().now_ms = self.now;
            }
            Op::SetPresence(p) => {
                self.auth.env_mut().presence = match p % 3 {
                    0 => PresencePolicy::Approve,
                    1 => PresencePolicy::Deny,
                    _ => PresencePolicy::Timeout,
                };
            }
            Op::SetUv(ok) => {
                self.auth.env_mut().uv = if *ok {
                    UvPolicy::Succeed
                } else {
                    UvPolicy::Fail
                };
            }
            Op::Raw(bytes) => {
                self.exchange(bytes);
            }
            Op::SetPin { v2, pin, fault } => {
                let protocol = protocol_of(*v2);
                let (ka, shared) = self.platform_key(protocol, *fault);
                let pin = PINS[usize::from(*pin) % PINS.len()];
                let padded = padded_pin(pin, matches!(fault, Fault::WrongLength));
                let new_pin_enc = self.encrypt(shared, &padded);
                let mut param = self.authenticate(shared, &new_pin_enc);
                if matches!(fault, Fault::BadAuth) {
                    param[0] ^= 1;
                }
                let m = MapBuilder::new()
                    .int(0x01, protocol.id())
                    .int(0x02, 0x03)
                    .int(0x03, ka)
                    .int(0x04, cbor::bytes(param))
                    .int(0x05, cbor::bytes(new_pin_enc));
                self.send(0x06, m.build());
            }
            Op::ChangePin {
                v2,
                current,
                new,
                fault,
            } => {
                let protocol = protocol_of(*v2);
                let (ka, shared) = self.platform_key(protocol, *fault);
                let current = self.pin_pick(*current);
                let pin_hash_enc = self.encrypt(shared, &pin_hash(&current));
                let new = PINS[usize::from(*new) % PINS.len()];
                let padded = padded_pin(new, matches!(fault, Fault::WrongLength));
                let new_pin_enc = self.encrypt(shared, &padded);
                let mut param =
                    self.authenticate(shared, &[new_pin_enc.as_slice(), &pin_hash_enc].concat());
                if matches!(fault, Fault::BadAuth) {
                    param[0] ^= 1;
                }
                let m = MapBuilder::new()
                    .int(0x01, protocol.id())
                    .int(0x02, 0x04)
                    .int(0x03, ka)
                    .int(0x04, cbor::bytes(param))
                    .int(0x05, cbor::bytes(new_pin_enc))
                    .int(0x06, cbor::bytes(pin_hash_enc));
                self.send(0x06, m.build());
            }
            Op::PinToken {
                v2,
                pin,
                permissions,
                rp,
                fault,
            } => {
                let protocol = protocol_of(*v2);
                let (ka, shared) = self.platform_key(protocol, *fault);
                let pin = self.pin_pick(*pin);
                let hash = match fault {
                    Fault::WrongLength => sha256(&pin).to_vec(),
                    _ => pin_hash(&pin).to_vec(),
                };
                let mut pin_hash_enc = self.encrypt(shared, &hash);
                if matches!(fault, Fault::BadAuth) {
                    let last = pin_hash_enc.len() - 1;
                    pin_hash_enc[last] ^= 1;
                }
                let mut m = MapBuilder::new()
                    .int(0x01, protocol.id())
                    .int(0x03, ka)
                    .int(0x06, cbor::bytes(pin_hash_enc));
                m = match permissions_value(*permissions) {
                    Some(p) => m.int(0x02, 0x09).int(0x09, p),
                    None => m.int(0x02, 0x05),
                };
                if let Some(rp) = rp {
                    m = m.int(0x0A, RPS[usize::from(*rp) % RPS.len()]);
                }
                self.send(0x06, m.build());
            }
            Op::UvToken {
                v2,
                permissions,
                rp,
                fault,
            } => {
                let protocol = protocol_of(*v2);
                let (ka, _) = self.platform_key(protocol, *fault);
                let mut m = MapBuilder::new().int(0x01, protocol.id()).int(0x02, 0x06);
                if !matches!(fault, Fault::WrongLength) {
                    m = m.int(0x03, ka);
                }
                if !matches!(fault, Fault::BadAuth) {
                    let p =
                        permissions_value(*permissions).unwrap_or(permission::MC | permission::GA);
                    m = m.int(0x09, p);
                }
                if let Some(rp) = rp {
                    m = m.int(0x0A, RPS[usize::from(*rp) % RPS.len()]);
                }
                self.send(0x06, m.build());
            }
            Op::Retries => {
                self.send(0x06, MapBuilder::new().int(0x02, 0x01).build());
                self.send(0x06, MapBuilder::new().int(0x02, 0x07).build());
            }
            Op::CredMgmt { preview, sub, auth } => self.cred_mgmt(*preview, sub, *auth),
            Op::Config { sub, auth } => self.config(sub, *auth),
            Op::LargeBlobGet { offset, get, junk } => {
                let offset = usize::from(*offset) % (self.large_blob.len() + 8);
                let mut m = MapBuilder::new().int(0x01, u64::from(*get % 8192));
                match junk % 8 {
                    0 => m = m.int(0x04, 17),
                    1 => m = m.int(0x05, cbor::bytes(vec![0; 32])).int(0x06, 2),
                    2 => m = m.int(0x02, cbor::bytes(vec![0x80])),
                    _ => {}
                }
                if junk % 8 != 3 {
                    m = m.int(0x03, offset as u64);
                }
                self.send(0x0C, m.build());
            }
            Op::LargeBlobWrite {
                data,
                fragment,
                corrupt,
                auth,
            } => {
                let body = cbor::encode(&Value::Array(vec![cbor::bytes(data.clone())]));
                let mut array = [body.as_slice(), &sha256(&body)[..16]].concat();
                if *corrupt {
                    let last = array.len() - 1;
                    array[last] ^= 1;
                }
                let step = usize::from(*fragment % 64) + 1;
                for (i, chunk) in array.chunks(step).enumerate() {
                    let offset = i * step;
                    let length = (offset == 0).then_some(array.len());
                    if self.large_blob_set(offset, chunk, length, *auth) != 0 {
                        break;
                    }
                }
            }
            Op::LargeBlobFragment {
                offset,
                data,
                size,
                length,
                auth,
            } => {
                let offset = if *offset < 0x8000 {
                    self.lb_write.as_ref().map_or(0, |(_, b)| b.len())
                } else {
                    usize::from(*offset % 8192)
                };
                let fragment = match size {
                    Some(n) => vec![0x5A; usize::from(*n)],
                    None => data.clone(),
                };
                let length = length.map(|l| usize::from(l % 8192));
                self.large_blob_set(offset, &fragment, length, *auth);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn get_assertion(
        &mut self,
        rp: u8,
        allow: &[Pick],
        up: Option<bool>,
        uv: Option<bool>,
        client_data: u8,
        ext: Option<&GaExtensions>,
        auth: Option<Auth>,
    ) {
        let rp = RPS[usize::from(rp) % RPS.len()];
        let cdh = client_data_hash(client_data);
        let ext = ext.map(|e| self.ga_extensions(e));
        let mut m = MapBuilder::new()
            .int(0x01, rp)
            .int(0x02, cbor::bytes(cdh.clone()));
        if !allow.is_empty() {
            m = m.int(0x03, self.descriptors(allow));
        }
        if let Some(ext) = ext {
            m = m.int(0x04, ext);
        }
        let mut options = MapBuilder::new();
        if let Some(up) = up {
            options = options.text("up", up);
        }
        if let Some(uv) = uv {
            options = options.text("uv", uv);
        }
        let options = options.build();
        if !matches!(&options, Value::Map(o) if o.is_empty()) {
            m = m.int(0x05, options);
        }
        if let Some(a) = auth {
            m = self.pin_uv_auth(m, a, &cdh, 0x06, 0x07);
        }
        self.send(0x02, m.build());
    }

    /// Adds pinUvAuthParam / pinUvAuthProtocol computed from the token the
    /// model holds (32 zero bytes when it holds none).
    fn pin_uv_auth(
        &self,
        m: MapBuilder,
        auth: Auth,
        cdh: &[u8],
        param_key: i64,
        protocol_key: i64,
    ) -> MapBuilder {
        let (token, protocol) = match &self.token {
            Some(t) => (t.bytes.clone().unwrap_or_else(|| vec![0; 32]), t.protocol),
            None => (vec![0; 32], PinProtocol::V2),
        };
        let protocol = match auth {
            Auth::OtherProtocol => other_protocol(protocol),
            _ => protocol,
        };
        let mut param = protocol.authenticate(&token, cdh);
        match auth {
            Auth::Tampered => param[0] ^= 1,
            Auth::Empty => param.clear(),
            _ => {}
        }
        let m = m.int(param_key, cbor::bytes(param));
        match auth {
            Auth::NoProtocol => m,
            Auth::BadProtocol => m.int(protocol_key, 3),
            _ => m.int(protocol_key, protocol.id()),
        }
    }

    /// getKeyAgreement (an exchange of its own), then a platform key for
    /// the request: ours, or the one `fault` asks for. Returns the COSE key
    /// to send and the index of the shared secret to use (a fresh unshared
    /// one for a stale or bad key, so the request is well formed).
    fn platform_key(&mut self, protocol: PinProtocol, fault: Fault) -> (Value, usize) {
        self.send(
            0x06,
            MapBuilder::new()
                .int(0x01, protocol.id())
                .int(0x02, 0x02)
                .build(),
        );
        let device_key = self.agreement[protocol_index(protocol)]
            .clone()
            .expect("getKeyAgreement answered");
        let (cose, shared) =
            encapsulate(protocol, &device_key, &mut self.rng).expect("device key is a point");
        self.platform.push(PlatformKey {
            cose: cose.clone(),
            protocol,
            epoch: self.epoch,
            shared,
        });
        let ours = self.platform.len() - 1;
        match fault {
            Fault::StaleKey => {
                // A key from an earlier epoch if there is one, else one
                // agreed with a key the device never had.
                let stale = self
                    .platform
                    .iter()
                    .rposition(|k| k.epoch != self.epoch && k.protocol == protocol);
                match stale {
                    Some(i) => (self.platform[i].cose.clone(), i),
                    None => {
                        let other = KeyAgreementKey::generate(&mut self.rng).public_cose();
                        let (cose, _) =
                            encapsulate(protocol, &other, &mut self.rng).expect("point");
                        (cose, ours)
                    }
                }
            }
            Fault::BadKey => {
                // crv 2 (P-384) is not a key this device accepts.
                let Value::Map(mut m) = cose else {
                    unreachable!()
                };
                for (k, v) in &mut m {
                    if *k == Value::from(-1) {
                        *v = Value::from(2);
                    }
                }
                (Value::Map(m), ours)
            }
            _ => (cose, ours),
        }
    }

    fn encrypt(&mut self, shared: usize, plaintext: &[u8]) -> Vec<u8> {
        self.platform[shared]
            .shared
            .encrypt(&mut self.rng, plaintext)
            .expect("whole blocks")
    }

    fn authenticate(&self, shared: usize, message: &[u8]) -> Vec<u8> {
        self.platform[shared].shared.authenticate(message)
    }

    fn pin_pick(&self, p: PinPick) -> Vec<u8> {
        match p {
            PinPick::Current => self.pin.clone().unwrap_or_else(|| INITIAL_PIN.to_vec()),
            PinPick::Candidate(n) => PINS[usize::from(n) % PINS.len()].to_vec(),
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

    fn mc_extensions(&mut self, e: &McExtensions) -> Value {
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

    fn ga_extensions(&mut self, e: &GaExtensions) -> Value {
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

    fn descriptors(&self, picks: &[Pick]) -> Value {
        Value::Array(
            picks
                .iter()
                .take(limits::MAX_CREDENTIAL_COUNT_IN_LIST)
                .map(|p| {
                    MapBuilder::new()
                        .text("id", cbor::bytes(self.pick(p)))
                        .text("type", "public-key")
                        .build()
                })
                .collect(),
        )
    }

    fn send(&mut self, cmd: u8, params: Value) -> u8 {
        let mut message = vec![cmd];
        message.extend_from_slice(&cbor::encode(&params));
        self.exchange(&message)
    }
}

/// What a clientPIN success must carry.
enum PinAnswer {
    /// setPIN, changePIN: nothing.
    Empty,
    /// getPINRetries.
    Retries,
    /// getUVRetries.
    UvRetries,
    /// getKeyAgreement for this protocol.
    KeyAgreement(PinProtocol),
    /// A new pinUvAuthToken, encrypted for `platform` (when it is ours).
    Token {
        platform: Option<usize>,
        protocol: PinProtocol,
        permissions: u64,
        rp_id: Option<String>,
        user_present: bool,
    },
}

/// The PIN zero-padded to 64 bytes (§6.5.5.5), or to 32 for a malformed
/// request.
fn padded_pin(pin: &[u8], short: bool) -> Vec<u8> {
    let mut p = pin.to_vec();
    p.resize(if short { 32 } else { 64 }, 0);
    p
}

fn permissions_value(p: Permissions) -> Option<u64> {
    match p {
        Permissions::McGa => Some(permission::MC | permission::GA),
        Permissions::Mc => Some(permission::MC),
        Permissions::Ga => Some(permission::GA),
        Permissions::Legacy => None,
        Permissions::Cm => Some(permission::CM),
        Permissions::Lbw => Some(permission::LBW),
        Permissions::Acfg => Some(permission::ACFG),
        Permissions::All => Some(permission::SUPPORTED),
        Permissions::Bits(b) => Some(u64::from(b)),
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
fn parse_mc_extensions(inputs: &[(String, Value)]) -> Result<McExtIn, S> {
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
fn parse_ga_extensions(inputs: &[(String, Value)]) -> Result<GaExtIn, S> {
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

/// The serialized large-blob array of a fresh device (CTAP 2.1 §6.10.3):
/// the empty CBOR array and LEFT(SHA-256(0x80), 16).
fn initial_large_blob() -> Vec<u8> {
    [&[0x80u8][..], &sha256(&[0x80])[..16]].concat()
}

/// The rp.name makeCredential sends for an RP when it sends one.
fn rp_display_name(rp: &str) -> String {
    format!("RP {rp}")
}

/// maxFragmentLength: maxMsgSize − 64 (CTAP 2.1 §6.10.1).
const MAX_FRAGMENT_LENGTH: usize = limits::MAX_MSG_SIZE - 64;

/// What a credential management success must carry (§6.8).
enum CmAnswer {
    /// getCredsMetadata (§6.8.2).
    Metadata,
    /// One of these RPs; `total` for enumerateRPsBegin (§6.8.3).
    Rp {
        of: Vec<RpSnap>,
        total: Option<usize>,
    },
    /// One of these credentials; `total` for enumerateCredentialsBegin
    /// (§6.8.4).
    Cred {
        of: Vec<CredSnap>,
        total: Option<usize>,
    },
    /// deleteCredential, updateUserInformation: CTAP2_OK alone.
    Empty,
}

impl Harness {
    /// verify(pinUvAuthToken, message, pinUvAuthParam) and the permission
    /// check of the commands that are not bound to a request's RP
    /// (credential management §6.8, largeBlobs §6.10.2 step 5.e,
    /// authenticatorConfig §6.11): the token must be in use under this
    /// protocol and carry `permission`; every failure is PIN_AUTH_INVALID.
    fn verify_token(
        &mut self,
        protocol: PinProtocol,
        param: &[u8],
        message: &[u8],
        permission: u64,
    ) -> Result<(), S> {
        self.expire_token();
        let t = self.token.as_mut().ok_or(S::PinAuthInvalid)?;
        let verifies = t
            .bytes
            .as_ref()
            .is_some_and(|b| protocol.verify(b, message, param));
        if t.protocol != protocol || !verifies || t.permissions & permission != permission {
            return Err(S::PinAuthInvalid);
        }
        t.used = true;
        Ok(())
    }

    /// "Protected by some form of user verification" or alwaysUv: then
    /// largeBlobs writes and authenticatorConfig need a token (§6.10.2
    /// step 5.e, §6.11).
    fn needs_token(&self) -> bool {
        self.protected() || self.always_uv
    }

    // -----------------------------------------------------------------------
    // authenticatorCredentialManagement (§6.8).

    fn rp_snaps(&self) -> Vec<RpSnap> {
        let mut rps: Vec<RpSnap> = Vec::new();
        for c in self.creds.values().filter(|c| c.alive && c.discoverable) {
            match rps.iter_mut().find(|r| r.id == c.rp_id) {
                Some(r) => {
                    if r.name.is_none() {
                        r.name = c.rp_name.clone();
                    }
                }
                None => rps.push(RpSnap {
                    id: c.rp_id.clone(),
                    name: c.rp_name.clone(),
                }),
            }
        }
        rps
    }

    /// Walks §6.8 for a decoded request: the pinUvAuthParam over
    /// subCommand ‖ subCommandParams from a token with the cm permission
    /// (PUAT_REQUIRED without one; the GetNext subcommands continue an
    /// authenticated Begin and carry none), then the subcommand.
    fn model_cred_mgmt(&mut self, req: &cred_mgmt::Request) -> Result<CmAnswer, S> {
        use cred_mgmt::SubCommand as C;
        if req.sub_command.needs_auth() {
            let param = req.pin_uv_auth_param.as_deref().ok_or(S::PuatRequired)?;
            let protocol = Self::pin_protocol(req.protocol)?;
            let message = [&[req.sub_command as u8][..], &req.params_bytes].concat();
            self.verify_token(protocol, param, &message, permission::CM)?;
        }
        // The token's permissions RP ID (§6.5.5.7: a cm token may be bound
        // to one RP).
        let bound = self.token.as_ref().and_then(|t| t.rp_id.clone());
        // §6.8.4–§6.8.6: a bound token manages only its RP's credentials.
        let bound_elsewhere = |rp_id: &str| bound.as_deref().is_some_and(|b| b != rp_id);
        match req.sub_command {
            // §6.8.2, §6.8.3: device-wide data needs a token without a
            // permissions RP ID.
            C::GetCredsMetadata => match bound {
                Some(_) => Err(S::PinAuthInvalid),
                None => Ok(CmAnswer::Metadata),
            },
            C::EnumerateRpsBegin => {
                if bound.is_some() {
                    return Err(S::PinAuthInvalid);
                }
                let rps = self.rp_snaps();
                if rps.is_empty() {
                    return Err(S::NoCredentials);
                }
                let total = Some(rps.len());
                Ok(CmAnswer::Rp { of: rps, total })
            }
            // Without an enumeration in progress (or past its end):
            // NOT_ALLOWED, as for getNextAssertion (§6.3).
            C::EnumerateRpsGetNextRp if self.cm_rps.is_empty() => Err(S::NotAllowed),
            C::EnumerateRpsGetNextRp => Ok(CmAnswer::Rp {
                of: self.cm_rps.clone(),
                total: None,
            }),
            C::EnumerateCredentialsBegin => {
                let hash = req.params.rp_id_hash.ok_or(S::MissingParameter)?;
                if bound
                    .as_deref()
                    .is_some_and(|b| sha256(b.as_bytes()) != hash)
                {
                    return Err(S::PinAuthInvalid);
                }
                let creds: Vec<CredSnap> = self
                    .creds
                    .iter()
                    .filter(|(_, c)| {
                        c.alive && c.discoverable && sha256(c.rp_id.as_bytes()) == hash
                    })
                    .map(|(id, c)| CredSnap {
                        id: id.clone(),
                        user: c.user.clone(),
                        public: c.public.clone(),
                        cred_protect: c.cred_protect,
                        large_blob_key: c.large_blob_key.clone(),
                    })
                    .collect();
                if creds.is_empty() {
                    return Err(S::NoCredentials);
                }
                let total = Some(creds.len());
                Ok(CmAnswer::Cred { of: creds, total })
            }
            C::EnumerateCredentialsGetNextCredential if self.cm_creds.is_empty() => {
                Err(S::NotAllowed)
            }
            C::EnumerateCredentialsGetNextCredential => Ok(CmAnswer::Cred {
                of: self.cm_creds.clone(),
                total: None,
            }),
            // §6.8.5: a stored discoverable credential (else
            // NO_CREDENTIALS), of the token's RP if it has one.
            C::DeleteCredential => {
                let id = &req
                    .params
                    .credential_id
                    .as_ref()
                    .ok_or(S::MissingParameter)?
                    .id;
                let cred = self
                    .creds
                    .get(id)
                    .filter(|c| c.alive && c.discoverable)
                    .ok_or(S::NoCredentials)?;
                if bound_elsewhere(&cred.rp_id) {
                    return Err(S::PinAuthInvalid);
                }
                self.creds.get_mut(id).expect("known").alive = false;
                // The device ends its enumerations after a deletion.
                self.cm_rps.clear();
                self.cm_creds.clear();
                Ok(CmAnswer::Empty)
            }
            // §6.8.6: the user handle must be the credential's (else
            // INVALID_PARAMETER); name and displayName are replaced, and one
            // absent or empty in the request is removed.
            C::UpdateUserInformation => {
                let (Some(d), Some(user)) = (&req.params.credential_id, &req.params.user) else {
                    return Err(S::MissingParameter);
                };
                let cred = self
                    .creds
                    .get(&d.id)
                    .filter(|c| c.alive && c.discoverable)
                    .ok_or(S::NoCredentials)?;
                if bound_elsewhere(&cred.rp_id) {
                    return Err(S::PinAuthInvalid);
                }
                if user.id != cred.user.id {
                    return Err(S::InvalidParameter);
                }
                let non_empty = |n: &Option<String>| n.clone().filter(|n| !n.is_empty());
                // §6.8.6: absent or empty names are removed.
                let updated = User {
                    id: user.id.clone(),
                    name: non_empty(&user.name),
                    display_name: non_empty(&user.display_name),
                };
                self.creds.get_mut(&d.id).expect("known").user = updated;
                Ok(CmAnswer::Empty)
            }
        }
    }

    fn after_cred_mgmt(&mut self, params: &[u8], st: u8, body: Option<Vec<(Value, Value)>>) {
        let req = match cred_mgmt::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(
                    st, e as u8,
                    "credential management on an undecodable request"
                );
                return;
            }
        };
        let outcome = self.model_cred_mgmt(&req);
        assert_eq!(
            st,
            code(&outcome),
            "credential management {:?}: device {st:#04x}, model {:?}",
            req.sub_command,
            outcome.as_ref().err()
        );
        let Ok(answer) = outcome else { return };
        let body = body.unwrap_or_default();
        let keys = |body: &[(Value, Value)]| -> Vec<i128> {
            body.iter()
                .map(|(k, _)| k.as_integer().map(i128::from).expect("integer key"))
                .collect()
        };
        match answer {
            CmAnswer::Empty => assert!(body.is_empty()),
            // §6.8.2: existingResidentCredentialsCount and
            // maxPossibleRemainingResidentCredentialsCount.
            CmAnswer::Metadata => {
                let stored = self.model_discoverable_count();
                let expected = MapBuilder::new()
                    .int(0x01, stored as u64)
                    .int(0x02, (self.capacity - stored) as u64)
                    .build();
                assert_eq!(Value::Map(body), expected, "getCredsMetadata");
            }
            // §6.8.3: rp (id, name when known), rpIDHash and, for Begin,
            // totalRPs; each RP exactly once.
            CmAnswer::Rp { mut of, total } => {
                let mut expected_keys = vec![0x03, 0x04];
                if total.is_some() {
                    expected_keys.push(0x05);
                }
                assert_eq!(keys(&body), expected_keys, "enumerateRPs members");
                let Some(Value::Map(rp)) = field(&body, 0x03) else {
                    panic!("rp is not a map")
                };
                let id = text_field(rp, "id")
                    .and_then(|v| v.as_text())
                    .expect("rp.id")
                    .to_owned();
                let name = text_field(rp, "name").map(|v| v.as_text().expect("rp.name").to_owned());
                assert_eq!(rp.len(), 1 + usize::from(name.is_some()), "rp members");
                let got = RpSnap { id, name };
                let i = of
                    .iter()
                    .position(|r| *r == got)
                    .unwrap_or_else(|| panic!("enumerateRPs gave {got:?}, expected one of {of:?}"));
                of.remove(i);
                assert_eq!(
                    bytes_field(&body, 0x04),
                    Some(sha256(got.id.as_bytes()).to_vec()),
                    "rpIDHash"
                );
                if let Some(total) = total {
                    assert_eq!(
                        field(&body, 0x05),
                        Some(&Value::from(total as u64)),
                        "totalRPs"
                    );
                }
                self.cm_rps = of;
            }
            // §6.8.4: user, credentialID, publicKey, totalCredentials (for
            // Begin), credProtect and largeBlobKey; each credential once.
            CmAnswer::Cred { mut of, total } => {
                let mut expected_keys = vec![0x06, 0x07, 0x08, 0x0A, 0x0B];
                if total.is_some() {
                    expected_keys.insert(3, 0x09);
                }
                assert_eq!(keys(&body), expected_keys, "enumerateCredentials members");
                let Some(Value::Map(descriptor)) = field(&body, 0x07) else {
                    panic!("credentialID is not a map")
                };
                let id = text_field(descriptor, "id")
                    .and_then(|v| v.as_bytes())
                    .expect("credentialID.id")
                    .clone();
                assert_eq!(
                    text_field(descriptor, "type").and_then(|v| v.as_text()),
                    Some("public-key")
                );
                let i = of
                    .iter()
                    .position(|c| c.id == id)
                    .unwrap_or_else(|| panic!("enumerateCredentials gave {id:02x?}"));
                let snap = of.remove(i);
                let mut user = vec![(Value::from("id"), cbor::bytes(snap.user.id.clone()))];
                if let Some(n) = &snap.user.name {
                    user.push((Value::from("name"), Value::from(n.as_str())));
                }
                if let Some(n) = &snap.user.display_name {
                    user.push((Value::from("displayName"), Value::from(n.as_str())));
                }
                let Some(Value::Map(got_user)) = field(&body, 0x06) else {
                    panic!("user is not a map")
                };
                assert_eq!(got_user.len(), user.len(), "user members");
                for (k, v) in &user {
                    assert_eq!(text_field(got_user, k.as_text().expect("text")), Some(v));
                }
                assert_eq!(
                    authenticator_core_fuzz::public_key_from_cose(
                        field(&body, 0x08).expect("publicKey")
                    ),
                    snap.public,
                    "publicKey"
                );
                if let Some(total) = total {
                    assert_eq!(
                        field(&body, 0x09),
                        Some(&Value::from(total as u64)),
                        "totalCredentials"
                    );
                }
                // §12.1: a credential made without credProtect has level 1.
                assert_eq!(
                    field(&body, 0x0A),
                    Some(&Value::from(u64::from(snap.cred_protect.max(1)))),
                    "credProtect"
                );
                // The same largeBlobKey as makeCredential / getAssertion.
                let lbk = bytes_field(&body, 0x0B).expect("largeBlobKey");
                assert_eq!(lbk.len(), 32, "largeBlobKey length");
                match &snap.large_blob_key {
                    Some(known) => assert_eq!(known, &lbk, "largeBlobKey changed"),
                    None => {
                        if let Some(c) = self.creds.get_mut(&id) {
                            match &c.large_blob_key {
                                Some(known) => assert_eq!(known, &lbk, "largeBlobKey changed"),
                                None => c.large_blob_key = Some(lbk),
                            }
                        }
                    }
                }
                self.cm_creds = of;
            }
        }
    }

    /// Drives one credential management operation.
    fn cred_mgmt(&mut self, preview: bool, sub: &CmSub, auth: Option<Auth>) {
        let cmd = if preview { 0x41 } else { 0x0A };
        let descriptor = |id: Vec<u8>| {
            MapBuilder::new()
                .text("id", cbor::bytes(id))
                .text("type", "public-key")
                .build()
        };
        let (number, params, all) = match sub {
            CmSub::Metadata => (0x01, None, false),
            CmSub::Rps { all } => (0x02, None, *all),
            CmSub::NextRp => (0x03, None, false),
            CmSub::Credentials { rp, all } => {
                let hash = match RPS.get(usize::from(*rp)) {
                    Some(rp) => sha256(rp.as_bytes()),
                    None => sha256(&[*rp]),
                };
                let p = MapBuilder::new().int(0x01, cbor::bytes(hash.to_vec()));
                (0x04, Some(p.build()), *all)
            }
            CmSub::NextCredential => (0x05, None, false),
            CmSub::Delete(pick) => {
                let p = MapBuilder::new().int(0x02, descriptor(self.pick(pick)));
                (0x06, Some(p.build()), false)
            }
            CmSub::Update {
                cred,
                other_user,
                name,
                display_name,
            } => {
                let id = self.pick(cred);
                let handle = match (self.creds.get(&id), other_user) {
                    (Some(c), false) => c.user.id.clone(),
                    _ => vec![0xEE],
                };
                let text = |n: &Option<u8>, what: &str| {
                    n.map(|n| match n {
                        0 => String::new(),
                        n => format!("{what}{n}"),
                    })
                };
                let mut user = MapBuilder::new().text("id", cbor::bytes(handle));
                if let Some(n) = text(name, "name") {
                    user = user.text("name", n);
                }
                if let Some(n) = text(display_name, "Display ") {
                    user = user.text("displayName", n);
                }
                let p = MapBuilder::new()
                    .int(0x02, descriptor(id))
                    .int(0x03, user.build());
                (0x07, Some(p.build()), false)
            }
            CmSub::Bare(n) => (u64::from(n % 9), None, false),
        };
        let mut m = MapBuilder::new().int(0x01, number);
        let mut message = vec![number as u8];
        if let Some(p) = params {
            message.extend_from_slice(&cbor::encode(&p));
            m = m.int(0x02, p);
        }
        if let Some(a) = auth {
            m = self.pin_uv_auth(m, a, &message, 0x04, 0x03);
        }
        if self.send(cmd, m.build()) != 0 || !all {
            return;
        }
        // The rest of the enumeration (GetNext carries no auth).
        for _ in 0..8 {
            let pending = match number {
                0x02 => !self.cm_rps.is_empty(),
                _ => !self.cm_creds.is_empty(),
            };
            if !pending {
                break;
            }
            self.send(cmd, MapBuilder::new().int(0x01, number + 1).build());
        }
    }

    // -----------------------------------------------------------------------
    // authenticatorConfig (§6.11).

    /// Walks §6.11 for a decoded request: on a protected device (or with
    /// alwaysUv) a pinUvAuthParam over 32×0xff ‖ 0x0d ‖ uint8(subCommand) ‖
    /// subCommandParams from a token with the acfg permission, then the
    /// subcommand.
    fn model_config(&mut self, req: &cfg_wire::Request) -> Result<(), S> {
        if self.needs_token() {
            let param = req.pin_uv_auth_param.as_deref().ok_or(S::PuatRequired)?;
            let protocol = Self::pin_protocol(req.pin_uv_auth_protocol)?;
            let mut message = vec![0xff; 32];
            message.extend_from_slice(&[0x0d, req.sub_command.id()]);
            message.extend_from_slice(req.sub_command_params.as_deref().unwrap_or_default());
            self.verify_token(protocol, param, &message, permission::ACFG)?;
        }
        match req.sub_command {
            // §6.11.1: only on a device that supports enterprise
            // attestation (else INVALID_PARAMETER).
            cfg_wire::SubCommand::EnableEnterpriseAttestation => {
                if !self.enterprise_supported {
                    return Err(S::InvalidParameter);
                }
                self.enterprise_enabled = true;
            }
            // §6.11.2: this device lets alwaysUv be turned off again.
            cfg_wire::SubCommand::ToggleAlwaysUv => self.always_uv = !self.always_uv,
            // §6.11.4: the minimum only grows (else PIN_POLICY_VIOLATION);
            // this device refuses a minimum no PIN of 63 bytes can meet
            // (INVALID_PARAMETER) and more than maxRPIDsForSetMinPINLength
            // RP IDs (INVALID_LENGTH); forceChangePin needs a PIN
            // (PIN_NOT_SET); a PIN shorter than the new minimum must be
            // changed (forcePINChange).
            cfg_wire::SubCommand::SetMinPinLength => {
                let p = req.set_min_pin_length.clone().unwrap_or_default();
                let current = u64::from(self.min_pin_length);
                let new_min = p.new_min_pin_length.unwrap_or(current);
                if new_min < current {
                    return Err(S::PinPolicyViolation);
                }
                let new_min = u8::try_from(new_min)
                    .ok()
                    .filter(|&n| usize::from(n) <= limits::MAX_PIN_BYTES)
                    .ok_or(S::InvalidParameter)?;
                if p.min_pin_length_rp_ids
                    .as_ref()
                    .is_some_and(|ids| ids.len() > limits::MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH)
                {
                    return Err(S::InvalidLength);
                }
                let force = p.force_change_pin.unwrap_or(false);
                if force && !self.pin_set() {
                    return Err(S::PinNotSet);
                }
                self.min_pin_length = new_min;
                if let Some(ids) = p.min_pin_length_rp_ids {
                    self.min_pin_rp_ids = ids;
                }
                let points = self
                    .pin
                    .as_deref()
                    .map(|p| String::from_utf8_lossy(p).chars().count());
                if force || points.is_some_and(|n| n < usize::from(new_min)) {
                    self.force_pin_change = true;
                }
            }
        }
        Ok(())
    }

    fn after_config(&mut self, params: &[u8], st: u8) {
        let req = match cfg_wire::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(st, e as u8, "authenticatorConfig on an undecodable request");
                return;
            }
        };
        let outcome = self.model_config(&req);
        assert_eq!(
            st,
            code(&outcome),
            "authenticatorConfig {:?}: device {st:#04x}, model {:?}",
            req.sub_command,
            outcome.as_ref().err()
        );
    }

    fn config(&mut self, sub: &CfgSub, auth: Option<Auth>) {
        let (number, params) = match sub {
            CfgSub::EnableEnterpriseAttestation => (0x01u8, None),
            CfgSub::ToggleAlwaysUv => (0x02, None),
            CfgSub::SetMinPinLength {
                params,
                new_min,
                rp_ids,
                force,
            } => {
                let mut p = MapBuilder::new();
                if let Some(n) = new_min {
                    p = p.int(0x01, u64::from(n % 72));
                }
                if let Some(n) = rp_ids {
                    let ids = (0..usize::from(n % 10))
                        .map(|i| match RPS.get(i) {
                            Some(rp) => Value::from(*rp),
                            None => Value::from(format!("r{i}.example")),
                        })
                        .collect();
                    p = p.int(0x02, Value::Array(ids));
                }
                if let Some(f) = force {
                    p = p.int(0x03, *f);
                }
                (0x03, params.then(|| p.build()))
            }
            CfgSub::Other(n) => (*n, None),
        };
        let mut m = MapBuilder::new().int(0x01, number);
        let mut message = vec![0xff; 32];
        message.extend_from_slice(&[0x0d, number]);
        if let Some(p) = params {
            message.extend_from_slice(&cbor::encode(&p));
            m = m.int(0x02, p);
        }
        if let Some(a) = auth {
            m = self.pin_uv_auth(m, a, &message, 0x04, 0x03);
        }
        self.send(0x0D, m.build());
    }

    // -----------------------------------------------------------------------
    // authenticatorLargeBlobs (§6.10).

    /// Walks §6.10.2 for a decoded request; a read answers its bytes.
    fn model_large_blobs(&mut self, req: &large_blobs::Request) -> Result<Option<Vec<u8>>, S> {
        // Steps 1–3: offset, and exactly one of get and set.
        let offset = req.offset.ok_or(S::InvalidParameter)?;
        match (req.get, req.set.as_deref()) {
            (Some(get), None) => {
                // Step 4.a–b: no length, no pinUvAuthParam/Protocol.
                if req.length.is_some()
                    || req.pin_uv_auth_param.is_some()
                    || req.pin_uv_auth_protocol.is_some()
                {
                    return Err(S::InvalidParameter);
                }
                // 4.c: at most maxFragmentLength.
                if get > MAX_FRAGMENT_LENGTH as u64 {
                    return Err(S::InvalidLength);
                }
                // 4.d: the offset may be the end of the array.
                let len = self.large_blob.len();
                if offset > len as u64 {
                    return Err(S::InvalidParameter);
                }
                // 4.e: up to `get` bytes from the offset.
                let start = offset as usize;
                let end = (start + get as usize).min(len);
                Ok(Some(self.large_blob[start..end].to_vec()))
            }
            (None, Some(set)) => {
                // 5.a.
                if set.len() > MAX_FRAGMENT_LENGTH {
                    return Err(S::InvalidLength);
                }
                if offset == 0 {
                    // 5.b: a length of at most maxSerializedLargeBlobArray
                    // (else LARGE_BLOB_STORAGE_FULL) and at least 17 (else
                    // INVALID_PARAMETER) starts a new write.
                    let length = req.length.ok_or(S::InvalidParameter)?;
                    if length > limits::MAX_SERIALIZED_LARGE_BLOB_ARRAY as u64 {
                        return Err(S::LargeBlobStorageFull);
                    }
                    if length < 17 {
                        return Err(S::InvalidParameter);
                    }
                    self.lb_write = Some((length as usize, Vec::new()));
                } else if req.length.is_some() {
                    // 5.c.
                    return Err(S::InvalidParameter);
                }
                // 5.d: expectedNextOffset.
                let next = self.lb_write.as_ref().map_or(0, |(_, b)| b.len());
                if offset != next as u64 {
                    return Err(S::InvalidSeq);
                }
                // 5.e: a token with lbw over 32×0xff ‖ h'0c00' ‖
                // uint32LE(offset) ‖ SHA-256(set).
                if self.needs_token() {
                    let param = req.pin_uv_auth_param.as_deref().ok_or(S::PuatRequired)?;
                    let protocol = Self::pin_protocol(req.pin_uv_auth_protocol)?;
                    let message = large_blob_message(offset as usize, set);
                    self.verify_token(protocol, param, &message, permission::LBW)?;
                }
                let (expected, buffer) = self.lb_write.as_mut().ok_or(S::InvalidSeq)?;
                // 5.f.
                if next + set.len() > *expected {
                    return Err(S::InvalidParameter);
                }
                // 5.h–i, then 5.j: the last 16 bytes are LEFT(SHA-256(the
                // rest), 16), else INTEGRITY_FAILURE; the array is committed.
                buffer.extend_from_slice(set);
                if buffer.len() == *expected {
                    let (body, hash) = buffer.split_at(buffer.len() - 16);
                    if sha256(body)[..16] != *hash {
                        return Err(S::IntegrityFailure);
                    }
                    self.large_blob = buffer.clone();
                }
                Ok(None)
            }
            _ => Err(S::InvalidParameter),
        }
    }

    fn after_large_blobs(&mut self, params: &[u8], st: u8, body: Option<Vec<(Value, Value)>>) {
        let req = match large_blobs::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(st, e as u8, "largeBlobs on an undecodable request");
                return;
            }
        };
        let outcome = self.model_large_blobs(&req);
        assert_eq!(
            st,
            code(&outcome),
            "largeBlobs: device {st:#04x}, model {:?}",
            outcome.as_ref().err()
        );
        match outcome {
            Ok(Some(config)) => {
                let expected = MapBuilder::new().int(0x01, cbor::bytes(config)).build();
                assert_eq!(
                    Value::Map(body.unwrap_or_default()),
                    expected,
                    "largeBlobs get"
                );
            }
            _ => assert!(body.is_none(), "largeBlobs set with a body"),
        }
    }

    /// Sends one set fragment with its pinUvAuthParam; returns the status.
    fn large_blob_set(
        &mut self,
        offset: usize,
        fragment: &[u8],
        length: Option<usize>,
        auth: Option<Auth>,
    ) -> u8 {
        let mut m = MapBuilder::new()
            .int(0x02, cbor::bytes(fragment.to_vec()))
            .int(0x03, offset as u64);
        if let Some(l) = length {
            m = m.int(0x04, l as u64);
        }
        if let Some(a) = auth {
            let message = large_blob_message(offset, fragment);
            m = self.pin_uv_auth(m, a, &message, 0x05, 0x06);
        }
        self.send(0x0C, m.build())
    }
}

/// What a largeBlobs set fragment's pinUvAuthParam authenticates (§6.10.2
/// step 5.e.iv): 32×0xff ‖ h'0c00' ‖ uint32LittleEndian(offset) ‖
/// SHA-256(fragment).
fn large_blob_message(offset: usize, fragment: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 32];
    m.extend_from_slice(&[0x0c, 0x00]);
    m.extend_from_slice(&u32::try_from(offset).unwrap_or(u32::MAX).to_le_bytes());
    m.extend_from_slice(&sha256(fragment));
    m
}

fuzz_target!(|input: Input| {
    let mut h = Harness::new(&input.setup);
    for op in input.ops.iter().take(MAX_OPS) {
        h.run(op);
    }
});
