//! Fault injection against `fidosim run --transport udp`, seen from the
//! independent CTAPHID client: every kind fires once (or, sticky, every
//! time) with its effect on the wire, the device answers normally
//! afterwards, and the API and CLI refuse what they cannot do.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use authenticator_core::cbor::{self, Value};
use authenticator_core::crypto::keys::PrivateKey;
use base64::Engine as _;
use fidosim_tests::control::{self, api, request, Events};
use fidosim_tests::daemon::Daemon;
use fidosim_tests::hid::{cmd, UdpHid};
use fidosim_tests::requests;
use serde_json::{json, Value as Json};

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");
const T: Duration = Duration::from_secs(10);
/// RFC 8410 §10.3's Ed25519 key, PKCS#8: its signatures are deterministic,
/// so the test knows the exact signature the device makes.
const ED_KEY: &str = "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC";
/// The imported credential's ID (base64 "AQID").
const CRED: [u8; 3] = [1, 2, 3];
const RP: &str = "example.org";
const CDH: [u8; 32] = [0x42; 32];
const GET_INFO: [u8; 1] = [0x04];

const FAULTS: &str = "/v1/devices/default/faults";

/// Adds a fault; its id.
fn add(sock: &Path, fault: Json) -> u64 {
    let (status, v) = api(sock, "POST", FAULTS, Some(fault.clone()));
    assert_eq!(status, 201, "{fault}: {v}");
    v["id"].as_u64().unwrap()
}

fn pending(sock: &Path) -> Vec<Json> {
    let (status, v) = api(sock, "GET", FAULTS, None);
    assert_eq!(status, 200);
    v.as_array().unwrap().clone()
}

fn cli(sock: &Path, args: &[&str]) -> (i32, String, String) {
    control::cli(Path::new(BIN), sock, args)
}

struct Key {
    d: Daemon,
    hid: UdpHid,
    cid: u32,
}

impl Key {
    fn start() -> Self {
        let d = Daemon::udp(Path::new(BIN), &[]);
        let hid = UdpHid::connect(d.addr).unwrap();
        let cid = hid.init().unwrap();
        Self { d, hid, cid }
    }

    fn sock(&self) -> &Path {
        &self.d.control
    }

    /// A CTAP2 request: (response, KEEPALIVE status bytes seen).
    fn ctap(&self, request: &[u8]) -> (Vec<u8>, Vec<u8>) {
        self.hid.cbor(self.cid, request, T).unwrap()
    }

    /// Imports the Ed25519 credential (signCount 7).
    fn import(&self) {
        let c = json!({
            "credentialId": "AQID",
            "isResidentCredential": false,
            "rpId": RP,
            "privateKey": ED_KEY,
            "userHandle": "dXNlcg==",
            "signCount": 7,
        });
        let (status, v) = api(
            self.sock(),
            "POST",
            "/v1/devices/default/credentials",
            Some(c),
        );
        assert_eq!(status, 201, "{v}");
    }

    fn get_assertion(&self) -> Vec<u8> {
        self.ctap(&requests::get_assertion(RP, &CDH, &CRED)).0
    }
}

fn key() -> PrivateKey {
    let der = base64::engine::general_purpose::STANDARD
        .decode(ED_KEY)
        .unwrap();
    PrivateKey::from_pkcs8_der(&der).unwrap()
}

/// The entries of a successful response's map.
fn map(response: &[u8]) -> Vec<(Value, Value)> {
    assert_eq!(response.first(), Some(&0), "not a success: {response:02x?}");
    match cbor::decode(&response[1..]).unwrap() {
        Value::Map(m) => m,
        other => panic!("not a map: {other:?}"),
    }
}

fn get(m: &[(Value, Value)], key: i64) -> Value {
    m.iter()
        .find(|(k, _)| *k == Value::from(key))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no key {key}"))
}

fn bytes(v: Value) -> Vec<u8> {
    match v {
        Value::Bytes(b) => b,
        other => panic!("not bytes: {other:?}"),
    }
}

