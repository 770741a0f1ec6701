//! Payment claims (Mittelabruf) and their management verification with four eyes
//! (CPR Art. 74(1)(a)).
//!
//! A granted project submits a claim for a period of its grant: the eligible expenditure declared,
//! the amount asked per source and the reference of its list of receipts. One officer verifies it
//! (accepts it in full, or in part with a reason per cut) or sends it back for missing
//! information; the project answers and it is verified again. A *different* officer approves the
//! payment, which books the accepted amount as disbursed on its value date. The 80-day clock of
//! Art. 74(1)(b) runs from the submission to the payment and is paused while the claim is sent
//! back; the read models compute it from these events' value dates (`buendel_grant::clock`).
//!
//! | event | from | to |
//! |---|---|---|
//! | `claim_submitted` | (new) | submitted |
//! | `claim_returned` | submitted, resubmitted | returned |
//! | `claim_resubmitted` | returned | resubmitted |
//! | `claim_verified` | submitted, resubmitted | verified |
//! | `claim_approved` | verified | paid |
//!
//! The rules `decide` refuses, each with its code: the project has recorded grant terms
//! (`no_grant_terms`); the claim's period lies within the grant period (`outside_grant_period`)
//! and overlaps no earlier claim's (`claim_period_overlaps`); what is asked is at most the grant's
//! rates applied to the expenditure declared (`claim_above_rate`) and at most the committed
//! remainder, which is what is committed and unpaid less what open claims ask
//! (`claim_above_committed_remainder`); the verifier is not the submitter
//! (`verifier_is_submitter`) and the approver is not the verifier (`four_eyes_violation`).
//! `apply` notes every one of these rules that an event breaks ([`InvariantViolation::ClaimRule`]),
//! so the auditor's replay refuses a forged history with the same code.

use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

use buendel_contract::ledger::{
    Account, Amounts, ClaimApproved, ClaimCut, ClaimResubmitted, ClaimReturned, ClaimSubmitted,
    ClaimVerified, GrantTerms, LedgerEvent, Source,
};
use buendel_contract::{Cents, Split};

use super::error::LedgerError;
use super::fund::Fund;
use super::invariants::InvariantViolation;
use super::state::FundState;

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// Submitted, waiting for verification.
    Submitted,
    /// Sent back for missing information (the clock is paused).
    Returned,
    /// Answered after it was sent back, waiting for verification.
    Resubmitted,
    /// Verified, waiting for the approval of the payment.
    Verified,
    /// Paid.
    Paid,
}

impl ClaimStatus {
    /// The status as the read models store it.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Submitted => "submitted",
            ClaimStatus::Returned => "returned",
            ClaimStatus::Resubmitted => "resubmitted",
            ClaimStatus::Verified => "verified",
            ClaimStatus::Paid => "paid",
        }
    }

    /// True while the claim waits for a verification.
    fn verifiable(self) -> bool {
        matches!(self, ClaimStatus::Submitted | ClaimStatus::Resubmitted)
    }
}

/// One payment claim of a project, as the fund knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// The claim's id.
    pub claim_id: Uuid,
    /// Where it stands.
    pub status: ClaimStatus,
    /// First day of its period.
    pub period_from: NaiveDate,
    /// Last day of its period (inclusive).
    pub period_to: NaiveDate,
    /// What was asked per source.
    pub asked: Amounts,
    /// What verification accepted, once verified.
    pub accepted: Option<Amounts>,
    /// Who submitted it.
    pub submitted_by: String,
    /// Who verified it, once verified.
    pub verified_by: Option<String>,
}

impl Claim {
    /// What the claim still binds of the commitment: what was asked until it is verified, then
    /// what was accepted, nothing once paid (the payment moved it out of `committed`).
    pub fn open_amount(&self) -> Amounts {
        match self.status {
            ClaimStatus::Paid => Amounts::ZERO,
            ClaimStatus::Verified => self.accepted.unwrap_or(Amounts::ZERO),
            ClaimStatus::Submitted | ClaimStatus::Returned | ClaimStatus::Resubmitted => self.asked,
        }
    }

