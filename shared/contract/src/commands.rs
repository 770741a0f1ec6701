//! The typed `data` of every command, one struct per command subject `<ns>.cmd.<service>.<name>`.
//!
//! A command travels in an envelope `{command_id, actor?, correlation_id?, data}` that the service
//! shells read; this module types the `data`. Every struct refuses unknown fields, money is integer
//! [`Cents`] (an `i64` on the wire), rates are [`BasisPoints`], ids are UUIDs and dates `YYYY-MM-DD`.
//! The services keep their hand-written parsers (they report every field error at once, which serde
//! cannot); property tests in each service prove the parser accepts what these types serialize,
//! and refuses what they refuse. The CLI and the tests build commands by serializing these types.
//!
//! Layout: [`Service`] and the [`CommandData`] trait (service and name of each type), [`ALL`] (the
//! table of every command with its schema), then the commands of the submission, approval and
//! ledger services, in the order of their `COMMANDS`. Schemas are generated from these types into
//! `schemas/cmd.<service>.<name>.json` (see [`crate::schema`]).

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::ledger::{Effect, LegalBasis, ReleaseReason, Source};
use crate::money::{BasisPoints, Cents};
use crate::proposal::{self, Terms};
use crate::reference::{self, RegionCategory};
use crate::review::{QuorumRule, Verdict, VoteChoice};

/// The services that take commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Proposal intake: submit, revise, withdraw.
    Submission,
    /// Reviews and alliances.
    Approval,
    /// The funding ledger's operator commands.
    Ledger,
}

impl Service {
    /// Every service that takes commands.
    pub const ALL: [Service; 3] = [Service::Submission, Service::Approval, Service::Ledger];

    /// The stream the service appends its commands' events to.
    pub fn stream(self) -> crate::namespace::StreamKind {
        match self {
            Service::Submission => crate::namespace::StreamKind::Proposals,
            Service::Approval => crate::namespace::StreamKind::Reviews,
            Service::Ledger => crate::namespace::StreamKind::Ledger,
        }
    }

    /// The subject token (`<ns>.cmd.<service>.<name>`) and service name.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Submission => "submission",
            Service::Approval => "approval",
            Service::Ledger => "ledger",
        }
    }
}

/// The typed `data` of one command: which service takes it, under which name.
pub trait CommandData: Serialize + DeserializeOwned + JsonSchema {
    /// The service that takes it.
    const SERVICE: Service;
    /// The last subject token, e.g. `allocate_budget`.
    const NAME: &'static str;

    /// The command's `data` as JSON.
    fn to_data(&self) -> Value {
        // A struct of strings, integers, dates and ids always serializes; `Null` is unreachable.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One row of the command table: service, name, and the JSON Schema of its `data`.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// The service that takes it.
    pub service: Service,
    /// The last subject token.
    pub name: &'static str,
    /// Generates the JSON Schema of its `data` (from the type).
    pub schema: fn() -> Value,
    /// Whether `data` reads as the type (closed to unknown fields, every required field there).
    pub accepts: fn(&Value) -> bool,
}

impl CommandSpec {
    /// `cmd.<service>.<name>`: the subject after the namespace, the schema's title and file name.
    pub fn id(&self) -> String {
        format!("cmd.{}.{}", self.service.as_str(), self.name)
    }

