//! The `buendel` package: the composition of the services, shared by the binary, the end-to-end
//! tests and the benchmark.
//!
//! - [`system`]: start every service in one process (or one alone) on one namespace.
//! - [`audit`]: `buendel audit verify|export`.
//! - [`bench`]: `buendel bench`, the workload measured against the machine's own limits.
//! - [`chaos`]: `buendel chaos`, the services as processes under SIGKILL, NATS node and Postgres
//!   restarts, checked afterwards.
//! - [`commands`]: NATS request/reply for operator commands.
//! - [`demo`]: the demo data, published through the intake like any other publisher.
//! - [`sim`]: `buendel sim`, the deterministic simulation of the saga under seeded faults.
//! - [`tlog`]: the transparency log's commands (`audit key|keygen|checkpoint|prove|verify-proof`,
//!   `witness`) and its settings for `up` and `serve log`.
//! - [`hostile`]: `buendel hostile`, seeded hostile intake messages among good ones, all counted.

pub mod audit;
pub mod bench;
pub mod chaos;
pub mod commands;
pub mod creds;
pub mod demo;
pub mod demo_closed;
pub mod hostile;
pub mod sim;
pub mod system;
pub mod tlog;
