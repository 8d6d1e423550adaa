//! The `control_api` target: arbitrary bytes as the JSON body of every
//! control API request, read the way the daemon's handlers read them
//! (`daemon/src/api/*.rs`), then taken through the parsing and checking
//! the daemon does before it touches a device.
//!
//! * AddDevice: the device name check, `DeviceSettings::from_json` and
//!   `RunConfig::from_settings`;
//! * CloneDevice: the name check, the credential IDs' base64, `udpListen`;
//! * PresenceChange: `presence`, `uv` and `accountChoice` as
//!   `PresenceMode`, `UvPolicy` and `AccountChoice`;
//! * CounterModeChange: `mode` and `overflow`;
//! * SetCounter;
//! * a fault (`FaultSpec::from_json`, as `POST …/faults` reads it), and the
//!   API's own `FaultRequest` type;
//! * a credential import (`CredentialImport`, one or many), checked by
//!   `creds::from_json_all` and imported into a fresh authenticator with
//!   `creds::import_into`.
//!
//! Checks: nothing panics; a body that parses as a request type
//! serializes and parses again to the same value; a setting value that
//! parses prints as text that parses to the same value; a fault spec that
//! parses turns into the API's form, which reads back to the same spec; an
//! imported credential exports as JSON that reads back and exports to the
//! same JSON, with the ID, RP, discoverability and counter that were
//! imported.

use std::fmt::Debug;
use std::str::FromStr;

use authenticator_core::accounts::AccountChoice;
use authenticator_core::config::{CounterMode, CounterOverflow, DeviceConfig};
use authenticator_core::env::{TestEnv, UvPolicy};
use fidosim_control_api as api;
use fidosim_daemon::config::{check_device_name, RunConfig};
use fidosim_daemon::creds;
use fidosim_daemon::settings::DeviceSettings;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use uhid_device::faults::{Fault, FaultSpec};
use uhid_device::presence::PresenceMode;

/// Runs every check on one input.
pub fn run(data: &[u8]) {
    if let Some(body) = round_trip::<api::AddDevice>(data) {
        add_device(&body);
    }
    if let Some(body) = round_trip::<api::CloneDevice>(data) {
        clone_device(&body);
    }
    if let Some(body) = round_trip::<api::PresenceChange>(data) {
        presence_change(&body);
    }
    if let Some(body) = round_trip::<api::CounterModeChange>(data) {
        counter_mode_change(&body);
    }
    round_trip::<api::SetCounter>(data);
    round_trip::<api::FaultRequest>(data);
    // The fault and credential handlers take any JSON value and read it
    // themselves.
    if let Some(body) = round_trip::<Value>(data) {
        fault(&body);
        credential_import(body);
    }
}

/// `T` from `data` as axum's `Json` extractor reads it; a value that
/// parses must serialize and parse again to the same value.
///
/// Except for floating-point numbers inside free-form JSON (`settings`, a
/// fault or credential body before it is read): serde_json without its
/// `float_roundtrip` feature does not round its decimal-to-binary
/// conversion correctly, so `11111111111102000324755` reads as
/// 1.1111111111102001e22, which prints as text that reads as
/// 1.1111111111102e22 (`regressions/control_api-float-round-trip.bin`),
/// and it does not even reach a fixed point after two round trips
/// (1.1111111111111109e38 and …07e38 for forty-one 1s). No field of the
/// API is a number with a fraction, so such a body only has to serialize
/// and parse again.
fn round_trip<T>(data: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let value: T = serde_json::from_slice(data).ok()?;
    let again = reparse(&value);
    if value != again {
        let json = serde_json::to_value(&value).expect("a parsed body is JSON");
        assert!(
            has_float(&json),
            "a body changes in a serialize/parse round trip: {value:?} → {again:?}"
        );
    }
    Some(value)
}

/// `value` serialized and parsed again.
fn reparse<T>(value: &T) -> T
where
    T: DeserializeOwned + Serialize + Debug,
{
    let text = serde_json::to_vec(value).expect("a parsed body serializes");
    serde_json::from_slice(&text).unwrap_or_else(|e| {
        panic!(
            "{value:?} serializes as {:?}, which does not parse ({e})",
            String::from_utf8_lossy(&text)
        )
    })
}

/// Whether a JSON value holds a number that is neither a u64 nor an i64.
fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

