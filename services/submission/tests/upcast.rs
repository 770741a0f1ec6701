//! Stored v1 events load through the upcasters: a recorded v1 history (committed bytes) folds to
//! the same Proposal as the v2 history of the same facts, and a v1 event is written back as v1.

use buendel_contract::proposal::{ProposalEvent, ScreenedSubject, Terms, SCREENED_V1, SCREENED_V2};
use buendel_contract::{Aggregate as _, Envelope, EventKind as _};
use buendel_runtime::repository::decode;
use buendel_submission::domain::Proposal;

const V1_HISTORY: &str = include_str!("fixtures/proposal-history-v1.jsonl");

fn stored_v1() -> Vec<Envelope<ProposalEvent>> {
    V1_HISTORY
        .lines()
        .map(|line| decode::<ProposalEvent>(line.as_bytes()).expect("a stored v1 event reads"))
        .collect()
}

fn fold(events: &[ProposalEvent]) -> Proposal {
    events
        .iter()
        .fold(Proposal::default(), |state, event| state.apply(event))
}

/// The same facts as written today: every screening carries what it screened.
fn as_v2(events: &[ProposalEvent]) -> Vec<ProposalEvent> {
    let mut current: Option<(String, Terms)> = None;
    let mut out = Vec::new();
    for event in events {
        let mut event = event.clone();
        match &mut event {
            ProposalEvent::Submitted(e) => current = Some((e.alliance_id.clone(), e.terms.clone())),
            ProposalEvent::Revised(e) => {
                if let Some((_, terms)) = &mut current {
                    terms.clone_from(&e.terms);
                }
            }
            ProposalEvent::Screened(e) => {
                let (alliance_id, terms) = current.clone().expect("submitted first");
                e.subject = Some(ScreenedSubject { alliance_id, terms });
            }
            ProposalEvent::Withdrawn(_) | ProposalEvent::ReviewRecorded(_) => {}
        }
        out.push(event);
    }
    out
}

#[test]
fn a_stored_v1_history_folds_to_the_same_proposal_as_the_v2_history_of_the_same_facts() {
    let v1: Vec<ProposalEvent> = stored_v1().into_iter().map(|e| e.event).collect();
    assert_eq!(v1.len(), 4);
    assert!(v1
        .iter()
        .filter_map(|e| match e {
            ProposalEvent::Screened(s) => Some(s),
            _ => None,
        })
        .all(|s| s.subject.is_none() && s.passed));

    // The v2 history goes through its own bytes, as a store would hold it.
    let v2: Vec<ProposalEvent> = as_v2(&v1)
        .iter()
        .map(|event| {
            let bytes = serde_json::to_vec(event).expect("written");
            serde_json::from_slice::<ProposalEvent>(&bytes).expect("read back")
        })
        .collect();
    assert!(v2.iter().any(|e| e.event_type() == SCREENED_V2));
    let (from_v1, from_v2) = (fold(&v1), fold(&v2));
    assert_eq!(from_v1, from_v2);
    assert_eq!(
        from_v1.terms.as_ref().map(|t| t.eligible_cost_cents.0),
        Some(20_000_000),
        "the revision is in force"
    );
}

#[test]
fn a_stored_v1_event_is_written_back_as_v1_byte_for_byte() {
    for (line, envelope) in V1_HISTORY.lines().zip(stored_v1()) {
        assert_eq!(serde_json::to_string(&envelope).expect("written"), line);
    }
    let screened = &stored_v1()[1];
    assert_eq!(screened.event.event_type(), SCREENED_V1);
}
