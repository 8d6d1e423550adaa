//! authenticatorCredentialManagement (0x0A, and 0x41 from FIDO_2_1_PRE),
//! CTAP 2.1 §6.8: metadata, enumeration of RPs and their discoverable
//! credentials, deletion and user updates.

use super::extensions::large_blob_key;
use super::pin::permission;
use super::Authenticator;
use crate::cbor::{self, MapBuilder, Value};
use crate::crypto::sha256;
use crate::env::Env;
use crate::status::StatusCode;
use crate::store::{Credential, CredentialStore};
use crate::wire::cred_mgmt::{Request, SubCommand};
use crate::wire::encode_user;

/// Enumeration cursors (§6.8.3, §6.8.4). They live until another command
/// than credential management arrives, or the next Begin.
#[derive(Default)]
pub(crate) struct Enumeration {
    /// RPs not yet returned by enumerateRPsGetNextRP.
    rps: Vec<(String, Option<String>)>,
    /// Credentials not yet returned by enumerateCredentialsGetNextCredential.
    credentials: Vec<Credential>,
}

impl<E: Env> Authenticator<E> {
    pub(super) fn credential_management(&mut self, params: &[u8]) -> Result<Vec<u8>, StatusCode> {
        let req = Request::decode(params)?;
        if req.sub_command.needs_auth() {
            self.check_cm_auth(&req)?;
        }
        match req.sub_command {
            SubCommand::GetCredsMetadata => {
                // §6.8.2: a token bound to an RP cannot read device-wide data.
                self.require_unbound_token()?;
                let store = self.env.store_ref();
                let existing = store.count_discoverable()?;
                let remaining = store.remaining_discoverable()?;
                Ok(cbor::encode(
                    &MapBuilder::new()
                        .int(0x01, existing as u64)
                        .int(0x02, remaining as u64)
                        .build(),
                ))
            }
            SubCommand::EnumerateRpsBegin => {
                self.require_unbound_token()?;
                let mut rps: Vec<(String, Option<String>)> = Vec::new();
                let mut all = self.env.store_ref().all_discoverable()?;
                all.sort_by(|a, b| a.rp_id.cmp(&b.rp_id));
                for c in all {
                    match rps.last_mut() {
                        Some((id, name)) if *id == c.rp_id => {
                            if name.is_none() {
                                *name = c.rp_name;
                            }
                        }
                        _ => rps.push((c.rp_id, c.rp_name)),
                    }
                }
                if rps.is_empty() {
                    return Err(StatusCode::NoCredentials);
                }
                let total = rps.len();
                rps.reverse();
                let first = rps.pop().ok_or(StatusCode::NoCredentials)?;
                self.cred_mgmt.rps = rps;
                Ok(encode_rp(&first, Some(total)))
            }
            SubCommand::EnumerateRpsGetNextRp => {
                let next = self.cred_mgmt.rps.pop().ok_or(StatusCode::NotAllowed)?;
                Ok(encode_rp(&next, None))
            }
            SubCommand::EnumerateCredentialsBegin => {
                let rp_id_hash = req.params.rp_id_hash.ok_or(StatusCode::MissingParameter)?;
                self.require_token_for_rp(&rp_id_hash)?;
                let mut creds = self.env.store_ref().discoverable(&rp_id_hash)?;
                if creds.is_empty() {
                    return Err(StatusCode::NoCredentials);
                }
                // Oldest first; the cursor pops from the end.
                creds.sort_by_key(|c| std::cmp::Reverse(c.created_order));
                let total = creds.len();
                let first = creds.pop().ok_or(StatusCode::NoCredentials)?;
                self.cred_mgmt.credentials = creds;
                encode_credential(&first, Some(total))
            }
            SubCommand::EnumerateCredentialsGetNextCredential => {
                let next = self
                    .cred_mgmt
                    .credentials
                    .pop()
                    .ok_or(StatusCode::NotAllowed)?;
                encode_credential(&next, None)
            }
            SubCommand::DeleteCredential => {
                let id = req
                    .params
                    .credential_id
                    .as_ref()
                    .ok_or(StatusCode::MissingParameter)?;
                let cred = self.stored_discoverable(&id.id)?;
                self.require_token_for_rp(&cred.rp_id_hash)?;
                self.store().delete(&cred.id)?;
                self.env.event(&crate::env::Event::CredentialDeleted {
                    rp_id: &cred.rp_id,
                    credential_id: &cred.id,
                });
                self.cred_mgmt = Enumeration::default();
                Ok(Vec::new())
            }
            SubCommand::UpdateUserInformation => {
                let (Some(id), Some(user)) = (&req.params.credential_id, &req.params.user) else {
                    return Err(StatusCode::MissingParameter);
                };
                let cred = self.stored_discoverable(&id.id)?;
                self.require_token_for_rp(&cred.rp_id_hash)?;
                // §6.8.6: the user handle cannot change.
                if user.id != cred.user.id {
                    return Err(StatusCode::InvalidParameter);
                }
                // §6.8.6: a name or displayName that is absent, or present
                // and empty, is removed.
                let mut user = user.clone();
                user.name = user.name.filter(|n| !n.is_empty());
                user.display_name = user.display_name.filter(|n| !n.is_empty());
                self.store().update_user(&cred.id, &user)?;
                Ok(Vec::new())
            }
        }
    }

