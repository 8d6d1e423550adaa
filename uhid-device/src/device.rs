//! One virtual key: the CTAPHID layer, a worker thread running the
//! authenticator, and a transport, wired together.
//!
//! ```text
//!  transport.recv ─► Ctaphid ─► Process ─► worker thread (CBOR: Authenticator::handle, may wait
//!        ▲               │  ▲                    │         for the user; MSG: handle_ctap1)
//!        └── reports ◄───┘  └──── response ◄─────┘
//!              ▲
//!              └── KEEPALIVE every 80 ms while the worker is busy
//! ```
//!
//! A request that cannot wait — the presence mode answers at once, no
//! fault is pending and the worker is idle — is answered by the driver
//! itself, without the two thread hand-offs: on a virtual machine each
//! one costs tens of microseconds, more than the signature.

use std::sync::atomic::Ordering;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use authenticator_core::wire::Command as CtapCommand;
use authenticator_core::Authenticator;
use tokio::sync::mpsc;

use crate::faults::{Fault, FaultKind, Origin};
use crate::presence::{DaemonEnv, EventKind, PresenceMode, Shared};
use crate::udp::UdpTransport;
use crate::uhid::UhidTransport;
use fidosim_ctaphid::packet::Report;
use fidosim_ctaphid::{
    Action, Command, Ctaphid, HidError, KeepaliveStatus, Request, SequenceGap, Settings,
};

/// How often a busy device sends KEEPALIVE (CTAP 2.1 §11.2.9.1.5 asks for at
/// least every 100 ms).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(80);

/// A transport of reports.
#[derive(Debug)]
pub enum Transport {
    /// A kernel uhid device.
    Uhid(UhidTransport),
    /// HID over UDP.
    Udp(UdpTransport),
}

impl Transport {
    async fn recv(&mut self) -> std::io::Result<Report> {
        match self {
            Self::Uhid(t) => t.recv().await,
            Self::Udp(t) => t.recv().await,
        }
    }

    async fn send(&mut self, report: &Report) -> std::io::Result<()> {
        tracing::trace!(packet = %PacketHeader(report), "→ host");
        match self {
            Self::Uhid(t) => t.send(report),
            Self::Udp(t) => t.send(report).await,
        }
    }

    /// Logs a warning for a message that lost a report on the way in,
    /// naming what can lose one on this transport.
    fn report_lost(&self, gap: SequenceGap) {
        let cause = match self {
            // The kernel's uhid driver keeps at most 32 reports the daemon
            // has not read yet (UHID_BUFSIZE) and drops the rest.
            Self::Uhid(_) if crate::uhid::reader_is_realtime() => {
                "the kernel's uhid output queue (32 reports) overflowed although the reader \
                 runs at a real-time priority: the kernel log says \"Output queue is full\""
            }
            Self::Uhid(_) => {
                "the kernel's uhid output queue (32 reports) overflowed while the daemon's \
                 reader waited for the CPU (the kernel log says \"Output queue is full\"); \
                 give fidosim CAP_SYS_NICE or RLIMIT_RTPRIO >= 1 so its reader runs at a \
                 real-time priority (docs/uhid.md)"
            }
            Self::Udp(_) => "a datagram was lost: UDP does not retransmit",
        };
        tracing::warn!(
            channel = format_args!("{:08x}", gap.cid),
            expected = gap.expected,
            got = gap.got,
            "a report of the host's message was lost ({cause}, or the host skipped it); \
             the message is refused with ERR_INVALID_SEQ"
        );
    }

    fn replug(&mut self) -> std::io::Result<()> {
        match self {
            Self::Uhid(t) => t.replug(),
            Self::Udp(t) => {
                t.replug();
                Ok(())
            }
        }
    }

    fn close(&mut self) {
        if let Self::Uhid(t) = self {
            if let Err(e) = t.shutdown() {
                tracing::warn!(error = %e, "could not destroy the uhid device");
            } else {
                tracing::info!("virtual security key removed");
            }
        }
    }
}

/// A report's CTAPHID header, for the trace log: channel, then the
/// command and message length of an initialization packet or the sequence
/// number of a continuation (CTAP 2.1 §11.2.4). The payload is never
/// logged: it carries PIN-protocol material, largeBlobKey, credBlob and
/// large-blob contents (docs/security.md).
struct PacketHeader<'a>(&'a [u8]);