    /// True when the two periods share a day.
    fn overlaps(&self, from: NaiveDate, to: NaiveDate) -> bool {
        self.period_from <= to && from <= self.period_to
    }
}

/// The committed remainder of a project: committed and unpaid, less what its open claims bind
/// (saturating: only forged amounts reach the bounds).
fn remainder<S: FundState>(state: &S, proposal_id: Uuid, claims: &[Claim]) -> Amounts {
    let bound = claims.iter().fold(Amounts::ZERO, |sum, claim| {
        sum.saturating_add(&claim.open_amount())
    });
    state
        .per_source(&Account::Committed { proposal_id })
        .saturating_sub(&bound)
}

/// True when `part` is at most `whole` in both sources.
fn within(part: &Amounts, whole: &Amounts) -> bool {
    Source::ALL
        .into_iter()
        .all(|source| part.get(source) <= whole.get(source))
}

/// What the grant's rates allow for the expenditure declared (the one rounding rule).
fn allowed_by_rates(terms: &GrantTerms, declared: Cents) -> Option<Amounts> {
    let split = Split::compute(declared, terms.total_rate_bp, terms.esf_rate_bp)?;
    Some(Amounts {
        esf_cents: split.esf_cents,
        land_cents: split.land_cents,
    })
}

/// What `apply` does for a claim event or the grant terms: checks the event's rule and moves the
/// claim. Never refuses; a broken rule is noted.
pub(super) fn fold_claim<S: FundState>(state: &mut S, event: &LedgerEvent) {
    let broken = match event {
        LedgerEvent::GrantTermsRecorded(e) => {
            if let Some(project) = state.project_mut(e.proposal_id) {
                project.terms = Some(e.terms.clone());
            }
            None
        }
        LedgerEvent::ClaimSubmitted(e) => submitted(state, e),
        LedgerEvent::ClaimReturned(e) => moved(state, e.proposal_id, e.claim_id, |claim| {
            if !claim.status.verifiable() {
                return Err("only a claim waiting for verification is sent back");
            }
            claim.status = ClaimStatus::Returned;
            Ok(())
        }),
        LedgerEvent::ClaimResubmitted(e) => moved(state, e.proposal_id, e.claim_id, |claim| {
            if claim.status != ClaimStatus::Returned {
                return Err("only a returned claim is resubmitted");
            }
            claim.status = ClaimStatus::Resubmitted;
            Ok(())
        }),
        LedgerEvent::ClaimVerified(e) => verified(state, e),
        LedgerEvent::ClaimApproved(e) => approved(state, e),
        _ => None,
    };
    if let Some((claim_id, rule)) = broken {
        let entry = state.scalars().entries;
        state.scalars_mut().note(InvariantViolation::ClaimRule {
            entry,
            claim_id,
            rule,
        });
    }
}

