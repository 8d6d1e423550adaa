//! The device's attestation identity: a self-signed P-256 attestation CA and
//! a batch (leaf) certificate issued by it, used for WebAuthn "packed"
//! attestation statements with an `x5c` chain (WebAuthn §8.2).
//!
//! The batch certificate follows WebAuthn §8.2.1 "Packed Attestation
//! Statement Certificate Requirements":
//!
//! * X.509 version 3;
//! * subject `C` (ISO 3166 country), `O` (authenticator vendor), `OU` set to
//!   the literal string "Authenticator Attestation", and `CN`;
//! * basicConstraints with `CA=false`;
//! * the extension id-fido-gen-ce-aaguid (OID 1.3.6.1.4.1.45724.1.1.4),
//!   NOT marked critical, whose value is an OCTET STRING holding the AAGUID.
//!
//! The certificate profile otherwise follows RFC 5280. The module is sans-IO:
//! randomness (keys, serial numbers) comes from a caller-supplied
//! [`CryptoRng`], ECDSA signatures are deterministic (RFC 6979) and
//! validity dates are fixed constants, so the same seeded RNG always yields
//! byte-identical certificates.

use core::fmt;

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use rand_core::CryptoRng;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::der::asn1::{
    Any, BitString, GeneralizedTime, ObjectIdentifier, OctetStringRef, UtcTime,
};
use x509_cert::der::oid::db::rfc4519;
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::pem::LineEnding;
use x509_cert::der::{
    DateTime, Decode, Encode, EncodePem, EncodeValue, FixedTag, Length, Tag, Writer,
};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::{Criticality, Extension, ToExtension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef,
};
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;
use zeroize::Zeroizing;

/// id-fido-gen-ce-aaguid (WebAuthn §8.2.1, FIDO Metadata registry).
pub const ID_FIDO_GEN_CE_AAGUID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.45724.1.1.4");

/// The subject `OU` WebAuthn §8.2.1 requires of a packed attestation
/// certificate, literally.
pub const BATCH_ORGANIZATIONAL_UNIT: &str = "Authenticator Attestation";

/// The subject `C` of both certificates (ISO 3166 alpha-2).
pub const COUNTRY: &str = "US";

/// The subject `CN` of the attestation CA certificate.
pub const CA_COMMON_NAME: &str = "Attestation CA";

/// Upper bound on the length of `O` and `CN` (RFC 5280 Appendix A.1:
/// `ub-organization-name` and `ub-common-name` are both 64).
pub const MAX_NAME_LEN: usize = 64;

/// The stored form of an [`AttestationIdentity`]: (CA key, CA certificate
/// DER, batch key, batch certificate DER); keys are 32-byte big-endian P-256
/// scalars, zeroized on drop.
pub type IdentityParts = (Zeroizing<[u8; 32]>, Vec<u8>, Zeroizing<[u8; 32]>, Vec<u8>);

/// Errors while building or loading certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertError {
    /// A DER encoding or decoding step failed (including malformed
    /// certificate DER given to [`AttestationIdentity::from_parts`]).
    Encoding,
    /// The signer failed to produce a certificate signature.
    Signing,
    /// An organization or common name was empty or longer than
    /// [`MAX_NAME_LEN`] characters.
    InvalidName,
    /// A private key was not 32 bytes or not a valid nonzero P-256 scalar.
    InvalidKey,
    /// A private key does not belong to the public key of its certificate.
    KeyMismatch,
    /// The batch certificate was not issued by the CA certificate (issuer
    /// name differs or the signature does not verify).
    ChainMismatch,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Encoding => "certificate DER encoding failed",
            Self::Signing => "certificate signing failed",
            Self::InvalidName => "invalid certificate subject name",
            Self::InvalidKey => "invalid P-256 private key",
            Self::KeyMismatch => "private key does not match certificate",
            Self::ChainMismatch => "batch certificate not issued by attestation CA",
        })
    }
}

impl std::error::Error for CertError {}

impl From<x509_cert::der::Error> for CertError {
    fn from(_: x509_cert::der::Error) -> Self {
        Self::Encoding
    }
}

impl From<x509_cert::builder::Error> for CertError {
    fn from(err: x509_cert::builder::Error) -> Self {
        match err {
            x509_cert::builder::Error::Signature(_) => Self::Signing,
            _ => Self::Encoding,
        }
    }
}

/// The device's attestation identity: a self-signed attestation CA and a
/// batch (leaf) certificate signed by it.
///
/// Private keys are zeroized on drop (by [`SigningKey`]) and never printed
/// by the [`fmt::Debug`] implementation.
#[derive(Clone)]
pub struct AttestationIdentity {
    ca_key: SigningKey,
    ca_cert_der: Vec<u8>,
    ca_pem: String,
    batch_key: SigningKey,
    batch_cert_der: Vec<u8>,
}

