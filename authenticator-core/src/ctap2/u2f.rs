//! CTAP1 / FIDO U2F raw messages (CTAP 2.1 §11.2.9.1.1 CTAPHID_MSG,
//! FIDO U2F Raw Message Formats).
//!
//! A CTAP2 device answers U2F as well (CTAP 2.1 §1.1: "CTAP2 authenticators
//! SHOULD also implement CTAP1/U2F"), and a platform may drive a credential
//! through either protocol: CTAP 2.1 §10 maps U2F onto WebAuthn with
//! rpIdHash = application parameter and clientDataHash = challenge
//! parameter, and §6.2 requires that a credential created over CTAP1/U2F be
//! assertable over CTAP2 (and not be discoverable). So the two share
//! credentials:
//!
//! - a U2F key handle is a sealed, non-discoverable ES256 credential ID,
//!   exactly what authenticatorMakeCredential issues (see `crypto::seal`),
//!   bound to the application parameter as its RP ID hash;
//! - U2F_AUTHENTICATE accepts any ES256 credential of this device for that
//!   application parameter (unless its credProtect level demands user
//!   verification), and uses the same signature counter as
//!   authenticatorGetAssertion.
//!
//! ```text
//!  APDU ──► parse (ISO 7816-4 short / extended) ──► CLA, INS ──► register
//!                                                             ├─► authenticate
//!  data ‖ SW1 SW2 ◄──────────────────────────────────────────└─► version
//! ```
//!
//! Bare section numbers (§4.1) are of FIDO U2F Raw Message Formats v1.2;
//! CTAP ones say so.
//!
//! The test of user presence is polled in U2F: without a touch the device
//! answers SW_CONDITIONS_NOT_SATISFIED at once and the client asks again.
//! The request goes to [`Env::check_user`] as
//! [`PresenceRequest::U2fRegister`] / [`PresenceRequest::U2fAuthenticate`],
//! and any error from it (denied, not yet, cancelled) is that status word.

use super::Authenticator;
use crate::crypto::keys::{Algorithm, PrivateKey, PublicKey};
use crate::crypto::seal;
use crate::env::{Env, PresenceRequest};

/// The command completed (U2F Raw Message Formats v1.2 §3.3).
const SW_NO_ERROR: u16 = 0x9000;
/// Test of user presence required (§3.3); also the "yes, this key handle is
/// mine" answer of check-only (§5.1).
const SW_CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
/// Invalid key handle (§3.3).
const SW_WRONG_DATA: u16 = 0x6A80;
/// The request length is invalid (§3.3).
const SW_WRONG_LENGTH: u16 = 0x6700;
/// CLA is not 0 (§3.3).
const SW_CLA_NOT_SUPPORTED: u16 = 0x6E00;
/// Unknown INS (§3.3).
const SW_INS_NOT_SUPPORTED: u16 = 0x6D00;
/// ISO 7816-4 "no precise diagnosis": the store or a signature failed.
/// U2F defines no status word for an internal failure.
const SW_UNKNOWN: u16 = 0x6F00;

/// U2F_REGISTER (§4.1).
const INS_REGISTER: u8 = 0x01;
/// U2F_AUTHENTICATE (§5.1).
const INS_AUTHENTICATE: u8 = 0x02;
/// U2F_VERSION (§6.1).
const INS_VERSION: u8 = 0x03;

/// U2F_AUTHENTICATE control byte (§5.1): check-only.
const P1_CHECK_ONLY: u8 = 0x07;
/// U2F_AUTHENTICATE control byte (§5.1): enforce-user-presence-and-sign.
const P1_ENFORCE_UP: u8 = 0x03;
/// U2F_AUTHENTICATE control byte (§5.1): dont-enforce-user-presence-and-sign.
const P1_DONT_ENFORCE_UP: u8 = 0x08;

/// The registration response's reserved first byte (§4.3).
const REGISTER_RESERVED: u8 = 0x05;
/// Length of the challenge and application parameters (§4.1, §5.1).
const PARAM_LEN: usize = 32;
/// The only version this protocol defines (§6.1).
const VERSION: &[u8] = b"U2F_V2";

/// Bit 0 of the user presence byte (§5.4); bits 1–7 are 0.
const USER_PRESENT: u8 = 0x01;

/// A command APDU (U2F Raw Message Formats v1.2 §3.1): header and data.
/// Le is checked for form but otherwise ignored: the response goes back
/// whole, as U2F clients over CTAPHID expect.
struct Apdu<'a> {
    cla: u8,
    ins: u8,
    p1: u8,
    data: &'a [u8],
}

