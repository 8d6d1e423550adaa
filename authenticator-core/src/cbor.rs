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

use ciborium_ll::{simple, Decoder, Encoder, Header};

use crate::limits::MAX_CBOR_NESTING;
use crate::status::StatusCode;

pub use ciborium::value::{Integer, Value};

/// Decodes one complete CBOR item; trailing bytes, duplicate map keys, tags
/// and nesting deeper than [`MAX_CBOR_NESTING`] are rejected.
///
/// The item is read straight from ciborium's low-level decoder into a
/// [`Value`], checking the limits on the way, rather than through serde:
/// the request path decodes every command, and this is several times
/// faster.
pub fn decode(bytes: &[u8]) -> Result<Value, StatusCode> {
    let mut reader = bytes;
    let value = decode_item(&mut Decoder::from(&mut reader), bytes.len(), 0)?;
    if !reader.is_empty() {
        return Err(StatusCode::InvalidCbor);
    }
    Ok(value)
}

type Reader<'a, 'b> = Decoder<&'a mut &'b [u8]>;

/// One item at nesting `depth` (the outermost is 0). `budget` is the input
/// length, an upper bound for every length a header may claim.
fn decode_item(d: &mut Reader<'_, '_>, budget: usize, depth: usize) -> Result<Value, StatusCode> {
    if depth > MAX_CBOR_NESTING {
        return Err(StatusCode::InvalidCbor);
    }
    let bad = |_| StatusCode::InvalidCbor;
    Ok(match d.pull().map_err(bad)? {
        Header::Positive(n) => Value::Integer(n.into()),
        Header::Negative(n) => Value::Integer(
            Integer::try_from(-1 - i128::from(n)).map_err(|_| StatusCode::InvalidCbor)?,
        ),
        Header::Float(f) => Value::Float(f),
        Header::Simple(simple::FALSE) => Value::Bool(false),
        Header::Simple(simple::TRUE) => Value::Bool(true),
        Header::Simple(simple::NULL | simple::UNDEFINED) => Value::Null,
        // Other simple values are not CTAP data; CTAP 2.1 §8 (CTAP2
        // canonical CBOR): tags must not be present.
        Header::Simple(_) | Header::Tag(_) | Header::Break => return Err(StatusCode::InvalidCbor),
        Header::Bytes(len) => {
            let mut out = Vec::with_capacity(len.unwrap_or(0).min(budget));
            let mut segments = d.bytes(check_len(len, budget)?);
            let mut buf = [0u8; 256];
            while let Some(mut segment) = segments.pull().map_err(bad)? {
                while let Some(chunk) = segment.pull(&mut buf).map_err(bad)? {
                    out.extend_from_slice(chunk);
                }
            }
            Value::Bytes(out)
        }
        Header::Text(len) => {
            let mut out = String::with_capacity(len.unwrap_or(0).min(budget));
            let mut segments = d.text(check_len(len, budget)?);
            let mut buf = [0u8; 256];
            while let Some(mut segment) = segments.pull().map_err(bad)? {
                while let Some(chunk) = segment.pull(&mut buf).map_err(bad)? {
                    out.push_str(chunk);
                }
            }
            Value::Text(out)
        }
        Header::Array(len) => {
            let mut items = Vec::with_capacity(check_len(len, budget)?.unwrap_or(0));
            match len {
                Some(n) => {
                    for _ in 0..n {
                        items.push(decode_item(d, budget, depth + 1)?);
                    }
                }
                None => loop {
                    match d.pull().map_err(bad)? {
                        Header::Break => break,
                        h => d.push(h),
                    }
                    items.push(decode_item(d, budget, depth + 1)?);
                },
            }
            Value::Array(items)
        }
        Header::Map(len) => {
            let mut entries = Vec::with_capacity(check_len(len, budget)?.unwrap_or(0));
            loop {
                if let Some(n) = len {
                    if entries.len() == n {
                        break;
                    }
                } else {
                    match d.pull().map_err(bad)? {
                        Header::Break => break,
                        h => d.push(h),
                    }
                }
                let k = decode_item(d, budget, depth + 1)?;
                let v = decode_item(d, budget, depth + 1)?;
                entries.push((k, v));
            }
            // CTAP 2.1 §8: decoders should reject messages with duplicate
            // map keys.
            if has_duplicate_keys(&entries) {
                return Err(StatusCode::InvalidCbor);
            }
            Value::Map(entries)
        }
    })
}

/// A definite length no longer than the whole input (every byte string,
/// text, array entry or map entry takes at least one byte), so that a
/// header cannot make the decoder allocate more than the input's size.
fn check_len(len: Option<usize>, budget: usize) -> Result<Option<usize>, StatusCode> {
    match len {
        Some(n) if n > budget => Err(StatusCode::InvalidCbor),
        other => Ok(other),
    }
}

