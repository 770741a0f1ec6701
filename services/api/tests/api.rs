//! The HTTP API against a real Postgres: each test creates its own database, fills the read-model
//! tables directly, calls the router with `oneshot`, and drops its database at the end.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{DateTime, TimeZone as _, Utc};
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tower::ServiceExt as _;
use uuid::Uuid;

use buendel_api::{app, routes, AppState, OPENAPI_JSON};
use buendel_contract::status::{CombinedStatus, StatusInputs};
use buendel_contract::Namespace;
use buendel_runtime::db::{self, PoolLimits};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// A fresh namespace with its own migrated database.
struct TestDb {
    ns: Namespace,
    pool: PgPool,
}

impl TestDb {
    async fn new() -> Self {
        let short = Uuid::new_v4().simple().to_string();
        let ns = Namespace::new(format!("t{}", &short[..16])).expect("valid namespace");
        let pool = db::connect_and_migrate(POSTGRES, &ns, PoolLimits::default())
            .await
            .expect("Postgres at 127.0.0.1:5432");
        Self { ns, pool }
    }

    fn app(&self) -> Router {
        app(AppState::new(self.pool.clone()))
    }

    async fn drop_database(self) {
        self.pool.close().await;
        let options = db::options(POSTGRES, &self.ns).expect("options");
        db::drop_database(&options).await.expect("drop database");
    }
}

/// A proposal row to insert; the rest of its columns are fixed.
struct Seed {
    id: Uuid,
    created_sequence: i64,
    status: &'static str,
    alliance: &'static str,
    focus_areas: &'static [&'static str],
    districts: &'static [&'static str],
}

impl Seed {
    fn new(created_sequence: i64) -> Self {
        Self {
            id: Uuid::new_v4(),
            created_sequence,
            status: "submitted",
            alliance: "non",
            focus_areas: &["fachkraefte"],
            districts: &["Hildesheim"],
        }
    }
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("time")
        + chrono::Duration::minutes(minute)
}

async fn insert_proposal(pool: &PgPool, seed: &Seed) {
    sqlx::query(
        "INSERT INTO proposals (proposal_id, alliance_id, status, title, summary, project_type, \
             applicant_name, applicant_kind, applicant_district, focus_areas, districts, planned_start, \
             duration_months, eligible_cost_cents, requested_rate_bp, rules_version, screening, \
             created_sequence, last_sequence, version, submitted_at, updated_at) \
         VALUES ($1, $2, $3, 'Pflege lernen', 'Weiterbildung', 'training', 'Bildungswerk e.V.', \
             'verein', 'Hildesheim', $4, $5, '2026-09-01', 24, 12345678, 7000, $6, $7, \
             $8, $8, 1, $9, $9)",
    )
    .bind(seed.id)
    .bind(seed.alliance)
    .bind(seed.status)
    .bind(seed.focus_areas)
    .bind(seed.districts)
    .bind((seed.status != "submitted").then_some("esf-plus-2021-2027.1"))
    .bind((seed.status != "submitted").then(|| {
        json!([{"rule": "eligible_cost_cap", "passed": true, "severity": "error", "message": "ok"}])
    }))
    .bind(seed.created_sequence)
    .bind(at(seed.created_sequence))
    .execute(pool)
    .await
    .expect("insert proposal");
}

async fn insert_event(
    pool: &PgPool,
    proposal_id: Uuid,
    stream: &str,
    sequence: i64,
    event_type: &str,
    minute: i64,
) {
    sqlx::query(
        "INSERT INTO proposal_timeline (stream, sequence, proposal_id, event_id, event_type, time, actor, data) \
         VALUES ($1, $2, $3, $4, $5, $6, 'publisher:test', $7)",
    )
    .bind(stream)
    .bind(sequence)
    .bind(proposal_id)
    .bind(Uuid::new_v4())
    .bind(event_type)
    .bind(at(minute))
    .bind(json!({ "proposal_id": proposal_id }))
    .execute(pool)
    .await
    .expect("insert timeline event");
}

