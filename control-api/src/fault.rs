//! `/v1/devices/{device}/faults`: faults injected on purpose. A fault's
//! kind and its parameters are one tagged value, [`FaultKind`]: on the wire
//! `{"kind": "delay", "params": {"ms": 500}}`.

use serde::{Deserialize, Serialize};

/// A CTAP status byte, as a request may give it: a number, or text the
/// daemon resolves (`"0x27"`, `"39"`, `"CTAP2_ERR_OPERATION_DENIED"`).
/// Answers always carry the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusByte {
    /// The byte.
    Code(u8),
    /// Hex, decimal or a status name.
    Text(String),
}

/// The non-canonical CBOR a `nonCanonicalCbor` fault writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NonCanonicalForm {
    /// Map keys out of canonical order.
    KeyOrder,
    /// An integer in a longer encoding than it needs.
    LongInteger,
}

/// What a fault does, with its parameters. A parameter left out takes the
/// daemon's default; answers carry every parameter with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "params", rename_all = "camelCase")]
pub enum FaultKind {
    /// Answer this CTAP status byte instead of running the command.
    Status {
        /// The status.
        status: StatusByte,
    },
    /// A signature of zeros.
    ZeroSignature {},
    /// The signature's last byte inverted.
    CorruptSignature {},
    /// The UP flag cleared after signing.
    ClearUp {},
    /// The UV flag cleared after signing.
    ClearUv {},
    /// The rpIdHash of another RP ID (default: every bit inverted).
    WrongRpIdHash {
        /// The RP ID whose hash goes in.
        #[serde(rename = "rpId", default, skip_serializing_if = "Option::is_none")]
        rp_id: Option<String>,
    },
    /// Zero bytes after the CBOR map.
    TrailingBytes {
        /// How many (1 to 1024; default 4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
    },
    /// The signature counter set to a value, or moved back.
    CounterRollback {
        /// The counter to report.
        #[serde(rename = "signCount", default, skip_serializing_if = "Option::is_none")]
        sign_count: Option<u32>,
        /// How far to move it back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        back: Option<u32>,
    },
    /// Non-canonical CBOR.
    NonCanonicalCbor {
        /// Which form (default keyOrder).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        form: Option<NonCanonicalForm>,
    },
    /// Hold the request, sending KEEPALIVE meanwhile.
    Delay {
        /// Milliseconds, 1 to 600000.
        ms: u64,
    },
    /// Never send the answer.
    Drop {},
    /// Many KEEPALIVE packets before the answer.
    KeepaliveStorm {
        /// How many (1 to 10000; default 100).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
    },
    /// CTAPHID_ERROR ERR_CHANNEL_BUSY instead of running the request.
    ChannelBusy {},
}

/// The kinds' names, as the API spells them.
pub const KIND_NAMES: [&str; 13] = [
    "status",
    "zeroSignature",
    "corruptSignature",
    "clearUp",
    "clearUv",
    "wrongRpIdHash",
    "trailingBytes",
    "counterRollback",
    "nonCanonicalCbor",
    "delay",
    "drop",
    "keepaliveStorm",
    "channelBusy",
];

/// One `NAME=VALUE` parameter, read as the type its kind gives it.
struct Texts<'a> {
    kind: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> Texts<'a> {
    fn take(&mut self, name: &str) -> Option<&'a str> {
        let i = self.params.iter().position(|(k, _)| *k == name)?;
        Some(self.params.remove(i).1)
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        self.take(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| format!("params.{name}: `{v}` is not a whole number"))
            })
            .transpose()
    }

    fn done(self, allowed: &str) -> Result<(), String> {
        match self.params.first() {
            None => Ok(()),
            Some((k, _)) => Err(format!(
                "params: `{k}` is not expected here ({} takes {allowed})",
                self.kind
            )),
        }
    }
}

