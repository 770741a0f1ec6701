//! The Fund aggregate: one alliance's budget for one funding period, `<ns>.ledger.<fund_id>`.
//!
//! The state is the [`AccountBook`] (every balance, folded from the postings and nothing else),
//! each project's status and requested split, the FIFO waitlist, the payment references booked, and
//! the dates that rules depend on. `apply` never refuses an event (events are facts); whatever in an
//! event breaks a rule is noted and reported by [`Fund::check_invariants`], which is how the auditor
//! re-checks a replayed ledger with the very same code.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

use buendel_contract::ledger::{
    Account, AccountBook, Amounts, FreedTo, FundsReserved, LedgerEvent, ReleaseReason, Source,
};
use buendel_contract::{Aggregate, EventKind};

use super::command::Command;
use super::error::LedgerError;
use super::invariants::{InvariantViolation, SourceTotals};

/// Where a project stands in the fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    /// Declined for lack of money (or behind others); waiting first come, first served.
    Waitlisted,
    /// Money is held for it until the bank decides.
    Reserved,
    /// The bank granted; the grant is committed (tranches may be paid).
    Committed,
    /// Closed; what was not paid was freed. Recoveries and repayments may still follow.
    Closed,
    /// The reservation or waitlist place ended without a grant (see `release_reason`).
    Released,
}

impl ProjectStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Waitlisted => "waitlisted",
            ProjectStatus::Reserved => "reserved",
            ProjectStatus::Committed => "committed",
            ProjectStatus::Closed => "closed",
            ProjectStatus::Released => "released",
        }
    }
}

/// What the fund knows about one project beyond its account balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    /// Where it stands.
    pub status: ProjectStatus,
    /// The split of its last reservation request (what the waitlist reserves when money is freed).
    pub requested: Amounts,
    /// The granted split, once committed.
    pub granted: Option<Amounts>,
    /// Why its reservation was released, if it was.
    pub release_reason: Option<ReleaseReason>,
}

/// The Fund aggregate's state. `Default` is a fund nothing was allocated to yet.
#[derive(Debug, Clone, Default)]
pub struct Fund {
    pub(super) fund_id: Option<String>,
    pub(super) commit_deadline: Option<NaiveDate>,
    pub(super) last_value_date: Option<NaiveDate>,
    pub(super) book: AccountBook,
    pub(super) projects: BTreeMap<Uuid, Project>,
    pub(super) waitlist: VecDeque<Uuid>,
    /// The ids on `waitlist`, kept with it so that membership is O(1) (never listed twice).
    pub(super) waitlisted: HashSet<Uuid>,
    /// Running sums of the balances per source and account kind, kept with `book` by
    /// `check_event`, so that the fund-level invariants are checked in O(1) after every event.
    pub(super) totals: [SourceTotals; 2],
    pub(super) payment_references: BTreeSet<String>,
    pub(super) entries: u64,
    pub(super) first_violation: Option<InvariantViolation>,
}

impl Fund {
    /// The fund's id, once its budget is allocated.
    pub fn fund_id(&self) -> Option<&str> {
        self.fund_id.as_deref()
    }

    /// True once the budget is allocated.
    pub fn is_open(&self) -> bool {
        self.fund_id.is_some()
    }

    /// The last day on which money may be reserved or committed.
    pub fn commit_deadline(&self) -> Option<NaiveDate> {
        self.commit_deadline
    }

    /// The latest value date booked on the fund; no entry may be booked before it.
    pub fn last_value_date(&self) -> Option<NaiveDate> {
        self.last_value_date
    }

    /// How many events were applied (the aggregate version).
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Every account balance, as folded from the postings.
    pub fn book(&self) -> &AccountBook {
        &self.book
    }

    /// One project, if the fund has seen it.
    pub fn project(&self, proposal_id: Uuid) -> Option<&Project> {
        self.projects.get(&proposal_id)
    }

