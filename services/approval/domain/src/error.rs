//! Why the Review aggregate refuses a command: business reasons only, each with a stable code that
//! commands reply with and clients may match on. Codes are never renamed.

use buendel_contract::money::Cents;
use buendel_contract::reply::FieldError;
use buendel_contract::DomainError;

/// A refused review command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// `already_opened`: the proposal already has a review (open, decided or closed).
    #[error("the review of this proposal was already opened")]
    AlreadyOpened,
    /// `invalid_roster`: the roster is empty, too long, or has blank or repeated partner ids.
    #[error("the partner roster is invalid: {reason}")]
    InvalidRoster {
        /// What is wrong with it.
        reason: String,
    },
    /// `invalid_quorum_rule`: the quorum must require 1 to 10 000 basis points.
    #[error("a quorum rule needs 1 to 10000 basis points, not {min_participation_bp}")]
    InvalidQuorumRule {
        /// The rule's value.
        min_participation_bp: u32,
    },
    /// `review_not_open`: no review was opened for this proposal.
    #[error("no review is open for this proposal")]
    ReviewNotOpen,
    /// `review_closed`: the proposal was withdrawn and its review closed.
    #[error("the review is closed: the proposal was withdrawn")]
    ReviewClosed,
    /// `unknown_partner`: the partner is not on the review's roster.
    #[error("{partner_id} is not a partner of this review")]
    UnknownPartner {
        /// The id given.
        partner_id: String,
    },
    /// `partner_recused`: the partner declared a conflict and cannot vote.
    #[error("{partner_id} declared a conflict and cannot vote on this proposal")]
    PartnerRecused {
        /// The recused partner.
        partner_id: String,
    },
    /// `already_recused`: the partner already declared a conflict.
    #[error("{partner_id} already declared a conflict on this proposal")]
    AlreadyRecused {
        /// The recused partner.
        partner_id: String,
    },
    /// `vote_after_statement`: the statement is issued; votes are final.
    #[error("the statement is issued: votes can no longer be cast or changed")]
    VoteAfterStatement,
    /// `revision_after_statement`: the statement is issued; the terms it was given on stand.
    #[error("the statement on this proposal is issued: its terms can no longer be revised")]
    RevisionAfterStatement,
    /// `statement_already_issued`: the statement is issued (a second one, or a late recusal).
    #[error("the statement on this proposal is already issued")]
    StatementAlreadyIssued,
    /// `quorum_not_met`: too few eligible partners voted.
    #[error(
        "quorum not met: {participants} of {eligible} eligible partners voted, {required} needed"
    )]
    QuorumNotMet {
        /// Eligible partners who voted.
        participants: u32,
        /// Partners who may vote (roster minus recused).
        eligible: u32,
        /// Participants the quorum rule needs.
        required: u32,
    },
    /// `no_majority`: a positive statement needs more yes than no votes.
    #[error("a positive statement needs more yes than no votes ({yes} yes, {no} no)")]
    NoMajority {
        /// Yes votes counted.
        yes: u32,
        /// No votes counted.
        no: u32,
    },
    /// `no_positive_statement`: the bank's decision needs a positive statement first.
    #[error("the alliance has issued no positive statement on this proposal")]
    NoPositiveStatement,
    /// `grant_already_decided`: the bank's decision (grant or refusal) is recorded already.
    #[error("the bank's decision on this proposal is already recorded")]
    GrantAlreadyDecided,
    /// `missing_bank_reference`: the bank's decision must name its reference.
    #[error("the bank reference is missing")]
    MissingBankReference,
    /// `missing_reason`: a recusal or a refusal must say why.
    #[error("a reason is required")]
    MissingReason,
    /// `invalid_eligible_cost`: granted eligible costs must be positive.
    #[error("granted eligible costs must be positive, not {eligible_cost_cents} EUR")]
    InvalidEligibleCost {
        /// The amount given.
        eligible_cost_cents: Cents,
    },
    /// `total_rate_above_cap`: the total rate exceeds the program rules' cap.
    #[error("total rate {total_rate_bp} bp exceeds the cap of {cap_bp} bp")]
    TotalRateAboveCap {
        /// The rate given.
        total_rate_bp: u32,
        /// The cap of the review's program rules.
        cap_bp: u32,
    },
    /// `esf_rate_above_cap`: the ESF+ rate exceeds the cap of the region category.
    #[error("ESF+ rate {esf_rate_bp} bp exceeds the region's cap of {cap_bp} bp")]
    EsfRateAboveCap {
        /// The rate given.
        esf_rate_bp: u32,
        /// The cap for the review's region category.
        cap_bp: u32,
    },
    /// `esf_above_total`: the ESF+ rate is part of the total rate and cannot exceed it.
    #[error("ESF+ rate {esf_rate_bp} bp exceeds the total rate {total_rate_bp} bp")]
    EsfAboveTotal {
        /// The ESF+ rate given.
        esf_rate_bp: u32,
        /// The total rate given.
        total_rate_bp: u32,
    },
    /// `split_mismatch`: ESF+ and Land cents differ from the split by the one rounding rule.
    #[error(
        "ESF+ {esf_cents} + Land {land_cents} EUR differ from the computed split \
         ESF+ {expected_esf_cents} + Land {expected_land_cents} EUR"
    )]
    SplitMismatch {
        /// The ESF+ cents given.
        esf_cents: Cents,
        /// The Land cents given.
        land_cents: Cents,
        /// `floor(eligible × esf_rate / 10 000)`.
        expected_esf_cents: Cents,
        /// `floor(eligible × total_rate / 10 000) − expected_esf_cents`.
        expected_land_cents: Cents,
    },
    /// `eligible_above_screened`: more eligible costs than screened need the bank's amendment reference.
    #[error(
        "granted eligible costs {eligible_cost_cents} EUR exceed the screened {screened_cents} EUR \
         and no amendment reference was given"
    )]
    EligibleAboveScreened {
        /// Eligible costs of the grant.
        eligible_cost_cents: Cents,
        /// Eligible costs as screened.
        screened_cents: Cents,
    },
    /// `invalid_period`: the grant period is reversed or outside the rules' eligibility window.
    #[error("invalid grant period: {reason}")]
    InvalidPeriod {
        /// What is wrong with it.
        reason: String,
    },
}

