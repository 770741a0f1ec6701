//! Strict input: I-JSON (RFC 7493) and text that every part of Bündel can store and read the same way.
//!
//! `serde_json` accepts more than RFC 8785 (our canonical form) is defined for: a member name given
//! twice (the last one wins, other parsers take the first), integers beyond what an IEEE 754 double
//! holds exactly. And Postgres refuses what JSON allows: `\u0000` in `text` and `jsonb`. An input
//! that different readers read differently, or that a read model cannot store, is refused here,
//! at the edge, with a stable code per kind of problem — never appended to a stream.
//!
//! [`parse`] does it in two passes over the bytes: a scanner that needs no allocation checks the
//! UTF-8, the escapes (lone surrogates), the numbers and the nesting depth; then `serde_json`
//! builds the value through a visitor that refuses duplicate member names (after unescaping, so
//! `"a"` and `"\u0061"` are the same name) and control characters in strings.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The bytes are not UTF-8.
pub const INVALID_UTF8: &str = "invalid_utf8";
/// The text is not JSON at all (or is cut short).
pub const NOT_JSON: &str = "not_json";
/// An object names one member twice.
pub const DUPLICATE_MEMBER: &str = "duplicate_member";
/// A `\uD800`–`\uDFFF` escape that is not half of a surrogate pair.
pub const LONE_SURROGATE: &str = "lone_surrogate";
/// A number outside the range of an IEEE 754 double, or an integer it cannot hold exactly.
pub const NUMBER_OUT_OF_RANGE: &str = "number_out_of_range";
/// NUL or another control character in a string where it has no meaning.
pub const CONTROL_CHARACTER: &str = "control_character";
/// Arrays and objects nested deeper than [`DEPTH_MAX`].
pub const NESTING_TOO_DEEP: &str = "nesting_too_deep";

/// The words every control-character reason of this module contains, so a caller that collected
/// reasons from several checks can still tell the kind.
pub const CONTROL_REASON: &str = "the control character U+";

/// The deepest nesting of arrays and objects accepted (our inputs need 3).
pub const DEPTH_MAX: usize = 32;
/// The largest integer an IEEE 754 double holds exactly (RFC 7493 § 2.2).
pub const SAFE_INTEGER_MAX: u64 = (1 << 53) - 1;

/// One problem found in an input, with its stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// One of the codes of this module.
    pub code: &'static str,
    /// JSON path of the value (`data.applicant.name`, `data.districts[1]`); empty for the whole.
    pub field: String,
    /// What is wrong, for people.
    pub reason: String,
}

impl Problem {
    fn new(code: &'static str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            code,
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.code, self.reason)
        } else {
            write!(f, "{} at {}: {}", self.code, self.field, self.reason)
        }
    }
}

/// Parses `bytes` as I-JSON, refusing control characters other than tab, line feed and carriage
/// return in every string. Returns every problem found, not only the first, where the input can
/// still be read past it.
pub fn parse(bytes: &[u8]) -> Result<Value, Vec<Problem>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            return Err(vec![Problem::new(
                INVALID_UTF8,
                "",
                format!("not UTF-8 at byte {}", e.valid_up_to()),
            )])
        }
    };
    let mut problems = scan(text);
    if problems.iter().any(|p| p.code == NESTING_TOO_DEEP) {
        return Err(problems);
    }
    let found = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = Strict {
        path: String::new(),
        problems: &found,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    problems.append(&mut found.into_inner());
    match parsed {
        Ok(value) if problems.is_empty() => Ok(value),
        Ok(_) => Err(problems),
        Err(e) => {
            // The scanner names lone surrogates and bad numbers better than serde's message.
            if problems.is_empty() {
                problems.push(Problem::new(NOT_JSON, "", format!("not JSON: {e}")));
            }
            Err(problems)
        }
    }
}

/// Why a string has no place in a single-line field (a name, a title, an id), if it has none.
pub fn single_line_problem(s: &str) -> Option<String> {
    s.chars()
        .find(|c| c.is_control())
        .map(|c| format!("contains {CONTROL_REASON}{:04X}", u32::from(c)))
}

