//! `buendel up --demo`: an operator opening the API sees a living program, not an empty one.

use std::collections::BTreeMap;

use serde_json::Value;

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

    // Payment claims in every state, each paid one approved by another officer than its verifier:
    // three for each of the two paying projects, and the two tranches of each of the two closed
    // ones, paid in full.
    let claims = app
        .get_until("/v1/claims?limit=100", |_, body| {
            body["items"].as_array().map(Vec::len) == Some(10)
        })
        .await;
    let mut states: Vec<&str> = claims["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["status"].as_str().unwrap_or("?"))
        .collect();
    states.sort_unstable();
    states.dedup();
    assert_eq!(
        states,
        ["paid", "resubmitted", "returned", "submitted", "verified"],
        "{claims}"
    );
    for paid in claims["items"].as_array().into_iter().flatten() {
        if paid["status"] == "paid" {
            assert_ne!(paid["approved_by"], paid["verified_by"], "{paid}");
        }
    }
    // The closed 2014–2020 period, imported from the old books: two funds, forty projects, all
    // closed, nothing left reserved, unpaid or available, the documents of every one under
    // retention on the business date, one recovered with its interest charged and paid.
    let (_, funds) = app.get("/v1/funds").await;
    for fund_id in ["non-2014-2020", "son-2014-2020"] {
        let fund = funds["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["fund_id"] == fund_id)
            .unwrap_or_else(|| panic!("{fund_id} is listed: {funds}"));
        for figure in ["available", "reserved", "unpaid"] {
            assert_eq!(fund["total"][figure], 0, "{fund_id} {figure}: {fund}");
        }
        assert_eq!(fund["trial_balance_zero"], true, "{fund}");
    }
    let (_, retention) = app.get("/v1/retention?limit=100").await;
    let closed: Vec<&Value> = retention["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["fund_id"]
                .as_str()
                .is_some_and(|f| f.ends_with("2014-2020"))
        })
        .collect();
    assert_eq!(closed.len(), 40, "{retention}");
    let today = buendel_testing::test_date().to_string();
    for project in &closed {
        assert!(
            project["retention_until"].as_str() > Some(today.as_str()),
            "{project}"
        );
    }
    let audited = buendel::demo_closed::project_id("non-2014-2020", 3);
    let (_, owed) = app.get(&format!("/v1/proposals/{audited}/recovery")).await;
    let charged = &owed["interest"]["charged"]["total_cents"];
    assert!(charged.as_i64() > Some(0), "{owed}");
    assert_eq!(&owed["interest"]["paid"]["total_cents"], charged, "{owed}");
    assert_eq!(owed["principal"]["owed"]["total_cents"], 0, "{owed}");

    // The final report of the scouts in Harburg: recovered, half of it repaid.
    let harburg = buendel::demo::demo_id("proposal", "Fachkräftescouts Harburg");
    let (_, owed) = app.get(&format!("/v1/proposals/{harburg}/recovery")).await;
    let assessed = owed["principal"]["assessed"]["total_cents"]
        .as_i64()
        .unwrap_or(0);
    assert!(assessed > 0, "{owed}");
    assert_eq!(
        owed["principal"]["repaid"]["total_cents"].as_i64(),
        Some(assessed / 2),
        "{owed}"
    );
    let (_, journal) = app.get("/v1/funds/non-2021-2027/entries?limit=500").await;
    let types: Vec<&str> = journal["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for wanted in [
        "buendel.ledger.final_report_checked.v1",
        "buendel.ledger.grant_revoked.v1",
        "buendel.ledger.claim_approved.v1",
    ] {
        assert!(types.contains(&wanted), "{wanted} in {types:?}");
    }

    let ledger_events = app
        .store
        .stream_last_sequence(buendel_contract::namespace::StreamKind::Ledger)
        .await
        .expect("ledger");
    // Loaded again a day later (`buendel up --demo` started again on the same servers): its
    // intake events, whose bodies would now differ, are not published again.
    let intake_before = app
        .store
        .stream_last_sequence(buendel_contract::namespace::StreamKind::Intake)
        .await
        .expect("intake");
    let tomorrow =
        buendel_runtime::Clock::starting_on(buendel_testing::test_date() + chrono::Days::new(1));
    buendel::demo::load(&app.client, &app.store, tomorrow)
        .await
        .expect("demo loads again");
    let again = app
        .store
        .stream_last_sequence(buendel_contract::namespace::StreamKind::Ledger)
        .await
        .expect("ledger");
    assert_eq!(ledger_events, again, "a second load books nothing");
    let intake_after = app
        .store
        .stream_last_sequence(buendel_contract::namespace::StreamKind::Intake)
        .await
        .expect("intake");
    assert_eq!(
        intake_before, intake_after,
        "nothing published to the intake again"
    );
    let (_, letters) = app.get("/v1/deadletters").await;
    assert_eq!(
        letters["items"].as_array().map(Vec::len),
        Some(1),
        "still only the malformed event: {letters}"
    );
    app.cleanup().await;
}