    /// The required fields of its `data`, as its generated schema lists them.
    pub fn required_fields(&self) -> Vec<String> {
        (self.schema)()["required"]
            .as_array()
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Whether `data` deserializes as `T`.
fn accepts<T: CommandData>(data: &Value) -> bool {
    T::deserialize(data).is_ok()
}

const fn spec<T: CommandData>() -> CommandSpec {
    CommandSpec {
        service: T::SERVICE,
        name: T::NAME,
        schema: crate::schema::command_schema::<T>,
        accepts: accepts::<T>,
    }
}

/// Every command of every service, in the services' order.
pub const ALL: [CommandSpec; 30] = [
    spec::<Submit>(),
    spec::<Revise>(),
    spec::<Withdraw>(),
    spec::<DeclareConflict>(),
    spec::<Vote>(),
    spec::<IssueStatement>(),
    spec::<RecordGrant>(),
    spec::<RecordRefusal>(),
    spec::<RegisterAlliance>(),
    spec::<AddPartner>(),
    spec::<RemovePartner>(),
    spec::<AllocateBudget>(),
    spec::<AdjustBudget>(),
    spec::<ReleaseReservation>(),
    spec::<RecordDisbursement>(),
    spec::<CloseProject>(),
    spec::<AssessRecovery>(),
    spec::<RecordRepayment>(),
    spec::<ExpireUnbound>(),
    spec::<SubmitClaim>(),
    spec::<VerifyClaim>(),
    spec::<ReturnClaim>(),
    spec::<ResubmitClaim>(),
    spec::<ApproveClaim>(),
    spec::<CheckFinalReport>(),
    spec::<RevokeGrant>(),
    spec::<ChargeInterest>(),
    spec::<RecordInterestPayment>(),
    spec::<LockPeriod>(),
    spec::<NoteCorrection>(),
];

/// The command `name` of `service`, if it has one.
pub fn find(service: Service, name: &str) -> Option<&'static CommandSpec> {
    ALL.iter().find(|c| c.service == service && c.name == name)
}

/// The command names of `service`, in the table's order.
pub fn names(service: Service) -> Vec<&'static str> {
    ALL.iter()
        .filter(|c| c.service == service)
        .map(|c| c.name)
        .collect()
}

/// A date written exactly `YYYY-MM-DD` (what the schemas' `format: date` says), or `None`.
///
/// Every command parser reads dates with this: chrono's own readers also take `+2026-1-05`,
/// ` 2026-01-05` or `-001-01-05`, which no schema allows.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    (date.format("%Y-%m-%d").to_string() == s).then_some(date)
}

// ---------------------------------------------------------------------------------------------
// submission: the `data` of the intake event of the same meaning.
// ---------------------------------------------------------------------------------------------

/// Who applies, as a command states it (the event's [`proposal::Applicant`], closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicantInput {
    /// Legal name of the applying organisation.
    pub name: String,
    /// What kind of organisation (e.g. `bildungstraeger`, `kammer`, `landkreis`, `verein`, `gmbh`).
    pub kind: String,
    /// The district the applicant sits in.
    pub district: String,
}

impl From<ApplicantInput> for proposal::Applicant {
    fn from(a: ApplicantInput) -> Self {
        Self {
            name: a.name,
            kind: a.kind,
            district: a.district,
        }
    }
}

impl From<proposal::Applicant> for ApplicantInput {
    fn from(a: proposal::Applicant) -> Self {
        Self {
            name: a.name,
            kind: a.kind,
            district: a.district,
        }
    }
}

/// `submit`: a new proposal (the data of `buendel.proposal.submitted.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Submit {
    /// The proposal id, chosen by the client.
    pub proposal_id: Uuid,
    /// The alliance it is submitted to (`non`, `son`, ...).
    pub alliance_id: String,
    /// Who applies.
    pub applicant: ApplicantInput,
    /// The proposal's terms.
    #[serde(flatten)]
    pub terms: Terms,
}

impl CommandData for Submit {
    const SERVICE: Service = Service::Submission;
    const NAME: &'static str = "submit";
}

impl From<Submit> for proposal::Submitted {
    fn from(s: Submit) -> Self {
        Self {
            proposal_id: s.proposal_id,
            alliance_id: s.alliance_id,
            applicant: s.applicant.into(),
            terms: s.terms,
        }
    }
}

/// `revise`: new terms, whole (the data of `buendel.proposal.revised.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Revise {
    /// The proposal.
    pub proposal_id: Uuid,
    /// The new terms, whole.
    #[serde(flatten)]
    pub terms: Terms,
    /// Why the terms change.
    pub reason: String,
}

impl CommandData for Revise {
    const SERVICE: Service = Service::Submission;
    const NAME: &'static str = "revise";
}