/// Why a string has no place in free text (a summary, a reason, a comment), if it has none: only
/// tab, line feed and carriage return of the control characters have a meaning there.
pub fn text_problem(s: &str) -> Option<String> {
    s.chars()
        .find(|&c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        .map(|c| format!("contains {CONTROL_REASON}{:04X}", u32::from(c)))
}

/// The first pass: escapes, numbers and depth, straight over the text.
fn scan(text: &str) -> Vec<Problem> {
    let bytes = text.as_bytes();
    let mut problems = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = scan_string(bytes, i + 1, &mut problems),
            b'[' | b'{' => {
                depth += 1;
                if depth > DEPTH_MAX {
                    problems.push(Problem::new(
                        NESTING_TOO_DEEP,
                        "",
                        format!("nested deeper than {DEPTH_MAX} levels at byte {i}"),
                    ));
                    return problems;
                }
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                if let Some(reason) = number_problem(&text[start..i]) {
                    problems.push(Problem::new(NUMBER_OUT_OF_RANGE, "", reason));
                }
            }
            _ => i += 1,
        }
    }
    problems
}

/// Scans a string body from `i` (after the opening quote); returns the index after its end.
fn scan_string(bytes: &[u8], mut i: usize, problems: &mut Vec<Problem>) -> usize {
    // A high surrogate waiting for its low half.
    let mut pending_high = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => break,
            b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                let unit = bytes
                    .get(i + 2..i + 6)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u16::from_str_radix(hex, 16).ok());
                match unit {
                    Some(0xD800..=0xDBFF) => {
                        if pending_high {
                            problems.push(lone(i));
                        }
                        pending_high = true;
                    }
                    Some(0xDC00..=0xDFFF) if pending_high => pending_high = false,
                    Some(0xDC00..=0xDFFF) => problems.push(lone(i)),
                    _ => {
                        if pending_high {
                            problems.push(lone(i));
                        }
                        pending_high = false;
                    }
                }
                i += 6;
                continue;
            }
            b'\\' => {
                if pending_high {
                    problems.push(lone(i));
                }
                pending_high = false;
                i += 2;
                continue;
            }
            _ => {
                if pending_high {
                    problems.push(lone(i));
                }
                pending_high = false;
            }
        }
        i += 1;
    }
    if pending_high {
        problems.push(lone(i));
    }
    i + 1
}

fn lone(at: usize) -> Problem {
    Problem::new(
        LONE_SURROGATE,
        "",
        format!("a lone surrogate escape near byte {at} (not Unicode text)"),
    )
}

/// Why a number token is outside I-JSON's range, if it is.
fn number_problem(token: &str) -> Option<String> {
    let integer = !token.contains(['.', 'e', 'E']);
    if integer {
        let digits = token.trim_start_matches('-');
        let exact = digits
            .parse::<u64>()
            .ok()
            .filter(|&n| n <= SAFE_INTEGER_MAX);
        return match exact {
            Some(_) => None,
            None if digits.chars().all(|c| c.is_ascii_digit()) && !digits.is_empty() => Some(format!(
                "the integer {token} is beyond ±{SAFE_INTEGER_MAX}, which not every reader holds exactly"
            )),
            None => None, // not a number at all: serde reports it
        };
    }
    let value: f64 = token.parse().ok()?;
    if value.is_infinite() {
        return Some(format!(
            "the number {token} is beyond the range of a double"
        ));
    }
    let mantissa_nonzero = token
        .split(['e', 'E'])
        .next()
        .is_some_and(|m| m.chars().any(|c| matches!(c, '1'..='9')));
    if value == 0.0 && mantissa_nonzero {
        return Some(format!("the number {token} is too small for a double"));
    }
    None
}

/// The second pass: builds the value, refusing duplicate names and control characters.
struct Strict<'p> {
    path: String,
    problems: &'p RefCell<Vec<Problem>>,
}

