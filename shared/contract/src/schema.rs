//! The JSON Schema of every event type's `data`, of every command's `data` and of a dead letter.
//!
//! Schemas are generated from the Rust types and committed under `schemas/`: one file per event
//! type, named after it (`buendel.proposal.submitted.v1.json`), one per command, named after its
//! subject without the namespace (`cmd.ledger.allocate_budget.json`), and the dead letter
//! (`buendel.deadletter.v1.json`). A test regenerates them and fails when a committed file differs,
//! so a schema can never drift from the code; `BUENDEL_WRITE_SCHEMAS=1 cargo test -p
//! buendel-contract` rewrites them after a deliberate change (a new event version, never an edit of
//! a published one). `docs/asyncapi.yaml` references these files; [`crate::asyncapi`]'s test
//! compares the document with them field by field.

use schemars::JsonSchema;
use serde_json::Value;

use crate::alliance;
use crate::commands::{self, CommandData};
use crate::deadletter::DeadLetter;
use crate::ledger;
use crate::proposal;
use crate::review;

/// Every event type with the JSON Schema of its `data`, in a stable order.
pub fn event_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            proposal::SUBMITTED_V1,
            schema_of::<proposal::Submitted>(proposal::SUBMITTED_V1),
        ),
        (
            proposal::SCREENED_V1,
            schema_of::<proposal::ScreenedV1>(proposal::SCREENED_V1),
        ),
        (
            proposal::SCREENED_V2,
            schema_of::<proposal::ScreenedV2>(proposal::SCREENED_V2),
        ),
        (
            proposal::REVISED_V1,
            schema_of::<proposal::Revised>(proposal::REVISED_V1),
        ),
        (
            proposal::WITHDRAWN_V1,
            schema_of::<proposal::Withdrawn>(proposal::WITHDRAWN_V1),
        ),
        (
            proposal::REVIEW_RECORDED_V1,
            schema_of::<proposal::ReviewRecorded>(proposal::REVIEW_RECORDED_V1),
        ),
        (
            review::OPENED_V1,
            schema_of::<review::Opened>(review::OPENED_V1),
        ),
        (
            review::CONFLICT_DECLARED_V1,
            schema_of::<review::ConflictDeclared>(review::CONFLICT_DECLARED_V1),
        ),
        (
            review::VOTE_RECORDED_V1,
            schema_of::<review::VoteRecorded>(review::VOTE_RECORDED_V1),
        ),
        (
            review::STATEMENT_ISSUED_V1,
            schema_of::<review::StatementIssued>(review::STATEMENT_ISSUED_V1),
        ),
        (
            review::STATEMENT_ISSUED_V2,
            schema_of::<review::StatementIssuedV2>(review::STATEMENT_ISSUED_V2),
        ),
        (
            review::GRANT_DECIDED_V1,
            schema_of::<review::GrantDecided>(review::GRANT_DECIDED_V1),
        ),
        (
            review::GRANT_DECIDED_V2,
            schema_of::<review::GrantDecidedV2>(review::GRANT_DECIDED_V2),
        ),
        (
            review::GRANT_REFUSED_V1,
            schema_of::<review::GrantRefused>(review::GRANT_REFUSED_V1),
        ),
        (
            review::GRANT_REFUSED_V2,
            schema_of::<review::GrantRefusedV2>(review::GRANT_REFUSED_V2),
        ),
        (
            review::CLOSED_V1,
            schema_of::<review::Closed>(review::CLOSED_V1),
        ),
        (
            review::CLOSED_V2,
            schema_of::<review::ClosedV2>(review::CLOSED_V2),
        ),
        (
            review::TERMS_REVISED_V1,
            schema_of::<review::TermsRevised>(review::TERMS_REVISED_V1),
        ),
        (
            alliance::REGISTERED_V1,
            schema_of::<alliance::Registered>(alliance::REGISTERED_V1),
        ),
        (
            alliance::PARTNER_JOINED_V1,
            schema_of::<alliance::PartnerJoined>(alliance::PARTNER_JOINED_V1),
        ),
        (
            alliance::PARTNER_LEFT_V1,
            schema_of::<alliance::PartnerLeft>(alliance::PARTNER_LEFT_V1),
        ),
        (
            ledger::BUDGET_ALLOCATED_V1,
            schema_of::<ledger::BudgetAllocated>(ledger::BUDGET_ALLOCATED_V1),
        ),
        (
            ledger::BUDGET_ADJUSTED_V1,
            schema_of::<ledger::BudgetAdjusted>(ledger::BUDGET_ADJUSTED_V1),
        ),
        (
            ledger::FUNDS_RESERVED_V1,
            schema_of::<ledger::FundsReserved>(ledger::FUNDS_RESERVED_V1),
        ),
        (
            ledger::RESERVATION_DECLINED_V1,
            schema_of::<ledger::ReservationDeclined>(ledger::RESERVATION_DECLINED_V1),
        ),
        (
            ledger::FUNDS_COMMITTED_V1,
            schema_of::<ledger::FundsCommitted>(ledger::FUNDS_COMMITTED_V1),
        ),
        (
            ledger::RESERVATION_RELEASED_V1,
            schema_of::<ledger::ReservationReleased>(ledger::RESERVATION_RELEASED_V1),
        ),
        (
            ledger::DISBURSEMENT_RECORDED_V1,
            schema_of::<ledger::DisbursementRecorded>(ledger::DISBURSEMENT_RECORDED_V1),
        ),
        (
            ledger::COMMITMENT_RELEASED_V1,
            schema_of::<ledger::CommitmentReleased>(ledger::COMMITMENT_RELEASED_V1),
        ),
        (
            ledger::RECOVERY_ASSESSED_V1,
            schema_of::<ledger::RecoveryAssessed>(ledger::RECOVERY_ASSESSED_V1),
        ),
        (
            ledger::REPAYMENT_RECEIVED_V1,
            schema_of::<ledger::RepaymentReceived>(ledger::REPAYMENT_RECEIVED_V1),
        ),
        (
            ledger::FUNDS_EXPIRED_V1,
            schema_of::<ledger::FundsExpired>(ledger::FUNDS_EXPIRED_V1),
        ),
        (
            ledger::GRANT_TERMS_RECORDED_V1,
            schema_of::<ledger::GrantTermsRecorded>(ledger::GRANT_TERMS_RECORDED_V1),
        ),
        (
            ledger::CLAIM_SUBMITTED_V1,
            schema_of::<ledger::ClaimSubmitted>(ledger::CLAIM_SUBMITTED_V1),
        ),
        (
            ledger::CLAIM_VERIFIED_V1,
            schema_of::<ledger::ClaimVerified>(ledger::CLAIM_VERIFIED_V1),
        ),
        (
            ledger::CLAIM_RETURNED_V1,
            schema_of::<ledger::ClaimReturned>(ledger::CLAIM_RETURNED_V1),
        ),
        (
            ledger::CLAIM_RESUBMITTED_V1,
            schema_of::<ledger::ClaimResubmitted>(ledger::CLAIM_RESUBMITTED_V1),
        ),
        (
            ledger::CLAIM_APPROVED_V1,
            schema_of::<ledger::ClaimApproved>(ledger::CLAIM_APPROVED_V1),
        ),
        (
            ledger::FINAL_REPORT_CHECKED_V1,
            schema_of::<ledger::FinalReportChecked>(ledger::FINAL_REPORT_CHECKED_V1),
        ),
        (
            ledger::GRANT_REVOKED_V1,
            schema_of::<ledger::GrantRevoked>(ledger::GRANT_REVOKED_V1),
        ),
        (
            ledger::INTEREST_CHARGED_V1,
            schema_of::<ledger::InterestCharged>(ledger::INTEREST_CHARGED_V1),
        ),
        (
            ledger::INTEREST_PAID_V1,
            schema_of::<ledger::InterestPaid>(ledger::INTEREST_PAID_V1),
        ),
        (
            ledger::PERIOD_LOCKED_V1,
            schema_of::<ledger::PeriodLocked>(ledger::PERIOD_LOCKED_V1),
        ),
        (
            ledger::CORRECTION_NOTED_V1,
            schema_of::<ledger::CorrectionNoted>(ledger::CORRECTION_NOTED_V1),
        ),
    ]
}

