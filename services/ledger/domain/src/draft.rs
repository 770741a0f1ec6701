//! The running ledger asserts its own invariants: `decide` tries every decision on a [`Draft`]
//! over the fund before returning it, and refuses one that would break an invariant.
//!
//! A draft borrows the fund and holds only what the decision changed: a copy of the
//! [`Scalars`], the balances of the accounts it posted to, the projects it touched, the proposals
//! it took off or put on the waitlist, the payment references it booked. The rules of `apply`
//! ([`fold`]) and [`check_after`] run on it unchanged (they are written over [`FundState`]), so
//! trying a decision costs O(its events · their postings · log accounts), never a copy of the fund,
//! however long its history.
//!
//! [`Fund::complete`] folds the command's own events into the draft and checks what each can have
//! changed, serves the waitlist on the draft (each reservation checked the same way), and asserts
//! that the waitlist is served at the end of the decision ([`check_waitlist_served`]). The first
//! violation refuses the whole decision with [`LedgerError::InvariantViolation`]
//! (`invariant_violation`): nothing of it is appended, and the saga dead-letters it with the
//! violation as its reason. The draft notes only what the decision breaks: a violation already in
//! the fund's history is the auditor's to report.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::ledger::{Account, BalanceOverflow, LedgerEvent, Posting, Source};
use buendel_contract::Cents;

use super::error::LedgerError;
use super::fund::{fold, waitlist_reservation, Fund, Project, Scalars};
use super::invariants::{check_after, check_waitlist_served, InvariantViolation};
use super::state::FundState;

/// A fund with a decision folded in, without copying the fund: reads fall through to the fund
/// for whatever the decision did not change.
pub(super) struct Draft<'a> {
    /// The fund as loaded.
    base: &'a Fund,
    /// The fund's scalars after the decision's events (no violation noted before them).
    scalars: Scalars,
    /// The balance of every account the decision posted to, whole (not a difference).
    balances: BTreeMap<(Source, Account), i64>,
    /// Every project the decision touched, as it is after it.
    projects: BTreeMap<Uuid, Project>,
    /// Proposals on the fund's waitlist that the decision took off it.
    unlisted: HashSet<Uuid>,
    /// Proposals the decision put on the waitlist, behind the fund's, first come first.
    listed: VecDeque<Uuid>,
    /// Payment references the decision booked.
    references: BTreeSet<String>,
}

impl<'a> Draft<'a> {
    /// A draft of `base` with nothing changed yet.
    pub(super) fn over(base: &'a Fund) -> Self {
        let scalars = Scalars {
            fund_id: base.scalars.fund_id.clone(),
            commit_deadline: base.scalars.commit_deadline,
            last_value_date: base.scalars.last_value_date,
            locked_until: base.scalars.locked_until,
            totals: base.scalars.totals,
            entries: base.scalars.entries,
            first_violation: None,
        };
        Self {
            base,
            scalars,
            balances: BTreeMap::new(),
            projects: BTreeMap::new(),
            unlisted: HashSet::new(),
            listed: VecDeque::new(),
            references: BTreeSet::new(),
        }
    }

    /// Folds one event in as `apply` would, then checks what it can have changed.
    pub(super) fn fold_checked(&mut self, event: &LedgerEvent) -> Result<(), InvariantViolation> {
        fold(self, event);
        check_after(self, event)
    }
}

impl FundState for Draft<'_> {
    fn scalars(&self) -> &Scalars {
        &self.scalars
    }

    fn scalars_mut(&mut self) -> &mut Scalars {
        &mut self.scalars
    }

    fn balance(&self, source: Source, account: &Account) -> Cents {
        match self.balances.get(&(source, *account)) {
            Some(cents) => Cents(*cents),
            None => self.base.book.balance(source, account),
        }
    }

    fn post(&mut self, posting: &Posting) -> Result<(), BalanceOverflow> {
        if posting.debit == posting.credit {
            // Money moved from an account into itself: nothing changes (as in `AccountBook`).
            return Ok(());
        }
        let debit = self
            .balance(posting.source, &posting.debit)
            .0
            .checked_add(posting.amount_cents.0)
            .ok_or(BalanceOverflow(*posting))?;
        let credit = self
            .balance(posting.source, &posting.credit)
            .0
            .checked_sub(posting.amount_cents.0)
            .ok_or(BalanceOverflow(*posting))?;
        self.balances.insert((posting.source, posting.debit), debit);
        self.balances
            .insert((posting.source, posting.credit), credit);
        Ok(())
    }

    fn project(&self, proposal_id: Uuid) -> Option<&Project> {
        self.projects
            .get(&proposal_id)
            .or_else(|| self.base.projects.get(&proposal_id))
    }

    fn project_mut(&mut self, proposal_id: Uuid) -> Option<&mut Project> {
        if !self.projects.contains_key(&proposal_id) {
            let copy = self.base.projects.get(&proposal_id)?.clone();
            self.projects.insert(proposal_id, copy);
        }
        self.projects.get_mut(&proposal_id)
    }

    fn insert_project(&mut self, proposal_id: Uuid, project: Project) {
        self.projects.insert(proposal_id, project);
    }

    fn is_listed(&self, proposal_id: Uuid) -> bool {
        self.listed.contains(&proposal_id)
            || (self.base.waitlisted.contains(&proposal_id)
                && !self.unlisted.contains(&proposal_id))
    }

    fn list(&mut self, proposal_id: Uuid) {
        if !self.is_listed(proposal_id) {
            self.listed.push_back(proposal_id);
        }
    }

    fn unlist(&mut self, proposal_id: Uuid) {
        if let Some(index) = self.listed.iter().position(|id| *id == proposal_id) {
            self.listed.remove(index);
        } else if self.base.waitlisted.contains(&proposal_id) {
            self.unlisted.insert(proposal_id);
        }
    }

    fn first_in_line(&self) -> Option<Uuid> {
        // Skips only what the decision took off the waitlist (mostly its head).
        self.base
            .waitlist
            .iter()
            .copied()
            .find(|id| !self.unlisted.contains(id))
            .or_else(|| self.listed.front().copied())
    }

    fn line_len(&self) -> usize {
        self.base.waitlist.len().saturating_sub(self.unlisted.len()) + self.listed.len()
    }

    fn book_reference(&mut self, payment_reference: &str) -> bool {
        !self.base.payment_references.contains(payment_reference)
            && self.references.insert(payment_reference.to_owned())
    }
}

impl Fund {
    /// Completes and asserts a decision: `events` (the command's own, decided on this fund for a
    /// command given on `today`) are folded into a draft and checked one by one, the waitlist is
    /// served on the draft (each reservation checked too), and the waitlist must be served at the
    /// end. Returns every event of the decision, or refuses it whole with the first violation.
    pub(super) fn complete(
        &self,
        mut events: Vec<LedgerEvent>,
        today: NaiveDate,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let refused = |violation| LedgerError::InvariantViolation { violation };
        let mut draft = Draft::over(self);
        for event in &events {
            draft.fold_checked(event).map_err(refused)?;
        }
        let on = draft.scalars().booking_date(today);
        // Each round takes the head off the waitlist, so this is bounded by its length.
        for _ in 0..draft.line_len() {
            let Some(event) = waitlist_reservation(&draft, on) else {
                break;
            };
            draft.fold_checked(&event).map_err(refused)?;
            events.push(event);
        }
        check_waitlist_served(&draft, on).map_err(refused)?;
        Ok(events)
    }
}
