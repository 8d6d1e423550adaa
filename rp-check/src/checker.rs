//! Runs the cases against the RP: ceremonies with the in-process key,
//! each response changed in exactly one way.

use authenticator_core::crypto::sha256;
use authenticator_core::store::CredentialStore;
use authenticator_core::Env;
use fidosim_webauthn::json::{self, unb64url, CreationOptions, RequestOptions};
use fidosim_webauthn::Client;

use serde_json::{json, Value};

use crate::config::RpConfig;
use crate::forge::{self, AssertionInput, Held, Registration, UP, UV};
use crate::http::{fill, Http, Jar, Verdict};
use crate::Error;

/// A change to a registration response's decoded parts; `Some` replaces
/// the attestation object's bytes.
pub(crate) type RegDefect = fn(&mut Registration, &Checker) -> Result<Option<Vec<u8>>, String>;
/// A change to an assertion's inputs (signed afterwards).
pub(crate) type Change = Box<dyn FnOnce(&mut AssertionInput, &Checker)>;
/// A change to the finished response JSON (after signing).
pub(crate) type Defect = Box<dyn FnOnce(&mut Value)>;

pub(crate) struct Checker {
    pub(crate) cfg: RpConfig,
    pub(crate) http: Http,
    pub(crate) client: Client,
    pub(crate) device: authenticator_core::Authenticator<uhid_device::presence::DaemonEnv>,
    pub(crate) seq: u32,
    /// The baseline user's credential, once registered.
    pub(crate) held: Option<Held>,
    pub(crate) username: String,
    /// Another user's registered credential.
    pub(crate) other: Option<(String, Held)>,
    /// A challenge of an earlier login, and of an earlier registration.
    pub(crate) old_login_challenge: Option<Vec<u8>>,
    pub(crate) old_register_challenge: Option<Vec<u8>>,
    pub(crate) uv_required: bool,
    pub(crate) rp_id: String,
    pub(crate) baseline_assertion: Option<Value>,
}

pub(crate) fn flip_first_bit(b: &mut [u8]) {
    if let Some(x) = b.first_mut() {
        *x ^= 0x01;
    }
}

impl Checker {
    pub(crate) fn new(cfg: RpConfig) -> Result<Self, Error> {
        let http = Http::new(&cfg)?;
        let table: toml::Table = [("ephemeral".to_owned(), toml::Value::Boolean(true))]
            .into_iter()
            .collect();
        let config = fidosim_daemon::config::device_from_table("rp-check", &table)
            .map_err(|e| Error::Config(e.0))?;
        let (device, _) = fidosim_daemon::assemble::open_authenticator(&config)?;
        let mut client = Client::new(&cfg.origin);
        // Defects are made on purpose below; the client itself must not
        // refuse an origin the RP chose to use.
        client.breaks.insecure_origin = true;
        let origin_host = url::Url::parse(&cfg.origin)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        Ok(Self {
            http,
            client,
            device,
            seq: 0,
            held: None,
            username: String::new(),
            other: None,
            old_login_challenge: None,
            old_register_challenge: None,
            uv_required: false,
            rp_id: origin_host,
            baseline_assertion: None,
            cfg,
        })
    }

    pub(crate) fn fresh_user(&mut self, tag: &str) -> String {
        self.seq += 1;
        format!("rp-check-{tag}-{}-{}", std::process::id(), self.seq)
    }

