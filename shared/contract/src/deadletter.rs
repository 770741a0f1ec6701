//! A dead letter: an input that was refused, kept whole with every reason, never lost.
//!
//! Published to `<ns>.deadletter.<source>` (stream DEADLETTER) with `Nats-Msg-Id` = its id, which is
//! derived from where the input came from, so dead-lettering the same message twice stores it once.
//! A dead letter keeps at most [`ORIGINAL_BYTES_MAX`] of the original bytes ([`DeadLetter::kept`]):
//! a larger input (up to NATS's `max_payload`) would make a dead letter too large to store, and the
//! input would be redelivered until its consumer gives up on it, dead-lettered never. The whole
//! input stays in its stream, at the sequence the dead letter names.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::reply::FieldError;

/// The most bytes of an input a dead letter keeps (the intake's and the commands' size limit):
/// base64 makes them 88 KiB, well inside NATS's default `max_payload` of 1 MiB.
pub const ORIGINAL_BYTES_MAX: usize = 64 * 1024;

/// One refused input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeadLetter {
    /// Derived from the input's stream and sequence, so a retry dead-letters it once.
    pub id: Uuid,
    /// Which input: `intake`, or a service name for events it could not process.
    pub source: String,
    /// The subject the input arrived on.
    pub subject: String,
    /// The input's stream sequence, where it came from a stream (0 otherwise).
    pub stream_sequence: u64,
    /// The CloudEvents id of the input, when it had a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The CloudEvents type of the input, when it had a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// A stable code for the kind of refusal, e.g. `invalid_input`, `retries_exhausted`.
    pub code: String,
    /// Every reason found, not just the first.
    pub reasons: Vec<FieldError>,
    /// The original bytes, base64 (standard alphabet, padded), exactly as received; of an input
    /// larger than 64 KiB its first 64 KiB, and a reason says so.
    pub original_base64: String,
    /// When it was refused.
    pub rejected_at: DateTime<Utc>,
}

impl DeadLetter {
    /// The id of the dead letter for the message at `sequence` of `stream`.
    pub fn id_for(stream: &str, sequence: u64) -> Uuid {
        Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("deadletter/{stream}/{sequence}").as_bytes(),
        )
    }

    /// Encodes original bytes.
    pub fn encode(original: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(original)
    }

    /// What a dead letter keeps of `original`, base64: all of it, or its first
    /// [`ORIGINAL_BYTES_MAX`] bytes and the reason to add (the whole input's size and SHA-256,
    /// and where it stays whole: `stream` at `sequence`).
    pub fn kept(original: &[u8], stream: &str, sequence: u64) -> (String, Option<FieldError>) {
        use sha2::Digest as _;
        if original.len() <= ORIGINAL_BYTES_MAX {
            return (Self::encode(original), None);
        }
        let reason = format!(
            "the input is {} bytes (sha256 {}): this dead letter keeps its first {ORIGINAL_BYTES_MAX}; \
             the whole input stays in {stream} at sequence {sequence}",
            original.len(),
            crate::canonical::hex(&sha2::Sha256::digest(original)),
        );
        (
            Self::encode(&original[..ORIGINAL_BYTES_MAX]),
            Some(FieldError::new("", reason)),
        )
    }

    /// The original bytes.
    pub fn original(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.original_base64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_input_is_kept_whole_and_a_large_one_cut_with_a_reason() {
        let small = vec![b'a'; ORIGINAL_BYTES_MAX];
        let (kept, reason) = DeadLetter::kept(&small, "INTAKE", 7);
        assert_eq!(kept, DeadLetter::encode(&small));
        assert!(reason.is_none());

        let large = vec![b'a'; ORIGINAL_BYTES_MAX + 1];
        let (kept, reason) = DeadLetter::kept(&large, "INTAKE", 7);
        assert_eq!(kept, DeadLetter::encode(&large[..ORIGINAL_BYTES_MAX]));
        let reason = reason.expect("a reason").reason;
        assert!(reason.contains("65537 bytes"), "{reason}");
        assert!(reason.contains("INTAKE at sequence 7"), "{reason}");
    }
}
