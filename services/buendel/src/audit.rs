//! `buendel audit verify|export`: the auditor's replay, from the live stream or from an export.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use buendel_audit::{human, Options, Report};
use buendel_runtime::db::{self, PoolLimits};
use buendel_runtime::{connect, EventStore, Settings};

/// What `verify` checks and prints.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Verify an export (`ledger.jsonl` beside its `manifest.json`) offline: no NATS, no Postgres.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Only this fund (every stream sequence is still checked for gaps).
    #[arg(long)]
    pub fund: Option<String>,
    /// Balances at the end of this day (YYYY-MM-DD), from the events' value dates.
    #[arg(long)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Stop after this stream sequence.
    #[arg(long)]
    pub until_seq: Option<u64>,
    /// Online: do not compare with the Postgres projections.
    #[arg(long)]
    pub no_compare: bool,
    /// Print the machine-readable report (JSON) instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// The transparency logs' pinned keys: with a log key, both logs are recomputed from the
    /// events and checked against their signed checkpoints (online: fresh from the log service;
    /// offline: `ledger.checkpoint` and `reviews.checkpoint` beside the file).
    #[command(flatten)]
    pub pins: crate::tlog::PinArgs,
    /// The auditor's own trusted state (a JSON file it keeps): every checkpoint must extend the
    /// one trusted there, which moves forward after each passing audit.
    #[arg(long)]
    pub trusted: Option<PathBuf>,
    /// Online, comparing: leave the result in Postgres (`audit_runs`), where the dashboard's
    /// exceptions show the differences the latest audit found. Needs a role that may write there
    /// (the namespace's writer or its owner).
    #[arg(long, conflicts_with = "no_compare")]
    pub record: bool,
}

fn progress(label: &'static str) -> impl FnMut(u64, u64) {
    move |done, total| {
        if total > 0 {
            eprintln!("{label}: {done} of {total} events");
        } else {
            eprintln!("{label}: {done} events");
        }
    }
}

fn print(report: &Report, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{}", human(report));
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `buendel audit verify`: exit 0 when everything holds, 1 naming the first bad event otherwise.
pub async fn verify(settings: &Settings, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let options = Options {
        fund: args.fund.clone(),
        until_seq: args.until_seq,
        as_of: args.as_of,
    };
    if let Some(file) = &args.file {
        let path = file.clone();
        let report = tokio::task::spawn_blocking(move || {
            buendel_audit::verify_file(&path, &options, progress("verify"))
        })
        .await
        .context("the offline verification panicked")??;
        let mut report = report;
        if args.pins.any() {
            let pinned = args.pins.pinned()?;
            let trusted = crate::tlog::load_trusted(args.trusted.as_deref())?;
            let dir = file
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_owned);
            let (logs, next) =
                buendel_audit::transparency::verify_logs_files(&dir, &pinned, &trusted)?;
            report.transparency = logs;
            report.settle();
            keep_trusted(&report, args.trusted.as_deref(), &next)?;
        }
        return print(&report, args.json);
    }
    let client = connect::nats_as(
        &settings.nats_url,
        "buendel-audit",
        settings.nats_nkey.as_deref(),
    )
    .await?;
    let store = EventStore::new(client.clone(), settings.namespace.clone())
        .with_replicas(settings.replicas);
    let pool = if args.no_compare {
        None
    } else {
        let pool = db::connect(
            &settings.database_url,
            &settings.namespace,
            PoolLimits::default(),
        )
        .await
        .context(
            "cannot reach the projections in Postgres (use --no-compare to skip the comparison)",
        )?;
        Some(pool)
    };
    // The checkpoints are asked for first: the replay that follows reads at least what they cover.
    let notes = if args.pins.any() {
        Some(crate::tlog::fresh_checkpoints(&client, settings).await)
    } else {
        None
    };
    let mut report =
        buendel_audit::verify_online(&store, pool.as_ref(), &options, progress("verify")).await?;
    if let Some(notes) = notes {
        let pinned = args.pins.pinned()?;
        let trusted = crate::tlog::load_trusted(args.trusted.as_deref())?;
        let (logs, next) =
            buendel_audit::transparency::verify_logs_online(&store, &notes, &pinned, &trusted)
                .await?;
        report.transparency = logs;
        report.settle();
        keep_trusted(&report, args.trusted.as_deref(), &next)?;
    }
    if let (true, Some(pool)) = (args.record, pool.as_ref()) {
        record(pool, &report, settings.clock.now())
            .await
            .context("recording the audit's result in audit_runs")?;
    }
    print(&report, args.json)
}

