//! authenticatorMakeCredential, CTAP 2.1 §6.1.2.

use super::extensions::{cred_protect, cred_random, large_blob_key, McExtensions, Outputs};
use super::pin::permission;
use super::Authenticator;
use crate::auth_data::{flags, AttestedCredential, AuthData};
use crate::cbor;
use crate::config::{AttestationMode, BackupFlags, CounterMode, CounterOverflow};
use crate::crypto::keys::PrivateKey;
use crate::crypto::{seal, sha256};
use crate::env::{Env, Event, PresenceError, PresenceRequest};
use crate::status::StatusCode;
use crate::store::{CounterScope, Credential, CredentialStore};
use crate::wire::get_info::AttestationFormat;
use crate::wire::make_credential::{AttestationStatement, Request, Response};

impl<E: Env> Authenticator<E> {
    pub(super) fn make_credential(&mut self, params: &[u8]) -> Result<Vec<u8>, StatusCode> {
        let req = Request::decode(params)?;
        let rp_id_hash = sha256(req.rp.id.as_bytes());
        let state = self.device_state()?;
        let register = PresenceRequest::Register {
            rp_id: &req.rp.id,
            user_name: req.user.name.as_deref(),
        };

        // Step 1: a zero-length pinUvAuthParam asks for a touch, then
        // answers PIN_NOT_SET or PIN_INVALID.
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

        // Step 3: the first algorithm in the caller's order that the device
        // has enabled. Unknown types and algorithms were skipped in decoding.
        let alg = req
            .algorithms
            .iter()
            .copied()
            .find(|a| self.config.algorithms.contains(a))
            .ok_or(StatusCode::UnsupportedAlgorithm)?;

        // Step 5: options. "uv" is ignored next to a pinUvAuthParam and
        // needs a built-in method; "up" = false is invalid here.
        let rk = req.options.rk.unwrap_or(false);
        let mut uv = req.options.uv.unwrap_or(false) && pin_auth.is_none();
        if uv && !self.uv_configured(&state) {
            return Err(StatusCode::InvalidOption);
        }
        if req.options.up == Some(false) {
            return Err(StatusCode::InvalidOption);
        }

        let protected = self.uv_protected(&state);
        let pin_set = state.pin_hash.is_some();
        // PUAT_REQUIRED when a PIN could provide a token, else
        // OPERATION_DENIED (steps 6.2, 6.4, 7.1, 8.1).
        let needs_uv = if pin_set {
            StatusCode::PuatRequired
        } else {
            StatusCode::OperationDenied
        };
        // Step 6: alwaysUv (which turns makeCredUvNotRqd off).
        let uv_not_rqd = self.config.make_cred_uv_not_rqd && !state.always_uv;
        if state.always_uv {
            if !protected {
                return Err(needs_uv);
            }
            if pin_auth.is_none() && !uv {
                // Step 6.3: a CTAP 2.0 platform may rely on built-in UV.
                if self.uv_configured(&state) {
                    uv = true;
                } else {
                    return Err(needs_uv);
                }
            }
        }
        // Steps 7–8: a protected device makes credentials without UV only
        // when makeCredUvNotRqd allows it, and never discoverable ones.
        if protected && !uv && pin_auth.is_none() && (!uv_not_rqd || rk) {
            return Err(needs_uv);
        }

        // Step 9: enterprise attestation.
        let enterprise =
            self.enterprise_decision(req.enterprise_attestation, &req.rp.id, &state)?;

        // Step 11: user verification, through the token or built in. The
        // built-in gesture (a finger on a sensor) is also evidence of
        // presence (step 13).
        let mut auth_flags = 0u8;
        let mut token_up = false;
        if let Some((protocol, param)) = &pin_auth {
            if protected {
                let f = self.check_token(
                    *protocol,
                    param,
                    &req.client_data_hash,
                    permission::MC,
                    Some(&req.rp.id),
                    true,
                )?;
                if !self.token_user_verified() {
                    return Err(StatusCode::PinAuthInvalid);
                }
                token_up = f.user_present;
                auth_flags |= flags::UV;
            } else {
                // No PIN and no built-in UV: there is no token to verify.
                return Err(StatusCode::PinNotSet);
            }
        } else if uv {
            self.builtin_uv_for_request(&register)?;
            auth_flags |= flags::UV | flags::UP;
        }

        // Step 12: a credential from the excludeList that this device made
        // for this RP. Presence is collected first (unless already there),
        // and the answer is CREDENTIAL_EXCLUDED whatever the user does. A
        // userVerificationRequired credential counts only after UV.
        let excluded = req.exclude_list.iter().any(|d| {
            self.find_own_credential(&rp_id_hash, &req.rp.id, &d.id)
                .is_some_and(|c| {
                    c.cred_protect != cred_protect::UV_REQUIRED || auth_flags & flags::UV != 0
                })
        });
        if excluded {
            if auth_flags & flags::UP == 0 && !token_up {
                let request = PresenceRequest::Excluded { rp_id: &req.rp.id };
                if let Err(PresenceError::Cancelled) = self.env.check_user(&request, true, false) {
                    return Err(StatusCode::KeepaliveCancel);
                }
            }
            return Err(StatusCode::CredentialExcluded);
        }

        // Step 14: user presence ("up" is true or absent here); a token's
        // cached presence counts once.
        if auth_flags & flags::UP == 0 {
            if !token_up {
                self.env
                    .check_user(&register, true, false)
                    .map_err(up_error)?;
            }
            auth_flags |= flags::UP;
        }
        self.pin.consume_flags();

        // Step 15: extensions.
        let ext = McExtensions::parse(req.extensions.clone())?;
        if ext.large_blob_key && !rk {
            // §12.3: a largeBlobKey needs a discoverable credential.
            return Err(StatusCode::InvalidOption);
        }
        let cred_protect_level = ext.cred_protect.unwrap_or(0);
        let cred_blob = (rk && ext.cred_blob_fits())
            .then(|| ext.cred_blob.clone())
            .flatten();

        // Step 16: the new key pair.
        let key = PrivateKey::generate(alg, self.env.rng());
        let public = key.public_key().map_err(|_| StatusCode::Other)?;
        let cose_public_key = public.to_cose_bytes();

        // Extension outputs, the fallible ones (hmac-secret-mc) included,
        // are computed before anything is committed: a request that fails
        // here must leave no credential and no counter step behind.
        let mut outputs = Outputs::default();
        if ext.cred_blob.is_some() {
            outputs.add("credBlob", cred_blob.is_some());
        }
        if let Some(level) = ext.cred_protect {
            outputs.add("credProtect", level);
        }
        if ext.hmac_secret {
            outputs.add("hmac-secret", true);
        }
        if let (true, Some(input)) = (ext.hmac_secret, &ext.hmac_secret_mc) {
            // CTAP 2.2 §12.6: the first PRF evaluation at creation.
            let secret = cred_random(&key, auth_flags & flags::UV != 0);
            let ka = self.pin.key(input.protocol());
            let out = input.evaluate(ka, &secret, self.env.rng())?;
            outputs.add("hmac-secret-mc", cbor::bytes(out));
        }
        if ext.min_pin_length && state.min_pin_length_rp_ids.contains(&req.rp.id) {
            // §12.4: only for RP IDs authenticatorConfig allowed.
            outputs.add("minPinLength", state.min_pin_length);
        }

        // Steps 17–18: the credential ID seals the key either way; a
        // discoverable credential is also stored, replacing an older one of
        // the same RP and user handle.
        let sealed = seal::Sealed {
            key: key.clone(),
            discoverable: rk,
            cred_protect: cred_protect_level,
        };
        let credential_id = seal::seal(&self.master, &rp_id_hash, &sealed, self.env.rng());
        // The registration's signCount: per-credential counters start at 0
        // (WebAuthn §6.1.1); a global counter advances and is committed.
        let sign_count = match self.config.counter_mode {
            CounterMode::Global => self.next_sign_count(&credential_id)?,
            CounterMode::PerCredential
            | CounterMode::AlwaysZero
            | CounterMode::Frozen
            | CounterMode::RandomStep(_) => 0,
        };
        if rk {
            let replacing = self
                .env
                .store_ref()
                .discoverable_for_user(&rp_id_hash, &req.user.id)?
                .map(|c| c.id);
            let credential = Credential {
                id: credential_id.clone(),
                rp_id: req.rp.id.clone(),
                rp_id_hash,
                rp_name: req.rp.name.clone(),
                user: req.user.clone(),
                key: key.clone(),
                discoverable: true,
                cred_protect: cred_protect_level,
                cred_blob: cred_blob.clone(),
                // The store places it after every other credential.
                created_order: 0,
            };
            // Committed before the response is built: a durable store makes
            // the credential survive a crash once the client has it.
            self.store().save(credential, replacing.as_deref(), 0)?;
        }
        if self.config.backup == BackupFlags::Synced {
            auth_flags |= flags::BE | flags::BS;
        }
        let auth_data = AuthData {
            rp_id_hash,
            flags: auth_flags,
            sign_count,
            attested: Some(AttestedCredential {
                aaguid: self.config.aaguid,
                credential_id: &credential_id,
                cose_public_key: &cose_public_key,
            }),
            extensions: outputs.build(),
        }
        .to_bytes();

        // Step 19: the attestation statement, honouring
        // attestationFormatsPreference (CTAP 2.2 §6.1.2 step 19).
        let format = if enterprise {
            // An enterprise attestation ignores the format preference: it
            // is what the platform asked for.
            Some(AttestationMode::Batch)
        } else {
            self.choose_attestation(req.attestation_formats_preference.as_deref())
        };
        let att_stmt = match format {
            None => AttestationStatement::None,
            Some(_) if enterprise => {
                let mut signed = auth_data.clone();
                signed.extend_from_slice(&req.client_data_hash);
                let identity = self.enterprise.as_ref().ok_or(StatusCode::Other)?;
                AttestationStatement::Packed {
                    alg: crate::crypto::keys::Algorithm::Es256.cose(),
                    sig: identity.sign_batch(&signed),
                    x5c: vec![identity.batch_cert_der().to_vec()],
                }
            }
            Some(mode) => {
                let mut signed = auth_data.clone();
                signed.extend_from_slice(&req.client_data_hash);
                match mode {
                    AttestationMode::Batch => AttestationStatement::Packed {
                        alg: crate::crypto::keys::Algorithm::Es256.cose(),
                        sig: self.identity.sign_batch(&signed),
                        x5c: vec![self.identity.batch_cert_der().to_vec()],
                    },
                    _ => AttestationStatement::Packed {
                        alg: alg.cose(),
                        sig: key.sign(&signed).map_err(|_| StatusCode::Other)?,
                        x5c: Vec::new(),
                    },
                }
            }
        };
        self.env.event(&Event::CredentialCreated {
            rp_id: &req.rp.id,
            credential_id: &credential_id,
            discoverable: rk,
            user_name: req.user.name.as_deref(),
            sign_count,
        });
        Ok(Response {
            auth_data,
            att_stmt,
            ep_att: enterprise.then_some(true),
            large_blob_key: ext.large_blob_key.then(|| large_blob_key(&key).to_vec()),
        }
        .encode())
    }

