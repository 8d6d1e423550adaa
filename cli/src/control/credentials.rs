//! `fidosim credentials …`: a key's credentials, through the daemon or
//! (with `--state FILE`) on a state file.

use super::*;
use authenticator_core::admin::{self, AdminError};

/// One row per credential, newest first as the key lists them; CREATED is
/// the creation order (larger = newer), the order getAssertion offers
/// discoverable credentials in.
fn credential_rows(list: &[CredentialJson]) {
    let mut rows = vec![vec![
        "CREATED".to_owned(),
        "CREDENTIAL ID".to_owned(),
        "RP".into(),
        "USER".into(),
        "RESIDENT".into(),
        "COUNTER".into(),
    ]];
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    for c in list {
        let id = creds::unb64("", &c.credential_id)
            .map(|b| creds::b64url(&b))
            .unwrap_or_default();
        rows.push(vec![
            c.creation_order
                .map_or_else(|| "-".to_owned(), |o| o.to_string()),
            id,
            or_dash(&c.rp_id),
            or_dash(&c.user_name),
            c.is_resident_credential.to_string(),
            c.sign_count.to_string(),
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
    let c = client(&a)?;
    let dev = a.dev();
    match cmd {
        CredentialCmd::List => {
            let list = c.credentials(dev).await.map_err(failed)?;
            if a.json {
                print_json(&to_json(&list));
            } else {
                credential_rows(&list);
            }
        }
        CredentialCmd::Show { id } | CredentialCmd::Export { id: Some(id) } => {
            let one = c.credential(dev, &id_path(&id)?).await.map_err(failed)?;
            print_json(&to_json(&one));
        }
        CredentialCmd::Export { id: None } => {
            print_json(&to_json(&c.credentials(dev).await.map_err(failed)?));
        }
        CredentialCmd::Import { file } => {
            let items = parse_import(&file, read_input(&file)?)?;
            // One request: the daemon answers when all are stored (or none).
            let many = items.len();
            let progress = announce(
                "credentials import",
                many,
                format!("sending {many} credentials to {dev}"),
            );
            let v = c.import(dev, &api::CredentialImport::Many(items)).await;
            settle(
                progress,
                &format!("{many} credentials"),
                v.is_ok(),
                "imported",
            );
            let v = v.map_err(failed)?;
            output(
                &a,
                &to_json(&v),
                &format!("imported {} credential(s) into {dev}", v.imported.len()),
            );
        }
        CredentialCmd::Delete { id } => {
            let v = c
                .delete_credential(dev, &id_path(&id)?)
                .await
                .map_err(failed)?;
            output(&a, &to_json(&v), &format!("deleted {id}"));
        }
        CredentialCmd::Clear => {
            let v = c.clear_credentials(dev).await.map_err(failed)?;
            output(
                &a,
                &to_json(&v),
                &format!("deleted {} credential(s)", v.deleted),
            );
        }
    }
    Ok(())
}

/// The credentials of an import file: one object, or an array of them.
fn parse_import(file: &str, body: Value) -> Result<Vec<CredentialJson>, Error> {
    // Read as the one form the JSON has, so that the message names the
    // field at fault.
    let items = match body {
        Value::Array(_) => serde_json::from_value(body),
        other => serde_json::from_value(other).map(|c| vec![c]),
    };
    match items {
        Ok(v) => Ok(v),
        Err(e) => Err(Error::Runtime(format!(
            "{}: not a credential ({e}); give Chrome DevTools' WebAuthn.Credential shape (credentialId, isResidentCredential, rpId, privateKey, …), as `fidosim credentials export` writes",
            source_name(file)
        ))),
    }
}

/// Credential commands on a state file, without a daemon (the file must
/// not be in use). The device settings are the defaults; the operations
/// are the authenticator's own ([`authenticator_core::admin`]).
fn offline_credentials(a: &ClientArgs, path: PathBuf, cmd: CredentialCmd) -> Result<(), Error> {
    let create = matches!(cmd, CredentialCmd::Import { .. });
    let mut file = open_offline(&path, create)?;
    let store: &mut dyn CredentialStore = &mut file;
    let config = DeviceConfig::default();
    let rt = |e: creds::CredError| Error::Runtime(e.to_string());
    let failed = |what: &str, e: AdminError| match e {
        AdminError::Store(e) => file_failed(what, &path, &e),
        other => rt(other.into()),
    };
    let list = |store: &dyn CredentialStore| -> Result<Vec<CredentialJson>, Error> {
        admin::list(store, &config)
            .map_err(|e| failed("read", e))?
            .iter()
            .map(|c| creds::to_json(c, &config).map_err(rt))
            .collect()
    };
    match cmd {
        CredentialCmd::List => {
            let list = list(store)?;
            if a.json {
                print_json(&to_json(&list));
            } else {
                credential_rows(&list);
            }
        }
        CredentialCmd::Show { id } | CredentialCmd::Export { id: Some(id) } => {
            let one = admin::get(store, &config, &parse_id(&id)?).map_err(|e| match e {
                AdminError::NotFound(_) => not_in_file(&id, &path),
                other => failed("read", other),
            })?;
            print_json(&json!(creds::to_json(&one, &config).map_err(rt)?));
        }
        CredentialCmd::Export { id: None } => print_json(&json!(list(store)?)),
        CredentialCmd::Import { file } => {
            let items = parse_import(&file, read_input(&file)?)?;
            let mut progress = (items.len() >= MANY).then(|| {
                let mut p = Progress::coarse("credentials import", items.len());
                p.start("importing");
                p
            });
            let result = creds::import_all(store, &config, &items, &mut |id| {
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
            admin::delete(store, &parse_id(&id)?).map_err(|e| match e {
                AdminError::NotFound(_) => not_in_file(&id, &path),
                other => failed("write", other),
            })?;
            output(a, &json!({ "deleted": id }), &format!("deleted {id}"));
        }
        CredentialCmd::Clear => {
            let n = admin::clear(store).map_err(|e| failed("write", e))?;
            output(
                a,
                &json!({ "deleted": n }),
                &format!("deleted {n} credential(s)"),
            );
        }
    }
    Ok(())
}
