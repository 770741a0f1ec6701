//! The limits of this machine, measured in the same run on the same servers: what NATS and Postgres
//! can do with no Bündel logic at all. Every Bündel figure is reported as a ratio of one of these.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer, message::PublishMessage as Publish, stream};
use bytes::Bytes;
use futures::StreamExt as _;
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::stats::{per_second, Latencies, LatencySummary};

/// The measured limits.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Limits {
    /// Raw JetStream publishes per second, each awaited before the next.
    pub publish_awaited_per_s: u64,
    /// Raw JetStream publishes per second with a window of outstanding acks.
    pub publish_windowed_per_s: u64,
    /// A request/reply service doing one JetStream publish with our headers, then replying.
    pub command_passthrough_per_s: u64,
    /// Its latency at the same concurrency.
    pub command_passthrough_latency: LatencySummary,
    /// Consume, publish with our headers, ack: messages per second.
    pub intake_passthrough_per_s: u64,
    /// An ordered consumer reading a stream: messages per second.
    pub ordered_read_per_s: u64,
    /// Batched Postgres upserts of rows like the projector's: rows per second.
    pub pg_upsert_per_s: u64,
    /// Decisions of two events per second through the event store (one atomic batch each where
    /// the server has them), `concurrency` at once on one stream; 0 when the server has none.
    pub atomic_pairs_per_s: u64,
}

/// How much work each baseline does.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Messages per NATS baseline.
    pub messages: usize,
    /// Rows for the Postgres baseline.
    pub rows: usize,
    /// Concurrent requesters (the same as the workload's publishers).
    pub concurrency: usize,
    /// Outstanding acks in the windowed publish.
    pub window: usize,
}

/// A payload the size of a typical Bündel event.
fn payload(i: usize) -> Bytes {
    Bytes::from(format!("{{\"specversion\":\"1.0\",\"id\":\"{}\",\"type\":\"bench\",\"data\":{{\"n\":{i},\"pad\":\"{}\"}}}}", Uuid::new_v4(), "x".repeat(600)))
}

async fn scratch_stream(
    js: &jetstream::Context,
    name: &str,
    subjects: &str,
) -> anyhow::Result<stream::Stream> {
    let _ = js.delete_stream(name).await;
    js.create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec![subjects.to_owned()],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("creating {name}: {e}"))
}

fn publish_with_headers(i: usize, expected: u64) -> Publish {
    Publish::build()
        .payload(payload(i))
        .message_id(Uuid::new_v4().to_string())
        .expected_last_subject_sequence(expected)
}

/// Measures every limit in the namespace `prefix` (its scratch streams are deleted afterwards).
pub async fn measure(
    client: &async_nats::Client,
    pool: &PgPool,
    prefix: &str,
    sizes: Sizes,
) -> anyhow::Result<Limits> {
    let js = jetstream::new(client.clone());
    let name = format!("{}_BENCH_RAW", prefix.to_ascii_uppercase());
    let subjects = format!("{prefix}.benchraw.>");
    scratch_stream(&js, &name, &subjects).await?;
    let mut limits = Limits::default();

    // Awaited one by one, one aggregate subject per message, with our headers.
    let started = Instant::now();
    for i in 0..sizes.messages {
        js.send_publish(
            format!("{prefix}.benchraw.a{i}"),
            publish_with_headers(i, 0),
        )
        .await?
        .await?;
    }
    limits.publish_awaited_per_s = per_second(sizes.messages, started.elapsed());

    // With a window of outstanding acks.
    let started = Instant::now();
    let mut acks = std::collections::VecDeque::with_capacity(sizes.window);
    for i in 0..sizes.messages {
        if acks.len() >= sizes.window {
            if let Some(ack) = acks.pop_front() {
                let ack: jetstream::context::PublishAckFuture = ack;
                ack.await?;
            }
        }
        acks.push_back(
            js.send_publish(
                format!("{prefix}.benchraw.w{i}"),
                publish_with_headers(i, 0),
            )
            .await?,
        );
    }
    for ack in acks {
        ack.await?;
    }
    limits.publish_windowed_per_s = per_second(sizes.messages, started.elapsed());

    // Ordered consumer over everything just written.
    let total = sizes.messages * 2;
    let stream = js.get_stream(&name).await?;
    let ordered = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subjects.clone(),
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    let mut messages = ordered.messages().await?;
    let mut read = 0;
    while read < total {
        match tokio::time::timeout(Duration::from_secs(30), messages.next()).await {
            Ok(Some(Ok(_))) => read += 1,
            other => anyhow::bail!(
                "ordered read stopped after {read}: {:?}",
                other.map(|o| o.map(|r| r.err()))
            ),
        }
    }
    limits.ordered_read_per_s = per_second(read, started.elapsed());
    drop(messages);

    let (rate, latency) = command_passthrough(client, &js, prefix, sizes).await?;
    limits.command_passthrough_per_s = rate;
    limits.command_passthrough_latency = latency;
    limits.intake_passthrough_per_s = intake_passthrough(&js, prefix, sizes).await?;
    limits.pg_upsert_per_s = pg_upsert(pool, sizes.rows).await?;
    limits.atomic_pairs_per_s = atomic_pairs(client, prefix, sizes).await?;
    let _ = js.delete_stream(&name).await;
    Ok(limits)
}

