//! Payment claims: given/when/then per rule of [`crate::claims`], the Heidekreis claim of the
//! domain notes, and properties over random claim sequences (never above the committed
//! remainder; four eyes; the replay notes a forged history).

use buendel_contract::ledger::{Amounts, ClaimCut, GrantTerms, LedgerEvent};
use buendel_contract::{Aggregate, BasisPoints, Cents, DomainError};
use proptest::prelude::*;

use super::*;
use crate::claims::{ClaimStatus, NewClaim};
use crate::InvariantViolation;

/// Heidekreis: 300,000.00 EUR eligible at 70 % (ESF+ 60 %), granted 2025-01-01 to 2027-12-31.
fn terms() -> GrantTerms {
    GrantTerms {
        bank_reference: "NB-ZB-2025-017".into(),
        eligible_cost_cents: Cents(30_000_000),
        total_rate_bp: BasisPoints(7_000),
        esf_rate_bp: BasisPoints(6_000),
        period_from: day(2025, 1, 1),
        period_to: day(2027, 12, 31),
    }
}

/// The Heidekreis project granted 180,000.00 ESF+ and 30,000.00 Land, with its terms.
fn granted(proposal: Uuid) -> Vec<Command> {
    vec![
        allocate(200_571_429, 33_428_571),
        reserve(proposal, 18_000_000, 3_000_000),
        Command::Commit {
            proposal_id: proposal,
            esf: Cents(18_000_000),
            land: Cents(3_000_000),
            terms: Some(terms()),
            today: today(),
        },
    ]
}

/// A claim for one quarter of 2025 (`quarter` 1..=4) asking `esf` and `land`.
fn submit(proposal: Uuid, claim: Uuid, quarter: u32, esf: i64, land: i64) -> Command {
    let from = day(2025, 3 * quarter - 2, 1);
    let to = if quarter == 4 {
        day(2025, 12, 31)
    } else {
        day(2025, 3 * quarter + 1, 1) - chrono::Days::new(1)
    };
    Command::SubmitClaim {
        proposal_id: proposal,
        claim: NewClaim {
            claim_id: claim,
            period_from: from,
            period_to: to,
            // Declared enough for both parts at the rates: ESF+ 60 %, Land 10 %.
            declared_eligible: Cents(((esf * 10 + 5) / 6).max(land * 10) + 10),
            asked: Amounts::new(esf, land),
            receipts_reference: format!("BL-2025-Q{quarter}"),
        },
        actor: "traeger-heidekreis".into(),
        today: today(),
    }
}

fn verify(proposal: Uuid, claim: Uuid, cuts: Vec<ClaimCut>, actor: &str) -> Command {
    Command::VerifyClaim {
        proposal_id: proposal,
        claim_id: claim,
        cuts,
        actor: actor.into(),
        today: today(),
    }
}

fn approve(proposal: Uuid, claim: Uuid, reference: &str, actor: &str) -> Command {
    Command::ApproveClaim {
        proposal_id: proposal,
        claim_id: claim,
        payment_reference: reference.into(),
        value_date: today(),
        actor: actor.into(),
        today: today(),
    }
}

fn c(n: u128) -> Uuid {
    Uuid::from_u128(0xc1a1_0000 + n)
}

fn refused(given: &[Command], when: &Command) -> LedgerError {
    let (fund, _) = run(given);
    fund.decide(when).expect_err("refused")
}

fn with(mut given: Vec<Command>, more: &[Command]) -> Vec<Command> {
    given.extend_from_slice(more);
    given
}

#[test]
fn the_heidekreis_claim_of_25_000_euros_is_verified_approved_and_paid_17_500_euros() {
    let h = p(1);
    // Given the grant, when the project claims Q1 (25,000.00 eligible → 15,000.00 + 2,500.00),
    // one officer verifies and another approves.
    let (fund, events) = run(&with(
        granted(h),
        &[
            submit(h, c(1), 1, 1_500_000, 250_000),
            verify(h, c(1), vec![], "pruefer-1"),
            approve(h, c(1), "NB-2025-0001", "freigabe-2"),
        ],
    ));
    // Then the payment is booked at its value date and the claim is paid.
    let LedgerEvent::ClaimApproved(paid) = events.last().expect("events") else {
        panic!("the last event is the approval");
    };
    assert_eq!(paid.paid, Amounts::new(1_500_000, 250_000));
    assert_eq!(paid.postings.len(), 2);
    let money = fund.balances().total;
    assert_eq!(money.disbursed, Cents(1_750_000));
    let claim = &fund.project(h).expect("project").claims[0];
    assert_eq!(claim.status, ClaimStatus::Paid);
    assert_eq!(fund.project(h).expect("project").terms, Some(terms()));
}

