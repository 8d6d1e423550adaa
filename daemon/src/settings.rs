//! `fidosim run`'s settings. One device's are one type, [`DeviceSettings`],
//! which clap reads from the command line and serde reads from a config
//! file's `[device.NAME]` tables and from the control API's JSON settings:
//! the keys are the flags without their dashes, and the defaults are clap's
//! in all three.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Deserialize;

mod de;

/// `fidosim run --help`'s closing text.
pub const RUN_AFTER_HELP: &str = "\
STATE:
    Credentials, signature counters, the PIN and settings, and the
    attestation certificates live in a state file (redb; mode 0600, its
    directory 0700), by default $XDG_DATA_HOME/fidosim/default.redb (or
    ~/.local/share/fidosim/default.redb). Every response leaves only after
    what it reports is committed, so a crash or `kill -9` loses nothing a
    client was told. --state PATH chooses the file, --ephemeral keeps
    everything in memory. One process at a time uses a state file.

SIGNALS:
    SIGINT, SIGTERM   remove the device and exit 0
    SIGUSR1           replug: remove the device and plug it back in with the
                      same identity and credentials (per-power-cycle state is reset)

EXIT STATUS:
    0  stopped by a signal
    1  failed: the state file cannot be used (damaged, newer, in use), or an
       I/O error on the transport while running
    2  invalid command line
    3  the transport cannot be used (no /dev/uhid, no permission, UDP address in use)

EXAMPLES:
    sudo fidosim run                                 a USB key for browsers, libfido2, OpenSSH
    fidosim run --transport udp                      HID over UDP on 127.0.0.1:8111
    fidosim run --presence delay:2000 --attestation self";

/// How the key is attached (`--transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportArg {
    /// A virtual USB HID device through /dev/uhid (hidraw clients see it).
    Uhid,
    /// HID reports over UDP datagrams.
    Udp,
}

/// The attestation statement (`--attestation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttestationArg {
    /// No attestation statement.
    None,
    /// packed, signed with the credential's own key.
    #[value(name = "self")]
    #[serde(rename = "self")]
    SelfSigned,
    /// packed with an x5c chain from the device's attestation CA.
    Packed,
}

/// What a counter does past 2^32-1 (`--counter-overflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverflowArg {
    /// Stay at 2^32-1.
    Saturate,
    /// Wrap around past 0.
    Wrap,
}

/// The backup flags (`--backup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupArg {
    /// BE=0 BS=0.
    DeviceBound,
    /// BE=1 BS=1.
    Synced,
}

/// Built-in user verification (`--uv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UvArg {
    /// A built-in UV method that always succeeds.
    Succeed,
    /// A built-in UV method that always fails.
    Fail,
    /// No built-in UV method.
    None,
}

/// When authenticatorReset is allowed (`--reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetArg {
    /// Reset only within 10 s of power-up (or replug), as CTAP requires.
    PowerUp,
    /// Reset at any time.
    Always,
}

/// The flags of `fidosim run`: the daemon's own, and one device's.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Several keys from a TOML file: one `[device.NAME]` table each, whose
    /// keys are this command's flags without dashes (`transport = "udp"`,
    /// `presence = "manual"`, `algorithms = ["es256"]`, `ephemeral = true`).
    /// Only daemon settings (--control-*, --allow-remote) may be given with
    /// it on the command line.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The device's settings.
    #[command(flatten)]
    pub device: DeviceSettings,
    /// The control API's Unix socket. Default:
    /// $XDG_RUNTIME_DIR/fidosim/control.sock (else
    /// /tmp/fidosim-UID/control.sock).
    #[arg(long, env = "FIDOSIM_CONTROL_SOCKET", value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
    /// Also serve the control API on this TCP address (loopback only
    /// unless --allow-remote). TCP requests need the bearer token
    /// (`Authorization: Bearer TOKEN`): generated at each start and written,
    /// mode 0600, beside the socket (control.sock -> control.token), where
    /// the CLI finds it. Remote control belongs behind an SSH tunnel or a
    /// TLS proxy: plain TCP carries the token in clear.
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub control_listen: Option<SocketAddr>,
    /// Take the TCP control token from this file (one line; readable by
    /// its owner only, `chmod 600`) instead of generating one. Needs
    /// --control-listen.
    #[arg(long, value_name = "PATH")]
    pub control_token_file: Option<PathBuf>,
    /// No control API.
    #[arg(long, conflicts_with_all = ["control_socket", "control_listen"])]
    pub no_control: bool,
}

