//! The Review aggregate: opened → conflicts and votes → statement → the bank's grant or refusal;
//! closed when the proposal is withdrawn (any time before a grant).
//!
//! Rules (each refusal has its own code, see [`ReviewError`]):
//!
//! - A review is opened once; a second `Open` is `already_opened` (the shell recognises its own
//!   retries by cause before `decide` runs). The roster, quorum rule and program-rule caps are frozen.
//! - Only partners on the roster may recuse or vote (`unknown_partner`). A partner recuses once
//!   (`already_recused`), before the statement (`statement_already_issued`), and giving a reason.
//! - A recused partner cannot vote (`partner_recused`). If it voted before recusing, that vote no
//!   longer counts: the recusal removes it from the eligible partners and from the tally.
//! - A partner may vote again until the statement; its last vote counts. After the statement no
//!   vote is accepted (`vote_after_statement`).
//! - A statement is issued once, and only when the quorum is met ([`QuorumRule`], counted by
//!   [`tally`]). A `positive` verdict also needs more yes than no votes (`no_majority`); a
//!   `negative` one needs only the quorum.
//! - The bank decides once (`grant_already_decided`), after a positive statement
//!   (`no_positive_statement`). A grant obeys the frozen caps, its ESF+ and Land cents are exactly
//!   [`Split::compute`], its eligible costs do not exceed the screened ones unless the bank's
//!   amendment reference is given (then recorded as `amendment`), and its period lies within the
//!   rules' eligibility window.
//! - After `closed` every command is `review_closed` (a new `Open` is `already_opened`). A granted
//!   review cannot be closed (`grant_already_decided`); a refused one can.

use std::collections::{BTreeMap, BTreeSet};

use buendel_contract::money::{BasisPoints, Cents, Split};
use buendel_contract::reference::{Partner, ProgramRules, RegionCategory};
use buendel_contract::review::{
    requested_split, Closed, ConflictDeclared, FundFacts, GrantDecided, GrantRefused, Opened,
    QuorumRule, ReviewEvent, StatementIssued, StatementMoney, Tally, TermsRevised, Verdict,
    VoteChoice, VoteRecorded,
};
use buendel_contract::Aggregate;
use chrono::NaiveDate;
use uuid::Uuid;

use super::command::Command;
use super::error::ReviewError;

/// The most partners a roster may have (the largest real alliance has 28).
pub const PARTNERS_MAX: usize = 1_000;

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// No review was opened.
    #[default]
    New,
    /// Open: partners declare conflicts and vote.
    InReview,
    /// The alliance issued a positive statement; the bank decides next.
    StatementPositive,
    /// The alliance issued a negative statement.
    StatementNegative,
    /// The bank granted the project.
    Granted,
    /// The bank refused the grant.
    Refused,
    /// The proposal was withdrawn and the review closed.
    Closed,
}

/// The bank's decision, once recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankDecision {
    /// The grant and its terms.
    Granted(GrantDecided),
    /// The refusal.
    Refused(GrantRefused),
}

/// The state folded from a review's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// The opening facts (roster, quorum, caps), once opened.
    opened: Option<Opened>,
    /// Recused partners and the nature of their conflict.
    recused: BTreeMap<String, String>,
    /// The last vote of every partner who voted (a recused partner's vote stays here, uncounted).
    votes: BTreeMap<String, VoteRecorded>,
    /// The alliance's statement, once issued.
    statement: Option<StatementIssued>,
    /// The bank's decision, once recorded.
    decision: Option<BankDecision>,
    /// Why the review was closed, once closed.
    closed: Option<Closed>,
}

impl Review {
    /// Where the review stands.
    pub fn status(&self) -> Status {
        if self.closed.is_some() {
            return Status::Closed;
        }
        match (&self.opened, &self.statement, &self.decision) {
            (None, _, _) => Status::New,
            (Some(_), _, Some(BankDecision::Granted(_))) => Status::Granted,
            (Some(_), _, Some(BankDecision::Refused(_))) => Status::Refused,
            (Some(_), None, None) => Status::InReview,
            (Some(_), Some(statement), None) => match statement.verdict {
                Verdict::Positive => Status::StatementPositive,
                Verdict::Negative => Status::StatementNegative,
            },
        }
    }

    /// The opening facts, once opened.
    pub fn opened(&self) -> Option<&Opened> {
        self.opened.as_ref()
    }

    /// Recused partners with the nature of their conflict.
    pub fn recused(&self) -> &BTreeMap<String, String> {
        &self.recused
    }

