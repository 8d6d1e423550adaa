//! Helpers shared by the fuzz targets: a once-built attestation identity,
//! fresh authenticators, and the checks every CTAP2 response must pass;
//! and the logic of the targets, as library functions that the replay
//! test (`tests/replay.rs`) calls on the committed corpus too.

pub mod control_api;
pub mod ctaphid;
pub mod request_decode;
pub mod state;
pub mod stateful;

/// `T` from the fuzzer's bytes as libfuzzer-sys's `fuzz_target!` decodes a
/// typed input (`arbitrary_take_rest`; too short or undecodable is no
/// input), so that the library functions see what the targets see.
pub fn decode<'a, T: arbitrary::Arbitrary<'a>>(data: &'a [u8]) -> Option<T> {
    if data.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(arbitrary::Unstructured::new(data)).ok()
}

use std::sync::OnceLock;

use authenticator_core::cbor::{self, Value};
use authenticator_core::crypto::keys::{Algorithm, PrivateKey, PublicKey};
use authenticator_core::env::TestEnv;
use authenticator_core::status::StatusCode;
use authenticator_core::{AttestationIdentity, Authenticator, DeviceConfig};

/// Things that are slow to make and the same for every input.
pub struct Fixture {
    /// The attestation CA and batch certificate (a few ms to generate).
    pub identity: AttestationIdentity,
    /// The public key of the batch certificate, to check `packed` full
    /// attestation signatures.
    pub batch_public: PublicKey,
    /// A pre-generated key for credentials placed directly in the store.
    pub es256_key: PrivateKey,
    /// Another, EdDSA.
    pub eddsa_key: PrivateKey,
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut env = TestEnv::seeded(0xF1D0);
        let identity = AttestationIdentity::generate(
            &mut env.rng,
            authenticator_core::config::DEFAULT_AAGUID,
            "fidosim fuzz",
            "fidosim fuzz batch",
        )
        .expect("attestation identity");
        let (_, _, batch_key, _) = identity.to_parts();
        let batch_public = PrivateKey::from_bytes(Algorithm::Es256, batch_key.as_ref())
            .and_then(|k| k.public_key())
            .expect("batch key");
        Fixture {
            identity,
            batch_public,
            es256_key: PrivateKey::generate(Algorithm::Es256, &mut env.rng),
            eddsa_key: PrivateKey::generate(Algorithm::EdDsa, &mut env.rng),
        }
    })
}

/// A fresh authenticator over `env` with `config` and the fixture identity.
pub fn authenticator(config: DeviceConfig, env: TestEnv) -> Authenticator<TestEnv> {
    Authenticator::new(config, fixture().identity.clone(), env).expect("authenticator setup")
}

/// The checks that hold for any response to any message:
///
/// * the response is non-empty and its first byte is a status code the
///   spec names;
/// * an error is the status byte alone;
/// * a success without a body is exactly one of those the spec answers
///   with CTAP2_OK alone (see [`empty_success`]); any other success has a
///   body that decodes as a CBOR map (within the CTAP nesting limit) and is
///   in CTAP2 canonical form.
///
/// Returns the decoded body of a success that has one.
pub fn check_response(message: &[u8], response: &[u8]) -> Option<Vec<(Value, Value)>> {
    assert!(!response.is_empty(), "empty response to {message:02x?}");
    let status = response[0];
    assert!(
        StatusCode::from_known(status).is_some(),
        "unknown status byte {status:#04x} for {message:02x?}"
    );
    if status != StatusCode::Success as u8 {
        assert_eq!(
            response.len(),
            1,
            "error {status:#04x} with a body: {response:02x?}"
        );
        return None;
    }
    let cmd = *message.first().expect("a success needs a command byte");
    let body = &response[1..];
    if empty_success(message) {
        assert!(body.is_empty(), "cmd {cmd:#04x} success with a body");
        return None;
    }
    assert!(
        cbor::is_canonical(body),
        "cmd {cmd:#04x}: non-canonical body {body:02x?}"
    );
    match cbor::decode(body) {
        Ok(Value::Map(entries)) => Some(entries),
        other => panic!("cmd {cmd:#04x}: body is not a CBOR map: {other:?}"),
    }
}