/// Whether two keys of a map are the same item. Keys of different kinds
/// never encode alike; integers, strings and booleans compare directly,
/// anything else by its encoding.
fn has_duplicate_keys(entries: &[(Value, Value)]) -> bool {
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Integer(x), Value::Integer(y)) => x == y,
            (Value::Text(x), Value::Text(y)) => x == y,
            (Value::Bytes(x), Value::Bytes(y)) => x == y,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Null, Value::Null) => true,
            _ if core::mem::discriminant(a) != core::mem::discriminant(b) => false,
            _ => encode_value(a) == encode_value(b),
        }
    }
    if entries.len() <= 16 {
        return entries
            .iter()
            .enumerate()
            .any(|(i, (k, _))| entries[i + 1..].iter().any(|(other, _)| same(k, other)));
    }
    let mut keys: Vec<Vec<u8>> = entries.iter().map(|(k, _)| encode_value(k)).collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

/// Encodes a value in CTAP2 canonical form (maps are sorted on the way out).
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::from(&mut out);
    // Writing into a Vec cannot fail.
    if encode_canonical(&mut encoder, value).is_err() {
        out.clear();
    }
    out
}

/// Writes `value` with every map in CTAP2 canonical key order, without
/// copying the value: each map's keys are encoded, sorted (length first,
/// then bytes) and written in that order with their values.
fn encode_canonical(e: &mut Encoder<&mut Vec<u8>>, value: &Value) -> std::io::Result<()> {
    match value {
        Value::Array(items) => {
            e.push(Header::Array(Some(items.len())))?;
            for item in items {
                encode_canonical(e, item)?;
            }
            Ok(())
        }
        Value::Map(entries) => {
            e.push(Header::Map(Some(entries.len())))?;
            let mut keys: Vec<(Vec<u8>, &Value)> =
                entries.iter().map(|(k, v)| (encode(k), v)).collect();
            keys.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            for (k, v) in keys {
                ciborium_io::Write::write_all(e, &k)?;
                encode_canonical(e, v)?;
            }
            Ok(())
        }
        Value::Tag(tag, inner) => {
            e.push(Header::Tag(*tag))?;
            encode_canonical(e, inner)
        }
        other => encode_into(e, other),
    }
}

fn encode_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::from(&mut out);
    // Writing into a Vec cannot fail.
    if encode_into(&mut encoder, value).is_err() {
        out.clear();
    }
    out
}

