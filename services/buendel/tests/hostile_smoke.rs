//! A CI-sized run of `buendel hostile` as its own process, so that its resident memory is the
//! system's and the generator's alone: every message accepted or dead-lettered as its kind says,
//! the counts adding up, the service answering afterwards, and memory bounded. The full 100,000
//! (`RELIABILITY.md`) is the same command with `--messages 100000`.

use std::process::Command;

use serde_json::Value;

/// How many messages (`BUENDEL_HOSTILE_MESSAGES`, default 2,000).
fn messages() -> String {
    std::env::var("BUENDEL_HOSTILE_MESSAGES").unwrap_or_else(|_| "2000".to_owned())
}

/// How much resident memory may grow from the system's start to the end of the run, KiB. The
/// services' caches hold at most 10,000 aggregates each, so the growth levels off whatever the
/// input (24 MiB at 2,000 messages, 106 MiB at 100,000, see `RELIABILITY.md`); a leak of the input
/// itself (358 MB over the full run) would not fit. At this test's size the bound catches only a
/// gross leak; the full run is where one proportional to the input shows.
const RSS_GROWTH_MAX_KIB: u64 = 192 * 1024;

#[test]
fn a_seeded_hostile_run_adds_up_keeps_serving_and_keeps_its_memory_bounded() {
    let namespace = buendel_testing::fresh_namespace();
    let nats_url = buendel_testing::nats_url();
    let database_url = "postgres://postgres@127.0.0.1:5432";
    // The run removes its namespace itself; the guard does when it fails halfway.
    let _guard = buendel_testing::NamespaceGuard::new(&nats_url, namespace.clone())
        .with_database(database_url);
    let output = Command::new(env!("CARGO_BIN_EXE_buendel"))
        .args(["hostile", "--messages", &messages(), "--seed", "5"])
        .args(["--timeout-s", "120"])
        .env("RUST_LOG", "warn")
        .env("NATS_URL", &nats_url)
        .env("DATABASE_URL", database_url)
        .env("BUENDEL_NAMESPACE", namespace.to_string())
        .env("BUENDEL_CLOCK", buendel_testing::test_date().to_string())
        .output()
        .expect("buendel hostile runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("one JSON report ({e}); stderr: {stderr}"));
    assert!(output.status.success(), "{report:#}\n{stderr}");
    assert_eq!(report["failures"], Value::Array(vec![]), "{report:#}");
    let published = report["published"].as_u64().expect("published");
    assert_eq!(published.to_string(), messages());
    let accepted = report["accepted"].as_u64().expect("accepted");
    let dead = report["dead_lettered"].as_u64().expect("dead_lettered");
    assert_eq!(accepted + dead, published, "{report:#}");
    assert_eq!(report["still_serving"], true, "{report:#}");
    let start = report["rss_start_kib"].as_u64().expect("rss");
    let end = report["rss_end_kib"].as_u64().expect("rss");
    assert!(start > 0, "RSS measured: {report:#}");
    assert!(
        end.saturating_sub(start) <= RSS_GROWTH_MAX_KIB,
        "resident memory grew from {start} to {end} KiB: {report:#}"
    );
}