/// authData and signature of a getAssertion response.
fn assertion(response: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let m = map(response);
    (bytes(get(&m, 2)), bytes(get(&m, 3)))
}

/// authData and attStmt `sig` of a makeCredential response.
fn attestation(response: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let m = map(response);
    let Value::Map(att) = get(&m, 3) else {
        panic!("attStmt is not a map")
    };
    let sig = att
        .into_iter()
        .find(|(k, _)| *k == Value::from("sig"))
        .map(|(_, v)| bytes(v))
        .unwrap();
    (bytes(get(&m, 2)), sig)
}

fn counter(ad: &[u8]) -> u32 {
    u32::from_be_bytes(ad[33..37].try_into().unwrap())
}

/// What the device signs for an assertion: authData ‖ clientDataHash.
fn signed(ad: &[u8]) -> Vec<u8> {
    [ad, &CDH[..]].concat()
}

#[test]
fn a_status_fault_answers_instead_of_the_command_once_or_while_sticky() {
    let k = Key::start();
    let sock = k.sock().to_owned();
    let mut events = Events::follow(&sock, "");

    let id = add(
        &sock,
        json!({
            "command": "makeCredential",
            "kind": "status",
            "params": { "status": "CTAP2_ERR_OPERATION_DENIED" },
        }),
    );
    assert_eq!(pending(&sock)[0]["params"], json!({ "status": 0x27 }));
    // Another command is not affected.
    assert_eq!(k.ctap(&GET_INFO).0[0], 0);
    let mc = requests::make_discoverable("status.example", &[1; 32], b"bob");
    assert_eq!(k.ctap(&mc).0, [0x27], "the status byte alone");
    assert!(pending(&sock).is_empty(), "a one-shot fault is gone");
    // Nothing was stored by the denied request; the next one works.
    let stored = || api(&sock, "GET", "/v1/devices/default", None).1["storedCredentials"].clone();
    assert_eq!(stored(), 0);
    let (resp, _) = k.ctap(&mc);
    let id_mc = requests::credential_id(&resp).unwrap();
    assert_eq!(stored(), 1);

    // Sticky: every getAssertion gets CTAP2_ERR_NO_CREDENTIALS until removed.
    let sticky = add(
        &sock,
        json!({ "command": "getAssertion", "kind": "status", "params": { "status": 0x2E }, "sticky": true }),
    );
    let ga = requests::get_assertion("status.example", &[2; 32], &id_mc);
    for n in 1..=3 {
        assert_eq!(k.ctap(&ga).0, [0x2E]);
        assert_eq!(pending(&sock)[0]["fired"], n);
    }
    let (status, v) = api(&sock, "DELETE", &format!("{FAULTS}/{sticky}"), None);
    assert_eq!((status, v), (200, json!({ "removed": sticky })));
    let (resp, _) = k.ctap(&ga);
    assert_eq!(requests::assertion(&resp).unwrap().1, 1);

    // The firings were announced.
    let mut fired = Vec::new();
    let deadline = Instant::now() + T;
    while fired.len() < 4 {
        let Some(e) = events.next_before(deadline) else {
            break;
        };
        if e["type"] == "fault.fired" {
            fired.push(e);
        }
    }
    assert_eq!(fired.len(), 4, "{fired:?}");
    assert_eq!(fired[0]["fault"]["id"], id);
    assert_eq!(fired[0]["fault"]["kind"], "status");
    assert_eq!(fired[0]["command"], "makeCredential");
    assert_eq!(fired[0]["device"], "default");
    assert_eq!(fired[3]["fault"]["fired"], 3);
    assert_eq!(fired[3]["command"], "getAssertion");
}

