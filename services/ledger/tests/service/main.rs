//! Integration tests of the ledger service against the real NATS (one binary, as in
//! zero-to-production): each test runs the service in a fresh namespace and deletes its streams.
//!
//! - [`saga`]: review events in REVIEWS become bookings in LEDGER: the race of fifty proposals for
//!   ten grants with two instances, grants, refusals and withdrawals, an instance stopped between
//!   appending and acking, dead letters for the operator.
//! - [`commands`]: the operator commands and their refusals.
//! - [`chain`]: the hash chain of every fund.

mod chain;
mod commands;
mod helpers;
mod saga;
