//! The saga with approval against the real NATS: review events in REVIEWS, bookings in LEDGER.

use std::collections::BTreeSet;

use serde_json::json;
use uuid::Uuid;

use buendel_contract::ledger::{
    Amounts, BudgetAllocated, FundsReserved, LedgerEvent, ReleaseReason,
};
use buendel_contract::namespace::StreamKind;
use buendel_contract::review::Verdict;
use buendel_contract::{Aggregate, Cents, Meta};
use buendel_ledger::domain::{Command, ProjectStatus};

use crate::helpers::*;

#[tokio::test]
async fn fifty_proposals_racing_for_ten_grants_reserve_exactly_ten_with_two_instances() {
    let mut app = spawn_app().await;
    app.start_instance().await;
    let split = standard_split();
    app.allocate(NON, split.esf_cents.0 * 10, split.land_cents.0 * 10)
        .await;

    let proposals: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
    let mut appends = tokio::task::JoinSet::new();
    for &proposal in &proposals {
        let app_store = app.store.clone();
        let ns = app.ns.clone();
        appends.spawn(async move {
            let writer = Writer {
                store: app_store,
                ns,
            };
            writer
                .append(
                    proposal,
                    vec![
                        opened(proposal, "non"),
                        statement(proposal, Verdict::Positive),
                    ],
                )
                .await;
        });
    }
    while let Some(done) = appends.join_next().await {
        done.expect("append task did not panic");
    }
    app.saga_idle().await;
    eventually("all fifty are booked", || async {
        (app.fund(NON).await.state.projects().len() == 50).then_some(())
    })
    .await;

    let fund = app.fund(NON).await;
    let balances = fund.state.balances();
    let status = |wanted: ProjectStatus| {
        balances
            .projects
            .values()
            .filter(|p| p.status == wanted)
            .count()
    };
    assert_eq!(status(ProjectStatus::Reserved), 10);
    assert_eq!(status(ProjectStatus::Waitlisted), 40);
    assert_eq!(balances.waitlist.len(), 40);
    assert_eq!(balances.total.available, Cents(0));
    assert_eq!(balances.total.reserved, Cents(split.grant_cents.0 * 10));
    assert_eq!(balances.esf_plus.reserved, Cents(split.esf_cents.0 * 10));
    assert_eq!(balances.land.reserved, Cents(split.land_cents.0 * 10));
    assert!(balances.trial_balance_zero);
    fund.state.check_invariants().expect("the invariants hold");

    let events = app.fund_events(NON).await;
    let reserved = events
        .iter()
        .filter(|e| matches!(e.event, LedgerEvent::FundsReserved(_)))
        .count();
    let declined = events
        .iter()
        .filter(|e| matches!(e.event, LedgerEvent::ReservationDeclined(_)))
        .count();
    assert_eq!((reserved, declined), (10, 40));
    assert_each_cause_once(&events);
    assert!(app.dead_letters().await.is_empty());
    assert_eq!(app.assert_chains_verify().await, 51);
    app.cleanup().await;
}

/// Appends review events from a spawned task (the test app is not shared across tasks).
struct Writer {
    store: buendel_runtime::EventStore,
    ns: buendel_contract::Namespace,
}

impl Writer {
    async fn append(&self, proposal: Uuid, events: Vec<buendel_contract::review::ReviewEvent>) {
        use buendel_contract::namespace::StreamKind;
        use buendel_contract::Envelope;
        use buendel_runtime::store::Pending;
        let subject = self.ns.subject(StreamKind::Reviews, proposal);
        let meta = Meta {
            source: "/test/approval".into(),
            time: buendel_testing::test_now(),
            correlation_id: None,
            causation_id: None,
            actor: "test".into(),
        };
        let mut last = 0;
        for (index, event) in events.into_iter().enumerate() {
            let envelope = Envelope::new(
                Uuid::new_v4(),
                proposal.to_string(),
                index as u64 + 1,
                event,
                &meta,
            );
            let pending = Pending {
                id: envelope.id,
                payload: serde_json::to_vec(&envelope).expect("json").into(),
            };
            last = self
                .store
                .append(&subject, last, &[pending])
                .await
                .expect("appended")[0];
        }
    }
}

