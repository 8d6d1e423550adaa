//! Tests for authenticatorLargeBlobs (CTAP 2.1 §6.10) and
//! authenticatorConfig (§6.11), including what they change in getInfo,
//! clientPIN and makeCredential.
#![allow(clippy::unwrap_used)]

use super::large_blobs::{INITIAL_ARRAY, MAX_FRAGMENT_LENGTH};
use super::pin::permission;
use super::*;
use crate::auth_data::flags;
use crate::cbor::{self, MapBuilder, Value};
use crate::crypto::pin_protocol::{encapsulate, PinProtocol, SharedSecret};
use crate::crypto::sha256;
use crate::env::TestEnv;
use crate::limits::{MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH, MAX_SERIALIZED_LARGE_BLOB_ARRAY};
use rand_chacha::rand_core::SeedableRng;

const CDH: [u8; 32] = [0x24; 32];
const LARGE_BLOBS: u8 = 0x0C;
const CONFIG: u8 = 0x0D;
const ENABLE_EP: u64 = 0x01;
const TOGGLE_ALWAYS_UV: u64 = 0x02;
const SET_MIN_PIN_LENGTH: u64 = 0x03;

fn identity(seed: u64) -> AttestationIdentity {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    AttestationIdentity::generate(&mut rng, crate::config::DEFAULT_AAGUID, "fidosim", "t").unwrap()
}

fn device_with(config: DeviceConfig) -> Authenticator<TestEnv> {
    Authenticator::new(config, identity(5), TestEnv::seeded(11)).unwrap()
}

/// The default device: built-in UV, so protected even without a PIN.
fn device() -> Authenticator<TestEnv> {
    device_with(DeviceConfig::default())
}

/// A device without built-in UV: protected only once a PIN is set.
fn pin_device() -> Authenticator<TestEnv> {
    device_with(DeviceConfig {
        builtin_uv: false,
        ..DeviceConfig::default()
    })
}

fn call(d: &mut Authenticator<TestEnv>, cmd: u8, body: &Value) -> Result<Value, StatusCode> {
    let out = d.process(cmd, &cbor::encode(body))?;
    if out.is_empty() {
        return Ok(Value::Null);
    }
    cbor::assert_canonical(&out);
    Ok(cbor::decode(&out).unwrap())
}

fn get(v: &Value, key: i64) -> Option<Value> {
    match v {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| *k == Value::from(key))
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

fn text_get(v: &Value, key: &str) -> Option<Value> {
    match v {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| *k == Value::from(key))
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

fn bytes_of(v: Option<Value>) -> Vec<u8> {
    match v {
        Some(Value::Bytes(b)) => b,
        other => panic!("not bytes: {other:?}"),
    }
}

fn info(d: &Authenticator<TestEnv>) -> Value {
    cbor::decode(&d.get_info().unwrap().encode()).unwrap()
}

fn info_option(d: &Authenticator<TestEnv>, name: &str) -> Option<Value> {
    text_get(&get(&info(d), 4).unwrap(), name)
}

struct Platform {
    key_agreement: Value,
    shared: SharedSecret,
}

fn platform(d: &mut Authenticator<TestEnv>, protocol: PinProtocol) -> Platform {
    let resp = call(
        d,
        0x06,
        &MapBuilder::new().int(1, protocol.id()).int(2, 2).build(),
    )
    .unwrap();
    let auth_key = get(&resp, 1).unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(77);
    let (key_agreement, shared) = encapsulate(protocol, &auth_key, &mut rng).unwrap();
    Platform {
        key_agreement,
        shared,
    }
}

fn padded(pin: &str) -> Vec<u8> {
    let mut p = pin.as_bytes().to_vec();
    p.resize(64, 0);
    p
}

fn pin_hash_enc(p: &Platform, pin: &str) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(78);
    p.shared
        .encrypt(&mut rng, &sha256(pin.as_bytes())[..16])
        .unwrap()
}

fn set_pin(
    d: &mut Authenticator<TestEnv>,
    protocol: PinProtocol,
    pin: &str,
) -> Result<Value, StatusCode> {
    let p = platform(d, protocol);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(79);
    let enc = p.shared.encrypt(&mut rng, &padded(pin)).unwrap();
    let auth = p.shared.authenticate(&enc);
    call(
        d,
        0x06,
        &MapBuilder::new()
            .int(1, protocol.id())
            .int(2, 3)
            .int(3, p.key_agreement.clone())
            .int(4, cbor::bytes(auth))
            .int(5, cbor::bytes(enc))
            .build(),
    )
}

fn change_pin(
    d: &mut Authenticator<TestEnv>,
    protocol: PinProtocol,
    old: &str,
    new: &str,
) -> Result<Value, StatusCode> {
    let p = platform(d, protocol);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(80);
    let new_enc = p.shared.encrypt(&mut rng, &padded(new)).unwrap();
    let old_enc = pin_hash_enc(&p, old);
    let mut msg = new_enc.clone();
    msg.extend_from_slice(&old_enc);
    let auth = p.shared.authenticate(&msg);
    call(
        d,
        0x06,
        &MapBuilder::new()
            .int(1, protocol.id())
            .int(2, 4)
            .int(3, p.key_agreement.clone())
            .int(4, cbor::bytes(auth))
            .int(5, cbor::bytes(new_enc))
            .int(6, cbor::bytes(old_enc))
            .build(),
    )
}

fn token_with(
    d: &mut Authenticator<TestEnv>,
    protocol: PinProtocol,
    pin: &str,
    permissions: u64,
) -> Result<Vec<u8>, StatusCode> {
    let p = platform(d, protocol);
    let m = MapBuilder::new()
        .int(1, protocol.id())
        .int(2, 9)
        .int(3, p.key_agreement.clone())
        .int(6, cbor::bytes(pin_hash_enc(&p, pin)))
        .int(9, permissions);
    let resp = call(d, 0x06, &m.build())?;
    let enc = bytes_of(get(&resp, 2));
    Ok(p.shared.decrypt(&enc).unwrap().to_vec())
}

/// A token from getPinToken (0x05, CTAP 2.0's subcommand: no permissions).
fn pin_token(
    d: &mut Authenticator<TestEnv>,
    protocol: PinProtocol,
    pin: &str,
) -> Result<Vec<u8>, StatusCode> {
    let p = platform(d, protocol);
    let m = MapBuilder::new()
        .int(1, protocol.id())
        .int(2, 5)
        .int(3, p.key_agreement.clone())
        .int(6, cbor::bytes(pin_hash_enc(&p, pin)));
    let resp = call(d, 0x06, &m.build())?;
    Ok(p.shared.decrypt(&bytes_of(get(&resp, 2))).unwrap().to_vec())
}

/// A token from the built-in UV method (getPinUvAuthTokenUsingUvWithPermissions).
fn uv_token(d: &mut Authenticator<TestEnv>, protocol: PinProtocol, permissions: u64) -> Vec<u8> {
    let p = platform(d, protocol);
    let resp = call(
        d,
        0x06,
        &MapBuilder::new()
            .int(1, protocol.id())
            .int(2, 6)
            .int(3, p.key_agreement.clone())
            .int(9, permissions)
            .build(),
    )
    .unwrap();
    p.shared.decrypt(&bytes_of(get(&resp, 2))).unwrap().to_vec()
}

/// A makeCredential request for a non-discoverable credential.
fn mc(
    rp: &str,
    auth: Option<(PinProtocol, &[u8])>,
    ext: Option<Value>,
    enterprise: Option<u64>,
) -> Value {
    let mut m = MapBuilder::new()
        .int(1, cbor::bytes(CDH.to_vec()))
        .int(2, MapBuilder::new().text("id", rp).build())
        .int(
            3,
            MapBuilder::new()
                .text("id", cbor::bytes(vec![7; 8]))
                .text("name", "bob")
                .build(),
        )
        .int(
            4,
            Value::Array(vec![MapBuilder::new()
                .text("alg", -7)
                .text("type", "public-key")
                .build()]),
        )
        .opt(6, ext)
        .opt(0x0A, enterprise);
    if let Some((protocol, token)) = auth {
        m = m
            .int(8, cbor::bytes(protocol.authenticate(token, &CDH)))
            .int(9, protocol.id());
    }
    m.build()
}

/// The extensions map of a makeCredential response's authData.
fn mc_extensions(resp: &Value) -> Option<Value> {
    let ad = bytes_of(get(resp, 2));
    if ad[32] & flags::ED == 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([ad[53], ad[54]]));
    let mut rest = &ad[55 + len..];
    let key: Value = ciborium::de::from_reader(&mut rest).unwrap();
    drop(key);
    Some(cbor::decode(rest).unwrap())
}

