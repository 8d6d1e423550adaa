//! Tests for CTAP1/U2F: every INS, control byte and status word, both APDU
//! length encodings, signatures, counters, and credential interop with
//! CTAP2 in both directions.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::cbor::{self, MapBuilder, Value};
use crate::config::{CounterMode, DeviceConfig};
use crate::crypto::attestation_ca::AttestationIdentity;
use crate::crypto::sha256;
use crate::env::{PresencePolicy, TestEnv};
use crate::store::{CounterScope, CredentialStore};
use rand_chacha::rand_core::SeedableRng;

const CHALLENGE: [u8; 32] = [0x42; 32];
const RP: &str = "example.com";

fn identity() -> AttestationIdentity {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
    AttestationIdentity::generate(
        &mut rng,
        crate::config::DEFAULT_AAGUID,
        "fidosim",
        "fidosim test batch",
    )
    .unwrap()
}

fn device_with(config: DeviceConfig) -> Authenticator<TestEnv> {
    Authenticator::new(config, identity(), TestEnv::seeded(7)).unwrap()
}

fn device() -> Authenticator<TestEnv> {
    device_with(DeviceConfig::default())
}

fn app() -> [u8; 32] {
    sha256(RP.as_bytes())
}

// ------------------------------------------------------------ APDU builders

/// Extended length encoding: `00 Lc1 Lc2 data` (case 3E), or with data
/// absent `00 Le1 Le2` (case 2E); `le` appends a two-byte Le to case 3E.
fn ext(cla: u8, ins: u8, p1: u8, data: &[u8], le: bool) -> Vec<u8> {
    let mut a = vec![cla, ins, p1, 0x00, 0x00];
    if data.is_empty() {
        a.extend_from_slice(&[0x00, 0x00]);
        return a;
    }
    a.extend_from_slice(&(data.len() as u16).to_be_bytes());
    a.extend_from_slice(data);
    if le {
        a.extend_from_slice(&[0x00, 0x00]);
    }
    a
}

/// Short encoding: `Lc data` (case 3S), optionally a one-byte Le (case 4S).
fn short(ins: u8, p1: u8, data: &[u8], le: bool) -> Vec<u8> {
    let mut a = vec![0x00, ins, p1, 0x00, data.len() as u8];
    a.extend_from_slice(data);
    if le {
        a.push(0x00);
    }
    a
}

/// What python-fido2's `Ctap1.send_apdu` sends: `00 Lc1 Lc2 data 00 00`,
/// even with no data.
fn fido2_style(ins: u8, p1: u8, data: &[u8]) -> Vec<u8> {
    let mut a = vec![0x00, ins, p1, 0x00, 0x00];
    a.extend_from_slice(&(data.len() as u16).to_be_bytes());
    a.extend_from_slice(data);
    a.extend_from_slice(&[0x00, 0x00]);
    a
}

fn register_apdu(challenge: &[u8; 32], app: &[u8; 32]) -> Vec<u8> {
    let mut data = challenge.to_vec();
    data.extend_from_slice(app);
    ext(0, INS_REGISTER, 0, &data, true)
}

fn auth_data(challenge: &[u8; 32], app: &[u8; 32], key_handle: &[u8]) -> Vec<u8> {
    let mut data = challenge.to_vec();
    data.extend_from_slice(app);
    data.push(key_handle.len() as u8);
    data.extend_from_slice(key_handle);
    data
}

fn auth_apdu(p1: u8, app: &[u8; 32], key_handle: &[u8]) -> Vec<u8> {
    ext(
        0,
        INS_AUTHENTICATE,
        p1,
        &auth_data(&CHALLENGE, app, key_handle),
        true,
    )
}

fn sw(resp: &[u8]) -> u16 {
    assert!(resp.len() >= 2, "a response ends in a status word");
    u16::from_be_bytes([resp[resp.len() - 2], resp[resp.len() - 1]])
}

/// The data of a 0x9000 response.
fn ok(resp: &[u8]) -> &[u8] {
    assert_eq!(sw(resp), SW_NO_ERROR, "status {:04x}", sw(resp));
    &resp[..resp.len() - 2]
}

/// An error response: the status word alone.
fn err(resp: &[u8]) -> u16 {
    assert_eq!(resp.len(), 2, "an error carries no data: {resp:02x?}");
    sw(resp)
}

// ----------------------------------------------------------- parsed answers

struct Registration {
    public: PublicKey,
    public_raw: Vec<u8>,
    key_handle: Vec<u8>,
    cert: Vec<u8>,
    signature: Vec<u8>,
}

