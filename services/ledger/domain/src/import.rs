//! A closed programme period brought in from the books it was kept in before Bündel (the
//! 2014–2020 period of the ESF): its budget, every project's reservation, commitment, payments,
//! closing and any recovery with its interest, each on its own historic date.
//!
//! The import is one decision on a fund that has never been opened. It is not written by hand: the
//! period's history is turned into the ledger's own commands, ordered by date, and each is decided
//! on the fund as it stands after the ones before, with its date as `today` — so every rule of a
//! live fund holds for the imported one (value dates never go backwards, nothing committed after
//! the deadline, disbursed ≤ committed, interest recomputed from the base-rate table, every
//! invariant checked after every event). One refused step refuses the whole import and names the
//! step. A period is imported only when it is closed: its commitment deadline passed, every project
//! closed, and what was never bound expired; the events carry the historic value dates and are
//! recorded now (the bi-temporal books show when Bündel learned of them).
//!
//! Projects of a closed period were granted without terms recorded in Bündel and paid in the old
//! system, so their payments come in as disbursements (the claims of the living period do not
//! apply to them).

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::ledger::{Amounts, LedgerEvent};
use buendel_contract::{Aggregate, Cents, DomainError};

use crate::{Command, Fund, LedgerError, ProjectStatus};

/// The history of a closed period's fund, as the old books hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPeriod {
    /// The fund, e.g. `non-2014-2020`.
    pub fund_id: String,
    /// The budget per source.
    pub allocated: Amounts,
    /// The day the budget was allocated.
    pub allocated_on: NaiveDate,
    /// The last day money could be committed.
    pub commit_deadline: NaiveDate,
    /// Every project of the period.
    pub projects: Vec<ClosedProject>,
}

/// One settled project of a closed period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedProject {
    /// The project (its proposal's id).
    pub proposal_id: Uuid,
    /// The grant per source.
    pub granted: Amounts,
    /// The day of the positive statement (the money reserved).
    pub reserved_on: NaiveDate,
    /// The day of the grant (the money committed).
    pub granted_on: NaiveDate,
    /// The payments, in date order.
    pub payments: Vec<ImportedPayment>,
    /// The day the project was closed (its unpaid rest freed).
    pub closed_on: NaiveDate,
    /// A recovery after the closing, if any.
    pub recovery: Option<ImportedRecovery>,
}

/// One payment of the old books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPayment {
    /// The bank's payment reference.
    pub reference: String,
    /// Paid per source.
    pub paid: Amounts,
    /// The value date.
    pub value_date: NaiveDate,
}

/// A recovery assessed after the closing, repaid, with its interest (§ 49a (3) VwVfG) charged
/// to the repayment and paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRecovery {
    /// The principal per source.
    pub principal: Amounts,
    /// Why.
    pub reason: String,
    /// The day of the recovery decision (interest runs from it).
    pub assessed_on: NaiveDate,
    /// The day the principal was repaid in full.
    pub repaid_on: NaiveDate,
    /// The day the interest charged was paid.
    pub interest_paid_on: NaiveDate,
}

/// One step of the history: the command and what it is about.
struct Step {
    on: NaiveDate,
    /// Steps of one day keep the order of the project's life.
    rank: u8,
    proposal_id: Option<Uuid>,
    command: StepCommand,
}

enum StepCommand {
    /// A ledger command as it stands.
    Ledger(Command),
    /// The interest payment, of what was charged before it (a recovery's one charge).
    PayInterest { proposal_id: Uuid },
}

