//! Building WebAuthn responses by hand, correct or with one defect: the
//! signing pipeline of `fidosim rp-check`. An assertion is made from the
//! credential's key, so a defect (an altered field, a lower counter) can be
//! signed validly, leaving the defect as the only thing wrong.

use authenticator_core::cbor::{self, Value};
use authenticator_core::crypto::keys::PrivateKey;
use authenticator_core::crypto::sha256;
use fidosim_webauthn::json::{b64url, unb64url, AssertionResponse, AuthenticationResponse};
use serde_json::json;

/// Authenticator data flags (WebAuthn L3 §6.1).
pub(crate) const UP: u8 = 0x01;
/// User verified.
pub(crate) const UV: u8 = 0x04;

/// A credential rp-check registered and holds the key of.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) id: Vec<u8>,
    pub(crate) key: PrivateKey,
    pub(crate) user_handle: Vec<u8>,
    /// The highest counter the RP accepted.
    pub(crate) counter: u32,
}

/// What goes into one assertion.
#[derive(Debug, Clone)]
pub(crate) struct AssertionInput {
    pub(crate) rp_id: String,
    pub(crate) kind: String,
    pub(crate) challenge: Vec<u8>,
    pub(crate) origin: String,
    pub(crate) flags: u8,
    pub(crate) counter: u32,
    /// Bytes appended after the authenticator data (a defect).
    pub(crate) trailing: Vec<u8>,
    /// The rpIdHash to put in, when not SHA-256 of the RP ID (a defect).
    pub(crate) rp_id_hash: Option<[u8; 32]>,
    /// Sign over this client data hash instead of the real one (a defect).
    pub(crate) sign_other_hash: Option<[u8; 32]>,
    /// Include the user handle.
    pub(crate) user_handle: bool,
}

/// clientDataJSON in a browser's member order (WebAuthn L3 §5.8.1.1).
pub(crate) fn client_data(kind: &str, challenge: &[u8], origin: &str) -> String {
    fidosim_webauthn::client_data_json(kind, challenge, origin, None)
}

/// A signed AuthenticationResponseJSON for `held`.
pub(crate) fn assertion(held: &Held, a: &AssertionInput) -> Result<AuthenticationResponse, String> {
    let cd = client_data(&a.kind, &a.challenge, &a.origin);
    let mut auth_data = a
        .rp_id_hash
        .unwrap_or_else(|| sha256(a.rp_id.as_bytes()))
        .to_vec();
    auth_data.push(a.flags);
    auth_data.extend_from_slice(&a.counter.to_be_bytes());
    auth_data.extend_from_slice(&a.trailing);
    let cdh = a.sign_other_hash.unwrap_or_else(|| sha256(cd.as_bytes()));
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&cdh);
    let signature = held
        .key
        .sign(&signed)
        .map_err(|_| "the held key cannot sign".to_owned())?;
    let id = b64url(&held.id);
    Ok(AuthenticationResponse {
        raw_id: id.clone(),
        id,
        response: AssertionResponse {
            client_data_json: b64url(cd.as_bytes()),
            authenticator_data: b64url(&auth_data),
            signature: b64url(&signature),
            user_handle: a.user_handle.then(|| b64url(&held.user_handle)),
        },
        authenticator_attachment: "cross-platform".into(),
        client_extension_results: json!({}),
        kind: "public-key".into(),
    })
}

/// A registration response's parts, decoded for changing.
pub(crate) struct Registration {
    pub(crate) json: serde_json::Value,
    pub(crate) client_data: serde_json::Value,
    /// clientDataJSON as received, sent again as long as `client_data`
    /// says the same (a signature over it stays valid).
    client_data_raw: Vec<u8>,
    pub(crate) fmt: String,
    pub(crate) att_stmt: Value,
    pub(crate) auth_data: Vec<u8>,
}

impl Registration {
    pub(crate) fn decode(json: &serde_json::Value) -> Result<Self, String> {
        let field = |k: &str| {
            json["response"][k]
                .as_str()
                .ok_or_else(|| format!("response.{k} missing"))
                .and_then(|s| unb64url(k, s).map_err(|e| e.to_string()))
        };
        let client_data_raw = field("clientDataJSON")?;
        let client_data =
            serde_json::from_slice(&client_data_raw).map_err(|e| format!("clientDataJSON: {e}"))?;
        let att = cbor::decode(&field("attestationObject")?).map_err(|_| "attestationObject")?;
        let mut att = cbor::Fields::from_value(att).map_err(|_| "attestationObject")?;
        let fmt = att
            .take_text_key("fmt")
            .and_then(|v| v.as_text().map(str::to_owned))
            .ok_or("fmt")?;
        let att_stmt = att.take_text_key("attStmt").ok_or("attStmt")?;
        let auth_data = att
            .take_text_key("authData")
            .and_then(|v| cbor::as_bytes(v, 1 << 16).ok())
            .ok_or("authData")?;
        Ok(Self {
            json: json.clone(),
            client_data,
            client_data_raw,
            fmt,
            att_stmt,
            auth_data,
        })
    }

