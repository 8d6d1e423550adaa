//! The largeBlob extension's platform side (WebAuthn L3 §10.1.5; CTAP 2.1
//! §6.10 authenticatorLargeBlobs and §12.3 largeBlobKey): reading the
//! serialized large-blob array, finding the entry a credential's
//! largeBlobKey opens, and writing a new array with that entry replaced.
//!
//! An entry is `{1: ciphertext, 2: nonce, 3: origSize}`: the blob,
//! DEFLATE-compressed (RFC 1951), encrypted with AES-256-GCM under the
//! largeBlobKey, with the associated data "blob" ‖ uint64LE(origSize). The
//! array is followed by LEFT(SHA-256(array), 16); an array whose hash does
//! not match is read as empty, as §6.10.3 tells the platform.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::crypto::pin_protocol::{self, PinProtocol, SharedSecret};
use authenticator_core::crypto::sha256;

use crate::{call, ClientError, CtapDevice};

/// The most a blob may grow to when it is decompressed.
const MAX_BLOB: usize = 1 << 20;

/// pinUvAuthToken permission lbw (CTAP 2.1 §6.5.5.7).
const PERMISSION_LBW: u64 = 0x10;

fn device_error(what: &str) -> ClientError {
    ClientError::Device(format!("authenticatorLargeBlobs: {what}"))
}

/// The entries of the serialized large-blob array.
pub(crate) fn read_array(
    device: &mut dyn CtapDevice,
    max_fragment: usize,
) -> Result<Vec<Value>, ClientError> {
    let mut serialized = Vec::new();
    loop {
        let req = MapBuilder::new()
            .int(1, max_fragment as u64)
            .int(3, serialized.len() as u64)
            .build();
        let mut f = call(
            device,
            "authenticatorLargeBlobs get",
            [vec![0x0C], cbor::encode(&req)].concat(),
        )?;
        let part = f
            .take(1)
            .and_then(|v| cbor::as_bytes(v, max_fragment).ok())
            .ok_or_else(|| device_error("an answer without config (0x01)"))?;
        let done = part.len() < max_fragment;
        serialized.extend_from_slice(&part);
        if done {
            break;
        }
    }
    if serialized.len() < 17 {
        return Ok(Vec::new());
    }
    let (array, hash) = serialized.split_at(serialized.len() - 16);
    if sha256(array)[..16] != *hash {
        return Ok(Vec::new());
    }
    match cbor::decode(array) {
        Ok(Value::Array(entries)) => Ok(entries),
        _ => Ok(Vec::new()),
    }
}

fn entry_field(entry: &Value, key: i64) -> Option<&Value> {
    let Value::Map(m) = entry else { return None };
    m.iter()
        .find(|(k, _)| k.as_integer() == Some(key.into()))
        .map(|(_, v)| v)
}

/// The blob `key` opens in `entry`, if it does.
fn open(entry: &Value, key: &[u8]) -> Option<Vec<u8>> {
    let ciphertext = entry_field(entry, 1)?.as_bytes()?;
    let nonce: [u8; 12] = entry_field(entry, 2)?
        .as_bytes()?
        .as_slice()
        .try_into()
        .ok()?;
    let orig_size = u64::try_from(entry_field(entry, 3)?.as_integer()?).ok()?;
    let cipher = Aes256Gcm::new_from_slice(key).ok()?;
    let aad = [&b"blob"[..], &orig_size.to_le_bytes()].concat();
    let compressed = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .ok()?;
    let blob = miniz_oxide::inflate::decompress_to_vec_with_limit(&compressed, MAX_BLOB).ok()?;
    (blob.len() as u64 == orig_size).then_some(blob)
}

/// The blob of the credential whose largeBlobKey is `key`, if the array
/// holds one.
pub(crate) fn find(entries: &[Value], key: &[u8]) -> Option<Vec<u8>> {
    entries.iter().find_map(|e| open(e, key))
}

/// A new entry holding `blob` for `key`.
fn seal(blob: &[u8], key: &[u8]) -> Result<Value, ClientError> {
    let cipher = Aes256Gcm::new_from_slice(key)
        .map_err(|_| ClientError::Device("a largeBlobKey that is not 32 bytes".into()))?;
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce)
        .map_err(|e| ClientError::Device(format!("no randomness for the nonce: {e}")))?;
    let orig_size = blob.len() as u64;
    let aad = [&b"blob"[..], &orig_size.to_le_bytes()].concat();
    let compressed = miniz_oxide::deflate::compress_to_vec(blob, 6);
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &compressed,
                aad: &aad,
            },
        )
        .map_err(|_| ClientError::Device("the blob could not be encrypted".into()))?;
    Ok(MapBuilder::new()
        .int(1, cbor::bytes(ciphertext))
        .int(2, cbor::bytes(nonce.to_vec()))
        .int(3, orig_size)
        .build())
}

