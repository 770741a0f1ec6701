//! The hand parser of the approval commands ([`crate::input`]) accepts exactly what the contract's
//! typed commands ([`buendel_contract::commands`]) describe: an arbitrary valid typed command,
//! serialized, parses to the same values; an unknown or a missing field is refused by both the type
//! and the parser, in nested objects too. And the service serves exactly the contract's commands.

use chrono::NaiveDate;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use buendel_contract::commands::{
    self, AddPartner, CommandData, DeclareConflict, IssueStatement, PartnerInput, QuorumInput,
    RecordGrant, RecordRefusal, RegisterAlliance, RemovePartner, Service, Vote,
};
use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::reference::{self, ProgramRules, RegionCategory};
use buendel_contract::reply::FieldError;
use buendel_contract::review::{QuorumRule, Verdict, VoteChoice};

use crate::domain::{AllianceCommand, Command};
use crate::input::{parse, Request};

fn rules() -> Vec<ProgramRules> {
    vec![ProgramRules::esf_plus_2021_2027()]
}

fn parsed<T: CommandData>(command: &T) -> Result<Request, Vec<FieldError>> {
    parse(T::NAME, &command.to_data(), &rules()).expect("a command of this service")
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

/// Any date of the years 0001 to 9999 (what `YYYY-MM-DD` can say).
fn date() -> impl Strategy<Value = NaiveDate> {
    (1i32..=3_652_059).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).expect("a date"))
}

fn cents() -> impl Strategy<Value = Cents> {
    any::<i64>().prop_map(Cents)
}

fn bp() -> impl Strategy<Value = BasisPoints> {
    any::<u32>().prop_map(BasisPoints)
}

fn alliance_id() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,31}"
}

fn partner() -> impl Strategy<Value = PartnerInput> {
    (any::<String>(), any::<String>()).prop_map(|(id, name)| PartnerInput { id, name })
}

fn review(proposal_id: Uuid, command: Command) -> Result<Request, Vec<FieldError>> {
    Ok(Request::Review {
        proposal_id,
        command,
    })
}

fn alliance(alliance_id: String, command: AllianceCommand) -> Result<Request, Vec<FieldError>> {
    Ok(Request::Alliance {
        alliance_id,
        command,
    })
}

fn register_alliance() -> impl Strategy<Value = RegisterAlliance> {
    (
        (alliance_id(), any::<String>(), any::<bool>(), date()),
        option::of(vec(any::<String>(), 0..4)),
        option::of(vec(any::<String>(), 0..4)),
        vec(partner(), 0..5),
        option::of(bp().prop_map(|min_participation_bp| QuorumInput {
            min_participation_bp,
        })),
        option::of(Just(ProgramRules::esf_plus_2021_2027().version)),
    )
        .prop_map(
            |(
                (alliance_id, name, transition, deadline),
                districts,
                focus,
                partners,
                quorum,
                rv,
            )| {
                RegisterAlliance {
                    alliance_id,
                    name,
                    region: if transition {
                        RegionCategory::Transition
                    } else {
                        RegionCategory::MoreDeveloped
                    },
                    districts,
                    focus_areas: focus,
                    partners,
                    quorum,
                    rules_version: rv,
                    application_deadline: deadline,
                }
            },
        )
}