impl AttestationIdentity {
    /// Generates a CA and a batch certificate.
    ///
    /// The CA (P-256, self-signed) has subject `C=US, O=<organization>,
    /// CN=Attestation CA` and the extensions subjectKeyIdentifier,
    /// basicConstraints `CA=true` (critical, RFC 5280 §4.2.1.9) and keyUsage
    /// keyCertSign + cRLSign (critical, RFC 5280 §4.2.1.3).
    ///
    /// The batch certificate meets WebAuthn §8.2.1: X.509 v3, subject
    /// `C=US, O=<organization>, OU=Authenticator Attestation,
    /// CN=<common_name>`, basicConstraints `CA=false`, the non-critical
    /// id-fido-gen-ce-aaguid extension carrying `aaguid`, and an
    /// authorityKeyIdentifier equal to the CA's subjectKeyIdentifier. The
    /// x509-cert leaf profile also adds subjectKeyIdentifier and a critical
    /// keyUsage of digitalSignature + nonRepudiation.
    ///
    /// Both certificates are signed with ecdsa-with-SHA256, are valid from
    /// 2024-01-01T00:00:00Z and have no well-defined expiration (notAfter
    /// 99991231235959Z, RFC 5280 §4.1.2.5). Serial numbers are 16 random
    /// bytes with the top bit cleared (positive, RFC 5280 §4.1.2.2).
    ///
    /// RNG use, in order: CA key, CA serial, batch key, batch serial.
    pub fn generate(
        rng: &mut impl CryptoRng,
        aaguid: [u8; 16],
        organization: &str,
        common_name: &str,
    ) -> Result<Self, CertError> {
        check_name(organization)?;
        check_name(common_name)?;

        let ca_key = SigningKey::generate_from_rng(rng);
        let ca_serial = random_serial(rng)?;
        let batch_key = SigningKey::generate_from_rng(rng);
        let batch_serial = random_serial(rng)?;

        let ca_subject = build_name(&[
            (rfc4519::COUNTRY_NAME, Tag::PrintableString, COUNTRY),
            (rfc4519::ORGANIZATION_NAME, Tag::Utf8String, organization),
            (rfc4519::COMMON_NAME, Tag::Utf8String, CA_COMMON_NAME),
        ])?;
        let batch_subject = build_name(&[
            (rfc4519::COUNTRY_NAME, Tag::PrintableString, COUNTRY),
            (rfc4519::ORGANIZATION_NAME, Tag::Utf8String, organization),
            (
                rfc4519::ORGANIZATIONAL_UNIT_NAME,
                Tag::Utf8String,
                BATCH_ORGANIZATIONAL_UNIT,
            ),
            (rfc4519::COMMON_NAME, Tag::Utf8String, common_name),
        ])?;

        // Self-signed CA: SKI, basicConstraints CA=true (critical) and
        // keyUsage keyCertSign|cRLSign (critical).
        let ca_cert = CertificateBuilder::new(
            Profile::Root {
                subject: ca_subject.clone(),
            },
            ca_serial,
            fixed_validity()?,
            spki_of(&ca_key)?,
        )?
        .build::<_, DerSignature>(&ca_key)?;
        let ca_cert_der = ca_cert.to_der()?;

        // Batch certificate: SKI, AKI (SHA-1 of the CA's subjectPublicKey,
        // the same method the CA's SKI uses, RFC 5280 §4.2.1.1/§4.2.1.2),
        // basicConstraints CA=false, keyUsage digitalSignature|
        // nonRepudiation, and the AAGUID extension (WebAuthn §8.2.1).
        let batch_cert = CertificateBuilder::new(
            Profile::Leaf {
                issuer: ca_subject,
                subject: batch_subject,
                aaguid: Some(aaguid),
                ca: false,
            },
            batch_serial,
            fixed_validity()?,
            spki_of(&batch_key)?,
        )?
        .build::<_, DerSignature>(&ca_key)?;
        let batch_cert_der = batch_cert.to_der()?;

        let ca_pem = ca_cert.to_pem(LineEnding::LF)?;
        Ok(Self {
            ca_key,
            ca_cert_der,
            ca_pem,
            batch_key,
            batch_cert_der,
        })
    }

    /// Rebuilds an identity from stored parts (see [`Self::to_parts`]).
    ///
    /// Each key must be a 32-byte big-endian P-256 scalar whose public key
    /// equals the subjectPublicKeyInfo of its certificate, and the batch
    /// certificate must name the CA as issuer and carry a valid CA signature.
    pub fn from_parts(
        ca_key: &[u8],
        ca_cert_der: Vec<u8>,
        batch_key: &[u8],
        batch_cert_der: Vec<u8>,
    ) -> Result<Self, CertError> {
        let ca_key = signing_key_from_bytes(ca_key)?;
        let batch_key = signing_key_from_bytes(batch_key)?;
        let ca_cert = Certificate::from_der(&ca_cert_der)?;
        let batch_cert = Certificate::from_der(&batch_cert_der)?;

        if *ca_cert.tbs_certificate().subject_public_key_info() != spki_of(&ca_key)?
            || *batch_cert.tbs_certificate().subject_public_key_info() != spki_of(&batch_key)?
        {
            return Err(CertError::KeyMismatch);
        }
        if batch_cert.tbs_certificate().issuer() != ca_cert.tbs_certificate().subject() {
            return Err(CertError::ChainMismatch);
        }
        verify_cert_signature(&batch_cert, ca_key.verifying_key())
            .map_err(|_| CertError::ChainMismatch)?;

        let ca_pem = ca_cert.to_pem(LineEnding::LF)?;
        Ok(Self {
            ca_key,
            ca_cert_der,
            ca_pem,
            batch_key,
            batch_cert_der,
        })
    }

