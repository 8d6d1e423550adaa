//! Device settings: what kind of security key this is.

use crate::crypto::keys::Algorithm;

/// Which attestation statement makeCredential returns by default
/// (WebAuthn §8). A request's `attestationFormatsPreference` can pick another
/// format the device supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttestationMode {
    /// `none` attestation (WebAuthn §8.7).
    None,
    /// `packed` self attestation: signed with the credential key (WebAuthn §8.2).
    SelfAttestation,
    /// `packed` full attestation with an x5c chain from the device's
    /// attestation CA (WebAuthn §8.2, §8.2.1).
    Batch,
}

/// How signature counters advance (WebAuthn §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterMode {
    /// One counter per credential (the default; like most hardware keys).
    PerCredential,
    /// One counter for the whole device, shared by every credential.
    Global,
    /// Always 0, as synced passkey providers report.
    AlwaysZero,
    /// Per credential, but never advancing: every signature repeats the
    /// current value (a counter a relying party must see as not increasing).
    Frozen,
    /// Per credential, advancing by a random step from 1 to this maximum
    /// (at least 1) each signature, as some authenticators do to hide how
    /// often a credential is used.
    RandomStep(u32),
}

impl std::fmt::Display for CounterMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PerCredential => f.write_str("per-credential"),
            Self::Global => f.write_str("global"),
            Self::AlwaysZero => f.write_str("zero"),
            Self::Frozen => f.write_str("frozen"),
            Self::RandomStep(max) => write!(f, "random:{max}"),
        }
    }
}

impl std::str::FromStr for CounterMode {
    type Err = String;

    /// `per-credential`, `global`, `zero`, `frozen` or `random:MAX` (MAX
    /// from 1 to 65536).
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || {
            format!("`{s}` is not one of per-credential, global, zero, frozen, random:MAX (MAX from 1 to 65536)")
        };
        match s.split_once(':') {
            None if s == "per-credential" => Ok(Self::PerCredential),
            None if s == "global" => Ok(Self::Global),
            None if s == "zero" => Ok(Self::AlwaysZero),
            None if s == "frozen" => Ok(Self::Frozen),
            Some(("random", max)) => match max.parse::<u32>() {
                Ok(m @ 1..=65536) => Ok(Self::RandomStep(m)),
                _ => Err(err()),
            },
            _ => Err(err()),
        }
    }
}

/// What a counter does when the next value would pass 2^32 − 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterOverflow {
    /// Stay at 2^32 − 1 (the default; the counter stops increasing).
    Saturate,
    /// Wrap around past 0 (the counter goes back, as an RP would see it).
    Wrap,
}

impl CounterOverflow {
    /// The name the CLI and the control API use.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Saturate => "saturate",
            Self::Wrap => "wrap",
        }
    }
}

impl std::str::FromStr for CounterOverflow {
    type Err = String;

    /// `saturate` or `wrap`.
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Saturate, Self::Wrap]
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("`{s}` is not saturate or wrap"))
    }
}

/// The backup flags (WebAuthn §6.1: BE bit 3, BS bit 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackupFlags {
    /// BE=0, BS=0: a device-bound credential (the default).
    DeviceBound,
    /// BE=1, BS=1: a backed-up, synced passkey.
    Synced,
}

/// When authenticatorReset is allowed (CTAP 2.1 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResetPolicy {
    /// Only within 10 seconds of power-up, as the spec requires of keys
    /// without a display; `replug` counts as a power-up.
    AfterPowerUp,
    /// At any time (still after a user-presence check).
    Always,
}

