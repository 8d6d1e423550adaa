//! A browser-free WebAuthn client.
//!
//! It does what a browser does between an RP's options and the RP's
//! verifier: checks the origin and RP ID, builds clientDataJSON, runs
//! authenticatorMakeCredential or authenticatorGetAssertion (CTAP 2.1 §6.1,
//! §6.2) on an authenticator, applies the attestation conveyance
//! preference, and returns the response in the JSON form browsers'
//! `toJSON()` gives (WebAuthn L3 §5.1). The authenticator is anything that
//! answers CTAP2 requests: fidosim's core in-process ([`CtapDevice`] is
//! implemented for `Authenticator`), or a running fidosim key over
//! CTAPHID/UDP ([`udp::UdpDevice`]).
//!
//! When several discoverable credentials apply to a sign-in, the client
//! plays the part of a browser's account chooser: [`Client::account`] names
//! the account its user picks (the first offered by default), and
//! [`Client::get`] follows numberOfCredentials with
//! authenticatorGetNextAssertion to it (CTAP 2.1 §6.2.2 step 12.2, §6.3), or
//! refuses a single answer for another account ([`ClientError::NoAccount`]).
//!
//! ```no_run
//! # use fidosim_webauthn::{Client, json};
//! # fn demo(device: &mut dyn fidosim_webauthn::CtapDevice) -> Result<(), fidosim_webauthn::ClientError> {
//! let options: json::CreationOptions = json::parse_options(r#"{"publicKey": {"rp": {"name": "Shop"},
//!   "user": {"id": "dXNlcg", "name": "alice", "displayName": "Alice"},
//!   "challenge": "Y2hhbGxlbmdlMTIzNDU2", "pubKeyCredParams": [{"type": "public-key", "alg": -7}]}}"#)?;
//! let response = Client::new("https://shop.example").create(device, &options)?;
//! println!("{}", serde_json::to_string(&response).unwrap());
//! # Ok(()) }
//! ```

mod extensions;
pub mod json;
mod large_blob;
pub mod origin;
pub mod udp;

use authenticator_core::cbor::{self, Fields, MapBuilder, Value};
use authenticator_core::env::Env;
use authenticator_core::Authenticator;
use serde_json::json;
use sha2::Digest as _;

use json::{b64url, unb64url, CreationOptions, Descriptor, RequestOptions};
pub use origin::Breaks;

/// Why a ceremony failed, named after the DOMException a browser would
/// reject the promise with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// TypeError: the options are malformed.
    Type(String),
    /// SecurityError: the origin or RP ID is not acceptable.
    Security(String),
    /// NotSupportedError: no acceptable algorithm.
    NotSupported(String),
    /// InvalidStateError: an excluded credential is on the authenticator.
    InvalidState(String),
    /// NotAllowedError: the authenticator refused, or has no credential.
    NotAllowed(String),
    /// NotAllowedError too: the authenticator has credentials for the RP,
    /// but none it offered is the account [`Client::account`] asks for, so
    /// no assertion is returned rather than another account's.
    NoAccount(String),
    /// The authenticator could not be reached or answered garbage.
    Device(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, m) = match self {
            Self::Type(m) => ("TypeError", m),
            Self::Security(m) => ("SecurityError", m),
            Self::NotSupported(m) => ("NotSupportedError", m),
            Self::InvalidState(m) => ("InvalidStateError", m),
            Self::NotAllowed(m) | Self::NoAccount(m) => ("NotAllowedError", m),
            Self::Device(m) => ("device error", m),
        };
        write!(f, "{name}: {m}")
    }
}

impl std::error::Error for ClientError {}

/// An authenticator: a CTAP2 request (command byte ‖ CBOR) in, the answer
/// (status ‖ CBOR) out.
pub trait CtapDevice {
    /// One CTAP2 request.
    fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, ClientError>;
}

impl<E: Env> CtapDevice for Authenticator<E> {
    fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, ClientError> {
        Ok(self.handle(request))
    }
}

/// The client: an origin (and, for a cross-origin iframe, the top-level
/// origin), the rules to break on purpose, and the account its user picks.
#[derive(Debug, Clone)]
pub struct Client {
    /// The calling origin, as a URL (`https://shop.example`).
    pub origin: String,
    /// The top-level origin when the call comes from a cross-origin iframe.
    pub top_origin: Option<String>,
    /// Browser rules to break on purpose.
    pub breaks: Breaks,
    /// The account [`Client::get`] signs in with when the key offers
    /// several, as a browser's user picks one in its account chooser.
    pub account: Account,
}