    /// Every project the fund has seen, by proposal id.
    pub fn projects(&self) -> &BTreeMap<Uuid, Project> {
        &self.projects
    }

    /// The waitlist, first come first.
    pub fn waitlist(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.waitlist.iter().copied()
    }

    /// What is available per source.
    pub fn available(&self) -> Amounts {
        self.per_source(&Account::Available)
    }

    /// The balance of one account per source.
    pub(super) fn per_source(&self, account: &Account) -> Amounts {
        Amounts {
            esf_cents: self.book.balance(Source::EsfPlus, account),
            land_cents: self.book.balance(Source::Land, account),
        }
    }

    /// The date an entry without a value date of its own is booked on: today, or the last date
    /// booked if the clock is behind it, so value dates never go backwards.
    pub fn booking_date(&self, today: NaiveDate) -> NaiveDate {
        self.last_value_date.map_or(today, |last| last.max(today))
    }

    /// True when `on` is after the commitment deadline (the deadline day itself is still open).
    pub(super) fn is_after_deadline(&self, on: NaiveDate) -> bool {
        self.commit_deadline.is_some_and(|deadline| on > deadline)
    }

    /// Where money freed on `on` goes.
    pub(super) fn freed_to(&self, on: NaiveDate) -> FreedTo {
        if self.is_after_deadline(on) {
            FreedTo::Expired
        } else {
            FreedTo::Available
        }
    }

    /// Reserves waitlisted proposals first come, first served while the head fits, on `on`.
    ///
    /// Strict FIFO: the first proposal that does not fit stops the queue (nobody overtakes it).
    /// Nothing is reserved after the deadline. Returns the `funds_reserved` events, in order.
    pub(super) fn serve_waitlist(self, on: NaiveDate) -> Vec<LedgerEvent> {
        let mut events = Vec::new();
        let Some(fund_id) = self.fund_id.clone() else {
            return events;
        };
        if self.is_after_deadline(on) {
            return events;
        }
        let mut state = self;
        // Each round takes the head off the waitlist, so this is bounded by its length.
        for _ in 0..state.waitlist.len() {
            let Some(head) = state.waitlist.front().copied() else {
                break;
            };
            let requested = state
                .projects
                .get(&head)
                .map_or(Amounts::ZERO, |p| p.requested);
            if !fits(&requested, &state.available()) {
                break;
            }
            let event = LedgerEvent::FundsReserved(FundsReserved {
                fund_id: fund_id.clone(),
                proposal_id: head,
                reserved: requested,
                from_waitlist: true,
                value_date: on,
                postings: Vec::new(),
            })
            .journaled();
            state = state.apply(&event);
            events.push(event);
        }
        events
    }

    /// Records the first rule an applied event broke; later ones are implied by it.
    pub(super) fn note(&mut self, violation: InvariantViolation) {
        if self.first_violation.is_none() {
            self.first_violation = Some(violation);
        }
    }

    fn remove_from_waitlist(&mut self, proposal_id: Uuid) {
        if !self.waitlisted.remove(&proposal_id) {
            return;
        }
        // Served first come, first served: usually the head.
        if self.waitlist.front() == Some(&proposal_id) {
            self.waitlist.pop_front();
        } else {
            self.waitlist.retain(|id| *id != proposal_id);
        }
    }

    fn add_to_waitlist(&mut self, proposal_id: Uuid) {
        if self.waitlisted.insert(proposal_id) {
            self.waitlist.push_back(proposal_id);
        }
    }

    /// Notes an event whose project is not in one of the statuses it may follow.
    fn expect_status(
        &mut self,
        event: &LedgerEvent,
        proposal_id: Uuid,
        allowed: &[Option<ProjectStatus>],
    ) {
        let status = self.projects.get(&proposal_id).map(|p| p.status);
        if !allowed.contains(&status) {
            let entry = self.entries;
            self.note(InvariantViolation::InvalidTransition {
                entry,
                proposal_id,
                event_type: event.event_type(),
                status: status.map_or("unknown", ProjectStatus::as_str),
            });
        }
    }

