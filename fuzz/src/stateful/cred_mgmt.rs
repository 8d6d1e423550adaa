//! authenticatorCredentialManagement (0x0A, and 0x41 from FIDO_2_1_PRE),
//! CTAP 2.1 §6.8: the model's walk of each subcommand, the checks of the
//! metadata and enumerations, and the requests the operations send.

use crate::{field, text_field};
use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::crypto::sha256;
use authenticator_core::status::StatusCode as S;
use authenticator_core::store::User;
use authenticator_core::wire::client_pin::permission;
use authenticator_core::wire::cred_mgmt;

use crate::stateful::input::{Auth, CmSub};
use crate::stateful::model::{bytes_field, code, CredSnap, Harness, RpSnap, RPS};

/// What a credential management success must carry (§6.8).
enum CmAnswer {
    /// getCredsMetadata (§6.8.2).
    Metadata,
    /// One of these RPs; `total` for enumerateRPsBegin (§6.8.3).
    Rp {
        of: Vec<RpSnap>,
        total: Option<usize>,
    },
    /// One of these credentials; `total` for enumerateCredentialsBegin
    /// (§6.8.4).
    Cred {
        of: Vec<CredSnap>,
        total: Option<usize>,
    },
    /// deleteCredential, updateUserInformation: CTAP2_OK alone.
    Empty,
}

impl Harness {
    fn rp_snaps(&self) -> Vec<RpSnap> {
        let mut rps: Vec<RpSnap> = Vec::new();
        for c in self.creds.values().filter(|c| c.alive && c.discoverable) {
            match rps.iter_mut().find(|r| r.id == c.rp_id) {
                Some(r) => {
                    if r.name.is_none() {
                        r.name = c.rp_name.clone();
                    }
                }
                None => rps.push(RpSnap {
                    id: c.rp_id.clone(),
                    name: c.rp_name.clone(),
                }),
            }
        }
        rps
    }

