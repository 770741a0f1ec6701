//! No stream stalls on one event: an event the read side cannot take is quarantined alone and the
//! projection goes on; Postgres being down quarantines nothing.

use bytes::Bytes;
use chrono::TimeZone as _;
use serde_json::Value;
use uuid::Uuid;

use buendel::system::Parts;
use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{ProposalEvent, Submitted};
use buendel_contract::{Envelope, Meta};
use buendel_projector::RunnerLimits;
use buendel_runtime::store::Pending;
use buendel_runtime::Settings;

use crate::helpers::{
    eventually, fresh_namespace, spawn_parts, spawn_parts_with, spawn_projector, submitted_data,
    submitted_event, TestApp,
};
use buendel_testing::PrivatePostgres;

async fn checkpoint(app: &TestApp) -> u64 {
    buendel_projector::checkpoint::checkpoint(&app.pool, StreamKind::Proposals)
        .await
        .unwrap_or(0)
}

async fn proposals_stream_reaches(app: &TestApp, count: u64) {
    eventually(&format!("{count} events in PROPOSALS"), || async {
        let last = app
            .store
            .stream_last_sequence(StreamKind::Proposals)
            .await
            .ok()?;
        (last >= count).then_some(())
    })
    .await;
}

/// Appends a `submitted` event whose applicant name holds NUL straight to PROPOSALS, as a stream
/// written before the intake refused such input would hold it. Returns its stream sequence.
async fn append_unstorable(app: &TestApp, proposal_id: Uuid) -> u64 {
    let mut data = submitted_data(proposal_id);
    data["applicant"]["name"] = Value::String("Bildungswerk\u{0}Heidekreis".into());
    let submitted: Submitted = serde_json::from_value(data).expect("submitted");
    let meta = Meta {
        source: "/buendel/submission".into(),
        time: chrono::Utc
            .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("time"),
        correlation_id: Some(proposal_id.to_string()),
        causation_id: Some(Uuid::new_v4().to_string()),
        actor: "/old/portal".into(),
    };
    let id = Uuid::new_v4();
    let envelope = Envelope::new(
        id,
        proposal_id.to_string(),
        1,
        ProposalEvent::Submitted(submitted),
        &meta,
    );
    let payload = serde_json::to_vec(&envelope).expect("json");
    assert!(String::from_utf8_lossy(&payload).contains("\\u0000"));
    let subject = app
        .settings
        .namespace
        .subject(StreamKind::Proposals, proposal_id);
    let sequences = app
        .store
        .append(
            &subject,
            0,
            &[Pending {
                id,
                payload: Bytes::from(payload),
            }],
        )
        .await
        .expect("appended");
    sequences[0]
}

async fn quarantined(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT stream, sequence FROM projection_quarantine ORDER BY stream, sequence")
        .fetch_all(&app.pool)
        .await
        .expect("quarantine")
}

#[tokio::test]
async fn an_event_postgres_refuses_is_quarantined_alone_and_everything_after_it_is_projected() {
    let app = spawn_parts(
        fresh_namespace(),
        Parts {
            submission: true,
            ..Parts::none()
        },
    )
    .await;
    for _ in 0..5 {
        app.publish_event(&submitted_event(Uuid::new_v4())).await;
    }
    proposals_stream_reaches(&app, 10).await;
    let bad = Uuid::new_v4();
    let bad_sequence = append_unstorable(&app, bad).await;
    for _ in 0..5 {
        app.publish_event(&submitted_event(Uuid::new_v4())).await;
    }
    proposals_stream_reaches(&app, 21).await;

    // One batch holds the bad event among good ones: it is bisected, the bad one quarantined.
    let (stop, task) = spawn_projector(&app, RunnerLimits::default());
    eventually("caught up past the bad event", || async {
        (checkpoint(&app).await == 21).then_some(())
    })
    .await;
    assert_eq!(
        quarantined(&app).await,
        [("PROPOSALS".to_owned(), bad_sequence as i64)]
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM proposals")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(
        count, 10,
        "every good proposal, before and after the bad one"
    );

    let (status, body) = app.get(&format!("/v1/proposals/{bad}")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &Value::from("not_projected")),
        "{body}"
    );
    let (status, body) = app.get("/v1/quarantine").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["sequence"], bad_sequence);
    assert_eq!(body["items"][0]["aggregate_id"], bad.to_string());
    assert_eq!(
        body["items"][0]["event_type"],
        "buendel.proposal.submitted.v1"
    );
    assert!(
        body["items"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("0x00")),
        "{body}"
    );
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["quarantined_events"], 1);
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("buendel_projection_quarantined_events{stream=\"PROPOSALS\"} 1\n"),
        "{metrics}"
    );

    // Restarted, the projector does not try the bad event again; it goes on with new ones.
    stop.cancel();
    task.await.expect("joined").expect("stopped");
    let (stop, task) = spawn_projector(&app, RunnerLimits::default());
    app.publish_event(&submitted_event(Uuid::new_v4())).await;
    eventually("the next proposal projected", || async {
        (checkpoint(&app).await == 23).then_some(())
    })
    .await;
    assert_eq!(quarantined(&app).await.len(), 1);

    // A rebuild quarantines the same event again, and only it.
    stop.cancel();
    task.await.expect("joined").expect("stopped");
    buendel_projector::reset(&app.store, &app.pool)
        .await
        .expect("rebuild");
    let (stop, task) = spawn_projector(&app, RunnerLimits::default());
    eventually("caught up after the rebuild", || async {
        (checkpoint(&app).await == 23).then_some(())
    })
    .await;
    assert_eq!(
        quarantined(&app).await,
        [("PROPOSALS".to_owned(), bad_sequence as i64)]
    );
    stop.cancel();
    task.await.expect("joined").expect("stopped");
    app.cleanup().await;
}

#[tokio::test]
async fn postgres_down_for_a_while_quarantines_nothing_and_the_projection_catches_up() {
    let postgres = PrivatePostgres::start();
    let settings = Settings {
        database_url: postgres.url(),
        ..crate::helpers::test_settings(fresh_namespace())
    };
    let app = spawn_parts_with(
        settings,
        Parts {
            submission: true,
            projector: true,
            ..Parts::none()
        },
    )
    .await;
    for _ in 0..5 {
        app.publish_event(&submitted_event(Uuid::new_v4())).await;
    }
    eventually("the first proposals projected", || async {
        (checkpoint(&app).await == 10).then_some(())
    })
    .await;

    postgres.stop();
    for _ in 0..10 {
        app.publish_event(&submitted_event(Uuid::new_v4())).await;
    }
    proposals_stream_reaches(&app, 30).await;
    // The projector has fetched them (and failed to write them) while Postgres was down.
    eventually("the projector tried the new events", || async {
        let ns = &app.settings.namespace;
        let stream = app.store.stream(StreamKind::Proposals).await.ok()?;
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
            .get_consumer(&ns.durable("projector", StreamKind::Proposals))
            .await
            .ok()?;
        let info = consumer.info().await.ok()?;
        (info.delivered.stream_sequence >= 30 && info.ack_floor.stream_sequence <= 10).then_some(())
    })
    .await;

    postgres.start_again();
    eventually("caught up after Postgres returned", || async {
        (checkpoint(&app).await == 30).then_some(())
    })
    .await;
    assert!(
        quarantined(&app).await.is_empty(),
        "a transient failure quarantines nothing"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM proposals")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 15);
    app.cleanup().await;
    drop(postgres);
}
