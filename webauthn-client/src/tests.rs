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
