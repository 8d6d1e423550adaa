//! The durable store on hostile state files: see
//! `authenticator_core_fuzz::state` for what it checks.
#![no_main]

use authenticator_core_fuzz::state;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: state::quiet_panics(), |data: &[u8]| state::run_file(data));
