//! The ops listener every `serve` process runs beside its work (`--ops-addr`, `BUENDEL_OPS_ADDR`):
//!
//! - `GET /healthz`: 200 while the process answers;
//! - `GET /readyz`: 200 when NATS is connected, each of its durable consumers is bound and not
//!   stalled, and Postgres answers where the process uses it; 503 with every failed check otherwise;
//! - `GET /metrics`: the process's counters ([`crate::metrics`]) and, read at scrape time, each
//!   durable's lag, pending acks and redeliveries, the streams' last sequences and, for the
//!   projector, the read models' lag per stream and the quarantined events.
//!
//! A consumer is **stalled** when it has work (messages pending or unacknowledged) and its ack floor
//! has not moved for `stall_ms`: a handler that hangs, a lane that no longer drains.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use buendel_contract::namespace::StreamKind;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::metrics::{self, sample};
use crate::{CancellationToken, EventStore};

/// How long one check may take.
pub const CHECK_TIMEOUT_MS: u64 = 2_000;
/// A consumer with work whose ack floor has not moved for this long is stalled (default).
pub const STALL_MS: u64 = 60_000;

/// What the ops listener of one process looks at.
pub struct Ops {
    client: async_nats::Client,
    store: EventStore,
    /// The durable consumers the process reads with: stream and consumer name.
    durables: Vec<(StreamKind, String)>,
    /// Postgres, where the process uses it.
    pool: Option<PgPool>,
    /// The streams whose projection lag to report (the projector's).
    projected: Vec<StreamKind>,
    stall_ms: u64,
    /// Per consumer: the last ack floor seen, and since when.
    floors: Mutex<HashMap<String, (u64, Instant)>>,
}

/// One figure of a consumer, by its series name.
type Gauge = fn(&ConsumerState) -> u64;

/// One durable consumer as read at a check.
struct ConsumerState {
    stream: String,
    consumer: String,
    pending: u64,
    ack_pending: u64,
    redelivered: u64,
    ready: bool,
    problem: Option<String>,
}

impl Ops {
    /// The ops of a process on `client` and `store`.
    pub fn new(client: async_nats::Client, store: EventStore) -> Self {
        Self {
            client,
            store,
            durables: Vec::new(),
            pool: None,
            projected: Vec::new(),
            stall_ms: STALL_MS,
            floors: Mutex::default(),
        }
    }

    /// Also watches the durable consumer `consumer` on `stream`.
    pub fn with_durable(mut self, stream: StreamKind, consumer: impl Into<String>) -> Self {
        self.durables.push((stream, consumer.into()));
        self
    }

