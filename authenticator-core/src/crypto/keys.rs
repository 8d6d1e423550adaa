//! Credential key pairs and their COSE_Key encodings (RFC 9053 §7, CTAP 2.1
//! §6.5.6 "getPublicKey()" examples):
//!
//! | algorithm | COSE | key | signature |
//! |---|---|---|---|
//! | ES256  | −7  | EC2, P-256 (crv 1)     | DER ECDSA over SHA-256 (WebAuthn §6.5.6) |
//! | EdDSA  | −8  | OKP, Ed25519 (crv 6)   | 64-byte Ed25519 (RFC 8032) |
//! | ES384  | −35 | EC2, P-384 (crv 2)     | DER ECDSA over SHA-384 (RFC 9053 §2.1) |
//! | ES512  | −36 | EC2, P-521 (crv 3)     | DER ECDSA over SHA-512 (RFC 9053 §2.1) |
//! | ES256K | −47 | EC2, secp256k1 (crv 8) | DER ECDSA over SHA-256, low S (RFC 8812 §3.2) |
//! | ML-DSA-44/65/87 | −48/−49/−50 | AKP (kty 7), `pub` (−1) | pure ML-DSA, empty context (FIPS 204 Alg. 2) |

use coset::iana;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::cbor::Value;

/// A signature algorithm the device can create credentials with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// ECDSA with SHA-256 on P-256 (COSE −7).
    Es256,
    /// EdDSA on Ed25519 (COSE −8).
    EdDsa,
    /// ECDSA with SHA-384 on P-384 (COSE −35).
    Es384,
    /// ECDSA with SHA-512 on P-521 (COSE −36).
    Es512,
    /// ECDSA with SHA-256 on secp256k1 (COSE −47, RFC 8812 §3.2).
    Es256K,
    /// ML-DSA-44 (COSE −48; FIPS 204, RFC 9964).
    MlDsa44,
    /// ML-DSA-65 (COSE −49).
    MlDsa65,
    /// ML-DSA-87 (COSE −50).
    MlDsa87,
}

impl Algorithm {
    /// Every algorithm this build implements.
    pub const ALL: [Algorithm; 8] = [
        Algorithm::Es256,
        Algorithm::EdDsa,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::Es256K,
        Algorithm::MlDsa44,
        Algorithm::MlDsa65,
        Algorithm::MlDsa87,
    ];

    /// The algorithms a device offers unless configured otherwise, in
    /// preference order.
    pub const DEFAULT: [Algorithm; 2] = [Algorithm::Es256, Algorithm::EdDsa];

    /// The COSE algorithm identifier (IANA COSE Algorithms registry).
    pub const fn cose(self) -> i64 {
        match self {
            Self::Es256 => -7,
            Self::EdDsa => -8,
            Self::Es384 => -35,
            Self::Es512 => -36,
            Self::Es256K => -47,
            Self::MlDsa44 => -48,
            Self::MlDsa65 => -49,
            Self::MlDsa87 => -50,
        }
    }

    /// The algorithm for a COSE identifier, if implemented.
    pub const fn from_cose(alg: i64) -> Option<Self> {
        match alg {
            -7 => Some(Self::Es256),
            -8 => Some(Self::EdDsa),
            -35 => Some(Self::Es384),
            -36 => Some(Self::Es512),
            -47 => Some(Self::Es256K),
            -48 => Some(Self::MlDsa44),
            -49 => Some(Self::MlDsa65),
            -50 => Some(Self::MlDsa87),
            _ => None,
        }
    }

