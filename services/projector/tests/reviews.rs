//! The REVIEWS projection against a real Postgres: review and alliance events, encoded as the
//! approval service stores them, applied with `apply_batch`; each test in a fresh database that it
//! drops at the end.

use std::time::Duration;

use bytes::Bytes;
use chrono::{NaiveDate, TimeZone as _, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use buendel_contract::alliance::{AllianceEvent, PartnerJoined, PartnerLeft, Registered};
use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{
    Applicant, ProjectType, ProposalEvent, Screened, Submitted, Terms,
};
use buendel_contract::reference::{Partner, RegionCategory};
use buendel_contract::review::{
    ConflictDeclared, GrantDecided, Opened, QuorumRule, ReviewEvent, StatementIssued, Tally,
    Verdict, VoteChoice, VoteRecorded,
};
use buendel_contract::{BasisPoints, Cents, Envelope, EventKind, Meta, Namespace};
use buendel_projector::checkpoint::checkpoint;
use buendel_projector::{
    apply_batch, Projection as _, ProjectionError, ProposalsProjection, ReviewsProjection,
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

/// Encodes events of one stream the way the services store them: stream sequences from 1,
/// aggregate versions per subject.
struct Stream {
    prefix: &'static str,
    next_sequence: u64,
    versions: std::collections::HashMap<String, u64>,
}

impl Stream {
    fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            next_sequence: 1,
            versions: Default::default(),
        }
    }

    fn event<E: EventKind>(&mut self, aggregate: &str, event: E) -> Stored {
        let version = self.versions.entry(aggregate.to_owned()).or_insert(0);
        *version += 1;
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let meta = Meta {
            source: "/buendel/test".into(),
            time: Utc
                .with_ymd_and_hms(2026, 4, 1, 9, 0, 0)
                .single()
                .expect("time")
                + chrono::Duration::minutes(i64::try_from(sequence).expect("small")),
            correlation_id: None,
            causation_id: Some(format!("cause-{sequence}")),
            actor: "operator:test".into(),
        };
        let envelope = Envelope::new(Uuid::new_v4(), aggregate, *version, event, &meta);
        Stored {
            sequence,
            subject: format!("t.{}.{aggregate}", self.prefix),
            payload: Bytes::from(serde_json::to_vec(&envelope).expect("serializable")),
            trace: None,
        }
    }

    fn review(&mut self, event: ReviewEvent) -> Stored {
        let id = event.proposal_id().to_string();
        self.event(&id, event)
    }

    fn alliance(&mut self, event: AllianceEvent) -> Stored {
        let id = format!("alliance-{}", event.alliance_id());
        self.event(&id, event)
    }
}

fn partner(id: &str) -> Partner {
    Partner {
        id: id.into(),
        name: format!("Partner {id}"),
    }
}

fn opened(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::Opened(Opened {
        proposal_id,
        alliance_id: "non".into(),
        partners: ["lk-harburg", "dgb", "hwk"].map(partner).to_vec(),
        quorum: QuorumRule::default(),
        region: RegionCategory::Transition,
        eligible_cost_cents: Cents(10_000_000),
        requested_rate_bp: BasisPoints(7_000),
        rules_version: "esf-plus-2021-2027.1".into(),
        max_total_rate_bp: BasisPoints(7_000),
        max_esf_rate_bp: BasisPoints(6_000),
        eligible_from: NaiveDate::from_ymd_opt(2021, 1, 1).expect("date"),
        eligible_until: NaiveDate::from_ymd_opt(2029, 12, 31).expect("date"),
    })
}

fn vote(proposal_id: Uuid, partner_id: &str, vote: VoteChoice) -> ReviewEvent {
    ReviewEvent::VoteRecorded(VoteRecorded {
        proposal_id,
        partner_id: partner_id.into(),
        vote,
        comment: Some(format!("{partner_id} says {}", vote.as_str())),
    })
}

fn recusal(proposal_id: Uuid, partner_id: &str) -> ReviewEvent {
    ReviewEvent::ConflictDeclared(ConflictDeclared {
        proposal_id,
        partner_id: partner_id.into(),
        reason: "board member of the applicant".into(),
    })
}

