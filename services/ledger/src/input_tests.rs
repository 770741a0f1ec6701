//! The hand parser of the ledger's operator commands ([`crate::input`]) accepts exactly what the
//! contract's typed commands ([`buendel_contract::commands`]) describe: an arbitrary valid typed
//! command, serialized, parses to the same values; an unknown or a missing field is refused by both
//! the type and the parser. "Valid" adds the value rules no type states, which the parser checks:
//! a fund id that is a subject token, amounts within [`AMOUNT_CENTS_MAX`] (not negative but for a
//! delta), free text not blank and at most [`TEXT_LEN_MAX`] characters.

use chrono::NaiveDate;
use proptest::option;
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use buendel_contract::commands::{
    self, AdjustBudget, AllocateBudget, AssessRecovery, CloseProject, CommandData, ExpireUnbound,
    RecordDisbursement, RecordRepayment, ReleaseReservation, Service,
};
use buendel_contract::commands::{
    ApproveClaim, ChargeInterest, CheckFinalReport, LockPeriod, NoteCorrection,
    RecordInterestPayment, ResubmitClaim, ReturnClaim, RevokeGrant, SubmitClaim, VerifyClaim,
};
use buendel_contract::ledger::{ReleaseReason, Source};
use buendel_contract::reply::FieldError;
use buendel_contract::Cents;

use crate::domain::{Command, AMOUNT_CENTS_MAX, TEXT_LEN_MAX};
use crate::input::{parse, Request};

/// The business date the parser is given (any fixed date: parsing does not depend on it).
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date")
}

fn parsed<T: CommandData>(command: &T) -> Result<Request, Vec<FieldError>> {
    parse(T::NAME, &command.to_data(), today(), "operator").expect("a command of this service")
}

fn request(fund_id: String, command: Command) -> Result<Request, Vec<FieldError>> {
    Ok(Request { fund_id, command })
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

fn fund_id() -> impl Strategy<Value = String> {
    ("[a-z][a-z0-9_]{0,31}", 1000u16..=9999, 0u16..=20).prop_map(|(alliance, first, span)| {
        let last = first.saturating_add(span).min(9999);
        format!("{alliance}-{first}-{last}")
    })
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

/// Any date of the years 0001 to 9999 (what `YYYY-MM-DD` can say).
fn date() -> impl Strategy<Value = NaiveDate> {
    (1i32..=3_652_059).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).expect("a date"))
}

fn amount() -> impl Strategy<Value = Cents> {
    (0..=AMOUNT_CENTS_MAX).prop_map(Cents)
}

fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("not blank, not too long", |s| {
        !s.trim().is_empty() && s.chars().count() <= TEXT_LEN_MAX
    })
}

fn source() -> impl Strategy<Value = Source> {
    prop::sample::select(Source::ALL.to_vec())
}

