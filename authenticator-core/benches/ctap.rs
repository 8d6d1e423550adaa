//! CTAP2 command latency next to the raw cryptography each command needs.
//!
//! Two groups, each measuring a full `Authenticator::handle` call beside the
//! least work any implementation must do for it:
//!
//! * `get_assertion`: getAssertion (no allowList) for an RP that has one
//!   discoverable credential among 10,000 in the store, beside one raw
//!   signature over 37 + 32 bytes with a ready signing key; for ES256 and
//!   for EdDSA.
//! * `make_credential`: makeCredential with packed self attestation
//!   (non-discoverable) beside key generation plus one signature over a
//!   message of the same size as authData ‖ clientDataHash; and a
//!   discoverable makeCredential with `none` attestation beside key
//!   generation alone (it signs nothing). For ES256 and for EdDSA.
//! * `discoverable_replace`: a discoverable makeCredential that replaces
//!   the user's older credential (CTAP 2.1 §6.1.2 step 17) for an RP with
//!   10,000 other users' credentials, beside the same for an RP with none:
//!   finding the credential to replace must not depend on how many the RP
//!   has.
//!
//! Run with `cargo bench -p authenticator-core --bench ctap`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::config::AttestationMode;
use authenticator_core::crypto::keys::{Algorithm, PrivateKey};
use authenticator_core::crypto::sha256;
use authenticator_core::env::{PresencePolicy, TestEnv};
use authenticator_core::store::{Credential, CredentialStore, User};
use authenticator_core::{AttestationIdentity, Authenticator, DeviceConfig};
use criterion::{criterion_main, Criterion};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The RP whose single credential the getAssertion benchmark uses.
const BENCH_RP: &str = "bench.example";
/// Discoverable credentials in the store, all RPs together.
const STORED_CREDENTIALS: usize = 10_000;
/// Other RPs the remaining credentials are spread over.
const OTHER_RPS: usize = 100;
/// Size of an assertion's authData (no extensions) ‖ clientDataHash.
const ASSERTION_SIGNED_LEN: usize = 37 + 32;

fn identity(rng: &mut ChaCha20Rng) -> AttestationIdentity {
    AttestationIdentity::generate(rng, [0x42; 16], "fidosim bench", "fidosim bench batch").unwrap()
}

fn env(seed: u64) -> TestEnv {
    let mut env = TestEnv::seeded(seed);
    env.presence = PresencePolicy::Approve;
    env
}

fn stored_credential(rng: &mut ChaCha20Rng, index: usize, rp_id: &str) -> Credential {
    stored_credential_with(rng, index, rp_id, Algorithm::Es256)
}

fn stored_credential_with(
    rng: &mut ChaCha20Rng,
    index: usize,
    rp_id: &str,
    alg: Algorithm,
) -> Credential {
    let mut id = vec![0xC0];
    id.extend_from_slice(&u32::try_from(index).unwrap().to_be_bytes());
    id.extend_from_slice(&sha256(&id)[..27]);
    Credential {
        id,
        rp_id: rp_id.to_owned(),
        rp_id_hash: sha256(rp_id.as_bytes()),
        rp_name: Some(format!("RP for {rp_id}")),
        user: User {
            id: format!("user-{index}").into_bytes(),
            name: Some(format!("user{index}@{rp_id}")),
            display_name: Some(format!("User {index}")),
        },
        key: PrivateKey::generate(alg, rng),
        discoverable: true,
        cred_protect: 0,
        cred_blob: None,
        created_order: u64::try_from(index).unwrap(),
    }
}

/// An authenticator whose store holds [`STORED_CREDENTIALS`] discoverable
/// ES256 credentials, exactly one of them for [`BENCH_RP`], of `alg`.
fn populated_authenticator(alg: Algorithm) -> Authenticator<TestEnv> {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let identity = identity(&mut rng);
    let mut env = env(1);
    for i in 0..STORED_CREDENTIALS - 1 {
        let rp = format!("rp{}.example", i % OTHER_RPS);
        env.store
            .save(stored_credential(&mut rng, i, &rp), None, 0)
            .unwrap();
    }
    env.store
        .save(
            stored_credential_with(&mut rng, STORED_CREDENTIALS - 1, BENCH_RP, alg),
            None,
            0,
        )
        .unwrap();
    assert_eq!(
        env.store.count_discoverable().unwrap(),
        STORED_CREDENTIALS,
        "store population"
    );
    Authenticator::new(DeviceConfig::default(), identity, env).unwrap()
}

fn get_assertion_request() -> Vec<u8> {
    let params = MapBuilder::new()
        .int(0x01, BENCH_RP)
        .int(0x02, cbor::bytes([0x5A; 32]))
        .build();
    let mut msg = vec![0x02];
    msg.extend_from_slice(&cbor::encode(&params));
    msg
}

