//! authenticatorClientPIN (CTAP 2.1 §6.5.5): the model's walk of each
//! subcommand, the checks of its answer, and the PINs and permissions the
//! operations send.

use crate::field;
use authenticator_core::cbor::{MapBuilder, Value};
use authenticator_core::crypto::pin_protocol::PinProtocol;
use authenticator_core::env::PresencePolicy;
use authenticator_core::limits;
use authenticator_core::status::StatusCode as S;
use authenticator_core::store::MAX_PIN_RETRIES;
use authenticator_core::wire::client_pin::{self, permission, SubCommand};

use crate::stateful::input::{Permissions, PinPick};
use crate::stateful::model::{
    bytes_field, code, pin_hash, protocol_index, Harness, Peer, Token, INITIAL_PIN, PINS,
};

/// What a clientPIN success must carry.
enum PinAnswer {
    /// setPIN, changePIN: nothing.
    Empty,
    /// getPINRetries.
    Retries,
    /// getUVRetries.
    UvRetries,
    /// getKeyAgreement for this protocol.
    KeyAgreement(PinProtocol),
    /// A new pinUvAuthToken, encrypted for `platform` (when it is ours).
    Token {
        platform: Option<usize>,
        protocol: PinProtocol,
        permissions: u64,
        rp_id: Option<String>,
        user_present: bool,
    },
}

/// The PIN zero-padded to 64 bytes (§6.5.5.5), or to 32 for a malformed
/// request.
pub(crate) fn padded_pin(pin: &[u8], short: bool) -> Vec<u8> {
    let mut p = pin.to_vec();
    p.resize(if short { 32 } else { 64 }, 0);
    p
}

pub(crate) fn permissions_value(p: Permissions) -> Option<u64> {
    match p {
        Permissions::McGa => Some(permission::MC | permission::GA),
        Permissions::Mc => Some(permission::MC),
        Permissions::Ga => Some(permission::GA),
        Permissions::Legacy => None,
        Permissions::Cm => Some(permission::CM),
        Permissions::Lbw => Some(permission::LBW),
        Permissions::Acfg => Some(permission::ACFG),
        Permissions::All => Some(permission::SUPPORTED),
        Permissions::Bits(b) => Some(u64::from(b)),
    }
}

impl Harness {
    /// The PIN check of changePIN and the token subcommands (§6.5.5.6,
    /// §6.5.5.7.1, §6.5.5.7.2): after three mismatches in this power cycle
    /// PIN_AUTH_BLOCKED at once; otherwise one retry is spent, a mismatch
    /// regenerates the key-agreement keys and answers PIN_BLOCKED with no
    /// retries left, PIN_AUTH_BLOCKED at the third mismatch, else
    /// PIN_INVALID; a match restores the retries.
    fn pin_hash_check(&mut self, peer: Peer, pin_hash_enc: &[u8]) -> Result<usize, S> {
        if self.mismatches >= limits::PIN_MISMATCHES_BEFORE_POWER_CYCLE {
            return Err(S::PinAuthBlocked);
        }
        self.pin_retries = self.pin_retries.saturating_sub(1);
        // Only a secret the harness shares can carry the right hash.
        let matched = match peer {
            Peer::Ours(i) => self.platform[i]
                .shared
                .decrypt(pin_hash_enc)
                .is_ok_and(|h| self.pin.as_deref().is_some_and(|p| h[..] == pin_hash(p)))
                .then_some(i),
            Peer::Foreign | Peer::Invalid => None,
        };
        let Some(i) = matched else {
            self.new_epoch();
            self.mismatches += 1;
            return Err(if self.pin_retries == 0 {
                S::PinBlocked
            } else if self.mismatches >= limits::PIN_MISMATCHES_BEFORE_POWER_CYCLE {
                S::PinAuthBlocked
            } else {
                S::PinInvalid
            });
        };
        self.mismatches = 0;
        self.pin_retries = MAX_PIN_RETRIES;
        Ok(i)
    }

