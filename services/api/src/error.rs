//! The one error type at the HTTP edge: every failure becomes `{"error":{"code":..,"message":..}}`
//! with a stable code. Server-side failures are logged here, once, and never leaked to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A path id that is not a UUID (400 `invalid_id`).
    #[error("{0}")]
    InvalidId(String),
    /// A query parameter that is malformed, out of range or unknown (400 `invalid_query`).
    #[error("{0}")]
    InvalidQuery(String),
    /// No such resource (404 `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// A route asked with a method other than `GET`/`HEAD` (405 `method_not_allowed`; the API is
    /// read-only).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The resource is stored in its stream but the read model could not take it (404
    /// `not_projected`; `GET /v1/quarantine` says why).
    #[error("{0}")]
    NotProjected(String),
    /// Postgres is not answering (503 `not_ready`), for `/readyz`.
    #[error("the read model database is not reachable")]
    NotReady(#[source] anyhow::Error),
    /// The read models had not reached the position the request asked for (`min_seq`) within its
    /// wait (503 `not_yet_projected`).
    #[error(
        "the read model of {stream} has applied sequence {applied}, not yet {asked}; ask again"
    )]
    NotYetProjected {
        /// The stream asked for.
        stream: String,
        /// The sequence asked for.
        asked: u64,
        /// The sequence applied so far.
        applied: u64,
    },
    /// The request took longer than its limit (503 `timeout`).
    #[error("the request took longer than {0} ms")]
    Timeout(u64),
    /// Anything else (500 `internal`): logged, never shown.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::Internal(error.into())
    }
}

impl ApiError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidId(_) => "invalid_id",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::NotProjected(_) => "not_projected",
            ApiError::NotReady(_) => "not_ready",
            ApiError::Timeout(_) => "timeout",
            ApiError::NotYetProjected { .. } => "not_yet_projected",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidId(_) | ApiError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) | ApiError::NotProjected(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotReady(_) | ApiError::Timeout(_) | ApiError::NotYetProjected { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The JSON body of every error.
#[derive(Debug, Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Debug, Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed")
            }
            ApiError::NotReady(error) => tracing::warn!(error = format!("{error:#}"), "not ready"),
            ApiError::Timeout(_) => tracing::warn!("{self}"),
            ApiError::InvalidId(_)
            | ApiError::InvalidQuery(_)
            | ApiError::NotFound(_)
            | ApiError::MethodNotAllowed(_)
            | ApiError::NotYetProjected { .. }
            | ApiError::NotProjected(_) => {}
        }
        let body = Body {
            error: Detail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::MethodNotAllowed(_)) {
            response.headers_mut().insert(
                axum::http::header::ALLOW,
                axum::http::HeaderValue::from_static("GET, HEAD"),
            );
        }
        response
    }
}