fn statement(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::StatementIssued(StatementIssued {
        money: None,
        proposal_id,
        verdict: Verdict::Positive,
        conditions: vec!["cooperate with the employment agency".into()],
        tally: Tally {
            yes: 2,
            no: 0,
            abstain: 0,
            recused: 1,
            eligible: 2,
        },
        quorum_met: true,
    })
}

fn grant(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::GrantDecided(GrantDecided {
        fund: None,
        proposal_id,
        bank_reference: "NB-2026-0042".into(),
        eligible_cost_cents: Cents(10_000_000),
        total_rate_bp: BasisPoints(7_000),
        esf_rate_bp: BasisPoints(6_000),
        esf_cents: Cents(6_000_000),
        land_cents: Cents(1_000_000),
        period_from: NaiveDate::from_ymd_opt(2026, 9, 1).expect("date"),
        period_to: NaiveDate::from_ymd_opt(2028, 8, 31).expect("date"),
        amendment: None,
    })
}

fn registered(alliance_id: &str) -> AllianceEvent {
    AllianceEvent::Registered(Registered {
        alliance_id: alliance_id.into(),
        name: "Allianz für Fachkräfte Nordostniedersachsen".into(),
        region: RegionCategory::Transition,
        districts: vec!["Harburg".into(), "Lüneburg".into()],
        focus_areas: vec!["dual_training".into(), "good_work".into()],
        partners: ["lk-harburg", "dgb"].map(partner).to_vec(),
        quorum: QuorumRule::default(),
        rules_version: "esf-plus-2021-2027.1".into(),
        application_deadline: NaiveDate::from_ymd_opt(2027, 6, 30).expect("date"),
    })
}

fn submitted(proposal_id: Uuid) -> ProposalEvent {
    ProposalEvent::Submitted(Submitted {
        proposal_id,
        alliance_id: "non".into(),
        applicant: Applicant {
            name: "Bildungswerk e.V.".into(),
            kind: "verein".into(),
            district: "Harburg".into(),
        },
        terms: Terms {
            title: "Pflege lernen".into(),
            summary: "Weiterbildung".into(),
            project_type: ProjectType::Training,
            focus_areas: vec!["good_work".into()],
            districts: vec!["Harburg".into()],
            planned_start: NaiveDate::from_ymd_opt(2026, 9, 1).expect("date"),
            duration_months: 24,
            eligible_cost_cents: Cents(10_000_000),
            requested_rate_bp: BasisPoints(7_000),
        },
    })
}

fn screened(proposal_id: Uuid) -> ProposalEvent {
    ProposalEvent::Screened(Screened {
        proposal_id,
        passed: true,
        rules_version: "esf-plus-2021-2027.1".into(),
        results: vec![],
        subject: None,
    })
}

/// The review row as JSON.
async fn review_row(pool: &PgPool, proposal_id: Uuid) -> Value {
    sqlx::query_scalar("SELECT to_jsonb(r) FROM proposal_reviews r WHERE proposal_id = $1")
        .bind(proposal_id)
        .fetch_one(pool)
        .await
        .expect("the review row")
}

/// The current votes: (partner, vote), in the order cast.
async fn votes(pool: &PgPool, proposal_id: Uuid) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT partner_id, vote FROM review_votes WHERE proposal_id = $1 ORDER BY sequence",
    )
    .bind(proposal_id)
    .fetch_all(pool)
    .await
    .expect("votes")
}

/// Every row the REVIEWS projection writes, as text, to compare whole states.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT to_jsonb(r)::text FROM proposal_reviews r \
         UNION ALL SELECT to_jsonb(v)::text FROM review_votes v \
         UNION ALL SELECT to_jsonb(c)::text FROM review_recusals c \
         UNION ALL SELECT to_jsonb(a)::text FROM alliances a \
         UNION ALL SELECT to_jsonb(t)::text FROM proposal_timeline t \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("snapshot")
}

