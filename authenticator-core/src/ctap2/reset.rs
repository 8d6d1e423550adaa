//! authenticatorReset (CTAP 2.1 §6.6) and authenticatorSelection (§6.9).

use rand_core::Rng;
use zeroize::Zeroizing;

use super::Authenticator;
use crate::config::ResetPolicy;
use crate::env::{Env, PresenceRequest};
use crate::limits::RESET_WINDOW_MS;
use crate::status::StatusCode;
use crate::store::CredentialStore;

impl<E: Env> Authenticator<E> {
    pub(super) fn reset(&mut self) -> Result<Vec<u8>, StatusCode> {
        // A key without a display accepts reset only within 10 s of
        // power-up; the window is checked before asking the user.
        if self.config.reset_policy == ResetPolicy::AfterPowerUp
            && self.env.now_ms().saturating_sub(self.power_up_ms) > RESET_WINDOW_MS
        {
            return Err(StatusCode::NotAllowed);
        }
        // Evidence of user interaction is required: denied is
        // OPERATION_DENIED, a timeout USER_ACTION_TIMEOUT.
        self.env.check_user(&PresenceRequest::Reset, true, false)?;
        self.wipe()?;
        Ok(Vec::new())
    }

    /// What authenticatorReset does once allowed, without asking anyone
    /// (the control API's reset): every credential, counter, the PIN and
    /// the settings go, and a new master secret makes every issued
    /// credential ID unopenable.
    pub fn wipe(&mut self) -> Result<(), StatusCode> {
        // Every credential is invalidated: discoverable ones are erased and
        // a new master secret makes every issued credential ID unopenable.
        let mut master = Zeroizing::new([0u8; 32]);
        self.env.rng().fill_bytes(master.as_mut());
        self.store().reset(&master)?;
        // The PIN, its retries and the authenticatorConfig settings go too
        // (§6.6); alwaysUv returns to the configured default.
        let state = crate::store::DeviceState {
            always_uv: self.config.always_uv,
            uv_retries: self.config.uv_retries,
            ..Default::default()
        };
        self.store().set_device_state(&state)?;
        self.master = master;
        self.clear_cursors();
        self.large_blob_write = None;
        self.pin = super::pin::PinUvState::new(self.env.rng());
        self.env.event(&crate::env::Event::Reset);
        Ok(())
    }

    /// Forgets the getNextAssertion and credential management cursors:
    /// call after changing the stored credentials from outside a CTAP
    /// command, so that no cursor walks a list that no longer exists.
    pub fn clear_cursors(&mut self) {
        self.next_assertion = None;
        self.cred_mgmt = super::cred_mgmt::Enumeration::default();
        self.enrollment = None;
    }

    pub(super) fn selection(&mut self) -> Result<Vec<u8>, StatusCode> {
        self.env
            .check_user(&PresenceRequest::Selection, true, false)?;
        Ok(Vec::new())
    }
}
