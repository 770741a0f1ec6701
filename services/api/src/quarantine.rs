//! `GET /v1/quarantine`: the events the projector could not take into the read models, with why.
//!
//! Each stays in its stream; the projector stepped over it so that nothing behind it waits
//! (`buendel_projector::quarantine`). The list is ordered by stream (in the projector's order) and
//! sequence; the page key packs both into one number (stream index × 2⁴⁸ + sequence).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::error::ApiError;
use crate::page::{invalid_query, Page, PageRequest};
use crate::AppState;

/// The page key of a row: the stream's place among the projected streams, then its sequence.
const PAGE_KEY: &str =
    "(CASE stream WHEN 'PROPOSALS' THEN 1 WHEN 'REVIEWS' THEN 2 WHEN 'LEDGER' THEN 3 \
     ELSE 4 END)::bigint * 281474976710656 + sequence";

/// The query parameters of `GET /v1/quarantine`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this stream (`PROPOSALS`, `REVIEWS`, `LEDGER`, `DEADLETTER`).
    stream: Option<String>,
    /// Items per page.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One event the read models do not show.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Quarantined {
    /// The stream it is stored in (without the namespace prefix).
    pub stream: String,
    /// Its stream sequence.
    pub sequence: i64,
    /// The subject it is stored on.
    pub subject: String,
    /// The subject's last token: the proposal, review or fund it concerns.
    pub aggregate_id: String,
    /// Its CloudEvents id, when readable.
    pub event_id: Option<String>,
    /// Its CloudEvents type, when readable.
    pub event_type: Option<String>,
    /// Why the read model could not take it.
    pub error: String,
    /// The pagination key (not part of the body).
    #[serde(skip)]
    pub page_key: i64,
}

/// `GET /v1/quarantine`.
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Quarantined>>, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT stream, sequence, subject, aggregate_id, event_id, event_type, error, {PAGE_KEY} AS page_key \
         FROM projection_quarantine WHERE {PAGE_KEY} > "
    ));
    sql.push_bind(page.after);
    if let Some(stream) = query.stream {
        sql.push(" AND stream = ").push_bind(stream);
    }
    sql.push(" ORDER BY page_key LIMIT ")
        .push_bind(page.fetch_limit());
    let rows: Vec<Quarantined> = sql.build_query_as().fetch_all(&state.pool).await?;
    Ok(Json(page.page(rows, |row| row.page_key)))
}

/// The quarantined events of one aggregate (a proposal's page shows them), oldest first, at most
/// `limit`.
pub async fn of(
    pool: &PgPool,
    aggregate_id: &str,
    limit: i64,
) -> Result<Vec<Quarantined>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT stream, sequence, subject, aggregate_id, event_id, event_type, error, {PAGE_KEY} AS page_key \
         FROM projection_quarantine WHERE aggregate_id = $1 ORDER BY page_key LIMIT $2"
    ))
    .bind(aggregate_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Quarantined events per stream, for `/readyz` and `/metrics`.
pub async fn counts(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT stream, count(*) FROM projection_quarantine GROUP BY stream ORDER BY stream",
    )
    .fetch_all(pool)
    .await
}
