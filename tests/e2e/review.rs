//! Review: from intake through the partners' votes and the statement to the bank's grant, over HTTP.

use serde_json::Value;
use uuid::Uuid;

use buendel_contract::commands::{CommandData, DeclareConflict, IssueStatement, RecordGrant};
use buendel_contract::review::{Verdict, VoteChoice};
use buendel_contract::{BasisPoints, Cents};

use crate::helpers::{spawn_app, submitted_event, vote, TestApp};

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

/// Sends a typed command (of any service) as the `office`; returns the reply as JSON.
pub async fn send_json<T: CommandData>(app: &TestApp, command: &T) -> Value {
    serde_json::to_value(app.send(command).await).expect("json")
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
        let reply = send_json(app, &vote(proposal_id, partner, VoteChoice::Yes)).await;
        assert_eq!(reply["ok"], true, "{reply}");
    }
    let statement = IssueStatement {
        proposal_id,
        verdict: Verdict::Positive,
        conditions: Some(vec!["quarterly report".into()]),
    };
    let reply = send_json(app, &statement).await;
    assert_eq!(reply["ok"], true, "{reply}");
}

/// The bank's grant of a proposal as [`crate::helpers::submit`] asks for it: 70 % of 30,000,000,
/// ESF+ at 60 %.
pub fn grant(proposal_id: Uuid) -> RecordGrant {
    RecordGrant {
        proposal_id,
        bank_reference: "NB-2027-0001".into(),
        eligible_cost_cents: Cents(30_000_000),
        total_rate_bp: BasisPoints(7_000),
        esf_rate_bp: BasisPoints(6_000),
        esf_cents: Cents(18_000_000),
        land_cents: Cents(3_000_000),
        period_from: buendel_testing::test_day(30),
        period_to: buendel_testing::test_day(30 + 547),
        amendment_reference: None,
    }
}

#[tokio::test]
async fn a_proposal_published_at_intake_goes_through_review_to_granted_and_is_visible_over_http() {
    let app = spawn_app().await;
    let proposal_id = proposal_in_review(&app).await;
    positive_statement(&app, proposal_id).await;
    let reply = send_json(&app, &grant(proposal_id)).await;
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
    let conflict = DeclareConflict {
        proposal_id,
        partner_id: "hwk-bls".into(),
        reason: "the chamber is the applicant's partner".into(),
    };
    let recused = send_json(&app, &conflict).await;
    assert_eq!(recused["ok"], true, "{recused}");
    let refused = send_json(&app, &vote(proposal_id, "hwk-bls", VoteChoice::Yes)).await;
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["error"]["code"], "partner_recused");
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
        send_json(&app, &vote(proposal_id, partner, VoteChoice::Yes)).await;
    }
    let statement = IssueStatement {
        proposal_id,
        verdict: Verdict::Positive,
        conditions: None,
    };
    let (a, b) = tokio::join!(send_json(&app, &statement), send_json(&app, &statement));
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

#[tokio::test]
async fn an_alliance_registered_by_command_receives_proposals_like_a_builtin_one() {
    use buendel_contract::commands::{PartnerInput, RegisterAlliance};
    let app = spawn_app().await;
    let register = RegisterAlliance {
        alliance_id: "nordwest".into(),
        name: "Fachkräftebündnis Nordwest".into(),
        region: buendel_contract::reference::RegionCategory::Transition,
        districts: Some(vec!["heidekreis".into()]),
        focus_areas: None,
        partners: ["ihk-ol", "hwk-ol", "lk-ammerland"]
            .into_iter()
            .map(|id| PartnerInput {
                id: id.into(),
                name: id.to_uppercase(),
            })
            .collect(),
        quorum: None,
        rules_version: None,
        application_deadline: buendel_testing::test_day(400),
    };
    let reply = send_json(&app, &register).await;
    assert_eq!(reply["ok"], true, "{reply}");
    // Published to the intake with the district as people write it: received, screened, in review.
    let proposal_id = Uuid::new_v4();
    let mut event = submitted_event(proposal_id);
    event["data"]["alliance_id"] = serde_json::json!("nordwest");
    event["data"]["districts"] = serde_json::json!(["Landkreis Heidekreis"]);
    app.publish_event(&event).await;
    let proposal = app
        .get_until(&format!("/v1/proposals/{proposal_id}"), |status, body| {
            status == 200 && body["status"] == "in_review"
        })
        .await;
    assert_eq!(proposal["alliance_id"], "nordwest", "{proposal}");
    assert_eq!(
        proposal["districts"],
        serde_json::json!(["heidekreis"]),
        "{proposal}"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_vote_read_at_once_with_its_min_seq_is_seen_every_time_a_hundred_times() {
    // Given eight proposals in review (13 of the 14 partners vote on each: 104 votes)
    let app = spawn_app().await;
    let mut proposals = Vec::new();
    for _ in 0..8 {
        proposals.push(proposal_in_review(&app).await);
    }
    let votes = proposals
        .iter()
        .flat_map(|id| {
            NON_PARTNERS[..13]
                .iter()
                .map(move |partner| (*id, *partner))
        })
        .take(100);
    let mut seen = 0;
    for (round, (proposal_id, partner)) in votes.enumerate() {
        // When a partner votes and the proposal is read at once, asking for the vote's position
        let reply = app.send(&vote(proposal_id, partner, VoteChoice::Yes)).await;
        assert!(reply.is_ok(), "round {round}: {reply:?}");
        let position = reply.position().expect("the reply names its position");
        assert!(position.starts_with("REVIEWS:"), "{position}");
        let (status, body) = app
            .get(&format!("/v1/proposals/{proposal_id}?min_seq={position}"))
            .await;
        // Then the read has the vote, every time: no polling, no retry
        assert_eq!(status, 200, "round {round}: {body}");
        let has_vote = body["review"]["votes"]
            .as_array()
            .is_some_and(|votes| votes.iter().any(|v| v["partner_id"] == partner));
        assert!(
            has_vote,
            "round {round}: the vote of {partner} is missing: {body}"
        );
        seen += 1;
    }
    assert_eq!(seen, 100);
    app.cleanup().await;
}
