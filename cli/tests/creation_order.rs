//! "Most recently created first" (CTAP 2.1 §6.2.2 step 12.2.1) across
//! daemon restarts, `devices replug` and imports: getAssertion, `credentials
//! list` and an export agree on the order in which credentials were made.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fidosim_tests::control::{self, api, Events};
use fidosim_tests::daemon::Daemon;
use fidosim_tests::hid::UdpHid;
use fidosim_tests::requests;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");
const T: Duration = Duration::from_secs(10);
const RP: &str = "order.example";

fn cli(sock: &Path, args: &[&str]) -> (i32, String, String) {
    control::cli(Path::new(BIN), sock, args)
}

fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A discoverable credential for `user` on [`RP`]; its ID.
fn register(addr: SocketAddr, user: &[u8]) -> Vec<u8> {
    let hid = UdpHid::connect(addr).unwrap();
    let cid = hid.init().unwrap();
    let (resp, _) = hid
        .cbor(cid, &requests::make_discoverable(RP, &[1; 32], user), T)
        .unwrap();
    requests::credential_id(&resp).unwrap_or_else(|| panic!("makeCredential: {resp:02x?}"))
}

/// The credentials getAssertion offers for [`RP`] without an allowList,
/// in the key's order (the key must leave the choice to the platform).
fn offered(addr: SocketAddr) -> Vec<Vec<u8>> {
    let hid = UdpHid::connect(addr).unwrap();
    let cid = hid.init().unwrap();
    let (first, _) = hid
        .cbor(cid, &requests::get_assertion_discoverable(RP, &[2; 32]), T)
        .unwrap();
    let mut ids = vec![requests::assertion(&first).unwrap().0];
    loop {
        let (next, _) = hid.cbor(cid, &[0x08], T).unwrap();
        match requests::assertion(&next) {
            Some((id, _)) => ids.push(id),
            None => {
                // CTAP2_ERR_NOT_ALLOWED once every credential was offered.
                assert_eq!(next, [0x30], "getNextAssertion");
                return ids;
            }
        }
    }
}

/// `credentials list --json`: the IDs (base64) and creation orders.
fn listed(sock: &Path) -> Vec<(String, u64)> {
    let (code, out, err) = cli(sock, &["credentials", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["credentialId"].as_str().unwrap().to_owned(),
                c["creationOrder"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn temp_state(tag: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("fidosim-order-{tag}-{}", std::process::id()))
        .join("state.redb")
}

#[test]
fn newest_first_survives_restarts_replugs_and_imports() {
    let state = temp_state("restart");
    let _ = std::fs::remove_dir_all(state.parent().unwrap());
    let state_arg = state.to_str().unwrap().to_owned();
    let args = ["--state", &state_arg, "--account-choice", "platform"];
    let mut made = Vec::new();
    // Two credentials, a restart (the process clock starts again), a third,
    // a replug (a power cycle), a fourth.
    let d = Daemon::udp(Path::new(BIN), &args);
    made.push(register(d.addr, b"u1"));
    made.push(register(d.addr, b"u2"));
    assert!(d.stop().is_some());
    let d = Daemon::udp(Path::new(BIN), &args);
    made.push(register(d.addr, b"u3"));
    // The replug is queued to the device: wait until it happened, so that
    // the next registration does not meet it half-way.
    let mut events = Events::follow(&d.control, "?device=default");
    let (code, _) = api(&d.control, "POST", "/v1/devices/default/replug", None);
    assert_eq!(code, 200);
    let deadline = std::time::Instant::now() + T;
    loop {
        let e = events
            .next_before(deadline)
            .expect("the device.replugged event");
        if e["type"] == "device.replugged" {
            break;
        }
    }
    made.push(register(d.addr, b"u4"));
    let newest_first: Vec<Vec<u8>> = made.iter().rev().cloned().collect();
    assert_eq!(offered(d.addr), newest_first);
    let listed_ids: Vec<String> = listed(&d.control).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        listed_ids,
        newest_first.iter().map(|id| b64(id)).collect::<Vec<_>>()
    );
    // The export carries the order; a key that holds a credential already
    // takes the import after it, in the exported order.
    let (code, exported, err) = cli(&d.control, &["credentials", "export"]);
    assert_eq!(code, 0, "{err}");
    let other = Daemon::udp(Path::new(BIN), &["--account-choice", "platform"]);
    let own = register(other.addr, b"u0");
    let file = state.with_file_name("export.json");
    std::fs::write(&file, &exported).unwrap();
    let (code, _, err) = cli(
        &other.control,
        &["credentials", "import", file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let mut expected = newest_first.clone();
    expected.push(own);
    assert_eq!(offered(other.addr), expected);
    let orders: Vec<u64> = listed(&other.control).into_iter().map(|(_, o)| o).collect();
    assert_eq!(orders, [5, 4, 3, 2, 1]);
    // The default account choice picks the newest itself, also after a
    // restart: the credential registered last.
    assert!(d.stop().is_some());
    let d = Daemon::udp(Path::new(BIN), &["--state", &state_arg]);
    let hid = UdpHid::connect(d.addr).unwrap();
    let cid = hid.init().unwrap();
    let (resp, _) = hid
        .cbor(cid, &requests::get_assertion_discoverable(RP, &[3; 32]), T)
        .unwrap();
    assert_eq!(requests::assertion(&resp).unwrap().0, made[3]);
    let _ = std::fs::remove_dir_all(state.parent().unwrap());
}
