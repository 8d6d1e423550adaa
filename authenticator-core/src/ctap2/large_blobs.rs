//! authenticatorLargeBlobs (0x0C), CTAP 2.1 §6.10: reads of the
//! serialized large-blob array in fragments, and writes of a new array in
//! fragments that become visible only once the whole array arrived and its
//! checksum matched.

use super::pin::permission;
use super::Authenticator;
use crate::crypto::sha256;
use crate::env::Env;
use crate::limits::{MAX_MSG_SIZE, MAX_SERIALIZED_LARGE_BLOB_ARRAY};
use crate::status::StatusCode;
use crate::store::CredentialStore;
use crate::wire::large_blobs::{Request, Response};

/// maxFragmentLength: maxMsgSize − 64 (§6.10.1).
pub(crate) const MAX_FRAGMENT_LENGTH: usize = MAX_MSG_SIZE - 64;

/// Length of the truncated SHA-256 that ends a serialized large-blob array.
const CHECKSUM_LEN: usize = 16;

/// The shortest serialized large-blob array: an empty CBOR array and its
/// checksum (§6.10.2 step 5.b.iii).
const MIN_ARRAY_LEN: usize = 1 + CHECKSUM_LEN;

/// The initial serialized large-blob array (§6.10.3): the empty CBOR array
/// 0x80 followed by LEFT(SHA-256(0x80), 16).
pub(crate) const INITIAL_ARRAY: [u8; 17] = [
    0x80, 0x76, 0xbe, 0x8b, 0x52, 0x8d, 0x00, 0x75, 0xf7, 0xaa, 0xe9, 0x8d, 0x6f, 0xa5, 0x7a, 0x6d,
    0x3c,
];

/// The write state of §6.10.2 step 5: expectedLength, expectedNextOffset
/// and the pending serialized large-blob array. Kept per power cycle.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingWrite {
    expected_length: usize,
    next_offset: usize,
    buffer: Vec<u8>,
}

impl<E: Env> Authenticator<E> {
    pub(super) fn large_blobs(&mut self, params: &[u8]) -> Result<Vec<u8>, StatusCode> {
        let req = Request::decode(params)?;
        // Steps 1–3: offset is required; exactly one of get and set.
        let offset = req.offset.ok_or(StatusCode::InvalidParameter)?;
        match (req.get, req.set.as_deref()) {
            (Some(get), None) => self.large_blob_get(&req, get, offset),
            (None, Some(set)) => {
                self.large_blob_set(&req, set, offset)?;
                Ok(Response::default().encode())
            }
            _ => Err(StatusCode::InvalidParameter),
        }
    }

    /// The committed serialized large-blob array.
    fn stored_large_blob_array(&self) -> Result<Vec<u8>, StatusCode> {
        Ok(self
            .env
            .store_ref()
            .large_blob_array()?
            .unwrap_or_else(|| INITIAL_ARRAY.to_vec()))
    }

    /// Step 4: a read.
    fn large_blob_get(&self, req: &Request, get: u64, offset: u64) -> Result<Vec<u8>, StatusCode> {
        // 4.a–b: a read takes no length and no PIN/UV auth.
        if req.length.is_some()
            || req.pin_uv_auth_param.is_some()
            || req.pin_uv_auth_protocol.is_some()
        {
            return Err(StatusCode::InvalidParameter);
        }
        // 4.c: at most maxFragmentLength bytes per read.
        let get = usize::try_from(get)
            .ok()
            .filter(|&g| g <= MAX_FRAGMENT_LENGTH)
            .ok_or(StatusCode::InvalidLength)?;
        // 4.d: the offset may be the end of the array, not beyond.
        let array = self.stored_large_blob_array()?;
        let start = usize::try_from(offset)
            .ok()
            .filter(|&o| o <= array.len())
            .ok_or(StatusCode::InvalidParameter)?;
        // 4.e: as many bytes as exist, up to `get`.
        let end = start.saturating_add(get).min(array.len());
        let config = array.get(start..end).unwrap_or_default().to_vec();
        Ok(Response {
            config: Some(config),
        }
        .encode())
    }

