//! `fidosim doctor`, `--version`, `completions` and `man` on this machine.
#![allow(clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");

#[test]
fn doctor_reports_uhid_with_its_fix() {
    let out = Command::new(BIN)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    let uhid = checks.iter().find(|c| c["check"] == "kernel uhid").unwrap();
    if std::path::Path::new("/dev/uhid").exists() {
        assert_eq!(uhid["status"], "pass");
    } else {
        // This machine's kernel may lack uhid: doctor must say so, with
        // the way out, and fail.
        assert_eq!(uhid["status"], "fail");
        let fix = uhid["fix"].as_str().unwrap();
        assert!(
            fix.contains("modprobe uhid") || fix.contains("CONFIG_UHID"),
            "{fix}"
        );
        assert_eq!(v["ok"], false);
        assert_eq!(out.status.code(), Some(1));
    }
    for c in checks {
        assert!(
            ["pass", "fail", "note"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
        if c["status"] == "fail" {
            assert!(c["fix"].is_string(), "a failed check names its fix: {c}");
        }
    }
    let text = Command::new(BIN).arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("kernel uhid"), "{text}");
}

#[test]
fn version_completions_and_man_page() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.starts_with("fidosim 0.") && v.contains('('), "{v}");
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("rp-check") && s.contains("credentials"),
            "{shell}"
        );
    }
    let out = Command::new(BIN).arg("man").output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains(".TH fidosim 1"), "{s}");
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_reader_that_goes_away_ends_output_quietly() {
    // `fidosim doctor | head -0`: the pipe's reader is gone before anything
    // is written.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN)
        .arg("doctor")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn doctor_checks_the_socket_it_is_given() {
    let dir = std::env::temp_dir().join(format!("fidosim-doctor-{}", std::process::id()));
    let flag = dir.join("flag.sock");
    let env = dir.join("env.sock");
    let detail = |out: std::process::Output| -> String {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let checks = v["checks"].as_array().unwrap();
        let c = checks
            .iter()
            .find(|c| c["check"] == "control socket")
            .unwrap();
        assert_eq!(
            c["status"], "note",
            "no daemon is a note, not a failure: {c}"
        );
        c["detail"].as_str().unwrap().to_owned()
    };
    let out = Command::new(BIN)
        .args(["doctor", "--json", "--socket"])
        .arg(&flag)
        .env("FIDOSIM_CONTROL_SOCKET", &env)
        .output()
        .unwrap();
    assert!(detail(out).contains(flag.to_str().unwrap()));
    let out = Command::new(BIN)
        .args(["doctor", "--json"])
        .env("FIDOSIM_CONTROL_SOCKET", &env)
        .output()
        .unwrap();
    assert!(detail(out).contains(env.to_str().unwrap()));
}