    /// Step 9: whether this credential gets an enterprise attestation. A
    /// device that does not support it, or has it disabled, refuses the
    /// parameter (CTAP1_ERR_INVALID_PARAMETER); values other than 1 and 2
    /// are CTAP2_ERR_INVALID_OPTION; vendor-facilitated attestation (1) is
    /// given only to the configured RP IDs, platform-managed (2) to any
    /// (CTAP 2.1 §7.1); otherwise a normal attestation is returned.
    fn enterprise_decision(
        &self,
        requested: Option<u64>,
        rp_id: &str,
        state: &crate::store::DeviceState,
    ) -> Result<bool, StatusCode> {
        let Some(mode) = requested else {
            return Ok(false);
        };
        if !self.enterprise_supported() || !state.enterprise_attestation {
            return Err(StatusCode::InvalidParameter);
        }
        match mode {
            1 => Ok(self.config.enterprise_rp_ids.iter().any(|r| r == rp_id)),
            2 => Ok(true),
            _ => Err(StatusCode::InvalidOption),
        }
    }

    /// Whether the device can return enterprise attestations (getInfo
    /// option `ep` present).
    pub(crate) fn enterprise_supported(&self) -> bool {
        self.config.enterprise_attestation && self.enterprise.is_some()
    }

    /// The packed mode to use, or `None` for `none` attestation.
    fn choose_attestation(&self, preference: Option<&[String]>) -> Option<AttestationMode> {
        let default = match self.config.attestation {
            AttestationMode::None => None,
            mode => Some(mode),
        };
        for wanted in preference.unwrap_or_default() {
            match AttestationFormat::from_id(wanted) {
                Some(AttestationFormat::None) => return None,
                Some(AttestationFormat::Packed) if default.is_some() => return default,
                _ => {}
            }
        }
        default
    }

