//! Challenges and replays within one session: each case keeps the cookies
//! of its own ceremonies from begin to complete, as a browser tab does, so
//! an RP that binds challenges to the session but never consumes them, or
//! keeps every challenge it issued valid, is caught (WebAuthn L3 §13.4.3:
//! a challenge is used once; §7.1 step 9 and §7.2 step 13: the challenge
//! must be the one sent for this ceremony).

use std::time::Duration;

use fidosim_webauthn::json::{unb64url, CreationOptions};
use serde_json::Value;

use super::{always, Build, Case, CaseFuture, Phase, Ready};
use crate::checker::{assertion_input, Checker};
use crate::forge::{self, Held};
use crate::http::{Jar, Verdict};

pub(super) const REGISTER: &[Case] = &[
    Case {
        name: "register.challenge-consumed",
        phase: Phase::Register,
        must_accept: false,
        sent: "a challenge this session already used, for a new credential",
        ready: always,
        build: Build::Flow(register_consumed),
    },
    Case {
        name: "register.response-replayed",
        phase: Phase::Register,
        must_accept: false,
        sent: "the accepted response again, in its session",
        ready: always,
        build: Build::Flow(register_replayed),
    },
    Case {
        name: "register.challenge-superseded",
        phase: Phase::Register,
        must_accept: false,
        sent: "begun twice; the first begin's challenge",
        ready: always,
        build: Build::Flow(register_superseded),
    },
    Case {
        name: "register.challenge-expired",
        phase: Phase::Register,
        must_accept: false,
        sent: "completed after challenge_ttl_ms",
        ready: ttl_given,
        build: Build::Flow(register_expired),
    },
];

pub(super) const LOGIN: &[Case] = &[
    Case {
        name: "login.challenge-consumed",
        phase: Phase::Login,
        must_accept: false,
        sent: "a challenge this session already used, signed anew",
        ready: always,
        build: Build::Flow(login_consumed),
    },
    Case {
        name: "login.response-replayed",
        phase: Phase::Login,
        must_accept: false,
        sent: "the accepted assertion again, in its session",
        ready: always,
        build: Build::Flow(login_replayed),
    },
    Case {
        name: "login.challenge-superseded",
        phase: Phase::Login,
        must_accept: false,
        sent: "begun twice; the first begin's challenge, signed",
        ready: always,
        build: Build::Flow(login_superseded),
    },
    Case {
        name: "login.challenge-expired",
        phase: Phase::Login,
        must_accept: false,
        sent: "signed and completed after challenge_ttl_ms",
        ready: ttl_given,
        build: Build::Flow(login_expired),
    },
];

/// The expiry cases need the RP's challenge lifetime.
fn ttl_given(c: &Checker) -> Ready {
    if c.cfg.challenge_ttl_ms.is_some() {
        Ready::Yes
    } else {
        Ready::Skip("no challenge_ttl_ms in the config")
    }
}

/// How long the expiry cases wait: the lifetime, a fifth more and 200 ms,
/// so that a clock that rounds does not make a correct RP look wrong.
fn past_the_ttl(c: &Checker) -> Duration {
    let ttl = c.cfg.challenge_ttl_ms.unwrap_or(0);
    Duration::from_millis(ttl + ttl / 5 + 200)
}

/// The valid ceremony a case builds on must be accepted, or the case
/// tells nothing.
fn accepted_first(v: &Verdict, what: &str) -> Result<(), String> {
    match v {
        Verdict::Accepted(_) => Ok(()),
        other => Err(format!(
            "the valid {what} this case starts with was not accepted: {}",
            other.show()
        )),
    }
}

/// A registration begun in `jar` for a fresh user, and a valid response.
async fn begun_registration(
    c: &mut Checker,
    jar: &mut Jar,
) -> Result<(String, CreationOptions, Value), String> {
    let user = c.fresh_user("session");
    let options = c.begin_registration(jar, &user).await?;
    let (response, _) = c.registration_response(&options)?;
    Ok((user, options, response))
}

