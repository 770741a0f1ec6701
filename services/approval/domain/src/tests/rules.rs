//! Given/when/then, one test per rule of the Review aggregate.

use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::reference::{builtin_alliances, Partner, ProgramRules, RegionCategory};
use buendel_contract::review::{QuorumRule, ReviewEvent, Tally, Verdict, VoteChoice};
use buendel_contract::{Aggregate, DomainError};

use super::*;
use crate::{tally, Status};

// ---- opening -------------------------------------------------------------------------------

#[test]
fn a_screened_proposal_opens_a_review_with_the_roster_quorum_and_caps_of_its_alliance() {
    let alliances = builtin_alliances();
    let non = &alliances[0];
    let command = Command::open(
        proposal_id(),
        non,
        QuorumRule::default(),
        &ProgramRules::esf_plus_2021_2027(),
        SCREENED,
        BasisPoints(7_000),
    );
    let ReviewEvent::Opened(opened) = accepted(&[], &command) else {
        panic!("not opened")
    };
    assert_eq!(opened.proposal_id, proposal_id());
    assert_eq!(opened.alliance_id, "non");
    assert_eq!(opened.partners.len(), 14);
    assert_eq!(opened.quorum.min_participation_bp, BasisPoints(5_001));
    assert_eq!(opened.max_total_rate_bp, BasisPoints(7_000));
    assert_eq!(opened.max_esf_rate_bp, BasisPoints(6_000));
    assert_eq!(opened.rules_version, "esf-plus-2021-2027/v1");
    assert_eq!(opened.eligible_cost_cents, SCREENED);
}

#[test]
fn a_review_in_a_more_developed_region_caps_esf_at_40_percent() {
    let alliances = builtin_alliances();
    let command = Command::open(
        proposal_id(),
        &alliances[1],
        QuorumRule::default(),
        &ProgramRules::esf_plus_2021_2027(),
        SCREENED,
        BasisPoints(7_000),
    );
    let ReviewEvent::Opened(opened) = accepted(&[], &command) else {
        panic!("not opened")
    };
    assert_eq!(opened.partners.len(), 28);
    assert_eq!(opened.region, RegionCategory::MoreDeveloped);
    assert_eq!(opened.max_esf_rate_bp, BasisPoints(4_000));
}

#[test]
fn a_second_open_is_refused_as_already_opened() {
    assert_eq!(refused(&[open()], &open()), "already_opened");
}

#[test]
fn a_review_with_an_empty_roster_cannot_be_opened() {
    let command = open_with(vec![], RegionCategory::Transition, QuorumRule::default());
    assert_eq!(refused(&[], &command), "invalid_roster");
}

#[test]
fn a_review_whose_roster_names_a_partner_twice_cannot_be_opened() {
    let mut partners = roster(3);
    partners.push(Partner {
        id: "p1".into(),
        name: "Again".into(),
    });
    let command = open_with(partners, RegionCategory::Transition, QuorumRule::default());
    assert_eq!(refused(&[], &command), "invalid_roster");
}

#[test]
fn a_quorum_rule_of_zero_or_above_100_percent_is_refused() {
    for bp in [0, 10_001] {
        let rule = QuorumRule {
            min_participation_bp: BasisPoints(bp),
        };
        let command = open_with(roster(3), RegionCategory::Transition, rule);
        assert_eq!(refused(&[], &command), "invalid_quorum_rule");
    }
}

#[test]
fn nothing_but_open_is_accepted_before_a_review_is_opened() {
    for command in [
        recuse("p0"),
        vote("p0", VoteChoice::Yes),
        statement(Verdict::Negative),
        grant(),
        refusal(),
        close(),
    ] {
        assert_eq!(
            refused(&[], &command),
            "review_not_open",
            "{}",
            command.name()
        );
    }
}

// ---- conflicts -------------------------------------------------------------------------------

#[test]
fn a_partner_declares_a_conflict_and_is_counted_as_recused() {
    let event = accepted(&[open()], &recuse("p3"));
    let ReviewEvent::ConflictDeclared(declared) = &event else {
        panic!("not declared")
    };
    assert_eq!(declared.partner_id, "p3");
    assert_eq!(declared.reason, "is the applicant");
    let state = given::<Review>(&history(&[open()])).apply(&event);
    assert_eq!(state.status(), Status::InReview);
    assert_eq!(
        tally(&state),
        Tally {
            yes: 0,
            no: 0,
            abstain: 0,
            recused: 1,
            eligible: 4
        }
    );
}

