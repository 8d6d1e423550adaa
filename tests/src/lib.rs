//! End-to-end test support for fidosim.
//!
//! - [`hid`]: a CTAPHID client over UDP, written independently of the
//!   device's own framing code so that a shared misunderstanding cannot hide.
//! - [`daemon`]: starts `fidosim run` as a child process and stops it.
//!
//! The tests that use them live beside the binary (`cli/tests/`), where
//! Cargo provides the path of the built `fidosim`, and in `tests/python/`.

pub mod daemon;
pub mod hid;
pub mod requests;
