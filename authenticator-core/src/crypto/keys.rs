//! Credential key pairs: ES256 (ECDSA P-256 with SHA-256, COSE −7) and
//! EdDSA (Ed25519, COSE −8), and their COSE_Key encodings (RFC 9053 §7,
//! CTAP 2.1 §6.5.6 "getPublicKey()" examples).

use coset::iana;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::cbor::Value;

/// A signature algorithm the device can create credentials with.
///
/// The discriminant is the COSE algorithm identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// ECDSA with SHA-256 on P-256 (COSE −7).
    Es256,
    /// EdDSA on Ed25519 (COSE −8).
    EdDsa,
}

impl Algorithm {
    /// Every algorithm this build implements, in the default preference order.
    pub const ALL: [Algorithm; 2] = [Algorithm::Es256, Algorithm::EdDsa];

    /// The COSE algorithm identifier.
    pub const fn cose(self) -> i64 {
        match self {
            Self::Es256 => -7,
            Self::EdDsa => -8,
        }
    }

    /// The algorithm for a COSE identifier, if implemented.
    pub const fn from_cose(alg: i64) -> Option<Self> {
        match alg {
            -7 => Some(Self::Es256),
            -8 => Some(Self::EdDsa),
            _ => None,
        }
    }

    /// A short name for logs and CLI flags.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Es256 => "es256",
            Self::EdDsa => "eddsa",
        }
    }
}

/// A credential private key. The secret is zeroized on drop.
#[derive(Clone)]
pub enum PrivateKey {
    /// A P-256 scalar.
    Es256(Zeroizing<[u8; 32]>),
    /// An Ed25519 seed, with the public key computed once when the key is
    /// made: every Ed25519 signature hashes the public key (RFC 8032
    /// §5.1.6), and deriving it again for each one would double the cost
    /// of an assertion.
    EdDsa(Box<ed25519_dalek::SigningKey>),
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey({:?}, ..)", self.algorithm())
    }
}

/// A private key's bytes did not form a valid key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidKey;

impl PrivateKey {
    /// Generates a fresh key for `alg`.
    pub fn generate(alg: Algorithm, rng: &mut impl CryptoRng) -> Self {
        match alg {
            Algorithm::Es256 => {
                let sk =
                    <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(rng);
                Self::Es256(Zeroizing::new(sk.to_bytes().into()))
            }
            Algorithm::EdDsa => {
                let mut seed = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(seed.as_mut());
                Self::ed25519(&seed)
            }
        }
    }

