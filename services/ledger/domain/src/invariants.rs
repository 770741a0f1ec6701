//! What must hold after every event of a fund, checked by [`Fund::check_invariants`].
//!
//! Two kinds of checks, both needed by an auditor who trusts nothing:
//!
//! - **On each event, in `apply`** (noted, since `apply` never refuses a fact; the first one is
//!   kept): the journal entry is exactly what the event's amounts call for, with amounts > 0; the
//!   event belongs to this fund and comes after `budget_allocated`; value dates never go backwards;
//!   the project was in a status the event may follow; deadline rules (nothing reserved, committed
//!   or added after the deadline; freed money to `available` up to it and to `expired` after it;
//!   money expires only after it); a payment reference is booked once.
//! - **On the state, in `check_invariants`**: no account balance is negative (`budget` never
//!   positive), which is every money invariant at once: per source available ≥ 0 (reserved +
//!   committed + expired ≤ allocated); per project and source disbursed ≤ committed, recovered ≤
//!   disbursed, repaid ≤ recovered; the trial balance of each source is zero; the parts make the
//!   whole (allocated = available + reserved + committed + expired); balances agree with each
//!   project's status; the waitlist holds exactly the waitlisted projects, once each.
//!
//! `check_invariants` is O(number of accounts): a fund has a few per project, so calling it after
//! every event makes a replay quadratic. [`Fund::check_after`] checks, after `apply(event)`, exactly
//! what that event can have changed, in O(postings of the event · log accounts):
//!
//! - the event's noted violation (`first_violation`);
//! - the sign of every account the event's postings touched, and the unknown-project rule for them
//!   (no other balance changed; a project, once seen, is never forgotten);
//! - the status rule of every project the event touched (its proposal, and the project of every
//!   project account posted to): no other project's status or balances changed;
//! - the trial balance and parts-sum-to-whole per source, from running sums of the balances per
//!   account kind that `apply` keeps with the book (the same figures `AccountBook::fund_balances`
//!   computes by scanning, narrowed the same way);
//! - the waitlist rule for the event's proposal only: `apply` changes the waitlist and the status of
//!   that proposal only, adds an id only when it is not listed (so nothing is listed twice) and
//!   removes every copy of it; so if the waitlist held exactly the waitlisted projects before the
//!   event, it does after it exactly when the event's proposal is listed iff it is waitlisted.
//!
//! So when `check_invariants` held before the event, `check_after(event)` fails exactly when
//! `check_invariants` fails after it (a proptest compares them). The auditor calls `check_after`
//! after every event and `check_invariants` once at the end of each fund; the running ledger calls
//! it after every event of a decision it tries on a draft (see [`super::draft`]). Both run the same
//! code, written over [`FundState`].
//!
//! A third kind holds **at the end of every decision**, not after every event:
//! [`Fund::waitlist_served_check`] (`waitlist_not_served`). On or before the deadline, the head of
//! a non-empty waitlist does not fit into what is available, for the decision that freed the money
//! reserved it (the events after the one that frees money, with the same cause). A decision cut
//! short after the event that frees money leaves the head unserved; the auditor checks this after
//! the last event of each cause.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::ledger::{Account, Amounts, LedgerEvent, Source, SourceBalances};
use buendel_contract::Cents;

use super::fund::{servable_head, source_index, Fund, Project, ProjectStatus};
use super::state::FundState;

/// Running sums of the balances of one source per account kind, wide enough never to overflow:
/// what [`buendel_contract::ledger::AccountBook::trial_balance`] and `fund_balances` compute by
/// scanning every account, kept up to date posting by posting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceTotals {
    budget: i128,
    available: i128,
    reserved: i128,
    committed: i128,
    disbursed: i128,
    receivable: i128,
    repaid: i128,
    expired: i128,
    /// `interest`, `interest_receivable` and `interest_paid` together (outside the figures).
    interest: i128,
}

impl SourceTotals {
    /// Adds `cents` to the sum of `account`'s kind.
    pub(super) fn add(&mut self, account: &Account, cents: i128) {
        let slot = match account {
            Account::Budget => &mut self.budget,
            Account::Available => &mut self.available,
            Account::Reserved { .. } => &mut self.reserved,
            Account::Committed { .. } => &mut self.committed,
            Account::Disbursed { .. } => &mut self.disbursed,
            Account::Receivable { .. } => &mut self.receivable,
            Account::Repaid { .. } => &mut self.repaid,
            Account::Expired => &mut self.expired,
            Account::Interest
            | Account::InterestReceivable { .. }
            | Account::InterestPaid { .. } => &mut self.interest,
        };
        *slot += cents;
    }

