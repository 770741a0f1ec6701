//! The dead letters read model: `dead_letters`, from the DEADLETTER stream.
//!
//! Any publisher on NATS can write to `<ns>.deadletter.>`, so a message there that is not a
//! [`DeadLetter`] is not a reason to stop: it is kept as a dead letter of its own (code
//! `unreadable_dead_letter`, its bytes in `original_base64`), never lost and never blocking the
//! messages behind it.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use buendel_contract::deadletter::DeadLetter;
use buendel_contract::namespace::StreamKind;
use buendel_contract::reply::FieldError;
use buendel_runtime::store::Stored;

use crate::projection::{sql_sequence, Projection, ProjectionError};

/// The code of a message on the DEADLETTER stream that is not a readable dead letter.
pub const UNREADABLE_CODE: &str = "unreadable_dead_letter";

/// Projects the DEADLETTER stream into `dead_letters`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadLettersProjection;

impl Projection for DeadLettersProjection {
    fn stream(&self) -> StreamKind {
        StreamKind::Deadletter
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        sequence: u64,
        subject: &str,
        payload: &[u8],
    ) -> Result<(), ProjectionError> {
        let message = Stored {
            sequence,
            subject: subject.to_owned(),
            payload: payload.to_vec().into(),
            trace: None,
        };
        self.apply_many(conn, std::slice::from_ref(&message)).await
    }

    async fn apply_many(
        &self,
        conn: &mut PgConnection,
        messages: &[Stored],
    ) -> Result<(), ProjectionError> {
        let rows = Rows::collect(messages)?;
        sqlx::query(
            "INSERT INTO dead_letters (id, dl_sequence, source, subject, stream_sequence, event_id, \
                 event_type, code, reasons, original_base64, rejected_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], \
                                  $6::text[], $7::text[], $8::text[], $9::jsonb[], $10::text[], \
                                  $11::timestamptz[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(rows.ids)
        .bind(rows.dl_sequences)
        .bind(rows.sources)
        .bind(rows.subjects)
        .bind(rows.stream_sequences)
        .bind(rows.event_ids)
        .bind(rows.event_types)
        .bind(rows.codes)
        .bind(rows.reasons)
        .bind(rows.originals)
        .bind(rows.rejected_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// The columns of a batch, one vector each, for one `UNNEST` insert.
#[derive(Default)]
struct Rows {
    ids: Vec<Uuid>,
    dl_sequences: Vec<i64>,
    sources: Vec<String>,
    subjects: Vec<String>,
    stream_sequences: Vec<i64>,
    event_ids: Vec<Option<String>>,
    event_types: Vec<Option<String>>,
    codes: Vec<String>,
    reasons: Vec<Json<Vec<FieldError>>>,
    originals: Vec<String>,
    rejected_at: Vec<DateTime<Utc>>,
}

impl Rows {
    fn collect(messages: &[Stored]) -> Result<Self, ProjectionError> {
        let mut rows = Rows::default();
        for message in messages {
            let letter = read(message);
            let stream_sequence =
                i64::try_from(letter.stream_sequence).map_err(|_| ProjectionError::OutOfRange {
                    sequence: message.sequence,
                    what: "stream_sequence",
                })?;
            rows.ids.push(letter.id);
            rows.dl_sequences.push(sql_sequence(message.sequence)?);
            rows.sources.push(letter.source);
            rows.subjects.push(letter.subject);
            rows.stream_sequences.push(stream_sequence);
            rows.event_ids.push(letter.event_id);
            rows.event_types.push(letter.event_type);
            rows.codes.push(letter.code);
            rows.reasons.push(Json(letter.reasons));
            rows.originals.push(letter.original_base64);
            rows.rejected_at.push(letter.rejected_at);
        }
        Ok(rows)
    }
}

/// The dead letter in a message, or a dead letter describing the unreadable message itself.
fn read(message: &Stored) -> DeadLetter {
    match serde_json::from_slice::<DeadLetter>(&message.payload) {
        Ok(letter) => letter,
        Err(error) => {
            tracing::warn!(
                sequence = message.sequence,
                subject = %message.subject,
                %error,
                "a message on the dead letter stream is not a dead letter; keeping it as one"
            );
            unreadable(message, &error)
        }
    }
}

fn unreadable(message: &Stored, error: &serde_json::Error) -> DeadLetter {
    let source = message
        .subject
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_owned();
    DeadLetter {
        id: DeadLetter::id_for(StreamKind::Deadletter.suffix(), message.sequence),
        source,
        subject: message.subject.clone(),
        stream_sequence: 0,
        event_id: None,
        event_type: None,
        code: UNREADABLE_CODE.to_owned(),
        reasons: vec![FieldError::new("", format!("not a dead letter: {error}"))],
        original_base64: DeadLetter::encode(&message.payload),
        // No time of its own: the Unix epoch keeps a rebuild deterministic.
        rejected_at: DateTime::<Utc>::UNIX_EPOCH,
    }
}