/// The leaf certificate of a packed attestation statement.
fn x5c_leaf(resp: &Value) -> Vec<u8> {
    match text_get(&get(resp, 3).unwrap(), "x5c") {
        Some(Value::Array(certs)) => bytes_of(certs.first().cloned()),
        other => panic!("no x5c: {other:?}"),
    }
}

// ---------------------------------------------------------------- large blobs

fn lb_get(d: &mut Authenticator<TestEnv>, offset: u64, n: u64) -> Result<Vec<u8>, StatusCode> {
    let resp = call(
        d,
        LARGE_BLOBS,
        &MapBuilder::new().int(1, n).int(3, offset).build(),
    )?;
    Ok(bytes_of(get(&resp, 1)))
}

/// The pinUvAuthParam of a largeBlobs write (§6.10.2 step 5.e.iv).
fn lb_auth(protocol: PinProtocol, token: &[u8], offset: u64, fragment: &[u8]) -> Vec<u8> {
    let mut msg = vec![0xff; 32];
    msg.extend_from_slice(&[0x0c, 0x00]);
    msg.extend_from_slice(&u32::try_from(offset).unwrap().to_le_bytes());
    msg.extend_from_slice(&sha256(fragment));
    protocol.authenticate(token, &msg)
}

fn lb_set(
    d: &mut Authenticator<TestEnv>,
    offset: u64,
    fragment: &[u8],
    length: Option<u64>,
    auth: Option<(PinProtocol, &[u8])>,
) -> Result<(), StatusCode> {
    let mut m = MapBuilder::new()
        .int(2, cbor::bytes(fragment.to_vec()))
        .int(3, offset)
        .opt(4, length);
    if let Some((protocol, token)) = auth {
        m = m
            .int(5, cbor::bytes(lb_auth(protocol, token, offset, fragment)))
            .int(6, protocol.id());
    }
    call(d, LARGE_BLOBS, &m.build()).map(|v| assert_eq!(v, Value::Null))
}

/// A serialized large-blob array holding `n` byte strings, with its checksum.
fn blob_array(n: usize, fill: u8) -> Vec<u8> {
    let items = (0..n)
        .map(|i| cbor::bytes(vec![fill.wrapping_add(i as u8); 90]))
        .collect();
    let mut out = cbor::encode(&Value::Array(items));
    let checksum = sha256(&out);
    out.extend_from_slice(&checksum[..16]);
    out
}

/// Writes `array` in fragments of `chunk` bytes.
fn write_array(
    d: &mut Authenticator<TestEnv>,
    array: &[u8],
    chunk: usize,
    auth: Option<(PinProtocol, &[u8])>,
) -> Result<(), StatusCode> {
    for (i, fragment) in array.chunks(chunk).enumerate() {
        let offset = (i * chunk) as u64;
        let length = (offset == 0).then_some(array.len() as u64);
        lb_set(d, offset, fragment, length, auth)?;
    }
    Ok(())
}

/// Reads the whole array in fragments of `chunk` bytes.
fn read_array(d: &mut Authenticator<TestEnv>, chunk: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let part = lb_get(d, out.len() as u64, chunk).unwrap();
        let done = (part.len() as u64) < chunk;
        out.extend_from_slice(&part);
        if done {
            return out;
        }
    }
}

#[test]
fn initial_array_is_served() {
    let mut d = device();
    assert_eq!(lb_get(&mut d, 0, 100).unwrap(), INITIAL_ARRAY);
    assert_eq!(
        INITIAL_ARRAY.to_vec(),
        [
            vec![0x80],
            vec![
                0x76, 0xbe, 0x8b, 0x52, 0x8d, 0x00, 0x75, 0xf7, 0xaa, 0xe9, 0x8d, 0x6f, 0xa5, 0x7a,
                0x6d, 0x3c
            ]
        ]
        .concat()
    );
    assert_eq!(lb_get(&mut d, 15, 5).unwrap(), INITIAL_ARRAY[15..]);
    assert_eq!(lb_get(&mut d, 3, 2).unwrap(), INITIAL_ARRAY[3..5]);
    // At the end: an empty fragment; beyond it: INVALID_PARAMETER (step 4.d).
    assert_eq!(lb_get(&mut d, 17, 5).unwrap(), Vec::<u8>::new());
    assert_eq!(lb_get(&mut d, 18, 5), Err(StatusCode::InvalidParameter));
    assert_eq!(
        lb_get(&mut d, u64::MAX, 5),
        Err(StatusCode::InvalidParameter)
    );
    // A read takes no length and no PIN/UV auth (step 4.a–b).
    for extra in [
        (4, Value::from(17)),
        (5, cbor::bytes(vec![0; 16])),
        (6, 2.into()),
    ] {
        let body = MapBuilder::new()
            .int(1, 5)
            .int(3, 0)
            .int(extra.0, extra.1)
            .build();
        assert_eq!(
            call(&mut d, LARGE_BLOBS, &body),
            Err(StatusCode::InvalidParameter)
        );
    }
    // Steps 1–3: offset required; exactly one of get and set.
    assert_eq!(
        call(&mut d, LARGE_BLOBS, &MapBuilder::new().int(1, 5).build()),
        Err(StatusCode::InvalidParameter)
    );
    assert_eq!(
        call(&mut d, LARGE_BLOBS, &MapBuilder::new().int(3, 0).build()),
        Err(StatusCode::InvalidParameter)
    );
    assert_eq!(
        call(
            &mut d,
            LARGE_BLOBS,
            &MapBuilder::new()
                .int(1, 5)
                .int(2, cbor::bytes(vec![1]))
                .int(3, 0)
                .build()
        ),
        Err(StatusCode::InvalidParameter)
    );
    // Wrong CBOR types.
    assert_eq!(
        call(
            &mut d,
            LARGE_BLOBS,
            &MapBuilder::new().int(1, "5").int(3, 0).build()
        ),
        Err(StatusCode::CborUnexpectedType)
    );
    assert_eq!(
        call(
            &mut d,
            LARGE_BLOBS,
            &MapBuilder::new().int(2, "x").int(3, 0).build()
        ),
        Err(StatusCode::CborUnexpectedType)
    );
    assert_eq!(
        d.process(LARGE_BLOBS, &[0x80]),
        Err(StatusCode::CborUnexpectedType)
    );
}

