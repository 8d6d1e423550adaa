//! A typed client of the control API, over the daemon's Unix socket or a
//! loopback TCP address: one HTTP/1.1 connection per request, JSON both
//! ways. Error messages say what to do, naming the `fidosim` command
//! line's `--socket PATH` and `--control ADDR`.

use std::path::PathBuf;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{
    AddDevice, Cleared, CloneDevice, CounterMode, CounterModeChange, CounterSet, Credential,
    CredentialImport, Deleted, DeviceStatus, ErrorAnswer, Fault, FaultRequest, FaultsRemoved,
    Imported, Presence, PresenceChange, Removed, Replugged, Reset, SetCounter, Touched,
};

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Its Unix socket.
    Unix(PathBuf),
    /// A TCP address (`127.0.0.1:8112`).
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "{}", p.display()),
            Self::Tcp(a) => write!(f, "http://{a}"),
        }
    }
}

/// Why a request failed; its text says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// No daemon answers there.
    Unreachable(String),
    /// The daemon refused: its status and message.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The daemon's message.
        message: String,
    },
    /// The answer was cut off, or is not what the request expects.
    Broken(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(m) | Self::Broken(m) => f.write_str(m),
            Self::Refused { status, message } => write!(f, "{message} (HTTP {status})"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Why a connection failed, in a few lowercase words without Rust's
/// "(os error N)".
fn reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => return "no such file or directory".into(),
        K::PermissionDenied => return "permission denied".into(),
        K::ConnectionRefused => return "connection refused".into(),
        _ => {}
    }
    let text = e.to_string();
    let text = text
        .find(" (os error ")
        .map_or(text.as_str(), |i| &text[..i]);
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A client of one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    /// The bearer token the daemon wants on TCP.
    token: Option<String>,
    /// Where the token came from (or was looked for), added to a 401.
    token_note: Option<String>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A credential ID as a path segment: URL-safe base64 without padding.
/// IDs are given in any base64 form and re-encoded by the caller; this
/// only keeps `/`, `+` and `=` out of the path.
fn segment(id: &str) -> String {
    id.replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_owned()
}

impl Client {
    /// A client of the daemon at `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            token: None,
            token_note: None,
        }
    }

    /// The same client, sending `token` as `Authorization: Bearer` (the
    /// daemon wants it on TCP). `note` says where the token came from, or
    /// where it was looked for; it is added to the message of a 401.
    #[must_use]
    pub fn with_token(mut self, token: Option<String>, note: impl Into<String>) -> Self {
        self.token = token;
        self.token_note = Some(note.into());
        self
    }

    /// Where it connects.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn connect(&self) -> Result<Sender, ClientError> {
        let unreachable = |e: std::io::Error| {
            if let (Endpoint::Tcp(a), std::io::ErrorKind::InvalidInput) = (&self.endpoint, e.kind())
            {
                return ClientError::Unreachable(format!(
                    "--control `{a}` is not HOST:PORT; give the daemon's --control-listen address, like 127.0.0.1:8112"
                ));
            }
            ClientError::Unreachable(format!(
                "cannot reach the fidosim daemon at {} ({}): is `fidosim run` running? Start it, or point --socket PATH (or --control ADDR) at the running one",
                self.endpoint,
                reason(&e)
            ))
        };
        let no_http = |e: hyper::Error| {
            ClientError::Unreachable(format!(
                "no HTTP answer from {} ({e}); is it a fidosim control socket? (--socket PATH or --control ADDR)",
                self.endpoint
            ))
        };
        let sender = match &self.endpoint {
            Endpoint::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(unreachable)?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
                    .await
                    .map_err(no_http)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
            Endpoint::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a.as_str())
                    .await
                    .map_err(unreachable)?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
                    .await
                    .map_err(no_http)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
        };
        Ok(sender)
    }

    fn cut_off(&self, e: &hyper::Error) -> ClientError {
        ClientError::Broken(format!(
            "the daemon at {} broke off without a full answer ({e}); see its log, and try again once it runs",
            self.endpoint
        ))
    }

    /// An error answer: the daemon's message (which says what to do), or
    /// a note that the answer had none.
    fn refused(&self, status: StatusCode, body: &[u8]) -> ClientError {
        match serde_json::from_slice::<ErrorAnswer>(body) {
            Ok(e) => ClientError::Refused {
                status: status.as_u16(),
                message: match (&self.token_note, status) {
                    (Some(note), StatusCode::UNAUTHORIZED) => format!("{} ({note})", e.error),
                    _ => e.error,
                },
            },
            Err(_) => ClientError::Broken(format!(
                "{} answered HTTP {} without a message; is it a fidosim daemon? (--socket PATH or --control ADDR)",
                self.endpoint,
                status.as_u16()
            )),
        }
    }

    /// Sends one request; the answer's head and body when it succeeded.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let mut sender = self.connect().await?;
        // On TCP the daemon wants its own address as Host (a defence
        // against DNS rebinding); on the Unix socket any name does.
        let host = match &self.endpoint {
            Endpoint::Unix(_) => "fidosim",
            Endpoint::Tcp(a) => a.as_str(),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .header("content-type", "application/json");
        if let Some(token) = &self.token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Broken(format!("cannot build the request: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.cut_off(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(self.refused(status, &body))
    }

    /// One request with a JSON body (or none), its answer read as `T`.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let bytes = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Broken(format!("cannot write the request: {e}")))?;
        let resp = self.send(method, path, bytes).await?;
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.cut_off(&e))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| {
            ClientError::Broken(format!(
                "{} answered {path} with something other than the control API's JSON ({e}); is it a fidosim daemon of this version?",
                self.endpoint
            ))
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::GET, path, None::<&()>).await
    }

    /// `GET /v1/devices`.
    pub async fn devices(&self) -> Result<Vec<DeviceStatus>, ClientError> {
        self.get("/v1/devices").await
    }

    /// `GET /v1/devices/{device}`.
    pub async fn device(&self, device: &str) -> Result<DeviceStatus, ClientError> {
        self.get(&format!("/v1/devices/{device}")).await
    }

    /// `POST /v1/devices`.
    pub async fn add_device(&self, add: &AddDevice) -> Result<DeviceStatus, ClientError> {
        self.call(Method::POST, "/v1/devices", Some(add)).await
    }

    /// `POST /v1/devices/{device}/clone`.
    pub async fn clone_device(
        &self,
        device: &str,
        clone: &CloneDevice,
    ) -> Result<DeviceStatus, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/devices/{device}/clone"),
            Some(clone),
        )
        .await
    }

    /// `DELETE /v1/devices/{device}`.
    pub async fn remove_device(&self, device: &str) -> Result<Removed, ClientError> {
        self.call(
            Method::DELETE,
            &format!("/v1/devices/{device}"),
            None::<&()>,
        )
        .await
    }

    /// `POST /v1/devices/{device}/replug`.
    pub async fn replug(&self, device: &str) -> Result<Replugged, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/devices/{device}/replug"),
            None::<&()>,
        )
        .await
    }

    /// `POST /v1/devices/{device}/reset`.
    pub async fn reset(&self, device: &str) -> Result<Reset, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/devices/{device}/reset"),
            None::<&()>,
        )
        .await
    }

    /// `PUT /v1/devices/{device}/presence`.
    pub async fn set_presence(
        &self,
        device: &str,
        change: &PresenceChange,
    ) -> Result<Presence, ClientError> {
        self.call(
            Method::PUT,
            &format!("/v1/devices/{device}/presence"),
            Some(change),
        )
        .await
    }

    /// `POST /v1/devices/{device}/touch`.
    pub async fn touch(&self, device: &str) -> Result<Touched, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/devices/{device}/touch"),
            None::<&()>,
        )
        .await
    }

    /// `PUT /v1/devices/{device}/counter-mode`.
    pub async fn set_counter_mode(
        &self,
        device: &str,
        change: &CounterModeChange,
    ) -> Result<CounterMode, ClientError> {
        self.call(
            Method::PUT,
            &format!("/v1/devices/{device}/counter-mode"),
            Some(change),
        )
        .await
    }

    /// `GET /v1/devices/{device}/credentials`.
    pub async fn credentials(&self, device: &str) -> Result<Vec<Credential>, ClientError> {
        self.get(&format!("/v1/devices/{device}/credentials")).await
    }

    /// `GET /v1/devices/{device}/credentials/{id}` (`id` in base64).
    pub async fn credential(&self, device: &str, id: &str) -> Result<Credential, ClientError> {
        self.get(&format!("/v1/devices/{device}/credentials/{}", segment(id)))
            .await
    }

    /// `POST /v1/devices/{device}/credentials`.
    pub async fn import(
        &self,
        device: &str,
        import: &CredentialImport,
    ) -> Result<Imported, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/devices/{device}/credentials"),
            Some(import),
        )
        .await
    }

    /// `DELETE /v1/devices/{device}/credentials/{id}`.
    pub async fn delete_credential(&self, device: &str, id: &str) -> Result<Deleted, ClientError> {
        self.call(
            Method::DELETE,
            &format!("/v1/devices/{device}/credentials/{}", segment(id)),
            None::<&()>,
        )
        .await
    }

    /// `DELETE /v1/devices/{device}/credentials`.
    pub async fn clear_credentials(&self, device: &str) -> Result<Cleared, ClientError> {
        self.call(
            Method::DELETE,
            &format!("/v1/devices/{device}/credentials"),
            None::<&()>,
        )
        .await
    }

    /// `PUT /v1/devices/{device}/credentials/{id}/counter`.
    pub async fn set_counter(
        &self,
        device: &str,
        id: &str,
        sign_count: u32,
    ) -> Result<CounterSet, ClientError> {
        self.call(
            Method::PUT,
            &format!("/v1/devices/{device}/credentials/{}/counter", segment(id)),
            Some(&SetCounter { sign_count }),
        )
        .await
    }

    /// `GET /v1/devices/{device}/faults`.
    pub async fn faults(&self, device: &str) -> Result<Vec<Fault>, ClientError> {
        self.get(&format!("/v1/devices/{device}/faults")).await
    }

    /// `POST /v1/devices/{device}/faults`.
    pub async fn add_fault(
        &self,
        device: &str,
        fault: &FaultRequest,
    ) -> Result<Fault, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/devices/{device}/faults"),
            Some(fault),
        )
        .await
    }

    /// `DELETE /v1/devices/{device}/faults/{id}`.
    pub async fn remove_fault(&self, device: &str, id: u64) -> Result<FaultsRemoved, ClientError> {
        self.call(
            Method::DELETE,
            &format!("/v1/devices/{device}/faults/{id}"),
            None::<&()>,
        )
        .await
    }

    /// `DELETE /v1/devices/{device}/faults`.
    pub async fn clear_faults(&self, device: &str) -> Result<FaultsRemoved, ClientError> {
        self.call(
            Method::DELETE,
            &format!("/v1/devices/{device}/faults"),
            None::<&()>,
        )
        .await
    }

    /// `GET /v1/events`: the stream of events as JSON lines, of one device
    /// or of all.
    pub async fn events(&self, device: Option<&str>) -> Result<EventStream, ClientError> {
        let path = match device {
            Some(d) => format!("/v1/events?device={d}"),
            None => "/v1/events".to_owned(),
        };
        let resp = self.send(Method::GET, &path, None).await?;
        Ok(EventStream {
            body: resp.into_body(),
            endpoint: self.endpoint.clone(),
        })
    }
}

/// The event stream: chunks of JSON lines as the daemon sends them.
#[derive(Debug)]
pub struct EventStream {
    body: Incoming,
    endpoint: Endpoint,
}

impl EventStream {
    /// The next chunk of bytes (whole lines or parts of them); `None` when
    /// the daemon ends the stream.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, ClientError>> {
        loop {
            let frame = match self.body.frame().await? {
                Ok(f) => f,
                Err(e) => {
                    return Some(Err(ClientError::Broken(format!(
                        "the event stream from {} broke off ({e}); the daemon may have stopped: run `fidosim events` again once it is back",
                        self.endpoint
                    ))))
                }
            };
            if let Ok(data) = frame.into_data() {
                return Some(Ok(data));
            }
        }
    }
}
