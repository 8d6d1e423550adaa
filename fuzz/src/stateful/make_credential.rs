//! authenticatorMakeCredential (CTAP 2.1 §6.1.2): the model's walk of the
//! steps and the checks of a success (authData, attestation, extension
//! outputs, what the device stored).

use crate::{field, fixture, parse_auth_data, text_field};
use authenticator_core::cbor::Value;
use authenticator_core::config::{AttestationMode, BackupFlags, CounterMode};
use authenticator_core::crypto::keys::Algorithm;
use authenticator_core::crypto::{seal, sha256};
use authenticator_core::env::PresencePolicy;
use authenticator_core::limits;
use authenticator_core::status::StatusCode as S;
use authenticator_core::store::CredentialStore;
use authenticator_core::wire::client_pin::permission;
use authenticator_core::wire::make_credential;

use crate::stateful::extensions::{parse_mc_extensions, Salts};
use crate::stateful::model::{
    bytes_field, code, Cred, Harness, FLAG_BE_BS, FLAG_ED, FLAG_UP, FLAG_UV,
};

/// What a makeCredential that succeeds must return.
struct McPlan {
    rk: bool,
    alg: Algorithm,
    flags: u8,
    cred_protect: u8,
    /// The credBlob input, if any, and whether it is stored.
    cred_blob: Option<(Vec<u8>, bool)>,
    hmac_secret: bool,
    hmac_mc: Option<Salts>,
    large_blob_key: bool,
    /// The minPinLength output (§12.4), for an RP authenticatorConfig
    /// allowed.
    min_pin_length: Option<u8>,
    /// An enterprise attestation (§7.1).
    enterprise: bool,
}

