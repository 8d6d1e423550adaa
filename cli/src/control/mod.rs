//! The control API's client: the CLI verbs, against a running daemon or,
//! offline, a state file.

pub(crate) mod client;
