#![allow(clippy::unwrap_used)]

use super::*;
use authenticator_core::cbor::MapBuilder;
use serde_json::json;

const RP_HASH: [u8; 32] = [0x11; 32];

/// rpIdHash ‖ flags ‖ signCount (‖ attested credential data).
fn auth_data(flags: u8, count: u32, attested: bool) -> Vec<u8> {
    let mut ad = RP_HASH.to_vec();
    ad.push(flags);
    ad.extend_from_slice(&count.to_be_bytes());
    if attested {
        ad.extend_from_slice(&[0xAA; 16]); // AAGUID
        ad.extend_from_slice(&[0, 4, 9, 9, 9, 9]); // credential ID
        ad.extend_from_slice(&[0xA1, 0x01, 0x02]); // a COSE_Key {1: 2}
    }
    ad
}

/// A getAssertion response (CTAP 2.1 §6.2.2): status ‖ {1: credential,
/// 2: authData, 3: signature, 4: user}.
fn ga(ad: &[u8], sig: &[u8]) -> Vec<u8> {
    let body = cbor::encode(
        &MapBuilder::new()
            .int(
                1,
                MapBuilder::new()
                    .text("id", cbor::bytes(vec![9, 9, 9, 9]))
                    .text("type", "public-key")
                    .build(),
            )
            .int(2, cbor::bytes(ad.to_vec()))
            .int(3, cbor::bytes(sig.to_vec()))
            .int(
                4,
                MapBuilder::new().text("id", cbor::bytes(vec![1])).build(),
            )
            .build(),
    );
    [vec![0], body].concat()
}

/// A makeCredential response (CTAP 2.1 §6.1.2), packed attestation:
/// status ‖ {1: "packed", 2: authData, 3: {alg, sig}}.
fn mc(ad: &[u8], sig: &[u8]) -> Vec<u8> {
    let body = cbor::encode(
        &MapBuilder::new()
            .int(1, "packed")
            .int(2, cbor::bytes(ad.to_vec()))
            .int(
                3,
                MapBuilder::new()
                    .text("alg", -7)
                    .text("sig", cbor::bytes(sig.to_vec()))
                    .build(),
            )
            .build(),
    );
    [vec![0], body].concat()
}

fn sig() -> Vec<u8> {
    (1..=70).collect()
}

const UP_UV: u8 = 0x05;
const UP_UV_AT: u8 = 0x45;

#[test]
fn zero_signature_zeroes_only_the_signature() {
    let ad = auth_data(UP_UV, 9, false);
    let got = Mutation::ZeroSignature.apply(&ga(&ad, &sig())).unwrap();
    assert_eq!(got, ga(&ad, &[0; 70]));
    let ad = auth_data(UP_UV_AT, 0, true);
    let got = Mutation::ZeroSignature.apply(&mc(&ad, &sig())).unwrap();
    assert_eq!(got, mc(&ad, &[0; 70]));
    // Nothing to zero twice.
    assert_eq!(
        Mutation::ZeroSignature.apply(&got),
        Err(NotApplicable::NoChange)
    );
}

#[test]
fn corrupt_signature_inverts_the_last_byte() {
    let ad = auth_data(UP_UV, 9, false);
    let mut want = sig();
    want[69] ^= 0xFF;
    assert_eq!(
        Mutation::CorruptSignature.apply(&ga(&ad, &sig())).unwrap(),
        ga(&ad, &want)
    );
    let ad = auth_data(UP_UV_AT, 0, true);
    assert_eq!(
        Mutation::CorruptSignature.apply(&mc(&ad, &sig())).unwrap(),
        mc(&ad, &want)
    );
}

#[test]
fn a_none_attestation_has_no_signature_to_change() {
    let ad = auth_data(UP_UV_AT, 0, true);
    let none = [
        vec![0],
        cbor::encode(
            &MapBuilder::new()
                .int(1, "none")
                .int(2, cbor::bytes(ad))
                .int(3, MapBuilder::new().build())
                .build(),
        ),
    ]
    .concat();
    for m in [Mutation::ZeroSignature, Mutation::CorruptSignature] {
        assert_eq!(m.apply(&none), Err(NotApplicable::Missing));
    }
    // The flags can still change.
    assert!(Mutation::ClearUp.apply(&none).is_ok());
}

