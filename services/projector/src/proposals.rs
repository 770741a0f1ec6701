//! The proposals read model: `proposals` (current state) and `proposal_timeline` (every event),
//! from the PROPOSALS stream.
//!
//! The state changes mirror the aggregate's `apply` in `buendel-submission`: `submitted` inserts the
//! row, `screened` moves it to `in_review` or `screening_failed`, `revised` replaces the terms and
//! sends it back to `submitted` (it is screened again), `withdrawn` ends it. Every row carries the
//! stream sequence of the last event applied, and each update only applies to an older row, so even
//! without the checkpoint an event applied twice changes nothing.
//!
//! A batch is written in a few statements, whatever its size ([`ProposalsProjection::apply_many`]).
//! Its events are grouped by proposal (rows of different proposals never interact) and each group
//! is folded in memory into the row or the change it makes:
//!
//! - a group that starts with `submitted` becomes one new row (its later events folded in), and all
//!   such rows are inserted by one `UNNEST`; a row that turns out to exist already (a replay, or a
//!   second `submitted` the aggregate never decides) falls back to the event-by-event path;
//! - a group of only `screened` and `withdrawn` becomes one patch (the last value of each column
//!   it sets), and all patches are applied by one `UPDATE .. FROM UNNEST`, only to rows older than
//!   the group's last event. The stream is applied as a contiguous prefix, so whatever a row
//!   already holds of the group is exactly what the patch sets again;
//! - any other group (a `revised` without its `submitted`, say) goes event by event.
//!
//! Either way the rows are those that applying the events one by one gives.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{
    ProposalEvent, ReviewRecorded, Revised, Screened, Submitted, Terms, Withdrawn,
};
#[cfg(doc)]
use buendel_contract::status::ProposalStatus;
use buendel_runtime::store::Stored;

use crate::projection::{Projection, ProjectionError};
use crate::timeline;

/// The statuses a proposal can have in the read model (`proposals.status`): the wire names of
/// [`ProposalStatus`].
///
/// The PROPOSALS stream yields only these four. The review's statuses (`statement_positive`, ...)
/// live in `proposal_reviews.review_status` ([`crate::reviews::review_status`]), projected from
/// REVIEWS; the API combines them with the ledger's into the status it shows
/// (`buendel_contract::status::combined_status`).
pub mod status {
    use buendel_contract::status::ProposalStatus;

    /// Accepted at intake (or revised), waiting for screening.
    pub const SUBMITTED: &str = ProposalStatus::Submitted.as_str();
    /// Screened, and an `error` rule failed.
    pub const SCREENING_FAILED: &str = ProposalStatus::ScreeningFailed.as_str();
    /// Screened and passed: the alliance reviews it.
    pub const IN_REVIEW: &str = ProposalStatus::InReview.as_str();
    /// Withdrawn by the applicant.
    pub const WITHDRAWN: &str = ProposalStatus::Withdrawn.as_str();
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
        let mut groups: BTreeMap<Uuid, Vec<&Decoded>> = BTreeMap::new();
        for event in &decoded {
            groups
                .entry(event.envelope.event.proposal_id())
                .or_default()
                .push(event);
        }
        let mut new_rows = Vec::new();
        let mut patches = Vec::new();
        let mut one_by_one: Vec<&[&Decoded]> = Vec::new();
        for events in groups.values() {
            if let Some(row) = NewRow::fold(events)? {
                new_rows.push((row, events.as_slice()));
            } else if let Some(patch) = Patch::fold(events)? {
                patches.push(patch);
            } else {
                one_by_one.push(events);
            }
        }
        let inserted = insert_new(conn, &new_rows).await?;
        for (row, events) in &new_rows {
            if !inserted.contains(&row.proposal_id) {
                one_by_one.push(events);
            }
        }
        apply_patches(conn, &patches).await?;
        for events in one_by_one {
            for event in events {
                apply_state(conn, event).await?;
            }
        }
        Ok(())
    }
}

