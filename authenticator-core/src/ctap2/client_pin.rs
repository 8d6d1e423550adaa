//! authenticatorClientPIN (0x06), CTAP 2.1 §6.5.5.

use super::pin::permission;
use super::Authenticator;
use crate::crypto::pin_protocol::{PinProtocol, SharedSecret};
use crate::crypto::sha256;
use crate::env::{Env, PresenceError, PresenceRequest};
use crate::limits::{MAX_PIN_BYTES, PIN_MISMATCHES_BEFORE_POWER_CYCLE};
use crate::status::StatusCode;
use crate::store::MAX_PIN_RETRIES;
use crate::wire::client_pin::{Request, Response, SubCommand};

/// Length of the padded PIN inside newPinEnc (§6.5.5.5).
const PADDED_PIN_LEN: usize = 64;

impl<E: Env> Authenticator<E> {
    pub(super) fn client_pin(&mut self, params: &[u8]) -> Result<Vec<u8>, StatusCode> {
        let req = Request::decode(params)?;
        let resp = match req.sub_command {
            SubCommand::GetPinRetries => {
                let state = self.device_state()?;
                if state.pin_hash.is_none()
                    && self
                        .config
                        .quirks
                        .contains(&crate::config::Quirk::PinRetriesNeedAPin)
                {
                    return Err(StatusCode::PinNotSet);
                }
                Response {
                    pin_retries: Some(state.pin_retries),
                    power_cycle_state: Some(
                        self.pin.mismatches >= PIN_MISMATCHES_BEFORE_POWER_CYCLE,
                    ),
                    ..Response::default()
                }
            }
            SubCommand::GetUvRetries => {
                // §6.5.5.6: only meaningful with a built-in UV method.
                if !self.config.builtin_uv {
                    return Err(StatusCode::NotAllowed);
                }
                Response {
                    uv_retries: Some(self.device_state()?.uv_retries),
                    ..Response::default()
                }
            }
            SubCommand::GetKeyAgreement => {
                let protocol = Self::pin_protocol(req.protocol)?;
                Response {
                    key_agreement: Some(self.pin.key(protocol).public_cose()),
                    ..Response::default()
                }
            }
            SubCommand::SetPin => {
                self.set_pin(&req)?;
                Response::default()
            }
            SubCommand::ChangePin => {
                self.change_pin(&req)?;
                Response::default()
            }
            SubCommand::GetPinToken => Response {
                pin_uv_auth_token: Some(self.token_using_pin(&req, false)?),
                ..Response::default()
            },
            SubCommand::GetPinUvAuthTokenUsingPinWithPermissions => Response {
                pin_uv_auth_token: Some(self.token_using_pin(&req, true)?),
                ..Response::default()
            },
            SubCommand::GetPinUvAuthTokenUsingUvWithPermissions => Response {
                pin_uv_auth_token: Some(self.token_using_uv(&req)?),
                ..Response::default()
            },
        };
        Ok(resp.encode())
    }

    /// The protocol and shared secret of a request that carries a
    /// keyAgreement; a key that fails to decapsulate is
    /// CTAP1_ERR_INVALID_PARAMETER.
    fn shared_secret(
        &self,
        protocol: PinProtocol,
        key_agreement: Option<&crate::cbor::Value>,
    ) -> Result<SharedSecret, StatusCode> {
        let peer = key_agreement.ok_or(StatusCode::MissingParameter)?;
        self.pin
            .key(protocol)
            .shared_secret(protocol, peer)
            .map_err(|_| StatusCode::InvalidParameter)
    }

    /// setPIN (§6.5.5.5).
    fn set_pin(&mut self, req: &Request) -> Result<(), StatusCode> {
        let protocol = Self::pin_protocol(req.protocol)?;
        let (Some(ka), Some(new_pin_enc), Some(param)) = (
            req.key_agreement.as_ref(),
            req.new_pin_enc.as_deref(),
            req.pin_uv_auth_param.as_deref(),
        ) else {
            return Err(StatusCode::MissingParameter);
        };
        let mut state = self.device_state()?;
        if state.pin_hash.is_some() {
            return Err(StatusCode::PinAuthInvalid);
        }
        let shared = self.shared_secret(protocol, Some(ka))?;
        if !shared.verify(new_pin_enc, param) {
            return Err(StatusCode::PinAuthInvalid);
        }
        let (hash, code_points) = self.decrypt_new_pin(&shared, new_pin_enc, &state)?;
        state.pin_hash = Some(hash);
        state.pin_code_points = code_points;
        state.pin_retries = MAX_PIN_RETRIES;
        self.save_device_state(&state)?;
        self.env
            .event(&crate::env::Event::PinChanged { had_pin: false });
        Ok(())
    }

