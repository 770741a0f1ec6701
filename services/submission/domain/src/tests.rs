//! Given/when/then and property tests of the Proposal aggregate, intake validation and screening.

use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

use buendel_contract::aggregate::given;
use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::proposal::{
    Applicant, ProjectType, ProposalEvent, ReviewRecorded, ReviewStage, Screened, Submitted, Terms,
    Withdrawn,
};
use buendel_contract::reference::{builtin_alliances, ProgramRules};
use buendel_contract::{Aggregate, DomainError};

use super::intake::{validate_event, Request};
use super::screening::screen;
use super::{Command, Proposal, ProposalError, Status};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("real date")
}

fn terms() -> Terms {
    Terms {
        title: "Ausbildungsbotschafter:innen Heidekreis".into(),
        summary: "Trainees visit schools.".into(),
        project_type: ProjectType::Structure,
        focus_areas: vec!["dual_training".into()],
        districts: vec!["heidekreis".into()],
        planned_start: date(2027, 3, 1),
        duration_months: 24,
        eligible_cost_cents: Cents(30_000_000),
        requested_rate_bp: BasisPoints(7_000),
    }
}

fn submitted(id: Uuid) -> Submitted {
    Submitted {
        proposal_id: id,
        alliance_id: "non".into(),
        applicant: Applicant {
            name: "Bildungswerk".into(),
            kind: "verein".into(),
            district: "heidekreis".into(),
        },
        terms: terms(),
    }
}

fn screen_command(today: NaiveDate) -> Command {
    Command::Screen {
        alliance: builtin_alliances().into_iter().find(|a| a.id == "non"),
        rules: ProgramRules::esf_plus_2021_2027(),
        today,
    }
}

fn passed_screening(id: Uuid) -> ProposalEvent {
    ProposalEvent::Screened(Screened {
        proposal_id: id,
        passed: true,
        rules_version: "v".into(),
        results: vec![],
        subject: None,
    })
}

#[test]
fn a_new_proposal_is_submitted() {
    let id = Uuid::new_v4();
    let events = given::<Proposal>(&[])
        .decide(&Command::Submit(submitted(id)))
        .expect("accepted");
    assert_eq!(events, vec![ProposalEvent::Submitted(submitted(id))]);
}

#[test]
fn a_proposal_cannot_be_submitted_twice() {
    let id = Uuid::new_v4();
    let state = given::<Proposal>(&[ProposalEvent::Submitted(submitted(id))]);
    let error = state
        .decide(&Command::Submit(submitted(id)))
        .expect_err("refused");
    assert_eq!(error, ProposalError::AlreadySubmitted(id));
    assert_eq!(error.code(), "already_submitted");
}

#[test]
fn a_submitted_proposal_within_the_rules_passes_screening_and_goes_into_review() {
    let id = Uuid::new_v4();
    let state = given::<Proposal>(&[ProposalEvent::Submitted(submitted(id))]);
    let events = state
        .decide(&screen_command(date(2026, 11, 25)))
        .expect("screened");
    let [ProposalEvent::Screened(screened)] = events.as_slice() else {
        panic!("one screened event")
    };
    assert!(screened.passed, "{:?}", screened.results);
    assert_eq!(state.apply(&events[0]).status, Status::InReview);
}

#[test]
fn a_proposal_above_the_cost_cap_is_screened_out_with_the_rule_named() {
    let id = Uuid::new_v4();
    let mut big = submitted(id);
    big.terms.eligible_cost_cents = Cents(65_000_000);
    let state = given::<Proposal>(&[ProposalEvent::Submitted(big)]);
    let events = state
        .decide(&screen_command(date(2026, 11, 25)))
        .expect("screened");
    let ProposalEvent::Screened(screened) = &events[0] else {
        panic!("screened")
    };
    assert!(!screened.passed);
    let failed: Vec<&str> = screened
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.rule.as_str())
        .collect();
    assert_eq!(failed, vec!["eligible_cost_cap"]);
    assert_eq!(state.apply(&events[0]).status, Status::ScreeningFailed);
}

