//! The Proposal aggregate: submitted → screened (in review | screening failed) → revised → screened
//! again …, withdrawn any time before a grant.

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::proposal::{
    ProposalEvent, ReviewRecorded, ReviewStage, Revised, Submitted, Terms, Withdrawn,
};
use buendel_contract::reference::{Alliance, ProgramRules};
use buendel_contract::{Aggregate, DomainError};

use super::screening;

/// Where a proposal stands, as far as the submission context knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// Nothing submitted yet.
    #[default]
    New,
    /// Submitted or revised, waiting for screening.
    Submitted,
    /// Screened and passed: the partners review it.
    InReview,
    /// Screened and failed.
    ScreeningFailed,
    /// Withdrawn by the applicant.
    Withdrawn,
}

/// The state folded from a proposal's events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proposal {
    /// Current status.
    pub status: Status,
    /// The proposal id, once submitted.
    pub id: Option<Uuid>,
    /// The alliance it was submitted to.
    pub alliance_id: String,
    /// The current terms (after the last revision).
    pub terms: Option<Terms>,
    /// How many times it was screened.
    pub screenings: u32,
    /// The version of the programme rules of its first screening: a revision is screened under
    /// it, never under a version that came into force later.
    pub rules_version: Option<String>,
    /// How far the review has come, as recorded on the proposal (`review_recorded`).
    pub review: ReviewFacts,
}

/// What the review context decided about the proposal, recorded on it (`review_recorded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReviewFacts {
    /// The alliance issued its statement: the terms are decided and can no longer be revised.
    pub statement_issued: bool,
    /// The bank decided the grant: the proposal can no longer be withdrawn.
    pub granted: bool,
}

/// What may be asked of a proposal.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A new proposal (from intake or the `submit` command).
    Submit(Submitted),
    /// Apply the program rules to the current terms; `today` is the filing date.
    Screen {
        /// The alliance, if known.
        alliance: Option<Alliance>,
        /// The rules in force.
        rules: ProgramRules,
        /// Today's date (the shell's clock).
        today: NaiveDate,
    },
    /// New terms, while not yet decided.
    Revise {
        /// The new terms, whole.
        terms: Terms,
        /// Why.
        reason: String,
    },
    /// Withdraw, any time before a grant.
    Withdraw {
        /// Why.
        reason: String,
    },
    /// Record what the review decided (a statement, a grant), under the review event's id.
    RecordReview {
        /// The stage the review reached.
        stage: ReviewStage,
        /// The review event that says so.
        review_event_id: Uuid,
    },
}

/// Why a proposal command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// A proposal with this id exists already (submitted under another id).
    #[error("proposal {0} was already submitted")]
    AlreadySubmitted(Uuid),
    /// Revise or withdraw of a proposal that was never submitted.
    #[error("no proposal with this id was submitted")]
    UnknownProposal,
    /// The proposal was withdrawn; nothing more can happen to it.
    #[error("the proposal was withdrawn")]
    AlreadyWithdrawn,
    /// The alliance issued its statement; the terms are final.
    #[error("the alliance has issued its statement; the proposal can no longer be revised")]
    AlreadyDecided,
    /// The bank granted it; it can no longer be withdrawn.
    #[error("the grant was decided; the proposal can no longer be withdrawn")]
    AlreadyGranted,
}

impl DomainError for ProposalError {
    fn code(&self) -> &'static str {
        match self {
            ProposalError::AlreadySubmitted(_) => "already_submitted",
            ProposalError::UnknownProposal => "unknown_proposal",
            ProposalError::AlreadyWithdrawn => "already_withdrawn",
            ProposalError::AlreadyDecided => "already_decided",
            ProposalError::AlreadyGranted => "already_granted",
        }
    }
}

impl Aggregate for Proposal {
    type Event = ProposalEvent;
    type Command = Command;
    type Error = ProposalError;

    fn apply(mut self, event: &ProposalEvent) -> Self {
        match event {
            ProposalEvent::Submitted(e) => {
                self.id = Some(e.proposal_id);
                self.alliance_id.clone_from(&e.alliance_id);
                self.terms = Some(e.terms.clone());
                self.status = Status::Submitted;
            }
            ProposalEvent::Screened(e) => {
                self.screenings += 1;
                if self.rules_version.is_none() {
                    self.rules_version = Some(e.rules_version.clone());
                }
                self.status = if e.passed {
                    Status::InReview
                } else {
                    Status::ScreeningFailed
                };
            }
            ProposalEvent::Revised(e) => {
                self.terms = Some(e.terms.clone());
                self.status = Status::Submitted;
            }
            ProposalEvent::Withdrawn(_) => self.status = Status::Withdrawn,
            ProposalEvent::ReviewRecorded(e) => match e.stage {
                ReviewStage::Statement => self.review.statement_issued = true,
                ReviewStage::Grant => {
                    self.review.statement_issued = true;
                    self.review.granted = true;
                }
            },
        }
        self
    }

    fn decide(&self, command: &Command) -> Result<Vec<ProposalEvent>, ProposalError> {
        match command {
            Command::Submit(submitted) => match self.id {
                Some(id) => Err(ProposalError::AlreadySubmitted(id)),
                None => Ok(vec![ProposalEvent::Submitted(submitted.clone())]),
            },
            Command::Screen {
                alliance,
                rules,
                today,
            } => {
                let (Some(id), Some(terms)) = (self.id, &self.terms) else {
                    return Err(ProposalError::UnknownProposal);
                };
                if self.status != Status::Submitted {
                    return Ok(Vec::new());
                }
                let screened = screening::screen(
                    id,
                    &self.alliance_id,
                    terms,
                    alliance.as_ref(),
                    rules,
                    *today,
                );
                Ok(vec![ProposalEvent::Screened(screened)])
            }
            Command::Revise { terms, reason } => {
                let id = self.open_id()?;
                if self.review.statement_issued || self.review.granted {
                    return Err(ProposalError::AlreadyDecided);
                }
                Ok(vec![ProposalEvent::Revised(Revised {
                    proposal_id: id,
                    terms: terms.clone(),
                    reason: reason.clone(),
                })])
            }
            Command::Withdraw { reason } => {
                let id = self.open_id()?;
                if self.review.granted {
                    return Err(ProposalError::AlreadyGranted);
                }
                Ok(vec![ProposalEvent::Withdrawn(Withdrawn {
                    proposal_id: id,
                    reason: reason.clone(),
                })])
            }
            Command::RecordReview {
                stage,
                review_event_id,
            } => {
                let id = self.id.ok_or(ProposalError::UnknownProposal)?;
                let known = match stage {
                    ReviewStage::Statement => self.review.statement_issued,
                    ReviewStage::Grant => self.review.granted,
                };
                if known {
                    return Ok(Vec::new());
                }
                Ok(vec![ProposalEvent::ReviewRecorded(ReviewRecorded {
                    proposal_id: id,
                    stage: *stage,
                    review_event_id: *review_event_id,
                })])
            }
        }
    }
}

impl Proposal {
    /// The id of a proposal that exists and is not withdrawn.
    fn open_id(&self) -> Result<Uuid, ProposalError> {
        match (self.status, self.id) {
            (Status::Withdrawn, _) => Err(ProposalError::AlreadyWithdrawn),
            (_, None) => Err(ProposalError::UnknownProposal),
            (_, Some(id)) => Ok(id),
        }
    }
}
