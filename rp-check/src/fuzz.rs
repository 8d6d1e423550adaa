//! The fuzz run: random defects of an assertion, sent on parallel workers
//! with a result that does not depend on how many there are.
//!
//! ```text
//!  iteration i ─► lane i % LANES ─► worker (lane % workers)
//!                 │ its own user, credential and counter, set up first
//!                 ▼
//!  begin ─► fuzz_change (ChaCha20 seeded from seed and i) ─► sign (blocking pool) ─► complete
//!                 ▼
//!  every attempt, sorted by i ─► findings
//! ```
//!
//! An RP that wrongly accepts an assertion with a higher counter moves
//! that credential's counter on, and later defects (a lower counter) are
//! made against it: iterations of one credential depend on each other.
//! So the credentials are fixed in number ([`LANES`], not the number of
//! workers), each lane's iterations run in order on one worker, and the
//! defect of iteration i depends only on the seed, i and its lane's
//! history. Whatever `--jobs` is, the same seed sends the same defects and
//! yields the same findings, reported in iteration order.

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;

use authenticator_core::crypto::keys::PrivateKey;
use authenticator_core::crypto::sha256;
use fidosim_webauthn::json::{self, RequestOptions};
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::checker::{assertion_input, Checker};
use crate::config::Flow;
use crate::forge::{self, AssertionInput, Held, UP};
use crate::http::{Http, Jar, Verdict};
use crate::{Error, Progress};

/// How many credentials the fuzz run registers and spreads its iterations
/// over: iteration i uses lane `i % LANES`. Fixed, so that the run does not
/// depend on the number of workers; it is also the most workers a run uses.
pub const LANES: u32 = 8;

/// The lane of iteration `i`.
pub(crate) fn lane_of(i: u32) -> u32 {
    i % LANES
}

/// How many workers `jobs` asks for: no more than there are lanes, and no
/// more than there are lanes in use.
pub(crate) fn workers(jobs: NonZeroUsize, lanes: u32) -> u32 {
    u32::try_from(jobs.get())
        .unwrap_or(u32::MAX)
        .min(lanes)
        .max(1)
}

/// The worker that runs `lane`: worker w takes lanes w, w + workers, ...
pub(crate) fn worker_of(lane: u32, workers: u32) -> u32 {
    lane % workers.max(1)
}

/// The iterations worker `w` runs, in increasing order.
pub(crate) fn iterations_of(n: u32, w: u32, workers: u32) -> impl Iterator<Item = u32> {
    (0..n).filter(move |&i| worker_of(lane_of(i), workers) == w)
}

/// The seed of iteration `i`'s random defect.
pub(crate) fn iteration_seed(seed: u64, i: u32) -> u64 {
    seed ^ u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// One fuzz iteration's own work, without the RP: iteration `i`'s defect
/// (from `seed`) applied to an assertion for a credential with `key`, the
/// assertion signed, and the AuthenticationResponseJSON serialized — what
/// each worker does per iteration besides HTTP. For benchmarks and tools.
pub fn forge_fuzzed_assertion(key: &PrivateKey, seed: u64, i: u32) -> Result<String, String> {
    let held = Held {
        id: vec![0xC0; 16],
        key: key.clone(),
        user_handle: b"fuzz-user".to_vec(),
        counter: 7,
    };
    // As the RP's begin endpoint would answer.
    let options: RequestOptions = json::parse_options(
        r#"{"challenge": "ZnV6ei1jaGFsbGVuZ2UtMDEyMzQ1Njc4OQ", "rpId": "rp.example",
            "allowCredentials": [{"type": "public-key", "id": "wMDAwMDAwMDAwMDAwMDAwA"}]}"#,
    )
    .map_err(|e| e.to_string())?;
    let (input, _) = fuzzed_input(&options, "rp.example", "https://rp.example", &held, seed, i)?;
    let response = forge::assertion(&held, &input)?;
    serde_json::to_string(&response).map_err(|e| e.to_string())
}

/// What one iteration sent and how the RP answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    pub(crate) i: u32,
    /// The defect, in a few words (empty when nothing could be sent).
    pub(crate) what: String,
    pub(crate) verdict: Verdict,
}

impl Attempt {
    /// What the attempt is a finding of, if anything.
    fn finding(&self) -> Option<&'static str> {
        match self.verdict {
            Verdict::Accepted(_) => Some("accepted an invalid response"),
            Verdict::ServerError(_) => Some("server error"),
            Verdict::Timeout => Some("timeout"),
            _ => None,
        }
    }
}

/// The outcome of a fuzz run.
pub(crate) struct Fuzzed {
    pub(crate) findings: Vec<Value>,
    pub(crate) summary: String,
}

/// One lane's credential: its user, and the key with the highest counter
/// the RP accepted.
pub(crate) struct Lane {
    user: String,
    held: Held,
}