/// A setting's text: whatever parses prints (with `show`) as text that
/// parses to the same value.
fn setting<T>(text: &str, show: impl Fn(&T) -> String) -> Option<T>
where
    T: FromStr + PartialEq + Debug,
{
    let value = text.parse::<T>().ok()?;
    let shown = show(&value);
    let again = shown.parse::<T>().ok();
    assert_eq!(
        again.as_ref(),
        Some(&value),
        "{text:?} parses as {value:?}, printed {shown:?}"
    );
    Some(value)
}

fn add_device(body: &api::AddDevice) {
    let _ = check_device_name(&body.name);
    let settings = body
        .settings
        .clone()
        .unwrap_or_else(|| Value::Object(Default::default()));
    if let Ok(settings) = DeviceSettings::from_json(&settings) {
        let _ = RunConfig::from_settings(&body.name, settings);
    }
}

fn clone_device(body: &api::CloneDevice) {
    let _ = check_device_name(&body.name);
    for id in body.credentials.iter().flatten() {
        let _ = creds::unb64("credentials", id);
    }
    if let Some(a) = &body.udp_listen {
        let _ = a.parse::<std::net::SocketAddr>();
    }
}

fn presence_change(body: &api::PresenceChange) {
    if let Some(p) = &body.presence {
        setting::<PresenceMode>(p, ToString::to_string);
    }
    if let Some(u) = &body.uv {
        setting::<UvPolicy>(u, |u| u.name().to_owned());
    }
    if let Some(c) = &body.account_choice {
        setting::<AccountChoice>(c, ToString::to_string);
    }
}

fn counter_mode_change(body: &api::CounterModeChange) {
    if let Some(m) = &body.mode {
        setting::<CounterMode>(m, ToString::to_string);
    }
    if let Some(o) = &body.overflow {
        setting::<CounterOverflow>(o, |o| o.name().to_owned());
    }
}

/// A fault spec that parses lists (`GET …/faults`) in a form that, sent
/// back as a request, is the same spec.
fn fault(body: &Value) {
    let Ok(spec) = FaultSpec::from_json(body) else {
        return;
    };
    let listed = Fault {
        id: 1,
        spec: spec.clone(),
        fired: 0,
    }
    .to_api();
    let request = api::FaultRequest {
        command: listed.command,
        kind: listed.kind,
        sticky: listed.sticky,
    };
    let json = serde_json::to_value(&request).expect("a fault request serializes");
    let again = FaultSpec::from_json(&json)
        .unwrap_or_else(|e| panic!("{spec:?} lists as {json}, which is refused: {e}"));
    assert_eq!(spec, again, "a fault spec changes when listed and re-sent");
}

/// `POST …/credentials`: one credential or an array, checked, then
/// imported all or nothing.
fn credential_import(body: Value) {
    let list = match serde_json::from_value::<api::CredentialImport>(body) {
        Ok(api::CredentialImport::One(c)) => vec![*c],
        Ok(api::CredentialImport::Many(v)) => v,
        Err(_) => return,
    };
    let config = DeviceConfig::default();
    if creds::from_json_all(&list, &config).is_err() {
        return;
    }
    let mut a = crate::authenticator(config, TestEnv::seeded(1));
    let Ok(ids) = creds::import_into(&mut a, &list) else {
        return;
    };
    assert_eq!(ids.len(), list.len(), "an import stores every credential");
    for id in &ids {
        let stored = a.credential(id).expect("an imported credential is stored");
        let exported = creds::to_json(&stored, a.config()).expect("it exports");
        let given = list
            .iter()
            .find(|j| creds::unb64("credentialId", &j.credential_id).ok().as_ref() == Some(id))
            .expect("the ID was in the request");
        assert_eq!(exported.rp_id, given.rp_id, "rpId changed on import");
        assert_eq!(exported.sign_count, given.sign_count, "signCount changed");
        assert_eq!(
            exported.is_resident_credential, given.is_resident_credential,
            "discoverability changed"
        );
        let read = creds::from_json(&exported, a.config())
            .unwrap_or_else(|e| panic!("an export is refused on import: {e}: {exported:?}"));
        let again = creds::to_json(&read, a.config()).expect("it exports");
        // The creation order is the store's, not the JSON's.
        let strip = |mut j: creds::CredentialJson| {
            j.creation_order = None;
            j
        };
        assert_eq!(
            strip(exported),
            strip(again),
            "an exported credential exports differently once read back"
        );
    }
}
