//! Cross-implementation test: fidosim's CTAP2 output, checked by webauthn-rs.
//!
//! Every ceremony here runs end to end through the JSON a real deployment
//! would exchange:
//!
//! ```text
//!  webauthn-rs (RP) ──options JSON──► Client (a minimal "browser") ──CTAP2──► fidosim
//!        ▲                                   │
//!        └──────── PublicKeyCredential JSON ◄┘
//! ```
//!
//! The RP side is `webauthn-rs-core` (OpenSSL-backed), so signatures, COSE
//! keys, the packed attestation statement, the x5c chain against the
//! device's attestation CA, the AAGUID certificate extension, rpIdHash,
//! flags and counters are all judged by an independent implementation.
//!
//! Covered: ES256 and EdDSA credentials; `packed` batch attestation (trusted
//! through an `AttestationCaList` holding fidosim's CA and AAGUID), `packed`
//! self attestation and `none`; UV required and UV discouraged; discoverable
//! (username-less) authentication; counters; and rejections of tampered
//! signatures, tampered authenticator data, an untrusted CA, an untrusted
//! AAGUID and a tampered attestation signature.
//!
//! The client passes the authenticator's attestation statement through
//! unchanged, as browsers do for `direct` conveyance.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::config::{AttestationMode, DEFAULT_AAGUID};
use authenticator_core::env::TestEnv;
use authenticator_core::{AttestationIdentity, Authenticator, DeviceConfig};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationCaList, AttestationCaListBuilder, AttestationConveyancePreference,
    AttestationFormat, AuthenticationResult, COSEAlgorithm, Credential, ParsedAttestationData,
    PublicKeyCredential, RegisterPublicKeyCredential, UserVerificationPolicy,
};
use webauthn_rs_core::WebauthnCore;

const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";
const USER_ID: &[u8] = b"user-0001";

// ---------------------------------------------------------------------------
// The device
// ---------------------------------------------------------------------------

fn identity(seed: u64) -> AttestationIdentity {
    let mut env = TestEnv::seeded(seed);
    AttestationIdentity::generate(&mut env.rng, DEFAULT_AAGUID, "fidosim", "fidosim batch").unwrap()
}

fn device(mode: AttestationMode) -> Authenticator<TestEnv> {
    let config = DeviceConfig {
        attestation: mode,
        ..DeviceConfig::default()
    };
    Authenticator::new(config, identity(1), TestEnv::seeded(2)).unwrap()
}

// ---------------------------------------------------------------------------
// The client: what a browser does between navigator.credentials and CTAP2
// ---------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(v: &serde_json::Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap()
}

/// The value under integer key `key` of a CTAP2 response map.
fn field(map: &Value, key: i64) -> Option<&Value> {
    map.as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| *k == Value::from(key))
        .map(|(_, v)| v)
}

/// The value under text key `key` of a CBOR map.
fn text_field<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

/// The credential ID inside the attested credential data of `auth_data`
/// (WebAuthn §6.5.1: rpIdHash 32, flags 1, signCount 4, AAGUID 16, L 2, ID L).
fn credential_id_of(auth_data: &[u8]) -> Vec<u8> {
    assert!(auth_data[32] & 0x40 != 0, "AT flag not set in authData");
    let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    auth_data[55..55 + len].to_vec()
}

/// A minimal WebAuthn client in front of one fidosim device.
struct Client {
    device: Authenticator<TestEnv>,
    origin: &'static str,
}

impl Client {
    fn new(device: Authenticator<TestEnv>) -> Self {
        Self {
            device,
            origin: ORIGIN,
        }
    }

    /// Sends one CTAP2 command and returns the decoded success body.
    fn ctap(&mut self, cmd: u8, params: Option<Value>) -> Value {
        let mut msg = vec![cmd];
        if let Some(p) = params {
            msg.extend(cbor::encode(&p));
        }
        let rsp = self.device.handle(&msg);
        assert_eq!(
            rsp[0], 0,
            "CTAP command {cmd:#04x} failed with status {:#04x}",
            rsp[0]
        );
        cbor::decode(&rsp[1..]).unwrap()
    }

