//! A decision cut short: the event that frees money is stored, the reservations it allows for the
//! waitlist are not. Every event is sound on its own, so only the check at the end of a decision
//! (`waitlist_not_served`) finds it, naming the decision's last stored event; the same history
//! with the decision whole verifies.

use buendel_contract::ledger::{LedgerEvent, ReleaseReason};

use super::*;
use crate::report::{human, Check, Failure};

/// A review event id, the cause the saga books a ledger command under.
fn review_event(n: u128) -> String {
    Uuid::from_u128(0x5e1e_0000 + n).to_string()
}

/// Decides `command` on `fund_id` under `cause` and appends only the first `keep` of its events,
/// as a process that died between two appends leaves them. Returns their stream sequences.
fn run_cut_short(
    ledger: &mut Ledger,
    fund_id: &str,
    cause: &str,
    command: Command,
    keep: usize,
) -> Vec<u64> {
    let events = ledger.fund(fund_id).decide(&command).expect("accepted");
    assert!(events.len() > keep, "nothing to cut: {events:?}");
    events
        .into_iter()
        .take(keep)
        .enumerate()
        .map(|(index, event)| {
            let id = derived_event_id(cause, fund_id, index);
            ledger.append(fund_id, id, cause, event, None)
        })
        .collect()
}

/// NON's saga: positive statements for p1 (reserved) and p2 (does not fit: waitlisted), then
/// p1's grant refused, which frees p1's money so that p2 fits. With `cut`, only the release of
/// that decision is stored. Returns the ledger and the stream sequence of the release.
fn refused_grant(cut: bool) -> (Ledger, u64) {
    let mut ledger = Ledger::default();
    ledger.run(
        NON,
        Command::AllocateBudget {
            fund_id: NON.into(),
            esf: Cents(60_000_000),
            land: Cents(10_000_000),
            commit_deadline: day(2027, 12, 31),
            today: day(2025, 1, 2),
        },
    );
    let statement = |ledger: &mut Ledger, n: u128, proposal: u128| {
        let command = reserve(p(proposal), 42_000_000, 7_000_000, day(2025, 3, 1));
        ledger.run_with_cause(NON, &review_event(n), command)
    };
    statement(&mut ledger, 1, 1);
    let declined = statement(&mut ledger, 2, 2);
    assert!(matches!(
        ledger.events.last(),
        Some((sequence, LedgerEvent::ReservationDeclined(_))) if [*sequence] == declined[..]
    ));
    let refused = Command::ReleaseReservation {
        proposal_id: p(1),
        reason: ReleaseReason::Refused,
        today: day(2025, 5, 1),
    };
    let cause = review_event(3);
    let stored = if cut {
        run_cut_short(&mut ledger, NON, &cause, refused, 1)
    } else {
        ledger.run_with_cause(NON, &cause, refused)
    };
    (ledger, stored[0])
}

fn id_at(ledger: &Ledger, sequence: u64) -> Uuid {
    envelope_of(&ledger.messages[(sequence - 1) as usize].bytes).id
}

fn failure_of(report: &Report) -> Failure {
    report
        .first_failure
        .clone()
        .unwrap_or_else(|| panic!("expected a failure: {}", human(report)))
}

/// Asserts that the failure is `waitlist_not_served` at `sequence` of NON, naming p(2).
fn assert_unserved_at(failure: &Failure, ledger: &Ledger, sequence: u64) {
    assert_eq!(
        (
            failure.fund_id.as_deref(),
            failure.sequence,
            failure.event_id,
            failure.check
        ),
        (
            Some(NON),
            sequence,
            Some(id_at(ledger, sequence)),
            Check::WaitlistNotServed
        ),
        "{failure:?}"
    );
    assert_eq!(failure.check.code(), "waitlist_not_served");
    assert!(
        failure.found.contains(&p(2).to_string()),
        "names the head: {failure:?}"
    );
}

