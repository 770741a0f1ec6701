//! What may be asked of a fund. Every fact a decision needs travels in the command, including
//! `today` (the business date in the shell's time zone): the domain never reads a clock.
//!
//! Amounts come split already: the saga splits a requested or granted amount into its ESF+ and
//! Land parts with [`buendel_contract::Split::compute`] at the region's rates before it asks.

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::ledger::{
    Amounts, ClaimCut, Effect, GrantTerms, LegalBasis, ReleaseReason, Source,
};
use buendel_contract::Cents;

use super::claims::NewClaim;

/// A command on one fund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Opens the fund with its budget per source (`allocate_budget`).
    AllocateBudget {
        /// `<alliance>-<first>-<last>`, e.g. `non-2021-2027`; the shell checks it names the subject.
        fund_id: String,
        /// The ESF+ budget.
        esf: Cents,
        /// The Land budget.
        land: Cents,
        /// The last day (inclusive) on which money may be reserved or committed.
        commit_deadline: NaiveDate,
        /// The business date.
        today: NaiveDate,
    },
    /// Raises or cuts one source's budget (`adjust_budget`).
    AdjustBudget {
        /// Which source.
        source: Source,
        /// Signed change; a cut may not exceed what is available.
        delta_cents: Cents,
        /// Why, for the audit trail.
        reason: String,
        /// The business date.
        today: NaiveDate,
    },
    /// Reserves a requested grant on a positive statement; declined (an event, not an error) and
    /// waitlisted when it does not fit or others are waiting.
    Reserve {
        /// The proposal.
        proposal_id: Uuid,
        /// The ESF+ part of the requested grant.
        esf: Cents,
        /// The Land part.
        land: Cents,
        /// The business date.
        today: NaiveDate,
    },
    /// Commits a granted amount on the bank's decision and releases the rest of the reservation.
    Commit {
        /// The proposal.
        proposal_id: Uuid,
        /// The granted ESF+ part.
        esf: Cents,
        /// The granted Land part.
        land: Cents,
        /// The grant's terms (period, rates), recorded with the commitment so that payment claims
        /// can be checked against them; `None` books the commitment alone.
        terms: Option<GrantTerms>,
        /// The business date.
        today: NaiveDate,
    },
    /// Ends a reservation or a waitlist place without a grant (refused, withdrawn, expired).
    ReleaseReservation {
        /// The proposal.
        proposal_id: Uuid,
        /// Why.
        reason: ReleaseReason,
        /// The business date.
        today: NaiveDate,
    },
    /// Records a tranche paid to the beneficiary (`record_disbursement`).
    RecordDisbursement {
        /// The proposal.
        proposal_id: Uuid,
        /// The bank's payment reference, unique within the fund.
        payment_reference: String,
        /// The ESF+ part paid.
        esf: Cents,
        /// The Land part paid.
        land: Cents,
        /// The payment's value date: not before the last date booked, not after today.
        value_date: NaiveDate,
        /// The business date.
        today: NaiveDate,
    },
    /// Closes a granted project and frees what was committed and not paid (`close_project`).
    CloseProject {
        /// The proposal.
        proposal_id: Uuid,
        /// The business date.
        today: NaiveDate,
    },
    /// Assesses clawback principal on what was paid (`assess_recovery`).
    AssessRecovery {
        /// The proposal.
        proposal_id: Uuid,
        /// The ESF+ principal.
        esf: Cents,
        /// The Land principal.
        land: Cents,
        /// Why (final report audited, grant revoked, ...).
        reason: String,
        /// The business date.
        today: NaiveDate,
    },
    /// Records recovered principal paid back (`record_repayment`).
    RecordRepayment {
        /// The proposal.
        proposal_id: Uuid,
        /// The ESF+ part repaid.
        esf: Cents,
        /// The Land part repaid.
        land: Cents,
        /// The payment's value date: not before the last date booked, not after today.
        value_date: NaiveDate,
        /// The business date.
        today: NaiveDate,
    },
    /// After the deadline, moves what is still available to `expired` (`expire_unbound`).
    ExpireUnbound {
        /// The business date.
        today: NaiveDate,
    },
    /// A payment claim of a granted project (`submit_claim`).
    SubmitClaim {
        /// The proposal.
        proposal_id: Uuid,
        /// The claim.
        claim: NewClaim,
        /// Who submits it (the command's actor).
        actor: String,
        /// The business date.
        today: NaiveDate,
    },
    /// Management verification of a claim, in full or with cuts (`verify_claim`).
    VerifyClaim {
        /// The proposal.
        proposal_id: Uuid,
        /// The claim.
        claim_id: Uuid,
        /// The cuts, each with its reason.
        cuts: Vec<ClaimCut>,
        /// The verifier (the command's actor).
        actor: String,
        /// The business date.
        today: NaiveDate,
    },
    /// Sends a claim back for missing information (`return_claim`).
    ReturnClaim {
        /// The proposal.
        proposal_id: Uuid,
        /// The claim.
        claim_id: Uuid,
        /// What is missing.
        missing: String,
        /// The officer (the command's actor).
        actor: String,
        /// The business date.
        today: NaiveDate,
    },
    /// The project answers a returned claim (`resubmit_claim`).
    ResubmitClaim {
        /// The proposal.
        proposal_id: Uuid,
        /// The claim.
        claim_id: Uuid,
        /// The completed list of receipts.
        receipts_reference: String,
        /// The business date.
        today: NaiveDate,
    },
    /// The checked final report of a granted project (`check_final_report`).
    CheckFinalReport {
        /// The proposal.
        proposal_id: Uuid,
        /// The report's reference.
        report_reference: String,
        /// The eligible costs incurred.
        eligible: Cents,
        /// Who checked it (the command's actor).
        actor: String,
        /// The business date.
        today: NaiveDate,
    },
    /// A withdrawal or revocation of a grant (`revoke_grant`).
    RevokeGrant {
        /// The proposal.
        proposal_id: Uuid,
        /// § 48 or § 49 VwVfG.
        legal_basis: LegalBasis,
        /// Ex tunc or ex nunc.
        effect: Effect,
        /// The grant that remains.
        remaining: Amounts,
        /// The day a recovery bears interest from.
        interest_from: NaiveDate,
        /// The decision's reference and grounds.
        reason: String,
        /// The business date.
        today: NaiveDate,
    },
    /// Charges interest on a project's recovery up to a day (`charge_interest`).
    ChargeInterest {
        /// The proposal.
        proposal_id: Uuid,
        /// Interest is charged for the days before this one.
        until: NaiveDate,
        /// The business date.
        today: NaiveDate,
    },
    /// Records interest paid (`record_interest_payment`).
    RecordInterestPayment {
        /// The proposal.
        proposal_id: Uuid,
        /// What was paid per source.
        paid: Amounts,
        /// The payment's value date.
        value_date: NaiveDate,
        /// The business date.
        today: NaiveDate,
    },
    /// Locks the accounting periods up to a day before the booking date (`lock_period`).
    LockPeriod {
        /// The last day of the locked periods.
        until: NaiveDate,
        /// Why.
        reason: String,
        /// The business date.
        today: NaiveDate,
    },
    /// Names the entry a later entry corrects (`note_correction`).
    NoteCorrection {
        /// The entry corrected.
        corrects_entry: u64,
        /// The correcting entry.
        by_entry: u64,
        /// What was wrong.
        reason: String,
        /// The business date.
        today: NaiveDate,
    },
    /// Approves the payment of a verified claim (`approve_claim`), never by its verifier.
    ApproveClaim {
        /// The proposal.
        proposal_id: Uuid,
        /// The claim.
        claim_id: Uuid,
        /// The bank's payment reference, unique within the fund.
        payment_reference: String,
        /// The payment's value date: not before the last date booked, not after today.
        value_date: NaiveDate,
        /// The approver (the command's actor).
        actor: String,
        /// The business date.
        today: NaiveDate,
    },
}

