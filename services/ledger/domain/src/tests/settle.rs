//! The final report, revocation and interest: the worked example of the domain notes to the cent,
//! a recovery with interest across a base-rate change with a partial repayment, revocations ex
//! tunc and ex nunc, and properties of the settlement on random reports.

use buendel_contract::ledger::{Amounts, Effect, GrantTerms, LedgerEvent, LegalBasis};
use buendel_contract::{Aggregate, BasisPoints, Cents, DomainError};
use proptest::prelude::*;

use super::*;
use crate::claims::NewClaim;
use crate::{InvariantViolation, ProjectStatus};

/// Heidekreis: 300,000.00 EUR eligible at 70 % (ESF+ 60 %): 180,000.00 + 30,000.00 granted.
fn granted(proposal: Uuid) -> Vec<Command> {
    vec![
        allocate(200_571_429, 33_428_571),
        reserve(proposal, 18_000_000, 3_000_000),
        Command::Commit {
            proposal_id: proposal,
            esf: Cents(18_000_000),
            land: Cents(3_000_000),
            terms: Some(GrantTerms {
                bank_reference: "NB-ZB-2025-017".into(),
                eligible_cost_cents: Cents(30_000_000),
                total_rate_bp: BasisPoints(7_000),
                esf_rate_bp: BasisPoints(6_000),
                period_from: day(2025, 1, 1),
                period_to: day(2027, 12, 31),
            }),
            today: today(),
        },
    ]
}

/// The Heidekreis project granted the way histories from before recorded terms were: paid by
/// direct disbursements, with no claims.
fn granted_without_terms(proposal: Uuid) -> Vec<Command> {
    let mut commands = granted(proposal);
    if let Some(Command::Commit { terms, .. }) = commands.last_mut() {
        *terms = None;
    }
    commands
}

/// Paid through one claim for the first quarter of 2025: submitted by the project, verified in
/// full by one officer, approved by another.
fn paid(proposal: Uuid, esf: i64, land: i64) -> Vec<Command> {
    let claim_id = Uuid::from_u128(0xc1a1_0001);
    vec![
        Command::SubmitClaim {
            proposal_id: proposal,
            claim: NewClaim {
                claim_id,
                period_from: day(2025, 1, 1),
                period_to: day(2025, 3, 31),
                // Enough expenditure for both parts at the rates: ESF+ 60 %, Land 10 %.
                declared_eligible: Cents(((esf * 10 + 5) / 6).max(land * 10) + 10),
                asked: Amounts::new(esf, land),
                receipts_reference: "BL-2025-Q1".into(),
            },
            actor: "traeger-heidekreis".into(),
            today: today(),
        },
        Command::VerifyClaim {
            proposal_id: proposal,
            claim_id,
            cuts: Vec::new(),
            actor: "pruefer-1".into(),
            today: today(),
        },
        Command::ApproveClaim {
            proposal_id: proposal,
            claim_id,
            payment_reference: "NB-AUSZ-1".into(),
            value_date: today(),
            actor: "pruefer-2".into(),
            today: today(),
        },
    ]
}

fn final_report(proposal: Uuid, eligible: i64, on: NaiveDate) -> Command {
    Command::CheckFinalReport {
        proposal_id: proposal,
        report_reference: "VN-2025-17".into(),
        eligible: Cents(eligible),
        actor: "pruefer".into(),
        today: on,
    }
}

fn repay(proposal: Uuid, esf: i64, land: i64, on: NaiveDate) -> Command {
    Command::RecordRepayment {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        value_date: on,
        today: on,
    }
}

fn charge(proposal: Uuid, until: NaiveDate) -> Command {
    Command::ChargeInterest {
        proposal_id: proposal,
        until,
        today: until,
    }
}

fn with(mut given: Vec<Command>, more: &[Command]) -> Vec<Command> {
    given.extend_from_slice(more);
    given
}

