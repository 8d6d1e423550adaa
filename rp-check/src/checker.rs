//! The ceremonies the cases are built from: registrations and logins
//! with the in-process key against the RP, each response changed in
//! exactly one way by the case that asks for it (the cases themselves are
//! in `cases`).

use authenticator_core::crypto::keys::PrivateKey;
use authenticator_core::store::CredentialStore;
use authenticator_core::{AttestationIdentity, Env};
use fidosim_webauthn::json::{self, unb64url, CreationOptions, RequestOptions};
use fidosim_webauthn::Client;

use serde_json::Value;

use crate::config::RpConfig;
use crate::forge::{self, AssertionInput, Held, Registration, UP, UV};
use crate::http::{fill, Http, Jar, Tls, Verdict};
use crate::lab::Lab;
use crate::Error;

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
    /// The identity of a key the RP trusts (`attestation_state`).
    pub(crate) lab: Option<Lab>,
    /// The identity the key attests with.
    pub(crate) identity: AttestationIdentity,
    /// Whether the RP accepted a valid fido-u2f registration, once asked.
    pub(crate) u2f_accepted: Option<bool>,
}

/// The inputs of a valid assertion by `held` answering `options`: the
/// next counter, UP, and UV unless the RP discouraged it. `rp_id` is the
/// one to use when the options name none.
pub(crate) fn assertion_input(
    options: &RequestOptions,
    rp_id: &str,
    origin: &str,
    held: &Held,
) -> Result<AssertionInput, String> {
    let challenge = unb64url("challenge", &options.challenge).map_err(|e| e.to_string())?;
    let uv = options.user_verification.as_deref() != Some("discouraged");
    Ok(AssertionInput {
        rp_id: options.rp_id.clone().unwrap_or_else(|| rp_id.to_owned()),
        kind: "webauthn.get".into(),
        challenge,
        origin: origin.to_owned(),
        flags: UP | if uv { UV } else { 0 },
        counter: held.counter.saturating_add(1),
        trailing: Vec::new(),
        rp_id_hash: None,
        sign_other_hash: None,
        user_handle: true,
    })
}

