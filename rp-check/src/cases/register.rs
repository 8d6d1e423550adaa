//! Registration responses with one defect each, for a fresh user; the RP
//! must reject every one (WebAuthn L3 §7.1, registering a new credential).

use authenticator_core::crypto::sha256;
use fidosim_webauthn::json::{self, unb64url};
use serde_json::{json, Value};

use super::{always, flip_first_bit, uv_required, Build, Case, Phase, Ready};
use crate::forge::{self, Registration, UP, UV};

pub(super) const CASES: &[Case] = &[
    // §7.1: C.origin must be the RP's origin.
    Case {
        name: "register.wrong-origin",
        phase: Phase::Register,
        must_accept: false,
        sent: "clientDataJSON.origin https://evil.example",
        ready: always,
        build: Build::Register(|v, _| set_client_data(v, "origin", json!("https://evil.example"))),
    },
    // §7.1: C.type must be webauthn.create.
    Case {
        name: "register.wrong-type",
        phase: Phase::Register,
        must_accept: false,
        sent: "clientDataJSON.type webauthn.get",
        ready: always,
        build: Build::Register(|v, _| set_client_data(v, "type", json!("webauthn.get"))),
    },
    // §7.1: C.challenge must be the challenge the RP sent.
    Case {
        name: "register.challenge-altered",
        phase: Phase::Register,
        must_accept: false,
        sent: "the challenge with one bit flipped",
        ready: always,
        build: Build::Register(|v, _| {
            let cd = client_data_of(v)?;
            let mut ch = unb64url("challenge", cd["challenge"].as_str().unwrap_or(""))
                .map_err(|e| e.to_string())?;
            flip_first_bit(&mut ch);
            set_client_data(v, "challenge", json!(json::b64url(&ch)))
        }),
    },
    // §13.4.3: a challenge is good for one ceremony only.
    Case {
        name: "register.challenge-reused",
        phase: Phase::Register,
        must_accept: false,
        sent: "the challenge of an earlier registration",
        ready: |c| match c.old_register_challenge {
            Some(_) => Ready::Yes,
            None => Ready::Nothing,
        },
        build: Build::Register(|v, c| {
            let old = c
                .old_register_challenge
                .as_deref()
                .ok_or("no earlier registration")?;
            set_client_data(v, "challenge", json!(json::b64url(old)))
        }),
    },
    // §7.1: rpIdHash must be SHA-256 of the RP ID.
    Case {
        name: "register.wrong-rp-id-hash",
        phase: Phase::Register,
        must_accept: false,
        sent: "rpIdHash of evil.example",
        ready: always,
        build: Build::RegisterParts(|r, _| {
            r.auth_data[..32].copy_from_slice(&sha256(b"evil.example"));
            Ok(None)
        }),
    },
    // §7.1: the UP flag must be set.
    Case {
        name: "register.up-clear",
        phase: Phase::Register,
        must_accept: false,
        sent: "UP flag clear",
        ready: always,
        build: Build::RegisterParts(|r, _| {
            r.auth_data[32] &= !UP;
            Ok(None)
        }),
    },
    // §7.1: the UV flag must be set when the RP requires user verification.
    Case {
        name: "register.uv-clear",
        phase: Phase::Register,
        must_accept: false,
        sent: "UV flag clear although the RP required UV",
        ready: uv_required,
        build: Build::RegisterParts(|r, _| {
            r.auth_data[32] &= !UV;
            Ok(None)
        }),
    },
    // §6.1: nothing follows the authenticator data's last field.
    Case {
        name: "register.trailing-bytes",
        phase: Phase::Register,
        must_accept: false,
        sent: "4 bytes after the authenticator data",
        ready: always,
        build: Build::RegisterParts(|r, _| {
            r.auth_data.extend_from_slice(&[0, 0, 0, 0]);
            Ok(None)
        }),
    },
    // §6.5.1: credentialIdLength must match the credential ID.
    Case {
        name: "register.attested-data-malformed",
        phase: Phase::Register,
        must_accept: false,
        sent: "credentialIdLength one too large",
        ready: always,
        build: Build::RegisterParts(|r, _| {
            let len = u16::try_from(r.cred_id_len() + 1).unwrap_or(u16::MAX);
            r.auth_data[53..55].copy_from_slice(&len.to_be_bytes());
            Ok(None)
        }),
    },
    // §7.1: the key's alg must be one the RP offered, and match the key.
    Case {
        name: "register.alg-mismatch",
        phase: Phase::Register,
        must_accept: false,
        sent: "the COSE key's alg says another algorithm than its key type",
        ready: always,
        build: Build::RegisterParts(|r, _| {
            // The COSE key's alg (label 3) is the item after its first
            // pair (kty): a1..: 01 02 03 26 (-7) or 01 01 03 27 (-8).
            let start = 55 + r.cred_id_len();
            let key = &mut r.auth_data[start..];
            let at = key
                .windows(2)
                .position(|w| w[0] == 0x03 && (w[1] == 0x26 || w[1] == 0x27))
                .ok_or("no alg in the COSE key")?;
            key[at + 1] = if key[at + 1] == 0x26 { 0x27 } else { 0x26 };
            Ok(None)
        }),
    },
    // CTAP 2.1 §8: a map has no duplicate keys.
    Case {
        name: "register.duplicate-cbor-keys",
        phase: Phase::Register,
        must_accept: false,
        sent: "attestationObject with \"fmt\" twice",
        ready: always,
        build: Build::RegisterParts(|r, _| Ok(Some(forge::duplicate_key_object(r)))),
    },
    // CTAP 2.1 §8.2: authenticators send the CTAP2 canonical CBOR form.
    Case {
        name: "register.non-canonical-cbor",
        phase: Phase::Register,
        must_accept: false,
        sent: "attestationObject keys out of order, a long length form",
        ready: always,
        build: Build::RegisterParts(|r, _| Ok(Some(forge::non_canonical_object(r)))),
    },
    // §7.1: a credential ID is at most 1023 bytes.
    Case {
        name: "register.oversized-credential-id",
        phase: Phase::Register,
        must_accept: false,
        sent: "a 1024-byte credential ID (the limit is 1023)",
        ready: always,
        build: Build::Register(|v, _| replace_credential_id(v, &[0xab; 1024])),
    },
    // §7.1: a credential ID registered to any user is refused.
    Case {
        name: "register.credential-id-reused",
        phase: Phase::Register,
        must_accept: false,
        sent: "another user's registered credential ID",
        ready: |c| match c.held {
            Some(_) => Ready::Yes,
            None => Ready::Nothing,
        },
        build: Build::Register(|v, c| {
            let held = c.held.as_ref().ok_or("no baseline credential")?;
            replace_credential_id(v, &held.id)
        }),
    },
    // §7.1: an RP that demands trusted attestation refuses "none".
    Case {
        name: "register.untrusted-attestation",
        phase: Phase::Register,
        must_accept: false,
        sent: "none attestation to an RP that demands trusted attestation",
        ready: |c| {
            if c.cfg.requires_trusted_attestation {
                Ready::Yes
            } else {
                Ready::Skip("the config does not say the RP demands trusted attestation")
            }
        },
        build: Build::RegisterParts(|r, _| {
            r.fmt = "none".into();
            r.att_stmt = authenticator_core::cbor::MapBuilder::new().build();
            Ok(None)
        }),
    },
];