    /// The sum of all balances: `AccountBook::trial_balance`.
    pub fn trial_balance(&self) -> i128 {
        self.budget
            + self.available
            + self.reserved
            + self.committed
            + self.disbursed
            + self.receivable
            + self.repaid
            + self.expired
            + self.interest
    }

    /// The figures `parts_sum_to_whole` compares, narrowed to cents as `fund_balances` narrows
    /// them.
    pub fn fund_balances(&self) -> SourceBalances {
        let recovered = self.receivable + self.repaid;
        let disbursed = self.disbursed + recovered;
        SourceBalances {
            allocated: narrow(-self.budget),
            available: narrow(self.available),
            reserved: narrow(self.reserved),
            committed: narrow(self.committed + disbursed),
            unpaid: narrow(self.committed),
            disbursed: narrow(disbursed),
            recovered: narrow(recovered),
            receivable: narrow(self.receivable),
            repaid: narrow(self.repaid),
            expired: narrow(self.expired),
        }
    }
}

/// Saturates at the bounds of `i64`, as the contract's figures do.
fn narrow(wide: i128) -> Cents {
    Cents(i64::try_from(wide).unwrap_or(if wide < 0 { i64::MIN } else { i64::MAX }))
}

/// A broken ledger invariant. `entry` is the 1-based position of the event in the fund (its
/// aggregate version), where the violation is tied to one event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    /// `malformed_entry`: the postings are not those the event's amounts call for, or one is ≤ 0.
    #[error("entry {entry}: {reason}")]
    MalformedEntry {
        /// The event.
        entry: u64,
        /// What is wrong.
        reason: String,
    },
    /// `event_before_allocation`: the first event of a fund must be `budget_allocated`.
    #[error("entry {entry}: an event before the fund's budget_allocated")]
    EventBeforeAllocation {
        /// The event.
        entry: u64,
    },
    /// `allocated_twice`: a second `budget_allocated`.
    #[error("entry {entry}: a second budget_allocated")]
    AllocatedTwice {
        /// The event.
        entry: u64,
    },
    /// `wrong_fund`: the event names another fund.
    #[error("entry {entry}: the event names fund {found}, not {expected}")]
    WrongFund {
        /// The event.
        entry: u64,
        /// This fund.
        expected: String,
        /// The fund the event names.
        found: String,
    },
    /// `value_date_backwards`: a value date before one already booked.
    #[error("entry {entry}: value date {value_date} is before {last}, already booked")]
    ValueDateBackwards {
        /// The event.
        entry: u64,
        /// Its value date.
        value_date: NaiveDate,
        /// The latest date booked before it.
        last: NaiveDate,
    },
    /// `deadline_rule`: an event breaks a commitment-deadline rule.
    #[error("entry {entry}: {rule}")]
    DeadlineRule {
        /// The event.
        entry: u64,
        /// The rule broken.
        rule: &'static str,
    },
    /// `balance_overflow`: a posting overflows a balance (forged amounts).
    #[error("entry {entry}: {reason}")]
    BalanceOverflow {
        /// The event.
        entry: u64,
        /// Which posting.
        reason: String,
    },
    /// `invalid_transition`: the project was not in a status this event may follow.
    #[error("entry {entry}: {event_type} for proposal {proposal_id} while it is {status}")]
    InvalidTransition {
        /// The event.
        entry: u64,
        /// The project.
        proposal_id: Uuid,
        /// The event's type.
        event_type: &'static str,
        /// The project's status before it (`unknown` if the fund had not seen it).
        status: &'static str,
    },
    /// `money_rule`: a settlement, revocation or interest event breaks a rule of
    /// [`crate::settle`].
    #[error("entry {entry}: {rule}")]
    MoneyRule {
        /// The event.
        entry: u64,
        /// The rule broken.
        rule: &'static str,
    },
    /// `locked_period`: an entry dated inside a locked accounting period (or a lock that does not
    /// move forward to a day before its own).
    #[error(
        "entry {entry}: value date {value_date} lies in the periods locked until {locked_until}"
    )]
    LockedPeriod {
        /// The event.
        entry: u64,
        /// Its value date (for a lock: the day it locks to).
        value_date: NaiveDate,
        /// The last locked day.
        locked_until: NaiveDate,
    },
    /// `payment_without_claim`: a direct disbursement for a project whose grant terms are
    /// recorded, which only an approved claim may pay.
    #[error("entry {entry}: {proposal_id} is paid without an approved claim")]
    PaymentWithoutClaim {
        /// The event.
        entry: u64,
        /// The project.
        proposal_id: Uuid,
    },
    /// `claim_rule`: a payment claim event breaks a rule of [`crate::claims`].
    #[error("entry {entry}: claim {claim_id}: {rule}")]
    ClaimRule {
        /// The event.
        entry: u64,
        /// The claim.
        claim_id: Uuid,
        /// The rule broken.
        rule: &'static str,
    },
    /// `duplicate_payment_reference`: one payment booked twice.
    #[error("entry {entry}: payment {payment_reference} was already booked")]
    DuplicatePaymentReference {
        /// The event.
        entry: u64,
        /// The reference.
        payment_reference: String,
    },
    /// `negative_balance`: an account went below zero (or `budget` above zero).
    #[error("{fund_source} {account} has the balance {balance} cents")]
    NegativeBalance {
        /// The source.
        fund_source: Source,
        /// The account.
        account: Account,
        /// Its balance.
        balance: Cents,
    },
    /// `trial_balance`: the balances of a source do not sum to zero.
    #[error("the balances of {fund_source} sum to {sum} cents, not zero")]
    TrialBalance {
        /// The source.
        fund_source: Source,
        /// Their sum.
        sum: i128,
    },
    /// `parts_not_whole`: allocated ≠ available + reserved + committed + expired.
    #[error(
        "in {fund_source}, available + reserved + committed + expired is not what was allocated"
    )]
    PartsNotWhole {
        /// The source.
        fund_source: Source,
    },
    /// `unknown_project_account`: money on a project account of a project the fund never saw.
    #[error("{fund_source} {account} holds money but the fund has no such project")]
    UnknownProjectAccount {
        /// The source.
        fund_source: Source,
        /// The account.
        account: Account,
    },
    /// `status_mismatch`: a project's balances contradict its status.
    #[error("proposal {proposal_id} is {status} but holds {cents} cents on {account}")]
    StatusMismatch {
        /// The project.
        proposal_id: Uuid,
        /// Its status.
        status: &'static str,
        /// The account that should be empty.
        account: &'static str,
        /// What it holds.
        cents: Cents,
    },
    /// `waitlist_mismatch`: the waitlist is not exactly the waitlisted projects, once each.
    #[error("the waitlist does not match the waitlisted projects: {reason}")]
    WaitlistMismatch {
        /// What differs.
        reason: String,
    },
    /// `waitlist_not_served`: at the end of a decision on or before the deadline, the head of the
    /// waitlist fits into what is available and is not reserved.
    #[error(
        "entry {entry}: proposal {proposal_id} heads the waitlist and its request ({requested}) \
         fits into what is available on {on} ({available}), yet it is not reserved"
    )]
    WaitlistNotServed {
        /// The last event of the decision.
        entry: u64,
        /// The head of the waitlist.
        proposal_id: Uuid,
        /// Its request.
        requested: Amounts,
        /// What is available.
        available: Amounts,
        /// The date the check is made for.
        on: NaiveDate,
    },
}