    /// Step 5: one fragment of a write.
    fn large_blob_set(&mut self, req: &Request, set: &[u8], offset: u64) -> Result<(), StatusCode> {
        // 5.a: at most maxFragmentLength bytes per fragment.
        if set.len() > MAX_FRAGMENT_LENGTH {
            return Err(StatusCode::InvalidLength);
        }
        if offset == 0 {
            // 5.b: the first fragment announces the total length.
            let length = req.length.ok_or(StatusCode::InvalidParameter)?;
            let length = usize::try_from(length)
                .ok()
                .filter(|&l| l <= MAX_SERIALIZED_LARGE_BLOB_ARRAY)
                .ok_or(StatusCode::LargeBlobStorageFull)?;
            if length < MIN_ARRAY_LEN {
                return Err(StatusCode::InvalidParameter);
            }
            // 5.b.iv–v, and 5.g: a new pending array (any earlier one is
            // dropped).
            self.large_blob_write = Some(PendingWrite {
                expected_length: length,
                next_offset: 0,
                buffer: Vec::with_capacity(length),
            });
        } else if req.length.is_some() {
            // 5.c: only the first fragment carries a length.
            return Err(StatusCode::InvalidParameter);
        }
        // 5.d: fragments arrive in order. Before any first fragment
        // expectedNextOffset is 0, so a later fragment is out of sequence.
        let next_offset = self.large_blob_write.as_ref().map_or(0, |w| w.next_offset);
        if usize::try_from(offset).ok() != Some(next_offset) {
            return Err(StatusCode::InvalidSeq);
        }
        // 5.e: a device protected by a PIN or built-in UV, or with alwaysUv,
        // needs a pinUvAuthToken with the lbw permission.
        let state = self.device_state()?;
        if self.uv_protected(&state) || state.always_uv {
            let param = req
                .pin_uv_auth_param
                .as_deref()
                .ok_or(StatusCode::PuatRequired)?;
            let protocol = Self::pin_protocol(req.pin_uv_auth_protocol)?;
            let offset_le = u32::try_from(offset)
                .map_err(|_| StatusCode::InvalidParameter)?
                .to_le_bytes();
            // 32×0xff ‖ h'0c00' ‖ uint32LittleEndian(offset) ‖ SHA-256(set).
            let mut message = vec![0xff; 32];
            message.extend_from_slice(&[0x0c, 0x00]);
            message.extend_from_slice(&offset_le);
            message.extend_from_slice(&sha256(set));
            self.check_token(protocol, param, &message, permission::LBW, None, false)?;
        }
        let write = self
            .large_blob_write
            .as_mut()
            .ok_or(StatusCode::InvalidSeq)?;
        // 5.f: the fragment must fit the announced length.
        if next_offset.saturating_add(set.len()) > write.expected_length {
            return Err(StatusCode::InvalidParameter);
        }
        // 5.h–i: append, and expect the next fragment after it.
        write.buffer.extend_from_slice(set);
        write.next_offset = write.buffer.len();
        // 5.j: once complete, the trailing checksum must match before the
        // array is committed; 5.k: otherwise wait for more.
        if write.buffer.len() == write.expected_length {
            let (body, checksum) = write.buffer.split_at(write.expected_length - CHECKSUM_LEN);
            if sha256(body)[..CHECKSUM_LEN] != *checksum {
                return Err(StatusCode::IntegrityFailure);
            }
            let array = write.buffer.clone();
            self.store().set_large_blob_array(&array)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_array_is_the_empty_array_and_its_checksum() {
        assert_eq!(INITIAL_ARRAY[0], 0x80);
        assert_eq!(INITIAL_ARRAY[1..], sha256(&[0x80])[..CHECKSUM_LEN]);
    }
}
