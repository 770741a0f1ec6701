//! The runner: feeds one projection from its stream through a durable pull consumer.
//!
//! Loop: fetch a batch (everything already waiting, up to [`RunnerLimits::batch_max`]; when nothing
//! waits, block for the next message), apply it with its checkpoint in one transaction
//! ([`apply_batch_on`]) while fetching what waits behind it, and only after the commit acknowledge
//! the highest message at or below the new checkpoint (`AckPolicy::All` acknowledges everything
//! before it too). Messages beyond a hole are nak'd with a short delay so they come back after the
//! missing one. A batch that fails on one of its events is bisected and that event quarantined
//! ([`crate::quarantine`]); on any other failure the transaction is rolled back, the batch (and what
//! was fetched behind it) is nak'd with a delay, and the runner backs off (bounded) and goes on.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt as _;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use buendel_runtime::store::Stored;
use buendel_runtime::{CancellationToken, EventStore};

use crate::checkpoint::checkpoint;
use crate::projection::{Projection, ProjectionError};
use crate::quarantine::apply_isolating_on;

/// The service name durable consumers are named after (`ns.durable(SERVICE, kind)`).
pub const SERVICE: &str = "projector";

/// Every limit of the runner, passed explicitly.
#[derive(Debug, Clone)]
pub struct RunnerLimits {
    /// Messages per batch (and per transaction) at most. Large batches make a catch-up fast: the
    /// commit (a WAL flush) and every statement's fixed cost are shared by more events.
    pub batch_max: usize,
    /// Delivered but unacknowledged messages per consumer at most (server-side flow control).
    /// At least twice `batch_max`, so that the next batch can be fetched while one is written.
    pub ack_pending_max: i64,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait_ms: u64,
    /// How long one blocking pull waits for a message before the runner looks again.
    pub idle_wait_ms: u64,
    /// Redelivery delay of messages that arrived beyond a hole.
    pub hole_delay_ms: u64,
    /// First backoff after a failure; doubles on each failure in a row.
    pub backoff_min_ms: u64,
    /// Longest backoff.
    pub backoff_max_ms: u64,
    /// Fault seam (tests only): commit every batch but never acknowledge it, as a projector that
    /// dies between its commit and its ack.
    pub fault_skip_acks: bool,
}

impl Default for RunnerLimits {
    fn default() -> Self {
        Self {
            batch_max: 2_000,
            ack_pending_max: 8_000,
            ack_wait_ms: 30_000,
            idle_wait_ms: 2_000,
            hole_delay_ms: 250,
            backoff_min_ms: 100,
            backoff_max_ms: 10_000,
            fault_skip_acks: false,
        }
    }
}

/// One delivered message: what the projection needs, and the handle to acknowledge it.
struct Delivery {
    stored: Stored,
    message: jetstream::Message,
    /// The projector's span of this event, in the event's trace (`project`); it closes when the
    /// delivery is dropped, after its batch is committed and acknowledged (or given back).
    _span: Option<tracing::Span>,
}

/// Runs one projection until `shutdown` is cancelled. Failures are logged and retried; it returns
/// only on shutdown.
///
/// While a batch is written to Postgres, the next one is already being fetched from JetStream
/// (without blocking: only what is waiting), so neither waits for the other during a catch-up.
/// The fetched batch is applied only after the previous one committed and was acknowledged, and
/// each batch is acknowledged only after its own commit. One Postgres connection is kept across
/// batches (its prepared statements are reused) and dropped after any failure.
pub async fn run_projection<P: Projection>(
    store: &EventStore,
    pool: &PgPool,
    projection: &P,
    limits: &RunnerLimits,
    shutdown: &CancellationToken,
) {
    let stream = store.namespace().stream(projection.stream());
    let mut backoff = Backoff::new(limits);
    let mut consumer: Option<PullConsumer> = None;
    let mut conn: Option<PoolConnection<Postgres>> = None;
    let mut prefetched: Vec<Delivery> = Vec::new();
    while !shutdown.is_cancelled() {
        let current = match &consumer {
            Some(current) => current,
            None => match open_consumer(store, pool, projection, limits).await {
                Ok(opened) => consumer.insert(opened),
                Err(error) => {
                    tracing::warn!(%stream, error = format!("{error:#}"), "cannot open the projector consumer");
                    sleep_or_cancel(backoff.next(), shutdown).await;
                    continue;
                }
            },
        };
        let batch = if prefetched.is_empty() {
            match next_batch(current, limits, shutdown).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%stream, %error, "fetching from the projector consumer failed");
                    consumer = None;
                    sleep_or_cancel(backoff.next(), shutdown).await;
                    continue;
                }
            }
        } else {
            std::mem::take(&mut prefetched)
        };
        if batch.is_empty() {
            continue;
        }
        let stored: Vec<Stored> = batch.iter().map(|d| d.stored.clone()).collect();
        let (applied, next) = tokio::join!(
            apply(pool, &mut conn, projection, &stored),
            waiting(current, limits),
        );
        match next {
            Ok(next) => prefetched = next,
            Err(error) => {
                // Nothing arrived (a pull that fails midway keeps what did); reopen the consumer.
                tracing::warn!(%stream, %error, "prefetching from the projector consumer failed");
                consumer = None;
            }
        }
        match applied {
            Ok(checkpoint) => {
                backoff.reset();
                settle(&batch, checkpoint, limits).await;
            }
            Err(error) => {
                conn = None;
                let delay = backoff.next();
                tracing::error!(
                    %stream,
                    first = stored.first().map(|s| s.sequence),
                    last = stored.last().map(|s| s.sequence),
                    %error,
                    retry_in = ?delay,
                    "projecting a batch failed; rolled back, will retry"
                );
                nak_all(&batch, delay).await;
                nak_all(&std::mem::take(&mut prefetched), delay).await;
                sleep_or_cancel(delay, shutdown).await;
            }
        }
    }
    // Hand back what was fetched ahead, so the next instance gets it now rather than after
    // `ack_wait`.
    nak_all(&prefetched, Duration::ZERO).await;
}

