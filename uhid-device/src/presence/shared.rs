//! The state a device's parts share: the transaction being processed and
//! the one the host cancelled, whether the worker waits for the user, the
//! touches given, the presence policy in force, the faults to inject, and
//! the event bus.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use authenticator_core::accounts::AccountChoice;
use authenticator_core::env::UvPolicy;
use fidosim_control_api::event::{Event, EventKind};
use tokio::sync::broadcast;

use super::bus::EventBus;
use super::mode::PresenceMode;

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
    /// How the virtual user picks among several discoverable credentials.
    accounts: Mutex<AccountChoice>,
    events: EventBus,
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
            accounts: Mutex::new(AccountChoice::default()),
            events: EventBus::new(),
        }
    }

    /// The same, with `choice` as the account choice at start (no event).
    #[must_use]
    pub fn with_account_choice(mut self, choice: AccountChoice) -> Self {
        self.accounts = Mutex::new(choice);
        self
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
        self.emit(EventKind::PresenceChanged {
            presence: mode.to_string(),
        });
    }

    /// Changes the built-in UV outcome.
    pub fn set_uv(&self, uv: UvPolicy) {
        if let Ok(mut p) = self.policy.lock() {
            p.1 = uv;
        }
        self.emit(EventKind::UvChanged {
            uv: uv.name().to_owned(),
        });
    }

    /// How the virtual user picks among several discoverable credentials
    /// (CTAP 2.1 §6.2.2 step 12.2).
    pub fn account_choice(&self) -> AccountChoice {
        self.accounts.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Changes the account choice; the next getAssertion uses it.
    pub fn set_account_choice(&self, choice: AccountChoice) {
        let text = choice.to_string();
        if let Ok(mut a) = self.accounts.lock() {
            *a = choice;
        }
        self.emit(EventKind::AccountChoiceChanged {
            account_choice: text,
        });
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

    /// Forgets the touches given before a wait starts.
    pub(super) fn clear_touches(&self) {
        self.touches.store(0, Ordering::SeqCst);
    }

    /// Uses up one touch, if one was given.
    pub(super) fn take_touch(&self) -> bool {
        self.touches
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| t.checked_sub(1))
            .is_ok()
    }

    /// Listens to the device's events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Publishes an event of this device, stamped with its name and the
    /// time (Unix milliseconds).
    pub fn emit(&self, kind: EventKind) {
        self.events.publish(&self.name, kind);
    }
}
