//! The control API and its CLI against `fidosim run --transport udp`: the
//! OpenAPI document checked against the server, every endpoint and verb,
//! bad input that changes nothing, manual presence with `touch`, events,
//! and a credential moved from one key to another.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fidosim_tests::control::{self, api, http, Events};
use fidosim_tests::daemon::Daemon;
use fidosim_tests::hid::UdpHid;
use fidosim_tests::requests;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");
const T: Duration = Duration::from_secs(10);
/// RFC 8410 §10.3's Ed25519 key, PKCS#8.
const ED_KEY: &str = "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC";

fn credential(id: &str, resident: bool) -> Value {
    json!({
        "credentialId": id,
        "isResidentCredential": resident,
        "rpId": "example.org",
        "privateKey": ED_KEY,
        "userHandle": "dXNlcg==",
        "signCount": 7,
        "userName": "alice"
    })
}

fn cli(sock: &Path, args: &[&str]) -> (i32, String, String) {
    control::cli(Path::new(BIN), sock, args)
}

fn openapi() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The schema `r` names (`$ref`), resolved.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            let section = if r.contains("/responses/") {
                "responses"
            } else {
                "schemas"
            };
            resolve(doc, &doc["components"][section][name])
        }
        None => v,
    }
}

/// Checks `value` against the parts of a schema the document uses: type,
/// required properties, array items, enums.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(t) = schema["type"].as_str() {
        let ok = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string() || (value.is_null() && schema["nullable"] == true),
            "integer" => {
                value.is_u64() || value.is_i64() || (value.is_null() && schema["nullable"] == true)
            }
            "boolean" => value.is_boolean() || (value.is_null() && schema["nullable"] == true),
            _ => true,
        };
        assert!(ok, "{at}: {value} is not {t}");
    }
    for r in schema["required"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap();
        assert!(value.get(r).is_some(), "{at}: `{r}` missing in {value}");
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for (k, v) in obj {
            if let Some(p) = props.get(k) {
                conforms(doc, p, v, &format!("{at}.{k}"));
            } else {
                assert!(
                    schema["additionalProperties"] != false,
                    "{at}: `{k}` is not documented"
                );
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            conforms(doc, items, v, &format!("{at}[{i}]"));
        }
    }
    if let Some(e) = schema["enum"].as_array() {
        assert!(e.contains(value), "{at}: {value} not in {e:?}");
    }
}