/// Whether a success of `message` is CTAP2_OK alone: reset (CTAP 2.1 §6.6),
/// selection (§6.9), the clientPIN subcommands setPIN and changePIN
/// (§6.5.5.5, §6.5.5.6), a largeBlobs write (§6.10.2 step 5: "CTAP2_OK and
/// an empty response"), every authenticatorConfig subcommand (§6.11) and
/// the credential management subcommands deleteCredential and
/// updateUserInformation (§6.8.5, §6.8.6).
pub fn empty_success(message: &[u8]) -> bool {
    use authenticator_core::wire::{client_pin, config, cred_mgmt, large_blobs};
    match message.split_first() {
        Some((0x07 | 0x0B, _)) => true,
        Some((0x06, params)) => client_pin::Request::decode(params).is_ok_and(|r| {
            matches!(
                r.sub_command,
                client_pin::SubCommand::SetPin | client_pin::SubCommand::ChangePin
            )
        }),
        Some((0x0C, params)) => large_blobs::Request::decode(params).is_ok_and(|r| r.set.is_some()),
        Some((0x0D, params)) => config::Request::decode(params).is_ok(),
        Some((0x0A | 0x41, params)) => cred_mgmt::Request::decode(params).is_ok_and(|r| {
            matches!(
                r.sub_command,
                cred_mgmt::SubCommand::DeleteCredential
                    | cred_mgmt::SubCommand::UpdateUserInformation
            )
        }),
        _ => false,
    }
}

/// The value under integer key `key` of a decoded map.
pub fn field(map: &[(Value, Value)], key: i64) -> Option<&Value> {
    map.iter()
        .find(|(k, _)| matches!(k, Value::Integer(i) if i128::from(*i) == i128::from(key)))
        .map(|(_, v)| v)
}

/// The value under text key `key` of a decoded map.
pub fn text_field<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
        .map(|(_, v)| v)
}

/// A COSE_Key (ES256 EC2 or EdDSA OKP) as a [`PublicKey`].
pub fn public_key_from_cose(cose: &Value) -> PublicKey {
    let Value::Map(m) = cose else {
        panic!("COSE key is not a map: {cose:?}")
    };
    let int = |k: i64| {
        field(m, k)
            .and_then(|v| v.as_integer())
            .map(i128::from)
            .unwrap_or_else(|| panic!("COSE key without integer {k}: {cose:?}"))
    };
    let bytes = |k: i64| {
        field(m, k)
            .and_then(|v| v.as_bytes())
            .cloned()
            .unwrap_or_else(|| panic!("COSE key without bytes {k}: {cose:?}"))
    };
    match (int(1), int(3)) {
        // kty EC2, alg ES256, crv P-256
        (2, -7) => {
            assert_eq!(int(-1), 1, "ES256 key not on P-256");
            let (x, y) = (bytes(-2), bytes(-3));
            assert_eq!((x.len(), y.len()), (32, 32), "P-256 coordinate lengths");
            let point = p256::Sec1Point::from_affine_coordinates(
                &p256::FieldBytes::try_from(x.as_slice()).expect("P-256 x"),
                &p256::FieldBytes::try_from(y.as_slice()).expect("P-256 y"),
                false,
            );
            let vk = p256::ecdsa::VerifyingKey::from_sec1_point(&point)
                .expect("ES256 public key is not a curve point");
            PublicKey::Es256(vk)
        }
        // kty EC2 with ES384 on P-384 (crv 2), ES512 on P-521 (crv 3),
        // ES256K on secp256k1 (crv 8; RFC 8812 §3.1)
        (2, alg @ (-35 | -36 | -47)) => {
            let (crv, len) = match alg {
                -35 => (2, 48),
                -36 => (3, 66),
                _ => (8, 32),
            };
            assert_eq!(int(-1), crv, "COSE alg {alg} on the wrong curve");
            let (x, y) = (bytes(-2), bytes(-3));
            assert_eq!((x.len(), y.len()), (len, len), "coordinate lengths");
            let point = [&[4u8][..], &x, &y].concat();
            match alg {
                -35 => PublicKey::Es384(
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).expect("P-384 point"),
                ),
                -36 => PublicKey::Es512(
                    p521::ecdsa::VerifyingKey::from_sec1_bytes(&point).expect("P-521 point"),
                ),
                _ => PublicKey::Es256K(
                    k256::ecdsa::VerifyingKey::from_sec1_bytes(&point).expect("secp256k1 point"),
                ),
            }
        }
        // kty AKP (RFC 9964) with ML-DSA-44, -65 or -87: the FIPS 204
        // public key in -1
        (7, alg @ (-48 | -49 | -50)) => {
            let pk = bytes(-1);
            let (len, key) = match alg {
                -48 => (1312, PublicKey::MlDsa44(pk.clone())),
                -49 => (1952, PublicKey::MlDsa65(pk.clone())),
                _ => (2592, PublicKey::MlDsa87(pk.clone())),
            };
            assert_eq!(pk.len(), len, "ML-DSA public key length");
            key
        }
        // kty OKP, alg EdDSA, crv Ed25519
        (1, -8) => {
            assert_eq!(int(-1), 6, "EdDSA key not on Ed25519");
            let x: [u8; 32] = bytes(-2).try_into().expect("Ed25519 key length");
            PublicKey::EdDsa(
                ed25519_dalek::VerifyingKey::from_bytes(&x).expect("Ed25519 public key"),
            )
        }
        other => panic!("unexpected COSE kty/alg {other:?}"),
    }
}

