//! Every size and limit the authenticator enforces or advertises, in one place
//! (CTAP 2.1 §6.4 getInfo, §6.1.2, §8).

/// Largest CTAP message the device accepts and advertises in getInfo
/// (`maxMsgSize`, 0x05). 7609 is the largest a CTAPHID message can carry
/// (CTAP 2.1 §11.2.4: 57 + 128 × 59 bytes).
pub const MAX_MSG_SIZE: usize = 7609;

/// Deepest nesting of CBOR arrays/maps accepted in a request. CTAP 2.1 §8:
/// "limited to at most four (4) levels of any combination of CBOR maps
/// and/or CBOR arrays"; deeper requests are CTAP2_ERR_INVALID_CBOR.
pub const MAX_CBOR_NESTING: usize = 4;

/// Most entries accepted in allowList / excludeList (`maxCredentialCountInList`, 0x07).
pub const MAX_CREDENTIAL_COUNT_IN_LIST: usize = 16;

/// Longest credential ID this authenticator issues or accepts
/// (`maxCredentialIdLength`, 0x08).
pub const MAX_CREDENTIAL_ID_LENGTH: usize = 128;

/// Most discoverable credentials the in-memory store keeps by default.
pub const DEFAULT_MAX_DISCOVERABLE: usize = 100_000;

/// User handles are at most 64 bytes (WebAuthn §5.4.3, CTAP 2.1 §6.1.2).
pub const MAX_USER_ID_LENGTH: usize = 64;

/// rp.name, user.name and user.displayName are truncated to this many bytes,
/// on a UTF-8 character boundary (CTAP 2.1 §6.1.2, "PublicKeyCredentialUserEntity").
pub const MAX_DISPLAY_FIELD: usize = 64;

/// Longest clientDataHash accepted. The spec names it only a byte string
/// and every client sends SHA-256 (32 bytes); longer is CTAP1_ERR_INVALID_LENGTH.
pub const MAX_CLIENT_DATA_HASH: usize = 64;

/// Longest RP ID accepted (a DNS name is at most 253 characters).
pub const MAX_RP_ID_LENGTH: usize = 256;

/// Longest text field accepted in a request before truncation applies.
pub const MAX_TEXT_FIELD: usize = 1024;

/// Most entries accepted in pubKeyCredParams.
pub const MAX_PUB_KEY_CRED_PARAMS: usize = 64;

/// Most entries accepted in a list of transports or attestation formats.
pub const MAX_SMALL_LIST: usize = 32;

/// Window in which authenticatorGetNextAssertion may follow
/// authenticatorGetAssertion (CTAP 2.1 §6.3: 30 seconds).
pub const GET_NEXT_ASSERTION_WINDOW_MS: u64 = 30_000;

/// authenticatorReset is allowed only this long after power-up when the
/// device requires a fresh power-up (CTAP 2.1 §6.6: 10 seconds).
pub const RESET_WINDOW_MS: u64 = 10_000;

/// The default uvRetries of the built-in UV method after a success or a
/// reset (an authenticator choice; fingerprint keys commonly allow 5).
pub const DEFAULT_UV_RETRIES: u8 = 5;

/// Failed built-in UV attempts allowed within one request before the
/// authenticator gives up (CTAP 2.1 §6.5.2.3 maxUvAttemptsForInternalRetries).
pub const MAX_UV_ATTEMPTS_FOR_INTERNAL_RETRIES: u8 = 1;

/// The minimum PIN length until authenticatorConfig raises it
/// (CTAP 2.1 §6.5.1: at least 4 Unicode code points).
pub const DEFAULT_MIN_PIN_LENGTH: u8 = 4;

/// Longest PIN, in UTF-8 bytes (CTAP 2.1 §6.5.5.5: 63 bytes).
pub const MAX_PIN_BYTES: usize = 63;

/// PIN mismatches in a row after which the device needs a power cycle
/// (CTAP 2.1 §6.5.5.7.1: 3).
pub const PIN_MISMATCHES_BEFORE_POWER_CYCLE: u8 = 3;

/// A pinUvAuthToken that was not used within this time of being issued
/// stops being usable (CTAP 2.1 §6.5.2.1 initial usage time limit, 30 s for
/// USB).
pub const TOKEN_INITIAL_USAGE_MS: u64 = 30_000;

/// A pinUvAuthToken expires this long after it was issued, used or not
/// (CTAP 2.1 §6.5.2.1 maximum usage time period, 10 minutes).
pub const TOKEN_MAX_USAGE_MS: u64 = 600_000;

/// The user-present flag of a pinUvAuthToken is cleared this long after it
/// was set (CTAP 2.1 §6.5.2.1 user present time limit, 30 s).
pub const TOKEN_USER_PRESENT_MS: u64 = 30_000;

/// Longest credBlob stored with a credential (CTAP 2.1 §12.2: at least 32).
pub const MAX_CRED_BLOB_LENGTH: usize = 32;

/// Largest serialized large-blob array (CTAP 2.1 §6.10: at least 1024).
pub const MAX_SERIALIZED_LARGE_BLOB_ARRAY: usize = 4096;

/// Most RP IDs setMinPINLength accepts (getInfo maxRPIDsForSetMinPINLength).
pub const MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH: usize = 8;
