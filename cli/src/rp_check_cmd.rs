//! `fidosim rp-check`: runs `fidosim-rp-check` and prints its report.

use crate::progress::Progress;
use crate::run::Error;

impl fidosim_rp_check::Progress for Progress {
    fn start(&mut self, step: &str) {
        Progress::start(self, step);
    }
    fn done(&mut self, step: &str, result: &str) {
        Progress::done(self, step, result);
    }
    fn finish(&mut self) {
        Progress::finish(self);
    }
}

/// Runs the catalogue (and a fuzz run when asked); `false` (exit status 1)
/// when the RP accepted a must-reject case or an invalid fuzz response.
pub(crate) async fn run(a: fidosim_rp_check::Args) -> Result<bool, Error> {
    let report = fidosim_rp_check::run(&a, |steps| Progress::new("rp-check", steps)).await?;
    if let Some(path) = &a.junit {
        let xml = report.to_junit()?;
        std::fs::write(path, xml).map_err(|e| {
            Error::Runtime(format!(
                "cannot write --junit {}: {}; give a path in a writable directory",
                path.display(),
                fidosim_daemon::io_reason(&e)
            ))
        })?;
    }
    if let Some(message) = &report.baseline_failure {
        if !a.json {
            out!("{}", report.table().trim_end());
        }
        return Err(Error::Runtime(message.clone()));
    }
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        );
    } else {
        if let Some(summary) = &report.fuzz_summary {
            out!("{summary}");
        }
        out!("{}", report.table().trim_end());
        for f in &report.findings {
            out!("fuzz finding: {f}");
        }
    }
    Ok(!report.failed())
}
