//! `fidosim devices …`: the running keys.

use super::*;

pub(crate) async fn devices(a: ClientArgs, cmd: DeviceCmd) -> Result<(), Error> {
    let c = client(&a)?;
    match cmd {
        DeviceCmd::List => {
            let list = c.devices().await.map_err(failed)?;
            if a.json {
                print_json(&to_json(&list));
                return Ok(());
            }
            let mut rows = vec![vec![
                "NAME".to_owned(),
                "TRANSPORT".into(),
                "PRESENCE".into(),
                "UV".into(),
                "CREDENTIALS".into(),
                "STATE".into(),
            ]];
            for d in list {
                rows.push(vec![
                    d.name,
                    d.transport,
                    d.presence,
                    d.uv,
                    d.stored_credentials
                        .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                    d.state.unwrap_or_else(|| "-".to_owned()),
                ]);
            }
            table(&rows);
        }
        DeviceCmd::Status => {
            let v = to_json(&c.device(a.dev()).await.map_err(failed)?);
            if a.json {
                print_json(&v);
                return Ok(());
            }
            let mut rows = Vec::new();
            for (k, val) in v.as_object().into_iter().flatten() {
                rows.push(vec![k.clone(), s(val)]);
            }
            table(&rows);
        }
        DeviceCmd::Replug => {
            let v = to_json(&c.replug(a.dev()).await.map_err(failed)?);
            output(&a, &v, &format!("{} replugged", a.dev()));
        }
        DeviceCmd::Reset => {
            let v = to_json(&c.reset(a.dev()).await.map_err(failed)?);
            output(
                &a,
                &v,
                &format!(
                    "{}: every credential, the PIN and the settings are gone",
                    a.dev()
                ),
            );
        }
        DeviceCmd::Add { name, settings } => {
            let mut obj = serde_json::Map::new();
            for kv in &settings {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    Error::Runtime(format!("--set {kv}: give KEY=VALUE, like transport=udp"))
                })?;
                let value = match v {
                    "true" => json!(true),
                    "false" => json!(false),
                    v if v.contains(',') => json!(v.split(',').collect::<Vec<_>>()),
                    v => json!(v),
                };
                obj.insert(k.trim_start_matches("--").to_owned(), value);
            }
            let add = api::AddDevice {
                name: name.clone(),
                settings: Some(Value::Object(obj)),
            };
            let d = c.add_device(&add).await.map_err(failed)?;
            output(
                &a,
                &to_json(&d),
                &format!("{name} is plugged in ({})", d.address),
            );
        }
        DeviceCmd::Remove => {
            let v = to_json(&c.remove_device(a.dev()).await.map_err(failed)?);
            output(&a, &v, &format!("{} is unplugged", a.dev()));
        }
        DeviceCmd::Clone {
            name,
            credentials,
            counter_offset,
            clone_state,
        } => {
            let clone = api::CloneDevice {
                name: name.clone(),
                credentials: (!credentials.is_empty()).then(|| credentials.clone()),
                counter_offset,
                state: clone_state,
                udp_listen: None,
            };
            // One request; how many credentials it copies decides whether
            // it is worth a progress line.
            let many = if credentials.is_empty() {
                let st = c.device(a.dev()).await.map_err(failed)?;
                st.stored_credentials.unwrap_or(0)
            } else {
                credentials.len()
            };
            let progress = announce(
                "devices clone",
                many,
                format!("copying {many} credentials from {} to {name}", a.dev()),
            );
            let v = c.clone_device(a.dev(), &clone).await;
            settle(
                progress,
                &format!("{many} credentials"),
                v.is_ok(),
                "cloned",
            );
            let d = v.map_err(failed)?;
            output(
                &a,
                &to_json(&d),
                &format!(
                    "{name}: a clone of {} with {} credential(s), plugged in ({})",
                    a.dev(),
                    d.stored_credentials
                        .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                    d.address
                ),
            );
        }
    }
    Ok(())
}
