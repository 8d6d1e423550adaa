//! What can go wrong when a key starts or runs, and the exit status each
//! maps to; I/O errors as short reasons for messages.

/// Exit status of an invalid command line (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit status of a run that failed at run time.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status when the transport (uhid, UDP) cannot be used.
pub const EXIT_TRANSPORT: u8 = 3;

/// A failure, with the exit status it maps to.
#[derive(Debug)]
pub enum Error {
    /// A bad command-line value.
    Config(String),
    /// The transport cannot be used.
    Transport(String),
    /// Anything else at run time.
    Runtime(String),
}

impl Error {
    /// The process exit status of this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => EXIT_USAGE,
            Self::Transport(_) => EXIT_TRANSPORT,
            Self::Runtime(_) => EXIT_FAILURE,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(m) | Self::Transport(m) | Self::Runtime(m) => f.write_str(m),
        }
    }
}

/// An I/O error as a short lower-case reason for a message ("no such file
/// or directory"), without Rust's "(os error 2)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let known = match e.kind() {
        K::NotFound => "no such file or directory",
        K::PermissionDenied => "permission denied",
        K::IsADirectory => "it is a directory",
        K::NotADirectory => "a part of the path is not a directory",
        K::ConnectionRefused => "connection refused",
        K::AddrInUse => "the address is in use",
        K::AddrNotAvailable => "the address is not on this machine",
        K::ReadOnlyFilesystem => "the file system is read-only",
        K::StorageFull => "no space left on the device",
        K::InvalidData => "not valid UTF-8 text",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "an unknown I/O error".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::io_reason;
    use std::io::{Error, ErrorKind};

    #[test]
    fn io_reasons_are_short_and_lower_case() {
        assert_eq!(
            io_reason(&Error::from_raw_os_error(2)),
            "no such file or directory"
        );
        assert_eq!(
            io_reason(&Error::from(ErrorKind::PermissionDenied)),
            "permission denied"
        );
        let other = io_reason(&Error::from_raw_os_error(7));
        assert!(!other.contains("os error"), "{other}");
        assert!(other.starts_with(|c: char| !c.is_uppercase()), "{other}");
    }
}
