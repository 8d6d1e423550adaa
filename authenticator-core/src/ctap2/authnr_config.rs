//! authenticatorConfig (0x0D), CTAP 2.1 §6.11: enableEnterpriseAttestation,
//! toggleAlwaysUv and setMinPINLength.

use super::pin::permission;
use super::Authenticator;
use crate::env::Env;
use crate::limits::{MAX_PIN_BYTES, MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH};
use crate::status::StatusCode;
use crate::wire::config::{Request, SetMinPinLengthParams, SubCommand};

impl<E: Env> Authenticator<E> {
    pub(super) fn authenticator_config(&mut self, params: &[u8]) -> Result<Vec<u8>, StatusCode> {
        let req = Request::decode(params)?;
        self.check_config_auth(&req)?;
        match req.sub_command {
            SubCommand::EnableEnterpriseAttestation => self.enable_enterprise_attestation()?,
            SubCommand::ToggleAlwaysUv => self.toggle_always_uv()?,
            SubCommand::SetMinPinLength => {
                let p = req.set_min_pin_length.unwrap_or_default();
                self.set_min_pin_length(&p)?;
            }
        }
        // Every subcommand answers CTAP2_OK with an empty body.
        Ok(Vec::new())
    }

    /// §6.11 (as §6.10.2 step 5.e): a device protected by a PIN or built-in
    /// UV, or with alwaysUv, needs a pinUvAuthToken with the acfg
    /// permission over 32×0xff ‖ 0x0d ‖ uint8(subCommand) ‖
    /// subCommandParams. An unprotected device takes the command as is.
    fn check_config_auth(&mut self, req: &Request) -> Result<(), StatusCode> {
        let state = self.device_state()?;
        if !self.uv_protected(&state) && !state.always_uv {
            return Ok(());
        }
        let param = req
            .pin_uv_auth_param
            .as_deref()
            .ok_or(StatusCode::PuatRequired)?;
        let protocol = Self::pin_protocol(req.pin_uv_auth_protocol)?;
        let mut message = vec![0xff; 32];
        message.push(0x0d);
        message.push(req.sub_command.id());
        if let Some(p) = &req.sub_command_params {
            message.extend_from_slice(p);
        }
        self.check_token(protocol, param, &message, permission::ACFG, None, false)?;
        Ok(())
    }

    /// enableEnterpriseAttestation (§6.11.1): only on a device that can
    /// return enterprise attestations (getInfo `ep` present), else
    /// CTAP1_ERR_INVALID_PARAMETER.
    fn enable_enterprise_attestation(&mut self) -> Result<(), StatusCode> {
        if !self.enterprise_supported() {
            return Err(StatusCode::InvalidParameter);
        }
        let mut state = self.device_state()?;
        if !state.enterprise_attestation {
            state.enterprise_attestation = true;
            self.save_device_state(&state)?;
        }
        Ok(())
    }

    /// toggleAlwaysUv (§6.11.2). This device lets alwaysUv be turned off
    /// again, so the answer is never CTAP2_ERR_OPERATION_DENIED.
    fn toggle_always_uv(&mut self) -> Result<(), StatusCode> {
        let mut state = self.device_state()?;
        state.always_uv = !state.always_uv;
        self.save_device_state(&state)
    }

    /// setMinPINLength (§6.11.4).
    fn set_min_pin_length(&mut self, p: &SetMinPinLengthParams) -> Result<(), StatusCode> {
        let mut state = self.device_state()?;
        let current = u64::from(state.min_pin_length);
        // An absent newMinPINLength keeps the current minimum.
        let new_min = p.new_min_pin_length.unwrap_or(current);
        // The minimum PIN length can only grow.
        if new_min < current {
            return Err(StatusCode::PinPolicyViolation);
        }
        // A minimum no PIN can meet (a PIN is at most 63 bytes, so at most
        // 63 code points) is refused rather than stored.
        let new_min = u8::try_from(new_min)
            .ok()
            .filter(|&n| usize::from(n) <= MAX_PIN_BYTES)
            .ok_or(StatusCode::InvalidParameter)?;
        // At most maxRPIDsForSetMinPINLength RP IDs.
        if p.min_pin_length_rp_ids
            .as_ref()
            .is_some_and(|ids| ids.len() > MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH)
        {
            return Err(StatusCode::InvalidLength);
        }
        let pin_set = state.pin_hash.is_some();
        // forceChangePin needs a PIN to change.
        let force = p.force_change_pin.unwrap_or(false);
        if force && !pin_set {
            return Err(StatusCode::PinNotSet);
        }
        state.min_pin_length = new_min;
        if let Some(ids) = &p.min_pin_length_rp_ids {
            state.min_pin_length_rp_ids = ids.clone();
        }
        // A PIN shorter than the new minimum must be changed before it
        // can be used again (getInfo forcePINChange, 0x0C).
        if force || (pin_set && state.pin_code_points < new_min) {
            state.force_pin_change = true;
        }
        self.save_device_state(&state)
    }
}
