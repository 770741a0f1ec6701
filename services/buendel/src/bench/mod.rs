//! `buendel bench`: the standard workload through the real services, and the limits of the same
//! NATS and Postgres measured in the same run, so every figure is a ratio that holds on a noisy
//! shared machine.
//!
//! - [`baseline`]: raw JetStream publish (awaited, windowed), pass-through command and intake
//!   services, a raw ordered-consumer read and a raw batched Postgres upsert.
//! - [`workload`]: the seeded workload, the services as separate processes, their memory.
//! - [`stats`]: latency percentiles and integer rates and ratios.

pub mod baseline;
pub mod commands;
pub mod cpu;
pub mod stats;
pub mod workload;

use serde::Serialize;

use buendel_runtime::Settings;

pub use workload::{BenchArgs, Figures};

/// The whole report: figures, limits and ratios.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The arguments of the run.
    pub args: BenchArgs,
    /// What Bündel did.
    pub figures: Figures,
    /// What the same servers can do with no logic.
    pub limits: baseline::Limits,
    /// Each Bündel figure over its limit, in thousandths (`530` = 0.53).
    pub ratios: Ratios,
}

/// Bündel figures over their limits, in thousandths.
#[derive(Debug, Serialize, Default)]
pub struct Ratios {
    /// Commands per second over the pass-through command service.
    pub commands: u64,
    /// Intake events per second over the pass-through intake consumer.
    pub intake: u64,
    /// Projection catch-up over the raw batched Postgres upsert.
    pub projection_catchup: u64,
    /// Online audit replay over the raw ordered-consumer read.
    pub audit_online: u64,
    /// The transparency log's offline check over SHA-256 of the same lines.
    pub tlog_offline: u64,
}

/// Runs the benchmark and prints it (a table, or JSON with `--json`).
pub async fn run(settings: Settings, args: BenchArgs, json: bool) -> anyhow::Result<Report> {
    let report = workload::run(settings, args).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(report)
}

fn print_table(report: &Report) {
    use stats::milli;
    let f = &report.figures;
    let l = &report.limits;
    let r = &report.ratios;
    println!(
        "Bündel bench: {} proposals, concurrency {}, seed {}",
        report.args.proposals, report.args.concurrency, report.args.seed
    );
    println!();
    println!(
        "{:<44} {:>12} {:>14} {:>8}",
        "figure", "value", "limit", "ratio"
    );
    let row = |name: &str, value: u64, limit: u64, ratio: u64| {
        println!("{name:<44} {value:>12} {limit:>14} {:>8}", milli(ratio));
    };
    row(
        "intake events accepted /s",
        f.intake_per_s,
        l.intake_passthrough_per_s,
        r.intake,
    );
    row(
        "commands accepted /s",
        f.commands_per_s,
        l.command_passthrough_per_s,
        r.commands,
    );
    row(
        "projection catch-up events /s",
        f.projection_catchup_per_s,
        l.pg_upsert_per_s,
        r.projection_catchup,
    );
    row(
        "audit replay online events /s",
        f.audit_online_per_s,
        l.ordered_read_per_s,
        r.audit_online,
    );
    println!(
        "{:<44} {:>12}",
        "audit replay offline events /s", f.audit_offline_per_s
    );
    row(
        "transparency log offline events /s",
        f.tlog_offline_per_s,
        f.sha256_lines_per_s,
        r.tlog_offline,
    );
    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "latency (ms)", "p50", "p99", "p99.9"
    );
    let lat = |name: &str, s: &stats::LatencySummary| {
        println!(
            "{name:<44} {:>10} {:>10} {:>10}",
            milli(s.p50_us),
            milli(s.p99_us),
            milli(s.p999_us)
        );
    };
    lat("intake: publish → event appended", &f.intake_latency);
    lat("commands: request → reply", &f.command_latency);
    lat(
        "pass-through command (limit)",
        &l.command_passthrough_latency,
    );
    lat("projection lag: append → row", &f.projection_lag);
    println!();
    println!(
        "limits: raw publish awaited {}/s, windowed {}/s; two-event atomic decisions {}/s",
        l.publish_awaited_per_s, l.publish_windowed_per_s, l.atomic_pairs_per_s
    );
    for (phase, used) in &f.cpu_us_per_proposal {
        let used: Vec<String> = used.iter().map(|(p, us)| format!("{p} {us}")).collect();
        println!("CPU µs per proposal, {phase}: {}", used.join(", "));
    }
    for (service, kib) in &f.peak_rss_kib {
        println!("peak resident memory {service:<12} {:>8} MiB", kib / 1024);
    }
}
