//! `fidosim faults …`: injected faults.

use super::*;

/// `NAME=VALUE` of `faults add --param`: a whole number or true/false as
/// such, anything else as a string.
/// One `--param NAME=VALUE`.
fn fault_param(p: &str) -> Result<(String, String), Error> {
    p.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| {
            Error::Runtime(format!(
                "--param `{p}` is not NAME=VALUE (like status=0x27 or ms=500)"
            ))
        })
}

fn fault_rows(list: &[api::Fault]) {
    let mut rows = vec![vec![
        "ID".to_owned(),
        "COMMAND".into(),
        "KIND".into(),
        "PARAMS".into(),
        "STICKY".into(),
        "FIRED".into(),
    ]];
    for f in list {
        let params: Vec<String> = to_json(&f.kind)["params"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", s(v)))
            .collect();
        rows.push(vec![
            f.id.to_string(),
            f.command.clone(),
            f.kind.name().to_owned(),
            if params.is_empty() {
                "-".into()
            } else {
                params.join(" ")
            },
            f.sticky.to_string(),
            f.fired.to_string(),
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
    let c = client(&a)?;
    let dev = a.dev();
    match cmd {
        FaultCmd::List => {
            let list = c.faults(dev).await.map_err(failed)?;
            if a.json {
                print_json(&to_json(&list));
            } else if list.is_empty() {
                out!("no faults pending on {dev}");
            } else {
                fault_rows(&list);
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
                .collect::<Result<Vec<_>, _>>()?;
            // Each parameter is read as its kind says (a number for `ms`,
            // text for `rpId`), so what is sent is what was meant.
            let request = api::FaultRequest {
                command: command.clone(),
                kind: api::FaultKind::from_texts(&kind, &params).map_err(Error::Runtime)?,
                sticky,
            };
            let f = c.add_fault(dev, &request).await.map_err(failed)?;
            let when = if sticky { "every" } else { "the next" };
            let which = if command == "any" {
                String::new()
            } else {
                format!("{command} ")
            };
            output(
                &a,
                &to_json(&f),
                &format!(
                    "fault {} added: {kind} on {when} {which}request to {dev}",
                    f.id
                ),
            );
        }
        FaultCmd::Remove { id } => {
            let v = c.remove_fault(dev, id).await.map_err(failed)?;
            output(&a, &to_json(&v), &format!("removed fault {id}"));
        }
        FaultCmd::Clear => {
            let v = c.clear_faults(dev).await.map_err(failed)?;
            output(&a, &to_json(&v), &format!("removed {} fault(s)", v.removed));
        }
    }
    Ok(())
}
