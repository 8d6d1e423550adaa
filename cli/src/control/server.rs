//! The control API: HTTP/JSON on a Unix socket (and optionally on loopback
//! TCP), served by the daemon next to its devices. docs/openapi.json
//! describes every endpoint; docs/control-api.md shows how to use them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use authenticator_core::config::{CounterMode, CounterOverflow};
use authenticator_core::env::UvPolicy;
use authenticator_core::{Authenticator, CredentialStore, Env};
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use uhid_device::device::Control;
use uhid_device::presence::{DaemonEnv, PresenceMode, Shared};

use super::creds::{self, CredError, CredentialJson};
use crate::config::{device_from_table, RunConfig, TransportConfig};

/// How long an operation may wait for a device that is busy (for example
/// waiting for a touch) before the API answers 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the API knows of a running device.
#[derive(Clone)]
pub(crate) struct DeviceHandle {
    pub(crate) name: String,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    pub(crate) shared: Arc<Shared>,
    /// Fixed facts for `status`: transport, USB identity, state file.
    pub(crate) info: Value,
    /// The settings it was started with (clones start from them).
    pub(crate) run: RunConfig,
    /// The task running it.
    pub(crate) task: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>>,
}

impl DeviceHandle {
    /// Unplugs the device and waits for it to stop.
    pub(crate) async fn stop(&self) {
        let _ = self.control.send(Control::Shutdown);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!(device = %self.name, "the device did not stop within 5 s");
            }
        }
    }

    fn finished(&self) -> bool {
        self.task
            .lock()
            .map(|t| t.as_ref().is_some_and(tokio::task::JoinHandle::is_finished))
            .unwrap_or(false)
    }
}

/// The devices of this daemon.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    devices: Arc<std::sync::RwLock<BTreeMap<String, DeviceHandle>>>,
}

impl Registry {
    pub(crate) fn add(&self, d: DeviceHandle) {
        if let Ok(mut m) = self.devices.write() {
            m.insert(d.name.clone(), d);
        }
    }

    fn remove(&self, name: &str) -> Option<DeviceHandle> {
        self.devices.write().ok().and_then(|mut m| m.remove(name))
    }

    fn contains(&self, name: &str) -> bool {
        self.devices
            .read()
            .map(|m| m.contains_key(name))
            .unwrap_or(false)
    }

    /// Resolves when the last device has stopped because of an error (a
    /// transport failure), with that error; devices that fail while others
    /// run are dropped from the registry and logged.
    pub(crate) async fn all_stopped(&self) -> std::io::Result<()> {
        let mut last_error = None;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for d in self.all() {
                if !d.finished() {
                    continue;
                }
                self.remove(&d.name);
                let task = d.task.lock().ok().and_then(|mut t| t.take());
                if let Some(Ok(Err(e))) = match task {
                    Some(t) => Some(t.await),
                    None => None,
                } {
                    last_error = Some(e);
                }
            }
            if self.all().is_empty() {
                if let Some(e) = last_error.take() {
                    return Err(e);
                }
            }
        }
    }

    /// Unplugs every device.
    pub(crate) async fn shutdown_all(&self) {
        for d in self.all() {
            d.stop().await;
        }
    }

    fn get(&self, name: &str) -> Result<DeviceHandle, ApiError> {
        self.devices
            .read()
            .ok()
            .and_then(|m| m.get(name).cloned())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no device named `{name}`; `fidosim devices list` shows the running ones"
                    ),
                )
            })
    }

    pub(crate) fn all(&self) -> Vec<DeviceHandle> {
        self.devices
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// An error answer: `{"error": message}` with a status.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<CredError> for ApiError {
    fn from(e: CredError) -> Self {
        let status = match e {
            CredError::Invalid(_) => StatusCode::BAD_REQUEST,
            CredError::NotFound(_) => StatusCode::NOT_FOUND,
            CredError::Conflict(_) => StatusCode::CONFLICT,
            CredError::Full => StatusCode::INSUFFICIENT_STORAGE,
            CredError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::bad(format!(
            "the request body is not the JSON expected: {}",
            e.body_text()
        ))
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(v: Value) -> ApiResult {
    Ok(Json(v).into_response())
}

/// Runs `f` on the device's authenticator, between CTAP requests.
async fn exec<T: Send + 'static>(
    d: &DeviceHandle,
    f: impl FnOnce(&mut Authenticator<DaemonEnv>) -> T + Send + 'static,
) -> Result<T, ApiError> {
    exec_within(d, BUSY_TIMEOUT, f).await
}

async fn exec_within<T: Send + 'static>(
    d: &DeviceHandle,
    limit: Duration,
    f: impl FnOnce(&mut Authenticator<DaemonEnv>) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    d.control
        .send(Control::Exec(Box::new(move |a| {
            let _ = tx.send(f(a));
        })))
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, stopped(&d.name)))?;
    match tokio::time::timeout(limit, rx).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the operation failed inside the device (see the daemon's log)",
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "device `{}` is busy with a request (waiting for a touch?): touch it, or let the client cancel, and try again",
                d.name
            ),
        )),
    }
}