    /// A short name for logs and CLI flags.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Es256 => "es256",
            Self::EdDsa => "eddsa",
            Self::Es384 => "es384",
            Self::Es512 => "es512",
            Self::Es256K => "es256k",
            Self::MlDsa44 => "mldsa44",
            Self::MlDsa65 => "mldsa65",
            Self::MlDsa87 => "mldsa87",
        }
    }

    /// The algorithm of a short name (as [`Algorithm::name`] gives it; also
    /// `ed25519` for EdDSA), case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        if name == "ed25519" {
            return Some(Self::EdDsa);
        }
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The length of the secret [`PrivateKey::secret_bytes`] gives.
    pub const fn secret_len(self) -> usize {
        match self {
            // ML-DSA keys are kept as their 32-byte seed ξ (FIPS 204
            // Algorithm 6, ML-DSA.KeyGen_internal).
            Self::Es256 | Self::EdDsa | Self::Es256K => 32,
            Self::MlDsa44 | Self::MlDsa65 | Self::MlDsa87 => 32,
            Self::Es384 => 48,
            Self::Es512 => 66,
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
    /// A P-384 scalar.
    Es384(Zeroizing<[u8; 48]>),
    /// A P-521 scalar (66 bytes, big-endian, SEC 1 §2.3.7).
    Es512(Zeroizing<[u8; 66]>),
    /// A secp256k1 scalar.
    Es256K(Zeroizing<[u8; 32]>),
    /// An ML-DSA-44 key, made from (and stored as) its seed ξ; the
    /// expanded key is kept, as expanding it costs more than a signature.
    MlDsa44(Box<ml_dsa::SigningKey<ml_dsa::MlDsa44>>),
    /// An ML-DSA-65 key.
    MlDsa65(Box<ml_dsa::SigningKey<ml_dsa::MlDsa65>>),
    /// An ML-DSA-87 key.
    MlDsa87(Box<ml_dsa::SigningKey<ml_dsa::MlDsa87>>),
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey({:?}, ..)", self.algorithm())
    }
}

/// A private key's bytes did not form a valid key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidKey;

/// One ECDSA curve's operations, written once for the four curves: each
/// RustCrypto curve crate has the same API, and a macro keeps the trait
/// bounds of a generic function out of the way.
macro_rules! ecdsa_curve {
    ($module:ident, $curve:ident, $curve_type:ident, $digest:ty, $len:literal) => {
        mod $module {
            use super::InvalidKey;
            use zeroize::Zeroizing;

            pub(super) const LEN: usize = $len;

            /// A fresh scalar from the RNG.
            pub(super) fn generate(rng: &mut impl rand_core::CryptoRng) -> Zeroizing<[u8; LEN]> {
                let sk = <$curve::SecretKey as $curve::elliptic_curve::Generate>::generate_from_rng(rng);
                let mut out = Zeroizing::new([0u8; LEN]);
                out.copy_from_slice(&sk.to_bytes());
                out
            }

            /// The scalar of exactly `LEN` big-endian bytes, rejecting zero
            /// and values not below the group order.
            pub(super) fn secret(bytes: &[u8]) -> Result<Zeroizing<[u8; LEN]>, InvalidKey> {
                let arr: [u8; LEN] = bytes.try_into().map_err(|_| InvalidKey)?;
                scalar(&arr)?;
                Ok(Zeroizing::new(arr))
            }

            fn scalar(bytes: &[u8; LEN]) -> Result<$curve::NonZeroScalar, InvalidKey> {
                let repr = $curve::FieldBytes::try_from(&bytes[..]).map_err(|_| InvalidKey)?;
                Option::from($curve::NonZeroScalar::from_repr(repr)).ok_or(InvalidKey)
            }

            /// A DER ECDSA signature over the hash of `msg`, with an RFC 6979
            /// nonce. The scalar signs directly: a SigningKey would also
            /// compute the public key, a second scalar multiplication that
            /// nearly doubles the cost of every assertion.
            pub(super) fn sign(bytes: &[u8; LEN], msg: &[u8]) -> Result<Vec<u8>, InvalidKey> {
                use sha2::Digest;
                let d = scalar(bytes)?;
                let digest = <$digest>::digest(msg);
                let (sig, _) = ecdsa::hazmat::sign_prehashed_rfc6979::<$curve::$curve_type, $digest>(
                    &d, &digest, &[],
                );
                Ok(sig.to_der().as_bytes().to_vec())
            }

            /// The public key.
            pub(super) fn public(bytes: &[u8; LEN]) -> Result<$curve::ecdsa::VerifyingKey, InvalidKey> {
                let sk = $curve::ecdsa::SigningKey::from_bytes(
                    &$curve::FieldBytes::try_from(&bytes[..]).map_err(|_| InvalidKey)?,
                )
                .map_err(|_| InvalidKey)?;
                Ok(*sk.verifying_key())
            }

            /// Verifies a DER signature over the hash of `msg`.
            pub(super) fn verify(vk: &$curve::ecdsa::VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
                use sha2::Digest;
                use $curve::ecdsa::signature::hazmat::PrehashVerifier;
                let Ok(sig) = $curve::ecdsa::Signature::from_der(sig) else {
                    return false;
                };
                vk.verify_prehash(&<$digest>::digest(msg), &sig).is_ok()
            }

            /// The scalar as PKCS#8 DER (an RFC 5915 ecPrivateKey in an
            /// RFC 5958 OneAsymmetricKey).
            pub(super) fn to_pkcs8(bytes: &[u8; LEN]) -> Result<Vec<u8>, InvalidKey> {
                use $curve::pkcs8::EncodePrivateKey;
                let sk = $curve::SecretKey::from_bytes(
                    &$curve::FieldBytes::try_from(&bytes[..]).map_err(|_| InvalidKey)?,
                )
                .map_err(|_| InvalidKey)?;
                Ok(sk.to_pkcs8_der().map_err(|_| InvalidKey)?.as_bytes().to_vec())
            }

            /// The scalar of a PKCS#8 key on this curve.
            pub(super) fn from_pkcs8(der: &[u8]) -> Option<Zeroizing<[u8; LEN]>> {
                use $curve::pkcs8::DecodePrivateKey;
                let sk = $curve::SecretKey::from_pkcs8_der(der).ok()?;
                let mut out = Zeroizing::new([0u8; LEN]);
                out.copy_from_slice(&sk.to_bytes());
                Some(out)
            }

            /// The uncompressed SEC 1 point 0x04 ‖ x ‖ y.
            pub(super) fn point(vk: &$curve::ecdsa::VerifyingKey) -> Vec<u8> {
                vk.to_sec1_point(false).as_bytes().to_vec()
            }
        }
    };
}

