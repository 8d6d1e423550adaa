//! authenticatorLargeBlobs (0x0C), CTAP 2.1 §6.10: the model's walk of
//! §6.10.2 for reads and fragmented writes, and the fragments the
//! operations send.

use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::crypto::sha256;
use authenticator_core::limits;
use authenticator_core::status::StatusCode as S;
use authenticator_core::wire::client_pin::permission;
use authenticator_core::wire::large_blobs;

use crate::stateful::input::Auth;
use crate::stateful::model::{code, Harness};

/// maxFragmentLength: maxMsgSize − 64 (CTAP 2.1 §6.10.1).
const MAX_FRAGMENT_LENGTH: usize = limits::MAX_MSG_SIZE - 64;

impl Harness {
    /// Walks §6.10.2 for a decoded request; a read answers its bytes.
    fn model_large_blobs(&mut self, req: &large_blobs::Request) -> Result<Option<Vec<u8>>, S> {
        // Steps 1–3: offset, and exactly one of get and set.
        let offset = req.offset.ok_or(S::InvalidParameter)?;
        match (req.get, req.set.as_deref()) {
            (Some(get), None) => {
                // Step 4.a–b: no length, no pinUvAuthParam/Protocol.
                if req.length.is_some()
                    || req.pin_uv_auth_param.is_some()
                    || req.pin_uv_auth_protocol.is_some()
                {
                    return Err(S::InvalidParameter);
                }
                // 4.c: at most maxFragmentLength.
                if get > MAX_FRAGMENT_LENGTH as u64 {
                    return Err(S::InvalidLength);
                }
                // 4.d: the offset may be the end of the array.
                let len = self.large_blob.len();
                if offset > len as u64 {
                    return Err(S::InvalidParameter);
                }
                // 4.e: up to `get` bytes from the offset.
                let start = offset as usize;
                let end = (start + get as usize).min(len);
                Ok(Some(self.large_blob[start..end].to_vec()))
            }
            (None, Some(set)) => {
                // 5.a.
                if set.len() > MAX_FRAGMENT_LENGTH {
                    return Err(S::InvalidLength);
                }
                if offset == 0 {
                    // 5.b: a length of at most maxSerializedLargeBlobArray
                    // (else LARGE_BLOB_STORAGE_FULL) and at least 17 (else
                    // INVALID_PARAMETER) starts a new write.
                    let length = req.length.ok_or(S::InvalidParameter)?;
                    if length > limits::MAX_SERIALIZED_LARGE_BLOB_ARRAY as u64 {
                        return Err(S::LargeBlobStorageFull);
                    }
                    if length < 17 {
                        return Err(S::InvalidParameter);
                    }
                    self.lb_write = Some((length as usize, Vec::new()));
                } else if req.length.is_some() {
                    // 5.c.
                    return Err(S::InvalidParameter);
                }
                // 5.d: expectedNextOffset.
                let next = self.lb_write.as_ref().map_or(0, |(_, b)| b.len());
                if offset != next as u64 {
                    return Err(S::InvalidSeq);
                }
                // 5.e: a token with lbw over 32×0xff ‖ h'0c00' ‖
                // uint32LE(offset) ‖ SHA-256(set).
                if self.needs_token() {
                    let param = req.pin_uv_auth_param.as_deref().ok_or(S::PuatRequired)?;
                    let protocol = Self::pin_protocol(req.pin_uv_auth_protocol)?;
                    let message = large_blob_message(offset as usize, set);
                    self.verify_token(protocol, param, &message, permission::LBW)?;
                }
                let (expected, buffer) = self.lb_write.as_mut().ok_or(S::InvalidSeq)?;
                // 5.f.
                if next + set.len() > *expected {
                    return Err(S::InvalidParameter);
                }
                // 5.h–i, then 5.j: the last 16 bytes are LEFT(SHA-256(the
                // rest), 16), else INTEGRITY_FAILURE; the array is committed.
                buffer.extend_from_slice(set);
                if buffer.len() == *expected {
                    let (body, hash) = buffer.split_at(buffer.len() - 16);
                    if sha256(body)[..16] != *hash {
                        return Err(S::IntegrityFailure);
                    }
                    self.large_blob = buffer.clone();
                }
                Ok(None)
            }
            _ => Err(S::InvalidParameter),
        }
    }

    pub(crate) fn after_large_blobs(
        &mut self,
        params: &[u8],
        st: u8,
        body: Option<Vec<(Value, Value)>>,
    ) {
        let req = match large_blobs::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(st, e as u8, "largeBlobs on an undecodable request");
                return;
            }
        };
        let outcome = self.model_large_blobs(&req);
        assert_eq!(
            st,
            code(&outcome),
            "largeBlobs: device {st:#04x}, model {:?}",
            outcome.as_ref().err()
        );
        match outcome {
            Ok(Some(config)) => {
                let expected = MapBuilder::new().int(0x01, cbor::bytes(config)).build();
                assert_eq!(
                    Value::Map(body.unwrap_or_default()),
                    expected,
                    "largeBlobs get"
                );
            }
            _ => assert!(body.is_none(), "largeBlobs set with a body"),
        }
    }

    /// Sends one set fragment with its pinUvAuthParam; returns the status.
    pub(crate) fn large_blob_set(
        &mut self,
        offset: usize,
        fragment: &[u8],
        length: Option<usize>,
        auth: Option<Auth>,
    ) -> u8 {
        let mut m = MapBuilder::new()
            .int(0x02, cbor::bytes(fragment.to_vec()))
            .int(0x03, offset as u64);
        if let Some(l) = length {
            m = m.int(0x04, l as u64);
        }
        if let Some(a) = auth {
            let message = large_blob_message(offset, fragment);
            m = self.pin_uv_auth(m, a, &message, 0x05, 0x06);
        }
        self.send(0x0C, m.build())
    }
}

/// What a largeBlobs set fragment's pinUvAuthParam authenticates (§6.10.2
/// step 5.e.iv): 32×0xff ‖ h'0c00' ‖ uint32LittleEndian(offset) ‖
/// SHA-256(fragment).
fn large_blob_message(offset: usize, fragment: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 32];
    m.extend_from_slice(&[0x0c, 0x00]);
    m.extend_from_slice(&u32::try_from(offset).unwrap_or(u32::MAX).to_le_bytes());
    m.extend_from_slice(&sha256(fragment));
    m
}
