//! `fidosim counters …`: signature counters.

use super::*;
use authenticator_core::admin::{self, AdminError};

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
            let change = api::CounterModeChange {
                mode: Some(mode),
                overflow,
            };
            let v = client(&a)?
                .set_counter_mode(a.dev(), &change)
                .await
                .map_err(failed)?;
            output(
                &a,
                &to_json(&v),
                &format!(
                    "counters of {}: {}, {} at 2^32-1",
                    a.dev(),
                    v.mode,
                    v.overflow
                ),
            );
            return Ok(());
        }
    };
    if let Some(path) = a.state.clone() {
        // The default settings: one counter per credential.
        let bytes = parse_id(&id)?;
        let mut store = open_offline(&path, false)?;
        admin::set_sign_count(&mut store, &DeviceConfig::default(), &bytes, value).map_err(
            |e| match e {
                AdminError::NotFound(_) => not_in_file(&id, &path),
                AdminError::Store(e) => file_failed("write", &path, &e),
                other => Error::Runtime(creds::CredError::from(other).to_string()),
            },
        )?;
        let v = json!({ "credentialId": creds::b64(&bytes), "signCount": value });
        output(&a, &v, &format!("counter of {id} set to {value}"));
        return Ok(());
    }
    let v = client(&a)?
        .set_counter(a.dev(), &id_path(&id)?, value)
        .await
        .map_err(failed)?;
    output(&a, &to_json(&v), &format!("counter of {id} set to {value}"));
    Ok(())
}
