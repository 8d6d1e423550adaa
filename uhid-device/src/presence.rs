//! The daemon's environment for the authenticator: OS randomness, a
//! monotonic clock, the in-memory store, and a presence policy that can wait
//! (while the transport sends keepalives) and be cancelled.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authenticator_core::env::{
    apply_policy, Env, PresenceError, PresencePolicy, PresenceRequest, UserCheck, UvPolicy,
};
use authenticator_core::store::MemoryStore;

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

/// The environment of a daemon-run authenticator.
#[derive(Debug)]
pub struct DaemonEnv {
    rng: rand_core::OsRng,
    store: MemoryStore,
    start: Instant,
    /// Presence answers.
    pub presence: PresenceMode,
    /// Built-in UV outcome.
    pub uv: UvPolicy,
    shared: Arc<Shared>,
}

impl DaemonEnv {
    /// A fresh environment with an empty in-memory store.
    pub fn new(presence: PresenceMode, uv: UvPolicy, shared: Arc<Shared>) -> Self {
        Self {
            rng: rand_core::OsRng,
            store: MemoryStore::default(),
            start: Instant::now(),
            presence,
            uv,
            shared,
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
    type Store = MemoryStore;

    fn rng(&mut self) -> &mut Self::Rng {
        &mut self.rng
    }
    fn store(&mut self) -> &mut MemoryStore {
        &mut self.store
    }
    fn store_ref(&self) -> &MemoryStore {
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
