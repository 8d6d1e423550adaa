//! The daemon's environment for the authenticator: OS randomness, a
//! monotonic clock, a credential store (in memory or durable), a presence
//! policy that can wait (while the transport sends keepalives), be cancelled
//! and be changed while the device runs, and the device's event stream.
//!
//! CTAP1/U2F requests are different: U2F's test of user presence is polled
//! (the client repeats the request until the key answers it with success),
//! so for them the policy never waits. `delay:MS` then means that the user
//! touches the key MS after the first request of a polling run; until then
//! each request is answered "not yet".

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authenticator_core::env::{
    apply_policy, Env, Event, PresenceError, PresencePolicy, PresenceRequest, UserCheck, UvPolicy,
};
use authenticator_core::store::{CredentialStore, MemoryStore};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// The store a daemon device uses, chosen at run time.
pub type DynStore = Box<dyn CredentialStore + Send>;

/// How the virtual user answers a request for presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceMode {
    /// Touch at once (the default, for unattended rigs).
    Approve,
    /// Refuse at once.
    Deny,
    /// Wait this long, then touch.
    Delay(Duration),
    /// Wait this long, then give up (a user who never touches the key).
    TimeoutAfter(Duration),
    /// Never answer: the request waits until the client cancels it (or the
    /// device is unplugged).
    Never,
    /// Wait for an explicit touch ([`Shared::touch`], the control API's
    /// `touch`), however long it takes.
    Manual,
}

impl std::fmt::Display for PresenceMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Approve => f.write_str("approve"),
            Self::Deny => f.write_str("deny"),
            Self::Delay(d) => write!(f, "delay:{}", d.as_millis()),
            Self::TimeoutAfter(d) => write!(f, "timeout:{}", d.as_millis()),
            Self::Never => f.write_str("never"),
            Self::Manual => f.write_str("manual"),
        }
    }
}

impl std::str::FromStr for PresenceMode {
    type Err = String;

    /// `approve`, `deny`, `delay:MS`, `timeout:MS`, `never`, `manual`
    /// (MS in milliseconds, at most 600000).
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "`{s}` is not one of approve, deny, delay:MS, timeout:MS, never, manual \
                 (MS in milliseconds, at most 600000)"
            )
        };
        let ms = |v: &str| -> Result<Duration, String> {
            let ms: u64 = v.parse().map_err(|_| err())?;
            if ms > 600_000 {
                return Err(err());
            }
            Ok(Duration::from_millis(ms))
        };
        match s.split_once(':') {
            None if s == "approve" => Ok(Self::Approve),
            None if s == "deny" => Ok(Self::Deny),
            None if s == "never" => Ok(Self::Never),
            None if s == "manual" => Ok(Self::Manual),
            Some(("delay", v)) => Ok(Self::Delay(ms(v)?)),
            Some(("timeout", v)) => Ok(Self::TimeoutAfter(ms(v)?)),
            _ => Err(err()),
        }
    }
}

/// How many events a slow listener may fall behind before it misses some.
pub const EVENT_BACKLOG: usize = 4096;

/// State shared between the worker running the authenticator, the
/// transport driver and the control API.
#[derive(Debug)]
pub struct Shared {
    /// The device's name (in events).
    pub name: String,
    /// The worker is waiting for the user (the driver sends STATUS_UPNEEDED).
    pub waiting_for_user: AtomicBool,
    /// The transaction being processed.
    pub current_txn: AtomicU64,
    /// The transaction the host cancelled.
    pub cancelled_txn: AtomicU64,
    /// The device is going away: every wait ends.
    pub stopping: AtomicBool,
    /// Faults to inject (the control API adds them, the driver fires them).
    pub faults: crate::faults::Faults,
    /// Touches given while a request waited in [`PresenceMode::Manual`].
    touches: AtomicU64,
    policy: Mutex<(PresenceMode, UvPolicy)>,
    events: broadcast::Sender<Arc<Value>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self::new("default", PresenceMode::Approve, UvPolicy::Succeed)
    }
}