#[tokio::test]
async fn a_grant_commits_and_a_refusal_or_a_withdrawal_releases() {
    let app = spawn_app().await;
    let split = standard_split();
    app.allocate(NON, split.esf_cents.0 * 10, split.land_cents.0 * 10)
        .await;
    let [granted, refused_one, withdrawn, negative, early] = [(); 5].map(|()| Uuid::new_v4());
    app.append_review(
        granted,
        vec![
            opened(granted, "non"),
            statement(granted, Verdict::Positive),
            grant(granted, ELIGIBLE_CENTS / 2),
        ],
    )
    .await;
    app.append_review(
        refused_one,
        vec![
            opened(refused_one, "non"),
            statement(refused_one, Verdict::Positive),
            refused(refused_one),
        ],
    )
    .await;
    app.append_review(
        withdrawn,
        vec![
            opened(withdrawn, "non"),
            statement(withdrawn, Verdict::Positive),
            closed(withdrawn),
        ],
    )
    .await;
    app.append_review(
        negative,
        vec![
            opened(negative, "non"),
            statement(negative, Verdict::Negative),
        ],
    )
    .await;
    app.append_review(early, vec![opened(early, "non"), closed(early)])
        .await;
    app.publish_review_raw(
        "alliance-non",
        serde_json::to_vec(&json!({"type": "buendel.alliance.partner_joined.v1", "data": {}}))
            .expect("json"),
    )
    .await;
    app.saga_idle().await;

    let fund = app.fund(NON).await;
    let balances = fund.state.balances();
    let half = grant_split(ELIGIBLE_CENTS / 2);
    let project = |id: Uuid| balances.projects.get(&id).cloned();
    let granted_money = project(granted).expect("granted is booked");
    assert_eq!(granted_money.status, ProjectStatus::Committed);
    assert_eq!(granted_money.total.committed, half);
    assert_eq!(granted_money.total.reserved, Cents(0));
    let refused_money = project(refused_one).expect("refused is booked");
    assert_eq!(refused_money.status, ProjectStatus::Released);
    assert_eq!(refused_money.release_reason, Some(ReleaseReason::Refused));
    let withdrawn_money = project(withdrawn).expect("withdrawn is booked");
    assert_eq!(
        withdrawn_money.release_reason,
        Some(ReleaseReason::Withdrawn)
    );
    assert!(
        project(negative).is_none(),
        "a negative statement books nothing"
    );
    assert!(
        project(early).is_none(),
        "an early withdrawal books nothing"
    );
    assert_eq!(balances.total.reserved, Cents(0));
    assert_eq!(balances.total.committed, half);
    assert_eq!(
        balances.total.available,
        Cents(split.grant_cents.0 * 10 - half.0)
    );
    fund.state.check_invariants().expect("the invariants hold");
    assert!(
        app.dead_letters().await.is_empty(),
        "nothing here is for the operator: {:?}",
        app.dead_letters().await
    );
    app.assert_chains_verify().await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_grant_that_overtakes_its_statement_books_the_statement_first() {
    let mut app = spawn_app().await;
    let split = standard_split();
    app.allocate(NON, split.esf_cents.0 * 2, split.land_cents.0 * 2)
        .await;
    app.stop().await;
    let id = Uuid::new_v4();
    let ids = app
        .append_review(
            id,
            vec![
                opened(id, "non"),
                statement(id, Verdict::Positive),
                grant(id, ELIGIBLE_CENTS),
            ],
        )
        .await;
    let statement_id = ids[1];

    // Another instance takes the three messages and is gone with the statement: it is acked
    // there without being booked, so it never comes again; the other two come back at once.
    use futures::StreamExt as _;
    let stream = app
        .store
        .stream(StreamKind::Reviews)
        .await
        .expect("REVIEWS");
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_consumer(
            &app.ns
                .durable(buendel_ledger::app::SERVICE, StreamKind::Reviews),
        )
        .await
        .expect("the saga's consumer");
    let mut taken = consumer
        .fetch()
        .max_messages(3)
        .messages()
        .await
        .expect("fetched");
    let mut seen = Vec::new();
    while let Some(message) = taken.next().await {
        let message = message.expect("a message");
        let envelope: serde_json::Value = serde_json::from_slice(&message.payload).expect("json");
        let this = Uuid::parse_str(envelope["id"].as_str().expect("an id")).expect("a uuid");
        seen.push(this);
        let kind = if this == statement_id {
            async_nats::jetstream::AckKind::Ack
        } else {
            async_nats::jetstream::AckKind::Nak(None)
        };
        message.double_ack_with(kind).await.expect("acked");
    }
    assert_eq!(seen, ids, "the three review events, in order");

    // The next instance sees the grant of a project its fund never heard of, while the review
    // has a positive statement: it books the statement, then the grant.
    app.start_instance().await;
    app.saga_idle().await;
    let fund = app.fund(NON).await;
    let project = fund.state.balances().projects[&id].clone();
    assert_eq!(project.status, ProjectStatus::Committed);
    assert_eq!(project.total.committed, split.grant_cents);
    let events = app.fund_events(NON).await;
    assert_each_cause_once(&events);
    let booked: Vec<(String, Vec<&str>)> = causes(&events)
        .into_iter()
        .filter(|(cause, _)| *cause == statement_id.to_string() || *cause == ids[2].to_string())
        .collect();
    assert_eq!(
        booked,
        vec![
            (
                statement_id.to_string(),
                vec!["buendel.ledger.funds_reserved.v1"]
            ),
            (
                ids[2].to_string(),
                vec![
                    "buendel.ledger.funds_committed.v1",
                    "buendel.ledger.grant_terms_recorded.v1"
                ]
            ),
        ],
        "the statement's reservation under its own cause, then the commitment"
    );
    fund.state.check_invariants().expect("the invariants hold");
    assert!(app.dead_letters().await.is_empty());
    app.assert_chains_verify().await;
    app.cleanup().await;
}

fn grant_split(eligible: i64) -> Cents {
    buendel_contract::Split::compute(
        Cents(eligible),
        buendel_contract::BasisPoints(RATE_BP),
        buendel_contract::BasisPoints(6_000),
    )
    .expect("splits")
    .grant_cents
}

#[tokio::test]
async fn an_instance_stopped_between_appending_and_acking_books_nothing_twice() {
    let mut app = spawn_app().await;
    let split = standard_split();
    app.allocate(NON, split.esf_cents.0 * 2, split.land_cents.0 * 2)
        .await;
    let proposals: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    for &p in &proposals {
        app.append_review(p, vec![opened(p, "non"), statement(p, Verdict::Positive)])
            .await;
    }
    app.append_review(proposals[0], vec![grant(proposals[0], ELIGIBLE_CENTS)])
        .await;
    app.append_review(proposals[1], vec![refused(proposals[1])])
        .await;
    app.saga_idle().await;
    let before = app.fund_events(NON).await;
    let before_balances = app.fund(NON).await.state.balances();

    // The instance is stopped; a new review event arrives and an instance books it, but dies
    // before it acks: the booking is in LEDGER under the review event's id, the ack is not.
    app.stop().await;
    let late = Uuid::new_v4();
    let late_ids = app
        .append_review(
            late,
            vec![opened(late, "non"), statement(late, Verdict::Positive)],
        )
        .await;
    let repo = buendel_ledger::fund_repository(app.store.clone());
    let meta = Meta {
        source: buendel_ledger::app::SOURCE.into(),
        time: buendel_testing::test_now(),
        correlation_id: None,
        causation_id: None,
        actor: "ledger".into(),
    };
    let reserve = Command::Reserve {
        proposal_id: late,
        esf: split.esf_cents,
        land: split.land_cents,
        today: today(),
    };
    repo.execute(NON, &late_ids[1].to_string(), &meta, |fund| {
        Aggregate::decide(fund, &reserve)
    })
    .await
    .expect("booked by the instance that died");

    // A duplicate of an already booked event (same event id, new message) arrives as well.
    let refusal_id = *app
        .append_review(proposals[2], vec![refused(proposals[2])])
        .await
        .first()
        .expect("one id");
    let copy = app.review_bytes(proposals[2], refusal_id).await;
    app.publish_review_raw(&proposals[2].to_string(), copy)
        .await;

    // The durable consumer is gone too: the next instance re-reads REVIEWS from sequence 1.
    app.delete_saga_consumer().await;
    app.start_instance().await;
    app.saga_idle().await;

    let after = app.fund_events(NON).await;
    assert_each_cause_once(&after);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "what was booked stays as it was"
    );
    let new_causes: BTreeSet<String> = after[before.len()..]
        .iter()
        .map(|e| e.causationid.clone().expect("a cause"))
        .collect();
    assert_eq!(
        new_causes,
        BTreeSet::from([late_ids[1].to_string(), refusal_id.to_string()]),
        "only the late statement (booked once, before the restart) and the new refusal"
    );
    let balances = app.fund(NON).await.state.balances();
    assert_eq!(
        balances.total.committed, before_balances.total.committed,
        "the grant is committed once"
    );
    assert_eq!(balances.projects.len(), before_balances.projects.len() + 1);
    assert_eq!(
        balances.projects[&proposals[2]].release_reason,
        Some(ReleaseReason::Refused)
    );
    app.fund(NON)
        .await
        .state
        .check_invariants()
        .expect("the invariants hold");
    assert!(app.dead_letters().await.is_empty());
    app.assert_chains_verify().await;
    app.cleanup().await;
}

