//! Starts `fidosim run` for a test and stops it afterwards.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running daemon; stopped with SIGTERM (then killed) on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    /// The UDP address the key listens on.
    pub addr: SocketAddr,
    /// The control API's Unix socket.
    pub control: std::path::PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

/// Starts `bin run --config FILE --control-socket SOCK` (stderr dropped)
/// and waits until the control socket takes a connection: the socket file
/// appears when it is bound, a moment before it listens.
pub fn run_config(bin: &Path, config: &Path, sock: &Path) -> Child {
    let mut child = Command::new(bin)
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--control-socket")
        .arg(sock)
        .stderr(Stdio::null())
        .spawn()
        .expect("start fidosim");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("no control socket at {}", sock.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// A free loopback UDP port (bound, then released).
pub fn free_udp_addr() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral UDP port");
    s.local_addr().expect("local address")
}

impl Daemon {
    /// Starts `bin run --transport udp` on a free port with extra `args`,
    /// and waits until it listens.
    pub fn udp(bin: &Path, args: &[&str]) -> Self {
        Self::udp_with_log(bin, args, "debug")
    }

    /// Like [`Daemon::udp`], with a `RUST_LOG` filter (benchmarks log less).
    pub fn udp_with_log(bin: &Path, args: &[&str], rust_log: &str) -> Self {
        let addr = free_udp_addr();
        let control = std::env::temp_dir().join(format!(
            "fidosim-test-{}-{}.sock",
            std::process::id(),
            addr.port()
        ));
        Self::start(bin, args, rust_log, addr, control)
    }

    /// Like [`Daemon::udp`], with its control socket at `control`.
    pub fn udp_with_socket(bin: &Path, args: &[&str], control: &Path) -> Self {
        Self::start(bin, args, "debug", free_udp_addr(), control.to_owned())
    }

    fn start(
        bin: &Path,
        args: &[&str],
        rust_log: &str,
        addr: SocketAddr,
        control: std::path::PathBuf,
    ) -> Self {
        let mut child = Command::new(bin)
            .args([
                "run",
                "--transport",
                "udp",
                "--udp-listen",
                &addr.to_string(),
            ])
            .args(args)
            // A fresh key each start, unless the test names a state file.
            .args((!args.contains(&"--state")).then_some("--ephemeral"))
            // A control socket of its own, so daemons of parallel tests do
            // not meet.
            .arg("--control-socket")
            .arg(&control)
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fidosim");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // The control API starts after the key: ready when both are.
                if line.contains("control API listening") {
                    let _ = ready_tx.send(());
                }
                if let Ok(mut l) = sink.lock() {
                    l.push(line);
                }
            }
        });
        if ready_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = child.kill();
            panic!(
                "fidosim did not start listening: {:?}",
                log.lock().map(|l| l.clone())
            );
        }
        Self {
            child,
            addr,
            log,
            control,
        }
    }

    /// The log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status code.
    pub fn stop(mut self) -> Option<i32> {
        self.terminate()
    }

    fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
        // A killed daemon leaves its socket behind.
        let _ = std::fs::remove_file(&self.control);
    }
}

impl Daemon {
    /// Kills the process with SIGKILL (no shutdown step runs, as in a
    /// crash) and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}
