//! Projection catch-up speed, next to the raw batched Postgres upsert it is held to.
//!
//! Builds a realistic history (the bench's mix: proposals submitted and screened, some screened
//! out or withdrawn; reviews with votes, recusals, statements, grants, refusals and closings; a fund
//! per alliance, decided by the real Fund aggregate and hash-chained, with reservations, a waitlist,
//! commitments, two or three tranches, closings and a few clawbacks), projects it into a fresh
//! database, and prints events per second next to the bench's limit: `pg_upsert` of `buendel
//! bench` (`services/buendel/src/bench/baseline.rs`), 500-row `UNNEST` upserts into a temp table,
//! one transaction per batch, measured first on the same database as the bench does.
//!
//! ```text
//! cargo run --release -p buendel-projector --example catchup -- \
//!     [--proposals 3000] [--batch 2000] [--runner | --sequential] [--stats] [--seed 7]
//! ```
//!
//! - default: `apply_batch` over the three streams concurrently, as the projector runs them;
//! - `--sequential`: one stream after the other, to see each one's cost;
//! - `--runner`: the history is published to JetStream in a scratch namespace and the real runner
//!   (`buendel_projector::run_with`) catches up from sequence 1, as in the bench's rebuild;
//! - `--stats`: the tables' insert, update (HOT or not) and dead-row counts and sizes afterwards.
//!
//! Besides the rates it prints the CPU time per event of the Postgres backends and of this process
//! (read from `/proc`, so Postgres must run on the same host), which other load on the machine
//! disturbs far less than the wall-clock rates. `CATCHUP_SQL` is run after the migrations, before
//! the catch-up (to try an index or a table setting). Postgres at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432`), NATS at `NATS_URL` (default `nats://127.0.0.1:4222`);
//! the scratch database and streams are removed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{NaiveDate, TimeZone as _, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use buendel_contract::alliance::{AllianceEvent, Registered};
use buendel_contract::ledger::{seal, GENESIS_HASH};
use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{
    Applicant, ProjectType, ProposalEvent, RuleResult, Screened, Severity, Submitted, Terms,
    Withdrawn,
};
use buendel_contract::reference::{builtin_alliances, Partner, RegionCategory};
use buendel_contract::review::{
    Closed, ConflictDeclared, GrantDecided, GrantRefused, Opened, QuorumRule, ReviewEvent,
    StatementIssued, Tally, Verdict, VoteChoice, VoteRecorded,
};
use buendel_contract::{Aggregate as _, BasisPoints, Cents, Envelope, EventKind, Meta, Namespace};
use buendel_ledger::domain::{Command, Fund};
use buendel_projector::{
    apply_batch, LedgerProjection, Projection, ProposalsProjection, ReviewsProjection, RunnerLimits,
};
use buendel_runtime::db::{self, PoolLimits};
use buendel_runtime::store::Stored;
use buendel_runtime::{CancellationToken, EventStore};

const ALLIANCES: [&str; 2] = ["non", "son"];

struct Args {
    proposals: usize,
    batch: usize,
    runner: bool,
    sequential: bool,
    stats: bool,
    seed: u64,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        proposals: 3_000,
        batch: RunnerLimits::default().batch_max,
        runner: false,
        sequential: false,
        stats: false,
        seed: 7,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--proposals" => args.proposals = it.next().unwrap_or_default().parse()?,
            "--batch" => args.batch = it.next().unwrap_or_default().parse()?,
            "--seed" => args.seed = it.next().unwrap_or_default().parse()?,
            "--runner" => args.runner = true,
            "--sequential" => args.sequential = true,
            "--stats" => args.stats = true,
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    Ok(args)
}

/// A small deterministic generator (xorshift), so that a seed gives the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn uuid(&mut self) -> Uuid {
        Uuid::from_u64_pair(self.next(), self.next())
    }
}

/// Encodes one stream's events as the services store them: sequences from 1, versions per subject.
struct Stream {
    prefix: &'static str,
    stored: Vec<Stored>,
    versions: HashMap<String, u64>,
}

