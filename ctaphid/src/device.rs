//! The device end of CTAPHID (CTAP 2.1 §11.2) as a pure state machine: reports in, actions
//! out. Nothing here touches a file descriptor or reads a clock; the caller
//! passes the time in milliseconds, so every timeout is testable without
//! sleeping.
//!
//! ```text
//!  report ──► Ctaphid::receive(now) ──► Action::Send(reports)      (INIT, PING, WINK, LOCK, ERROR)
//!                                   └─► Action::Process(request)   (CBOR, MSG: the app runs it)
//!                                   └─► Action::Cancel(cid)        (CANCEL during a CBOR Process)
//!  Ctaphid::poll(now)  ──► Action::Send(ERR_MSG_TIMEOUT), lock expiry
//!  Ctaphid::keepalive(status) ──► reports   (the app calls it at least every 100 ms while busy)
//!  Ctaphid::respond(txn, payload) ──► reports
//! ```

use crate::packet::{
    fragment, Packet, Report, BROADCAST_CID, CONT_DATA_LEN, INIT_DATA_LEN, MAX_MESSAGE_LEN,
};

/// CTAPHID command codes (CTAP 2.1 §11.2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// CTAPHID_PING: echo.
    Ping = 0x01,
    /// CTAPHID_MSG: a CTAP1/U2F APDU.
    Msg = 0x03,
    /// CTAPHID_LOCK: exclusive use of the device for up to 10 s.
    Lock = 0x04,
    /// CTAPHID_INIT: allocate or resynchronise a channel.
    Init = 0x06,
    /// CTAPHID_WINK: identify the device.
    Wink = 0x08,
    /// CTAPHID_CBOR: a CTAP2 message.
    Cbor = 0x10,
    /// CTAPHID_CANCEL: abort the pending request of the channel.
    Cancel = 0x11,
    /// CTAPHID_KEEPALIVE: the device is still working.
    Keepalive = 0x3B,
    /// CTAPHID_ERROR.
    Error = 0x3F,
}

impl Command {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0x01 => Self::Ping,
            0x03 => Self::Msg,
            0x04 => Self::Lock,
            0x06 => Self::Init,
            0x08 => Self::Wink,
            0x10 => Self::Cbor,
            0x11 => Self::Cancel,
            0x3B => Self::Keepalive,
            0x3F => Self::Error,
            _ => return None,
        })
    }
}

/// CTAPHID_ERROR codes (CTAP 2.1 §11.2.9.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HidError {
    /// ERR_INVALID_CMD: the command is not valid.
    InvalidCmd = 0x01,
    /// ERR_INVALID_PAR: a parameter is invalid.
    InvalidPar = 0x02,
    /// ERR_INVALID_LEN: the message length is invalid.
    InvalidLen = 0x03,
    /// ERR_INVALID_SEQ: a continuation packet is out of sequence.
    InvalidSeq = 0x04,
    /// ERR_MSG_TIMEOUT: the message did not complete in time.
    MsgTimeout = 0x05,
    /// ERR_CHANNEL_BUSY: another channel is using the device.
    ChannelBusy = 0x06,
    /// ERR_LOCK_REQUIRED: the command requires a channel lock.
    LockRequired = 0x0A,
    /// ERR_INVALID_CHANNEL: the channel is not valid for the command.
    InvalidChannel = 0x0B,
    /// ERR_OTHER: unspecified error.
    Other = 0x7F,
}

/// KEEPALIVE status bytes (CTAP 2.1 §11.2.9.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeepaliveStatus {
    /// STATUS_PROCESSING: the authenticator is working.
    Processing = 1,
    /// STATUS_UPNEEDED: the authenticator waits for user presence.
    UpNeeded = 2,
}

/// CTAPHID_INIT capability flags (CTAP 2.1 §11.2.9.1.3).
pub mod capabilities {
    /// CAPABILITY_WINK: implements CTAPHID_WINK.
    pub const WINK: u8 = 0x01;
    /// CAPABILITY_CBOR: implements CTAPHID_CBOR.
    pub const CBOR: u8 = 0x04;
    /// CAPABILITY_NMSG: does NOT implement CTAPHID_MSG.
    pub const NMSG: u8 = 0x08;
}

/// A CTAP request for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The transaction, to pass back to [`Ctaphid::respond`].
    pub txn: u64,
    /// The channel.
    pub cid: u32,
    /// CBOR or MSG.
    pub cmd: Command,
    /// The message payload.
    pub payload: Vec<u8>,
}

