//! The one status the API shows for a proposal, combined from three independently projected streams
//! by [`buendel_contract::status::combined_status`] (the rule and its tests live there, once):
//!
//! - `proposals.status` comes from PROPOSALS: `submitted`, `screening_failed`, `in_review`,
//!   `withdrawn`;
//! - `proposal_reviews.review_status` comes from REVIEWS: `in_review`, `statement_positive`,
//!   `statement_negative`, `granted` (the bank decided), `refused`;
//! - `proposal_money.status` comes from LEDGER: `waitlisted`, `reserved`, `committed`, `closed`,
//!   `released`.
//!
//! The API reads the three columns ([`PROPOSALS_WITH_STATUSES`]) and combines them in Rust
//! ([`combine`]), so the status it shows is always the contract's. To filter by a combined status
//! in SQL it binds the combinations that yield it ([`push_filter`], from
//! [`CombinedStatus::inputs`]); to count by it, it counts per combination and adds up ([`counts`]).
//! Every endpoint that shows, filters or counts by status (`/v1/proposals`, `/v1/proposals/{id}`,
//! `/v1/alliances`, `/metrics`) goes through here, so they always agree. Because the status is
//! combined at query time, it does not matter which of the projections ran first.

use std::collections::BTreeMap;

use anyhow::Context as _;
use sqlx::{PgPool, Postgres, QueryBuilder};

use buendel_contract::status::{CombinedStatus, StatusInputs};

/// Every column of `proposals` but `status`, with the three statuses added: `proposal_status`
/// (PROPOSALS), `review_status` and `money_status` (NULL without a review or ledger row). Use it as
/// a derived table: `SELECT .. FROM (PROPOSALS_WITH_STATUSES) AS v WHERE ..` ([`proposals_view`]).
pub const PROPOSALS_WITH_STATUSES: &str = "SELECT p.proposal_id, p.alliance_id, \
        p.status AS proposal_status, r.review_status, m.status AS money_status, \
        p.title, p.summary, p.project_type, p.applicant_name, p.applicant_kind, \
        p.applicant_district, p.focus_areas, p.districts, p.planned_start, p.duration_months, \
        p.eligible_cost_cents, p.requested_rate_bp, p.rules_version, p.screening, \
        p.created_sequence, p.last_sequence, p.version, p.submitted_at, p.updated_at \
    FROM proposals p \
    LEFT JOIN proposal_reviews r ON r.proposal_id = p.proposal_id \
    LEFT JOIN proposal_money m ON m.proposal_id = p.proposal_id";

/// [`PROPOSALS_WITH_STATUSES`] as a derived table named `v`, ready for a `FROM` clause.
pub fn proposals_view() -> String {
    format!("({PROPOSALS_WITH_STATUSES}) AS v")
}

/// The combined status of three stored statuses; a value the projector never writes is an error.
pub fn combine(
    proposal: &str,
    review: Option<&str>,
    money: Option<&str>,
) -> anyhow::Result<CombinedStatus> {
    let inputs = StatusInputs::parse(proposal, review, money)
        .context("a stored status is not one the projector writes")?;
    Ok(inputs.combined())
}

/// Appends ` AND <the row of v has a combination of statuses whose combined status is status>`.
/// A status that is no combined status matches nothing.
pub fn push_filter(sql: &mut QueryBuilder<'_, Postgres>, status: &str) {
    let Ok(status) = CombinedStatus::parse(status) else {
        sql.push(" AND FALSE");
        return;
    };
    let inputs = status.inputs();
    let proposals: Vec<&str> = inputs.iter().map(|i| i.proposal.as_str()).collect();
    let reviews: Vec<Option<&str>> = inputs
        .iter()
        .map(|i| i.review.map(|r| r.as_str()))
        .collect();
    let moneys: Vec<Option<&str>> = inputs.iter().map(|i| i.money.map(|m| m.as_str())).collect();
    sql.push(" AND EXISTS (SELECT 1 FROM UNNEST(")
        .push_bind(proposals)
        .push("::text[], ")
        .push_bind(reviews)
        .push("::text[], ")
        .push_bind(moneys)
        .push(
            "::text[]) AS s(p, r, m) WHERE s.p = v.proposal_status \
             AND s.r IS NOT DISTINCT FROM v.review_status \
             AND s.m IS NOT DISTINCT FROM v.money_status)",
        );
}

/// Proposals counted by alliance and combined status: of the given alliances, or of all.
pub async fn counts(
    pool: &PgPool,
    alliance_ids: Option<&[String]>,
) -> anyhow::Result<BTreeMap<(String, CombinedStatus), i64>> {
    type Row = (String, String, Option<String>, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT alliance_id, proposal_status, review_status, money_status, count(*) FROM {} \
         WHERE $1::text[] IS NULL OR alliance_id = ANY($1) \
         GROUP BY alliance_id, proposal_status, review_status, money_status",
        proposals_view()
    ))
    .bind(alliance_ids)
    .fetch_all(pool)
    .await
    .context("counting proposals by status")?;
    let mut out = BTreeMap::new();
    for (alliance_id, proposal, review, money, count) in rows {
        let status = combine(&proposal, review.as_deref(), money.as_deref())?;
        *out.entry((alliance_id, status)).or_insert(0) += count;
    }
    Ok(out)
}

/// All proposals counted by combined status (by wire name, in its order).
pub async fn counts_by_status(pool: &PgPool) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for ((_, status), count) in counts(pool, None).await? {
        *out.entry(status.as_str().to_owned()).or_insert(0) += count;
    }
    Ok(out)
}