fn parse_register(data: &[u8]) -> Registration {
    assert_eq!(data[0], REGISTER_RESERVED);
    let public_raw = data[1..66].to_vec();
    assert_eq!(public_raw[0], 0x04, "uncompressed point");
    let public = PublicKey::Es256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&public_raw).unwrap());
    let kh_len = data[66] as usize;
    let key_handle = data[67..67 + kh_len].to_vec();
    let rest = &data[67 + kh_len..];
    // The certificate is one DER SEQUENCE with a two-byte long-form length.
    assert_eq!(rest[0], 0x30);
    assert_eq!(rest[1], 0x82);
    let cert_len = 4 + u16::from_be_bytes([rest[2], rest[3]]) as usize;
    Registration {
        public,
        public_raw,
        key_handle,
        cert: rest[..cert_len].to_vec(),
        signature: rest[cert_len..].to_vec(),
    }
}

fn register(d: &mut Authenticator<TestEnv>, app: &[u8; 32]) -> Registration {
    parse_register(ok(&d.handle_ctap1(&register_apdu(&CHALLENGE, app))))
}

fn batch_public_key(cert_der: &[u8]) -> PublicKey {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    PublicKey::Es256(p256::ecdsa::VerifyingKey::from_sec1_bytes(spki).unwrap())
}

struct Signed {
    presence: u8,
    counter: u32,
    signature: Vec<u8>,
}

fn parse_auth(data: &[u8]) -> Signed {
    Signed {
        presence: data[0],
        counter: u32::from_be_bytes(data[1..5].try_into().unwrap()),
        signature: data[5..].to_vec(),
    }
}

fn verify_auth(s: &Signed, app: &[u8; 32], public: &PublicKey) {
    let mut msg = app.to_vec();
    msg.push(s.presence);
    msg.extend_from_slice(&s.counter.to_be_bytes());
    msg.extend_from_slice(&CHALLENGE);
    assert!(
        public.verify(&msg, &s.signature),
        "authentication signature"
    );
}

fn authenticate(
    d: &mut Authenticator<TestEnv>,
    p1: u8,
    app: &[u8; 32],
    key_handle: &[u8],
) -> Signed {
    parse_auth(ok(&d.handle_ctap1(&auth_apdu(p1, app, key_handle))))
}

/// The whole store, to show that something changed nothing.
fn store_snapshot(d: &Authenticator<TestEnv>) -> String {
    format!("{:?}", d.env().store)
}

// ------------------------------------------------------------ CTAP2 helpers

fn make_credential(d: &mut Authenticator<TestEnv>, alg: i64, rk: bool) -> (Vec<u8>, PublicKey) {
    let mut m = MapBuilder::new()
        .int(1, cbor::bytes(CHALLENGE.to_vec()))
        .int(2, MapBuilder::new().text("id", RP).build())
        .int(
            3,
            MapBuilder::new()
                .text("id", cbor::bytes(vec![1, 2, 3]))
                .text("name", "alice")
                .build(),
        )
        .int(
            4,
            Value::Array(vec![MapBuilder::new()
                .text("alg", alg)
                .text("type", "public-key")
                .build()]),
        );
    if rk {
        // A device with built-in UV makes discoverable credentials only
        // with UV (CTAP 2.1 §6.1.2 step 7).
        m = m.int(
            7,
            MapBuilder::new().text("rk", true).text("uv", true).build(),
        );
    }
    let mut req = vec![0x01];
    req.extend(cbor::encode(&m.build()));
    let resp = d.handle(&req);
    assert_eq!(resp[0], 0, "makeCredential status {:#x}", resp[0]);
    let mut f = cbor::Fields::decode(&resp[1..]).unwrap();
    let ad = cbor::as_bytes(f.take(2).unwrap(), 4096).unwrap();
    let len = u16::from_be_bytes([ad[53], ad[54]]) as usize;
    let id = ad[55..55 + len].to_vec();
    let mut key = cbor::Fields::decode(&ad[55 + len..]).unwrap();
    let x = cbor::as_bytes(key.take(-2).unwrap(), 32).unwrap();
    let public = if alg == -7 {
        let y = cbor::as_bytes(key.take(-3).unwrap(), 32).unwrap();
        let mut sec1 = vec![4];
        sec1.extend(x);
        sec1.extend(y);
        PublicKey::Es256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap())
    } else {
        PublicKey::EdDsa(ed25519_dalek::VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap())
    };
    (id, public)
}