/// A broken claim rule: the claim and the rule.
type Broken = Option<(Uuid, &'static str)>;

fn submitted<S: FundState>(state: &mut S, e: &ClaimSubmitted) -> Broken {
    let Some(project) = state.project(e.proposal_id) else {
        return Some((e.claim_id, "a claim of a project the fund has not seen"));
    };
    let rule = if project.claims.iter().any(|c| c.claim_id == e.claim_id) {
        Some("a claim id is used once")
    } else if let Some(terms) = &project.terms {
        if e.period_from > e.period_to
            || e.period_from < terms.period_from
            || e.period_to > terms.period_to
        {
            Some("a claim's period lies within the grant period")
        } else if project
            .claims
            .iter()
            .any(|c| c.overlaps(e.period_from, e.period_to))
        {
            Some("claims' periods do not overlap")
        } else if !allowed_by_rates(terms, e.declared_eligible_cents)
            .is_some_and(|allowed| within(&e.asked, &allowed))
        {
            Some("a claim asks at most the grant's rates of the expenditure declared")
        } else if !within(&e.asked, &remainder(state, e.proposal_id, &project.claims)) {
            Some("a claim asks at most the committed remainder")
        } else {
            None
        }
    } else {
        Some("a claim needs the grant's recorded terms")
    };
    if let Some(project) = state.project_mut(e.proposal_id) {
        project.claims.push(Claim {
            claim_id: e.claim_id,
            status: ClaimStatus::Submitted,
            period_from: e.period_from,
            period_to: e.period_to,
            asked: e.asked,
            accepted: None,
            submitted_by: e.submitted_by.clone(),
            verified_by: None,
        });
    }
    rule.map(|rule| (e.claim_id, rule))
}

fn verified<S: FundState>(state: &mut S, e: &ClaimVerified) -> Broken {
    moved(state, e.proposal_id, e.claim_id, |claim| {
        if !claim.status.verifiable() {
            return Err("only a claim waiting for verification is verified");
        }
        if claim.submitted_by == e.verified_by {
            return Err("the verifier is not the submitter");
        }
        let mut total = e.accepted;
        for cut in &e.cuts {
            for source in Source::ALL {
                let sum = total.get(source).checked_add(cut.cut.get(source));
                total.set(source, sum.unwrap_or(Cents(i64::MAX)));
            }
        }
        if total != claim.asked {
            return Err("what is accepted and what is cut add up to what was asked");
        }
        claim.status = ClaimStatus::Verified;
        claim.accepted = Some(e.accepted);
        claim.verified_by = Some(e.verified_by.clone());
        Ok(())
    })
}

fn approved<S: FundState>(state: &mut S, e: &ClaimApproved) -> Broken {
    let fresh = state.book_reference(&e.payment_reference);
    let broken = moved(state, e.proposal_id, e.claim_id, |claim| {
        if claim.status != ClaimStatus::Verified {
            return Err("only a verified claim is approved");
        }
        if claim.verified_by.as_deref() == Some(e.approved_by.as_str()) {
            return Err("the approver is not the verifier (four eyes)");
        }
        if claim.accepted != Some(e.paid) {
            return Err("what is paid is what was accepted");
        }
        claim.status = ClaimStatus::Paid;
        Ok(())
    });
    broken.or((!fresh).then_some((e.claim_id, "a payment reference is booked once")))
}

/// Moves one claim of a project by `step`; the claim and the rule when it cannot.
fn moved<S: FundState>(
    state: &mut S,
    proposal_id: Uuid,
    claim_id: Uuid,
    step: impl FnOnce(&mut Claim) -> Result<(), &'static str>,
) -> Broken {
    let Some(claim) = state
        .project_mut(proposal_id)
        .and_then(|p| p.claims.iter_mut().find(|c| c.claim_id == claim_id))
    else {
        return Some((claim_id, "a claim the fund has not seen"));
    };
    step(claim).err().map(|rule| (claim_id, rule))
}

/// The fields of a new claim, as `submit_claim` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClaim {
    /// The claim's id.
    pub claim_id: Uuid,
    /// First day of its period.
    pub period_from: NaiveDate,
    /// Last day of its period (inclusive).
    pub period_to: NaiveDate,
    /// The eligible expenditure declared.
    pub declared_eligible: Cents,
    /// What is asked per source.
    pub asked: Amounts,
    /// The list of receipts.
    pub receipts_reference: String,
}

impl Fund {
    /// A granted project's claim, or why there is none to act on.
    fn claim(&self, proposal_id: Uuid, claim_id: Uuid) -> Result<&Claim, LedgerError> {
        self.granted_project(proposal_id)?
            .claims
            .iter()
            .find(|c| c.claim_id == claim_id)
            .ok_or(LedgerError::UnknownClaim { claim_id })
    }