ecdsa_curve!(ec_p256, p256, NistP256, sha2::Sha256, 32);
ecdsa_curve!(ec_p384, p384, NistP384, sha2::Sha384, 48);
ecdsa_curve!(ec_p521, p521, NistP521, sha2::Sha512, 66);
ecdsa_curve!(ec_k256, k256, Secp256k1, sha2::Sha256, 32);

/// One ML-DSA parameter set's operations (FIPS 204), for the three sets.
macro_rules! ml_dsa_set {
    ($module:ident, $params:ident) => {
        mod $module {
            use super::InvalidKey;
            use ml_dsa::{signature::Signer, signature::Verifier, $params};

            pub(super) type Key = ml_dsa::SigningKey<$params>;

            /// FIPS 204 Algorithm 6 (ML-DSA.KeyGen_internal) from the seed ξ.
            pub(super) fn from_seed(seed: &[u8]) -> Result<Box<Key>, InvalidKey> {
                let seed = ml_dsa::Seed::try_from(seed).map_err(|_| InvalidKey)?;
                Ok(Box::new(Key::from_seed(&seed)))
            }

            /// FIPS 204 Algorithm 2 (ML-DSA.Sign) with an empty context, in
            /// its deterministic variant (§3.4: rnd = {0}^32), so that
            /// signing needs no randomness from the environment.
            pub(super) fn sign(key: &Key, msg: &[u8]) -> Result<Vec<u8>, InvalidKey> {
                let sig = key.try_sign(msg).map_err(|_| InvalidKey)?;
                Ok(sig.encode().to_vec())
            }

            /// The seed-only PKCS#8 form of RFC 9881 (`[0] seed`).
            pub(super) fn to_pkcs8(key: &Key) -> Result<Vec<u8>, InvalidKey> {
                use ml_dsa::pkcs8::EncodePrivateKey;
                let doc = key.to_pkcs8_der().map_err(|_| InvalidKey)?;
                Ok(doc.as_bytes().to_vec())
            }

            /// A key of this parameter set from PKCS#8 in the seed form.
            pub(super) fn from_pkcs8(der: &[u8]) -> Option<Box<Key>> {
                use ml_dsa::pkcs8::DecodePrivateKey;
                Key::from_pkcs8_der(der).ok().map(Box::new)
            }

            /// The encoded public key pk (FIPS 204 Algorithm 22, pkEncode).
            pub(super) fn public(key: &Key) -> Vec<u8> {
                use ml_dsa::signature::Keypair;
                key.verifying_key().encode().to_vec()
            }

            /// FIPS 204 Algorithm 3 (ML-DSA.Verify) with an empty context.
            pub(super) fn verify(public: &[u8], msg: &[u8], sig: &[u8]) -> bool {
                let Ok(pk) = ml_dsa::EncodedVerifyingKey::<$params>::try_from(public) else {
                    return false;
                };
                let Ok(sig) = ml_dsa::EncodedSignature::<$params>::try_from(sig) else {
                    return false;
                };
                let Some(sig) = ml_dsa::Signature::<$params>::decode(&sig) else {
                    return false;
                };
                ml_dsa::VerifyingKey::<$params>::decode(&pk)
                    .verify(msg, &sig)
                    .is_ok()
            }
        }
    };
}