    /// Walks §6.8 for a decoded request: the pinUvAuthParam over
    /// subCommand ‖ subCommandParams from a token with the cm permission
    /// (PUAT_REQUIRED without one; the GetNext subcommands continue an
    /// authenticated Begin and carry none), then the subcommand.
    fn model_cred_mgmt(&mut self, req: &cred_mgmt::Request) -> Result<CmAnswer, S> {
        use cred_mgmt::SubCommand as C;
        if req.sub_command.needs_auth() {
            let param = req.pin_uv_auth_param.as_deref().ok_or(S::PuatRequired)?;
            let protocol = Self::pin_protocol(req.protocol)?;
            let message = [&[req.sub_command as u8][..], &req.params_bytes].concat();
            self.verify_token(protocol, param, &message, permission::CM)?;
        }
        // The token's permissions RP ID (§6.5.5.7: a cm token may be bound
        // to one RP).
        let bound = self.token.as_ref().and_then(|t| t.rp_id.clone());
        // §6.8.4–§6.8.6: a bound token manages only its RP's credentials.
        let bound_elsewhere = |rp_id: &str| bound.as_deref().is_some_and(|b| b != rp_id);
        match req.sub_command {
            // §6.8.2, §6.8.3: device-wide data needs a token without a
            // permissions RP ID.
            C::GetCredsMetadata => match bound {
                Some(_) => Err(S::PinAuthInvalid),
                None => Ok(CmAnswer::Metadata),
            },
            C::EnumerateRpsBegin => {
                if bound.is_some() {
                    return Err(S::PinAuthInvalid);
                }
                let rps = self.rp_snaps();
                if rps.is_empty() {
                    return Err(S::NoCredentials);
                }
                let total = Some(rps.len());
                Ok(CmAnswer::Rp { of: rps, total })
            }
            // Without an enumeration in progress (or past its end):
            // NOT_ALLOWED, as for getNextAssertion (§6.3).
            C::EnumerateRpsGetNextRp if self.cm_rps.is_empty() => Err(S::NotAllowed),
            C::EnumerateRpsGetNextRp => Ok(CmAnswer::Rp {
                of: self.cm_rps.clone(),
                total: None,
            }),
            C::EnumerateCredentialsBegin => {
                let hash = req.params.rp_id_hash.ok_or(S::MissingParameter)?;
                if bound
                    .as_deref()
                    .is_some_and(|b| sha256(b.as_bytes()) != hash)
                {
                    return Err(S::PinAuthInvalid);
                }
                let creds: Vec<CredSnap> = self
                    .creds
                    .iter()
                    .filter(|(_, c)| {
                        c.alive && c.discoverable && sha256(c.rp_id.as_bytes()) == hash
                    })
                    .map(|(id, c)| CredSnap {
                        id: id.clone(),
                        user: c.user.clone(),
                        public: c.public.clone(),
                        cred_protect: c.cred_protect,
                        large_blob_key: c.large_blob_key.clone(),
                    })
                    .collect();
                if creds.is_empty() {
                    return Err(S::NoCredentials);
                }
                let total = Some(creds.len());
                Ok(CmAnswer::Cred { of: creds, total })
            }
            C::EnumerateCredentialsGetNextCredential if self.cm_creds.is_empty() => {
                Err(S::NotAllowed)
            }
            C::EnumerateCredentialsGetNextCredential => Ok(CmAnswer::Cred {
                of: self.cm_creds.clone(),
                total: None,
            }),
            // §6.8.5: a stored discoverable credential (else
            // NO_CREDENTIALS), of the token's RP if it has one.
            C::DeleteCredential => {
                let id = &req
                    .params
                    .credential_id
                    .as_ref()
                    .ok_or(S::MissingParameter)?
                    .id;
                let cred = self
                    .creds
                    .get(id)
                    .filter(|c| c.alive && c.discoverable)
                    .ok_or(S::NoCredentials)?;
                if bound_elsewhere(&cred.rp_id) {
                    return Err(S::PinAuthInvalid);
                }
                self.creds.get_mut(id).expect("known").alive = false;
                // The device ends its enumerations after a deletion.
                self.cm_rps.clear();
                self.cm_creds.clear();
                Ok(CmAnswer::Empty)
            }
            // §6.8.6: the user handle must be the credential's (else
            // INVALID_PARAMETER); name and displayName are replaced, and one
            // absent or empty in the request is removed.
            C::UpdateUserInformation => {
                let (Some(d), Some(user)) = (&req.params.credential_id, &req.params.user) else {
                    return Err(S::MissingParameter);
                };
                let cred = self
                    .creds
                    .get(&d.id)
                    .filter(|c| c.alive && c.discoverable)
                    .ok_or(S::NoCredentials)?;
                if bound_elsewhere(&cred.rp_id) {
                    return Err(S::PinAuthInvalid);
                }
                if user.id != cred.user.id {
                    return Err(S::InvalidParameter);
                }
                let non_empty = |n: &Option<String>| n.clone().filter(|n| !n.is_empty());
                // §6.8.6: absent or empty names are removed.
                let updated = User {
                    id: user.id.clone(),
                    name: non_empty(&user.name),
                    display_name: non_empty(&user.display_name),
                };
                self.creds.get_mut(&d.id).expect("known").user = updated;
                Ok(CmAnswer::Empty)
            }
        }
    }

