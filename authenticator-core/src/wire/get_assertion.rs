//! authenticatorGetAssertion (0x02), CTAP 2.1 §6.2, and the response shared
//! with authenticatorGetNextAssertion (0x08), §6.3.

use super::{
    decode_descriptor_list, decode_extensions, encode_user, CredentialDescriptor, Options,
    PinUvAuth,
};
use crate::cbor::{self, Fields, MapBuilder, Value};
use crate::limits::{MAX_CLIENT_DATA_HASH, MAX_RP_ID_LENGTH};
use crate::status::StatusCode;
use crate::store::User;

/// A decoded getAssertion request (CTAP 2.1 §6.2.1).
#[derive(Debug, Clone)]
pub struct Request {
    /// 0x01 rpId.
    pub rp_id: String,
    /// 0x02 clientDataHash.
    pub client_data_hash: Vec<u8>,
    /// 0x03 allowList (`None` when absent; an empty list counts as absent).
    pub allow_list: Option<Vec<CredentialDescriptor>>,
    /// 0x04 extensions.
    pub extensions: Vec<(String, Value)>,
    /// 0x05 options.
    pub options: Options,
    /// 0x06 pinUvAuthParam and 0x07 pinUvAuthProtocol.
    pub pin_uv_auth: PinUvAuth,
}

impl Request {
    /// Decodes the CBOR parameters of the command.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatusCode> {
        let mut m = Fields::decode(bytes)?;
        let rp_id = cbor::as_text(m.required(0x01)?, MAX_RP_ID_LENGTH)?;
        let client_data_hash = cbor::as_bytes(m.required(0x02)?, MAX_CLIENT_DATA_HASH)?;
        let allow_list = m
            .take(0x03)
            .map(decode_descriptor_list)
            .transpose()?
            .filter(|l| !l.is_empty());
        let extensions = m
            .take(0x04)
            .map(decode_extensions)
            .transpose()?
            .unwrap_or_default();
        let options = m
            .take(0x05)
            .map(Options::decode)
            .transpose()?
            .unwrap_or_default();
        let pin_uv_auth = PinUvAuth::decode(&mut m, 0x06, 0x07)?;
        Ok(Self {
            rp_id,
            client_data_hash,
            allow_list,
            extensions,
            options,
            pin_uv_auth,
        })
    }
}

/// A getAssertion / getNextAssertion response (CTAP 2.1 §6.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// 0x01 credential.
    pub credential: CredentialDescriptor,
    /// 0x02 authData.
    pub auth_data: Vec<u8>,
    /// 0x03 signature.
    pub signature: Vec<u8>,
    /// 0x04 user, and whether its identifying fields are included.
    pub user: Option<(User, bool)>,
    /// 0x05 numberOfCredentials.
    pub number_of_credentials: Option<u32>,
    /// 0x06 userSelected: the user chose this credential on the device.
    pub user_selected: bool,
    /// 0x07 largeBlobKey (CTAP 2.1 §12.3).
    pub large_blob_key: Option<Vec<u8>>,
}

impl Response {
    /// Canonical CBOR.
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(
            &MapBuilder::new()
                .int(0x01, self.credential.encode())
                .int(0x02, cbor::bytes(self.auth_data.clone()))
                .int(0x03, cbor::bytes(self.signature.clone()))
                .opt(
                    0x04,
                    self.user.as_ref().map(|(u, ident)| encode_user(u, *ident)),
                )
                .opt(0x05, self.number_of_credentials)
                .opt(0x06, self.user_selected.then_some(true))
                .opt(0x07, self.large_blob_key.clone().map(cbor::bytes))
                .build(),
        )
    }
}
