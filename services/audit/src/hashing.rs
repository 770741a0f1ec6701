//! The event hash, computed fast: the same bytes as [`buendel_contract::canonical::to_canonical`]
//! (RFC 8785 for integers, strings, booleans, null, arrays and objects; floats refused), written
//! from a [`Json`] tree that borrows the stored bytes' strings, into a buffer reused per thread.
//!
//! Member names are sorted by their UTF-8 bytes, which is the order of their UTF-16 code units
//! (what RFC 8785 sorts by) unless a name holds a character at or above U+E000; only objects with
//! such a name are sorted by UTF-16. Tests compare with the contract's canonical form.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::Write as _;

use sha2::{Digest as _, Sha256};

use buendel_contract::canonical::hex;

thread_local! {
    /// The canonical bytes of the last value hashed on this thread, reused to save allocations.
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
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

/// A JSON value that borrows its strings from the bytes it was parsed from (escaped strings are
/// copied): the stored event as the auditor's fast path reads it, without building a
/// [`serde_json::Value`] (a map and a `String` per member). Members are kept in the order stored,
/// duplicates included; numbers as they come from the parser, a float only noted.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// Any other number (canonical JSON refuses it).
    Float,
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<Json<'a>>),
    /// An object, its members in stored order.
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Parses one JSON text.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The member `name` of an object (the last one, as [`serde_json::Value`] keeps it).
    pub fn get(&self, name: &str) -> Option<&Json<'a>> {
        match self {
            Json::Obj(members) => members
                .iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Json<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(u64::try_from(v).map_or(Json::Int(v), Json::UInt))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::UInt(v))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Json<'de>, E> {
        Ok(Json::Float)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Name(name)) = map.next_key()? {
            members.push((name, map.next_value()?));
        }
        Ok(Json::Obj(members))
    }
}

/// A member name, borrowed when it holds no escape.
struct Name<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Name<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> serde::de::Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// Lowercase hex SHA-256 of the canonical JSON of an object's members, leaving out the member
/// `skip`: what [`buendel_contract::canonical::sha256_hex`] gives for the object parsed as a `Value`
/// without that member.
/// `None` when the members cannot be hashed without doubt: a float anywhere, or a name twice in
/// one object (where a `Value` keeps only the last). The caller then takes the full path, which
/// names the fault.
pub fn members_sha256(members: &[(Cow<'_, str>, Json<'_>)], skip: &str) -> Option<String> {
    BUFFER.with(|buffer| {
        let mut out = buffer.borrow_mut();
        out.clear();
        write_members(members.iter().filter(|(name, _)| name != skip), &mut out)?;
        Some(hex(&Sha256::digest(out.as_slice())))
    })
}

fn write_json(value: &Json<'_>, out: &mut Vec<u8>) -> Option<()> {
    match value {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(true) => out.extend_from_slice(b"true"),
        Json::Bool(false) => out.extend_from_slice(b"false"),
        Json::Int(i) => write!(out, "{i}").ok()?,
        Json::UInt(u) => write!(out, "{u}").ok()?,
        Json::Float => return None,
        Json::Str(s) => write_string(s, out),
        Json::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(item, out)?;
            }
            out.push(b']');
        }
        Json::Obj(members) => write_members(members.iter(), out)?,
    }
    Some(())
}

/// Writes members sorted by the UTF-16 code units of their names; `None` on a name twice.
fn write_members<'m, 'a: 'm>(
    members: impl Iterator<Item = &'m (Cow<'a, str>, Json<'a>)>,
    out: &mut Vec<u8>,
) -> Option<()> {
    let mut sorted: Vec<&(Cow<'a, str>, Json<'a>)> = members.collect();
    if sorted.iter().all(|(name, _)| in_utf16_order(name)) {
        sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    } else {
        sorted.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    if sorted.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return None;
    }
    out.push(b'{');
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_json(value, out)?;
    }
    out.push(b'}');
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use buendel_contract::canonical::sha256_hex;
    use proptest::prelude::*;
    use serde_json::{json, Value};

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

    /// The borrowed tree's hash of an object without `hash`, for text that a `Value` reads.
    fn members_hash(text: &str) -> Option<String> {
        match Json::parse(text.as_bytes()).expect("JSON") {
            Json::Obj(members) => members_sha256(&members, "hash"),
            _ => None,
        }
    }

    proptest! {
        #[test]
        fn the_borrowed_trees_hash_is_the_contracts_hash(v in value(), spaced in any::<bool>()) {
            let object = json!({"v": v, "hash": "x"});
            let text = if spaced {
                serde_json::to_string_pretty(&object).expect("text")
            } else {
                serde_json::to_string(&object).expect("text")
            };
            let expected = sha256_hex(&json!({"v": object["v"]})).ok();
            prop_assert_eq!(members_hash(&text), expected);
        }
    }

    #[test]
    fn the_borrowed_tree_refuses_floats_and_names_given_twice() {
        assert_eq!(members_hash(r#"{"a":[1.5]}"#), None);
        assert_eq!(members_hash(r#"{"a":1,"a":2}"#), None);
        assert_eq!(members_hash(r#"{"a":{"b":1,"b":1}}"#), None);
        // An escaped name is the same name.
        assert_eq!(members_hash(r#"{"a":1,"\u0061":1}"#), None);
        assert_eq!(
            members_hash(r#"{"b":"x\ny","a":-1,"hash":"h"}"#),
            sha256_hex(&json!({"a": -1, "b": "x\ny"})).ok()
        );
        assert_eq!(
            members_hash(r#"{"\u00e9":1,"\ud83d\ude00":2,"\uff61":3}"#),
            sha256_hex(&json!({"\u{e9}": 1, "\u{1f600}": 2, "\u{ff61}": 3})).ok()
        );
    }

    #[test]
    fn names_beyond_the_basic_plane_are_sorted_by_utf16() {
        let v = json!({"\u{ff61}": 1, "\u{1f600}": 2, "a": 3});
        let text = serde_json::to_string(&v).expect("text");
        assert_eq!(members_hash(&text), sha256_hex(&v).ok());
    }
}