#[test]
fn an_unknown_partner_cannot_declare_a_conflict() {
    assert_eq!(refused(&[open()], &recuse("stranger")), "unknown_partner");
}

#[test]
fn a_partner_cannot_recuse_twice() {
    assert_eq!(
        refused(&[open(), recuse("p1")], &recuse("p1")),
        "already_recused"
    );
}

#[test]
fn a_conflict_must_state_its_nature() {
    let blank = Command::DeclareConflict {
        partner_id: "p1".into(),
        reason: "  ".into(),
    };
    assert_eq!(refused(&[open()], &blank), "missing_reason");
}

#[test]
fn a_conflict_cannot_be_declared_after_the_statement() {
    assert_eq!(
        refused(&positive(), &recuse("p4")),
        "statement_already_issued"
    );
}

// ---- votes -----------------------------------------------------------------------------------

#[test]
fn a_partner_on_the_roster_votes_with_a_comment() {
    let command = Command::Vote {
        partner_id: "p2".into(),
        vote: VoteChoice::Abstain,
        comment: Some("needs a clearer target group".into()),
    };
    let ReviewEvent::VoteRecorded(recorded) = accepted(&[open()], &command) else {
        panic!("not recorded")
    };
    assert_eq!(recorded.partner_id, "p2");
    assert_eq!(recorded.vote, VoteChoice::Abstain);
    assert_eq!(
        recorded.comment.as_deref(),
        Some("needs a clearer target group")
    );
}

#[test]
fn an_unknown_partner_cannot_vote() {
    assert_eq!(
        refused(&[open()], &vote("stranger", VoteChoice::Yes)),
        "unknown_partner"
    );
}

#[test]
fn a_recused_partner_cannot_vote() {
    assert_eq!(
        refused(&[open(), recuse("p1")], &vote("p1", VoteChoice::Yes)),
        "partner_recused"
    );
}

#[test]
fn a_partner_may_change_its_vote_until_the_statement_and_its_last_vote_counts() {
    let state = given::<Review>(&history(&[
        open(),
        vote("p0", VoteChoice::No),
        vote("p0", VoteChoice::Yes),
        vote("p1", VoteChoice::Yes),
        vote("p1", VoteChoice::Abstain),
    ]));
    assert_eq!(
        tally(&state),
        Tally {
            yes: 1,
            no: 0,
            abstain: 1,
            recused: 0,
            eligible: 5
        }
    );
}

#[test]
fn no_vote_is_accepted_after_the_statement() {
    assert_eq!(
        refused(&positive(), &vote("p4", VoteChoice::Yes)),
        "vote_after_statement"
    );
    assert_eq!(
        refused(&positive(), &vote("p2", VoteChoice::Yes)),
        "vote_after_statement"
    );
}

#[test]
fn the_vote_of_a_partner_who_then_declares_a_conflict_no_longer_counts() {
    let state = given::<Review>(&history(&[
        open(),
        vote("p0", VoteChoice::Yes),
        vote("p1", VoteChoice::No),
        recuse("p0"),
    ]));
    assert_eq!(
        tally(&state),
        Tally {
            yes: 0,
            no: 1,
            abstain: 0,
            recused: 1,
            eligible: 4
        }
    );
}

// ---- statement -------------------------------------------------------------------------------

#[test]
fn a_statement_without_its_quorum_is_refused() {
    let two_of_five = [
        open(),
        vote("p0", VoteChoice::Yes),
        vote("p1", VoteChoice::No),
    ];
    assert_eq!(
        refused(&two_of_five, &statement(Verdict::Negative)),
        "quorum_not_met"
    );
    let error = given::<Review>(&history(&two_of_five))
        .decide(&statement(Verdict::Negative))
        .expect_err("no quorum");
    assert_eq!(
        error,
        ReviewError::QuorumNotMet {
            participants: 2,
            eligible: 5,
            required: 3
        }
    );
}