    /// Also checks Postgres.
    pub fn with_pool(mut self, pool: PgPool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Also reports the projection lag of `streams`.
    pub fn with_projected(mut self, streams: &[StreamKind]) -> Self {
        self.projected.extend_from_slice(streams);
        self
    }

    /// A consumer with work is stalled after `stall_ms` without progress.
    pub fn with_stall_ms(mut self, stall_ms: u64) -> Self {
        self.stall_ms = stall_ms.max(1);
        self
    }

    fn nats_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    async fn consumers(&self) -> Vec<ConsumerState> {
        let mut states = Vec::with_capacity(self.durables.len());
        for (kind, consumer) in &self.durables {
            let stream = self.store.namespace().stream(*kind);
            let info = tokio::time::timeout(Duration::from_millis(CHECK_TIMEOUT_MS), async {
                let handle = self.store.stream(*kind).await.map_err(|e| e.to_string())?;
                handle
                    .consumer_info(consumer)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|_| Err(format!("no answer in {CHECK_TIMEOUT_MS} ms")));
            let state = match info {
                Err(error) => ConsumerState {
                    stream,
                    consumer: consumer.clone(),
                    pending: 0,
                    ack_pending: 0,
                    redelivered: 0,
                    ready: false,
                    problem: Some(format!("not bound: {error}")),
                },
                Ok(info) => {
                    let work = info.num_pending + info.num_ack_pending as u64;
                    let floor = info.ack_floor.stream_sequence;
                    let stalled_for = self.stalled_for(&stream, consumer, work, floor);
                    ConsumerState {
                        stream,
                        consumer: consumer.clone(),
                        pending: info.num_pending,
                        ack_pending: info.num_ack_pending as u64,
                        redelivered: info.num_redelivered as u64,
                        ready: stalled_for.is_none(),
                        problem: stalled_for.map(|ms| {
                            format!(
                                "stalled: {work} messages waiting, ack floor at {floor} for {ms} ms"
                            )
                        }),
                    }
                }
            };
            states.push(state);
        }
        states
    }

    /// How long the consumer has been stalled, if it is: it has work and its ack floor has not
    /// moved for `stall_ms`.
    fn stalled_for(&self, stream: &str, consumer: &str, work: u64, floor: u64) -> Option<u64> {
        let key = format!("{stream}/{consumer}");
        let now = Instant::now();
        let mut floors = self.floors.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = floors.entry(key).or_insert((floor, now));
        if work == 0 || entry.0 != floor {
            *entry = (floor, now);
            return None;
        }
        let ms = u64::try_from(now.duration_since(entry.1).as_millis()).unwrap_or(u64::MAX);
        (ms >= self.stall_ms).then_some(ms)
    }

    async fn postgres(&self) -> Option<Result<(), String>> {
        let pool = self.pool.as_ref()?;
        let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool);
        Some(
            match tokio::time::timeout(Duration::from_millis(CHECK_TIMEOUT_MS), ping).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!("no answer in {CHECK_TIMEOUT_MS} ms")),
            },
        )
    }

    /// Whether the process is ready, with every check.
    pub async fn readiness(&self) -> (bool, Value) {
        let nats = self.nats_connected();
        let consumers = self.consumers().await;
        let postgres = self.postgres().await;
        let ready = nats && consumers.iter().all(|c| c.ready) && !matches!(postgres, Some(Err(_)));
        let body = json!({
            "status": if ready { "ready" } else { "not_ready" },
            "nats": if nats { "connected" } else { "disconnected" },
            "consumers": consumers.iter().map(|c| json!({
                "stream": c.stream,
                "consumer": c.consumer,
                "ready": c.ready,
                "pending": c.pending,
                "ack_pending": c.ack_pending,
                "problem": c.problem,
            })).collect::<Vec<_>>(),
            "postgres": match &postgres {
                None => Value::Null,
                Some(Ok(())) => json!("ok"),
                Some(Err(error)) => json!(error),
            },
        });
        (ready, body)
    }

    /// The Prometheus text of this process.
    pub async fn render(&self) -> String {
        let mut out = String::new();
        metrics::global().render(&mut out);
        let nats = self.nats_connected();
        let consumers = self.consumers().await;
        let postgres = self.postgres().await;
        let ready = nats && consumers.iter().all(|c| c.ready) && !matches!(postgres, Some(Err(_)));
        let gauges: [(&str, Gauge); 4] = [
            (metrics::CONSUMER_PENDING, |c| c.pending),
            (metrics::CONSUMER_ACK_PENDING, |c| c.ack_pending),
            (metrics::CONSUMER_REDELIVERED, |c| c.redelivered),
            (metrics::CONSUMER_READY, |c| u64::from(c.ready)),
        ];
        for (name, value) in gauges {
            metrics::header(&mut out, name);
            for c in &consumers {
                let labels = [
                    ("stream", c.stream.clone()),
                    ("consumer", c.consumer.clone()),
                ];
                sample(&mut out, name, &labels, &[], value(c));
            }
        }
        let mut streams: Vec<StreamKind> = self.durables.iter().map(|(k, _)| *k).collect();
        streams.extend(&self.projected);
        streams.sort_by_key(|k| k.suffix());
        streams.dedup();
        let mut last = HashMap::new();
        metrics::header(&mut out, metrics::STREAM_LAST_SEQUENCE);
        for kind in streams {
            if let Ok(seq) = self.store.stream_last_sequence(kind).await {
                last.insert(kind, seq);
                let labels = [("stream", self.store.namespace().stream(kind))];
                sample(&mut out, metrics::STREAM_LAST_SEQUENCE, &labels, &[], seq);
            }
        }
        if let (Some(pool), false) = (&self.pool, self.projected.is_empty()) {
            self.render_projection(&mut out, pool, &last).await;
        }
        metrics::header(&mut out, metrics::NATS_CONNECTED);
        sample(&mut out, metrics::NATS_CONNECTED, &[], &[], u8::from(nats));
        metrics::header(&mut out, metrics::READY);
        sample(&mut out, metrics::READY, &[], &[], u8::from(ready));
        out
    }

    async fn render_projection(
        &self,
        out: &mut String,
        pool: &PgPool,
        last: &HashMap<StreamKind, u64>,
    ) {
        let checkpoints: Vec<(String, i64)> =
            sqlx::query_as("SELECT stream, last_sequence FROM checkpoints")
                .fetch_all(pool)
                .await
                .unwrap_or_default();
        let quarantined: Vec<(String, i64)> =
            sqlx::query_as("SELECT stream, count(*) FROM projection_quarantine GROUP BY stream")
                .fetch_all(pool)
                .await
                .unwrap_or_default();
        metrics::header(out, metrics::PROJECTION_LAG);
        for kind in &self.projected {
            let Some(last) = last.get(kind) else { continue };
            let applied = checkpoints
                .iter()
                .find(|(s, _)| s == kind.suffix())
                .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
            let labels = [("stream", self.store.namespace().stream(*kind))];
            sample(
                out,
                metrics::PROJECTION_LAG,
                &labels,
                &[],
                last.saturating_sub(applied),
            );
        }
        metrics::header(out, metrics::QUARANTINED_EVENTS);
        for kind in &self.projected {
            let count = quarantined
                .iter()
                .find(|(s, _)| s == kind.suffix())
                .map_or(0, |(_, n)| *n);
            let labels = [("stream", self.store.namespace().stream(*kind))];
            sample(out, metrics::QUARANTINED_EVENTS, &labels, &[], count);
        }
    }
}

/// The ops routes over `ops`.
pub fn router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(ops)
}

async fn readyz(State(ops): State<Arc<Ops>>) -> Response {
    let (ready, body) = ops.readiness().await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics_text(State(ops): State<Arc<Ops>>) -> Response {
    let text = ops.render().await;
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// Listens on `addr` and serves the ops routes until `shutdown`; returns the address bound (port 0
/// picks a free one) and the task.
pub async fn serve(
    addr: SocketAddr,
    ops: Arc<Ops>,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for /healthz, /readyz and /metrics; choose another with --ops-addr"))?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        axum::serve(listener, router(ops))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .context("the ops listener failed")
    });
    Ok((bound, task))
}
