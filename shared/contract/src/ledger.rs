//! The funding ledger's events (`buendel.ledger.*`), one subject per fund: `<ns>.ledger.<fund_id>`
//! (stream LEDGER); the chart of accounts they post to; the balances derived from the postings; and
//! the hash chain that links a fund's events.
//!
//! A **fund** is one alliance's budget for one funding period, id `<alliance>-<first>-<last>` such as
//! `non-2021-2027`, with two sources of money: [`Source::EsfPlus`] and [`Source::Land`].
//!
//! # Chart of accounts
//!
//! Every account exists once per fund and source; the project accounts also once per proposal (p).
//! A [`Posting`] moves `amount_cents` (always > 0) of one source from its `credit` account into its
//! `debit` account. The balance of an account is the sum debited to it minus the sum credited from it.
//!
//! | account | per | holds | balance |
//! |---|---|---|---|
//! | `budget` | fund | the funder's side: money given to the fund is credited here | ≤ 0 |
//! | `available` | fund | allocated, not bound to any project, free to reserve | ≥ 0 |
//! | `reserved` | project | held for a positive statement until the bank decides | ≥ 0 |
//! | `committed` | project | granted by the bank and not yet paid | ≥ 0 |
//! | `disbursed` | project | paid to the beneficiary and not assessed for recovery | ≥ 0 |
//! | `receivable` | project | assessed for recovery (clawback principal), not yet repaid | ≥ 0 |
//! | `repaid` | project | recovered principal the beneficiary paid back | ≥ 0 |
//! | `expired` | fund | freed after the commitment deadline: can never be bound again | ≥ 0 |
//! | `interest` | fund | the funders' side of interest charged on recoveries (§ 49a VwVfG) | ≤ 0 |
//! | `interest_receivable` | project | interest charged, not yet paid | ≥ 0 |
//! | `interest_paid` | project | interest the beneficiary paid | ≥ 0 |
//!
//! Interest is outside the grant's money: it never counts in *allocated* or its parts, and is
//! booked separately from the principal (`receivable`, `repaid`).
//!
//! Every money invariant of the ledger is "no balance negative" (and `budget` never positive):
//! `available ≥ 0` is *reserved + committed + expired ≤ allocated*; `committed(p) ≥ 0` is *disbursed ≤
//! committed*; `disbursed(p) ≥ 0` is *recovered ≤ disbursed*; `receivable(p) ≥ 0` is *repaid ≤
//! recovered*. Repaid money goes back to the funder's program and is not available again; an operator
//! who may re-use it books an `adjust_budget`.
//!
//! # Balances (the figures people read), per source, for the fund and per project
//!
//! | figure | sum of the balances of |
//! |---|---|
//! | allocated | −`budget` (allocations and adjustments) |
//! | available | `available` |
//! | reserved | `reserved(p)` |
//! | committed | `committed(p)` + `disbursed(p)` + `receivable(p)` + `repaid(p)`: granted, less what was released; includes what was paid |
//! | unpaid | `committed(p)` (= committed − disbursed) |
//! | disbursed | `disbursed(p)` + `receivable(p)` + `repaid(p)`: everything paid out |
//! | recovered | `receivable(p)` + `repaid(p)`: clawback principal assessed |
//! | receivable | `receivable(p)` (= recovered − repaid) |
//! | repaid | `repaid(p)` |
//! | expired | `expired` |
//!
//! The whole and its parts: **allocated = available + reserved + committed + expired** per source,
//! which is the trial balance (the balances of all accounts of a source sum to zero); and every
//! figure of `esf_plus` plus the same figure of `land` is the fund's total. [`AccountBook`] folds
//! postings into balances; [`KindBalances`] is the one rule that turns balances summed per
//! [`AccountKind`] into the figures ([`AccountBook::fund_balances`] and
//! [`AccountBook::project_balances`] use it), so the service, the projector, the API and the
//! auditor count alike. [`ProjectBalances::from_stored`] gives back the two figures that are
//! differences of others. [`LedgerEvent::project_change`] is what an event does to its project's
//! [`ProjectStatus`], requested split, grant and release reason.
//!
//! # Journal entries
//!
//! Each event is exactly one balanced entry. Per source (debit ← credit), zero amounts left out:
//!
//! | event | postings |
//! |---|---|
//! | `budget_allocated` | available ← budget |
//! | `budget_adjusted` | delta > 0: available ← budget; delta < 0: budget ← available |
//! | `funds_reserved` | reserved(p) ← available |
//! | `reservation_declined` | none (the proposal joins the waitlist) |
//! | `funds_committed` | reserved(p) ← available (`topped_up`); committed(p) ← reserved(p) (`granted`); available ← reserved(p) (`released`) |
//! | `reservation_released` | available or expired (`freed_to`) ← reserved(p) |
//! | `disbursement_recorded` | disbursed(p) ← committed(p) |
//! | `commitment_released` | available or expired (`freed_to`) ← committed(p) |
//! | `recovery_assessed` | receivable(p) ← disbursed(p) |
//! | `repayment_received` | repaid(p) ← receivable(p) |
//! | `funds_expired` | expired ← available |
//! | `final_report_checked` | available or expired (`freed_to`) ← committed(p) (`released`: the commitment the final grant does not use) |
//! | `grant_revoked` | available or expired (`freed_to`) ← committed(p) (`released`) |
//! | `interest_charged` | interest_receivable(p) ← interest |
//! | `interest_paid` | interest_paid(p) ← interest_receivable(p) |
//! | `period_locked` | none (no entry may carry a value date on or before `locked_until` after it) |
//! | `correction_noted` | none (names the entry a later entry corrects) |
//! | `grant_terms_recorded` | none (the grant's period and rates, which claims are checked against) |
//! | `claim_submitted`, `claim_verified`, `claim_returned`, `claim_resubmitted` | none (a payment claim's way through management verification) |
//! | `claim_approved` | disbursed(p) ← committed(p) (the verified claim is paid) |
//!
//! Postings are ordered `esf_plus` first, then `land`; within a source in the order of the table.
//! [`LedgerEvent::expected_postings`] builds them from the typed fields, [`LedgerEvent::journaled`]
//! fills them in, and [`LedgerEvent::check_entry`] verifies that an event's postings are exactly
//! those, so the typed amounts and the journal can never disagree unnoticed.
//!
//! # Hash chain
//!
//! Every ledger envelope carries `prevhash` (the `hash` of the fund's previous event, or
//! [`GENESIS_HASH`] for its first event) and `hash` = [`event_hash`]: the lowercase hex SHA-256 of
//! the RFC 8785 canonical JSON of the whole envelope without its `hash` member (`prevhash`
//! included). [`seal`] sets both.

use std::fmt;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::canonical::{sha256_hex, NotCanonical};
use crate::money::{BasisPoints, Cents};
use crate::{Envelope, EventKind};

/// Where a fund's money comes from. Every posting and every balance is per source.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The European Social Fund Plus.
    EsfPlus,
    /// The Land Lower Saxony's co-financing.
    Land,
}

impl Source {
    /// Both sources, in the order postings list them.
    pub const ALL: [Source; 2] = [Source::EsfPlus, Source::Land];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::EsfPlus => "esf_plus",
            Source::Land => "land",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount per source: how every money field of a ledger event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub struct Amounts {
    /// The ESF+ part, in cents.
    pub esf_cents: Cents,
    /// The Land part, in cents.
    pub land_cents: Cents,
}

impl Amounts {
    /// Nothing in either source.
    pub const ZERO: Amounts = Amounts {
        esf_cents: Cents::ZERO,
        land_cents: Cents::ZERO,
    };

    /// `self + other` per source, saturating at the bounds of `i64` (only forged amounts reach
    /// them).
    pub fn saturating_add(&self, other: &Amounts) -> Amounts {
        Amounts::new(
            self.esf_cents.0.saturating_add(other.esf_cents.0),
            self.land_cents.0.saturating_add(other.land_cents.0),
        )
    }

    /// `self − other` per source, saturating.
    pub fn saturating_sub(&self, other: &Amounts) -> Amounts {
        Amounts::new(
            self.esf_cents.0.saturating_sub(other.esf_cents.0),
            self.land_cents.0.saturating_sub(other.land_cents.0),
        )
    }

    /// The larger part per source.
    pub fn max_each(&self, other: &Amounts) -> Amounts {
        Amounts {
            esf_cents: self.esf_cents.max(other.esf_cents),
            land_cents: self.land_cents.max(other.land_cents),
        }
    }

    /// Both parts at once.
    pub fn new(esf_cents: i64, land_cents: i64) -> Self {
        Self {
            esf_cents: Cents(esf_cents),
            land_cents: Cents(land_cents),
        }
    }

    /// The part of one source.
    pub fn get(&self, source: Source) -> Cents {
        match source {
            Source::EsfPlus => self.esf_cents,
            Source::Land => self.land_cents,
        }
    }

    /// Sets the part of one source.
    pub fn set(&mut self, source: Source, cents: Cents) {
        match source {
            Source::EsfPlus => self.esf_cents = cents,
            Source::Land => self.land_cents = cents,
        }
    }

    /// The whole: ESF+ plus Land; `None` on overflow.
    pub fn total(&self) -> Option<Cents> {
        self.esf_cents.checked_add(self.land_cents)
    }

    /// True when both parts are zero.
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }
}

impl fmt::Display for Amounts {
    /// `ESF+ 120.00 EUR, Land 20.00 EUR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ESF+ {} EUR, Land {} EUR",
            self.esf_cents, self.land_cents
        )
    }
}

/// One account of a fund's chart of accounts (see the module documentation). The source is not
/// part of the account: it is named by the [`Posting`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Account {
    /// The funder's side; its balance is minus what was allocated.
    Budget,
    /// Allocated and not bound to a project.
    Available,
    /// Held for a project with a positive statement.
    Reserved {
        /// The project.
        proposal_id: Uuid,
    },
    /// Granted to a project and not yet paid.
    Committed {
        /// The project.
        proposal_id: Uuid,
    },
    /// Paid to a project and not assessed for recovery.
    Disbursed {
        /// The project.
        proposal_id: Uuid,
    },
    /// Assessed for recovery from a project, not yet repaid.
    Receivable {
        /// The project.
        proposal_id: Uuid,
    },
    /// Repaid by a project after a recovery.
    Repaid {
        /// The project.
        proposal_id: Uuid,
    },
    /// Freed after the commitment deadline; never bound again.
    Expired,
    /// The funders' side of interest charged on recoveries; its balance is minus what was charged.
    Interest,
    /// Interest charged to a project, not yet paid.
    InterestReceivable {
        /// The project.
        proposal_id: Uuid,
    },
    /// Interest a project paid.
    InterestPaid {
        /// The project.
        proposal_id: Uuid,
    },
}

