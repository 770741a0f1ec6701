//! Tests of the Review aggregate: given/when/then per rule ([`rules`]) and properties ([`props`]);
//! of the Alliance aggregate: given/when/then per rule ([`alliance`]).
//!
//! Histories are built by running commands through the real `decide` (see [`history`]), so the
//! "given" events are exactly what the aggregate itself would have written.

mod alliance;
mod props;
mod rules;

use buendel_contract::aggregate::given;
use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::reference::{Partner, ProgramRules, RegionCategory};
use buendel_contract::review::{QuorumRule, ReviewEvent, Verdict, VoteChoice};
use buendel_contract::{Aggregate, DomainError};
use chrono::NaiveDate;
use uuid::Uuid;

use super::{Command, Review, ReviewError};

/// The proposal under review.
fn proposal_id() -> Uuid {
    Uuid::from_u128(0x0b0e_0000_0000_0000_0000_0000_0000_0001)
}

/// Partners `p0` .. `p{n-1}`.
fn roster(n: usize) -> Vec<Partner> {
    (0..n)
        .map(|i| Partner {
            id: format!("p{i}"),
            name: format!("Partner {i}"),
        })
        .collect()
}

/// Screened eligible costs of the proposal: 300 000.00 EUR (the Heidekreis example).
const SCREENED: Cents = Cents(30_000_000);

fn open_with(partners: Vec<Partner>, region: RegionCategory, quorum: QuorumRule) -> Command {
    Command::Open {
        proposal_id: proposal_id(),
        alliance_id: "non".into(),
        partners,
        region,
        quorum,
        rules: ProgramRules::esf_plus_2021_2027(),
        eligible_cost_cents: SCREENED,
        requested_rate_bp: BasisPoints(7_000),
    }
}

/// Opens a review of five partners in a transition region with the default quorum (3 of 5).
fn open() -> Command {
    open_with(roster(5), RegionCategory::Transition, QuorumRule::default())
}

fn vote(partner: &str, vote: VoteChoice) -> Command {
    Command::Vote {
        partner_id: partner.into(),
        vote,
        comment: None,
    }
}

fn recuse(partner: &str) -> Command {
    Command::DeclareConflict {
        partner_id: partner.into(),
        reason: "is the applicant".into(),
    }
}

fn statement(verdict: Verdict) -> Command {
    Command::IssueStatement {
        verdict,
        conditions: vec![],
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// The Heidekreis grant: 300 000.00 EUR at 70 % total, 60 % ESF+ → 180 000.00 + 30 000.00.
fn grant() -> Command {
    Command::RecordGrant {
        bank_reference: "NB-2025-0042".into(),
        eligible_cost_cents: SCREENED,
        total_rate_bp: BasisPoints(7_000),
        esf_rate_bp: BasisPoints(6_000),
        esf_cents: Cents(18_000_000),
        land_cents: Cents(3_000_000),
        period_from: date(2025, 1, 1),
        period_to: date(2027, 12, 31),
        amendment_reference: None,
    }
}

fn refusal() -> Command {
    Command::RecordRefusal {
        bank_reference: "NB-2025-0043".into(),
        reason: "no budget".into(),
    }
}

fn close() -> Command {
    Command::Close {
        reason: "withdrawn by the applicant".into(),
    }
}

/// Runs `commands` through `decide` and `apply`, failing the test if any is refused.
fn history(commands: &[Command]) -> Vec<ReviewEvent> {
    let mut state = Review::default();
    let mut events = Vec::new();
    for command in commands {
        let decided = state
            .decide(command)
            .unwrap_or_else(|e| panic!("history command {} refused: {e}", command.name()));
        for event in decided {
            state = state.apply(&event);
            events.push(event);
        }
    }
    events
}

/// Open, three votes (2 yes, 1 no), positive statement.
fn positive() -> Vec<Command> {
    vec![
        open(),
        vote("p0", VoteChoice::Yes),
        vote("p1", VoteChoice::Yes),
        vote("p2", VoteChoice::No),
        statement(Verdict::Positive),
    ]
}

/// The refusal code of `command` on the state after `commands`.
fn refused(commands: &[Command], command: &Command) -> &'static str {
    match given::<Review>(&history(commands)).decide(command) {
        Ok(events) => panic!("{} was accepted: {events:?}", command.name()),
        Err(error) => error.code(),
    }
}

/// The one event `command` produces on the state after `commands`.
fn accepted(commands: &[Command], command: &Command) -> ReviewEvent {
    let mut events = given::<Review>(&history(commands))
        .decide(command)
        .unwrap_or_else(|e| panic!("{} refused: {} ({e})", command.name(), e.code()));
    assert_eq!(events.len(), 1, "one event per command");
    events.remove(0)
}
