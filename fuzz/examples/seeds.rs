//! Writes a starting corpus of well-formed CTAP2 messages for the
//! `request_decode` target into `corpus/request_decode/` (relative to the
//! current directory, which should be `fuzz/`).
//!
//! ```text
//! cd fuzz && cargo run --example seeds
//! ```

use std::fs;
use std::path::Path;

use authenticator_core::cbor::{self, MapBuilder, Value};

fn message(cmd: u8, params: Option<Value>) -> Vec<u8> {
    let mut m = vec![cmd];
    if let Some(p) = params {
        m.extend_from_slice(&cbor::encode(&p));
    }
    m
}

fn alg(a: i64) -> Value {
    MapBuilder::new()
        .text("alg", a)
        .text("type", "public-key")
        .build()
}

fn descriptor(id: &[u8]) -> Value {
    MapBuilder::new()
        .text("id", cbor::bytes(id.to_vec()))
        .text("type", "public-key")
        .build()
}

fn make_credential(rk: bool, uv: bool, algs: &[i64], exclude: &[&[u8]]) -> Vec<u8> {
    let mut options = MapBuilder::new().text("rk", rk);
    if uv {
        options = options.text("uv", true);
    }
    let mut m = MapBuilder::new()
        .int(0x01, cbor::bytes([7u8; 32]))
        .int(
            0x02,
            MapBuilder::new()
                .text("id", "example.com")
                .text("name", "Example")
                .build(),
        )
        .int(
            0x03,
            MapBuilder::new()
                .text("id", cbor::bytes(b"carol".to_vec()))
                .text("name", "carol")
                .text("displayName", "Carol")
                .build(),
        )
        .int(0x04, Value::Array(algs.iter().map(|a| alg(*a)).collect()))
        .int(0x07, options.build());
    if !exclude.is_empty() {
        m = m.int(
            0x05,
            Value::Array(exclude.iter().map(|id| descriptor(id)).collect()),
        );
    }
    message(0x01, Some(m.build()))
}

fn get_assertion(rp: &str, allow: &[&[u8]], up: Option<bool>, uv: bool) -> Vec<u8> {
    let mut m = MapBuilder::new()
        .int(0x01, rp)
        .int(0x02, cbor::bytes([9u8; 32]));
    if !allow.is_empty() {
        m = m.int(
            0x03,
            Value::Array(allow.iter().map(|id| descriptor(id)).collect()),
        );
    }
    let mut options = MapBuilder::new();
    if let Some(up) = up {
        options = options.text("up", up);
    }
    if uv {
        options = options.text("uv", true);
    }
    m = m.int(0x05, options.build());
    message(0x02, Some(m.build()))
}

fn main() -> std::io::Result<()> {
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("mc-es256", make_credential(false, false, &[-7], &[])),
        ("mc-eddsa-rk", make_credential(true, false, &[-8, -7], &[])),
        (
            "mc-uv-exclude",
            make_credential(true, true, &[-7], &[&[0xA1; 16]]),
        ),
        (
            "ga-discoverable",
            get_assertion("example.com", &[], None, false),
        ),
        (
            "ga-allow",
            get_assertion("example.com", &[&[0xA1; 16]], Some(true), false),
        ),
        (
            "ga-silent",
            get_assertion("example.com", &[&[0xB2; 16]], Some(false), false),
        ),
        ("ga-uv", get_assertion("example.com", &[], None, true)),
        ("get-info", message(0x04, None)),
        ("reset", message(0x07, None)),
        ("get-next", message(0x08, None)),
        ("selection", message(0x0B, None)),
    ];
    let dir = Path::new("corpus/request_decode");
    fs::create_dir_all(dir)?;
    for (name, bytes) in seeds {
        fs::write(dir.join(format!("seed-{name}")), bytes)?;
    }
    println!("wrote seeds to {}", dir.display());
    Ok(())
}
