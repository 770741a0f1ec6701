//! `buendel sim`: the deterministic simulation of the whole saga, many seeds at a time.
//!
//! `buendel sim --seed 7` runs seed 7 and prints its report (with the hash of its trace: running
//! it again prints the same); `buendel sim --seeds 500` runs seeds 0 to 499 and stops at the first
//! that breaks a rule, printing it so it can be run again alone.

use std::process::ExitCode;

use chrono::NaiveDate;

use buendel_sim::{Config, Report};

/// The business date a run starts on unless `--date` says otherwise: fixed, so a seed means the
/// same run on any day.
pub const DATE_DEFAULT: &str = "2026-03-02";

/// `buendel sim` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// How many seeds to run, from `--seed` on.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// The (first) seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Proposals per run.
    #[arg(long, default_value_t = 12)]
    pub proposals: usize,
    /// Processes per service (submission, approval, ledger).
    #[arg(long, default_value_t = 2)]
    pub instances: usize,
    /// The business date the runs start on (YYYY-MM-DD).
    #[arg(long, default_value = DATE_DEFAULT)]
    pub date: NaiveDate,
    /// Run without faults (the schedule is still the seed's).
    #[arg(long)]
    pub no_faults: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl SimArgs {
    /// The configuration of every run.
    pub fn config(&self) -> Config {
        Config {
            faults: !self.no_faults,
            proposals: self.proposals,
            instances: self.instances,
            ..Config::standard(self.date)
        }
    }
}

/// Runs the seeds; exit 1 at the first that fails.
pub fn run(args: &SimArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.seeds >= 1, "--seeds must be at least 1");
    anyhow::ensure!(
        (1..=1_000).contains(&args.proposals),
        "--proposals must be between 1 and 1000"
    );
    anyhow::ensure!(
        (1..=8).contains(&args.instances),
        "--instances must be between 1 and 8"
    );
    let config = args.config();
    let mut passed = 0_u64;
    let mut last: Option<Report> = None;
    for seed in args.seed..args.seed.saturating_add(args.seeds) {
        let report = buendel_sim::run(seed, &config);
        if !report.ok() {
            print(args, &report, passed)?;
            return Ok(ExitCode::FAILURE);
        }
        passed += 1;
        if !args.json && args.seeds > 1 && passed.is_multiple_of(100) {
            eprintln!("{passed} of {} seeds passed", args.seeds);
        }
        last = Some(report);
    }
    if let Some(report) = last {
        print(args, &report, passed)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print(args: &SimArgs, report: &Report, passed: u64) -> anyhow::Result<()> {
    if args.json {
        let value = serde_json::json!({
            "seeds_passed": passed,
            "seeds": args.seeds,
            "report": report,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    match &report.violation {
        Some(violation) => {
            println!(
                "seed {} FAILED at step {}: {}: {}",
                report.seed, violation.step, violation.check, violation.detail
            );
            println!("trace sha256 {}", report.trace_sha256);
            println!(
                "run it alone: buendel sim --seed {} --proposals {} --instances {} --date {}{}",
                report.seed,
                args.proposals,
                args.instances,
                args.date,
                if args.no_faults { " --no-faults" } else { "" }
            );
            println!("({passed} seeds passed before it)");
        }
        None => {
            if args.seeds > 1 {
                println!(
                    "{passed} seeds passed ({}..={}); the last:",
                    args.seed, report.seed
                );
            }
            let c = &report.counts;
            println!("seed {}: every check held", report.seed);
            println!("trace sha256 {}", report.trace_sha256);
            println!(
                "steps {}, deliveries {}, crashes {} ({} between two writes), restarts {}, lost acks {}, duplicated deliveries {}, lost replies {}, retries {}, naks {}",
                c.steps, c.deliveries, c.crashes, c.crashes_mid_step, c.restarts, c.lost_acks,
                c.duplicated_deliveries, c.lost_replies, c.retries, c.naks
            );
            let messages: Vec<String> = report
                .messages
                .iter()
                .map(|(stream, n)| format!("{stream} {n}"))
                .collect();
            println!("messages: {}", messages.join(", "));
        }
    }
    Ok(())
}
