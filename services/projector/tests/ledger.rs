//! The LEDGER projection against a real Postgres: events decided by the real Fund aggregate
//! (`buendel_ledger::domain`), sealed into the hash chain and encoded as the ledger service stores
//! them, applied with `apply_batch`; each test in a fresh database that it drops at the end.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use chrono::{NaiveDate, TimeZone as _, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use buendel_contract::ledger::{seal, LedgerEvent, ReleaseReason, Source, GENESIS_HASH};
use buendel_contract::namespace::StreamKind;
use buendel_contract::{Aggregate as _, Cents, Envelope, Meta, Namespace};
use buendel_ledger::domain::{Command, Fund};
use buendel_projector::checkpoint::checkpoint;
use buendel_projector::{apply_batch, LedgerProjection, Projection as _};
use buendel_runtime::db::{self, PoolLimits};
use buendel_runtime::store::{Pending, Stored};
use buendel_runtime::{CancellationToken, EventStore};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
const FUND: &str = "non-2021-2027";

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

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn p(n: u128) -> Uuid {
    Uuid::from_u128(0x1ed6_e000 + n)
}

/// One fund's history: commands decided by the real aggregate, each event sealed into the chain
/// and encoded as stored, with LEDGER stream sequences from 1.
struct Ledger {
    fund: Fund,
    last_hash: String,
    stored: Vec<Stored>,
}

impl Ledger {
    fn new() -> Self {
        Self {
            fund: Fund::default(),
            last_hash: GENESIS_HASH.to_owned(),
            stored: Vec::new(),
        }
    }

    /// Decides and applies a command; returns its stored events.
    fn run(&mut self, command: Command) -> Vec<Stored> {
        let events = self
            .fund
            .decide(&command)
            .unwrap_or_else(|e| panic!("{} was refused: {e}", command.name()));
        let first = self.stored.len();
        for event in events {
            self.fund = self.fund.clone().apply(&event);
            let sequence = u64::try_from(self.stored.len()).expect("small") + 1;
            let meta = Meta {
                source: "/buendel/ledger".into(),
                time: Utc
                    .with_ymd_and_hms(2026, 5, 1, 9, 0, 0)
                    .single()
                    .expect("time")
                    + chrono::Duration::seconds(i64::try_from(sequence).expect("small")),
                correlation_id: None,
                causation_id: Some(format!("cmd-{sequence}")),
                actor: "operator:test".into(),
            };
            let mut envelope =
                Envelope::new(Uuid::new_v4(), FUND, self.fund.entries(), event, &meta);
            seal(&mut envelope, &self.last_hash).expect("seal");
            self.last_hash = envelope.hash.clone().expect("sealed");
            self.stored.push(Stored {
                sequence,
                subject: format!("t.ledger.{FUND}"),
                payload: Bytes::from(serde_json::to_vec(&envelope).expect("json")),
                trace: None,
            });
        }
        self.stored[first..].to_vec()
    }
}

fn allocate(esf: i64, land: i64) -> Command {
    Command::AllocateBudget {
        fund_id: FUND.into(),
        esf: Cents(esf),
        land: Cents(land),
        commit_deadline: day(2027, 12, 31),
        today: day(2025, 1, 2),
    }
}

fn reserve(proposal: Uuid, esf: i64, land: i64, today: NaiveDate) -> Command {
    Command::Reserve {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        today,
    }
}

fn commit(proposal: Uuid, esf: i64, land: i64, today: NaiveDate) -> Command {
    Command::Commit {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        terms: None,
        today,
    }
}

fn disburse(proposal: Uuid, reference: &str, esf: i64, land: i64, on: NaiveDate) -> Command {
    Command::RecordDisbursement {
        proposal_id: proposal,
        payment_reference: reference.into(),
        esf: Cents(esf),
        land: Cents(land),
        value_date: on,
        today: on,
    }
}

/// allocate → reserve → commit → two disbursements → close → recovery → repayment, for one project.
fn full_path(ledger: &mut Ledger) -> Vec<Vec<Stored>> {
    let project = p(1);
    vec![
        ledger.run(allocate(200_571_429, 33_428_571)),
        ledger.run(reserve(project, 18_000_000, 3_000_000, day(2025, 2, 1))),
        ledger.run(commit(project, 17_000_000, 3_000_000, day(2025, 3, 1))),
        ledger.run(disburse(
            project,
            "NB-1",
            1_500_000,
            250_000,
            day(2025, 4, 15),
        )),
        ledger.run(disburse(
            project,
            "NB-2",
            10_000_000,
            2_000_000,
            day(2025, 9, 30),
        )),
        ledger.run(Command::CloseProject {
            proposal_id: project,
            today: day(2026, 1, 15),
        }),
        ledger.run(Command::AssessRecovery {
            proposal_id: project,
            esf: Cents(300_000),
            land: Cents(50_000),
            reason: "final report audited".into(),
            today: day(2026, 3, 1),
        }),
        ledger.run(Command::RecordRepayment {
            proposal_id: project,
            esf: Cents(200_000),
            land: Cents(50_000),
            value_date: day(2026, 4, 1),
            today: day(2026, 4, 1),
        }),
    ]
}

