//! The seeded workload, driven through the real services running as separate processes.

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{Days, NaiveDate};
use futures::StreamExt as _;
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use tokio::process::{Child, Command};
use tokio::task::JoinSet;
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_contract::Namespace;
use buendel_runtime::db::{self, PoolLimits};
use buendel_runtime::{connect, EventStore, Settings};

use super::baseline::{self, Limits, Sizes};
use super::commands::{ledger_phase, review_phase, Committed, Planned};
use super::cpu;
use super::stats::{per_second, ratio_milli, Latencies, LatencySummary};
use super::{Ratios, Report};

/// How long any one phase may take before the bench gives up.
pub const PHASE_TIMEOUT_S: u64 = 1_800;
/// How often progress and projection lag are sampled.
const SAMPLE_EVERY_MS: u64 = 10;

/// The knobs of a run.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct BenchArgs {
    /// How many proposals the workload publishes.
    #[arg(long, default_value_t = 10_000)]
    pub proposals: usize,
    /// Concurrent publishers and command senders.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seed of the workload's choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Messages per NATS baseline (rows for Postgres: ten times as many).
    #[arg(long, default_value_t = 5_000)]
    pub baseline_messages: usize,
}

/// What Bündel did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Figures {
    /// Intake events accepted (appended) per second, end to end.
    pub intake_per_s: u64,
    /// Publish → `submitted` appended.
    pub intake_latency: LatencySummary,
    /// Commands sent.
    pub commands: usize,
    /// Commands accepted or refused per second, end to end.
    pub commands_per_s: u64,
    /// Request → reply.
    pub command_latency: LatencySummary,
    /// Ledger commands (tranches, closing, clawbacks) sent.
    pub ledger_commands: usize,
    /// Ledger commands per second (they all hit two fund aggregates).
    pub ledger_commands_per_s: u64,
    /// Ledger command latency.
    pub ledger_command_latency: LatencySummary,
    /// Commands the services refused (the workload sends only valid ones: should be 0).
    pub commands_refused: usize,
    /// Commands that got no reply in time.
    pub commands_unanswered: usize,
    /// Append → visible in Postgres (sampled every 10 ms).
    pub projection_lag: LatencySummary,
    /// Events the projector replays in a rebuild from sequence 1.
    pub projection_events: u64,
    /// Rebuild speed, events per second.
    pub projection_catchup_per_s: u64,
    /// Ledger events the auditor replayed.
    pub audit_events: u64,
    /// `audit verify` online (replay from JetStream, no projection comparison), events per second.
    pub audit_online_per_s: u64,
    /// `audit verify --file` over an export, events per second.
    pub audit_offline_per_s: u64,
    /// Whether both verifications found the ledger whole.
    pub audit_ok: bool,
    /// Lines of the transparency log's offline check: the exported ledger, repeated until
    /// [`TLOG_EVENTS`].
    pub tlog_offline_events: u64,
    /// The transparency log's offline check (leaf hashes and tree, from the file), events per
    /// second.
    pub tlog_offline_per_s: u64,
    /// Its limit: SHA-256 of the same lines on the same cores, no tree, lines per second.
    pub sha256_lines_per_s: u64,
    /// Peak resident memory of each service process (VmHWM), KiB.
    pub peak_rss_kib: BTreeMap<String, u64>,
    /// CPU time each process used in each phase (intake until every review is open, review until
    /// the ledger has read every review event, ledger until the projection has caught up), µs
    /// per proposal: flat from one size to a larger when no cost grows with history.
    pub cpu_us_per_proposal: BTreeMap<String, BTreeMap<String, u64>>,
    /// Events per stream at the end.
    pub stream_events: BTreeMap<String, u64>,
    /// Proposals per projected status at the end.
    pub statuses: BTreeMap<String, i64>,
}

/// The seeded generator (SplitMix64): the workload must not depend on anything but `--seed`.
pub use buendel_sim::rng::Rng;

/// One service running as its own process.
struct ServiceProcess {
    name: &'static str,
    child: Child,
}

