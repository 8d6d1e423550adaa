//! The attestation lab: registrations whose attestation is wrong in
//! exactly one way, for an RP that demands trusted attestation. Everything
//! else in them is valid: the certificates are issued by the CA the RP
//! trusts (the identity of `attestation_state`) unless the defect is the
//! root, and every signature is made anew over what is sent.
//!
//! WebAuthn L3 §8.2 (packed) and §8.2.1 (its certificate requirements),
//! §8.6 (fido-u2f), §7.1 step 22 (the trust path to an acceptable root)
//! and RFC 5280 §6.1 (path validation, validity periods included).

use authenticator_core::crypto::attestation_ca::{LeafKey, LeafSpec};
use authenticator_core::crypto::keys::{Algorithm, PrivateKey, PublicKey};
use authenticator_core::crypto::sha256;
use authenticator_core::AttestationIdentity;
use uhid_device::presence::OsRng;

use super::{Build, Case, CaseResult, Phase, Ready};
use crate::checker::Checker;
use crate::forge::Registration;
use crate::http::{Jar, Verdict};
use crate::lab::Lab;

/// How a lab case replaces a registration's attestation statement.
pub(crate) type Attest = fn(&mut Registration, &Checker, &Lab) -> Result<(), String>;

/// COSE ES256 (−7): the algorithm of every statement the lab signs with
/// a P-256 key.
const ES256: i64 = -7;

/// The organization and common name of the lab's certificates.
const ORG: &str = "fidosim";
const CN: &str = "fidosim attestation lab";

