//! Device assembly: one key from its [`RunConfig`]: its state file, its
//! attestation identities, its authenticator, its transport, its task.

use std::sync::Arc;

use authenticator_core::{AttestationIdentity, Authenticator, CredentialStore, MemoryStore};
use fidosim_ctaphid::Settings;
use fidosim_store::DurableStore;
use tokio::sync::mpsc;
use uhid_device::device::{self, Transport};
use uhid_device::presence::{DaemonEnv, DynStore, Shared};
use uhid_device::udp::UdpTransport;
use uhid_device::uhid::UhidTransport;

use crate::config::{RunConfig, TransportConfig};
use crate::registry::DeviceHandle;
use crate::Error;

/// A device's authenticator on its state (opened or created), with its
/// attestation identities, and the state it shares with the driver.
pub fn open_authenticator(
    config: &RunConfig,
) -> Result<(Authenticator<DaemonEnv>, Arc<Shared>), Error> {
    open_authenticator_as(config, None)
}

/// [`open_authenticator`], with `identity` as the device's attestation
/// identity when given instead of the one its state holds or a new one
/// (`fidosim rp-check` signs with the identity of a key an RP trusts).
pub fn open_authenticator_as(
    config: &RunConfig,
    identity: Option<AttestationIdentity>,
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
            &mut uhid_device::presence::OsRng::default(),
            aaguid,
            "fidosim",
            "fidosim attestation batch",
        )
        .map_err(|e| format!("cannot create the attestation certificates: {e:?}"))
    };
    let identity = match (identity, durable.as_mut()) {
        (Some(given), _) => Ok(given),
        (None, Some(store)) => store.identity("attestation", make_batch),
        (None, None) => make_batch(),
    }
    .map_err(Error::Runtime)?;
    if let Some(path) = &config.write_ca {
        std::fs::write(path, identity.ca_pem()).map_err(|e| {
            Error::Runtime(format!(
                "cannot write the attestation CA to {}: {}; choose another --write-ca PATH",
                path.display(),
                crate::io_reason(&e)
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
                &mut uhid_device::presence::OsRng::default(),
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
    let shared = Arc::new(
        Shared::new(&config.name, config.presence, config.uv)
            .with_account_choice(config.account_choice.clone()),
    );
    if let Some(state) = &config.state {
        crate::event_log::log_events(&shared, state.with_extension("events.jsonl"));
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

/// Starts one device: opens its state, builds its authenticator, plugs it
/// in, and runs it in a task of its own.
pub async fn start_device(config: RunConfig) -> Result<DeviceHandle, Error> {
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

/// The fixed facts `status` reports.
fn device_info(config: &RunConfig, bound: Option<String>) -> crate::registry::DeviceFacts {
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
    crate::registry::DeviceFacts {
        transport,
        address,
        aaguid,
        vendor_id: format!("{:04x}", config.usb.vendor_id),
        product_id: format!("{:04x}", config.usb.product_id),
        serial: config.usb.serial.clone(),
        product_name: config.usb.name.clone(),
        state: config.state.as_ref().map(|p| p.display().to_string()),
    }
}