/// The kind of an account, without its project: what the read models key balances by and what
/// the figures are sums of. [`AccountKind::ALL`] is the chart of accounts, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountKind {
    /// See [`Account::Budget`].
    Budget,
    /// See [`Account::Available`].
    Available,
    /// See [`Account::Reserved`].
    Reserved,
    /// See [`Account::Committed`].
    Committed,
    /// See [`Account::Disbursed`].
    Disbursed,
    /// See [`Account::Receivable`].
    Receivable,
    /// See [`Account::Repaid`].
    Repaid,
    /// See [`Account::Expired`].
    Expired,
    /// See [`Account::Interest`].
    Interest,
    /// See [`Account::InterestReceivable`].
    InterestReceivable,
    /// See [`Account::InterestPaid`].
    InterestPaid,
}

impl AccountKind {
    /// Every account kind, in the order of the chart of accounts.
    pub const ALL: [AccountKind; 11] = [
        AccountKind::Budget,
        AccountKind::Available,
        AccountKind::Reserved,
        AccountKind::Committed,
        AccountKind::Disbursed,
        AccountKind::Receivable,
        AccountKind::Repaid,
        AccountKind::Expired,
        AccountKind::Interest,
        AccountKind::InterestReceivable,
        AccountKind::InterestPaid,
    ];

    /// The wire name, e.g. `reserved` (the `kind` of an account in events and read models).
    pub const fn as_str(self) -> &'static str {
        match self {
            AccountKind::Budget => "budget",
            AccountKind::Available => "available",
            AccountKind::Reserved => "reserved",
            AccountKind::Committed => "committed",
            AccountKind::Disbursed => "disbursed",
            AccountKind::Receivable => "receivable",
            AccountKind::Repaid => "repaid",
            AccountKind::Expired => "expired",
            AccountKind::Interest => "interest",
            AccountKind::InterestReceivable => "interest_receivable",
            AccountKind::InterestPaid => "interest_paid",
        }
    }

    /// The kind of a wire name; `None` for a name that is no account kind.
    pub fn parse(name: &str) -> Option<AccountKind> {
        AccountKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// Its place in [`AccountKind::ALL`].
    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Account {
    /// The account's kind.
    pub fn account_kind(&self) -> AccountKind {
        match self {
            Account::Budget => AccountKind::Budget,
            Account::Available => AccountKind::Available,
            Account::Reserved { .. } => AccountKind::Reserved,
            Account::Committed { .. } => AccountKind::Committed,
            Account::Disbursed { .. } => AccountKind::Disbursed,
            Account::Receivable { .. } => AccountKind::Receivable,
            Account::Repaid { .. } => AccountKind::Repaid,
            Account::Expired => AccountKind::Expired,
            Account::Interest => AccountKind::Interest,
            Account::InterestReceivable { .. } => AccountKind::InterestReceivable,
            Account::InterestPaid { .. } => AccountKind::InterestPaid,
        }
    }

    /// The account kind's wire name, e.g. `reserved`.
    pub fn kind(&self) -> &'static str {
        self.account_kind().as_str()
    }

    /// The project of a project account; `None` for the fund accounts.
    pub fn proposal_id(&self) -> Option<Uuid> {
        match self {
            Account::Budget | Account::Available | Account::Expired | Account::Interest => None,
            Account::Reserved { proposal_id }
            | Account::Committed { proposal_id }
            | Account::Disbursed { proposal_id }
            | Account::Receivable { proposal_id }
            | Account::Repaid { proposal_id }
            | Account::InterestReceivable { proposal_id }
            | Account::InterestPaid { proposal_id } => Some(*proposal_id),
        }
    }

    /// True for `budget` and `interest`, the accounts whose balance is never positive.
    pub fn is_credit_normal(&self) -> bool {
        matches!(self, Account::Budget | Account::Interest)
    }
}

impl fmt::Display for Account {
    /// `available`, or `reserved:<proposal_id>` for a project account (used in CSV exports).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proposal_id() {
            Some(id) => write!(f, "{}:{id}", self.kind()),
            None => f.write_str(self.kind()),
        }
    }
}

/// One line of a journal entry: `amount_cents` of `source` moves from `credit` into `debit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Posting {
    /// The account that receives the money (its balance grows).
    pub debit: Account,
    /// The account the money leaves (its balance shrinks).
    pub credit: Account,
    /// How much; always > 0.
    pub amount_cents: Cents,
    /// Which source's money.
    pub source: Source,
}

/// Where money freed from a project goes: back to `available` up to the commitment deadline,
/// to `expired` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FreedTo {
    /// Free to reserve again (on or before the deadline).
    Available,
    /// Lost to the fund (after the deadline).
    Expired,
}

impl FreedTo {
    /// The account freed money is debited to.
    pub fn account(self) -> Account {
        match self {
            FreedTo::Available => Account::Available,
            FreedTo::Expired => Account::Expired,
        }
    }
}

/// Why a reservation was declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    /// `available` does not cover the request in at least one source (see `shortfall`).
    InsufficientFunds,
    /// The money would be there, but earlier proposals wait: the waitlist is strictly FIFO.
    QueuedBehindWaitlist,
}

/// Why a reservation was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// The applicant withdrew the proposal.
    Withdrawn,
    /// The bank refused the grant.
    Refused,
    /// The reservation ran out (no filing in time) or the deadline passed.
    Expired,
    /// An operator cancelled it (the reason is in the command's audit trail).
    Cancelled,
}

/// Where a project stands in its fund: the Fund aggregate's status of it, as the read models
/// store it (`proposal_money.status`). [`LedgerEvent::project_change`] says which event sets which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    /// Every status.
    pub const ALL: [ProjectStatus; 5] = [
        ProjectStatus::Waitlisted,
        ProjectStatus::Reserved,
        ProjectStatus::Committed,
        ProjectStatus::Closed,
        ProjectStatus::Released,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Waitlisted => "waitlisted",
            ProjectStatus::Reserved => "reserved",
            ProjectStatus::Committed => "committed",
            ProjectStatus::Closed => "closed",
            ProjectStatus::Released => "released",
        }
    }

    /// The status of a wire name; `None` for a name that is no project status.
    pub fn parse(name: &str) -> Option<ProjectStatus> {
        ProjectStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl ReleaseReason {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReleaseReason::Withdrawn => "withdrawn",
            ReleaseReason::Refused => "refused",
            ReleaseReason::Expired => "expired",
            ReleaseReason::Cancelled => "cancelled",
        }
    }
}

/// What a ledger event does to its project beyond the balances: the one rule the Fund aggregate
/// applies and the projector projects. `None` fields leave what was there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProjectChange {
    /// The project's status after the event.
    pub status: Option<ProjectStatus>,
    /// The split of a new reservation request (reserved, or declined and waitlisted).
    pub requested: Option<Amounts>,
    /// The granted split, on a commitment.
    pub granted: Option<Amounts>,
    /// Why its reservation was released.
    pub release_reason: Option<ReleaseReason>,
}

impl ProjectChange {
    /// This change after `earlier` (of the same project): later values win, unset ones keep the
    /// earlier, so a batch of events folds into one change.
    pub fn after(self, earlier: ProjectChange) -> ProjectChange {
        ProjectChange {
            status: self.status.or(earlier.status),
            requested: self.requested.or(earlier.requested),
            granted: self.granted.or(earlier.granted),
            release_reason: self.release_reason.or(earlier.release_reason),
        }
    }
}

/// `buendel.ledger.budget_allocated.v1`: the fund is opened with its budget per source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BudgetAllocated {
    /// The fund, `<alliance>-<first>-<last>`.
    pub fund_id: String,
    /// The budget per source.
    pub allocated: Amounts,
    /// The last day on which money may be reserved or committed.
    pub commit_deadline: NaiveDate,
    /// The day the entry takes effect (balances `as_of` a date use it).
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.budget_adjusted.v1`: the funder raised or cut one source's budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BudgetAdjusted {
    /// The fund.
    pub fund_id: String,
    /// Which source.
    pub source: Source,
    /// Signed change: positive raises, negative cuts (never below what is available).
    pub delta_cents: Cents,
    /// Why (e.g. the ministry's letter).
    pub reason: String,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.funds_reserved.v1`: money is held for a proposal with a positive statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FundsReserved {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The requested grant, split by the region's rates.
    pub reserved: Amounts,
    /// True when the proposal came off the waitlist because money was freed.
    pub from_waitlist: bool,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.reservation_declined.v1`: the fund could not reserve; the proposal is waitlisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationDeclined {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// What was asked for, per source.
    pub requested: Amounts,
    /// What was available when it was asked, per source.
    pub available: Amounts,
    /// How much was missing per source (`requested − available`, at least zero).
    pub shortfall: Amounts,
    /// Why.
    pub reason: DeclineReason,
    /// The proposal's place on the waitlist, 1 for the first.
    pub waitlist_position: u32,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry (always empty: nothing moves).
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.funds_committed.v1`: the bank granted; the grant is committed and the rest of
/// the reservation released, in one entry. A grant above the reservation reserved the difference first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FundsCommitted {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The granted amounts, now committed.
    pub granted: Amounts,
    /// What was reserved on top of the reservation because the grant exceeded it.
    pub topped_up: Amounts,
    /// The rest of the reservation, back to `available`.
    pub released: Amounts,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.reservation_released.v1`: a reservation (or a waitlist place, with zero amounts)
/// ends without a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationReleased {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// What was held, now freed (zero for a waitlisted proposal).
    pub released: Amounts,
    /// Why.
    pub reason: ReleaseReason,
    /// Back to `available` (up to the deadline) or `expired` (after it).
    pub freed_to: FreedTo,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.disbursement_recorded.v1`: a tranche was paid to the beneficiary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DisbursementRecorded {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The bank's payment reference; unique within the fund.
    pub payment_reference: String,
    /// What was paid per source.
    pub paid: Amounts,
    /// The payment's value date.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.commitment_released.v1`: the project was closed; what was committed and not
/// paid is freed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommitmentReleased {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The unpaid commitment, now freed (may be zero).
    pub released: Amounts,
    /// Back to `available` (up to the deadline) or `expired` (after it).
    pub freed_to: FreedTo,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.recovery_assessed.v1`: part of what was paid must be paid back (clawback principal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecoveryAssessed {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The principal to recover per source (interest is not booked here).
    pub principal: Amounts,
    /// Why (e.g. final report audited, grant revoked under § 49 VwVfG).
    pub reason: String,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.repayment_received.v1`: the beneficiary paid back recovered principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RepaymentReceived {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// What was repaid per source.
    pub repaid: Amounts,
    /// The payment's value date.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.funds_expired.v1`: after the deadline, what was still available expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FundsExpired {
    /// The fund.
    pub fund_id: String,
    /// What expired per source.
    pub expired: Amounts,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// The terms of a grant decision that the ledger checks payment claims against: the bank's
/// reference, the eligible costs and rates granted, and the grant period (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantTerms {
    /// The bank's reference of the decision (Zuwendungsbescheid).
    pub bank_reference: String,
    /// Eligible costs as granted.
    pub eligible_cost_cents: Cents,
    /// Total grant rate.
    pub total_rate_bp: BasisPoints,
    /// ESF+ rate (part of the total rate).
    pub esf_rate_bp: BasisPoints,
    /// First day of the grant period.
    pub period_from: NaiveDate,
    /// Last day of the grant period.
    pub period_to: NaiveDate,
}

/// `buendel.ledger.grant_terms_recorded.v1`: the terms of the grant just committed, appended in
/// the same decision as its `funds_committed`. No postings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantTermsRecorded {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The terms.
    pub terms: GrantTerms,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry (always empty).
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.claim_submitted.v1`: a project submits a payment claim (Mittelabruf). Starts
/// the 80-day clock of CPR Art. 74(1)(b) on its value date. No postings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimSubmitted {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The claim, unique within the fund.
    pub claim_id: Uuid,
    /// First day of the period the expenditure falls in.
    pub period_from: NaiveDate,
    /// Last day of that period (inclusive).
    pub period_to: NaiveDate,
    /// The eligible expenditure declared.
    pub declared_eligible_cents: Cents,
    /// What is asked per source.
    pub asked: Amounts,
    /// The reference of the list of receipts (Belegliste).
    pub receipts_reference: String,
    /// Who submitted it.
    pub submitted_by: String,
    /// The day the claim was submitted.
    pub value_date: NaiveDate,
    /// The journal entry (always empty).
    pub postings: Vec<Posting>,
}

/// One cut a verifier makes to a claim, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimCut {
    /// What is cut per source.
    pub cut: Amounts,
    /// Why (the receipt or cost line and the rule).
    pub reason: String,
}

/// `buendel.ledger.claim_verified.v1`: management verification (CPR Art. 74(1)(a)) accepted the
/// claim fully or in part; every cut names its reason. No postings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimVerified {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The claim.
    pub claim_id: Uuid,
    /// The officer who verified it.
    pub verified_by: String,
    /// What is accepted per source: asked less the cuts.
    pub accepted: Amounts,
    /// The cuts, each with its reason (empty when accepted in full).
    pub cuts: Vec<ClaimCut>,
    /// The day of the verification.
    pub value_date: NaiveDate,
    /// The journal entry (always empty).
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.claim_returned.v1`: the verifier sent the claim back for missing information;
/// the 80-day clock pauses. No postings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimReturned {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The claim.
    pub claim_id: Uuid,
    /// The officer who sent it back.
    pub returned_by: String,
    /// What is missing.
    pub missing: String,
    /// The day it was sent back: the clock pauses from this day.
    pub value_date: NaiveDate,
    /// The journal entry (always empty).
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.claim_resubmitted.v1`: the project answered; the 80-day clock resumes. No
/// postings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimResubmitted {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The claim.
    pub claim_id: Uuid,
    /// The reference of the completed list of receipts.
    pub receipts_reference: String,
    /// The day it came back: the clock runs again from this day.
    pub value_date: NaiveDate,
    /// The journal entry (always empty).
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.claim_approved.v1`: a second officer, never the verifier, approved the payment
/// of the verified claim; the accepted amount is paid on the value date and the clock stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimApproved {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The claim.
    pub claim_id: Uuid,
    /// The officer who approved the payment.
    pub approved_by: String,
    /// The bank's payment reference; unique within the fund.
    pub payment_reference: String,
    /// What is paid per source: the accepted amount.
    pub paid: Amounts,
    /// The payment's value date.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// The legal basis of a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum LegalBasis {
    /// § 48 VwVfG: withdrawal of an unlawful grant (Rücknahme).
    #[serde(rename = "vwvfg_48")]
    Withdrawal,
    /// § 49 VwVfG: revocation of a lawful grant (Widerruf), e.g. for purposes not met.
    #[serde(rename = "vwvfg_49")]
    Revocation,
}

/// Whether a revocation reaches into the past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// With effect for the past (ex tunc): what was paid beyond the remaining grant is recovered.
    ExTunc,
    /// For the future only (ex nunc): nothing paid is recovered; the unpaid commitment is freed.
    ExNunc,
}