impl ServiceProcess {
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
    }
}

fn spawn_service(settings: &Settings, name: &'static str) -> anyhow::Result<ServiceProcess> {
    let exe = std::env::current_exe().context("locating the buendel binary")?;
    let mut command = Command::new(exe);
    if !settings.clock.is_system() {
        command.env("BUENDEL_CLOCK", settings.clock.today().to_string());
    }
    let child = command
        .args(["serve", name])
        .env("NATS_URL", &settings.nats_url)
        .env("BUENDEL_STREAM_REPLICAS", settings.replicas.to_string())
        .env("DATABASE_URL", &settings.database_url)
        .env("BUENDEL_NAMESPACE", settings.namespace.as_str())
        // One synthetic publisher sends the whole load as fast as it can: no per-publisher limit.
        .env("BUENDEL_INTAKE_RATE_PER_S", "0")
        // Its ops listener on a free port, so the bench runs beside services on the default ports.
        .env("BUENDEL_OPS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting `buendel serve {name}`"))?;
    Ok(ServiceProcess { name, child })
}

/// Waits until a micro service answers `$SRV.PING`.
async fn wait_for_micro(
    client: &async_nats::Client,
    ns: &Namespace,
    service: &str,
) -> anyhow::Result<()> {
    let subject = format!("$SRV.PING.{}", ns.service_name(service));
    poll(&format!("{service} to answer"), || async {
        client
            .request(subject.clone(), "".into())
            .await
            .ok()
            .map(|_| ())
    })
    .await
}

/// Polls `probe` every few milliseconds until it yields, for at most [`PHASE_TIMEOUT_S`].
async fn poll<T, F, Fut>(what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(PHASE_TIMEOUT_S);
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(SAMPLE_EVERY_MS)).await;
    }
}

/// One proposal of the standard workload: its id, the intake CloudEvent, and its plan when it
/// passes screening.
pub fn proposal_event(
    rng: &mut Rng,
    index: usize,
    today: NaiveDate,
) -> (Uuid, serde_json::Value, Option<Planned>) {
    let proposal_id = Uuid::from_u64_pair(rng.next_u64(), rng.next_u64());
    let son = rng.below(3) == 0;
    let (alliance, district, area) = if son {
        ("son", "wolfsburg", "care")
    } else {
        ("non", "lueneburg", "dual_training")
    };
    // About one in twenty is above the cost cap and is screened out.
    let cents = if rng.below(20) == 0 {
        60_000_000
    } else {
        5_000_000 + i64::try_from(rng.below(40_000_000)).unwrap_or(0)
    };
    let start = today + Days::new(30 + rng.below(90));
    let duration_months = 12 + rng.below(13);
    let event = json!({
        "specversion": "1.0",
        "id": Uuid::from_u64_pair(rng.next_u64(), rng.next_u64()),
        "source": "/bench/portal",
        "type": "buendel.proposal.submitted.v1",
        "subject": proposal_id,
        "datacontenttype": "application/json",
        "data": {
            "proposal_id": proposal_id,
            "alliance_id": alliance,
            "applicant": {"name": format!("Träger {index}"), "kind": "verein", "district": district},
            "title": format!("Projekt {index}"),
            "summary": "A realistic summary of what the project does for skilled workers in the region.",
            "project_type": "structure",
            "focus_areas": [area],
            "districts": [district],
            "planned_start": start,
            "duration_months": duration_months,
            "eligible_cost_cents": cents,
            "requested_rate_bp": 7000,
        }
    });
    // Screening passes exactly when the costs are within the cap (dates and rates are chosen valid).
    let planned = (cents <= 50_000_000).then(|| Planned {
        proposal_id,
        alliance_id: alliance.to_owned(),
        eligible_cents: cents,
        planned_start: start.to_string(),
        duration_months,
    });
    (proposal_id, event, planned)
}