/// Parsed authenticator data.
#[derive(Debug)]
pub struct ParsedAuthData {
    /// SHA-256 of the RP ID.
    pub rp_id_hash: [u8; 32],
    /// The flags byte.
    pub flags: u8,
    /// The signature counter.
    pub sign_count: u32,
    /// Attested credential data, when AT is set.
    pub attested: Option<Attested>,
    /// The extension outputs (a non-empty, text-keyed, canonical CBOR
    /// map), when ED is set.
    pub extensions: Option<Vec<(Value, Value)>>,
}

/// Attested credential data (WebAuthn §6.5.2).
#[derive(Debug)]
pub struct Attested {
    /// The AAGUID.
    pub aaguid: [u8; 16],
    /// The credential ID.
    pub id: Vec<u8>,
    /// The credential public key.
    pub public: PublicKey,
}

/// Parses authenticator data (WebAuthn §6.1); panics on a malformed one.
pub fn parse_auth_data(ad: &[u8]) -> ParsedAuthData {
    assert!(ad.len() >= 37, "authData too short: {}", ad.len());
    let flags = ad[32];
    assert_eq!(flags & 0x22, 0, "reserved flag bits set: {flags:#04x}");
    let mut rest = &ad[37..];
    let attested = if flags & 0x40 != 0 {
        assert!(rest.len() >= 18, "attested credential data too short");
        let aaguid: [u8; 16] = rest[..16].try_into().expect("16 bytes");
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        rest = &rest[18..];
        assert!(rest.len() >= len, "credential ID runs past authData");
        let id = rest[..len].to_vec();
        rest = &rest[len..];
        let before = rest.len();
        let cose: Value = ciborium::de::from_reader(&mut rest).expect("COSE key CBOR");
        let cose_bytes = &ad[ad.len() - before..ad.len() - rest.len()];
        assert!(
            cbor::is_canonical(cose_bytes),
            "COSE key is not canonical CBOR"
        );
        Some(Attested {
            aaguid,
            id,
            public: public_key_from_cose(&cose),
        })
    } else {
        None
    };
    // WebAuthn §6.1: with ED, the rest is exactly one CBOR map of
    // extension outputs (CTAP 2.1 §8: canonical, text keys).
    let extensions = if flags & 0x80 != 0 {
        assert!(
            cbor::is_canonical(rest),
            "extension outputs are not one canonical CBOR item: {rest:02x?}"
        );
        let Ok(Value::Map(outputs)) = cbor::decode(rest) else {
            panic!("extension outputs are not a map: {rest:02x?}")
        };
        assert!(!outputs.is_empty(), "ED set with no extension output");
        assert!(
            outputs.iter().all(|(k, _)| matches!(k, Value::Text(_))),
            "extension identifiers are not text"
        );
        rest = &[];
        Some(outputs)
    } else {
        None
    };
    assert!(rest.is_empty(), "{} trailing bytes in authData", rest.len());
    ParsedAuthData {
        rp_id_hash: ad[..32].try_into().expect("32 bytes"),
        flags,
        sign_count: u32::from_be_bytes(ad[33..37].try_into().expect("4 bytes")),
        attested,
        extensions,
    }
}