#[test]
fn write_in_fragments_with_pin_token_and_read_back() {
    for protocol in [PinProtocol::V1, PinProtocol::V2] {
        let mut d = pin_device();
        set_pin(&mut d, protocol, "1234").unwrap();
        let token = token_with(&mut d, protocol, "1234", permission::LBW).unwrap();
        let array = blob_array(11, 3);
        assert!(array.len() > 1000);
        let auth = Some((protocol, token.as_slice()));
        // The first fragments are not visible until the write completes.
        let chunks: Vec<_> = array.chunks(300).collect();
        for (i, fragment) in chunks.iter().enumerate().take(chunks.len() - 1) {
            let offset = (i * 300) as u64;
            let length = (i == 0).then_some(array.len() as u64);
            lb_set(&mut d, offset, fragment, length, auth).unwrap();
            assert_eq!(lb_get(&mut d, 0, 100).unwrap(), INITIAL_ARRAY);
        }
        let last = chunks.len() - 1;
        lb_set(&mut d, (last * 300) as u64, chunks[last], None, auth).unwrap();
        assert_eq!(read_array(&mut d, 256), array);
        assert_eq!(
            d.env().store.large_blob_array().unwrap().as_deref(),
            Some(array.as_slice())
        );
        // One fragment of maxFragmentLength reads the whole array.
        assert_eq!(
            lb_get(&mut d, 0, MAX_FRAGMENT_LENGTH as u64).unwrap(),
            array
        );
        // A second write replaces it; the token keeps lbw across commands.
        let smaller = blob_array(2, 9);
        write_array(&mut d, &smaller, 64, auth).unwrap();
        assert_eq!(read_array(&mut d, 50), smaller);
    }
}

#[test]
fn the_largest_array_fits_and_one_byte_more_does_not() {
    let mut d = pin_device();
    let mut array = vec![0x5a; MAX_SERIALIZED_LARGE_BLOB_ARRAY - 16];
    // A byte string header and filler; the checksum does not care.
    array[0] = 0x59;
    let checksum = sha256(&array);
    array.extend_from_slice(&checksum[..16]);
    write_array(&mut d, &array, 1000, None).unwrap();
    assert_eq!(read_array(&mut d, 1000), array);
    assert_eq!(
        lb_set(
            &mut d,
            0,
            &[0; 10],
            Some(MAX_SERIALIZED_LARGE_BLOB_ARRAY as u64 + 1),
            None
        ),
        Err(StatusCode::LargeBlobStorageFull)
    );
    assert_eq!(
        lb_set(&mut d, 0, &[0; 10], Some(u64::MAX), None),
        Err(StatusCode::LargeBlobStorageFull)
    );
}

#[test]
fn integrity_failure_leaves_the_old_array() {
    let mut d = pin_device();
    let good = blob_array(3, 1);
    write_array(&mut d, &good, 100, None).unwrap();
    let mut bad = blob_array(5, 2);
    let n = bad.len();
    bad[n - 1] ^= 1;
    let chunks: Vec<_> = bad.chunks(200).collect();
    let last = chunks.len() - 1;
    for (i, fragment) in chunks.iter().enumerate().take(last) {
        let length = (i == 0).then_some(n as u64);
        lb_set(&mut d, (i * 200) as u64, fragment, length, None).unwrap();
    }
    assert_eq!(
        lb_set(&mut d, (last * 200) as u64, chunks[last], None, None),
        Err(StatusCode::IntegrityFailure)
    );
    assert_eq!(read_array(&mut d, 100), good);
    // A checksum over the wrong bytes fails too, in a single fragment.
    let mut shifted = INITIAL_ARRAY.to_vec();
    shifted[0] = 0xa0;
    assert_eq!(
        lb_set(&mut d, 0, &shifted, Some(17), None),
        Err(StatusCode::IntegrityFailure)
    );
    assert_eq!(read_array(&mut d, 100), good);
    // Writing the initial array back restores it.
    write_array(&mut d, &INITIAL_ARRAY, 17, None).unwrap();
    assert_eq!(read_array(&mut d, 100), INITIAL_ARRAY);
}

#[test]
fn write_sequence_rules() {
    let mut d = pin_device();
    let array = blob_array(4, 7);
    let len = array.len() as u64;
    // A continuation with no write started (step 5.d).
    assert_eq!(
        lb_set(&mut d, 10, &array[10..20], None, None),
        Err(StatusCode::InvalidSeq)
    );
    // Step 5.b: the first fragment needs a length of 17..=max.
    assert_eq!(
        lb_set(&mut d, 0, &array[..10], None, None),
        Err(StatusCode::InvalidParameter)
    );
    assert_eq!(
        lb_set(&mut d, 0, &array[..10], Some(16), None),
        Err(StatusCode::InvalidParameter)
    );
    lb_set(&mut d, 0, &array[..100], Some(len), None).unwrap();
    // Step 5.c: only the first fragment has a length.
    assert_eq!(
        lb_set(&mut d, 100, &array[100..200], Some(len), None),
        Err(StatusCode::InvalidParameter)
    );
    // Skipping ahead or repeating a fragment is out of sequence.
    assert_eq!(
        lb_set(&mut d, 150, &array[150..200], None, None),
        Err(StatusCode::InvalidSeq)
    );
    assert_eq!(
        lb_set(&mut d, 50, &array[50..100], None, None),
        Err(StatusCode::InvalidSeq)
    );
    // Step 5.f: more than the announced length.
    let mut long = array[100..].to_vec();
    long.push(0);
    assert_eq!(
        lb_set(&mut d, 100, &long, None, None),
        Err(StatusCode::InvalidParameter)
    );
    // None of that disturbed the write in progress.
    lb_set(&mut d, 100, &array[100..], None, None).unwrap();
    assert_eq!(read_array(&mut d, 100), array);
    // A new first fragment abandons a write in progress.
    lb_set(&mut d, 0, &array[..100], Some(len), None).unwrap();
    write_array(&mut d, &INITIAL_ARRAY, 5, None).unwrap();
    assert_eq!(
        lb_set(&mut d, 100, &array[100..], None, None),
        Err(StatusCode::InvalidSeq)
    );
    assert_eq!(read_array(&mut d, 100), INITIAL_ARRAY);
    // A power cycle forgets a write in progress.
    lb_set(&mut d, 0, &array[..100], Some(len), None).unwrap();
    d.power_cycle();
    assert_eq!(
        lb_set(&mut d, 100, &array[100..], None, None),
        Err(StatusCode::InvalidSeq)
    );
}

#[test]
fn fragments_longer_than_max_fragment_length() {
    let mut d = pin_device();
    let max = MAX_FRAGMENT_LENGTH as u64;
    assert_eq!(MAX_FRAGMENT_LENGTH, crate::limits::MAX_MSG_SIZE - 64);
    assert_eq!(lb_get(&mut d, 0, max).unwrap(), INITIAL_ARRAY);
    assert_eq!(lb_get(&mut d, 0, max + 1), Err(StatusCode::InvalidLength));
    assert_eq!(lb_get(&mut d, 0, u64::MAX), Err(StatusCode::InvalidLength));
    // Step 5.a comes before the length checks.
    let fragment = vec![0; MAX_FRAGMENT_LENGTH + 1];
    assert_eq!(
        lb_set(&mut d, 0, &fragment, Some(17), None),
        Err(StatusCode::InvalidLength)
    );
    assert_eq!(
        lb_set(&mut d, 0, &fragment[..MAX_FRAGMENT_LENGTH], Some(17), None),
        Err(StatusCode::InvalidParameter)
    );
}