impl InvariantViolation {
    /// Stable code, e.g. `negative_balance`, for the auditor's report.
    pub fn code(&self) -> &'static str {
        match self {
            InvariantViolation::MalformedEntry { .. } => "malformed_entry",
            InvariantViolation::EventBeforeAllocation { .. } => "event_before_allocation",
            InvariantViolation::AllocatedTwice { .. } => "allocated_twice",
            InvariantViolation::WrongFund { .. } => "wrong_fund",
            InvariantViolation::ValueDateBackwards { .. } => "value_date_backwards",
            InvariantViolation::DeadlineRule { .. } => "deadline_rule",
            InvariantViolation::BalanceOverflow { .. } => "balance_overflow",
            InvariantViolation::InvalidTransition { .. } => "invalid_transition",
            InvariantViolation::DuplicatePaymentReference { .. } => "duplicate_payment_reference",
            InvariantViolation::ClaimRule { .. } => "claim_rule",
            InvariantViolation::PaymentWithoutClaim { .. } => "payment_without_claim",
            InvariantViolation::MoneyRule { .. } => "money_rule",
            InvariantViolation::LockedPeriod { .. } => "locked_period",
            InvariantViolation::NegativeBalance { .. } => "negative_balance",
            InvariantViolation::TrialBalance { .. } => "trial_balance",
            InvariantViolation::PartsNotWhole { .. } => "parts_not_whole",
            InvariantViolation::UnknownProjectAccount { .. } => "unknown_project_account",
            InvariantViolation::StatusMismatch { .. } => "status_mismatch",
            InvariantViolation::WaitlistMismatch { .. } => "waitlist_mismatch",
            InvariantViolation::WaitlistNotServed { .. } => "waitlist_not_served",
        }
    }
}