/// Runs the whole benchmark in a fresh namespace and removes it afterwards.
pub async fn run(base: Settings, args: BenchArgs) -> anyhow::Result<Report> {
    let ns = Namespace::new(format!(
        "bench{}",
        &Uuid::new_v4().simple().to_string()[..8]
    ))?;
    let settings = Settings {
        namespace: ns.clone(),
        ..base
    };
    let client = connect::nats(&settings.nats_url, "buendel-bench").await?;
    let store = EventStore::new(client.clone(), ns.clone()).with_replicas(settings.replicas);
    let pool = db::connect_and_migrate(&settings.database_url, &ns, PoolLimits::default()).await?;
    let outcome = run_in(&settings, &client, &store, &pool, &args).await;
    let _ = store.delete_streams().await;
    pool.close().await;
    if let Ok(options) = db::options(&settings.database_url, &ns) {
        let _ = db::drop_database(&options).await;
    }
    let (figures, limits) = outcome?;
    let ratios = Ratios {
        commands: ratio_milli(figures.commands_per_s, limits.command_passthrough_per_s),
        intake: ratio_milli(figures.intake_per_s, limits.intake_passthrough_per_s),
        projection_catchup: ratio_milli(figures.projection_catchup_per_s, limits.pg_upsert_per_s),
        audit_online: ratio_milli(figures.audit_online_per_s, limits.ordered_read_per_s),
        tlog_offline: ratio_milli(figures.tlog_offline_per_s, figures.sha256_lines_per_s),
    };
    Ok(Report {
        args,
        figures,
        limits,
        ratios,
    })
}

