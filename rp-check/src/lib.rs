//! `fidosim-rp-check`: drives a relying party's real registration and
//! authentication endpoints through a catalogue of cases — a valid baseline
//! the RP must accept, and responses with one defect each that it must
//! reject — and optionally a seeded random mutation run, then reports what
//! the RP wrongly accepted.
//!
//! ```text
//!  config (TOML) ─► Checker ─► cases::all(), one at a time ─► forge (defects)
//!                     │ in-process key (fidosim-daemon's assembly, ephemeral)
//!                     ▼
//!                   http (begin / complete, cookies) ─► Verdict ─► report::Outcome
//!  fuzz: random defects of an assertion ─► findings
//! ```
//!
//! The library returns a [`Report`]; printing it is the caller's job.
//! Depends on the authenticator core, the WebAuthn client and the
//! daemon's device assembly; never on the CLI.
#![forbid(unsafe_code)]

mod cases;
mod checker;
mod config;
mod forge;
mod fuzz;
mod http;
mod report;

use std::path::PathBuf;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde_json::{json, Value};

pub use fidosim_daemon::Error;

use checker::Checker;
use config::RpConfig;
use fuzz::fuzz_change;
use http::Verdict;
pub use report::Outcome;

/// What `fidosim rp-check` audits, and how.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The RP's description (TOML): base_url, origin, and the begin/complete
    /// requests when they differ from POST /auth/passkey/{register,login}/{begin,complete}.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Run only the cases whose names start with this (repeatable); the
    /// baselines always run.
    #[arg(long = "case", value_name = "NAME")]
    pub cases: Vec<String>,
    /// Also send N randomly mutated assertions, each invalid, and report
    /// acceptances, server errors and time-outs.
    #[arg(long, value_name = "N")]
    pub fuzz: Option<u32>,
    /// The seed of the fuzz run (printed when not given).
    #[arg(long, value_name = "SEED", requires = "fuzz")]
    pub seed: Option<u64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// How a run reports its progress (a bar, lines in a CI log).
pub trait Progress {
    /// A step begins.
    fn start(&mut self, step: &str);
    /// A step ended with `result`.
    fn done(&mut self, step: &str, result: &str);
    /// Every step is done.
    fn finish(&mut self);
}

/// What a run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// One per case that ran.
    pub outcomes: Vec<Outcome>,
    /// What the fuzz run found: acceptances, server errors, time-outs.
    pub findings: Vec<Value>,
    /// The fuzz run's summary line, when there was one.
    pub fuzz_summary: Option<String>,
    /// Why the run stopped at a baseline the RP did not accept (then
    /// `outcomes` holds that baseline only).
    pub baseline_failure: Option<String>,
}

impl Report {
    /// Whether the RP accepted what it must reject (or refused a baseline).
    pub fn failed(&self) -> bool {
        self.baseline_failure.is_some()
            || self
                .outcomes
                .iter()
                .any(|o| o.skipped.is_none() && !o.passed())
            || self
                .findings
                .iter()
                .any(|f| f["kind"] == "accepted an invalid response")
    }

    /// The outcomes as a table.
    pub fn table(&self) -> String {
        report::table(&self.outcomes)
    }

    /// The report as JSON (`fidosim rp-check --json`).
    pub fn to_json(&self) -> Value {
        let cases: Vec<Value> = self
            .outcomes
            .iter()
            .map(|o| {
                json!({
                    "case": o.case,
                    "sent": o.sent,
                    "mustAccept": o.must_accept,
                    "verdict": o.verdict.as_ref().map(Verdict::show),
                    "skipped": o.skipped,
                    "passed": o.skipped.is_none() && o.passed(),
                })
            })
            .collect();
        json!({ "cases": cases, "fuzzFindings": self.findings, "failed": self.failed() })
    }
}

