//! The projector against a real Postgres (and, for the runner, a real NATS), each test in a fresh
//! namespace and database that it drops at the end.

use std::time::Duration;

use bytes::Bytes;
use chrono::{NaiveDate, TimeZone as _, Utc};
use sqlx::{Connection as _, PgPool};
use uuid::Uuid;

use buendel_contract::deadletter::DeadLetter;
use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{
    Applicant, ProjectType, ProposalEvent, Revised, RuleResult, Screened, Severity, Submitted,
    Terms, Withdrawn,
};
use buendel_contract::reply::FieldError;
use buendel_contract::{BasisPoints, Cents, Envelope, Meta, Namespace};
use buendel_projector::checkpoint::checkpoint;
use buendel_projector::{
    apply_batch, DeadLettersProjection, Projection as _, ProjectionError, ProposalsProjection,
};
use buendel_runtime::db::{self, PoolLimits};
use buendel_runtime::store::{Pending, Stored};
use buendel_runtime::{CancellationToken, EventStore};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// A fresh namespace with its own migrated database.
struct TestDb {
    ns: Namespace,
    pool: PgPool,
}

impl TestDb {
    async fn new() -> Self {
        let short = Uuid::new_v4().simple().to_string();
        let ns = Namespace::new(format!("t{}", &short[..16])).expect("valid namespace");
        let pool = db::connect_and_migrate(POSTGRES, &ns, PoolLimits::default())
            .await
            .expect("Postgres at 127.0.0.1:5432");
        Self { ns, pool }
    }

    async fn drop_database(self) {
        self.pool.close().await;
        let options = db::options(POSTGRES, &self.ns).expect("options");
        db::drop_database(&options).await.expect("drop database");
    }
}

/// Builds the events of proposals the way the submission service would.
struct Stream {
    next_sequence: u64,
    versions: std::collections::HashMap<Uuid, u64>,
}

impl Stream {
    fn new() -> Self {
        Self {
            next_sequence: 1,
            versions: Default::default(),
        }
    }

    fn event(&mut self, event: ProposalEvent) -> Stored {
        let proposal_id = event.proposal_id();
        let version = self.versions.entry(proposal_id).or_insert(0);
        *version += 1;
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let meta = Meta {
            source: "/buendel/submission".into(),
            time: Utc
                .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
                .single()
                .expect("time")
                + chrono::Duration::minutes(i64::try_from(sequence).expect("small")),
            correlation_id: None,
            causation_id: Some(format!("cause-{sequence}")),
            actor: "publisher:test".into(),
        };
        let envelope = Envelope::new(
            Uuid::new_v4(),
            proposal_id.to_string(),
            *version,
            event,
            &meta,
        );
        Stored {
            sequence,
            subject: format!("t.proposal.{proposal_id}"),
            payload: Bytes::from(serde_json::to_vec(&envelope).expect("serializable")),
            trace: None,
        }
    }
}

fn terms(title: &str, eligible_cost_cents: i64) -> Terms {
    Terms {
        title: title.into(),
        summary: "Weiterbildung für Pflegehilfskräfte".into(),
        project_type: ProjectType::Training,
        focus_areas: vec!["fachkraefte".into(), "pflege".into()],
        districts: vec!["Harz".into(), "Goslar".into()],
        planned_start: NaiveDate::from_ymd_opt(2026, 9, 1).expect("date"),
        duration_months: 24,
        eligible_cost_cents: Cents(eligible_cost_cents),
        requested_rate_bp: BasisPoints(7_000),
    }
}

fn submitted(proposal_id: Uuid) -> ProposalEvent {
    ProposalEvent::Submitted(Submitted {
        proposal_id,
        alliance_id: "son".into(),
        applicant: Applicant {
            name: "Bildungswerk Harz e.V.".into(),
            kind: "verein".into(),
            district: "Harz".into(),
        },
        terms: terms("Pflege lernen", 12_345_678),
    })
}

fn screened(proposal_id: Uuid, passed: bool) -> ProposalEvent {
    ProposalEvent::Screened(Screened {
        proposal_id,
        passed,
        rules_version: "esf-plus-2021-2027.1".into(),
        results: vec![RuleResult {
            rule: "eligible_cost_cap".into(),
            passed,
            severity: Severity::Error,
            message: "eligible costs 123456.78 EUR ≤ 500000.00 EUR".into(),
        }],
        subject: None,
    })
}

