//! The pure core of the ledger service: no async, no I/O, no clock.
//!
//! - [`command`]: what may be asked of a fund; `today` and every other fact travel in the command.
//! - [`error`]: why a command is refused, one stable code per rule.
//! - [`fund`]: the Fund aggregate (state, `apply`, `decide`) and the FIFO waitlist.
//! - [`invariants`]: [`Fund::check_invariants`], what must hold after every event, and
//!   [`Fund::waitlist_served_check`], what must hold at the end of every decision.
//! - `state`: the parts of a fund the rules read and write, so they run on the fund or on a draft.
//! - `draft`: `decide` tries each decision on a draft over the fund and refuses one that would
//!   break an invariant (`invariant_violation`), without copying the fund.
//! - [`balances`]: [`Fund::balances`], the figures per source and per project.
//! - [`claims`]: payment claims, their verification with four eyes, and the rules they keep.
//! - [`settle`]: the final report and its settlement, revocation, interest on recoveries.
//! - [`import`]: a closed programme period brought in from the old books as one decision, every
//!   step decided by the ledger's own rules on its historic date.
//! - [`saga`]: the saga with approval, the pure half: which ledger command a review event asks for.
//!
//! The event contract, the chart of accounts and the journal entry of each event are documented in
//! [`buendel_contract::ledger`]. The rules in short:
//!
//! - Every amount is integer cents, ≥ 0, at most [`AMOUNT_CENTS_MAX`]; per source
//!   `available ≥ 0`, per project and source disbursed ≤ committed, recovered ≤ disbursed,
//!   repaid ≤ recovered.
//! - Entries are booked on a date: payments on their value date (never before the last date booked
//!   on the fund, never in the future), everything else on `max(today, last date booked)`, so
//!   value dates never go backwards and balances `as_of` a date are those after a prefix of events.
//! - The commitment deadline is inclusive. After it nothing is reserved or committed, and money
//!   freed from a project goes to `expired`; `expire_unbound` moves what is still available there.
//! - The waitlist is strictly first come, first served: a reservation is declined while anyone is
//!   waiting, and whenever money is freed on or before the deadline, the head of the waitlist is
//!   reserved as long as it fits; the first one that does not fit stops the queue. After every
//!   decision (on or before the deadline) the head of a non-empty waitlist does not fit
//!   ([`Fund::waitlist_served_check`]).
//! - Every decision is tried on a draft over the fund and checked after each of its events with
//!   the auditor's own incremental check; one that would break an invariant is refused with
//!   `invariant_violation` and never appended.
//! - A grant decision is binding: it commits from the reservation, reserving the difference first
//!   when the grant is larger (even for a waitlisted or never reserved proposal), and is refused
//!   with `commitment_shortfall` when that difference is not available.

pub mod balances;
pub mod claims;
pub mod command;
mod decide;
mod draft;
pub mod error;
pub mod fund;
pub mod import;
pub mod invariants;
pub mod saga;
pub mod settle;
mod state;

#[cfg(test)]
mod tests;

pub use balances::{FundBalances, ProjectMoney};
pub use claims::{Claim, ClaimStatus, NewClaim};
pub use command::Command;
pub use error::LedgerError;
pub use fund::{Fund, Project, ProjectStatus};
pub use invariants::InvariantViolation;

/// The largest amount one command may move or allocate per source, in cents (one trillion euros):
/// far above any program, far below where sums of many amounts could overflow `i64`.
pub const AMOUNT_CENTS_MAX: i64 = 100_000_000_000_000;

/// The longest free text (reason, payment reference) a command may carry, in characters.
pub const TEXT_LEN_MAX: usize = 500;
