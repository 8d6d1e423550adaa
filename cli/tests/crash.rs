//! Crash test of the durable state: a load of makeCredential and
//! getAssertion against `fidosim run --state FILE`, killed with SIGKILL at a
//! random moment, over many cycles. After each restart every credential
//! whose makeCredential response arrived must still be discoverable, and
//! every signature counter must be above the last one a response carried.
//!
//! `FIDOSIM_CRASH_CYCLES` sets the number of cycles (default 25; scripts/test
//! runs 100), `FIDOSIM_CRASH_SEED` the seed of the kill moments (default:
//! random, and printed so that a failure can be replayed).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fidosim_tests::daemon::Daemon;
use fidosim_tests::hid::UdpHid;
use fidosim_tests::requests;
use rand_chacha::rand_core::{Rng, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_fidosim");
/// How long a request of the load may take before the load counts the
/// daemon as gone (it ends the cycle, no failure).
const LOAD_T: Duration = Duration::from_millis(400);
/// How long a check may take.
const T: Duration = Duration::from_secs(10);

/// What a client was told: per credential (by RP ID, one credential per
/// RP), its ID and the highest signature counter a response carried.
type Acked = BTreeMap<String, (Vec<u8>, u32)>;

fn temp_state() -> PathBuf {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir()
        .join(format!("fidosim-crash-{}-{n}", std::process::id()))
        .join("state.redb")
}

/// Registers and signs in a loop until the daemon stops answering,
/// recording every acknowledged result.
fn load(addr: std::net::SocketAddr, cycle: usize, acked: Arc<Mutex<Acked>>, stop: Arc<AtomicBool>) {
    let Ok(hid) = UdpHid::connect(addr) else {
        return;
    };
    let Ok(cid) = hid.init() else { return };
    let cdh = [0x5a; 32];
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let rp = format!("c{cycle}-{n}.crash.example");
        let Ok((resp, _)) = hid.cbor(
            cid,
            &requests::make_discoverable(&rp, &cdh, &[n as u8; 8]),
            LOAD_T,
        ) else {
            return;
        };
        let Some(id) = requests::credential_id(&resp) else {
            panic!("makeCredential failed: {resp:02x?}");
        };
        acked.lock().unwrap().insert(rp.clone(), (id.clone(), 0));
        for _ in 0..3 {
            let Ok((resp, _)) = hid.cbor(cid, &requests::get_assertion(&rp, &cdh, &id), LOAD_T)
            else {
                return;
            };
            let Some((_, count)) = requests::assertion(&resp) else {
                panic!("getAssertion failed: {resp:02x?}");
            };
            acked
                .lock()
                .unwrap()
                .insert(rp.clone(), (id.clone(), count));
        }
    }
}

/// Checks one acknowledged credential on a restarted daemon: it is still
/// discoverable, and its counter went on from where it was.
fn check(hid: &UdpHid, cid: u32, rp: &str, id: &[u8], last: u32, seed: u64) -> u32 {
    let (resp, _) = hid
        .cbor(cid, &requests::get_assertion_discoverable(rp, &[1; 32]), T)
        .unwrap();
    let Some((got, count)) = requests::assertion(&resp) else {
        panic!("seed {seed}: the acknowledged credential of {rp} is gone: {resp:02x?}");
    };
    assert_eq!(got, id, "seed {seed}: {rp} has another credential");
    assert!(
        count > last,
        "seed {seed}: {rp}: counter {count} after an acknowledged {last}"
    );
    count
}

#[test]
fn sigkill_loses_nothing_acknowledged() {
    let cycles: usize = std::env::var("FIDOSIM_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let seed: u64 = std::env::var("FIDOSIM_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| getrandom::u64().unwrap());
    eprintln!("crash test: {cycles} cycles, FIDOSIM_CRASH_SEED={seed}");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let state = temp_state();
    let state_arg = state.to_str().unwrap().to_owned();
    let mut all = Acked::new();
    let mut acknowledged_total = 0;
    for cycle in 0..cycles {
        let d = Daemon::udp_with_log(Path::new(BIN), &["--state", &state_arg], "info");
        // The previous cycle's results, checked on the restarted daemon.
        let hid = UdpHid::connect(d.addr).unwrap();
        let cid = hid.init().unwrap();
        let previous: Vec<_> = all
            .iter()
            .filter(|(rp, _)| rp.starts_with(&format!("c{}-", cycle.wrapping_sub(1))))
            .map(|(rp, v)| (rp.clone(), v.clone()))
            .collect();
        for (rp, (id, last)) in previous {
            let now = check(&hid, cid, &rp, &id, last, seed);
            all.insert(rp, (id, now));
        }
        // The load, killed after a random moment.
        let acked = Arc::new(Mutex::new(Acked::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (acked, stop, addr) = (acked.clone(), stop.clone(), d.addr);
            std::thread::spawn(move || load(addr, cycle, acked, stop))
        };
        std::thread::sleep(Duration::from_millis(20 + rng.next_u64() % 250));
        d.kill();
        stop.store(true, Ordering::SeqCst);
        worker.join().expect("the load thread panicked");
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        acknowledged_total += acked.len();
        all.extend(acked);
    }
    // Finally everything acknowledged in any cycle, on a clean start.
    let d = Daemon::udp_with_log(Path::new(BIN), &["--state", &state_arg], "info");
    let hid = UdpHid::connect(d.addr).unwrap();
    let cid = hid.init().unwrap();
    for (rp, (id, last)) in &all {
        check(&hid, cid, rp, id, *last, seed);
    }
    assert_eq!(d.stop(), Some(0));
    eprintln!(
        "crash test: {cycles} SIGKILLs, {acknowledged_total} acknowledged credentials, all there"
    );
    assert!(
        acknowledged_total >= cycles / 2,
        "the load got too few answers ({acknowledged_total}) to test anything"
    );
    let _ = std::fs::remove_dir_all(state.parent().unwrap());
}
