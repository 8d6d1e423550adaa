//! Tests for ClientPIN, pinUvAuthParam in makeCredential/getAssertion,
//! built-in UV retries, alwaysUv, makeCredUvNotRqd and the extensions.
#![allow(clippy::unwrap_used)]

use super::pin::permission;
use super::*;
use crate::auth_data::flags;
use crate::cbor::{self, MapBuilder, Value};
use crate::crypto::pin_protocol::{encapsulate, PinProtocol, SharedSecret};
use crate::crypto::sha256;
use crate::env::{TestEnv, UvPolicy};
use rand_chacha::rand_core::SeedableRng;

const CDH: [u8; 32] = [0x24; 32];

fn identity() -> AttestationIdentity {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    AttestationIdentity::generate(&mut rng, crate::config::DEFAULT_AAGUID, "fidosim", "t").unwrap()
}

fn device_with(config: DeviceConfig) -> Authenticator<TestEnv> {
    Authenticator::new(config, identity(), TestEnv::seeded(11)).unwrap()
}

fn device() -> Authenticator<TestEnv> {
    device_with(DeviceConfig::default())
}

/// A device without built-in UV (so a PIN is the only UV).
fn pin_device() -> Authenticator<TestEnv> {
    device_with(DeviceConfig {
        builtin_uv: false,
        ..DeviceConfig::default()
    })
}

fn call(d: &mut Authenticator<TestEnv>, cmd: u8, body: &Value) -> Result<Value, StatusCode> {
    let out = d.process(cmd, &cbor::encode(body))?;
    if out.is_empty() {
        return Ok(Value::Null);
    }
    Ok(cbor::decode(&out).unwrap())
}