/// getAssertion with an allowList of one ID; (authData, signature) or the
/// error status.
fn get_assertion(
    d: &mut Authenticator<TestEnv>,
    rp: &str,
    id: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), u8> {
    let m = MapBuilder::new()
        .int(1, rp)
        .int(2, cbor::bytes(CHALLENGE.to_vec()))
        .int(
            3,
            Value::Array(vec![MapBuilder::new()
                .text("id", cbor::bytes(id.to_vec()))
                .text("type", "public-key")
                .build()]),
        )
        .build();
    let mut req = vec![0x02];
    req.extend(cbor::encode(&m));
    let resp = d.handle(&req);
    if resp[0] != 0 {
        return Err(resp[0]);
    }
    let mut f = cbor::Fields::decode(&resp[1..]).unwrap();
    let ad = cbor::as_bytes(f.take(2).unwrap(), 4096).unwrap();
    let sig = cbor::as_bytes(f.take(3).unwrap(), 4096).unwrap();
    Ok((ad, sig))
}

fn ad_counter(auth_data: &[u8]) -> u32 {
    u32::from_be_bytes(auth_data[33..37].try_into().unwrap())
}

// ------------------------------------------------------------------ VERSION

#[test]
fn version_in_every_encoding() {
    let mut d = device();
    for apdu in [
        vec![0x00, 0x03, 0x00, 0x00],                   // case 1
        vec![0x00, 0x03, 0x00, 0x00, 0x00],             // case 2S
        vec![0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00], // case 2E
        fido2_style(INS_VERSION, 0, &[]),               // 00 0000 0000
        vec![0x00, 0x03, 0x12, 0x34],                   // P1/P2 ignored
    ] {
        assert_eq!(d.handle_ctap1(&apdu), b"U2F_V2\x90\x00", "{apdu:02x?}");
    }
    // Data is a wrong length, in either encoding.
    assert_eq!(
        err(&d.handle_ctap1(&short(INS_VERSION, 0, &[1], false))),
        SW_WRONG_LENGTH
    );
    assert_eq!(
        err(&d.handle_ctap1(&ext(0, INS_VERSION, 0, &[1, 2], true))),
        SW_WRONG_LENGTH
    );
}

#[test]
fn cla_ins_and_header_errors() {
    let mut d = device();
    for cla in [0x01, 0x80, 0xFF] {
        assert_eq!(
            err(&d.handle_ctap1(&[cla, 0x03, 0, 0])),
            SW_CLA_NOT_SUPPORTED
        );
    }
    for ins in [0x00, 0x04, 0x10, 0xC0, 0xFF] {
        assert_eq!(err(&d.handle_ctap1(&[0, ins, 0, 0])), SW_INS_NOT_SUPPORTED);
    }
    let truncated: [&[u8]; 4] = [&[], &[0], &[0, 3], &[0, 3, 0]];
    for short_apdu in truncated {
        assert_eq!(err(&d.handle_ctap1(short_apdu)), SW_WRONG_LENGTH);
    }
}