async fn insert_dead_letter(pool: &PgPool, dl_sequence: i64, source: &str) {
    sqlx::query(
        "INSERT INTO dead_letters (id, dl_sequence, source, subject, stream_sequence, event_id, event_type, \
             code, reasons, original_base64, rejected_at) \
         VALUES ($1, $2, $3, $4, 3, NULL, NULL, 'invalid_input', $5, 'e30=', $6)",
    )
    .bind(Uuid::new_v4())
    .bind(dl_sequence)
    .bind(source)
    .bind(format!("t.intake.{source}"))
    .bind(json!([{ "field": "data.eligible_cost_cents", "reason": "must be an integer" }]))
    .bind(at(dl_sequence))
    .execute(pool)
    .await
    .expect("insert dead letter");
}

/// GETs `uri`; returns the status, the content type and the body.
async fn get(app: &Router, uri: &str) -> (StatusCode, String, String) {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).expect("utf-8"),
    )
}

async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = get(app, uri).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: {e}: {body}")),
    )
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["proposal_id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn proposals_are_filtered_by_status_alliance_focus_area_and_district() {
    let db = TestDb::new().await;
    let plain = Seed::new(1);
    let in_review = Seed {
        status: "in_review",
        ..Seed::new(2)
    };
    let son = Seed {
        alliance: "son",
        ..Seed::new(3)
    };
    let digital = Seed {
        focus_areas: &["digitalisierung", "fachkraefte"],
        districts: &["Harz", "Goslar"],
        ..Seed::new(4)
    };
    for seed in [&plain, &in_review, &son, &digital] {
        insert_proposal(&db.pool, seed).await;
    }
    let app = db.app();

    let (status, all) = get_json(&app, "/v1/proposals").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ids(&all),
        [plain.id, in_review.id, son.id, digital.id].map(|id| id.to_string())
    );
    assert_eq!(all["next_cursor"], Value::Null);
    let (_, by_status) = get_json(&app, "/v1/proposals?status=in_review").await;
    assert_eq!(ids(&by_status), [in_review.id.to_string()]);
    let (_, by_alliance) = get_json(&app, "/v1/proposals?alliance=son").await;
    assert_eq!(ids(&by_alliance), [son.id.to_string()]);
    let (_, by_focus) = get_json(&app, "/v1/proposals?focus_area=digitalisierung").await;
    assert_eq!(ids(&by_focus), [digital.id.to_string()]);
    let (_, by_district) = get_json(&app, "/v1/proposals?district=Goslar&alliance=non").await;
    assert_eq!(ids(&by_district), [digital.id.to_string()]);
    let (_, none) = get_json(&app, "/v1/proposals?district=Goslar&status=withdrawn").await;
    assert_eq!(ids(&none), Vec::<String>::new());
    let first = &all["items"][0];
    assert!(
        first["eligible_cost_cents"].is_i64(),
        "money is an integer: {first}"
    );
    assert_eq!(first["eligible_cost_cents"], 12_345_678);
    assert_eq!(first["requested_rate_bp"], 7_000);
    assert_eq!(first["applicant"]["name"], "Bildungswerk e.V.");
    assert_eq!(first["planned_start"], "2026-09-01");
    db.drop_database().await;
}

#[tokio::test]
async fn pages_follow_the_cursor_until_the_last_page_has_no_next_cursor() {
    let db = TestDb::new().await;
    let mut expected = Vec::new();
    for sequence in 1..=7 {
        // Every third one is of another alliance, and sequences leave gaps, as real streams do.
        let seed = Seed {
            alliance: if sequence % 3 == 0 { "son" } else { "non" },
            ..Seed::new(sequence * 10)
        };
        insert_proposal(&db.pool, &seed).await;
        if seed.alliance == "non" {
            expected.push(seed.id.to_string());
        }
    }
    let app = db.app();

    let mut seen = Vec::new();
    let mut uri = "/v1/proposals?alliance=non&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = get_json(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        let items = ids(&page);
        assert!(items.len() <= 2);
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/proposals?alliance=non&limit=2&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }

    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    db.drop_database().await;
}

#[tokio::test]
async fn a_proposal_id_that_is_not_a_uuid_is_a_400_invalid_id() {
    let db = TestDb::new().await;

    let (status, body) = get_json(&db.app(), "/v1/proposals/not-a-uuid").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_id");
    assert!(body["error"]["message"]
        .as_str()
        .expect("message")
        .contains("not-a-uuid"));
    db.drop_database().await;
}