    /// The attestation formats this device can produce, default first.
    pub(super) fn attestation_formats(&self) -> Vec<AttestationFormat> {
        // CTAP 2.2 §6.4 attestationFormats: "none" is implied and MUST be
        // omitted; a key that only answers "none" lists nothing.
        match self.config.attestation {
            AttestationMode::None => Vec::new(),
            _ => vec![AttestationFormat::Packed],
        }
    }

    /// A credential this device issued for `rp_id`: stored, or sealed with
    /// this device's master secret and RP ID hash.
    pub(super) fn find_own_credential(
        &self,
        rp_id_hash: &[u8; 32],
        rp_id: &str,
        id: &[u8],
    ) -> Option<Credential> {
        if let Ok(Some(c)) = self.env.store_ref().get(id) {
            return (c.rp_id_hash == *rp_id_hash).then_some(c);
        }
        let sealed = seal::open(&self.master, rp_id_hash, id)?;
        // A discoverable credential that is no longer stored was deleted.
        if sealed.discoverable {
            return None;
        }
        Some(Credential {
            id: id.to_vec(),
            rp_id: rp_id.to_owned(),
            rp_id_hash: *rp_id_hash,
            rp_name: None,
            user: Default::default(),
            key: sealed.key,
            discoverable: false,
            cred_protect: sealed.cred_protect,
            cred_blob: None,
            created_order: 0,
        })
    }

