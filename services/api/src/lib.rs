//! The read-only HTTP query API over the Postgres read models (axum).
//!
//! Layout:
//! - [`app`] builds the [`Router`] (tests call it with `tower::ServiceExt::oneshot`), [`serve`] runs
//!   it on a listener until a [`CancellationToken`] is cancelled.
//! - [`proposals`]: `GET /v1/proposals`, `GET /v1/proposals/{id}`; [`review`] and [`money`]: the
//!   latter's `review` and `money` parts; [`status`]: the one rule combining the proposal's, the
//!   review's and the ledger's status.
//! - [`funds`]: `GET /v1/funds`, `GET /v1/funds/{id}` (`?as_of=`), `GET /v1/funds/{id}/entries`
//!   (`?format=csv|xlsx`): the funding ledger's figures, trial balance and journal.
//! - [`export`]: the CSV and XLSX exports of the journal, `GET /v1/proposals` and `GET /v1/claims`
//!   (`?format=csv|xlsx&lang=en|de`); [`report`]: `GET /v1/report?year=`, the programme's annual
//!   report (printable HTML or JSON).
//! - [`alliances`]: `GET /v1/alliances`, `GET /v1/alliances/{id}`.
//! - [`deadletters`]: `GET /v1/deadletters`.
//! - [`logs`]: the transparency logs' checkpoints and proofs (`text/plain`, C2SP formats).
//! - [`dashboard`]: `GET /v1/pipeline`, `/v1/funds/{id}/history`, `/v1/decision-times`,
//!   `/v1/exceptions`: what the dashboard plots; [`ui`]: the dashboard itself at `GET /`.
//! - [`health`]: `GET /healthz`, `GET /readyz`.
//! - [`metrics`]: `GET /metrics` (Prometheus text) and the request-counting middleware.
//! - [`page`]: cursor pagination; [`error`]: the one [`ApiError`] every handler returns.
//! - `GET /openapi.json` serves `docs/openapi.json`, which describes every route in [`routes`].

pub mod alliances;
pub mod claims;
pub mod consistency;
pub mod dashboard;
pub mod deadletters;
pub mod error;
pub mod export;
pub mod funds;
pub mod health;
pub mod logs;
pub mod metrics;
pub mod money;
pub mod page;
pub mod proposals;
pub mod quarantine;
pub mod recovery;
pub mod report;
pub mod review;
pub mod status;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use sqlx::PgPool;

use buendel_runtime::clock::Clock;
use buendel_runtime::CancellationToken;

pub use error::ApiError;
pub use metrics::Metrics;

/// The OpenAPI 3.1 document of this API (`docs/openapi.json`), compiled in.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// How long one request may take before it is answered with 503 `timeout`.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The read models.
    pub pool: PgPool,
    /// Request counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The business date's clock: what "today" is where a request does not say (`as_of`).
    pub clock: Clock,
}

impl AppState {
    /// A state over a pool, with fresh counters.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            metrics: Arc::default(),
            clock: Clock::system(),
        }
    }

    /// The same state on another clock (the services' `--clock`).
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }
}

/// Every route of the API (all `GET`, the API is read-only). [`app`] is built from exactly this
/// list, and a test checks each is described in `docs/openapi.json`.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/v1/proposals", get(proposals::list)),
        ("/v1/proposals/{id}", get(proposals::get)),
        ("/v1/alliances", get(alliances::list)),
        ("/v1/alliances/{id}", get(alliances::get)),
        ("/v1/funds", get(funds::list)),
        ("/v1/funds/{id}", get(funds::get)),
        ("/v1/funds/{id}/entries", get(funds::entries)),
        ("/v1/proposals/{id}/recovery", get(recovery::get)),
        ("/v1/retention", get(recovery::list)),
        ("/v1/claims", get(claims::list)),
        ("/v1/claims/{id}", get(claims::get)),
        ("/v1/report", get(report::get)),
        ("/v1/deadletters", get(deadletters::list)),
        ("/v1/quarantine", get(quarantine::list)),
        ("/v1/logs/{log}/checkpoint", get(logs::checkpoint)),
        ("/v1/logs/{log}/proof/{event_id}", get(logs::proof)),
        ("/v1/logs/{log}/consistency", get(logs::consistency)),
        ("/v1/pipeline", get(dashboard::pipeline)),
        ("/v1/funds/{id}/history", get(dashboard::history)),
        ("/v1/decision-times", get(dashboard::decision_times)),
        ("/v1/exceptions", get(dashboard::exceptions)),
        ("/", get(ui::index)),
        ("/ui/app.js", get(ui::app_js)),
        ("/ui/app.css", get(ui::app_css)),
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
        ("/metrics", get(metrics::metrics)),
        ("/openapi.json", get(openapi)),
    ]
}

/// Answers `GET path` (with its query) through the router, in process, as a client over HTTP
/// would get it: the status and the body as JSON (`null` for a body that is not JSON). The CLI's
/// query subcommands (`buendel proposals|funds|deadletters`) read the read models this way, so
/// they show exactly what the API shows.
pub async fn get_json(state: AppState, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let (status, bytes) = get_bytes(state, path).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    ))
}

/// Answers `GET path` through the router, in process, like [`get_json`], with the body as it is
/// (a CSV or XLSX export, a report page): `buendel export` and `buendel report` write it to a file.
pub async fn get_bytes(state: AppState, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let request = axum::http::Request::get(path).body(axum::body::Body::empty())?;
    let response = app(state).oneshot(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes.to_vec()))
}

/// The router: every route, a JSON 404 for anything else and a JSON 405 for a method other than
/// `GET`, request counting and a time limit.
pub fn app(state: AppState) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, route)| {
            router.route(path, route)
        })
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            consistency::read_your_writes,
        ))
        .layer(middleware::from_fn(time_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` is cancelled, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let address = listener
        .local_addr()
        .context("reading the listener's address")?;
    tracing::info!(%address, "HTTP API listening");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("serving HTTP")?;
    tracing::info!("HTTP API stopped");
    Ok(())
}

/// A read-only transaction that sees one snapshot, for a handler that answers from several
/// statements: the projector commits between any two of them, and without one snapshot a reader
/// could see, say, a fund's balances after an entry beside its entry count before it.
pub async fn snapshot(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// `GET /openapi.json`.
async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

async fn no_route(request: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route {} {}",
        request.method(),
        request.uri().path()
    ))
}

async fn wrong_method(request: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} {}: the API is read-only, every route takes GET (and HEAD)",
        request.method(),
        request.uri().path()
    ))
}

async fn time_limit(request: Request, next: Next) -> Response {
    match tokio::time::timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(REQUEST_TIMEOUT_MS).into_response(),
    }
}
