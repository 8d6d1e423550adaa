//! authenticatorClientPIN (0x06), CTAP 2.1 §6.5.5.

use crate::cbor::{self, Fields, MapBuilder, Value};
use crate::limits::MAX_RP_ID_LENGTH;
use crate::status::StatusCode;

/// pinUvAuthToken permissions (CTAP 2.1 §6.5.5.7).
pub mod permission {
    /// mc: makeCredential.
    pub const MC: u64 = 0x01;
    /// ga: getAssertion.
    pub const GA: u64 = 0x02;
    /// cm: credential management.
    pub const CM: u64 = 0x04;
    /// be: bio enrollment (not supported: no enrollment API).
    pub const BE: u64 = 0x08;
    /// lbw: large blob write.
    pub const LBW: u64 = 0x10;
    /// acfg: authenticator configuration.
    pub const ACFG: u64 = 0x20;
    /// pcmr: persistent credential management read-only (CTAP 2.2).
    pub const PCMR: u64 = 0x40;
    /// Every permission this device grants.
    pub const SUPPORTED: u64 = MC | GA | CM | LBW | ACFG;
}

/// The subcommands (CTAP 2.1 §6.5.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubCommand {
    /// 0x01 getPINRetries.
    GetPinRetries,
    /// 0x02 getKeyAgreement.
    GetKeyAgreement,
    /// 0x03 setPIN.
    SetPin,
    /// 0x04 changePIN.
    ChangePin,
    /// 0x05 getPinToken (the CTAP 2.0 way: default permissions mc and ga).
    GetPinToken,
    /// 0x06 getPinUvAuthTokenUsingUvWithPermissions.
    GetPinUvAuthTokenUsingUvWithPermissions,
    /// 0x07 getUVRetries.
    GetUvRetries,
    /// 0x09 getPinUvAuthTokenUsingPinWithPermissions.
    GetPinUvAuthTokenUsingPinWithPermissions,
}

impl SubCommand {
    /// The subcommand with this number.
    pub fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0x01 => Self::GetPinRetries,
            0x02 => Self::GetKeyAgreement,
            0x03 => Self::SetPin,
            0x04 => Self::ChangePin,
            0x05 => Self::GetPinToken,
            0x06 => Self::GetPinUvAuthTokenUsingUvWithPermissions,
            0x07 => Self::GetUvRetries,
            0x09 => Self::GetPinUvAuthTokenUsingPinWithPermissions,
            _ => return None,
        })
    }

    /// The spec's name, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::GetPinRetries => "getPINRetries",
            Self::GetKeyAgreement => "getKeyAgreement",
            Self::SetPin => "setPIN",
            Self::ChangePin => "changePIN",
            Self::GetPinToken => "getPinToken",
            Self::GetPinUvAuthTokenUsingUvWithPermissions => {
                "getPinUvAuthTokenUsingUvWithPermissions"
            }
            Self::GetUvRetries => "getUVRetries",
            Self::GetPinUvAuthTokenUsingPinWithPermissions => {
                "getPinUvAuthTokenUsingPinWithPermissions"
            }
        }
    }
}

/// Longest newPinEnc accepted: 64 bytes of padded PIN, plus a 16-byte IV
/// under protocol 2 (CTAP 2.1 §6.5.5.5).
const MAX_PIN_ENC: usize = 80;

/// A decoded clientPIN request (CTAP 2.1 §6.5.5.1).
#[derive(Debug, Clone)]
pub struct Request {
    /// 0x01 pinUvAuthProtocol.
    pub protocol: Option<u64>,
    /// 0x02 subCommand.
    pub sub_command: SubCommand,
    /// 0x03 keyAgreement (the platform's COSE_Key).
    pub key_agreement: Option<Value>,
    /// 0x04 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x05 newPinEnc.
    pub new_pin_enc: Option<Vec<u8>>,
    /// 0x06 pinHashEnc.
    pub pin_hash_enc: Option<Vec<u8>>,
    /// 0x09 permissions.
    pub permissions: Option<u64>,
    /// 0x0A rpId (the permissions RP ID).
    pub rp_id: Option<String>,
}

impl Request {
    /// Decodes the CBOR parameters. An unknown subcommand is
    /// CTAP2_ERR_INVALID_SUBCOMMAND.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatusCode> {
        let mut m = Fields::decode(bytes)?;
        let protocol = m.take(0x01).map(cbor::as_uint).transpose()?;
        let sub = cbor::as_uint(m.required(0x02)?)?;
        let key_agreement = match m.take(0x03) {
            Some(v @ Value::Map(_)) => Some(v),
            Some(_) => return Err(StatusCode::CborUnexpectedType),
            None => None,
        };
        let pin_uv_auth_param = m.take(0x04).map(|v| cbor::as_bytes(v, 64)).transpose()?;
        let new_pin_enc = m
            .take(0x05)
            .map(|v| cbor::as_bytes(v, MAX_PIN_ENC))
            .transpose()?;
        let pin_hash_enc = m
            .take(0x06)
            .map(|v| cbor::as_bytes(v, MAX_PIN_ENC))
            .transpose()?;
        let permissions = m.take(0x09).map(cbor::as_uint).transpose()?;
        let rp_id = m
            .take(0x0A)
            .map(|v| cbor::as_text(v, MAX_RP_ID_LENGTH))
            .transpose()?;
        let sub_command = SubCommand::from_u64(sub).ok_or(StatusCode::InvalidSubcommand)?;
        Ok(Self {
            protocol,
            sub_command,
            key_agreement,
            pin_uv_auth_param,
            new_pin_enc,
            pin_hash_enc,
            permissions,
            rp_id,
        })
    }
}

/// A clientPIN response (CTAP 2.1 §6.5.5.2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// 0x01 keyAgreement.
    pub key_agreement: Option<Value>,
    /// 0x02 pinUvAuthToken (encrypted).
    pub pin_uv_auth_token: Option<Vec<u8>>,
    /// 0x03 pinRetries.
    pub pin_retries: Option<u8>,
    /// 0x04 powerCycleState.
    pub power_cycle_state: Option<bool>,
    /// 0x05 uvRetries.
    pub uv_retries: Option<u8>,
}

impl Response {
    /// Canonical CBOR; an empty response is an empty body (no map).
    pub fn encode(&self) -> Vec<u8> {
        if *self == Self::default() {
            return Vec::new();
        }
        cbor::encode(
            &MapBuilder::new()
                .opt(0x01, self.key_agreement.clone())
                .opt(0x02, self.pin_uv_auth_token.clone().map(cbor::bytes))
                .opt(0x03, self.pin_retries)
                .opt(0x04, self.power_cycle_state)
                .opt(0x05, self.uv_retries)
                .build(),
        )
    }
}