    /// Notes an event that breaks a deadline rule.
    fn expect_deadline(&mut self, holds: bool, rule: &'static str) {
        if !holds {
            let entry = self.entries;
            self.note(InvariantViolation::DeadlineRule { entry, rule });
        }
    }

    fn set_status(&mut self, proposal_id: Uuid, status: ProjectStatus, requested: Option<Amounts>) {
        let project = self.projects.entry(proposal_id).or_insert(Project {
            status,
            requested: Amounts::ZERO,
            granted: None,
            release_reason: None,
        });
        project.status = status;
        if let Some(requested) = requested {
            project.requested = requested;
        }
    }

    /// The checks on an event as a whole: fund, order of value dates, journal entry.
    fn check_event(&mut self, event: &LedgerEvent) {
        let entry = self.entries;
        if let Err(malformed) = event.check_entry() {
            self.note(InvariantViolation::MalformedEntry {
                entry,
                reason: malformed.0,
            });
        }
        match (&self.fund_id, event) {
            (None, LedgerEvent::BudgetAllocated(_)) => {}
            (None, _) => self.note(InvariantViolation::EventBeforeAllocation { entry }),
            (Some(_), LedgerEvent::BudgetAllocated(_)) => {
                self.note(InvariantViolation::AllocatedTwice { entry })
            }
            (Some(fund_id), other) if fund_id != other.fund_id() => {
                let expected = fund_id.clone();
                self.note(InvariantViolation::WrongFund {
                    entry,
                    expected,
                    found: other.fund_id().to_owned(),
                })
            }
            (Some(_), _) => {}
        }
        let value_date = event.value_date();
        if let Some(last) = self.last_value_date {
            if value_date < last {
                self.note(InvariantViolation::ValueDateBackwards {
                    entry,
                    value_date,
                    last,
                });
            }
        }
        self.last_value_date = Some(
            self.last_value_date
                .map_or(value_date, |l| l.max(value_date)),
        );
        for posting in event.postings() {
            match self.book.post(posting) {
                Ok(()) => {
                    if posting.debit != posting.credit {
                        let totals = &mut self.totals[source_index(posting.source)];
                        totals.add(&posting.debit, i128::from(posting.amount_cents.0));
                        totals.add(&posting.credit, -i128::from(posting.amount_cents.0));
                    }
                }
                Err(overflow) => self.note(InvariantViolation::BalanceOverflow {
                    entry,
                    reason: overflow.to_string(),
                }),
            }
        }
    }
}

/// The index of a source in [`Fund::totals`]: the order of [`Source::ALL`].
pub(super) fn source_index(source: Source) -> usize {
    match source {
        Source::EsfPlus => 0,
        Source::Land => 1,
    }
}

/// True when `requested` fits into `available` in both sources.
pub(super) fn fits(requested: &Amounts, available: &Amounts) -> bool {
    requested.esf_cents <= available.esf_cents && requested.land_cents <= available.land_cents
}

impl Aggregate for Fund {
    type Event = LedgerEvent;
    type Command = Command;
    type Error = LedgerError;

