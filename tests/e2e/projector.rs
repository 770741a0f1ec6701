//! The projector: restarted mid-stream, it ends with exactly the rows of one that never stopped.

use serde_json::Value;
use sqlx::Row as _;
use uuid::Uuid;

use buendel::system::Parts;
use buendel_contract::namespace::StreamKind;
use buendel_projector::RunnerLimits;

use crate::helpers::{
    eventually, fresh_namespace, spawn_parts, spawn_projector, submitted_event, TestApp,
};

const PROPOSALS: usize = 40;

/// Every projected row, as JSON text, in a stable order.
async fn snapshot(app: &TestApp) -> Vec<String> {
    let mut rows = Vec::new();
    for query in [
        "SELECT to_jsonb(p)::text FROM proposals p ORDER BY proposal_id",
        "SELECT to_jsonb(t)::text FROM proposal_timeline t ORDER BY stream, sequence",
        "SELECT to_jsonb(c)::text FROM checkpoints c ORDER BY stream",
    ] {
        for row in sqlx::query(query)
            .fetch_all(&app.pool)
            .await
            .expect("query")
        {
            let text: String = row.get(0);
            let mut value: Value = serde_json::from_str(&text).expect("json");
            if let Some(map) = value.as_object_mut() {
                map.remove("updated_at"); // the checkpoint's wall-clock time of writing
            }
            rows.push(value.to_string());
        }
    }
    rows
}

async fn checkpoint(app: &TestApp) -> u64 {
    buendel_projector::checkpoint::checkpoint(&app.pool, StreamKind::Proposals)
        .await
        .expect("checkpoint")
}

#[tokio::test]
async fn the_projector_restarted_mid_stream_ends_with_exactly_the_rows_of_one_that_never_stopped() {
    let app = spawn_parts(
        fresh_namespace(),
        Parts {
            submission: true,
            ..Parts::none()
        },
    )
    .await;
    for _ in 0..PROPOSALS {
        app.publish_event(&submitted_event(Uuid::new_v4())).await;
    }
    let last = eventually("every proposal submitted and screened", || async {
        let last = app
            .store
            .stream_last_sequence(StreamKind::Proposals)
            .await
            .ok()?;
        (last == 2 * PROPOSALS as u64).then_some(last)
    })
    .await;

    // First run, in small batches, stopped as soon as it has made progress.
    let small = RunnerLimits {
        batch_max: 3,
        ..RunnerLimits::default()
    };
    let (stop, task) = spawn_projector(&app, small.clone());
    let reached = eventually("some progress", || async {
        let c = checkpoint(&app).await;
        (c > 0).then_some(c)
    })
    .await;
    stop.cancel();
    task.await.expect("joined").expect("stopped cleanly");
    let stopped_at = checkpoint(&app).await;
    assert!(stopped_at >= reached);

    // Restarted: it continues from where it stopped.
    let (stop, task) = spawn_projector(&app, small);
    eventually("caught up after the restart", || async {
        (checkpoint(&app).await == last).then_some(())
    })
    .await;
    stop.cancel();
    task.await.expect("joined").expect("stopped cleanly");
    let restarted = snapshot(&app).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM proposals WHERE status = 'in_review'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, PROPOSALS as i64);

    // Rebuilt from sequence 1 by a projector that never stops.
    buendel_projector::reset(&app.store, &app.pool)
        .await
        .expect("rebuild");
    assert_eq!(checkpoint(&app).await, 0);
    let (stop, task) = spawn_projector(&app, RunnerLimits::default());
    eventually("caught up after the rebuild", || async {
        (checkpoint(&app).await == last).then_some(())
    })
    .await;
    stop.cancel();
    task.await.expect("joined").expect("stopped cleanly");
    let never_stopped = snapshot(&app).await;

    assert_eq!(restarted, never_stopped);
    if stopped_at == last {
        eprintln!("note: the first run finished before it was stopped (checkpoint {stopped_at} of {last})");
    }
    app.cleanup().await;
}
