//! `GET /v1/proposals` (filter, paginate) and `GET /v1/proposals/{id}` (with screening, review,
//! money and timeline).
//!
//! `status` is the combined status of [`crate::status`] (the contract's
//! `buendel_contract::status::combined_status` of the proposal's, the review's and the ledger's
//! status), both shown and filtered by. Money is integer cents (`*_cents`) and rates integer basis points, as in the events.
//!
//! `GET /v1/proposals?format=csv|xlsx[&lang=de]` exports the same list (every filter applies) as
//! a file ([`crate::export`]): without `limit` every matching proposal (at most
//! [`crate::export::EXPORT_ROWS_MAX`]), with `limit` one page and the next cursor in the
//! `x-next-cursor` header. The columns are the list's fields, `applicant` flattened into
//! `applicant_name|kind|district` and the arrays joined with `, `.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json as SqlJson;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::error::ApiError;
use crate::export::{self, Column, Format, Kind, Lang, Table};
use crate::money::{self, Money};
use crate::page::{invalid_query, Page, PageRequest};
use crate::quarantine::{self, Quarantined};
use crate::review::{self, Review};
use crate::status::{self, proposals_view};
use crate::AppState;

/// The query parameters of `GET /v1/proposals`. Unknown ones are refused, so a misspelt filter
/// does not silently return everything.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only proposals with this (combined) status.
    status: Option<String>,
    /// Only proposals of this alliance (`non`, `son`, ...).
    alliance: Option<String>,
    /// Only proposals that serve this focus area.
    focus_area: Option<String>,
    /// Only proposals that work in this district.
    district: Option<String>,
    /// Items per page.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    format: Option<String>,
    /// The export's column names: `en` (default) or `de`.
    lang: Option<String>,
}

/// Who applies.
#[derive(Debug, Serialize)]
pub struct Applicant {
    /// Legal name.
    pub name: String,
    /// Kind of organisation.
    pub kind: String,
    /// District it sits in.
    pub district: String,
}

/// A proposal's current state, as listed.
#[derive(Debug, Serialize)]
pub struct Proposal {
    /// The proposal id.
    pub proposal_id: Uuid,
    /// The alliance it is submitted to.
    pub alliance_id: String,
    /// The combined status ([`crate::status`]): `submitted`, `screening_failed`, `in_review`,
    /// `statement_positive`, `statement_negative`, `waitlisted`, `funds_reserved`, `granted`,
    /// `closed`, `refused`, `withdrawn`.
    pub status: String,
    /// Short title.
    pub title: String,
    /// What the project does.
    pub summary: String,
    /// `structure`, `unemployed` or `training`.
    pub project_type: String,
    /// Who applies.
    pub applicant: Applicant,
    /// Focus areas served.
    pub focus_areas: Vec<String>,
    /// Districts worked in.
    pub districts: Vec<String>,
    /// Planned start.
    pub planned_start: NaiveDate,
    /// Planned duration.
    pub duration_months: i32,
    /// Eligible costs in euro cents.
    pub eligible_cost_cents: i64,
    /// Requested grant rate in basis points.
    pub requested_rate_bp: i32,
    /// The aggregate version (number of events).
    pub version: i64,
    /// Stream sequence of the last event applied: a client that got `sequence` from a command
    /// reply knows the read model has caught up once this is at least that.
    pub last_sequence: i64,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
    /// When its last event happened.
    pub updated_at: DateTime<Utc>,
}

/// The last screening of a proposal.
#[derive(Debug, Serialize)]
pub struct Screening {
    /// The program rules version applied.
    pub rules_version: Option<String>,
    /// Every rule's result: `{"rule","passed","severity","message"}`.
    pub results: serde_json::Value,
}

/// One event in a proposal's timeline.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct TimelineEntry {
    /// The stream it is stored in: `PROPOSALS`, `REVIEWS` or `LEDGER`.
    pub stream: String,
    /// Its sequence in that stream.
    pub sequence: i64,
    /// The CloudEvents id.
    pub event_id: Uuid,
    /// The CloudEvents type.
    #[serde(rename = "type")]
    #[sqlx(rename = "event_type")]
    pub event_type: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Who asked for it.
    pub actor: String,
    /// The CloudEvents `data`, as published.
    pub data: serde_json::Value,
}

/// One proposal with its screening, review, money and timeline.
#[derive(Debug, Serialize)]
pub struct ProposalDetail {
    /// The current state.
    #[serde(flatten)]
    pub proposal: Proposal,
    /// The last screening, or `null` before the first.
    pub screening: Option<Screening>,
    /// The alliance's review and the bank's decision, or `null` before the review opened.
    pub review: Option<Review>,
    /// The project's money in its fund, or `null` before the ledger booked anything for it.
    pub money: Option<Money>,
    /// Every event, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Events of this proposal the read models could not take (empty when all are shown).
    pub quarantined: Vec<Quarantined>,
}

