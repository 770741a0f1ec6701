//! The submission service: proposal intake, the Proposal aggregate's commands, and screening.
//!
//! - [`domain`]: pure. The Proposal aggregate (`decide`/`apply`), intake validation that finds every
//!   reason at once, and screening by the versioned program rules.
//! - [`app`]: the shell. Consumes INTAKE with a durable pull consumer, serves
//!   `<ns>.cmd.submission.{submit,revise,withdraw}`, appends to `<ns>.proposal.<id>`, dead-letters what
//!   it refuses.

pub mod app;
pub use buendel_submission_domain as domain;

pub use app::{run, start, Buckets, PublisherRate, Submission};

#[cfg(test)]
mod tests {
    use buendel_contract::commands::{names, Service};

    use crate::domain::intake::event_type_of_command;

    #[test]
    fn the_service_serves_exactly_the_contracts_commands() {
        assert_eq!(crate::app::COMMANDS.to_vec(), names(Service::Submission));
        for name in crate::app::COMMANDS {
            assert!(event_type_of_command(name).is_some(), "{name}");
        }
        assert_eq!(event_type_of_command("approve"), None);
    }
}
