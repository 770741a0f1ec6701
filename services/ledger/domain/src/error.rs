//! Why the Fund aggregate refuses a command: business reasons only, each with a stable code that
//! commands reply with and clients may match on. Codes are never renamed.
//!
//! A reservation that does not fit is *not* an error: it is the `reservation_declined` event.

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::ledger::{Amounts, Source};
use buendel_contract::reply::FieldError;
use buendel_contract::{Cents, DomainError};

use super::invariants::InvariantViolation;

/// A refused ledger command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// `fund_not_open`: no budget was allocated to this fund yet.
    #[error("the fund is not open: allocate its budget first")]
    FundNotOpen,
    /// `already_allocated`: the fund's budget was allocated; change it with `adjust_budget`.
    #[error("the fund's budget is already allocated; use adjust_budget")]
    AlreadyAllocated,
    /// `invalid_fund_id`: a fund id is `<alliance>-<first year>-<last year>`.
    #[error("{fund_id:?} is not a fund id like non-2021-2027")]
    InvalidFundId {
        /// The id given.
        fund_id: String,
    },
    /// `negative_amount`: amounts are ≥ 0 (a cut is an adjustment's negative delta).
    #[error("{field} must not be negative")]
    NegativeAmount {
        /// Which amount.
        field: &'static str,
    },
    /// `zero_amount`: the command would move nothing.
    #[error("{field} must not be zero")]
    ZeroAmount {
        /// Which amount.
        field: &'static str,
    },
    /// `amount_too_large`: above [`crate::AMOUNT_CENTS_MAX`] (per amount or allocated per source).
    #[error("{field} is larger than any budget this ledger accepts")]
    AmountTooLarge {
        /// Which amount.
        field: &'static str,
    },
    /// `missing_field`: a reason or payment reference is blank.
    #[error("{field} must not be blank")]
    MissingField {
        /// Which field.
        field: &'static str,
    },
    /// `text_too_long`: longer than [`crate::TEXT_LEN_MAX`] characters.
    #[error("{field} is longer than {max} characters")]
    TextTooLong {
        /// Which field.
        field: &'static str,
        /// The limit.
        max: usize,
    },
    /// `after_deadline`: nothing is reserved, committed or added after the commitment deadline.
    #[error("the commitment deadline {deadline} has passed (booking date {on})")]
    AfterDeadline {
        /// The fund's deadline (inclusive).
        deadline: NaiveDate,
        /// The date the entry would be booked on.
        on: NaiveDate,
    },
    /// `deadline_not_passed`: unbound money expires only after the deadline.
    #[error("the commitment deadline {deadline} has not passed yet")]
    DeadlineNotPassed {
        /// The fund's deadline.
        deadline: NaiveDate,
    },
    /// `back_dated`: a value date before the last date booked on the fund.
    #[error("value date {value_date} is before {last}, the last date booked on the fund")]
    BackDated {
        /// The value date given.
        value_date: NaiveDate,
        /// The last date booked.
        last: NaiveDate,
    },
    /// `value_date_in_future`: a payment is recorded when it was made, not before.
    #[error("value date {value_date} is after today ({today})")]
    ValueDateInFuture {
        /// The value date given.
        value_date: NaiveDate,
        /// The business date.
        today: NaiveDate,
    },
    /// `unknown_project`: the fund has never seen this proposal.
    #[error(
        "the fund has no reservation, waitlist place or commitment for proposal {proposal_id}"
    )]
    UnknownProject {
        /// The proposal.
        proposal_id: Uuid,
    },
    /// `already_committed`: the grant is committed (a second decision, or a late release).
    #[error("proposal {proposal_id} is already committed")]
    AlreadyCommitted {
        /// The proposal.
        proposal_id: Uuid,
    },
    /// `already_closed`: the project is closed.
    #[error("proposal {proposal_id} is closed")]
    AlreadyClosed {
        /// The proposal.
        proposal_id: Uuid,
    },
    /// `not_committed`: paying, closing or recovering needs a committed grant.
    #[error("proposal {proposal_id} has no committed grant")]
    NotCommitted {
        /// The proposal.
        proposal_id: Uuid,
    },
    /// `commitment_shortfall`: the grant exceeds the reservation and the difference is not available.
    #[error(
        "the grant for {proposal_id} exceeds its reservation and the fund is short by {shortfall}"
    )]
    CommitmentShortfall {
        /// The proposal.
        proposal_id: Uuid,
        /// What is missing per source.
        shortfall: Amounts,
    },
    /// `disbursement_above_commitment`: more than is committed and unpaid.
    #[error("the payment exceeds what is committed and unpaid for {proposal_id} ({unpaid})")]
    DisbursementAboveCommitment {
        /// The proposal.
        proposal_id: Uuid,
        /// What is committed and unpaid per source.
        unpaid: Amounts,
    },
    /// `import_not_closed`: a period is imported only once it is over (deadline passed, every
    /// project closed, nothing dated after today).
    #[error("the period cannot be imported as closed: {reason}")]
    ImportNotClosed {
        /// What is not closed.
        reason: String,
    },
    /// `import_step_refused`: a step of an imported history breaks a rule of the ledger.
    #[error("step {step} of the import ({command}{}) is refused: {reason}", proposal_id.map(|p| format!(" for {p}")).unwrap_or_default())]
    ImportStepRefused {
        /// The step, from 1, in date order.
        step: usize,
        /// The ledger command of that step.
        command: &'static str,
        /// The project it is about.
        proposal_id: Option<Uuid>,
        /// The code the ledger refused it with.
        code: &'static str,
        /// Why.
        reason: String,
    },
    /// `claim_required`: the project's grant terms are recorded, so it is paid only through an
    /// approved payment claim (four eyes), never by a direct disbursement.
    #[error("{proposal_id} is paid through a payment claim (submit_claim, verify_claim, approve_claim by another officer), not by record_disbursement")]
    ClaimRequired {
        /// The proposal.
        proposal_id: Uuid,
    },
    /// `no_grant_terms`: the project's grant terms were never recorded, so no claim can be checked.
    #[error("no grant terms are recorded for {proposal_id}; claims need its period and rates")]
    NoGrantTerms {
        /// The proposal.
        proposal_id: Uuid,
    },
    /// `outside_grant_period`: a claim's period is empty or not within the grant period.
    #[error("the claim's period {period_from}..{period_to} is not within the grant period {grant_from}..{grant_to}")]
    OutsideGrantPeriod {
        /// The claim's first day.
        period_from: NaiveDate,
        /// The claim's last day.
        period_to: NaiveDate,
        /// The grant's first day.
        grant_from: NaiveDate,
        /// The grant's last day.
        grant_to: NaiveDate,
    },
    /// `claim_period_overlaps`: an earlier claim covers a day of this claim's period.
    #[error("claim {claim_id} already covers {period_from}..{period_to}")]
    ClaimPeriodOverlaps {
        /// The earlier claim.
        claim_id: Uuid,
        /// Its first day.
        period_from: NaiveDate,
        /// Its last day.
        period_to: NaiveDate,
    },
    /// `claim_above_rate`: more is asked than the grant's rates give for the expenditure declared.
    #[error("the grant's rates allow at most {allowed} for the expenditure declared")]
    ClaimAboveRate {
        /// What the rates allow per source.
        allowed: Amounts,
    },
    /// `claim_above_committed_remainder`: more is asked than is committed, unpaid and not bound by
    /// open claims.
    #[error("the claim asks more than the committed remainder of {proposal_id} ({remainder})")]
    ClaimAboveRemainder {
        /// The proposal.
        proposal_id: Uuid,
        /// The remainder per source.
        remainder: Amounts,
    },
    /// `unknown_claim`: the project has no claim with this id.
    #[error("the project has no claim {claim_id}")]
    UnknownClaim {
        /// The claim.
        claim_id: Uuid,
    },
    /// `claim_exists`: the project already has a claim with this id.
    #[error("the project already has a claim {claim_id}")]
    ClaimExists {
        /// The claim.
        claim_id: Uuid,
    },
    /// `claim_wrong_status`: the claim is not in a status this command may follow.
    #[error("claim {claim_id} is {status}")]
    ClaimWrongStatus {
        /// The claim.
        claim_id: Uuid,
        /// Its status.
        status: &'static str,
    },
    /// `cut_above_asked`: the cuts take more than was asked in a source.
    #[error("the cuts exceed what was asked ({asked})")]
    CutAboveAsked {
        /// What was asked per source.
        asked: Amounts,
    },
    /// `verifier_is_submitter`: whoever submitted a claim may not verify it.
    #[error("{actor} submitted this claim and may not verify it")]
    VerifierIsSubmitter {
        /// The actor.
        actor: String,
    },
    /// `four_eyes_violation`: whoever verified a claim may not approve its payment
    /// (CPR Art. 74(1)(a)).
    #[error("{actor} verified this claim; a different officer approves its payment")]
    FourEyes {
        /// The actor.
        actor: String,
    },
    /// `final_report_checked`: the project's final report was checked already.
    #[error("the final report of {proposal_id} was checked already")]
    FinalReportChecked {
        /// The proposal.
        proposal_id: Uuid,
    },
    /// `claims_open`: a claim is still open; it is paid or cut before the final report.
    #[error("claim {claim_id} is still open")]
    ClaimsOpen {
        /// The open claim.
        claim_id: Uuid,
    },
    /// `remaining_not_below_grant`: a revocation leaves less than the grant, never more.
    #[error("the remaining grant must be below the grant committed ({granted})")]
    RemainingNotBelowGrant {
        /// What is committed now, paid included.
        granted: Amounts,
    },
    /// `interest_from_in_future`: interest runs from a day not after today.
    #[error("interest cannot run from {interest_from}, after {today}")]
    InterestFromInFuture {
        /// The day given.
        interest_from: NaiveDate,
        /// The booking date.
        today: NaiveDate,
    },
    /// `nothing_recovered`: no recovery was assessed on the project.
    #[error("nothing was recovered from {proposal_id}")]
    NothingRecovered {
        /// The proposal.
        proposal_id: Uuid,
    },
    /// `interest_already_charged`: interest was charged up to this day or later already.
    #[error("interest is charged up to {until} already")]
    InterestAlreadyCharged {
        /// The day.
        until: NaiveDate,
    },
    /// `no_interest_due`: no day before `until` bears interest that is not charged yet.
    #[error("no interest is due for the days before {until} that is not charged already")]
    NoInterestDue {
        /// The day.
        until: NaiveDate,
    },
    /// `base_rate_unknown`: the base-rate table has no rate for a day interest runs on.
    #[error("the base-rate table {version} has no rate for {day}; add the half year's rate")]
    BaseRateUnknown {
        /// The day.
        day: NaiveDate,
        /// The table's version.
        version: String,
    },
    /// `interest_not_computed`: the interest could not be computed (forged history).
    #[error("the interest cannot be computed: {reason}")]
    InterestNotComputed {
        /// Why.
        reason: String,
    },
    /// `interest_payment_above_charged`: more paid than is charged and unpaid.
    #[error("more interest paid than is owed ({owed})")]
    InterestPaymentAboveCharged {
        /// The interest owed per source.
        owed: Amounts,
    },
    /// `period_locked`: the value date lies in a locked accounting period; book the correction in
    /// the open period.
    #[error("{value_date} lies in the accounting periods locked until {locked_until}")]
    PeriodLocked {
        /// The value date asked for.
        value_date: NaiveDate,
        /// The last locked day.
        locked_until: NaiveDate,
    },
    /// `correction_not_ordered`: a correction names an entry before the one that corrects it,
    /// both booked already.
    #[error(
        "entry {by_entry} cannot correct entry {corrects_entry} (the fund has {entries} entries)"
    )]
    CorrectionNotOrdered {
        /// The entry corrected.
        corrects_entry: u64,
        /// The correcting entry.
        by_entry: u64,
        /// How many entries the fund has.
        entries: u64,
    },
    /// `lock_not_forward`: a lock moves forward, to a day before the booking date.
    #[error("the periods can be locked to a day after {after} and before {before} only")]
    LockNotForward {
        /// The current lock (or the first day before the fund's first entry).
        after: NaiveDate,
        /// The booking date.
        before: NaiveDate,
    },
    /// `duplicate_payment_reference`: this payment is already recorded on this fund.
    #[error("payment {payment_reference} is already recorded on this fund")]
    DuplicatePaymentReference {
        /// The reference given.
        payment_reference: String,
    },
    /// `recovery_above_disbursed`: principal above what was paid and not yet assessed.
    #[error(
        "the principal exceeds what was paid to {proposal_id} and not yet assessed ({recoverable})"
    )]
    RecoveryAboveDisbursed {
        /// The proposal.
        proposal_id: Uuid,
        /// What may still be assessed per source.
        recoverable: Amounts,
    },
    /// `repayment_above_recovery`: more than is assessed and not yet repaid.
    #[error("the repayment exceeds what {proposal_id} owes ({receivable})")]
    RepaymentAboveRecovery {
        /// The proposal.
        proposal_id: Uuid,
        /// What is owed per source.
        receivable: Amounts,
    },
    /// `adjustment_below_bound`: a cut larger than what is available (bound money stays bound).
    #[error("a cut of {cut} in {fund_source} exceeds the {available} available")]
    AdjustmentBelowBound {
        /// Which source.
        fund_source: Source,
        /// The cut asked for.
        cut: Cents,
        /// What is available.
        available: Cents,
    },
    /// `invariant_violation`: the decision would break an invariant of the fund (a fault of the
    /// ledger's rules or of its stored history, never of the input), so none of it is appended.
    /// The violation's own code and text are in the details.
    #[error("the decision would break an invariant of the fund: {violation}")]
    InvariantViolation {
        /// The first invariant the decision's events would break.
        violation: InvariantViolation,
    },
}

