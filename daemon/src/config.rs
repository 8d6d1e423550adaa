//! Plain configuration, built from [`DeviceSettings`] (the command line, a
//! config file's device tables, the control API's settings) and validated
//! before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use authenticator_core::accounts::AccountChoice;
use authenticator_core::config::{
    AttestationMode, BackupFlags, CounterOverflow, Quirk, ResetPolicy,
};
use authenticator_core::crypto::keys::Algorithm;
use authenticator_core::env::UvPolicy;
use authenticator_core::DeviceConfig;
use uhid_device::presence::PresenceMode;
use uhid_device::uhid::UsbIdentity;

use crate::settings::{
    AttestationArg, BackupArg, DeviceSettings, OverflowArg, ResetArg, RunArgs, TransportArg, UvArg,
};

/// Where the key is attached.
#[derive(Debug, Clone)]
pub enum TransportConfig {
    /// A USB HID device through uhid.
    Uhid {
        /// The uhid node (`/dev/uhid`).
        path: PathBuf,
    },
    /// HID reports over UDP.
    Udp {
        /// The address to listen on.
        listen: SocketAddr,
        /// Whether a non-loopback address is allowed.
        allow_remote: bool,
    },
}

/// Everything `fidosim run` needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Where the key is attached.
    pub transport: TransportConfig,
    /// Its USB identity.
    pub usb: UsbIdentity,
    /// The authenticator's settings.
    pub device: DeviceConfig,
    /// The virtual user at start.
    pub presence: PresenceMode,
    /// The built-in UV at start.
    pub uv: UvPolicy,
    /// How the virtual user picks among several discoverable credentials,
    /// at start.
    pub account_choice: AccountChoice,
    /// Where to write the attestation CA certificate at start.
    pub write_ca: Option<PathBuf>,
    /// The state file; `None` keeps the state in memory.
    pub state: Option<PathBuf>,
    /// The device's name in the daemon (`default` for the flags-only case).
    pub name: String,
}

/// A daemon: its devices and its control API.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Its devices.
    pub devices: Vec<RunConfig>,
    /// Its control API.
    pub control: ControlConfig,
}

/// Where the control API listens.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// The Unix socket (`None`: `--no-control`).
    pub socket: Option<PathBuf>,
    /// A TCP address too.
    pub listen: Option<SocketAddr>,
    /// Where the TCP listener's bearer token comes from (`None` without
    /// TCP).
    pub token: Option<TokenSource>,
}

/// Where the token of the control API on TCP comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Read from this file (`--control-token-file`), which the daemon
    /// leaves in place.
    File(PathBuf),
    /// Generated at start and written to this file (mode 0600), which the
    /// daemon removes when it stops.
    Generate(PathBuf),
}

impl TokenSource {
    /// The file that holds the token.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::File(p) | Self::Generate(p) => p,
        }
    }
}

