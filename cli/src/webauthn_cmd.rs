//! `fidosim webauthn create|get`: the browser-free WebAuthn client on the
//! command line, against an in-process key (state in a file) or a running
//! key on UDP.

use fidosim_webauthn::json::{parse_options, CreationOptions, RequestOptions};
use fidosim_webauthn::udp::UdpDevice;
use fidosim_webauthn::{Breaks, Client, ClientError, CtapDevice};

use std::path::PathBuf;

use crate::args::{WebauthnArgs, WebauthnCmd};
use crate::run::Error;

fn read_options(file: Option<&str>) -> Result<String, Error> {
    match file {
        None | Some("-") => {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t).map_err(|e| {
                Error::Runtime(format!(
                    "cannot read the options from standard input: {}; give the options file's path instead",
                    crate::run::io_reason(&e)
                ))
            })?;
            if t.trim().is_empty() {
                return Err(Error::Runtime(
                    "no options on standard input; give the options JSON file as an argument, or pipe it in"
                        .into(),
                ));
            }
            Ok(t)
        }
        Some(f) => std::fs::read_to_string(f).map_err(|e| {
            Error::Runtime(format!(
                "cannot read the options from {f}: {}; give the path of the options JSON file, or - for standard input",
                crate::run::io_reason(&e)
            ))
        }),
    }
}

/// Options that could not be parsed: where they came from, what is wrong,
/// and what is expected (`kind`: the WebAuthn type's name).
fn bad_options(file: Option<&str>, e: &ClientError, kind: &str) -> Error {
    let source = match file {
        None | Some("-") => "standard input",
        Some(f) => f,
    };
    Error::Runtime(format!(
        "the options in {source}: {e}; give {kind} (or {{\"publicKey\": …}} around it), as the RP's begin endpoint answers"
    ))
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
/// in this process on a state file (whose path comes along).
fn device(a: &WebauthnArgs) -> Result<(Box<dyn CtapDevice>, Option<PathBuf>), Error> {
    if let Some(addr) = a.udp {
        let dev = UdpDevice::connect(addr).map_err(|e| {
            Error::Runtime(format!(
                "{e}; is `fidosim run --transport udp --udp-listen {addr}` running?"
            ))
        })?;
        return Ok((Box::new(dev), None));
    }
    let state = match &a.state {
        Some(p) => p.clone(),
        None => fidosim_store::default_dir()
            .map_err(|e| Error::Runtime(e.0))?
            .join("webauthn.redb"),
    };
    let settings = fidosim_daemon::settings::DeviceSettings {
        state: Some(state.clone()),
        ..Default::default()
    };
    let config = fidosim_daemon::config::RunConfig::from_settings("webauthn", settings)
        .map_err(|e| Error::Config(e.0))?;
    let (authenticator, _) = fidosim_daemon::assemble::open_authenticator(&config)?;
    Ok((Box::new(authenticator), Some(state)))
}

pub(crate) fn run(cmd: WebauthnCmd) -> Result<(), Error> {
    let out = match cmd {
        WebauthnCmd::Create(a) => {
            let file = a.options.as_deref();
            let options: CreationOptions = parse_options(&read_options(file)?)
                .map_err(|e| bad_options(file, &e, "PublicKeyCredentialCreationOptionsJSON"))?;
            let (mut dev, _) = device(&a)?;
            let r = client(&a)
                .create(dev.as_mut(), &options)
                .map_err(|e| Error::Runtime(e.to_string()))?;
            serde_json::to_string_pretty(&r)
        }
        WebauthnCmd::Get(a) => {
            let file = a.options.as_deref();
            let options: RequestOptions = parse_options(&read_options(file)?)
                .map_err(|e| bad_options(file, &e, "PublicKeyCredentialRequestOptionsJSON"))?;
            let (mut dev, state) = device(&a)?;
            let r = client(&a).get(dev.as_mut(), &options).map_err(|e| {
                match (&e, state) {
                    (ClientError::NotAllowed(m), Some(state)) if m.contains("no credential") => {
                        Error::Runtime(format!(
                            "{e}; register one first with `fidosim webauthn create` on the same key (--state {})",
                            state.display()
                        ))
                    }
                    _ => Error::Runtime(e.to_string()),
                }
            })?;
            serde_json::to_string_pretty(&r)
        }
    }
    .map_err(|e| Error::Runtime(format!("cannot print the response: {e}")))?;
    out!("{out}");
    Ok(())
}
