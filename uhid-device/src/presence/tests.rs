//! Tests of the virtual user through the environment, and of the presence
//! modes and the shared state as the control API drives them.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authenticator_core::env::{Env, PresenceError, PresenceRequest, UserCheck, UvPolicy};

use super::user::PendingTouch;
use super::*;

mod u2f {
    use super::*;

    const APP: [u8; 32] = [7; 32];

    fn env(presence: PresenceMode) -> DaemonEnv {
        DaemonEnv::new(Arc::new(Shared::new("t", presence, UvPolicy::Succeed)))
    }

    fn u2f(env: &mut DaemonEnv) -> Result<UserCheck, PresenceError> {
        env.check_user(
            &PresenceRequest::U2fAuthenticate { app_id_hash: APP },
            true,
            false,
        )
    }

    #[test]
    fn u2f_presence_never_waits() {
        for (mode, expected) in [
            (PresenceMode::Approve, Ok(())),
            (PresenceMode::Deny, Err(PresenceError::Denied)),
            (
                PresenceMode::TimeoutAfter(Duration::from_secs(30)),
                Err(PresenceError::Timeout),
            ),
            (
                PresenceMode::Delay(Duration::from_secs(30)),
                Err(PresenceError::Timeout),
            ),
        ] {
            let mut e = env(mode);
            let started = Instant::now();
            let check = u2f(&mut e);
            assert!(started.elapsed() < Duration::from_millis(500), "{mode:?}");
            assert_eq!(check.map(|_| ()), expected, "{mode:?}");
            if let Ok(c) = check {
                assert_eq!(
                    c,
                    UserCheck {
                        up: true,
                        uv: false
                    }
                );
            }
            assert!(!e.shared.waiting_for_user.load(Ordering::SeqCst));
        }
    }

    #[test]
    fn u2f_delay_touches_after_the_delay_of_a_polling_run() {
        let mut e = env(PresenceMode::Delay(Duration::from_millis(400)));
        assert_eq!(u2f(&mut e), Err(PresenceError::Timeout));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(u2f(&mut e), Err(PresenceError::Timeout), "not yet");
        std::thread::sleep(Duration::from_millis(400));
        assert!(u2f(&mut e).is_ok(), "touched");
        // The touch was used up: the next request starts a new wait.
        assert_eq!(u2f(&mut e), Err(PresenceError::Timeout));
    }

    #[test]
    fn u2f_delay_restarts_after_an_abandoned_run() {
        let mut e = env(PresenceMode::Delay(Duration::from_millis(150)));
        let now = Instant::now();
        // A run that started long ago, but whose client stopped polling.
        e.user.u2f_touch = Some(PendingTouch {
            since: now.checked_sub(Duration::from_secs(10)).unwrap(),
            last: now.checked_sub(U2F_POLL_ABANDONED * 2).unwrap(),
        });
        assert_eq!(u2f(&mut e), Err(PresenceError::Timeout), "a new run");
        // A run whose client kept polling gets its touch.
        e.user.u2f_touch = Some(PendingTouch {
            since: now.checked_sub(Duration::from_secs(10)).unwrap(),
            last: now,
        });
        assert!(u2f(&mut e).is_ok());
    }

    #[test]
    fn ctap2_requests_still_wait() {
        let mut e = env(PresenceMode::Delay(Duration::from_millis(100)));
        let started = Instant::now();
        let check = e.check_user(&PresenceRequest::Selection, true, false);
        assert!(check.is_ok());
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}

mod control {
    use super::*;