#[test]
fn writes_need_an_lbw_token_when_protected() {
    let array = blob_array(2, 4);
    let len = array.len() as u64;
    for protocol in [PinProtocol::V1, PinProtocol::V2] {
        let mut d = pin_device();
        set_pin(&mut d, protocol, "1234").unwrap();
        assert_eq!(
            lb_set(&mut d, 0, &array, Some(len), None),
            Err(StatusCode::PuatRequired)
        );
        // pinUvAuthParam without a protocol, or with an unknown one.
        let with = |extra: MapBuilder| {
            extra
                .int(2, cbor::bytes(array.clone()))
                .int(3, 0)
                .int(4, len)
                .int(5, cbor::bytes(vec![0; 16]))
                .build()
        };
        assert_eq!(
            call(&mut d, LARGE_BLOBS, &with(MapBuilder::new())),
            Err(StatusCode::MissingParameter)
        );
        assert_eq!(
            call(&mut d, LARGE_BLOBS, &with(MapBuilder::new().int(6, 3))),
            Err(StatusCode::InvalidParameter)
        );
        // A token without lbw, and a MAC over the wrong offset.
        let token = token_with(&mut d, protocol, "1234", permission::MC).unwrap();
        assert_eq!(
            lb_set(&mut d, 0, &array, Some(len), Some((protocol, &token))),
            Err(StatusCode::PinAuthInvalid)
        );
        let token =
            token_with(&mut d, protocol, "1234", permission::LBW | permission::ACFG).unwrap();
        let wrong = lb_auth(protocol, &token, 1, &array);
        let body = MapBuilder::new()
            .int(2, cbor::bytes(array.clone()))
            .int(3, 0)
            .int(4, len)
            .int(5, cbor::bytes(wrong))
            .int(6, protocol.id())
            .build();
        assert_eq!(
            call(&mut d, LARGE_BLOBS, &body),
            Err(StatusCode::PinAuthInvalid)
        );
        // The other protocol's MAC with this token fails as well.
        let other = match protocol {
            PinProtocol::V1 => PinProtocol::V2,
            PinProtocol::V2 => PinProtocol::V1,
        };
        assert_eq!(
            lb_set(&mut d, 0, &array, Some(len), Some((other, &token))),
            Err(StatusCode::PinAuthInvalid)
        );
        assert_eq!(lb_get(&mut d, 0, 100).unwrap(), INITIAL_ARRAY);
        lb_set(&mut d, 0, &array, Some(len), Some((protocol, &token))).unwrap();
        assert_eq!(read_array(&mut d, 100), array);
    }
    // Built-in UV protects a device without a PIN; a UV token works.
    let mut d = device();
    assert_eq!(
        lb_set(&mut d, 0, &array, Some(len), None),
        Err(StatusCode::PuatRequired)
    );
    let token = uv_token(&mut d, PinProtocol::V2, permission::LBW);
    lb_set(
        &mut d,
        0,
        &array,
        Some(len),
        Some((PinProtocol::V2, &token)),
    )
    .unwrap();
    assert_eq!(read_array(&mut d, 100), array);
    // An unprotected device takes writes without a token; a stray
    // pinUvAuthParam is not looked at.
    let mut d = pin_device();
    lb_set(
        &mut d,
        0,
        &array,
        Some(len),
        Some((PinProtocol::V2, &[0; 32])),
    )
    .unwrap();
    assert_eq!(read_array(&mut d, 100), array);
    // alwaysUv makes even an unprotected device ask for a token.
    cfg(&mut d, TOGGLE_ALWAYS_UV, None, None).unwrap();
    assert_eq!(
        lb_set(&mut d, 0, &INITIAL_ARRAY, Some(17), None),
        Err(StatusCode::PuatRequired)
    );
}

#[test]
fn reset_restores_the_initial_array() {
    let mut d = pin_device();
    let array = blob_array(3, 5);
    write_array(&mut d, &array, 128, None).unwrap();
    assert_eq!(read_array(&mut d, 128), array);
    // A write in progress does not survive the reset either.
    lb_set(&mut d, 0, &array[..100], Some(array.len() as u64), None).unwrap();
    d.process(0x07, &[]).unwrap();
    assert_eq!(lb_get(&mut d, 0, 100).unwrap(), INITIAL_ARRAY);
    assert_eq!(
        lb_set(&mut d, 100, &array[100..], None, None),
        Err(StatusCode::InvalidSeq)
    );
    assert_eq!(d.env().store.large_blob_array().unwrap(), None);
}

// ---------------------------------------------------------------- config

/// The pinUvAuthParam of authenticatorConfig (§6.11).
fn cfg_auth(protocol: PinProtocol, token: &[u8], sub: u64, params: Option<&Value>) -> Vec<u8> {
    let mut msg = vec![0xff; 32];
    msg.push(0x0d);
    msg.push(u8::try_from(sub).unwrap());
    if let Some(p) = params {
        msg.extend_from_slice(&cbor::encode(p));
    }
    protocol.authenticate(token, &msg)
}

fn cfg(
    d: &mut Authenticator<TestEnv>,
    sub: u64,
    params: Option<Value>,
    auth: Option<(PinProtocol, &[u8])>,
) -> Result<Value, StatusCode> {
    let mut m = MapBuilder::new().int(1, sub);
    if let Some((protocol, token)) = auth {
        m = m.int(3, protocol.id()).int(
            4,
            cbor::bytes(cfg_auth(protocol, token, sub, params.as_ref())),
        );
    }
    call(d, CONFIG, &m.opt(2, params).build())
}

fn min_pin_params(len: Option<u64>, rp_ids: Option<&[&str]>, force: Option<bool>) -> Value {
    MapBuilder::new()
        .opt(1, len)
        .opt(
            2,
            rp_ids.map(|ids| Value::Array(ids.iter().map(|&r| Value::from(r)).collect())),
        )
        .opt(3, force)
        .build()
}

#[test]
fn toggle_always_uv_with_acfg_token_both_protocols() {
    for protocol in [PinProtocol::V1, PinProtocol::V2] {
        let mut d = pin_device();
        set_pin(&mut d, protocol, "1234").unwrap();
        assert_eq!(info_option(&d, "alwaysUv"), Some(Value::Bool(false)));
        assert_eq!(
            cfg(&mut d, TOGGLE_ALWAYS_UV, None, None),
            Err(StatusCode::PuatRequired)
        );
        // A pinUvAuthParam needs a supported protocol.
        let body = MapBuilder::new()
            .int(1, TOGGLE_ALWAYS_UV)
            .int(4, cbor::bytes(vec![0; 16]))
            .build();
        assert_eq!(
            call(&mut d, CONFIG, &body),
            Err(StatusCode::MissingParameter)
        );
        let body = MapBuilder::new()
            .int(1, TOGGLE_ALWAYS_UV)
            .int(3, 9)
            .int(4, cbor::bytes(vec![0; 16]))
            .build();
        assert_eq!(
            call(&mut d, CONFIG, &body),
            Err(StatusCode::InvalidParameter)
        );
        // No acfg permission.
        let token = token_with(&mut d, protocol, "1234", permission::MC | permission::LBW).unwrap();
        assert_eq!(
            cfg(&mut d, TOGGLE_ALWAYS_UV, None, Some((protocol, &token))),
            Err(StatusCode::PinAuthInvalid)
        );
        let token = token_with(&mut d, protocol, "1234", permission::ACFG).unwrap();
        // A MAC for another subcommand does not fit this one.
        let wrong = cfg_auth(protocol, &token, ENABLE_EP, None);
        let body = MapBuilder::new()
            .int(1, TOGGLE_ALWAYS_UV)
            .int(3, protocol.id())
            .int(4, cbor::bytes(wrong))
            .build();
        assert_eq!(call(&mut d, CONFIG, &body), Err(StatusCode::PinAuthInvalid));
        assert_eq!(
            cfg(&mut d, TOGGLE_ALWAYS_UV, None, Some((protocol, &token))),
            Ok(Value::Null)
        );
        assert_eq!(info_option(&d, "alwaysUv"), Some(Value::Bool(true)));
        // alwaysUv now requires UV for every credential.
        assert_eq!(
            call(&mut d, 0x01, &mc("a.example", None, None, None)),
            Err(StatusCode::PuatRequired)
        );
        cfg(&mut d, TOGGLE_ALWAYS_UV, None, Some((protocol, &token))).unwrap();
        assert_eq!(info_option(&d, "alwaysUv"), Some(Value::Bool(false)));
        call(&mut d, 0x01, &mc("a.example", None, None, None)).unwrap();
    }
}

