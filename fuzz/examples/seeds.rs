//! Writes a starting corpus of well-formed CTAP2 messages for the
//! `request_decode` target into `corpus/request_decode/` (relative to the
//! current directory, which should be `fuzz/`): makeCredential and
//! getAssertion (also with pinUvAuthParam and extension inputs), the
//! clientPIN, credential management, largeBlobs and authenticatorConfig
//! subcommands, the commands without parameters, and CTAP1/U2F request
//! APDUs (the target sends every input both ways).
//!
//! The clientPIN seeds carry a real P-256 platform key and ciphertexts of
//! the right lengths, so mutations start beyond key agreement (the device
//! does not share their secret, so a PIN in them never matches).
//!
//! ```text
//! cd fuzz && cargo run --example seeds
//! ```

use std::fs;
use std::path::Path;

use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::crypto::pin_protocol::{encapsulate, KeyAgreementKey, PinProtocol};
use authenticator_core::crypto::sha256;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn message(cmd: u8, params: Option<Value>) -> Vec<u8> {
    let mut m = vec![cmd];
    if let Some(p) = params {
        m.extend_from_slice(&cbor::encode(&p));
    }
    m
}

fn alg(a: i64) -> Value {
    MapBuilder::new()
        .text("alg", a)
        .text("type", "public-key")
        .build()
}

fn descriptor(id: &[u8]) -> Value {
    MapBuilder::new()
        .text("id", cbor::bytes(id.to_vec()))
        .text("type", "public-key")
        .build()
}

/// pinUvAuthParam (and pinUvAuthProtocol) for a request: a MAC of the
/// right length for the protocol, or a zero-length one.
#[derive(Clone, Copy)]
enum Auth {
    None,
    V1,
    V2,
    Empty,
}

fn with_auth(m: MapBuilder, auth: Auth, param_key: i64) -> MapBuilder {
    let (param, protocol) = match auth {
        Auth::None => return m,
        Auth::V1 => (vec![0x5A; 16], 1),
        Auth::V2 => (vec![0x5A; 32], 2),
        Auth::Empty => (Vec::new(), 2),
    };
    m.int(param_key, cbor::bytes(param))
        .int(param_key + 1, protocol)
}

fn make_credential(rk: bool, uv: bool, algs: &[i64], exclude: &[&[u8]]) -> Vec<u8> {
    make_credential_with(rk, uv, algs, exclude, Auth::None, None)
}

fn make_credential_with(
    rk: bool,
    uv: bool,
    algs: &[i64],
    exclude: &[&[u8]],
    auth: Auth,
    extensions: Option<Value>,
) -> Vec<u8> {
    let mut options = MapBuilder::new().text("rk", rk);
    if uv {
        options = options.text("uv", true);
    }
    let mut m = MapBuilder::new()
        .int(0x01, cbor::bytes([7u8; 32]))
        .int(
            0x02,
            MapBuilder::new()
                .text("id", "example.com")
                .text("name", "Example")
                .build(),
        )
        .int(
            0x03,
            MapBuilder::new()
                .text("id", cbor::bytes(b"carol".to_vec()))
                .text("name", "carol")
                .text("displayName", "Carol")
                .build(),
        )
        .int(0x04, Value::Array(algs.iter().map(|a| alg(*a)).collect()))
        .int(0x07, options.build());
    if !exclude.is_empty() {
        m = m.int(
            0x05,
            Value::Array(exclude.iter().map(|id| descriptor(id)).collect()),
        );
    }
    if let Some(e) = extensions {
        m = m.int(0x06, e);
    }
    m = with_auth(m, auth, 0x08);
    message(0x01, Some(m.build()))
}

fn get_assertion(rp: &str, allow: &[&[u8]], up: Option<bool>, uv: bool) -> Vec<u8> {
    get_assertion_with(rp, allow, up, uv, Auth::None, None)
}

fn get_assertion_with(
    rp: &str,
    allow: &[&[u8]],
    up: Option<bool>,
    uv: bool,
    auth: Auth,
    extensions: Option<Value>,
) -> Vec<u8> {
    let mut m = MapBuilder::new()
        .int(0x01, rp)
        .int(0x02, cbor::bytes([9u8; 32]));
    if !allow.is_empty() {
        m = m.int(
            0x03,
            Value::Array(allow.iter().map(|id| descriptor(id)).collect()),
        );
    }
    let mut options = MapBuilder::new();
    if let Some(up) = up {
        options = options.text("up", up);
    }
    if uv {
        options = options.text("uv", true);
    }
    if let Some(e) = extensions {
        m = m.int(0x04, e);
    }
    m = m.int(0x05, options.build());
    m = with_auth(m, auth, 0x06);
    message(0x02, Some(m.build()))
}

