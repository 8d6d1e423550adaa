//! Secrets never reach the log, the event stream or the event log: a
//! ceremony with a PIN, a pinUvAuthToken, a discoverable credential and a
//! large blob runs against a daemon logging at trace level, and every
//! secret of it is searched for, in the encodings a log line could use.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::crypto::pin_protocol::{encapsulate, PinProtocol};
use authenticator_core::crypto::sha256;
use authenticator_core::wire::client_pin::permission;
use base64::Engine as _;
use fidosim_tests::control::{api, Events};
use fidosim_tests::daemon::Daemon;
use fidosim_tests::hid::UdpHid;
use p256::pkcs8::DecodePrivateKey as _;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");
const T: Duration = Duration::from_secs(10);
const PIN: &str = "pin-482913";
const RP: &str = "secrets.example";
const BLOB: &[u8] = b"LARGE-BLOB-CONTENT-7f3c91d2-must-not-be-logged";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The spellings of `secret` a log line could carry, and the hex of each
/// 12-byte piece of it, which a secret split over two reports of a packet
/// dump would still show. A PKCS#8 document is searched whole only: its
/// header is the same for every key and it holds the public key.
fn encodings(what: &str, secret: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let whole_only = what.contains("PKCS#8");
    let pieces = secret.windows(12).filter(|_| !whole_only).map(hex);
    let mut all = vec![
        hex(secret),
        hex(secret).to_uppercase(),
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        // Debug output of a byte slice.
        format!("{secret:?}"),
    ];
    all.extend(pieces);
    all
}

/// Sends one CTAP2 request; panics unless it succeeds. Returns the CBOR
/// body (empty for an empty answer).
fn ctap(hid: &UdpHid, cid: u32, request: &[u8]) -> Vec<u8> {
    let (answer, _) = hid.cbor(cid, request, T).unwrap();
    assert_eq!(answer.first(), Some(&0), "command {:#04x}", request[0]);
    answer[1..].to_vec()
}

fn field(body: &[u8], key: i64) -> Value {
    cbor::Fields::decode(body).unwrap().take(key).unwrap()
}

fn client_pin(params: MapBuilder) -> Vec<u8> {
    [vec![0x06], cbor::encode(&params.int(1, 2).build())].concat()
}

/// getKeyAgreement, then the platform half with a seeded generator; the
/// same seed gives the platform's secret key again, so that the test
/// also knows the raw shared secret (HMAC key ‖ AES key).
fn key_agreement(
    hid: &UdpHid,
    cid: u32,
    seed: u64,
) -> (
    Value,
    authenticator_core::crypto::pin_protocol::SharedSecret,
    Vec<u8>,
) {
    let body = ctap(hid, cid, &client_pin(MapBuilder::new().int(2, 2)));
    let device_cose = field(&body, 1);
    let (platform_cose, shared) = encapsulate(
        PinProtocol::V2,
        &device_cose,
        &mut ChaCha20Rng::seed_from_u64(seed),
    )
    .unwrap();
    let platform_secret = <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(
        &mut ChaCha20Rng::seed_from_u64(seed),
    );
    let mut device = cbor::Fields::from_value(device_cose).unwrap();
    let x = cbor::as_bytes(device.take(-2).unwrap(), 32).unwrap();
    let y = cbor::as_bytes(device.take(-3).unwrap(), 32).unwrap();
    let device_key = p256::PublicKey::from_sec1_bytes(&[&[4u8][..], &x, &y].concat()).unwrap();
    let z = p256::ecdh::diffie_hellman(platform_secret.to_nonzero_scalar(), device_key.as_affine());
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0u8; 32]), z.raw_secret_bytes());
    let mut raw = vec![0u8; 64];
    hk.expand(b"CTAP2 HMAC key", &mut raw[..32]).unwrap();
    hk.expand(b"CTAP2 AES key", &mut raw[32..]).unwrap();
    // The derivation above is the one the key uses: its tag checks out.
    assert_eq!(
        shared.authenticate(b"probe"),
        PinProtocol::V2.authenticate(&raw, b"probe"),
        "the recomputed shared secret matches the platform's"
    );
    (platform_cose, shared, raw)
}