fn release_reason() -> impl Strategy<Value = ReleaseReason> {
    prop::sample::select(vec![
        ReleaseReason::Withdrawn,
        ReleaseReason::Refused,
        ReleaseReason::Expired,
        ReleaseReason::Cancelled,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_valid_typed_allocate_budget_is_accepted_with_the_same_values(
        fund_id in fund_id(), esf in amount(), land in amount(), deadline in date(),
    ) {
        let command = AllocateBudget {
            fund_id: fund_id.clone(), esf_cents: esf, land_cents: land, commit_deadline: deadline,
        };
        let expected = Command::AllocateBudget {
            fund_id: fund_id.clone(), esf, land, commit_deadline: deadline, today: today(),
        };
        prop_assert_eq!(parsed(&command), request(fund_id, expected));
    }

    #[test]
    fn every_valid_typed_adjust_budget_is_accepted_with_the_same_values(
        fund_id in fund_id(), source in source(),
        delta in (-AMOUNT_CENTS_MAX..=AMOUNT_CENTS_MAX).prop_map(Cents), reason in text(),
    ) {
        let command = AdjustBudget {
            fund_id: fund_id.clone(), source, delta_cents: delta, reason: reason.clone(),
        };
        let expected = Command::AdjustBudget { source, delta_cents: delta, reason, today: today() };
        prop_assert_eq!(parsed(&command), request(fund_id, expected));
    }

    #[test]
    fn every_valid_typed_release_reservation_is_accepted_with_the_same_values(
        fund_id in fund_id(), proposal_id in uuid(), reason in option::of(release_reason()),
    ) {
        let command = ReleaseReservation { fund_id: fund_id.clone(), proposal_id, reason };
        let expected = Command::ReleaseReservation {
            proposal_id,
            reason: reason.unwrap_or(ReleaseReason::Cancelled),
            today: today(),
        };
        prop_assert_eq!(parsed(&command), request(fund_id, expected));
    }

    #[test]
    fn every_valid_typed_record_disbursement_is_accepted_with_the_same_values(
        fund_id in fund_id(), proposal_id in uuid(), reference in text(),
        esf in amount(), land in amount(), value_date in date(),
    ) {
        let command = RecordDisbursement {
            fund_id: fund_id.clone(), proposal_id, payment_reference: reference.clone(),
            esf_cents: esf, land_cents: land, value_date,
        };
        let expected = Command::RecordDisbursement {
            proposal_id, payment_reference: reference, esf, land, value_date, today: today(),
        };
        prop_assert_eq!(parsed(&command), request(fund_id, expected));
    }

    #[test]
    fn every_valid_typed_close_project_is_accepted_with_the_same_values(
        fund_id in fund_id(), proposal_id in uuid(),
    ) {
        let command = CloseProject { fund_id: fund_id.clone(), proposal_id };
        let expected = Command::CloseProject { proposal_id, today: today() };
        prop_assert_eq!(parsed(&command), request(fund_id, expected));
    }

    #[test]
    fn every_valid_typed_assess_recovery_is_accepted_with_the_same_values(
        fund_id in fund_id(), proposal_id in uuid(), esf in amount(), land in amount(),
        reason in text(),
    ) {
        let command = AssessRecovery {
            fund_id: fund_id.clone(), proposal_id, esf_cents: esf, land_cents: land,
            reason: reason.clone(),
        };
        let expected = Command::AssessRecovery { proposal_id, esf, land, reason, today: today() };
        prop_assert_eq!(parsed(&command), request(fund_id, expected));
    }

    #[test]
    fn every_valid_typed_record_repayment_is_accepted_with_the_same_values(
        fund_id in fund_id(), proposal_id in uuid(), esf in amount(), land in amount(),
        value_date in date(),
    ) {
        let command = RecordRepayment {
            fund_id: fund_id.clone(), proposal_id, esf_cents: esf, land_cents: land, value_date,
        };
        let expected = Command::RecordRepayment { proposal_id, esf, land, value_date, today: today() };
        prop_assert_eq!(parsed(&command), request(fund_id, expected));
    }

    #[test]
    fn every_valid_typed_expire_unbound_is_accepted_with_the_same_values(fund_id in fund_id()) {
        let command = ExpireUnbound { fund_id: fund_id.clone() };
        prop_assert_eq!(parsed(&command), request(fund_id, Command::ExpireUnbound { today: today() }));
    }
}

/// One valid command of each kind, with every optional field, as JSON.
fn samples() -> Vec<(&'static str, Value)> {
    let fund = "non-2021-2027";
    let id = Uuid::from_u128(7);
    vec![
        (
            AllocateBudget::NAME,
            json!({"fund_id": fund, "esf_cents": 100, "land_cents": 20, "commit_deadline": "2027-12-31"}),
        ),
        (
            AdjustBudget::NAME,
            json!({"fund_id": fund, "source": "land", "delta_cents": -5, "reason": "cut"}),
        ),
        (
            ReleaseReservation::NAME,
            json!({"fund_id": fund, "proposal_id": id, "reason": "expired"}),
        ),
        (
            RecordDisbursement::NAME,
            json!({"fund_id": fund, "proposal_id": id, "payment_reference": "NB-1",
                   "esf_cents": 10, "land_cents": 2, "value_date": "2026-02-01"}),
        ),
        (
            CloseProject::NAME,
            json!({"fund_id": fund, "proposal_id": id}),
        ),
        (
            AssessRecovery::NAME,
            json!({"fund_id": fund, "proposal_id": id, "esf_cents": 1, "land_cents": 0, "reason": "final report"}),
        ),
        (
            RecordRepayment::NAME,
            json!({"fund_id": fund, "proposal_id": id, "esf_cents": 1, "land_cents": 0, "value_date": "2026-03-01"}),
        ),
        (ExpireUnbound::NAME, json!({"fund_id": fund})),
        (
            SubmitClaim::NAME,
            json!({"fund_id": fund, "proposal_id": id, "claim_id": id, "period_from": "2026-01-01",
                   "period_to": "2026-03-31", "declared_eligible_cents": 2_500_000,
                   "esf_cents": 1_500_000, "land_cents": 250_000, "receipts_reference": "BL-2026-Q1"}),
        ),
        (
            VerifyClaim::NAME,
            json!({"fund_id": fund, "proposal_id": id, "claim_id": id,
                   "cuts": [{"esf_cents": 100, "land_cents": 0, "reason": "receipt 7 is a duplicate"}]}),
        ),
        (
            ReturnClaim::NAME,
            json!({"fund_id": fund, "proposal_id": id, "claim_id": id, "missing": "the payslips of March"}),
        ),
        (
            ResubmitClaim::NAME,
            json!({"fund_id": fund, "proposal_id": id, "claim_id": id, "receipts_reference": "BL-2026-Q1-b"}),
        ),
        (
            ApproveClaim::NAME,
            json!({"fund_id": fund, "proposal_id": id, "claim_id": id, "payment_reference": "NB-4711",
                   "value_date": "2026-04-15"}),
        ),
        (
            CheckFinalReport::NAME,
            json!({"fund_id": fund, "proposal_id": id, "report_reference": "VN-2027-3",
                   "eligible_cost_cents": 28_000_000}),
        ),
        (
            RevokeGrant::NAME,
            json!({"fund_id": fund, "proposal_id": id, "legal_basis": "vwvfg_49", "effect": "ex_tunc",
                   "remaining_esf_cents": 0, "remaining_land_cents": 0, "interest_from": "2026-02-01",
                   "reason": "Bescheid 2026-17: purpose not met"}),
        ),
        (
            ChargeInterest::NAME,
            json!({"fund_id": fund, "proposal_id": id, "until": "2026-05-01"}),
        ),
        (
            NoteCorrection::NAME,
            json!({"fund_id": fund, "corrects_entry": 3, "by_entry": 9, "reason": "wrong source"}),
        ),
        (
            LockPeriod::NAME,
            json!({"fund_id": fund, "until": "2025-12-31", "reason": "Jahresabschluss 2025"}),
        ),
        (
            RecordInterestPayment::NAME,
            json!({"fund_id": fund, "proposal_id": id, "esf_cents": 100, "land_cents": 0,
                   "value_date": "2026-05-01"}),
        ),
    ]
}

/// Whether the typed command `name` accepts `data`.
fn type_accepts(name: &str, data: &Value) -> bool {
    (spec(name).accepts)(data)
}

fn parser_result(name: &str, data: &Value) -> Result<Request, Vec<FieldError>> {
    parse(name, data, today(), "operator").expect("a command of this service")
}

/// The required fields of command `name`, as its generated schema lists them.
fn required(name: &str) -> Vec<String> {
    spec(name).required_fields()
}

/// The contract's entry of command `name` of this service.
fn spec(name: &str) -> &'static commands::CommandSpec {
    commands::find(Service::Ledger, name).expect("in the table")
}

#[test]
fn the_samples_are_accepted_by_the_type_and_the_parser() {
    for (name, data) in samples() {
        assert!(type_accepts(name, &data), "{name}");
        assert!(parser_result(name, &data).is_ok(), "{name}");
    }
}

#[test]
fn an_unknown_field_is_refused_by_the_type_and_by_the_parser() {
    for (name, mut data) in samples() {
        data["colour"] = json!("red");
        assert!(!type_accepts(name, &data), "{name}: the type took it");
        let errors = parser_result(name, &data).expect_err("the parser took it");
        assert_eq!(fields(&errors), ["data.colour"], "{name}");
    }
}

#[test]
fn every_required_field_of_the_schema_when_missing_is_refused_by_the_type_and_by_the_parser() {
    for (name, data) in samples() {
        for field in required(name) {
            let mut without = data.clone();
            without
                .as_object_mut()
                .expect("an object")
                .remove(&field)
                .unwrap_or_else(|| panic!("{name}: the sample lacks {field}"));
            assert!(!type_accepts(name, &without), "{name} without {field}");
            let errors = parser_result(name, &without).expect_err("the parser took it");
            assert_eq!(fields(&errors), [format!("data.{field}")], "{name}");
        }
    }
}

#[test]
fn every_optional_field_may_be_left_out_for_the_type_and_the_parser() {
    for (name, data) in samples() {
        let required = required(name);
        let mut minimal = data.clone();
        minimal
            .as_object_mut()
            .expect("an object")
            .retain(|key, _| required.contains(key));
        assert!(type_accepts(name, &minimal), "{name}: {minimal}");
        assert!(parser_result(name, &minimal).is_ok(), "{name}: {minimal}");
    }
}

#[test]
fn the_service_parses_every_one_of_the_contracts_commands() {
    assert_eq!(
        commands::names(Service::Ledger),
        buendel_contract::ledger::COMMANDS
    );
    for name in buendel_contract::ledger::COMMANDS {
        assert!(
            parse(name, &json!({}), today(), "operator").is_some(),
            "{name}"
        );
    }
}

#[test]
fn a_claim_command_records_its_actor_and_every_bad_cut_is_named_by_its_path() {
    let id = Uuid::from_u128(7);
    let data = json!({"fund_id": "non-2021-2027", "proposal_id": id, "claim_id": id,
                      "cuts": [{"esf_cents": 1.5, "land_cents": 0, "reason": " "}, 3]});
    let errors = parse(VerifyClaim::NAME, &data, today(), "officer-a")
        .expect("a command of this service")
        .expect_err("bad cuts");
    assert_eq!(
        fields(&errors),
        [
            "data.cuts[0].esf_cents",
            "data.cuts[0].reason",
            "data.cuts[1]"
        ]
    );
    let good = json!({"fund_id": "non-2021-2027", "proposal_id": id, "claim_id": id});
    let request = parse(VerifyClaim::NAME, &good, today(), "officer-a")
        .expect("a command of this service")
        .expect("parses");
    let Command::VerifyClaim { actor, cuts, .. } = request.command else {
        panic!("not a verification: {:?}", request.command);
    };
    assert_eq!((actor.as_str(), cuts.len()), ("officer-a", 0));
}

#[test]
fn a_date_not_written_yyyy_mm_dd_is_refused_by_the_parser_as_its_schema_says() {
    for (name, data) in samples() {
        for field in [
            "commit_deadline",
            "value_date",
            "period_from",
            "period_to",
            "interest_from",
            "until",
        ] {
            if data.get(field).is_none() {
                continue;
            }
            for bad in ["+2026-1-05", " 2026-1-05", "-001-01-05"] {
                let mut lax = data.clone();
                lax[field] = json!(bad);
                let errors = parser_result(name, &lax).expect_err("the parser took it");
                assert_eq!(fields(&errors), [format!("data.{field}")], "{name} {bad:?}");
            }
        }
    }
}
