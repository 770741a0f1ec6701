//! Intake: from a published CloudEvent to the HTTP API, dead letters, idempotency, commands.

use serde_json::{json, Value};
use uuid::Uuid;

use buendel_contract::commands::Withdraw;
use buendel_contract::namespace::StreamKind;
use buendel_contract::Cents;

use crate::helpers::{eventually, spawn_app, submit, submitted_data, submitted_event};

#[tokio::test]
async fn an_intake_event_ends_up_in_the_api_in_review() {
    let app = spawn_app().await;
    let proposal_id = Uuid::new_v4();
    app.publish_event(&submitted_event(proposal_id)).await;

    let path = format!("/v1/proposals/{proposal_id}");
    let body = app
        .get_until(&path, |status, body| {
            status == 200 && body["status"] == "in_review"
        })
        .await;
    assert_eq!(body["alliance_id"], "non");
    assert_eq!(body["eligible_cost_cents"], 30_000_000);
    let types: Vec<&str> = body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    // The review (approval service) may already have opened: the proposal's own events come first.
    assert_eq!(
        types[..2],
        [
            "buendel.proposal.submitted.v1",
            "buendel.proposal.screened.v2"
        ]
    );
    app.cleanup().await;
}

#[tokio::test]
async fn malformed_events_are_dead_lettered_with_every_reason_and_the_next_good_one_still_goes_through(
) {
    let app = spawn_app().await;
    let good = Uuid::new_v4();

    app.publish_intake(Uuid::new_v4(), b"{\"specversion\": \"1.0\", oops".to_vec())
        .await;
    let mut wrong_type = submitted_event(Uuid::new_v4());
    wrong_type["type"] = json!("buendel.proposal.approved.v1");
    app.publish_event(&wrong_type).await;
    let mut float_and_unknown = submitted_event(Uuid::new_v4());
    float_and_unknown["data"]["eligible_cost_cents"] = json!(30000000.5);
    float_and_unknown["data"]["alliance_id"] = json!("atlantis");
    app.publish_event(&float_and_unknown).await;
    let mut oversized = submitted_event(Uuid::new_v4());
    oversized["data"]["summary"] = Value::String("x".repeat(100_000));
    app.publish_event(&oversized).await;
    app.publish_event(&submitted_event(good)).await;

    app.get_until(&format!("/v1/proposals/{good}"), |status, _| status == 200)
        .await;
    let letters = app
        .get_until("/v1/deadletters", |_, body| {
            body["items"]
                .as_array()
                .is_some_and(|items| items.len() == 4)
        })
        .await;
    let items = letters["items"].as_array().expect("items");
    // Lanes run in parallel, so the dead letters need not be in publish order: each is found by
    // its original event's bytes.
    let reasons_of = |needle: &str| -> Vec<String> {
        let item = items
            .iter()
            .find(|i| {
                let original = i["original_base64"].as_str().unwrap_or_default();
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, original)
                    .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(needle))
            })
            .unwrap_or_else(|| panic!("no dead letter of {needle:?}: {letters}"));
        item["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .map(|r| format!("{} {}", r["field"], r["reason"]))
            .collect()
    };
    let not_json = reasons_of("oops");
    assert!(not_json[0].contains("not JSON"), "{not_json:?}");
    let wrong = reasons_of("buendel.proposal.approved.v1");
    assert!(wrong[0].contains("unknown type"), "{wrong:?}");
    let both = reasons_of("atlantis");
    assert!(
        both.iter()
            .any(|r| r.contains("eligible_cost_cents") && r.contains("float")),
        "{both:?}"
    );
    assert!(
        both.iter()
            .any(|r| r.contains("alliance_id") && r.contains("atlantis")),
        "{both:?}"
    );
    let oversized = reasons_of("xxxxxxxxxx");
    assert!(oversized[0].contains("bytes"), "{oversized:?}");
    let mut codes: Vec<&str> = items.iter().filter_map(|i| i["code"].as_str()).collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        ["invalid_input", "invalid_input", "not_json", "too_large"]
    );
    assert!(items
        .iter()
        .all(|i| i["original_base64"].as_str().is_some_and(|s| !s.is_empty())));
    app.cleanup().await;
}

