//! Command-line syntax (clap). Converted into `fidosim_daemon::config` types before
//! any work is done.

use std::net::SocketAddr;
use std::path::PathBuf;

use authenticator_core::accounts::AccountChoice;
use clap::{Args, Parser, Subcommand};
use fidosim_daemon::settings::{RunArgs, RUN_AFTER_HELP};

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
    /// The virtual user: presence mode, touch, built-in UV outcome, account
    /// choice.
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
    RpCheck(fidosim_rp_check::Args),
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
    /// The personas `fidosim run --persona NAME` starts from: presets of a
    /// whole device, each with what it stands for, what it cannot copy and
    /// its settings. A persona file of your own (--persona-file) holds
    /// [persona.NAME] tables with `description`, `cannot-copy` and a
    /// `settings` table of `fidosim run` flags without dashes.
    Personas {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also list the personas of this file.
        #[arg(long, value_name = "FILE")]
        persona_file: Option<PathBuf>,
    },
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
    /// Its token is read from --control-token-file, else from the token
    /// file beside the default socket
    /// ($XDG_RUNTIME_DIR/fidosim/control.token).
    #[arg(long, value_name = "ADDR", conflicts_with = "socket", global = true)]
    pub(crate) control: Option<String>,
    /// The file holding the daemon's TCP control token (with --control):
    /// the daemon's --control-token-file, or the control.token it wrote
    /// beside its socket.
    #[arg(
        long,
        env = "FIDOSIM_CONTROL_TOKEN_FILE",
        value_name = "PATH",
        global = true
    )]
    pub(crate) control_token_file: Option<PathBuf>,
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

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum WebauthnCmd {
    /// navigator.credentials.create(): PublicKeyCredentialCreationOptionsJSON
    /// (or {"publicKey": ...}) in, RegistrationResponseJSON out.
    Create(WebauthnArgs),
    /// navigator.credentials.get(): PublicKeyCredentialRequestOptionsJSON in,
    /// AuthenticationResponseJSON out.
    #[command(after_help = WEBAUTHN_GET_AFTER_HELP)]
    Get(WebauthnGetArgs),
}

/// `fidosim webauthn get`: the common arguments, and which account signs
/// in when several discoverable credentials apply.
#[derive(Debug, Clone, Args)]
pub(crate) struct WebauthnGetArgs {
    #[command(flatten)]
    pub(crate) common: WebauthnArgs,
    /// Sign in as this user handle (response.userHandle; base64url as
    /// WebAuthn's JSON writes it, or standard base64). Another account is
    /// never signed with: without it, the command fails.
    #[arg(long, value_name = "HANDLE", value_parser = parse_user_handle, conflicts_with = "credential_id")]
    pub(crate) user_handle: Option<Id>,
    /// Sign in with this credential (its id / rawId; base64url or standard
    /// base64). Another credential is never signed with: without it, the
    /// command fails.
    #[arg(long, value_name = "ID", value_parser = parse_credential_id)]
    pub(crate) credential_id: Option<Id>,
    /// How the in-process key's virtual user picks among several
    /// discoverable credentials (CTAP 2.1 §6.2.2 step 12.2), as `fidosim run
    /// --account-choice` takes it: newest, platform, refuse, or
    /// user:HANDLE / credential:ID rules. Default: newest, or the account
    /// --user-handle / --credential-id names and refuse when it is missing.
    /// Not with --udp: a running key's virtual user follows that key's own
    /// policy (`fidosim run --account-choice`).
    #[arg(long, value_name = "POLICY", value_parser = parse_account_choice)]
    pub(crate) account_choice: Option<AccountChoice>,
}

/// A user handle or credential ID from the command line, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Id(pub(crate) Vec<u8>);

const WEBAUTHN_GET_AFTER_HELP: &str = "\
SEVERAL ACCOUNTS:
    When allowCredentials is empty and several discoverable credentials of
    the RP are on the key, the key's virtual user picks one, as on a key with
    a display (CTAP 2.1 §6.2.2 step 12.2): by default the newest.
    --user-handle or --credential-id picks that one; when the key has no such
    credential the command fails (exit status 1) and signs with none.
    --account-choice platform makes the key send them all (numberOfCredentials)
    and this client walks authenticatorGetNextAssertion to the one asked for,
    or takes the first (the newest) when none is asked for.
    With --udp the running key's own --account-choice decides; the client
    then checks that the account it got is the one asked for.";

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
    /// How the virtual user picks among several discoverable credentials of
    /// one RP (CTAP 2.1 §6.2.2 step 12.2): newest, platform, refuse, or
    /// user:HANDLE / credential:ID rules (base64), comma-separated, tried in
    /// order, optionally ending in newest, platform or refuse for when none
    /// matches (default: newest). The next getAssertion uses it.
    #[command(name = "account-choice")]
    AccountChoice {
        #[arg(value_name = "POLICY")]
        policy: String,
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

/// Base64 as WebAuthn's JSON writes IDs (URL-safe, unpadded) or standard,
/// padding optional.
fn unb64_any(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    [URL_SAFE_NO_PAD, URL_SAFE, STANDARD_NO_PAD, STANDARD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

fn parse_user_handle(s: &str) -> Result<Id, String> {
    match unb64_any(s) {
        // WebAuthn §5.4.3: a user handle has 1 to 64 bytes.
        Some(b) if (1..=64).contains(&b.len()) => Ok(Id(b)),
        Some(b) => Err(format!(
            "a user handle has 1 to 64 bytes, this one {}; give response.userHandle as the key returned it",
            b.len()
        )),
        None => Err(
            "not base64; give the user handle as WebAuthn's JSON writes it (base64url, like response.userHandle)"
                .to_owned(),
        ),
    }
}

fn parse_credential_id(s: &str) -> Result<Id, String> {
    match unb64_any(s) {
        // CTAP 2.1 §6.1: a credential ID has at most 1023 bytes.
        Some(b) if (1..=1023).contains(&b.len()) => Ok(Id(b)),
        Some(b) if !b.is_empty() => Err(format!(
            "a credential ID has at most 1023 bytes, this one {}; give the id (or rawId) of the registration response",
            b.len()
        )),
        _ => Err(
            "not a base64 credential ID; give the id (or rawId) of the registration response, or one from `fidosim credentials list`"
                .to_owned(),
        ),
    }
}

fn parse_account_choice(s: &str) -> Result<AccountChoice, String> {
    s.parse()
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| "give an IP address and port, like 127.0.0.1:8111 or [::1]:8111".to_owned())
}
