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

fn credential_rows(list: &[Value]) {
    let mut rows = vec![vec![
        "CREDENTIAL ID".to_owned(),
        "RP".into(),
        "USER".into(),
        "RESIDENT".into(),
        "COUNTER".into(),
    ]];
    for c in list {
        let id = creds::unb64("", c["credentialId"].as_str().unwrap_or(""))
            .map(|b| creds::b64url(&b))
            .unwrap_or_default();
        rows.push(vec![
            id,
            s(&c["rpId"]),
            s(&c["userName"]),
            s(&c["isResidentCredential"]),
            s(&c["signCount"]),
        ]);
    }
    table(&rows);
}

/// Where `credentials import` reads from, for messages.
fn source_name(file: &str) -> String {
    if file == "-" {
        "standard input".to_owned()
    } else {
        file.to_owned()
    }
}

fn read_input(file: &str) -> Result<Value, Error> {
    let text = if file == "-" {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut t).map_err(|e| {
            Error::Runtime(format!(
                "cannot read standard input: {}; give the credentials file's path instead of -",
                crate::run::io_reason(&e)
            ))
        })?;
        t
    } else {
        std::fs::read_to_string(file).map_err(|e| {
            Error::Runtime(format!(
                "cannot read the credentials file {file}: {}; give the path of a JSON file, or - for standard input",
                crate::run::io_reason(&e)
            ))
        })?
    };
    serde_json::from_str(&text).map_err(|e| {
        Error::Runtime(format!(
            "{}: not JSON ({e}); give a credential object or an array of them, as `fidosim credentials export` writes",
            source_name(file)
        ))
    })
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

pub(crate) async fn devices(a: ClientArgs, cmd: DeviceCmd) -> Result<(), Error> {
    let t = Target::of(&a)?;
    match cmd {
        DeviceCmd::List => {
            let v = call(&t, Method::GET, "/v1/devices", None).await?;
            if a.json {
                print_json(&v);
                return Ok(());
            }
            let mut rows = vec![vec![
                "NAME".to_owned(),
                "TRANSPORT".into(),
                "PRESENCE".into(),
                "UV".into(),
                "CREDENTIALS".into(),
                "STATE".into(),
            ]];
            for d in v.as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&d["name"]),
                    s(&d["transport"]),
                    s(&d["presence"]),
                    s(&d["uv"]),
                    s(&d["storedCredentials"]),
                    s(&d["state"]),
                ]);
            }
            table(&rows);
        }
        DeviceCmd::Status => {
            let v = call(&t, Method::GET, &format!("/v1/devices/{}", a.dev()), None).await?;
            if a.json {
                print_json(&v);
                return Ok(());
            }
            let mut rows = Vec::new();
            for (k, val) in v.as_object().into_iter().flatten() {
                rows.push(vec![k.clone(), s(val)]);
            }
            table(&rows);
        }
        DeviceCmd::Replug => {
            let v = call(
                &t,
                Method::POST,
                &format!("/v1/devices/{}/replug", a.dev()),
                None,
            )
            .await?;
            output(&a, &v, &format!("{} replugged", a.dev()));
        }
        DeviceCmd::Reset => {
            let v = call(
                &t,
                Method::POST,
                &format!("/v1/devices/{}/reset", a.dev()),
                None,
            )
            .await?;
            output(
                &a,
                &v,
                &format!(
                    "{}: every credential, the PIN and the settings are gone",
                    a.dev()
                ),
            );
        }
        DeviceCmd::Add { name, settings } => {
            let mut obj = serde_json::Map::new();
            for kv in &settings {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    Error::Runtime(format!("--set {kv}: give KEY=VALUE, like transport=udp"))
                })?;
                let value = match v {
                    "true" => json!(true),
                    "false" => json!(false),
                    v if v.contains(',') => json!(v.split(',').collect::<Vec<_>>()),
                    v => json!(v),
                };
                obj.insert(k.trim_start_matches("--").to_owned(), value);
            }
            let v = call(
                &t,
                Method::POST,
                "/v1/devices",
                Some(json!({ "name": name, "settings": obj })),
            )
            .await?;
            output(
                &a,
                &v,
                &format!("{name} is plugged in ({})", s(&v["address"])),
            );
        }
        DeviceCmd::Remove => {
            let v = call(
                &t,
                Method::DELETE,
                &format!("/v1/devices/{}", a.dev()),
                None,
            )
            .await?;
            output(&a, &v, &format!("{} is unplugged", a.dev()));
        }
        DeviceCmd::Clone {
            name,
            credentials,
            counter_offset,
            clone_state,
        } => {
            let mut body = json!({ "name": name, "counterOffset": counter_offset });
            if !credentials.is_empty() {
                body["credentials"] = json!(credentials);
            }
            if let Some(st) = clone_state {
                body["state"] = json!(st);
            }
            // One request; how many credentials it copies decides whether
            // it is worth a progress line.
            let many = if credentials.is_empty() {
                let st = call(&t, Method::GET, &format!("/v1/devices/{}", a.dev()), None).await?;
                st["storedCredentials"].as_u64().unwrap_or(0) as usize
            } else {
                credentials.len()
            };
            let progress = announce(
                "devices clone",
                many,
                format!("copying {many} credentials from {} to {name}", a.dev()),
            );
            let v = call(
                &t,
                Method::POST,
                &format!("/v1/devices/{}/clone", a.dev()),
                Some(body),
            )
            .await;
            settle(
                progress,
                &format!("{many} credentials"),
                v.is_ok(),
                "cloned",
            );
            let v = v?;
            output(
                &a,
                &v,
                &format!(
                    "{name}: a clone of {} with {} credential(s), plugged in ({})",
                    a.dev(),
                    s(&v["storedCredentials"]),
                    s(&v["address"])
                ),
            );
        }
    }
    Ok(())
}

