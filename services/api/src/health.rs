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

/// `GET /readyz`: 200 when Postgres answers `SELECT 1`, 503 `not_ready` otherwise.
#[tracing::instrument(skip_all)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool);
    match tokio::time::timeout(Duration::from_millis(READY_TIMEOUT_MS), ping).await {
        Ok(Ok(_)) => Ok(Json(json!({ "status": "ready" }))),
        Ok(Err(error)) => Err(ApiError::NotReady(error.into())),
        Err(_) => Err(ApiError::NotReady(anyhow::anyhow!(
            "SELECT 1 took longer than {READY_TIMEOUT_MS} ms"
        ))),
    }
}
