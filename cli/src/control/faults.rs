//! `fidosim faults …`: injected faults.

use super::*;

/// `NAME=VALUE` of `faults add --param`: a whole number or true/false as
/// such, anything else as a string.
fn fault_param(p: &str) -> Result<(String, Value), Error> {
    let (k, v) = p
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| {
            Error::Runtime(format!(
                "--param `{p}` is not NAME=VALUE (like status=0x27 or ms=500)"
            ))
        })?;
    let value = match v {
        "true" => json!(true),
        "false" => json!(false),
        _ => v.parse::<u64>().map_or_else(|_| json!(v), |n| json!(n)),
    };
    Ok((k.to_owned(), value))
}

fn fault_rows(list: &[Value]) {
    let mut rows = vec![vec![
        "ID".to_owned(),
        "COMMAND".into(),
        "KIND".into(),
        "PARAMS".into(),
        "STICKY".into(),
        "FIRED".into(),
    ]];
    for f in list {
        let params: Vec<String> = f["params"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", s(v)))
            .collect();
        rows.push(vec![
            s(&f["id"]),
            s(&f["command"]),
            s(&f["kind"]),
            if params.is_empty() {
                "-".into()
            } else {
                params.join(" ")
            },
            s(&f["sticky"]),
            s(&f["fired"]),
        ]);
    }
    table(&rows);
}

pub(crate) async fn faults(a: ClientArgs, cmd: FaultCmd) -> Result<(), Error> {
    if a.state.is_some() {
        return Err(Error::Runtime(
            "faults live in a running daemon only; drop --state".into(),
        ));
    }
    let t = Target::of(&a)?;
    let base = format!("/v1/devices/{}/faults", a.dev());
    match cmd {
        FaultCmd::List => {
            let v = call(&t, Method::GET, &base, None).await?;
            if a.json {
                print_json(&v);
            } else if v.as_array().is_none_or(Vec::is_empty) {
                out!("no faults pending on {}", a.dev());
            } else {
                fault_rows(v.as_array().map(Vec::as_slice).unwrap_or_default());
            }
        }
        FaultCmd::Add {
            kind,
            command,
            params,
            sticky,
        } => {
            let params = params
                .iter()
                .map(|p| fault_param(p))
                .collect::<Result<serde_json::Map<_, _>, _>>()?;
            let body =
                json!({ "command": command, "kind": kind, "params": params, "sticky": sticky });
            let v = call(&t, Method::POST, &base, Some(body)).await?;
            let when = if sticky { "every" } else { "the next" };
            let which = if command == "any" {
                String::new()
            } else {
                format!("{command} ")
            };
            output(
                &a,
                &v,
                &format!(
                    "fault {} added: {kind} on {when} {which}request to {}",
                    s(&v["id"]),
                    a.dev()
                ),
            );
        }
        FaultCmd::Remove { id } => {
            let v = call(&t, Method::DELETE, &format!("{base}/{id}"), None).await?;
            output(&a, &v, &format!("removed fault {id}"));
        }
        FaultCmd::Clear => {
            let v = call(&t, Method::DELETE, &base, None).await?;
            output(&a, &v, &format!("removed {} fault(s)", s(&v["removed"])));
        }
    }
    Ok(())
}