/// What every worker needs of the RP.
struct Target {
    http: Http,
    flow: Flow,
    rp_id: String,
    origin: String,
}

/// How many lanes a run of `n` iterations uses.
pub(crate) fn lanes_used(n: u32) -> u32 {
    n.min(LANES)
}

/// Runs `n` iterations with `seed` on `jobs` workers: registers and signs
/// in one user per lane first (a step each in `progress`), then one step
/// per iteration as it finishes.
pub(crate) async fn run<P: Progress>(
    checker: &mut Checker,
    n: u32,
    seed: u64,
    jobs: NonZeroUsize,
    progress: &mut P,
) -> Result<Fuzzed, Error> {
    let mut lanes = Vec::new();
    for lane in 0..lanes_used(n) {
        let step = format!("fuzz lane {lane}");
        progress.start(&step);
        let l = set_up(checker, lane).await.map_err(Error::Runtime)?;
        progress.done(&step, "registered and signed in");
        lanes.push(l);
    }
    let target = Arc::new(Target {
        http: checker.http.clone(),
        flow: checker.cfg.login.clone(),
        rp_id: checker.rp_id.clone(),
        origin: checker.cfg.origin.clone(),
    });
    let attempts = run_lanes(
        n,
        workers(jobs, lanes_used(n)),
        lanes,
        move |i, lane| attempt(Arc::clone(&target), seed, i, lane),
        |a| {
            progress.start(&format!("fuzz #{}", a.i));
            progress.done(&format!("fuzz #{} ({})", a.i, a.what), &a.verdict.show());
        },
    )
    .await
    .map_err(Error::Runtime)?;
    let findings: Vec<Value> = attempts
        .iter()
        .filter_map(|a| {
            a.finding().map(|kind| {
                json!({ "iteration": a.i, "seed": seed, "kind": kind, "sent": a.what, "verdict": a.verdict.show() })
            })
        })
        .collect();
    let summary = format!(
        "fuzz: {n} mutated assertions, seed {seed}: {} finding(s) (replay with --fuzz {n} --seed {seed})",
        findings.len()
    );
    Ok(Fuzzed { findings, summary })
}

/// Registers lane `lane`'s user and signs it in once, so that its counter
/// is above 0 (an RP may accept 0 after 0, WebAuthn L3 §6.1.1) and a
/// lower counter is a defect.
async fn set_up(c: &mut Checker, lane: u32) -> Result<Lane, String> {
    let refused = |what: &str, v: &Verdict| {
        format!(
            "the RP did not accept the {what} of fuzz lane {lane} ({}): the fuzz run registers {LANES} users of its own (fewer when --fuzz is smaller) and signs each in once before it starts; let the RP accept them as it accepted the baseline",
            v.show()
        )
    };
    let user = c.fresh_user(&format!("fuzz{lane}"));
    let (v, held, _) = c.register(&user, |_, _| Ok(())).await?;
    let mut held = match (v, held) {
        (Verdict::Accepted(_), Some(h)) => h,
        (v, _) => return Err(refused("registration", &v)),
    };
    let (v, input, _) = c.login(&user, &held, |_, _| {}, |_| {}).await?;
    if !matches!(v, Verdict::Accepted(_)) {
        return Err(refused("sign-in", &v));
    }
    held.counter = input.counter;
    Ok(Lane { user, held })
}

