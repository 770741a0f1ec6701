//! Every tampering the issue lists, and every other check, each caught at the right first event.
//!
//! The sample ledger (see [`sample`]), by stream sequence: 1 NON allocated, 2 SON allocated,
//! 3 NON reserved p1, 4 NON committed p1, 5 SON reserved p2, 6 NON tranche NB-1, 7 NON declined p3,
//! 8 SON released p2, 9 NON tranche NB-2, 10 NON commitment released p1 and 11 NON reserved p3 (one
//! append), 12 NON recovery assessed, 13 NON repayment received.

use proptest::prelude::*;

use buendel_contract::ledger::{event_hash, DisbursementRecorded, LedgerEvent, Source};
use buendel_contract::Aggregate as _;

use super::*;
use crate::report::{Check, Failure};

fn id_at(ledger: &Ledger, sequence: u64) -> Uuid {
    envelope_of(&ledger.messages[(sequence - 1) as usize].bytes).id
}

fn hash_at(ledger: &Ledger, sequence: u64) -> String {
    envelope_of(&ledger.messages[(sequence - 1) as usize].bytes)
        .hash
        .expect("sealed")
}

fn first_failure(report: &Report) -> Failure {
    report
        .first_failure
        .clone()
        .unwrap_or_else(|| panic!("expected a failure: {}", crate::human(report)))
}

/// Asserts the fund, sequence, event id and check of the first failure.
fn assert_named(failure: &Failure, fund: &str, sequence: u64, event_id: Uuid, check: Check) {
    assert_eq!(
        (
            failure.fund_id.as_deref(),
            failure.sequence,
            failure.event_id,
            failure.check
        ),
        (Some(fund), sequence, Some(event_id), check),
        "{failure:?}"
    );
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).expect("utf8");
    assert!(text.contains(from), "{from} not in {text}");
    text.replacen(from, to, 1).into_bytes()
}

/// A budget raise decided on the fund's current state: a valid next event.
fn raise(ledger: &Ledger, fund_id: &str) -> LedgerEvent {
    let mut events = ledger
        .fund(fund_id)
        .decide(&Command::AdjustBudget {
            source: Source::Land,
            delta_cents: Cents(100),
            reason: "ministry letter".into(),
            today: day(2026, 12, 1),
        })
        .expect("accepted");
    events.remove(0)
}

#[test]
fn one_changed_amount_fails_the_hash_of_that_event() {
    let ledger = sample();
    let mut lines = ledger.lines();
    lines[5] = replace(&lines[5], "\"esf_cents\":1500000", "\"esf_cents\":1500001");
    let report = verify_lines(&lines);
    let failure = first_failure(&report);
    assert_named(&failure, NON, 6, id_at(&ledger, 6), Check::Hash);
    assert_eq!(failure.found, hash_at(&ledger, 6), "the stored hash");
    assert!(!report.ok);
}

#[test]
fn one_removed_event_is_a_gap_in_the_stream() {
    let ledger = sample();
    let mut messages = ledger.online();
    messages.remove(8);
    let failure = first_failure(&verify(&messages, Options::default()));
    assert_named(&failure, NON, 10, id_at(&ledger, 10), Check::StreamSequence);
    assert_eq!(failure.expected, "stream sequence 9");
}

#[test]
fn one_removed_line_of_a_file_breaks_the_next_link_of_its_fund() {
    let ledger = sample();
    let mut lines = ledger.lines();
    lines.remove(8);
    let failure = first_failure(&verify_lines(&lines));
    assert_named(&failure, NON, 9, id_at(&ledger, 10), Check::Prevhash);
    assert!(failure.expected.starts_with(&hash_at(&ledger, 7)));
    assert_eq!(failure.found, hash_at(&ledger, 9));
}

#[test]
fn two_swapped_events_break_the_link_where_the_later_one_now_stands() {
    let ledger = sample();
    let mut lines = ledger.lines();
    lines.swap(8, 9);
    let failure = first_failure(&verify_lines(&lines));
    assert_named(&failure, NON, 9, id_at(&ledger, 10), Check::Prevhash);
}

