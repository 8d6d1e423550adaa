//! CTAPHID reassembly: see `authenticator_core_fuzz::ctaphid` for what it
//! checks.
#![no_main]

use authenticator_core_fuzz::ctaphid::{run, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input| run(&input));
