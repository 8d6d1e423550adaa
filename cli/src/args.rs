//! Command-line syntax (clap). Converted into [`crate::config`] types before
//! any work is done.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A software FIDO2 security key for Linux.
#[derive(Debug, Parser)]
#[command(name = "fidosim", version = crate::VERSION, about, long_about = None)]
pub(crate) struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Less log output (warnings and errors only).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Plug a virtual security key into this machine and serve it until
    /// SIGINT/SIGTERM.
    #[command(after_long_help = RUN_AFTER_HELP)]
    Run(Box<RunArgs>),
    /// The running keys: list, status, replug, reset.
    Devices {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        cmd: DeviceCmd,
    },
    /// A key's stored credentials (Chrome DevTools' JSON shape): list, show,
    /// import, export, delete, clear. With --state FILE: on a state file,
    /// no daemon needed.
    Credentials {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        cmd: CredentialCmd,
    },
    /// Signature counters: set (or rewind) a credential's counter.
    Counters {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        cmd: CounterCmd,
    },
    /// The virtual user: presence mode, touch, built-in UV outcome.
    Presence {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        cmd: PresenceCmd,
    },
    /// Injected faults: list, add, remove, clear (docs/control-api.md, "Faults").
    Faults {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        cmd: FaultCmd,
    },
    /// A browser-free WebAuthn client: options JSON in, the response JSON a
    /// browser's toJSON() gives out.
    Webauthn {
        #[command(subcommand)]
        cmd: WebauthnCmd,
    },
    /// Audit a relying party: drive its registration and login endpoints
    /// through valid and deliberately defective responses and report what
    /// it wrongly accepted (exit status 1 then).
    RpCheck(RpCheckArgs),
    /// Check what a virtual key needs on this machine (uhid, udev rules,
    /// hidraw access, a running daemon, confined browsers, containers), each
    /// with its fix; exit status 1 when a check fails.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket to check. Default:
        /// $XDG_RUNTIME_DIR/fidosim/control.sock (else /tmp/fidosim-UID/control.sock).
        #[arg(long, value_name = "PATH", env = "FIDOSIM_CONTROL_SOCKET")]
        socket: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `fidosim man > fidosim.1`.
    Man,
    /// Follow the keys' events (JSON lines) until interrupted.
    Events {
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// How the client finds the daemon, and how it prints.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    /// The daemon's control socket. Default:
    /// $XDG_RUNTIME_DIR/fidosim/control.sock.
    #[arg(
        long,
        env = "FIDOSIM_CONTROL_SOCKET",
        value_name = "PATH",
        global = true
    )]
    pub(crate) socket: Option<PathBuf>,
    /// The daemon's loopback TCP control address instead (HOST:PORT).
    #[arg(long, value_name = "ADDR", conflicts_with = "socket", global = true)]
    pub(crate) control: Option<String>,
    /// Which key (default: `default`; `events` without it follows all).
    #[arg(long, value_name = "NAME", global = true)]
    pub(crate) device: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Work on this state file instead of a running daemon (credentials and
    /// counters only; the file must not be in use).
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) state: Option<PathBuf>,
}

impl ClientArgs {
    /// The key the command is about.
    pub(crate) fn dev(&self) -> &str {
        self.device.as_deref().unwrap_or("default")
    }
}