pub(super) const CASES: &[Case] = &[
    // §8.2 + §7.1 step 22: the chain must end at a root the RP trusts.
    Case {
        name: "register.attestation-untrusted-root",
        phase: Phase::Register,
        must_accept: false,
        sent: "packed x5c: a valid chain to a root the RP does not trust",
        ready: lab_ready,
        build: Build::Attestation {
            u2f: false,
            attest: untrusted_root,
        },
    },
    // §8.2.1: "The Basic Constraints extension MUST have the CA component
    // set to false."
    Case {
        name: "register.attestation-ca-leaf",
        phase: Phase::Register,
        must_accept: false,
        sent: "packed x5c: the attestation certificate says CA:true",
        ready: lab_ready,
        build: Build::Attestation {
            u2f: false,
            attest: |r, _, lab| {
                issued_leaf(
                    r,
                    lab,
                    LeafSpec {
                        ca: true,
                        ..LeafSpec::attestation(ORG, CN, lab.aaguid)
                    },
                )
            },
        },
    },
    // RFC 5280 §6.1.3 (a)(2): the certificate must be valid now.
    Case {
        name: "register.attestation-expired-leaf",
        phase: Phase::Register,
        must_accept: false,
        sent: "packed x5c: the attestation certificate expired in 2021",
        ready: lab_ready,
        build: Build::Attestation {
            u2f: false,
            attest: |r, _, lab| {
                issued_leaf(
                    r,
                    lab,
                    LeafSpec {
                        not_before: (2020, 1, 1),
                        not_after: Some((2021, 1, 1)),
                        ..LeafSpec::attestation(ORG, CN, lab.aaguid)
                    },
                )
            },
        },
    },
    // §8.2 verification procedure: an id-fido-gen-ce-aaguid extension
    // must match the AAGUID in authenticatorData.
    Case {
        name: "register.attestation-aaguid-mismatch",
        phase: Phase::Register,
        must_accept: false,
        sent: "packed x5c: the certificate's AAGUID extension names another AAGUID",
        ready: lab_ready,
        build: Build::Attestation {
            u2f: false,
            attest: |r, _, lab| {
                let mut other = lab.aaguid;
                other[0] ^= 0xff;
                issued_leaf(r, lab, LeafSpec::attestation(ORG, CN, other))
            },
        },
    },
    // §8.2.1: Subject-OU is the literal "Authenticator Attestation".
    Case {
        name: "register.attestation-wrong-ou",
        phase: Phase::Register,
        must_accept: false,
        sent: "packed x5c: the certificate's OU is not \"Authenticator Attestation\"",
        ready: lab_ready,
        build: Build::Attestation {
            u2f: false,
            attest: |r, _, lab| {
                issued_leaf(
                    r,
                    lab,
                    LeafSpec {
                        organizational_unit: "Authenticator",
                        ..LeafSpec::attestation(ORG, CN, lab.aaguid)
                    },
                )
            },
        },
    },
    // §8.2: sig must verify with the attestation certificate's key.
    Case {
        name: "register.attestation-wrong-key",
        phase: Phase::Register,
        must_accept: false,
        sent: "packed x5c: the trusted certificate, the signature by another key",
        ready: lab_ready,
        build: Build::Attestation {
            u2f: false,
            attest: |r, _, lab| {
                let other = PrivateKey::generate(Algorithm::Es256, &mut rng());
                let sig = other.sign(&r.signed_data()).map_err(|_| "cannot sign")?;
                r.set_packed(ES256, sig, vec![lab.trusted.batch_cert_der().to_vec()]);
                Ok(())
            },
        },
    },
    // §8.6 step 6: the signature is over the U2F verificationData.
    Case {
        name: "register.fido-u2f-wrong-data",
        phase: Phase::Register,
        must_accept: false,
        sent: "fido-u2f: the trusted certificate, signed over authData || clientDataHash",
        ready: lab_ready,
        build: Build::Attestation {
            u2f: true,
            attest: |r, c, lab| {
                // What packed signs, a mistake an authenticator could make.
                u2f_shape(r, c)?;
                let sig = lab.trusted.sign_batch(&r.signed_data());
                r.set_fido_u2f(sig, lab.trusted.batch_cert_der().to_vec());
                Ok(())
            },
        },
    },
    // §8.6 step 2: the certificate's key must be EC P-256.
    Case {
        name: "register.fido-u2f-not-p256",
        phase: Phase::Register,
        must_accept: false,
        sent: "fido-u2f: a trusted certificate with an Ed25519 key, signed by it",
        ready: lab_ready,
        build: Build::Attestation {
            u2f: true,
            attest: |r, c, lab| {
                let data = u2f_shape(r, c)?;
                let key = PrivateKey::generate(Algorithm::EdDsa, &mut rng());
                let public = raw_public(&key)?;
                let public: [u8; 32] = public
                    .as_slice()
                    .try_into()
                    .map_err(|_| "an Ed25519 key of the wrong size")?;
                let cert = lab
                    .trusted
                    .issue_leaf(
                        &mut rng(),
                        LeafKey::Ed25519(&public),
                        &LeafSpec::attestation(ORG, CN, lab.aaguid),
                    )
                    .map_err(|e| format!("cannot issue the certificate: {e}"))?;
                let sig = key.sign(&data).map_err(|_| "cannot sign")?;
                r.set_fido_u2f(sig, cert);
                Ok(())
            },
        },
    },
    // §7.1 step 22: self attestation is not trusted attestation.
    Case {
        name: "register.self-attestation",
        phase: Phase::Register,
        must_accept: false,
        sent: "packed self attestation to an RP that demands trusted attestation",
        ready: lab_ready,
        build: Build::Attestation {
            u2f: false,
            attest: |r, c, _| {
                let id = r.credential_id().ok_or("no credential ID")?;
                let key = c
                    .credential_key(id)
                    .ok_or("the credential's key is not held")?;
                let sig = key.sign(&r.signed_data()).map_err(|_| "cannot sign")?;
                r.set_packed(key.algorithm().cose(), sig, Vec::new());
                Ok(())
            },
        },
    },
];

/// The lab runs against an RP that demands trusted attestation, with the
/// identity of a key it trusts.
fn lab_ready(c: &Checker) -> Ready {
    if !c.cfg.requires_trusted_attestation {
        Ready::Skip("the config does not say the RP demands trusted attestation")
    } else if c.lab.is_none() {
        Ready::Skip("the config names no attestation_state")
    } else {
        Ready::Yes
    }
}

/// The OS's randomness, as the key's own environment draws it.
fn rng() -> OsRng {
    OsRng::default()
}

fn raw_public(key: &PrivateKey) -> Result<Vec<u8>, String> {
    key.public_key()
        .map(|p| p.raw_bytes())
        .map_err(|_| "a key without a public key".to_owned())
}

/// A packed statement with a fresh P-256 key whose certificate the
/// trusted CA issues as `spec` says, signed by that key.
fn issued_leaf(r: &mut Registration, lab: &Lab, spec: LeafSpec<'_>) -> Result<(), String> {
    let key = PrivateKey::generate(Algorithm::Es256, &mut rng());
    let public = raw_public(&key)?;
    let cert = lab
        .trusted
        .issue_leaf(&mut rng(), LeafKey::P256(&public), &spec)
        .map_err(|e| format!("cannot issue the certificate: {e}"))?;
    let sig = key.sign(&r.signed_data()).map_err(|_| "cannot sign")?;
    r.set_packed(ES256, sig, vec![cert]);
    Ok(())
}

