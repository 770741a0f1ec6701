//! `GET /healthz` (the process answers) and `GET /readyz` (and its database answers too).

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

/// How long `/readyz` waits for `SELECT 1`.
pub const READY_TIMEOUT_MS: u64 = 2_000;

/// `GET /healthz`: 200 whenever the process serves requests.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when Postgres answers, 503 `not_ready` otherwise.
///
/// The body reports quarantined events (`status` `degraded`, with the count per stream): the API
/// still serves everything else, so it stays ready; an operator pages on the count
/// (`buendel_projection_quarantined_events`).
#[tracing::instrument(skip_all)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let ping = crate::quarantine::counts(&state.pool);
    match tokio::time::timeout(Duration::from_millis(READY_TIMEOUT_MS), ping).await {
        Ok(Ok(counts)) => {
            let total: i64 = counts.iter().map(|(_, n)| n).sum();
            let by_stream: serde_json::Map<String, Value> =
                counts.into_iter().map(|(s, n)| (s, json!(n))).collect();
            let status = if total == 0 { "ready" } else { "degraded" };
            Ok(Json(json!({
                "status": status,
                "quarantined_events": total,
                "quarantined_by_stream": by_stream,
            })))
        }
        Ok(Err(error)) => Err(ApiError::NotReady(error.into())),
        Err(_) => Err(ApiError::NotReady(anyhow::anyhow!(
            "the read model took longer than {READY_TIMEOUT_MS} ms to answer"
        ))),
    }
}
