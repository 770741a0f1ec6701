//! The `buendel` package: the composition of the services, shared by the binary, the end-to-end
//! tests and the benchmark.
//!
//! - [`system`]: start every service in one process (or one alone) on one namespace.
//! - [`commands`]: NATS request/reply for operator commands.
//! - [`demo`]: the demo data, published through the intake like any other publisher.

pub mod commands;
pub mod demo;
pub mod system;
