//! The Review aggregate's events (`buendel.review.*`), one subject per proposal:
//! `<ns>.review.<proposal_id>` (stream REVIEWS). The aggregate id is the proposal id.
//!
//! A review is opened when a proposal passes screening, collects conflict declarations and votes of
//! the alliance's partners, ends in the alliance's statement (Stellungnahme), and then records the
//! bank's decision: a grant or a refusal. A withdrawn proposal closes its review. Nothing is ever
//! edited: a changed vote is a new `vote_recorded` that supersedes the partner's earlier one.
//!
//! Also here: the [`QuorumRule`] and the [`Tally`] a statement carries, so every consumer counts the
//! same way.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::{BasisPoints, Cents, BP_PER_WHOLE};
use crate::reference::{Partner, RegionCategory};
use crate::EventKind;

/// When the partners' votes are enough for a statement.
///
/// The rule, in full:
///
/// - **Eligible** partners are the roster minus the recused ones (a declared conflict removes the
///   partner from the count, and any vote it cast no longer counts).
/// - **Participants** are the eligible partners whose last vote is `yes`, `no` or `abstain`.
/// - The **quorum** is met when `participants × 10 000 ≥ eligible × min_participation_bp` and at
///   least one partner is eligible. The default, 5 001 bp, means "more than half": 8 of 14, 15 of 28,
///   7 of 13.
/// - A **positive** statement additionally needs more `yes` than `no` votes (abstentions count for
///   the quorum, not for the majority). A **negative** statement needs only the quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuorumRule {
    /// The share of eligible (non-recused) partners that must have voted, in basis points; 1..=10 000.
    pub min_participation_bp: BasisPoints,
}

/// More than half of the eligible partners, in basis points.
pub const DEFAULT_MIN_PARTICIPATION_BP: BasisPoints = BasisPoints(5_001);

impl Default for QuorumRule {
    /// More than half of the eligible partners must vote.
    fn default() -> Self {
        Self {
            min_participation_bp: DEFAULT_MIN_PARTICIPATION_BP,
        }
    }
}

impl QuorumRule {
    /// Whether the rule itself makes sense: at least 1 bp, at most 100 %.
    pub fn is_valid(&self) -> bool {
        (1..=BP_PER_WHOLE).contains(&self.min_participation_bp.0)
    }

    /// How many participants `eligible` partners need: `ceil(eligible × bp / 10 000)`, at least 1.
    pub fn required_participants(&self, eligible: u32) -> u32 {
        let wide = u64::from(eligible) * u64::from(self.min_participation_bp.0);
        let needed = wide.div_ceil(u64::from(BP_PER_WHOLE)).max(1);
        u32::try_from(needed).unwrap_or(u32::MAX)
    }

    /// Whether the votes counted in `tally` meet this quorum.
    pub fn is_met(&self, tally: &Tally) -> bool {
        tally.eligible > 0 && tally.participants() >= self.required_participants(tally.eligible)
    }
}

/// The count of a review at one moment: last votes of the non-recused partners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Tally {
    /// Eligible partners whose last vote is `yes`.
    pub yes: u32,
    /// Eligible partners whose last vote is `no`.
    pub no: u32,
    /// Eligible partners whose last vote is `abstain`.
    pub abstain: u32,
    /// Partners of the roster who declared a conflict.
    pub recused: u32,
    /// Partners who may vote: the roster minus the recused.
    pub eligible: u32,
}

impl Tally {
    /// Eligible partners who voted at all (`yes`, `no` or `abstain`).
    pub fn participants(&self) -> u32 {
        self.yes + self.no + self.abstain
    }

    /// More `yes` than `no`: what a positive statement needs besides the quorum.
    pub fn has_majority(&self) -> bool {
        self.yes > self.no
    }
}

/// A partner's vote on one proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoteChoice {
    /// For a positive statement.
    Yes,
    /// Against.
    No,
    /// Takes part (counts for the quorum) without taking a side.
    Abstain,
}

impl VoteChoice {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            VoteChoice::Yes => "yes",
            VoteChoice::No => "no",
            VoteChoice::Abstain => "abstain",
        }
    }
}

/// The alliance's statement on a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The alliance supports the proposal; the bank gives that decisive weight.
    Positive,
    /// The alliance does not support it.
    Negative,
}

impl Verdict {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Positive => "positive",
            Verdict::Negative => "negative",
        }
    }
}