async fn run_in(
    settings: &Settings,
    client: &async_nats::Client,
    store: &EventStore,
    pool: &PgPool,
    args: &BenchArgs,
) -> anyhow::Result<(Figures, Limits)> {
    let ns = settings.namespace.clone();
    eprintln!("bench: measuring the limits of NATS and Postgres");
    let sizes = Sizes {
        messages: args.baseline_messages,
        rows: args.baseline_messages * 10,
        concurrency: args.concurrency,
        window: 256,
    };
    let limits = baseline::measure(client, pool, ns.as_str(), sizes).await?;

    store.ensure_streams(&StreamKind::ALL).await?;
    let mut services = vec![
        spawn_service(settings, "submission")?,
        spawn_service(settings, "approval")?,
        spawn_service(settings, "ledger")?,
        spawn_service(settings, "projector")?,
    ];
    wait_for_micro(client, &ns, "submission").await?;
    wait_for_micro(client, &ns, "approval").await?;
    wait_for_micro(client, &ns, "ledger").await?;
    let mut figures = Figures::default();

    eprintln!(
        "bench: intake of {} proposals with {} publishers",
        args.proposals, args.concurrency
    );
    let cpu_of = |services: &[ServiceProcess]| {
        let processes: Vec<(&str, Option<u32>)> =
            services.iter().map(|s| (s.name, s.pid())).collect();
        cpu::sample(&processes)
    };
    let cpu_started = cpu_of(&services);
    let sampler = LagSampler::start(store.clone(), pool.clone());
    let (rate, latency, planned) =
        intake_phase(client, store, args, settings.clock.today()).await?;
    allocate_budgets(client, &ns, &planned).await?;
    figures.intake_per_s = rate;
    figures.intake_latency = latency;

    let last = store.stream_last_sequence(StreamKind::Proposals).await?;
    poll("the projector to catch up", || async {
        let checkpoint = buendel_projector::checkpoint::checkpoint(pool, StreamKind::Proposals)
            .await
            .ok()?;
        (checkpoint >= last).then_some(())
    })
    .await?;
    figures.projection_lag = sampler.stop().await;

    // Every passed proposal's review opened and projected: first by the approval's consumer and
    // the projector's checkpoint (cheap), then counted once; a `count(*)` polled every 10 ms
    // would scan the whole table each time, on the cores the services being measured share.
    wait_for_consumer(store, StreamKind::Proposals, "approval").await?;
    let reviews_last = store.stream_last_sequence(StreamKind::Reviews).await?;
    poll(
        "the projector to catch up with the opened reviews",
        || async {
            let checkpoint = buendel_projector::checkpoint::checkpoint(pool, StreamKind::Reviews)
                .await
                .ok()?;
            (checkpoint >= reviews_last).then_some(())
        },
    )
    .await?;
    let reviewable = i64::try_from(planned.len()).unwrap_or(0);
    poll("every passed proposal's review to open", || async {
        let opened: i64 = sqlx::query_scalar("SELECT count(*) FROM proposal_reviews")
            .fetch_one(pool)
            .await
            .ok()?;
        (opened >= reviewable).then_some(())
    })
    .await?;
    let cpu_intake = cpu_of(&services);
    eprintln!(
        "bench: review of {} proposals by {} operators",
        planned.len(),
        args.concurrency
    );
    let review_started = Instant::now();
    let review = review_phase(client, &ns, &planned, args.concurrency, args.seed).await?;
    let review_time = review_started.elapsed();
    wait_for_consumer(store, StreamKind::Reviews, "ledger").await?;
    let cpu_review = cpu_of(&services);
    let committed = committed_projects(pool, store).await?;
    eprintln!(
        "bench: tranches, closing and clawbacks of {} committed projects",
        committed.len()
    );
    let ledger_started = Instant::now();
    let ledger = ledger_phase(
        client,
        &ns,
        &committed,
        args.concurrency,
        args.seed,
        settings.clock.today(),
    )
    .await?;
    let ledger_time = ledger_started.elapsed();
    figures.commands = review.commands + ledger.commands;
    figures.commands_per_s = per_second(figures.commands, review_time + ledger_time);
    let mut all = review.latencies;
    all.extend(ledger.latencies);
    figures.command_latency = all.summary();
    figures.commands_refused = review.refused + ledger.refused;
    figures.commands_unanswered = review.failed + ledger.failed;
    figures.ledger_commands = ledger.commands;
    figures.ledger_commands_per_s = ledger.per_s;
    figures.ledger_command_latency = ledger.latency;
    for kind in buendel_projector::STREAMS {
        let last = store.stream_last_sequence(kind).await?;
        poll("the projector to catch up with the reviews", || async {
            let checkpoint = buendel_projector::checkpoint::checkpoint(pool, kind)
                .await
                .ok()?;
            (checkpoint >= last).then_some(())
        })
        .await?;
    }
    let cpu_ledger = cpu_of(&services);
    for (phase, from, to) in [
        ("intake", &cpu_started, &cpu_intake),
        ("review", &cpu_intake, &cpu_review),
        ("ledger", &cpu_review, &cpu_ledger),
    ] {
        figures
            .cpu_us_per_proposal
            .insert(phase.into(), cpu::per_unit_us(from, to, args.proposals));
    }

    eprintln!("bench: projection rebuild from sequence 1");
    let projector_index = services
        .iter()
        .position(|s| s.name == "projector")
        .unwrap_or(0);
    let mut old = services.remove(projector_index);
    figures
        .peak_rss_kib
        .insert("projector (live)".into(), old.peak_rss_kib().unwrap_or(0));
    let _ = old.child.kill().await;
    buendel_projector::reset(store, pool).await?;
    let mut total = 0;
    let mut targets = Vec::new();
    for kind in buendel_projector::STREAMS {
        let last = store.stream_last_sequence(kind).await?;
        total += last;
        targets.push((kind, last));
    }
    let started = Instant::now();
    services.push(spawn_service(settings, "projector")?);
    poll("the rebuilt projection", || async {
        for (kind, last) in &targets {
            let checkpoint = buendel_projector::checkpoint::checkpoint(pool, *kind)
                .await
                .ok()?;
            if checkpoint < *last {
                return None;
            }
        }
        Some(())
    })
    .await?;
    figures.projection_events = total;
    figures.projection_catchup_per_s =
        per_second(usize::try_from(total).unwrap_or(0), started.elapsed());

    audit_phase(store, &mut figures).await?;

    for service in &services {
        figures
            .peak_rss_kib
            .insert(service.name.into(), service.peak_rss_kib().unwrap_or(0));
    }
    for kind in StreamKind::ALL {
        figures.stream_events.insert(
            kind.suffix().into(),
            store.stream_last_sequence(kind).await?,
        );
    }
    figures.statuses = buendel_api::status::counts_by_status(pool)
        .await?
        .into_iter()
        .collect();
    for mut service in services {
        let _ = service.child.kill().await;
    }
    Ok((figures, limits))
}

