//! Arbitrary bytes as control API request bodies: see
//! `authenticator_core_fuzz::control_api` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| authenticator_core_fuzz::control_api::run(data));
