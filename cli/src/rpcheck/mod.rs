//! `fidosim rp-check`: drives a relying party's real registration and
//! authentication endpoints through a catalogue of cases — a valid baseline
//! the RP must accept, and responses with one defect each that it must
//! reject — and optionally a seeded random mutation run, then reports what
//! the RP wrongly accepted.

mod forge;

use std::collections::BTreeMap;
use std::time::Duration;

use authenticator_core::crypto::sha256;
use authenticator_core::store::CredentialStore;
use authenticator_core::Env;

use crate::progress::Progress;
use fidosim_webauthn::json::{self, unb64url, CreationOptions, RequestOptions};
use fidosim_webauthn::Client;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::args::RpCheckArgs;
use crate::run::Error;
use forge::{AssertionInput, Held, Registration, UP, UV};

// ------------------------------------------------------------------ config

/// One HTTP call of a flow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(default = "post")]
    method: String,
    path: String,
    /// The body; `{username}` and `{response}` (the response JSON) are
    /// replaced.
    body: String,
}

fn post() -> String {
    "POST".into()
}

/// Registration or authentication: begin, then complete.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Flow {
    begin: Step,
    complete: Step,
    /// A JSON pointer to the options in the begin answer ("" for the whole
    /// body); a `{"publicKey": ...}` wrapper there is unwrapped.
    #[serde(default = "public_key")]
    options: String,
}

fn public_key() -> String {
    "/publicKey".into()
}

fn default_flow(kind: &str) -> Flow {
    Flow {
        begin: Step {
            method: post(),
            path: format!("/auth/passkey/{kind}/begin"),
            body: r#"{"username": "{username}"}"#.into(),
        },
        complete: Step {
            method: post(),
            path: format!("/auth/passkey/{kind}/complete"),
            body: "{response}".into(),
        },
        options: public_key(),
    }
}

/// The RP under test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RpConfig {
    /// `http://HOST:PORT` of the RP's API.
    base_url: String,
    /// The origin a browser on the RP's page would report.
    origin: String,
    #[serde(default = "register_flow")]
    register: Flow,
    #[serde(default = "login_flow")]
    login: Flow,
    /// Extra request headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Whether the RP demands trusted attestation (then self and none
    /// attestation must be refused).
    #[serde(default)]
    requires_trusted_attestation: bool,
    /// Milliseconds an RP answer may take.
    #[serde(default = "timeout_ms")]
    timeout_ms: u64,
}

fn register_flow() -> Flow {
    default_flow("register")
}
fn login_flow() -> Flow {
    default_flow("login")
}
fn timeout_ms() -> u64 {
    10_000
}

// -------------------------------------------------------------------- HTTP

/// How an RP answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Accepted(u16),
    Rejected(u16),
    ServerError(u16),
    Timeout,
    Failed(String),
}

impl Verdict {
    fn show(&self) -> String {
        match self {
            Self::Accepted(s) => format!("accepted ({s})"),
            Self::Rejected(s) => format!("rejected ({s})"),
            Self::ServerError(s) => format!("server error ({s})"),
            Self::Timeout => "no answer (timeout)".into(),
            Self::Failed(m) => format!("error: {m}"),
        }
    }
}

struct Http {
    authority: String,
    headers: BTreeMap<String, String>,
    timeout: Duration,
}

/// Cookies carried from begin to complete.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Http {
    fn new(cfg: &RpConfig) -> Result<Self, Error> {
        let url = url::Url::parse(&cfg.base_url).map_err(|e| {
            Error::Config(format!(
                "base_url `{}`: {e}; give an absolute URL like http://127.0.0.1:8000",
                cfg.base_url
            ))
        })?;
        if url.scheme() != "http" {
            return Err(Error::Config(format!(
                "base_url `{}`: only http:// is supported (run the RP, or a TLS-terminating proxy's backend, on plain http on loopback)",
                cfg.base_url
            )));
        }
        let host = url.host_str().unwrap_or("127.0.0.1");
        let port = url.port_or_known_default().unwrap_or(80);
        Ok(Self {
            authority: format!("{host}:{port}"),
            headers: cfg.headers.clone(),
            timeout: Duration::from_millis(cfg.timeout_ms),
        })
    }

    async fn call(
        &self,
        jar: &mut Jar,
        step: &Step,
        body: String,
    ) -> Result<(u16, String), Verdict> {
        let fut = async {
            let stream = tokio::net::TcpStream::connect(&self.authority)
                .await
                .map_err(|e| {
                    Verdict::Failed(format!(
                        "cannot connect to {}: {}",
                        self.authority,
                        crate::run::io_reason(&e)
                    ))
                })?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| Verdict::Failed(format!("HTTP: {e}")))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut req = hyper::Request::builder()
                .method(step.method.as_str())
                .uri(step.path.as_str())
                .header("host", self.authority.as_str())
                .header("content-type", "application/json");
            for (k, v) in &self.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if !jar.0.is_empty() {
                let cookie: Vec<String> = jar.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
                req = req.header("cookie", cookie.join("; "));
            }
            let req = req
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| Verdict::Failed(format!("HTTP request: {e}")))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| Verdict::Failed(format!("HTTP: {e}")))?;
            for c in resp.headers().get_all("set-cookie") {
                if let Some((k, v)) = c
                    .to_str()
                    .ok()
                    .and_then(|c| c.split(';').next())
                    .and_then(|kv| kv.split_once('='))
                {
                    jar.0.insert(k.trim().to_owned(), v.trim().to_owned());
                }
            }
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Verdict::Failed(format!("HTTP body: {e}")))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or(Err(Verdict::Timeout))
    }
}