fn output(a: &ClientArgs, v: &Value, human: &str) {
    if a.json {
        print_json(v);
    } else {
        out!("{human}");
    }
}

pub(crate) async fn credentials(a: ClientArgs, cmd: CredentialCmd) -> Result<(), Error> {
    if let Some(path) = a.state.clone() {
        return offline_credentials(&a, path, cmd);
    }
    let t = Target::of(&a)?;
    let base = format!("/v1/devices/{}/credentials", a.dev());
    match cmd {
        CredentialCmd::List => {
            let v = call(&t, Method::GET, &base, None).await?;
            if a.json {
                print_json(&v);
            } else {
                credential_rows(v.as_array().map(Vec::as_slice).unwrap_or_default());
            }
        }
        CredentialCmd::Show { id } | CredentialCmd::Export { id: Some(id) } => {
            let v = call(&t, Method::GET, &format!("{base}/{}", id_path(&id)?), None).await?;
            print_json(&v);
        }
        CredentialCmd::Export { id: None } => {
            print_json(&call(&t, Method::GET, &base, None).await?);
        }
        CredentialCmd::Import { file } => {
            let body = read_input(&file)?;
            // One request: the daemon answers when all are stored (or none).
            let many = body.as_array().map_or(0, Vec::len);
            let progress = announce(
                "credentials import",
                many,
                format!("sending {many} credentials to {}", a.dev()),
            );
            let v = call(&t, Method::POST, &base, Some(body)).await;
            settle(
                progress,
                &format!("{many} credentials"),
                v.is_ok(),
                "imported",
            );
            let v = v?;
            let n = v["imported"].as_array().map_or(0, Vec::len);
            output(
                &a,
                &v,
                &format!("imported {n} credential(s) into {}", a.dev()),
            );
        }
        CredentialCmd::Delete { id } => {
            let v = call(
                &t,
                Method::DELETE,
                &format!("{base}/{}", id_path(&id)?),
                None,
            )
            .await?;
            output(&a, &v, &format!("deleted {id}"));
        }
        CredentialCmd::Clear => {
            let v = call(&t, Method::DELETE, &base, None).await?;
            output(
                &a,
                &v,
                &format!("deleted {} credential(s)", s(&v["deleted"])),
            );
        }
    }
    Ok(())
}

pub(crate) async fn counters(a: ClientArgs, cmd: CounterCmd) -> Result<(), Error> {
    let (id, value) = match cmd {
        CounterCmd::Set { id, value } => (id, value),
        CounterCmd::Mode { mode, overflow } => {
            if a.state.is_some() {
                return Err(Error::Runtime(
                    "the counter mode is a setting of a running key (--counter of `fidosim run`), not of a state file; drop --state to change it on the running daemon"
                        .into(),
                ));
            }
            let mut body = json!({ "mode": mode });
            if let Some(o) = overflow {
                body["overflow"] = json!(o);
            }
            let v = call(
                &Target::of(&a)?,
                Method::PUT,
                &format!("/v1/devices/{}/counter-mode", a.dev()),
                Some(body),
            )
            .await?;
            output(
                &a,
                &v,
                &format!(
                    "counters of {}: {}, {} at 2^32-1",
                    a.dev(),
                    s(&v["mode"]),
                    s(&v["overflow"])
                ),
            );
            return Ok(());
        }
    };
    if let Some(path) = a.state.clone() {
        let bytes = parse_id(&id)?;
        let mut store = open_offline(&path, false)?;
        if store.get(&bytes).ok().flatten().is_none() {
            return Err(not_in_file(&id, &path));
        }
        let scope = creds::counter_scope(&DeviceConfig::default(), &bytes);
        store
            .set_counter(scope, value)
            .map_err(|e| file_failed("write", &path, &e))?;
        let v = json!({ "credentialId": creds::b64(&bytes), "signCount": value });
        output(&a, &v, &format!("counter of {id} set to {value}"));
        return Ok(());
    }
    let t = Target::of(&a)?;
    let v = call(
        &t,
        Method::PUT,
        &format!(
            "/v1/devices/{}/credentials/{}/counter",
            a.dev(),
            id_path(&id)?
        ),
        Some(json!({ "signCount": value })),
    )
    .await?;
    output(&a, &v, &format!("counter of {id} set to {value}"));
    Ok(())
}