    /// The counter a credential's signatures use under the current mode.
    pub(super) fn counter_scope(&self, credential_id: &[u8]) -> CounterScope {
        match self.config.counter_mode {
            CounterMode::Global => CounterScope::Global,
            CounterMode::PerCredential
            | CounterMode::AlwaysZero
            | CounterMode::Frozen
            | CounterMode::RandomStep(_) => CounterScope::Credential(sha256(credential_id)),
        }
    }

    /// The signature counter for the next signature by `credential_id`,
    /// advanced and committed first (so a signed value is never handed out
    /// again, even after a crash) under the device's counter mode.
    pub(super) fn next_sign_count(&mut self, credential_id: &[u8]) -> Result<u32, StatusCode> {
        let scope = self.counter_scope(credential_id);
        let step = match self.config.counter_mode {
            CounterMode::AlwaysZero => return Ok(0),
            CounterMode::Frozen => return Ok(self.env.store_ref().counter(scope)?),
            CounterMode::PerCredential | CounterMode::Global => 1,
            CounterMode::RandomStep(max) => {
                1 + rand_core::Rng::next_u32(self.env.rng()) % max.max(1)
            }
        };
        let current = self.env.store_ref().counter(scope)?;
        match (current.checked_add(step), self.config.counter_overflow) {
            (None, CounterOverflow::Wrap) => {
                let next = current.wrapping_add(step);
                self.store().set_counter(scope, next)?;
                Ok(next)
            }
            _ => Ok(self.store().next_counter(scope, step)?),
        }
    }
}

/// Step 14 (and §6.2.2 step 9): a declined or timed-out presence check is
/// CTAP2_ERR_OPERATION_DENIED; a CTAPHID_CANCEL is CTAP2_ERR_KEEPALIVE_CANCEL.
pub(super) fn up_error(e: PresenceError) -> StatusCode {
    match e {
        PresenceError::Denied | PresenceError::Timeout => StatusCode::OperationDenied,
        PresenceError::Cancelled => StatusCode::KeepaliveCancel,
    }
}
