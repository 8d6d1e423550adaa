//! `/v1/devices`: the running keys.

use serde::{Deserialize, Serialize};

/// `GET /v1/devices/{device}` (and each item of `GET /v1/devices`): what a
/// running key is and what it holds. The counts are `null` while the
/// device is busy with a request (waiting for a touch, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatus {
    /// The device's name in the daemon.
    pub name: String,
    /// `uhid` or `udp`.
    pub transport: String,
    /// The uhid path or the UDP address.
    pub address: String,
    /// The AAGUID, as a UUID.
    pub aaguid: String,
    /// The USB vendor ID, 4 hex digits.
    pub vendor_id: String,
    /// The USB product ID, 4 hex digits.
    pub product_id: String,
    /// The USB serial number.
    pub serial: String,
    /// The USB product name.
    pub product_name: String,
    /// The state file; `None` when ephemeral.
    pub state: Option<String>,
    /// The virtual user's presence mode (`approve`, `delay:MS`, …).
    pub presence: String,
    /// The built-in UV: `succeed` or `fail`.
    pub uv: String,
    /// How the virtual user picks among several discoverable credentials
    /// (`platform`, `newest`, `refuse`, `user:HANDLE,…`).
    pub account_choice: String,
    /// Whether a request waits for a touch.
    pub waiting_for_user: bool,
    /// How many credentials are stored.
    pub stored_credentials: Option<usize>,
    /// How many of them are discoverable.
    pub discoverable_credentials: Option<usize>,
    /// Whether a PIN is set.
    pub pin_set: Option<bool>,
    /// The counter mode (`per-credential`, `global`, `zero`, `frozen`,
    /// `random:MAX`).
    pub counter_mode: Option<String>,
    /// What counters do past 2^32-1: `saturate` or `wrap`.
    pub counter_overflow: Option<String>,
}

/// `POST /v1/devices`: start and plug in another key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddDevice {
    /// Its name.
    pub name: String,
    /// `fidosim run` flags without dashes (`{"transport": "udp"}`); the
    /// daemon reads them into its device settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
}

/// `POST /v1/devices/{device}/clone`: a second key with copies of the
/// first one's credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloneDevice {
    /// The clone's name.
    pub name: String,
    /// Credential IDs to copy; all stored credentials when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Vec<String>>,
    /// Added to each copied counter (negative: the clone lags behind).
    #[serde(default)]
    pub counter_offset: i64,
    /// A state file for the clone; in memory when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The clone's UDP address when the original uses UDP (default: a free
    /// loopback port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_listen: Option<String>,
}

/// `DELETE /v1/devices/{device}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// The device's name.
    pub removed: String,
}

/// `POST /v1/devices/{device}/replug`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replugged {
    /// The device's name.
    pub replugged: String,
}

/// `POST /v1/devices/{device}/reset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    /// The device's name.
    pub reset: String,
}