/// Runs the catalogue (and a fuzz run when asked). `progress` is made
/// with the number of steps.
pub async fn run<P: Progress>(
    a: &Args,
    progress: impl FnOnce(usize) -> P,
) -> Result<Report, Error> {
    let text = std::fs::read_to_string(&a.config).map_err(|e| {
        Error::Config(format!(
            "cannot read --config {}: {}; give the RP's description, a TOML file with base_url and origin (docs/recipes/audit-your-rp.md)",
            a.config.display(),
            fidosim_daemon::io_reason(&e)
        ))
    })?;
    let cfg: RpConfig = toml::from_str(&text).map_err(|e| {
        Error::Config(format!(
            "--config {}: {}; correct the file (base_url and origin are required; docs/recipes/audit-your-rp.md)",
            a.config.display(),
            fidosim_daemon::config::toml_problem(&text, &e)
        ))
    })?;
    let mut checker = Checker::new(cfg)?;
    let mut outcomes = Vec::new();
    let selected: Vec<_> = cases::all()
        .filter(|case| {
            a.cases.is_empty()
                || a.cases.iter().any(|c| case.name.starts_with(c.as_str()))
                || case.name.ends_with("baseline")
        })
        .collect();
    let mut progress = progress(selected.len() + a.fuzz.map_or(0, |n| n as usize));
    for case in selected {
        let name = case.name;
        progress.start(name);
        let result = case.run(&mut checker).await;
        let (verdict, skipped) = match result {
            Ok(v) => (v, None),
            Err(e) => match e.strip_prefix("skip: ") {
                Some(reason) => (None, Some(reason.to_owned())),
                None => (Some(Verdict::Failed(e)), None),
            },
        };
        let o = Outcome {
            case: name.into(),
            sent: case.sent.into(),
            must_accept: case.must_accept,
            verdict,
            skipped,
        };
        if case.must_accept && !o.passed() {
            progress.finish();
            let message = format!(
                "the RP did not accept the valid baseline ({}): check base_url, origin and the begin/complete paths in {} (the RP must accept a correct response before anything else can be judged)",
                o.verdict.as_ref().map_or("no verdict".into(), Verdict::show),
                a.config.display()
            );
            return Ok(Report {
                outcomes: vec![o],
                findings: Vec::new(),
                fuzz_summary: None,
                baseline_failure: Some(message),
            });
        }
        progress.done(
            name,
            &o.verdict
                .as_ref()
                .map_or_else(|| "skipped".to_owned(), Verdict::show),
        );
        outcomes.push(o);
    }
    let mut findings = Vec::new();
    let mut fuzz_summary = None;
    if let Some(n) = a.fuzz {
        let seed = a.seed.unwrap_or_else(|| rand_core::OsRng.next_u64());
        let (_, user) = checker.baseline().map_err(Error::Runtime)?;
        for i in 0..n {
            let (held, _) = checker.baseline().map_err(Error::Runtime)?;
            let last = held.counter;
            progress.start(&format!("fuzz #{i}"));
            let mut what = String::new();
            let mut case_rng = rand_chacha::ChaCha20Rng::seed_from_u64(
                seed ^ u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let r = checker
                .login(
                    &user,
                    &held,
                    |inp, _| what = fuzz_change(&mut case_rng, inp, last),
                    |_| {},
                )
                .await;
            let v = match r {
                Ok((v, input, _)) => {
                    if matches!(v, Verdict::Accepted(_)) && input.counter > last {
                        if let Some(h) = &mut checker.held {
                            h.counter = input.counter;
                        }
                    }
                    v
                }
                Err(e) => Verdict::Failed(e),
            };
            let kind = match v {
                Verdict::Accepted(_) => Some("accepted an invalid response"),
                Verdict::ServerError(_) => Some("server error"),
                Verdict::Timeout => Some("timeout"),
                _ => None,
            };
            progress.done(&format!("fuzz #{i} ({what})"), &v.show());
            if let Some(kind) = kind {
                findings.push(json!({ "iteration": i, "seed": seed, "kind": kind, "sent": what, "verdict": v.show() }));
            }
        }
        fuzz_summary = Some(format!(
            "fuzz: {n} mutated assertions, seed {seed}: {} finding(s) (replay with --fuzz {n} --seed {seed})",
            findings.len()
        ));
    }
    progress.finish();
    Ok(Report {
        outcomes,
        findings,
        fuzz_summary,
        baseline_failure: None,
    })
}