    /// Rebuilds a key from its algorithm and 32 secret bytes.
    pub fn from_bytes(alg: Algorithm, bytes: &[u8]) -> Result<Self, InvalidKey> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| InvalidKey)?;
        match alg {
            Algorithm::Es256 => {
                // Reject zero and out-of-range scalars.
                p256::SecretKey::from_bytes(&arr.into()).map_err(|_| InvalidKey)?;
                Ok(Self::Es256(Zeroizing::new(arr)))
            }
            Algorithm::EdDsa => Ok(Self::ed25519(&arr)),
        }
    }

    fn ed25519(seed: &[u8; 32]) -> Self {
        Self::EdDsa(Box::new(ed25519_dalek::SigningKey::from_bytes(seed)))
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Es256(_) => Algorithm::Es256,
            Self::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// The 32 secret bytes.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        match self {
            Self::Es256(b) => b,
            Self::EdDsa(k) => k.as_bytes(),
        }
    }

    fn p256_signing_key(bytes: &[u8; 32]) -> Result<p256::ecdsa::SigningKey, InvalidKey> {
        p256::ecdsa::SigningKey::from_bytes(&(*bytes).into()).map_err(|_| InvalidKey)
    }

    /// Signs `msg` as WebAuthn expects: ES256 gives an ASN.1 DER ECDSA
    /// signature over SHA-256(msg) (WebAuthn §6.5.6), EdDSA the 64-byte
    /// Ed25519 signature over msg.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, InvalidKey> {
        match self {
            Self::Es256(b) => {
                // Sign with the scalar directly (RFC 6979 nonces, as
                // SigningKey would): building a SigningKey first also
                // computes the public key, a second scalar multiplication
                // that nearly doubles the cost of every assertion.
                use sha2::Digest;
                let scalar = Option::<p256::NonZeroScalar>::from(p256::NonZeroScalar::from_repr(
                    (**b).into(),
                ))
                .ok_or(InvalidKey)?;
                let digest = sha2::Sha256::digest(msg);
                let (sig, _) = ecdsa::hazmat::sign_prehashed_rfc6979::<p256::NistP256, sha2::Sha256>(
                    &scalar,
                    &digest,
                    &[],
                );
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Self::EdDsa(k) => {
                use ed25519_dalek::Signer;
                Ok(k.sign(msg).to_bytes().to_vec())
            }
        }
    }

    /// The key as PKCS#8 DER (RFC 5208/5958): an ecPrivateKey on
    /// prime256v1 for ES256, an Ed25519 OneAsymmetricKey (RFC 8410) for
    /// EdDSA. This is the `privateKey` format of WebDriver's and Chrome
    /// DevTools' virtual authenticator credentials.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, InvalidKey> {
        use p256::pkcs8::EncodePrivateKey;
        let doc = match self {
            Self::Es256(b) => p256::SecretKey::from_bytes(&(**b).into())
                .map_err(|_| InvalidKey)?
                .to_pkcs8_der()
                .map_err(|_| InvalidKey)?,
            // The RFC 8410 §7 form without the optional public key (v1),
            // as BoringSSL writes it.
            Self::EdDsa(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: *k.as_bytes(),
                public_key: None,
            }
            .to_pkcs8_der()
            .map_err(|_| InvalidKey)?,
        };
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// A key from PKCS#8 DER: a P-256 ecPrivateKey or an Ed25519 key. Any
    /// other algorithm or curve, or malformed DER, is [`InvalidKey`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, InvalidKey> {
        use p256::pkcs8::DecodePrivateKey;
        if let Ok(sk) = p256::SecretKey::from_pkcs8_der(der) {
            return Ok(Self::Es256(Zeroizing::new(sk.to_bytes().into())));
        }
        if let Ok(sk) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::EdDsa(Box::new(sk)));
        }
        Err(InvalidKey)
    }

    /// The public key.
    pub fn public_key(&self) -> Result<PublicKey, InvalidKey> {
        match self {
            Self::Es256(b) => {
                let vk = *Self::p256_signing_key(b)?.verifying_key();
                Ok(PublicKey::Es256(vk))
            }
            Self::EdDsa(k) => Ok(PublicKey::EdDsa(k.verifying_key())),
        }
    }
}

