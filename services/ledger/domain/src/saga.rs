//! The saga with approval, the pure half: which ledger command a review event asks for.
//!
//! Choreography: the ledger reads REVIEWS and reacts; nobody tells it what to do. A review's
//! `opened` event freezes the facts money needs ([`OpenedFacts`]: alliance, eligible costs,
//! requested rate, the region's ESF+ cap); the later events of the review map to one command on the
//! alliance's fund (`<alliance>-2021-2027`):
//!
//! | review event | ledger command |
//! |---|---|
//! | `statement_issued`, positive | `Reserve` the requested grant, split by [`Split::compute`] |
//! | `grant_decided` | `Commit` the granted ESF+ and Land cents |
//! | `grant_refused` | `ReleaseReservation { reason: refused }` |
//! | `closed` (withdrawn) | `ReleaseReservation { reason: withdrawn }` |
//! | `opened`, `conflict_declared`, `vote_recorded`, negative `statement_issued` | nothing |
//!
//! The shell runs the command under the review event's id as its cause, so a redelivered,
//! duplicated or replayed review event is booked once, forever.

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::ledger::{fund_id, GrantTerms, ReleaseReason};
use buendel_contract::money::{BasisPoints, Cents, Split};
use buendel_contract::review::{Opened, ReviewEvent, TermsRevised, Verdict};

use crate::Command;

/// The first year of the funding period the saga books on.
pub const PERIOD_FIRST_YEAR: u16 = 2021;
/// The last year of the funding period the saga books on.
pub const PERIOD_LAST_YEAR: u16 = 2027;

/// The facts of a review's `opened` event that money depends on. Frozen at opening, so they may
/// be cached for as long as one likes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedFacts {
    /// The alliance whose fund pays.
    pub alliance_id: String,
    /// Eligible costs as screened.
    pub eligible_cost_cents: Cents,
    /// The total grant rate requested.
    pub requested_rate_bp: BasisPoints,
    /// The ESF+ rate cap of the alliance's region category.
    pub max_esf_rate_bp: BasisPoints,
}

impl From<&Opened> for OpenedFacts {
    fn from(opened: &Opened) -> Self {
        Self {
            alliance_id: opened.alliance_id.clone(),
            eligible_cost_cents: opened.eligible_cost_cents,
            requested_rate_bp: opened.requested_rate_bp,
            max_esf_rate_bp: opened.max_esf_rate_bp,
        }
    }
}

impl OpenedFacts {
    /// The facts of a review's history, in stream order: its `opened` event's, as revised by every
    /// `terms_revised` after it; `None` before it opened.
    pub fn of_history<'a>(events: impl IntoIterator<Item = &'a ReviewEvent>) -> Option<Self> {
        let mut facts: Option<Self> = None;
        for event in events {
            match event {
                ReviewEvent::Opened(opened) => facts = Some(Self::from(opened)),
                ReviewEvent::TermsRevised(revised) => {
                    if let Some(facts) = &mut facts {
                        facts.revise(revised);
                    }
                }
                _ => {}
            }
        }
        facts
    }

    /// The facts after a revision of the terms (before the statement).
    pub fn revise(&mut self, revised: &TermsRevised) {
        self.eligible_cost_cents = revised.eligible_cost_cents;
        self.requested_rate_bp = revised.requested_rate_bp;
    }

    /// The fund of the alliance's funding period, e.g. `non-2021-2027`.
    pub fn fund_id(&self) -> String {
        fund_id(&self.alliance_id, PERIOD_FIRST_YEAR, PERIOD_LAST_YEAR)
    }

    /// The requested grant split into ESF+ and Land by the one rounding rule: the ESF+ rate is the
    /// requested rate up to the region's cap, Land pays the rest. `None` when it cannot be split.
    pub fn requested_split(&self) -> Option<Split> {
        buendel_contract::review::requested_split(
            self.eligible_cost_cents,
            self.requested_rate_bp,
            self.max_esf_rate_bp,
        )
    }
}

/// What a review event asks of the ledger, before the facts of its `opened` event are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Nothing to book.
    Nothing,
    /// Reserve the requested grant (a positive statement).
    Reserve,
    /// Commit a grant.
    Commit {
        /// The granted ESF+ part.
        esf: Cents,
        /// The granted Land part.
        land: Cents,
        /// The decision's terms, which payment claims are checked against.
        terms: Box<GrantTerms>,
    },
    /// End the reservation or waitlist place.
    Release(ReleaseReason),
}