pub(crate) async fn presence(a: ClientArgs, cmd: PresenceCmd) -> Result<(), Error> {
    let t = Target::of(&a)?;
    let (path, body, what) = match &cmd {
        PresenceCmd::Set { mode } => (
            format!("/v1/devices/{}/presence", a.dev()),
            Some(json!({ "presence": mode })),
            format!("presence of {} is now {mode}", a.dev()),
        ),
        PresenceCmd::Uv { outcome } => (
            format!("/v1/devices/{}/presence", a.dev()),
            Some(json!({ "uv": outcome })),
            format!("built-in UV of {} will {outcome}", a.dev()),
        ),
        PresenceCmd::Touch => (
            format!("/v1/devices/{}/touch", a.dev()),
            None,
            format!("touched {}", a.dev()),
        ),
    };
    let method = if matches!(cmd, PresenceCmd::Touch) {
        Method::POST
    } else {
        Method::PUT
    };
    let v = call(&t, method, &path, body).await?;
    output(&a, &v, &what);
    Ok(())
}

/// `NAME=VALUE` of `faults add --param`: a whole number or true/false as
/// such, anything else as a string.
fn fault_param(p: &str) -> Result<(String, Value), Error> {
    let (k, v) = p
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| {
            Error::Runtime(format!(
                "--param `{p}` is not NAME=VALUE (like status=0x27 or ms=500)"
            ))
        })?;
    let value = match v {
        "true" => json!(true),
        "false" => json!(false),
        _ => v.parse::<u64>().map_or_else(|_| json!(v), |n| json!(n)),
    };
    Ok((k.to_owned(), value))
}

