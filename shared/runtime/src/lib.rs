//! The Bündel runtime: the shell around the pure domain.
//!
//! - [`clock`]: the time as an input; the services never read the system's clock themselves.
//! - [`settings`]: the settings every binary shares (`NATS_URL`, `DATABASE_URL`, namespace, logs).
//! - [`telemetry`]: one `tracing` set-up, text for people, JSON for machines.
//! - [`connect`]: reaching NATS and Postgres, with errors that say which, where and how to start it.
//! - [`store`]: the JetStream event store (streams, optimistic appends, loads).
//! - [`repository`]: load → decide → append with bounded retries and idempotency that lasts forever.
//! - [`micro`]: serving commands with the NATS micro service API: one endpoint, one reply mapping.
//! - [`reactor`]: consuming a stream: durable consumer, lanes, verdicts mapped to ack, nak or dead
//!   letter.
//! - [`db`]: the Postgres pool and the workspace migrator.
//! - [`files`]: a process's own small state files, JSON, written atomically.

pub mod causes;
pub mod clock;
pub mod connect;
pub mod db;
pub mod files;
pub mod metrics;
pub mod micro;
pub mod ops;
pub mod otlp;
pub mod reactor;
pub mod repository;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod trace;

pub use clock::Clock;
pub use repository::{Chain, Outcome, Repository};
pub use settings::Settings;
pub use store::{EventStore, StoreError};
pub use tokio_util::sync::CancellationToken;
