//! authenticatorLargeBlobs (0x0C), CTAP 2.1 §6.10.
//!
//! Decoding only checks CBOR types; which combinations of members are
//! valid, and every length rule, is decided by the command's processing
//! steps (§6.10.2) so that their order, and so the status code a bad
//! request gets, follows the spec.

use crate::cbor::{self, Fields, MapBuilder};
use crate::status::StatusCode;

/// A decoded largeBlobs request (CTAP 2.1 §6.10.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// 0x01 get: how many bytes to read.
    pub get: Option<u64>,
    /// 0x02 set: a fragment to write.
    pub set: Option<Vec<u8>>,
    /// 0x03 offset: where to read or write.
    pub offset: Option<u64>,
    /// 0x04 length: the total length of a write (first fragment only).
    pub length: Option<u64>,
    /// 0x05 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x06 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
}

impl Request {
    /// Decodes the CBOR parameters; a member of the wrong type is
    /// CTAP2_ERR_CBOR_UNEXPECTED_TYPE. A `set` fragment is bounded only by
    /// the message size here; its limit is checked when it is processed.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatusCode> {
        let mut m = Fields::decode(bytes)?;
        let get = m.take(0x01).map(cbor::as_uint).transpose()?;
        let set = m
            .take(0x02)
            .map(|v| cbor::as_bytes(v, usize::MAX))
            .transpose()?;
        let offset = m.take(0x03).map(cbor::as_uint).transpose()?;
        let length = m.take(0x04).map(cbor::as_uint).transpose()?;
        let pin_uv_auth_param = m.take(0x05).map(|v| cbor::as_bytes(v, 64)).transpose()?;
        let pin_uv_auth_protocol = m.take(0x06).map(cbor::as_uint).transpose()?;
        Ok(Self {
            get,
            set,
            offset,
            length,
            pin_uv_auth_param,
            pin_uv_auth_protocol,
        })
    }
}

/// A largeBlobs response (CTAP 2.1 §6.10.1): the bytes read, for `get`;
/// a `set` answers with an empty body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// 0x01 config: a fragment of the serialized large-blob array.
    pub config: Option<Vec<u8>>,
}

impl Response {
    /// Canonical CBOR; an empty response is an empty body (no map).
    pub fn encode(&self) -> Vec<u8> {
        match &self.config {
            None => Vec::new(),
            Some(config) => cbor::encode(
                &MapBuilder::new()
                    .int(0x01, cbor::bytes(config.clone()))
                    .build(),
            ),
        }
    }
}
