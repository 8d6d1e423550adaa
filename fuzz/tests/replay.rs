//! Replays the committed corpus: every file of `seeds/<target>/` and every
//! `regressions/<target>-*.bin` through that target's logic, as the fuzz
//! target runs it. Runs on stable in a plain `cargo test`:
//!
//! ```text
//! cargo test --manifest-path fuzz/Cargo.toml
//! ```
//!
//! A failure names the file; replay it under the fuzzer with
//! `cargo fuzz run -s none <target> <file>` for the fuzzer's report.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use authenticator_core_fuzz::{control_api, ctaphid, request_decode, state, stateful};

/// Every target and its logic on raw bytes.
const TARGETS: [(&str, fn(&[u8])); 6] = [
    ("request_decode", request_decode::run),
    ("stateful", stateful::run_bytes),
    ("ctaphid", ctaphid::run_bytes),
    ("control_api", control_api::run),
    ("state_file", state::run_file),
    ("state_records", state::run_records),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The corpus files of `target`, in name order.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(dir) = fs::read_dir(root().join("seeds").join(target)) {
        files.extend(dir.flatten().map(|e| e.path()));
    }
    let prefix = format!("{target}-");
    if let Ok(dir) = fs::read_dir(root().join("regressions")) {
        files.extend(dir.flatten().map(|e| e.path()).filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".bin"))
        }));
    }
    files.retain(|p| p.is_file());
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    let start = Instant::now();
    for file in &files {
        let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let shown = file
            .strip_prefix(root())
            .unwrap_or(Path::new("?"))
            .display();
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panic!("{target}: {shown} fails");
        }
    }
    eprintln!(
        "{target}: {} inputs in {:.1} s",
        files.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn request_decode_corpus() {
    replay(TARGETS[0].0, TARGETS[0].1);
}

#[test]
fn stateful_corpus() {
    replay(TARGETS[1].0, TARGETS[1].1);
}

#[test]
fn ctaphid_corpus() {
    replay(TARGETS[2].0, TARGETS[2].1);
}

#[test]
fn control_api_corpus() {
    replay(TARGETS[3].0, TARGETS[3].1);
}

#[test]
fn state_file_corpus() {
    replay(TARGETS[4].0, TARGETS[4].1);
}

#[test]
fn state_records_corpus() {
    replay(TARGETS[5].0, TARGETS[5].1);
}

/// Every regression file belongs to a target.
#[test]
fn regressions_are_named_for_a_target() {
    for entry in fs::read_dir(root().join("regressions")).expect("regressions/") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            TARGETS
                .iter()
                .any(|(t, _)| name.starts_with(&format!("{t}-")) && name.ends_with(".bin")),
            "regressions/{name} names no target"
        );
    }
}
