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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::default_flow;

    /// An https server on loopback that answers every request with the
    /// HTTP version it arrived in, offering h2 and http/1.1 through ALPN.
    async fn version_echo_server(dir: &std::path::Path) -> (u16, PathBuf) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
        #[allow(deprecated)]
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(|req: hyper::Request<_>| async move {
                        let body = format!("{:?}", req.version());
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(hyper::body::Bytes::from(body)),
                        ))
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        (port, ca)
    }

    fn config(port: u16) -> RpConfig {
        toml::from_str(&format!(
            "base_url = \"https://localhost:{port}\"\norigin = \"https://localhost\"\n"
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn https_uses_http2_when_the_server_offers_it() {
        let dir = std::env::temp_dir().join(format!("rp-check-h2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (port, ca) = version_echo_server(&dir).await;
        let step = default_flow("login").begin;

        // Trusted through --ca: the request goes over HTTP/2.
        let tls = Tls {
            ca: vec![ca.clone()],
            insecure: false,
        };
        let http = Http::new(&config(port), &tls).unwrap();
        let (status, body) = http
            .call(&mut Jar::default(), &step, "{}".into())
            .await
            .unwrap();
        assert_eq!((status, body.as_str()), (200, "HTTP/2.0"));

        // Not trusted: no answer, and the reason says what to do.
        let http = Http::new(&config(port), &Tls::default()).unwrap();
        let Err(Verdict::Failed(why)) = http.call(&mut Jar::default(), &step, "{}".into()).await
        else {
            panic!("an untrusted certificate was accepted");
        };
        assert!(why.contains("--ca"), "{why}");

        // --insecure: answered, over HTTP/2 too.
        let insecure = Tls {
            ca: Vec::new(),
            insecure: true,
        };
        let http = Http::new(&config(port), &insecure).unwrap();
        let (_, body) = http
            .call(&mut Jar::default(), &step, "{}".into())
            .await
            .unwrap();
        assert_eq!(body, "HTTP/2.0");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
