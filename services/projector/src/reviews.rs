//! The review and alliance read models, from the REVIEWS stream.
//!
//! REVIEWS holds two aggregates: the Review of each proposal (`<ns>.review.<proposal_id>`,
//! `buendel.review.*`) and the Alliance (`<ns>.review.alliance-<id>`, `buendel.alliance.*`). Each
//! message is routed by its CloudEvents `type` first, then decoded into the matching event enum:
//!
//! - review events go to `proposal_timeline` (stream `REVIEWS`) and to `proposal_reviews`,
//!   `review_votes` and `review_recusals`;
//! - alliance events go to `alliances`;
//! - a `buendel.alliance.*` type this build does not know (a later version) is skipped with a
//!   warning, so it never blocks the reviews behind it; any other unknown type is
//!   [`ProjectionError::Undecodable`], as on every stream.
//!
//! Cross-stream order: the `proposals` row comes from PROPOSALS, projected by another runner, so a
//! review event may arrive before its proposal's row exists. Nothing here reads or writes
//! `proposals`: the review lives in `proposal_reviews`, keyed by proposal id and written by upserts,
//! and the API joins the two (and combines their statuses, see `buendel_api::status`).
//!
//! Every row carries the stream sequence of the last event applied and each update only applies to
//! an older row, so even without the checkpoint an event applied twice changes nothing.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::PgConnection;

use buendel_contract::alliance::{AllianceEvent, PartnerJoined, PartnerLeft, Registered};
use buendel_contract::namespace::StreamKind;
use buendel_contract::reference::Partner;
use buendel_contract::review::{
    Closed, ConflictDeclared, GrantDecided, GrantRefused, Opened, ReviewEvent, StatementIssued,
    Verdict, VoteRecorded,
};
use buendel_contract::{BasisPoints, Cents, EventKind as _};
use buendel_runtime::store::Stored;

use crate::projection::{decode, undecodable, Decoded, Projection, ProjectionError};
use crate::timeline;

/// The statuses of a review (`proposal_reviews.review_status`).
pub mod review_status {
    /// Opened: the partners are voting.
    pub const IN_REVIEW: &str = "in_review";
    /// The alliance issued a positive statement.
    pub const STATEMENT_POSITIVE: &str = "statement_positive";
    /// The alliance issued a negative statement.
    pub const STATEMENT_NEGATIVE: &str = "statement_negative";
    /// The bank granted the project.
    pub const GRANTED: &str = "granted";
    /// The bank refused the grant.
    pub const REFUSED: &str = "refused";
}

/// The type prefix of the Review aggregate's events.
const REVIEW_TYPE_PREFIX: &str = "buendel.review.";
/// The type prefix of the Alliance aggregate's events.
const ALLIANCE_TYPE_PREFIX: &str = "buendel.alliance.";

/// Projects the REVIEWS stream into `proposal_reviews`, `review_votes`, `review_recusals`,
/// `alliances` and (review events) `proposal_timeline`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReviewsProjection;

/// One REVIEWS message, routed by its type.
enum Message {
    /// A `buendel.review.*` event.
    Review(Decoded<ReviewEvent>),
    /// A `buendel.alliance.*` event this build knows.
    Alliance(Decoded<AllianceEvent>),
    /// A `buendel.alliance.*` event of a type this build does not know.
    Skipped,
}

/// Just the CloudEvents `type`, read before choosing the event enum.
#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    event_type: String,
}

impl Projection for ReviewsProjection {
    fn stream(&self) -> StreamKind {
        StreamKind::Reviews
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
        };
        self.apply_many(conn, std::slice::from_ref(&message)).await
    }

    async fn apply_many(
        &self,
        conn: &mut PgConnection,
        messages: &[Stored],
    ) -> Result<(), ProjectionError> {
        let decoded = messages
            .iter()
            .map(|m| route(m.sequence, &m.subject, &m.payload))
            .collect::<Result<Vec<_>, _>>()?;
        let reviews: Vec<&Decoded<ReviewEvent>> = decoded
            .iter()
            .filter_map(|message| match message {
                Message::Review(event) => Some(event),
                Message::Alliance(_) | Message::Skipped => None,
            })
            .collect();
        timeline::insert(
            conn,
            StreamKind::Reviews,
            &reviews,
            ReviewEvent::proposal_id,
        )
        .await?;
        for message in &decoded {
            match message {
                Message::Review(event) => apply_review(conn, event).await?,
                Message::Alliance(event) => apply_alliance(conn, event).await?,
                Message::Skipped => {}
            }
        }
        Ok(())
    }
}

