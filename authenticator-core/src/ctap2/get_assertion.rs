//! authenticatorGetAssertion (CTAP 2.1 §6.2.2) and
//! authenticatorGetNextAssertion (§6.3).

use super::extensions::{cred_protect, cred_random, large_blob_key, GaExtensions, Outputs};
use super::make_credential::up_error;
use super::pin::permission;
use super::Authenticator;
use crate::accounts::Decision;
use crate::auth_data::{flags, AuthData};
use crate::cbor;
use crate::config::BackupFlags;
use crate::crypto::sha256;
use crate::env::{ChoiceOutcome, Env, Event, PresenceRequest};
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
    /// What every assertion of the sequence shares.
    ceremony: Ceremony,
    /// When the last assertion of the sequence was returned.
    last_ms: u64,
}

/// What the assertions of one getAssertion call share.
struct Ceremony {
    client_data_hash: Vec<u8>,
    rp_id_hash: [u8; 32],
    /// UP/UV as determined by the original call.
    flags: u8,
    /// Whether user names go into the responses (see `assert`).
    identifying: bool,
    /// Whether the user chose the credential on the device (step 12.2).
    user_selected: bool,
    /// The extension inputs, applied to each credential in turn.
    ext: GaExtensions,
}

impl<E: Env> Authenticator<E> {
    pub(super) fn get_assertion(&mut self, params: &[u8]) -> Result<Vec<u8>, StatusCode> {
        let req = Request::decode(params)?;
        let rp_id_hash = sha256(req.rp_id.as_bytes());

        let state = self.device_state()?;
        let authenticate = PresenceRequest::Authenticate { rp_id: &req.rp_id };

        // Step 1: the zero-length pinUvAuthParam probe.
        if req
            .pin_uv_auth
            .param
            .as_deref()
            .is_some_and(<[u8]>::is_empty)
        {
            return Err(self.pin_probe(&PresenceRequest::PinProbe));
        }
        // Step 2: a pinUvAuthParam needs a supported protocol.
        let pin_auth = match &req.pin_uv_auth.param {
            Some(param) => Some((Self::pin_protocol(req.pin_uv_auth.protocol)?, param.clone())),
            None => None,
        };

        // Step 4: options. "rk" is not an option of getAssertion; "up" may be
        // false (a silent probe); "uv" needs a built-in method and is
        // ignored next to a pinUvAuthParam.
        if req.options.rk.is_some() {
            return Err(StatusCode::UnsupportedOption);
        }
        let mut uv = req.options.uv.unwrap_or(false) && pin_auth.is_none();
        let up_requested = req.options.up.unwrap_or(true);
        if uv && !self.uv_configured(&state) {
            return Err(StatusCode::InvalidOption);
        }
        let protected = self.uv_protected(&state);

        // Step 5: alwaysUv applies to requests that want presence.
        if state.always_uv && up_requested && pin_auth.is_none() && !uv {
            if !protected {
                return Err(if state.pin_hash.is_some() {
                    StatusCode::PuatRequired
                } else {
                    StatusCode::OperationDenied
                });
            }
            if self.uv_configured(&state) {
                uv = true;
            } else {
                return Err(StatusCode::PuatRequired);
            }
        }

        // Step 6: user verification, through the token or built in; the
        // built-in gesture is also the evidence of presence (step 8).
        let mut auth_flags = 0u8;
        let mut token_up = false;
        if let Some((protocol, param)) = &pin_auth {
            if !protected {
                return Err(StatusCode::PinNotSet);
            }
            let f = self.check_token(
                *protocol,
                param,
                &req.client_data_hash,
                permission::GA,
                Some(&req.rp_id),
                true,
            )?;
            if !self.token_user_verified() {
                return Err(StatusCode::PinAuthInvalid);
            }
            token_up = f.user_present;
            auth_flags |= flags::UV;
        } else if uv {
            self.builtin_uv_for_request(&authenticate)?;
            auth_flags |= flags::UV | flags::UP;
        }
        let verified = auth_flags & flags::UV != 0;

        // Step 7: locate the applicable credentials; credProtect hides
        // level-3 credentials without UV, and level-2 ones from discovery
        // without UV (steps 7.4–7.5).
        let mut credentials: Vec<Credential> = match &req.allow_list {
            Some(list) => list
                .iter()
                .filter_map(|d| self.find_own_credential(&rp_id_hash, &req.rp_id, &d.id))
                .filter(|c| verified || c.cred_protect != cred_protect::UV_REQUIRED)
                .take(1)
                .collect(),
            None => {
                let mut found = self.env.store_ref().discoverable(&rp_id_hash)?;
                found.retain(|c| verified || c.cred_protect < cred_protect::UV_OPTIONAL_WITH_LIST);
                // Step 12.2.1: most recently created first.
                found.reverse();
                found.sort_by_key(|c| std::cmp::Reverse(c.created_order));
                found
            }
        };
        // Step 7.6.
        if credentials.is_empty() {
            return Err(StatusCode::NoCredentials);
        }

        // Step 9: user presence, unless "up" is false or step 6 collected
        // it; a token's cached presence counts once.
        if up_requested && auth_flags & flags::UP == 0 {
            if !token_up {
                self.env
                    .check_user(&authenticate, true, false)
                    .map_err(up_error)?;
            }
            auth_flags |= flags::UP;
        }
        if up_requested {
            self.pin.consume_flags();
        }

        // Step 10: extensions.
        let ext = GaExtensions::parse(req.extensions.clone())?;

        // Step 12.2.2: with several discoverable credentials and the user at
        // the key (up or uv), the virtual user may choose one on the device
        // as a key with a display lets its user do; the platform then gets
        // only that one, marked userSelected, and shows no chooser. A user
        // who declines ends the request with CTAP2_ERR_OPERATION_DENIED.
        let mut user_selected = false;
        if req.allow_list.is_none()
            && credentials.len() > 1
            && auth_flags & (flags::UP | flags::UV) != 0
        {
            let candidates = credentials.len();
            match self.env.account_choice().decide(&credentials) {
                Decision::Platform => self.env.event(&Event::AccountChoice {
                    rp_id: &req.rp_id,
                    candidates,
                    outcome: ChoiceOutcome::Platform,
                }),
                Decision::Declined => {
                    self.env.event(&Event::AccountChoice {
                        rp_id: &req.rp_id,
                        candidates,
                        outcome: ChoiceOutcome::Declined,
                    });
                    return Err(StatusCode::OperationDenied);
                }
                Decision::Chosen { index, reason } => {
                    let chosen = credentials.swap_remove(index);
                    self.env.event(&Event::AccountChoice {
                        rp_id: &req.rp_id,
                        candidates,
                        outcome: ChoiceOutcome::Chosen {
                            credential_id: &chosen.id,
                            user_id: &chosen.user.id,
                            reason,
                        },
                    });
                    credentials = vec![chosen];
                    user_selected = true;
                }
            }
        }

        // Steps 11–12: with an allowList one credential answers; without one,
        // the first of several, the rest via getNextAssertion.
        let total = credentials.len();
        let first = credentials.remove(0);
        let number_of_credentials = (req.allow_list.is_none() && total > 1)
            .then(|| u32::try_from(total).unwrap_or(u32::MAX));
        // Step 12.3 and the "user" member of §6.2.2's response: with one
        // account for the RP (or one the user chose on the device) only the
        // user ID is returned; with several for the platform to choose from,
        // name and displayName too, so it can show a chooser — but only
        // after user verification.
        let identifying = number_of_credentials.is_some() && auth_flags & flags::UV != 0;
        let ceremony = Ceremony {
            client_data_hash: req.client_data_hash,
            rp_id_hash,
            flags: auth_flags,
            identifying,
            user_selected,
            ext,
        };
        let response = self.assert(&first, &ceremony, number_of_credentials, true)?;
        if number_of_credentials.is_some() {
            self.next_assertion = Some(NextAssertion {
                remaining: credentials.into_iter(),
                ceremony,
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
        let response = self.assert(&credential, &state.ceremony, None, false)?;
        // Steps 7–8: reset the timer, advance the cursor.
        if state.remaining.len() > 0 {
            state.last_ms = now;
            self.next_assertion = Some(state);
        }
        Ok(response)
    }

    /// Step 13: advance and commit the counter, build authData, sign.
    /// `first`: the response to getAssertion itself (userSelected is never
    /// sent with getNextAssertion).
    fn assert(
        &mut self,
        credential: &Credential,
        ceremony: &Ceremony,
        number_of_credentials: Option<u32>,
        first: bool,
    ) -> Result<Vec<u8>, StatusCode> {
        let Ceremony {
            client_data_hash,
            rp_id_hash,
            flags,
            identifying,
            user_selected,
            ext,
        } = ceremony;
        let (mut auth_flags, identifying) = (*flags, *identifying);
        // The counter is committed before the signature is made, so a value
        // that has been signed is never handed out again, even after a crash.
        let sign_count = self.next_sign_count(&credential.id)?;
        if self.config.backup == BackupFlags::Synced {
            auth_flags |= flags::BE | flags::BS;
        }
        let mut outputs = Outputs::default();
        if ext.cred_blob {
            // §12.2: the stored blob, or an empty one.
            let blob = credential.cred_blob.clone().unwrap_or_default();
            outputs.add("credBlob", cbor::bytes(blob));
        }
        if let Some(input) = &ext.hmac_secret {
            // §12.5: the CredRandom matching whether UV was done.
            let secret = cred_random(&credential.key, auth_flags & flags::UV != 0);
            let ka = self.pin.key(input.protocol());
            let out = input.evaluate(ka, &secret, self.env.rng())?;
            outputs.add("hmac-secret", cbor::bytes(out));
        }
        let auth_data = AuthData {
            rp_id_hash: *rp_id_hash,
            flags: auth_flags,
            sign_count,
            attested: None,
            extensions: outputs.build(),
        }
        .to_bytes();
        let mut signed = auth_data.clone();
        signed.extend_from_slice(client_data_hash);
        let signature = credential
            .key
            .sign(&signed)
            .map_err(|_| StatusCode::Other)?;
        self.env.event(&Event::Asserted {
            rp_id: &credential.rp_id,
            credential_id: &credential.id,
            sign_count,
            up: auth_flags & flags::UP != 0,
            uv: auth_flags & flags::UV != 0,
        });
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
            user_selected: *user_selected && first,
            // §12.3: only discoverable credentials have a largeBlobKey.
            large_blob_key: (ext.large_blob_key && credential.discoverable)
                .then(|| large_blob_key(&credential.key).to_vec()),
        }
        .encode())
    }
}
