//! The Bündel event contract: everything that crosses a process boundary.
//!
//! This crate is pure (no I/O, no async, no tokio/sqlx/async-nats), so domain code can depend on it
//! freely. Layout:
//!
//! - [`aggregate`]: the pure `decide`/`apply` shape every aggregate has.
//! - [`alliance`]: the Alliance aggregate's events (`buendel.alliance.*`): rosters with history.
//! - [`commands`]: the typed `data` of every command, with the table of services and names.
//! - [`namespace`]: the one setting every stream, subject, consumer and database name derives from.
//! - [`deadletter`]: a refused input with every reason, kept whole.
//! - [`envelope`]: the CloudEvents 1.0 structured-JSON envelope every event travels in.
//! - [`ijson`]: strict input: I-JSON (RFC 7493) and text rules, so every reader reads an input alike.
//! - [`ledger`]: the Fund aggregate's events (`buendel.ledger.*`), chart of accounts, balances, hash chain.
//! - [`money`]: integer cents, basis points and the one rounding rule for splits.
//! - [`proposal`]: the Proposal aggregate's events (`buendel.proposal.*`).
//! - [`reference`]: alliances, region categories and versioned program rules.
//! - [`reply`]: the JSON reply of every command (`ok` or a coded error with per-field details).
//! - [`review`]: the Review aggregate's events (`buendel.review.*`), its quorum rule and tally.
//! - [`canonical`]: RFC 8785 canonical JSON and SHA-256, for the ledger's hash chain.
//! - [`schema`]: the JSON Schema of every event type, command and dead letter, checked against the
//!   files in `schemas/` (and, by `tests/asyncapi.rs`, against `docs/asyncapi.yaml`).
//! - [`status`]: the proposal's, review's and project's statuses and the one rule combining them.

pub mod aggregate;
pub mod alliance;
pub mod canonical;
pub mod commands;
pub mod deadletter;
pub mod district;
pub mod envelope;
pub mod ijson;
pub mod ledger;
pub mod money;
pub mod namespace;
pub mod proposal;
pub mod reference;
pub mod reply;
pub mod review;
pub mod schema;
pub mod status;

pub use aggregate::{Aggregate, DomainError};
pub use envelope::{Envelope, EventKind, Meta};
pub use money::{BasisPoints, Cents, Split};
pub use namespace::Namespace;
