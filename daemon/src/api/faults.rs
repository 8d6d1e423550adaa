//! `/v1/devices/{name}/faults`: injected faults.

use super::*;

pub(super) async fn list_faults(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
    let list = r.get(&name)?.shared.faults.list();
    ok(list
        .iter()
        .map(uhid_device::faults::Fault::to_api)
        .collect::<Vec<_>>())
}

pub(super) async fn add_fault(
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
    created(f.to_api())
}

pub(super) async fn remove_fault(
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
    ok(api::FaultsRemoved { removed: n })
}

pub(super) async fn clear_faults(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
    let n = r.get(&name)?.shared.faults.clear();
    ok(api::FaultsRemoved {
        removed: u64::try_from(n).unwrap_or(u64::MAX),
    })
}
