//! `GET /v1/alliances` and `GET /v1/alliances/{id}`: each alliance with its current partner roster,
//! region, focus areas, and how many of its proposals are in each (combined) status.
//!
//! The `alliances` table is purely derived from the `buendel.alliance.*` events on REVIEWS: an
//! alliance whose `registered` event has not been projected is not listed (404 on its own).

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::error::ApiError;
use crate::page::{invalid_query, Page, PageRequest};
use crate::AppState;

/// The query parameters of `GET /v1/alliances`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// An alliance as the operators see it.
#[derive(Debug, Serialize)]
pub struct Alliance {
    /// Short id (`non`, `son`).
    pub alliance_id: String,
    /// Full name.
    pub name: String,
    /// `transition` or `more_developed`; caps the ESF+ rate.
    pub region: String,
    /// Districts covered.
    pub districts: Vec<String>,
    /// Focus areas its projects may serve.
    pub focus_areas: Vec<String>,
    /// The current partner roster (`[{"id","name"}]`), in joining order.
    pub partners: serde_json::Value,
    /// The quorum rule of its reviews: `{"min_participation_bp": ..}`.
    pub quorum: serde_json::Value,
    /// The program rules version its reviews apply.
    pub rules_version: String,
    /// Last day applications are accepted.
    pub application_deadline: NaiveDate,
    /// Its proposals, counted by combined status (see `Proposal.status`); statuses without
    /// proposals are left out.
    pub proposals_by_status: BTreeMap<String, i64>,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
    /// Time of its last event.
    pub updated_at: DateTime<Utc>,
    /// REVIEWS stream sequence of its last event.
    pub last_sequence: i64,
}

/// An `alliances` row.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    alliance_id: String,
    name: String,
    region: String,
    districts: Vec<String>,
    focus_areas: Vec<String>,
    partners: serde_json::Value,
    quorum: serde_json::Value,
    rules_version: String,
    application_deadline: NaiveDate,
    registered_sequence: i64,
    registered_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_sequence: i64,
}

const COLUMNS: &str = "alliance_id, name, region, districts, focus_areas, partners, quorum, \
    rules_version, application_deadline, registered_sequence, registered_at, updated_at, \
    last_sequence";

impl Row {
    fn into_alliance(self, proposals_by_status: BTreeMap<String, i64>) -> Alliance {
        Alliance {
            alliance_id: self.alliance_id,
            name: self.name,
            region: self.region,
            districts: self.districts,
            focus_areas: self.focus_areas,
            partners: self.partners,
            quorum: self.quorum,
            rules_version: self.rules_version,
            application_deadline: self.application_deadline,
            proposals_by_status,
            registered_at: self.registered_at,
            updated_at: self.updated_at,
            last_sequence: self.last_sequence,
        }
    }
}

/// `GET /v1/alliances`: alliances in registration order, one page at a time.
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Alliance>>, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alliances WHERE registered_sequence > $1 \
         ORDER BY registered_sequence LIMIT $2"
    ))
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(&state.pool)
    .await?;
    let page = page.page(rows, |row| row.registered_sequence);
    let ids: Vec<String> = page.items.iter().map(|r| r.alliance_id.clone()).collect();
    let mut counts = counts(&state.pool, &ids).await?;
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(|row| {
                let by_status = counts.remove(&row.alliance_id).unwrap_or_default();
                row.into_alliance(by_status)
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// `GET /v1/alliances/{id}`: one alliance, 404 `not_found` when no such alliance was registered.
#[tracing::instrument(skip_all, fields(alliance_id = %id))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Alliance>, ApiError> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alliances WHERE alliance_id = $1"
    ))
    .bind(&id)
    .fetch_optional(&state.pool)
    .await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no alliance {id:?}")))?;
    let mut counts = counts(&state.pool, std::slice::from_ref(&row.alliance_id)).await?;
    let by_status = counts.remove(&row.alliance_id).unwrap_or_default();
    Ok(Json(row.into_alliance(by_status)))
}

/// Proposals by alliance and combined status ([`crate::status::counts`]), for the given alliances.
async fn counts(
    pool: &PgPool,
    alliance_ids: &[String],
) -> Result<HashMap<String, BTreeMap<String, i64>>, ApiError> {
    let mut out: HashMap<String, BTreeMap<String, i64>> = HashMap::new();
    for ((alliance_id, status), count) in crate::status::counts(pool, Some(alliance_ids)).await? {
        out.entry(alliance_id)
            .or_default()
            .insert(status.as_str().to_owned(), count);
    }
    Ok(out)
}
