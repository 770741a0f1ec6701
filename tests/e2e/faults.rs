//! Fault seams: a decision cut short between two of its events, an append whose acknowledgement is
//! lost, a projector that dies between its commit and its ack. After the redelivery every event of
//! the decision is stored exactly once, on the pinned 2.12 (atomic batches) and on the oldest
//! supported server, 2.10 (decisions recorded whole and completed).

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

use buendel::system::Parts;
use buendel_contract::namespace::StreamKind;
use buendel_runtime::store::Fault;
use buendel_testing::{NatsServer, NATS_VERSION_OLDEST};

use crate::helpers::{
    eventually, fresh_namespace, spawn_all_on, spawn_app, spawn_projector, TestApp,
};
use buendel_contract::commands::RecordRefusal;

use crate::ledger::{allocation, ledger_ok};
use crate::review::{positive_statement, proposal_in_review, send_json};

/// NON's fund.
const FUND: &str = "non-2021-2027";

/// Every service on the oldest supported server (a node of its own).
async fn app_on_oldest_server() -> (TestApp, NatsServer) {
    let server = NatsServer::start(NATS_VERSION_OLDEST);
    (spawn_all_on(server.url(), 1).await, server)
}

/// The fund's events: (type, causationid, data.proposal_id).
async fn fund_events(app: &TestApp) -> Vec<(String, String, String)> {
    let subject = app.settings.namespace.subject(StreamKind::Ledger, FUND);
    app.store
        .load(StreamKind::Ledger, &subject)
        .await
        .expect("the fund loads")
        .iter()
        .map(|stored| {
            let event: Value = serde_json::from_slice(&stored.payload).expect("json");
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&event["type"]),
                text(&event["causationid"]),
                text(&event["data"]["proposal_id"]),
            )
        })
        .collect()
}

async fn status(app: &TestApp, proposal_id: Uuid) -> Value {
    app.get(&format!("/v1/proposals/{proposal_id}")).await.1["status"].clone()
}

/// A refusal frees the money of the only reservation; its booking must also serve the waitlist.
/// The ledger's append of that two-event decision is cut after the first event.
async fn a_decision_cut_short_is_whole_after_the_redelivery(app: TestApp) -> TestApp {
    ledger_ok(&app, &allocation(18_000_000, 3_000_000)).await;
    let reserved = proposal_in_review(&app).await;
    positive_statement(&app, reserved).await;
    app.get_until(&format!("/v1/proposals/{reserved}"), |_, body| {
        body["status"] == "funds_reserved"
    })
    .await;
    let waiting = proposal_in_review(&app).await;
    positive_statement(&app, waiting).await;
    app.get_until(&format!("/v1/proposals/{waiting}"), |_, body| {
        body["status"] == "waitlisted"
    })
    .await;

    let fund_subject = app.settings.namespace.subject(StreamKind::Ledger, FUND);
    app.store.arm(fund_subject, Fault::CrashAfterEvents(1));
    let refusal = RecordRefusal {
        proposal_id: reserved,
        bank_reference: "NB-ABL-7".into(),
        reason: "no co-financing".into(),
    };
    let reply = send_json(&app, &refusal).await;
    assert_eq!(reply["ok"], true, "{reply}");

    app.get_until(&format!("/v1/proposals/{waiting}"), |_, body| {
        body["status"] == "funds_reserved"
    })
    .await;
    assert_eq!(status(&app, reserved).await, "refused");
    let events = fund_events(&app).await;
    let mut per_cause: HashMap<&str, Vec<&str>> = HashMap::new();
    for (kind, cause, _) in &events {
        per_cause.entry(cause).or_default().push(kind);
    }
    let released: Vec<&(String, String, String)> = events
        .iter()
        .filter(|(kind, _, _)| kind == "buendel.ledger.reservation_released.v1")
        .collect();
    assert_eq!(released.len(), 1, "{events:#?}");
    let decision = &per_cause[released[0].1.as_str()];
    assert_eq!(
        decision,
        &[
            "buendel.ledger.reservation_released.v1",
            "buendel.ledger.funds_reserved.v1"
        ],
        "the refusal's decision is stored whole, once: {events:#?}"
    );
    let reservations_of_waiting = events
        .iter()
        .filter(|(kind, _, p)| {
            kind == "buendel.ledger.funds_reserved.v1" && *p == waiting.to_string()
        })
        .count();
    assert_eq!(reservations_of_waiting, 1);

    app.assert_audit_clean().await;
    app
}