impl<'a> Apdu<'a> {
    /// Splits an APDU into header and command data, for the ISO 7816-4
    /// cases 1–4 in short and extended length encoding (both are allowed by
    /// §3.1 of the U2F raw message formats).
    fn parse(apdu: &'a [u8]) -> Result<Self, u16> {
        let [cla, ins, p1, _p2, body @ ..] = apdu else {
            return Err(SW_WRONG_LENGTH);
        };
        Ok(Self {
            cla: *cla,
            ins: *ins,
            p1: *p1,
            data: command_data(body).ok_or(SW_WRONG_LENGTH)?,
        })
    }
}

/// The command data in the bytes after an APDU header, or `None` when they
/// are no valid encoding.
fn command_data(body: &[u8]) -> Option<&[u8]> {
    match body {
        // Case 1 (nothing) and case 2S (a one-byte Le).
        [] | [_] => Some(&[]),
        // Extended length: a 0 byte, then two-byte fields.
        [0, rest @ ..] => match rest {
            // Case 2E: a two-byte Le.
            [_, _] => Some(&[]),
            [hi, lo, tail @ ..] => {
                let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
                if lc == 0 {
                    // Lc = 0 is no ISO 7816-4 encoding, but common clients
                    // (python-fido2, for one) send `00 0000` plus a
                    // two-byte Le for a request without data.
                    (tail.len() == 2).then_some(&[][..])
                } else if tail.len() == lc || tail.len() == lc + 2 {
                    // Case 3E, or case 4E with a two-byte Le.
                    tail.get(..lc)
                } else {
                    None
                }
            }
            _ => None,
        },
        // Short: Lc (1–255), data, and in case 4S a one-byte Le.
        [lc, tail @ ..] => {
            let lc = usize::from(*lc);
            if tail.len() == lc || tail.len() == lc + 1 {
                tail.get(..lc)
            } else {
                None
            }
        }
    }
}

/// Splits a 32-byte parameter off the front of `data`.
fn param(data: &[u8]) -> Option<([u8; PARAM_LEN], &[u8])> {
    let (head, rest) = data.split_first_chunk::<PARAM_LEN>()?;
    Some((*head, rest))
}

impl<E: Env> Authenticator<E> {
    /// Handles one CTAP1/U2F request APDU (the payload of a CTAPHID_MSG,
    /// CTAP 2.1 §11.2.9.1.1) and returns the response: data ‖ SW1 SW2.
    /// Never panics, on any input.
    pub fn handle_ctap1(&mut self, apdu: &[u8]) -> Vec<u8> {
        // Like any command other than getNextAssertion (CTAP 2.1 §6.3), a
        // U2F message ends a getAssertion sequence.
        self.next_assertion = None;
        let (mut out, sw) = match self.ctap1(apdu) {
            Ok(data) => (data, SW_NO_ERROR),
            Err(sw) => (Vec::new(), sw),
        };
        out.extend_from_slice(&sw.to_be_bytes());
        out
    }

    fn ctap1(&mut self, apdu: &[u8]) -> Result<Vec<u8>, u16> {
        let apdu = Apdu::parse(apdu)?;
        if apdu.cla != 0 {
            return Err(SW_CLA_NOT_SUPPORTED);
        }
        match apdu.ins {
            // P1 and P2 of U2F_REGISTER carry nothing this device uses
            // (clients send 0x00, 0x03 or the 0x80 "individual attestation"
            // hint); they are ignored.
            INS_REGISTER => self.u2f_register(apdu.data),
            INS_AUTHENTICATE => self.u2f_authenticate(apdu.p1, apdu.data),
            // §6.1: no request data.
            INS_VERSION if apdu.data.is_empty() => Ok(VERSION.to_vec()),
            INS_VERSION => Err(SW_WRONG_LENGTH),
            _ => Err(SW_INS_NOT_SUPPORTED),
        }
    }

