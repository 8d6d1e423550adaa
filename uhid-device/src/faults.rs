//! Fault injection: a device that misbehaves on purpose, so that clients and
//! relying parties can be tested against it.
//!
//! A [`Fault`] names the requests it applies to (a CTAP2 command, `u2f` for
//! CTAPHID_MSG, or `any`), what it does, and whether it stays after firing
//! (`sticky`) or fires once. The [`Faults`] store lives in
//! [`crate::presence::Shared`]; the device driver consults it for each
//! request (see [`crate::device`]):
//!
//! | kind                 | when                      | effect on the wire                                 |
//! |----------------------|---------------------------|----------------------------------------------------|
//! | `delay`              | before processing         | answer MS later; KEEPALIVE goes on meanwhile       |
//! | `status`             | instead of processing     | the CTAP2 status byte alone (no state change)      |
//! | `channelBusy`        | instead of processing     | CTAPHID_ERROR ERR_CHANNEL_BUSY                     |
//! | mutations            | after a successful answer | the response map changed after signing             |
//! | `keepaliveStorm`     | when the answer leaves    | COUNT KEEPALIVE packets first                      |
//! | `drop`               | when the answer leaves    | nothing: the client times out                      |
//!
//! Mutations are pure functions on the response bytes (status ‖ CBOR map),
//! in [`Mutation::apply`]; a mutation that cannot change a response (an
//! error answer, a `none` attestation without `sig`, a flag already clear)
//! does not fire and stays pending.

use std::sync::Mutex;

use authenticator_core::cbor::{self, Value};
use authenticator_core::wire::Command as CtapCommand;
use authenticator_core::StatusCode;
use fidosim_control_api::fault as api;
use serde_json::{Map, Value as Json};

/// The longest `delay` (10 minutes, like the presence delays).
pub const MAX_DELAY_MS: u64 = 600_000;
/// The most KEEPALIVE packets one `keepaliveStorm` sends.
pub const MAX_STORM: u32 = 10_000;
/// The most bytes `trailingBytes` appends.
pub const MAX_TRAILING: usize = 1024;
/// The most faults a device holds at once.
pub const MAX_FAULTS: usize = 256;

/// Offsets in authenticator data (WebAuthn §6.1): rpIdHash, flags, signCount.
const RP_ID_HASH: std::ops::Range<usize> = 0..32;
const FLAGS: usize = 32;
const SIGN_COUNT: std::ops::Range<usize> = 33..37;
/// The flag bits (WebAuthn §6.1; CTAP 2.1 §6.1 "authData").
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;

/// The request a fault is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// CTAPHID_CBOR: a CTAP2 command byte (CTAP 2.1 §6, §11.2.9.1.2).
    Ctap2(u8),
    /// CTAPHID_MSG: a CTAP1/U2F APDU (CTAP 2.1 §11.2.9.1.1).
    U2f,
}

impl Origin {
    /// The name of the request, as faults and events spell it.
    pub fn name(self) -> String {
        match self {
            Self::Ctap2(b) => CtapCommand::from_u8(b)
                .map_or_else(|| format!("0x{b:02x}"), |c| c.name().to_owned()),
            Self::U2f => "u2f".to_owned(),
        }
    }
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every request the fault's kind can apply to.
    Any,
    /// One CTAP2 command.
    Ctap2(CtapCommand),
    /// Every CTAPHID_MSG (CTAP1/U2F) request.
    U2f,
}

/// The CTAP2 commands, for names and error messages.
fn ctap2_commands() -> impl Iterator<Item = CtapCommand> {
    (0..=u8::MAX).filter_map(CtapCommand::from_u8)
}

/// The commands whose successful answer mutations understand: the
/// makeCredential response (CTAP 2.1 §6.1.2) and the getAssertion /
/// getNextAssertion response (§6.2.2, §6.3).
const MUTABLE: [CtapCommand; 3] = [
    CtapCommand::MakeCredential,
    CtapCommand::GetAssertion,
    CtapCommand::GetNextAssertion,
];

