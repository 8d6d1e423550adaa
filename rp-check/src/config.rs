//! The RP under test, as its TOML description says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One HTTP call of a flow.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) method: String,
    pub(crate) path: String,
    /// The body; `{username}` and `{response}` (the response JSON) are
    /// replaced.
    pub(crate) body: String,
}

pub(crate) fn post() -> String {
    "POST".into()
}

/// Registration or authentication: begin, then complete.
#[derive(Debug, Clone)]
pub(crate) struct Flow {
    pub(crate) begin: Step,
    pub(crate) complete: Step,
    /// A JSON pointer to the options in the begin answer ("" for the whole
    /// body); a `{"publicKey": ...}` wrapper there is unwrapped.
    pub(crate) options: String,
}

/// A step as the file gives it: any field may be left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepPatch {
    method: Option<String>,
    path: Option<String>,
    body: Option<String>,
}

/// A flow as the file gives it: any table or field may be left out, and
/// the defaults of its kind fill the rest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowPatch {
    begin: Option<StepPatch>,
    complete: Option<StepPatch>,
    options: Option<String>,
}

impl StepPatch {
    fn over(self, d: Step) -> Step {
        Step {
            method: self.method.unwrap_or(d.method),
            path: self.path.unwrap_or(d.path),
            body: self.body.unwrap_or(d.body),
        }
    }
}

impl FlowPatch {
    fn over(self, d: Flow) -> Flow {
        Flow {
            begin: self.begin.unwrap_or_default().over(d.begin),
            complete: self.complete.unwrap_or_default().over(d.complete),
            options: self.options.unwrap_or(d.options),
        }
    }
}

pub(crate) fn public_key() -> String {
    "/publicKey".into()
}

pub(crate) fn default_flow(kind: &str) -> Flow {
    Flow {
        begin: Step {
            method: post(),
            path: format!("/auth/passkey/{kind}/begin"),
            body: r#"{"username": "{username}"}"#.into(),
        },
        complete: Step {
            method: post(),
            path: format!("/auth/passkey/{kind}/complete"),
            body: "{response}".into(),
        },
        options: public_key(),
    }
}

/// The RP under test.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "RpFile")]
pub(crate) struct RpConfig {
    /// `http://HOST:PORT` of the RP's API.
    pub(crate) base_url: String,
    /// The origin a browser on the RP's page would report.
    pub(crate) origin: String,
    pub(crate) register: Flow,
    pub(crate) login: Flow,
    /// Extra request headers.
    pub(crate) headers: BTreeMap<String, String>,
    /// Whether the RP demands trusted attestation (then self and none
    /// attestation must be refused).
    pub(crate) requires_trusted_attestation: bool,
    /// Milliseconds an RP answer may take.
    pub(crate) timeout_ms: u64,
    /// How long the RP keeps an issued challenge, in milliseconds: the
    /// `challenge-expired` cases complete a ceremony after that long, and
    /// are skipped when it is not given.
    pub(crate) challenge_ttl_ms: Option<u64>,
    /// The fidosim state file whose attestation CA the RP trusts
    /// (`fidosim run --state PATH --write-ca ca.pem`): the baseline is
    /// attested with its identity, and the attestation lab's certificates
    /// are issued by its CA.
    pub(crate) attestation_state: Option<PathBuf>,
    /// The RP's trusted attestation roots (PEM files), when the config
    /// lists them: the CA of `attestation_state` must be one of them.
    pub(crate) trusted_roots: Vec<PathBuf>,
}

impl RpConfig {
    /// Makes the file paths relative to `dir` (the config file's
    /// directory) unless they are absolute.
    pub(crate) fn resolve_paths(&mut self, dir: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        if let Some(p) = self.attestation_state.as_mut() {
            resolve(p);
        }
        self.trusted_roots.iter_mut().for_each(resolve);
    }
}

/// The file: [`RpConfig`] with every flow table optional and partial.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RpFile {
    base_url: String,
    origin: String,
    #[serde(default)]
    register: FlowPatch,
    #[serde(default)]
    login: FlowPatch,
    /// Extra request headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Whether the RP demands trusted attestation (then self and none
    /// attestation must be refused).
    #[serde(default)]
    requires_trusted_attestation: bool,
    /// Milliseconds an RP answer may take.
    #[serde(default = "timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    challenge_ttl_ms: Option<u64>,
    #[serde(default)]
    attestation_state: Option<PathBuf>,
    #[serde(default)]
    trusted_roots: Vec<PathBuf>,
}

impl From<RpFile> for RpConfig {
    fn from(f: RpFile) -> Self {
        Self {
            base_url: f.base_url,
            origin: f.origin,
            register: f.register.over(default_flow("register")),
            login: f.login.over(default_flow("login")),
            headers: f.headers,
            requires_trusted_attestation: f.requires_trusted_attestation,
            timeout_ms: f.timeout_ms,
            challenge_ttl_ms: f.challenge_ttl_ms,
            attestation_state: f.attestation_state,
            trusted_roots: f.trusted_roots,
        }
    }
}

pub(crate) fn timeout_ms() -> u64 {
    10_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<RpConfig, toml::de::Error> {
        toml::from_str(&format!(
            "base_url = \"http://127.0.0.1:8000\"\norigin = \"https://example.com\"\n{extra}"
        ))
    }

    #[test]
    fn partial_tables_keep_the_defaults_of_the_rest() {
        let c = parse("[register]\noptions = \"\"\n[login.complete]\npath = \"/done\"\n")
            .expect("partial tables");
        assert_eq!(c.register.options, "");
        assert_eq!(c.register.begin.path, "/auth/passkey/register/begin");
        assert_eq!(c.register.complete.body, "{response}");
        assert_eq!(c.login.complete.path, "/done");
        assert_eq!(c.login.complete.method, "POST");
        assert_eq!(c.login.begin.path, "/auth/passkey/login/begin");
        assert_eq!(c.login.options, "/publicKey");
        assert_eq!(c.timeout_ms, 10_000);
        let all_defaults = parse("").expect("no tables");
        assert_eq!(
            all_defaults.login.begin.body,
            r#"{"username": "{username}"}"#
        );
    }

    #[test]
    fn attestation_paths_are_relative_to_the_config_file() {
        let mut c = parse(
            "requires_trusted_attestation = true\nattestation_state = \"key.fidosim\"\n\
             trusted_roots = [\"ca.pem\", \"/etc/rp/other.pem\"]\n",
        )
        .expect("attestation keys");
        c.resolve_paths(Path::new("/srv/rp"));
        assert_eq!(
            c.attestation_state.as_deref(),
            Some(Path::new("/srv/rp/key.fidosim"))
        );
        assert_eq!(
            c.trusted_roots,
            [
                PathBuf::from("/srv/rp/ca.pem"),
                PathBuf::from("/etc/rp/other.pem")
            ]
        );
        let none = parse("").expect("no attestation keys");
        assert!(none.attestation_state.is_none() && none.trusted_roots.is_empty());
    }

    #[test]
    fn unknown_keys_are_still_refused() {
        let e = parse("[register.begin]\npth = \"/x\"\n").expect_err("a typo");
        assert!(e.to_string().contains("pth"), "{e}");
        assert!(parse("[login]\noption = \"\"\n").is_err());
        assert!(parse("nonsense = 1\n").is_err());
    }
}
