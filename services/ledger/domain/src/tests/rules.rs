//! Given/when/then, one test per rule.

use buendel_contract::aggregate::given;
use buendel_contract::ledger::{
    Account, Amounts, DeclineReason, FreedTo, LedgerEvent, Posting, ReleaseReason, Source,
};
use buendel_contract::{Aggregate, Cents, DomainError};

use super::*;
use crate::ProjectStatus;

fn code(result: Result<Vec<LedgerEvent>, LedgerError>) -> &'static str {
    match result {
        Ok(events) => panic!("expected a refusal, got {events:?}"),
        Err(e) => e.code(),
    }
}

fn single(result: Result<Vec<LedgerEvent>, LedgerError>) -> LedgerEvent {
    let mut events = result.expect("accepted");
    assert_eq!(events.len(), 1, "{events:?}");
    events.remove(0)
}

/// A fund of 1,000 ESF+ and 200 Land cents.
fn small() -> Command {
    allocate(1_000, 200)
}

#[test]
fn a_fund_opens_with_its_budget_per_source() {
    let event = single(given::<Fund>(&[]).decide(&allocate(200_571_429, 33_428_571)));
    let LedgerEvent::BudgetAllocated(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.fund_id, FUND);
    assert_eq!(data.commit_deadline, deadline());
    assert_eq!(
        data.postings,
        vec![
            Posting {
                debit: Account::Available,
                credit: Account::Budget,
                amount_cents: Cents(200_571_429),
                source: Source::EsfPlus
            },
            Posting {
                debit: Account::Available,
                credit: Account::Budget,
                amount_cents: Cents(33_428_571),
                source: Source::Land
            },
        ]
    );
}

#[test]
fn a_fund_is_allocated_only_once() {
    let fund = given::<Fund>(&history(&[small()]));
    assert_eq!(code(fund.decide(&small())), "already_allocated");
}

#[test]
fn commands_on_a_fund_without_budget_are_refused() {
    let fund = Fund::default();
    for command in [
        reserve(p(1), 1, 1),
        commit(p(1), 1, 1),
        adjust(Source::Land, 5),
        close(p(1)),
        Command::ExpireUnbound { today: today() },
    ] {
        assert_eq!(
            code(fund.decide(&command)),
            "fund_not_open",
            "{}",
            command.name()
        );
    }
}

#[test]
fn a_fund_id_must_name_an_alliance_and_a_period() {
    let mut command = small();
    if let Command::AllocateBudget { fund_id, .. } = &mut command {
        *fund_id = "non.2021".into();
    }
    assert_eq!(code(Fund::default().decide(&command)), "invalid_fund_id");
}

#[test]
fn negative_and_empty_amounts_are_refused() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 100, 10),
        commit(p(1), 100, 10),
    ]));
    assert_eq!(code(fund.decide(&reserve(p(2), -1, 5))), "negative_amount");
    assert_eq!(code(fund.decide(&reserve(p(2), 0, 0))), "zero_amount");
    assert_eq!(
        code(fund.decide(&disburse(p(1), "NB-1", 5, -5, today()))),
        "negative_amount"
    );
    assert_eq!(
        code(fund.decide(&adjust(Source::EsfPlus, 0))),
        "zero_amount"
    );
    assert_eq!(
        code(fund.decide(&reserve(p(2), i64::MAX, 0))),
        "amount_too_large"
    );
}

#[test]
fn a_positive_statement_reserves_the_requested_split() {
    let fund = given::<Fund>(&history(&[small()]));
    let event = single(fund.decide(&reserve(p(1), 600, 100)));
    let LedgerEvent::FundsReserved(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.reserved, Amounts::new(600, 100));
    assert!(!data.from_waitlist);
    let fund = fund.apply(&event);
    assert_eq!(fund.available(), Amounts::new(400, 100));
    assert_eq!(
        fund.project(p(1)).map(|p| p.status),
        Some(ProjectStatus::Reserved)
    );
}