/// [`apply_isolating_on`] on the kept connection, acquiring one first if there is none: a batch
/// that fails on one of its events quarantines that event and applies the rest.
async fn apply<P: Projection>(
    pool: &PgPool,
    conn: &mut Option<PoolConnection<Postgres>>,
    projection: &P,
    stored: &[Stored],
) -> Result<u64, ProjectionError> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(pool.acquire().await?),
    };
    Ok(apply_isolating_on(conn, projection, stored)
        .await?
        .checkpoint)
}

/// The durable consumer of this projection, created if missing.
///
/// If the consumer has acknowledged beyond the checkpoint, the database was reset under it (the
/// read model is empty or older): the consumer is recreated so the stream is replayed from 1. Its
/// ack floor is read before the checkpoint, so a concurrent instance moving both never trips this.
async fn open_consumer<P: Projection>(
    store: &EventStore,
    pool: &PgPool,
    projection: &P,
    limits: &RunnerLimits,
) -> anyhow::Result<PullConsumer> {
    let kind = projection.stream();
    let name = store.namespace().durable(SERVICE, kind);
    let stream = store.stream(kind).await?;
    if let Ok(info) = stream.consumer_info(&name).await {
        let checkpoint = checkpoint(pool, kind).await?;
        if info.ack_floor.stream_sequence > checkpoint {
            tracing::warn!(
                consumer = %name,
                ack_floor = info.ack_floor.stream_sequence,
                checkpoint,
                "the consumer is ahead of the read model (database reset?); replaying from 1"
            );
            stream.delete_consumer(&name).await?;
        }
    }
    let config = pull::Config {
        durable_name: Some(name.clone()),
        description: Some(format!(
            "Bündel projector for {}",
            store.namespace().stream(kind)
        )),
        ack_policy: AckPolicy::All,
        deliver_policy: DeliverPolicy::All,
        ack_wait: Duration::from_millis(limits.ack_wait_ms),
        max_ack_pending: limits.ack_pending_max,
        ..Default::default()
    };
    Ok(stream.get_or_create_consumer(&name, config).await?)
}

/// Everything already waiting (up to `batch_max`) without blocking; when nothing waits, blocks up
/// to `idle_wait_ms` for the next message (the rest follow on the next call).
async fn next_batch(
    consumer: &PullConsumer,
    limits: &RunnerLimits,
    shutdown: &CancellationToken,
) -> Result<Vec<Delivery>, async_nats::Error> {
    let batch = waiting(consumer, limits).await?;
    if !batch.is_empty() {
        return Ok(batch);
    }
    let next = consumer
        .batch()
        .max_messages(1)
        .expires(Duration::from_millis(limits.idle_wait_ms))
        .messages()
        .await?;
    // The server ends the pull when it expires; a pull lost with a consumer leader that died would
    // never end, so the client gives up a little later and the runner reopens the consumer.
    let limit = Duration::from_millis(limits.idle_wait_ms.saturating_add(PULL_GRACE_MS));
    tokio::select! {
        () = shutdown.cancelled() => Ok(Vec::new()),
        batch = tokio::time::timeout(limit, collect(next)) => batch.unwrap_or_else(|_| Err(lost_pull())),
    }
}

