//! The hand parser of the submission commands accepts exactly what the contract's typed commands
//! ([`buendel_contract::commands`]) describe: an arbitrary valid typed command, serialized, parses
//! to the same values; an unknown or a missing field is refused by both the type and the parser.

use chrono::NaiveDate;
use proptest::collection::btree_set;
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use buendel_contract::commands::{self, ApplicantInput, CommandData, Revise, Submit, Withdraw};
use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::proposal::{ProjectType, Submitted, Terms};
use buendel_contract::reply::FieldError;

use super::intake::{
    event_type_of_command, validate_data, Request, AMOUNT_CENTS_MAX, DURATION_MONTHS_MAX,
    LIST_ITEMS_MAX,
};

/// The alliances the parser is told exist.
const KNOWN: [&str; 2] = ["non", "son"];

fn known(id: &str) -> bool {
    KNOWN.contains(&id)
}

/// Parses `data` as command `T` the way the service does.
fn parse<T: CommandData>(data: &Value) -> Result<Request, Vec<FieldError>> {
    let event_type = event_type_of_command(T::NAME).expect("a submission command");
    validate_data(event_type, data, "data", &known)
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

/// A single-line string of 1 to `max` characters: any printable Unicode.
fn line(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("\\PC{{1,{max}}}")).expect("a regex")
}

/// Free text: printable Unicode with tabs and line breaks.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[\\PC\t\n\r]{1,80}").expect("a regex")
}

/// Any date of the years 0001 to 9999 (what `YYYY-MM-DD` can say).
fn date() -> impl Strategy<Value = NaiveDate> {
    (1i32..=3_652_059).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).expect("a date"))
}

fn list() -> impl Strategy<Value = Vec<String>> {
    btree_set(line(40), 1..=LIST_ITEMS_MAX).prop_map(|set| set.into_iter().collect())
}

fn terms() -> impl Strategy<Value = Terms> {
    (
        (line(120), text(), 0usize..3, list(), list()),
        (
            date(),
            1..=DURATION_MONTHS_MAX,
            1..=AMOUNT_CENTS_MAX,
            1u32..=10_000,
        ),
    )
        .prop_map(
            |((title, summary, kind, focus_areas, districts), (start, months, cents, bp))| Terms {
                title,
                summary,
                project_type: [
                    ProjectType::Structure,
                    ProjectType::Unemployed,
                    ProjectType::Training,
                ][kind],
                focus_areas,
                districts,
                planned_start: start,
                duration_months: u16::try_from(months).expect("at most 120"),
                eligible_cost_cents: Cents(cents),
                requested_rate_bp: BasisPoints(bp),
            },
        )
}

fn submit() -> impl Strategy<Value = Submit> {
    (
        any::<u128>(),
        prop::sample::select(KNOWN.to_vec()),
        (line(80), line(64), line(64)),
        terms(),
    )
        .prop_map(|(id, alliance, (name, kind, district), terms)| Submit {
            proposal_id: Uuid::from_u128(id),
            alliance_id: alliance.to_owned(),
            applicant: ApplicantInput {
                name,
                kind,
                district,
            },
            terms,
        })
}

fn revise() -> impl Strategy<Value = Revise> {
    (any::<u128>(), terms(), text()).prop_map(|(id, terms, reason)| Revise {
        proposal_id: Uuid::from_u128(id),
        terms,
        reason,
    })
}

fn withdraw() -> impl Strategy<Value = Withdraw> {
    (any::<u128>(), text()).prop_map(|(id, reason)| Withdraw {
        proposal_id: Uuid::from_u128(id),
        reason,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_valid_typed_submit_is_accepted_with_the_same_values(command in submit()) {
        let parsed = parse::<Submit>(&command.to_data());
        prop_assert_eq!(parsed, Ok(Request::Submit(Submitted::from(command))));
    }

    #[test]
    fn every_valid_typed_revise_is_accepted_with_the_same_values(command in revise()) {
        let parsed = parse::<Revise>(&command.to_data());
        let Revise { proposal_id, terms, reason } = command;
        prop_assert_eq!(parsed, Ok(Request::Revise { proposal_id, terms, reason }));
    }

    #[test]
    fn every_valid_typed_withdraw_is_accepted_with_the_same_values(command in withdraw()) {
        let parsed = parse::<Withdraw>(&command.to_data());
        let Withdraw { proposal_id, reason } = command;
        prop_assert_eq!(parsed, Ok(Request::Withdraw { proposal_id, reason }));
    }
}

/// One valid command of each kind, as JSON.
fn samples() -> Vec<(&'static str, Value)> {
    let terms = json!({
        "title": "Ausbildungsbotschafter:innen", "summary": "Trainees visit schools.",
        "project_type": "structure", "focus_areas": ["dual_training"], "districts": ["celle"],
        "planned_start": "2026-03-01", "duration_months": 18,
        "eligible_cost_cents": 30_000_000, "requested_rate_bp": 7_000,
    });
    let mut submit = json!({
        "proposal_id": Uuid::from_u128(1), "alliance_id": "non",
        "applicant": {"name": "Bildungswerk e.V.", "kind": "verein", "district": "celle"},
    });
    let mut revise = json!({"proposal_id": Uuid::from_u128(1), "reason": "cheaper"});
    for (key, value) in terms.as_object().expect("terms").clone() {
        submit[&key] = value.clone();
        revise[&key] = value;
    }
    let withdraw = json!({"proposal_id": Uuid::from_u128(1), "reason": "changed plans"});
    vec![
        (Submit::NAME, submit),
        (Revise::NAME, revise),
        (Withdraw::NAME, withdraw),
    ]
}

/// Whether the typed command `name` accepts `data`.
fn type_accepts(name: &str, data: &Value) -> bool {
    (spec(name).accepts)(data)
}

fn parser_result(name: &str, data: &Value) -> Result<Request, Vec<FieldError>> {
    let event_type = event_type_of_command(name).expect("a submission command");
    validate_data(event_type, data, "data", &known)
}

/// The required fields of command `name`, as its generated schema lists them.
fn required(name: &str) -> Vec<String> {
    spec(name).required_fields()
}

/// The contract's entry of command `name` of this service.
fn spec(name: &str) -> &'static commands::CommandSpec {
    commands::find(commands::Service::Submission, name).expect("in the table")
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
fn an_unknown_field_of_the_applicant_is_refused_by_the_type_and_by_the_parser() {
    let (name, mut data) = samples().remove(0);
    data["applicant"]["vat_id"] = json!("DE1");
    assert!(!type_accepts(name, &data));
    let errors = parser_result(name, &data).expect_err("the parser took it");
    assert_eq!(fields(&errors), ["data.applicant.vat_id"]);
}

#[test]
fn every_required_field_of_the_schema_when_missing_is_refused_by_the_type_and_by_the_parser() {
    for (name, data) in samples() {
        let required = required(name);
        assert!(required.len() >= 2, "{name}: {required:?}");
        for field in required {
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
fn a_date_not_written_yyyy_mm_dd_is_refused_by_the_parser_as_its_schema_says() {
    let (name, data) = samples().remove(0);
    for bad in ["+2026-3-01", " 2026-3-01", "-001-03-01"] {
        let mut lax = data.clone();
        lax["planned_start"] = json!(bad);
        let errors = parser_result(name, &lax).expect_err("the parser took it");
        assert_eq!(fields(&errors), ["data.planned_start"], "{bad:?}");
    }
}
