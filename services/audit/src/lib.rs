//! The auditor's replay of the funding ledger (`buendel audit verify|export`): trust nothing the
//! running system says, re-check every stored event from the first one, and prove the ledger whole.
//!
//! - [`verifier`]: the pure core. [`Verifier`] is fed stored messages in stream order and checks
//!   JSON, schema, hash and hash links, contiguous stream and aggregate sequences, causes booked
//!   once, balanced entries, every invariant of the Fund aggregate after every event, folding
//!   with the ledger's own `Fund::apply`, and the waitlist served at the end of every decision
//!   (`waitlist_not_served`). It names the first bad event.
//! - [`hashing`]: the event hash of the contract, computed without needless copies.
//! - [`report`]: the [`Report`] (JSON for machines) and [`human`] (the summary for people).
//! - [`online`]: [`verify_online`] reads LEDGER from JetStream and compares with Postgres
//!   ([`projection`]).
//! - [`export`]: [`export()`] writes `ledger.jsonl` (byte for byte as stored), `manifest.json`
//!   ([`manifest`]) and `postings.csv`.
//! - [`offline`]: [`verify_file`] verifies an export without NATS or Postgres; its report equals
//!   the online one at the same point, `differences` aside.
//!
//! - [`transparency`]: the transparency logs recomputed from the stored messages and checked
//!   against their signed checkpoints, the pinned keys and the auditor's trusted state.
//!
//! Exit code for a CLI: 0 exactly when [`Report::ok`].

pub mod export;
pub mod hashing;
pub mod manifest;
pub mod offline;
pub mod online;
pub mod projection;
pub mod report;
pub mod transparency;
pub mod verifier;

#[cfg(test)]
mod tests;

pub use export::{export, ExportWriter};
pub use manifest::{Manifest, ManifestFund};
pub use offline::verify_file;
pub use online::verify_online;
pub use report::{human, Check, Difference, Failure, FundSummary, Options, Report};
pub use verifier::{Flow, Verified, Verifier};

/// Progress is reported every this many messages.
pub const PROGRESS_EVERY: u64 = 10_000;

/// How many stream sequences one ordered consumer reads before the next one takes over.
pub const SCAN_CHUNK: u64 = 50_000;