impl FaultKind {
    /// The kind's name (`delay`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::ZeroSignature {} => "zeroSignature",
            Self::CorruptSignature {} => "corruptSignature",
            Self::ClearUp {} => "clearUp",
            Self::ClearUv {} => "clearUv",
            Self::WrongRpIdHash { .. } => "wrongRpIdHash",
            Self::TrailingBytes { .. } => "trailingBytes",
            Self::CounterRollback { .. } => "counterRollback",
            Self::NonCanonicalCbor { .. } => "nonCanonicalCbor",
            Self::Delay { .. } => "delay",
            Self::Drop {} => "drop",
            Self::KeepaliveStorm { .. } => "keepaliveStorm",
            Self::ChannelBusy {} => "channelBusy",
        }
    }

    /// A kind from its name and `NAME=VALUE` parameters (the command
    /// line's form): each value is read as its parameter's type. Ranges
    /// are the daemon's to check.
    pub fn from_texts(kind: &str, params: &[(String, String)]) -> Result<Self, String> {
        let mut p = Texts {
            kind,
            params: params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        };
        let (k, allowed) = match kind {
            "status" => {
                let s = p.take("status").ok_or(
                    "params.status is required: the CTAP status code to answer, e.g. 39 or CTAP2_ERR_OPERATION_DENIED",
                )?;
                let status = s
                    .parse::<u8>()
                    .map_or_else(|_| StatusByte::Text(s.to_owned()), StatusByte::Code);
                (Self::Status { status }, "status")
            }
            "zeroSignature" => (Self::ZeroSignature {}, "no parameters"),
            "corruptSignature" => (Self::CorruptSignature {}, "no parameters"),
            "clearUp" => (Self::ClearUp {}, "no parameters"),
            "clearUv" => (Self::ClearUv {}, "no parameters"),
            "wrongRpIdHash" => (
                Self::WrongRpIdHash {
                    rp_id: p.take("rpId").map(str::to_owned),
                },
                "optional rpId",
            ),
            "trailingBytes" => (
                Self::TrailingBytes {
                    count: p.number("count")?,
                },
                "optional count",
            ),
            "counterRollback" => (
                Self::CounterRollback {
                    sign_count: p.number("signCount")?,
                    back: p.number("back")?,
                },
                "optional signCount or back",
            ),
            "nonCanonicalCbor" => {
                let form = match p.take("form") {
                    None => None,
                    Some("keyOrder") => Some(NonCanonicalForm::KeyOrder),
                    Some("longInteger") => Some(NonCanonicalForm::LongInteger),
                    Some(other) => {
                        return Err(format!(
                            "params.form: `{other}` is not keyOrder or longInteger"
                        ))
                    }
                };
                (Self::NonCanonicalCbor { form }, "optional form")
            }
            "delay" => {
                let ms = p
                    .number("ms")?
                    .ok_or("params.ms is required: the delay in milliseconds, 1 to 600000")?;
                (Self::Delay { ms }, "ms")
            }
            "drop" => (Self::Drop {}, "no parameters"),
            "keepaliveStorm" => (
                Self::KeepaliveStorm {
                    count: p.number("count")?,
                },
                "optional count",
            ),
            "channelBusy" => (Self::ChannelBusy {}, "no parameters"),
            other => {
                return Err(format!(
                    "kind `{other}` is not one of {}",
                    KIND_NAMES.join(", ")
                ))
            }
        };
        p.done(allowed)?;
        Ok(k)
    }
}

fn any() -> String {
    "any".to_owned()
}

/// `POST /v1/devices/{device}/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRequest {
    /// A CTAP2 command name, `u2f` (CTAPHID_MSG) or `any` (the default).
    #[serde(default = "any")]
    pub command: String,
    /// What it does.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Whether it stays after firing (default: fires once).
    #[serde(default)]
    pub sticky: bool,
}

/// A pending fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Its id on the device.
    pub id: u64,
    /// The command it applies to.
    pub command: String,
    /// What it does, parameters filled in.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Whether it stays after firing.
    pub sticky: bool,
    /// How often it fired.
    pub fired: u64,
}

/// `DELETE …/faults/{fault}` and `DELETE …/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultsRemoved {
    /// The fault's id, or how many were removed.
    pub removed: u64,
}