    /// newPinEnc (§6.5.5.5 steps 5–8): 64 bytes of zero-padded PIN (else
    /// INVALID_PARAMETER), at most 63 bytes of UTF-8 with at least
    /// minPINLength code points (else PIN_POLICY_VIOLATION).
    fn new_pin(&self, peer: usize, new_pin_enc: &[u8]) -> Result<Vec<u8>, S> {
        let padded = self.platform[peer]
            .shared
            .decrypt(new_pin_enc)
            .map_err(|_| S::InvalidParameter)?;
        if padded.len() != 64 {
            return Err(S::InvalidParameter);
        }
        let end = padded.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let pin = &padded[..end];
        if pin.len() > limits::MAX_PIN_BYTES {
            return Err(S::PinPolicyViolation);
        }
        let points = std::str::from_utf8(pin)
            .map_err(|_| S::PinPolicyViolation)?
            .chars()
            .count();
        if points < usize::from(self.min_pin_length) {
            return Err(S::PinPolicyViolation);
        }
        Ok(pin.to_vec())
    }

    /// §6.5.5.7.2 steps 3–4: permissions must be non-zero and granted.
    fn check_permissions(p: u64) -> Result<(), S> {
        if p == 0 {
            return Err(S::InvalidParameter);
        }
        if p & !permission::SUPPORTED != 0 {
            return Err(S::UnauthorizedPermission);
        }
        Ok(())
    }

    /// A key-agreement member that decapsulates: the peer, or
    /// INVALID_PARAMETER.
    fn shared(&self, protocol: PinProtocol, ka: &Value) -> Result<Peer, S> {
        match self.peer(protocol, ka) {
            Peer::Invalid => Err(S::InvalidParameter),
            p => Ok(p),
        }
    }