/// Publishes every proposal to the intake with `concurrency` publishers and measures publish →
/// `submitted` appended (observed on a core subscription to the proposal subjects).
async fn intake_phase(
    client: &async_nats::Client,
    store: &EventStore,
    args: &BenchArgs,
    today: NaiveDate,
) -> anyhow::Result<(u64, LatencySummary, Vec<Planned>)> {
    let ns = store.namespace().clone();
    let mut rng = Rng::new(args.seed);
    let mut planned = Vec::with_capacity(args.proposals);
    let events: Vec<(Uuid, serde_json::Value)> = (0..args.proposals)
        .map(|i| {
            let (id, event, plan) = proposal_event(&mut rng, i, today);
            planned.extend(plan);
            (id, event)
        })
        .collect();
    let published: Arc<Mutex<HashMap<Uuid, Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(args.proposals)));

    let mut subscription = client.subscribe(format!("{ns}.proposal.*")).await?;
    let expected = args.proposals;
    let watcher = tokio::spawn(async move {
        let mut appended: HashMap<Uuid, Instant> = HashMap::with_capacity(expected);
        let mut screened = 0;
        while screened < expected {
            let Some(message) = subscription.next().await else {
                break;
            };
            let now = Instant::now();
            let Some(id) = message
                .subject
                .rsplit('.')
                .next()
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            let text = String::from_utf8_lossy(&message.payload);
            if text.contains("\"type\":\"buendel.proposal.submitted.v1\"") {
                appended.entry(id).or_insert(now);
            } else if text.contains("\"type\":\"buendel.proposal.screened.v") {
                screened += 1;
            }
        }
        appended
    });

    let subject = ns.subject(StreamKind::Intake, "bench");
    let started = Instant::now();
    let mut publishers = JoinSet::new();
    let events = Arc::new(events);
    for publisher in 0..args.concurrency {
        let (store, events, published, subject) = (
            store.clone(),
            events.clone(),
            published.clone(),
            subject.clone(),
        );
        let concurrency = args.concurrency;
        publishers.spawn(async move {
            for (proposal_id, event) in events.iter().skip(publisher).step_by(concurrency) {
                let bytes = serde_json::to_vec(event)?;
                let id = event["id"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .unwrap_or_else(Uuid::new_v4);
                if let Ok(mut map) = published.lock() {
                    map.insert(*proposal_id, Instant::now());
                }
                store.publish(&subject, id, bytes.into()).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = publishers.join_next().await {
        done??;
    }
    let appended = tokio::time::timeout(Duration::from_secs(PHASE_TIMEOUT_S), watcher)
        .await
        .context("intake did not finish in time")??;
    let last_append = appended
        .values()
        .max()
        .copied()
        .unwrap_or_else(Instant::now);
    let mut latencies = Latencies::default();
    let published = published.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    for (id, at) in &appended {
        if let Some(sent) = published.get(id) {
            latencies.record(at.saturating_duration_since(*sent));
        }
    }
    Ok((
        per_second(appended.len(), last_append.duration_since(started)),
        latencies.summary(),
        planned,
    ))
}

/// Samples the PROPOSALS stream's last sequence and the projector's checkpoint; the lag of a
/// sequence is the time from the first sample that saw it appended to the first that saw it projected.
struct LagSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<(Instant, u64, u64)>>,
}

impl LagSampler {
    fn start(store: EventStore, pool: PgPool) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let appended = store
                    .stream_last_sequence(StreamKind::Proposals)
                    .await
                    .unwrap_or(0);
                let projected =
                    buendel_projector::checkpoint::checkpoint(&pool, StreamKind::Proposals)
                        .await
                        .unwrap_or(0);
                samples.push((Instant::now(), appended, projected));
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(Duration::from_millis(SAMPLE_EVERY_MS)) => {}
                }
            }
            samples
        });
        Self { stop, task }
    }

    async fn stop(self) -> LatencySummary {
        let _ = self.stop.send(());
        let samples = self.task.await.unwrap_or_default();
        let mut latencies = Latencies::default();
        let mut seen = 0;
        for (i, (at, appended, _)) in samples.iter().enumerate() {
            if *appended <= seen {
                continue;
            }
            seen = *appended;
            if let Some((projected_at, _, _)) =
                samples[i..].iter().find(|(_, _, p)| *p >= *appended)
            {
                latencies.record(projected_at.saturating_duration_since(*at));
            }
        }
        latencies.summary()
    }
}