impl Shared {
    /// State for a device called `name` with a starting policy.
    pub fn new(name: &str, presence: PresenceMode, uv: UvPolicy) -> Self {
        Self {
            name: name.to_owned(),
            waiting_for_user: AtomicBool::new(false),
            current_txn: AtomicU64::new(0),
            cancelled_txn: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            faults: crate::faults::Faults::default(),
            touches: AtomicU64::new(0),
            policy: Mutex::new((presence, uv)),
            events: broadcast::channel(EVENT_BACKLOG).0,
        }
    }

    /// The request being processed was cancelled, or the device is going
    /// away.
    pub fn cancelled(&self) -> bool {
        let cur = self.current_txn.load(Ordering::SeqCst);
        self.stopping.load(Ordering::SeqCst)
            || (cur != 0 && self.cancelled_txn.load(Ordering::SeqCst) == cur)
    }

    /// The presence mode and UV outcome in force.
    pub fn policy(&self) -> (PresenceMode, UvPolicy) {
        self.policy
            .lock()
            .map(|p| *p)
            .unwrap_or((PresenceMode::Approve, UvPolicy::Succeed))
    }

    /// Changes the presence mode; a request already waiting keeps its mode.
    pub fn set_presence(&self, mode: PresenceMode) {
        if let Ok(mut p) = self.policy.lock() {
            p.0 = mode;
        }
        self.emit("presence.changed", json!({ "presence": mode.to_string() }));
    }

    /// Changes the built-in UV outcome.
    pub fn set_uv(&self, uv: UvPolicy) {
        if let Ok(mut p) = self.policy.lock() {
            p.1 = uv;
        }
        self.emit("uv.changed", json!({ "uv": uv.name() }));
    }

    /// The user touches the key. Only a request that is waiting for the
    /// user can take a touch; `false` when none is.
    pub fn touch(&self) -> bool {
        if !self.waiting_for_user.load(Ordering::SeqCst) {
            return false;
        }
        self.touches.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Listens to the device's events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Value>> {
        self.events.subscribe()
    }

    /// Publishes an event: `fields` (an object) with `type`, `device` and
    /// `time` (Unix milliseconds) added.
    pub fn emit(&self, kind: &str, fields: Value) {
        let mut event = json!({
            "time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
            "device": self.name,
            "type": kind,
        });
        if let (Some(e), Value::Object(f)) = (event.as_object_mut(), fields) {
            e.extend(f);
        }
        // Nobody listening is fine.
        let _ = self.events.send(Arc::new(event));
    }
}

/// Binary fields of events and of the control API: standard base64.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How long a U2F client may go without asking again before its polling run
/// counts as given up, and a later request starts a new wait. Clients poll
/// every 100–300 ms.
pub const U2F_POLL_ABANDONED: Duration = Duration::from_secs(1);

/// A U2F polling run waiting for the simulated touch.
#[derive(Debug, Clone, Copy)]
struct PendingTouch {
    /// The first request of the run.
    since: Instant,
    /// The latest request of the run.
    last: Instant,
}

/// The environment of a daemon-run authenticator.
pub struct DaemonEnv {
    rng: rand_core::OsRng,
    store: DynStore,
    start: Instant,
    shared: Arc<Shared>,
    /// The U2F polling run under `PresenceMode::Delay`, if one is going.
    u2f_touch: Option<PendingTouch>,
}