    /// The parts, for storage: (CA key, CA certificate DER, batch key, batch
    /// certificate DER). Keys are 32-byte big-endian P-256 scalars.
    pub fn to_parts(&self) -> IdentityParts {
        (
            scalar_bytes(&self.ca_key),
            self.ca_cert_der.clone(),
            scalar_bytes(&self.batch_key),
            self.batch_cert_der.clone(),
        )
    }

    /// The DER encoding of the self-signed attestation CA certificate.
    pub fn ca_cert_der(&self) -> &[u8] {
        &self.ca_cert_der
    }

    /// The DER encoding of the batch (attestation) certificate; the first
    /// element of a packed attestation statement's `x5c` (WebAuthn §8.2).
    pub fn batch_cert_der(&self) -> &[u8] {
        &self.batch_cert_der
    }

    /// The AAGUID the batch certificate's id-fido-gen-ce-aaguid extension
    /// names (WebAuthn §8.2.1), if it has a well-formed one.
    pub fn batch_aaguid(&self) -> Option<[u8; 16]> {
        let cert = Certificate::from_der(&self.batch_cert_der).ok()?;
        let ext = cert
            .tbs_certificate()
            .extensions()?
            .iter()
            .find(|e| e.extn_id == ID_FIDO_GEN_CE_AAGUID)?;
        let inner = x509_cert::der::asn1::OctetString::from_der(ext.extn_value.as_bytes()).ok()?;
        inner.as_bytes().try_into().ok()
    }

    /// The CA certificate as PEM ("-----BEGIN CERTIFICATE-----", LF line
    /// endings), for a relying party's trust store.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Signs `msg` with the batch key: an ASN.1 DER ECDSA P-256/SHA-256
    /// signature, as a packed attestation statement's `sig` needs
    /// (WebAuthn §8.2, COSE alg −7).
    ///
    /// Signing is deterministic (RFC 6979). It only fails if the derived
    /// nonce yields r = 0 or s = 0, which for a valid nonzero key happens
    /// with probability about 2^-256; in that case the `signature` crate's
    /// `Signer::sign` panics.
    pub fn sign_batch(&self, msg: &[u8]) -> Vec<u8> {
        let sig: DerSignature = self.batch_key.sign(msg);
        sig.as_bytes().to_vec()
    }
}

impl AttestationIdentity {
    /// Issues a certificate for `key` under this identity's CA, saying what
    /// `spec` says: with [`LeafSpec::attestation`] a certificate that meets
    /// WebAuthn §8.2.1 like the batch certificate does, and with a field
    /// changed one that a relying party must refuse (an attestation lab:
    /// `fidosim rp-check`). Extensions as for the batch certificate; the
    /// AAGUID extension only when `spec.aaguid` is given.
    pub fn issue_leaf(
        &self,
        rng: &mut impl CryptoRng,
        key: LeafKey<'_>,
        spec: &LeafSpec<'_>,
    ) -> Result<Vec<u8>, CertError> {
        check_name(spec.organization)?;
        check_name(spec.common_name)?;
        check_name(spec.organizational_unit)?;
        let ca_cert = Certificate::from_der(&self.ca_cert_der)?;
        let subject = build_name(&[
            (rfc4519::COUNTRY_NAME, Tag::PrintableString, COUNTRY),
            (
                rfc4519::ORGANIZATION_NAME,
                Tag::Utf8String,
                spec.organization,
            ),
            (
                rfc4519::ORGANIZATIONAL_UNIT_NAME,
                Tag::Utf8String,
                spec.organizational_unit,
            ),
            (rfc4519::COMMON_NAME, Tag::Utf8String, spec.common_name),
        ])?;
        let validity = Validity::new(
            date_time(spec.not_before)?,
            match spec.not_after {
                Some(day) => date_time(day)?,
                None => Time::INFINITY,
            },
        );
        let cert = CertificateBuilder::new(
            Profile::Leaf {
                issuer: ca_cert.tbs_certificate().subject().clone(),
                subject,
                aaguid: spec.aaguid,
                ca: spec.ca,
            },
            random_serial(rng)?,
            validity,
            key.spki()?,
        )?
        .build::<_, DerSignature>(&self.ca_key)?;
        Ok(cert.to_der()?)
    }
}

