//! A sequence of operations against one authenticator, checked against a
//! model of what the authenticator must have done.
//!
//! The input (via `arbitrary`) picks a device configuration and up to
//! `MAX_OPS` operations: makeCredential, getAssertion, getNextAssertion,
//! getInfo, reset, selection, power cycles, clock moves, presence/UV policy
//! changes and raw messages. Every message, structured or raw, goes through
//! the same checks, which read the request with the core's own decoders:
//!
//! * every response passes `check_response` (known status, canonical CBOR);
//! * makeCredential: the COSE key matches the private key the device keeps
//!   (in the store or sealed in the ID), the attestation signature verifies
//!   (self: credential key, full: batch key), flags and counter are right;
//! * getAssertion / getNextAssertion: the credential is one the device made,
//!   still alive, for this RP and from the allowList when one was given;
//!   the signature verifies with the public key from its makeCredential;
//!   per-credential counters strictly increase (global: all signatures);
//!   numberOfCredentials and the getNextAssertion sequence list every live
//!   discoverable credential of the RP exactly once;
//! * nothing that needs user presence succeeds while presence is refused,
//!   reset only succeeds within its window;
//! * the store's discoverable count equals the model's, and getInfo's
//!   remainingDiscoverableCredentials + that count equals the capacity.
#![no_main]

use std::collections::{HashMap, HashSet};

use arbitrary::Arbitrary;
use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::config::{AttestationMode, BackupFlags, CounterMode, ResetPolicy};
use authenticator_core::crypto::keys::{Algorithm, PublicKey};
use authenticator_core::crypto::{seal, sha256};
use authenticator_core::env::{PresencePolicy, TestEnv, UvPolicy};
use authenticator_core::status::StatusCode;
use authenticator_core::store::{CredentialStore, MemoryStore};
use authenticator_core::wire::{get_assertion, make_credential};
use authenticator_core::{Authenticator, DeviceConfig};
use authenticator_core_fuzz::{
    authenticator, check_response, field, fixture, parse_auth_data, text_field,
};
use libfuzzer_sys::fuzz_target;

const MAX_OPS: usize = 40;
const RPS: [&str; 3] = ["example.com", "a.example", "b.example"];
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE_BS: u8 = 0x18;

#[derive(Arbitrary, Debug)]
struct Setup {
    attestation: u8,
    counter: u8,
    algorithms: u8,
    builtin_uv: bool,
    reset_always: bool,
    synced: bool,
    /// Room for 1..=8 discoverable credentials, so that a full store and
    /// replacement are reachable.
    capacity: u8,
    seed: u8,
}