#[test]
fn response_mutations_show_on_the_wire_and_only_once() {
    let k = Key::start();
    let sock = k.sock().to_owned();
    k.import();
    let key = key();
    let public = key.public_key().unwrap();
    let ga = |fault: Option<Json>| {
        if let Some(mut f) = fault {
            f["command"] = json!("getAssertion");
            add(&sock, f);
        }
        let resp = k.get_assertion();
        assert!(pending(&sock).is_empty(), "fired and gone");
        resp
    };

    // Unchanged: the exact signature this key makes.
    let (ad, sig) = assertion(&ga(None));
    assert_eq!(counter(&ad), 8);
    assert_eq!(sig, key.sign(&signed(&ad)).unwrap());
    assert_eq!(ad[32] & 0x01, 0x01, "UP");

    let resp = ga(Some(json!({ "kind": "zeroSignature" })));
    let (ad, sig) = assertion(&resp);
    assert_eq!(sig, vec![0; 64]);
    assert_eq!(counter(&ad), 9);

    let (ad, sig) = assertion(&ga(Some(json!({ "kind": "corruptSignature" }))));
    let mut want = key.sign(&signed(&ad)).unwrap();
    want[63] ^= 0xFF;
    assert_eq!(sig, want);
    assert!(!public.verify(&signed(&ad), &sig));

    // Flags are cleared after signing: the signature covers the real ones.
    let (ad, sig) = assertion(&ga(Some(json!({ "kind": "clearUp" }))));
    assert_eq!(ad[32] & 0x01, 0);
    let mut real = ad.clone();
    real[32] |= 0x01;
    assert!(public.verify(&signed(&real), &sig));
    assert!(!public.verify(&signed(&ad), &sig));

    let (ad, _) = assertion(&ga(Some(
        json!({ "kind": "wrongRpIdHash", "params": { "rpId": "evil.example" } }),
    )));
    assert_eq!(
        ad[..32],
        authenticator_core::crypto::sha256(b"evil.example")
    );

    let (ad, sig) = assertion(&ga(Some(
        json!({ "kind": "trailingBytes", "params": { "count": 3 } }),
    )));
    assert_eq!(ad.len(), 37 + 3);
    assert_eq!(ad[37..], [0, 0, 0]);
    assert!(public.verify(&signed(&ad[..37]), &sig));

    // The counter signed was 14; the response says 0; the device goes on
    // from 15.
    let (ad, sig) = assertion(&ga(Some(json!({ "kind": "counterRollback" }))));
    assert_eq!(counter(&ad), 0);
    let mut real = ad.clone();
    real[33..37].copy_from_slice(&14u32.to_be_bytes());
    assert!(public.verify(&signed(&real), &sig));
    let (ad, _) = assertion(&ga(Some(
        json!({ "kind": "counterRollback", "params": { "back": 1 } }),
    )));
    assert_eq!(counter(&ad), 14, "signed 15, one back");

    // Keys in descending order: the highest first, 0x01 last; the same
    // entries.
    let resp = ga(Some(json!({ "kind": "nonCanonicalCbor" })));
    assert!(!cbor::is_canonical(&resp[1..]));
    let highest = map(&resp).len() as u8;
    assert_eq!((resp[1], resp[2]), (0xA0 | highest, highest));
    let resp = ga(Some(
        json!({ "kind": "nonCanonicalCbor", "params": { "form": "longInteger" } }),
    ));
    assert!(!cbor::is_canonical(&resp[1..]));
    assert_eq!(resp[2..4], [0x18, 0x01], "key 1 in two bytes");

    // A mutation that cannot apply (UV is clear: the request asked for no
    // UV) does not fire and stays pending.
    add(
        &sock,
        json!({ "command": "getAssertion", "kind": "clearUv" }),
    );
    let (ad, sig) = assertion(&k.get_assertion());
    assert_eq!(counter(&ad), 18);
    assert!(public.verify(&signed(&ad), &sig));
    assert_eq!(pending(&sock)[0]["fired"], 0);
    assert_eq!(api(&sock, "DELETE", FAULTS, None).1["removed"], 1);

    // makeCredential: the attestation statement's signature (packed, the
    // default) and UV in authData.
    add(
        &sock,
        json!({ "command": "makeCredential", "kind": "zeroSignature" }),
    );
    add(
        &sock,
        json!({ "command": "makeCredential", "kind": "clearUv" }),
    );
    let mc = requests::make_discoverable("mc.example", &[1; 32], b"bob");
    let (ad, sig) = attestation(&k.ctap(&mc).0);
    assert!(!sig.is_empty() && sig.iter().all(|b| *b == 0));
    assert_eq!(ad[32] & 0x45, 0x41, "UP and AT stay, UV is clear");
    assert!(pending(&sock).is_empty());
    let (ad, sig) = attestation(&k.ctap(&mc).0);
    assert_eq!(ad[32] & 0x45, 0x45);
    assert!(sig.iter().any(|b| *b != 0));

    // Afterwards the device answers as before.
    let (ad, sig) = assertion(&k.get_assertion());
    assert_eq!(counter(&ad), 19);
    assert_eq!(sig, key.sign(&signed(&ad)).unwrap());
}