/// `withdraw`: the applicant withdraws (the data of `buendel.proposal.withdrawn.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Withdraw {
    /// The proposal.
    pub proposal_id: Uuid,
    /// Why.
    pub reason: String,
}

impl CommandData for Withdraw {
    const SERVICE: Service = Service::Submission;
    const NAME: &'static str = "withdraw";
}

// ---------------------------------------------------------------------------------------------
// approval: commands on a review (`proposal_id`) or an alliance (`alliance_id`).
// ---------------------------------------------------------------------------------------------

/// `declare_conflict`: a partner declares a conflict of interest and is recused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareConflict {
    /// The proposal under review.
    pub proposal_id: Uuid,
    /// The partner, e.g. `hwk-bls`.
    pub partner_id: String,
    /// The nature of the conflict.
    pub reason: String,
}

impl CommandData for DeclareConflict {
    const SERVICE: Service = Service::Approval;
    const NAME: &'static str = "declare_conflict";
}

/// `vote`: a partner's vote; a later vote of the same partner supersedes it until the statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    /// The proposal under review.
    pub proposal_id: Uuid,
    /// The partner who votes.
    pub partner_id: String,
    /// Yes, no or abstain.
    pub vote: VoteChoice,
    /// A comment for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl CommandData for Vote {
    const SERVICE: Service = Service::Approval;
    const NAME: &'static str = "vote";
}

/// `issue_statement`: the alliance's statement (Stellungnahme); it needs its quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueStatement {
    /// The proposal under review.
    pub proposal_id: Uuid,
    /// Positive or negative.
    pub verdict: Verdict,
    /// Conditions attached to the statement (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<String>>,
}

impl CommandData for IssueStatement {
    const SERVICE: Service = Service::Approval;
    const NAME: &'static str = "issue_statement";
}

/// `record_grant`: the bank's grant decision (Zuwendungsbescheid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordGrant {
    /// The proposal under review.
    pub proposal_id: Uuid,
    /// The bank's reference.
    pub bank_reference: String,
    /// Eligible costs granted.
    pub eligible_cost_cents: Cents,
    /// Total grant rate.
    pub total_rate_bp: BasisPoints,
    /// ESF+ rate.
    pub esf_rate_bp: BasisPoints,
    /// ESF+ share.
    pub esf_cents: Cents,
    /// Land share.
    pub land_cents: Cents,
    /// First day of the grant period.
    pub period_from: NaiveDate,
    /// Last day of the grant period.
    pub period_to: NaiveDate,
    /// The bank's reference allowing eligible costs above those screened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amendment_reference: Option<String>,
}

impl CommandData for RecordGrant {
    const SERVICE: Service = Service::Approval;
    const NAME: &'static str = "record_grant";
}

/// `record_refusal`: the bank refuses the grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRefusal {
    /// The proposal under review.
    pub proposal_id: Uuid,
    /// The bank's reference.
    pub bank_reference: String,
    /// Why.
    pub reason: String,
}

impl CommandData for RecordRefusal {
    const SERVICE: Service = Service::Approval;
    const NAME: &'static str = "record_refusal";
}

/// One partner of an alliance, as a command states it (the contract's [`reference::Partner`],
/// closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerInput {
    /// Stable id, e.g. `lk-harburg`.
    pub id: String,
    /// Display name.
    pub name: String,
}

impl From<PartnerInput> for reference::Partner {
    fn from(p: PartnerInput) -> Self {
        Self {
            id: p.id,
            name: p.name,
        }
    }
}

impl From<reference::Partner> for PartnerInput {
    fn from(p: reference::Partner) -> Self {
        Self {
            id: p.id,
            name: p.name,
        }
    }
}

/// An alliance's quorum rule, as a command states it (the contract's [`QuorumRule`], closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuorumInput {
    /// The share of eligible partners that must have voted; 1..=10 000.
    pub min_participation_bp: BasisPoints,
}

impl From<QuorumInput> for QuorumRule {
    fn from(q: QuorumInput) -> Self {
        Self {
            min_participation_bp: q.min_participation_bp,
        }
    }
}

