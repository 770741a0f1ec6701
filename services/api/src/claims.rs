//! `GET /v1/claims` and `GET /v1/claims/{id}`: payment claims with their 80-day clock
//! (CPR Art. 74(1)(b)) read as of a day.
//!
//! The clock runs from the claim's submission to its payment, paused while it was sent back; its
//! reading (days elapsed, paused, running, left; due date; overdue) is computed here from the
//! stored dates by `buendel_grant::PaymentClock`, as of `as_of` (default: today's business date).
//! `due_within_days=N` lists the open claims due within N days of `as_of` (overdue ones
//! included); `overdue=true` only those past their due date. A reading as of a day before the
//! clock's last change is replayed from the claim's stored pauses, counting only the changes
//! dated by then (`PaymentClock::as_of`).
//!
//! `GET /v1/claims?format=csv|xlsx[&lang=de]` exports the same list (every filter applies, the
//! clock read as of the same day) as a file ([`crate::export`]): without `limit` every matching
//! claim (at most [`crate::export::EXPORT_ROWS_MAX`]), with `limit` one page and the next cursor in
//! the `x-next-cursor` header. The columns are the list's fields, the nested ones flattened
//! (`asked_esf_cents`, `clock_due_date`, ...) and `cuts` as its JSON text.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use buendel_grant::{ClockReading, PaymentClock, PAYMENT_DAYS};

use crate::error::ApiError;
use crate::export::{self, Cell, Column, Format, Kind, Lang, Table};
use crate::page::{invalid_query, PageRequest};
use crate::AppState;

/// The longest look-ahead of `due_within_days` (ten years).
pub const DUE_WITHIN_DAYS_MAX: u32 = 3_650;

/// The statuses a claim can have.
const STATUSES: [&str; 5] = ["submitted", "returned", "resubmitted", "verified", "paid"];

/// The query parameters of `GET /v1/claims`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this project's claims.
    proposal_id: Option<Uuid>,
    /// Only this fund's claims.
    fund_id: Option<String>,
    /// Only claims in this status.
    status: Option<String>,
    /// Only open claims due within this many days of `as_of` (overdue ones included).
    due_within_days: Option<u32>,
    /// `true`: only open claims past their due date.
    overdue: Option<bool>,
    /// The day the clock is read on (`YYYY-MM-DD`); default today.
    as_of: Option<String>,
    /// Items per page.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    format: Option<String>,
    /// The export's column names: `en` (default) or `de`.
    lang: Option<String>,
}

/// The query parameters of `GET /v1/claims/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    /// The day the clock is read on; default today.
    as_of: Option<String>,
}

/// A claim as stored.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    claim_id: Uuid,
    proposal_id: Uuid,
    fund_id: String,
    status: String,
    period_from: NaiveDate,
    period_to: NaiveDate,
    declared_eligible_cents: i64,
    asked_esf_cents: i64,
    asked_land_cents: i64,
    accepted_esf_cents: Option<i64>,
    accepted_land_cents: Option<i64>,
    cuts: serde_json::Value,
    receipts_reference: String,
    submitted_by: String,
    verified_by: Option<String>,
    approved_by: Option<String>,
    payment_reference: Option<String>,
    submitted_on: NaiveDate,
    paused_since: Option<NaiveDate>,
    paused_days: i32,
    paid_on: Option<NaiveDate>,
    clock_changed_on: NaiveDate,
    pauses: serde_json::Value,
    last_sequence: i64,
}

/// An amount per source and their total.
#[derive(Debug, Serialize)]
pub struct Split {
    /// ESF+.
    pub esf_cents: i64,
    /// Land.
    pub land_cents: i64,
    /// Both.
    pub total_cents: i64,
}

impl Split {
    /// The parts and their sum (saturating).
    pub fn of(esf: i64, land: i64) -> Self {
        Self {
            esf_cents: esf,
            land_cents: land,
            total_cents: esf.saturating_add(land),
        }
    }
}