/// A command-line value that does not make sense.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl RunConfig {
    /// One device of these settings, named `name`.
    pub fn from_settings(name: &str, a: DeviceSettings) -> Result<Self, ConfigError> {
        let transport = match a.transport {
            TransportArg::Uhid => TransportConfig::Uhid { path: a.uhid_path },
            TransportArg::Udp => TransportConfig::Udp {
                listen: a.udp_listen,
                allow_remote: a.allow_remote,
            },
        };
        let names = || {
            Algorithm::ALL
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let algorithms = a
            .algorithms
            .iter()
            .map(|s| {
                Algorithm::from_name(s).ok_or_else(|| {
                    ConfigError(format!(
                        "--algorithms: unknown algorithm `{}`; choose from {}",
                        s.trim(),
                        names()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if algorithms.is_empty() {
            return Err(ConfigError(format!(
                "--algorithms: name at least one of {}",
                names()
            )));
        }
        let quirks = a
            .quirks
            .iter()
            .map(|q| {
                Quirk::from_name(q).ok_or_else(|| {
                    ConfigError(format!(
                        "--quirks: unknown quirk `{q}`; choose from {}",
                        Quirk::ALL.map(Quirk::name).join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let device = DeviceConfig {
            quirks,
            aaguid: parse_uuid(&a.aaguid)?,
            algorithms,
            attestation: match a.attestation {
                AttestationArg::None => AttestationMode::None,
                AttestationArg::SelfSigned => AttestationMode::SelfAttestation,
                AttestationArg::Packed => AttestationMode::Batch,
            },
            counter_mode: a
                .counter
                .parse()
                .map_err(|e: String| ConfigError(format!("--counter: {e}")))?,
            counter_overflow: match a.counter_overflow {
                OverflowArg::Saturate => CounterOverflow::Saturate,
                OverflowArg::Wrap => CounterOverflow::Wrap,
            },
            backup: match a.backup {
                BackupArg::DeviceBound => BackupFlags::DeviceBound,
                BackupArg::Synced => BackupFlags::Synced,
            },
            builtin_uv: a.uv != UvArg::None,
            bio_enroll: if a.bio_enroll && a.uv == UvArg::None {
                return Err(ConfigError(
                    "--bio-enroll makes the built-in UV a fingerprint sensor, and --uv none takes the built-in UV away: leave out one of them".into(),
                ));
            } else {
                a.bio_enroll
            },
            uv_retries: a.uv_retries,
            reset_policy: match a.reset {
                ResetArg::PowerUp => ResetPolicy::AfterPowerUp,
                ResetArg::Always => ResetPolicy::Always,
            },
            initial_pin: a.pin.map(check_pin).transpose()?,
            always_uv: a.always_uv,
            make_cred_uv_not_rqd: !a.mc_requires_uv,
            enterprise_attestation: !a.no_enterprise_attestation,
            enterprise_rp_ids: a.enterprise_rp_ids,
            ..DeviceConfig::default()
        };
        if a.name.len() > 127 {
            return Err(ConfigError(format!(
                "--name is {} bytes long; give a USB product name of at most 127 bytes",
                a.name.len()
            )));
        }
        if a.serial.len() > 63 || !a.serial.is_ascii() {
            return Err(ConfigError(format!(
                "--serial `{}`: give a USB serial number of ASCII characters, at most 63",
                a.serial.escape_debug()
            )));
        }
        Ok(Self {
            transport,
            usb: UsbIdentity {
                name: a.name,
                vendor_id: a.vid,
                product_id: a.pid,
                version: a.usb_version,
                serial: a.serial,
            },
            device,
            presence: parse_presence(&a.presence)?,
            account_choice: a
                .account_choice
                .parse()
                .map_err(|e: String| ConfigError(format!("--account-choice: {e}")))?,
            uv: if a.uv == UvArg::Fail {
                UvPolicy::Fail
            } else {
                UvPolicy::Succeed
            },
            write_ca: a.write_ca,
            name: name.to_owned(),
            state: match (a.ephemeral, a.state) {
                (true, _) => None,
                (false, Some(p)) => Some(p),
                (false, None) => Some(
                    fidosim_store::default_dir()
                        .map_err(|e| ConfigError(e.0))?
                        .join(format!("{name}.redb")),
                ),
            },
        })
    }
}

impl ControlConfig {
    fn from_args(a: &RunArgs) -> Result<Self, ConfigError> {
        if let Some(addr) = a.control_listen {
            if !addr.ip().is_loopback() && !a.device.allow_remote {
                return Err(ConfigError(format!(
                    "--control-listen {addr}: not a loopback address; the control API can read private keys, so \
                     anything else needs --allow-remote (and a network you trust)"
                )));
            }
        }
        let socket = (!a.no_control).then(|| {
            a.control_socket
                .clone()
                .unwrap_or_else(crate::api::default_socket)
        });
        let token = match (a.control_listen, &a.control_token_file, &socket) {
            (None, Some(_), _) => {
                return Err(ConfigError(
                    "--control-token-file: the token guards the control API on TCP; add --control-listen ADDR, or drop --control-token-file".into(),
                ))
            }
            (None, None, _) => None,
            (Some(_), Some(file), _) => Some(TokenSource::File(file.clone())),
            (Some(_), None, Some(socket)) => Some(TokenSource::Generate(
                crate::api::guard::token_file_beside(socket),
            )),
            (Some(addr), None, None) => {
                return Err(ConfigError(format!(
                    "--control-listen {addr} without a control socket has no place for a generated token; give --control-token-file PATH"
                )))
            }
        };
        Ok(ControlConfig {
            socket,
            listen: a.control_listen,
            token,
        })
    }
}

/// Command-line settings that belong to the daemon, not to a device: they
/// may be given together with --config.
const DAEMON_ARGS: &[&str] = &[
    "config",
    "control_socket",
    "control_listen",
    "control_token_file",
    "no_control",
    "allow_remote",
];

/// A device name: letters, digits, `.`, `_`, `-`, at most 63 characters,
/// starting with a letter or digit (it names the state file too).
pub fn check_device_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "device name `{name}`: use letters, digits, `.`, `_` and `-` (at most 63, starting with a letter or digit)"
        )))
    }
}

/// One device from a config file's `[device.NAME]` table.
pub fn device_from_table(name: &str, table: &toml::Table) -> Result<RunConfig, ConfigError> {
    check_device_name(name)?;
    let settings = DeviceSettings::from_table(name, table).map_err(ConfigError)?;
    RunConfig::from_settings(name, settings)
}

impl DaemonConfig {
    /// The daemon of `fidosim run`'s flags; `given` names the flags given on
    /// the command line (clap ids, like `presence`), which must be daemon
    /// settings when a config file is given.
    pub fn from_args(a: RunArgs, given: &[String]) -> Result<Self, ConfigError> {
        let control = ControlConfig::from_args(&a)?;
        let Some(path) = a.config.clone() else {
            return Ok(Self {
                devices: vec![RunConfig::from_settings("default", a.device)?],
                control,
            });
        };
        reject_device_flags(given)?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError(format!(
                "cannot read --config {}: {}; give the path of a TOML file of [device.NAME] tables",
                path.display(),
                crate::io_reason(&e)
            ))
        })?;
        Self::from_toml(&text, control)
            .map_err(|e| ConfigError(format!("--config {}: {}", path.display(), e.0)))
    }

    /// The devices of a config file: `[device.NAME]` tables whose keys are
    /// `fidosim run` flags.
    pub fn from_toml(text: &str, control: ControlConfig) -> Result<Self, ConfigError> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            ConfigError(format!(
                "{}; correct the file (one [device.NAME] table per key)",
                toml_problem(text, &e)
            ))
        })?;
        if let Some(k) = doc.keys().find(|k| *k != "device") {
            return Err(ConfigError(format!(
                "unknown section `{k}`; the file has [device.NAME] tables only"
            )));
        }
        let Some(toml::Value::Table(devices)) = doc.get("device") else {
            return Err(ConfigError("no devices: add a [device.NAME] table".into()));
        };
        let mut out = Vec::new();
        for (name, table) in devices {
            let toml::Value::Table(table) = table else {
                return Err(ConfigError(format!(
                    "device.{name}: a table, like [device.{name}]"
                )));
            };
            out.push(device_from_table(name, table)?);
        }
        let mut seen = std::collections::HashMap::new();
        for d in &out {
            if let Some(state) = &d.state {
                if let Some(other) = seen.insert(state.clone(), d.name.clone()) {
                    return Err(ConfigError(format!(
                        "devices `{other}` and `{}` would share the state file {}",
                        d.name,
                        state.display()
                    )));
                }
            }
        }
        Ok(Self {
            devices: out,
            control,
        })
    }
}

/// What is wrong with a TOML text, with the line when the error has a
/// place.
pub fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e
        .span()
        .and_then(|r| text.get(..r.start))
        .map(|before| before.matches('\n').count() + 1)
    {
        Some(line) => format!("line {line}: {message}"),
        None => message.to_owned(),
    }
}

/// With --config, device settings belong in the file: a device flag on the
/// command line would be ignored, so it is an error.
fn reject_device_flags(given: &[String]) -> Result<(), ConfigError> {
    match given.iter().find(|id| !DAEMON_ARGS.contains(&id.as_str())) {
        Some(id) => Err(ConfigError(format!(
            "--{}: with --config, device settings go into the file's [device.NAME] tables",
            id.replace('_', "-")
        ))),
        None => Ok(()),
    }
}

/// A PIN must be 4 to 63 bytes of UTF-8 with no NUL (CTAP 2.1 §6.5.1,
/// §6.5.5.5) and at least 4 code points.
fn check_pin(pin: String) -> Result<String, ConfigError> {
    if pin.chars().count() < 4 || pin.len() > 63 || pin.contains('\0') {
        return Err(ConfigError(
            "--pin: a PIN has at least 4 characters and at most 63 bytes, without NUL".into(),
        ));
    }
    Ok(pin)
}

fn parse_presence(s: &str) -> Result<PresenceMode, ConfigError> {
    s.parse()
        .map_err(|e: String| ConfigError(format!("--presence: {e}")))
}

fn parse_uuid(s: &str) -> Result<[u8; 16], ConfigError> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let err = || {
        ConfigError(format!(
            "--aaguid: `{s}` is not a UUID like f1d0f1d0-5eed-4b1d-a7e5-000000000001"
        ))
    };
    if hex.len() != 32 || !hex.is_ascii() {
        return Err(err());
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| err())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn presence_values() {
        assert_eq!(parse_presence("approve").ok(), Some(PresenceMode::Approve));
        assert_eq!(
            parse_presence("delay:250").ok(),
            Some(PresenceMode::Delay(Duration::from_millis(250)))
        );
        assert_eq!(
            parse_presence("timeout:10").ok(),
            Some(PresenceMode::TimeoutAfter(Duration::from_millis(10)))
        );
        for bad in [
            "",
            "yes",
            "delay:",
            "delay:x",
            "delay:-1",
            "delay:600001",
            "approve:1",
        ] {
            assert!(parse_presence(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pin_values() {
        assert!(check_pin("1234".into()).is_ok());
        assert!(check_pin("äöüß".into()).is_ok());
        assert!(check_pin("123".into()).is_err());
        assert!(check_pin("1".repeat(64)).is_err());
        assert!(check_pin("12\u{0}4".into()).is_err());
    }

    #[test]
    fn toml_problems_name_the_line() {
        let text = "[device.a]\npresence = [\"approve\"\n";
        let e = text
            .parse::<toml::Table>()
            .err()
            .map(|e| toml_problem(text, &e));
        assert!(
            e.as_deref().is_some_and(|m| m.starts_with("line 2: ")),
            "{e:?}"
        );
    }

    #[test]
    fn uuid_values() {
        assert_eq!(
            parse_uuid("f1d0f1d0-5eed-4b1d-a7e5-000000000001").ok(),
            Some(authenticator_core::config::DEFAULT_AAGUID)
        );
        assert!(parse_uuid("f1d0").is_err());
        assert!(parse_uuid("zzd0f1d0-5eed-4b1d-a7e5-000000000001").is_err());
        assert!(parse_uuid("é1d0f1d0-5eed-4b1d-a7e5-00000000001").is_err());
    }
}
