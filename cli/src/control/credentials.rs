//! `fidosim credentials …`: a key's credentials, through the daemon or
//! (with `--state FILE`) on a state file.

use super::*;

fn credential_rows(list: &[Value]) {
    let mut rows = vec![vec![
        "CREDENTIAL ID".to_owned(),
        "RP".into(),
        "USER".into(),
        "RESIDENT".into(),
        "COUNTER".into(),
    ]];
    for c in list {
        let id = creds::unb64("", c["credentialId"].as_str().unwrap_or(""))
            .map(|b| creds::b64url(&b))
            .unwrap_or_default();
        rows.push(vec![
            id,
            s(&c["rpId"]),
            s(&c["userName"]),
            s(&c["isResidentCredential"]),
            s(&c["signCount"]),
        ]);
    }
    table(&rows);
}

/// Where `credentials import` reads from, for messages.
fn source_name(file: &str) -> String {
    if file == "-" {
        "standard input".to_owned()
    } else {
        file.to_owned()
    }
}

fn read_input(file: &str) -> Result<Value, Error> {
    let text = if file == "-" {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut t).map_err(|e| {
            Error::Runtime(format!(
                "cannot read standard input: {}; give the credentials file's path instead of -",
                crate::run::io_reason(&e)
            ))
        })?;
        t
    } else {
        std::fs::read_to_string(file).map_err(|e| {
            Error::Runtime(format!(
                "cannot read the credentials file {file}: {}; give the path of a JSON file, or - for standard input",
                crate::run::io_reason(&e)
            ))
        })?
    };
    serde_json::from_str(&text).map_err(|e| {
        Error::Runtime(format!(
            "{}: not JSON ({e}); give a credential object or an array of them, as `fidosim credentials export` writes",
            source_name(file)
        ))
    })
}

pub(crate) async fn credentials(a: ClientArgs, cmd: CredentialCmd) -> Result<(), Error> {
    if let Some(path) = a.state.clone() {
        return offline_credentials(&a, path, cmd);
    }
    let t = Target::of(&a)?;
    let base = format!("/v1/devices/{}/credentials", a.dev());
    match cmd {
        CredentialCmd::List => {
            let v = call(&t, Method::GET, &base, None).await?;
            if a.json {
                print_json(&v);
            } else {
                credential_rows(v.as_array().map(Vec::as_slice).unwrap_or_default());
            }
        }
        CredentialCmd::Show { id } | CredentialCmd::Export { id: Some(id) } => {
            let v = call(&t, Method::GET, &format!("{base}/{}", id_path(&id)?), None).await?;
            print_json(&v);
        }
        CredentialCmd::Export { id: None } => {
            print_json(&call(&t, Method::GET, &base, None).await?);
        }
        CredentialCmd::Import { file } => {
            let body = read_input(&file)?;
            // One request: the daemon answers when all are stored (or none).
            let many = body.as_array().map_or(0, Vec::len);
            let progress = announce(
                "credentials import",
                many,
                format!("sending {many} credentials to {}", a.dev()),
            );
            let v = call(&t, Method::POST, &base, Some(body)).await;
            settle(
                progress,
                &format!("{many} credentials"),
                v.is_ok(),
                "imported",
            );
            let v = v?;
            let n = v["imported"].as_array().map_or(0, Vec::len);
            output(
                &a,
                &v,
                &format!("imported {n} credential(s) into {}", a.dev()),
            );
        }
        CredentialCmd::Delete { id } => {
            let v = call(
                &t,
                Method::DELETE,
                &format!("{base}/{}", id_path(&id)?),
                None,
            )
            .await?;
            output(&a, &v, &format!("deleted {id}"));
        }
        CredentialCmd::Clear => {
            let v = call(&t, Method::DELETE, &base, None).await?;
            output(
                &a,
                &v,
                &format!("deleted {} credential(s)", s(&v["deleted"])),
            );
        }
    }
    Ok(())
}

/// Credential commands on a state file, without a daemon (the file must
/// not be in use). The device settings are the defaults.
fn offline_credentials(a: &ClientArgs, path: PathBuf, cmd: CredentialCmd) -> Result<(), Error> {
    let create = matches!(cmd, CredentialCmd::Import { .. });
    let mut store = open_offline(&path, create)?;
    let config = DeviceConfig::default();
    let rt = |e: creds::CredError| Error::Runtime(e.to_string());
    let list = |store: &DurableStore| -> Result<Vec<CredentialJson>, Error> {
        store
            .all_stored()
            .map_err(|e| file_failed("read", &path, &e))?
            .iter()
            .map(|c| creds::to_json(c, &config, store).map_err(rt))
            .collect()
    };
    let find = |store: &DurableStore, id: &str| -> Result<CredentialJson, Error> {
        let bytes = parse_id(id)?;
        let c = store
            .get(&bytes)
            .ok()
            .flatten()
            .ok_or_else(|| not_in_file(id, &path))?;
        creds::to_json(&c, &config, store).map_err(rt)
    };
    match cmd {
        CredentialCmd::List => {
            let v = json!(list(&store)?);
            if a.json {
                print_json(&v);
            } else {
                credential_rows(v.as_array().map(Vec::as_slice).unwrap_or_default());
            }
        }
        CredentialCmd::Show { id } | CredentialCmd::Export { id: Some(id) } => {
            print_json(&json!(find(&store, &id)?));
        }
        CredentialCmd::Export { id: None } => print_json(&json!(list(&store)?)),
        CredentialCmd::Import { file } => {
            let body = read_input(&file)?;
            let items: Vec<CredentialJson> = match body {
                Value::Array(_) => serde_json::from_value(body),
                other => serde_json::from_value(other).map(|c| vec![c]),
            }
            .map_err(|e| {
                Error::Runtime(format!(
                    "{}: not a credential ({e}); give Chrome DevTools' WebAuthn.Credential shape (credentialId, isResidentCredential, rpId, privateKey, …), as `fidosim credentials export` writes",
                    source_name(&file)
                ))
            })?;
            let mut progress = (items.len() >= MANY).then(|| {
                let mut p = Progress::coarse("credentials import", items.len());
                p.start("importing");
                p
            });
            let result = creds::import_all(&mut store, &config, &items, 0, &mut |id| {
                if let Some(p) = progress.as_mut() {
                    p.done(&creds::b64(id), "imported");
                    p.start("importing");
                }
            });
            if let Some(p) = progress.as_mut() {
                p.finish();
            }
            let n = result
                .map_err(|e| {
                    Error::Runtime(format!("{}: {e}; nothing was imported", source_name(&file)))
                })?
                .len();
            output(
                a,
                &json!({ "imported": n }),
                &format!("imported {n} credential(s)"),
            );
        }
        CredentialCmd::Delete { id } => {
            let bytes = parse_id(&id)?;
            let gone = store
                .delete(&bytes)
                .map_err(|e| file_failed("write", &path, &e))?;
            if !gone {
                return Err(not_in_file(&id, &path));
            }
            output(a, &json!({ "deleted": id }), &format!("deleted {id}"));
        }
        CredentialCmd::Clear => {
            let all = list(&store)?;
            for c in &all {
                let bytes = creds::unb64("", &c.credential_id).map_err(rt)?;
                store
                    .delete(&bytes)
                    .map_err(|e| file_failed("write", &path, &e))?;
            }
            output(
                a,
                &json!({ "deleted": all.len() }),
                &format!("deleted {} credential(s)", all.len()),
            );
        }
    }
    Ok(())
}