impl Http {
    /// The begin request of `flow`: the options JSON in its answer.
    async fn begin(
        &self,
        jar: &mut Jar,
        flow: &Flow,
        what: &str,
        username: &str,
    ) -> Result<String, String> {
        let (status, body) = self
            .call(jar, &flow.begin, fill(&flow.begin.body, username, None))
            .await
            .map_err(|v| format!("{what} begin: {}", v.show()))?;
        if !(200..300).contains(&status) {
            return Err(format!("{what} begin answered {status}: {body}"));
        }
        options_at(&body, &flow.options)
    }

    /// The complete request of `flow` with `response`: the RP's verdict.
    async fn complete(
        &self,
        jar: &mut Jar,
        flow: &Flow,
        username: &str,
        response: &Value,
    ) -> Verdict {
        match self
            .call(
                jar,
                &flow.complete,
                fill(&flow.complete.body, username, Some(response)),
            )
            .await
        {
            Ok((status, _)) => verdict(status),
            Err(v) => v,
        }
    }
}

fn fill(template: &str, username: &str, response: Option<&Value>) -> String {
    let mut s = template.replace("{username}", username);
    if let Some(r) = response {
        s = s.replace("{response}", &r.to_string());
    }
    s
}

// ------------------------------------------------------------------- cases

/// When a case runs, and what the RP must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Register,
    Login,
}

/// The catalogue: stable names, what is sent.
const CASES: &[(&str, Phase, bool, &str)] = &[
    (
        "register.baseline",
        Phase::Register,
        true,
        "a valid registration",
    ),
    ("login.baseline", Phase::Login, true, "a valid assertion"),
    (
        "register.wrong-origin",
        Phase::Register,
        false,
        "clientDataJSON.origin https://evil.example",
    ),
    (
        "register.wrong-type",
        Phase::Register,
        false,
        "clientDataJSON.type webauthn.get",
    ),
    (
        "register.challenge-altered",
        Phase::Register,
        false,
        "the challenge with one bit flipped",
    ),
    (
        "register.challenge-reused",
        Phase::Register,
        false,
        "the challenge of an earlier registration",
    ),
    (
        "register.wrong-rp-id-hash",
        Phase::Register,
        false,
        "rpIdHash of evil.example",
    ),
    ("register.up-clear", Phase::Register, false, "UP flag clear"),
    (
        "register.uv-clear",
        Phase::Register,
        false,
        "UV flag clear although the RP required UV",
    ),
    (
        "register.trailing-bytes",
        Phase::Register,
        false,
        "4 bytes after the authenticator data",
    ),
    (
        "register.attested-data-malformed",
        Phase::Register,
        false,
        "credentialIdLength one too large",
    ),
    (
        "register.alg-mismatch",
        Phase::Register,
        false,
        "the COSE key's alg says another algorithm than its key type",
    ),
    (
        "register.duplicate-cbor-keys",
        Phase::Register,
        false,
        "attestationObject with \"fmt\" twice",
    ),
    (
        "register.non-canonical-cbor",
        Phase::Register,
        false,
        "attestationObject keys out of order, a long length form",
    ),
    (
        "register.oversized-credential-id",
        Phase::Register,
        false,
        "a 1024-byte credential ID (the limit is 1023)",
    ),
    (
        "register.credential-id-reused",
        Phase::Register,
        false,
        "another user's registered credential ID",
    ),
    (
        "register.untrusted-attestation",
        Phase::Register,
        false,
        "none attestation to an RP that demands trusted attestation",
    ),
    (
        "login.wrong-origin",
        Phase::Login,
        false,
        "clientDataJSON.origin https://evil.example, signed",
    ),
    (
        "login.wrong-type",
        Phase::Login,
        false,
        "clientDataJSON.type webauthn.create, signed",
    ),
    (
        "login.challenge-altered",
        Phase::Login,
        false,
        "the challenge with one bit flipped, signed",
    ),
    (
        "login.challenge-reused",
        Phase::Login,
        false,
        "the challenge of an earlier login, signed anew",
    ),
    (
        "login.wrong-rp-id-hash",
        Phase::Login,
        false,
        "rpIdHash of evil.example, signed",
    ),
    (
        "login.up-clear",
        Phase::Login,
        false,
        "UP flag clear, signed",
    ),
    (
        "login.uv-clear",
        Phase::Login,
        false,
        "UV flag clear although the RP required UV, signed",
    ),
    (
        "login.signature-invalid",
        Phase::Login,
        false,
        "the signature with one byte flipped",
    ),
    (
        "login.signature-over-other-data",
        Phase::Login,
        false,
        "a valid signature over another client data hash",
    ),
    (
        "login.counter-regression",
        Phase::Login,
        false,
        "a counter below the last accepted (a cloned authenticator), signed",
    ),
    (
        "login.counter-not-increasing",
        Phase::Login,
        false,
        "the last accepted counter again, signed",
    ),
    (
        "login.trailing-bytes",
        Phase::Login,
        false,
        "4 bytes after the authenticator data, signed",
    ),
    (
        "login.replayed-assertion",
        Phase::Login,
        false,
        "the accepted baseline assertion sent again",
    ),
    (
        "login.other-users-credential",
        Phase::Login,
        false,
        "another user's credential in a login begun for this user",
    ),
];