#[test]
fn clearing_up_and_uv_changes_one_bit() {
    let s = sig();
    let cases = [
        (Mutation::ClearUp, UP_UV, 0x04),
        (Mutation::ClearUv, UP_UV, 0x01),
        // BE, BS and ED stay.
        (Mutation::ClearUp, 0x9D, 0x9C),
        (Mutation::ClearUv, 0x9D, 0x99),
    ];
    for (m, before, after) in cases {
        let got = m.apply(&ga(&auth_data(before, 3, false), &s)).unwrap();
        assert_eq!(
            got,
            ga(&auth_data(after, 3, false), &s),
            "{m:?} {before:#x}"
        );
    }
    let got = Mutation::ClearUp
        .apply(&mc(&auth_data(UP_UV_AT, 0, true), &s))
        .unwrap();
    assert_eq!(got, mc(&auth_data(0x44, 0, true), &s));
    // A flag already clear: nothing to do.
    assert_eq!(
        Mutation::ClearUv.apply(&ga(&auth_data(0x01, 3, false), &s)),
        Err(NotApplicable::NoChange)
    );
}

#[test]
fn wrong_rp_id_hash_replaces_bytes_0_to_32() {
    let s = sig();
    let ad = auth_data(UP_UV, 3, false);
    let got = Mutation::WrongRpIdHash(None).apply(&ga(&ad, &s)).unwrap();
    let mut want = ad.clone();
    want[..32].fill(!0x11);
    assert_eq!(got, ga(&want, &s));
    let got = Mutation::WrongRpIdHash(Some("evil.example".into()))
        .apply(&ga(&ad, &s))
        .unwrap();
    let mut want = ad.clone();
    want[..32].copy_from_slice(&authenticator_core::crypto::sha256(b"evil.example"));
    assert_eq!(got, ga(&want, &s));
    assert_eq!(want[32..], ad[32..]);
}

#[test]
fn trailing_bytes_go_inside_the_auth_data_string() {
    let s = sig();
    let ad = auth_data(UP_UV_AT, 0, true);
    let got = Mutation::TrailingBytes(4).apply(&mc(&ad, &s)).unwrap();
    let want = [ad.clone(), vec![0; 4]].concat();
    assert_eq!(got, mc(&want, &s));
}

#[test]
fn counter_rollback_lowers_bytes_33_to_37() {
    let s = sig();
    let ad = auth_data(UP_UV, 9, false);
    let with = |c| ga(&auth_data(UP_UV, c, false), &s);
    assert_eq!(
        Mutation::CounterRollback(Rollback::To(0)).apply(&ga(&ad, &s)),
        Ok(with(0))
    );
    assert_eq!(
        Mutation::CounterRollback(Rollback::Back(1)).apply(&ga(&ad, &s)),
        Ok(with(8))
    );
    assert_eq!(
        Mutation::CounterRollback(Rollback::Back(100)).apply(&ga(&ad, &s)),
        Ok(with(0))
    );
    // Not lower than what was signed: nothing to do.
    assert_eq!(
        Mutation::CounterRollback(Rollback::To(9)).apply(&ga(&ad, &s)),
        Err(NotApplicable::NoChange)
    );
    assert_eq!(
        Mutation::CounterRollback(Rollback::To(0)).apply(&with(0)),
        Err(NotApplicable::NoChange)
    );
    // A counter above 2^24 keeps its other bytes right (big-endian).
    let big = ga(&auth_data(UP_UV, 0x0102_0304, false), &s);
    assert_eq!(
        Mutation::CounterRollback(Rollback::Back(1)).apply(&big),
        Ok(ga(&auth_data(UP_UV, 0x0102_0303, false), &s))
    );
}

#[test]
fn non_canonical_cbor_decodes_to_the_same_map() {
    let original = ga(&auth_data(UP_UV, 9, false), &sig());
    let canonical = &original[1..];
    let reordered = Mutation::NonCanonical(NonCanonical::KeyOrder)
        .apply(&original)
        .unwrap();
    assert_eq!(reordered[0], 0);
    assert!(!cbor::is_canonical(&reordered[1..]));
    assert_eq!(reordered.len(), original.len());
    assert_eq!(reordered[1], 0xA4, "the same four entries");
    assert_eq!(reordered[2], 0x04, "the highest key first");
    let mut a = cbor::decode(canonical).unwrap();
    let mut b = cbor::decode(&reordered[1..]).unwrap();
    cbor::canonicalize(&mut a);
    cbor::canonicalize(&mut b);
    assert_eq!(a, b);

    let long = Mutation::NonCanonical(NonCanonical::LongInteger)
        .apply(&original)
        .unwrap();
    assert_eq!(long[..4], [0x00, 0xA4, 0x18, 0x01]);
    assert_eq!(long[4..], canonical[2..], "the rest is as it was");
    assert!(!cbor::is_canonical(&long[1..]));
}