/// The account a sign-in is for: what the user of a browser's account
/// chooser picks (CTAP 2.1 §6.2.2 step 12.2, the platform's side: the key
/// sends numberOfCredentials and the platform fetches the rest with
/// authenticatorGetNextAssertion, §6.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Account {
    /// The first the key offers (fidosim offers the newest first), or the
    /// one the key's own user chose on the device (userSelected).
    #[default]
    First,
    /// The credential of this user handle (WebAuthn §5.4.3 `user.id`).
    UserHandle(Vec<u8>),
    /// The credential with this ID.
    CredentialId(Vec<u8>),
}

impl Account {
    /// Whether an assertion is for this account.
    fn matches(&self, a: &Assertion) -> bool {
        match self {
            Self::First => true,
            Self::UserHandle(h) => a.user_handle.as_deref() == Some(h.as_slice()),
            Self::CredentialId(id) => a.credential_id == *id,
        }
    }
}

/// `user handle dXNlcg` / `credential ID AAEC` / `the first account
/// offered`, IDs in base64url as WebAuthn's JSON writes them.
impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::First => f.write_str("the first account offered"),
            Self::UserHandle(h) => write!(f, "user handle {}", b64url(h)),
            Self::CredentialId(id) => write!(f, "credential ID {}", b64url(id)),
        }
    }
}

/// One answer to authenticatorGetAssertion or authenticatorGetNextAssertion
/// (CTAP 2.1 §6.2.2, "authenticatorGetAssertion response structure").
#[derive(Debug)]
struct Assertion {
    /// credential (0x01), its `id`.
    credential_id: Vec<u8>,
    /// authData (0x02).
    auth_data: Vec<u8>,
    /// signature (0x03).
    signature: Vec<u8>,
    /// user (0x04), its `id`.
    user_handle: Option<Vec<u8>>,
    /// numberOfCredentials (0x05).
    number_of_credentials: Option<u64>,
    /// userSelected (0x06).
    user_selected: bool,
    /// largeBlobKey (0x07).
    large_blob_key: Option<Vec<u8>>,
}

impl Assertion {
    /// Reads an answer to `command`; `only_allowed` stands in for a
    /// credential the key left out, which §6.2.2 permits when the allowList
    /// had exactly one.
    fn parse(
        mut f: Fields,
        command: &str,
        only_allowed: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        let bad = |what: &str| ClientError::Device(format!("the answer to {command}: {what}"));
        let credential_id = match f.take(1) {
            Some(v) => {
                let mut d =
                    Fields::from_value(v).map_err(|_| bad("a malformed credential descriptor"))?;
                d.take_text_key("id")
                    .and_then(|v| cbor::as_bytes(v, 1024).ok())
                    .ok_or_else(|| bad("a credential without an id"))?
            }
            None => only_allowed
                .map(<[u8]>::to_vec)
                .ok_or_else(|| bad("it names no credential"))?,
        };
        let auth_data = bytes_field(&mut f, 2, "authData")?;
        let signature = bytes_field(&mut f, 3, "signature")?;
        let user_handle = match f.take(4) {
            Some(v) => Fields::from_value(v)
                .ok()
                .and_then(|mut u| u.take_text_key("id"))
                .and_then(|v| cbor::as_bytes(v, 64).ok()),
            None => None,
        };
        let number_of_credentials = match f.take(5) {
            None => None,
            Some(v) => match cbor::as_uint(v) {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    return Err(bad(
                        "numberOfCredentials (0x05) is not a count of 1 or more",
                    ))
                }
            },
        };
        let user_selected = match f.take(6) {
            None => false,
            Some(v) => cbor::as_bool(v).map_err(|_| bad("userSelected (0x06) is not a boolean"))?,
        };
        // §6.2.2: userSelected means the user chose this one credential on
        // the device, and numberOfCredentials is then left out; both
        // together contradict each other.
        if user_selected && number_of_credentials.is_some_and(|n| n > 1) {
            return Err(bad(&format!(
                "userSelected (0x06) with numberOfCredentials {} (0x05); a key whose user chose \
                 an account sends that one alone (CTAP 2.1 §6.2.2)",
                number_of_credentials.unwrap_or_default()
            )));
        }
        let large_blob_key = f.take(7).and_then(|v| cbor::as_bytes(v, 32).ok());
        Ok(Self {
            credential_id,
            auth_data,
            signature,
            user_handle,
            number_of_credentials,
            user_selected,
            large_blob_key,
        })
    }

    /// `credential ID … (user handle …)`, for messages.
    fn describe(&self) -> String {
        match &self.user_handle {
            Some(h) => format!(
                "credential ID {} (user handle {})",
                b64url(&self.credential_id),
                b64url(h)
            ),
            None => format!(
                "credential ID {} (no user handle)",
                b64url(&self.credential_id)
            ),
        }
    }
}