/// The answer about a device whose task has ended.
fn stopped(name: &str) -> String {
    format!(
        "device `{name}` has stopped (the daemon's log says why); `fidosim devices remove --device {name}` takes it out"
    )
}

async fn status_of(d: &DeviceHandle) -> Result<Value, ApiError> {
    let (presence, uv) = d.shared.policy();
    // A device busy with a request (waiting for a touch, say) still reports
    // its policy at once; the counts are then null.
    let counts = exec_within(d, Duration::from_millis(300), |a| {
        let mode = a.config().counter_mode;
        let overflow = a.config().counter_overflow;
        let store = a.env().store_ref();
        let stored = store.all_stored().map(|v| v.len()).unwrap_or(0);
        let disc = store.count_discoverable().unwrap_or(0);
        let pin = store
            .device_state()
            .map(|s| s.pin_hash.is_some())
            .unwrap_or(false);
        (
            Some(stored),
            Some(disc),
            Some(pin),
            Some(mode.to_string()),
            Some(overflow.name()),
        )
    })
    .await;
    let (stored, discoverable, pin_set, mode, overflow) = match counts {
        Ok(c) => c,
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => (None, None, None, None, None),
        Err(e) => return Err(e),
    };
    let mut v = d.info.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("name".into(), json!(d.name));
        o.insert("presence".into(), json!(presence.to_string()));
        o.insert("uv".into(), json!(uv.name()));
        o.insert(
            "waitingForUser".into(),
            json!(d
                .shared
                .waiting_for_user
                .load(std::sync::atomic::Ordering::SeqCst)),
        );
        o.insert("storedCredentials".into(), json!(stored));
        o.insert("discoverableCredentials".into(), json!(discoverable));
        o.insert("pinSet".into(), json!(pin_set));
        o.insert("counterMode".into(), json!(mode));
        o.insert("counterOverflow".into(), json!(overflow));
    }
    Ok(v)
}

async fn list_devices(State(r): State<Registry>) -> ApiResult {
    let mut out = Vec::new();
    for d in r.all() {
        out.push(status_of(&d).await?);
    }
    ok(json!(out))
}

async fn device_status(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    ok(status_of(&r.get(&name)?).await?)
}

async fn replug(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    let d = r.get(&name)?;
    d.control
        .send(Control::Replug)
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, stopped(&name)))?;
    ok(json!({ "replugged": name }))
}

async fn reset(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    let d = r.get(&name)?;
    exec(&d, |a| a.wipe()).await?.map_err(|s| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the reset of `{name}` failed ({s:?}); see the daemon's log (is its state file's disk full?)"
            ),
        )
    })?;
    ok(json!({ "reset": name }))
}

fn credential_id(id: &str) -> Result<Vec<u8>, ApiError> {
    creds::unb64("credential id", id).map_err(ApiError::from)
}

async fn list_credentials(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    let d = r.get(&name)?;
    let list = exec(&d, move |a| -> Result<Vec<CredentialJson>, CredError> {
        let config = a.config().clone();
        let store = a.env().store_ref();
        store
            .all_stored()?
            .iter()
            .map(|c| creds::to_json(c, &config, &**store))
            .collect()
    })
    .await??;
    ok(json!(list))
}