    /// A registration for `username`; `defect` changes the response JSON
    /// before it is sent. Returns the verdict and the credential.
    pub(crate) async fn register(
        &mut self,
        username: &str,
        defect: impl FnOnce(&mut Value, &mut Self) -> Result<(), String>,
    ) -> Result<(Verdict, Option<Held>, Vec<u8>), String> {
        let mut jar = Jar::default();
        let flow = self.cfg.register.clone();
        let mut options: CreationOptions = json::parse_options(
            &self
                .http
                .begin(&mut jar, &flow, "register", username)
                .await?,
        )
        .map_err(|e| e.to_string())?;
        let challenge = unb64url("challenge", &options.challenge).map_err(|e| e.to_string())?;
        if let Some(id) = &options.rp.id {
            self.rp_id.clone_from(id);
        }
        let mut selection = options.authenticator_selection.clone().unwrap_or_default();
        self.uv_required = selection.user_verification.as_deref() == Some("required");
        // A discoverable credential, so that rp-check holds its key.
        selection.resident_key = Some("required".into());
        options.authenticator_selection = Some(selection);
        let reg = self
            .client
            .create(&mut self.device, &options)
            .map_err(|e| format!("the registration could not be made: {e}"))?;
        let id = unb64url("id", &reg.id).map_err(|e| e.to_string())?;
        let mut response = serde_json::to_value(&reg).map_err(|e| e.to_string())?;
        defect(&mut response, self)?;
        let v = self
            .http
            .complete(&mut jar, &flow, username, &response)
            .await;
        let key = self.device.env().store_ref().get(&id).ok().flatten();
        let held = key.map(|c| Held {
            id: id.clone(),
            key: c.key,
            user_handle: c.user.id,
            counter: 0,
        });
        Ok((v, held, challenge))
    }

    /// A login for `username` with `held`; `change` alters the assertion's
    /// inputs, `defect` the response JSON.
    pub(crate) async fn login(
        &mut self,
        username: &str,
        held: &Held,
        change: impl FnOnce(&mut AssertionInput, &Self),
        defect: impl FnOnce(&mut Value),
    ) -> Result<(Verdict, AssertionInput, Value), String> {
        let mut jar = Jar::default();
        let flow = self.cfg.login.clone();
        let options: RequestOptions =
            json::parse_options(&self.http.begin(&mut jar, &flow, "login", username).await?)
                .map_err(|e| e.to_string())?;
        let challenge = unb64url("challenge", &options.challenge).map_err(|e| e.to_string())?;
        let uv = options.user_verification.as_deref() != Some("discouraged");
        if options.user_verification.as_deref() == Some("required") {
            self.uv_required = true;
        }
        let mut input = AssertionInput {
            rp_id: options.rp_id.clone().unwrap_or_else(|| self.rp_id.clone()),
            kind: "webauthn.get".into(),
            challenge: challenge.clone(),
            origin: self.cfg.origin.clone(),
            flags: UP | if uv { UV } else { 0 },
            counter: held.counter.saturating_add(1),
            trailing: Vec::new(),
            rp_id_hash: None,
            sign_other_hash: None,
            user_handle: true,
        };
        change(&mut input, self);
        let a = forge::assertion(held, &input)?;
        let mut response = serde_json::to_value(&a).map_err(|e| e.to_string())?;
        defect(&mut response);
        let v = self
            .http
            .complete(&mut jar, &flow, username, &response)
            .await;
        self.old_login_challenge = Some(challenge);
        Ok((v, input, response))
    }

    /// Sends an earlier response again through a fresh login begin.
    pub(crate) async fn replay(
        &mut self,
        username: &str,
        response: &Value,
    ) -> Result<Verdict, String> {
        let mut jar = Jar::default();
        let flow = self.cfg.login.clone();
        self.http
            .call(
                &mut jar,
                &flow.begin,
                fill(&flow.begin.body, username, None),
            )
            .await
            .map_err(|v| format!("login begin: {}", v.show()))?;
        Ok(self
            .http
            .complete(&mut jar, &flow, username, response)
            .await)
    }