#[test]
fn the_server_answers_as_its_openapi_document_says() {
    let d = Daemon::udp(Path::new(BIN), &[]);
    let sock = d.control.clone();
    let doc = openapi();
    // A credential to address; each import gets an ID of its own.
    assert_eq!(
        api(
            &sock,
            "POST",
            "/v1/devices/default/credentials",
            Some(credential("AQID", true))
        )
        .0,
        201
    );
    // A fault to address (id 1); it never fires here.
    let fault = json!({ "kind": "drop", "command": "selection" });
    let path = "/v1/devices/default/faults";
    assert_eq!(api(&sock, "POST", path, Some(fault.clone())).0, 201);
    let mut n = 0;
    let mut checked = 0;
    // Deletions last, so that the other operations find the credential.
    let mut ops: Vec<(String, String, Value)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    // Deletions after the rest (the longest path first, so that one
    // credential is deleted before all are cleared), reset last.
    ops.sort_by_key(|(p, m, op)| {
        let rank = if op["operationId"] == "reset" {
            2
        } else {
            u8::from(m == "delete")
        };
        (rank, std::cmp::Reverse(p.len()))
    });
    for (path, method, op) in ops {
        n += 1;
        // The device removed is the clone made before.
        let device = if method == "delete" && path == "/v1/devices/{device}" {
            "cloned"
        } else {
            "default"
        };
        let url = path
            .replace("{device}", device)
            .replace("{id}", "AQID")
            .replace("{fault}", "1");
        let body = match op["operationId"].as_str().unwrap() {
            "setPresence" => {
                Some(json!({ "presence": "approve", "uv": "succeed", "accountChoice": "newest" }))
            }
            "importCredentials" => Some(credential(&format!("BB{n:02}"), false)),
            "addDevice" => Some(
                json!({ "name": format!("dev{n}"), "settings": { "transport": "udp", "udp-listen": "127.0.0.1:0", "ephemeral": true } }),
            ),
            "cloneDevice" => Some(json!({ "name": "cloned" })),
            "setCounter" => Some(json!({ "signCount": 3 })),
            "setCounterMode" => Some(json!({ "mode": "per-credential", "overflow": "saturate" })),
            "addFault" => Some(fault.clone()),
            _ => None,
        };
        if op["operationId"] == "events" {
            // A stream: check the status line only.
            let events = Events::follow(&sock, "");
            assert!(
                events.status_line.starts_with("HTTP/1.1 200"),
                "{}",
                events.status_line
            );
            checked += 1;
            continue;
        }
        let (status, text) = http(
            &sock,
            &method.to_uppercase(),
            &url,
            body.map(|b| b.to_string()).as_deref(),
        );
        let documented = &op["responses"][status.to_string()];
        assert!(
            !documented.is_null(),
            "{method} {url}: status {status} is not documented ({text})"
        );
        let documented = resolve(&doc, documented);
        if let Some(schema) = documented["content"]["application/json"].get("schema") {
            let value: Value = serde_json::from_str(&text).unwrap();
            conforms(&doc, schema, &value, &format!("{method} {url}"));
        }
        // A touch with nothing waiting is the documented 409.
        let expected_error = op["operationId"] == "touch" && status == 409;
        assert!(
            (200..300).contains(&status) || expected_error,
            "{method} {url}: {status} {text}"
        );
        checked += 1;
    }
    assert_eq!(checked, n);
    assert!(n >= 13, "every endpoint is documented ({n})");
    // An unknown endpoint gets the documented error shape.
    let (status, v) = api(&sock, "GET", "/v1/nothing", None);
    assert_eq!(status, 404);
    conforms(
        &doc,
        &json!({ "$ref": "#/components/schemas/Error" }),
        &v,
        "404",
    );
}

