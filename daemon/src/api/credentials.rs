//! `/v1/devices/{name}/credentials` and `/counter`: stored credentials
//! (Chrome DevTools' JSON shape) and signature counters.

use super::*;

fn credential_id(id: &str) -> Result<Vec<u8>, ApiError> {
    creds::unb64("credential id", id).map_err(ApiError::from)
}

pub(super) async fn list_credentials(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
    let d = r.get(&name)?;
    let list = exec(&d, move |a| -> Result<Vec<CredentialJson>, CredError> {
        a.list_credentials()?
            .iter()
            .map(|c| creds::to_json(c, a.config()))
            .collect()
    })
    .await??;
    ok(list)
}

pub(super) async fn show_credential(
    State(r): State<Registry>,
    UrlPath((name, id)): UrlPath<(String, String)>,
) -> ApiResult {
    let d = r.get(&name)?;
    let id = credential_id(&id)?;
    let one = exec(&d, move |a| -> Result<CredentialJson, CredError> {
        creds::to_json(&a.credential(&id)?, a.config())
    })
    .await??;
    ok(one)
}

pub(super) async fn add_credentials(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let d = r.get(&name)?;
    let Json(body) = body?;
    let list = match serde_json::from_value::<api::CredentialImport>(body) {
        Ok(api::CredentialImport::One(c)) => vec![*c],
        Ok(api::CredentialImport::Many(v)) => v,
        Err(e) => {
            return Err(ApiError::bad(format!(
                "expected a credential object (or an array of them) with credentialId, isResidentCredential, rpId, privateKey, …: {e}"
            )))
        }
    };
    let ids = exec(&d, move |a| -> Result<Vec<String>, CredError> {
        // Everything is checked before anything is stored.
        let ids = creds::import_into(a, &list)?;
        Ok(ids.iter().map(|id| creds::b64(id)).collect::<Vec<_>>())
    })
    .await??;
    for id in &ids {
        d.shared.emit(EventKind::CredentialImported {
            credential_id: id.clone(),
        });
    }
    created(api::Imported { imported: ids })
}

pub(super) async fn delete_credential(
    State(r): State<Registry>,
    UrlPath((name, id)): UrlPath<(String, String)>,
) -> ApiResult {
    let d = r.get(&name)?;
    let id = credential_id(&id)?;
    let shown = creds::b64(&id);
    exec(&d, move |a| -> Result<(), CredError> {
        Ok(a.delete_credential(&id)?)
    })
    .await??;
    d.shared.emit(EventKind::CredentialDeleted {
        rp_id: None,
        credential_id: shown.clone(),
        by: Some("control".into()),
    });
    ok(api::Deleted { deleted: shown })
}

pub(super) async fn clear_credentials(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
    let d = r.get(&name)?;
    let n = exec(&d, move |a| -> Result<usize, CredError> {
        Ok(a.clear_credentials()?)
    })
    .await??;
    d.shared.emit(EventKind::CredentialsCleared {
        count: u64::try_from(n).unwrap_or(u64::MAX),
    });
    ok(api::Cleared { deleted: n })
}

pub(super) async fn set_counter(
    State(r): State<Registry>,
    UrlPath((name, id)): UrlPath<(String, String)>,
    body: Result<Json<api::SetCounter>, JsonRejection>,
) -> ApiResult {
    let d = r.get(&name)?;
    let Json(body) = body?;
    let id = credential_id(&id)?;
    let shown = creds::b64(&id);
    let value = body.sign_count;
    exec(&d, move |a| -> Result<(), CredError> {
        Ok(a.set_sign_count(&id, value)?)
    })
    .await??;
    d.shared.emit(EventKind::CounterSet {
        credential_id: shown.clone(),
        sign_count: value,
    });
    ok(api::CounterSet {
        credential_id: shown,
        sign_count: value,
    })
}

pub(super) async fn set_counter_mode(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<api::CounterModeChange>, JsonRejection>,
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
    let answer = api::CounterMode {
        mode: mode.to_string(),
        overflow: overflow.name().to_owned(),
    };
    d.shared.emit(EventKind::CounterMode {
        mode: answer.mode.clone(),
        overflow: answer.overflow.clone(),
    });
    ok(answer)
}
