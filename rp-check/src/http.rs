//! The RP's HTTP endpoints: requests with the session's cookies, and how
//! an answer is judged.
//!
//! Requests go through reqwest: http and https (rustls with the ring
//! provider; the system's roots, plus `--ca` roots, or none checked with
//! `--insecure`), HTTP/2 where the server offers it through ALPN, HTTP/1.1
//! otherwise. Each ceremony keeps its own cookie store (cookie_store: the
//! RFC 6265 rules for domain, path, expiry and `Secure`), so a session is
//! exactly the cookies its begin answer set.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::config::{Flow, RpConfig, Step};
use crate::Error;

/// How an RP answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accepted(u16),
    Rejected(u16),
    ServerError(u16),
    Timeout,
    Failed(String),
}

impl Verdict {
    pub(crate) fn show(&self) -> String {
        match self {
            Self::Accepted(s) => format!("accepted ({s})"),
            Self::Rejected(s) => format!("rejected ({s})"),
            Self::ServerError(s) => format!("server error ({s})"),
            Self::Timeout => "no answer (timeout)".into(),
            Self::Failed(m) => format!("error: {m}"),
        }
    }
}

/// How rp-check trusts an https RP.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tls {
    /// PEM files of roots to trust besides the system's (`--ca`).
    pub(crate) ca: Vec<PathBuf>,
    /// Accept any certificate (`--insecure`).
    pub(crate) insecure: bool,
}

#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: url::Url,
    pub(crate) headers: BTreeMap<String, String>,
}

/// The cookies of one session, carried from begin to complete.
#[derive(Default)]
pub(crate) struct Jar(cookie_store::CookieStore);

impl Http {
    pub(crate) fn new(cfg: &RpConfig, tls: &Tls) -> Result<Self, Error> {
        let base = url::Url::parse(&cfg.base_url).map_err(|e| {
            Error::Config(format!(
                "base_url `{}`: {e}; give an absolute URL like http://127.0.0.1:8000 or https://rp.example",
                cfg.base_url
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "base_url `{}`: the scheme must be http or https",
                cfg.base_url
            )));
        }
        // reqwest is built without a default crypto provider, so it does
        // not build aws-lc (a large C library) for an audit tool's https.
        // rustls marks its ring provider deprecated because it offers no
        // post-quantum key exchange, which an audit of a test RP does not
        // need (docs/decisions.md). Installing it twice is harmless.
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let _ = provider.install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_millis(cfg.timeout_ms));
        let mut roots = Vec::new();
        for file in &tls.ca {
            let pem = std::fs::read(file).map_err(|e| {
                Error::Config(format!(
                    "cannot read --ca {}: {}; give a PEM file of the CA that signed the RP's certificate",
                    file.display(),
                    fidosim_daemon::io_reason(&e)
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Config(format!(
                    "--ca {}: {e}; give a PEM file of certificates (-----BEGIN CERTIFICATE-----)",
                    file.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "--ca {}: no certificate in it; give a PEM file of certificates",
                    file.display()
                )));
            }
            roots.extend(certs);
        }
        if !roots.is_empty() {
            builder = builder.tls_certs_merge(roots);
        }
        if tls.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base,
            headers: cfg.headers.clone(),
        })
    }

    pub(crate) async fn call(
        &self,
        jar: &mut Jar,
        step: &Step,
        body: String,
    ) -> Result<(u16, String), Verdict> {
        let url = self
            .base
            .join(&step.path)
            .map_err(|e| Verdict::Failed(format!("path `{}`: {e}", step.path)))?;
        let method = reqwest::Method::from_bytes(step.method.as_bytes())
            .map_err(|e| Verdict::Failed(format!("method `{}`: {e}", step.method)))?;
        let mut req = self
            .client
            .request(method, url.clone())
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let cookies: Vec<String> = jar
            .0
            .get_request_values(&url)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !cookies.is_empty() {
            req = req.header("cookie", cookies.join("; "));
        }
        let resp = req.send().await.map_err(|e| failure(&e, &url))?;
        for c in resp.headers().get_all("set-cookie") {
            if let Ok(c) = c.to_str() {
                // A cookie the store refuses (another domain, a bad
                // attribute) is not sent back, as a browser would not.
                let _ = jar.0.parse(c, &url);
            }
        }
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| failure(&e, &url))?;
        Ok((status, text))
    }
}

/// The verdict for a request that got no answer.
fn failure(e: &reqwest::Error, url: &url::Url) -> Verdict {
    if e.is_timeout() {
        return Verdict::Timeout;
    }
    // The chain of causes says what went wrong (refused, certificate…).
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    let hint = if why.contains("certificate") || why.contains("UnknownIssuer") {
        "; trust the RP's CA with --ca FILE (or skip verification with --insecure)"
    } else {
        ""
    };
    Verdict::Failed(format!("{url}: {why}{hint}"))
}

impl Http {
    /// The begin request of `flow`: the options JSON in its answer.
    pub(crate) async fn begin(
        &self,
        jar: &mut Jar,
        flow: &Flow,
        what: &str,
        username: &str,
    ) -> Result<String, String> {
        let (status, body) = self
            .call(jar, &flow.begin, fill(&flow.begin.body, username, None))
            .await
            .map_err(|v| format!("{what} begin: {}", v.show()))?;
        if !(200..300).contains(&status) {
            return Err(format!("{what} begin answered {status}: {body}"));
        }
        options_at(&body, &flow.options)
    }

    /// The complete request of `flow` with `response`: the RP's verdict.
    pub(crate) async fn complete(
        &self,
        jar: &mut Jar,
        flow: &Flow,
        username: &str,
        response: &Value,
    ) -> Verdict {
        match self
            .call(
                jar,
                &flow.complete,
                fill(&flow.complete.body, username, Some(response)),
            )
            .await
        {
            Ok((status, _)) => verdict(status),
            Err(v) => v,
        }
    }
}

pub(crate) fn fill(template: &str, username: &str, response: Option<&Value>) -> String {
    let mut s = template.replace("{username}", username);
    if let Some(r) = response {
        s = s.replace("{response}", &r.to_string());
    }
    s
}

pub(crate) fn options_at(body: &str, pointer: &str) -> Result<String, String> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| format!("the begin answer is not JSON: {e}"))?;
    let o = if pointer.is_empty() {
        Some(&v)
    } else {
        v.pointer(pointer)
    };
    o.map(Value::to_string)
        .ok_or_else(|| format!("the begin answer has nothing at `{pointer}`: {body}"))
}

pub(crate) fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Accepted(status),
        500..=599 => Verdict::ServerError(status),
        s => Verdict::Rejected(s),
    }
}
