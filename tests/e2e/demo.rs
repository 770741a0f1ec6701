//! `buendel up --demo`: an operator opening the API sees a living program, not an empty one.

use std::collections::BTreeMap;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_demo_drives_every_project_to_its_state_and_loading_it_twice_changes_nothing() {
    let app = spawn_app().await;
    buendel::demo::load(&app.client, &app.store, app.settings.clock)
        .await
        .expect("demo loads");

    let expected: BTreeMap<&str, usize> = [
        ("granted", 3),
        ("funds_reserved", 4),
        ("waitlisted", 1),
        ("closed", 2),
        ("refused", 1),
        ("withdrawn", 1),
        ("statement_negative", 1),
        ("in_review", 1),
        ("screening_failed", 1),
    ]
    .into();
    let counts = |body: &serde_json::Value| -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for item in body["items"].as_array().into_iter().flatten() {
            *counts
                .entry(item["status"].as_str().unwrap_or("?").to_owned())
                .or_insert(0) += 1;
        }
        counts
    };
    let want: BTreeMap<String, usize> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    app.get_until("/v1/proposals?limit=100", |_, body| counts(body) == want)
        .await;

    let (_, fund) = app.get("/v1/funds/non-2021-2027").await;
    assert_eq!(fund["total"]["allocated"], 234_000_000);
    assert_eq!(fund["trial_balance_zero"], true);
    let (_, letters) = app.get("/v1/deadletters").await;
    assert_eq!(letters["items"].as_array().map(Vec::len), Some(1));

    let ledger_events = app
        .store
        .stream_last_sequence(buendel_contract::namespace::StreamKind::Ledger)
        .await
        .expect("ledger");
    buendel::demo::load(&app.client, &app.store, app.settings.clock)
        .await
        .expect("demo loads again");
    let again = app
        .store
        .stream_last_sequence(buendel_contract::namespace::StreamKind::Ledger)
        .await
        .expect("ledger");
    assert_eq!(ledger_events, again, "a second load books nothing");
    app.cleanup().await;
}
