//! How records are written into the state file: small CBOR maps with
//! integer keys. Unknown keys are ignored when reading, so a later schema
//! may add fields without a migration; a missing required field or a wrong
//! type means the file is damaged.

use authenticator_core::cbor::{self, Fields, MapBuilder, Value};
use authenticator_core::crypto::keys::{Algorithm, PrivateKey};
use authenticator_core::store::User;
use authenticator_core::store::{Credential, DeviceState, Fingerprint, StoreError};
use authenticator_core::AttestationIdentity;
use authenticator_core::StatusCode;

/// Field sizes are checked against generous limits: the store never holds
/// more than the authenticator accepted on the wire.
const MAX_FIELD: usize = 4096;

fn corrupt<T>(_: T) -> StoreError {
    StoreError::Corrupt
}

fn opt_text(f: &mut Fields, key: i64) -> Result<Option<String>, StoreError> {
    f.take(key)
        .map(|v| cbor::as_text(v, MAX_FIELD))
        .transpose()
        .map_err(corrupt)
}

fn opt_bytes(f: &mut Fields, key: i64) -> Result<Option<Vec<u8>>, StoreError> {
    f.take(key)
        .map(|v| cbor::as_bytes(v, MAX_FIELD))
        .transpose()
        .map_err(corrupt)
}

fn req_bytes(f: &mut Fields, key: i64) -> Result<Vec<u8>, StoreError> {
    cbor::as_bytes(f.required(key).map_err(corrupt)?, MAX_FIELD).map_err(corrupt)
}

fn req_uint(f: &mut Fields, key: i64) -> Result<u64, StoreError> {
    cbor::as_uint(f.required(key).map_err(corrupt)?).map_err(corrupt)
}

fn small(v: u64) -> Result<u8, StoreError> {
    u8::try_from(v).map_err(corrupt)
}

/// A credential record. Keys: 1 id, 2 RP ID, 3 RP ID hash, 4 RP name, 5 user
/// handle, 6 user name, 7 display name, 8 COSE algorithm, 9 private key, 10
/// discoverable, 11 credProtect, 12 credBlob, 14 creation order (schema 2;
/// schema 1 had 13, milliseconds on the clock of the process that created
/// the credential, which restarted with every process).
pub(crate) fn encode_credential(c: &Credential) -> Vec<u8> {
    encode_with_order(c, KEY_ORDER)
}

/// A schema 1 record, `created_order` standing for the old creation time
/// (for upgrade tests).
#[cfg(test)]
pub(crate) fn encode_credential_v1(c: &Credential) -> Vec<u8> {
    encode_with_order(c, KEY_V1_CREATED_MS)
}

fn encode_with_order(c: &Credential, order_key: i64) -> Vec<u8> {
    cbor::encode(
        &MapBuilder::new()
            .int(1, cbor::bytes(c.id.clone()))
            .int(2, c.rp_id.as_str())
            .int(3, cbor::bytes(c.rp_id_hash.to_vec()))
            .opt(4, c.rp_name.as_deref())
            .int(5, cbor::bytes(c.user.id.clone()))
            .opt(6, c.user.name.as_deref())
            .opt(7, c.user.display_name.as_deref())
            .int(8, c.key.algorithm().cose())
            .int(9, cbor::bytes(c.key.secret_bytes().to_vec()))
            .int(10, c.discoverable)
            .int(11, u64::from(c.cred_protect))
            .opt(12, c.cred_blob.clone().map(cbor::bytes))
            .int(order_key, c.created_order)
            .build(),
    )
}

/// The creation order's key in schema 2.
const KEY_ORDER: i64 = 14;
/// Schema 1's creation time, on the creating process's clock.
const KEY_V1_CREATED_MS: i64 = 13;

/// A credential record of the current schema.
pub(crate) fn decode_credential(bytes: &[u8]) -> Result<Credential, StoreError> {
    decode_with_order(bytes, KEY_ORDER)
}

/// A schema 1 record; its `created_order` holds the old creation time in
/// milliseconds, which the upgrade turns into an order.
pub(crate) fn decode_credential_v1(bytes: &[u8]) -> Result<Credential, StoreError> {
    decode_with_order(bytes, KEY_V1_CREATED_MS)
}