/// `buendel.ledger.final_report_checked.v1`: the final report (Verwendungsnachweis) was checked;
/// the final grant is recomputed from the eligible costs incurred at the grant's rates (never
/// above the grant). The commitment the final grant does not use is freed; what was paid beyond
/// it is recovered by the `recovery_assessed` of the same decision; what is still due is paid by
/// a final claim. With nothing still due the project is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FinalReportChecked {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The report's reference.
    pub report_reference: String,
    /// The eligible costs incurred, as checked.
    pub eligible_cost_cents: Cents,
    /// The final grant per source.
    pub final_grant: Amounts,
    /// What was paid and not recovered before the check.
    pub paid: Amounts,
    /// What was paid beyond the final grant: recovered.
    pub recovery: Amounts,
    /// What is still due to the project: paid by a final claim.
    pub final_payment: Amounts,
    /// The commitment freed.
    pub released: Amounts,
    /// Back to `available` (up to the deadline) or `expired` (after it).
    pub freed_to: FreedTo,
    /// Who checked it.
    pub checked_by: String,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.grant_revoked.v1`: the grant was withdrawn (§ 48 VwVfG) or revoked (§ 49),
/// in whole or in part, with or without effect for the past. The unpaid commitment above the
/// remaining grant is freed; what was paid beyond it (ex tunc) is recovered by the
/// `recovery_assessed` of the same decision, bearing interest from `interest_from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantRevoked {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// § 48 or § 49 VwVfG.
    pub legal_basis: LegalBasis,
    /// Ex tunc or ex nunc.
    pub effect: Effect,
    /// The grant that remains per source (zero: revoked in whole).
    pub remaining_grant: Amounts,
    /// The commitment freed.
    pub released: Amounts,
    /// Back to `available` (up to the deadline) or `expired` (after it).
    pub freed_to: FreedTo,
    /// The day from which the recovered amount bears interest (§ 49a (3) VwVfG).
    pub interest_from: NaiveDate,
    /// The decision's reference and grounds.
    pub reason: String,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.interest_charged.v1`: interest under § 49a (3) VwVfG on the recovered
/// principal of a project, charged up to `until` (exclusive), computed with the base-rate table
/// named; booked separately from the principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InterestCharged {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// The interest charged now per source (the total up to `until` less what was charged before).
    pub interest: Amounts,
    /// Interest is charged for the days before this one.
    pub until: NaiveDate,
    /// The version of the base-rate table used.
    pub base_rate_table: String,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.interest_paid.v1`: the beneficiary paid charged interest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InterestPaid {
    /// The fund.
    pub fund_id: String,
    /// The proposal.
    pub proposal_id: Uuid,
    /// What was paid per source.
    pub paid: Amounts,
    /// The payment's value date.
    pub value_date: NaiveDate,
    /// The journal entry.
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.period_locked.v1`: the accounting periods up to `locked_until` are closed; no
/// later entry may carry a value date on or before it (a correction goes into the open period).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PeriodLocked {
    /// The fund.
    pub fund_id: String,
    /// The last day of the locked periods.
    pub locked_until: NaiveDate,
    /// Why (the closing of the accounts, the audit it was given to).
    pub reason: String,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry (always empty).
    pub postings: Vec<Posting>,
}

/// `buendel.ledger.correction_noted.v1`: entry `by_entry` of the fund (booked in the open period)
/// corrects entry `corrects_entry` (often one in a locked period, which nothing may change). Entry
/// numbers are the fund's versions (1-based), as `GET /v1/funds/{id}/entries` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CorrectionNoted {
    /// The fund.
    pub fund_id: String,
    /// The entry corrected.
    pub corrects_entry: u64,
    /// The entry that corrects it (later than the corrected one, before this note).
    pub by_entry: u64,
    /// What was wrong.
    pub reason: String,
    /// The day the entry takes effect.
    pub value_date: NaiveDate,
    /// The journal entry (always empty).
    pub postings: Vec<Posting>,
}

/// Every event of the Fund aggregate. Published variants are never edited: add a `v2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum LedgerEvent {
    /// See [`BudgetAllocated`].
    #[serde(rename = "buendel.ledger.budget_allocated.v1")]
    BudgetAllocated(BudgetAllocated),
    /// See [`BudgetAdjusted`].
    #[serde(rename = "buendel.ledger.budget_adjusted.v1")]
    BudgetAdjusted(BudgetAdjusted),
    /// See [`FundsReserved`].
    #[serde(rename = "buendel.ledger.funds_reserved.v1")]
    FundsReserved(FundsReserved),
    /// See [`ReservationDeclined`].
    #[serde(rename = "buendel.ledger.reservation_declined.v1")]
    ReservationDeclined(ReservationDeclined),
    /// See [`FundsCommitted`].
    #[serde(rename = "buendel.ledger.funds_committed.v1")]
    FundsCommitted(FundsCommitted),
    /// See [`ReservationReleased`].
    #[serde(rename = "buendel.ledger.reservation_released.v1")]
    ReservationReleased(ReservationReleased),
    /// See [`DisbursementRecorded`].
    #[serde(rename = "buendel.ledger.disbursement_recorded.v1")]
    DisbursementRecorded(DisbursementRecorded),
    /// See [`CommitmentReleased`].
    #[serde(rename = "buendel.ledger.commitment_released.v1")]
    CommitmentReleased(CommitmentReleased),
    /// See [`RecoveryAssessed`].
    #[serde(rename = "buendel.ledger.recovery_assessed.v1")]
    RecoveryAssessed(RecoveryAssessed),
    /// See [`RepaymentReceived`].
    #[serde(rename = "buendel.ledger.repayment_received.v1")]
    RepaymentReceived(RepaymentReceived),
    /// See [`FundsExpired`].
    #[serde(rename = "buendel.ledger.funds_expired.v1")]
    FundsExpired(FundsExpired),
    /// See [`GrantTermsRecorded`].
    #[serde(rename = "buendel.ledger.grant_terms_recorded.v1")]
    GrantTermsRecorded(GrantTermsRecorded),
    /// See [`ClaimSubmitted`].
    #[serde(rename = "buendel.ledger.claim_submitted.v1")]
    ClaimSubmitted(ClaimSubmitted),
    /// See [`ClaimVerified`].
    #[serde(rename = "buendel.ledger.claim_verified.v1")]
    ClaimVerified(ClaimVerified),
    /// See [`ClaimReturned`].
    #[serde(rename = "buendel.ledger.claim_returned.v1")]
    ClaimReturned(ClaimReturned),
    /// See [`ClaimResubmitted`].
    #[serde(rename = "buendel.ledger.claim_resubmitted.v1")]
    ClaimResubmitted(ClaimResubmitted),
    /// See [`ClaimApproved`].
    #[serde(rename = "buendel.ledger.claim_approved.v1")]
    ClaimApproved(ClaimApproved),
    /// See [`FinalReportChecked`].
    #[serde(rename = "buendel.ledger.final_report_checked.v1")]
    FinalReportChecked(FinalReportChecked),
    /// See [`GrantRevoked`].
    #[serde(rename = "buendel.ledger.grant_revoked.v1")]
    GrantRevoked(GrantRevoked),
    /// See [`InterestCharged`].
    #[serde(rename = "buendel.ledger.interest_charged.v1")]
    InterestCharged(InterestCharged),
    /// See [`InterestPaid`].
    #[serde(rename = "buendel.ledger.interest_paid.v1")]
    InterestPaid(InterestPaid),
    /// See [`PeriodLocked`].
    #[serde(rename = "buendel.ledger.period_locked.v1")]
    PeriodLocked(PeriodLocked),
    /// See [`CorrectionNoted`].
    #[serde(rename = "buendel.ledger.correction_noted.v1")]
    CorrectionNoted(CorrectionNoted),
}

/// `buendel.ledger.budget_allocated.v1`
pub const BUDGET_ALLOCATED_V1: &str = "buendel.ledger.budget_allocated.v1";
/// `buendel.ledger.budget_adjusted.v1`
pub const BUDGET_ADJUSTED_V1: &str = "buendel.ledger.budget_adjusted.v1";
/// `buendel.ledger.funds_reserved.v1`
pub const FUNDS_RESERVED_V1: &str = "buendel.ledger.funds_reserved.v1";
/// `buendel.ledger.reservation_declined.v1`
pub const RESERVATION_DECLINED_V1: &str = "buendel.ledger.reservation_declined.v1";
/// `buendel.ledger.funds_committed.v1`
pub const FUNDS_COMMITTED_V1: &str = "buendel.ledger.funds_committed.v1";
/// `buendel.ledger.reservation_released.v1`
pub const RESERVATION_RELEASED_V1: &str = "buendel.ledger.reservation_released.v1";
/// `buendel.ledger.disbursement_recorded.v1`
pub const DISBURSEMENT_RECORDED_V1: &str = "buendel.ledger.disbursement_recorded.v1";
/// `buendel.ledger.commitment_released.v1`
pub const COMMITMENT_RELEASED_V1: &str = "buendel.ledger.commitment_released.v1";
/// `buendel.ledger.recovery_assessed.v1`
pub const RECOVERY_ASSESSED_V1: &str = "buendel.ledger.recovery_assessed.v1";
/// `buendel.ledger.repayment_received.v1`
pub const REPAYMENT_RECEIVED_V1: &str = "buendel.ledger.repayment_received.v1";
/// `buendel.ledger.funds_expired.v1`
pub const FUNDS_EXPIRED_V1: &str = "buendel.ledger.funds_expired.v1";
/// `buendel.ledger.grant_terms_recorded.v1`
pub const GRANT_TERMS_RECORDED_V1: &str = "buendel.ledger.grant_terms_recorded.v1";
/// `buendel.ledger.claim_submitted.v1`
pub const CLAIM_SUBMITTED_V1: &str = "buendel.ledger.claim_submitted.v1";
/// `buendel.ledger.claim_verified.v1`
pub const CLAIM_VERIFIED_V1: &str = "buendel.ledger.claim_verified.v1";
/// `buendel.ledger.claim_returned.v1`
pub const CLAIM_RETURNED_V1: &str = "buendel.ledger.claim_returned.v1";
/// `buendel.ledger.claim_resubmitted.v1`
pub const CLAIM_RESUBMITTED_V1: &str = "buendel.ledger.claim_resubmitted.v1";
/// `buendel.ledger.claim_approved.v1`
pub const CLAIM_APPROVED_V1: &str = "buendel.ledger.claim_approved.v1";
/// `buendel.ledger.final_report_checked.v1`
pub const FINAL_REPORT_CHECKED_V1: &str = "buendel.ledger.final_report_checked.v1";
/// `buendel.ledger.grant_revoked.v1`
pub const GRANT_REVOKED_V1: &str = "buendel.ledger.grant_revoked.v1";
/// `buendel.ledger.interest_charged.v1`
pub const INTEREST_CHARGED_V1: &str = "buendel.ledger.interest_charged.v1";
/// `buendel.ledger.interest_paid.v1`
pub const INTEREST_PAID_V1: &str = "buendel.ledger.interest_paid.v1";
/// `buendel.ledger.period_locked.v1`
pub const PERIOD_LOCKED_V1: &str = "buendel.ledger.period_locked.v1";
/// `buendel.ledger.correction_noted.v1`
pub const CORRECTION_NOTED_V1: &str = "buendel.ledger.correction_noted.v1";

/// The operator commands of the ledger service, served on `<ns>.cmd.ledger.<command>`.
pub const COMMANDS: [&str; 19] = [
    "allocate_budget",
    "adjust_budget",
    "release_reservation",
    "record_disbursement",
    "close_project",
    "assess_recovery",
    "record_repayment",
    "expire_unbound",
    "submit_claim",
    "verify_claim",
    "return_claim",
    "resubmit_claim",
    "approve_claim",
    "check_final_report",
    "revoke_grant",
    "charge_interest",
    "record_interest_payment",
    "lock_period",
    "note_correction",
];

impl EventKind for LedgerEvent {
    fn event_type(&self) -> &'static str {
        match self {
            LedgerEvent::BudgetAllocated(_) => BUDGET_ALLOCATED_V1,
            LedgerEvent::BudgetAdjusted(_) => BUDGET_ADJUSTED_V1,
            LedgerEvent::FundsReserved(_) => FUNDS_RESERVED_V1,
            LedgerEvent::ReservationDeclined(_) => RESERVATION_DECLINED_V1,
            LedgerEvent::FundsCommitted(_) => FUNDS_COMMITTED_V1,
            LedgerEvent::ReservationReleased(_) => RESERVATION_RELEASED_V1,
            LedgerEvent::DisbursementRecorded(_) => DISBURSEMENT_RECORDED_V1,
            LedgerEvent::CommitmentReleased(_) => COMMITMENT_RELEASED_V1,
            LedgerEvent::RecoveryAssessed(_) => RECOVERY_ASSESSED_V1,
            LedgerEvent::RepaymentReceived(_) => REPAYMENT_RECEIVED_V1,
            LedgerEvent::FundsExpired(_) => FUNDS_EXPIRED_V1,
            LedgerEvent::GrantTermsRecorded(_) => GRANT_TERMS_RECORDED_V1,
            LedgerEvent::ClaimSubmitted(_) => CLAIM_SUBMITTED_V1,
            LedgerEvent::ClaimVerified(_) => CLAIM_VERIFIED_V1,
            LedgerEvent::ClaimReturned(_) => CLAIM_RETURNED_V1,
            LedgerEvent::ClaimResubmitted(_) => CLAIM_RESUBMITTED_V1,
            LedgerEvent::ClaimApproved(_) => CLAIM_APPROVED_V1,
            LedgerEvent::FinalReportChecked(_) => FINAL_REPORT_CHECKED_V1,
            LedgerEvent::GrantRevoked(_) => GRANT_REVOKED_V1,
            LedgerEvent::InterestCharged(_) => INTEREST_CHARGED_V1,
            LedgerEvent::InterestPaid(_) => INTEREST_PAID_V1,
            LedgerEvent::PeriodLocked(_) => PERIOD_LOCKED_V1,
            LedgerEvent::CorrectionNoted(_) => CORRECTION_NOTED_V1,
        }
    }

    fn all_types() -> &'static [&'static str] {
        &[
            BUDGET_ALLOCATED_V1,
            BUDGET_ADJUSTED_V1,
            FUNDS_RESERVED_V1,
            RESERVATION_DECLINED_V1,
            FUNDS_COMMITTED_V1,
            RESERVATION_RELEASED_V1,
            DISBURSEMENT_RECORDED_V1,
            COMMITMENT_RELEASED_V1,
            RECOVERY_ASSESSED_V1,
            REPAYMENT_RECEIVED_V1,
            FUNDS_EXPIRED_V1,
            GRANT_TERMS_RECORDED_V1,
            CLAIM_SUBMITTED_V1,
            CLAIM_VERIFIED_V1,
            CLAIM_RETURNED_V1,
            CLAIM_RESUBMITTED_V1,
            CLAIM_APPROVED_V1,
            FINAL_REPORT_CHECKED_V1,
            GRANT_REVOKED_V1,
            INTEREST_CHARGED_V1,
            INTEREST_PAID_V1,
            PERIOD_LOCKED_V1,
            CORRECTION_NOTED_V1,
        ]
    }
}