/// What `fidosim rp-check` audits, and how.
#[derive(Debug, Clone, Args)]
pub(crate) struct RpCheckArgs {
    /// The RP's description (TOML): base_url, origin, and the begin/complete
    /// requests when they differ from POST /auth/passkey/{register,login}/{begin,complete}.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
    /// Run only the cases whose names start with this (repeatable); the
    /// baselines always run.
    #[arg(long = "case", value_name = "NAME")]
    pub(crate) cases: Vec<String>,
    /// Also send N randomly mutated assertions, each invalid, and report
    /// acceptances, server errors and time-outs.
    #[arg(long, value_name = "N")]
    pub(crate) fuzz: Option<u32>,
    /// The seed of the fuzz run (printed when not given).
    #[arg(long, value_name = "SEED", requires = "fuzz")]
    pub(crate) seed: Option<u64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum WebauthnCmd {
    /// navigator.credentials.create(): PublicKeyCredentialCreationOptionsJSON
    /// (or {"publicKey": ...}) in, RegistrationResponseJSON out.
    Create(WebauthnArgs),
    /// navigator.credentials.get(): PublicKeyCredentialRequestOptionsJSON in,
    /// AuthenticationResponseJSON out.
    Get(WebauthnArgs),
}

/// Where the options come from, which origin asks, and which key answers.
#[derive(Debug, Clone, Args)]
pub(crate) struct WebauthnArgs {
    /// The options JSON file (`-` or absent: standard input).
    pub(crate) options: Option<String>,
    /// The calling page's origin, e.g. https://shop.example.
    #[arg(long)]
    pub(crate) origin: String,
    /// The top-level origin, for a call from a cross-origin iframe
    /// (clientDataJSON then has crossOrigin true and topOrigin).
    #[arg(long)]
    pub(crate) top_origin: Option<String>,
    /// A running key on HID over UDP (`fidosim run --transport udp`)
    /// instead of the in-process one.
    #[arg(long, value_name = "ADDR", conflicts_with = "state", value_parser = parse_addr)]
    pub(crate) udp: Option<std::net::SocketAddr>,
    /// The in-process key's state file (created when missing). Default:
    /// $XDG_DATA_HOME/fidosim/webauthn.redb.
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,
    /// Break a browser rule on purpose: insecure-origin (http on a
    /// non-localhost host), foreign-rp-id (an RP ID the origin may not use).
    #[arg(long = "break", value_name = "RULE", value_delimiter = ',', value_parser = ["insecure-origin", "foreign-rp-id"])]
    pub(crate) breaks: Vec<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum DeviceCmd {
    /// Every running key, one line each.
    List,
    /// One key's identity, policy and counts.
    Status,
    /// Unplug and plug back in (same identity; per-power-cycle state resets).
    Replug,
    /// Erase every credential, the PIN and the settings (like
    /// authenticatorReset, without asking the user).
    Reset,
    /// Start and plug in another key NAME; its settings are `fidosim run`
    /// flags as KEY=VALUE (`--set transport=udp --set ephemeral=true`).
    Add {
        name: String,
        /// A `fidosim run` flag without dashes, as KEY=VALUE (a list:
        /// comma-separated; a switch: KEY=true).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Unplug key --device and stop it (its state file stays).
    Remove,
    /// A second key NAME with copies of --device's credentials (same keys
    /// and IDs), counters moved by --counter-offset, plugged in.
    Clone {
        name: String,
        /// Copy only this credential (repeat for more); default: all.
        #[arg(long = "credential", value_name = "ID")]
        credentials: Vec<String>,
        /// Added to each copied counter; negative makes the clone lag.
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        counter_offset: i64,
        /// A state file for the clone (default: in memory).
        #[arg(long = "clone-state", value_name = "FILE")]
        clone_state: Option<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum CredentialCmd {
    /// The stored credentials.
    List,
    /// One credential as JSON (ID in base64 or base64url).
    Show { id: String },
    /// Credentials from a JSON file (`-`: standard input): one object or an
    /// array, in Chrome DevTools' WebAuthn.Credential shape.
    Import { file: String },
    /// One credential, or all (no ID), as JSON.
    Export { id: Option<String> },
    /// Delete one credential.
    Delete { id: String },
    /// Delete every stored credential.
    Clear,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum CounterCmd {
    /// Set a credential's signature counter; a lower value rewinds it, as a
    /// cloned authenticator would.
    Set {
        id: String,
        #[arg(value_parser = parse_counter, allow_negative_numbers = true)]
        value: u32,
    },
    /// How counters advance: per-credential, global, zero, frozen or
    /// random:MAX.
    Mode {
        mode: String,
        /// What counters do past 2^32-1.
        #[arg(long, value_parser = ["saturate", "wrap"])]
        overflow: Option<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum PresenceCmd {
    /// approve, deny, delay:MS, timeout:MS, never or manual.
    Set { mode: String },
    /// Touch the key: a request waiting in `manual` mode goes on.
    Touch,
    /// The built-in UV outcome: succeed or fail.
    Uv {
        #[arg(value_parser = ["succeed", "fail"])]
        outcome: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum FaultCmd {
    /// The faults waiting to fire.
    List,
    /// Add a fault: status, zeroSignature, corruptSignature, clearUp,
    /// clearUv, wrongRpIdHash, trailingBytes, counterRollback,
    /// nonCanonicalCbor, delay, drop, keepaliveStorm or channelBusy.
    #[command(after_help = FAULT_EXAMPLES)]
    Add {
        /// What the fault does (one of the kinds above).
        kind: String,
        /// The command it applies to: makeCredential, getAssertion, … (a
        /// CTAP2 command), u2f, or any.
        #[arg(
            long = "for",
            visible_alias = "command",
            value_name = "COMMAND",
            default_value = "any"
        )]
        command: String,
        /// A parameter of the kind (repeatable), e.g. status=0x27, ms=500,
        /// count=100, rpId=evil.example, signCount=0, form=longInteger.
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Fire on every matching request until removed (default: once).
        #[arg(long)]
        sticky: bool,
    },
    /// Remove one fault by its id.
    Remove {
        #[arg(value_parser = parse_fault_id)]
        id: u64,
    },
    /// Remove every fault.
    Clear,
}

const FAULT_EXAMPLES: &str = "\
EXAMPLES:
    fidosim faults add status --for makeCredential -p status=CTAP2_ERR_OPERATION_DENIED
    fidosim faults add clearUp --for getAssertion --sticky
    fidosim faults add delay -p ms=3000
    fidosim faults add counterRollback -p back=1";

const RUN_AFTER_HELP: &str = "\
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportArg {
    /// A virtual USB HID device through /dev/uhid (hidraw clients see it).
    Uhid,
    /// HID reports over UDP datagrams.
    Udp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AttestationArg {
    /// No attestation statement.
    None,
    /// packed, signed with the credential's own key.
    #[value(name = "self")]
    SelfSigned,
    /// packed with an x5c chain from the device's attestation CA.
    Packed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OverflowArg {
    /// Stay at 2^32-1.
    Saturate,
    /// Wrap around past 0.
    Wrap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackupArg {
    /// BE=0 BS=0.
    DeviceBound,
    /// BE=1 BS=1.
    Synced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum UvArg {
    /// A built-in UV method that always succeeds.
    Succeed,
    /// A built-in UV method that always fails.
    Fail,
    /// No built-in UV method.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ResetArg {
    /// Reset only within 10 s of power-up (or replug), as CTAP requires.
    PowerUp,
    /// Reset at any time.
    Always,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Several keys from a TOML file: one `[device.NAME]` table each, whose
    /// keys are this command's flags without dashes (`transport = "udp"`,
    /// `presence = "manual"`, `algorithms = ["es256"]`, `ephemeral = true`).
    /// Only daemon settings (--control-*, --allow-remote) may be given with
    /// it on the command line.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// How the key is attached.
    #[arg(long, value_enum, default_value_t = TransportArg::Uhid)]
    pub(crate) transport: TransportArg,
    /// The uhid device node.
    #[arg(long, default_value = "/dev/uhid")]
    pub(crate) uhid_path: PathBuf,
    /// Address for --transport udp.
    #[arg(long, default_value = uhid_device::udp::DEFAULT_LISTEN, value_parser = parse_addr)]
    pub(crate) udp_listen: SocketAddr,
    /// Allow a non-loopback --udp-listen address.
    #[arg(long)]
    pub(crate) allow_remote: bool,
    /// USB product name.
    #[arg(long, default_value = "fidosim virtual security key")]
    pub(crate) name: String,
    /// USB vendor ID (hex).
    #[arg(long, default_value = "1209", value_parser = parse_hex_u16)]
    pub(crate) vid: u16,
    /// USB product ID (hex).
    #[arg(long, default_value = "0001", value_parser = parse_hex_u16)]
    pub(crate) pid: u16,
    /// USB device release number, bcdDevice (hex).
    #[arg(long, default_value = "0100", value_parser = parse_hex_u16)]
    pub(crate) usb_version: u16,
    /// USB serial number (ASCII).
    #[arg(long, default_value = "FIDOSIM0001")]
    pub(crate) serial: String,
    /// The AAGUID, as a UUID.
    #[arg(long, default_value = "f1d0f1d0-5eed-4b1d-a7e5-000000000001")]
    pub(crate) aaguid: String,
    /// Credential algorithms, in preference order.
    #[arg(long, value_delimiter = ',', default_value = "es256,eddsa")]
    pub(crate) algorithms: Vec<String>,
    /// Attestation statement.
    #[arg(long, value_enum, default_value_t = AttestationArg::Packed)]
    pub(crate) attestation: AttestationArg,
    /// Signature counter behaviour.
    /// per-credential, global (one for the device), zero (always 0, like
    /// synced passkeys), frozen (never advances) or random:MAX (advances by
    /// a random 1..=MAX). The control API changes it while the key runs.
    #[arg(long, default_value = "per-credential")]
    pub(crate) counter: String,
    /// What a counter does past 2^32-1.
    #[arg(long, value_enum, default_value_t = OverflowArg::Saturate)]
    pub(crate) counter_overflow: OverflowArg,
    /// Backup flags (BE/BS).
    #[arg(long, value_enum, default_value_t = BackupArg::DeviceBound)]
    pub(crate) backup: BackupArg,
    /// The virtual user: approve, deny, delay:MS (touch after MS
    /// milliseconds), timeout:MS (never touch; give up after MS), never
    /// (wait until the client cancels) or manual (wait for `fidosim
    /// presence touch`). The control API changes it while the key runs.
    #[arg(long, default_value = "approve")]
    pub(crate) presence: String,
    /// Built-in user verification.
    #[arg(long, value_enum, default_value_t = UvArg::Succeed)]
    pub(crate) uv: UvArg,
    /// Failed built-in UV attempts allowed before UV is blocked (uvRetries;
    /// a success restores them).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=25))]
    pub(crate) uv_retries: u8,
    /// When authenticatorReset is allowed.
    #[arg(long, value_enum, default_value_t = ResetArg::PowerUp)]
    pub(crate) reset: ResetArg,
    /// Start with this PIN set (4–63 bytes of UTF-8) when the state is
    /// first created (a new state file, or --ephemeral); authenticatorReset
    /// clears it. With the built-in UV
    /// (the default) browsers still use the "fingerprint" and ask for no
    /// PIN; add `--uv none` to make them ask for the PIN like with a key
    /// that has no sensor.
    #[arg(long, value_name = "PIN")]
    pub(crate) pin: Option<String>,
    /// Require user verification for every makeCredential and getAssertion
    /// (the CTAP 2.1 alwaysUv option; authenticatorConfig can toggle it).
    /// Applies when the state is first created, and after a reset.
    #[arg(long)]
    pub(crate) always_uv: bool,
    /// Require user verification for non-discoverable credentials too
    /// (turns the makeCredUvNotRqd option off).
    #[arg(long)]
    pub(crate) mc_requires_uv: bool,
    /// Do not support enterprise attestation (the getInfo `ep` option).
    #[arg(long)]
    pub(crate) no_enterprise_attestation: bool,
    /// RP IDs that get a vendor-facilitated enterprise attestation once it
    /// is enabled through authenticatorConfig.
    #[arg(long, value_delimiter = ',', value_name = "RP_ID")]
    pub(crate) enterprise_rp_ids: Vec<String>,
    /// Write the attestation CA certificate (PEM) here at start-up, for an
    /// RP's trust store.
    #[arg(long)]
    pub(crate) write_ca: Option<PathBuf>,
    /// The state file (created when missing). Default:
    /// $XDG_DATA_HOME/fidosim/default.redb.
    #[arg(long, value_name = "PATH", conflicts_with = "ephemeral")]
    pub(crate) state: Option<PathBuf>,
    /// Keep all state in memory: a fresh key each start, nothing written.
    #[arg(long)]
    pub(crate) ephemeral: bool,
    /// The control API's Unix socket. Default:
    /// $XDG_RUNTIME_DIR/fidosim/control.sock (else
    /// /tmp/fidosim-UID/control.sock).
    #[arg(long, env = "FIDOSIM_CONTROL_SOCKET", value_name = "PATH")]
    pub(crate) control_socket: Option<PathBuf>,
    /// Also serve the control API on this TCP address (loopback only
    /// unless --allow-remote).
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub(crate) control_listen: Option<SocketAddr>,
    /// No control API.
    #[arg(long, conflicts_with_all = ["control_socket", "control_listen"])]
    pub(crate) no_control: bool,
}

fn parse_hex_u16(s: &str) -> Result<u16, String> {
    u16::from_str_radix(s.trim_start_matches("0x"), 16)
        .map_err(|_| format!("`{s}` is not a 16-bit hex number (like 1209)"))
}

fn parse_counter(s: &str) -> Result<u32, String> {
    s.parse().map_err(|_| {
        format!(
            "give a whole number from 0 to {} (a lower one than now rewinds the counter)",
            u32::MAX
        )
    })
}

fn parse_fault_id(s: &str) -> Result<u64, String> {
    s.parse()
        .map_err(|_| "a fault id is a number; `fidosim faults list` shows them".to_owned())
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| "give an IP address and port, like 127.0.0.1:8111 or [::1]:8111".to_owned())
}
