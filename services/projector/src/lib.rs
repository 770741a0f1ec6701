//! The projector: builds the Postgres read models from the JetStream streams.
//!
//! Postgres holds read models only; everything in it can be rebuilt from the streams: beside the
//! live read models, which readers keep reading until the new ones are complete ([`rebuild`]), or,
//! with every projector stopped, by dropping them and replaying ([`reset`], then [`run`]). Projections are exactly-once in effect: each batch's rows and the
//! stream checkpoint commit in one transaction, a replayed or redelivered event changes nothing,
//! and messages are acknowledged only after the commit.
//!
//! Layout:
//! - [`projection`]: the [`Projection`] trait (which stream, how a message becomes rows).
//! - [`checkpoint`]: [`apply_batch`], one batch plus its checkpoint in one transaction (no NATS).
//! - [`runner`]: the durable pull consumer loop around `apply_batch`.
//! - [`generation`]: blue/green rebuilds, a new generation of the read models built beside the
//!   live one and switched in for readers in one transaction.
//! - [`proposals`]: PROPOSALS → `proposals` and `proposal_timeline`.
//! - [`reviews`]: REVIEWS → `proposal_reviews`, `review_votes`, `review_recusals`, `alliances` and
//!   `proposal_timeline` (each stream's runner is independent, so no table is written from two).
//! - [`ledger`]: LEDGER → `funds`, `ledger_entries`, `ledger_postings`, `account_balances`,
//!   `fund_balances`, `proposal_money` and `proposal_timeline`.
//! - [`deadletters`]: DEADLETTER → `dead_letters`.
//! - [`quarantine`]: bisecting a batch that fails on its events; the failing event is recorded in
//!   `projection_quarantine` and stepped over, so no stream stalls on one event.
//! - `timeline`: the `proposal_timeline` insert every proposal-related projection shares.

pub mod checkpoint;
mod claims;
pub mod deadletters;
pub mod generation;
pub mod ledger;
pub mod projection;
pub mod proposals;
pub mod quarantine;
pub mod reviews;
pub mod runner;
mod timeline;

use anyhow::Context as _;
use sqlx::PgPool;

use buendel_contract::namespace::StreamKind;
use buendel_runtime::{CancellationToken, EventStore};

pub use checkpoint::{apply_batch, apply_batch_on};
pub use deadletters::DeadLettersProjection;
pub use generation::{rebuild, Progress, RebuildLimits, Report};
pub use ledger::LedgerProjection;
pub use projection::{Projection, ProjectionError};
pub use proposals::ProposalsProjection;
pub use reviews::ReviewsProjection;
pub use runner::{run_projection, RunnerLimits};

/// The streams the projector reads (one projection each).
pub const STREAMS: [StreamKind; 4] = [
    StreamKind::Proposals,
    StreamKind::Reviews,
    StreamKind::Ledger,
    StreamKind::Deadletter,
];

/// Every read-model table the projector owns (and writes alone): copied into a new generation by
/// [`rebuild`], truncated by [`reset`]. The transparency log's `tlog_*` tables are not among them.
pub const TABLES: [&str; 17] = [
    "proposals",
    "proposal_timeline",
    "proposal_reviews",
    "review_votes",
    "review_recusals",
    "alliances",
    "funds",
    "ledger_entries",
    "ledger_postings",
    "account_balances",
    "fund_balances",
    "proposal_money",
    "grant_terms",
    "claims",
    "dead_letters",
    "projection_quarantine",
    "checkpoints",
];

/// Runs every projection with the default limits until `shutdown` is cancelled.
///
/// Creates the streams it reads if they are missing (and refuses ones with weak settings). Failures
/// after start-up (NATS or Postgres down, a corrupt message) are logged and retried with backoff.
pub async fn run(
    store: EventStore,
    pool: PgPool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with(store, pool, RunnerLimits::default(), shutdown).await
}

/// [`run`] with explicit limits.
pub async fn run_with(
    store: EventStore,
    pool: PgPool,
    limits: RunnerLimits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    store
        .ensure_streams(&STREAMS)
        .await
        .context("checking the projector's streams")?;
    tracing::info!(namespace = %store.namespace(), "projector running");
    tokio::join!(
        run_projection(&store, &pool, &ProposalsProjection, &limits, &shutdown),
        run_projection(&store, &pool, &ReviewsProjection, &limits, &shutdown),
        run_projection(&store, &pool, &LedgerProjection, &limits, &shutdown),
        run_projection(&store, &pool, &DeadLettersProjection, &limits, &shutdown),
    );
    tracing::info!("projector stopped");
    Ok(())
}

/// Drops every read model so that the next [`run`] replays every stream from sequence 1.
///
/// Deletes the projector's durable consumers and truncates the read-model tables and checkpoints:
/// readers see empty, then half-built tables. Run it while no projector of the namespace is
/// running; for the chaos run's and the benchmark's replays from 1. Operators use [`rebuild`].
pub async fn reset(store: &EventStore, pool: &PgPool) -> anyhow::Result<()> {
    for kind in STREAMS {
        delete_consumer(store, kind).await?;
    }
    let statement = format!("TRUNCATE {}", TABLES.join(", "));
    sqlx::query(&statement)
        .execute(pool)
        .await
        .context("truncating the read models")?;
    tracing::info!(namespace = %store.namespace(), "read models dropped; the next run replays from 1");
    Ok(())
}

/// Deletes the projector's consumer of one stream; a missing stream or consumer is fine.
async fn delete_consumer(store: &EventStore, kind: StreamKind) -> anyhow::Result<()> {
    use async_nats::jetstream::{stream::ConsumerErrorKind, ErrorCode};

    let ns = store.namespace();
    let name = ns.durable(runner::SERVICE, kind);
    match store
        .jetstream()
        .delete_consumer_from_stream(&name, ns.stream(kind))
        .await
    {
        Ok(_) => Ok(()),
        Err(error)
            if matches!(
                error.kind(),
                ConsumerErrorKind::JetStream(e)
                    if e.error_code() == ErrorCode::CONSUMER_NOT_FOUND
                        || e.error_code() == ErrorCode::STREAM_NOT_FOUND
            ) =>
        {
            Ok(())
        }
        Err(error) => Err(error).with_context(|| format!("deleting consumer {name}")),
    }
}