#[test]
fn screening_reports_every_broken_rule_not_just_the_first() {
    let id = Uuid::new_v4();
    let mut bad = submitted(id);
    bad.terms.requested_rate_bp = BasisPoints(8_000);
    bad.terms.focus_areas = vec!["space_travel".into()];
    bad.terms.planned_start = date(2020, 1, 1);
    let state = given::<Proposal>(&[ProposalEvent::Submitted(bad)]);
    let ProposalEvent::Screened(screened) = &state
        .decide(&screen_command(date(2026, 11, 25)))
        .expect("ok")[0]
    else {
        panic!("screened")
    };
    let failed: Vec<&str> = screened
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.rule.as_str())
        .collect();
    for rule in [
        "total_rate_cap",
        "focus_areas_of_alliance",
        "start_after_filing",
        "eligibility_window",
    ] {
        assert!(failed.contains(&rule), "{rule} missing from {failed:?}");
    }
}

#[test]
fn a_long_project_only_gets_a_warning() {
    let id = Uuid::new_v4();
    let mut long = submitted(id);
    long.terms.duration_months = 40;
    long.terms.planned_start = date(2025, 2, 1);
    let screened = screen(
        id,
        "non",
        &long.terms,
        builtin_alliances().first(),
        &ProgramRules::esf_plus_2021_2027(),
        date(2025, 1, 10),
    );
    assert!(screened.passed);
    assert!(screened
        .results
        .iter()
        .any(|r| r.rule == "duration_normal" && !r.passed));
}

#[test]
fn applications_after_the_alliance_deadline_are_screened_out() {
    let id = Uuid::new_v4();
    let mut late = submitted(id);
    late.terms.planned_start = date(2028, 2, 1);
    let screened = screen(
        id,
        "non",
        &late.terms,
        builtin_alliances().first(),
        &ProgramRules::esf_plus_2021_2027(),
        date(2028, 1, 15),
    );
    assert!(!screened.passed);
    assert!(screened
        .results
        .iter()
        .any(|r| r.rule == "application_deadline" && !r.passed));
}

#[test]
fn screening_an_already_screened_proposal_changes_nothing() {
    let id = Uuid::new_v4();
    let state = given::<Proposal>(&[
        ProposalEvent::Submitted(submitted(id)),
        passed_screening(id),
    ]);
    assert_eq!(
        state.decide(&screen_command(date(2026, 11, 25))),
        Ok(vec![])
    );
}

#[test]
fn a_revision_is_screened_again() {
    let id = Uuid::new_v4();
    let state = given::<Proposal>(&[
        ProposalEvent::Submitted(submitted(id)),
        passed_screening(id),
    ]);
    let revise = Command::Revise {
        terms: terms(),
        reason: "new plan".into(),
    };
    let events = state.decide(&revise).expect("revised");
    let state = state.apply(&events[0]);
    assert_eq!(state.status, Status::Submitted);
    assert_eq!(
        state
            .decide(&screen_command(date(2026, 11, 25)))
            .expect("screened")
            .len(),
        1
    );
}

#[test]
fn a_proposal_cannot_be_revised_after_the_statement() {
    let id = Uuid::new_v4();
    let state = given::<Proposal>(&[
        ProposalEvent::Submitted(submitted(id)),
        passed_screening(id),
        recorded(id, ReviewStage::Statement),
    ]);
    let error = state
        .decide(&Command::Revise {
            terms: terms(),
            reason: "x".into(),
        })
        .expect_err("refused");
    assert_eq!(error.code(), "already_decided");
}

#[test]
fn a_proposal_can_be_withdrawn_before_but_not_after_the_grant() {
    let id = Uuid::new_v4();
    let stated = [
        ProposalEvent::Submitted(submitted(id)),
        passed_screening(id),
        recorded(id, ReviewStage::Statement),
    ];
    let withdraw = Command::Withdraw { reason: "x".into() };
    assert!(given::<Proposal>(&stated).decide(&withdraw).is_ok());
    let mut granted = stated.to_vec();
    granted.push(recorded(id, ReviewStage::Grant));
    let error = given::<Proposal>(&granted)
        .decide(&withdraw)
        .expect_err("refused");
    assert_eq!(error.code(), "already_granted");
}