/// A journal entry whose postings are not the ones its typed fields call for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed journal entry: {0}")]
pub struct MalformedEntry(pub String);

impl LedgerEvent {
    /// The fund this event belongs to.
    pub fn fund_id(&self) -> &str {
        match self {
            LedgerEvent::BudgetAllocated(e) => &e.fund_id,
            LedgerEvent::BudgetAdjusted(e) => &e.fund_id,
            LedgerEvent::FundsReserved(e) => &e.fund_id,
            LedgerEvent::ReservationDeclined(e) => &e.fund_id,
            LedgerEvent::FundsCommitted(e) => &e.fund_id,
            LedgerEvent::ReservationReleased(e) => &e.fund_id,
            LedgerEvent::DisbursementRecorded(e) => &e.fund_id,
            LedgerEvent::CommitmentReleased(e) => &e.fund_id,
            LedgerEvent::RecoveryAssessed(e) => &e.fund_id,
            LedgerEvent::RepaymentReceived(e) => &e.fund_id,
            LedgerEvent::FundsExpired(e) => &e.fund_id,
            LedgerEvent::GrantTermsRecorded(e) => &e.fund_id,
            LedgerEvent::ClaimSubmitted(e) => &e.fund_id,
            LedgerEvent::ClaimVerified(e) => &e.fund_id,
            LedgerEvent::ClaimReturned(e) => &e.fund_id,
            LedgerEvent::ClaimResubmitted(e) => &e.fund_id,
            LedgerEvent::ClaimApproved(e) => &e.fund_id,
            LedgerEvent::FinalReportChecked(e) => &e.fund_id,
            LedgerEvent::GrantRevoked(e) => &e.fund_id,
            LedgerEvent::InterestCharged(e) => &e.fund_id,
            LedgerEvent::InterestPaid(e) => &e.fund_id,
            LedgerEvent::PeriodLocked(e) => &e.fund_id,
            LedgerEvent::CorrectionNoted(e) => &e.fund_id,
        }
    }

    /// The project this event is about; `None` for the fund-level events.
    pub fn proposal_id(&self) -> Option<Uuid> {
        match self {
            LedgerEvent::BudgetAllocated(_)
            | LedgerEvent::BudgetAdjusted(_)
            | LedgerEvent::FundsExpired(_) => None,
            LedgerEvent::FundsReserved(e) => Some(e.proposal_id),
            LedgerEvent::ReservationDeclined(e) => Some(e.proposal_id),
            LedgerEvent::FundsCommitted(e) => Some(e.proposal_id),
            LedgerEvent::ReservationReleased(e) => Some(e.proposal_id),
            LedgerEvent::DisbursementRecorded(e) => Some(e.proposal_id),
            LedgerEvent::CommitmentReleased(e) => Some(e.proposal_id),
            LedgerEvent::RecoveryAssessed(e) => Some(e.proposal_id),
            LedgerEvent::RepaymentReceived(e) => Some(e.proposal_id),
            LedgerEvent::GrantTermsRecorded(e) => Some(e.proposal_id),
            LedgerEvent::ClaimSubmitted(e) => Some(e.proposal_id),
            LedgerEvent::ClaimVerified(e) => Some(e.proposal_id),
            LedgerEvent::ClaimReturned(e) => Some(e.proposal_id),
            LedgerEvent::ClaimResubmitted(e) => Some(e.proposal_id),
            LedgerEvent::ClaimApproved(e) => Some(e.proposal_id),
            LedgerEvent::FinalReportChecked(e) => Some(e.proposal_id),
            LedgerEvent::GrantRevoked(e) => Some(e.proposal_id),
            LedgerEvent::InterestCharged(e) => Some(e.proposal_id),
            LedgerEvent::InterestPaid(e) => Some(e.proposal_id),
            LedgerEvent::PeriodLocked(_) | LedgerEvent::CorrectionNoted(_) => None,
        }
    }