    fn apply(mut self, event: &LedgerEvent) -> Self {
        use ProjectStatus::{Closed, Committed, Released, Reserved, Waitlisted};
        self.entries += 1;
        self.check_event(event);
        let on = event.value_date();
        match event {
            LedgerEvent::BudgetAllocated(e) => {
                if self.fund_id.is_none() {
                    self.fund_id = Some(e.fund_id.clone());
                    self.commit_deadline = Some(e.commit_deadline);
                }
            }
            LedgerEvent::BudgetAdjusted(e) => {
                self.expect_deadline(
                    e.delta_cents.0 <= 0 || !self.is_after_deadline(on),
                    "no budget is added after the deadline",
                );
            }
            LedgerEvent::FundsReserved(e) => {
                self.expect_status(
                    event,
                    e.proposal_id,
                    &[None, Some(Waitlisted), Some(Released)],
                );
                self.expect_deadline(
                    !self.is_after_deadline(on),
                    "nothing is reserved after the deadline",
                );
                self.remove_from_waitlist(e.proposal_id);
                self.set_status(e.proposal_id, Reserved, Some(e.reserved));
            }
            LedgerEvent::ReservationDeclined(e) => {
                self.expect_status(event, e.proposal_id, &[None, Some(Released)]);
                self.set_status(e.proposal_id, Waitlisted, Some(e.requested));
                self.add_to_waitlist(e.proposal_id);
            }
            LedgerEvent::FundsCommitted(e) => {
                self.expect_status(
                    event,
                    e.proposal_id,
                    &[None, Some(Waitlisted), Some(Reserved), Some(Released)],
                );
                self.expect_deadline(
                    !self.is_after_deadline(on),
                    "nothing is committed after the deadline",
                );
                self.remove_from_waitlist(e.proposal_id);
                self.set_status(e.proposal_id, Committed, None);
                if let Some(project) = self.projects.get_mut(&e.proposal_id) {
                    project.granted = Some(e.granted);
                }
            }
            LedgerEvent::ReservationReleased(e) => {
                self.expect_status(event, e.proposal_id, &[Some(Waitlisted), Some(Reserved)]);
                self.expect_deadline(
                    e.freed_to == self.freed_to(on),
                    "freed money goes to available up to the deadline, to expired after it",
                );
                self.remove_from_waitlist(e.proposal_id);
                self.set_status(e.proposal_id, Released, None);
                if let Some(project) = self.projects.get_mut(&e.proposal_id) {
                    project.release_reason = Some(e.reason);
                }
            }
            LedgerEvent::DisbursementRecorded(e) => {
                self.expect_status(event, e.proposal_id, &[Some(Committed)]);
                if !self.payment_references.insert(e.payment_reference.clone()) {
                    let entry = self.entries;
                    self.note(InvariantViolation::DuplicatePaymentReference {
                        entry,
                        payment_reference: e.payment_reference.clone(),
                    });
                }
            }
            LedgerEvent::CommitmentReleased(e) => {
                self.expect_status(event, e.proposal_id, &[Some(Committed)]);
                self.expect_deadline(
                    e.freed_to == self.freed_to(on),
                    "freed money goes to available up to the deadline, to expired after it",
                );
                self.set_status(e.proposal_id, Closed, None);
            }
            LedgerEvent::RecoveryAssessed(e) => {
                self.expect_status(event, e.proposal_id, &[Some(Committed), Some(Closed)]);
            }
            LedgerEvent::RepaymentReceived(e) => {
                self.expect_status(event, e.proposal_id, &[Some(Committed), Some(Closed)]);
            }
            LedgerEvent::FundsExpired(_) => {
                self.expect_deadline(
                    self.is_after_deadline(on),
                    "money expires only after the deadline",
                );
            }
        }
        self
    }

    fn decide(&self, command: &Command) -> Result<Vec<LedgerEvent>, LedgerError> {
        let mut events = self.decide_command(command)?;
        if events.is_empty() {
            return Ok(events);
        }
        // Only a waitlist can be served: without one before and none joined by these events,
        // nothing follows, and the state need not be copied (a copy is O(the fund's history)).
        let joins = |event: &LedgerEvent| matches!(event, LedgerEvent::ReservationDeclined(_));
        if self.waitlist.is_empty() && !events.iter().any(joins) {
            return Ok(events);
        }
        let after = events
            .iter()
            .fold(self.clone(), |state, event| state.apply(event));
        let on = after.booking_date(command.today());
        events.extend(after.serve_waitlist(on));
        Ok(events)
    }
}
