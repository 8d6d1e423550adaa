//! Who may use the control API. The Unix socket is guarded by its file
//! permissions (directory 0700, socket 0600). TCP has no such guard, so a
//! TCP request must carry the daemon's bearer token and name the listening
//! address in its Host header (which keeps out web pages that reach a
//! loopback port through DNS rebinding). On either transport, a request
//! with an `Origin` or `Sec-Fetch-*` header comes from a browser and is
//! refused: no legitimate client of this API sends them.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use super::ApiError;

/// How many random bytes a generated token has.
const TOKEN_BYTES: usize = 32;

/// The file a generated token is written to, for a daemon whose control
/// socket is `socket`: the socket's path with the extension `.token`
/// (`…/fidosim/control.sock` → `…/fidosim/control.token`). The client
/// finds it the same way from the socket path it would use.
pub fn token_file_beside(socket: &Path) -> PathBuf {
    if socket.extension().is_some_and(|e| e == "token") {
        let mut name = socket.as_os_str().to_owned();
        name.push(".token");
        PathBuf::from(name)
    } else {
        socket.with_extension("token")
    }
}

/// A fresh token: 32 bytes from the operating system's RNG, base64url.
pub fn generate_token() -> Result<String, String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| {
        format!(
            "cannot draw a control token from the operating system's RNG ({e}); \
             give one with --control-token-file PATH"
        )
    })?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Reads a token file: it must exist and hold one line of visible ASCII
/// (a trailing newline is dropped). `flag` names where the path came from,
/// for the messages. With `private`, a file that group or others may read
/// is refused.
pub fn read_token_file(path: &Path, flag: &str, private: bool) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "cannot read the control token file {shown} ({flag}): {}; give the path of an existing file holding the token",
            crate::io_reason(&e)
        )
    })?;
    if !meta.is_file() {
        return Err(format!(
            "the control token file {shown} ({flag}) is not a regular file; give the path of a file holding the token"
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if private && mode & 0o077 != 0 {
        return Err(format!(
            "the control token file {shown} ({flag}) may be read by other users (mode {mode:04o}); \
             restrict it with `chmod 600 {shown}` and start again"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the control token file {shown} ({flag}): {}; make it a readable text file holding the token",
            crate::io_reason(&e)
        )
    })?;
    let token = text.strip_suffix('\n').unwrap_or(&text);
    let token = token.strip_suffix('\r').unwrap_or(token);
    if token.is_empty() {
        return Err(format!(
            "the control token file {shown} ({flag}) is empty; write a token into it (for example `head -c 32 /dev/urandom | base64 > {shown}`)"
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "the control token file {shown} ({flag}) holds more than one line of visible ASCII characters; \
             write the token alone, without spaces, on one line"
        ));
    }
    Ok(token.to_owned())
}

/// Writes a generated token to `path`, readable by the owner only (mode
/// 0600). A file left there by a daemon that did not stop cleanly is
/// replaced; the new file is created afresh, never written through a link.
pub fn write_token_file(path: &Path, token: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let shown = path.display();
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "cannot replace the old control token file {shown}: {}; remove it by hand, or choose --control-socket PATH",
                crate::io_reason(&e)
            ))
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            format!(
                "cannot write the control token file {shown}: {}; choose --control-socket PATH in a directory of yours, or give --control-token-file PATH",
                crate::io_reason(&e)
            )
        })?;
    f.write_all(format!("{token}\n").as_bytes()).map_err(|e| {
        let _ = std::fs::remove_file(path);
        format!(
            "cannot write the control token file {shown}: {}; free some space, or give --control-token-file PATH",
            crate::io_reason(&e)
        )
    })
}

/// The rules one listener applies to its requests.
#[derive(Debug, Clone)]
pub enum Guard {
    /// The Unix socket: its permissions decide who connects.
    Unix,
    /// TCP: the token and the Host header.
    Tcp(Arc<TcpGuard>),
}

/// What a TCP listener checks.
#[derive(Debug)]
pub struct TcpGuard {
    token: String,
    listen: SocketAddr,
    /// Where the token is, for the 401 message.
    token_file: PathBuf,
}

impl Guard {
    /// The guard of a TCP listener on `listen` with `token`, which is kept
    /// in `token_file`.
    pub fn tcp(listen: SocketAddr, token: String, token_file: PathBuf) -> Self {
        Self::Tcp(Arc::new(TcpGuard {
            token,
            listen,
            token_file,
        }))
    }
}