/// `buendel.review.opened.v1`: a screened proposal goes to the alliance's partners.
///
/// Everything later decisions need is frozen here: who may vote, the quorum, and the program rules
/// (version and the caps that apply in the alliance's region category).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Opened {
    /// The proposal, which is also the review's aggregate id.
    pub proposal_id: Uuid,
    /// The alliance whose partners review it.
    pub alliance_id: String,
    /// The partner roster as it stood when the review opened: exactly these may vote.
    pub partners: Vec<Partner>,
    /// When the votes are enough for a statement.
    pub quorum: QuorumRule,
    /// The alliance's region category, which caps the ESF+ rate.
    pub region: RegionCategory,
    /// Eligible costs as screened; a grant above them must be an amendment.
    pub eligible_cost_cents: Cents,
    /// Total grant rate requested, as screened.
    pub requested_rate_bp: BasisPoints,
    /// The version of the program rules the caps below come from.
    pub rules_version: String,
    /// Total grant rate cap of those rules.
    pub max_total_rate_bp: BasisPoints,
    /// ESF+ rate cap of those rules in this region category.
    pub max_esf_rate_bp: BasisPoints,
    /// First day of the rules' eligibility window; a grant period starts no earlier.
    pub eligible_from: NaiveDate,
    /// Last day of the rules' eligibility window; a grant period ends no later.
    pub eligible_until: NaiveDate,
}

/// `buendel.review.conflict_declared.v1`: a partner recused itself from this proposal.
///
/// From now on it cannot vote, does not count as eligible, and a vote it cast before no longer counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConflictDeclared {
    /// The proposal.
    pub proposal_id: Uuid,
    /// The recused partner's id (from the roster).
    pub partner_id: String,
    /// The nature of the conflict, for the conflict-of-interest register.
    pub reason: String,
}

/// `buendel.review.vote_recorded.v1`: a partner voted; a later vote of the same partner supersedes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VoteRecorded {
    /// The proposal.
    pub proposal_id: Uuid,
    /// The voting partner's id (from the roster).
    pub partner_id: String,
    /// Yes, no or abstain.
    pub vote: VoteChoice,
    /// What the partner said with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `buendel.review.statement_issued.v1`: the alliance's statement, with the count it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatementIssued {
    /// The proposal.
    pub proposal_id: Uuid,
    /// Positive or negative.
    pub verdict: Verdict,
    /// Conditions the alliance attaches (e.g. "cooperate with the employment agency").
    pub conditions: Vec<String>,
    /// The votes as counted when the statement was issued.
    pub tally: Tally,
    /// Whether the tally met the review's quorum rule (a statement is only issued when it does).
    pub quorum_met: bool,
    /// What money needs, carried from v2 on (`None` when read from v1): the fund and the requested
    /// split. Not part of the v1 wire shape.
    #[serde(skip)]
    #[schemars(skip)]
    pub money: Option<StatementMoney>,
}

/// `buendel.review.grant_decided.v1`: the bank granted the project (Zuwendungsbescheid).
///
/// Invariants (checked when decided): `total_rate_bp ≤ max_total_rate_bp`, `esf_rate_bp ≤
/// max_esf_rate_bp`, `esf_rate_bp ≤ total_rate_bp`, and `esf_cents`/`land_cents` are exactly
/// [`crate::money::Split::compute`]`(eligible_cost_cents, total_rate_bp, esf_rate_bp)`, so
/// `esf_cents + land_cents = floor(eligible_cost_cents × total_rate_bp / 10 000)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantDecided {
    /// The proposal.
    pub proposal_id: Uuid,
    /// The bank's reference of the decision.
    pub bank_reference: String,
    /// Eligible costs as granted (the amount every later check compares against).
    pub eligible_cost_cents: Cents,
    /// Total grant rate.
    pub total_rate_bp: BasisPoints,
    /// ESF+ rate (part of the total rate).
    pub esf_rate_bp: BasisPoints,
    /// The ESF+ part of the grant.
    pub esf_cents: Cents,
    /// The Land part of the grant (the rest of the grant).
    pub land_cents: Cents,
    /// First day of the grant period.
    pub period_from: NaiveDate,
    /// Last day of the grant period.
    pub period_to: NaiveDate,
    /// Present when the granted eligible costs exceed the screened ones: the bank's reference that
    /// says so. Such a grant is an amendment, never silently accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amendment: Option<String>,
    /// The fund that pays, carried from v2 on (`None` when read from v1). Not part of the v1
    /// wire shape.
    #[serde(skip)]
    #[schemars(skip)]
    pub fund: Option<FundFacts>,
}