    /// A committed (and not closed) project.
    pub(super) fn granted_project(
        &self,
        proposal_id: Uuid,
    ) -> Result<&super::fund::Project, LedgerError> {
        self.granted(proposal_id, false)?;
        self.projects
            .get(&proposal_id)
            .ok_or(LedgerError::UnknownProject { proposal_id })
    }

    /// `submit_claim`.
    pub(super) fn submit_claim(
        &self,
        proposal_id: Uuid,
        claim: &NewClaim,
        actor: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let fund_id = self.fund_id().ok_or(LedgerError::FundNotOpen)?;
        let asked = super::decide::amounts("asked", claim.asked.esf_cents, claim.asked.land_cents)?;
        if claim.declared_eligible.0 < 0 {
            return Err(LedgerError::NegativeAmount {
                field: "declared_eligible_cents",
            });
        }
        super::decide::text("receipts_reference", &claim.receipts_reference)?;
        super::decide::text("actor", actor)?;
        let project = self.granted_project(proposal_id)?;
        if project.claims.iter().any(|c| c.claim_id == claim.claim_id) {
            return Err(LedgerError::ClaimExists {
                claim_id: claim.claim_id,
            });
        }
        let terms = project
            .terms
            .as_ref()
            .ok_or(LedgerError::NoGrantTerms { proposal_id })?;
        if claim.period_from > claim.period_to
            || claim.period_from < terms.period_from
            || claim.period_to > terms.period_to
        {
            return Err(LedgerError::OutsideGrantPeriod {
                period_from: claim.period_from,
                period_to: claim.period_to,
                grant_from: terms.period_from,
                grant_to: terms.period_to,
            });
        }
        if let Some(earlier) = project
            .claims
            .iter()
            .find(|c| c.overlaps(claim.period_from, claim.period_to))
        {
            return Err(LedgerError::ClaimPeriodOverlaps {
                claim_id: earlier.claim_id,
                period_from: earlier.period_from,
                period_to: earlier.period_to,
            });
        }
        let allowed = allowed_by_rates(terms, claim.declared_eligible).ok_or(
            LedgerError::AmountTooLarge {
                field: "declared_eligible_cents",
            },
        )?;
        if !within(&asked, &allowed) {
            return Err(LedgerError::ClaimAboveRate { allowed });
        }
        let left = remainder(self, proposal_id, &project.claims);
        if !within(&asked, &left) {
            return Err(LedgerError::ClaimAboveRemainder {
                proposal_id,
                remainder: left,
            });
        }
        Ok(vec![LedgerEvent::ClaimSubmitted(ClaimSubmitted {
            fund_id: fund_id.to_owned(),
            proposal_id,
            claim_id: claim.claim_id,
            period_from: claim.period_from,
            period_to: claim.period_to,
            declared_eligible_cents: claim.declared_eligible,
            asked,
            receipts_reference: claim.receipts_reference.clone(),
            submitted_by: actor.to_owned(),
            value_date: self.booking_date(today),
            postings: Vec::new(),
        })])
    }

    /// `verify_claim`: accepted is asked less the cuts.
    pub(super) fn verify_claim(
        &self,
        proposal_id: Uuid,
        claim_id: Uuid,
        cuts: &[ClaimCut],
        actor: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let fund_id = self.fund_id().ok_or(LedgerError::FundNotOpen)?;
        super::decide::text("actor", actor)?;
        let claim = self.claim(proposal_id, claim_id)?;
        if !claim.status.verifiable() {
            return Err(LedgerError::ClaimWrongStatus {
                claim_id,
                status: claim.status.as_str(),
            });
        }
        if claim.submitted_by == actor {
            return Err(LedgerError::VerifierIsSubmitter {
                actor: actor.to_owned(),
            });
        }
        let mut accepted = claim.asked;
        for cut in cuts {
            super::decide::amounts("cuts", cut.cut.esf_cents, cut.cut.land_cents)?;
            super::decide::text("cuts.reason", &cut.reason)?;
            for source in Source::ALL {
                let left = accepted.get(source).0 - cut.cut.get(source).0;
                if left < 0 {
                    return Err(LedgerError::CutAboveAsked { asked: claim.asked });
                }
                accepted.set(source, Cents(left));
            }
        }
        Ok(vec![LedgerEvent::ClaimVerified(ClaimVerified {
            fund_id: fund_id.to_owned(),
            proposal_id,
            claim_id,
            verified_by: actor.to_owned(),
            accepted,
            cuts: cuts.to_vec(),
            value_date: self.booking_date(today),
            postings: Vec::new(),
        })])
    }