/// The clientDataJSON a browser serializes (WebAuthn L3 §5.8.1.1): the
/// members in this order, `topOrigin` only for a cross-origin call.
pub fn client_data_json(
    kind: &str,
    challenge: &[u8],
    origin: &str,
    top_origin: Option<&str>,
) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = format!(
        "{{\"type\":{},\"challenge\":{},\"origin\":{},\"crossOrigin\":{}",
        q(kind),
        q(&b64url(challenge)),
        q(origin),
        top_origin.is_some()
    );
    if let Some(top) = top_origin {
        out.push_str(&format!(",\"topOrigin\":{}", q(top)));
    }
    out.push('}');
    out
}

/// What getInfo says about the authenticator's options (CTAP 2.1 §6.4).
struct Info {
    uv: bool,
    client_pin: bool,
    support: extensions::Support,
}

fn ctap_error(command: &str, status: u8) -> ClientError {
    let name = authenticator_core::StatusCode::from_known(status)
        .map_or("an unknown status", authenticator_core::StatusCode::name);
    match status {
        // CTAP2_ERR_CREDENTIAL_EXCLUDED (§6.1.2 step 7).
        0x19 => ClientError::InvalidState(format!(
            "the authenticator already holds a credential from excludeCredentials ({command}: {name}, 0x{status:02x})"
        )),
        // CTAP2_ERR_NO_CREDENTIALS.
        0x2E => ClientError::NotAllowed(format!(
            "the authenticator has no credential for this RP ({command}: {name}, 0x2e)"
        )),
        _ => ClientError::NotAllowed(format!(
            "the authenticator answered {command} with {name} (0x{status:02x})"
        )),
    }
}

/// Sends a request and splits the answer into its status and body.
fn call(
    device: &mut dyn CtapDevice,
    command: &str,
    request: Vec<u8>,
) -> Result<Fields, ClientError> {
    let resp = device.transact(&request)?;
    let (&status, body) = resp
        .split_first()
        .ok_or_else(|| ClientError::Device(format!("an empty answer to {command}")))?;
    if status != 0 {
        return Err(ctap_error(command, status));
    }
    // CTAP 2.1 §8.2: a success with nothing to say is the status alone
    // (authenticatorLargeBlobs set, for one).
    if body.is_empty() {
        return Fields::from_value(Value::Map(Vec::new()))
            .map_err(|_| ClientError::Device(format!("the answer to {command}")));
    }
    Fields::decode(body)
        .map_err(|_| ClientError::Device(format!("the answer to {command} is not CBOR")))
}

fn get_info(device: &mut dyn CtapDevice) -> Result<Info, ClientError> {
    let mut f = call(device, "authenticatorGetInfo", vec![0x04])?;
    let mut info = Info {
        uv: false,
        client_pin: false,
        support: extensions::Support::default(),
    };
    if let Some(Value::Array(names)) = f.take(0x02) {
        info.support.extensions = names
            .into_iter()
            .filter_map(|n| n.as_text().map(str::to_owned))
            .collect();
    }
    if let Some(n) = f.take(0x0F).and_then(|v| cbor::as_uint(v).ok()) {
        info.support.max_cred_blob_length = n;
    }
    info.support.max_msg_size = f
        .take(0x05)
        .and_then(|v| cbor::as_uint(v).ok())
        .unwrap_or(1024);
    info.support.max_large_blob_array = f
        .take(0x0B)
        .and_then(|v| cbor::as_uint(v).ok())
        .unwrap_or(0);
    if let Some(Value::Map(options)) = f.take(0x04) {
        for (k, v) in options {
            match (k.as_text(), v.as_bool()) {
                (Some("uv"), Some(b)) => info.uv = b,
                (Some("clientPin"), Some(b)) => info.client_pin = b,
                _ => {}
            }
        }
    }
    info.support.uv = info.uv;
    Ok(info)
}