fn register_consumed(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut jar = Jar::default();
        let (user, options, response) = begun_registration(c, &mut jar).await?;
        let v = c.complete_registration(&mut jar, &user, &response).await;
        accepted_first(&v, "registration")?;
        // A second credential over the same, now used, challenge.
        let (again, _) = c.registration_response(&options)?;
        Ok(Some(c.complete_registration(&mut jar, &user, &again).await))
    })
}

fn register_replayed(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut jar = Jar::default();
        let (user, _, response) = begun_registration(c, &mut jar).await?;
        let v = c.complete_registration(&mut jar, &user, &response).await;
        accepted_first(&v, "registration")?;
        Ok(Some(
            c.complete_registration(&mut jar, &user, &response).await,
        ))
    })
}

fn register_superseded(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut jar = Jar::default();
        let (user, _, first) = begun_registration(c, &mut jar).await?;
        // The same user begins again in the same session.
        c.begin_registration(&mut jar, &user).await?;
        Ok(Some(c.complete_registration(&mut jar, &user, &first).await))
    })
}

fn register_expired(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut jar = Jar::default();
        let (user, _, response) = begun_registration(c, &mut jar).await?;
        tokio::time::sleep(past_the_ttl(c)).await;
        Ok(Some(
            c.complete_registration(&mut jar, &user, &response).await,
        ))
    })
}

/// A valid assertion by `held` over `challenge` (the options' own when
/// `None`), with the next counter.
fn signed(
    c: &Checker,
    options: &fidosim_webauthn::json::RequestOptions,
    held: &Held,
    challenge: Option<&[u8]>,
) -> Result<(forge::AssertionInput, Value), String> {
    let mut input = assertion_input(options, &c.rp_id, &c.cfg.origin, held)?;
    if let Some(ch) = challenge {
        input.challenge = ch.to_vec();
    }
    let a = forge::assertion(held, &input)?;
    let response = serde_json::to_value(&a).map_err(|e| e.to_string())?;
    Ok((input, response))
}

/// A valid login in `jar` that the RP accepted: the user, the options,
/// the credential, and what was sent.
async fn accepted_login(
    c: &mut Checker,
    jar: &mut Jar,
) -> Result<
    (
        String,
        fidosim_webauthn::json::RequestOptions,
        Held,
        forge::AssertionInput,
        Value,
    ),
    String,
> {
    let (held, user) = c.baseline()?;
    let options = c.begin_login(jar, &user).await?;
    let (input, response) = signed(c, &options, &held, None)?;
    let v = c.complete_login(jar, &user, &response, &input, &held).await;
    accepted_first(&v, "login")?;
    Ok((user, options, held, input, response))
}

fn login_consumed(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut jar = Jar::default();
        let (user, options, _, input, _) = accepted_login(c, &mut jar).await?;
        // Signed anew over the used challenge, with a counter that moved on.
        let (held, _) = c.baseline()?;
        let (input, again) = signed(c, &options, &held, Some(&input.challenge))?;
        Ok(Some(
            c.complete_login(&mut jar, &user, &again, &input, &held)
                .await,
        ))
    })
}

fn login_replayed(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut jar = Jar::default();
        let (user, _, held, input, response) = accepted_login(c, &mut jar).await?;
        Ok(Some(
            c.complete_login(&mut jar, &user, &response, &input, &held)
                .await,
        ))
    })
}

fn login_superseded(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut jar = Jar::default();
        let (held, user) = c.baseline()?;
        let first = c.begin_login(&mut jar, &user).await?;
        let challenge = unb64url("challenge", &first.challenge).map_err(|e| e.to_string())?;
        let second = c.begin_login(&mut jar, &user).await?;
        let (input, response) = signed(c, &second, &held, Some(&challenge))?;
        Ok(Some(
            c.complete_login(&mut jar, &user, &response, &input, &held)
                .await,
        ))
    })
}

fn login_expired(c: &mut Checker) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut jar = Jar::default();
        let (held, user) = c.baseline()?;
        let options = c.begin_login(&mut jar, &user).await?;
        tokio::time::sleep(past_the_ttl(c)).await;
        let (input, response) = signed(c, &options, &held, None)?;
        Ok(Some(
            c.complete_login(&mut jar, &user, &response, &input, &held)
                .await,
        ))
    })
}
