//! A closed period imported from the old books: given its history, when it is imported, then
//! every step is booked on its own date by the ledger's own rules, or the whole import is refused
//! naming the step.

use buendel_contract::ledger::{Amounts, LedgerEvent};
use buendel_contract::{Aggregate, Cents, DomainError};

use super::*;
use crate::import::{ClosedPeriod, ClosedProject, ImportedPayment, ImportedRecovery};
use crate::ProjectStatus;

/// Two projects of NON's 2014–2020 period: one paid below its grant and closed, one paid in full,
/// closed, then 10,000.00 + 2,000.00 recovered on 1 March 2022 and repaid on 1 September 2022.
fn period() -> ClosedPeriod {
    let pay = |reference: &str, esf, land, on| ImportedPayment {
        reference: reference.into(),
        paid: Amounts::new(esf, land),
        value_date: on,
    };
    ClosedPeriod {
        fund_id: "non-2014-2020".into(),
        allocated: Amounts::new(40_000_000, 8_000_000),
        allocated_on: day(2015, 1, 15),
        commit_deadline: day(2020, 12, 31),
        projects: vec![
            ClosedProject {
                proposal_id: p(1),
                granted: Amounts::new(15_000_000, 2_500_000),
                reserved_on: day(2015, 6, 1),
                granted_on: day(2015, 7, 1),
                payments: vec![
                    pay("ZA-2016-1", 7_500_000, 1_250_000, day(2016, 3, 1)),
                    pay("ZA-2017-1", 6_000_000, 1_000_000, day(2017, 3, 1)),
                ],
                closed_on: day(2018, 2, 1),
                recovery: None,
            },
            ClosedProject {
                proposal_id: p(2),
                granted: Amounts::new(12_000_000, 2_000_000),
                reserved_on: day(2016, 5, 2),
                granted_on: day(2016, 6, 1),
                payments: vec![
                    pay("ZA-2017-2", 6_000_000, 1_000_000, day(2017, 4, 3)),
                    pay("ZA-2021-2", 6_000_000, 1_000_000, day(2021, 5, 3)),
                ],
                closed_on: day(2021, 11, 2),
                recovery: Some(ImportedRecovery {
                    principal: Amounts::new(1_000_000, 200_000),
                    reason: "Prüfung 2022: Honorare ohne Vergabe".into(),
                    assessed_on: day(2022, 3, 1),
                    repaid_on: day(2022, 9, 1),
                    interest_paid_on: day(2022, 10, 4),
                }),
            },
        ],
    }
}

#[test]
fn a_closed_period_is_booked_step_by_step_on_its_own_dates_and_replays_clean() {
    // Given a fund never opened and the period's history,
    // when it is imported on a business date after it,
    let events = Fund::default()
        .import_closed(&period(), day(2026, 12, 2))
        .expect("imported");
    // then the value dates never go backwards and the last is the interest payment,
    let dates: Vec<_> = events.iter().map(LedgerEvent::value_date).collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    assert_eq!(dates.first(), Some(&day(2015, 1, 15)));
    assert_eq!(dates.last(), Some(&day(2022, 10, 4)));
    // every project is closed, nothing is reserved, committed or available any more,
    let fund = events.iter().fold(Fund::default(), |f, e| f.apply(e));
    fund.check_invariants().expect("the replay is clean");
    let balances = fund.balances();
    for id in [p(1), p(2)] {
        assert_eq!(balances.projects[&id].status, ProjectStatus::Closed);
    }
    assert_eq!(balances.total.reserved, Cents(0));
    assert_eq!(
        balances.total.committed,
        Cents(13_500_000 + 2_250_000 + 14_000_000)
    );
    assert_eq!(balances.total.available, Cents(0));
    assert_eq!(balances.total.disbursed, Cents(29_750_000));
    assert_eq!(balances.total.repaid, Cents(1_200_000));
    // and the interest is five points above the base rate of 2022 (−0.88 %): 4.12 % a year on
    // 10,000.00 + 2,000.00 for the 184 days from 1 March to 31 August, actual/365, rounded once
    // half to even: 207.69 + 41.54, charged and paid.
    let interest: Vec<Amounts> = events
        .iter()
        .filter_map(|e| match e {
            LedgerEvent::InterestCharged(c) => Some(c.interest),
            _ => None,
        })
        .collect();
    assert_eq!(interest, [Amounts::new(20_769, 4_154)]);
    assert!(events.iter().any(
        |e| matches!(e, LedgerEvent::InterestPaid(i) if i.paid == Amounts::new(20_769, 4_154))
    ));
}

#[test]
fn one_step_that_breaks_a_rule_refuses_the_whole_import_and_names_it() {
    // A payment above the grant:
    let mut broken = period();
    broken.projects[0].payments[1].paid = Amounts::new(9_000_000, 1_000_000);
    let refused = Fund::default()
        .import_closed(&broken, day(2026, 12, 2))
        .expect_err("refused");
    assert_eq!(refused.code(), "import_step_refused");
    match refused {
        LedgerError::ImportStepRefused {
            command,
            proposal_id,
            code,
            ..
        } => {
            assert_eq!(command, "record_disbursement");
            assert_eq!(proposal_id, Some(p(1)));
            assert_eq!(code, "disbursement_above_commitment");
        }
        other => panic!("{other}"),
    }
    // A project reserved and granted after the commitment deadline:
    let mut late = period();
    late.projects[1].reserved_on = day(2021, 1, 4);
    late.projects[1].granted_on = day(2021, 1, 5);
    late.projects[1].payments[0].value_date = day(2021, 3, 1);
    let refused = Fund::default()
        .import_closed(&late, day(2026, 12, 2))
        .expect_err("refused");
    assert!(
        matches!(
            &refused,
            LedgerError::ImportStepRefused {
                code: "after_deadline",
                ..
            }
        ),
        "{refused}"
    );
}

#[test]
fn only_a_closed_period_comes_in_and_only_into_a_fund_never_opened() {
    let today = day(2026, 12, 2);
    // Deadline not passed yet:
    let mut open = period();
    open.commit_deadline = day(2027, 12, 31);
    assert_eq!(
        Fund::default()
            .import_closed(&open, today)
            .expect_err("open")
            .code(),
        "import_not_closed"
    );
    // A project never closed:
    let mut unfinished = period();
    unfinished.projects[0].closed_on = day(2027, 1, 4);
    assert_eq!(
        Fund::default()
            .import_closed(&unfinished, today)
            .expect_err("dated after today")
            .code(),
        "import_not_closed"
    );
    // A fund already open:
    let (opened, _) = run(&[allocate(100, 100)]);
    assert_eq!(
        opened
            .import_closed(&period(), today)
            .expect_err("open")
            .code(),
        "already_allocated"
    );
}