/// The settings of one virtual key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The AAGUID reported in attested credential data (WebAuthn §6.5.2).
    pub aaguid: [u8; 16],
    /// Algorithms the device creates credentials with, in the order getInfo
    /// lists them. Must not be empty.
    pub algorithms: Vec<Algorithm>,
    /// The default attestation statement format.
    pub attestation: AttestationMode,
    /// Signature counter behaviour.
    pub counter_mode: CounterMode,
    /// What counters do at 2^32 − 1.
    pub counter_overflow: CounterOverflow,
    /// BE/BS flags in every authenticator data.
    pub backup: BackupFlags,
    /// Whether the device has a built-in user verification method (as if it
    /// had a fingerprint sensor); advertised as getInfo option `uv`. Whether
    /// a verification succeeds is up to the injected user-presence source.
    pub builtin_uv: bool,
    /// Whether the built-in UV method is a fingerprint sensor whose
    /// templates authenticatorBioEnrollment (CTAP 2.1 §6.7) manages: the
    /// device then starts with none, and built-in UV is configured (getInfo
    /// `uv` true) only while one is enrolled. Needs `builtin_uv`.
    pub bio_enroll: bool,
    /// uvRetries of the built-in UV method on a fresh or reset device and
    /// after each successful verification (1–25).
    pub uv_retries: u8,
    /// When reset is allowed.
    pub reset_policy: ResetPolicy,
    /// A PIN set when the device's state is first created (an empty
    /// store); `None` leaves the PIN unset, which keeps browsers from asking
    /// for one. authenticatorReset clears the PIN (CTAP 2.1 §6.6) and does
    /// not set this one again.
    pub initial_pin: Option<String>,
    /// alwaysUv on a fresh or reset device (CTAP 2.1 §6.11.2); the
    /// toggleAlwaysUv subcommand changes it later.
    pub always_uv: bool,
    /// makeCredUvNotRqd (CTAP 2.1 §6.4): non-discoverable credentials can
    /// be made without user verification even when the device is protected
    /// by a PIN or built-in UV.
    pub make_cred_uv_not_rqd: bool,
    /// Whether the device supports enterprise attestation (getInfo option
    /// `ep`); authenticatorConfig enables it.
    pub enterprise_attestation: bool,
    /// RP IDs for which vendor-facilitated enterprise attestation is
    /// returned (CTAP 2.1 §7.1, mode 1).
    pub enterprise_rp_ids: Vec<String>,
    /// getInfo `firmwareVersion` (0x0E).
    pub firmware_version: u32,
    /// Departures from the letter of the spec that common hardware keys
    /// show and clients rely on; none by default.
    pub quirks: Vec<Quirk>,
}

/// A departure from the spec that a device reproduces on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quirk {
    /// getPINRetries answers CTAP2_ERR_PIN_NOT_SET while no PIN is set,
    /// where CTAP 2.1 §6.5.5.2 gives the retries (8) whether or not a PIN
    /// is set; several hardware keys do so, and clients read that answer
    /// as "no PIN yet".
    PinRetriesNeedAPin,
}

impl Quirk {
    /// Every quirk.
    pub const ALL: [Quirk; 1] = [Quirk::PinRetriesNeedAPin];

    /// The name the settings use.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PinRetriesNeedAPin => "pin-retries-need-a-pin",
        }
    }

    /// The quirk with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.name() == name)
    }
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            aaguid: DEFAULT_AAGUID,
            algorithms: Algorithm::DEFAULT.to_vec(),
            attestation: AttestationMode::Batch,
            counter_mode: CounterMode::PerCredential,
            counter_overflow: CounterOverflow::Saturate,
            backup: BackupFlags::DeviceBound,
            builtin_uv: true,
            bio_enroll: false,
            uv_retries: crate::limits::DEFAULT_UV_RETRIES,
            reset_policy: ResetPolicy::AfterPowerUp,
            initial_pin: None,
            always_uv: false,
            make_cred_uv_not_rqd: true,
            enterprise_attestation: true,
            enterprise_rp_ids: Vec::new(),
            firmware_version: DEFAULT_FIRMWARE_VERSION,
            quirks: Vec::new(),
        }
    }
}

/// The AAGUID fidosim uses unless told otherwise:
/// `f1d0f1d0-5eed-4b1d-a7e5-000000000001`.
pub const DEFAULT_AAGUID: [u8; 16] = [
    0xf1, 0xd0, 0xf1, 0xd0, 0x5e, 0xed, 0x4b, 0x1d, 0xa7, 0xe5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
];

/// The firmware version reported by default: the crate version as
/// `major << 16 | minor << 8 | patch`.
pub const DEFAULT_FIRMWARE_VERSION: u32 = 0x00_01_00;