/// One device's settings: `fidosim run`'s device flags, a `[device.NAME]`
/// table, or the `settings` object of `POST /v1/devices`. A key left out
/// takes the flag's default.
#[derive(Debug, Clone, Args, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct DeviceSettings {
    /// Start from a persona: a preset of the whole device (`fidosim
    /// personas` lists them). Flags given beside it win over its values.
    #[arg(long, value_name = "NAME")]
    pub persona: Option<String>,
    /// A TOML file of personas of your own for --persona: [persona.NAME]
    /// tables with a description and a settings table of these flags
    /// without dashes (`fidosim personas --help`).
    #[arg(long, value_name = "FILE")]
    pub persona_file: Option<PathBuf>,
    /// How the key is attached.
    #[arg(long, value_enum, default_value_t = TransportArg::Uhid)]
    pub transport: TransportArg,
    /// The uhid device node.
    #[arg(long, default_value = "/dev/uhid")]
    pub uhid_path: PathBuf,
    /// Address for --transport udp.
    #[arg(long, default_value = uhid_device::udp::DEFAULT_LISTEN, value_parser = parse_addr)]
    #[serde(deserialize_with = "de::addr")]
    pub udp_listen: SocketAddr,
    /// Allow a non-loopback --udp-listen address.
    #[arg(long)]
    pub allow_remote: bool,
    /// USB product name.
    #[arg(long, default_value = "fidosim virtual security key")]
    #[serde(deserialize_with = "de::text")]
    pub name: String,
    /// USB vendor ID (hex).
    #[arg(long, default_value = "1209", value_parser = parse_hex_u16)]
    #[serde(deserialize_with = "de::hex16")]
    pub vid: u16,
    /// USB product ID (hex).
    #[arg(long, default_value = "0001", value_parser = parse_hex_u16)]
    #[serde(deserialize_with = "de::hex16")]
    pub pid: u16,
    /// USB device release number, bcdDevice (hex).
    #[arg(long, default_value = "0100", value_parser = parse_hex_u16)]
    #[serde(deserialize_with = "de::hex16")]
    pub usb_version: u16,
    /// USB serial number (ASCII).
    #[arg(long, default_value = "FIDOSIM0001")]
    #[serde(deserialize_with = "de::text")]
    pub serial: String,
    /// The AAGUID, as a UUID.
    #[arg(long, default_value = "f1d0f1d0-5eed-4b1d-a7e5-000000000001")]
    #[serde(deserialize_with = "de::text")]
    pub aaguid: String,
    /// Departures from the spec that common hardware keys show, on
    /// purpose (comma-separated): pin-retries-need-a-pin (getPINRetries
    /// answers CTAP2_ERR_PIN_NOT_SET until a PIN is set).
    #[arg(long, value_delimiter = ',', value_name = "QUIRKS")]
    #[serde(deserialize_with = "de::list")]
    pub quirks: Vec<String>,
    /// Credential algorithms, in the device's order (getInfo lists them so;
    /// makeCredential takes the first of the RP's choices that is here):
    /// es256 (ECDSA P-256, COSE -7), eddsa (Ed25519, -8), es384 (ECDSA
    /// P-384, -35), es512 (ECDSA P-521, -36), es256k (ECDSA secp256k1, -47),
    /// mldsa44, mldsa65, mldsa87 (ML-DSA, FIPS 204; -48, -49, -50).
    #[arg(long, value_delimiter = ',', default_value = "es256,eddsa")]
    #[serde(deserialize_with = "de::list")]
    pub algorithms: Vec<String>,
    /// Attestation statement.
    #[arg(long, value_enum, default_value_t = AttestationArg::Packed)]
    pub attestation: AttestationArg,
    /// Signature counter behaviour.
    /// per-credential, global (one for the device), zero (always 0, like
    /// synced passkeys), frozen (never advances) or random:MAX (advances by
    /// a random 1..=MAX). The control API changes it while the key runs.
    #[arg(long, default_value = "per-credential")]
    #[serde(deserialize_with = "de::text")]
    pub counter: String,
    /// What a counter does past 2^32-1.
    #[arg(long, value_enum, default_value_t = OverflowArg::Saturate)]
    pub counter_overflow: OverflowArg,
    /// Backup flags (BE/BS).
    #[arg(long, value_enum, default_value_t = BackupArg::DeviceBound)]
    pub backup: BackupArg,
    /// The virtual user: approve, deny, delay:MS (touch after MS
    /// milliseconds), timeout:MS (never touch; give up after MS), never
    /// (wait until the client cancels) or manual (wait for `fidosim
    /// presence touch`). The control API changes it while the key runs.
    #[arg(long, default_value = "approve")]
    #[serde(deserialize_with = "de::text")]
    pub presence: String,
    /// How the virtual user picks among several discoverable credentials of
    /// one RP, as a key with a display lets its user do (CTAP 2.1 §6.2.2
    /// step 12.2): newest (the most recently created; no account chooser
    /// in the browser), platform (send them all; the browser shows its
    /// chooser), refuse (decline: CTAP2_ERR_OPERATION_DENIED), or
    /// user:HANDLE / credential:ID rules (base64), comma-separated, tried in
    /// order, optionally ending in newest, platform or refuse for when none
    /// matches (default: newest). The control API changes it while the key
    /// runs.
    #[arg(long, value_name = "POLICY", default_value = "newest")]
    #[serde(deserialize_with = "de::account_choice")]
    pub account_choice: String,
    /// Built-in user verification.
    #[arg(long, value_enum, default_value_t = UvArg::Succeed)]
    pub uv: UvArg,
    /// Failed built-in UV attempts allowed before UV is blocked (uvRetries;
    /// a success restores them).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=25))]
    #[serde(deserialize_with = "de::uv_retries")]
    pub uv_retries: u8,
    /// When authenticatorReset is allowed.
    #[arg(long, value_enum, default_value_t = ResetArg::PowerUp)]
    pub reset: ResetArg,
    /// Start with this PIN set (4–63 bytes of UTF-8) when the state is
    /// first created (a new state file, or --ephemeral); authenticatorReset
    /// clears it. With the built-in UV
    /// (the default) browsers still use the "fingerprint" and ask for no
    /// PIN; add `--uv none` to make them ask for the PIN like with a key
    /// that has no sensor.
    #[arg(long, value_name = "PIN")]
    #[serde(deserialize_with = "de::some_text")]
    pub pin: Option<String>,
    /// Make the built-in UV a fingerprint sensor with CTAP 2.1
    /// authenticatorBioEnrollment: fingerprints are enrolled, listed,
    /// renamed and removed by clients (each sample is a touch). The key
    /// starts with none, and built-in UV works only while one is enrolled.
    #[arg(long)]
    pub bio_enroll: bool,
    /// Require user verification for every makeCredential and getAssertion
    /// (the CTAP 2.1 alwaysUv option; authenticatorConfig can toggle it).
    /// Applies when the state is first created, and after a reset.
    #[arg(long)]
    pub always_uv: bool,
    /// Require user verification for non-discoverable credentials too
    /// (turns the makeCredUvNotRqd option off).
    #[arg(long)]
    pub mc_requires_uv: bool,
    /// Do not support enterprise attestation (the getInfo `ep` option).
    #[arg(long)]
    pub no_enterprise_attestation: bool,
    /// RP IDs that get a vendor-facilitated enterprise attestation once it
    /// is enabled through authenticatorConfig.
    #[arg(long, value_delimiter = ',', value_name = "RP_ID")]
    #[serde(deserialize_with = "de::list")]
    pub enterprise_rp_ids: Vec<String>,
    /// Write the attestation CA certificate (PEM) here at start-up, for an
    /// RP's trust store.
    #[arg(long)]
    pub write_ca: Option<PathBuf>,
    /// The state file (created when missing). Default:
    /// $XDG_DATA_HOME/fidosim/default.redb.
    #[arg(long, value_name = "PATH", conflicts_with = "ephemeral")]
    pub state: Option<PathBuf>,
    /// Keep all state in memory: a fresh key each start, nothing written.
    #[arg(long)]
    pub ephemeral: bool,
}

