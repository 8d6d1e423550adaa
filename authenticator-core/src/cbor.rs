//! The one place that talks to ciborium.
//!
//! Decoding turns request bytes into a [`Value`] tree while enforcing the
//! limits of CTAP 2.1 §8 (message encoding); [`Fields`] then hands typed
//! values to the `wire` modules, mapping each kind of defect to the status
//! code the spec gives it:
//!
//! | defect                          | status                            |
//! |---------------------------------|-----------------------------------|
//! | not CBOR, truncated, trailing   | `CTAP2_ERR_INVALID_CBOR`          |
//! | duplicate map key, too deep     | `CTAP2_ERR_INVALID_CBOR`          |
//! | a field of the wrong CBOR type  | `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`  |
//! | a required field absent         | `CTAP2_ERR_MISSING_PARAMETER`     |
//! | a field longer than its limit   | `CTAP1_ERR_INVALID_LENGTH`        |
//!
//! Encoding always produces CTAP2 canonical CBOR (§8.2): shortest integer and
//! length forms, definite lengths, no tags, and map keys sorted by the length
//! of their encoding first and then by their encoded bytes.

use crate::limits::MAX_CBOR_NESTING;
use crate::status::StatusCode;

pub use ciborium::value::{Integer, Value};

/// Decodes one complete CBOR item; trailing bytes, duplicate map keys, tags
/// and nesting deeper than [`MAX_CBOR_NESTING`] are rejected.
pub fn decode(bytes: &[u8]) -> Result<Value, StatusCode> {
    let mut reader = bytes;
    let value: Value =
        ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_CBOR_NESTING + 1)
            .map_err(|_| StatusCode::InvalidCbor)?;
    if !reader.is_empty() {
        return Err(StatusCode::InvalidCbor);
    }
    check_tree(&value, 0)?;
    Ok(value)
}

fn check_tree(value: &Value, depth: usize) -> Result<(), StatusCode> {
    if depth > MAX_CBOR_NESTING {
        return Err(StatusCode::InvalidCbor);
    }
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| check_tree(v, depth + 1)),
        Value::Map(entries) => {
            // CTAP 2.1 §8: decoders should reject messages with duplicate map keys.
            let mut keys: Vec<Vec<u8>> = entries.iter().map(|(k, _)| encode_value(k)).collect();
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return Err(StatusCode::InvalidCbor);
            }
            entries.iter().try_for_each(|(k, v)| {
                check_tree(k, depth + 1)?;
                check_tree(v, depth + 1)
            })
        }
        // CTAP 2.1 §8 (CTAP2 canonical CBOR): tags must not be present.
        Value::Tag(..) => Err(StatusCode::InvalidCbor),
        _ => Ok(()),
    }
}

/// Encodes a value in CTAP2 canonical form (maps are sorted on the way out).
pub fn encode(value: &Value) -> Vec<u8> {
    let mut value = value.clone();
    canonicalize(&mut value);
    encode_value(&value)
}

fn encode_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every Value is serializable.
    if ciborium::ser::into_writer(value, &mut out).is_err() {
        out.clear();
    }
    out
}

/// Sorts every map in `value` into CTAP2 canonical key order.
pub fn canonicalize(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(canonicalize),
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                canonicalize(k);
                canonicalize(v);
            }
            entries.sort_by_cached_key(|(k, _)| {
                let bytes = encode_value(k);
                (bytes.len(), bytes)
            });
        }
        Value::Tag(_, inner) => canonicalize(inner),
        _ => {}
    }
}

/// Whether `bytes` are exactly the canonical encoding of what they decode to.
pub fn is_canonical(bytes: &[u8]) -> bool {
    let mut reader = bytes;
    match ciborium::de::from_reader::<Value, _>(&mut reader) {
        Ok(v) if reader.is_empty() => encode(&v) == bytes,
        _ => false,
    }
}

/// Builds a CBOR map with integer keys (the shape of every CTAP2 response).
#[derive(Debug, Default)]
pub struct MapBuilder(Vec<(Value, Value)>);