ml_dsa_set!(ml_dsa_44, MlDsa44);
ml_dsa_set!(ml_dsa_65, MlDsa65);
ml_dsa_set!(ml_dsa_87, MlDsa87);

impl PrivateKey {
    /// Generates a fresh key for `alg`.
    pub fn generate(alg: Algorithm, rng: &mut impl CryptoRng) -> Self {
        match alg {
            Algorithm::Es256 => Self::Es256(ec_p256::generate(rng)),
            Algorithm::EdDsa => {
                let mut seed = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(seed.as_mut());
                Self::ed25519(&seed)
            }
            Algorithm::Es384 => Self::Es384(ec_p384::generate(rng)),
            Algorithm::Es512 => Self::Es512(ec_p521::generate(rng)),
            Algorithm::Es256K => Self::Es256K(ec_k256::generate(rng)),
            Algorithm::MlDsa44 | Algorithm::MlDsa65 | Algorithm::MlDsa87 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(seed.as_mut());
                // A 32-byte seed always makes a key.
                Self::from_bytes(alg, seed.as_ref()).unwrap_or_else(|_| Self::ed25519(&seed))
            }
        }
    }

    /// Rebuilds a key from its algorithm and secret bytes
    /// ([`Algorithm::secret_len`] of them).
    pub fn from_bytes(alg: Algorithm, bytes: &[u8]) -> Result<Self, InvalidKey> {
        match alg {
            // Zero and out-of-range scalars are rejected.
            Algorithm::Es256 => Ok(Self::Es256(ec_p256::secret(bytes)?)),
            Algorithm::EdDsa => {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| InvalidKey)?;
                Ok(Self::ed25519(&arr))
            }
            Algorithm::Es384 => Ok(Self::Es384(ec_p384::secret(bytes)?)),
            Algorithm::Es512 => Ok(Self::Es512(ec_p521::secret(bytes)?)),
            Algorithm::Es256K => Ok(Self::Es256K(ec_k256::secret(bytes)?)),
            Algorithm::MlDsa44 => Ok(Self::MlDsa44(ml_dsa_44::from_seed(bytes)?)),
            Algorithm::MlDsa65 => Ok(Self::MlDsa65(ml_dsa_65::from_seed(bytes)?)),
            Algorithm::MlDsa87 => Ok(Self::MlDsa87(ml_dsa_87::from_seed(bytes)?)),
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
            Self::Es384(_) => Algorithm::Es384,
            Self::Es512(_) => Algorithm::Es512,
            Self::Es256K(_) => Algorithm::Es256K,
            Self::MlDsa44(_) => Algorithm::MlDsa44,
            Self::MlDsa65(_) => Algorithm::MlDsa65,
            Self::MlDsa87(_) => Algorithm::MlDsa87,
        }
    }

    /// The secret bytes ([`Algorithm::secret_len`] of them): the scalar of
    /// an ECDSA key, the seed of an Ed25519 key, the seed ξ of an ML-DSA key.
    pub fn secret_bytes(&self) -> &[u8] {
        match self {
            Self::Es256(b) | Self::Es256K(b) => b.as_ref(),
            Self::EdDsa(k) => k.as_bytes(),
            Self::Es384(b) => b.as_ref(),
            Self::Es512(b) => b.as_ref(),
            Self::MlDsa44(k) => k.as_seed().as_slice(),
            Self::MlDsa65(k) => k.as_seed().as_slice(),
            Self::MlDsa87(k) => k.as_seed().as_slice(),
        }
    }

    /// Signs `msg` as WebAuthn expects (WebAuthn §6.5.6): an ASN.1 DER
    /// ECDSA signature over the algorithm's hash of msg for the ECDSA
    /// algorithms, the 64-byte Ed25519 signature over msg for EdDSA.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, InvalidKey> {
        match self {
            Self::Es256(b) => ec_p256::sign(b, msg),
            Self::EdDsa(k) => {
                use ed25519_dalek::Signer;
                Ok(k.sign(msg).to_bytes().to_vec())
            }
            Self::Es384(b) => ec_p384::sign(b, msg),
            Self::Es512(b) => ec_p521::sign(b, msg),
            Self::Es256K(b) => ec_k256::sign(b, msg),
            Self::MlDsa44(k) => ml_dsa_44::sign(k, msg),
            Self::MlDsa65(k) => ml_dsa_65::sign(k, msg),
            Self::MlDsa87(k) => ml_dsa_87::sign(k, msg),
        }
    }

    /// The key as PKCS#8 DER (RFC 5208/5958): an ecPrivateKey (RFC 5915)
    /// on its named curve for the ECDSA algorithms, an Ed25519
    /// OneAsymmetricKey (RFC 8410) for EdDSA, the seed-only ML-DSA
    /// private key of RFC 9881 for ML-DSA. This is the `privateKey`
    /// format of WebDriver's and Chrome DevTools' virtual authenticator
    /// credentials.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, InvalidKey> {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let der = match self {
            Self::Es256(b) => ec_p256::to_pkcs8(b)?,
            // The RFC 8410 §7 form without the optional public key (v1),
            // as BoringSSL writes it.
            Self::EdDsa(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: *k.as_bytes(),
                public_key: None,
            }
            .to_pkcs8_der()
            .map_err(|_| InvalidKey)?
            .as_bytes()
            .to_vec(),
            Self::Es384(b) => ec_p384::to_pkcs8(b)?,
            Self::Es512(b) => ec_p521::to_pkcs8(b)?,
            Self::Es256K(b) => ec_k256::to_pkcs8(b)?,
            Self::MlDsa44(k) => ml_dsa_44::to_pkcs8(k)?,
            Self::MlDsa65(k) => ml_dsa_65::to_pkcs8(k)?,
            Self::MlDsa87(k) => ml_dsa_87::to_pkcs8(k)?,
        };
        Ok(Zeroizing::new(der))
    }

    /// A key from PKCS#8 DER: an ecPrivateKey on P-256, P-384, P-521 or
    /// secp256k1, an Ed25519 key, or an ML-DSA key in RFC 9881's seed form. Any other algorithm or curve, or
    /// malformed DER, is [`InvalidKey`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, InvalidKey> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        if let Some(b) = ec_p256::from_pkcs8(der) {
            return Ok(Self::Es256(b));
        }
        if let Ok(sk) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::EdDsa(Box::new(sk)));
        }
        if let Some(b) = ec_p384::from_pkcs8(der) {
            return Ok(Self::Es384(b));
        }
        if let Some(b) = ec_p521::from_pkcs8(der) {
            return Ok(Self::Es512(b));
        }
        if let Some(b) = ec_k256::from_pkcs8(der) {
            return Ok(Self::Es256K(b));
        }
        if let Some(k) = ml_dsa_44::from_pkcs8(der) {
            return Ok(Self::MlDsa44(k));
        }
        if let Some(k) = ml_dsa_65::from_pkcs8(der) {
            return Ok(Self::MlDsa65(k));
        }
        if let Some(k) = ml_dsa_87::from_pkcs8(der) {
            return Ok(Self::MlDsa87(k));
        }
        Err(InvalidKey)
    }

    /// The public key.
    pub fn public_key(&self) -> Result<PublicKey, InvalidKey> {
        Ok(match self {
            Self::Es256(b) => PublicKey::Es256(ec_p256::public(b)?),
            Self::EdDsa(k) => PublicKey::EdDsa(k.verifying_key()),
            Self::Es384(b) => PublicKey::Es384(ec_p384::public(b)?),
            Self::Es512(b) => PublicKey::Es512(ec_p521::public(b)?),
            Self::Es256K(b) => PublicKey::Es256K(ec_k256::public(b)?),
            Self::MlDsa44(k) => PublicKey::MlDsa44(ml_dsa_44::public(k)),
            Self::MlDsa65(k) => PublicKey::MlDsa65(ml_dsa_65::public(k)),
            Self::MlDsa87(k) => PublicKey::MlDsa87(ml_dsa_87::public(k)),
        })
    }
}