/// Writes `value` as it stands (maps in their order) through ciborium's
/// low-level encoder, which always picks the shortest form for integers,
/// lengths and floats that keep their value.
fn encode_into(e: &mut Encoder<&mut Vec<u8>>, value: &Value) -> std::io::Result<()> {
    match value {
        Value::Integer(i) => {
            let i = i128::from(*i);
            match u64::try_from(i) {
                Ok(n) => e.push(Header::Positive(n))?,
                // CBOR's negative integers run down to -2^64.
                Err(_) => e.push(Header::Negative(u64::try_from(-1 - i).unwrap_or(u64::MAX)))?,
            }
        }
        Value::Bytes(b) => e.bytes(b, None)?,
        Value::Text(t) => e.text(t, None)?,
        Value::Float(f) => e.push(Header::Float(*f))?,
        Value::Bool(b) => e.push(Header::Simple(if *b {
            simple::TRUE
        } else {
            simple::FALSE
        }))?,
        Value::Null => e.push(Header::Simple(simple::NULL))?,
        Value::Tag(tag, inner) => {
            e.push(Header::Tag(*tag))?;
            encode_into(e, inner)?;
        }
        Value::Array(items) => {
            e.push(Header::Array(Some(items.len())))?;
            for item in items {
                encode_into(e, item)?;
            }
        }
        Value::Map(entries) => {
            e.push(Header::Map(Some(entries.len())))?;
            for (k, v) in entries {
                encode_into(e, k)?;
                encode_into(e, v)?;
            }
        }
        // `Value` is non-exhaustive; every kind it has today is above.
        _ => e.push(Header::Simple(simple::UNDEFINED))?,
    }
    Ok(())
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
#[allow(clippy::unwrap_used)]
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

    /// A random value of up to `depth` levels, with every kind of item
    /// CTAP data uses (and floats).
    fn random_value(rng: &mut rand_chacha::ChaCha20Rng, depth: usize) -> Value {
        use rand_core::Rng;
        let pick = rng.next_u32() % if depth == 0 { 7 } else { 9 };
        let n = rng.next_u64();
        match pick {
            0 => Value::Integer((n >> (n % 64)).into()),
            1 => Value::Integer(Integer::try_from(-1 - i128::from(n >> (n % 64))).unwrap()),
            2 => Value::Bytes((0..n % 40).map(|i| (i * 7) as u8).collect()),
            3 => Value::Text(
                ["", "a", "rp.example", "ünïcödé", "x".repeat(300).as_str()][(n % 5) as usize]
                    .to_owned(),
            ),
            4 => Value::Bool(n.is_multiple_of(2)),
            5 => Value::Null,
            6 => Value::Float([0.0, 1.5, -2.25, 1e300, 65504.0][(n % 5) as usize]),
            7 => Value::Array((0..n % 6).map(|_| random_value(rng, depth - 1)).collect()),
            _ => Value::Map(
                (0..n % 6)
                    .map(|i| {
                        let key = match i % 3 {
                            0 => Value::from(3 - i as i64),
                            1 => Value::Text(format!("k{}", 9 - i)),
                            _ => Value::from(300 + i as i64),
                        };
                        (key, random_value(rng, depth - 1))
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn decoding_and_encoding_agree_with_ciborium_serde() {
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(21);
        for _ in 0..2000 {
            let v = random_value(&mut rng, 4);
            let mut by_serde = Vec::new();
            ciborium::ser::into_writer(&v, &mut by_serde).unwrap();
            assert_eq!(encode_value(&v), by_serde, "{v:?}");
            // The canonical encoder writes what sorting a copy would.
            let mut sorted = v.clone();
            canonicalize(&mut sorted);
            assert_eq!(encode(&v), encode_value(&sorted), "{v:?}");
            assert_canonical(&encode(&v));
            assert_eq!(decode(&by_serde).as_ref(), Ok(&v), "{}", hex(&by_serde));
            // Every proper prefix is truncated CBOR.
            for cut in [1, by_serde.len() / 2, by_serde.len() - 1] {
                if cut > 0 && cut < by_serde.len() {
                    assert_eq!(decode(&by_serde[..cut]), Err(StatusCode::InvalidCbor));
                }
            }
        }
    }

    #[test]
    fn indefinite_lengths_simple_values_and_extremes() {
        // An indefinite map holding an indefinite array, chunked bytes
        // and chunked text.
        let bytes = [
            0xbf, 0x01, 0x9f, 0x01, 0x02, 0xff, 0x02, 0x5f, 0x41, 0xaa, 0x42, 0xbb, 0xcc, 0xff,
            0x03, 0x7f, 0x61, 0x61, 0x62, 0x62, 0x63, 0xff, 0xff,
        ];
        let v = decode(&bytes).unwrap();
        let expected = MapBuilder::new()
            .int(1, Value::Array(vec![Value::from(1), Value::from(2)]))
            .int(2, Value::Bytes(vec![0xaa, 0xbb, 0xcc]))
            .int(3, "abc")
            .build();
        assert_eq!(v, expected);
        // undefined reads as null, as ciborium reads it; other simple
        // values are refused.
        assert_eq!(decode(&[0xf7]), Ok(Value::Null));
        assert_eq!(decode(&[0xf0]), Err(StatusCode::InvalidCbor));
        // -2^64, the smallest CBOR integer.
        let min = decode(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(
            min,
            Value::Integer(Integer::try_from(-(1i128 << 64)).unwrap())
        );
        assert_eq!(
            encode(&min),
            [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        // Lengths longer than the input are refused before anything is
        // allocated for them.
        for huge in [
            &[0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
            &[0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x7a, 0x00, 0x01, 0x00, 0x00],
        ] {
            assert_eq!(decode(huge), Err(StatusCode::InvalidCbor), "{}", hex(huge));
        }
        // Invalid UTF-8 in a text string.
        assert_eq!(decode(&[0x62, 0xc3, 0x28]), Err(StatusCode::InvalidCbor));
    }

    #[test]
    fn duplicate_keys_are_found_in_small_and_large_maps() {
        for size in [2usize, 16, 17, 40] {
            let mut entries: Vec<(Value, Value)> = (0..size)
                .map(|i| (Value::Text(format!("k{i}")), Value::Null))
                .collect();
            let mut unique = Vec::new();
            ciborium::ser::into_writer(&Value::Map(entries.clone()), &mut unique).unwrap();
            assert!(decode(&unique).is_ok(), "{size}");
            entries[size - 1].0 = Value::Text("k0".into());
            let mut dup = Vec::new();
            ciborium::ser::into_writer(&Value::Map(entries), &mut dup).unwrap();
            assert_eq!(decode(&dup), Err(StatusCode::InvalidCbor), "{size}");
        }
        // Equal floats are the same key; 1 and 1.0 are not.
        assert_eq!(
            decode(&[0xa2, 0xf9, 0x3c, 0x00, 0x01, 0xf9, 0x3c, 0x00, 0x02]),
            Err(StatusCode::InvalidCbor)
        );
        assert!(decode(&[0xa2, 0xf9, 0x3c, 0x00, 0x01, 0x01, 0x02]).is_ok());
    }
}
