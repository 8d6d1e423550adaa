//! Throughput of the response pipeline: how many WebAuthn responses per
//! second the client makes against fidosim's in-process authenticator
//! (options parsed, clientDataJSON built, the CTAP2 request encoded,
//! handled and signed, the JSON response built), beside the bare
//! authenticator doing the same CTAP2 request, measured in one run.
#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

use authenticator_core::env::TestEnv;
use authenticator_core::{AttestationIdentity, Authenticator, DeviceConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fidosim_webauthn::json::{self, RequestOptions};
use fidosim_webauthn::{Client, CtapDevice};
use rand_chacha::rand_core::SeedableRng;

fn bench(c: &mut Criterion) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let identity = AttestationIdentity::generate(&mut rng, [0; 16], "bench", "bench").unwrap();
    let mut device =
        Authenticator::new(DeviceConfig::default(), identity, TestEnv::seeded(1)).unwrap();
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

criterion_group!(benches, bench);
criterion_main!(benches);