    /// The attestation object in canonical CBOR.
    pub(crate) fn attestation_object(&self) -> Vec<u8> {
        cbor::encode(
            &cbor::MapBuilder::new()
                .text("fmt", self.fmt.as_str())
                .text("attStmt", self.att_stmt.clone())
                .text("authData", cbor::bytes(self.auth_data.clone()))
                .build(),
        )
    }

    /// The response JSON with `attestation_object` and the current client
    /// data and authenticator data.
    pub(crate) fn encode_with(&self, attestation_object: &[u8]) -> serde_json::Value {
        let mut j = self.json.clone();
        j["response"]["clientDataJSON"] = json!(b64url(&self.client_data_bytes()));
        j["response"]["attestationObject"] = json!(b64url(attestation_object));
        j["response"]["authenticatorData"] = json!(b64url(&self.auth_data));
        j
    }

    /// The response JSON, canonical.
    pub(crate) fn encode(&self) -> serde_json::Value {
        self.encode_with(&self.attestation_object())
    }

    /// Offsets in the authenticator data: (credential ID length at 53..55,
    /// credential ID, COSE key start).
    pub(crate) fn cred_id_len(&self) -> usize {
        usize::from(u16::from_be_bytes([self.auth_data[53], self.auth_data[54]]))
    }

    /// The clientDataJSON `encode` sends: the bytes received, unless a
    /// case changed what they say.
    pub(crate) fn client_data_bytes(&self) -> Vec<u8> {
        let unchanged = serde_json::from_slice::<serde_json::Value>(&self.client_data_raw)
            .is_ok_and(|v| v == self.client_data);
        if unchanged {
            self.client_data_raw.clone()
        } else {
            self.client_data.to_string().into_bytes()
        }
    }

    /// authenticatorData || SHA-256(clientDataJSON): what a packed
    /// attestation signs (WebAuthn L3 §8.2) and self attestation too.
    pub(crate) fn signed_data(&self) -> Vec<u8> {
        let mut m = self.auth_data.clone();
        m.extend_from_slice(&sha256(&self.client_data_bytes()));
        m
    }

    /// The credential ID in the attested credential data (§6.5.1), if
    /// the authenticator data holds one as long as it says.
    pub(crate) fn credential_id(&self) -> Option<&[u8]> {
        let len = usize::from(u16::from_be_bytes([
            *self.auth_data.get(53)?,
            *self.auth_data.get(54)?,
        ]));
        self.auth_data.get(55..55 + len)
    }

    /// A packed attestation statement (§8.2): `x5c` empty for self
    /// attestation. Map keys in canonical order: alg, sig, x5c.
    pub(crate) fn set_packed(&mut self, alg: i64, sig: Vec<u8>, x5c: Vec<Vec<u8>>) {
        let mut stmt = cbor::MapBuilder::new()
            .text("alg", alg)
            .text("sig", cbor::bytes(sig));
        if !x5c.is_empty() {
            stmt = stmt.text(
                "x5c",
                Value::Array(x5c.into_iter().map(cbor::bytes).collect()),
            );
        }
        self.fmt = "packed".into();
        self.att_stmt = stmt.build();
    }

    /// A fido-u2f attestation statement (§8.6): sig, and x5c holding the
    /// one attestation certificate.
    pub(crate) fn set_fido_u2f(&mut self, sig: Vec<u8>, cert: Vec<u8>) {
        self.fmt = "fido-u2f".into();
        self.att_stmt = cbor::MapBuilder::new()
            .text("sig", cbor::bytes(sig))
            .text("x5c", Value::Array(vec![cbor::bytes(cert)]))
            .build();
    }

    /// The statement's x5c certificates (none for self or none).
    pub(crate) fn x5c(&self) -> Vec<Vec<u8>> {
        let Value::Map(pairs) = &self.att_stmt else {
            return Vec::new();
        };
        pairs
            .iter()
            .find(|(k, _)| k.as_text() == Some("x5c"))
            .and_then(|(_, v)| v.as_array())
            .map(|certs| certs.iter().filter_map(|c| c.as_bytes().cloned()).collect())
            .unwrap_or_default()
    }

    /// The statement's alg, if it has one.
    pub(crate) fn att_alg(&self) -> Option<i64> {
        let Value::Map(pairs) = &self.att_stmt else {
            return None;
        };
        pairs
            .iter()
            .find(|(k, _)| k.as_text() == Some("alg"))
            .and_then(|(_, v)| v.as_integer())
            .and_then(|i| i64::try_from(i).ok())
    }
}

/// The attestation object with "fmt" twice (a duplicate map key, which
/// CBOR decoders for WebAuthn must reject, RFC 8949 §5.6).
pub(crate) fn duplicate_key_object(r: &Registration) -> Vec<u8> {
    let mut out = vec![0xa4];
    out.extend(cbor::encode(&Value::from("fmt")));
    out.extend(cbor::encode(&Value::from(r.fmt.as_str())));
    out.extend(cbor::encode(&Value::from("fmt")));
    out.extend(cbor::encode(&Value::from("none")));
    out.extend(cbor::encode(&Value::from("attStmt")));
    out.extend(cbor::encode(&r.att_stmt));
    out.extend(cbor::encode(&Value::from("authData")));
    out.extend(cbor::encode(&cbor::bytes(r.auth_data.clone())));
    out
}

