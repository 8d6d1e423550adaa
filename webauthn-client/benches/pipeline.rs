//! Throughput of the response pipeline: how many WebAuthn responses per
//! second the client makes against fidosim's in-process authenticator
//! (options parsed, clientDataJSON built, the CTAP2 request encoded,
//! handled and signed, the JSON response built), beside the bare
//! authenticator doing the same CTAP2 request, measured in one run.
//!
//! The `cores` group runs the same pipeline on 1, 2, … up to every
//! available core at once, each thread with its own authenticator and
//! client, beside raw P-256 signatures on as many threads: one iteration
//! is one signed response (or signature) whichever thread made it, so
//! responses per second per core is 1 / (time per iteration × threads).
#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

use authenticator_core::env::TestEnv;
use authenticator_core::{AttestationIdentity, Authenticator, DeviceConfig};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fidosim_tests::threads::{on_threads, thread_counts};
use fidosim_webauthn::json::{self, RequestOptions};
use fidosim_webauthn::{Client, CtapDevice};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use rand_chacha::rand_core::SeedableRng;

/// One client with its own authenticator and a registered credential.
struct Rig {
    device: Authenticator<TestEnv>,
    client: Client,
    get: RequestOptions,
    ctap: Vec<u8>,
}

fn rig(seed: u64) -> Rig {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let identity = AttestationIdentity::generate(&mut rng, [0; 16], "bench", "bench").unwrap();
    let mut device =
        Authenticator::new(DeviceConfig::default(), identity, TestEnv::seeded(seed)).unwrap();
    let client = Client::new("https://shop.example");
    let creation: json::CreationOptions = json::parse_options(
        r#"{"rp": {"id": "shop.example", "name": "Shop"},
            "user": {"id": "dXNlcg", "name": "alice", "displayName": "Alice"},
            "challenge": "Y2hhbGxlbmdlLTAxMjM0NTY3",
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}]}"#,
    )
    .unwrap();
    let reg = client.create(&mut device, &creation).unwrap();
    let get: RequestOptions = json::parse_options(&format!(
        r#"{{"challenge": "c2lnbi1pbi0wMTIzNDU2Nzg5", "rpId": "shop.example",
            "userVerification": "discouraged",
            "allowCredentials": [{{"type": "public-key", "id": "{}"}}]}}"#,
        reg.id
    ))
    .unwrap();
    let cred = json::unb64url("id", &reg.id).unwrap();
    let ctap = get_assertion_request(&cred);
    Rig {
        device,
        client,
        get,
        ctap,
    }
}

fn bench(c: &mut Criterion) {
    let Rig {
        mut device,
        client,
        get,
        ctap,
    } = rig(1);
    let mut group = c.benchmark_group("response_pipeline");
    group.throughput(Throughput::Elements(1));
    group.bench_function("authenticator_only", |b| {
        b.iter(|| {
            let r = device.transact(&ctap).unwrap();
            assert_eq!(r[0], 0);
        })
    });
    group.bench_function("client_get_json", |b| {
        b.iter(|| {
            let r = client.get(&mut device, &get).unwrap();
            serde_json::to_string(&r).unwrap()
        })
    });
    group.finish();
}

fn bench_cores(c: &mut Criterion) {
    let counts = thread_counts();
    let mut group = c.benchmark_group("cores");
    group.throughput(Throughput::Elements(1));
    for &threads in &counts {
        let mut rigs: Vec<Rig> = (0..threads).map(|t| rig(10 + t as u64)).collect();
        group.bench_function(BenchmarkId::new("client_get_json", threads), |b| {
            b.iter_custom(|iters| {
                on_threads(&mut rigs, iters, |r: &mut Rig, _| {
                    let resp = r.client.get(&mut r.device, &r.get).unwrap();
                    std::hint::black_box(serde_json::to_string(&resp).unwrap());
                })
            })
        });
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let mut keys: Vec<SigningKey> = (0..threads)
            .map(|_| SigningKey::generate_from_rng(&mut rng))
            .collect();
        let message = [0xA5u8; 37 + 32];
        group.bench_function(BenchmarkId::new("raw_p256_sign", threads), |b| {
            b.iter_custom(|iters| {
                on_threads(&mut keys, iters, |k: &mut SigningKey, _| {
                    let sig: DerSignature = k.sign(std::hint::black_box(&message));
                    std::hint::black_box(sig);
                })
            })
        });
    }
    group.finish();
}

/// The getAssertion the client sends for `get`: rpId, a client data hash,
/// the allowList (CTAP 2.1 §6.2).
fn get_assertion_request(cred: &[u8]) -> Vec<u8> {
    use authenticator_core::cbor::{self, MapBuilder, Value};
    let req = MapBuilder::new()
        .int(1, "shop.example")
        .int(2, cbor::bytes(vec![7; 32]))
        .int(
            3,
            Value::Array(vec![MapBuilder::new()
                .text("id", cbor::bytes(cred.to_vec()))
                .text("type", "public-key")
                .build()]),
        )
        .build();
    [vec![0x02], cbor::encode(&req)].concat()
}

criterion_group!(benches, bench, bench_cores);
criterion_main!(benches);