/// Puts `id` in the attested credential data (with its length) and in the
/// response's id and rawId.
fn replace_credential_id(v: &mut Value, id: &[u8]) -> Result<(), String> {
    let mut r = Registration::decode(v)?;
    let len = r.cred_id_len();
    let mut ad = r.auth_data[..53].to_vec();
    ad.extend_from_slice(&u16::try_from(id.len()).unwrap_or(0).to_be_bytes());
    ad.extend_from_slice(id);
    ad.extend_from_slice(&r.auth_data[55 + len..]);
    r.auth_data = ad;
    *v = r.encode();
    let id = json::b64url(id);
    v["id"] = json!(id);
    v["rawId"] = json!(id);
    Ok(())
}

/// The response's clientDataJSON, parsed.
fn client_data_of(v: &Value) -> Result<Value, String> {
    let b = unb64url(
        "clientDataJSON",
        v["response"]["clientDataJSON"].as_str().unwrap_or(""),
    )
    .map_err(|e| e.to_string())?;
    serde_json::from_slice(&b).map_err(|e| e.to_string())
}

/// Sets one member of the response's clientDataJSON.
fn set_client_data(v: &mut Value, key: &str, value: Value) -> Result<(), String> {
    let mut cd = client_data_of(v)?;
    cd[key] = value;
    // Keep a browser's member order: type, challenge, origin, crossOrigin.
    let text = forge::client_data(
        cd["type"].as_str().unwrap_or(""),
        &unb64url("challenge", cd["challenge"].as_str().unwrap_or(""))
            .map_err(|e| e.to_string())?,
        cd["origin"].as_str().unwrap_or(""),
    );
    v["response"]["clientDataJSON"] = json!(json::b64url(text.as_bytes()));
    Ok(())
}
