//! The statuses the read side shows for a proposal, and the one rule that combines them.
//!
//! Three streams each say where a proposal stands, and each is projected on its own:
//!
//! - PROPOSALS: [`ProposalStatus`] (`proposals.status`);
//! - REVIEWS: [`ReviewStatus`] (`proposal_reviews.review_status`);
//! - LEDGER: [`ProjectStatus`] (`proposal_money.status`), set by [`LedgerEvent::project_change`].
//!
//! [`combined_status`] is the status the API shows (and filters and counts by). It is total over
//! every combination, so it does not matter which projection ran first. The rule, in this order
//! (the first that applies wins):
//!
//! 1. **`withdrawn`** if the proposal is withdrawn, its review is not `granted` and no money is
//!    committed to it (ledger not `committed`/`closed`): a withdrawal wins over every state before
//!    the grant;
//! 2. **`refused`** if the bank refused the grant;
//! 3. else, once the ledger has a say, **the ledger's status**: `waitlisted`, **`funds_reserved`**
//!    (ledger `reserved`), **`granted`** (ledger `committed`), **`closed`**. A `released`
//!    reservation (or no ledger status) leaves the decision to the next step;
//! 4. else **the review's status**, if it has one beyond `in_review` (`statement_positive`,
//!    `statement_negative`, `granted`);
//! 5. else **the proposal's own status**.
//!
//! A store that filters by the combined status in its own language asks [`CombinedStatus::inputs`]
//! for every combination that yields it, rather than restating the rule.
//!
//! [`LedgerEvent::project_change`]: crate::ledger::LedgerEvent::project_change

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::ledger::ProjectStatus;

/// A status string that is none of its kind's statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is no {what}")]
pub struct UnknownStatus {
    /// Which kind of status was expected, e.g. `proposal status`.
    pub what: &'static str,
    /// What was found.
    pub value: String,
}

