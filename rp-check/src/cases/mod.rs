//! The catalogue: one [`Case`] value per case, holding its stable name,
//! its phase, what it sends, and how it is built. Adding a case means
//! adding one value to the list of its module:
//!
//! - `baseline`: the valid registration and assertion the RP must accept;
//! - `register`: registration responses with one defect each;
//! - `login`: assertions with one defect each, most of them signed validly;
//! - `attestation`: the attestation lab, registrations whose attestation
//!   is wrong in one way, for an RP that demands trusted attestation;
//! - `session`: challenges and responses used again within one session.
//!
//! The order of [`all`] is the order the cases run and are reported in.

mod attestation;
mod baseline;
mod login;
mod register;
mod session;

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::checker::Checker;
use crate::forge::{AssertionInput, Registration};
use crate::http::Verdict;

/// When a case runs, and what the RP must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A registration ceremony (WebAuthn L3 §7.1).
    Register,
    /// An authentication ceremony (WebAuthn L3 §7.2) for the baseline
    /// user, whose credential it needs.
    Login,
}

/// What a case gives back: the RP's verdict; `None` when there was
/// nothing to send; an error starting with `skip: ` when the case does
/// not apply to this RP.
pub(crate) type CaseResult = Result<Option<Verdict>, String>;

/// A running case with a flow of its own.
pub(crate) type CaseFuture<'a> = Pin<Box<dyn Future<Output = CaseResult> + 'a>>;

/// A change to a registration response's JSON before it is sent.
pub(crate) type RegEdit = fn(&mut Value, &Checker) -> Result<(), String>;

/// A change to a registration response's decoded parts; `Some` replaces
/// the attestation object's bytes.
pub(crate) type RegDefect = fn(&mut Registration, &Checker) -> Result<Option<Vec<u8>>, String>;

/// A change to an assertion's inputs (signed afterwards).
pub(crate) type Change = fn(&mut AssertionInput, &Checker);

/// A change to the finished assertion response JSON (after signing).
pub(crate) type Defect = fn(&mut Value);

/// A case that drives the ceremonies itself.
pub(crate) type Flow = fn(&mut Checker) -> CaseFuture<'_>;

/// How a case is built and what it sends.
#[derive(Clone, Copy)]
pub(crate) enum Build {
    /// A registration for a fresh user, its response JSON changed.
    Register(RegEdit),
    /// A registration for a fresh user, its authenticator data or
    /// attestation object changed.
    RegisterParts(RegDefect),
    /// A login for the baseline user, its assertion's inputs changed and
    /// then signed.
    Login(Change),
    /// A login for the baseline user, its signed response JSON changed.
    LoginResponse(Defect),
    /// A registration for a fresh user whose attestation statement the
    /// attestation lab replaces; for fido-u2f (`u2f`) with an ES256
    /// credential, once the RP took a valid fido-u2f registration.
    Attestation {
        u2f: bool,
        attest: attestation::Attest,
    },
    /// Ceremonies of the case's own.
    Flow(Flow),
}

/// Whether a case can be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    /// Send it.
    Yes,
    /// There is nothing to send: no verdict, and not reported as skipped.
    Nothing,
    /// The case does not apply to this RP, for this reason.
    Skip(&'static str),
}

/// One row of the catalogue.
#[derive(Clone, Copy)]
pub(crate) struct Case {
    /// The stable name (`--case` selects by its prefix).
    pub(crate) name: &'static str,
    pub(crate) phase: Phase,
    /// Whether the RP must accept it (the baselines) or reject it.
    pub(crate) must_accept: bool,
    /// What is sent, in a few words (the report's SENT column).
    pub(crate) sent: &'static str,
    /// Whether it can be sent now, asked right before it is built.
    pub(crate) ready: fn(&Checker) -> Ready,
    pub(crate) build: Build,
}

/// The catalogue, in the order the cases run.
pub(crate) fn all() -> impl Iterator<Item = &'static Case> {
    [
        baseline::CASES,
        register::CASES,
        attestation::CASES,
        session::REGISTER,
        login::CASES,
        session::LOGIN,
    ]
    .into_iter()
    .flatten()
}

