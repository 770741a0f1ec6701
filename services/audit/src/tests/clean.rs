//! A sound ledger verifies, with the figures the Fund aggregate itself computes.

use buendel_contract::ledger::event_hash;
use buendel_contract::Aggregate as _;
use buendel_ledger::domain::Fund;

use super::*;
use crate::report::{human, Check};

#[test]
fn a_clean_ledger_verifies_with_the_balances_of_the_fund_aggregate() {
    let ledger = sample();
    let report = verify(&ledger.online(), Options::default());
    assert!(report.ok, "{}", human(&report));
    assert_eq!(report.first_failure, None);
    assert_eq!(report.events, ledger.messages.len() as u64);
    assert_eq!(report.funds.len(), 2);
    for summary in &report.funds {
        let balances = ledger.fund(&summary.fund_id).balances();
        assert_eq!(summary.esf_plus, balances.esf_plus);
        assert_eq!(summary.land, balances.land);
        assert_eq!(summary.total, balances.total);
        assert!(summary.trial_balance_zero);
        assert_eq!(summary.final_hash, ledger.head(&summary.fund_id));
        assert_eq!(summary.balances_events, summary.events);
    }
    let non = report.fund(NON).expect("non");
    assert_eq!(non.first_sequence, 1);
    assert_eq!(non.last_sequence, ledger.messages.len() as u64);
    assert_eq!(non.total.allocated, Cents(234_000_000));
    assert_eq!(non.total.recovered, Cents(900_000));
    assert_eq!(non.total.repaid, Cents(900_000));
    assert_eq!(
        non.total.reserved,
        Cents(212_900_000),
        "p3 came off the waitlist"
    );
}

#[test]
fn one_append_may_book_several_events_under_one_cause() {
    let ledger = sample();
    let causes: Vec<String> = ledger
        .messages
        .iter()
        .map(|m| envelope_of(&m.bytes).causationid.expect("a cause"))
        .collect();
    assert!(
        causes.windows(2).any(|pair| pair[0] == pair[1]),
        "closing p1 serves the waitlist in the same append"
    );
    assert!(verify(&ledger.online(), Options::default()).ok);
}

#[test]
fn online_and_offline_replays_of_the_same_messages_agree() {
    let ledger = sample();
    let online = verify(&ledger.online(), Options::default());
    let offline = verify_lines(&ledger.lines());
    assert_eq!(online, offline);
}

#[test]
fn the_hash_recomputed_from_the_stored_bytes_is_the_contracts_event_hash() {
    let ledger = sample();
    for message in &ledger.messages {
        let value: serde_json::Value = serde_json::from_slice(&message.bytes).expect("json");
        let stored = value["hash"].as_str().expect("hash").to_owned();
        assert_eq!(event_hash(&value).expect("hash"), stored);
    }
}

#[test]
fn the_fast_path_accepts_what_the_shell_stores_exactly_as_the_full_path_does() {
    use crate::verifier::{inspect_fast, inspect_full};
    let ledger = sample();
    for message in &ledger.messages {
        let (sequence, subject) = (message.sequence, Some(message.subject.as_str()));
        let fast = inspect_fast(sequence, subject, &message.bytes).expect("the fast path");
        assert_eq!(fast, inspect_full(sequence, subject, &message.bytes));
    }
}

#[test]
fn bytes_another_writer_spaced_leave_the_fast_path_and_the_full_path_still_accepts_them() {
    use crate::verifier::{inspect, inspect_fast, inspect_full};
    let ledger = sample();
    let message = &ledger.messages[1];
    let value: serde_json::Value = serde_json::from_slice(&message.bytes).expect("json");
    let spaced = serde_json::to_vec_pretty(&value).expect("json");
    let subject = Some(message.subject.as_str());
    assert!(inspect_fast(message.sequence, subject, &spaced).is_none());
    let full = inspect_full(message.sequence, subject, &spaced);
    assert_eq!(inspect(message.sequence, subject, &spaced), full);
    assert_eq!(
        full,
        inspect_full(message.sequence, subject, &message.bytes)
    );
}

