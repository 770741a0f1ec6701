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
//!
//! A batch's review events are written in a fixed number of statements, whatever its size: the
//! events of each proposal are folded in memory into one [`ReviewPatch`] (the last value of each
//! column set), and all patches go in by one `MERGE` (new reviews inserted, existing reviews older
//! than the proposal's last event of the batch updated). The stream is applied as a contiguous
//! prefix, so whatever a row already holds of the batch is exactly what the patch sets again.
//! Recusals are inserted and their partners' votes deleted first; then, per partner not recused in
//! the batch, only its last vote is written. The rows are those that applying the events one by one
//! gives. Alliance events are rare and go one by one.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use buendel_contract::alliance::{AllianceEvent, PartnerJoined, PartnerLeft, Registered};
use buendel_contract::namespace::StreamKind;
use buendel_contract::reference::Partner;
use buendel_contract::review::{
    Closed, ConflictDeclared, GrantDecided, GrantRefused, Opened, ReviewEvent, StatementIssued,
    Verdict, VoteRecorded,
};
use buendel_contract::{BasisPoints, Cents, EventKind as _};
use buendel_runtime::store::Stored;

use crate::projection::{parse, undecodable, Decoded, Projection, ProjectionError};
use crate::timeline;

/// The statuses of a review (`proposal_reviews.review_status`): the wire names of the contract's
/// `buendel_contract::status::ReviewStatus`.
pub mod review_status {
    use buendel_contract::status::ReviewStatus;

    /// Opened: the partners are voting.
    pub const IN_REVIEW: &str = ReviewStatus::InReview.as_str();
    /// The alliance issued a positive statement.
    pub const STATEMENT_POSITIVE: &str = ReviewStatus::StatementPositive.as_str();
    /// The alliance issued a negative statement.
    pub const STATEMENT_NEGATIVE: &str = ReviewStatus::StatementNegative.as_str();
    /// The bank granted the project.
    pub const GRANTED: &str = ReviewStatus::Granted.as_str();
    /// The bank refused the grant.
    pub const REFUSED: &str = ReviewStatus::Refused.as_str();
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
            trace: None,
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
                Message::Alliance(event) => apply_alliance(conn, event).await?,
                Message::Review(_) | Message::Skipped => {}
            }
        }
        let batch = ReviewBatch::fold(&reviews)?;
        merge_reviews(conn, &batch.reviews).await?;
        insert_recusals(conn, &batch.recusals).await?;
        upsert_votes(conn, &batch.votes).await
    }
}

/// Reads the envelope, then decodes the event with the event enum of its aggregate (by its type).
fn route(sequence: u64, subject: &str, payload: &[u8]) -> Result<Message, ProjectionError> {
    let raw = match parse(sequence, subject, payload) {
        Ok(raw) => raw,
        Err(error) => {
            // An envelope this build cannot read: still skipped if its type is an alliance type
            // this build does not know (a later version may have changed the envelope too).
            let head: TypeOnly = serde_json::from_slice(payload)
                .map_err(|e| undecodable(sequence, subject, e.to_string()))?;
            return match kind_of(&head.event_type) {
                Kind::UnknownAlliance => Ok(skip(sequence, subject, &head.event_type)),
                Kind::Review | Kind::Alliance => Err(error),
                Kind::Other => Err(neither(sequence, subject, &head.event_type)),
            };
        }
    };
    let Some(event_type) = raw.event_type().map(Cow::into_owned) else {
        return Err(undecodable(
            sequence,
            subject,
            "the type is not a string".to_owned(),
        ));
    };
    match kind_of(&event_type) {
        Kind::Review => raw.typed(sequence, subject).map(Message::Review),
        Kind::Alliance => raw.typed(sequence, subject).map(Message::Alliance),
        Kind::UnknownAlliance => Ok(skip(sequence, subject, &event_type)),
        Kind::Other => Err(neither(sequence, subject, &event_type)),
    }
}

/// Which aggregate a REVIEWS message belongs to, by its type.
enum Kind {
    Review,
    Alliance,
    /// A `buendel.alliance.*` type this build does not know.
    UnknownAlliance,
    Other,
}