impl MapBuilder {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key => value`.
    pub fn int(mut self, key: i64, value: impl Into<Value>) -> Self {
        self.0.push((Value::from(key), value.into()));
        self
    }

    /// Adds `key => value` when `value` is present.
    pub fn opt(self, key: i64, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.int(key, v),
            None => self,
        }
    }

    /// Adds a text-keyed entry.
    pub fn text(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.push((Value::from(key), value.into()));
        self
    }

    /// The finished map value.
    pub fn build(self) -> Value {
        Value::Map(self.0)
    }
}

/// A byte string value.
pub fn bytes(b: impl Into<Vec<u8>>) -> Value {
    Value::Bytes(b.into())
}

/// A request map with integer keys, consumed field by field.
#[derive(Debug)]
pub struct Fields(Vec<(Value, Value)>);

impl Fields {
    /// Decodes `bytes`, which must be a CBOR map.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatusCode> {
        Self::from_value(decode(bytes)?)
    }

    /// Wraps a value, which must be a map.
    pub fn from_value(value: Value) -> Result<Self, StatusCode> {
        match value {
            Value::Map(entries) => Ok(Self(entries)),
            _ => Err(StatusCode::CborUnexpectedType),
        }
    }

    /// Removes and returns the value under integer key `key`.
    pub fn take(&mut self, key: i64) -> Option<Value> {
        let pos = self.0.iter().position(
            |(k, _)| matches!(k, Value::Integer(i) if i128::from(*i) == i128::from(key)),
        )?;
        Some(self.0.swap_remove(pos).1)
    }

    /// Removes and returns the value under text key `key`.
    pub fn take_text_key(&mut self, key: &str) -> Option<Value> {
        let pos = self
            .0
            .iter()
            .position(|(k, _)| matches!(k, Value::Text(t) if t == key))?;
        Some(self.0.swap_remove(pos).1)
    }

    /// A required field.
    pub fn required(&mut self, key: i64) -> Result<Value, StatusCode> {
        self.take(key).ok_or(StatusCode::MissingParameter)
    }

    /// A required field under a text key.
    pub fn required_text_key(&mut self, key: &str) -> Result<Value, StatusCode> {
        self.take_text_key(key).ok_or(StatusCode::MissingParameter)
    }

    /// What is left (unknown keys, which requests ignore).
    pub fn into_rest(self) -> Vec<(Value, Value)> {
        self.0
    }
}

/// A byte string of at most `max` bytes.
pub fn as_bytes(v: Value, max: usize) -> Result<Vec<u8>, StatusCode> {
    match v {
        Value::Bytes(b) if b.len() <= max => Ok(b),
        Value::Bytes(_) => Err(StatusCode::InvalidLength),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// A text string of at most `max` bytes.
pub fn as_text(v: Value, max: usize) -> Result<String, StatusCode> {
    match v {
        Value::Text(t) if t.len() <= max => Ok(t),
        Value::Text(_) => Err(StatusCode::InvalidLength),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// A boolean.
pub fn as_bool(v: Value) -> Result<bool, StatusCode> {
    match v {
        Value::Bool(b) => Ok(b),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// An integer that fits `i64`.
pub fn as_int(v: Value) -> Result<i64, StatusCode> {
    match v {
        Value::Integer(i) => i64::try_from(i).map_err(|_| StatusCode::InvalidParameter),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// An unsigned integer.
pub fn as_uint(v: Value) -> Result<u64, StatusCode> {
    match v {
        Value::Integer(i) => u64::try_from(i).map_err(|_| StatusCode::CborUnexpectedType),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// An array of at most `max` items.
pub fn as_array(v: Value, max: usize) -> Result<Vec<Value>, StatusCode> {
    match v {
        Value::Array(a) if a.len() <= max => Ok(a),
        Value::Array(_) => Err(StatusCode::LimitExceeded),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// A map.
pub fn as_map(v: Value) -> Result<Vec<(Value, Value)>, StatusCode> {
    match v {
        Value::Map(m) => Ok(m),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// Test helper: panics unless `bytes` are in CTAP2 canonical form.
#[cfg(test)]
pub(crate) fn assert_canonical(bytes: &[u8]) {
    assert!(is_canonical(bytes), "not canonical CBOR: {}", hex(bytes));
}

#[cfg(test)]
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_key_order_is_length_first() {
        let v = MapBuilder::new()
            .text("up", true)
            .text("rk", false)
            .int(256, 1)
            .int(-1, 2)
            .int(3, 3)
            .build();
        let enc = encode(&v);
        // keys by encoding: 03, 20 (-1), 19 0100 (256), 62 726b ("rk"), 62 7570 ("up")
        assert_eq!(hex(&enc), "a5030320021901000162726bf4627570f5");
        assert_canonical(&enc);
    }

    #[test]
    fn rejects_tags() {
        // CTAP 2.1 §8: no tags, also not around an indefinite-length string.
        assert_eq!(decode(&[0xc3, 0x5f, 0xff]), Err(StatusCode::InvalidCbor));
        assert_eq!(decode(&[0xc0, 0x60]), Err(StatusCode::InvalidCbor));
        assert_eq!(
            decode(&[0xa1, 0x01, 0xd8, 0x20, 0x60]),
            Err(StatusCode::InvalidCbor)
        );
    }

    #[test]
    fn rejects_trailing_bytes_duplicates_and_junk() {
        assert_eq!(decode(&[0xa0, 0x00]), Err(StatusCode::InvalidCbor));
        assert_eq!(
            decode(&[0xa2, 0x01, 0x01, 0x01, 0x02]),
            Err(StatusCode::InvalidCbor)
        );
        assert_eq!(decode(&[0xff]), Err(StatusCode::InvalidCbor));
        assert_eq!(decode(&[]), Err(StatusCode::InvalidCbor));
        assert_eq!(
            decode(&[0x5a, 0xff, 0xff, 0xff, 0xff]),
            Err(StatusCode::InvalidCbor)
        );
        assert!(decode(&[0xa1, 0x01, 0x01]).is_ok());
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut deep = vec![0x81; MAX_CBOR_NESTING + 2];
        deep.push(0x00);
        assert_eq!(decode(&deep), Err(StatusCode::InvalidCbor));
        let mut ok = vec![0x81; MAX_CBOR_NESTING];
        ok.push(0x00);
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn detects_non_canonical() {
        assert!(is_canonical(&[0xa2, 0x01, 0x01, 0x02, 0x02]));
        assert!(!is_canonical(&[0xa2, 0x02, 0x02, 0x01, 0x01]));
        assert!(!is_canonical(&[0x18, 0x01]));
        assert!(!is_canonical(&[0x9f, 0xff]));
    }
}
