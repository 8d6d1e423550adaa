//! `fidosim run --transport udp` driven by the independent CTAPHID client of
//! the tests crate: channels, the largest message, busy channels, message
//! timeouts, keepalives and CANCEL during a presence wait, signals and exit
//! statuses.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use authenticator_core::cbor;
use fidosim_tests::daemon::Daemon;
use fidosim_tests::hid::{cmd, UdpHid, BROADCAST};

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");
const T: Duration = Duration::from_secs(10);

fn make_credential() -> Vec<u8> {
    fidosim_tests::requests::make_credential("example.com", &[0x11; 32], &[1, 2, 3])
}

fn hid_error(m: &fidosim_tests::hid::Message) -> u8 {
    assert_eq!(m.cmd, cmd::ERROR, "expected ERROR, got {m:?}");
    m.payload[0]
}

#[test]
fn init_get_info_and_largest_ping() {
    let d = Daemon::udp(Path::new(BIN), &[]);
    let hid = UdpHid::connect(d.addr).unwrap();
    let a = hid.init().unwrap();
    let b = hid.init().unwrap();
    assert_ne!(a, b);
    let (info, _) = hid.cbor(a, &[0x04], T).unwrap();
    assert_eq!(info[0], 0);
    assert!(cbor::is_canonical(&info[1..]));
    let payload: Vec<u8> = (0..7609u32).map(|i| (i * 7) as u8).collect();
    hid.send(b, cmd::PING, &payload).unwrap();
    let m = hid.recv(T).unwrap();
    assert_eq!((m.cid, m.cmd), (b, cmd::PING));
    assert_eq!(m.payload, payload);
    assert!(d
        .log()
        .iter()
        .any(|l| l.contains("ctap request") && l.contains("getInfo")));
    assert_eq!(d.stop(), Some(0), "SIGTERM is a clean stop");
}

#[test]
fn interleaved_channels_get_channel_busy() {
    let d = Daemon::udp(Path::new(BIN), &[]);
    let hid = UdpHid::connect(d.addr).unwrap();
    let a = hid.init().unwrap();
    let b = hid.init().unwrap();
    let parts = UdpHid::reports(a, cmd::PING, &[9u8; 200], None);
    hid.send_raw(&parts[0]).unwrap();
    hid.send(b, cmd::PING, &[1]).unwrap();
    let m = hid.recv(T).unwrap();
    assert_eq!(m.cid, b);
    assert_eq!(hid_error(&m), 0x06, "ERR_CHANNEL_BUSY");
    for p in &parts[1..] {
        hid.send_raw(p).unwrap();
    }
    let m = hid.recv(T).unwrap();
    assert_eq!((m.cid, m.cmd, m.payload), (a, cmd::PING, vec![9u8; 200]));
    // Now b is served.
    hid.send(b, cmd::PING, &[1]).unwrap();
    assert_eq!(hid.recv(T).unwrap().payload, vec![1]);
}

#[test]
fn message_timeout_and_channel_errors() {
    let d = Daemon::udp(Path::new(BIN), &[]);
    let hid = UdpHid::connect(d.addr).unwrap();
    let a = hid.init().unwrap();
    let parts = UdpHid::reports(a, cmd::PING, &[3u8; 100], None);
    hid.send_raw(&parts[0]).unwrap();
    let started = Instant::now();
    let m = hid.recv(T).unwrap();
    assert_eq!((m.cid, hid_error(&m)), (a, 0x05), "ERR_MSG_TIMEOUT");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A channel that was never allocated, and the broadcast channel.
    hid.send(0x7777, cmd::PING, &[1]).unwrap();
    assert_eq!(hid_error(&hid.recv(T).unwrap()), 0x0B);
    hid.send(BROADCAST, cmd::CBOR, &[4]).unwrap();
    assert_eq!(hid_error(&hid.recv(T).unwrap()), 0x0B);
    // An over-long declared length, a bad sequence.
    let r = UdpHid::reports(a, cmd::PING, &[], Some(7610));
    hid.send_raw(&r[0]).unwrap();
    assert_eq!(hid_error(&hid.recv(T).unwrap()), 0x03);
    hid.send_raw(&parts[0]).unwrap();
    let mut bad = parts[1];
    bad[4] = 5;
    hid.send_raw(&bad).unwrap();
    assert_eq!(hid_error(&hid.recv(T).unwrap()), 0x04);
    // A skipped sequence number is a lost report: the key says so.
    let warned = |log: Vec<String>| {
        log.iter().any(|l| {
            l.contains("WARN")
                && l.contains("expected=0 got=5")
                && l.contains("UDP does not retransmit")
        })
    };
    let until = Instant::now() + T;
    while !warned(d.log()) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        warned(d.log()),
        "no warning about the lost report: {:?}",
        d.log()
    );
    // MSG carries CTAP1/U2F: U2F_VERSION is answered with CTAPHID_MSG.
    hid.send(a, cmd::MSG, &[0, 3, 0, 0, 0, 0, 0]).unwrap();
    let m = hid.recv(T).unwrap();
    assert_eq!((m.cid, m.cmd), (a, cmd::MSG));
    assert_eq!(m.payload, b"U2F_V2\x90\x00");
}

