//! `fidosim devices …`: the running keys.

use super::*;

pub(crate) async fn devices(a: ClientArgs, cmd: DeviceCmd) -> Result<(), Error> {
    let t = Target::of(&a)?;
    match cmd {
        DeviceCmd::List => {
            let v = call(&t, Method::GET, "/v1/devices", None).await?;
            if a.json {
                print_json(&v);
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
            for d in v.as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&d["name"]),
                    s(&d["transport"]),
                    s(&d["presence"]),
                    s(&d["uv"]),
                    s(&d["storedCredentials"]),
                    s(&d["state"]),
                ]);
            }
            table(&rows);
        }
        DeviceCmd::Status => {
            let v = call(&t, Method::GET, &format!("/v1/devices/{}", a.dev()), None).await?;
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
            let v = call(
                &t,
                Method::POST,
                &format!("/v1/devices/{}/replug", a.dev()),
                None,
            )
            .await?;
            output(&a, &v, &format!("{} replugged", a.dev()));
        }
        DeviceCmd::Reset => {
            let v = call(
                &t,
                Method::POST,
                &format!("/v1/devices/{}/reset", a.dev()),
                None,
            )
            .await?;
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
            let v = call(
                &t,
                Method::POST,
                "/v1/devices",
                Some(json!({ "name": name, "settings": obj })),
            )
            .await?;
            output(
                &a,
                &v,
                &format!("{name} is plugged in ({})", s(&v["address"])),
            );
        }
        DeviceCmd::Remove => {
            let v = call(
                &t,
                Method::DELETE,
                &format!("/v1/devices/{}", a.dev()),
                None,
            )
            .await?;
            output(&a, &v, &format!("{} is unplugged", a.dev()));
        }
        DeviceCmd::Clone {
            name,
            credentials,
            counter_offset,
            clone_state,
        } => {
            let mut body = json!({ "name": name, "counterOffset": counter_offset });
            if !credentials.is_empty() {
                body["credentials"] = json!(credentials);
            }
            if let Some(st) = clone_state {
                body["state"] = json!(st);
            }
            // One request; how many credentials it copies decides whether
            // it is worth a progress line.
            let many = if credentials.is_empty() {
                let st = call(&t, Method::GET, &format!("/v1/devices/{}", a.dev()), None).await?;
                st["storedCredentials"].as_u64().unwrap_or(0) as usize
            } else {
                credentials.len()
            };
            let progress = announce(
                "devices clone",
                many,
                format!("copying {many} credentials from {} to {name}", a.dev()),
            );
            let v = call(
                &t,
                Method::POST,
                &format!("/v1/devices/{}/clone", a.dev()),
                Some(body),
            )
            .await;
            settle(
                progress,
                &format!("{many} credentials"),
                v.is_ok(),
                "cloned",
            );
            let v = v?;
            output(
                &a,
                &v,
                &format!(
                    "{name}: a clone of {} with {} credential(s), plugged in ({})",
                    a.dev(),
                    s(&v["storedCredentials"]),
                    s(&v["address"])
                ),
            );
        }
    }
    Ok(())
}