    /// The event's project and what the event changes there besides money; `None` for the
    /// fund-level events. Exhaustive: a new event type fails to compile here.
    pub fn project_change(&self) -> Option<(Uuid, ProjectChange)> {
        let to = |status| ProjectChange {
            status: Some(status),
            ..ProjectChange::default()
        };
        match self {
            LedgerEvent::BudgetAllocated(_)
            | LedgerEvent::BudgetAdjusted(_)
            | LedgerEvent::FundsExpired(_) => None,
            LedgerEvent::FundsReserved(e) => Some((
                e.proposal_id,
                ProjectChange {
                    requested: Some(e.reserved),
                    ..to(ProjectStatus::Reserved)
                },
            )),
            LedgerEvent::ReservationDeclined(e) => Some((
                e.proposal_id,
                ProjectChange {
                    requested: Some(e.requested),
                    ..to(ProjectStatus::Waitlisted)
                },
            )),
            LedgerEvent::FundsCommitted(e) => Some((
                e.proposal_id,
                ProjectChange {
                    granted: Some(e.granted),
                    ..to(ProjectStatus::Committed)
                },
            )),
            LedgerEvent::ReservationReleased(e) => Some((
                e.proposal_id,
                ProjectChange {
                    release_reason: Some(e.reason),
                    ..to(ProjectStatus::Released)
                },
            )),
            LedgerEvent::CommitmentReleased(e) => Some((e.proposal_id, to(ProjectStatus::Closed))),
            LedgerEvent::DisbursementRecorded(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::RecoveryAssessed(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::RepaymentReceived(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::GrantTermsRecorded(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::ClaimSubmitted(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::ClaimVerified(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::ClaimReturned(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::ClaimResubmitted(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::ClaimApproved(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::FinalReportChecked(e) => {
                let closes = e.final_payment.is_zero();
                Some((
                    e.proposal_id,
                    if closes {
                        to(ProjectStatus::Closed)
                    } else {
                        ProjectChange::default()
                    },
                ))
            }
            LedgerEvent::GrantRevoked(e) => {
                let whole = e.remaining_grant.is_zero();
                Some((
                    e.proposal_id,
                    if whole {
                        to(ProjectStatus::Closed)
                    } else {
                        ProjectChange::default()
                    },
                ))
            }
            LedgerEvent::InterestCharged(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::InterestPaid(e) => Some((e.proposal_id, ProjectChange::default())),
            LedgerEvent::PeriodLocked(_) | LedgerEvent::CorrectionNoted(_) => None,
        }
    }

    /// The day the entry takes effect: balances `as_of` a date include every entry up to it.
    pub fn value_date(&self) -> NaiveDate {
        match self {
            LedgerEvent::BudgetAllocated(e) => e.value_date,
            LedgerEvent::BudgetAdjusted(e) => e.value_date,
            LedgerEvent::FundsReserved(e) => e.value_date,
            LedgerEvent::ReservationDeclined(e) => e.value_date,
            LedgerEvent::FundsCommitted(e) => e.value_date,
            LedgerEvent::ReservationReleased(e) => e.value_date,
            LedgerEvent::DisbursementRecorded(e) => e.value_date,
            LedgerEvent::CommitmentReleased(e) => e.value_date,
            LedgerEvent::RecoveryAssessed(e) => e.value_date,
            LedgerEvent::RepaymentReceived(e) => e.value_date,
            LedgerEvent::FundsExpired(e) => e.value_date,
            LedgerEvent::GrantTermsRecorded(e) => e.value_date,
            LedgerEvent::ClaimSubmitted(e) => e.value_date,
            LedgerEvent::ClaimVerified(e) => e.value_date,
            LedgerEvent::ClaimReturned(e) => e.value_date,
            LedgerEvent::ClaimResubmitted(e) => e.value_date,
            LedgerEvent::ClaimApproved(e) => e.value_date,
            LedgerEvent::FinalReportChecked(e) => e.value_date,
            LedgerEvent::GrantRevoked(e) => e.value_date,
            LedgerEvent::InterestCharged(e) => e.value_date,
            LedgerEvent::InterestPaid(e) => e.value_date,
            LedgerEvent::PeriodLocked(e) => e.value_date,
            LedgerEvent::CorrectionNoted(e) => e.value_date,
        }
    }

    /// The event's journal entry, as stored.
    pub fn postings(&self) -> &[Posting] {
        match self {
            LedgerEvent::BudgetAllocated(e) => &e.postings,
            LedgerEvent::BudgetAdjusted(e) => &e.postings,
            LedgerEvent::FundsReserved(e) => &e.postings,
            LedgerEvent::ReservationDeclined(e) => &e.postings,
            LedgerEvent::FundsCommitted(e) => &e.postings,
            LedgerEvent::ReservationReleased(e) => &e.postings,
            LedgerEvent::DisbursementRecorded(e) => &e.postings,
            LedgerEvent::CommitmentReleased(e) => &e.postings,
            LedgerEvent::RecoveryAssessed(e) => &e.postings,
            LedgerEvent::RepaymentReceived(e) => &e.postings,
            LedgerEvent::FundsExpired(e) => &e.postings,
            LedgerEvent::GrantTermsRecorded(e) => &e.postings,
            LedgerEvent::ClaimSubmitted(e) => &e.postings,
            LedgerEvent::ClaimVerified(e) => &e.postings,
            LedgerEvent::ClaimReturned(e) => &e.postings,
            LedgerEvent::ClaimResubmitted(e) => &e.postings,
            LedgerEvent::ClaimApproved(e) => &e.postings,
            LedgerEvent::FinalReportChecked(e) => &e.postings,
            LedgerEvent::GrantRevoked(e) => &e.postings,
            LedgerEvent::InterestCharged(e) => &e.postings,
            LedgerEvent::InterestPaid(e) => &e.postings,
            LedgerEvent::PeriodLocked(e) => &e.postings,
            LedgerEvent::CorrectionNoted(e) => &e.postings,
        }
    }

    fn postings_mut(&mut self) -> &mut Vec<Posting> {
        match self {
            LedgerEvent::BudgetAllocated(e) => &mut e.postings,
            LedgerEvent::BudgetAdjusted(e) => &mut e.postings,
            LedgerEvent::FundsReserved(e) => &mut e.postings,
            LedgerEvent::ReservationDeclined(e) => &mut e.postings,
            LedgerEvent::FundsCommitted(e) => &mut e.postings,
            LedgerEvent::ReservationReleased(e) => &mut e.postings,
            LedgerEvent::DisbursementRecorded(e) => &mut e.postings,
            LedgerEvent::CommitmentReleased(e) => &mut e.postings,
            LedgerEvent::RecoveryAssessed(e) => &mut e.postings,
            LedgerEvent::RepaymentReceived(e) => &mut e.postings,
            LedgerEvent::FundsExpired(e) => &mut e.postings,
            LedgerEvent::GrantTermsRecorded(e) => &mut e.postings,
            LedgerEvent::ClaimSubmitted(e) => &mut e.postings,
            LedgerEvent::ClaimVerified(e) => &mut e.postings,
            LedgerEvent::ClaimReturned(e) => &mut e.postings,
            LedgerEvent::ClaimResubmitted(e) => &mut e.postings,
            LedgerEvent::ClaimApproved(e) => &mut e.postings,
            LedgerEvent::FinalReportChecked(e) => &mut e.postings,
            LedgerEvent::GrantRevoked(e) => &mut e.postings,
            LedgerEvent::InterestCharged(e) => &mut e.postings,
            LedgerEvent::InterestPaid(e) => &mut e.postings,
            LedgerEvent::PeriodLocked(e) => &mut e.postings,
            LedgerEvent::CorrectionNoted(e) => &mut e.postings,
        }
    }

    /// The journal entry the typed fields call for (see "Journal entries" in the module docs).
    ///
    /// Built for every input: a negative typed amount yields a non-positive posting, which
    /// [`LedgerEvent::check_entry`] then refuses.
    pub fn expected_postings(&self) -> Vec<Posting> {
        let mut entry = Entry::default();
        match self {
            LedgerEvent::BudgetAllocated(e) => {
                entry.per_source(&[(e.allocated, Account::Available, Account::Budget)]);
            }
            LedgerEvent::BudgetAdjusted(e) => {
                let (debit, credit) = if e.delta_cents.0 >= 0 {
                    (Account::Available, Account::Budget)
                } else {
                    (Account::Budget, Account::Available)
                };
                // |delta|; i64::MIN has no magnitude and is kept negative, so it fails the check.
                let magnitude = Cents(e.delta_cents.0.checked_abs().unwrap_or(e.delta_cents.0));
                entry.push(debit, credit, magnitude, e.source);
            }
            LedgerEvent::FundsReserved(e) => {
                let reserved = Account::Reserved {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.reserved, reserved, Account::Available)]);
            }
            LedgerEvent::ReservationDeclined(_) => {}
            LedgerEvent::FundsCommitted(e) => {
                let reserved = Account::Reserved {
                    proposal_id: e.proposal_id,
                };
                let committed = Account::Committed {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[
                    (e.topped_up, reserved, Account::Available),
                    (e.granted, committed, reserved),
                    (e.released, Account::Available, reserved),
                ]);
            }
            LedgerEvent::ReservationReleased(e) => {
                let reserved = Account::Reserved {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.released, e.freed_to.account(), reserved)]);
            }
            LedgerEvent::DisbursementRecorded(e) => {
                let committed = Account::Committed {
                    proposal_id: e.proposal_id,
                };
                let disbursed = Account::Disbursed {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.paid, disbursed, committed)]);
            }
            LedgerEvent::CommitmentReleased(e) => {
                let committed = Account::Committed {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.released, e.freed_to.account(), committed)]);
            }
            LedgerEvent::RecoveryAssessed(e) => {
                let disbursed = Account::Disbursed {
                    proposal_id: e.proposal_id,
                };
                let receivable = Account::Receivable {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.principal, receivable, disbursed)]);
            }
            LedgerEvent::RepaymentReceived(e) => {
                let receivable = Account::Receivable {
                    proposal_id: e.proposal_id,
                };
                let repaid = Account::Repaid {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.repaid, repaid, receivable)]);
            }
            LedgerEvent::FundsExpired(e) => {
                entry.per_source(&[(e.expired, Account::Expired, Account::Available)]);
            }
            LedgerEvent::GrantTermsRecorded(_)
            | LedgerEvent::ClaimSubmitted(_)
            | LedgerEvent::ClaimVerified(_)
            | LedgerEvent::ClaimReturned(_)
            | LedgerEvent::ClaimResubmitted(_)
            | LedgerEvent::PeriodLocked(_)
            | LedgerEvent::CorrectionNoted(_) => {}
            LedgerEvent::ClaimApproved(e) => {
                let committed = Account::Committed {
                    proposal_id: e.proposal_id,
                };
                let disbursed = Account::Disbursed {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.paid, disbursed, committed)]);
            }
            LedgerEvent::FinalReportChecked(e) => {
                let committed = Account::Committed {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.released, e.freed_to.account(), committed)]);
            }
            LedgerEvent::GrantRevoked(e) => {
                let committed = Account::Committed {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.released, e.freed_to.account(), committed)]);
            }
            LedgerEvent::InterestCharged(e) => {
                let receivable = Account::InterestReceivable {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.interest, receivable, Account::Interest)]);
            }
            LedgerEvent::InterestPaid(e) => {
                let receivable = Account::InterestReceivable {
                    proposal_id: e.proposal_id,
                };
                let paid = Account::InterestPaid {
                    proposal_id: e.proposal_id,
                };
                entry.per_source(&[(e.paid, paid, receivable)]);
            }
        }
        entry.postings
    }

    /// The event with its `postings` set to [`LedgerEvent::expected_postings`]: how the domain
    /// builds every event, so the journal always matches the typed fields.
    pub fn journaled(mut self) -> Self {
        let postings = self.expected_postings();
        *self.postings_mut() = postings;
        self
    }

    /// Checks that the stored postings are exactly the expected ones and every amount is > 0.
    pub fn check_entry(&self) -> Result<(), MalformedEntry> {
        let expected = self.expected_postings();
        for (index, posting) in self.postings().iter().enumerate() {
            if posting.amount_cents.0 <= 0 {
                return Err(MalformedEntry(format!(
                    "{}: posting {index} moves {} cents; amounts must be > 0",
                    self.event_type(),
                    posting.amount_cents.0
                )));
            }
        }
        if self.postings() != expected.as_slice() {
            return Err(MalformedEntry(format!(
                "{}: the postings are not the ones its amounts call for",
                self.event_type()
            )));
        }
        Ok(())
    }
}

