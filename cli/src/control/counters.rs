//! `fidosim counters …`: signature counters.

use super::*;

pub(crate) async fn counters(a: ClientArgs, cmd: CounterCmd) -> Result<(), Error> {
    let (id, value) = match cmd {
        CounterCmd::Set { id, value } => (id, value),
        CounterCmd::Mode { mode, overflow } => {
            if a.state.is_some() {
                return Err(Error::Runtime(
                    "the counter mode is a setting of a running key (--counter of `fidosim run`), not of a state file; drop --state to change it on the running daemon"
                        .into(),
                ));
            }
            let mut body = json!({ "mode": mode });
            if let Some(o) = overflow {
                body["overflow"] = json!(o);
            }
            let v = call(
                &Target::of(&a)?,
                Method::PUT,
                &format!("/v1/devices/{}/counter-mode", a.dev()),
                Some(body),
            )
            .await?;
            output(
                &a,
                &v,
                &format!(
                    "counters of {}: {}, {} at 2^32-1",
                    a.dev(),
                    s(&v["mode"]),
                    s(&v["overflow"])
                ),
            );
            return Ok(());
        }
    };
    if let Some(path) = a.state.clone() {
        let bytes = parse_id(&id)?;
        let mut store = open_offline(&path, false)?;
        if store.get(&bytes).ok().flatten().is_none() {
            return Err(not_in_file(&id, &path));
        }
        let scope = creds::counter_scope(&DeviceConfig::default(), &bytes);
        store
            .set_counter(scope, value)
            .map_err(|e| file_failed("write", &path, &e))?;
        let v = json!({ "credentialId": creds::b64(&bytes), "signCount": value });
        output(&a, &v, &format!("counter of {id} set to {value}"));
        return Ok(());
    }
    let t = Target::of(&a)?;
    let v = call(
        &t,
        Method::PUT,
        &format!(
            "/v1/devices/{}/credentials/{}/counter",
            a.dev(),
            id_path(&id)?
        ),
        Some(json!({ "signCount": value })),
    )
    .await?;
    output(&a, &v, &format!("counter of {id} set to {value}"));
    Ok(())
}