/// A platform key agreed with some authenticator key (not the device's),
/// and its shared secret.
fn platform(
    protocol: PinProtocol,
    rng: &mut ChaCha20Rng,
) -> (
    Value,
    authenticator_core::crypto::pin_protocol::SharedSecret,
) {
    let other = KeyAgreementKey::generate(rng).public_cose();
    encapsulate(protocol, &other, rng).expect("a P-256 point")
}

/// A clientPIN request: protocol, subcommand and the given members.
fn client_pin(protocol: Option<u64>, sub: u64, members: Vec<(i64, Value)>) -> Vec<u8> {
    let mut m = MapBuilder::new().opt(0x01, protocol).int(0x02, sub);
    for (k, v) in members {
        m = m.int(k, v);
    }
    message(0x06, Some(m.build()))
}

/// The clientPIN seeds (CTAP 2.1 §6.5.5), under `protocol`.
fn client_pin_seeds(protocol: PinProtocol, rng: &mut ChaCha20Rng) -> Vec<(String, Vec<u8>)> {
    let v = protocol.id();
    let (key, shared) = platform(protocol, rng);
    let mut padded = b"1234".to_vec();
    padded.resize(64, 0);
    let new_pin_enc = shared.encrypt(rng, &padded).expect("blocks");
    let pin_hash_enc = shared.encrypt(rng, &sha256(b"1234")[..16]).expect("blocks");
    let set_auth = shared.authenticate(&new_pin_enc);
    let change_auth = shared.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat());
    let b = |x: &[u8]| cbor::bytes(x.to_vec());
    let seeds = vec![
        ("key-agreement", client_pin(Some(v), 0x02, vec![])),
        (
            "set-pin",
            client_pin(
                Some(v),
                0x03,
                vec![
                    (0x03, key.clone()),
                    (0x04, b(&set_auth)),
                    (0x05, b(&new_pin_enc)),
                ],
            ),
        ),
        (
            "change-pin",
            client_pin(
                Some(v),
                0x04,
                vec![
                    (0x03, key.clone()),
                    (0x04, b(&change_auth)),
                    (0x05, b(&new_pin_enc)),
                    (0x06, b(&pin_hash_enc)),
                ],
            ),
        ),
        (
            "get-pin-token",
            client_pin(
                Some(v),
                0x05,
                vec![(0x03, key.clone()), (0x06, b(&pin_hash_enc))],
            ),
        ),
        (
            "token-pin",
            client_pin(
                Some(v),
                0x09,
                vec![
                    (0x03, key.clone()),
                    (0x06, b(&pin_hash_enc)),
                    (0x09, Value::from(0x03)),
                    (0x0A, Value::from("example.com")),
                ],
            ),
        ),
        (
            "token-uv",
            client_pin(
                Some(v),
                0x06,
                vec![(0x03, key.clone()), (0x09, Value::from(0x01))],
            ),
        ),
    ];
    seeds
        .into_iter()
        .map(|(name, bytes)| (format!("cp-v{v}-{name}"), bytes))
        .collect()
}

/// hmac-secret input (CTAP 2.1 §12.5) with one salt.
fn hmac_secret_input(rng: &mut ChaCha20Rng) -> Value {
    let (key, shared) = platform(PinProtocol::V2, rng);
    let salt_enc = shared.encrypt(rng, &[3u8; 32]).expect("blocks");
    MapBuilder::new()
        .int(0x01, key)
        .int(0x02, cbor::bytes(salt_enc.clone()))
        .int(0x03, cbor::bytes(shared.authenticate(&salt_enc)))
        .int(0x04, 2)
        .build()
}

/// A credential management request (CTAP 2.1 §6.8) with a pinUvAuthParam
/// of protocol two's length (it does not verify).
fn cred_mgmt(cmd: u8, sub: u64, params: Option<Value>, auth: Auth) -> Vec<u8> {
    let m = with_auth(
        MapBuilder::new().int(0x01, sub).opt(0x02, params),
        auth,
        0x04,
    );
    message(cmd, Some(m.build()))
}

