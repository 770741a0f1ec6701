//! `buendel audit verify` against the running system: replays LEDGER from sequence 1 with ordered
//! consumers (no durable state left on the server) and, given a pool, compares the result with the
//! Postgres projections ([`crate::projection`]).

use anyhow::Context as _;
use sqlx::PgPool;

use buendel_contract::namespace::StreamKind;
use buendel_runtime::EventStore;

use crate::report::{Options, Report};
use crate::verifier::Verifier;
use crate::{projection, PROGRESS_EVERY, SCAN_CHUNK};

/// Verifies LEDGER as it stands when the call starts (up to `options.until_seq` if lower).
/// `progress(done, total)` is called every [`PROGRESS_EVERY`] messages and at the end. With a
/// pool, every difference with the projections is in the report's `differences`.
pub async fn verify_online(
    store: &EventStore,
    pool: Option<&PgPool>,
    options: &Options,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Report> {
    let kind = StreamKind::Ledger;
    let last = store
        .stream_last_sequence(kind)
        .await
        .context("reading the LEDGER stream")?;
    let until = options.until_seq.map_or(last, |until| until.min(last));
    let mut verifier = Verifier::new(options.clone()).starting_at(1);
    if pool.is_some() {
        verifier = verifier.record_entries();
    }
    let filter = store.namespace().stream_subjects(kind);
    let mut from = 1;
    while from <= until && verifier.failure().is_none() {
        // One ordered consumer per chunk: each read stays well inside the store's load timeout.
        let to = from.saturating_add(SCAN_CHUNK - 1).min(until);
        store
            .scan(kind, &filter, from, to, |stored| {
                verifier.push(stored.sequence, Some(&stored.subject), &stored.payload);
                if verifier.messages().is_multiple_of(PROGRESS_EVERY) {
                    progress(verifier.messages(), until);
                }
                Ok(())
            })
            .await
            .with_context(|| format!("reading LEDGER from {from} to {to}"))?;
        from = to + 1;
    }
    progress(verifier.messages(), until);
    let verified = verifier.finish_at(until);
    let mut report = match pool {
        Some(pool) => {
            let differences = projection::compare(pool, &verified)
                .await
                .context("comparing with the Postgres projections")?;
            let mut report = verified.report;
            report.differences = differences;
            report
        }
        None => verified.report,
    };
    report.settle();
    Ok(report)
}
