//! The projection abstraction: which stream a projection reads, and how one message becomes rows.
//!
//! A projection never commits: it writes through the connection of the transaction the caller
//! ([`crate::checkpoint::apply_batch`]) opened, so the rows and the checkpoint commit together.

use std::future::Future;

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
    /// The CloudEvents `data`, for the timeline.
    pub(crate) data: serde_json::Value,
}

/// Decodes a stored message as an envelope of `E`; anything else is [`ProjectionError::Undecodable`].
pub(crate) fn decode<E: EventKind>(
    sequence: u64,
    subject: &str,
    payload: &[u8],
) -> Result<Decoded<E>, ProjectionError> {
    let envelope: Envelope<E> = serde_json::from_slice(payload)
        .map_err(|e| undecodable(sequence, subject, e.to_string()))?;
    let data = match serde_json::to_value(&envelope.event)
        .map_err(|e| undecodable(sequence, subject, e.to_string()))?
    {
        serde_json::Value::Object(mut tagged) => tagged.remove("data").unwrap_or_default(),
        other => {
            return Err(undecodable(
                sequence,
                subject,
                format!("event is not an object: {other}"),
            ))
        }
    };
    let version = i64::try_from(envelope.sequence).map_err(|_| ProjectionError::OutOfRange {
        sequence,
        what: "envelope sequence",
    })?;
    Ok(Decoded {
        sequence,
        sql_sequence: sql_sequence(sequence)?,
        version,
        envelope,
        data,
    })
}

/// A [`ProjectionError::Undecodable`] for the message at `sequence` on `subject`.
pub(crate) fn undecodable(sequence: u64, subject: &str, reason: String) -> ProjectionError {
    ProjectionError::Undecodable {
        sequence,
        subject: subject.to_owned(),
        reason,
    }
}
