//! `GET /v1/proposals/{id}/recovery`: what a project owes back, as of any day, principal and
//! interest separately; and `GET /v1/retention`: the projects by the end of their documents'
//! retention (CPR Art. 82).
//!
//! The recovery is folded from the project's ledger entries with a value date on or before
//! `as_of` by the same rule as the Fund aggregate (`buendel_ledger_domain::settle::Recovery`);
//! the interest accrued is the interest due for the days up to and including `as_of`
//! (§ 49a (3) VwVfG, `buendel_grant::on_balance`), of which what was charged and paid is shown
//! beside it. When the base-rate table has no rate for a day the interest runs on, `accrued` is
//! `null` and `note` says why.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use buendel_contract::ledger::{Amounts, LedgerEvent};
use buendel_ledger_domain::settle::Recovery;

use crate::claims::Split;
use crate::error::ApiError;
use crate::page::{invalid_query, Page, PageRequest};
use crate::AppState;

/// The query parameters of `GET /v1/proposals/{id}/recovery`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryQuery {
    /// The day (`YYYY-MM-DD`) at whose end the figures are read; default today.
    as_of: Option<String>,
}

/// Principal owed back.
#[derive(Debug, Serialize)]
pub struct Principal {
    /// Assessed for recovery.
    pub assessed: Split,
    /// Repaid.
    pub repaid: Split,
    /// Still owed.
    pub owed: Split,
}

/// Interest on the principal (§ 49a (3) VwVfG).
#[derive(Debug, Serialize)]
pub struct Interest {
    /// Due for the days up to and including `as_of`; `null` when a base rate is unknown.
    pub accrued: Option<Split>,
    /// Charged by `interest_charged` entries.
    pub charged: Split,
    /// Paid.
    pub paid: Split,
    /// Accrued less paid; `null` with `accrued`.
    pub owed: Option<Split>,
    /// The rule, in words.
    pub rule: &'static str,
    /// The day count.
    pub day_count: &'static str,
    /// The rounding.
    pub rounding: &'static str,
    /// The version of the base-rate table.
    pub base_rate_table: String,
    /// Why `accrued` is `null`, if it is.
    pub note: Option<String>,
}

/// What a project owes back as of a day.
#[derive(Debug, Serialize)]
pub struct RecoveryView {
    /// The project.
    pub proposal_id: Uuid,
    /// The day read.
    pub as_of: NaiveDate,
    /// The final grant (checked final report) or what remains of a revoked grant.
    pub final_grant: Option<Split>,
    /// The principal.
    pub principal: Principal,
    /// The interest.
    pub interest: Interest,
}

fn split(amounts: &Amounts) -> Split {
    Split::of(amounts.esf_cents.0, amounts.land_cents.0)
}

/// The project's ledger events with a value date on or before `as_of`, in order.
async fn events(
    state: &AppState,
    proposal_id: Uuid,
    as_of: NaiveDate,
) -> Result<Vec<LedgerEvent>, ApiError> {
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT event_type, data FROM ledger_entries \
         WHERE proposal_id = $1 AND value_date <= $2 ORDER BY sequence",
    )
    .bind(proposal_id)
    .bind(as_of)
    .fetch_all(&state.pool)
    .await?;
    rows.into_iter()
        .map(|(event_type, data)| {
            serde_json::from_value(serde_json::json!({"type": event_type, "data": data}))
                .map_err(|error| ApiError::Internal(anyhow::anyhow!("ledger entry: {error}")))
        })
        .collect()
}