impl From<QuorumRule> for QuorumInput {
    fn from(q: QuorumRule) -> Self {
        Self {
            min_participation_bp: q.min_participation_bp,
        }
    }
}

/// `register_alliance`: a new alliance with its roster, quorum rule and program rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAlliance {
    /// The id, a subject token: 1 to 32 of `a-z`, `0-9`, `_`, starting with a letter.
    pub alliance_id: String,
    /// Full name.
    pub name: String,
    /// Region category, which caps the ESF+ rate.
    pub region: RegionCategory,
    /// Districts the alliance covers (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub districts: Option<Vec<String>>,
    /// Focus areas projects may serve (the six common ones when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus_areas: Option<Vec<String>>,
    /// The partner roster.
    pub partners: Vec<PartnerInput>,
    /// The quorum rule (more than half when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<QuorumInput>,
    /// The version of the program rules (the latest when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_version: Option<String>,
    /// Last day applications are accepted.
    pub application_deadline: NaiveDate,
}

impl CommandData for RegisterAlliance {
    const SERVICE: Service = Service::Approval;
    const NAME: &'static str = "register_alliance";
}

/// `add_partner`: a partner joins the alliance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPartner {
    /// The alliance.
    pub alliance_id: String,
    /// Who joins.
    pub partner: PartnerInput,
}

impl CommandData for AddPartner {
    const SERVICE: Service = Service::Approval;
    const NAME: &'static str = "add_partner";
}

/// `remove_partner`: a partner leaves the alliance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemovePartner {
    /// The alliance.
    pub alliance_id: String,
    /// Who leaves.
    pub partner_id: String,
    /// Why.
    pub reason: String,
}

impl CommandData for RemovePartner {
    const SERVICE: Service = Service::Approval;
    const NAME: &'static str = "remove_partner";
}

// ---------------------------------------------------------------------------------------------
// ledger: operator commands on a fund (`fund_id`, `<alliance>-<first year>-<last year>`).
// ---------------------------------------------------------------------------------------------

/// `allocate_budget`: a fund's budget, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocateBudget {
    /// The fund, e.g. `non-2021-2027`.
    pub fund_id: String,
    /// ESF+ budget.
    pub esf_cents: Cents,
    /// Land budget.
    pub land_cents: Cents,
    /// Last day money may be committed.
    pub commit_deadline: NaiveDate,
}

impl CommandData for AllocateBudget {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "allocate_budget";
}

/// `adjust_budget`: one source changed by a signed amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustBudget {
    /// The fund.
    pub fund_id: String,
    /// ESF+ or Land.
    pub source: Source,
    /// Signed: a cut is negative.
    pub delta_cents: Cents,
    /// Why.
    pub reason: String,
}

impl CommandData for AdjustBudget {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "adjust_budget";
}

/// `release_reservation`: an operator frees a project's reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseReservation {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// Why (`cancelled` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReleaseReason>,
}

impl CommandData for ReleaseReservation {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "release_reservation";
}

/// `record_disbursement`: a tranche paid to a project directly, for a grant committed without
/// recorded terms (histories from before claims); a project granted with its terms is paid only
/// through an approved claim and this is refused with `claim_required`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordDisbursement {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// The bank's payment reference.
    pub payment_reference: String,
    /// ESF+ paid.
    pub esf_cents: Cents,
    /// Land paid.
    pub land_cents: Cents,
    /// Value date; never before the last one booked on the fund.
    pub value_date: NaiveDate,
}

impl CommandData for RecordDisbursement {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "record_disbursement";
}

/// `close_project`: what was committed and not paid is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseProject {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
}

impl CommandData for CloseProject {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "close_project";
}

/// `assess_recovery`: a recovery (clawback) of money paid, at most what was disbursed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessRecovery {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// ESF+ principal to recover.
    pub esf_cents: Cents,
    /// Land principal to recover.
    pub land_cents: Cents,
    /// Why (legal basis, final report).
    pub reason: String,
}

impl CommandData for AssessRecovery {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "assess_recovery";
}