impl Default for DeviceSettings {
    /// `fidosim run`'s defaults, as clap gives them to a command line
    /// without device flags: the defaults live in the `#[arg]` attributes
    /// alone.
    fn default() -> Self {
        use clap::Parser as _;
        match DefaultsOnly::try_parse_from(std::iter::empty::<&str>()) {
            Ok(d) => d.device,
            // Unreachable: no argument is required and none is given; a
            // defect in a default value would show in every test.
            Err(e) => panic!("the defaults of `fidosim run` do not parse: {e}"),
        }
    }
}

/// The device flags alone, for their defaults and their names.
#[derive(clap::Parser)]
#[command(name = "fidosim run", no_binary_name = true)]
struct DefaultsOnly {
    #[command(flatten)]
    device: DeviceSettings,
}

/// Flags of `fidosim run` that belong to the daemon, not to a device.
const DAEMON_KEYS: &[&str] = &[
    "config",
    "control-socket",
    "control-listen",
    "control-token-file",
    "no-control",
];

impl DeviceSettings {
    /// The keys a table or a JSON object may hold: the device flags'
    /// long names.
    pub fn keys() -> Vec<String> {
        use clap::CommandFactory as _;
        DefaultsOnly::command()
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect()
    }

    /// Reads settings from anything serde can read (a TOML table, a JSON
    /// object), whose keys are `keys`. `place` names where they come from
    /// and `sep` joins it to a key
    /// in messages (`[device.a]`, `settings`).
    pub fn read<'de, D>(place: &str, sep: &str, keys: &[&str], from: D) -> Result<Self, String>
    where
        D: serde::Deserializer<'de>,
    {
        let known = Self::keys();
        for k in keys {
            if DAEMON_KEYS.contains(k) {
                return Err(format!(
                    "{place}{sep}{k}: a daemon setting; give it on the command line"
                ));
            }
            if !known.iter().any(|n| n == k) {
                return Err(format!(
                    "{place}: unexpected argument '--{k}' found; the keys are `fidosim run` flags without dashes (`fidosim run --help` lists them)"
                ));
            }
        }
        let s: Self = serde_path_to_error::deserialize(from)
            .map_err(|e| format!("{place}{sep}{}: {}", e.path(), e.inner()))?;
        if s.ephemeral && s.state.is_some() {
            return Err(format!(
                "{place}: the argument '--state <PATH>' cannot be used with '--ephemeral'"
            ));
        }
        Ok(s)
    }

