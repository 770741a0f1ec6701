//! The approval service against a real NATS (the pinned test node), each test in a fresh
//! namespace that it deletes at the end. One binary, as in zero-to-production.

mod helpers;

use serde_json::json;
use uuid::Uuid;

use buendel_contract::alliance::AllianceEvent;
use buendel_contract::deadletter::DeadLetter;
use buendel_contract::money::Cents;
use buendel_contract::namespace::StreamKind;
use buendel_contract::review::{self, ReviewEvent};

use helpers::{
    code, eventually, revised, screened, spawn_app, submitted, types, withdrawn, TestApp,
};

fn vote(proposal_id: Uuid, partner: &str, choice: &str) -> serde_json::Value {
    json!({"proposal_id": proposal_id, "partner_id": partner, "vote": choice})
}

async fn votes_yes(app: &TestApp, proposal_id: Uuid, partners: &[&str]) {
    for partner in partners {
        let reply = app.command("vote", vote(proposal_id, partner, "yes")).await;
        assert!(reply.is_ok(), "{partner}: {reply:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_screening_opens_exactly_one_review_across_rescreening_and_restarts() {
    let mut app = spawn_app().await;
    let proposal_id = Uuid::new_v4();
    app.append_proposal(
        proposal_id,
        vec![submitted(proposal_id, "non"), screened(proposal_id, true)],
    )
    .await;
    let events = app.review_with(proposal_id, 1).await;
    let ReviewEvent::Opened(opened) = &events[0] else {
        panic!("not opened: {events:?}")
    };
    assert_eq!(opened.alliance_id, "non");
    assert_eq!(opened.partners.len(), 14);
    assert_eq!(opened.eligible_cost_cents, Cents(30_000_000));

    // Revised and screened again while the review is open: the review goes on with the revised
    // terms (one `terms_revised`), and is not opened again.
    app.append_proposal(
        proposal_id,
        vec![
            revised(proposal_id, 25_000_000),
            screened(proposal_id, true),
        ],
    )
    .await;
    app.caught_up().await;

    // Restart from the very first PROPOSALS event: every `screened` is delivered again.
    app.stop().await;
    app.forget_consumer_position().await;
    app.start();
    app.caught_up().await;

    assert_eq!(
        app.review_types(proposal_id).await,
        [review::OPENED_V1, review::TERMS_REVISED_V1],
        "each screening decided once: opened, then revised"
    );
    let events = app.review_with(proposal_id, 2).await;
    let ReviewEvent::TermsRevised(revised) = &events[1] else {
        panic!("not revised: {events:?}")
    };
    assert_eq!(revised.eligible_cost_cents, Cents(25_000_000));
    let registrations = app.alliance_events("non").await;
    assert_eq!(registrations.len(), 1, "registered once over two starts");
    assert!(matches!(registrations[0], AllianceEvent::Registered(_)));
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_screening_opens_nothing_and_a_withdrawal_closes_an_open_review() {
    let app = spawn_app().await;
    let failed = Uuid::new_v4();
    app.append_proposal(
        failed,
        vec![
            submitted(failed, "non"),
            screened(failed, false),
            withdrawn(failed),
        ],
    )
    .await;
    let passed = Uuid::new_v4();
    app.append_proposal(
        passed,
        vec![
            submitted(passed, "non"),
            screened(passed, true),
            withdrawn(passed),
        ],
    )
    .await;
    app.caught_up().await;
    assert!(app.review_events(failed).await.is_empty());
    assert_eq!(
        app.review_types(passed).await,
        [review::OPENED_V1, review::CLOSED_V2]
    );
    let reply = app.command("vote", vote(passed, "dgb", "yes")).await;
    assert_eq!(code(&reply), "review_closed");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recused_partner_cannot_vote() {
    let app = spawn_app().await;
    app.register_small_alliance("tiny").await;
    let proposal_id = app.open_review("tiny").await;
    let reply = app
        .command(
            "declare_conflict",
            json!({"proposal_id": proposal_id, "partner_id": "a", "reason": "is the applicant"}),
        )
        .await;
    assert_eq!(types(&reply), [review::CONFLICT_DECLARED_V1]);
    let reply = app.command("vote", vote(proposal_id, "a", "yes")).await;
    assert_eq!(code(&reply), "partner_recused");
    let reply = app.command("vote", vote(proposal_id, "zz", "yes")).await;
    assert_eq!(code(&reply), "unknown_partner");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_issuing_a_statement_at_once_produce_one_statement() {
    let app = spawn_app().await;
    app.register_small_alliance("tiny").await;
    let proposal_id = app.open_review("tiny").await;
    votes_yes(&app, proposal_id, &["a", "b"]).await;
    let statement = json!({"proposal_id": proposal_id, "verdict": "positive"});
    let (first, second) = tokio::join!(
        app.command("issue_statement", statement.clone()),
        app.command("issue_statement", statement.clone()),
    );
    let (won, lost) = if first.is_ok() {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(types(&won), [review::STATEMENT_ISSUED_V2]);
    assert_eq!(code(&lost), "statement_already_issued");
    let issued = app
        .review_events(proposal_id)
        .await
        .into_iter()
        .filter(|e| matches!(e, ReviewEvent::StatementIssued(_)))
        .count();
    assert_eq!(issued, 1);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screened_proposal_goes_through_review_to_a_grant_by_commands() {
    let app = spawn_app().await;
    let proposal_id = app.open_review("non").await;
    let yes = [
        "lk-harburg",
        "lk-lueneburg",
        "lk-uelzen",
        "lk-celle",
        "ihklw",
        "dgb",
        "leuphana",
    ];
    votes_yes(&app, proposal_id, &yes).await;
    let statement = json!({"proposal_id": proposal_id, "verdict": "positive", "conditions": ["cooperate with the employment agency"]});
    let reply = app.command("issue_statement", statement.clone()).await;
    assert_eq!(
        code(&reply),
        "quorum_not_met",
        "7 of 14 is not more than half"
    );
    votes_yes(&app, proposal_id, &["ostfalia"]).await;
    let command_id = Uuid::new_v4();
    let reply = app
        .command_with_id("issue_statement", command_id, statement.clone())
        .await;
    assert_eq!(types(&reply), [review::STATEMENT_ISSUED_V2]);
    let retried = app
        .command_with_id("issue_statement", command_id, statement)
        .await;
    assert!(matches!(
        retried,
        buendel_contract::reply::Reply::Accepted {
            duplicate: true,
            ..
        }
    ));

    // 300 000.00 EUR at 70 %, 60 % of it ESF+: 180 000.00 + 30 000.00.
    let grant = json!({
        "proposal_id": proposal_id, "bank_reference": "NB-2026-0042",
        "eligible_cost_cents": 30_000_000, "total_rate_bp": 7_000, "esf_rate_bp": 6_000,
        "esf_cents": 18_000_000, "land_cents": 3_000_000,
        "period_from": "2026-03-01", "period_to": "2028-02-29"
    });
    let mut wrong_split = grant.clone();
    wrong_split["land_cents"] = json!(3_000_001);
    assert_eq!(
        code(&app.command("record_grant", wrong_split).await),
        "split_mismatch"
    );
    let reply = app.command("record_grant", grant.clone()).await;
    assert_eq!(types(&reply), [review::GRANT_DECIDED_V2]);
    assert_eq!(
        code(&app.command("record_grant", grant).await),
        "grant_already_decided"
    );
    let last = app.review_events(proposal_id).await.pop();
    let Some(ReviewEvent::GrantDecided(decided)) = last else {
        panic!("not granted: {last:?}")
    };
    assert_eq!(decided.esf_cents, Cents(18_000_000));
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_refuse_malformed_data_field_by_field_and_reviews_that_do_not_exist() {
    let app = spawn_app().await;
    let reply = app
        .command("vote", vote(Uuid::new_v4(), "dgb", "yes"))
        .await;
    assert_eq!(code(&reply), "review_not_open");
    let reply = app
        .command("vote", json!({"proposal_id": "x", "vote": "maybe"}))
        .await;
    assert_eq!(code(&reply), "invalid_input");
    let buendel_contract::reply::Reply::Refused { error, .. } = reply else {
        panic!("refused")
    };
    let mut fields: Vec<&str> = error.details.iter().map(|d| d.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["data.partner_id", "data.proposal_id", "data.vote"]);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_change_is_an_event_and_reviews_opened_later_use_the_new_roster() {
    let app = spawn_app().await;
    let before = app.open_review("non").await;
    let reply = app
        .command(
            "add_partner",
            json!({"alliance_id": "non", "partner": {"id": "ihk-stade", "name": "IHK Stade"}}),
        )
        .await;
    assert_eq!(types(&reply), ["buendel.alliance.partner_joined.v1"]);
    let reply = app
        .command(
            "remove_partner",
            json!({"alliance_id": "non", "partner_id": "dgb", "reason": "left the alliance"}),
        )
        .await;
    assert_eq!(types(&reply), ["buendel.alliance.partner_left.v1"]);
    let after = app.open_review("non").await;

    let roster = |events: Vec<ReviewEvent>| match &events[0] {
        ReviewEvent::Opened(opened) => opened.partners.iter().map(|p| p.id.clone()).collect(),
        other => panic!("not opened: {other:?}"),
    };
    let old: Vec<String> = roster(app.review_events(before).await);
    let new: Vec<String> = roster(app.review_events(after).await);
    assert!(old.contains(&"dgb".to_owned()) && !old.contains(&"ihk-stade".to_owned()));
    assert!(!new.contains(&"dgb".to_owned()) && new.contains(&"ihk-stade".to_owned()));
    let reply = app.command("vote", vote(after, "dgb", "yes")).await;
    assert_eq!(code(&reply), "unknown_partner");
    let reply = app.command("vote", vote(before, "dgb", "yes")).await;
    assert!(reply.is_ok(), "the old review keeps its roster: {reply:?}");
    assert_eq!(app.alliance_events("non").await.len(), 3);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_proposal_event_is_dead_lettered_and_blocks_nothing() {
    let app = spawn_app().await;
    let broken = Uuid::new_v4();
    app.publish_raw_proposal(broken, b"{\"not\": \"an event\"}")
        .await;
    let proposal_id = app.open_review("non").await;
    assert_eq!(app.review_types(proposal_id).await, [review::OPENED_V1]);
    let subject = app.ns.subject(StreamKind::Deadletter, "approval");
    let letters = eventually("the dead letter", || async {
        let stored = app
            .store
            .load(StreamKind::Deadletter, &subject)
            .await
            .ok()?;
        (!stored.is_empty()).then_some(stored)
    })
    .await;
    let letter: DeadLetter = serde_json::from_slice(&letters[0].payload).expect("a dead letter");
    assert_eq!(letter.source, "approval");
    assert_eq!(letter.code, "invalid_event");
    assert_eq!(
        letter.original().expect("base64"),
        b"{\"not\": \"an event\"}"
    );
    app.cleanup().await;
}
