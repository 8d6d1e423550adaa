//! A daemon's life: its devices, its control API on the Unix socket and
//! TCP, its signals.

use tokio::signal::unix::{signal, Signal, SignalKind};
use uhid_device::device::Control;

use crate::api::guard::{self, Guard};
use crate::api::{bind_unix, router};
use crate::assemble::start_device;
use crate::config::{ControlConfig, DaemonConfig, TokenSource};
use crate::registry::Registry;
use crate::Error;

/// Runs a daemon until SIGINT or SIGTERM, or until its last device
/// stopped with an error.
pub async fn serve(config: DaemonConfig) -> Result<(), Error> {
    // The handlers go in before anything starts: a SIGTERM that comes
    // right after a device announced itself (a test rig that saw the
    // ready line) must stop the daemon cleanly, not kill it.
    let signals = Signals::install();
    // A token file that cannot be used stops the start before any key
    // appears.
    let given_token = match &config.control.token {
        Some(TokenSource::File(path)) => Some(
            guard::read_token_file(path, "--control-token-file", true).map_err(Error::Config)?,
        ),
        _ => None,
    };
    let registry = Registry::default();
    for d in config.devices {
        let handle = start_device(d).await?;
        registry.add(handle);
    }
    let (api, generated_token) =
        match start_control(&config.control, given_token, registry.clone()).await {
            Ok(started) => started,
            Err(e) => {
                registry.shutdown_all().await;
                return Err(e);
            }
        };
    let result = tokio::select! {
        () = stop_signal(signals, registry.clone()) => Ok(()),
        r = registry.all_stopped() => r,
    };
    registry.shutdown_all().await;
    for task in api {
        task.abort();
    }
    if let Some(path) = &config.control.socket {
        let _ = std::fs::remove_file(path);
    }
    if let Some(path) = generated_token {
        let _ = std::fs::remove_file(path);
    }
    result.map_err(|e| Error::Runtime(format!("the device stopped: {e}")))
}

/// Serves the control API on its Unix socket and, when asked, on TCP;
/// with the tasks, the token file it generated (removed at the end).
async fn start_control(
    config: &ControlConfig,
    given_token: Option<String>,
    registry: Registry,
) -> Result<(Vec<tokio::task::JoinHandle<()>>, Option<std::path::PathBuf>), Error> {
    let mut tasks = Vec::new();
    let mut unix = None;
    if let Some(path) = &config.socket {
        unix = Some((bind_unix(path).map_err(Error::Runtime)?, path));
    }
    let tcp = match start_tcp(config, given_token).await {
        Ok(tcp) => tcp,
        Err(e) => {
            // The socket this daemon bound goes with it.
            if let Some((_, path)) = unix {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
    };
    if let Some((listener, path)) = unix {
        tracing::info!(socket = %path.display(), "control API listening");
        let app = router(registry.clone(), Guard::Unix);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the control API stopped");
            }
        }));
    }
    let mut generated_token = None;
    if let Some((listener, addr, guard, file, generated)) = tcp {
        tracing::info!(%addr, token_file = %file.display(), "control API listening on TCP");
        let app = router(registry, guard);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the control API stopped");
            }
        }));
        generated_token = generated;
    }
    Ok((tasks, generated_token))
}

/// A bound TCP listener, its address, its guard, its token file, and that
/// file again when the daemon generated it.
type Tcp = (
    tokio::net::TcpListener,
    std::net::SocketAddr,
    Guard,
    std::path::PathBuf,
    Option<std::path::PathBuf>,
);

/// Binds the TCP listener (if any) and settles its token.
async fn start_tcp(
    config: &ControlConfig,
    given_token: Option<String>,
) -> Result<Option<Tcp>, Error> {
    let Some(addr) = config.listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| {
                Error::Runtime(format!(
                    "cannot listen on --control-listen {addr}: {}; choose a free port, or drop --control-listen",
                    crate::io_reason(&e)
                ))
            })?;
    // Port 0 asks for any free port: the guard checks the real one.
    let bound = listener.local_addr().unwrap_or(addr);
    let (token, file, generated) = match (&config.token, given_token) {
        (Some(TokenSource::File(path)), Some(token)) => (token, path.clone(), None),
        (Some(TokenSource::Generate(path)), _) => {
            let token = guard::generate_token().map_err(Error::Runtime)?;
            guard::write_token_file(path, &token).map_err(Error::Runtime)?;
            (token, path.clone(), Some(path.clone()))
        }
        _ => {
            return Err(Error::Config(
                "--control-listen needs a token: give --control-token-file PATH".into(),
            ))
        }
    };
    Ok(Some((
        listener,
        bound,
        Guard::tcp(bound, token, file.clone()),
        file,
        generated,
    )))
}

/// The daemon's signal streams; a signal that comes before anyone waits
/// is kept for the first wait.
struct Signals(Option<(Signal, Signal, Signal)>);

impl Signals {
    fn install() -> Self {
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::user_defined1()),
        ) {
            (Ok(int), Ok(term), Ok(usr1)) => Self(Some((int, term, usr1))),
            _ => {
                tracing::error!("cannot install signal handlers");
                Self(None)
            }
        }
    }
}

/// Waits for SIGINT or SIGTERM; SIGUSR1 meanwhile replugs every device.
async fn stop_signal(signals: Signals, registry: Registry) {
    let Some((mut int, mut term, mut usr1)) = signals.0 else {
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
