//! Lane assignment and the independence of a fuzz run from its number of
//! workers.

#![allow(clippy::unwrap_used)]

use std::num::NonZeroUsize;
use std::time::Duration;

use rand_chacha::rand_core::{Rng, SeedableRng};

use super::*;

fn jobs(j: usize) -> NonZeroUsize {
    NonZeroUsize::new(j).unwrap()
}

#[test]
fn workers_are_bounded_by_the_lanes_in_use() {
    assert_eq!(workers(jobs(1), LANES), 1);
    assert_eq!(workers(jobs(4), LANES), 4);
    assert_eq!(workers(jobs(LANES as usize), LANES), LANES);
    assert_eq!(workers(jobs(64), LANES), LANES);
    assert_eq!(workers(jobs(4), lanes_used(3)), 3);
    assert_eq!(workers(jobs(4), lanes_used(0)), 1);
    assert_eq!(lanes_used(3), 3);
    assert_eq!(lanes_used(1000), LANES);
}

#[test]
fn each_lane_runs_in_order_on_exactly_one_worker() {
    let n = 203;
    for j in 1..=12 {
        let w_count = workers(jobs(j), lanes_used(n));
        let mut seen = vec![None; n as usize];
        for w in 0..w_count {
            let mine: Vec<u32> = iterations_of(n, w, w_count).collect();
            assert!(mine.windows(2).all(|p| p[0] < p[1]), "jobs {j}");
            for i in mine {
                assert!(seen[i as usize].replace(w).is_none(), "iteration {i} twice");
            }
        }
        // Every iteration runs, and a lane's iterations share a worker.
        for (i, w) in (0..).zip(&seen) {
            let w = w.unwrap();
            assert_eq!(w, worker_of(lane_of(i), w_count), "jobs {j}, iteration {i}");
            assert_eq!(lane_of(i), i % LANES);
        }
    }
}

#[test]
fn iteration_seeds_are_the_documented_ones() {
    // Changing these changes every replay of an earlier run.
    assert_eq!(iteration_seed(7, 0), 7);
    assert_eq!(iteration_seed(7, 1), 7 ^ 0x9e37_79b9_7f4a_7c15);
    assert_eq!(
        iteration_seed(0, 3),
        3u64.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
}

#[test]
fn the_same_seed_gives_the_same_defect() {
    let input = || AssertionInput {
        rp_id: "shop.example".into(),
        kind: "webauthn.get".into(),
        challenge: vec![0; 64],
        origin: "https://shop.example".into(),
        flags: UP,
        counter: 5,
        trailing: Vec::new(),
        rp_id_hash: None,
        sign_other_hash: None,
        user_handle: true,
    };
    for i in 0..50 {
        let change = || {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(iteration_seed(9, i));
            let mut a = input();
            let what = fuzz_change(&mut rng, &mut a, 4);
            (what, format!("{a:?}"))
        };
        assert_eq!(change(), change());
    }
}

/// A stand-in RP: it wrongly accepts some defects, and what it accepts
/// depends on the lane's counter, which an acceptance moves on, the way
/// a counter that does not grow is judged against the stored one.
async fn fake_attempt(seed: u64, i: u32, counter: u32) -> (u32, Attempt) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(iteration_seed(seed, i));
    let roll = rng.next_u32();
    // Finish out of order: later iterations are sometimes faster.
    tokio::time::sleep(Duration::from_millis(u64::from((i * 7 + 3) % 5))).await;
    let accepted = (roll ^ counter).is_multiple_of(3);
    let verdict = if accepted {
        Verdict::Accepted(200)
    } else {
        Verdict::Rejected(400)
    };
    let next = if accepted {
        counter + roll % 4
    } else {
        counter
    };
    let what = format!("roll {} after {counter}", roll % 100);
    (next, Attempt { i, what, verdict })
}

async fn fake_run(seed: u64, n: u32, j: usize) -> (Vec<Attempt>, Vec<u32>) {
    let mut order = Vec::new();
    let attempts = run_lanes(
        n,
        workers(jobs(j), lanes_used(n)),
        (0..lanes_used(n)).map(|l| l + 1).collect(),
        move |i, counter| fake_attempt(seed, i, counter),
        |a| order.push(a.i),
    )
    .await
    .unwrap();
    (attempts, order)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_is_the_same_for_any_number_of_workers() {
    let n = 61;
    let (one, order) = fake_run(5, n, 1).await;
    assert_eq!(
        order,
        (0..n).collect::<Vec<_>>(),
        "one worker runs in order"
    );
    assert_eq!(one.iter().map(|a| a.i).collect::<Vec<_>>(), order);
    assert!(one
        .iter()
        .any(|a| matches!(a.verdict, Verdict::Accepted(_))));
    // Acceptances moved counters on, so later defects depended on them.
    assert!(one
        .iter()
        .any(|a| !a.what.ends_with(&format!("after {}", lane_of(a.i) + 1))));
    for j in [2, 3, 4, 8, 16] {
        let (many, order) = fake_run(5, n, j).await;
        assert_eq!(many, one, "jobs {j}");
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "jobs {j}: each once");
    }
    // Another seed, another run.
    assert_ne!(fake_run(6, n, 4).await.0, one);
}

#[tokio::test]
async fn fewer_iterations_than_lanes_and_none_at_all() {
    let (three, _) = fake_run(1, 3, 8).await;
    assert_eq!(three.iter().map(|a| a.i).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(fake_run(1, 3, 1).await.0, three);
    assert!(fake_run(1, 0, 4).await.0.is_empty());
}

#[tokio::test]
async fn missing_lanes_are_an_error_not_a_hang() {
    let r = run_lanes(
        20,
        4,
        vec![0u32; 2],
        |i, s| async move {
            (
                s,
                Attempt {
                    i,
                    what: String::new(),
                    verdict: Verdict::Rejected(400),
                },
            )
        },
        |_| {},
    )
    .await;
    assert!(r.is_err());
}

#[test]
fn a_forged_iteration_depends_only_on_key_seed_and_index() {
    use authenticator_core::crypto::keys::{Algorithm, PrivateKey};
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
    let key = PrivateKey::generate(Algorithm::Es256, &mut rng);
    let a = super::forge_fuzzed_assertion(&key, 11, 3).unwrap();
    assert_eq!(a, super::forge_fuzzed_assertion(&key, 11, 3).unwrap());
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["type"], "public-key");
    assert!(v["response"]["signature"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let others: std::collections::BTreeSet<String> = (0..20)
        .map(|i| super::forge_fuzzed_assertion(&key, 11, i).unwrap())
        .collect();
    assert!(others.len() > 1, "every iteration forged the same response");
}