/// Every read model the LEDGER projection writes, as text, to compare whole states.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT to_jsonb(f)::text FROM funds f \
         UNION ALL SELECT to_jsonb(e)::text FROM ledger_entries e \
         UNION ALL SELECT to_jsonb(p)::text FROM ledger_postings p \
         UNION ALL SELECT to_jsonb(a)::text FROM account_balances a \
         UNION ALL SELECT to_jsonb(b)::text FROM fund_balances b \
         UNION ALL SELECT to_jsonb(m)::text FROM proposal_money m \
         UNION ALL SELECT to_jsonb(t)::text FROM proposal_timeline t \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("snapshot")
}

/// `account_balances` as `(source, account, balance)`, fund accounts without a project.
async fn accounts(pool: &PgPool) -> BTreeMap<(String, String), i64> {
    let rows: Vec<(String, String, Uuid, i64)> = sqlx::query_as(
        "SELECT source, account_kind, proposal_id, balance_cents FROM account_balances \
         WHERE fund_id = $1",
    )
    .bind(FUND)
    .fetch_all(pool)
    .await
    .expect("accounts");
    rows.into_iter()
        .map(|(source, kind, proposal, cents)| {
            let account = if proposal.is_nil() {
                kind
            } else {
                format!("{kind}:{proposal}")
            };
            ((source, account), cents)
        })
        .collect()
}

