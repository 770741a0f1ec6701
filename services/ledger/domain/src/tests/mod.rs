//! Tests of the Fund aggregate: given/when/then per rule ([`rules`]), the worked examples of the
//! domain notes and the waitlist race ([`examples`]), decisions refused for an invariant and the
//! waitlist check at the end of a decision ([`asserted`]), and proptests over random command
//! sequences ([`props`]).

mod asserted;
mod claims;
mod examples;
mod group;
mod import;
mod props;
mod rules;
mod settle;

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::ledger::{LedgerEvent, ReleaseReason, Source};
use buendel_contract::{Aggregate, Cents};

use super::{Command, Fund, LedgerError};

/// The fund of the examples.
pub(super) const FUND: &str = "non-2021-2027";

pub(super) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// NON's commitment deadline.
pub(super) fn deadline() -> NaiveDate {
    day(2027, 12, 31)
}

/// The business date most commands are given on.
pub(super) fn today() -> NaiveDate {
    day(2025, 3, 1)
}

/// A proposal id from a number.
pub(super) fn p(n: u128) -> Uuid {
    Uuid::from_u128(0xb0e0_0000 + n)
}

pub(super) fn allocate(esf: i64, land: i64) -> Command {
    Command::AllocateBudget {
        fund_id: FUND.into(),
        esf: Cents(esf),
        land: Cents(land),
        commit_deadline: deadline(),
        today: day(2025, 1, 2),
    }
}

pub(super) fn adjust(source: Source, delta: i64) -> Command {
    Command::AdjustBudget {
        source,
        delta_cents: Cents(delta),
        reason: "ministry letter".into(),
        today: today(),
    }
}

pub(super) fn reserve(proposal: Uuid, esf: i64, land: i64) -> Command {
    Command::Reserve {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        today: today(),
    }
}

pub(super) fn commit(proposal: Uuid, esf: i64, land: i64) -> Command {
    Command::Commit {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        terms: None,
        today: today(),
    }
}

pub(super) fn release(proposal: Uuid, reason: ReleaseReason) -> Command {
    Command::ReleaseReservation {
        proposal_id: proposal,
        reason,
        today: today(),
    }
}

pub(super) fn disburse(
    proposal: Uuid,
    reference: &str,
    esf: i64,
    land: i64,
    value_date: NaiveDate,
) -> Command {
    Command::RecordDisbursement {
        proposal_id: proposal,
        payment_reference: reference.into(),
        esf: Cents(esf),
        land: Cents(land),
        value_date,
        today: value_date,
    }
}

pub(super) fn close(proposal: Uuid) -> Command {
    Command::CloseProject {
        proposal_id: proposal,
        today: today(),
    }
}

pub(super) fn recover(proposal: Uuid, esf: i64, land: i64) -> Command {
    Command::AssessRecovery {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        reason: "final report: eligible costs 280,000.00 EUR".into(),
        today: today(),
    }
}

pub(super) fn repay(proposal: Uuid, esf: i64, land: i64, value_date: NaiveDate) -> Command {
    Command::RecordRepayment {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        value_date,
        today: value_date,
    }
}

/// The same command given on another business date.
pub(super) fn on(mut command: Command, date: NaiveDate) -> Command {
    match &mut command {
        Command::AllocateBudget { today, .. }
        | Command::AdjustBudget { today, .. }
        | Command::Reserve { today, .. }
        | Command::Commit { today, .. }
        | Command::ReleaseReservation { today, .. }
        | Command::RecordDisbursement { today, .. }
        | Command::CloseProject { today, .. }
        | Command::AssessRecovery { today, .. }
        | Command::RecordRepayment { today, .. }
        | Command::ExpireUnbound { today }
        | Command::SubmitClaim { today, .. }
        | Command::VerifyClaim { today, .. }
        | Command::ReturnClaim { today, .. }
        | Command::ResubmitClaim { today, .. }
        | Command::ApproveClaim { today, .. }
        | Command::CheckFinalReport { today, .. }
        | Command::RevokeGrant { today, .. }
        | Command::ChargeInterest { today, .. }
        | Command::RecordInterestPayment { today, .. }
        | Command::LockPeriod { today, .. }
        | Command::NoteCorrection { today, .. } => *today = date,
    }
    command
}

/// Decides and applies one command, checking every event's entry and every invariant after it.
pub(super) fn step(
    state: Fund,
    command: &Command,
) -> Result<(Fund, Vec<LedgerEvent>), LedgerError> {
    let events = state.decide(command)?;
    let mut state = state;
    for event in &events {
        event
            .check_entry()
            .expect("every decided entry is well formed");
        state = state.apply(event);
        state
            .check_invariants()
            .expect("every decided event keeps every invariant");
    }
    Ok((state, events))
}

/// Runs commands that must all be accepted; returns the state and every event, in order.
pub(super) fn run(commands: &[Command]) -> (Fund, Vec<LedgerEvent>) {
    let mut state = Fund::default();
    let mut history = Vec::new();
    for command in commands {
        let (next, events) =
            step(state, command).unwrap_or_else(|e| panic!("{} was refused: {e}", command.name()));
        state = next;
        history.extend(events);
    }
    (state, history)
}

/// The events of commands that must all be accepted: the "given" of a test.
pub(super) fn history(commands: &[Command]) -> Vec<LedgerEvent> {
    run(commands).1
}