impl Checker {
    pub(crate) fn new(cfg: RpConfig, tls: &Tls) -> Result<Self, Error> {
        let http = Http::new(&cfg, tls)?;
        // A key in memory with `fidosim run`'s defaults.
        let settings = fidosim_daemon::settings::DeviceSettings {
            ephemeral: true,
            ..Default::default()
        };
        let mut config = fidosim_daemon::config::RunConfig::from_settings("rp-check", settings)
            .map_err(|e| Error::Config(e.0))?;
        // An RP that demands trusted attestation gets the identity of a
        // key it trusts (WebAuthn L3 §7.1 step 22), with that key's AAGUID.
        let lab = match &cfg.attestation_state {
            Some(path) => Some(Lab::open(path)?),
            None if cfg.requires_trusted_attestation => {
                return Err(Error::Config(
                    "requires_trusted_attestation = true needs attestation_state: the fidosim state file whose attestation CA the RP trusts (`fidosim run --state key.fidosim --write-ca ca.pem`, then trust ca.pem in the RP; docs/recipes/audit-your-rp.md)".into(),
                ))
            }
            None => None,
        };
        if let Some(lab) = &lab {
            lab.check_roots(&cfg.trusted_roots)?;
            config.device.aaguid = lab.aaguid;
        } else if !cfg.trusted_roots.is_empty() {
            return Err(Error::Config(
                "trusted_roots needs attestation_state: the fidosim state file whose attestation CA is one of those roots".into(),
            ));
        }
        // rp-check holds the identity it attests with, trusted or made
        // here, so that a case that changes what was signed signs anew.
        let identity = match &lab {
            Some(l) => l.trusted.clone(),
            None => AttestationIdentity::generate(
                &mut uhid_device::presence::OsRng::default(),
                config.device.aaguid,
                "fidosim",
                "fidosim attestation batch",
            )
            .map_err(|e| {
                Error::Runtime(format!("cannot create the attestation certificates: {e:?}"))
            })?,
        };
        let (device, _) =
            fidosim_daemon::assemble::open_authenticator_as(&config, Some(identity.clone()))?;
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
            lab,
            identity,
            u2f_accepted: None,
            cfg,
        })
    }

    pub(crate) fn fresh_user(&mut self, tag: &str) -> String {
        self.seq += 1;
        format!("rp-check-{tag}-{}-{}", std::process::id(), self.seq)
    }

    /// Begins a registration for `username` in the session of `jar`: the
    /// options, asking for a discoverable credential (so rp-check holds
    /// its key).
    pub(crate) async fn begin_registration(
        &mut self,
        jar: &mut Jar,
        username: &str,
    ) -> Result<CreationOptions, String> {
        let flow = self.cfg.register.clone();
        let mut options: CreationOptions =
            json::parse_options(&self.http.begin(jar, &flow, "register", username).await?)
                .map_err(|e| e.to_string())?;
        if let Some(id) = &options.rp.id {
            self.rp_id.clone_from(id);
        }
        let mut selection = options.authenticator_selection.clone().unwrap_or_default();
        self.uv_required = selection.user_verification.as_deref() == Some("required");
        selection.resident_key = Some("required".into());
        options.authenticator_selection = Some(selection);
        Ok(options)
    }

    /// A new credential answering `options`: the response JSON, and the
    /// credential as rp-check holds it.
    pub(crate) fn registration_response(
        &mut self,
        options: &CreationOptions,
    ) -> Result<(Value, Option<Held>), String> {
        let reg = self
            .client
            .create(&mut self.device, options)
            .map_err(|e| format!("the registration could not be made: {e}"))?;
        let id = unb64url("id", &reg.id).map_err(|e| e.to_string())?;
        let response = serde_json::to_value(&reg).map_err(|e| e.to_string())?;
        let key = self.device.env().store_ref().get(&id).ok().flatten();
        let held = key.map(|c| Held {
            id: id.clone(),
            key: c.key,
            user_handle: c.user.id,
            counter: 0,
        });
        Ok((response, held))
    }

    /// Sends a registration response in the session of `jar`.
    pub(crate) async fn complete_registration(
        &self,
        jar: &mut Jar,
        username: &str,
        response: &Value,
    ) -> Verdict {
        let flow = &self.cfg.register;
        self.http.complete(jar, flow, username, response).await
    }

    /// A registration for `username`; `defect` changes the response JSON
    /// before it is sent. Returns the verdict and the credential.
    pub(crate) async fn register(
        &mut self,
        username: &str,
        defect: impl FnOnce(&mut Value, &mut Self) -> Result<(), String>,
    ) -> Result<(Verdict, Option<Held>, Vec<u8>), String> {
        let mut jar = Jar::default();
        let options = self.begin_registration(&mut jar, username).await?;
        let challenge = unb64url("challenge", &options.challenge).map_err(|e| e.to_string())?;
        let (mut response, held) = self.registration_response(&options)?;
        defect(&mut response, self)?;
        let v = self
            .complete_registration(&mut jar, username, &response)
            .await;
        Ok((v, held, challenge))
    }

    /// Begins a login for `username` in the session of `jar`.
    pub(crate) async fn begin_login(
        &mut self,
        jar: &mut Jar,
        username: &str,
    ) -> Result<RequestOptions, String> {
        let flow = self.cfg.login.clone();
        let options: RequestOptions =
            json::parse_options(&self.http.begin(jar, &flow, "login", username).await?)
                .map_err(|e| e.to_string())?;
        if options.user_verification.as_deref() == Some("required") {
            self.uv_required = true;
        }
        Ok(options)
    }

    /// Sends an assertion in the session of `jar`; when the RP accepts it
    /// and it is the baseline credential's, the counter it carried becomes
    /// the last accepted one.
    pub(crate) async fn complete_login(
        &mut self,
        jar: &mut Jar,
        username: &str,
        response: &Value,
        input: &AssertionInput,
        held: &Held,
    ) -> Verdict {
        let flow = self.cfg.login.clone();
        let v = self.http.complete(jar, &flow, username, response).await;
        if matches!(v, Verdict::Accepted(_)) {
            if let Some(h) = self.held.as_mut().filter(|h| h.id == held.id) {
                h.counter = h.counter.max(input.counter);
            }
        }
        v
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
        let options = self.begin_login(&mut jar, username).await?;
        let mut input = assertion_input(&options, &self.rp_id, &self.cfg.origin, held)?;
        let challenge = input.challenge.clone();
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

    /// The private key of a credential the in-process key made.
    pub(crate) fn credential_key(&self, id: &[u8]) -> Option<PrivateKey> {
        self.device
            .env()
            .store_ref()
            .get(id)
            .ok()
            .flatten()
            .map(|c| c.key)
    }

    /// Signs the attestation statement anew over what the response now
    /// says, as the key would have signed it, so that a case's defect is
    /// the only thing wrong (WebAuthn L3 §8.2: packed signs
    /// authenticatorData || clientDataHash; with x5c by the batch key,
    /// without by the credential key). "none" has nothing to sign.
    pub(crate) fn resign(&self, r: &mut Registration) -> Result<(), String> {
        if r.fmt != "packed" {
            return Ok(());
        }
        let x5c = r.x5c();
        let alg = r.att_alg().ok_or("the packed statement has no alg")?;
        let sig = if x5c.is_empty() {
            let id = r.credential_id().ok_or("no credential ID")?;
            // A credential ID changed by the case is no key's: sign with
            // the key the response was made with.
            let original = Registration::decode(&r.json)?;
            let key = self
                .credential_key(id)
                .or_else(|| {
                    original
                        .credential_id()
                        .and_then(|id| self.credential_key(id))
                })
                .ok_or("the credential's key is not held")?;
            key.sign(&r.signed_data())
                .map_err(|_| "the credential's key cannot sign".to_owned())?
        } else {
            self.identity.sign_batch(&r.signed_data())
        };
        r.set_packed(alg, sig, x5c);
        Ok(())
    }

    /// [`Self::resign`] on a response JSON.
    pub(crate) fn resign_json(&self, v: &mut Value) -> Result<(), String> {
        let mut r = Registration::decode(v)?;
        self.resign(&mut r)?;
        *v = r.encode();
        Ok(())
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

    /// A login for the baseline user whose assertion inputs `change`
    /// alters before signing and whose response JSON `defect` alters after.
    pub(crate) async fn login_case(
        &mut self,
        change: impl FnOnce(&mut AssertionInput, &Self),
        defect: impl FnOnce(&mut Value),
    ) -> Result<Option<Verdict>, String> {
        let (held, user) = self.baseline()?;
        let last = held.counter;
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
