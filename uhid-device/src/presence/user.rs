//! The virtual user: how a request for presence is answered under each
//! [`PresenceMode`], waiting (while the transport sends keepalives) until
//! the time runs out, a touch comes, or the request is cancelled.
//!
//! CTAP1/U2F requests are different: U2F's test of user presence is polled
//! (the client repeats the request until the key answers it with success),
//! so for them the policy never waits. `delay:MS` then means that the user
//! touches the key MS after the first request of a polling run; until then
//! each request is answered "not yet".

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use authenticator_core::env::{
    apply_policy, PresenceError, PresencePolicy, PresenceRequest, UserCheck,
};
use fidosim_control_api::event::EventKind;

use super::mode::PresenceMode;
use super::shared::Shared;

/// How long a U2F client may go without asking again before its polling run
/// counts as given up, and a later request starts a new wait. Clients poll
/// every 100–300 ms.
pub const U2F_POLL_ABANDONED: Duration = Duration::from_secs(1);

/// A U2F polling run waiting for the simulated touch.
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingTouch {
    /// The first request of the run.
    pub(super) since: Instant,
    /// The latest request of the run.
    pub(super) last: Instant,
}

/// The user at the key: answers requests for presence by the policy in
/// [`Shared`].
#[derive(Debug, Default)]
pub(super) struct VirtualUser {
    /// The U2F polling run under `PresenceMode::Delay`, if one is going.
    pub(super) u2f_touch: Option<PendingTouch>,
    /// A mode fixed for the request in progress instead of the one in
    /// [`Shared`]: a request the driver runs without a worker is answered
    /// by the (immediate) mode it was dispatched under, so a change of mode
    /// meanwhile cannot make it wait.
    pub(super) pinned: Option<PresenceMode>,
}

impl VirtualUser {
    /// Answers a request for user presence (`up`) and verification (`uv`)
    /// by the policy in force (the core's `Env::check_user`).
    pub(super) fn check(
        &mut self,
        shared: &Shared,
        request: &PresenceRequest<'_>,
        up: bool,
        uv: bool,
    ) -> Result<UserCheck, PresenceError> {
        if !up && !uv {
            return Ok(UserCheck {
                up: false,
                uv: false,
            });
        }
        let (mode, uv_policy) = shared.policy();
        let mode = self.pinned.unwrap_or(mode);
        tracing::debug!(?request, up, uv, %mode, "asking for user presence");
        if matches!(
            request,
            PresenceRequest::U2fRegister { .. } | PresenceRequest::U2fAuthenticate { .. }
        ) {
            self.poll_u2f_touch(shared, mode)?;
            return apply_policy(PresencePolicy::Approve, uv_policy, up, uv);
        }
        let policy = match mode {
            PresenceMode::Approve => PresencePolicy::Approve,
            PresenceMode::Deny => PresencePolicy::Deny,
            PresenceMode::Delay(d) => {
                wait(shared, Some(d), false)?;
                PresencePolicy::Approve
            }
            PresenceMode::TimeoutAfter(d) => {
                wait(shared, Some(d), false)?;
                PresencePolicy::Timeout
            }
            PresenceMode::Never => {
                wait(shared, None, false)?;
                PresencePolicy::Timeout
            }
            PresenceMode::Manual => {
                wait(shared, None, true)?;
                PresencePolicy::Approve
            }
        };
        apply_policy(policy, uv_policy, up, uv)
    }

    /// The polled test of user presence of CTAP1/U2F (FIDO U2F Raw Message
    /// Formats v1.2 §4.3, §5.1): an answer at once, never a wait.
    fn poll_u2f_touch(&mut self, shared: &Shared, mode: PresenceMode) -> Result<(), PresenceError> {
        match mode {
            PresenceMode::Approve => Ok(()),
            PresenceMode::Deny => Err(PresenceError::Denied),
            // A user who never touches the key: "not yet", until the client
            // gives up by itself.
            PresenceMode::TimeoutAfter(_) | PresenceMode::Never => Err(PresenceError::Timeout),
            // A touch given while a poll was pending counts for the next.
            PresenceMode::Manual => {
                shared.waiting_for_user.store(true, Ordering::SeqCst);
                if shared.take_touch() {
                    shared.waiting_for_user.store(false, Ordering::SeqCst);
                    Ok(())
                } else {
                    Err(PresenceError::Timeout)
                }
            }
            PresenceMode::Delay(d) => {
                let now = Instant::now();
                let since = match self.u2f_touch {
                    Some(p) if now.saturating_duration_since(p.last) <= U2F_POLL_ABANDONED => {
                        p.since
                    }
                    _ => now,
                };
                if now.saturating_duration_since(since) >= d {
                    // The touch is used up by this request.
                    self.u2f_touch = None;
                    Ok(())
                } else {
                    self.u2f_touch = Some(PendingTouch { since, last: now });
                    Err(PresenceError::Timeout)
                }
            }
        }
    }
}

/// Waits `d` (`None`: without a limit), or until a touch when `touch_ends`
/// is set. `Ok(true)` when touched, `Ok(false)` when the time ran out.
fn wait(shared: &Shared, d: Option<Duration>, touch_ends: bool) -> Result<bool, PresenceError> {
    let deadline = d.map(|d| Instant::now() + d);
    shared.clear_touches();
    shared.waiting_for_user.store(true, Ordering::SeqCst);
    shared.emit(EventKind::PresenceWaiting);
    let result = loop {
        if shared.cancelled() {
            break Err(PresenceError::Cancelled);
        }
        if touch_ends && shared.take_touch() {
            break Ok(true);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break Ok(false);
        }
        let left = deadline.map_or(Duration::from_millis(10), |d| d - now);
        std::thread::sleep(left.min(Duration::from_millis(10)));
    };
    shared.waiting_for_user.store(false, Ordering::SeqCst);
    result
}
