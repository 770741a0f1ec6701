//! Money to the end of a grant: the checked final report and its settlement, withdrawal and
//! revocation (§§ 48, 49 VwVfG), and interest on recoveries (§ 49a (3) VwVfG).
//!
//! - **Final report** (`check_final_report`): the final grant is the eligible costs incurred at
//!   the grant's rates by the one rounding rule, never above what is committed
//!   ([`buendel_grant::final_grant`]); per source the settlement ([`buendel_grant::settle`]) frees
//!   the commitment the final grant does not use, recovers what was paid beyond it (a
//!   `recovery_assessed` in the same decision, bearing interest from the check's date) and leaves
//!   what is still due to a final claim; with nothing due the project is closed.
//! - **Revocation** (`revoke_grant`): leaves `remaining` of the grant. The unpaid commitment above
//!   it is freed; ex tunc, what was paid beyond it is recovered, bearing interest from
//!   `interest_from`; ex nunc, nothing paid is recovered. Revoked in whole, the project is closed.
//! - **Interest** (`charge_interest`): per source, on the running balance of what was assessed
//!   (from each assessment's interest start) less what was repaid (from each repayment's value
//!   date), for the days before `until`, at five points above the base rate of each half year,
//!   actual/365, rounded once, half to even ([`buendel_grant::on_balance`]); what was charged
//!   before is deducted. `interest_charged` books it on `interest_receivable(p)`, separately from
//!   the principal; `record_interest_payment` books what is paid of it.
//!
//! `apply` re-checks each of these events ([`fold_settle`]): the settlement's figures against the
//! rule, and the interest against a recomputation with the same table, so the auditor's replay
//! finds a changed figure to the cent.

use chrono::{Days, NaiveDate};
use serde::Serialize;
use uuid::Uuid;

use buendel_contract::ledger::{
    Account, Amounts, Effect, FinalReportChecked, GrantRevoked, InterestCharged, InterestPaid,
    LedgerEvent, LegalBasis, RecoveryAssessed, Source,
};
use buendel_contract::Cents;
use buendel_grant::{base_rate, on_balance, InterestError, Movement};

use super::error::LedgerError;
use super::fund::{Fund, Project};
use super::invariants::InvariantViolation;
use super::state::FundState;

/// One change of a project's principal that bears interest, per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PrincipalChange {
    /// The day it takes effect (an assessment's interest start, a repayment's value date).
    pub on: NaiveDate,
    /// Signed per source: assessed (> 0) or repaid (< 0).
    pub esf_cents: i64,
    /// The same for Land.
    pub land_cents: i64,
}

/// What a project owes back: its principal changes and the interest charged so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// Every assessment and repayment, in order.
    pub changes: Vec<PrincipalChange>,
    /// The interest start of the next assessment (set by a final report or a revocation).
    pub next_interest_from: Option<NaiveDate>,
    /// The interest charged so far per source.
    pub interest_charged: Amounts,
    /// The last `until` interest was charged to.
    pub interest_until: Option<NaiveDate>,
    /// The final grant (a checked final report) or the grant that remains (a revocation).
    pub final_grant: Option<Amounts>,
}

impl Recovery {
    /// The movements of one source, for [`buendel_grant::on_balance`].
    fn movements(&self, source: Source) -> Vec<Movement> {
        self.changes
            .iter()
            .map(|change| Movement {
                on: change.on,
                cents: match source {
                    Source::EsfPlus => change.esf_cents,
                    Source::Land => change.land_cents,
                },
            })
            .filter(|movement| movement.cents != 0)
            .collect()
    }

    /// The interest due for the days before `until` per source, in total (charged or not).
    pub fn interest_due(&self, until: NaiveDate) -> Result<Amounts, InterestError> {
        let mut due = Amounts::ZERO;
        for source in Source::ALL {
            let statement = on_balance(base_rate::published(), &self.movements(source), until)?;
            due.set(source, statement.interest_cents);
        }
        Ok(due)
    }
}

/// The signed amounts of a change.
fn change(on: NaiveDate, amounts: &Amounts, sign: i64) -> PrincipalChange {
    PrincipalChange {
        on,
        esf_cents: sign.saturating_mul(amounts.esf_cents.0),
        land_cents: sign.saturating_mul(amounts.land_cents.0),
    }
}

