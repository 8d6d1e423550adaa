//! The uhid transport: a virtual USB HID device created through the
//! kernel's `/dev/uhid`, which hidraw clients (browsers, libfido2,
//! python-fido2, OpenSSH) see as a security key.
//!
//! Events are encoded with uhid-virt's codec; this module owns the file
//! handle so that one thread can block reading host output while another
//! writes input reports.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::inbox;
use uhid_virt::{Bus, CreateParams, InputEvent, OutputEvent, UHID_EVENT_SIZE};

use fidosim_ctaphid::packet::{Report, REPORT_LEN};

/// The FIDO HID report descriptor (CTAP 2.1 §11.2.8.1): usage page 0xF1D0,
/// usage 0x01, 64-byte input (usage 0x20) and output (usage 0x21) reports.
#[rustfmt::skip]
pub const REPORT_DESCRIPTOR: [u8; 34] = [
    0x06, 0xD0, 0xF1, // Usage Page (FIDO Alliance 0xF1D0)
    0x09, 0x01,       // Usage (CTAPHID)
    0xA1, 0x01,       // Collection (Application)
    0x09, 0x20,       //   Usage (Input Report Data)
    0x15, 0x00,       //   Logical Minimum (0)
    0x26, 0xFF, 0x00, //   Logical Maximum (255)
    0x75, 0x08,       //   Report Size (8)
    0x95, 0x40,       //   Report Count (64)
    0x81, 0x02,       //   Input (Data, Var, Abs)
    0x09, 0x21,       //   Usage (Output Report Data)
    0x15, 0x00,       //   Logical Minimum (0)
    0x26, 0xFF, 0x00, //   Logical Maximum (255)
    0x75, 0x08,       //   Report Size (8)
    0x95, 0x40,       //   Report Count (64)
    0x91, 0x02,       //   Output (Data, Var, Abs)
    0xC0,             // End Collection
];

/// The identity of the virtual USB device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbIdentity {
    /// Product name (at most 127 bytes).
    pub name: String,
    /// USB vendor ID.
    pub vendor_id: u16,
    /// USB product ID.
    pub product_id: u16,
    /// Device version (bcdDevice).
    pub version: u16,
    /// ASCII serial number, the HID `uniq` (at most 63 bytes).
    pub serial: String,
}

impl Default for UsbIdentity {
    fn default() -> Self {
        Self {
            name: "fidosim virtual security key".into(),
            // pid.codes test VID/PID: not assigned to any product.
            vendor_id: 0x1209,
            product_id: 0x0001,
            version: 0x0100,
            serial: "FIDOSIM0001".into(),
        }
    }
}

