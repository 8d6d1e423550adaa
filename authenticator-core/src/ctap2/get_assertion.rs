//! authenticatorGetAssertion (CTAP 2.1 §6.2.2) and
//! authenticatorGetNextAssertion (§6.3).

use super::make_credential::{up_error, uv_error};
use super::Authenticator;
use crate::auth_data::{flags, AuthData};
use crate::config::{BackupFlags, CounterMode};
use crate::crypto::sha256;
use crate::env::{Env, PresenceRequest};
use crate::limits::GET_NEXT_ASSERTION_WINDOW_MS;
use crate::status::StatusCode;
use crate::store::{Credential, CredentialStore};
use crate::wire::get_assertion::{Request, Response};
use crate::wire::CredentialDescriptor;

/// What authenticatorGetNextAssertion needs from the getAssertion call
/// that started the sequence (CTAP 2.1 §6.2.2 step 12.2.2). Lives for one
/// power cycle at most.
pub(crate) struct NextAssertion {
    /// The credentials not yet returned, in order.
    remaining: std::vec::IntoIter<Credential>,
    client_data_hash: Vec<u8>,
    rp_id_hash: [u8; 32],
    /// UP/UV as determined by the original call.
    flags: u8,
    /// Whether user names go into the responses (see `assert`).
    identifying: bool,
    /// When the last assertion of the sequence was returned.
    last_ms: u64,
}

impl<E: Env> Authenticator<E> {
    pub(super) fn get_assertion(&mut self, params: &[u8]) -> Result<Vec<u8>, StatusCode> {
        let req = Request::decode(params)?;
        let rp_id_hash = sha256(req.rp_id.as_bytes());

        // Steps 1–2: as in makeCredential, no PIN/UV auth protocol exists in
        // this build.
        req.pin_uv_auth.check_supported()?;

        // Step 4: options. "rk" is not an option of getAssertion; "up" may be
        // false (a silent probe); "uv" needs a built-in method.
        if req.options.rk.is_some() {
            return Err(StatusCode::UnsupportedOption);
        }
        let uv_requested = req.options.uv.unwrap_or(false);
        let up_requested = req.options.up.unwrap_or(true);
        if uv_requested && !self.config.builtin_uv {
            return Err(StatusCode::InvalidOption);
        }

        // Step 6.2: built-in user verification; the gesture is also the
        // evidence of presence (step 8).
        let mut auth_flags = 0u8;
        if uv_requested {
            let request = PresenceRequest::Authenticate { rp_id: &req.rp_id };
            let check = self
                .env
                .check_user(&request, up_requested, true)
                .map_err(uv_error)?;
            if !check.uv {
                return Err(StatusCode::OperationDenied);
            }
            auth_flags |= flags::UV;
            if check.up {
                auth_flags |= flags::UP;
            }
        }

        // Step 7: locate the applicable credentials.
        let mut credentials: Vec<Credential> = match &req.allow_list {
            Some(list) => list
                .iter()
                .filter_map(|d| self.find_own_credential(&rp_id_hash, &req.rp_id, &d.id))
                .take(1)
                .collect(),
            None => {
                let mut found = self.env.store_ref().discoverable(&rp_id_hash)?;
                // Step 12.2.1: most recently created first.
                found.reverse();
                found.sort_by_key(|c| std::cmp::Reverse(c.created_ms));
                found
            }
        };
        // Step 7.6.
        if credentials.is_empty() {
            return Err(StatusCode::NoCredentials);
        }

        // Step 9: user presence, unless "up" is false or step 6 collected it.
        if up_requested && auth_flags & flags::UP == 0 {
            let request = PresenceRequest::Authenticate { rp_id: &req.rp_id };
            self.env
                .check_user(&request, true, false)
                .map_err(up_error)?;
            auth_flags |= flags::UP;
        }

        // Step 10: no extension is implemented in this build.

        // Steps 11–12: with an allowList one credential answers; without one,
        // the first of several, the rest via getNextAssertion.
        let total = credentials.len();
        let first = credentials.remove(0);
        let number_of_credentials = (req.allow_list.is_none() && total > 1)
            .then(|| u32::try_from(total).unwrap_or(u32::MAX));
        // Step 12.3 and the "user" member of §6.2.2's response: with one
        // account for the RP only the user ID is returned; with several
        // (and no display to choose on) name and displayName too, so the
        // platform can show a chooser — but only after user verification.
        let identifying = number_of_credentials.is_some() && auth_flags & flags::UV != 0;
        let response = self.assert(
            &first,
            &rp_id_hash,
            &req.client_data_hash,
            auth_flags,
            identifying,
            number_of_credentials,
        )?;
        if number_of_credentials.is_some() {
            self.next_assertion = Some(NextAssertion {
                remaining: credentials.into_iter(),
                client_data_hash: req.client_data_hash,
                rp_id_hash,
                flags: auth_flags,
                identifying,
                last_ms: self.env.now_ms(),
            });
        }
        Ok(response)
    }

    pub(super) fn get_next_assertion(&mut self) -> Result<Vec<u8>, StatusCode> {
        // Steps 1–3: a sequence must exist, must not be exhausted, and the
        // previous assertion must be at most 30 s old.
        let mut state = self.next_assertion.take().ok_or(StatusCode::NotAllowed)?;
        let now = self.env.now_ms();
        if now.saturating_sub(state.last_ms) > GET_NEXT_ASSERTION_WINDOW_MS {
            return Err(StatusCode::NotAllowed);
        }
        let credential = state.remaining.next().ok_or(StatusCode::NotAllowed)?;
        // Steps 4–6.
        let response = self.assert(
            &credential,
            &state.rp_id_hash,
            &state.client_data_hash,
            state.flags,
            state.identifying,
            None,
        )?;
        // Steps 7–8: reset the timer, advance the cursor.
        if state.remaining.len() > 0 {
            state.last_ms = now;
            self.next_assertion = Some(state);
        }
        Ok(response)
    }

    /// Step 13: advance and commit the counter, build authData, sign.
    fn assert(
        &mut self,
        credential: &Credential,
        rp_id_hash: &[u8; 32],
        client_data_hash: &[u8],
        mut auth_flags: u8,
        identifying: bool,
        number_of_credentials: Option<u32>,
    ) -> Result<Vec<u8>, StatusCode> {
        // The counter is committed before the signature is made, so a value
        // that has been signed is never handed out again, even after a crash.
        let sign_count = match self.config.counter_mode {
            CounterMode::AlwaysZero => 0,
            CounterMode::PerCredential | CounterMode::Global => {
                let scope = self.counter_scope(&credential.id);
                self.store().next_counter(scope, 1)?
            }
        };
        if self.config.backup == BackupFlags::Synced {
            auth_flags |= flags::BE | flags::BS;
        }
        let auth_data = AuthData {
            rp_id_hash: *rp_id_hash,
            flags: auth_flags,
            sign_count,
            attested: None,
            extensions: None,
        }
        .to_bytes();
        let mut signed = auth_data.clone();
        signed.extend_from_slice(client_data_hash);
        let signature = credential
            .key
            .sign(&signed)
            .map_err(|_| StatusCode::Other)?;
        let user = credential
            .discoverable
            .then(|| (credential.user.clone(), identifying));
        Ok(Response {
            credential: CredentialDescriptor {
                id: credential.id.clone(),
            },
            auth_data,
            signature,
            user,
            number_of_credentials,
        }
        .encode())
    }
}