impl Target {
    fn name(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Ctap2(c) => c.name(),
            Self::U2f => "u2f",
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "any" => return Ok(Self::Any),
            "u2f" => return Ok(Self::U2f),
            _ => {}
        }
        ctap2_commands()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .map(Self::Ctap2)
            .ok_or_else(|| {
                let names: Vec<&str> = ctap2_commands().map(CtapCommand::name).collect();
                format!("command `{s}` is not one of any, u2f, {}", names.join(", "))
            })
    }

    fn matches(self, origin: Origin) -> bool {
        match (self, origin) {
            (Self::Any, _) | (Self::U2f, Origin::U2f) => true,
            (Self::Ctap2(c), Origin::Ctap2(b)) => c as u8 == b,
            _ => false,
        }
    }
}

/// A change to a successful makeCredential or getAssertion response, made
/// after signing: the result is deliberately invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Every signature byte zero (getAssertion 0x03; makeCredential
    /// attStmt `sig`), the length kept.
    ZeroSignature,
    /// The signature's last byte inverted.
    CorruptSignature,
    /// The UP flag (authData byte 32, bit 0) cleared.
    ClearUp,
    /// The UV flag (authData byte 32, bit 2) cleared.
    ClearUv,
    /// authData bytes 0..32 replaced: SHA-256 of another RP ID, or (`None`)
    /// the right hash with every bit inverted.
    WrongRpIdHash(Option<String>),
    /// This many zero bytes appended inside the authData byte string.
    TrailingBytes(usize),
    /// The signature counter (authData bytes 33..37) lowered.
    CounterRollback(Rollback),
    /// The response map re-encoded against CTAP 2.1 §8.2's canonical form.
    NonCanonical(NonCanonical),
}

/// What a lowered counter becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollback {
    /// This value (when below the counter signed).
    To(u32),
    /// The counter signed minus this much (at least 1).
    Back(u32),
}

/// How [`Mutation::NonCanonical`] breaks the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonCanonical {
    /// Map keys in descending instead of ascending order.
    KeyOrder,
    /// The first map key as a two-byte integer (0x18 nn) where one byte
    /// would do.
    LongInteger,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this CTAP status byte instead of running the command.
    Status(u8),
    /// Change a successful response.
    Mutate(Mutation),
    /// Hold the request this many milliseconds before running it.
    Delay(u64),
    /// Never send the answer.
    Drop,
    /// Send this many KEEPALIVE packets before the answer.
    KeepaliveStorm(u32),
    /// Answer CTAPHID_ERROR ERR_CHANNEL_BUSY instead of running the request.
    ChannelBusy,
}

/// The kinds, for error messages.
pub const KINDS: &str = "status, zeroSignature, corruptSignature, clearUp, clearUv, \
    wrongRpIdHash, trailingBytes, counterRollback, nonCanonicalCbor, delay, drop, \
    keepaliveStorm, channelBusy";

impl FaultKind {
    /// The control API's form, parameters filled in.
    pub fn to_api(&self) -> api::FaultKind {
        use api::FaultKind as A;
        match self {
            Self::Status(s) => A::Status {
                status: api::StatusByte::Code(*s),
            },
            Self::Mutate(m) => match m {
                Mutation::ZeroSignature => A::ZeroSignature {},
                Mutation::CorruptSignature => A::CorruptSignature {},
                Mutation::ClearUp => A::ClearUp {},
                Mutation::ClearUv => A::ClearUv {},
                Mutation::WrongRpIdHash(rp) => A::WrongRpIdHash { rp_id: rp.clone() },
                Mutation::TrailingBytes(n) => A::TrailingBytes {
                    count: Some(u32::try_from(*n).unwrap_or(u32::MAX)),
                },
                Mutation::CounterRollback(Rollback::To(v)) => A::CounterRollback {
                    sign_count: Some(*v),
                    back: None,
                },
                Mutation::CounterRollback(Rollback::Back(v)) => A::CounterRollback {
                    sign_count: None,
                    back: Some(*v),
                },
                Mutation::NonCanonical(f) => A::NonCanonicalCbor {
                    form: Some(match f {
                        NonCanonical::KeyOrder => api::NonCanonicalForm::KeyOrder,
                        NonCanonical::LongInteger => api::NonCanonicalForm::LongInteger,
                    }),
                },
            },
            Self::Delay(ms) => A::Delay { ms: *ms },
            Self::Drop => A::Drop {},
            Self::KeepaliveStorm(n) => A::KeepaliveStorm { count: Some(*n) },
            Self::ChannelBusy => A::ChannelBusy {},
        }
    }