async fn show_credential(
    State(r): State<Registry>,
    UrlPath((name, id)): UrlPath<(String, String)>,
) -> ApiResult {
    let d = r.get(&name)?;
    let id = credential_id(&id)?;
    let one = exec(&d, move |a| -> Result<CredentialJson, CredError> {
        let config = a.config().clone();
        let store = a.env().store_ref();
        let c = store.get(&id)?.ok_or_else(|| not_found(&id))?;
        creds::to_json(&c, &config, &**store)
    })
    .await??;
    ok(json!(one))
}

fn not_found(id: &[u8]) -> CredError {
    CredError::NotFound(format!(
        "no stored credential {}; `fidosim credentials list` shows them",
        creds::b64(id)
    ))
}

/// One credential object, or an array of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Box<CredentialJson>),
    Many(Vec<CredentialJson>),
}

async fn add_credentials(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let d = r.get(&name)?;
    let Json(body) = body?;
    let list = match serde_json::from_value::<OneOrMany>(body) {
        Ok(OneOrMany::One(c)) => vec![*c],
        Ok(OneOrMany::Many(v)) => v,
        Err(e) => {
            return Err(ApiError::bad(format!(
                "expected a credential object (or an array of them) with credentialId, isResidentCredential, rpId, privateKey, …: {e}"
            )))
        }
    };
    let ids = exec(&d, move |a| -> Result<Vec<String>, CredError> {
        let config = a.config().clone();
        // Everything is checked before anything is stored.
        let now = a.env().now_ms();
        let ids = creds::import_all(&mut **a.env_mut().store(), &config, &list, now, &mut |_| {})?;
        a.clear_cursors();
        Ok(ids.iter().map(|id| creds::b64(id)).collect::<Vec<_>>())
    })
    .await??;
    for id in &ids {
        d.shared
            .emit("credential.imported", json!({ "credentialId": id }));
    }
    Ok((StatusCode::CREATED, Json(json!({ "imported": ids }))).into_response())
}

async fn delete_credential(
    State(r): State<Registry>,
    UrlPath((name, id)): UrlPath<(String, String)>,
) -> ApiResult {
    let d = r.get(&name)?;
    let id = credential_id(&id)?;
    let shown = creds::b64(&id);
    exec(&d, move |a| -> Result<(), CredError> {
        let store = a.env_mut().store();
        let c = store.get(&id)?.ok_or_else(|| not_found(&id))?;
        store.delete(&c.id)?;
        a.clear_cursors();
        Ok(())
    })
    .await??;
    d.shared.emit(
        "credential.deleted",
        json!({ "credentialId": shown, "by": "control" }),
    );
    ok(json!({ "deleted": shown }))
}