    pub(crate) fn after_cred_mgmt(
        &mut self,
        params: &[u8],
        st: u8,
        body: Option<Vec<(Value, Value)>>,
    ) {
        let req = match cred_mgmt::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(
                    st, e as u8,
                    "credential management on an undecodable request"
                );
                return;
            }
        };
        let outcome = self.model_cred_mgmt(&req);
        assert_eq!(
            st,
            code(&outcome),
            "credential management {:?}: device {st:#04x}, model {:?}",
            req.sub_command,
            outcome.as_ref().err()
        );
        let Ok(answer) = outcome else { return };
        let body = body.unwrap_or_default();
        let keys = |body: &[(Value, Value)]| -> Vec<i128> {
            body.iter()
                .map(|(k, _)| k.as_integer().map(i128::from).expect("integer key"))
                .collect()
        };
        match answer {
            CmAnswer::Empty => assert!(body.is_empty()),
            // §6.8.2: existingResidentCredentialsCount and
            // maxPossibleRemainingResidentCredentialsCount.
            CmAnswer::Metadata => {
                let stored = self.model_discoverable_count();
                let expected = MapBuilder::new()
                    .int(0x01, stored as u64)
                    .int(0x02, (self.capacity - stored) as u64)
                    .build();
                assert_eq!(Value::Map(body), expected, "getCredsMetadata");
            }
            // §6.8.3: rp (id, name when known), rpIDHash and, for Begin,
            // totalRPs; each RP exactly once.
            CmAnswer::Rp { mut of, total } => {
                let mut expected_keys = vec![0x03, 0x04];
                if total.is_some() {
                    expected_keys.push(0x05);
                }
                assert_eq!(keys(&body), expected_keys, "enumerateRPs members");
                let Some(Value::Map(rp)) = field(&body, 0x03) else {
                    panic!("rp is not a map")
                };
                let id = text_field(rp, "id")
                    .and_then(|v| v.as_text())
                    .expect("rp.id")
                    .to_owned();
                let name = text_field(rp, "name").map(|v| v.as_text().expect("rp.name").to_owned());
                assert_eq!(rp.len(), 1 + usize::from(name.is_some()), "rp members");
                let got = RpSnap { id, name };
                let i = of
                    .iter()
                    .position(|r| *r == got)
                    .unwrap_or_else(|| panic!("enumerateRPs gave {got:?}, expected one of {of:?}"));
                of.remove(i);
                assert_eq!(
                    bytes_field(&body, 0x04),
                    Some(sha256(got.id.as_bytes()).to_vec()),
                    "rpIDHash"
                );
                if let Some(total) = total {
                    assert_eq!(
                        field(&body, 0x05),
                        Some(&Value::from(total as u64)),
                        "totalRPs"
                    );
                }
                self.cm_rps = of;
            }
            // §6.8.4: user, credentialID, publicKey, totalCredentials (for
            // Begin), credProtect and largeBlobKey; each credential once.
            CmAnswer::Cred { mut of, total } => {
                let mut expected_keys = vec![0x06, 0x07, 0x08, 0x0A, 0x0B];
                if total.is_some() {
                    expected_keys.insert(3, 0x09);
                }
                assert_eq!(keys(&body), expected_keys, "enumerateCredentials members");
                let Some(Value::Map(descriptor)) = field(&body, 0x07) else {
                    panic!("credentialID is not a map")
                };
                let id = text_field(descriptor, "id")
                    .and_then(|v| v.as_bytes())
                    .expect("credentialID.id")
                    .clone();
                assert_eq!(
                    text_field(descriptor, "type").and_then(|v| v.as_text()),
                    Some("public-key")
                );
                let i = of
                    .iter()
                    .position(|c| c.id == id)
                    .unwrap_or_else(|| panic!("enumerateCredentials gave {id:02x?}"));
                let snap = of.remove(i);
                let mut user = vec![(Value::from("id"), cbor::bytes(snap.user.id.clone()))];
                if let Some(n) = &snap.user.name {
                    user.push((Value::from("name"), Value::from(n.as_str())));
                }
                if let Some(n) = &snap.user.display_name {
                    user.push((Value::from("displayName"), Value::from(n.as_str())));
                }
                let Some(Value::Map(got_user)) = field(&body, 0x06) else {
                    panic!("user is not a map")
                };
                assert_eq!(got_user.len(), user.len(), "user members");
                for (k, v) in &user {
                    assert_eq!(text_field(got_user, k.as_text().expect("text")), Some(v));
                }
                assert_eq!(
                    crate::public_key_from_cose(field(&body, 0x08).expect("publicKey")),
                    snap.public,
                    "publicKey"
                );
                if let Some(total) = total {
                    assert_eq!(
                        field(&body, 0x09),
                        Some(&Value::from(total as u64)),
                        "totalCredentials"
                    );
                }
                // §12.1: a credential made without credProtect has level 1.
                assert_eq!(
                    field(&body, 0x0A),
                    Some(&Value::from(u64::from(snap.cred_protect.max(1)))),
                    "credProtect"
                );
                // The same largeBlobKey as makeCredential / getAssertion.
                let lbk = bytes_field(&body, 0x0B).expect("largeBlobKey");
                assert_eq!(lbk.len(), 32, "largeBlobKey length");
                match &snap.large_blob_key {
                    Some(known) => assert_eq!(known, &lbk, "largeBlobKey changed"),
                    None => {
                        if let Some(c) = self.creds.get_mut(&id) {
                            match &c.large_blob_key {
                                Some(known) => assert_eq!(known, &lbk, "largeBlobKey changed"),
                                None => c.large_blob_key = Some(lbk),
                            }
                        }
                    }
                }
                self.cm_creds = of;
            }
        }
    }

    /// Drives one credential management operation.
    pub(crate) fn cred_mgmt(&mut self, preview: bool, sub: &CmSub, auth: Option<Auth>) {
        let cmd = if preview { 0x41 } else { 0x0A };
        let descriptor = |id: Vec<u8>| {
            MapBuilder::new()
                .text("id", cbor::bytes(id))
                .text("type", "public-key")
                .build()
        };
        let (number, params, all) = match sub {
            CmSub::Metadata => (0x01, None, false),
            CmSub::Rps { all } => (0x02, None, *all),
            CmSub::NextRp => (0x03, None, false),
            CmSub::Credentials { rp, all } => {
                let hash = match RPS.get(usize::from(*rp)) {
                    Some(rp) => sha256(rp.as_bytes()),
                    None => sha256(&[*rp]),
                };
                let p = MapBuilder::new().int(0x01, cbor::bytes(hash.to_vec()));
                (0x04, Some(p.build()), *all)
            }
            CmSub::NextCredential => (0x05, None, false),
            CmSub::Delete(pick) => {
                let p = MapBuilder::new().int(0x02, descriptor(self.pick(pick)));
                (0x06, Some(p.build()), false)
            }
            CmSub::Update {
                cred,
                other_user,
                name,
                display_name,
            } => {
                let id = self.pick(cred);
                let handle = match (self.creds.get(&id), other_user) {
                    (Some(c), false) => c.user.id.clone(),
                    _ => vec![0xEE],
                };
                let text = |n: &Option<u8>, what: &str| {
                    n.map(|n| match n {
                        0 => String::new(),
                        n => format!("{what}{n}"),
                    })
                };
                let mut user = MapBuilder::new().text("id", cbor::bytes(handle));
                if let Some(n) = text(name, "name") {
                    user = user.text("name", n);
                }
                if let Some(n) = text(display_name, "Display ") {
                    user = user.text("displayName", n);
                }
                let p = MapBuilder::new()
                    .int(0x02, descriptor(id))
                    .int(0x03, user.build());
                (0x07, Some(p.build()), false)
            }
            CmSub::Bare(n) => (u64::from(n % 9), None, false),
        };
        let mut m = MapBuilder::new().int(0x01, number);
        let mut message = vec![number as u8];
        if let Some(p) = params {
            message.extend_from_slice(&cbor::encode(&p));
            m = m.int(0x02, p);
        }
        if let Some(a) = auth {
            m = self.pin_uv_auth(m, a, &message, 0x04, 0x03);
        }
        if self.send(cmd, m.build()) != 0 || !all {
            return;
        }
        // The rest of the enumeration (GetNext carries no auth).
        for _ in 0..8 {
            let pending = match number {
                0x02 => !self.cm_rps.is_empty(),
                _ => !self.cm_creds.is_empty(),
            };
            if !pending {
                break;
            }
            self.send(cmd, MapBuilder::new().int(0x01, number + 1).build());
        }
    }
}
