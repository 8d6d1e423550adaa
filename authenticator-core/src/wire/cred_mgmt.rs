//! authenticatorCredentialManagement (0x0A), CTAP 2.1 §6.8.

use super::{decode_user, CredentialDescriptor};
use crate::cbor::{self, Fields, Value};
use crate::limits::{MAX_CREDENTIAL_ID_LENGTH, MAX_TEXT_FIELD};
use crate::status::StatusCode;
use crate::store::User;

/// The subcommands (CTAP 2.1 §6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubCommand {
    /// 0x01 getCredsMetadata.
    GetCredsMetadata = 0x01,
    /// 0x02 enumerateRPsBegin.
    EnumerateRpsBegin = 0x02,
    /// 0x03 enumerateRPsGetNextRP.
    EnumerateRpsGetNextRp = 0x03,
    /// 0x04 enumerateCredentialsBegin.
    EnumerateCredentialsBegin = 0x04,
    /// 0x05 enumerateCredentialsGetNextCredential.
    EnumerateCredentialsGetNextCredential = 0x05,
    /// 0x06 deleteCredential.
    DeleteCredential = 0x06,
    /// 0x07 updateUserInformation.
    UpdateUserInformation = 0x07,
}

impl SubCommand {
    /// The subcommand with this number.
    pub fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0x01 => Self::GetCredsMetadata,
            0x02 => Self::EnumerateRpsBegin,
            0x03 => Self::EnumerateRpsGetNextRp,
            0x04 => Self::EnumerateCredentialsBegin,
            0x05 => Self::EnumerateCredentialsGetNextCredential,
            0x06 => Self::DeleteCredential,
            0x07 => Self::UpdateUserInformation,
            _ => return None,
        })
    }

    /// The spec's name, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::GetCredsMetadata => "getCredsMetadata",
            Self::EnumerateRpsBegin => "enumerateRPsBegin",
            Self::EnumerateRpsGetNextRp => "enumerateRPsGetNextRP",
            Self::EnumerateCredentialsBegin => "enumerateCredentialsBegin",
            Self::EnumerateCredentialsGetNextCredential => "enumerateCredentialsGetNextCredential",
            Self::DeleteCredential => "deleteCredential",
            Self::UpdateUserInformation => "updateUserInformation",
        }
    }

    /// Whether the subcommand is authenticated with a pinUvAuthParam
    /// (the GetNext subcommands continue an authenticated Begin).
    pub fn needs_auth(self) -> bool {
        !matches!(
            self,
            Self::EnumerateRpsGetNextRp | Self::EnumerateCredentialsGetNextCredential
        )
    }
}

/// subCommandParams (CTAP 2.1 §6.8).
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// 0x01 rpIDHash.
    pub rp_id_hash: Option<[u8; 32]>,
    /// 0x02 credentialID.
    pub credential_id: Option<CredentialDescriptor>,
    /// 0x03 user.
    pub user: Option<User>,
}

/// A decoded credential management request.
#[derive(Debug, Clone)]
pub struct Request {
    /// 0x01 subCommand.
    pub sub_command: SubCommand,
    /// 0x02 subCommandParams, decoded.
    pub params: Params,
    /// The subCommandParams exactly as received (the pinUvAuthParam covers
    /// these bytes).
    pub params_bytes: Vec<u8>,
    /// 0x03 pinUvAuthProtocol.
    pub protocol: Option<u64>,
    /// 0x04 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

impl Request {
    /// Decodes the CBOR parameters. An unknown subcommand is
    /// CTAP2_ERR_INVALID_SUBCOMMAND.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatusCode> {
        let mut m = Fields::decode(bytes)?;
        let sub = cbor::as_uint(m.required(0x01)?)?;
        let (params, params_bytes) = match m.take(0x02) {
            Some(v) => {
                let encoded = cbor::encode(&v);
                (decode_params(v)?, encoded)
            }
            None => (Params::default(), Vec::new()),
        };
        let protocol = m.take(0x03).map(cbor::as_uint).transpose()?;
        let pin_uv_auth_param = m.take(0x04).map(|v| cbor::as_bytes(v, 64)).transpose()?;
        let sub_command = SubCommand::from_u64(sub).ok_or(StatusCode::InvalidSubcommand)?;
        Ok(Self {
            sub_command,
            params,
            params_bytes,
            protocol,
            pin_uv_auth_param,
        })
    }
}

fn decode_params(v: Value) -> Result<Params, StatusCode> {
    let mut m = Fields::from_value(v)?;
    let rp_id_hash = match m.take(0x01) {
        Some(v) => {
            let b = cbor::as_bytes(v, 32)?;
            Some(<[u8; 32]>::try_from(b.as_slice()).map_err(|_| StatusCode::InvalidLength)?)
        }
        None => None,
    };
    let credential_id = match m.take(0x02) {
        Some(v) => {
            let mut d = Fields::from_value(v)?;
            let id = cbor::as_bytes(d.required_text_key("id")?, MAX_CREDENTIAL_ID_LENGTH)?;
            cbor::as_text(d.required_text_key("type")?, MAX_TEXT_FIELD)?;
            Some(CredentialDescriptor { id })
        }
        None => None,
    };
    let user = m.take(0x03).map(decode_user).transpose()?;
    Ok(Params {
        rp_id_hash,
        credential_id,
        user,
    })
}