impl Stream {
    fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            stored: Vec::new(),
            versions: HashMap::new(),
        }
    }

    fn meta(sequence: u64, actor: &str) -> Meta {
        Meta {
            source: "/buendel/bench".into(),
            time: Utc
                .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
                .single()
                .unwrap_or_default()
                + chrono::Duration::milliseconds(i64::try_from(sequence).unwrap_or(0) * 250),
            correlation_id: Some(format!("corr-{sequence}")),
            causation_id: Some(format!("cmd-{}", Uuid::new_v4())),
            actor: actor.into(),
        }
    }

    fn push<E: EventKind>(&mut self, aggregate: &str, event: E) {
        let version = self.versions.entry(aggregate.to_owned()).or_insert(0);
        *version += 1;
        let sequence = self.stored.len() as u64 + 1;
        let envelope = Envelope::new(
            Uuid::new_v4(),
            aggregate,
            *version,
            event,
            &Self::meta(sequence, "operator:bench"),
        );
        self.encode(aggregate, sequence, &envelope);
    }

    fn encode<E: EventKind>(&mut self, aggregate: &str, sequence: u64, envelope: &Envelope<E>) {
        let payload = serde_json::to_vec(envelope).unwrap_or_default();
        self.stored.push(Stored {
            sequence,
            subject: format!("bench.{}.{aggregate}", self.prefix),
            payload: Bytes::from(payload),
            trace: None,
        });
    }
}

/// One fund's LEDGER history, decided by the real aggregate and sealed into its hash chain.
struct FundLedger {
    fund_id: String,
    fund: Fund,
    last_hash: String,
}

