//! Applying a batch with its checkpoint, in one transaction. No NATS here, so it is tested alone.
//!
//! The checkpoint row of the projection's stream is locked (`SELECT ... FOR UPDATE`) for the whole
//! transaction, which serialises any number of projector instances. Messages at or below the
//! checkpoint are skipped (replays and redeliveries change nothing). Of the rest, only the run that
//! continues the checkpoint without a hole is applied: the streams never delete (`deny_delete`,
//! `deny_purge`, no limits), so their sequences have no holes, and a message beyond a hole means an
//! earlier one is still on its way (redelivered, or fetched by another instance). Applying it now
//! and moving the checkpoint past the hole would lose the earlier one for good.

use sqlx::{Connection as _, PgConnection, PgPool};

use buendel_contract::namespace::StreamKind;
use buendel_runtime::store::Stored;

use crate::projection::{sql_sequence, stream_key, Projection, ProjectionError};

/// Applies the messages that continue the checkpoint and moves it, in one transaction.
///
/// Returns the checkpoint after the batch: every message at or below it is in the read model, so
/// the caller may acknowledge up to it (and must not acknowledge beyond it). `messages` may come in
/// any order and hold duplicates.
pub async fn apply_batch<P: Projection>(
    pool: &PgPool,
    projection: &P,
    messages: &[Stored],
) -> Result<u64, ProjectionError> {
    let mut conn = pool.acquire().await?;
    apply_batch_on(&mut conn, projection, messages).await
}

/// [`apply_batch`] on a connection the caller keeps, so that the statements it prepares are
/// reused from one batch to the next (sqlx caches them per connection). After an error the
/// connection may be broken: drop it rather than reuse it.
pub async fn apply_batch_on<P: Projection>(
    conn: &mut PgConnection,
    projection: &P,
    messages: &[Stored],
) -> Result<u64, ProjectionError> {
    let mut tx = conn.begin().await?;
    match apply_locked(&mut tx, projection, messages).await {
        Ok(checkpoint) => {
            tx.commit().await?;
            Ok(checkpoint)
        }
        Err(error) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(%rollback, "rollback failed; the connection is discarded");
            }
            Err(error)
        }
    }
}

async fn apply_locked<P: Projection>(
    conn: &mut PgConnection,
    projection: &P,
    messages: &[Stored],
) -> Result<u64, ProjectionError> {
    let key = stream_key(projection.stream());
    let checkpoint = lock_checkpoint(conn, key).await?;
    let fresh = continuing(checkpoint, messages);
    let Some(last) = fresh.last().map(|m| m.sequence) else {
        return Ok(checkpoint);
    };
    projection.apply_many(conn, &fresh).await?;
    sqlx::query("UPDATE checkpoints SET last_sequence = $2, updated_at = now() WHERE stream = $1")
        .bind(key)
        .bind(sql_sequence(last)?)
        .execute(conn)
        .await?;
    Ok(last)
}

/// Locks the checkpoint row of a stream (creating it at 0) and returns its sequence.
pub(crate) async fn lock_checkpoint(
    conn: &mut PgConnection,
    key: &str,
) -> Result<u64, ProjectionError> {
    sqlx::query("INSERT INTO checkpoints (stream, last_sequence) VALUES ($1, 0) ON CONFLICT (stream) DO NOTHING")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    let last: i64 =
        sqlx::query_scalar("SELECT last_sequence FROM checkpoints WHERE stream = $1 FOR UPDATE")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
    Ok(u64::try_from(last).unwrap_or(0))
}

/// The messages right after `checkpoint`, in order, without duplicates, up to the first hole.
pub fn continuing(checkpoint: u64, messages: &[Stored]) -> Vec<Stored> {
    let mut sorted: Vec<&Stored> = messages
        .iter()
        .filter(|m| m.sequence > checkpoint)
        .collect();
    sorted.sort_by_key(|m| m.sequence);
    let mut next = checkpoint.saturating_add(1);
    let mut out = Vec::with_capacity(sorted.len());
    for message in sorted {
        if message.sequence < next {
            continue; // a duplicate delivery of one we already took
        }
        if message.sequence > next {
            break; // a hole: the earlier message is still on its way
        }
        out.push(message.clone());
        next = next.saturating_add(1);
    }
    out
}

/// The checkpoint of a stream (0 when nothing was applied yet), read without locking.
pub async fn checkpoint(pool: &PgPool, kind: StreamKind) -> Result<u64, sqlx::Error> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT last_sequence FROM checkpoints WHERE stream = $1")
            .bind(stream_key(kind))
            .fetch_optional(pool)
            .await?;
    Ok(last.and_then(|l| u64::try_from(l).ok()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(sequence: u64) -> Stored {
        Stored {
            sequence,
            subject: format!("t.proposal.{sequence}"),
            payload: Default::default(),
            trace: None,
        }
    }

    fn sequences(messages: &[Stored]) -> Vec<u64> {
        messages.iter().map(|m| m.sequence).collect()
    }

    #[test]
    fn messages_at_or_below_the_checkpoint_are_skipped() {
        let fresh = continuing(3, &[at(2), at(3), at(4), at(5)]);
        assert_eq!(sequences(&fresh), [4, 5]);
    }

    #[test]
    fn a_hole_stops_the_batch_before_it() {
        let fresh = continuing(0, &[at(1), at(2), at(4), at(5)]);
        assert_eq!(sequences(&fresh), [1, 2]);
    }

    #[test]
    fn a_batch_that_starts_beyond_a_hole_applies_nothing() {
        assert!(continuing(10, &[at(12), at(13)]).is_empty());
    }

    #[test]
    fn out_of_order_and_duplicate_deliveries_are_applied_once_in_order() {
        let fresh = continuing(0, &[at(3), at(1), at(2), at(2), at(1)]);
        assert_eq!(sequences(&fresh), [1, 2, 3]);
    }
}
