//! The `review` part of `GET /v1/proposals/{id}`: the alliance's review of one proposal (roster,
//! recusals, current votes, the statement with its tally) and the bank's decision (grant terms or
//! refusal), read from `proposal_reviews`, `review_votes` and `review_recusals`.
//!
//! Parts that have not happened yet are `null` (`statement`, `grant`, `refusal`, `closed`, and
//! `tally`/`quorum_met` until the statement). Votes are the current ones: a changed vote replaces
//! the earlier one, and a recused partner's vote is gone.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// A proposal's review.
#[derive(Debug, Serialize)]
pub struct Review {
    /// The review's own status: `in_review`, `statement_positive`, `statement_negative`,
    /// `granted`, `refused` (the proposal's `status` combines it with a withdrawal).
    pub status: String,
    /// The reviewing alliance.
    pub alliance_id: Option<String>,
    /// Its region category at opening: `transition` or `more_developed`.
    pub region: Option<String>,
    /// The program rules version the review applies.
    pub rules_version: Option<String>,
    /// The quorum rule: `{"min_participation_bp": ..}`.
    pub quorum: Option<serde_json::Value>,
    /// The partner roster as it stood when the review opened (`[{"id","name"}]`): exactly these
    /// may vote.
    pub roster: Option<serde_json::Value>,
    /// When the review opened.
    pub opened_at: Option<DateTime<Utc>>,
    /// Declared conflicts of interest, in declaration order.
    pub recusals: Vec<Recusal>,
    /// The current vote of each partner who voted and is not recused, in the order cast.
    pub votes: Vec<Vote>,
    /// The tally the statement rests on (`{"yes","no","abstain","recused","eligible"}`); `null`
    /// before the statement.
    pub tally: Option<serde_json::Value>,
    /// Whether that tally met the quorum; `null` before the statement.
    pub quorum_met: Option<bool>,
    /// The alliance's statement, or `null` before it.
    pub statement: Option<Statement>,
    /// The bank's grant terms, or `null` unless granted.
    pub grant: Option<serde_json::Value>,
    /// The bank's refusal, or `null` unless refused.
    pub refusal: Option<serde_json::Value>,
    /// Why the review was closed (the proposal was withdrawn), or `null`.
    pub closed: Option<ClosedReview>,
    /// REVIEWS stream sequence of the last review event applied: a client holding the `sequence`
    /// of an approval command's reply knows the read model caught up once this is at least that.
    pub last_sequence: i64,
    /// Time of the last review event.
    pub updated_at: DateTime<Utc>,
}

/// A declared conflict of interest.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Recusal {
    /// The recused partner.
    pub partner_id: String,
    /// The nature of the conflict.
    pub reason: String,
    /// When it was declared.
    pub declared_at: DateTime<Utc>,
}

/// A partner's current vote.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Vote {
    /// The voting partner.
    pub partner_id: String,
    /// `yes`, `no` or `abstain`.
    pub vote: String,
    /// What the partner said with it.
    pub comment: Option<String>,
    /// When this (the partner's last) vote was cast.
    pub recorded_at: DateTime<Utc>,
}

/// The alliance's statement.
#[derive(Debug, Serialize)]
pub struct Statement {
    /// `positive` or `negative`.
    pub verdict: String,
    /// The conditions attached (strings).
    pub conditions: serde_json::Value,
    /// When it was issued.
    pub issued_at: Option<DateTime<Utc>>,
}

/// Why a review ended without a decision.
#[derive(Debug, Serialize)]
pub struct ClosedReview {
    /// Usually the applicant's reason for withdrawing.
    pub reason: String,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// A `proposal_reviews` row.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    review_status: String,
    alliance_id: Option<String>,
    region: Option<String>,
    rules_version: Option<String>,
    quorum: Option<serde_json::Value>,
    review_roster: Option<serde_json::Value>,
    opened_at: Option<DateTime<Utc>>,
    tally: Option<serde_json::Value>,
    quorum_met: Option<bool>,
    statement_verdict: Option<String>,
    statement_conditions: Option<serde_json::Value>,
    statement_issued_at: Option<DateTime<Utc>>,
    grant_terms: Option<serde_json::Value>,
    refusal: Option<serde_json::Value>,
    closed_reason: Option<String>,
    closed_at: Option<DateTime<Utc>>,
    last_sequence: i64,
    updated_at: DateTime<Utc>,
}

/// The review of a proposal, or `None` when no review event of it has been projected.
pub async fn of(pool: &PgPool, proposal_id: Uuid) -> Result<Option<Review>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT review_status, alliance_id, region, rules_version, quorum, review_roster, \
             opened_at, tally, quorum_met, statement_verdict, statement_conditions, \
             statement_issued_at, grant_terms, refusal, closed_reason, closed_at, last_sequence, \
             updated_at \
         FROM proposal_reviews WHERE proposal_id = $1",
    )
    .bind(proposal_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let recusals: Vec<Recusal> = sqlx::query_as(
        "SELECT partner_id, reason, declared_at FROM review_recusals \
         WHERE proposal_id = $1 ORDER BY sequence",
    )
    .bind(proposal_id)
    .fetch_all(pool)
    .await?;
    let votes: Vec<Vote> = sqlx::query_as(
        "SELECT partner_id, vote, comment, recorded_at FROM review_votes \
         WHERE proposal_id = $1 ORDER BY sequence",
    )
    .bind(proposal_id)
    .fetch_all(pool)
    .await?;
    Ok(Some(row.into_review(recusals, votes)))
}

impl Row {
    fn into_review(self, recusals: Vec<Recusal>, votes: Vec<Vote>) -> Review {
        let statement = self.statement_verdict.map(|verdict| Statement {
            verdict,
            conditions: self
                .statement_conditions
                .unwrap_or_else(|| serde_json::Value::Array(Vec::new())),
            issued_at: self.statement_issued_at,
        });
        let closed = self.closed_reason.map(|reason| ClosedReview {
            reason,
            closed_at: self.closed_at,
        });
        Review {
            status: self.review_status,
            alliance_id: self.alliance_id,
            region: self.region,
            rules_version: self.rules_version,
            quorum: self.quorum,
            roster: self.review_roster,
            opened_at: self.opened_at,
            recusals,
            votes,
            tally: self.tally,
            quorum_met: self.quorum_met,
            statement,
            grant: self.grant_terms,
            refusal: self.refusal,
            closed,
            last_sequence: self.last_sequence,
            updated_at: self.updated_at,
        }
    }
}
