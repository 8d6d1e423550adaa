//! Request and response types, one module per command, and the CBOR shapes
//! they share (WebAuthn §5.4 dictionaries as CTAP 2.1 §6 encodes them).
//!
//! Decoding applies the error mapping of [`crate::cbor`]; unknown map keys
//! are ignored, as CTAP 2.1 §6 requires of authenticators.

pub mod bio;
pub mod client_pin;
pub mod config;
pub mod cred_mgmt;
pub mod get_assertion;
pub mod get_info;
pub mod large_blobs;
pub mod make_credential;

use crate::cbor::{self, Fields, Value};
use crate::crypto::keys::Algorithm;
use crate::limits::{
    MAX_CREDENTIAL_COUNT_IN_LIST, MAX_DISPLAY_FIELD, MAX_SMALL_LIST, MAX_TEXT_FIELD,
};
use crate::status::StatusCode;

/// The only credential type (WebAuthn §5.8.2).
pub const PUBLIC_KEY: &str = "public-key";

/// Every CTAP2 command byte (CTAP 2.1 §6, §6.12 for the prototype commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// authenticatorMakeCredential.
    MakeCredential = 0x01,
    /// authenticatorGetAssertion.
    GetAssertion = 0x02,
    /// authenticatorGetInfo.
    GetInfo = 0x04,
    /// authenticatorClientPIN.
    ClientPin = 0x06,
    /// authenticatorReset.
    Reset = 0x07,
    /// authenticatorGetNextAssertion.
    GetNextAssertion = 0x08,
    /// authenticatorBioEnrollment.
    BioEnrollment = 0x09,
    /// authenticatorCredentialManagement.
    CredentialManagement = 0x0A,
    /// authenticatorSelection.
    Selection = 0x0B,
    /// authenticatorLargeBlobs.
    LargeBlobs = 0x0C,
    /// authenticatorConfig.
    Config = 0x0D,
    /// authenticatorBioEnrollment (prototype, FIDO_2_1_PRE).
    BioEnrollmentPreview = 0x40,
    /// authenticatorCredentialManagement (prototype, FIDO_2_1_PRE).
    CredentialManagementPreview = 0x41,
}

impl Command {
    /// The command for a byte, if CTAP defines one.
    pub const fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0x01 => Self::MakeCredential,
            0x02 => Self::GetAssertion,
            0x04 => Self::GetInfo,
            0x06 => Self::ClientPin,
            0x07 => Self::Reset,
            0x08 => Self::GetNextAssertion,
            0x09 => Self::BioEnrollment,
            0x0A => Self::CredentialManagement,
            0x0B => Self::Selection,
            0x0C => Self::LargeBlobs,
            0x0D => Self::Config,
            0x40 => Self::BioEnrollmentPreview,
            0x41 => Self::CredentialManagementPreview,
            _ => return None,
        })
    }

    /// The spec's name, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::MakeCredential => "makeCredential",
            Self::GetAssertion => "getAssertion",
            Self::GetInfo => "getInfo",
            Self::ClientPin => "clientPIN",
            Self::Reset => "reset",
            Self::GetNextAssertion => "getNextAssertion",
            Self::BioEnrollment => "bioEnrollment",
            Self::CredentialManagement => "credentialManagement",
            Self::Selection => "selection",
            Self::LargeBlobs => "largeBlobs",
            Self::Config => "config",
            Self::BioEnrollmentPreview => "bioEnrollmentPreview",
            Self::CredentialManagementPreview => "credentialManagementPreview",
        }
    }
}

/// The subcommand of a CTAP2 request (command byte and CBOR parameters),
/// by the spec's name, for logs: clientPIN's subCommand (0x02, CTAP 2.1
/// §6.5.5.1), credentialManagement's (0x01, §6.8) and authenticatorConfig's
/// (0x01, §6.11). `None` for other commands, and for a request whose
/// subcommand cannot be read (the answer says why).
///
/// Only the subcommand number is read: request parameters can carry
/// secrets (an encrypted PIN, a credBlob), and none of them is logged.
pub fn subcommand_name(request: &[u8]) -> Option<&'static str> {
    let (&command, params) = request.split_first()?;
    let key = match Command::from_u8(command)? {
        Command::ClientPin | Command::BioEnrollment => 0x02,
        Command::CredentialManagement | Command::CredentialManagementPreview | Command::Config => {
            0x01
        }
        _ => return None,
    };
    let number = cbor::as_uint(Fields::decode(params).ok()?.take(key)?).ok()?;
    match Command::from_u8(command)? {
        Command::ClientPin => client_pin::SubCommand::from_u64(number).map(|s| s.name()),
        Command::Config => config::SubCommand::from_u64(number).map(|s| s.name()),
        Command::BioEnrollment => bio::SubCommand::from_u64(number).map(|s| s.name()),
        _ => cred_mgmt::SubCommand::from_u64(number).map(|s| s.name()),
    }
}

