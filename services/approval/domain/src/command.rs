//! What may be asked of a review.
//!
//! Everything a decision needs is carried in the command (the roster, the quorum rule and the
//! program rules when opening; the bank's terms when recording a grant), so `decide` reads no clock
//! and looks nothing up. The wire names ([`Command::name`]) are the NATS command names
//! `<ns>.cmd.approval.<name>`; `open` and `close` are issued by the service itself when it consumes
//! the proposal's `screened` and `withdrawn` events.

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::reference::{Alliance, Partner, ProgramRules, RegionCategory};
use buendel_contract::review::{QuorumRule, Verdict, VoteChoice};

/// A command to the Review aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open the review of a proposal that passed screening.
    Open {
        /// The proposal (the review's aggregate id).
        proposal_id: Uuid,
        /// The alliance it was submitted to.
        alliance_id: String,
        /// The alliance's partner roster now; frozen into the review.
        partners: Vec<Partner>,
        /// The alliance's region category, which picks the ESF+ cap.
        region: RegionCategory,
        /// The alliance's quorum rule.
        quorum: QuorumRule,
        /// The program rules in force; their version and caps are frozen into the review.
        rules: ProgramRules,
        /// Eligible costs as screened.
        eligible_cost_cents: Cents,
        /// Requested total rate as screened.
        requested_rate_bp: BasisPoints,
    },
    /// A partner recuses itself from this proposal.
    DeclareConflict {
        /// The partner's id.
        partner_id: String,
        /// The nature of the conflict; required.
        reason: String,
    },
    /// A partner votes, or changes its vote (until the statement).
    Vote {
        /// The partner's id.
        partner_id: String,
        /// Yes, no or abstain.
        vote: VoteChoice,
        /// Optional comment; an empty one is recorded as none.
        comment: Option<String>,
    },
    /// The alliance issues its statement.
    IssueStatement {
        /// Positive (needs quorum and more yes than no) or negative (needs quorum).
        verdict: Verdict,
        /// Conditions attached to the statement.
        conditions: Vec<String>,
    },
    /// The bank granted the project.
    RecordGrant {
        /// The bank's reference of the decision; required.
        bank_reference: String,
        /// Eligible costs as granted.
        eligible_cost_cents: Cents,
        /// Total grant rate.
        total_rate_bp: BasisPoints,
        /// ESF+ rate.
        esf_rate_bp: BasisPoints,
        /// ESF+ part; must equal the computed split exactly.
        esf_cents: Cents,
        /// Land part; must equal the computed split exactly.
        land_cents: Cents,
        /// First day of the grant period.
        period_from: NaiveDate,
        /// Last day of the grant period.
        period_to: NaiveDate,
        /// The bank's reference allowing eligible costs above the screened ones (an amendment).
        amendment_reference: Option<String>,
    },
    /// The bank refused the grant.
    RecordRefusal {
        /// The bank's reference of the refusal; required.
        bank_reference: String,
        /// Why; required.
        reason: String,
    },
    /// The proposal was revised and screened again before the statement: go on with these money
    /// facts.
    ReviseTerms {
        /// Eligible costs as screened after the revision.
        eligible_cost_cents: Cents,
        /// Requested total rate as screened after the revision.
        requested_rate_bp: BasisPoints,
    },
    /// The proposal was withdrawn: close its review.
    Close {
        /// Why (the applicant's reason); may be empty.
        reason: String,
    },
}

impl Command {
    /// An `Open` built from the reference data the shell looked up.
    pub fn open(
        proposal_id: Uuid,
        alliance: &Alliance,
        quorum: QuorumRule,
        rules: &ProgramRules,
        eligible_cost_cents: Cents,
        requested_rate_bp: BasisPoints,
    ) -> Self {
        Command::Open {
            proposal_id,
            alliance_id: alliance.id.clone(),
            partners: alliance.partners.clone(),
            region: alliance.region,
            quorum,
            rules: rules.clone(),
            eligible_cost_cents,
            requested_rate_bp,
        }
    }

    /// The wire name, as in `<ns>.cmd.approval.<name>`.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Open { .. } => "open",
            Command::DeclareConflict { .. } => "declare_conflict",
            Command::Vote { .. } => "vote",
            Command::IssueStatement { .. } => "issue_statement",
            Command::RecordGrant { .. } => "record_grant",
            Command::RecordRefusal { .. } => "record_refusal",
            Command::Close { .. } => "close",
            Command::ReviseTerms { .. } => "revise_terms",
        }
    }
}