/// What the transport must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these reports to the host, in order.
    Send(Vec<Report>),
    /// Run this request; answer with [`Ctaphid::respond`].
    Process(Request),
    /// The host cancelled the pending request of this transaction.
    Cancel {
        /// The transaction being cancelled.
        txn: u64,
    },
    /// Identify the device (blink, log a line).
    Wink,
}

/// Settings of the CTAPHID layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Major, minor and build device version reported by INIT.
    pub device_version: (u8, u8, u8),
    /// Capability flags reported by INIT.
    pub capabilities: u8,
    /// How long a multi-packet message may wait for its next packet: the
    /// timer starts at the initialization packet and starts again at each
    /// continuation, so a long message on a slow machine is not cut off
    /// while its packets keep coming.
    pub message_timeout_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            device_version: (0, 1, 0),
            // MSG is implemented (CTAP1/U2F), so NMSG is clear.
            capabilities: capabilities::WINK | capabilities::CBOR,
            message_timeout_ms: 1_000,
        }
    }
}

/// A message being reassembled.
#[derive(Debug)]
struct Assembly {
    cid: u32,
    cmd: u8,
    len: usize,
    buf: Vec<u8>,
    next_seq: u8,
    deadline_ms: u64,
}

/// A continuation packet that skipped one or more sequence numbers: the
/// packets in between were lost (or the host sent them out of order). The
/// message is dropped with ERR_INVALID_SEQ; [`Ctaphid::take_sequence_gap`]
/// hands the gap to the transport, which knows what can lose a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceGap {
    /// The channel of the message.
    pub cid: u32,
    /// The sequence number that was due.
    pub expected: u8,
    /// The one that came.
    pub got: u8,
}

/// The CTAPHID layer of one device.
#[derive(Debug)]
pub struct Ctaphid {
    settings: Settings,
    /// Channels handed out so far are `1..next_cid`.
    next_cid: u32,
    assembly: Option<Assembly>,
    /// The transaction the application is running: (txn, channel, command).
    busy: Option<(u64, u32, Command)>,
    next_txn: u64,
    /// The channel holding CTAPHID_LOCK, and until when.
    lock: Option<(u32, u64)>,
    /// The last sequence gap, until the transport takes it.
    gap: Option<SequenceGap>,
}

impl Ctaphid {
    /// A fresh layer: no channels allocated.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            next_cid: 1,
            assembly: None,
            busy: None,
            next_txn: 1,
            lock: None,
            gap: None,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Forgets every channel and transaction (the device was re-plugged).
    pub fn reset(&mut self) {
        *self = Self::new(self.settings.clone());
    }

    /// The channel of the running transaction, if any.
    pub fn busy_channel(&self) -> Option<u32> {
        self.busy.map(|(_, cid, _)| cid)
    }

    /// The running transaction, if any.
    pub fn busy_txn(&self) -> Option<u64> {
        self.busy.map(|(txn, _, _)| txn)
    }

    /// The last continuation packet that skipped sequence numbers, if one
    /// came since the last call.
    pub fn take_sequence_gap(&mut self) -> Option<SequenceGap> {
        self.gap.take()
    }