#[test]
fn nothing_happens_to_a_withdrawn_proposal() {
    let id = Uuid::new_v4();
    let withdrawn = ProposalEvent::Withdrawn(Withdrawn {
        proposal_id: id,
        reason: "x".into(),
    });
    let state = given::<Proposal>(&[ProposalEvent::Submitted(submitted(id)), withdrawn]);
    assert_eq!(
        state.decide(&Command::Withdraw {
            reason: "again".into(),
        }),
        Err(ProposalError::AlreadyWithdrawn)
    );
    assert_eq!(
        state.decide(&Command::Revise {
            terms: terms(),
            reason: "r".into(),
        }),
        Err(ProposalError::AlreadyWithdrawn)
    );
}

#[test]
fn an_unknown_proposal_cannot_be_withdrawn() {
    let error = given::<Proposal>(&[])
        .decide(&Command::Withdraw { reason: "x".into() })
        .expect_err("refused");
    assert_eq!(error.code(), "unknown_proposal");
}

fn valid_event(id: Uuid) -> serde_json::Value {
    json!({
        "specversion": "1.0",
        "id": Uuid::new_v4().to_string(),
        "source": "/portal",
        "type": "buendel.proposal.submitted.v1",
        "datacontenttype": "application/json",
        "data": {
            "proposal_id": id.to_string(),
            "alliance_id": "non",
            "applicant": {"name": "Bildungswerk", "kind": "verein", "district": "heidekreis"},
            "title": "T", "summary": "S", "project_type": "structure",
            "focus_areas": ["dual_training"], "districts": ["heidekreis"],
            "planned_start": "2027-03-01", "duration_months": 24,
            "eligible_cost_cents": 30000000, "requested_rate_bp": 7000
        }
    })
}

fn known(id: &str) -> bool {
    id == "non" || id == "son"
}

#[test]
fn a_valid_intake_event_becomes_a_submit_request() {
    let id = Uuid::new_v4();
    let bytes = serde_json::to_vec(&valid_event(id)).expect("json");
    let event = validate_event(&bytes, &known).expect("valid");
    let Request::Submit(submitted) = event.request else {
        panic!("submit")
    };
    assert_eq!(submitted.proposal_id, id);
    assert_eq!(submitted.terms.eligible_cost_cents, Cents(30_000_000));
}

#[test]
fn districts_as_publishers_write_them_become_the_districts_ids() {
    // Given official names in any case and with umlauts, and official district keys,
    let mut event = valid_event(Uuid::new_v4());
    event["data"]["applicant"]["district"] = json!("LANDKREIS HEIDEKREIS");
    event["data"]["districts"] = json!(["Lüneburg", "03360", "Lüchow-Dannenberg"]);
    let bytes = serde_json::to_vec(&event).expect("json");
    // when the intake reads them, then each is the district's one id.
    let Request::Submit(submitted) = validate_event(&bytes, &known).expect("valid").request else {
        panic!("submit")
    };
    assert_eq!(submitted.applicant.district, "heidekreis");
    assert_eq!(
        submitted.terms.districts,
        ["lueneburg", "uelzen", "luechow_dannenberg"]
    );
    // Two spellings of one district are one district listed twice.
    event["data"]["districts"] = json!(["Celle", "03351"]);
    let bytes = serde_json::to_vec(&event).expect("json");
    let rejected = validate_event(&bytes, &known).expect_err("listed twice");
    assert!(
        rejected
            .reasons
            .iter()
            .any(|e| e.field == "data.districts[1]"),
        "{:?}",
        rejected.reasons
    );
}

#[test]
fn a_district_outside_the_region_is_screened_out_with_the_regions_districts_named() {
    let mut terms = terms();
    terms.districts = vec!["atlantis".into()];
    let alliances = builtin_alliances();
    let screened = screen(
        Uuid::new_v4(),
        "non",
        &terms,
        Some(&alliances[0]),
        &ProgramRules::esf_plus_2021_2027(),
        date(2026, 1, 5),
    );
    let rule = screened
        .results
        .iter()
        .find(|r| r.rule == "districts_in_region")
        .expect("the rule");
    assert!(!rule.passed);
    assert!(
        rule.message.contains("Lüchow-Dannenberg (03354)") && rule.message.contains("atlantis"),
        "{}",
        rule.message
    );
}

