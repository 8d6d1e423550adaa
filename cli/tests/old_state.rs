//! A state file written by fidosim on the previous cryptographic
//! generation (p256 0.13, ed25519-dalek 2, x509-cert 0.2; commit f5c0e1d)
//! still opens, and every credential in it still signs: discoverable and
//! not (its ID sealed under the stored master secret), ES256 and EdDSA.
//!
//! `fixtures/state-before-p256-0.14.redb.gz` holds four credentials for
//! old.example made with `fidosim webauthn create`; the `.json` beside it
//! has their IDs and the public keys the registrations returned.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use authenticator_core::crypto::keys::PublicKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/state-before-p256-0.14"
);

/// A fresh directory with the fixture's state file unpacked into it.
struct Unpacked(PathBuf);

impl Unpacked {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("fidosim-old-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("gzip")
            .args(["-dc", &format!("{FIXTURE}.redb.gz")])
            .output()
            .unwrap();
        assert!(out.status.success(), "gzip: {:?}", out);
        std::fs::write(dir.join("state.redb"), out.stdout).unwrap();
        Self(dir)
    }

    fn state(&self) -> PathBuf {
        self.0.join("state.redb")
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURE}.json")).unwrap()).unwrap()
}

fn b64(s: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s.as_str().unwrap()).unwrap()
}

/// `fidosim webauthn create|get` on the state file with `options`; the
/// response JSON.
fn webauthn(dir: &Unpacked, verb: &str, options: &Value) -> Value {
    let file = dir.0.join(format!("{verb}-options.json"));
    std::fs::write(&file, options.to_string()).unwrap();
    let out = Command::new(BIN)
        .args([
            "webauthn",
            verb,
            "--origin",
            "https://old.example",
            "--state",
        ])
        .arg(dir.state())
        .arg(&file)
        .env("XDG_DATA_HOME", dir.0.join("xdg"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "webauthn {verb}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The credential's public key, from the SubjectPublicKeyInfo the
/// registration returned.
fn public_key(alg: i64, spki: &[u8]) -> PublicKey {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    match alg {
        -7 => PublicKey::Es256(p256::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap()),
        -8 => PublicKey::EdDsa(ed25519_dalek::VerifyingKey::from_public_key_der(spki).unwrap()),
        other => panic!("algorithm {other}"),
    }
}

/// Checks an AuthenticationResponseJSON's signature over authenticatorData
/// ‖ SHA-256(clientDataJSON) (WebAuthn L3 §7.2 step 20) with `key`.
fn assert_signed_by(response: &Value, key: &PublicKey, what: &str) {
    let r = &response["response"];
    let mut signed = b64(&r["authenticatorData"]);
    signed.extend_from_slice(&authenticator_core::crypto::sha256(&b64(
        &r["clientDataJSON"]
    )));
    assert!(
        key.verify(&signed, &b64(&r["signature"])),
        "{what}: the signature does not verify with the registered key"
    );
}

fn credentials() -> Vec<(String, Value, PublicKey, bool)> {
    fixture()["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let alg = c["publicKeyAlgorithm"].as_i64().unwrap();
            (
                c["name"].as_str().unwrap().to_owned(),
                c["id"].clone(),
                public_key(alg, &b64(&c["publicKey"])),
                c["discoverable"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_credential_of_an_old_state_file_still_signs() {
    let dir = Unpacked::new("sign");
    for (name, id, key, _) in credentials() {
        let options = json!({
            "challenge": "c3RpbGwtc2lnbnM",
            "rpId": "old.example",
            "allowCredentials": [{"type": "public-key", "id": id}],
            "userVerification": "discouraged",
        });
        let response = webauthn(&dir, "get", &options);
        assert_eq!(response["id"], id, "{name}");
        assert_signed_by(&response, &key, &name);
    }
}

#[test]
fn discoverable_credentials_of_an_old_state_file_are_found_and_sign() {
    let dir = Unpacked::new("discover");
    let options = json!({
        "challenge": "ZGlzY292ZXJhYmxl",
        "rpId": "old.example",
        "userVerification": "preferred",
    });
    let response = webauthn(&dir, "get", &options);
    let creds = credentials();
    let (name, _, key, discoverable) = creds
        .iter()
        .find(|(_, id, _, _)| *id == response["id"])
        .expect("the answer names one of the stored credentials");
    assert!(discoverable, "{name} is not discoverable");
    assert_signed_by(&response, key, name);
}

#[test]
fn an_old_state_file_makes_new_credentials_too() {
    let dir = Unpacked::new("create");
    // The attestation identity stored in the old file signs the new
    // registration ("direct"); opening the file checks its chain.
    let created = webauthn(
        &dir,
        "create",
        &json!({
            "rp": {"id": "old.example", "name": "Old"},
            "user": {"id": "bmV3LXVzZXI", "name": "new", "displayName": "New"},
            "challenge": "bmV3LWNyZWRlbnRpYWw",
            "pubKeyCredParams": [{"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -7}],
            "attestation": "direct",
        }),
    );
    let r = &created["response"];
    let key = public_key(
        r["publicKeyAlgorithm"].as_i64().unwrap(),
        &b64(&r["publicKey"]),
    );
    let response = webauthn(
        &dir,
        "get",
        &json!({
            "challenge": "bmV3LWFzc2VydGlvbg",
            "rpId": "old.example",
            "allowCredentials": [{"type": "public-key", "id": created["id"]}],
        }),
    );
    assert_signed_by(&response, &key, "the new credential");
    assert!(Path::new(&dir.state()).exists());
}