    /// Walks the subcommand; a success is what the body must carry.
    fn model_client_pin(&mut self, req: &client_pin::Request) -> Result<PinAnswer, S> {
        match req.sub_command {
            // getPINRetries: pinRetries and whether a power cycle is due.
            SubCommand::GetPinRetries => Ok(PinAnswer::Retries),
            // getUVRetries: only with a built-in method.
            SubCommand::GetUvRetries => {
                if !self.config.builtin_uv {
                    return Err(S::NotAllowed);
                }
                Ok(PinAnswer::UvRetries)
            }
            // getKeyAgreement: the current key of the protocol.
            SubCommand::GetKeyAgreement => {
                Ok(PinAnswer::KeyAgreement(Self::pin_protocol(req.protocol)?))
            }
            // setPIN (§6.5.5.5): only while no PIN is set; the
            // pinUvAuthParam authenticates newPinEnc.
            SubCommand::SetPin => {
                let protocol = Self::pin_protocol(req.protocol)?;
                let (Some(ka), Some(new_pin_enc), Some(param)) = (
                    req.key_agreement.as_ref(),
                    req.new_pin_enc.as_deref(),
                    req.pin_uv_auth_param.as_deref(),
                ) else {
                    return Err(S::MissingParameter);
                };
                if self.pin_set() {
                    return Err(S::PinAuthInvalid);
                }
                let Peer::Ours(i) = self.shared(protocol, ka)? else {
                    return Err(S::PinAuthInvalid);
                };
                if !self.platform[i].shared.verify(new_pin_enc, param) {
                    return Err(S::PinAuthInvalid);
                }
                let pin = self.new_pin(i, new_pin_enc)?;
                self.pin = Some(pin);
                self.pin_retries = MAX_PIN_RETRIES;
                Ok(PinAnswer::Empty)
            }
            // changePIN (§6.5.5.6): the pinUvAuthParam authenticates
            // newPinEnc ‖ pinHashEnc; the old PIN is checked first; the
            // token in use is reset.
            SubCommand::ChangePin => {
                let protocol = Self::pin_protocol(req.protocol)?;
                let (Some(ka), Some(pin_hash_enc), Some(new_pin_enc), Some(param)) = (
                    req.key_agreement.as_ref(),
                    req.pin_hash_enc.as_deref(),
                    req.new_pin_enc.as_deref(),
                    req.pin_uv_auth_param.as_deref(),
                ) else {
                    return Err(S::MissingParameter);
                };
                if !self.pin_set() {
                    return Err(S::PinNotSet);
                }
                if self.pin_retries == 0 {
                    return Err(S::PinBlocked);
                }
                let Peer::Ours(i) = self.shared(protocol, ka)? else {
                    return Err(S::PinAuthInvalid);
                };
                let message = [new_pin_enc, pin_hash_enc].concat();
                if !self.platform[i].shared.verify(&message, param) {
                    return Err(S::PinAuthInvalid);
                }
                self.pin_hash_check(Peer::Ours(i), pin_hash_enc)?;
                let pin = self.new_pin(i, new_pin_enc)?;
                // §6.5.5.6: with forcePINChange the new PIN must differ
                // from the current one; a change clears forcePINChange.
                if self.force_pin_change && self.pin.as_deref() == Some(pin.as_slice()) {
                    return Err(S::PinPolicyViolation);
                }
                self.pin = Some(pin);
                self.force_pin_change = false;
                self.token = None;
                Ok(PinAnswer::Empty)
            }
            // getPinToken (§6.5.5.7.1): no permissions or RP ID, mc and ga
            // implied; getPinUvAuthTokenUsingPinWithPermissions
            // (§6.5.5.7.2). A PIN is not presence: the token's
            // user-present flag starts false.
            SubCommand::GetPinToken | SubCommand::GetPinUvAuthTokenUsingPinWithPermissions => {
                let protocol = Self::pin_protocol(req.protocol)?;
                let (Some(ka), Some(pin_hash_enc)) =
                    (req.key_agreement.as_ref(), req.pin_hash_enc.as_deref())
                else {
                    return Err(S::MissingParameter);
                };
                let (permissions, rp_id) = if req.sub_command == SubCommand::GetPinToken {
                    if req.permissions.is_some() || req.rp_id.is_some() {
                        return Err(S::InvalidParameter);
                    }
                    (permission::MC | permission::GA, None)
                } else {
                    let p = req.permissions.ok_or(S::MissingParameter)?;
                    Self::check_permissions(p)?;
                    (p, req.rp_id.clone())
                };
                if !self.pin_set() {
                    return Err(S::PinNotSet);
                }
                if self.pin_retries == 0 {
                    return Err(S::PinBlocked);
                }
                let peer = self.shared(protocol, ka)?;
                let i = self.pin_hash_check(peer, pin_hash_enc)?;
                // §6.5.5.7.1 / §6.5.5.7.2: after a matching PIN, a pending
                // forcePINChange refuses the token: CTAP2_ERR_PIN_INVALID
                // for getPinToken, CTAP2_ERR_PIN_POLICY_VIOLATION with
                // permissions.
                if self.force_pin_change {
                    return Err(if req.sub_command == SubCommand::GetPinToken {
                        S::PinInvalid
                    } else {
                        S::PinPolicyViolation
                    });
                }
                Ok(PinAnswer::Token {
                    platform: Some(i),
                    protocol,
                    permissions,
                    rp_id,
                    user_present: false,
                })
            }
            // getPinUvAuthTokenUsingUvWithPermissions (§6.5.5.7.3):
            // built-in UV spends a uvRetry on a failed match (UV_INVALID,
            // UV_BLOCKED at 0) and restores them on success; the touch is
            // presence.
            SubCommand::GetPinUvAuthTokenUsingUvWithPermissions => {
                let protocol = Self::pin_protocol(req.protocol)?;
                let ka = req.key_agreement.as_ref().ok_or(S::MissingParameter)?;
                let permissions = req.permissions.ok_or(S::MissingParameter)?;
                Self::check_permissions(permissions)?;
                if !self.config.builtin_uv {
                    return Err(S::NotAllowed);
                }
                let peer = self.shared(protocol, ka)?;
                if self.uv_retries == 0 {
                    return Err(S::UvBlocked);
                }
                match self.presence() {
                    PresencePolicy::Deny => return Err(S::OperationDenied),
                    PresencePolicy::Timeout => return Err(S::UserActionTimeout),
                    PresencePolicy::Approve => {}
                }
                if !self.uv_succeeds() {
                    self.uv_retries -= 1;
                    return Err(if self.uv_retries == 0 {
                        S::UvBlocked
                    } else {
                        S::UvInvalid
                    });
                }
                self.uv_retries = self.config.uv_retries;
                Ok(PinAnswer::Token {
                    platform: match peer {
                        Peer::Ours(i) => Some(i),
                        _ => None,
                    },
                    protocol,
                    permissions,
                    rp_id: req.rp_id.clone(),
                    user_present: true,
                })
            }
        }
    }

