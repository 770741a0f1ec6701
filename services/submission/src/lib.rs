//! The submission service: proposal intake, the Proposal aggregate's commands, and screening.
//!
//! - [`domain`]: pure. The Proposal aggregate (`decide`/`apply`), intake validation that finds every
//!   reason at once, and screening by the versioned program rules.
//! - [`app`]: the shell. Consumes INTAKE with a durable pull consumer, serves
//!   `<ns>.cmd.submission.{submit,revise,withdraw}`, appends to `<ns>.proposal.<id>`, dead-letters what
//!   it refuses.

pub mod app;
pub use buendel_submission_domain as domain;

pub use app::{run, start, Submission};