/// `buendel.review.grant_refused.v1`: the bank refused the grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantRefused {
    /// The proposal.
    pub proposal_id: Uuid,
    /// The bank's reference of the refusal.
    pub bank_reference: String,
    /// Why.
    pub reason: String,
    /// The fund that pays, carried from v2 on (`None` when read from v1). Not part of the v1
    /// wire shape.
    #[serde(skip)]
    #[schemars(skip)]
    pub fund: Option<FundFacts>,
}

/// `buendel.review.closed.v1`: the review ended without a grant because the proposal was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Closed {
    /// The proposal.
    pub proposal_id: Uuid,
    /// Why (usually the applicant's reason for withdrawing).
    pub reason: String,
    /// The fund that pays, carried from v2 on (`None` when read from v1). Not part of the v1
    /// wire shape.
    #[serde(skip)]
    #[schemars(skip)]
    pub fund: Option<FundFacts>,
}

/// `buendel.review.statement_issued.v2`
pub const STATEMENT_ISSUED_V2: &str = "buendel.review.statement_issued.v2";
/// `buendel.review.grant_decided.v2`
pub const GRANT_DECIDED_V2: &str = "buendel.review.grant_decided.v2";
/// `buendel.review.grant_refused.v2`
pub const GRANT_REFUSED_V2: &str = "buendel.review.grant_refused.v2";
/// `buendel.review.closed.v2`
pub const CLOSED_V2: &str = "buendel.review.closed.v2";
/// `buendel.review.terms_revised.v1`: the applicant revised the proposal before the statement and
/// the revision passed screening; the review goes on with these money facts (the roster and the
/// votes stay as they are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TermsRevised {
    /// The proposal.
    pub proposal_id: Uuid,
    /// Eligible costs as screened after the revision.
    pub eligible_cost_cents: Cents,
    /// Total grant rate requested, as screened after the revision.
    pub requested_rate_bp: BasisPoints,
}

/// The fund a review's money is booked on: the alliance's fund of the funding period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FundFacts {
    /// The alliance whose fund pays.
    pub alliance_id: String,
    /// Its fund, `<alliance>-<first year>-<last year>`.
    pub fund_id: String,
}

impl FundFacts {
    /// The fund of `alliance_id` in the funding period 2021–2027.
    pub fn of(alliance_id: &str) -> Self {
        Self {
            alliance_id: alliance_id.to_owned(),
            fund_id: crate::ledger::fund_id(alliance_id, FUNDING_FIRST_YEAR, FUNDING_LAST_YEAR),
        }
    }
}

/// The first year of the funding period reviews are booked in.
pub const FUNDING_FIRST_YEAR: u16 = 2021;
/// The last year of the funding period reviews are booked in.
pub const FUNDING_LAST_YEAR: u16 = 2027;

/// The grant a review's terms request, split into ESF+ and Land by the one rounding rule: the ESF+
/// rate is the requested rate up to the region's cap, Land pays the rest. `None` when it cannot be
/// split. The one home of this rule: the approval writes it into the statement, the ledger books
/// a v1 statement with it.
pub fn requested_split(
    eligible_cost_cents: Cents,
    requested_rate_bp: BasisPoints,
    max_esf_rate_bp: BasisPoints,
) -> Option<crate::money::Split> {
    let esf_rate = requested_rate_bp.min(max_esf_rate_bp);
    crate::money::Split::compute(eligible_cost_cents, requested_rate_bp, esf_rate)
}

/// What a statement carries for the ledger from v2 on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatementMoney {
    /// The fund that pays.
    #[serde(flatten)]
    pub fund: FundFacts,
    /// The ESF+ part of the grant requested (the review's terms, split by the one rounding rule).
    pub requested_esf_cents: Cents,
    /// The Land part of the grant requested.
    pub requested_land_cents: Cents,
}

/// `buendel.review.statement_issued.v2`: v1 and what the ledger books it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatementIssuedV2 {
    /// The v1 fields.
    #[serde(flatten)]
    pub statement: StatementIssued,
    /// The fund and the requested split.
    #[serde(flatten)]
    pub money: StatementMoney,
}

