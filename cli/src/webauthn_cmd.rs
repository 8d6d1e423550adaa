//! `fidosim webauthn create|get`: the browser-free WebAuthn client on the
//! command line, against an in-process key (state in a file) or a running
//! key on UDP.

use fidosim_webauthn::json::{parse_options, CreationOptions, RequestOptions};
use fidosim_webauthn::udp::UdpDevice;
use fidosim_webauthn::{Breaks, Client, CtapDevice};

use crate::args::{WebauthnArgs, WebauthnCmd};
use crate::run::Error;

fn read_options(file: Option<&str>) -> Result<String, Error> {
    match file {
        None | Some("-") => {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t).map_err(|e| {
                Error::Runtime(format!("cannot read the options from standard input: {e}"))
            })?;
            Ok(t)
        }
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| Error::Runtime(format!("cannot read the options from {f}: {e}"))),
    }
}

fn client(a: &WebauthnArgs) -> Client {
    let mut c = Client::new(&a.origin);
    c.top_origin.clone_from(&a.top_origin);
    c.breaks = Breaks {
        insecure_origin: a.breaks.iter().any(|b| b == "insecure-origin"),
        foreign_rp_id: a.breaks.iter().any(|b| b == "foreign-rp-id"),
    };
    c
}

/// The key that answers: a running one on UDP, or fidosim's authenticator
/// in this process on a state file.
fn device(a: &WebauthnArgs) -> Result<Box<dyn CtapDevice>, Error> {
    if let Some(addr) = a.udp {
        return Ok(Box::new(UdpDevice::connect(addr).map_err(|e| {
            Error::Runtime(format!(
                "{e}; is `fidosim run --transport udp --udp-listen {addr}` running?"
            ))
        })?));
    }
    let state = match &a.state {
        Some(p) => p.clone(),
        None => crate::state::default_dir()
            .map_err(|e| Error::Runtime(e.0))?
            .join("webauthn.redb"),
    };
    let table: toml::Table = [(
        "state".to_owned(),
        toml::Value::String(state.display().to_string()),
    )]
    .into_iter()
    .collect();
    let config =
        crate::config::device_from_table("webauthn", &table).map_err(|e| Error::Config(e.0))?;
    let (authenticator, _) = crate::run::open_authenticator(&config)?;
    Ok(Box::new(authenticator))
}

pub(crate) fn run(cmd: WebauthnCmd) -> Result<(), Error> {
    let out = match cmd {
        WebauthnCmd::Create(a) => {
            let options: CreationOptions = parse_options(&read_options(a.options.as_deref())?)
                .map_err(|e| Error::Runtime(e.to_string()))?;
            let mut dev = device(&a)?;
            let r = client(&a)
                .create(dev.as_mut(), &options)
                .map_err(|e| Error::Runtime(e.to_string()))?;
            serde_json::to_string_pretty(&r)
        }
        WebauthnCmd::Get(a) => {
            let options: RequestOptions = parse_options(&read_options(a.options.as_deref())?)
                .map_err(|e| Error::Runtime(e.to_string()))?;
            let mut dev = device(&a)?;
            let r = client(&a)
                .get(dev.as_mut(), &options)
                .map_err(|e| Error::Runtime(e.to_string()))?;
            serde_json::to_string_pretty(&r)
        }
    }
    .map_err(|e| Error::Runtime(format!("cannot print the response: {e}")))?;
    out!("{out}");
    Ok(())
}