/// A proposal's row folded from a group of events that starts with its `submitted`.
struct NewRow<'a> {
    proposal_id: Uuid,
    submitted: &'a Submitted,
    terms: TermColumns<'a>,
    status: &'static str,
    rules_version: Option<&'a str>,
    screening: Option<String>,
    created_sequence: i64,
    last_sequence: i64,
    version: i64,
    submitted_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl<'a> NewRow<'a> {
    /// The row, if the group starts with `submitted`. Exhaustive: a new event type fails to compile.
    fn fold(events: &[&'a Decoded]) -> Result<Option<Self>, ProjectionError> {
        let Some((first, rest)) = events.split_first() else {
            return Ok(None);
        };
        let ProposalEvent::Submitted(submitted) = &first.envelope.event else {
            return Ok(None);
        };
        let mut row = NewRow {
            proposal_id: submitted.proposal_id,
            submitted,
            terms: TermColumns::new(&submitted.terms, first.sequence)?,
            status: status::SUBMITTED,
            rules_version: None,
            screening: None,
            created_sequence: first.sql_sequence,
            last_sequence: first.sql_sequence,
            version: first.version,
            submitted_at: first.envelope.time,
            updated_at: first.envelope.time,
        };
        for event in rest {
            match &event.envelope.event {
                ProposalEvent::Submitted(_) => {
                    tracing::warn!(
                        sequence = event.sequence,
                        proposal_id = %row.proposal_id,
                        "ignoring a second submitted event for an existing proposal"
                    );
                    continue;
                }
                ProposalEvent::Screened(screened) => {
                    row.status = screened_status(screened);
                    row.rules_version = Some(&screened.rules_version);
                    row.screening = Some(screening_json(event, screened)?);
                }
                ProposalEvent::Revised(revised) => {
                    row.status = status::SUBMITTED;
                    row.terms = TermColumns::new(&revised.terms, event.sequence)?;
                }
                ProposalEvent::Withdrawn(_) => row.status = status::WITHDRAWN,
                // The review's own projection shows the statement and the grant.
                ProposalEvent::ReviewRecorded(_) => {}
            }
            row.last_sequence = event.sql_sequence;
            row.version = event.version;
            row.updated_at = event.envelope.time;
        }
        Ok(Some(row))
    }
}

/// The change a group of only `screened` and `withdrawn` events makes to an existing row.
struct Patch<'a> {
    proposal_id: Uuid,
    /// Every event of the group sets it; the last one wins.
    status: &'static str,
    rules_version: Option<&'a str>,
    screening: Option<String>,
    first: &'a Decoded,
    last: &'a Decoded,
}

impl<'a> Patch<'a> {
    /// The patch, if every event of the group is a `screened` or a `withdrawn`. Exhaustive: a new
    /// event type fails to compile here.
    fn fold(events: &[&'a Decoded]) -> Result<Option<Self>, ProjectionError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(None);
        };
        let mut patch = Patch {
            proposal_id: first.envelope.event.proposal_id(),
            status: status::WITHDRAWN,
            rules_version: None,
            screening: None,
            first,
            last,
        };
        for event in events {
            match &event.envelope.event {
                ProposalEvent::Screened(screened) => {
                    patch.status = screened_status(screened);
                    patch.rules_version = Some(&screened.rules_version);
                    patch.screening = Some(screening_json(event, screened)?);
                }
                ProposalEvent::Withdrawn(_) => patch.status = status::WITHDRAWN,
                ProposalEvent::Submitted(_)
                | ProposalEvent::Revised(_)
                | ProposalEvent::ReviewRecorded(_) => return Ok(None),
            }
        }
        Ok(Some(patch))
    }
}

/// The status a screening leaves.
fn screened_status(screened: &Screened) -> &'static str {
    if screened.passed {
        status::IN_REVIEW
    } else {
        status::SCREENING_FAILED
    }
}

/// `proposals.screening`: the rule results as published, as JSON text (cast to `jsonb` by the
/// statement).
fn screening_json(event: &Decoded, screened: &Screened) -> Result<String, ProjectionError> {
    serde_json::to_string(&screened.results).map_err(|e| ProjectionError::Undecodable {
        sequence: event.sequence,
        subject: event.envelope.subject.clone(),
        reason: e.to_string(),
    })
}

