//! The device's event bus: every event of one device, stamped with the
//! device's name and the wall-clock time, to every listener (the control
//! API's `/v1/events` stream, the event log).

use std::sync::Arc;

use fidosim_control_api::event::{Event, EventKind};
use tokio::sync::broadcast;

/// How many events a slow listener may fall behind before it misses some.
pub const EVENT_BACKLOG: usize = 4096;

/// The events of one device, to any number of listeners.
#[derive(Debug)]
pub(super) struct EventBus {
    sender: broadcast::Sender<Arc<Event>>,
}

impl EventBus {
    /// A bus nobody listens to yet.
    pub(super) fn new() -> Self {
        Self {
            sender: broadcast::channel(EVENT_BACKLOG).0,
        }
    }

    /// Listens to the events published from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Publishes `kind` as an event of `device`, at the current time (Unix
    /// milliseconds).
    pub(super) fn publish(&self, device: &str, kind: EventKind) {
        let event = Event {
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
            device: device.to_owned(),
            kind,
        };
        // Nobody listening is fine.
        let _ = self.sender.send(Arc::new(event));
    }
}