fn revised(proposal_id: Uuid) -> ProposalEvent {
    ProposalEvent::Revised(Revised {
        proposal_id,
        terms: terms("Pflege lernen, kleiner", 9_000_000),
        reason: "smaller budget".into(),
    })
}

fn withdrawn(proposal_id: Uuid) -> ProposalEvent {
    ProposalEvent::Withdrawn(Withdrawn {
        proposal_id,
        reason: "funded elsewhere".into(),
    })
}

/// The read model, as text, to compare whole states.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT to_jsonb(p)::text FROM proposals p \
         UNION ALL SELECT to_jsonb(t)::text FROM proposal_timeline t \
         UNION ALL SELECT to_jsonb(d)::text FROM dead_letters d \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("snapshot")
}

#[derive(sqlx::FromRow, Debug)]
struct Row {
    status: String,
    title: String,
    eligible_cost_cents: i64,
    requested_rate_bp: i32,
    focus_areas: Vec<String>,
    rules_version: Option<String>,
    screening: Option<serde_json::Value>,
    created_sequence: i64,
    last_sequence: i64,
    version: i64,
}

async fn row(pool: &PgPool, proposal_id: Uuid) -> Row {
    sqlx::query_as(
        "SELECT status, title, eligible_cost_cents, requested_rate_bp, focus_areas, rules_version, \
                screening, created_sequence, last_sequence, version \
         FROM proposals WHERE proposal_id = $1",
    )
    .bind(proposal_id)
    .fetch_one(pool)
    .await
    .expect("the proposal row")
}

#[tokio::test]
async fn events_applied_in_a_transaction_build_the_proposal_row_and_its_timeline() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let mut stream = Stream::new();
    let events = [
        stream.event(submitted(id)),
        stream.event(screened(id, false)),
        stream.event(revised(id)),
        stream.event(screened(id, true)),
    ];

    let mut tx = db.pool.begin().await.expect("begin");
    for event in &events {
        ProposalsProjection
            .apply(&mut tx, event.sequence, &event.subject, &event.payload)
            .await
            .expect("applies");
    }
    tx.commit().await.expect("commit");

    let row = row(&db.pool, id).await;
    assert_eq!(row.status, "in_review");
    assert_eq!(row.title, "Pflege lernen, kleiner");
    assert_eq!(row.eligible_cost_cents, 9_000_000);
    assert_eq!(row.requested_rate_bp, 7_000);
    assert_eq!(row.focus_areas, ["fachkraefte", "pflege"]);
    assert_eq!(row.rules_version.as_deref(), Some("esf-plus-2021-2027.1"));
    let screening = row.screening.expect("screening results");
    assert_eq!(screening[0]["rule"], "eligible_cost_cap");
    assert_eq!(screening[0]["passed"], true);
    assert_eq!(
        (row.created_sequence, row.last_sequence, row.version),
        (1, 4, 4)
    );
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM proposal_timeline WHERE proposal_id = $1 ORDER BY time, sequence",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .expect("timeline");
    assert_eq!(
        types,
        [
            "buendel.proposal.submitted.v1",
            "buendel.proposal.screened.v1",
            "buendel.proposal.revised.v1",
            "buendel.proposal.screened.v1",
        ]
    );
    db.drop_database().await;
}