impl std::fmt::Display for PacketHeader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match fidosim_ctaphid::packet::Packet::parse(self.0) {
            Some(fidosim_ctaphid::packet::Packet::Init { cid, cmd, bcnt, .. }) => {
                write!(f, "cid={cid:08x} init cmd={cmd:#04x} bcnt={bcnt}")
            }
            Some(fidosim_ctaphid::packet::Packet::Cont { cid, seq, .. }) => {
                write!(f, "cid={cid:08x} cont seq={seq}")
            }
            None => write!(f, "{} bytes, not a CTAPHID packet", self.0.len()),
        }
    }
}

/// Work on the authenticator itself, run by the worker between requests.
pub type Exec = Box<dyn FnOnce(&mut Authenticator<DaemonEnv>) + Send>;

/// Operations on a running device.
pub enum Control {
    /// Unplug and plug back in: same identity and credentials, fresh
    /// per-power-cycle state.
    Replug,
    /// Run a closure on the authenticator (the control API reads and
    /// changes credentials and settings this way), after the request in
    /// progress, if any.
    Exec(Exec),
    /// Stop: destroy the device and return.
    Shutdown,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Replug => "Replug",
            Self::Exec(_) => "Exec",
            Self::Shutdown => "Shutdown",
        })
    }
}

enum Job {
    Request(Request),
    PowerCycle,
    Exec(Exec),
}

/// What the worker finished: a request's answer, or other work.
enum Finished {
    Answer(Done),
    Other,
}

/// The authenticator, shared by the driver (requests that cannot wait)
/// and the worker (everything else); one of them at a time.
type SharedAuthenticator = Arc<Mutex<Authenticator<DaemonEnv>>>;

struct Done {
    txn: u64,
    cmd: Command,
    response: Vec<u8>,
    delivery: Delivery,
}

/// How an answer leaves; faults may precede it with KEEPALIVE packets or
/// hold it back.
#[derive(Debug, Default, Clone, Copy)]
struct Delivery {
    keepalives_first: u32,
    drop: bool,
}

/// Runs a device until [`Control::Shutdown`] or a transport failure.
pub async fn run(
    mut transport: Transport,
    authenticator: Authenticator<DaemonEnv>,
    shared: Arc<Shared>,
    settings: Settings,
    mut control: mpsc::UnboundedReceiver<Control>,
) -> std::io::Result<()> {
    let start = Instant::now();
    let now_ms = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut hid = Ctaphid::new(settings);
    let (job_tx, job_rx) = std_mpsc::channel::<Job>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
    let authenticator: SharedAuthenticator = Arc::new(Mutex::new(authenticator));
    // Jobs sent to the worker and not finished yet.
    let mut queued = 0usize;
    let worker_shared = shared.clone();
    let worker_authenticator = authenticator.clone();
    let worker = std::thread::Builder::new()
        .name("authenticator".into())
        .spawn(move || worker(worker_authenticator, worker_shared, job_rx, done_tx))?;
    let mut keepalive = tokio::time::interval(KEEPALIVE_INTERVAL);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    shared.emit(EventKind::DevicePlugged);

    let result = loop {
        let deadline = hid
            .next_deadline()
            .map(|ms| start + Duration::from_millis(ms));
        let actions = tokio::select! {
            r = transport.recv() => match r {
                Ok(report) => {
                    tracing::trace!(packet = %PacketHeader(&report), "← host");
                    let actions = hid.receive(now_ms(), &report);
                    if let Some(gap) = hid.take_sequence_gap() {
                        transport.report_lost(gap);
                    }
                    actions
                }
                Err(e) => break Err(e),
            },
            Some(finished) = done_rx.recv() => {
                queued = queued.saturating_sub(1);
                match finished {
                    Finished::Answer(done) => vec![Action::Send(deliver(&mut hid, &done))],
                    Finished::Other => Vec::new(),
                }
            }
            _ = keepalive.tick(), if hid.busy_channel().is_some() => {
                let status = if shared.waiting_for_user.load(Ordering::SeqCst) {
                    KeepaliveStatus::UpNeeded
                } else {
                    KeepaliveStatus::Processing
                };
                hid.keepalive(status).map(Action::Send).into_iter().collect()
            }
            _ = sleep_until(deadline) => hid.poll(now_ms()),
            c = control.recv() => match c {
                Some(Control::Replug) => {
                    if let Err(e) = transport.replug() {
                        break Err(e);
                    }
                    hid.reset();
                    // Abandon a running request: its channel no longer exists.
                    shared.cancelled_txn.store(shared.current_txn.load(Ordering::SeqCst), Ordering::SeqCst);
                    if job_tx.send(Job::PowerCycle).is_ok() {
                        queued += 1;
                    }
                    shared.emit(EventKind::DeviceReplugged);
                    Vec::new()
                }
                Some(Control::Exec(f)) => {
                    if job_tx.send(Job::Exec(f)).is_err() {
                        break Err(std::io::Error::other("the authenticator worker stopped"));
                    }
                    queued += 1;
                    Vec::new()
                }
                Some(Control::Shutdown) | None => break Ok(()),
            },
        };
        for action in actions {
            match action {
                Action::Send(reports) => send_reports(&mut transport, &reports).await,
                Action::Process(req) => {
                    if let Some(mode) = answers_at_once(&shared, queued) {
                        let done = run_at_once(&authenticator, &shared, req, mode)?;
                        send_reports(&mut transport, &deliver(&mut hid, &done)).await;
                        continue;
                    }
                    // Restart the keepalive clock for the new transaction.
                    keepalive.reset();
                    if job_tx.send(Job::Request(req)).is_err() {
                        return Err(std::io::Error::other("the authenticator worker stopped"));
                    }
                    queued += 1;
                }
                Action::Cancel { txn } => {
                    tracing::debug!(txn, "request cancelled by the host");
                    shared.cancelled_txn.store(txn, Ordering::SeqCst);
                }
                Action::Wink => tracing::info!("wink: the host asked the key to identify itself"),
            }
        }
    };
    // End any wait for the user, so the worker can finish.
    shared.stopping.store(true, Ordering::SeqCst);
    transport.close();
    drop(job_tx);
    let _ = worker.join();
    shared.emit(EventKind::DeviceUnplugged);
    result
}

