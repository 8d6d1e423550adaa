//! PIN/UV auth state (CTAP 2.1 §6.5.2): the key-agreement keys, the
//! pinUvAuthToken with its permissions and flags, and the checks that
//! commands run against a pinUvAuthParam.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::Authenticator;
use crate::crypto::pin_protocol::{KeyAgreementKey, PinProtocol};
use crate::env::{Env, PresenceError, PresenceRequest};
use crate::limits::{TOKEN_INITIAL_USAGE_MS, TOKEN_MAX_USAGE_MS, TOKEN_USER_PRESENT_MS};
use crate::status::StatusCode;
use crate::store::{CredentialStore, DeviceState};

pub(crate) use crate::wire::client_pin::permission;

/// The state of the pinUvAuthToken while it is in use (§6.5.2.1).
#[derive(Debug, Clone)]
struct TokenUse {
    protocol: PinProtocol,
    permissions: u64,
    rp_id: Option<String>,
    issued_ms: u64,
    used: bool,
    user_present: bool,
    user_verified: bool,
}

/// Per-power-cycle PIN/UV state.
pub(crate) struct PinUvState {
    key_v1: KeyAgreementKey,
    key_v2: KeyAgreementKey,
    token: Zeroizing<[u8; 32]>,
    in_use: Option<TokenUse>,
    /// PIN mismatches in a row in this power cycle (§6.5.5.7.1).
    pub(crate) mismatches: u8,
}

impl PinUvState {
    /// initialize() for both protocols (§6.5.4): fresh key-agreement keys
    /// and a fresh token, at power-up.
    pub(crate) fn new(rng: &mut impl CryptoRng) -> Self {
        let mut token = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(token.as_mut());
        Self {
            key_v1: KeyAgreementKey::generate(rng),
            key_v2: KeyAgreementKey::generate(rng),
            token,
            in_use: None,
            mismatches: 0,
        }
    }

    pub(crate) fn key(&self, protocol: PinProtocol) -> &KeyAgreementKey {
        match protocol {
            PinProtocol::V1 => &self.key_v1,
            PinProtocol::V2 => &self.key_v2,
        }
    }

    /// regenerate() (§6.5.4): new key-agreement keys, after a PIN mismatch.
    pub(crate) fn regenerate(&mut self, rng: &mut impl CryptoRng) {
        self.key_v1 = KeyAgreementKey::generate(rng);
        self.key_v2 = KeyAgreementKey::generate(rng);
    }

    /// resetPinUvAuthToken() (§6.5.4): a new random token, not in use.
    pub(crate) fn reset_token(&mut self, rng: &mut impl CryptoRng) {
        rng.fill_bytes(self.token.as_mut());
        self.in_use = None;
    }

    /// beginUsingPinUvAuthToken() (§6.5.2.1) after a new token was made.
    fn begin_using(
        &mut self,
        protocol: PinProtocol,
        permissions: u64,
        rp_id: Option<String>,
        user_present: bool,
        now_ms: u64,
    ) {
        self.in_use = Some(TokenUse {
            protocol,
            permissions,
            rp_id,
            issued_ms: now_ms,
            used: false,
            user_present,
            user_verified: true,
        });
    }

    /// The usage-timer observer (§6.5.2.1): a token never used within the
    /// initial usage time limit, or older than the maximum usage period,
    /// stops being in use; the user-present flag times out on its own.
    fn expire(&mut self, now_ms: u64) {
        if let Some(t) = &mut self.in_use {
            let age = now_ms.saturating_sub(t.issued_ms);
            if age > TOKEN_MAX_USAGE_MS || (!t.used && age > TOKEN_INITIAL_USAGE_MS) {
                self.in_use = None;
                return;
            }
            if age > TOKEN_USER_PRESENT_MS {
                t.user_present = false;
            }
        }
    }

    /// clearUserPresentFlag(), clearUserVerifiedFlag() and
    /// clearPinUvAuthTokenPermissionsExceptLbw() (§6.1.2 step 14.4,
    /// §6.2.2 step 9).
    pub(crate) fn consume_flags(&mut self) {
        if let Some(t) = &mut self.in_use {
            t.user_present = false;
            t.user_verified = false;
            t.permissions &= permission::LBW;
        }
    }
}

/// What a verified pinUvAuthParam says about the user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenFlags {
    /// getUserPresentFlagValue().
    pub(crate) user_present: bool,
}

impl<E: Env> Authenticator<E> {
    /// The persistent device state.
    pub(crate) fn device_state(&self) -> Result<DeviceState, StatusCode> {
        Ok(self.env.store_ref().device_state()?)
    }

    /// Commits the persistent device state.
    pub(crate) fn save_device_state(&mut self, state: &DeviceState) -> Result<(), StatusCode> {
        Ok(self.store().set_device_state(state)?)
    }

    /// A pinUvAuthProtocol parameter: absent is CTAP2_ERR_MISSING_PARAMETER,
    /// unsupported CTAP1_ERR_INVALID_PARAMETER (§6.5.5.1, §6.1.2 step 2).
    pub(crate) fn pin_protocol(protocol: Option<u64>) -> Result<PinProtocol, StatusCode> {
        let p = protocol.ok_or(StatusCode::MissingParameter)?;
        PinProtocol::from_u64(p).ok_or(StatusCode::InvalidParameter)
    }

    /// Whether the device is "protected by some form of user verification"
    /// (§6.1.2 step 6): a PIN is set or a built-in UV method is present.
    pub(crate) fn uv_protected(&self, state: &DeviceState) -> bool {
        state.pin_hash.is_some() || self.uv_configured(state)
    }