    /// Whether the kind can apply to a request of this origin at all.
    fn fits(&self, origin: Origin) -> bool {
        match (self, origin) {
            (Self::Status(_), Origin::Ctap2(_)) => true,
            (Self::Mutate(_), Origin::Ctap2(b)) => MUTABLE.iter().any(|c| *c as u8 == b),
            (Self::Status(_) | Self::Mutate(_), Origin::U2f) => false,
            _ => true,
        }
    }
}

/// A fault as it is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    /// Which requests.
    pub target: Target,
    /// What happens.
    pub kind: FaultKind,
    /// Stays after firing (otherwise it fires once).
    pub sticky: bool,
}

/// A fault in a device's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Its number on this device.
    pub id: u64,
    /// What was asked for.
    pub spec: FaultSpec,
    /// How often it fired.
    pub fired: u64,
}

impl Fault {
    /// The control API's form: `{id, command, kind, params, sticky,
    /// fired}`.
    pub fn to_api(&self) -> api::Fault {
        api::Fault {
            id: self.id,
            command: self.spec.target.name().to_owned(),
            kind: self.spec.kind.to_api(),
            sticky: self.spec.sticky,
            fired: self.fired,
        }
    }

    /// [`Fault::to_api`] as JSON.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self.to_api()).unwrap_or(Json::Null)
    }

    fn applies_to(&self, origin: Origin) -> bool {
        self.spec.target.matches(origin) && self.spec.kind.fits(origin)
    }
}

/// A JSON object's fields, taken one by one; what is left over is an error.
struct Fields<'a> {
    what: &'a str,
    map: Map<String, Json>,
}

impl<'a> Fields<'a> {
    fn of(what: &'a str, v: &Json) -> Result<Self, String> {
        match v {
            Json::Object(m) => Ok(Self {
                what,
                map: m.clone(),
            }),
            Json::Null => Ok(Self {
                what,
                map: Map::new(),
            }),
            other => Err(format!("{what} must be a JSON object, not {other}")),
        }
    }

    fn take(&mut self, key: &str) -> Option<Json> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    fn uint(
        &mut self,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or_else(|| {
                    format!(
                        "{}.{key}: {v} is not a whole number from {} to {}",
                        self.what,
                        range.start(),
                        range.end()
                    )
                }),
        }
    }

    fn done(self, allowed: &str) -> Result<(), String> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!(
                "{}: `{k}` is not expected here ({allowed})",
                self.what
            )),
        }
    }
}

/// A CTAP status code from a number (39, "0x27") or a spec name
/// ("CTAP2_ERR_OPERATION_DENIED").
fn parse_status(v: &Json) -> Result<u8, String> {
    let err = || {
        format!(
            "params.status: {v} is not a CTAP status code (1 to 255, \"0x27\", or a name like \"CTAP2_ERR_OPERATION_DENIED\")"
        )
    };
    let b = match v {
        Json::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        Json::String(s) => match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u8::from_str_radix(hex, 16).ok(),
            None => s.parse::<u8>().ok().or_else(|| {
                (1..=u8::MAX).find(|b| {
                    StatusCode::from_known(*b).is_some_and(|c| c.name().eq_ignore_ascii_case(s))
                })
            }),
        },
        _ => None,
    }
    .ok_or_else(err)?;
    if b == 0 {
        return Err(
            "params.status: 0 is success (CTAP2_OK); a status fault answers an error".into(),
        );
    }
    Ok(b)
}

