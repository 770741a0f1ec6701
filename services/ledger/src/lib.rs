//! The ledger service: the funding ledger of an alliance's funding period, one Fund aggregate per
//! `<ns>.ledger.<fund_id>` (stream LEDGER), hash-chained, double-entry, never overdrawn.
//!
//! - [`domain`]: the pure Fund aggregate (no async, no I/O, no clock): commands, rules, errors,
//!   the balances view and the invariants the auditor re-checks after every event.

pub mod domain;