/// Reads the type, then decodes the message with the event enum of its aggregate.
fn route(sequence: u64, subject: &str, payload: &[u8]) -> Result<Message, ProjectionError> {
    let head: TypeOnly = serde_json::from_slice(payload)
        .map_err(|e| undecodable(sequence, subject, e.to_string()))?;
    let event_type = head.event_type.as_str();
    if event_type.starts_with(REVIEW_TYPE_PREFIX) {
        return decode(sequence, subject, payload).map(Message::Review);
    }
    if AllianceEvent::all_types().contains(&event_type) {
        return decode(sequence, subject, payload).map(Message::Alliance);
    }
    if event_type.starts_with(ALLIANCE_TYPE_PREFIX) {
        tracing::warn!(
            sequence,
            subject,
            event_type,
            "skipping an alliance event of a type this build does not know"
        );
        return Ok(Message::Skipped);
    }
    Err(undecodable(
        sequence,
        subject,
        format!("{event_type:?} is neither a review nor an alliance event type"),
    ))
}

/// A review event's effect on the review tables. Exhaustive: a new event type fails to compile here.
async fn apply_review(
    conn: &mut PgConnection,
    event: &Decoded<ReviewEvent>,
) -> Result<(), ProjectionError> {
    let patch = match &event.envelope.event {
        ReviewEvent::Opened(opened) => open(event, opened)?,
        ReviewEvent::ConflictDeclared(declared) => {
            recuse(conn, event, declared).await?;
            ReviewPatch::default()
        }
        ReviewEvent::VoteRecorded(vote) => {
            record_vote(conn, event, vote).await?;
            ReviewPatch::default()
        }
        ReviewEvent::StatementIssued(statement) => state(event, statement)?,
        ReviewEvent::GrantDecided(grant) => decide_grant(event, grant)?,
        ReviewEvent::GrantRefused(refusal) => refuse(event, refusal)?,
        ReviewEvent::Closed(closed) => close(event, closed),
    };
    upsert_review(conn, event, &patch).await
}

/// The columns of `proposal_reviews` one event sets; `None` leaves a column as it is.
#[derive(Default)]
struct ReviewPatch {
    status: Option<&'static str>,
    alliance_id: Option<String>,
    roster: Option<serde_json::Value>,
    quorum: Option<serde_json::Value>,
    region: Option<&'static str>,
    rules_version: Option<String>,
    opened_at: Option<DateTime<Utc>>,
    tally: Option<serde_json::Value>,
    quorum_met: Option<bool>,
    verdict: Option<&'static str>,
    conditions: Option<serde_json::Value>,
    statement_issued_at: Option<DateTime<Utc>>,
    grant_terms: Option<serde_json::Value>,
    refusal: Option<serde_json::Value>,
    closed_reason: Option<String>,
    closed_at: Option<DateTime<Utc>>,
}

fn open(event: &Decoded<ReviewEvent>, opened: &Opened) -> Result<ReviewPatch, ProjectionError> {
    Ok(ReviewPatch {
        status: Some(review_status::IN_REVIEW),
        alliance_id: Some(opened.alliance_id.clone()),
        roster: Some(to_json(event, &opened.partners)?),
        quorum: Some(to_json(event, &opened.quorum)?),
        region: Some(opened.region.as_str()),
        rules_version: Some(opened.rules_version.clone()),
        opened_at: Some(event.envelope.time),
        ..ReviewPatch::default()
    })
}