#[test]
fn mutations_leave_errors_and_garbage_alone() {
    let all = [
        Mutation::ZeroSignature,
        Mutation::CorruptSignature,
        Mutation::ClearUp,
        Mutation::ClearUv,
        Mutation::WrongRpIdHash(None),
        Mutation::TrailingBytes(1),
        Mutation::CounterRollback(Rollback::To(0)),
        Mutation::NonCanonical(NonCanonical::KeyOrder),
        Mutation::NonCanonical(NonCanonical::LongInteger),
    ];
    let short_ad = ga(&[1, 2, 3], &sig());
    for m in &all {
        assert_eq!(m.apply(&[0x27]), Err(NotApplicable::NotASuccess), "{m:?}");
        assert_eq!(m.apply(&[]), Err(NotApplicable::NotASuccess), "{m:?}");
        assert_eq!(
            m.apply(&[0, 0xFF, 0x00]),
            Err(NotApplicable::NotASuccess),
            "{m:?}"
        );
        assert_eq!(m.apply(&[0, 0x01]), Err(NotApplicable::NotASuccess));
        if !matches!(
            m,
            Mutation::ZeroSignature | Mutation::CorruptSignature | Mutation::NonCanonical(_)
        ) {
            assert_eq!(m.apply(&short_ad), Err(NotApplicable::Missing), "{m:?}");
        }
    }
}

fn spec(v: Json) -> Result<FaultSpec, String> {
    FaultSpec::from_json(&v)
}

#[test]
fn specs_parse_with_defaults_and_round_trip() {
    let s = spec(json!({
        "command": "makeCredential",
        "kind": "status",
        "params": { "status": "CTAP2_ERR_OPERATION_DENIED" }
    }))
    .unwrap();
    assert_eq!(s.target, Target::Ctap2(CtapCommand::MakeCredential));
    assert_eq!(s.kind, FaultKind::Status(0x27));
    assert!(!s.sticky);
    for status in [json!(39), json!("0x27"), json!("39")] {
        let s = spec(json!({ "kind": "status", "params": { "status": status } })).unwrap();
        assert_eq!((s.target, s.kind), (Target::Any, FaultKind::Status(0x27)));
    }
    let kinds = [
        json!({ "kind": "zeroSignature", "command": "getAssertion", "sticky": true }),
        json!({ "kind": "corruptSignature" }),
        json!({ "kind": "clearUp" }),
        json!({ "kind": "clearUv" }),
        json!({ "kind": "wrongRpIdHash" }),
        json!({ "kind": "wrongRpIdHash", "params": { "rpId": "evil.example" } }),
        json!({ "kind": "trailingBytes", "params": { "count": 9 } }),
        json!({ "kind": "counterRollback" }),
        json!({ "kind": "counterRollback", "params": { "back": 2 } }),
        json!({ "kind": "nonCanonicalCbor", "params": { "form": "longInteger" } }),
        json!({ "kind": "delay", "params": { "ms": 300 }, "command": "u2f" }),
        json!({ "kind": "drop", "command": "clientPIN" }),
        json!({ "kind": "keepaliveStorm" }),
        json!({ "kind": "channelBusy", "command": "getInfo" }),
    ];
    let faults = Faults::default();
    for k in kinds {
        let s = spec(k.clone()).unwrap_or_else(|e| panic!("{k}: {e}"));
        let f = faults.add(s.clone()).unwrap();
        let j = f.to_json();
        assert_eq!(j["kind"], k["kind"]);
        let back = spec(json!({
            "command": j["command"],
            "kind": j["kind"],
            "params": j["params"],
            "sticky": j["sticky"],
        }))
        .unwrap();
        assert_eq!(back, s, "{j}");
    }
    // Defaults are spelled out.
    let j = faults.list()[7].to_json();
    assert_eq!(j["params"], json!({ "signCount": 0 }));
    let j = faults.list()[12].to_json();
    assert_eq!(j["params"], json!({ "count": 100 }));
}

