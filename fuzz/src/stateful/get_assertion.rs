//! authenticatorGetAssertion (CTAP 2.1 §6.2.2) and
//! authenticatorGetNextAssertion (§6.3): the model's walk of the steps,
//! the checks of each assertion, and the request the operations send.

use crate::{field, parse_auth_data, text_field};
use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::config::BackupFlags;
use authenticator_core::crypto::sha256;
use authenticator_core::env::PresencePolicy;
use authenticator_core::limits;
use authenticator_core::status::StatusCode as S;
use authenticator_core::wire::client_pin::permission;
use authenticator_core::wire::get_assertion;

use crate::stateful::extensions::{parse_ga_extensions, Salts};
use crate::stateful::input::{Auth, GaExtensions, Pick};
use crate::stateful::model::{
    bytes_field, client_data_hash, code, AssertionPlan, Cred, Harness, Sequence, FLAG_BE_BS,
    FLAG_ED, FLAG_UP, FLAG_UV, RPS,
};

impl Harness {
    /// Walks §6.2.2 for a decoded request up to the first credential;
    /// returns the plan and the applicable credentials in order.
    fn model_get_assertion(
        &mut self,
        req: &get_assertion::Request,
    ) -> Result<(AssertionPlan, Vec<Vec<u8>>), S> {
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
        // Step 4: "rk" is not a getAssertion option; "uv" needs a built-in
        // method and is ignored next to a pinUvAuthParam.
        if req.options.rk.is_some() {
            return Err(S::UnsupportedOption);
        }
        let mut uv = req.options.uv.unwrap_or(false) && pin_auth.is_none();
        let up = req.options.up.unwrap_or(true);
        if uv && !self.config.builtin_uv {
            return Err(S::InvalidOption);
        }
        let protected = self.protected();
        // Step 5: alwaysUv, for requests that want presence.
        if self.always_uv && up && pin_auth.is_none() && !uv {
            if !protected {
                return Err(S::OperationDenied);
            }
            if self.config.builtin_uv {
                uv = true;
            } else {
                return Err(S::PuatRequired);
            }
        }
        // Step 6: user verification, by token or built in.
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
                permission::GA,
                &req.rp_id,
            )?;
            flags |= FLAG_UV;
        } else if uv {
            self.builtin_uv()?;
            flags |= FLAG_UV | FLAG_UP;
        }
        let verified = flags & FLAG_UV != 0;
        // Step 7: the applicable credentials. credProtect (§12.1): level 3
        // needs UV; level 2 is found without UV only through the allowList.
        let credentials: Vec<Vec<u8>> = match &req.allow_list {
            Some(list) => list
                .iter()
                .map(|d| &d.id)
                .find(|id| {
                    self.creds.get(*id).is_some_and(|c| {
                        c.alive && c.rp_id == req.rp_id && (verified || c.cred_protect != 3)
                    })
                })
                .cloned()
                .into_iter()
                .collect(),
            None => {
                let mut found: Vec<(&Vec<u8>, &Cred)> = self
                    .creds
                    .iter()
                    .filter(|(_, c)| {
                        c.alive
                            && c.discoverable
                            && c.rp_id == req.rp_id
                            && (verified || c.cred_protect < 2)
                    })
                    .collect();
                // Step 12.2.1: the most recently created first.
                found.sort_by_key(|(_, c)| std::cmp::Reverse(c.created));
                found.into_iter().map(|(id, _)| id.clone()).collect()
            }
        };
        if credentials.is_empty() {
            return Err(S::NoCredentials);
        }
        // Step 9: presence when "up" is true, unless step 6 collected it.
        if up && flags & FLAG_UP == 0 {
            if !token_up && self.presence() != PresencePolicy::Approve {
                return Err(S::OperationDenied);
            }
            flags |= FLAG_UP;
        }
        if up {
            self.consume_token();
        }
        // Step 10: extensions.
        let ext = parse_ga_extensions(&req.extensions)?;
        let hmac = match &ext.hmac_secret {
            Some(input) => {
                let s = self.check_salts(input)?;
                Some((s.platform, s.salts))
            }
            None => None,
        };
        // Step 12: several credentials without an allowList make a
        // sequence; user names only then, and only after UV.
        let several = req.allow_list.is_none() && credentials.len() > 1;
        Ok((
            AssertionPlan {
                rp_id: req.rp_id.clone(),
                client_data_hash: req.client_data_hash.clone(),
                flags,
                identifying: several && verified,
                cred_blob: ext.cred_blob,
                large_blob_key: ext.large_blob_key,
                hmac,
            },
            credentials,
        ))
    }

    pub(crate) fn after_get_assertion(
        &mut self,
        params: &[u8],
        st: u8,
        body: Option<Vec<(Value, Value)>>,
    ) {
        let req = match get_assertion::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(st, e as u8, "getAssertion on an undecodable request");
                return;
            }
        };
        let outcome = self.model_get_assertion(&req);
        assert_eq!(
            st,
            code(&outcome),
            "getAssertion: device {st:#04x}, model {:?}",
            outcome.as_ref().err()
        );
        let Ok((plan, mut credentials)) = outcome else {
            return;
        };
        let body = body.expect("getAssertion body");
        let first = credentials.remove(0);
        let number = (!credentials.is_empty() && req.allow_list.is_none())
            .then(|| u32::try_from(credentials.len() + 1).expect("count"));
        self.check_assertion(&body, &plan, &first, number);
        if number.is_some() {
            self.sequence = Some(Sequence {
                plan,
                pending: credentials,
                last_ms: self.now,
            });
        }
    }

    pub(crate) fn after_get_next_assertion(
        &mut self,
        sequence: Option<Sequence>,
        st: u8,
        body: Option<Vec<(Value, Value)>>,
    ) {
        // §6.3 steps 1–3: a sequence with credentials left, the previous
        // assertion at most 30 s ago; otherwise NOT_ALLOWED.
        let Some(mut seq) = sequence.filter(|s| {
            !s.pending.is_empty()
                && self.now.saturating_sub(s.last_ms) <= limits::GET_NEXT_ASSERTION_WINDOW_MS
        }) else {
            assert_eq!(
                st,
                S::NotAllowed as u8,
                "getNextAssertion without a sequence"
            );
            return;
        };
        assert_eq!(st, 0, "getNextAssertion within its window");
        let next = seq.pending.remove(0);
        self.check_assertion(
            &body.expect("getNextAssertion body"),
            &seq.plan,
            &next,
            None,
        );
        if !seq.pending.is_empty() {
            seq.last_ms = self.now;
            self.sequence = Some(seq);
        }
    }

    /// Checks one assertion by credential `id` (§6.2.2 steps 11–13).
    fn check_assertion(
        &mut self,
        body: &[(Value, Value)],
        plan: &AssertionPlan,
        id: &[u8],
        number: Option<u32>,
    ) {
        let Some(Value::Map(descriptor)) = field(body, 0x01) else {
            panic!("assertion without a credential descriptor")
        };
        assert_eq!(
            text_field(descriptor, "id")
                .and_then(|v| v.as_bytes())
                .map(Vec::as_slice),
            Some(id),
            "assertion by another credential than the model's"
        );
        assert_eq!(
            text_field(descriptor, "type").and_then(|v| v.as_text()),
            Some("public-key")
        );
        let auth_data = bytes_field(body, 0x02).expect("authData");
        let signature = bytes_field(body, 0x03).expect("signature");
        let ad = parse_auth_data(&auth_data);
        assert!(ad.attested.is_none(), "AT set in an assertion");
        assert_eq!(ad.rp_id_hash, sha256(plan.rp_id.as_bytes()), "rpIdHash");
        assert_eq!(ad.flags & (FLAG_UP | FLAG_UV), plan.flags, "UP/UV flags");
        let be_bs = if self.config.backup == BackupFlags::Synced {
            FLAG_BE_BS
        } else {
            0
        };
        assert_eq!(ad.flags & FLAG_BE_BS, be_bs, "BE/BS flags");
        // Step 13: signed with the credential's key over authData ‖
        // clientDataHash.
        let cred = self.creds.get(id).expect("known credential");
        let signed = [auth_data.as_slice(), &plan.client_data_hash].concat();
        assert!(
            cred.public.verify(&signed, &signature),
            "assertion signature does not verify"
        );
        // The user entity: discoverable credentials only; names only when
        // identifying (§6.2.2 step 12.3).
        match field(body, 0x04) {
            Some(Value::Map(user)) => {
                assert!(
                    cred.discoverable,
                    "user entity for a non-discoverable credential"
                );
                let mut expected = vec![("id", Some(cbor::bytes(cred.user.id.clone())))];
                if plan.identifying {
                    expected.push(("name", cred.user.name.clone().map(Value::from)));
                    expected.push((
                        "displayName",
                        cred.user.display_name.clone().map(Value::from),
                    ));
                }
                let expected: Vec<(&str, Value)> = expected
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k, v)))
                    .collect();
                assert_eq!(user.len(), expected.len(), "user entity fields");
                for (k, v) in &expected {
                    assert_eq!(text_field(user, k), Some(v), "user.{k}");
                }
            }
            Some(other) => panic!("user is not a map: {other:?}"),
            None => assert!(
                !cred.discoverable,
                "no user entity for a discoverable credential"
            ),
        }
        let got_number = field(body, 0x05).map(|v| {
            let n = v.as_integer().map(i128::from).expect("numberOfCredentials");
            u32::try_from(n).expect("numberOfCredentials range")
        });
        assert_eq!(got_number, number, "numberOfCredentials");
        // §12.3: a largeBlobKey for discoverable credentials, always the
        // same one.
        let lbk = bytes_field(body, 0x07);
        assert_eq!(
            lbk.is_some(),
            plan.large_blob_key && cred.discoverable,
            "largeBlobKey presence"
        );
        let cred_blob = cred.cred_blob.clone().unwrap_or_default();
        if let Some(k) = lbk {
            let cred = self.creds.get_mut(id).expect("known credential");
            match &cred.large_blob_key {
                Some(known) => assert_eq!(known, &k, "largeBlobKey changed"),
                None => cred.large_blob_key = Some(k),
            }
        }
        // Extension outputs (§12.2 credBlob, §12.5 hmac-secret).
        let outputs = ad.extensions.unwrap_or_default();
        let mut expected_ids = Vec::new();
        if plan.cred_blob {
            expected_ids.push("credBlob");
            assert_eq!(
                text_field(&outputs, "credBlob"),
                Some(&cbor::bytes(cred_blob)),
                "credBlob output"
            );
        }
        if let Some((platform, salts)) = &plan.hmac {
            expected_ids.push("hmac-secret");
            let out = text_field(&outputs, "hmac-secret")
                .and_then(|v| v.as_bytes())
                .expect("hmac-secret output")
                .clone();
            let salts = Salts {
                platform: *platform,
                salts: salts.clone(),
            };
            self.check_hmac_output(id, plan.flags & FLAG_UV != 0, &salts, &out);
        }
        let got: Vec<&str> = outputs.iter().filter_map(|(k, _)| k.as_text()).collect();
        assert_eq!(got.len(), expected_ids.len(), "extension outputs {got:?}");
        assert_eq!(ad.flags & FLAG_ED != 0, !expected_ids.is_empty(), "ED flag");
        self.check_counter(id, ad.sign_count);
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn get_assertion(
        &mut self,
        rp: u8,
        allow: &[Pick],
        up: Option<bool>,
        uv: Option<bool>,
        client_data: u8,
        ext: Option<&GaExtensions>,
        auth: Option<Auth>,
    ) {
        let rp = RPS[usize::from(rp) % RPS.len()];
        let cdh = client_data_hash(client_data);
        let ext = ext.map(|e| self.ga_extensions(e));
        let mut m = MapBuilder::new()
            .int(0x01, rp)
            .int(0x02, cbor::bytes(cdh.clone()));
        if !allow.is_empty() {
            m = m.int(0x03, self.descriptors(allow));
        }
        if let Some(ext) = ext {
            m = m.int(0x04, ext);
        }
        let mut options = MapBuilder::new();
        if let Some(up) = up {
            options = options.text("up", up);
        }
        if let Some(uv) = uv {
            options = options.text("uv", uv);
        }
        let options = options.build();
        if !matches!(&options, Value::Map(o) if o.is_empty()) {
            m = m.int(0x05, options);
        }
        if let Some(a) = auth {
            m = self.pin_uv_auth(m, a, &cdh, 0x06, 0x07);
        }
        self.send(0x02, m.build());
    }
}