#[test]
fn recused_partners_are_not_counted_among_the_eligible_for_the_quorum() {
    // 2 of 5 is no quorum; with 2 recused, 2 of the 3 eligible is more than half.
    let commands = [
        open(),
        recuse("p3"),
        recuse("p4"),
        vote("p0", VoteChoice::Yes),
        vote("p1", VoteChoice::Yes),
    ];
    let ReviewEvent::StatementIssued(issued) = accepted(&commands, &statement(Verdict::Positive))
    else {
        panic!("not issued")
    };
    assert_eq!(
        issued.tally,
        Tally {
            yes: 2,
            no: 0,
            abstain: 0,
            recused: 2,
            eligible: 3
        }
    );
    assert!(issued.quorum_met);
}

#[test]
fn a_recused_partners_earlier_vote_does_not_count_for_the_quorum() {
    let commands = [
        open(),
        vote("p0", VoteChoice::Yes),
        vote("p1", VoteChoice::Yes),
        vote("p2", VoteChoice::Yes),
        recuse("p2"),
    ];
    // 2 of 4 eligible is exactly half, not more than half.
    assert_eq!(
        refused(&commands, &statement(Verdict::Positive)),
        "quorum_not_met"
    );
}

#[test]
fn no_statement_can_be_issued_when_every_partner_is_recused() {
    let commands = [
        open_with(roster(2), RegionCategory::Transition, QuorumRule::default()),
        recuse("p0"),
        recuse("p1"),
    ];
    assert_eq!(
        refused(&commands, &statement(Verdict::Negative)),
        "quorum_not_met"
    );
}

#[test]
fn abstentions_count_for_the_quorum_but_not_for_the_majority() {
    let commands = [
        open(),
        vote("p0", VoteChoice::Abstain),
        vote("p1", VoteChoice::Abstain),
        vote("p2", VoteChoice::Yes),
    ];
    let ReviewEvent::StatementIssued(issued) = accepted(&commands, &statement(Verdict::Positive))
    else {
        panic!("not issued")
    };
    assert_eq!(
        issued.tally,
        Tally {
            yes: 1,
            no: 0,
            abstain: 2,
            recused: 0,
            eligible: 5
        }
    );
}

#[test]
fn a_positive_statement_needs_more_yes_than_no_votes() {
    let tie = [
        open(),
        vote("p0", VoteChoice::Yes),
        vote("p1", VoteChoice::No),
        vote("p2", VoteChoice::Abstain),
    ];
    assert_eq!(refused(&tie, &statement(Verdict::Positive)), "no_majority");
}

#[test]
fn a_negative_statement_needs_only_the_quorum() {
    let majority_yes = [
        open(),
        vote("p0", VoteChoice::Yes),
        vote("p1", VoteChoice::Yes),
        vote("p2", VoteChoice::Yes),
    ];
    let ReviewEvent::StatementIssued(issued) =
        accepted(&majority_yes, &statement(Verdict::Negative))
    else {
        panic!("not issued")
    };
    assert_eq!(issued.verdict, Verdict::Negative);
}

#[test]
fn the_statement_carries_its_conditions_the_tally_and_that_the_quorum_was_met() {
    let mut commands = positive();
    commands.pop();
    let command = Command::IssueStatement {
        verdict: Verdict::Positive,
        conditions: vec!["cooperate with the employment agency".into()],
    };
    let ReviewEvent::StatementIssued(issued) = accepted(&commands, &command) else {
        panic!("not issued")
    };
    assert_eq!(issued.proposal_id, proposal_id());
    assert_eq!(
        issued.conditions,
        vec!["cooperate with the employment agency".to_owned()]
    );
    assert_eq!(
        issued.tally,
        Tally {
            yes: 2,
            no: 1,
            abstain: 0,
            recused: 0,
            eligible: 5
        }
    );
    assert!(issued.quorum_met);
    let state = given::<Review>(&history(&positive()));
    assert_eq!(state.status(), Status::StatementPositive);
}

#[test]
fn a_second_statement_is_refused() {
    assert_eq!(
        refused(&positive(), &statement(Verdict::Negative)),
        "statement_already_issued"
    );
}

// ---- the bank's grant ------------------------------------------------------------------------