#[tokio::test]
async fn an_unknown_proposal_id_is_a_404_not_found() {
    let db = TestDb::new().await;

    let (status, body) = get_json(&db.app(), &format!("/v1/proposals/{}", Uuid::new_v4())).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    db.drop_database().await;
}

#[tokio::test]
async fn a_bad_limit_cursor_or_unknown_parameter_is_a_400_invalid_query() {
    let db = TestDb::new().await;
    let app = db.app();

    for uri in [
        "/v1/proposals?limit=abc",
        "/v1/proposals?limit=0",
        "/v1/proposals?limit=501",
        "/v1/proposals?limit=-1",
        "/v1/proposals?cursor=xyz",
        "/v1/proposals?alliance_id=son",
        "/v1/deadletters?limit=abc",
        "/v1/deadletters?cursor=-5",
    ] {
        let (status, body) = get_json(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{uri}: {body}");
    }
    let (status, _) = get_json(&app, "/v1/proposals?limit=500").await;
    assert_eq!(status, StatusCode::OK);
    db.drop_database().await;
}

#[tokio::test]
async fn a_proposal_shows_its_status_screening_and_timeline_in_time_order() {
    let db = TestDb::new().await;
    let seed = Seed {
        status: "in_review",
        ..Seed::new(1)
    };
    insert_proposal(&db.pool, &seed).await;
    insert_proposal(&db.pool, &Seed::new(2)).await;
    // Inserted out of order, and from two streams: the timeline is ordered by time, then sequence.
    insert_event(
        &db.pool,
        seed.id,
        "REVIEWS",
        1,
        "buendel.review.opened.v1",
        3,
    )
    .await;
    insert_event(
        &db.pool,
        seed.id,
        "PROPOSALS",
        3,
        "buendel.proposal.screened.v1",
        2,
    )
    .await;
    insert_event(
        &db.pool,
        seed.id,
        "PROPOSALS",
        1,
        "buendel.proposal.submitted.v1",
        1,
    )
    .await;

    let (status, body) = get_json(&db.app(), &format!("/v1/proposals/{}", seed.id)).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["proposal_id"], seed.id.to_string());
    assert_eq!(body["status"], "in_review");
    assert_eq!(body["screening"]["rules_version"], "esf-plus-2021-2027.1");
    assert_eq!(body["screening"]["results"][0]["rule"], "eligible_cost_cap");
    let timeline: Vec<(&str, &str)> = body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| {
            (
                e["stream"].as_str().expect("stream"),
                e["type"].as_str().expect("type"),
            )
        })
        .collect();
    assert_eq!(
        timeline,
        [
            ("PROPOSALS", "buendel.proposal.submitted.v1"),
            ("PROPOSALS", "buendel.proposal.screened.v1"),
            ("REVIEWS", "buendel.review.opened.v1"),
        ]
    );
    assert_eq!(
        body["timeline"][0]["data"]["proposal_id"],
        seed.id.to_string()
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_proposal_not_yet_screened_has_a_null_screening() {
    let db = TestDb::new().await;
    let seed = Seed::new(1);
    insert_proposal(&db.pool, &seed).await;

    let (status, body) = get_json(&db.app(), &format!("/v1/proposals/{}", seed.id)).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["screening"], Value::Null);
    assert_eq!(body["timeline"], json!([]));
    db.drop_database().await;
}