impl Harness {
    /// Walks §6.1.2 for a decoded request, applying to the model every
    /// effect the steps have (uvRetries, the token's flags and RP ID) up
    /// to the outcome.
    fn model_make_credential(&mut self, req: &make_credential::Request) -> Result<McPlan, S> {
        let pin_auth = &req.pin_uv_auth;
        // Step 1.
        if pin_auth.param.as_deref().is_some_and(<[u8]>::is_empty) {
            return Err(self.pin_probe());
        }
        // Step 2.
        let pin_auth = match &pin_auth.param {
            Some(param) => Some((Self::pin_protocol(pin_auth.protocol)?, param.clone())),
            None => None,
        };
        // Step 3: the first requested algorithm the device has.
        let alg = req
            .algorithms
            .iter()
            .copied()
            .find(|a| self.config.algorithms.contains(a))
            .ok_or(S::UnsupportedAlgorithm)?;
        // Step 5: "uv" needs a built-in method and is ignored next to a
        // pinUvAuthParam; "up" = false is invalid.
        let rk = req.options.rk.unwrap_or(false);
        let mut uv = req.options.uv.unwrap_or(false) && pin_auth.is_none();
        if uv && !self.config.builtin_uv {
            return Err(S::InvalidOption);
        }
        if req.options.up == Some(false) {
            return Err(S::InvalidOption);
        }
        let protected = self.protected();
        let needs_uv = if self.pin_set() {
            S::PuatRequired
        } else {
            S::OperationDenied
        };
        // Step 6: alwaysUv; built-in UV stands in for a CTAP 2.0 platform.
        if self.always_uv {
            if !protected {
                return Err(needs_uv);
            }
            if pin_auth.is_none() && !uv {
                if self.config.builtin_uv {
                    uv = true;
                } else {
                    return Err(needs_uv);
                }
            }
        }
        // Steps 7–8: makeCredUvNotRqd (off under alwaysUv) lets a
        // protected device make non-discoverable credentials without UV,
        // never discoverable ones.
        let uv_not_rqd = self.config.make_cred_uv_not_rqd && !self.always_uv;
        if protected && !uv && pin_auth.is_none() && (!uv_not_rqd || rk) {
            return Err(needs_uv);
        }
        // Step 9: enterpriseAttestation needs a device that supports it
        // and has it enabled (§6.11.1), else INVALID_PARAMETER; only 1
        // (vendor-facilitated, for the configured RP IDs: none here) and 2
        // (platform-managed) are values (§7.1), else INVALID_OPTION.
        let enterprise = match req.enterprise_attestation {
            None => false,
            Some(_) if !(self.enterprise_supported && self.enterprise_enabled) => {
                return Err(S::InvalidParameter);
            }
            Some(1) => false,
            Some(2) => true,
            Some(_) => return Err(S::InvalidOption),
        };
        // Step 11: user verification, by token or built in; the built-in
        // gesture is also presence (step 13).
        let mut flags = 0u8;
        let mut token_up = false;
        if let Some((protocol, param)) = &pin_auth {
            if !protected {
                return Err(S::PinNotSet);
            }
            token_up = self.check_token(
                *protocol,
                param,
                &req.client_data_hash,
                permission::MC,
                &req.rp.id,
            )?;
            flags |= FLAG_UV;
        } else if uv {
            self.builtin_uv()?;
            flags |= FLAG_UV | FLAG_UP;
        }
        // Step 12: a live credential of this RP in the excludeList; a
        // credProtect level 3 one counts only after UV (§12.1).
        let excluded = req.exclude_list.iter().any(|d| {
            self.creds.get(&d.id).is_some_and(|c| {
                c.alive && c.rp_id == req.rp.id && (c.cred_protect != 3 || flags & FLAG_UV != 0)
            })
        });
        if excluded {
            return Err(S::CredentialExcluded);
        }
        // Step 14: presence, unless step 11 collected it (a token's
        // user-present flag counts).
        if flags & FLAG_UP == 0 {
            if !token_up && self.presence() != PresencePolicy::Approve {
                return Err(S::OperationDenied);
            }
            flags |= FLAG_UP;
        }
        self.consume_token();
        // Step 15: extensions.
        let ext = parse_mc_extensions(&req.extensions)?;
        if ext.large_blob_key && !rk {
            // §12.3: a largeBlobKey only for a discoverable credential.
            return Err(S::InvalidOption);
        }
        // hmac-secret-mc (CTAP 2.2 §12.6) is evaluated with the other
        // extensions, before anything is stored: a failure leaves no
        // credential behind and replaces none (step 17 is never reached).
        let hmac_mc = match (&ext.hmac_secret_mc, ext.hmac_secret) {
            (Some(input), true) => Some(self.check_salts(input)?),
            _ => None,
        };
        // §12.4: minPinLength only for RP IDs authenticatorConfig listed
        // (§6.11.4 minPinLengthRPIDs).
        let min_pin_length = (ext.min_pin_length && self.min_pin_rp_ids.contains(&req.rp.id))
            .then_some(self.min_pin_length);
        // Step 17: a discoverable credential needs room, unless it replaces
        // the one of the same RP and user handle.
        if rk && self.model_discoverable_count() == self.capacity {
            let replaces = self.creds.values().any(|c| {
                c.alive && c.discoverable && c.rp_id == req.rp.id && c.user.id == req.user.id
            });
            if !replaces {
                return Err(S::KeyStoreFull);
            }
        }
        Ok(McPlan {
            rk,
            alg,
            flags,
            cred_protect: ext.cred_protect.unwrap_or(0),
            cred_blob: ext.cred_blob.map(|b| {
                // §12.2: stored with a discoverable credential, if it fits.
                let stored = rk && b.len() <= limits::MAX_CRED_BLOB_LENGTH;
                (b, stored)
            }),
            hmac_secret: ext.hmac_secret,
            hmac_mc,
            large_blob_key: ext.large_blob_key,
            min_pin_length,
            enterprise,
        })
    }

