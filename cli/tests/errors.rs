//! Bad invocations of the `fidosim` binary: each fails with a non-zero
//! exit status and no panic, and its message names what failed and says
//! what to do next. None needs uhid, a daemon or the network: every path
//! is in a temporary directory, and "no daemon" is a socket path there.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");

/// A bad invocation and what its message must contain.
struct Case {
    args: Vec<String>,
    /// Standard input (empty when `None`).
    stdin: Option<&'static str>,
    /// The exit status it has today (2: invalid command line; 1: run time).
    code: i32,
    /// Names what failed.
    what: String,
    /// Says what to do next.
    next: &'static str,
}

fn case(args: &[&str], code: i32, what: &str, next: &'static str) -> Case {
    Case {
        args: args.iter().map(|&a| a.to_owned()).collect(),
        stdin: None,
        code,
        what: what.to_owned(),
        next,
    }
}

/// A fresh directory for this test run's files.
fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fidosim-errors-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// Runs the binary: (exit status, standard error).
fn run(dir: &Path, c: &Case) -> (Option<i32>, String) {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args(&c.args)
        .current_dir(dir)
        // Nothing outside the temporary directory is used or created.
        .env_remove("FIDOSIM_CONTROL_SOCKET")
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(c.stdin.unwrap_or("").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_invocations_say_what_failed_and_what_to_do() {
    let dir = temp_dir();
    let no_daemon = path(&dir, "no-daemon.sock");
    let state = path(&dir, "state.redb");
    // An empty state file: an offline import (of nothing) creates it.
    let empty_list = path(&dir, "empty-list.json");
    std::fs::write(&empty_list, "[]").unwrap();
    let made = Command::new(BIN)
        .args(["credentials", "import", &empty_list, "--state", &state])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let a_dir = path(&dir, "a-directory");
    std::fs::create_dir_all(&a_dir).unwrap();
    let junk = path(&dir, "junk.redb");
    std::fs::write(&junk, b"not a state file\n".repeat(100)).unwrap();
    let bad_toml = path(&dir, "bad.toml");
    std::fs::write(&bad_toml, "[device.a]\npresence = [\"approve\"\n").unwrap();
    let unknown_key = path(&dir, "unknown-key.toml");
    std::fs::write(&unknown_key, "[device.a]\nfoo = \"x\"\n").unwrap();
    let empty = path(&dir, "empty.toml");
    std::fs::write(&empty, "").unwrap();
    let relative = path(&dir, "relative.toml");
    std::fs::write(
        &relative,
        "base_url = \"nope\"\norigin = \"http://localhost\"\n",
    )
    .unwrap();
    let not_json = path(&dir, "not.json");
    std::fs::write(&not_json, "{\"publicKey\": ").unwrap();
    let not_credential = path(&dir, "not-credential.json");
    std::fs::write(&not_credential, "{\"rpId\": \"example.org\"}").unwrap();
    let options = path(&dir, "get.json");
    std::fs::write(
        &options,
        r#"{"rpId":"x.example","challenge":"AAAAAAAAAAAAAAAAAAAAAA","allowCredentials":[]}"#,
    )
    .unwrap();
    let missing = path(&dir, "missing.file");
    let web_state = path(&dir, "webauthn.redb");
    let origin = "https://x.example";

    let mut cases = vec![
        // The control client, with no daemon.
        case(
            &["devices", "list", "--socket", &no_daemon],
            1,
            &format!("cannot reach the fidosim daemon at {no_daemon} (no such file"),
            "point --socket PATH",
        ),
        case(
            &["devices", "list", "--control", "nonsense"],
            1,
            "--control `nonsense` is not HOST:PORT",
            "--control-listen address",
        ),
        case(
            &[
                "devices", "status", "--device", "a b", "--socket", &no_daemon,
            ],
            1,
            "--device `a b` is not a device name",
            "`fidosim devices list`",
        ),
        case(
            &["credentials", "show", "!!!", "--socket", &no_daemon],
            1,
            "credential id `!!!` is not base64",
            "`fidosim credentials list`",
        ),
        case(
            &["faults", "remove", "abc", "--socket", &no_daemon],
            2,
            "'abc'",
            "`fidosim faults list`",
        ),
        case(
            &["counters", "set", "AAAA", "lots", "--socket", &no_daemon],
            2,
            "'lots'",
            "a whole number from 0 to 4294967295",
        ),
        case(
            &["counters", "set", "AAAA", "-5", "--socket", &no_daemon],
            2,
            "'-5'",
            "a whole number from 0 to 4294967295",
        ),
        // `fidosim run`'s settings and files.
        case(
            &["run", "--config", &missing],
            2,
            &format!("cannot read --config {missing}: no such file"),
            "[device.NAME] tables",
        ),
        case(
            &["run", "--config", &bad_toml],
            2,
            &format!("--config {bad_toml}: line 2:"),
            "correct the file",
        ),
        case(
            &["run", "--config", &unknown_key],
            2,
            "[device.a]: unexpected argument '--foo'",
            "`fidosim run --help` lists them",
        ),
        case(
            &["run", "--presence", "sometimes"],
            2,
            "--presence: `sometimes`",
            "approve, deny, delay:MS",
        ),
        case(
            &["run", "--udp-listen", "127.0.0.1:99999"],
            2,
            "'127.0.0.1:99999' for '--udp-listen",
            "an IP address and port",
        ),
        case(
            &["run", "--ephemeral", "--serial", "schlüssel"],
            2,
            "--serial `schlüssel`",
            "ASCII",
        ),
        case(
            &[
                "run",
                "--ephemeral",
                "--no-control",
                "--transport",
                "udp",
                "--udp-listen",
                "127.0.0.1:0",
                "--write-ca",
                &format!("{missing}/ca.pem"),
            ],
            1,
            "cannot write the attestation CA to",
            "choose another --write-ca PATH",
        ),
        // State files, without a daemon.
        case(
            &["credentials", "list", "--state", &a_dir],
            1,
            &format!("--state {a_dir} is a directory"),
            "give a file path",
        ),
        case(
            &["credentials", "list", "--state", &junk],
            1,
            "not a fidosim state file",
            "pass another --state PATH",
        ),
        case(
            &["credentials", "list", "--state", &missing],
            1,
            &format!("no state file at {missing}"),
            "`fidosim run --state PATH`",
        ),
        case(
            &["counters", "set", "AAAA", "3", "--state", &missing],
            1,
            &format!("no state file at {missing}"),
            "check the path",
        ),
        case(
            &["credentials", "show", "AAAA", "--state", &state],
            1,
            &format!("no stored credential AAAA in {state}"),
            "`fidosim credentials list --state",
        ),
        case(
            &["credentials", "import", &missing, "--state", &state],
            1,
            &format!("cannot read the credentials file {missing}: no such file"),
            "- for standard input",
        ),
        case(
            &["credentials", "import", &not_credential, "--state", &state],
            1,
            &format!("{not_credential}: not a credential (missing field `credentialId`)"),
            "`fidosim credentials export`",
        ),
        Case {
            stdin: Some("{oops"),
            ..case(
                &["credentials", "import", "-", "--state", &state],
                1,
                "standard input: not JSON",
                "`fidosim credentials export`",
            )
        },
        case(
            &["counters", "mode", "global", "--state", &state],
            1,
            "not of a state file",
            "drop --state",
        ),
        case(
            &["faults", "list", "--state", &state],
            1,
            "faults live in a running daemon only",
            "drop --state",
        ),
        // The WebAuthn client.
        case(
            &[
                "webauthn", "create", &not_json, "--origin", origin, "--state", &web_state,
            ],
            1,
            &format!("the options in {not_json}: TypeError"),
            "PublicKeyCredentialCreationOptionsJSON",
        ),
        case(
            &[
                "webauthn", "create", "--origin", origin, "--state", &web_state,
            ],
            1,
            "no options on standard input",
            "as an argument",
        ),
        case(
            &[
                "webauthn", "get", &missing, "--origin", origin, "--state", &web_state,
            ],
            1,
            &format!("cannot read the options from {missing}: no such file"),
            "- for standard input",
        ),
        case(
            &[
                "webauthn", "get", &options, "--origin", origin, "--state", &web_state,
            ],
            1,
            "no credential for this RP",
            "`fidosim webauthn create` on the same key",
        ),
        // rp-check's description of the RP.
        case(
            &["rp-check", "--config", &missing],
            2,
            &format!("cannot read --config {missing}: no such file"),
            "base_url and origin",
        ),
        case(
            &["rp-check", "--config", &empty],
            2,
            "missing field `base_url`",
            "correct the file",
        ),
        case(
            &["rp-check", "--config", &relative],
            2,
            "base_url `nope`",
            "an absolute URL like http://",
        ),
    ];
    assert!(cases.len() >= 15);

    let mut failures = Vec::new();
    for c in cases.drain(..) {
        let (code, err) = run(&dir, &c);
        let shown = c.args.join(" ");
        if code != Some(c.code) {
            failures.push(format!("{shown}: exit {code:?}, not {}: {err}", c.code));
        }
        for bad in ["panicked", "os error"] {
            if err.contains(bad) {
                failures.push(format!("{shown}: `{bad}` in: {err}"));
            }
        }
        if !err.contains(&c.what) {
            failures.push(format!("{shown}: `{}` (what failed) not in: {err}", c.what));
        }
        if !err.contains(c.next) {
            failures.push(format!("{shown}: `{}` (next step) not in: {err}", c.next));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