/// The intent of one review event.
pub fn intent(event: &ReviewEvent) -> Intent {
    match event {
        ReviewEvent::Opened(_)
        | ReviewEvent::ConflictDeclared(_)
        | ReviewEvent::VoteRecorded(_)
        | ReviewEvent::TermsRevised(_) => Intent::Nothing,
        ReviewEvent::StatementIssued(statement) => match statement.verdict {
            Verdict::Positive => Intent::Reserve,
            Verdict::Negative => Intent::Nothing,
        },
        ReviewEvent::GrantDecided(grant) => Intent::Commit {
            esf: grant.esf_cents,
            land: grant.land_cents,
            terms: Box::new(GrantTerms {
                bank_reference: grant.bank_reference.clone(),
                eligible_cost_cents: grant.eligible_cost_cents,
                total_rate_bp: grant.total_rate_bp,
                esf_rate_bp: grant.esf_rate_bp,
                period_from: grant.period_from,
                period_to: grant.period_to,
            }),
        },
        ReviewEvent::GrantRefused(_) => Intent::Release(ReleaseReason::Refused),
        ReviewEvent::Closed(_) => Intent::Release(ReleaseReason::Withdrawn),
    }
}

/// Why an intent could not become a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SagaRefusal {
    /// `unsplittable_request`: the opened facts do not give a valid split.
    #[error("the requested grant of {eligible} EUR at {} bp cannot be split into ESF+ and Land", rate.0)]
    UnsplittableRequest {
        /// Eligible costs.
        eligible: Cents,
        /// The requested rate.
        rate: BasisPoints,
    },
}

impl SagaRefusal {
    /// The stable code written into the dead letter.
    pub fn code(&self) -> &'static str {
        match self {
            SagaRefusal::UnsplittableRequest { .. } => "unsplittable_request",
        }
    }
}

/// The fund and the ledger command of a review event that carries what it needs (v2 on): a
/// positive statement its fund and requested split, a grant, refusal or closing its fund. `None`
/// for an event that does not (a v1 event, booked with the review's facts by [`command`]) or asks
/// for nothing.
pub fn carried(event: &ReviewEvent, today: NaiveDate) -> Option<(String, Command)> {
    let proposal_id = event.proposal_id();
    let fund_id = event.fund()?.fund_id.clone();
    let command = match (intent(event), event) {
        (Intent::Reserve, ReviewEvent::StatementIssued(statement)) => {
            let money = statement.money.as_ref()?;
            Command::Reserve {
                proposal_id,
                esf: money.requested_esf_cents,
                land: money.requested_land_cents,
                today,
            }
        }
        (Intent::Commit { esf, land, terms }, _) => Command::Commit {
            proposal_id,
            esf,
            land,
            terms: Some(*terms),
            today,
        },
        (Intent::Release(reason), _) => Command::ReleaseReservation {
            proposal_id,
            reason,
            today,
        },
        (Intent::Nothing | Intent::Reserve, _) => return None,
    };
    Some((fund_id, command))
}

/// The ledger command for an intent on `proposal_id`, given on business date `today`; `None` for
/// [`Intent::Nothing`].
pub fn command(
    intent: Intent,
    proposal_id: Uuid,
    facts: &OpenedFacts,
    today: NaiveDate,
) -> Result<Option<Command>, SagaRefusal> {
    let command = match intent {
        Intent::Nothing => return Ok(None),
        Intent::Reserve => {
            let split = facts
                .requested_split()
                .ok_or(SagaRefusal::UnsplittableRequest {
                    eligible: facts.eligible_cost_cents,
                    rate: facts.requested_rate_bp,
                })?;
            Command::Reserve {
                proposal_id,
                esf: split.esf_cents,
                land: split.land_cents,
                today,
            }
        }
        Intent::Commit { esf, land, terms } => Command::Commit {
            proposal_id,
            esf,
            land,
            terms: Some(*terms),
            today,
        },
        Intent::Release(reason) => Command::ReleaseReservation {
            proposal_id,
            reason,
            today,
        },
    };
    Ok(Some(command))
}