/// The message name of a dead letter, and the stem of its schema's file.
pub const DEADLETTER_V1: &str = "buendel.deadletter.v1";

/// Every committed schema: the file stem under `schemas/` and the schema, in a stable order.
pub fn committed_schemas() -> Vec<(String, Value)> {
    let events = event_schemas()
        .into_iter()
        .map(|(event_type, schema)| (event_type.to_owned(), schema));
    let commands = commands::ALL
        .iter()
        .map(|command| (command.id(), (command.schema)()));
    let deadletter = (DEADLETTER_V1.to_owned(), deadletter_schema());
    events.chain(commands).chain([deadletter]).collect()
}

/// The JSON Schema of a command's `data`, titled `cmd.<service>.<name>`.
pub fn command_schema<T: CommandData>() -> Value {
    let id = format!("cmd.{}.{}", T::SERVICE.as_str(), T::NAME);
    titled::<T>(
        &id,
        format!(
            "The `data` of the command `<ns>.cmd.{}.{}`.",
            T::SERVICE.as_str(),
            T::NAME
        ),
    )
}

/// The JSON Schema of a dead letter (the whole message on `<ns>.deadletter.<source>`).
pub fn deadletter_schema() -> Value {
    titled::<DeadLetter>(
        DEADLETTER_V1,
        "A refused input, kept whole with every reason (`<ns>.deadletter.<source>`).".to_owned(),
    )
}