fn state(
    event: &Decoded<ReviewEvent>,
    statement: &StatementIssued,
) -> Result<ReviewPatch, ProjectionError> {
    let status = match statement.verdict {
        Verdict::Positive => review_status::STATEMENT_POSITIVE,
        Verdict::Negative => review_status::STATEMENT_NEGATIVE,
    };
    Ok(ReviewPatch {
        status: Some(status),
        tally: Some(to_json(event, &statement.tally)?),
        quorum_met: Some(statement.quorum_met),
        verdict: Some(statement.verdict.as_str()),
        conditions: Some(to_json(event, &statement.conditions)?),
        statement_issued_at: Some(event.envelope.time),
        ..ReviewPatch::default()
    })
}

/// `proposal_reviews.grant_terms`.
#[derive(Serialize)]
struct GrantTerms<'a> {
    bank_reference: &'a str,
    eligible_cost_cents: Cents,
    total_rate_bp: BasisPoints,
    esf_rate_bp: BasisPoints,
    esf_cents: Cents,
    land_cents: Cents,
    /// The whole grant: ESF+ plus Land.
    grant_cents: Cents,
    period_from: NaiveDate,
    period_to: NaiveDate,
    amendment: Option<&'a str>,
    decided_at: DateTime<Utc>,
}

fn decide_grant(
    event: &Decoded<ReviewEvent>,
    grant: &GrantDecided,
) -> Result<ReviewPatch, ProjectionError> {
    let grant_cents =
        grant
            .esf_cents
            .0
            .checked_add(grant.land_cents.0)
            .ok_or(ProjectionError::OutOfRange {
                sequence: event.sequence,
                what: "esf_cents + land_cents",
            })?;
    let terms = GrantTerms {
        bank_reference: &grant.bank_reference,
        eligible_cost_cents: grant.eligible_cost_cents,
        total_rate_bp: grant.total_rate_bp,
        esf_rate_bp: grant.esf_rate_bp,
        esf_cents: grant.esf_cents,
        land_cents: grant.land_cents,
        grant_cents: Cents(grant_cents),
        period_from: grant.period_from,
        period_to: grant.period_to,
        amendment: grant.amendment.as_deref(),
        decided_at: event.envelope.time,
    };
    Ok(ReviewPatch {
        status: Some(review_status::GRANTED),
        grant_terms: Some(to_json(event, &terms)?),
        ..ReviewPatch::default()
    })
}

/// `proposal_reviews.refusal`.
#[derive(Serialize)]
struct Refusal<'a> {
    bank_reference: &'a str,
    reason: &'a str,
    refused_at: DateTime<Utc>,
}

fn refuse(
    event: &Decoded<ReviewEvent>,
    refusal: &GrantRefused,
) -> Result<ReviewPatch, ProjectionError> {
    let refusal = Refusal {
        bank_reference: &refusal.bank_reference,
        reason: &refusal.reason,
        refused_at: event.envelope.time,
    };
    Ok(ReviewPatch {
        status: Some(review_status::REFUSED),
        refusal: Some(to_json(event, &refusal)?),
        ..ReviewPatch::default()
    })
}

/// A closed review keeps its status: the withdrawal that closed it comes from PROPOSALS.
fn close(event: &Decoded<ReviewEvent>, closed: &Closed) -> ReviewPatch {
    ReviewPatch {
        closed_reason: Some(closed.reason.clone()),
        closed_at: Some(event.envelope.time),
        ..ReviewPatch::default()
    }
}

fn to_json<T: Serialize>(
    event: &Decoded<ReviewEvent>,
    value: &T,
) -> Result<serde_json::Value, ProjectionError> {
    serde_json::to_value(value).map_err(|e| ProjectionError::Undecodable {
        sequence: event.sequence,
        subject: event.envelope.subject.clone(),
        reason: e.to_string(),
    })
}