#[test]
fn bad_specs_say_what_is_allowed() {
    let cases = [
        (
            json!({ "kind": "explode" }),
            "is not one of status, zeroSignature",
        ),
        (json!({}), "kind is required"),
        (json!([1]), "must be a JSON object"),
        (
            json!({ "kind": "drop", "command": "makeCoffee" }),
            "is not one of any, u2f, makeCredential",
        ),
        (json!({ "kind": "status" }), "params.status is required"),
        (
            json!({ "kind": "status", "params": { "status": 0 } }),
            "0 is success",
        ),
        (
            json!({ "kind": "status", "params": { "status": 256 } }),
            "is not a CTAP status code",
        ),
        (
            json!({ "kind": "status", "params": { "status": "CTAP2_ERR_NOPE" } }),
            "is not a CTAP status code",
        ),
        (
            json!({ "kind": "status", "command": "u2f", "params": { "status": 1 } }),
            "not u2f",
        ),
        (
            json!({ "kind": "clearUp", "command": "getInfo" }),
            "apply to makeCredential, getAssertion",
        ),
        (
            json!({ "kind": "clearUp", "params": { "bit": 1 } }),
            "`bit` is not expected here (no parameters)",
        ),
        (json!({ "kind": "delay" }), "params.ms is required"),
        (
            json!({ "kind": "delay", "params": { "ms": 600_001 } }),
            "from 1 to 600000",
        ),
        (
            json!({ "kind": "keepaliveStorm", "params": { "count": -1 } }),
            "from 1 to 10000",
        ),
        (
            json!({ "kind": "counterRollback", "params": { "signCount": 1, "back": 1 } }),
            "not both",
        ),
        (
            json!({ "kind": "nonCanonicalCbor", "params": { "form": "messy" } }),
            "keyOrder or longInteger",
        ),
        (json!({ "kind": "drop", "sticky": "yes" }), "true or false"),
        (
            json!({ "kind": "drop", "once": true }),
            "`once` is not expected",
        ),
    ];
    for (v, needle) in cases {
        let e = spec(v.clone()).unwrap_err();
        assert!(e.contains(needle), "{v}: `{e}` lacks `{needle}`");
    }
}

fn add(faults: &Faults, v: Json) -> u64 {
    faults.add(spec(v).unwrap()).unwrap().id
}

const MC: Origin = Origin::Ctap2(0x01);
const GA: Origin = Origin::Ctap2(0x02);
const INFO: Origin = Origin::Ctap2(0x04);

#[test]
fn one_shot_faults_fire_once_and_sticky_ones_stay() {
    let faults = Faults::default();
    let once = add(
        &faults,
        json!({ "kind": "status", "command": "makeCredential", "params": { "status": 39 } }),
    );
    let sticky = add(&faults, json!({ "kind": "drop", "sticky": true }));
    assert_eq!((once, sticky), (1, 2));
    let all = |_: &FaultKind| true;
    // Not for getAssertion: only the sticky `any` fault fires.
    let fired = faults.fire(GA, all);
    assert_eq!(fired.iter().map(|f| f.id).collect::<Vec<_>>(), [sticky]);
    let fired = faults.fire(MC, all);
    assert_eq!(
        fired.iter().map(|f| f.id).collect::<Vec<_>>(),
        [once, sticky]
    );
    assert_eq!(fired[0].fired, 1);
    assert_eq!(fired[1].fired, 2);
    // The one-shot fault is gone; the sticky one remains.
    let left = faults.list();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].id, left[0].fired), (sticky, 2));
    assert_eq!(faults.fire(MC, all).len(), 1);
    // Ids are never reused.
    assert_eq!(add(&faults, json!({ "kind": "drop" })), 3);
    assert!(faults.remove(sticky));
    assert!(!faults.remove(sticky));
    assert_eq!(faults.clear(), 1);
    assert!(faults.fire(MC, all).is_empty());
}