#[tokio::test]
async fn a_ledger_decision_cut_between_its_events_is_stored_once_whole_on_2_12() {
    let app = spawn_app().await;
    assert!(
        app.store.capabilities().atomic_batch,
        "the pinned 2.12 has atomic batches: {:?}",
        app.client.server_info()
    );
    let app = a_decision_cut_short_is_whole_after_the_redelivery(app).await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_ledger_decision_cut_between_its_events_is_completed_once_on_2_10() {
    let (app, server) = app_on_oldest_server().await;
    assert!(
        !app.store.capabilities().atomic_batch,
        "2.10 has no atomic batches"
    );
    let app = a_decision_cut_short_is_whole_after_the_redelivery(app).await;
    app.cleanup().await;
    drop(server);
}

/// An operator command whose decision (one event here) was stored but whose acknowledgement was
/// lost: the retry with the same command id returns the original event and appends nothing.
#[tokio::test]
async fn an_append_whose_ack_was_lost_is_booked_once_when_retried() {
    let app = spawn_app().await;
    let fund_subject = app.settings.namespace.subject(StreamKind::Ledger, FUND);
    app.store.arm(fund_subject, Fault::LoseAck);
    let command_id = Uuid::new_v4();
    let command = allocation(1_000, 0);
    let first = serde_json::to_value(app.send_as(command_id, &command).await).expect("json");
    assert_eq!(first["error"]["code"], "unavailable", "{first}");
    let again = serde_json::to_value(app.send_as(command_id, &command).await).expect("json");
    assert_eq!(again["ok"], true, "{again}");
    assert_eq!(
        again["duplicate"], true,
        "the first attempt was stored: {again}"
    );
    assert_eq!(fund_events(&app).await.len(), 1);
    app.cleanup().await;
}

/// The projector commits a batch and dies before acknowledging it: the redelivery changes no row.
#[tokio::test]
async fn a_projector_dying_between_commit_and_ack_changes_nothing_on_redelivery() {
    let app = crate::helpers::spawn_parts(
        fresh_namespace(),
        Parts {
            submission: true,
            ..Parts::none()
        },
    )
    .await;
    for _ in 0..10 {
        app.publish_event(&crate::helpers::submitted_event(Uuid::new_v4()))
            .await;
    }
    eventually("20 events in PROPOSALS", || async {
        let last = app
            .store
            .stream_last_sequence(StreamKind::Proposals)
            .await
            .ok()?;
        (last == 20).then_some(())
    })
    .await;
    let checkpoint = || async {
        buendel_projector::checkpoint::checkpoint(&app.pool, StreamKind::Proposals)
            .await
            .unwrap_or(0)
    };
    let run = |limits: buendel_projector::RunnerLimits| spawn_projector(&app, limits);
    // A short ack wait, so the server redelivers soon after the projector died.
    let limits = buendel_projector::RunnerLimits {
        ack_wait_ms: 1_000,
        ..buendel_projector::RunnerLimits::default()
    };
    let (stop, task) = run(buendel_projector::RunnerLimits {
        fault_skip_acks: true,
        ..limits.clone()
    });
    eventually("committed, never acknowledged", || async {
        (checkpoint().await == 20).then_some(())
    })
    .await;
    stop.cancel();
    task.await.expect("joined").expect("stopped");
    let rows = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT string_agg(to_jsonb(p)::text, ',' ORDER BY proposal_id) FROM proposals p",
        )
        .fetch_one(&app.pool)
        .await
        .expect("rows")
    };
    let before = rows().await;
    let consumer = app
        .settings
        .namespace
        .durable("projector", StreamKind::Proposals);
    let stream = app
        .store
        .stream(StreamKind::Proposals)
        .await
        .expect("stream");
    let mut info: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(&consumer).await.expect("consumer");
    assert_eq!(
        info.info().await.expect("info").ack_floor.stream_sequence,
        0,
        "nothing acked"
    );

    let (stop, task) = run(limits);
    eventually("the redelivered batch acknowledged", || async {
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer(&consumer).await.ok()?;
        let info = consumer.info().await.ok()?;
        (info.ack_floor.stream_sequence == 20).then_some(())
    })
    .await;
    stop.cancel();
    task.await.expect("joined").expect("stopped");
    assert_eq!(rows().await, before, "the redelivery changed no row");
    assert_eq!(checkpoint().await, 20);
    app.cleanup().await;
}

