//! `fidosim`: a software FIDO2 security key for Linux.
#![forbid(unsafe_code)]

/// Prints a line to standard output; a reader that went away (`fidosim …
/// | head`) ends the program quietly instead of a panic, as `println!`
/// would.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::print_line(format_args!($($arg)*))
    };
}

mod args;
mod control;
mod doctor;
mod personas_cmd;
mod progress;
mod rp_check_cmd;
mod run;

mod webauthn_cmd;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

/// See [`out!`].
pub(crate) fn print_line(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("fidosim: cannot write to standard output: {e}");
        std::process::exit(i32::from(EXIT_FAILURE));
    }
}

/// The version and the commit it was built from (`fidosim --version`).
pub(crate) const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("FIDOSIM_COMMIT"), ")");

use fidosim_daemon::EXIT_FAILURE;

fn main() -> ExitCode {
    let args = args::Cli::parse();
    match run::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fidosim: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
