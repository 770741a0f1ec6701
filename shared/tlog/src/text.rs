//! Small strict text helpers shared by the parsers: canonical decimals,
//! canonical base64 hashes, and a cursor that hands out newline-terminated
//! lines with their 1-based line numbers (for error messages an auditor reads).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::Hash;

/// Standard base64 (RFC 4648 section 4) with canonical padding and no stray
/// trailing bits, so that every accepted encoding re-encodes to itself.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes canonical standard base64; the reason is a short phrase.
pub(crate) fn b64_decode(text: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(text)
        .map_err(|e| format!("invalid base64: {e}"))
}

/// Decodes a base64 line that must hold exactly one 32-byte hash.
pub(crate) fn decode_hash(text: &str) -> Result<Hash, String> {
    let bytes = b64_decode(text)?;
    let got = bytes.len();
    bytes
        .try_into()
        .map_err(|_| format!("decodes to {got} bytes, a hash has 32"))
}

/// Parses a decimal with no sign, no leading zeroes (except "0" itself) and no
/// overflow, as the C2SP formats require.
pub(crate) fn parse_decimal(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("empty number".to_owned());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a plain decimal number"));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(format!("{text:?} has a leading zero"));
    }
    text.parse::<u64>()
        .map_err(|_| format!("{text:?} does not fit in 64 bits"))
}

/// Hands out the newline-terminated lines of a text, counting them from 1.
pub(crate) struct Lines<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Lines<'a> {
    /// Starts at the first line of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            rest: text,
            line: 0,
        }
    }

    /// The number of the line `next` hands out next.
    pub(crate) fn next_line_number(&self) -> usize {
        self.line + 1
    }

    /// The next line without its newline, or Err(line number) when the text
    /// ends before a newline (including when nothing is left).
    pub(crate) fn next(&mut self) -> Result<&'a str, usize> {
        self.line += 1;
        match self.rest.find('\n') {
            Some(at) => {
                let line = &self.rest[..at];
                self.rest = &self.rest[at + 1..];
                Ok(line)
            }
            None => Err(self.line),
        }
    }

    /// Everything not yet handed out, verbatim.
    pub(crate) fn rest(&self) -> &'a str {
        self.rest
    }
}

/// The first ASCII control character other than newline, as (1-based line,
/// byte value); signed notes and checkpoints may not contain any.
pub(crate) fn find_control(text: &str) -> Option<(usize, u8)> {
    let mut line = 1;
    for b in text.bytes() {
        if b == b'\n' {
            line += 1;
        } else if b < 0x20 {
            return Some((line, b));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_refuse_leading_zeroes_signs_and_overflow() {
        assert_eq!(parse_decimal("0"), Ok(0));
        assert_eq!(parse_decimal("18446744073709551615"), Ok(u64::MAX));
        for bad in [
            "",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "18446744073709551616",
            "1e3",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn base64_refuses_non_canonical_trailing_bits_and_missing_padding() {
        assert!(b64_decode("AA==").is_ok());
        assert!(b64_decode("AB==").is_err());
        assert!(b64_decode("AA").is_err());
    }

    #[test]
    fn lines_are_numbered_from_one_and_must_end_in_a_newline() {
        let mut lines = Lines::new("a\nb\nc");
        assert_eq!(lines.next(), Ok("a"));
        assert_eq!(lines.next(), Ok("b"));
        assert_eq!(lines.rest(), "c");
        assert_eq!(lines.next(), Err(3));
    }
}