/// Why the uhid device could not be created.
#[derive(Debug)]
pub enum UhidError {
    /// The identity does not fit uhid's fields.
    BadIdentity(&'static str),
    /// `/dev/uhid` does not exist.
    Missing(PathBuf),
    /// No permission to open `/dev/uhid`.
    Permission(PathBuf),
    /// Any other I/O failure.
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for UhidError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadIdentity(what) => write!(f, "invalid device identity: {what}"),
            Self::Missing(p) => write!(
                f,
                "{} does not exist: this kernel has no uhid support loaded. Load it with \
                 `sudo modprobe uhid`, or run without a kernel device: `fidosim run --transport udp`",
                p.display()
            ),
            Self::Permission(p) => write!(
                f,
                "permission denied opening {}: run as root, or install the udev rule \
                 (dist/udev/70-fidosim.rules, see docs/uhid.md) and join the `fidosim` group, \
                 or use `fidosim run --transport udp`",
                p.display()
            ),
            Self::Io(p, e) => write!(f, "cannot use {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for UhidError {}

/// What the kernel told the device.
#[derive(Debug)]
pub(crate) enum HostEvent {
    /// A report written by a hidraw client.
    Report(Report),
    /// The reader stopped (I/O error or device gone).
    Closed(io::Error),
}

/// What the writer thread writes to `/dev/uhid`, in order.
#[derive(Debug)]
enum Outgoing {
    /// An input report for the host (UHID_INPUT2), paced.
    Report(Report),
    /// Any other event (create, destroy), at once.
    Event(Box<[u8; UHID_EVENT_SIZE]>),
}

/// How many input reports of one message go to the host back to back:
/// every answer up to 16 × 64 bytes (most CTAP answers, attestation
/// included) leaves at once.
pub const INPUT_BURST: usize = 16;

/// The pace of the reports after the first [`INPUT_BURST`] of a message:
/// one per millisecond, the most a USB full-speed interrupt endpoint
/// delivers (one 64-byte packet per 1 ms frame).
///
/// The kernel gives every process that has the hidraw node open its own
/// queue of 64 input reports (`HIDRAW_BUFFER_SIZE`) and silently drops
/// reports that do not fit; a USB key cannot outrun a client that reads,
/// but a uhid device writing the 129 reports of a 7,609-byte answer at
/// once can, when the client (or another process with the node open) is
/// waiting for the CPU. At this pace a client has as long to read as it
/// would have with a USB key: 48 ms behind before anything is lost.
pub const INPUT_PACE: std::time::Duration = std::time::Duration::from_millis(1);

/// A live uhid device.
#[derive(Debug)]
pub struct UhidTransport {
    path: PathBuf,
    identity: UsbIdentity,
    /// To the writer thread; `None` once the device is shut down.
    out: Option<std::sync::mpsc::Sender<Outgoing>>,
    writer: Option<std::thread::JoinHandle<()>>,
    events: inbox::Receiver<HostEvent>,
}

fn create_params(identity: &UsbIdentity) -> Result<CreateParams, UhidError> {
    if identity.name.len() > 127 {
        return Err(UhidError::BadIdentity("the name is longer than 127 bytes"));
    }
    if identity.serial.len() > 63 || !identity.serial.is_ascii() {
        return Err(UhidError::BadIdentity(
            "the serial must be ASCII and at most 63 bytes",
        ));
    }
    Ok(CreateParams {
        name: identity.name.clone(),
        phys: "fidosim".into(),
        uniq: identity.serial.clone(),
        // libfido2 ignores hidraw devices on buses other than USB.
        bus: Bus::USB,
        vendor: u32::from(identity.vendor_id),
        product: u32::from(identity.product_id),
        version: u32::from(identity.version),
        country: 0,
        rd_data: REPORT_DESCRIPTOR.to_vec(),
    })
}

fn open_error(path: &Path, e: io::Error) -> UhidError {
    match e.kind() {
        io::ErrorKind::NotFound => UhidError::Missing(path.to_owned()),
        io::ErrorKind::PermissionDenied => UhidError::Permission(path.to_owned()),
        _ => UhidError::Io(path.to_owned(), e),
    }
}

impl UhidTransport {
    /// Opens `path` (normally `/dev/uhid`) and creates the device. Must be
    /// called inside a Tokio runtime.
    pub fn create(path: &Path, identity: UsbIdentity) -> Result<Self, UhidError> {
        let params = create_params(&identity)?;
        // std opens every file with O_CLOEXEC on Linux.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| open_error(path, e))?;
        let io = |e| UhidError::Io(path.to_owned(), e);
        let reader = file.try_clone().map_err(io)?;
        let event: [u8; UHID_EVENT_SIZE] = InputEvent::Create(params).into();
        file.write_all(&event).map_err(io)?;
        let (tx, events) = inbox::inbox(inbox::CAPACITY).map_err(io)?;
        let failed = tx.clone();
        std::thread::Builder::new()
            .name("uhid-reader".into())
            .spawn(move || read_loop(reader, tx))
            .map_err(io)?;
        let (out, queue) = std::sync::mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("uhid-writer".into())
            .spawn(move || write_loop(file, queue, failed))
            .map_err(io)?;
        tracing::info!(
            path = %path.display(),
            name = %identity.name,
            vid = format_args!("{:04x}", identity.vendor_id),
            pid = format_args!("{:04x}", identity.product_id),
            "virtual USB security key created"
        );
        Ok(Self {
            path: path.to_owned(),
            identity,
            out: Some(out),
            writer: Some(writer),
            events,
        })
    }

    /// The next report from the host.
    pub async fn recv(&mut self) -> io::Result<Report> {
        match self.events.recv().await? {
            HostEvent::Report(r) => Ok(r),
            HostEvent::Closed(e) => Err(e),
        }
    }

    /// Queues a report for the host (UHID_INPUT2); the writer thread sends
    /// it at the pace of [`INPUT_PACE`] after the first [`INPUT_BURST`]
    /// reports of its message.
    pub fn send(&mut self, report: &Report) -> io::Result<()> {
        self.queue(Outgoing::Report(*report))
    }

    fn queue(&self, out: Outgoing) -> io::Result<()> {
        self.out
            .as_ref()
            .and_then(|o| o.send(out).ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the uhid device is closed"))
    }

    fn queue_event(&self, event: InputEvent<'_>) -> io::Result<()> {
        let bytes: [u8; UHID_EVENT_SIZE] = event.into();
        self.queue(Outgoing::Event(Box::new(bytes)))
    }

    /// Unplugs the device and plugs it back in with the same identity,
    /// after the reports already queued.
    pub fn replug(&mut self) -> io::Result<()> {
        self.destroy()?;
        let params = create_params(&self.identity)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.queue_event(InputEvent::Create(params))?;
        tracing::info!(path = %self.path.display(), "virtual security key re-plugged");
        Ok(())
    }

    /// Removes the device from the system, after the reports already
    /// queued.
    pub fn destroy(&mut self) -> io::Result<()> {
        self.queue_event(InputEvent::Destroy)
    }

    /// Removes the device and waits until the writer thread has written
    /// everything queued before, the removal last.
    pub fn shutdown(&mut self) -> io::Result<()> {
        let queued = self.destroy();
        drop(self.out.take());
        if let Some(w) = self.writer.take() {
            if w.join().is_err() {
                return Err(io::Error::other("the uhid writer thread panicked"));
            }
        }
        queued
    }
}

/// The writer: everything for `/dev/uhid`, in order, input reports paced
/// (see [`INPUT_PACE`]). A failed write ends the device: the driver hears
/// of it as the reader's end.
fn write_loop(
    mut file: File,
    queue: std::sync::mpsc::Receiver<Outgoing>,
    failed: inbox::Sender<HostEvent>,
) {
    // Reports of the current message written so far, and when the last went.
    let mut in_message = 0usize;
    let mut last = std::time::Instant::now();
    while let Ok(out) = queue.recv() {
        let written = match out {
            Outgoing::Report(report) => {
                // CTAP 2.1 §11.2.4: an initialization packet has bit 7 of
                // its fifth byte set and starts a message.
                if report[4] & 0x80 != 0 {
                    in_message = 0;
                }
                in_message += 1;
                if in_message > INPUT_BURST {
                    let due = last + INPUT_PACE;
                    let now = std::time::Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
                let event: [u8; UHID_EVENT_SIZE] = InputEvent::Input { data: &report }.into();
                let w = file.write_all(&event);
                last = std::time::Instant::now();
                w
            }
            Outgoing::Event(event) => file.write_all(&event[..]),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot write to /dev/uhid; the device stops");
            let _ = failed.push(HostEvent::Closed(e));
            return;
        }
    }
}

/// `UHID_OUTPUT` in `enum uhid_event_type` (linux/uhid.h): a report a
/// hidraw client wrote.
const UHID_OUTPUT: u32 = 6;
/// Where `struct uhid_output_req`'s `size` sits in a `struct uhid_event`
/// (packed): after the 4-byte type and the 4,096-byte `data`.
const UHID_OUTPUT_SIZE_AT: usize = 4 + 4096;

/// The reader: one `read` per event, and for a report (the only event that
/// comes in numbers) no allocation, no lock and no log line before it is
/// queued for the device. The kernel keeps at most 32 events for a uhid
/// device that has not read them (`UHID_BUFSIZE`) and drops the rest
/// ("Output queue is full" in the kernel log), and a hidraw client may
/// write the 129 reports of a maximum-size message back to back, so this
/// thread must never wait for anything but the kernel; it also asks for a
/// real-time priority ([`raise_priority`]) so that a loaded CPU does not
/// leave it unscheduled while the queue fills.
fn read_loop(mut reader: File, tx: inbox::Sender<HostEvent>) {
    raise_priority();
    let mut buf = [0u8; UHID_EVENT_SIZE];
    loop {
        if let Err(e) = reader.read_exact(&mut buf) {
            hand_over(&tx, HostEvent::Closed(e));
            return;
        }
        let kind = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if kind == UHID_OUTPUT {
            let size = usize::from(u16::from_ne_bytes([
                buf[UHID_OUTPUT_SIZE_AT],
                buf[UHID_OUTPUT_SIZE_AT + 1],
            ]));
            let data = &buf[4..4 + size.min(4096)];
            if !queue_report(data, &tx) {
                return;
            }
            continue;
        }
        let event = match OutputEvent::try_from(buf) {
            Ok(ev) => ev,
            Err(_) => {
                tracing::debug!("ignoring an unknown uhid event");
                continue;
            }
        };
        match event {
            OutputEvent::Output { data } => {
                if !queue_report(&data, &tx) {
                    return;
                }
            }
            OutputEvent::Start { .. } => tracing::debug!("uhid: start"),
            OutputEvent::Stop => tracing::debug!("uhid: stop"),
            OutputEvent::Open => tracing::debug!("uhid: a client opened the hidraw node"),
            OutputEvent::Close => tracing::debug!("uhid: the last client closed the hidraw node"),
            OutputEvent::GetReport { id, .. } => {
                // No feature reports: answer with EIO so the caller is not left waiting.
                reply_error(
                    &reader,
                    InputEvent::GetReportReply {
                        id,
                        err: 5,
                        data: Vec::new(),
                    },
                );
            }
            OutputEvent::SetReport { id, .. } => {
                reply_error(&reader, InputEvent::SetReportReply { id, err: 5 });
            }
        }
    }
}

/// Queues one output report for the device; `false` when the device is gone.
fn queue_report(data: &[u8], tx: &inbox::Sender<HostEvent>) -> bool {
    // hidraw writes arrive with the report ID (0) in front.
    let report = match data.len() {
        65 => &data[1..],
        REPORT_LEN => data,
        n => {
            tracing::debug!(len = n, "ignoring an output report of unexpected size");
            return true;
        }
    };
    let mut r = [0u8; REPORT_LEN];
    r.copy_from_slice(report);
    hand_over(tx, HostEvent::Report(r))
}

/// Puts an event in the driver's inbox, waiting while it is full (the
/// driver is [`inbox::CAPACITY`] events behind: the kernel's own queue
/// holds the next 32 reports meanwhile); `false` when the driver is gone.
fn hand_over(tx: &inbox::Sender<HostEvent>, mut event: HostEvent) -> bool {
    let mut warned = false;
    loop {
        if tx.is_closed() {
            return false;
        }
        match tx.push(event) {
            Ok(()) => return true,
            Err(back) => {
                event = back;
                if !warned {
                    warned = true;
                    tracing::warn!(
                        "the device driver is {} reports behind the uhid reader; \
                         the reader waits for it",
                        inbox::CAPACITY
                    );
                }
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        }
    }
}

/// Whether the reader thread got a real-time priority.
static REALTIME: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the uhid reader threads run at a real-time priority (see
/// [`raise_priority`]); the warning about a lost report says so.
pub fn reader_is_realtime() -> bool {
    REALTIME.load(std::sync::atomic::Ordering::Relaxed)
}

/// Gives the calling thread (the uhid reader) the lowest real-time
/// priority, `SCHED_FIFO` 1, so it runs as soon as the kernel has a report
/// for it, ahead of every ordinary process. That needs `CAP_SYS_NICE` (root
/// has it) or an `RLIMIT_RTPRIO` of at least 1 (`LimitRTPRIO=1` in a
/// systemd unit, `rtprio` in limits.conf); without either the thread keeps
/// its ordinary priority and a debug line says so. The thread only ever
/// blocks in `read`, so it cannot starve the machine.
fn raise_priority() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: pthread_self() is the calling thread, alive for the call;
    // `param` is a valid sched_param that outlives it.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        REALTIME.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!("uhid reader: real-time priority (SCHED_FIFO 1)");
    } else {
        tracing::debug!(
            error = %io::Error::from_raw_os_error(rc),
            "uhid reader: no real-time priority (needs CAP_SYS_NICE or RLIMIT_RTPRIO); \
             under heavy CPU load the kernel may drop reports"
        );
    }
}

fn reply_error(file: &File, event: InputEvent<'_>) {
    let bytes: [u8; UHID_EVENT_SIZE] = event.into();
    let mut f = file;
    if let Err(e) = f.write_all(&bytes) {
        tracing::warn!(error = %e, "cannot answer a uhid report request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_limits() {
        let long = UsbIdentity {
            name: "x".repeat(128),
            ..UsbIdentity::default()
        };
        assert!(matches!(
            create_params(&long),
            Err(UhidError::BadIdentity(_))
        ));
        let serial = UsbIdentity {
            serial: "é".into(),
            ..UsbIdentity::default()
        };
        assert!(matches!(
            create_params(&serial),
            Err(UhidError::BadIdentity(_))
        ));
        let p = create_params(&UsbIdentity::default()).ok().map(|p| p.bus);
        assert_eq!(p, Some(Bus::USB));
    }

    #[test]
    fn missing_device_node_says_what_to_do() {
        let e = UhidTransport::create(Path::new("/nonexistent/uhid"), UsbIdentity::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("modprobe uhid"), "{e}");
        assert!(e.contains("--transport udp"), "{e}");
    }
}
