//! The capabilities the authenticator is given rather than takes: randomness,
//! a monotonic clock, user presence/verification, and the credential store.
//!
//! Nothing in this crate reads the OS clock or the OS RNG (clippy's
//! `disallowed-methods` enforces it); a seeded [`TestEnv`] therefore makes
//! whole responses byte-identical from run to run.

use rand_chacha::rand_core::SeedableRng;
use rand_core::CryptoRng;

use crate::accounts::{AccountChoice, AccountRule, ChoiceReason};
use crate::status::StatusCode;
use crate::store::{CredentialStore, MemoryStore};

/// What the user is being asked to approve, for prompts and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceRequest<'a> {
    /// makeCredential for an RP.
    Register {
        /// The RP ID.
        rp_id: &'a str,
        /// The user's name, when given.
        user_name: Option<&'a str>,
    },
    /// makeCredential found a credential from the excludeList (CTAP 2.1
    /// §6.1.2 step 7: presence is collected before the error).
    Excluded {
        /// The RP ID.
        rp_id: &'a str,
    },
    /// getAssertion for an RP.
    Authenticate {
        /// The RP ID.
        rp_id: &'a str,
    },
    /// authenticatorReset.
    Reset,
    /// authenticatorSelection: "is this the key you mean?".
    Selection,
    /// Built-in user verification for a pinUvAuthToken (CTAP 2.1
    /// §6.5.5.7.3), optionally for one RP.
    Verify {
        /// The permissions RP ID, when given.
        rp_id: Option<&'a str>,
    },
    /// One sample of a fingerprint enrollment (authenticatorBioEnrollment,
    /// CTAP 2.1 §6.7.3–§6.7.4): a touch is a good sample, a refusal a poor
    /// one.
    EnrollSample,
    /// A zero-length pinUvAuthParam: a CTAP 2.0 platform asks the user to
    /// touch the key they mean (CTAP 2.1 §6.1.2 step 1).
    PinProbe,
    /// CTAP1/U2F U2F_REGISTER (FIDO U2F Raw Message Formats v1.2 §4.1).
    ///
    /// U2F's test of user presence is polled: the client repeats the
    /// request until it succeeds, and a request without a touch answers
    /// SW_CONDITIONS_NOT_SATISFIED at once. An environment should therefore
    /// decide promptly ("touched already" or not yet, which any error
    /// stands for) instead of waiting for the user as it may for CTAP2.
    U2fRegister {
        /// The application parameter: SHA-256 of the application ID.
        app_id_hash: [u8; 32],
    },
    /// CTAP1/U2F U2F_AUTHENTICATE with enforce-user-presence-and-sign (FIDO
    /// U2F Raw Message Formats v1.2 §5.1); polled like
    /// [`PresenceRequest::U2fRegister`].
    U2fAuthenticate {
        /// The application parameter: SHA-256 of the application ID.
        app_id_hash: [u8; 32],
    },
}

/// What the user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCheck {
    /// The user touched the key.
    pub up: bool,
    /// The built-in user verification succeeded.
    pub uv: bool,
}

/// Why no approval came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceError {
    /// The user refused (CTAP2_ERR_OPERATION_DENIED).
    Denied,
    /// Nobody answered in time (CTAP2_ERR_USER_ACTION_TIMEOUT).
    Timeout,
    /// The client sent CTAPHID_CANCEL (CTAP2_ERR_KEEPALIVE_CANCEL).
    Cancelled,
}

impl From<PresenceError> for StatusCode {
    fn from(e: PresenceError) -> Self {
        match e {
            PresenceError::Denied => StatusCode::OperationDenied,
            PresenceError::Timeout => StatusCode::UserActionTimeout,
            PresenceError::Cancelled => StatusCode::KeepaliveCancel,
        }
    }
}

/// Something that happened on the device, for event streams and logs.
/// Emitted after the change it reports was committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// makeCredential created a credential.
    CredentialCreated {
        /// The RP ID.
        rp_id: &'a str,
        /// The new credential's ID.
        credential_id: &'a [u8],
        /// Whether it is discoverable (stored).
        discoverable: bool,
        /// The user's name, when given.
        user_name: Option<&'a str>,
        /// The signature counter in the registration.
        sign_count: u32,
    },
    /// getAssertion or getNextAssertion signed an assertion.
    Asserted {
        /// The RP ID.
        rp_id: &'a str,
        /// The credential's ID.
        credential_id: &'a [u8],
        /// The signature counter signed.
        sign_count: u32,
        /// The UP and UV flags signed.
        up: bool,
        /// See `up`.
        uv: bool,
    },
    /// Credential management deleted a credential.
    CredentialDeleted {
        /// The RP ID.
        rp_id: &'a str,
        /// The credential's ID.
        credential_id: &'a [u8],
    },
    /// A PIN was set (setPIN) or changed (changePIN).
    PinChanged {
        /// Whether a PIN was set before.
        had_pin: bool,
    },
    /// A wrong PIN was given.
    PinMismatch {
        /// pinRetries left (0: blocked until reset).
        retries_left: u8,
    },
    /// authenticatorReset erased everything.
    Reset,
    /// getAssertion found several discoverable credentials and the account
    /// choice settled which to use (CTAP 2.1 §6.2.2 step 12.2).
    AccountChoice {
        /// The RP ID.
        rp_id: &'a str,
        /// How many credentials applied.
        candidates: usize,
        /// What was decided.
        outcome: ChoiceOutcome<'a>,
    },
}