/// The subject public key of a certificate made by
/// [`AttestationIdentity::issue_leaf`].
#[derive(Debug, Clone, Copy)]
pub enum LeafKey<'a> {
    /// A P-256 public key as a SEC1 point (uncompressed: 65 bytes).
    P256(&'a [u8]),
    /// An Ed25519 public key (RFC 8410: id-Ed25519, the 32-byte key).
    Ed25519(&'a [u8; 32]),
}

/// id-Ed25519 (RFC 8410 §3).
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

impl LeafKey<'_> {
    fn spki(self) -> Result<SubjectPublicKeyInfoOwned, CertError> {
        match self {
            Self::P256(sec1) => {
                let key = VerifyingKey::from_sec1_bytes(sec1).map_err(|_| CertError::InvalidKey)?;
                SubjectPublicKeyInfoOwned::from_key(&key).map_err(|_| CertError::Encoding)
            }
            Self::Ed25519(key) => Ok(SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: ID_ED25519,
                    parameters: None,
                },
                subject_public_key: BitString::from_bytes(key)?,
            }),
        }
    }
}

/// What a certificate of [`AttestationIdentity::issue_leaf`] says.
#[derive(Debug, Clone)]
pub struct LeafSpec<'a> {
    /// Subject `O`.
    pub organization: &'a str,
    /// Subject `OU`; WebAuthn §8.2.1 requires "Authenticator Attestation".
    pub organizational_unit: &'a str,
    /// Subject `CN`.
    pub common_name: &'a str,
    /// The id-fido-gen-ce-aaguid extension's AAGUID, or no extension.
    pub aaguid: Option<[u8; 16]>,
    /// basicConstraints `CA`; §8.2.1 requires false.
    pub ca: bool,
    /// notBefore, a UTC day (year, month, day).
    pub not_before: (u16, u8, u8),
    /// notAfter, a UTC day; `None` for no well-defined expiration
    /// (99991231235959Z, RFC 5280 §4.1.2.5).
    pub not_after: Option<(u16, u8, u8)>,
}

impl<'a> LeafSpec<'a> {
    /// A certificate that meets WebAuthn §8.2.1 for `aaguid`, valid from
    /// 2024-01-01 without expiry, like the batch certificate.
    pub fn attestation(organization: &'a str, common_name: &'a str, aaguid: [u8; 16]) -> Self {
        Self {
            organization,
            organizational_unit: BATCH_ORGANIZATIONAL_UNIT,
            common_name,
            aaguid: Some(aaguid),
            ca: false,
            not_before: (2024, 1, 1),
            not_after: None,
        }
    }
}

/// Midnight UTC of a day, as RFC 5280 §4.1.2.5 wants it encoded: UTCTime
/// through 2049, GeneralizedTime from 2050.
fn date_time((year, month, day): (u16, u8, u8)) -> Result<Time, CertError> {
    let at = DateTime::new(year, month, day, 0, 0, 0)?;
    Ok(if year < 2050 {
        Time::UtcTime(UtcTime::from_date_time(at)?)
    } else {
        Time::GeneralTime(GeneralizedTime::from_date_time(at))
    })
}

impl fmt::Debug for AttestationIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only public material; never the private keys.
        f.debug_struct("AttestationIdentity")
            .field("ca_cert_der_len", &self.ca_cert_der.len())
            .field("batch_cert_der_len", &self.batch_cert_der.len())
            .finish_non_exhaustive()
    }
}

/// The id-fido-gen-ce-aaguid extension value (WebAuthn §8.2.1):
/// `extnValue` is the DER encoding of an OCTET STRING holding the 16-byte
/// AAGUID, so the certificate carries OCTET STRING { OCTET STRING { aaguid } }.
struct AaguidExtension([u8; 16]);

impl AssociatedOid for AaguidExtension {
    const OID: ObjectIdentifier = ID_FIDO_GEN_CE_AAGUID;
}

impl FixedTag for AaguidExtension {
    const TAG: Tag = Tag::OctetString;
}

impl EncodeValue for AaguidExtension {
    fn value_len(&self) -> x509_cert::der::Result<Length> {
        OctetStringRef::new(&self.0)?.value_len()
    }

    fn encode_value(&self, writer: &mut impl Writer) -> x509_cert::der::Result<()> {
        OctetStringRef::new(&self.0)?.encode_value(writer)
    }
}

impl Criticality for AaguidExtension {
    fn criticality(&self, _subject: &Name, _extensions: &[Extension]) -> bool {
        // WebAuthn §8.2.1: "This extension MUST NOT be marked as critical."
        false
    }
}

/// The two certificate profiles. Extensions come in this order: SKI,
/// AKI (leaf only), basicConstraints, keyUsage, then the AAGUID (leaf
/// only, when given), with RFC 5280's criticality for each.
enum Profile {
    /// The self-signed attestation CA.
    Root { subject: Name },
    /// A certificate issued by the CA: the batch certificate, or a leaf
    /// of [`AttestationIdentity::issue_leaf`].
    Leaf {
        issuer: Name,
        subject: Name,
        aaguid: Option<[u8; 16]>,
        /// basicConstraints `CA` (false for an attestation certificate).
        ca: bool,
    },
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, subject: &Name) -> Name {
        match self {
            Self::Root { .. } => subject.clone(),
            Self::Leaf { issuer, .. } => issuer.clone(),
        }
    }

    fn get_subject(&self) -> Name {
        match self {
            Self::Root { subject } | Self::Leaf { subject, .. } => subject.clone(),
        }
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let mut ext = Vec::with_capacity(5);
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        ext.push((&ski).to_extension(subject, &ext)?);
        let (ca, usage) = match self {
            Self::Root { .. } => (true, KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            Self::Leaf { ca, .. } => {
                let aki = AuthorityKeyIdentifier::try_from(issuer_spk)?;
                ext.push((&aki).to_extension(subject, &ext)?);
                (*ca, KeyUsages::DigitalSignature | KeyUsages::NonRepudiation)
            }
        };
        let constraints = BasicConstraints {
            ca,
            path_len_constraint: None,
        };
        ext.push((&constraints).to_extension(subject, &ext)?);
        ext.push((&KeyUsage(usage)).to_extension(subject, &ext)?);
        if let Self::Leaf {
            aaguid: Some(aaguid),
            ..
        } = self
        {
            ext.push((&AaguidExtension(*aaguid)).to_extension(subject, &ext)?);
        }
        Ok(ext)
    }
}