fn grant_with(change: impl FnOnce(&mut Command)) -> Command {
    let mut command = grant();
    change(&mut command);
    command
}

fn terms(command: &mut Command) -> GrantFields<'_> {
    match command {
        Command::RecordGrant {
            eligible_cost_cents,
            total_rate_bp,
            esf_rate_bp,
            esf_cents,
            land_cents,
            period_from,
            period_to,
            amendment_reference,
            bank_reference,
        } => GrantFields {
            bank_reference,
            eligible_cost_cents,
            total_rate_bp,
            esf_rate_bp,
            esf_cents,
            land_cents,
            period_from,
            period_to,
            amendment_reference,
        },
        other => panic!("not a grant: {}", other.name()),
    }
}

/// Mutable views of a `RecordGrant`'s fields, so each test changes one thing.
struct GrantFields<'a> {
    bank_reference: &'a mut String,
    eligible_cost_cents: &'a mut Cents,
    total_rate_bp: &'a mut BasisPoints,
    esf_rate_bp: &'a mut BasisPoints,
    esf_cents: &'a mut Cents,
    land_cents: &'a mut Cents,
    period_from: &'a mut chrono::NaiveDate,
    period_to: &'a mut chrono::NaiveDate,
    amendment_reference: &'a mut Option<String>,
}

#[test]
fn a_grant_after_a_positive_statement_is_recorded_with_its_exact_split() {
    let ReviewEvent::GrantDecided(decided) = accepted(&positive(), &grant()) else {
        panic!("not granted")
    };
    assert_eq!(decided.bank_reference, "NB-2025-0042");
    assert_eq!(decided.esf_cents, Cents(18_000_000));
    assert_eq!(decided.land_cents, Cents(3_000_000));
    assert_eq!(decided.amendment, None);
    let mut commands = positive();
    commands.push(grant());
    assert_eq!(
        given::<Review>(&history(&commands)).status(),
        Status::Granted
    );
}

#[test]
fn a_grant_without_a_statement_is_refused() {
    let commands = [open(), vote("p0", VoteChoice::Yes)];
    assert_eq!(refused(&commands, &grant()), "no_positive_statement");
}

#[test]
fn a_grant_after_a_negative_statement_is_refused() {
    let commands = [
        open(),
        vote("p0", VoteChoice::No),
        vote("p1", VoteChoice::No),
        vote("p2", VoteChoice::No),
        statement(Verdict::Negative),
    ];
    assert_eq!(refused(&commands, &grant()), "no_positive_statement");
}

#[test]
fn a_grant_is_decided_only_once() {
    let mut commands = positive();
    commands.push(grant());
    assert_eq!(refused(&commands, &grant()), "grant_already_decided");
}

#[test]
fn a_grant_after_the_banks_refusal_is_refused() {
    let mut commands = positive();
    commands.push(refusal());
    assert_eq!(refused(&commands, &grant()), "grant_already_decided");
}

#[test]
fn a_grant_needs_the_banks_reference() {
    let command = grant_with(|c| *terms(c).bank_reference = " ".into());
    assert_eq!(refused(&positive(), &command), "missing_bank_reference");
}

#[test]
fn a_grant_on_zero_eligible_costs_is_refused() {
    let command = grant_with(|c| {
        let t = terms(c);
        *t.eligible_cost_cents = Cents(0);
        *t.esf_cents = Cents(0);
        *t.land_cents = Cents(0);
    });
    assert_eq!(refused(&positive(), &command), "invalid_eligible_cost");
}

#[test]
fn a_total_rate_above_70_percent_is_refused() {
    let command = grant_with(|c| {
        let t = terms(c);
        *t.total_rate_bp = BasisPoints(7_001);
        *t.land_cents = Cents(3_003_000);
    });
    assert_eq!(refused(&positive(), &command), "total_rate_above_cap");
}

#[test]
fn an_esf_rate_above_60_percent_is_refused_in_a_transition_region() {
    let command = grant_with(|c| {
        let t = terms(c);
        *t.esf_rate_bp = BasisPoints(6_001);
        *t.esf_cents = Cents(18_003_000);
        *t.land_cents = Cents(2_997_000);
    });
    assert_eq!(refused(&positive(), &command), "esf_rate_above_cap");
}

