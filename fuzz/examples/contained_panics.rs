//! Lists the inputs of a `state_file` or `state_records` corpus on which
//! the store contained a panic of redb, with the panic's message:
//!
//! ```text
//! cd fuzz && cargo run --release --example contained_panics -- state_file corpus/state_file
//! ```
//!
//! For `state_file` it also opens each file on its own and says in which
//! step (open, a write, close) the store contained a panic.

use std::sync::{Arc, Mutex};

use authenticator_core_fuzz::state;

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("state_file or state_records");
    let dir = args.next().expect("a corpus directory");
    let run: fn(&[u8]) = match target.as_str() {
        "state_file" => state::run_file,
        "state_records" => state::run_records,
        other => panic!("not a store target: {other}"),
    };
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let hook_seen = seen.clone();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut s) = hook_seen.lock() {
            s.push(info.to_string().replace('\n', " "));
        }
    }));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        let data = std::fs::read(&file).expect("input");
        run(&data);
        let mut s = seen.lock().expect("lock");
        for p in s.drain(..) {
            println!("{}\t{}", file.display(), p);
        }
        drop(s);
        if target == "state_file" {
            let path = std::env::temp_dir().join("fidosim-contained-panics.redb");
            std::fs::write(&path, state::expand_runs(&data)).expect("scratch");
            let mut step = |name: &str| {
                let mut s = seen.lock().expect("lock");
                if !s.is_empty() {
                    println!("{}\tstep {name}: {}", file.display(), s[0]);
                }
                s.clear();
            };
            let opened = fidosim_store::DurableStore::open(&path);
            step("open");
            if let Ok(mut store) = opened {
                use authenticator_core::store::CredentialStore;
                let written = store.set_master_secret(&[1; 32]);
                step(&format!("write ({written:?})"));
                drop(store);
                step("close");
            }
            let _ = std::fs::remove_file(&path);
        }
    }
}