#[test]
fn bad_input_gets_clear_errors_and_changes_nothing() {
    let d = Daemon::udp(Path::new(BIN), &[]);
    let sock = d.control.clone();
    let list = || api(&sock, "GET", "/v1/devices/default/credentials", None).1;
    assert_eq!(
        api(
            &sock,
            "POST",
            "/v1/devices/default/credentials",
            Some(credential("AQID", true))
        )
        .0,
        201
    );
    let before = list();
    let mut wrong_key = credential("CCCC", true);
    wrong_key["privateKey"] = json!("MCowBQYDK2VuAyEA"); // X25519-ish junk
    let mut bad_b64 = credential("CCCC", true);
    bad_b64["userHandle"] = json!("***");
    let cases: Vec<(&str, &str, Option<String>, u16, &str)> = vec![
        (
            "POST",
            "/v1/devices/default/credentials",
            Some("{not json".into()),
            400,
            "JSON",
        ),
        (
            "POST",
            "/v1/devices/default/credentials",
            Some(wrong_key.to_string()),
            400,
            "privateKey",
        ),
        (
            "POST",
            "/v1/devices/default/credentials",
            Some(bad_b64.to_string()),
            400,
            "userHandle",
        ),
        (
            "POST",
            "/v1/devices/default/credentials",
            Some(json!([credential("DDDD", false), credential("AQID", true)]).to_string()),
            409,
            "already exists",
        ),
        (
            "POST",
            "/v1/devices/nope/credentials",
            Some(credential("EEEE", true).to_string()),
            404,
            "no device named",
        ),
        (
            "GET",
            "/v1/devices/default/credentials/AAAA",
            None,
            404,
            "no stored credential",
        ),
        (
            "DELETE",
            "/v1/devices/default/credentials/%%%",
            None,
            400,
            "base64",
        ),
        (
            "PUT",
            "/v1/devices/default/credentials/AQID/counter",
            Some(r#"{"signCount":-1}"#.into()),
            400,
            "JSON",
        ),
        (
            "PUT",
            "/v1/devices/default/credentials/AAAA/counter",
            Some(r#"{"signCount":1}"#.into()),
            404,
            "no stored credential",
        ),
        (
            "PUT",
            "/v1/devices/default/presence",
            Some(r#"{"presence":"sometimes"}"#.into()),
            400,
            "presence",
        ),
        (
            "PUT",
            "/v1/devices/default/presence",
            Some("{}".into()),
            400,
            "presence",
        ),
        (
            "POST",
            "/v1/devices/default/touch",
            None,
            409,
            "no request is waiting",
        ),
    ];
    for (method, path, body, want, needle) in cases {
        let (status, text) = http(&sock, method, path, body.as_deref());
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(status, want, "{method} {path}: {text}");
        let msg = v["error"].as_str().unwrap_or("");
        assert!(
            msg.contains(needle),
            "{method} {path}: `{msg}` lacks `{needle}`"
        );
        assert_eq!(list(), before, "{method} {path} changed the credentials");
    }
    // The CLI says the same, with exit status 1.
    let (code, _, err) = cli(&sock, &["credentials", "show", "AAAA"]);
    assert_eq!(code, 1);
    assert!(err.contains("no stored credential"), "{err}");
    let (code, _, err) = cli(&sock, &["devices", "status", "--device", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no device named `nope`"), "{err}");
    let missing = std::env::temp_dir().join("fidosim-no-such.sock");
    let (code, _, err) = cli(&missing, &["devices", "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("is `fidosim run` running?"), "{err}");
}

#[test]
fn cli_verbs_drive_the_running_key() {
    let d = Daemon::udp(Path::new(BIN), &[]);
    let sock = d.control.clone();
    let (code, out, _) = cli(&sock, &["devices", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("default") && out.contains("udp"), "{out}");
    let file = std::env::temp_dir().join(format!("fidosim-cred-{}.json", std::process::id()));
    std::fs::write(&file, credential("AQID", true).to_string()).unwrap();
    let (code, out, err) = cli(&sock, &["credentials", "import", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 1"), "{out}");
    let (_, out, _) = cli(&sock, &["credentials", "list"]);
    assert!(
        out.contains("AQID") && out.contains("example.org") && out.contains('7'),
        "{out}"
    );
    let (code, _, _) = cli(&sock, &["counters", "set", "AQID", "2"]);
    assert_eq!(code, 0);
    let (_, out, _) = cli(&sock, &["credentials", "show", "AQID"]);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["signCount"], 2);
    assert_eq!(shown["privateKey"], ED_KEY);
    let (_, out, _) = cli(&sock, &["devices", "status", "--json"]);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["storedCredentials"], 1);
    assert_eq!(status["discoverableCredentials"], 1);
    let (code, out, _) = cli(&sock, &["presence", "set", "deny"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, _) = cli(&sock, &["presence", "uv", "fail"]);
    assert_eq!(code, 0);
    let (_, out, _) = cli(&sock, &["devices", "status", "--json"]);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (status["presence"].as_str(), status["uv"].as_str()),
        (Some("deny"), Some("fail"))
    );
    let (code, _, _) = cli(&sock, &["devices", "replug"]);
    assert_eq!(code, 0);
    let (code, out, _) = cli(&sock, &["credentials", "delete", "AQID"]);
    assert_eq!(code, 0, "{out}");
    std::fs::write(
        &file,
        json!([credential("AQID", false), credential("BBBB", false)]).to_string(),
    )
    .unwrap();
    cli(&sock, &["credentials", "import", file.to_str().unwrap()]);
    let (_, out, _) = cli(&sock, &["credentials", "clear"]);
    assert!(out.contains("deleted 2"), "{out}");
    let (code, _, _) = cli(&sock, &["devices", "reset"]);
    assert_eq!(code, 0);
    let _ = std::fs::remove_file(file);
}

/// The credential ID and public key... of a makeCredential over UDP.
fn register(addr: std::net::SocketAddr, rp: &str) -> Vec<u8> {
    let hid = UdpHid::connect(addr).unwrap();
    let cid = hid.init().unwrap();
    let (resp, _) = hid
        .cbor(cid, &requests::make_discoverable(rp, &[1; 32], b"bob"), T)
        .unwrap();
    requests::credential_id(&resp).unwrap()
}

fn assert_on(addr: std::net::SocketAddr, rp: &str, id: &[u8]) -> u32 {
    let hid = UdpHid::connect(addr).unwrap();
    let cid = hid.init().unwrap();
    let (resp, _) = hid
        .cbor(cid, &requests::get_assertion(rp, &[2; 32], id), T)
        .unwrap();
    requests::assertion(&resp)
        .unwrap_or_else(|| panic!("getAssertion failed: {resp:02x?}"))
        .1
}

#[test]
fn manual_presence_waits_for_touch_and_events_report_it() {
    let d = Daemon::udp(Path::new(BIN), &[]);
    let sock = d.control.clone();
    // Follow the events: nothing after this is missed.
    let mut events = Events::follow(&sock, "?device=default");
    assert_eq!(
        api(
            &sock,
            "PUT",
            "/v1/devices/default/presence",
            Some(json!({"presence": "manual"}))
        )
        .0,
        200
    );
    let addr = d.addr;
    let client = std::thread::spawn(move || register(addr, "touch.example"));
    let deadline = Instant::now() + T;
    loop {
        let (_, st) = api(&sock, "GET", "/v1/devices/default", None);
        if st["waitingForUser"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the request never waited for a touch"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(!client.is_finished(), "no touch, no credential");
    assert_eq!(api(&sock, "POST", "/v1/devices/default/touch", None).0, 200);
    let id = client.join().unwrap();
    let mut kinds = Vec::new();
    let deadline = Instant::now() + T;
    while let Some(v) = events.next_before(deadline) {
        if v["type"] == "credential.created" {
            assert_eq!(v["rpId"], "touch.example");
            assert_eq!(v["signCount"], 0);
            assert_eq!(v["discoverable"], true);
            let got = v["credentialId"].as_str().unwrap().to_owned();
            assert_eq!(got, base64_std(&id));
            kinds.push("credential.created".to_owned());
            break;
        }
        kinds.push(v["type"].as_str().unwrap_or("").to_owned());
    }
    assert!(kinds.iter().any(|k| k == "presence.changed"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "presence.waiting"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "presence.touched"), "{kinds:?}");
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("credential.created"),
        "{kinds:?}"
    );
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn temp_state(tag: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("fidosim-control-{tag}-{}", std::process::id()))
        .join("state.redb")
}

#[test]
fn a_credential_moves_to_another_key_and_works_offline_too() {
    let state = temp_state("move");
    let state_arg = state.to_str().unwrap().to_owned();
    let a = Daemon::udp(Path::new(BIN), &["--state", &state_arg]);
    let id = register(a.addr, "move.example");
    assert_eq!(assert_on(a.addr, "move.example", &id), 1);
    assert_eq!(assert_on(a.addr, "move.example", &id), 2);
    let (code, exported, err) = cli(&a.control, &["credentials", "export"]);
    assert_eq!(code, 0, "{err}");
    assert!(a.stop().is_some());
    // The state file holds it; the CLI reads it without a daemon.
    let out = Command::new(BIN)
        .args(["credentials", "list", "--json", "--state", &state_arg])
        .output()
        .unwrap();
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(offline[0]["rpId"], "move.example");
    assert!(offline[0]["signCount"].as_u64().unwrap() >= 2);
    // A second key, which never saw the credential, signs with it after
    // the import, and its counter goes on from the exported value.
    let b = Daemon::udp(Path::new(BIN), &[]);
    let file = state.with_file_name("export.json");
    std::fs::write(&file, &exported).unwrap();
    let (code, _, err) = cli(
        &b.control,
        &["credentials", "import", file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let exported: Value = serde_json::from_str(&exported).unwrap();
    let count = exported[0]["signCount"].as_u64().unwrap() as u32;
    assert_eq!(assert_on(b.addr, "move.example", &id), count + 1);
    // Rewound, the clone signs a lower counter than the original did.
    cli(&b.control, &["counters", "set", &base64_std(&id), "1"]);
    assert_eq!(assert_on(b.addr, "move.example", &id), 2);
    let _ = std::fs::remove_dir_all(state.parent().unwrap());
}

#[test]
fn devices_are_added_cloned_and_removed_at_run_time() {
    let d = Daemon::udp(Path::new(BIN), &[]);
    let sock = d.control.clone();
    let id = register(d.addr, "clone.example");
    assert_eq!(assert_on(d.addr, "clone.example", &id), 1);
    assert_eq!(assert_on(d.addr, "clone.example", &id), 2);
    // Counter modes change at run time.
    let (code, _, err) = cli(&sock, &["counters", "mode", "frozen"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(assert_on(d.addr, "clone.example", &id), 2);
    assert_eq!(assert_on(d.addr, "clone.example", &id), 2);
    let (code, _, err) = cli(
        &sock,
        &["counters", "mode", "per-credential", "--overflow", "wrap"],
    );
    assert_eq!(code, 0, "{err}");
    let (_, st) = api(&sock, "GET", "/v1/devices/default", None);
    assert_eq!(
        (st["counterMode"].as_str(), st["counterOverflow"].as_str()),
        (Some("per-credential"), Some("wrap"))
    );
    let (code, _, err) = cli(&sock, &["counters", "mode", "sometimes"]);
    assert_eq!(code, 1);
    assert!(err.contains("random:MAX"), "{err}");
    // A clone two signatures behind, plugged in by one call.
    let (status, clone) = api(
        &sock,
        "POST",
        "/v1/devices/default/clone",
        Some(json!({ "name": "twin", "counterOffset": -2 })),
    );
    assert_eq!(status, 201, "{clone}");
    assert_eq!(clone["name"], "twin");
    assert_eq!(clone["storedCredentials"], 1);
    let twin: std::net::SocketAddr = clone["address"].as_str().unwrap().parse().unwrap();
    assert_ne!(twin, d.addr);
    // Same key, same credential ID, and a counter that goes back.
    assert_eq!(assert_on(twin, "clone.example", &id), 1);
    assert_eq!(assert_on(d.addr, "clone.example", &id), 3);
    let (status, v) = api(
        &sock,
        "POST",
        "/v1/devices/default/clone",
        Some(json!({ "name": "twin" })),
    );
    assert_eq!(status, 409, "{v}");
    let (status, v) = api(
        &sock,
        "POST",
        "/v1/devices/default/clone",
        Some(json!({ "name": "bad name!" })),
    );
    assert_eq!(status, 400, "{v}");
    let (status, v) = api(
        &sock,
        "POST",
        "/v1/devices/default/clone",
        Some(json!({ "name": "x", "credentials": ["AAAA"] })),
    );
    assert_eq!(status, 404, "{v}");
    // A device from settings (the flags of `fidosim run`), then removed.
    let (status, v) = api(
        &sock,
        "POST",
        "/v1/devices",
        Some(
            json!({ "name": "extra", "settings": { "transport": "udp", "udp-listen": "127.0.0.1:0", "ephemeral": true, "presence": "deny" } }),
        ),
    );
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["presence"], "deny");
    let (status, v) = api(
        &sock,
        "POST",
        "/v1/devices",
        Some(json!({ "name": "bad", "settings": { "transport": "udp", "frobnicate": true } })),
    );
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("--frobnicate"), "{v}");
    let (_, list) = api(&sock, "GET", "/v1/devices", None);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "extra", "twin"]);
    for name in ["extra", "twin"] {
        assert_eq!(
            api(&sock, "DELETE", &format!("/v1/devices/{name}"), None).0,
            200
        );
    }
    assert_eq!(api(&sock, "DELETE", "/v1/devices/twin", None).0, 404);
    // The same through the CLI.
    let (code, out, err) = cli(
        &sock,
        &[
            "devices",
            "add",
            "cli",
            "--set",
            "transport=udp",
            "--set",
            "udp-listen=127.0.0.1:0",
            "--set",
            "ephemeral=true",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cli is plugged in"), "{out}");
    let (code, out, err) = cli(
        &sock,
        &[
            "devices",
            "clone",
            "cli2",
            "--device",
            "default",
            "--counter-offset",
            "-1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 credential(s)"), "{out}");
    let (code, _, err) = cli(&sock, &["devices", "add", "bad", "--set", "transport"]);
    assert_eq!(code, 1);
    assert!(err.contains("KEY=VALUE"), "{err}");
    for name in ["cli", "cli2"] {
        let (code, _, err) = cli(&sock, &["devices", "remove", "--device", name]);
        assert_eq!(code, 0, "{err}");
    }
    let (_, list) = api(&sock, "GET", "/v1/devices", None);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn a_config_file_starts_several_devices() {
    let dir = temp_state("config");
    let dir = dir.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("keys.toml");
    let sock = dir.join("control.sock");
    std::fs::write(
        &file,
        r#"
[device.alice]
transport = "udp"
udp-listen = "127.0.0.1:0"
ephemeral = true
presence = "manual"

[device.bob]
transport = "udp"
udp-listen = "127.0.0.1:0"
ephemeral = true
algorithms = ["eddsa"]
counter = "global"
"#,
    )
    .unwrap();
    let mut child = fidosim_tests::daemon::run_config(Path::new(BIN), &file, &sock);
    let (_, list) = api(&sock, "GET", "/v1/devices", None);
    let got: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (s(&d["name"]), s(&d["presence"]), s(&d["counterMode"])))
        .collect();
    assert_eq!(
        got,
        [
            ("alice".into(), "manual".into(), "per-credential".into()),
            ("bob".into(), "approve".into(), "global".into())
        ]
    );
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(!sock.exists(), "the socket is removed on exit");
    // Device flags on the command line next to --config are refused, as
    // are unknown settings in the file.
    let out = Command::new(BIN)
        .args([
            "run",
            "--config",
            file.to_str().unwrap(),
            "--presence",
            "deny",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--presence: with --config"));
    std::fs::write(&file, "[device.x]\ntransport = \"udp\"\ncolour = \"red\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[device.x]") && err.contains("--colour"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

#[test]
fn many_credentials_import_with_progress_on_stderr() {
    use base64::Engine as _;
    let state = temp_state("many");
    let ids: Vec<String> = (0u32..120)
        .map(|i| base64::engine::general_purpose::STANDARD.encode(i.to_be_bytes()))
        .collect();
    let list: Vec<Value> = ids.iter().map(|id| credential(id, false)).collect();
    let file = state.with_file_name("many.json");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::write(&file, Value::from(list).to_string()).unwrap();
    // Offline, into a state file: about ten lines (not a terminal), the
    // result alone on standard output.
    let out = Command::new(BIN)
        .args(["credentials", "import", file.to_str().unwrap(), "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "imported 120 credential(s)"
    );
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("credentials import: ["))
        .collect();
    assert_eq!(lines.len(), 10, "{err}");
    assert!(
        lines[0].starts_with("credentials import: [12/120] "),
        "{err}"
    );
    assert!(
        lines[9].starts_with("credentials import: [120/120] "),
        "{err}"
    );
    // To a running key: one request, one line for it.
    let d = Daemon::udp(Path::new(BIN), &[]);
    let (code, out, err) = cli(
        &d.control,
        &["credentials", "import", file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 120"), "{out}");
    assert!(
        err.contains("credentials import: [1/1] 120 credentials: imported"),
        "{err}"
    );
    // A clone of them: one request, one line.
    let (code, out, err) = cli(&d.control, &["devices", "clone", "twin"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("with 120 credential(s)"), "{out}");
    assert!(
        err.contains("devices clone: [1/1] 120 credentials: cloned"),
        "{err}"
    );
    assert_eq!(
        cli(&d.control, &["devices", "remove", "--device", "twin"]).0,
        0
    );
    // A small import stays quiet.
    let one = state.with_file_name("one.json");
    std::fs::write(&one, credential("AQID", true).to_string()).unwrap();
    let (code, _, err) = cli(
        &d.control,
        &["credentials", "import", one.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("credentials import:"), "{err}");
    let _ = std::fs::remove_dir_all(state.parent().unwrap());
}
