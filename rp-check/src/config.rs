//! The RP under test, as its TOML description says.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One HTTP call of a flow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Step {
    #[serde(default = "post")]
    pub(crate) method: String,
    pub(crate) path: String,
    /// The body; `{username}` and `{response}` (the response JSON) are
    /// replaced.
    pub(crate) body: String,
}

pub(crate) fn post() -> String {
    "POST".into()
}

/// Registration or authentication: begin, then complete.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Flow {
    pub(crate) begin: Step,
    pub(crate) complete: Step,
    /// A JSON pointer to the options in the begin answer ("" for the whole
    /// body); a `{"publicKey": ...}` wrapper there is unwrapped.
    #[serde(default = "public_key")]
    pub(crate) options: String,
}

pub(crate) fn public_key() -> String {
    "/publicKey".into()
}

pub(crate) fn default_flow(kind: &str) -> Flow {
    Flow {
        begin: Step {
            method: post(),
            path: format!("/auth/passkey/{kind}/begin"),
            body: r#"{"username": "{username}"}"#.into(),
        },
        complete: Step {
            method: post(),
            path: format!("/auth/passkey/{kind}/complete"),
            body: "{response}".into(),
        },
        options: public_key(),
    }
}

/// The RP under test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RpConfig {
    /// `http://HOST:PORT` of the RP's API.
    pub(crate) base_url: String,
    /// The origin a browser on the RP's page would report.
    pub(crate) origin: String,
    #[serde(default = "register_flow")]
    pub(crate) register: Flow,
    #[serde(default = "login_flow")]
    pub(crate) login: Flow,
    /// Extra request headers.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// Whether the RP demands trusted attestation (then self and none
    /// attestation must be refused).
    #[serde(default)]
    pub(crate) requires_trusted_attestation: bool,
    /// Milliseconds an RP answer may take.
    #[serde(default = "timeout_ms")]
    pub(crate) timeout_ms: u64,
}

pub(crate) fn register_flow() -> Flow {
    default_flow("register")
}
pub(crate) fn login_flow() -> Flow {
    default_flow("login")
}
pub(crate) fn timeout_ms() -> u64 {
    10_000
}