/// Truncates a display string to at most [`MAX_DISPLAY_FIELD`] bytes on a
/// character boundary (CTAP 2.1 §6.1.2: authenticators may truncate rp.name,
/// user.name and user.displayName to 64 bytes; the result stays valid UTF-8).
pub fn truncate_display(mut s: String) -> String {
    if s.len() > MAX_DISPLAY_FIELD {
        let mut end = MAX_DISPLAY_FIELD;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// `PublicKeyCredentialRpEntity` (WebAuthn §5.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpEntity {
    /// The RP ID.
    pub id: String,
    /// The RP's name, truncated.
    pub name: Option<String>,
}

impl RpEntity {
    pub(crate) fn decode(v: Value) -> Result<Self, StatusCode> {
        let mut m = Fields::from_value(v)?;
        let id = cbor::as_text(m.required_text_key("id")?, crate::limits::MAX_RP_ID_LENGTH)?;
        let name = m
            .take_text_key("name")
            .map(|v| cbor::as_text(v, MAX_TEXT_FIELD).map(truncate_display))
            .transpose()?;
        // "icon" (CTAP 2.0) is accepted if well-typed and dropped.
        if let Some(icon) = m.take_text_key("icon") {
            cbor::as_text(icon, MAX_TEXT_FIELD)?;
        }
        Ok(Self { id, name })
    }
}

/// `PublicKeyCredentialUserEntity` (WebAuthn §5.4.3).
pub(crate) fn decode_user(v: Value) -> Result<crate::store::User, StatusCode> {
    let mut m = Fields::from_value(v)?;
    let id = cbor::as_bytes(
        m.required_text_key("id")?,
        crate::limits::MAX_USER_ID_LENGTH,
    )?;
    let mut text = |key: &str| -> Result<Option<String>, StatusCode> {
        m.take_text_key(key)
            .map(|v| cbor::as_text(v, MAX_TEXT_FIELD).map(truncate_display))
            .transpose()
    };
    let name = text("name")?;
    let display_name = text("displayName")?;
    text("icon")?;
    Ok(crate::store::User {
        id,
        name,
        display_name,
    })
}

/// Encodes a user entity; names only when `identifying` is set.
pub(crate) fn encode_user(user: &crate::store::User, identifying: bool) -> Value {
    let mut m = vec![(Value::from("id"), cbor::bytes(user.id.clone()))];
    if identifying {
        if let Some(n) = &user.name {
            m.push((Value::from("name"), Value::from(n.as_str())));
        }
        if let Some(d) = &user.display_name {
            m.push((Value::from("displayName"), Value::from(d.as_str())));
        }
    }
    Value::Map(m)
}

/// `PublicKeyCredentialDescriptor` (WebAuthn §5.8.3) of type "public-key".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialDescriptor {
    /// The credential ID.
    pub id: Vec<u8>,
}

impl CredentialDescriptor {
    /// The CBOR form `{"id": …, "type": "public-key"}`.
    pub fn encode(&self) -> Value {
        Value::Map(vec![
            (Value::from("id"), cbor::bytes(self.id.clone())),
            (Value::from("type"), Value::from(PUBLIC_KEY)),
        ])
    }
}

/// Decodes an allowList/excludeList: entries whose type is not "public-key"
/// are skipped; over-long IDs can never be ours and are skipped too.
pub(crate) fn decode_descriptor_list(v: Value) -> Result<Vec<CredentialDescriptor>, StatusCode> {
    let items = cbor::as_array(v, MAX_CREDENTIAL_COUNT_IN_LIST)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let mut m = Fields::from_value(item)?;
        let ty = cbor::as_text(m.required_text_key("type")?, MAX_TEXT_FIELD)?;
        let id = match m.required_text_key("id")? {
            Value::Bytes(b) => b,
            _ => return Err(StatusCode::CborUnexpectedType),
        };
        if let Some(t) = m.take_text_key("transports") {
            for t in cbor::as_array(t, MAX_SMALL_LIST)? {
                cbor::as_text(t, MAX_TEXT_FIELD)?;
            }
        }
        if ty == PUBLIC_KEY && id.len() <= crate::limits::MAX_CREDENTIAL_ID_LENGTH {
            out.push(CredentialDescriptor { id });
        }
    }
    Ok(out)
}

/// The `options` map (CTAP 2.1 §6.1.1, §6.2.1): only boolean values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// "rk": create a discoverable credential.
    pub rk: Option<bool>,
    /// "up": require user presence.
    pub up: Option<bool>,
    /// "uv": require user verification.
    pub uv: Option<bool>,
}