#[tokio::test]
async fn lists_with_quotes_and_commas_and_the_published_data_are_stored_exactly() {
    let db = TestDb::new().await;
    let odd: Vec<String> = [
        "plain",
        "with \"quotes\"",
        "back\\slash",
        "comma, {braces}",
        "NULL",
        "",
        "  spaced  ",
        "Übergänge – ökologisch",
    ]
    .map(String::from)
    .to_vec();
    let (batched, single) = (Uuid::new_v4(), Uuid::new_v4());
    let mut stream = Stream::new();
    let mut events = Vec::new();
    for id in [batched, single] {
        let mut event = submitted(id);
        if let ProposalEvent::Submitted(submitted) = &mut event {
            submitted.terms.focus_areas.clone_from(&odd);
            submitted.terms.districts = odd.iter().rev().cloned().collect();
        }
        events.push(stream.event(event));
    }

    apply_batch(&db.pool, &ProposalsProjection, &events[..1])
        .await
        .expect("the batched path");
    let mut tx = db.pool.begin().await.expect("begin");
    ProposalsProjection
        .apply(&mut tx, 2, &events[1].subject, &events[1].payload)
        .await
        .expect("the one-by-one path");
    tx.commit().await.expect("commit");

    for id in [batched, single] {
        let (focus_areas, districts): (Vec<String>, Vec<String>) =
            sqlx::query_as("SELECT focus_areas, districts FROM proposals WHERE proposal_id = $1")
                .bind(id)
                .fetch_one(&db.pool)
                .await
                .expect("row");
        assert_eq!(focus_areas, odd);
        assert_eq!(districts, odd.iter().rev().cloned().collect::<Vec<_>>());
    }
    #[derive(serde::Deserialize)]
    struct Published {
        data: Box<serde_json::value::RawValue>,
    }
    for event in &events {
        let published: Published = serde_json::from_slice(&event.payload).expect("envelope");
        let stored: String = sqlx::query_scalar(
            "SELECT data::text FROM proposal_timeline WHERE stream = 'PROPOSALS' AND sequence = $1",
        )
        .bind(i64::try_from(event.sequence).expect("small"))
        .fetch_one(&db.pool)
        .await
        .expect("timeline row");
        assert_eq!(stored, published.data.get(), "byte for byte as published");
    }
    db.drop_database().await;
}

#[tokio::test]
async fn a_failed_screening_and_a_withdrawal_set_their_statuses() {
    let db = TestDb::new().await;
    let (failed, gone) = (Uuid::new_v4(), Uuid::new_v4());
    let mut stream = Stream::new();
    let batch = [
        stream.event(submitted(failed)),
        stream.event(submitted(gone)),
        stream.event(screened(failed, false)),
        stream.event(withdrawn(gone)),
    ];

    let checkpoint = apply_batch(&db.pool, &ProposalsProjection, &batch)
        .await
        .expect("applies");

    assert_eq!(checkpoint, 4);
    assert_eq!(row(&db.pool, failed).await.status, "screening_failed");
    assert_eq!(row(&db.pool, gone).await.status, "withdrawn");
    db.drop_database().await;
}

#[tokio::test]
async fn applying_the_same_batch_twice_changes_nothing() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let mut stream = Stream::new();
    let batch = [
        stream.event(submitted(id)),
        stream.event(screened(id, true)),
        stream.event(withdrawn(id)),
    ];

    let first = apply_batch(&db.pool, &ProposalsProjection, &batch)
        .await
        .expect("first");
    let before = snapshot(&db.pool).await;
    let second = apply_batch(&db.pool, &ProposalsProjection, &batch)
        .await
        .expect("second");
    let partial = apply_batch(&db.pool, &ProposalsProjection, &batch[..2])
        .await
        .expect("a replayed prefix");

    assert_eq!((first, second, partial), (3, 3, 3));
    assert_eq!(snapshot(&db.pool).await, before);
    assert_eq!(row(&db.pool, id).await.status, "withdrawn");
    db.drop_database().await;
}

#[tokio::test]
async fn an_event_applied_again_without_the_checkpoint_changes_nothing_either() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let mut stream = Stream::new();
    let events = [
        stream.event(submitted(id)),
        stream.event(screened(id, false)),
        stream.event(revised(id)),
    ];
    let apply_all = || async {
        let mut tx = db.pool.begin().await.expect("begin");
        for event in &events {
            ProposalsProjection
                .apply(&mut tx, event.sequence, &event.subject, &event.payload)
                .await
                .expect("applies");
        }
        tx.commit().await.expect("commit");
    };

    apply_all().await;
    let before = snapshot(&db.pool).await;
    apply_all().await;

    assert_eq!(snapshot(&db.pool).await, before);
    db.drop_database().await;
}