#[tokio::test]
async fn a_review_through_to_the_grant_builds_its_row_votes_and_timeline() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let mut reviews = Stream::new("review");
    let batch = [
        reviews.review(opened(id)),
        reviews.review(vote(id, "lk-harburg", VoteChoice::No)),
        reviews.review(vote(id, "dgb", VoteChoice::Yes)),
        reviews.review(vote(id, "lk-harburg", VoteChoice::Yes)),
        reviews.review(recusal(id, "hwk")),
        reviews.review(statement(id)),
        reviews.review(grant(id)),
    ];

    let checkpoint = apply_batch(&db.pool, &ReviewsProjection, &batch)
        .await
        .expect("applies");

    assert_eq!(checkpoint, 7);
    let row = review_row(&db.pool, id).await;
    assert_eq!(row["review_status"], "granted");
    assert_eq!(row["alliance_id"], "non");
    assert_eq!(row["region"], "transition");
    assert_eq!(
        row["review_roster"][1],
        json!({"id": "dgb", "name": "Partner dgb"})
    );
    assert_eq!(row["quorum"], json!({"min_participation_bp": 5001}));
    assert_eq!(row["statement_verdict"], "positive");
    assert_eq!(row["quorum_met"], true);
    assert_eq!(row["tally"]["recused"], 1);
    assert_eq!(
        row["statement_conditions"],
        json!(["cooperate with the employment agency"])
    );
    let terms = &row["grant_terms"];
    assert_eq!(terms["bank_reference"], "NB-2026-0042");
    assert_eq!(
        (
            &terms["esf_cents"],
            &terms["land_cents"],
            &terms["grant_cents"]
        ),
        (&json!(6_000_000), &json!(1_000_000), &json!(7_000_000))
    );
    assert_eq!(terms["period_to"], "2028-08-31");
    assert_eq!(terms["amendment"], Value::Null);
    assert_eq!(
        (&row["last_sequence"], &row["version"]),
        (&json!(7), &json!(7))
    );
    assert_eq!(
        votes(&db.pool, id).await,
        [
            ("dgb".into(), "yes".into()),
            ("lk-harburg".into(), "yes".into())
        ]
    );
    let timeline: Vec<(String, String)> = sqlx::query_as(
        "SELECT stream, event_type FROM proposal_timeline WHERE proposal_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .expect("timeline");
    assert_eq!(timeline.len(), 7);
    assert!(timeline.iter().all(|(stream, _)| stream == "REVIEWS"));
    assert_eq!(timeline[0].1, "buendel.review.opened.v1");
    assert_eq!(timeline[6].1, "buendel.review.grant_decided.v1");
    db.drop_database().await;
}

#[tokio::test]
async fn a_review_event_before_its_proposal_row_is_projected_without_waiting_for_it() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let mut reviews = Stream::new("review");
    let mut proposals = Stream::new("proposal");

    let applied = apply_batch(&db.pool, &ReviewsProjection, &[reviews.review(opened(id))])
        .await
        .expect("no proposal row needed");
    assert_eq!(applied, 1);
    assert_eq!(review_row(&db.pool, id).await["review_status"], "in_review");
    let proposal_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM proposals")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(proposal_rows, 0);

    let later = apply_batch(
        &db.pool,
        &ProposalsProjection,
        &[
            proposals.event(&id.to_string(), submitted(id)),
            proposals.event(&id.to_string(), screened(id)),
        ],
    )
    .await
    .expect("the proposal arrives later");
    assert_eq!(later, 2);
    let streams: Vec<String> = sqlx::query_scalar(
        "SELECT stream FROM proposal_timeline WHERE proposal_id = $1 ORDER BY stream",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .expect("timeline");
    assert_eq!(streams, ["PROPOSALS", "PROPOSALS", "REVIEWS"]);
    db.drop_database().await;
}

