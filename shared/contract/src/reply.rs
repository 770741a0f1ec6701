//! The reply of every command (NATS request/reply), and the shape of an error.
//!
//! `{"ok":true,"event_id":..,"sequence":..}` or
//! `{"ok":false,"error":{"code":..,"message":..,"details":[{"field":..,"reason":..}]}}`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One reason an input was refused, tied to a field where there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `data.eligible_cost_cents`; empty for the whole input.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    /// A reason tied to a field.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A refused command or input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_input`, `already_withdrawn`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Every reason found, not just the first.
    #[serde(default)]
    pub details: Vec<FieldError>,
}

/// The reply to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// Accepted: the (last) event appended and its stream sequence.
    Accepted {
        /// Always true.
        ok: True,
        /// Id of the last event the command appended (or had appended, on a retry).
        event_id: Uuid,
        /// Its stream sequence.
        sequence: u64,
        /// The stream it is in (`PROPOSALS`, `REVIEWS`, `LEDGER`): with `sequence`, the position a
        /// read may ask the API to have reached (`?min_seq=STREAM:SEQ`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream: Option<String>,
        /// Every event the command appended, in order, with its stream sequence.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        events: Vec<AppendedEvent>,
        /// True when this is a retry of a command already accepted: nothing new was appended.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        duplicate: bool,
    },
    /// Refused, with every reason.
    Refused {
        /// Always false.
        ok: False,
        /// What is wrong.
        error: ErrorBody,
    },
}

/// One appended event in a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendedEvent {
    /// The event id.
    pub event_id: Uuid,
    /// The CloudEvents type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Its stream sequence.
    pub sequence: u64,
}

impl AppendedEvent {
    /// An appended envelope at its stream sequence: the one way a reply names what was stored.
    pub fn of<E: crate::envelope::EventKind>(
        envelope: &crate::envelope::Envelope<E>,
        sequence: u64,
    ) -> Self {
        Self {
            event_id: envelope.id,
            event_type: envelope.event_type().to_owned(),
            sequence,
        }
    }
}

/// The literal `true`, so `ok` cannot disagree with the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct True;
/// The literal `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct False;

macro_rules! bool_literal {
    ($ty:ident, $value:literal) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bool($value)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if bool::deserialize(d)? == $value {
                    Ok($ty)
                } else {
                    Err(serde::de::Error::custom(concat!(
                        "expected ",
                        stringify!($value)
                    )))
                }
            }
        }
    };
}
bool_literal!(True, true);
bool_literal!(False, false);

impl Reply {
    /// A refusal.
    pub fn refused(
        code: impl Into<String>,
        message: impl Into<String>,
        details: Vec<FieldError>,
    ) -> Self {
        Reply::Refused {
            ok: False,
            error: ErrorBody {
                code: code.into(),
                message: message.into(),
                details,
            },
        }
    }

    /// An acceptance from the events a command appended (the last one is named at the top).
    pub fn accepted(events: Vec<AppendedEvent>, duplicate: bool) -> Option<Self> {
        let last = events.last()?.clone();
        Some(Reply::Accepted {
            ok: True,
            event_id: last.event_id,
            sequence: last.sequence,
            stream: None,
            events,
            duplicate,
        })
    }

    /// The acceptance with the stream its events are in.
    pub fn in_stream(mut self, name: &str) -> Self {
        if let Reply::Accepted { stream, .. } = &mut self {
            *stream = Some(name.to_owned());
        }
        self
    }

    /// `STREAM:SEQ` of an acceptance that names its stream: what `?min_seq=` takes.
    pub fn position(&self) -> Option<String> {
        match self {
            Reply::Accepted {
                stream: Some(stream),
                sequence,
                ..
            } => Some(format!("{stream}:{sequence}")),
            _ => None,
        }
    }

    /// True for an accepted command.
    pub fn is_ok(&self) -> bool {
        matches!(self, Reply::Accepted { .. })
    }

    /// The error code of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            Reply::Accepted { .. } => None,
            Reply::Refused { error, .. } => Some(&error.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_have_the_documented_shape() {
        let ok = Reply::accepted(
            vec![AppendedEvent {
                event_id: Uuid::nil(),
                event_type: "t".into(),
                sequence: 7,
            }],
            false,
        )
        .expect("one event");
        let json = serde_json::to_value(&ok).expect("serialize");
        assert_eq!(json["ok"], true);
        assert_eq!(json["sequence"], 7);
        let refused = Reply::refused("invalid_input", "bad", vec![FieldError::new("a", "b")]);
        let json = serde_json::to_value(&refused).expect("serialize");
        assert_eq!(json["ok"], false);
        assert_eq!(json["error"]["details"][0]["field"], "a");
        let back: Reply = serde_json::from_value(json).expect("parse");
        assert_eq!(back.code(), Some("invalid_input"));
    }
}