/// The reports that answer `done`: a fault's KEEPALIVE packets (CTAP 2.1
/// §11.2.9.1.7 lets the device send them while it works) and the answer,
/// unless a fault drops it (the transaction still ends, so the channel is
/// free again and the client times out).
fn deliver(hid: &mut Ctaphid, done: &Done) -> Vec<Report> {
    let mut reports = Vec::new();
    if hid.busy_txn() == Some(done.txn) {
        for _ in 0..done.delivery.keepalives_first {
            reports.extend(
                hid.keepalive(KeepaliveStatus::Processing)
                    .unwrap_or_default(),
            );
        }
    }
    let answer = hid.respond(done.txn, done.cmd, &done.response);
    if done.delivery.drop {
        tracing::info!(txn = done.txn, "the answer is dropped (fault)");
    } else {
        reports.extend(answer);
    }
    reports
}

async fn send_reports(transport: &mut Transport, reports: &[Report]) {
    for r in reports {
        if let Err(e) = transport.send(r).await {
            tracing::warn!(error = %e, "could not send a report");
        }
    }
}

/// Runs a request in the driver, under the presence `mode` it was
/// dispatched with (see [`answers_at_once`]).
fn run_at_once(
    authenticator: &SharedAuthenticator,
    shared: &Shared,
    req: Request,
    mode: PresenceMode,
) -> std::io::Result<Done> {
    let Ok(mut a) = authenticator.lock() else {
        return Err(std::io::Error::other("the authenticator worker stopped"));
    };
    a.env_mut().pin_presence(Some(mode));
    let done = run_request(&mut a, shared, req, false);
    a.env_mut().pin_presence(None);
    Ok(done)
}

/// The presence mode to answer a request under without the worker, when
/// it cannot wait: the worker has nothing queued (so the order of work is
/// kept), the mode answers at once, and no fault is pending (a delay fault
/// holds the request).
fn answers_at_once(shared: &Shared, queued: usize) -> Option<PresenceMode> {
    if queued > 0 || !shared.faults.is_empty() {
        return None;
    }
    match shared.policy().0 {
        mode @ (PresenceMode::Approve | PresenceMode::Deny) => Some(mode),
        _ => None,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn worker(
    authenticator: SharedAuthenticator,
    shared: Arc<Shared>,
    jobs: std_mpsc::Receiver<Job>,
    done: mpsc::UnboundedSender<Finished>,
) {
    while let Ok(job) = jobs.recv() {
        let Ok(mut authenticator) = authenticator.lock() else {
            tracing::error!(
                "the authenticator is unusable after a panic; the device stops serving"
            );
            return;
        };
        let finished = match job {
            Job::PowerCycle => {
                authenticator.power_cycle();
                Finished::Other
            }
            Job::Exec(f) => {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut authenticator)))
                    .is_err()
                {
                    tracing::error!("a control operation panicked; the device keeps serving");
                }
                Finished::Other
            }
            Job::Request(req) => {
                Finished::Answer(run_request(&mut authenticator, &shared, req, true))
            }
        };
        drop(authenticator);
        if done.send(finished).is_err() {
            return;
        }
    }
}