    /// Settings from a config file's `[device.NAME]` table; a `persona`
    /// key gives the defaults of the keys the table leaves out.
    pub fn from_table(name: &str, table: &toml::Table) -> Result<Self, String> {
        let resolved;
        let table = match table.get("persona") {
            Some(toml::Value::String(persona)) => {
                let file = match table.get("persona-file") {
                    Some(toml::Value::String(f)) => Some(PathBuf::from(f)),
                    Some(_) => return Err(format!("[device.{name}] persona-file: a file path")),
                    None => None,
                };
                let p = crate::personas::find(persona, file.as_deref())
                    .map_err(|e| format!("[device.{name}] persona: {e}"))?;
                resolved = crate::personas::overlay(&p, table);
                &resolved
            }
            Some(_) => return Err(format!("[device.{name}] persona: a persona's name")),
            None => table,
        };
        let keys: Vec<&str> = table.keys().map(String::as_str).collect();
        Self::read(
            &format!("[device.{name}]"),
            " ",
            &keys,
            toml::Value::Table(table.clone()),
        )
    }

    /// Settings from the control API's JSON object.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let Some(obj) = v.as_object() else {
            return Err("settings: an object of `fidosim run` flags without dashes".into());
        };
        // A persona gives the defaults of the keys the object leaves out.
        if let Some(persona) = obj.get("persona") {
            let Some(persona) = persona.as_str() else {
                return Err("settings.persona: a persona's name".into());
            };
            let file = match obj.get("persona-file") {
                Some(serde_json::Value::String(f)) => Some(PathBuf::from(f)),
                Some(_) => return Err("settings.persona-file: a file path".into()),
                None => None,
            };
            let p = crate::personas::find(persona, file.as_deref())
                .map_err(|e| format!("settings.persona: {e}"))?;
            let mut merged = match serde_json::to_value(&p.settings) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            for (k, val) in obj {
                if k != "persona" && k != "persona-file" {
                    merged.insert(k.clone(), val.clone());
                }
            }
            let merged = serde_json::Value::Object(merged);
            let keys: Vec<&str> = merged
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Self::read("settings", ".", &keys, &merged);
        }
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        Self::read("settings", ".", &keys, v)
    }
}