/// Group commit: commands on one fund that arrive together are appended as one batch. A batch cut
/// short fails every command in it; each, sent again with its id, is then booked exactly once.
#[tokio::test]
async fn a_group_whose_batch_fails_fails_each_command_and_their_retries_book_each_once() {
    use buendel_contract::commands::AdjustBudget;
    use buendel_contract::ledger::Source;
    use buendel_contract::Cents;

    // Given a ledger with group commit on, a fund, and the next batch of several events appended
    // to it lost
    let app = crate::helpers::spawn_parts_with(
        buendel_runtime::Settings {
            group_commit: true,
            ..crate::helpers::test_settings(fresh_namespace())
        },
        Parts::all(([127, 0, 0, 1], 0).into()),
    )
    .await;
    ledger_ok(&app, &allocation(18_000_000, 3_000_000)).await;
    let fund_subject = app.settings.namespace.subject(StreamKind::Ledger, FUND);
    app.store.arm(fund_subject, Fault::FailBatchOver(1));
    // When 32 budget increases arrive at once
    let raises: Vec<(Uuid, AdjustBudget)> = (0..32)
        .map(|i| {
            let raise = AdjustBudget {
                fund_id: FUND.into(),
                source: Source::EsfPlus,
                delta_cents: Cents(1),
                reason: format!("raise {i}"),
            };
            (Uuid::new_v4(), raise)
        })
        .collect();
    let replies =
        futures::future::join_all(raises.iter().map(|(id, raise)| app.send_as(*id, raise))).await;
    // Then the commands of the cut batch failed as unavailable and the others were accepted
    // (the first arrives alone and is appended alone; those that queued behind it go together)
    let failed = replies.iter().filter(|r| !r.is_ok()).count();
    assert!(
        failed >= 2,
        "a group of several fails together: {replies:?}"
    );
    for reply in replies.iter().filter(|r| !r.is_ok()) {
        assert_eq!(reply.code(), Some("unavailable"), "{reply:?}");
    }
    // And when every command is sent again with its id, each is accepted, and each raise is
    // booked exactly once
    for (id, raise) in &raises {
        let reply = app.send_as(*id, raise).await;
        assert!(reply.is_ok(), "{reply:?}");
    }
    let events = fund_events(&app).await;
    let mut per_cause: HashMap<&str, usize> = HashMap::new();
    for (kind, cause, _) in &events {
        if kind == "buendel.ledger.budget_adjusted.v1" {
            *per_cause.entry(cause.as_str()).or_default() += 1;
        }
    }
    assert_eq!(per_cause.len(), 32, "{events:#?}");
    assert!(per_cause.values().all(|n| *n == 1), "{per_cause:?}");
    app.assert_audit_clean().await;
    app.cleanup().await;
}
