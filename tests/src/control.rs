//! A small client for the daemon's control API on its Unix socket, written
//! with plain HTTP/1.1 on a `UnixStream` rather than the daemon's own client
//! code, so that the tests check the wire format of docs/control-api.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one read on the socket may block.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn connect(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock)
        .unwrap_or_else(|e| panic!("control socket {}: {e}", sock.display()));
    s.set_read_timeout(Some(READ_TIMEOUT))
        .unwrap_or_else(|e| panic!("set_read_timeout: {e}"));
    s
}

/// One request with a raw body (which may be malformed on purpose):
/// the status and the body of the answer.
pub fn http(sock: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = connect(sock);
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: fidosim\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let mut raw = String::new();
    s.read_to_string(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {path}: reading the answer: {e}"));
    let (head, rest) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no HTTP head in {raw:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: bad status line in {head:?}"));
    (status, rest.to_owned())
}

/// [`http`] with the answer parsed as JSON (`Null` when it is not JSON).
pub fn request(sock: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, text) = http(sock, method, path, body);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A JSON request and its JSON answer.
pub fn api(sock: &Path, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    request(sock, method, path, body.map(|v| v.to_string()).as_deref())
}

/// The event stream (`GET /v1/events`), subscribed: events that happen
/// after [`Events::follow`] returns are all seen.
pub struct Events {
    reader: BufReader<UnixStream>,
    /// The status line of the answer.
    pub status_line: String,
}

impl Events {
    /// Follows the events; `query` is appended to the path (`?device=NAME`).
    pub fn follow(sock: &Path, query: &str) -> Events {
        let mut s = connect(sock);
        write!(s, "GET /v1/events{query} HTTP/1.1\r\nHost: fidosim\r\n\r\n")
            .unwrap_or_else(|e| panic!("GET /v1/events: {e}"));
        let mut reader = BufReader::new(s);
        let mut status_line = String::new();
        // The head arrives once the daemon has subscribed.
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => panic!("GET /v1/events: the head ended early"),
                Ok(_) if line == "\r\n" => break,
                Ok(_) if status_line.is_empty() => status_line = line.trim_end().to_owned(),
                Ok(_) => {}
            }
        }
        Events {
            reader,
            status_line,
        }
    }

    /// The next event, or `None` when none came before `deadline`.
    pub fn next_before(&mut self, deadline: Instant) -> Option<Value> {
        while Instant::now() < deadline {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {
                    // Chunk-size lines of the chunked body are not JSON.
                    if let Ok(v) = serde_json::from_str::<Value>(line.trim()) {
                        if v.is_object() {
                            return Some(v);
                        }
                    }
                }
                Err(_) => {} // a read timeout: check the deadline again
            }
        }
        None
    }
}

/// Runs the `fidosim` binary `bin` with `args` and `--socket sock`: the exit
/// status, standard output and standard error.
pub fn cli(bin: &Path, sock: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin)
        .args(args)
        .arg("--socket")
        .arg(sock)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