#[test]
fn an_esf_rate_above_40_percent_is_refused_in_a_more_developed_region() {
    let mut commands = positive();
    commands[0] = open_with(
        roster(5),
        RegionCategory::MoreDeveloped,
        QuorumRule::default(),
    );
    // KI-Kompetenzen in der Pflege: 400 000.00 EUR, ESF+ 40 % = 160 000.00, Land 30 % = 120 000.00.
    let at_cap = |esf_rate_bp: u32, esf_cents: i64, land_cents: i64| {
        grant_with(|c| {
            let t = terms(c);
            *t.eligible_cost_cents = Cents(40_000_000);
            *t.esf_rate_bp = BasisPoints(esf_rate_bp);
            *t.esf_cents = Cents(esf_cents);
            *t.land_cents = Cents(land_cents);
            *t.amendment_reference = Some("NB-2025-0042/Ä1".into());
        })
    };
    assert!(matches!(
        accepted(&commands, &at_cap(4_000, 16_000_000, 12_000_000)),
        ReviewEvent::GrantDecided(_)
    ));
    assert_eq!(
        refused(&commands, &at_cap(4_001, 16_004_000, 11_996_000)),
        "esf_rate_above_cap"
    );
}

#[test]
fn an_esf_rate_above_the_total_rate_is_refused() {
    let command = grant_with(|c| {
        let t = terms(c);
        *t.total_rate_bp = BasisPoints(5_000);
        *t.esf_cents = Cents(18_000_000);
        *t.land_cents = Cents(-3_000_000);
    });
    assert_eq!(refused(&positive(), &command), "esf_above_total");
}

#[test]
fn esf_and_land_cents_must_be_exactly_the_computed_split() {
    let shifted = grant_with(|c| {
        let t = terms(c);
        *t.esf_cents = Cents(18_000_001);
        *t.land_cents = Cents(2_999_999);
    });
    assert_eq!(refused(&positive(), &shifted), "split_mismatch");
    let short = grant_with(|c| *terms(c).land_cents = Cents(2_999_999));
    assert_eq!(refused(&positive(), &short), "split_mismatch");
}

#[test]
fn the_split_rounds_down_by_the_one_rule_and_land_takes_the_rest() {
    // 333.33 EUR at 70 % / 60 %: grant floor(233.331) = 233.33, ESF+ floor(199.998) = 199.99.
    let command = grant_with(|c| {
        let t = terms(c);
        *t.eligible_cost_cents = Cents(33_333);
        *t.esf_cents = Cents(19_999);
        *t.land_cents = Cents(3_334);
    });
    let ReviewEvent::GrantDecided(decided) = accepted(&positive(), &command) else {
        panic!("not granted")
    };
    assert_eq!(decided.esf_cents.0 + decided.land_cents.0, 23_333);
}

#[test]
fn eligible_costs_above_the_screened_ones_are_refused_without_the_banks_amendment_reference() {
    let command = grant_with(|c| {
        let t = terms(c);
        *t.eligible_cost_cents = Cents(31_000_000);
        *t.esf_cents = Cents(18_600_000);
        *t.land_cents = Cents(3_100_000);
    });
    assert_eq!(refused(&positive(), &command), "eligible_above_screened");
}

#[test]
fn eligible_costs_above_the_screened_ones_are_recorded_as_an_amendment_with_the_banks_reference() {
    let command = grant_with(|c| {
        let t = terms(c);
        *t.eligible_cost_cents = Cents(31_000_000);
        *t.esf_cents = Cents(18_600_000);
        *t.land_cents = Cents(3_100_000);
        *t.amendment_reference = Some("NB-2025-0042/Ä1".into());
    });
    let ReviewEvent::GrantDecided(decided) = accepted(&positive(), &command) else {
        panic!("not granted")
    };
    assert_eq!(decided.amendment.as_deref(), Some("NB-2025-0042/Ä1"));
}

#[test]
fn an_amendment_reference_is_not_recorded_when_the_screened_costs_are_not_exceeded() {
    let command = grant_with(|c| *terms(c).amendment_reference = Some("NB-2025-0042/Ä1".into()));
    let ReviewEvent::GrantDecided(decided) = accepted(&positive(), &command) else {
        panic!("not granted")
    };
    assert_eq!(decided.amendment, None);
}

