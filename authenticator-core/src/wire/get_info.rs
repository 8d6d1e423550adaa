//! authenticatorGetInfo (0x04), CTAP 2.1 §6.4.

use crate::cbor::{self, MapBuilder, Value};
use crate::crypto::keys::Algorithm;

/// A protocol version string (CTAP 2.1 §6.4, member 0x01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// "U2F_V2": CTAP1/U2F.
    U2fV2,
    /// "FIDO_2_0": CTAP 2.0.
    Fido2_0,
    /// "FIDO_2_1_PRE": the CTAP 2.1 preview.
    Fido2_1Pre,
    /// "FIDO_2_1": CTAP 2.1.
    Fido2_1,
}

impl Version {
    /// The string on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::U2fV2 => "U2F_V2",
            Self::Fido2_0 => "FIDO_2_0",
            Self::Fido2_1Pre => "FIDO_2_1_PRE",
            Self::Fido2_1 => "FIDO_2_1",
        }
    }
}

/// An option ID (CTAP 2.1 §6.4, member 0x04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OptionId {
    /// "plat": a platform authenticator.
    Plat,
    /// "rk": can store discoverable credentials.
    Rk,
    /// "clientPin": present when ClientPIN is supported; true once a PIN is set.
    ClientPin,
    /// "up": can test user presence.
    Up,
    /// "uv": has a built-in user verification method; true once configured.
    Uv,
    /// "pinUvAuthToken": supports getPinUvAuthToken with permissions.
    PinUvAuthToken,
    /// "credMgmt": authenticatorCredentialManagement.
    CredMgmt,
    /// "largeBlobs": authenticatorLargeBlobs.
    LargeBlobs,
    /// "authnrCfg": authenticatorConfig.
    AuthnrCfg,
    /// "ep": enterprise attestation.
    Ep,
    /// "alwaysUv".
    AlwaysUv,
    /// "makeCredUvNotRqd".
    MakeCredUvNotRqd,
    /// "setMinPINLength".
    SetMinPinLength,
    /// "bioEnroll": authenticatorBioEnrollment; true once a template is
    /// enrolled (CTAP 2.1 §6.4).
    BioEnroll,
}

impl OptionId {
    /// The string on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Plat => "plat",
            Self::Rk => "rk",
            Self::ClientPin => "clientPin",
            Self::Up => "up",
            Self::Uv => "uv",
            Self::PinUvAuthToken => "pinUvAuthToken",
            Self::CredMgmt => "credMgmt",
            Self::LargeBlobs => "largeBlobs",
            Self::AuthnrCfg => "authnrCfg",
            Self::Ep => "ep",
            Self::AlwaysUv => "alwaysUv",
            Self::MakeCredUvNotRqd => "makeCredUvNotRqd",
            Self::SetMinPinLength => "setMinPINLength",
            Self::BioEnroll => "bioEnroll",
        }
    }
}

/// A transport (WebAuthn §5.8.4), getInfo member 0x09.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// "usb".
    Usb,
}

impl Transport {
    /// The string on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Usb => "usb",
        }
    }
}

/// An attestation statement format (WebAuthn §8), getInfo member 0x16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttestationFormat {
    /// "packed".
    Packed,
    /// "none".
    None,
}

