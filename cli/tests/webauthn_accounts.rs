//! `fidosim webauthn get` with several discoverable credentials of one RP
//! on one key (CTAP 2.1 §6.2.2 step 12.2): the key's virtual user picks
//! the newest by default, --user-handle / --credential-id pick one and
//! never sign with another account, and --account-choice platform has the
//! client walk authenticatorGetNextAssertion (§6.3). Every credential is
//! made by a `fidosim webauthn create` process of its own, as a user would.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use fidosim_tests::daemon::Daemon;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");
const ORIGIN: &str = "https://shop.example";

/// A fresh directory with a state file of three discoverable credentials
/// for shop.example, created in the order `user-1`, `user-2`, `user-3`.
struct Key {
    dir: PathBuf,
    /// The credential IDs, in creation order.
    ids: Vec<String>,
}

fn handle(i: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("user-{i}"))
}

fn creation(i: usize) -> Value {
    json!({
        "rp": {"id": "shop.example", "name": "Shop"},
        "user": {"id": handle(i), "name": format!("user{i}"), "displayName": format!("User {i}")},
        "challenge": URL_SAFE_NO_PAD.encode(format!("registration-challenge-{i}")),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "authenticatorSelection": {"residentKey": "required", "userVerification": "preferred"},
    })
}

/// Sign-in options without allowCredentials.
fn request() -> Value {
    json!({
        "rpId": "shop.example",
        "challenge": URL_SAFE_NO_PAD.encode("sign-in-challenge-0123"),
        "userVerification": "preferred",
    })
}

fn fidosim(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("FIDOSIM_CONTROL_SOCKET")
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p.display().to_string()
}

fn succeeded(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

impl Key {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "fidosim-webauthn-accounts-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut key = Self { dir, ids: vec![] };
        for i in 1..=3 {
            let options = write(&key.dir, &format!("create-{i}.json"), &creation(i));
            let state = key.state();
            let out = fidosim(
                &key.dir,
                &[
                    "webauthn", "create", &options, "--origin", ORIGIN, "--state", &state,
                ],
            );
            let r = succeeded(&out, &format!("webauthn create {i}"));
            key.ids.push(r["id"].as_str().unwrap().to_owned());
        }
        key
    }

    fn state(&self) -> String {
        self.dir.join("state.redb").display().to_string()
    }

    /// `fidosim webauthn get` on the state file with `extra` arguments.
    fn get(&self, extra: &[&str]) -> Output {
        let options = write(&self.dir, "get.json", &request());
        let state = self.state();
        let mut args = vec![
            "webauthn", "get", &options, "--origin", ORIGIN, "--state", &state,
        ];
        args.extend_from_slice(extra);
        fidosim(&self.dir, &args)
    }

    /// Each credential's signature counter, by ID, from `credentials list`.
    fn counters(&self) -> Vec<(String, u64)> {
        let state = self.state();
        let out = fidosim(
            &self.dir,
            &["credentials", "list", "--json", "--state", &state],
        );
        let list = succeeded(&out, "credentials list");
        let mut counters: Vec<(String, u64)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let id = STANDARD
                    .decode(c["credentialId"].as_str().unwrap())
                    .unwrap();
                (URL_SAFE_NO_PAD.encode(id), c["signCount"].as_u64().unwrap())
            })
            .collect();
        counters.sort();
        counters
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The credential ID and user handle a sign-in used.
fn account(r: &Value) -> (&str, &str) {
    (
        r["id"].as_str().unwrap(),
        r["response"]["userHandle"].as_str().unwrap(),
    )
}

#[test]
fn without_allow_credentials_the_newest_signs_in() {
    let key = Key::new("newest");
    let r = succeeded(&key.get(&[]), "webauthn get");
    assert_eq!(account(&r), (key.ids[2].as_str(), handle(3).as_str()));
}

#[test]
fn user_handle_and_credential_id_pick_one_account() {
    let key = Key::new("pick");
    let r = succeeded(
        &key.get(&["--user-handle", &handle(1)]),
        "--user-handle of user-1",
    );
    assert_eq!(account(&r), (key.ids[0].as_str(), handle(1).as_str()));
    let r = succeeded(
        &key.get(&["--credential-id", &key.ids[1]]),
        "--credential-id of user-2",
    );
    assert_eq!(account(&r), (key.ids[1].as_str(), handle(2).as_str()));
    // Standard base64 with padding works as well.
    let standard = STANDARD.encode(URL_SAFE_NO_PAD.decode(&key.ids[1]).unwrap());
    let r = succeeded(
        &key.get(&["--credential-id", &standard]),
        "--credential-id in standard base64",
    );
    assert_eq!(account(&r).0, key.ids[1]);
}