#[test]
fn keepalives_while_waiting_for_presence() {
    let d = Daemon::udp(Path::new(BIN), &["--presence", "delay:600"]);
    let hid = UdpHid::connect(d.addr).unwrap();
    let a = hid.init().unwrap();
    let (resp, keepalives) = hid.cbor(a, &make_credential(), T).unwrap();
    assert_eq!(resp[0], 0, "makeCredential succeeds after the delay");
    assert!(
        keepalives.len() >= 4,
        "a keepalive at least every 100 ms: {keepalives:?}"
    );
    assert!(
        keepalives.contains(&2),
        "STATUS_UPNEEDED while waiting for the touch"
    );
}

#[test]
fn cancel_during_presence_wait() {
    let d = Daemon::udp(Path::new(BIN), &["--presence", "delay:20000"]);
    let hid = UdpHid::connect(d.addr).unwrap();
    let a = hid.init().unwrap();
    hid.send(a, cmd::CBOR, &make_credential()).unwrap();
    let m = hid.recv(T).unwrap();
    assert_eq!((m.cmd, m.payload.as_slice()), (cmd::KEEPALIVE, &[2u8][..]));
    let started = Instant::now();
    hid.send(a, cmd::CANCEL, &[]).unwrap();
    let answer = loop {
        let m = hid.recv(T).unwrap();
        if m.cmd != cmd::KEEPALIVE {
            break m;
        }
    };
    assert_eq!(
        (answer.cmd, answer.payload),
        (cmd::CBOR, vec![0x2D]),
        "CTAP2_ERR_KEEPALIVE_CANCEL"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // The device is free again.
    let (info, _) = hid.cbor(a, &[0x04], T).unwrap();
    assert_eq!(info[0], 0);
}

#[test]
fn denied_presence() {
    let d = Daemon::udp(Path::new(BIN), &["--presence", "deny"]);
    let hid = UdpHid::connect(d.addr).unwrap();
    let a = hid.init().unwrap();
    let (resp, _) = hid.cbor(a, &make_credential(), T).unwrap();
    assert_eq!(resp, vec![0x27], "CTAP2_ERR_OPERATION_DENIED");
}

#[test]
fn replug_forgets_channels() {
    let d = Daemon::udp(Path::new(BIN), &[]);
    let hid = UdpHid::connect(d.addr).unwrap();
    let a = hid.init().unwrap();
    Command::new("kill")
        .args(["-USR1", &d.pid().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + T;
    while !d.log().iter().any(|l| l.contains("replugging")) {
        assert!(Instant::now() < deadline, "no replug");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    hid.send(a, cmd::PING, &[1]).unwrap();
    assert_eq!(
        hid_error(&hid.recv(T).unwrap()),
        0x0B,
        "old channel is gone"
    );
    let b = hid.init().unwrap();
    hid.send(b, cmd::PING, &[1]).unwrap();
    assert_eq!(hid.recv(T).unwrap().payload, vec![1]);
}

#[test]
fn usage_and_transport_errors_have_exit_statuses() {
    let out = Command::new(BIN)
        .args(["run", "--presence", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--presence"));
    let out = Command::new(BIN)
        .args(["run", "--ephemeral", "--uhid-path", "/nonexistent/uhid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("modprobe uhid") && err.contains("--transport udp"),
        "{err}"
    );
    let out = Command::new(BIN)
        .args([
            "run",
            "--ephemeral",
            "--transport",
            "udp",
            "--udp-listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}

#[test]
fn an_unusable_state_file_is_refused_and_left_alone() {
    let dir = std::env::temp_dir().join(format!("fidosim-udp-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notes.txt");
    std::fs::write(&path, b"not a state file\n".repeat(100)).unwrap();
    let out = Command::new(BIN)
        .args(["run", "--transport", "udp", "--udp-listen", "127.0.0.1:0"])
        .arg("--state")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a fidosim state file") && err.contains("left untouched"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"not a state file\n".repeat(100)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A rig that stops the daemon as soon as the key announced itself gets a
/// clean exit (status 0), never the default action of SIGTERM: the signal
/// handlers are in place before the ready line is written.
#[test]
fn sigterm_right_after_the_ready_line_stops_cleanly() {
    use std::io::BufRead as _;
    let dir = std::env::temp_dir().join(format!("fidosim-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for round in 0..20 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fidosim"))
            .args(["run", "--transport", "udp", "--udp-listen", "127.0.0.1:0"])
            .args(["--ephemeral", "--control-socket"])
            .arg(dir.join("control.sock"))
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufReader::new(stderr).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("listening on UDP"));
        assert!(ready, "round {round}: no ready line");
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        // Drain the rest of the log so the daemon never blocks on it.
        for _ in lines {}
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "round {round}: {status:?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