/// One case's result.
#[derive(Debug, Clone)]
struct Outcome {
    case: String,
    sent: String,
    must_accept: bool,
    verdict: Option<Verdict>,
    skipped: Option<String>,
}

impl Outcome {
    fn passed(&self) -> bool {
        match (&self.verdict, self.must_accept) {
            (None, _) => true,
            (Some(Verdict::Accepted(_)), must) => must,
            (Some(Verdict::Failed(_) | Verdict::Timeout), _) => false,
            (Some(_), must) => !must,
        }
    }
}

/// A change to a registration response's decoded parts; `Some` replaces
/// the attestation object's bytes.
type RegDefect = fn(&mut Registration, &Checker) -> Result<Option<Vec<u8>>, String>;
/// A change to an assertion's inputs (signed afterwards).
type Change = Box<dyn FnOnce(&mut AssertionInput, &Checker)>;
/// A change to the finished response JSON (after signing).
type Defect = Box<dyn FnOnce(&mut Value)>;

struct Checker {
    cfg: RpConfig,
    http: Http,
    client: Client,
    device: authenticator_core::Authenticator<uhid_device::presence::DaemonEnv>,
    seq: u32,
    /// The baseline user's credential, once registered.
    held: Option<Held>,
    username: String,
    /// Another user's registered credential.
    other: Option<(String, Held)>,
    /// A challenge of an earlier login, and of an earlier registration.
    old_login_challenge: Option<Vec<u8>>,
    old_register_challenge: Option<Vec<u8>>,
    uv_required: bool,
    rp_id: String,
    baseline_assertion: Option<Value>,
}

fn options_at(body: &str, pointer: &str) -> Result<String, String> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| format!("the begin answer is not JSON: {e}"))?;
    let o = if pointer.is_empty() {
        Some(&v)
    } else {
        v.pointer(pointer)
    };
    o.map(Value::to_string)
        .ok_or_else(|| format!("the begin answer has nothing at `{pointer}`: {body}"))
}

fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Accepted(status),
        500..=599 => Verdict::ServerError(status),
        s => Verdict::Rejected(s),
    }
}

fn flip_first_bit(b: &mut [u8]) {
    if let Some(x) = b.first_mut() {
        *x ^= 0x01;
    }
}