/// Inserts the new rows in one statement; returns the proposals actually inserted.
async fn insert_new(
    conn: &mut PgConnection,
    rows: &[(NewRow<'_>, &[&Decoded])],
) -> Result<BTreeSet<Uuid>, ProjectionError> {
    if rows.is_empty() {
        return Ok(BTreeSet::new());
    }
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut alliances = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut titles = Vec::with_capacity(n);
    let mut summaries = Vec::with_capacity(n);
    let mut project_types = Vec::with_capacity(n);
    let mut applicant_names = Vec::with_capacity(n);
    let mut applicant_kinds = Vec::with_capacity(n);
    let mut applicant_districts = Vec::with_capacity(n);
    let mut focus_areas = Vec::with_capacity(n);
    let mut districts = Vec::with_capacity(n);
    let mut starts: Vec<NaiveDate> = Vec::with_capacity(n);
    let mut durations = Vec::with_capacity(n);
    let mut costs = Vec::with_capacity(n);
    let mut rates = Vec::with_capacity(n);
    let mut rules_versions = Vec::with_capacity(n);
    let mut screenings = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    let mut last_sequences = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut submitted_at = Vec::with_capacity(n);
    let mut updated_at = Vec::with_capacity(n);
    for (row, _) in rows {
        let terms = row.terms.terms;
        ids.push(row.proposal_id);
        alliances.push(row.submitted.alliance_id.as_str());
        statuses.push(row.status);
        titles.push(terms.title.as_str());
        summaries.push(terms.summary.as_str());
        project_types.push(terms.project_type.as_str());
        applicant_names.push(row.submitted.applicant.name.as_str());
        applicant_kinds.push(row.submitted.applicant.kind.as_str());
        applicant_districts.push(row.submitted.applicant.district.as_str());
        focus_areas.push(array_literal(&terms.focus_areas));
        districts.push(array_literal(&terms.districts));
        starts.push(terms.planned_start);
        durations.push(row.terms.duration_months);
        costs.push(terms.eligible_cost_cents.0);
        rates.push(row.terms.requested_rate_bp);
        rules_versions.push(row.rules_version);
        screenings.push(row.screening.as_deref());
        created.push(row.created_sequence);
        last_sequences.push(row.last_sequence);
        versions.push(row.version);
        submitted_at.push(row.submitted_at);
        updated_at.push(row.updated_at);
    }
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO proposals (proposal_id, alliance_id, status, title, summary, project_type, \
             applicant_name, applicant_kind, applicant_district, focus_areas, districts, \
             planned_start, duration_months, eligible_cost_cents, requested_rate_bp, \
             rules_version, screening, created_sequence, last_sequence, version, submitted_at, \
             updated_at) \
         SELECT u.proposal_id, u.alliance_id, u.status, u.title, u.summary, u.project_type, \
             u.applicant_name, u.applicant_kind, u.applicant_district, \
             u.focus_areas::text[], u.districts::text[], \
             u.planned_start, u.duration_months, u.eligible_cost_cents, u.requested_rate_bp, \
             u.rules_version, u.screening, u.created_sequence, u.last_sequence, u.version, \
             u.submitted_at, u.updated_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::date[], \
                     $13::integer[], $14::bigint[], $15::integer[], $16::text[], $17::jsonb[], \
                     $18::bigint[], $19::bigint[], $20::bigint[], $21::timestamptz[], \
                     $22::timestamptz[]) \
             AS u(proposal_id, alliance_id, status, title, summary, project_type, applicant_name, \
                  applicant_kind, applicant_district, focus_areas, districts, planned_start, \
                  duration_months, eligible_cost_cents, requested_rate_bp, rules_version, \
                  screening, created_sequence, last_sequence, version, submitted_at, updated_at) \
         ON CONFLICT DO NOTHING RETURNING proposal_id",
    )
    .bind(ids)
    .bind(alliances)
    .bind(statuses)
    .bind(titles)
    .bind(summaries)
    .bind(project_types)
    .bind(applicant_names)
    .bind(applicant_kinds)
    .bind(applicant_districts)
    .bind(focus_areas)
    .bind(districts)
    .bind(starts)
    .bind(durations)
    .bind(costs)
    .bind(rates)
    .bind(rules_versions)
    .bind(screenings)
    .bind(created)
    .bind(last_sequences)
    .bind(versions)
    .bind(submitted_at)
    .bind(updated_at)
    .fetch_all(conn)
    .await?;
    Ok(inserted.into_iter().collect())
}

