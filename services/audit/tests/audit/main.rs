//! Integration tests of the audit against real NATS (and Postgres for the projections): a ledger
//! appended through the ledger's own hash-chained repository, verified online, exported, verified
//! offline.

mod helpers;
mod projection;
mod replay;
