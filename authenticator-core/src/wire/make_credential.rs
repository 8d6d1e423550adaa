//! authenticatorMakeCredential (0x01), CTAP 2.1 §6.1.

use super::{
    decode_descriptor_list, decode_extensions, decode_pub_key_cred_params, decode_user,
    CredentialDescriptor, Options, PinUvAuth, RpEntity,
};
use crate::cbor::{self, Fields, MapBuilder, Value};
use crate::crypto::keys::Algorithm;
use crate::limits::{MAX_CLIENT_DATA_HASH, MAX_SMALL_LIST, MAX_TEXT_FIELD};
use crate::status::StatusCode;
use crate::store::User;

/// A decoded makeCredential request (CTAP 2.1 §6.1.1).
#[derive(Debug, Clone)]
pub struct Request {
    /// 0x01 clientDataHash.
    pub client_data_hash: Vec<u8>,
    /// 0x02 rp.
    pub rp: RpEntity,
    /// 0x03 user.
    pub user: User,
    /// 0x04 pubKeyCredParams: the implemented algorithms, in the caller's order.
    pub algorithms: Vec<Algorithm>,
    /// 0x05 excludeList.
    pub exclude_list: Vec<CredentialDescriptor>,
    /// 0x06 extensions (identifier, input).
    pub extensions: Vec<(String, Value)>,
    /// 0x07 options.
    pub options: Options,
    /// 0x08 pinUvAuthParam and 0x09 pinUvAuthProtocol.
    pub pin_uv_auth: PinUvAuth,
    /// 0x0A enterpriseAttestation.
    pub enterprise_attestation: Option<u64>,
    /// 0x0B attestationFormatsPreference (CTAP 2.2 §6.1.1).
    pub attestation_formats_preference: Option<Vec<String>>,
}

impl Request {
    /// Decodes the CBOR parameters of the command.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatusCode> {
        let mut m = Fields::decode(bytes)?;
        // Required parameters are checked in key order, so the first missing
        // or mistyped one decides the status.
        let client_data_hash = cbor::as_bytes(m.required(0x01)?, MAX_CLIENT_DATA_HASH)?;
        let rp = RpEntity::decode(m.required(0x02)?)?;
        let user = decode_user(m.required(0x03)?)?;
        let algorithms = decode_pub_key_cred_params(m.required(0x04)?)?;
        let exclude_list = m
            .take(0x05)
            .map(decode_descriptor_list)
            .transpose()?
            .unwrap_or_default();
        let extensions = m
            .take(0x06)
            .map(decode_extensions)
            .transpose()?
            .unwrap_or_default();
        let options = m
            .take(0x07)
            .map(Options::decode)
            .transpose()?
            .unwrap_or_default();
        let pin_uv_auth = PinUvAuth::decode(&mut m, 0x08, 0x09)?;
        let enterprise_attestation = m.take(0x0A).map(cbor::as_uint).transpose()?;
        let attestation_formats_preference = m
            .take(0x0B)
            .map(|v| {
                cbor::as_array(v, MAX_SMALL_LIST)?
                    .into_iter()
                    .map(|f| cbor::as_text(f, MAX_TEXT_FIELD))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Self {
            client_data_hash,
            rp,
            user,
            algorithms,
            exclude_list,
            extensions,
            options,
            pin_uv_auth,
            enterprise_attestation,
            attestation_formats_preference,
        })
    }
}

/// An attestation statement (WebAuthn §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestationStatement {
    /// `none`: an empty map.
    None,
    /// `packed`: alg, sig and, for full attestation, x5c.
    Packed {
        /// COSE algorithm of the signature.
        alg: i64,
        /// The signature over authData ‖ clientDataHash.
        sig: Vec<u8>,
        /// The certificate chain, leaf first; empty for self attestation.
        x5c: Vec<Vec<u8>>,
    },
}

impl AttestationStatement {
    /// The `fmt` identifier.
    pub fn format(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Packed { .. } => "packed",
        }
    }

    fn encode(&self) -> Value {
        match self {
            Self::None => Value::Map(Vec::new()),
            Self::Packed { alg, sig, x5c } => {
                let mut m = MapBuilder::new()
                    .text("alg", *alg)
                    .text("sig", cbor::bytes(sig.clone()));
                if !x5c.is_empty() {
                    m = m.text(
                        "x5c",
                        Value::Array(x5c.iter().cloned().map(Value::Bytes).collect()),
                    );
                }
                m.build()
            }
        }
    }
}

/// A makeCredential response (CTAP 2.1 §6.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// 0x02 authData.
    pub auth_data: Vec<u8>,
    /// 0x01 fmt and 0x03 attStmt.
    pub att_stmt: AttestationStatement,
    /// 0x04 epAtt: an enterprise attestation was returned.
    pub ep_att: Option<bool>,
    /// 0x05 largeBlobKey (CTAP 2.1 §12.3).
    pub large_blob_key: Option<Vec<u8>>,
}

impl Response {
    /// Canonical CBOR.
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(
            &MapBuilder::new()
                .int(0x01, self.att_stmt.format())
                .int(0x02, cbor::bytes(self.auth_data.clone()))
                .int(0x03, self.att_stmt.encode())
                .opt(0x04, self.ep_att)
                .opt(0x05, self.large_blob_key.clone().map(cbor::bytes))
                .build(),
        )
    }
}
