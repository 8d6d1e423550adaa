//! `fidosim`: a software FIDO2 security key for Linux.
#![forbid(unsafe_code)]

mod args;
mod config;
mod control;
mod doctor;
mod rpcheck;
mod run;
mod state;
mod webauthn_cmd;

use std::process::ExitCode;

use clap::Parser;

/// The version and the commit it was built from (`fidosim --version`).
pub(crate) const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("FIDOSIM_COMMIT"), ")");

/// Exit status of an invalid command line (clap uses it too).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status of a run that failed at run time.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit status when the transport (uhid, UDP) cannot be used.
pub(crate) const EXIT_TRANSPORT: u8 = 3;

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