/// Rejects empty names and names over the RFC 5280 upper bound.
fn check_name(value: &str) -> Result<(), CertError> {
    let len = value.chars().count();
    if len == 0 || len > MAX_NAME_LEN {
        return Err(CertError::InvalidName);
    }
    Ok(())
}

/// Builds an RDNSequence with one single-valued RDN per attribute, in order.
fn build_name(attributes: &[(ObjectIdentifier, Tag, &str)]) -> Result<Name, CertError> {
    let mut rdns = Vec::with_capacity(attributes.len());
    for &(oid, tag, value) in attributes {
        // `Any::new` checks the bytes against the tag's character set: a
        // `&str` is valid UTF8String, and COUNTRY is a valid PrintableString.
        let atv = AttributeTypeAndValue {
            oid,
            value: Any::new(tag, value.as_bytes())?,
        };
        rdns.push(RelativeDistinguishedName::try_from(vec![atv])?);
    }
    // A Name is its RDNSequence's encoding.
    let mut sequence = RdnSequence::default();
    for rdn in rdns {
        sequence.push(rdn);
    }
    Ok(Name::from_der(&sequence.to_der()?)?)
}

/// notBefore 2024-01-01T00:00:00Z (encoded as UTCTime, as RFC 5280 §4.1.2.5
/// requires for years before 2050; the builder converts it) and notAfter
/// 99991231235959Z GeneralizedTime, RFC 5280 §4.1.2.5 "no well-defined
/// expiration date".
fn fixed_validity() -> Result<Validity, CertError> {
    let not_before = DateTime::new(2024, 1, 1, 0, 0, 0)?;
    Ok(Validity::new(
        Time::GeneralTime(GeneralizedTime::from_date_time(not_before)),
        Time::INFINITY,
    ))
}

/// A positive 16-byte random serial number (RFC 5280 §4.1.2.2: positive,
/// at most 20 octets).
fn random_serial(rng: &mut impl CryptoRng) -> Result<SerialNumber, CertError> {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    // Clear the top bit so the value is the same read as unsigned or as a
    // two's-complement INTEGER.
    bytes[0] &= 0x7f;
    // Zero is not positive; with a working RNG this never happens.
    if bytes.iter().all(|&b| b == 0) {
        bytes[15] = 1;
    }
    Ok(SerialNumber::new(&bytes)?)
}

/// The subjectPublicKeyInfo of a signing key's public key.
fn spki_of(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, CertError> {
    SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).map_err(|_| CertError::Encoding)
}

/// Parses a 32-byte big-endian P-256 scalar.
fn signing_key_from_bytes(bytes: &[u8]) -> Result<SigningKey, CertError> {
    if bytes.len() != 32 {
        return Err(CertError::InvalidKey);
    }
    // `from_slice` would also left-pad shorter inputs; the exact length is
    // required above so stored keys are canonical.
    SigningKey::from_slice(bytes).map_err(|_| CertError::InvalidKey)
}

/// The private scalar of `key` as big-endian bytes.
fn scalar_bytes(key: &SigningKey) -> Zeroizing<[u8; 32]> {
    let bytes = Zeroizing::new(key.to_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&bytes);
    out
}