/// A `proposals` row.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    proposal_id: Uuid,
    alliance_id: String,
    proposal_status: String,
    review_status: Option<String>,
    money_status: Option<String>,
    title: String,
    summary: String,
    project_type: String,
    applicant_name: String,
    applicant_kind: String,
    applicant_district: String,
    focus_areas: Vec<String>,
    districts: Vec<String>,
    planned_start: NaiveDate,
    duration_months: i32,
    eligible_cost_cents: i64,
    requested_rate_bp: i32,
    rules_version: Option<String>,
    screening: Option<SqlJson<serde_json::Value>>,
    created_sequence: i64,
    last_sequence: i64,
    version: i64,
    submitted_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "proposal_id, alliance_id, proposal_status, review_status, money_status, title, summary, project_type, applicant_name, \
    applicant_kind, applicant_district, focus_areas, districts, planned_start, duration_months, \
    eligible_cost_cents, requested_rate_bp, rules_version, screening, created_sequence, last_sequence, \
    version, submitted_at, updated_at";

impl Row {
    fn into_parts(self) -> Result<(Proposal, Option<Screening>), ApiError> {
        let status = status::combine(
            &self.proposal_status,
            self.review_status.as_deref(),
            self.money_status.as_deref(),
        )?;
        let screening = self.screening.map(|SqlJson(results)| Screening {
            rules_version: self.rules_version,
            results,
        });
        let proposal = Proposal {
            proposal_id: self.proposal_id,
            alliance_id: self.alliance_id,
            status: status.as_str().to_owned(),
            title: self.title,
            summary: self.summary,
            project_type: self.project_type,
            applicant: Applicant {
                name: self.applicant_name,
                kind: self.applicant_kind,
                district: self.applicant_district,
            },
            focus_areas: self.focus_areas,
            districts: self.districts,
            planned_start: self.planned_start,
            duration_months: self.duration_months,
            eligible_cost_cents: self.eligible_cost_cents,
            requested_rate_bp: self.requested_rate_bp,
            version: self.version,
            last_sequence: self.last_sequence,
            submitted_at: self.submitted_at,
            updated_at: self.updated_at,
        };
        Ok((proposal, screening))
    }
}

/// `GET /v1/proposals`: proposals in submission order, filtered, one page at a time (JSON), or
/// exported as CSV or XLSX.
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    let format = Format::parse(query.format.as_deref())?;
    let lang = Lang::parse(query.lang.as_deref())?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    if format != Format::Json && query.limit.is_none() {
        let rows = select(&state, &query, page.after, export::export_fetch_limit()).await?;
        export::check_size(rows.len())?;
        let table = table(rows)?;
        return export::respond(&table, format, lang, "proposals", sheet(lang), None);
    }
    let rows = select(&state, &query, page.after, page.fetch_limit()).await?;
    let page = page.page(rows, |row| row.created_sequence);
    if format != Format::Json {
        let table = table(page.items)?;
        return export::respond(
            &table,
            format,
            lang,
            "proposals",
            sheet(lang),
            page.next_cursor,
        );
    }
    let items = page
        .items
        .into_iter()
        .map(|row| row.into_parts().map(|(proposal, _)| proposal))
        .collect::<Result<_, _>>()?;
    Ok(Json(Page {
        items,
        next_cursor: page.next_cursor,
    })
    .into_response())
}

/// The rows the list's filters select, after `after`, at most `fetch_limit`.
async fn select(
    state: &AppState,
    query: &ListQuery,
    after: i64,
    fetch_limit: i64,
) -> Result<Vec<Row>, ApiError> {
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT {COLUMNS} FROM {} WHERE created_sequence > ",
        proposals_view()
    ));
    sql.push_bind(after);
    if let Some(wanted) = query.status.as_deref() {
        status::push_filter(&mut sql, wanted);
    }
    if let Some(alliance) = &query.alliance {
        sql.push(" AND alliance_id = ").push_bind(alliance.clone());
    }
    if let Some(focus_area) = &query.focus_area {
        sql.push(" AND focus_areas @> ARRAY[")
            .push_bind(focus_area.clone())
            .push("]::text[]");
    }
    if let Some(written) = &query.district {
        // As written, or the district's id it names (the intake stores ids; events from before
        // the intake normalised them carry the publisher's spelling).
        let id = buendel_contract::district::normalised_id(written);
        sql.push(" AND districts && ARRAY[")
            .push_bind(written.clone())
            .push(", ")
            .push_bind(id)
            .push("]::text[]");
    }
    sql.push(" ORDER BY created_sequence LIMIT ")
        .push_bind(fetch_limit);
    Ok(sql.build_query_as().fetch_all(&state.pool).await?)
}