/// How long after its expiry (or at once, for a pull that waits for nothing) a pull may stay
/// unanswered before the runner takes it for lost.
pub const PULL_GRACE_MS: u64 = 5_000;

fn lost_pull() -> async_nats::Error {
    "a pull went unanswered (a consumer leader lost?)".into()
}

/// Everything already waiting, up to `batch_max`, without blocking (empty when nothing waits).
async fn waiting(
    consumer: &PullConsumer,
    limits: &RunnerLimits,
) -> Result<Vec<Delivery>, async_nats::Error> {
    let waiting = consumer
        .fetch()
        .max_messages(limits.batch_max)
        .messages()
        .await?;
    tokio::time::timeout(Duration::from_millis(PULL_GRACE_MS), collect(waiting))
        .await
        .unwrap_or_else(|_| Err(lost_pull()))
}

async fn collect(mut messages: pull::Batch) -> Result<Vec<Delivery>, async_nats::Error> {
    let mut out = Vec::new();
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            // Keep what arrived; the error shows up again on the next pull if it persists.
            Err(error) if !out.is_empty() => {
                tracing::debug!(%error, "pull ended early");
                break;
            }
            Err(error) => return Err(error),
        };
        let sequence = message.info()?.stream_sequence;
        let stored = Stored {
            sequence,
            subject: message.subject.to_string(),
            payload: message.payload.clone(),
            trace: buendel_runtime::trace::from_headers(message.headers.as_ref()),
        };
        // A span per event only where spans are exported and the event carries a trace: a
        // catch-up of the whole history pays nothing for it otherwise.
        let span = stored
            .trace
            .filter(|_| buendel_runtime::otlp::exporting())
            .map(|parent| {
                buendel_runtime::trace::span("project", SERVICE, &stored.subject, Some(parent)).span
            });
        out.push(Delivery {
            stored,
            message,
            _span: span,
        });
    }
    Ok(out)
}

/// Acknowledges up to the checkpoint; naks what lies beyond it so it comes back in order.
async fn settle(batch: &[Delivery], checkpoint: u64, limits: &RunnerLimits) {
    if limits.fault_skip_acks {
        return;
    }
    let applied = batch
        .iter()
        .filter(|d| d.stored.sequence <= checkpoint)
        .max_by_key(|d| d.stored.sequence);
    if let Some(last) = applied {
        if let Err(error) = last.message.ack().await {
            // The rows are committed; a lost ack only means a redelivery, which the checkpoint skips.
            tracing::warn!(sequence = last.stored.sequence, %error, "ack failed after commit");
        }
    }
    let beyond: Vec<&Delivery> = batch
        .iter()
        .filter(|d| d.stored.sequence > checkpoint)
        .collect();
    if !beyond.is_empty() {
        tracing::debug!(
            checkpoint,
            deferred = beyond.len(),
            "messages beyond a hole deferred"
        );
        let delay = Duration::from_millis(limits.hole_delay_ms);
        for delivery in beyond {
            nak(delivery, delay).await;
        }
    }
}

async fn nak_all(batch: &[Delivery], delay: Duration) {
    for delivery in batch {
        nak(delivery, delay).await;
    }
}

async fn nak(delivery: &Delivery, delay: Duration) {
    if let Err(error) = delivery.message.ack_with(AckKind::Nak(Some(delay))).await {
        // Without the nak the server redelivers after `ack_wait`: slower, still correct.
        tracing::debug!(sequence = delivery.stored.sequence, %error, "nak failed");
    }
}

async fn sleep_or_cancel(delay: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(delay) => {}
    }
}

/// Exponential backoff between `backoff_min_ms` and `backoff_max_ms`.
struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    fn new(limits: &RunnerLimits) -> Self {
        let min = Duration::from_millis(limits.backoff_min_ms.max(1));
        let max = Duration::from_millis(limits.backoff_max_ms).max(min);
        Self {
            min,
            max,
            current: min,
        }
    }

    /// The delay to wait now; the next one is twice as long, up to the maximum.
    fn next(&mut self) -> Duration {
        let delay = self.current;
        self.current = self.current.saturating_mul(2).min(self.max);
        delay
    }

    fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_maximum_and_resets() {
        let limits = RunnerLimits {
            backoff_min_ms: 100,
            backoff_max_ms: 350,
            ..RunnerLimits::default()
        };
        let mut backoff = Backoff::new(&limits);
        let delays: Vec<u128> = (0..4).map(|_| backoff.next().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        backoff.reset();
        assert_eq!(backoff.next().as_millis(), 100);
    }
}