#[test]
fn a_recomputed_hash_on_an_altered_event_breaks_the_next_link() {
    let ledger = sample();
    let original = envelope_of(&ledger.messages[5].bytes);
    let LedgerEvent::DisbursementRecorded(mut paid) = original.event.clone() else {
        panic!("a tranche");
    };
    paid.paid.esf_cents = Cents(1_000_000);
    let altered = sealed(
        original.id,
        NON,
        original.sequence,
        original.causationid.as_deref().expect("cause"),
        LedgerEvent::DisbursementRecorded(paid).journaled(),
        original.prevhash.as_deref().expect("prevhash"),
    );
    let mut lines = ledger.lines();
    lines[5] = serde_json::to_vec(&altered).expect("json");
    let failure = first_failure(&verify_lines(&lines));
    assert_named(&failure, NON, 7, id_at(&ledger, 7), Check::Prevhash);
    assert!(failure.expected.starts_with(&altered.hash.expect("sealed")));
}

#[test]
fn an_event_appended_with_a_forged_prevhash_is_refused() {
    let mut ledger = sample();
    let event = raise(&ledger, NON);
    let fork = hash_at(&ledger, 12);
    let id = Uuid::from_u128(0xf0);
    let sequence = ledger.append(NON, id, "cmd-forged", event, Some(&fork));
    let failure = first_failure(&verify(&ledger.online(), Options::default()));
    assert_named(&failure, NON, sequence, id, Check::Prevhash);
    assert_eq!(failure.found, fork);
}

#[test]
fn a_duplicated_cause_is_refused_where_it_is_booked_again() {
    let mut ledger = sample();
    let event = raise(&ledger, NON);
    // The shell would derive the same id for the same cause: the cause check speaks first.
    let id = derived_event_id("cmd-3", NON, 0);
    let sequence = ledger.append(NON, id, "cmd-3", event, None);
    let failure = first_failure(&verify(&ledger.online(), Options::default()));
    assert_named(&failure, NON, sequence, id, Check::DuplicateCause);
    assert!(failure.expected.contains("sequence 3"), "{failure:?}");
}

#[test]
fn a_cause_booked_again_right_after_its_first_append_is_a_duplicate_too() {
    let mut ledger = sample();
    let event = raise(&ledger, NON);
    let id = derived_event_id("cmd-12", NON, 0);
    let sequence = ledger.append(NON, Uuid::from_u128(0xd0), "cmd-12", event.clone(), None);
    let clean = verify(&ledger.online(), Options::default());
    assert_named(
        &first_failure(&clean),
        NON,
        sequence,
        Uuid::from_u128(0xd0),
        Check::DuplicateCause,
    );

    let mut ledger = sample();
    let sequence = ledger.append(NON, id, "cmd-12", event, None);
    let failure = first_failure(&verify(&ledger.online(), Options::default()));
    assert_eq!(
        (failure.sequence, failure.check),
        (sequence, Check::DuplicateCause)
    );
}

#[test]
fn an_event_id_used_twice_is_refused() {
    let mut ledger = sample();
    let event = raise(&ledger, SON);
    let reused = id_at(&ledger, 3);
    let sequence = ledger.append(SON, reused, "cmd-new", event, None);
    let failure = first_failure(&verify(&ledger.online(), Options::default()));
    assert_named(&failure, SON, sequence, reused, Check::DuplicateEvent);
}

#[test]
fn a_sealed_overdraft_fails_an_invariant_of_the_fund() {
    let mut ledger = sample();
    let event = LedgerEvent::DisbursementRecorded(DisbursementRecorded {
        fund_id: NON.into(),
        proposal_id: p(1),
        payment_reference: "NB-FORGED".into(),
        paid: buendel_contract::ledger::Amounts::new(99_000_000, 0),
        value_date: day(2026, 12, 1),
        postings: Vec::new(),
    })
    .journaled();
    let id = Uuid::from_u128(0xbad);
    let sequence = ledger.append(NON, id, "cmd-forged", event, None);
    let failure = first_failure(&verify(&ledger.online(), Options::default()));
    assert_named(&failure, NON, sequence, id, Check::Invariant);
}

#[test]
fn postings_that_disagree_with_the_amounts_fail_the_entry_check() {
    let mut ledger = sample();
    let LedgerEvent::BudgetAdjusted(mut raised) = raise(&ledger, NON) else {
        panic!("an adjustment");
    };
    raised.postings[0].amount_cents = Cents(101);
    let id = Uuid::from_u128(0xe0);
    let sequence = ledger.append(
        NON,
        id,
        "cmd-forged",
        LedgerEvent::BudgetAdjusted(raised),
        None,
    );
    let failure = first_failure(&verify(&ledger.online(), Options::default()));
    assert_named(&failure, NON, sequence, id, Check::Entry);
}