    /// The last vote of every partner who voted, including recused partners' uncounted votes.
    pub fn votes(&self) -> &BTreeMap<String, VoteRecorded> {
        &self.votes
    }

    /// The statement, once issued.
    pub fn statement(&self) -> Option<&StatementIssued> {
        self.statement.as_ref()
    }

    /// The bank's decision, once recorded.
    pub fn decision(&self) -> Option<&BankDecision> {
        self.decision.as_ref()
    }

    /// Why the review was closed, once closed.
    pub fn closed(&self) -> Option<&Closed> {
        self.closed.as_ref()
    }

    /// The opening facts of a review that is open (not closed): the guard of most commands.
    fn open_facts(&self) -> Result<&Opened, ReviewError> {
        if self.closed.is_some() {
            return Err(ReviewError::ReviewClosed);
        }
        self.opened.as_ref().ok_or(ReviewError::ReviewNotOpen)
    }

    /// Whether `partner_id` is on the roster.
    fn knows(opened: &Opened, partner_id: &str) -> bool {
        opened.partners.iter().any(|p| p.id == partner_id)
    }
}

/// The count that decides a statement: the last vote of every partner on the roster who has not
/// recused; recused partners are counted apart and are not eligible. Before opening: all zero.
pub fn tally(review: &Review) -> Tally {
    let mut tally = Tally::default();
    let Some(opened) = &review.opened else {
        return tally;
    };
    for partner in &opened.partners {
        if review.recused.contains_key(&partner.id) {
            tally.recused += 1;
            continue;
        }
        tally.eligible += 1;
        match review.votes.get(&partner.id).map(|v| v.vote) {
            Some(VoteChoice::Yes) => tally.yes += 1,
            Some(VoteChoice::No) => tally.no += 1,
            Some(VoteChoice::Abstain) => tally.abstain += 1,
            None => {}
        }
    }
    tally
}

impl Aggregate for Review {
    type Event = ReviewEvent;
    type Command = Command;
    type Error = ReviewError;

    fn apply(mut self, event: &ReviewEvent) -> Self {
        match event {
            ReviewEvent::Opened(e) => self.opened = Some(e.clone()),
            ReviewEvent::ConflictDeclared(e) => {
                self.recused.insert(e.partner_id.clone(), e.reason.clone());
            }
            ReviewEvent::VoteRecorded(e) => {
                self.votes.insert(e.partner_id.clone(), e.clone());
            }
            ReviewEvent::StatementIssued(e) => self.statement = Some(e.clone()),
            ReviewEvent::GrantDecided(e) => self.decision = Some(BankDecision::Granted(e.clone())),
            ReviewEvent::GrantRefused(e) => self.decision = Some(BankDecision::Refused(e.clone())),
            ReviewEvent::Closed(e) => self.closed = Some(e.clone()),
            ReviewEvent::TermsRevised(e) => {
                if let Some(opened) = &mut self.opened {
                    opened.eligible_cost_cents = e.eligible_cost_cents;
                    opened.requested_rate_bp = e.requested_rate_bp;
                }
            }
        }
        self
    }

    fn decide(&self, command: &Command) -> Result<Vec<ReviewEvent>, ReviewError> {
        let event = match command {
            Command::ReviseTerms {
                eligible_cost_cents,
                requested_rate_bp,
            } => return self.revise_terms(*eligible_cost_cents, *requested_rate_bp),
            Command::Open {
                proposal_id,
                alliance_id,
                partners,
                region,
                quorum,
                rules,
                eligible_cost_cents,
                requested_rate_bp,
            } => ReviewEvent::Opened(self.open(
                *proposal_id,
                alliance_id,
                partners,
                *region,
                *quorum,
                rules,
                *eligible_cost_cents,
                *requested_rate_bp,
            )?),
            Command::DeclareConflict { partner_id, reason } => {
                ReviewEvent::ConflictDeclared(self.declare_conflict(partner_id, reason)?)
            }
            Command::Vote {
                partner_id,
                vote,
                comment,
            } => ReviewEvent::VoteRecorded(self.vote(partner_id, *vote, comment.as_deref())?),
            Command::IssueStatement {
                verdict,
                conditions,
            } => ReviewEvent::StatementIssued(self.issue_statement(*verdict, conditions)?),
            Command::RecordGrant {
                bank_reference,
                eligible_cost_cents,
                total_rate_bp,
                esf_rate_bp,
                esf_cents,
                land_cents,
                period_from,
                period_to,
                amendment_reference,
            } => ReviewEvent::GrantDecided(self.record_grant(&GrantTerms {
                bank_reference,
                eligible_cost_cents: *eligible_cost_cents,
                total_rate_bp: *total_rate_bp,
                esf_rate_bp: *esf_rate_bp,
                esf_cents: *esf_cents,
                land_cents: *land_cents,
                period_from: *period_from,
                period_to: *period_to,
                amendment_reference: amendment_reference.as_deref(),
            })?),
            Command::RecordRefusal {
                bank_reference,
                reason,
            } => ReviewEvent::GrantRefused(self.record_refusal(bank_reference, reason)?),
            Command::Close { reason } => ReviewEvent::Closed(self.close(reason)?),
        };
        Ok(vec![event])
    }
}

