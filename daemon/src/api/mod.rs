//! The control API: HTTP/JSON on a Unix socket (and optionally on loopback
//! TCP), served by the daemon next to its devices. docs/openapi.json
//! describes every endpoint; docs/control-api.md shows how to use them.

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
use fidosim_control_api as api;
use fidosim_control_api::event::EventKind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use uhid_device::device::Control;
use uhid_device::presence::{DaemonEnv, PresenceMode};

use crate::config::{RunConfig, TransportConfig};
use crate::creds::{self, CredError, CredentialJson};
pub use crate::registry::{DeviceHandle, Registry};
use crate::settings::DeviceSettings;

mod credentials;
mod devices;
mod faults;
pub mod guard;
mod presence;

use credentials::*;
use devices::*;
use faults::*;
use presence::*;

/// The OpenAPI document of the control API, served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// How long an operation may wait for a device that is busy (for example
/// waiting for a touch) before the API answers 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Looks a device up by the name in the request's path.
trait Lookup {
    fn get(&self, name: &str) -> Result<DeviceHandle, ApiError>;
}

impl Lookup for Registry {
    fn get(&self, name: &str) -> Result<DeviceHandle, ApiError> {
        self.find(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no device named `{name}`; `fidosim devices list` shows the running ones"),
            )
        })
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

fn ok(v: impl Serialize) -> ApiResult {
    Ok(Json(v).into_response())
}

/// A `201 Created` answer.
fn created(v: impl Serialize) -> ApiResult {
    Ok((StatusCode::CREATED, Json(v)).into_response())
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

async fn status_of(d: &DeviceHandle) -> Result<api::DeviceStatus, ApiError> {
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
            Some(overflow.name().to_owned()),
        )
    })
    .await;
    let (stored, discoverable, pin_set, mode, overflow) = match counts {
        Ok(c) => c,
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => (None, None, None, None, None),
        Err(e) => return Err(e),
    };
    let f = &d.info;
    Ok(api::DeviceStatus {
        name: d.name.clone(),
        transport: f.transport.to_owned(),
        address: f.address.clone(),
        aaguid: f.aaguid.clone(),
        vendor_id: f.vendor_id.clone(),
        product_id: f.product_id.clone(),
        serial: f.serial.clone(),
        product_name: f.product_name.clone(),
        state: f.state.clone(),
        presence: presence.to_string(),
        uv: uv.name().to_owned(),
        account_choice: d.shared.account_choice().to_string(),
        waiting_for_user: d
            .shared
            .waiting_for_user
            .load(std::sync::atomic::Ordering::SeqCst),
        stored_credentials: stored,
        discoverable_credentials: discoverable,
        pin_set,
        counter_mode: mode,
        counter_overflow: overflow,
    })
}

async fn not_found_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; docs/openapi.json lists them",
    )
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The API's routes, behind `guard` (the rules of the listener that
/// serves them: see [`guard`]).
pub fn router(registry: Registry, guard: guard::Guard) -> Router {
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
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
}

/// The default control socket: `$XDG_RUNTIME_DIR/fidosim/control.sock`,
/// else `/tmp/fidosim-UID/control.sock`.
pub fn default_socket() -> PathBuf {
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
pub fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, String> {
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
                        crate::io_reason(&e)
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
                    crate::io_reason(&e)
                )
            })?;
    }
    let l = tokio::net::UnixListener::bind(path).map_err(|e| {
        format!(
            "cannot listen on {}: {}; choose --control-socket PATH",
            path.display(),
            crate::io_reason(&e)
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| {
            format!(
                "cannot restrict {} to its owner (mode 0600): {}; choose --control-socket PATH in a directory of yours",
                path.display(),
                crate::io_reason(&e)
            )
        })?;
    Ok(l)
}