fn fault_rows(list: &[Value]) {
    let mut rows = vec![vec![
        "ID".to_owned(),
        "COMMAND".into(),
        "KIND".into(),
        "PARAMS".into(),
        "STICKY".into(),
        "FIRED".into(),
    ]];
    for f in list {
        let params: Vec<String> = f["params"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", s(v)))
            .collect();
        rows.push(vec![
            s(&f["id"]),
            s(&f["command"]),
            s(&f["kind"]),
            if params.is_empty() {
                "-".into()
            } else {
                params.join(" ")
            },
            s(&f["sticky"]),
            s(&f["fired"]),
        ]);
    }
    table(&rows);
}

pub(crate) async fn faults(a: ClientArgs, cmd: FaultCmd) -> Result<(), Error> {
    if a.state.is_some() {
        return Err(Error::Runtime(
            "faults live in a running daemon only; drop --state".into(),
        ));
    }
    let t = Target::of(&a)?;
    let base = format!("/v1/devices/{}/faults", a.dev());
    match cmd {
        FaultCmd::List => {
            let v = call(&t, Method::GET, &base, None).await?;
            if a.json {
                print_json(&v);
            } else if v.as_array().is_none_or(Vec::is_empty) {
                out!("no faults pending on {}", a.dev());
            } else {
                fault_rows(v.as_array().map(Vec::as_slice).unwrap_or_default());
            }
        }
        FaultCmd::Add {
            kind,
            command,
            params,
            sticky,
        } => {
            let params = params
                .iter()
                .map(|p| fault_param(p))
                .collect::<Result<serde_json::Map<_, _>, _>>()?;
            let body =
                json!({ "command": command, "kind": kind, "params": params, "sticky": sticky });
            let v = call(&t, Method::POST, &base, Some(body)).await?;
            let when = if sticky { "every" } else { "the next" };
            let which = if command == "any" {
                String::new()
            } else {
                format!("{command} ")
            };
            output(
                &a,
                &v,
                &format!(
                    "fault {} added: {kind} on {when} {which}request to {}",
                    s(&v["id"]),
                    a.dev()
                ),
            );
        }
        FaultCmd::Remove { id } => {
            let v = call(&t, Method::DELETE, &format!("{base}/{id}"), None).await?;
            output(&a, &v, &format!("removed fault {id}"));
        }
        FaultCmd::Clear => {
            let v = call(&t, Method::DELETE, &base, None).await?;
            output(&a, &v, &format!("removed {} fault(s)", s(&v["removed"])));
        }
    }
    Ok(())
}

/// Streams events as JSON lines until the daemon goes away.
pub(crate) async fn events(a: ClientArgs) -> Result<(), Error> {
    let t = Target::of(&a)?;
    let mut sender = connect(&t).await?;
    let path = if a.device.is_some() {
        format!("/v1/events?device={}", a.dev())
    } else {
        "/v1/events".to_owned()
    };
    let req = Request::builder()
        .uri(path)
        .header("host", "fidosim")
        .body(Full::new(Bytes::new()))
        .map_err(|e| Error::Runtime(format!("cannot build the request: {e}")))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| no_answer(&t, &e))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(refused(&t, status, &body));
    }
    let mut body = resp.into_body();
    let mut out = std::io::stdout();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Error::Runtime(format!(
                "the event stream from {} broke off ({e}); the daemon may have stopped: run `fidosim events` again once it is back",
                t.describe()
            ))
        })?;
        if let Some(data) = frame.data_ref() {
            // The reader went away (`| head`): done.
            if out.write_all(data).and_then(|()| out.flush()).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
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

/// Credential commands on a state file, without a daemon (the file must
/// not be in use). The device settings are the defaults.
fn offline_credentials(a: &ClientArgs, path: PathBuf, cmd: CredentialCmd) -> Result<(), Error> {
    let create = matches!(cmd, CredentialCmd::Import { .. });
    let mut store = open_offline(&path, create)?;
    let config = DeviceConfig::default();
    let rt = |e: creds::CredError| Error::Runtime(e.to_string());
    let list = |store: &DurableStore| -> Result<Vec<CredentialJson>, Error> {
        store
            .all_stored()
            .map_err(|e| file_failed("read", &path, &e))?
            .iter()
            .map(|c| creds::to_json(c, &config, store).map_err(rt))
            .collect()
    };
    let find = |store: &DurableStore, id: &str| -> Result<CredentialJson, Error> {
        let bytes = parse_id(id)?;
        let c = store
            .get(&bytes)
            .ok()
            .flatten()
            .ok_or_else(|| not_in_file(id, &path))?;
        creds::to_json(&c, &config, store).map_err(rt)
    };
    match cmd {
        CredentialCmd::List => {
            let v = json!(list(&store)?);
            if a.json {
                print_json(&v);
            } else {
                credential_rows(v.as_array().map(Vec::as_slice).unwrap_or_default());
            }
        }
        CredentialCmd::Show { id } | CredentialCmd::Export { id: Some(id) } => {
            print_json(&json!(find(&store, &id)?));
        }
        CredentialCmd::Export { id: None } => print_json(&json!(list(&store)?)),
        CredentialCmd::Import { file } => {
            let body = read_input(&file)?;
            let items: Vec<CredentialJson> = match body {
                Value::Array(_) => serde_json::from_value(body),
                other => serde_json::from_value(other).map(|c| vec![c]),
            }
            .map_err(|e| {
                Error::Runtime(format!(
                    "{}: not a credential ({e}); give Chrome DevTools' WebAuthn.Credential shape (credentialId, isResidentCredential, rpId, privateKey, …), as `fidosim credentials export` writes",
                    source_name(&file)
                ))
            })?;
            let mut progress = (items.len() >= MANY).then(|| {
                let mut p = Progress::coarse("credentials import", items.len());
                p.start("importing");
                p
            });
            let result = creds::import_all(&mut store, &config, &items, 0, &mut |id| {
                if let Some(p) = progress.as_mut() {
                    p.done(&creds::b64(id), "imported");
                    p.start("importing");
                }
            });
            if let Some(p) = progress.as_mut() {
                p.finish();
            }
            let n = result
                .map_err(|e| {
                    Error::Runtime(format!("{}: {e}; nothing was imported", source_name(&file)))
                })?
                .len();
            output(
                a,
                &json!({ "imported": n }),
                &format!("imported {n} credential(s)"),
            );
        }
        CredentialCmd::Delete { id } => {
            let bytes = parse_id(&id)?;
            let gone = store
                .delete(&bytes)
                .map_err(|e| file_failed("write", &path, &e))?;
            if !gone {
                return Err(not_in_file(&id, &path));
            }
            output(a, &json!({ "deleted": id }), &format!("deleted {id}"));
        }
        CredentialCmd::Clear => {
            let all = list(&store)?;
            for c in &all {
                let bytes = creds::unb64("", &c.credential_id).map_err(rt)?;
                store
                    .delete(&bytes)
                    .map_err(|e| file_failed("write", &path, &e))?;
            }
            output(
                a,
                &json!({ "deleted": all.len() }),
                &format!("deleted {} credential(s)", all.len()),
            );
        }
    }
    Ok(())
}