fn schema_of<T: JsonSchema>(event_type: &str) -> Value {
    titled::<T>(
        event_type,
        format!("The `data` of a CloudEvent of type `{event_type}`."),
    )
}

fn titled<T: JsonSchema>(title: &str, description: String) -> Value {
    let mut schema = schemars::schema_for!(T).to_value();
    if let Value::Object(map) = &mut schema {
        map.insert("title".into(), Value::String(title.to_owned()));
        map.insert("description".into(), Value::String(description));
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;
    use std::path::PathBuf;

    fn schema_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
    }

    #[test]
    fn committed_schemas_match_the_rust_types() {
        let write = std::env::var_os("BUENDEL_WRITE_SCHEMAS").is_some();
        for (stem, schema) in committed_schemas() {
            let path = schema_dir().join(format!("{stem}.json"));
            let generated = serde_json::to_string_pretty(&schema).expect("serialize") + "\n";
            if write {
                std::fs::write(&path, &generated).expect("write schema");
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!(
                    "{} is missing; run with BUENDEL_WRITE_SCHEMAS=1",
                    path.display()
                )
            });
            assert_eq!(
                committed,
                generated,
                "{} drifted from the Rust type",
                path.display()
            );
        }
    }

    #[test]
    fn every_file_under_schemas_is_generated_from_a_type() {
        let stems: Vec<String> = committed_schemas().into_iter().map(|(s, _)| s).collect();
        for entry in std::fs::read_dir(schema_dir()).expect("schemas/ exists") {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            let stem = name.strip_suffix(".json").unwrap_or(&name);
            assert!(
                stems.iter().any(|s| s == stem),
                "schemas/{name} is generated from no type: delete it or name its type"
            );
        }
    }

    #[test]
    fn every_command_has_a_closed_schema_titled_with_its_subject() {
        for command in crate::commands::ALL {
            let schema = (command.schema)();
            assert_eq!(schema["title"], command.id());
            assert_eq!(schema["additionalProperties"], false, "{}", command.id());
        }
    }

    #[test]
    fn every_event_type_has_a_schema_and_an_asyncapi_message() {
        let asyncapi = std::fs::read_to_string(schema_dir().join("../docs/asyncapi.yaml"))
            .expect("docs/asyncapi.yaml exists");
        let with_schema: Vec<&str> = event_schemas().iter().map(|(t, _)| *t).collect();
        let all_types = [
            crate::proposal::ProposalEvent::all_types(),
            crate::review::ReviewEvent::all_types(),
            crate::alliance::AllianceEvent::all_types(),
            crate::ledger::LedgerEvent::all_types(),
        ];
        for event_type in all_types.into_iter().flatten() {
            assert!(
                with_schema.contains(event_type),
                "{event_type} has no schema"
            );
            assert!(
                asyncapi.contains(event_type),
                "{event_type} is not in docs/asyncapi.yaml"
            );
            let reference = format!("schemas/{event_type}.json");
            assert!(
                asyncapi.contains(&reference),
                "asyncapi does not reference {reference}"
            );
        }
    }

    #[test]
    fn money_is_an_integer_in_every_schema() {
        let (_, submitted) = &event_schemas()[0];
        let text = submitted.to_string();
        assert!(text.contains("\"eligible_cost_cents\""));
        let cents = &submitted["properties"]["eligible_cost_cents"];
        let resolved = if let Some(r) = cents.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().expect("ref name");
            submitted["$defs"][name].clone()
        } else {
            cents.clone()
        };
        assert_eq!(resolved["type"], "integer");
    }
}