/// The Fund aggregate's account balances in the same shape.
fn book(fund: &Fund) -> BTreeMap<(String, String), i64> {
    fund.book()
        .accounts()
        .map(|(source, account, cents)| {
            ((source.as_str().to_owned(), account.to_string()), cents.0)
        })
        .collect()
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct MoneyRow {
    status: Option<String>,
    esf_reserved_cents: i64,
    esf_committed_cents: i64,
    esf_disbursed_cents: i64,
    esf_recovered_cents: i64,
    esf_repaid_cents: i64,
    land_reserved_cents: i64,
    land_committed_cents: i64,
    land_disbursed_cents: i64,
    land_recovered_cents: i64,
    land_repaid_cents: i64,
}

async fn money(pool: &PgPool, proposal: Uuid) -> Option<MoneyRow> {
    sqlx::query_as(
        "SELECT status, esf_reserved_cents, esf_committed_cents, esf_disbursed_cents, \
             esf_recovered_cents, esf_repaid_cents, land_reserved_cents, land_committed_cents, \
             land_disbursed_cents, land_recovered_cents, land_repaid_cents \
         FROM proposal_money WHERE proposal_id = $1",
    )
    .bind(proposal)
    .fetch_optional(pool)
    .await
    .expect("money")
}

/// The aggregate's view of a project in the same shape.
fn expected_money(fund: &Fund, proposal: Uuid) -> Option<MoneyRow> {
    let money = fund.project_money(proposal)?;
    Some(MoneyRow {
        status: Some(money.status.as_str().to_owned()),
        esf_reserved_cents: money.esf_plus.reserved.0,
        esf_committed_cents: money.esf_plus.committed.0,
        esf_disbursed_cents: money.esf_plus.disbursed.0,
        esf_recovered_cents: money.esf_plus.recovered.0,
        esf_repaid_cents: money.esf_plus.repaid.0,
        land_reserved_cents: money.land.reserved.0,
        land_committed_cents: money.land.committed.0,
        land_disbursed_cents: money.land.disbursed.0,
        land_recovered_cents: money.land.recovered.0,
        land_repaid_cents: money.land.repaid.0,
    })
}

#[tokio::test]
async fn the_full_path_of_a_project_is_projected_to_the_balances_the_aggregate_holds() {
    let db = TestDb::new().await;
    let mut ledger = Ledger::new();
    let batches = full_path(&mut ledger);

    for batch in &batches {
        apply_batch(&db.pool, &LedgerProjection, batch)
            .await
            .expect("LEDGER projected");
    }

    let events = ledger.stored.len();
    assert_eq!(events, 8);
    assert_eq!(accounts(&db.pool).await, book(&ledger.fund));
    assert_eq!(
        money(&db.pool, p(1)).await,
        expected_money(&ledger.fund, p(1))
    );
    let kinds: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT source, account_kind, balance_cents FROM fund_balances ORDER BY 1, 2",
    )
    .fetch_all(&db.pool)
    .await
    .expect("kinds");
    let mut expected_kinds: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (source, account, cents) in ledger.fund.book().accounts() {
        *expected_kinds
            .entry((source.as_str().to_owned(), account.kind().to_owned()))
            .or_insert(0) += cents.0;
    }
    let kinds: BTreeMap<(String, String), i64> =
        kinds.into_iter().map(|(s, k, c)| ((s, k), c)).collect();
    assert_eq!(kinds, expected_kinds);
    for source in Source::ALL {
        let sum: i64 = sqlx::query_scalar(
            "SELECT SUM(balance_cents)::bigint FROM account_balances WHERE source = $1",
        )
        .bind(source.as_str())
        .fetch_one(&db.pool)
        .await
        .expect("trial balance");
        assert_eq!(sum, 0, "trial balance of {source}");
    }
    let head: (
        String,
        i64,
        i64,
        Option<NaiveDate>,
        NaiveDate,
        Option<String>,
    ) = sqlx::query_as(
        "SELECT alliance_id, version, last_sequence, commit_deadline, last_value_date, last_hash \
         FROM funds WHERE fund_id = $1",
    )
    .bind(FUND)
    .fetch_one(&db.pool)
    .await
    .expect("fund row");
    assert_eq!(
        head,
        (
            "non".to_owned(),
            8,
            8,
            Some(day(2027, 12, 31)),
            day(2026, 4, 1),
            Some(ledger.last_hash.clone())
        )
    );
    let postings: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_postings")
        .fetch_one(&db.pool)
        .await
        .expect("postings");
    let expected_postings: usize = ledger
        .stored
        .iter()
        .map(|s| {
            let envelope: Envelope<LedgerEvent> =
                serde_json::from_slice(&s.payload).expect("envelope");
            envelope.event.postings().len()
        })
        .sum();
    assert_eq!(usize::try_from(postings).expect("count"), expected_postings);
    let chain: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT prevhash, hash FROM ledger_entries ORDER BY sequence")
            .fetch_all(&db.pool)
            .await
            .expect("chain");
    assert_eq!(chain[0].0.as_deref(), Some(GENESIS_HASH));
    for pair in chain.windows(2) {
        assert_eq!(pair[1].0, pair[0].1, "each entry links to the one before");
    }
    let timeline: i64 =
        sqlx::query_scalar("SELECT count(*) FROM proposal_timeline WHERE stream = 'LEDGER'")
            .fetch_one(&db.pool)
            .await
            .expect("timeline");
    assert_eq!(
        timeline, 7,
        "every event but the allocation concerns the project"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn where_batches_start_and_end_changes_no_row() {
    let one_by_one = TestDb::new().await;
    let all_at_once = TestDb::new().await;
    let mut ledger = Ledger::new();
    full_path(&mut ledger);
    // A reservation released in the same batch leaves its account at zero: its row must exist all
    // the same, as it does when the two events come in separate batches.
    ledger.run(reserve(p(2), 1_000, 100, day(2026, 5, 1)));
    ledger.run(Command::ReleaseReservation {
        proposal_id: p(2),
        reason: ReleaseReason::Withdrawn,
        today: day(2026, 5, 2),
    });

    for event in &ledger.stored {
        apply_batch(
            &one_by_one.pool,
            &LedgerProjection,
            std::slice::from_ref(event),
        )
        .await
        .expect("projected");
    }
    apply_batch(&all_at_once.pool, &LedgerProjection, &ledger.stored)
        .await
        .expect("projected");

    let expected = snapshot(&one_by_one.pool).await;
    assert_eq!(snapshot(&all_at_once.pool).await, expected);
    assert_eq!(accounts(&all_at_once.pool).await, book(&ledger.fund));
    assert_eq!(
        money(&all_at_once.pool, p(2)).await,
        expected_money(&ledger.fund, p(2))
    );
    one_by_one.drop_database().await;
    all_at_once.drop_database().await;
}

#[tokio::test]
async fn an_event_applied_again_without_the_checkpoint_moves_no_balance_twice() {
    let db = TestDb::new().await;
    let mut ledger = Ledger::new();
    full_path(&mut ledger);
    let apply_all = || async {
        let mut tx = db.pool.begin().await.expect("begin");
        for event in &ledger.stored {
            LedgerProjection
                .apply(&mut tx, event.sequence, &event.subject, &event.payload)
                .await
                .expect("applies");
        }
        tx.commit().await.expect("commit");
    };

    apply_all().await;
    let before = snapshot(&db.pool).await;
    apply_all().await;
    let replayed = apply_batch(&db.pool, &LedgerProjection, &ledger.stored[2..5])
        .await
        .expect("a replayed slice");

    assert_eq!(snapshot(&db.pool).await, before);
    assert_eq!(accounts(&db.pool).await, book(&ledger.fund));
    assert_eq!(
        replayed, 0,
        "the slice lies beyond the never-moved checkpoint"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_declined_reservation_waitlists_the_project_until_money_is_freed() {
    let db = TestDb::new().await;
    let mut ledger = Ledger::new();
    let first = p(1);
    let second = p(2);
    ledger.run(allocate(1_000_000, 200_000));
    ledger.run(reserve(first, 800_000, 150_000, day(2025, 2, 1)));
    ledger.run(reserve(second, 500_000, 100_000, day(2025, 2, 2)));
    apply_batch(&db.pool, &LedgerProjection, &ledger.stored)
        .await
        .expect("projected");
    let waiting = money(&db.pool, second).await.expect("a row");
    let requested: (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT requested_esf_cents, requested_land_cents FROM proposal_money \
         WHERE proposal_id = $1",
    )
    .bind(second)
    .fetch_one(&db.pool)
    .await
    .expect("requested");

    let freed = ledger.run(Command::ReleaseReservation {
        proposal_id: first,
        reason: ReleaseReason::Refused,
        today: day(2025, 3, 1),
    });
    apply_batch(&db.pool, &LedgerProjection, &freed)
        .await
        .expect("projected");

    assert_eq!(waiting.status.as_deref(), Some("waitlisted"));
    assert_eq!(waiting.esf_reserved_cents, 0);
    assert_eq!(requested, (Some(500_000), Some(100_000)));
    assert_eq!(freed.len(), 2, "the release and the waitlist's reservation");
    let reserved = money(&db.pool, second).await.expect("a row");
    assert_eq!(
        reserved,
        expected_money(&ledger.fund, second).expect("known")
    );
    assert_eq!(reserved.status.as_deref(), Some("reserved"));
    let released: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT status, release_reason FROM proposal_money WHERE proposal_id = $1")
            .bind(first)
            .fetch_one(&db.pool)
            .await
            .expect("released");
    assert_eq!(
        released,
        (Some("released".to_owned()), Some("refused".to_owned()))
    );
    assert_eq!(accounts(&db.pool).await, book(&ledger.fund));
    db.drop_database().await;
}

#[tokio::test]
async fn a_message_that_is_not_a_ledger_event_is_undecodable_and_commits_nothing() {
    let db = TestDb::new().await;
    let mut ledger = Ledger::new();
    let mut batch = ledger.run(allocate(1_000, 100));
    batch.push(Stored {
        sequence: 2,
        subject: format!("t.ledger.{FUND}"),
        payload: Bytes::from_static(b"{\"type\":\"buendel.ledger.unknown.v1\"}"),
        trace: None,
    });

    let result = apply_batch(&db.pool, &LedgerProjection, &batch).await;

    assert!(result.is_err());
    assert!(snapshot(&db.pool).await.is_empty());
    assert_eq!(
        checkpoint(&db.pool, StreamKind::Ledger)
            .await
            .expect("checkpoint"),
        0
    );
    db.drop_database().await;
}

/// Appends stored ledger events to the real LEDGER stream, in order.
async fn append_all(store: &EventStore, events: &[Stored]) {
    let mut last: HashMap<String, u64> = HashMap::new();
    for event in events {
        let envelope: Value = serde_json::from_slice(&event.payload).expect("envelope");
        let aggregate = envelope["subject"].as_str().expect("subject");
        let subject = store.namespace().subject(StreamKind::Ledger, aggregate);
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

async fn run_until(store: &EventStore, pool: &PgPool, wanted: u64) {
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(buendel_projector::run(
        store.clone(),
        pool.clone(),
        shutdown.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while checkpoint(pool, StreamKind::Ledger)
        .await
        .expect("checkpoint")
        < wanted
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projector did not reach {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    running.await.expect("joins").expect("stops cleanly");
}

#[tokio::test]
async fn the_runner_projects_the_ledger_and_a_rebuild_replays_it_to_the_same_rows() {
    let db = TestDb::new().await;
    let client =
        buendel_runtime::connect::nats(&buendel_testing::nats_url(), "projector-ledger-test")
            .await
            .expect("the test NATS node answers");
    let store = EventStore::new(client, db.ns.clone());
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .expect("streams");
    let mut ledger = Ledger::new();
    full_path(&mut ledger);
    append_all(&store, &ledger.stored).await;

    run_until(&store, &db.pool, 8).await;
    let first = snapshot(&db.pool).await;
    assert!(!first.is_empty());

    buendel_projector::reset(&store, &db.pool)
        .await
        .expect("rebuild");
    assert!(snapshot(&db.pool).await.is_empty());
    run_until(&store, &db.pool, 8).await;

    assert_eq!(snapshot(&db.pool).await, first);
    assert_eq!(accounts(&db.pool).await, book(&ledger.fund));
    store.delete_streams().await.expect("cleanup streams");
    db.drop_database().await;
}