/// A credential public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// A P-256 public key.
    Es256(p256::ecdsa::VerifyingKey),
    /// An Ed25519 public key.
    EdDsa(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// The key's raw bytes: the uncompressed SEC1 point (0x04 || x || y,
    /// 65 bytes; FIDO U2F's user public key) for ES256, the 32-byte
    /// public key (RFC 8032) for EdDSA.
    pub fn raw_bytes(&self) -> Vec<u8> {
        match self {
            Self::Es256(vk) => vk.to_sec1_point(false).as_bytes().to_vec(),
            Self::EdDsa(vk) => vk.to_bytes().to_vec(),
        }
    }

    /// The COSE_Key, as coset models it.
    pub fn to_cose_key(&self) -> coset::CoseKey {
        match self {
            Self::Es256(vk) => {
                let point = vk.to_sec1_point(false);
                // An uncompressed point always carries both coordinates.
                let x = point.x().map(|x| x.to_vec()).unwrap_or_default();
                let y = point.y().map(|y| y.to_vec()).unwrap_or_default();
                coset::CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_256, x, y)
                    .algorithm(iana::Algorithm::ES256)
                    .build()
            }
            Self::EdDsa(vk) => coset::CoseKeyBuilder::new_okp_key()
                .param(
                    iana::OkpKeyParameter::Crv as i64,
                    Value::from(iana::EllipticCurve::Ed25519 as i64),
                )
                .param(
                    iana::OkpKeyParameter::X as i64,
                    Value::Bytes(vk.to_bytes().to_vec()),
                )
                .algorithm(iana::Algorithm::EdDSA)
                .build(),
        }
    }

    /// The COSE_Key as a CBOR value (canonicalised when encoded).
    pub fn to_cose_value(&self) -> Value {
        use coset::AsCborValue;
        // Converting a well-formed CoseKey to a Value cannot fail.
        self.to_cose_key().to_cbor_value().unwrap_or(Value::Null)
    }

    /// The canonical CBOR bytes of the COSE_Key.
    pub fn to_cose_bytes(&self) -> Vec<u8> {
        crate::cbor::encode(&self.to_cose_value())
    }

    /// Verifies a signature made by [`PrivateKey::sign`].
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            Self::Es256(vk) => {
                use p256::ecdsa::signature::Verifier;
                p256::ecdsa::DerSignature::from_bytes(sig)
                    .ok()
                    .and_then(|s| p256::ecdsa::Signature::from_der(s.as_bytes()).ok())
                    .is_some_and(|s| vk.verify(msg, &s).is_ok())
            }
            Self::EdDsa(vk) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| vk.verify_strict(msg, &s).is_ok()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cbor::{assert_canonical, hex};
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn sign_and_verify_both_algorithms() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        for alg in Algorithm::ALL {
            let k = PrivateKey::generate(alg, &mut rng);
            let sig = k.sign(b"hello").unwrap();
            let pk = k.public_key().unwrap();
            assert!(pk.verify(b"hello", &sig));
            assert!(!pk.verify(b"hellp", &sig));
            let k2 = PrivateKey::from_bytes(alg, k.secret_bytes()).unwrap();
            assert_eq!(k2.public_key().unwrap(), pk);
        }
    }

    #[test]
    fn pkcs8_round_trip_and_rfc8410_vector() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
        for alg in Algorithm::ALL {
            let k = PrivateKey::generate(alg, &mut rng);
            let der = k.to_pkcs8_der().unwrap();
            let back = PrivateKey::from_pkcs8_der(&der).unwrap();
            assert_eq!(back.algorithm(), alg);
            assert_eq!(back.secret_bytes(), k.secret_bytes());
        }
        // RFC 8410 §10.3: an Ed25519 private key in PKCS#8.
        let unhex = |h: &str| -> Vec<u8> {
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect()
        };
        let seed = "d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842";
        let der = unhex(&format!("302e020100300506032b657004220420{seed}"));
        let k = PrivateKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(k.algorithm(), Algorithm::EdDsa);
        assert_eq!(hex(k.secret_bytes()), seed);
        assert_eq!(&k.to_pkcs8_der().unwrap()[..], &der[..]);
        assert!(PrivateKey::from_pkcs8_der(&der[..der.len() - 1]).is_err());
        assert!(PrivateKey::from_pkcs8_der(b"not a key").is_err());
    }

    #[test]
    fn es256_signature_matches_the_reference_signer() {
        use p256::ecdsa::signature::Signer;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let k = PrivateKey::generate(Algorithm::Es256, &mut rng);
        let reference = p256::ecdsa::SigningKey::from_bytes(&(*k.secret_bytes()).into()).unwrap();
        let expected: p256::ecdsa::DerSignature = reference.sign(b"message");
        assert_eq!(k.sign(b"message").unwrap(), expected.as_bytes());
    }

    #[test]
    fn es256_signature_is_der() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let k = PrivateKey::generate(Algorithm::Es256, &mut rng);
        let sig = k.sign(b"x").unwrap();
        assert_eq!(sig[0], 0x30, "DER SEQUENCE");
        assert_eq!(sig[1] as usize, sig.len() - 2);
    }

    #[test]
    fn zero_scalar_is_rejected() {
        assert_eq!(
            PrivateKey::from_bytes(Algorithm::Es256, &[0u8; 32]).unwrap_err(),
            InvalidKey
        );
        assert!(PrivateKey::from_bytes(Algorithm::EdDsa, &[0u8; 31]).is_err());
    }

    #[rustfmt::skip]
    #[test]
    fn cose_key_layout() {
        let k = PrivateKey::from_bytes(Algorithm::EdDsa, &[7u8; 32]).unwrap();
        let bytes = k.public_key().unwrap().to_cose_bytes();
        assert_canonical(&bytes);
        let h = hex(&bytes);
        // {1: 1 (OKP), 3: -8 (EdDSA), -1: 6 (Ed25519), -2: x}
        assert!(h.starts_with(concat!("a4", "0101", "0327", "2006", "215820")), "{h}");

        let k = PrivateKey::from_bytes(Algorithm::Es256, &[7u8; 32]).unwrap();
        let bytes = k.public_key().unwrap().to_cose_bytes();
        assert_canonical(&bytes);
        let h = hex(&bytes);
        // {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
        assert!(h.starts_with(concat!("a5", "0102", "0326", "2001", "215820")), "{h}");
        assert_eq!(bytes.len(), 77);
    }
}