/// Allocates both funds at 85 % of what the screened proposals would be granted, so that most are
/// reserved and some are waitlisted.
async fn allocate_budgets(
    client: &async_nats::Client,
    ns: &Namespace,
    planned: &[Planned],
) -> anyhow::Result<()> {
    use buendel_contract::money::{BasisPoints, Cents, Split};
    for (alliance, esf_bp) in [("non", 6_000), ("son", 4_000)] {
        let (mut esf, mut land) = (0i64, 0i64);
        for p in planned.iter().filter(|p| p.alliance_id == alliance) {
            if let Some(split) = Split::compute(
                Cents(p.eligible_cents),
                BasisPoints(7_000),
                BasisPoints(esf_bp),
            ) {
                esf += split.esf_cents.0;
                land += split.land_cents.0;
            }
        }
        let payload = json!({"command_id": Uuid::new_v4(), "actor": "bench", "data": {
            "fund_id": format!("{alliance}-2021-2027"),
            "esf_cents": (esf / 100 * 85).max(1), "land_cents": (land / 100 * 85).max(1),
            "commit_deadline": "2027-12-31",
        }});
        let prefix = ns.command_prefix("ledger");
        let reply = crate::commands::request(client, &prefix, "allocate_budget", &payload).await?;
        anyhow::ensure!(
            reply.is_ok(),
            "allocating the {alliance} budget failed: {reply:?}"
        );
    }
    Ok(())
}

/// Waits until a service's durable consumer has handled everything in its stream.
async fn wait_for_consumer(
    store: &EventStore,
    kind: StreamKind,
    service: &str,
) -> anyhow::Result<()> {
    let name = store.namespace().durable(service, kind);
    let last = store.stream_last_sequence(kind).await?;
    poll(&format!("{name} to catch up"), || async {
        let stream = store.stream(kind).await.ok()?;
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer(&name).await.ok()?;
        let info = consumer.info().await.ok()?;
        (info.ack_floor.stream_sequence >= last && info.num_ack_pending == 0).then_some(())
    })
    .await
}

/// The projects with money committed, once the projector has caught up with the ledger.
async fn committed_projects(pool: &PgPool, store: &EventStore) -> anyhow::Result<Vec<Committed>> {
    let last = store.stream_last_sequence(StreamKind::Ledger).await?;
    poll("the projector to catch up with the ledger", || async {
        let checkpoint = buendel_projector::checkpoint::checkpoint(pool, StreamKind::Ledger)
            .await
            .ok()?;
        (checkpoint >= last).then_some(())
    })
    .await?;
    let rows: Vec<(Uuid, String, i64, i64, chrono::NaiveDate, i64)> = sqlx::query_as(
        "SELECT m.proposal_id, m.fund_id, m.esf_committed_cents, m.land_committed_cents, \
                t.period_from, t.eligible_cost_cents \
         FROM proposal_money m JOIN grant_terms t USING (proposal_id) \
         WHERE m.status = 'committed' ORDER BY m.proposal_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(proposal_id, fund_id, esf_cents, land_cents, period_from, eligible_cents)| {
                Committed {
                    proposal_id,
                    fund_id,
                    esf_cents,
                    land_cents,
                    period_from,
                    eligible_cents,
                }
            },
        )
        .collect())
}

