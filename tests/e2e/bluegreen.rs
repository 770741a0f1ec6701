//! Blue/green rebuilds (issue 18): a rebuild under a steady read load, with the live projector
//! running and proposals still arriving. No read ever sees fewer proposals than before, nor an
//! error; afterwards the tables are what a fresh projection gives, the old generation is gone, and
//! the live projector goes on projecting into the new tables.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use uuid::Uuid;

use buendel_projector::generation::{NEXT_SCHEMA, OLD_SCHEMA};
use buendel_projector::RebuildLimits;
use buendel_runtime::CancellationToken;

use crate::helpers::{eventually, eventually_within, spawn_app, spawn_projector, submitted_event};

/// Proposals projected before the rebuild.
const BEFORE: i64 = 250;
/// Proposals published while it runs, at most (with those before, fewer than the API's largest
/// page, so that its readers count them all).
const DURING_MAX: usize = 240;

/// What one reader saw: the proposal count of every read, in order, and whether the read ended
/// after the switch.
#[derive(Debug, Default)]
struct Reads {
    counts: Vec<i64>,
    errors: Vec<String>,
    after_switch: usize,
}

/// How a reader reads the number of proposals.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// `GET /v1/proposals?limit=500` through the API router (one statement over several tables).
    Api,
    /// `SELECT count(*) FROM proposals`, read committed.
    Sql,
    /// The same in a repeatable-read transaction, with a parameter, so that its snapshot is taken
    /// before its lock (as the API's snapshot handlers do).
    RepeatableRead,
}

async fn read_once(app: &crate::helpers::TestApp, reader: Reader) -> Result<i64, String> {
    match reader {
        Reader::Api => {
            let (status, body) = app.get("/v1/proposals?limit=500").await;
            if status != 200 {
                return Err(format!("status {status}: {body}"));
            }
            let items = body["items"].as_array().ok_or("no items")?;
            i64::try_from(items.len()).map_err(|e| e.to_string())
        }
        Reader::Sql => sqlx::query_scalar("SELECT count(*) FROM proposals")
            .fetch_one(&app.pool)
            .await
            .map_err(|e| e.to_string()),
        Reader::RepeatableRead => {
            let mut tx = app.pool.begin().await.map_err(|e| e.to_string())?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            let count: i64 =
                sqlx::query_scalar("SELECT count(*) FROM proposals WHERE created_sequence > $1")
                    .bind(0_i64)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            Ok(count)
        }
    }
}

async fn proposals(app: &crate::helpers::TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM proposals")
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn a_rebuild_under_a_steady_read_load_never_shows_fewer_proposals_than_before() {
    let app = Arc::new(spawn_app().await);
    for _ in 0..BEFORE {
        app.publish_event(&submitted_event(Uuid::new_v4())).await;
    }
    eventually_within(
        "every proposal projected",
        Duration::from_secs(60),
        || async { (proposals(&app).await == BEFORE).then_some(()) },
    )
    .await;
    let before = proposals(&app).await;

    let stop = CancellationToken::new();
    let switched = CancellationToken::new();
    let mut readers = Vec::new();
    for reader in [
        Reader::Api,
        Reader::Api,
        Reader::Sql,
        Reader::RepeatableRead,
    ] {
        let (app, stop, switched) = (app.clone(), stop.clone(), switched.clone());
        let reads = Arc::new(Mutex::new(Reads::default()));
        let seen = reads.clone();
        let task = tokio::spawn(async move {
            while !stop.is_cancelled() {
                let result = read_once(&app, reader).await;
                let after = switched.is_cancelled();
                let mut reads = seen.lock().await;
                match result {
                    Ok(count) => reads.counts.push(count),
                    Err(error) => reads.errors.push(error),
                }
                reads.after_switch += usize::from(after);
            }
        });
        readers.push((reader, reads, task));
    }
    // Proposals arrive until the switch, and the live projector projects them meanwhile.
    let publisher = {
        let (app, switched) = (app.clone(), switched.clone());
        tokio::spawn(async move {
            let mut published = 0;
            while !switched.is_cancelled() && published < DURING_MAX {
                app.publish_event(&submitted_event(Uuid::new_v4())).await;
                published += 1;
                // Paces the load (it waits for nothing).
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            published
        })
    };

    // One pass, then the switch: what the live projector applied during the pass (the load goes
    // on) is applied to the generation inside the switch, while the live projector waits.
    let limits = RebuildLimits {
        batch_max: 50,
        switch_gap_max: u64::MAX,
        ..RebuildLimits::default()
    };
    let mut batches = 0;
    let report =
        buendel_projector::rebuild(&app.store, &app.pool, &limits, false, &mut |_| batches += 1)
            .await
            .expect("the rebuild runs");
    switched.cancel();
    assert!(
        report.switched && report.old_dropped && !report.resumed,
        "{report:?}"
    );
    assert!(batches > 5, "the rebuild took {batches} batches");

    // Every reader goes on reading the new tables for a while.
    for (reader, reads, _) in &readers {
        eventually(&format!("{reader:?} reads after the switch"), || async {
            (reads.lock().await.after_switch >= 5).then_some(())
        })
        .await;
    }
    stop.cancel();
    let published = publisher.await.expect("publisher joins");
    assert!(published > 0);
    for (reader, reads, task) in readers {
        task.await.expect("reader joins");
        let reads = reads.lock().await;
        assert!(reads.errors.is_empty(), "{reader:?}: {:?}", reads.errors);
        assert!(
            reads.counts.len() > 10,
            "{reader:?} read {} times",
            reads.counts.len()
        );
        let fewest = reads.counts.iter().min().copied().unwrap_or_default();
        assert!(
            fewest >= before,
            "{reader:?} saw {fewest} proposals, fewer than the {before} before the rebuild"
        );
        let shrank = reads.counts.windows(2).find(|w| w[1] < w[0]);
        assert!(
            shrank.is_none(),
            "{reader:?} saw the count shrink: {shrank:?}"
        );
    }

    // The live projector goes on, into the new tables.
    let late = Uuid::new_v4();
    app.publish_event(&submitted_event(late)).await;
    app.get_until(&format!("/v1/proposals/{late}"), |status, _| status == 200)
        .await;
    eventually("every proposal projected", || async {
        (proposals(&app).await == before + published as i64 + 1).then_some(())
    })
    .await;
    let schemas: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname IN ($1, $2)")
            .bind(NEXT_SCHEMA)
            .bind(OLD_SCHEMA)
            .fetch_all(&app.pool)
            .await
            .expect("schemas");
    assert!(schemas.is_empty(), "{schemas:?} left");

    // The tables equal a projection from sequence 1 by a projector that never stopped.
    let mut app = Arc::into_inner(app).expect("the only handle left");
    app.stop_services().await;
    let rebuilt = project_to_the_end(&app).await;
    buendel_projector::reset(&app.store, &app.pool)
        .await
        .expect("reset");
    let fresh = project_to_the_end(&app).await;
    assert_eq!(rebuilt, fresh);
    app.cleanup().await;
}

/// Runs a projector until every stream is projected to its end (nothing else runs), then digests
/// the read models.
async fn project_to_the_end(
    app: &crate::helpers::TestApp,
) -> std::collections::BTreeMap<&'static str, String> {
    let (stop, task) = spawn_projector(app, buendel_projector::RunnerLimits::default());
    buendel::chaos::checks::projected(&app.store, &app.pool, Duration::from_secs(60))
        .await
        .expect("projected");
    stop.cancel();
    task.await.expect("joins").expect("stops cleanly");
    buendel::chaos::checks::digest(&app.pool)
        .await
        .expect("digest")
}
