//! Properties of the Review aggregate, checked against a model written independently of it.

use std::collections::{BTreeMap, BTreeSet};

use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::reference::RegionCategory;
use buendel_contract::review::{QuorumRule, ReviewEvent, Tally, Verdict, VoteChoice};
use buendel_contract::{Aggregate, DomainError};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use super::*;

/// One step of a random review: a vote (or vote change) or a recusal, by a partner index that may
/// be beyond the roster (an unknown partner).
#[derive(Debug, Clone)]
enum Step {
    Vote(usize, VoteChoice),
    Recuse(usize),
}

fn choice() -> impl Strategy<Value = VoteChoice> {
    prop_oneof![
        Just(VoteChoice::Yes),
        Just(VoteChoice::No),
        Just(VoteChoice::Abstain)
    ]
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![Just(Verdict::Positive), Just(Verdict::Negative)]
}

fn region() -> impl Strategy<Value = RegionCategory> {
    prop_oneof![
        Just(RegionCategory::Transition),
        Just(RegionCategory::MoreDeveloped)
    ]
}

/// A roster size and steps by partners `0..size + 2` (the last two are unknown).
fn review_steps() -> impl Strategy<Value = (usize, Vec<Step>)> {
    (1usize..=30).prop_flat_map(|size| {
        let step = prop_oneof![
            5 => (0..size + 2, choice()).prop_map(|(i, c)| Step::Vote(i, c)),
            1 => (0..size + 2).prop_map(Step::Recuse),
        ];
        (Just(size), vec(step, 0..120))
    })
}

/// The model: last vote per partner, and the recused partners.
#[derive(Default)]
struct Model {
    votes: BTreeMap<usize, VoteChoice>,
    recused: BTreeSet<usize>,
}

impl Model {
    /// What a correct review counts: the last vote of every partner not recused.
    fn tally(&self, size: usize) -> Tally {
        let counted = |choice| {
            self.votes
                .iter()
                .filter(|(p, c)| !self.recused.contains(p) && **c == choice)
                .count()
        };
        let as_u32 = |n: usize| u32::try_from(n).expect("small");
        Tally {
            yes: as_u32(counted(VoteChoice::Yes)),
            no: as_u32(counted(VoteChoice::No)),
            abstain: as_u32(counted(VoteChoice::Abstain)),
            recused: as_u32(self.recused.len()),
            eligible: as_u32(size - self.recused.len()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_statement_is_issued_only_with_its_quorum_and_its_tally_is_the_last_vote_of_every_partner_not_recused(
        (size, steps) in review_steps(),
        min_participation_bp in 1u32..=10_000,
        verdict in verdict(),
    ) {
        let quorum = QuorumRule { min_participation_bp: BasisPoints(min_participation_bp) };
        let mut state = given::<Review>(&history(&[open_with(roster(size), RegionCategory::Transition, quorum)]));
        let mut model = Model::default();
        for step in &steps {
            let (command, partner) = match step {
                Step::Vote(i, c) => (vote(&format!("p{i}"), *c), *i),
                Step::Recuse(i) => (recuse(&format!("p{i}")), *i),
            };
            let expected = if partner >= size {
                Err("unknown_partner")
            } else {
                match step {
                    Step::Vote(..) if model.recused.contains(&partner) => Err("partner_recused"),
                    Step::Recuse(_) if model.recused.contains(&partner) => Err("already_recused"),
                    Step::Vote(..) | Step::Recuse(_) => Ok(()),
                }
            };
            match state.decide(&command) {
                Ok(events) => {
                    prop_assert_eq!(expected, Ok(()));
                    for event in &events {
                        state = state.apply(event);
                    }
                    match step {
                        Step::Vote(i, c) => { model.votes.insert(*i, *c); }
                        Step::Recuse(i) => { model.recused.insert(*i); }
                    }
                }
                Err(error) => prop_assert_eq!(expected, Err(error.code())),
            }
        }

        let want = model.tally(size);
        let participants = u64::from(want.yes + want.no + want.abstain);
        let quorum_met = want.eligible > 0
            && participants * 10_000 >= u64::from(want.eligible) * u64::from(min_participation_bp);
        let allowed = quorum_met && (verdict == Verdict::Negative || want.yes > want.no);
        match state.decide(&statement(verdict)) {
            Ok(events) => {
                prop_assert!(allowed, "issued without quorum/majority: {:?}", want);
                let [ReviewEvent::StatementIssued(issued)] = events.as_slice() else {
                    return Err(TestCaseError::fail("not one statement"));
                };
                prop_assert_eq!(issued.tally, want);
                prop_assert!(issued.quorum_met);
            }
            Err(error) => {
                prop_assert!(!allowed, "refused with quorum and majority: {}", error);
                let code = if quorum_met { "no_majority" } else { "quorum_not_met" };
                prop_assert_eq!(error.code(), code);
            }
        }
    }

    #[test]
    fn a_decided_grant_always_sums_to_the_grant_by_the_one_rounding_rule_and_obeys_the_caps(
        region in region(),
        eligible in 1i64..=60_000_000,
        total in 0u32..=8_000,
        esf in 0u32..=7_000,
        esf_delta in prop_oneof![3 => Just(0i64), 1 => -2i64..=2],
        land_delta in prop_oneof![3 => Just(0i64), 1 => -2i64..=2],
        amendment in option::of("NB-[0-9]{4}/Ä[1-9]"),
    ) {
        let mut commands = positive();
        commands[0] = open_with(roster(5), region, QuorumRule::default());
        let state = given::<Review>(&history(&commands));
        // The expected split, computed here without `Split`.
        let grant_cents = i64::try_from(i128::from(eligible) * i128::from(total) / 10_000).expect("fits");
        let esf_share = i64::try_from(i128::from(eligible) * i128::from(esf) / 10_000).expect("fits");
        let command = Command::RecordGrant {
            bank_reference: "NB-2025-0042".into(),
            eligible_cost_cents: Cents(eligible),
            total_rate_bp: BasisPoints(total),
            esf_rate_bp: BasisPoints(esf),
            esf_cents: Cents(esf_share + esf_delta),
            land_cents: Cents(grant_cents - esf_share + land_delta),
            period_from: date(2025, 1, 1),
            period_to: date(2027, 12, 31),
            amendment_reference: amendment.clone(),
        };
        let esf_cap = match region {
            RegionCategory::Transition => 6_000,
            RegionCategory::MoreDeveloped => 4_000,
        };
        let valid = total <= 7_000
            && esf <= esf_cap
            && esf <= total
            && esf_delta == 0
            && land_delta == 0
            && (eligible <= SCREENED.0 || amendment.is_some());
        match state.decide(&command) {
            Ok(events) => {
                let [ReviewEvent::GrantDecided(granted)] = events.as_slice() else {
                    return Err(TestCaseError::fail("not one grant"));
                };
                prop_assert!(valid, "accepted an invalid grant: {:?}", granted);
                prop_assert_eq!(granted.esf_cents.0 + granted.land_cents.0, grant_cents);
                prop_assert!(granted.total_rate_bp.0 <= 7_000);
                prop_assert!(granted.esf_rate_bp.0 <= esf_cap);
                prop_assert!(granted.esf_rate_bp <= granted.total_rate_bp);
                prop_assert!(granted.land_cents.0 >= 0 && granted.esf_cents.0 >= 0);
                prop_assert_eq!(granted.amendment.is_some(), eligible > SCREENED.0);
            }
            Err(error) => prop_assert!(!valid, "refused a valid grant: {}", error),
        }
    }
}