#[test]
fn a_final_report_of_280_000_euros_makes_the_grant_196_000_and_recovers_9_000_of_205_000_paid() {
    let h = p(1);
    // Given 205,000.00 paid (175,000.00 ESF+, 30,000.00 Land) of the 210,000.00 granted,
    let given = with(granted(h), &paid(h, 17_500_000, 3_000_000));
    // when the final report shows 280,000.00 eligible,
    let (fund, events) = run(&with(
        given,
        &[final_report(h, 28_000_000, day(2025, 5, 1))],
    ));
    // then the final grant is 196,000.00 (168,000.00 + 28,000.00), 9,000.00 is recovered
    // (7,000.00 + 2,000.00), the 5,000.00 ESF+ never paid is freed, and the project is closed.
    let checked = events
        .iter()
        .find_map(|e| match e {
            LedgerEvent::FinalReportChecked(c) => Some(c),
            _ => None,
        })
        .expect("checked");
    assert_eq!(checked.final_grant, Amounts::new(16_800_000, 2_800_000));
    assert_eq!(checked.recovery, Amounts::new(700_000, 200_000));
    assert_eq!(checked.final_payment, Amounts::ZERO);
    assert_eq!(checked.released, Amounts::new(500_000, 0));
    assert!(
        matches!(events.last(), Some(LedgerEvent::RecoveryAssessed(r))
        if r.principal == Amounts::new(700_000, 200_000))
    );
    let project = fund.project(h).expect("project");
    assert_eq!(project.status, ProjectStatus::Closed);
    let money = fund.project_money(h).expect("money");
    assert_eq!(money.total.recovered, Cents(900_000));
    assert_eq!(money.total.disbursed, Cents(20_500_000));
    assert_eq!(
        fund.balances().total.available.0,
        200_571_429 + 33_428_571 - 21_000_000 + 500_000
    );
}

#[test]
fn a_final_report_below_what_is_paid_out_leaves_a_final_payment_for_a_final_claim() {
    let h = p(1);
    let given = with(granted(h), &paid(h, 10_000_000, 1_000_000));
    let (fund, events) = run(&with(
        given,
        &[final_report(h, 28_000_000, day(2025, 5, 1))],
    ));
    let Some(LedgerEvent::FinalReportChecked(checked)) = events.last() else {
        panic!("no recovery: the check is the last event");
    };
    assert_eq!(checked.final_payment, Amounts::new(6_800_000, 1_800_000));
    assert_eq!(checked.released, Amounts::new(1_200_000, 200_000));
    assert_eq!(
        fund.project(h).expect("project").status,
        ProjectStatus::Committed
    );
    assert_eq!(
        fund.project_money(h).expect("money").total.unpaid,
        Cents(8_600_000)
    );
    // A second check is refused with its own code.
    let error = fund
        .decide(&final_report(h, 1, day(2025, 5, 2)))
        .expect_err("checked twice");
    assert_eq!(error.code(), "final_report_checked");
}

#[test]
fn a_recovery_bears_interest_across_a_base_rate_change_and_a_partial_repayment_to_the_cent() {
    let h = p(1);
    // 9,000.00 recovered from 2025-05-01 (ESF+ 7,000.00, Land 2,000.00); 3,000.00 ESF+ repaid on
    // 2025-08-01. Base rate 2.27 % to 2025-06-30, 1.27 % from 2025-07-01: 7.27 % and 6.27 %.
    //   ESF+: 700000·727·61 + 700000·627·31 + 400000·627·31 = 52,423,600,000
    //         / 3,650,000 = 14,362.63 → 14,363 cents
    //   Land: 200000·727·61 + 200000·627·62 = 16,644,200,000 / 3,650,000 = 4,560.05 → 4,560
    let given = with(
        granted(h),
        &[
            paid(h, 17_500_000, 3_000_000),
            vec![
                final_report(h, 28_000_000, day(2025, 5, 1)),
                repay(h, 300_000, 0, day(2025, 8, 1)),
            ],
        ]
        .concat(),
    );
    let (fund, events) = run(&with(given, &[charge(h, day(2025, 9, 1))]));
    let Some(LedgerEvent::InterestCharged(charged)) = events.last() else {
        panic!("interest charged");
    };
    assert_eq!(charged.interest, Amounts::new(14_363, 4_560));
    assert_eq!(charged.postings.len(), 2);
    // Charged again to 2025-10-01, only the month more: 30 days at 6.27 % on 4,000.00 ESF+ and
    // 2,000.00 Land: totals 16,424 and 5,590.74 → 5,591, less what was charged.
    let (fund, events) = step(fund, &charge(h, day(2025, 10, 1))).expect("charged");
    let LedgerEvent::InterestCharged(more) = &events[0] else {
        panic!("interest charged");
    };
    assert_eq!(more.interest, Amounts::new(16_424 - 14_363, 5_591 - 4_560));
    // Paid in part; more than is owed is refused.
    let pay = |esf, on| Command::RecordInterestPayment {
        proposal_id: h,
        paid: Amounts::new(esf, 0),
        value_date: on,
        today: on,
    };
    let (fund, _) = step(fund, &pay(10_000, day(2025, 10, 1))).expect("paid");
    let error = fund
        .decide(&pay(6_425, day(2025, 10, 2)))
        .expect_err("more than owed");
    assert_eq!(error.code(), "interest_payment_above_charged");
    assert_eq!(
        fund.decide(&charge(h, day(2025, 10, 1)))
            .expect_err("again")
            .code(),
        "interest_already_charged"
    );
}

