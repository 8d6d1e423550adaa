//! CTAP status codes (CTAP 2.1 §8.2.1 "Status codes").
//!
//! [`StatusCode`] is the single public error type of the authenticator: every
//! internal error is converted into one of these in exactly one place, and it
//! is what goes on the wire as the first byte of a CTAP2 response. The enum,
//! the spec names and the byte mapping are generated from one table below.

macro_rules! status_codes {
    ($( $(#[$doc:meta])* $variant:ident = $value:literal, $name:literal; )*) => {
        /// A CTAP status code as sent in the first byte of every CTAP2 response.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum StatusCode {
            $( $(#[$doc])* $variant = $value, )*
        }

        impl StatusCode {
            /// The spec's name for this code, for logs and tables.
            pub const fn name(self) -> &'static str {
                match self { $( Self::$variant => $name, )* }
            }

            /// The code for a byte, if the spec names it.
            pub const fn from_known(b: u8) -> Option<Self> {
                match b { $( $value => Some(Self::$variant), )* _ => None }
            }
        }

        #[cfg(test)]
        const ALL: &[StatusCode] = &[$(StatusCode::$variant),*];
    };
}

status_codes! {
    /// CTAP1_ERR_SUCCESS / CTAP2_OK: successful response.
    Success = 0x00, "CTAP2_OK";
    /// CTAP1_ERR_INVALID_COMMAND: the command is not a valid CTAP command.
    InvalidCommand = 0x01, "CTAP1_ERR_INVALID_COMMAND";
    /// CTAP1_ERR_INVALID_PARAMETER: the command included an invalid parameter.
    InvalidParameter = 0x02, "CTAP1_ERR_INVALID_PARAMETER";
    /// CTAP1_ERR_INVALID_LENGTH: invalid message or item length.
    InvalidLength = 0x03, "CTAP1_ERR_INVALID_LENGTH";
    /// CTAP1_ERR_INVALID_SEQ: invalid message sequencing.
    InvalidSeq = 0x04, "CTAP1_ERR_INVALID_SEQ";
    /// CTAP1_ERR_TIMEOUT: message timed out.
    Timeout = 0x05, "CTAP1_ERR_TIMEOUT";
    /// CTAP1_ERR_CHANNEL_BUSY: channel busy.
    ChannelBusy = 0x06, "CTAP1_ERR_CHANNEL_BUSY";
    /// CTAP1_ERR_LOCK_REQUIRED: command requires channel lock.
    LockRequired = 0x0A, "CTAP1_ERR_LOCK_REQUIRED";
    /// CTAP1_ERR_INVALID_CHANNEL: command not allowed on this cid.
    InvalidChannel = 0x0B, "CTAP1_ERR_INVALID_CHANNEL";
    /// CTAP2_ERR_CBOR_UNEXPECTED_TYPE: invalid/unexpected CBOR type.
    CborUnexpectedType = 0x11, "CTAP2_ERR_CBOR_UNEXPECTED_TYPE";
    /// CTAP2_ERR_INVALID_CBOR: error when parsing CBOR.
    InvalidCbor = 0x12, "CTAP2_ERR_INVALID_CBOR";
    /// CTAP2_ERR_MISSING_PARAMETER: a required parameter is missing.
    MissingParameter = 0x14, "CTAP2_ERR_MISSING_PARAMETER";
    /// CTAP2_ERR_LIMIT_EXCEEDED: a limit for the number of items was exceeded.
    LimitExceeded = 0x15, "CTAP2_ERR_LIMIT_EXCEEDED";
    /// CTAP2_ERR_FP_DATABASE_FULL: fingerprint database is full.
    FpDatabaseFull = 0x17, "CTAP2_ERR_FP_DATABASE_FULL";
    /// CTAP2_ERR_LARGE_BLOB_STORAGE_FULL: large blob storage is full.
    LargeBlobStorageFull = 0x18, "CTAP2_ERR_LARGE_BLOB_STORAGE_FULL";
    /// CTAP2_ERR_CREDENTIAL_EXCLUDED: valid credential found in the exclude list.
    CredentialExcluded = 0x19, "CTAP2_ERR_CREDENTIAL_EXCLUDED";
    /// CTAP2_ERR_PROCESSING: processing (lengthy operation in progress).
    Processing = 0x21, "CTAP2_ERR_PROCESSING";
    /// CTAP2_ERR_INVALID_CREDENTIAL: credential not valid for the authenticator.
    InvalidCredential = 0x22, "CTAP2_ERR_INVALID_CREDENTIAL";
    /// CTAP2_ERR_USER_ACTION_PENDING: authentication is waiting for user interaction.
    UserActionPending = 0x23, "CTAP2_ERR_USER_ACTION_PENDING";
    /// CTAP2_ERR_OPERATION_PENDING: processing, lengthy operation is in progress.
    OperationPending = 0x24, "CTAP2_ERR_OPERATION_PENDING";
    /// CTAP2_ERR_NO_OPERATIONS: no request is pending.
    NoOperations = 0x25, "CTAP2_ERR_NO_OPERATIONS";
    /// CTAP2_ERR_UNSUPPORTED_ALGORITHM: the requested algorithm is not supported.
    UnsupportedAlgorithm = 0x26, "CTAP2_ERR_UNSUPPORTED_ALGORITHM";
    /// CTAP2_ERR_OPERATION_DENIED: not authorized for the requested operation.
    OperationDenied = 0x27, "CTAP2_ERR_OPERATION_DENIED";
    /// CTAP2_ERR_KEY_STORE_FULL: internal key storage is full.
    KeyStoreFull = 0x28, "CTAP2_ERR_KEY_STORE_FULL";
    /// CTAP2_ERR_UNSUPPORTED_OPTION: unsupported option.
    UnsupportedOption = 0x2B, "CTAP2_ERR_UNSUPPORTED_OPTION";
    /// CTAP2_ERR_INVALID_OPTION: not a valid option for the current operation.
    InvalidOption = 0x2C, "CTAP2_ERR_INVALID_OPTION";
    /// CTAP2_ERR_KEEPALIVE_CANCEL: pending keep-alive was cancelled.
    KeepaliveCancel = 0x2D, "CTAP2_ERR_KEEPALIVE_CANCEL";
    /// CTAP2_ERR_NO_CREDENTIALS: no valid credentials provided.
    NoCredentials = 0x2E, "CTAP2_ERR_NO_CREDENTIALS";
    /// CTAP2_ERR_USER_ACTION_TIMEOUT: a user action timeout occurred.
    UserActionTimeout = 0x2F, "CTAP2_ERR_USER_ACTION_TIMEOUT";
    /// CTAP2_ERR_NOT_ALLOWED: continuation command (e.g. getNextAssertion) not allowed.
    NotAllowed = 0x30, "CTAP2_ERR_NOT_ALLOWED";
    /// CTAP2_ERR_PIN_INVALID: PIN invalid.
    PinInvalid = 0x31, "CTAP2_ERR_PIN_INVALID";
    /// CTAP2_ERR_PIN_BLOCKED: PIN blocked.
    PinBlocked = 0x32, "CTAP2_ERR_PIN_BLOCKED";
    /// CTAP2_ERR_PIN_AUTH_INVALID: pinUvAuthParam verification failed.
    PinAuthInvalid = 0x33, "CTAP2_ERR_PIN_AUTH_INVALID";
    /// CTAP2_ERR_PIN_AUTH_BLOCKED: PIN authentication blocked until power cycle.
    PinAuthBlocked = 0x34, "CTAP2_ERR_PIN_AUTH_BLOCKED";
    /// CTAP2_ERR_PIN_NOT_SET: no PIN has been set.
    PinNotSet = 0x35, "CTAP2_ERR_PIN_NOT_SET";
    /// CTAP2_ERR_PUAT_REQUIRED: a pinUvAuthToken is required for the operation.
    PuatRequired = 0x36, "CTAP2_ERR_PUAT_REQUIRED";
    /// CTAP2_ERR_PIN_POLICY_VIOLATION: PIN policy violation.
    PinPolicyViolation = 0x37, "CTAP2_ERR_PIN_POLICY_VIOLATION";
    /// Reserved for future use (formerly CTAP2_ERR_PIN_TOKEN_EXPIRED).
    Reserved38 = 0x38, "RESERVED_0x38";
    /// CTAP2_ERR_REQUEST_TOO_LARGE: request too large for the authenticator's memory.
    RequestTooLarge = 0x39, "CTAP2_ERR_REQUEST_TOO_LARGE";
    /// CTAP2_ERR_ACTION_TIMEOUT: the current operation has timed out.
    ActionTimeout = 0x3A, "CTAP2_ERR_ACTION_TIMEOUT";
    /// CTAP2_ERR_UP_REQUIRED: user presence is required for the operation.
    UpRequired = 0x3B, "CTAP2_ERR_UP_REQUIRED";
    /// CTAP2_ERR_UV_BLOCKED: built-in user verification is disabled.
    UvBlocked = 0x3C, "CTAP2_ERR_UV_BLOCKED";
    /// CTAP2_ERR_INTEGRITY_FAILURE: a checksum did not match.
    IntegrityFailure = 0x3D, "CTAP2_ERR_INTEGRITY_FAILURE";
    /// CTAP2_ERR_INVALID_SUBCOMMAND: the subcommand is invalid or not implemented.
    InvalidSubcommand = 0x3E, "CTAP2_ERR_INVALID_SUBCOMMAND";
    /// CTAP2_ERR_UV_INVALID: built-in user verification unsuccessful; retry.
    UvInvalid = 0x3F, "CTAP2_ERR_UV_INVALID";
    /// CTAP2_ERR_UNAUTHORIZED_PERMISSION: an unauthorized permission was requested.
    UnauthorizedPermission = 0x40, "CTAP2_ERR_UNAUTHORIZED_PERMISSION";
    /// CTAP1_ERR_OTHER: other unspecified error.
    Other = 0x7F, "CTAP1_ERR_OTHER";
    /// CTAP2_ERR_SPEC_LAST: CTAP 2 spec last error.
    SpecLast = 0xDF, "CTAP2_ERR_SPEC_LAST";
    /// CTAP2_ERR_EXTENSION_FIRST: first extension-specific error.
    ExtensionFirst = 0xE0, "CTAP2_ERR_EXTENSION_FIRST";
    /// CTAP2_ERR_EXTENSION_LAST: last extension-specific error.
    ExtensionLast = 0xEF, "CTAP2_ERR_EXTENSION_LAST";
    /// CTAP2_ERR_VENDOR_FIRST: first vendor-specific error.
    VendorFirst = 0xF0, "CTAP2_ERR_VENDOR_FIRST";
    /// CTAP2_ERR_VENDOR_LAST: last vendor-specific error.
    VendorLast = 0xFF, "CTAP2_ERR_VENDOR_LAST";
}

/// A status byte received from the wire: a code the spec names, or any other
/// byte (unassigned, extension- or vendor-specific) kept as received.
///
/// `From<u8>` is total, so a client never loses information about an
/// authenticator's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireStatus {
    /// A code named by CTAP 2.1 §8.2.1.
    Known(StatusCode),
    /// Any other byte; see [`WireStatus::range`].
    Unknown(u8),
}

impl WireStatus {
    /// The byte on the wire.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Known(c) => c as u8,
            Self::Unknown(b) => b,
        }
    }

    /// The spec's range name for an unnamed byte.
    pub const fn range(self) -> &'static str {
        match self.to_u8() {
            0xE0..=0xEF => "extension",
            0xF0..=0xFF => "vendor",
            _ => match self {
                Self::Known(_) => "spec",
                Self::Unknown(_) => "unassigned",
            },
        }
    }
}

