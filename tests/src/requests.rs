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

/// makeCredential of a discoverable credential (options rk and uv) for
/// `rp_id` and user handle `user_id`, ES256.
pub fn make_discoverable(rp_id: &str, client_data_hash: &[u8], user_id: &[u8]) -> Vec<u8> {
    let mut req = cbor::decode(&make_credential(rp_id, client_data_hash, user_id)[1..])
        .unwrap_or(Value::Null);
    if let Value::Map(m) = &mut req {
        m.push((
            Value::from(7),
            MapBuilder::new().text("rk", true).text("uv", true).build(),
        ));
    }
    [vec![0x01], cbor::encode(&req)].concat()
}

/// getAssertion for `rp_id` without an allowList: the RP's discoverable
/// credentials.
pub fn get_assertion_discoverable(rp_id: &str, client_data_hash: &[u8]) -> Vec<u8> {
    let req = MapBuilder::new()
        .int(1, rp_id)
        .int(2, cbor::bytes(client_data_hash.to_vec()))
        .build();
    [vec![0x02], cbor::encode(&req)].concat()
}

/// The credential ID and signature counter of a successful getAssertion
/// response (status ‖ CBOR); `None` for anything else.
pub fn assertion(response: &[u8]) -> Option<(Vec<u8>, u32)> {
    let (&0, body) = response.split_first()? else {
        return None;
    };
    let mut m = cbor::Fields::decode(body).ok()?;
    let mut descriptor = cbor::Fields::from_value(m.take(1)?).ok()?;
    let id = cbor::as_bytes(descriptor.take_text_key("id")?, 1024).ok()?;
    let auth_data = cbor::as_bytes(m.take(2)?, 4096).ok()?;
    let count = u32::from_be_bytes(auth_data.get(33..37)?.try_into().ok()?);
    Some((id, count))
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