fn kind_of(event_type: &str) -> Kind {
    if event_type.starts_with(REVIEW_TYPE_PREFIX) {
        Kind::Review
    } else if AllianceEvent::all_types().contains(&event_type) {
        Kind::Alliance
    } else if event_type.starts_with(ALLIANCE_TYPE_PREFIX) {
        Kind::UnknownAlliance
    } else {
        Kind::Other
    }
}

fn skip(sequence: u64, subject: &str, event_type: &str) -> Message {
    tracing::warn!(
        sequence,
        subject,
        event_type,
        "skipping an alliance event of a type this build does not know"
    );
    Message::Skipped
}

fn neither(sequence: u64, subject: &str, event_type: &str) -> ProjectionError {
    undecodable(
        sequence,
        subject,
        format!("{event_type:?} is neither a review nor an alliance event type"),
    )
}

/// What a batch's review events do, folded per proposal and per partner.
#[derive(Default)]
struct ReviewBatch<'a> {
    /// Per proposal: the columns its events set, and its last event.
    reviews: Vec<(ReviewPatch, &'a Decoded<ReviewEvent>)>,
    /// The first declaration per proposal and partner, in stream order.
    recusals: Vec<(&'a ConflictDeclared, &'a Decoded<ReviewEvent>)>,
    /// The last vote per proposal and partner, for partners not recused in this batch.
    votes: Vec<(&'a VoteRecorded, &'a Decoded<ReviewEvent>)>,
}

