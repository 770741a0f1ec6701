//! The Fund aggregate: one alliance's budget for one funding period, `<ns>.ledger.<fund_id>`.
//!
//! The state is the [`AccountBook`] (every balance, folded from the postings and nothing else),
//! each project's status and requested split, the FIFO waitlist, the payment references booked, and
//! the dates that rules depend on ([`Scalars`]). `apply` never refuses an event (events are facts);
//! whatever in an event breaks a rule is noted and reported by [`Fund::check_invariants`], which is
//! how the auditor re-checks a replayed ledger with the very same code.
//!
//! The rules of `apply` ([`fold`]) and the serving rule of the waitlist ([`servable_head`]) are
//! written once, over [`FundState`]: the fund itself, or a [`Draft`](super::draft::Draft) over it
//! on which `decide` tries a decision before it is returned (see [`super::draft`]).

use imbl::{HashSet, OrdMap, OrdSet, Vector};

use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

use buendel_contract::ledger::{
    Account, AccountBook, Amounts, FreedTo, FundsReserved, GrantTerms, LedgerEvent, ProjectChange,
    ReleaseReason, Source,
};
use buendel_contract::{Aggregate, EventKind};

use super::claims::{fold_claim, Claim};
use super::command::Command;
use super::error::LedgerError;
use super::invariants::{InvariantViolation, SourceTotals};
use super::settle::{fold_settle, Recovery};
use super::state::FundState;

/// Where a project stands in the fund: the contract's status, set by the rule
/// [`LedgerEvent::project_change`] that the projector projects too.
pub use buendel_contract::ledger::ProjectStatus;

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
    /// The grant's terms, once recorded with the commitment.
    pub terms: Option<GrantTerms>,
    /// Its payment claims, in the order submitted.
    pub claims: Vec<Claim>,
    /// What it owes back: principal changes, interest charged, the final grant.
    pub recovery: Recovery,
}

/// The part of a fund's state that is not a collection: a few words, copied whole into a draft.
#[derive(Debug, Clone, Default)]
pub(super) struct Scalars {
    /// The fund's id, once its budget is allocated.
    pub(super) fund_id: Option<String>,
    /// The last day (inclusive) on which money may be reserved or committed.
    pub(super) commit_deadline: Option<NaiveDate>,
    /// The latest value date booked.
    pub(super) last_value_date: Option<NaiveDate>,
    /// The last day of the locked accounting periods: no entry may be dated on or before it.
    pub(super) locked_until: Option<NaiveDate>,
    /// Running sums of the balances per source and account kind, kept with the book by
    /// [`check_event`], so that the fund-level invariants are checked in O(1) after every event.
    pub(super) totals: [SourceTotals; 2],
    /// How many events were applied (the aggregate version).
    pub(super) entries: u64,
    /// The first rule an applied event broke.
    pub(super) first_violation: Option<InvariantViolation>,
}

impl Scalars {
    /// The date an entry without a value date of its own is booked on: today, or the last date
    /// booked if the clock is behind it, so value dates never go backwards.
    pub(super) fn booking_date(&self, today: NaiveDate) -> NaiveDate {
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

    /// Records the first rule an applied event broke; later ones are implied by it.
    pub(super) fn note(&mut self, violation: InvariantViolation) {
        if self.first_violation.is_none() {
            self.first_violation = Some(violation);
        }
    }
}

/// The Fund aggregate's state. `Default` is a fund nothing was allocated to yet.
///
/// Its collections are persistent (`imbl`): a clone shares them and costs O(1), and a change to a
/// clone copies only the path it touches. Group commit decides a group of commands on a working
/// copy of the fund, which is dropped if the group's batch fails; with a year of projects that
/// copy must not cost the whole fund.
#[derive(Debug, Clone, Default)]
pub struct Fund {
    pub(super) scalars: Scalars,
    pub(super) book: AccountBook,
    pub(super) projects: OrdMap<Uuid, Project>,
    pub(super) waitlist: Vector<Uuid>,
    /// The ids on `waitlist`, kept with it so that membership is O(1) (never listed twice).
    pub(super) waitlisted: HashSet<Uuid>,
    pub(super) payment_references: OrdSet<String>,
}

impl Fund {
    /// The fund's id, once its budget is allocated.
    pub fn fund_id(&self) -> Option<&str> {
        self.scalars.fund_id.as_deref()
    }

    /// True once the budget is allocated.
    pub fn is_open(&self) -> bool {
        self.scalars.fund_id.is_some()
    }

    /// The last day on which money may be reserved or committed.
    pub fn commit_deadline(&self) -> Option<NaiveDate> {
        self.scalars.commit_deadline
    }

    /// The last day of the locked accounting periods.
    pub fn locked_until(&self) -> Option<NaiveDate> {
        self.scalars.locked_until
    }