/// Two-event decisions through [`EventStore::append`] on a scratch namespace's PROPOSALS.
async fn atomic_pairs(
    client: &async_nats::Client,
    prefix: &str,
    sizes: Sizes,
) -> anyhow::Result<u64> {
    use buendel_contract::namespace::StreamKind;
    use buendel_runtime::store::{EventStore, Pending};
    use futures::StreamExt as _;

    let ns = buendel_contract::Namespace::new(format!("{prefix}pairs"))?;
    let store = EventStore::new(client.clone(), ns);
    if !store.capabilities().atomic_batch {
        return Ok(0);
    }
    store.ensure_streams(&[StreamKind::Proposals]).await?;
    let decisions = sizes.messages / 2;
    let started = Instant::now();
    let results: Vec<Result<Vec<u64>, _>> = futures::stream::iter(0..decisions)
        .map(|i| {
            let store = store.clone();
            async move {
                let subject = store
                    .namespace()
                    .subject(StreamKind::Proposals, Uuid::new_v4());
                let pair = [0, 1].map(|k| Pending {
                    id: Uuid::new_v4(),
                    payload: payload(2 * i + k),
                });
                store.append(&subject, 0, &pair).await
            }
        })
        .buffer_unordered(sizes.concurrency)
        .collect()
        .await;
    let rate = per_second(decisions, started.elapsed());
    let _ = store.delete_streams().await;
    if let Some(Err(error)) = results.into_iter().find(Result::is_err) {
        anyhow::bail!("an atomic pair failed: {error}");
    }
    Ok(rate)
}

