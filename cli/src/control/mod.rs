//! The control API's client: `fidosim devices|credentials|counters|presence|
//! faults|events …`. Talks HTTP/1.1 to the daemon's Unix socket (or a
//! loopback TCP address); credential and counter commands with `--state
//! FILE` work on a state file directly, with no daemon.

use std::io::Write as _;
use std::path::PathBuf;

use authenticator_core::{CredentialStore, DeviceConfig};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::args::{ClientArgs, CounterCmd, CredentialCmd, DeviceCmd, FaultCmd, PresenceCmd};
use crate::progress::Progress;
use crate::run::Error;
use fidosim_daemon::creds::{self, CredentialJson};
use fidosim_store::DurableStore;

mod counters;
mod credentials;
mod devices;
mod faults;
mod presence;

pub(crate) use counters::counters;
pub(crate) use credentials::credentials;
pub(crate) use devices::devices;
pub(crate) use faults::faults;
pub(crate) use presence::{events, presence};

/// From this many credentials on, an import or a clone shows its progress.
const MANY: usize = 100;

/// A single long request that moves `n` credentials: from [`MANY`] on, a
/// line (or a bar on a terminal) saying `what` while it runs.
fn announce(label: &'static str, n: usize, what: String) -> Option<Progress> {
    (n >= MANY).then(|| {
        let mut p = Progress::new(label, 1);
        p.start(&what);
        p
    })
}

/// The end of an [`announce`]d request.
fn settle(progress: Option<Progress>, what: &str, ok: bool, verdict: &str) {
    if let Some(mut p) = progress {
        p.done(what, if ok { verdict } else { "refused" });
        p.finish();
    }
}

/// Where the daemon listens.
enum Target {
    Unix(PathBuf),
    Tcp(String),
}

impl Target {
    /// The daemon the command talks to; a --device that cannot name a key
    /// is refused here, before it becomes part of a URL.
    fn of(a: &ClientArgs) -> Result<Self, Error> {
        if let Some(name) = &a.device {
            if fidosim_daemon::config::check_device_name(name).is_err() {
                return Err(Error::Runtime(format!(
                    "--device `{}` is not a device name (letters, digits, `.`, `_` and `-`); `fidosim devices list` shows the running keys",
                    name.escape_debug()
                )));
            }
        }
        Ok(match &a.control {
            Some(addr) => Self::Tcp(
                addr.trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_owned(),
            ),
            None => Self::Unix(
                a.socket
                    .clone()
                    .unwrap_or_else(fidosim_daemon::api::default_socket),
            ),
        })
    }

    fn describe(&self) -> String {
        match self {
            Self::Unix(p) => p.display().to_string(),
            Self::Tcp(a) => format!("http://{a}"),
        }
    }
}

/// A connection's send half, whichever the transport.
async fn connect(
    target: &Target,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, Error> {
    let unreachable = |e: std::io::Error| {
        if let (Target::Tcp(a), std::io::ErrorKind::InvalidInput) = (target, e.kind()) {
            return Error::Runtime(format!(
                "--control `{a}` is not HOST:PORT; give the daemon's --control-listen address, like 127.0.0.1:8112"
            ));
        }
        Error::Runtime(format!(
            "cannot reach the fidosim daemon at {} ({}): is `fidosim run` running? Start it, or point --socket PATH (or --control ADDR) at the running one",
            target.describe(),
            crate::run::io_reason(&e)
        ))
    };
    macro_rules! handshake {
        ($stream:expr) => {{
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($stream))
                .await
                .map_err(|e| {
                    Error::Runtime(format!(
                        "no HTTP answer from {} ({e}); is it a fidosim control socket? (--socket PATH or --control ADDR)",
                        target.describe()
                    ))
                })?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            sender
        }};
    }
    Ok(match target {
        Target::Unix(p) => handshake!(tokio::net::UnixStream::connect(p)
            .await
            .map_err(unreachable)?),
        Target::Tcp(a) => handshake!(tokio::net::TcpStream::connect(a.as_str())
            .await
            .map_err(unreachable)?),
    })
}

/// One request; the answer's JSON, or the daemon's error message.
async fn call(
    target: &Target,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Error> {
    let mut sender = connect(target).await?;
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "fidosim")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| Error::Runtime(format!("cannot build the request: {e}")))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| no_answer(target, &e))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| no_answer(target, &e))?
        .to_bytes();
    if status.is_success() {
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    } else {
        Err(refused(target, status, &body))
    }
}

/// The daemon went away before it answered in full.
fn no_answer(target: &Target, e: &hyper::Error) -> Error {
    Error::Runtime(format!(
        "the daemon at {} broke off without a full answer ({e}); see its log, and try again once it runs",
        target.describe()
    ))
}

/// An error answer: the daemon's message (which says what to do), or a
/// note that the answer had none.
fn refused(target: &Target, status: hyper::StatusCode, body: &[u8]) -> Error {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match v["error"].as_str() {
        Some(msg) => Error::Runtime(format!("{msg} (HTTP {})", status.as_u16())),
        None => Error::Runtime(format!(
            "{} answered HTTP {} without a message; is it a fidosim daemon? (--socket PATH or --control ADDR)",
            target.describe(),
            status.as_u16()
        )),
    }
}

fn print_json(v: &Value) {
    out!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn table(rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out!("{}", line.join("  ").trim_end());
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A credential ID from the command line, in any base64 form.
fn parse_id(id: &str) -> Result<Vec<u8>, Error> {
    creds::unb64("credential id", id).map_err(|_| {
        Error::Runtime(format!(
            "credential id `{}` is not base64; give it as `fidosim credentials list` shows it",
            id.escape_debug()
        ))
    })
}

fn id_path(id: &str) -> Result<String, Error> {
    Ok(creds::b64url(&parse_id(id)?))
}

/// No credential `id` in the state file at `path`.
fn not_in_file(id: &str, path: &std::path::Path) -> Error {
    Error::Runtime(format!(
        "no stored credential {id} in {}; `fidosim credentials list --state {}` shows the stored ones",
        path.display(),
        path.display()
    ))
}

/// A state file that could not be read or written.
fn file_failed(what: &str, path: &std::path::Path, e: &dyn std::fmt::Debug) -> Error {
    Error::Runtime(format!(
        "cannot {what} the state file {} ({e:?}); nothing was changed: check that it is not in use and that its disk has room",
        path.display()
    ))
}

fn output(a: &ClientArgs, v: &Value, human: &str) {
    if a.json {
        print_json(v);
    } else {
        out!("{human}");
    }
}

/// Opens a state file for an offline command. Only an import may create
/// it: a mistyped path elsewhere would otherwise leave a new, empty file.
fn open_offline(path: &std::path::Path, create: bool) -> Result<DurableStore, Error> {
    if !create && !path.exists() {
        return Err(Error::Runtime(format!(
            "no state file at {}; check the path (`fidosim run --state PATH` or \
             `fidosim credentials import FILE --state PATH` creates one)",
            path.display()
        )));
    }
    DurableStore::open(path).map_err(|e| Error::Runtime(e.to_string()))
}
