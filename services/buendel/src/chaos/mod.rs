//! `buendel chaos`: the real services as separate processes under fire. The run starts its own
//! three-node NATS cluster (the pinned binary, R3 streams) and its own Postgres, runs the
//! standard workload against `buendel serve` children (two ledger instances), and meanwhile kills
//! services with SIGKILL, NATS nodes one at a time and Postgres, at moments drawn from the seed.
//! Afterwards, once the system is quiet, it checks what must hold and reports it; any violation
//! makes the run fail.
//!
//! - [`env`]: the servers and the service processes.
//! - [`faults`]: the seeded schedule and its execution.
//! - [`load`]: the clients, with retries under the same command id, and their record.
//! - [`checks`]: the audit and the checks of streams, answers and read models.

pub mod checks;
pub mod env;
pub mod faults;
pub mod load;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use buendel_contract::namespace::StreamKind;
use buendel_contract::Namespace;
use buendel_runtime::db::{self, PoolLimits};
use buendel_runtime::{connect, EventStore, Settings};

use env::{poll, Servers, Services, SlotCounts, CLUSTER_READY_S};
use load::{Load, LoadFigures};

/// How long the system may take to become quiet after the load, and the rebuild to replay.
pub const SETTLE_S: u64 = 180;
/// How long operators may take to finish the proposals in hand once the load's time is up.
pub const DRAIN_S: u64 = 240;
/// How long the services may take to answer after they are started.
const SERVICES_READY_S: u64 = 60;

/// The knobs of a run.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ChaosArgs {
    /// How long the load and the faults run, e.g. `60s`, `5m` (the checks come after).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Seed of the fault schedule and the workload (a random one, printed, when omitted).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Service kills (SIGKILL), spread evenly over the six service processes.
    #[arg(long, default_value_t = 36)]
    pub kills: usize,
    /// NATS node kills and restarts, one node at a time.
    #[arg(long, default_value_t = 3)]
    pub nats_restarts: usize,
    /// Postgres restarts.
    #[arg(long, default_value_t = 2)]
    pub postgres_restarts: usize,
    /// Operators driving proposals at once.
    #[arg(long, default_value_t = 6)]
    pub operators: usize,
    /// Keep the services' logs in this directory (otherwise they are discarded).
    #[arg(long)]
    pub logs: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn seconds<S: serde::Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(duration.as_secs())
}

/// `90`, `90s`, `5m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.strip_suffix('m') {
        Some(minutes) => (minutes, 60),
        None => (text.strip_suffix('s').unwrap_or(text), 1),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 60s or 5m"))?;
    Ok(Duration::from_secs(value * unit))
}

/// What a run did and found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The seed (rerun with `--seed` for the same schedule and workload).
    pub seed: u64,
    /// The load's duration, seconds.
    pub duration_s: u64,
    /// The whole run, seconds (start, load, settle, checks).
    pub elapsed_s: u64,
    /// Service kills in all.
    pub kills: u32,
    /// Kills and unplanned exits per service process.
    pub kills_per_service: BTreeMap<String, SlotCounts>,
    /// NATS node kills and restarts completed.
    pub nats_node_restarts: u32,
    /// Postgres restarts completed.
    pub postgres_restarts: u32,
    /// Events per stream at the end.
    pub events: BTreeMap<String, u64>,
    /// What the clients did.
    pub load: LoadFigures,
    /// What the checks found.
    pub findings: checks::Findings,
    /// True exactly when nothing was lost or doubled and every check held.
    pub ok: bool,
}