/// A credential public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// A P-256 public key.
    Es256(p256::ecdsa::VerifyingKey),
    /// An Ed25519 public key.
    EdDsa(ed25519_dalek::VerifyingKey),
    /// A P-384 public key.
    Es384(p384::ecdsa::VerifyingKey),
    /// A P-521 public key.
    Es512(p521::ecdsa::VerifyingKey),
    /// A secp256k1 public key.
    Es256K(k256::ecdsa::VerifyingKey),
    /// An encoded ML-DSA-44 public key (1312 bytes).
    MlDsa44(Vec<u8>),
    /// An encoded ML-DSA-65 public key (1952 bytes).
    MlDsa65(Vec<u8>),
    /// An encoded ML-DSA-87 public key (2592 bytes).
    MlDsa87(Vec<u8>),
}

impl PublicKey {
    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Es256(_) => Algorithm::Es256,
            Self::EdDsa(_) => Algorithm::EdDsa,
            Self::Es384(_) => Algorithm::Es384,
            Self::Es512(_) => Algorithm::Es512,
            Self::Es256K(_) => Algorithm::Es256K,
            Self::MlDsa44(_) => Algorithm::MlDsa44,
            Self::MlDsa65(_) => Algorithm::MlDsa65,
            Self::MlDsa87(_) => Algorithm::MlDsa87,
        }
    }

    /// The key's raw bytes: the uncompressed SEC 1 point (0x04 ‖ x ‖ y;
    /// 65 bytes for P-256, FIDO U2F's user public key) for the ECDSA
    /// algorithms, the 32-byte public key (RFC 8032) for EdDSA, the
    /// encoded pk (FIPS 204 pkEncode) for ML-DSA.
    pub fn raw_bytes(&self) -> Vec<u8> {
        match self {
            Self::Es256(vk) => ec_p256::point(vk),
            Self::EdDsa(vk) => vk.to_bytes().to_vec(),
            Self::Es384(vk) => ec_p384::point(vk),
            Self::Es512(vk) => ec_p521::point(vk),
            Self::Es256K(vk) => ec_k256::point(vk),
            Self::MlDsa44(pk) | Self::MlDsa65(pk) | Self::MlDsa87(pk) => pk.clone(),
        }
    }

    /// The COSE_Key, as coset models it.
    pub fn to_cose_key(&self) -> coset::CoseKey {
        // RFC 9053 §7.1.1: an EC2 key carries x and y, each as long as the
        // field (the uncompressed point without its 0x04 prefix).
        let ec2 = |crv: iana::EllipticCurve, alg: iana::Algorithm, point: Vec<u8>| {
            let coords = point.get(1..).unwrap_or_default();
            let (x, y) = coords.split_at(coords.len() / 2);
            coset::CoseKeyBuilder::new_ec2_pub_key(crv, x.to_vec(), y.to_vec())
                .algorithm(alg)
                .build()
        };
        match self {
            Self::Es256(vk) => ec2(
                iana::EllipticCurve::P_256,
                iana::Algorithm::ES256,
                ec_p256::point(vk),
            ),
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
            Self::Es384(vk) => ec2(
                iana::EllipticCurve::P_384,
                iana::Algorithm::ES384,
                ec_p384::point(vk),
            ),
            Self::Es512(vk) => ec2(
                iana::EllipticCurve::P_521,
                iana::Algorithm::ES512,
                ec_p521::point(vk),
            ),
            // RFC 8812 §3.1: secp256k1 is crv 8 of an EC2 key.
            Self::Es256K(vk) => ec2(
                iana::EllipticCurve::Secp256k1,
                iana::Algorithm::ES256K,
                ec_k256::point(vk),
            ),
            // RFC 9964 (ML-DSA for JOSE and COSE), the AKP ("Algorithm Key
            // Pair") key type: kty 7, alg required, the public key in
            // parameter -1 ("pub"); the alg is -48, -49 or -50.
            Self::MlDsa44(pk) => akp(coset::MlDsaVariant::MlDsa44, pk),
            Self::MlDsa65(pk) => akp(coset::MlDsaVariant::MlDsa65, pk),
            Self::MlDsa87(pk) => akp(coset::MlDsaVariant::MlDsa87, pk),
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
            Self::Es256(vk) => ec_p256::verify(vk, msg, sig),
            Self::EdDsa(vk) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| vk.verify_strict(msg, &s).is_ok()),
            Self::Es384(vk) => ec_p384::verify(vk, msg, sig),
            Self::Es512(vk) => ec_p521::verify(vk, msg, sig),
            Self::Es256K(vk) => ec_k256::verify(vk, msg, sig),
            Self::MlDsa44(pk) => ml_dsa_44::verify(pk, msg, sig),
            Self::MlDsa65(pk) => ml_dsa_65::verify(pk, msg, sig),
            Self::MlDsa87(pk) => ml_dsa_87::verify(pk, msg, sig),
        }
    }
}