/// The `uv` option for a userVerification requirement (WebAuthn L3 §6.3.2's
/// inputs; CTAP 2.1 §6.1.2 step 5).
fn uv_option(requirement: Option<&str>, info: &Info) -> Result<Option<bool>, ClientError> {
    match requirement.unwrap_or("preferred") {
        "required" if info.uv => Ok(Some(true)),
        "required" if info.client_pin => Err(ClientError::NotAllowed(
            "user verification is required and this authenticator offers only a PIN, which this client does not enter; start the key with built-in UV (the default)".into(),
        )),
        "required" => Err(ClientError::NotAllowed(
            "user verification is required and the authenticator cannot verify the user".into(),
        )),
        "preferred" if info.uv => Ok(Some(true)),
        "preferred" | "discouraged" => Ok(None),
        other => Err(ClientError::Type(format!(
            "userVerification `{other}`: discouraged, preferred or required"
        ))),
    }
}

fn descriptors(list: &[Descriptor]) -> Result<Value, ClientError> {
    list.iter()
        .filter(|d| d.kind == "public-key")
        .map(|d| {
            Ok(MapBuilder::new()
                .text("id", cbor::bytes(unb64url("credential id", &d.id)?))
                .text("type", "public-key")
                .build())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn bytes_field(f: &mut Fields, key: i64, what: &str) -> Result<Vec<u8>, ClientError> {
    f.take(key)
        .and_then(|v| cbor::as_bytes(v, 1 << 16).ok())
        .ok_or_else(|| ClientError::Device(format!("the answer has no {what}")))
}

impl Client {
    /// A client for `origin`, following every browser rule.
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            top_origin: None,
            breaks: Breaks::default(),
            account: Account::First,
        }
    }

    /// `navigator.credentials.create()`: a registration.
    pub fn create(
        &self,
        device: &mut dyn CtapDevice,
        options: &CreationOptions,
    ) -> Result<json::RegistrationResponse, ClientError> {
        let origin = origin::parse_origin(&self.origin, self.breaks)?;
        let rp_id = origin::rp_id(&origin, options.rp.id.as_deref(), self.breaks)?;
        let user_id = unb64url("user.id", &options.user.id)?;
        if user_id.is_empty() || user_id.len() > 64 {
            return Err(ClientError::Type(format!(
                "user.id: {} bytes; a user handle has 1 to 64 (WebAuthn §5.4.3)",
                user_id.len()
            )));
        }
        let challenge = unb64url("challenge", &options.challenge)?;
        // §5.1.3 step 10: no parameters means ES256 and RS256.
        let params: Vec<i64> = if options.pub_key_cred_params.is_empty() {
            vec![-7, -257]
        } else {
            options
                .pub_key_cred_params
                .iter()
                .filter(|p| p.kind == "public-key")
                .map(|p| p.alg)
                .collect()
        };
        if params.is_empty() {
            return Err(ClientError::NotSupported(
                "pubKeyCredParams has no public-key entry".into(),
            ));
        }
        let client_data = client_data_json(
            "webauthn.create",
            &challenge,
            &origin.serialized,
            self.top_origin.as_deref(),
        );
        let cdh = sha2::Sha256::digest(client_data.as_bytes()).to_vec();
        let info = get_info(device)?;
        let selection = options.authenticator_selection.clone().unwrap_or_default();
        // §5.4.4: residentKey wins over the older requireResidentKey.
        let rk = match selection.resident_key.as_deref() {
            Some("required") | Some("preferred") => true,
            Some("discouraged") => false,
            Some(other) => {
                return Err(ClientError::Type(format!(
                    "residentKey `{other}`: discouraged, preferred or required"
                )))
            }
            None => selection.require_resident_key,
        };
        let uv = uv_option(selection.user_verification.as_deref(), &info)?;
        let mut opts = MapBuilder::new();
        if rk {
            opts = opts.text("rk", true);
        }
        if let Some(uv) = uv {
            opts = opts.text("uv", uv);
        }
        let mut req = MapBuilder::new()
            .int(1, cbor::bytes(cdh))
            .int(
                2,
                MapBuilder::new()
                    .text("id", rp_id.as_str())
                    .text("name", options.rp.name.as_str())
                    .build(),
            )
            .int(
                3,
                MapBuilder::new()
                    .text("id", cbor::bytes(user_id))
                    .text("name", options.user.name.as_str())
                    .text("displayName", options.user.display_name.as_str())
                    .build(),
            )
            .int(
                4,
                Value::Array(
                    params
                        .iter()
                        .map(|a| {
                            MapBuilder::new()
                                .text("alg", *a)
                                .text("type", "public-key")
                                .build()
                        })
                        .collect(),
                ),
            );
        if !options.exclude_credentials.is_empty() {
            req = req.int(5, descriptors(&options.exclude_credentials)?);
        }
        let ext = extensions::creation(options.extensions.as_ref(), &info.support, rk)?;
        if !ext.ctap.is_empty() {
            req = req.int(6, Value::Map(ext.ctap.clone()));
        }
        if rk || uv.is_some() {
            req = req.int(7, opts.build());
        }
        let mut f = call(
            device,
            "authenticatorMakeCredential",
            [vec![0x01], cbor::encode(&req.build())].concat(),
        )?;
        let fmt = f
            .take(1)
            .and_then(|v| v.as_text().map(str::to_owned))
            .ok_or_else(|| ClientError::Device("the answer has no fmt".into()))?;
        let auth_data = bytes_field(&mut f, 2, "authData")?;
        let att_stmt = f
            .take(3)
            .ok_or_else(|| ClientError::Device("the answer has no attStmt".into()))?;
        let attested = parse_attested(&auth_data)?;
        // largeBlobKey (0x05): CTAP 2.1 §6.1.2 step 20.
        let large_blob_key = f.take(5).is_some();
        // §5.1.3 step 22: "none" (and "indirect", which a client may treat
        // alike) keeps self attestation and replaces anything else with the
        // none format.
        let conveyance = options.attestation.as_deref().unwrap_or("none");
        let (fmt, att_stmt) = match conveyance {
            "direct" | "enterprise" => (fmt, att_stmt),
            "none" | "indirect" => {
                let has_x5c = matches!(&att_stmt, Value::Map(m) if m.iter().any(|(k, _)| k.as_text() == Some("x5c")));
                if attested.aaguid == [0; 16] && fmt == "packed" && !has_x5c {
                    (fmt, att_stmt)
                } else {
                    ("none".to_owned(), Value::Map(Vec::new()))
                }
            }
            other => {
                return Err(ClientError::Type(format!(
                    "attestation `{other}`: none, indirect, direct or enterprise"
                )))
            }
        };
        let attestation_object = cbor::encode(
            &MapBuilder::new()
                .text("fmt", fmt.as_str())
                .text("attStmt", att_stmt)
                .text("authData", cbor::bytes(auth_data.clone()))
                .build(),
        );
        let mut extension_results = serde_json::Map::new();
        if options
            .extensions
            .as_ref()
            .and_then(|e| e.get("credProps"))
            .and_then(serde_json::Value::as_bool)
            == Some(true)
        {
            // §10.1.3: whether the credential is discoverable.
            extension_results.insert("credProps".into(), json!({ "rk": rk }));
        }
        extensions::creation_results(
            &ext,
            extensions::outputs(&auth_data, attested.end)?,
            large_blob_key,
            &mut extension_results,
        );
        let id = b64url(&attested.credential_id);
        Ok(json::RegistrationResponse {
            raw_id: id.clone(),
            id,
            response: json::AttestationResponse {
                client_data_json: b64url(client_data.as_bytes()),
                authenticator_data: b64url(&auth_data),
                transports: vec!["usb".into()],
                public_key: b64url(&attested.spki),
                public_key_algorithm: attested.alg,
                attestation_object: b64url(&attestation_object),
            },
            authenticator_attachment: "cross-platform".into(),
            client_extension_results: serde_json::Value::Object(extension_results),
            kind: "public-key".into(),
        })
    }

    /// `navigator.credentials.get()`: an authentication, for the account
    /// [`Client::account`] names. When the key offers several credentials
    /// (numberOfCredentials), the rest are fetched with
    /// authenticatorGetNextAssertion until the asked one comes; when it
    /// answers with one (its user chose it, or only one applies), that one
    /// must be the asked one, else [`ClientError::NoAccount`].
    pub fn get(
        &self,
        device: &mut dyn CtapDevice,
        options: &RequestOptions,
    ) -> Result<json::AuthenticationResponse, ClientError> {
        let origin = origin::parse_origin(&self.origin, self.breaks)?;
        let rp_id = origin::rp_id(&origin, options.rp_id.as_deref(), self.breaks)?;
        let challenge = unb64url("challenge", &options.challenge)?;
        let client_data = client_data_json(
            "webauthn.get",
            &challenge,
            &origin.serialized,
            self.top_origin.as_deref(),
        );
        let cdh = sha2::Sha256::digest(client_data.as_bytes()).to_vec();
        let info = get_info(device)?;
        let uv = uv_option(options.user_verification.as_deref(), &info)?;
        let mut req = MapBuilder::new()
            .int(1, rp_id.as_str())
            .int(2, cbor::bytes(cdh));
        if !options.allow_credentials.is_empty() {
            req = req.int(3, descriptors(&options.allow_credentials)?);
        }
        let allowed = options
            .allow_credentials
            .iter()
            .map(|d| unb64url("credential id", &d.id))
            .collect::<Result<Vec<_>, _>>()?;
        let ext =
            extensions::assertion(device, options.extensions.as_ref(), &info.support, &allowed)?;
        if !ext.ctap.is_empty() {
            req = req.int(4, Value::Map(ext.ctap.clone()));
        }
        if let Some(uv) = uv {
            req = req.int(5, MapBuilder::new().text("uv", uv).build());
        }
        let only_allowed = match options.allow_credentials.as_slice() {
            [one] => Some(unb64url("credential id", &one.id)?),
            _ => None,
        };
        let command = "authenticatorGetAssertion";
        let f = call(
            device,
            command,
            [vec![0x02], cbor::encode(&req.build())].concat(),
        )?;
        let first = Assertion::parse(f, command, only_allowed.as_deref())?;
        let chosen = self.choose(device, &rp_id, first)?;
        let results = extensions::assertion_results(
            &ext,
            extensions::outputs(&chosen.auth_data, 37)?,
            device,
            &info.support,
            chosen.large_blob_key.as_deref(),
        )?;
        let id = b64url(&chosen.credential_id);
        Ok(json::AuthenticationResponse {
            raw_id: id.clone(),
            id,
            response: json::AssertionResponse {
                client_data_json: b64url(client_data.as_bytes()),
                authenticator_data: b64url(&chosen.auth_data),
                signature: b64url(&chosen.signature),
                user_handle: chosen.user_handle.map(|u| b64url(&u)),
            },
            authenticator_attachment: "cross-platform".into(),
            client_extension_results: serde_json::Value::Object(results),
            kind: "public-key".into(),
        })
    }

    /// The platform's account choice (CTAP 2.1 §6.2.2 step 12.2 and §6.3):
    /// `first` is the answer to getAssertion.
    fn choose(
        &self,
        device: &mut dyn CtapDevice,
        rp_id: &str,
        first: Assertion,
    ) -> Result<Assertion, ClientError> {
        let total = first.number_of_credentials.unwrap_or(1);
        if total == 1 {
            if self.account.matches(&first) {
                return Ok(first);
            }
            let how = if first.user_selected {
                "which its user chose on the device (userSelected)"
            } else {
                "the only one it offered (numberOfCredentials absent or 1)"
            };
            return Err(ClientError::NoAccount(format!(
                "the key answered for {rp_id} with {}, {how}, but {} was asked for; \
                 the assertion is not returned",
                first.describe(),
                self.account
            )));
        }
        if self.account.matches(&first) {
            return Ok(first);
        }
        // §6.3: the remaining numberOfCredentials − 1 assertions, one
        // authenticatorGetNextAssertion each, in the key's order.
        let mut offered = vec![first.describe()];
        for k in 2..=total {
            let command = "authenticatorGetNextAssertion";
            let next = call(device, command, vec![0x08])
                .and_then(|f| Assertion::parse(f, command, None))
                .map_err(|e| {
                    ClientError::Device(format!(
                        "the key announced {total} credentials for {rp_id} (numberOfCredentials), \
                         but {command} for number {k} failed: {e}"
                    ))
                })?;
            if next.user_selected {
                return Err(ClientError::Device(format!(
                    "the key marked credential number {k} of {total} for {rp_id} userSelected \
                     (0x06) in an answer to {command}; only a getAssertion answer with one \
                     credential may carry it (CTAP 2.1 §6.2.2)"
                )));
            }
            if self.account.matches(&next) {
                return Ok(next);
            }
            offered.push(next.describe());
        }
        Err(ClientError::NoAccount(format!(
            "the key offered {total} credentials for {rp_id} ({}), none with {}; \
             no assertion is returned",
            offered.join(", "),
            self.account
        )))
    }
}

/// The attested credential data of a registration's authenticator data
/// (WebAuthn §6.5.1).
struct Attested {
    aaguid: [u8; 16],
    credential_id: Vec<u8>,
    alg: i64,
    spki: Vec<u8>,
    /// Where the attested credential data ends (the extensions map, if
    /// any, starts there).
    end: usize,
}

fn parse_attested(auth_data: &[u8]) -> Result<Attested, ClientError> {
    let bad = |what: &str| ClientError::Device(format!("the authenticator data: {what}"));
    if auth_data.len() < 55 || auth_data[32] & 0x40 == 0 {
        return Err(bad("no attested credential data"));
    }
    let aaguid: [u8; 16] = auth_data[37..53].try_into().map_err(|_| bad("short"))?;
    let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    let credential_id = auth_data
        .get(55..55 + len)
        .ok_or_else(|| bad("the credential ID is cut short"))?
        .to_vec();
    let mut rest = &auth_data[55 + len..];
    let key: Value =
        ciborium::de::from_reader(&mut rest).map_err(|_| bad("the public key is not CBOR"))?;
    let (alg, spki) = spki_of(&key).ok_or_else(|| bad("a public key this client cannot read"))?;
    Ok(Attested {
        aaguid,
        credential_id,
        alg,
        spki,
        end: auth_data.len() - rest.len(),
    })
}

/// A COSE_Key (RFC 9053) as DER SubjectPublicKeyInfo, with its algorithm.
fn spki_of(key: &Value) -> Option<(i64, Vec<u8>)> {
    let Value::Map(m) = key else { return None };
    let get = |k: i64| {
        m.iter()
            .find(|(key, _)| key.as_integer() == Some(k.into()))
            .map(|(_, v)| v)
    };
    let alg = i64::try_from(get(3)?.as_integer()?).ok()?;
    let kty = i64::try_from(get(1)?.as_integer()?).ok()?;
    match kty {
        2 => {
            use p256::pkcs8::EncodePublicKey;
            // RFC 9053 §7.1.1, RFC 8812 §3.1: x and y of the curve crv
            // (an SPKI of id-ecPublicKey with the curve's OID, RFC 5480).
            let (x, y) = (get(-2)?.as_bytes()?, get(-3)?.as_bytes()?);
            let point = [&[0x04][..], x, y].concat();
            let crv = i64::try_from(get(-1)?.as_integer()?).ok()?;
            let der = match crv {
                1 => p256::PublicKey::from_sec1_bytes(&point)
                    .ok()?
                    .to_public_key_der(),
                2 => p384::PublicKey::from_sec1_bytes(&point)
                    .ok()?
                    .to_public_key_der(),
                3 => p521::PublicKey::from_sec1_bytes(&point)
                    .ok()?
                    .to_public_key_der(),
                8 => k256::PublicKey::from_sec1_bytes(&point)
                    .ok()?
                    .to_public_key_der(),
                _ => return None,
            };
            Some((alg, der.ok()?.as_bytes().to_vec()))
        }
        // RFC 9964 AKP: the FIPS 204 public key in -1, as an RFC 9881 SPKI.
        7 => {
            use ml_dsa::pkcs8::EncodePublicKey;
            let pk = get(-1)?.as_bytes()?.as_slice();
            let der = match alg {
                -48 => ml_dsa::VerifyingKey::<ml_dsa::MlDsa44>::decode(&pk.try_into().ok()?)
                    .to_public_key_der(),
                -49 => ml_dsa::VerifyingKey::<ml_dsa::MlDsa65>::decode(&pk.try_into().ok()?)
                    .to_public_key_der(),
                -50 => ml_dsa::VerifyingKey::<ml_dsa::MlDsa87>::decode(&pk.try_into().ok()?)
                    .to_public_key_der(),
                _ => return None,
            };
            Some((alg, der.ok()?.as_bytes().to_vec()))
        }
        1 => {
            use ed25519_dalek::pkcs8::EncodePublicKey;
            let x: [u8; 32] = get(-2)?.as_bytes()?.as_slice().try_into().ok()?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).ok()?;
            Some((alg, vk.to_public_key_der().ok()?.as_bytes().to_vec()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