fn make_credential_request_for(rp_id: &str, discoverable: bool) -> Vec<u8> {
    make_credential_request_with(rp_id, discoverable, Algorithm::Es256)
}

fn make_credential_request_with(rp_id: &str, discoverable: bool, alg: Algorithm) -> Vec<u8> {
    let alg = MapBuilder::new()
        .text("alg", alg.cose())
        .text("type", "public-key")
        .build();
    let params = MapBuilder::new()
        .int(0x01, cbor::bytes([0x5A; 32]))
        .int(
            0x02,
            MapBuilder::new()
                .text("id", rp_id)
                .text("name", "Bench")
                .build(),
        )
        .int(
            0x03,
            MapBuilder::new()
                .text("id", cbor::bytes(b"bench-user".to_vec()))
                .text("name", "bench@bench.example")
                .text("displayName", "Bench User")
                .build(),
        )
        .int(0x04, Value::Array(vec![alg]))
        .int(
            0x07,
            if discoverable {
                MapBuilder::new().text("rk", true).text("uv", true).build()
            } else {
                MapBuilder::new().text("rk", false).build()
            },
        )
        .build();
    let mut msg = vec![0x01];
    msg.extend_from_slice(&cbor::encode(&params));
    msg
}

/// authData of a makeCredential with a sealed 63-byte credential ID and a
/// 77-byte ES256 COSE key: 37 + 16 + 2 + 63 + 77 bytes.
const MAKE_CREDENTIAL_AUTH_DATA_LEN: usize = 37 + 16 + 2 + 63 + 77;

/// The Ed25519 counterpart: a 42-byte OKP COSE key.
const MAKE_CREDENTIAL_AUTH_DATA_LEN_EDDSA: usize = 37 + 16 + 2 + 63 + 42;

/// A raw signer built from the same crates the authenticator uses.
enum RawKey {
    Es256(SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
}

impl RawKey {
    /// A fresh key: for P-256 the scalar and its public point, for Ed25519
    /// the seed, its expanded secret and its public point — what
    /// makeCredential must compute to answer with a COSE public key.
    fn generate(alg: Algorithm, rng: &mut ChaCha20Rng) -> Self {
        match alg {
            Algorithm::Es256 => Self::Es256(SigningKey::generate_from_rng(rng)),
            Algorithm::EdDsa => Self::EdDsa(ed25519_dalek::SigningKey::generate(rng)),
            other => panic!("no raw reference signer for {other:?}"),
        }
    }

    /// One signature as it goes on the wire (DER for ECDSA).
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Self::Es256(k) => {
                let sig: DerSignature = k.sign(msg);
                sig.as_bytes().to_vec()
            }
            Self::EdDsa(k) => k.sign(msg).to_bytes().to_vec(),
        }
    }
}

fn bench_get_assertion(c: &mut Criterion) {
    let mut group = c.benchmark_group("get_assertion");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for (alg, name, raw) in [
        (Algorithm::Es256, "get_assertion_es256_10k", "raw_p256_sign"),
        (
            Algorithm::EdDsa,
            "get_assertion_eddsa_10k",
            "raw_ed25519_sign",
        ),
    ] {
        let mut authenticator = populated_authenticator(alg);
        let request = get_assertion_request();
        // Sanity: exactly one credential answers, and it is a success.
        let first = authenticator.handle(&request);
        assert_eq!(first[0], 0x00, "getAssertion status");
        let body = cbor::decode(&first[1..]).unwrap();
        let Value::Map(entries) = body else {
            panic!("getAssertion body is not a map")
        };
        assert!(
            !entries.iter().any(|(k, _)| *k == Value::from(5)),
            "numberOfCredentials must be absent for a single credential"
        );

        let mut rng = ChaCha20Rng::seed_from_u64(99);
        let key = RawKey::generate(alg, &mut rng);
        let message = [0xA5u8; ASSERTION_SIGNED_LEN];
        group.bench_function(name, |b| {
            b.iter(|| {
                let response = authenticator.handle(black_box(&request));
                // TestEnv logs every presence request; keep the log from growing.
                authenticator.env_mut().presence_log.clear();
                response
            });
        });
        group.bench_function(raw, |b| b.iter(|| key.sign(black_box(&message))));
    }
    group.finish();
}

/// The length of the authData in a makeCredential answer.
fn auth_data_len(response: &[u8]) -> Option<usize> {
    let Value::Map(entries) = cbor::decode(&response[1..]).ok()? else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| *k == Value::from(2))
        .and_then(|(_, v)| v.as_bytes())
        .map(Vec::len)
}