/// Serves one request, logs it and reports a CTAP error as an event.
/// `may_wait`: whether a delay fault may hold it (only on the worker).
fn run_request(
    authenticator: &mut Authenticator<DaemonEnv>,
    shared: &Shared,
    req: Request,
    may_wait: bool,
) -> Done {
    shared.current_txn.store(req.txn, Ordering::SeqCst);
    let started = Instant::now();
    let (cmd, response, delivery) = serve(authenticator, shared, &req, may_wait);
    shared.current_txn.store(0, Ordering::SeqCst);
    let (command, status) = describe(&req, &response);
    let subcommand = match req.cmd {
        Command::Cbor => authenticator_core::wire::subcommand_name(&req.payload),
        _ => None,
    };
    if response.first().is_some_and(|&b| b != 0) && cmd == Command::Cbor {
        shared.emit(EventKind::CtapError {
            command: command.to_owned(),
            status: status.clone(),
        });
    }
    let channel = format_args!("{:08x}", req.cid);
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    // The command and subcommand names, never the parameters (see
    // PacketHeader).
    match subcommand {
        Some(subcommand) => tracing::info!(
            command,
            subcommand,
            channel,
            status = %status,
            duration_ms,
            "ctap request"
        ),
        None => tracing::info!(
            command,
            channel,
            status = %status,
            duration_ms,
            "ctap request"
        ),
    }
    Done {
        txn: req.txn,
        cmd,
        response,
        delivery,
    }
}

/// Runs one request with the faults that apply to it: a delay first, then
/// a status or CTAPHID error in place of the request, else the
/// authenticator's answer, changed by response mutations; then how the
/// answer leaves. Returns the CTAPHID command and payload of the answer.
fn serve(
    authenticator: &mut Authenticator<DaemonEnv>,
    shared: &Shared,
    req: &Request,
    may_wait: bool,
) -> (Command, Vec<u8>, Delivery) {
    let origin = match req.cmd {
        Command::Msg => Origin::U2f,
        _ => Origin::Ctap2(req.payload.first().copied().unwrap_or(0)),
    };
    let faults = &shared.faults;
    let announce = |fired: &[Fault]| {
        for f in fired {
            tracing::info!(
                id = f.id,
                command = %origin.name(),
                fault = %f.to_json(),
                "fault fired"
            );
            shared.emit(EventKind::FaultFired {
                fault: f.to_json(),
                command: origin.name(),
                channel: format!("{:08x}", req.cid),
            });
        }
    };

    // A delay fault added after a request was dispatched without the
    // worker waits for the next one.
    let delays = faults.fire(origin, |k| may_wait && matches!(k, FaultKind::Delay(_)));
    announce(&delays);
    let ms: u64 = delays
        .iter()
        .map(|f| match f.spec.kind {
            FaultKind::Delay(ms) => ms,
            _ => 0,
        })
        .fold(0, u64::saturating_add);
    if ms > 0 && hold(shared, Duration::from_millis(ms)) && req.cmd == Command::Cbor {
        // CTAP 2.1 §11.2.9.1.5: a request cancelled before it ran ends with
        // CTAP2_ERR_KEEPALIVE_CANCEL.
        let cancel = authenticator_core::StatusCode::KeepaliveCancel as u8;
        return (Command::Cbor, vec![cancel], Delivery::default());
    }

    let mut one = false;
    let instead = faults.fire(origin, |k| {
        let hit = !one && matches!(k, FaultKind::Status(_) | FaultKind::ChannelBusy);
        one |= hit;
        hit
    });
    announce(&instead);
    let (cmd, mut response) = match instead.first().map(|f| &f.spec.kind) {
        // CTAP 2.1 §8.2.1: a response that is only a status byte.
        Some(FaultKind::Status(s)) => (Command::Cbor, vec![*s]),
        // CTAP 2.1 §11.2.9.1.6: CTAPHID_ERROR with ERR_CHANNEL_BUSY.
        Some(FaultKind::ChannelBusy) => (Command::Error, vec![HidError::ChannelBusy as u8]),
        _ => (req.cmd, answer(authenticator, req)),
    };

    if cmd == Command::Cbor && response.first() == Some(&0) {
        let mut changed = response;
        let mutations = faults.fire(origin, |k| match k {
            FaultKind::Mutate(m) => match m.apply(&changed) {
                Ok(r) => {
                    changed = r;
                    true
                }
                Err(_) => false,
            },
            _ => false,
        });
        announce(&mutations);
        response = changed;
    }

    let mut delivery = Delivery::default();
    let on_delivery = faults.fire(origin, |k| {
        matches!(k, FaultKind::Drop | FaultKind::KeepaliveStorm(_))
    });
    announce(&on_delivery);
    for f in &on_delivery {
        match f.spec.kind {
            FaultKind::Drop => delivery.drop = true,
            FaultKind::KeepaliveStorm(n) => {
                delivery.keepalives_first = delivery.keepalives_first.saturating_add(n);
            }
            _ => {}
        }
    }
    (cmd, response, delivery)
}