/// The bank's terms of a grant, borrowed from the command.
struct GrantTerms<'a> {
    bank_reference: &'a str,
    eligible_cost_cents: Cents,
    total_rate_bp: BasisPoints,
    esf_rate_bp: BasisPoints,
    esf_cents: Cents,
    land_cents: Cents,
    period_from: NaiveDate,
    period_to: NaiveDate,
    amendment_reference: Option<&'a str>,
}

/// `Some(trimmed)` when the text has anything but whitespace.
fn non_blank(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

impl Review {
    #[allow(clippy::too_many_arguments)] // one per fact of the `Open` command
    fn open(
        &self,
        proposal_id: Uuid,
        alliance_id: &str,
        partners: &[Partner],
        region: RegionCategory,
        quorum: QuorumRule,
        rules: &ProgramRules,
        eligible_cost_cents: Cents,
        requested_rate_bp: BasisPoints,
    ) -> Result<Opened, ReviewError> {
        if self.opened.is_some() {
            return Err(ReviewError::AlreadyOpened);
        }
        check_roster(partners)?;
        if !quorum.is_valid() {
            return Err(ReviewError::InvalidQuorumRule {
                min_participation_bp: quorum.min_participation_bp.0,
            });
        }
        Ok(Opened {
            proposal_id,
            alliance_id: alliance_id.to_owned(),
            partners: partners.to_vec(),
            quorum,
            region,
            eligible_cost_cents,
            requested_rate_bp,
            rules_version: rules.version.clone(),
            max_total_rate_bp: rules.max_total_rate_bp,
            max_esf_rate_bp: rules.max_esf_rate(region),
            eligible_from: rules.eligible_from,
            eligible_until: rules.eligible_until,
        })
    }

    fn declare_conflict(
        &self,
        partner_id: &str,
        reason: &str,
    ) -> Result<ConflictDeclared, ReviewError> {
        let opened = self.open_facts()?;
        if self.statement.is_some() {
            return Err(ReviewError::StatementAlreadyIssued);
        }
        if !Self::knows(opened, partner_id) {
            return Err(ReviewError::UnknownPartner {
                partner_id: partner_id.to_owned(),
            });
        }
        if self.recused.contains_key(partner_id) {
            return Err(ReviewError::AlreadyRecused {
                partner_id: partner_id.to_owned(),
            });
        }
        let reason = non_blank(Some(reason)).ok_or(ReviewError::MissingReason)?;
        Ok(ConflictDeclared {
            proposal_id: opened.proposal_id,
            partner_id: partner_id.to_owned(),
            reason: reason.to_owned(),
        })
    }

    fn vote(
        &self,
        partner_id: &str,
        vote: VoteChoice,
        comment: Option<&str>,
    ) -> Result<VoteRecorded, ReviewError> {
        let opened = self.open_facts()?;
        if self.statement.is_some() {
            return Err(ReviewError::VoteAfterStatement);
        }
        if !Self::knows(opened, partner_id) {
            return Err(ReviewError::UnknownPartner {
                partner_id: partner_id.to_owned(),
            });
        }
        if self.recused.contains_key(partner_id) {
            return Err(ReviewError::PartnerRecused {
                partner_id: partner_id.to_owned(),
            });
        }
        Ok(VoteRecorded {
            proposal_id: opened.proposal_id,
            partner_id: partner_id.to_owned(),
            vote,
            comment: non_blank(comment).map(str::to_owned),
        })
    }

    fn issue_statement(
        &self,
        verdict: Verdict,
        conditions: &[String],
    ) -> Result<StatementIssued, ReviewError> {
        let opened = self.open_facts()?;
        if self.statement.is_some() {
            return Err(ReviewError::StatementAlreadyIssued);
        }
        let tally = tally(self);
        let quorum_met = opened.quorum.is_met(&tally);
        if !quorum_met {
            return Err(ReviewError::QuorumNotMet {
                participants: tally.participants(),
                eligible: tally.eligible,
                required: opened.quorum.required_participants(tally.eligible),
            });
        }
        if verdict == Verdict::Positive && !tally.has_majority() {
            return Err(ReviewError::NoMajority {
                yes: tally.yes,
                no: tally.no,
            });
        }
        Ok(StatementIssued {
            proposal_id: opened.proposal_id,
            verdict,
            conditions: conditions.to_vec(),
            tally,
            quorum_met,
            money: statement_money(opened),
        })
    }

    /// The guard shared by both of the bank's decisions.
    fn ready_for_bank(&self) -> Result<&Opened, ReviewError> {
        let opened = self.open_facts()?;
        if self.decision.is_some() {
            return Err(ReviewError::GrantAlreadyDecided);
        }
        match &self.statement {
            Some(statement) if statement.verdict == Verdict::Positive => Ok(opened),
            Some(_) | None => Err(ReviewError::NoPositiveStatement),
        }
    }

    fn record_grant(&self, terms: &GrantTerms<'_>) -> Result<GrantDecided, ReviewError> {
        let opened = self.ready_for_bank()?;
        let bank_reference =
            non_blank(Some(terms.bank_reference)).ok_or(ReviewError::MissingBankReference)?;
        let amendment = check_grant(opened, terms)?;
        Ok(GrantDecided {
            fund: Some(FundFacts::of(&opened.alliance_id)),
            proposal_id: opened.proposal_id,
            bank_reference: bank_reference.to_owned(),
            eligible_cost_cents: terms.eligible_cost_cents,
            total_rate_bp: terms.total_rate_bp,
            esf_rate_bp: terms.esf_rate_bp,
            esf_cents: terms.esf_cents,
            land_cents: terms.land_cents,
            period_from: terms.period_from,
            period_to: terms.period_to,
            amendment,
        })
    }

    fn record_refusal(
        &self,
        bank_reference: &str,
        reason: &str,
    ) -> Result<GrantRefused, ReviewError> {
        let opened = self.ready_for_bank()?;
        let bank_reference =
            non_blank(Some(bank_reference)).ok_or(ReviewError::MissingBankReference)?;
        let reason = non_blank(Some(reason)).ok_or(ReviewError::MissingReason)?;
        Ok(GrantRefused {
            fund: Some(FundFacts::of(&opened.alliance_id)),
            proposal_id: opened.proposal_id,
            bank_reference: bank_reference.to_owned(),
            reason: reason.to_owned(),
        })
    }

    /// Revised terms before the statement: the review goes on with them (nothing when they are
    /// the ones it has); after the statement they are refused.
    fn revise_terms(
        &self,
        eligible_cost_cents: Cents,
        requested_rate_bp: BasisPoints,
    ) -> Result<Vec<ReviewEvent>, ReviewError> {
        let opened = self.open_facts()?;
        if self.statement.is_some() {
            return Err(ReviewError::RevisionAfterStatement);
        }
        if opened.eligible_cost_cents == eligible_cost_cents
            && opened.requested_rate_bp == requested_rate_bp
        {
            return Ok(Vec::new());
        }
        Ok(vec![ReviewEvent::TermsRevised(TermsRevised {
            proposal_id: opened.proposal_id,
            eligible_cost_cents,
            requested_rate_bp,
        })])
    }

    fn close(&self, reason: &str) -> Result<Closed, ReviewError> {
        let opened = self.open_facts()?;
        if let Some(BankDecision::Granted(_)) = self.decision {
            return Err(ReviewError::GrantAlreadyDecided);
        }
        Ok(Closed {
            proposal_id: opened.proposal_id,
            reason: reason.trim().to_owned(),
            fund: Some(FundFacts::of(&opened.alliance_id)),
        })
    }
}

/// What a statement carries for the ledger: the alliance's fund and the grant requested by the
/// review's terms (as revised), split by the one rounding rule, the ESF+ rate capped by the
/// region's; `None` when the terms cannot be split (the ledger then refuses the reservation).
fn statement_money(opened: &Opened) -> Option<StatementMoney> {
    let split = requested_split(
        opened.eligible_cost_cents,
        opened.requested_rate_bp,
        opened.max_esf_rate_bp,
    )?;
    Some(StatementMoney {
        fund: FundFacts::of(&opened.alliance_id),
        requested_esf_cents: split.esf_cents,
        requested_land_cents: split.land_cents,
    })
}

/// A roster is non-empty, at most [`PARTNERS_MAX`] long, and its ids are non-blank and distinct.
fn check_roster(partners: &[Partner]) -> Result<(), ReviewError> {
    let invalid = |reason: String| Err(ReviewError::InvalidRoster { reason });
    if partners.is_empty() {
        return invalid("it has no partners".into());
    }
    if partners.len() > PARTNERS_MAX {
        return invalid(format!(
            "{} partners, at most {PARTNERS_MAX}",
            partners.len()
        ));
    }
    let mut seen = BTreeSet::new();
    for partner in partners {
        if partner.id.trim().is_empty() {
            return invalid("a partner has a blank id".into());
        }
        if !seen.insert(partner.id.as_str()) {
            return invalid(format!("{} appears twice", partner.id));
        }
    }
    Ok(())
}

/// Checks a grant's terms against the frozen caps and the split rule; returns the amendment
/// reference to record when the eligible costs exceed the screened ones.
fn check_grant(opened: &Opened, terms: &GrantTerms<'_>) -> Result<Option<String>, ReviewError> {
    if terms.eligible_cost_cents <= Cents::ZERO {
        return Err(ReviewError::InvalidEligibleCost {
            eligible_cost_cents: terms.eligible_cost_cents,
        });
    }
    if terms.total_rate_bp > opened.max_total_rate_bp {
        return Err(ReviewError::TotalRateAboveCap {
            total_rate_bp: terms.total_rate_bp.0,
            cap_bp: opened.max_total_rate_bp.0,
        });
    }
    if terms.esf_rate_bp > opened.max_esf_rate_bp {
        return Err(ReviewError::EsfRateAboveCap {
            esf_rate_bp: terms.esf_rate_bp.0,
            cap_bp: opened.max_esf_rate_bp.0,
        });
    }
    if terms.esf_rate_bp > terms.total_rate_bp {
        return Err(ReviewError::EsfAboveTotal {
            esf_rate_bp: terms.esf_rate_bp.0,
            total_rate_bp: terms.total_rate_bp.0,
        });
    }
    check_split(terms)?;
    let amendment = non_blank(terms.amendment_reference);
    if terms.eligible_cost_cents > opened.eligible_cost_cents && amendment.is_none() {
        return Err(ReviewError::EligibleAboveScreened {
            eligible_cost_cents: terms.eligible_cost_cents,
            screened_cents: opened.eligible_cost_cents,
        });
    }
    check_period(opened, terms.period_from, terms.period_to)?;
    // An amendment reference is recorded only where it is what allows the grant.
    let amendment = amendment
        .filter(|_| terms.eligible_cost_cents > opened.eligible_cost_cents)
        .map(str::to_owned);
    Ok(amendment)
}

/// ESF+ and Land cents must be exactly the split by the one rounding rule.
fn check_split(terms: &GrantTerms<'_>) -> Result<(), ReviewError> {
    let split = Split::compute(
        terms.eligible_cost_cents,
        terms.total_rate_bp,
        terms.esf_rate_bp,
    );
    let (expected_esf_cents, expected_land_cents) = match split {
        Some(split) => (split.esf_cents, split.land_cents),
        // Unreachable after the checks above (positive amount, esf ≤ total); refuse all the same.
        None => (Cents::ZERO, Cents::ZERO),
    };
    let matches = split.is_some()
        && terms.esf_cents == expected_esf_cents
        && terms.land_cents == expected_land_cents;
    if matches {
        Ok(())
    } else {
        Err(ReviewError::SplitMismatch {
            esf_cents: terms.esf_cents,
            land_cents: terms.land_cents,
            expected_esf_cents,
            expected_land_cents,
        })
    }
}

/// The period is not reversed and lies within the rules' eligibility window.
fn check_period(opened: &Opened, from: NaiveDate, to: NaiveDate) -> Result<(), ReviewError> {
    let invalid = |reason: String| Err(ReviewError::InvalidPeriod { reason });
    if from > to {
        return invalid(format!("it ends ({to}) before it starts ({from})"));
    }
    if from < opened.eligible_from || to > opened.eligible_until {
        return invalid(format!(
            "{from}..{to} is outside the eligibility window {}..{} of {}",
            opened.eligible_from, opened.eligible_until, opened.rules_version
        ));
    }
    Ok(())
}
