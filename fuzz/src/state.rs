//! The `state_file` and `state_records` targets: the durable store
//! (`fidosim-store`) on hostile state files.
//!
//! * `state_file`: arbitrary bytes are the state file, with runs of a byte
//!   written short (see [`expand_runs`]: a redb file is 3.6 MB, nearly
//!   all runs, far too long to mutate as it is). `DurableStore::open`
//!   must refuse a damaged or foreign file with an error that names the
//!   file; a file that opens is read completely (every credential, counter,
//!   the device state, the large-blob array, the master secret, the stored
//!   attestation identities), written to and closed, and none of it may
//!   panic or abort.
//! * `state_records`: a well-formed redb file whose tables hold hostile
//!   records: the input is a list of `(table, key, value)` records (see
//!   [`parse_records`]) written with redb into `meta`, `credentials` and
//!   `counters`, so the store's record codec decodes arbitrary bytes. What
//!   opens is read, written to (a new credential, a counter step, the
//!   device state, the large-blob array) and closed; it must then open
//!   again, with the same credentials, counters, device state, large-blob
//!   array and master secret as the store held when it was closed.
//!
//! The store contains redb's panics (`catch_unwind` at its boundary, see
//! `store/src/lib.rs`), but libFuzzer's panic hook aborts on any panic,
//! caught or not. [`quiet_panics`] (the targets' `init`) replaces it with a
//! hook that only keeps the message: a panic that leaves the store still
//! reaches libfuzzer-sys, which aborts, and [`run_file`] / [`run_records`]
//! print the kept message first.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use authenticator_core::crypto::sha256;
use authenticator_core::store::{CounterScope, Credential, CredentialStore, User};
use fidosim_store::DurableStore;
use redb::{Database, TableDefinition};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const CREDENTIALS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("credentials");
const COUNTERS: TableDefinition<&[u8], u32> = TableDefinition::new("counters");

thread_local! {
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Replaces the panic hook with one that keeps the message (and location)
/// for [`run_file`] and [`run_records`] to print when a panic escapes.
/// Panics the store contains are counted, and the 1st, 2nd, 4th, 8th, …
/// printed (`contained panic #n: …`), so that a run's log shows which
/// redb assertions damaged files reach.
pub fn quiet_panics() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PANICS: AtomicU64 = AtomicU64::new(0);
    std::panic::set_hook(Box::new(|info| {
        let n = PANICS.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            eprintln!("contained panic #{n} (or escaping, see below): {info}");
        }
        LAST_PANIC.with(|p| *p.borrow_mut() = info.to_string());
    }));
}

/// Runs `f`; a panic that escapes it prints the kept message and goes on.
fn reporting(f: impl FnOnce()) {
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        LAST_PANIC.with(|m| eprintln!("escaped the store: {}", m.borrow()));
        std::panic::resume_unwind(p);
    }
}

/// The longest state file [`expand_runs`] makes.
pub const MAX_FILE: usize = 16 << 20;