fn parse_hex_u16(s: &str) -> Result<u16, String> {
    u16::from_str_radix(s.trim_start_matches("0x"), 16)
        .map_err(|_| format!("`{s}` is not a 16-bit hex number (like 1209)"))
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| "give an IP address and port, like 127.0.0.1:8111 or [::1]:8111".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<DeviceSettings, String> {
        let t: toml::Table = text.parse().unwrap();
        DeviceSettings::from_table("a", &t)
    }

    fn json(v: serde_json::Value) -> Result<DeviceSettings, String> {
        DeviceSettings::from_json(&v)
    }

    #[test]
    fn a_persona_gives_the_defaults_of_what_a_table_or_object_leaves_out() {
        let t = table("persona = \"synced-passkey\"\ncounter = \"global\"\n").unwrap();
        assert_eq!(t.backup, BackupArg::Synced);
        assert_eq!(t.attestation, AttestationArg::None);
        assert_eq!(t.counter, "global", "the table wins");
        assert_eq!(t.aaguid, "f1d0f1d0-5eed-4b1d-a7e5-000000000002");
        let j = json(serde_json::json!({"persona": "ctap21-pin", "uv-retries": 2})).unwrap();
        assert_eq!(j.uv, UvArg::None);
        assert_eq!(j.uv_retries, 2);
        let j = json(serde_json::json!({"persona": "ctap21-fingerprint"})).unwrap();
        assert!(j.bio_enroll);
        // Mistakes name the place and the personas.
        let e = table("persona = \"nobody\"\n").unwrap_err();
        assert!(
            e.starts_with("[device.a] persona: unknown persona `nobody`"),
            "{e}"
        );
        assert!(e.contains("ctap21-pin"), "{e}");
        let e = json(serde_json::json!({"persona": 3})).unwrap_err();
        assert!(e.contains("settings.persona"), "{e}");
        let e = json(serde_json::json!({"persona": "fidosim", "wings": 2})).unwrap_err();
        assert!(e.contains("wings"), "{e}");
    }

    #[test]
    fn persona_defaults_on_the_command_line_yield_to_given_flags() {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let p = crate::personas::find("synced-passkey", None).unwrap();
        let cmd = crate::personas::with_defaults(DefaultsOnly::command(), &p);
        let m = cmd
            .try_get_matches_from(["--counter", "per-credential"])
            .unwrap();
        let d = DefaultsOnly::from_arg_matches(&m).unwrap().device;
        assert_eq!(d.counter, "per-credential");
        assert_eq!(d.backup, BackupArg::Synced);
        assert_eq!(d.attestation, AttestationArg::None);
        // A boolean flag and a list.
        let p = crate::personas::Persona {
            settings: "bio-enroll = true\nalgorithms = [\"eddsa\"]\n"
                .parse()
                .unwrap(),
            ..p
        };
        let cmd = crate::personas::with_defaults(DefaultsOnly::command(), &p);
        let d =
            DefaultsOnly::from_arg_matches(&cmd.try_get_matches_from(Vec::<&str>::new()).unwrap())
                .unwrap()
                .device;
        assert!(d.bio_enroll);
        assert_eq!(d.algorithms, ["eddsa"]);
    }

    #[test]
    fn defaults_are_the_flags_defaults() {
        let d = DeviceSettings::default();
        assert_eq!(d.transport, TransportArg::Uhid);
        assert_eq!(d.udp_listen.to_string(), uhid_device::udp::DEFAULT_LISTEN);
        assert_eq!((d.vid, d.pid, d.usb_version), (0x1209, 0x0001, 0x0100));
        assert_eq!(d.algorithms, ["es256", "eddsa"]);
        assert_eq!(d.uv_retries, 5);
        assert_eq!(d.presence, "approve");
        assert!(!d.ephemeral && d.state.is_none() && d.pin.is_none());
        // An empty table and an empty object are the defaults too.
        let t = table("").unwrap();
        let j = json(serde_json::json!({})).unwrap();
        assert_eq!(format!("{t:?}"), format!("{d:?}"));
        assert_eq!(format!("{j:?}"), format!("{d:?}"));
    }

    #[test]
    fn a_table_and_an_object_read_alike() {
        let t = table(
            "transport = \"udp\"\nudp-listen = \"127.0.0.1:9000\"\nvid = \"abcd\"\n\
             pid = 42\nalgorithms = [\"eddsa\"]\nenterprise-rp-ids = \"a.example,b.example\"\n\
             pin = 1234\nuv-retries = 3\nattestation = \"self\"\nbackup = \"synced\"\n\
             reset = \"always\"\nephemeral = true\nalways-uv = true\n",
        )
        .unwrap();
        let j = json(serde_json::json!({
            "transport": "udp", "udp-listen": "127.0.0.1:9000", "vid": "abcd",
            "pid": "42", "algorithms": "eddsa",
            "enterprise-rp-ids": ["a.example", "b.example"], "pin": "1234",
            "uv-retries": "3", "attestation": "self", "backup": "synced",
            "reset": "always", "ephemeral": true, "always-uv": true,
        }))
        .unwrap();
        assert_eq!(format!("{t:?}"), format!("{j:?}"));
        assert_eq!(t.transport, TransportArg::Udp);
        assert_eq!((t.vid, t.pid), (0xabcd, 0x42));
        assert_eq!(t.algorithms, ["eddsa"]);
        assert_eq!(t.enterprise_rp_ids, ["a.example", "b.example"]);
        assert_eq!(t.pin.as_deref(), Some("1234"));
        assert_eq!(t.uv_retries, 3);
        assert_eq!(t.attestation, AttestationArg::SelfSigned);
        assert_eq!(t.backup, BackupArg::Synced);
        assert_eq!(t.reset, ResetArg::Always);
        assert!(t.ephemeral && t.always_uv);
    }

    #[test]
    fn account_choice_reads_from_a_table_and_an_object() {
        assert_eq!(DeviceSettings::default().account_choice, "newest");
        let t = table("account-choice = \"platform\"").unwrap();
        assert_eq!(t.account_choice, "platform");
        let j = json(serde_json::json!({ "account-choice": "platform" })).unwrap();
        assert_eq!(j.account_choice, "platform");
        // Several rules: one string, or a list of them (what `devices add
        // --set account-choice=user:YWxpY2U,refuse` sends).
        let t = table("account-choice = \"user:YWxpY2U,refuse\"\nephemeral = true").unwrap();
        let j = json(serde_json::json!({
            "account-choice": ["user:YWxpY2U", "refuse"], "ephemeral": true,
        }))
        .unwrap();
        assert_eq!(t.account_choice, "user:YWxpY2U,refuse");
        assert_eq!(j.account_choice, t.account_choice);
        let c = crate::config::RunConfig::from_settings("a", t).unwrap();
        assert_eq!(c.account_choice.to_string(), "user:YWxpY2U,refuse");
    }

    #[test]
    fn a_bad_account_choice_names_the_key() {
        let e = table("account-choice = \"oldest\"").unwrap_err();
        assert!(
            e.starts_with(
                "[device.a] account-choice: `oldest`: `oldest` is not a rule; give platform"
            ),
            "{e}"
        );
        let e = json(serde_json::json!({ "account-choice": ["refuse", "user:YQ"] })).unwrap_err();
        assert!(
            e.starts_with("settings.account-choice: `refuse,user:YQ`: `refuse` must come last"),
            "{e}"
        );
        let e = table("account-choice = true").unwrap_err();
        assert!(
            e.starts_with("[device.a] account-choice: a string, not the boolean true"),
            "{e}"
        );
    }

    #[test]
    fn mistakes_name_the_key() {
        let e = table("foo = \"x\"").unwrap_err();
        assert!(
            e.starts_with("[device.a]: unexpected argument '--foo'"),
            "{e}"
        );
        let e = table("control-socket = \"/tmp/s\"").unwrap_err();
        assert!(
            e.contains("[device.a] control-socket: a daemon setting"),
            "{e}"
        );
        let e = table("presence = [\"approve\"]").unwrap_err();
        assert!(
            e.starts_with("[device.a] presence: a string, not a list"),
            "{e}"
        );
        let e = table("uv-retries = 26").unwrap_err();
        assert!(e.contains("uv-retries: `26` is not in 1..=25"), "{e}");
        let e = table("transport = \"usb\"").unwrap_err();
        assert!(e.contains("transport: unknown variant `usb`"), "{e}");
        let e = table("udp-listen = \"here\"").unwrap_err();
        assert!(e.contains("udp-listen: give an IP address and port"), "{e}");
        let e = table("ephemeral = true\nstate = \"/tmp/x.redb\"").unwrap_err();
        assert!(e.contains("cannot be used with '--ephemeral'"), "{e}");
        let e = json(serde_json::json!({ "serial": 1.5 })).unwrap_err();
        assert!(e.starts_with("settings.serial: "), "{e}");
        let e = json(serde_json::json!(["transport"])).unwrap_err();
        assert!(e.starts_with("settings: an object"), "{e}");
        // Global flags of the CLI are not device settings.
        assert!(table("verbose = true").is_err());
    }
}