fn decode_with_order(bytes: &[u8], order_key: i64) -> Result<Credential, StoreError> {
    let mut f = Fields::decode(bytes).map_err(corrupt)?;
    let id = req_bytes(&mut f, 1)?;
    let rp_id = cbor::as_text(f.required(2).map_err(corrupt)?, MAX_FIELD).map_err(corrupt)?;
    let rp_id_hash: [u8; 32] = req_bytes(&mut f, 3)?.try_into().map_err(corrupt)?;
    let rp_name = opt_text(&mut f, 4)?;
    let user = User {
        id: req_bytes(&mut f, 5)?,
        name: opt_text(&mut f, 6)?,
        display_name: opt_text(&mut f, 7)?,
    };
    let alg = cbor::as_int(f.required(8).map_err(corrupt)?).map_err(corrupt)?;
    let alg = Algorithm::from_cose(alg).ok_or(StoreError::Corrupt)?;
    let key = PrivateKey::from_bytes(alg, &req_bytes(&mut f, 9)?).map_err(corrupt)?;
    let discoverable = cbor::as_bool(f.required(10).map_err(corrupt)?).map_err(corrupt)?;
    let cred_protect = small(req_uint(&mut f, 11)?)?;
    let cred_blob = opt_bytes(&mut f, 12)?;
    let created_order = req_uint(&mut f, order_key)?;
    Ok(Credential {
        id,
        rp_id,
        rp_id_hash,
        rp_name,
        user,
        key,
        discoverable,
        cred_protect,
        cred_blob,
        created_order,
    })
}

/// The device state. Keys: 1 PIN hash, 2 PIN length in code points, 3 PIN
/// retries, 4 UV retries, 5 minimum PIN length, 6 minPinLength RP IDs, 7
/// forcePINChange, 8 alwaysUv, 9 enterprise attestation enabled, 10 the
/// enrolled fingerprints as [templateId, name] pairs (absent in states
/// written before fingerprints: none), 11 built-in UV operations since the
/// last PIN entry (absent: 0).
pub(crate) fn encode_device_state(s: &DeviceState) -> Vec<u8> {
    cbor::encode(
        &MapBuilder::new()
            .opt(1, s.pin_hash.map(|h| cbor::bytes(h.to_vec())))
            .int(2, u64::from(s.pin_code_points))
            .int(3, u64::from(s.pin_retries))
            .int(4, u64::from(s.uv_retries))
            .int(5, u64::from(s.min_pin_length))
            .int(
                6,
                Value::Array(
                    s.min_pin_length_rp_ids
                        .iter()
                        .map(|r| Value::from(r.as_str()))
                        .collect(),
                ),
            )
            .int(7, s.force_pin_change)
            .int(8, s.always_uv)
            .int(9, s.enterprise_attestation)
            .opt(
                10,
                (!s.fingerprints.is_empty()).then(|| {
                    Value::Array(
                        s.fingerprints
                            .iter()
                            .map(|f| {
                                Value::Array(vec![
                                    cbor::bytes(f.id.clone()),
                                    Value::from(f.name.as_str()),
                                ])
                            })
                            .collect(),
                    )
                }),
            )
            .opt(
                11,
                (s.uv_count_since_pin > 0).then_some(u64::from(s.uv_count_since_pin)),
            )
            .build(),
    )
}