async fn clear_credentials(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    let d = r.get(&name)?;
    let n = exec(&d, move |a| -> Result<usize, CredError> {
        let store = a.env_mut().store();
        let all = store.all_stored()?;
        for c in &all {
            store.delete(&c.id)?;
        }
        a.clear_cursors();
        Ok(all.len())
    })
    .await??;
    d.shared.emit("credentials.cleared", json!({ "count": n }));
    ok(json!({ "deleted": n }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CounterBody {
    sign_count: u32,
}

async fn set_counter(
    State(r): State<Registry>,
    UrlPath((name, id)): UrlPath<(String, String)>,
    body: Result<Json<CounterBody>, JsonRejection>,
) -> ApiResult {
    let d = r.get(&name)?;
    let Json(body) = body?;
    let id = credential_id(&id)?;
    let shown = creds::b64(&id);
    let value = body.sign_count;
    exec(&d, move |a| -> Result<(), CredError> {
        let config = a.config().clone();
        if config.counter_mode == CounterMode::AlwaysZero {
            return Err(CredError::Conflict(
                "this device's counters are always zero (counter mode zero); there is nothing to set"
                    .into(),
            ));
        }
        let store = a.env_mut().store();
        store.get(&id)?.ok_or_else(|| not_found(&id))?;
        store.set_counter(creds::counter_scope(&config, &id), value)?;
        Ok(())
    })
    .await??;
    d.shared.emit(
        "counter.set",
        json!({ "credentialId": shown, "signCount": value }),
    );
    ok(json!({ "credentialId": shown, "signCount": value }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CounterModeBody {
    mode: Option<String>,
    overflow: Option<String>,
}

async fn set_counter_mode(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<CounterModeBody>, JsonRejection>,
) -> ApiResult {
    let d = r.get(&name)?;
    let Json(body) = body?;
    if body.mode.is_none() && body.overflow.is_none() {
        return Err(ApiError::bad("give `mode`, `overflow` or both"));
    }
    let mode = body
        .mode
        .as_deref()
        .map(|m| {
            m.parse::<CounterMode>()
                .map_err(|e| ApiError::bad(format!("mode: {e}")))
        })
        .transpose()?;
    let overflow = body
        .overflow
        .as_deref()
        .map(|o| {
            o.parse::<CounterOverflow>()
                .map_err(|e| ApiError::bad(format!("overflow: {e}")))
        })
        .transpose()?;
    let (mode, overflow) = exec(&d, move |a| {
        let mut config = a.config().clone();
        if let Some(m) = mode {
            config.counter_mode = m;
        }
        if let Some(o) = overflow {
            config.counter_overflow = o;
        }
        let out = (config.counter_mode, config.counter_overflow);
        a.set_config(config).map(|()| out)
    })
    .await?
    .map_err(|e| ApiError::bad(e.to_string()))?;
    let v = json!({ "mode": mode.to_string(), "overflow": overflow.name() });
    d.shared.emit("counter.mode", v.clone());
    ok(v)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PresenceBody {
    presence: Option<String>,
    uv: Option<String>,
}

async fn set_presence(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<PresenceBody>, JsonRejection>,
) -> ApiResult {
    let d = r.get(&name)?;
    let Json(body) = body?;
    if body.presence.is_none() && body.uv.is_none() {
        return Err(ApiError::bad("give `presence`, `uv` or both"));
    }
    let presence = body
        .presence
        .as_deref()
        .map(|p| {
            p.parse::<PresenceMode>()
                .map_err(|e| ApiError::bad(format!("presence: {e}")))
        })
        .transpose()?;
    let uv = body
        .uv
        .as_deref()
        .map(|u| {
            u.parse::<UvPolicy>()
                .map_err(|e| ApiError::bad(format!("uv: {e}")))
        })
        .transpose()?;
    if let Some(p) = presence {
        d.shared.set_presence(p);
    }
    if let Some(u) = uv {
        d.shared.set_uv(u);
    }
    let (p, u) = d.shared.policy();
    ok(json!({ "presence": p.to_string(), "uv": u.name() }))
}

async fn touch(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    let d = r.get(&name)?;
    if d.shared.touch() {
        d.shared.emit("presence.touched", json!({}));
        ok(json!({ "touched": true }))
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "no request is waiting for a touch (presence mode `manual` makes requests wait)",
        ))
    }
}

#[derive(Deserialize)]
struct EventsQuery {
    device: Option<String>,
}

async fn events(State(r): State<Registry>, Query(q): Query<EventsQuery>) -> ApiResult {
    let devices = match q.device {
        Some(n) => vec![r.get(&n)?],
        None => r.all(),
    };
    let (tx, rx) = mpsc::channel::<Arc<Value>>(1024);
    for d in devices {
        let mut sub = d.shared.subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match sub.recv().await {
                    Ok(e) => {
                        if tx.send(e).await.is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        let e = Arc::new(json!({ "type": "events.lost", "count": n }));
                        if tx.send(e).await.is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }
    drop(tx);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let e = rx.recv().await?;
        let mut line = e.to_string();
        line.push('\n');
        Some((Ok::<_, std::convert::Infallible>(line), rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// JSON settings (`fidosim run` flags without dashes) as a TOML table, to
/// be parsed like a config file's device table.
fn settings_table(v: &Value) -> Result<toml::Table, ApiError> {
    let Some(obj) = v.as_object() else {
        return Err(ApiError::bad(
            "settings: an object of `fidosim run` flags without dashes",
        ));
    };
    let mut t = toml::Table::new();
    for (k, v) in obj {
        let tv = match v {
            Value::String(s) => toml::Value::String(s.clone()),
            Value::Bool(b) => toml::Value::Boolean(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => toml::Value::Integer(i),
                None => return Err(ApiError::bad(format!("settings.{k}: an integer"))),
            },
            Value::Array(items) => toml::Value::Array(
                items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(|s| toml::Value::String(s.to_owned()))
                            .ok_or_else(|| {
                                ApiError::bad(format!("settings.{k}: a list of strings"))
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                return Err(ApiError::bad(format!(
                    "settings.{k}: a string, integer, boolean or list of strings"
                )))
            }
        };
        t.insert(k.clone(), tv);
    }
    Ok(t)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddDevice {
    name: String,
    #[serde(default)]
    settings: Option<Value>,
}

async fn start(r: &Registry, config: RunConfig) -> Result<DeviceHandle, ApiError> {
    if r.contains(&config.name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "a device named `{0}` is running already; choose another name, or `fidosim devices remove --device {0}` first",
                config.name
            ),
        ));
    }
    let handle = crate::run::start_device(config)
        .await
        .map_err(|e| ApiError::bad(format!("the device could not start: {e}")))?;
    r.add(handle.clone());
    Ok(handle)
}

async fn add_device(
    State(r): State<Registry>,
    body: Result<Json<AddDevice>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let table = settings_table(&body.settings.unwrap_or_else(|| json!({})))?;
    let config = device_from_table(&body.name, &table).map_err(|e| ApiError::bad(e.0))?;
    let d = start(&r, config).await?;
    Ok((StatusCode::CREATED, Json(status_of(&d).await?)).into_response())
}

async fn remove_device(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    let d = r.get(&name)?;
    r.remove(&name);
    d.stop().await;
    ok(json!({ "removed": name }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CloneBody {
    name: String,
    /// Credential IDs to copy; all stored credentials when absent.
    #[serde(default)]
    credentials: Option<Vec<String>>,
    /// Added to each copied counter (negative: the clone lags behind).
    #[serde(default)]
    counter_offset: i64,
    /// A state file for the clone; in memory when absent.
    #[serde(default)]
    state: Option<String>,
    /// The clone's UDP address when the original uses UDP (default: a free
    /// loopback port).
    #[serde(default)]
    udp_listen: Option<String>,
}

async fn clone_device(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<CloneBody>, JsonRejection>,
) -> ApiResult {
    let src = r.get(&name)?;
    let Json(body) = body?;
    crate::config::check_device_name(&body.name).map_err(|e| ApiError::bad(e.0))?;
    let wanted = body
        .credentials
        .as_ref()
        .map(|ids| {
            ids.iter()
                .map(|i| creds::unb64("credentials", i))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let exported = exec(&src, move |a| -> Result<Vec<CredentialJson>, CredError> {
        let config = a.config().clone();
        let store = a.env().store_ref();
        let all = store.all_stored()?;
        if let Some(ids) = &wanted {
            if let Some(missing) = ids.iter().find(|id| !all.iter().any(|c| &c.id == *id)) {
                return Err(not_found(missing));
            }
        }
        all.iter()
            .filter(|c| wanted.as_ref().is_none_or(|ids| ids.contains(&c.id)))
            .map(|c| creds::to_json(c, &config, &**store))
            .collect()
    })
    .await??;
    let mut run = src.run.clone();
    run.name = body.name.clone();
    run.state = body.state.map(std::path::PathBuf::from);
    run.write_ca = None;
    if let TransportConfig::Udp { listen, .. } = &mut run.transport {
        *listen = match body.udp_listen {
            Some(a) => a
                .parse()
                .map_err(|_| ApiError::bad(format!("udpListen: `{a}` is not HOST:PORT")))?,
            None => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        };
    }
    let offset = body.counter_offset;
    let copies: Vec<CredentialJson> = exported
        .into_iter()
        .map(|mut c| {
            let n = i64::from(c.sign_count).saturating_add(offset);
            c.sign_count = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
            c
        })
        .collect();
    let n = copies.len();
    let clone = start(&r, run).await?;
    let imported = exec(&clone, move |a| -> Result<(), CredError> {
        let config = a.config().clone();
        let now = a.env().now_ms();
        creds::import_all(
            &mut **a.env_mut().store(),
            &config,
            &copies,
            now,
            &mut |_| {},
        )
        .map(|_| ())
    })
    .await
    .and_then(|r| r.map_err(ApiError::from));
    if let Err(e) = imported {
        r.remove(&clone.name);
        clone.stop().await;
        return Err(e);
    }
    clone.shared.emit(
        "device.cloned",
        json!({ "from": name, "credentials": n, "counterOffset": offset }),
    );
    Ok((StatusCode::CREATED, Json(status_of(&clone).await?)).into_response())
}

async fn list_faults(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    let list = r.get(&name)?.shared.faults.list();
    ok(json!(list
        .iter()
        .map(uhid_device::faults::Fault::to_json)
        .collect::<Vec<_>>()))
}

async fn add_fault(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let d = r.get(&name)?;
    let Json(body) = body?;
    let spec = uhid_device::faults::FaultSpec::from_json(&body).map_err(ApiError::bad)?;
    let f = d.shared.faults.add(spec).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "device `{name}` already holds {} faults; remove some first",
                uhid_device::faults::MAX_FAULTS
            ),
        )
    })?;
    Ok((StatusCode::CREATED, Json(f.to_json())).into_response())
}

async fn remove_fault(
    State(r): State<Registry>,
    UrlPath((name, id)): UrlPath<(String, String)>,
) -> ApiResult {
    let d = r.get(&name)?;
    let n: u64 = id.parse().map_err(|_| {
        ApiError::bad(format!(
            "fault id `{id}` is not a number; `fidosim faults list` shows the ids"
        ))
    })?;
    if !d.shared.faults.remove(n) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no pending fault {n} on `{name}` (one-shot faults go once they fire); `fidosim faults list` shows them"),
        ));
    }
    ok(json!({ "removed": n }))
}

async fn clear_faults(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    ok(json!({ "removed": r.get(&name)?.shared.faults.clear() }))
}

async fn not_found_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; docs/openapi.json lists them",
    )
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::OPENAPI).into_response()
}

/// The API's routes.
pub(crate) fn router(registry: Registry) -> Router {
    Router::new()
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/devices", get(list_devices).post(add_device))
        .route(
            "/v1/devices/{device}",
            get(device_status).delete(remove_device),
        )
        .route("/v1/devices/{device}/clone", post(clone_device))
        .route("/v1/devices/{device}/replug", post(replug))
        .route("/v1/devices/{device}/reset", post(reset))
        .route("/v1/devices/{device}/presence", put(set_presence))
        .route("/v1/devices/{device}/counter-mode", put(set_counter_mode))
        .route("/v1/devices/{device}/touch", post(touch))
        .route(
            "/v1/devices/{device}/credentials",
            get(list_credentials)
                .post(add_credentials)
                .delete(clear_credentials),
        )
        .route(
            "/v1/devices/{device}/credentials/{id}",
            get(show_credential).delete(delete_credential),
        )
        .route(
            "/v1/devices/{device}/credentials/{id}/counter",
            put(set_counter),
        )
        .route(
            "/v1/devices/{device}/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/v1/devices/{device}/faults/{fault}",
            axum::routing::delete(remove_fault),
        )
        .route("/v1/events", get(events))
        .fallback(not_found_route)
        .with_state(registry)
}

/// The default control socket: `$XDG_RUNTIME_DIR/fidosim/control.sock`,
/// else `/tmp/fidosim-UID/control.sock`.
pub(crate) fn default_socket() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("fidosim/control.sock"),
        None => std::env::temp_dir()
            .join(format!("fidosim-{}", current_uid()))
            .join("control.sock"),
    }
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

/// Binds the Unix socket (directory 0700, socket 0600). A stale socket of a
/// daemon that is gone is replaced; a live one is an error.
pub(crate) fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    format!(
                        "cannot create {}: {}; choose --control-socket PATH",
                        dir.display(),
                        crate::run::io_reason(&e)
                    )
                })?;
        }
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "another fidosim daemon answers on {}; stop it, or give this one --control-socket PATH",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| {
                format!(
                    "cannot remove the stale socket {}: {}; remove it by hand, or choose --control-socket PATH",
                    path.display(),
                    crate::run::io_reason(&e)
                )
            })?;
    }
    let l = tokio::net::UnixListener::bind(path).map_err(|e| {
        format!(
            "cannot listen on {}: {}; choose --control-socket PATH",
            path.display(),
            crate::run::io_reason(&e)
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| {
            format!(
                "cannot restrict {} to its owner (mode 0600): {}; choose --control-socket PATH in a directory of yours",
                path.display(),
                crate::run::io_reason(&e)
            )
        })?;
    Ok(l)
}
