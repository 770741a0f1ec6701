//! The Proposal aggregate's events (`buendel.proposal.*`), one subject per proposal:
//! `<ns>.proposal.<proposal_id>`.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::{BasisPoints, Cents};
use crate::EventKind;

/// The three project types of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectType {
    /// Structure projects (Strukturprojekte).
    Structure,
    /// Projects for the unemployed and job seekers.
    Unemployed,
    /// Further training (Weiterbildung).
    Training,
}

impl ProjectType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectType::Structure => "structure",
            ProjectType::Unemployed => "unemployed",
            ProjectType::Training => "training",
        }
    }
}

/// Who applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Applicant {
    /// Legal name of the applying organisation.
    pub name: String,
    /// What kind of organisation (e.g. `bildungstraeger`, `kammer`, `landkreis`, `verein`, `gmbh`).
    pub kind: String,
    /// The district the applicant sits in.
    pub district: String,
}

/// The terms of a proposal that a revision may change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Terms {
    /// Short title.
    pub title: String,
    /// What the project does.
    pub summary: String,
    /// Structure, unemployed or training.
    pub project_type: ProjectType,
    /// The alliance's focus areas the project serves.
    pub focus_areas: Vec<String>,
    /// The districts the project works in.
    pub districts: Vec<String>,
    /// Planned start date.
    pub planned_start: NaiveDate,
    /// Planned duration in months.
    pub duration_months: u16,
    /// Eligible costs in euro cents.
    pub eligible_cost_cents: Cents,
    /// Requested total grant rate in basis points.
    pub requested_rate_bp: BasisPoints,
}

/// `buendel.proposal.submitted.v1`: a project idea was accepted at intake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Submitted {
    /// The proposal (aggregate) id, chosen by the publisher.
    pub proposal_id: Uuid,
    /// The alliance it is submitted to (`non`, `son`, ...).
    pub alliance_id: String,
    /// Who applies.
    pub applicant: Applicant,
    /// The proposal's terms.
    #[serde(flatten)]
    pub terms: Terms,
}

/// The result of one screening rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RuleResult {
    /// Stable rule name, e.g. `eligible_cost_cap`.
    pub rule: String,
    /// Whether the proposal satisfies it.
    pub passed: bool,
    /// `error` fails the screening; `warning` is reported but does not.
    pub severity: Severity,
    /// What was checked, with the numbers, for the applicant.
    pub message: String,
}

/// How much a failed rule weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Failing it screens the proposal out.
    Error,
    /// Reported, not blocking (e.g. a duration above the normal 36 months).
    Warning,
}

/// `buendel.proposal.screened.v1`: the program rules were applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Screened {
    /// The proposal.
    pub proposal_id: Uuid,
    /// True when no `error` rule failed.
    pub passed: bool,
    /// The version of the program rules applied.
    pub rules_version: String,
    /// Every rule's result, passed or not.
    pub results: Vec<RuleResult>,
}

/// `buendel.proposal.revised.v1`: the applicant changed the terms (screened again afterwards).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Revised {
    /// The proposal.
    pub proposal_id: Uuid,
    /// The new terms, whole.
    #[serde(flatten)]
    pub terms: Terms,
    /// Why the terms changed.
    pub reason: String,
}

/// `buendel.proposal.withdrawn.v1`: the applicant withdrew the proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Withdrawn {
    /// The proposal.
    pub proposal_id: Uuid,
    /// Why.
    pub reason: String,
}

/// Every event of the Proposal aggregate. Published variants are never edited: add a `v2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ProposalEvent {
    /// See [`Submitted`].
    #[serde(rename = "buendel.proposal.submitted.v1")]
    Submitted(Submitted),
    /// See [`Screened`].
    #[serde(rename = "buendel.proposal.screened.v1")]
    Screened(Screened),
    /// See [`Revised`].
    #[serde(rename = "buendel.proposal.revised.v1")]
    Revised(Revised),
    /// See [`Withdrawn`].
    #[serde(rename = "buendel.proposal.withdrawn.v1")]
    Withdrawn(Withdrawn),
}

/// `buendel.proposal.submitted.v1`
pub const SUBMITTED_V1: &str = "buendel.proposal.submitted.v1";
/// `buendel.proposal.screened.v1`
pub const SCREENED_V1: &str = "buendel.proposal.screened.v1";
/// `buendel.proposal.revised.v1`
pub const REVISED_V1: &str = "buendel.proposal.revised.v1";
/// `buendel.proposal.withdrawn.v1`
pub const WITHDRAWN_V1: &str = "buendel.proposal.withdrawn.v1";

impl EventKind for ProposalEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ProposalEvent::Submitted(_) => SUBMITTED_V1,
            ProposalEvent::Screened(_) => SCREENED_V1,
            ProposalEvent::Revised(_) => REVISED_V1,
            ProposalEvent::Withdrawn(_) => WITHDRAWN_V1,
        }
    }

    fn all_types() -> &'static [&'static str] {
        &[SUBMITTED_V1, SCREENED_V1, REVISED_V1, WITHDRAWN_V1]
    }
}

impl ProposalEvent {
    /// The proposal this event belongs to.
    pub fn proposal_id(&self) -> Uuid {
        match self {
            ProposalEvent::Submitted(e) => e.proposal_id,
            ProposalEvent::Screened(e) => e.proposal_id,
            ProposalEvent::Revised(e) => e.proposal_id,
            ProposalEvent::Withdrawn(e) => e.proposal_id,
        }
    }
}