pub(crate) fn decode_device_state(bytes: &[u8]) -> Result<DeviceState, StoreError> {
    let mut f = Fields::decode(bytes).map_err(corrupt)?;
    let pin_hash = opt_bytes(&mut f, 1)?
        .map(<[u8; 16]>::try_from)
        .transpose()
        .map_err(corrupt)?;
    let rp_ids = cbor::as_array(f.required(6).map_err(corrupt)?, 1024)
        .map_err(corrupt)?
        .into_iter()
        .map(|v| cbor::as_text(v, MAX_FIELD).map_err(corrupt))
        .collect::<Result<Vec<_>, _>>()?;
    let flag = |f: &mut Fields, k| -> Result<bool, StoreError> {
        cbor::as_bool(f.required(k).map_err(corrupt)?).map_err(corrupt)
    };
    Ok(DeviceState {
        pin_hash,
        pin_code_points: small(req_uint(&mut f, 2)?)?,
        pin_retries: small(req_uint(&mut f, 3)?)?,
        uv_retries: small(req_uint(&mut f, 4)?)?,
        min_pin_length: small(req_uint(&mut f, 5)?)?,
        min_pin_length_rp_ids: rp_ids,
        force_pin_change: flag(&mut f, 7)?,
        always_uv: flag(&mut f, 8)?,
        enterprise_attestation: flag(&mut f, 9)?,
        fingerprints: match f.take(10) {
            None => Vec::new(),
            Some(v) => cbor::as_array(v, 256)
                .map_err(corrupt)?
                .into_iter()
                .map(|pair| {
                    let mut pair = cbor::as_array(pair, 2).map_err(corrupt)?.into_iter();
                    let (Some(id), Some(name), None) = (pair.next(), pair.next(), pair.next())
                    else {
                        return Err(corrupt(StatusCode::InvalidCbor));
                    };
                    Ok(Fingerprint {
                        id: cbor::as_bytes(id, 64).map_err(corrupt)?,
                        name: cbor::as_text(name, MAX_FIELD).map_err(corrupt)?,
                    })
                })
                .collect::<Result<_, _>>()?,
        },
        uv_count_since_pin: match f.take(11) {
            None => 0,
            Some(v) => u32::try_from(cbor::as_uint(v).map_err(corrupt)?).map_err(corrupt)?,
        },
    })
}

/// An attestation identity: an array of CA key, CA certificate, batch key,
/// batch certificate.
pub(crate) fn encode_identity(identity: &AttestationIdentity) -> Vec<u8> {
    let (ca_key, ca_cert, batch_key, batch_cert) = identity.to_parts();
    cbor::encode(&Value::Array(vec![
        cbor::bytes(ca_key.to_vec()),
        cbor::bytes(ca_cert),
        cbor::bytes(batch_key.to_vec()),
        cbor::bytes(batch_cert),
    ]))
}