/// Leaves an online audit's result in `audit_runs` (one row per run).
pub async fn record(
    pool: &sqlx::PgPool,
    report: &Report,
    finished_at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO audit_runs (run_id, finished_at, ok, first_sequence, last_sequence, events, \
             failure, difference_count, differences) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(finished_at)
    .bind(report.ok)
    .bind(report.first_sequence.map(as_i64))
    .bind(report.last_sequence.map(as_i64))
    .bind(as_i64(report.events))
    .bind(
        report
            .first_failure
            .as_ref()
            .map(serde_json::to_value)
            .transpose()?,
    )
    .bind(i32::try_from(report.differences.len()).unwrap_or(i32::MAX))
    .bind(serde_json::to_value(&report.differences)?)
    .execute(pool)
    .await?;
    Ok(())
}

/// The log's own leaf hashes up to each checkpoint's size, from its tables, so that an offline
/// audit of the export can say which event differs. Without the tables the export has none (the
/// audit still fails on a changed event; it only cannot say which).
async fn leaf_lists(
    settings: &Settings,
    notes: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, Vec<buendel_tlog::Hash>> {
    let mut lists = std::collections::BTreeMap::new();
    if notes.is_empty() {
        return lists;
    }
    let pool = match db::connect(
        &settings.database_url,
        &settings.namespace,
        PoolLimits::default(),
    )
    .await
    {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!("no leaf lists in the export: {error:#}");
            return lists;
        }
    };
    let tree = buendel_transparency::TreeStore::new(pool);
    for (log, note) in notes {
        let size = buendel_tlog::Note::parse(note)
            .ok()
            .and_then(|n| buendel_tlog::Checkpoint::parse(&n.text).ok())
            .map(|c| c.size);
        let (Some(size), Ok(parsed)) = (size, log.parse::<buendel_transparency::Log>()) else {
            continue;
        };
        match tree.leaf_hashes(parsed, size).await {
            Ok(hashes) => {
                lists.insert(log.clone(), hashes);
            }
            Err(error) => eprintln!("no leaf list of the {log} log in the export: {error}"),
        }
    }
    lists
}

/// Moves the trusted state forward, only after an audit that passed whole.
fn keep_trusted(
    report: &Report,
    path: Option<&Path>,
    next: &buendel_audit::transparency::Trusted,
) -> anyhow::Result<()> {
    if let (true, Some(path)) = (report.ok, path) {
        next.save(path)?;
    }
    Ok(())
}

/// `buendel audit export --out DIR`.
pub async fn export(settings: &Settings, out: &Path) -> anyhow::Result<ExitCode> {
    let client = connect::nats_as(
        &settings.nats_url,
        "buendel-audit",
        settings.nats_nkey.as_deref(),
    )
    .await?;
    let store = EventStore::new(client.clone(), settings.namespace.clone())
        .with_replicas(settings.replicas);
    // Checkpoints first, so that the export holds every event they cover.
    let notes = crate::tlog::fresh_checkpoints(&client, settings).await;
    let manifest = buendel_audit::export(&store, out, progress("export")).await?;
    let leaves = leaf_lists(settings, &notes).await;
    let reviews = buendel_audit::transparency::export_logs(&store, out, &notes, &leaves).await?;
    eprintln!(
        "{reviews} REVIEWS messages exported; checkpoints of {}",
        if notes.is_empty() {
            "no log (the transparency log does not run)".to_owned()
        } else {
            notes.keys().cloned().collect::<Vec<_>>().join(" and ")
        }
    );
    eprintln!("exported to {}", out.display());
    println!("{}", serde_json::to_string_pretty(&manifest)?);
    Ok(ExitCode::SUCCESS)
}
