//! The short run of `buendel chaos` as its own process: the services as separate processes on
//! their own three-node NATS cluster (R3) and their own Postgres, 12 SIGKILLs spread over the six
//! service processes, one NATS node and one Postgres restart under 25 s of the standard workload;
//! afterwards nothing lost or doubled, every command answered the same way when sent again, the
//! audit whole, the read models equal to their rebuild, no dead letter. The long run
//! (`RELIABILITY.md`, "Chaos") is the same command with `--duration 300s` and the default faults.
//!
//! The run starts and removes its own servers on free loopback ports, so it touches nothing of the
//! other tests.

use std::process::Command;

use serde_json::Value;

#[test]
fn a_short_chaos_run_loses_nothing_doubles_nothing_and_leaves_no_dead_letter() {
    let output = Command::new(env!("CARGO_BIN_EXE_buendel"))
        .args(["chaos", "--duration", "25s", "--seed", "11"])
        .args([
            "--kills",
            "12",
            "--nats-restarts",
            "1",
            "--postgres-restarts",
            "1",
        ])
        .arg("--json")
        .env("RUST_LOG", "warn")
        .env("BUENDEL_CLOCK", buendel_testing::test_date().to_string())
        .output()
        .expect("buendel chaos runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("one JSON report ({e}); stderr: {stderr}"));
    assert!(output.status.success(), "{report:#}\n{stderr}");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["kills"], 12, "{report:#}");
    assert_eq!(report["nats_node_restarts"], 1, "{report:#}");
    assert_eq!(report["postgres_restarts"], 1, "{report:#}");
    let findings = &report["findings"];
    for figure in [
        "lost",
        "doubled",
        "answers_changed",
        "projection_differences",
    ] {
        assert_eq!(findings[figure], 0, "{figure}: {report:#}");
    }
    assert_eq!(findings["audit_ok"], true, "{report:#}");
    assert_eq!(findings["rebuild_equal"], true, "{report:#}");
    assert_eq!(findings["violations"], Value::Array(vec![]), "{report:#}");
    assert_eq!(
        findings["dead_letters"],
        serde_json::json!({}),
        "{report:#}"
    );
    assert!(
        findings["positive_statements"].as_u64() > Some(0),
        "{report:#}"
    );
    let load = &report["load"];
    assert_eq!(load["unanswered"], 0, "{report:#}");
    assert_eq!(load["stuck"], Value::Array(vec![]), "{report:#}");
    assert!(load["commands"].as_u64() > Some(100), "{report:#}");
    assert!(
        load["proposals_published"].as_u64() > Some(10),
        "{report:#}"
    );
}