/// A list of strings as a Postgres array literal (`{"a","b \\"c\\""}`), every element quoted and
/// escaped, so that a batch can bind one `text` per row for a `text[]` column.
fn array_literal(items: &[String]) -> String {
    let mut out = String::with_capacity(2 + items.iter().map(|i| i.len() + 3).sum::<usize>());
    out.push('{');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// Applies the patches in one statement, each only to a row older than its last event; a patch
/// whose proposal has no row is [`ProjectionError::Orphan`].
async fn apply_patches(
    conn: &mut PgConnection,
    patches: &[Patch<'_>],
) -> Result<(), ProjectionError> {
    if patches.is_empty() {
        return Ok(());
    }
    let n = patches.len();
    let mut ids = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut rules_versions = Vec::with_capacity(n);
    let mut screenings = Vec::with_capacity(n);
    let mut last_sequences = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    for patch in patches {
        ids.push(patch.proposal_id);
        statuses.push(patch.status);
        rules_versions.push(patch.rules_version);
        screenings.push(patch.screening.as_deref());
        last_sequences.push(patch.last.sql_sequence);
        versions.push(patch.last.version);
        times.push(patch.last.envelope.time);
    }
    let updated: BTreeSet<Uuid> = sqlx::query_scalar(
        "UPDATE proposals p SET status = u.status, \
             rules_version = COALESCE(u.rules_version, p.rules_version), \
             screening = COALESCE(u.screening, p.screening), \
             last_sequence = u.last_sequence, version = u.version, updated_at = u.updated_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::bigint[], $6::bigint[], \
                     $7::timestamptz[]) \
             AS u(proposal_id, status, rules_version, screening, last_sequence, version, updated_at) \
         WHERE p.proposal_id = u.proposal_id AND p.last_sequence < u.last_sequence \
         RETURNING p.proposal_id",
    )
    .bind(&ids)
    .bind(statuses)
    .bind(rules_versions)
    .bind(screenings)
    .bind(last_sequences)
    .bind(versions)
    .bind(times)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    if updated.len() == patches.len() {
        return Ok(());
    }
    let existing: BTreeSet<Uuid> =
        sqlx::query_scalar("SELECT proposal_id FROM proposals WHERE proposal_id = ANY($1)")
            .bind(&ids)
            .fetch_all(conn)
            .await?
            .into_iter()
            .collect();
    match patches.iter().find(|p| !existing.contains(&p.proposal_id)) {
        Some(orphan) => Err(ProjectionError::Orphan {
            sequence: orphan.first.sequence,
            event_type: orphan.first.envelope.event_type(),
            proposal_id: orphan.proposal_id,
        }),
        None => Ok(()), // the rest are replays
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
        ProposalEvent::ReviewRecorded(recorded) => record(conn, event, recorded).await,
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

/// A review stage recorded on the proposal: the status stays (the review's projection shows the
/// stage), the bookkeeping columns move on.
async fn record(
    conn: &mut PgConnection,
    event: &Decoded,
    recorded: &ReviewRecorded,
) -> Result<(), ProjectionError> {
    let updated = sqlx::query(
        "UPDATE proposals SET last_sequence = $2, version = $3, updated_at = $4 \
         WHERE proposal_id = $1 AND last_sequence < $2",
    )
    .bind(recorded.proposal_id)
    .bind(event.sql_sequence)
    .bind(event.version)
    .bind::<DateTime<Utc>>(event.envelope.time)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    ensure_applied(conn, updated, event, recorded.proposal_id).await
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