impl Options {
    pub(crate) fn decode(v: Value) -> Result<Self, StatusCode> {
        let mut o = Self::default();
        for (k, v) in cbor::as_map(v)? {
            let Value::Text(k) = k else {
                return Err(StatusCode::CborUnexpectedType);
            };
            let b = cbor::as_bool(v)?;
            match k.as_str() {
                "rk" => o.rk = Some(b),
                "up" => o.up = Some(b),
                "uv" => o.uv = Some(b),
                _ => {}
            }
        }
        Ok(o)
    }
}

/// Checks an `extensions` map is text-keyed; no extension is implemented in
/// this build, so their inputs are ignored (WebAuthn §9: authenticators
/// ignore extensions they do not support).
pub(crate) fn decode_extensions(v: Value) -> Result<Vec<(String, Value)>, StatusCode> {
    cbor::as_map(v)?
        .into_iter()
        .map(|(k, v)| match k {
            Value::Text(k) => Ok((k, v)),
            _ => Err(StatusCode::CborUnexpectedType),
        })
        .collect()
}

/// One `pubKeyCredParams` entry that this build implements, in request order.
pub(crate) fn decode_pub_key_cred_params(v: Value) -> Result<Vec<Algorithm>, StatusCode> {
    let items = cbor::as_array(v, crate::limits::MAX_PUB_KEY_CRED_PARAMS)?;
    let mut algs = Vec::new();
    for item in items {
        // CTAP 2.1 §6.1.2 step 3: a missing "alg" or "type" is
        // CTAP2_ERR_MISSING_PARAMETER; entries of another type or with an
        // unknown algorithm are skipped.
        let mut m = Fields::from_value(item)?;
        let alg = cbor::as_int(m.required_text_key("alg")?);
        let ty = cbor::as_text(m.required_text_key("type")?, MAX_TEXT_FIELD)?;
        let alg = match alg {
            Ok(a) => a,
            // An integer outside i64 is simply not an algorithm we know.
            Err(StatusCode::InvalidParameter) => continue,
            Err(e) => return Err(e),
        };
        if ty != PUBLIC_KEY {
            continue;
        }
        if let Some(a) = Algorithm::from_cose(alg) {
            algs.push(a);
        }
    }
    Ok(algs)
}

/// pinUvAuthParam and pinUvAuthProtocol, present in both mc and ga.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PinUvAuth {
    /// pinUvAuthParam.
    pub param: Option<Vec<u8>>,
    /// pinUvAuthProtocol.
    pub protocol: Option<u64>,
}

impl PinUvAuth {
    /// CTAP 2.1 §6.1.2 / §6.2.2 step 2: a pinUvAuthParam needs a
    /// pinUvAuthProtocol (else CTAP2_ERR_MISSING_PARAMETER) that the device
    /// supports (else CTAP1_ERR_INVALID_PARAMETER). This build supports no
    /// PIN/UV auth protocol, so any pinUvAuthParam fails here.
    pub fn check_supported(&self) -> Result<(), StatusCode> {
        match (&self.param, self.protocol) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(StatusCode::MissingParameter),
            (Some(_), Some(_)) => Err(StatusCode::InvalidParameter),
        }
    }

    pub(crate) fn decode(
        m: &mut Fields,
        param_key: i64,
        protocol_key: i64,
    ) -> Result<Self, StatusCode> {
        Ok(Self {
            param: m
                .take(param_key)
                .map(|v| cbor::as_bytes(v, 64))
                .transpose()?,
            protocol: m.take(protocol_key).map(cbor::as_uint).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommand_names_for_logs() {
        // clientPIN {1: 2, 2: 9, …} is getPinUvAuthTokenUsingPinWithPermissions.
        let token = [0x06, 0xA2, 0x01, 0x02, 0x02, 0x09];
        assert_eq!(
            subcommand_name(&token),
            Some("getPinUvAuthTokenUsingPinWithPermissions")
        );
        assert_eq!(subcommand_name(&[0x06, 0xA1, 0x02, 0x03]), Some("setPIN"));
        // credentialManagement and its prototype: {1: 4}.
        let enumerate = Some("enumerateCredentialsBegin");
        assert_eq!(subcommand_name(&[0x0A, 0xA1, 0x01, 0x04]), enumerate);
        assert_eq!(subcommand_name(&[0x41, 0xA1, 0x01, 0x04]), enumerate);
        assert_eq!(
            subcommand_name(&[0x0D, 0xA1, 0x01, 0x03]),
            Some("setMinPINLength")
        );
        // No subcommand: another command, an unknown number, a missing key,
        // bytes that are not a CBOR map, an empty request.
        assert_eq!(subcommand_name(&[0x02, 0xA1, 0x01, 0x02]), None);
        assert_eq!(subcommand_name(&[0x06, 0xA1, 0x02, 0x08]), None);
        assert_eq!(subcommand_name(&[0x06, 0xA1, 0x01, 0x02]), None);
        assert_eq!(subcommand_name(&[0x06, 0xFF]), None);
        assert_eq!(subcommand_name(&[]), None);
    }
}