#[tokio::test]
async fn a_changed_vote_then_a_recusal_leaves_no_vote_of_that_partner_even_when_replayed() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let mut reviews = Stream::new("review");
    let events = [
        reviews.review(opened(id)),
        reviews.review(vote(id, "dgb", VoteChoice::Yes)),
        reviews.review(vote(id, "lk-harburg", VoteChoice::Abstain)),
        reviews.review(vote(id, "dgb", VoteChoice::No)),
    ];
    apply_batch(&db.pool, &ReviewsProjection, &events)
        .await
        .expect("applies");
    assert_eq!(
        votes(&db.pool, id).await,
        [
            ("lk-harburg".into(), "abstain".into()),
            ("dgb".into(), "no".into())
        ]
    );

    let recused = reviews.review(recusal(id, "dgb"));
    apply_batch(&db.pool, &ReviewsProjection, std::slice::from_ref(&recused))
        .await
        .expect("applies");
    assert_eq!(
        votes(&db.pool, id).await,
        [("lk-harburg".into(), "abstain".into())]
    );
    let recusals: Vec<(String, String)> =
        sqlx::query_as("SELECT partner_id, reason FROM review_recusals WHERE proposal_id = $1")
            .bind(id)
            .fetch_all(&db.pool)
            .await
            .expect("recusals");
    assert_eq!(
        recusals,
        [("dgb".into(), "board member of the applicant".into())]
    );

    // Every event applied again, without the checkpoint: the recused partner's vote stays gone.
    let before = snapshot(&db.pool).await;
    let mut tx = db.pool.begin().await.expect("begin");
    for event in events.iter().chain([&recused]) {
        ReviewsProjection
            .apply(&mut tx, event.sequence, &event.subject, &event.payload)
            .await
            .expect("applies again");
    }
    tx.commit().await.expect("commit");
    assert_eq!(snapshot(&db.pool).await, before);
    db.drop_database().await;
}

#[tokio::test]
async fn applying_the_same_review_batch_twice_changes_nothing() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let mut reviews = Stream::new("review");
    let batch = [
        reviews.alliance(registered("non")),
        reviews.review(opened(id)),
        reviews.review(vote(id, "dgb", VoteChoice::Yes)),
        reviews.review(statement(id)),
    ];

    let first = apply_batch(&db.pool, &ReviewsProjection, &batch)
        .await
        .expect("first");
    let before = snapshot(&db.pool).await;
    let second = apply_batch(&db.pool, &ReviewsProjection, &batch)
        .await
        .expect("second");

    assert_eq!((first, second), (4, 4));
    assert_eq!(snapshot(&db.pool).await, before);
    db.drop_database().await;
}

#[tokio::test]
async fn alliance_events_keep_the_current_roster_in_joining_order() {
    let db = TestDb::new().await;
    let mut reviews = Stream::new("review");
    let events = [
        reviews.alliance(registered("non")),
        reviews.alliance(AllianceEvent::PartnerJoined(PartnerJoined {
            alliance_id: "non".into(),
            partner: partner("leuphana"),
        })),
        reviews.alliance(AllianceEvent::PartnerLeft(PartnerLeft {
            alliance_id: "non".into(),
            partner_id: "lk-harburg".into(),
            reason: "left the alliance".into(),
        })),
    ];

    apply_batch(&db.pool, &ReviewsProjection, &events)
        .await
        .expect("applies");
    let mut tx = db.pool.begin().await.expect("begin");
    for event in &events {
        ReviewsProjection
            .apply(&mut tx, event.sequence, &event.subject, &event.payload)
            .await
            .expect("a replay changes nothing");
    }
    tx.commit().await.expect("commit");

    let row: Value = sqlx::query_scalar("SELECT to_jsonb(a) FROM alliances a")
        .fetch_one(&db.pool)
        .await
        .expect("the alliance");
    let partners: Vec<&str> = row["partners"]
        .as_array()
        .expect("partners")
        .iter()
        .map(|p| p["id"].as_str().expect("id"))
        .collect();
    assert_eq!(partners, ["dgb", "leuphana"]);
    assert_eq!(row["region"], "transition");
    assert_eq!(row["focus_areas"], json!(["dual_training", "good_work"]));
    assert_eq!(
        (&row["registered_sequence"], &row["last_sequence"]),
        (&json!(1), &json!(3))
    );
    let timeline: i64 = sqlx::query_scalar("SELECT count(*) FROM proposal_timeline")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(timeline, 0, "alliance events concern no proposal");
    db.drop_database().await;
}