fn parse_kind(kind: &str, params: &Json) -> Result<FaultKind, String> {
    let mut p = Fields::of("params", params)?;
    let (k, allowed) = match kind {
        "status" => {
            let s = p
                .take("status")
                .ok_or("params.status is required: the CTAP status code to answer, e.g. 39 or \"CTAP2_ERR_OPERATION_DENIED\"")?;
            (FaultKind::Status(parse_status(&s)?), "status")
        }
        "zeroSignature" => (FaultKind::Mutate(Mutation::ZeroSignature), "no parameters"),
        "corruptSignature" => (
            FaultKind::Mutate(Mutation::CorruptSignature),
            "no parameters",
        ),
        "clearUp" => (FaultKind::Mutate(Mutation::ClearUp), "no parameters"),
        "clearUv" => (FaultKind::Mutate(Mutation::ClearUv), "no parameters"),
        "wrongRpIdHash" => {
            let rp = match p.take("rpId") {
                None => None,
                Some(Json::String(s)) if !s.is_empty() => Some(s),
                Some(other) => return Err(format!("params.rpId: {other} is not an RP ID")),
            };
            (
                FaultKind::Mutate(Mutation::WrongRpIdHash(rp)),
                "optional rpId",
            )
        }
        "trailingBytes" => {
            let n = p.uint("count", 1..=MAX_TRAILING as u64)?.unwrap_or(4);
            (
                FaultKind::Mutate(Mutation::TrailingBytes(
                    usize::try_from(n).unwrap_or(MAX_TRAILING),
                )),
                "optional count",
            )
        }
        "counterRollback" => {
            let to = p.uint("signCount", 0..=u64::from(u32::MAX))?;
            let back = p.uint("back", 1..=u64::from(u32::MAX))?;
            let r = match (to, back) {
                (Some(_), Some(_)) => {
                    return Err("params: give signCount or back, not both".into());
                }
                (_, Some(b)) => Rollback::Back(u32::try_from(b).unwrap_or(u32::MAX)),
                (to, None) => Rollback::To(to.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)),
            };
            (
                FaultKind::Mutate(Mutation::CounterRollback(r)),
                "optional signCount or back",
            )
        }
        "nonCanonicalCbor" => {
            let form = match p.take("form") {
                None => NonCanonical::KeyOrder,
                Some(Json::String(s)) if s == "keyOrder" => NonCanonical::KeyOrder,
                Some(Json::String(s)) if s == "longInteger" => NonCanonical::LongInteger,
                Some(other) => {
                    return Err(format!(
                        "params.form: {other} is not keyOrder or longInteger"
                    ))
                }
            };
            (
                FaultKind::Mutate(Mutation::NonCanonical(form)),
                "optional form",
            )
        }
        "delay" => {
            let ms = p.uint("ms", 1..=MAX_DELAY_MS)?.ok_or_else(|| {
                format!("params.ms is required: the delay in milliseconds, 1 to {MAX_DELAY_MS}")
            })?;
            (FaultKind::Delay(ms), "ms")
        }
        "drop" => (FaultKind::Drop, "no parameters"),
        "keepaliveStorm" => {
            let n = p.uint("count", 1..=u64::from(MAX_STORM))?.unwrap_or(100);
            (
                FaultKind::KeepaliveStorm(u32::try_from(n).unwrap_or(MAX_STORM)),
                "optional count",
            )
        }
        "channelBusy" => (FaultKind::ChannelBusy, "no parameters"),
        other => return Err(format!("kind `{other}` is not one of {KINDS}")),
    };
    p.done(allowed)?;
    Ok(k)
}

impl FaultSpec {
    /// Reads `{command, kind, params, sticky}` (command defaults to `any`,
    /// sticky to false); the error says what is allowed.
    pub fn from_json(v: &Json) -> Result<Self, String> {
        let mut f = Fields::of("the fault", v)?;
        let kind = match f.take("kind") {
            Some(Json::String(k)) => k,
            Some(other) => return Err(format!("kind: {other} is not one of {KINDS}")),
            None => return Err(format!("kind is required: one of {KINDS}")),
        };
        let target = match f.take("command") {
            None => Target::Any,
            Some(Json::String(c)) => Target::parse(&c)?,
            Some(other) => return Err(format!("command: {other} is not a command name")),
        };
        let sticky = match f.take("sticky") {
            None => false,
            Some(Json::Bool(b)) => b,
            Some(other) => return Err(format!("sticky: {other} is not true or false")),
        };
        let params = f.take("params").unwrap_or(Json::Null);
        f.done("command, kind, params, sticky")?;
        let kind = parse_kind(&kind, &params)?;
        let spec = Self {
            target,
            kind,
            sticky,
        };
        match (&spec.kind, target) {
            (FaultKind::Status(_), Target::U2f) => Err(
                "a status fault answers a CTAP2 status byte: its command is a CTAP2 command or any, not u2f"
                    .into(),
            ),
            (FaultKind::Mutate(_), Target::U2f) => Err(mutable_commands()),
            (FaultKind::Mutate(_), Target::Ctap2(c)) if !MUTABLE.contains(&c) => {
                Err(mutable_commands())
            }
            _ => Ok(spec),
        }
    }
}

fn mutable_commands() -> String {
    "response mutations apply to makeCredential, getAssertion, getNextAssertion or any".into()
}

/// The faults of one device.
#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<Store>,
}

#[derive(Debug, Default)]
struct Store {
    last_id: u64,
    list: Vec<Fault>,
}

