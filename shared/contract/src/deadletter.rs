//! A dead letter: an input that was refused, kept whole with every reason, never lost.
//!
//! Published to `<ns>.deadletter.<source>` (stream DEADLETTER) with `Nats-Msg-Id` = its id, which is
//! derived from where the input came from, so dead-lettering the same message twice stores it once.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::reply::FieldError;

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
    /// The original bytes, base64 (standard alphabet, padded), exactly as received.
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

    /// The original bytes.
    pub fn original(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.original_base64)
    }
}
