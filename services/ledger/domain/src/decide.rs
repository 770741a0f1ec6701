//! `decide` for each command: validate, then build the events (every one through
//! [`LedgerEvent::journaled`], so its postings always match its amounts). Serving the waitlist
//! after a decision, and checking every event of it, is done once, for every command, in
//! [`Fund::decide`](buendel_contract::Aggregate::decide) (see [`super::draft`]).

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::ledger::{
    is_valid_fund_id, Account, Amounts, BudgetAdjusted, BudgetAllocated, CommitmentReleased,
    CorrectionNoted, DeclineReason, DisbursementRecorded, FundsCommitted, FundsExpired,
    FundsReserved, GrantTerms, GrantTermsRecorded, LedgerEvent, PeriodLocked, RecoveryAssessed,
    ReleaseReason, RepaymentReceived, ReservationDeclined, ReservationReleased, Source,
};
use buendel_contract::Cents;

use super::command::Command;
use super::error::LedgerError;
use super::fund::{Fund, ProjectStatus};
use super::{AMOUNT_CENTS_MAX, TEXT_LEN_MAX};

/// A fund that is open: its id and deadline.
struct Open<'a> {
    fund_id: &'a str,
    deadline: NaiveDate,
}

/// `amount − bound` per source where positive, else zero.
fn excess(amount: &Amounts, bound: &Amounts) -> Amounts {
    let part = |a: Cents, b: Cents| Cents(a.0.saturating_sub(b.0).max(0));
    Amounts {
        esf_cents: part(amount.esf_cents, bound.esf_cents),
        land_cents: part(amount.land_cents, bound.land_cents),
    }
}

/// Validates a split: both parts ≥ 0 and ≤ [`AMOUNT_CENTS_MAX`], not both zero.
pub(super) fn amounts(
    field: &'static str,
    esf: Cents,
    land: Cents,
) -> Result<Amounts, LedgerError> {
    for part in [esf, land] {
        if part.0 < 0 {
            return Err(LedgerError::NegativeAmount { field });
        }
        if part.0 > AMOUNT_CENTS_MAX {
            return Err(LedgerError::AmountTooLarge { field });
        }
    }
    if esf == Cents::ZERO && land == Cents::ZERO {
        return Err(LedgerError::ZeroAmount { field });
    }
    Ok(Amounts {
        esf_cents: esf,
        land_cents: land,
    })
}

/// Validates free text: not blank, at most [`TEXT_LEN_MAX`] characters.
pub(super) fn text(field: &'static str, value: &str) -> Result<(), LedgerError> {
    if value.trim().is_empty() {
        return Err(LedgerError::MissingField { field });
    }
    if value.chars().count() > TEXT_LEN_MAX {
        return Err(LedgerError::TextTooLong {
            field,
            max: TEXT_LEN_MAX,
        });
    }
    Ok(())
}