impl Faults {
    fn with<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        // A panic while holding the lock leaves the list itself consistent.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Adds a fault; `None` when the device already holds [`MAX_FAULTS`].
    pub fn add(&self, spec: FaultSpec) -> Option<Fault> {
        self.with(|s| {
            if s.list.len() >= MAX_FAULTS {
                return None;
            }
            s.last_id += 1;
            let f = Fault {
                id: s.last_id,
                spec,
                fired: 0,
            };
            s.list.push(f.clone());
            Some(f)
        })
    }

    /// Whether no fault is pending.
    pub fn is_empty(&self) -> bool {
        self.with(|s| s.list.is_empty())
    }

    /// The pending faults, oldest first.
    pub fn list(&self) -> Vec<Fault> {
        self.with(|s| s.list.clone())
    }

    /// Removes one fault; `false` when there is none with this id.
    pub fn remove(&self, id: u64) -> bool {
        self.with(|s| {
            let before = s.list.len();
            s.list.retain(|f| f.id != id);
            s.list.len() != before
        })
    }

    /// Removes every fault; how many there were.
    pub fn clear(&self) -> usize {
        self.with(|s| std::mem::take(&mut s.list).len())
    }

    /// Fires the faults that apply to `origin` and that `accept` takes, in
    /// the order they were added: one-shot faults are removed, sticky ones
    /// count the firing. Returns them as they are after firing.
    pub fn fire(&self, origin: Origin, mut accept: impl FnMut(&FaultKind) -> bool) -> Vec<Fault> {
        self.with(|s| {
            let mut fired = Vec::new();
            s.list.retain_mut(|f| {
                if !f.applies_to(origin) || !accept(&f.spec.kind) {
                    return true;
                }
                f.fired += 1;
                fired.push(f.clone());
                f.spec.sticky
            });
            fired
        })
    }
}

/// Why a mutation left a response alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotApplicable {
    /// Not a successful response with a CBOR map.
    NotASuccess,
    /// The map lacks what the mutation changes (no signature under a `none`
    /// attestation, authData too short).
    Missing,
    /// The change would change nothing (the flag is already clear, the
    /// counter already as low).
    NoChange,
}

/// A CTAP2 response split into its map entries (CTAP 2.1 §6: status byte ‖
/// CBOR map with integer keys).
fn entries(response: &[u8]) -> Result<Vec<(Value, Value)>, NotApplicable> {
    match response.split_first() {
        Some((0, body)) => match cbor::decode(body) {
            Ok(Value::Map(m)) => Ok(m),
            _ => Err(NotApplicable::NotASuccess),
        },
        _ => Err(NotApplicable::NotASuccess),
    }
}

fn is_key(k: &Value, key: u8) -> bool {
    matches!(k, Value::Integer(i) if i128::from(*i) == i128::from(key))
}

fn entry(map: &mut [(Value, Value)], key: u8) -> Option<&mut Value> {
    map.iter_mut().find(|(k, _)| is_key(k, key)).map(|(_, v)| v)
}

/// The signature: getAssertion's 0x03 (CTAP 2.1 §6.2.2), or makeCredential's
/// attStmt (0x03) `sig` (packed and fido-u2f formats, WebAuthn §8.2, §8.6).
/// A makeCredential response is told by its 0x01 being the format string.
fn signature(map: &mut [(Value, Value)]) -> Option<&mut Vec<u8>> {
    let is_mc = map
        .iter()
        .any(|(k, v)| is_key(k, 0x01) && matches!(v, Value::Text(_)));
    let v = entry(map, 0x03)?;
    let v = if is_mc {
        let Value::Map(att) = v else { return None };
        att.iter_mut()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == "sig"))
            .map(|(_, v)| v)?
    } else {
        v
    };
    match v {
        Value::Bytes(b) if !b.is_empty() => Some(b),
        _ => None,
    }
}

/// authData (0x02 in both responses), at least its 37 fixed bytes.
fn auth_data(map: &mut [(Value, Value)]) -> Option<&mut Vec<u8>> {
    match entry(map, 0x02)? {
        Value::Bytes(b) if b.len() >= SIGN_COUNT.end => Some(b),
        _ => None,
    }
}