/// Runs iterations `0..n` on `workers` tasks: lane l (state `lanes[l]`)
/// on worker `l % workers`, each lane's iterations in increasing order.
/// `attempt` runs one iteration on its lane's state and gives the state
/// back; `on_done` sees each attempt as it finishes. Returns every attempt,
/// sorted by iteration.
pub(crate) async fn run_lanes<S, F, Fut>(
    n: u32,
    workers: u32,
    lanes: Vec<S>,
    attempt: F,
    mut on_done: impl FnMut(&Attempt),
) -> Result<Vec<Attempt>, String>
where
    S: Send + 'static,
    F: Fn(u32, S) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = (S, Attempt)> + Send,
{
    let lane_count = u32::try_from(lanes.len()).unwrap_or(u32::MAX);
    if n > 0 && lane_count < lanes_used(n) {
        return Err(format!(
            "{lane_count} lane(s) set up for {} in use",
            lanes_used(n)
        ));
    }
    let workers = workers.clamp(1, lane_count.max(1));
    let mut own: Vec<BTreeMap<u32, S>> = (0..workers).map(|_| BTreeMap::new()).collect();
    for (lane, state) in (0..).zip(lanes) {
        if let Some(w) = own.get_mut(worker_of(lane, workers) as usize) {
            w.insert(lane, state);
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut handles = Vec::new();
    for (w, mut states) in (0..).zip(own) {
        let tx = tx.clone();
        let attempt = attempt.clone();
        handles.push(tokio::spawn(async move {
            for i in iterations_of(n, w, workers) {
                let lane = lane_of(i);
                let Some(state) = states.remove(&lane) else {
                    return Err(format!("lane {lane} is not on worker {w}"));
                };
                let (state, a) = attempt(i, state).await;
                states.insert(lane, state);
                if tx.send(a).is_err() {
                    break;
                }
            }
            Ok(())
        }));
    }
    drop(tx);
    let mut all = Vec::with_capacity(n as usize);
    while let Some(a) = rx.recv().await {
        on_done(&a);
        all.push(a);
    }
    for h in handles {
        h.await
            .map_err(|e| format!("a fuzz worker stopped: {e}"))??;
    }
    all.sort_by_key(|a| a.i);
    Ok(all)
}

/// Iteration `i` on `lane`: a login whose assertion has one random defect.
/// An RP that accepts it with a higher counter moves the lane's counter on.
async fn attempt(t: Arc<Target>, seed: u64, i: u32, mut lane: Lane) -> (Lane, Attempt) {
    let last = lane.held.counter;
    let mut what = String::new();
    let verdict = match send(&t, seed, i, &lane, &mut what).await {
        Ok((v, counter)) => {
            if matches!(v, Verdict::Accepted(_)) && counter > last {
                lane.held.counter = counter;
            }
            v
        }
        Err(e) => Verdict::Failed(e),
    };
    (lane, Attempt { i, what, verdict })
}

/// Sends iteration `i`'s assertion: the verdict and the counter it carried.
async fn send(
    t: &Target,
    seed: u64,
    i: u32,
    lane: &Lane,
    what: &mut String,
) -> Result<(Verdict, u32), String> {
    let mut jar = Jar::default();
    let options: RequestOptions =
        json::parse_options(&t.http.begin(&mut jar, &t.flow, "login", &lane.user).await?)
            .map_err(|e| e.to_string())?;
    let (input, defect) = fuzzed_input(&options, &t.rp_id, &t.origin, &lane.held, seed, i)?;
    *what = defect;
    let counter = input.counter;
    // Signing is the CPU work: on the blocking pool, so that workers sign
    // on as many cores as there are workers.
    let held = lane.held.clone();
    let a = tokio::task::spawn_blocking(move || forge::assertion(&held, &input))
        .await
        .map_err(|e| format!("signing stopped: {e}"))??;
    let response = serde_json::to_value(&a).map_err(|e| e.to_string())?;
    let v = t
        .http
        .complete(&mut jar, &t.flow, &lane.user, &response)
        .await;
    Ok((v, counter))
}

/// The assertion `held` would answer `options` with, carrying iteration
/// `i`'s defect (from `seed`); with the defect in a few words.
fn fuzzed_input(
    options: &RequestOptions,
    rp_id: &str,
    origin: &str,
    held: &Held,
    seed: u64,
    i: u32,
) -> Result<(AssertionInput, String), String> {
    let mut input = assertion_input(options, rp_id, origin, held)?;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(iteration_seed(seed, i));
    let what = fuzz_change(&mut rng, &mut input, held.counter);
    Ok((input, what))
}

/// One random defect of an assertion; every one makes it invalid.
pub(crate) fn fuzz_change(
    rng: &mut rand_chacha::ChaCha20Rng,
    i: &mut AssertionInput,
    last: u32,
) -> String {
    match rng.next_u32() % 7 {
        0 => {
            let k = (rng.next_u32() as usize) % i.challenge.len().max(1);
            if let Some(b) = i.challenge.get_mut(k) {
                *b ^= 1 << (rng.next_u32() % 8);
            }
            format!("challenge byte {k} flipped")
        }
        1 => {
            let mut h = sha256(i.rp_id.as_bytes());
            let k = (rng.next_u32() % 32) as usize;
            h[k] ^= 1 << (rng.next_u32() % 8);
            i.rp_id_hash = Some(h);
            format!("rpIdHash byte {k} flipped")
        }
        2 => {
            i.counter = rng.next_u32() % last.max(1);
            format!("counter {} after {last}", i.counter)
        }
        3 => {
            let origins = [
                "https://evil.example",
                "http://localhost:1",
                "null",
                "https://a.b.c.example",
            ];
            i.origin = origins[(rng.next_u32() % 4) as usize].into();
            format!("origin {}", i.origin)
        }
        4 => {
            let kinds = ["webauthn.create", "", "webauthn.GET", "payment.get"];
            i.kind = kinds[(rng.next_u32() % 4) as usize].into();
            format!("type `{}`", i.kind)
        }
        5 => {
            i.flags &= !UP;
            "UP clear".into()
        }
        _ => {
            let mut h = [0u8; 32];
            rng.fill_bytes(&mut h);
            i.sign_other_hash = Some(h);
            "signature over random data".into()
        }
    }
}

#[cfg(test)]
mod tests;