    pub(crate) fn after_client_pin(
        &mut self,
        params: &[u8],
        st: u8,
        body: Option<Vec<(Value, Value)>>,
    ) {
        let req = match client_pin::Request::decode(params) {
            Ok(req) => req,
            Err(e) => {
                assert_eq!(st, e as u8, "clientPIN on an undecodable request");
                return;
            }
        };
        let outcome = self.model_client_pin(&req);
        assert_eq!(
            st,
            code(&outcome),
            "clientPIN {:?}: device {st:#04x}, model {:?}",
            req.sub_command,
            outcome.as_ref().err()
        );
        let Ok(answer) = outcome else { return };
        let body = body.unwrap_or_default();
        match answer {
            PinAnswer::Empty => assert!(body.is_empty()),
            PinAnswer::Retries => {
                let power_cycle = self.mismatches >= limits::PIN_MISMATCHES_BEFORE_POWER_CYCLE;
                let expected = MapBuilder::new()
                    .int(0x03, self.pin_retries)
                    .int(0x04, power_cycle)
                    .build();
                assert_eq!(Value::Map(body), expected, "getPINRetries");
            }
            PinAnswer::UvRetries => {
                let expected = MapBuilder::new().int(0x05, self.uv_retries).build();
                assert_eq!(Value::Map(body), expected, "getUVRetries");
            }
            PinAnswer::KeyAgreement(protocol) => {
                assert_eq!(body.len(), 1, "getKeyAgreement members");
                let key = field(&body, 0x01).expect("keyAgreement").clone();
                // §6.5.4: a key-agreement key lasts until the next
                // initialize() or regenerate().
                let slot = &mut self.agreement[protocol_index(protocol)];
                match slot {
                    Some(known) => assert_eq!(*known, key, "key-agreement key changed"),
                    None => {
                        assert!(
                            !self.old_agreements.contains(&key),
                            "key-agreement key not regenerated"
                        );
                        *slot = Some(key);
                    }
                }
            }
            PinAnswer::Token {
                platform,
                protocol,
                permissions,
                rp_id,
                user_present,
            } => {
                assert_eq!(body.len(), 1, "token response members");
                let enc = bytes_field(&body, 0x02).expect("pinUvAuthToken");
                let bytes = platform.map(|i| {
                    let t = self.platform[i]
                        .shared
                        .decrypt(&enc)
                        .expect("token does not decrypt")
                        .to_vec();
                    assert_eq!(t.len(), 32, "pinUvAuthToken length");
                    if let Some(old) = self.token.as_ref().and_then(|t| t.bytes.as_ref()) {
                        assert_ne!(old, &t, "pinUvAuthToken not renewed");
                    }
                    t
                });
                // resetPinUvAuthToken(), beginUsingPinUvAuthToken() (§6.5.4,
                // §6.5.2.1).
                self.token = Some(Token {
                    bytes,
                    protocol,
                    permissions,
                    rp_id,
                    issued_ms: self.now,
                    used: false,
                    user_present,
                    user_verified: true,
                });
            }
        }
    }

    pub(crate) fn pin_pick(&self, p: PinPick) -> Vec<u8> {
        match p {
            PinPick::Current => self.pin.clone().unwrap_or_else(|| INITIAL_PIN.to_vec()),
            PinPick::Candidate(n) => PINS[usize::from(n) % PINS.len()].to_vec(),
        }
    }
}