/// Defines a status enum with its wire names, `ALL`, `as_str`, `parse` and `Display`.
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $($(#[$vmeta:meta])* $variant:ident => $wire:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every status.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// The status of a wire name.
            pub fn parse(name: &str) -> Result<$name, UnknownStatus> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|status| status.as_str() == name)
                    .ok_or_else(|| UnknownStatus {
                        what: $what,
                        value: name.to_owned(),
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum! {
    /// Where a proposal stands by its own events (PROPOSALS).
    ProposalStatus, "proposal status" {
        /// Accepted at intake (or revised), waiting for screening.
        Submitted => "submitted",
        /// Screened, and an `error` rule failed.
        ScreeningFailed => "screening_failed",
        /// Screened and passed: the alliance reviews it.
        InReview => "in_review",
        /// Withdrawn by the applicant.
        Withdrawn => "withdrawn",
    }
}

status_enum! {
    /// Where a proposal's review stands (REVIEWS).
    ReviewStatus, "review status" {
        /// Opened: the partners are voting.
        InReview => "in_review",
        /// The alliance issued a positive statement.
        StatementPositive => "statement_positive",
        /// The alliance issued a negative statement.
        StatementNegative => "statement_negative",
        /// The bank granted the project.
        Granted => "granted",
        /// The bank refused the grant.
        Refused => "refused",
    }
}

status_enum! {
    /// The one status the API shows for a proposal: [`combined_status`] of the three.
    CombinedStatus, "combined status" {
        /// Waiting for screening.
        Submitted => "submitted",
        /// An `error` rule of the screening failed.
        ScreeningFailed => "screening_failed",
        /// Screened and passed; the alliance reviews it.
        InReview => "in_review",
        /// The alliance's statement is positive; the ledger has not booked it yet.
        StatementPositive => "statement_positive",
        /// The alliance's statement is negative.
        StatementNegative => "statement_negative",
        /// The reservation was declined; it waits for money, first come first served.
        Waitlisted => "waitlisted",
        /// Money is held; the bank has not granted yet.
        FundsReserved => "funds_reserved",
        /// The bank granted (committed in the fund, or not yet booked by the ledger).
        Granted => "granted",
        /// The project was closed; what was not paid was freed.
        Closed => "closed",
        /// The bank refused the grant.
        Refused => "refused",
        /// Withdrawn by the applicant before the grant.
        Withdrawn => "withdrawn",
    }
}

/// What each of the three streams says about one proposal: the input of [`combined_status`].
/// `None` where that stream has said nothing yet (no review row, no ledger row or no status in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusInputs {
    /// From PROPOSALS.
    pub proposal: ProposalStatus,
    /// From REVIEWS.
    pub review: Option<ReviewStatus>,
    /// From LEDGER.
    pub money: Option<ProjectStatus>,
}

impl StatusInputs {
    /// Every combination there is (4 × 6 × 6).
    pub fn all() -> impl Iterator<Item = StatusInputs> {
        let reviews = || std::iter::once(None).chain(ReviewStatus::ALL.iter().copied().map(Some));
        let moneys = || std::iter::once(None).chain(ProjectStatus::ALL.into_iter().map(Some));
        ProposalStatus::ALL
            .iter()
            .copied()
            .flat_map(move |proposal| {
                reviews().flat_map(move |review| {
                    moneys().map(move |money| StatusInputs {
                        proposal,
                        review,
                        money,
                    })
                })
            })
    }

    /// The combined status of these inputs.
    pub fn combined(self) -> CombinedStatus {
        combined_status(self.proposal, self.review, self.money)
    }

    /// The inputs from their wire names, as the read models store them.
    pub fn parse(
        proposal: &str,
        review: Option<&str>,
        money: Option<&str>,
    ) -> Result<StatusInputs, UnknownStatus> {
        let money = money
            .map(|name| {
                ProjectStatus::parse(name).ok_or_else(|| UnknownStatus {
                    what: "project status",
                    value: name.to_owned(),
                })
            })
            .transpose()?;
        Ok(StatusInputs {
            proposal: ProposalStatus::parse(proposal)?,
            review: review.map(ReviewStatus::parse).transpose()?,
            money,
        })
    }
}

/// The combined status of a proposal (see the module docs for the rule). Total: every
/// combination has exactly one.
pub fn combined_status(
    proposal: ProposalStatus,
    review: Option<ReviewStatus>,
    money: Option<ProjectStatus>,
) -> CombinedStatus {
    let money_bound = matches!(
        money,
        Some(ProjectStatus::Committed | ProjectStatus::Closed)
    );
    if proposal == ProposalStatus::Withdrawn
        && review != Some(ReviewStatus::Granted)
        && !money_bound
    {
        return CombinedStatus::Withdrawn;
    }
    if review == Some(ReviewStatus::Refused) {
        return CombinedStatus::Refused;
    }
    match money {
        Some(ProjectStatus::Waitlisted) => return CombinedStatus::Waitlisted,
        Some(ProjectStatus::Reserved) => return CombinedStatus::FundsReserved,
        Some(ProjectStatus::Committed) => return CombinedStatus::Granted,
        Some(ProjectStatus::Closed) => return CombinedStatus::Closed,
        Some(ProjectStatus::Released) | None => {}
    }
    match review {
        Some(ReviewStatus::StatementPositive) => return CombinedStatus::StatementPositive,
        Some(ReviewStatus::StatementNegative) => return CombinedStatus::StatementNegative,
        Some(ReviewStatus::Granted) => return CombinedStatus::Granted,
        Some(ReviewStatus::Refused) => return CombinedStatus::Refused,
        Some(ReviewStatus::InReview) | None => {}
    }
    match proposal {
        ProposalStatus::Submitted => CombinedStatus::Submitted,
        ProposalStatus::ScreeningFailed => CombinedStatus::ScreeningFailed,
        ProposalStatus::InReview => CombinedStatus::InReview,
        ProposalStatus::Withdrawn => CombinedStatus::Withdrawn,
    }
}

impl CombinedStatus {
    /// Every combination of inputs whose combined status this is: how a store filters by the
    /// combined status without a rule of its own.
    pub fn inputs(self) -> Vec<StatusInputs> {
        StatusInputs::all()
            .filter(|inputs| inputs.combined() == self)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    use CombinedStatus as C;
    use ProjectStatus as M;
    use ProposalStatus as P;
    use ReviewStatus as R;

    /// Given the three statuses, when they are combined, then the result is `expected`.
    fn given(
        proposal: ProposalStatus,
        review: Option<ReviewStatus>,
        money: Option<ProjectStatus>,
    ) -> CombinedStatus {
        combined_status(proposal, review, money)
    }

    #[test]
    fn a_proposal_without_review_or_money_shows_its_own_status() {
        assert_eq!(given(P::Submitted, None, None), C::Submitted);
        assert_eq!(given(P::ScreeningFailed, None, None), C::ScreeningFailed);
        assert_eq!(given(P::InReview, None, None), C::InReview);
        assert_eq!(given(P::Withdrawn, None, None), C::Withdrawn);
    }

    #[test]
    fn a_review_in_progress_leaves_the_proposals_status() {
        assert_eq!(given(P::InReview, Some(R::InReview), None), C::InReview);
    }

    #[test]
    fn a_statement_shows_until_the_ledger_books_the_proposal() {
        assert_eq!(
            given(P::InReview, Some(R::StatementPositive), None),
            C::StatementPositive
        );
        assert_eq!(
            given(P::InReview, Some(R::StatementNegative), None),
            C::StatementNegative
        );
    }

    #[test]
    fn once_the_ledger_has_a_status_it_decides() {
        let positive = Some(R::StatementPositive);
        assert_eq!(
            given(P::InReview, positive, Some(M::Waitlisted)),
            C::Waitlisted
        );
        assert_eq!(
            given(P::InReview, positive, Some(M::Reserved)),
            C::FundsReserved
        );
        assert_eq!(
            given(P::InReview, Some(R::Granted), Some(M::Committed)),
            C::Granted
        );
        assert_eq!(
            given(P::InReview, Some(R::Granted), Some(M::Closed)),
            C::Closed
        );
    }

    #[test]
    fn a_released_reservation_leaves_the_decision_to_the_review() {
        assert_eq!(
            given(P::InReview, Some(R::StatementPositive), Some(M::Released)),
            C::StatementPositive
        );
    }

    #[test]
    fn a_bank_grant_the_ledger_has_not_booked_shows_as_granted() {
        assert_eq!(given(P::InReview, Some(R::Granted), None), C::Granted);
    }

    #[test]
    fn a_refusal_wins_over_the_ledgers_reservation() {
        assert_eq!(
            given(P::InReview, Some(R::Refused), Some(M::Reserved)),
            C::Refused
        );
        assert_eq!(
            given(P::InReview, Some(R::Refused), Some(M::Released)),
            C::Refused
        );
    }

    #[test]
    fn a_withdrawal_wins_over_everything_before_the_grant() {
        for review in [
            None,
            Some(R::InReview),
            Some(R::StatementPositive),
            Some(R::Refused),
        ] {
            for money in [
                None,
                Some(M::Waitlisted),
                Some(M::Reserved),
                Some(M::Released),
            ] {
                assert_eq!(
                    given(P::Withdrawn, review, money),
                    C::Withdrawn,
                    "{review:?} {money:?}"
                );
            }
        }
    }

    #[test]
    fn a_withdrawal_after_the_grant_does_not_undo_it() {
        assert_eq!(given(P::Withdrawn, Some(R::Granted), None), C::Granted);
        assert_eq!(
            given(P::Withdrawn, Some(R::Granted), Some(M::Reserved)),
            C::FundsReserved
        );
        assert_eq!(
            given(P::Withdrawn, Some(R::StatementPositive), Some(M::Committed)),
            C::Granted
        );
        assert_eq!(
            given(P::Withdrawn, Some(R::Granted), Some(M::Closed)),
            C::Closed
        );
    }

    #[test]
    fn every_combined_status_is_reached_and_the_inputs_partition_every_combination() {
        let all: Vec<StatusInputs> = StatusInputs::all().collect();
        assert_eq!(all.len(), 4 * 6 * 6);
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), all.len());
        let mut covered = 0;
        for status in C::ALL {
            let inputs = status.inputs();
            assert!(!inputs.is_empty(), "{status} is never reached");
            assert!(inputs.iter().all(|i| i.combined() == *status));
            covered += inputs.len();
        }
        assert_eq!(covered, all.len());
    }

    #[test]
    fn wire_names_parse_back_and_unknown_ones_are_refused() {
        for status in C::ALL {
            assert_eq!(C::parse(status.as_str()), Ok(*status));
            assert_eq!(
                serde_json::to_value(status).expect("json"),
                serde_json::json!(status.as_str())
            );
        }
        let inputs = StatusInputs::parse("withdrawn", Some("granted"), Some("closed"));
        assert_eq!(inputs.map(StatusInputs::combined), Ok(C::Closed));
        assert!(StatusInputs::parse("granted", None, None).is_err());
        assert!(StatusInputs::parse("submitted", Some("closed"), None).is_err());
        assert!(StatusInputs::parse("submitted", None, Some("granted")).is_err());
    }

    fn any_inputs() -> impl Strategy<Value = StatusInputs> {
        let proposal = proptest::sample::select(P::ALL.to_vec());
        let review = proptest::option::of(proptest::sample::select(R::ALL.to_vec()));
        let money = proptest::option::of(proptest::sample::select(M::ALL.to_vec()));
        (proposal, review, money).prop_map(|(proposal, review, money)| StatusInputs {
            proposal,
            review,
            money,
        })
    }

    proptest! {
        #[test]
        fn the_combined_status_is_total_and_found_again_among_its_inputs(inputs in any_inputs()) {
            let status = inputs.combined();
            prop_assert!(status.inputs().contains(&inputs));
        }

        #[test]
        fn a_refusal_shows_unless_the_proposal_was_withdrawn_before_money_was_bound(
            inputs in any_inputs()
        ) {
            let bound = matches!(inputs.money, Some(M::Committed | M::Closed));
            if inputs.review == Some(R::Refused) {
                let expected = if inputs.proposal == P::Withdrawn && !bound {
                    C::Withdrawn
                } else {
                    C::Refused
                };
                prop_assert_eq!(inputs.combined(), expected);
            }
        }

        #[test]
        fn money_bound_to_a_project_is_never_shown_as_withdrawn(inputs in any_inputs()) {
            if matches!(inputs.money, Some(M::Committed | M::Closed)) {
                prop_assert!(matches!(inputs.combined(), C::Granted | C::Closed | C::Refused));
            }
        }
    }
}