/// Replays the whole ledger as an auditor would: online from JetStream, then offline from an export.
async fn audit_phase(store: &EventStore, figures: &mut Figures) -> anyhow::Result<()> {
    eprintln!("bench: audit replay of the ledger, online and offline");
    let options = buendel_audit::Options::default();
    let started = Instant::now();
    let online = buendel_audit::verify_online(store, None, &options, |_, _| {}).await?;
    let online_time = started.elapsed();
    let dir = std::env::temp_dir().join(format!("buendel-bench-{}", store.namespace()));
    buendel_audit::export(store, &dir, |_, _| {}).await?;
    let path = dir.join("ledger.jsonl");
    let started = Instant::now();
    let offline =
        tokio::task::spawn_blocking(move || buendel_audit::verify_file(&path, &options, |_, _| {}))
            .await??;
    let offline_time = started.elapsed();
    let events = usize::try_from(online.messages).unwrap_or(0);
    figures.audit_events = online.messages;
    figures.audit_online_per_s = per_second(events, online_time);
    figures.audit_offline_per_s =
        per_second(usize::try_from(offline.messages).unwrap_or(0), offline_time);
    figures.audit_ok = online.ok && offline.ok;
    let lines = std::fs::read(dir.join("ledger.jsonl")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let (events, raw_per_s, tree_per_s) =
        tokio::task::spawn_blocking(move || tlog_phase(&lines)).await??;
    figures.tlog_offline_events = events;
    figures.sha256_lines_per_s = raw_per_s;
    figures.tlog_offline_per_s = tree_per_s;
    Ok(())
}

/// How many events the transparency log's offline check is measured over.
pub const TLOG_EVENTS: u64 = 1_000_000;

/// Writes the exported ledger repeated to [`TLOG_EVENTS`] lines, then times the transparency
/// log's replay of it (leaf hashes on every core, tree in order) against plain SHA-256 of the same
/// lines on the same cores.
/// Returns the events, the raw SHA-256 lines per second and the replay's events per second.
fn tlog_phase(export: &[u8]) -> anyhow::Result<(u64, u64, u64)> {
    let events: Vec<&[u8]> = export
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    if events.is_empty() {
        return Ok((0, 0, 0));
    }
    eprintln!("bench: transparency log over {TLOG_EVENTS} exported ledger events");
    let path =
        std::env::temp_dir().join(format!("buendel-bench-tlog-{}.jsonl", uuid::Uuid::new_v4()));
    {
        use std::io::Write as _;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for line in events
            .iter()
            .cycle()
            .take(usize::try_from(TLOG_EVENTS).unwrap_or(0))
        {
            file.write_all(line)?;
            file.write_all(b"\n")?;
        }
        file.flush()?;
    }
    let started = Instant::now();
    let mut count = 0_u64;
    buendel_audit::transparency::leaf_hashes(std::fs::File::open(&path)?, |_| count += 1)?;
    let raw_time = started.elapsed();
    let started = Instant::now();
    let mut replay = buendel_audit::transparency::TreeReplay::new([TLOG_EVENTS]);
    buendel_audit::transparency::replay_lines(std::fs::File::open(&path)?, &mut replay)?;
    let tree_time = started.elapsed();
    let _ = std::fs::remove_file(&path);
    anyhow::ensure!(
        replay.size() == TLOG_EVENTS
            && count == TLOG_EVENTS
            && replay.root_at(TLOG_EVENTS).is_some(),
        "the transparency replay read {} of {TLOG_EVENTS} lines",
        replay.size()
    );
    let n = usize::try_from(TLOG_EVENTS).unwrap_or(0);
    Ok((
        TLOG_EVENTS,
        per_second(n, raw_time),
        per_second(n, tree_time),
    ))
}