/// `record_repayment`: a repayment of an assessed recovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRepayment {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// ESF+ repaid.
    pub esf_cents: Cents,
    /// Land repaid.
    pub land_cents: Cents,
    /// Value date.
    pub value_date: NaiveDate,
}

impl CommandData for RecordRepayment {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "record_repayment";
}

/// `expire_unbound`: after the commit deadline, what is not bound expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpireUnbound {
    /// The fund.
    pub fund_id: String,
}

impl CommandData for ExpireUnbound {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "expire_unbound";
}

/// `submit_claim`: a payment claim (Mittelabruf) of a granted project. The actor of the envelope
/// is recorded as the submitter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitClaim {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// The claim's id, chosen by the caller; unique within the fund.
    pub claim_id: Uuid,
    /// First day of the period the expenditure falls in.
    pub period_from: NaiveDate,
    /// Last day of the period (inclusive).
    pub period_to: NaiveDate,
    /// The eligible expenditure declared.
    pub declared_eligible_cents: Cents,
    /// ESF+ asked.
    pub esf_cents: Cents,
    /// Land asked.
    pub land_cents: Cents,
    /// The reference of the list of receipts (Belegliste).
    pub receipts_reference: String,
}

impl CommandData for SubmitClaim {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "submit_claim";
}

/// One cut of a verification, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimCut {
    /// ESF+ cut.
    pub esf_cents: Cents,
    /// Land cut.
    pub land_cents: Cents,
    /// Why.
    pub reason: String,
}

/// `verify_claim`: management verification accepts a claim, fully (no cuts) or in part (every
/// cut with its reason; what is accepted is what was asked less the cuts). The actor of the
/// envelope is recorded as the verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyClaim {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// The claim.
    pub claim_id: Uuid,
    /// The cuts (empty or absent: accepted in full).
    #[serde(default)]
    pub cuts: Vec<ClaimCut>,
}

impl CommandData for VerifyClaim {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "verify_claim";
}

/// `return_claim`: sends a claim back for missing information; its 80-day clock pauses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnClaim {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// The claim.
    pub claim_id: Uuid,
    /// What is missing.
    pub missing: String,
}

impl CommandData for ReturnClaim {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "return_claim";
}

/// `resubmit_claim`: the project answers a returned claim; its 80-day clock resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResubmitClaim {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// The claim.
    pub claim_id: Uuid,
    /// The reference of the completed list of receipts.
    pub receipts_reference: String,
}

impl CommandData for ResubmitClaim {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "resubmit_claim";
}

/// `approve_claim`: a second officer approves the payment of a verified claim, which books the
/// accepted amount as disbursed on the value date. The actor of the envelope is recorded as the
/// approver and must not be the verifier (`four_eyes_violation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveClaim {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// The claim.
    pub claim_id: Uuid,
    /// The bank's payment reference, unique within the fund.
    pub payment_reference: String,
    /// The payment's value date.
    pub value_date: NaiveDate,
}

impl CommandData for ApproveClaim {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "approve_claim";
}

/// `check_final_report`: the checked final report (Verwendungsnachweis) of a granted project.
/// The final grant is the eligible costs incurred at the grant's rates, never above the grant;
/// the unused commitment is freed, what was paid beyond the final grant is recovered (bearing
/// interest from the check's date), and what is still due is left for a final claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckFinalReport {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// The report's reference.
    pub report_reference: String,
    /// The eligible costs incurred, as checked.
    pub eligible_cost_cents: Cents,
}

impl CommandData for CheckFinalReport {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "check_final_report";
}

/// `revoke_grant`: a withdrawal (§ 48 VwVfG) or revocation (§ 49) of a grant, leaving
/// `remaining_*_cents` of it (zero: in whole). Ex nunc frees the unpaid commitment above the
/// remaining grant; ex tunc also recovers what was paid beyond it, bearing interest from
/// `interest_from` (the day the decision ceases to have effect, or the payment's day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeGrant {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// `vwvfg_48` or `vwvfg_49`.
    pub legal_basis: LegalBasis,
    /// `ex_tunc` or `ex_nunc`.
    pub effect: Effect,
    /// The ESF+ grant that remains.
    pub remaining_esf_cents: Cents,
    /// The Land grant that remains.
    pub remaining_land_cents: Cents,
    /// The day from which a recovery bears interest; not after today.
    pub interest_from: NaiveDate,
    /// The decision's reference and grounds.
    pub reason: String,
}