    pub(crate) fn after_make_credential(
        &mut self,
        params: &[u8],
        st: u8,
        body: Option<Vec<(Value, Value)>>,
    ) {
        let req = match make_credential::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(st, e as u8, "makeCredential on an undecodable request");
                return;
            }
        };
        let outcome = self.model_make_credential(&req);
        assert_eq!(
            st,
            code(&outcome),
            "makeCredential: device {st:#04x}, model {:?}",
            outcome.as_ref().err()
        );
        let Ok(plan) = outcome else { return };
        // The response (§6.1.2 steps 13–19): authenticator data with
        // attested credential data (WebAuthn §6.1, §6.5.2), UP always, UV
        // as verified, and the attestation statement.
        let body = body.expect("makeCredential body");
        let fmt = field(&body, 0x01)
            .and_then(|v| v.as_text())
            .expect("fmt")
            .to_owned();
        let auth_data = bytes_field(&body, 0x02).expect("authData");
        let Some(Value::Map(att_stmt)) = field(&body, 0x03) else {
            panic!("attStmt is not a map")
        };
        // §6.1.2 step 19: epAtt true exactly for an enterprise attestation.
        assert_eq!(
            field(&body, 0x04),
            plan.enterprise.then_some(&Value::Bool(true)),
            "epAtt"
        );
        let ad = parse_auth_data(&auth_data);
        assert_eq!(ad.rp_id_hash, sha256(req.rp.id.as_bytes()), "rpIdHash");
        assert_eq!(ad.flags & (FLAG_UP | FLAG_UV), plan.flags, "UP/UV flags");
        let be_bs = if self.config.backup == BackupFlags::Synced {
            FLAG_BE_BS
        } else {
            0
        };
        assert_eq!(ad.flags & FLAG_BE_BS, be_bs, "BE/BS flags");
        let crate::Attested { aaguid, id, public } = ad.attested.expect("attested credential data");
        assert_eq!(aaguid, self.config.aaguid, "aaguid");
        assert!(
            id.len() <= limits::MAX_CREDENTIAL_ID_LENGTH,
            "credential ID too long"
        );
        assert_eq!(
            public.algorithm(),
            plan.alg,
            "credential algorithm is not {:?}",
            plan.alg
        );
        assert!(!self.creds.contains_key(&id), "credential ID issued twice");

        // The key the device keeps for this ID is the one it published, and
        // the credProtect level goes with it: in the store for a
        // discoverable credential, sealed in the ID either way.
        let store = &self.auth.env().store;
        let master = store.master_secret().expect("master").expect("set");
        let sealed = seal::open(&master, &ad.rp_id_hash, &id).expect("credential ID does not open");
        assert_eq!(sealed.discoverable, plan.rk, "sealed discoverable bit");
        assert_eq!(sealed.cred_protect, plan.cred_protect, "sealed credProtect");
        assert_eq!(sealed.key.public_key().expect("key"), public, "sealed key");
        let expected_blob = plan
            .cred_blob
            .as_ref()
            .and_then(|(b, stored)| stored.then(|| b.clone()));
        match store.get(&id).expect("store get") {
            Some(c) => {
                assert!(plan.rk, "non-discoverable credential in the store");
                assert_eq!(c.user, req.user, "stored user");
                assert_eq!(c.key.public_key().expect("key"), public, "stored key");
                assert_eq!(c.cred_protect, plan.cred_protect, "stored credProtect");
                assert_eq!(c.cred_blob, expected_blob, "stored credBlob");
            }
            None => assert!(!plan.rk, "discoverable credential not stored"),
        }

        // Extension outputs (§12): exactly those of the processed inputs.
        let outputs = ad.extensions.unwrap_or_default();
        let mut expected_ids = Vec::new();
        if let Some((_, stored)) = &plan.cred_blob {
            expected_ids.push("credBlob");
            assert_eq!(
                text_field(&outputs, "credBlob"),
                Some(&Value::Bool(*stored))
            );
        }
        if plan.cred_protect != 0 {
            expected_ids.push("credProtect");
            assert_eq!(
                text_field(&outputs, "credProtect").and_then(|v| v.as_integer()),
                Some(plan.cred_protect.into()),
                "credProtect output"
            );
        }
        if let Some(min) = plan.min_pin_length {
            expected_ids.push("minPinLength");
            assert_eq!(
                text_field(&outputs, "minPinLength").and_then(|v| v.as_integer()),
                Some(min.into()),
                "minPinLength output"
            );
        }
        if plan.hmac_secret {
            expected_ids.push("hmac-secret");
            assert_eq!(
                text_field(&outputs, "hmac-secret"),
                Some(&Value::Bool(true))
            );
        }
        if let Some(salts) = &plan.hmac_mc {
            expected_ids.push("hmac-secret-mc");
            let out = text_field(&outputs, "hmac-secret-mc")
                .and_then(|v| v.as_bytes())
                .expect("hmac-secret-mc output")
                .clone();
            self.check_hmac_output(&id, plan.flags & FLAG_UV != 0, salts, &out);
        }
        let mut got: Vec<&str> = outputs.iter().filter_map(|(k, _)| k.as_text()).collect();
        got.sort_unstable();
        expected_ids.sort_unstable();
        assert_eq!(got, expected_ids, "extension outputs");
        assert_eq!(ad.flags & FLAG_ED != 0, !expected_ids.is_empty(), "ED flag");
        let large_blob_key = bytes_field(&body, 0x05);
        assert_eq!(
            large_blob_key.is_some(),
            plan.large_blob_key,
            "largeBlobKey"
        );
        if let Some(k) = &large_blob_key {
            assert_eq!(k.len(), 32, "largeBlobKey length");
        }

        // The attestation statement (§6.1.2 step 19; WebAuthn §8.2 packed:
        // full attestation with the batch key and x5c, self attestation
        // with the credential key).
        let signed = [auth_data.as_slice(), req.client_data_hash.as_slice()].concat();
        match fmt.as_str() {
            "none" => assert!(att_stmt.is_empty(), "none attStmt not empty"),
            "packed" => {
                let sig = text_field(att_stmt, "sig")
                    .and_then(|v| v.as_bytes())
                    .expect("packed sig");
                let sig_alg = text_field(att_stmt, "alg")
                    .and_then(|v| v.as_integer())
                    .map(i128::from)
                    .expect("packed alg");
                match text_field(att_stmt, "x5c") {
                    Some(_) => {
                        assert!(
                            self.config.attestation == AttestationMode::Batch || plan.enterprise,
                            "x5c from a device without batch attestation"
                        );
                        assert_eq!(sig_alg, -7, "batch attestation alg");
                        assert!(
                            fixture().batch_public.verify(&signed, sig),
                            "batch attestation signature does not verify"
                        );
                    }
                    None => {
                        assert!(!plan.enterprise, "enterprise attestation without x5c");
                        assert_eq!(self.config.attestation, AttestationMode::SelfAttestation);
                        assert_eq!(sig_alg, i128::from(plan.alg.cose()), "self attestation alg");
                        assert!(
                            public.verify(&signed, sig),
                            "self attestation signature does not verify"
                        );
                    }
                }
            }
            other => panic!("unexpected attestation format {other}"),
        }
        if plan.enterprise {
            // The harness gives the device the batch identity as its
            // enterprise identity, so the x5c branch above checked it.
            assert_eq!(fmt, "packed", "enterprise attestation format");
        } else if self.config.attestation == AttestationMode::None {
            assert_eq!(fmt, "none", "packed attestation from a none device");
        }

        // WebAuthn §6.1.1: a per-credential counter starts at 0; a global
        // one advances with every signature.
        match self.config.counter_mode {
            CounterMode::Global => {
                if let Some(last) = self.global_last {
                    assert!(ad.sign_count > last, "global counter did not advance");
                }
                self.global_last = Some(ad.sign_count);
            }
            _ => assert_eq!(ad.sign_count, 0, "registration counter"),
        }

        // §6.1.2 step 17: a discoverable credential replaces the one of
        // the same RP and user handle.
        if plan.rk {
            for c in self.creds.values_mut() {
                if c.alive && c.discoverable && c.rp_id == req.rp.id && c.user.id == req.user.id {
                    c.alive = false;
                }
            }
        }
        self.ids.push(id.clone());
        self.next_created += 1;
        self.creds.insert(
            id,
            Cred {
                public,
                rp_id: req.rp.id.clone(),
                rp_name: req.rp.name.clone(),
                user: req.user.clone(),
                discoverable: plan.rk,
                alive: true,
                last_counter: match self.config.counter_mode {
                    CounterMode::Global => Some(ad.sign_count),
                    _ => None,
                },
                cred_protect: plan.cred_protect,
                cred_blob: expected_blob,
                large_blob_key,
                created: self.next_created,
            },
        );
    }
}
