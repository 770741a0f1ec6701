//! The approval's policy, pure: what a proposal event asks of its review.
//!
//! | proposal event | review |
//! |---|---|
//! | `screened`, passed, v2 | open with the alliance and terms it carries (or take them as a revision) |
//! | `screened`, passed, v1 | the same, with the terms of the proposal's history before it |
//! | `screened`, failed | close (a revision that failed; a first screening opened nothing) |
//! | `withdrawn` | close with the applicant's reason |
//! | `submitted`, `revised`, `review_recorded` | nothing |

use buendel_contract::proposal::{ProposalEvent, Terms};

/// Why a review is closed when a revision fails screening.
pub const SCREENED_OUT_REASON: &str = "the revised proposal did not pass screening";

/// What a proposal event asks of its review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewIntent {
    /// Nothing.
    Nothing,
    /// Open the review with these facts (or, if it is open, go on with these terms).
    Open {
        /// The alliance the proposal is submitted to.
        alliance_id: String,
        /// The terms as screened.
        terms: Terms,
    },
    /// Open it with the terms of the proposal's history up to this (v1) screening.
    OpenFromHistory,
    /// Close the review, if one is open.
    Close {
        /// Why.
        reason: String,
    },
}

/// The intent of one proposal event.
pub fn on_proposal_event(event: &ProposalEvent) -> ReviewIntent {
    match event {
        ProposalEvent::Screened(screened) if !screened.passed => ReviewIntent::Close {
            reason: SCREENED_OUT_REASON.to_owned(),
        },
        ProposalEvent::Screened(screened) => match &screened.subject {
            Some(subject) => ReviewIntent::Open {
                alliance_id: subject.alliance_id.clone(),
                terms: subject.terms.clone(),
            },
            None => ReviewIntent::OpenFromHistory,
        },
        ProposalEvent::Withdrawn(withdrawn) => ReviewIntent::Close {
            reason: withdrawn.reason.clone(),
        },
        ProposalEvent::Submitted(_)
        | ProposalEvent::Revised(_)
        | ProposalEvent::ReviewRecorded(_) => ReviewIntent::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use buendel_contract::money::{BasisPoints, Cents};
    use buendel_contract::proposal::{ProjectType, Screened, ScreenedSubject, Withdrawn};
    use chrono::NaiveDate;
    use uuid::Uuid;

    use super::*;

    fn terms() -> Terms {
        Terms {
            title: "t".into(),
            summary: "s".into(),
            project_type: ProjectType::Structure,
            focus_areas: vec![],
            districts: vec![],
            planned_start: NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
            duration_months: 24,
            eligible_cost_cents: Cents(30_000_000),
            requested_rate_bp: BasisPoints(7_000),
        }
    }

    fn screened(passed: bool, subject: Option<ScreenedSubject>) -> ProposalEvent {
        ProposalEvent::Screened(Screened {
            proposal_id: Uuid::nil(),
            passed,
            rules_version: "v".into(),
            results: vec![],
            subject,
        })
    }

    #[test]
    fn a_passed_v2_screening_opens_with_the_facts_it_carries() {
        let subject = ScreenedSubject {
            alliance_id: "non".into(),
            terms: terms(),
        };
        assert_eq!(
            on_proposal_event(&screened(true, Some(subject))),
            ReviewIntent::Open {
                alliance_id: "non".into(),
                terms: terms()
            }
        );
    }

    #[test]
    fn a_passed_v1_screening_opens_from_the_history() {
        assert_eq!(
            on_proposal_event(&screened(true, None)),
            ReviewIntent::OpenFromHistory
        );
    }

    #[test]
    fn a_failed_screening_and_a_withdrawal_close() {
        assert_eq!(
            on_proposal_event(&screened(false, None)),
            ReviewIntent::Close {
                reason: SCREENED_OUT_REASON.into()
            }
        );
        let withdrawn = ProposalEvent::Withdrawn(Withdrawn {
            proposal_id: Uuid::nil(),
            reason: "no staff".into(),
        });
        assert_eq!(
            on_proposal_event(&withdrawn),
            ReviewIntent::Close {
                reason: "no staff".into()
            }
        );
    }
}