pub(crate) fn decode_identity(bytes: &[u8]) -> Result<AttestationIdentity, StoreError> {
    let parts = cbor::as_array(cbor::decode(bytes).map_err(corrupt)?, 4).map_err(corrupt)?;
    let mut parts = parts
        .into_iter()
        .map(|v| cbor::as_bytes(v, 16 * 1024).map_err(corrupt))
        .collect::<Result<Vec<_>, _>>()?;
    if parts.len() != 4 {
        return Err(StoreError::Corrupt);
    }
    let batch_cert = parts.pop().unwrap_or_default();
    let batch_key = zeroize::Zeroizing::new(parts.pop().unwrap_or_default());
    let ca_cert = parts.pop().unwrap_or_default();
    let ca_key = zeroize::Zeroizing::new(parts.pop().unwrap_or_default());
    AttestationIdentity::from_parts(&ca_key, ca_cert, &batch_key, batch_cert).map_err(corrupt)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn credential_round_trip() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        // Field 8 holds the COSE algorithm and field 9 the secret of the
        // algorithm's length, so a new algorithm is only new values in the
        // same fields: files written before it still load (cli's
        // tests/old_state.rs loads a file of the first schema).
        for (alg, blob) in [
            (Algorithm::Es256, None),
            (Algorithm::EdDsa, Some(vec![1, 2])),
            (Algorithm::Es384, None),
            (Algorithm::Es512, Some(vec![3])),
            (Algorithm::Es256K, None),
            (Algorithm::MlDsa44, None),
            (Algorithm::MlDsa87, Some(vec![4])),
        ] {
            let c = Credential {
                id: vec![7; 40],
                rp_id: "example.org".into(),
                rp_id_hash: authenticator_core::crypto::sha256(b"example.org"),
                rp_name: Some("Example".into()),
                user: User {
                    id: vec![1; 16],
                    name: Some("alice".into()),
                    display_name: None,
                },
                key: PrivateKey::generate(alg, &mut rng),
                discoverable: true,
                cred_protect: 2,
                cred_blob: blob,
                created_order: 99,
            };
            let back = decode_credential(&encode_credential(&c)).unwrap();
            assert_eq!(back.id, c.id);
            assert_eq!(back.rp_id, c.rp_id);
            assert_eq!(back.rp_id_hash, c.rp_id_hash);
            assert_eq!(back.rp_name, c.rp_name);
            assert_eq!(back.user, c.user);
            assert_eq!(back.key.secret_bytes(), c.key.secret_bytes());
            assert_eq!(back.key.algorithm(), alg);
            assert_eq!(back.cred_protect, 2);
            assert_eq!(back.cred_blob, c.cred_blob);
            assert_eq!(back.created_order, 99);
        }
        assert_eq!(decode_credential(&[0xa0]).err(), Some(StoreError::Corrupt));
        assert_eq!(decode_credential(b"junk").err(), Some(StoreError::Corrupt));
    }

    /// A secret whose length does not fit its algorithm, or an algorithm
    /// this build does not know, is a corrupt record, not a wrong key.
    #[test]
    fn a_secret_of_the_wrong_length_or_an_unknown_algorithm_is_corrupt() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let c = Credential {
            id: vec![7; 40],
            rp_id: "example.org".into(),
            rp_id_hash: authenticator_core::crypto::sha256(b"example.org"),
            rp_name: None,
            user: User {
                id: vec![1; 16],
                name: None,
                display_name: None,
            },
            key: PrivateKey::generate(Algorithm::Es256, &mut rng),
            discoverable: true,
            cred_protect: 0,
            cred_blob: None,
            created_order: 1,
        };
        let good = encode_credential(&c);
        let rebuild = |alg: i64| {
            let mut f = Fields::decode(&good).unwrap();
            let mut m = MapBuilder::new();
            for k in 1..=14 {
                if let Some(v) = f.take(k) {
                    m = m.int(k, if k == 8 { Value::from(alg) } else { v });
                }
            }
            cbor::encode(&m.build())
        };
        assert!(decode_credential(&rebuild(-7)).is_ok());
        // ES384 (-35) wants 48 bytes; RS256 (-257) is not implemented.
        assert_eq!(
            decode_credential(&rebuild(-35)).err(),
            Some(StoreError::Corrupt)
        );
        assert_eq!(
            decode_credential(&rebuild(-257)).err(),
            Some(StoreError::Corrupt)
        );
    }

    #[test]
    fn device_state_round_trip() {
        let s = DeviceState {
            pin_hash: Some([4; 16]),
            pin_code_points: 6,
            pin_retries: 5,
            uv_retries: 2,
            min_pin_length: 8,
            min_pin_length_rp_ids: vec!["a.example".into()],
            force_pin_change: true,
            always_uv: true,
            enterprise_attestation: true,
            fingerprints: vec![
                Fingerprint {
                    id: vec![1],
                    name: "left thumb".into(),
                },
                Fingerprint {
                    id: vec![2],
                    name: String::new(),
                },
            ],
            uv_count_since_pin: 3,
        };
        assert_eq!(decode_device_state(&encode_device_state(&s)).unwrap(), s);
        let d = DeviceState::default();
        assert_eq!(decode_device_state(&encode_device_state(&d)).unwrap(), d);
        assert!(decode_device_state(&[0xa0]).is_err());
        // A state without key 10 (written before fingerprints) has none.
        let mut old = Fields::decode(&encode_device_state(&s)).unwrap();
        old.take(10).unwrap();
        let rest = cbor::encode(&Value::Map(old.into_rest()));
        assert!(decode_device_state(&rest).unwrap().fingerprints.is_empty());
        // A damaged fingerprint entry is corruption, not a panic.
        let mut bad = Fields::decode(&encode_device_state(&d))
            .unwrap()
            .into_rest();
        bad.push((Value::from(10), Value::Array(vec![Value::Array(vec![])])));
        assert_eq!(
            decode_device_state(&cbor::encode(&Value::Map(bad))).err(),
            Some(StoreError::Corrupt)
        );
    }
}