/// Decides a saga command on a fund: the command itself, except that a grant for a proposal the
/// fund has never heard of waits for its statement (refused `unknown_project`, which
/// [`release_refused`] turns into a retry while the review had a positive statement). The ledger
/// instances share the REVIEWS consumer, so one may book a grant before another has booked the
/// statement before it; committing then would skip the statement's reservation or waitlist place
/// and reserve past the waitlist (found by `buendel chaos`: positive statements left with
/// neither).
pub fn decide_on(
    fund: &crate::Fund,
    command: &Command,
) -> Result<Vec<buendel_contract::ledger::LedgerEvent>, crate::LedgerError> {
    use buendel_contract::Aggregate as _;
    if let Command::Commit { proposal_id, .. } = command {
        if fund.is_open() && fund.project(*proposal_id).is_none() {
            return Err(crate::LedgerError::UnknownProject {
                proposal_id: *proposal_id,
            });
        }
    }
    fund.decide(command)
}

/// Whether a review's history has a positive statement (so the fund should hear of it).
pub fn had_positive_statement(events: impl IntoIterator<Item = ReviewEvent>) -> bool {
    events.into_iter().any(
        |event| matches!(event, ReviewEvent::StatementIssued(s) if s.verdict == Verdict::Positive),
    )
}

/// The events of a review's history, in stream order, that come before the event `current` and
/// ask the ledger for something: what must be booked before it. A grant or a release that
/// overtook its statement (another ledger instance holds the statement, or was killed with it)
/// books these first, each under its own cause, so it need not wait for their redelivery; the
/// instance that holds one finds it booked (the same cause) and does nothing.
pub fn earlier_bookings(
    history: Vec<buendel_contract::Envelope<ReviewEvent>>,
    current: uuid::Uuid,
) -> Vec<buendel_contract::Envelope<ReviewEvent>> {
    history
        .into_iter()
        .take_while(|envelope| envelope.id != current)
        .filter(|envelope| intent(&envelope.event) != Intent::Nothing)
        .collect()
}

/// Whether a refused booking of this intent may be waiting for its statement.
pub fn may_wait_for_statement(intent: &Intent) -> bool {
    matches!(intent, Intent::Release(_) | Intent::Commit { .. })
}

/// The code of a refusal for a proposal the fund has never heard of.
pub const UNKNOWN_PROJECT: &str = "unknown_project";

/// Whether a release or a grant the fund refused with `code` is to be retried: one for a proposal
/// the fund does not know (or of a fund not open yet) whose review had a positive statement
/// arrived before that statement was booked (reordered across instances), so it waits for it; a
/// release whose review never had a positive statement asked for no money, so there is nothing
/// to release. `None` for any other refusal, which stands.
pub fn release_refused(code: &str, had_positive_statement: bool) -> Option<ReleaseWait> {
    use buendel_contract::DomainError as _;
    if code != crate::LedgerError::FundNotOpen.code() && code != UNKNOWN_PROJECT {
        return None;
    }
    Some(if had_positive_statement {
        ReleaseWait::ForTheStatement
    } else {
        ReleaseWait::NothingToRelease
    })
}

/// See [`release_refused`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseWait {
    /// Retry later: the positive statement is not booked yet.
    ForTheStatement,
    /// Done: no money was ever asked for.
    NothingToRelease,
}

#[cfg(test)]
mod tests {
    use super::*;
    use buendel_contract::review::{
        Closed, FundFacts, GrantRefused, StatementIssued, StatementMoney, Tally,
    };

    fn facts(eligible: i64, rate: u32, cap: u32) -> OpenedFacts {
        OpenedFacts {
            alliance_id: "non".into(),
            eligible_cost_cents: Cents(eligible),
            requested_rate_bp: BasisPoints(rate),
            max_esf_rate_bp: BasisPoints(cap),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 1).expect("valid date")
    }

    #[test]
    fn a_positive_statement_reserves_the_requested_grant_split_at_the_regions_cap() {
        let statement = ReviewEvent::StatementIssued(StatementIssued {
            money: None,
            proposal_id: Uuid::nil(),
            verdict: Verdict::Positive,
            conditions: vec![],
            tally: Tally::default(),
            quorum_met: true,
        });
        let command = command(
            intent(&statement),
            Uuid::nil(),
            &facts(30_000_000, 7_000, 6_000),
            today(),
        )
        .expect("splits");
        assert_eq!(
            command,
            Some(Command::Reserve {
                proposal_id: Uuid::nil(),
                esf: Cents(18_000_000),
                land: Cents(3_000_000),
                today: today(),
            })
        );
    }

