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

/// `buendel.proposal.screened.v1`: the program rules were applied (as published; read through
/// [`ProposalEvent`]'s upcaster into a [`Screened`] without its subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScreenedV1 {
    /// The proposal.
    pub proposal_id: Uuid,
    /// True when no `error` rule failed.
    pub passed: bool,
    /// The version of the program rules applied.
    pub rules_version: String,
    /// Every rule's result, passed or not.
    pub results: Vec<RuleResult>,
}

/// `buendel.proposal.screened.v2`: the program rules were applied, and what was screened travels
/// with the result (the alliance and the terms), so the review opens without reading the proposal
/// back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScreenedV2 {
    /// The proposal.
    pub proposal_id: Uuid,
    /// True when no `error` rule failed.
    pub passed: bool,
    /// The version of the program rules applied.
    pub rules_version: String,
    /// Every rule's result, passed or not.
    pub results: Vec<RuleResult>,
    /// The alliance the proposal is submitted to.
    pub alliance_id: String,
    /// The terms as screened, whole.
    #[serde(flatten)]
    pub terms: Terms,
}

/// What a screening was applied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenedSubject {
    /// The alliance.
    pub alliance_id: String,
    /// The terms as screened.
    pub terms: Terms,
}

/// A screening, as every reader sees it (the latest shape; see [`ProposalEvent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screened {
    /// The proposal.
    pub proposal_id: Uuid,
    /// True when no `error` rule failed.
    pub passed: bool,
    /// The version of the program rules applied.
    pub rules_version: String,
    /// Every rule's result, passed or not.
    pub results: Vec<RuleResult>,
    /// What was screened: always there from v2 on; `None` for a stored v1 event, whose reader
    /// finds the terms in the proposal's history before it.
    pub subject: Option<ScreenedSubject>,
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

/// How far the review of a proposal has come, as far as the proposal needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStage {
    /// The alliance issued its statement: the terms can no longer be revised.
    Statement,
    /// The bank granted the project: it can no longer be withdrawn.
    Grant,
}

/// `buendel.proposal.review_recorded.v1`: the submission service recorded on the proposal what
/// the review (REVIEWS) decided, so the proposal itself knows whether it may still be revised or
/// withdrawn and nobody reads the review back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewRecorded {
    /// The proposal.
    pub proposal_id: Uuid,
    /// The stage the review reached.
    pub stage: ReviewStage,
    /// The id of the review event that says so.
    pub review_event_id: Uuid,
}

/// Every event of the Proposal aggregate, in its latest shape. On the wire every published version
/// stays readable ([`ProposalEventWire`]); reading upcasts an old version into this shape, and
/// writing writes the latest version (or, for an event read as v1, v1 again, byte for byte).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ProposalEventWire", into = "ProposalEventWire")]
pub enum ProposalEvent {
    /// See [`Submitted`].
    Submitted(Submitted),
    /// See [`Screened`].
    Screened(Screened),
    /// See [`Revised`].
    Revised(Revised),
    /// See [`Withdrawn`].
    Withdrawn(Withdrawn),
    /// See [`ReviewRecorded`].
    ReviewRecorded(ReviewRecorded),
}

/// The Proposal events as stored: every published version. Published variants are never edited:
/// add a `v2` and an upcaster (`From<ProposalEventWire> for ProposalEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ProposalEventWire {
    /// See [`Submitted`].
    #[serde(rename = "buendel.proposal.submitted.v1")]
    Submitted(Submitted),
    /// See [`ScreenedV1`].
    #[serde(rename = "buendel.proposal.screened.v1")]
    ScreenedV1(ScreenedV1),
    /// See [`ScreenedV2`].
    #[serde(rename = "buendel.proposal.screened.v2")]
    ScreenedV2(ScreenedV2),
    /// See [`Revised`].
    #[serde(rename = "buendel.proposal.revised.v1")]
    Revised(Revised),
    /// See [`Withdrawn`].
    #[serde(rename = "buendel.proposal.withdrawn.v1")]
    Withdrawn(Withdrawn),
    /// See [`ReviewRecorded`].
    #[serde(rename = "buendel.proposal.review_recorded.v1")]
    ReviewRecorded(ReviewRecorded),
}

