//! Arbitrary bytes into every request decoder and into two fresh
//! authenticators.
//!
//! The decoders are those of makeCredential, getAssertion and clientPIN
//! (0x06); this build has none for credentialManagement (0x0A),
//! largeBlobs (0x0C) or authenticatorConfig (0x0D), which answer
//! CTAP1_ERR_INVALID_COMMAND.
//!
//! Invariants: nothing panics; the CBOR encoder's output for any decodable
//! value is canonical and decodes again; `handle` always answers with a
//! known status byte, an error is that byte alone, and a success body is a
//! canonical CBOR map (see `check_response`).
#![no_main]

use authenticator_core::cbor;
use authenticator_core::crypto::sha256;
use authenticator_core::env::TestEnv;
use authenticator_core::store::{Credential, CredentialStore, User};
use authenticator_core::wire::{client_pin, get_assertion, make_credential};
use authenticator_core::DeviceConfig;
use authenticator_core_fuzz::{authenticator, check_response, fixture};
use libfuzzer_sys::fuzz_target;

/// RP of the credentials placed in every fresh authenticator's store, so
/// that getAssertion without an allowList can succeed.
const RP: &str = "example.com";

fn stored(
    id: &[u8],
    user: &[u8],
    key: &authenticator_core::crypto::keys::PrivateKey,
    cred_protect: u8,
    cred_blob: Option<Vec<u8>>,
) -> Credential {
    Credential {
        id: id.to_vec(),
        rp_id: RP.to_owned(),
        rp_id_hash: sha256(RP.as_bytes()),
        rp_name: Some("Example".to_owned()),
        user: User {
            id: user.to_vec(),
            name: Some("alice".to_owned()),
            display_name: Some("Alice".to_owned()),
        },
        key: key.clone(),
        discoverable: true,
        cred_protect,
        cred_blob,
        created_ms: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    // The generic CBOR layer.
    if let Ok(value) = cbor::decode(data) {
        let encoded = cbor::encode(&value);
        assert!(
            cbor::is_canonical(&encoded),
            "encode() output is not canonical: {encoded:02x?}"
        );
        let again = cbor::decode(&encoded).expect("encode() output does not decode");
        assert_eq!(
            cbor::encode(&again),
            encoded,
            "encode(decode(encode(v))) != encode(v)"
        );
    }
    let _ = cbor::is_canonical(data);

    // The request decoders, on the whole input and on what follows a
    // command byte.
    let _ = make_credential::Request::decode(data);
    let _ = get_assertion::Request::decode(data);
    let _ = client_pin::Request::decode(data);
    if let Some((_, params)) = data.split_first() {
        let _ = make_credential::Request::decode(params);
        let _ = get_assertion::Request::decode(params);
        let _ = client_pin::Request::decode(params);
    }

    // Two fresh authenticators with two discoverable credentials for RP
    // (bob's with credProtect level 3 and a credBlob): the default one
    // (built-in UV, no PIN), and one with a PIN, no built-in UV, alwaysUv
    // and makeCredUvNotRqd off, where clientPIN gets as far as checking
    // the PIN and every request needs a pinUvAuthParam.
    let pin_device = DeviceConfig {
        initial_pin: Some("1234".to_owned()),
        builtin_uv: false,
        always_uv: true,
        make_cred_uv_not_rqd: false,
        ..DeviceConfig::default()
    };
    for config in [DeviceConfig::default(), pin_device] {
        let f = fixture();
        let mut env = TestEnv::seeded(1);
        env.store
            .save(
                stored(&[0xA1; 16], b"alice", &f.es256_key, 0, None),
                None,
                0,
            )
            .expect("store");
        let blob = Some(b"blob".to_vec());
        env.store
            .save(stored(&[0xB2; 16], b"bob", &f.eddsa_key, 3, blob), None, 0)
            .expect("store");
        let mut auth = authenticator(config, env);
        let response = auth.handle(data);
        check_response(data, &response);
    }
});
