//! `/v1/devices`: the running keys (list, status, add, clone, remove,
//! replug, reset).

use super::*;

pub(super) async fn list_devices(State(r): State<Registry>) -> ApiResult {
    let mut out = Vec::new();
    for d in r.all() {
        out.push(status_of(&d).await?);
    }
    ok(json!(out))
}

pub(super) async fn device_status(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
    ok(status_of(&r.get(&name)?).await?)
}

pub(super) async fn replug(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    let d = r.get(&name)?;
    d.control
        .send(Control::Replug)
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, stopped(&name)))?;
    ok(json!({ "replugged": name }))
}

pub(super) async fn reset(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AddDevice {
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
    let handle = crate::assemble::start_device(config)
        .await
        .map_err(|e| ApiError::bad(format!("the device could not start: {e}")))?;
    r.add(handle.clone());
    Ok(handle)
}

pub(super) async fn add_device(
    State(r): State<Registry>,
    body: Result<Json<AddDevice>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    crate::config::check_device_name(&body.name).map_err(|e| ApiError::bad(e.0))?;
    let settings = DeviceSettings::from_json(&body.settings.unwrap_or_else(|| json!({})))
        .map_err(ApiError::bad)?;
    let config = RunConfig::from_settings(&body.name, settings).map_err(|e| ApiError::bad(e.0))?;
    let d = start(&r, config).await?;
    Ok((StatusCode::CREATED, Json(status_of(&d).await?)).into_response())
}

pub(super) async fn remove_device(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
    let d = r.get(&name)?;
    r.remove(&name);
    d.stop().await;
    ok(json!({ "removed": name }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CloneBody {
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

pub(super) async fn clone_device(
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
