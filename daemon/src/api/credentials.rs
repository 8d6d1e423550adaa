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

pub(super) async fn show_credential(
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

pub(super) fn not_found(id: &[u8]) -> CredError {
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

pub(super) async fn add_credentials(
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

pub(super) async fn delete_credential(
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

pub(super) async fn clear_credentials(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
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
pub(super) struct CounterBody {
    sign_count: u32,
}

pub(super) async fn set_counter(
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
pub(super) struct CounterModeBody {
    mode: Option<String>,
    overflow: Option<String>,
}

pub(super) async fn set_counter_mode(
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
