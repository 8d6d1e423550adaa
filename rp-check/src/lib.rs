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
//!  fuzz: LANES credentials, random defects of an assertion on --jobs
//!        workers ─► findings in iteration order
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
mod lab;
mod report;

use std::path::PathBuf;

use std::num::NonZeroUsize;

use serde_json::{json, Value};

pub use fidosim_daemon::Error;

use checker::Checker;
use config::RpConfig;
pub use fuzz::{forge_fuzzed_assertion, LANES};
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
    /// Send the fuzz run on J workers [default: the number of cores]. The
    /// iterations are spread over 8 credentials registered first (so at
    /// most 8 workers are used); the same seed gives the same report
    /// whatever J is.
    #[arg(long, value_name = "J", requires = "fuzz", value_parser = parse_jobs)]
    pub jobs: Option<NonZeroUsize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Trust the CA certificates in this PEM file for an https RP, besides
    /// the system's roots (repeatable).
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// Do not verify the https RP's certificate at all (a warning says so).
    #[arg(long)]
    pub insecure: bool,
    /// Also write the results as JUnit XML to FILE, for CI systems: one
    /// testcase per case, each fuzz finding a failed testcase.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// `--jobs`: a number of workers, 1 or more.
fn parse_jobs(s: &str) -> Result<NonZeroUsize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("0 workers cannot send anything; give 1 or more, or leave --jobs out to use one per core".into()),
        Ok(j) => NonZeroUsize::new(j).ok_or_else(|| "give 1 or more".into()),
        Err(e) => Err(format!("{e}; give a number of workers, 1 or more (default: one per core)")),
    }
}

/// The workers of a fuzz run without `--jobs`: one per core.
fn default_jobs() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
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

    /// The report as JUnit XML (`fidosim rp-check --junit FILE`): a suite
    /// `rp-check` with one testcase per case (a case the RP answered
    /// wrongly is a failure, a skipped one skipped), one failed testcase
    /// per fuzz finding that counts against the RP (an accepted invalid
    /// response) and one per other finding as an error, and the baseline
    /// the RP refused, if any, as a failure.
    pub fn to_junit(&self) -> Result<String, Error> {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new("rp-check");
        for o in &self.outcomes {
            let status = if let Some(why) = &o.skipped {
                let mut s = TestCaseStatus::skipped();
                s.set_message(why.as_str());
                s
            } else if o.passed() {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let must = if o.must_accept { "accept" } else { "reject" };
                let got = o.verdict.as_ref().map_or("nothing".into(), Verdict::show);
                s.set_message(format!("the RP must {must} this; it answered {got}"));
                s.set_description(format!("sent: {}", o.sent));
                s
            };
            let mut case = TestCase::new(o.case.as_str(), status);
            case.set_classname("rp-check.cases");
            suite.add_test_case(case);
        }
        if let Some(why) = &self.baseline_failure {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(why.as_str());
            suite.add_test_case(TestCase::new("baseline", s));
        }
        for (i, f) in self.findings.iter().enumerate() {
            let kind = if f["kind"] == "accepted an invalid response" {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(f["kind"].as_str().unwrap_or("finding"));
            s.set_description(f.to_string());
            let mut case = TestCase::new(format!("fuzz.finding.{i}"), s);
            case.set_classname("rp-check.fuzz");
            suite.add_test_case(case);
        }
        let mut report = quick_junit::Report::new("fidosim rp-check");
        report.add_test_suite(suite);
        report
            .to_string()
            .map_err(|e| Error::Runtime(format!("cannot write the JUnit report: {e}")))
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
    let mut cfg: RpConfig = toml::from_str(&text).map_err(|e| {
        Error::Config(format!(
            "--config {}: {}; correct the file (base_url and origin are required; docs/recipes/audit-your-rp.md)",
            a.config.display(),
            fidosim_daemon::config::toml_problem(&text, &e)
        ))
    })?;
    cfg.resolve_paths(a.config.parent().unwrap_or(std::path::Path::new(".")));
    let tls = http::Tls {
        ca: a.ca.clone(),
        insecure: a.insecure,
    };
    if a.insecure {
        eprintln!(
            "rp-check: --insecure: the RP's certificate is NOT verified; anyone on the path could answer for it"
        );
    }
    let mut checker = Checker::new(cfg, &tls)?;
    let mut outcomes = Vec::new();
    let selected: Vec<_> = cases::all()
        .filter(|case| {
            a.cases.is_empty()
                || a.cases.iter().any(|c| case.name.starts_with(c.as_str()))
                || case.name.ends_with("baseline")
        })
        .collect();
    // A fuzz run sets up its lanes (a step each) before its iterations.
    let fuzz_steps = a
        .fuzz
        .map_or(0, |n| n as usize + fuzz::lanes_used(n) as usize);
    let mut progress = progress(selected.len() + fuzz_steps);
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
            let attestation = match &checker.cfg.attestation_state {
                Some(state) if checker.cfg.requires_trusted_attestation => format!(
                    "; the registration was attested by the CA of {}: the RP must trust it (write it with `fidosim run --state {} --write-ca ca.pem`)",
                    state.display(),
                    state.display()
                ),
                _ => String::new(),
            };
            let message = format!(
                "the RP did not accept the valid baseline ({}): check base_url, origin and the begin/complete paths in {}{attestation} (the RP must accept a correct response before anything else can be judged)",
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
        let seed = match a.seed {
            Some(seed) => seed,
            None => getrandom::u64().map_err(|e| {
                Error::Runtime(format!(
                    "no randomness for the fuzz seed ({e}); give one with --seed"
                ))
            })?,
        };
        let jobs = a.jobs.unwrap_or_else(default_jobs);
        let fuzzed = match fuzz::run(&mut checker, n, seed, jobs, &mut progress).await {
            Ok(f) => f,
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        };
        findings = fuzzed.findings;
        fuzz_summary = Some(fuzzed.summary);
    }
    progress.finish();
    Ok(Report {
        outcomes,
        findings,
        fuzz_summary,
        baseline_failure: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let mut argv = vec!["rp-check", "--config", "rp.toml"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(|c| c.args)
    }

    #[test]
    fn jobs_is_a_positive_number_of_workers_for_a_fuzz_run() {
        let a = parse(&["--fuzz", "10", "--jobs", "3"]).unwrap();
        assert_eq!(a.jobs, NonZeroUsize::new(3));
        assert_eq!(parse(&["--fuzz", "10"]).unwrap().jobs, None);
        let zero = parse(&["--fuzz", "10", "--jobs", "0"])
            .unwrap_err()
            .to_string();
        assert!(
            zero.contains("--jobs") && zero.contains("1 or more"),
            "{zero}"
        );
        let word = parse(&["--fuzz", "10", "--jobs", "many"])
            .unwrap_err()
            .to_string();
        assert!(word.contains("1 or more"), "{word}");
        let alone = parse(&["--jobs", "2"]).unwrap_err();
        assert_eq!(
            alone.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert!(default_jobs().get() >= 1);
    }

    #[test]
    fn the_help_names_the_number_of_lanes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains(&format!("{LANES} credentials")), "{help}");
    }
}