/// `buendel chaos`: runs, prints the report, exits 1 on any violation.
pub async fn main(settings: Settings, args: ChaosArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the buendel binary")?;
    let json = args.json;
    let report = run(settings, args, exe).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One run with the `buendel` binary at `exe`; everything it started is gone when it returns,
/// also on an error or Ctrl-C.
pub async fn run(base: Settings, args: ChaosArgs, exe: PathBuf) -> anyhow::Result<Report> {
    let seed = args
        .seed
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
    eprintln!(
        "chaos: seed {seed}, {} s of load, {} kills, {} NATS node and {} Postgres restarts",
        args.duration.as_secs(),
        args.kills,
        args.nats_restarts,
        args.postgres_restarts
    );
    let started = Instant::now();
    let servers = Arc::new(Servers::start().await?);
    let settings = Settings {
        nats_url: servers.nats_urls.clone(),
        replicas: env::NODES,
        database_url: servers.database_url.clone(),
        namespace: Namespace::new("chaos")?,
        ..base
    };
    if let Some(dir) = &args.logs {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let services = Arc::new(Services::new(exe, settings.clone(), args.logs.clone()));
    let outcome = tokio::select! {
        outcome = drive(&settings, &args, seed, servers.clone(), services.clone()) => outcome,
        () = interrupted() => Err(anyhow::anyhow!("interrupted")),
    };
    services.kill_all().await;
    // The tasks that held the servers are aborted; a blocking restart may still finish first.
    let _ = poll(
        "the run's tasks to end",
        Duration::from_secs(30),
        || async { (Arc::strong_count(&servers) == 1).then_some(()) },
    )
    .await;
    drop(servers);
    let mut report = outcome?;
    report.elapsed_s = started.elapsed().as_secs();
    Ok(report)
}

async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn drive(
    settings: &Settings,
    args: &ChaosArgs,
    seed: u64,
    servers: Arc<Servers>,
    services: Arc<Services>,
) -> anyhow::Result<Report> {
    let client = connect::nats(&settings.nats_url, "buendel-chaos").await?;
    let store = EventStore::new(client.clone(), settings.namespace.clone())
        .with_replicas(settings.replicas);
    poll(
        "the R3 streams to be created",
        Duration::from_secs(CLUSTER_READY_S),
        || async { store.ensure_streams(&StreamKind::ALL).await.ok() },
    )
    .await?;
    let pool = db::connect_and_migrate(
        &settings.database_url,
        &settings.namespace,
        PoolLimits::default(),
    )
    .await?;
    services.start_all().await?;
    services_ready(&client, &settings.namespace).await?;

    let today = settings.clock.today();
    let load = Arc::new(Load::new(
        client.clone(),
        store.clone(),
        pool.clone(),
        seed,
        today,
    ));
    let deadline = today
        .checked_add_months(chrono::Months::new(24))
        .context("a commitment deadline in range")?;
    load.allocate(args.duration.as_secs() * 3, deadline).await;

    let slots = services.names().await.len();
    let counts = faults::Counts {
        kills: args.kills,
        node_restarts: args.nats_restarts,
        postgres_restarts: args.postgres_restarts,
    };
    let plan = faults::schedule(seed, args.duration, slots, counts);
    eprintln!("chaos: {} faults scheduled; load running", plan.len());
    let load_started = Instant::now();
    let targets = faults::Targets {
        servers: servers.clone(),
        services: services.clone(),
        store: store.clone(),
    };
    // Dropping a JoinSet aborts its tasks: an error or Ctrl-C leaves nothing running.
    let mut background = tokio::task::JoinSet::new();
    background.spawn(services.clone().supervise());
    let faults = tokio::spawn(faults::execute(plan, load_started, targets));
    let faults_abort = faults.abort_handle();
    let _abort_faults = AbortOnDrop(faults_abort);
    let mut operators = tokio::task::JoinSet::new();
    for _ in 0..args.operators.max(1) {
        operators.spawn(load.clone().operate());
    }
    tokio::time::sleep_until((load_started + args.duration).into()).await;
    load.stop();
    eprintln!("chaos: load over; waiting for the faults and operators to finish");
    let done = tokio::time::timeout(Duration::from_secs(DRAIN_S), faults)
        .await
        .context("the faults did not finish in time")?
        .context("the fault task failed")?;
    let drained = tokio::time::timeout(Duration::from_secs(DRAIN_S), async {
        while operators.join_next().await.is_some() {}
    })
    .await;

    services.start_all().await?;
    services_ready(&client, &settings.namespace).await?;
    eprintln!("chaos: waiting for quiescence");
    let mut findings = checks::Findings::default();
    if drained.is_err() {
        findings.violations.push(format!(
            "operators did not finish within {DRAIN_S} s after the load"
        ));
    }
    for failure in &done.failed {
        findings
            .violations
            .push(format!("fault not carried out: {failure}"));
    }
    for stuck in load.figures().stuck {
        findings.violations.push(format!("stuck: {stuck}"));
    }
    checks::quiescence(&store, &pool, Duration::from_secs(SETTLE_S)).await?;
    eprintln!("chaos: checking");
    let sent = load.sent();
    checks::answers(&load, &sent, &mut findings).await;
    checks::quiescence(&store, &pool, Duration::from_secs(SETTLE_S)).await?;
    checks::streams(&store, &load.published(), &sent, &mut findings).await?;
    checks::audit(&store, &pool, &mut findings).await?;
    if let (false, Some(dir)) = (findings.audit_ok, &args.logs) {
        // What the auditor refused, for `buendel audit verify --file` after the run is gone.
        let out = dir.join("ledger-export");
        buendel_audit::export(&store, &out, |_, _| {}).await?;
        eprintln!("chaos: the ledger is exported to {}", out.display());
    }
    rebuild(&store, &pool, &services, &mut findings).await?;
    background.abort_all();

    let mut events = BTreeMap::new();
    for kind in StreamKind::ALL {
        events.insert(
            kind.suffix().to_owned(),
            store.stream_last_sequence(kind).await?,
        );
    }
    let kills_per_service = services.counts().await;
    let figures = load.figures();
    let ok = findings.violations.is_empty()
        && findings.lost == 0
        && findings.doubled == 0
        && findings.answers_changed == 0
        && findings.audit_ok
        && findings.projection_differences == 0
        && findings.rebuild_equal;
    pool.close().await;
    Ok(Report {
        seed,
        duration_s: args.duration.as_secs(),
        elapsed_s: 0,
        kills: kills_per_service.values().map(|c| c.kills).sum(),
        kills_per_service,
        nats_node_restarts: done.node_restarts,
        postgres_restarts: done.postgres_restarts,
        events,
        load: figures,
        findings,
        ok,
    })
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits until the command services answer `$SRV.PING`.
async fn services_ready(client: &async_nats::Client, ns: &Namespace) -> anyhow::Result<()> {
    for service in ["submission", "approval", "ledger"] {
        let subject = format!("$SRV.PING.{}", ns.service_name(service));
        poll(
            &format!("{service} to answer"),
            Duration::from_secs(SERVICES_READY_S),
            || async {
                client
                    .request(subject.clone(), "".into())
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await?;
    }
    Ok(())
}

/// Digests the read models, has the projector rebuild them from sequence 1, and compares.
async fn rebuild(
    store: &EventStore,
    pool: &sqlx::PgPool,
    services: &Services,
    findings: &mut checks::Findings,
) -> anyhow::Result<()> {
    let live = checks::digest(pool).await?;
    let projector = services
        .index_of("projector")
        .await
        .context("no projector slot")?;
    services.stop(projector).await;
    buendel_projector::reset(store, pool).await?;
    services.restart(projector).await?;
    checks::projected(store, pool, Duration::from_secs(SETTLE_S)).await?;
    let rebuilt = checks::digest(pool).await?;
    checks::compare_rebuild(&live, &rebuilt, findings);
    Ok(())
}

/// The report for people.
pub fn print(report: &Report) {
    println!(
        "Bündel chaos: seed {}, {} s of load, {} s in all",
        report.seed, report.duration_s, report.elapsed_s
    );
    println!();
    println!("{:<16} {:>6} {:>16}", "service", "kills", "unplanned exits");
    for (slot, counts) in &report.kills_per_service {
        println!(
            "{slot:<16} {:>6} {:>16}",
            counts.kills, counts.unplanned_exits
        );
    }
    println!("{:<16} {:>6}", "all", report.kills);
    println!(
        "NATS node restarts {}, Postgres restarts {}",
        report.nats_node_restarts, report.postgres_restarts
    );
    println!();
    let events: Vec<String> = report
        .events
        .iter()
        .map(|(stream, n)| format!("{stream} {n}"))
        .collect();
    println!("events: {}", events.join(", "));
    let l = &report.load;
    println!(
        "proposals published {}; commands {} ({} requests with retries), accepted {}, refused {:?}, unanswered {}",
        l.proposals_published, l.commands, l.requests, l.accepted, l.refused, l.unanswered
    );
    let f = &report.findings;
    println!(
        "positive statements {}; audit {} over {} ledger events; projection differences {}; read models equal their rebuild: {}",
        f.positive_statements,
        if f.audit_ok { "ok" } else { "FAILED" },
        f.audit_events,
        f.projection_differences,
        f.rebuild_equal
    );
    println!(
        "lost {}, doubled {}, answers changed {}",
        f.lost, f.doubled, f.answers_changed
    );
    for violation in &f.violations {
        println!("VIOLATION: {violation}");
    }
    println!();
    println!("{}", if report.ok { "ok" } else { "FAILED" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_seconds_and_minutes() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("25"), Ok(Duration::from_secs(25)));
        assert!(parse_duration("soon").is_err());
    }
}