    /// `return_claim`: the clock pauses.
    pub(super) fn return_claim(
        &self,
        proposal_id: Uuid,
        claim_id: Uuid,
        missing: &str,
        actor: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let fund_id = self.fund_id().ok_or(LedgerError::FundNotOpen)?;
        super::decide::text("missing", missing)?;
        super::decide::text("actor", actor)?;
        let claim = self.claim(proposal_id, claim_id)?;
        if !claim.status.verifiable() {
            return Err(LedgerError::ClaimWrongStatus {
                claim_id,
                status: claim.status.as_str(),
            });
        }
        Ok(vec![LedgerEvent::ClaimReturned(ClaimReturned {
            fund_id: fund_id.to_owned(),
            proposal_id,
            claim_id,
            returned_by: actor.to_owned(),
            missing: missing.to_owned(),
            value_date: self.booking_date(today),
            postings: Vec::new(),
        })])
    }

    /// `resubmit_claim`: the clock resumes.
    pub(super) fn resubmit_claim(
        &self,
        proposal_id: Uuid,
        claim_id: Uuid,
        receipts_reference: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let fund_id = self.fund_id().ok_or(LedgerError::FundNotOpen)?;
        super::decide::text("receipts_reference", receipts_reference)?;
        let claim = self.claim(proposal_id, claim_id)?;
        if claim.status != ClaimStatus::Returned {
            return Err(LedgerError::ClaimWrongStatus {
                claim_id,
                status: claim.status.as_str(),
            });
        }
        Ok(vec![LedgerEvent::ClaimResubmitted(ClaimResubmitted {
            fund_id: fund_id.to_owned(),
            proposal_id,
            claim_id,
            receipts_reference: receipts_reference.to_owned(),
            value_date: self.booking_date(today),
            postings: Vec::new(),
        })])
    }

    /// `approve_claim`: pays what was accepted, by another officer than the verifier.
    pub(super) fn approve_claim(
        &self,
        proposal_id: Uuid,
        claim_id: Uuid,
        payment_reference: &str,
        value_date: NaiveDate,
        actor: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let fund_id = self.fund_id().ok_or(LedgerError::FundNotOpen)?;
        super::decide::text("payment_reference", payment_reference)?;
        super::decide::text("actor", actor)?;
        let claim = self.claim(proposal_id, claim_id)?;
        if claim.status != ClaimStatus::Verified {
            return Err(LedgerError::ClaimWrongStatus {
                claim_id,
                status: claim.status.as_str(),
            });
        }
        if claim.verified_by.as_deref() == Some(actor) {
            return Err(LedgerError::FourEyes {
                actor: actor.to_owned(),
            });
        }
        if self.payment_references.contains(payment_reference) {
            return Err(LedgerError::DuplicatePaymentReference {
                payment_reference: payment_reference.to_owned(),
            });
        }
        let value_date = self.value_date(value_date, today)?;
        Ok(vec![LedgerEvent::ClaimApproved(ClaimApproved {
            fund_id: fund_id.to_owned(),
            proposal_id,
            claim_id,
            approved_by: actor.to_owned(),
            payment_reference: payment_reference.to_owned(),
            paid: claim.accepted.unwrap_or(Amounts::ZERO),
            value_date,
            postings: Vec::new(),
        })
        .journaled()])
    }
}