#[tokio::test]
async fn an_alliance_event_of_an_unknown_type_is_skipped_and_the_reviews_behind_it_are_projected() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let mut reviews = Stream::new("review");
    let opened = reviews.review(opened(id));
    let future = Stored {
        sequence: 2,
        subject: "t.review.alliance-non".into(),
        payload: Bytes::from(
            serde_json::to_vec(&json!({
                "specversion": "1.0", "id": Uuid::new_v4(), "source": "/buendel/approval",
                "type": "buendel.alliance.renamed.v1", "subject": "alliance-non",
                "time": "2026-04-01T10:00:00Z", "datacontenttype": "application/json",
                "sequence": 2, "actor": "operator:test", "data": {"alliance_id": "non"}
            }))
            .expect("json"),
        ),
        trace: None,
    };
    reviews.next_sequence = 3;
    let voted = reviews.review(vote(id, "dgb", VoteChoice::Yes));

    let applied = apply_batch(&db.pool, &ReviewsProjection, &[opened, future, voted])
        .await
        .expect("never blocks");

    assert_eq!(applied, 3);
    assert_eq!(votes(&db.pool, id).await, [("dgb".into(), "yes".into())]);
    db.drop_database().await;
}

#[tokio::test]
async fn a_roster_change_of_an_alliance_never_registered_is_an_error_and_commits_nothing() {
    let db = TestDb::new().await;
    let mut reviews = Stream::new("review");
    let joined = reviews.alliance(AllianceEvent::PartnerJoined(PartnerJoined {
        alliance_id: "son".into(),
        partner: partner("vw-ag"),
    }));

    let error = apply_batch(&db.pool, &ReviewsProjection, &[joined])
        .await
        .expect_err("refused");

    assert!(
        matches!(&error, ProjectionError::UnknownAlliance { sequence: 1, alliance_id, .. } if alliance_id == "son"),
        "{error}"
    );
    assert_eq!(
        checkpoint(&db.pool, StreamKind::Reviews)
            .await
            .expect("checkpoint"),
        0
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_message_that_is_neither_a_review_nor_an_alliance_event_is_undecodable() {
    let db = TestDb::new().await;
    let stray = Stored {
        sequence: 1,
        subject: "t.review.x".into(),
        payload: Bytes::from_static(b"{\"type\":\"buendel.proposal.submitted.v1\",\"data\":{}}"),
        trace: None,
    };
    let broken_review = Stored {
        sequence: 1,
        subject: "t.review.y".into(),
        payload: Bytes::from_static(b"{\"type\":\"buendel.review.opened.v1\",\"data\":{}}"),
        trace: None,
    };

    for message in [stray, broken_review] {
        let error = apply_batch(&db.pool, &ReviewsProjection, &[message])
            .await
            .expect_err("refused");
        assert!(
            matches!(error, ProjectionError::Undecodable { sequence: 1, .. }),
            "{error}"
        );
    }
    assert!(snapshot(&db.pool).await.is_empty());
    db.drop_database().await;
}

/// Appends stored events to the real stream of `kind`, each on its subject, in order.
async fn append_all(store: &EventStore, kind: StreamKind, events: &[Stored]) {
    let mut last: std::collections::HashMap<String, u64> = Default::default();
    for event in events {
        let envelope: Value = serde_json::from_slice(&event.payload).expect("envelope");
        let aggregate = envelope["subject"].as_str().expect("subject");
        let subject = store.namespace().subject(kind, aggregate);
        let id: Uuid = envelope["id"].as_str().expect("id").parse().expect("uuid");
        let expected = last.get(&subject).copied().unwrap_or(0);
        let sequences = store
            .append(
                &subject,
                expected,
                &[Pending {
                    id,
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

async fn run_until(store: &EventStore, pool: &PgPool, kind: StreamKind, wanted: u64) {
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(buendel_projector::run(
        store.clone(),
        pool.clone(),
        shutdown.clone(),
    ));
    wait_for_checkpoint(pool, kind, wanted).await;
    shutdown.cancel();
    running.await.expect("joins").expect("stops cleanly");
}

#[tokio::test]
async fn the_runner_projects_reviews_and_a_rebuild_replays_them_to_the_same_rows() {
    let db = TestDb::new().await;
    let client =
        buendel_runtime::connect::nats(&buendel_testing::nats_url(), "projector-reviews-test")
            .await
            .expect("the test NATS node answers");
    let store = EventStore::new(client, db.ns.clone());
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .expect("streams");
    let mut reviews = Stream::new("review");
    let mut events = vec![reviews.alliance(registered("non"))];
    for _ in 0..10 {
        let id = Uuid::new_v4();
        events.push(reviews.review(opened(id)));
        events.push(reviews.review(vote(id, "dgb", VoteChoice::Yes)));
        events.push(reviews.review(recusal(id, "hwk")));
    }
    append_all(&store, StreamKind::Reviews, &events).await;

    run_until(&store, &db.pool, StreamKind::Reviews, 31).await;
    let first = snapshot(&db.pool).await;
    assert_eq!(first.len(), 1 + 10 * 3 + 10 + 10 + 10);

    buendel_projector::reset(&store, &db.pool)
        .await
        .expect("rebuild");
    assert!(snapshot(&db.pool).await.is_empty());
    run_until(&store, &db.pool, StreamKind::Reviews, 31).await;

    assert_eq!(snapshot(&db.pool).await, first);
    store.delete_streams().await.expect("cleanup streams");
    db.drop_database().await;
}

/// A mixed REVIEWS history: alliances registered and changed, reviews with changed votes, votes
/// before and after a recusal, statements, grants and closings; emitted round-robin, so a
/// review's events are spread over several batches.
fn mixed_reviews(reviews: &mut Stream, proposals: usize) -> Vec<Stored> {
    let lives: Vec<Vec<ReviewEvent>> = (0..proposals)
        .map(|k| {
            let id = Uuid::new_v4();
            let mut life = vec![
                opened(id),
                vote(id, "dgb", VoteChoice::No),
                vote(id, "lk-harburg", VoteChoice::Yes),
                vote(id, "dgb", VoteChoice::Yes),
            ];
            if k % 2 == 0 {
                life.extend([
                    recusal(id, "hwk"),
                    vote(id, "hwk", VoteChoice::Yes),
                    recusal(id, "dgb"),
                ]);
            }
            life.push(statement(id));
            if k % 3 == 0 {
                life.push(grant(id));
            }
            if k % 3 == 1 {
                life.push(ReviewEvent::Closed(buendel_contract::review::Closed {
                    fund: None,
                    proposal_id: id,
                    reason: "withdrawn".into(),
                }));
            }
            life
        })
        .collect();
    let mut events = vec![reviews.alliance(registered("non"))];
    let longest = lives.iter().map(Vec::len).max().unwrap_or(0);
    for step in 0..longest {
        if step == 2 {
            events.push(
                reviews.alliance(AllianceEvent::PartnerJoined(PartnerJoined {
                    alliance_id: "non".into(),
                    partner: partner("hwk"),
                })),
            );
        }
        for life in &lives {
            if let Some(event) = life.get(step) {
                events.push(reviews.review(event.clone()));
            }
        }
    }
    events
}

#[tokio::test]
async fn review_batches_of_any_size_give_the_rows_of_applying_the_events_one_by_one() {
    let mut reviews = Stream::new("review");
    let events = mixed_reviews(&mut reviews, 12);
    let mut snapshots = Vec::new();
    for size in [1, 4, 13, events.len()] {
        let db = TestDb::new().await;
        for batch in events.chunks(size) {
            apply_batch(&db.pool, &ReviewsProjection, batch)
                .await
                .expect("projected");
        }
        snapshots.push((size, snapshot(&db.pool).await));
        db.drop_database().await;
    }
    // A prefix already applied without moving the checkpoint, then everything again from 1.
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.expect("begin");
    ReviewsProjection
        .apply_many(&mut tx, &events[..events.len() / 2])
        .await
        .expect("prefix applied");
    tx.commit().await.expect("commit");
    for batch in events.chunks(7) {
        apply_batch(&db.pool, &ReviewsProjection, batch)
            .await
            .expect("projected");
    }
    snapshots.push((0, snapshot(&db.pool).await));
    db.drop_database().await;

    let (_, one_by_one) = &snapshots[0];
    for (size, rows) in &snapshots[1..] {
        assert_eq!(rows, one_by_one, "batches of {size}");
    }
}