#[test]
fn transport_faults_delay_drop_storm_and_busy() {
    let k = Key::start();
    let sock = k.sock().to_owned();
    let info = || k.ctap(&GET_INFO);

    // delay: the answer comes late, with KEEPALIVE (STATUS_PROCESSING)
    // meanwhile.
    add(&sock, json!({ "kind": "delay", "params": { "ms": 700 } }));
    let started = Instant::now();
    let (resp, keepalives) = info();
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert_eq!(resp[0], 0);
    assert!(keepalives.len() >= 5, "{keepalives:?}");
    assert!(keepalives.iter().all(|s| *s == 1));
    let started = Instant::now();
    let (_, keepalives) = info();
    assert!(started.elapsed() < Duration::from_millis(500), "once only");
    assert!(keepalives.is_empty());

    // A held request that the client cancels ends at once with
    // CTAP2_ERR_KEEPALIVE_CANCEL, without running (CTAP 2.1 §11.2.9.1.5).
    add(&sock, json!({ "kind": "delay", "params": { "ms": 5000 } }));
    k.hid.send(k.cid, cmd::CBOR, &GET_INFO).unwrap();
    assert_eq!(k.hid.recv(T).unwrap().cmd, cmd::KEEPALIVE);
    let started = Instant::now();
    k.hid.send(k.cid, cmd::CANCEL, &[]).unwrap();
    let answer = loop {
        let m = k.hid.recv(T).unwrap();
        if m.cmd != cmd::KEEPALIVE {
            break m;
        }
    };
    assert_eq!((answer.cmd, answer.payload), (cmd::CBOR, vec![0x2D]));
    assert!(started.elapsed() < Duration::from_secs(2));

    // keepaliveStorm: 100 KEEPALIVE packets, then the answer.
    add(
        &sock,
        json!({ "kind": "keepaliveStorm", "command": "getInfo" }),
    );
    let (resp, keepalives) = info();
    assert_eq!(resp[0], 0);
    assert!(keepalives.len() >= 100, "{}", keepalives.len());
    assert!(info().1.is_empty(), "once only");

    // drop: no answer at all; the channel is free afterwards.
    add(&sock, json!({ "kind": "drop" }));
    let r = k.hid.cbor(k.cid, &GET_INFO, Duration::from_millis(1500));
    assert!(r.is_err(), "an answer came: {r:?}");
    assert_eq!(info().0[0], 0);

    // channelBusy, sticky: CTAPHID_ERROR 0x06 until removed.
    let busy = add(
        &sock,
        json!({ "kind": "channelBusy", "command": "getInfo", "sticky": true }),
    );
    for _ in 0..2 {
        k.hid.send(k.cid, cmd::CBOR, &GET_INFO).unwrap();
        let m = k.hid.recv(T).unwrap();
        assert_eq!((m.cid, m.cmd, m.payload), (k.cid, cmd::ERROR, vec![0x06]));
    }
    assert_eq!(pending(&sock)[0]["fired"], 2);
    assert_eq!(
        api(&sock, "DELETE", &format!("{FAULTS}/{busy}"), None).0,
        200
    );
    let (resp, keepalives) = info();
    assert_eq!(resp[0], 0);
    assert!(keepalives.is_empty());

    // u2f: CTAPHID_MSG requests are matched too (U2F_VERSION, CTAP 2.1
    // §11.2.9.1.1).
    add(&sock, json!({ "kind": "channelBusy", "command": "u2f" }));
    let version = [0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00];
    k.hid.send(k.cid, cmd::MSG, &version).unwrap();
    assert_eq!(k.hid.recv(T).unwrap().payload, vec![0x06]);
    k.hid.send(k.cid, cmd::MSG, &version).unwrap();
    let m = k.hid.recv(T).unwrap();
    assert_eq!((m.cmd, &m.payload[..]), (cmd::MSG, &b"U2F_V2\x90\x00"[..]));
}