#[test]
fn interest_charged_before_the_recovery_bears_any_is_refused_as_not_due() {
    let h = p(1);
    let given = with(
        granted(h),
        &[
            paid(h, 17_500_000, 3_000_000),
            vec![final_report(h, 28_000_000, day(2025, 5, 1))],
        ]
        .concat(),
    );
    let (fund, _) = run(&given);
    // Until the check's own day: no day before it bears interest.
    let error = fund
        .decide(&charge(h, day(2025, 5, 1)))
        .expect_err("nothing due");
    assert_eq!(error.code(), "no_interest_due");
}

#[test]
fn interest_after_the_last_published_half_year_is_refused_with_its_code() {
    let h = p(1);
    let given = with(
        granted(h),
        &[
            paid(h, 17_500_000, 3_000_000),
            vec![final_report(h, 28_000_000, day(2025, 5, 1))],
        ]
        .concat(),
    );
    let (fund, _) = run(&given);
    let error = fund
        .decide(&charge(h, day(2026, 8, 1)))
        .expect_err("no rate for the second half of 2026 in the table");
    assert_eq!(error.code(), "base_rate_unknown");
}

#[test]
fn a_revocation_with_effect_for_the_past_recovers_what_was_paid_with_interest_from_the_payment() {
    let h = p(1);
    let given = with(granted(h), &paid(h, 5_000_000, 1_000_000));
    let revoke = Command::RevokeGrant {
        proposal_id: h,
        legal_basis: LegalBasis::Revocation,
        effect: Effect::ExTunc,
        remaining: Amounts::ZERO,
        interest_from: today(),
        reason: "Bescheid W-2025-3: purpose not met".into(),
        today: day(2025, 4, 1),
    };
    let (fund, events) = run(&with(given.clone(), &[revoke]));
    assert!(
        matches!(events.last(), Some(LedgerEvent::RecoveryAssessed(r))
        if r.principal == Amounts::new(5_000_000, 1_000_000))
    );
    assert_eq!(
        fund.project(h).expect("project").status,
        ProjectStatus::Closed
    );
    let recovery = &fund.project(h).expect("project").recovery;
    assert_eq!(recovery.changes[0].on, today(), "interest from the payment");
    // For the future only: nothing paid is recovered, the unpaid rest above what remains is freed.
    let ex_nunc = Command::RevokeGrant {
        proposal_id: h,
        legal_basis: LegalBasis::Withdrawal,
        effect: Effect::ExNunc,
        remaining: Amounts::new(9_000_000, 1_500_000),
        interest_from: day(2025, 4, 1),
        reason: "Bescheid R-2025-4".into(),
        today: day(2025, 4, 1),
    };
    let (fund, events) = run(&with(given, &[ex_nunc]));
    assert!(
        matches!(events.last(), Some(LedgerEvent::GrantRevoked(_))),
        "no recovery ex nunc: {events:?}"
    );
    assert_eq!(
        fund.project_money(h).expect("money").total.unpaid,
        Cents(9_000_000 - 5_000_000 + 1_500_000 - 1_000_000)
    );
}

#[test]
fn the_replay_notes_a_final_report_whose_recovery_does_not_follow_from_its_figures() {
    let h = p(1);
    let (_, mut events) = run(&with(
        granted(h),
        &[
            paid(h, 17_500_000, 3_000_000),
            vec![final_report(h, 28_000_000, day(2025, 5, 1))],
        ]
        .concat(),
    ));
    for event in &mut events {
        if let LedgerEvent::FinalReportChecked(checked) = event {
            checked.final_grant = Amounts::new(17_000_000, 2_800_000);
        }
    }
    let fund = events.iter().fold(Fund::default(), |f, e| f.apply(e));
    assert!(matches!(
        fund.check_invariants(),
        Err(InvariantViolation::MoneyRule { .. })
    ));
}

