//! `GET /metrics` in the Prometheus text format: a request counter kept in memory (by route and
//! status), and gauges read from the read models at scrape time (checkpoints, proposals by combined
//! status as in [`crate::status`], dead letters by source, quarantined events by stream). When Postgres does not answer, the
//! counters are still served and `buendel_read_model_up` is 0.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;

use buendel_runtime::metrics::escape;

use crate::AppState;

/// The Prometheus text exposition format's content type.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route label of requests no route matched (so arbitrary paths cannot blow up the label set).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Counters kept by the API process itself.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests served, by (route template, status code).
    requests: Mutex<BTreeMap<(String, u16), u64>>,
}

impl Metrics {
    /// Counts one served request.
    pub fn record(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        *requests.entry((route.to_owned(), status)).or_insert(0) += 1;
    }

    /// The requests served so far, by (route, status).
    pub fn requests(&self) -> BTreeMap<(String, u16), u64> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Middleware counting every response by its route template (not the raw path) and status.
pub async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_owned(),
        |path| path.as_str().to_owned(),
    );
    let response = next.run(request).await;
    state.metrics.record(&route, response.status().as_u16());
    response
}

/// `GET /metrics`.
#[tracing::instrument(skip_all)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    write_requests(&mut out, &state.metrics);
    let gauges = read_gauges(&state.pool).await;
    header(
        &mut out,
        "buendel_read_model_up",
        "gauge",
        "1 when the read model database answered this scrape.",
    );
    let _ = writeln!(out, "buendel_read_model_up {}", u8::from(gauges.is_ok()));
    match gauges {
        Ok(gauges) => write_gauges(&mut out, &gauges),
        Err(error) => tracing::warn!(
            error = format!("{error:#}"),
            "metrics: the read model database did not answer"
        ),
    }
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], out).into_response()
}

/// The gauges read from Postgres.
struct Gauges {
    checkpoints: Vec<(String, i64)>,
    proposals: Vec<(String, i64)>,
    dead_letters: Vec<(String, i64)>,
    quarantined: Vec<(String, i64)>,
}

/// The streams the projector reads, so the quarantine gauge has a sample (0) for each.
const PROJECTED_STREAMS: [&str; 4] = ["DEADLETTER", "LEDGER", "PROPOSALS", "REVIEWS"];

async fn read_gauges(pool: &PgPool) -> anyhow::Result<Gauges> {
    let checkpoints =
        sqlx::query_as("SELECT stream, last_sequence FROM checkpoints ORDER BY stream")
            .fetch_all(pool)
            .await?;
    let proposals = crate::status::counts_by_status(pool)
        .await?
        .into_iter()
        .collect();
    let dead_letters =
        sqlx::query_as("SELECT source, count(*) FROM dead_letters GROUP BY source ORDER BY source")
            .fetch_all(pool)
            .await?;
    let found = crate::quarantine::counts(pool).await?;
    let quarantined = PROJECTED_STREAMS
        .iter()
        .map(|&stream| {
            let count = found
                .iter()
                .find(|(s, _)| s == stream)
                .map_or(0, |(_, n)| *n);
            (stream.to_owned(), count)
        })
        .collect();
    Ok(Gauges {
        checkpoints,
        proposals,
        dead_letters,
        quarantined,
    })
}

fn write_requests(out: &mut String, metrics: &Metrics) {
    header(
        out,
        "buendel_http_requests_total",
        "counter",
        "HTTP requests served, by route and status.",
    );
    for ((route, status), count) in metrics.requests() {
        let _ = writeln!(
            out,
            "buendel_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
            escape(&route)
        );
    }
}

fn write_gauges(out: &mut String, gauges: &Gauges) {
    let families = [
        (
            "buendel_projection_checkpoint",
            "stream",
            "The last stream sequence each projection has applied.",
            &gauges.checkpoints,
        ),
        (
            "buendel_proposals",
            "status",
            "Proposals in the read model, by combined status.",
            &gauges.proposals,
        ),
        (
            "buendel_dead_letters",
            "source",
            "Dead letters in the read model, by source.",
            &gauges.dead_letters,
        ),
        (
            "buendel_projection_quarantined_events",
            "stream",
            "Events the projector could not take into the read models (GET /v1/quarantine), by stream.",
            &gauges.quarantined,
        ),
    ];
    for (name, label, help, samples) in families {
        header(out, name, "gauge", help);
        for (value, sample) in samples {
            let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {sample}", escape(value));
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_and_status() {
        let metrics = Metrics::default();
        metrics.record("/v1/proposals", 200);
        metrics.record("/v1/proposals", 200);
        metrics.record("/v1/proposals", 400);
        let mut out = String::new();
        write_requests(&mut out, &metrics);
        assert!(
            out.contains("buendel_http_requests_total{route=\"/v1/proposals\",status=\"200\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("buendel_http_requests_total{route=\"/v1/proposals\",status=\"400\"} 1\n"),
            "{out}"
        );
    }
}
