//! The control API's client: `fidosim devices|credentials|counters|presence|
//! faults|events …`. Talks HTTP/1.1 to the daemon's Unix socket (or a
//! loopback TCP address); credential and counter commands with `--state
//! FILE` work on a state file directly, with no daemon.

use std::io::Write as _;
use std::path::PathBuf;

use authenticator_core::{CredentialStore, DeviceConfig};
use fidosim_control_api::{self as api, Client, ClientError, Endpoint};
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

/// The daemon a command talks to; a --device that cannot name a key is
/// refused here, before it becomes part of a URL.
fn client(a: &ClientArgs) -> Result<Client, Error> {
    if let Some(name) = &a.device {
        if fidosim_daemon::config::check_device_name(name).is_err() {
            return Err(Error::Runtime(format!(
                "--device `{}` is not a device name (letters, digits, `.`, `_` and `-`); `fidosim devices list` shows the running keys",
                name.escape_debug()
            )));
        }
    }
    let Some(addr) = &a.control else {
        return Ok(Client::new(Endpoint::Unix(
            a.socket
                .clone()
                .unwrap_or_else(fidosim_daemon::api::default_socket),
        )));
    };
    let endpoint = Endpoint::Tcp(
        addr.trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned(),
    );
    let (token, note) = tcp_token(a.control_token_file.as_deref())?;
    Ok(Client::new(endpoint).with_token(token, note))
}

/// The token for the daemon's TCP control API, and a note for a 401 saying
/// where it came from. A file the user named must hold one; the default
/// file beside the default socket may be missing (the daemon then says
/// the token is needed).
fn tcp_token(given: Option<&std::path::Path>) -> Result<(Option<String>, String), Error> {
    use fidosim_daemon::api::guard;
    if let Some(path) = given {
        let token = guard::read_token_file(
            path,
            "--control-token-file or FIDOSIM_CONTROL_TOKEN_FILE",
            false,
        )
        .map_err(Error::Runtime)?;
        return Ok((
            Some(token),
            format!(
                "the token was read from {}; give the daemon's token file with --control-token-file PATH",
                path.display()
            ),
        ));
    }
    let default = guard::token_file_beside(&fidosim_daemon::api::default_socket());
    if !default.exists() {
        return Ok((
            None,
            format!(
                "no token sent: there is no {}; give the daemon's token file with --control-token-file PATH (or FIDOSIM_CONTROL_TOKEN_FILE)",
                default.display()
            ),
        ));
    }
    let token = guard::read_token_file(&default, "the default token file", false)
        .map_err(Error::Runtime)?;
    Ok((
        Some(token),
        format!(
            "the token was read from {}; give the daemon's token file with --control-token-file PATH (or FIDOSIM_CONTROL_TOKEN_FILE)",
            default.display()
        ),
    ))
}

/// The command's failure, with the client's message.
fn failed(e: ClientError) -> Error {
    Error::Runtime(e.to_string())
}

/// An answer as JSON, for `--json` and the tables.
fn to_json(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
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
