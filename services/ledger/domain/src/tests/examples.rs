//! The worked examples of the domain notes (§3.7) and the waitlist race of the ledger issue.

use buendel_contract::ledger::{LedgerEvent, ReleaseReason};
use buendel_contract::Cents;

use super::*;

/// NON's budget: 234,000,000 cents, split 60:10 between ESF+ and Land (the split the demo assumes).
fn non_budget() -> Command {
    allocate(200_571_429, 33_428_571)
}

#[test]
fn the_non_budget_holds_234_million_cents_split_60_to_10() {
    let (fund, _) = run(&[non_budget()]);
    let balances = fund.balances();
    assert_eq!(balances.total.allocated, Cents(234_000_000));
    assert_eq!(balances.total.available, Cents(234_000_000));
    assert_eq!(balances.esf_plus.allocated, Cents(200_571_429));
    assert_eq!(balances.land.allocated, Cents(33_428_571));
    assert!(balances.trial_balance_zero);
}

#[test]
fn the_four_non_projects_bind_987_000_euros_and_leave_1_353_000_available() {
    let heidekreis = p(1);
    let welcome = p(2);
    let teilzeit = p(3);
    let pflegehilfe = p(4);
    let (fund, _) = run(&[
        non_budget(),
        reserve(heidekreis, 18_000_000, 3_000_000),
        commit(heidekreis, 18_000_000, 3_000_000),
        reserve(welcome, 28_800_000, 4_800_000),
        commit(welcome, 28_800_000, 4_800_000),
        reserve(teilzeit, 12_600_000, 2_100_000),
        reserve(pflegehilfe, 25_200_000, 4_200_000),
    ]);
    let total = fund.balances().total;
    assert_eq!(total.reserved.0 + total.committed.0, 98_700_000);
    assert_eq!(total.available, Cents(135_300_000));
    assert!(total.parts_sum_to_whole());
}

#[test]
fn the_heidekreis_grant_is_paid_a_first_claim_of_17_500_euros() {
    let heidekreis = p(1);
    let (fund, events) = run(&[
        non_budget(),
        reserve(heidekreis, 18_000_000, 3_000_000),
        commit(heidekreis, 18_000_000, 3_000_000),
        disburse(
            heidekreis,
            "NB-2025-0001",
            1_500_000,
            250_000,
            day(2025, 4, 15),
        ),
    ]);
    assert!(matches!(
        events.last(),
        Some(LedgerEvent::DisbursementRecorded(_))
    ));
    let money = fund.project_money(heidekreis).expect("known");
    assert_eq!(money.total.disbursed, Cents(1_750_000));
    assert_eq!(money.total.committed, Cents(21_000_000));
    assert_eq!(money.total.unpaid, Cents(19_250_000));
    assert_eq!(fund.balances().total.available, Cents(213_000_000));
}

#[test]
fn the_heidekreis_clawback_closes_under_budget_and_recovers_9_000_euros() {
    // Paid 205,000.00 EUR; the final report gives a grant of 196,000.00 (ESF+ 168,000, Land 28,000).
    let heidekreis = p(1);
    let (fund, _) = run(&[
        non_budget(),
        reserve(heidekreis, 18_000_000, 3_000_000),
        commit(heidekreis, 18_000_000, 3_000_000),
        disburse(heidekreis, "NB-1", 1_500_000, 250_000, day(2025, 4, 15)),
        disburse(heidekreis, "NB-2", 16_100_000, 2_650_000, day(2026, 9, 30)),
        on(close(heidekreis), day(2026, 10, 1)),
        on(recover(heidekreis, 800_000, 100_000), day(2026, 10, 1)),
    ]);
    let money = fund.project_money(heidekreis).expect("known");
    assert_eq!(money.total.disbursed, Cents(20_500_000));
    assert_eq!(
        money.total.committed,
        Cents(20_500_000),
        "5,000.00 EUR unpaid was released at closing"
    );
    assert_eq!(money.total.recovered, Cents(900_000));
    assert_eq!(money.total.receivable, Cents(900_000));
    assert_eq!(
        money.total.committed.0 - money.total.recovered.0,
        19_600_000,
        "the final grant"
    );
    assert_eq!(
        fund.balances().total.available,
        Cents(234_000_000 - 20_500_000)
    );

    let (fund, _) =
        step(fund, &repay(heidekreis, 800_000, 100_000, day(2026, 11, 2))).expect("accepted");
    let money = fund.project_money(heidekreis).expect("known");
    assert_eq!(
        (money.total.repaid, money.total.receivable),
        (Cents(900_000), Cents::ZERO)
    );
}

#[test]
fn fifty_proposals_racing_for_ten_places_reserve_ten_and_waitlist_forty() {
    // A budget covering exactly ten grants of 70,000.00 EUR (ESF+ 60,000 + Land 10,000).
    let mut commands = vec![allocate(60_000_000, 10_000_000)];
    commands.extend((0..50).map(|n| reserve(p(n), 6_000_000, 1_000_000)));
    let (fund, events) = run(&commands);
    let reserved = events
        .iter()
        .filter(|e| matches!(e, LedgerEvent::FundsReserved(_)))
        .count();
    let declined = events
        .iter()
        .filter(|e| matches!(e, LedgerEvent::ReservationDeclined(_)))
        .count();
    assert_eq!((reserved, declined), (10, 40));
    assert_eq!(fund.waitlist().count(), 40);
    assert_eq!(
        fund.balances().total.available,
        Cents::ZERO,
        "never a cent over"
    );
    assert_eq!(
        fund.waitlist().next(),
        Some(p(10)),
        "the first one declined is first in line"
    );
}

#[test]
fn releasing_one_reservation_reserves_the_first_waitlisted() {
    let mut commands = vec![allocate(60_000_000, 10_000_000)];
    commands.extend((0..50).map(|n| reserve(p(n), 6_000_000, 1_000_000)));
    commands.push(release(p(3), ReleaseReason::Withdrawn));
    let (fund, events) = run(&commands);
    let Some(LedgerEvent::FundsReserved(last)) = events.last() else {
        panic!("{:?}", events.last())
    };
    assert_eq!((last.proposal_id, last.from_waitlist), (p(10), true));
    assert_eq!(fund.waitlist().count(), 39);
    assert_eq!(fund.waitlist().next(), Some(p(11)));
    assert_eq!(fund.balances().total.available, Cents::ZERO);
}
