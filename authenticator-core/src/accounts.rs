//! Account choice on the device (CTAP 2.1 §6.2.2 step 12.2).
//!
//! When getAssertion comes without an allowList and more than one
//! discoverable credential of the RP applies, a key without a display hands
//! them all to the platform (numberOfCredentials, then
//! authenticatorGetNextAssertion), and the platform shows an account
//! chooser. A key with a display lets the user pick one on the device
//! instead; it then returns exactly that credential, without
//! numberOfCredentials, and marks it `userSelected` (response member 0x06),
//! so the platform asks nobody. A user who declines the choice ends the
//! request with CTAP2_ERR_OPERATION_DENIED.
//!
//! fidosim's virtual user makes that choice by an [`AccountChoice`] policy:
//!
//! ```text
//!   platform                 no choice on the device: all credentials, newest first
//!   newest                   the most recently created credential
//!   refuse                   the user declines (CTAP2_ERR_OPERATION_DENIED)
//!   user:HANDLE              the credential of that user handle, if it applies
//!   credential:ID            that credential, if it applies
//! ```
//!
//! `user:` and `credential:` rules may be listed, comma-separated, before
//! one of the first three, which applies when none of them matches; without
//! one, `newest` does (`user:YWxpY2U` = `user:YWxpY2U,newest`). HANDLE and ID
//! are base64, standard or URL-safe, with or without padding.

use crate::store::Credential;

/// What happens when none of the [`AccountPick`]s matches, or there are
/// none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountRule {
    /// The device has no display: every applicable credential goes to the
    /// platform, newest first, and the platform chooses (step 12.2, "does
    /// not have a display").
    Platform,
    /// The virtual user picks the most recently created credential.
    Newest,
    /// The virtual user declines to choose (CTAP2_ERR_OPERATION_DENIED).
    Refuse,
}

impl AccountRule {
    /// The name the command line, the control API and events use.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Newest => "newest",
            Self::Refuse => "refuse",
        }
    }
}

/// A credential the virtual user looks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountPick {
    /// The credential of this user handle.
    User(Vec<u8>),
    /// The credential with this ID.
    Credential(Vec<u8>),
}

/// How the virtual user chooses among several applicable discoverable
/// credentials: the first pick that matches, else `otherwise`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountChoice {
    /// Credentials looked for, in order.
    pub picks: Vec<AccountPick>,
    /// What applies when no pick matches.
    pub otherwise: AccountRule,
}

impl AccountChoice {
    /// A policy of one rule and no picks.
    pub const fn rule(otherwise: AccountRule) -> Self {
        Self {
            picks: Vec::new(),
            otherwise,
        }
    }

    /// Whether the choice is left to the platform whatever the candidates.
    pub fn is_platform(&self) -> bool {
        self.picks.is_empty() && self.otherwise == AccountRule::Platform
    }

    /// Applies the policy to `candidates`, ordered newest first (step
    /// 12.2.1).
    pub fn decide(&self, candidates: &[Credential]) -> Decision {
        for pick in &self.picks {
            let found = candidates.iter().position(|c| match pick {
                AccountPick::User(handle) => c.user.id == *handle,
                AccountPick::Credential(id) => c.id == *id,
            });
            if let Some(index) = found {
                let reason = match pick {
                    AccountPick::User(_) => ChoiceReason::UserHandle,
                    AccountPick::Credential(_) => ChoiceReason::CredentialId,
                };
                return Decision::Chosen { index, reason };
            }
        }
        let fallback = !self.picks.is_empty();
        match self.otherwise {
            AccountRule::Platform => Decision::Platform,
            AccountRule::Refuse => Decision::Declined,
            AccountRule::Newest => Decision::Chosen {
                index: 0,
                reason: if fallback {
                    ChoiceReason::NewestNoMatch
                } else {
                    ChoiceReason::Newest
                },
            },
        }
    }
}

/// fidosim's default: the virtual user picks the newest credential, so that
/// a headless browser never waits on an account chooser (see
/// docs/decisions.md).
impl Default for AccountChoice {
    fn default() -> Self {
        Self::rule(AccountRule::Newest)
    }
}

/// What [`AccountChoice::decide`] concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Every candidate goes to the platform.
    Platform,
    /// The candidate at `index` was chosen on the device.
    Chosen {
        /// Its position among the candidates (newest first).
        index: usize,
        /// Why it was chosen.
        reason: ChoiceReason,
    },
    /// The user declined.
    Declined,
}

/// Why the virtual user chose a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceReason {
    /// The policy is `newest`.
    Newest,
    /// No `user:` or `credential:` pick matched; `newest` applied.
    NewestNoMatch,
    /// A `user:` pick matched.
    UserHandle,
    /// A `credential:` pick matched.
    CredentialId,
}

impl ChoiceReason {
    /// The name events use.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::NewestNoMatch => "newest-no-match",
            Self::UserHandle => "user-handle",
            Self::CredentialId => "credential-id",
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

/// `user:` and `credential:` values are written in URL-safe base64 without
/// padding, as WebAuthn's JSON writes user handles and credential IDs.
impl std::fmt::Display for AccountChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for pick in &self.picks {
            match pick {
                AccountPick::User(h) => write!(f, "user:{},", b64(h))?,
                AccountPick::Credential(id) => write!(f, "credential:{},", b64(id))?,
            }
        }
        f.write_str(self.otherwise.name())
    }
}