/// The attestation object with its map keys in reverse canonical order
/// and the authData length in a longer form than needed.
pub(crate) fn non_canonical_object(r: &Registration) -> Vec<u8> {
    let mut out = vec![0xa3];
    out.extend(cbor::encode(&Value::from("authData")));
    // Byte string, length as a 4-byte argument even when it fits in one.
    out.push(0x5a);
    out.extend_from_slice(&u32::try_from(r.auth_data.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&r.auth_data);
    out.extend(cbor::encode(&Value::from("attStmt")));
    out.extend(cbor::encode(&r.att_stmt));
    out.extend(cbor::encode(&Value::from("fmt")));
    out.extend(cbor::encode(&Value::from(r.fmt.as_str())));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use authenticator_core::crypto::keys::Algorithm;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn statements_are_replaced_and_client_data_kept_byte_for_byte() {
        // clientDataJSON with members in a browser's order and a space: a
        // re-serialization would change the bytes the key signed.
        let cd = br#"{"type":"webauthn.create", "challenge":"AAAA","origin":"https://a.example"}"#;
        let mut auth_data = vec![0u8; 55];
        auth_data[32] = 0x41;
        auth_data[54] = 2;
        auth_data.extend_from_slice(&[9, 8]);
        let object = cbor::encode(
            &cbor::MapBuilder::new()
                .text("fmt", "none")
                .text("attStmt", cbor::MapBuilder::new().build())
                .text("authData", cbor::bytes(auth_data.clone()))
                .build(),
        );
        let json = json!({"response": {
            "clientDataJSON": b64url(cd),
            "attestationObject": b64url(&object),
        }});
        let mut r = Registration::decode(&json).unwrap();
        assert_eq!(r.client_data_bytes(), cd);
        assert_eq!(r.credential_id(), Some(&[9u8, 8][..]));
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&sha256(cd));
        assert_eq!(r.signed_data(), signed);
        assert!(r.x5c().is_empty() && r.att_alg().is_none());

        r.set_packed(-7, vec![1, 2], vec![vec![3], vec![4, 5]]);
        assert_eq!((r.fmt.as_str(), r.att_alg()), ("packed", Some(-7)));
        assert_eq!(r.x5c(), [vec![3], vec![4, 5]]);
        let sent = r.encode();
        let again = Registration::decode(&sent).unwrap();
        assert_eq!(again.x5c(), [vec![3], vec![4, 5]]);
        assert_eq!(
            unb64url("", sent["response"]["clientDataJSON"].as_str().unwrap()).unwrap(),
            cd
        );
        // The statement's keys in canonical order: alg, sig, x5c.
        assert!(cbor::is_canonical(&again.attestation_object()));

        r.set_fido_u2f(vec![7], vec![8]);
        assert_eq!((r.fmt.as_str(), r.att_alg()), ("fido-u2f", None));
        assert_eq!(r.x5c(), [vec![8]]);

        // A changed member: the new clientDataJSON says it.
        r.client_data["origin"] = json!("https://evil.example");
        let changed: serde_json::Value = serde_json::from_slice(&r.client_data_bytes()).unwrap();
        assert_eq!(changed["origin"], "https://evil.example");
        assert_ne!(r.signed_data(), signed);
    }

    #[test]
    fn assertions_verify_and_defects_are_signed() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let held = Held {
            id: vec![1, 2, 3],
            key: PrivateKey::generate(Algorithm::Es256, &mut rng),
            user_handle: b"u".to_vec(),
            counter: 5,
        };
        let input = AssertionInput {
            rp_id: "shop.example".into(),
            kind: "webauthn.get".into(),
            challenge: vec![9; 16],
            origin: "https://shop.example".into(),
            flags: UP,
            counter: 6,
            trailing: vec![],
            rp_id_hash: None,
            sign_other_hash: None,
            user_handle: true,
        };
        let a = assertion(&held, &input).unwrap();
        let ad = unb64url("", &a.response.authenticator_data).unwrap();
        let cd = unb64url("", &a.response.client_data_json).unwrap();
        assert_eq!(ad.len(), 37);
        assert_eq!(ad[32], UP);
        assert_eq!(&ad[33..37], &6u32.to_be_bytes());
        let msg = [ad, sha256(&cd).to_vec()].concat();
        let pk = held.key.public_key().unwrap();
        let sig = unb64url("", &a.response.signature).unwrap();
        assert!(pk.verify(&msg, &sig));
        assert_eq!(a.response.user_handle.as_deref(), Some("dQ"));
        // Signed over other data: the signature does not verify.
        let other = AssertionInput {
            sign_other_hash: Some([7; 32]),
            ..input
        };
        let b = assertion(&held, &other).unwrap();
        let sig = unb64url("", &b.response.signature).unwrap();
        assert!(!pk.verify(&msg, &sig));
    }
}