    /// Whether getInfo advertises a built-in user verification method.
    fn device_has_uv(&mut self) -> bool {
        let info = self.ctap(0x04, None);
        field(&info, 0x04)
            .and_then(|o| text_field(o, "uv"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Whether to send the `uv` option for a WebAuthn `userVerification`.
    fn wants_uv(&mut self, user_verification: &serde_json::Value) -> bool {
        match user_verification.as_str().unwrap_or("preferred") {
            "required" => true,
            "discouraged" => false,
            _ => self.device_has_uv(),
        }
    }

    /// clientDataJSON and its SHA-256, member order as browsers write it.
    fn client_data(&self, kind: &str, challenge: &serde_json::Value) -> (Vec<u8>, Vec<u8>) {
        let json = format!(
            r#"{{"type":"{kind}","challenge":"{}","origin":"{}","crossOrigin":false}}"#,
            challenge.as_str().unwrap(),
            self.origin
        )
        .into_bytes();
        let hash = Sha256::digest(&json).to_vec();
        (json, hash)
    }

    /// navigator.credentials.create(): options JSON in, credential JSON out.
    fn create(&mut self, options: &serde_json::Value) -> serde_json::Value {
        let pk = &options["publicKey"];
        let (client_data_json, client_data_hash) =
            self.client_data("webauthn.create", &pk["challenge"]);

        let selection = &pk["authenticatorSelection"];
        let rk = selection["residentKey"] == "required" || selection["requireResidentKey"] == true;
        let uv = self.wants_uv(&selection["userVerification"]);

        let params = Value::Array(
            pk["pubKeyCredParams"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    MapBuilder::new()
                        .text("alg", p["alg"].as_i64().unwrap())
                        .text("type", p["type"].as_str().unwrap())
                        .build()
                })
                .collect(),
        );
        let exclude = pk["excludeCredentials"]
            .as_array()
            .filter(|l| !l.is_empty())
            .map(|l| {
                Value::Array(
                    l.iter()
                        .map(|d| {
                            MapBuilder::new()
                                .text("id", cbor::bytes(unb64(&d["id"])))
                                .text("type", "public-key")
                                .build()
                        })
                        .collect(),
                )
            });
        let mut options_map = MapBuilder::new().text("rk", rk);
        if uv {
            options_map = options_map.text("uv", true);
        }
        let request = MapBuilder::new()
            .int(1, cbor::bytes(client_data_hash))
            .int(
                2,
                MapBuilder::new()
                    .text("id", pk["rp"]["id"].as_str().unwrap())
                    .text("name", pk["rp"]["name"].as_str().unwrap())
                    .build(),
            )
            .int(
                3,
                MapBuilder::new()
                    .text("id", cbor::bytes(unb64(&pk["user"]["id"])))
                    .text("name", pk["user"]["name"].as_str().unwrap())
                    .text("displayName", pk["user"]["displayName"].as_str().unwrap())
                    .build(),
            )
            .int(4, params)
            .opt(5, exclude)
            .int(7, options_map.build())
            .build();

        let rsp = self.ctap(0x01, Some(request));
        let fmt = field(&rsp, 1).unwrap().clone();
        let auth_data = field(&rsp, 2).unwrap().as_bytes().unwrap().clone();
        let att_stmt = field(&rsp, 3).unwrap().clone();

        // WebAuthn §6.5.4: the attestation object uses text keys.
        let attestation_object = cbor::encode(
            &MapBuilder::new()
                .text("fmt", fmt)
                .text("attStmt", att_stmt)
                .text("authData", cbor::bytes(auth_data.clone()))
                .build(),
        );
        let id = b64(&credential_id_of(&auth_data));
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data_json),
                "attestationObject": b64(&attestation_object),
                "transports": ["usb"],
            },
            "clientExtensionResults": {},
        })
    }

    /// navigator.credentials.get(): options JSON in, credential JSON out.
    fn get(&mut self, options: &serde_json::Value) -> serde_json::Value {
        let pk = &options["publicKey"];
        let (client_data_json, client_data_hash) =
            self.client_data("webauthn.get", &pk["challenge"]);
        let uv = self.wants_uv(&pk["userVerification"]);

        let allow: Vec<Vec<u8>> = pk["allowCredentials"]
            .as_array()
            .map(|l| l.iter().map(|d| unb64(&d["id"])).collect())
            .unwrap_or_default();
        let allow_list = (!allow.is_empty()).then(|| {
            Value::Array(
                allow
                    .iter()
                    .map(|id| {
                        MapBuilder::new()
                            .text("id", cbor::bytes(id.clone()))
                            .text("type", "public-key")
                            .build()
                    })
                    .collect(),
            )
        });
        let mut options_map = MapBuilder::new().text("up", true);
        if uv {
            options_map = options_map.text("uv", true);
        }
        let request = MapBuilder::new()
            .int(1, pk["rpId"].as_str().unwrap())
            .int(2, cbor::bytes(client_data_hash))
            .opt(3, allow_list)
            .int(5, options_map.build())
            .build();

        let rsp = self.ctap(0x02, Some(request));
        // CTAP 2.1 §6.2.2: the credential may be omitted when the allowList
        // had exactly one entry.
        let cred_id = match field(&rsp, 1) {
            Some(c) => text_field(c, "id").unwrap().as_bytes().unwrap().clone(),
            None => {
                assert_eq!(allow.len(), 1);
                allow[0].clone()
            }
        };
        let auth_data = field(&rsp, 2).unwrap().as_bytes().unwrap().clone();
        let signature = field(&rsp, 3).unwrap().as_bytes().unwrap().clone();
        let user_handle = field(&rsp, 4)
            .and_then(|u| text_field(u, "id"))
            .map(|id| b64(id.as_bytes().unwrap()));

        let id = b64(&cred_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data_json),
                "signature": b64(&signature),
                "userHandle": user_handle,
            },
            "clientExtensionResults": {},
        })
    }
}