#[test]
fn bad_faults_are_refused_and_the_cli_drives_them() {
    let k = Key::start();
    let sock = k.sock().to_owned();
    let cases = [
        ("POST", FAULTS, "{not json", 400, "JSON"),
        (
            "POST",
            FAULTS,
            r#"{"kind":"explode"}"#,
            400,
            "is not one of status, zeroSignature",
        ),
        (
            "POST",
            FAULTS,
            r#"{"kind":"clearUp","command":"getInfo"}"#,
            400,
            "apply to makeCredential, getAssertion",
        ),
        (
            "POST",
            FAULTS,
            r#"{"kind":"delay","params":{"ms":0}}"#,
            400,
            "from 1 to 600000",
        ),
        (
            "POST",
            "/v1/devices/nope/faults",
            r#"{"kind":"drop"}"#,
            404,
            "no device named",
        ),
        (
            "DELETE",
            "/v1/devices/default/faults/abc",
            "",
            400,
            "not a number",
        ),
        (
            "DELETE",
            "/v1/devices/default/faults/99",
            "",
            404,
            "no pending fault 99",
        ),
    ];
    for (method, path, body, want, needle) in cases {
        let (status, v) = request(&sock, method, path, Some(body));
        assert_eq!(status, want, "{method} {path} {body}: {v}");
        let msg = v["error"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{body}: `{msg}` lacks `{needle}`");
        assert!(pending(&sock).is_empty());
    }

    let (code, out, err) = cli(
        &sock,
        &[
            "faults",
            "add",
            "status",
            "--for",
            "makeCredential",
            "-p",
            "status=0x27",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("fault 1 added"), "{out}");
    let (code, out, err) = cli(
        &sock,
        &[
            "faults", "add", "delay", "-p", "ms=250", "--sticky", "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let added: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (added["id"].as_u64(), &added["sticky"]),
        (Some(2), &json!(true))
    );
    let (code, out, _) = cli(&sock, &["faults", "list"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("ID"), "{out}");
    assert!(
        out.contains("makeCredential") && out.contains("status=39") && out.contains("ms=250"),
        "{out}"
    );
    let (_, out, _) = cli(&sock, &["faults", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<Json>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (code, out, _) = cli(&sock, &["faults", "remove", "1"]);
    assert_eq!((code, out.trim()), (0, "removed fault 1"));
    let (code, _, err) = cli(&sock, &["faults", "remove", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("no pending fault 1"), "{err}");
    let (code, _, err) = cli(&sock, &["faults", "add", "explode"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not one of status"), "{err}");
    let (code, _, err) = cli(&sock, &["faults", "add", "delay", "-p", "ms"]);
    assert_eq!(code, 1);
    assert!(err.contains("NAME=VALUE"), "{err}");
    let (code, out, _) = cli(&sock, &["faults", "clear"]);
    assert_eq!((code, out.trim()), (0, "removed 1 fault(s)"));
    let (_, out, _) = cli(&sock, &["faults", "list"]);
    assert!(out.contains("no faults pending"), "{out}");
    // The device is untouched by all this.
    assert_eq!(k.ctap(&GET_INFO).0[0], 0);
}
