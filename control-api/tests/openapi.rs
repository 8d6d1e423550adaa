//! docs/openapi.json and the types cannot drift: each schema's properties
//! are exactly the fields the type writes, its required properties are
//! always written, and its enums list what the types know.

#![allow(clippy::unwrap_used)]

use fidosim_control_api::*;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const OPENAPI: &str = include_str!("../../docs/openapi.json");

fn schema(name: &str) -> Value {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    doc["components"]["schemas"][name].clone()
}

fn keys(v: &impl Serialize) -> BTreeSet<String> {
    match serde_json::to_value(v).unwrap() {
        Value::Object(m) => m.keys().cloned().collect(),
        other => panic!("not an object: {other}"),
    }
}

/// `full` sets every optional field, `bare` none.
fn check(name: &str, full: &impl Serialize, bare: &impl Serialize) {
    let s = schema(name);
    let props: BTreeSet<String> = s["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name} has no properties"))
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        props,
        keys(full),
        "{name}: schema properties vs the type's fields"
    );
    let always = keys(bare);
    for r in s["required"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap();
        assert!(
            always.contains(r),
            "{name}: `{r}` is required but not always written"
        );
    }
}

fn status(some: bool) -> DeviceStatus {
    DeviceStatus {
        name: "default".into(),
        transport: "udp".into(),
        address: "127.0.0.1:8111".into(),
        aaguid: "f1d0f1d0-5eed-4b1d-a7e5-000000000001".into(),
        vendor_id: "1209".into(),
        product_id: "0001".into(),
        serial: "FIDOSIM0001".into(),
        product_name: "fidosim virtual security key".into(),
        state: some.then(|| "/tmp/x.redb".into()),
        presence: "approve".into(),
        uv: "succeed".into(),
        account_choice: "newest".into(),
        waiting_for_user: false,
        stored_credentials: some.then_some(1),
        discoverable_credentials: some.then_some(1),
        pin_set: some.then_some(false),
        counter_mode: some.then(|| "per-credential".into()),
        counter_overflow: some.then(|| "saturate".into()),
    }
}

fn credential(some: bool) -> Credential {
    let s = |v: &str| some.then(|| v.to_owned());
    Credential {
        credential_id: "AAAA".into(),
        is_resident_credential: true,
        rp_id: s("example.com"),
        private_key: "AAAA".into(),
        user_handle: s("AAAA"),
        sign_count: 0,
        large_blob: s("AAAA"),
        backup_eligibility: some.then_some(false),
        backup_state: some.then_some(false),
        user_name: s("alice"),
        user_display_name: s("Alice"),
        rp_name: s("Example"),
        cred_protect: some.then_some(1),
        cred_blob: s("AAAA"),
        creation_order: some.then_some(3),
    }
}

#[test]
fn schemas_match_the_types() {
    check("DeviceStatus", &status(true), &status(false));
    check("Credential", &credential(true), &credential(false));
    let all = PresenceChange {
        presence: Some("approve".into()),
        uv: Some("succeed".into()),
        account_choice: Some("platform".into()),
    };
    check("PresenceChange", &all, &PresenceChange::default());
    let p = Presence {
        presence: "approve".into(),
        uv: "succeed".into(),
        account_choice: "user:YWxpY2U,newest".into(),
    };
    check("Presence", &p, &p);
    let req = FaultRequest {
        command: "any".into(),
        kind: FaultKind::Delay { ms: 5 },
        sticky: false,
    };
    check("FaultRequest", &req, &req);
    let fault = Fault {
        id: 1,
        command: "any".into(),
        kind: FaultKind::Drop {},
        sticky: false,
        fired: 0,
    };
    check("Fault", &fault, &fault);
}

#[test]
fn fault_kinds_are_the_documented_ones() {
    for name in ["FaultRequest", "Fault"] {
        let listed: Vec<String> = schema(name)["properties"]["kind"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, fault::KIND_NAMES, "{name}");
    }
}

#[test]
fn faults_are_kind_and_params() {
    let f = Fault {
        id: 3,
        command: "makeCredential".into(),
        kind: FaultKind::Status {
            status: StatusByte::Code(0x27),
        },
        sticky: true,
        fired: 1,
    };
    let v = serde_json::to_value(&f).unwrap();
    assert_eq!(
        v,
        json!({"id": 3, "command": "makeCredential", "kind": "status",
               "params": {"status": 39}, "sticky": true, "fired": 1})
    );
    assert_eq!(serde_json::from_value::<Fault>(v).unwrap(), f);
    // A kind without parameters still has its (empty) params object.
    let v = serde_json::to_value(FaultRequest {
        command: "any".into(),
        kind: FaultKind::Drop {},
        sticky: false,
    })
    .unwrap();
    assert_eq!(
        v,
        json!({"command": "any", "kind": "drop", "params": {}, "sticky": false})
    );
    // Every kind's name is the one it is written with.
    for name in fault::KIND_NAMES {
        let params: Vec<(String, String)> = match name {
            "status" => vec![("status".into(), "0x27".into())],
            "delay" => vec![("ms".into(), "10".into())],
            _ => Vec::new(),
        };
        let k = FaultKind::from_texts(name, &params).unwrap();
        assert_eq!(k.name(), name);
        assert_eq!(serde_json::to_value(&k).unwrap()["kind"], name);
    }
}

#[test]
fn fault_texts_are_read_as_their_types() {
    let p = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    assert_eq!(
        FaultKind::from_texts("delay", &p("ms", "250")),
        Ok(FaultKind::Delay { ms: 250 })
    );
    assert_eq!(
        FaultKind::from_texts("status", &p("status", "39")),
        Ok(FaultKind::Status {
            status: StatusByte::Code(39)
        })
    );
    assert_eq!(
        FaultKind::from_texts("status", &p("status", "CTAP2_ERR_OPERATION_DENIED")),
        Ok(FaultKind::Status {
            status: StatusByte::Text("CTAP2_ERR_OPERATION_DENIED".into())
        })
    );
    assert_eq!(
        FaultKind::from_texts("wrongRpIdHash", &p("rpId", "123")),
        Ok(FaultKind::WrongRpIdHash {
            rp_id: Some("123".into())
        })
    );
    let e = FaultKind::from_texts("delay", &p("ms", "soon")).unwrap_err();
    assert!(e.contains("params.ms: `soon` is not a whole number"), "{e}");
    let e = FaultKind::from_texts("delay", &[]).unwrap_err();
    assert!(e.contains("params.ms is required"), "{e}");
    let e = FaultKind::from_texts("drop", &p("ms", "1")).unwrap_err();
    assert!(e.contains("`ms` is not expected here"), "{e}");
    let e = FaultKind::from_texts("explode", &[]).unwrap_err();
    assert!(e.contains("is not one of status, zeroSignature"), "{e}");
}