#[test]
fn kinds_apply_only_where_they_can() {
    let faults = Faults::default();
    add(
        &faults,
        json!({ "kind": "status", "params": { "status": 39 }, "sticky": true }),
    );
    add(&faults, json!({ "kind": "clearUp", "sticky": true }));
    add(
        &faults,
        json!({ "kind": "channelBusy", "command": "u2f", "sticky": true }),
    );
    let names = |o| {
        faults
            .fire(o, |_| true)
            .iter()
            .map(|f| f.spec.kind.to_api().name())
            .collect::<Vec<_>>()
    };
    // A status answers CTAP2 requests only; mutations need a response
    // they understand.
    assert_eq!(names(Origin::U2f), ["channelBusy"]);
    assert_eq!(names(INFO), ["status"]);
    assert_eq!(names(GA), ["status", "clearUp"]);
    assert_eq!(names(Origin::Ctap2(0x08)), ["status", "clearUp"]);
    // `accept` declines: nothing fires, nothing is counted.
    assert!(faults.fire(GA, |_| false).is_empty());
    let fired: Vec<u64> = faults.list().iter().map(|f| f.fired).collect();
    assert_eq!(fired, [3, 2, 1]);
}

#[test]
fn the_store_is_bounded() {
    let faults = Faults::default();
    for _ in 0..MAX_FAULTS {
        assert!(faults
            .add(spec(json!({ "kind": "drop" })).unwrap())
            .is_some());
    }
    assert!(faults
        .add(spec(json!({ "kind": "drop" })).unwrap())
        .is_none());
}

#[test]
fn origins_have_names() {
    assert_eq!(MC.name(), "makeCredential");
    assert_eq!(Origin::U2f.name(), "u2f");
    assert_eq!(Origin::Ctap2(0x77).name(), "0x77");
}

/// What a typed client sends is what the daemon reads: every kind, built
/// from the command line's texts, goes through the API's JSON and comes
/// back in the answer as the same kind with its defaults filled in.
#[test]
fn typed_requests_round_trip() {
    use fidosim_control_api::fault::{self as api, FaultKind as K};
    let texts = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    type Texts = Vec<(String, String)>;
    let cases: Vec<(&str, Texts, K)> = vec![
        (
            "status",
            texts(&[("status", "CTAP2_ERR_OPERATION_DENIED")]),
            K::Status {
                status: api::StatusByte::Code(0x27),
            },
        ),
        (
            "status",
            texts(&[("status", "0x2e")]),
            K::Status {
                status: api::StatusByte::Code(0x2e),
            },
        ),
        ("zeroSignature", vec![], K::ZeroSignature {}),
        ("corruptSignature", vec![], K::CorruptSignature {}),
        ("clearUp", vec![], K::ClearUp {}),
        ("clearUv", vec![], K::ClearUv {}),
        ("wrongRpIdHash", vec![], K::WrongRpIdHash { rp_id: None }),
        (
            "wrongRpIdHash",
            texts(&[("rpId", "evil.example")]),
            K::WrongRpIdHash {
                rp_id: Some("evil.example".into()),
            },
        ),
        ("trailingBytes", vec![], K::TrailingBytes { count: Some(4) }),
        (
            "counterRollback",
            texts(&[("back", "3")]),
            K::CounterRollback {
                sign_count: None,
                back: Some(3),
            },
        ),
        (
            "counterRollback",
            vec![],
            K::CounterRollback {
                sign_count: Some(0),
                back: None,
            },
        ),
        (
            "nonCanonicalCbor",
            texts(&[("form", "longInteger")]),
            K::NonCanonicalCbor {
                form: Some(api::NonCanonicalForm::LongInteger),
            },
        ),
        ("delay", texts(&[("ms", "250")]), K::Delay { ms: 250 }),
        ("drop", vec![], K::Drop {}),
        (
            "keepaliveStorm",
            vec![],
            K::KeepaliveStorm { count: Some(100) },
        ),
        ("channelBusy", vec![], K::ChannelBusy {}),
    ];
    for (kind, params, want) in cases {
        let request = api::FaultRequest {
            command: "any".into(),
            kind: K::from_texts(kind, &params).unwrap(),
            sticky: true,
        };
        let wire = serde_json::to_value(&request).unwrap();
        let spec = FaultSpec::from_json(&wire).unwrap_or_else(|e| panic!("{wire}: {e}"));
        let faults = Faults::default();
        let answer = faults.add(spec).unwrap().to_api();
        assert_eq!(answer.kind, want, "{wire}");
        // The answer reads back as it was written.
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(serde_json::from_value::<api::Fault>(json).unwrap(), answer);
    }
}
