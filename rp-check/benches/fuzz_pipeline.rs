//! The fuzz run's own work per iteration — options parsed, a defect
//! applied, the assertion signed, the AuthenticationResponseJSON written —
//! on 1, 2, … up to every available core at once, beside raw P-256
//! signatures on as many threads, measured in one run. One iteration is
//! one signed response (or signature) whichever thread made it, so
//! responses per second per core is 1 / (time per iteration × threads).
//! The RP's HTTP round trips are not part of it: they scale with the RP.
#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

use authenticator_core::crypto::keys::{Algorithm, PrivateKey};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fidosim_rp_check::forge_fuzzed_assertion;
use fidosim_tests::threads::{on_threads, thread_counts};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use rand_chacha::rand_core::SeedableRng;

fn bench(c: &mut Criterion) {
    let counts = thread_counts();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let mut group = c.benchmark_group("fuzz_cores");
    group.throughput(Throughput::Elements(1));
    for &threads in &counts {
        let mut keys: Vec<PrivateKey> = (0..threads)
            .map(|_| PrivateKey::generate(Algorithm::Es256, &mut rng))
            .collect();
        group.bench_function(BenchmarkId::new("forge_fuzzed_assertion", threads), |b| {
            b.iter_custom(|iters| {
                on_threads(&mut keys, iters, |k: &mut PrivateKey, n| {
                    let json = forge_fuzzed_assertion(k, 7, u32::try_from(n % 1000).unwrap());
                    std::hint::black_box(json.unwrap());
                })
            })
        });
        let mut raw: Vec<SigningKey> = (0..threads)
            .map(|_| SigningKey::generate_from_rng(&mut rng))
            .collect();
        let message = [0xA5u8; 37 + 32];
        group.bench_function(BenchmarkId::new("raw_p256_sign", threads), |b| {
            b.iter_custom(|iters| {
                on_threads(&mut raw, iters, |k: &mut SigningKey, _| {
                    let sig: DerSignature = k.sign(std::hint::black_box(&message));
                    std::hint::black_box(sig);
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