#[tokio::test]
async fn dead_letters_are_listed_newest_last_filtered_by_source_and_paginated() {
    let db = TestDb::new().await;
    for (sequence, source) in [(1, "intake"), (2, "approval"), (3, "intake"), (4, "intake")] {
        insert_dead_letter(&db.pool, sequence, source).await;
    }
    let app = db.app();

    let (status, first) = get_json(&app, "/v1/deadletters?source=intake&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let sequences = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["dl_sequence"].as_i64().expect("seq"))
            .collect()
    };
    assert_eq!(sequences(&first), [1, 3]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = get_json(
        &app,
        &format!("/v1/deadletters?source=intake&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(sequences(&second), [4]);
    assert_eq!(second["next_cursor"], Value::Null);
    let (_, all) = get_json(&app, "/v1/deadletters").await;
    assert_eq!(sequences(&all), [1, 2, 3, 4]);
    assert_eq!(
        all["items"][0]["reasons"][0]["field"],
        "data.eligible_cost_cents"
    );
    assert_eq!(all["items"][0]["original_base64"], "e30=");
    assert_eq!(all["items"][0]["event_id"], Value::Null);
    db.drop_database().await;
}

#[tokio::test]
async fn metrics_count_requests_and_show_checkpoints_and_proposals_by_status() {
    let db = TestDb::new().await;
    insert_proposal(&db.pool, &Seed::new(1)).await;
    insert_proposal(
        &db.pool,
        &Seed {
            status: "in_review",
            ..Seed::new(2)
        },
    )
    .await;
    insert_proposal(
        &db.pool,
        &Seed {
            status: "in_review",
            ..Seed::new(3)
        },
    )
    .await;
    insert_dead_letter(&db.pool, 1, "intake").await;
    sqlx::query("INSERT INTO checkpoints (stream, last_sequence) VALUES ('PROPOSALS', 3), ('DEADLETTER', 1)")
        .execute(&db.pool)
        .await
        .expect("checkpoints");
    let app = db.app();
    get(&app, "/v1/proposals").await;
    get(&app, "/v1/proposals/nope").await;
    get(&app, "/no/such/route").await;

    let (status, content_type, text) = get(&app, "/metrics").await;

    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    for line in [
        "buendel_http_requests_total{route=\"/v1/proposals\",status=\"200\"} 1",
        "buendel_http_requests_total{route=\"/v1/proposals/{id}\",status=\"400\"} 1",
        "buendel_http_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "# TYPE buendel_projection_checkpoint gauge",
        "buendel_projection_checkpoint{stream=\"PROPOSALS\"} 3",
        "buendel_projection_checkpoint{stream=\"DEADLETTER\"} 1",
        "# TYPE buendel_proposals gauge",
        "buendel_proposals{status=\"in_review\"} 2",
        "buendel_proposals{status=\"submitted\"} 1",
        "buendel_dead_letters{source=\"intake\"} 1",
        "buendel_read_model_up 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    db.drop_database().await;
}

/// Gives the proposal a review row and a ledger row with the given statuses (none for `None`).
async fn insert_review_and_money(pool: &PgPool, proposal_id: Uuid, inputs: StatusInputs) {
    if let Some(review) = inputs.review {
        sqlx::query(
            "INSERT INTO proposal_reviews (proposal_id, review_status, last_sequence, version, \
                 updated_at) VALUES ($1, $2, 1, 1, $3)",
        )
        .bind(proposal_id)
        .bind(review.as_str())
        .bind(at(0))
        .execute(pool)
        .await
        .expect("insert review");
    }
    if let Some(money) = inputs.money {
        sqlx::query(
            "INSERT INTO proposal_money (proposal_id, fund_id, status, last_sequence, updated_at) \
             VALUES ($1, 'non-2021-2027', $2, 1, $3)",
        )
        .bind(proposal_id)
        .bind(money.as_str())
        .bind(at(0))
        .execute(pool)
        .await
        .expect("insert money");
    }
}

#[tokio::test]
async fn every_combination_of_statuses_is_shown_filtered_and_counted_as_the_contract_combines_it() {
    let db = TestDb::new().await;
    let mut expected = std::collections::BTreeMap::new();
    for (index, inputs) in StatusInputs::all().enumerate() {
        let seed = Seed {
            status: inputs.proposal.as_str(),
            ..Seed::new(i64::try_from(index).expect("small") + 1)
        };
        insert_proposal(&db.pool, &seed).await;
        insert_review_and_money(&db.pool, seed.id, inputs).await;
        expected.insert(seed.id.to_string(), inputs.combined().as_str());
    }
    let app = db.app();

    let (_, all) = get_json(&app, "/v1/proposals?limit=500").await;
    let shown: std::collections::BTreeMap<String, &str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let id = item["proposal_id"].as_str().expect("id").to_owned();
            (id, item["status"].as_str().expect("status"))
        })
        .collect();
    assert_eq!(shown, expected);
    let mut filtered = 0;
    for status in CombinedStatus::ALL {
        let uri = format!("/v1/proposals?status={status}&limit=500");
        let (code, page) = get_json(&app, &uri).await;
        assert_eq!(code, StatusCode::OK, "{page}");
        let wanted: BTreeSet<String> = expected
            .iter()
            .filter(|(_, s)| **s == status.as_str())
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(
            ids(&page).into_iter().collect::<BTreeSet<_>>(),
            wanted,
            "{status}"
        );
        filtered += wanted.len();
    }
    assert_eq!(filtered, expected.len());
    let (_, none) = get_json(&app, "/v1/proposals?status=no_such_status").await;
    assert_eq!(ids(&none), Vec::<String>::new());
    let (_, _, metrics) = get(&app, "/metrics").await;
    for status in CombinedStatus::ALL {
        let count = expected.values().filter(|s| **s == status.as_str()).count();
        let line = format!("buendel_proposals{{status=\"{status}\"}} {count}");
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
    db.drop_database().await;
}

#[tokio::test]
async fn healthz_and_readyz_are_ok_while_the_database_answers() {
    let db = TestDb::new().await;
    let app = db.app();

    let (health, _) = get_json(&app, "/healthz").await;
    let (ready, _) = get_json(&app, "/readyz").await;

    assert_eq!((health, ready), (StatusCode::OK, StatusCode::OK));
    db.drop_database().await;
}

/// A pool that points at a port where nothing listens.
fn unreachable_pool() -> PgPool {
    PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nothing")
        .expect("a lazy pool")
}

#[tokio::test]
async fn readyz_is_503_and_healthz_still_200_when_the_database_does_not_answer() {
    let app = app(AppState::new(unreachable_pool()));

    let (health, _) = get_json(&app, "/healthz").await;
    let (ready, body) = get_json(&app, "/readyz").await;
    let (_, _, metrics) = get(&app, "/metrics").await;

    assert_eq!(health, StatusCode::OK);
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "not_ready");
    assert!(
        metrics.lines().any(|l| l == "buendel_read_model_up 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_database_failure_is_a_500_internal_that_leaks_nothing() {
    let app = app(AppState::new(unreachable_pool()));

    let (status, body) = get_json(&app, "/v1/proposals").await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({ "error": { "code": "internal", "message": "internal error" } })
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = app(AppState::new(unreachable_pool()));

    let (status, body) = get_json(&app, "/v2/anything").await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn a_method_other_than_get_is_a_json_405_with_a_code_and_the_allowed_methods() {
    // Found by schemathesis (scripts/schemathesis): `TRACE /v1/proposals` was a 405 with no body.
    let app = app(AppState::new(unreachable_pool()));
    for method in ["TRACE", "POST", "DELETE", "PUT", "PATCH"] {
        let request = Request::builder()
            .method(method)
            .uri("/v1/proposals")
            .body(Body::empty())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "GET, HEAD", "{method}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{method}"
        );
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: Value = serde_json::from_slice(&bytes).expect("a JSON body");
        assert_eq!(body["error"]["code"], "method_not_allowed", "{method}");
        assert!(body["error"]["message"].is_string(), "{method}");
    }
}

#[tokio::test]
async fn every_route_of_the_router_is_described_in_the_openapi_document_and_nothing_else() {
    let document: Value = serde_json::from_str(OPENAPI_JSON).expect("docs/openapi.json is JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let described: BTreeSet<String> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let routed: BTreeSet<String> = routes()
        .into_iter()
        .map(|(path, _)| path.to_owned())
        .collect();

    assert_eq!(routed, described);
    for path in &routed {
        let operation = &document["paths"][path]["get"];
        assert!(operation.is_object(), "{path} has no GET in the document");
        assert!(
            operation["responses"]["200"].is_object(),
            "{path} has no 200 response"
        );
    }
    let (status, content_type, served) =
        get(&app(AppState::new(unreachable_pool())), "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(served, OPENAPI_JSON);
}

#[tokio::test]
async fn every_reference_in_the_openapi_document_resolves() {
    let document: Value = serde_json::from_str(OPENAPI_JSON).expect("JSON");
    let mut refs = Vec::new();
    collect_refs(&document, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').expect("local reference");
        assert!(
            document.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("$ref", Value::String(reference)) => out.push(reference.clone()),
                    _ => collect_refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}
