//! `fidosim run`: one virtual key until a signal says stop.

use std::process::ExitCode;
use std::sync::Arc;

use authenticator_core::{AttestationIdentity, Authenticator, CredentialStore, MemoryStore};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing_subscriber::EnvFilter;
use uhid_device::ctaphid::Settings;
use uhid_device::device::{self, Control, Transport};
use uhid_device::presence::{DaemonEnv, DynStore, Shared};
use uhid_device::udp::UdpTransport;
use uhid_device::uhid::UhidTransport;

use crate::args::{Cli, Command};
use crate::config::{ControlConfig, DaemonConfig, RunConfig, TransportConfig};
use crate::control::server::{bind_unix, router, DeviceHandle, Registry};
use crate::state::DurableStore;
use crate::{EXIT_FAILURE, EXIT_TRANSPORT, EXIT_USAGE};

/// A failure, with the exit status it maps to.
#[derive(Debug)]
pub(crate) enum Error {
    /// A bad command-line value.
    Config(String),
    /// The transport cannot be used.
    Transport(String),
    /// Anything else at run time.
    Runtime(String),
}

impl Error {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => EXIT_USAGE,
            Self::Transport(_) => EXIT_TRANSPORT,
            Self::Runtime(_) => EXIT_FAILURE,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(m) | Self::Transport(m) | Self::Runtime(m) => f.write_str(m),
        }
    }
}

/// An I/O error as a short lower-case reason for a message ("no such file
/// or directory"), without Rust's "(os error 2)" suffix.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let known = match e.kind() {
        K::NotFound => "no such file or directory",
        K::PermissionDenied => "permission denied",
        K::IsADirectory => "it is a directory",
        K::NotADirectory => "a part of the path is not a directory",
        K::ConnectionRefused => "connection refused",
        K::AddrInUse => "the address is in use",
        K::AddrNotAvailable => "the address is not on this machine",
        K::ReadOnlyFilesystem => "the file system is read-only",
        K::StorageFull => "no space left on the device",
        K::InvalidData => "not valid UTF-8 text",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "an unknown I/O error".to_owned(),
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// Writes generated text to standard output; a closed pipe (`| head`) is
/// not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Runtime(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the async runtime: {e}")))
}

pub(crate) fn run(cli: Cli) -> Result<ExitCode, Error> {
    use crate::control::client;
    match cli.command {
        Command::Run(args) => {
            init_logging(cli.verbose, cli.quiet);
            let config = DaemonConfig::from_args(*args).map_err(|e| Error::Config(e.0))?;
            runtime()?.block_on(serve(config))?;
        }
        Command::Devices { client: c, cmd } => runtime()?.block_on(client::devices(c, cmd))?,
        Command::Credentials { client: c, cmd } => {
            runtime()?.block_on(client::credentials(c, cmd))?;
        }
        Command::Counters { client: c, cmd } => runtime()?.block_on(client::counters(c, cmd))?,
        Command::Presence { client: c, cmd } => runtime()?.block_on(client::presence(c, cmd))?,
        Command::Events { client: c } => runtime()?.block_on(client::events(c))?,
        Command::Doctor { json, socket } => {
            if !crate::doctor::run(json, socket) {
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
        }
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "fidosim", &mut out);
            write_stdout(&out)?;
        }
        Command::Man => {
            use clap::CommandFactory as _;
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| Error::Runtime(format!("cannot render the man page: {e}")))?;
            write_stdout(&out)?;
        }
        Command::RpCheck(a) => {
            if !runtime()?.block_on(crate::rpcheck::run(a))? {
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
        }
        Command::Webauthn { cmd } => {
            runtime()?.block_on(async { crate::webauthn_cmd::run(cmd) })?
        }
        Command::Faults { client: c, cmd } => runtime()?.block_on(client::faults(c, cmd))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Appends every event of `shared` to `path` (JSON lines), beside the state
/// file.
/// How large `NAME.events.jsonl` grows before it is moved to
/// `NAME.events.jsonl.1` (replacing an older one) and started anew: the
/// log keeps at most about twice this much.
const EVENT_LOG_MAX: u64 = 8 << 20;

/// The append-only event log beside a state file, private to its owner
/// like the state, rotated at a size limit.
struct EventLog {
    path: std::path::PathBuf,
    file: std::fs::File,
    size: u64,
    max: u64,
}

impl EventLog {
    fn open(path: std::path::PathBuf, max: u64) -> std::io::Result<EventLog> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        let size = file.metadata()?.len();
        Ok(EventLog {
            path,
            file,
            size,
            max,
        })
    }

    /// Appends one line, first moving a full log aside.
    fn append(&mut self, line: &str) -> std::io::Result<()> {
        use std::io::Write as _;
        if self.size > 0 && self.size + line.len() as u64 + 1 > self.max {
            let mut old = self.path.clone().into_os_string();
            old.push(".1");
            std::fs::rename(&self.path, &old)?;
            *self = EventLog::open(self.path.clone(), self.max)?;
        }
        writeln!(self.file, "{line}")?;
        self.size += line.len() as u64 + 1;
        Ok(())
    }
}