    /// Issues a new pinUvAuthToken in use with these permissions and
    /// returns it encrypted for the platform (§6.5.5.7 last steps).
    pub(crate) fn issue_token(
        &mut self,
        protocol: PinProtocol,
        permissions: u64,
        rp_id: Option<String>,
        user_present: bool,
        shared: &crate::crypto::pin_protocol::SharedSecret,
    ) -> Result<Vec<u8>, StatusCode> {
        let now = self.env.now_ms();
        self.pin.reset_token(self.env.rng());
        self.pin
            .begin_using(protocol, permissions, rp_id, user_present, now);
        let token = *self.pin.token;
        shared.encrypt(self.env.rng(), &token)
    }

    /// Verifies `param` = authenticate(pinUvAuthToken, message) for a
    /// command that needs `permission`, restricted to `rp_id` when the
    /// token has a permissions RP ID (§6.5.5.7, §6.8.x, §6.10, §6.11).
    /// Every failure is CTAP2_ERR_PIN_AUTH_INVALID. When `bind_rp` is set
    /// and the token has no RP ID yet, `rp_id` becomes its RP ID
    /// (§6.1.2 step 11.1.7).
    pub(crate) fn check_token(
        &mut self,
        protocol: PinProtocol,
        param: &[u8],
        message: &[u8],
        permission: u64,
        rp_id: Option<&str>,
        bind_rp: bool,
    ) -> Result<TokenFlags, StatusCode> {
        let now = self.env.now_ms();
        self.pin.expire(now);
        let token = *self.pin.token;
        let t = self.pin.in_use.as_mut().ok_or(StatusCode::PinAuthInvalid)?;
        if t.protocol != protocol || !protocol.verify(&token, message, param) {
            return Err(StatusCode::PinAuthInvalid);
        }
        if t.permissions & permission != permission {
            return Err(StatusCode::PinAuthInvalid);
        }
        match (&t.rp_id, rp_id) {
            (Some(bound), Some(wanted)) if bound != wanted => {
                return Err(StatusCode::PinAuthInvalid)
            }
            (None, Some(wanted)) if bind_rp => t.rp_id = Some(wanted.to_owned()),
            _ => {}
        }
        t.used = true;
        Ok(TokenFlags {
            user_present: t.user_present,
        })
    }

    /// getUserVerifiedFlagValue() of the token in use (§6.5.2.1).
    pub(crate) fn token_user_verified(&self) -> bool {
        self.pin.in_use.as_ref().is_some_and(|t| t.user_verified)
    }

    /// The token's permissions RP ID, if it has one (credential
    /// management restricts enumeration to it).
    pub(crate) fn token_rp_id(&self) -> Option<&str> {
        self.pin.in_use.as_ref().and_then(|t| t.rp_id.as_deref())
    }

    /// performBuiltInUv() (§6.5.2.3) for mc/ga with internal retry: on a
    /// failed match uvRetries goes down; on success it is reset. Errors
    /// follow §6.1.2 step 11.2 / §6.2.2 step 6.2.
    pub(crate) fn builtin_uv_for_request(
        &mut self,
        request: &PresenceRequest<'_>,
    ) -> Result<(), StatusCode> {
        let mut state = self.device_state()?;
        let pin_set = state.pin_hash.is_some();
        if state.uv_retries == 0 {
            return Err(Self::uv_failure(pin_set, 0));
        }
        match self.env.check_user(request, true, true) {
            Ok(check) if check.uv => {
                let counted = self.count_uv(&mut state);
                if state.uv_retries != self.config.uv_retries || counted {
                    state.uv_retries = self.config.uv_retries;
                    self.save_device_state(&state)?;
                }
                Ok(())
            }
            Ok(_) => {
                self.count_uv(&mut state);
                state.uv_retries -= 1;
                self.save_device_state(&state)?;
                Err(Self::uv_failure(pin_set, state.uv_retries))
            }
            Err(PresenceError::Timeout) => Err(StatusCode::UserActionTimeout),
            Err(PresenceError::Cancelled) => Err(StatusCode::KeepaliveCancel),
            Err(PresenceError::Denied) => Err(StatusCode::OperationDenied),
        }
    }

    /// Counts one built-in UV operation, matched or not, for getInfo's
    /// uvCountSinceLastPinEntry (CTAP 2.2), while a PIN is set (without one
    /// there is no PIN entry to count from). Returns whether it counted;
    /// the caller saves the state.
    pub(crate) fn count_uv(&self, state: &mut DeviceState) -> bool {
        if state.pin_hash.is_none() {
            return false;
        }
        state.uv_count_since_pin = state.uv_count_since_pin.saturating_add(1);
        true
    }

    /// §6.1.2 step 11.2 / §6.2.2 step 6.2: PUAT_REQUIRED when a PIN could
    /// be used instead, PIN_BLOCKED when no UV attempts are left, else
    /// OPERATION_DENIED.
    fn uv_failure(pin_set: bool, retries_left: u8) -> StatusCode {
        if pin_set {
            StatusCode::PuatRequired
        } else if retries_left == 0 {
            StatusCode::PinBlocked
        } else {
            StatusCode::OperationDenied
        }
    }

    /// The answer to a zero-length pinUvAuthParam (§6.1.2 / §6.2.2 step 1):
    /// after a touch, PIN_NOT_SET or PIN_INVALID, so a CTAP 2.0 platform can
    /// let the user pick this key.
    pub(crate) fn pin_probe(&mut self, request: &PresenceRequest<'_>) -> StatusCode {
        match self.env.check_user(request, true, false) {
            Err(PresenceError::Cancelled) => StatusCode::KeepaliveCancel,
            Err(_) => StatusCode::OperationDenied,
            Ok(_) => match self.device_state() {
                Ok(s) if s.pin_hash.is_some() => StatusCode::PinInvalid,
                Ok(_) => StatusCode::PinNotSet,
                Err(e) => e,
            },
        }
    }
}
