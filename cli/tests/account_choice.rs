//! The account choice over a running `fidosim run --transport udp`: which
//! of two discoverable credentials of one RP a getAssertion without an
//! allowList returns (CTAP 2.1 §6.2.2 step 12.2), live changes through the
//! control API and the CLI, the `account.chosen` and `account.choice`
//! events, and bad policies that change nothing.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use authenticator_core::cbor::{self, MapBuilder, Value as Cbor};
use fidosim_tests::control::{self, api, Events};
use fidosim_tests::daemon::Daemon;
use fidosim_tests::hid::UdpHid;
use fidosim_tests::requests;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");
const T: Duration = Duration::from_secs(10);
const RP: &str = "accounts.example";
const HASH: [u8; 32] = [7; 32];
/// CTAP2_ERR_OPERATION_DENIED (CTAP 2.1 §8.2).
const OPERATION_DENIED: u8 = 0x27;
/// The authenticator data flags (WebAuthn §6.1).
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A key with alice's discoverable credential, then bob's (the newest).
struct Key {
    daemon: Daemon,
    hid: UdpHid,
    cid: u32,
    alice: Vec<u8>,
    bob: Vec<u8>,
}

impl Key {
    fn start(args: &[&str]) -> Self {
        let daemon = Daemon::udp(Path::new(BIN), args);
        let hid = UdpHid::connect(daemon.addr).unwrap();
        let cid = hid.init().unwrap();
        let make = |user: &[u8]| {
            let (resp, _) = hid
                .cbor(cid, &requests::make_discoverable(RP, &HASH, user), T)
                .unwrap();
            requests::credential_id(&resp)
                .unwrap_or_else(|| panic!("makeCredential failed: {resp:02x?}"))
        };
        let alice = make(b"alice");
        let bob = make(b"bob");
        Self {
            daemon,
            hid,
            cid,
            alice,
            bob,
        }
    }

    fn sock(&self) -> &Path {
        &self.daemon.control
    }

    /// getAssertion for the RP without an allowList; `options` are the
    /// request's options map (key 0x05), if any.
    fn get_assertion(&self, options: &[(&str, bool)]) -> Vec<u8> {
        let mut req = MapBuilder::new()
            .int(1, RP)
            .int(2, cbor::bytes(HASH.to_vec()));
        if !options.is_empty() {
            let mut m = MapBuilder::new();
            for (k, v) in options {
                m = m.text(k, *v);
            }
            req = req.int(5, m.build());
        }
        let request = [vec![0x02], cbor::encode(&req.build())].concat();
        self.hid.cbor(self.cid, &request, T).unwrap().0
    }

    /// authenticatorGetNextAssertion (CTAP 2.1 §6.3).
    fn get_next_assertion(&self) -> Vec<u8> {
        self.hid.cbor(self.cid, &[0x08], T).unwrap().0
    }

    /// Changes the account choice through the control API; the policy now
    /// in force.
    fn choose(&self, policy: &str) -> String {
        let (status, v) = api(
            self.sock(),
            "PUT",
            "/v1/devices/default/presence",
            Some(json!({ "accountChoice": policy })),
        );
        assert_eq!(status, 200, "{policy}: {v}");
        v["accountChoice"].as_str().unwrap().to_owned()
    }