impl std::fmt::Debug for DaemonEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonEnv")
            .field("device", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl DaemonEnv {
    /// A fresh environment with an empty in-memory store; the presence
    /// policy is the one in `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self::with_store(shared, Box::new(MemoryStore::default()))
    }

    /// An environment on the given store.
    pub fn with_store(shared: Arc<Shared>, store: DynStore) -> Self {
        Self {
            rng: rand_core::OsRng,
            store,
            start: Instant::now(),
            shared,
            u2f_touch: None,
        }
    }

    /// The polled test of user presence of CTAP1/U2F (FIDO U2F Raw Message
    /// Formats v1.2 §4.3, §5.1): an answer at once, never a wait.
    fn poll_u2f_touch(&mut self, mode: PresenceMode) -> Result<(), PresenceError> {
        match mode {
            PresenceMode::Approve => Ok(()),
            PresenceMode::Deny => Err(PresenceError::Denied),
            // A user who never touches the key: "not yet", until the client
            // gives up by itself.
            PresenceMode::TimeoutAfter(_) | PresenceMode::Never => Err(PresenceError::Timeout),
            // A touch given while a poll was pending counts for the next.
            PresenceMode::Manual => {
                self.shared.waiting_for_user.store(true, Ordering::SeqCst);
                if take_touch(&self.shared) {
                    self.shared.waiting_for_user.store(false, Ordering::SeqCst);
                    Ok(())
                } else {
                    Err(PresenceError::Timeout)
                }
            }
            PresenceMode::Delay(d) => {
                let now = Instant::now();
                let since = match self.u2f_touch {
                    Some(p) if now.saturating_duration_since(p.last) <= U2F_POLL_ABANDONED => {
                        p.since
                    }
                    _ => now,
                };
                if now.saturating_duration_since(since) >= d {
                    // The touch is used up by this request.
                    self.u2f_touch = None;
                    Ok(())
                } else {
                    self.u2f_touch = Some(PendingTouch { since, last: now });
                    Err(PresenceError::Timeout)
                }
            }
        }
    }

    /// Waits `d` (`None`: without a limit), or until a touch when
    /// `touch_ends` is set. `Ok(true)` when touched, `Ok(false)` when the
    /// time ran out.
    fn wait(&self, d: Option<Duration>, touch_ends: bool) -> Result<bool, PresenceError> {
        let deadline = d.map(|d| Instant::now() + d);
        self.shared.touches.store(0, Ordering::SeqCst);
        self.shared.waiting_for_user.store(true, Ordering::SeqCst);
        self.shared.emit("presence.waiting", json!({}));
        let result = loop {
            if self.shared.cancelled() {
                break Err(PresenceError::Cancelled);
            }
            if touch_ends && take_touch(&self.shared) {
                break Ok(true);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break Ok(false);
            }
            let left = deadline.map_or(Duration::from_millis(10), |d| d - now);
            std::thread::sleep(left.min(Duration::from_millis(10)));
        };
        self.shared.waiting_for_user.store(false, Ordering::SeqCst);
        result
    }
}

fn take_touch(shared: &Shared) -> bool {
    shared
        .touches
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| t.checked_sub(1))
        .is_ok()
}

fn event_json(event: &Event<'_>) -> (&'static str, Value) {
    match event {
        Event::CredentialCreated {
            rp_id,
            credential_id,
            discoverable,
            user_name,
            sign_count,
        } => (
            "credential.created",
            json!({
                "rpId": rp_id,
                "credentialId": b64(credential_id),
                "discoverable": discoverable,
                "userName": user_name,
                "signCount": sign_count,
            }),
        ),
        Event::Asserted {
            rp_id,
            credential_id,
            sign_count,
            up,
            uv,
        } => (
            "credential.asserted",
            json!({
                "rpId": rp_id,
                "credentialId": b64(credential_id),
                "signCount": sign_count,
                "up": up,
                "uv": uv,
            }),
        ),
        Event::CredentialDeleted {
            rp_id,
            credential_id,
        } => (
            "credential.deleted",
            json!({ "rpId": rp_id, "credentialId": b64(credential_id) }),
        ),
        Event::PinChanged { had_pin } => {
            (if *had_pin { "pin.changed" } else { "pin.set" }, json!({}))
        }
        Event::PinMismatch { retries_left } => {
            ("pin.mismatch", json!({ "retriesLeft": retries_left }))
        }
        Event::Reset => ("device.reset", json!({})),
    }
}

