//! The transparency logs over HTTP, as C2SP clients read them (`text/plain`, not JSON):
//!
//! - `GET /v1/logs/{log}/checkpoint`: the latest signed checkpoint with its witnesses' cosignatures.
//! - `GET /v1/logs/{log}/proof/{event_id}`: a `c2sp.org/tlog-proof@v1` bundle proving the event is
//!   in that checkpoint (without `extra`: the client holds the event's stored bytes).
//! - `GET /v1/logs/{log}/consistency?from=N&to=M`: `old N`, the consistency proof, and the
//!   checkpoint of size `M` (the latest without `to`), as a witness's `add-checkpoint` takes it.
//!
//! Nothing here needs trusting: a client verifies each answer with the log's pinned key.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use buendel_transparency::proofs::{self, ProofError};
use buendel_transparency::{Log, TreeStore};

use crate::error::ApiError;
use crate::page::invalid_query;
use crate::AppState;

fn log_of(name: &str) -> Result<Log, ApiError> {
    name.parse()
        .map_err(|e: buendel_transparency::UnknownLog| ApiError::NotFound(e.to_string()))
}

fn text(body: String) -> Response {
    ([(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn api_error(error: ProofError) -> ApiError {
    match error {
        ProofError::Tree(error) => ApiError::Internal(error.into()),
        ProofError::Compute(reason) => ApiError::Internal(anyhow::anyhow!(reason)),
        ProofError::Order { .. } => ApiError::InvalidQuery(error.to_string()),
        other => ApiError::NotFound(other.to_string()),
    }
}

/// `GET /v1/logs/{log}/checkpoint`.
pub async fn checkpoint(
    State(state): State<AppState>,
    Path(log): Path<String>,
) -> Result<Response, ApiError> {
    let log = log_of(&log)?;
    let tree = TreeStore::new(state.pool.clone());
    let latest = tree
        .latest_checkpoint(log)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or_else(|| ApiError::NotFound(format!("the {log} log has no checkpoint yet")))?;
    Ok(text(latest.cosigned))
}

/// `GET /v1/logs/{log}/proof/{event_id}`.
pub async fn proof(
    State(state): State<AppState>,
    Path((log, event_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let log = log_of(&log)?;
    let event_id = Uuid::parse_str(&event_id)
        .map_err(|_| ApiError::InvalidId(format!("{event_id:?} is not a UUID")))?;
    let tree = TreeStore::new(state.pool.clone());
    let (bundle, _seq) = proofs::inclusion(&tree, log, event_id)
        .await
        .map_err(api_error)?;
    Ok(text(bundle.to_text()))
}

/// The query of `GET /v1/logs/{log}/consistency`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The earlier tree size.
    from: u64,
    /// The size of a checkpoint (the latest when omitted).
    to: Option<u64>,
}

/// `GET /v1/logs/{log}/consistency?from=N&to=M`.
pub async fn consistency(
    State(state): State<AppState>,
    Path(log): Path<String>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let log = log_of(&log)?;
    let Query(query) = query.map_err(invalid_query)?;
    let tree = TreeStore::new(state.pool.clone());
    let bundle = proofs::consistency(&tree, log, query.from, query.to)
        .await
        .map_err(api_error)?;
    Ok(text(bundle.to_text()))
}
