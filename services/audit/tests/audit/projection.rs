//! The online audit compares with the Postgres projections: clean when the LEDGER projection is
//! at the same point, and every altered row is reported as a difference.

use sqlx::PgPool;

use buendel_audit::{human, verify_online, Options};
use buendel_contract::namespace::StreamKind;
use buendel_projector::{apply_batch, LedgerProjection};
use buendel_runtime::db::{self, PoolLimits};

use crate::helpers::*;

/// Projects LEDGER into a fresh database of the namespace, as the projector does.
async fn projected(ledger: &TestLedger) -> PgPool {
    let pool = db::connect_and_migrate(
        &ledger.settings.database_url,
        &ledger.settings.namespace,
        PoolLimits::default(),
    )
    .await
    .expect("Postgres is running");
    let last = ledger
        .store
        .stream_last_sequence(StreamKind::Ledger)
        .await
        .expect("last");
    let filter = ledger
        .settings
        .namespace
        .stream_subjects(StreamKind::Ledger);
    let stored = ledger
        .store
        .read(StreamKind::Ledger, &filter, 1, last)
        .await
        .expect("read");
    let checkpoint = apply_batch(&pool, &LedgerProjection, &stored)
        .await
        .expect("projected");
    assert_eq!(checkpoint, last);
    pool
}

async fn drop_database(ledger: &TestLedger, pool: PgPool) {
    pool.close().await;
    let options =
        db::options(&ledger.settings.database_url, &ledger.settings.namespace).expect("options");
    db::drop_database(&options).await.expect("dropped");
}

#[tokio::test(flavor = "multi_thread")]
async fn altered_projection_rows_are_reported_as_differences() {
    let mut ledger = TestLedger::new().await;
    drive(&mut ledger).await;
    let pool = projected(&ledger).await;

    let clean = verify_online(&ledger.store, Some(&pool), &Options::default(), |_, _| {})
        .await
        .expect("verified");
    assert!(clean.ok, "{}", human(&clean));
    assert!(clean.differences.is_empty());

    sqlx::query(
        "UPDATE fund_balances SET balance_cents = balance_cents + 1 \
         WHERE fund_id = $1 AND source = 'esf_plus' AND account_kind = 'available'",
    )
    .bind(NON)
    .execute(&pool)
    .await
    .expect("altered");
    sqlx::query("UPDATE ledger_entries SET hash = 'forged' WHERE sequence = 6")
        .execute(&pool)
        .await
        .expect("altered");
    sqlx::query("UPDATE proposal_money SET esf_disbursed_cents = 0 WHERE proposal_id = $1")
        .bind(p(1))
        .execute(&pool)
        .await
        .expect("altered");

    let report = verify_online(&ledger.store, Some(&pool), &Options::default(), |_, _| {})
        .await
        .expect("verified");
    assert!(!report.ok);
    assert_eq!(report.first_failure, None, "the ledger itself is sound");
    let keys: Vec<(&str, &str)> = report
        .differences
        .iter()
        .map(|d| (d.kind.as_str(), d.key.as_str()))
        .collect();
    let p1 = p(1).to_string();
    for expected in [
        (
            "fund_balance",
            "non-2021-2027 esf_plus available".to_owned(),
        ),
        ("entry", "sequence 6 hash".to_owned()),
        ("proposal_money", format!("{p1} esf_plus disbursed")),
    ] {
        assert!(
            keys.contains(&(expected.0, expected.1.as_str())),
            "{expected:?} not in {keys:?}"
        );
    }
    assert_eq!(report.differences.len(), 3, "{}", human(&report));
    assert_eq!(report.verification(), clean.verification());

    drop_database(&ledger, pool).await;
    ledger.cleanup().await;
}

/// `GET path` through the API router, as JSON.
async fn api_get(pool: &PgPool, path: &str) -> serde_json::Value {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    let app = buendel_api::app(buendel_api::AppState::new(pool.clone()));
    let request = axum::http::Request::get(path)
        .body(axum::body::Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("response");
    assert_eq!(response.status(), 200, "{path}");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn as_of_a_middle_date_equals_the_balances_the_api_shows_for_that_day() {
    let mut ledger = TestLedger::new().await;
    drive(&mut ledger).await;
    let pool = projected(&ledger).await;
    for as_of in [day(2025, 4, 30), day(2025, 12, 31), day(2026, 10, 1)] {
        let options = Options {
            as_of: Some(as_of),
            ..Options::default()
        };
        let report = verify_online(&ledger.store, Some(&pool), &options, |_, _| {})
            .await
            .expect("verified");
        assert!(report.ok, "{}", human(&report));
        for summary in &report.funds {
            let api = api_get(
                &pool,
                &format!("/v1/funds/{}?as_of={as_of}", summary.fund_id),
            )
            .await;
            let json = |v: buendel_contract::ledger::SourceBalances| {
                serde_json::to_value(v).expect("json")
            };
            assert_eq!(api["esf_plus"], json(summary.esf_plus), "{as_of}");
            assert_eq!(api["land"], json(summary.land), "{as_of}");
            assert_eq!(api["total"], json(summary.total), "{as_of}");
            assert_eq!(api["entries"], summary.balances_events, "{as_of}");
            assert_eq!(
                api["last_hash"].as_str(),
                summary.balances_hash.as_deref(),
                "{as_of}"
            );
        }
        let non = report.fund(NON).expect("non");
        assert!(non.balances_events < non.events, "{as_of} is in the middle");
    }
    drop_database(&ledger, pool).await;
    ledger.cleanup().await;
}
