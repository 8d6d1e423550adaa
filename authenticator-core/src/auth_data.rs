//! Authenticator data (WebAuthn §6.1) and attested credential data (§6.5.2).
//!
//! ```text
//! rpIdHash (32) | flags (1) | signCount (4, big-endian)
//!   [ aaguid (16) | credIdLen (2) | credId | COSE_Key ]   when AT
//!   [ extensions (CBOR map) ]                             when ED
//! ```

use crate::cbor::{self, Value};

/// Flag bits of authenticator data (WebAuthn §6.1).
pub mod flags {
    /// User Present (bit 0).
    pub const UP: u8 = 1 << 0;
    /// User Verified (bit 2).
    pub const UV: u8 = 1 << 2;
    /// Backup Eligibility (bit 3).
    pub const BE: u8 = 1 << 3;
    /// Backup State (bit 4).
    pub const BS: u8 = 1 << 4;
    /// Attested credential data included (bit 6).
    pub const AT: u8 = 1 << 6;
    /// Extension data included (bit 7).
    pub const ED: u8 = 1 << 7;
}

/// Attested credential data (WebAuthn §6.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredential<'a> {
    /// The AAGUID.
    pub aaguid: [u8; 16],
    /// The credential ID.
    pub credential_id: &'a [u8],
    /// The canonical COSE_Key bytes of the public key.
    pub cose_public_key: &'a [u8],
}

/// The parts of authenticator data; AT and ED are derived from what is present.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthData<'a> {
    /// SHA-256 of the RP ID.
    pub rp_id_hash: [u8; 32],
    /// UP, UV, BE and BS (AT and ED are set by [`AuthData::to_bytes`]).
    pub flags: u8,
    /// The signature counter.
    pub sign_count: u32,
    /// Attested credential data (makeCredential only).
    pub attested: Option<AttestedCredential<'a>>,
    /// Extension outputs, a CBOR map; omitted when empty.
    pub extensions: Option<Value>,
}

impl AuthData<'_> {
    /// The serialized authenticator data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut flags = self.flags & (flags::UP | flags::UV | flags::BE | flags::BS);
        let ext = self
            .extensions
            .as_ref()
            .filter(|e| !matches!(e, Value::Map(m) if m.is_empty()))
            .map(cbor::encode);
        if self.attested.is_some() {
            flags |= flags::AT;
        }
        if ext.is_some() {
            flags |= flags::ED;
        }
        let mut out = Vec::with_capacity(37 + 18 + 128 + 80);
        out.extend_from_slice(&self.rp_id_hash);
        out.push(flags);
        out.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some(a) = &self.attested {
            out.extend_from_slice(&a.aaguid);
            // Credential IDs are at most MAX_CREDENTIAL_ID_LENGTH (128) bytes.
            let len = u16::try_from(a.credential_id.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(a.credential_id);
            out.extend_from_slice(a.cose_public_key);
        }
        if let Some(ext) = ext {
            out.extend_from_slice(&ext);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn layout() {
        let a = AuthData {
            rp_id_hash: [0xAA; 32],
            flags: flags::UP | flags::AT, // AT is derived, not taken
            sign_count: 0x01020304,
            attested: None,
            extensions: Some(Value::Map(vec![])),
        };
        let b = a.to_bytes();
        assert_eq!(b.len(), 37);
        assert_eq!(b[32], flags::UP);
        assert_eq!(&b[33..], &[1, 2, 3, 4]);

        let a = AuthData {
            attested: Some(AttestedCredential {
                aaguid: [0x11; 16],
                credential_id: &[9, 9, 9],
                cose_public_key: &[0xa0],
            }),
            extensions: Some(Value::Map(vec![(Value::from("x"), Value::from(true))])),
            ..a
        };
        let b = a.to_bytes();
        assert_eq!(b[32], flags::UP | flags::AT | flags::ED);
        assert_eq!(&b[37..53], &[0x11; 16]);
        assert_eq!(&b[53..55], &[0, 3]);
        assert_eq!(&b[55..58], &[9, 9, 9]);
        assert_eq!(&b[58..], &[0xa0, 0xa1, 0x61, b'x', 0xf5]);
    }
}
