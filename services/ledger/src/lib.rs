//! The ledger service: the funding ledger of an alliance's funding period, one Fund aggregate per
//! `<ns>.ledger.<fund_id>` (stream LEDGER), hash-chained, double-entry, never overdrawn.
//!
//! - [`domain`]: the pure Fund aggregate (no async, no I/O, no clock): commands, rules, errors,
//!   the balances view and the invariants the auditor re-checks after every event.
//! - [`saga`]: pure: which ledger command a review event asks for, and the split of a requested
//!   grant into ESF+ and Land.
//! - [`input`]: pure parsing of operator command payloads, reporting every bad field at once.
//! - [`app`]: the shell. Consumes REVIEWS with a durable pull consumer (the saga with approval),
//!   serves `<ns>.cmd.ledger.<command>`, dead-letters what the Fund refuses.

pub mod app;
pub use buendel_ledger_domain as domain;
pub mod input;
#[cfg(test)]
mod input_tests;
pub use buendel_ledger_domain::saga;

pub use app::{fund_repository, run, start, Commit, Ledger};