#[tokio::test]
async fn a_batch_beyond_a_hole_waits_for_the_missing_event() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let mut stream = Stream::new();
    let events = [
        stream.event(submitted(id)),
        stream.event(screened(id, false)),
        stream.event(revised(id)),
    ];

    let early = apply_batch(
        &db.pool,
        &ProposalsProjection,
        &[events[0].clone(), events[2].clone()],
    )
    .await
    .expect("applies the part before the hole");
    assert_eq!(early, 1);
    assert_eq!(row(&db.pool, id).await.status, "submitted");
    assert_eq!(row(&db.pool, id).await.title, "Pflege lernen");

    let rest = apply_batch(
        &db.pool,
        &ProposalsProjection,
        &[events[2].clone(), events[1].clone()],
    )
    .await
    .expect("applies the rest in order");
    assert_eq!(rest, 3);
    assert_eq!(row(&db.pool, id).await.title, "Pflege lernen, kleiner");
    assert_eq!(row(&db.pool, id).await.status, "submitted");
    db.drop_database().await;
}

#[tokio::test]
async fn an_undecodable_event_is_an_error_naming_its_sequence_and_commits_nothing() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let mut stream = Stream::new();
    let good = stream.event(submitted(id));
    let bad = Stored {
        sequence: 2,
        subject: "t.proposal.x".into(),
        payload: Bytes::from_static(b"{\"nope\":1}"),
        trace: None,
    };

    let error = apply_batch(&db.pool, &ProposalsProjection, &[good, bad])
        .await
        .expect_err("refused");

    assert!(
        matches!(error, ProjectionError::Undecodable { sequence: 2, .. }),
        "{error}"
    );
    assert_eq!(
        checkpoint(&db.pool, StreamKind::Proposals)
            .await
            .expect("checkpoint"),
        0
    );
    assert!(snapshot(&db.pool).await.is_empty());
    db.drop_database().await;
}

#[tokio::test]
async fn two_projectors_applying_overlapping_batches_at_once_apply_each_event_once() {
    let db = TestDb::new().await;
    let mut stream = Stream::new();
    let mut events = Vec::new();
    for _ in 0..50 {
        let id = Uuid::new_v4();
        events.push(stream.event(submitted(id)));
        events.push(stream.event(screened(id, true)));
    }

    let (a, b) = tokio::join!(
        apply_batch(&db.pool, &ProposalsProjection, &events[..70]),
        apply_batch(&db.pool, &ProposalsProjection, &events[30..]),
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    let last = apply_batch(&db.pool, &ProposalsProjection, &events)
        .await
        .expect("catch up");

    // Whichever ran first, the other either continued it or found only a hole.
    assert!(a == 70 || a == 100, "a = {a}");
    assert!(b == 0 || b == 100, "b = {b}");
    assert_eq!(last, 100);
    let (in_review, timeline): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM proposals WHERE status = 'in_review'), \
                (SELECT count(*) FROM proposal_timeline)",
    )
    .fetch_one(&db.pool)
    .await
    .expect("counts");
    assert_eq!((in_review, timeline), (50, 100));
    db.drop_database().await;
}

#[tokio::test]
async fn dead_letters_are_stored_once_and_an_unreadable_one_is_kept_too() {
    let db = TestDb::new().await;
    let letter = DeadLetter {
        id: DeadLetter::id_for("T_INTAKE", 7),
        source: "intake".into(),
        subject: "t.intake.publisher".into(),
        stream_sequence: 7,
        event_id: Some("abc".into()),
        event_type: None,
        code: "invalid_input".into(),
        reasons: vec![FieldError::new(
            "data.eligible_cost_cents",
            "must be an integer",
        )],
        original_base64: DeadLetter::encode(b"{\"eligible_cost_cents\":1.5}"),
        rejected_at: Utc
            .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
            .single()
            .expect("time"),
    };
    let stored = Stored {
        sequence: 1,
        subject: "t.deadletter.intake".into(),
        payload: Bytes::from(serde_json::to_vec(&letter).expect("json")),
        trace: None,
    };
    let junk = Stored {
        sequence: 2,
        subject: "t.deadletter.somebody".into(),
        payload: Bytes::from_static(b"junk"),
        trace: None,
    };

    let checkpoint = apply_batch(&db.pool, &DeadLettersProjection, &[stored.clone(), junk])
        .await
        .expect("applies");
    let again = apply_batch(&db.pool, &DeadLettersProjection, &[stored])
        .await
        .expect("replay");

    assert_eq!((checkpoint, again), (2, 2));
    let rows: Vec<(i64, String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT dl_sequence, source, code, reasons FROM dead_letters ORDER BY dl_sequence",
    )
    .fetch_all(&db.pool)
    .await
    .expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2.as_str()),
        ("intake", "invalid_input")
    );
    assert_eq!(rows[0].3[0]["field"], "data.eligible_cost_cents");
    assert_eq!(
        (rows[1].1.as_str(), rows[1].2.as_str()),
        ("somebody", "unreadable_dead_letter")
    );
    db.drop_database().await;
}