impl Command {
    /// The business date the command was given.
    pub fn today(&self) -> NaiveDate {
        match self {
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
            | Command::NoteCorrection { today, .. } => *today,
        }
    }

    /// The command's wire name (`<ns>.cmd.ledger.<name>`); `reserve` and `commit` come from the saga.
    pub fn name(&self) -> &'static str {
        match self {
            Command::AllocateBudget { .. } => "allocate_budget",
            Command::AdjustBudget { .. } => "adjust_budget",
            Command::Reserve { .. } => "reserve",
            Command::Commit { .. } => "commit",
            Command::ReleaseReservation { .. } => "release_reservation",
            Command::RecordDisbursement { .. } => "record_disbursement",
            Command::CloseProject { .. } => "close_project",
            Command::AssessRecovery { .. } => "assess_recovery",
            Command::RecordRepayment { .. } => "record_repayment",
            Command::ExpireUnbound { .. } => "expire_unbound",
            Command::SubmitClaim { .. } => "submit_claim",
            Command::VerifyClaim { .. } => "verify_claim",
            Command::ReturnClaim { .. } => "return_claim",
            Command::ResubmitClaim { .. } => "resubmit_claim",
            Command::ApproveClaim { .. } => "approve_claim",
            Command::CheckFinalReport { .. } => "check_final_report",
            Command::RevokeGrant { .. } => "revoke_grant",
            Command::ChargeInterest { .. } => "charge_interest",
            Command::RecordInterestPayment { .. } => "record_interest_payment",
            Command::LockPeriod { .. } => "lock_period",
            Command::NoteCorrection { .. } => "note_correction",
        }
    }
}