    pub(crate) async fn run_case(&mut self, name: &str) -> Result<Option<Verdict>, String> {
        let reg_defect = |f: RegDefect| {
            move |v: &mut Value, c: &mut Checker| -> Result<(), String> {
                let mut r = Registration::decode(v)?;
                let object = f(&mut r, c)?;
                *v = match object {
                    Some(o) => r.encode_with(&o),
                    None => r.encode(),
                };
                Ok(())
            }
        };
        match name {
            "register.baseline" => {
                let user = self.fresh_user("base");
                let (v, held, challenge) = self.register(&user, |_, _| Ok(())).await?;
                if matches!(v, Verdict::Accepted(_)) {
                    self.held = held;
                    self.username = user;
                    self.old_register_challenge = Some(challenge);
                }
                Ok(Some(v))
            }
            "login.baseline" => {
                let (held, user) = self.baseline()?;
                let (v, input, response) = self.login(&user, &held, |_, _| {}, |_| {}).await?;
                if matches!(v, Verdict::Accepted(_)) {
                    if let Some(h) = &mut self.held {
                        h.counter = input.counter;
                    }
                    self.baseline_assertion = Some(response);
                }
                Ok(Some(v))
            }
            "register.wrong-origin" => {
                self.reg_case(|v, _| set_client_data(v, "origin", json!("https://evil.example")))
                    .await
            }
            "register.wrong-type" => {
                self.reg_case(|v, _| set_client_data(v, "type", json!("webauthn.get")))
                    .await
            }
            "register.challenge-altered" => {
                self.reg_case(|v, _| {
                    let cd = client_data_of(v)?;
                    let mut ch = unb64url("challenge", cd["challenge"].as_str().unwrap_or(""))
                        .map_err(|e| e.to_string())?;
                    flip_first_bit(&mut ch);
                    set_client_data(v, "challenge", json!(json::b64url(&ch)))
                })
                .await
            }
            "register.challenge-reused" => {
                let Some(old) = self.old_register_challenge.clone() else {
                    return Ok(None);
                };
                self.reg_case(move |v, _| {
                    set_client_data(v, "challenge", json!(json::b64url(&old)))
                })
                .await
            }
            "register.wrong-rp-id-hash" => {
                self.reg_case(reg_defect(|r, _| {
                    r.auth_data[..32].copy_from_slice(&sha256(b"evil.example"));
                    Ok(None)
                }))
                .await
            }
            "register.up-clear" => {
                self.reg_case(reg_defect(|r, _| {
                    r.auth_data[32] &= !UP;
                    Ok(None)
                }))
                .await
            }
            "register.uv-clear" => {
                if !self.uv_required {
                    return Err("skip: the RP does not require user verification".into());
                }
                self.reg_case(reg_defect(|r, _| {
                    r.auth_data[32] &= !UV;
                    Ok(None)
                }))
                .await
            }
            "register.trailing-bytes" => {
                self.reg_case(reg_defect(|r, _| {
                    r.auth_data.extend_from_slice(&[0, 0, 0, 0]);
                    Ok(None)
                }))
                .await
            }
            "register.attested-data-malformed" => {
                self.reg_case(reg_defect(|r, _| {
                    let len = u16::try_from(r.cred_id_len() + 1).unwrap_or(u16::MAX);
                    r.auth_data[53..55].copy_from_slice(&len.to_be_bytes());
                    Ok(None)
                }))
                .await
            }
            "register.alg-mismatch" => {
                self.reg_case(reg_defect(|r, _| {
                    // The COSE key's alg (label 3) is the item after its first
                    // pair (kty): a1..: 01 02 03 26 (-7) or 01 01 03 27 (-8).
                    let start = 55 + r.cred_id_len();
                    let key = &mut r.auth_data[start..];
                    let at = key
                        .windows(2)
                        .position(|w| w[0] == 0x03 && (w[1] == 0x26 || w[1] == 0x27))
                        .ok_or("no alg in the COSE key")?;
                    key[at + 1] = if key[at + 1] == 0x26 { 0x27 } else { 0x26 };
                    Ok(None)
                }))
                .await
            }
            "register.duplicate-cbor-keys" => {
                self.reg_case(reg_defect(|r, _| Ok(Some(forge::duplicate_key_object(r)))))
                    .await
            }
            "register.non-canonical-cbor" => {
                self.reg_case(reg_defect(|r, _| Ok(Some(forge::non_canonical_object(r)))))
                    .await
            }
            "register.oversized-credential-id" => {
                self.reg_case(|v, _| {
                    let mut r = Registration::decode(v)?;
                    let len = r.cred_id_len();
                    let mut ad = r.auth_data[..53].to_vec();
                    ad.extend_from_slice(&1024u16.to_be_bytes());
                    ad.extend(std::iter::repeat_n(0xab, 1024));
                    ad.extend_from_slice(&r.auth_data[55 + len..]);
                    r.auth_data = ad;
                    *v = r.encode();
                    let id = json::b64url(&[0xab; 1024]);
                    v["id"] = json!(id);
                    v["rawId"] = json!(id);
                    Ok(())
                })
                .await
            }
            "register.credential-id-reused" => {
                let Some(held) = self.held.clone() else {
                    return Ok(None);
                };
                self.reg_case(move |v, _| {
                    let mut r = Registration::decode(v)?;
                    let len = r.cred_id_len();
                    let mut ad = r.auth_data[..53].to_vec();
                    ad.extend_from_slice(&u16::try_from(held.id.len()).unwrap_or(0).to_be_bytes());
                    ad.extend_from_slice(&held.id);
                    ad.extend_from_slice(&r.auth_data[55 + len..]);
                    r.auth_data = ad;
                    *v = r.encode();
                    let id = json::b64url(&held.id);
                    v["id"] = json!(id);
                    v["rawId"] = json!(id);
                    Ok(())
                })
                .await
            }
            "register.untrusted-attestation" => {
                if !self.cfg.requires_trusted_attestation {
                    return Err(
                        "skip: the config does not say the RP demands trusted attestation".into(),
                    );
                }
                self.reg_case(|_, _| Ok(())).await
            }
            _ => self.login_case(name).await,
        }
    }

