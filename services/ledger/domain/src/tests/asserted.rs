//! The running ledger asserts its own invariants: every decision is tried on a draft over the fund
//! and refused with `invariant_violation` when one of its events would break an invariant; and the
//! waitlist check that holds at the end of every decision (`waitlist_not_served`).

use buendel_contract::aggregate::given;
use buendel_contract::ledger::{Amounts, DisbursementRecorded, LedgerEvent, ReleaseReason, Source};
use buendel_contract::{Aggregate, DomainError};

use super::*;
use crate::draft::Draft;
use crate::InvariantViolation;

/// A fund of 1,000 ESF+ and 200 Land cents in which p1 holds 800 + 100 and p2 (700 + 100) waits.
fn fund_with_a_waitlist() -> Vec<LedgerEvent> {
    history(&[
        allocate(1_000, 200),
        reserve(p(1), 800, 100),
        reserve(p(2), 700, 100),
    ])
}

/// The events of releasing p1, decided on `events`: the release, then p2 served from the waitlist.
fn release_of_p1(events: &[LedgerEvent]) -> Vec<LedgerEvent> {
    given::<Fund>(events)
        .decide(&release(p(1), ReleaseReason::Refused))
        .expect("accepted")
}

#[test]
fn the_waitlist_is_served_when_its_head_does_not_fit() {
    let fund = given::<Fund>(&fund_with_a_waitlist());
    assert_eq!(fund.waitlist().next(), Some(p(2)));
    assert_eq!(fund.waitlist_served_check(today()), Ok(()));
}

#[test]
fn a_release_that_frees_money_serves_the_waitlist_in_the_same_decision() {
    let before = fund_with_a_waitlist();
    let events = release_of_p1(&before);
    assert!(matches!(
        events.as_slice(),
        [LedgerEvent::ReservationReleased(_), LedgerEvent::FundsReserved(r)]
            if r.proposal_id == p(2) && r.from_waitlist
    ));
    let fund = events.iter().fold(given::<Fund>(&before), Fund::apply);
    assert_eq!(fund.waitlist_served_check(today()), Ok(()));
}

#[test]
fn a_decision_cut_short_after_the_release_leaves_the_waitlist_unserved() {
    let mut events = fund_with_a_waitlist();
    let decision = release_of_p1(&events);
    events.push(decision[0].clone());
    let fund = given::<Fund>(&events);
    assert_eq!(fund.check_invariants(), Ok(()), "every event is fine alone");
    let on = fund.last_value_date().expect("booked");
    assert_eq!(
        fund.waitlist_served_check(on),
        Err(InvariantViolation::WaitlistNotServed {
            entry: 4,
            proposal_id: p(2),
            requested: Amounts::new(700, 100),
            available: Amounts::new(1_000, 200),
            on,
        })
    );
    assert_eq!(
        fund.waitlist_served_check(on).map_err(|v| v.code()),
        Err("waitlist_not_served")
    );
}

#[test]
fn an_unserved_head_that_fits_after_the_deadline_is_no_violation() {
    let mut events = fund_with_a_waitlist();
    events.push(release_of_p1(&events)[0].clone());
    let fund = given::<Fund>(&events);
    assert!(fund.waitlist_served_check(deadline()).is_err());
    assert_eq!(fund.waitlist_served_check(day(2028, 1, 1)), Ok(()));
}

#[test]
fn a_head_that_fits_in_one_source_but_not_the_other_stays_waiting() {
    // p2 needs 700 ESF+ and 150 Land; 1,000 ESF+ but only 100 Land are available after the release.
    let mut events = history(&[
        allocate(1_000, 200),
        reserve(p(1), 800, 100),
        reserve(p(3), 0, 100),
        reserve(p(2), 700, 150),
    ]);
    let decision = release_of_p1(&events);
    assert_eq!(decision.len(), 1, "p2 does not fit in Land: {decision:?}");
    events.extend(decision);
    assert_eq!(
        given::<Fund>(&events).waitlist_served_check(today()),
        Ok(())
    );
}

#[test]
fn the_next_decision_on_a_fund_left_unserved_serves_the_waitlist_first() {
    let mut events = fund_with_a_waitlist();
    events.push(release_of_p1(&events)[0].clone());
    let fund = given::<Fund>(&events);
    let decision = fund.decide(&adjust(Source::Land, 5)).expect("accepted");
    assert!(matches!(
        decision.as_slice(),
        [LedgerEvent::BudgetAdjusted(_), LedgerEvent::FundsReserved(r)] if r.proposal_id == p(2)
    ));
}

/// A fund where p1's commitment is overdrawn by a forged tranche (applied as a fact), so that its
/// committed and unpaid ESF+ balance is −100 cents.
fn fund_with_a_forged_overdraft() -> Fund {
    let events = history(&[
        allocate(1_000, 200),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
    ]);
    let forged = LedgerEvent::DisbursementRecorded(DisbursementRecorded {
        fund_id: FUND.into(),
        proposal_id: p(1),
        payment_reference: "NB-FORGED".into(),
        paid: Amounts::new(700, 0),
        value_date: today(),
        postings: Vec::new(),
    })
    .journaled();
    given::<Fund>(&events).apply(&forged)
}

#[test]
fn a_decision_that_would_book_a_negative_amount_is_refused_and_names_the_violation() {
    let fund = fund_with_a_forged_overdraft();
    let refusal = fund.decide(&close(p(1))).expect_err("refused");
    assert_eq!(refusal.code(), "invariant_violation");
    let LedgerError::InvariantViolation { violation } = &refusal else {
        panic!("{refusal:?}")
    };
    assert_eq!(violation.code(), "malformed_entry");
    assert!(violation.to_string().starts_with("entry 5:"), "{violation}");
    assert!(refusal.to_string().contains(&violation.to_string()));
    let details = refusal.details();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0].field, "invariant");
    assert!(details[0].reason.starts_with("malformed_entry: entry 5:"));
}

#[test]
fn a_decision_that_does_not_touch_what_the_history_broke_is_not_refused_for_it() {
    // The draft checks what the decision changes; a violation already stored is the auditor's.
    let fund = fund_with_a_forged_overdraft();
    assert_eq!(
        fund.check_invariants().map_err(|v| v.code()),
        Err("negative_balance")
    );
    let events = fund.decide(&recover(p(1), 10, 0)).expect("accepted");
    assert!(matches!(
        events.as_slice(),
        [LedgerEvent::RecoveryAssessed(_)]
    ));
}

#[test]
fn a_refused_decision_leaves_the_fund_as_it_was() {
    let fund = fund_with_a_forged_overdraft();
    let before = fund.balances();
    assert!(fund.decide(&close(p(1))).is_err());
    assert_eq!(fund.balances(), before);
}

#[test]
fn a_payment_booked_before_the_decision_is_a_duplicate_on_the_draft_too() {
    let events = history(&[
        allocate(1_000, 200),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 10, 0, today()),
    ]);
    let fund = given::<Fund>(&events);
    let again = history(&[
        allocate(1_000, 200),
        reserve(p(1), 600, 100),
        commit(p(1), 600, 100),
        disburse(p(1), "NB-1", 20, 0, today()),
    ]);
    let mut draft = Draft::over(&fund);
    let found = draft.fold_checked(&again[3]).map_err(|v| v.code());
    assert_eq!(found, Err("duplicate_payment_reference"));
    assert_eq!(
        fund.clone()
            .apply(&again[3])
            .check_after(&again[3])
            .map_err(|v| v.code()),
        found,
        "as on the fund itself"
    );
}