#[test]
fn a_pin_and_large_blob_ceremony_leaves_no_secret_in_logs_or_events() {
    let dir = std::env::temp_dir().join(format!("fidosim-secrets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("key.state");
    let d = Daemon::udp_with_log(
        Path::new(BIN),
        &["-vv", "--state", state.to_str().unwrap()],
        "trace",
    );
    let mut events = Events::follow(&d.control, "");
    let hid = UdpHid::connect(d.addr).unwrap();
    let cid = hid.init().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut secrets: Vec<(&str, Vec<u8>)> = Vec::new();

    // setPIN.
    let (platform, shared, raw) = key_agreement(&hid, cid, 1);
    secrets.push(("setPIN shared secret", raw.clone()));
    secrets.push(("setPIN HMAC key", raw[..32].to_vec()));
    secrets.push(("setPIN AES key", raw[32..].to_vec()));
    let mut padded = PIN.as_bytes().to_vec();
    padded.resize(64, 0);
    let new_pin_enc = shared.encrypt(&mut rng, &padded).unwrap();
    let req = client_pin(
        MapBuilder::new()
            .int(2, 3)
            .int(3, platform)
            .int(4, cbor::bytes(shared.authenticate(&new_pin_enc)))
            .int(5, cbor::bytes(new_pin_enc)),
    );
    ctap(&hid, cid, &req);

    // getPinUvAuthTokenUsingPinWithPermissions: mc, ga and lbw.
    let (platform, shared, raw) = key_agreement(&hid, cid, 2);
    secrets.push(("token shared secret", raw.clone()));
    secrets.push(("token HMAC key", raw[..32].to_vec()));
    secrets.push(("token AES key", raw[32..].to_vec()));
    let pin_hash = sha256(PIN.as_bytes());
    let pin_hash_enc = shared.encrypt(&mut rng, &pin_hash[..16]).unwrap();
    let req = client_pin(
        MapBuilder::new()
            .int(2, 9)
            .int(3, platform)
            .int(6, cbor::bytes(pin_hash_enc))
            .int(9, permission::MC | permission::GA | permission::LBW)
            .int(10, RP),
    );
    let body = ctap(&hid, cid, &req);
    let token_enc = cbor::as_bytes(field(&body, 2), 64).unwrap();
    let token = shared.decrypt(&token_enc).unwrap().to_vec();
    assert_eq!(token.len(), 32);
    secrets.push(("pinUvAuthToken", token.clone()));

    // makeCredential of a discoverable credential with a largeBlobKey.
    let cdh = [0x5a; 32];
    let req = MapBuilder::new()
        .int(1, cbor::bytes(cdh.to_vec()))
        .int(2, MapBuilder::new().text("id", RP).build())
        .int(
            3,
            MapBuilder::new()
                .text("id", cbor::bytes(vec![9, 8, 7]))
                .text("name", "alice")
                .build(),
        )
        .int(
            4,
            Value::Array(vec![MapBuilder::new()
                .text("alg", -7)
                .text("type", "public-key")
                .build()]),
        )
        .int(6, MapBuilder::new().text("largeBlobKey", true).build())
        .int(7, MapBuilder::new().text("rk", true).build())
        .int(8, cbor::bytes(PinProtocol::V2.authenticate(&token, &cdh)))
        .int(9, 2)
        .build();
    let body = ctap(&hid, cid, &[vec![0x01], cbor::encode(&req)].concat());
    let large_blob_key = cbor::as_bytes(field(&body, 5), 32).unwrap();
    assert_eq!(large_blob_key.len(), 32);
    secrets.push(("largeBlobKey", large_blob_key));

    // largeBlobs write of an array with one recognizable entry.
    let entry = MapBuilder::new()
        .int(1, cbor::bytes(BLOB.to_vec()))
        .int(2, cbor::bytes(vec![0x33; 12]))
        .int(3, BLOB.len() as i64)
        .build();
    let array = cbor::encode(&Value::Array(vec![entry]));
    let contents = [array.clone(), sha256(&array)[..16].to_vec()].concat();
    let mut message = vec![0xff; 32];
    message.extend_from_slice(&[0x0c, 0x00]);
    message.extend_from_slice(&0u32.to_le_bytes());
    message.extend_from_slice(&sha256(&contents));
    let req = MapBuilder::new()
        .int(2, cbor::bytes(contents.clone()))
        .int(3, 0)
        .int(4, contents.len() as i64)
        .int(
            5,
            cbor::bytes(PinProtocol::V2.authenticate(&token, &message)),
        )
        .int(6, 2)
        .build();
    ctap(&hid, cid, &[vec![0x0c], cbor::encode(&req)].concat());
    secrets.push(("large blob", BLOB.to_vec()));
    // Read back: the write took effect.
    let req = MapBuilder::new().int(1, 1024).int(3, 0).build();
    let body = ctap(&hid, cid, &[vec![0x0c], cbor::encode(&req)].concat());
    assert_eq!(cbor::as_bytes(field(&body, 1), 4096).unwrap(), contents);

    // getAssertion of the discoverable credential, with its largeBlobKey.
    let req = MapBuilder::new()
        .int(1, RP)
        .int(2, cbor::bytes(cdh.to_vec()))
        .int(4, MapBuilder::new().text("largeBlobKey", true).build())
        .build();
    let body = ctap(&hid, cid, &[vec![0x02], cbor::encode(&req)].concat());
    assert!(cbor::Fields::decode(&body).unwrap().take(7).is_some());

    // The credential's private key, exported where that is allowed.
    let (status, creds) = api(&d.control, "GET", "/v1/devices/default/credentials", None);
    assert_eq!(status, 200, "{creds}");
    let list = creds
        .as_array()
        .or_else(|| creds["credentials"].as_array())
        .cloned()
        .unwrap_or_default();
    let cred = list
        .iter()
        .find(|c| c["rpId"] == RP)
        .unwrap_or_else(|| panic!("no credential for {RP} in {creds}"));
    let pkcs8_b64 = cred["privateKey"].as_str().unwrap().to_owned();
    let pkcs8 = base64::engine::general_purpose::STANDARD
        .decode(&pkcs8_b64)
        .unwrap();
    let scalar = p256::SecretKey::from_pkcs8_der(&pkcs8).unwrap().to_bytes();
    secrets.push(("private key (PKCS#8)", pkcs8.clone()));
    secrets.push(("private key (scalar)", scalar.to_vec()));
    secrets.push(("PIN (UTF-8)", PIN.as_bytes().to_vec()));
    secrets.push(("SHA-256(PIN)", pin_hash.to_vec()));
    secrets.push(("LEFT(SHA-256(PIN), 16)", pin_hash[..16].to_vec()));

    // Everything the daemon wrote meanwhile.
    let mut streamed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while let Some(e) = events.next_before(deadline) {
        streamed.push(e.to_string());
    }
    let stderr = d.log().join("\n");
    assert_eq!(d.stop(), Some(0));
    let event_log = read_event_logs(&dir);
    let streamed = streamed.join("\n");

    // Not trivially clean: each place holds the ceremony.
    for command in ["clientPIN", "makeCredential", "largeBlobs", "getAssertion"] {
        assert!(
            stderr.contains(command),
            "the log names {command}:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("← host") && stderr.contains("→ host"),
        "the log holds the packet trace:\n{stderr}"
    );
    for (name, text) in [("event stream", &streamed), ("event log", &event_log)] {
        assert!(
            ["pin.set", "credential.created", "credential.asserted"]
                .iter()
                .all(|t| text.contains(t)),
            "the {name} holds the ceremony:\n{text}"
        );
    }

    let mut found = Vec::new();
    for (what, secret) in &secrets {
        let mut needles = encodings(what, secret);
        if *what == "PIN (UTF-8)" {
            needles.push(PIN.to_owned());
        }
        if *what == "large blob" {
            needles.push(String::from_utf8_lossy(BLOB).into_owned());
        }
        if *what == "private key (PKCS#8)" {
            needles.push(pkcs8_b64.clone());
        }
        for (place, text) in [
            ("log", &stderr),
            ("event stream", &streamed),
            ("event log", &event_log),
        ] {
            for n in &needles {
                if text.contains(n.as_str()) {
                    found.push(format!("{what} as {n:?} in the {place}"));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(found.is_empty(), "secrets written: {found:#?}");
}

/// The event log beside the state file (and a rotated one, if any).
fn read_event_logs(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("events.jsonl") {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    assert!(
        !text.is_empty(),
        "an event log is written in {}",
        dir.display()
    );
    text
}
