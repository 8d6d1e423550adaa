//! `/v1/devices/{device}/credentials`: stored credentials, in the JSON
//! shape of Chrome's DevTools virtual authenticator
//! (`WebAuthn.Credential`: binary fields in standard base64, the private
//! key as PKCS#8), so credentials move between Chrome and fidosim both
//! ways. fidosim adds `rpName`, `credProtect` and `credBlob` when they are
//! set; Chrome ignores them.

use serde::{Deserialize, Serialize};

/// One credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// The credential ID, base64.
    pub credential_id: String,
    /// Whether it is discoverable.
    pub is_resident_credential: bool,
    /// Its RP ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_id: Option<String>,
    /// Its private key: PKCS#8 DER, base64.
    pub private_key: String,
    /// The user handle, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_handle: Option<String>,
    /// Its signature counter.
    #[serde(default)]
    pub sign_count: u32,
    /// Its large blob, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_blob: Option<String>,
    /// The BE flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_eligibility: Option<bool>,
    /// The BS flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_state: Option<bool>,
    /// The user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_display_name: Option<String>,
    /// The RP's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_name: Option<String>,
    /// The credProtect level (1 to 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_protect: Option<u8>,
    /// The credBlob, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_blob: Option<String>,
    /// Its place in the key's order of creation, larger = newer: the order
    /// in which getAssertion offers discoverable credentials (CTAP 2.1
    /// §6.2.2, newest first). Always given on output. On import it only
    /// orders the imported credentials among themselves: the key gives
    /// them new numbers, after every credential it holds already (see
    /// docs/control-api.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_order: Option<u64>,
}

/// `POST …/credentials`: one credential, or several (all or nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CredentialImport {
    /// One.
    One(Box<Credential>),
    /// Several.
    Many(Vec<Credential>),
}

/// The answer to [`CredentialImport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// The imported IDs, base64, in the order they were stored (oldest
    /// first: by `creationOrder` where given, then in the request's order).
    pub imported: Vec<String>,
}

/// `DELETE …/credentials/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// The ID, base64.
    pub deleted: String,
}

/// `DELETE …/credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleared {
    /// How many were deleted.
    pub deleted: usize,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// What went wrong and what to do.
    pub error: String,
}
