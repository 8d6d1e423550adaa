//! The control API (server and client) and the credential JSON they share.

pub(crate) mod client;
pub(crate) mod creds;
pub(crate) mod server;

/// The OpenAPI document of the control API, served at `/v1/openapi.json`.
pub(crate) const OPENAPI: &str = include_str!("../../../docs/openapi.json");