#[test]
fn a_reservation_that_does_not_fit_is_declined_and_waitlisted_not_refused() {
    let fund = given::<Fund>(&history(&[small()]));
    let event = single(fund.decide(&reserve(p(1), 900, 300)));
    let LedgerEvent::ReservationDeclined(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.shortfall, Amounts::new(0, 100), "short in Land only");
    assert_eq!(data.reason, DeclineReason::InsufficientFunds);
    assert_eq!(data.waitlist_position, 1);
    assert!(data.postings.is_empty(), "nothing moves");
    let fund = fund.apply(&event);
    assert_eq!(fund.waitlist().collect::<Vec<_>>(), vec![p(1)]);
    assert_eq!(fund.available(), Amounts::new(1_000, 200));
}

#[test]
fn a_new_reservation_queues_behind_the_waitlist_even_when_it_would_fit() {
    let fund = given::<Fund>(&history(&[small(), reserve(p(1), 900, 300)]));
    let event = single(fund.decide(&reserve(p(2), 10, 10)));
    let LedgerEvent::ReservationDeclined(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.reason, DeclineReason::QueuedBehindWaitlist);
    assert_eq!(data.shortfall, Amounts::ZERO);
    assert_eq!(data.waitlist_position, 2);
}

#[test]
fn a_repeated_statement_reserves_nothing_twice() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 100, 10),
        reserve(p(2), 900, 300),
        reserve(p(3), 50, 5),
        commit(p(3), 50, 5),
    ]));
    for proposal in [p(1), p(2), p(3)] {
        assert_eq!(fund.decide(&reserve(proposal, 100, 10)), Ok(vec![]));
    }
}

#[test]
fn a_grant_commits_and_releases_the_rest_of_the_reservation_in_one_entry() {
    let fund = given::<Fund>(&history(&[small(), reserve(p(1), 600, 100)]));
    let event = single(fund.decide(&commit(p(1), 500, 100)));
    let LedgerEvent::FundsCommitted(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.granted, Amounts::new(500, 100));
    assert_eq!(data.released, Amounts::new(100, 0));
    assert_eq!(data.topped_up, Amounts::ZERO);
    let fund = fund.apply(&event);
    assert_eq!(fund.available(), Amounts::new(500, 100));
    let money = fund.project_money(p(1)).expect("known");
    assert_eq!(money.total.committed, Cents(600));
    assert_eq!(money.total.reserved, Cents::ZERO);
}

#[test]
fn a_grant_above_the_reservation_reserves_the_difference_first() {
    let fund = given::<Fund>(&history(&[small(), reserve(p(1), 600, 100)]));
    let event = single(fund.decide(&commit(p(1), 700, 90)));
    let LedgerEvent::FundsCommitted(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.topped_up, Amounts::new(100, 0));
    assert_eq!(data.released, Amounts::new(0, 10));
    let fund = fund.apply(&event);
    assert_eq!(fund.available(), Amounts::new(300, 110));
}

#[test]
fn a_grant_that_cannot_be_covered_is_refused_and_never_over_commits() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        reserve(p(2), 300, 100),
    ]));
    let refused = fund.decide(&commit(p(1), 800, 100));
    assert_eq!(
        refused,
        Err(LedgerError::CommitmentShortfall {
            proposal_id: p(1),
            shortfall: Amounts::new(100, 0)
        })
    );
    assert_eq!(code(refused), "commitment_shortfall");
}

#[test]
fn a_second_grant_for_a_committed_proposal_is_refused() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
    ]));
    assert_eq!(
        code(fund.decide(&commit(p(1), 600, 100))),
        "already_committed"
    );
}

#[test]
fn a_grant_without_a_reservation_reserves_it_whole_when_it_fits() {
    let fund = given::<Fund>(&history(&[small()]));
    let event = single(fund.decide(&commit(p(9), 100, 20)));
    let LedgerEvent::FundsCommitted(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.topped_up, Amounts::new(100, 20));
}

