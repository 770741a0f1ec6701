//! Hostile intake: what every part cannot store or read the same way is dead-lettered with its own
//! code, and never stops what comes behind it.

use serde_json::Value;
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;

use crate::helpers::{eventually, spawn_app, submitted_event, TestApp};

/// A valid submission's bytes with `from` replaced by `to` (hostile JSON that `json!` cannot build).
fn mangled(proposal_id: Uuid, from: &str, to: &str) -> Vec<u8> {
    let text = serde_json::to_string(&submitted_event(proposal_id)).expect("json");
    assert!(text.contains(from), "{from} not in {text}");
    text.replacen(from, to, 1).into_bytes()
}

/// The dead letters in the read model, once there are `count`.
async fn dead_letters(app: &TestApp, count: usize) -> Vec<Value> {
    let body = app
        .get_until("/v1/deadletters?limit=500", |_, body| {
            body["items"].as_array().is_some_and(|i| i.len() >= count)
        })
        .await;
    body["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn each_hostile_kind_is_dead_lettered_with_its_code_and_the_good_proposal_after_it_arrives() {
    let app = spawn_app().await;
    let nul_name = "\"name\":\"Bildungswerk Heidekreis e.V.\"";
    let cost = "\"eligible_cost_cents\":30000000";
    let title = "\"title\":\"Ausbildungsbotschafter:innen Heidekreis\"";
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        (
            "control_character",
            mangled(
                Uuid::new_v4(),
                nul_name,
                "\"name\":\"Bildungswerk\\u0000Heidekreis\"",
            ),
        ),
        (
            "duplicate_member",
            mangled(
                Uuid::new_v4(),
                cost,
                "\"eligible_cost_cents\":30000000,\"eligible_cost_cents\":99",
            ),
        ),
        (
            "lone_surrogate",
            mangled(
                Uuid::new_v4(),
                nul_name,
                "\"name\":\"Bildungswerk \\ud800\"",
            ),
        ),
        (
            "number_out_of_range",
            mangled(Uuid::new_v4(), cost, "\"eligible_cost_cents\":1e400"),
        ),
        (
            "number_out_of_range",
            mangled(
                Uuid::new_v4(),
                cost,
                "\"eligible_cost_cents\":18446744073709551616",
            ),
        ),
        (
            "control_character",
            mangled(Uuid::new_v4(), title, "\"title\":\"Zwei\\nZeilen\""),
        ),
        ("nesting_too_deep", {
            let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
            mangled(
                Uuid::new_v4(),
                cost,
                &format!("\"eligible_cost_cents\":{deep}"),
            )
        }),
        ("invalid_utf8", {
            let mut bytes = mangled(Uuid::new_v4(), nul_name, "\"name\":\"Bildungswerk ??\"");
            let at = bytes.windows(2).position(|w| w == b"??").expect("marker");
            bytes[at] = 0xff;
            bytes
        }),
    ];
    let mut good = Vec::new();
    let mut expected = std::collections::HashMap::new();
    for (code, bytes) in &hostile {
        let sequence = app.publish_intake(Uuid::new_v4(), bytes.clone()).await;
        expected.insert(sequence, *code);
        let proposal_id = Uuid::new_v4();
        app.publish_event(&submitted_event(proposal_id)).await;
        good.push(proposal_id);
    }

    for proposal_id in &good {
        app.get_until(&format!("/v1/proposals/{proposal_id}"), |status, _| {
            status == 200
        })
        .await;
    }
    // Refused messages are handled in lanes of their own, so their dead letters may be stored in
    // another order: each is matched to what was published by its INTAKE sequence.
    let letters = dead_letters(&app, hostile.len()).await;
    assert_eq!(letters.len(), hostile.len(), "{letters:#?}");
    for letter in &letters {
        let sequence = letter["stream_sequence"].as_u64().expect("a sequence");
        assert_eq!(letter["code"], expected[&sequence], "{letter:#}");
        assert!(letter["original_base64"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
        assert!(letter["reasons"].as_array().is_some_and(|r| !r.is_empty()));
        if letter["code"] == "duplicate_member" {
            assert_eq!(letter["reasons"][0]["field"], "data.eligible_cost_cents");
        }
    }
    let (_, quarantined) = app.get("/v1/quarantine").await;
    assert_eq!(
        quarantined["items"],
        Value::Array(vec![]),
        "nothing reached the read side"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_conflicting_duplicate_is_dead_lettered_with_both_hashes_and_an_exact_one_is_not() {
    let app = spawn_app().await;
    let proposal_id = Uuid::new_v4();
    let first = submitted_event(proposal_id);
    let id = Uuid::parse_str(first["id"].as_str().expect("id")).expect("uuid");
    let stored = app.publish_event(&first).await;
    app.get_until(&format!("/v1/proposals/{proposal_id}"), |status, _| {
        status == 200
    })
    .await;

    // The same event again, with its members in another order and other white space: a copy.
    let mut copy = serde_json::to_string_pretty(&first).expect("json");
    copy = copy.replacen("\"specversion\": \"1.0\",", "", 1);
    copy = copy.replacen('{', "{ \"specversion\" : \"1.0\" ,", 1);
    // Each is published under the same Nats-Msg-Id once the server stores it anew (outside
    // INTAKE's duplicate window), and after the one before it was consumed.
    let at = app.publish_intake_anew(id, copy.into_bytes(), stored).await;
    app.intake_consumed(at).await;
    // The same id with another amount, and the same id for another proposal.
    let mut cheaper = first.clone();
    cheaper["data"]["eligible_cost_cents"] = 99.into();
    let bytes = serde_json::to_vec(&cheaper).expect("json");
    let next = app.publish_intake_anew(id, bytes, at).await;
    app.intake_consumed(next).await;
    let other_proposal = Uuid::new_v4();
    let mut elsewhere = submitted_event(other_proposal);
    elsewhere["id"] = first["id"].clone();
    let bytes = serde_json::to_vec(&elsewhere).expect("json");
    app.publish_intake_anew(id, bytes, next).await;
    let sentinel = Uuid::new_v4();
    app.publish_event(&submitted_event(sentinel)).await;

    app.get_until(&format!("/v1/proposals/{sentinel}"), |status, _| {
        status == 200
    })
    .await;
    let letters = dead_letters(&app, 2).await;
    assert_eq!(
        letters.len(),
        2,
        "the exact copy is no dead letter: {letters:#?}"
    );
    for letter in &letters {
        assert_eq!(letter["code"], "conflicting_duplicate");
        assert_eq!(letter["event_id"], first["id"]);
        let reasons = letter["reasons"].to_string();
        assert!(reasons.contains("sha256 of the body in force"), "{reasons}");
        assert!(reasons.contains("sha256 of this body"), "{reasons}");
    }
    assert_ne!(
        letters[0]["reasons"][2], letters[1]["reasons"][2],
        "two other bodies"
    );
    assert_eq!(
        letters[0]["reasons"][1], letters[1]["reasons"][1],
        "one body in force"
    );

    let (_, body) = app.get(&format!("/v1/proposals/{proposal_id}")).await;
    assert_eq!(
        body["eligible_cost_cents"], 30_000_000,
        "the first stays in force"
    );
    let (status, _) = app.get(&format!("/v1/proposals/{other_proposal}")).await;
    assert_eq!(
        status, 404,
        "a reused id books nothing for another proposal"
    );
    let receipts = app
        .store
        .stream_last_sequence(StreamKind::Receipts)
        .await
        .expect("receipts");
    assert_eq!(
        receipts, 2,
        "one receipt per event id: the first event and the sentinel"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn hostile_command_payloads_are_refused_with_the_intake_codes() {
    let app = spawn_app().await;
    let prefix = app.settings.namespace.command_prefix("ledger");
    let cases: [(&str, &[u8]); 4] = [
        ("duplicate_member", br#"{"command_id":"6f2c1b8e-2d4a-4c59-9d0e-0c3c4d6f7a11","command_id":"6f2c1b8e-2d4a-4c59-9d0e-0c3c4d6f7a12","data":{}}"#),
        ("control_character", br#"{"command_id":"6f2c1b8e-2d4a-4c59-9d0e-0c3c4d6f7a11","actor":"op\u0000","data":{}}"#),
        ("lone_surrogate", br#"{"command_id":"6f2c1b8e-2d4a-4c59-9d0e-0c3c4d6f7a11","actor":"\udfff","data":{}}"#),
        ("number_out_of_range", br#"{"command_id":"6f2c1b8e-2d4a-4c59-9d0e-0c3c4d6f7a11","data":{"esf_cents":1e999}}"#),
    ];
    for service in ["submission", "approval", "ledger"] {
        let prefix = prefix.replace(".ledger", &format!(".{service}"));
        let command = match service {
            "submission" => "submit",
            "approval" => "vote",
            _ => "record_disbursement",
        };
        for (code, payload) in cases {
            let reply = app
                .client
                .request(format!("{prefix}.{command}"), payload.to_vec().into())
                .await
                .expect("reply");
            let reply: Value = serde_json::from_slice(&reply.payload).expect("json");
            assert_eq!(reply["ok"], false, "{service} {code}: {reply}");
            assert_eq!(reply["error"]["code"], code, "{service}: {reply}");
        }
    }
    app.cleanup().await;
}

#[tokio::test]
async fn three_hundred_good_proposals_among_hostile_ones_all_reach_the_api() {
    let app = spawn_app().await;
    let mut good = Vec::new();
    for i in 0..300 {
        if i % 3 == 0 {
            let bytes = mangled(
                Uuid::new_v4(),
                "\"name\":\"Bildungswerk Heidekreis e.V.\"",
                "\"name\":\"\\u0000\"",
            );
            app.publish_intake(Uuid::new_v4(), bytes).await;
        }
        let proposal_id = Uuid::new_v4();
        app.publish_event(&submitted_event(proposal_id)).await;
        good.push(proposal_id);
    }
    eventually("all 300 good proposals projected", || async {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM proposals")
            .fetch_one(&app.pool)
            .await
            .ok()?;
        (count == 300).then_some(())
    })
    .await;
    let letters = dead_letters(&app, 100).await;
    assert_eq!(letters.len(), 100);
    assert!(letters.iter().all(|l| l["code"] == "control_character"));
    app.cleanup().await;
}

/// How many messages the seeded hostile run publishes (`BUENDEL_HOSTILE_MESSAGES`, default 2,000:
/// a CI-sized run; `buendel hostile` runs the full 100,000).
fn hostile_messages() -> usize {
    std::env::var("BUENDEL_HOSTILE_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

#[tokio::test]
async fn seeded_hostile_intake_among_good_proposals_is_each_accepted_or_dead_lettered_and_the_counts_add_up(
) {
    use buendel::hostile::{drive, Expected, HostileArgs, Kind};

    let app = spawn_app().await;
    let args = HostileArgs {
        messages: hostile_messages(),
        seed: 11,
        window: 256,
        timeout_s: 120,
    };
    let report = drive(
        &app.store,
        &app.client,
        &app.pool,
        buendel_testing::test_date(),
        &args,
    )
    .await
    .expect("the run completes");
    let shown = serde_json::to_string_pretty(&report).expect("json");
    assert!(report.failures.is_empty(), "{shown}");
    assert_eq!(report.published, args.messages as u64, "{shown}");
    assert_eq!(
        report.accepted + report.dead_lettered,
        report.published,
        "{shown}"
    );
    for (kind, _) in Kind::WEIGHTS {
        let count = &report.kinds[&kind.name()];
        assert!(count.published > 0, "{kind:?} occurs: {shown}");
        let dead: u64 = count.dead_lettered.values().sum();
        assert_eq!(count.accepted + dead, count.published, "{kind:?}: {shown}");
        match kind.expected() {
            Expected::Accepted => assert_eq!(count.accepted, count.published, "{kind:?}"),
            Expected::DeadLettered(code) => {
                assert_eq!(
                    count.dead_lettered.get(code),
                    Some(&count.published),
                    "{kind:?}"
                )
            }
        }
    }
    assert_eq!(report.dead_letters_without_reasons, 0, "{shown}");
    assert_eq!(report.good_missing, 0, "{shown}");
    assert!(report.still_serving, "{shown}");
    let (_, quarantined) = app.get("/v1/quarantine").await;
    assert_eq!(quarantined["items"], Value::Array(vec![]), "{quarantined}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_message_of_almost_a_megabyte_is_dead_lettered_too_large_with_its_first_bytes_and_why() {
    let app = spawn_app().await;
    let mut event = submitted_event(Uuid::new_v4());
    event["data"]["summary"] = Value::String("m".repeat(1_000_000));
    let bytes = serde_json::to_vec(&event).expect("json");
    let size = bytes.len();
    let sequence = app.publish_intake(Uuid::new_v4(), bytes).await;
    let sentinel = Uuid::new_v4();
    app.publish_event(&submitted_event(sentinel)).await;

    app.get_until(&format!("/v1/proposals/{sentinel}"), |status, _| {
        status == 200
    })
    .await;
    let letters = dead_letters(&app, 1).await;
    assert_eq!(letters.len(), 1, "{letters:#?}");
    let letter = &letters[0];
    assert_eq!(letter["code"], "too_large");
    assert_eq!(letter["stream_sequence"], sequence);
    let reasons = letter["reasons"].to_string();
    assert!(reasons.contains(&format!("{size} bytes")), "{reasons}");
    assert!(
        reasons.contains(&format!("at sequence {sequence}")),
        "{reasons}"
    );
    let kept: buendel_contract::deadletter::DeadLetter =
        serde_json::from_value(letter.clone()).expect("a dead letter");
    let kept = kept.original().expect("base64");
    assert_eq!(kept.len(), buendel_contract::deadletter::ORIGINAL_BYTES_MAX);
    app.cleanup().await;
}