    /// When [`Ctaphid::poll`] next has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        let a = self.assembly.as_ref().map(|a| a.deadline_ms);
        let l = self.lock.map(|(_, until)| until);
        match (a, l) {
            (Some(a), Some(l)) => Some(a.min(l)),
            (a, l) => a.or(l),
        }
    }

    fn allocated(&self, cid: u32) -> bool {
        cid != 0 && cid != BROADCAST_CID && cid < self.next_cid
    }

    fn error(cid: u32, e: HidError) -> Action {
        Action::Send(fragment(cid, Command::Error as u8, &[e as u8]))
    }

    /// Handles timeouts: an incomplete message past its deadline is dropped
    /// with ERR_MSG_TIMEOUT; an expired lock is released.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Action> {
        let mut out = Vec::new();
        if self
            .assembly
            .as_ref()
            .is_some_and(|a| now_ms >= a.deadline_ms)
        {
            if let Some(a) = self.assembly.take() {
                out.push(Self::error(a.cid, HidError::MsgTimeout));
            }
        }
        if self.lock.is_some_and(|(_, until)| now_ms >= until) {
            self.lock = None;
        }
        out
    }

    /// A KEEPALIVE for the running transaction, if there is one. CBOR and
    /// MSG requests alike: CTAP 2.1 §11.2.9.1.7 says KEEPALIVE "is sent while
    /// processing a CTAPHID_MSG", and §11.2.9.1.2 allows it before a CBOR
    /// response.
    pub fn keepalive(&self, status: KeepaliveStatus) -> Option<Vec<Report>> {
        let (_, cid, _) = self.busy?;
        Some(fragment(cid, Command::Keepalive as u8, &[status as u8]))
    }

    /// The application's answer to `txn`. Returns nothing when the
    /// transaction was abandoned meanwhile (its channel was re-initialised).
    pub fn respond(&mut self, txn: u64, cmd: Command, payload: &[u8]) -> Vec<Report> {
        match self.busy {
            Some((t, cid, _)) if t == txn => {
                self.busy = None;
                fragment(cid, cmd as u8, payload)
            }
            _ => Vec::new(),
        }
    }

    /// Handles one report from the host (64 bytes, without a report ID).
    pub fn receive(&mut self, now_ms: u64, report: &[u8]) -> Vec<Action> {
        let mut out = self.poll(now_ms);
        // Reports of another size are not CTAPHID packets; drop them.
        let Some(packet) = Packet::parse(report) else {
            return out;
        };
        let cid = packet.cid();
        if cid == 0 {
            out.push(Self::error(cid, HidError::InvalidChannel));
            return out;
        }
        match packet {
            Packet::Init {
                cmd, bcnt, data, ..
            } => self.on_init(now_ms, cid, cmd, bcnt, data, &mut out),
            Packet::Cont { seq, data, .. } => self.on_cont(now_ms, cid, seq, data, &mut out),
        }
        out
    }

    fn on_init(
        &mut self,
        now_ms: u64,
        cid: u32,
        cmd: u8,
        bcnt: u16,
        data: &[u8],
        out: &mut Vec<Action>,
    ) {
        // §11.2.9.1.3: INIT may come at any time, on the broadcast channel
        // (allocate) or on an allocated one (resynchronise it).
        if cmd == Command::Init as u8 {
            self.on_ctaphid_init(cid, bcnt, data, out);
            return;
        }
        if cid == BROADCAST_CID || !self.allocated(cid) {
            out.push(Self::error(cid, HidError::InvalidChannel));
            return;
        }
        if let Some((txn, busy_cid, busy_cmd)) = self.busy {
            // §11.2.9.1.5: CANCEL applies to a CTAPHID_CBOR request of the
            // same channel; otherwise (a MSG request, another channel) it is
            // ignored.
            if busy_cid == cid && cmd == Command::Cancel as u8 {
                if busy_cmd == Command::Cbor {
                    out.push(Action::Cancel { txn });
                }
            } else if cmd != Command::Cancel as u8 {
                // One transaction at a time (§11.2.4).
                out.push(Self::error(cid, HidError::ChannelBusy));
            }
            return;
        }
        if let Some(a) = &self.assembly {
            if a.cid != cid {
                out.push(Self::error(cid, HidError::ChannelBusy));
                return;
            }
            // A new request on a channel that still owes continuation
            // packets: the old message is abandoned.
            self.assembly = None;
            out.push(Self::error(cid, HidError::InvalidSeq));
            return;
        }
        if self.lock.is_some_and(|(owner, _)| owner != cid) {
            out.push(Self::error(cid, HidError::ChannelBusy));
            return;
        }
        let len = usize::from(bcnt);
        if len > MAX_MESSAGE_LEN {
            out.push(Self::error(cid, HidError::InvalidLen));
            return;
        }
        if len <= INIT_DATA_LEN {
            self.dispatch(now_ms, cid, cmd, data[..len].to_vec(), out);
        } else {
            let mut buf = Vec::with_capacity(len);
            buf.extend_from_slice(data);
            self.assembly = Some(Assembly {
                cid,
                cmd,
                len,
                buf,
                next_seq: 0,
                deadline_ms: now_ms.saturating_add(self.settings.message_timeout_ms),
            });
        }
    }

    fn on_cont(&mut self, now_ms: u64, cid: u32, seq: u8, data: &[u8], out: &mut Vec<Action>) {
        let Some(a) = self.assembly.as_mut() else {
            // A continuation with no message in progress is ignored (a
            // spurious packet, or the tail of an abandoned message).
            return;
        };
        if a.cid != cid {
            out.push(Self::error(cid, HidError::ChannelBusy));
            return;
        }
        if seq != a.next_seq {
            if seq > a.next_seq {
                self.gap = Some(SequenceGap {
                    cid,
                    expected: a.next_seq,
                    got: seq,
                });
            }
            self.assembly = None;
            out.push(Self::error(cid, HidError::InvalidSeq));
            return;
        }
        let take = (a.len - a.buf.len()).min(CONT_DATA_LEN);
        a.buf.extend_from_slice(&data[..take]);
        a.next_seq = a.next_seq.wrapping_add(1);
        // CTAP 2.1 §11.2.4: the transaction timeout guards against a host
        // that stopped sending; it runs from the last packet received.
        a.deadline_ms = now_ms.saturating_add(self.settings.message_timeout_ms);
        if a.buf.len() == a.len {
            if let Some(a) = self.assembly.take() {
                self.dispatch(now_ms, a.cid, a.cmd, a.buf, out);
            }
        }
    }

    fn on_ctaphid_init(&mut self, cid: u32, bcnt: u16, data: &[u8], out: &mut Vec<Action>) {
        if bcnt != 8 {
            out.push(Self::error(cid, HidError::InvalidLen));
            return;
        }
        if cid != BROADCAST_CID && !self.allocated(cid) {
            out.push(Self::error(cid, HidError::InvalidChannel));
            return;
        }
        let new_cid = if cid == BROADCAST_CID {
            let c = self.next_cid;
            // Channel IDs are never reused; after 2^32 − 2 allocations the
            // counter would reach the broadcast ID, so wrap back to 1.
            self.next_cid = if c >= BROADCAST_CID - 1 { 1 } else { c + 1 };
            c
        } else {
            // Resynchronise: abandon whatever this channel had going.
            if self.assembly.as_ref().is_some_and(|a| a.cid == cid) {
                self.assembly = None;
            }
            if let Some((txn, busy_cid, _)) = self.busy {
                if busy_cid == cid {
                    self.busy = None;
                    out.push(Action::Cancel { txn });
                }
            }
            cid
        };
        let (major, minor, build) = self.settings.device_version;
        let mut resp = Vec::with_capacity(17);
        resp.extend_from_slice(&data[..8]);
        resp.extend_from_slice(&new_cid.to_be_bytes());
        resp.extend_from_slice(&[2, major, minor, build, self.settings.capabilities]);
        out.push(Action::Send(fragment(cid, Command::Init as u8, &resp)));
    }

    fn dispatch(
        &mut self,
        now_ms: u64,
        cid: u32,
        cmd: u8,
        payload: Vec<u8>,
        out: &mut Vec<Action>,
    ) {
        match Command::from_u8(cmd) {
            Some(Command::Ping) => {
                out.push(Action::Send(fragment(cid, Command::Ping as u8, &payload)));
            }
            Some(Command::Wink) => {
                if !payload.is_empty() {
                    out.push(Self::error(cid, HidError::InvalidLen));
                    return;
                }
                out.push(Action::Wink);
                out.push(Action::Send(fragment(cid, Command::Wink as u8, &[])));
            }
            Some(Command::Lock) => {
                // §11.2.9.2.2: one byte, 0..=10 seconds; 0 releases.
                let [secs] = payload[..] else {
                    out.push(Self::error(cid, HidError::InvalidLen));
                    return;
                };
                if secs > 10 {
                    out.push(Self::error(cid, HidError::InvalidPar));
                    return;
                }
                self.lock = (secs > 0).then(|| (cid, now_ms + u64::from(secs) * 1000));
                out.push(Action::Send(fragment(cid, Command::Lock as u8, &[])));
            }
            // §11.2.9.1.1 MSG (a CTAP1/U2F APDU) and §11.2.9.1.2 CBOR (a
            // command byte and its parameters) go to the application.
            Some(cmd @ (Command::Cbor | Command::Msg)) => {
                // Settings with NMSG describe a CTAP2-only key: no MSG.
                if cmd == Command::Msg && self.settings.capabilities & capabilities::NMSG != 0 {
                    out.push(Self::error(cid, HidError::InvalidCmd));
                    return;
                }
                // An empty message is neither an APDU nor a CTAP2 command.
                if payload.is_empty() {
                    out.push(Self::error(cid, HidError::InvalidLen));
                    return;
                }
                let txn = self.next_txn;
                self.next_txn += 1;
                self.busy = Some((txn, cid, cmd));
                out.push(Action::Process(Request {
                    txn,
                    cid,
                    cmd,
                    payload,
                }));
            }
            // CANCEL with nothing pending is ignored (§11.2.9.1.5).
            Some(Command::Cancel) => {}
            Some(Command::Init) | Some(Command::Keepalive) | Some(Command::Error) | None => {
                out.push(Self::error(cid, HidError::InvalidCmd));
            }
        }
    }
}

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