/// `buendel.review.grant_decided.v2`: v1 and the fund that pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantDecidedV2 {
    /// The v1 fields.
    #[serde(flatten)]
    pub grant: GrantDecided,
    /// The fund.
    #[serde(flatten)]
    pub fund: FundFacts,
}

/// `buendel.review.grant_refused.v2`: v1 and the fund that had reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantRefusedV2 {
    /// The v1 fields.
    #[serde(flatten)]
    pub refusal: GrantRefused,
    /// The fund.
    #[serde(flatten)]
    pub fund: FundFacts,
}

/// `buendel.review.closed.v2`: v1 and the fund that may have reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClosedV2 {
    /// The v1 fields.
    #[serde(flatten)]
    pub closed: Closed,
    /// The fund.
    #[serde(flatten)]
    pub fund: FundFacts,
}

/// Every event of the Review aggregate, in its latest shape. On the wire every published version
/// stays readable ([`ReviewEventWire`]); reading upcasts, writing writes the latest version (and an
/// event read as v1 as v1 again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ReviewEventWire", into = "ReviewEventWire")]
pub enum ReviewEvent {
    /// See [`Opened`].
    Opened(Opened),
    /// See [`ConflictDeclared`].
    ConflictDeclared(ConflictDeclared),
    /// See [`VoteRecorded`].
    VoteRecorded(VoteRecorded),
    /// See [`StatementIssued`].
    StatementIssued(StatementIssued),
    /// See [`GrantDecided`].
    GrantDecided(GrantDecided),
    /// See [`GrantRefused`].
    GrantRefused(GrantRefused),
    /// See [`Closed`].
    Closed(Closed),
    /// See [`TermsRevised`].
    TermsRevised(TermsRevised),
}

/// The Review events as stored: every published version. Published variants are never edited:
/// add a `v2` and its upcaster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ReviewEventWire {
    /// See [`Opened`].
    #[serde(rename = "buendel.review.opened.v1")]
    Opened(Opened),
    /// See [`ConflictDeclared`].
    #[serde(rename = "buendel.review.conflict_declared.v1")]
    ConflictDeclared(ConflictDeclared),
    /// See [`VoteRecorded`].
    #[serde(rename = "buendel.review.vote_recorded.v1")]
    VoteRecorded(VoteRecorded),
    /// See [`StatementIssued`].
    #[serde(rename = "buendel.review.statement_issued.v1")]
    StatementIssued(StatementIssued),
    /// See [`StatementIssuedV2`].
    #[serde(rename = "buendel.review.statement_issued.v2")]
    StatementIssuedV2(StatementIssuedV2),
    /// See [`GrantDecided`].
    #[serde(rename = "buendel.review.grant_decided.v1")]
    GrantDecided(GrantDecided),
    /// See [`GrantDecidedV2`].
    #[serde(rename = "buendel.review.grant_decided.v2")]
    GrantDecidedV2(GrantDecidedV2),
    /// See [`GrantRefused`].
    #[serde(rename = "buendel.review.grant_refused.v1")]
    GrantRefused(GrantRefused),
    /// See [`GrantRefusedV2`].
    #[serde(rename = "buendel.review.grant_refused.v2")]
    GrantRefusedV2(GrantRefusedV2),
    /// See [`Closed`].
    #[serde(rename = "buendel.review.closed.v1")]
    Closed(Closed),
    /// See [`ClosedV2`].
    #[serde(rename = "buendel.review.closed.v2")]
    ClosedV2(ClosedV2),
    /// See [`TermsRevised`].
    #[serde(rename = "buendel.review.terms_revised.v1")]
    TermsRevised(TermsRevised),
}