fn bench_make_credential(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let mut group = c.benchmark_group("make_credential");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for (alg, suffix, raw, auth_data) in [
        (
            Algorithm::Es256,
            "es256",
            "p256",
            MAKE_CREDENTIAL_AUTH_DATA_LEN,
        ),
        (
            Algorithm::EdDsa,
            "eddsa",
            "ed25519",
            MAKE_CREDENTIAL_AUTH_DATA_LEN_EDDSA,
        ),
    ] {
        // Non-discoverable, packed self attestation: a key pair and one
        // signature by the new key.
        let config = DeviceConfig {
            attestation: AttestationMode::SelfAttestation,
            ..DeviceConfig::default()
        };
        let mut authenticator = Authenticator::new(config, identity(&mut rng), env(2)).unwrap();
        let request = make_credential_request_with(BENCH_RP, false, alg);
        let first = authenticator.handle(&request);
        assert_eq!(first[0], 0x00, "makeCredential status");
        assert_eq!(auth_data_len(&first), Some(auth_data));
        let message = vec![0xA5u8; auth_data + 32];
        let message = message.as_slice();
        let packed_self = format!("make_credential_{suffix}_packed_self");
        group.bench_function(packed_self.as_str(), |b| {
            b.iter(|| {
                let response = authenticator.handle(black_box(&request));
                authenticator.env_mut().presence_log.clear();
                response
            });
        });
        group.bench_function(format!("raw_{raw}_keygen_and_sign"), |b| {
            b.iter(|| RawKey::generate(alg, &mut rng).sign(black_box(message)));
        });

        // Discoverable with `none` attestation: a key pair, stored; nothing
        // is signed. The same user each time, so each one replaces the last
        // (CTAP 2.1 §6.1.2 step 17) and the store keeps its size.
        let config = DeviceConfig {
            attestation: AttestationMode::None,
            ..DeviceConfig::default()
        };
        let mut authenticator = Authenticator::new(config, identity(&mut rng), env(5)).unwrap();
        let request = make_credential_request_with(BENCH_RP, true, alg);
        assert_eq!(authenticator.handle(&request)[0], 0x00, "discoverable");
        assert_eq!(authenticator.handle(&request)[0], 0x00, "replaced");
        assert_eq!(authenticator.env().store.count_discoverable().unwrap(), 1);
        group.bench_function(format!("make_credential_{suffix}_discoverable_none"), |b| {
            b.iter(|| {
                let response = authenticator.handle(black_box(&request));
                authenticator.env_mut().presence_log.clear();
                response
            });
        });
        group.bench_function(format!("raw_{raw}_keygen"), |b| {
            b.iter(|| RawKey::generate(alg, &mut rng));
        });
    }
    group.finish();
}

/// Discoverable credentials of other users for the crowded RP.
const CROWDED_RP_CREDENTIALS: usize = 10_000;

fn bench_discoverable_replace(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let mut crowded = env(3);
    for i in 0..CROWDED_RP_CREDENTIALS {
        crowded
            .store
            .save(stored_credential(&mut rng, i, "crowded.example"), None, 0)
            .unwrap();
    }
    let mut group = c.benchmark_group("discoverable_replace");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for (name, rp, env) in [
        ("rp_with_10k_credentials", "crowded.example", crowded),
        ("rp_alone", "alone.example", env(4)),
    ] {
        let mut authenticator =
            Authenticator::new(DeviceConfig::default(), identity(&mut rng), env).unwrap();
        let request = make_credential_request_for(rp, true);
        // The first one stores bench-user's credential; each later one
        // replaces it, so the store keeps its size.
        assert_eq!(authenticator.handle(&request)[0], 0x00, "{name}");
        let before = authenticator.env().store.count_discoverable().unwrap();
        assert_eq!(authenticator.handle(&request)[0], 0x00, "{name}");
        assert_eq!(
            authenticator.env().store.count_discoverable().unwrap(),
            before,
            "{name}: replaced, not added"
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let response = authenticator.handle(black_box(&request));
                authenticator.env_mut().presence_log.clear();
                response
            });
        });
    }
    group.finish();
}

/// One credential signature (authData ‖ clientDataHash of an assertion)
/// per algorithm, through `PrivateKey::sign`: what each algorithm costs an
/// assertion, in one run so the ratios between them hold.
fn bench_sign(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(17);
    let mut group = c.benchmark_group("sign");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let message = [0xA5u8; ASSERTION_SIGNED_LEN];
    for alg in Algorithm::ALL {
        let key = PrivateKey::generate(alg, &mut rng);
        let public = key.public_key().unwrap();
        assert!(public.verify(&message, &key.sign(&message).unwrap()));
        group.bench_function(alg.name(), |b| b.iter(|| key.sign(black_box(&message))));
    }
    group.finish();
}

/// The groups; written out rather than with `criterion_group!`, whose
/// generated function carries no documentation.
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench_get_assertion(&mut c);
    bench_make_credential(&mut c);
    bench_discoverable_replace(&mut c);
    bench_sign(&mut c);
}

criterion_main!(benches);
