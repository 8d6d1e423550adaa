//! The authenticator's environment in a running device (the core's
//! [`Env`]): OS randomness, a monotonic clock, a credential store (in
//! memory or durable), the virtual user, and the core's events mapped onto
//! the device's event bus.

use std::sync::Arc;
use std::time::Instant;

use authenticator_core::accounts::AccountChoice;
use authenticator_core::env::{
    ChoiceOutcome, Env, Event, PresenceError, PresenceRequest, UserCheck,
};
use authenticator_core::store::{CredentialStore, MemoryStore};
use base64::Engine as _;
use fidosim_control_api::event::EventKind;

use super::mode::PresenceMode;
use super::shared::Shared;
use super::user::VirtualUser;

/// The store a daemon device uses, chosen at run time.
pub type DynStore = Box<dyn CredentialStore + Send>;

/// The operating system's random number generator (getrandom(2)). It
/// fails only when the kernel cannot give randomness at all, and then
/// the device must not make keys: it panics, as the OS RNG always has.
pub type OsRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// The environment of a daemon-run authenticator.
pub struct DaemonEnv {
    rng: OsRng,
    store: DynStore,
    start: Instant,
    pub(super) shared: Arc<Shared>,
    /// Answers the requests for presence.
    pub(super) user: VirtualUser,
}

impl std::fmt::Debug for DaemonEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonEnv")
            .field("device", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl DaemonEnv {
    /// Answers requests for presence by `mode` instead of the mode in
    /// force, until called again with `None`.
    pub fn pin_presence(&mut self, mode: Option<PresenceMode>) {
        self.user.pinned = mode;
    }

    /// A fresh environment with an empty in-memory store; the presence
    /// policy is the one in `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self::with_store(shared, Box::new(MemoryStore::default()))
    }

    /// An environment on the given store.
    pub fn with_store(shared: Arc<Shared>, store: DynStore) -> Self {
        Self {
            rng: OsRng::default(),
            store,
            start: Instant::now(),
            shared,
            user: VirtualUser::default(),
        }
    }
}

/// Binary fields of events and of the control API: standard base64.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The device event for an event of the core; `accounts` is the account
/// choice in force (the reason of a `platform` or `declined` outcome).
fn event_kind(event: &Event<'_>, accounts: impl Fn() -> AccountChoice) -> EventKind {
    match event {
        Event::AccountChoice {
            rp_id,
            candidates,
            outcome,
        } => {
            let (outcome, credential_id, user_handle, reason) = match outcome {
                ChoiceOutcome::Chosen {
                    credential_id,
                    user_id,
                    reason,
                } => (
                    "chosen",
                    Some(b64(credential_id)),
                    Some(b64(user_id)),
                    reason.name().to_owned(),
                ),
                ChoiceOutcome::Platform => ("platform", None, None, accounts().to_string()),
                ChoiceOutcome::Declined => ("declined", None, None, accounts().to_string()),
            };
            EventKind::AccountChosen {
                rp_id: (*rp_id).to_owned(),
                candidates: *candidates,
                outcome: outcome.to_owned(),
                credential_id,
                user_handle,
                reason,
            }
        }
        Event::CredentialCreated {
            rp_id,
            credential_id,
            discoverable,
            user_name,
            sign_count,
        } => EventKind::CredentialCreated {
            rp_id: (*rp_id).to_owned(),
            credential_id: b64(credential_id),
            discoverable: *discoverable,
            user_name: user_name.map(str::to_owned),
            sign_count: *sign_count,
        },
        Event::Asserted {
            rp_id,
            credential_id,
            sign_count,
            up,
            uv,
        } => EventKind::CredentialAsserted {
            rp_id: (*rp_id).to_owned(),
            credential_id: b64(credential_id),
            sign_count: *sign_count,
            up: *up,
            uv: *uv,
        },
        Event::CredentialDeleted {
            rp_id,
            credential_id,
        } => EventKind::CredentialDeleted {
            rp_id: Some((*rp_id).to_owned()),
            credential_id: b64(credential_id),
            by: None,
        },
        Event::PinChanged { had_pin } => {
            if *had_pin {
                EventKind::PinChanged
            } else {
                EventKind::PinSet
            }
        }
        Event::PinMismatch { retries_left } => EventKind::PinMismatch {
            retries_left: *retries_left,
        },
        Event::Reset => EventKind::DeviceReset,
    }
}

impl Env for DaemonEnv {
    type Rng = OsRng;
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
        self.user.check(&self.shared, request, up, uv)
    }

    fn event(&mut self, event: &Event<'_>) {
        self.shared
            .emit(event_kind(event, || self.shared.account_choice()));
    }

    fn account_choice(&self) -> AccountChoice {
        self.shared.account_choice()
    }
}