#[test]
fn intake_reports_every_reason_at_once() {
    let mut event = valid_event(Uuid::new_v4());
    event["data"]["eligible_cost_cents"] = json!(300000.5);
    event["data"]["alliance_id"] = json!("xyz");
    event["data"]["planned_start"] = json!("2027-02-30");
    event["data"]["proposal_id"] = json!("not-a-uuid");
    event["data"]["colour"] = json!("blue");
    let bytes = serde_json::to_vec(&event).expect("json");
    let rejected = validate_event(&bytes, &known).expect_err("invalid");
    let fields: Vec<&str> = rejected.reasons.iter().map(|r| r.field.as_str()).collect();
    for field in [
        "data.eligible_cost_cents",
        "data.alliance_id",
        "data.planned_start",
        "data.proposal_id",
        "data.colour",
    ] {
        assert!(fields.contains(&field), "{field} missing from {fields:?}");
    }
    let float = rejected
        .reasons
        .iter()
        .find(|r| r.field == "data.eligible_cost_cents")
        .expect("reason");
    assert!(float.reason.contains("float"), "{}", float.reason);
}

#[test]
fn intake_refuses_bad_json_wrong_types_and_oversized_messages() {
    assert!(validate_event(b"{not json", &known).is_err());
    let mut wrong = valid_event(Uuid::new_v4());
    wrong["type"] = json!("buendel.proposal.approved.v1");
    let rejected =
        validate_event(&serde_json::to_vec(&wrong).expect("json"), &known).expect_err("invalid");
    assert_eq!(rejected.reasons[0].field, "type");
    let mut huge = valid_event(Uuid::new_v4());
    huge["data"]["summary"] = json!("x".repeat(70_000));
    let rejected =
        validate_event(&serde_json::to_vec(&huge).expect("json"), &known).expect_err("invalid");
    assert!(rejected.reasons[0].reason.contains("bytes"));
}

fn arb_event() -> impl Strategy<Value = (u8, bool)> {
    (0u8..4, any::<bool>())
}

proptest! {
    /// Whatever commands arrive in whatever order, a withdrawn proposal stays withdrawn, and a
    /// proposal never has more screenings than submissions plus revisions.
    #[test]
    fn withdrawal_is_final_and_screenings_follow_submissions(steps in proptest::collection::vec(arb_event(), 0..40)) {
        let id = Uuid::new_v4();
        let mut state = Proposal::default();
        let mut submissions_and_revisions = 0u32;
        for (kind, granted) in steps {
            let stage = if granted { ReviewStage::Grant } else { ReviewStage::Statement };
            let command = match kind {
                0 => Command::Submit(submitted(id)),
                1 => screen_command(date(2026, 11, 25)),
                2 => Command::Revise { terms: terms(), reason: "r".into() },
                3 if granted => Command::RecordReview { stage, review_event_id: Uuid::nil() },
                _ => Command::Withdraw { reason: "w".into() },
            };
            let was_withdrawn = state.status == Status::Withdrawn;
            if let Ok(events) = state.decide(&command) {
                for event in &events {
                    if matches!(event, ProposalEvent::Submitted(_) | ProposalEvent::Revised(_)) {
                        submissions_and_revisions += 1;
                    }
                    state = state.clone().apply(event);
                }
            }
            if was_withdrawn {
                prop_assert_eq!(state.status, Status::Withdrawn);
            }
            prop_assert!(state.screenings <= submissions_and_revisions);
        }
    }

    /// Any integer amount and rate gives a screening whose verdict matches its rules.
    #[test]
    fn a_screening_passes_exactly_when_no_error_rule_fails(
        cents in 1i64..100_000_000,
        rate in 1u32..10_000,
        months in 1u16..120,
    ) {
        let mut t = terms();
        t.eligible_cost_cents = Cents(cents);
        t.requested_rate_bp = BasisPoints(rate);
        t.duration_months = months;
        let s = screen(Uuid::nil(), "non", &t, builtin_alliances().first(), &ProgramRules::esf_plus_2021_2027(), date(2026, 11, 25));
        let ok = s.results.iter().all(|r| r.passed || r.severity == buendel_contract::proposal::Severity::Warning);
        prop_assert_eq!(s.passed, ok);
        prop_assert_eq!(s.passed, cents <= 50_000_000 && rate <= 7_000 && date(2027, 3, 1).checked_add_months(chrono::Months::new(months.into())).is_some_and(|e| e <= date(2029, 12, 31)));
    }
}