#[test]
fn config_request_errors_and_unprotected_devices() {
    let mut d = pin_device();
    // No PIN and no built-in UV: config takes no token (and ignores one).
    cfg(&mut d, TOGGLE_ALWAYS_UV, None, None).unwrap();
    assert_eq!(info_option(&d, "alwaysUv"), Some(Value::Bool(true)));
    // With alwaysUv on, the device asks for a token even without a PIN.
    assert_eq!(
        cfg(&mut d, TOGGLE_ALWAYS_UV, None, None),
        Err(StatusCode::PuatRequired)
    );
    // Setting a PIN is still possible, and its token turns alwaysUv off.
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    let token = token_with(&mut d, PinProtocol::V2, "1234", permission::ACFG).unwrap();
    cfg(
        &mut d,
        TOGGLE_ALWAYS_UV,
        None,
        Some((PinProtocol::V2, &token)),
    )
    .unwrap();
    assert_eq!(info_option(&d, "alwaysUv"), Some(Value::Bool(false)));
    // Subcommands this device does not implement, vendorPrototype included.
    for sub in [0x00, 0x04, 0xFF, 0x1_0000] {
        assert_eq!(
            cfg(&mut d, sub, None, None),
            Err(StatusCode::InvalidSubcommand)
        );
    }
    assert_eq!(
        call(
            &mut d,
            CONFIG,
            &MapBuilder::new().int(2, Value::Map(vec![])).build()
        ),
        Err(StatusCode::MissingParameter)
    );
    assert_eq!(
        call(&mut d, CONFIG, &MapBuilder::new().int(1, "x").build()),
        Err(StatusCode::CborUnexpectedType)
    );
    assert_eq!(
        call(
            &mut d,
            CONFIG,
            &MapBuilder::new()
                .int(1, SET_MIN_PIN_LENGTH)
                .int(2, 6)
                .build()
        ),
        Err(StatusCode::CborUnexpectedType)
    );
    assert_eq!(
        call(
            &mut d,
            CONFIG,
            &MapBuilder::new()
                .int(1, SET_MIN_PIN_LENGTH)
                .int(
                    2,
                    MapBuilder::new()
                        .int(2, Value::Array(vec![1.into()]))
                        .build()
                )
                .build()
        ),
        Err(StatusCode::CborUnexpectedType)
    );
    assert_eq!(
        call(
            &mut d,
            CONFIG,
            &MapBuilder::new()
                .int(1, SET_MIN_PIN_LENGTH)
                .int(2, MapBuilder::new().int(3, 1).build())
                .build()
        ),
        Err(StatusCode::CborUnexpectedType)
    );
    assert_eq!(d.process(CONFIG, &[0xa1]), Err(StatusCode::InvalidCbor));
    // A built-in UV device is protected without a PIN: a UV token works.
    let mut d = device();
    assert_eq!(
        cfg(&mut d, TOGGLE_ALWAYS_UV, None, None),
        Err(StatusCode::PuatRequired)
    );
    let token = uv_token(&mut d, PinProtocol::V1, permission::ACFG);
    cfg(
        &mut d,
        TOGGLE_ALWAYS_UV,
        None,
        Some((PinProtocol::V1, &token)),
    )
    .unwrap();
    assert_eq!(info_option(&d, "alwaysUv"), Some(Value::Bool(true)));
}

#[test]
fn set_min_pin_length_then_set_pin() {
    let mut d = pin_device();
    assert_eq!(get(&info(&d), 0x0D), Some(Value::from(4)));
    cfg(
        &mut d,
        SET_MIN_PIN_LENGTH,
        Some(min_pin_params(Some(8), None, None)),
        None,
    )
    .unwrap();
    assert_eq!(get(&info(&d), 0x0D), Some(Value::from(8)));
    // No PIN, so nothing to force.
    assert_eq!(get(&info(&d), 0x0C), Some(Value::Bool(false)));
    assert_eq!(
        set_pin(&mut d, PinProtocol::V2, "1234567"),
        Err(StatusCode::PinPolicyViolation)
    );
    set_pin(&mut d, PinProtocol::V2, "12345678").unwrap();
    assert_eq!(get(&info(&d), 0x0C), Some(Value::Bool(false)));
    // forceChangePin without a PIN is PIN_NOT_SET.
    let mut d = pin_device();
    assert_eq!(
        cfg(
            &mut d,
            SET_MIN_PIN_LENGTH,
            Some(min_pin_params(None, None, Some(true))),
            None
        ),
        Err(StatusCode::PinNotSet)
    );
    // Params left out keep the current minimum.
    cfg(&mut d, SET_MIN_PIN_LENGTH, None, None).unwrap();
    cfg(
        &mut d,
        SET_MIN_PIN_LENGTH,
        Some(min_pin_params(None, None, Some(false))),
        None,
    )
    .unwrap();
    assert_eq!(get(&info(&d), 0x0D), Some(Value::from(4)));
    // A minimum beyond the longest possible PIN is refused.
    for len in [64, 256, u64::MAX] {
        assert_eq!(
            cfg(
                &mut d,
                SET_MIN_PIN_LENGTH,
                Some(min_pin_params(Some(len), None, None)),
                None
            ),
            Err(StatusCode::InvalidParameter)
        );
    }
    cfg(
        &mut d,
        SET_MIN_PIN_LENGTH,
        Some(min_pin_params(Some(63), None, None)),
        None,
    )
    .unwrap();
    assert_eq!(get(&info(&d), 0x0D), Some(Value::from(63)));
}