    /// §6.8 common steps: a pinUvAuthParam is required (else
    /// CTAP2_ERR_PUAT_REQUIRED), with a supported protocol, over
    /// subCommand ‖ subCommandParams, from a token with the `cm` permission.
    fn check_cm_auth(&mut self, req: &Request) -> Result<(), StatusCode> {
        let param = req
            .pin_uv_auth_param
            .as_deref()
            .ok_or(StatusCode::PuatRequired)?;
        let protocol = Self::pin_protocol(req.protocol)?;
        let mut message = vec![req.sub_command as u8];
        message.extend_from_slice(&req.params_bytes);
        self.check_token(protocol, param, &message, permission::CM, None, false)?;
        Ok(())
    }

    /// getCredsMetadata and enumerateRPs need a token without a
    /// permissions RP ID (§6.8.2, §6.8.3).
    fn require_unbound_token(&self) -> Result<(), StatusCode> {
        match self.token_rp_id() {
            Some(_) => Err(StatusCode::PinAuthInvalid),
            None => Ok(()),
        }
    }

    /// A token bound to an RP may only manage that RP's credentials
    /// (§6.8.4–§6.8.6).
    fn require_token_for_rp(&self, rp_id_hash: &[u8; 32]) -> Result<(), StatusCode> {
        match self.token_rp_id() {
            Some(rp) if sha256(rp.as_bytes()) != *rp_id_hash => Err(StatusCode::PinAuthInvalid),
            _ => Ok(()),
        }
    }

    /// A stored discoverable credential, or CTAP2_ERR_NO_CREDENTIALS.
    fn stored_discoverable(&self, id: &[u8]) -> Result<Credential, StatusCode> {
        match self.env.store_ref().get(id)? {
            Some(c) if c.discoverable => Ok(c),
            _ => Err(StatusCode::NoCredentials),
        }
    }
}

/// rp (0x03), rpIDHash (0x04) and, for Begin, totalRPs (0x05).
fn encode_rp((id, name): &(String, Option<String>), total: Option<usize>) -> Vec<u8> {
    let mut rp = MapBuilder::new().text("id", id.as_str());
    if let Some(name) = name {
        rp = rp.text("name", name.as_str());
    }
    cbor::encode(
        &MapBuilder::new()
            .int(0x03, rp.build())
            .int(0x04, cbor::bytes(sha256(id.as_bytes()).to_vec()))
            .opt(0x05, total.map(|t| t as u64))
            .build(),
    )
}

/// user (0x06), credentialID (0x07), publicKey (0x08), totalCredentials
/// (0x09, for Begin), credProtect (0x0A) and largeBlobKey (0x0B).
fn encode_credential(c: &Credential, total: Option<usize>) -> Result<Vec<u8>, StatusCode> {
    let public = c.key.public_key().map_err(|_| StatusCode::Other)?;
    let descriptor = MapBuilder::new()
        .text("id", cbor::bytes(c.id.clone()))
        .text("type", "public-key")
        .build();
    Ok(cbor::encode(
        &MapBuilder::new()
            .int(0x06, encode_user(&c.user, true))
            .int(0x07, descriptor)
            .int(0x08, public.to_cose_value())
            .opt(0x09, total.map(|t| t as u64))
            // A credential made without credProtect has level 1
            // (userVerificationOptional), CTAP 2.1 §12.1.
            .int(0x0A, u64::from(c.cred_protect.max(1)))
            .int(0x0B, Value::Bytes(large_blob_key(&c.key).to_vec()))
            .build(),
    ))
}
