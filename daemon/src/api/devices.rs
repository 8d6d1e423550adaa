//! `/v1/devices`: the running keys (list, status, add, clone, remove,
//! replug, reset).

use super::*;

pub(super) async fn list_devices(State(r): State<Registry>) -> ApiResult {
    let mut out = Vec::new();
    for d in r.all() {
        out.push(status_of(&d).await?);
    }
    ok(out)
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
    ok(api::Replugged { replugged: name })
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
    ok(api::Reset { reset: name })
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
    body: Result<Json<api::AddDevice>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    crate::config::check_device_name(&body.name).map_err(|e| ApiError::bad(e.0))?;
    let settings = DeviceSettings::from_json(&body.settings.unwrap_or_else(|| json!({})))
        .map_err(ApiError::bad)?;
    let config = RunConfig::from_settings(&body.name, settings).map_err(|e| ApiError::bad(e.0))?;
    let d = start(&r, config).await?;
    created(status_of(&d).await?)
}

pub(super) async fn remove_device(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
    let d = r.get(&name)?;
    r.remove(&name);
    d.stop().await;
    ok(api::Removed { removed: name })
}

pub(super) async fn clone_device(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<api::CloneDevice>, JsonRejection>,
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
        let all = a.list_credentials()?;
        if let Some(ids) = &wanted {
            if let Some(missing) = ids
                .iter()
                .find(|id| !all.iter().any(|c| &c.credential.id == *id))
            {
                let missing = authenticator_core::admin::AdminError::NotFound(missing.clone());
                return Err(missing.into());
            }
        }
        all.iter()
            .filter(|c| {
                wanted
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&c.credential.id))
            })
            .map(|c| creds::to_json(c, a.config()))
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
        creds::import_into(a, &copies).map(|_| ())
    })
    .await
    .and_then(|r| r.map_err(ApiError::from));
    if let Err(e) = imported {
        r.remove(&clone.name);
        clone.stop().await;
        return Err(e);
    }
    clone.shared.emit(EventKind::DeviceCloned {
        from: name,
        credentials: u64::try_from(n).unwrap_or(u64::MAX),
        counter_offset: offset,
    });
    created(status_of(&clone).await?)
}