impl Fund {
    /// Checks every invariant of the fund (see the module docs); the first violation found.
    ///
    /// Call it after every `apply`: a violation noted on an event is reported until the fund is
    /// rebuilt, so the first call after the bad event names it.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        if let Some(violation) = &self.scalars.first_violation {
            return Err(violation.clone());
        }
        for (source, account, balance) in self.book.accounts() {
            check_account(self, source, account, balance)?;
        }
        for source in Source::ALL {
            let sum = self.book.trial_balance(source);
            if sum != 0 {
                return Err(InvariantViolation::TrialBalance {
                    fund_source: source,
                    sum,
                });
            }
            if !self.book.fund_balances(source).parts_sum_to_whole() {
                return Err(InvariantViolation::PartsNotWhole {
                    fund_source: source,
                });
            }
        }
        for (proposal_id, project) in &self.projects {
            check_status(self, *proposal_id, project)?;
        }
        self.check_waitlist()
    }

    /// Checks, after `apply(event)`, what `event` can have changed (see the module docs): when
    /// [`Fund::check_invariants`] held before the event, this fails exactly when it fails after.
    ///
    /// O(postings of the event · log accounts), however long the fund's history.
    pub fn check_after(&self, event: &LedgerEvent) -> Result<(), InvariantViolation> {
        check_after(self, event)
    }

    /// Checks that the waitlist is served on `on`: when the fund is open and `on` is not after the
    /// commitment deadline, the head of the waitlist does not fit into what is available (per
    /// source, as the reservation rule computes it), for it would have been reserved.
    ///
    /// It holds at the end of every decision, not after every event: an event that frees money
    /// is followed by the reservations it allows, in the same decision. So check it after the last
    /// event of a decision, with the date the decision was booked on (`decide` uses the booking
    /// date of the command's `today`; a replay uses [`Fund::last_value_date`], which equals it
    /// whenever a decision can change what this checks). O(1).
    pub fn waitlist_served_check(&self, on: NaiveDate) -> Result<(), InvariantViolation> {
        check_waitlist_served(self, on)
    }

    fn check_waitlist(&self) -> Result<(), InvariantViolation> {
        let listed: BTreeSet<Uuid> = self.waitlist.iter().copied().collect();
        if listed.len() != self.waitlist.len() {
            return Err(InvariantViolation::WaitlistMismatch {
                reason: "a proposal is listed twice".to_owned(),
            });
        }
        let waitlisted: BTreeSet<Uuid> = self
            .projects
            .iter()
            .filter(|(_, p)| p.status == ProjectStatus::Waitlisted)
            .map(|(id, _)| *id)
            .collect();
        if listed != waitlisted {
            return Err(InvariantViolation::WaitlistMismatch {
                reason: format!("{} listed, {} waitlisted", listed.len(), waitlisted.len()),
            });
        }
        Ok(())
    }
}