#[test]
fn a_grant_for_a_waitlisted_proposal_takes_it_off_the_waitlist() {
    let (fund, _) = run(&[small(), reserve(p(1), 900, 150), reserve(p(2), 200, 10)]);
    assert_eq!(fund.waitlist().collect::<Vec<_>>(), vec![p(2)]);
    let (fund, _) = step(fund, &commit(p(2), 100, 10)).expect("the grant fits");
    assert_eq!(fund.waitlist().count(), 0);
    assert_eq!(
        fund.project(p(2)).map(|p| p.status),
        Some(ProjectStatus::Committed)
    );
}

#[test]
fn a_refusal_releases_the_reservation_to_available() {
    let fund = given::<Fund>(&history(&[small(), reserve(p(1), 600, 100)]));
    let event = single(fund.decide(&release(p(1), ReleaseReason::Refused)));
    let LedgerEvent::ReservationReleased(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.released, Amounts::new(600, 100));
    assert_eq!(data.freed_to, FreedTo::Available);
    assert_eq!(fund.apply(&event).available(), Amounts::new(1_000, 200));
}

#[test]
fn a_withdrawn_waitlisted_proposal_leaves_the_waitlist_and_the_next_one_moves_up() {
    let (fund, _) = run(&[
        small(),
        reserve(p(1), 900, 100),
        reserve(p(2), 200, 200), // waitlisted: does not fit
        reserve(p(3), 50, 50),   // waitlisted: queued behind p(2), though it would fit
    ]);
    let (fund, events) = step(fund, &release(p(2), ReleaseReason::Withdrawn)).expect("accepted");
    assert_eq!(events.len(), 2, "{events:?}");
    let LedgerEvent::ReservationReleased(left) = &events[0] else {
        panic!("{events:?}")
    };
    assert!(left.postings.is_empty(), "a waitlist place holds no money");
    let LedgerEvent::FundsReserved(next) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!((next.proposal_id, next.from_waitlist), (p(3), true));
    assert_eq!(fund.waitlist().count(), 0);
}

#[test]
fn a_release_of_an_already_released_proposal_changes_nothing() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        release(p(1), ReleaseReason::Refused),
    ]));
    assert_eq!(
        fund.decide(&release(p(1), ReleaseReason::Withdrawn)),
        Ok(vec![])
    );
    assert_eq!(
        code(fund.decide(&release(p(7), ReleaseReason::Withdrawn))),
        "unknown_project"
    );
}

#[test]
fn a_release_after_the_grant_is_refused() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
    ]));
    assert_eq!(
        code(fund.decide(&release(p(1), ReleaseReason::Withdrawn))),
        "already_committed"
    );
}

#[test]
fn a_disbursement_moves_committed_money_to_disbursed() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
    ]));
    let event = single(fund.decide(&disburse(p(1), "NB-1", 100, 20, day(2025, 4, 1))));
    let fund = fund.apply(&event);
    let money = fund.project_money(p(1)).expect("known");
    assert_eq!(money.esf_plus.disbursed, Cents(100));
    assert_eq!(money.esf_plus.unpaid, Cents(500));
    assert_eq!(money.total.committed, Cents(700));
    assert_eq!(fund.last_value_date(), Some(day(2025, 4, 1)));
}

#[test]
fn a_disbursement_above_what_is_committed_and_unpaid_is_refused() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 500, 0, day(2025, 4, 1)),
    ]));
    let refused = fund.decide(&disburse(p(1), "NB-2", 101, 0, day(2025, 4, 2)));
    assert_eq!(code(refused.clone()), "disbursement_above_commitment");
    let Err(error) = refused else {
        panic!("refused")
    };
    assert_eq!(error.details().len(), 2, "one detail per source");
}

#[test]
fn a_disbursement_before_the_grant_is_refused() {
    let fund = given::<Fund>(&history(&[small(), reserve(p(1), 600, 100)]));
    assert_eq!(
        code(fund.decide(&disburse(p(1), "NB-1", 1, 0, today()))),
        "not_committed"
    );
    assert_eq!(
        code(fund.decide(&disburse(p(2), "NB-1", 1, 0, today()))),
        "unknown_project"
    );
}