/// The outcome of an account choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceOutcome<'a> {
    /// Every credential went to the platform (numberOfCredentials).
    Platform,
    /// The virtual user chose one credential on the device.
    Chosen {
        /// Its ID.
        credential_id: &'a [u8],
        /// Its user handle.
        user_id: &'a [u8],
        /// Why.
        reason: ChoiceReason,
    },
    /// The virtual user declined (CTAP2_ERR_OPERATION_DENIED).
    Declined,
}

/// The environment of one authenticator.
pub trait Env {
    /// The random number generator.
    type Rng: CryptoRng;
    /// The credential store.
    type Store: CredentialStore;

    /// Randomness for keys, nonces and serial numbers.
    fn rng(&mut self) -> &mut Self::Rng;
    /// The store.
    fn store(&mut self) -> &mut Self::Store;
    /// The store, read-only.
    fn store_ref(&self) -> &Self::Store;
    /// Milliseconds on a monotonic clock with an arbitrary origin.
    fn now_ms(&self) -> u64;
    /// Asks for user presence (`up`) and/or built-in user verification
    /// (`uv`), and reports what was done. This call may block while a user
    /// (or a test policy) decides; the transport keeps the channel alive
    /// meanwhile. With neither `up` nor `uv` it must return at once.
    fn check_user(
        &mut self,
        request: &PresenceRequest<'_>,
        up: bool,
        uv: bool,
    ) -> Result<UserCheck, PresenceError>;
    /// Hears of something that happened (the default ignores it).
    fn event(&mut self, event: &Event<'_>) {
        let _ = event;
    }
    /// How the user picks among several discoverable credentials on the
    /// device (CTAP 2.1 §6.2.2 step 12.2). The default leaves the choice
    /// to the platform, as a key without a display does.
    fn account_choice(&self) -> AccountChoice {
        AccountChoice::rule(AccountRule::Platform)
    }
}

/// A fixed answer to every presence request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresencePolicy {
    /// Approve at once.
    Approve,
    /// Refuse.
    Deny,
    /// Report a timeout.
    Timeout,
}

/// A fixed outcome for built-in user verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UvPolicy {
    /// Verification succeeds.
    Succeed,
    /// Verification fails.
    Fail,
}

impl UvPolicy {
    /// The name the CLI, the control API and events use.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Succeed => "succeed",
            Self::Fail => "fail",
        }
    }
}

impl std::str::FromStr for UvPolicy {
    type Err = String;

    /// `succeed` or `fail`.
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Succeed, Self::Fail]
            .into_iter()
            .find(|u| u.name() == s)
            .ok_or_else(|| format!("`{s}` is not succeed or fail"))
    }
}

/// Applies a [`PresencePolicy`] and [`UvPolicy`] without waiting.
pub fn apply_policy(
    presence: PresencePolicy,
    uv_policy: UvPolicy,
    up: bool,
    uv: bool,
) -> Result<UserCheck, PresenceError> {
    if up || uv {
        match presence {
            PresencePolicy::Approve => {}
            PresencePolicy::Deny => return Err(PresenceError::Denied),
            PresencePolicy::Timeout => return Err(PresenceError::Timeout),
        }
    }
    Ok(UserCheck {
        up,
        uv: uv && uv_policy == UvPolicy::Succeed,
    })
}

/// A deterministic environment: seeded ChaCha20 RNG, a clock the caller
/// moves, fixed presence/UV answers, and a [`MemoryStore`].
#[derive(Debug)]
pub struct TestEnv {
    /// The RNG (seeded).
    pub rng: rand_chacha::ChaCha20Rng,
    /// The store.
    pub store: MemoryStore,
    /// The current time in milliseconds.
    pub now_ms: u64,
    /// How presence requests are answered.
    pub presence: PresencePolicy,
    /// How UV requests are answered.
    pub uv: UvPolicy,
    /// Every presence request seen, in order (for tests).
    pub presence_log: Vec<String>,
    /// How the user picks among several discoverable credentials
    /// (`platform` unless a test sets another).
    pub accounts: AccountChoice,
    /// Every event heard, as its Debug form (for tests).
    pub events: Vec<String>,
}

impl TestEnv {
    /// A fresh environment from a seed, approving everything.
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: rand_chacha::ChaCha20Rng::seed_from_u64(seed),
            store: MemoryStore::default(),
            now_ms: 0,
            presence: PresencePolicy::Approve,
            uv: UvPolicy::Succeed,
            presence_log: Vec::new(),
            accounts: AccountChoice::rule(AccountRule::Platform),
            events: Vec::new(),
        }
    }
}

impl Env for TestEnv {
    type Rng = rand_chacha::ChaCha20Rng;
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
        self.now_ms
    }
    fn check_user(
        &mut self,
        request: &PresenceRequest<'_>,
        up: bool,
        uv: bool,
    ) -> Result<UserCheck, PresenceError> {
        self.presence_log
            .push(format!("{request:?} up={up} uv={uv}"));
        apply_policy(self.presence, self.uv, up, uv)
    }
    fn event(&mut self, event: &Event<'_>) {
        self.events.push(format!("{event:?}"));
    }
    fn account_choice(&self) -> AccountChoice {
        self.accounts.clone()
    }
}
