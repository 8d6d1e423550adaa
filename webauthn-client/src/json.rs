//! The WebAuthn Level 3 JSON forms: PublicKeyCredentialCreationOptionsJSON
//! and PublicKeyCredentialRequestOptionsJSON in (§5.1.1 `parseCreationOptionsFromJSON`,
//! §5.1.2), RegistrationResponseJSON and AuthenticationResponseJSON out
//! (§5.1 `toJSON()`). Binary fields are base64url without padding.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ClientError;

/// base64url without padding, as WebAuthn's JSON forms use.
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url (padding tolerated), for a named field.
pub fn unb64url(field: &str, s: &str) -> Result<Vec<u8>, ClientError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| ClientError::Type(format!("{field}: not base64url")))
}

/// `PublicKeyCredentialRpEntity`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpEntity {
    /// The RP ID; the origin's effective domain when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// The RP's name.
    pub name: String,
}

/// `PublicKeyCredentialUserEntityJSON`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    /// The user handle, base64url.
    pub id: String,
    /// The account name.
    pub name: String,
    /// The display name.
    pub display_name: String,
}

/// `PublicKeyCredentialParameters`.
#[derive(Debug, Clone, Deserialize)]
pub struct CredParam {
    /// "public-key".
    #[serde(rename = "type")]
    pub kind: String,
    /// A COSE algorithm identifier.
    pub alg: i64,
}

/// `PublicKeyCredentialDescriptorJSON`.
#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    /// "public-key".
    #[serde(rename = "type")]
    pub kind: String,
    /// The credential ID, base64url.
    pub id: String,
    /// Transport hints (ignored: fidosim is one USB key).
    #[serde(default)]
    pub transports: Vec<String>,
}

/// `AuthenticatorSelectionCriteria`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    /// "platform" or "cross-platform".
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
    /// "discouraged", "preferred" or "required".
    #[serde(default)]
    pub resident_key: Option<String>,
    /// The Level 1 form of residentKey "required".
    #[serde(default)]
    pub require_resident_key: bool,
    /// "discouraged", "preferred" or "required".
    #[serde(default)]
    pub user_verification: Option<String>,
}

/// `PublicKeyCredentialCreationOptionsJSON`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptions {
    /// The RP.
    pub rp: RpEntity,
    /// The user account.
    pub user: UserEntity,
    /// The challenge, base64url.
    pub challenge: String,
    /// Acceptable algorithms, in the RP's preference order.
    #[serde(default)]
    pub pub_key_cred_params: Vec<CredParam>,
    /// Milliseconds (a hint; the ceremony does not wait for a person).
    #[serde(default)]
    pub timeout: Option<u64>,
    /// Credentials the RP already has for this user.
    #[serde(default)]
    pub exclude_credentials: Vec<Descriptor>,
    /// What kind of authenticator the RP wants.
    #[serde(default)]
    pub authenticator_selection: Option<Selection>,
    /// "none", "indirect", "direct" or "enterprise".
    #[serde(default)]
    pub attestation: Option<String>,
    /// Client extension inputs.
    #[serde(default)]
    pub extensions: Option<Value>,
}

/// `PublicKeyCredentialRequestOptionsJSON`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptions {
    /// The challenge, base64url.
    pub challenge: String,
    /// Milliseconds (a hint).
    #[serde(default)]
    pub timeout: Option<u64>,
    /// The RP ID; the origin's effective domain when absent.
    #[serde(default)]
    pub rp_id: Option<String>,
    /// Acceptable credentials; empty for a discoverable credential.
    #[serde(default)]
    pub allow_credentials: Vec<Descriptor>,
    /// "discouraged", "preferred" or "required".
    #[serde(default)]
    pub user_verification: Option<String>,
    /// Client extension inputs.
    #[serde(default)]
    pub extensions: Option<Value>,
}

/// Options JSON as RPs send it: the options object itself, or wrapped as
/// `{"publicKey": {...}}` (what `navigator.credentials.create()` takes).
pub fn parse_options<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, ClientError> {
    let mut v: Value = serde_json::from_str(text)
        .map_err(|e| ClientError::Type(format!("the options are not JSON: {e}")))?;
    if let Some(inner) = v.get_mut("publicKey") {
        v = inner.take();
    }
    serde_json::from_value(v).map_err(|e| ClientError::Type(format!("the options: {e}")))
}

/// `AuthenticatorAttestationResponseJSON`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponse {
    /// The clientDataJSON bytes, base64url.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// The authenticator data, base64url.
    pub authenticator_data: String,
    /// The transports of the authenticator.
    pub transports: Vec<String>,
    /// The credential public key as DER SubjectPublicKeyInfo, base64url.
    pub public_key: String,
    /// Its COSE algorithm.
    pub public_key_algorithm: i64,
    /// The attestation object, base64url.
    pub attestation_object: String,
}

/// `RegistrationResponseJSON`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponse {
    /// The credential ID, base64url.
    pub id: String,
    /// The same.
    pub raw_id: String,
    /// The response.
    pub response: AttestationResponse,
    /// "cross-platform".
    pub authenticator_attachment: String,
    /// Client extension outputs.
    pub client_extension_results: Value,
    /// "public-key".
    #[serde(rename = "type")]
    pub kind: String,
}

/// `AuthenticatorAssertionResponseJSON`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponse {
    /// The clientDataJSON bytes, base64url.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// The authenticator data, base64url.
    pub authenticator_data: String,
    /// The signature, base64url.
    pub signature: String,
    /// The user handle, base64url (discoverable credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_handle: Option<String>,
}

/// `AuthenticationResponseJSON`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponse {
    /// The credential ID, base64url.
    pub id: String,
    /// The same.
    pub raw_id: String,
    /// The response.
    pub response: AssertionResponse,
    /// "cross-platform".
    pub authenticator_attachment: String,
    /// Client extension outputs.
    pub client_extension_results: Value,
    /// "public-key".
    #[serde(rename = "type")]
    pub kind: String,
}
