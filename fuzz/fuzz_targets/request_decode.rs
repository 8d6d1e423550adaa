//! Arbitrary bytes into every decoder and into a fresh authenticator.
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
use authenticator_core::wire::{get_assertion, make_credential};
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
        cred_protect: 0,
        cred_blob: None,
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
    if let Some((_, params)) = data.split_first() {
        let _ = make_credential::Request::decode(params);
        let _ = get_assertion::Request::decode(params);
    }

    // A fresh authenticator with two discoverable credentials for RP.
    let f = fixture();
    let mut env = TestEnv::seeded(1);
    env.store
        .save(stored(&[0xA1; 16], b"alice", &f.es256_key), None, 0)
        .expect("store");
    env.store
        .save(stored(&[0xB2; 16], b"bob", &f.eddsa_key), None, 0)
        .expect("store");
    let mut auth = authenticator(DeviceConfig::default(), env);
    let response = auth.handle(data);
    check_response(data, &response);
});