/// Verifies `cert`'s signature (ecdsa-with-SHA256, DER-encoded) over its
/// tbsCertificate with `issuer_key`.
fn verify_cert_signature(cert: &Certificate, issuer_key: &VerifyingKey) -> Result<(), CertError> {
    let tbs = cert.tbs_certificate().to_der()?;
    let sig_bytes = cert.signature().as_bytes().ok_or(CertError::Encoding)?;
    let sig = DerSignature::from_bytes(sig_bytes).map_err(|_| CertError::Encoding)?;
    issuer_key
        .verify(&tbs, &sig)
        .map_err(|_| CertError::ChainMismatch)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use x509_cert::der::asn1::OctetString;
    use x509_cert::der::Tagged;
    use x509_cert::ext::pkix::{
        AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
    };
    use x509_cert::Version;

    const AAGUID: [u8; 16] = [
        0x6d, 0x44, 0xba, 0x9b, 0xf6, 0xec, 0x2e, 0x49, 0xb9, 0x30, 0x0c, 0x8f, 0xe9, 0x20, 0xcb,
        0x73,
    ];
    const ORG: &str = "fidosim";
    const CN: &str = "fidosim Batch 1";

    fn identity(seed: u64) -> AttestationIdentity {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        AttestationIdentity::generate(&mut rng, AAGUID, ORG, CN).unwrap()
    }

    /// The string values of `name`'s attributes with type `oid`, with tags.
    fn attr_values(name: &Name, oid: ObjectIdentifier) -> Vec<(Tag, String)> {
        name.iter()
            .filter(|atv| atv.oid == oid)
            .map(|atv| {
                (
                    atv.value.tag(),
                    String::from_utf8(atv.value.value().to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn spki_key(cert: &Certificate) -> VerifyingKey {
        VerifyingKey::from_sec1_bytes(
            cert.tbs_certificate()
                .subject_public_key_info()
                .subject_public_key
                .as_bytes()
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn generation_is_deterministic_per_seed() {
        let a = identity(1);
        let b = identity(1);
        let c = identity(2);
        assert_eq!(a.ca_cert_der(), b.ca_cert_der());
        assert_eq!(a.batch_cert_der(), b.batch_cert_der());
        assert_eq!(*a.to_parts().0, *b.to_parts().0);
        assert_eq!(*a.to_parts().2, *b.to_parts().2);
        assert_ne!(a.ca_cert_der(), c.ca_cert_der());
        assert_ne!(a.batch_cert_der(), c.batch_cert_der());
        assert_ne!(*a.to_parts().0, *c.to_parts().0);
        assert_eq!(a.sign_batch(b"msg"), b.sign_batch(b"msg"));
    }

    #[test]
    fn issued_leaves_say_what_their_spec_says_and_chain_to_the_ca() {
        let id = identity(9);
        let ca = Certificate::from_der(id.ca_cert_der()).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let key = SigningKey::generate_from_rng(&mut rng);
        let point = key.verifying_key().to_sec1_bytes();
        let good = LeafSpec::attestation(ORG, "lab leaf", AAGUID);
        let der = id
            .issue_leaf(&mut rng, LeafKey::P256(&point), &good)
            .unwrap();
        let cert = Certificate::from_der(&der).unwrap();
        verify_cert_signature(&cert, &spki_key(&ca)).unwrap();
        assert_eq!(spki_key(&cert), *key.verifying_key());
        let tbs = cert.tbs_certificate();
        assert_eq!(tbs.issuer(), ca.tbs_certificate().subject());
        assert_eq!(
            attr_values(tbs.subject(), rfc4519::ORGANIZATIONAL_UNIT_NAME),
            vec![(Tag::Utf8String, BATCH_ORGANIZATIONAL_UNIT.to_string())]
        );
        let (_, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
        assert!(!bc.ca);
        assert_eq!(tbs.validity().not_after, Time::INFINITY);
        let aaguid = |c: &Certificate| {
            c.tbs_certificate()
                .extensions()
                .into_iter()
                .flatten()
                .find(|e| e.extn_id == ID_FIDO_GEN_CE_AAGUID)
                .map(|e| e.extn_value.as_bytes()[2..].to_vec())
        };
        assert_eq!(aaguid(&cert).as_deref(), Some(&AAGUID[..]));

        // Each field changed on its own.
        let bad = LeafSpec {
            organizational_unit: "Not Attestation",
            ca: true,
            aaguid: None,
            not_before: (2020, 1, 1),
            not_after: Some((2021, 1, 1)),
            ..good
        };
        let cert = Certificate::from_der(
            &id.issue_leaf(&mut rng, LeafKey::P256(&point), &bad)
                .unwrap(),
        )
        .unwrap();
        let tbs = cert.tbs_certificate();
        assert_eq!(
            attr_values(tbs.subject(), rfc4519::ORGANIZATIONAL_UNIT_NAME),
            vec![(Tag::Utf8String, "Not Attestation".to_string())]
        );
        assert!(
            tbs.get_extension::<BasicConstraints>()
                .unwrap()
                .unwrap()
                .1
                .ca
        );
        assert_eq!(aaguid(&cert), None);
        // UTCTime before 2050 (RFC 5280 §4.1.2.5).
        assert!(matches!(tbs.validity().not_after, Time::UtcTime(_)));
        assert_eq!(
            tbs.validity().not_after.to_unix_duration().as_secs(),
            1_609_459_200
        );

        // An Ed25519 subject key (RFC 8410).
        let ed = [7u8; 32];
        let cert = Certificate::from_der(
            &id.issue_leaf(&mut rng, LeafKey::Ed25519(&ed), &good)
                .unwrap(),
        )
        .unwrap();
        let spki = cert.tbs_certificate().subject_public_key_info();
        assert_eq!(spki.algorithm.oid, ID_ED25519);
        assert_eq!(spki.subject_public_key.as_bytes(), Some(&ed[..]));
        // Not a P-256 point: refused.
        assert_eq!(
            id.issue_leaf(&mut rng, LeafKey::P256(&[4; 10]), &good),
            Err(CertError::InvalidKey)
        );
    }

    #[test]
    fn batch_certificate_meets_webauthn_8_2_1() {
        let id = identity(7);
        let ca = Certificate::from_der(id.ca_cert_der()).unwrap();
        let cert = Certificate::from_der(id.batch_cert_der()).unwrap();
        let tbs = &cert.tbs_certificate();

        assert_eq!(tbs.version(), Version::V3);
        let subject = tbs.subject();
        assert_eq!(
            attr_values(subject, rfc4519::COUNTRY_NAME),
            vec![(Tag::PrintableString, "US".to_string())]
        );
        assert_eq!(
            attr_values(subject, rfc4519::ORGANIZATION_NAME),
            vec![(Tag::Utf8String, ORG.to_string())]
        );
        assert_eq!(
            attr_values(subject, rfc4519::ORGANIZATIONAL_UNIT_NAME),
            vec![(Tag::Utf8String, "Authenticator Attestation".to_string())]
        );
        assert_eq!(
            attr_values(subject, rfc4519::COMMON_NAME),
            vec![(Tag::Utf8String, CN.to_string())]
        );
        assert_eq!(
            subject.to_string(),
            format!("CN={CN},OU=Authenticator Attestation,O={ORG},C=US")
        );

        let (_, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
        assert!(!bc.ca);
        assert_eq!(bc.path_len_constraint, None);

        let exts = tbs.extensions().unwrap();
        let aaguid_exts: Vec<_> = exts
            .iter()
            .filter(|e| e.extn_id == ID_FIDO_GEN_CE_AAGUID)
            .collect();
        assert_eq!(aaguid_exts.len(), 1);
        assert!(!aaguid_exts[0].critical);
        // extnValue OCTET STRING wraps an inner OCTET STRING of 16 bytes.
        let inner = OctetString::from_der(aaguid_exts[0].extn_value.as_bytes()).unwrap();
        assert_eq!(inner.as_bytes(), &AAGUID);
        let mut expected = vec![0x04, 0x10];
        expected.extend_from_slice(&AAGUID);
        assert_eq!(aaguid_exts[0].extn_value.as_bytes(), expected.as_slice());
        assert_eq!(id.batch_aaguid(), Some(AAGUID));

        assert_eq!(tbs.issuer(), ca.tbs_certificate().subject());
        assert_ne!(tbs.issuer(), tbs.subject());

        // AKI of the batch certificate is the CA's SKI.
        let (_, aki) = tbs
            .get_extension::<AuthorityKeyIdentifier>()
            .unwrap()
            .unwrap();
        let (_, ca_ski) = ca
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
            .unwrap()
            .unwrap();
        assert_eq!(aki.key_identifier.unwrap(), ca_ski.0);

        // Leaf key usage is for signatures only.
        let (ku_critical, ku) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
        assert!(ku_critical);
        assert!(ku.digital_signature());
        assert!(!ku.key_cert_sign());

        // Both certificates use ecdsa-with-SHA256 with absent parameters.
        let ecdsa_sha256 = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
        for c in [&cert, &ca] {
            assert_eq!(c.signature_algorithm().oid, ecdsa_sha256);
            assert!(c.signature_algorithm().parameters.is_none());
            assert_eq!(c.tbs_certificate().signature(), c.signature_algorithm());
        }

        // Serial: 16 random bytes, top bit clear, positive.
        let serial = tbs.serial_number().as_bytes();
        assert!(!serial.is_empty() && serial.len() <= 16);
        assert!(serial[0] & 0x80 == 0);

        // Fixed validity: UTCTime notBefore, GeneralizedTime 9999 notAfter.
        assert!(matches!(tbs.validity().not_before, Time::UtcTime(_)));
        assert_eq!(
            tbs.validity().not_before.to_date_time(),
            DateTime::new(2024, 1, 1, 0, 0, 0).unwrap()
        );
        assert!(matches!(tbs.validity().not_after, Time::GeneralTime(_)));
        assert_eq!(
            tbs.validity().not_after.to_date_time(),
            DateTime::new(9999, 12, 31, 23, 59, 59).unwrap()
        );
    }

    #[test]
    fn ca_certificate_profile() {
        let id = identity(7);
        let ca = Certificate::from_der(id.ca_cert_der()).unwrap();
        let tbs = &ca.tbs_certificate();
        assert_eq!(tbs.version(), Version::V3);
        assert_eq!(tbs.issuer(), tbs.subject());
        let (bc_critical, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
        assert!(bc_critical);
        assert!(bc.ca);
        let (_, ku) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
        assert_eq!(ku.0, KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        assert!(tbs
            .get_extension::<SubjectKeyIdentifier>()
            .unwrap()
            .is_some());
        assert!(tbs
            .extensions()
            .as_ref()
            .unwrap()
            .iter()
            .all(|e| e.extn_id != ID_FIDO_GEN_CE_AAGUID));
    }

    #[test]
    fn certificate_signatures_verify() {
        let id = identity(3);
        let ca = Certificate::from_der(id.ca_cert_der()).unwrap();
        let cert = Certificate::from_der(id.batch_cert_der()).unwrap();
        let ca_key = spki_key(&ca);

        let verify = |c: &Certificate, key: &VerifyingKey| {
            let tbs = c.tbs_certificate().to_der().unwrap();
            let sig = DerSignature::from_bytes(c.signature().as_bytes().unwrap()).unwrap();
            key.verify(&tbs, &sig)
        };
        verify(&cert, &ca_key).unwrap();
        verify(&ca, &ca_key).unwrap();
        // The batch certificate is not self-signed.
        assert!(verify(&cert, &spki_key(&cert)).is_err());
    }

    #[test]
    fn sign_batch_verifies_with_batch_certificate_key() {
        let id = identity(4);
        let cert = Certificate::from_der(id.batch_cert_der()).unwrap();
        let key = spki_key(&cert);
        let msg = b"authenticatorData || clientDataHash";
        let sig_der = id.sign_batch(msg);
        let sig = DerSignature::from_bytes(&sig_der).unwrap();
        key.verify(msg, &sig).unwrap();
        assert!(key.verify(b"other", &sig).is_err());
        // Not the CA key.
        let ca = Certificate::from_der(id.ca_cert_der()).unwrap();
        assert!(spki_key(&ca).verify(msg, &sig).is_err());
    }

    #[test]
    fn parts_round_trip_and_mismatch_fails() {
        let id = identity(5);
        let (ca_key, ca_der, batch_key, batch_der) = id.to_parts();
        let back = AttestationIdentity::from_parts(
            &*ca_key,
            ca_der.clone(),
            &*batch_key,
            batch_der.clone(),
        )
        .unwrap();
        assert_eq!(back.ca_cert_der(), id.ca_cert_der());
        assert_eq!(back.batch_cert_der(), id.batch_cert_der());
        assert_eq!(back.ca_pem(), id.ca_pem());
        assert_eq!(back.sign_batch(b"x"), id.sign_batch(b"x"));
        assert_eq!(*back.to_parts().0, *ca_key);
        assert_eq!(*back.to_parts().2, *batch_key);

        // Keys swapped.
        assert_eq!(
            AttestationIdentity::from_parts(
                &*batch_key,
                ca_der.clone(),
                &*ca_key,
                batch_der.clone()
            )
            .unwrap_err(),
            CertError::KeyMismatch
        );
        // Keys from another identity.
        let other = identity(6);
        let (o_ca_key, o_ca_der, o_batch_key, o_batch_der) = other.to_parts();
        assert_eq!(
            AttestationIdentity::from_parts(
                &*o_ca_key,
                ca_der.clone(),
                &*batch_key,
                batch_der.clone()
            )
            .unwrap_err(),
            CertError::KeyMismatch
        );
        // Batch certificate from another CA (keys match their certs).
        assert_eq!(
            AttestationIdentity::from_parts(&*ca_key, ca_der.clone(), &*o_batch_key, o_batch_der)
                .unwrap_err(),
            CertError::ChainMismatch
        );
        let _ = o_ca_der;
        // Wrong key length, zero scalar, garbage DER.
        assert_eq!(
            AttestationIdentity::from_parts(
                &ca_key[..31],
                ca_der.clone(),
                &*batch_key,
                batch_der.clone()
            )
            .unwrap_err(),
            CertError::InvalidKey
        );
        assert_eq!(
            AttestationIdentity::from_parts(
                &[0u8; 32],
                ca_der.clone(),
                &*batch_key,
                batch_der.clone()
            )
            .unwrap_err(),
            CertError::InvalidKey
        );
        let mut bad = ca_der.clone();
        bad.push(0);
        assert_eq!(
            AttestationIdentity::from_parts(&*ca_key, bad, &*batch_key, batch_der).unwrap_err(),
            CertError::Encoding
        );
    }

    #[test]
    fn ca_pem_round_trips() {
        let id = identity(8);
        let pem = id.ca_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.trim_end().ends_with("-----END CERTIFICATE-----"));
        let (label, der) = x509_cert::der::pem::decode_vec(pem.as_bytes()).unwrap();
        assert_eq!(label, "CERTIFICATE");
        assert_eq!(der, id.ca_cert_der());
    }

    #[test]
    fn rejects_bad_names() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let long = "x".repeat(MAX_NAME_LEN + 1);
        for (o, cn) in [
            ("", CN),
            (ORG, ""),
            (long.as_str(), CN),
            (ORG, long.as_str()),
        ] {
            assert_eq!(
                AttestationIdentity::generate(&mut rng, AAGUID, o, cn).unwrap_err(),
                CertError::InvalidName
            );
        }
        let max = "é".repeat(MAX_NAME_LEN);
        assert!(AttestationIdentity::generate(&mut rng, AAGUID, &max, &max).is_ok());
    }

    #[test]
    fn debug_hides_private_keys() {
        let id = identity(10);
        let dbg = format!("{id:?}");
        assert!(dbg.starts_with("AttestationIdentity"));
        let (ca_key, _, batch_key, _) = id.to_parts();
        for key in [ca_key, batch_key] {
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            assert!(!dbg.contains(&hex));
            assert!(!dbg.contains(&format!("{:?}", &key[..4])));
        }
    }
}
