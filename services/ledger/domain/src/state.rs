//! [`FundState`]: what the rules of a fund read and write, so that they are written once and run
//! on the fund itself or on a [`Draft`](super::draft::Draft) over it.
//!
//! The primitives are the fund's parts: its [`Scalars`], the balances of the book, the projects,
//! the waitlist (first come, first served, each id once) and the payment references. `apply`
//! ([`fold`](super::fund::fold)), `check_after` and the serving rule of the waitlist use nothing
//! else, so a draft that overlays what a decision changed gives them exactly the state the fund
//! would have after it.

use uuid::Uuid;

use buendel_contract::ledger::{Account, Amounts, BalanceOverflow, Posting, Source};
use buendel_contract::Cents;

use super::fund::{Fund, Project, Scalars};

/// The state the rules of a fund work on.
pub(super) trait FundState {
    /// The dates, running totals, version and first violation.
    fn scalars(&self) -> &Scalars;
    /// The same, to change.
    fn scalars_mut(&mut self) -> &mut Scalars;
    /// The balance of one account of one source (zero if never posted to).
    fn balance(&self, source: Source, account: &Account) -> Cents;
    /// Books one posting as [`buendel_contract::ledger::AccountBook::post`] does; on overflow
    /// nothing is booked.
    fn post(&mut self, posting: &Posting) -> Result<(), BalanceOverflow>;
    /// One project, if the fund has seen it.
    fn project(&self, proposal_id: Uuid) -> Option<&Project>;
    /// One project, to change.
    fn project_mut(&mut self, proposal_id: Uuid) -> Option<&mut Project>;
    /// A project the fund has not seen.
    fn insert_project(&mut self, proposal_id: Uuid, project: Project);
    /// True when the proposal is on the waitlist.
    fn is_listed(&self, proposal_id: Uuid) -> bool;
    /// Puts the proposal at the end of the waitlist, unless it is on it already.
    fn list(&mut self, proposal_id: Uuid);
    /// Takes the proposal off the waitlist, wherever it stands.
    fn unlist(&mut self, proposal_id: Uuid);
    /// The head of the waitlist.
    fn first_in_line(&self) -> Option<Uuid>;
    /// How many proposals wait.
    fn line_len(&self) -> usize;
    /// Records a payment reference; false when it was booked already.
    fn book_reference(&mut self, payment_reference: &str) -> bool;

    /// The balance of one account per source.
    fn per_source(&self, account: &Account) -> Amounts {
        Amounts {
            esf_cents: self.balance(Source::EsfPlus, account),
            land_cents: self.balance(Source::Land, account),
        }
    }

    /// What is available per source.
    fn available(&self) -> Amounts {
        self.per_source(&Account::Available)
    }
}

impl FundState for Fund {
    fn scalars(&self) -> &Scalars {
        &self.scalars
    }

    fn scalars_mut(&mut self) -> &mut Scalars {
        &mut self.scalars
    }

    fn balance(&self, source: Source, account: &Account) -> Cents {
        self.book.balance(source, account)
    }

    fn post(&mut self, posting: &Posting) -> Result<(), BalanceOverflow> {
        self.book.post(posting)
    }

    fn project(&self, proposal_id: Uuid) -> Option<&Project> {
        self.projects.get(&proposal_id)
    }

    fn project_mut(&mut self, proposal_id: Uuid) -> Option<&mut Project> {
        self.projects.get_mut(&proposal_id)
    }

    fn insert_project(&mut self, proposal_id: Uuid, project: Project) {
        self.projects.insert(proposal_id, project);
    }

    fn is_listed(&self, proposal_id: Uuid) -> bool {
        self.waitlisted.contains(&proposal_id)
    }

    fn list(&mut self, proposal_id: Uuid) {
        if self.waitlisted.insert(proposal_id).is_none() {
            self.waitlist.push_back(proposal_id);
        }
    }

    fn unlist(&mut self, proposal_id: Uuid) {
        if self.waitlisted.remove(&proposal_id).is_none() {
            return;
        }
        // Served first come, first served: usually the head.
        if self.waitlist.front() == Some(&proposal_id) {
            self.waitlist.pop_front();
        } else {
            self.waitlist.retain(|id| *id != proposal_id);
        }
    }

    fn first_in_line(&self) -> Option<Uuid> {
        self.waitlist.front().copied()
    }

    fn line_len(&self) -> usize {
        self.waitlist.len()
    }

    fn book_reference(&mut self, payment_reference: &str) -> bool {
        self.payment_references
            .insert(payment_reference.to_owned())
            .is_none()
    }
}
