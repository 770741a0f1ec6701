//! The projection abstraction: which stream a projection reads, and how one message becomes rows.
//!
//! A projection never commits: it writes through the connection of the transaction the caller
//! ([`crate::checkpoint::apply_batch`]) opened, so the rows and the checkpoint commit together.

use std::borrow::Cow;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::PgConnection;
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_contract::{Envelope, EventKind};
use buendel_runtime::store::Stored;

/// Why a message could not be projected. Every variant leaves the transaction to be rolled back;
/// the runner logs it and retries with backoff (a corrupt system-of-record stream is an operator
/// problem, never silently skipped).
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The stored bytes are not an event this projection understands.
    #[error("message {sequence} on {subject} cannot be decoded: {reason}")]
    Undecodable {
        /// The stream sequence of the message.
        sequence: u64,
        /// The subject it was stored on.
        subject: String,
        /// What the decoder said.
        reason: String,
    },
    /// An event about a proposal whose `submitted` event was never projected.
    #[error("message {sequence} ({event_type}) concerns proposal {proposal_id}, which has no row")]
    Orphan {
        /// The stream sequence of the message.
        sequence: u64,
        /// The event's CloudEvents type.
        event_type: &'static str,
        /// The proposal it names.
        proposal_id: Uuid,
    },
    /// An alliance event about an alliance whose `registered` event was never projected.
    #[error(
        "message {sequence} ({event_type}) concerns alliance {alliance_id:?}, which has no row"
    )]
    UnknownAlliance {
        /// The stream sequence of the message.
        sequence: u64,
        /// The event's CloudEvents type.
        event_type: &'static str,
        /// The alliance it names.
        alliance_id: String,
    },
    /// A number that does not fit its Postgres column (sequences above `i64::MAX`, and so on).
    #[error("message {sequence}: {what} is out of range for Postgres")]
    OutOfRange {
        /// The stream sequence of the message.
        sequence: u64,
        /// Which value.
        what: &'static str,
    },
    /// Postgres failed: transient as far as the runner is concerned.
    #[error("Postgres: {0}")]
    Database(#[from] sqlx::Error),
}

/// One read model built from one stream.
///
/// Implementations must be deterministic (rows depend only on the messages, never on the clock), so
/// that a rebuild yields exactly the rows a projector that never stopped has.
pub trait Projection: Send + Sync + 'static {
    /// The stream it reads; also the key of its checkpoint row.
    fn stream(&self) -> StreamKind;

    /// Applies one message inside the caller's transaction.
    fn apply(
        &self,
        conn: &mut PgConnection,
        sequence: u64,
        subject: &str,
        payload: &[u8],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;

    /// Applies messages in stream order inside the caller's transaction. The default applies them
    /// one by one; projections override it to write whole batches in fewer statements.
    fn apply_many(
        &self,
        conn: &mut PgConnection,
        messages: &[Stored],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send {
        async move {
            for message in messages {
                self.apply(conn, message.sequence, &message.subject, &message.payload)
                    .await?;
            }
            Ok(())
        }
    }
}

/// The checkpoint key and `stream` column value of a stream: its name without the namespace prefix
/// (the database is already per namespace).
pub fn stream_key(kind: StreamKind) -> &'static str {
    kind.suffix()
}

/// A stream sequence as a Postgres `bigint`.
pub(crate) fn sql_sequence(sequence: u64) -> Result<i64, ProjectionError> {
    i64::try_from(sequence).map_err(|_| ProjectionError::OutOfRange {
        sequence,
        what: "sequence",
    })
}

/// One decoded message of a typed event stream, with the numbers already converted for Postgres.
pub(crate) struct Decoded<E> {
    /// Stream sequence.
    pub(crate) sequence: u64,
    /// The same, as a `bigint`.
    pub(crate) sql_sequence: i64,
    /// Aggregate version after this event, as a `bigint`.
    pub(crate) version: i64,
    /// The event.
    pub(crate) envelope: Envelope<E>,
    /// The CloudEvents `data` exactly as published (JSON text), for the timeline and the journal.
    pub(crate) data: Box<RawValue>,
}

/// The envelope as stored, with `type` and `data` left as raw JSON: `data` goes to Postgres as
/// published, without being parsed into a tree and printed again. Accepts exactly what
/// [`Envelope`] accepts (the same required fields; unknown ones ignored).
#[derive(Deserialize)]
pub(crate) struct RawEnvelope<'a> {
    #[serde(borrow)]
    specversion: Cow<'a, str>,
    id: Uuid,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    event_type: &'a RawValue,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(borrow)]
    subject: Cow<'a, str>,
    time: DateTime<Utc>,
    #[serde(borrow)]
    datacontenttype: Cow<'a, str>,
    sequence: u64,
    #[serde(default)]
    correlationid: Option<String>,
    #[serde(default)]
    causationid: Option<String>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(default)]
    prevhash: Option<String>,
    #[serde(default)]
    hash: Option<String>,
}

/// Reads a stored message's envelope in one pass, leaving the event to [`RawEnvelope::typed`].
pub(crate) fn parse<'a>(
    sequence: u64,
    subject: &str,
    payload: &'a [u8],
) -> Result<RawEnvelope<'a>, ProjectionError> {
    serde_json::from_slice(payload).map_err(|e| undecodable(sequence, subject, e.to_string()))
}

