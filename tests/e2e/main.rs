//! End-to-end tests against the real NATS and Postgres, compiled into one binary.
//!
//! Every test starts its own system in a fresh namespace (its own streams, subjects, consumers and
//! database) with [`helpers::spawn_app`], so tests run in parallel and leave nothing behind.

mod audit;
mod bluegreen;
mod browser;
mod claims;
mod cluster;
mod dashboard;
mod demo;
mod faults;
mod helpers;
mod hostile;
mod hostile_commands;
mod intake;
mod least_privilege;
mod ledger;
mod ops;
mod projector;
mod quarantine;
mod race;
mod reactor;
mod review;
mod store;
mod transparency;
