#![allow(clippy::unwrap_used)]

use super::*;
use authenticator_core::env::TestEnv;
use authenticator_core::{AttestationIdentity, DeviceConfig};
use rand_chacha::rand_core::SeedableRng;

fn device(config: DeviceConfig) -> Authenticator<TestEnv> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let identity = AttestationIdentity::generate(&mut rng, config.aaguid, "t", "t").unwrap();
    Authenticator::new(config, identity, TestEnv::seeded(9)).unwrap()
}

fn creation(extra: serde_json::Value) -> CreationOptions {
    let mut v = json!({
        "rp": {"id": "shop.example", "name": "Shop"},
        "user": {"id": "dXNlci0x", "name": "alice", "displayName": "Alice"},
        "challenge": "Y2hhbGxlbmdlLTAxMjM0NTY3",
        "pubKeyCredParams": [{"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -7}],
    });
    if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    json::parse_options(&json!({ "publicKey": v }).to_string()).unwrap()
}

fn request(extra: serde_json::Value) -> RequestOptions {
    let mut v = json!({ "challenge": "c2lnbi1pbi0wMTIzNDU2Nzg5", "rpId": "shop.example" });
    if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    json::parse_options(&v.to_string()).unwrap()
}

fn unb(s: &str) -> Vec<u8> {
    unb64url("test", s).unwrap()
}

#[test]
fn client_data_is_serialized_like_a_browser() {
    assert_eq!(
        client_data_json("webauthn.create", b"abc", "https://a.example", None),
        r#"{"type":"webauthn.create","challenge":"YWJj","origin":"https://a.example","crossOrigin":false}"#
    );
    assert_eq!(
        client_data_json(
            "webauthn.get",
            b"abc",
            "https://a.example",
            Some("https://top.example")
        ),
        r#"{"type":"webauthn.get","challenge":"YWJj","origin":"https://a.example","crossOrigin":true,"topOrigin":"https://top.example"}"#
    );
}

#[test]
fn registration_then_authentication_verify() {
    let mut d = device(DeviceConfig::default());
    let client = Client::new("https://shop.example");
    let reg = client
        .create(
            &mut d,
            &creation(json!({ "extensions": { "credProps": true } })),
        )
        .unwrap();
    // The JSON has exactly the members of RegistrationResponseJSON.
    let v = serde_json::to_value(&reg).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "authenticatorAttachment",
            "clientExtensionResults",
            "id",
            "rawId",
            "response",
            "type"
        ]
    );
    assert_eq!(
        v["clientExtensionResults"],
        json!({ "credProps": { "rk": false } })
    );
    assert_eq!(
        reg.response.public_key_algorithm, -8,
        "the RP's first choice"
    );
    let cd = String::from_utf8(unb(&reg.response.client_data_json)).unwrap();
    assert_eq!(
        cd,
        r#"{"type":"webauthn.create","challenge":"Y2hhbGxlbmdlLTAxMjM0NTY3","origin":"https://shop.example","crossOrigin":false}"#
    );
    // attestation "none": fmt none, empty attStmt, the authData unchanged.
    let att = cbor::decode(&unb(&reg.response.attestation_object)).unwrap();
    let mut att = Fields::from_value(att).unwrap();
    assert_eq!(att.take_text_key("fmt"), Some(Value::from("none")));
    assert_eq!(att.take_text_key("attStmt"), Some(Value::Map(vec![])));
    assert_eq!(
        att.take_text_key("authData"),
        Some(cbor::bytes(unb(&reg.response.authenticator_data)))
    );

    // Sign in; the signature verifies with the SPKI the registration gave.
    let auth = client
        .get(
            &mut d,
            &request(json!({ "allowCredentials": [{"type": "public-key", "id": reg.id}] })),
        )
        .unwrap();
    assert_eq!(auth.id, reg.id);
    let ad = unb(&auth.response.authenticator_data);
    let cd = unb(&auth.response.client_data_json);
    assert!(String::from_utf8(cd.clone())
        .unwrap()
        .starts_with(r#"{"type":"webauthn.get","#));
    let msg = [ad.clone(), sha2::Sha256::digest(&cd).to_vec()].concat();
    use ed25519_dalek::pkcs8::DecodePublicKey;
    use ed25519_dalek::Verifier;
    let vk =
        ed25519_dalek::VerifyingKey::from_public_key_der(&unb(&reg.response.public_key)).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&unb(&auth.response.signature)).unwrap();
    assert!(vk.verify(&msg, &sig).is_ok());
    assert_eq!(ad[..32], sha2::Sha256::digest(b"shop.example")[..]);
}

#[test]
fn direct_attestation_is_kept_and_discoverable_credentials_return_the_user() {
    let mut d = device(DeviceConfig::default());
    let client = Client::new("https://login.shop.example");
    let reg = client
        .create(
            &mut d,
            &creation(json!({
                "attestation": "direct",
                "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
                "authenticatorSelection": { "residentKey": "required", "userVerification": "required" }
            })),
        )
        .unwrap();
    let att = cbor::decode(&unb(&reg.response.attestation_object)).unwrap();
    let mut att = Fields::from_value(att).unwrap();
    assert_eq!(att.take_text_key("fmt"), Some(Value::from("packed")));
    let ad = unb(&reg.response.authenticator_data);
    assert_eq!(ad[32] & 0x05, 0x05, "UP and UV");
    use p256::pkcs8::DecodePublicKey;
    assert!(p256::PublicKey::from_public_key_der(&unb(&reg.response.public_key)).is_ok());
    // No allowList: the discoverable credential and its user handle.
    let auth = client.get(&mut d, &request(json!({}))).unwrap();
    assert_eq!(auth.id, reg.id);
    assert_eq!(auth.response.user_handle.as_deref(), Some("dXNlci0x"));
    // excludeCredentials with it: InvalidStateError.
    let again = client.create(
        &mut d,
        &creation(json!({ "excludeCredentials": [{"type": "public-key", "id": reg.id}] })),
    );
    assert!(
        matches!(again, Err(ClientError::InvalidState(_))),
        "{again:?}"
    );
}

#[test]
fn browser_rules_and_their_breaks() {
    let mut d = device(DeviceConfig::default());
    let evil = Client::new("https://evil.example");
    assert!(matches!(
        evil.create(&mut d, &creation(json!({}))),
        Err(ClientError::Security(_))
    ));
    let mut broken = Client::new("https://evil.example");
    broken.breaks.foreign_rp_id = true;
    let reg = broken.create(&mut d, &creation(json!({}))).unwrap();
    let cd = String::from_utf8(unb(&reg.response.client_data_json)).unwrap();
    assert!(cd.contains(r#""origin":"https://evil.example""#), "{cd}");
    let plain = Client::new("http://shop.example");
    assert!(matches!(
        plain.get(&mut d, &request(json!({}))),
        Err(ClientError::Security(_))
    ));
    let bad_user = creation(json!({ "user": {"id": "", "name": "a", "displayName": "A"} }));
    assert!(matches!(
        Client::new("https://shop.example").create(&mut d, &bad_user),
        Err(ClientError::Type(_))
    ));
    let rsa_only = creation(json!({ "pubKeyCredParams": [{"type": "public-key", "alg": -257}] }));
    let r = Client::new("https://shop.example").create(&mut d, &rsa_only);
    assert!(
        matches!(r, Err(ClientError::NotAllowed(ref m)) if m.contains("UNSUPPORTED_ALGORITHM")),
        "{r:?}"
    );
    // No UV on the device: "required" cannot be met.
    let mut no_uv = device(DeviceConfig {
        builtin_uv: false,
        ..DeviceConfig::default()
    });
    let r = Client::new("https://shop.example").create(
        &mut no_uv,
        &creation(json!({ "authenticatorSelection": { "userVerification": "required" } })),
    );
    assert!(matches!(r, Err(ClientError::NotAllowed(_))), "{r:?}");
    // Nothing registered for this RP on a fresh device.
    let r = Client::new("https://shop.example").get(&mut no_uv, &request(json!({})));
    assert!(
        matches!(r, Err(ClientError::NotAllowed(ref m)) if m.contains("no credential")),
        "{r:?}"
    );
    assert!(json::parse_options::<CreationOptions>("{").is_err());
    assert!(json::parse_options::<CreationOptions>(r#"{"rp": {}}"#).is_err());
}

/// Three discoverable credentials for shop.example, created in this order
/// for user handles `user-1`, `user-2`, `user-3`: their IDs.
fn three_accounts(d: &mut Authenticator<TestEnv>) -> Vec<String> {
    let client = Client::new("https://shop.example");
    (1..=3)
        .map(|i| {
            let options = creation(json!({
                "user": {"id": b64url(format!("user-{i}").as_bytes()), "name": format!("u{i}"), "displayName": format!("U{i}")},
                "authenticatorSelection": { "residentKey": "required" },
            }));
            client.create(d, &options).unwrap().id
        })
        .collect()
}

fn handle(i: u8) -> Vec<u8> {
    format!("user-{i}").into_bytes()
}

fn choosing(account: Account) -> Client {
    let mut c = Client::new("https://shop.example");
    c.account = account;
    c
}

/// The key hands every credential to the platform (numberOfCredentials):
/// the client takes the first, or walks authenticatorGetNextAssertion to
/// the asked one (CTAP 2.1 §6.2.2 step 12.2, §6.3).
#[test]
fn the_platform_picks_among_all_credentials_the_key_offers() {
    let mut d = device(DeviceConfig::default());
    assert!(d.env().accounts.is_platform());
    let ids = three_accounts(&mut d);
    let first = choosing(Account::First)
        .get(&mut d, &request(json!({})))
        .unwrap();
    assert_eq!(first.id, ids[2], "the newest comes first");
    assert_eq!(first.response.user_handle, Some(b64url(&handle(3))));
    let by_user = choosing(Account::UserHandle(handle(1)))
        .get(&mut d, &request(json!({})))
        .unwrap();
    assert_eq!(by_user.id, ids[0]);
    assert_eq!(by_user.response.user_handle, Some(b64url(&handle(1))));
    let by_id = choosing(Account::CredentialId(unb(&ids[1])))
        .get(&mut d, &request(json!({})))
        .unwrap();
    assert_eq!(by_id.id, ids[1]);
    assert_eq!(by_id.response.user_handle, Some(b64url(&handle(2))));
    // None of the offered is the asked one: no assertion, and every
    // offered account named.
    let r = choosing(Account::UserHandle(b"user-9".to_vec())).get(&mut d, &request(json!({})));
    let Err(ClientError::NoAccount(m)) = r else {
        panic!("{r:?}")
    };
    assert!(m.contains(&b64url(b"user-9")), "{m}");
    assert!(m.contains("offered 3 credentials"), "{m}");
    for i in 1..=3 {
        assert!(m.contains(&b64url(&handle(i))), "{m}");
    }
}

/// The key's user chose on the device (userSelected): the client takes that
/// one, and refuses it when another account was asked for.
#[test]
fn a_choice_on_the_device_must_be_the_asked_account() {
    let mut d = device(DeviceConfig::default());
    let ids = three_accounts(&mut d);
    d.env_mut().accounts = "newest".parse().unwrap();
    let newest = choosing(Account::First)
        .get(&mut d, &request(json!({})))
        .unwrap();
    assert_eq!(newest.id, ids[2]);
    let asked_third = choosing(Account::UserHandle(handle(3)))
        .get(&mut d, &request(json!({})))
        .unwrap();
    assert_eq!(asked_third.id, ids[2]);
    let r = choosing(Account::UserHandle(handle(1))).get(&mut d, &request(json!({})));
    let Err(ClientError::NoAccount(m)) = r else {
        panic!("{r:?}")
    };
    assert!(
        m.contains("userSelected")
            && m.contains(&b64url(&handle(3)))
            && m.contains(&ids[2])
            && m.contains(&format!("user handle {} was asked", b64url(&handle(1)))),
        "{m}"
    );
    // A policy picking the asked account on the device.
    d.env_mut().accounts = format!("user:{},refuse", b64url(&handle(1)))
        .parse()
        .unwrap();
    let r = choosing(Account::UserHandle(handle(1)))
        .get(&mut d, &request(json!({})))
        .unwrap();
    assert_eq!(r.id, ids[0]);
    // The same policy without that account on the key: its user declines.
    d.env_mut().accounts = format!("user:{},refuse", b64url(b"user-9"))
        .parse()
        .unwrap();
    let r = choosing(Account::UserHandle(b"user-9".to_vec())).get(&mut d, &request(json!({})));
    assert!(
        matches!(r, Err(ClientError::NotAllowed(ref m)) if m.contains("OPERATION_DENIED")),
        "{r:?}"
    );
}

#[test]
fn a_single_credential_that_is_not_the_asked_one_is_refused() {
    let mut d = device(DeviceConfig::default());
    let reg = Client::new("https://shop.example")
        .create(
            &mut d,
            &creation(json!({ "authenticatorSelection": { "residentKey": "required" } })),
        )
        .unwrap();
    let r = choosing(Account::CredentialId(vec![7; 16])).get(&mut d, &request(json!({})));
    let Err(ClientError::NoAccount(m)) = r else {
        panic!("{r:?}")
    };
    assert!(
        m.contains("the only one it offered")
            && m.contains(&reg.id)
            && m.contains(&b64url(&[7; 16])),
        "{m}"
    );
    let r = choosing(Account::CredentialId(unb(&reg.id)))
        .get(&mut d, &request(json!({})))
        .unwrap();
    assert_eq!(r.id, reg.id);
}

/// The in-process key, failing authenticatorGetNextAssertion number
/// `fail_at` (counting from 2, as the client does) with `status`.
struct FailingNext {
    inner: Authenticator<TestEnv>,
    next_calls: u64,
    fail_at: u64,
    status: u8,
}

impl CtapDevice for FailingNext {
    fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, ClientError> {
        if request.first() == Some(&0x08) {
            self.next_calls += 1;
            if self.next_calls + 1 == self.fail_at {
                return Ok(vec![self.status]);
            }
        }
        self.inner.transact(request)
    }
}

#[test]
fn a_get_next_assertion_failing_midway_is_a_device_error() {
    let mut d = device(DeviceConfig::default());
    three_accounts(&mut d);
    let mut failing = FailingNext {
        inner: d,
        next_calls: 0,
        fail_at: 3,
        status: 0x30, // CTAP2_ERR_NOT_ALLOWED
    };
    let r = choosing(Account::UserHandle(handle(1))).get(&mut failing, &request(json!({})));
    let Err(ClientError::Device(m)) = r else {
        panic!("{r:?}")
    };
    assert!(
        m.contains("announced 3 credentials")
            && m.contains("authenticatorGetNextAssertion for number 3")
            && m.contains("NOT_ALLOWED"),
        "{m}"
    );
    assert_eq!(failing.next_calls, 2, "stopped at the failure");
    // The first one offered needs no getNextAssertion.
    failing.next_calls = 0;
    failing.fail_at = 2;
    assert!(choosing(Account::First)
        .get(&mut failing, &request(json!({})))
        .is_ok());
    assert_eq!(failing.next_calls, 0);
}

/// A key that answers getInfo with nothing and getAssertion with `answer`.
struct Scripted {
    answer: Value,
}

impl CtapDevice for Scripted {
    fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, ClientError> {
        let body = match request.first() {
            Some(0x04) => MapBuilder::new().build(),
            Some(0x02) => self.answer.clone(),
            _ => return Ok(vec![0x30]),
        };
        Ok([vec![0], cbor::encode(&body)].concat())
    }
}

fn scripted_assertion(number: Option<i64>, user_selected: Option<Value>) -> Value {
    let mut m = MapBuilder::new()
        .int(
            1,
            MapBuilder::new()
                .text("id", cbor::bytes(vec![1; 16]))
                .text("type", "public-key")
                .build(),
        )
        .int(2, cbor::bytes(vec![0; 37]))
        .int(3, cbor::bytes(vec![2; 64]))
        .int(
            4,
            MapBuilder::new().text("id", cbor::bytes(handle(1))).build(),
        );
    if let Some(n) = number {
        m = m.int(5, n);
    }
    if let Some(s) = user_selected {
        m = m.int(6, s);
    }
    m.build()
}

#[test]
fn contradictory_answers_are_device_errors() {
    let get = |answer: Value| {
        Client::new("https://shop.example").get(&mut Scripted { answer }, &request(json!({})))
    };
    // userSelected with numberOfCredentials > 1 (§6.2.2).
    let r = get(scripted_assertion(Some(3), Some(Value::Bool(true))));
    assert!(
        matches!(r, Err(ClientError::Device(ref m)) if m.contains("userSelected (0x06) with numberOfCredentials 3")),
        "{r:?}"
    );
    for (n, s) in [
        (Some(0), None),
        (Some(-1), None),
        (None, Some(Value::from(1))),
    ] {
        let r = get(scripted_assertion(n, s));
        assert!(matches!(r, Err(ClientError::Device(_))), "{n:?}: {r:?}");
    }
    // Announced 2, and the second never comes.
    let r = get(scripted_assertion(Some(2), None));
    assert!(matches!(r, Ok(ref a) if a.id == b64url(&[1; 16])), "{r:?}");
    let r = choosing(Account::UserHandle(handle(2))).get(
        &mut Scripted {
            answer: scripted_assertion(Some(2), None),
        },
        &request(json!({})),
    );
    assert!(
        matches!(r, Err(ClientError::Device(ref m)) if m.contains("for number 2 failed")),
        "{r:?}"
    );
    // userSelected alone, or with a count of 1, is a choice on the device.
    for n in [None, Some(1)] {
        let r = get(scripted_assertion(n, Some(Value::Bool(true))));
        assert!(r.is_ok(), "{n:?}: {r:?}");
    }
}

/// The authenticator extension outputs of a response's authenticator data.
fn ctap_outputs(auth_data_b64: &str, at_least: usize) -> Vec<(Value, Value)> {
    let ad = unb(auth_data_b64);
    assert!(ad[32] & 0x80 != 0, "no ED flag");
    // The outputs map is the last CBOR item: try each start from the end.
    (at_least..ad.len())
        .find_map(|i| match cbor::decode(&ad[i..]) {
            Ok(Value::Map(m)) => Some(m),
            _ => None,
        })
        .unwrap()
}

#[test]
fn cred_blob_cred_protect_and_large_blob_support() {
    let mut d = device(DeviceConfig::default());
    let client = Client::new("https://shop.example");
    let blob = b"sixteen byte blb";
    let reg = client
        .create(
            &mut d,
            &creation(json!({
                "authenticatorSelection": {"residentKey": "required", "userVerification": "required"},
                "extensions": {
                    "credBlob": b64url(blob),
                    "credentialProtectionPolicy": "userVerificationRequired",
                    "enforceCredentialProtectionPolicy": true,
                    "largeBlob": {"support": "required"},
                    "minPinLength": true,
                }
            })),
        )
        .unwrap();
    let v = serde_json::to_value(&reg).unwrap();
    assert_eq!(
        v["clientExtensionResults"],
        json!({ "credBlob": true, "largeBlob": { "supported": true } })
    );
    let outputs = ctap_outputs(&reg.response.authenticator_data, 55);
    assert!(outputs.contains(&(Value::from("credProtect"), Value::from(3))));
    assert!(outputs.contains(&(Value::from("credBlob"), Value::from(true))));

    let allow = json!([{"type": "public-key", "id": reg.id}]);
    let got = client
        .get(
            &mut d,
            &request(json!({
                "allowCredentials": allow,
                "userVerification": "required",
                "extensions": {"getCredBlob": true}
            })),
        )
        .unwrap();
    assert_eq!(
        got.client_extension_results,
        json!({ "getCredBlob": b64url(blob) })
    );
    // largeBlob: nothing to read yet; a write; the blob read back; a
    // second write replaces it.
    let mut large_blob = |ext: serde_json::Value| {
        client
            .get(
                &mut d,
                &request(json!({ "allowCredentials": allow, "extensions": {"largeBlob": ext} })),
            )
            .map(|r| r.client_extension_results["largeBlob"].clone())
    };
    assert_eq!(large_blob(json!({"read": true})).unwrap(), json!({}));
    let text = b"a large blob, compressed and sealed".repeat(20);
    assert_eq!(
        large_blob(json!({"write": b64url(&text)})).unwrap(),
        json!({"written": true})
    );
    assert_eq!(
        large_blob(json!({"read": true})).unwrap(),
        json!({"blob": b64url(&text)})
    );
    assert_eq!(
        large_blob(json!({"write": b64url(b"shorter")})).unwrap(),
        json!({"written": true})
    );
    assert_eq!(
        large_blob(json!({"read": true})).unwrap(),
        json!({"blob": b64url(b"shorter")})
    );
    // Read and write together, and support in get(), are refused.
    let e = large_blob(json!({"read": true, "write": "AA"})).unwrap_err();
    assert!(matches!(e, ClientError::NotSupported(_)), "{e}");
    let e = large_blob(json!({"support": "required"})).unwrap_err();
    assert!(matches!(e, ClientError::NotSupported(_)), "{e}");
    // create() takes no read or write, and an unknown policy is a TypeError.
    let e = client
        .create(
            &mut d,
            &creation(json!({ "extensions": {"largeBlob": {"write": "AA"}} })),
        )
        .unwrap_err();
    assert!(matches!(e, ClientError::NotSupported(_)), "{e}");
    let e = client
        .create(
            &mut d,
            &creation(json!({ "extensions": {"credentialProtectionPolicy": "always"} })),
        )
        .unwrap_err();
    assert!(matches!(e, ClientError::Type(_)), "{e}");
}

#[test]
fn prf_through_hmac_secret() {
    let mut d = device(DeviceConfig::default());
    let client = Client::new("https://shop.example");
    let reg = client
        .create(&mut d, &creation(json!({ "extensions": {"prf": {}} })))
        .unwrap();
    assert_eq!(
        reg.client_extension_results,
        json!({ "prf": { "enabled": true } })
    );
    let allow = json!([{"type": "public-key", "id": reg.id}]);
    let mut eval = |prf: serde_json::Value| {
        let got = client
            .get(
                &mut d,
                &request(json!({ "allowCredentials": allow, "extensions": {"prf": prf} })),
            )
            .unwrap();
        got.client_extension_results["prf"]["results"].clone()
    };
    let a = eval(json!({"eval": {"first": b64url(b"salt a")}}));
    assert_eq!(unb(a["first"].as_str().unwrap()).len(), 32);
    assert!(a.get("second").is_none());
    // The same input gives the same output; a second input another.
    let both = eval(json!({"eval": {"first": b64url(b"salt a"), "second": b64url(b"salt b")}}));
    assert_eq!(both["first"], a["first"]);
    assert_ne!(both["second"], a["first"]);
    // evalByCredential wins for the allowed credential.
    let by = eval(json!({
        "eval": {"first": b64url(b"salt a")},
        "evalByCredential": { reg.id.clone(): {"first": b64url(b"salt b")} }
    }));
    assert_eq!(by["first"], both["second"]);
    // A credential that is not allowed is refused.
    let e = client
        .get(
            &mut d,
            &request(json!({
                "allowCredentials": allow,
                "extensions": {"prf": {"evalByCredential": {"AAAA": {"first": "AA"}}}}
            })),
        )
        .unwrap_err();
    assert!(matches!(e, ClientError::NotSupported(_)), "{e}");
}

#[test]
fn a_large_blob_write_without_built_in_uv_says_why() {
    let mut d = device(DeviceConfig {
        builtin_uv: false,
        ..DeviceConfig::default()
    });
    let client = Client::new("https://shop.example");
    let reg = client
        .create(
            &mut d,
            &creation(json!({ "extensions": {"largeBlob": {"support": "preferred"}} })),
        )
        .unwrap();
    // Not discoverable: no largeBlobKey (CTAP 2.1 §12.3).
    assert_eq!(
        reg.client_extension_results,
        json!({ "largeBlob": { "supported": false } })
    );
    let e = client
        .create(
            &mut d,
            &creation(json!({ "extensions": {"largeBlob": {"support": "required"}} })),
        )
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::NotSupported(m) if m.contains("discoverable")),
        "{e}"
    );
    let reg = client
        .create(
            &mut d,
            &creation(json!({
                "authenticatorSelection": {"residentKey": "required"},
                "extensions": {"largeBlob": {"support": "required"}}
            })),
        )
        .unwrap();
    assert_eq!(
        reg.client_extension_results,
        json!({ "largeBlob": { "supported": true } })
    );
    let e = client
        .get(
            &mut d,
            &request(json!({
                "allowCredentials": [{"type": "public-key", "id": reg.id}],
                "extensions": {"largeBlob": {"write": b64url(b"x")}}
            })),
        )
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::NotSupported(m) if m.contains("built-in user verification")),
        "{e}"
    );
}

/// getPublicKey() (WebAuthn L3 §5.2.1.1) for every algorithm the key
/// implements: the COSE key becomes a SubjectPublicKeyInfo that the
/// algorithm's own crate reads back as the same key.
#[test]
fn every_algorithms_cose_key_becomes_an_spki() {
    use authenticator_core::crypto::keys::{Algorithm, PrivateKey, PublicKey};
    use p256::elliptic_curve::sec1::ToSec1Point;
    use p256::pkcs8::DecodePublicKey;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    for alg in Algorithm::ALL {
        let public = PrivateKey::generate(alg, &mut rng).public_key().unwrap();
        let (cose_alg, der) = spki_of(&public.to_cose_value()).unwrap();
        assert_eq!(cose_alg, alg.cose());
        let raw = match &public {
            PublicKey::Es256(_) => p256::PublicKey::from_public_key_der(&der)
                .map(|k| k.to_sec1_point(false).as_bytes().to_vec())
                .unwrap(),
            PublicKey::EdDsa(_) => ed25519_dalek::VerifyingKey::from_public_key_der(&der)
                .unwrap()
                .to_bytes()
                .to_vec(),
            PublicKey::Es384(_) => p384::PublicKey::from_public_key_der(&der)
                .map(|k| k.to_sec1_point(false).as_bytes().to_vec())
                .unwrap(),
            PublicKey::Es512(_) => p521::PublicKey::from_public_key_der(&der)
                .map(|k| k.to_sec1_point(false).as_bytes().to_vec())
                .unwrap(),
            PublicKey::Es256K(_) => k256::PublicKey::from_public_key_der(&der)
                .map(|k| k.to_sec1_point(false).as_bytes().to_vec())
                .unwrap(),
            PublicKey::MlDsa44(_) => {
                ml_dsa::VerifyingKey::<ml_dsa::MlDsa44>::from_public_key_der(&der)
                    .unwrap()
                    .encode()
                    .to_vec()
            }
            PublicKey::MlDsa65(_) => {
                ml_dsa::VerifyingKey::<ml_dsa::MlDsa65>::from_public_key_der(&der)
                    .unwrap()
                    .encode()
                    .to_vec()
            }
            PublicKey::MlDsa87(_) => {
                ml_dsa::VerifyingKey::<ml_dsa::MlDsa87>::from_public_key_der(&der)
                    .unwrap()
                    .encode()
                    .to_vec()
            }
        };
        assert_eq!(raw, public.raw_bytes(), "{alg:?}");
    }
}