impl Strict<'_> {
    /// The path of a member; control characters in its name are replaced, so the path itself can
    /// be stored wherever the reason goes (a dead letter, a read model).
    fn child(&self, name: &str) -> String {
        let segment: String = name
            .chars()
            .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
            .collect();
        if self.path.is_empty() {
            segment
        } else {
            format!("{}.{segment}", self.path)
        }
    }

    fn check_text(&self, path: &str, s: &str) {
        if let Some(reason) = text_problem(s) {
            self.problems
                .borrow_mut()
                .push(Problem::new(CONTROL_CHARACTER, path, reason));
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number beyond the range of a double"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        self.check_text(&self.path, v);
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        self.check_text(&self.path, &v);
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, items.len()),
            problems: self.problems,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = self.child(&key);
            if let Some(reason) = text_problem(&key) {
                self.problems.borrow_mut().push(Problem::new(
                    CONTROL_CHARACTER,
                    path.clone(),
                    format!("the member name {reason}"),
                ));
            }
            let value = map.next_value_seed(Strict {
                path: path.clone(),
                problems: self.problems,
            })?;
            if !seen.insert(key.clone()) {
                self.problems.borrow_mut().push(Problem::new(
                    DUPLICATE_MEMBER,
                    path,
                    "is given twice; readers disagree on which value counts",
                ));
                continue;
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        match parse(text.as_bytes()) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(|p| p.code).collect(),
        }
    }

    #[test]
    fn plain_json_parses_to_what_serde_gives() {
        let text = r#"{"a":[1,-2,3.5,"x\ny",{"b":null,"c":true}],"name":"Zo\u00eb \ud83d\ude00"}"#;
        let ours = parse(text.as_bytes()).expect("valid");
        let serdes: Value = serde_json::from_str(text).expect("valid");
        assert_eq!(ours, serdes);
    }

    #[test]
    fn a_member_given_twice_is_refused_with_its_path() {
        let problems = parse(br#"{"data":{"cents":30000000,"cents":99}}"#).expect_err("duplicate");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code, DUPLICATE_MEMBER);
        assert_eq!(problems[0].field, "data.cents");
    }

    #[test]
    fn names_are_compared_after_unescaping() {
        assert_eq!(codes(r#"{"a":1,"\u0061":2}"#), [DUPLICATE_MEMBER]);
        assert!(codes(r#"{"a":{"a":1},"b":{"a":2}}"#).is_empty());
    }

    #[test]
    fn lone_surrogates_are_refused_and_pairs_are_not() {
        assert_eq!(codes(r#"{"a":"\ud800"}"#), [LONE_SURROGATE]);
        assert_eq!(codes(r#"{"a":"\udc00x"}"#), [LONE_SURROGATE]);
        assert_eq!(codes(r#"{"a":"\ud800\u0041"}"#), [LONE_SURROGATE]);
        assert!(codes(r#"{"a":"\ud83d\ude00"}"#).is_empty());
        assert!(
            codes(r#"{"a":"\\ud800"}"#).is_empty(),
            "an escaped backslash is no escape"
        );
    }

    #[test]
    fn numbers_beyond_a_double_or_its_exact_integers_are_refused() {
        assert_eq!(codes(r#"{"a":1e400}"#), [NUMBER_OUT_OF_RANGE]);
        assert_eq!(codes(r#"{"a":-1e400}"#), [NUMBER_OUT_OF_RANGE]);
        assert_eq!(codes(r#"{"a":1e-400}"#), [NUMBER_OUT_OF_RANGE]);
        assert_eq!(
            codes(r#"{"a":18446744073709551616}"#),
            [NUMBER_OUT_OF_RANGE]
        );
        assert_eq!(codes(r#"{"a":9007199254740992}"#), [NUMBER_OUT_OF_RANGE]);
        assert!(
            codes(r#"{"a":9007199254740991,"b":-9007199254740991,"c":0.0,"d":1e300}"#).is_empty()
        );
    }

    #[test]
    fn control_characters_are_refused_except_tab_and_line_breaks() {
        let problems = parse(br#"{"applicant":{"name":"A\u0000B"}}"#).expect_err("NUL");
        assert_eq!(problems[0].code, CONTROL_CHARACTER);
        assert_eq!(problems[0].field, "applicant.name");
        assert_eq!(
            codes(r#"{"a":"\u007f","b":"\u0085"}"#),
            [CONTROL_CHARACTER, CONTROL_CHARACTER]
        );
        let problems = parse(b"{\"a\\u0000\":1}").expect_err("NUL in a name");
        assert_eq!(problems[0].code, CONTROL_CHARACTER);
        assert_eq!(problems[0].field, "a\u{FFFD}", "the path is storable");
        assert!(codes(r#"{"a":"line\nnext\ttab\r"}"#).is_empty());
        assert!(single_line_problem("line\nnext").is_some());
        assert!(text_problem("line\nnext").is_none());
    }

    #[test]
    fn deep_nesting_invalid_utf8_and_garbage_have_their_codes() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert_eq!(codes(&deep), [NESTING_TOO_DEEP]);
        assert_eq!(
            parse(b"{\"a\":\"\xff\"}").expect_err("bytes")[0].code,
            INVALID_UTF8
        );
        assert_eq!(codes(r#"{"a":1"#), [NOT_JSON]);
        assert_eq!(codes(r#"{"a":1} x"#), [NOT_JSON]);
        assert_eq!(codes(""), [NOT_JSON]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let found = codes(r#"{"a":"\u0000","a":1,"b":1e999}"#);
        for code in [CONTROL_CHARACTER, DUPLICATE_MEMBER, NUMBER_OUT_OF_RANGE] {
            assert!(found.contains(&code), "{code} missing from {found:?}");
        }
    }
}
