//! Review: from intake through the partners' votes and the statement to the bank's grant, over HTTP.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, submitted_event, TestApp};

/// The 14 partners of `non`.
pub const NON_PARTNERS: [&str; 14] = [
    "lk-harburg",
    "lk-lueneburg",
    "lk-uelzen",
    "lk-luechow-dannenberg",
    "lk-celle",
    "lk-heidekreis",
    "ihklw",
    "hwk-bls",
    "agv-lueneburg",
    "dgb",
    "aa-lueneburg-uelzen",
    "aa-celle",
    "leuphana",
    "ostfalia",
];

pub async fn approval(app: &TestApp, command: &str, data: Value) -> Value {
    let reply = app
        .command(
            "approval",
            command,
            json!({"command_id": Uuid::new_v4(), "actor": "office", "data": data}),
        )
        .await;
    serde_json::to_value(reply).expect("json")
}

/// Publishes a proposal and waits until its review is open.
pub async fn proposal_in_review(app: &TestApp) -> Uuid {
    let proposal_id = Uuid::new_v4();
    app.publish_event(&submitted_event(proposal_id)).await;
    app.get_until(&format!("/v1/proposals/{proposal_id}"), |status, body| {
        status == 200 && body["status"] == "in_review" && !body["review"].is_null()
    })
    .await;
    proposal_id
}

pub async fn positive_statement(app: &TestApp, proposal_id: Uuid) {
    for partner in &NON_PARTNERS[..9] {
        let reply = approval(
            app,
            "vote",
            json!({"proposal_id": proposal_id, "partner_id": partner, "vote": "yes"}),
        )
        .await;
        assert_eq!(reply["ok"], true, "{reply}");
    }
    let reply = approval(app, "issue_statement", json!({"proposal_id": proposal_id, "verdict": "positive", "conditions": ["quarterly report"]})).await;
    assert_eq!(reply["ok"], true, "{reply}");
}

pub fn grant(proposal_id: Uuid) -> Value {
    let today = buendel_testing::test_date();
    json!({
        "proposal_id": proposal_id, "bank_reference": "NB-2027-0001",
        "eligible_cost_cents": 30_000_000, "total_rate_bp": 7_000, "esf_rate_bp": 6_000,
        "esf_cents": 18_000_000, "land_cents": 3_000_000,
        "period_from": today + chrono::Days::new(30), "period_to": today + chrono::Days::new(30 + 547),
    })
}

#[tokio::test]
async fn a_proposal_published_at_intake_goes_through_review_to_granted_and_is_visible_over_http() {
    let app = spawn_app().await;
    let proposal_id = proposal_in_review(&app).await;
    positive_statement(&app, proposal_id).await;
    let reply = approval(&app, "record_grant", grant(proposal_id)).await;
    assert_eq!(reply["ok"], true, "{reply}");

    let body = app
        .get_until(&format!("/v1/proposals/{proposal_id}"), |_, body| {
            body["review"]["grant"]["esf_cents"] == 18_000_000
                && matches!(body["status"].as_str(), Some("granted" | "funds_reserved"))
        })
        .await;
    assert_eq!(body["review"]["tally"]["yes"], 9);
    assert_eq!(body["review"]["quorum_met"], true);
    assert_eq!(body["review"]["statement"]["verdict"], "positive");
    assert_eq!(body["review"]["grant"]["land_cents"], 3_000_000);
    assert!(
        matches!(body["status"].as_str(), Some("granted" | "funds_reserved")),
        "{}",
        body["status"]
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_recused_partners_vote_is_refused_with_its_code() {
    let app = spawn_app().await;
    let proposal_id = proposal_in_review(&app).await;
    let recused = approval(&app, "declare_conflict", json!({"proposal_id": proposal_id, "partner_id": "hwk-bls", "reason": "the chamber is the applicant's partner"})).await;
    assert_eq!(recused["ok"], true, "{recused}");
    let vote = approval(
        &app,
        "vote",
        json!({"proposal_id": proposal_id, "partner_id": "hwk-bls", "vote": "yes"}),
    )
    .await;
    assert_eq!(vote["ok"], false);
    assert_eq!(vote["error"]["code"], "partner_recused");
    let body = app
        .get_until(&format!("/v1/proposals/{proposal_id}"), |_, body| {
            body["review"]["recusals"]
                .as_array()
                .is_some_and(|r| r.len() == 1)
        })
        .await;
    assert_eq!(body["review"]["recusals"][0]["partner_id"], "hwk-bls");
    app.cleanup().await;
}

#[tokio::test]
async fn two_operators_issuing_a_statement_at_the_same_moment_produce_one_statement() {
    let app = spawn_app().await;
    let proposal_id = proposal_in_review(&app).await;
    for partner in &NON_PARTNERS[..8] {
        approval(
            &app,
            "vote",
            json!({"proposal_id": proposal_id, "partner_id": partner, "vote": "yes"}),
        )
        .await;
    }
    let statement = json!({"proposal_id": proposal_id, "verdict": "positive"});
    let (a, b) = tokio::join!(
        approval(&app, "issue_statement", statement.clone()),
        approval(&app, "issue_statement", statement.clone()),
    );
    let oks = [&a, &b].iter().filter(|r| r["ok"] == true).count();
    assert_eq!(oks, 1, "{a} {b}");
    let refused = if a["ok"] == true { &b } else { &a };
    assert_eq!(refused["error"]["code"], "statement_already_issued");
    let body = app
        .get_until(&format!("/v1/proposals/{proposal_id}"), |_, body| {
            body["status"] == "statement_positive"
                || body["status"] == "funds_reserved"
                || body["status"] == "waitlisted"
        })
        .await;
    let statements = body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["type"] == "buendel.review.statement_issued.v2")
        .count();
    assert_eq!(statements, 1);
    app.cleanup().await;
}