    /// The latest value date booked on the fund; no entry may be booked before it.
    pub fn last_value_date(&self) -> Option<NaiveDate> {
        self.scalars.last_value_date
    }

    /// How many events were applied (the aggregate version).
    pub fn entries(&self) -> u64 {
        self.scalars.entries
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
    pub fn projects(&self) -> &OrdMap<Uuid, Project> {
        &self.projects
    }

    /// The waitlist, first come first.
    pub fn waitlist(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.waitlist.iter().copied()
    }

    /// What is available per source.
    pub fn available(&self) -> Amounts {
        FundState::available(self)
    }

    /// The balance of one account per source.
    pub(super) fn per_source(&self, account: &Account) -> Amounts {
        FundState::per_source(self, account)
    }

    /// The date an entry without a value date of its own is booked on: today, or the last date
    /// booked if the clock is behind it, so value dates never go backwards.
    pub fn booking_date(&self, today: NaiveDate) -> NaiveDate {
        self.scalars.booking_date(today)
    }

    /// Where money freed on `on` goes.
    pub(super) fn freed_to(&self, on: NaiveDate) -> FreedTo {
        self.scalars.freed_to(on)
    }
}

/// The head of the waitlist and its request, when the waitlist calls for a reservation on `on`:
/// the fund is open, `on` is not after the deadline, and the head's request fits into what is
/// available in both sources. `None` when the waitlist is served.
///
/// Strict FIFO: only the head is looked at, so the first proposal that does not fit stops the
/// queue (nobody overtakes it). O(1) on the fund, O(what a draft took off the waitlist) on a draft.
pub(super) fn servable_head<S: FundState>(state: &S, on: NaiveDate) -> Option<(Uuid, Amounts)> {
    let scalars = state.scalars();
    if scalars.fund_id.is_none() || scalars.is_after_deadline(on) {
        return None;
    }
    let head = state.first_in_line()?;
    let requested = state.project(head).map_or(Amounts::ZERO, |p| p.requested);
    fits(&requested, &state.available()).then_some((head, requested))
}

/// The `funds_reserved` event that serves the head of the waitlist on `on`, if it fits.
pub(super) fn waitlist_reservation<S: FundState>(state: &S, on: NaiveDate) -> Option<LedgerEvent> {
    let (head, requested) = servable_head(state, on)?;
    let fund_id = state.scalars().fund_id.clone()?;
    Some(
        LedgerEvent::FundsReserved(FundsReserved {
            fund_id,
            proposal_id: head,
            reserved: requested,
            from_waitlist: true,
            value_date: on,
            postings: Vec::new(),
        })
        .journaled(),
    )
}

/// What `apply` does, on the fund or on a draft over it: counts the event, checks it as a whole
/// ([`check_event`]), then the rules of its type. Never refuses; a broken rule is noted.
pub(super) fn fold<S: FundState>(state: &mut S, event: &LedgerEvent) {
    use ProjectStatus::{Closed, Committed, Released, Reserved, Waitlisted};
    state.scalars_mut().entries += 1;
    check_event(state, event);
    let on = event.value_date();
    match event {
        LedgerEvent::BudgetAllocated(e) => {
            let scalars = state.scalars_mut();
            if scalars.fund_id.is_none() {
                scalars.fund_id = Some(e.fund_id.clone());
                scalars.commit_deadline = Some(e.commit_deadline);
            }
        }
        LedgerEvent::BudgetAdjusted(e) => {
            let holds = e.delta_cents.0 <= 0 || !state.scalars().is_after_deadline(on);
            expect_deadline(state, holds, "no budget is added after the deadline");
        }
        LedgerEvent::FundsReserved(e) => {
            expect_status(
                state,
                event,
                e.proposal_id,
                &[None, Some(Waitlisted), Some(Released)],
            );
            let holds = !state.scalars().is_after_deadline(on);
            expect_deadline(state, holds, "nothing is reserved after the deadline");
            state.unlist(e.proposal_id);
        }
        LedgerEvent::ReservationDeclined(e) => {
            expect_status(state, event, e.proposal_id, &[None, Some(Released)]);
            state.list(e.proposal_id);
        }
        LedgerEvent::FundsCommitted(e) => {
            expect_status(
                state,
                event,
                e.proposal_id,
                &[None, Some(Waitlisted), Some(Reserved), Some(Released)],
            );
            let holds = !state.scalars().is_after_deadline(on);
            expect_deadline(state, holds, "nothing is committed after the deadline");
            state.unlist(e.proposal_id);
        }
        LedgerEvent::ReservationReleased(e) => {
            expect_status(
                state,
                event,
                e.proposal_id,
                &[Some(Waitlisted), Some(Reserved)],
            );
            let holds = e.freed_to == state.scalars().freed_to(on);
            expect_deadline(state, holds, FREED_TO_RULE);
            state.unlist(e.proposal_id);
        }
        LedgerEvent::DisbursementRecorded(e) => {
            expect_status(state, event, e.proposal_id, &[Some(Committed)]);
            if state
                .project(e.proposal_id)
                .is_some_and(|project| project.terms.is_some())
            {
                let entry = state.scalars().entries;
                state
                    .scalars_mut()
                    .note(InvariantViolation::PaymentWithoutClaim {
                        entry,
                        proposal_id: e.proposal_id,
                    });
            }
            if !state.book_reference(&e.payment_reference) {
                let entry = state.scalars().entries;
                state
                    .scalars_mut()
                    .note(InvariantViolation::DuplicatePaymentReference {
                        entry,
                        payment_reference: e.payment_reference.clone(),
                    });
            }
        }
        LedgerEvent::CommitmentReleased(e) => {
            expect_status(state, event, e.proposal_id, &[Some(Committed)]);
            let holds = e.freed_to == state.scalars().freed_to(on);
            expect_deadline(state, holds, FREED_TO_RULE);
        }
        LedgerEvent::RecoveryAssessed(e) => {
            expect_status(
                state,
                event,
                e.proposal_id,
                &[Some(Committed), Some(Closed)],
            );
            fold_settle(state, event);
        }
        LedgerEvent::RepaymentReceived(e) => {
            expect_status(
                state,
                event,
                e.proposal_id,
                &[Some(Committed), Some(Closed)],
            );
            fold_settle(state, event);
        }
        LedgerEvent::FinalReportChecked(e) => {
            expect_status(state, event, e.proposal_id, &[Some(Committed)]);
            let holds = e.freed_to == state.scalars().freed_to(on);
            expect_deadline(state, holds, FREED_TO_RULE);
            fold_settle(state, event);
        }
        LedgerEvent::GrantRevoked(e) => {
            expect_status(state, event, e.proposal_id, &[Some(Committed)]);
            let holds = e.freed_to == state.scalars().freed_to(on);
            expect_deadline(state, holds, FREED_TO_RULE);
            fold_settle(state, event);
        }
        LedgerEvent::InterestCharged(e) => {
            expect_status(
                state,
                event,
                e.proposal_id,
                &[Some(Committed), Some(Closed)],
            );
            fold_settle(state, event);
        }
        LedgerEvent::InterestPaid(e) => {
            expect_status(
                state,
                event,
                e.proposal_id,
                &[Some(Committed), Some(Closed)],
            );
        }
        LedgerEvent::CorrectionNoted(e) => {
            // This note is entry `entries`; what it names lies before it, the corrected first.
            let entries = state.scalars().entries;
            if !(1 <= e.corrects_entry && e.corrects_entry < e.by_entry && e.by_entry < entries) {
                let scalars = state.scalars_mut();
                scalars.note(InvariantViolation::MoneyRule {
                    entry: entries,
                    rule: "a correction names an earlier entry corrected by a later one before it",
                });
            }
        }
        LedgerEvent::PeriodLocked(e) => {
            let scalars = state.scalars_mut();
            if scalars.locked_until.is_some_and(|l| e.locked_until <= l) || e.locked_until >= on {
                let entry = scalars.entries;
                scalars.note(InvariantViolation::LockedPeriod {
                    entry,
                    value_date: e.locked_until,
                    locked_until: scalars.locked_until.unwrap_or(e.locked_until),
                });
            }
            scalars.locked_until = Some(e.locked_until);
        }
        LedgerEvent::FundsExpired(_) => {
            let holds = state.scalars().is_after_deadline(on);
            expect_deadline(state, holds, "money expires only after the deadline");
        }
        LedgerEvent::GrantTermsRecorded(e) => {
            expect_status(state, event, e.proposal_id, &[Some(Committed)]);
            fold_claim(state, event);
        }
        LedgerEvent::ClaimSubmitted(e) => {
            expect_status(state, event, e.proposal_id, &[Some(Committed)]);
            fold_claim(state, event);
        }
        LedgerEvent::ClaimReturned(e) => {
            expect_status(state, event, e.proposal_id, &[Some(Committed)]);
            fold_claim(state, event);
        }
        LedgerEvent::ClaimResubmitted(e) => {
            expect_status(state, event, e.proposal_id, &[Some(Committed)]);
            fold_claim(state, event);
        }
        LedgerEvent::ClaimVerified(e) => {
            expect_status(state, event, e.proposal_id, &[Some(Committed)]);
            fold_claim(state, event);
        }
        LedgerEvent::ClaimApproved(e) => {
            expect_status(state, event, e.proposal_id, &[Some(Committed)]);
            fold_claim(state, event);
        }
    }
    if let Some((proposal_id, change)) = event.project_change() {
        apply_change(state, proposal_id, change);
    }
}

/// The deadline rule of every event that frees money.
const FREED_TO_RULE: &str = "freed money goes to available up to the deadline, to expired after it";

/// Notes an event whose project is not in one of the statuses it may follow.
fn expect_status<S: FundState>(
    state: &mut S,
    event: &LedgerEvent,
    proposal_id: Uuid,
    allowed: &[Option<ProjectStatus>],
) {
    let status = state.project(proposal_id).map(|p| p.status);
    if !allowed.contains(&status) {
        let entry = state.scalars().entries;
        state
            .scalars_mut()
            .note(InvariantViolation::InvalidTransition {
                entry,
                proposal_id,
                event_type: event.event_type(),
                status: status.map_or("unknown", ProjectStatus::as_str),
            });
    }
}

/// Notes an event that breaks a deadline rule.
fn expect_deadline<S: FundState>(state: &mut S, holds: bool, rule: &'static str) {
    if !holds {
        let scalars = state.scalars_mut();
        let entry = scalars.entries;
        scalars.note(InvariantViolation::DeadlineRule { entry, rule });
    }
}

/// What the event changes on its project besides money ([`LedgerEvent::project_change`]). A
/// project is known from the first event that gives it a status.
fn apply_change<S: FundState>(state: &mut S, proposal_id: Uuid, change: ProjectChange) {
    let Some(status) = change.status else {
        return;
    };
    match state.project_mut(proposal_id) {
        Some(project) => {
            project.status = status;
            if let Some(requested) = change.requested {
                project.requested = requested;
            }
        }
        None => state.insert_project(
            proposal_id,
            Project {
                status,
                requested: change.requested.unwrap_or(Amounts::ZERO),
                granted: None,
                release_reason: None,
                terms: None,
                claims: Vec::new(),
                recovery: Recovery::default(),
            },
        ),
    }
    if let Some(project) = state.project_mut(proposal_id) {
        project.granted = change.granted.or(project.granted);
        project.release_reason = change.release_reason.or(project.release_reason);
    }
}

/// The checks on an event as a whole: fund, order of value dates, journal entry.
fn check_event<S: FundState>(state: &mut S, event: &LedgerEvent) {
    let scalars = state.scalars_mut();
    let entry = scalars.entries;
    if let Err(malformed) = event.check_entry() {
        scalars.note(InvariantViolation::MalformedEntry {
            entry,
            reason: malformed.0,
        });
    }
    let wrong_fund = match (&scalars.fund_id, event) {
        (None, LedgerEvent::BudgetAllocated(_)) => None,
        (None, _) => Some(InvariantViolation::EventBeforeAllocation { entry }),
        (Some(_), LedgerEvent::BudgetAllocated(_)) => {
            Some(InvariantViolation::AllocatedTwice { entry })
        }
        (Some(fund_id), other) if fund_id != other.fund_id() => {
            Some(InvariantViolation::WrongFund {
                entry,
                expected: fund_id.clone(),
                found: other.fund_id().to_owned(),
            })
        }
        (Some(_), _) => None,
    };
    if let Some(violation) = wrong_fund {
        scalars.note(violation);
    }
    let value_date = event.value_date();
    if let Some(locked_until) = scalars.locked_until {
        if value_date <= locked_until {
            scalars.note(InvariantViolation::LockedPeriod {
                entry,
                value_date,
                locked_until,
            });
        }
    }
    if let Some(last) = scalars.last_value_date {
        if value_date < last {
            scalars.note(InvariantViolation::ValueDateBackwards {
                entry,
                value_date,
                last,
            });
        }
    }
    scalars.last_value_date = Some(
        scalars
            .last_value_date
            .map_or(value_date, |l| l.max(value_date)),
    );
    for posting in event.postings() {
        match state.post(posting) {
            Ok(()) => {
                if posting.debit != posting.credit {
                    let totals = &mut state.scalars_mut().totals[source_index(posting.source)];
                    totals.add(&posting.debit, i128::from(posting.amount_cents.0));
                    totals.add(&posting.credit, -i128::from(posting.amount_cents.0));
                }
            }
            Err(overflow) => state
                .scalars_mut()
                .note(InvariantViolation::BalanceOverflow {
                    entry,
                    reason: overflow.to_string(),
                }),
        }
    }
}

/// The index of a source in [`Scalars::totals`]: the order of [`Source::ALL`].
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
        fold(&mut self, event);
        self
    }

    /// The command's own events, then the waitlist served, all tried on a draft over the fund
    /// first: a decision that would break an invariant is refused with `invariant_violation`
    /// ([`Fund::complete`]).
    fn decide(&self, command: &Command) -> Result<Vec<LedgerEvent>, LedgerError> {
        let events = self.decide_command(command)?;
        if events.is_empty() {
            return Ok(events);
        }
        self.complete(events, command.today())
    }
}