#[test]
fn platform_choice_has_the_client_walk_get_next_assertion() {
    let key = Key::new("platform");
    let r = succeeded(
        &key.get(&["--account-choice", "platform"]),
        "--account-choice platform",
    );
    assert_eq!(
        account(&r),
        (key.ids[2].as_str(), handle(3).as_str()),
        "the first offered is the newest"
    );
    let r = succeeded(
        &key.get(&["--account-choice", "platform", "--user-handle", &handle(1)]),
        "--account-choice platform --user-handle of user-1",
    );
    assert_eq!(account(&r), (key.ids[0].as_str(), handle(1).as_str()));
    let r = succeeded(
        &key.get(&[
            "--account-choice",
            "platform",
            "--credential-id",
            &key.ids[1],
        ]),
        "--account-choice platform --credential-id of user-2",
    );
    assert_eq!(account(&r), (key.ids[1].as_str(), handle(2).as_str()));
}

#[test]
fn a_user_handle_not_on_the_key_fails_and_nothing_is_signed() {
    let key = Key::new("missing");
    let missing = URL_SAFE_NO_PAD.encode("user-9");
    let before = key.counters();
    let out = key.get(&["--user-handle", &missing]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty(), "no response is printed");
    assert!(
        err.contains(&format!(
            "no discoverable credential for user handle {missing} on this key (--state {})",
            key.state()
        )) && err.contains("fidosim credentials list --state"),
        "{err}"
    );
    assert_eq!(key.counters(), before, "no credential signed");
    // With every credential sent to the client, it finds none and says
    // which it was offered.
    let out = key.get(&["--account-choice", "platform", "--user-handle", &missing]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains(&format!("none with user handle {missing}"))
            && (1..=3).all(|i| err.contains(&handle(i))),
        "{err}"
    );
    // The key's user picked the newest; another account was asked for.
    let out = key.get(&["--account-choice", "newest", "--user-handle", &handle(1)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("userSelected") && err.contains(&handle(3)) && err.contains(&handle(1)),
        "{err}"
    );
}

#[test]
fn bad_selections_are_usage_errors() {
    let key = Key::new("usage");
    for (args, says) in [
        (
            vec!["--account-choice", "platform", "--udp", "127.0.0.1:9"],
            "a running key, whose virtual user follows that key's own policy",
        ),
        (vec!["--user-handle", "!!"], "not base64"),
        (
            vec!["--user-handle", &handle(1), "--credential-id", &key.ids[0]],
            "cannot be used with",
        ),
        (
            vec!["--account-choice", "oldest"],
            "give platform, newest, refuse",
        ),
    ] {
        // --udp conflicts with --state, so the arguments go in alone.
        let options = write(&key.dir, "usage.json", &request());
        let mut all = vec!["webauthn", "get", options.as_str(), "--origin", ORIGIN];
        all.extend_from_slice(&args);
        let out = fidosim(&key.dir, &all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// A running key whose own policy sends every credential: the client walks
/// getNextAssertion over CTAPHID to the asked account.
#[test]
fn a_running_key_over_udp_with_the_platform_choosing() {
    let dir = std::env::temp_dir().join(format!(
        "fidosim-webauthn-accounts-udp-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = Daemon::udp(Path::new(BIN), &["--account-choice", "platform"]);
    let addr = d.addr.to_string();
    let mut ids = vec![];
    for i in 1..=3 {
        let options = write(&dir, &format!("create-{i}.json"), &creation(i));
        let out = fidosim(
            &dir,
            &[
                "webauthn", "create", &options, "--origin", ORIGIN, "--udp", &addr,
            ],
        );
        ids.push(
            succeeded(&out, "webauthn create --udp")["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let options = write(&dir, "get.json", &request());
    let get = |extra: &[&str]| {
        let mut args = vec![
            "webauthn", "get", &options, "--origin", ORIGIN, "--udp", &addr,
        ];
        args.extend_from_slice(extra);
        fidosim(&dir, &args)
    };
    let r = succeeded(&get(&[]), "webauthn get --udp");
    assert_eq!(account(&r), (ids[2].as_str(), handle(3).as_str()));
    let r = succeeded(&get(&["--user-handle", &handle(2)]), "--udp --user-handle");
    assert_eq!(account(&r), (ids[1].as_str(), handle(2).as_str()));
    let missing = URL_SAFE_NO_PAD.encode("user-9");
    let out = get(&["--user-handle", &missing]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("none with user handle {missing}")) && err.contains("running key"),
        "{err}"
    );
    assert_eq!(d.stop(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