#[test]
fn a_payment_reference_is_booked_once() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 100, 0, day(2025, 4, 1)),
    ]));
    assert_eq!(
        code(fund.decide(&disburse(p(1), "NB-1", 100, 0, day(2025, 4, 1)))),
        "duplicate_payment_reference"
    );
}

#[test]
fn a_back_dated_disbursement_is_refused() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 100, 0, day(2025, 4, 1)),
    ]));
    let mut late = disburse(p(1), "NB-2", 100, 0, day(2025, 3, 31));
    late = on(late, day(2025, 4, 2));
    assert_eq!(
        fund.decide(&late),
        Err(LedgerError::BackDated {
            value_date: day(2025, 3, 31),
            last: day(2025, 4, 1)
        })
    );
}

#[test]
fn a_disbursement_dated_in_the_future_is_refused() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
    ]));
    let early = on(disburse(p(1), "NB-1", 100, 0, day(2025, 6, 1)), today());
    assert_eq!(code(fund.decide(&early)), "value_date_in_future");
}

#[test]
fn the_booking_date_never_goes_backwards_when_the_clock_is_behind() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 100, 0, day(2025, 4, 1)),
    ]));
    let event = single(fund.decide(&on(reserve(p(2), 10, 10), day(2025, 3, 30))));
    assert_eq!(event.value_date(), day(2025, 4, 1));
}

#[test]
fn closing_a_project_releases_the_unpaid_commitment_to_available() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 550, 100, day(2025, 4, 1)),
    ]));
    let event = single(fund.decide(&on(close(p(1)), day(2025, 5, 1))));
    let LedgerEvent::CommitmentReleased(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(
        (data.released, data.freed_to),
        (Amounts::new(50, 0), FreedTo::Available)
    );
    let fund = fund.apply(&event);
    assert_eq!(fund.available(), Amounts::new(450, 100));
    assert_eq!(
        fund.project_money(p(1)).expect("known").total.committed,
        Cents(650)
    );
}

#[test]
fn closing_after_the_deadline_sends_the_unpaid_commitment_to_expired() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
    ]));
    let event = single(fund.decide(&on(close(p(1)), day(2028, 1, 1))));
    let LedgerEvent::CommitmentReleased(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.freed_to, FreedTo::Expired);
    let fund = fund.apply(&event);
    let balances = fund.balances();
    assert_eq!(balances.total.expired, Cents(700));
    assert_eq!(balances.total.available, Cents(500));
}

#[test]
fn a_closed_project_takes_no_more_payments_and_cannot_close_twice() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        close(p(1)),
    ]));
    assert_eq!(
        code(fund.decide(&disburse(p(1), "NB-9", 1, 0, today()))),
        "already_closed"
    );
    assert_eq!(code(fund.decide(&close(p(1)))), "already_closed");
}

#[test]
fn a_recovery_cannot_exceed_what_was_paid() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 300, 50, day(2025, 4, 1)),
        on(recover(p(1), 100, 0), day(2025, 5, 1)),
    ]));
    assert_eq!(
        code(fund.decide(&on(recover(p(1), 201, 0), day(2025, 5, 2)))),
        "recovery_above_disbursed"
    );
    assert!(fund
        .decide(&on(recover(p(1), 200, 50), day(2025, 5, 2)))
        .is_ok());
}

#[test]
fn a_repayment_cannot_exceed_what_is_owed() {
    let fund = given::<Fund>(&history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 300, 50, day(2025, 4, 1)),
        on(recover(p(1), 100, 0), day(2025, 5, 1)),
    ]));
    assert_eq!(
        code(fund.decide(&repay(p(1), 101, 0, day(2025, 6, 1)))),
        "repayment_above_recovery"
    );
    let event = single(fund.decide(&repay(p(1), 100, 0, day(2025, 6, 1))));
    let fund = fund.apply(&event);
    let money = fund.project_money(p(1)).expect("known");
    assert_eq!(
        (
            money.esf_plus.recovered,
            money.esf_plus.repaid,
            money.esf_plus.receivable
        ),
        (Cents(100), Cents(100), Cents::ZERO)
    );
    assert_eq!(
        fund.available(),
        Amounts::new(400, 100),
        "repaid money goes back to the funder, not to available"
    );
}