/// `state_file`'s input format: bytes are copied, except that `0x00 ‖ v
/// ‖ a ‖ b` stands for `u16::from_le_bytes([a, b]) + 1` bytes `v` (a
/// 0x00 with fewer than three bytes after it is one zero), up to
/// [`MAX_FILE`]. A redb file is mostly runs of 0x00 and 0xFF (its
/// allocator bitmaps). Every input is some file, and every file has an
/// input ([`shrink_runs`]).
pub fn expand_runs(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() && out.len() < MAX_FILE {
        if data[i] == 0 {
            let (v, n) = match data.get(i + 1..i + 4) {
                Some(&[v, a, b]) => (v, usize::from(u16::from_le_bytes([a, b])) + 1),
                _ => (0, 1),
            };
            out.resize((out.len() + n).min(MAX_FILE), v);
            i += 4;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// The inverse of [`expand_runs`] (for seeds).
pub fn shrink_runs(file: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < file.len() {
        let v = file[i];
        let run = file[i..]
            .iter()
            .take(1 << 16)
            .take_while(|&&b| b == v)
            .count();
        if v == 0 || run >= 5 {
            let n = u16::try_from(run - 1).expect("at most 2^16 bytes");
            out.push(0);
            out.push(v);
            out.extend_from_slice(&n.to_le_bytes());
            i += run;
        } else {
            out.push(v);
            i += 1;
        }
    }
    out
}

/// A per-process scratch file path (removed before each use), on tmpfs
/// where there is one: the store syncs every commit.
fn scratch(name: &str) -> PathBuf {
    let base = Path::new("/dev/shm");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("fidosim-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// An open result: an error must name the file.
fn opened(path: &Path) -> Option<DurableStore> {
    match DurableStore::open(path) {
        Ok(s) => Some(s),
        Err(e) => {
            let shown = path.display().to_string();
            assert!(e.0.contains(&shown), "the error does not name {shown}: {e}");
            None
        }
    }
}

/// Everything a store holds, as text, to compare before a close and after
/// the next open.
fn snapshot(s: &DurableStore) -> String {
    let mut out = String::new();
    let mut creds = s.all_stored().unwrap_or_default();
    creds.sort_by(|a, b| a.id.cmp(&b.id));
    for c in &creds {
        out += &format!(
            "cred {:02x?} rp {:?} {:?} user {:?} disc {} prot {} blob {:?} alg {:?} order {} counter {:?}\n",
            c.id,
            c.rp_id,
            c.rp_name,
            c.user,
            c.discoverable,
            c.cred_protect,
            c.cred_blob,
            c.key.algorithm(),
            c.created_order,
            s.counter(CounterScope::Credential(sha256(&c.id))),
        );
    }
    out += &format!("global {:?}\n", s.counter(CounterScope::Global));
    out += &format!("state {:?}\n", s.device_state());
    out += &format!("blob {:?}\n", s.large_blob_array());
    out += &format!(
        "master {:?}\n",
        s.master_secret().map(|m| m.map(|m| m.to_vec()))
    );
    out
}

/// Reads everything, then writes: a new credential, a counter step, the
/// device state and large-blob array again, an update and a delete.
fn exercise(s: &mut DurableStore, seed: u8) {
    let _ = s.count_discoverable();
    let _ = s.remaining_discoverable();
    let _ = s.all_discoverable();
    for c in s.all_stored().unwrap_or_default() {
        let _ = s.discoverable(&c.rp_id_hash);
        let _ = s.discoverable_for_user(&c.rp_id_hash, &c.user.id);
        let _ = s.get(&c.id);
    }
    // Stored identities are decoded; none is made (`make` refuses).
    for name in ["batch", "self", "enterprise"] {
        let _ = s.identity(name, || Err("not made while fuzzing".into()));
    }
    let _ = s.next_counter(CounterScope::Global, 1);
    let existing = s.all_stored().unwrap_or_default();
    if let Some(c) = existing.first() {
        let _ = s.next_counter(CounterScope::Credential(sha256(&c.id)), u32::from(seed));
        let _ = s.update_user(
            &c.id,
            &User {
                id: c.user.id.clone(),
                name: Some("fuzz".into()),
                display_name: None,
            },
        );
    }
    let key = match seed % 2 {
        0 => crate::fixture().es256_key.clone(),
        _ => crate::fixture().eddsa_key.clone(),
    };
    let rp = "fuzz.example";
    let new = Credential {
        id: vec![0xF0, seed],
        rp_id: rp.into(),
        rp_id_hash: sha256(rp.as_bytes()),
        rp_name: None,
        user: User {
            id: vec![seed],
            name: None,
            display_name: None,
        },
        key,
        discoverable: seed % 3 == 0,
        cred_protect: seed % 4,
        cred_blob: None,
        created_order: 0,
    };
    let _ = s.save(new, None, u32::from(seed));
    if let Ok(state) = s.device_state() {
        let _ = s.set_device_state(&state);
    }
    if let Ok(Some(blob)) = s.large_blob_array() {
        let _ = s.set_large_blob_array(&blob);
    }
    if seed % 5 == 0 {
        if let Some(c) = existing.last() {
            let _ = s.delete(&c.id);
        }
    }
}

/// The `state_file` target: `data` is the state file.
pub fn run_file(data: &[u8]) {
    reporting(|| {
        let path = scratch("state_file.redb");
        std::fs::write(&path, expand_runs(data)).expect("scratch file");
        if let Some(mut s) = opened(&path) {
            let seed = data.get(11).copied().unwrap_or(0);
            exercise(&mut s, seed);
            drop(s);
            // Whatever the store did, opening the file again refuses it
            // with a message or opens it.
            drop(opened(&path));
        }
    });
}

/// One record of `state_records`' input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 0 `meta`, 1 `credentials`, 2 `counters` (the byte modulo 3).
    pub table: u8,
    /// The key (for `meta`, read as UTF-8, lossily).
    pub key: Vec<u8>,
    /// The value (for `counters`, the first four bytes, little endian,
    /// zero-padded).
    pub value: Vec<u8>,
}

/// The input format of `state_records`: records of `table (1 byte) ‖ key
/// length (1 byte) ‖ key ‖ value length (2 bytes, little endian) ‖ value`,
/// until the input ends; a record cut short is dropped.
pub fn parse_records(mut data: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let table = data[0] % 3;
        let klen = usize::from(data[1]);
        let Some(key) = data.get(2..2 + klen) else {
            break;
        };
        let rest = &data[2 + klen..];
        let Some(len) = rest.get(..2) else {
            break;
        };
        let vlen = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let Some(value) = rest.get(2..2 + vlen) else {
            break;
        };
        out.push(Record {
            table,
            key: key.to_vec(),
            value: value.to_vec(),
        });
        data = &rest[2 + vlen..];
    }
    out
}

/// The inverse of [`parse_records`] (for seeds).
pub fn encode_records(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.push(r.table);
        out.push(u8::try_from(r.key.len()).expect("a key under 256 bytes"));
        out.extend_from_slice(&r.key);
        let len = u16::try_from(r.value.len()).expect("a value under 64 KiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&r.value);
    }
    out
}

/// Every record of a state file (for seeds).
pub fn read_records(path: &Path) -> Vec<Record> {
    use redb::{ReadableTable, TableHandle};
    let db = Database::open(path).expect("a state file");
    let txn = db.begin_read().expect("read");
    let mut out = Vec::new();
    for handle in txn.list_tables().expect("tables") {
        match handle.name() {
            "meta" => {
                let t = txn.open_table(META).expect("meta");
                for row in t.iter().expect("rows") {
                    let (k, v) = row.expect("row");
                    out.push(Record {
                        table: 0,
                        key: k.value().as_bytes().to_vec(),
                        value: v.value().to_vec(),
                    });
                }
            }
            "credentials" => {
                let t = txn.open_table(CREDENTIALS).expect("credentials");
                for row in t.iter().expect("rows") {
                    let (k, v) = row.expect("row");
                    out.push(Record {
                        table: 1,
                        key: k.value().to_vec(),
                        value: v.value().to_vec(),
                    });
                }
            }
            "counters" => {
                let t = txn.open_table(COUNTERS).expect("counters");
                for row in t.iter().expect("rows") {
                    let (k, v) = row.expect("row");
                    out.push(Record {
                        table: 2,
                        key: k.value().to_vec(),
                        value: v.value().to_le_bytes().to_vec(),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Writes `records` into a new redb file at `path`.
fn write_records(path: &Path, records: &[Record]) {
    let db = Database::create(path).expect("a new redb file");
    let txn = db.begin_write().expect("write");
    {
        let mut meta = txn.open_table(META).expect("meta");
        let mut creds = txn.open_table(CREDENTIALS).expect("credentials");
        let mut counters = txn.open_table(COUNTERS).expect("counters");
        for r in records {
            match r.table {
                0 => {
                    let key = String::from_utf8_lossy(&r.key);
                    meta.insert(key.as_ref(), r.value.as_slice())
                        .expect("insert");
                }
                1 => {
                    creds
                        .insert(r.key.as_slice(), r.value.as_slice())
                        .expect("insert");
                }
                _ => {
                    let mut b = [0u8; 4];
                    let n = r.value.len().min(4);
                    b[..n].copy_from_slice(&r.value[..n]);
                    counters
                        .insert(r.key.as_slice(), u32::from_le_bytes(b))
                        .expect("insert");
                }
            }
        }
    }
    txn.commit().expect("commit");
}

/// The `state_records` target.
pub fn run_records(data: &[u8]) {
    reporting(|| {
        let records = parse_records(data);
        let path = scratch("state_records.redb");
        write_records(&path, &records);
        let Some(mut s) = opened(&path) else {
            return;
        };
        let seed = data.first().copied().unwrap_or(0);
        exercise(&mut s, seed);
        let held = snapshot(&s);
        drop(s);
        let again = DurableStore::open(&path)
            .unwrap_or_else(|e| panic!("a file the store opened and wrote is refused: {e}"));
        assert_eq!(
            held,
            snapshot(&again),
            "the state after a reopen differs from the state at close"
        );
    });
}
