//! The fuzz run: random defects of an assertion.

use authenticator_core::crypto::sha256;
use rand_chacha::rand_core::RngCore;

use crate::forge::{AssertionInput, UP};

/// One random defect of an assertion; every one makes it invalid.
pub(crate) fn fuzz_change(
    rng: &mut rand_chacha::ChaCha20Rng,
    i: &mut AssertionInput,
    last: u32,
) -> String {
    match rng.next_u32() % 7 {
        0 => {
            let k = (rng.next_u32() as usize) % i.challenge.len().max(1);
            if let Some(b) = i.challenge.get_mut(k) {
                *b ^= 1 << (rng.next_u32() % 8);
            }
            format!("challenge byte {k} flipped")
        }
        1 => {
            let mut h = sha256(i.rp_id.as_bytes());
            let k = (rng.next_u32() % 32) as usize;
            h[k] ^= 1 << (rng.next_u32() % 8);
            i.rp_id_hash = Some(h);
            format!("rpIdHash byte {k} flipped")
        }
        2 => {
            i.counter = rng.next_u32() % last.max(1);
            format!("counter {} after {last}", i.counter)
        }
        3 => {
            let origins = [
                "https://evil.example",
                "http://localhost:1",
                "null",
                "https://a.b.c.example",
            ];
            i.origin = origins[(rng.next_u32() % 4) as usize].into();
            format!("origin {}", i.origin)
        }
        4 => {
            let kinds = ["webauthn.create", "", "webauthn.GET", "payment.get"];
            i.kind = kinds[(rng.next_u32() % 4) as usize].into();
            format!("type `{}`", i.kind)
        }
        5 => {
            i.flags &= !UP;
            "UP clear".into()
        }
        _ => {
            let mut h = [0u8; 32];
            rng.fill_bytes(&mut h);
            i.sign_other_hash = Some(h);
            "signature over random data".into()
        }
    }
}