impl AttestationFormat {
    /// The string on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Packed => "packed",
            Self::None => "none",
        }
    }

    /// Parses a format identifier.
    pub fn from_id(s: &str) -> Option<Self> {
        match s {
            "packed" => Some(Self::Packed),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// The getInfo response (CTAP 2.1 §6.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// 0x01 versions.
    pub versions: Vec<Version>,
    /// 0x02 extensions (identifiers).
    pub extensions: Vec<&'static str>,
    /// 0x03 aaguid.
    pub aaguid: [u8; 16],
    /// 0x04 options.
    pub options: Vec<(OptionId, bool)>,
    /// 0x05 maxMsgSize.
    pub max_msg_size: u64,
    /// 0x06 pinUvAuthProtocols.
    pub pin_uv_auth_protocols: Vec<u64>,
    /// 0x07 maxCredentialCountInList.
    pub max_credential_count_in_list: u64,
    /// 0x08 maxCredentialIdLength.
    pub max_credential_id_length: u64,
    /// 0x09 transports.
    pub transports: Vec<Transport>,
    /// 0x0A algorithms.
    pub algorithms: Vec<Algorithm>,
    /// 0x0B maxSerializedLargeBlobArray.
    pub max_serialized_large_blob_array: Option<u64>,
    /// 0x0C forcePINChange.
    pub force_pin_change: Option<bool>,
    /// 0x0D minPINLength.
    pub min_pin_length: Option<u64>,
    /// 0x0E firmwareVersion.
    pub firmware_version: u64,
    /// 0x0F maxCredBlobLength.
    pub max_cred_blob_length: Option<u64>,
    /// 0x10 maxRPIDsForSetMinPINLength.
    pub max_rp_ids_for_set_min_pin_length: Option<u64>,
    /// 0x12 uvModality.
    pub uv_modality: Option<u64>,
    /// 0x14 remainingDiscoverableCredentials.
    pub remaining_discoverable_credentials: u64,
    /// 0x16 attestationFormats (CTAP 2.2).
    pub attestation_formats: Vec<AttestationFormat>,
    /// 0x17 uvCountSinceLastPinEntry (CTAP 2.2): built-in UV operations,
    /// failed ones included, since the PIN was last entered.
    pub uv_count_since_last_pin_entry: Option<u64>,
    /// 0x1A transportsForReset (CTAP 2.2): the transports authenticatorReset
    /// is taken on.
    pub transports_for_reset: Vec<Transport>,
    /// 0x1D maxPINLength (CTAP 2.2), in code points.
    pub max_pin_length: Option<u64>,
    /// 0x1F authenticatorConfigCommands (CTAP 2.2): the authenticatorConfig
    /// subcommands supported.
    pub authenticator_config_commands: Vec<u64>,
}

impl Response {
    /// Canonical CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let texts = |items: Vec<&str>| Value::Array(items.into_iter().map(Value::from).collect());
        let options = Value::Map(
            self.options
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), Value::from(*v)))
                .collect(),
        );
        let algorithms = Value::Array(
            self.algorithms
                .iter()
                .map(|a| {
                    MapBuilder::new()
                        .text("alg", a.cose())
                        .text("type", super::PUBLIC_KEY)
                        .build()
                })
                .collect(),
        );
        let list_opt = |v: Value| match &v {
            Value::Array(a) if a.is_empty() => None,
            _ => Some(v),
        };
        cbor::encode(
            &MapBuilder::new()
                .int(
                    0x01,
                    texts(self.versions.iter().map(|v| v.as_str()).collect()),
                )
                .opt(0x02, list_opt(texts(self.extensions.clone())))
                .int(0x03, cbor::bytes(self.aaguid.to_vec()))
                .int(0x04, options)
                .int(0x05, self.max_msg_size)
                .opt(
                    0x06,
                    list_opt(Value::Array(
                        self.pin_uv_auth_protocols
                            .iter()
                            .map(|p| Value::from(*p))
                            .collect(),
                    )),
                )
                .int(0x07, self.max_credential_count_in_list)
                .int(0x08, self.max_credential_id_length)
                .int(
                    0x09,
                    texts(self.transports.iter().map(|t| t.as_str()).collect()),
                )
                .int(0x0A, algorithms)
                .opt(0x0B, self.max_serialized_large_blob_array)
                .opt(0x0C, self.force_pin_change)
                .opt(0x0D, self.min_pin_length)
                .int(0x0E, self.firmware_version)
                .opt(0x0F, self.max_cred_blob_length)
                .opt(0x10, self.max_rp_ids_for_set_min_pin_length)
                .opt(0x12, self.uv_modality)
                .int(0x14, self.remaining_discoverable_credentials)
                .opt(
                    0x16,
                    list_opt(texts(
                        self.attestation_formats
                            .iter()
                            .map(|f| f.as_str())
                            .collect(),
                    )),
                )
                .opt(0x17, self.uv_count_since_last_pin_entry)
                .opt(
                    0x1A,
                    list_opt(texts(
                        self.transports_for_reset
                            .iter()
                            .map(|t| t.as_str())
                            .collect(),
                    )),
                )
                .opt(0x1D, self.max_pin_length)
                .opt(
                    0x1F,
                    list_opt(Value::Array(
                        self.authenticator_config_commands
                            .iter()
                            .map(|c| Value::from(*c))
                            .collect(),
                    )),
                )
                .build(),
        )
    }
}
