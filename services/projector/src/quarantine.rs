//! Events the read side cannot take: found by bisecting a failed batch, recorded, and stepped over.
//!
//! A batch that fails for a reason that lies in its events (an undecodable message, a value Postgres
//! refuses such as `\u0000` in `jsonb`, a constraint it breaks) would fail the same way on every
//! retry and stall the stream behind it for good. [`apply_isolating_on`] splits such a batch in
//! halves until the failing event stands alone, then records it in `projection_quarantine` and
//! moves the checkpoint past it in one transaction, and goes on with the rest. The event stays in
//! its stream (nothing is deleted); the API shows it (`GET /v1/quarantine`, the proposal's page,
//! `/readyz`, `buendel_projection_quarantined_events`). A failure that says nothing about the events
//! (Postgres down, a lost connection, a deadlock) is returned to the runner, which retries with
//! backoff and quarantines nothing.

use sqlx::{Connection as _, PgConnection};

use buendel_runtime::store::Stored;

use crate::checkpoint::{apply_batch_on, lock_checkpoint};
use crate::projection::{sql_sequence, stream_key, Projection, ProjectionError};

/// The longest error text kept per quarantined event.
pub const ERROR_CHARS_MAX: usize = 2_000;

impl ProjectionError {
    /// Whether the error lies in the events, so that retrying the same events fails the same way.
    ///
    /// Postgres classes 22 (data exception: bad encoding, NUL, a value too long), 23 (integrity
    /// constraint) and 54 (program limit, e.g. an index row too large) depend on the data; every
    /// other database error (connection, shutdown, serialization, resources) is transient.
    pub fn is_deterministic(&self) -> bool {
        match self {
            ProjectionError::Undecodable { .. }
            | ProjectionError::Orphan { .. }
            | ProjectionError::UnknownAlliance { .. }
            | ProjectionError::OutOfRange { .. } => true,
            ProjectionError::Database(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|code| ["22", "23", "54"].iter().any(|c| code.starts_with(c))),
            ProjectionError::Database(_) => false,
        }
    }
}

/// What [`apply_isolating_on`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Isolated {
    /// The checkpoint after it: everything at or below is projected or quarantined.
    pub checkpoint: u64,
    /// The sequences quarantined on the way, in order.
    pub quarantined: Vec<u64>,
}

/// Applies `messages` like [`apply_batch_on`]; when that fails deterministically, bisects them and
/// quarantines each event that fails alone. A transient error on the way is returned as it is
/// (whatever was committed before it stays committed: each step is its own transaction).
pub async fn apply_isolating_on<P: Projection>(
    conn: &mut PgConnection,
    projection: &P,
    messages: &[Stored],
) -> Result<Isolated, ProjectionError> {
    match apply_batch_on(conn, projection, messages).await {
        Ok(checkpoint) => {
            return Ok(Isolated {
                checkpoint,
                quarantined: Vec::new(),
            })
        }
        Err(error) if !error.is_deterministic() => return Err(error),
        Err(error) => {
            tracing::warn!(stream = stream_key(projection.stream()), %error, "a batch fails on its events; bisecting it");
        }
    }
    let mut sorted: Vec<Stored> = messages.to_vec();
    sorted.sort_by_key(|m| m.sequence);
    sorted.dedup_by_key(|m| m.sequence);
    let mut done = Isolated::default();
    // Ranges still to apply, the next one on top; the whole batch is known to fail, so split it.
    let mut ranges = halves(0, sorted.len());
    while let Some((lo, hi)) = ranges.pop() {
        let part = &sorted[lo..hi];
        let Some(last) = part.last().map(|m| m.sequence) else {
            continue;
        };
        match apply_batch_on(conn, projection, part).await {
            Ok(checkpoint) => {
                done.checkpoint = checkpoint;
                if checkpoint < last {
                    break; // a hole (or another instance is behind us): the runner defers the rest
                }
            }
            Err(error) if !error.is_deterministic() => return Err(error),
            Err(error) if part.len() == 1 => {
                let checkpoint = quarantine_on(conn, projection, &part[0], &error).await?;
                if checkpoint == part[0].sequence {
                    done.quarantined.push(part[0].sequence);
                }
                done.checkpoint = checkpoint;
                if checkpoint < last {
                    break;
                }
            }
            Err(_) => ranges.extend(halves(lo, hi)),
        }
    }
    Ok(done)
}