/// The platform side of key agreement (CTAP 2.1 §6.5.4): the
/// authenticator's key from clientPIN getKeyAgreement, an ephemeral
/// platform key to send as keyAgreement, and the shared secret.
pub(crate) fn key_agreement(
    device: &mut dyn CtapDevice,
    protocol: PinProtocol,
) -> Result<(Value, SharedSecret), ClientError> {
    let mut f = call(
        device,
        "authenticatorClientPIN getKeyAgreement",
        [
            vec![0x06],
            cbor::encode(&MapBuilder::new().int(1, protocol.id()).int(2, 2u64).build()),
        ]
        .concat(),
    )?;
    let key = f.take(1).ok_or_else(|| {
        ClientError::Device("getKeyAgreement answered without keyAgreement".into())
    })?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    pin_protocol::encapsulate(protocol, &key, &mut rng)
        .map_err(|e| ClientError::Device(format!("the key-agreement key: {}", e.name())))
}

/// A pinUvAuthToken with the lbw permission, through the key's built-in
/// user verification (getPinUvAuthTokenUsingUvWithPermissions, CTAP 2.1
/// §6.5.5.7.3), under PIN/UV auth protocol 2.
fn lbw_token(device: &mut dyn CtapDevice) -> Result<Vec<u8>, ClientError> {
    let protocol = PinProtocol::V2;
    let (platform, shared) = key_agreement(device, protocol)?;
    let req = MapBuilder::new()
        .int(1, protocol.id())
        .int(2, 6u64)
        .int(3, platform)
        .int(9, PERMISSION_LBW)
        .build();
    let mut f = call(
        device,
        "authenticatorClientPIN getPinUvAuthTokenUsingUvWithPermissions",
        [vec![0x06], cbor::encode(&req)].concat(),
    )?;
    let enc = f
        .take(2)
        .and_then(|v| cbor::as_bytes(v, 128).ok())
        .ok_or_else(|| ClientError::Device("the token answer has no pinUvAuthToken".into()))?;
    shared
        .decrypt(&enc)
        .map(|t| t.to_vec())
        .map_err(|_| ClientError::Device("the pinUvAuthToken does not decrypt".into()))
}

/// Writes `blob` for the credential whose largeBlobKey is `key`: the array
/// with that credential's entry replaced, in fragments of `max_fragment`.
pub(crate) fn write(
    device: &mut dyn CtapDevice,
    max_fragment: usize,
    max_array: usize,
    key: &[u8],
    blob: &[u8],
) -> Result<(), ClientError> {
    let mut entries = read_array(device, max_fragment)?;
    entries.retain(|e| open(e, key).is_none());
    entries.push(seal(blob, key)?);
    let array = cbor::encode(&Value::Array(entries));
    let mut serialized = array.clone();
    serialized.extend_from_slice(&sha256(&array)[..16]);
    if serialized.len() > max_array {
        return Err(ClientError::NotSupported(format!(
            "the large-blob array would be {} bytes; this key stores {max_array}",
            serialized.len()
        )));
    }
    let token = lbw_token(device)?;
    let protocol = PinProtocol::V2;
    for (i, fragment) in serialized.chunks(max_fragment).enumerate() {
        let offset = i * max_fragment;
        // CTAP 2.1 §6.10.2: 32 × 0xff ‖ h'0c00' ‖ uint32LE(offset) ‖
        // SHA-256(fragment).
        let mut message = vec![0xff; 32];
        message.extend_from_slice(&[0x0c, 0x00]);
        message.extend_from_slice(&(offset as u32).to_le_bytes());
        message.extend_from_slice(&sha256(fragment));
        let mut req = MapBuilder::new()
            .int(2, cbor::bytes(fragment.to_vec()))
            .int(3, offset as u64)
            .int(5, cbor::bytes(protocol.authenticate(&token, &message)))
            .int(6, protocol.id());
        if offset == 0 {
            req = req.int(4, serialized.len() as u64);
        }
        call(
            device,
            "authenticatorLargeBlobs set",
            [vec![0x0C], cbor::encode(&req.build())].concat(),
        )?;
    }
    Ok(())
}
