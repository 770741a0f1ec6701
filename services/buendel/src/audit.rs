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
        return print(&report, args.json);
    }
    let client = connect::nats(&settings.nats_url, "buendel-audit").await?;
    let store =
        EventStore::new(client, settings.namespace.clone()).with_replicas(settings.replicas);
    let pool = if args.no_compare {
        None
    } else {
        let options = db::options(&settings.database_url, &settings.namespace)?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(PoolLimits::default().max_connections)
            .connect_with(options)
            .await
            .context("cannot reach the projections in Postgres (use --no-compare to skip the comparison)")?;
        Some(pool)
    };
    let report =
        buendel_audit::verify_online(&store, pool.as_ref(), &options, progress("verify")).await?;
    print(&report, args.json)
}

/// `buendel audit export --out DIR`.
pub async fn export(settings: &Settings, out: &Path) -> anyhow::Result<ExitCode> {
    let client = connect::nats(&settings.nats_url, "buendel-audit").await?;
    let store =
        EventStore::new(client, settings.namespace.clone()).with_replicas(settings.replicas);
    let manifest = buendel_audit::export(&store, out, progress("export")).await?;
    eprintln!("exported to {}", out.display());
    println!("{}", serde_json::to_string_pretty(&manifest)?);
    Ok(ExitCode::SUCCESS)
}
