//! The RP's HTTP endpoints: requests with the session's cookies, and how
//! an answer is judged.

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
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

#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) authority: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) timeout: Duration,
}

/// Cookies carried from begin to complete.
#[derive(Default)]
pub(crate) struct Jar(BTreeMap<String, String>);

impl Http {
    pub(crate) fn new(cfg: &RpConfig) -> Result<Self, Error> {
        let url = url::Url::parse(&cfg.base_url).map_err(|e| {
            Error::Config(format!(
                "base_url `{}`: {e}; give an absolute URL like http://127.0.0.1:8000",
                cfg.base_url
            ))
        })?;
        if url.scheme() != "http" {
            return Err(Error::Config(format!(
                "base_url `{}`: only http:// is supported (run the RP, or a TLS-terminating proxy's backend, on plain http on loopback)",
                cfg.base_url
            )));
        }
        let host = url.host_str().unwrap_or("127.0.0.1");
        let port = url.port_or_known_default().unwrap_or(80);
        Ok(Self {
            authority: format!("{host}:{port}"),
            headers: cfg.headers.clone(),
            timeout: Duration::from_millis(cfg.timeout_ms),
        })
    }

    pub(crate) async fn call(
        &self,
        jar: &mut Jar,
        step: &Step,
        body: String,
    ) -> Result<(u16, String), Verdict> {
        let fut = async {
            let stream = tokio::net::TcpStream::connect(&self.authority)
                .await
                .map_err(|e| {
                    Verdict::Failed(format!(
                        "cannot connect to {}: {}",
                        self.authority,
                        fidosim_daemon::io_reason(&e)
                    ))
                })?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| Verdict::Failed(format!("HTTP: {e}")))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut req = hyper::Request::builder()
                .method(step.method.as_str())
                .uri(step.path.as_str())
                .header("host", self.authority.as_str())
                .header("content-type", "application/json");
            for (k, v) in &self.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if !jar.0.is_empty() {
                let cookie: Vec<String> = jar.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
                req = req.header("cookie", cookie.join("; "));
            }
            let req = req
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| Verdict::Failed(format!("HTTP request: {e}")))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| Verdict::Failed(format!("HTTP: {e}")))?;
            for c in resp.headers().get_all("set-cookie") {
                if let Some((k, v)) = c
                    .to_str()
                    .ok()
                    .and_then(|c| c.split(';').next())
                    .and_then(|kv| kv.split_once('='))
                {
                    jar.0.insert(k.trim().to_owned(), v.trim().to_owned());
                }
            }
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Verdict::Failed(format!("HTTP body: {e}")))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or(Err(Verdict::Timeout))
    }
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
