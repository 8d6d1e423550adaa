//! End-to-end test support for fidosim.
//!
//! - [`hid`]: a CTAPHID client over UDP, written independently of the
//!   device's own framing code so that a shared misunderstanding cannot hide.
//! - [`daemon`]: starts `fidosim run` as a child process and stops it.
//! - [`control`]: the control API over its Unix socket, in plain HTTP/1.1.
//! - [`threads`]: the same work on every core, for per-core benchmarks.
//!
//! The tests that use them live beside the binary (`cli/tests/`), where
//! Cargo provides the path of the built `fidosim`, and in `tests/python/`.

pub mod control;
pub mod daemon;
pub mod hid;
pub mod requests;
pub mod threads;