#[test]
fn set_min_pin_length_forces_a_pin_change() {
    for protocol in [PinProtocol::V1, PinProtocol::V2] {
        let mut d = pin_device();
        set_pin(&mut d, protocol, "1234").unwrap();
        let token = token_with(&mut d, protocol, "1234", permission::ACFG).unwrap();
        let auth = Some((protocol, token.as_slice()));
        let ids: Vec<String> = (0..=MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH)
            .map(|i| format!("rp{i}.example"))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(
            cfg(
                &mut d,
                SET_MIN_PIN_LENGTH,
                Some(min_pin_params(Some(6), Some(&refs), None)),
                auth
            ),
            Err(StatusCode::InvalidLength)
        );
        cfg(
            &mut d,
            SET_MIN_PIN_LENGTH,
            Some(min_pin_params(
                Some(6),
                Some(&refs[..MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH]),
                None,
            )),
            auth,
        )
        .unwrap();
        let i = info(&d);
        assert_eq!(get(&i, 0x0D), Some(Value::from(6)));
        assert_eq!(get(&i, 0x0C), Some(Value::Bool(true)));
        // The MAC covers the params: the same MAC with other params fails.
        let params = min_pin_params(Some(7), None, None);
        let body = MapBuilder::new()
            .int(1, SET_MIN_PIN_LENGTH)
            .int(2, params)
            .int(3, protocol.id())
            .int(
                4,
                cbor::bytes(cfg_auth(
                    protocol,
                    &token,
                    SET_MIN_PIN_LENGTH,
                    Some(&min_pin_params(Some(8), None, None)),
                )),
            )
            .build();
        assert_eq!(call(&mut d, CONFIG, &body), Err(StatusCode::PinAuthInvalid));
        // The minimum cannot go down.
        assert_eq!(
            cfg(
                &mut d,
                SET_MIN_PIN_LENGTH,
                Some(min_pin_params(Some(5), None, None)),
                auth
            ),
            Err(StatusCode::PinPolicyViolation)
        );
        assert_eq!(get(&info(&d), 0x0D), Some(Value::from(6)));
        // The PIN is too short now: no token until it is changed, and not
        // to another PIN below the minimum.
        assert_eq!(
            token_with(&mut d, protocol, "1234", permission::MC),
            Err(StatusCode::PinPolicyViolation)
        );
        assert_eq!(
            change_pin(&mut d, protocol, "1234", "12345"),
            Err(StatusCode::PinPolicyViolation)
        );
        assert_eq!(get(&info(&d), 0x0C), Some(Value::Bool(true)));
        change_pin(&mut d, protocol, "1234", "123456").unwrap();
        assert_eq!(get(&info(&d), 0x0C), Some(Value::Bool(false)));
        let token = token_with(&mut d, protocol, "123456", permission::ACFG).unwrap();
        let auth = Some((protocol, token.as_slice()));
        // forceChangePin with a PIN long enough forces a change too, and
        // the new PIN must differ from the old one.
        cfg(
            &mut d,
            SET_MIN_PIN_LENGTH,
            Some(min_pin_params(None, None, Some(true))),
            auth,
        )
        .unwrap();
        assert_eq!(get(&info(&d), 0x0C), Some(Value::Bool(true)));
        assert_eq!(
            token_with(&mut d, protocol, "123456", permission::ACFG),
            Err(StatusCode::PinPolicyViolation)
        );
        // getPinToken with the right PIN: CTAP2_ERR_PIN_INVALID
        // (§6.5.5.7.1), and the retries are not spent (the PIN was right).
        assert_eq!(
            pin_token(&mut d, protocol, "123456"),
            Err(StatusCode::PinInvalid)
        );
        // A wrong PIN is still a wrong PIN first.
        assert_eq!(
            pin_token(&mut d, protocol, "999999"),
            Err(StatusCode::PinInvalid)
        );
        let retries = call(&mut d, 0x06, &MapBuilder::new().int(2, 1).build()).unwrap();
        assert_eq!(get(&retries, 3), Some(Value::from(7)));
        // The other subcommands do not look at forcePINChange: the retries
        // and the key agreement are answered; setPIN stays refused because
        // a PIN is set (§6.5.5.5 step 3: CTAP2_ERR_PIN_AUTH_INVALID).
        assert!(platform(&mut d, protocol).key_agreement != Value::Null);
        assert_eq!(
            set_pin(&mut d, protocol, "777777"),
            Err(StatusCode::PinAuthInvalid)
        );
        assert_eq!(
            change_pin(&mut d, protocol, "123456", "123456"),
            Err(StatusCode::PinPolicyViolation)
        );
        change_pin(&mut d, protocol, "123456", "654321").unwrap();
        token_with(&mut d, protocol, "654321", permission::ACFG).unwrap();
        pin_token(&mut d, protocol, "654321").unwrap();
        // A reset returns the minimum to the default.
        d.process(0x07, &[]).unwrap();
        assert_eq!(get(&info(&d), 0x0D), Some(Value::from(4)));
    }
}

#[test]
fn min_pin_length_extension_for_listed_rp_ids() {
    let mut d = pin_device();
    let ext = || Some(MapBuilder::new().text("minPinLength", true).build());
    // Before any RP ID is listed, nobody learns the minimum.
    let resp = call(&mut d, 0x01, &mc("a.example", None, ext(), None)).unwrap();
    assert_eq!(mc_extensions(&resp), None);
    cfg(
        &mut d,
        SET_MIN_PIN_LENGTH,
        Some(min_pin_params(Some(7), Some(&["a.example"]), None)),
        None,
    )
    .unwrap();
    let resp = call(&mut d, 0x01, &mc("a.example", None, ext(), None)).unwrap();
    let out = mc_extensions(&resp).unwrap();
    assert_eq!(text_get(&out, "minPinLength"), Some(Value::from(7)));
    let resp = call(&mut d, 0x01, &mc("b.example", None, ext(), None)).unwrap();
    assert_eq!(mc_extensions(&resp), None);
    // A later list replaces the earlier one.
    cfg(
        &mut d,
        SET_MIN_PIN_LENGTH,
        Some(min_pin_params(None, Some(&["b.example"]), None)),
        None,
    )
    .unwrap();
    let resp = call(&mut d, 0x01, &mc("b.example", None, ext(), None)).unwrap();
    let out = mc_extensions(&resp).unwrap();
    assert_eq!(text_get(&out, "minPinLength"), Some(Value::from(7)));
    let resp = call(&mut d, 0x01, &mc("a.example", None, ext(), None)).unwrap();
    assert_eq!(mc_extensions(&resp), None);
}

#[test]
fn enterprise_attestation_end_to_end() {
    let mut d = device_with(DeviceConfig {
        builtin_uv: false,
        enterprise_rp_ids: vec!["corp.example".into()],
        ..DeviceConfig::default()
    });
    d.set_enterprise_identity(identity(6));
    let normal_cert = d.identity().batch_cert_der().to_vec();
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    let mc_token = |d: &mut Authenticator<TestEnv>| {
        token_with(d, PinProtocol::V2, "1234", permission::MC).unwrap()
    };
    // Supported but not enabled: "ep" is false and requests are refused.
    assert_eq!(info_option(&d, "ep"), Some(Value::Bool(false)));
    let token = mc_token(&mut d);
    assert_eq!(
        call(
            &mut d,
            0x01,
            &mc("a.example", Some((PinProtocol::V2, &token)), None, Some(2))
        ),
        Err(StatusCode::InvalidParameter)
    );
    // Enable it.
    let token = token_with(&mut d, PinProtocol::V2, "1234", permission::ACFG).unwrap();
    cfg(&mut d, ENABLE_EP, None, Some((PinProtocol::V2, &token))).unwrap();
    assert_eq!(info_option(&d, "ep"), Some(Value::Bool(true)));
    // Enabling again is harmless.
    cfg(&mut d, ENABLE_EP, None, Some((PinProtocol::V2, &token))).unwrap();
    // Platform-managed (2): any RP gets the enterprise certificate.
    let token = mc_token(&mut d);
    let resp = call(
        &mut d,
        0x01,
        &mc("a.example", Some((PinProtocol::V2, &token)), None, Some(2)),
    )
    .unwrap();
    assert_eq!(get(&resp, 4), Some(Value::Bool(true)));
    let leaf = x5c_leaf(&resp);
    assert_ne!(leaf, normal_cert);
    assert_eq!(leaf, identity(6).batch_cert_der());
    // Vendor-facilitated (1): an RP not on the list gets a normal one.
    let token = mc_token(&mut d);
    let resp = call(
        &mut d,
        0x01,
        &mc("a.example", Some((PinProtocol::V2, &token)), None, Some(1)),
    )
    .unwrap();
    assert_eq!(get(&resp, 4), None);
    assert_eq!(x5c_leaf(&resp), normal_cert);
    // … and a listed RP an enterprise one.
    let token = mc_token(&mut d);
    let resp = call(
        &mut d,
        0x01,
        &mc(
            "corp.example",
            Some((PinProtocol::V2, &token)),
            None,
            Some(1),
        ),
    )
    .unwrap();
    assert_eq!(get(&resp, 4), Some(Value::Bool(true)));
    assert_eq!(x5c_leaf(&resp), identity(6).batch_cert_der());
    // A reset disables it again.
    d.process(0x07, &[]).unwrap();
    assert_eq!(info_option(&d, "ep"), Some(Value::Bool(false)));
}

