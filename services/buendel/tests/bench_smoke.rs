//! A small run of `buendel bench`, so the benchmark cannot rot: it must complete, and what it did
//! must hold together. Its speed is not asserted here (speed is what the benchmark itself reports).

use std::process::Command;

use serde_json::Value;

#[test]
fn a_small_bench_run_completes_and_its_invariants_hold() {
    let output = Command::new(env!("CARGO_BIN_EXE_buendel"))
        .args([
            "bench",
            "--proposals",
            "40",
            "--concurrency",
            "4",
            "--baseline-messages",
            "200",
            "--json",
        ])
        .env("RUST_LOG", "warn")
        .env("NATS_URL", buendel_testing::nats_url())
        .output()
        .expect("bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");

    let figures = &report["figures"];
    assert_eq!(
        figures["stream_events"]["INTAKE"], 40,
        "every proposal was published once"
    );
    let statuses = figures["statuses"].as_object().expect("statuses");
    let projected: i64 = statuses.values().filter_map(Value::as_i64).sum();
    assert_eq!(projected, 40, "every proposal is projected: {statuses:?}");
    assert!(figures["intake_per_s"].as_u64().is_some_and(|r| r > 0));
    assert!(figures["projection_catchup_per_s"]
        .as_u64()
        .is_some_and(|r| r > 0));
    assert_eq!(figures["intake_latency"]["count"], 40);
    assert!(
        figures["commands"].as_u64().is_some_and(|n| n > 40),
        "the review phase ran"
    );
    assert_eq!(
        figures["commands_refused"], 0,
        "the workload sends only valid commands"
    );
    assert_eq!(figures["commands_unanswered"], 0);
    assert_eq!(
        figures["audit_ok"], true,
        "the ledger the workload built verifies"
    );
    assert!(figures["audit_events"].as_u64().is_some_and(|n| n > 0));
    for ratio in ["commands", "intake", "projection_catchup", "audit_online"] {
        assert!(report["ratios"][ratio].is_u64(), "ratio {ratio} missing");
    }
    for limit in [
        "publish_awaited_per_s",
        "publish_windowed_per_s",
        "command_passthrough_per_s",
        "intake_passthrough_per_s",
        "ordered_read_per_s",
        "pg_upsert_per_s",
    ] {
        assert!(
            report["limits"][limit].as_u64().is_some_and(|r| r > 0),
            "limit {limit} not measured"
        );
    }
    assert!(figures["peak_rss_kib"]["submission"]
        .as_u64()
        .is_some_and(|kib| kib > 0));
}