// ---------------------------------------------------------------------------
// The relying party
// ---------------------------------------------------------------------------

fn rp() -> WebauthnCore {
    WebauthnCore::new_unsafe_experts_only(
        "Example RP",
        RP_ID,
        vec![url::Url::parse(ORIGIN).unwrap()],
        Duration::from_secs(60),
        None,
        None,
    )
}

/// Trusts `identity`'s CA for exactly fidosim's AAGUID.
fn trusted_cas(identity: &AttestationIdentity, aaguid: [u8; 16]) -> AttestationCaList {
    let mut builder = AttestationCaListBuilder::new();
    builder
        .insert_device_der(
            identity.ca_cert_der(),
            uuid::Uuid::from_bytes(aaguid),
            "fidosim".to_string(),
            Default::default(),
        )
        .unwrap();
    builder.build()
}

struct Registration {
    alg: COSEAlgorithm,
    policy: UserVerificationPolicy,
    resident_key: bool,
    conveyance: AttestationConveyancePreference,
}

impl Registration {
    fn new(alg: COSEAlgorithm) -> Self {
        Self {
            alg,
            policy: UserVerificationPolicy::Required,
            resident_key: false,
            conveyance: AttestationConveyancePreference::Direct,
        }
    }
}

/// Runs a registration ceremony; returns the RP's verdict.
fn register(
    rp: &WebauthnCore,
    client: &mut Client,
    reg: &Registration,
    cas: Option<&AttestationCaList>,
    tamper: impl FnOnce(&mut RegisterPublicKeyCredential),
) -> Result<Credential, WebauthnError> {
    let builder = rp
        .new_challenge_register_builder(USER_ID, "alice", "Alice")
        .unwrap()
        .attestation(reg.conveyance.clone())
        .user_verification_policy(reg.policy)
        .credential_algorithms(vec![reg.alg])
        .require_resident_key(reg.resident_key);
    let (options, state) = rp.generate_challenge_register(builder).unwrap();
    let options = serde_json::to_value(&options).unwrap();
    let response = client.create(&options);
    let mut response: RegisterPublicKeyCredential = serde_json::from_value(response).unwrap();
    tamper(&mut response);
    rp.register_credential(&response, &state, cas)
}