#[test]
fn the_same_officer_may_not_verify_and_approve_a_claim() {
    let h = p(1);
    let given = with(
        granted(h),
        &[
            submit(h, c(1), 1, 1_500_000, 250_000),
            verify(h, c(1), vec![], "pruefer-1"),
        ],
    );
    let error = refused(&given, &approve(h, c(1), "NB-1", "pruefer-1"));
    assert_eq!(error.code(), "four_eyes_violation");
    // And the submitter may not verify its own claim.
    let given = with(granted(h), &[submit(h, c(1), 1, 1_500_000, 250_000)]);
    let error = refused(&given, &verify(h, c(1), vec![], "traeger-heidekreis"));
    assert_eq!(error.code(), "verifier_is_submitter");
}

#[test]
fn a_partial_verification_pays_what_is_left_after_each_cut_with_its_reason() {
    let h = p(1);
    let cut = ClaimCut {
        cut: Amounts::new(300_000, 50_000),
        reason: "receipt 12 falls outside the period".into(),
    };
    let (fund, events) = run(&with(
        granted(h),
        &[
            submit(h, c(1), 1, 1_500_000, 250_000),
            verify(h, c(1), vec![cut.clone()], "pruefer-1"),
            approve(h, c(1), "NB-1", "freigabe-2"),
        ],
    ));
    assert!(events.iter().any(|e| matches!(e,
        LedgerEvent::ClaimVerified(v) if v.accepted == Amounts::new(1_200_000, 200_000) && v.cuts == [cut.clone()])));
    assert_eq!(fund.balances().total.disbursed, Cents(1_400_000));
    let too_much = ClaimCut {
        cut: Amounts::new(1_500_001, 0),
        reason: "everything".into(),
    };
    let given = with(granted(h), &[submit(h, c(1), 1, 1_500_000, 250_000)]);
    let error = refused(&given, &verify(h, c(1), vec![too_much], "pruefer-1"));
    assert_eq!(error.code(), "cut_above_asked");
}

#[test]
fn a_claim_sent_back_is_verified_only_after_it_returns() {
    let h = p(1);
    let given = with(
        granted(h),
        &[
            submit(h, c(1), 1, 1_500_000, 250_000),
            Command::ReturnClaim {
                proposal_id: h,
                claim_id: c(1),
                missing: "payslips for March".into(),
                actor: "pruefer-1".into(),
                today: today(),
            },
        ],
    );
    assert_eq!(
        refused(&given, &verify(h, c(1), vec![], "pruefer-1")).code(),
        "claim_wrong_status"
    );
    let back = Command::ResubmitClaim {
        proposal_id: h,
        claim_id: c(1),
        receipts_reference: "BL-2025-Q1-b".into(),
        today: today(),
    };
    let (fund, _) = run(&with(given, &[back, verify(h, c(1), vec![], "pruefer-1")]));
    assert_eq!(
        fund.project(h).expect("project").claims[0].status,
        ClaimStatus::Verified
    );
}

#[test]
fn a_claim_outside_the_grant_period_or_overlapping_an_earlier_one_is_refused() {
    let h = p(1);
    let mut early = submit(h, c(2), 1, 100, 0);
    if let Command::SubmitClaim { claim, .. } = &mut early {
        claim.period_from = day(2024, 12, 1);
    }
    assert_eq!(refused(&granted(h), &early).code(), "outside_grant_period");
    let given = with(granted(h), &[submit(h, c(1), 1, 100, 0)]);
    let mut overlapping = submit(h, c(2), 2, 100, 0);
    if let Command::SubmitClaim { claim, .. } = &mut overlapping {
        claim.period_from = day(2025, 3, 31);
    }
    assert_eq!(
        refused(&given, &overlapping).code(),
        "claim_period_overlaps"
    );
}