    /// U2F_REGISTER (§4.1 request, §4.3 response).
    fn u2f_register(&mut self, data: &[u8]) -> Result<Vec<u8>, u16> {
        // §4.1: challenge parameter ‖ application parameter, 32 bytes each.
        let (challenge, rest) = param(data).ok_or(SW_WRONG_LENGTH)?;
        let (app_param, rest) = param(rest).ok_or(SW_WRONG_LENGTH)?;
        if !rest.is_empty() {
            return Err(SW_WRONG_LENGTH);
        }
        // U2F credentials are ES256; a device configured without it makes
        // none (authentication with existing credentials still works).
        if !self.config.algorithms.contains(&Algorithm::Es256) {
            return Err(SW_INS_NOT_SUPPORTED);
        }
        // §4.3: "U2F tokens SHOULD verify user presence before returning a
        // registration response success message". Browser probes (an
        // all-zero or bogus application parameter, sent only to make the
        // user touch a key) end here or below without changing any state:
        // the key handle carries the key, nothing is stored.
        let request = PresenceRequest::U2fRegister {
            app_id_hash: app_param,
        };
        self.env
            .check_user(&request, true, false)
            .map_err(|_| SW_CONDITIONS_NOT_SATISFIED)?;

        let key = PrivateKey::generate(Algorithm::Es256, self.env.rng());
        let public = match key.public_key() {
            Ok(PublicKey::Es256(vk)) => vk.to_sec1_point(false),
            _ => return Err(SW_UNKNOWN),
        };
        let public = public.as_bytes();
        // The key handle is a non-discoverable CTAP2 credential ID for RP ID
        // hash = application parameter, so getAssertion accepts it too (CTAP
        // 2.1 §6.2, with the parameter mapping of §10.3).
        let sealed = seal::Sealed {
            key,
            discoverable: false,
            cred_protect: 0,
        };
        let key_handle = seal::seal(&self.master, &app_param, &sealed, self.env.rng());
        let key_handle_len = u8::try_from(key_handle.len()).map_err(|_| SW_UNKNOWN)?;

        // §4.3: the signature is over 0x00 ‖ application parameter ‖
        // challenge parameter ‖ key handle ‖ user public key, made with the
        // attestation key; the certificate is the batch certificate.
        let mut signed = Vec::with_capacity(1 + 2 * PARAM_LEN + key_handle.len() + public.len());
        signed.push(0x00);
        signed.extend_from_slice(&app_param);
        signed.extend_from_slice(&challenge);
        signed.extend_from_slice(&key_handle);
        signed.extend_from_slice(public);
        let signature = self.identity.sign_batch(&signed);
        let cert = self.identity.batch_cert_der();

        let mut out =
            Vec::with_capacity(2 + public.len() + key_handle.len() + cert.len() + signature.len());
        out.push(REGISTER_RESERVED);
        out.extend_from_slice(public);
        out.push(key_handle_len);
        out.extend_from_slice(&key_handle);
        out.extend_from_slice(cert);
        out.extend_from_slice(&signature);
        Ok(out)
    }

    /// U2F_AUTHENTICATE (§5.1 request, §5.4 response).
    fn u2f_authenticate(&mut self, control: u8, data: &[u8]) -> Result<Vec<u8>, u16> {
        // §5.1: challenge parameter ‖ application parameter ‖ key handle
        // length (1 byte) ‖ key handle.
        let (challenge, rest) = param(data).ok_or(SW_WRONG_LENGTH)?;
        let (app_param, rest) = param(rest).ok_or(SW_WRONG_LENGTH)?;
        let (&len, key_handle) = rest.split_first().ok_or(SW_WRONG_LENGTH)?;
        if key_handle.len() != usize::from(len) {
            return Err(SW_WRONG_LENGTH);
        }
        if ![P1_CHECK_ONLY, P1_ENFORCE_UP, P1_DONT_ENFORCE_UP].contains(&control) {
            // U2F names no status word for an unknown control byte.
            return Err(SW_WRONG_DATA);
        }

        // §5.1: a key handle this device did not issue for this application
        // parameter is a "bad key handle". So is one U2F cannot use: EdDSA
        // (U2F signatures are ECDSA P-256), or credProtect
        // userVerificationRequired (CTAP 2.1 §12.1; U2F has no user
        // verification).
        let credential = self
            .find_own_credential(&app_param, "", key_handle)
            .filter(|c| c.key.algorithm() == Algorithm::Es256 && c.cred_protect < 3)
            .ok_or(SW_WRONG_DATA)?;

        let presence = match control {
            // §5.1: check-only answers "test of user presence required" for
            // a key handle of ours, which signals success.
            P1_CHECK_ONLY => return Err(SW_CONDITIONS_NOT_SATISFIED),
            P1_ENFORCE_UP => {
                let request = PresenceRequest::U2fAuthenticate {
                    app_id_hash: app_param,
                };
                self.env
                    .check_user(&request, true, false)
                    .map_err(|_| SW_CONDITIONS_NOT_SATISFIED)?;
                USER_PRESENT
            }
            // dont-enforce-user-presence-and-sign: signed without asking,
            // and the presence bit says so.
            _ => 0,
        };

        // The counter getAssertion uses for this credential ID, advanced
        // and committed before the signature is made; 0 in AlwaysZero mode.
        let counter = self
            .next_sign_count(&credential.id)
            .map_err(|_| SW_UNKNOWN)?;
        let counter = counter.to_be_bytes();

        // §5.4: the signature is over application parameter ‖ user presence
        // ‖ counter ‖ challenge parameter.
        let mut signed = Vec::with_capacity(2 * PARAM_LEN + 5);
        signed.extend_from_slice(&app_param);
        signed.push(presence);
        signed.extend_from_slice(&counter);
        signed.extend_from_slice(&challenge);
        let signature = credential.key.sign(&signed).map_err(|_| SW_UNKNOWN)?;

        let mut out = Vec::with_capacity(5 + signature.len());
        out.push(presence);
        out.extend_from_slice(&counter);
        out.extend_from_slice(&signature);
        Ok(out)
    }
}

#[cfg(test)]
#[path = "u2f_tests.rs"]
mod tests;