/// How the RP names the credentials it will accept.
#[derive(Clone, Copy)]
enum Allow<'a> {
    /// allowCredentials lists these (the user was identified first).
    Listed(&'a [Credential]),
    /// No allowCredentials: username-less. The RP identifies the user from
    /// the returned userHandle and looks the user's credentials up in its
    /// database, here the slice (which belongs to [`USER_ID`]).
    Discoverable(&'a [Credential]),
}

/// Runs an authentication ceremony; returns the response the client sent
/// and the RP's verdict.
fn authenticate(
    rp: &WebauthnCore,
    client: &mut Client,
    allow: Allow<'_>,
    policy: UserVerificationPolicy,
    tamper: impl FnOnce(&mut PublicKeyCredential),
) -> (
    PublicKeyCredential,
    Result<AuthenticationResult, WebauthnError>,
) {
    let listed = match allow {
        Allow::Listed(creds) => creds.to_vec(),
        Allow::Discoverable(_) => Vec::new(),
    };
    let builder = rp
        .new_challenge_authenticate_builder(listed, Some(policy))
        .unwrap();
    let (options, mut state) = rp.generate_challenge_authenticate(builder).unwrap();
    let options = serde_json::to_value(&options).unwrap();
    let response = client.get(&options);
    let mut response: PublicKeyCredential = serde_json::from_value(response).unwrap();
    tamper(&mut response);
    if let Allow::Discoverable(database) = allow {
        let handle = response
            .get_user_unique_id()
            .expect("no userHandle in a username-less assertion");
        let known = if handle == USER_ID {
            database.to_vec()
        } else {
            Vec::new()
        };
        state.set_allowed_credentials(known);
    }
    let result = rp.authenticate_credential(&response, &state);
    (response, result)
}

fn no_tamper<T>(_: &mut T) {}

fn flip_last_byte(data: &mut [u8]) {
    *data.last_mut().unwrap() ^= 0x01;
}

// ---------------------------------------------------------------------------
// The ceremonies
// ---------------------------------------------------------------------------

/// Registers, authenticates twice (counter must rise) and checks that a
/// tampered signature and tampered authenticator data are refused.
fn full_ceremony(alg: COSEAlgorithm, mode: AttestationMode) {
    let rp = rp();
    let mut client = Client::new(device(mode));
    let identity = client.device.identity().clone();
    let cas = trusted_cas(&identity, DEFAULT_AAGUID);
    let mut reg = Registration::new(alg);
    if mode == AttestationMode::None {
        reg.conveyance = AttestationConveyancePreference::None;
    }
    let cas = (mode == AttestationMode::Batch).then_some(&cas);

    let mut cred = register(&rp, &mut client, &reg, cas, no_tamper)
        .unwrap_or_else(|e| panic!("{alg:?}/{mode:?}: registration rejected: {e:?}"));

    assert_eq!(cred.cred.type_, alg);
    assert!(cred.user_verified);
    assert!(!cred.backup_eligible && !cred.backup_state);
    match mode {
        AttestationMode::Batch => {
            assert_eq!(cred.attestation_format, AttestationFormat::Packed);
            match &cred.attestation.data {
                ParsedAttestationData::Basic(chain) => {
                    assert_eq!(chain[0].to_der().unwrap(), identity.batch_cert_der());
                }
                other => panic!("expected basic attestation, got {other:?}"),
            }
            // Re-verifying against the CA list works too.
            let ca = cred.verify_attestation(cas.unwrap()).unwrap().unwrap();
            assert_eq!(ca.ca().to_der().unwrap(), identity.ca_cert_der());
        }
        AttestationMode::SelfAttestation => {
            assert_eq!(cred.attestation_format, AttestationFormat::Packed);
            assert!(matches!(
                cred.attestation.data,
                ParsedAttestationData::Self_
            ));
        }
        AttestationMode::None => {
            assert_eq!(cred.attestation_format, AttestationFormat::None);
            assert!(matches!(cred.attestation.data, ParsedAttestationData::None));
        }
    }

    // Two authentications; the counter must increase each time.
    let mut last = cred.counter;
    for round in 0..2 {
        let (_, result) = authenticate(
            &rp,
            &mut client,
            Allow::Listed(std::slice::from_ref(&cred)),
            UserVerificationPolicy::Required,
            no_tamper,
        );
        let result = result
            .unwrap_or_else(|e| panic!("{alg:?}/{mode:?}: assertion {round} rejected: {e:?}"));
        assert_eq!(result.cred_id(), &cred.cred_id);
        assert!(result.user_verified());
        assert!(
            result.counter() > last,
            "counter did not increase: {} -> {}",
            last,
            result.counter()
        );
        assert!(result.needs_update());
        last = result.counter();
        cred.counter = last;
    }

    // A tampered signature is refused.
    let (_, result) = authenticate(
        &rp,
        &mut client,
        Allow::Listed(std::slice::from_ref(&cred)),
        UserVerificationPolicy::Required,
        |r| flip_last_byte(&mut r.response.signature),
    );
    let err = result.expect_err("tampered signature accepted");
    assert!(
        matches!(
            err,
            WebauthnError::AuthenticationFailure | WebauthnError::OpenSSLError(_)
        ),
        "unexpected error for a tampered signature: {err:?}"
    );

    // Tampered authenticator data (the low byte of signCount, so every other
    // check still passes) is refused by the signature check.
    let (_, result) = authenticate(
        &rp,
        &mut client,
        Allow::Listed(std::slice::from_ref(&cred)),
        UserVerificationPolicy::Required,
        |r| {
            let ad = &mut r.response.authenticator_data;
            ad[36] = ad[36].wrapping_add(0x10);
        },
    );
    let err = result.expect_err("tampered authenticator data accepted");
    assert!(
        matches!(
            err,
            WebauthnError::AuthenticationFailure | WebauthnError::OpenSSLError(_)
        ),
        "unexpected error for tampered authenticator data: {err:?}"
    );

    // A stale counter at the RP (a clone that is behind) is detected.
    cred.counter = u32::MAX;
    let (_, result) = authenticate(
        &rp,
        &mut client,
        Allow::Listed(std::slice::from_ref(&cred)),
        UserVerificationPolicy::Required,
        no_tamper,
    );
    assert!(matches!(
        result,
        Err(WebauthnError::CredentialPossibleCompromise)
    ));
}

#[test]
fn es256_batch_attestation() {
    full_ceremony(COSEAlgorithm::ES256, AttestationMode::Batch);
}

#[test]
fn eddsa_batch_attestation() {
    full_ceremony(COSEAlgorithm::EDDSA, AttestationMode::Batch);
}

#[test]
fn es256_self_attestation() {
    full_ceremony(COSEAlgorithm::ES256, AttestationMode::SelfAttestation);
}

#[test]
fn eddsa_self_attestation() {
    full_ceremony(COSEAlgorithm::EDDSA, AttestationMode::SelfAttestation);
}

#[test]
fn es256_none_attestation() {
    full_ceremony(COSEAlgorithm::ES256, AttestationMode::None);
}

#[test]
fn eddsa_none_attestation() {
    full_ceremony(COSEAlgorithm::EDDSA, AttestationMode::None);
}

/// UV discouraged: the client sends no `uv`, the device reports UP only, and
/// webauthn-rs accepts that at registration and authentication.
#[test]
fn uv_discouraged_presence_only() {
    let rp = rp();
    let mut client = Client::new(device(AttestationMode::Batch));
    let cas = trusted_cas(client.device.identity(), DEFAULT_AAGUID);
    let mut reg = Registration::new(COSEAlgorithm::ES256);
    reg.policy = UserVerificationPolicy::Discouraged_DO_NOT_USE;
    let cred = register(&rp, &mut client, &reg, Some(&cas), no_tamper).unwrap();
    assert!(!cred.user_verified);

    let (response, result) = authenticate(
        &rp,
        &mut client,
        Allow::Listed(std::slice::from_ref(&cred)),
        UserVerificationPolicy::Discouraged_DO_NOT_USE,
        no_tamper,
    );
    let result = result.unwrap();
    assert!(!result.user_verified());
    let flags = response.response.authenticator_data.as_slice()[32];
    assert_eq!(
        flags & 0x05,
        0x01,
        "expected UP without UV, flags {flags:#04x}"
    );
    // Non-discoverable, unverified: no user handle comes back.
    assert!(response.response.user_handle.is_none());
}

/// A discoverable credential: registration with residentKey required, then
/// username-less authentication (no allowCredentials; the RP finds the user
/// from the returned userHandle).
#[test]
fn discoverable_credential_usernameless() {
    for alg in [COSEAlgorithm::ES256, COSEAlgorithm::EDDSA] {
        let rp = rp();
        let mut client = Client::new(device(AttestationMode::Batch));
        let cas = trusted_cas(client.device.identity(), DEFAULT_AAGUID);
        let mut reg = Registration::new(alg);
        reg.resident_key = true;
        let cred = register(&rp, &mut client, &reg, Some(&cas), no_tamper)
            .unwrap_or_else(|e| panic!("{alg:?}: registration rejected: {e:?}"));
        // The RP's database: USER_ID's credentials.
        let mut database = vec![cred];

        for _ in 0..2 {
            let (response, result) = authenticate(
                &rp,
                &mut client,
                Allow::Discoverable(&database),
                UserVerificationPolicy::Required,
                no_tamper,
            );
            assert_eq!(response.get_user_unique_id(), Some(USER_ID));
            let result = result.unwrap_or_else(|e| panic!("{alg:?}: assertion rejected: {e:?}"));
            assert_eq!(result.cred_id(), &database[0].cred_id);
            assert!(result.counter() > database[0].counter);
            database[0].counter = result.counter();
        }

        let (_, result) = authenticate(
            &rp,
            &mut client,
            Allow::Discoverable(&database),
            UserVerificationPolicy::Required,
            |r| flip_last_byte(&mut r.response.signature),
        );
        assert!(
            result.is_err(),
            "{alg:?}: tampered username-less assertion accepted"
        );
    }
}

/// Batch attestation checked against a CA that did not issue the batch
/// certificate is refused.
#[test]
fn batch_attestation_untrusted_ca_rejected() {
    let rp = rp();
    let mut client = Client::new(device(AttestationMode::Batch));
    let other = identity(99);
    assert_ne!(other.ca_cert_der(), client.device.identity().ca_cert_der());
    let cas = trusted_cas(&other, DEFAULT_AAGUID);
    let reg = Registration::new(COSEAlgorithm::ES256);
    let err = register(&rp, &mut client, &reg, Some(&cas), no_tamper).unwrap_err();
    assert!(
        matches!(err, WebauthnError::AttestationChainNotTrusted(_)),
        "unexpected error: {err:?}"
    );
}

/// The right CA, but trusted for another AAGUID only: refused.
#[test]
fn batch_attestation_untrusted_aaguid_rejected() {
    let rp = rp();
    let mut client = Client::new(device(AttestationMode::Batch));
    let mut aaguid = DEFAULT_AAGUID;
    aaguid[15] ^= 0xff;
    let cas = trusted_cas(client.device.identity(), aaguid);
    let reg = Registration::new(COSEAlgorithm::ES256);
    let err = register(&rp, &mut client, &reg, Some(&cas), no_tamper).unwrap_err();
    assert!(
        matches!(err, WebauthnError::AttestationUntrustedAaguid),
        "unexpected error: {err:?}"
    );
}

/// A tampered attestation signature (packed, batch and self) is refused.
#[test]
fn tampered_attestation_signature_rejected() {
    for mode in [AttestationMode::Batch, AttestationMode::SelfAttestation] {
        for alg in [COSEAlgorithm::ES256, COSEAlgorithm::EDDSA] {
            let rp = rp();
            let mut client = Client::new(device(mode));
            let cas = trusted_cas(client.device.identity(), DEFAULT_AAGUID);
            let cas = (mode == AttestationMode::Batch).then_some(&cas);
            let reg = Registration::new(alg);
            let err = register(&rp, &mut client, &reg, cas, |r| {
                let mut obj = cbor::decode(r.response.attestation_object.as_slice()).unwrap();
                let Value::Map(entries) = &mut obj else {
                    panic!("attestation object not a map")
                };
                let (_, att_stmt) = entries
                    .iter_mut()
                    .find(|(k, _)| k.as_text() == Some("attStmt"))
                    .unwrap();
                let Value::Map(stmt) = att_stmt else {
                    panic!("attStmt not a map")
                };
                let (_, sig) = stmt
                    .iter_mut()
                    .find(|(k, _)| k.as_text() == Some("sig"))
                    .unwrap();
                let Value::Bytes(sig) = sig else {
                    panic!("sig not bytes")
                };
                flip_last_byte(sig);
                r.response.attestation_object = cbor::encode(&obj).into();
            })
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    WebauthnError::AttestationStatementSigInvalid | WebauthnError::OpenSSLError(_)
                ),
                "{mode:?}/{alg:?}: unexpected error: {err:?}"
            );
        }
    }
}