/// Appends the events of `stream` to a real PROPOSALS stream, in order.
async fn append_all(store: &EventStore, events: &[Stored]) {
    let mut last: std::collections::HashMap<String, u64> = Default::default();
    for event in events {
        let envelope: Envelope<ProposalEvent> =
            serde_json::from_slice(&event.payload).expect("envelope");
        let subject = store
            .namespace()
            .subject(StreamKind::Proposals, &envelope.subject);
        let expected = last.get(&subject).copied().unwrap_or(0);
        let sequences = store
            .append(
                &subject,
                expected,
                &[Pending {
                    id: envelope.id,
                    payload: event.payload.clone(),
                }],
            )
            .await
            .expect("append");
        last.insert(subject, sequences[0]);
    }
}

async fn wait_for_checkpoint(pool: &PgPool, kind: StreamKind, wanted: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while checkpoint(pool, kind).await.expect("checkpoint") < wanted {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projector did not reach {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_runner_projects_a_stream_and_a_rebuild_replays_it_to_the_same_rows() {
    let db = TestDb::new().await;
    let client = buendel_runtime::connect::nats(&buendel_testing::nats_url(), "projector-test")
        .await
        .expect("the test NATS node answers");
    let store = EventStore::new(client, db.ns.clone());
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .expect("streams");
    let mut stream = Stream::new();
    let mut events = Vec::new();
    for _ in 0..30 {
        let id = Uuid::new_v4();
        events.push(stream.event(submitted(id)));
        events.push(stream.event(screened(id, true)));
    }
    append_all(&store, &events[..40]).await;

    let shutdown = CancellationToken::new();
    let running = tokio::spawn(buendel_projector::run(
        store.clone(),
        db.pool.clone(),
        shutdown.clone(),
    ));
    wait_for_checkpoint(&db.pool, StreamKind::Proposals, 40).await;
    append_all(&store, &events[40..]).await;
    wait_for_checkpoint(&db.pool, StreamKind::Proposals, 60).await;
    shutdown.cancel();
    running.await.expect("joins").expect("stops cleanly");
    let first = snapshot(&db.pool).await;
    assert_eq!(first.len(), 90);

    buendel_projector::reset(&store, &db.pool)
        .await
        .expect("rebuild");
    assert!(snapshot(&db.pool).await.is_empty());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(buendel_projector::run(
        store.clone(),
        db.pool.clone(),
        shutdown.clone(),
    ));
    wait_for_checkpoint(&db.pool, StreamKind::Proposals, 60).await;
    shutdown.cancel();
    running.await.expect("joins").expect("stops cleanly");

    assert_eq!(snapshot(&db.pool).await, first);
    store.delete_streams().await.expect("cleanup streams");
    db.drop_database().await;
}

/// A mixed PROPOSALS history: each proposal submitted and screened, some failing, revised and
/// screened again, withdrawn, one with a second `submitted`; emitted round-robin, so a proposal's
/// events are spread over several batches.
fn mixed_history(stream: &mut Stream, proposals: usize) -> Vec<Stored> {
    let lives: Vec<Vec<ProposalEvent>> = (0..proposals)
        .map(|k| {
            let id = Uuid::new_v4();
            let mut life = vec![submitted(id), screened(id, k % 3 != 0)];
            if k % 3 == 0 {
                life.extend([revised(id), screened(id, true)]);
            }
            if k % 4 == 1 {
                life.push(withdrawn(id));
            }
            if k == 5 {
                life.push(submitted(id));
                life.push(screened(id, false));
            }
            life
        })
        .collect();
    let longest = lives.iter().map(Vec::len).max().unwrap_or(0);
    let mut events = Vec::new();
    for step in 0..longest {
        for life in &lives {
            if let Some(event) = life.get(step) {
                events.push(stream.event(event.clone()));
            }
        }
    }
    events
}

#[tokio::test]
async fn batches_of_any_size_give_the_rows_of_applying_the_events_one_by_one() {
    let mut stream = Stream::new();
    let events = mixed_history(&mut stream, 24);
    let mut snapshots = Vec::new();
    for size in [1, 5, 17, events.len()] {
        let db = TestDb::new().await;
        for batch in events.chunks(size) {
            apply_batch(&db.pool, &ProposalsProjection, batch)
                .await
                .expect("projected");
        }
        snapshots.push((size, snapshot(&db.pool).await));
        db.drop_database().await;
    }
    // A prefix already applied without moving the checkpoint, then everything again from 1.
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.expect("begin");
    ProposalsProjection
        .apply_many(&mut tx, &events[..events.len() / 2])
        .await
        .expect("prefix applied");
    tx.commit().await.expect("commit");
    for batch in events.chunks(7) {
        apply_batch(&db.pool, &ProposalsProjection, batch)
            .await
            .expect("projected");
    }
    snapshots.push((0, snapshot(&db.pool).await));
    db.drop_database().await;

    let (_, one_by_one) = &snapshots[0];
    assert_eq!(one_by_one.len(), 24 + events.len());
    for (size, rows) in &snapshots[1..] {
        assert_eq!(rows, one_by_one, "batches of {size}");
    }
}

#[tokio::test]
async fn a_screening_of_a_proposal_never_submitted_is_an_orphan_and_commits_nothing() {
    let db = TestDb::new().await;
    let known = Uuid::new_v4();
    let unknown = Uuid::new_v4();
    let mut stream = Stream::new();
    let events = [
        stream.event(submitted(known)),
        stream.event(screened(known, true)),
        stream.event(screened(unknown, true)),
    ];

    let result = apply_batch(&db.pool, &ProposalsProjection, &events).await;

    match result {
        Err(ProjectionError::Orphan {
            sequence,
            proposal_id,
            ..
        }) => assert_eq!((sequence, proposal_id), (3, unknown)),
        other => panic!("expected an orphan, got {other:?}"),
    }
    assert!(snapshot(&db.pool).await.is_empty());
    db.drop_database().await;
}

/// The shape of every read-model table as the catalog has it: columns with types and defaults,
/// constraints, indexes by name and definition, storage options, owner and grants.
async fn shape(pool: &PgPool) -> Vec<String> {
    let mut out = Vec::new();
    for table in buendel_projector::TABLES {
        let live = format!("public.{table}");
        let lines: Vec<String> = sqlx::query_scalar(
            "SELECT format('%s owner=%s acl=%s options=%s', c.relname, pg_get_userbyid(c.relowner),
                           c.relacl::text, c.reloptions::text)
               FROM pg_class c WHERE c.oid = $1::regclass
             UNION ALL
             (SELECT format('%s column %s %s not null %s default %s', $1, a.attname,
                            format_type(a.atttypid, a.atttypmod), a.attnotnull,
                            pg_get_expr(d.adbin, d.adrelid))
                FROM pg_attribute a
                LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
               ORDER BY a.attnum)
             UNION ALL
             (SELECT format('%s constraint %s %s', $1, conname, pg_get_constraintdef(oid))
                FROM pg_constraint WHERE conrelid = $1::regclass ORDER BY conname)
             UNION ALL
             (SELECT format('%s index %s', $1, pg_get_indexdef(indexrelid))
                FROM pg_index WHERE indrelid = $1::regclass ORDER BY 1)",
        )
        .bind(&live)
        .fetch_all(pool)
        .await
        .expect("shape");
        out.extend(lines);
    }
    out
}

/// The schemas a rebuild works in that exist.
async fn rebuild_schemas(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname IN ($1, $2) ORDER BY 1",
    )
    .bind(buendel_projector::generation::NEXT_SCHEMA)
    .bind(buendel_projector::generation::OLD_SCHEMA)
    .fetch_all(pool)
    .await
    .expect("schemas")
}

async fn store_with_history(db: &TestDb, proposals: usize) -> (EventStore, u64) {
    let client = buendel_runtime::connect::nats(&buendel_testing::nats_url(), "projector-test")
        .await
        .expect("the test NATS node answers");
    let store = EventStore::new(client, db.ns.clone());
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .expect("streams");
    let events = mixed_history(&mut Stream::new(), proposals);
    append_all(&store, &events).await;
    (store, events.len() as u64)
}

/// Runs the live projector until it has applied the `events` of PROPOSALS, then stops it.
async fn project_history(db: &TestDb, store: &EventStore, events: u64) {
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(buendel_projector::run(
        store.clone(),
        db.pool.clone(),
        shutdown.clone(),
    ));
    wait_for_checkpoint(&db.pool, StreamKind::Proposals, events).await;
    shutdown.cancel();
    running.await.expect("joins").expect("stops cleanly");
}

async fn rebuild(
    store: &EventStore,
    pool: &PgPool,
    limits: &buendel_projector::RebuildLimits,
    restart: bool,
) -> buendel_projector::Report {
    buendel_projector::rebuild(store, pool, limits, restart, &mut |_| {})
        .await
        .expect("rebuild")
}

#[tokio::test]
async fn a_blue_green_rebuild_keeps_every_tables_shape_options_owner_and_grants() {
    let db = TestDb::new().await;
    db::create_roles(&db.pool, &db.ns).await.expect("roles");
    let (store, events) = store_with_history(&db, 20).await;
    project_history(&db, &store, events).await;
    let (shape_before, rows_before) = (shape(&db.pool).await, snapshot(&db.pool).await);
    assert!(
        shape_before
            .iter()
            .any(|l| l.contains("_reader=r/") && l.starts_with("proposals owner=")),
        "{shape_before:#?}"
    );

    let report = rebuild(
        &store,
        &db.pool,
        &buendel_projector::RebuildLimits::default(),
        false,
    )
    .await;

    assert!(report.switched && report.old_dropped && !report.resumed);
    assert_eq!(report.applied, events);
    assert_eq!(shape(&db.pool).await, shape_before);
    assert_eq!(snapshot(&db.pool).await, rows_before);
    assert!(rebuild_schemas(&db.pool).await.is_empty());
    store.delete_streams().await.expect("cleanup streams");
    let ns = db.ns.clone();
    db.drop_database().await;
    let options = db::options(POSTGRES, &ns).expect("options");
    db::drop_roles(&options, &ns).await.expect("roles dropped");
}

#[tokio::test]
async fn a_rebuild_stopped_midway_is_resumed_and_ends_with_the_rows_of_a_fresh_projection() {
    let db = TestDb::new().await;
    let (store, events) = store_with_history(&db, 30).await;
    let stopping = buendel_projector::RebuildLimits {
        batch_max: 10,
        stop_after_events: Some(25),
        ..buendel_projector::RebuildLimits::default()
    };

    let first = rebuild(&store, &db.pool, &stopping, false).await;
    assert!(!first.switched);
    assert!(first.applied >= 25 && first.applied < events, "{first:?}");
    assert_eq!(
        rebuild_schemas(&db.pool).await,
        [buendel_projector::generation::NEXT_SCHEMA]
    );
    assert!(
        snapshot(&db.pool).await.is_empty(),
        "the live tables untouched"
    );

    // Two rebuilds never interleave: one that finds the lock held refuses to start.
    let mut holder = sqlx::PgConnection::connect_with(&db.pool.connect_options())
        .await
        .expect("connect");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(buendel_projector::generation::LOCK_KEY)
        .execute(&mut holder)
        .await
        .expect("lock");
    let refused = buendel_projector::rebuild(&store, &db.pool, &stopping, false, &mut |_| {})
        .await
        .expect_err("refused while another holds the lock");
    assert!(
        format!("{refused:#}").contains("another rebuild"),
        "{refused:#}"
    );
    holder.close().await.expect("lock released");

    let mut seen = Vec::new();
    let second = buendel_projector::rebuild(
        &store,
        &db.pool,
        &buendel_projector::RebuildLimits {
            batch_max: 10,
            ..buendel_projector::RebuildLimits::default()
        },
        false,
        &mut |p| seen.push(*p),
    )
    .await
    .expect("resumed");
    assert!(second.resumed && second.switched, "{second:?}");
    assert_eq!(
        first.applied + second.applied,
        events,
        "each event applied once"
    );
    assert_eq!(
        seen.first().map(|p| p.checkpoint),
        Some((first.applied + 10).min(events)),
        "it went on from where the first stopped"
    );
    assert_eq!(
        checkpoint(&db.pool, StreamKind::Proposals)
            .await
            .expect("checkpoint"),
        events
    );
    let resumed = snapshot(&db.pool).await;

    // `restart` throws a generation left midway away and starts from 1.
    let third = rebuild(&store, &db.pool, &stopping, false).await;
    assert!(!third.switched);
    let restarted = rebuild(
        &store,
        &db.pool,
        &buendel_projector::RebuildLimits::default(),
        true,
    )
    .await;
    assert!(!restarted.resumed && restarted.switched);
    assert_eq!(restarted.applied, events);
    assert_eq!(snapshot(&db.pool).await, resumed);

    // A projection from sequence 1 by the live projector gives the same rows.
    buendel_projector::reset(&store, &db.pool)
        .await
        .expect("reset");
    project_history(&db, &store, events).await;
    assert_eq!(snapshot(&db.pool).await, resumed);
    assert!(rebuild_schemas(&db.pool).await.is_empty());
    store.delete_streams().await.expect("cleanup streams");
    db.drop_database().await;
}

#[tokio::test]
async fn the_switch_waits_for_a_reader_whose_snapshot_is_older_than_the_generation() {
    let db = TestDb::new().await;
    let (store, events) = store_with_history(&db, 30).await;
    project_history(&db, &store, events).await;
    let live = snapshot(&db.pool).await;
    let proposals: i64 = sqlx::query_scalar("SELECT count(*) FROM proposals")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    let stopping = buendel_projector::RebuildLimits {
        batch_max: 10,
        stop_after_events: Some(10),
        ..buendel_projector::RebuildLimits::default()
    };
    let first = rebuild(&store, &db.pool, &stopping, false).await;
    assert!(!first.switched && first.applied < events);

    // A repeatable-read reader takes its snapshot (on a table no rebuild moves) while the
    // generation still lacks most events, and has not read a read model yet.
    let mut reader = sqlx::PgConnection::connect_with(&db.pool.connect_options())
        .await
        .expect("connect");
    let mut tx = reader.begin().await.expect("begin");
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .expect("repeatable read");
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE version > $1")
        .bind(0_i64)
        .fetch_one(&mut *tx)
        .await
        .expect("snapshot taken");

    let resuming = buendel_projector::RebuildLimits {
        snapshots_wait_ms: 100,
        retry_pause_ms: 20,
        switch_attempts_max: 1_000,
        ..buendel_projector::RebuildLimits::default()
    };
    let mut task = tokio::spawn({
        let (store, pool) = (store.clone(), db.pool.clone());
        async move { buendel_projector::rebuild(&store, &pool, &resuming, false, &mut |_| {}).await }
    });
    // Switched now, the reader would read the new tables in its older snapshot, in which the
    // generation has only what it had before the reader began.
    let waited = tokio::time::timeout(Duration::from_secs(1), &mut task).await;
    assert!(
        waited.is_err(),
        "the switch did not wait for the older snapshot"
    );
    let seen: i64 =
        sqlx::query_scalar("SELECT count(*) FROM proposals WHERE created_sequence > $1")
            .bind(0_i64)
            .fetch_one(&mut *tx)
            .await
            .expect("read");
    assert_eq!(seen, proposals);
    tx.commit().await.expect("commit");

    let report = task.await.expect("joins").expect("rebuild");
    assert!(report.switched && report.resumed, "{report:?}");
    assert!(report.switch_attempts > 1, "{report:?}");
    assert_eq!(snapshot(&db.pool).await, live);
    reader.close().await.expect("close");
    store.delete_streams().await.expect("cleanup streams");
    db.drop_database().await;
}