/// A micro service endpoint doing exactly one JetStream publish per request, then replying.
async fn command_passthrough(
    client: &async_nats::Client,
    js: &jetstream::Context,
    prefix: &str,
    sizes: Sizes,
) -> anyhow::Result<(u64, LatencySummary)> {
    use async_nats::service::ServiceExt as _;
    let service = client
        .service_builder()
        .start(format!("{prefix}_benchpass"), "0.0.1".to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut endpoint = service
        .endpoint(format!("{prefix}.benchpass.cmd"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let responder_js = js.clone();
    let responder_prefix = prefix.to_owned();
    let responder = tokio::spawn(async move {
        let mut tasks = JoinSet::new();
        while let Some(request) = endpoint.next().await {
            let js = responder_js.clone();
            let subject = format!("{responder_prefix}.benchraw.c{}", Uuid::new_v4().simple());
            tasks.spawn(async move {
                let published = match js.send_publish(subject, publish_with_headers(0, 0)).await {
                    Ok(ack) => ack.await.map(|a| a.sequence).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let body = match published {
                    Ok(sequence) => format!("{{\"ok\":true,\"sequence\":{sequence}}}"),
                    Err(e) => format!("{{\"ok\":false,\"error\":{e:?}}}"),
                };
                let _ = request.respond(Ok(Bytes::from(body))).await;
            });
            while tasks.try_join_next().is_some() {}
        }
    });
    let subject = format!("{prefix}.benchpass.cmd");
    let (rate, latency) =
        drive_requests(client, &subject, sizes.messages, sizes.concurrency).await?;
    responder.abort();
    let _ = service.stop().await;
    Ok((rate, latency))
}

/// Sends `count` requests with `concurrency` in flight; returns the rate and latencies.
pub async fn drive_requests(
    client: &async_nats::Client,
    subject: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<(u64, LatencySummary)> {
    let limit = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for i in 0..count {
        let permit = limit.clone().acquire_owned().await?;
        let client = client.clone();
        let subject = subject.to_owned();
        tasks.spawn(async move {
            let sent = Instant::now();
            let reply = client.request(subject, payload(i)).await;
            drop(permit);
            reply.map(|_| sent.elapsed())
        });
    }
    let mut latencies = Latencies::default();
    while let Some(done) = tasks.join_next().await {
        latencies.record(done?.context("request")?);
    }
    Ok((per_second(count, started.elapsed()), latencies.summary()))
}

/// Consume from a stream, publish with our headers, ack: the intake path with no logic.
async fn intake_passthrough(
    js: &jetstream::Context,
    prefix: &str,
    sizes: Sizes,
) -> anyhow::Result<u64> {
    let name = format!("{}_BENCH_IN", prefix.to_ascii_uppercase());
    let subjects = format!("{prefix}.benchin.>");
    let stream = scratch_stream(js, &name, &subjects).await?;
    let mut acks = Vec::with_capacity(sizes.messages);
    for i in 0..sizes.messages {
        acks.push(
            js.publish(format!("{prefix}.benchin.x"), payload(i))
                .await?,
        );
    }
    for ack in acks {
        ack.await?;
    }
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("benchin".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            max_ack_pending: 2_048,
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    let mut messages = consumer.messages().await?;
    let limit = Arc::new(Semaphore::new(sizes.concurrency));
    let mut tasks = JoinSet::new();
    for i in 0..sizes.messages {
        let message = match tokio::time::timeout(Duration::from_secs(30), messages.next()).await {
            Ok(Some(Ok(message))) => message,
            _ => anyhow::bail!("intake pass-through stopped after {i}"),
        };
        let permit = limit.clone().acquire_owned().await?;
        let js = js.clone();
        let subject = format!("{prefix}.benchraw.i{i}");
        tasks.spawn(async move {
            let result = async {
                js.send_publish(subject, publish_with_headers(i, 0))
                    .await?
                    .await?;
                message.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                anyhow::Ok(())
            }
            .await;
            drop(permit);
            result
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let rate = per_second(sizes.messages, started.elapsed());
    let _ = js.delete_stream(&name).await;
    Ok(rate)
}

/// Batched upserts (500 rows per statement, one transaction per batch) of rows like `proposals`.
async fn pg_upsert(pool: &PgPool, rows: usize) -> anyhow::Result<u64> {
    let mut conn = pool.acquire().await?;
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS bench_rows (id uuid PRIMARY KEY, status text, title text, \
         eligible_cost_cents bigint, requested_rate_bp int, data jsonb, sequence bigint)",
    )
    .execute(&mut *conn)
    .await?;
    let started = Instant::now();
    let mut done = 0;
    while done < rows {
        let n = (rows - done).min(500);
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
        let sequences: Vec<i64> = (done..done + n)
            .map(|s| i64::try_from(s).unwrap_or(0))
            .collect();
        let data: Vec<serde_json::Value> = (0..n)
            .map(|i| serde_json::json!({"n": i, "pad": "x".repeat(400)}))
            .collect();
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query(
            "INSERT INTO bench_rows (id, status, title, eligible_cost_cents, requested_rate_bp, data, sequence) \
             SELECT id, 'submitted', 'A realistic project title', 30000000, 7000, data, seq \
             FROM UNNEST($1::uuid[], $2::jsonb[], $3::bigint[]) AS t(id, data, seq) \
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, sequence = EXCLUDED.sequence",
        )
        .bind(&ids)
        .bind(&data)
        .bind(&sequences)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done += n;
    }
    let rate = per_second(rows, started.elapsed());
    sqlx::query("DROP TABLE IF EXISTS bench_rows")
        .execute(&mut *conn)
        .await?;
    Ok(rate)
}