/// Holds a request for `d` while the driver keeps the channel alive with
/// KEEPALIVE (CTAP 2.1 §11.2.9.1.7); `true` when it was cancelled (or the
/// device stopped) meanwhile.
fn hold(shared: &Shared, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        if shared.cancelled() {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(10)));
    }
}

/// The authenticator's answer to a CBOR or MSG request.
fn answer(authenticator: &mut Authenticator<DaemonEnv>, req: &Request) -> Vec<u8> {
    // The core does not panic on any input (tests and fuzzing check it);
    // should it ever, the host gets an error answer and the device keeps
    // serving instead of staying busy for good.
    match req.cmd {
        Command::Cbor => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            authenticator.handle(&req.payload)
        }))
        .unwrap_or_else(|_| {
            tracing::error!("the authenticator panicked; answering CTAP1_ERR_OTHER");
            vec![authenticator_core::StatusCode::Other as u8]
        }),
        // CTAP 2.1 §11.2.9.1.1: a CTAP1/U2F APDU; the answer (data ‖ SW1
        // SW2) goes back as CTAPHID_MSG.
        Command::Msg => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            authenticator.handle_ctap1(&req.payload)
        }))
        .unwrap_or_else(|_| {
            tracing::error!("the authenticator panicked; answering SW 6F00");
            SW_UNKNOWN.to_be_bytes().to_vec()
        }),
        // Ctaphid hands only CBOR and MSG requests to the application.
        _ => vec![authenticator_core::StatusCode::InvalidCommand as u8],
    }
}

/// ISO 7816-4 "no precise diagnosis": the answer to a U2F request whose
/// handler failed.
const SW_UNKNOWN: u16 = 0x6F00;

/// The command and outcome of a request, for the log.
fn describe(req: &Request, response: &[u8]) -> (&'static str, String) {
    match req.cmd {
        Command::Msg => {
            // FIDO U2F Raw Message Formats v1.2: INS is the APDU's second
            // byte, the status word its answer's last two.
            let command = match req.payload.get(1) {
                Some(0x01) => "U2F_REGISTER",
                Some(0x02) => "U2F_AUTHENTICATE",
                Some(0x03) => "U2F_VERSION",
                _ => "U2F unknown",
            };
            let status = match response {
                [.., sw1, sw2] => match u16::from_be_bytes([*sw1, *sw2]) {
                    0x9000 => "SW_NO_ERROR".to_owned(),
                    0x6985 => "SW_CONDITIONS_NOT_SATISFIED".to_owned(),
                    0x6A80 => "SW_WRONG_DATA".to_owned(),
                    0x6700 => "SW_WRONG_LENGTH".to_owned(),
                    0x6E00 => "SW_CLA_NOT_SUPPORTED".to_owned(),
                    0x6D00 => "SW_INS_NOT_SUPPORTED".to_owned(),
                    sw => format!("SW {sw:04X}"),
                },
                _ => "unknown".to_owned(),
            };
            (command, status)
        }
        _ => {
            let command = req
                .payload
                .first()
                .and_then(|b| CtapCommand::from_u8(*b))
                .map_or("unknown", CtapCommand::name);
            let status = response
                .first()
                .and_then(|b| authenticator_core::StatusCode::from_known(*b))
                .map_or("unknown", |s| s.name());
            (command, status.to_owned())
        }
    }
}
