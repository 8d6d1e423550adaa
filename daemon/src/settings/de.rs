//! How a device setting is read from a TOML table or a JSON object: each
//! value is taken in the forms its flag's text could have been written in
//! (a number where the flag takes digits, a list or a comma-separated
//! string where it takes several values), then parsed by the same function
//! clap uses for the flag.

use std::net::SocketAddr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// A setting's value as written.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a string, an integer, a boolean or a list of strings"
)]
enum Written {
    Text(String),
    Integer(i64),
    Boolean(bool),
    List(Vec<String>),
}

impl Written {
    /// The flag's text: what `--flag TEXT` would have said.
    fn text<E: serde::de::Error>(self) -> Result<String, E> {
        match self {
            Written::Text(s) => Ok(s),
            Written::Integer(i) => Ok(i.to_string()),
            Written::Boolean(b) => Err(E::custom(format!("a string, not the boolean {b}"))),
            Written::List(_) => Err(E::custom("a string, not a list")),
        }
    }
}

/// Text: a string, or an integer read as its digits (`pin = 1234`).
pub(super) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Written::deserialize(d)?.text()
}

/// Optional text, as [`text`].
pub(super) fn some_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    text(d).map(Some)
}

/// A 16-bit hex number (`vid = "1209"`; an integer's digits are read as
/// hex too, as `--vid 1209` is).
pub(super) fn hex16<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    super::parse_hex_u16(&text(d)?).map_err(D::Error::custom)
}

/// An IP address and port.
pub(super) fn addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    super::parse_addr(&text(d)?).map_err(D::Error::custom)
}

/// Several values: a list of strings, or one comma-separated string.
pub(super) fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Written::deserialize(d)? {
        Written::List(items) => Ok(items),
        other => Ok(other
            .text::<D::Error>()?
            .split(',')
            .map(str::to_owned)
            .collect()),
    }
}

/// The account choice: one policy string, or its comma-separated items as
/// a list (`["user:YWxpY2U", "refuse"]`, as `devices add --set` sends a
/// value with commas). Checked here, so that a mistake names the key.
pub(super) fn account_choice<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = match Written::deserialize(d)? {
        Written::List(items) => items.join(","),
        other => other.text()?,
    };
    text.parse::<authenticator_core::accounts::AccountChoice>()
        .map_err(D::Error::custom)?;
    Ok(text)
}

/// uvRetries: 1 to 25, as `--uv-retries` takes.
pub(super) fn uv_retries<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let t = text(d)?;
    t.parse::<u8>()
        .ok()
        .filter(|n| (1..=25).contains(n))
        .ok_or_else(|| D::Error::custom(format!("`{t}` is not in 1..=25")))
}