impl Checker {
    fn new(cfg: RpConfig) -> Result<Self, Error> {
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

    fn fresh_user(&mut self, tag: &str) -> String {
        self.seq += 1;
        format!("rp-check-{tag}-{}-{}", std::process::id(), self.seq)
    }

    /// A registration for `username`; `defect` changes the response JSON
    /// before it is sent. Returns the verdict and the credential.
    async fn register(
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
    async fn login(
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
    async fn replay(&mut self, username: &str, response: &Value) -> Result<Verdict, String> {
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

    async fn run_case(&mut self, name: &str) -> Result<Option<Verdict>, String> {
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

    fn baseline(&self) -> Result<(Held, String), String> {
        self.held
            .clone()
            .map(|h| (h, self.username.clone()))
            .ok_or_else(|| "skip: no baseline registration".into())
    }

    async fn reg_case(
        &mut self,
        defect: impl FnOnce(&mut Value, &mut Self) -> Result<(), String>,
    ) -> Result<Option<Verdict>, String> {
        let user = self.fresh_user("reg");
        let (v, _, _) = self.register(&user, defect).await?;
        Ok(Some(v))
    }

    async fn login_case(&mut self, name: &str) -> Result<Option<Verdict>, String> {
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

fn client_data_of(v: &Value) -> Result<Value, String> {
    let b = unb64url(
        "clientDataJSON",
        v["response"]["clientDataJSON"].as_str().unwrap_or(""),
    )
    .map_err(|e| e.to_string())?;
    serde_json::from_slice(&b).map_err(|e| e.to_string())
}

fn set_client_data(v: &mut Value, key: &str, value: Value) -> Result<(), String> {
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

// -------------------------------------------------------------------- fuzz

/// One random defect of an assertion; every one makes it invalid.
fn fuzz_change(rng: &mut rand_chacha::ChaCha20Rng, i: &mut AssertionInput, last: u32) -> String {
    match rng.next_u32() % 7 {
        0 => {
            let k = (rng.next_u32() as usize) % i.challenge.len().max(1);
            if let Some(b) = i.challenge.get_mut(k) {
                *b ^= 1 << (rng.next_u32() % 8);
            }
            format!("challenge byte {k} flipped")
        }
        1 => {
            let mut h = sha256(i.rp_id.as_bytes());
            let k = (rng.next_u32() % 32) as usize;
            h[k] ^= 1 << (rng.next_u32() % 8);
            i.rp_id_hash = Some(h);
            format!("rpIdHash byte {k} flipped")
        }
        2 => {
            i.counter = rng.next_u32() % last.max(1);
            format!("counter {} after {last}", i.counter)
        }
        3 => {
            let origins = [
                "https://evil.example",
                "http://localhost:1",
                "null",
                "https://a.b.c.example",
            ];
            i.origin = origins[(rng.next_u32() % 4) as usize].into();
            format!("origin {}", i.origin)
        }
        4 => {
            let kinds = ["webauthn.create", "", "webauthn.GET", "payment.get"];
            i.kind = kinds[(rng.next_u32() % 4) as usize].into();
            format!("type `{}`", i.kind)
        }
        5 => {
            i.flags &= !UP;
            "UP clear".into()
        }
        _ => {
            let mut h = [0u8; 32];
            rng.fill_bytes(&mut h);
            i.sign_other_hash = Some(h);
            "signature over random data".into()
        }
    }
}

// ------------------------------------------------------------------ report

fn print_table(outcomes: &[Outcome]) {
    let rows: Vec<[String; 4]> = outcomes
        .iter()
        .map(|o| {
            [
                o.case.clone(),
                o.sent.clone(),
                match (&o.verdict, &o.skipped) {
                    (Some(v), _) => v.show(),
                    (None, Some(s)) => format!("skipped: {s}"),
                    (None, None) => "-".into(),
                },
                if o.skipped.is_some() {
                    "-".into()
                } else if o.passed() {
                    "pass".into()
                } else {
                    "FAIL".into()
                },
            ]
        })
        .collect();
    let head = ["CASE", "SENT", "RP VERDICT", "RESULT"];
    let w: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: [&str; 4]| {
        out!(
            "{:<a$}  {:<b$}  {:<c$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            a = w[0],
            b = w[1],
            c = w[2]
        );
    };
    line(head);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3]]);
    }
}

/// Runs the catalogue (and a fuzz run when asked); exit status 1 when the
/// RP accepted a must-reject case or an invalid fuzz response.
pub(crate) async fn run(a: RpCheckArgs) -> Result<bool, Error> {
    let text = std::fs::read_to_string(&a.config).map_err(|e| {
        Error::Config(format!(
            "cannot read --config {}: {}; give the RP's description, a TOML file with base_url and origin (docs/recipes/audit-your-rp.md)",
            a.config.display(),
            crate::run::io_reason(&e)
        ))
    })?;
    let cfg: RpConfig = toml::from_str(&text).map_err(|e| {
        Error::Config(format!(
            "--config {}: {}; correct the file (base_url and origin are required; docs/recipes/audit-your-rp.md)",
            a.config.display(),
            fidosim_daemon::config::toml_problem(&text, &e)
        ))
    })?;
    let mut checker = Checker::new(cfg)?;
    let mut outcomes = Vec::new();
    let selected: Vec<_> = CASES
        .iter()
        .filter(|(name, ..)| {
            a.cases.is_empty()
                || a.cases.iter().any(|c| name.starts_with(c.as_str()))
                || name.ends_with("baseline")
        })
        .collect();
    let mut progress = Progress::new(
        "rp-check",
        selected.len() + a.fuzz.map_or(0, |n| n as usize),
    );
    for (name, _phase, must_accept, sent) in selected {
        progress.start(name);
        let result = checker.run_case(name).await;
        let (verdict, skipped) = match result {
            Ok(v) => (v, None),
            Err(e) => match e.strip_prefix("skip: ") {
                Some(reason) => (None, Some(reason.to_owned())),
                None => (Some(Verdict::Failed(e)), None),
            },
        };
        let o = Outcome {
            case: (*name).into(),
            sent: (*sent).into(),
            must_accept: *must_accept,
            verdict,
            skipped,
        };
        if *must_accept && !o.passed() {
            progress.finish();
            if !a.json {
                print_table(std::slice::from_ref(&o));
            }
            return Err(Error::Runtime(format!(
                "the RP did not accept the valid baseline ({}): check base_url, origin and the begin/complete paths in {} (the RP must accept a correct response before anything else can be judged)",
                o.verdict.as_ref().map_or("no verdict".into(), Verdict::show),
                a.config.display()
            )));
        }
        progress.done(
            name,
            &o.verdict
                .as_ref()
                .map_or_else(|| "skipped".to_owned(), Verdict::show),
        );
        outcomes.push(o);
    }
    let mut findings = Vec::new();
    if let Some(n) = a.fuzz {
        let seed = a.seed.unwrap_or_else(|| rand_core::OsRng.next_u64());
        let (_, user) = checker.baseline().map_err(Error::Runtime)?;
        for i in 0..n {
            let (held, _) = checker.baseline().map_err(Error::Runtime)?;
            let last = held.counter;
            progress.start(&format!("fuzz #{i}"));
            let mut what = String::new();
            let mut case_rng = rand_chacha::ChaCha20Rng::seed_from_u64(
                seed ^ u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let r = checker
                .login(
                    &user,
                    &held,
                    |inp, _| what = fuzz_change(&mut case_rng, inp, last),
                    |_| {},
                )
                .await;
            let v = match r {
                Ok((v, input, _)) => {
                    if matches!(v, Verdict::Accepted(_)) && input.counter > last {
                        if let Some(h) = &mut checker.held {
                            h.counter = input.counter;
                        }
                    }
                    v
                }
                Err(e) => Verdict::Failed(e),
            };
            let kind = match v {
                Verdict::Accepted(_) => Some("accepted an invalid response"),
                Verdict::ServerError(_) => Some("server error"),
                Verdict::Timeout => Some("timeout"),
                _ => None,
            };
            progress.done(&format!("fuzz #{i} ({what})"), &v.show());
            if let Some(kind) = kind {
                findings.push(json!({ "iteration": i, "seed": seed, "kind": kind, "sent": what, "verdict": v.show() }));
            }
        }
        progress.finish();
        if !a.json {
            out!(
                "fuzz: {n} mutated assertions, seed {seed}: {} finding(s) (replay with --fuzz {n} --seed {seed})",
                findings.len()
            );
        }
    }
    progress.finish();
    let failed = outcomes.iter().any(|o| o.skipped.is_none() && !o.passed())
        || findings
            .iter()
            .any(|f| f["kind"] == "accepted an invalid response");
    if a.json {
        let cases: Vec<Value> = outcomes
            .iter()
            .map(|o| {
                json!({
                    "case": o.case,
                    "sent": o.sent,
                    "mustAccept": o.must_accept,
                    "verdict": o.verdict.as_ref().map(Verdict::show),
                    "skipped": o.skipped,
                    "passed": o.skipped.is_none() && o.passed(),
                })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "cases": cases, "fuzzFindings": findings, "failed": failed })
            )
            .unwrap_or_default()
        );
    } else {
        print_table(&outcomes);
        for f in &findings {
            out!("fuzz finding: {f}");
        }
    }
    Ok(!failed)
}
