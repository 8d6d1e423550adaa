#![allow(clippy::unwrap_used)]

use super::*;
use authenticator_core::crypto::keys::{Algorithm, PrivateKey};
use rand_chacha::rand_core::SeedableRng;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p =
            std::env::temp_dir().join(format!("fidosim-state-{tag}-{}-{n}", std::process::id()));
        fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn cred(id: u8, rp: &str, user: u8, discoverable: bool) -> Credential {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(id));
    Credential {
        id: vec![id; 16],
        rp_id: rp.into(),
        rp_id_hash: sha256(rp.as_bytes()),
        rp_name: Some(format!("{rp} name")),
        user: User {
            id: vec![user],
            name: Some(format!("user{user}")),
            display_name: None,
        },
        key: PrivateKey::generate(Algorithm::Es256, &mut rng),
        discoverable,
        cred_protect: 0,
        cred_blob: None,
        created_order: u64::from(id),
    }
}

fn ids(s: &DurableStore, rp: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s
        .discoverable(&sha256(rp.as_bytes()))
        .unwrap()
        .into_iter()
        .map(|c| c.id[0])
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn everything_survives_a_reopen() {
    let dir = TempDir::new("reopen");
    let path = dir.file("sub/dev.redb");
    let state = DeviceState {
        pin_hash: Some([3; 16]),
        pin_code_points: 4,
        pin_retries: 6,
        ..DeviceState::default()
    };
    {
        let mut s = DurableStore::open(&path).unwrap();
        assert!(s.master_secret().unwrap().is_none());
        s.set_master_secret(&[5; 32]).unwrap();
        s.save(cred(1, "a.example", 1, true), None, 0).unwrap();
        s.save(cred(2, "a.example", 2, true), None, 7).unwrap();
        s.save(cred(3, "b.example", 1, true), None, 0).unwrap();
        // Replacing: same RP and user handle.
        s.save(cred(4, "a.example", 1, true), Some(&[1; 16]), 0)
            .unwrap();
        s.set_device_state(&state).unwrap();
        s.set_large_blob_array(b"blob").unwrap();
        let mut user = cred(2, "a.example", 2, true).user;
        user.display_name = Some("Two".into());
        assert!(s.update_user(&[2; 16], &user).unwrap());
        assert!(s.delete(&[3; 16]).unwrap());
    }
    let s = DurableStore::open(&path).unwrap();
    assert_eq!(*s.master_secret().unwrap().unwrap(), [5; 32]);
    assert_eq!(ids(&s, "a.example"), vec![2, 4]);
    assert_eq!(ids(&s, "b.example"), Vec::<u8>::new());
    assert_eq!(s.count_discoverable().unwrap(), 2);
    assert_eq!(s.device_state().unwrap(), state);
    assert_eq!(s.large_blob_array().unwrap().as_deref(), Some(&b"blob"[..]));
    let two = s.get(&[2; 16]).unwrap().unwrap();
    assert_eq!(two.user.display_name.as_deref(), Some("Two"));
    assert_eq!(
        two.key.secret_bytes(),
        cred(2, "a.example", 2, true).key.secret_bytes()
    );
    assert_eq!(
        s.counter(CounterScope::Credential(sha256(&[2; 16])))
            .unwrap(),
        7
    );
    // The directory and the file are private.
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

#[test]
fn counters_never_go_back_and_commit_once_per_block() {
    let dir = TempDir::new("counters");
    let path = dir.file("dev.redb");
    let scope = CounterScope::Credential(sha256(&[9; 16]));
    let mut last = 0;
    let mut last_global = 0;
    for round in 0..3 {
        let mut s = DurableStore::open(&path).unwrap();
        let start = s.counter(scope).unwrap();
        assert!(start >= last, "round {round}: {start} < {last}");
        assert!(start <= last + COUNTER_BLOCK);
        for _ in 0..(COUNTER_BLOCK + 5) {
            let v = s.next_counter(scope, 1).unwrap();
            assert!(v > last);
            last = v;
        }
        // Whatever was handed out is covered by the reservation on disk.
        assert!(s.reserved[&scope] >= last);
        let g = s.next_counter(CounterScope::Global, 3).unwrap();
        assert!(
            g >= last_global + 3,
            "round {round}: global {g} after {last_global}"
        );
        last_global = g;
        // Dropped without writing the exact counters back, like a killed
        // process: only the reservations are on disk.
        s.reserved.clear();
    }
    let s = DurableStore::open(&path).unwrap();
    assert!(s.counter(CounterScope::Global).unwrap() >= 9);
}

#[test]
fn a_clean_shutdown_keeps_counters_exact() {
    let dir = TempDir::new("clean");
    let path = dir.file("dev.redb");
    let scope = CounterScope::Credential(sha256(&[4; 16]));
    for round in 1..=3u32 {
        let mut s = DurableStore::open(&path).unwrap();
        assert_eq!(s.counter(scope).unwrap(), (round - 1) * 2);
        s.next_counter(scope, 1).unwrap();
        assert_eq!(s.next_counter(scope, 1).unwrap(), round * 2);
        // A reservation is on disk; dropping the store writes 2, 4, 6 back.
        assert!(s.reserved[&scope] > round * 2);
    }
    let s = DurableStore::open(&path).unwrap();
    assert_eq!(s.counter(scope).unwrap(), 6);
}

#[test]
fn counters_saturate_at_u32_max() {
    let dir = TempDir::new("saturate");
    let mut s = DurableStore::open(&dir.file("dev.redb")).unwrap();
    assert_eq!(
        s.next_counter(CounterScope::Global, u32::MAX).unwrap(),
        u32::MAX
    );
    assert_eq!(s.next_counter(CounterScope::Global, 1).unwrap(), u32::MAX);
    drop(s);
    let s = DurableStore::open(&dir.file("dev.redb")).unwrap();
    assert_eq!(s.counter(CounterScope::Global).unwrap(), u32::MAX);
}

#[test]
fn reset_clears_everything_durably() {
    let dir = TempDir::new("reset");
    let path = dir.file("dev.redb");
    {
        let mut s = DurableStore::open(&path).unwrap();
        s.set_master_secret(&[1; 32]).unwrap();
        s.save(cred(1, "a.example", 1, true), None, 4).unwrap();
        s.next_counter(CounterScope::Global, 2).unwrap();
        s.set_large_blob_array(b"x").unwrap();
        s.set_device_state(&DeviceState {
            always_uv: true,
            ..DeviceState::default()
        })
        .unwrap();
        s.reset(&[2; 32]).unwrap();
    }
    let s = DurableStore::open(&path).unwrap();
    assert_eq!(*s.master_secret().unwrap().unwrap(), [2; 32]);
    assert_eq!(s.count_discoverable().unwrap(), 0);
    assert!(s.get(&[1; 16]).unwrap().is_none());
    assert_eq!(s.counter(CounterScope::Global).unwrap(), 0);
    assert_eq!(s.large_blob_array().unwrap(), None);
    assert_eq!(s.device_state().unwrap(), DeviceState::default());
}

#[test]
fn a_full_store_refuses_without_writing() {
    let dir = TempDir::new("full");
    let path = dir.file("dev.redb");
    let mut s = DurableStore::open(&path).unwrap();
    s.mem = MemoryStore::with_capacity(1);
    s.save(cred(1, "a.example", 1, true), None, 0).unwrap();
    assert_eq!(
        s.save(cred(2, "a.example", 2, true), None, 0),
        Err(StoreError::Full)
    );
    // A non-discoverable (imported) credential needs no room.
    s.save(cred(3, "a.example", 3, false), None, 0).unwrap();
    drop(s);
    let s = DurableStore::open(&path).unwrap();
    assert!(s.get(&[2; 16]).unwrap().is_none());
    assert!(s.get(&[3; 16]).unwrap().is_some());
}

fn open_err(path: &Path) -> String {
    match DurableStore::open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.0,
    }
}

#[test]
fn a_foreign_or_damaged_file_is_refused_and_left_alone() {
    let dir = TempDir::new("foreign");
    let path = dir.file("notes.txt");
    let junk = b"these are my notes, not a database\n".repeat(200);
    fs::write(&path, &junk).unwrap();
    let msg = open_err(&path);
    assert!(
        msg.contains("damaged or is not a fidosim state file"),
        "{msg}"
    );
    assert!(msg.contains("left untouched"), "{msg}");
    assert_eq!(fs::read(&path).unwrap(), junk);

    let dir_path = dir.file("adir");
    fs::create_dir(&dir_path).unwrap();
    assert!(open_err(&dir_path).contains("is a directory"));
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = TempDir::new("newer");
    let path = dir.file("dev.redb");
    {
        let s = DurableStore::open(&path).unwrap();
        let txn = s.db().unwrap().begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(K_SCHEMA, (SCHEMA_VERSION + 1).to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let before = fs::read(&path).unwrap();
    let msg = open_err(&path);
    assert!(msg.contains("written by a newer fidosim"), "{msg}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn data_without_a_schema_version_is_refused() {
    let dir = TempDir::new("noversion");
    let path = dir.file("dev.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("something", b"else".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(open_err(&path).contains("no schema version"));
}

#[test]
fn one_process_per_file() {
    let dir = TempDir::new("inuse");
    let path = dir.file("dev.redb");
    let _first = DurableStore::open(&path).unwrap();
    assert!(open_err(&path).contains("in use by another process"));
}

#[test]
fn identities_are_kept() {
    let dir = TempDir::new("identity");
    let path = dir.file("dev.redb");
    let make = || {
        AttestationIdentity::generate(
            &mut rand_core::UnwrapErr(getrandom::SysRng),
            [1; 16],
            "fidosim",
            "test batch",
        )
        .map_err(|e| format!("{e:?}"))
    };
    let first = DurableStore::open(&path)
        .unwrap()
        .identity("attestation", make)
        .unwrap();
    let again = DurableStore::open(&path)
        .unwrap()
        .identity("attestation", || Err("must not be called".into()))
        .unwrap();
    assert_eq!(first.batch_cert_der(), again.batch_cert_der());
    assert_eq!(first.ca_cert_der(), again.ca_cert_der());
    let other = DurableStore::open(&path)
        .unwrap()
        .identity("enterprise", make)
        .unwrap();
    assert_ne!(other.batch_cert_der(), first.batch_cert_der());
}

/// The discoverable credentials of `rp` by creation order, newest first.
fn newest_first(s: &DurableStore, rp: &str) -> Vec<(u8, u64)> {
    let mut v: Vec<(u8, u64)> = s
        .discoverable(&sha256(rp.as_bytes()))
        .unwrap()
        .into_iter()
        .map(|c| (c.id[0], c.created_order))
        .collect();
    v.sort_by_key(|&(_, order)| std::cmp::Reverse(order));
    v
}

#[test]
fn the_creation_order_survives_restarts_and_is_never_given_twice() {
    let dir = TempDir::new("order");
    let path = dir.file("dev.redb");
    {
        let mut s = DurableStore::open(&path).unwrap();
        // Whatever the caller put in created_order, the store numbers.
        s.save(cred(9, "a.example", 1, true), None, 0).unwrap();
        s.save(cred(2, "a.example", 2, true), None, 0).unwrap();
        assert_eq!(newest_first(&s, "a.example"), [(2, 2), (9, 1)]);
    }
    {
        // A new process: its clock starts again, the order does not.
        let mut s = DurableStore::open(&path).unwrap();
        s.save(cred(1, "a.example", 3, true), None, 0).unwrap();
        assert_eq!(newest_first(&s, "a.example"), [(1, 3), (2, 2), (9, 1)]);
        // The newest goes; its number is not given out again.
        s.delete(&[1; 16]).unwrap();
    }
    {
        let mut s = DurableStore::open(&path).unwrap();
        s.save(cred(4, "a.example", 4, true), None, 0).unwrap();
        assert_eq!(newest_first(&s, "a.example"), [(4, 4), (2, 2), (9, 1)]);
        // Replacing a user's credential makes the new one the newest.
        s.save(cred(5, "a.example", 1, true), Some(&[9; 16]), 0)
            .unwrap();
        assert_eq!(newest_first(&s, "a.example"), [(5, 5), (4, 4), (2, 2)]);
        s.reset(&[7; 32]).unwrap();
    }
    let mut s = DurableStore::open(&path).unwrap();
    s.save(cred(6, "a.example", 1, true), None, 0).unwrap();
    assert_eq!(newest_first(&s, "a.example"), [(6, 6)]);
}

#[test]
fn a_schema_1_file_is_upgraded_with_its_old_order() {
    let dir = TempDir::new("v1");
    let path = dir.file("dev.redb");
    {
        // A schema 1 file: creation times on each process's own clock. 3 was
        // made first (500 ms into one process), then 1 (20 ms into the next
        // one), then 2 (900 ms into that one); schema 1 offered 2, 3, 1.
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert(K_SCHEMA, 1u32.to_le_bytes().as_slice())
                .unwrap();
            meta.insert(K_MASTER, [5u8; 32].as_slice()).unwrap();
            let mut creds = txn.open_table(CREDENTIALS).unwrap();
            let mut counters = txn.open_table(COUNTERS).unwrap();
            for (id, user, ms) in [(3u8, 3u8, 500u64), (1, 1, 20), (2, 2, 900)] {
                let mut c = cred(id, "a.example", user, true);
                c.created_order = ms;
                let record = codec::encode_credential_v1(&c);
                creds.insert(c.id.as_slice(), record.as_slice()).unwrap();
                let scope = CounterScope::Credential(sha256(&c.id));
                counters
                    .insert(scope_key(&scope).as_slice(), u32::from(id) * 10)
                    .unwrap();
            }
        }
        txn.commit().unwrap();
    }
    {
        let mut s = DurableStore::open(&path).unwrap();
        assert_eq!(
            newest_first(&s, "a.example"),
            [(2, 3), (3, 2), (1, 1)],
            "the order schema 1 offered them in"
        );
        assert_eq!(*s.master_secret().unwrap().unwrap(), [5; 32]);
        assert_eq!(
            s.counter(CounterScope::Credential(sha256(&[2; 16])))
                .unwrap(),
            20
        );
        s.save(cred(4, "a.example", 4, true), None, 0).unwrap();
    }
    let s = DurableStore::open(&path).unwrap();
    assert_eq!(
        newest_first(&s, "a.example"),
        [(4, 4), (2, 3), (3, 2), (1, 1)]
    );
    let txn = s.db().unwrap().begin_read().unwrap();
    let version = txn
        .open_table(META)
        .unwrap()
        .get(K_SCHEMA)
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    assert_eq!(version, SCHEMA_VERSION.to_le_bytes());
}

#[test]
fn a_damaged_schema_1_file_is_refused_and_left_alone() {
    let dir = TempDir::new("v1bad");
    let path = dir.file("dev.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(META)
                .unwrap()
                .insert(K_SCHEMA, 1u32.to_le_bytes().as_slice())
                .unwrap();
            txn.open_table(CREDENTIALS)
                .unwrap()
                .insert([1u8; 4].as_slice(), b"junk".as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let before = fs::read(&path).unwrap();
    let msg = open_err(&path);
    assert!(
        msg.contains(&format!(
            "cannot upgrade the state file {} from schema 1 to 2",
            path.display()
        )),
        "{msg}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
}

/// A state file written and closed, for the damaged-file tests.
fn written_file(dir: &TempDir) -> PathBuf {
    let path = dir.file("dev.redb");
    {
        let mut s = DurableStore::open(&path).unwrap();
        s.set_master_secret(&[7; 32]).unwrap();
        s.save(cred(1, "example.com", 1, true), None, 0).unwrap();
    }
    path
}

#[test]
fn a_schema_without_an_upgrade_path_names_the_file() {
    let dir = TempDir::new("v0");
    let path = dir.file("dev.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(K_SCHEMA, 0u32.to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let msg = open_err(&path);
    assert!(msg.contains("no upgrade path"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

/// redb asserts that a file is at least as long as its header's layout:
/// a cut-short file panicked inside `DurableStore::open`.
#[test]
fn a_cut_short_file_is_refused_naming_it() {
    let dir = TempDir::new("short");
    let path = written_file(&dir);
    let bytes = fs::read(&path).unwrap();
    for keep in [320, 4096, bytes.len() / 2, bytes.len() - 1] {
        fs::write(&path, &bytes[..keep]).unwrap();
        let msg = open_err(&path);
        assert!(msg.contains(&path.display().to_string()), "{keep}: {msg}");
        assert!(msg.contains("damaged"), "{keep}: {msg}");
    }
}

/// A region tracker page number of order 31 made redb allocate 2^31
/// pages (8 TiB) while opening, which aborts the process; huge region
/// geometry made it size allocators by it.
#[test]
fn a_header_declaring_huge_sizes_is_refused_naming_it() {
    let dir = TempDir::new("huge");
    let path = written_file(&dir);
    let bytes = fs::read(&path).unwrap();
    let patches: [(usize, &[u8]); 4] = [
        (32, &[0, 0, 0, 0, 0, 0, 0, 0xF8]),
        (20, &[0, 0, 0, 0x80]),
        (24, &[0xff, 0xff, 0xff, 0x7f]),
        (12, &[0, 0, 1, 0]),
    ];
    for (at, patch) in patches {
        let mut damaged = bytes.clone();
        damaged[at..at + patch.len()].copy_from_slice(patch);
        fs::write(&path, &damaged).unwrap();
        let msg = open_err(&path);
        assert!(msg.contains(&path.display().to_string()), "{at}: {msg}");
    }
}

/// A credential record under another key than its ID: the store's writes
/// (update, delete) go to the row of the ID, so the record under the other
/// key came back after a restart, undoing them.
#[test]
fn a_credential_under_another_key_is_refused() {
    let dir = TempDir::new("otherkey");
    let path = written_file(&dir);
    {
        let s = DurableStore::open(&path).unwrap();
        let txn = s.db().unwrap().begin_write().unwrap();
        {
            let mut t = txn.open_table(CREDENTIALS).unwrap();
            let record = t
                .remove([1u8; 16].as_slice())
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            t.insert([9u8; 16].as_slice(), record.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let msg = open_err(&path);
    assert!(
        msg.contains("a credential stored under another ID"),
        "{msg}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

/// Files on which redb 2.6 panics, found by the `state_file` fuzz target
/// (`fuzz/regressions/state_file-redb-panics-on-*.bin`), in its input
/// form: `0x00 ‖ v ‖ n (u16 LE)` is n + 1 bytes v, any other byte itself
/// (a state file is mostly runs of 0x00 and 0xFF).
fn expand_runs(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if data[i] == 0 {
            let (v, n) = match data.get(i + 1..i + 4) {
                Some(&[v, a, b]) => (v, usize::from(u16::from_le_bytes([a, b])) + 1),
                _ => (0, 1),
            };
            out.resize(out.len() + n, v);
            i += 4;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fn damaged_file(dir: &TempDir, runs: &[u8]) -> PathBuf {
    let path = dir.file("dev.redb");
    fs::write(&path, expand_runs(runs)).unwrap();
    path
}

/// redb asserts (`page_manager.rs`: the layout after recovery equals the
/// file's length) while opening this file: the panic left
/// `DurableStore::open`.
#[test]
fn a_file_redb_panics_on_while_opening_is_refused_naming_it() {
    let dir = TempDir::new("panicopen");
    let path = damaged_file(&dir, include_bytes!("testdata/redb-panics-on-open.runs"));
    let msg = open_err(&path);
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("damaged"), "{msg}");
}

/// This file opens, and redb panics (`cached_file.rs`: an unwrap) in the
/// first write: the write fails instead, and the store tries no more.
#[test]
fn a_write_redb_panics_on_fails_and_the_store_writes_no_more() {
    let dir = TempDir::new("panicwrite");
    let path = damaged_file(&dir, include_bytes!("testdata/redb-panics-on-write.runs"));
    let mut s = DurableStore::open(&path).unwrap();
    assert_eq!(s.set_master_secret(&[1; 32]), Err(StoreError::Backend));
    assert_eq!(
        s.set_large_blob_array(&[0x80; 17]),
        Err(StoreError::Backend)
    );
    drop(s);
}

/// This file opens and takes a write, and redb panics (`bitmap.rs`: an
/// index past the bitmap's height) when the database is closed: the store
/// is dropped without the panic leaving it.
#[test]
fn a_close_redb_panics_on_is_contained() {
    let dir = TempDir::new("panicclose");
    let path = damaged_file(&dir, include_bytes!("testdata/redb-panics-on-close.runs"));
    let mut s = DurableStore::open(&path).unwrap();
    let _ = s.set_master_secret(&[1; 32]);
    drop(s);
}

/// The header is sound, but a page reference inside a B-tree (the freed
/// tree redb reads while opening) has order 31: redb allocated 8 TiB for
/// the read and aborted the process (found by `state_file`,
/// `fuzz/regressions/state_file-redb-tree-page-order-31.bin`).
#[test]
fn a_tree_page_past_the_end_of_the_file_is_refused_naming_it() {
    let dir = TempDir::new("order31");
    let path = damaged_file(
        &dir,
        include_bytes!("testdata/redb-tree-page-order-31.runs"),
    );
    let msg = open_err(&path);
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

/// An empty file at the state path is refused, as redb's own open did.
#[test]
fn an_empty_file_is_refused() {
    let dir = TempDir::new("empty");
    let path = dir.file("dev.redb");
    fs::write(&path, b"").unwrap();
    let msg = open_err(&path);
    assert!(msg.contains("it is empty"), "{msg}");
    assert_eq!(fs::read(&path).unwrap(), b"");
}
