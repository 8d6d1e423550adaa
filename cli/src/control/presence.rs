//! `fidosim presence …` and `fidosim events`: the virtual user and the
//! event stream.

use super::*;

pub(crate) async fn presence(a: ClientArgs, cmd: PresenceCmd) -> Result<(), Error> {
    let c = client(&a)?;
    let dev = a.dev();
    let (v, what) = match &cmd {
        PresenceCmd::Set { mode } => {
            let change = api::PresenceChange {
                presence: Some(mode.clone()),
                ..api::PresenceChange::default()
            };
            (
                to_json(&c.set_presence(dev, &change).await.map_err(failed)?),
                format!("presence of {dev} is now {mode}"),
            )
        }
        PresenceCmd::Uv { outcome } => {
            let change = api::PresenceChange {
                uv: Some(outcome.to_string()),
                ..api::PresenceChange::default()
            };
            (
                to_json(&c.set_presence(dev, &change).await.map_err(failed)?),
                format!("built-in UV of {dev} will {outcome}"),
            )
        }
        PresenceCmd::AccountChoice { policy } => {
            let change = api::PresenceChange {
                account_choice: Some(policy.clone()),
                ..api::PresenceChange::default()
            };
            let answer = c.set_presence(dev, &change).await.map_err(failed)?;
            // The daemon's canonical form: what a later status shows.
            let what = format!("account choice of {dev} is now {}", answer.account_choice);
            (to_json(&answer), what)
        }
        PresenceCmd::Touch => (
            to_json(&c.touch(dev).await.map_err(failed)?),
            format!("touched {dev}"),
        ),
    };
    output(&a, &v, &what);
    Ok(())
}

/// Streams events as JSON lines until the daemon goes away.
pub(crate) async fn events(a: ClientArgs) -> Result<(), Error> {
    let c = client(&a)?;
    let device = a.device.is_some().then(|| a.dev());
    let mut stream = c.events(device).await.map_err(failed)?;
    let mut out = std::io::stdout();
    while let Some(chunk) = stream.next_chunk().await {
        let data = chunk.map_err(failed)?;
        // The reader went away (`| head`): done.
        if out.write_all(&data).and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
