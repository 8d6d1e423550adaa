//! The running devices of a daemon: what the control API and the signal
//! handlers know of each.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uhid_device::device::Control;
use uhid_device::presence::Shared;

use crate::config::RunConfig;

/// What a device's status says that does not change while it runs.
#[derive(Debug, Clone)]
pub struct DeviceFacts {
    /// `uhid` or `udp`.
    pub transport: &'static str,
    /// The uhid path or the bound UDP address.
    pub address: String,
    /// The AAGUID as a UUID.
    pub aaguid: String,
    /// USB vendor ID, 4 hex digits.
    pub vendor_id: String,
    /// USB product ID, 4 hex digits.
    pub product_id: String,
    /// USB serial number.
    pub serial: String,
    /// USB product name.
    pub product_name: String,
    /// The state file; `None` when in memory.
    pub state: Option<String>,
}

/// What the API knows of a running device.
#[derive(Clone)]
pub struct DeviceHandle {
    /// Its name in the daemon.
    pub name: String,
    /// Requests to its worker (replug, shutdown, operations).
    pub control: mpsc::UnboundedSender<Control>,
    /// Its virtual user, faults and events.
    pub shared: Arc<Shared>,
    /// Fixed facts for `status`: transport, USB identity, state file.
    pub info: DeviceFacts,
    /// The settings it was started with (clones start from them).
    pub run: RunConfig,
    /// The task running it.
    pub task: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>>,
}

impl DeviceHandle {
    /// Unplugs the device and waits for it to stop.
    pub async fn stop(&self) {
        let _ = self.control.send(Control::Shutdown);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!(device = %self.name, "the device did not stop within 5 s");
            }
        }
    }

    fn finished(&self) -> bool {
        self.task
            .lock()
            .map(|t| t.as_ref().is_some_and(tokio::task::JoinHandle::is_finished))
            .unwrap_or(false)
    }
}

/// The devices of this daemon.
#[derive(Clone, Default)]
pub struct Registry {
    devices: Arc<std::sync::RwLock<BTreeMap<String, DeviceHandle>>>,
}

impl Registry {
    /// Adds a running device.
    pub fn add(&self, d: DeviceHandle) {
        if let Ok(mut m) = self.devices.write() {
            m.insert(d.name.clone(), d);
        }
    }

    /// Takes a device out (it keeps running until stopped).
    pub fn remove(&self, name: &str) -> Option<DeviceHandle> {
        self.devices.write().ok().and_then(|mut m| m.remove(name))
    }

    /// Whether a device of this name runs.
    pub fn contains(&self, name: &str) -> bool {
        self.devices
            .read()
            .map(|m| m.contains_key(name))
            .unwrap_or(false)
    }

    /// Resolves when the last device has stopped because of an error (a
    /// transport failure), with that error; devices that fail while others
    /// run are dropped from the registry and logged.
    pub async fn all_stopped(&self) -> std::io::Result<()> {
        let mut last_error = None;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for d in self.all() {
                if !d.finished() {
                    continue;
                }
                self.remove(&d.name);
                let task = d.task.lock().ok().and_then(|mut t| t.take());
                if let Some(Ok(Err(e))) = match task {
                    Some(t) => Some(t.await),
                    None => None,
                } {
                    last_error = Some(e);
                }
            }
            if self.all().is_empty() {
                if let Some(e) = last_error.take() {
                    return Err(e);
                }
            }
        }
    }

    /// Unplugs every device.
    pub async fn shutdown_all(&self) {
        for d in self.all() {
            d.stop().await;
        }
    }

    /// The device named `name`.
    pub fn find(&self, name: &str) -> Option<DeviceHandle> {
        self.devices.read().ok().and_then(|m| m.get(name).cloned())
    }

    /// Every device.
    pub fn all(&self) -> Vec<DeviceHandle> {
        self.devices
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}
