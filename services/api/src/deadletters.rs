//! `GET /v1/deadletters`: every refused input, oldest first (newest last), with its reasons and
//! original bytes.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::error::ApiError;
use crate::page::{invalid_query, Page, PageRequest};
use crate::AppState;

/// The query parameters of `GET /v1/deadletters`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only dead letters from this source (`intake`, or a service name).
    source: Option<String>,
    /// Items per page.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One refused input.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    /// The dead letter's id.
    pub id: Uuid,
    /// Its sequence in the DEADLETTER stream (the pagination key).
    pub dl_sequence: i64,
    /// `intake`, or the service that refused the input.
    pub source: String,
    /// The subject the input arrived on.
    pub subject: String,
    /// The input's own stream sequence (0 when it did not come from a stream).
    pub stream_sequence: i64,
    /// The input's CloudEvents id, when readable.
    pub event_id: Option<String>,
    /// The input's CloudEvents type, when readable.
    pub event_type: Option<String>,
    /// Stable code of the refusal.
    pub code: String,
    /// Every reason: `[{"field":..,"reason":..}]`.
    pub reasons: serde_json::Value,
    /// The original bytes, base64.
    pub original_base64: String,
    /// When it was refused.
    pub rejected_at: DateTime<Utc>,
}

/// `GET /v1/deadletters`.
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<DeadLetter>>, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut sql = QueryBuilder::<Postgres>::new(
        "SELECT id, dl_sequence, source, subject, stream_sequence, event_id, event_type, code, reasons, \
                original_base64, rejected_at \
         FROM dead_letters WHERE dl_sequence > ",
    );
    sql.push_bind(page.after);
    if let Some(source) = query.source {
        sql.push(" AND source = ").push_bind(source);
    }
    sql.push(" ORDER BY dl_sequence LIMIT ")
        .push_bind(page.fetch_limit());
    let rows: Vec<DeadLetter> = sql.build_query_as().fetch_all(&state.pool).await?;
    Ok(Json(page.page(rows, |row| row.dl_sequence)))
}