/// authenticatorConfig (CTAP 2.1 §6.11).
fn config(sub: u64, params: Option<Value>, auth: Auth) -> Vec<u8> {
    let m = with_auth(
        MapBuilder::new().int(0x01, sub).opt(0x02, params),
        auth,
        0x03,
    );
    message(0x0D, Some(m.build()))
}

/// A serialized large-blob array: `body` and LEFT(SHA-256(body), 16)
/// (CTAP 2.1 §6.10.3).
fn large_blob_array(body: &[u8]) -> Vec<u8> {
    [body, &sha256(body)[..16]].concat()
}

/// authenticatorLargeBlobs (CTAP 2.1 §6.10.1): get (0x01), set (0x02),
/// offset (0x03), length (0x04).
fn large_blobs(
    get: Option<u64>,
    set: Option<Vec<u8>>,
    offset: u64,
    length: Option<u64>,
    auth: Auth,
) -> Vec<u8> {
    let m = MapBuilder::new()
        .opt(0x01, get)
        .opt(0x02, set.map(cbor::bytes))
        .int(0x03, offset)
        .opt(0x04, length);
    message(0x0C, Some(with_auth(m, auth, 0x05).build()))
}

/// The CTAP1/U2F seeds (U2F Raw Message Formats §4–6): VERSION, REGISTER
/// in short and extended form, AUTHENTICATE (check-only and
/// enforce-presence) with a 63-byte key handle.
fn u2f_seeds() -> Vec<(String, Vec<u8>)> {
    let register: Vec<u8> = [[0x11u8; 32], sha256(b"example.com")].concat();
    let mut authenticate = [[0x22u8; 32], sha256(b"example.com")].concat();
    authenticate.push(63);
    authenticate.extend_from_slice(&[0xA1; 63]);
    let short = |ins: u8, p1: u8, data: &[u8]| {
        let mut apdu = vec![
            0x00,
            ins,
            p1,
            0x00,
            u8::try_from(data.len()).expect("short"),
        ];
        apdu.extend_from_slice(data);
        apdu.push(0x00);
        apdu
    };
    let mut extended = vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x40];
    extended.extend_from_slice(&register);
    extended.extend_from_slice(&[0x00, 0x00]);
    vec![
        ("u2f-version".to_owned(), vec![0x00, 0x03, 0x00, 0x00, 0x00]),
        ("u2f-register".to_owned(), short(0x01, 0x00, &register)),
        ("u2f-register-extended".to_owned(), extended),
        (
            "u2f-check-only".to_owned(),
            short(0x02, 0x07, &authenticate),
        ),
        (
            "u2f-authenticate".to_owned(),
            short(0x02, 0x03, &authenticate),
        ),
    ]
}