/// An AKP COSE_Key (RFC 9964): {1: 7, 3: alg, -1: pub}.
fn akp(variant: coset::MlDsaVariant, public: &[u8]) -> coset::CoseKey {
    coset::CoseKeyBuilder::new_mldsa_pub_key(variant, public.to_vec()).build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cbor::{assert_canonical, hex};
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn sign_and_verify_every_algorithm() {
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
        let reference =
            p256::ecdsa::SigningKey::from_bytes(&k.secret_bytes().try_into().unwrap()).unwrap();
        let expected: p256::ecdsa::DerSignature = reference.sign(b"message");
        assert_eq!(k.sign(b"message").unwrap(), expected.as_bytes());
    }

    /// Each curve's own SigningKey hashes with the hash of its COSE
    /// algorithm (SHA-384 for P-384, SHA-512 for P-521, SHA-256 for
    /// secp256k1) and RFC 6979 makes signing deterministic, so the
    /// signatures must match byte for byte.
    #[test]
    fn ecdsa_signatures_match_each_curves_reference_signer() {
        use p256::ecdsa::signature::Signer;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let msg = b"authenticatorData || clientDataHash";
        let k = PrivateKey::generate(Algorithm::Es384, &mut rng);
        let r = p384::ecdsa::SigningKey::from_bytes(&k.secret_bytes().try_into().unwrap()).unwrap();
        let sig: p384::ecdsa::DerSignature = r.sign(msg);
        assert_eq!(k.sign(msg).unwrap(), sig.as_bytes());
        let k = PrivateKey::generate(Algorithm::Es512, &mut rng);
        let r = p521::ecdsa::SigningKey::from_bytes(&k.secret_bytes().try_into().unwrap()).unwrap();
        let sig: p521::ecdsa::DerSignature = r.sign(msg);
        assert_eq!(k.sign(msg).unwrap(), sig.as_bytes());
        let k = PrivateKey::generate(Algorithm::Es256K, &mut rng);
        let r = k256::ecdsa::SigningKey::from_bytes(&k.secret_bytes().try_into().unwrap()).unwrap();
        let sig: k256::ecdsa::DerSignature = r.sign(msg);
        assert_eq!(k.sign(msg).unwrap(), sig.as_bytes());
        // RFC 8812 §3.2 asks for low-S signatures on secp256k1.
        let s = k256::ecdsa::Signature::from_der(&k.sign(msg).unwrap()).unwrap();
        assert!(s.normalize_s() == s);
    }

    #[test]
    fn names_and_cose_identifiers_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_cose(alg.cose()), Some(alg));
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(Algorithm::from_name(&alg.name().to_uppercase()), Some(alg));
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(alg.cose().unsigned_abs());
            let k = PrivateKey::generate(alg, &mut rng);
            assert_eq!(k.secret_bytes().len(), alg.secret_len());
            assert_eq!(k.public_key().unwrap().algorithm(), alg);
            assert!(PrivateKey::from_bytes(alg, &k.secret_bytes()[1..]).is_err());
        }
        assert_eq!(Algorithm::from_name("ed25519"), Some(Algorithm::EdDsa));
        assert_eq!(Algorithm::from_name("es257"), None);
        assert_eq!(Algorithm::from_cose(-257), None);
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
        for alg in [
            Algorithm::Es256,
            Algorithm::Es384,
            Algorithm::Es512,
            Algorithm::Es256K,
        ] {
            let zero = vec![0u8; alg.secret_len()];
            assert_eq!(PrivateKey::from_bytes(alg, &zero).unwrap_err(), InvalidKey);
            // The group order's byte string of all ones is out of range.
            let ff = vec![0xffu8; alg.secret_len()];
            assert!(PrivateKey::from_bytes(alg, &ff).is_err(), "{alg:?}");
        }
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

        // {1: 2 (EC2), 3: -35 (ES384), -1: 2 (P-384), -2: x (48), -3: y (48)}
        let k = PrivateKey::from_bytes(Algorithm::Es384, &[7u8; 48]).unwrap();
        let bytes = k.public_key().unwrap().to_cose_bytes();
        assert_canonical(&bytes);
        let h = hex(&bytes);
        assert!(h.starts_with(concat!("a5", "0102", "033822", "2002", "215830")), "{h}");
        assert!(h.contains("225830"), "{h}");
        assert_eq!(bytes.len(), 1 + 2 + 3 + 2 + 3 + 48 + 3 + 48);

        // {1: 2, 3: -36 (ES512), -1: 3 (P-521), -2: x (66), -3: y (66)}
        let mut d = [0u8; 66];
        d[65] = 7;
        let k = PrivateKey::from_bytes(Algorithm::Es512, &d).unwrap();
        let bytes = k.public_key().unwrap().to_cose_bytes();
        assert_canonical(&bytes);
        let h = hex(&bytes);
        assert!(h.starts_with(concat!("a5", "0102", "033823", "2003", "215842")), "{h}");
        assert_eq!(bytes.len(), 1 + 2 + 3 + 2 + 3 + 66 + 3 + 66);

        // {1: 2, 3: -47 (ES256K), -1: 8 (secp256k1), -2: x, -3: y} (RFC 8812 §3.1)
        let k = PrivateKey::from_bytes(Algorithm::Es256K, &[7u8; 32]).unwrap();
        let pk = k.public_key().unwrap();
        let bytes = pk.to_cose_bytes();
        assert_canonical(&bytes);
        let h = hex(&bytes);
        assert!(h.starts_with(concat!("a5", "0102", "03382e", "2008", "215820")), "{h}");
        assert_eq!(bytes.len(), 78);
        // x and y are the point's coordinates.
        let raw = pk.raw_bytes();
        assert!(h.ends_with(&hex(&raw[33..])), "{h}");

        // RFC 9964 AKP: {1: 7, 3: alg, -1: pub}, pub as FIPS 204 sizes it.
        for (alg, alg_hex, pk_len) in [
            (Algorithm::MlDsa44, "382f", 1312),
            (Algorithm::MlDsa65, "3830", 1952),
            (Algorithm::MlDsa87, "3831", 2592),
        ] {
            let k = PrivateKey::from_bytes(alg, &[7u8; 32]).unwrap();
            let pk = k.public_key().unwrap();
            let bytes = pk.to_cose_bytes();
            assert_canonical(&bytes);
            let h = hex(&bytes);
            let head = format!("a3010703{alg_hex}2059{pk_len:04x}");
            assert!(h.starts_with(&head), "{alg:?}: {}", &h[..20]);
            assert_eq!(bytes.len(), head.len() / 2 + pk_len);
            assert_eq!(pk.raw_bytes().len(), pk_len);
            assert_eq!(&bytes[head.len() / 2..], &pk.raw_bytes()[..]);
        }
    }

    /// FIPS 204 Table 2: the signature sizes; the deterministic variant
    /// signs a message the same way twice, and a signature of one set does
    /// not pass for another.
    #[test]
    fn ml_dsa_sizes_and_determinism() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(44);
        let mut sigs = Vec::new();
        for (alg, sig_len) in [
            (Algorithm::MlDsa44, 2420),
            (Algorithm::MlDsa65, 3309),
            (Algorithm::MlDsa87, 4627),
        ] {
            let k = PrivateKey::generate(alg, &mut rng);
            let sig = k.sign(b"msg").unwrap();
            assert_eq!(sig.len(), sig_len, "{alg:?}");
            assert_eq!(k.sign(b"msg").unwrap(), sig);
            let pk = k.public_key().unwrap();
            assert!(pk.verify(b"msg", &sig));
            assert!(!pk.verify(b"msh", &sig));
            assert!(!pk.verify(b"msg", &sig[1..]));
            sigs.push((pk, sig));
        }
        assert!(!sigs[0].0.verify(b"msg", &sigs[1].1));
        assert!(!sigs[2].0.verify(b"msg", &sigs[0].1));
    }
}