#[test]
fn enterprise_attestation_needs_support() {
    // No enterprise identity: "ep" is absent and cannot be enabled.
    let mut d = pin_device();
    assert_eq!(info_option(&d, "ep"), None);
    assert_eq!(
        cfg(&mut d, ENABLE_EP, None, None),
        Err(StatusCode::InvalidParameter)
    );
    // Switched off in the settings, an identity is not enough.
    let mut d = device_with(DeviceConfig {
        builtin_uv: false,
        enterprise_attestation: false,
        ..DeviceConfig::default()
    });
    d.set_enterprise_identity(identity(6));
    assert_eq!(info_option(&d, "ep"), None);
    assert_eq!(
        cfg(&mut d, ENABLE_EP, None, None),
        Err(StatusCode::InvalidParameter)
    );
    assert!(!d.device_state().unwrap().enterprise_attestation);
}

#[test]
fn no_panic_on_mutated_large_blob_and_config_requests() {
    use rand_core::Rng;
    let mut d = pin_device();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let seeds = [
        (
            LARGE_BLOBS,
            cbor::encode(&MapBuilder::new().int(1, 10).int(3, 0).build()),
        ),
        (
            LARGE_BLOBS,
            cbor::encode(
                &MapBuilder::new()
                    .int(2, cbor::bytes(INITIAL_ARRAY.to_vec()))
                    .int(3, 0)
                    .int(4, 17)
                    .build(),
            ),
        ),
        (
            CONFIG,
            cbor::encode(
                &MapBuilder::new()
                    .int(1, SET_MIN_PIN_LENGTH)
                    .int(
                        2,
                        min_pin_params(Some(6), Some(&["a.example"]), Some(false)),
                    )
                    .build(),
            ),
        ),
    ];
    for _ in 0..3000 {
        let (cmd, seed) = &seeds[(rng.next_u32() % 3) as usize];
        let mut m = seed.clone();
        for _ in 0..1 + rng.next_u32() % 3 {
            let i = (rng.next_u32() as usize) % m.len();
            m[i] = rng.next_u32() as u8;
        }
        let _ = d.handle(&[&[*cmd], m.as_slice()].concat());
    }
    // Whatever happened, the device still answers getInfo.
    assert!(d.get_info().is_ok());
}

// ---------------------------------------------------------------------------
// authenticatorBioEnrollment (§6.7)
// ---------------------------------------------------------------------------

const BIO: u8 = 0x09;

/// A device whose built-in UV is a fingerprint sensor.
fn bio_device() -> Authenticator<TestEnv> {
    device_with(DeviceConfig {
        bio_enroll: true,
        ..DeviceConfig::default()
    })
}

/// One bio enrollment request; `auth` signs modality ‖ subCommand ‖
/// subCommandParams.
fn bio(
    d: &mut Authenticator<TestEnv>,
    sub: u64,
    params: Option<Value>,
    auth: Option<(PinProtocol, &[u8])>,
) -> Result<Value, StatusCode> {
    let mut m = MapBuilder::new().int(1, 1u64).int(2, sub);
    let mut message = vec![1u8, u8::try_from(sub).unwrap()];
    if let Some(p) = &params {
        m = m.int(3, p.clone());
        message.extend_from_slice(&cbor::encode(p));
    }
    if let Some((protocol, token)) = auth {
        m = m
            .int(4, protocol.id())
            .int(5, cbor::bytes(protocol.authenticate(token, &message)));
    }
    call(d, BIO, &m.build())
}

fn template(id: u8) -> Value {
    MapBuilder::new().int(1, cbor::bytes(vec![id])).build()
}

