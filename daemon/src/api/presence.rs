//! `/v1/devices/{name}/presence`, `/touch` and `/v1/events`: the virtual
//! user and the event stream.

use super::*;
use authenticator_core::accounts::AccountChoice;

pub(super) async fn set_presence(
    State(r): State<Registry>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<api::PresenceChange>, JsonRejection>,
) -> ApiResult {
    let d = r.get(&name)?;
    let Json(body) = body?;
    if body.presence.is_none() && body.uv.is_none() && body.account_choice.is_none() {
        return Err(ApiError::bad(
            "give `presence`, `uv`, `accountChoice` or any combination of them",
        ));
    }
    // Every value is checked before any is applied: a request with one bad
    // value changes nothing.
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
    let account_choice = body
        .account_choice
        .as_deref()
        .map(|c| {
            c.parse::<AccountChoice>()
                .map_err(|e| ApiError::bad(format!("accountChoice: {e}")))
        })
        .transpose()?;
    if let Some(p) = presence {
        d.shared.set_presence(p);
    }
    if let Some(u) = uv {
        d.shared.set_uv(u);
    }
    if let Some(c) = account_choice {
        d.shared.set_account_choice(c);
    }
    let (p, u) = d.shared.policy();
    ok(api::Presence {
        presence: p.to_string(),
        uv: u.name().to_owned(),
        account_choice: d.shared.account_choice().to_string(),
    })
}

pub(super) async fn touch(State(r): State<Registry>, UrlPath(name): UrlPath<String>) -> ApiResult {
    let d = r.get(&name)?;
    if d.shared.touch() {
        d.shared.emit(api::event::EventKind::PresenceTouched);
        ok(api::Touched { touched: true })
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "no request is waiting for a touch (presence mode `manual` makes requests wait)",
        ))
    }
}

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    device: Option<String>,
}

pub(super) async fn events(State(r): State<Registry>, Query(q): Query<EventsQuery>) -> ApiResult {
    let devices = match q.device {
        Some(n) => vec![r.get(&n)?],
        None => r.all(),
    };
    // A device's event, or how many of them a slow reader missed.
    let (tx, rx) = mpsc::channel::<
        Result<Arc<uhid_device::presence::Event>, uhid_device::presence::Notice>,
    >(1024);
    for d in devices {
        let mut sub = d.shared.subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match sub.recv().await {
                    Ok(e) => {
                        if tx.send(Ok(e)).await.is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        let lost = uhid_device::presence::Notice::EventsLost { count: n };
                        if tx.send(Err(lost)).await.is_err() {
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
        let mut line = match rx.recv().await? {
            Ok(e) => e.to_string(),
            Err(lost) => lost.to_string(),
        };
        line.push('\n');
        Some((Ok::<_, std::convert::Infallible>(line), rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