    #[test]
    fn presence_modes_parse_and_print() {
        for s in [
            "approve",
            "deny",
            "delay:250",
            "timeout:10",
            "never",
            "manual",
        ] {
            assert_eq!(s.parse::<PresenceMode>().unwrap().to_string(), s);
        }
        for bad in [
            "",
            "yes",
            "delay:",
            "delay:x",
            "delay:600001",
            "approve:1",
            "manual:3",
        ] {
            assert!(bad.parse::<PresenceMode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn manual_waits_for_a_touch_and_touch_needs_a_waiting_request() {
        let shared = Arc::new(Shared::new("t", PresenceMode::Manual, UvPolicy::Succeed));
        assert!(!shared.touch(), "nothing is waiting");
        let mut events = shared.subscribe();
        let mut env = DaemonEnv::new(shared.clone());
        let waiter =
            std::thread::spawn(move || env.check_user(&PresenceRequest::Selection, true, false));
        while !shared.waiting_for_user.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "still waiting without a touch");
        assert!(shared.touch());
        assert!(waiter.join().unwrap().is_ok());
        let e = events.try_recv().unwrap();
        assert_eq!(e.kind, EventKind::PresenceWaiting);
        assert_eq!(e.device, "t");
    }

    #[test]
    fn never_ends_on_cancel_and_on_stop_and_policy_changes_apply() {
        let shared = Arc::new(Shared::new("t", PresenceMode::Never, UvPolicy::Succeed));
        shared.current_txn.store(7, Ordering::SeqCst);
        let mut env = DaemonEnv::new(shared.clone());
        let waiter = std::thread::spawn(move || {
            let r = env.check_user(&PresenceRequest::Selection, true, false);
            (r, env)
        });
        std::thread::sleep(Duration::from_millis(50));
        shared.cancelled_txn.store(7, Ordering::SeqCst);
        let (r, mut env) = waiter.join().unwrap();
        assert_eq!(r, Err(PresenceError::Cancelled));
        shared.stopping.store(true, Ordering::SeqCst);
        assert_eq!(
            env.check_user(&PresenceRequest::Selection, true, false),
            Err(PresenceError::Cancelled)
        );
        shared.stopping.store(false, Ordering::SeqCst);
        shared.current_txn.store(0, Ordering::SeqCst);
        shared.set_presence(PresenceMode::Deny);
        assert_eq!(
            env.check_user(&PresenceRequest::Selection, true, false),
            Err(PresenceError::Denied)
        );
        shared.set_presence(PresenceMode::Approve);
        shared.set_uv(UvPolicy::Fail);
        let c = env
            .check_user(&PresenceRequest::Selection, true, true)
            .unwrap();
        assert!(c.up && !c.uv);
    }
}

mod events {
    use super::*;
    use serde_json::{json, Value};

    /// The line an event made when events were built as JSON objects:
    /// `fields` with `time`, `device` and `type` added.
    fn untyped_line(time: u64, device: &str, kind: &str, fields: &Value) -> String {
        let mut event = json!({ "time": time, "device": device, "type": kind });
        if let (Some(e), Some(f)) = (event.as_object_mut(), fields.as_object()) {
            e.extend(f.clone());
        }
        event.to_string()
    }

    #[test]
    fn control_events_make_the_same_lines_as_before() {
        let shared = Shared::new("k", PresenceMode::Approve, UvPolicy::Succeed);
        let mut events = shared.subscribe();
        for (typed, kind, fields) in [
            (
                EventKind::CredentialImported {
                    credential_id: "AQID".into(),
                },
                "credential.imported",
                json!({ "credentialId": "AQID" }),
            ),
            (
                EventKind::CredentialDeleted {
                    rp_id: None,
                    credential_id: "AQID".into(),
                    by: Some("control".into()),
                },
                "credential.deleted",
                json!({ "credentialId": "AQID", "by": "control" }),
            ),
            (
                EventKind::CredentialsCleared { count: 3 },
                "credentials.cleared",
                json!({ "count": 3 }),
            ),
            (
                EventKind::CounterSet {
                    credential_id: "AQID".into(),
                    sign_count: 41,
                },
                "counter.set",
                json!({ "credentialId": "AQID", "signCount": 41 }),
            ),
            (
                EventKind::CounterMode {
                    mode: "frozen".into(),
                    overflow: "wrap".into(),
                },
                "counter.mode",
                json!({ "mode": "frozen", "overflow": "wrap" }),
            ),
            (
                EventKind::DeviceCloned {
                    from: "default".into(),
                    credentials: 2,
                    counter_offset: -5,
                },
                "device.cloned",
                json!({ "from": "default", "credentials": 2, "counterOffset": -5 }),
            ),
            (EventKind::PresenceTouched, "presence.touched", json!({})),
        ] {
            shared.emit(typed);
            let e = events.try_recv().unwrap();
            assert_eq!(e.device, "k");
            assert_eq!(e.to_string(), untyped_line(e.time, "k", kind, &fields));
        }
    }

    #[test]
    fn policy_changes_are_published() {
        let shared = Shared::new("k", PresenceMode::Approve, UvPolicy::Succeed);
        let mut events = shared.subscribe();
        shared.set_presence(PresenceMode::Delay(Duration::from_millis(250)));
        shared.set_uv(UvPolicy::Fail);
        let e = events.try_recv().unwrap();
        assert_eq!(
            e.to_string(),
            untyped_line(
                e.time,
                "k",
                "presence.changed",
                &json!({ "presence": "delay:250" })
            )
        );
        let e = events.try_recv().unwrap();
        assert_eq!(
            e.kind,
            EventKind::UvChanged {
                uv: UvPolicy::Fail.name().to_owned()
            }
        );
    }
}