/// Appends every event of the device to `path` (see [`EventLog`]).
fn log_events(shared: &Shared, path: std::path::PathBuf) {
    let mut events = shared.subscribe();
    tokio::spawn(async move {
        let mut log = match EventLog::open(path.clone(), EVENT_LOG_MAX) {
            Ok(log) => log,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open the event log; events are not logged");
                return;
            }
        };
        loop {
            let line = match events.recv().await {
                Ok(e) => e.to_string(),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    serde_json::json!({ "type": "events.lost", "count": n }).to_string()
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            if let Err(err) = log.append(&line) {
                tracing::warn!(path = %path.display(), error = %err, "cannot append to the event log");
            }
        }
    });
}

/// Starts one device: opens its state, builds its authenticator, plugs it
/// in, and runs it in a task of its own.
/// A device's authenticator on its state (opened or created), with its
/// attestation identities, and the state it shares with the driver.
pub(crate) fn open_authenticator(
    config: &RunConfig,
) -> Result<(Authenticator<DaemonEnv>, Arc<Shared>), Error> {
    let mut durable = config
        .state
        .as_deref()
        .map(DurableStore::open)
        .transpose()
        .map_err(|e| Error::Runtime(e.to_string()))?;
    if let Some(store) = &durable {
        tracing::info!(path = %store.path().display(), "state file opened");
        let existing = store.master_secret().ok().flatten().is_some();
        if existing && (config.device.initial_pin.is_some() || config.device.always_uv) {
            tracing::warn!(
                path = %store.path().display(),
                "--pin and --always-uv set up a new device only, and this state file already \
                 holds the device's PIN and settings: they stay as stored (reset the key, or \
                 use another --state PATH or --ephemeral)"
            );
        }
    } else {
        tracing::info!("ephemeral: the state lives in memory only");
    }
    // The attestation identities: kept in the state file, so a device
    // keeps its certificates across restarts.
    let aaguid = config.device.aaguid;
    let make_batch = || {
        AttestationIdentity::generate(
            &mut rand_core::OsRng,
            aaguid,
            "fidosim",
            "fidosim attestation batch",
        )
        .map_err(|e| format!("cannot create the attestation certificates: {e:?}"))
    };
    let identity = match durable.as_mut() {
        Some(store) => store.identity("attestation", make_batch),
        None => make_batch(),
    }
    .map_err(Error::Runtime)?;
    if let Some(path) = &config.write_ca {
        std::fs::write(path, identity.ca_pem()).map_err(|e| {
            Error::Runtime(format!(
                "cannot write the attestation CA to {}: {}; choose another --write-ca PATH",
                path.display(),
                io_reason(&e)
            ))
        })?;
        tracing::info!(path = %path.display(), "attestation CA certificate written");
    }
    let enterprise = if config.device.enterprise_attestation {
        // A distinct certificate for enterprise attestations (CTAP 2.1
        // §7.1), naming this device by its serial number.
        let serial = config.usb.serial.clone();
        let make = || {
            AttestationIdentity::generate(
                &mut rand_core::OsRng,
                aaguid,
                "fidosim",
                &format!("fidosim enterprise attestation {serial}"),
            )
            .map_err(|e| format!("cannot create the enterprise attestation certificate: {e:?}"))
        };
        Some(
            match durable.as_mut() {
                Some(store) => store.identity("enterprise", make),
                None => make(),
            }
            .map_err(Error::Runtime)?,
        )
    } else {
        None
    };
    let shared = Arc::new(Shared::new(&config.name, config.presence, config.uv));
    if let Some(state) = &config.state {
        log_events(&shared, state.with_extension("events.jsonl"));
    }
    let store: DynStore = match durable {
        Some(s) => Box::new(s),
        None => Box::new(MemoryStore::default()),
    };
    let env = DaemonEnv::with_store(shared.clone(), store);
    let mut authenticator = Authenticator::new(config.device.clone(), identity, env)
        .map_err(|e| Error::Config(e.to_string()))?;
    if let Some(identity) = enterprise {
        authenticator.set_enterprise_identity(identity);
    }

    Ok((authenticator, shared))
}

pub(crate) async fn start_device(config: RunConfig) -> Result<DeviceHandle, Error> {
    let (authenticator, shared) = open_authenticator(&config)?;
    let mut bound = None;
    let transport = match &config.transport {
        TransportConfig::Uhid { path } => Transport::Uhid(
            UhidTransport::create(path, config.usb.clone())
                .map_err(|e| Error::Transport(e.to_string()))?,
        ),
        TransportConfig::Udp {
            listen,
            allow_remote,
        } => {
            let t = UdpTransport::bind(*listen, *allow_remote)
                .await
                .map_err(|e| Error::Transport(e.to_string()))?;
            let addr = t
                .local_addr()
                .map_err(|e| Error::Transport(e.to_string()))?;
            tracing::info!(%addr, "virtual security key listening on UDP");
            bound = Some(addr.to_string());
            Transport::Udp(t)
        }
    };

    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let handle = DeviceHandle {
        name: config.name.clone(),
        control: control_tx,
        shared: shared.clone(),
        info: device_info(&config, bound),
        run: config.clone(),
        task: Arc::new(std::sync::Mutex::new(None)),
    };
    let name = config.name.clone();
    let task = tokio::spawn(async move {
        let result = device::run(
            transport,
            authenticator,
            shared,
            Settings::default(),
            control_rx,
        )
        .await;
        if let Err(e) = &result {
            tracing::error!(device = %name, error = %e, "the device stopped");
        }
        result
    });
    if let Ok(mut t) = handle.task.lock() {
        *t = Some(task);
    }
    Ok(handle)
}

