//! CTAP2 requests for the end-to-end tests and benchmarks (command byte ‖
//! CBOR), built with the core's CBOR helpers, and the one field of a
//! response they need.

use authenticator_core::cbor::{self, MapBuilder, Value};

/// makeCredential for `rp_id` and user handle `user_id`, ES256, no options.
pub fn make_credential(rp_id: &str, client_data_hash: &[u8], user_id: &[u8]) -> Vec<u8> {
    let req = MapBuilder::new()
        .int(1, cbor::bytes(client_data_hash.to_vec()))
        .int(2, MapBuilder::new().text("id", rp_id).build())
        .int(
            3,
            MapBuilder::new()
                .text("id", cbor::bytes(user_id.to_vec()))
                .text("name", "u")
                .build(),
        )
        .int(
            4,
            Value::Array(vec![MapBuilder::new()
                .text("alg", -7)
                .text("type", "public-key")
                .build()]),
        )
        .build();
    [vec![0x01], cbor::encode(&req)].concat()
}

/// getAssertion for `rp_id` with `credential_id` as the allowList.
pub fn get_assertion(rp_id: &str, client_data_hash: &[u8], credential_id: &[u8]) -> Vec<u8> {
    let allow = MapBuilder::new()
        .text("id", cbor::bytes(credential_id.to_vec()))
        .text("type", "public-key")
        .build();
    let req = MapBuilder::new()
        .int(1, rp_id)
        .int(2, cbor::bytes(client_data_hash.to_vec()))
        .int(3, Value::Array(vec![allow]))
        .build();
    [vec![0x02], cbor::encode(&req)].concat()
}

/// The credential ID in the attested credential data of a successful
/// makeCredential response (status ‖ CBOR); `None` for anything else.
pub fn credential_id(response: &[u8]) -> Option<Vec<u8>> {
    let (&0, body) = response.split_first()? else {
        return None;
    };
    let mut m = cbor::Fields::decode(body).ok()?;
    let auth_data = cbor::as_bytes(m.take(2)?, 4096).ok()?;
    let len = usize::from(u16::from_be_bytes([
        *auth_data.get(53)?,
        *auth_data.get(54)?,
    ]));
    auth_data.get(55..55 + len).map(<[u8]>::to_vec)
}