impl FundLedger {
    fn run(&mut self, stream: &mut Stream, command: Command) {
        let Ok(events) = self.fund.decide(&command) else {
            return; // e.g. a disbursement beyond the grant: the script simply skips it
        };
        for event in events {
            self.fund = std::mem::take(&mut self.fund).apply(&event);
            let sequence = stream.stored.len() as u64 + 1;
            let mut envelope = Envelope::new(
                Uuid::new_v4(),
                self.fund_id.as_str(),
                self.fund.entries(),
                event,
                &Stream::meta(sequence, "operator:bench"),
            );
            if seal(&mut envelope, &self.last_hash).is_err() {
                return;
            }
            self.last_hash = envelope.hash.clone().unwrap_or_default();
            let fund_id = self.fund_id.clone();
            stream.encode(&fund_id, sequence, &envelope);
        }
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

struct History {
    proposals: Vec<Stored>,
    reviews: Vec<Stored>,
    ledger: Vec<Stored>,
}

/// Granted projects, per alliance: `(proposal, esf, land)`.
type Granted = Vec<(Uuid, i64, i64)>;

fn history(n: usize, seed: u64) -> History {
    let mut rng = Rng(seed.max(1));
    let mut proposals = Stream::new("proposal");
    let mut reviews = Stream::new("review");
    // The real rosters (14 and 30 partners), as the bench's alliances have them.
    let rosters: HashMap<String, Vec<Partner>> = builtin_alliances()
        .into_iter()
        .map(|a| (a.id, a.partners))
        .collect();
    let roster = |alliance: &str| rosters.get(alliance).cloned().unwrap_or_default();
    for alliance in ALLIANCES {
        reviews.push(
            &format!("alliance-{alliance}"),
            AllianceEvent::Registered(Registered {
                alliance_id: alliance.into(),
                name: format!("Allianz für Fachkräfte {alliance}"),
                region: RegionCategory::Transition,
                districts: vec!["Harburg".into(), "Lüneburg".into()],
                focus_areas: vec!["dual_training".into(), "good_work".into()],
                partners: roster(alliance),
                quorum: QuorumRule::default(),
                rules_version: "esf-plus-2021-2027.1".into(),
                application_deadline: day(2027, 6, 30),
            }),
        );
    }
    let mut granted: HashMap<&str, Granted> = HashMap::new();
    for k in 0..n {
        let id = rng.uuid();
        let alliance = ALLIANCES[k % 2];
        let cost = 5_000_000 + i64::try_from(rng.below(45_000_000)).unwrap_or(0);
        let aggregate = id.to_string();
        proposals.push(
            &aggregate,
            ProposalEvent::Submitted(Submitted {
                proposal_id: id,
                alliance_id: alliance.into(),
                applicant: Applicant {
                    name: format!("Bildungswerk {k} e.V."),
                    kind: "verein".into(),
                    district: "Harburg".into(),
                },
                terms: Terms {
                    title: format!("Pflege lernen {k}"),
                    summary: "Weiterbildung für Pflegehilfskräfte im ländlichen Raum".into(),
                    project_type: ProjectType::Training,
                    focus_areas: vec!["good_work".into(), "dual_training".into()],
                    districts: vec!["Harburg".into(), "Lüneburg".into()],
                    planned_start: day(2026, 9, 1),
                    duration_months: 24,
                    eligible_cost_cents: Cents(cost),
                    requested_rate_bp: BasisPoints(7_000),
                },
            }),
        );
        let passed = !rng.chance(5);
        proposals.push(
            &aggregate,
            ProposalEvent::Screened(Screened {
                proposal_id: id,
                passed,
                rules_version: "esf-plus-2021-2027.1".into(),
                results: vec![
                    RuleResult {
                        rule: "eligible_cost_cap".into(),
                        passed,
                        severity: Severity::Error,
                        message: "eligible costs within the cap".into(),
                    },
                    RuleResult {
                        rule: "district_in_alliance".into(),
                        passed: true,
                        severity: Severity::Warning,
                        message: "every district belongs to the alliance".into(),
                    },
                ],
                subject: None,
            }),
        );
        if !passed {
            continue;
        }
        if rng.chance(3) {
            proposals.push(
                &aggregate,
                ProposalEvent::Withdrawn(Withdrawn {
                    proposal_id: id,
                    reason: "funded elsewhere".into(),
                }),
            );
            continue;
        }
        reviews.push(
            &aggregate,
            ReviewEvent::Opened(Opened {
                proposal_id: id,
                alliance_id: alliance.into(),
                partners: roster(alliance),
                quorum: QuorumRule::default(),
                region: RegionCategory::Transition,
                eligible_cost_cents: Cents(cost),
                requested_rate_bp: BasisPoints(7_000),
                rules_version: "esf-plus-2021-2027.1".into(),
                max_total_rate_bp: BasisPoints(7_000),
                max_esf_rate_bp: BasisPoints(6_000),
                eligible_from: day(2021, 1, 1),
                eligible_until: day(2029, 12, 31),
            }),
        );
        let partners = roster(alliance);
        let recused = rng.chance(8).then(|| {
            partners[rng.below(partners.len() as u64) as usize]
                .id
                .clone()
        });
        if let Some(partner_id) = &recused {
            reviews.push(
                &aggregate,
                ReviewEvent::ConflictDeclared(ConflictDeclared {
                    proposal_id: id,
                    partner_id: partner_id.clone(),
                    reason: "board member of the applicant".into(),
                }),
            );
        }
        // About half the partners vote; now and then one changes its mind.
        let (mut yes, mut no) = (0, 0);
        for partner in partners.iter().filter(|p| Some(&p.id) != recused.as_ref()) {
            if !rng.chance(50) {
                continue;
            }
            let changes = rng.chance(3);
            let vote = if rng.chance(85) {
                yes += 1;
                VoteChoice::Yes
            } else {
                no += 1;
                VoteChoice::No
            };
            for vote in [VoteChoice::Abstain, vote]
                .into_iter()
                .skip(usize::from(!changes))
            {
                reviews.push(
                    &aggregate,
                    ReviewEvent::VoteRecorded(VoteRecorded {
                        proposal_id: id,
                        partner_id: partner.id.clone(),
                        vote,
                        comment: Some(format!("{} says {}", partner.name, vote.as_str())),
                    }),
                );
            }
        }
        let eligible = partners.len() as u32 - u32::from(recused.is_some());
        let positive = yes >= 2 * no;
        reviews.push(
            &aggregate,
            ReviewEvent::StatementIssued(StatementIssued {
                money: None,
                proposal_id: id,
                verdict: if positive {
                    Verdict::Positive
                } else {
                    Verdict::Negative
                },
                conditions: vec!["cooperate with the employment agency".into()],
                tally: Tally {
                    yes,
                    no,
                    abstain: 0,
                    recused: u32::from(recused.is_some()),
                    eligible,
                },
                quorum_met: true,
            }),
        );
        if !positive {
            continue;
        }
        if rng.chance(10) {
            reviews.push(
                &aggregate,
                ReviewEvent::GrantRefused(GrantRefused {
                    fund: None,
                    proposal_id: id,
                    bank_reference: format!("NB-R-{k}"),
                    reason: "the budget plan is not plausible".into(),
                }),
            );
            continue;
        }
        if rng.chance(2) {
            reviews.push(
                &aggregate,
                ReviewEvent::Closed(Closed {
                    fund: None,
                    proposal_id: id,
                    reason: "withdrawn by the applicant".into(),
                }),
            );
            continue;
        }
        let esf = cost * 6 / 10;
        let land = cost / 10;
        reviews.push(
            &aggregate,
            ReviewEvent::GrantDecided(GrantDecided {
                fund: None,
                proposal_id: id,
                bank_reference: format!("NB-{k}"),
                eligible_cost_cents: Cents(cost),
                total_rate_bp: BasisPoints(7_000),
                esf_rate_bp: BasisPoints(6_000),
                esf_cents: Cents(esf),
                land_cents: Cents(land),
                period_from: day(2026, 9, 1),
                period_to: day(2028, 8, 31),
                amendment: None,
            }),
        );
        granted.entry(alliance).or_default().push((id, esf, land));
    }
    let mut ledger = Stream::new("ledger");
    for alliance in ALLIANCES {
        let projects = granted.remove(alliance).unwrap_or_default();
        let mut fund = FundLedger {
            fund_id: format!("{alliance}-2021-2027"),
            fund: Fund::default(),
            last_hash: GENESIS_HASH.to_owned(),
        };
        // Enough for about nine in ten: the rest are waitlisted.
        let need: i64 = projects.iter().map(|(_, e, l)| e + l).sum();
        fund.run(
            &mut ledger,
            Command::AllocateBudget {
                fund_id: fund.fund_id.clone(),
                esf: Cents(need * 9 / 10 * 6 / 7 + 1),
                land: Cents(need * 9 / 10 / 7 + 1),
                commit_deadline: day(2027, 12, 31),
                today: day(2026, 1, 2),
            },
        );
        let today = day(2026, 6, 1);
        for &(proposal_id, esf, land) in &projects {
            fund.run(
                &mut ledger,
                Command::Reserve {
                    proposal_id,
                    esf: Cents(esf),
                    land: Cents(land),
                    today,
                },
            );
        }
        for &(proposal_id, esf, land) in &projects {
            fund.run(
                &mut ledger,
                Command::Commit {
                    proposal_id,
                    esf: Cents(esf),
                    land: Cents(land),
                    terms: None,
                    today: day(2026, 7, 1),
                },
            );
        }
        for tranche in 0..3u32 {
            let on = day(2026, 9 + tranche, 15);
            for (i, &(proposal_id, esf, land)) in projects.iter().enumerate() {
                if tranche == 2 && i % 2 == 0 {
                    continue; // two or three tranches
                }
                fund.run(
                    &mut ledger,
                    Command::RecordDisbursement {
                        proposal_id,
                        payment_reference: format!("PAY-{proposal_id}-{tranche}"),
                        esf: Cents(esf / 4),
                        land: Cents(land / 4),
                        value_date: on,
                        today: on,
                    },
                );
            }
        }
        let closing = day(2027, 1, 15);
        for &(proposal_id, _, _) in &projects {
            fund.run(
                &mut ledger,
                Command::CloseProject {
                    proposal_id,
                    today: closing,
                },
            );
        }
        for (i, &(proposal_id, esf, land)) in projects.iter().enumerate() {
            if i % 25 != 0 {
                continue; // a few clawbacks
            }
            fund.run(
                &mut ledger,
                Command::AssessRecovery {
                    proposal_id,
                    esf: Cents(esf / 20),
                    land: Cents(land / 20),
                    reason: "final report audited".into(),
                    today: day(2027, 3, 1),
                },
            );
            fund.run(
                &mut ledger,
                Command::RecordRepayment {
                    proposal_id,
                    esf: Cents(esf / 20),
                    land: Cents(land / 20),
                    value_date: day(2027, 4, 1),
                    today: day(2027, 4, 1),
                },
            );
        }
    }
    History {
        proposals: proposals.stored,
        reviews: reviews.stored,
        ledger: ledger.stored,
    }
}

/// `apply_batch` over one stream's history in batches of `batch`; returns the time it took.
async fn project<P: Projection>(
    pool: &PgPool,
    projection: &P,
    events: &[Stored],
    batch: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for chunk in events.chunks(batch.max(1)) {
        apply_batch(pool, projection, chunk).await?;
    }
    Ok(started.elapsed())
}

/// `apply_batch` over the three streams (concurrently, or one after the other); prints each
/// stream's time and returns the whole time.
async fn apply_all(
    pool: &PgPool,
    history: &History,
    batch: usize,
    sequential: bool,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let proposals = project(pool, &ProposalsProjection, &history.proposals, batch);
    let reviews = project(pool, &ReviewsProjection, &history.reviews, batch);
    let ledger = project(pool, &LedgerProjection, &history.ledger, batch);
    let (p, r, l) = if sequential {
        (proposals.await, reviews.await, ledger.await)
    } else {
        tokio::join!(proposals, reviews, ledger)
    };
    let elapsed = started.elapsed();
    for (name, events, took) in [
        ("PROPOSALS", history.proposals.len(), p?),
        ("REVIEWS", history.reviews.len(), r?),
        ("LEDGER", history.ledger.len(), l?),
    ] {
        eprintln!(
            "  {name:<9} {events:>7} events in {took:>10.2?} ({:>6} ev/s)",
            per_second(events, took)
        );
    }
    Ok(elapsed)
}

/// The bench's `pg_upsert` (`services/buendel/src/bench/baseline.rs`), verbatim: rows per second.
async fn pg_upsert(pool: &PgPool, rows: usize) -> anyhow::Result<u64> {
    let mut conn = pool.acquire().await?;
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS bench_rows (id uuid PRIMARY KEY, status text, title text, \
         eligible_cost_cents bigint, requested_rate_bp int, data jsonb, sequence bigint)",
    )
    .execute(&mut *conn)
    .await?;
    let started = Instant::now();
    let mut done = 0;
    while done < rows {
        let n = (rows - done).min(500);
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
        let sequences: Vec<i64> = (done..done + n)
            .map(|s| i64::try_from(s).unwrap_or(0))
            .collect();
        let data: Vec<serde_json::Value> = (0..n)
            .map(|i| serde_json::json!({"n": i, "pad": "x".repeat(400)}))
            .collect();
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query(
            "INSERT INTO bench_rows (id, status, title, eligible_cost_cents, requested_rate_bp, data, sequence) \
             SELECT id, 'submitted', 'A realistic project title', 30000000, 7000, data, seq \
             FROM UNNEST($1::uuid[], $2::jsonb[], $3::bigint[]) AS t(id, data, seq) \
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, sequence = EXCLUDED.sequence",
        )
        .bind(&ids)
        .bind(&data)
        .bind(&sequences)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done += n;
    }
    let rate = per_second(rows, started.elapsed());
    sqlx::query("DROP TABLE IF EXISTS bench_rows")
        .execute(&mut *conn)
        .await?;
    Ok(rate)
}

/// As the bench computes it.
fn per_second(operations: usize, elapsed: Duration) -> u64 {
    let micros = elapsed.as_micros().max(1);
    u64::try_from(operations as u128 * 1_000_000 / micros).unwrap_or(u64::MAX)
}

/// Thousandths as `0.530`, as the bench prints ratios.
fn milli(numerator: u64, denominator: u64) -> String {
    let value = u128::from(numerator) * 1000 / u128::from(denominator.max(1));
    format!("{}.{:03}", value / 1000, value % 1000)
}

/// CPU time (user + system, in clock ticks of 1/100 s) of a process, from `/proc` (0 if gone).
fn process_cpu(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // After the command (which may hold spaces and ends with ')'), utime and stime are the 12th
    // and 13th fields.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// CPU time of every Postgres backend connected to this namespace's database (same host only).
async fn server_cpu(pool: &PgPool, ns: &Namespace) -> anyhow::Result<u64> {
    let pids: Vec<i32> = sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
        .bind(ns.database())
        .fetch_all(pool)
        .await?;
    Ok(pids
        .into_iter()
        .map(|pid| process_cpu(u32::try_from(pid).unwrap_or(0)))
        .sum())
}

/// What a catch-up cost: CPU of the Postgres backends and of this process, and WAL written.
struct Costs {
    server_ticks: u64,
    client_ticks: u64,
    wal_bytes: i64,
}

impl Costs {
    async fn now(pool: &PgPool, ns: &Namespace) -> anyhow::Result<Self> {
        let wal_bytes = sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
            .fetch_one(pool)
            .await?;
        Ok(Self {
            server_ticks: server_cpu(pool, ns).await?,
            client_ticks: process_cpu(std::process::id()),
            wal_bytes,
        })
    }

    fn since(self, before: &Costs) -> Costs {
        Costs {
            server_ticks: self.server_ticks.saturating_sub(before.server_ticks),
            client_ticks: self.client_ticks.saturating_sub(before.client_ticks),
            wal_bytes: self.wal_bytes - before.wal_bytes,
        }
    }
}

/// Publishes one stream's history in order (one publisher, a window of outstanding acks).
async fn publish(store: &EventStore, kind: StreamKind, events: &[Stored]) -> anyhow::Result<()> {
    let mut acks = std::collections::VecDeque::new();
    for event in events {
        let aggregate = event.subject.splitn(3, '.').nth(2).unwrap_or("x");
        let subject = store.namespace().subject(kind, aggregate);
        let ack = store
            .jetstream()
            .send_publish(
                subject,
                async_nats::jetstream::message::PublishMessage::build()
                    .payload(event.payload.clone()),
            )
            .await?;
        acks.push_back(ack);
        if acks.len() >= 256 {
            if let Some(ack) = acks.pop_front() {
                ack.await?;
            }
        }
    }
    for ack in acks {
        ack.await?;
    }
    Ok(())
}

/// Publishes the history and drops it (a projector process holds only the batches in flight);
/// returns the last sequence of each stream.
async fn publish_all(
    store: &EventStore,
    history: History,
) -> anyhow::Result<Vec<(StreamKind, u64)>> {
    store.ensure_streams(&StreamKind::ALL).await?;
    let mut streams = Vec::new();
    for (kind, events) in [
        (StreamKind::Proposals, history.proposals),
        (StreamKind::Reviews, history.reviews),
        (StreamKind::Ledger, history.ledger),
    ] {
        publish(store, kind, &events).await?;
        streams.push((kind, events.len() as u64));
    }
    Ok(streams)
}

/// Runs the real runner (`run_with`) until every stream's checkpoint reaches its end.
async fn run_runner(
    store: &EventStore,
    pool: &PgPool,
    streams: &[(StreamKind, u64)],
    batch: usize,
) -> anyhow::Result<Duration> {
    let limits = RunnerLimits {
        batch_max: batch,
        ..RunnerLimits::default()
    };
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn(buendel_projector::run_with(
        store.clone(),
        pool.clone(),
        limits,
        shutdown.clone(),
    ));
    loop {
        let mut done = true;
        for &(kind, last) in streams {
            done &= buendel_projector::checkpoint::checkpoint(pool, kind).await? >= last;
        }
        if done {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "no catch-up in 10 min"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    running.await??;
    Ok(elapsed)
}

/// Row counts, updates (HOT ones apart), dead rows and size of every table.
async fn print_table_stats(pool: &PgPool) -> anyhow::Result<()> {
    let stats: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_dead_tup, \
                pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    eprintln!("  table: inserted, updated, of them HOT, dead, bytes (statistics lag a little)");
    for (table, inserted, updated, hot, dead, bytes) in stats {
        eprintln!("  {table:<18} {inserted:>8} {updated:>8} {hot:>8} {dead:>8} {bytes:>11}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let postgres = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let nats = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let built = Instant::now();
    let history = history(args.proposals, args.seed);
    let total = history.proposals.len() + history.reviews.len() + history.ledger.len();
    let mean = |events: &[Stored]| {
        events.iter().map(|e| e.payload.len()).sum::<usize>() / events.len().max(1)
    };
    eprintln!(
        "history of {} proposals (built in {:.1?}): PROPOSALS {} + REVIEWS {} + LEDGER {} = {total} \
         events, mean bytes {} / {} / {}",
        args.proposals,
        built.elapsed(),
        history.proposals.len(),
        history.reviews.len(),
        history.ledger.len(),
        mean(&history.proposals),
        mean(&history.reviews),
        mean(&history.ledger),
    );
    let ns = Namespace::new(format!(
        "catchup{}",
        &Uuid::new_v4().simple().to_string()[..12]
    ))?;
    let pool = db::connect_and_migrate(&postgres, &ns, PoolLimits::default()).await?;

    // First, as in the bench: the limit, on a quiet database.
    let raw = pg_upsert(&pool, total).await?;
    if let Ok(sql) = std::env::var("CATCHUP_SQL") {
        sqlx::raw_sql(&sql).execute(&pool).await?;
    }
    let (mode, elapsed, costs) = if args.runner {
        let client = buendel_runtime::connect::nats(&nats, "projector-catchup").await?;
        let store = EventStore::new(client, ns.clone());
        let streams = publish_all(&store, history).await?;
        let before = Costs::now(&pool, &ns).await?;
        let elapsed = run_runner(&store, &pool, &streams, args.batch).await;
        let costs = Costs::now(&pool, &ns).await?.since(&before);
        store.delete_streams().await?;
        ("runner", elapsed?, costs)
    } else {
        let before = Costs::now(&pool, &ns).await?;
        let elapsed = apply_all(&pool, &history, args.batch, args.sequential).await?;
        let costs = Costs::now(&pool, &ns).await?.since(&before);
        ("apply_batch", elapsed, costs)
    };
    let events = total.max(1) as u64;
    eprintln!(
        "  per event: Postgres {} µs CPU, projector {} µs CPU, {} µs wall, {} bytes of WAL (all \
         of the server's)",
        costs.server_ticks * 10_000 / events,
        costs.client_ticks * 10_000 / events,
        elapsed.as_micros() / u128::from(events),
        costs.wal_bytes / i64::try_from(events).unwrap_or(1),
    );
    if args.stats {
        print_table_stats(&pool).await?;
    }
    let catchup = per_second(total, elapsed);
    println!(
        "{mode} batch={} events={total}: catch-up {catchup} ev/s in {elapsed:.2?}; raw batched \
         upsert {raw} rows/s; ratio {}",
        args.batch,
        milli(catchup, raw)
    );
    pool.close().await;
    db::drop_database(&db::options(&postgres, &ns)?).await?;
    Ok(())
}