/// `lo..hi` split in two, pushed so that the left half is popped first.
fn halves(lo: usize, hi: usize) -> Vec<(usize, usize)> {
    let mid = lo + (hi - lo) / 2;
    if mid == lo {
        return vec![(lo, hi)];
    }
    vec![(mid, hi), (lo, mid)]
}

/// Records `message` as not projectable and moves the checkpoint past it, in one transaction; only
/// if it is the next message after the checkpoint (otherwise nothing changes). Returns the
/// checkpoint after.
pub async fn quarantine_on<P: Projection>(
    conn: &mut PgConnection,
    projection: &P,
    message: &Stored,
    error: &ProjectionError,
) -> Result<u64, ProjectionError> {
    let key = stream_key(projection.stream());
    let mut tx = conn.begin().await?;
    let checkpoint = lock_checkpoint(&mut tx, key).await?;
    if checkpoint.saturating_add(1) != message.sequence {
        tx.rollback().await?;
        return Ok(checkpoint);
    }
    let (event_id, event_type) = loose_id_and_type(&message.payload);
    let aggregate = message.subject.rsplit('.').next().unwrap_or_default();
    sqlx::query(
        "INSERT INTO projection_quarantine (stream, sequence, subject, aggregate_id, event_id, event_type, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (stream, sequence) DO NOTHING",
    )
    .bind(key)
    .bind(sql_sequence(message.sequence)?)
    .bind(storable(&message.subject, 256))
    .bind(storable(aggregate, 256))
    .bind(event_id)
    .bind(event_type)
    .bind(storable(&error.to_string(), ERROR_CHARS_MAX))
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE checkpoints SET last_sequence = $2, updated_at = now() WHERE stream = $1")
        .bind(key)
        .bind(sql_sequence(message.sequence)?)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::error!(
        stream = key,
        sequence = message.sequence,
        subject = %message.subject,
        %error,
        "event quarantined: the read model cannot take it; it stays in its stream"
    );
    Ok(message.sequence)
}

/// The CloudEvents id and type of a payload, as far as they can be read and stored.
fn loose_id_and_type(payload: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(payload)
    else {
        return (None, None);
    };
    let field = |name: &str| {
        map.get(name)
            .and_then(|v| v.as_str())
            .map(|s| storable(s, 256))
    };
    (field("id"), field("type"))
}

/// `text` made safe for a Postgres `text` column: control characters replaced, at most `max` chars.
pub fn storable(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_split_a_range_left_first_and_keep_a_single_one() {
        assert_eq!(halves(0, 5), [(2, 5), (0, 2)]);
        assert_eq!(halves(3, 4), [(3, 4)]);
    }

    #[test]
    fn storable_text_has_no_control_characters_and_a_bound() {
        assert_eq!(storable("a\u{0}b\nc", 10), "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(storable("abcdef", 3), "abc");
    }

    #[test]
    fn errors_in_the_events_are_deterministic_and_a_lost_connection_is_not() {
        let undecodable = ProjectionError::Undecodable {
            sequence: 1,
            subject: "s".into(),
            reason: "r".into(),
        };
        assert!(undecodable.is_deterministic());
        assert!(!ProjectionError::Database(sqlx::Error::PoolTimedOut).is_deterministic());
        assert!(
            !ProjectionError::Database(sqlx::Error::Io(std::io::Error::other("reset")))
                .is_deterministic()
        );
    }
}