fn main() -> std::io::Result<()> {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
    let mut seeds: Vec<(String, Vec<u8>)> = vec![
        ("mc-es256", make_credential(false, false, &[-7], &[])),
        ("mc-eddsa-rk", make_credential(true, false, &[-8, -7], &[])),
        (
            "mc-uv-exclude",
            make_credential(true, true, &[-7], &[&[0xA1; 16]]),
        ),
        (
            "ga-discoverable",
            get_assertion("example.com", &[], None, false),
        ),
        (
            "ga-allow",
            get_assertion("example.com", &[&[0xA1; 16]], Some(true), false),
        ),
        (
            "ga-silent",
            get_assertion("example.com", &[&[0xB2; 16]], Some(false), false),
        ),
        ("ga-uv", get_assertion("example.com", &[], None, true)),
        (
            "mc-pin-v1",
            make_credential_with(false, false, &[-7], &[], Auth::V1, None),
        ),
        (
            "mc-pin-v2-rk",
            make_credential_with(true, false, &[-7], &[], Auth::V2, None),
        ),
        (
            "mc-pin-probe",
            make_credential_with(false, false, &[-7], &[], Auth::Empty, None),
        ),
        (
            "mc-extensions",
            make_credential_with(
                true,
                true,
                &[-7],
                &[],
                Auth::None,
                Some(
                    MapBuilder::new()
                        .text("credProtect", 2)
                        .text("credBlob", cbor::bytes(b"blob".to_vec()))
                        .text("largeBlobKey", true)
                        .text("hmac-secret", true)
                        .text("minPinLength", true)
                        .build(),
                ),
            ),
        ),
        (
            "mc-hmac-secret-mc",
            make_credential_with(
                true,
                true,
                &[-7],
                &[],
                Auth::None,
                Some(
                    MapBuilder::new()
                        .text("hmac-secret", true)
                        .text("hmac-secret-mc", hmac_secret_input(&mut rng))
                        .build(),
                ),
            ),
        ),
        (
            "ga-pin-v2",
            get_assertion_with("example.com", &[], None, false, Auth::V2, None),
        ),
        (
            "ga-pin-v1-allow",
            get_assertion_with("example.com", &[&[0xB2; 16]], None, false, Auth::V1, None),
        ),
        (
            "ga-extensions",
            get_assertion_with(
                "example.com",
                &[],
                None,
                true,
                Auth::None,
                Some(
                    MapBuilder::new()
                        .text("credBlob", true)
                        .text("largeBlobKey", true)
                        .text("hmac-secret", hmac_secret_input(&mut rng))
                        .build(),
                ),
            ),
        ),
        ("cp-pin-retries", client_pin(None, 0x01, vec![])),
        ("cp-uv-retries", client_pin(None, 0x07, vec![])),
        ("get-info", message(0x04, None)),
        ("reset", message(0x07, None)),
        ("get-next", message(0x08, None)),
        ("selection", message(0x0B, None)),
        ("cm-metadata", cred_mgmt(0x0A, 0x01, None, Auth::V2)),
        ("cm-metadata-preview", cred_mgmt(0x41, 0x01, None, Auth::V1)),
        ("cm-rps-begin", cred_mgmt(0x0A, 0x02, None, Auth::V2)),
        ("cm-rps-next", cred_mgmt(0x0A, 0x03, None, Auth::None)),
        (
            "cm-creds-begin",
            cred_mgmt(
                0x0A,
                0x04,
                Some(
                    MapBuilder::new()
                        .int(0x01, cbor::bytes(sha256(b"example.com").to_vec()))
                        .build(),
                ),
                Auth::V2,
            ),
        ),
        ("cm-creds-next", cred_mgmt(0x0A, 0x05, None, Auth::None)),
        (
            "cm-delete",
            cred_mgmt(
                0x0A,
                0x06,
                Some(MapBuilder::new().int(0x02, descriptor(&[0xA1; 16])).build()),
                Auth::V2,
            ),
        ),
        (
            "cm-update-user",
            cred_mgmt(
                0x0A,
                0x07,
                Some(
                    MapBuilder::new()
                        .int(0x02, descriptor(&[0xA1; 16]))
                        .int(
                            0x03,
                            MapBuilder::new()
                                .text("id", cbor::bytes(b"alice".to_vec()))
                                .text("name", "alice2")
                                .text("displayName", "")
                                .build(),
                        )
                        .build(),
                ),
                Auth::V2,
            ),
        ),
        ("cfg-enable-ep", config(0x01, None, Auth::None)),
        ("cfg-toggle-always-uv", config(0x02, None, Auth::V2)),
        (
            "cfg-min-pin-length",
            config(
                0x03,
                Some(
                    MapBuilder::new()
                        .int(0x01, 6)
                        .int(0x02, Value::Array(vec![Value::from("example.com")]))
                        .int(0x03, true)
                        .build(),
                ),
                Auth::V1,
            ),
        ),
        ("lb-get", large_blobs(Some(64), None, 0, None, Auth::None)),
        (
            "lb-set-whole",
            large_blobs(
                None,
                Some(large_blob_array(&[0x81, 0x41, 0x00])),
                0,
                Some(20),
                Auth::None,
            ),
        ),
        (
            "lb-set-first",
            large_blobs(None, Some(vec![0x81, 0x58, 0x20]), 0, Some(51), Auth::V2),
        ),
        (
            "lb-set-next",
            large_blobs(None, Some(vec![0x5A; 32]), 3, None, Auth::V2),
        ),
    ]
    .into_iter()
    .map(|(name, bytes)| (name.to_owned(), bytes))
    .collect();
    for protocol in [PinProtocol::V1, PinProtocol::V2] {
        seeds.extend(client_pin_seeds(protocol, &mut rng));
    }
    seeds.extend(u2f_seeds());
    let dir = Path::new("corpus/request_decode");
    fs::create_dir_all(dir)?;
    for (name, bytes) in seeds {
        fs::write(dir.join(format!("seed-{name}")), bytes)?;
    }
    println!("wrote seeds to {}", dir.display());
    Ok(())
}