#[test]
fn any_commitment_after_the_deadline_is_refused() {
    let fund = given::<Fund>(&history(&[small(), reserve(p(1), 600, 100)]));
    let after = day(2028, 1, 1);
    assert_eq!(
        code(fund.decide(&on(commit(p(1), 600, 100), after))),
        "after_deadline"
    );
    assert_eq!(
        code(fund.decide(&on(reserve(p(2), 10, 10), after))),
        "after_deadline"
    );
    assert_eq!(
        code(fund.decide(&on(adjust(Source::EsfPlus, 10), after))),
        "after_deadline"
    );
}

#[test]
fn the_deadline_day_itself_is_still_open() {
    let fund = given::<Fund>(&history(&[small(), reserve(p(1), 600, 100)]));
    assert!(fund.decide(&on(commit(p(1), 600, 100), deadline())).is_ok());
}

#[test]
fn a_reservation_released_after_the_deadline_expires() {
    let fund = given::<Fund>(&history(&[small(), reserve(p(1), 600, 100)]));
    let event = single(fund.decide(&on(release(p(1), ReleaseReason::Expired), day(2028, 1, 1))));
    let LedgerEvent::ReservationReleased(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.freed_to, FreedTo::Expired);
}

#[test]
fn money_freed_after_the_deadline_serves_no_waitlist() {
    let (fund, _) = run(&[small(), reserve(p(1), 900, 100), reserve(p(2), 500, 50)]);
    let (fund, events) = step(
        fund,
        &on(release(p(1), ReleaseReason::Expired), day(2028, 1, 2)),
    )
    .expect("accepted");
    assert_eq!(events.len(), 1, "nothing is reserved after the deadline");
    assert_eq!(fund.waitlist().collect::<Vec<_>>(), vec![p(2)]);
}

#[test]
fn unbound_money_expires_only_after_the_deadline() {
    let fund = given::<Fund>(&history(&[small(), reserve(p(1), 600, 100)]));
    assert_eq!(
        code(fund.decide(&Command::ExpireUnbound { today: deadline() })),
        "deadline_not_passed"
    );
    let event = single(fund.decide(&Command::ExpireUnbound {
        today: day(2028, 1, 1),
    }));
    let LedgerEvent::FundsExpired(data) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(data.expired, Amounts::new(400, 100));
    let fund = fund.apply(&event);
    assert_eq!(
        fund.decide(&Command::ExpireUnbound {
            today: day(2028, 1, 2)
        }),
        Ok(vec![])
    );
}

#[test]
fn a_cut_may_not_exceed_what_is_available() {
    let fund = given::<Fund>(&history(&[small(), reserve(p(1), 600, 100)]));
    assert_eq!(
        fund.decide(&adjust(Source::EsfPlus, -401)),
        Err(LedgerError::AdjustmentBelowBound {
            fund_source: Source::EsfPlus,
            cut: Cents(401),
            available: Cents(400)
        })
    );
    let event = single(fund.decide(&adjust(Source::EsfPlus, -400)));
    let fund = fund.apply(&event);
    assert_eq!(fund.balances().esf_plus.allocated, Cents(600));
}

#[test]
fn a_raise_serves_the_waitlist_first_come_first_served() {
    let (fund, _) = run(&[
        small(),
        reserve(p(1), 900, 100),
        reserve(p(2), 300, 50),
        reserve(p(3), 100, 10),
        reserve(p(4), 50, 5),
    ]);
    let (fund, events) = step(fund, &adjust(Source::EsfPlus, 250)).expect("accepted");
    let reserved: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            LedgerEvent::FundsReserved(r) => Some(r.proposal_id),
            _ => None,
        })
        .collect();
    assert_eq!(
        reserved,
        vec![p(2)],
        "p(3) does not fit any more and stops the queue; p(4) would fit but waits"
    );
    assert_eq!(fund.waitlist().collect::<Vec<_>>(), vec![p(3), p(4)]);
}