/// [`Fund::check_after`] on the fund or on a draft over it.
pub(super) fn check_after<S: FundState>(
    state: &S,
    event: &LedgerEvent,
) -> Result<(), InvariantViolation> {
    if let Some(violation) = &state.scalars().first_violation {
        return Err(violation.clone());
    }
    let postings = event.postings();
    for posting in postings {
        for account in [posting.debit, posting.credit] {
            let balance = state.balance(posting.source, &account);
            check_account(state, posting.source, account, balance)?;
        }
    }
    for source in Source::ALL {
        let totals = &state.scalars().totals[source_index(source)];
        let sum = totals.trial_balance();
        if sum != 0 {
            return Err(InvariantViolation::TrialBalance {
                fund_source: source,
                sum,
            });
        }
        if !totals.fund_balances().parts_sum_to_whole() {
            return Err(InvariantViolation::PartsNotWhole {
                fund_source: source,
            });
        }
    }
    // The projects touched: the event's, and those of the project accounts posted to
    // (a handful; duplicates are checked once).
    let mut touched: Vec<Uuid> = Vec::with_capacity(2);
    let accounts = postings
        .iter()
        .flat_map(|posting| [posting.debit, posting.credit]);
    for id in event
        .proposal_id()
        .into_iter()
        .chain(accounts.filter_map(|account| account.proposal_id()))
    {
        if !touched.contains(&id) {
            touched.push(id);
        }
    }
    for id in &touched {
        if let Some(project) = state.project(*id) {
            check_status(state, *id, project)?;
        }
    }
    if let Some(id) = event.proposal_id() {
        let listed = state.is_listed(id);
        let waitlisted = state
            .project(id)
            .is_some_and(|p| p.status == ProjectStatus::Waitlisted);
        if listed != waitlisted {
            return Err(InvariantViolation::WaitlistMismatch {
                reason: format!(
                    "proposal {id} is {} but {} the waitlist",
                    if waitlisted {
                        "waitlisted"
                    } else {
                        "not waitlisted"
                    },
                    if listed { "on" } else { "not on" }
                ),
            });
        }
    }
    Ok(())
}

/// [`Fund::waitlist_served_check`] on the fund or on a draft over it: the very rule by which
/// `decide` serves the waitlist ([`servable_head`]) finds nothing to serve.
pub(super) fn check_waitlist_served<S: FundState>(
    state: &S,
    on: NaiveDate,
) -> Result<(), InvariantViolation> {
    match servable_head(state, on) {
        None => Ok(()),
        Some((proposal_id, requested)) => Err(InvariantViolation::WaitlistNotServed {
            entry: state.scalars().entries,
            proposal_id,
            requested,
            available: state.available(),
            on,
        }),
    }
}

/// The sign of one balance, and that a project account holding money has a known project.
fn check_account<S: FundState>(
    state: &S,
    source: Source,
    account: Account,
    balance: Cents,
) -> Result<(), InvariantViolation> {
    let wrong_sign = if account.is_credit_normal() {
        balance.0 > 0
    } else {
        balance.0 < 0
    };
    if wrong_sign {
        return Err(InvariantViolation::NegativeBalance {
            fund_source: source,
            account,
            balance,
        });
    }
    if let Some(proposal_id) = account.proposal_id() {
        if balance != Cents::ZERO && state.project(proposal_id).is_none() {
            return Err(InvariantViolation::UnknownProjectAccount {
                fund_source: source,
                account,
            });
        }
    }
    Ok(())
}

/// A project's balances agree with its status.
fn check_status<S: FundState>(
    state: &S,
    id: Uuid,
    project: &Project,
) -> Result<(), InvariantViolation> {
    let empty: &[Account] = match project.status {
        // Holding money only as a reservation.
        ProjectStatus::Reserved => &[
            Account::Committed { proposal_id: id },
            Account::Disbursed { proposal_id: id },
            Account::Receivable { proposal_id: id },
            Account::Repaid { proposal_id: id },
        ],
        // No money held, none ever paid.
        ProjectStatus::Waitlisted | ProjectStatus::Released => &[
            Account::Reserved { proposal_id: id },
            Account::Committed { proposal_id: id },
            Account::Disbursed { proposal_id: id },
            Account::Receivable { proposal_id: id },
            Account::Repaid { proposal_id: id },
        ],
        // The reservation became the commitment.
        ProjectStatus::Committed => &[Account::Reserved { proposal_id: id }],
        // Nothing reserved and nothing left to pay.
        ProjectStatus::Closed => &[
            Account::Reserved { proposal_id: id },
            Account::Committed { proposal_id: id },
        ],
    };
    for account in empty {
        for source in Source::ALL {
            let cents = state.balance(source, account);
            if cents != Cents::ZERO {
                return Err(InvariantViolation::StatusMismatch {
                    proposal_id: id,
                    status: project.status.as_str(),
                    account: account.kind(),
                    cents,
                });
            }
        }
    }
    Ok(())
}