/// The upcaster: every stored version into the latest shape.
impl From<ReviewEventWire> for ReviewEvent {
    fn from(wire: ReviewEventWire) -> Self {
        match wire {
            ReviewEventWire::Opened(e) => ReviewEvent::Opened(e),
            ReviewEventWire::ConflictDeclared(e) => ReviewEvent::ConflictDeclared(e),
            ReviewEventWire::VoteRecorded(e) => ReviewEvent::VoteRecorded(e),
            ReviewEventWire::StatementIssued(e) => {
                ReviewEvent::StatementIssued(StatementIssued { money: None, ..e })
            }
            ReviewEventWire::StatementIssuedV2(e) => {
                ReviewEvent::StatementIssued(StatementIssued {
                    money: Some(e.money),
                    ..e.statement
                })
            }
            ReviewEventWire::GrantDecided(e) => {
                ReviewEvent::GrantDecided(GrantDecided { fund: None, ..e })
            }
            ReviewEventWire::GrantDecidedV2(e) => ReviewEvent::GrantDecided(GrantDecided {
                fund: Some(e.fund),
                ..e.grant
            }),
            ReviewEventWire::GrantRefused(e) => {
                ReviewEvent::GrantRefused(GrantRefused { fund: None, ..e })
            }
            ReviewEventWire::GrantRefusedV2(e) => ReviewEvent::GrantRefused(GrantRefused {
                fund: Some(e.fund),
                ..e.refusal
            }),
            ReviewEventWire::Closed(e) => ReviewEvent::Closed(Closed { fund: None, ..e }),
            ReviewEventWire::ClosedV2(e) => ReviewEvent::Closed(Closed {
                fund: Some(e.fund),
                ..e.closed
            }),
            ReviewEventWire::TermsRevised(e) => ReviewEvent::TermsRevised(e),
        }
    }
}

/// Writing: the latest version, or v1 for an event read from v1 (it has nothing more to write).
impl From<ReviewEvent> for ReviewEventWire {
    fn from(event: ReviewEvent) -> Self {
        match event {
            ReviewEvent::Opened(e) => ReviewEventWire::Opened(e),
            ReviewEvent::ConflictDeclared(e) => ReviewEventWire::ConflictDeclared(e),
            ReviewEvent::VoteRecorded(e) => ReviewEventWire::VoteRecorded(e),
            ReviewEvent::StatementIssued(mut e) => match e.money.take() {
                Some(money) => ReviewEventWire::StatementIssuedV2(StatementIssuedV2 {
                    statement: e,
                    money,
                }),
                None => ReviewEventWire::StatementIssued(e),
            },
            ReviewEvent::GrantDecided(mut e) => match e.fund.take() {
                Some(fund) => ReviewEventWire::GrantDecidedV2(GrantDecidedV2 { grant: e, fund }),
                None => ReviewEventWire::GrantDecided(e),
            },
            ReviewEvent::GrantRefused(mut e) => match e.fund.take() {
                Some(fund) => ReviewEventWire::GrantRefusedV2(GrantRefusedV2 { refusal: e, fund }),
                None => ReviewEventWire::GrantRefused(e),
            },
            ReviewEvent::Closed(mut e) => match e.fund.take() {
                Some(fund) => ReviewEventWire::ClosedV2(ClosedV2 { closed: e, fund }),
                None => ReviewEventWire::Closed(e),
            },
            ReviewEvent::TermsRevised(e) => ReviewEventWire::TermsRevised(e),
        }
    }
}

impl ReviewEvent {
    /// The fund this event is booked on, where the event carries it (v2 on).
    pub fn fund(&self) -> Option<&FundFacts> {
        match self {
            ReviewEvent::StatementIssued(e) => e.money.as_ref().map(|m| &m.fund),
            ReviewEvent::GrantDecided(e) => e.fund.as_ref(),
            ReviewEvent::GrantRefused(e) => e.fund.as_ref(),
            ReviewEvent::Closed(e) => e.fund.as_ref(),
            ReviewEvent::Opened(_)
            | ReviewEvent::ConflictDeclared(_)
            | ReviewEvent::VoteRecorded(_)
            | ReviewEvent::TermsRevised(_) => None,
        }
    }
}

/// `buendel.review.opened.v1`
pub const OPENED_V1: &str = "buendel.review.opened.v1";
/// `buendel.review.conflict_declared.v1`
pub const CONFLICT_DECLARED_V1: &str = "buendel.review.conflict_declared.v1";
/// `buendel.review.vote_recorded.v1`
pub const VOTE_RECORDED_V1: &str = "buendel.review.vote_recorded.v1";
/// `buendel.review.statement_issued.v1`
pub const STATEMENT_ISSUED_V1: &str = "buendel.review.statement_issued.v1";
/// `buendel.review.grant_decided.v1`
pub const GRANT_DECIDED_V1: &str = "buendel.review.grant_decided.v1";
/// `buendel.review.grant_refused.v1`
pub const GRANT_REFUSED_V1: &str = "buendel.review.grant_refused.v1";
/// `buendel.review.closed.v1`
pub const CLOSED_V1: &str = "buendel.review.closed.v1";
/// `buendel.review.terms_revised.v1`
pub const TERMS_REVISED_V1: &str = "buendel.review.terms_revised.v1";