/// One payment claim.
#[derive(Debug, Serialize)]
pub struct Claim {
    /// The claim.
    pub claim_id: Uuid,
    /// The project.
    pub proposal_id: Uuid,
    /// The fund.
    pub fund_id: String,
    /// `submitted`, `returned`, `resubmitted`, `verified` or `paid`.
    pub status: String,
    /// First day of the period claimed.
    pub period_from: NaiveDate,
    /// Last day of the period claimed.
    pub period_to: NaiveDate,
    /// The eligible expenditure declared.
    pub declared_eligible_cents: i64,
    /// What was asked.
    pub asked: Split,
    /// What verification accepted (once verified).
    pub accepted: Option<Split>,
    /// The verifier's cuts with their reasons.
    pub cuts: serde_json::Value,
    /// The list of receipts.
    pub receipts_reference: String,
    /// Who submitted it.
    pub submitted_by: String,
    /// Who verified it.
    pub verified_by: Option<String>,
    /// Who approved the payment.
    pub approved_by: Option<String>,
    /// The bank's payment reference.
    pub payment_reference: Option<String>,
    /// The day it was submitted.
    pub submitted_on: NaiveDate,
    /// The day it was paid.
    pub paid_on: Option<NaiveDate>,
    /// The 80-day clock as of `as_of`.
    pub clock: Clock,
    /// The LEDGER sequence of its last event (the pagination key).
    pub last_sequence: i64,
}

/// The 80-day clock's reading.
#[derive(Debug, Serialize)]
pub struct Clock {
    /// The day it is read on.
    pub as_of: NaiveDate,
    /// The limit in days (80).
    pub payment_days: i64,
    /// The reading.
    #[serde(flatten)]
    pub reading: ClockReading,
}

impl Row {
    /// The clock as of the end of `as_of`: the stored one from its last change on, before that
    /// the one its history of pauses gives (a row projected before the pauses were kept has none,
    /// and reads as of its last change).
    fn clock(&self, as_of: NaiveDate) -> PaymentClock {
        let stored = PaymentClock {
            submitted_on: self.submitted_on,
            paused_days: i64::from(self.paused_days),
            paused_since: self.paused_since,
            paid_on: self.paid_on,
            changed_on: self.clock_changed_on,
        };
        if as_of >= self.clock_changed_on {
            return stored;
        }
        let pauses: Vec<(NaiveDate, Option<NaiveDate>)> =
            serde_json::from_value(self.pauses.clone()).unwrap_or_default();
        let kept = !pauses.is_empty() || (self.paused_days == 0 && self.paused_since.is_none());
        if !kept {
            return stored;
        }
        PaymentClock::as_of(self.submitted_on, &pauses, self.paid_on, as_of).unwrap_or(stored)
    }

    fn into_claim(self, as_of: NaiveDate) -> Claim {
        let reading = self.clock(as_of).at(as_of);
        let accepted = match (self.accepted_esf_cents, self.accepted_land_cents) {
            (Some(esf), Some(land)) => Some(Split::of(esf, land)),
            _ => None,
        };
        Claim {
            claim_id: self.claim_id,
            proposal_id: self.proposal_id,
            fund_id: self.fund_id,
            status: self.status,
            period_from: self.period_from,
            period_to: self.period_to,
            declared_eligible_cents: self.declared_eligible_cents,
            asked: Split::of(self.asked_esf_cents, self.asked_land_cents),
            accepted,
            cuts: self.cuts,
            receipts_reference: self.receipts_reference,
            submitted_by: self.submitted_by,
            verified_by: self.verified_by,
            approved_by: self.approved_by,
            payment_reference: self.payment_reference,
            submitted_on: self.submitted_on,
            paid_on: self.paid_on,
            clock: Clock {
                as_of,
                payment_days: PAYMENT_DAYS,
                reading,
            },
            last_sequence: self.last_sequence,
        }
    }
}

const COLUMNS: &str = "claim_id, proposal_id, fund_id, status, period_from, period_to, \
    declared_eligible_cents, asked_esf_cents, asked_land_cents, accepted_esf_cents, \
    accepted_land_cents, cuts, receipts_reference, submitted_by, verified_by, approved_by, \
    payment_reference, submitted_on, paused_since, paused_days, paid_on, clock_changed_on, pauses, \
    last_sequence";

/// `as_of`, or today's business date.
fn as_of(state: &AppState, given: Option<&str>) -> Result<NaiveDate, ApiError> {
    match given {
        None => Ok(state.clock.today()),
        Some(text) => buendel_contract::commands::parse_date(text).ok_or_else(|| {
            ApiError::InvalidQuery(format!("as_of: {text:?} is not a real date YYYY-MM-DD"))
        }),
    }
}

