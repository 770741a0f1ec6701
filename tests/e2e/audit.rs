//! The auditor over a ledger built by the real services: clean online and offline with identical
//! summaries, a tampered projection reported, balances as of a date equal to the API's.

use serde_json::Value;

use buendel_audit::{Options, Report};

use crate::helpers::{spawn_app, TestApp};

/// Loads the demo (intake → review → grant → tranches → close → clawback) and waits until the
/// projections have caught up with the whole ledger.
async fn demo_ledger(app: &TestApp) -> u64 {
    buendel::demo::load(&app.client, &app.store, app.settings.clock)
        .await
        .expect("demo loads");
    let last = app
        .store
        .stream_last_sequence(buendel_contract::namespace::StreamKind::Ledger)
        .await
        .expect("ledger");
    crate::helpers::eventually("the ledger projected", || async {
        let checkpoint = buendel_projector::checkpoint::checkpoint(
            &app.pool,
            buendel_contract::namespace::StreamKind::Ledger,
        )
        .await
        .ok()?;
        (checkpoint >= last).then_some(())
    })
    .await;
    last
}

fn summary(report: &Report) -> Value {
    let mut value = serde_json::to_value(report).expect("json");
    if let Some(map) = value.as_object_mut() {
        map.remove("differences");
        map.remove("ok");
    }
    value
}

#[tokio::test]
async fn a_ledger_built_through_the_services_verifies_clean_online_and_offline_with_identical_summaries(
) {
    let app = spawn_app().await;
    let last = demo_ledger(&app).await;
    let options = Options::default();
    let online = buendel_audit::verify_online(&app.store, Some(&app.pool), &options, |_, _| {})
        .await
        .expect("verify");
    assert!(online.ok, "{}", buendel_audit::human(&online));
    assert_eq!(online.last_sequence, Some(last));
    assert!(online.funds.iter().all(|f| f.trial_balance_zero));

    let dir = std::env::temp_dir().join(format!("buendel-audit-{}", app.settings.namespace));
    buendel_audit::export(&app.store, &dir, |_, _| {})
        .await
        .expect("export");
    for file in ["ledger.jsonl", "manifest.json", "postings.csv"] {
        assert!(dir.join(file).exists(), "{file} written");
    }
    let path = dir.join("ledger.jsonl");
    let offline = tokio::task::spawn_blocking(move || {
        buendel_audit::verify_file(&path, &Options::default(), |_, _| {})
    })
    .await
    .expect("joined")
    .expect("verify file");
    assert!(offline.ok, "{}", buendel_audit::human(&offline));
    assert_eq!(summary(&online), summary(&offline));
    std::fs::remove_dir_all(&dir).expect("cleanup");
    app.cleanup().await;
}

#[tokio::test]
async fn a_projection_row_altered_in_postgres_is_reported_by_the_online_verify() {
    let app = spawn_app().await;
    demo_ledger(&app).await;
    let changed = sqlx::query(
        "UPDATE proposal_money SET esf_disbursed_cents = esf_disbursed_cents + 1 \
         WHERE proposal_id = (SELECT proposal_id FROM proposal_money WHERE esf_disbursed_cents > 0 LIMIT 1)",
    )
    .execute(&app.pool)
    .await
    .expect("update");
    assert_eq!(changed.rows_affected(), 1);
    let report =
        buendel_audit::verify_online(&app.store, Some(&app.pool), &Options::default(), |_, _| {})
            .await
            .expect("verify");
    assert!(!report.ok);
    assert!(report.first_failure.is_none(), "the ledger itself is whole");
    assert!(!report.differences.is_empty());
    app.cleanup().await;
}

#[tokio::test]
async fn balances_as_of_a_date_equal_what_the_api_shows_for_that_date() {
    let app = spawn_app().await;
    demo_ledger(&app).await;
    let today = buendel_testing::test_date();
    for day in [today.pred_opt().expect("yesterday"), today] {
        let options = Options {
            as_of: Some(day),
            ..Options::default()
        };
        let report = buendel_audit::verify_online(&app.store, None, &options, |_, _| {})
            .await
            .expect("verify");
        assert!(report.ok);
        let fund = report
            .funds
            .iter()
            .find(|f| f.fund_id == "non-2021-2027")
            .expect("fund");
        let (_, api) = app
            .get(&format!("/v1/funds/non-2021-2027?as_of={day}"))
            .await;
        let audited = serde_json::to_value(fund).expect("json");
        for source in ["esf_plus", "land", "total"] {
            for figure in [
                "allocated",
                "available",
                "reserved",
                "committed",
                "disbursed",
                "recovered",
                "repaid",
                "expired",
            ] {
                assert_eq!(
                    audited[source][figure], api[source][figure],
                    "{day} {source}.{figure}"
                );
            }
        }
    }
    app.cleanup().await;
}