#[test]
fn bio_enrollment_enrolls_lists_renames_and_removes_fingers() {
    let mut d = bio_device();
    let protocol = PinProtocol::V2;
    // No finger yet: the sensor exists but UV is not configured.
    assert_eq!(info_option(&d, "uv"), Some(Value::Bool(false)));
    assert_eq!(info_option(&d, "bioEnroll"), Some(Value::Bool(false)));
    assert_eq!(get(&info(&d), 0x12), Some(Value::from(2)));
    let uv_token_request = MapBuilder::new()
        .int(1, protocol.id())
        .int(2, 6)
        .int(3, platform(&mut d, protocol).key_agreement)
        .int(9, permission::MC)
        .build();
    assert_eq!(
        call(&mut d, 0x06, &uv_token_request),
        Err(StatusCode::NotAllowed)
    );
    // makeCredential with the uv option: no configured method (§6.1.2
    // step 5).
    let Value::Map(mut with_uv) = mc("bio.example", None, None, None) else {
        panic!("a map")
    };
    with_uv.push((Value::from(7), MapBuilder::new().text("uv", true).build()));
    assert_eq!(
        call(&mut d, 0x01, &Value::Map(with_uv)),
        Err(StatusCode::InvalidOption)
    );
    // Enrollment starts from a PIN token with the be permission.
    set_pin(&mut d, protocol, "1234").unwrap();
    let token = token_with(&mut d, protocol, "1234", permission::BE).unwrap();
    let auth = Some((protocol, token.as_slice()));
    // getModality, and the sensor info without authentication.
    let m = call(&mut d, BIO, &MapBuilder::new().int(6, true).build()).unwrap();
    assert_eq!(get(&m, 1), Some(Value::from(1)));
    let s = bio(&mut d, 7, None, None).unwrap();
    assert_eq!(get(&s, 2), Some(Value::from(1)));
    assert_eq!(get(&s, 3), Some(Value::from(4)));
    assert_eq!(get(&s, 8), Some(Value::from(64)));
    // Nothing enrolled: enumerate is INVALID_OPTION.
    assert_eq!(bio(&mut d, 4, None, auth), Err(StatusCode::InvalidOption));
    // Authentication: required, over the right bytes, with be.
    assert_eq!(bio(&mut d, 1, None, None), Err(StatusCode::PuatRequired));
    let mc_token = token_with(&mut d, protocol, "1234", permission::MC).unwrap();
    assert_eq!(
        bio(&mut d, 1, None, Some((protocol, mc_token.as_slice()))),
        Err(StatusCode::PinAuthInvalid)
    );
    let token = token_with(&mut d, protocol, "1234", permission::BE).unwrap();
    let auth = Some((protocol, token.as_slice()));
    // enrollBegin: template 1, a good first sample, three to go.
    let r = bio(&mut d, 1, None, auth).unwrap();
    assert_eq!(bytes_of(get(&r, 4)), vec![1]);
    assert_eq!(get(&r, 5), Some(Value::from(0)));
    assert_eq!(get(&r, 6), Some(Value::from(3)));
    // A refused touch is a poor sample that does not count.
    d.env_mut().presence = crate::env::PresencePolicy::Deny;
    let r = bio(&mut d, 2, Some(template(1)), auth).unwrap();
    assert_eq!(get(&r, 5), Some(Value::from(7)));
    assert_eq!(get(&r, 6), Some(Value::from(3)));
    d.env_mut().presence = crate::env::PresencePolicy::Approve;
    // Another template ID is not the enrollment in progress.
    assert_eq!(
        bio(&mut d, 2, Some(template(9)), auth),
        Err(StatusCode::InvalidOption)
    );
    for left in [2, 1, 0] {
        let r = bio(&mut d, 2, Some(template(1)), auth).unwrap();
        assert_eq!(get(&r, 6), Some(Value::from(left)));
    }
    // Enrolled: UV is configured, and built-in UV gives tokens.
    assert_eq!(info_option(&d, "uv"), Some(Value::Bool(true)));
    assert_eq!(info_option(&d, "bioEnroll"), Some(Value::Bool(true)));
    uv_token(&mut d, protocol, permission::MC);
    // The be permission through built-in UV is not offered (no uvBioEnroll).
    let be_by_uv = MapBuilder::new()
        .int(1, protocol.id())
        .int(2, 6)
        .int(3, platform(&mut d, protocol).key_agreement)
        .int(9, permission::BE)
        .build();
    assert_eq!(
        call(&mut d, 0x06, &be_by_uv),
        Err(StatusCode::UnauthorizedPermission)
    );
    // Each new token replaces the one before (§6.5.5.7): a new be token.
    let token = token_with(&mut d, protocol, "1234", permission::BE).unwrap();
    let auth = Some((protocol, token.as_slice()));
    // The capture after the last sample has no enrollment to continue.
    assert_eq!(
        bio(&mut d, 2, Some(template(1)), auth),
        Err(StatusCode::InvalidOption)
    );
    // Listed with an empty name; renamed; a name over 64 bytes refused.
    let list = bio(&mut d, 4, None, auth).unwrap();
    assert_eq!(
        get(&list, 7),
        Some(Value::Array(vec![MapBuilder::new()
            .int(1, cbor::bytes(vec![1]))
            .int(2, "")
            .build()]))
    );
    let named = |id: u8, name: &str| {
        MapBuilder::new()
            .int(1, cbor::bytes(vec![id]))
            .int(2, name)
            .build()
    };
    bio(&mut d, 5, Some(named(1, "left thumb")), auth).unwrap();
    assert_eq!(
        bio(&mut d, 5, Some(named(1, &"x".repeat(65))), auth),
        Err(StatusCode::InvalidLength)
    );
    assert_eq!(
        bio(&mut d, 5, Some(named(4, "nobody")), auth),
        Err(StatusCode::InvalidOption)
    );
    // The templates survive a power cycle (they are device state).
    d.power_cycle();
    let token = token_with(&mut d, protocol, "1234", permission::BE).unwrap();
    let auth = Some((protocol, token.as_slice()));
    let list = bio(&mut d, 4, None, auth).unwrap();
    assert_eq!(
        get(&list, 7),
        Some(Value::Array(vec![named(1, "left thumb")]))
    );
    // Removed: UV is no longer configured.
    assert_eq!(
        bio(&mut d, 6, Some(template(2)), auth),
        Err(StatusCode::InvalidOption)
    );
    bio(&mut d, 6, Some(template(1)), auth).unwrap();
    assert_eq!(info_option(&d, "uv"), Some(Value::Bool(false)));
    assert_eq!(info_option(&d, "bioEnroll"), Some(Value::Bool(false)));
}

#[test]
fn bio_enrollment_limits_time_outs_and_reset() {
    let mut d = bio_device();
    let protocol = PinProtocol::V1;
    set_pin(&mut d, protocol, "1234").unwrap();
    let token = token_with(&mut d, protocol, "1234", permission::BE).unwrap();
    let auth = Some((protocol, token.as_slice()));
    // A time-out ends the enrollment.
    d.env_mut().presence = crate::env::PresencePolicy::Timeout;
    assert_eq!(
        bio(&mut d, 1, None, auth),
        Err(StatusCode::UserActionTimeout)
    );
    d.env_mut().presence = crate::env::PresencePolicy::Approve;
    assert_eq!(
        bio(&mut d, 2, Some(template(1)), auth),
        Err(StatusCode::InvalidOption)
    );
    // Five fingers fill the sensor.
    for n in 1..=5u8 {
        let r = bio(&mut d, 1, None, auth).unwrap();
        assert_eq!(bytes_of(get(&r, 4)), vec![n]);
        for _ in 0..3 {
            bio(&mut d, 2, Some(template(n)), auth).unwrap();
        }
    }
    assert_eq!(bio(&mut d, 1, None, auth), Err(StatusCode::FpDatabaseFull));
    // cancelCurrentEnrollment needs no token and always succeeds.
    assert_eq!(bio(&mut d, 3, None, None), Ok(Value::Null));
    // An unknown subcommand and modality.
    assert_eq!(
        bio(&mut d, 8, None, auth),
        Err(StatusCode::InvalidSubcommand)
    );
    assert_eq!(
        call(
            &mut d,
            BIO,
            &MapBuilder::new().int(1, 2u64).int(2, 7u64).build()
        ),
        Err(StatusCode::InvalidParameter)
    );
    // A reset removes every finger.
    d.process(0x07, &[]).unwrap();
    assert_eq!(info_option(&d, "bioEnroll"), Some(Value::Bool(false)));
}

#[test]
fn the_pin_retries_quirk_answers_pin_not_set_until_a_pin_is_set() {
    let retries = MapBuilder::new().int(1, 2u64).int(2, 1u64).build();
    // By the spec (§6.5.5.2): the retries, PIN or not.
    let mut d = pin_device();
    assert_eq!(
        get(&call(&mut d, 0x06, &retries).unwrap(), 3),
        Some(Value::from(8))
    );
    let mut d = device_with(DeviceConfig {
        builtin_uv: false,
        quirks: vec![crate::config::Quirk::PinRetriesNeedAPin],
        ..DeviceConfig::default()
    });
    assert_eq!(call(&mut d, 0x06, &retries), Err(StatusCode::PinNotSet));
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    assert_eq!(
        get(&call(&mut d, 0x06, &retries).unwrap(), 3),
        Some(Value::from(8))
    );
}

#[test]
fn without_a_sensor_there_is_no_bio_enrollment() {
    let mut d = device();
    assert_eq!(info_option(&d, "bioEnroll"), None);
    assert_eq!(info_option(&d, "uv"), Some(Value::Bool(true)));
    assert_eq!(
        call(&mut d, BIO, &MapBuilder::new().int(6, true).build()),
        Err(StatusCode::InvalidCommand)
    );
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    assert_eq!(
        token_with(&mut d, PinProtocol::V2, "1234", permission::BE),
        Err(StatusCode::UnauthorizedPermission)
    );
}