    /// Each stored credential's ID (base64) and signature counter.
    fn counters(&self) -> Vec<(String, u64)> {
        let (status, v) = api(self.sock(), "GET", "/v1/devices/default/credentials", None);
        assert_eq!(status, 200, "{v}");
        let mut out: Vec<(String, u64)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["credentialId"].as_str().unwrap().to_owned(),
                    c["signCount"].as_u64().unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn status(&self) -> Value {
        let (status, v) = api(self.sock(), "GET", "/v1/devices/default", None);
        assert_eq!(status, 200, "{v}");
        v
    }
}

/// The members of a getAssertion response (CTAP 2.1 §6.2.2) a test checks.
#[derive(Debug)]
struct Assertion {
    credential_id: Vec<u8>,
    flags: u8,
    /// The user map's members, by name.
    user: Vec<(String, Cbor)>,
    number_of_credentials: Option<u64>,
    user_selected: Option<bool>,
}

fn assertion(resp: &[u8]) -> Assertion {
    let (&status, body) = resp.split_first().unwrap();
    assert_eq!(status, 0, "getAssertion failed with status {status:#04x}");
    let mut m = cbor::Fields::decode(body).unwrap();
    let mut descriptor = cbor::Fields::from_value(m.take(1).unwrap()).unwrap();
    let credential_id = cbor::as_bytes(descriptor.take_text_key("id").unwrap(), 1024).unwrap();
    let auth_data = cbor::as_bytes(m.take(2).unwrap(), 4096).unwrap();
    let user = cbor::as_map(m.take(4).expect("a discoverable credential's user map"))
        .unwrap()
        .into_iter()
        .map(|(k, v)| (cbor::as_text(k, 64).unwrap(), v))
        .collect();
    Assertion {
        credential_id,
        flags: auth_data[32],
        user,
        number_of_credentials: m.take(5).map(|v| cbor::as_uint(v).unwrap()),
        user_selected: m.take(6).map(|v| cbor::as_bool(v).unwrap()),
    }
}

impl Assertion {
    /// Chosen on the device: only this credential, marked userSelected, no
    /// numberOfCredentials, and a user map of the ID alone (CTAP 2.1 §6.2.2
    /// step 12.2).
    fn assert_chosen(&self, id: &[u8], user: &[u8]) {
        assert_eq!(self.credential_id, id, "{self:?}");
        assert_eq!(self.user_selected, Some(true), "{self:?}");
        assert_eq!(self.number_of_credentials, None, "{self:?}");
        assert_eq!(
            self.user,
            [("id".to_owned(), cbor::bytes(user.to_vec()))],
            "{self:?}"
        );
    }
}

/// The next event of `kind`, skipping others.
fn next_event(events: &mut Events, kind: &str) -> Value {
    let deadline = Instant::now() + T;
    while let Some(v) = events.next_before(deadline) {
        if v["type"] == kind {
            return v;
        }
    }
    panic!("no {kind} event within {T:?}");
}

/// The events of the next `within`, by type.
fn events_for(events: &mut Events, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while let Some(v) = events.next_before(deadline) {
        out.push(v);
    }
    out
}

#[test]
fn newest_by_default_and_platform_when_changed_live() {
    let key = Key::start(&[]);
    assert_eq!(key.status()["accountChoice"], "newest");
    let mut events = Events::follow(key.sock(), "");

    // Default, with up (the default option) and with uv: bob's credential,
    // the newest, chosen on the device.
    for options in [&[][..], &[("uv", true)][..]] {
        let a = assertion(&key.get_assertion(options));
        a.assert_chosen(&key.bob, b"bob");
        assert_ne!(a.flags & FLAG_UP, 0);
        assert_eq!(a.flags & FLAG_UV != 0, !options.is_empty(), "{a:?}");
        let e = next_event(&mut events, "account.chosen");
        assert_eq!(e["rpId"], RP);
        assert_eq!(e["candidates"], 2);
        assert_eq!(e["outcome"], "chosen");
        assert_eq!(e["reason"], "newest");
        assert_eq!(e["credentialId"], b64(&key.bob));
        assert_eq!(e["userHandle"], b64(b"bob"));
        // Nothing is left for getNextAssertion.
        assert_eq!(key.get_next_assertion(), [0x30], "CTAP2_ERR_NOT_ALLOWED");
    }

    // Live: the next request hands both to the platform, newest first.
    assert_eq!(key.choose("platform"), "platform");
    let e = next_event(&mut events, "account.choice");
    assert_eq!(e["accountChoice"], "platform");
    assert_eq!(key.status()["accountChoice"], "platform");
    for options in [&[][..], &[("uv", true)][..]] {
        let first = assertion(&key.get_assertion(options));
        assert_eq!(first.credential_id, key.bob, "{first:?}");
        assert_eq!(first.number_of_credentials, Some(2), "{first:?}");
        assert_eq!(first.user_selected, None, "{first:?}");
        let next = assertion(&key.get_next_assertion());
        assert_eq!(next.credential_id, key.alice, "{next:?}");
        assert_eq!(next.number_of_credentials, None, "{next:?}");
        assert_eq!(next.user_selected, None, "{next:?}");
        let e = next_event(&mut events, "account.chosen");
        assert_eq!(e["outcome"], "platform");
        assert_eq!(e["candidates"], 2);
        assert_eq!(e["reason"], "platform");
        assert_eq!(e["credentialId"], Value::Null);
    }

    // And back: the change applies to the very next request.
    assert_eq!(key.choose("newest"), "newest");
    assertion(&key.get_assertion(&[])).assert_chosen(&key.bob, b"bob");
}

#[test]
fn user_and_credential_rules_then_the_fallback() {
    let key = Key::start(&[]);
    let mut events = Events::follow(key.sock(), "");
    let check = |events: &mut Events, id: &[u8], user: &[u8], reason: &str| {
        for options in [&[][..], &[("uv", true)][..]] {
            assertion(&key.get_assertion(options)).assert_chosen(id, user);
            let e = next_event(events, "account.chosen");
            assert_eq!(
                (&e["outcome"], &e["reason"]),
                (&json!("chosen"), &json!(reason))
            );
            assert_eq!(e["credentialId"], b64(id));
            assert_eq!(e["userHandle"], b64(user));
        }
    };

    // user:HANDLE picks alice's credential although bob's is newer;
    // standard base64 with padding is read too, the canonical form is
    // URL-safe without it.
    assert_eq!(key.choose("user:YWxpY2U="), "user:YWxpY2U,newest");
    check(&mut events, &key.alice, b"alice", "user-handle");

    // A rule for nobody is passed over; credential:ID matches.
    let alice_id = b64(&key.alice);
    key.choose(&format!("user:ZGF2ZQ,credential:{alice_id}"));
    check(&mut events, &key.alice, b"alice", "credential-id");

    // No rule matches: newest.
    assert_eq!(key.choose("user:ZGF2ZQ"), "user:ZGF2ZQ,newest");
    check(&mut events, &key.bob, b"bob", "newest-no-match");

    // No rule matches and the user refuses, or refuses outright: the
    // request is denied and nothing is signed.
    let before = key.counters();
    for policy in ["user:ZGF2ZQ,refuse", "refuse"] {
        assert_eq!(key.choose(policy), policy);
        for options in [&[][..], &[("uv", true)][..]] {
            assert_eq!(key.get_assertion(options), [OPERATION_DENIED], "{policy}");
            let e = next_event(&mut events, "account.chosen");
            assert_eq!(e["outcome"], "declined");
            assert_eq!(e["reason"], policy);
            assert_eq!(e["credentialId"], Value::Null);
            assert_eq!(e["userHandle"], Value::Null);
        }
    }
    assert_eq!(key.counters(), before, "a declined choice signed something");
    let seen = events_for(&mut events, Duration::from_millis(300));
    assert!(
        seen.iter().all(|e| e["type"] != "credential.asserted"),
        "{seen:?}"
    );
    // user:bob with a refusal behind it still picks bob.
    key.choose("user:Ym9i,refuse");
    check(&mut events, &key.bob, b"bob", "user-handle");
}

#[test]
fn silent_requests_go_to_the_platform_and_one_credential_has_no_choice() {
    let key = Key::start(&[]);
    let mut events = Events::follow(key.sock(), "");
    // up=false and uv=false: numberOfCredentials is required (CTAP 2.1
    // §6.2.2), so every policy hands all of them to the platform.
    for policy in ["newest", "user:YWxpY2U", "refuse"] {
        key.choose(policy);
        let first = assertion(&key.get_assertion(&[("up", false)]));
        assert_eq!(first.flags & (FLAG_UP | FLAG_UV), 0, "{first:?}");
        assert_eq!(first.credential_id, key.bob, "{policy}: {first:?}");
        assert_eq!(first.number_of_credentials, Some(2), "{policy}: {first:?}");
        assert_eq!(first.user_selected, None, "{policy}: {first:?}");
        let next = assertion(&key.get_next_assertion());
        assert_eq!(next.credential_id, key.alice, "{policy}: {next:?}");
    }
    // With one applicable credential there is nothing to choose: even
    // `refuse` signs.
    key.choose("refuse");
    let (status, v) = api(
        key.sock(),
        "DELETE",
        &format!(
            "/v1/devices/default/credentials/{}",
            b64(&key.alice)
                .replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        ),
        None,
    );
    assert_eq!(status, 200, "{v}");
    let only = assertion(&key.get_assertion(&[]));
    assert_eq!(only.credential_id, key.bob);
    assert_eq!(only.user_selected, None);
    assert_eq!(only.number_of_credentials, None);
    // Silent requests leave the virtual user out, and the last had no
    // choice to make: no account.chosen event at all, while every
    // assertion was signed.
    let seen = events_for(&mut events, Duration::from_millis(300));
    assert!(
        seen.iter().all(|e| e["type"] != "account.chosen"),
        "{seen:?}"
    );
    let asserted = seen
        .iter()
        .filter(|e| e["type"] == "credential.asserted")
        .count();
    assert_eq!(asserted, 7, "{seen:?}");
}

#[test]
fn a_bad_policy_changes_nothing() {
    let key = Key::start(&["--presence", "approve", "--account-choice", "platform"]);
    let sock = key.sock();
    let before = key.status();
    assert_eq!(before["accountChoice"], "platform");
    for (body, needle) in [
        (
            json!({ "presence": "deny", "uv": "fail", "accountChoice": "oldest" }),
            "accountChoice: `oldest`: `oldest` is not a rule; give platform",
        ),
        (
            json!({ "presence": "sometimes", "accountChoice": "refuse" }),
            "presence",
        ),
        (json!({ "uv": "maybe", "accountChoice": "refuse" }), "uv"),
        (
            json!({ "accountChoice": "refuse,user:YWxpY2U" }),
            "`refuse` must come last",
        ),
        (
            json!({}),
            "give `presence`, `uv`, `accountChoice` or any combination",
        ),
    ] {
        let (status, v) = api(
            sock,
            "PUT",
            "/v1/devices/default/presence",
            Some(body.clone()),
        );
        assert_eq!(status, 400, "{body}: {v}");
        let msg = v["error"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{body}: `{msg}` lacks `{needle}`");
        assert_eq!(key.status(), before, "{body} changed the device");
    }
    // The policy in force still applies.
    let first = assertion(&key.get_assertion(&[]));
    assert_eq!(first.number_of_credentials, Some(2), "{first:?}");

    // All three at once, when all are good.
    let (status, v) = api(
        sock,
        "PUT",
        "/v1/devices/default/presence",
        Some(json!({ "presence": "approve", "uv": "fail", "accountChoice": "newest" })),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({ "presence": "approve", "uv": "fail", "accountChoice": "newest" })
    );
}

#[test]
fn the_cli_changes_and_shows_the_account_choice() {
    let key = Key::start(&[]);
    let sock = key.sock();
    let cli = |args: &[&str]| control::cli(Path::new(BIN), sock, args);
    let mut events = Events::follow(sock, "");

    let (code, out, err) = cli(&["presence", "account-choice", "user:YWxpY2U="]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "account choice of default is now user:YWxpY2U,newest"
    );
    let e = next_event(&mut events, "account.choice");
    assert_eq!(e["accountChoice"], "user:YWxpY2U,newest");
    assertion(&key.get_assertion(&[])).assert_chosen(&key.alice, b"alice");

    let (code, out, err) = cli(&["presence", "account-choice", "platform", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["accountChoice"], "platform");
    assert_eq!(v["presence"], "approve");

    let (code, out, _) = cli(&["devices", "status"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.contains("accountChoice") && l.contains("platform")),
        "{out}"
    );

    let (code, _, err) = cli(&["presence", "account-choice", "oldest"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("accountChoice: `oldest`") && err.contains("give platform, newest, refuse"),
        "{err}"
    );
    assert_eq!(key.status()["accountChoice"], "platform");

    // A device added with the setting, as one rule or several.
    for (name, value, want) in [
        ("plat", "platform", "platform"),
        ("picky", "user:YWxpY2U,refuse", "user:YWxpY2U,refuse"),
    ] {
        let (code, _, err) = cli(&[
            "devices",
            "add",
            name,
            "--set",
            "transport=udp",
            "--set",
            "udp-listen=127.0.0.1:0",
            "--set",
            "ephemeral=true",
            "--set",
            &format!("account-choice={value}"),
        ]);
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = cli(&["devices", "status", "--device", name, "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["accountChoice"], want);
    }
    let (code, _, err) = cli(&[
        "devices",
        "add",
        "bad",
        "--set",
        "transport=udp",
        "--set",
        "ephemeral=true",
        "--set",
        "account-choice=oldest",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("settings.account-choice: `oldest`"), "{err}");
}

#[test]
fn bad_start_values_name_the_flag_and_the_key() {
    let out = Command::new(BIN)
        .args(["run", "--ephemeral", "--account-choice", "oldest"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--account-choice: `oldest`"), "{err}");

    let dir = std::env::temp_dir().join(format!("fidosim-accounts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fidosim.toml");
    std::fs::write(
        &file,
        "[device.x]\ntransport = \"udp\"\nephemeral = true\naccount-choice = \"credential:\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config", file.to_str().unwrap(), "--no-control"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[device.x] account-choice: `credential:`"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_config_file_sets_the_account_choice() {
    let dir = std::env::temp_dir().join(format!("fidosim-accounts-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fidosim.toml");
    let addr = fidosim_tests::daemon::free_udp_addr();
    std::fs::write(
        &file,
        format!(
            "[device.a]\ntransport = \"udp\"\nudp-listen = \"{addr}\"\nephemeral = true\n\
             account-choice = \"platform\"\n"
        ),
    )
    .unwrap();
    let sock = dir.join("control.sock");
    let mut child = fidosim_tests::daemon::run_config(Path::new(BIN), &file, &sock);
    let (status, v) = api(&sock, "GET", "/v1/devices/a", None);
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accountChoice"], "platform");
}
