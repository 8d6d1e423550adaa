//! PIN/UV auth (CTAP 2.1 §6.5.2, §6.5.4): the steps makeCredential and
//! getAssertion share (the probe, pinUvAuthProtocol, built-in UV), the
//! pinUvAuthToken checks and timers, the key-agreement epochs, and the
//! platform side: key agreement and pinUvAuthParam.

use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::crypto::pin_protocol::{encapsulate, KeyAgreementKey, PinProtocol};
use authenticator_core::env::PresencePolicy;
use authenticator_core::limits;
use authenticator_core::status::StatusCode as S;
use authenticator_core::wire::client_pin::permission;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::stateful::input::{Auth, Fault};
use crate::stateful::model::{other_protocol, protocol_index, Harness, Peer, PlatformKey};

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::OnceLock;

use authenticator_core::crypto::pin_protocol::SharedSecret;
use authenticator_core::status::StatusCode;

/// How many platform key-agreement keys the pool holds: more than one
/// execution takes (`MAX_OPS` operations, at most two keys each), so no
/// key is used twice within an execution and every platform key of an
/// execution is distinct, as freshly generated ones are.
const POOL: usize = 128;

/// Platform key-agreement key pairs generated once per process, with
/// their COSE keys. The platform side of key agreement (§6.5.4
/// encapsulate: an ephemeral key pair, then ECDH with the device's key)
/// was half of `stateful`'s time; the device side is untouched (its keys
/// are the core's, new at every power-up and regenerate, and it runs
/// decapsulate on whatever the harness sends).
fn pool() -> &'static [(KeyAgreementKey, Value)] {
    static POOL_KEYS: OnceLock<Vec<(KeyAgreementKey, Value)>> = OnceLock::new();
    POOL_KEYS.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(0x706f_6f6c);
        (0..POOL)
            .map(|_| {
                let k = KeyAgreementKey::generate(&mut rng);
                let cose = k.public_cose();
                (k, cose)
            })
            .collect()
    })
}

/// The shared secret of pool key `k` with a device key, by protocol:
/// device keys come from the seeded test environment, so the same ones
/// recur across executions. A pure function of its key, so the cache
/// never changes what an execution does.
type SharedKey = (usize, u64, Vec<u8>);

thread_local! {
    static SHARED: RefCell<HashMap<SharedKey, Rc<SharedSecret>>> = RefCell::new(HashMap::new());
}

/// encapsulate(device key) with pool key `k`, or with a fresh key past
/// the pool's end.
fn encapsulate_pooled(
    k: usize,
    protocol: PinProtocol,
    device_key: &Value,
    rng: &mut ChaCha20Rng,
) -> Result<(Value, Rc<SharedSecret>), StatusCode> {
    let Some((key, cose)) = pool().get(k) else {
        let (cose, shared) = encapsulate(protocol, device_key, rng)?;
        return Ok((cose, Rc::new(shared)));
    };
    let id = (k, protocol.id(), cbor::encode(device_key));
    if let Some(shared) = SHARED.with(|c| c.borrow().get(&id).cloned()) {
        return Ok((cose.clone(), shared));
    }
    let shared = Rc::new(key.shared_secret(protocol, device_key)?);
    SHARED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 1 << 16 {
            c.clear();
        }
        c.insert(id, shared.clone());
    });
    Ok((cose.clone(), shared))
}

/// Whether the core's COSE_Key parser takes `cose` as a P-256 point
/// (what decapsulate will make of it), remembered per key.
fn is_point(protocol: PinProtocol, cose: &Value) -> bool {
    thread_local! {
        static POINTS: RefCell<HashMap<Vec<u8>, bool>> = RefCell::new(HashMap::new());
    }
    let id = cbor::encode(cose);
    if let Some(known) = POINTS.with(|p| p.borrow().get(&id).copied()) {
        return known;
    }
    let known = pool()[0].0.shared_secret(protocol, cose).is_ok();
    POINTS.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() > 1 << 16 {
            p.clear();
        }
        p.insert(id, known);
    });
    known
}