    pub(crate) fn baseline(&self) -> Result<(Held, String), String> {
        self.held
            .clone()
            .map(|h| (h, self.username.clone()))
            .ok_or_else(|| "skip: no baseline registration".into())
    }

    pub(crate) async fn reg_case(
        &mut self,
        defect: impl FnOnce(&mut Value, &mut Self) -> Result<(), String>,
    ) -> Result<Option<Verdict>, String> {
        let user = self.fresh_user("reg");
        let (v, _, _) = self.register(&user, defect).await?;
        Ok(Some(v))
    }

    pub(crate) async fn login_case(&mut self, name: &str) -> Result<Option<Verdict>, String> {
        let (held, user) = self.baseline()?;
        let last = held.counter;
        let old = self.old_login_challenge.clone();
        let (change, defect): (Change, Defect) = match name {
            "login.wrong-origin" => (
                Box::new(|i, _| i.origin = "https://evil.example".into()),
                Box::new(|_| {}),
            ),
            "login.wrong-type" => (
                Box::new(|i, _| i.kind = "webauthn.create".into()),
                Box::new(|_| {}),
            ),
            "login.challenge-altered" => (
                Box::new(|i, _| flip_first_bit(&mut i.challenge)),
                Box::new(|_| {}),
            ),
            "login.challenge-reused" => {
                let Some(old) = old else {
                    return Err("skip: no earlier login".into());
                };
                (Box::new(move |i, _| i.challenge = old), Box::new(|_| {}))
            }
            "login.wrong-rp-id-hash" => (
                Box::new(|i, _| i.rp_id_hash = Some(sha256(b"evil.example"))),
                Box::new(|_| {}),
            ),
            "login.up-clear" => (Box::new(|i, _| i.flags &= !UP), Box::new(|_| {})),
            "login.uv-clear" => {
                if !self.uv_required {
                    return Err("skip: the RP does not require user verification".into());
                }
                (Box::new(|i, _| i.flags &= !UV), Box::new(|_| {}))
            }
            "login.signature-invalid" => (
                Box::new(|_, _| {}),
                Box::new(|v| {
                    if let Some(sig) = v["response"]["signature"].as_str() {
                        if let Ok(mut s) = unb64url("signature", sig) {
                            if let Some(b) = s.last_mut() {
                                *b ^= 0xff;
                            }
                            v["response"]["signature"] = json!(json::b64url(&s));
                        }
                    }
                }),
            ),
            "login.signature-over-other-data" => (
                Box::new(|i, _| i.sign_other_hash = Some([0x5a; 32])),
                Box::new(|_| {}),
            ),
            "login.counter-regression" => {
                if last < 2 {
                    // Make room below: an accepted login with a higher counter first.
                    let (v, input, _) = self
                        .login(&user, &held, |i, _| i.counter = 100, |_| {})
                        .await?;
                    if matches!(v, Verdict::Accepted(_)) {
                        if let Some(h) = &mut self.held {
                            h.counter = input.counter;
                        }
                    }
                }
                let (held, _) = self.baseline()?;
                let below = held.counter.saturating_sub(1).max(1) - 1;
                return self
                    .login(&user, &held, move |i, _| i.counter = below, |_| {})
                    .await
                    .map(|(v, _, _)| Some(v));
            }
            "login.counter-not-increasing" => {
                (Box::new(move |i, _| i.counter = last), Box::new(|_| {}))
            }
            "login.trailing-bytes" => (
                Box::new(|i, _| i.trailing = vec![0, 0, 0, 0]),
                Box::new(|_| {}),
            ),
            "login.replayed-assertion" => {
                let Some(resp) = self.baseline_assertion.clone() else {
                    return Err("skip: no accepted baseline assertion".into());
                };
                return self.replay(&user, &resp).await.map(Some);
            }
            "login.other-users-credential" => {
                // A second user with a credential of its own, whose
                // credential is then offered in a login begun for the first.
                let other = self.fresh_user("other");
                let (v, other_held, _) = self.register(&other, |_, _| Ok(())).await?;
                let (Verdict::Accepted(_), Some(other_held)) = (v, other_held) else {
                    return Err("skip: the second user could not register".into());
                };
                self.other = Some((other, other_held.clone()));
                return self
                    .login(&user, &other_held, |_, _| {}, |_| {})
                    .await
                    .map(|(v, _, _)| Some(v));
            }
            other => return Err(format!("unknown case {other}")),
        };
        let (v, input, _) = self.login(&user, &held, change, defect).await?;
        // An RP that wrongly accepts moves its counter on.
        if matches!(v, Verdict::Accepted(_)) && input.counter > last {
            if let Some(h) = &mut self.held {
                h.counter = input.counter;
            }
        }
        Ok(Some(v))
    }
}

pub(crate) fn client_data_of(v: &Value) -> Result<Value, String> {
    let b = unb64url(
        "clientDataJSON",
        v["response"]["clientDataJSON"].as_str().unwrap_or(""),
    )
    .map_err(|e| e.to_string())?;
    serde_json::from_slice(&b).map_err(|e| e.to_string())
}

pub(crate) fn set_client_data(v: &mut Value, key: &str, value: Value) -> Result<(), String> {
    let mut cd = client_data_of(v)?;
    cd[key] = value;
    // Keep a browser's member order: type, challenge, origin, crossOrigin.
    let text = forge::client_data(
        cd["type"].as_str().unwrap_or(""),
        &unb64url("challenge", cd["challenge"].as_str().unwrap_or(""))
            .map_err(|e| e.to_string())?,
        cd["origin"].as_str().unwrap_or(""),
    );
    v["response"]["clientDataJSON"] = json!(json::b64url(text.as_bytes()));
    Ok(())
}
