//! Arbitrary bytes into every request decoder and into two fresh
//! authenticators, over CTAP2 and over CTAP1/U2F.
//!
//! The decoders are those of makeCredential, getAssertion, clientPIN
//! (0x06), credentialManagement (0x0A, also 0x41), largeBlobs (0x0C) and
//! authenticatorConfig (0x0D).
//!
//! Invariants: nothing panics; the CBOR encoder's output for any decodable
//! value is canonical and decodes again; `handle` always answers with a
//! known status byte, an error is that byte alone, and a success body is a
//! canonical CBOR map or, for the commands that answer CTAP2_OK alone, no
//! body (see `check_response`); `handle_ctap1` always answers data ‖ SW1
//! SW2 with a status word U2F names, and an error is the status word alone.

use crate::{authenticator, check_response, fixture};
use authenticator_core::cbor;
use authenticator_core::crypto::sha256;
use authenticator_core::env::TestEnv;
use authenticator_core::store::{Credential, CredentialStore, User};
use authenticator_core::wire::{
    bio, client_pin, config, cred_mgmt, get_assertion, large_blobs, make_credential,
};
use authenticator_core::DeviceConfig;

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
        created_order: 0,
    }
}

/// Runs every check on one input.
pub fn run(data: &[u8]) {
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
    let decoders = |bytes: &[u8]| {
        let _ = make_credential::Request::decode(bytes);
        let _ = get_assertion::Request::decode(bytes);
        let _ = client_pin::Request::decode(bytes);
        let _ = cred_mgmt::Request::decode(bytes);
        let _ = large_blobs::Request::decode(bytes);
        let _ = config::Request::decode(bytes);
        let _ = bio::Request::decode(bytes);
    };
    decoders(data);
    if let Some((_, params)) = data.split_first() {
        decoders(params);
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
    // A third with a fingerprint sensor (authenticatorBioEnrollment) and a
    // PIN, so bio enrollment requests get past the command check.
    let bio_device = DeviceConfig {
        initial_pin: Some("1234".to_owned()),
        bio_enroll: true,
        ..DeviceConfig::default()
    };
    for device in [DeviceConfig::default(), pin_device, bio_device] {
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
        let mut auth = authenticator(device, env);
        let response = auth.handle(data);
        check_response(data, &response);
        // The same bytes as a U2F request APDU (CTAP 2.1 §11.2.9.1.1
        // CTAPHID_MSG), on the same device.
        let response = auth.handle_ctap1(data);
        check_ctap1_response(data, &response);
    }
}

/// A U2F response is data ‖ SW1 SW2 (U2F Raw Message Formats §3.3); the
/// status word is one this device uses, and only 0x9000 carries data.
fn check_ctap1_response(apdu: &[u8], response: &[u8]) {
    const KNOWN: [u16; 7] = [0x9000, 0x6985, 0x6A80, 0x6700, 0x6E00, 0x6D00, 0x6F00];
    let Some((data, sw)) = response.split_last_chunk::<2>() else {
        panic!("U2F response shorter than a status word for {apdu:02x?}")
    };
    let sw = u16::from_be_bytes(*sw);
    assert!(
        KNOWN.contains(&sw),
        "unknown status word {sw:#06x} for {apdu:02x?}"
    );
    if sw != 0x9000 {
        assert!(data.is_empty(), "status word {sw:#06x} with data");
    }
}
