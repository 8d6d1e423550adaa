//! `fidosim run`'s settings: one type that clap reads from the command
//! line, and that a config file's `[device.NAME]` tables and the control
//! API's JSON settings read into through the same parser.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// A virtual USB HID device through /dev/uhid (hidraw clients see it).
    Uhid,
    /// HID reports over UDP datagrams.
    Udp,
}

/// The attestation statement (`--attestation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttestationArg {
    /// No attestation statement.
    None,
    /// packed, signed with the credential's own key.
    #[value(name = "self")]
    SelfSigned,
    /// packed with an x5c chain from the device's attestation CA.
    Packed,
}

/// What a counter does past 2^32-1 (`--counter-overflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OverflowArg {
    /// Stay at 2^32-1.
    Saturate,
    /// Wrap around past 0.
    Wrap,
}

/// The backup flags (`--backup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackupArg {
    /// BE=0 BS=0.
    DeviceBound,
    /// BE=1 BS=1.
    Synced,
}

/// Built-in user verification (`--uv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UvArg {
    /// A built-in UV method that always succeeds.
    Succeed,
    /// A built-in UV method that always fails.
    Fail,
    /// No built-in UV method.
    None,
}

/// When authenticatorReset is allowed (`--reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResetArg {
    /// Reset only within 10 s of power-up (or replug), as CTAP requires.
    PowerUp,
    /// Reset at any time.
    Always,
}

/// The flags of `fidosim run`; every device setting is one of them.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Several keys from a TOML file: one `[device.NAME]` table each, whose
    /// keys are this command's flags without dashes (`transport = "udp"`,
    /// `presence = "manual"`, `algorithms = ["es256"]`, `ephemeral = true`).
    /// Only daemon settings (--control-*, --allow-remote) may be given with
    /// it on the command line.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How the key is attached.
    #[arg(long, value_enum, default_value_t = TransportArg::Uhid)]
    pub transport: TransportArg,
    /// The uhid device node.
    #[arg(long, default_value = "/dev/uhid")]
    pub uhid_path: PathBuf,
    /// Address for --transport udp.
    #[arg(long, default_value = uhid_device::udp::DEFAULT_LISTEN, value_parser = parse_addr)]
    pub udp_listen: SocketAddr,
    /// Allow a non-loopback --udp-listen address.
    #[arg(long)]
    pub allow_remote: bool,
    /// USB product name.
    #[arg(long, default_value = "fidosim virtual security key")]
    pub name: String,
    /// USB vendor ID (hex).
    #[arg(long, default_value = "1209", value_parser = parse_hex_u16)]
    pub vid: u16,
    /// USB product ID (hex).
    #[arg(long, default_value = "0001", value_parser = parse_hex_u16)]
    pub pid: u16,
    /// USB device release number, bcdDevice (hex).
    #[arg(long, default_value = "0100", value_parser = parse_hex_u16)]
    pub usb_version: u16,
    /// USB serial number (ASCII).
    #[arg(long, default_value = "FIDOSIM0001")]
    pub serial: String,
    /// The AAGUID, as a UUID.
    #[arg(long, default_value = "f1d0f1d0-5eed-4b1d-a7e5-000000000001")]
    pub aaguid: String,
    /// Credential algorithms, in preference order.
    #[arg(long, value_delimiter = ',', default_value = "es256,eddsa")]
    pub algorithms: Vec<String>,
    /// Attestation statement.
    #[arg(long, value_enum, default_value_t = AttestationArg::Packed)]
    pub attestation: AttestationArg,
    /// Signature counter behaviour.
    /// per-credential, global (one for the device), zero (always 0, like
    /// synced passkeys), frozen (never advances) or random:MAX (advances by
    /// a random 1..=MAX). The control API changes it while the key runs.
    #[arg(long, default_value = "per-credential")]
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
    pub presence: String,
    /// Built-in user verification.
    #[arg(long, value_enum, default_value_t = UvArg::Succeed)]
    pub uv: UvArg,
    /// Failed built-in UV attempts allowed before UV is blocked (uvRetries;
    /// a success restores them).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=25))]
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
    pub pin: Option<String>,
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
    /// The control API's Unix socket. Default:
    /// $XDG_RUNTIME_DIR/fidosim/control.sock (else
    /// /tmp/fidosim-UID/control.sock).
    #[arg(long, env = "FIDOSIM_CONTROL_SOCKET", value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
    /// Also serve the control API on this TCP address (loopback only
    /// unless --allow-remote).
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub control_listen: Option<SocketAddr>,
    /// No control API.
    #[arg(long, conflicts_with_all = ["control_socket", "control_listen"])]
    pub no_control: bool,
}

fn parse_hex_u16(s: &str) -> Result<u16, String> {
    u16::from_str_radix(s.trim_start_matches("0x"), 16)
        .map_err(|_| format!("`{s}` is not a 16-bit hex number (like 1209)"))
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| "give an IP address and port, like 127.0.0.1:8111 or [::1]:8111".to_owned())
}