#[test]
fn a_grant_period_that_ends_before_it_starts_is_refused() {
    let command = grant_with(|c| *terms(c).period_to = date(2024, 12, 31));
    assert_eq!(refused(&positive(), &command), "invalid_period");
}

#[test]
fn a_grant_period_outside_the_eligibility_window_is_refused() {
    let early = grant_with(|c| *terms(c).period_from = date(2020, 12, 31));
    assert_eq!(refused(&positive(), &early), "invalid_period");
    let late = grant_with(|c| *terms(c).period_to = date(2030, 1, 1));
    assert_eq!(refused(&positive(), &late), "invalid_period");
}

// ---- the bank's refusal ----------------------------------------------------------------------

#[test]
fn the_bank_refuses_after_a_positive_statement() {
    let ReviewEvent::GrantRefused(refusal_event) = accepted(&positive(), &refusal()) else {
        panic!("not refused")
    };
    assert_eq!(refusal_event.reason, "no budget");
    let mut commands = positive();
    commands.push(refusal());
    assert_eq!(
        given::<Review>(&history(&commands)).status(),
        Status::Refused
    );
}

#[test]
fn a_refusal_needs_a_positive_statement() {
    assert_eq!(refused(&[open()], &refusal()), "no_positive_statement");
    let negative = [
        open(),
        vote("p0", VoteChoice::No),
        vote("p1", VoteChoice::No),
        vote("p2", VoteChoice::No),
        statement(Verdict::Negative),
    ];
    assert_eq!(refused(&negative, &refusal()), "no_positive_statement");
}

#[test]
fn a_refusal_after_a_grant_is_refused() {
    let mut commands = positive();
    commands.push(grant());
    assert_eq!(refused(&commands, &refusal()), "grant_already_decided");
}

#[test]
fn a_refusal_needs_a_bank_reference_and_a_reason() {
    let no_reference = Command::RecordRefusal {
        bank_reference: "".into(),
        reason: "x".into(),
    };
    assert_eq!(
        refused(&positive(), &no_reference),
        "missing_bank_reference"
    );
    let no_reason = Command::RecordRefusal {
        bank_reference: "NB-1".into(),
        reason: "".into(),
    };
    assert_eq!(refused(&positive(), &no_reason), "missing_reason");
}

// ---- closing ---------------------------------------------------------------------------------

#[test]
fn a_withdrawn_proposal_closes_its_review_at_any_point_before_a_grant() {
    let mut refused_by_bank = positive();
    refused_by_bank.push(refusal());
    for commands in [vec![open()], positive(), refused_by_bank] {
        let ReviewEvent::Closed(closed) = accepted(&commands, &close()) else {
            panic!("not closed")
        };
        assert_eq!(closed.reason, "withdrawn by the applicant");
    }
}

#[test]
fn every_command_is_refused_after_the_review_is_closed() {
    let closed = [open(), vote("p0", VoteChoice::Yes), close()];
    for command in [
        recuse("p1"),
        vote("p1", VoteChoice::Yes),
        statement(Verdict::Negative),
        grant(),
        refusal(),
        close(),
    ] {
        assert_eq!(
            refused(&closed, &command),
            "review_closed",
            "{}",
            command.name()
        );
    }
    assert_eq!(refused(&closed, &open()), "already_opened");
    assert_eq!(given::<Review>(&history(&closed)).status(), Status::Closed);
}

#[test]
fn a_granted_review_cannot_be_closed() {
    let mut commands = positive();
    commands.push(grant());
    assert_eq!(refused(&commands, &close()), "grant_already_decided");
}

// ---- errors ----------------------------------------------------------------------------------