impl Fund {
    fn open(&self) -> Result<Open<'_>, LedgerError> {
        match (&self.scalars.fund_id, self.scalars.commit_deadline) {
            (Some(fund_id), Some(deadline)) => Ok(Open { fund_id, deadline }),
            _ => Err(LedgerError::FundNotOpen),
        }
    }

    pub(crate) fn status(&self, proposal_id: Uuid) -> Option<ProjectStatus> {
        self.projects.get(&proposal_id).map(|p| p.status)
    }

    /// The booking date, refused when it is after the deadline.
    fn before_deadline(&self, open: &Open<'_>, today: NaiveDate) -> Result<NaiveDate, LedgerError> {
        let on = self.booking_date(today);
        if on > open.deadline {
            return Err(LedgerError::AfterDeadline {
                deadline: open.deadline,
                on,
            });
        }
        Ok(on)
    }

    /// A payment's value date: not in the future, not before the last date booked.
    pub(super) fn value_date(
        &self,
        value_date: NaiveDate,
        today: NaiveDate,
    ) -> Result<NaiveDate, LedgerError> {
        if value_date > today {
            return Err(LedgerError::ValueDateInFuture { value_date, today });
        }
        // A locked period says more than a back-dated entry (both would refuse it).
        self.unlocked(value_date)?;
        if let Some(last) = self.scalars.last_value_date {
            if value_date < last {
                return Err(LedgerError::BackDated { value_date, last });
            }
        }
        Ok(value_date)
    }

    /// Refuses a value date inside the locked periods.
    pub(super) fn unlocked(&self, value_date: NaiveDate) -> Result<(), LedgerError> {
        match self.scalars.locked_until {
            Some(locked_until) if value_date <= locked_until => Err(LedgerError::PeriodLocked {
                value_date,
                locked_until,
            }),
            _ => Ok(()),
        }
    }

    /// A project that has a committed grant (open or closed, as `closed_ok` says).
    pub(super) fn granted(&self, proposal_id: Uuid, closed_ok: bool) -> Result<(), LedgerError> {
        match self.status(proposal_id) {
            None => Err(LedgerError::UnknownProject { proposal_id }),
            Some(ProjectStatus::Committed) => Ok(()),
            Some(ProjectStatus::Closed) if closed_ok => Ok(()),
            Some(ProjectStatus::Closed) => Err(LedgerError::AlreadyClosed { proposal_id }),
            Some(ProjectStatus::Waitlisted | ProjectStatus::Reserved | ProjectStatus::Released) => {
                Err(LedgerError::NotCommitted { proposal_id })
            }
        }
    }

    /// The primary events of a command, before the waitlist is served.
    pub(super) fn decide_command(
        &self,
        command: &Command,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        match command {
            Command::AllocateBudget {
                fund_id,
                esf,
                land,
                commit_deadline,
                today,
            } => self.allocate(fund_id, *esf, *land, *commit_deadline, *today),
            Command::AdjustBudget {
                source,
                delta_cents,
                reason,
                today,
            } => self.adjust(*source, *delta_cents, reason, *today),
            Command::Reserve {
                proposal_id,
                esf,
                land,
                today,
            } => self.reserve(*proposal_id, *esf, *land, *today),
            Command::Commit {
                proposal_id,
                esf,
                land,
                terms,
                today,
            } => self.commit(*proposal_id, *esf, *land, terms.as_ref(), *today),
            Command::ReleaseReservation {
                proposal_id,
                reason,
                today,
            } => self.release(*proposal_id, *reason, *today),
            Command::RecordDisbursement {
                proposal_id,
                payment_reference,
                esf,
                land,
                value_date,
                today,
            } => self.disburse(
                *proposal_id,
                payment_reference,
                *esf,
                *land,
                *value_date,
                *today,
            ),
            Command::CloseProject { proposal_id, today } => self.close(*proposal_id, *today),
            Command::AssessRecovery {
                proposal_id,
                esf,
                land,
                reason,
                today,
            } => self.assess_recovery(*proposal_id, *esf, *land, reason, *today),
            Command::RecordRepayment {
                proposal_id,
                esf,
                land,
                value_date,
                today,
            } => self.repay(*proposal_id, *esf, *land, *value_date, *today),
            Command::ExpireUnbound { today } => self.expire(*today),
            Command::SubmitClaim {
                proposal_id,
                claim,
                actor,
                today,
            } => self.submit_claim(*proposal_id, claim, actor, *today),
            Command::VerifyClaim {
                proposal_id,
                claim_id,
                cuts,
                actor,
                today,
            } => self.verify_claim(*proposal_id, *claim_id, cuts, actor, *today),
            Command::ReturnClaim {
                proposal_id,
                claim_id,
                missing,
                actor,
                today,
            } => self.return_claim(*proposal_id, *claim_id, missing, actor, *today),
            Command::ResubmitClaim {
                proposal_id,
                claim_id,
                receipts_reference,
                today,
            } => self.resubmit_claim(*proposal_id, *claim_id, receipts_reference, *today),
            Command::ApproveClaim {
                proposal_id,
                claim_id,
                payment_reference,
                value_date,
                actor,
                today,
            } => self.approve_claim(
                *proposal_id,
                *claim_id,
                payment_reference,
                *value_date,
                actor,
                *today,
            ),
            Command::CheckFinalReport {
                proposal_id,
                report_reference,
                eligible,
                actor,
                today,
            } => self.check_final_report(*proposal_id, report_reference, *eligible, actor, *today),
            Command::RevokeGrant {
                proposal_id,
                legal_basis,
                effect,
                remaining,
                interest_from,
                reason,
                today,
            } => self.revoke_grant(
                *proposal_id,
                *legal_basis,
                *effect,
                *remaining,
                *interest_from,
                reason,
                *today,
            ),
            Command::ChargeInterest {
                proposal_id,
                until,
                today,
            } => self.charge_interest(*proposal_id, *until, *today),
            Command::RecordInterestPayment {
                proposal_id,
                paid,
                value_date,
                today,
            } => self.record_interest_payment(*proposal_id, *paid, *value_date, *today),
            Command::LockPeriod {
                until,
                reason,
                today,
            } => self.lock_period(*until, reason, *today),
            Command::NoteCorrection {
                corrects_entry,
                by_entry,
                reason,
                today,
            } => self.note_correction(*corrects_entry, *by_entry, reason, *today),
        }
    }

    fn note_correction(
        &self,
        corrects_entry: u64,
        by_entry: u64,
        reason: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        text("reason", reason)?;
        let entries = self.scalars.entries;
        if !(1 <= corrects_entry && corrects_entry < by_entry && by_entry <= entries) {
            return Err(LedgerError::CorrectionNotOrdered {
                corrects_entry,
                by_entry,
                entries,
            });
        }
        Ok(vec![LedgerEvent::CorrectionNoted(CorrectionNoted {
            fund_id: open.fund_id.to_owned(),
            corrects_entry,
            by_entry,
            reason: reason.to_owned(),
            value_date: self.booking_date(today),
            postings: Vec::new(),
        })])
    }

    fn lock_period(
        &self,
        until: NaiveDate,
        reason: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        text("reason", reason)?;
        let on = self.booking_date(today);
        let after = self.scalars.locked_until.unwrap_or(NaiveDate::MIN);
        if until <= after || until >= on {
            return Err(LedgerError::LockNotForward { after, before: on });
        }
        Ok(vec![LedgerEvent::PeriodLocked(PeriodLocked {
            fund_id: open.fund_id.to_owned(),
            locked_until: until,
            reason: reason.to_owned(),
            value_date: on,
            postings: Vec::new(),
        })])
    }

    fn allocate(
        &self,
        fund_id: &str,
        esf: Cents,
        land: Cents,
        commit_deadline: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        if self.is_open() {
            return Err(LedgerError::AlreadyAllocated);
        }
        if !is_valid_fund_id(fund_id) {
            return Err(LedgerError::InvalidFundId {
                fund_id: fund_id.to_owned(),
            });
        }
        let allocated = amounts("allocated", esf, land)?;
        Ok(vec![LedgerEvent::BudgetAllocated(BudgetAllocated {
            fund_id: fund_id.to_owned(),
            allocated,
            commit_deadline,
            value_date: self.booking_date(today),
            postings: Vec::new(),
        })
        .journaled()])
    }

    fn adjust(
        &self,
        source: Source,
        delta: Cents,
        reason: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        text("reason", reason)?;
        if delta == Cents::ZERO {
            return Err(LedgerError::ZeroAmount {
                field: "delta_cents",
            });
        }
        let magnitude = delta.0.checked_abs().filter(|m| *m <= AMOUNT_CENTS_MAX);
        let Some(magnitude) = magnitude else {
            return Err(LedgerError::AmountTooLarge {
                field: "delta_cents",
            });
        };
        let on = if delta.0 > 0 {
            let on = self.before_deadline(&open, today)?;
            let allocated = self.book.fund_balances(source).allocated;
            if allocated.0.saturating_add(magnitude) > AMOUNT_CENTS_MAX {
                return Err(LedgerError::AmountTooLarge {
                    field: "delta_cents",
                });
            }
            on
        } else {
            let available = self.book.balance(source, &Account::Available);
            if magnitude > available.0 {
                return Err(LedgerError::AdjustmentBelowBound {
                    fund_source: source,
                    cut: Cents(magnitude),
                    available,
                });
            }
            self.booking_date(today)
        };
        Ok(vec![LedgerEvent::BudgetAdjusted(BudgetAdjusted {
            fund_id: open.fund_id.to_owned(),
            source,
            delta_cents: delta,
            reason: reason.to_owned(),
            value_date: on,
            postings: Vec::new(),
        })
        .journaled()])
    }

    fn reserve(
        &self,
        proposal_id: Uuid,
        esf: Cents,
        land: Cents,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        let requested = amounts("requested", esf, land)?;
        match self.status(proposal_id) {
            // Already waiting, holding, granted or done: a repeated statement changes nothing.
            Some(
                ProjectStatus::Waitlisted
                | ProjectStatus::Reserved
                | ProjectStatus::Committed
                | ProjectStatus::Closed,
            ) => return Ok(Vec::new()),
            None | Some(ProjectStatus::Released) => {}
        }
        let on = self.before_deadline(&open, today)?;
        let available = self.available();
        let shortfall = excess(&requested, &available);
        let reason = if !shortfall.is_zero() {
            DeclineReason::InsufficientFunds
        } else if !self.waitlist.is_empty() {
            DeclineReason::QueuedBehindWaitlist
        } else {
            return Ok(vec![LedgerEvent::FundsReserved(FundsReserved {
                fund_id: open.fund_id.to_owned(),
                proposal_id,
                reserved: requested,
                from_waitlist: false,
                value_date: on,
                postings: Vec::new(),
            })
            .journaled()]);
        };
        let waitlist_position =
            u32::try_from(self.waitlist.len().saturating_add(1)).unwrap_or(u32::MAX);
        Ok(vec![LedgerEvent::ReservationDeclined(
            ReservationDeclined {
                fund_id: open.fund_id.to_owned(),
                proposal_id,
                requested,
                available,
                shortfall,
                reason,
                waitlist_position,
                value_date: on,
                postings: Vec::new(),
            },
        )
        .journaled()])
    }

    fn commit(
        &self,
        proposal_id: Uuid,
        esf: Cents,
        land: Cents,
        terms: Option<&GrantTerms>,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        let granted = amounts("granted", esf, land)?;
        if let Some(terms) = terms {
            text("bank_reference", &terms.bank_reference)?;
            if terms.period_from > terms.period_to {
                return Err(LedgerError::OutsideGrantPeriod {
                    period_from: terms.period_from,
                    period_to: terms.period_to,
                    grant_from: terms.period_from,
                    grant_to: terms.period_to,
                });
            }
        }
        match self.status(proposal_id) {
            Some(ProjectStatus::Committed) => {
                return Err(LedgerError::AlreadyCommitted { proposal_id })
            }
            Some(ProjectStatus::Closed) => return Err(LedgerError::AlreadyClosed { proposal_id }),
            None
            | Some(ProjectStatus::Waitlisted | ProjectStatus::Reserved | ProjectStatus::Released) =>
                {}
        }
        let on = self.before_deadline(&open, today)?;
        let reserved = self.per_source(&Account::Reserved { proposal_id });
        let topped_up = excess(&granted, &reserved);
        let shortfall = excess(&topped_up, &self.available());
        if !shortfall.is_zero() {
            return Err(LedgerError::CommitmentShortfall {
                proposal_id,
                shortfall,
            });
        }
        let mut events = vec![LedgerEvent::FundsCommitted(FundsCommitted {
            fund_id: open.fund_id.to_owned(),
            proposal_id,
            granted,
            topped_up,
            released: excess(&reserved, &granted),
            value_date: on,
            postings: Vec::new(),
        })
        .journaled()];
        if let Some(terms) = terms {
            events.push(LedgerEvent::GrantTermsRecorded(GrantTermsRecorded {
                fund_id: open.fund_id.to_owned(),
                proposal_id,
                terms: terms.clone(),
                value_date: on,
                postings: Vec::new(),
            }));
        }
        Ok(events)
    }

    fn release(
        &self,
        proposal_id: Uuid,
        reason: ReleaseReason,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        match self.status(proposal_id) {
            None => return Err(LedgerError::UnknownProject { proposal_id }),
            Some(ProjectStatus::Committed) => {
                return Err(LedgerError::AlreadyCommitted { proposal_id })
            }
            Some(ProjectStatus::Closed) => return Err(LedgerError::AlreadyClosed { proposal_id }),
            // Released already (refused and withdrawn both arrive): nothing left to release.
            Some(ProjectStatus::Released) => return Ok(Vec::new()),
            Some(ProjectStatus::Waitlisted | ProjectStatus::Reserved) => {}
        }
        let on = self.booking_date(today);
        Ok(vec![LedgerEvent::ReservationReleased(
            ReservationReleased {
                fund_id: open.fund_id.to_owned(),
                proposal_id,
                released: self.per_source(&Account::Reserved { proposal_id }),
                reason,
                freed_to: self.freed_to(on),
                value_date: on,
                postings: Vec::new(),
            },
        )
        .journaled()])
    }

    fn disburse(
        &self,
        proposal_id: Uuid,
        payment_reference: &str,
        esf: Cents,
        land: Cents,
        value_date: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        let paid = amounts("paid", esf, land)?;
        text("payment_reference", payment_reference)?;
        // Four eyes: a project granted with its terms is paid only by an approved claim.
        if self.granted_project(proposal_id)?.terms.is_some() {
            return Err(LedgerError::ClaimRequired { proposal_id });
        }
        if self.payment_references.contains(payment_reference) {
            return Err(LedgerError::DuplicatePaymentReference {
                payment_reference: payment_reference.to_owned(),
            });
        }
        let value_date = self.value_date(value_date, today)?;
        let unpaid = self.per_source(&Account::Committed { proposal_id });
        if !excess(&paid, &unpaid).is_zero() {
            return Err(LedgerError::DisbursementAboveCommitment {
                proposal_id,
                unpaid,
            });
        }
        Ok(vec![LedgerEvent::DisbursementRecorded(
            DisbursementRecorded {
                fund_id: open.fund_id.to_owned(),
                proposal_id,
                payment_reference: payment_reference.to_owned(),
                paid,
                value_date,
                postings: Vec::new(),
            },
        )
        .journaled()])
    }

    fn close(&self, proposal_id: Uuid, today: NaiveDate) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        self.granted(proposal_id, false)?;
        let on = self.booking_date(today);
        Ok(vec![LedgerEvent::CommitmentReleased(CommitmentReleased {
            fund_id: open.fund_id.to_owned(),
            proposal_id,
            released: self.per_source(&Account::Committed { proposal_id }),
            freed_to: self.freed_to(on),
            value_date: on,
            postings: Vec::new(),
        })
        .journaled()])
    }

    fn assess_recovery(
        &self,
        proposal_id: Uuid,
        esf: Cents,
        land: Cents,
        reason: &str,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        let principal = amounts("principal", esf, land)?;
        text("reason", reason)?;
        self.granted(proposal_id, true)?;
        let recoverable = self.per_source(&Account::Disbursed { proposal_id });
        if !excess(&principal, &recoverable).is_zero() {
            return Err(LedgerError::RecoveryAboveDisbursed {
                proposal_id,
                recoverable,
            });
        }
        Ok(vec![LedgerEvent::RecoveryAssessed(RecoveryAssessed {
            fund_id: open.fund_id.to_owned(),
            proposal_id,
            principal,
            reason: reason.to_owned(),
            value_date: self.booking_date(today),
            postings: Vec::new(),
        })
        .journaled()])
    }

    fn repay(
        &self,
        proposal_id: Uuid,
        esf: Cents,
        land: Cents,
        value_date: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        let repaid = amounts("repaid", esf, land)?;
        self.granted(proposal_id, true)?;
        let value_date = self.value_date(value_date, today)?;
        let receivable = self.per_source(&Account::Receivable { proposal_id });
        if !excess(&repaid, &receivable).is_zero() {
            return Err(LedgerError::RepaymentAboveRecovery {
                proposal_id,
                receivable,
            });
        }
        Ok(vec![LedgerEvent::RepaymentReceived(RepaymentReceived {
            fund_id: open.fund_id.to_owned(),
            proposal_id,
            repaid,
            value_date,
            postings: Vec::new(),
        })
        .journaled()])
    }

    fn expire(&self, today: NaiveDate) -> Result<Vec<LedgerEvent>, LedgerError> {
        let open = self.open()?;
        let on = self.booking_date(today);
        if on <= open.deadline {
            return Err(LedgerError::DeadlineNotPassed {
                deadline: open.deadline,
            });
        }
        let available = self.available();
        if available.is_zero() {
            return Ok(Vec::new());
        }
        Ok(vec![LedgerEvent::FundsExpired(FundsExpired {
            fund_id: open.fund_id.to_owned(),
            expired: available,
            value_date: on,
            postings: Vec::new(),
        })
        .journaled()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excess_is_never_negative() {
        let a = Amounts::new(5, 10);
        let b = Amounts::new(7, 3);
        assert_eq!(excess(&a, &b), Amounts::new(0, 7));
    }

    #[test]
    fn a_split_with_a_negative_part_is_refused() {
        assert_eq!(
            amounts("paid", Cents(-1), Cents(5)),
            Err(LedgerError::NegativeAmount { field: "paid" })
        );
    }
}