    #[test]
    fn a_requested_rate_below_the_cap_is_all_esf() {
        let split = facts(1_000_001, 3_333, 6_000)
            .requested_split()
            .expect("splits");
        assert_eq!(split.esf_cents, split.grant_cents);
        assert_eq!(split.land_cents, Cents(0));
    }

    #[test]
    fn a_negative_statement_books_nothing() {
        let statement = ReviewEvent::StatementIssued(StatementIssued {
            money: None,
            proposal_id: Uuid::nil(),
            verdict: Verdict::Negative,
            conditions: vec![],
            tally: Tally::default(),
            quorum_met: true,
        });
        assert_eq!(intent(&statement), Intent::Nothing);
    }

    #[test]
    fn a_withdrawal_releases_as_withdrawn() {
        let closed = ReviewEvent::Closed(Closed {
            fund: None,
            proposal_id: Uuid::nil(),
            reason: "no longer needed".into(),
        });
        assert_eq!(intent(&closed), Intent::Release(ReleaseReason::Withdrawn));
    }

    #[test]
    fn the_fund_is_the_alliances_2021_2027_fund() {
        assert_eq!(facts(1, 1, 1).fund_id(), "non-2021-2027");
    }

    #[test]
    fn a_negative_amount_cannot_be_split() {
        let refused = command(
            Intent::Reserve,
            Uuid::nil(),
            &facts(-1, 7_000, 6_000),
            today(),
        );
        assert!(matches!(
            refused,
            Err(SagaRefusal::UnsplittableRequest { .. })
        ));
    }

    fn statement(verdict: Verdict, money: Option<StatementMoney>) -> ReviewEvent {
        ReviewEvent::StatementIssued(StatementIssued {
            money,
            proposal_id: Uuid::nil(),
            verdict,
            conditions: vec![],
            tally: Tally::default(),
            quorum_met: true,
        })
    }

    #[test]
    fn a_v1_event_carries_nothing_and_is_booked_with_the_reviews_facts() {
        assert_eq!(carried(&statement(Verdict::Positive, None), today()), None);
        let closed = ReviewEvent::Closed(Closed {
            fund: None,
            proposal_id: Uuid::nil(),
            reason: "withdrawn".into(),
        });
        assert_eq!(carried(&closed, today()), None);
    }

    #[test]
    fn a_negative_v2_statement_books_nothing() {
        let money = StatementMoney {
            fund: FundFacts::of("non"),
            requested_esf_cents: Cents(1),
            requested_land_cents: Cents(1),
        };
        assert_eq!(
            carried(&statement(Verdict::Negative, Some(money)), today()),
            None
        );
    }

    proptest::proptest! {
        /// Whatever the terms, a v2 event books exactly what its v1 twin books with the review's
        /// facts: the same fund, the same command.
        #[test]
        fn a_v2_event_books_what_its_v1_twin_books_with_the_reviews_facts(
            eligible in 1_i64..10_000_000_000,
            rate in 0_u32..=10_000,
            cap in 0_u32..=10_000,
            kind in 0_u8..4,
        ) {
            let facts = facts(eligible, rate, cap);
            let fund = FundFacts::of(&facts.alliance_id);
            let (v1, v2) = match kind {
                0 => {
                    let split = facts.requested_split();
                    proptest::prop_assume!(split.is_some());
                    let split = split.expect("assumed");
                    let money = StatementMoney {
                        fund: fund.clone(),
                        requested_esf_cents: split.esf_cents,
                        requested_land_cents: split.land_cents,
                    };
                    (statement(Verdict::Positive, None), statement(Verdict::Positive, Some(money)))
                }
                1 => {
                    let refused = |fund| ReviewEvent::GrantRefused(GrantRefused {
                        fund,
                        proposal_id: Uuid::nil(),
                        bank_reference: "NB-1".into(),
                        reason: "no".into(),
                    });
                    (refused(None), refused(Some(fund.clone())))
                }
                _ => {
                    let closed = |fund| ReviewEvent::Closed(Closed {
                        fund,
                        proposal_id: Uuid::nil(),
                        reason: "withdrawn".into(),
                    });
                    (closed(None), closed(Some(fund.clone())))
                }
            };
            let booked_v1 = command(intent(&v1), Uuid::nil(), &facts, today())
                .expect("splits")
                .map(|command| (facts.fund_id(), command));
            proptest::prop_assert_eq!(carried(&v2, today()), booked_v1);
            proptest::prop_assert_eq!(fund.fund_id, facts.fund_id());
        }
    }
}
