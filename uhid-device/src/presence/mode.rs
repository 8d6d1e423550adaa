//! The presence modes: how the virtual user answers a request for
//! presence, as the control API and the command line spell them.

use std::time::Duration;

/// How the virtual user answers a request for presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceMode {
    /// Touch at once (the default, for unattended rigs).
    Approve,
    /// Refuse at once.
    Deny,
    /// Wait this long, then touch.
    Delay(Duration),
    /// Wait this long, then give up (a user who never touches the key).
    TimeoutAfter(Duration),
    /// Never answer: the request waits until the client cancels it (or the
    /// device is unplugged).
    Never,
    /// Wait for an explicit touch ([`Shared::touch`](super::Shared::touch),
    /// the control API's `touch`), however long it takes.
    Manual,
}

impl std::fmt::Display for PresenceMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Approve => f.write_str("approve"),
            Self::Deny => f.write_str("deny"),
            Self::Delay(d) => write!(f, "delay:{}", d.as_millis()),
            Self::TimeoutAfter(d) => write!(f, "timeout:{}", d.as_millis()),
            Self::Never => f.write_str("never"),
            Self::Manual => f.write_str("manual"),
        }
    }
}

impl std::str::FromStr for PresenceMode {
    type Err = String;

    /// `approve`, `deny`, `delay:MS`, `timeout:MS`, `never`, `manual`
    /// (MS in milliseconds, at most 600000).
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "`{s}` is not one of approve, deny, delay:MS, timeout:MS, never, manual \
                 (MS in milliseconds, at most 600000)"
            )
        };
        let ms = |v: &str| -> Result<Duration, String> {
            let ms: u64 = v.parse().map_err(|_| err())?;
            if ms > 600_000 {
                return Err(err());
            }
            Ok(Duration::from_millis(ms))
        };
        match s.split_once(':') {
            None if s == "approve" => Ok(Self::Approve),
            None if s == "deny" => Ok(Self::Deny),
            None if s == "never" => Ok(Self::Never),
            None if s == "manual" => Ok(Self::Manual),
            Some(("delay", v)) => Ok(Self::Delay(ms(v)?)),
            Some(("timeout", v)) => Ok(Self::TimeoutAfter(ms(v)?)),
            _ => Err(err()),
        }
    }
}