impl Env for DaemonEnv {
    type Rng = rand_core::OsRng;
    type Store = DynStore;

    fn rng(&mut self) -> &mut Self::Rng {
        &mut self.rng
    }
    fn store(&mut self) -> &mut DynStore {
        &mut self.store
    }
    fn store_ref(&self) -> &DynStore {
        &self.store
    }
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
    fn check_user(
        &mut self,
        request: &PresenceRequest<'_>,
        up: bool,
        uv: bool,
    ) -> Result<UserCheck, PresenceError> {
        if !up && !uv {
            return Ok(UserCheck {
                up: false,
                uv: false,
            });
        }
        let (mode, uv_policy) = self.shared.policy();
        tracing::debug!(?request, up, uv, %mode, "asking for user presence");
        if matches!(
            request,
            PresenceRequest::U2fRegister { .. } | PresenceRequest::U2fAuthenticate { .. }
        ) {
            self.poll_u2f_touch(mode)?;
            return apply_policy(PresencePolicy::Approve, uv_policy, up, uv);
        }
        let policy = match mode {
            PresenceMode::Approve => PresencePolicy::Approve,
            PresenceMode::Deny => PresencePolicy::Deny,
            PresenceMode::Delay(d) => {
                self.wait(Some(d), false)?;
                PresencePolicy::Approve
            }
            PresenceMode::TimeoutAfter(d) => {
                self.wait(Some(d), false)?;
                PresencePolicy::Timeout
            }
            PresenceMode::Never => {
                self.wait(None, false)?;
                PresencePolicy::Timeout
            }
            PresenceMode::Manual => {
                self.wait(None, true)?;
                PresencePolicy::Approve
            }
        };
        apply_policy(policy, uv_policy, up, uv)
    }