impl EventKind for ReviewEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ReviewEvent::Opened(_) => OPENED_V1,
            ReviewEvent::ConflictDeclared(_) => CONFLICT_DECLARED_V1,
            ReviewEvent::VoteRecorded(_) => VOTE_RECORDED_V1,
            ReviewEvent::StatementIssued(e) if e.money.is_some() => STATEMENT_ISSUED_V2,
            ReviewEvent::StatementIssued(_) => STATEMENT_ISSUED_V1,
            ReviewEvent::GrantDecided(e) if e.fund.is_some() => GRANT_DECIDED_V2,
            ReviewEvent::GrantDecided(_) => GRANT_DECIDED_V1,
            ReviewEvent::GrantRefused(e) if e.fund.is_some() => GRANT_REFUSED_V2,
            ReviewEvent::GrantRefused(_) => GRANT_REFUSED_V1,
            ReviewEvent::Closed(e) if e.fund.is_some() => CLOSED_V2,
            ReviewEvent::Closed(_) => CLOSED_V1,
            ReviewEvent::TermsRevised(_) => TERMS_REVISED_V1,
        }
    }

    fn all_types() -> &'static [&'static str] {
        &[
            OPENED_V1,
            CONFLICT_DECLARED_V1,
            VOTE_RECORDED_V1,
            STATEMENT_ISSUED_V1,
            STATEMENT_ISSUED_V2,
            GRANT_DECIDED_V1,
            GRANT_DECIDED_V2,
            GRANT_REFUSED_V1,
            GRANT_REFUSED_V2,
            CLOSED_V1,
            CLOSED_V2,
            TERMS_REVISED_V1,
        ]
    }
}

impl ReviewEvent {
    /// The proposal (and review) this event belongs to.
    pub fn proposal_id(&self) -> Uuid {
        match self {
            ReviewEvent::Opened(e) => e.proposal_id,
            ReviewEvent::ConflictDeclared(e) => e.proposal_id,
            ReviewEvent::VoteRecorded(e) => e.proposal_id,
            ReviewEvent::StatementIssued(e) => e.proposal_id,
            ReviewEvent::GrantDecided(e) => e.proposal_id,
            ReviewEvent::GrantRefused(e) => e.proposal_id,
            ReviewEvent::Closed(e) => e.proposal_id,
            ReviewEvent::TermsRevised(e) => e.proposal_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(yes: u32, no: u32, abstain: u32, recused: u32, eligible: u32) -> Tally {
        Tally {
            yes,
            no,
            abstain,
            recused,
            eligible,
        }
    }

    #[test]
    fn the_default_quorum_is_more_than_half_of_the_eligible_partners() {
        let rule = QuorumRule::default();
        assert_eq!(rule.required_participants(14), 8);
        assert_eq!(rule.required_participants(28), 15);
        assert_eq!(rule.required_participants(13), 7);
        assert_eq!(rule.required_participants(1), 1);
        assert!(rule.is_met(&tally(3, 3, 2, 0, 14)));
        assert!(!rule.is_met(&tally(3, 3, 1, 0, 14)));
    }

    #[test]
    fn recusals_lower_the_number_of_votes_the_quorum_needs() {
        let rule = QuorumRule::default();
        assert!(!rule.is_met(&tally(7, 0, 0, 0, 14)));
        assert!(rule.is_met(&tally(7, 0, 0, 2, 12)));
    }

    #[test]
    fn no_quorum_is_met_when_every_partner_is_recused() {
        assert!(!QuorumRule::default().is_met(&tally(0, 0, 0, 3, 0)));
    }

    #[test]
    fn a_review_event_travels_adjacently_tagged() {
        let event = ReviewEvent::VoteRecorded(VoteRecorded {
            proposal_id: Uuid::nil(),
            partner_id: "dgb".into(),
            vote: VoteChoice::Abstain,
            comment: None,
        });
        let json = serde_json::to_value(&event).expect("serialize");
        assert_eq!(json["type"], VOTE_RECORDED_V1);
        assert_eq!(json["data"]["vote"], "abstain");
        let back: ReviewEvent = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, event);
        assert_eq!(back.event_type(), VOTE_RECORDED_V1);
    }
}
