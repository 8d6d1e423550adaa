//! `fidosim webauthn create|get`: the browser-free WebAuthn client on the
//! command line, against an in-process key (state in a file) or a running
//! key on UDP.

use authenticator_core::accounts::{AccountChoice, AccountPick, AccountRule};
use fidosim_webauthn::json::{parse_options, CreationOptions, RequestOptions};
use fidosim_webauthn::udp::UdpDevice;
use fidosim_webauthn::{Account, Breaks, Client, ClientError, CtapDevice};

use std::path::{Path, PathBuf};

use crate::args::{WebauthnArgs, WebauthnCmd, WebauthnGetArgs};
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
/// in this process on a state file (whose path comes along), its virtual
/// user choosing accounts by `accounts`.
fn device(
    a: &WebauthnArgs,
    accounts: &AccountChoice,
) -> Result<(Box<dyn CtapDevice>, Option<PathBuf>), Error> {
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
        account_choice: accounts.to_string(),
        ..Default::default()
    };
    let config = fidosim_daemon::config::RunConfig::from_settings("webauthn", settings)
        .map_err(|e| Error::Config(e.0))?;
    let (authenticator, _) = fidosim_daemon::assemble::open_authenticator(&config)?;
    Ok((Box::new(authenticator), Some(state)))
}

/// The account `webauthn get` asks for, and the in-process key's policy:
/// --account-choice as given, else one that picks the asked account on the
/// device and declines when it is missing (so no other account signs),
/// else `newest`.
fn accounts(a: &WebauthnGetArgs) -> (Account, AccountChoice) {
    let (account, pick) = match (&a.user_handle, &a.credential_id) {
        (Some(h), _) => (
            Account::UserHandle(h.0.clone()),
            Some(AccountPick::User(h.0.clone())),
        ),
        (None, Some(id)) => (
            Account::CredentialId(id.0.clone()),
            Some(AccountPick::Credential(id.0.clone())),
        ),
        (None, None) => (Account::First, None),
    };
    let policy = match (&a.account_choice, pick) {
        (Some(given), _) => given.clone(),
        (None, Some(pick)) => AccountChoice {
            picks: vec![pick],
            otherwise: AccountRule::Refuse,
        },
        (None, None) => AccountChoice::default(),
    };
    (account, policy)
}

/// What `webauthn get` says when it returns no assertion.
fn get_error(
    e: &ClientError,
    a: &WebauthnGetArgs,
    account: &Account,
    state: Option<&Path>,
) -> Error {
    let list = match state {
        Some(s) => format!("`fidosim credentials list --state {}`", s.display()),
        None => {
            "`fidosim credentials list` (--device NAME for a key other than `default`)".to_owned()
        }
    };
    // Our own policy picks the asked account whenever it is among several
    // (CTAP 2.1 §6.2.2 step 12.2) and declines (0x27) when it is not; a key
    // with a single credential for the RP answers with it unasked, and the
    // client refuses it when it is another account's.
    let own_policy = *account != Account::First && a.account_choice.is_none();
    match (e, state) {
        // 0x2E: nothing for the RP at all.
        (ClientError::NotAllowed(m), Some(s)) if m.contains("no credential") => {
            Error::Runtime(format!(
                "{e}; register one first with `fidosim webauthn create` on the same key (--state {})",
                s.display()
            ))
        }
        (ClientError::NotAllowed(m), Some(s)) if own_policy && m.contains("(0x27)") => {
            Error::Runtime(format!(
                "no discoverable credential for {account} on this key (--state {}) for this RP, so none signed; {list} shows the key's credentials",
                s.display()
            ))
        }
        (ClientError::NoAccount(_), Some(s)) if own_policy => Error::Runtime(format!(
            "no discoverable credential for {account} on this key (--state {}) for this RP ({e}); {list} shows the key's credentials",
            s.display()
        )),
        (ClientError::NoAccount(_), Some(_))
            if a.account_choice.as_ref().is_some_and(|p| !p.is_platform()) =>
        {
            Error::Runtime(format!(
                "{e}; {list} shows the key's credentials; without --account-choice, or with --account-choice platform, the key's virtual user lets the asked account sign when it is there"
            ))
        }
        (ClientError::NoAccount(_), Some(_)) => {
            Error::Runtime(format!("{e}; {list} shows the key's credentials"))
        }
        (ClientError::NoAccount(_), None) => Error::Runtime(format!(
            "{e}; {list} shows the running key's credentials; its virtual user picks by its own --account-choice (`fidosim run --account-choice platform` leaves the choice to this client)"
        )),
        _ => Error::Runtime(e.to_string()),
    }
}

pub(crate) fn run(cmd: WebauthnCmd) -> Result<(), Error> {
    let out = match cmd {
        WebauthnCmd::Create(a) => {
            let file = a.options.as_deref();
            let options: CreationOptions = parse_options(&read_options(file)?)
                .map_err(|e| bad_options(file, &e, "PublicKeyCredentialCreationOptionsJSON"))?;
            let (mut dev, _) = device(&a, &AccountChoice::default())?;
            let r = client(&a)
                .create(dev.as_mut(), &options)
                .map_err(|e| Error::Runtime(e.to_string()))?;
            serde_json::to_string_pretty(&r)
        }
        WebauthnCmd::Get(a) => {
            if let (Some(policy), Some(addr)) = (&a.account_choice, a.common.udp) {
                return Err(Error::Config(format!(
                    "--account-choice {policy} sets the in-process key's virtual user, and --udp {addr} talks to a running key, whose virtual user follows that key's own policy; drop --account-choice (start the key with `fidosim run --account-choice {policy}` instead), or drop --udp"
                )));
            }
            let file = a.common.options.as_deref();
            let options: RequestOptions = parse_options(&read_options(file)?)
                .map_err(|e| bad_options(file, &e, "PublicKeyCredentialRequestOptionsJSON"))?;
            let (account, policy) = accounts(&a);
            let (mut dev, state) = device(&a.common, &policy)?;
            let mut c = client(&a.common);
            c.account = account.clone();
            let r = c
                .get(dev.as_mut(), &options)
                .map_err(|e| get_error(&e, &a, &account, state.as_deref()))?;
            serde_json::to_string_pretty(&r)
        }
    }
    .map_err(|e| Error::Runtime(format!("cannot print the response: {e}")))?;
    out!("{out}");
    Ok(())
}
