//! The daemon's environment for the authenticator: OS randomness, a
//! monotonic clock, a credential store (in memory or durable), and a presence policy that can wait
//! (while the transport sends keepalives) and be cancelled.
//!
//! CTAP1/U2F requests are different: U2F's test of user presence is polled
//! (the client repeats the request until the key answers it with success),
//! so for them the policy never waits. `delay:MS` then means that the user
//! touches the key MS after the first request of a polling run; until then
//! each request is answered "not yet".

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authenticator_core::env::{
    apply_policy, Env, PresenceError, PresencePolicy, PresenceRequest, UserCheck, UvPolicy,
};
use authenticator_core::store::{CredentialStore, MemoryStore};

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
}

/// State shared between the worker running the authenticator and the
/// transport driver.
#[derive(Debug, Default)]
pub struct Shared {
    /// The worker is waiting for the user (the driver sends STATUS_UPNEEDED).
    pub waiting_for_user: AtomicBool,
    /// The transaction being processed.
    pub current_txn: AtomicU64,
    /// The transaction the host cancelled.
    pub cancelled_txn: AtomicU64,
}

impl Shared {
    fn cancelled(&self) -> bool {
        let cur = self.current_txn.load(Ordering::SeqCst);
        cur != 0 && self.cancelled_txn.load(Ordering::SeqCst) == cur
    }
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
    /// Presence answers.
    pub presence: PresenceMode,
    /// Built-in UV outcome.
    pub uv: UvPolicy,
    shared: Arc<Shared>,
    /// The U2F polling run under `PresenceMode::Delay`, if one is going.
    u2f_touch: Option<PendingTouch>,
}

impl std::fmt::Debug for DaemonEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonEnv")
            .field("presence", &self.presence)
            .field("uv", &self.uv)
            .finish_non_exhaustive()
    }
}

impl DaemonEnv {
    /// A fresh environment with an empty in-memory store.
    pub fn new(presence: PresenceMode, uv: UvPolicy, shared: Arc<Shared>) -> Self {
        Self::with_store(presence, uv, shared, Box::new(MemoryStore::default()))
    }

    /// An environment on the given store.
    pub fn with_store(
        presence: PresenceMode,
        uv: UvPolicy,
        shared: Arc<Shared>,
        store: DynStore,
    ) -> Self {
        Self {
            rng: rand_core::OsRng,
            store,
            start: Instant::now(),
            presence,
            uv,
            shared,
            u2f_touch: None,
        }
    }

    /// The polled test of user presence of CTAP1/U2F (FIDO U2F Raw Message
    /// Formats v1.2 §4.3, §5.1): an answer at once, never a wait.
    fn poll_u2f_touch(&mut self) -> Result<(), PresenceError> {
        match self.presence {
            PresenceMode::Approve => Ok(()),
            PresenceMode::Deny => Err(PresenceError::Denied),
            // A user who never touches the key: "not yet", until the client
            // gives up by itself.
            PresenceMode::TimeoutAfter(_) => Err(PresenceError::Timeout),
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

    fn wait(&self, d: Duration) -> Result<(), PresenceError> {
        let deadline = Instant::now() + d;
        self.shared.waiting_for_user.store(true, Ordering::SeqCst);
        let result = loop {
            if self.shared.cancelled() {
                break Err(PresenceError::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                break Ok(());
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
        };
        self.shared.waiting_for_user.store(false, Ordering::SeqCst);
        result
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
        tracing::debug!(?request, up, uv, mode = ?self.presence, "asking for user presence");
        if matches!(
            request,
            PresenceRequest::U2fRegister { .. } | PresenceRequest::U2fAuthenticate { .. }
        ) {
            self.poll_u2f_touch()?;
            return apply_policy(PresencePolicy::Approve, self.uv, up, uv);
        }
        let policy = match self.presence {
            PresenceMode::Approve => PresencePolicy::Approve,
            PresenceMode::Deny => PresencePolicy::Deny,
            PresenceMode::Delay(d) => {
                self.wait(d)?;
                PresencePolicy::Approve
            }
            PresenceMode::TimeoutAfter(d) => {
                self.wait(d)?;
                PresencePolicy::Timeout
            }
        };
        apply_policy(policy, self.uv, up, uv)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const APP: [u8; 32] = [7; 32];

    fn env(presence: PresenceMode) -> DaemonEnv {
        DaemonEnv::new(presence, UvPolicy::Succeed, Arc::new(Shared::default()))
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