impl Case {
    /// Runs the case against the RP.
    pub(crate) async fn run(&self, c: &mut Checker) -> CaseResult {
        if self.phase == Phase::Login {
            // A login needs the baseline user's credential; without one
            // the case is skipped.
            c.baseline()?;
        }
        match (self.ready)(c) {
            Ready::Yes => {}
            Ready::Nothing => return Ok(None),
            Ready::Skip(why) => return Err(format!("skip: {why}")),
        }
        match self.build {
            // What the key signed is signed anew after the change, so that
            // the change is the only thing wrong.
            Build::Register(edit) => {
                c.reg_case(|v, c| {
                    edit(v, c)?;
                    c.resign_json(v)
                })
                .await
            }
            Build::RegisterParts(defect) => {
                c.reg_case(|v, c| {
                    let mut r = Registration::decode(v)?;
                    *v = match defect(&mut r, c)? {
                        // The attestation object's encoding is the defect;
                        // what was signed is unchanged.
                        Some(object) => r.encode_with(&object),
                        None => {
                            c.resign(&mut r)?;
                            r.encode()
                        }
                    };
                    Ok(())
                })
                .await
            }
            Build::Attestation { u2f, attest } => attestation::run(c, u2f, attest).await,
            Build::Login(change) => c.login_case(change, |_| {}).await,
            Build::LoginResponse(defect) => c.login_case(|_, _| {}, defect).await,
            Build::Flow(flow) => flow(c).await,
        }
    }
}

/// Every case whose preconditions are the ceremony's own.
fn always(_: &Checker) -> Ready {
    Ready::Yes
}

/// The UV cases apply only to an RP that requires user verification.
fn uv_required(c: &Checker) -> Ready {
    if c.uv_required {
        Ready::Yes
    } else {
        Ready::Skip("the RP does not require user verification")
    }
}

fn flip_first_bit(b: &mut [u8]) {
    if let Some(x) = b.first_mut() {
        *x ^= 0x01;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names and their order are part of the output (`--json`, the
    /// table, `--case` prefixes): a change here is a change for every user.
    #[test]
    fn the_catalogue_keeps_its_names_and_order() {
        let names: Vec<_> = all().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "register.baseline",
                "login.baseline",
                "register.wrong-origin",
                "register.wrong-type",
                "register.challenge-altered",
                "register.challenge-reused",
                "register.wrong-rp-id-hash",
                "register.up-clear",
                "register.uv-clear",
                "register.trailing-bytes",
                "register.attested-data-malformed",
                "register.alg-mismatch",
                "register.duplicate-cbor-keys",
                "register.non-canonical-cbor",
                "register.oversized-credential-id",
                "register.credential-id-reused",
                "register.untrusted-attestation",
                "register.attestation-untrusted-root",
                "register.attestation-ca-leaf",
                "register.attestation-expired-leaf",
                "register.attestation-aaguid-mismatch",
                "register.attestation-wrong-ou",
                "register.attestation-wrong-key",
                "register.fido-u2f-wrong-data",
                "register.fido-u2f-not-p256",
                "register.self-attestation",
                "register.challenge-consumed",
                "register.response-replayed",
                "register.challenge-superseded",
                "register.challenge-expired",
                "login.wrong-origin",
                "login.wrong-type",
                "login.challenge-altered",
                "login.challenge-reused",
                "login.wrong-rp-id-hash",
                "login.up-clear",
                "login.uv-clear",
                "login.signature-invalid",
                "login.signature-over-other-data",
                "login.counter-regression",
                "login.counter-not-increasing",
                "login.trailing-bytes",
                "login.replayed-assertion",
                "login.other-users-credential",
                "login.challenge-consumed",
                "login.response-replayed",
                "login.challenge-superseded",
                "login.challenge-expired",
            ]
        );
    }

    #[test]
    fn names_say_their_phase_and_only_baselines_must_be_accepted() {
        for c in all() {
            let prefix = match c.phase {
                Phase::Register => "register.",
                Phase::Login => "login.",
            };
            assert!(c.name.starts_with(prefix), "{}", c.name);
            assert_eq!(c.must_accept, c.name.ends_with(".baseline"), "{}", c.name);
            assert!(!c.sent.is_empty(), "{}", c.name);
        }
    }
}