#[test]
fn malformed_lengths() {
    let mut d = device();
    let data = [7u8; 64];
    let bad: Vec<Vec<u8>> = vec![
        // Short Lc larger or smaller than the data.
        {
            let mut a = short(INS_REGISTER, 0, &data, false);
            a[4] = 65;
            a
        },
        {
            let mut a = short(INS_REGISTER, 0, &data, false);
            a[4] = 62;
            a
        },
        // Extended Lc that does not match, a lone byte after 00.
        {
            let mut a = ext(0, INS_REGISTER, 0, &data, false);
            a[6] = 65;
            a
        },
        {
            let mut a = ext(0, INS_REGISTER, 0, &data, true);
            a.push(0);
            a
        },
        vec![0, 1, 0, 0, 0, 0],
        // 00 0000 with anything but a two-byte Le after it.
        vec![0, 3, 0, 0, 0, 0, 0, 0],
        vec![0, 3, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    for apdu in bad {
        assert_eq!(err(&d.handle_ctap1(&apdu)), SW_WRONG_LENGTH, "{apdu:02x?}");
    }
}

// ----------------------------------------------------------------- REGISTER

#[test]
fn register_signature_verifies_with_the_batch_certificate() {
    let mut d = device();
    let app = app();
    let r = register(&mut d, &app);
    assert_eq!(r.cert, d.identity().batch_cert_der());
    assert_eq!(r.key_handle.len(), seal::SEALED_ID_LEN);
    let mut signed = vec![0x00];
    signed.extend_from_slice(&app);
    signed.extend_from_slice(&CHALLENGE);
    signed.extend_from_slice(&r.key_handle);
    signed.extend_from_slice(&r.public_raw);
    assert!(batch_public_key(&r.cert).verify(&signed, &r.signature));
    // Another challenge or application parameter does not verify.
    signed[40] ^= 1;
    assert!(!batch_public_key(&r.cert).verify(&signed, &r.signature));
    // The key handle is a CTAP2 non-discoverable ES256 credential ID for
    // RP ID hash = application parameter, carrying the registered key.
    let sealed = seal::open(&d.master, &app, &r.key_handle).unwrap();
    assert!(!sealed.discoverable);
    assert_eq!(sealed.cred_protect, 0);
    assert_eq!(sealed.key.algorithm(), Algorithm::Es256);
    assert_eq!(sealed.key.public_key().unwrap(), r.public);
    assert!(seal::open(&d.master, &sha256(b"other"), &r.key_handle).is_none());
    // Presence was asked, as a U2F request.
    assert_eq!(
        d.env().presence_log,
        vec![format!(
            "{:?} up=true uv=false",
            PresenceRequest::U2fRegister { app_id_hash: app }
        )]
    );
}

#[test]
fn register_in_short_and_extended_encodings() {
    let mut d = device();
    let mut data = CHALLENGE.to_vec();
    data.extend_from_slice(&app());
    for apdu in [
        short(INS_REGISTER, 0, &data, false),
        short(INS_REGISTER, 0, &data, true),
        ext(0, INS_REGISTER, 0, &data, false),
        ext(0, INS_REGISTER, 0, &data, true),
        fido2_style(INS_REGISTER, 0x03, &data),
        fido2_style(INS_REGISTER, 0x80, &data),
    ] {
        let r = parse_register(ok(&d.handle_ctap1(&apdu)));
        let s = authenticate(&mut d, P1_ENFORCE_UP, &app(), &r.key_handle);
        verify_auth(&s, &app(), &r.public);
    }
}

#[test]
fn register_wrong_lengths() {
    let mut d = device();
    for len in [0usize, 1, 32, 63, 65, 128] {
        let apdu = ext(0, INS_REGISTER, 0, &vec![1u8; len], true);
        assert_eq!(err(&d.handle_ctap1(&apdu)), SW_WRONG_LENGTH, "{len}");
    }
    assert!(d.env().presence_log.is_empty(), "no presence asked");
}

#[test]
fn register_without_presence_is_conditions_not_satisfied() {
    for policy in [PresencePolicy::Deny, PresencePolicy::Timeout] {
        let mut d = device();
        d.env_mut().presence = policy;
        let before = store_snapshot(&d);
        assert_eq!(
            err(&d.handle_ctap1(&register_apdu(&CHALLENGE, &app()))),
            SW_CONDITIONS_NOT_SATISFIED
        );
        assert_eq!(store_snapshot(&d), before);
        // The client polls; once the user touches, it works.
        d.env_mut().presence = PresencePolicy::Approve;
        register(&mut d, &app());
    }
}

#[test]
fn browser_probes_change_no_state() {
    // Firefox: all-zero challenge and application parameter. Chrome: a
    // bogus application parameter, a hash of a URL no RP uses.
    let probes = [
        ([0u8; 32], [0u8; 32]),
        (
            [0u8; 32],
            sha256(b"https://www.gstatic.com/securitykey/origintest.html"),
        ),
        (CHALLENGE, [0x41; 32]),
    ];
    for (challenge, app) in probes {
        for policy in [PresencePolicy::Approve, PresencePolicy::Deny] {
            let mut d = device();
            d.env_mut().presence = policy;
            let before = store_snapshot(&d);
            let resp = d.handle_ctap1(&register_apdu(&challenge, &app));
            match policy {
                PresencePolicy::Approve => {
                    let r = parse_register(ok(&resp));
                    assert_eq!(
                        d.env()
                            .store
                            .counter(CounterScope::Credential(sha256(&r.key_handle)))
                            .unwrap(),
                        0
                    );
                }
                _ => assert_eq!(err(&resp), SW_CONDITIONS_NOT_SATISFIED),
            }
            assert_eq!(store_snapshot(&d), before, "no store change");
            assert_eq!(d.env().store.all().count(), 0);
        }
    }
}

#[test]
fn register_needs_es256_enabled() {
    let mut d = device_with(DeviceConfig {
        algorithms: vec![Algorithm::EdDsa],
        ..DeviceConfig::default()
    });
    assert_eq!(
        err(&d.handle_ctap1(&register_apdu(&CHALLENGE, &app()))),
        SW_INS_NOT_SUPPORTED
    );
    assert!(d.env().presence_log.is_empty());
    assert_eq!(d.handle_ctap1(&[0, 3, 0, 0]), b"U2F_V2\x90\x00");
}

// ------------------------------------------------------------- AUTHENTICATE

#[test]
fn authenticate_signs_and_counts() {
    let mut d = device();
    let app = app();
    let r = register(&mut d, &app);
    d.env_mut().presence_log.clear();

    let s = authenticate(&mut d, P1_ENFORCE_UP, &app, &r.key_handle);
    assert_eq!((s.presence, s.counter), (USER_PRESENT, 1));
    verify_auth(&s, &app, &r.public);
    assert_eq!(
        d.env().presence_log,
        vec![format!(
            "{:?} up=true uv=false",
            PresenceRequest::U2fAuthenticate { app_id_hash: app }
        )]
    );

    let s = authenticate(&mut d, P1_ENFORCE_UP, &app, &r.key_handle);
    assert_eq!(s.counter, 2);
    verify_auth(&s, &app, &r.public);

    // dont-enforce: no presence asked, the bit is clear, the counter moves.
    d.env_mut().presence_log.clear();
    d.env_mut().presence = PresencePolicy::Deny;
    let s = authenticate(&mut d, P1_DONT_ENFORCE_UP, &app, &r.key_handle);
    assert_eq!((s.presence, s.counter), (0, 3));
    verify_auth(&s, &app, &r.public);
    assert!(d.env().presence_log.is_empty());

    // A tampered signature or message does not verify.
    let mut bad = s;
    bad.counter = 4;
    let mut msg = app.to_vec();
    msg.push(bad.presence);
    msg.extend_from_slice(&bad.counter.to_be_bytes());
    msg.extend_from_slice(&CHALLENGE);
    assert!(!r.public.verify(&msg, &bad.signature));
}

#[test]
fn authenticate_short_encoding() {
    let mut d = device();
    let r = register(&mut d, &app());
    let data = auth_data(&CHALLENGE, &app(), &r.key_handle);
    for le in [false, true] {
        let resp = d.handle_ctap1(&short(INS_AUTHENTICATE, P1_ENFORCE_UP, &data, le));
        verify_auth(&parse_auth(ok(&resp)), &app(), &r.public);
    }
}

#[test]
fn check_only() {
    let mut d = device();
    let app = app();
    let r = register(&mut d, &app);
    d.env_mut().presence_log.clear();
    let before = store_snapshot(&d);
    // Ours: "test of user presence required", which means yes.
    assert_eq!(
        err(&d.handle_ctap1(&auth_apdu(P1_CHECK_ONLY, &app, &r.key_handle))),
        SW_CONDITIONS_NOT_SATISFIED
    );
    // Not for this application, or not ours: bad key handle.
    assert_eq!(
        err(&d.handle_ctap1(&auth_apdu(
            P1_CHECK_ONLY,
            &sha256(b"evil.com"),
            &r.key_handle
        ))),
        SW_WRONG_DATA
    );
    assert_eq!(
        err(&d.handle_ctap1(&auth_apdu(P1_CHECK_ONLY, &app, &[0x01; 63]))),
        SW_WRONG_DATA
    );
    // No presence asked, no counter moved, even when presence is refused.
    d.env_mut().presence = PresencePolicy::Deny;
    assert_eq!(
        err(&d.handle_ctap1(&auth_apdu(P1_CHECK_ONLY, &app, &r.key_handle))),
        SW_CONDITIONS_NOT_SATISFIED
    );
    assert!(d.env().presence_log.is_empty());
    assert_eq!(store_snapshot(&d), before);
}

#[test]
fn bad_key_handles() {
    let mut d = device();
    let app = app();
    let r = register(&mut d, &app);
    let mut other =
        Authenticator::new(DeviceConfig::default(), identity(), TestEnv::seeded(8)).unwrap();
    let mut flipped = r.key_handle.clone();
    flipped[20] ^= 0x01;
    for p1 in [P1_CHECK_ONLY, P1_ENFORCE_UP, P1_DONT_ENFORCE_UP] {
        // Another application parameter.
        assert_eq!(
            err(&d.handle_ctap1(&auth_apdu(p1, &sha256(b"evil.com"), &r.key_handle))),
            SW_WRONG_DATA
        );
        // Another device (another master secret).
        assert_eq!(
            err(&other.handle_ctap1(&auth_apdu(p1, &app, &r.key_handle))),
            SW_WRONG_DATA
        );
        // Tampered, truncated, empty, over-long, garbage.
        for kh in [
            flipped.clone(),
            r.key_handle[..62].to_vec(),
            vec![],
            [r.key_handle.clone(), vec![0]].concat(),
            vec![0xFF; 255],
        ] {
            assert_eq!(
                err(&d.handle_ctap1(&auth_apdu(p1, &app, &kh))),
                SW_WRONG_DATA
            );
        }
    }
    // Nothing was asked of the user for a key handle that is not ours.
    d.env_mut().presence_log.clear();
    d.handle_ctap1(&auth_apdu(P1_ENFORCE_UP, &app, &flipped));
    assert!(d.env().presence_log.is_empty());
}

#[test]
fn unknown_control_byte_and_wrong_lengths() {
    let mut d = device();
    let app = app();
    let r = register(&mut d, &app);
    for p1 in [0x00, 0x01, 0x04, 0x09, 0x83, 0xFF] {
        assert_eq!(
            err(&d.handle_ctap1(&auth_apdu(p1, &app, &r.key_handle))),
            SW_WRONG_DATA
        );
    }
    let good = auth_data(&CHALLENGE, &app, &r.key_handle);
    // Shorter than the fixed part, a key handle length byte that lies.
    for data in [
        good[..64].to_vec(),
        good[..65].to_vec(),
        good[..good.len() - 1].to_vec(),
        [good.clone(), vec![0]].concat(),
    ] {
        assert_eq!(
            err(&d.handle_ctap1(&ext(0, INS_AUTHENTICATE, P1_ENFORCE_UP, &data, true))),
            SW_WRONG_LENGTH
        );
    }
    // No data at all.
    assert_eq!(
        err(&d.handle_ctap1(&[0, INS_AUTHENTICATE, P1_ENFORCE_UP, 0])),
        SW_WRONG_LENGTH
    );
}

#[test]
fn authenticate_without_presence() {
    for policy in [PresencePolicy::Deny, PresencePolicy::Timeout] {
        let mut d = device();
        let r = register(&mut d, &app());
        d.env_mut().presence = policy;
        let before = store_snapshot(&d);
        assert_eq!(
            err(&d.handle_ctap1(&auth_apdu(P1_ENFORCE_UP, &app(), &r.key_handle))),
            SW_CONDITIONS_NOT_SATISFIED
        );
        assert_eq!(store_snapshot(&d), before, "the counter did not move");
        d.env_mut().presence = PresencePolicy::Approve;
        assert_eq!(
            authenticate(&mut d, P1_ENFORCE_UP, &app(), &r.key_handle).counter,
            1
        );
    }
}

#[test]
fn counter_modes() {
    // Per credential: independent counters.
    let mut d = device();
    let a = register(&mut d, &app());
    let b = register(&mut d, &app());
    assert_eq!(
        authenticate(&mut d, P1_ENFORCE_UP, &app(), &a.key_handle).counter,
        1
    );
    assert_eq!(
        authenticate(&mut d, P1_ENFORCE_UP, &app(), &a.key_handle).counter,
        2
    );
    assert_eq!(
        authenticate(&mut d, P1_ENFORCE_UP, &app(), &b.key_handle).counter,
        1
    );

    // Global: shared with every credential, CTAP2 ones included. U2F
    // registration has no counter and does not advance it.
    let mut d = device_with(DeviceConfig {
        counter_mode: CounterMode::Global,
        ..DeviceConfig::default()
    });
    let a = register(&mut d, &app());
    let b = register(&mut d, &app());
    assert_eq!(
        authenticate(&mut d, P1_ENFORCE_UP, &app(), &a.key_handle).counter,
        1
    );
    assert_eq!(
        authenticate(&mut d, P1_ENFORCE_UP, &app(), &b.key_handle).counter,
        2
    );
    let (id, _) = make_credential(&mut d, -7, false);
    assert_eq!(authenticate(&mut d, P1_ENFORCE_UP, &app(), &id).counter, 4);

    // Always zero, and nothing stored.
    let mut d = device_with(DeviceConfig {
        counter_mode: CounterMode::AlwaysZero,
        ..DeviceConfig::default()
    });
    let a = register(&mut d, &app());
    let before = store_snapshot(&d);
    for _ in 0..3 {
        let s = authenticate(&mut d, P1_ENFORCE_UP, &app(), &a.key_handle);
        assert_eq!(s.counter, 0);
        verify_auth(&s, &app(), &a.public);
    }
    assert_eq!(store_snapshot(&d), before);
}

#[test]
fn counter_is_monotonic() {
    let mut d = device();
    let r = register(&mut d, &app());
    let mut last = 0;
    for i in 0..50 {
        let p1 = if i % 2 == 0 {
            P1_ENFORCE_UP
        } else {
            P1_DONT_ENFORCE_UP
        };
        let s = authenticate(&mut d, p1, &app(), &r.key_handle);
        assert!(s.counter > last);
        last = s.counter;
        // Interleaved CTAP2 assertions share it.
        let (ad, _) = get_assertion(&mut d, RP, &r.key_handle).unwrap();
        assert!(ad_counter(&ad) > last);
        last = ad_counter(&ad);
    }
    assert_eq!(last, 100);
}

// --------------------------------------------------------- interop with CTAP2

#[test]
fn ctap2_credentials_answer_u2f() {
    for rk in [false, true] {
        let mut d = device();
        let (id, public) = make_credential(&mut d, -7, rk);
        // RP ID hash = application parameter.
        let s = authenticate(&mut d, P1_ENFORCE_UP, &app(), &id);
        assert_eq!((s.presence, s.counter), (USER_PRESENT, 1));
        verify_auth(&s, &app(), &public);
        assert_eq!(
            err(&d.handle_ctap1(&auth_apdu(P1_CHECK_ONLY, &app(), &id))),
            SW_CONDITIONS_NOT_SATISFIED
        );
        // The counter is the one getAssertion uses.
        let (ad, _) = get_assertion(&mut d, RP, &id).unwrap();
        assert_eq!(ad_counter(&ad), 2);
        assert_eq!(authenticate(&mut d, P1_ENFORCE_UP, &app(), &id).counter, 3);
        // Not for another application parameter.
        assert_eq!(
            err(&d.handle_ctap1(&auth_apdu(P1_ENFORCE_UP, &sha256(b"example.org"), &id))),
            SW_WRONG_DATA
        );
    }
}

#[test]
fn eddsa_credentials_are_a_bad_key_handle() {
    let mut d = device();
    let (id, _) = make_credential(&mut d, -8, false);
    assert!(
        get_assertion(&mut d, RP, &id).is_ok(),
        "a valid CTAP2 credential"
    );
    for p1 in [P1_CHECK_ONLY, P1_ENFORCE_UP, P1_DONT_ENFORCE_UP] {
        assert_eq!(
            err(&d.handle_ctap1(&auth_apdu(p1, &app(), &id))),
            SW_WRONG_DATA
        );
    }
}

#[test]
fn cred_protect_uv_required_is_a_bad_key_handle() {
    let mut d = device();
    for (level, usable) in [(1, true), (2, true), (3, false)] {
        let key = PrivateKey::generate(Algorithm::Es256, &mut d.env.rng);
        let sealed = seal::Sealed {
            key,
            discoverable: false,
            cred_protect: level,
        };
        let id = seal::seal(&d.master, &app(), &sealed, &mut d.env.rng);
        let resp = d.handle_ctap1(&auth_apdu(P1_ENFORCE_UP, &app(), &id));
        if usable {
            ok(&resp);
        } else {
            assert_eq!(err(&resp), SW_WRONG_DATA);
        }
    }
}

#[test]
fn u2f_key_handles_answer_ctap2_get_assertion() {
    let mut d = device();
    let r = register(&mut d, &app());
    let (ad, sig) = get_assertion(&mut d, RP, &r.key_handle).unwrap();
    assert_eq!(&ad[..32], &app());
    assert_eq!(ad[32], crate::auth_data::flags::UP);
    assert_eq!(ad_counter(&ad), 1);
    let mut signed = ad.clone();
    signed.extend_from_slice(&CHALLENGE);
    assert!(
        r.public.verify(&signed, &sig),
        "CTAP2 signature with the U2F key"
    );
    // Shared counter, both ways.
    assert_eq!(
        authenticate(&mut d, P1_ENFORCE_UP, &app(), &r.key_handle).counter,
        2
    );
    // Another RP ID does not find it (CTAP2_ERR_NO_CREDENTIALS).
    assert_eq!(
        get_assertion(&mut d, "example.org", &r.key_handle),
        Err(0x2E)
    );
}

#[test]
fn reset_invalidates_u2f_key_handles() {
    let mut d = device();
    let r = register(&mut d, &app());
    assert_eq!(d.handle(&[0x07]), vec![0x00]);
    assert_eq!(
        err(&d.handle_ctap1(&auth_apdu(P1_CHECK_ONLY, &app(), &r.key_handle))),
        SW_WRONG_DATA
    );
}

#[test]
fn a_u2f_message_ends_a_get_assertion_sequence() {
    let mut d = device();
    make_credential(&mut d, -7, true);
    // Another user: two discoverable credentials for the RP.
    let mut m = MapBuilder::new()
        .int(1, cbor::bytes(CHALLENGE.to_vec()))
        .int(2, MapBuilder::new().text("id", RP).build())
        .int(
            3,
            MapBuilder::new().text("id", cbor::bytes(vec![9])).build(),
        )
        .int(
            4,
            Value::Array(vec![MapBuilder::new()
                .text("alg", -7)
                .text("type", "public-key")
                .build()]),
        );
    m = m.int(
        7,
        MapBuilder::new().text("rk", true).text("uv", true).build(),
    );
    let mut req = vec![0x01];
    req.extend(cbor::encode(&m.build()));
    assert_eq!(d.handle(&req)[0], 0);
    let mut ga = vec![0x02];
    ga.extend(cbor::encode(
        &MapBuilder::new()
            .int(1, RP)
            .int(2, cbor::bytes(CHALLENGE.to_vec()))
            .build(),
    ));
    assert_eq!(d.handle(&ga)[0], 0);
    assert!(d.next_assertion.is_some());
    d.handle_ctap1(&[0, 3, 0, 0]);
    assert_eq!(d.handle(&[0x08]), vec![0x30], "CTAP2_ERR_NOT_ALLOWED");
}

// -------------------------------------------------------------- robustness

#[test]
fn no_panic_on_random_and_mutated_input() {
    use rand_core::Rng;
    let mut d = device();
    let r = register(&mut d, &app());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
    let seeds = [
        register_apdu(&CHALLENGE, &app()),
        auth_apdu(P1_ENFORCE_UP, &app(), &r.key_handle),
        short(
            INS_AUTHENTICATE,
            P1_CHECK_ONLY,
            &auth_data(&CHALLENGE, &app(), &r.key_handle),
            true,
        ),
        fido2_style(INS_VERSION, 0, &[]),
    ];
    let known = [
        SW_NO_ERROR,
        SW_CONDITIONS_NOT_SATISFIED,
        SW_WRONG_DATA,
        SW_WRONG_LENGTH,
        SW_CLA_NOT_SUPPORTED,
        SW_INS_NOT_SUPPORTED,
    ];
    for i in 0..3000 {
        let mut msg = seeds[i % seeds.len()].clone();
        let flips = 1 + (rng.next_u32() % 4) as usize;
        for _ in 0..flips {
            let pos = rng.next_u32() as usize % msg.len();
            msg[pos] = rng.next_u32() as u8;
        }
        if rng.next_u32() % 5 == 0 {
            msg.truncate(rng.next_u32() as usize % msg.len());
        }
        let resp = d.handle_ctap1(&msg);
        assert!(
            known.contains(&sw(&resp)),
            "{:04x} for {msg:02x?}",
            sw(&resp)
        );
    }
    // Pure noise, of every length up to a few hundred bytes.
    for len in 0..600 {
        let mut msg = vec![0u8; len];
        rng.fill_bytes(&mut msg);
        if len > 0 && rng.next_u32() % 2 == 0 {
            msg[0] = 0;
        }
        let resp = d.handle_ctap1(&msg);
        assert!(known.contains(&sw(&resp)));
    }
    // The largest extended APDU.
    let big = ext(0, INS_AUTHENTICATE, P1_ENFORCE_UP, &vec![0u8; 65535], true);
    assert_eq!(err(&d.handle_ctap1(&big)), SW_WRONG_LENGTH);
}

#[test]
fn deterministic_with_a_seeded_environment() {
    let run = || {
        let mut d = device();
        let reg = d.handle_ctap1(&register_apdu(&CHALLENGE, &app()));
        let kh = parse_register(ok(&reg)).key_handle;
        let auth = d.handle_ctap1(&auth_apdu(P1_ENFORCE_UP, &app(), &kh));
        (reg, auth)
    };
    assert_eq!(run(), run());
}