impl Recovery {
    /// Follows one event of the project (assessments, repayments, final report, revocation,
    /// interest charged); other events change nothing. The Fund aggregate and the read side
    /// (`GET /v1/proposals/{id}/recovery`) both use it.
    pub fn apply(&mut self, event: &LedgerEvent) {
        match event {
            LedgerEvent::RecoveryAssessed(e) => {
                let on = self.next_interest_from.take().unwrap_or(e.value_date);
                self.changes.push(change(on, &e.principal, 1));
            }
            LedgerEvent::RepaymentReceived(e) => {
                self.changes.push(change(e.value_date, &e.repaid, -1));
            }
            LedgerEvent::FinalReportChecked(e) => {
                self.final_grant = Some(e.final_grant);
                if !e.recovery.is_zero() {
                    self.next_interest_from = Some(e.value_date);
                }
            }
            LedgerEvent::GrantRevoked(e) => {
                self.final_grant = Some(e.remaining_grant);
                self.next_interest_from = Some(e.interest_from);
            }
            LedgerEvent::InterestCharged(e) => {
                self.interest_charged = self.interest_charged.saturating_add(&e.interest);
                self.interest_until = Some(e.until);
            }
            _ => {}
        }
    }

    /// The principal assessed and still owed per source, after every change.
    pub fn principal(&self) -> (Amounts, Amounts) {
        let mut assessed = Amounts::ZERO;
        let mut owed = Amounts::ZERO;
        for change in &self.changes {
            let delta = Amounts::new(change.esf_cents, change.land_cents);
            owed = owed.saturating_add(&delta);
            if change.esf_cents > 0 || change.land_cents > 0 {
                assessed = assessed.saturating_add(&Amounts::new(
                    change.esf_cents.max(0),
                    change.land_cents.max(0),
                ));
            }
        }
        (assessed, owed)
    }
}

/// What `apply` does for the events of this module and for the recovery events it follows:
/// checks the figures against the rule (noting what breaks it), then follows the event
/// ([`Recovery::apply`]).
pub(super) fn fold_settle<S: FundState>(state: &mut S, event: &LedgerEvent) {
    let broken = match event {
        LedgerEvent::FinalReportChecked(e) => final_report_rule(state, e),
        LedgerEvent::GrantRevoked(e) => (e.interest_from > e.value_date)
            .then_some("interest runs from a day not after the revocation"),
        LedgerEvent::InterestCharged(e) => {
            let recovery = state.project(e.proposal_id).map(|p| &p.recovery);
            let charged = recovery.map(|r| r.interest_charged.saturating_add(&e.interest));
            if e.base_rate_table != base_rate::published().version {
                Some("interest is computed with a base-rate table this build knows")
            } else if recovery.and_then(|r| r.interest_due(e.until).ok()) != charged {
                Some("the interest charged is the interest due to its day, less what was charged before")
            } else {
                None
            }
        }
        _ => None,
    };
    with_recovery(state, event.proposal_id(), |r| r.apply(event));
    if let Some(rule) = broken {
        let entry = state.scalars().entries;
        state
            .scalars_mut()
            .note(InvariantViolation::MoneyRule { entry, rule });
    }
}

/// The rule a checked final report keeps: its final grant is the eligible costs at the grant's
/// rates (at most what was committed), and its settlement follows from it and what was paid.
fn final_report_rule<S: FundState>(state: &S, e: &FinalReportChecked) -> Option<&'static str> {
    // What was committed before the check: what it freed plus what stays bound.
    let granted = e.released.saturating_add(&e.paid.max_each(&e.final_grant));
    let settled = buendel_grant::settle(granted, e.final_grant, e.paid).is_some_and(|s| {
        s.recovery == e.recovery && s.final_payment == e.final_payment && s.released == e.released
    });
    let paid = state.per_source(&Account::Disbursed {
        proposal_id: e.proposal_id,
    }) == e.paid;
    let rated = state
        .project(e.proposal_id)
        .and_then(|p| p.terms.as_ref())
        .and_then(|t| {
            buendel_grant::final_grant(
                e.eligible_cost_cents,
                t.total_rate_bp,
                t.esf_rate_bp,
                granted,
            )
        })
        == Some(e.final_grant);
    if !rated {
        Some("a final grant is the eligible costs at the grant's rates, at most the grant")
    } else if !(settled && paid) {
        Some("a final report's figures follow from its final grant and what was paid")
    } else {
        None
    }
}

