//! The pure core of the approval service: no async, no I/O, no clock.
//!
//! - [`command`]: what may be asked of a review; every fact a decision needs travels in it.
//! - [`error`]: why a command is refused, one stable code per rule.
//! - [`review`]: the Review aggregate (state, `apply`, `decide`) and [`tally`], the one count used
//!   by both the quorum check and the `statement_issued` event.
//! - [`alliance`]: the Alliance aggregate: an alliance's roster with history, from which a review
//!   takes the partners who may vote.

pub mod alliance;
pub mod command;
pub mod error;
pub mod policy;
pub mod review;

#[cfg(test)]
mod tests;

pub use alliance::{Alliance, AllianceCommand, AllianceError};
pub use command::Command;
pub use error::ReviewError;
pub use review::{tally, BankDecision, Review, Status};