#[test]
fn an_event_on_another_funds_subject_is_refused() {
    let ledger = sample();
    let mut messages = ledger.online();
    messages[5].1 = Some(format!("t.ledger.{SON}"));
    let failure = first_failure(&verify(&messages, Options::default()));
    assert_named(&failure, NON, 6, id_at(&ledger, 6), Check::Subject);
}

#[test]
fn a_float_is_refused() {
    let ledger = sample();
    let mut lines = ledger.lines();
    lines[5] = replace(
        &lines[5],
        "\"esf_cents\":1500000",
        "\"esf_cents\":1500000.0",
    );
    let failure = first_failure(&verify_lines(&lines));
    assert_named(&failure, NON, 6, id_at(&ledger, 6), Check::Float);
    assert!(
        failure.found.contains("/data/paid/esf_cents"),
        "{failure:?}"
    );
}

#[test]
fn a_member_the_contract_does_not_write_fails_the_schema_even_when_rehashed() {
    let ledger = sample();
    let mut value: serde_json::Value =
        serde_json::from_slice(&ledger.messages[5].bytes).expect("json");
    value["data"]["note"] = serde_json::json!("paid twice, do not tell");
    value["hash"] = serde_json::json!(event_hash(&value).expect("hash"));
    let mut lines = ledger.lines();
    lines[5] = serde_json::to_vec(&value).expect("json");
    let failure = first_failure(&verify_lines(&lines));
    assert_named(&failure, NON, 6, id_at(&ledger, 6), Check::Schema);
    assert!(failure.found.contains("/data/note"), "{failure:?}");
}

#[test]
fn an_unknown_event_type_fails_the_schema() {
    let ledger = sample();
    let mut value: serde_json::Value =
        serde_json::from_slice(&ledger.messages[5].bytes).expect("json");
    value["type"] = serde_json::json!("buendel.ledger.money_printed.v1");
    value["hash"] = serde_json::json!(event_hash(&value).expect("hash"));
    let mut lines = ledger.lines();
    lines[5] = serde_json::to_vec(&value).expect("json");
    let failure = first_failure(&verify_lines(&lines));
    assert_eq!((failure.sequence, failure.check), (6, Check::Schema));
}

#[test]
fn an_aggregate_sequence_out_of_step_is_refused() {
    let ledger = sample();
    let original = envelope_of(&ledger.messages[5].bytes);
    let skipped = sealed(
        original.id,
        NON,
        original.sequence + 1,
        "cmd-6",
        original.event,
        original.prevhash.as_deref().expect("prevhash"),
    );
    let mut lines = ledger.lines();
    lines[5] = serde_json::to_vec(&skipped).expect("json");
    let failure = first_failure(&verify_lines(&lines));
    assert_named(
        &failure,
        NON,
        6,
        id_at(&ledger, 6),
        Check::AggregateSequence,
    );
}

#[test]
fn an_event_without_a_cause_is_refused() {
    let ledger = sample();
    let original = envelope_of(&ledger.messages[5].bytes);
    let mut uncaused = original.clone();
    uncaused.causationid = None;
    buendel_contract::ledger::seal(&mut uncaused, original.prevhash.as_deref().expect("prev"))
        .expect("sealed");
    let mut lines = ledger.lines();
    lines[5] = serde_json::to_vec(&uncaused).expect("json");
    let failure = first_failure(&verify_lines(&lines));
    assert_named(&failure, NON, 6, id_at(&ledger, 6), Check::MissingCause);
}

#[test]
fn bytes_that_are_not_json_are_refused_with_the_subjects_fund() {
    let ledger = sample();
    let mut messages = ledger.online();
    messages[4].2.truncate(40);
    let failure = first_failure(&verify(&messages, Options::default()));
    assert_eq!(
        (failure.fund_id.as_deref(), failure.sequence, failure.check),
        (Some(SON), 5, Check::Json)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_changed_digit_is_caught_at_the_event_that_holds_it(
        line in 0_usize..13,
        pick in any::<prop::sample::Index>(),
        digit in 0_u8..10,
    ) {
        let ledger = sample();
        let mut lines = ledger.lines();
        let positions: Vec<usize> = lines[line]
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_ascii_digit())
            .map(|(i, _)| i)
            .collect();
        let at = positions[pick.index(positions.len())];
        let replacement = b'0' + digit;
        prop_assume!(lines[line][at] != replacement);
        lines[line][at] = replacement;
        let report = verify_lines(&lines);
        let failure = report.first_failure.expect("caught");
        prop_assert_eq!(failure.sequence, line as u64 + 1);
        prop_assert!(matches!(failure.check, Check::Hash | Check::Json), "{:?}", failure);
    }
}
