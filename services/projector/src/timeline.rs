//! `proposal_timeline`: every event that concerns a proposal, whichever stream it is stored in
//! (PROPOSALS, REVIEWS, later LEDGER). Keyed by (stream, sequence), so each projection writes its
//! own stream's events without waiting for the others, and a replay inserts nothing twice.

use sqlx::PgConnection;
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_contract::EventKind;

use crate::projection::{stream_key, Decoded, ProjectionError};

/// Inserts `events` (all from `stream`) into the timeline in one statement; `proposal_id` names the
/// proposal each event concerns. Rows already there are left alone.
///
/// `WHERE NOT EXISTS` rather than `ON CONFLICT DO NOTHING`: a plain insert is cheaper than a
/// speculative one (no confirmation record per row), and the projection's checkpoint lock already
/// makes it the only writer of its stream's rows. Should another writer slip in anyway, the key
/// refuses its row, the batch rolls back and is retried. `events` holds no sequence twice.
pub(crate) async fn insert<E: EventKind>(
    conn: &mut PgConnection,
    stream: StreamKind,
    events: &[&Decoded<E>],
    proposal_id: fn(&E) -> Uuid,
) -> Result<(), ProjectionError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut sequences = Vec::with_capacity(events.len());
    let mut proposal_ids = Vec::with_capacity(events.len());
    let mut event_ids = Vec::with_capacity(events.len());
    let mut event_types = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    let mut actors = Vec::with_capacity(events.len());
    let mut data = Vec::with_capacity(events.len());
    for event in events {
        sequences.push(event.sql_sequence);
        proposal_ids.push(proposal_id(&event.envelope.event));
        event_ids.push(event.envelope.id);
        event_types.push(event.envelope.event.event_type());
        times.push(event.envelope.time);
        actors.push(event.envelope.actor.as_str());
        data.push(event.data.get());
    }
    sqlx::query(
        "INSERT INTO proposal_timeline \
             (stream, sequence, proposal_id, event_id, event_type, time, actor, data) \
         SELECT $1::text, u.sequence, u.proposal_id, u.event_id, u.event_type, u.time, u.actor, \
                u.data::json \
         FROM UNNEST($2::bigint[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[], \
                     $7::text[], $8::text[]) \
             AS u(sequence, proposal_id, event_id, event_type, time, actor, data) \
         WHERE NOT EXISTS (SELECT 1 FROM proposal_timeline t \
                           WHERE t.stream = $1 AND t.sequence = u.sequence)",
    )
    .bind(stream_key(stream))
    .bind(sequences)
    .bind(proposal_ids)
    .bind(event_ids)
    .bind(event_types)
    .bind(times)
    .bind(actors)
    .bind(data)
    .execute(conn)
    .await?;
    Ok(())
}
