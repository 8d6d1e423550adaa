//! authenticatorConfig (0x0D), CTAP 2.1 §6.11.

use crate::cbor::{self, Fields, Value};
use crate::limits::MAX_RP_ID_LENGTH;
use crate::status::StatusCode;

/// The subcommands this device implements (CTAP 2.1 §6.11). The
/// vendorPrototype subcommand (0xFF) is not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubCommand {
    /// 0x01 enableEnterpriseAttestation (§6.11.1).
    EnableEnterpriseAttestation,
    /// 0x02 toggleAlwaysUv (§6.11.2).
    ToggleAlwaysUv,
    /// 0x03 setMinPINLength (§6.11.4).
    SetMinPinLength,
}

impl SubCommand {
    /// The subcommand with this number.
    pub fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0x01 => Self::EnableEnterpriseAttestation,
            0x02 => Self::ToggleAlwaysUv,
            0x03 => Self::SetMinPinLength,
            _ => return None,
        })
    }

    /// The spec's name, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EnableEnterpriseAttestation => "enableEnterpriseAttestation",
            Self::ToggleAlwaysUv => "toggleAlwaysUv",
            Self::SetMinPinLength => "setMinPINLength",
        }
    }

    /// The subcommand's number, as it enters the pinUvAuthParam message.
    pub fn id(self) -> u8 {
        match self {
            Self::EnableEnterpriseAttestation => 0x01,
            Self::ToggleAlwaysUv => 0x02,
            Self::SetMinPinLength => 0x03,
        }
    }
}

/// The subCommandParams of setMinPINLength (CTAP 2.1 §6.11.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetMinPinLengthParams {
    /// 0x01 newMinPINLength.
    pub new_min_pin_length: Option<u64>,
    /// 0x02 minPinLengthRPIDs. How many are allowed is a processing rule
    /// (maxRPIDsForSetMinPINLength), not a decoding one.
    pub min_pin_length_rp_ids: Option<Vec<String>>,
    /// 0x03 forceChangePin.
    pub force_change_pin: Option<bool>,
}

impl SetMinPinLengthParams {
    fn decode(v: Value) -> Result<Self, StatusCode> {
        let mut m = Fields::from_value(v)?;
        let new_min_pin_length = m.take(0x01).map(cbor::as_uint).transpose()?;
        let min_pin_length_rp_ids = match m.take(0x02) {
            None => None,
            Some(v) => Some(
                cbor::as_array(v, usize::MAX)?
                    .into_iter()
                    .map(|rp| cbor::as_text(rp, MAX_RP_ID_LENGTH))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let force_change_pin = m.take(0x03).map(cbor::as_bool).transpose()?;
        Ok(Self {
            new_min_pin_length,
            min_pin_length_rp_ids,
            force_change_pin,
        })
    }
}

/// A decoded authenticatorConfig request (CTAP 2.1 §6.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// 0x01 subCommand.
    pub sub_command: SubCommand,
    /// 0x02 subCommandParams, re-encoded in canonical CBOR: the bytes the
    /// pinUvAuthParam covers (requests are canonical, CTAP 2.1 §8).
    pub sub_command_params: Option<Vec<u8>>,
    /// The setMinPINLength parameters, when that is the subcommand (all
    /// absent when subCommandParams is).
    pub set_min_pin_length: Option<SetMinPinLengthParams>,
    /// 0x03 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x04 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

impl Request {
    /// Decodes the CBOR parameters. A missing subCommand is
    /// CTAP2_ERR_MISSING_PARAMETER; one this device does not implement
    /// (including vendorPrototype) is CTAP2_ERR_INVALID_SUBCOMMAND.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatusCode> {
        let mut m = Fields::decode(bytes)?;
        let sub = cbor::as_uint(m.required(0x01)?)?;
        let params = match m.take(0x02) {
            Some(v @ Value::Map(_)) => Some(v),
            Some(_) => return Err(StatusCode::CborUnexpectedType),
            None => None,
        };
        let pin_uv_auth_protocol = m.take(0x03).map(cbor::as_uint).transpose()?;
        let pin_uv_auth_param = m.take(0x04).map(|v| cbor::as_bytes(v, 64)).transpose()?;
        let sub_command = SubCommand::from_u64(sub).ok_or(StatusCode::InvalidSubcommand)?;
        let sub_command_params = params.as_ref().map(cbor::encode);
        let set_min_pin_length = match sub_command {
            SubCommand::SetMinPinLength => Some(match params {
                Some(p) => SetMinPinLengthParams::decode(p)?,
                None => SetMinPinLengthParams::default(),
            }),
            _ => None,
        };
        Ok(Self {
            sub_command,
            sub_command_params,
            set_min_pin_length,
            pin_uv_auth_protocol,
            pin_uv_auth_param,
        })
    }
}