/// Creates the review row or applies `patch` to it, if the row is older than the event. Every review
/// event goes through here, so `last_sequence`, `version` and `updated_at` follow the last one.
async fn upsert_review(
    conn: &mut PgConnection,
    event: &Decoded<ReviewEvent>,
    patch: &ReviewPatch,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO proposal_reviews AS r (proposal_id, review_status, alliance_id, review_roster, \
             quorum, region, rules_version, opened_at, tally, quorum_met, statement_verdict, \
             statement_conditions, statement_issued_at, grant_terms, refusal, closed_reason, \
             closed_at, last_sequence, version, updated_at) \
         VALUES ($1, COALESCE($2::text, 'in_review'), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 $13, $14, $15, $16, $17, $18, $19, $20) \
         ON CONFLICT (proposal_id) DO UPDATE SET \
             review_status = COALESCE($2::text, r.review_status), \
             alliance_id = COALESCE(EXCLUDED.alliance_id, r.alliance_id), \
             review_roster = COALESCE(EXCLUDED.review_roster, r.review_roster), \
             quorum = COALESCE(EXCLUDED.quorum, r.quorum), \
             region = COALESCE(EXCLUDED.region, r.region), \
             rules_version = COALESCE(EXCLUDED.rules_version, r.rules_version), \
             opened_at = COALESCE(EXCLUDED.opened_at, r.opened_at), \
             tally = COALESCE(EXCLUDED.tally, r.tally), \
             quorum_met = COALESCE(EXCLUDED.quorum_met, r.quorum_met), \
             statement_verdict = COALESCE(EXCLUDED.statement_verdict, r.statement_verdict), \
             statement_conditions = COALESCE(EXCLUDED.statement_conditions, r.statement_conditions), \
             statement_issued_at = COALESCE(EXCLUDED.statement_issued_at, r.statement_issued_at), \
             grant_terms = COALESCE(EXCLUDED.grant_terms, r.grant_terms), \
             refusal = COALESCE(EXCLUDED.refusal, r.refusal), \
             closed_reason = COALESCE(EXCLUDED.closed_reason, r.closed_reason), \
             closed_at = COALESCE(EXCLUDED.closed_at, r.closed_at), \
             last_sequence = EXCLUDED.last_sequence, \
             version = EXCLUDED.version, \
             updated_at = EXCLUDED.updated_at \
         WHERE r.last_sequence < EXCLUDED.last_sequence",
    )
    .bind(event.envelope.event.proposal_id())
    .bind(patch.status)
    .bind(patch.alliance_id.as_deref())
    .bind(patch.roster.as_ref())
    .bind(patch.quorum.as_ref())
    .bind(patch.region)
    .bind(patch.rules_version.as_deref())
    .bind(patch.opened_at)
    .bind(patch.tally.as_ref())
    .bind(patch.quorum_met)
    .bind(patch.verdict)
    .bind(patch.conditions.as_ref())
    .bind(patch.statement_issued_at)
    .bind(patch.grant_terms.as_ref())
    .bind(patch.refusal.as_ref())
    .bind(patch.closed_reason.as_deref())
    .bind(patch.closed_at)
    .bind(event.sql_sequence)
    .bind(event.version)
    .bind(event.envelope.time)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the recusal and drops the partner's current vote: a recused partner's vote no longer