/// The columns of the proposals' export: the list's fields.
pub const EXPORT_COLUMNS: &[Column] = &[
    Column::new("proposal_id", "antrag_id", Kind::Text),
    Column::new("alliance_id", "bündnis_id", Kind::Text),
    Column::new("status", "status", Kind::Text),
    Column::new("title", "titel", Kind::Text),
    Column::new("summary", "zusammenfassung", Kind::Text),
    Column::new("project_type", "projektart", Kind::Text),
    Column::new("applicant_name", "antragsteller_name", Kind::Text),
    Column::new("applicant_kind", "antragsteller_art", Kind::Text),
    Column::new("applicant_district", "antragsteller_kreis", Kind::Text),
    Column::new("focus_areas", "handlungsfelder", Kind::Text),
    Column::new("districts", "kreise", Kind::Text),
    Column::new("planned_start", "geplanter_beginn", Kind::Date),
    Column::new("duration_months", "laufzeit_monate", Kind::Integer),
    Column::new(
        "eligible_cost_cents",
        "förderfähige_kosten_cent",
        Kind::Cents,
    ),
    Column::new("requested_rate_bp", "beantragte_quote_bp", Kind::Integer),
    Column::new("version", "version", Kind::Integer),
    Column::new("last_sequence", "letzte_sequenz", Kind::Integer),
    Column::new("submitted_at", "eingereicht_am", Kind::Timestamp),
    Column::new("updated_at", "aktualisiert_am", Kind::Timestamp),
];

fn sheet(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Proposals",
        Lang::De => "Anträge",
    }
}

/// The rows as the export's table, with the combined status as the list shows it.
fn table(rows: Vec<Row>) -> Result<Table, ApiError> {
    let mut table = Table::new(EXPORT_COLUMNS);
    for row in rows {
        let (p, _) = row.into_parts()?;
        table.push(vec![
            p.proposal_id.to_string().into(),
            p.alliance_id.into(),
            p.status.into(),
            p.title.into(),
            p.summary.into(),
            p.project_type.into(),
            p.applicant.name.into(),
            p.applicant.kind.into(),
            p.applicant.district.into(),
            p.focus_areas.join(", ").into(),
            p.districts.join(", ").into(),
            p.planned_start.into(),
            p.duration_months.into(),
            p.eligible_cost_cents.into(),
            p.requested_rate_bp.into(),
            p.version.into(),
            p.last_sequence.into(),
            p.submitted_at.into(),
            p.updated_at.into(),
        ]);
    }
    Ok(table)
}

/// Quarantined events shown on a proposal's page at most.
pub const QUARANTINED_SHOWN_MAX: i64 = 50;

/// `GET /v1/proposals/{id}`: one proposal with its last screening, its review, its money and its
/// whole timeline.
#[tracing::instrument(skip_all, fields(proposal_id = %id))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ProposalDetail>, ApiError> {
    let proposal_id =
        Uuid::parse_str(&id).map_err(|_| ApiError::InvalidId(format!("{id:?} is not a UUID")))?;
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {} WHERE proposal_id = $1",
        proposals_view()
    ))
    .bind(proposal_id)
    .fetch_optional(&state.pool)
    .await?;
    let quarantined =
        quarantine::of(&state.pool, &proposal_id.to_string(), QUARANTINED_SHOWN_MAX).await?;
    let Some(row) = row else {
        return Err(match quarantined.first() {
            Some(first) => ApiError::NotProjected(format!(
                "proposal {proposal_id} is stored but could not be projected: {} {} sequence {}: {}",
                first.event_type.as_deref().unwrap_or("event"),
                first.stream,
                first.sequence,
                first.error
            )),
            None => ApiError::NotFound(format!("no proposal {proposal_id}")),
        });
    };
    let timeline: Vec<TimelineEntry> = sqlx::query_as(
        "SELECT stream, sequence, event_id, event_type, time, actor, data FROM proposal_timeline \
         WHERE proposal_id = $1 ORDER BY time, sequence, stream",
    )
    .bind(proposal_id)
    .fetch_all(&state.pool)
    .await?;
    let review = review::of(&state.pool, proposal_id).await?;
    let money = money::of(&state.pool, proposal_id).await?;
    let (proposal, screening) = row.into_parts()?;
    Ok(Json(ProposalDetail {
        proposal,
        screening,
        review,
        money,
        timeline,
        quarantined,
    }))
}
