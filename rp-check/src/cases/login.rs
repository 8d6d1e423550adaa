//! Assertions with one defect each, in logins for the baseline user; the
//! RP must reject every one (WebAuthn L3 §7.2, verifying an authentication
//! assertion). Most are signed validly with the credential's key, so that
//! the defect is the only thing wrong.

use authenticator_core::crypto::sha256;
use fidosim_webauthn::json::{self, unb64url};
use serde_json::json;

use super::{always, flip_first_bit, uv_required, Build, Case, CaseFuture, Phase, Ready};
use crate::checker::Checker;
use crate::forge::{UP, UV};
use crate::http::Verdict;

pub(super) const CASES: &[Case] = &[
    // §7.2: C.origin must be the RP's origin.
    Case {
        name: "login.wrong-origin",
        phase: Phase::Login,
        must_accept: false,
        sent: "clientDataJSON.origin https://evil.example, signed",
        ready: always,
        build: Build::Login(|i, _| i.origin = "https://evil.example".into()),
    },
    // §7.2: C.type must be webauthn.get.
    Case {
        name: "login.wrong-type",
        phase: Phase::Login,
        must_accept: false,
        sent: "clientDataJSON.type webauthn.create, signed",
        ready: always,
        build: Build::Login(|i, _| i.kind = "webauthn.create".into()),
    },
    // §7.2: C.challenge must be the challenge the RP sent.
    Case {
        name: "login.challenge-altered",
        phase: Phase::Login,
        must_accept: false,
        sent: "the challenge with one bit flipped, signed",
        ready: always,
        build: Build::Login(|i, _| flip_first_bit(&mut i.challenge)),
    },
    // §13.4.3: a challenge is good for one ceremony only.
    Case {
        name: "login.challenge-reused",
        phase: Phase::Login,
        must_accept: false,
        sent: "the challenge of an earlier login, signed anew",
        ready: |c| match c.old_login_challenge {
            Some(_) => Ready::Yes,
            None => Ready::Skip("no earlier login"),
        },
        // The earlier login's challenge: this login's own replaces it
        // only once this one is sent.
        build: Build::Login(|i, c| {
            if let Some(old) = &c.old_login_challenge {
                i.challenge.clone_from(old);
            }
        }),
    },
    // §7.2: rpIdHash must be SHA-256 of the RP ID.
    Case {
        name: "login.wrong-rp-id-hash",
        phase: Phase::Login,
        must_accept: false,
        sent: "rpIdHash of evil.example, signed",
        ready: always,
        build: Build::Login(|i, _| i.rp_id_hash = Some(sha256(b"evil.example"))),
    },
    // §7.2: the UP flag must be set.
    Case {
        name: "login.up-clear",
        phase: Phase::Login,
        must_accept: false,
        sent: "UP flag clear, signed",
        ready: always,
        build: Build::Login(|i, _| i.flags &= !UP),
    },
    // §7.2: the UV flag must be set when the RP requires user verification.
    Case {
        name: "login.uv-clear",
        phase: Phase::Login,
        must_accept: false,
        sent: "UV flag clear although the RP required UV, signed",
        ready: uv_required,
        build: Build::Login(|i, _| i.flags &= !UV),
    },
    // §7.2: the signature must verify over authData and the client data hash.
    Case {
        name: "login.signature-invalid",
        phase: Phase::Login,
        must_accept: false,
        sent: "the signature with one byte flipped",
        ready: always,
        build: Build::LoginResponse(|v| {
            if let Some(sig) = v["response"]["signature"].as_str() {
                if let Ok(mut s) = unb64url("signature", sig) {
                    if let Some(b) = s.last_mut() {
                        *b ^= 0xff;
                    }
                    v["response"]["signature"] = json!(json::b64url(&s));
                }
            }
        }),
    },
    Case {
        name: "login.signature-over-other-data",
        phase: Phase::Login,
        must_accept: false,
        sent: "a valid signature over another client data hash",
        ready: always,
        build: Build::Login(|i, _| i.sign_other_hash = Some([0x5a; 32])),
    },
    // §7.2 and §6.1.1: a counter not above the stored one may mean a
    // cloned authenticator.
    Case {
        name: "login.counter-regression",
        phase: Phase::Login,
        must_accept: false,
        sent: "a counter below the last accepted (a cloned authenticator), signed",
        ready: always,
        build: Build::Flow(counter_regression),
    },
    Case {
        name: "login.counter-not-increasing",
        phase: Phase::Login,
        must_accept: false,
        sent: "the last accepted counter again, signed",
        ready: always,
        // The baseline credential holds the last counter the RP accepted.
        build: Build::Login(|i, c| {
            if let Some(h) = &c.held {
                i.counter = h.counter;
            }
        }),
    },
    // §6.1: nothing follows the authenticator data's last field.
    Case {
        name: "login.trailing-bytes",
        phase: Phase::Login,
        must_accept: false,
        sent: "4 bytes after the authenticator data, signed",
        ready: always,
        build: Build::Login(|i, _| i.trailing = vec![0, 0, 0, 0]),
    },
    Case {
        name: "login.replayed-assertion",
        phase: Phase::Login,
        must_accept: false,
        sent: "the accepted baseline assertion sent again",
        ready: |c| match c.baseline_assertion {
            Some(_) => Ready::Yes,
            None => Ready::Skip("no accepted baseline assertion"),
        },
        build: Build::Flow(replayed_assertion),
    },
    // §7.2: the credential must belong to the user the login was begun for.
    Case {
        name: "login.other-users-credential",
        phase: Phase::Login,
        must_accept: false,
        sent: "another user's credential in a login begun for this user",
        ready: always,
        build: Build::Flow(other_users_credential),
    },
];

/// A counter below the last accepted one, after making room below it with
/// an accepted login at counter 100 when the last one is under 2.
fn counter_regression(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let (held, user) = c.baseline()?;
        if held.counter < 2 {
            let (v, input, _) = c
                .login(&user, &held, |i, _| i.counter = 100, |_| {})
                .await?;
            if matches!(v, Verdict::Accepted(_)) {
                if let Some(h) = &mut c.held {
                    h.counter = input.counter;
                }
            }
        }
        let (held, _) = c.baseline()?;
        let below = held.counter.saturating_sub(1).max(1) - 1;
        c.login(&user, &held, move |i, _| i.counter = below, |_| {})
            .await
            .map(|(v, _, _)| Some(v))
    })
}

/// The accepted baseline assertion again, through a fresh login begin.
fn replayed_assertion(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let (_, user) = c.baseline()?;
        let resp = c
            .baseline_assertion
            .clone()
            .ok_or("skip: no accepted baseline assertion")?;
        c.replay(&user, &resp).await.map(Some)
    })
}

/// A second user with a credential of its own, whose credential is then
/// offered in a login begun for the first.
fn other_users_credential(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let (_, user) = c.baseline()?;
        let other = c.fresh_user("other");
        let (v, other_held, _) = c.register(&other, |_, _| Ok(())).await?;
        let (Verdict::Accepted(_), Some(other_held)) = (v, other_held) else {
            return Err("skip: the second user could not register".into());
        };
        c.other = Some((other, other_held.clone()));
        c.login(&user, &other_held, |_, _| {}, |_| {})
            .await
            .map(|(v, _, _)| Some(v))
    })
}