fn record_grant() -> impl Strategy<Value = RecordGrant> {
    (
        (uuid(), any::<String>(), cents(), bp(), bp()),
        (
            cents(),
            cents(),
            date(),
            date(),
            option::of(any::<String>()),
        ),
    )
        .prop_map(
            |(
                (proposal_id, bank_reference, eligible, total, esf_rate),
                (esf, land, from, to, am),
            )| {
                RecordGrant {
                    proposal_id,
                    bank_reference,
                    eligible_cost_cents: eligible,
                    total_rate_bp: total,
                    esf_rate_bp: esf_rate,
                    esf_cents: esf,
                    land_cents: land,
                    period_from: from,
                    period_to: to,
                    amendment_reference: am,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_valid_typed_declare_conflict_is_accepted_with_the_same_values(
        proposal_id in uuid(), partner_id in any::<String>(), reason in any::<String>(),
    ) {
        let command = DeclareConflict { proposal_id, partner_id: partner_id.clone(), reason: reason.clone() };
        prop_assert_eq!(parsed(&command), review(proposal_id, Command::DeclareConflict { partner_id, reason }));
    }

    #[test]
    fn every_valid_typed_vote_is_accepted_with_the_same_values(
        proposal_id in uuid(), partner_id in any::<String>(), choice in 0usize..3,
        comment in option::of(any::<String>()),
    ) {
        let vote = [VoteChoice::Yes, VoteChoice::No, VoteChoice::Abstain][choice];
        let command = Vote { proposal_id, partner_id: partner_id.clone(), vote, comment: comment.clone() };
        prop_assert_eq!(parsed(&command), review(proposal_id, Command::Vote { partner_id, vote, comment }));
    }

    #[test]
    fn every_valid_typed_issue_statement_is_accepted_with_the_same_values(
        proposal_id in uuid(), positive in any::<bool>(),
        conditions in option::of(vec(any::<String>(), 0..4)),
    ) {
        let verdict = if positive { Verdict::Positive } else { Verdict::Negative };
        let command = IssueStatement { proposal_id, verdict, conditions: conditions.clone() };
        let expected = Command::IssueStatement { verdict, conditions: conditions.unwrap_or_default() };
        prop_assert_eq!(parsed(&command), review(proposal_id, expected));
    }

    #[test]
    fn every_valid_typed_record_grant_is_accepted_with_the_same_values(command in record_grant()) {
        let c = command.clone();
        let expected = Command::RecordGrant {
            bank_reference: c.bank_reference,
            eligible_cost_cents: c.eligible_cost_cents,
            total_rate_bp: c.total_rate_bp,
            esf_rate_bp: c.esf_rate_bp,
            esf_cents: c.esf_cents,
            land_cents: c.land_cents,
            period_from: c.period_from,
            period_to: c.period_to,
            amendment_reference: c.amendment_reference,
        };
        prop_assert_eq!(parsed(&command), review(c.proposal_id, expected));
    }

    #[test]
    fn every_valid_typed_record_refusal_is_accepted_with_the_same_values(
        proposal_id in uuid(), bank_reference in any::<String>(), reason in any::<String>(),
    ) {
        let command = RecordRefusal { proposal_id, bank_reference: bank_reference.clone(), reason: reason.clone() };
        prop_assert_eq!(parsed(&command), review(proposal_id, Command::RecordRefusal { bank_reference, reason }));
    }

    #[test]
    fn every_valid_typed_register_alliance_is_accepted_with_the_same_values(
        command in register_alliance(),
    ) {
        let c = command.clone();
        let expected = AllianceCommand::Register {
            alliance: reference::Alliance {
                id: c.alliance_id.clone(),
                name: c.name,
                region: c.region,
                districts: c.districts.unwrap_or_default(),
                focus_areas: c.focus_areas.unwrap_or_else(|| {
                    reference::COMMON_FOCUS_AREAS.iter().map(|s| (*s).to_owned()).collect()
                }),
                application_deadline: c.application_deadline,
                partners: c.partners.into_iter().map(reference::Partner::from).collect(),
            },
            quorum: c.quorum.map_or_else(QuorumRule::default, QuorumRule::from),
            rules: ProgramRules::esf_plus_2021_2027(),
        };
        prop_assert_eq!(parsed(&command), alliance(c.alliance_id, expected));
    }

    #[test]
    fn every_valid_typed_add_partner_is_accepted_with_the_same_values(
        alliance_id in alliance_id(), partner in partner(),
    ) {
        let command = AddPartner { alliance_id: alliance_id.clone(), partner: partner.clone() };
        let expected = AllianceCommand::AddPartner { partner: partner.into() };
        prop_assert_eq!(parsed(&command), alliance(alliance_id, expected));
    }

    #[test]
    fn every_valid_typed_remove_partner_is_accepted_with_the_same_values(
        alliance_id in alliance_id(), partner_id in any::<String>(), reason in any::<String>(),
    ) {
        let command = RemovePartner {
            alliance_id: alliance_id.clone(), partner_id: partner_id.clone(), reason: reason.clone(),
        };
        let expected = AllianceCommand::RemovePartner { partner_id, reason };
        prop_assert_eq!(parsed(&command), alliance(alliance_id, expected));
    }
}

/// One valid command of each kind, with every optional field, as JSON.
fn samples() -> Vec<(&'static str, Value)> {
    let id = Uuid::from_u128(7);
    vec![
        (
            DeclareConflict::NAME,
            json!({"proposal_id": id, "partner_id": "dgb", "reason": "member"}),
        ),
        (
            Vote::NAME,
            json!({"proposal_id": id, "partner_id": "dgb", "vote": "yes", "comment": "gut"}),
        ),
        (
            IssueStatement::NAME,
            json!({"proposal_id": id, "verdict": "positive", "conditions": ["report"]}),
        ),
        (
            RecordGrant::NAME,
            json!({
                "proposal_id": id, "bank_reference": "NB-1", "eligible_cost_cents": 100,
                "total_rate_bp": 7000, "esf_rate_bp": 6000, "esf_cents": 60, "land_cents": 10,
                "period_from": "2026-01-01", "period_to": "2027-12-31",
                "amendment_reference": "NB-1-A",
            }),
        ),
        (
            RecordRefusal::NAME,
            json!({"proposal_id": id, "bank_reference": "NB-1", "reason": "no money"}),
        ),
        (
            RegisterAlliance::NAME,
            json!({
                "alliance_id": "tiny", "name": "Tiny", "region": "transition",
                "districts": ["celle"], "focus_areas": ["good_work"],
                "partners": [{"id": "a", "name": "A"}], "quorum": {"min_participation_bp": 5001},
                "rules_version": "esf-plus-2021-2027/v1", "application_deadline": "2027-12-31",
            }),
        ),
        (
            AddPartner::NAME,
            json!({"alliance_id": "tiny", "partner": {"id": "b", "name": "B"}}),
        ),
        (
            RemovePartner::NAME,
            json!({"alliance_id": "tiny", "partner_id": "a", "reason": "left"}),
        ),
    ]
}

/// Whether the typed command `name` accepts `data`.
fn type_accepts(name: &str, data: &Value) -> bool {
    (spec(name).accepts)(data)
}

fn parser_result(name: &str, data: &Value) -> Result<Request, Vec<FieldError>> {
    parse(name, data, &rules()).expect("a command of this service")
}

/// The required fields of command `name`, as its generated schema lists them.
fn required(name: &str) -> Vec<String> {
    spec(name).required_fields()
}

/// The contract's entry of command `name` of this service.
fn spec(name: &str) -> &'static commands::CommandSpec {
    commands::find(Service::Approval, name).expect("in the table")
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
fn an_unknown_field_of_a_partner_or_a_quorum_is_refused_by_the_type_and_by_the_parser() {
    let samples = samples();
    let of = |name: &str| {
        samples
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d.clone())
            .expect("a sample")
    };
    let mut added = of(AddPartner::NAME);
    added["partner"]["email"] = json!("b@example.org");
    let mut roster = of(RegisterAlliance::NAME);
    roster["partners"][0]["email"] = json!("a@example.org");
    let mut quorum = of(RegisterAlliance::NAME);
    quorum["quorum"]["max_participation_bp"] = json!(9000);
    for (name, data, field) in [
        (AddPartner::NAME, added, "data.partner"),
        (RegisterAlliance::NAME, roster, "data.partners"),
        (RegisterAlliance::NAME, quorum, "data.quorum"),
    ] {
        assert!(!type_accepts(name, &data), "{name}: the type took {data}");
        let errors = parser_result(name, &data).expect_err("the parser took it");
        assert_eq!(fields(&errors), [field], "{name}");
        assert!(errors[0].reason.contains("unknown field"), "{errors:?}");
    }
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
fn the_service_serves_exactly_the_contracts_commands() {
    assert_eq!(
        crate::app::COMMANDS.to_vec(),
        commands::names(Service::Approval)
    );
    for name in crate::app::COMMANDS {
        assert!(parse(name, &json!({}), &rules()).is_some(), "{name}");
    }
}

#[test]
fn a_date_not_written_yyyy_mm_dd_is_refused_by_the_parser_as_its_schema_says() {
    let mut checked = 0;
    for (name, data) in samples() {
        for field in ["period_from", "period_to", "application_deadline"] {
            if data.get(field).is_none() {
                continue;
            }
            for bad in ["2026-1-5", "+2026-01-05", " 2026-01-05"] {
                let mut lax = data.clone();
                lax[field] = json!(bad);
                let errors = parser_result(name, &lax).expect_err("the parser took it");
                assert_eq!(fields(&errors), [format!("data.{field}")], "{name} {bad:?}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 9);
}