#[test]
fn as_of_a_middle_date_gives_the_balances_at_the_end_of_that_day() {
    let ledger = sample();
    let as_of = day(2025, 12, 31);
    let report = verify(
        &ledger.online(),
        Options {
            as_of: Some(as_of),
            ..Options::default()
        },
    );
    assert!(report.ok, "{}", human(&report));
    for summary in &report.funds {
        let folded = ledger
            .events
            .iter()
            .filter(|(_, e)| e.fund_id() == summary.fund_id && e.value_date() <= as_of)
            .fold(Fund::default(), |fund, (_, e)| fund.apply(e));
        let balances = folded.balances();
        assert_eq!(summary.balances_events, folded.entries());
        let included = ledger
            .events
            .iter()
            .filter(|(_, e)| e.fund_id() == summary.fund_id && e.value_date() <= as_of)
            .map(|(sequence, _)| *sequence)
            .next_back();
        assert_eq!(summary.balances_last_sequence, included);
        let head = included.map(|sequence| {
            envelope_of(&ledger.messages[(sequence - 1) as usize].bytes)
                .hash
                .expect("sealed")
        });
        assert_eq!(summary.balances_hash, head);
        assert_eq!(summary.total, balances.total);
        assert_eq!(summary.esf_plus, balances.esf_plus);
        assert!(summary.balances_events <= summary.events);
    }
    let non = report.fund(NON).expect("non");
    assert!(
        non.balances_events < non.events,
        "events after the date exist"
    );
    assert_eq!(
        non.total.disbursed,
        Cents(1_750_000),
        "only the first tranche"
    );
    assert_eq!(non.total.recovered, Cents::ZERO);
}

#[test]
fn one_fund_is_verified_alone_while_the_stream_is_checked_whole() {
    let ledger = sample();
    let options = Options {
        fund: Some(SON.into()),
        ..Options::default()
    };
    let report = verify(&ledger.online(), options.clone());
    assert!(report.ok);
    assert_eq!(report.funds.len(), 1);
    assert_eq!(report.events, 3);
    assert_eq!(report.messages, ledger.messages.len() as u64);
    let offline: Vec<_> = ledger
        .lines()
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| (i as u64 + 1, None, bytes))
        .collect();
    assert_eq!(verify(&offline, options.clone()), report);

    let mut gapped = ledger.online();
    let non_only = gapped
        .iter()
        .position(|(_, subject, _)| subject.as_deref() == Some("t.ledger.non-2021-2027"))
        .expect("a non event");
    gapped.remove(non_only);
    let report = verify(&gapped, options);
    let failure = report.first_failure.expect("a gap");
    assert_eq!(failure.check, Check::StreamSequence);
}

#[test]
fn until_seq_stops_the_replay_there() {
    let ledger = sample();
    let report = verify(
        &ledger.online(),
        Options {
            until_seq: Some(5),
            ..Options::default()
        },
    );
    assert!(report.ok);
    assert_eq!(report.last_sequence, Some(5));
    assert_eq!(report.events, 5);
}

#[test]
fn a_replay_from_the_start_must_begin_at_sequence_one() {
    let ledger = sample();
    let report = verify(&ledger.online()[1..], Options::default());
    let failure = report.first_failure.expect("the first event is missing");
    assert_eq!(
        (failure.check, failure.sequence),
        (Check::StreamSequence, 2)
    );
}

#[test]
fn a_replay_that_ends_before_the_streams_last_sequence_misses_an_event() {
    let ledger = sample();
    let mut verifier = Verifier::new(Options::default()).starting_at(1);
    for (sequence, subject, bytes) in ledger.online() {
        verifier.push(sequence, subject.as_deref(), &bytes);
    }
    let last = ledger.messages.len() as u64;
    assert!(verifier.finish_at(last).report.ok);

    let mut verifier = Verifier::new(Options::default()).starting_at(1);
    for (sequence, subject, bytes) in ledger.online() {
        verifier.push(sequence, subject.as_deref(), &bytes);
    }
    let report = verifier.finish_at(last + 1).report;
    let failure = report.first_failure.expect("the last one is missing");
    assert_eq!(
        (failure.check, failure.sequence),
        (Check::StreamSequence, last + 1)
    );
}

#[test]
fn the_human_summary_shows_balances_final_hashes_and_the_first_bad_event() {
    let ledger = sample();
    let report = verify(&ledger.online(), Options::default());
    let text = human(&report);
    assert!(text.starts_with("Ledger audit OK"), "{text}");
    assert!(text.contains(ledger.head(NON)));
    assert!(text.contains("2340000.00"), "{text}");
    assert!(text.contains("trial balance: zero"));

    let mut lines = ledger.lines();
    lines.swap(2, 3);
    let text = human(&verify_lines(&lines));
    assert!(text.starts_with("Ledger audit FAILED"), "{text}");
    assert!(text.contains("check:    prevhash"), "{text}");
}

#[test]
fn the_report_travels_as_json() {
    let report = verify(&sample().online(), Options::default());
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["ok"], true);
    assert_eq!(json["funds"][0]["fund_id"], NON);
    assert_eq!(json["funds"][0]["total"]["allocated"], 234_000_000);
    let back: Report = serde_json::from_value(json).expect("back");
    assert_eq!(back, report);
}
