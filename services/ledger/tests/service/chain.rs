//! The hash chain of every fund, checked from the stored bytes.

use serde_json::json;
use uuid::Uuid;

use buendel_contract::ledger::GENESIS_HASH;
use buendel_contract::review::Verdict;

use crate::helpers::*;

#[tokio::test]
async fn every_stored_ledger_event_links_to_its_predecessor_and_hashes_to_its_hash() {
    let app = spawn_app().await;
    app.allocate(NON, 10_000_000, 2_000_000).await;
    app.allocate(SON, 5_000_000, 5_000_000).await;
    for alliance in ["non", "son", "non"] {
        let p = Uuid::new_v4();
        app.append_review(
            p,
            vec![
                opened(p, alliance),
                statement(p, Verdict::Positive),
                grant(p, ELIGIBLE_CENTS),
            ],
        )
        .await;
    }
    let adjusted = app
        .command(
            "adjust_budget",
            json!({"fund_id": SON, "source": "land", "delta_cents": -1_000, "reason": "cut"}),
        )
        .await;
    assert!(adjusted.is_ok(), "{adjusted:?}");
    app.saga_idle().await;

    let verified = app.assert_chains_verify().await;
    let (non, son) = (app.fund_events(NON).await, app.fund_events(SON).await);
    assert_eq!(verified, non.len() + son.len());
    assert_eq!(
        non.len(),
        1 + 2 * 3,
        "allocation, then a reservation, a commitment and the grant's terms each"
    );
    assert_eq!(son.len(), 1 + 3 + 1);
    for events in [&non, &son] {
        assert_eq!(events[0].prevhash.as_deref(), Some(GENESIS_HASH));
        for pair in events.windows(2) {
            assert_eq!(pair[1].prevhash, pair[0].hash);
        }
    }
    let loaded = app.fund(NON).await;
    assert_eq!(loaded.last_hash, non.last().and_then(|e| e.hash.clone()));
    app.cleanup().await;
}