impl Fund {
    /// The events that bring in a closed period's history (see the module), as one decision on a
    /// fund never opened, on the business date `today`.
    pub fn import_closed(
        &self,
        period: &ClosedPeriod,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        if self.is_open() {
            return Err(LedgerError::AlreadyAllocated);
        }
        if period.commit_deadline >= today {
            return Err(LedgerError::ImportNotClosed {
                reason: format!(
                    "its commitment deadline {} has not passed",
                    period.commit_deadline
                ),
            });
        }
        let mut steps = steps_of(period);
        steps.sort_by_key(|step| (step.on, step.rank));
        if let Some(last) = steps.last().filter(|step| step.on > today) {
            return Err(LedgerError::ImportNotClosed {
                reason: format!("a step is dated {}, after today {today}", last.on),
            });
        }
        let mut fund = self.clone();
        let mut history = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            let command = match &step.command {
                StepCommand::Ledger(command) => command.clone(),
                StepCommand::PayInterest { proposal_id } => Command::RecordInterestPayment {
                    proposal_id: *proposal_id,
                    paid: fund
                        .project(*proposal_id)
                        .map_or(Amounts::ZERO, |project| project.recovery.interest_charged),
                    value_date: step.on,
                    today: step.on,
                },
            };
            let events = fund
                .decide(&command)
                .map_err(|error| LedgerError::ImportStepRefused {
                    step: index + 1,
                    command: command.name(),
                    proposal_id: step.proposal_id,
                    code: error.code(),
                    reason: error.to_string(),
                })?;
            fund = events.iter().fold(fund, |fund, event| fund.apply(event));
            history.extend(events);
        }
        for project in &period.projects {
            if fund.status(project.proposal_id) != Some(ProjectStatus::Closed) {
                return Err(LedgerError::ImportNotClosed {
                    reason: format!("project {} is not closed", project.proposal_id),
                });
            }
        }
        Ok(history)
    }
}

/// The period's history as ledger commands, unordered.
fn steps_of(period: &ClosedPeriod) -> Vec<Step> {
    let ledger = |on, rank, proposal_id, command| Step {
        on,
        rank,
        proposal_id,
        command: StepCommand::Ledger(command),
    };
    let mut steps = vec![ledger(
        period.allocated_on,
        0,
        None,
        Command::AllocateBudget {
            fund_id: period.fund_id.clone(),
            esf: period.allocated.esf_cents,
            land: period.allocated.land_cents,
            commit_deadline: period.commit_deadline,
            today: period.allocated_on,
        },
    )];
    let mut last = period.allocated_on;
    for project in &period.projects {
        let id = project.proposal_id;
        let (esf, land) = (project.granted.esf_cents, project.granted.land_cents);
        let on = project.reserved_on;
        let reserve = Command::Reserve {
            proposal_id: id,
            esf,
            land,
            today: on,
        };
        steps.push(ledger(on, 1, Some(id), reserve));
        let on = project.granted_on;
        let commit = Command::Commit {
            proposal_id: id,
            esf,
            land,
            terms: None,
            today: on,
        };
        steps.push(ledger(on, 2, Some(id), commit));
        for payment in &project.payments {
            let on = payment.value_date;
            let pay = Command::RecordDisbursement {
                proposal_id: id,
                payment_reference: payment.reference.clone(),
                esf: payment.paid.esf_cents,
                land: payment.paid.land_cents,
                value_date: on,
                today: on,
            };
            steps.push(ledger(on, 3, Some(id), pay));
        }
        let on = project.closed_on;
        let close = Command::CloseProject {
            proposal_id: id,
            today: on,
        };
        steps.push(ledger(on, 4, Some(id), close));
        last = last.max(on);
        if let Some(recovery) = &project.recovery {
            let p = recovery.principal;
            let on = recovery.assessed_on;
            let assess = Command::AssessRecovery {
                proposal_id: id,
                esf: p.esf_cents,
                land: p.land_cents,
                reason: recovery.reason.clone(),
                today: on,
            };
            steps.push(ledger(on, 5, Some(id), assess));
            let on = recovery.repaid_on;
            let repay = Command::RecordRepayment {
                proposal_id: id,
                esf: p.esf_cents,
                land: p.land_cents,
                value_date: on,
                today: on,
            };
            steps.push(ledger(on, 6, Some(id), repay));
            let charge = Command::ChargeInterest {
                proposal_id: id,
                until: on,
                today: on,
            };
            steps.push(ledger(on, 7, Some(id), charge));
            steps.push(Step {
                on: recovery.interest_paid_on,
                rank: 8,
                proposal_id: Some(id),
                command: StepCommand::PayInterest { proposal_id: id },
            });
            last = last.max(recovery.interest_paid_on);
        }
    }
    // What was never bound expires once the period is over.
    steps.push(ledger(
        last,
        9,
        None,
        Command::ExpireUnbound { today: last },
    ));
    steps
}

/// The EU money (ESF+) of a period, for its description.
pub fn esf_of(period: &ClosedPeriod) -> Cents {
    Cents(
        period
            .projects
            .iter()
            .map(|p| p.payments.iter().map(|x| x.paid.esf_cents.0).sum::<i64>())
            .sum(),
    )
}
