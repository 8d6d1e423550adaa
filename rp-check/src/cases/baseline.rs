//! The baselines: a valid registration and a valid assertion, which the
//! RP must accept before any defect can be judged. They also set up what
//! later cases reuse: the baseline user and credential, the challenge of
//! an earlier registration, and an accepted assertion to replay.

use super::{always, Build, Case, CaseFuture, Phase};
use crate::checker::Checker;
use crate::http::Verdict;

pub(super) const CASES: &[Case] = &[
    Case {
        name: "register.baseline",
        phase: Phase::Register,
        must_accept: true,
        sent: "a valid registration",
        ready: always,
        build: Build::Flow(register),
    },
    Case {
        name: "login.baseline",
        phase: Phase::Login,
        must_accept: true,
        sent: "a valid assertion",
        ready: always,
        build: Build::Flow(login),
    },
];

/// Registers the baseline user; once accepted, its credential is the one
/// the login cases use.
fn register(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let user = c.fresh_user("base");
        let (v, held, challenge) = c.register(&user, |_, _| Ok(())).await?;
        if matches!(v, Verdict::Accepted(_)) {
            c.held = held;
            c.username = user;
            c.old_register_challenge = Some(challenge);
        }
        Ok(Some(v))
    })
}

/// Logs the baseline user in; once accepted, the counter moves on and the
/// response is kept for `login.replayed-assertion`.
fn login(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let (held, user) = c.baseline()?;
        let (v, input, response) = c.login(&user, &held, |_, _| {}, |_| {}).await?;
        if matches!(v, Verdict::Accepted(_)) {
            if let Some(h) = &mut c.held {
                h.counter = input.counter;
            }
            c.baseline_assertion = Some(response);
        }
        Ok(Some(v))
    })
}
