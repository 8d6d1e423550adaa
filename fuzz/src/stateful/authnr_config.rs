//! authenticatorConfig (0x0D), CTAP 2.1 §6.11: enableEnterpriseAttestation,
//! toggleAlwaysUv and setMinPINLength in the model, and the requests the
//! operations send.

use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::limits;
use authenticator_core::status::StatusCode as S;
use authenticator_core::wire::client_pin::permission;
use authenticator_core::wire::config as cfg_wire;

use crate::stateful::input::{Auth, CfgSub};
use crate::stateful::model::{code, Harness, RPS};

impl Harness {
    /// Walks §6.11 for a decoded request: on a protected device (or with
    /// alwaysUv) a pinUvAuthParam over 32×0xff ‖ 0x0d ‖ uint8(subCommand) ‖
    /// subCommandParams from a token with the acfg permission, then the
    /// subcommand.
    fn model_config(&mut self, req: &cfg_wire::Request) -> Result<(), S> {
        if self.needs_token() {
            let param = req.pin_uv_auth_param.as_deref().ok_or(S::PuatRequired)?;
            let protocol = Self::pin_protocol(req.pin_uv_auth_protocol)?;
            let mut message = vec![0xff; 32];
            message.extend_from_slice(&[0x0d, req.sub_command.id()]);
            message.extend_from_slice(req.sub_command_params.as_deref().unwrap_or_default());
            self.verify_token(protocol, param, &message, permission::ACFG)?;
        }
        match req.sub_command {
            // §6.11.1: only on a device that supports enterprise
            // attestation (else INVALID_PARAMETER).
            cfg_wire::SubCommand::EnableEnterpriseAttestation => {
                if !self.enterprise_supported {
                    return Err(S::InvalidParameter);
                }
                self.enterprise_enabled = true;
            }
            // §6.11.2: this device lets alwaysUv be turned off again.
            cfg_wire::SubCommand::ToggleAlwaysUv => self.always_uv = !self.always_uv,
            // §6.11.4: the minimum only grows (else PIN_POLICY_VIOLATION);
            // this device refuses a minimum no PIN of 63 bytes can meet
            // (INVALID_PARAMETER) and more than maxRPIDsForSetMinPINLength
            // RP IDs (INVALID_LENGTH); forceChangePin needs a PIN
            // (PIN_NOT_SET); a PIN shorter than the new minimum must be
            // changed (forcePINChange).
            cfg_wire::SubCommand::SetMinPinLength => {
                let p = req.set_min_pin_length.clone().unwrap_or_default();
                let current = u64::from(self.min_pin_length);
                let new_min = p.new_min_pin_length.unwrap_or(current);
                if new_min < current {
                    return Err(S::PinPolicyViolation);
                }
                let new_min = u8::try_from(new_min)
                    .ok()
                    .filter(|&n| usize::from(n) <= limits::MAX_PIN_BYTES)
                    .ok_or(S::InvalidParameter)?;
                if p.min_pin_length_rp_ids
                    .as_ref()
                    .is_some_and(|ids| ids.len() > limits::MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH)
                {
                    return Err(S::InvalidLength);
                }
                let force = p.force_change_pin.unwrap_or(false);
                if force && !self.pin_set() {
                    return Err(S::PinNotSet);
                }
                self.min_pin_length = new_min;
                if let Some(ids) = p.min_pin_length_rp_ids {
                    self.min_pin_rp_ids = ids;
                }
                let points = self
                    .pin
                    .as_deref()
                    .map(|p| String::from_utf8_lossy(p).chars().count());
                if force || points.is_some_and(|n| n < usize::from(new_min)) {
                    self.force_pin_change = true;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn after_config(&mut self, params: &[u8], st: u8) {
        let req = match cfg_wire::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(st, e as u8, "authenticatorConfig on an undecodable request");
                return;
            }
        };
        let outcome = self.model_config(&req);
        assert_eq!(
            st,
            code(&outcome),
            "authenticatorConfig {:?}: device {st:#04x}, model {:?}",
            req.sub_command,
            outcome.as_ref().err()
        );
    }

    pub(crate) fn config(&mut self, sub: &CfgSub, auth: Option<Auth>) {
        let (number, params) = match sub {
            CfgSub::EnableEnterpriseAttestation => (0x01u8, None),
            CfgSub::ToggleAlwaysUv => (0x02, None),
            CfgSub::SetMinPinLength {
                params,
                new_min,
                rp_ids,
                force,
            } => {
                let mut p = MapBuilder::new();
                if let Some(n) = new_min {
                    p = p.int(0x01, u64::from(n % 72));
                }
                if let Some(n) = rp_ids {
                    let ids = (0..usize::from(n % 10))
                        .map(|i| match RPS.get(i) {
                            Some(rp) => Value::from(*rp),
                            None => Value::from(format!("r{i}.example")),
                        })
                        .collect();
                    p = p.int(0x02, Value::Array(ids));
                }
                if let Some(f) = force {
                    p = p.int(0x03, *f);
                }
                (0x03, params.then(|| p.build()))
            }
            CfgSub::Other(n) => (*n, None),
        };
        let mut m = MapBuilder::new().int(0x01, number);
        let mut message = vec![0xff; 32];
        message.extend_from_slice(&[0x0d, number]);
        if let Some(p) = params {
            message.extend_from_slice(&cbor::encode(&p));
            m = m.int(0x02, p);
        }
        if let Some(a) = auth {
            m = self.pin_uv_auth(m, a, &message, 0x04, 0x03);
        }
        self.send(0x0D, m.build());
    }
}
