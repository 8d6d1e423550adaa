//! Who may use the control API: TCP needs the daemon's bearer token and
//! its own address as Host; requests from browsers (Origin, Sec-Fetch-*)
//! are refused on TCP and on the Unix socket; a refused request changes
//! nothing; the CLI finds the token by itself; token files that cannot be
//! used are clear errors.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fidosim_tests::control::api;
use fidosim_tests::daemon::{free_udp_addr, Daemon};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");
/// RFC 8410 §10.3's Ed25519 key, PKCS#8.
const ED_KEY: &str = "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC";
const CREDS: &str = "/v1/devices/default/credentials";
const PRESENCE: &str = "/v1/devices/default/presence";

/// A free loopback TCP port (bound, then released).
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private scratch directory of this test.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fidosim-sec-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// One raw HTTP/1.1 request with exactly `headers` (plus Content-Length
/// and Connection: close): the status and the answer as JSON.
fn raw(
    mut s: impl Read + Write,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Value) {
    let body = body.unwrap_or("");
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, rest) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {answer:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // A chunked body: the JSON is on the line between the chunk sizes.
    let json = serde_json::from_str(rest)
        .ok()
        .or_else(|| rest.lines().find_map(|l| serde_json::from_str(l).ok()))
        .unwrap_or(Value::Null);
    (status, json)
}

fn tcp(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Value) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw(s, method, path, headers, body)
}

fn unix(
    sock: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Value) {
    let s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw(s, method, path, headers, body)
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {v}"))
}

/// What a refused request could have changed, read on the Unix socket.
fn snapshot(sock: &Path) -> (Value, Value) {
    let (s1, creds) = api(sock, "GET", CREDS, None);
    let (s2, device) = api(sock, "GET", "/v1/devices/default", None);
    assert_eq!((s1, s2), (200, 200));
    (creds, device)
}