#[tokio::test]
async fn what_the_fund_refuses_from_the_saga_is_dead_lettered_for_the_operator() {
    let app = spawn_app().await;
    app.allocate(NON, 1_000, 1_000).await;

    let big = Uuid::new_v4();
    let grant_id = app
        .append_review(big, vec![opened(big, "non"), grant(big, ELIGIBLE_CENTS)])
        .await[1];
    let letter = app.dead_letter("commitment_shortfall").await;
    assert_eq!(letter.source, "ledger");
    assert_eq!(letter.event_id, Some(grant_id.to_string()));
    assert_eq!(
        letter.event_type.as_deref(),
        Some("buendel.review.grant_decided.v1")
    );
    assert!(!letter.reasons.is_empty());
    assert!(letter.reasons[0].reason.contains(&big.to_string()));

    let unfunded = Uuid::new_v4();
    app.append_review(
        unfunded,
        vec![
            opened(unfunded, "son"),
            statement(unfunded, Verdict::Positive),
        ],
    )
    .await;
    let letter = app.dead_letter("fund_not_open").await;
    assert!(letter.subject.ends_with(&unfunded.to_string()));

    app.publish_review_raw(&Uuid::new_v4().to_string(), b"{\"id\":\"x\"}".to_vec())
        .await;
    let letter = app.dead_letter("unreadable_event").await;
    assert_eq!(letter.event_id.as_deref(), Some("x"));
    assert_eq!(letter.original().expect("base64"), b"{\"id\":\"x\"}");

    // Everything behind them is still booked.
    let fine = Uuid::new_v4();
    app.append_review(
        fine,
        vec![
            opened_with(fine, "non", 1_000, 7_000),
            statement(fine, Verdict::Positive),
        ],
    )
    .await;
    app.saga_idle().await;
    let fund = app.fund(NON).await;
    assert_eq!(
        fund.state.project(fine).map(|p| p.status),
        Some(ProjectStatus::Reserved)
    );
    assert!(fund.state.project(big).is_none());
    assert_eq!(app.dead_letters().await.len(), 3);
    app.assert_chains_verify().await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_decision_that_would_break_an_invariant_is_dead_lettered_and_never_appended() {
    let app = spawn_app().await;
    // A fund stored by a writer that skipped the Fund's rules: a reservation with a negative ESF+
    // part. Releasing it would book a negative amount, which no journal entry may hold.
    let proposal = Uuid::new_v4();
    let stored = vec![
        LedgerEvent::BudgetAllocated(BudgetAllocated {
            fund_id: NON.into(),
            allocated: Amounts::new(10_000_000, 10_000_000),
            commit_deadline: deadline(),
            value_date: today(),
            postings: Vec::new(),
        })
        .journaled(),
        LedgerEvent::FundsReserved(FundsReserved {
            fund_id: NON.into(),
            proposal_id: proposal,
            reserved: Amounts::new(-100, 1_000),
            from_waitlist: false,
            value_date: today(),
            postings: Vec::new(),
        })
        .journaled(),
    ];
    app.append_ledger_raw(NON, "forged", stored).await;

    let refusal_id = app
        .append_review(proposal, vec![opened(proposal, "non"), refused(proposal)])
        .await[1];
    let letter = app.dead_letter("invariant_violation").await;
    assert_eq!(letter.event_id, Some(refusal_id.to_string()));
    assert!(
        letter
            .reasons
            .iter()
            .any(|r| r.field == "invariant" && r.reason.starts_with("malformed_entry: entry 3:")),
        "{:?}",
        letter.reasons
    );
    app.saga_idle().await;

    let reply = app
        .command(
            "release_reservation",
            json!({"fund_id": NON, "proposal_id": proposal, "reason": "withdrawn"}),
        )
        .await;
    assert_eq!(reply.code(), Some("invariant_violation"), "{reply:?}");
    assert_eq!(
        app.fund_events(NON).await.len(),
        2,
        "nothing of either decision is appended"
    );
    app.cleanup().await;
}
