//! A short `buendel chaos` run: the services as processes on their own three-node cluster and
//! Postgres, every service process killed at least once, one NATS node and Postgres restarted,
//! and afterwards nothing lost, nothing doubled, every answer the same the second time.

use std::process::Command;

use serde_json::Value;

#[test]
fn a_short_chaos_run_kills_every_service_restarts_a_node_and_postgres_and_loses_nothing() {
    let output = Command::new(env!("CARGO_BIN_EXE_buendel"))
        .args([
            "chaos",
            "--duration",
            "25s",
            "--seed",
            "11",
            "--kills",
            "12",
            "--nats-restarts",
            "1",
            "--postgres-restarts",
            "1",
            "--json",
        ])
        .env("BUENDEL_CLOCK", buendel_testing::test_date().to_string())
        .env("RUST_LOG", "warn")
        .output()
        .expect("chaos runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr: {stderr}"));
    let findings = &report["findings"];
    assert_eq!(report["ok"], true, "violations: {}", findings["violations"]);
    assert!(output.status.success(), "{stderr}");

    let per_service = report["kills_per_service"].as_object().expect("kills");
    assert_eq!(per_service.len(), 6, "{per_service:?}");
    for (service, counts) in per_service {
        assert!(
            counts["kills"].as_u64().is_some_and(|k| k >= 2),
            "{service} killed twice: {counts}"
        );
    }
    assert_eq!(report["kills"], 12);
    assert_eq!(report["nats_node_restarts"], 1);
    assert_eq!(report["postgres_restarts"], 1);

    assert_eq!(findings["lost"], 0);
    assert_eq!(findings["doubled"], 0);
    assert_eq!(findings["answers_changed"], 0);
    assert_eq!(findings["audit_ok"], true);
    assert_eq!(findings["projection_differences"], 0);
    assert_eq!(findings["rebuild_equal"], true);
    assert!(findings["positive_statements"]
        .as_u64()
        .is_some_and(|n| n > 0));

    let load = &report["load"];
    assert_eq!(load["unanswered"], 0);
    assert!(load["proposals_published"].as_u64().is_some_and(|n| n > 0));
    assert!(load["accepted"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(
        report["events"]["PROPOSALS"].as_u64().map(|n| n > 0),
        Some(true)
    );
}
