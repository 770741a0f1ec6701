//! Group commit decides like one by one: the commands of a fund cut into groups of any sizes and
//! decided with `plan_group` (each against the state the ones before it left, as the ledger
//! service's group commit does before appending a group as one batch) give the same events (ids,
//! data, versions, hash chain), the same answers (appended, duplicate, refused with its code,
//! unchanged) and the same fund as deciding them one at a time; retries of a command id inside a
//! group and across groups are answered as duplicates with the first one's events.

use proptest::prelude::*;

use buendel_contract::envelope::Envelope;
use buendel_contract::ledger::{seal, LedgerEvent, GENESIS_HASH};
use buendel_contract::{Cents, DomainError, Meta};
use buendel_runtime::repository::{plan_group, Chain, GroupedCommand, Loaded, Planned};

use super::props::{command, op};
use super::*;

/// One answer, comparable across the two ways: the event ids, or the refusal's code.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Appended(Vec<uuid::Uuid>),
    Duplicate(Vec<uuid::Uuid>),
    Refused(&'static str),
    Unchanged,
}

fn meta(serial: usize) -> Meta {
    Meta {
        source: "buendel-ledger".into(),
        time: chrono::DateTime::from_timestamp(1_767_225_600 + serial as i64, 0)
            .unwrap_or_default(),
        correlation_id: None,
        causation_id: None,
        actor: "bank".into(),
    }
}

/// Decides `commands` in groups of the given sizes (cycled), folding each group's events in
/// with increasing stream sequences, as the repository does after a batch is stored.
fn decide_in_groups(
    commands: &[(String, Meta, Command)],
    sizes: &[usize],
) -> (Loaded<Fund>, Vec<Envelope<LedgerEvent>>, Vec<Answer>) {
    let chain = Chain {
        genesis: GENESIS_HASH,
        seal,
    };
    let mut loaded = Loaded::<Fund>::default();
    let mut events = Vec::new();
    let mut answers: Vec<Answer> = Vec::new();
    let mut next = 0;
    let mut size = sizes.iter().cycle();
    while next < commands.len() {
        let n = (*size.next().unwrap_or(&1))
            .max(1)
            .min(commands.len() - next);
        let group: Vec<GroupedCommand<'_, Fund>> = commands[next..next + n]
            .iter()
            .map(|(cause, meta, command)| (cause.as_str(), meta, command))
            .collect();
        let decided = plan_group(Some(&chain), "buendel-ledger", FUND, &loaded, &group)
            .expect("the events seal");
        let first_answer = answers.len();
        let first_event = events.len();
        for planned in decided.plan {
            let answer = match planned {
                Planned::Append(envelopes) => {
                    let ids = envelopes.iter().map(|e| e.id).collect();
                    events.extend(envelopes);
                    Answer::Appended(ids)
                }
                Planned::Duplicate(sequences) => Answer::Duplicate(
                    sequences
                        .iter()
                        .map(|s| events[usize::try_from(*s - 1).expect("small")].id)
                        .collect(),
                ),
                Planned::DuplicateOf(index) => match &answers[first_answer + index] {
                    Answer::Appended(ids) => Answer::Duplicate(ids.clone()),
                    other => other.clone(),
                },
                Planned::Refused(error) => Answer::Refused(error.code()),
                Planned::Unchanged => Answer::Unchanged,
            };
            answers.push(answer);
        }
        // The group's state is taken as it was planned; nothing is applied again.
        let last = loaded.last_sequence;
        if let Some(state) = decided.state {
            loaded.take_group(state, events[first_event..].iter().zip(last + 1..));
        } else {
            assert_eq!(
                events.len(),
                first_event,
                "events without a state after them"
            );
        }
        next += n;
    }
    (loaded, events, answers)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_grouping_of_a_funds_commands_decides_exactly_as_one_by_one(
        esf in 1i64..3_000,
        land in 0i64..800,
        ops in prop::collection::vec((op(), 0u64..6, 0u8..8), 1..60),
        sizes in prop::collection::vec(1usize..12, 1..6),
    ) {
        // Given a fund's commands, made one by one against the fund as it stands (as a client
        // would), some of them retries of an earlier command id
        let start = day(2026, 1, 1);
        let mut state = Fund::default();
        let open = Command::AllocateBudget {
            fund_id: FUND.into(),
            esf: Cents(esf),
            land: Cents(land),
            commit_deadline: day(2026, 6, 30),
            today: start,
        };
        let mut commands: Vec<(String, Meta, Command)> = vec![("open".into(), meta(0), open)];
        state = state.decide(&commands[0].2).map_or(state.clone(), |events| {
            events.iter().fold(state.clone(), |s, e| s.apply(e))
        });
        let mut date = start;
        for (serial, (op, days, retry)) in ops.iter().enumerate() {
            date = date + chrono::Days::new(*days);
            if *retry == 0 && commands.len() > 1 {
                // A retry: the same id and command as one sent before.
                let again = commands[commands.len() - 1 - serial % (commands.len() - 1)].clone();
                commands.push(again);
                continue;
            }
            let command = command(&state, op, date, serial);
            if let Ok(events) = state.decide(&command) {
                state = events.iter().fold(state.clone(), |s, e| s.apply(e));
            }
            commands.push((format!("cmd-{serial}"), meta(serial + 1), command));
        }
        // When they are decided one by one and in groups of any sizes
        let (single, single_events, single_answers) = decide_in_groups(&commands, &[1]);
        let (grouped, grouped_events, grouped_answers) = decide_in_groups(&commands, &sizes);
        // Then the answers, the events (ids, data, versions, hash chain) and the fund are the same
        prop_assert_eq!(&grouped_answers, &single_answers);
        prop_assert_eq!(grouped_events.len(), single_events.len());
        for (a, b) in grouped_events.iter().zip(&single_events) {
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(grouped.version, single.version);
        prop_assert_eq!(&grouped.last_hash, &single.last_hash);
        prop_assert_eq!(grouped.state.balances(), single.state.balances());
        prop_assert_eq!(grouped.state.check_invariants(), Ok(()));
        // And one by one is the plain fold of decide and apply (no retries counted twice)
        let mut plain = Fund::default();
        let mut seen = std::collections::HashSet::new();
        for (cause, _, command) in &commands {
            if !seen.insert(cause.clone()) {
                continue;
            }
            if let Ok(events) = plain.decide(command) {
                plain = events.iter().fold(plain, |s, e| s.apply(e));
            }
        }
        prop_assert_eq!(plain.balances(), single.state.balances());
    }
}
