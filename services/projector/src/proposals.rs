//! The proposals read model: `proposals` (current state) and `proposal_timeline` (every event),
//! from the PROPOSALS stream.
//!
//! The state changes mirror the aggregate's `apply` in `buendel-submission`: `submitted` inserts the
//! row, `screened` moves it to `in_review` or `screening_failed`, `revised` replaces the terms and
//! sends it back to `submitted` (it is screened again), `withdrawn` ends it. Every row carries the
//! stream sequence of the last event applied, and each update only applies to an older row, so even
//! without the checkpoint an event applied twice changes nothing.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{ProposalEvent, Revised, Screened, Submitted, Terms, Withdrawn};
use buendel_runtime::store::Stored;

use crate::projection::{Projection, ProjectionError};
use crate::timeline;

/// The statuses a proposal can have in the read model (`proposals.status`).
///
/// The PROPOSALS stream yields only these four. The review's statuses (`statement_positive`, ...)
/// live in `proposal_reviews.review_status` ([`crate::reviews::review_status`]), projected from
/// REVIEWS; the API combines the two into the status it shows (`buendel_api::status`).
pub mod status {
    /// Accepted at intake (or revised), waiting for screening.
    pub const SUBMITTED: &str = "submitted";
    /// Screened, and an `error` rule failed.
    pub const SCREENING_FAILED: &str = "screening_failed";
    /// Screened and passed: the alliance reviews it.
    pub const IN_REVIEW: &str = "in_review";
    /// Withdrawn by the applicant.
    pub const WITHDRAWN: &str = "withdrawn";
}

/// Projects the PROPOSALS stream into `proposals` and `proposal_timeline`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProposalsProjection;

/// A decoded PROPOSALS message.
type Decoded = crate::projection::Decoded<ProposalEvent>;

impl Projection for ProposalsProjection {
    fn stream(&self) -> StreamKind {
        StreamKind::Proposals
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        sequence: u64,
        subject: &str,
        payload: &[u8],
    ) -> Result<(), ProjectionError> {
        let decoded = decode(sequence, subject, payload)?;
        insert_timeline(conn, std::slice::from_ref(&decoded)).await?;
        apply_state(conn, &decoded).await
    }

    async fn apply_many(
        &self,
        conn: &mut PgConnection,
        messages: &[Stored],
    ) -> Result<(), ProjectionError> {
        let decoded = messages
            .iter()
            .map(|m| decode(m.sequence, &m.subject, &m.payload))
            .collect::<Result<Vec<_>, _>>()?;
        insert_timeline(conn, &decoded).await?;
        for event in &decoded {
            apply_state(conn, event).await?;
        }
        Ok(())
    }
}

fn decode(sequence: u64, subject: &str, payload: &[u8]) -> Result<Decoded, ProjectionError> {
    crate::projection::decode(sequence, subject, payload)
}

/// Every event of the batch into the timeline, in one statement.
async fn insert_timeline(
    conn: &mut PgConnection,
    events: &[Decoded],
) -> Result<(), ProjectionError> {
    let events: Vec<&Decoded> = events.iter().collect();
    timeline::insert(
        conn,
        StreamKind::Proposals,
        &events,
        ProposalEvent::proposal_id,
    )
    .await
}

/// The event's effect on the `proposals` row. Exhaustive: a new event type fails to compile here.
async fn apply_state(conn: &mut PgConnection, event: &Decoded) -> Result<(), ProjectionError> {
    match &event.envelope.event {
        ProposalEvent::Submitted(submitted) => insert_proposal(conn, event, submitted).await,
        ProposalEvent::Screened(screened) => screen(conn, event, screened).await,
        ProposalEvent::Revised(revised) => revise(conn, event, revised).await,
        ProposalEvent::Withdrawn(withdrawn) => withdraw(conn, event, withdrawn).await,
    }
}

/// The terms, converted to their column types.
struct TermColumns<'a> {
    terms: &'a Terms,
    duration_months: i32,
    requested_rate_bp: i32,
}

impl<'a> TermColumns<'a> {
    fn new(terms: &'a Terms, sequence: u64) -> Result<Self, ProjectionError> {
        let requested_rate_bp =
            i32::try_from(terms.requested_rate_bp.0).map_err(|_| ProjectionError::OutOfRange {
                sequence,
                what: "requested_rate_bp",
            })?;
        Ok(Self {
            terms,
            duration_months: i32::from(terms.duration_months),
            requested_rate_bp,
        })
    }
}

