//! The authenticator: command dispatch and the state it keeps between
//! commands. Each command's handler lives in its own file.

mod authnr_config;
mod bio;
mod client_pin;
mod cred_mgmt;
mod extensions;
mod get_assertion;
mod get_info;
mod large_blobs;
mod make_credential;
pub(crate) mod pin;
mod reset;
mod u2f;

use rand_core::Rng;
use zeroize::Zeroizing;

use crate::config::DeviceConfig;
use crate::crypto::attestation_ca::AttestationIdentity;
use crate::env::Env;
use crate::limits::MAX_MSG_SIZE;
use crate::status::StatusCode;
use crate::store::{CredentialStore, StoreError};
use crate::wire::Command;

pub(crate) use get_assertion::NextAssertion;

/// Why an authenticator could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupError {
    /// The configuration enables no algorithm.
    NoAlgorithms,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for SetupError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoAlgorithms => f.write_str("the device configuration enables no algorithm"),
            Self::Store(e) => write!(f, "the credential store failed: {e:?}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// A CTAP2 authenticator over an environment `E`.
///
/// ```text
///  request bytes ──► handle() ──► Command ──► wire::<cmd>::Request::decode
///                                                  │
///        status ‖ CBOR ◄── Response::encode ◄── ctap2::<cmd> handler
///                                                  │  uses
///                               Env: rng · clock · check_user · store
/// ```
pub struct Authenticator<E: Env> {
    config: DeviceConfig,
    identity: AttestationIdentity,
    env: E,
    master: Zeroizing<[u8; 32]>,
    /// When the device last powered up (for the reset window).
    power_up_ms: u64,
    /// getNextAssertion state; per power cycle.
    next_assertion: Option<NextAssertion>,
    /// PIN/UV auth state; per power cycle.
    pin: pin::PinUvState,
    /// The identity that signs enterprise attestations, if the device has
    /// one (CTAP 2.1 §7.1).
    enterprise: Option<AttestationIdentity>,
    /// The large-blob write in progress (CTAP 2.1 §6.10.2); per power cycle.
    large_blob_write: Option<large_blobs::PendingWrite>,
    /// Credential management enumeration cursors; per power cycle.
    cred_mgmt: cred_mgmt::Enumeration,
    /// The fingerprint enrollment in progress (CTAP 2.1 §6.7); per power
    /// cycle.
    enrollment: Option<bio::Enrollment>,
}

impl<E: Env> core::fmt::Debug for Authenticator<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl<E: Env> Authenticator<E> {
    /// Builds an authenticator. On first use of a store this creates the
    /// device master secret (which seals credential IDs).
    pub fn new(
        config: DeviceConfig,
        identity: AttestationIdentity,
        mut env: E,
    ) -> Result<Self, SetupError> {
        if config.algorithms.is_empty() {
            return Err(SetupError::NoAlgorithms);
        }
        let master = match env.store_ref().master_secret()? {
            Some(m) => m,
            None => {
                let mut m = Zeroizing::new([0u8; 32]);
                env.rng().fill_bytes(m.as_mut());
                env.store().set_master_secret(&m)?;
                let state = initial_state(&config);
                env.store().set_device_state(&state)?;
                m
            }
        };
        let power_up_ms = env.now_ms();
        let pin = pin::PinUvState::new(env.rng());
        Ok(Self {
            config,
            identity,
            env,
            master,
            power_up_ms,
            next_assertion: None,
            pin,
            enterprise: None,
            large_blob_write: None,
            cred_mgmt: cred_mgmt::Enumeration::default(),
            enrollment: None,
        })
    }

    /// The device settings.
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// Changes the device settings (the store and secrets stay).
    pub fn set_config(&mut self, config: DeviceConfig) -> Result<(), SetupError> {
        if config.algorithms.is_empty() {
            return Err(SetupError::NoAlgorithms);
        }
        self.config = config;
        Ok(())
    }

    /// Gives the device a distinct identity for enterprise attestation
    /// (CTAP 2.1 §7.1); with it, and `enterprise_attestation` in the
    /// settings, getInfo reports the `ep` option.
    pub fn set_enterprise_identity(&mut self, identity: AttestationIdentity) {
        self.enterprise = Some(identity);
    }

    /// The attestation identity.
    pub fn identity(&self) -> &AttestationIdentity {
        &self.identity
    }

    /// The environment.
    pub fn env(&self) -> &E {
        &self.env
    }

    /// The environment, mutable (tests move the clock or change policies).
    pub fn env_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// Simulates unplugging and plugging the key back in: all per-power-cycle
    /// state is dropped and the reset window restarts.
    pub fn power_cycle(&mut self) {
        self.next_assertion = None;
        self.large_blob_write = None;
        self.cred_mgmt = cred_mgmt::Enumeration::default();
        self.enrollment = None;
        self.pin = pin::PinUvState::new(self.env.rng());
        self.power_up_ms = self.env.now_ms();
    }

    /// Handles one CTAP2 message (command byte ‖ CBOR parameters) and returns
    /// the response (status byte ‖ CBOR). Never panics, on any input.
    pub fn handle(&mut self, message: &[u8]) -> Vec<u8> {
        let Some((&cmd, params)) = message.split_first() else {
            return vec![StatusCode::InvalidLength as u8];
        };
        match self.process(cmd, params) {
            Ok(mut body) => {
                body.insert(0, StatusCode::Success as u8);
                body
            }
            Err(status) => vec![status as u8],
        }
    }

    /// Handles one command; `Ok` carries the CBOR body of a success.
    pub fn process(&mut self, cmd: u8, params: &[u8]) -> Result<Vec<u8>, StatusCode> {
        if params.len() + 1 > MAX_MSG_SIZE {
            return Err(StatusCode::InvalidLength);
        }
        let command = Command::from_u8(cmd).ok_or(StatusCode::InvalidCommand)?;
        // CTAP 2.1 §6.3: the getNextAssertion state is only good for the
        // command right after getAssertion / getNextAssertion.
        if command != Command::GetNextAssertion {
            self.next_assertion = None;
        }
        // Likewise the enumeration cursors of credential management (§6.8).
        if !matches!(
            command,
            Command::CredentialManagement | Command::CredentialManagementPreview
        ) {
            self.cred_mgmt = cred_mgmt::Enumeration::default();
        }
        match command {
            Command::GetInfo => Ok(self.get_info()?.encode()),
            Command::MakeCredential => self.make_credential(params),
            Command::GetAssertion => self.get_assertion(params),
            Command::GetNextAssertion => self.get_next_assertion(),
            Command::Reset => self.reset(),
            Command::Selection => self.selection(),
            Command::ClientPin => self.client_pin(params),
            Command::LargeBlobs => self.large_blobs(params),
            Command::Config => self.authenticator_config(params),
            Command::CredentialManagement | Command::CredentialManagementPreview => {
                self.credential_management(params)
            }
            Command::BioEnrollment => self.bio_enrollment(params),
            // The prototype command of CTAP 2.1-PRE: getInfo does not
            // advertise userVerificationMgmtPreview.
            Command::BioEnrollmentPreview => Err(StatusCode::InvalidCommand),
        }
    }

    fn store(&mut self) -> &mut E::Store {
        self.env.store()
    }
}

/// The device state of a fresh device (an empty store): the configured
/// alwaysUv and uvRetries and, when configured, the initial PIN. Reset
/// builds its own state without the PIN.
pub(crate) fn initial_state(config: &DeviceConfig) -> crate::store::DeviceState {
    let mut state = crate::store::DeviceState {
        always_uv: config.always_uv,
        uv_retries: config.uv_retries,
        ..Default::default()
    };
    if let Some(pin) = &config.initial_pin {
        let digest = crate::crypto::sha256(pin.as_bytes());
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&digest[..16]);
        state.pin_hash = Some(hash);
        state.pin_code_points = u8::try_from(pin.chars().count()).unwrap_or(u8::MAX);
    }
    state
}

#[cfg(test)]
mod lb_cfg_tests;
#[cfg(test)]
mod pin_tests;
#[cfg(test)]
mod tests;
