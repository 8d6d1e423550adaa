//! `fidosim presence …` and `fidosim events`: the virtual user and the
//! event stream.

use super::*;

pub(crate) async fn presence(a: ClientArgs, cmd: PresenceCmd) -> Result<(), Error> {
    let t = Target::of(&a)?;
    let (path, body, what) = match &cmd {
        PresenceCmd::Set { mode } => (
            format!("/v1/devices/{}/presence", a.dev()),
            Some(json!({ "presence": mode })),
            format!("presence of {} is now {mode}", a.dev()),
        ),
        PresenceCmd::Uv { outcome } => (
            format!("/v1/devices/{}/presence", a.dev()),
            Some(json!({ "uv": outcome })),
            format!("built-in UV of {} will {outcome}", a.dev()),
        ),
        PresenceCmd::Touch => (
            format!("/v1/devices/{}/touch", a.dev()),
            None,
            format!("touched {}", a.dev()),
        ),
    };
    let method = if matches!(cmd, PresenceCmd::Touch) {
        Method::POST
    } else {
        Method::PUT
    };
    let v = call(&t, method, &path, body).await?;
    output(&a, &v, &what);
    Ok(())
}

/// Streams events as JSON lines until the daemon goes away.
pub(crate) async fn events(a: ClientArgs) -> Result<(), Error> {
    let t = Target::of(&a)?;
    let mut sender = connect(&t).await?;
    let path = if a.device.is_some() {
        format!("/v1/events?device={}", a.dev())
    } else {
        "/v1/events".to_owned()
    };
    let req = Request::builder()
        .uri(path)
        .header("host", "fidosim")
        .body(Full::new(Bytes::new()))
        .map_err(|e| Error::Runtime(format!("cannot build the request: {e}")))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| no_answer(&t, &e))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(refused(&t, status, &body));
    }
    let mut body = resp.into_body();
    let mut out = std::io::stdout();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Error::Runtime(format!(
                "the event stream from {} broke off ({e}); the daemon may have stopped: run `fidosim events` again once it is back",
                t.describe()
            ))
        })?;
        if let Some(data) = frame.data_ref() {
            // The reader went away (`| head`): done.
            if out.write_all(data).and_then(|()| out.flush()).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}