proptest! {
    /// Whatever the final report says and whatever was paid: every invariant holds, the project
    /// keeps exactly min(paid, final) paid and max(final − paid, 0) unpaid, and what it frees and
    /// recovers adds up to the grant.
    #[test]
    fn a_settlement_keeps_paid_and_unpaid_at_the_final_grant(
        eligible in 0i64..40_000_000,
        esf in 1i64..=18_000_000,
        land in 0i64..=3_000_000,
    ) {
        let h = p(1);
        let (fund, events) = run(&with(granted(h), &[paid(h, esf, land), vec![final_report(h, eligible, day(2025, 5, 1))]].concat()));
        let checked = events.iter().find_map(|e| match e {
            LedgerEvent::FinalReportChecked(c) => Some(c.clone()),
            _ => None,
        }).expect("checked");
        let money = fund.project_money(h).expect("money");
        let final_esf = checked.final_grant.esf_cents.0;
        let final_land = checked.final_grant.land_cents.0;
        prop_assert!(final_esf <= 18_000_000 && final_land <= 3_000_000);
        prop_assert_eq!(money.esf_plus.unpaid.0, (final_esf - esf).max(0));
        prop_assert_eq!(money.land.unpaid.0, (final_land - land).max(0));
        prop_assert_eq!(money.esf_plus.recovered.0, (esf - final_esf).max(0));
        prop_assert_eq!(money.land.recovered.0, (land - final_land).max(0));
        prop_assert_eq!(
            checked.released.esf_cents.0 + esf.max(final_esf),
            18_000_000
        );
        prop_assert!(fund.check_invariants().is_ok());
    }
}

#[test]
fn after_a_lock_no_entry_is_dated_inside_the_locked_periods() {
    let h = p(1);
    let lock = |until, on| Command::LockPeriod {
        until,
        reason: "Jahresabschluss 2024/25".into(),
        today: on,
    };
    let given = with(
        granted_without_terms(h),
        &[lock(day(2025, 2, 28), day(2025, 4, 1))],
    );
    let (fund, _) = run(&given);
    assert_eq!(fund.locked_until(), Some(day(2025, 2, 28)));
    let back = Command::RecordDisbursement {
        proposal_id: h,
        payment_reference: "NB-9".into(),
        esf: Cents(100),
        land: Cents(0),
        value_date: day(2025, 2, 28),
        today: day(2025, 4, 2),
    };
    assert_eq!(
        fund.decide(&back).expect_err("locked").code(),
        "period_locked"
    );
    // A lock moves forward only, and never to the booking date or after it.
    for (until, on) in [
        (day(2025, 1, 31), day(2025, 4, 2)),
        (day(2025, 4, 2), day(2025, 4, 2)),
    ] {
        assert_eq!(
            fund.decide(&lock(until, on))
                .expect_err("not forward")
                .code(),
            "lock_not_forward"
        );
    }
    // A forged entry dated inside the lock is noted by the replay.
    let (_, mut events) = run(&with(
        given,
        &[disburse(h, "NB-10", 100, 0, day(2025, 4, 2))],
    ));
    if let Some(LedgerEvent::DisbursementRecorded(d)) = events.last_mut() {
        d.value_date = day(2025, 2, 1);
    }
    let forged = events.iter().fold(Fund::default(), |f, e| f.apply(e));
    assert!(matches!(
        forged.check_invariants(),
        Err(InvariantViolation::LockedPeriod { .. })
    ));
}

#[test]
fn a_correction_in_the_open_period_names_the_entry_it_corrects() {
    let h = p(1);
    // Entry 7 (the claim's approval) pays 1.00 too much into a period that is then locked;
    // entry 9 recovers it in the open period, and the note names both.
    let given = with(
        granted(h),
        &[
            paid(h, 100, 0),
            vec![
                Command::LockPeriod {
                    until: day(2025, 3, 31),
                    reason: "Quartalsabschluss".into(),
                    today: day(2025, 4, 1),
                },
                Command::AssessRecovery {
                    proposal_id: h,
                    esf: Cents(100),
                    land: Cents(0),
                    reason: "paid twice".into(),
                    today: day(2025, 4, 1),
                },
            ],
        ]
        .concat(),
    );
    let (fund, _) = run(&given);
    let note = |corrects, by| Command::NoteCorrection {
        corrects_entry: corrects,
        by_entry: by,
        reason: "tranche paid twice".into(),
        today: day(2025, 4, 1),
    };
    let (_, events) = step(fund.clone(), &note(7, 9)).expect("noted");
    assert!(
        matches!(&events[0], LedgerEvent::CorrectionNoted(c) if c.corrects_entry == 7 && c.by_entry == 9)
    );
    for (corrects, by) in [(9, 7), (0, 9), (7, 10)] {
        assert_eq!(
            fund.decide(&note(corrects, by))
                .expect_err("not ordered")
                .code(),
            "correction_not_ordered"
        );
    }
}
