//! getAssertion over the UDP transport (the daemon in a child process,
//! driven by the tests crate's CTAPHID client) beside the same request
//! handled in-process, measured in one run; and what the durable state
//! costs: the same requests against a daemon with a state file.
#![allow(clippy::unwrap_used)]
// criterion_group! generates undocumented items.
#![allow(missing_docs)]

use std::path::Path;
use std::time::Duration;

use authenticator_core::env::TestEnv;
use authenticator_core::{AttestationIdentity, Authenticator, DeviceConfig};
use criterion::{criterion_group, criterion_main, Criterion};
use fidosim_tests::daemon::Daemon;
use fidosim_tests::hid::UdpHid;
use fidosim_tests::requests;
use rand_core::SeedableRng;

const CDH: [u8; 32] = [7; 32];

fn make_credential() -> Vec<u8> {
    requests::make_credential("bench.example", &CDH, &[1])
}

fn get_assertion(cred_id: &[u8]) -> Vec<u8> {
    requests::get_assertion("bench.example", &CDH, cred_id)
}

fn credential_id(resp: &[u8]) -> Vec<u8> {
    requests::credential_id(resp).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("get_assertion_transport");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(50);

    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let identity = AttestationIdentity::generate(&mut rng, [0; 16], "bench", "bench").unwrap();
    let mut local =
        Authenticator::new(DeviceConfig::default(), identity, TestEnv::seeded(1)).unwrap();
    let id = credential_id(&local.handle(&make_credential()));
    let req = get_assertion(&id);
    group.bench_function("in_process", |b| {
        b.iter(|| {
            let r = local.handle(&req);
            assert_eq!(r[0], 0);
        })
    });

    let daemon = Daemon::udp_with_log(
        Path::new(env!("CARGO_BIN_EXE_fidosim")),
        &[],
        "fidosim=info,uhid_device=warn",
    );
    let hid = UdpHid::connect(daemon.addr).unwrap();
    let cid = hid.init().unwrap();
    let (resp, _) = hid
        .cbor(cid, &make_credential(), Duration::from_secs(5))
        .unwrap();
    let req = get_assertion(&credential_id(&resp));
    group.bench_function("udp_round_trip", |b| {
        b.iter(|| {
            let (r, _) = hid.cbor(cid, &req, Duration::from_secs(5)).unwrap();
            assert_eq!(r[0], 0);
        })
    });
    group.finish();
    drop(daemon);

    // The durable state: getAssertion commits a counter reservation once
    // per 32 signatures; a discoverable makeCredential commits (fsync)
    // every credential.
    let dir = std::env::temp_dir().join(format!("fidosim-bench-{}", std::process::id()));
    let state = dir.join("state.redb");
    let mut group = c.benchmark_group("durable_state");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(30);
    for (name, args) in [
        ("ephemeral", vec![]),
        ("state_file", vec!["--state", state.to_str().unwrap()]),
    ] {
        let daemon = Daemon::udp_with_log(
            Path::new(env!("CARGO_BIN_EXE_fidosim")),
            &args,
            "fidosim=info,uhid_device=warn",
        );
        let hid = UdpHid::connect(daemon.addr).unwrap();
        let cid = hid.init().unwrap();
        let (resp, _) = hid
            .cbor(cid, &make_credential(), Duration::from_secs(5))
            .unwrap();
        let req = get_assertion(&credential_id(&resp));
        group.bench_function(format!("get_assertion/{name}"), |b| {
            b.iter(|| {
                let (r, _) = hid.cbor(cid, &req, Duration::from_secs(5)).unwrap();
                assert_eq!(r[0], 0);
            })
        });
        let mut user = 0u64;
        group.bench_function(format!("make_discoverable/{name}"), |b| {
            b.iter(|| {
                user += 1;
                let req = requests::make_discoverable("bench.example", &CDH, &user.to_be_bytes());
                let (r, _) = hid.cbor(cid, &req, Duration::from_secs(5)).unwrap();
                assert_eq!(r[0], 0);
            })
        });
        drop(daemon);
    }
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