impl From<u8> for WireStatus {
    fn from(b: u8) -> Self {
        StatusCode::from_known(b).map_or(Self::Unknown(b), Self::Known)
    }
}

impl From<StatusCode> for u8 {
    fn from(c: StatusCode) -> u8 {
        c as u8
    }
}

impl core::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (0x{:02X})", self.name(), *self as u8)
    }
}

impl std::error::Error for StatusCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_mapping_is_total_and_round_trips() {
        for b in 0..=255u8 {
            assert_eq!(WireStatus::from(b).to_u8(), b);
        }
        for c in ALL {
            assert_eq!(StatusCode::from_known(*c as u8), Some(*c));
        }
    }

    #[test]
    fn ranges_are_kept() {
        assert_eq!(WireStatus::from(0xF3), WireStatus::Unknown(0xF3));
        assert_eq!(WireStatus::from(0xF3).range(), "vendor");
        assert_eq!(WireStatus::from(0xE1).range(), "extension");
        assert_eq!(WireStatus::from(0x50).range(), "unassigned");
        assert_eq!(
            WireStatus::from(0x2E),
            WireStatus::Known(StatusCode::NoCredentials)
        );
        assert_eq!(
            StatusCode::NoCredentials.to_string(),
            "CTAP2_ERR_NO_CREDENTIALS (0x2E)"
        );
    }
}