impl Harness {
    /// §6.1.2 / §6.2.2 step 1: a zero-length pinUvAuthParam asks for a
    /// touch, then answers PIN_NOT_SET or PIN_INVALID.
    pub(crate) fn pin_probe(&self) -> S {
        match self.presence() {
            PresencePolicy::Approve if self.pin_set() => S::PinInvalid,
            PresencePolicy::Approve => S::PinNotSet,
            _ => S::OperationDenied,
        }
    }

    /// §6.1.2 / §6.2.2 step 2: pinUvAuthProtocol must be given and
    /// supported.
    pub(crate) fn pin_protocol(protocol: Option<u64>) -> Result<PinProtocol, S> {
        PinProtocol::from_u64(protocol.ok_or(S::MissingParameter)?).ok_or(S::InvalidParameter)
    }

    /// performBuiltInUv() with internal retries (§6.5.2.3, §6.1.2 step
    /// 11.2, §6.2.2 step 6.2): a failed match spends one uvRetry, a
    /// success restores them; with none left the request fails at once.
    /// A failure is PUAT_REQUIRED when a PIN could be used instead,
    /// otherwise PIN_BLOCKED with no retries left, else OPERATION_DENIED.
    pub(crate) fn builtin_uv(&mut self) -> Result<(), S> {
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
    pub(crate) fn check_token(
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
    pub(crate) fn consume_token(&mut self) {
        if let Some(t) = &mut self.token {
            t.user_present = false;
            t.user_verified = false;
            t.permissions &= permission::LBW;
        }
    }

    /// Classifies a platform key the way decapsulate() will treat it.
    pub(crate) fn peer(&self, protocol: PinProtocol, cose: &Value) -> Peer {
        if let Some(i) = self
            .platform
            .iter()
            .position(|k| k.cose == *cose && k.protocol == protocol && k.epoch == self.epoch)
        {
            return Peer::Ours(i);
        }
        // The core's own COSE_Key parser decides what is a P-256 point.
        if is_point(protocol, cose) {
            Peer::Foreign
        } else {
            Peer::Invalid
        }
    }

    /// New key-agreement keys (§6.5.4 initialize / regenerate).
    pub(crate) fn new_epoch(&mut self) {
        self.epoch += 1;
        for k in self.agreement.iter_mut().filter_map(Option::take) {
            self.old_agreements.push(k);
        }
    }

    /// The per-power-cycle PIN/UV state of a power-up (§6.5.4 initialize).
    pub(crate) fn power_up_pin_state(&mut self) {
        self.new_epoch();
        self.mismatches = 0;
        self.token = None;
    }

    /// verify(pinUvAuthToken, message, pinUvAuthParam) and the permission
    /// check of the commands that are not bound to a request's RP
    /// (credential management §6.8, largeBlobs §6.10.2 step 5.e,
    /// authenticatorConfig §6.11): the token must be in use under this
    /// protocol and carry `permission`; every failure is PIN_AUTH_INVALID.
    pub(crate) fn verify_token(
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
    pub(crate) fn needs_token(&self) -> bool {
        self.protected() || self.always_uv
    }

    /// Adds pinUvAuthParam / pinUvAuthProtocol computed from the token the
    /// model holds (32 zero bytes when it holds none).
    pub(crate) fn pin_uv_auth(
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
    pub(crate) fn platform_key(&mut self, protocol: PinProtocol, fault: Fault) -> (Value, usize) {
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
        let k = self.pool_next;
        self.pool_next += 1;
        let (cose, shared) = encapsulate_pooled(k, protocol, &device_key, &mut self.rng)
            .expect("device key is a point");
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
                        // A device key from the pool: the harness's own
                        // platform keys are distinct from it and from
                        // each other.
                        let other = pool()[POOL - 1].1.clone();
                        let k = self.pool_next;
                        self.pool_next += 1;
                        let (cose, _) =
                            encapsulate_pooled(k, protocol, &other, &mut self.rng).expect("point");
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

    pub(crate) fn encrypt(&mut self, shared: usize, plaintext: &[u8]) -> Vec<u8> {
        self.platform[shared]
            .shared
            .encrypt(&mut self.rng, plaintext)
            .expect("whole blocks")
    }

    pub(crate) fn authenticate(&self, shared: usize, message: &[u8]) -> Vec<u8> {
        self.platform[shared].shared.authenticate(message)
    }
}