#[tokio::test]
async fn the_same_event_published_twice_and_again_after_the_duplicate_window_yields_one_proposal() {
    let app = spawn_app().await;
    let proposal_id = Uuid::new_v4();
    let event = submitted_event(proposal_id);
    let event_id = Uuid::parse_str(event["id"].as_str().expect("id")).expect("uuid");
    let bytes = serde_json::to_vec(&event).expect("json");

    let first = app.publish_intake(event_id, bytes.clone()).await;
    // INTAKE's duplicate window is a millisecond (so a conflicting body reaches the submission
    // service): the server may or may not keep a second copy; either way one proposal results.
    let again = app.publish_intake(event_id, bytes.clone()).await;
    assert!(again >= first);
    // After the duplicate window JetStream no longer knows the id; a different Nats-Msg-Id makes the
    // server store the same CloudEvent again, exactly as it would once the window has passed.
    let later = app.publish_intake(Uuid::new_v4(), bytes).await;
    assert!(later > first, "stored again, as after the window");

    let proposal_subject = app
        .settings
        .namespace
        .subject(StreamKind::Proposals, proposal_id);
    eventually("both intake copies consumed", || async {
        let info = app
            .store
            .jetstream()
            .get_stream(app.settings.namespace.stream(StreamKind::Intake))
            .await
            .ok()?;
        let consumer: async_nats::jetstream::consumer::PullConsumer = info
            .get_consumer(
                &app.settings
                    .namespace
                    .durable("submission", StreamKind::Intake),
            )
            .await
            .ok()?;
        let mut consumer = consumer;
        let state = consumer.info().await.ok()?;
        (state.ack_floor.stream_sequence >= later).then_some(())
    })
    .await;
    let events = app
        .store
        .load(StreamKind::Proposals, &proposal_subject)
        .await
        .expect("load");
    assert_eq!(
        events.len(),
        2,
        "one submitted and one screened event, nothing twice"
    );
    app.get_until(&format!("/v1/proposals/{proposal_id}"), |_, body| {
        body["status"] == "in_review"
    })
    .await;
    let (_, body) = app.get("/v1/proposals?alliance=non").await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1));
    let (_, letters) = app.get("/v1/deadletters").await;
    assert_eq!(
        letters["items"].as_array().map(Vec::len),
        Some(0),
        "a duplicate is not an error"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_rule_breaking_proposal_is_screening_failed_with_the_rule_named() {
    let app = spawn_app().await;
    let proposal_id = Uuid::new_v4();
    let mut command = submit(proposal_id);
    command.terms.eligible_cost_cents = Cents(65_000_000);
    let reply = app.send(&command).await;
    assert!(reply.is_ok(), "{reply:?}");

    let body = app
        .get_until(&format!("/v1/proposals/{proposal_id}"), |status, body| {
            status == 200 && body["status"] == "screening_failed"
        })
        .await;
    let failed: Vec<&str> = body["screening"]["results"]
        .as_array()
        .expect("screening results")
        .iter()
        .filter(|r| r["passed"] == false)
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert_eq!(failed, vec!["eligible_cost_cap"]);
    app.cleanup().await;
}

#[tokio::test]
async fn a_command_retried_with_the_same_id_returns_the_original_outcome_and_appends_nothing() {
    let app = spawn_app().await;
    let proposal_id = Uuid::new_v4();
    let command_id = Uuid::new_v4();
    let command = submit(proposal_id);
    let first = serde_json::to_value(app.send_as(command_id, &command).await).expect("json");
    let second = serde_json::to_value(app.send_as(command_id, &command).await).expect("json");
    assert_eq!(first["ok"], true);
    assert_eq!(second["ok"], true);
    assert_eq!(second["duplicate"], true);
    assert_eq!(first["event_id"], second["event_id"]);
    assert_eq!(first["sequence"], second["sequence"]);

    let refused = app.send(&command).await;
    assert_eq!(refused.code(), Some("already_submitted"));

    let withdraw = |reason: &str| Withdraw {
        proposal_id,
        reason: reason.into(),
    };
    assert!(app.send(&withdraw("changed plans")).await.is_ok());
    assert_eq!(
        app.send(&withdraw("again")).await.code(),
        Some("already_withdrawn")
    );
    app.get_until(&format!("/v1/proposals/{proposal_id}"), |_, body| {
        body["status"] == "withdrawn"
    })
    .await;
    app.cleanup().await;
}

#[tokio::test]
async fn an_invalid_command_is_refused_with_every_field_named() {
    let app = spawn_app().await;
    // A float rate and an empty list: no typed value can say this, so the JSON is edited.
    let mut data = submitted_data(Uuid::new_v4());
    data["requested_rate_bp"] = json!(70.5);
    data["districts"] = json!([]);
    let reply = serde_json::to_value(
        app.command(
            "submission",
            "submit",
            json!({"command_id": Uuid::new_v4(), "data": data}),
        )
        .await,
    )
    .expect("json");
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["error"]["code"], "invalid_input");
    let fields: Vec<&str> = reply["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"data.requested_rate_bp") && fields.contains(&"data.districts"),
        "{fields:?}"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_publisher_over_its_rate_is_dead_lettered_with_its_bytes_and_another_publisher_is_not() {
    // Given an intake that takes 2 messages at once and 1 a second from each publisher
    let settings = buendel_runtime::Settings {
        intake_rate_per_s: 1,
        intake_burst: 2,
        ..crate::helpers::test_settings(crate::helpers::fresh_namespace())
    };
    let parts = buendel::system::Parts {
        submission: true,
        projector: true,
        ..buendel::system::Parts::none()
    };
    let app = crate::helpers::spawn_parts_with(settings, parts).await;
    // When one publisher sends six proposals at once and another one sends one
    let flood: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    for proposal_id in &flood {
        app.publish_event(&submitted_event(*proposal_id)).await;
    }
    let other = Uuid::new_v4();
    let event = submitted_event(other);
    let subject = app.settings.namespace.subject(StreamKind::Intake, "other");
    let id = Uuid::parse_str(event["id"].as_str().expect("id")).expect("uuid");
    app.store
        .publish(
            &subject,
            id,
            serde_json::to_vec(&event).expect("json").into(),
        )
        .await
        .expect("published");
    // Then the other publisher's proposal goes through
    app.get_until(&format!("/v1/proposals/{other}"), |status, _| status == 200)
        .await;
    // And every one of the six is either a proposal or a dead letter `rate_limited` with its
    // bytes: nothing is lost, and at least the three beyond the burst (and the second's refill)
    // are refused
    let (accepted, letters) = eventually("all six accounted for", || async {
        let mut accepted = 0;
        for proposal_id in &flood {
            let (status, _) = app.get(&format!("/v1/proposals/{proposal_id}")).await;
            accepted += usize::from(status == 200);
        }
        let (_, letters) = app.get("/v1/deadletters?source=intake").await;
        let letters = letters["items"].as_array().cloned().unwrap_or_default();
        (accepted + letters.len() == flood.len()).then_some((accepted, letters))
    })
    .await;
    assert!(accepted >= 2, "the burst goes through: {accepted}");
    assert!(letters.len() >= 3, "{letters:?}");
    for letter in &letters {
        assert_eq!(letter["code"], "rate_limited", "{letter}");
        let original = letter["original_base64"].as_str().expect("bytes");
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, original)
            .expect("base64");
        let kept: Value = serde_json::from_slice(&bytes).expect("the original event");
        let id = Uuid::parse_str(kept["data"]["proposal_id"].as_str().expect("id")).expect("uuid");
        assert!(flood.contains(&id), "{kept}");
    }
    app.cleanup().await;
}
