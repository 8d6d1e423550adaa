//! Arbitrary bytes into every request decoder and into two fresh
//! authenticators: see `authenticator_core_fuzz::request_decode` for what
//! it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| authenticator_core_fuzz::request_decode::run(data));
