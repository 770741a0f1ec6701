//! RFC 8785 (JSON Canonicalization Scheme) for the values Bündel stores, and SHA-256 over it.
//!
//! Our events hold only strings, integers, booleans, null, arrays and objects; floats are refused
//! (money is integer cents). For that subset JCS is: object members sorted by the UTF-16 code units
//! of their names, no insignificant white space, integers in shortest decimal form, and strings
//! escaped as ECMAScript's `JSON.stringify` does (`"`, `\`, and control characters only, with
//! `\b \f \n \r \t` short forms and lowercase `\u00xx` otherwise), which is what `serde_json` emits.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The value holds something JCS would render differently from what we verify (a float).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not canonicalizable: {0}")]
pub struct NotCanonical(pub String);

/// The canonical JSON bytes of a value.
pub fn to_canonical(value: &Value) -> Result<Vec<u8>, NotCanonical> {
    let mut out = Vec::with_capacity(512);
    write(value, &mut out)?;
    Ok(out)
}

/// Lowercase hex SHA-256 of the canonical JSON of a value.
pub fn sha256_hex(value: &Value) -> Result<String, NotCanonical> {
    Ok(hex(&Sha256::digest(to_canonical(value)?)))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn write(value: &Value, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(NotCanonical(format!("float {n}")));
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
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write(&map[key.as_str()], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping is the ECMAScript one for every character we can meet.
    if serde_json::to_writer(&mut *out, s).is_err() {
        unreachable!("writing a string into a Vec cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_sorted_and_white_space_dropped() {
        let v = json!({"b": 1, "a": [true, null, "x\ny"], "\u{e9}": -3, "A": {"z": 0, "y": ""}});
        let bytes = to_canonical(&v).expect("canonical");
        assert_eq!(
            String::from_utf8(bytes).expect("utf8"),
            r#"{"A":{"y":"","z":0},"a":[true,null,"x\ny"],"b":1,"é":-3}"#
        );
    }

    #[test]
    fn control_characters_use_lowercase_unicode_escapes() {
        let bytes = to_canonical(&json!("\u{1f}\u{7f}")).expect("canonical");
        assert_eq!(String::from_utf8(bytes).expect("utf8"), "\"\\u001f\u{7f}\"");
    }

    #[test]
    fn floats_are_refused() {
        assert!(to_canonical(&json!({"amount": 1.5})).is_err());
    }

    #[test]
    fn the_hash_is_stable_under_member_order() {
        let a = sha256_hex(&json!({"x": 1, "y": 2})).expect("hash");
        let b = sha256_hex(&json!({"y": 2, "x": 1})).expect("hash");
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }
}
