//! The pure core of the submission service: no async, no I/O.
//!
//! - [`proposal`]: the Proposal aggregate.
//! - [`intake`]: validation of raw CloudEvents and command payloads, collecting every reason.
//! - [`screening`]: the program rules applied to a proposal's terms.

pub mod intake;
pub mod proposal;
pub mod screening;

pub use proposal::{Command, Proposal, ProposalError, Status};

#[cfg(test)]
mod command_tests;
#[cfg(test)]
mod tests;