/// The upcaster: every stored version into the latest shape.
impl From<ProposalEventWire> for ProposalEvent {
    fn from(wire: ProposalEventWire) -> Self {
        match wire {
            ProposalEventWire::Submitted(e) => ProposalEvent::Submitted(e),
            ProposalEventWire::ScreenedV1(e) => ProposalEvent::Screened(Screened {
                proposal_id: e.proposal_id,
                passed: e.passed,
                rules_version: e.rules_version,
                results: e.results,
                subject: None,
            }),
            ProposalEventWire::ScreenedV2(e) => ProposalEvent::Screened(Screened {
                proposal_id: e.proposal_id,
                passed: e.passed,
                rules_version: e.rules_version,
                results: e.results,
                subject: Some(ScreenedSubject {
                    alliance_id: e.alliance_id,
                    terms: e.terms,
                }),
            }),
            ProposalEventWire::Revised(e) => ProposalEvent::Revised(e),
            ProposalEventWire::Withdrawn(e) => ProposalEvent::Withdrawn(e),
            ProposalEventWire::ReviewRecorded(e) => ProposalEvent::ReviewRecorded(e),
        }
    }
}

/// Writing: the latest version, or v1 for a screening read from v1 (it has no subject to write).
impl From<ProposalEvent> for ProposalEventWire {
    fn from(event: ProposalEvent) -> Self {
        match event {
            ProposalEvent::Submitted(e) => ProposalEventWire::Submitted(e),
            ProposalEvent::Screened(e) => match e.subject {
                Some(subject) => ProposalEventWire::ScreenedV2(ScreenedV2 {
                    proposal_id: e.proposal_id,
                    passed: e.passed,
                    rules_version: e.rules_version,
                    results: e.results,
                    alliance_id: subject.alliance_id,
                    terms: subject.terms,
                }),
                None => ProposalEventWire::ScreenedV1(ScreenedV1 {
                    proposal_id: e.proposal_id,
                    passed: e.passed,
                    rules_version: e.rules_version,
                    results: e.results,
                }),
            },
            ProposalEvent::Revised(e) => ProposalEventWire::Revised(e),
            ProposalEvent::Withdrawn(e) => ProposalEventWire::Withdrawn(e),
            ProposalEvent::ReviewRecorded(e) => ProposalEventWire::ReviewRecorded(e),
        }
    }
}

/// `buendel.proposal.submitted.v1`
pub const SUBMITTED_V1: &str = "buendel.proposal.submitted.v1";
/// `buendel.proposal.screened.v1`
pub const SCREENED_V1: &str = "buendel.proposal.screened.v1";
/// `buendel.proposal.screened.v2`
pub const SCREENED_V2: &str = "buendel.proposal.screened.v2";
/// `buendel.proposal.revised.v1`
pub const REVISED_V1: &str = "buendel.proposal.revised.v1";
/// `buendel.proposal.withdrawn.v1`
pub const WITHDRAWN_V1: &str = "buendel.proposal.withdrawn.v1";
/// `buendel.proposal.review_recorded.v1`
pub const REVIEW_RECORDED_V1: &str = "buendel.proposal.review_recorded.v1";

impl EventKind for ProposalEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ProposalEvent::Submitted(_) => SUBMITTED_V1,
            ProposalEvent::Screened(e) if e.subject.is_some() => SCREENED_V2,
            ProposalEvent::Screened(_) => SCREENED_V1,
            ProposalEvent::Revised(_) => REVISED_V1,
            ProposalEvent::Withdrawn(_) => WITHDRAWN_V1,
            ProposalEvent::ReviewRecorded(_) => REVIEW_RECORDED_V1,
        }
    }

    fn all_types() -> &'static [&'static str] {
        &[
            SUBMITTED_V1,
            SCREENED_V1,
            SCREENED_V2,
            REVISED_V1,
            WITHDRAWN_V1,
            REVIEW_RECORDED_V1,
        ]
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
            ProposalEvent::ReviewRecorded(e) => e.proposal_id,
        }
    }
}