#[derive(Arbitrary, Debug)]
enum Pick {
    /// The n-th credential ID seen so far (modulo how many there are).
    Known(u8),
    /// Some other bytes.
    Random(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Op {
    MakeCredential {
        /// Index into `RPS`.
        rp: u8,
        user: u8,
        rk: bool,
        uv: bool,
        /// 0: ES256, 1: EdDSA, 2: EdDSA then ES256, 3: an unknown algorithm.
        alg: u8,
        exclude: Vec<Pick>,
        client_data: u8,
        /// 0: none given, 1: ["none"], 2: ["packed"], 3: ["x", "packed"].
        formats: u8,
    },
    GetAssertion {
        rp: u8,
        allow: Vec<Pick>,
        up: Option<bool>,
        uv: bool,
        client_data: u8,
    },
    GetNextAssertion,
    /// getAssertion without an allowList followed by as many
    /// getNextAssertion calls as it announces (at most 8), so that whole
    /// sequences are common.
    AssertAll {
        rp: u8,
        up: Option<bool>,
        uv: bool,
        client_data: u8,
    },
    GetInfo,
    Reset,
    Selection,
    PowerCycle,
    AdvanceClock(u16),
    SetPresence(u8),
    SetUv(bool),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    setup: Setup,
    ops: Vec<Op>,
}

/// What the model knows of one credential.
struct Cred {
    public: PublicKey,
    rp_id: String,
    user_id: Vec<u8>,
    discoverable: bool,
    /// False once reset or replaced.
    alive: bool,
    last_counter: Option<u32>,
}

/// An open getAssertion sequence.
struct Sequence {
    rp_id: String,
    client_data_hash: Vec<u8>,
    flags: u8,
    /// IDs still expected from getNextAssertion.
    pending: HashSet<Vec<u8>>,
    last_ms: u64,
}

struct Harness {
    auth: Authenticator<TestEnv>,
    config: DeviceConfig,
    capacity: usize,
    creds: HashMap<Vec<u8>, Cred>,
    /// Every credential ID seen, in order, for `Pick::Known`.
    ids: Vec<Vec<u8>>,
    now: u64,
    power_up: u64,
    sequence: Option<Sequence>,
    /// The last signature counter seen (for the global counter mode).
    global_last: Option<u32>,
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

fn status(response: &[u8]) -> u8 {
    response[0]
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
        let auth = authenticator(config.clone(), env);
        Self {
            auth,
            config,
            capacity,
            creds: HashMap::new(),
            ids: Vec::new(),
            now: 0,
            power_up: 0,
            sequence: None,
            global_last: None,
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

    fn presence_ok(&self) -> bool {
        self.auth.env().presence == PresencePolicy::Approve
    }

    fn alive_discoverable(&self, rp_id: &str) -> HashSet<Vec<u8>> {
        self.creds
            .iter()
            .filter(|(_, c)| c.alive && c.discoverable && c.rp_id == rp_id)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn model_discoverable_count(&self) -> usize {
        self.creds
            .values()
            .filter(|c| c.alive && c.discoverable)
            .count()
    }

    /// Checks and records a signature counter.
    fn check_counter(&mut self, id: &[u8], count: u32) {
        match self.config.counter_mode {
            CounterMode::AlwaysZero => assert_eq!(count, 0, "AlwaysZero counter is {count}"),
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

    /// Sends one message and checks the response against the model.
    fn exchange(&mut self, message: &[u8]) {
        let response = self.auth.handle(message);
        // Keep TestEnv's presence log from growing over a long input.
        self.auth.env_mut().presence_log.clear();
        if trace() {
            eprintln!(
                "cmd {:02x?} -> status {:#04x} ({} bytes)",
                message.first(),
                response[0],
                response.len()
            );
        }
        let body = check_response(message, &response);
        let st = status(&response);
        let Some((&cmd, params)) = message.split_first() else {
            assert_eq!(st, StatusCode::InvalidLength as u8);
            return;
        };
        let known_command = authenticator_core::wire::Command::from_u8(cmd).is_some()
            && message.len() <= authenticator_core::limits::MAX_MSG_SIZE;
        // Any command other than getNextAssertion ends a sequence.
        if known_command && cmd != 0x08 {
            self.sequence = None;
        }
        match cmd {
            0x01 => self.after_make_credential(params, st, body),
            0x02 => self.after_get_assertion(params, st, body),
            0x04 if st == 0 => {
                let body = body.expect("getInfo body");
                let remaining = field(&body, 0x14)
                    .and_then(|v| v.as_integer())
                    .map(i128::from)
                    .expect("remainingDiscoverableCredentials");
                let stored = self.auth.env().store.count_discoverable().expect("count");
                assert_eq!(
                    usize::try_from(remaining).expect("remaining") + stored,
                    self.capacity,
                    "remaining + stored != capacity"
                );
            }
            0x07 => self.after_reset(st),
            0x08 => self.after_get_next_assertion(st, body),
            0x0B => {
                if st == 0 {
                    assert!(self.presence_ok(), "selection succeeded without presence");
                } else if message.len() <= authenticator_core::limits::MAX_MSG_SIZE {
                    assert!(
                        !self.presence_ok(),
                        "selection failed with presence: {st:#04x}"
                    );
                }
            }
            _ => {}
        }
        let stored = self.auth.env().store.count_discoverable().expect("count");
        assert_eq!(
            stored,
            self.model_discoverable_count(),
            "store and model disagree on discoverable credentials"
        );
        assert_eq!(
            self.auth
                .env()
                .store
                .all()
                .filter(|c| c.discoverable)
                .count(),
            stored,
            "count_discoverable disagrees with the stored credentials"
        );
    }

    fn after_make_credential(&mut self, params: &[u8], st: u8, body: Option<Vec<(Value, Value)>>) {
        let Ok(req) = make_credential::Request::decode(params) else {
            assert_ne!(st, 0, "makeCredential succeeded on an undecodable request");
            return;
        };
        let rk = req.options.rk.unwrap_or(false);
        let uv = req.options.uv.unwrap_or(false);
        let excluded = req.exclude_list.iter().any(|d| {
            self.creds
                .get(&d.id)
                .is_some_and(|c| c.alive && c.rp_id == req.rp.id)
        });
        if st == StatusCode::KeyStoreFull as u8 {
            assert!(rk, "KEY_STORE_FULL for a non-discoverable credential");
            assert_eq!(
                self.model_discoverable_count(),
                self.capacity,
                "KEY_STORE_FULL with room left"
            );
            let replaces = self.creds.values().any(|c| {
                c.alive && c.discoverable && c.rp_id == req.rp.id && c.user_id == req.user.id
            });
            assert!(
                !replaces,
                "KEY_STORE_FULL although a credential is replaced"
            );
            return;
        }
        if st != 0 {
            return;
        }
        assert!(
            self.presence_ok(),
            "makeCredential succeeded without presence"
        );
        assert!(
            !excluded,
            "makeCredential succeeded despite its excludeList"
        );
        if uv {
            assert!(self.config.builtin_uv, "uv honoured without built-in UV");
            assert_eq!(
                self.auth.env().uv,
                UvPolicy::Succeed,
                "uv passed while failing"
            );
        }
        let body = body.expect("makeCredential body");
        let fmt = field(&body, 0x01)
            .and_then(|v| v.as_text())
            .expect("fmt")
            .to_owned();
        let auth_data = field(&body, 0x02)
            .and_then(|v| v.as_bytes())
            .expect("authData")
            .clone();
        let Some(Value::Map(att_stmt)) = field(&body, 0x03) else {
            panic!("attStmt is not a map")
        };
        let ad = parse_auth_data(&auth_data);
        assert_eq!(ad.rp_id_hash, sha256(req.rp.id.as_bytes()), "rpIdHash");
        assert_ne!(ad.flags & FLAG_UP, 0, "makeCredential without UP");
        assert_eq!(ad.flags & FLAG_UV != 0, uv, "UV flag");
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
            id.len() <= authenticator_core::limits::MAX_CREDENTIAL_ID_LENGTH,
            "credential ID too long"
        );
        let alg = req
            .algorithms
            .iter()
            .copied()
            .find(|a| self.config.algorithms.contains(a))
            .expect("success without a common algorithm");
        assert!(
            matches!(
                (alg, &public),
                (Algorithm::Es256, PublicKey::Es256(_)) | (Algorithm::EdDsa, PublicKey::EdDsa(_))
            ),
            "credential algorithm is not {alg:?}"
        );
        assert!(!self.creds.contains_key(&id), "credential ID issued twice");

        // The key the device keeps for this ID is the one it published.
        let store = &self.auth.env().store;
        let kept = match store.get(&id).expect("store get") {
            Some(c) => {
                assert!(rk, "non-discoverable credential in the store");
                assert_eq!(c.user.id, req.user.id, "stored user handle");
                c.key
            }
            None => {
                assert!(!rk, "discoverable credential not stored");
                let master = store.master_secret().expect("master").expect("set");
                seal::open(&master, &ad.rp_id_hash, &id)
                    .expect("credential ID does not open")
                    .key
            }
        };
        assert_eq!(kept.public_key().expect("key"), public, "published key");

        // The attestation statement.
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
                        assert_eq!(self.config.attestation, AttestationMode::Batch);
                        assert_eq!(sig_alg, -7, "batch attestation alg");
                        assert!(
                            fixture().batch_public.verify(&signed, sig),
                            "batch attestation signature does not verify"
                        );
                    }
                    None => {
                        assert_eq!(self.config.attestation, AttestationMode::SelfAttestation);
                        assert_eq!(sig_alg, i128::from(alg.cose()), "self attestation alg");
                        assert!(
                            public.verify(&signed, sig),
                            "self attestation signature does not verify"
                        );
                    }
                }
            }
            other => panic!("unexpected attestation format {other}"),
        }
        if self.config.attestation == AttestationMode::None {
            assert_eq!(fmt, "none", "packed attestation from a none device");
        }

        match self.config.counter_mode {
            CounterMode::Global => {
                if let Some(last) = self.global_last {
                    assert!(ad.sign_count > last, "global counter did not advance");
                }
                self.global_last = Some(ad.sign_count);
            }
            _ => assert_eq!(ad.sign_count, 0, "registration counter"),
        }

        if rk {
            for c in self.creds.values_mut() {
                if c.alive && c.discoverable && c.rp_id == req.rp.id && c.user_id == req.user.id {
                    c.alive = false;
                }
            }
        }
        self.ids.push(id.clone());
        self.creds.insert(
            id,
            Cred {
                public,
                rp_id: req.rp.id.clone(),
                user_id: req.user.id.clone(),
                discoverable: rk,
                alive: true,
                last_counter: match self.config.counter_mode {
                    CounterMode::Global => Some(ad.sign_count),
                    _ => None,
                },
            },
        );
    }

    /// Checks one assertion response; returns the credential ID.
    fn check_assertion(
        &mut self,
        body: &[(Value, Value)],
        rp_id: &str,
        client_data_hash: &[u8],
    ) -> (Vec<u8>, u8, Option<u32>) {
        let Some(Value::Map(descriptor)) = field(body, 0x01) else {
            panic!("assertion without a credential descriptor")
        };
        let id = text_field(descriptor, "id")
            .and_then(|v| v.as_bytes())
            .expect("credential id")
            .clone();
        assert_eq!(
            text_field(descriptor, "type").and_then(|v| v.as_text()),
            Some("public-key")
        );
        let auth_data = field(body, 0x02)
            .and_then(|v| v.as_bytes())
            .expect("authData");
        let signature = field(body, 0x03)
            .and_then(|v| v.as_bytes())
            .expect("signature");
        let ad = parse_auth_data(auth_data);
        assert!(ad.attested.is_none(), "AT set in an assertion");
        assert_eq!(ad.rp_id_hash, sha256(rp_id.as_bytes()), "rpIdHash");
        let cred = self
            .creds
            .get(&id)
            .unwrap_or_else(|| panic!("assertion by unknown credential {id:02x?}"));
        assert!(cred.alive, "assertion by a deleted credential {id:02x?}");
        assert_eq!(cred.rp_id, rp_id, "assertion by another RP's credential");
        let signed = [auth_data.as_slice(), client_data_hash].concat();
        assert!(
            cred.public.verify(&signed, signature),
            "assertion signature does not verify"
        );
        match field(body, 0x04) {
            Some(Value::Map(user)) => {
                assert!(
                    cred.discoverable,
                    "user entity for a non-discoverable credential"
                );
                assert_eq!(
                    text_field(user, "id").and_then(|v| v.as_bytes()),
                    Some(&cred.user_id),
                    "user handle"
                );
                if ad.flags & FLAG_UV == 0 {
                    assert_eq!(user.len(), 1, "identifying user fields without UV");
                }
            }
            Some(other) => panic!("user is not a map: {other:?}"),
            None => assert!(
                !cred.discoverable,
                "no user entity for a discoverable credential"
            ),
        }
        let number = field(body, 0x05).map(|v| {
            let n = v.as_integer().map(i128::from).expect("numberOfCredentials");
            u32::try_from(n).expect("numberOfCredentials range")
        });
        self.check_counter(&id, ad.sign_count);
        (id, ad.flags, number)
    }

    fn after_get_assertion(&mut self, params: &[u8], st: u8, body: Option<Vec<(Value, Value)>>) {
        let Ok(req) = get_assertion::Request::decode(params) else {
            assert_ne!(st, 0, "getAssertion succeeded on an undecodable request");
            return;
        };
        let up = req.options.up.unwrap_or(true);
        let uv = req.options.uv.unwrap_or(false);
        let live_allowed: Vec<&Vec<u8>> = req
            .allow_list
            .iter()
            .flatten()
            .map(|d| &d.id)
            .filter(|id| {
                self.creds
                    .get(*id)
                    .is_some_and(|c| c.alive && c.rp_id == req.rp_id)
            })
            .collect();
        let discoverable = self.alive_discoverable(&req.rp_id);
        if st == StatusCode::NoCredentials as u8 {
            match &req.allow_list {
                Some(_) => assert!(
                    live_allowed.is_empty(),
                    "NO_CREDENTIALS although the allowList names a live credential"
                ),
                None => assert!(
                    discoverable.is_empty(),
                    "NO_CREDENTIALS although the RP has discoverable credentials"
                ),
            }
        }
        if st != 0 {
            return;
        }
        if up || uv {
            assert!(
                self.presence_ok(),
                "getAssertion succeeded without presence"
            );
        }
        if uv {
            assert!(self.config.builtin_uv, "uv honoured without built-in UV");
            assert_eq!(
                self.auth.env().uv,
                UvPolicy::Succeed,
                "uv passed while failing"
            );
        }
        let body = body.expect("getAssertion body");
        let (id, flags, number) = self.check_assertion(&body, &req.rp_id, &req.client_data_hash);
        assert_eq!(flags & FLAG_UP != 0, up, "UP flag");
        assert_eq!(flags & FLAG_UV != 0, uv, "UV flag");
        match &req.allow_list {
            Some(list) => {
                assert!(
                    list.iter().any(|d| d.id == id),
                    "credential not in allowList"
                );
                assert_eq!(number, None, "numberOfCredentials with an allowList");
            }
            None => {
                assert!(
                    discoverable.contains(&id),
                    "not a live discoverable credential"
                );
                let expected = (discoverable.len() > 1)
                    .then(|| u32::try_from(discoverable.len()).expect("count"));
                assert_eq!(number, expected, "numberOfCredentials");
                if number.is_some() {
                    let mut pending = discoverable;
                    pending.remove(&id);
                    self.sequence = Some(Sequence {
                        rp_id: req.rp_id.clone(),
                        client_data_hash: req.client_data_hash.clone(),
                        flags,
                        pending,
                        last_ms: self.now,
                    });
                }
            }
        }
    }

    fn after_get_next_assertion(&mut self, st: u8, body: Option<Vec<(Value, Value)>>) {
        let Some(mut seq) = self.sequence.take() else {
            assert_ne!(st, 0, "getNextAssertion succeeded without a sequence");
            return;
        };
        let in_window = self.now.saturating_sub(seq.last_ms)
            <= authenticator_core::limits::GET_NEXT_ASSERTION_WINDOW_MS;
        if st != 0 {
            assert!(
                !in_window || seq.pending.is_empty(),
                "getNextAssertion failed ({st:#04x}) within the window with {} pending",
                seq.pending.len()
            );
            return;
        }
        assert!(in_window, "getNextAssertion succeeded after the window");
        let body = body.expect("getNextAssertion body");
        let cdh = seq.client_data_hash.clone();
        let (id, flags, number) = self.check_assertion(&body, &seq.rp_id.clone(), &cdh);
        assert!(
            seq.pending.remove(&id),
            "getNextAssertion repeated or invented {id:02x?}"
        );
        assert_eq!(flags, seq.flags, "flags changed within a sequence");
        assert_eq!(number, None, "numberOfCredentials in getNextAssertion");
        if !seq.pending.is_empty() {
            seq.last_ms = self.now;
            self.sequence = Some(seq);
        }
    }

    fn after_reset(&mut self, st: u8) {
        let in_window = self.config.reset_policy == ResetPolicy::Always
            || self.now.saturating_sub(self.power_up)
                <= authenticator_core::limits::RESET_WINDOW_MS;
        if st == 0 {
            assert!(self.presence_ok(), "reset without presence");
            assert!(in_window, "reset outside its window");
            for c in self.creds.values_mut() {
                c.alive = false;
            }
            self.global_last = None;
            assert_eq!(
                self.auth.env().store.all().count(),
                0,
                "store not empty after reset"
            );
        } else {
            assert!(
                !(in_window && self.presence_ok()),
                "reset failed ({st:#04x}) within its window with presence"
            );
        }
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::MakeCredential {
                rp,
                user,
                rk,
                uv,
                alg,
                exclude,
                client_data,
                formats,
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
                let mut options = MapBuilder::new().text("rk", *rk);
                if *uv {
                    options = options.text("uv", true);
                }
                let mut m = MapBuilder::new()
                    .int(0x01, cbor::bytes(client_data_hash(*client_data)))
                    .int(0x02, MapBuilder::new().text("id", rp).build())
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
                let texts = |l: &[&str]| Value::Array(l.iter().map(|s| Value::from(*s)).collect());
                match formats % 4 {
                    1 => m = m.int(0x0B, texts(&["none"])),
                    2 => m = m.int(0x0B, texts(&["packed"])),
                    3 => m = m.int(0x0B, texts(&["x", "packed"])),
                    _ => {}
                }
                self.send(0x01, m.build());
            }
            Op::GetAssertion {
                rp,
                allow,
                up,
                uv,
                client_data,
            } => {
                let rp = RPS[usize::from(*rp) % RPS.len()];
                let mut m = MapBuilder::new()
                    .int(0x01, rp)
                    .int(0x02, cbor::bytes(client_data_hash(*client_data)));
                if !allow.is_empty() {
                    m = m.int(0x03, self.descriptors(allow));
                }
                let mut options = MapBuilder::new();
                if let Some(up) = up {
                    options = options.text("up", *up);
                }
                if *uv {
                    options = options.text("uv", true);
                }
                let options = options.build();
                if !matches!(&options, Value::Map(o) if o.is_empty()) {
                    m = m.int(0x05, options);
                }
                self.send(0x02, m.build());
            }
            Op::GetNextAssertion => self.exchange(&[0x08]),
            Op::AssertAll {
                rp,
                up,
                uv,
                client_data,
            } => {
                self.run(&Op::GetAssertion {
                    rp: *rp,
                    allow: Vec::new(),
                    up: *up,
                    uv: *uv,
                    client_data: *client_data,
                });
                for _ in 0..8 {
                    if self.sequence.is_none() {
                        break;
                    }
                    self.exchange(&[0x08]);
                }
            }
            Op::GetInfo => self.exchange(&[0x04]),
            Op::Reset => self.exchange(&[0x07]),
            Op::Selection => self.exchange(&[0x0B]),
            Op::PowerCycle => {
                self.auth.power_cycle();
                self.power_up = self.now;
                self.sequence = None;
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
            Op::Raw(bytes) => self.exchange(bytes),
        }
    }

    fn descriptors(&self, picks: &[Pick]) -> Value {
        Value::Array(
            picks
                .iter()
                .take(authenticator_core::limits::MAX_CREDENTIAL_COUNT_IN_LIST)
                .map(|p| {
                    MapBuilder::new()
                        .text("id", cbor::bytes(self.pick(p)))
                        .text("type", "public-key")
                        .build()
                })
                .collect(),
        )
    }

    fn send(&mut self, cmd: u8, params: Value) {
        let mut message = vec![cmd];
        message.extend_from_slice(&cbor::encode(&params));
        self.exchange(&message);
    }
}

fuzz_target!(|input: Input| {
    let mut h = Harness::new(&input.setup);
    for op in input.ops.iter().take(MAX_OPS) {
        h.run(op);
    }
});