#[test]
fn a_claim_above_the_rates_of_its_expenditure_or_the_committed_remainder_is_refused() {
    let h = p(1);
    let mut greedy = submit(h, c(1), 1, 1_500_000, 250_000);
    if let Command::SubmitClaim { claim, .. } = &mut greedy {
        // 25,000.00 declared allows 15,000.00 + 2,500.00; ask one cent more ESF+.
        claim.declared_eligible = Cents(2_500_000);
        claim.asked = Amounts::new(1_500_001, 250_000);
    }
    assert_eq!(refused(&granted(h), &greedy).code(), "claim_above_rate");
    // Two open claims together may not ask more than the 180,000.00 ESF+ committed.
    let given = with(granted(h), &[submit(h, c(1), 1, 10_000_000, 0)]);
    let error = refused(&given, &submit(h, c(2), 2, 8_000_001, 0));
    assert_eq!(error.code(), "claim_above_committed_remainder");
    let (fund, _) = run(&with(given, &[submit(h, c(2), 2, 8_000_000, 0)]));
    assert_eq!(fund.project(h).expect("project").claims.len(), 2);
}

#[test]
fn a_grant_committed_without_terms_takes_no_claims() {
    let h = p(1);
    let given = [
        allocate(200_571_429, 33_428_571),
        reserve(h, 18_000_000, 3_000_000),
        commit(h, 18_000_000, 3_000_000),
    ];
    assert_eq!(
        refused(&given, &submit(h, c(1), 1, 100, 0)).code(),
        "no_grant_terms"
    );
}

#[test]
fn a_project_granted_with_its_terms_is_paid_only_through_an_approved_claim() {
    let h = p(1);
    // Given the Heidekreis grant with its terms recorded,
    // when an officer books a tranche directly,
    let direct = disburse(h, "NB-DIREKT-1", 1_500_000, 250_000, today());
    // then it is refused with its own code, and nothing is paid;
    assert_eq!(refused(&granted(h), &direct).code(), "claim_required");
    // a grant from before recorded terms is still paid directly (it has no claims).
    let without_terms = [
        allocate(200_571_429, 33_428_571),
        reserve(h, 18_000_000, 3_000_000),
        commit(h, 18_000_000, 3_000_000),
    ];
    let (fund, _) = run(&without_terms);
    fund.decide(&direct).expect("paid directly");
}

#[test]
fn the_replay_notes_a_direct_payment_of_a_project_with_terms_in_a_forged_history() {
    let h = p(1);
    // A history where the project was committed without terms and paid directly, then forged to
    // carry the terms before the payment: the payment bypassed the four eyes.
    let (_, mut events) = run(&[
        allocate(200_571_429, 33_428_571),
        reserve(h, 18_000_000, 3_000_000),
        commit(h, 18_000_000, 3_000_000),
        disburse(h, "NB-DIREKT-1", 1_500_000, 250_000, today()),
    ]);
    let (_, termed) = run(&granted(h));
    let terms = termed
        .into_iter()
        .find(|e| matches!(e, LedgerEvent::GrantTermsRecorded(_)))
        .expect("the grant records its terms");
    let payment = events.len() - 1;
    events.insert(payment, terms);
    let fund = events.iter().fold(Fund::default(), |f, e| f.apply(e));
    let violation = fund
        .check_invariants()
        .expect_err("a payment without a claim");
    assert!(
        matches!(violation, InvariantViolation::PaymentWithoutClaim { proposal_id, .. } if proposal_id == h),
        "{violation}"
    );
}

#[test]
fn the_replay_notes_an_approval_by_the_verifier_in_a_forged_history() {
    let h = p(1);
    let (_, mut events) = run(&with(
        granted(h),
        &[
            submit(h, c(1), 1, 1_500_000, 250_000),
            verify(h, c(1), vec![], "pruefer-1"),
            approve(h, c(1), "NB-1", "freigabe-2"),
        ],
    ));
    if let Some(LedgerEvent::ClaimApproved(approval)) = events.last_mut() {
        approval.approved_by = "pruefer-1".into();
    }
    let fund = events.iter().fold(Fund::default(), |f, e| f.apply(e));
    let violation = fund.check_invariants().expect_err("a forged approval");
    assert!(
        matches!(violation, InvariantViolation::ClaimRule { rule, .. } if rule.contains("four eyes")),
        "{violation}"
    );
}