#[test]
fn every_refusal_has_its_own_stable_code_and_field_details_where_a_field_is_at_fault() {
    let errors = [
        ReviewError::AlreadyOpened,
        ReviewError::InvalidRoster {
            reason: String::new(),
        },
        ReviewError::InvalidQuorumRule {
            min_participation_bp: 0,
        },
        ReviewError::ReviewNotOpen,
        ReviewError::ReviewClosed,
        ReviewError::UnknownPartner {
            partner_id: String::new(),
        },
        ReviewError::PartnerRecused {
            partner_id: String::new(),
        },
        ReviewError::AlreadyRecused {
            partner_id: String::new(),
        },
        ReviewError::VoteAfterStatement,
        ReviewError::StatementAlreadyIssued,
        ReviewError::QuorumNotMet {
            participants: 0,
            eligible: 0,
            required: 0,
        },
        ReviewError::NoMajority { yes: 0, no: 0 },
        ReviewError::NoPositiveStatement,
        ReviewError::GrantAlreadyDecided,
        ReviewError::MissingBankReference,
        ReviewError::MissingReason,
        ReviewError::InvalidEligibleCost {
            eligible_cost_cents: Cents(0),
        },
        ReviewError::TotalRateAboveCap {
            total_rate_bp: 0,
            cap_bp: 0,
        },
        ReviewError::EsfRateAboveCap {
            esf_rate_bp: 0,
            cap_bp: 0,
        },
        ReviewError::EsfAboveTotal {
            esf_rate_bp: 0,
            total_rate_bp: 0,
        },
        ReviewError::SplitMismatch {
            esf_cents: Cents(0),
            land_cents: Cents(0),
            expected_esf_cents: Cents(0),
            expected_land_cents: Cents(0),
        },
        ReviewError::EligibleAboveScreened {
            eligible_cost_cents: Cents(0),
            screened_cents: Cents(0),
        },
        ReviewError::InvalidPeriod {
            reason: String::new(),
        },
    ];
    let mut codes: Vec<&str> = errors.iter().map(DomainError::code).collect();
    assert!(codes
        .iter()
        .all(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len(), "codes are distinct");
    let split = &errors[20];
    let fields: Vec<String> = split.details().into_iter().map(|d| d.field).collect();
    assert_eq!(fields, ["esf_cents", "land_cents"]);
}

#[test]
fn a_review_event_round_trips_through_json_unchanged() {
    for event in history(&positive()) {
        let json = serde_json::to_string(&event).expect("serialize");
        let back: ReviewEvent = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, event);
    }
}

#[test]
fn the_empty_state_is_new_and_tallies_nothing() {
    let state = Review::default();
    assert_eq!(state.status(), Status::New);
    assert_eq!(tally(&state), Tally::default());
}

// ---- revised terms ---------------------------------------------------------------------------

fn revise(eligible: i64, rate: u32) -> Command {
    Command::ReviseTerms {
        eligible_cost_cents: Cents(eligible),
        requested_rate_bp: BasisPoints(rate),
    }
}

#[test]
fn a_revision_before_the_statement_changes_the_terms_the_review_goes_on_with() {
    let ReviewEvent::TermsRevised(revised) = accepted(&[open()], &revise(20_000_000, 6_500)) else {
        panic!("not revised")
    };
    assert_eq!(revised.proposal_id, proposal_id());
    assert_eq!(revised.eligible_cost_cents, Cents(20_000_000));
    assert_eq!(revised.requested_rate_bp, BasisPoints(6_500));
    // The grant is now checked against the revised eligible costs: the first ones are above them.
    let after = [open(), revise(20_000_000, 6_500)];
    let mut positive_after = after.to_vec();
    positive_after.extend(positive().into_iter().skip(1));
    assert_eq!(
        refused(&positive_after, &grant()),
        "eligible_above_screened"
    );
}

#[test]
fn a_revision_to_the_same_terms_changes_nothing() {
    let same = given::<Review>(&history(&[open()]))
        .decide(&revise(SCREENED.0, 7_000))
        .expect("accepted");
    assert!(same.is_empty(), "{same:?}");
}

#[test]
fn a_revision_after_the_statement_is_refused_with_its_own_code() {
    assert_eq!(
        refused(&positive(), &revise(20_000_000, 6_500)),
        "revision_after_statement"
    );
}

#[test]
fn a_revision_of_a_review_never_opened_or_closed_is_refused() {
    assert_eq!(refused(&[], &revise(1, 1)), "review_not_open");
    assert_eq!(refused(&[open(), close()], &revise(1, 1)), "review_closed");
}