async fn serve(config: DaemonConfig) -> Result<(), Error> {
    let registry = Registry::default();
    for d in config.devices {
        let handle = start_device(d).await?;
        registry.add(handle);
    }
    let api = start_control(&config.control, registry.clone()).await?;
    let result = tokio::select! {
        () = stop_signal(registry.clone()) => Ok(()),
        r = registry.all_stopped() => r,
    };
    registry.shutdown_all().await;
    for task in api {
        task.abort();
    }
    if let Some(path) = &config.control.socket {
        let _ = std::fs::remove_file(path);
    }
    result.map_err(|e| Error::Runtime(format!("the device stopped: {e}")))
}

/// The fixed facts `status` reports.
fn device_info(config: &RunConfig, bound: Option<String>) -> serde_json::Value {
    let a = &config.device.aaguid;
    let hex: String = a.iter().map(|b| format!("{b:02x}")).collect();
    let aaguid = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    let (transport, address) = match &config.transport {
        TransportConfig::Uhid { path } => ("uhid", path.display().to_string()),
        TransportConfig::Udp { listen, .. } => ("udp", bound.unwrap_or_else(|| listen.to_string())),
    };
    serde_json::json!({
        "transport": transport,
        "address": address,
        "aaguid": aaguid,
        "vendorId": format!("{:04x}", config.usb.vendor_id),
        "productId": format!("{:04x}", config.usb.product_id),
        "serial": config.usb.serial,
        "productName": config.usb.name,
        "state": config.state.as_ref().map(|p| p.display().to_string()),
    })
}

/// Serves the control API on its Unix socket and, when asked, on TCP.
async fn start_control(
    config: &ControlConfig,
    registry: Registry,
) -> Result<Vec<tokio::task::JoinHandle<()>>, Error> {
    let mut tasks = Vec::new();
    if let Some(path) = &config.socket {
        let listener = bind_unix(path).map_err(Error::Runtime)?;
        tracing::info!(socket = %path.display(), "control API listening");
        let app = router(registry.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the control API stopped");
            }
        }));
    }
    if let Some(addr) = config.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| {
                Error::Runtime(format!(
                    "cannot listen on --control-listen {addr}: {}; choose a free port, or drop --control-listen",
                    io_reason(&e)
                ))
            })?;
        tracing::info!(%addr, "control API listening on TCP");
        let app = router(registry);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the control API stopped");
            }
        }));
    }
    Ok(tasks)
}

/// Waits for SIGINT or SIGTERM; SIGUSR1 meanwhile replugs every device.
async fn stop_signal(registry: Registry) {
    let (Ok(mut int), Ok(mut term), Ok(mut usr1)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::user_defined1()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = usr1.recv() => {
                tracing::info!("SIGUSR1: replugging the keys");
                for d in registry.all() {
                    let _ = d.control.send(Control::Replug);
                }
            }
        }
    }
    tracing::info!("stopping");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{io_reason, EventLog};
    use std::io::{Error, ErrorKind};

    #[test]
    fn the_event_log_is_private_and_rotates_at_its_limit() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("fidosim-evlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k.events.jsonl");
        let old = dir.join("k.events.jsonl.1");
        let mut log = EventLog::open(path.clone(), 100).unwrap();
        let line = "x".repeat(39); // 40 bytes with its newline
        for _ in 0..2 {
            log.append(&line).unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 80);
        assert!(!old.exists());
        // The third line does not fit: the two move aside.
        log.append(&line).unwrap();
        assert_eq!(std::fs::metadata(&old).unwrap().len(), 80);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 40);
        // Reopened, the log counts what is already there.
        drop(log);
        let mut log = EventLog::open(path.clone(), 100).unwrap();
        log.append(&line).unwrap();
        log.append(&line).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 40);
        assert_eq!(std::fs::metadata(&old).unwrap().len(), 80);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn io_reasons_are_short_and_lower_case() {
        assert_eq!(
            io_reason(&Error::from_raw_os_error(2)),
            "no such file or directory"
        );
        assert_eq!(
            io_reason(&Error::from(ErrorKind::PermissionDenied)),
            "permission denied"
        );
        let other = io_reason(&Error::from_raw_os_error(7));
        assert!(!other.contains("os error"), "{other}");
        assert!(other.starts_with(|c: char| !c.is_uppercase()), "{other}");
    }
}
