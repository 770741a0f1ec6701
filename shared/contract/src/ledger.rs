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
//! postings into balances; [`AccountBook::fund_balances`] and [`AccountBook::project_balances`]
//! compute the figures, so the service, the projector, the API and the auditor count alike.
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

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::canonical::{sha256_hex, NotCanonical};
use crate::money::Cents;
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
}

impl Account {
    /// The account kind's wire name, e.g. `reserved`.
    pub fn kind(&self) -> &'static str {
        match self {
            Account::Budget => "budget",
            Account::Available => "available",
            Account::Reserved { .. } => "reserved",
            Account::Committed { .. } => "committed",
            Account::Disbursed { .. } => "disbursed",
            Account::Receivable { .. } => "receivable",
            Account::Repaid { .. } => "repaid",
            Account::Expired => "expired",
        }
    }

    /// The project of a project account; `None` for the fund accounts.
    pub fn proposal_id(&self) -> Option<Uuid> {
        match self {
            Account::Budget | Account::Available | Account::Expired => None,
            Account::Reserved { proposal_id }
            | Account::Committed { proposal_id }
            | Account::Disbursed { proposal_id }
            | Account::Receivable { proposal_id }
            | Account::Repaid { proposal_id } => Some(*proposal_id),
        }
    }

    /// True for `budget`, the only account whose balance is never positive.
    pub fn is_credit_normal(&self) -> bool {
        matches!(self, Account::Budget)
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

/// The operator commands of the ledger service, served on `<ns>.cmd.ledger.<command>`.
pub const COMMANDS: [&str; 8] = [
    "allocate_budget",
    "adjust_budget",
    "release_reservation",
    "record_disbursement",
    "close_project",
    "assess_recovery",
    "record_repayment",
    "expire_unbound",
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
    balances: BTreeMap<(Source, Account), i64>,
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
        let mut figures = Figures::default();
        for ((s, account), cents) in &self.balances {
            if *s == source {
                figures.add(account, i128::from(*cents));
            }
        }
        figures.fund()
    }

    /// One project's figures of one source.
    pub fn project_balances(&self, proposal_id: Uuid, source: Source) -> ProjectBalances {
        let mut figures = Figures::default();
        for account in [
            Account::Reserved { proposal_id },
            Account::Committed { proposal_id },
            Account::Disbursed { proposal_id },
            Account::Receivable { proposal_id },
            Account::Repaid { proposal_id },
        ] {
            figures.add(&account, i128::from(self.raw(source, &account)));
        }
        figures.project()
    }
}

/// Sums of account balances by kind, wide enough never to overflow.
#[derive(Default)]
struct Figures {
    budget: i128,
    available: i128,
    reserved: i128,
    committed: i128,
    disbursed: i128,
    receivable: i128,
    repaid: i128,
    expired: i128,
}

fn narrow(wide: i128) -> Cents {
    Cents(i64::try_from(wide).unwrap_or(if wide < 0 { i64::MIN } else { i64::MAX }))
}

impl Figures {
    fn add(&mut self, account: &Account, cents: i128) {
        let slot = match account {
            Account::Budget => &mut self.budget,
            Account::Available => &mut self.available,
            Account::Reserved { .. } => &mut self.reserved,
            Account::Committed { .. } => &mut self.committed,
            Account::Disbursed { .. } => &mut self.disbursed,
            Account::Receivable { .. } => &mut self.receivable,
            Account::Repaid { .. } => &mut self.repaid,
            Account::Expired => &mut self.expired,
        };
        *slot += cents;
    }

    fn project(&self) -> ProjectBalances {
        let recovered = self.receivable + self.repaid;
        let disbursed = self.disbursed + recovered;
        ProjectBalances {
            reserved: narrow(self.reserved),
            committed: narrow(self.committed + disbursed),
            unpaid: narrow(self.committed),
            disbursed: narrow(disbursed),
            recovered: narrow(recovered),
            receivable: narrow(self.receivable),
            repaid: narrow(self.repaid),
        }
    }

    fn fund(&self) -> SourceBalances {
        let project = self.project();
        SourceBalances {
            allocated: narrow(-self.budget),
            available: narrow(self.available),
            reserved: project.reserved,
            committed: project.committed,
            unpaid: project.unpaid,
            disbursed: project.disbursed,
            recovered: project.recovered,
            receivable: project.receivable,
            repaid: project.repaid,
            expired: narrow(self.expired),
        }
    }
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
}
