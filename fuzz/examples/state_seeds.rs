//! Writes starting inputs for `state_file` and `state_records` into
//! `corpus/state_file/` and `corpus/state_records/` (relative to the
//! current directory, which should be `fuzz/`): state files the store
//! wrote itself (empty; with credentials, counters, a PIN, a large-blob
//! array and an attestation identity), whole and as their records.
//!
//! ```text
//! cd fuzz && cargo run --example state_seeds
//! ```

use std::fs;

use authenticator_core::crypto::sha256;
use authenticator_core::store::{CounterScope, Credential, CredentialStore, DeviceState, User};
use authenticator_core_fuzz::fixture;
use authenticator_core_fuzz::state::{encode_records, expand_runs, read_records, shrink_runs};
use fidosim_store::DurableStore;

fn credential(n: u8, discoverable: bool) -> Credential {
    let rp = if n % 2 == 0 {
        "example.com"
    } else {
        "example.org"
    };
    Credential {
        id: vec![n; 16],
        rp_id: rp.into(),
        rp_id_hash: sha256(rp.as_bytes()),
        rp_name: Some(format!("RP {n}")),
        user: User {
            id: vec![n],
            name: Some(format!("user{n}")),
            display_name: (n % 3 == 0).then(|| format!("User {n}")),
        },
        key: if n % 2 == 0 {
            fixture().es256_key.clone()
        } else {
            fixture().eddsa_key.clone()
        },
        discoverable,
        cred_protect: n % 4,
        cred_blob: (n % 2 == 1).then(|| vec![n; 8]),
        created_order: 0,
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("fidosim-state-seeds-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    fs::create_dir_all("corpus/state_file").expect("corpus dir");
    fs::create_dir_all("corpus/state_records").expect("corpus dir");
    for variant in 0..4u8 {
        let path = dir.join(format!("seed{variant}.redb"));
        {
            let mut s = DurableStore::open(&path).expect("a new state file");
            if variant > 0 {
                s.set_master_secret(&[variant; 32]).expect("master");
                for n in 0..variant * 2 {
                    s.save(credential(n, n % 2 == 0), None, u32::from(n))
                        .expect("save");
                }
                s.next_counter(CounterScope::Global, 3).expect("counter");
            }
            if variant > 1 {
                let state = DeviceState {
                    pin_hash: Some([variant; 16]),
                    pin_code_points: 4,
                    min_pin_length_rp_ids: vec!["example.com".into()],
                    force_pin_change: variant == 3,
                    ..DeviceState::default()
                };
                s.set_device_state(&state).expect("state");
                s.set_large_blob_array(&[0x80; 17]).expect("blob");
            }
            if variant > 2 {
                s.identity("batch", || Ok(fixture().identity.clone()))
                    .expect("identity");
            }
        }
        let file = fs::read(&path).expect("read");
        assert_eq!(expand_runs(&shrink_runs(&file)), file);
        fs::write(
            format!("corpus/state_file/seed{variant}"),
            shrink_runs(&file),
        )
        .expect("write");
        let records = encode_records(&read_records(&path));
        fs::write(format!("corpus/state_records/seed{variant}"), records).expect("write");
    }
    let _ = fs::remove_dir_all(&dir);
}