async fn insert_proposal(
    conn: &mut PgConnection,
    event: &Decoded,
    submitted: &Submitted,
) -> Result<(), ProjectionError> {
    let terms = TermColumns::new(&submitted.terms, event.sequence)?;
    let inserted = sqlx::query(
        "INSERT INTO proposals (proposal_id, alliance_id, status, title, summary, project_type, \
             applicant_name, applicant_kind, applicant_district, focus_areas, districts, \
             planned_start, duration_months, eligible_cost_cents, requested_rate_bp, \
             created_sequence, last_sequence, version, submitted_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16, $16, $17, $18, $18) \
         ON CONFLICT DO NOTHING",
    )
    .bind(submitted.proposal_id)
    .bind(&submitted.alliance_id)
    .bind(status::SUBMITTED)
    .bind(&terms.terms.title)
    .bind(&terms.terms.summary)
    .bind(terms.terms.project_type.as_str())
    .bind(&submitted.applicant.name)
    .bind(&submitted.applicant.kind)
    .bind(&submitted.applicant.district)
    .bind(&terms.terms.focus_areas)
    .bind(&terms.terms.districts)
    .bind(terms.terms.planned_start)
    .bind(terms.duration_months)
    .bind(terms.terms.eligible_cost_cents.0)
    .bind(terms.requested_rate_bp)
    .bind(event.sql_sequence)
    .bind(event.version)
    .bind(event.envelope.time)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        let created: Option<i64> =
            sqlx::query_scalar("SELECT created_sequence FROM proposals WHERE proposal_id = $1")
                .bind(submitted.proposal_id)
                .fetch_optional(&mut *conn)
                .await?;
        if created != Some(event.sql_sequence) {
            // Not a replay of this very event: the stream holds a second `submitted` for one
            // proposal, which the aggregate never decides. Keep the first, say so.
            tracing::warn!(
                sequence = event.sequence,
                proposal_id = %submitted.proposal_id,
                "ignoring a second submitted event for an existing proposal"
            );
        }
    }
    Ok(())
}

async fn screen(
    conn: &mut PgConnection,
    event: &Decoded,
    screened: &Screened,
) -> Result<(), ProjectionError> {
    let status = if screened.passed {
        status::IN_REVIEW
    } else {
        status::SCREENING_FAILED
    };
    let updated = sqlx::query(
        "UPDATE proposals SET status = $2, rules_version = $3, screening = $4, \
             last_sequence = $5, version = $6, updated_at = $7 \
         WHERE proposal_id = $1 AND last_sequence < $5",
    )
    .bind(screened.proposal_id)
    .bind(status)
    .bind(&screened.rules_version)
    .bind(Json(&screened.results))
    .bind(event.sql_sequence)
    .bind(event.version)
    .bind(event.envelope.time)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    ensure_applied(conn, updated, event, screened.proposal_id).await
}

async fn revise(
    conn: &mut PgConnection,
    event: &Decoded,
    revised: &Revised,
) -> Result<(), ProjectionError> {
    let terms = TermColumns::new(&revised.terms, event.sequence)?;
    let updated = sqlx::query(
        "UPDATE proposals SET status = $2, title = $3, summary = $4, project_type = $5, \
             focus_areas = $6, districts = $7, planned_start = $8, duration_months = $9, \
             eligible_cost_cents = $10, requested_rate_bp = $11, \
             last_sequence = $12, version = $13, updated_at = $14 \
         WHERE proposal_id = $1 AND last_sequence < $12",
    )
    .bind(revised.proposal_id)
    .bind(status::SUBMITTED)
    .bind(&terms.terms.title)
    .bind(&terms.terms.summary)
    .bind(terms.terms.project_type.as_str())
    .bind(&terms.terms.focus_areas)
    .bind(&terms.terms.districts)
    .bind(terms.terms.planned_start)
    .bind(terms.duration_months)
    .bind(terms.terms.eligible_cost_cents.0)
    .bind(terms.requested_rate_bp)
    .bind(event.sql_sequence)
    .bind(event.version)
    .bind(event.envelope.time)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    ensure_applied(conn, updated, event, revised.proposal_id).await
}

async fn withdraw(
    conn: &mut PgConnection,
    event: &Decoded,
    withdrawn: &Withdrawn,
) -> Result<(), ProjectionError> {
    let updated = set_status(conn, event, withdrawn.proposal_id, status::WITHDRAWN).await?;
    ensure_applied(conn, updated, event, withdrawn.proposal_id).await
}

/// Sets the status (and the bookkeeping columns) of a row older than the event; returns the rows hit.
async fn set_status(
    conn: &mut PgConnection,
    event: &Decoded,
    proposal_id: Uuid,
    status: &str,
) -> Result<u64, ProjectionError> {
    let updated = sqlx::query(
        "UPDATE proposals SET status = $2, last_sequence = $3, version = $4, updated_at = $5 \
         WHERE proposal_id = $1 AND last_sequence < $3",
    )
    .bind(proposal_id)
    .bind(status)
    .bind(event.sql_sequence)
    .bind(event.version)
    .bind::<DateTime<Utc>>(event.envelope.time)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(updated)
}

/// An update that hit no row is fine when the row already holds this event (a replay), and an
/// error when there is no row at all (the stream lacks the proposal's `submitted`).
async fn ensure_applied(
    conn: &mut PgConnection,
    updated: u64,
    event: &Decoded,
    proposal_id: Uuid,
) -> Result<(), ProjectionError> {
    if updated > 0 {
        return Ok(());
    }
    match last_sequence_of(conn, proposal_id).await? {
        Some(_) => Ok(()),
        None => Err(ProjectionError::Orphan {
            sequence: event.sequence,
            event_type: event.envelope.event_type(),
            proposal_id,
        }),
    }
}

async fn last_sequence_of(
    conn: &mut PgConnection,
    proposal_id: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT last_sequence FROM proposals WHERE proposal_id = $1")
        .bind(proposal_id)
        .fetch_optional(conn)
        .await
}