/// Encodes a map's entries as CBOR: the header, then each key and value in
/// canonical form, `key` choosing how each key is written.
fn encode_entries(entries: &[(Value, Value)], key: impl Fn(usize, &Value) -> Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let n = entries.len();
    // Major type 5 (map) with the length (RFC 8949 §3.1); responses have
    // few entries, but any length is written correctly.
    match u8::try_from(n) {
        Ok(small) if small < 24 => out.push(0xA0 | small),
        Ok(byte) => out.extend_from_slice(&[0xB8, byte]),
        Err(_) => {
            out.push(0xBB);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    for (i, (k, v)) in entries.iter().enumerate() {
        out.extend_from_slice(&key(i, k));
        out.extend_from_slice(&cbor::encode(v));
    }
    out
}

impl Mutation {
    /// The response (status ‖ CBOR) with this mutation made, or why it
    /// cannot be made. Everything not named by the mutation is left as it
    /// was; the map is re-encoded canonically (CTAP 2.1 §8.2) except by
    /// [`Mutation::NonCanonical`].
    pub fn apply(&self, response: &[u8]) -> Result<Vec<u8>, NotApplicable> {
        use NotApplicable::{Missing, NoChange};
        let mut map = entries(response)?;
        match self {
            Self::ZeroSignature => {
                let sig = signature(&mut map).ok_or(Missing)?;
                if sig.iter().all(|b| *b == 0) {
                    return Err(NoChange);
                }
                sig.fill(0);
            }
            Self::CorruptSignature => {
                let sig = signature(&mut map).ok_or(Missing)?;
                if let Some(last) = sig.last_mut() {
                    *last ^= 0xFF;
                }
            }
            Self::ClearUp | Self::ClearUv => {
                let bit = if *self == Self::ClearUp {
                    FLAG_UP
                } else {
                    FLAG_UV
                };
                let ad = auth_data(&mut map).ok_or(Missing)?;
                if ad[FLAGS] & bit == 0 {
                    return Err(NoChange);
                }
                ad[FLAGS] &= !bit;
            }
            Self::WrongRpIdHash(rp) => {
                let ad = auth_data(&mut map).ok_or(Missing)?;
                let hash: [u8; 32] = match rp {
                    Some(rp) => authenticator_core::crypto::sha256(rp.as_bytes()),
                    None => {
                        let mut h = [0u8; 32];
                        for (o, i) in h.iter_mut().zip(&ad[RP_ID_HASH]) {
                            *o = !i;
                        }
                        h
                    }
                };
                if ad[RP_ID_HASH] == hash {
                    return Err(NoChange);
                }
                ad[RP_ID_HASH].copy_from_slice(&hash);
            }
            Self::TrailingBytes(n) => {
                let ad = auth_data(&mut map).ok_or(Missing)?;
                ad.resize(ad.len() + n, 0);
            }
            Self::CounterRollback(r) => {
                let ad = auth_data(&mut map).ok_or(Missing)?;
                let mut be = [0u8; 4];
                be.copy_from_slice(&ad[SIGN_COUNT]);
                let signed = u32::from_be_bytes(be);
                let lower = match r {
                    Rollback::To(v) => *v,
                    Rollback::Back(b) => signed.saturating_sub(*b),
                };
                if lower >= signed {
                    return Err(NoChange);
                }
                ad[SIGN_COUNT].copy_from_slice(&lower.to_be_bytes());
            }
            Self::NonCanonical(form) => {
                let mut sorted = Value::Map(map);
                cbor::canonicalize(&mut sorted);
                let Value::Map(mut map) = sorted else {
                    return Err(Missing);
                };
                let body = match form {
                    NonCanonical::KeyOrder => {
                        map.reverse();
                        encode_entries(&map, |_, k| cbor::encode(k))
                    }
                    // A small unsigned key (0..=23) fits in the initial
                    // byte; 0x18 nn spells the first one with a needless
                    // byte.
                    NonCanonical::LongInteger => encode_entries(&map, |i, k| match k {
                        Value::Integer(n) if i == 0 => match u8::try_from(i128::from(*n)) {
                            Ok(b) if b < 24 => vec![0x18, b],
                            _ => cbor::encode(k),
                        },
                        _ => cbor::encode(k),
                    }),
                };
                if cbor::is_canonical(&body) {
                    return Err(NoChange);
                }
                return Ok([&[0u8][..], &body].concat());
            }
        }
        Ok([vec![0], cbor::encode(&Value::Map(map))].concat())
    }
}

#[cfg(test)]
#[path = "faults_tests.rs"]
mod tests;
