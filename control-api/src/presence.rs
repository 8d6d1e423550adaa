//! `/v1/devices/{device}/presence` and `/touch`: the virtual user.

use serde::{Deserialize, Serialize};

/// `PUT /v1/devices/{device}/presence`: either or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresenceChange {
    /// approve, deny, delay:MS, timeout:MS, never or manual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<String>,
    /// The built-in UV: `succeed` or `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uv: Option<String>,
}

/// The virtual user's policy after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The presence mode.
    pub presence: String,
    /// The built-in UV.
    pub uv: String,
}

/// `POST /v1/devices/{device}/touch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touched {
    /// Always true: a request that waited for a touch got it.
    pub touched: bool,
}
