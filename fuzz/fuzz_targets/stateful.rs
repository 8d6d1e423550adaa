//! A sequence of operations against one authenticator, checked against a
//! model of what a CTAP 2.1 authenticator must have done: see
//! `authenticator_core_fuzz::stateful` for the model and what it checks.
#![no_main]

use authenticator_core_fuzz::stateful::{run, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input| run(&input));