impl<'a> ReviewBatch<'a> {
    /// Folds the review events of a batch, in stream order.
    fn fold(events: &[&'a Decoded<ReviewEvent>]) -> Result<Self, ProjectionError> {
        let mut patches: BTreeMap<Uuid, (ReviewPatch, &'a Decoded<ReviewEvent>)> = BTreeMap::new();
        let mut recused: BTreeSet<(Uuid, &'a str)> = BTreeSet::new();
        let mut recusals = Vec::new();
        let mut votes: BTreeMap<(Uuid, &'a str), (&'a VoteRecorded, &'a Decoded<ReviewEvent>)> =
            BTreeMap::new();
        for event in events {
            let patch = match &event.envelope.event {
                ReviewEvent::Opened(opened) => open(event, opened)?,
                ReviewEvent::ConflictDeclared(declared) => {
                    if recused.insert((declared.proposal_id, declared.partner_id.as_str())) {
                        recusals.push((declared, *event));
                    }
                    ReviewPatch::default()
                }
                ReviewEvent::VoteRecorded(vote) => {
                    votes.insert((vote.proposal_id, vote.partner_id.as_str()), (vote, *event));
                    ReviewPatch::default()
                }
                ReviewEvent::StatementIssued(statement) => state(event, statement)?,
                ReviewEvent::GrantDecided(grant) => decide_grant(event, grant)?,
                ReviewEvent::GrantRefused(refusal) => refuse(event, refusal)?,
                ReviewEvent::Closed(closed) => close(event, closed),
                // The review's money facts are not projected (the proposal's terms are, from
                // PROPOSALS); the event still moves the review's last sequence.
                ReviewEvent::TermsRevised(_) => ReviewPatch::default(),
            };
            let proposal_id = event.envelope.event.proposal_id();
            let (earlier, _) = patches
                .remove(&proposal_id)
                .unwrap_or_else(|| (ReviewPatch::default(), event));
            patches.insert(proposal_id, (patch.after(earlier), event));
        }
        Ok(Self {
            reviews: patches.into_values().collect(),
            recusals,
            votes: votes
                .into_iter()
                .filter(|(pair, _)| !recused.contains(pair))
                .map(|(_, vote)| vote)
                .collect(),
        })
    }
}

/// The columns of `proposal_reviews` one event sets; `None` leaves a column as it is.
#[derive(Default)]
struct ReviewPatch {
    status: Option<&'static str>,
    alliance_id: Option<String>,
    roster: Option<String>,
    quorum: Option<String>,
    region: Option<&'static str>,
    rules_version: Option<String>,
    opened_at: Option<DateTime<Utc>>,
    tally: Option<String>,
    quorum_met: Option<bool>,
    verdict: Option<&'static str>,
    conditions: Option<String>,
    statement_issued_at: Option<DateTime<Utc>>,
    grant_terms: Option<String>,
    refusal: Option<String>,
    closed_reason: Option<String>,
    closed_at: Option<DateTime<Utc>>,
}

impl ReviewPatch {
    /// This patch applied after `earlier`: columns this one sets win, the others keep `earlier`'s.
    fn after(self, earlier: ReviewPatch) -> ReviewPatch {
        ReviewPatch {
            status: self.status.or(earlier.status),
            alliance_id: self.alliance_id.or(earlier.alliance_id),
            roster: self.roster.or(earlier.roster),
            quorum: self.quorum.or(earlier.quorum),
            region: self.region.or(earlier.region),
            rules_version: self.rules_version.or(earlier.rules_version),
            opened_at: self.opened_at.or(earlier.opened_at),
            tally: self.tally.or(earlier.tally),
            quorum_met: self.quorum_met.or(earlier.quorum_met),
            verdict: self.verdict.or(earlier.verdict),
            conditions: self.conditions.or(earlier.conditions),
            statement_issued_at: self.statement_issued_at.or(earlier.statement_issued_at),
            grant_terms: self.grant_terms.or(earlier.grant_terms),
            refusal: self.refusal.or(earlier.refusal),
            closed_reason: self.closed_reason.or(earlier.closed_reason),
            closed_at: self.closed_at.or(earlier.closed_at),
        }
    }
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

/// A column value as JSON text (cast to `jsonb` by the statement).
fn to_json<T: Serialize>(
    event: &Decoded<ReviewEvent>,
    value: &T,
) -> Result<String, ProjectionError> {
    serde_json::to_string(value).map_err(|e| ProjectionError::Undecodable {
        sequence: event.sequence,
        subject: event.envelope.subject.clone(),
        reason: e.to_string(),
    })
}

/// The columns of a batch's review patches, as arrays for `UNNEST`.
#[derive(Default)]
struct ReviewColumns<'a> {
    proposal_ids: Vec<Uuid>,
    statuses: Vec<Option<&'static str>>,
    alliance_ids: Vec<Option<&'a str>>,
    rosters: Vec<Option<&'a str>>,
    quorums: Vec<Option<&'a str>>,
    regions: Vec<Option<&'static str>>,
    rules_versions: Vec<Option<&'a str>>,
    opened_at: Vec<Option<DateTime<Utc>>>,
    tallies: Vec<Option<&'a str>>,
    quorum_met: Vec<Option<bool>>,
    verdicts: Vec<Option<&'static str>>,
    conditions: Vec<Option<&'a str>>,
    statement_issued_at: Vec<Option<DateTime<Utc>>>,
    grant_terms: Vec<Option<&'a str>>,
    refusals: Vec<Option<&'a str>>,
    closed_reasons: Vec<Option<&'a str>>,
    closed_at: Vec<Option<DateTime<Utc>>>,
    last_sequences: Vec<i64>,
    versions: Vec<i64>,
    updated_at: Vec<DateTime<Utc>>,
}

impl<'a> ReviewColumns<'a> {
    fn of(reviews: &'a [(ReviewPatch, &Decoded<ReviewEvent>)]) -> Self {
        let mut c = ReviewColumns::default();
        for (patch, last) in reviews {
            c.proposal_ids.push(last.envelope.event.proposal_id());
            c.statuses.push(patch.status);
            c.alliance_ids.push(patch.alliance_id.as_deref());
            c.rosters.push(patch.roster.as_deref());
            c.quorums.push(patch.quorum.as_deref());
            c.regions.push(patch.region);
            c.rules_versions.push(patch.rules_version.as_deref());
            c.opened_at.push(patch.opened_at);
            c.tallies.push(patch.tally.as_deref());
            c.quorum_met.push(patch.quorum_met);
            c.verdicts.push(patch.verdict);
            c.conditions.push(patch.conditions.as_deref());
            c.statement_issued_at.push(patch.statement_issued_at);
            c.grant_terms.push(patch.grant_terms.as_deref());
            c.refusals.push(patch.refusal.as_deref());
            c.closed_reasons.push(patch.closed_reason.as_deref());
            c.closed_at.push(patch.closed_at);
            c.last_sequences.push(last.sql_sequence);
            c.versions.push(last.version);
            c.updated_at.push(last.envelope.time);
        }
        c
    }

    /// Binds the twenty arrays as `$1..$20`, in the order of [`REVIEW_UNNEST`].
    fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>
    where
        'a: 'q,
    {
        query
            .bind(self.proposal_ids)
            .bind(self.statuses)
            .bind(self.alliance_ids)
            .bind(self.rosters)
            .bind(self.quorums)
            .bind(self.regions)
            .bind(self.rules_versions)
            .bind(self.opened_at)
            .bind(self.tallies)
            .bind(self.quorum_met)
            .bind(self.verdicts)
            .bind(self.conditions)
            .bind(self.statement_issued_at)
            .bind(self.grant_terms)
            .bind(self.refusals)
            .bind(self.closed_reasons)
            .bind(self.closed_at)
            .bind(self.last_sequences)
            .bind(self.versions)
            .bind(self.updated_at)
    }
}

/// The patches as a table `u`, bound by [`ReviewColumns::bind`].
const REVIEW_UNNEST: &str = "UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[], \
        $5::jsonb[], $6::text[], $7::text[], $8::timestamptz[], $9::jsonb[], $10::boolean[], \
        $11::text[], $12::jsonb[], $13::timestamptz[], $14::jsonb[], $15::jsonb[], $16::text[], \
        $17::timestamptz[], $18::bigint[], $19::bigint[], $20::timestamptz[]) \
    AS u(proposal_id, status, alliance_id, roster, quorum, region, rules_version, opened_at, \
         tally, quorum_met, verdict, conditions, statement_issued_at, grant_terms, refusal, \
         closed_reason, closed_at, last_sequence, version, updated_at)";

/// Writes the batch's review patches in one statement: a proposal without a review row gets one
/// with its patch (status `in_review` unless the patch sets one); an existing row older than the
/// patch's last event gets the patch (the columns it sets); a row that already holds that event (a
/// replay) is left alone.
///
/// `MERGE` rather than `INSERT .. ON CONFLICT DO UPDATE`, because an update must keep the columns
/// a patch leaves unset (its `NULL`s), which the conflict branch cannot tell from the values the
/// insert defaulted. The projector's checkpoint lock makes it the only writer of these rows, so
/// the insert branch never races another insert.
async fn merge_reviews(
    conn: &mut PgConnection,
    reviews: &[(ReviewPatch, &Decoded<ReviewEvent>)],
) -> Result<(), ProjectionError> {
    if reviews.is_empty() {
        return Ok(());
    }
    let statement = format!(
        "MERGE INTO proposal_reviews r \
         USING (SELECT * FROM {REVIEW_UNNEST}) AS u ON r.proposal_id = u.proposal_id \
         WHEN MATCHED AND r.last_sequence < u.last_sequence THEN UPDATE SET \
             review_status = COALESCE(u.status, r.review_status), \
             alliance_id = COALESCE(u.alliance_id, r.alliance_id), \
             review_roster = COALESCE(u.roster, r.review_roster), \
             quorum = COALESCE(u.quorum, r.quorum), \
             region = COALESCE(u.region, r.region), \
             rules_version = COALESCE(u.rules_version, r.rules_version), \
             opened_at = COALESCE(u.opened_at, r.opened_at), \
             tally = COALESCE(u.tally, r.tally), \
             quorum_met = COALESCE(u.quorum_met, r.quorum_met), \
             statement_verdict = COALESCE(u.verdict, r.statement_verdict), \
             statement_conditions = COALESCE(u.conditions, r.statement_conditions), \
             statement_issued_at = COALESCE(u.statement_issued_at, r.statement_issued_at), \
             grant_terms = COALESCE(u.grant_terms, r.grant_terms), \
             refusal = COALESCE(u.refusal, r.refusal), \
             closed_reason = COALESCE(u.closed_reason, r.closed_reason), \
             closed_at = COALESCE(u.closed_at, r.closed_at), \
             last_sequence = u.last_sequence, \
             version = u.version, \
             updated_at = u.updated_at \
         WHEN NOT MATCHED THEN INSERT (proposal_id, review_status, alliance_id, review_roster, \
             quorum, region, rules_version, opened_at, tally, quorum_met, statement_verdict, \
             statement_conditions, statement_issued_at, grant_terms, refusal, closed_reason, \
             closed_at, last_sequence, version, updated_at) \
         VALUES (u.proposal_id, COALESCE(u.status, '{}'), u.alliance_id, u.roster, u.quorum, \
             u.region, u.rules_version, u.opened_at, u.tally, u.quorum_met, u.verdict, \
             u.conditions, u.statement_issued_at, u.grant_terms, u.refusal, u.closed_reason, \
             u.closed_at, u.last_sequence, u.version, u.updated_at)",
        review_status::IN_REVIEW
    );
    ReviewColumns::of(reviews)
        .bind(sqlx::query(&statement))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the recusals (the first declaration of a partner stays) and drops those partners'
/// current votes: a recused partner's vote no longer counts, whenever it was cast.
async fn insert_recusals(
    conn: &mut PgConnection,
    recusals: &[(&ConflictDeclared, &Decoded<ReviewEvent>)],
) -> Result<(), ProjectionError> {
    if recusals.is_empty() {
        return Ok(());
    }
    let n = recusals.len();
    let mut proposal_ids = Vec::with_capacity(n);
    let mut partner_ids = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut declared_at = Vec::with_capacity(n);
    let mut sequences = Vec::with_capacity(n);
    for (declared, event) in recusals {
        proposal_ids.push(declared.proposal_id);
        partner_ids.push(declared.partner_id.as_str());
        reasons.push(declared.reason.as_str());
        declared_at.push(event.envelope.time);
        sequences.push(event.sql_sequence);
    }
    sqlx::query(
        "INSERT INTO review_recusals (proposal_id, partner_id, reason, declared_at, sequence) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&proposal_ids)
    .bind(&partner_ids)
    .bind(reasons)
    .bind(declared_at)
    .bind(sequences)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM review_votes v USING UNNEST($1::uuid[], $2::text[]) AS u(proposal_id, partner_id) \
         WHERE v.proposal_id = u.proposal_id AND v.partner_id = u.partner_id",
    )
    .bind(proposal_ids)
    .bind(partner_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes each vote its partner's current one, unless a later one is already there or the partner
/// is recused (then its vote does not count, and a replay must not bring it back).
async fn upsert_votes(
    conn: &mut PgConnection,
    votes: &[(&VoteRecorded, &Decoded<ReviewEvent>)],
) -> Result<(), ProjectionError> {
    if votes.is_empty() {
        return Ok(());
    }
    let n = votes.len();
    let mut proposal_ids = Vec::with_capacity(n);
    let mut partner_ids = Vec::with_capacity(n);
    let mut choices = Vec::with_capacity(n);
    let mut comments = Vec::with_capacity(n);
    let mut recorded_at = Vec::with_capacity(n);
    let mut sequences = Vec::with_capacity(n);
    for (vote, event) in votes {
        proposal_ids.push(vote.proposal_id);
        partner_ids.push(vote.partner_id.as_str());
        choices.push(vote.vote.as_str());
        comments.push(vote.comment.as_deref());
        recorded_at.push(event.envelope.time);
        sequences.push(event.sql_sequence);
    }
    sqlx::query(
        "INSERT INTO review_votes AS v (proposal_id, partner_id, vote, comment, recorded_at, sequence) \
         SELECT u.proposal_id, u.partner_id, u.vote, u.comment, u.recorded_at, u.sequence \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], \
                     $6::bigint[]) AS u(proposal_id, partner_id, vote, comment, recorded_at, sequence) \
         WHERE NOT EXISTS (SELECT 1 FROM review_recusals rr \
                           WHERE rr.proposal_id = u.proposal_id AND rr.partner_id = u.partner_id) \
         ON CONFLICT (proposal_id, partner_id) DO UPDATE SET \
             vote = EXCLUDED.vote, comment = EXCLUDED.comment, \
             recorded_at = EXCLUDED.recorded_at, sequence = EXCLUDED.sequence \
         WHERE v.sequence < EXCLUDED.sequence",
    )
    .bind(proposal_ids)
    .bind(partner_ids)
    .bind(choices)
    .bind(comments)
    .bind(recorded_at)
    .bind(sequences)
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