/// `GET /v1/proposals/{id}/recovery`.
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<RecoveryQuery>, QueryRejection>,
) -> Result<Json<RecoveryView>, ApiError> {
    let proposal_id =
        Uuid::parse_str(&id).map_err(|_| ApiError::InvalidId(format!("{id:?} is not a UUID")))?;
    let Query(query) = query.map_err(invalid_query)?;
    let as_of = match query.as_of.as_deref() {
        None => state.clock.today(),
        Some(text) => buendel_contract::commands::parse_date(text).ok_or_else(|| {
            ApiError::InvalidQuery(format!("as_of: {text:?} is not a real date YYYY-MM-DD"))
        })?,
    };
    let known: Option<(Uuid,)> =
        sqlx::query_as("SELECT proposal_id FROM proposal_money WHERE proposal_id = $1 LIMIT 1")
            .bind(proposal_id)
            .fetch_optional(&state.pool)
            .await?;
    if known.is_none() {
        return Err(ApiError::NotFound(format!(
            "no project {proposal_id} in any fund"
        )));
    }
    let events = events(&state, proposal_id, as_of).await?;
    let mut recovery = Recovery::default();
    let mut interest_paid = Amounts::ZERO;
    for event in &events {
        recovery.apply(event);
        if let LedgerEvent::InterestPaid(e) = event {
            interest_paid = interest_paid.saturating_add(&e.paid);
        }
    }
    let (assessed, owed) = recovery.principal();
    let until = as_of.checked_add_days(Days::new(1)).unwrap_or(as_of);
    let (accrued, note) = match recovery.interest_due(until) {
        Ok(due) => (Some(due), None),
        Err(error) => (None, Some(format!("{}: {error}", error.code()))),
    };
    Ok(Json(RecoveryView {
        proposal_id,
        as_of,
        final_grant: recovery.final_grant.as_ref().map(split),
        principal: Principal {
            assessed: split(&assessed),
            repaid: split(&assessed.saturating_sub(&owed)),
            owed: split(&owed),
        },
        interest: Interest {
            accrued: accrued.as_ref().map(split),
            charged: split(&recovery.interest_charged),
            paid: split(&interest_paid),
            owed: accrued.as_ref().map(|a| split(&a.saturating_sub(&interest_paid))),
            rule: "5 percentage points above the base rate of § 247 BGB per year, each half year at its rate (§ 49a (3) VwVfG)",
            day_count: buendel_grant::interest::DAY_COUNT,
            rounding: buendel_grant::interest::ROUNDING,
            base_rate_table: buendel_grant::base_rate::published().version.clone(),
            note,
        },
    }))
}

/// The query parameters of `GET /v1/retention`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionQuery {
    /// Items per page.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One project's retention.
#[derive(Debug, Serialize)]
pub struct Retention {
    /// The project.
    pub proposal_id: Uuid,
    /// Its fund.
    pub fund_id: String,
    /// The value date of its last payment.
    pub last_payment: NaiveDate,
    /// 31 December of the last payment's year plus five years (CPR Art. 82).
    pub retention_until: NaiveDate,
    /// The place in the list (the pagination key).
    pub position: i64,
}

/// `GET /v1/retention`: every project paid at least once, by retention date (then id).
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<RetentionQuery>, QueryRejection>,
) -> Result<Json<Page<Retention>>, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    // The retention date grows with the year of the last payment, so ordering by the year and
    // the id is ordering by the retention date.
    let rows: Vec<(Uuid, String, NaiveDate, i64)> = sqlx::query_as(
        "SELECT proposal_id, fund_id, last_payment, position FROM ( \
             SELECT proposal_id, fund_id, max(value_date) AS last_payment, \
                    row_number() OVER (ORDER BY date_part('year', max(value_date)), proposal_id) \
                        AS position \
             FROM ledger_entries \
             WHERE event_type IN ('buendel.ledger.disbursement_recorded.v1', \
                                  'buendel.ledger.claim_approved.v1') \
               AND proposal_id IS NOT NULL \
             GROUP BY proposal_id, fund_id) paid \
         WHERE position > $1 ORDER BY position LIMIT $2",
    )
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(&state.pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|(proposal_id, fund_id, last_payment, position)| Retention {
            proposal_id,
            fund_id,
            last_payment,
            retention_until: buendel_grant::retention_until(last_payment),
            position,
        })
        .collect();
    Ok(Json(page.page(items, |r| r.position)))
}