/// Runs `f` on a project's recovery, if the fund knows the project.
fn with_recovery<S: FundState>(
    state: &mut S,
    proposal_id: Option<Uuid>,
    f: impl FnOnce(&mut Recovery),
) {
    if let Some(project) = proposal_id.and_then(|id| state.project_mut(id)) {
        f(&mut project.recovery);
    }
}

impl Fund {
    /// A committed project with its terms, and what is committed now (unpaid plus paid, net of
    /// recoveries) and paid (net of recoveries).
    fn settling(&self, proposal_id: Uuid) -> Result<(&Project, Amounts, Amounts), LedgerError> {
        let project = self.granted_project(proposal_id)?;
        let unpaid = self.per_source(&Account::Committed { proposal_id });
        let paid = self.per_source(&Account::Disbursed { proposal_id });
        Ok((project, unpaid.saturating_add(&paid), paid))
    }

    /// `check_final_report`.
    pub(super) fn check_final_report(
        &self,
        proposal_id: Uuid,
        report_reference: &str,
        eligible: Cents,
        actor: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let fund_id = self.fund_id().ok_or(LedgerError::FundNotOpen)?;
        super::decide::text("report_reference", report_reference)?;
        super::decide::text("actor", actor)?;
        if eligible.0 < 0 {
            return Err(LedgerError::NegativeAmount {
                field: "eligible_cost_cents",
            });
        }
        let (project, granted, paid) = self.settling(proposal_id)?;
        let terms = project
            .terms
            .as_ref()
            .ok_or(LedgerError::NoGrantTerms { proposal_id })?;
        if project.recovery.final_grant.is_some() {
            return Err(LedgerError::FinalReportChecked { proposal_id });
        }
        if let Some(open) = project.claims.iter().find(|c| !c.open_amount().is_zero()) {
            return Err(LedgerError::ClaimsOpen {
                claim_id: open.claim_id,
            });
        }
        let final_grant =
            buendel_grant::final_grant(eligible, terms.total_rate_bp, terms.esf_rate_bp, granted)
                .ok_or(LedgerError::AmountTooLarge {
                field: "eligible_cost_cents",
            })?;
        let settlement = buendel_grant::settle(granted, final_grant, paid).ok_or(
            LedgerError::AmountTooLarge {
                field: "eligible_cost_cents",
            },
        )?;
        let on = self.booking_date(today);
        let mut events = vec![LedgerEvent::FinalReportChecked(FinalReportChecked {
            fund_id: fund_id.to_owned(),
            proposal_id,
            report_reference: report_reference.to_owned(),
            eligible_cost_cents: eligible,
            final_grant,
            paid,
            recovery: settlement.recovery,
            final_payment: settlement.final_payment,
            released: settlement.released,
            freed_to: self.freed_to(on),
            checked_by: actor.to_owned(),
            value_date: on,
            postings: Vec::new(),
        })
        .journaled()];
        if !settlement.recovery.is_zero() {
            events.push(self.recovery(
                fund_id,
                proposal_id,
                settlement.recovery,
                format!("final report {report_reference}: paid beyond the final grant"),
                on,
            ));
        }
        Ok(events)
    }

    fn recovery(
        &self,
        fund_id: &str,
        proposal_id: Uuid,
        principal: Amounts,
        reason: String,
        on: NaiveDate,
    ) -> LedgerEvent {
        LedgerEvent::RecoveryAssessed(RecoveryAssessed {
            fund_id: fund_id.to_owned(),
            proposal_id,
            principal,
            reason,
            value_date: on,
            postings: Vec::new(),
        })
        .journaled()
    }

