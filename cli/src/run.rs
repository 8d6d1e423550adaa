//! `fidosim run`: one virtual key until a signal says stop.

use std::process::ExitCode;

use fidosim_daemon::config::DaemonConfig;
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command};
use fidosim_daemon::EXIT_FAILURE;
pub(crate) use fidosim_daemon::{io_reason, Error};

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// Writes generated text to standard output; a closed pipe (`| head`) is
/// not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Runtime(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the async runtime: {e}")))
}

pub(crate) fn run(cli: Cli) -> Result<ExitCode, Error> {
    use crate::control as client;
    match cli.command {
        Command::Run(args) => {
            init_logging(cli.verbose, cli.quiet);
            let args = match (&args.device.persona, &args.config) {
                (Some(name), None) => with_persona(name, args.device.persona_file.as_deref())?,
                _ => *args,
            };
            let config = DaemonConfig::from_args(args, &run_flags_given())
                .map_err(|e| Error::Config(e.0))?;
            runtime()?.block_on(fidosim_daemon::serve(config))?;
        }
        Command::Devices { client: c, cmd } => runtime()?.block_on(client::devices(c, cmd))?,
        Command::Credentials { client: c, cmd } => {
            runtime()?.block_on(client::credentials(c, cmd))?;
        }
        Command::Counters { client: c, cmd } => runtime()?.block_on(client::counters(c, cmd))?,
        Command::Presence { client: c, cmd } => runtime()?.block_on(client::presence(c, cmd))?,
        Command::Events { client: c } => runtime()?.block_on(client::events(c))?,
        Command::Personas { json, persona_file } => {
            let all =
                fidosim_daemon::personas::all(persona_file.as_deref()).map_err(Error::Config)?;
            write_stdout(crate::personas_cmd::show(&all, json).as_bytes())?;
        }
        Command::Doctor { json, socket } => {
            if !crate::doctor::run(json, socket) {
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
        }
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "fidosim", &mut out);
            write_stdout(&out)?;
        }
        Command::Man => {
            use clap::CommandFactory as _;
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| Error::Runtime(format!("cannot render the man page: {e}")))?;
            write_stdout(&out)?;
        }
        Command::RpCheck(a) => {
            if !runtime()?.block_on(crate::rp_check_cmd::run(a))? {
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
        }
        Command::Webauthn { cmd } => {
            runtime()?.block_on(async { crate::webauthn_cmd::run(cmd) })?
        }
        Command::Faults { client: c, cmd } => runtime()?.block_on(client::faults(c, cmd))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `fidosim run`'s arguments again, with the persona's settings as the
/// defaults of the flags not given on the command line.
fn with_persona(
    name: &str,
    file: Option<&std::path::Path>,
) -> Result<fidosim_daemon::settings::RunArgs, Error> {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let persona = fidosim_daemon::personas::find(name, file)
        .map_err(|e| Error::Config(format!("--persona: {e}")))?;
    let cmd = Cli::command().mut_subcommand("run", |run| {
        fidosim_daemon::personas::with_defaults(run, &persona)
    });
    let matches = cmd
        .try_get_matches_from(std::env::args_os())
        .map_err(|e| Error::Config(format!("--persona {name}: {e}")))?;
    let cli = Cli::from_arg_matches(&matches)
        .map_err(|e| Error::Config(format!("--persona {name}: {e}")))?;
    match cli.command {
        Command::Run(args) => Ok(*args),
        _ => Err(Error::Config(format!(
            "--persona {name}: the command line is no longer `fidosim run`"
        ))),
    }
}

/// The `fidosim run` flags given on this process's command line (clap
/// ids, like `presence`), not from defaults or the environment.
fn run_flags_given() -> Vec<String> {
    use clap::CommandFactory as _;
    let cmd = Cli::command();
    let Some(run_cmd) = cmd.find_subcommand("run") else {
        return Vec::new();
    };
    let ids: Vec<String> = run_cmd
        .get_arguments()
        .map(|a| a.get_id().as_str().to_owned())
        .collect();
    let Ok(m) = cmd.clone().try_get_matches_from(std::env::args_os()) else {
        return Vec::new();
    };
    let Some(run) = m.subcommand_matches("run") else {
        return Vec::new();
    };
    ids.into_iter()
        .filter(|id| run.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        .collect()
}