    /// changePIN (§6.5.5.6).
    fn change_pin(&mut self, req: &Request) -> Result<(), StatusCode> {
        let protocol = Self::pin_protocol(req.protocol)?;
        let (Some(ka), Some(pin_hash_enc), Some(new_pin_enc), Some(param)) = (
            req.key_agreement.as_ref(),
            req.pin_hash_enc.as_deref(),
            req.new_pin_enc.as_deref(),
            req.pin_uv_auth_param.as_deref(),
        ) else {
            return Err(StatusCode::MissingParameter);
        };
        let state = self.device_state()?;
        if state.pin_hash.is_none() {
            return Err(StatusCode::PinNotSet);
        }
        if state.pin_retries == 0 {
            return Err(StatusCode::PinBlocked);
        }
        let shared = self.shared_secret(protocol, Some(ka))?;
        let mut message = new_pin_enc.to_vec();
        message.extend_from_slice(pin_hash_enc);
        if !shared.verify(&message, param) {
            return Err(StatusCode::PinAuthInvalid);
        }
        self.check_pin_hash(&shared, pin_hash_enc)?;
        let mut state = self.device_state()?;
        let (hash, code_points) = self.decrypt_new_pin(&shared, new_pin_enc, &state)?;
        // forcePINChange: the new PIN must differ from the old one.
        if state.force_pin_change && state.pin_hash == Some(hash) {
            return Err(StatusCode::PinPolicyViolation);
        }
        state.pin_hash = Some(hash);
        state.pin_code_points = code_points;
        state.force_pin_change = false;
        self.save_device_state(&state)?;
        self.env
            .event(&crate::env::Event::PinChanged { had_pin: true });
        // §6.5.5.6 last step: resetPinUvAuthToken() for all protocols.
        self.pin.reset_token(self.env.rng());
        Ok(())
    }

    /// getPinToken (§6.5.5.7.1) and getPinUvAuthTokenUsingPinWithPermissions
    /// (§6.5.5.7.2).
    fn token_using_pin(
        &mut self,
        req: &Request,
        with_permissions: bool,
    ) -> Result<Vec<u8>, StatusCode> {
        let protocol = Self::pin_protocol(req.protocol)?;
        let (Some(ka), Some(pin_hash_enc)) =
            (req.key_agreement.as_ref(), req.pin_hash_enc.as_deref())
        else {
            return Err(StatusCode::MissingParameter);
        };
        let permissions = if with_permissions {
            let p = req.permissions.ok_or(StatusCode::MissingParameter)?;
            self.check_permissions(p)?;
            p
        } else {
            // getPinToken takes no permissions or RP ID; it grants the
            // CTAP 2.0 default of mc and ga.
            if req.permissions.is_some() || req.rp_id.is_some() {
                return Err(StatusCode::InvalidParameter);
            }
            permission::MC | permission::GA
        };
        let state = self.device_state()?;
        if state.pin_hash.is_none() {
            return Err(StatusCode::PinNotSet);
        }
        if state.pin_retries == 0 {
            return Err(StatusCode::PinBlocked);
        }
        let shared = self.shared_secret(protocol, Some(ka))?;
        self.check_pin_hash(&shared, pin_hash_enc)?;
        // forcePINChange: no token until the PIN is changed. getPinToken
        // answers CTAP2_ERR_PIN_INVALID (§6.5.5.7.1), the permissions
        // variant CTAP2_ERR_PIN_POLICY_VIOLATION (§6.5.5.7.2); both after
        // the PIN itself was found right.
        if self.device_state()?.force_pin_change {
            return Err(if with_permissions {
                StatusCode::PinPolicyViolation
            } else {
                StatusCode::PinInvalid
            });
        }
        // A PIN is not evidence of presence (§6.5.5.7: userIsPresent false).
        self.issue_token(protocol, permissions, req.rp_id.clone(), false, &shared)
    }

    /// getPinUvAuthTokenUsingUvWithPermissions (§6.5.5.7.3).
    fn token_using_uv(&mut self, req: &Request) -> Result<Vec<u8>, StatusCode> {
        let protocol = Self::pin_protocol(req.protocol)?;
        let ka = req
            .key_agreement
            .as_ref()
            .ok_or(StatusCode::MissingParameter)?;
        let permissions = req.permissions.ok_or(StatusCode::MissingParameter)?;
        self.check_permissions(permissions)?;
        // §6.5.5.7.3: a built-in method that is not configured (a
        // fingerprint sensor without a finger) cannot verify anyone.
        let mut state = self.device_state()?;
        if !self.uv_configured(&state) {
            return Err(StatusCode::NotAllowed);
        }
        // The be permission through built-in UV needs uvBioEnroll, which
        // this key does not offer: enrollment starts from the PIN.
        if permissions & permission::BE != 0 {
            return Err(StatusCode::UnauthorizedPermission);
        }
        let shared = self.shared_secret(protocol, Some(ka))?;
        if state.uv_retries == 0 {
            return Err(StatusCode::UvBlocked);
        }
        let request = PresenceRequest::Verify {
            rp_id: req.rp_id.as_deref(),
        };
        match self.env.check_user(&request, true, true) {
            Ok(check) if check.uv => {}
            Ok(_) => {
                self.count_uv(&mut state);
                state.uv_retries -= 1;
                self.save_device_state(&state)?;
                return Err(if state.uv_retries == 0 {
                    StatusCode::UvBlocked
                } else {
                    StatusCode::UvInvalid
                });
            }
            Err(PresenceError::Timeout) => return Err(StatusCode::UserActionTimeout),
            Err(PresenceError::Cancelled) => return Err(StatusCode::KeepaliveCancel),
            Err(PresenceError::Denied) => return Err(StatusCode::OperationDenied),
        }
        if self.count_uv(&mut state) || state.uv_retries != self.config.uv_retries {
            state.uv_retries = self.config.uv_retries;
            self.save_device_state(&state)?;
        }
        // Built-in UV is a touch on the sensor: the token starts with the
        // user-present flag set.
        self.issue_token(protocol, permissions, req.rp_id.clone(), true, &shared)
    }