/// `GET /v1/claims`: claims in the order of their last event, filtered, with the clock as of
/// `as_of` (JSON pages), or exported as CSV or XLSX.
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    let format = Format::parse(query.format.as_deref())?;
    let lang = Lang::parse(query.lang.as_deref())?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let as_of = as_of(&state, query.as_of.as_deref())?;
    if let Some(status) = &query.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::InvalidQuery(format!(
                "status: {status:?} is none of {}",
                STATUSES.join(", ")
            )));
        }
    }
    if query
        .due_within_days
        .is_some_and(|d| d > DUE_WITHIN_DAYS_MAX)
    {
        return Err(ApiError::InvalidQuery(format!(
            "due_within_days: at most {DUE_WITHIN_DAYS_MAX}"
        )));
    }
    if format != Format::Json && query.limit.is_none() {
        let claims = select(
            &state,
            &query,
            as_of,
            page.after,
            export::export_fetch_limit(),
        )
        .await?;
        export::check_size(claims.len())?;
        return export::respond(&table(claims), format, lang, "claims", sheet(lang), None);
    }
    let claims = select(&state, &query, as_of, page.after, page.fetch_limit()).await?;
    let page = page.page(claims, |claim| claim.last_sequence);
    if format != Format::Json {
        let table = table(page.items);
        return export::respond(
            &table,
            format,
            lang,
            "claims",
            sheet(lang),
            page.next_cursor,
        );
    }
    Ok(Json(page).into_response())
}

/// The claims the list's filters select after `after`, at most `fetch_limit`, read as of `as_of`.
async fn select(
    state: &AppState,
    query: &ListQuery,
    as_of: NaiveDate,
    after: i64,
    fetch_limit: i64,
) -> Result<Vec<Claim>, ApiError> {
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT {COLUMNS} FROM claims WHERE last_sequence > "
    ));
    sql.push_bind(after);
    if let Some(id) = query.proposal_id {
        sql.push(" AND proposal_id = ").push_bind(id);
    }
    if let Some(fund) = &query.fund_id {
        sql.push(" AND fund_id = ").push_bind(fund.clone());
    }
    if let Some(status) = &query.status {
        sql.push(" AND status = ").push_bind(status.clone());
    }
    let clock_filter = query.due_within_days.is_some() || query.overdue == Some(true);
    if clock_filter {
        sql.push(" AND status <> 'paid'");
    }
    sql.push(" ORDER BY last_sequence");
    // The clock filters are computed in Rust on the reading, so every open claim is read; open
    // claims are few (they are paid within 80 days), and a page is still at most `limit` items.
    if !clock_filter {
        sql.push(" LIMIT ").push_bind(fetch_limit);
    }
    let rows: Vec<Row> = sql.build_query_as().fetch_all(&state.pool).await?;
    let mut claims: Vec<Claim> = rows
        .into_iter()
        .map(|row| row.into_claim(as_of))
        .filter(|claim| {
            let reading = &claim.clock.reading;
            let due = query
                .due_within_days
                .is_none_or(|days| reading.days_left <= i64::from(days));
            let overdue = query.overdue != Some(true) || reading.overdue;
            due && overdue
        })
        .collect();
    if clock_filter {
        let keep = usize::try_from(fetch_limit).unwrap_or(usize::MAX);
        claims.truncate(keep);
    }
    Ok(claims)
}

