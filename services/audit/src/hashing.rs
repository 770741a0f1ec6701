//! The event hash, computed fast: the same bytes as [`buendel_contract::canonical::to_canonical`]
//! (RFC 8785 for integers, strings, booleans, null, arrays and objects; floats refused), written
//! into a buffer reused per thread, without sorting member names that are already in order.
//!
//! `serde_json`'s map keeps member names ordered by their UTF-8 bytes, which is the order of their
//! UTF-16 code units (what RFC 8785 sorts by) unless a name holds a character at or above U+E000;
//! only objects with such a name are sorted again. Tests compare with the contract's canonical form.

use std::cell::RefCell;
use std::io::Write as _;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use buendel_contract::canonical::{hex, NotCanonical};

thread_local! {
    /// The canonical bytes of the last value hashed on this thread, reused to save allocations.
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
}

/// Lowercase hex SHA-256 of the canonical JSON of `value`: equal to
/// [`buendel_contract::canonical::sha256_hex`].
pub fn canonical_sha256(value: &Value) -> Result<String, NotCanonical> {
    BUFFER.with(|buffer| {
        let mut out = buffer.borrow_mut();
        out.clear();
        write(value, &mut out)?;
        Ok(hex(&Sha256::digest(out.as_slice())))
    })
}

fn write(value: &Value, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let written = if let Some(i) = n.as_i64() {
                write!(out, "{i}")
            } else if let Some(u) = n.as_u64() {
                write!(out, "{u}")
            } else {
                return Err(NotCanonical(format!("float {n}")));
            };
            if written.is_err() {
                unreachable!("writing into a Vec cannot fail");
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            if map.keys().all(|key| in_utf16_order(key)) {
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_string(key, out);
                    out.push(b':');
                    write(item, out)?;
                }
            } else {
                let mut members: Vec<(&String, &Value)> = map.iter().collect();
                members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
                for (i, (key, item)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_string(key, out);
                    out.push(b':');
                    write(item, out)?;
                }
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// True when the name has no character at or above U+E000 (UTF-8 lead byte 0xEE or higher), so
/// byte order and UTF-16 order agree for it.
fn in_utf16_order(key: &str) -> bool {
    key.bytes().all(|b| b < 0xEE)
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // The escaping of the contract's canonical form: serde_json's.
    if serde_json::to_writer(&mut *out, s).is_err() {
        unreachable!("writing a string into a Vec cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buendel_contract::canonical::sha256_hex;
    use proptest::prelude::*;
    use serde_json::json;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_fast_hash_is_the_contracts_hash(v in value()) {
            prop_assert_eq!(canonical_sha256(&v), sha256_hex(&v));
        }
    }

    #[test]
    fn names_beyond_the_basic_plane_are_sorted_by_utf16() {
        let v = json!({"\u{ff61}": 1, "\u{1f600}": 2, "a": 3});
        assert_eq!(canonical_sha256(&v), sha256_hex(&v));
    }

    #[test]
    fn floats_are_refused() {
        assert!(canonical_sha256(&json!({"a": [1.5]})).is_err());
    }
}