#[test]
fn a_refused_grant_whose_freed_money_serves_the_waitlist_verifies() {
    let (ledger, release) = refused_grant(false);
    assert!(matches!(
        &ledger.events[release as usize],
        (_, LedgerEvent::FundsReserved(r)) if r.proposal_id == p(2) && r.from_waitlist
    ));
    let report = verify(&ledger.online(), Options::default());
    assert!(report.ok, "{}", human(&report));
    assert!(verify_lines(&ledger.lines()).ok);
}

#[test]
fn a_refused_grant_cut_short_before_the_waitlist_is_served_fails_at_the_release() {
    let (ledger, release) = refused_grant(true);
    assert_eq!(release, ledger.messages.len() as u64, "the last message");
    let report = verify(&ledger.online(), Options::default());
    assert!(!report.ok);
    assert_unserved_at(&failure_of(&report), &ledger, release);
    assert_eq!(report.events, release, "every event is sound on its own");
    assert_unserved_at(
        &failure_of(&verify_lines(&ledger.lines())),
        &ledger,
        release,
    );
}

#[test]
fn the_cut_decision_is_named_even_when_other_funds_and_later_decisions_follow_it() {
    let (mut ledger, release) = refused_grant(true);
    ledger.run(
        SON,
        Command::AllocateBudget {
            fund_id: SON.into(),
            esf: Cents(1_000),
            land: Cents(100),
            commit_deadline: day(2027, 12, 31),
            today: day(2025, 5, 2),
        },
    );
    // NON's next decision, another cause: the ledger serves the waitlist in it, too late.
    let next = ledger.run(
        NON,
        Command::AdjustBudget {
            source: buendel_contract::ledger::Source::Land,
            delta_cents: Cents(100),
            reason: "ministry letter".into(),
            today: day(2025, 5, 3),
        },
    );
    assert_eq!(next.len(), 2, "the raise, then p2 reserved");
    let report = verify(&ledger.online(), Options::default());
    assert_unserved_at(&failure_of(&report), &ledger, release);
    assert_eq!(
        report.last_sequence,
        Some(next[0]),
        "found on reading the next decision's first event"
    );
}

#[test]
fn the_sample_ledger_with_its_closing_cut_short_fails_where_the_commitment_is_released() {
    // The sample's closing of p1 frees money and reserves p3 in one append (sequences 10, 11):
    // rebuild it with only the release stored, then the rest of the sample's NON commands.
    let whole = sample();
    let mut ledger = Ledger::default();
    for (sequence, event) in whole.events.iter().take(9) {
        let envelope = envelope_of(&whole.messages[(*sequence - 1) as usize].bytes);
        let fund_id = event.fund_id().to_owned();
        let cause = envelope.causationid.expect("a cause");
        ledger.append(&fund_id, envelope.id, &cause, event.clone(), None);
    }
    let close = Command::CloseProject {
        proposal_id: p(1),
        today: day(2026, 10, 1),
    };
    let released = run_cut_short(&mut ledger, NON, "cmd-10", close, 1);
    assert_eq!(released, vec![10]);
    ledger.run_with_cause(
        NON,
        "cmd-11",
        Command::AssessRecovery {
            proposal_id: p(1),
            esf: Cents(800_000),
            land: Cents(100_000),
            reason: "final report audited".into(),
            today: day(2026, 10, 2),
        },
    );
    let report = verify(&ledger.online(), Options::default());
    let failure = failure_of(&report);
    assert_eq!(
        (failure.sequence, failure.event_id, failure.check),
        (10, Some(id_at(&ledger, 10)), Check::WaitlistNotServed),
        "{failure:?}"
    );
    assert!(failure.found.contains(&p(3).to_string()), "{failure:?}");
    assert!(verify(&whole.online(), Options::default()).ok);
}

#[test]
fn until_seq_at_the_cut_event_does_not_judge_a_decision_that_may_go_on() {
    let (ledger, release) = refused_grant(true);
    let until = |until_seq| Options {
        until_seq: Some(until_seq),
        ..Options::default()
    };
    let report = verify(&ledger.online(), until(release));
    assert!(report.ok, "{}", human(&report));
    let report = verify(&ledger.online(), until(release + 1));
    assert_unserved_at(&failure_of(&report), &ledger, release);
}
