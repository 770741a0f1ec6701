//! The approval service: the alliance partners' review of a screened proposal, the alliance's
//! statement (Stellungnahme), and the bank's grant decision, all recorded as events on
//! `<ns>.review.<proposal_id>` (stream REVIEWS); and the alliances themselves, reference data with
//! history, on `<ns>.review.alliance-<alliance_id>` (same stream).
//!
//! - [`domain`]: pure (no async, no I/O). The Review aggregate (commands, rules, errors, the tally)
//!   and the Alliance aggregate (roster changes as events).
//! - [`input`]: pure parsing of command payloads, reporting every bad field at once.
//! - [`app`]: the shell. Registers the built-in alliances, consumes PROPOSALS with a durable pull
//!   consumer (opens a review on a passed screening, closes it on a withdrawal), serves
//!   `<ns>.cmd.approval.<command>`, dead-letters what it cannot process.

pub mod app;
pub use buendel_approval_domain as domain;
pub mod input;

#[cfg(test)]
mod input_tests;

pub use app::{run, start, Approval};