    fn event(&mut self, event: &Event<'_>) {
        let (kind, fields) = event_json(event);
        self.shared.emit(kind, fields);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const APP: [u8; 32] = [7; 32];

    fn env(presence: PresenceMode) -> DaemonEnv {
        DaemonEnv::new(Arc::new(Shared::new("t", presence, UvPolicy::Succeed)))
    }

    fn u2f(env: &mut DaemonEnv) -> Result<UserCheck, PresenceError> {
        env.check_user(
            &PresenceRequest::U2fAuthenticate { app_id_hash: APP },
            true,
            false,
        )
    }

    #[test]
    fn u2f_presence_never_waits() {
        for (mode, expected) in [
            (PresenceMode::Approve, Ok(())),
            (PresenceMode::Deny, Err(PresenceError::Denied)),
            (
                PresenceMode::TimeoutAfter(Duration::from_secs(30)),
                Err(PresenceError::Timeout),
            ),
            (
                PresenceMode::Delay(Duration::from_secs(30)),
                Err(PresenceError::Timeout),
            ),
        ] {
            let mut e = env(mode);
            let started = Instant::now();
            let check = u2f(&mut e);
            assert!(started.elapsed() < Duration::from_millis(500), "{mode:?}");
            assert_eq!(check.map(|_| ()), expected, "{mode:?}");
            if let Ok(c) = check {
                assert_eq!(
                    c,
                    UserCheck {
                        up: true,
                        uv: false
                    }
                );
            }
            assert!(!e.shared.waiting_for_user.load(Ordering::SeqCst));
        }
    }

    #[test]
    fn u2f_delay_touches_after_the_delay_of_a_polling_run() {
        let mut e = env(PresenceMode::Delay(Duration::from_millis(400)));
        assert_eq!(u2f(&mut e), Err(PresenceError::Timeout));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(u2f(&mut e), Err(PresenceError::Timeout), "not yet");
        std::thread::sleep(Duration::from_millis(400));
        assert!(u2f(&mut e).is_ok(), "touched");
        // The touch was used up: the next request starts a new wait.
        assert_eq!(u2f(&mut e), Err(PresenceError::Timeout));
    }

    #[test]
    fn u2f_delay_restarts_after_an_abandoned_run() {
        let mut e = env(PresenceMode::Delay(Duration::from_millis(150)));
        let now = Instant::now();
        // A run that started long ago, but whose client stopped polling.
        e.u2f_touch = Some(PendingTouch {
            since: now.checked_sub(Duration::from_secs(10)).unwrap(),
            last: now.checked_sub(U2F_POLL_ABANDONED * 2).unwrap(),
        });
        assert_eq!(u2f(&mut e), Err(PresenceError::Timeout), "a new run");
        // A run whose client kept polling gets its touch.
        e.u2f_touch = Some(PendingTouch {
            since: now.checked_sub(Duration::from_secs(10)).unwrap(),
            last: now,
        });
        assert!(u2f(&mut e).is_ok());
    }

    #[test]
    fn ctap2_requests_still_wait() {
        let mut e = env(PresenceMode::Delay(Duration::from_millis(100)));
        let started = Instant::now();
        let check = e.check_user(&PresenceRequest::Selection, true, false);
        assert!(check.is_ok());
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod control_tests {
    use super::*;

    #[test]
    fn presence_modes_parse_and_print() {
        for s in [
            "approve",
            "deny",
            "delay:250",
            "timeout:10",
            "never",
            "manual",
        ] {
            assert_eq!(s.parse::<PresenceMode>().unwrap().to_string(), s);
        }
        for bad in [
            "",
            "yes",
            "delay:",
            "delay:x",
            "delay:600001",
            "approve:1",
            "manual:3",
        ] {
            assert!(bad.parse::<PresenceMode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn manual_waits_for_a_touch_and_touch_needs_a_waiting_request() {
        let shared = Arc::new(Shared::new("t", PresenceMode::Manual, UvPolicy::Succeed));
        assert!(!shared.touch(), "nothing is waiting");
        let mut events = shared.subscribe();
        let mut env = DaemonEnv::new(shared.clone());
        let waiter =
            std::thread::spawn(move || env.check_user(&PresenceRequest::Selection, true, false));
        while !shared.waiting_for_user.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "still waiting without a touch");
        assert!(shared.touch());
        assert!(waiter.join().unwrap().is_ok());
        let e = events.try_recv().unwrap();
        assert_eq!(e["type"], "presence.waiting");
        assert_eq!(e["device"], "t");
    }

    #[test]
    fn never_ends_on_cancel_and_on_stop_and_policy_changes_apply() {
        let shared = Arc::new(Shared::new("t", PresenceMode::Never, UvPolicy::Succeed));
        shared.current_txn.store(7, Ordering::SeqCst);
        let mut env = DaemonEnv::new(shared.clone());
        let waiter = std::thread::spawn(move || {
            let r = env.check_user(&PresenceRequest::Selection, true, false);
            (r, env)
        });
        std::thread::sleep(Duration::from_millis(50));
        shared.cancelled_txn.store(7, Ordering::SeqCst);
        let (r, mut env) = waiter.join().unwrap();
        assert_eq!(r, Err(PresenceError::Cancelled));
        shared.stopping.store(true, Ordering::SeqCst);
        assert_eq!(
            env.check_user(&PresenceRequest::Selection, true, false),
            Err(PresenceError::Cancelled)
        );
        shared.stopping.store(false, Ordering::SeqCst);
        shared.current_txn.store(0, Ordering::SeqCst);
        shared.set_presence(PresenceMode::Deny);
        assert_eq!(
            env.check_user(&PresenceRequest::Selection, true, false),
            Err(PresenceError::Denied)
        );
        shared.set_presence(PresenceMode::Approve);
        shared.set_uv(UvPolicy::Fail);
        let c = env
            .check_user(&PresenceRequest::Selection, true, true)
            .unwrap();
        assert!(c.up && !c.uv);
    }
}
