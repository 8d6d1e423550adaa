//! `/v1/devices/{device}/presence` and `/touch`: the virtual user.

use serde::{Deserialize, Serialize};

/// `PUT /v1/devices/{device}/presence`: any of the three, at least one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresenceChange {
    /// approve, deny, delay:MS, timeout:MS, never or manual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<String>,
    /// The built-in UV: `succeed` or `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uv: Option<String>,
    /// How the virtual user picks among several discoverable credentials
    /// (CTAP 2.1 §6.2.2 step 12.2): `platform`, `newest`, `refuse`, or
    /// `user:HANDLE` / `credential:ID` rules (base64), comma-separated,
    /// optionally ending in one of the first three.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_choice: Option<String>,
}

/// The virtual user's policy after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    /// The presence mode.
    pub presence: String,
    /// The built-in UV.
    pub uv: String,
    /// The account choice in force, in its canonical form (`newest`,
    /// `user:YWxpY2U,refuse`, …).
    pub account_choice: String,
}

/// `POST /v1/devices/{device}/touch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touched {
    /// Always true: a request that waited for a touch got it.
    pub touched: bool,
}