/// A chain that is right in every way but its root: a CA of its own,
/// sent along in x5c, as a forger would.
fn untrusted_root(r: &mut Registration, _: &Checker, lab: &Lab) -> Result<(), String> {
    let rogue = AttestationIdentity::generate(&mut rng(), lab.aaguid, ORG, CN)
        .map_err(|e| format!("cannot make the certificates: {e}"))?;
    let sig = rogue.sign_batch(&r.signed_data());
    r.set_packed(
        ES256,
        sig,
        vec![
            rogue.batch_cert_der().to_vec(),
            rogue.ca_cert_der().to_vec(),
        ],
    );
    Ok(())
}

/// Makes the registration what a client makes of a U2F authenticator's
/// (CTAP 2.1 §10.3; WebAuthn L3 §8.6): the AAGUID all zeros. Returns the
/// U2F verificationData: 0x00 || rpIdHash || clientDataHash ||
/// credentialId || publicKeyU2F (the credential's uncompressed P-256 point).
fn u2f_shape(r: &mut Registration, c: &Checker) -> Result<Vec<u8>, String> {
    if r.auth_data.len() < 55 {
        return Err("authenticatorData without attested credential data".into());
    }
    let id = r.credential_id().ok_or("no credential ID")?.to_vec();
    let key = c
        .credential_key(&id)
        .ok_or("the credential's key is not held")?;
    let public = match key.public_key() {
        Ok(p @ PublicKey::Es256(_)) => p.raw_bytes(),
        _ => return Err("skip: fido-u2f needs an ES256 credential".into()),
    };
    r.auth_data[37..53].fill(0);
    let mut data = vec![0x00];
    data.extend_from_slice(&r.auth_data[..32]);
    data.extend_from_slice(&sha256(&r.client_data_bytes()));
    data.extend_from_slice(&id);
    data.extend_from_slice(&public);
    Ok(data)
}

/// A valid fido-u2f statement by the trusted batch key.
fn valid_u2f(r: &mut Registration, c: &Checker, lab: &Lab) -> Result<(), String> {
    let data = u2f_shape(r, c)?;
    let sig = lab.trusted.sign_batch(&data);
    r.set_fido_u2f(sig, lab.trusted.batch_cert_der().to_vec());
    Ok(())
}

/// One registration for a fresh user, its statement replaced by
/// `attest`; for fido-u2f with an ES256 credential.
async fn attested(c: &mut Checker, u2f: bool, attest: Attest) -> CaseResult {
    let user = c.fresh_user("att");
    let mut jar = Jar::default();
    let mut options = c.begin_registration(&mut jar, &user).await?;
    if u2f {
        // §8.6: a U2F credential is a P-256 key.
        if !options.pub_key_cred_params.iter().any(|p| p.alg == ES256) {
            return Err("skip: the RP does not offer ES256, which fido-u2f needs".into());
        }
        options.pub_key_cred_params.retain(|p| p.alg == ES256);
    }
    let (response, _) = c.registration_response(&options)?;
    let mut r = Registration::decode(&response)?;
    let lab = c
        .lab
        .as_ref()
        .ok_or("skip: the config names no attestation_state")?;
    attest(&mut r, c, lab)?;
    let response = r.encode();
    Ok(Some(
        c.complete_registration(&mut jar, &user, &response).await,
    ))
}

/// Runs a lab case. The fido-u2f defects tell something only if the RP
/// takes a valid fido-u2f registration from the trusted key: that is
/// asked once, first, and the fido-u2f cases are skipped when refused.
pub(super) async fn run(c: &mut Checker, u2f: bool, attest: Attest) -> CaseResult {
    if u2f {
        let accepted = match c.u2f_accepted {
            Some(a) => a,
            None => {
                let v = attested(c, true, valid_u2f).await?;
                let a = matches!(v, Some(Verdict::Accepted(_)));
                c.u2f_accepted = Some(a);
                a
            }
        };
        if !accepted {
            return Err(
                "skip: the RP refused a valid fido-u2f registration by the trusted key, so its fido-u2f checks cannot be told apart"
                    .into(),
            );
        }
    }
    attested(c, u2f, attest).await
}