/// Builds an entry source by source, leaving out zero amounts.
#[derive(Default)]
struct Entry {
    postings: Vec<Posting>,
}

impl Entry {
    fn push(&mut self, debit: Account, credit: Account, amount_cents: Cents, source: Source) {
        if amount_cents != Cents::ZERO {
            self.postings.push(Posting {
                debit,
                credit,
                amount_cents,
                source,
            });
        }
    }

    fn per_source(&mut self, lines: &[(Amounts, Account, Account)]) {
        for source in Source::ALL {
            for (amounts, debit, credit) in lines {
                self.push(*debit, *credit, amounts.get(source), source);
            }
        }
    }
}

/// Folding a posting would overflow an account balance (only possible with forged amounts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("posting {0:?} overflows an account balance")]
pub struct BalanceOverflow(pub Posting);

/// The balance of every account of one fund, per source: the fold of its postings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountBook {
    balances: imbl::OrdMap<(Source, Account), i64>,
}

impl AccountBook {
    /// Books one posting; on overflow nothing is booked.
    pub fn post(&mut self, posting: &Posting) -> Result<(), BalanceOverflow> {
        if posting.debit == posting.credit {
            // Money moved from an account into itself: nothing changes.
            return Ok(());
        }
        let debit = self
            .raw(posting.source, &posting.debit)
            .checked_add(posting.amount_cents.0)
            .ok_or(BalanceOverflow(*posting))?;
        let credit = self
            .raw(posting.source, &posting.credit)
            .checked_sub(posting.amount_cents.0)
            .ok_or(BalanceOverflow(*posting))?;
        self.balances.insert((posting.source, posting.debit), debit);
        self.balances
            .insert((posting.source, posting.credit), credit);
        Ok(())
    }

    fn raw(&self, source: Source, account: &Account) -> i64 {
        self.balances.get(&(source, *account)).copied().unwrap_or(0)
    }

    /// The balance of one account of one source (zero if never posted to).
    pub fn balance(&self, source: Source, account: &Account) -> Cents {
        Cents(self.raw(source, account))
    }

    /// Every account ever posted to, with its balance, ordered by source and account.
    pub fn accounts(&self) -> impl Iterator<Item = (Source, Account, Cents)> + '_ {
        self.balances
            .iter()
            .map(|((source, account), cents)| (*source, *account, Cents(*cents)))
    }

    /// The sum of all balances of a source: zero for any set of postings, by double entry.
    pub fn trial_balance(&self, source: Source) -> i128 {
        self.balances
            .iter()
            .filter(|((s, _), _)| *s == source)
            .map(|(_, cents)| i128::from(*cents))
            .sum()
    }

    /// The fund's figures of one source (see "Balances" in the module docs).
    pub fn fund_balances(&self, source: Source) -> SourceBalances {
        self.kind_balances(source).fund_figures()
    }

    /// The balances of one source summed per account kind.
    pub fn kind_balances(&self, source: Source) -> KindBalances {
        let mut kinds = KindBalances::default();
        for ((s, account), cents) in &self.balances {
            if *s == source {
                kinds.add_account(account, i128::from(*cents));
            }
        }
        kinds
    }

    /// One project's figures of one source.
    pub fn project_balances(&self, proposal_id: Uuid, source: Source) -> ProjectBalances {
        let mut kinds = KindBalances::default();
        for account in [
            Account::Reserved { proposal_id },
            Account::Committed { proposal_id },
            Account::Disbursed { proposal_id },
            Account::Receivable { proposal_id },
            Account::Repaid { proposal_id },
        ] {
            kinds.add_account(&account, i128::from(self.raw(source, &account)));
        }
        kinds.project_figures()
    }
}

/// Balances summed per account kind, of one source: of a whole fund, of one project, or the
/// changes a batch of postings makes to them. Wide enough never to overflow.
///
/// Every figure is a sum of kind balances ([`KindBalances::fund_figures`], the table "Balances" in
/// the module docs), so the figures of a change are the change of the figures: the projector adds
/// the figures of each batch's changes to the stored ones, the API and the ledger compute them
/// from whole balances, with the same function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindBalances([i128; 11]);

impl KindBalances {
    /// Adds `cents` to the balance of `kind`.
    pub fn add(&mut self, kind: AccountKind, cents: i128) {
        self.0[kind.index()] += cents;
    }

    /// Adds a posting's effect on `account` (its balance grows by `cents`, negative to shrink).
    pub fn add_account(&mut self, account: &Account, cents: i128) {
        self.add(account.account_kind(), cents);
    }

    /// The balance of one kind.
    pub fn get(&self, kind: AccountKind) -> i128 {
        self.0[kind.index()]
    }

    /// The fund figures (saturated at the bounds of `i64`, which only forged amounts reach).
    pub fn fund_figures(&self) -> SourceBalances {
        // `saturate` always answers, so there is always a result.
        self.figures_with(|wide| Some(saturate(wide)))
            .unwrap_or_default()
    }

    /// The figures of the project accounts (of one project, or summed over a fund's projects),
    /// saturated at the bounds of `i64`.
    pub fn project_figures(&self) -> ProjectBalances {
        self.fund_figures().projects()
    }

    /// The figures of the project accounts, or `None` if one does not fit into `i64`.
    pub fn checked_project_figures(&self) -> Option<ProjectBalances> {
        self.figures_with(|wide| i64::try_from(wide).ok().map(Cents))
            .map(|figures| figures.projects())
    }

    /// The one rule: which kinds each figure sums. `narrow` turns a wide sum into cents.
    fn figures_with(&self, narrow: impl Fn(i128) -> Option<Cents>) -> Option<SourceBalances> {
        use AccountKind as K;
        let recovered = self.get(K::Receivable) + self.get(K::Repaid);
        let disbursed = self.get(K::Disbursed) + recovered;
        let committed = self.get(K::Committed) + disbursed;
        let project = ProjectBalances::from_stored(
            narrow(self.get(K::Reserved))?,
            narrow(committed)?,
            narrow(disbursed)?,
            narrow(recovered)?,
            narrow(self.get(K::Repaid))?,
        );
        Some(SourceBalances {
            allocated: narrow(-self.get(K::Budget))?,
            available: narrow(self.get(K::Available))?,
            reserved: project.reserved,
            committed: project.committed,
            unpaid: project.unpaid,
            disbursed: project.disbursed,
            recovered: project.recovered,
            receivable: project.receivable,
            repaid: project.repaid,
            expired: narrow(self.get(K::Expired))?,
        })
    }
}

/// A wide sum as cents, saturated at the bounds of `i64`.
fn saturate(wide: i128) -> Cents {
    Cents(i64::try_from(wide).unwrap_or(if wide < 0 { i64::MIN } else { i64::MAX }))
}

/// A fund's figures for one source (or, added up, for both). See "Balances" in the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct SourceBalances {
    /// Allocations plus adjustments.
    pub allocated: Cents,
    /// Not bound to any project.
    pub available: Cents,
    /// Held for positive statements.
    pub reserved: Cents,
    /// Granted, less what was released; includes what was paid.
    pub committed: Cents,
    /// Committed and not yet paid.
    pub unpaid: Cents,
    /// Paid out in all.
    pub disbursed: Cents,
    /// Clawback principal assessed.
    pub recovered: Cents,
    /// Assessed and not yet repaid.
    pub receivable: Cents,
    /// Repaid after a recovery.
    pub repaid: Cents,
    /// Freed after the deadline; lost to the fund.
    pub expired: Cents,
}

impl SourceBalances {
    /// Figure by figure sum, e.g. ESF+ plus Land = the fund's total.
    pub fn plus(&self, other: &SourceBalances) -> SourceBalances {
        SourceBalances {
            allocated: self.allocated.saturating_add(other.allocated),
            available: self.available.saturating_add(other.available),
            reserved: self.reserved.saturating_add(other.reserved),
            committed: self.committed.saturating_add(other.committed),
            unpaid: self.unpaid.saturating_add(other.unpaid),
            disbursed: self.disbursed.saturating_add(other.disbursed),
            recovered: self.recovered.saturating_add(other.recovered),
            receivable: self.receivable.saturating_add(other.receivable),
            repaid: self.repaid.saturating_add(other.repaid),
            expired: self.expired.saturating_add(other.expired),
        }
    }

    /// The figures of the project accounts alone.
    pub fn projects(&self) -> ProjectBalances {
        ProjectBalances {
            reserved: self.reserved,
            committed: self.committed,
            unpaid: self.unpaid,
            disbursed: self.disbursed,
            recovered: self.recovered,
            receivable: self.receivable,
            repaid: self.repaid,
        }
    }