impl CommandData for RevokeGrant {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "revoke_grant";
}

/// `charge_interest`: charges § 49a VwVfG interest on the project's recovered principal for the
/// days before `until` (at most today + 1), less what was charged before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeInterest {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// Interest is charged for the days before this one.
    pub until: NaiveDate,
}

impl CommandData for ChargeInterest {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "charge_interest";
}

/// `record_interest_payment`: interest a project paid, at most what was charged and is unpaid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordInterestPayment {
    /// The fund.
    pub fund_id: String,
    /// The proposal (project).
    pub proposal_id: Uuid,
    /// ESF+ interest paid.
    pub esf_cents: Cents,
    /// Land interest paid.
    pub land_cents: Cents,
    /// Value date.
    pub value_date: NaiveDate,
}

impl CommandData for RecordInterestPayment {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "record_interest_payment";
}

/// `lock_period`: closes the accounting periods up to `until` (a day before today); no later
/// entry may carry a value date on or before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockPeriod {
    /// The fund.
    pub fund_id: String,
    /// The last day of the locked periods.
    pub until: NaiveDate,
    /// Why.
    pub reason: String,
}

impl CommandData for LockPeriod {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "lock_period";
}

/// `note_correction`: entry `by_entry` of the fund corrects entry `corrects_entry` (entry numbers
/// are the fund's versions, 1-based): a correction goes into the open period and names what it
/// corrects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteCorrection {
    /// The fund.
    pub fund_id: String,
    /// The entry corrected.
    pub corrects_entry: u64,
    /// The later entry that corrects it.
    pub by_entry: u64,
    /// What was wrong.
    pub reason: String,
}

impl CommandData for NoteCorrection {
    const SERVICE: Service = Service::Ledger;
    const NAME: &'static str = "note_correction";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_command_is_in_the_table_once_under_its_service() {
        let mut ids: Vec<String> = ALL.iter().map(CommandSpec::id).collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "a command is listed twice");
        assert_eq!(names(Service::Submission), ["submit", "revise", "withdraw"]);
        assert_eq!(names(Service::Ledger), crate::ledger::COMMANDS);
        assert_eq!(names(Service::Approval).len(), 8);
    }

    #[test]
    fn an_unknown_field_is_refused_beside_the_flattened_terms() {
        let mut data = json!({
            "proposal_id": Uuid::from_u128(1), "reason": "x",
            "title": "T", "summary": "S", "project_type": "training",
            "focus_areas": ["dual_training"], "districts": ["celle"],
            "planned_start": "2026-02-01", "duration_months": 12,
            "eligible_cost_cents": 100, "requested_rate_bp": 5000,
        });
        assert!(serde_json::from_value::<Revise>(data.clone()).is_ok());
        data["colour"] = json!("red");
        let error = serde_json::from_value::<Revise>(data).expect_err("refused");
        assert!(error.to_string().contains("colour"), "{error}");
    }

    #[test]
    fn a_date_is_read_only_as_yyyy_mm_dd() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 5);
        assert_eq!(parse_date("2026-01-05"), date);
        assert_eq!(parse_date("0001-01-01"), NaiveDate::from_ymd_opt(1, 1, 1));
        for bad in [
            "+2026-1-05",
            " 2026-1-05",
            "2026-1-5",
            "+026-01-05",
            "-001-01-05",
            "2026-02-30",
            "2026-01-05 ",
            "20260105",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn optional_fields_are_left_out_when_absent() {
        let vote = Vote {
            proposal_id: Uuid::from_u128(1),
            partner_id: "dgb".into(),
            vote: VoteChoice::Yes,
            comment: None,
        };
        assert_eq!(
            vote.to_data(),
            json!({"proposal_id": Uuid::from_u128(1), "partner_id": "dgb", "vote": "yes"})
        );
    }
}
