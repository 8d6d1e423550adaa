//! The driver: one message to the device and the model's verdict on its
//! response, and each operation of the input as the messages it sends.

use crate::check_response;
use authenticator_core::cbor::{self, MapBuilder, Value};
use authenticator_core::crypto::sha256;
use authenticator_core::env::{PresencePolicy, UvPolicy};
use authenticator_core::limits;
use authenticator_core::status::StatusCode as S;
use authenticator_core::wire::client_pin::{self, permission};
use authenticator_core::wire::Command;

use crate::stateful::client_pin::{padded_pin, permissions_value};
use crate::stateful::input::{Fault, Op, Pick};
use crate::stateful::model::{client_data_hash, pin_hash, protocol_of, Harness, PINS, RPS};

/// Whether `STATEFUL_TRACE` is set: then every exchange is printed to
/// stderr (for reading a crash input, or checking what the corpus reaches).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("STATEFUL_TRACE").is_some())
}

/// The rp.name makeCredential sends for an RP when it sends one.
fn rp_display_name(rp: &str) -> String {
    format!("RP {rp}")
}

impl Harness {
    /// Sends one message, checks the response against the model and
    /// returns the status byte.
    fn exchange(&mut self, message: &[u8]) -> u8 {
        let response = self.auth.handle(message);
        // Keep TestEnv's presence log from growing over a long input.
        self.auth.env_mut().presence_log.clear();
        if trace() {
            // The clientPIN subcommand too, when the request decodes.
            let sub = match message.split_first() {
                Some((0x06, p)) => client_pin::Request::decode(p)
                    .map(|r| format!(" {:?}", r.sub_command))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            eprintln!(
                "cmd {:02x?}{sub} ({} bytes) -> status {:#04x} ({} bytes)",
                message.first(),
                message.len(),
                response[0],
                response.len()
            );
        }
        let body = check_response(message, &response);
        let st = response[0];
        let Some((&cmd, params)) = message.split_first() else {
            assert_eq!(st, S::InvalidLength as u8, "empty message");
            return st;
        };
        // Before any command: the message size (§8: maxMsgSize), then the
        // command byte.
        if message.len() > limits::MAX_MSG_SIZE {
            assert_eq!(st, S::InvalidLength as u8, "message over maxMsgSize");
        } else {
            let Some(command) = Command::from_u8(cmd) else {
                assert_eq!(st, S::InvalidCommand as u8, "unknown command {cmd:#04x}");
                return st;
            };
            // §6.3: any command other than getNextAssertion ends a sequence.
            let sequence = self.sequence.take();
            // Likewise any command other than credential management ends
            // its enumerations (as the device documents; §6.8 only says
            // GetNext continues a Begin).
            if !matches!(
                command,
                Command::CredentialManagement | Command::CredentialManagementPreview
            ) {
                self.cm_rps.clear();
                self.cm_creds.clear();
            }
            match command {
                Command::MakeCredential => self.after_make_credential(params, st, body),
                Command::GetAssertion => self.after_get_assertion(params, st, body),
                Command::GetNextAssertion => self.after_get_next_assertion(sequence, st, body),
                Command::GetInfo => self.after_get_info(st, body),
                Command::ClientPin => self.after_client_pin(params, st, body),
                Command::Reset => self.after_reset(st),
                Command::Selection => {
                    // §6.9: success after a touch.
                    let expected = match self.presence() {
                        PresencePolicy::Approve => 0,
                        PresencePolicy::Deny => S::OperationDenied as u8,
                        PresencePolicy::Timeout => S::UserActionTimeout as u8,
                    };
                    assert_eq!(st, expected, "selection");
                }
                Command::CredentialManagement | Command::CredentialManagementPreview => {
                    self.after_cred_mgmt(params, st, body);
                }
                Command::LargeBlobs => self.after_large_blobs(params, st, body),
                Command::Config => self.after_config(params, st),
                // Not in this build: getInfo has no "bioEnroll" option.
                Command::BioEnrollment | Command::BioEnrollmentPreview => {
                    assert_eq!(st, S::InvalidCommand as u8, "cmd {cmd:#04x}");
                }
            }
        }
        self.check_store();
        st
    }

    pub(crate) fn run(&mut self, op: &Op) {
        match op {
            Op::MakeCredential {
                rp,
                user,
                rk,
                uv,
                up,
                alg,
                exclude,
                client_data,
                formats,
                ext,
                auth,
                rp_name,
                enterprise,
            } => {
                let param = |a: i64| {
                    MapBuilder::new()
                        .text("alg", a)
                        .text("type", "public-key")
                        .build()
                };
                let algs = match alg % 8 {
                    0 => vec![param(-7)],
                    1 => vec![param(-8)],
                    2 => vec![param(-8), param(-7)],
                    3 => vec![param(-35), param(-7)],
                    4 => vec![param(-36), param(-47)],
                    5 => vec![param(-47), param(-8)],
                    6 => vec![param(-50), param(-48), param(-7)],
                    _ => vec![param(-257)],
                };
                let rp = RPS[usize::from(*rp) % RPS.len()];
                let cdh = client_data_hash(*client_data);
                let mut options = MapBuilder::new().text("rk", *rk);
                if let Some(uv) = uv {
                    options = options.text("uv", *uv);
                }
                if let Some(up) = up {
                    options = options.text("up", *up);
                }
                // Extension inputs that need a key agreement first.
                let ext = ext.as_ref().map(|e| self.mc_extensions(e));
                let mut m = MapBuilder::new()
                    .int(0x01, cbor::bytes(cdh.clone()))
                    .int(0x02, {
                        let entity = MapBuilder::new().text("id", rp);
                        match rp_name {
                            true => entity.text("name", rp_display_name(rp)),
                            false => entity,
                        }
                        .build()
                    })
                    .int(
                        0x03,
                        MapBuilder::new()
                            .text("id", cbor::bytes(vec![user % 4]))
                            .text("name", format!("user{}", user % 4))
                            .build(),
                    )
                    .int(0x04, Value::Array(algs))
                    .int(0x07, options.build());
                if !exclude.is_empty() {
                    m = m.int(0x05, self.descriptors(exclude));
                }
                if let Some(ext) = ext {
                    m = m.int(0x06, ext);
                }
                let texts = |l: &[&str]| Value::Array(l.iter().map(|s| Value::from(*s)).collect());
                match formats % 4 {
                    1 => m = m.int(0x0B, texts(&["none"])),
                    2 => m = m.int(0x0B, texts(&["packed"])),
                    3 => m = m.int(0x0B, texts(&["x", "packed"])),
                    _ => {}
                }
                if let Some(e) = enterprise {
                    m = m.int(0x0A, u64::from(e % 4));
                }
                if let Some(a) = auth {
                    m = self.pin_uv_auth(m, *a, &cdh, 0x08, 0x09);
                }
                self.send(0x01, m.build());
            }
            Op::GetAssertion {
                rp,
                allow,
                up,
                uv,
                client_data,
                ext,
                auth,
            } => self.get_assertion(*rp, allow, *up, *uv, *client_data, ext.as_ref(), *auth),
            Op::GetNextAssertion => {
                self.exchange(&[0x08]);
            }
            Op::AssertAll {
                rp,
                up,
                uv,
                client_data,
                auth,
            } => {
                self.get_assertion(*rp, &[], *up, *uv, *client_data, None, *auth);
                for _ in 0..8 {
                    if self.sequence.is_none() {
                        break;
                    }
                    self.exchange(&[0x08]);
                }
            }
            Op::GetInfo => {
                self.exchange(&[0x04]);
            }
            Op::Reset => {
                self.exchange(&[0x07]);
            }
            Op::Selection => {
                self.exchange(&[0x0B]);
            }
            Op::PowerCycle => {
                self.auth.power_cycle();
                self.power_up = self.now;
                self.sequence = None;
                self.lb_write = None;
                self.cm_rps.clear();
                self.cm_creds.clear();
                self.power_up_pin_state();
            }
            Op::AdvanceClock(ms) => {
                self.now += u64::from(*ms);
                self.auth.env_mut().now_ms = self.now;
            }
            Op::SetPresence(p) => {
                self.auth.env_mut().presence = match p % 3 {
                    0 => PresencePolicy::Approve,
                    1 => PresencePolicy::Deny,
                    _ => PresencePolicy::Timeout,
                };
            }
            Op::SetUv(ok) => {
                self.auth.env_mut().uv = if *ok {
                    UvPolicy::Succeed
                } else {
                    UvPolicy::Fail
                };
            }
            Op::Raw(bytes) => {
                self.exchange(bytes);
            }
            Op::SetPin { v2, pin, fault } => {
                let protocol = protocol_of(*v2);
                let (ka, shared) = self.platform_key(protocol, *fault);
                let pin = PINS[usize::from(*pin) % PINS.len()];
                let padded = padded_pin(pin, matches!(fault, Fault::WrongLength));
                let new_pin_enc = self.encrypt(shared, &padded);
                let mut param = self.authenticate(shared, &new_pin_enc);
                if matches!(fault, Fault::BadAuth) {
                    param[0] ^= 1;
                }
                let m = MapBuilder::new()
                    .int(0x01, protocol.id())
                    .int(0x02, 0x03)
                    .int(0x03, ka)
                    .int(0x04, cbor::bytes(param))
                    .int(0x05, cbor::bytes(new_pin_enc));
                self.send(0x06, m.build());
            }
            Op::ChangePin {
                v2,
                current,
                new,
                fault,
            } => {
                let protocol = protocol_of(*v2);
                let (ka, shared) = self.platform_key(protocol, *fault);
                let current = self.pin_pick(*current);
                let pin_hash_enc = self.encrypt(shared, &pin_hash(&current));
                let new = PINS[usize::from(*new) % PINS.len()];
                let padded = padded_pin(new, matches!(fault, Fault::WrongLength));
                let new_pin_enc = self.encrypt(shared, &padded);
                let mut param =
                    self.authenticate(shared, &[new_pin_enc.as_slice(), &pin_hash_enc].concat());
                if matches!(fault, Fault::BadAuth) {
                    param[0] ^= 1;
                }
                let m = MapBuilder::new()
                    .int(0x01, protocol.id())
                    .int(0x02, 0x04)
                    .int(0x03, ka)
                    .int(0x04, cbor::bytes(param))
                    .int(0x05, cbor::bytes(new_pin_enc))
                    .int(0x06, cbor::bytes(pin_hash_enc));
                self.send(0x06, m.build());
            }
            Op::PinToken {
                v2,
                pin,
                permissions,
                rp,
                fault,
            } => {
                let protocol = protocol_of(*v2);
                let (ka, shared) = self.platform_key(protocol, *fault);
                let pin = self.pin_pick(*pin);
                let hash = match fault {
                    Fault::WrongLength => sha256(&pin).to_vec(),
                    _ => pin_hash(&pin).to_vec(),
                };
                let mut pin_hash_enc = self.encrypt(shared, &hash);
                if matches!(fault, Fault::BadAuth) {
                    let last = pin_hash_enc.len() - 1;
                    pin_hash_enc[last] ^= 1;
                }
                let mut m = MapBuilder::new()
                    .int(0x01, protocol.id())
                    .int(0x03, ka)
                    .int(0x06, cbor::bytes(pin_hash_enc));
                m = match permissions_value(*permissions) {
                    Some(p) => m.int(0x02, 0x09).int(0x09, p),
                    None => m.int(0x02, 0x05),
                };
                if let Some(rp) = rp {
                    m = m.int(0x0A, RPS[usize::from(*rp) % RPS.len()]);
                }
                self.send(0x06, m.build());
            }
            Op::UvToken {
                v2,
                permissions,
                rp,
                fault,
            } => {
                let protocol = protocol_of(*v2);
                let (ka, _) = self.platform_key(protocol, *fault);
                let mut m = MapBuilder::new().int(0x01, protocol.id()).int(0x02, 0x06);
                if !matches!(fault, Fault::WrongLength) {
                    m = m.int(0x03, ka);
                }
                if !matches!(fault, Fault::BadAuth) {
                    let p =
                        permissions_value(*permissions).unwrap_or(permission::MC | permission::GA);
                    m = m.int(0x09, p);
                }
                if let Some(rp) = rp {
                    m = m.int(0x0A, RPS[usize::from(*rp) % RPS.len()]);
                }
                self.send(0x06, m.build());
            }
            Op::Retries => {
                self.send(0x06, MapBuilder::new().int(0x02, 0x01).build());
                self.send(0x06, MapBuilder::new().int(0x02, 0x07).build());
            }
            Op::CredMgmt { preview, sub, auth } => self.cred_mgmt(*preview, sub, *auth),
            Op::Config { sub, auth } => self.config(sub, *auth),
            Op::LargeBlobGet { offset, get, junk } => {
                let offset = usize::from(*offset) % (self.large_blob.len() + 8);
                let mut m = MapBuilder::new().int(0x01, u64::from(*get % 8192));
                match junk % 8 {
                    0 => m = m.int(0x04, 17),
                    1 => m = m.int(0x05, cbor::bytes(vec![0; 32])).int(0x06, 2),
                    2 => m = m.int(0x02, cbor::bytes(vec![0x80])),
                    _ => {}
                }
                if junk % 8 != 3 {
                    m = m.int(0x03, offset as u64);
                }
                self.send(0x0C, m.build());
            }
            Op::LargeBlobWrite {
                data,
                fragment,
                corrupt,
                auth,
            } => {
                let body = cbor::encode(&Value::Array(vec![cbor::bytes(data.clone())]));
                let mut array = [body.as_slice(), &sha256(&body)[..16]].concat();
                if *corrupt {
                    let last = array.len() - 1;
                    array[last] ^= 1;
                }
                let step = usize::from(*fragment % 64) + 1;
                for (i, chunk) in array.chunks(step).enumerate() {
                    let offset = i * step;
                    let length = (offset == 0).then_some(array.len());
                    if self.large_blob_set(offset, chunk, length, *auth) != 0 {
                        break;
                    }
                }
            }
            Op::LargeBlobFragment {
                offset,
                data,
                size,
                length,
                auth,
            } => {
                let offset = if *offset < 0x8000 {
                    self.lb_write.as_ref().map_or(0, |(_, b)| b.len())
                } else {
                    usize::from(*offset % 8192)
                };
                let fragment = match size {
                    Some(n) => vec![0x5A; usize::from(*n)],
                    None => data.clone(),
                };
                let length = length.map(|l| usize::from(l % 8192));
                self.large_blob_set(offset, &fragment, length, *auth);
            }
        }
    }

    pub(crate) fn descriptors(&self, picks: &[Pick]) -> Value {
        Value::Array(
            picks
                .iter()
                .take(limits::MAX_CREDENTIAL_COUNT_IN_LIST)
                .map(|p| {
                    MapBuilder::new()
                        .text("id", cbor::bytes(self.pick(p)))
                        .text("type", "public-key")
                        .build()
                })
                .collect(),
        )
    }

    pub(crate) fn send(&mut self, cmd: u8, params: Value) -> u8 {
        let mut message = vec![cmd];
        message.extend_from_slice(&cbor::encode(&params));
        self.exchange(&message)
    }
}