impl DomainError for ReviewError {
    fn code(&self) -> &'static str {
        match self {
            ReviewError::AlreadyOpened => "already_opened",
            ReviewError::InvalidRoster { .. } => "invalid_roster",
            ReviewError::InvalidQuorumRule { .. } => "invalid_quorum_rule",
            ReviewError::ReviewNotOpen => "review_not_open",
            ReviewError::ReviewClosed => "review_closed",
            ReviewError::UnknownPartner { .. } => "unknown_partner",
            ReviewError::PartnerRecused { .. } => "partner_recused",
            ReviewError::AlreadyRecused { .. } => "already_recused",
            ReviewError::VoteAfterStatement => "vote_after_statement",
            ReviewError::RevisionAfterStatement => "revision_after_statement",
            ReviewError::StatementAlreadyIssued => "statement_already_issued",
            ReviewError::QuorumNotMet { .. } => "quorum_not_met",
            ReviewError::NoMajority { .. } => "no_majority",
            ReviewError::NoPositiveStatement => "no_positive_statement",
            ReviewError::GrantAlreadyDecided => "grant_already_decided",
            ReviewError::MissingBankReference => "missing_bank_reference",
            ReviewError::MissingReason => "missing_reason",
            ReviewError::InvalidEligibleCost { .. } => "invalid_eligible_cost",
            ReviewError::TotalRateAboveCap { .. } => "total_rate_above_cap",
            ReviewError::EsfRateAboveCap { .. } => "esf_rate_above_cap",
            ReviewError::EsfAboveTotal { .. } => "esf_above_total",
            ReviewError::SplitMismatch { .. } => "split_mismatch",
            ReviewError::EligibleAboveScreened { .. } => "eligible_above_screened",
            ReviewError::InvalidPeriod { .. } => "invalid_period",
        }
    }

    fn details(&self) -> Vec<FieldError> {
        let reason = self.to_string();
        let fields: &[&str] = match self {
            ReviewError::InvalidRoster { .. } => &["partners"],
            ReviewError::InvalidQuorumRule { .. } => &["quorum.min_participation_bp"],
            ReviewError::UnknownPartner { .. }
            | ReviewError::PartnerRecused { .. }
            | ReviewError::AlreadyRecused { .. } => &["partner_id"],
            ReviewError::MissingBankReference => &["bank_reference"],
            ReviewError::MissingReason => &["reason"],
            ReviewError::InvalidEligibleCost { .. } | ReviewError::EligibleAboveScreened { .. } => {
                &["eligible_cost_cents"]
            }
            ReviewError::TotalRateAboveCap { .. } => &["total_rate_bp"],
            ReviewError::EsfRateAboveCap { .. } | ReviewError::EsfAboveTotal { .. } => {
                &["esf_rate_bp"]
            }
            ReviewError::SplitMismatch { .. } => &["esf_cents", "land_cents"],
            ReviewError::InvalidPeriod { .. } => &["period_from", "period_to"],
            ReviewError::AlreadyOpened
            | ReviewError::ReviewNotOpen
            | ReviewError::ReviewClosed
            | ReviewError::VoteAfterStatement
            | ReviewError::StatementAlreadyIssued
            | ReviewError::RevisionAfterStatement
            | ReviewError::QuorumNotMet { .. }
            | ReviewError::NoMajority { .. }
            | ReviewError::NoPositiveStatement
            | ReviewError::GrantAlreadyDecided => &[],
        };
        fields
            .iter()
            .map(|field| FieldError::new(*field, reason.clone()))
            .collect()
    }
}
