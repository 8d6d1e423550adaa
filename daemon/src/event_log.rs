//! The event log beside a state file: every event of the device as a JSON
//! line, private to its owner, rotated at a size limit.

use uhid_device::presence::{Notice, Shared};

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
pub(crate) fn log_events(shared: &Shared, path: std::path::PathBuf) {
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
                    Notice::EventsLost { count: n }.to_string()
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            if let Err(err) = log.append(&line) {
                tracing::warn!(path = %path.display(), error = %err, "cannot append to the event log");
            }
        }
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::EventLog;

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
}
