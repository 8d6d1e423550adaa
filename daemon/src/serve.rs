//! A daemon's life: its devices, its control API on the Unix socket and
//! TCP, its signals.

use tokio::signal::unix::{signal, Signal, SignalKind};
use uhid_device::device::Control;

use crate::api::{bind_unix, router};
use crate::assemble::start_device;
use crate::config::{ControlConfig, DaemonConfig};
use crate::registry::Registry;
use crate::Error;

/// Runs a daemon until SIGINT or SIGTERM, or until its last device
/// stopped with an error.
pub async fn serve(config: DaemonConfig) -> Result<(), Error> {
    // The handlers go in before anything starts: a SIGTERM that comes
    // right after a device announced itself (a test rig that saw the
    // ready line) must stop the daemon cleanly, not kill it.
    let signals = Signals::install();
    let registry = Registry::default();
    for d in config.devices {
        let handle = start_device(d).await?;
        registry.add(handle);
    }
    let api = start_control(&config.control, registry.clone()).await?;
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
    result.map_err(|e| Error::Runtime(format!("the device stopped: {e}")))
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
                    crate::io_reason(&e)
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