/// The middleware: refuses a request that fails its listener's rules,
/// before any handler sees it.
pub(crate) async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    match admit(&guard, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

/// Whether the request may go on; the refusal otherwise.
fn admit(guard: &Guard, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        return Err(forbidden(format!(
            "the control API does not answer web pages (this request came with Origin: {}); \
             use the fidosim CLI, curl or a rig helper, which send no Origin header",
            String::from_utf8_lossy(origin.as_bytes()).escape_debug()
        )));
    }
    for name in ["sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest"] {
        if headers.contains_key(name) {
            return Err(forbidden(format!(
                "the control API does not answer browsers (this request came with a {name} header); \
                 use the fidosim CLI, curl or a rig helper"
            )));
        }
    }
    let Guard::Tcp(tcp) = guard else {
        return Ok(());
    };
    check_host(tcp, headers)?;
    check_token(tcp, headers)
}

fn check_host(tcp: &TcpGuard, headers: &HeaderMap) -> Result<(), ApiError> {
    let port = tcp.listen.port();
    let expected = format!("Host: {}", tcp.listen);
    let Some(host) = headers.get(header::HOST) else {
        return Err(forbidden(format!(
            "the request has no Host header; send `{expected}` (or localhost:{port})"
        )));
    };
    let text = String::from_utf8_lossy(host.as_bytes());
    if host_matches(&text, tcp.listen) {
        return Ok(());
    }
    Err(forbidden(format!(
        "the control API answers only requests addressed to it: Host `{}` is not this daemon's \
         address; send `{expected}` (or localhost:{port}, 127.0.0.1:{port}, [::1]:{port})",
        text.escape_debug()
    )))
}

/// Whether a Host header names the listening address: `localhost`,
/// `127.0.0.1`, `[::1]` or the listening IP, with the listening port (80 when
/// the header has none). A daemon listening on an unspecified address
/// (`0.0.0.0`, `[::]`, with --allow-remote) takes any IP address; never a
/// name other than `localhost`, which is what DNS rebinding needs.
fn host_matches(host: &str, listen: SocketAddr) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let (name, port) = match host.rsplit_once(':') {
        // `[::1]:8112`, `127.0.0.1:8112`, `localhost:8112`; a bare IPv6
        // literal without brackets is no Host header.
        Some((name, port)) if !name.contains(':') || name.ends_with(']') => {
            match port.parse::<u16>() {
                Ok(p) => (name.to_owned(), p),
                Err(_) => return false,
            }
        }
        Some(_) => return false,
        None => (host, 80),
    };
    if port != listen.port() {
        return false;
    }
    if name == "localhost" {
        return true;
    }
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(&name);
    let Ok(ip) = bare.parse::<IpAddr>() else {
        return false;
    };
    if name.contains(':') != name.starts_with('[') {
        return false;
    }
    ip.is_loopback() || ip == listen.ip() || listen.ip().is_unspecified()
}

fn check_token(tcp: &TcpGuard, headers: &HeaderMap) -> Result<(), ApiError> {
    let where_ = format!(
        "the token is in {} (or in the file given to the daemon's --control-token-file); \
         the fidosim CLI reads it by itself (--control-token-file PATH or FIDOSIM_CONTROL_TOKEN_FILE \
         name another file), other clients send `Authorization: Bearer TOKEN`",
        tcp.token_file.display()
    );
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!("the control API on TCP needs its token; {where_}"),
        ));
    };
    let given = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .unwrap_or("");
    let right: bool = given.as_bytes().ct_eq(tcp.token.as_bytes()).into();
    if right {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "wrong control token (or not `Authorization: Bearer TOKEN`); {where_}; \
                 a daemon that generates its token makes a new one at each start"
            ),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_the_listening_address_only() {
        let l: SocketAddr = "127.0.0.1:8112".parse().unwrap();
        for ok in [
            "127.0.0.1:8112",
            "localhost:8112",
            "LOCALHOST:8112",
            "[::1]:8112",
        ] {
            assert!(host_matches(ok, l), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8112",
            "127.0.0.1:8113",
            "127.0.0.1",
            "localhost",
            "::1:8112",
            "[::1]",
            "10.0.0.1:8112",
            "127.0.0.1.nip.io:8112",
            "",
        ] {
            assert!(!host_matches(bad, l), "{bad}");
        }
        let any: SocketAddr = "0.0.0.0:8112".parse().unwrap();
        assert!(host_matches("192.168.1.5:8112", any));
        assert!(!host_matches("rebind.example:8112", any));
    }

    #[test]
    fn token_file_sits_beside_the_socket() {
        assert_eq!(
            token_file_beside(Path::new("/run/user/1/fidosim/control.sock")),
            Path::new("/run/user/1/fidosim/control.token")
        );
        assert_eq!(
            token_file_beside(Path::new("/tmp/x.token")),
            Path::new("/tmp/x.token.token")
        );
    }

    #[test]
    fn generated_tokens_differ_and_are_header_safe() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