#[test]
fn a_blank_reason_is_refused() {
    let fund = given::<Fund>(&history(&[small()]));
    let mut command = adjust(Source::Land, 5);
    if let Command::AdjustBudget { reason, .. } = &mut command {
        *reason = "  ".into();
    }
    assert_eq!(code(fund.decide(&command)), "missing_field");
}

#[test]
fn every_error_has_its_own_stable_code() {
    let id = p(1);
    let d = today();
    let errors = [
        LedgerError::FundNotOpen,
        LedgerError::AlreadyAllocated,
        LedgerError::InvalidFundId {
            fund_id: String::new(),
        },
        LedgerError::NegativeAmount { field: "x" },
        LedgerError::ZeroAmount { field: "x" },
        LedgerError::AmountTooLarge { field: "x" },
        LedgerError::MissingField { field: "x" },
        LedgerError::TextTooLong { field: "x", max: 1 },
        LedgerError::AfterDeadline { deadline: d, on: d },
        LedgerError::DeadlineNotPassed { deadline: d },
        LedgerError::BackDated {
            value_date: d,
            last: d,
        },
        LedgerError::ValueDateInFuture {
            value_date: d,
            today: d,
        },
        LedgerError::UnknownProject { proposal_id: id },
        LedgerError::AlreadyCommitted { proposal_id: id },
        LedgerError::AlreadyClosed { proposal_id: id },
        LedgerError::NotCommitted { proposal_id: id },
        LedgerError::CommitmentShortfall {
            proposal_id: id,
            shortfall: Amounts::ZERO,
        },
        LedgerError::DisbursementAboveCommitment {
            proposal_id: id,
            unpaid: Amounts::ZERO,
        },
        LedgerError::DuplicatePaymentReference {
            payment_reference: String::new(),
        },
        LedgerError::RecoveryAboveDisbursed {
            proposal_id: id,
            recoverable: Amounts::ZERO,
        },
        LedgerError::RepaymentAboveRecovery {
            proposal_id: id,
            receivable: Amounts::ZERO,
        },
        LedgerError::AdjustmentBelowBound {
            fund_source: Source::Land,
            cut: Cents(1),
            available: Cents(0),
        },
        LedgerError::InvariantViolation {
            violation: crate::InvariantViolation::AllocatedTwice { entry: 2 },
        },
    ];
    let codes: std::collections::BTreeSet<&str> = errors.iter().map(|e| e.code()).collect();
    assert_eq!(codes.len(), errors.len());
    assert!(codes
        .iter()
        .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
}

#[test]
fn an_entry_whose_postings_were_altered_is_reported() {
    let mut events = history(&[small(), reserve(p(1), 600, 100)]);
    if let LedgerEvent::FundsReserved(data) = &mut events[1] {
        data.postings[0].amount_cents = Cents(601);
    }
    let fund = given::<Fund>(&events);
    let violation = fund.check_invariants().expect_err("tampering is caught");
    assert_eq!(violation.code(), "malformed_entry");
    assert!(violation.to_string().starts_with("entry 2:"), "{violation}");
}

#[test]
fn an_event_that_skips_the_grant_is_reported() {
    let mut events = history(&[small(), reserve(p(1), 600, 100), commit(p(1), 600, 100)]);
    let paid = history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 10, 0, day(2025, 4, 1)),
    ]);
    events.truncate(2);
    events.push(paid[3].clone());
    let violation = given::<Fund>(&events)
        .check_invariants()
        .expect_err("caught");
    assert_eq!(violation.code(), "invalid_transition");
}

#[test]
fn a_value_date_going_backwards_is_reported() {
    let mut events = history(&[
        small(),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 10, 0, day(2025, 4, 2)),
        disburse(p(1), "NB-2", 10, 0, day(2025, 4, 3)),
    ]);
    events.swap(3, 4);
    let violation = given::<Fund>(&events)
        .check_invariants()
        .expect_err("caught");
    assert_eq!(violation.code(), "value_date_backwards");
}