    /// §6.5.5.7.2 steps 3–4: permissions must be non-zero and granted by
    /// this device.
    fn check_permissions(&self, permissions: u64) -> Result<(), StatusCode> {
        if permissions == 0 {
            return Err(StatusCode::InvalidParameter);
        }
        // be needs authenticatorBioEnrollment (§6.5.5.7.2).
        let supported = if self.config.bio_enroll {
            permission::SUPPORTED | permission::BE
        } else {
            permission::SUPPORTED
        };
        if permissions & !supported != 0 {
            return Err(StatusCode::UnauthorizedPermission);
        }
        Ok(())
    }

    /// The PIN hash check shared by changePIN and the token subcommands
    /// (§6.5.5.6 steps 6–9): one retry is spent first; a mismatch
    /// regenerates the key-agreement keys and is PIN_INVALID, PIN_BLOCKED
    /// when no retries are left, or PIN_AUTH_BLOCKED after three
    /// mismatches in a row (until the next power cycle).
    fn check_pin_hash(
        &mut self,
        shared: &SharedSecret,
        pin_hash_enc: &[u8],
    ) -> Result<(), StatusCode> {
        if self.pin.mismatches >= PIN_MISMATCHES_BEFORE_POWER_CYCLE {
            return Err(StatusCode::PinAuthBlocked);
        }
        let mut state = self.device_state()?;
        state.pin_retries = state.pin_retries.saturating_sub(1);
        // The spent retry is committed before the PIN is compared, so
        // pulling the plug does not give an attacker free guesses.
        self.save_device_state(&state)?;
        let matches = match shared.decrypt(pin_hash_enc) {
            Ok(hash) => hash.len() == 16 && state.pin_hash.is_some_and(|h| h[..] == hash[..]),
            Err(_) => false,
        };
        if !matches {
            self.pin.regenerate(self.env.rng());
            self.pin.mismatches += 1;
            self.env.event(&crate::env::Event::PinMismatch {
                retries_left: state.pin_retries,
            });
            return Err(if state.pin_retries == 0 {
                StatusCode::PinBlocked
            } else if self.pin.mismatches >= PIN_MISMATCHES_BEFORE_POWER_CYCLE {
                StatusCode::PinAuthBlocked
            } else {
                StatusCode::PinInvalid
            });
        }
        self.pin.mismatches = 0;
        state.pin_retries = MAX_PIN_RETRIES;
        // The PIN was entered: uvCountSinceLastPinEntry starts again.
        state.uv_count_since_pin = 0;
        self.save_device_state(&state)
    }

    /// Decrypts and checks a newPinEnc (§6.5.5.5 steps 5–8): 64 bytes of
    /// padded PIN (else CTAP1_ERR_INVALID_PARAMETER), a PIN of at least
    /// minPINLength code points and at most 63 bytes (else
    /// CTAP2_ERR_PIN_POLICY_VIOLATION). Returns LEFT(SHA-256(PIN), 16) and
    /// the length in code points.
    fn decrypt_new_pin(
        &self,
        shared: &SharedSecret,
        new_pin_enc: &[u8],
        state: &crate::store::DeviceState,
    ) -> Result<([u8; 16], u8), StatusCode> {
        let padded = shared
            .decrypt(new_pin_enc)
            .map_err(|_| StatusCode::InvalidParameter)?;
        if padded.len() != PADDED_PIN_LEN {
            return Err(StatusCode::InvalidParameter);
        }
        let end = padded.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let pin = &padded[..end];
        if pin.len() > MAX_PIN_BYTES {
            return Err(StatusCode::PinPolicyViolation);
        }
        // The PIN is UTF-8 (§6.5.1); its length counts code points.
        let code_points = core::str::from_utf8(pin)
            .map_err(|_| StatusCode::PinPolicyViolation)?
            .chars()
            .count();
        if code_points < usize::from(state.min_pin_length) {
            return Err(StatusCode::PinPolicyViolation);
        }
        let digest = sha256(pin);
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&digest[..16]);
        Ok((hash, u8::try_from(code_points).unwrap_or(u8::MAX)))
    }
}
