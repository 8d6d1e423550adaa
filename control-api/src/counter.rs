//! `/v1/devices/{device}/credentials/{id}/counter` and `/counter-mode`:
//! signature counters.

use serde::{Deserialize, Serialize};

/// `PUT …/credentials/{id}/counter`, and its answer (with the ID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetCounter {
    /// The new signature counter.
    pub sign_count: u32,
}

/// The answer to [`SetCounter`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterSet {
    /// The credential, base64.
    pub credential_id: String,
    /// Its counter now.
    pub sign_count: u32,
}

/// `PUT /v1/devices/{device}/counter-mode`: either or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CounterModeChange {
    /// per-credential, global, zero, frozen or random:MAX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// saturate or wrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<String>,
}

/// The counter policy after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterMode {
    /// The counter mode.
    pub mode: String,
    /// What counters do past 2^32-1.
    pub overflow: String,
}