/// One step of a random claim history.
#[derive(Debug, Clone)]
enum Step {
    Submit {
        quarter: u32,
        esf: i64,
        land: i64,
    },
    Verify {
        claim: usize,
        cut_esf: i64,
        officer: u8,
    },
    Return {
        claim: usize,
    },
    Resubmit {
        claim: usize,
    },
    Approve {
        claim: usize,
        officer: u8,
    },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (1u32..=4, 0i64..12_000_000, 0i64..2_000_000)
            .prop_map(|(quarter, esf, land)| Step::Submit { quarter, esf, land }),
        (0usize..4, 0i64..2_000_000, 0u8..3).prop_map(|(claim, cut_esf, officer)| Step::Verify {
            claim,
            cut_esf,
            officer
        }),
        (0usize..4).prop_map(|claim| Step::Return { claim }),
        (0usize..4).prop_map(|claim| Step::Resubmit { claim }),
        (0usize..4, 0u8..3).prop_map(|(claim, officer)| Step::Approve { claim, officer }),
    ];
    proptest::collection::vec(step, 1..30)
}

proptest! {
    /// Whatever is asked, verified, sent back and approved, in any order: every accepted
    /// decision keeps every invariant, what open claims bind plus what was paid never exceeds
    /// the commitment, and no claim is ever paid by the officer who verified it.
    #[test]
    fn claims_never_bind_more_than_the_commitment_and_keep_four_eyes(script in steps()) {
        let h = p(1);
        let (mut fund, _) = run(&granted(h));
        let mut paid_refs = 0u32;
        for (n, step) in script.iter().enumerate() {
            let officer = |o: u8| format!("officer-{o}");
            let command = match step {
                Step::Submit { quarter, esf, land } => submit(h, c(n as u128), *quarter, *esf, *land),
                Step::Verify { claim, cut_esf, officer: o } => {
                    let cuts = if *cut_esf == 0 { vec![] } else {
                        vec![ClaimCut { cut: Amounts::new(*cut_esf, 0), reason: "cut".into() }]
                    };
                    verify(h, claim_id(&fund, h, *claim), cuts, &officer(*o))
                }
                Step::Return { claim } => Command::ReturnClaim {
                    proposal_id: h, claim_id: claim_id(&fund, h, *claim),
                    missing: "receipts".into(), actor: "officer-0".into(), today: today(),
                },
                Step::Resubmit { claim } => Command::ResubmitClaim {
                    proposal_id: h, claim_id: claim_id(&fund, h, *claim),
                    receipts_reference: "again".into(), today: today(),
                },
                Step::Approve { claim, officer: o } => {
                    paid_refs += 1;
                    approve(h, claim_id(&fund, h, *claim), &format!("NB-{paid_refs}"), &officer(*o))
                }
            };
            if let Ok((next, events)) = step_checked(fund.clone(), &command) {
                for event in &events {
                    if let LedgerEvent::ClaimApproved(a) = event {
                        let verifier = next.project(h).and_then(|p| p.claims.iter()
                            .find(|c| c.claim_id == a.claim_id)).and_then(|c| c.verified_by.clone());
                        prop_assert_ne!(verifier.as_deref(), Some(a.approved_by.as_str()));
                    }
                }
                fund = next;
            }
            let project = fund.project(h).expect("project");
            let money = fund.balances().total;
            let bound: i64 = project.claims.iter().map(|c| c.open_amount().esf_cents.0 + c.open_amount().land_cents.0).sum();
            prop_assert!(bound + money.disbursed.0 <= 21_000_000, "bound {bound}, paid {}", money.disbursed.0);
            prop_assert!(fund.check_invariants().is_ok());
        }
    }
}

/// The id of the `n`th claim of the project, or a fresh one when it has fewer.
fn claim_id(fund: &Fund, proposal: Uuid, n: usize) -> Uuid {
    fund.project(proposal)
        .and_then(|p| p.claims.get(n))
        .map_or(c(999), |claim| claim.claim_id)
}

/// [`step`] without the panics: refused commands are fine in a random history.
fn step_checked(fund: Fund, command: &Command) -> Result<(Fund, Vec<LedgerEvent>), LedgerError> {
    step(fund, command)
}
