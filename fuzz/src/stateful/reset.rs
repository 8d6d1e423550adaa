//! authenticatorReset (CTAP 2.1 §6.6): when it succeeds, and what the
//! model forgets with it.

use authenticator_core::config::ResetPolicy;
use authenticator_core::env::PresencePolicy;
use authenticator_core::limits;
use authenticator_core::status::StatusCode as S;
use authenticator_core::store::MAX_PIN_RETRIES;

use crate::stateful::model::{initial_large_blob, Harness};

impl Harness {
    pub(crate) fn after_reset(&mut self, st: u8) {
        // Within 10 s of power-up (unless the policy is "always"), then a
        // touch.
        let in_window = self.config.reset_policy == ResetPolicy::Always
            || self.now.saturating_sub(self.power_up) <= limits::RESET_WINDOW_MS;
        let expected = if !in_window {
            S::NotAllowed as u8
        } else {
            match self.presence() {
                PresencePolicy::Approve => 0,
                PresencePolicy::Deny => S::OperationDenied as u8,
                PresencePolicy::Timeout => S::UserActionTimeout as u8,
            }
        };
        assert_eq!(st, expected, "reset");
        if st != 0 {
            return;
        }
        // Every credential goes, and the PIN with its retries, uvRetries
        // and alwaysUv (back to the configured value); the PIN/UV state is
        // that of a power-up.
        for c in self.creds.values_mut() {
            c.alive = false;
        }
        self.global_last = None;
        self.pin = None;
        self.pin_retries = MAX_PIN_RETRIES;
        self.uv_retries = self.config.uv_retries;
        self.always_uv = self.config.always_uv;
        // The authenticatorConfig settings and the large-blob array return
        // to their initial values (§6.6, §6.10.3).
        self.min_pin_length = limits::DEFAULT_MIN_PIN_LENGTH;
        self.min_pin_rp_ids.clear();
        self.force_pin_change = false;
        self.enterprise_enabled = false;
        self.large_blob = initial_large_blob();
        self.lb_write = None;
        self.power_up_pin_state();
        assert_eq!(
            self.auth.env().store.all().count(),
            0,
            "store not empty after reset"
        );
    }
}