impl RawEnvelope<'_> {
    /// The CloudEvents `type` (`None` if it is not a string).
    pub(crate) fn event_type(&self) -> Option<Cow<'_, str>> {
        serde_json::from_str(self.event_type.get()).ok()
    }

    /// The typed event of `E` (read from its `type` and `data` alone: an adjacently tagged enum
    /// reads that fastest with `type` first), with the envelope around it.
    pub(crate) fn typed<E: EventKind>(
        self,
        sequence: u64,
        subject: &str,
    ) -> Result<Decoded<E>, ProjectionError> {
        let data_len = self.data.as_ref().map_or(0, |d| d.get().len());
        let mut tagged = String::with_capacity(self.event_type.get().len() + data_len + 20);
        tagged.push_str("{\"type\":");
        tagged.push_str(self.event_type.get());
        if let Some(data) = &self.data {
            tagged.push_str(",\"data\":");
            tagged.push_str(data.get());
        }
        tagged.push('}');
        let event: E = serde_json::from_str(&tagged)
            .map_err(|e| undecodable(sequence, subject, e.to_string()))?;
        let version = i64::try_from(self.sequence).map_err(|_| ProjectionError::OutOfRange {
            sequence,
            what: "envelope sequence",
        })?;
        let data = match self.data {
            Some(data) => data,
            // A variant without data (none is published yet): the timeline shows `null`.
            None => RawValue::from_string("null".to_owned())
                .map_err(|e| undecodable(sequence, subject, e.to_string()))?,
        };
        Ok(Decoded {
            sequence,
            sql_sequence: sql_sequence(sequence)?,
            version,
            envelope: Envelope {
                specversion: self.specversion.into_owned(),
                id: self.id,
                source: self.source.into_owned(),
                event,
                subject: self.subject.into_owned(),
                time: self.time,
                datacontenttype: self.datacontenttype.into_owned(),
                sequence: self.sequence,
                correlationid: self.correlationid,
                causationid: self.causationid,
                actor: self.actor.into_owned(),
                prevhash: self.prevhash,
                hash: self.hash,
            },
            data,
        })
    }
}

/// Decodes a stored message as an envelope of `E`; anything else is [`ProjectionError::Undecodable`].
pub(crate) fn decode<E: EventKind>(
    sequence: u64,
    subject: &str,
    payload: &[u8],
) -> Result<Decoded<E>, ProjectionError> {
    parse(sequence, subject, payload)?.typed(sequence, subject)
}

/// A [`ProjectionError::Undecodable`] for the message at `sequence` on `subject`.
pub(crate) fn undecodable(sequence: u64, subject: &str, reason: String) -> ProjectionError {
    ProjectionError::Undecodable {
        sequence,
        subject: subject.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buendel_contract::review::{ReviewEvent, VoteChoice, VoteRecorded};
    use buendel_contract::Meta;
    use chrono::TimeZone as _;

    fn vote() -> Envelope<ReviewEvent> {
        let meta = Meta {
            source: "/buendel/approval".into(),
            time: Utc
                .with_ymd_and_hms(2026, 4, 1, 9, 30, 0)
                .single()
                .expect("time"),
            correlation_id: Some("corr \"1\"".into()),
            causation_id: None,
            actor: "operator:Zoë".into(),
        };
        let event = ReviewEvent::VoteRecorded(VoteRecorded {
            proposal_id: Uuid::from_u128(42),
            partner_id: "dgb".into(),
            vote: VoteChoice::Yes,
            comment: Some("ja \u{2013} \"gern\"".into()),
        });
        Envelope::new(Uuid::from_u128(7), "p-42", 3, event, &meta)
    }

    #[test]
    fn decoding_gives_the_envelope_serde_gives_and_the_data_as_published() {
        let payload = serde_json::to_vec(&vote()).expect("json");

        let decoded: Decoded<ReviewEvent> = decode(11, "t.review.p-42", &payload).expect("decodes");

        assert_eq!(decoded.envelope, vote());
        assert_eq!(
            (decoded.sequence, decoded.sql_sequence, decoded.version),
            (11, 11, 3)
        );
        let text = String::from_utf8(payload).expect("utf-8");
        assert!(
            text.contains(decoded.data.get()),
            "{} is not a slice of {text}",
            decoded.data.get()
        );
        let tagged = serde_json::to_value(&vote().event).expect("json");
        let data: serde_json::Value = serde_json::from_str(decoded.data.get()).expect("json");
        assert_eq!(data, tagged["data"]);
    }

    #[test]
    fn field_order_and_unknown_fields_do_not_matter_but_missing_ones_do() {
        let mut value = serde_json::to_value(vote()).expect("json");
        value["x-extension"] = serde_json::json!({"nested": [1, 2]});
        // `data` before `type`, as a map with other keys may well put it.
        let text = value.to_string();
        let decoded: Decoded<ReviewEvent> = decode(1, "s", text.as_bytes()).expect("decodes");
        assert_eq!(decoded.envelope, vote());

        for field in ["specversion", "id", "type", "time", "actor", "sequence"] {
            let mut value = serde_json::to_value(vote()).expect("json");
            value.as_object_mut().expect("object").remove(field);
            let bytes = value.to_string().into_bytes();
            let ours = decode::<ReviewEvent>(1, "s", &bytes).is_ok();
            let serdes = serde_json::from_slice::<Envelope<ReviewEvent>>(&bytes).is_ok();
            assert!(
                !ours && !serdes,
                "without {field}: ours {ours}, serde {serdes}"
            );
        }
    }

    #[test]
    fn an_unknown_event_type_is_undecodable() {
        let mut value = serde_json::to_value(vote()).expect("json");
        value["type"] = "buendel.review.unheard_of.v9".into();
        let bytes = value.to_string().into_bytes();
        assert!(matches!(
            decode::<ReviewEvent>(5, "s", &bytes),
            Err(ProjectionError::Undecodable { sequence: 5, .. })
        ));
    }
}