/// The longest user handle (WebAuthn §5.4.3) and credential ID (CTAP 2.1
/// §6.1) a pick may name.
const MAX_HANDLE: usize = 64;
const MAX_ID: usize = 1023;

impl std::str::FromStr for AccountChoice {
    type Err = String;

    /// `platform`, `newest`, `refuse`, or `user:HANDLE` / `credential:ID`
    /// rules, comma-separated, optionally ending in one of the first three.
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "give platform, newest, refuse, or user:HANDLE / credential:ID rules \
                     (base64), comma-separated, optionally ending in platform, newest or refuse";
        let items: Vec<&str> = s.split(',').map(str::trim).collect();
        let mut picks = Vec::new();
        let mut otherwise = None;
        for (i, item) in items.iter().enumerate() {
            let last = i + 1 == items.len();
            let rule = match *item {
                "platform" => Some(AccountRule::Platform),
                "newest" => Some(AccountRule::Newest),
                "refuse" => Some(AccountRule::Refuse),
                _ => None,
            };
            if let Some(rule) = rule {
                if !last {
                    return Err(format!(
                        "`{s}`: `{item}` must come last (rules after it would never apply); {usage}"
                    ));
                }
                otherwise = Some(rule);
                continue;
            }
            let (kind, value) = item
                .split_once(':')
                .ok_or_else(|| format!("`{s}`: `{item}` is not a rule; {usage}"))?;
            let bytes = unb64(value)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| format!("`{s}`: `{value}` in `{item}` is not base64; {usage}"))?;
            match kind {
                "user" if bytes.len() <= MAX_HANDLE => picks.push(AccountPick::User(bytes)),
                "user" => {
                    return Err(format!(
                        "`{s}`: a user handle has at most {MAX_HANDLE} bytes, `{value}` has {}",
                        bytes.len()
                    ))
                }
                "credential" if bytes.len() <= MAX_ID => {
                    picks.push(AccountPick::Credential(bytes));
                }
                "credential" => {
                    return Err(format!(
                        "`{s}`: a credential ID has at most {MAX_ID} bytes, `{value}` has {}",
                        bytes.len()
                    ))
                }
                _ => return Err(format!("`{s}`: `{kind}:` is not a rule; {usage}")),
            }
        }
        Ok(Self {
            picks,
            otherwise: otherwise.unwrap_or(AccountRule::Newest),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::keys::PrivateKey;
    use crate::store::User;

    fn cred(id: u8, user: &[u8]) -> Credential {
        Credential {
            id: vec![id; 16],
            rp_id: "example.com".into(),
            rp_id_hash: crate::crypto::sha256(b"example.com"),
            rp_name: None,
            user: User {
                id: user.to_vec(),
                ..User::default()
            },
            key: PrivateKey::from_bytes(crate::crypto::keys::Algorithm::Es256, &[id; 32]).unwrap(),
            discoverable: true,
            cred_protect: 0,
            cred_blob: None,
            created_order: u64::from(id),
        }
    }

    #[test]
    fn parses_and_prints_every_form() {
        for (text, printed) in [
            ("platform", "platform"),
            ("newest", "newest"),
            ("refuse", "refuse"),
            ("user:YWxpY2U", "user:YWxpY2U,newest"),
            ("user:YWxpY2U=,refuse", "user:YWxpY2U,refuse"),
            (
                "credential:+/8, user:Ym9i ,platform",
                "credential:-_8,user:Ym9i,platform",
            ),
        ] {
            let c: AccountChoice = text.parse().unwrap();
            assert_eq!(c.to_string(), printed, "{text}");
            assert_eq!(printed.parse::<AccountChoice>().unwrap(), c);
        }
        assert_eq!(AccountChoice::default().to_string(), "newest");
    }

    #[test]
    fn refuses_bad_policies_with_a_hint() {
        for bad in [
            "",
            "oldest",
            "newest,user:YQ",
            "platform,refuse",
            "user:",
            "user:!!",
            "name:YQ",
            &format!("user:{}", b64(&[1; 65])),
        ] {
            let e = bad.parse::<AccountChoice>().unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn decides_by_the_first_matching_pick_then_the_rule() {
        let candidates = [cred(3, b"carol"), cred(2, b"bob"), cred(1, b"alice")];
        let decide = |s: &str| s.parse::<AccountChoice>().unwrap().decide(&candidates);
        assert_eq!(decide("platform"), Decision::Platform);
        assert_eq!(decide("refuse"), Decision::Declined);
        assert_eq!(
            decide("newest"),
            Decision::Chosen {
                index: 0,
                reason: ChoiceReason::Newest
            }
        );
        assert_eq!(
            decide(&format!("user:{}", b64(b"bob"))),
            Decision::Chosen {
                index: 1,
                reason: ChoiceReason::UserHandle
            }
        );
        assert_eq!(
            decide(&format!(
                "user:{},credential:{}",
                b64(b"dave"),
                b64(&[1; 16])
            )),
            Decision::Chosen {
                index: 2,
                reason: ChoiceReason::CredentialId
            }
        );
        assert_eq!(
            decide(&format!("user:{}", b64(b"dave"))),
            Decision::Chosen {
                index: 0,
                reason: ChoiceReason::NewestNoMatch
            }
        );
        assert_eq!(
            decide(&format!("user:{},refuse", b64(b"dave"))),
            Decision::Declined
        );
        assert_eq!(
            decide(&format!("user:{},platform", b64(b"dave"))),
            Decision::Platform
        );
    }
}