fn recorded(id: Uuid, stage: ReviewStage) -> ProposalEvent {
    ProposalEvent::ReviewRecorded(ReviewRecorded {
        proposal_id: id,
        stage,
        review_event_id: Uuid::new_v4(),
    })
}

#[test]
fn a_review_stage_is_recorded_once() {
    let id = Uuid::new_v4();
    let state = given::<Proposal>(&[ProposalEvent::Submitted(submitted(id))]);
    let record = Command::RecordReview {
        stage: ReviewStage::Statement,
        review_event_id: Uuid::nil(),
    };
    let events = state.decide(&record).expect("recorded");
    assert_eq!(events.len(), 1);
    let state = state.apply(&events[0]);
    assert!(state.review.statement_issued && !state.review.granted);
    assert_eq!(state.decide(&record), Ok(vec![]));
    let granted = state
        .decide(&Command::RecordReview {
            stage: ReviewStage::Grant,
            review_event_id: Uuid::nil(),
        })
        .expect("recorded");
    assert!(state.apply(&granted[0]).review.granted);
}

#[test]
fn a_review_of_an_unknown_proposal_is_refused() {
    let error = given::<Proposal>(&[])
        .decide(&Command::RecordReview {
            stage: ReviewStage::Grant,
            review_event_id: Uuid::nil(),
        })
        .expect_err("refused");
    assert_eq!(error.code(), "unknown_proposal");
}

/// Two versions: v2 (in force from 2026-07-01) caps structure projects at 250,000.00 EUR.
fn two_versions() -> Vec<ProgramRules> {
    let v1 = ProgramRules::esf_plus_2021_2027();
    let mut v2 = v1.clone();
    v2.version = "esf-plus-2021-2027/v2".into();
    v2.effective_from = date(2026, 7, 1);
    v2.max_eligible_structure_cents = Cents(25_000_000);
    vec![v1, v2]
}

fn screened_version(events: &[ProposalEvent]) -> (String, bool) {
    events
        .iter()
        .find_map(|e| match e {
            ProposalEvent::Screened(s) => Some((s.rules_version.clone(), s.passed)),
            _ => None,
        })
        .expect("screened")
}

#[test]
fn a_proposal_is_screened_under_the_version_in_force_on_its_submission_date_and_revised_under_it() {
    let alliances = builtin_alliances();
    let alliance = |id: &str| alliances.iter().find(|a| a.id == id);
    let versions = two_versions();
    // Given 300,000.00 EUR eligible, submitted the day before v2 comes into force: v1, passed.
    let id = Uuid::new_v4();
    let submit = Request::Submit(submitted(id));
    let events = submit
        .decide_versioned(&Proposal::default(), alliance, &versions, date(2026, 6, 30))
        .expect("submitted");
    assert_eq!(
        screened_version(&events),
        ("esf-plus-2021-2027/v1".into(), true)
    );
    // The same submitted on the day v2 is in force: v2 caps it, screened out, the version named.
    let late = Request::Submit(submitted(Uuid::new_v4()));
    let events_v2 = late
        .decide_versioned(&Proposal::default(), alliance, &versions, date(2026, 7, 1))
        .expect("submitted");
    assert_eq!(
        screened_version(&events_v2),
        ("esf-plus-2021-2027/v2".into(), false)
    );
    // A revision of the first proposal after v2 came into force is screened under v1 still.
    let state = events
        .iter()
        .fold(Proposal::default(), |state, event| state.apply(event));
    let mut revised = terms();
    revised.eligible_cost_cents = Cents(29_000_000);
    let revise = Request::Revise {
        proposal_id: id,
        terms: revised,
        reason: "cheaper venue".into(),
    };
    let events = revise
        .decide_versioned(&state, alliance, &versions, date(2026, 9, 1))
        .expect("revised");
    assert_eq!(
        screened_version(&events),
        ("esf-plus-2021-2027/v1".into(), true)
    );
}