fn get(v: &Value, key: i64) -> Option<Value> {
    match v {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| *k == Value::from(key))
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

fn text_get(v: &Value, key: &str) -> Option<Value> {
    match v {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| *k == Value::from(key))
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

fn bytes_of(v: Option<Value>) -> Vec<u8> {
    match v {
        Some(Value::Bytes(b)) => b,
        other => panic!("not bytes: {other:?}"),
    }
}

struct Platform {
    key_agreement: Value,
    shared: SharedSecret,
}

fn platform(d: &mut Authenticator<TestEnv>, protocol: PinProtocol) -> Platform {
    let resp = call(
        d,
        0x06,
        &MapBuilder::new().int(1, protocol.id()).int(2, 2).build(),
    )
    .unwrap();
    let auth_key = get(&resp, 1).unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(77);
    let (key_agreement, shared) = encapsulate(protocol, &auth_key, &mut rng).unwrap();
    Platform {
        key_agreement,
        shared,
    }
}

fn padded(pin: &str) -> Vec<u8> {
    let mut p = pin.as_bytes().to_vec();
    p.resize(64, 0);
    p
}

fn pin_hash_enc(p: &Platform, pin: &str) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(78);
    p.shared
        .encrypt(&mut rng, &sha256(pin.as_bytes())[..16])
        .unwrap()
}

fn set_pin(
    d: &mut Authenticator<TestEnv>,
    protocol: PinProtocol,
    pin: &str,
) -> Result<Value, StatusCode> {
    let p = platform(d, protocol);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(79);
    let enc = p.shared.encrypt(&mut rng, &padded(pin)).unwrap();
    let auth = p.shared.authenticate(&enc);
    call(
        d,
        0x06,
        &MapBuilder::new()
            .int(1, protocol.id())
            .int(2, 3)
            .int(3, p.key_agreement.clone())
            .int(4, cbor::bytes(auth))
            .int(5, cbor::bytes(enc))
            .build(),
    )
}

fn token_with(
    d: &mut Authenticator<TestEnv>,
    protocol: PinProtocol,
    pin: &str,
    permissions: u64,
    rp_id: Option<&str>,
) -> Result<Vec<u8>, StatusCode> {
    let p = platform(d, protocol);
    let mut m = MapBuilder::new()
        .int(1, protocol.id())
        .int(2, 9)
        .int(3, p.key_agreement.clone())
        .int(6, cbor::bytes(pin_hash_enc(&p, pin)))
        .int(9, permissions);
    if let Some(rp) = rp_id {
        m = m.int(0x0A, rp);
    }
    let resp = call(d, 0x06, &m.build())?;
    let enc = bytes_of(get(&resp, 2));
    Ok(p.shared.decrypt(&enc).unwrap().to_vec())
}

fn retries(d: &mut Authenticator<TestEnv>) -> (u64, bool) {
    let r = call(d, 0x06, &MapBuilder::new().int(2, 1).build()).unwrap();
    let n = match get(&r, 3) {
        Some(Value::Integer(i)) => u64::try_from(i).unwrap(),
        other => panic!("{other:?}"),
    };
    (n, get(&r, 4) == Some(Value::Bool(true)))
}

fn mc(
    rp: &str,
    rk: bool,
    uv: Option<bool>,
    auth: Option<(PinProtocol, &[u8])>,
    ext: Option<Value>,
) -> Value {
    let mut opts = MapBuilder::new();
    if rk {
        opts = opts.text("rk", true);
    }
    if let Some(uv) = uv {
        opts = opts.text("uv", uv);
    }
    let mut m = MapBuilder::new()
        .int(1, cbor::bytes(CDH.to_vec()))
        .int(2, MapBuilder::new().text("id", rp).build())
        .int(
            3,
            MapBuilder::new()
                .text("id", cbor::bytes(vec![7; 8]))
                .text("name", "bob")
                .build(),
        )
        .int(
            4,
            Value::Array(vec![MapBuilder::new()
                .text("alg", -7)
                .text("type", "public-key")
                .build()]),
        )
        .opt(6, ext)
        .int(7, opts.build());
    if let Some((protocol, token)) = auth {
        m = m
            .int(8, cbor::bytes(protocol.authenticate(token, &CDH)))
            .int(9, protocol.id());
    }
    m.build()
}

fn ga(
    rp: &str,
    allow: Option<&[u8]>,
    uv: Option<bool>,
    auth: Option<(PinProtocol, &[u8])>,
    ext: Option<Value>,
) -> Value {
    let mut opts = MapBuilder::new();
    if let Some(uv) = uv {
        opts = opts.text("uv", uv);
    }
    let mut m = MapBuilder::new()
        .int(1, rp)
        .int(2, cbor::bytes(CDH.to_vec()))
        .opt(
            3,
            allow.map(|id| {
                Value::Array(vec![MapBuilder::new()
                    .text("id", cbor::bytes(id.to_vec()))
                    .text("type", "public-key")
                    .build()])
            }),
        )
        .opt(4, ext)
        .int(5, opts.build());
    if let Some((protocol, token)) = auth {
        m = m
            .int(6, cbor::bytes(protocol.authenticate(token, &CDH)))
            .int(7, protocol.id());
    }
    m.build()
}

/// The flags byte and the credential ID of a makeCredential response.
fn mc_result(resp: &Value) -> (u8, Vec<u8>) {
    let ad = bytes_of(get(resp, 2));
    let len = usize::from(u16::from_be_bytes([ad[53], ad[54]]));
    (ad[32], ad[55..55 + len].to_vec())
}

fn auth_data_extensions(ad: &[u8], attested: bool) -> Option<Value> {
    if ad[32] & flags::ED == 0 {
        return None;
    }
    let mut rest = &ad[37..];
    if attested {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        rest = &rest[18 + len..];
        // Skip the COSE key: decode it and re-encode to learn its length.
        let key: Value = ciborium::de::from_reader(rest).unwrap();
        let n = cbor::encode(&key).len();
        rest = &rest[n..];
    }
    Some(cbor::decode(rest).unwrap())
}

#[test]
fn get_info_reports_2_1_features() {
    let d = device();
    let info = cbor::decode(&d.get_info().unwrap().encode()).unwrap();
    let versions = get(&info, 1).unwrap();
    assert_eq!(
        versions,
        Value::Array(vec!["U2F_V2".into(), "FIDO_2_0".into(), "FIDO_2_1".into()])
    );
    let opts = get(&info, 4).unwrap();
    assert_eq!(text_get(&opts, "clientPin"), Some(Value::Bool(false)));
    assert_eq!(text_get(&opts, "uv"), Some(Value::Bool(true)));
    assert_eq!(text_get(&opts, "makeCredUvNotRqd"), Some(Value::Bool(true)));
    assert_eq!(get(&info, 6), Some(Value::Array(vec![2.into(), 1.into()])));
    assert_eq!(get(&info, 0x0D), Some(Value::from(4)));
    assert_eq!(get(&info, 0x12), Some(Value::from(2)));
    let mut d = pin_device();
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    let info = cbor::decode(&d.get_info().unwrap().encode()).unwrap();
    let opts = get(&info, 4).unwrap();
    assert_eq!(text_get(&opts, "clientPin"), Some(Value::Bool(true)));
    assert_eq!(text_get(&opts, "uv"), None);
    assert_eq!(get(&info, 0x12), None);
}

#[test]
fn set_pin_then_token_then_make_credential_both_protocols() {
    for protocol in [PinProtocol::V1, PinProtocol::V2] {
        let mut d = pin_device();
        set_pin(&mut d, protocol, "1234").unwrap();
        assert_eq!(
            set_pin(&mut d, protocol, "5678"),
            Err(StatusCode::PinAuthInvalid)
        );
        let token = token_with(
            &mut d,
            protocol,
            "1234",
            permission::MC | permission::GA,
            Some("a.example"),
        )
        .unwrap();
        assert_eq!(token.len(), 32);
        let resp = call(
            &mut d,
            0x01,
            &mc("a.example", true, None, Some((protocol, &token)), None),
        )
        .unwrap();
        let (f, id) = mc_result(&resp);
        assert_eq!(f & (flags::UP | flags::UV), flags::UP | flags::UV);
        // The token was bound to a.example; b.example is refused.
        assert_eq!(
            call(
                &mut d,
                0x01,
                &mc("b.example", false, None, Some((protocol, &token)), None)
            ),
            Err(StatusCode::PinAuthInvalid)
        );
        // mc consumed the token's flags and all permissions but lbw.
        assert_eq!(
            call(
                &mut d,
                0x02,
                &ga("a.example", Some(&id), None, Some((protocol, &token)), None)
            ),
            Err(StatusCode::PinAuthInvalid)
        );
        let token = token_with(&mut d, protocol, "1234", permission::GA, None).unwrap();
        let resp = call(
            &mut d,
            0x02,
            &ga("a.example", Some(&id), None, Some((protocol, &token)), None),
        )
        .unwrap();
        assert_eq!(bytes_of(get(&resp, 2))[32] & flags::UV, flags::UV);
        // A tampered pinUvAuthParam fails.
        let mut bad = token.clone();
        bad[0] ^= 1;
        assert_eq!(
            call(
                &mut d,
                0x02,
                &ga("a.example", Some(&id), None, Some((protocol, &bad)), None)
            ),
            Err(StatusCode::PinAuthInvalid)
        );
    }
}

#[test]
fn pin_protected_device_needs_a_token() {
    let mut d = pin_device();
    // Unprotected: credentials without UV are fine.
    call(&mut d, 0x01, &mc("a.example", true, None, None, None)).unwrap();
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    // makeCredUvNotRqd: non-discoverable without UV is allowed,
    // discoverable is PUAT_REQUIRED.
    call(&mut d, 0x01, &mc("a.example", false, None, None, None)).unwrap();
    assert_eq!(
        call(&mut d, 0x01, &mc("a.example", true, None, None, None)),
        Err(StatusCode::PuatRequired)
    );
    // "uv" without a built-in method is INVALID_OPTION.
    assert_eq!(
        call(
            &mut d,
            0x01,
            &mc("a.example", false, Some(true), None, None)
        ),
        Err(StatusCode::InvalidOption)
    );
    // Without makeCredUvNotRqd every credential needs UV.
    let mut d = device_with(DeviceConfig {
        builtin_uv: false,
        make_cred_uv_not_rqd: false,
        initial_pin: Some("1234".into()),
        ..DeviceConfig::default()
    });
    assert_eq!(
        call(&mut d, 0x01, &mc("a.example", false, None, None, None)),
        Err(StatusCode::PuatRequired)
    );
    // The initial PIN works.
    token_with(&mut d, PinProtocol::V1, "1234", permission::MC, None).unwrap();
}

#[test]
fn wrong_pins_count_down_block_and_need_a_power_cycle() {
    let mut d = pin_device();
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    assert_eq!(retries(&mut d), (8, false));
    for _ in 0..2 {
        assert_eq!(
            token_with(&mut d, PinProtocol::V2, "0000", permission::GA, None),
            Err(StatusCode::PinInvalid)
        );
    }
    assert_eq!(
        token_with(&mut d, PinProtocol::V2, "0000", permission::GA, None),
        Err(StatusCode::PinAuthBlocked)
    );
    assert_eq!(retries(&mut d), (5, true));
    // Even the right PIN is refused until a power cycle.
    assert_eq!(
        token_with(&mut d, PinProtocol::V2, "1234", permission::GA, None),
        Err(StatusCode::PinAuthBlocked)
    );
    d.power_cycle();
    token_with(&mut d, PinProtocol::V2, "1234", permission::GA, None).unwrap();
    assert_eq!(retries(&mut d), (8, false));
    // Eight wrong PINs in a row (with power cycles) block the PIN for good.
    let mut last = Ok(vec![]);
    for i in 0..8 {
        if i % 3 == 0 {
            d.power_cycle();
        }
        last = token_with(&mut d, PinProtocol::V1, "9999", permission::GA, None);
    }
    assert_eq!(last, Err(StatusCode::PinBlocked));
    d.power_cycle();
    assert_eq!(
        token_with(&mut d, PinProtocol::V1, "1234", permission::GA, None),
        Err(StatusCode::PinBlocked)
    );
    assert_eq!(retries(&mut d).0, 0);
}

#[test]
fn change_pin_and_policy() {
    let mut d = pin_device();
    assert_eq!(
        set_pin(&mut d, PinProtocol::V2, "123"),
        Err(StatusCode::PinPolicyViolation)
    );
    assert_eq!(
        set_pin(&mut d, PinProtocol::V2, &"x".repeat(64)),
        Err(StatusCode::PinPolicyViolation)
    );
    // Four code points of multi-byte UTF-8 are a valid PIN.
    set_pin(&mut d, PinProtocol::V2, "ääää").unwrap();
    let token = token_with(&mut d, PinProtocol::V2, "ääää", permission::MC, None).unwrap();
    let p = platform(&mut d, PinProtocol::V1);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let new_enc = p.shared.encrypt(&mut rng, &padded("56789")).unwrap();
    let old = pin_hash_enc(&p, "ääää");
    let mut msg = new_enc.clone();
    msg.extend_from_slice(&old);
    let auth = p.shared.authenticate(&msg);
    call(
        &mut d,
        0x06,
        &MapBuilder::new()
            .int(1, 1)
            .int(2, 4)
            .int(3, p.key_agreement.clone())
            .int(4, cbor::bytes(auth))
            .int(5, cbor::bytes(new_enc))
            .int(6, cbor::bytes(old))
            .build(),
    )
    .unwrap();
    // The old token is gone; the new PIN works, the old does not.
    assert_eq!(
        call(
            &mut d,
            0x01,
            &mc(
                "a.example",
                false,
                None,
                Some((PinProtocol::V2, &token)),
                None
            )
        ),
        Err(StatusCode::PinAuthInvalid)
    );
    token_with(&mut d, PinProtocol::V2, "56789", permission::MC, None).unwrap();
    assert_eq!(
        token_with(&mut d, PinProtocol::V2, "ääää", permission::MC, None),
        Err(StatusCode::PinInvalid)
    );
}

#[test]
fn client_pin_parameter_errors() {
    let mut d = pin_device();
    // Unknown subcommand, unknown protocol, missing parameters.
    assert_eq!(
        call(
            &mut d,
            0x06,
            &MapBuilder::new().int(1, 2).int(2, 0x42).build()
        ),
        Err(StatusCode::InvalidSubcommand)
    );
    assert_eq!(
        call(&mut d, 0x06, &MapBuilder::new().int(1, 3).int(2, 2).build()),
        Err(StatusCode::InvalidParameter)
    );
    assert_eq!(
        call(&mut d, 0x06, &MapBuilder::new().int(2, 2).build()),
        Err(StatusCode::MissingParameter)
    );
    assert_eq!(
        call(&mut d, 0x06, &MapBuilder::new().int(1, 2).int(2, 3).build()),
        Err(StatusCode::MissingParameter)
    );
    // Tokens need a PIN; permissions must be non-zero and granted.
    assert_eq!(
        token_with(&mut d, PinProtocol::V2, "1234", permission::MC, None),
        Err(StatusCode::PinNotSet)
    );
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    assert_eq!(
        token_with(&mut d, PinProtocol::V2, "1234", 0, None),
        Err(StatusCode::InvalidParameter)
    );
    assert_eq!(
        token_with(&mut d, PinProtocol::V2, "1234", permission::BE, None),
        Err(StatusCode::UnauthorizedPermission)
    );
    // A bad platform key is INVALID_PARAMETER.
    let bad_key = MapBuilder::new().int(1, 2).int(3, -25).int(-1, 1).build();
    assert_eq!(
        call(
            &mut d,
            0x06,
            &MapBuilder::new()
                .int(1, 2)
                .int(2, 9)
                .int(3, bad_key)
                .int(6, cbor::bytes(vec![0; 32]))
                .int(9, 1)
                .build()
        ),
        Err(StatusCode::InvalidParameter)
    );
    // Built-in UV subcommands on a device without it.
    assert_eq!(
        call(&mut d, 0x06, &MapBuilder::new().int(2, 7).build()),
        Err(StatusCode::NotAllowed)
    );
}

#[test]
fn token_expires_and_permissions_are_enforced() {
    let mut d = pin_device();
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    let token = token_with(&mut d, PinProtocol::V2, "1234", permission::GA, None).unwrap();
    // No mc permission.
    assert_eq!(
        call(
            &mut d,
            0x01,
            &mc(
                "a.example",
                false,
                None,
                Some((PinProtocol::V2, &token)),
                None
            )
        ),
        Err(StatusCode::PinAuthInvalid)
    );
    let token = token_with(&mut d, PinProtocol::V2, "1234", permission::MC, None).unwrap();
    d.env_mut().now_ms += crate::limits::TOKEN_INITIAL_USAGE_MS + 1;
    assert_eq!(
        call(
            &mut d,
            0x01,
            &mc(
                "a.example",
                false,
                None,
                Some((PinProtocol::V2, &token)),
                None
            )
        ),
        Err(StatusCode::PinAuthInvalid)
    );
    // A token from protocol 2 does not verify under protocol 1.
    let token = token_with(&mut d, PinProtocol::V2, "1234", permission::MC, None).unwrap();
    assert_eq!(
        call(
            &mut d,
            0x01,
            &mc(
                "a.example",
                false,
                None,
                Some((PinProtocol::V1, &token)),
                None
            )
        ),
        Err(StatusCode::PinAuthInvalid)
    );
    // getPinToken grants mc and ga and refuses permissions.
    let p = platform(&mut d, PinProtocol::V1);
    let resp = call(
        &mut d,
        0x06,
        &MapBuilder::new()
            .int(1, 1)
            .int(2, 5)
            .int(3, p.key_agreement.clone())
            .int(6, cbor::bytes(pin_hash_enc(&p, "1234")))
            .build(),
    )
    .unwrap();
    let token = p.shared.decrypt(&bytes_of(get(&resp, 2))).unwrap().to_vec();
    call(
        &mut d,
        0x01,
        &mc(
            "a.example",
            false,
            None,
            Some((PinProtocol::V1, &token)),
            None,
        ),
    )
    .unwrap();
}

#[test]
fn zero_length_pin_uv_auth_param_probe() {
    let mut d = pin_device();
    let mut req = mc("a.example", false, None, None, None);
    if let Value::Map(m) = &mut req {
        m.push((Value::from(8), cbor::bytes(vec![])));
        m.push((Value::from(9), Value::from(2)));
    }
    assert_eq!(call(&mut d, 0x01, &req), Err(StatusCode::PinNotSet));
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    assert_eq!(call(&mut d, 0x01, &req), Err(StatusCode::PinInvalid));
    d.env_mut().presence = crate::env::PresencePolicy::Deny;
    assert_eq!(call(&mut d, 0x01, &req), Err(StatusCode::OperationDenied));
}

#[test]
fn builtin_uv_token_and_retries() {
    let mut d = device();
    let p = platform(&mut d, PinProtocol::V2);
    let uv_token = |d: &mut Authenticator<TestEnv>, p: &Platform| {
        call(
            d,
            0x06,
            &MapBuilder::new()
                .int(1, 2)
                .int(2, 6)
                .int(3, p.key_agreement.clone())
                .int(9, permission::MC | permission::GA)
                .build(),
        )
        .map(|r| p.shared.decrypt(&bytes_of(get(&r, 2))).unwrap().to_vec())
    };
    let token = uv_token(&mut d, &p).unwrap();
    // A UV token carries presence: no second touch for mc.
    let before = d.env().presence_log.len();
    let resp = call(
        &mut d,
        0x01,
        &mc(
            "a.example",
            true,
            None,
            Some((PinProtocol::V2, &token)),
            None,
        ),
    )
    .unwrap();
    assert_eq!(d.env().presence_log.len(), before);
    assert_eq!(
        mc_result(&resp).0 & (flags::UP | flags::UV),
        flags::UP | flags::UV
    );
    // Failed matches count down to UV_BLOCKED.
    d.env_mut().uv = UvPolicy::Fail;
    for left in (1..crate::limits::DEFAULT_UV_RETRIES).rev() {
        assert_eq!(uv_token(&mut d, &p), Err(StatusCode::UvInvalid));
        let r = call(&mut d, 0x06, &MapBuilder::new().int(2, 7).build()).unwrap();
        assert_eq!(get(&r, 5), Some(Value::from(left)));
    }
    assert_eq!(uv_token(&mut d, &p), Err(StatusCode::UvBlocked));
    assert_eq!(uv_token(&mut d, &p), Err(StatusCode::UvBlocked));
    // With uvRetries at 0 and no PIN, "uv" in mc is PIN_BLOCKED (§6.1.2 step 11.2).
    d.env_mut().uv = UvPolicy::Succeed;
    assert_eq!(
        call(
            &mut d,
            0x01,
            &mc("a.example", false, Some(true), None, None)
        ),
        Err(StatusCode::PinBlocked)
    );
}

#[test]
fn builtin_uv_device_rules_without_pin() {
    let mut d = device();
    // Discoverable needs UV; non-discoverable does not (makeCredUvNotRqd).
    assert_eq!(
        call(&mut d, 0x01, &mc("a.example", true, None, None, None)),
        Err(StatusCode::OperationDenied)
    );
    call(&mut d, 0x01, &mc("a.example", false, None, None, None)).unwrap();
    let resp = call(&mut d, 0x01, &mc("a.example", true, Some(true), None, None)).unwrap();
    assert_eq!(mc_result(&resp).0 & flags::UV, flags::UV);
    // A failed built-in UV in mc is OPERATION_DENIED and spends a retry.
    d.env_mut().uv = UvPolicy::Fail;
    assert_eq!(
        call(
            &mut d,
            0x01,
            &mc("a.example", false, Some(true), None, None)
        ),
        Err(StatusCode::OperationDenied)
    );
    assert_eq!(
        d.device_state().unwrap().uv_retries,
        crate::limits::DEFAULT_UV_RETRIES - 1
    );
    // A pinUvAuthParam on a device with neither PIN nor a token.
    assert_eq!(
        call(
            &mut d,
            0x02,
            &ga(
                "a.example",
                None,
                None,
                Some((PinProtocol::V2, &[0; 32])),
                None
            )
        ),
        Err(StatusCode::PinAuthInvalid)
    );
}

#[test]
fn always_uv_makes_every_request_verified() {
    let mut d = device_with(DeviceConfig {
        always_uv: true,
        ..DeviceConfig::default()
    });
    let info = cbor::decode(&d.get_info().unwrap().encode()).unwrap();
    assert_eq!(
        text_get(&get(&info, 4).unwrap(), "alwaysUv"),
        Some(Value::Bool(true))
    );
    // Built-in UV is used even when the platform did not ask for it.
    let resp = call(&mut d, 0x01, &mc("a.example", false, None, None, None)).unwrap();
    let (f, id) = mc_result(&resp);
    assert_eq!(f & flags::UV, flags::UV);
    let resp = call(&mut d, 0x02, &ga("a.example", Some(&id), None, None, None)).unwrap();
    assert_eq!(bytes_of(get(&resp, 2))[32] & flags::UV, flags::UV);
    // Without a built-in method and without a PIN, nothing is allowed.
    let mut d = device_with(DeviceConfig {
        always_uv: true,
        builtin_uv: false,
        ..DeviceConfig::default()
    });
    assert_eq!(
        call(&mut d, 0x01, &mc("a.example", false, None, None, None)),
        Err(StatusCode::OperationDenied)
    );
}

#[test]
fn cred_protect_levels_are_enforced() {
    let mut d = device();
    let ext = |level: u64| Some(MapBuilder::new().text("credProtect", level).build());
    let mut ids = Vec::new();
    for level in 1..=3u64 {
        let resp = call(
            &mut d,
            0x01,
            &mc(
                &format!("rp{level}.example"),
                true,
                Some(true),
                None,
                ext(level),
            ),
        )
        .unwrap();
        let ad = bytes_of(get(&resp, 2));
        let out = auth_data_extensions(&ad, true).unwrap();
        assert_eq!(text_get(&out, "credProtect"), Some(Value::from(level)));
        ids.push(mc_result(&resp).1);
    }
    // Without UV: level 1 is discoverable; level 2 only with its ID; level 3 never.
    assert!(call(&mut d, 0x02, &ga("rp1.example", None, None, None, None)).is_ok());
    assert_eq!(
        call(&mut d, 0x02, &ga("rp2.example", None, None, None, None)),
        Err(StatusCode::NoCredentials)
    );
    assert!(call(
        &mut d,
        0x02,
        &ga("rp2.example", Some(&ids[1]), None, None, None)
    )
    .is_ok());
    assert_eq!(
        call(
            &mut d,
            0x02,
            &ga("rp3.example", Some(&ids[2]), None, None, None)
        ),
        Err(StatusCode::NoCredentials)
    );
    // With UV all are there.
    assert!(call(
        &mut d,
        0x02,
        &ga("rp3.example", None, Some(true), None, None)
    )
    .is_ok());
    // A non-discoverable credential keeps its level in the sealed ID.
    let resp = call(&mut d, 0x01, &mc("nd.example", false, None, None, ext(3))).unwrap();
    let id = mc_result(&resp).1;
    assert_eq!(
        call(&mut d, 0x02, &ga("nd.example", Some(&id), None, None, None)),
        Err(StatusCode::NoCredentials)
    );
    assert!(call(
        &mut d,
        0x02,
        &ga("nd.example", Some(&id), Some(true), None, None)
    )
    .is_ok());
}

#[test]
fn hmac_secret_under_both_protocols() {
    for protocol in [PinProtocol::V1, PinProtocol::V2] {
        let mut d = device();
        let ext = Some(MapBuilder::new().text("hmac-secret", true).build());
        let resp = call(&mut d, 0x01, &mc("a.example", false, None, None, ext)).unwrap();
        let ad = bytes_of(get(&resp, 2));
        assert_eq!(
            text_get(&auth_data_extensions(&ad, true).unwrap(), "hmac-secret"),
            Some(Value::Bool(true))
        );
        let id = mc_result(&resp).1;
        let eval = |d: &mut Authenticator<TestEnv>, salts: &[u8], uv: Option<bool>| {
            let p = platform(d, protocol);
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
            let salt_enc = p.shared.encrypt(&mut rng, salts).unwrap();
            let mut input = MapBuilder::new()
                .int(1, p.key_agreement.clone())
                .int(2, cbor::bytes(salt_enc.clone()))
                .int(3, cbor::bytes(p.shared.authenticate(&salt_enc)));
            if protocol == PinProtocol::V2 {
                input = input.int(4, 2);
            }
            let ext = MapBuilder::new().text("hmac-secret", input.build()).build();
            let resp = call(d, 0x02, &ga("a.example", Some(&id), uv, None, Some(ext)))?;
            let ad = bytes_of(get(&resp, 2));
            let out = bytes_of(text_get(
                &auth_data_extensions(&ad, false).unwrap(),
                "hmac-secret",
            ));
            Ok::<_, StatusCode>(p.shared.decrypt(&out).unwrap().to_vec())
        };
        let one = eval(&mut d, &[1; 32], None).unwrap();
        assert_eq!(one.len(), 32);
        assert_eq!(
            eval(&mut d, &[1; 32], None).unwrap(),
            one,
            "deterministic per salt"
        );
        let two = eval(&mut d, &[[1u8; 32], [2u8; 32]].concat(), None).unwrap();
        assert_eq!(&two[..32], &one[..]);
        assert_ne!(&two[32..], &one[..]);
        // With UV a different CredRandom is used.
        assert_ne!(eval(&mut d, &[1; 32], Some(true)).unwrap(), one);
        assert_eq!(eval(&mut d, &[1; 16], None), Err(StatusCode::InvalidLength));
    }
}

#[test]
fn failed_hmac_secret_mc_commits_nothing() {
    // CTAP 2.1 §6.1.2: extensions (step 15) are processed before the
    // credential is stored (step 17); a request that fails in them must not
    // replace the user's existing discoverable credential.
    for protocol in [PinProtocol::V1, PinProtocol::V2] {
        let mut d = device();
        let first =
            mc_result(&call(&mut d, 0x01, &mc("a.example", true, Some(true), None, None)).unwrap())
                .1;
        let p = platform(&mut d, protocol);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let salt_enc = p.shared.encrypt(&mut rng, &[9; 16]).unwrap();
        let mut input = MapBuilder::new()
            .int(1, p.key_agreement.clone())
            .int(2, cbor::bytes(salt_enc.clone()))
            .int(3, cbor::bytes(p.shared.authenticate(&salt_enc)));
        if protocol == PinProtocol::V2 {
            input = input.int(4, 2);
        }
        let ext = MapBuilder::new()
            .text("hmac-secret", true)
            .text("hmac-secret-mc", input.build())
            .build();
        assert_eq!(
            call(
                &mut d,
                0x01,
                &mc("a.example", true, Some(true), None, Some(ext))
            ),
            Err(StatusCode::InvalidLength),
            "a 16-byte salt is refused"
        );
        let resp = call(&mut d, 0x02, &ga("a.example", None, None, None, None)).unwrap();
        assert_eq!(
            get(&resp, 5),
            None,
            "one credential, no numberOfCredentials"
        );
        assert_eq!(
            text_get(&get(&resp, 1).unwrap(), "id"),
            Some(cbor::bytes(first)),
            "the first credential is still the user's"
        );
    }
}

#[test]
fn cred_blob_and_large_blob_key() {
    let mut d = device();
    let ext = Some(
        MapBuilder::new()
            .text("credBlob", cbor::bytes(b"hello".to_vec()))
            .text("largeBlobKey", true)
            .build(),
    );
    let resp = call(&mut d, 0x01, &mc("a.example", true, Some(true), None, ext)).unwrap();
    let key = bytes_of(get(&resp, 5));
    assert_eq!(key.len(), 32);
    let ad = bytes_of(get(&resp, 2));
    assert_eq!(
        text_get(&auth_data_extensions(&ad, true).unwrap(), "credBlob"),
        Some(Value::Bool(true))
    );
    let ext = Some(
        MapBuilder::new()
            .text("credBlob", true)
            .text("largeBlobKey", true)
            .build(),
    );
    let resp = call(&mut d, 0x02, &ga("a.example", None, Some(true), None, ext)).unwrap();
    assert_eq!(bytes_of(get(&resp, 7)), key);
    let ad = bytes_of(get(&resp, 2));
    assert_eq!(
        text_get(&auth_data_extensions(&ad, false).unwrap(), "credBlob"),
        Some(cbor::bytes(b"hello".to_vec()))
    );
    // largeBlobKey needs a discoverable credential; too long a credBlob is
    // not stored.
    let ext = Some(MapBuilder::new().text("largeBlobKey", true).build());
    assert_eq!(
        call(&mut d, 0x01, &mc("a.example", false, None, None, ext)),
        Err(StatusCode::InvalidOption)
    );
    let ext = Some(
        MapBuilder::new()
            .text("credBlob", cbor::bytes(vec![0; 33]))
            .build(),
    );
    let resp = call(&mut d, 0x01, &mc("b.example", true, Some(true), None, ext)).unwrap();
    let ad = bytes_of(get(&resp, 2));
    assert_eq!(
        text_get(&auth_data_extensions(&ad, true).unwrap(), "credBlob"),
        Some(Value::Bool(false))
    );
}

#[test]
fn reset_clears_the_pin() {
    let mut d = pin_device();
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    d.process(0x07, &[]).unwrap();
    assert_eq!(d.device_state().unwrap().pin_hash, None);
    set_pin(&mut d, PinProtocol::V2, "4321").unwrap();
}

// ------------------------------------------------- credential management

fn cm(
    d: &mut Authenticator<TestEnv>,
    token: Option<(&[u8], PinProtocol)>,
    sub: u8,
    params: Option<Value>,
) -> Result<Value, StatusCode> {
    let mut m = MapBuilder::new().int(1, u64::from(sub));
    let mut message = vec![sub];
    if let Some(p) = &params {
        message.extend(cbor::encode(p));
        m = m.int(2, p.clone());
    }
    if let Some((token, protocol)) = token {
        m = m
            .int(3, protocol.id())
            .int(4, cbor::bytes(protocol.authenticate(token, &message)));
    }
    call(d, 0x0A, &m.build())
}

fn rk_credential(
    d: &mut Authenticator<TestEnv>,
    rp: &str,
    user: u8,
    protect: Option<u64>,
) -> Vec<u8> {
    let mut req = mc(
        rp,
        true,
        None,
        None,
        protect.map(|l| MapBuilder::new().text("credProtect", l).build()),
    );
    if let Value::Map(m) = &mut req {
        for (k, v) in m.iter_mut() {
            if *k == Value::from(3) {
                *v = MapBuilder::new()
                    .text("id", cbor::bytes(vec![user; 4]))
                    .text("name", format!("user{user}"))
                    .build();
            }
        }
    }
    d.env_mut().now_ms += 1;
    mc_result(&call(d, 0x01, &req).unwrap()).1
}

fn descriptor_of(id: &[u8]) -> Value {
    MapBuilder::new()
        .text("id", cbor::bytes(id.to_vec()))
        .text("type", "public-key")
        .build()
}

#[test]
fn credential_management_end_to_end() {
    for protocol in [PinProtocol::V1, PinProtocol::V2] {
        let mut d = pin_device();
        let a1 = rk_credential(&mut d, "a.example", 1, None);
        let _a2 = rk_credential(&mut d, "a.example", 2, Some(3));
        let _b1 = rk_credential(&mut d, "b.example", 1, None);
        call(&mut d, 0x01, &mc("c.example", false, None, None, None)).unwrap(); // not discoverable
        set_pin(&mut d, protocol, "1234").unwrap();
        let t = token_with(&mut d, protocol, "1234", permission::CM, None).unwrap();
        let auth = Some((&t[..], protocol));

        let meta = cm(&mut d, auth, 1, None).unwrap();
        assert_eq!(get(&meta, 1), Some(Value::from(3)));
        let rp = cm(&mut d, auth, 2, None).unwrap();
        assert_eq!(get(&rp, 5), Some(Value::from(2)));
        assert_eq!(
            text_get(&get(&rp, 3).unwrap(), "id"),
            Some(Value::from("a.example"))
        );
        let rp2 = cm(&mut d, None, 3, None).unwrap();
        assert_eq!(
            text_get(&get(&rp2, 3).unwrap(), "id"),
            Some(Value::from("b.example"))
        );
        assert_eq!(
            get(&rp2, 4),
            Some(cbor::bytes(sha256(b"b.example").to_vec()))
        );
        assert_eq!(cm(&mut d, None, 3, None), Err(StatusCode::NotAllowed));

        let rp_params = MapBuilder::new()
            .int(1, cbor::bytes(sha256(b"a.example").to_vec()))
            .build();
        let first = cm(&mut d, auth, 4, Some(rp_params.clone())).unwrap();
        assert_eq!(get(&first, 9), Some(Value::from(2)));
        assert_eq!(
            get(&first, 0x0A),
            Some(Value::from(1)),
            "a credential made without credProtect reports level 1"
        );
        let second = cm(&mut d, None, 5, None).unwrap();
        assert_eq!(
            get(&second, 0x0A),
            Some(Value::from(3)),
            "credProtect reported"
        );
        assert_eq!(
            bytes_of(get(&second, 0x0B)).len(),
            32,
            "largeBlobKey reported"
        );
        assert_eq!(cm(&mut d, None, 5, None), Err(StatusCode::NotAllowed));
        // The public key matches the one made at registration.
        assert!(get(&first, 8).is_some());

        // Update alice's name; a different user handle is refused.
        let update = |uid: u8, name: &str| {
            MapBuilder::new()
                .int(2, descriptor_of(&a1))
                .int(
                    3,
                    MapBuilder::new()
                        .text("id", cbor::bytes(vec![uid; 4]))
                        .text("name", name)
                        .build(),
                )
                .build()
        };
        assert_eq!(
            cm(&mut d, auth, 7, Some(update(9, "x"))),
            Err(StatusCode::InvalidParameter)
        );
        cm(&mut d, auth, 7, Some(update(1, "renamed"))).unwrap();
        assert_eq!(
            d.env()
                .store
                .get(&a1)
                .unwrap()
                .unwrap()
                .user
                .name
                .as_deref(),
            Some("renamed")
        );
        // §6.8.6: an empty name removes it.
        cm(&mut d, auth, 7, Some(update(1, ""))).unwrap();
        assert_eq!(d.env().store.get(&a1).unwrap().unwrap().user.name, None);
        // Delete it; a second delete finds nothing.
        let del = MapBuilder::new().int(2, descriptor_of(&a1)).build();
        cm(&mut d, auth, 6, Some(del.clone())).unwrap();
        assert_eq!(
            cm(&mut d, auth, 6, Some(del)),
            Err(StatusCode::NoCredentials)
        );
        assert_eq!(
            get(&cm(&mut d, auth, 1, None).unwrap(), 1),
            Some(Value::from(2))
        );
        let t = token_with(&mut d, protocol, "1234", permission::GA, None).unwrap();
        assert_eq!(
            call(
                &mut d,
                0x02,
                &ga("a.example", Some(&a1), None, Some((protocol, &t)), None)
            ),
            Err(StatusCode::NoCredentials)
        );
    }
}

#[test]
fn credential_management_auth_rules() {
    let mut d = pin_device();
    rk_credential(&mut d, "a.example", 1, None);
    rk_credential(&mut d, "b.example", 1, None);
    set_pin(&mut d, PinProtocol::V2, "1234").unwrap();
    // No pinUvAuthParam; a token without cm; a tampered param.
    assert_eq!(cm(&mut d, None, 1, None), Err(StatusCode::PuatRequired));
    let ga_token = token_with(&mut d, PinProtocol::V2, "1234", permission::GA, None).unwrap();
    assert_eq!(
        cm(&mut d, Some((&ga_token, PinProtocol::V2)), 1, None),
        Err(StatusCode::PinAuthInvalid)
    );
    let t = token_with(&mut d, PinProtocol::V2, "1234", permission::CM, None).unwrap();
    let mut bad = t.clone();
    bad[3] ^= 1;
    assert_eq!(
        cm(&mut d, Some((&bad, PinProtocol::V2)), 1, None),
        Err(StatusCode::PinAuthInvalid)
    );
    // GetNext without Begin; Begin cursors die with any other command.
    assert_eq!(cm(&mut d, None, 3, None), Err(StatusCode::NotAllowed));
    let auth = Some((&t[..], PinProtocol::V2));
    let t = token_with(&mut d, PinProtocol::V2, "1234", permission::CM, None).unwrap();
    let auth2 = Some((&t[..], PinProtocol::V2));
    cm(&mut d, auth2, 2, None).unwrap();
    d.process(0x04, &[]).unwrap();
    assert_eq!(cm(&mut d, None, 3, None), Err(StatusCode::NotAllowed));
    let _ = auth;
    // A token bound to a.example: no metadata or RP list; only a.example's
    // credentials.
    let bound = token_with(
        &mut d,
        PinProtocol::V2,
        "1234",
        permission::CM,
        Some("a.example"),
    )
    .unwrap();
    let b = Some((&bound[..], PinProtocol::V2));
    assert_eq!(cm(&mut d, b, 1, None), Err(StatusCode::PinAuthInvalid));
    assert_eq!(cm(&mut d, b, 2, None), Err(StatusCode::PinAuthInvalid));
    let params = |rp: &str| {
        MapBuilder::new()
            .int(1, cbor::bytes(sha256(rp.as_bytes()).to_vec()))
            .build()
    };
    assert!(cm(&mut d, b, 4, Some(params("a.example"))).is_ok());
    assert_eq!(
        cm(&mut d, b, 4, Some(params("b.example"))),
        Err(StatusCode::PinAuthInvalid)
    );
    // Missing parameters, unknown RP, unknown subcommand.
    assert_eq!(cm(&mut d, b, 4, None), Err(StatusCode::MissingParameter));
    let t = token_with(&mut d, PinProtocol::V2, "1234", permission::CM, None).unwrap();
    let auth = Some((&t[..], PinProtocol::V2));
    assert_eq!(
        cm(&mut d, auth, 4, Some(params("z.example"))),
        Err(StatusCode::NoCredentials)
    );
    assert_eq!(
        cm(&mut d, auth, 9, None),
        Err(StatusCode::InvalidSubcommand)
    );
    // The FIDO_2_1_PRE command number behaves the same.
    let r = call(
        &mut d,
        0x41,
        &MapBuilder::new()
            .int(1, 1)
            .int(3, 2)
            .int(4, cbor::bytes(PinProtocol::V2.authenticate(&t, &[1])))
            .build(),
    )
    .unwrap();
    assert_eq!(get(&r, 1), Some(Value::from(2)));
    // An empty store has no RPs to enumerate.
    let mut d = pin_device();
    set_pin(&mut d, PinProtocol::V1, "1234").unwrap();
    let t = token_with(&mut d, PinProtocol::V1, "1234", permission::CM, None).unwrap();
    assert_eq!(
        cm(&mut d, Some((&t, PinProtocol::V1)), 2, None),
        Err(StatusCode::NoCredentials)
    );
    // Garbage parameters never panic.
    for body in [
        vec![0xa1, 0x01, 0x01],
        vec![0xa2, 0x01, 0x04, 0x02, 0x80],
        vec![0xa1, 0x01, 0x60],
        vec![0x80],
    ] {
        let _ = d.process(0x0A, &body);
    }
}

#[test]
fn uv_retries_follow_the_setting() {
    let mut d = device_with(DeviceConfig {
        uv_retries: 2,
        ..DeviceConfig::default()
    });
    let r = call(&mut d, 0x06, &MapBuilder::new().int(2, 7).build()).unwrap();
    assert_eq!(get(&r, 5), Some(Value::from(2)));
    d.env_mut().uv = UvPolicy::Fail;
    assert_eq!(
        call(
            &mut d,
            0x01,
            &mc("a.example", false, Some(true), None, None)
        ),
        Err(StatusCode::OperationDenied)
    );
    assert_eq!(
        call(
            &mut d,
            0x01,
            &mc("a.example", false, Some(true), None, None)
        ),
        Err(StatusCode::PinBlocked)
    );
    // Reset restores the configured count.
    d.process(0x07, &[]).unwrap();
    assert_eq!(d.device_state().unwrap().uv_retries, 2);
}