    /// `revoke_grant`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn revoke_grant(
        &self,
        proposal_id: Uuid,
        legal_basis: LegalBasis,
        effect: Effect,
        remaining: Amounts,
        interest_from: NaiveDate,
        reason: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let fund_id = self.fund_id().ok_or(LedgerError::FundNotOpen)?;
        super::decide::text("reason", reason)?;
        let (_, granted, paid) = self.settling(proposal_id)?;
        if remaining.esf_cents.0 < 0 || remaining.land_cents.0 < 0 {
            return Err(LedgerError::NegativeAmount { field: "remaining" });
        }
        if !(remaining.esf_cents <= granted.esf_cents && remaining.land_cents <= granted.land_cents)
            || remaining == granted
        {
            return Err(LedgerError::RemainingNotBelowGrant { granted });
        }
        let on = self.booking_date(today);
        if interest_from > on {
            return Err(LedgerError::InterestFromInFuture {
                interest_from,
                today: on,
            });
        }
        let settlement = buendel_grant::settle(granted, remaining, paid)
            .ok_or(LedgerError::AmountTooLarge { field: "remaining" })?;
        let basis = match legal_basis {
            LegalBasis::Withdrawal => "§ 48 VwVfG",
            LegalBasis::Revocation => "§ 49 VwVfG",
        };
        let mut events = vec![LedgerEvent::GrantRevoked(GrantRevoked {
            fund_id: fund_id.to_owned(),
            proposal_id,
            legal_basis,
            effect,
            remaining_grant: remaining,
            released: settlement.released,
            freed_to: self.freed_to(on),
            interest_from,
            reason: reason.to_owned(),
            value_date: on,
            postings: Vec::new(),
        })
        .journaled()];
        if effect == Effect::ExTunc && !settlement.recovery.is_zero() {
            events.push(self.recovery(
                fund_id,
                proposal_id,
                settlement.recovery,
                format!("{basis}, with effect for the past: {reason}"),
                on,
            ));
        }
        Ok(events)
    }

    /// `charge_interest`: the interest due for the days before `until`, less what was charged.
    pub(super) fn charge_interest(
        &self,
        proposal_id: Uuid,
        until: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let fund_id = self.fund_id().ok_or(LedgerError::FundNotOpen)?;
        self.granted(proposal_id, true)?;
        let project = self
            .projects
            .get(&proposal_id)
            .ok_or(LedgerError::UnknownProject { proposal_id })?;
        let recovery = &project.recovery;
        if recovery.changes.is_empty() {
            return Err(LedgerError::NothingRecovered { proposal_id });
        }
        let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
        if until > tomorrow {
            return Err(LedgerError::ValueDateInFuture {
                value_date: until,
                today,
            });
        }
        if recovery.interest_until.is_some_and(|last| until <= last) {
            return Err(LedgerError::InterestAlreadyCharged {
                until: recovery.interest_until.unwrap_or(until),
            });
        }
        let due = recovery.interest_due(until).map_err(|error| match error {
            InterestError::BaseRateUnknown { day } => LedgerError::BaseRateUnknown {
                day,
                version: base_rate::published().version.clone(),
            },
            other => LedgerError::InterestNotComputed {
                reason: other.to_string(),
            },
        })?;
        let charge = due.saturating_sub(&recovery.interest_charged);
        if charge.esf_cents.0 < 0 || charge.land_cents.0 < 0 {
            return Err(LedgerError::InterestAlreadyCharged { until });
        }
        if charge.is_zero() {
            // No day before `until` bears interest not charged yet (the recovery starts later,
            // or nothing is owed any more).
            return Err(LedgerError::NoInterestDue { until });
        }
        Ok(vec![LedgerEvent::InterestCharged(InterestCharged {
            fund_id: fund_id.to_owned(),
            proposal_id,
            interest: charge,
            until,
            base_rate_table: base_rate::published().version.clone(),
            value_date: self.booking_date(today),
            postings: Vec::new(),
        })
        .journaled()])
    }

    /// `record_interest_payment`.
    pub(super) fn record_interest_payment(
        &self,
        proposal_id: Uuid,
        paid: Amounts,
        value_date: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let fund_id = self.fund_id().ok_or(LedgerError::FundNotOpen)?;
        let paid = super::decide::amounts("paid", paid.esf_cents, paid.land_cents)?;
        self.granted(proposal_id, true)?;
        let value_date = self.value_date(value_date, today)?;
        let owed = self.per_source(&Account::InterestReceivable { proposal_id });
        if paid.esf_cents > owed.esf_cents || paid.land_cents > owed.land_cents {
            return Err(LedgerError::InterestPaymentAboveCharged { owed });
        }
        Ok(vec![LedgerEvent::InterestPaid(InterestPaid {
            fund_id: fund_id.to_owned(),
            proposal_id,
            paid,
            value_date,
            postings: Vec::new(),
        })
        .journaled()])
    }
}