    /// The whole and its parts agree: allocated = available + reserved + committed + expired.
    pub fn parts_sum_to_whole(&self) -> bool {
        let parts = i128::from(self.available.0)
            + i128::from(self.reserved.0)
            + i128::from(self.committed.0)
            + i128::from(self.expired.0);
        parts == i128::from(self.allocated.0)
    }
}

/// One project's figures for one source (or, added up, for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ProjectBalances {
    /// Held for the project's positive statement.
    pub reserved: Cents,
    /// Granted, less what was released at closing; includes what was paid.
    pub committed: Cents,
    /// Committed and not yet paid.
    pub unpaid: Cents,
    /// Paid out in all.
    pub disbursed: Cents,
    /// Clawback principal assessed.
    pub recovered: Cents,
    /// Assessed and not yet repaid.
    pub receivable: Cents,
    /// Repaid after a recovery.
    pub repaid: Cents,
}

impl ProjectBalances {
    /// The names of the figures [`ProjectBalances::stored`] lists, in its order.
    pub const STORED: [&'static str; 5] =
        ["reserved", "committed", "disbursed", "recovered", "repaid"];

    /// The figures from the five that are no difference of others (what `proposal_money` stores
    /// per source): `unpaid` = committed − disbursed, `receivable` = recovered − repaid.
    pub fn from_stored(
        reserved: Cents,
        committed: Cents,
        disbursed: Cents,
        recovered: Cents,
        repaid: Cents,
    ) -> ProjectBalances {
        ProjectBalances {
            reserved,
            committed,
            unpaid: Cents(committed.0.saturating_sub(disbursed.0)),
            disbursed,
            recovered,
            receivable: Cents(recovered.0.saturating_sub(repaid.0)),
            repaid,
        }
    }

    /// The five figures [`ProjectBalances::from_stored`] takes, in its order (named by
    /// [`ProjectBalances::STORED`]).
    pub fn stored(&self) -> [Cents; 5] {
        [
            self.reserved,
            self.committed,
            self.disbursed,
            self.recovered,
            self.repaid,
        ]
    }

    /// Figure by figure sum.
    pub fn plus(&self, other: &ProjectBalances) -> ProjectBalances {
        ProjectBalances {
            reserved: self.reserved.saturating_add(other.reserved),
            committed: self.committed.saturating_add(other.committed),
            unpaid: self.unpaid.saturating_add(other.unpaid),
            disbursed: self.disbursed.saturating_add(other.disbursed),
            recovered: self.recovered.saturating_add(other.recovered),
            receivable: self.receivable.saturating_add(other.receivable),
            repaid: self.repaid.saturating_add(other.repaid),
        }
    }
}

/// The longest alliance token of a fund id.
pub const ALLIANCE_ID_LEN_MAX: usize = 32;

/// The fund id of an alliance's funding period, e.g. `non-2021-2027`.
pub fn fund_id(alliance_id: &str, first_year: u16, last_year: u16) -> String {
    format!("{alliance_id}-{first_year}-{last_year}")
}

/// Whether `id` is `<alliance>-<first>-<last>`: alliance `[a-z][a-z0-9_]*` (≤ 32), two four-digit
/// years with first ≤ last. Such an id is a valid NATS subject token.
pub fn is_valid_fund_id(id: &str) -> bool {
    let mut parts = id.rsplitn(3, '-');
    let (Some(last), Some(first), Some(alliance)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let year = |s: &str| -> Option<u16> {
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let mut chars = alliance.chars();
    let alliance_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && alliance.len() <= ALLIANCE_ID_LEN_MAX;
    match (year(first), year(last)) {
        (Some(first), Some(last)) => alliance_ok && first <= last,
        _ => false,
    }
}

/// The `prevhash` of a fund's first event: the lowercase hex SHA-256 of the ASCII bytes
/// `buendel-ledger-genesis` (see [`GENESIS_INPUT`]).
pub const GENESIS_HASH: &str = "76a87262b10833c4161fa60ebc7f4d88f2320c1dc1b732b18d3acbad50fdb665";

/// What [`GENESIS_HASH`] is the SHA-256 of, so anyone can recompute it.
pub const GENESIS_INPUT: &str = "buendel-ledger-genesis";

/// The `hash` of a stored ledger event: SHA-256 (lowercase hex) over the RFC 8785 canonical JSON of
/// the whole envelope without its top-level `hash` member (`prevhash` included). A `hash` member in
/// the input is ignored, so a stored event can be passed as it is.
pub fn event_hash(envelope_json_without_hash: &Value) -> Result<String, NotCanonical> {
    let Value::Object(members) = envelope_json_without_hash else {
        return Err(NotCanonical(
            "a ledger event must be a JSON object".to_owned(),
        ));
    };
    let mut members = members.clone();
    members.remove("hash");
    sha256_hex(&Value::Object(members))
}

/// Links an envelope into its fund's chain: sets `prevhash` (the previous event's `hash`, or
/// [`GENESIS_HASH`]) and then `hash` = [`event_hash`]. Call it last, after every other field is set.
pub fn seal(envelope: &mut Envelope<LedgerEvent>, prevhash: &str) -> Result<(), NotCanonical> {
    envelope.prevhash = Some(prevhash.to_owned());
    envelope.hash = None;
    let value = serde_json::to_value(&*envelope).map_err(|e| NotCanonical(e.to_string()))?;
    envelope.hash = Some(event_hash(&value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::hex;
    use crate::Meta;
    use chrono::{TimeZone, Utc};
    use sha2::{Digest, Sha256};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn proposal() -> Uuid {
        Uuid::from_u128(0x4e1d)
    }

    fn committed_event() -> LedgerEvent {
        LedgerEvent::FundsCommitted(FundsCommitted {
            fund_id: "non-2021-2027".into(),
            proposal_id: proposal(),
            granted: Amounts::new(18_000_000, 3_000_000),
            topped_up: Amounts::new(0, 500_000),
            released: Amounts::new(1_000_000, 0),
            value_date: date(2025, 3, 1),
            postings: Vec::new(),
        })
        .journaled()
    }

    fn envelope(event: LedgerEvent, sequence: u64) -> Envelope<LedgerEvent> {
        let meta = Meta {
            source: "/buendel/ledger".into(),
            time: Utc
                .with_ymd_and_hms(2025, 3, 1, 9, 30, 0)
                .single()
                .expect("valid time"),
            correlation_id: None,
            causation_id: Some("cmd-1".into()),
            actor: "operator".into(),
        };
        Envelope::new(
            Uuid::from_u128(u128::from(sequence)),
            "non-2021-2027",
            sequence,
            event,
            &meta,
        )
    }

    #[test]
    fn the_genesis_hash_is_the_sha256_of_its_documented_input() {
        assert_eq!(hex(&Sha256::digest(GENESIS_INPUT.as_bytes())), GENESIS_HASH);
    }

    #[test]
    fn a_commitment_tops_up_commits_and_releases_in_one_entry() {
        let event = committed_event();
        let reserved = Account::Reserved {
            proposal_id: proposal(),
        };
        let committed = Account::Committed {
            proposal_id: proposal(),
        };
        let posting = |debit, credit, cents, source| Posting {
            debit,
            credit,
            amount_cents: Cents(cents),
            source,
        };
        assert_eq!(
            event.postings(),
            &[
                posting(committed, reserved, 18_000_000, Source::EsfPlus),
                posting(Account::Available, reserved, 1_000_000, Source::EsfPlus),
                posting(reserved, Account::Available, 500_000, Source::Land),
                posting(committed, reserved, 3_000_000, Source::Land),
            ]
        );
        assert_eq!(event.check_entry(), Ok(()));
    }

    #[test]
    fn an_entry_whose_postings_disagree_with_its_amounts_is_malformed() {
        let LedgerEvent::FundsCommitted(mut data) = committed_event() else {
            panic!("a commitment");
        };
        data.granted.esf_cents = Cents(18_000_001);
        assert!(LedgerEvent::FundsCommitted(data.clone())
            .check_entry()
            .is_err());
        data.granted.esf_cents = Cents(-1);
        let negative = LedgerEvent::FundsCommitted(data).journaled();
        assert!(
            negative.check_entry().is_err(),
            "a negative amount is never a valid posting"
        );
    }

    #[test]
    fn a_negative_adjustment_moves_money_back_to_the_budget() {
        let event = LedgerEvent::BudgetAdjusted(BudgetAdjusted {
            fund_id: "non-2021-2027".into(),
            source: Source::Land,
            delta_cents: Cents(-250),
            reason: "cut".into(),
            value_date: date(2025, 1, 1),
            postings: Vec::new(),
        })
        .journaled();
        assert_eq!(
            event.postings(),
            &[Posting {
                debit: Account::Budget,
                credit: Account::Available,
                amount_cents: Cents(250),
                source: Source::Land,
            }]
        );
    }

    #[test]
    fn an_event_travels_adjacently_tagged_with_typed_accounts() {
        let event = committed_event();
        let json = serde_json::to_value(&event).expect("serialize");
        assert_eq!(json["type"], FUNDS_COMMITTED_V1);
        assert_eq!(json["data"]["granted"]["esf_cents"], 18_000_000);
        assert_eq!(json["data"]["postings"][0]["debit"]["kind"], "committed");
        assert_eq!(
            json["data"]["postings"][0]["debit"]["proposal_id"],
            proposal().to_string()
        );
        assert_eq!(
            json["data"]["postings"][1]["debit"],
            serde_json::json!({"kind": "available"})
        );
        assert_eq!(json["data"]["postings"][0]["source"], "esf_plus");
        let back: LedgerEvent = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, event);
    }

    #[test]
    fn the_figures_are_sums_of_account_balances_and_the_parts_make_the_whole() {
        let p = proposal();
        let events = [
            LedgerEvent::BudgetAllocated(BudgetAllocated {
                fund_id: "non-2021-2027".into(),
                allocated: Amounts::new(200_571_429, 33_428_571),
                commit_deadline: date(2027, 12, 31),
                value_date: date(2025, 1, 1),
                postings: Vec::new(),
            }),
            LedgerEvent::FundsReserved(FundsReserved {
                fund_id: "non-2021-2027".into(),
                proposal_id: p,
                reserved: Amounts::new(18_000_000, 3_000_000),
                from_waitlist: false,
                value_date: date(2025, 1, 2),
                postings: Vec::new(),
            }),
            LedgerEvent::FundsCommitted(FundsCommitted {
                fund_id: "non-2021-2027".into(),
                proposal_id: p,
                granted: Amounts::new(18_000_000, 3_000_000),
                topped_up: Amounts::ZERO,
                released: Amounts::ZERO,
                value_date: date(2025, 2, 1),
                postings: Vec::new(),
            }),
            LedgerEvent::DisbursementRecorded(DisbursementRecorded {
                fund_id: "non-2021-2027".into(),
                proposal_id: p,
                payment_reference: "NB-1".into(),
                paid: Amounts::new(1_500_000, 250_000),
                value_date: date(2025, 4, 1),
                postings: Vec::new(),
            }),
            LedgerEvent::RecoveryAssessed(RecoveryAssessed {
                fund_id: "non-2021-2027".into(),
                proposal_id: p,
                principal: Amounts::new(100_000, 0),
                reason: "audit".into(),
                value_date: date(2025, 5, 1),
                postings: Vec::new(),
            }),
            LedgerEvent::RepaymentReceived(RepaymentReceived {
                fund_id: "non-2021-2027".into(),
                proposal_id: p,
                repaid: Amounts::new(40_000, 0),
                value_date: date(2025, 6, 1),
                postings: Vec::new(),
            }),
        ];
        let mut book = AccountBook::default();
        for event in events {
            for posting in event.journaled().postings() {
                book.post(posting).expect("no overflow");
            }
        }
        let esf = book.fund_balances(Source::EsfPlus);
        let land = book.fund_balances(Source::Land);
        let total = esf.plus(&land);
        assert_eq!(total.allocated, Cents(234_000_000));
        assert_eq!(total.committed, Cents(21_000_000));
        assert_eq!(total.disbursed, Cents(1_750_000));
        assert_eq!(total.unpaid, Cents(19_250_000));
        assert_eq!(esf.recovered, Cents(100_000));
        assert_eq!(esf.receivable, Cents(60_000));
        assert_eq!(esf.repaid, Cents(40_000));
        assert_eq!(total.available, Cents(213_000_000));
        for figures in [esf, land, total] {
            assert!(figures.parts_sum_to_whole(), "{figures:?}");
        }
        for source in Source::ALL {
            assert_eq!(book.trial_balance(source), 0);
        }
        let project = book.project_balances(p, Source::EsfPlus);
        assert_eq!(project.committed, Cents(18_000_000));
        assert_eq!(project.disbursed, Cents(1_500_000));
        assert_eq!(project.recovered, Cents(100_000));
    }

    #[test]
    fn every_account_has_a_kind_of_the_chart_and_its_wire_name_parses_back() {
        let p = proposal();
        let accounts = [
            Account::Budget,
            Account::Available,
            Account::Reserved { proposal_id: p },
            Account::Committed { proposal_id: p },
            Account::Disbursed { proposal_id: p },
            Account::Receivable { proposal_id: p },
            Account::Repaid { proposal_id: p },
            Account::Expired,
            Account::Interest,
            Account::InterestReceivable { proposal_id: p },
            Account::InterestPaid { proposal_id: p },
        ];
        let kinds: Vec<AccountKind> = accounts.iter().map(Account::account_kind).collect();
        assert_eq!(kinds, AccountKind::ALL);
        for (account, kind) in accounts.iter().zip(AccountKind::ALL) {
            let json = serde_json::to_value(account).expect("json");
            assert_eq!(json["kind"], kind.as_str());
            assert_eq!(AccountKind::parse(account.kind()), Some(kind));
        }
        assert_eq!(AccountKind::parse("payable"), None);
    }

    #[test]
    fn given_project_balances_when_figured_then_each_counts_in_every_figure_it_is_part_of() {
        let mut kinds = KindBalances::default();
        for (kind, cents) in [
            (AccountKind::Budget, -1_000),
            (AccountKind::Available, 600),
            (AccountKind::Reserved, 100),
            (AccountKind::Committed, 150),
            (AccountKind::Disbursed, 100),
            (AccountKind::Receivable, 30),
            (AccountKind::Repaid, 20),
        ] {
            kinds.add(kind, cents);
        }
        let figures = kinds.fund_figures();
        assert_eq!(figures.allocated, Cents(1_000));
        assert_eq!(figures.reserved, Cents(100));
        assert_eq!(figures.committed, Cents(300));
        assert_eq!(figures.unpaid, Cents(150));
        assert_eq!(figures.disbursed, Cents(150));
        assert_eq!(figures.recovered, Cents(50));
        assert_eq!(figures.receivable, Cents(30));
        assert_eq!(figures.repaid, Cents(20));
        assert!(figures.parts_sum_to_whole());
        assert_eq!(kinds.checked_project_figures(), Some(figures.projects()));
    }

    #[test]
    fn stored_project_figures_give_back_the_differences() {
        let figures =
            ProjectBalances::from_stored(Cents(5), Cents(300), Cents(150), Cents(50), Cents(20));
        assert_eq!(figures.unpaid, Cents(150));
        assert_eq!(figures.receivable, Cents(30));
        assert_eq!(
            figures.stored(),
            [Cents(5), Cents(300), Cents(150), Cents(50), Cents(20)]
        );
        assert_eq!(ProjectBalances::STORED.len(), figures.stored().len());
    }

    #[test]
    fn a_figure_beyond_i64_is_no_checked_figure() {
        let mut kinds = KindBalances::default();
        kinds.add(AccountKind::Committed, i128::from(i64::MAX));
        kinds.add(AccountKind::Disbursed, 1);
        assert_eq!(kinds.checked_project_figures(), None);
        assert_eq!(kinds.project_figures().committed, Cents(i64::MAX));
    }

    #[test]
    fn each_event_about_a_project_sets_the_status_the_fund_gives_it() {
        let p = proposal();
        let reserved = LedgerEvent::FundsReserved(FundsReserved {
            fund_id: "non-2021-2027".into(),
            proposal_id: p,
            reserved: Amounts::new(10, 2),
            from_waitlist: false,
            value_date: date(2025, 1, 2),
            postings: Vec::new(),
        });
        assert_eq!(
            reserved.project_change(),
            Some((
                p,
                ProjectChange {
                    status: Some(ProjectStatus::Reserved),
                    requested: Some(Amounts::new(10, 2)),
                    ..ProjectChange::default()
                }
            ))
        );
        let (_, committed) = committed_event().project_change().expect("a project event");
        assert_eq!(committed.status, Some(ProjectStatus::Committed));
        assert_eq!(committed.granted, Some(Amounts::new(18_000_000, 3_000_000)));
        let later = committed.after(reserved.project_change().expect("project").1);
        assert_eq!(later.status, Some(ProjectStatus::Committed));
        assert_eq!(later.requested, Some(Amounts::new(10, 2)));
        let allocated = LedgerEvent::BudgetAllocated(BudgetAllocated {
            fund_id: "non-2021-2027".into(),
            allocated: Amounts::new(1, 1),
            commit_deadline: date(2027, 12, 31),
            value_date: date(2025, 1, 1),
            postings: Vec::new(),
        });
        assert_eq!(allocated.project_change(), None);
        for status in ProjectStatus::ALL {
            assert_eq!(ProjectStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn a_sealed_event_hashes_its_canonical_json_without_the_hash() {
        let mut first = envelope(committed_event(), 1);
        seal(&mut first, GENESIS_HASH).expect("seal");
        let stored = serde_json::to_value(&first).expect("serialize");
        assert_eq!(stored["prevhash"], GENESIS_HASH);
        let hash = first.hash.clone().expect("hash set");
        assert_eq!(event_hash(&stored).expect("hash"), hash);

        let mut second = envelope(committed_event(), 2);
        seal(&mut second, &hash).expect("seal");
        assert_eq!(second.prevhash.as_deref(), Some(hash.as_str()));

        let mut tampered = stored.clone();
        tampered["data"]["granted"]["esf_cents"] = serde_json::json!(18_000_001);
        assert_ne!(event_hash(&tampered).expect("hash"), hash);
    }

    #[test]
    fn fund_ids_name_an_alliance_and_a_period() {
        assert!(is_valid_fund_id(&fund_id("non", 2021, 2027)));
        assert!(is_valid_fund_id("son-2014-2020"));
        for bad in [
            "non",
            "non-2027-2021",
            "Non-2021-2027",
            "non-21-27",
            "no.n-2021-2027",
            "-2021-2027",
        ] {
            assert!(!is_valid_fund_id(bad), "{bad:?} must be refused");
        }
    }

    #[test]
    fn every_ledger_event_type_has_a_schema_and_an_asyncapi_message() {
        let asyncapi = std::fs::read_to_string(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/asyncapi.yaml"),
        )
        .expect("docs/asyncapi.yaml exists");
        let with_schema: Vec<&str> = crate::schema::event_schemas()
            .iter()
            .map(|(t, _)| *t)
            .collect();
        for event_type in LedgerEvent::all_types() {
            assert!(
                with_schema.contains(event_type),
                "{event_type} has no schema"
            );
            let reference = format!("schemas/{event_type}.json");
            assert!(
                asyncapi.contains(&reference),
                "asyncapi does not reference {reference}"
            );
        }
        for command in COMMANDS {
            assert!(
                asyncapi.contains(command),
                "asyncapi does not list the command {command}"
            );
        }
    }
    fn any_account() -> impl proptest::strategy::Strategy<Value = Account> {
        use proptest::prelude::*;
        (0usize..8, 0u128..3).prop_map(|(kind, project)| {
            let proposal_id = Uuid::from_u128(project);
            match kind {
                0 => Account::Budget,
                1 => Account::Available,
                2 => Account::Reserved { proposal_id },
                3 => Account::Committed { proposal_id },
                4 => Account::Disbursed { proposal_id },
                5 => Account::Receivable { proposal_id },
                6 => Account::Repaid { proposal_id },
                _ => Account::Expired,
            }
        })
    }

    fn any_postings() -> impl proptest::strategy::Strategy<Value = Vec<(Account, Account, i64)>> {
        proptest::collection::vec((any_account(), any_account(), 1i64..1_000_000_000), 0..40)
    }

    proptest::proptest! {
        #[test]
        fn whatever_is_posted_the_fund_figures_sum_to_the_whole(postings in any_postings()) {
            let mut book = AccountBook::default();
            for (debit, credit, cents) in postings {
                let posting = Posting { debit, credit, amount_cents: Cents(cents), source: Source::Land };
                book.post(&posting).expect("small amounts do not overflow");
            }
            let figures = book.fund_balances(Source::Land);
            proptest::prop_assert!(figures.parts_sum_to_whole(), "{:?}", figures);
            proptest::prop_assert_eq!(figures.unpaid.0, figures.committed.0 - figures.disbursed.0);
            proptest::prop_assert_eq!(figures.receivable.0, figures.recovered.0 - figures.repaid.0);
        }

        #[test]
        fn the_figures_of_two_changes_are_the_sum_of_their_figures(
            first in any_postings(),
            second in any_postings(),
        ) {
            let fold = |postings: &[(Account, Account, i64)]| {
                let mut kinds = KindBalances::default();
                for (debit, credit, cents) in postings {
                    kinds.add_account(debit, i128::from(*cents));
                    kinds.add_account(credit, -i128::from(*cents));
                }
                kinds
            };
            let (a, b) = (fold(&first), fold(&second));
            let both = fold(&[first, second].concat());
            let summed = a.checked_project_figures().expect("in range")
                .plus(&b.checked_project_figures().expect("in range"));
            proptest::prop_assert_eq!(both.checked_project_figures(), Some(summed));
            proptest::prop_assert_eq!(both.fund_figures(), a.fund_figures().plus(&b.fund_figures()));
        }
    }
}
