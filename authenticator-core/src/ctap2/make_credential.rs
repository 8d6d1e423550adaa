//! authenticatorMakeCredential, CTAP 2.1 §6.1.2.

use super::Authenticator;
use crate::auth_data::{flags, AttestedCredential, AuthData};
use crate::config::{AttestationMode, BackupFlags, CounterMode};
use crate::crypto::keys::PrivateKey;
use crate::crypto::{seal, sha256};
use crate::env::{Env, PresenceError, PresenceRequest};
use crate::status::StatusCode;
use crate::store::{CounterScope, Credential, CredentialStore};
use crate::wire::get_info::AttestationFormat;
use crate::wire::make_credential::{AttestationStatement, Request, Response};

impl<E: Env> Authenticator<E> {
    pub(super) fn make_credential(&mut self, params: &[u8]) -> Result<Vec<u8>, StatusCode> {
        let req = Request::decode(params)?;
        let rp_id_hash = sha256(req.rp.id.as_bytes());

        // Step 1 (zero-length pinUvAuthParam probe) applies only to devices
        // with clientPin or pinUvAuthToken, which this build does not offer.
        // Step 2: a pinUvAuthParam needs a protocol, and no protocol is
        // supported by this build.
        req.pin_uv_auth.check_supported()?;

        // Step 3: the first algorithm in the caller's order that the device
        // has enabled. Unknown types and algorithms were skipped in decoding.
        let alg = req
            .algorithms
            .iter()
            .copied()
            .find(|a| self.config.algorithms.contains(a))
            .ok_or(StatusCode::UnsupportedAlgorithm)?;

        // Step 5: options. "rk" is supported; "up" = false is invalid here;
        // "uv" needs a built-in method.
        let rk = req.options.rk.unwrap_or(false);
        let uv_requested = req.options.uv.unwrap_or(false);
        if req.options.up == Some(false) {
            return Err(StatusCode::InvalidOption);
        }
        if uv_requested && !self.config.builtin_uv {
            return Err(StatusCode::InvalidOption);
        }

        // Steps 6–8 (alwaysUv, makeCredUvNotRqd) belong to CTAP 2.1 options
        // that this build does not advertise; see docs/decisions.md.

        // Step 9: enterprise attestation is not supported by this build.
        if req.enterprise_attestation.is_some() {
            return Err(StatusCode::InvalidParameter);
        }

        // Step 11.2: built-in user verification. The same gesture (a finger
        // on a sensor) is the evidence of presence used in steps 12 and 13.
        let mut auth_flags = 0u8;
        if uv_requested {
            let request = PresenceRequest::Register {
                rp_id: &req.rp.id,
                user_name: req.user.name.as_deref(),
            };
            let check = self
                .env
                .check_user(&request, true, true)
                .map_err(uv_error)?;
            if !check.uv {
                return Err(StatusCode::OperationDenied);
            }
            auth_flags |= flags::UV | flags::UP;
        }

        // Step 12: a credential from the excludeList that this device made
        // for this RP. Presence is collected first (unless step 11 already
        // did), and the answer is CREDENTIAL_EXCLUDED whatever the user does.
        let excluded = req.exclude_list.iter().any(|d| {
            self.find_own_credential(&rp_id_hash, &req.rp.id, &d.id)
                .is_some()
        });
        if excluded {
            if auth_flags & flags::UP == 0 {
                let request = PresenceRequest::Excluded { rp_id: &req.rp.id };
                if let Err(PresenceError::Cancelled) = self.env.check_user(&request, true, false) {
                    return Err(StatusCode::KeepaliveCancel);
                }
            }
            return Err(StatusCode::CredentialExcluded);
        }

        // Step 14: user presence ("up" is true or absent here).
        if auth_flags & flags::UP == 0 {
            let request = PresenceRequest::Register {
                rp_id: &req.rp.id,
                user_name: req.user.name.as_deref(),
            };
            self.env
                .check_user(&request, true, false)
                .map_err(up_error)?;
            auth_flags |= flags::UP;
        }

        // Step 15: no extension is implemented in this build; inputs are
        // ignored and no extension output is produced.

        // Step 16: the new key pair.
        let key = PrivateKey::generate(alg, self.env.rng());
        let public = key.public_key().map_err(|_| StatusCode::Other)?;
        let cose_public_key = public.to_cose_bytes();

        // Steps 17–18: the credential ID seals the key either way; a
        // discoverable credential is also stored, replacing an older one of
        // the same RP and user handle.
        let sealed = seal::Sealed {
            key: key.clone(),
            discoverable: rk,
            cred_protect: 0,
        };
        let credential_id = seal::seal(&self.master, &rp_id_hash, &sealed, self.env.rng());
        // The registration's signCount: per-credential counters start at 0
        // (WebAuthn §6.1.1); a global counter advances and is committed.
        let sign_count = match self.config.counter_mode {
            CounterMode::Global => self.store().next_counter(CounterScope::Global, 1)?,
            CounterMode::PerCredential | CounterMode::AlwaysZero => 0,
        };
        if rk {
            let replacing = self
                .env
                .store_ref()
                .discoverable(&rp_id_hash)?
                .into_iter()
                .find(|c| c.user.id == req.user.id)
                .map(|c| c.id);
            let now = self.env.now_ms();
            let credential = Credential {
                id: credential_id.clone(),
                rp_id: req.rp.id.clone(),
                rp_id_hash,
                rp_name: req.rp.name.clone(),
                user: req.user.clone(),
                key: key.clone(),
                discoverable: true,
                cred_protect: 0,
                created_ms: now,
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
            extensions: None,
        }
        .to_bytes();

        // Step 19: the attestation statement, honouring
        // attestationFormatsPreference (CTAP 2.2 §6.1.2 step 19).
        let format = self.choose_attestation(req.attestation_formats_preference.as_deref());
        let att_stmt = match format {
            None => AttestationStatement::None,
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
        Ok(Response {
            auth_data,
            att_stmt,
        }
        .encode())
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
        match self.config.attestation {
            AttestationMode::None => vec![AttestationFormat::None],
            _ => vec![AttestationFormat::Packed, AttestationFormat::None],
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
            created_ms: 0,
        })
    }

    /// The counter a credential's signatures use under the current mode.
    pub(super) fn counter_scope(&self, credential_id: &[u8]) -> CounterScope {
        match self.config.counter_mode {
            CounterMode::Global => CounterScope::Global,
            CounterMode::PerCredential | CounterMode::AlwaysZero => {
                CounterScope::Credential(sha256(credential_id))
            }
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

/// Step 11.2 (and §6.2.2 step 6.2): built-in UV that times out is
/// CTAP2_ERR_USER_ACTION_TIMEOUT; any other failure CTAP2_ERR_OPERATION_DENIED.
pub(super) fn uv_error(e: PresenceError) -> StatusCode {
    match e {
        PresenceError::Timeout => StatusCode::UserActionTimeout,
        PresenceError::Denied => StatusCode::OperationDenied,
        PresenceError::Cancelled => StatusCode::KeepaliveCancel,
    }
}