/// Runs `fidosim` with `args` and `envs`, expecting it to exit within 20 s:
/// its status, standard output and standard error.
fn run_to_end(args: &[&str], envs: &[(&str, &Path)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("FIDOSIM_CONTROL_TOKEN_FILE")
        .env_remove("FIDOSIM_CONTROL_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fidosim {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tcp_needs_the_token_and_the_right_host_and_refusals_change_nothing() {
    let port = free_tcp_port();
    let listen = format!("127.0.0.1:{port}");
    let d = Daemon::udp(Path::new(BIN), &["--control-listen", &listen]);
    let sock = d.control.clone();

    // The generated token sits beside the socket, for its owner only.
    let token_file = sock.with_extension("token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", token_file.display());
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.trim_end().to_owned();
    assert!(token.len() >= 43, "{token:?}");
    let bearer = format!("Bearer {token}");
    let good = [
        ("Host", listen.as_str()),
        ("Authorization", bearer.as_str()),
    ];

    // Something to lose: a credential, and a presence other than the start's.
    let cred = json!({
        "credentialId": "AQID", "isResidentCredential": true, "rpId": "example.org",
        "privateKey": ED_KEY, "userHandle": "dXNlcg==", "signCount": 7, "userName": "alice"
    });
    assert_eq!(api(&sock, "POST", CREDS, Some(cred)).0, 201);
    assert_eq!(
        api(&sock, "PUT", PRESENCE, Some(json!({"presence": "deny"}))).0,
        200
    );
    let before = snapshot(&sock);
    assert_eq!(before.0.as_array().map(Vec::len), Some(1));

    // No token, a wrong one, or another scheme: 401, saying where the token is.
    let wrong = format!("Bearer {token}x");
    let basic = format!("Basic {token}");
    let short = format!("Bearer {}", &token[..token.len() - 1]);
    let no_token: &[(&str, &str)] = &[("Host", &listen)];
    let tries: [&[(&str, &str)]; 4] = [
        no_token,
        &[("Host", &listen), ("Authorization", &wrong)],
        &[("Host", &listen), ("Authorization", &basic)],
        &[("Host", &listen), ("Authorization", &short)],
    ];
    for headers in tries {
        for (method, path, body) in [
            ("GET", CREDS, None),
            ("DELETE", CREDS, None),
            ("PUT", PRESENCE, Some(r#"{"presence":"approve"}"#)),
            ("GET", "/v1/no-such-endpoint", None),
        ] {
            let (status, v) = tcp(port, method, path, headers, body);
            assert_eq!(status, 401, "{method} {path} {headers:?}: {v}");
            let e = error_of(&v);
            assert!(e.contains(&token_file.display().to_string()), "{e}");
            assert!(e.contains("--control-token-file"), "{e}");
            assert!(
                !e.contains(&token),
                "the answer must not give the token away: {e}"
            );
        }
    }
    assert_eq!(snapshot(&sock), before);

    // The right token: answered (a GET, so nothing changes).
    let (status, v) = tcp(port, "GET", CREDS, &good, None);
    assert_eq!((status, v.as_array().map(Vec::len)), (200, Some(1)), "{v}");
    for host in [format!("localhost:{port}"), format!("[::1]:{port}")] {
        let h = [("Host", host.as_str()), ("Authorization", bearer.as_str())];
        assert_eq!(tcp(port, "GET", CREDS, &h, None).0, 200, "{host}");
    }

    // A Host that is not this daemon's address: 403, even with the token.
    let other_port = format!("127.0.0.1:{}", port.wrapping_add(1));
    let rebound = format!("evil.example:{port}");
    for host in ["evil.example", rebound.as_str(), other_port.as_str()] {
        let h = [("Host", host), ("Authorization", bearer.as_str())];
        for (method, path, body) in [
            ("GET", CREDS, None),
            ("DELETE", CREDS, None),
            ("PUT", PRESENCE, Some(r#"{"presence":"approve"}"#)),
        ] {
            let (status, v) = tcp(port, method, path, &h, body);
            assert_eq!(status, 403, "{method} {path} Host {host}: {v}");
            let e = error_of(&v);
            assert!(e.contains("Host") && e.contains(&listen), "{e}");
        }
    }
    assert_eq!(snapshot(&sock), before);

    // A browser's request (Origin, Sec-Fetch-*): 403 on TCP even with the
    // token and the right Host, and on the Unix socket too.
    let browser: [(&str, &str); 4] = [
        ("Origin", "https://evil.example"),
        ("Origin", "null"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "cors"),
    ];
    for extra in browser {
        let mut h = good.to_vec();
        h.push(extra);
        let (status, v) = tcp(port, "DELETE", CREDS, &h, None);
        assert_eq!(status, 403, "TCP {extra:?}: {v}");
        assert!(error_of(&v).contains("fidosim CLI"), "{v}");
        let (status, v) = unix(&sock, "DELETE", CREDS, &[("Host", "fidosim"), extra], None);
        assert_eq!(status, 403, "Unix {extra:?}: {v}");
        let (status, v) = unix(
            &sock,
            "PUT",
            PRESENCE,
            &[("Host", "fidosim"), extra],
            Some(r#"{"presence":"approve"}"#),
        );
        assert_eq!(status, 403, "Unix {extra:?}: {v}");
    }
    assert_eq!(snapshot(&sock), before);

    // The Unix socket needs no token; the right token on TCP changes things.
    assert_eq!(
        unix(&sock, "GET", CREDS, &[("Host", "anything")], None).0,
        200
    );
    let (status, v) = tcp(port, "DELETE", CREDS, &good, None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(snapshot(&sock).0, json!([]));

    // A clean stop takes the generated token file away with the socket.
    assert_eq!(d.stop(), Some(0));
    assert!(
        !token_file.exists(),
        "{} is left behind",
        token_file.display()
    );
    assert!(!sock.exists());
}

#[test]
fn the_cli_finds_the_token_or_says_where_it_looked() {
    let dir = scratch("cli");
    let runtime = dir.join("runtime");
    std::fs::create_dir_all(runtime.join("fidosim")).unwrap();
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let sock = runtime.join("fidosim/control.sock");
    let port = free_tcp_port();
    let listen = format!("127.0.0.1:{port}");
    let d = Daemon::udp_with_socket(Path::new(BIN), &["--control-listen", &listen], &sock);
    let token_file = runtime.join("fidosim/control.token");
    assert!(token_file.exists());

    // Found by itself beside the default socket ($XDG_RUNTIME_DIR).
    let list = ["devices", "list", "--json", "--control", listen.as_str()];
    let (code, out, err) = run_to_end(&list, &[("XDG_RUNTIME_DIR", &runtime)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"default\""), "{out}");

    // Named with --control-token-file or FIDOSIM_CONTROL_TOKEN_FILE.
    let mut with_flag = list.to_vec();
    let token_arg = token_file.display().to_string();
    with_flag.extend(["--control-token-file", &token_arg]);
    let (code, out, err) = run_to_end(&with_flag, &[("XDG_RUNTIME_DIR", &elsewhere)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"default\""), "{out}");
    let (code, _, err) = run_to_end(
        &list,
        &[
            ("XDG_RUNTIME_DIR", &elsewhere),
            ("FIDOSIM_CONTROL_TOKEN_FILE", &token_file),
        ],
    );
    assert_eq!(code, 0, "{err}");

    // No token to be found: the daemon's 401, and where the CLI looked.
    let (code, _, err) = run_to_end(&list, &[("XDG_RUNTIME_DIR", &elsewhere)]);
    assert_ne!(code, 0);
    let looked = elsewhere.join("fidosim/control.token");
    assert!(err.contains(&looked.display().to_string()), "{err}");
    assert!(
        err.contains("--control-token-file") && err.contains("401"),
        "{err}"
    );

    // A wrong token: 401, naming the file it came from; nothing deleted.
    let wrong = dir.join("wrong.token");
    std::fs::write(&wrong, "not-the-token\n").unwrap();
    let wrong_arg = wrong.display().to_string();
    let clear = [
        "credentials",
        "clear",
        "--control",
        listen.as_str(),
        "--control-token-file",
        wrong_arg.as_str(),
    ];
    let before = snapshot(&sock);
    let (code, _, err) = run_to_end(&clear, &[("XDG_RUNTIME_DIR", &runtime)]);
    assert_ne!(code, 0);
    assert!(err.contains(&wrong_arg) && err.contains("401"), "{err}");
    assert_eq!(snapshot(&sock), before);

    // A token file that is missing or empty: a clear error before any request.
    let empty = dir.join("empty.token");
    std::fs::write(&empty, "").unwrap();
    let missing = dir.join("missing.token");
    for (file, says) in [(&missing, "cannot read"), (&empty, "is empty")] {
        let arg = file.display().to_string();
        let mut args = list.to_vec();
        args.extend(["--control-token-file", &arg]);
        let (code, _, err) = run_to_end(&args, &[("XDG_RUNTIME_DIR", &runtime)]);
        assert_ne!(code, 0, "{arg}");
        assert!(err.contains(says) && err.contains(&arg), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }

    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_given_token_file_is_used_and_one_that_cannot_be_is_refused() {
    let dir = scratch("given");
    let file = dir.join("my.token");
    std::fs::write(&file, "s3cret-Token_1\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file_arg = file.display().to_string();
    let port = free_tcp_port();
    let listen = format!("127.0.0.1:{port}");
    let sock = dir.join("control.sock");
    let d = Daemon::udp_with_socket(
        Path::new(BIN),
        &[
            "--control-listen",
            &listen,
            "--control-token-file",
            &file_arg,
        ],
        &sock,
    );
    let h = [
        ("Host", listen.as_str()),
        ("Authorization", "Bearer s3cret-Token_1"),
    ];
    assert_eq!(tcp(port, "GET", CREDS, &h, None).0, 200);
    let (status, v) = tcp(port, "GET", CREDS, &[("Host", &listen)], None);
    assert_eq!(status, 401);
    assert!(error_of(&v).contains(&file_arg), "{v}");
    // No token is generated beside the socket, and the given file stays.
    assert!(!sock.with_extension("token").exists());
    assert_eq!(d.stop(), Some(0));
    assert!(file.exists());

    // Files that cannot be used stop the start with a clear message.
    let empty = dir.join("empty.token");
    std::fs::write(&empty, "\n").unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o600)).unwrap();
    let open = dir.join("open.token");
    std::fs::write(&open, "s3cret\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing = dir.join("missing.token");
    for (path, says) in [
        (&missing, "cannot read"),
        (&empty, "is empty"),
        (&open, "chmod 600"),
    ] {
        let arg = path.display().to_string();
        let udp = free_udp_addr().to_string();
        let bad_sock = dir.join("bad.sock");
        let bad_sock_arg = bad_sock.display().to_string();
        let (code, _, err) = run_to_end(
            &[
                "run",
                "--transport",
                "udp",
                "--udp-listen",
                &udp,
                "--ephemeral",
                "--control-socket",
                &bad_sock_arg,
                "--control-listen",
                &listen,
                "--control-token-file",
                &arg,
            ],
            &[],
        );
        assert_ne!(code, 0, "{arg}");
        assert!(
            err.contains(says) && err.contains(&arg) && err.contains("--control-token-file"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!bad_sock.exists(), "a refused start leaves no socket");
    }

    // The flag guards TCP: without --control-listen it is a mistake.
    let (code, _, err) = run_to_end(
        &[
            "run",
            "--transport",
            "udp",
            "--ephemeral",
            "--control-token-file",
            &file_arg,
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--control-listen"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_documented_operation_is_guarded_as_the_openapi_document_says() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    assert!(doc["security"]
        .as_array()
        .unwrap()
        .contains(&json!({ "bearerAuth": [] })));

    let port = free_tcp_port();
    let listen = format!("127.0.0.1:{port}");
    let d = Daemon::udp(Path::new(BIN), &["--control-listen", &listen]);
    let sock = d.control.clone();
    let before = snapshot(&sock);
    let mut n = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let url = path
                .replace("{device}", "default")
                .replace("{id}", "AQID")
                .replace("{fault}", "1");
            let method = method.to_uppercase();
            let body = (method != "GET" && method != "DELETE").then_some("{}");
            let answers = [
                (401, tcp(port, &method, &url, &[("Host", &listen)], body)),
                (
                    403,
                    tcp(port, &method, &url, &[("Host", "evil.example")], body),
                ),
                (
                    403,
                    unix(
                        &sock,
                        &method,
                        &url,
                        &[("Host", "fidosim"), ("Origin", "http://localhost:3000")],
                        body,
                    ),
                ),
            ];
            for (expected, (status, v)) in answers {
                assert_eq!(status, expected, "{method} {url}: {v}");
                assert!(
                    !op["responses"][status.to_string()].is_null(),
                    "{method} {path}: {status} is not documented"
                );
                assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{v}");
                error_of(&v);
            }
            n += 1;
        }
    }
    assert!(n >= 13, "{n}");
    assert_eq!(snapshot(&sock), before);
}