/// The columns of the claims' export: the list's fields, the nested ones flattened.
pub const EXPORT_COLUMNS: &[Column] = &[
    Column::new("claim_id", "abruf_id", Kind::Text),
    Column::new("proposal_id", "antrag_id", Kind::Text),
    Column::new("fund_id", "fonds_id", Kind::Text),
    Column::new("status", "status", Kind::Text),
    Column::new("period_from", "zeitraum_von", Kind::Date),
    Column::new("period_to", "zeitraum_bis", Kind::Date),
    Column::new(
        "declared_eligible_cents",
        "erklärte_förderfähige_ausgaben_cent",
        Kind::Cents,
    ),
    Column::new("asked_esf_cents", "beantragt_esf_cent", Kind::Cents),
    Column::new("asked_land_cents", "beantragt_land_cent", Kind::Cents),
    Column::new("asked_total_cents", "beantragt_gesamt_cent", Kind::Cents),
    Column::new("accepted_esf_cents", "anerkannt_esf_cent", Kind::Cents),
    Column::new("accepted_land_cents", "anerkannt_land_cent", Kind::Cents),
    Column::new("accepted_total_cents", "anerkannt_gesamt_cent", Kind::Cents),
    Column::new("cuts", "kürzungen", Kind::Text),
    Column::new("receipts_reference", "belegliste", Kind::Text),
    Column::new("submitted_by", "eingereicht_von", Kind::Text),
    Column::new("verified_by", "geprüft_von", Kind::Text),
    Column::new("approved_by", "freigegeben_von", Kind::Text),
    Column::new("payment_reference", "zahlungsreferenz", Kind::Text),
    Column::new("submitted_on", "eingereicht_am", Kind::Date),
    Column::new("paid_on", "gezahlt_am", Kind::Date),
    Column::new("clock_as_of", "frist_stand_am", Kind::Date),
    Column::new("clock_payment_days", "frist_tage", Kind::Integer),
    Column::new("clock_days_elapsed", "frist_tage_vergangen", Kind::Integer),
    Column::new("clock_days_paused", "frist_tage_angehalten", Kind::Integer),
    Column::new("clock_days_running", "frist_tage_gelaufen", Kind::Integer),
    Column::new("clock_due_date", "frist_fällig_am", Kind::Date),
    Column::new("clock_days_left", "frist_tage_übrig", Kind::Integer),
    Column::new("clock_paused", "frist_angehalten", Kind::Text),
    Column::new("clock_paid", "frist_bezahlt", Kind::Text),
    Column::new("clock_overdue", "frist_überschritten", Kind::Text),
    Column::new("last_sequence", "letzte_sequenz", Kind::Integer),
];

fn sheet(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Claims",
        Lang::De => "Mittelabrufe",
    }
}

/// The claims as the export's table.
fn table(claims: Vec<Claim>) -> Table {
    let mut table = Table::new(EXPORT_COLUMNS);
    for c in claims {
        let reading = &c.clock.reading;
        let accepted = |part: fn(&Split) -> i64| Cell::from(c.accepted.as_ref().map(part));
        table.push(vec![
            c.claim_id.to_string().into(),
            c.proposal_id.to_string().into(),
            c.fund_id.clone().into(),
            c.status.clone().into(),
            c.period_from.into(),
            c.period_to.into(),
            c.declared_eligible_cents.into(),
            c.asked.esf_cents.into(),
            c.asked.land_cents.into(),
            c.asked.total_cents.into(),
            accepted(|s| s.esf_cents),
            accepted(|s| s.land_cents),
            accepted(|s| s.total_cents),
            c.cuts.to_string().into(),
            c.receipts_reference.clone().into(),
            c.submitted_by.clone().into(),
            c.verified_by.clone().into(),
            c.approved_by.clone().into(),
            c.payment_reference.clone().into(),
            c.submitted_on.into(),
            c.paid_on.into(),
            c.clock.as_of.into(),
            c.clock.payment_days.into(),
            reading.days_elapsed.into(),
            reading.days_paused.into(),
            reading.days_running.into(),
            reading.due_date.into(),
            reading.days_left.into(),
            reading.paused.to_string().into(),
            reading.paid.to_string().into(),
            reading.overdue.to_string().into(),
            c.last_sequence.into(),
        ]);
    }
    table
}

/// `GET /v1/claims/{id}`.
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<GetQuery>, QueryRejection>,
) -> Result<Json<Claim>, ApiError> {
    let claim_id =
        Uuid::parse_str(&id).map_err(|_| ApiError::InvalidId(format!("{id:?} is not a UUID")))?;
    let Query(query) = query.map_err(invalid_query)?;
    let as_of = as_of(&state, query.as_of.as_deref())?;
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM claims WHERE claim_id = $1 ORDER BY last_sequence LIMIT 1"
    ))
    .bind(claim_id)
    .fetch_optional(&state.pool)
    .await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no claim {claim_id}")))?;
    Ok(Json(row.into_claim(as_of)))
}