/// counts, whenever it was cast.
async fn recuse(
    conn: &mut PgConnection,
    event: &Decoded<ReviewEvent>,
    declared: &ConflictDeclared,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO review_recusals (proposal_id, partner_id, reason, declared_at, sequence) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(declared.proposal_id)
    .bind(&declared.partner_id)
    .bind(&declared.reason)
    .bind(event.envelope.time)
    .bind(event.sql_sequence)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM review_votes WHERE proposal_id = $1 AND partner_id = $2")
        .bind(declared.proposal_id)
        .bind(&declared.partner_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Makes this the partner's current vote, unless a later one is already there or the partner is
/// recused (then its vote does not count, and a replay must not bring it back).
async fn record_vote(
    conn: &mut PgConnection,
    event: &Decoded<ReviewEvent>,
    vote: &VoteRecorded,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO review_votes AS v (proposal_id, partner_id, vote, comment, recorded_at, sequence) \
         SELECT $1::uuid, $2::text, $3::text, $4::text, $5::timestamptz, $6::bigint \
         WHERE NOT EXISTS (SELECT 1 FROM review_recusals \
                           WHERE proposal_id = $1::uuid AND partner_id = $2::text) \
         ON CONFLICT (proposal_id, partner_id) DO UPDATE SET \
             vote = EXCLUDED.vote, comment = EXCLUDED.comment, \
             recorded_at = EXCLUDED.recorded_at, sequence = EXCLUDED.sequence \
         WHERE v.sequence < EXCLUDED.sequence",
    )
    .bind(vote.proposal_id)
    .bind(&vote.partner_id)
    .bind(vote.vote.as_str())
    .bind(vote.comment.as_deref())
    .bind(event.envelope.time)
    .bind(event.sql_sequence)
    .execute(conn)
    .await?;
    Ok(())
}

/// An alliance event's effect on `alliances`. Exhaustive: a new event type fails to compile here.
async fn apply_alliance(
    conn: &mut PgConnection,
    event: &Decoded<AllianceEvent>,
) -> Result<(), ProjectionError> {
    match &event.envelope.event {
        AllianceEvent::Registered(registered) => register(conn, event, registered).await,
        AllianceEvent::PartnerJoined(PartnerJoined {
            alliance_id,
            partner,
        }) => {
            change_roster(conn, event, alliance_id, |partners| {
                partners.retain(|p| p.id != partner.id);
                partners.push(partner.clone());
            })
            .await
        }
        AllianceEvent::PartnerLeft(PartnerLeft {
            alliance_id,
            partner_id,
            reason: _,
        }) => {
            change_roster(conn, event, alliance_id, |partners| {
                partners.retain(|p| &p.id != partner_id);
            })
            .await
        }
    }
}

async fn register(
    conn: &mut PgConnection,
    event: &Decoded<AllianceEvent>,
    registered: &Registered,
) -> Result<(), ProjectionError> {
    let inserted = sqlx::query(
        "INSERT INTO alliances (alliance_id, name, region, districts, focus_areas, partners, quorum, \
             rules_version, application_deadline, registered_sequence, registered_at, updated_at, \
             last_sequence) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $10) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&registered.alliance_id)
    .bind(&registered.name)
    .bind(registered.region.as_str())
    .bind(&registered.districts)
    .bind(&registered.focus_areas)
    .bind(Json(&registered.partners))
    .bind(Json(&registered.quorum))
    .bind(&registered.rules_version)
    .bind(registered.application_deadline)
    .bind(event.sql_sequence)
    .bind(event.envelope.time)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        let first: Option<i64> =
            sqlx::query_scalar("SELECT registered_sequence FROM alliances WHERE alliance_id = $1")
                .bind(&registered.alliance_id)
                .fetch_optional(&mut *conn)
                .await?;
        if first != Some(event.sql_sequence) {
            // Not a replay of this very event: the aggregate never decides a second `registered`.
            tracing::warn!(
                sequence = event.sequence,
                alliance_id = %registered.alliance_id,
                "ignoring a second registered event for an existing alliance"
            );
        }
    }
    Ok(())
}

/// Applies `change` to the alliance's roster, if the row is older than the event.
async fn change_roster(
    conn: &mut PgConnection,
    event: &Decoded<AllianceEvent>,
    alliance_id: &str,
    change: impl FnOnce(&mut Vec<Partner>),
) -> Result<(), ProjectionError> {
    let row: Option<(Json<Vec<Partner>>, i64)> = sqlx::query_as(
        "SELECT partners, last_sequence FROM alliances WHERE alliance_id = $1 FOR UPDATE",
    )
    .bind(alliance_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((Json(mut partners), last_sequence)) = row else {
        return Err(ProjectionError::UnknownAlliance {
            sequence: event.sequence,
            event_type: event.envelope.event_type(),
            alliance_id: alliance_id.to_owned(),
        });
    };
    if last_sequence >= event.sql_sequence {
        return Ok(()); // a replay
    }
    change(&mut partners);
    sqlx::query(
        "UPDATE alliances SET partners = $2, last_sequence = $3, updated_at = $4 \
         WHERE alliance_id = $1",
    )
    .bind(alliance_id)
    .bind(Json(&partners))
    .bind(event.sql_sequence)
    .bind(event.envelope.time)
    .execute(conn)
    .await?;
    Ok(())
}