impl DomainError for LedgerError {
    fn code(&self) -> &'static str {
        match self {
            LedgerError::FundNotOpen => "fund_not_open",
            LedgerError::AlreadyAllocated => "already_allocated",
            LedgerError::InvalidFundId { .. } => "invalid_fund_id",
            LedgerError::NegativeAmount { .. } => "negative_amount",
            LedgerError::ZeroAmount { .. } => "zero_amount",
            LedgerError::AmountTooLarge { .. } => "amount_too_large",
            LedgerError::MissingField { .. } => "missing_field",
            LedgerError::TextTooLong { .. } => "text_too_long",
            LedgerError::AfterDeadline { .. } => "after_deadline",
            LedgerError::DeadlineNotPassed { .. } => "deadline_not_passed",
            LedgerError::BackDated { .. } => "back_dated",
            LedgerError::ValueDateInFuture { .. } => "value_date_in_future",
            LedgerError::UnknownProject { .. } => "unknown_project",
            LedgerError::AlreadyCommitted { .. } => "already_committed",
            LedgerError::AlreadyClosed { .. } => "already_closed",
            LedgerError::NotCommitted { .. } => "not_committed",
            LedgerError::CommitmentShortfall { .. } => "commitment_shortfall",
            LedgerError::DisbursementAboveCommitment { .. } => "disbursement_above_commitment",
            LedgerError::DuplicatePaymentReference { .. } => "duplicate_payment_reference",
            LedgerError::RecoveryAboveDisbursed { .. } => "recovery_above_disbursed",
            LedgerError::RepaymentAboveRecovery { .. } => "repayment_above_recovery",
            LedgerError::AdjustmentBelowBound { .. } => "adjustment_below_bound",
            LedgerError::InvariantViolation { .. } => "invariant_violation",
            LedgerError::NoGrantTerms { .. } => "no_grant_terms",
            LedgerError::ClaimRequired { .. } => "claim_required",
            LedgerError::ImportNotClosed { .. } => "import_not_closed",
            LedgerError::ImportStepRefused { .. } => "import_step_refused",
            LedgerError::OutsideGrantPeriod { .. } => "outside_grant_period",
            LedgerError::ClaimPeriodOverlaps { .. } => "claim_period_overlaps",
            LedgerError::ClaimAboveRate { .. } => "claim_above_rate",
            LedgerError::ClaimAboveRemainder { .. } => "claim_above_committed_remainder",
            LedgerError::UnknownClaim { .. } => "unknown_claim",
            LedgerError::ClaimExists { .. } => "claim_exists",
            LedgerError::ClaimWrongStatus { .. } => "claim_wrong_status",
            LedgerError::CutAboveAsked { .. } => "cut_above_asked",
            LedgerError::VerifierIsSubmitter { .. } => "verifier_is_submitter",
            LedgerError::FourEyes { .. } => "four_eyes_violation",
            LedgerError::PeriodLocked { .. } => "period_locked",
            LedgerError::LockNotForward { .. } => "lock_not_forward",
            LedgerError::CorrectionNotOrdered { .. } => "correction_not_ordered",
            LedgerError::FinalReportChecked { .. } => "final_report_checked",
            LedgerError::ClaimsOpen { .. } => "claims_open",
            LedgerError::RemainingNotBelowGrant { .. } => "remaining_not_below_grant",
            LedgerError::InterestFromInFuture { .. } => "interest_from_in_future",
            LedgerError::NothingRecovered { .. } => "nothing_recovered",
            LedgerError::InterestAlreadyCharged { .. } => "interest_already_charged",
            LedgerError::NoInterestDue { .. } => "no_interest_due",
            LedgerError::BaseRateUnknown { .. } => "base_rate_unknown",
            LedgerError::InterestNotComputed { .. } => "interest_not_computed",
            LedgerError::InterestPaymentAboveCharged { .. } => "interest_payment_above_charged",
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            LedgerError::NegativeAmount { field }
            | LedgerError::ZeroAmount { field }
            | LedgerError::AmountTooLarge { field }
            | LedgerError::MissingField { field }
            | LedgerError::TextTooLong { field, .. } => {
                vec![FieldError::new(*field, self.to_string())]
            }
            LedgerError::PeriodLocked { .. } => {
                vec![FieldError::new("value_date", self.to_string())]
            }
            LedgerError::LockNotForward { .. } => {
                vec![FieldError::new("until", self.to_string())]
            }
            LedgerError::CorrectionNotOrdered { .. } => {
                vec![FieldError::new("corrects_entry", self.to_string())]
            }
            LedgerError::BackDated { .. } | LedgerError::ValueDateInFuture { .. } => {
                vec![FieldError::new("value_date", self.to_string())]
            }
            LedgerError::CommitmentShortfall { shortfall, .. } => per_source(shortfall, "short by"),
            LedgerError::ClaimAboveRate { allowed } => per_source(allowed, "the rates allow"),
            LedgerError::ClaimAboveRemainder { remainder, .. } => {
                per_source(remainder, "committed remainder:")
            }
            LedgerError::CutAboveAsked { asked } => per_source(asked, "asked:"),
            LedgerError::RemainingNotBelowGrant { granted } => per_source(granted, "granted:"),
            LedgerError::InterestPaymentAboveCharged { owed } => per_source(owed, "owed:"),
            LedgerError::InterestFromInFuture { .. } => {
                vec![FieldError::new("interest_from", self.to_string())]
            }
            LedgerError::InterestAlreadyCharged { .. }
            | LedgerError::NoInterestDue { .. }
            | LedgerError::BaseRateUnknown { .. } => {
                vec![FieldError::new("until", self.to_string())]
            }
            LedgerError::OutsideGrantPeriod { .. } | LedgerError::ClaimPeriodOverlaps { .. } => {
                vec![FieldError::new("period_from", self.to_string())]
            }
            LedgerError::VerifierIsSubmitter { .. } | LedgerError::FourEyes { .. } => {
                vec![FieldError::new("actor", self.to_string())]
            }
            LedgerError::DisbursementAboveCommitment { unpaid, .. } => {
                per_source(unpaid, "committed and unpaid:")
            }
            LedgerError::RecoveryAboveDisbursed { recoverable, .. } => {
                per_source(recoverable, "paid and not yet assessed:")
            }
            LedgerError::RepaymentAboveRecovery { receivable, .. } => {
                per_source(receivable, "owed:")
            }
            LedgerError::AdjustmentBelowBound { .. } => {
                vec![FieldError::new("delta_cents", self.to_string())]
            }
            LedgerError::InvariantViolation { violation } => vec![FieldError::new(
                "invariant",
                format!("{}: {violation}", violation.code()),
            )],
            LedgerError::FundNotOpen
            | LedgerError::AlreadyAllocated
            | LedgerError::InvalidFundId { .. }
            | LedgerError::AfterDeadline { .. }
            | LedgerError::DeadlineNotPassed { .. }
            | LedgerError::UnknownProject { .. }
            | LedgerError::AlreadyCommitted { .. }
            | LedgerError::AlreadyClosed { .. }
            | LedgerError::NotCommitted { .. }
            | LedgerError::DuplicatePaymentReference { .. }
            | LedgerError::NoGrantTerms { .. }
            | LedgerError::ClaimRequired { .. }
            | LedgerError::ImportNotClosed { .. }
            | LedgerError::ImportStepRefused { .. }
            | LedgerError::UnknownClaim { .. }
            | LedgerError::ClaimExists { .. }
            | LedgerError::ClaimWrongStatus { .. }
            | LedgerError::FinalReportChecked { .. }
            | LedgerError::ClaimsOpen { .. }
            | LedgerError::NothingRecovered { .. }
            | LedgerError::InterestNotComputed { .. } => Vec::new(),
        }
    }
}

/// One field error per source, e.g. `esf: short by 120.00 EUR`.
fn per_source(amounts: &Amounts, what: &str) -> Vec<FieldError> {
    [("esf", amounts.esf_cents), ("land", amounts.land_cents)]
        .into_iter()
        .map(|(field, cents)| FieldError::new(field, format!("{what} {cents} EUR")))
        .collect()
}
