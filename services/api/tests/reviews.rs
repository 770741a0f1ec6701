//! The review, status and alliance endpoints against a real Postgres, filled the way production
//! fills it: events encoded as the services store them, applied by the projector's `apply_batch`.
//! Each test creates its own database and drops it at the end.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{NaiveDate, TimeZone as _, Utc};
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt as _;
use uuid::Uuid;

use buendel_api::{app, AppState};
use buendel_contract::alliance::{AllianceEvent, PartnerJoined, Registered};
use buendel_contract::proposal::{
    Applicant, ProjectType, ProposalEvent, Screened, Submitted, Terms, Withdrawn,
};
use buendel_contract::reference::{Partner, RegionCategory};
use buendel_contract::review::{
    Closed, ConflictDeclared, GrantDecided, GrantRefused, Opened, QuorumRule, ReviewEvent,
    StatementIssued, Tally, Verdict, VoteChoice, VoteRecorded,
};
use buendel_contract::{BasisPoints, Cents, Envelope, EventKind, Meta, Namespace};
use buendel_projector::{apply_batch, ProposalsProjection, ReviewsProjection};
use buendel_runtime::db::{self, PoolLimits};
use buendel_runtime::store::Stored;

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// A fresh namespace with its own migrated database, and the two streams' events so far.
struct TestDb {
    ns: Namespace,
    pool: PgPool,
    proposals: Stream,
    reviews: Stream,
}

impl TestDb {
    async fn new() -> Self {
        let short = Uuid::new_v4().simple().to_string();
        let ns = Namespace::new(format!("t{}", &short[..16])).expect("valid namespace");
        let pool = db::connect_and_migrate(POSTGRES, &ns, PoolLimits::default())
            .await
            .expect("Postgres at 127.0.0.1:5432");
        Self {
            ns,
            pool,
            proposals: Stream::new("proposal"),
            reviews: Stream::new("review"),
        }
    }

    fn app(&self) -> Router {
        app(AppState::new(self.pool.clone()))
    }

    /// Appends PROPOSALS events and projects them.
    async fn proposal(&mut self, events: impl IntoIterator<Item = ProposalEvent>) {
        let batch: Vec<Stored> = events
            .into_iter()
            .map(|event| {
                let id = event.proposal_id().to_string();
                self.proposals.event(&id, event)
            })
            .collect();
        apply_batch(&self.pool, &ProposalsProjection, &batch)
            .await
            .expect("PROPOSALS projected");
    }

    /// Appends REVIEWS events of reviews and projects them.
    async fn review(&mut self, events: impl IntoIterator<Item = ReviewEvent>) {
        let batch: Vec<Stored> = events
            .into_iter()
            .map(|event| {
                let id = event.proposal_id().to_string();
                self.reviews.event(&id, event)
            })
            .collect();
        apply_batch(&self.pool, &ReviewsProjection, &batch)
            .await
            .expect("REVIEWS projected");
    }

    /// Appends REVIEWS events of alliances and projects them.
    async fn alliance(&mut self, events: impl IntoIterator<Item = AllianceEvent>) {
        let batch: Vec<Stored> = events
            .into_iter()
            .map(|event| {
                let id = format!("alliance-{}", event.alliance_id());
                self.reviews.event(&id, event)
            })
            .collect();
        apply_batch(&self.pool, &ReviewsProjection, &batch)
            .await
            .expect("REVIEWS projected");
    }

    async fn drop_database(self) {
        self.pool.close().await;
        let options = db::options(POSTGRES, &self.ns).expect("options");
        db::drop_database(&options).await.expect("drop database");
    }
}

/// Encodes the events of one stream as the services store them.
struct Stream {
    prefix: &'static str,
    next_sequence: u64,
    versions: HashMap<String, u64>,
}

impl Stream {
    fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            next_sequence: 1,
            versions: HashMap::new(),
        }
    }

    fn event<E: EventKind>(&mut self, aggregate: &str, event: E) -> Stored {
        let version = self.versions.entry(aggregate.to_owned()).or_insert(0);
        *version += 1;
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let meta = Meta {
            source: "/buendel/test".into(),
            time: Utc
                .with_ymd_and_hms(2026, 4, 1, 9, 0, 0)
                .single()
                .expect("time")
                + chrono::Duration::seconds(i64::try_from(sequence).expect("small")),
            correlation_id: None,
            causation_id: None,
            actor: "operator:test".into(),
        };
        let envelope = Envelope::new(Uuid::new_v4(), aggregate, *version, event, &meta);
        Stored {
            sequence,
            subject: format!("t.{}.{aggregate}", self.prefix),
            payload: serde_json::to_vec(&envelope).expect("json").into(),
            trace: None,
        }
    }
}

fn partner(id: &str) -> Partner {
    Partner {
        id: id.into(),
        name: format!("Partner {id}"),
    }
}

fn submitted(proposal_id: Uuid, alliance_id: &str) -> ProposalEvent {
    ProposalEvent::Submitted(Submitted {
        proposal_id,
        alliance_id: alliance_id.into(),
        applicant: Applicant {
            name: "Bildungswerk e.V.".into(),
            kind: "verein".into(),
            district: "Harburg".into(),
        },
        terms: Terms {
            title: "Pflege lernen".into(),
            summary: "Weiterbildung".into(),
            project_type: ProjectType::Training,
            focus_areas: vec!["good_work".into()],
            districts: vec!["Harburg".into()],
            planned_start: NaiveDate::from_ymd_opt(2026, 9, 1).expect("date"),
            duration_months: 24,
            eligible_cost_cents: Cents(10_000_000),
            requested_rate_bp: BasisPoints(7_000),
        },
    })
}

fn screened(proposal_id: Uuid) -> ProposalEvent {
    ProposalEvent::Screened(Screened {
        proposal_id,
        passed: true,
        rules_version: "esf-plus-2021-2027.1".into(),
        results: vec![],
        subject: None,
    })
}

fn withdrawn(proposal_id: Uuid) -> ProposalEvent {
    ProposalEvent::Withdrawn(Withdrawn {
        proposal_id,
        reason: "funded elsewhere".into(),
    })
}

fn opened(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::Opened(Opened {
        proposal_id,
        alliance_id: "non".into(),
        partners: ["lk-harburg", "dgb", "hwk"].map(partner).to_vec(),
        quorum: QuorumRule::default(),
        region: RegionCategory::Transition,
        eligible_cost_cents: Cents(10_000_000),
        requested_rate_bp: BasisPoints(7_000),
        rules_version: "esf-plus-2021-2027.1".into(),
        max_total_rate_bp: BasisPoints(7_000),
        max_esf_rate_bp: BasisPoints(6_000),
        eligible_from: NaiveDate::from_ymd_opt(2021, 1, 1).expect("date"),
        eligible_until: NaiveDate::from_ymd_opt(2029, 12, 31).expect("date"),
    })
}

fn vote(proposal_id: Uuid, partner_id: &str, vote: VoteChoice) -> ReviewEvent {
    ReviewEvent::VoteRecorded(VoteRecorded {
        proposal_id,
        partner_id: partner_id.into(),
        vote,
        comment: None,
    })
}

fn recusal(proposal_id: Uuid, partner_id: &str) -> ReviewEvent {
    ReviewEvent::ConflictDeclared(ConflictDeclared {
        proposal_id,
        partner_id: partner_id.into(),
        reason: "board member of the applicant".into(),
    })
}

fn statement(proposal_id: Uuid, verdict: Verdict) -> ReviewEvent {
    ReviewEvent::StatementIssued(StatementIssued {
        money: None,
        proposal_id,
        verdict,
        conditions: vec!["report every six months".into()],
        tally: Tally {
            yes: 2,
            no: 0,
            abstain: 0,
            recused: 1,
            eligible: 2,
        },
        quorum_met: true,
    })
}

fn grant(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::GrantDecided(GrantDecided {
        fund: None,
        proposal_id,
        bank_reference: "NB-2026-0042".into(),
        eligible_cost_cents: Cents(10_000_000),
        total_rate_bp: BasisPoints(7_000),
        esf_rate_bp: BasisPoints(6_000),
        esf_cents: Cents(6_000_000),
        land_cents: Cents(1_000_000),
        period_from: NaiveDate::from_ymd_opt(2026, 9, 1).expect("date"),
        period_to: NaiveDate::from_ymd_opt(2028, 8, 31).expect("date"),
        amendment: None,
    })
}

fn refusal(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::GrantRefused(GrantRefused {
        fund: None,
        proposal_id,
        bank_reference: "NB-2026-0043".into(),
        reason: "budget line exhausted".into(),
    })
}

fn closed(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::Closed(Closed {
        fund: None,
        proposal_id,
        reason: "funded elsewhere".into(),
    })
}

fn registered(alliance_id: &str, region: RegionCategory) -> AllianceEvent {
    AllianceEvent::Registered(Registered {
        alliance_id: alliance_id.into(),
        name: format!("Fachkräftebündnis {alliance_id}"),
        region,
        districts: vec!["Harburg".into(), "Lüneburg".into()],
        focus_areas: vec!["dual_training".into(), "good_work".into()],
        partners: ["lk-harburg", "dgb"].map(partner).to_vec(),
        quorum: QuorumRule::default(),
        rules_version: "esf-plus-2021-2027.1".into(),
        application_deadline: NaiveDate::from_ymd_opt(2027, 6, 30).expect("date"),
    })
}

async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{uri}: {e}")),
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
async fn a_granted_proposal_shows_its_votes_recusals_tally_statement_and_grant_terms() {
    let mut db = TestDb::new().await;
    let id = Uuid::new_v4();
    db.proposal([submitted(id, "non"), screened(id)]).await;
    db.review([
        opened(id),
        vote(id, "lk-harburg", VoteChoice::No),
        vote(id, "dgb", VoteChoice::Yes),
        vote(id, "lk-harburg", VoteChoice::Yes),
        recusal(id, "hwk"),
        statement(id, Verdict::Positive),
        grant(id),
    ])
    .await;

    let (status, body) = get_json(&db.app(), &format!("/v1/proposals/{id}")).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "granted");
    let review = &body["review"];
    assert_eq!(review["status"], "granted");
    assert_eq!(review["alliance_id"], "non");
    assert_eq!(review["roster"].as_array().expect("roster").len(), 3);
    assert_eq!(review["quorum"]["min_participation_bp"], 5001);
    let votes: Vec<(&str, &str)> = review["votes"]
        .as_array()
        .expect("votes")
        .iter()
        .map(|v| {
            (
                v["partner_id"].as_str().expect("partner"),
                v["vote"].as_str().expect("vote"),
            )
        })
        .collect();
    assert_eq!(votes, [("dgb", "yes"), ("lk-harburg", "yes")]);
    assert_eq!(review["recusals"][0]["partner_id"], "hwk");
    assert_eq!(
        review["tally"],
        json!({"yes": 2, "no": 0, "abstain": 0, "recused": 1, "eligible": 2})
    );
    assert_eq!(review["quorum_met"], true);
    assert_eq!(review["statement"]["verdict"], "positive");
    assert_eq!(
        review["statement"]["conditions"],
        json!(["report every six months"])
    );
    let grant = &review["grant"];
    assert_eq!(grant["bank_reference"], "NB-2026-0042");
    assert!(grant["esf_cents"].is_i64(), "money is an integer: {grant}");
    assert_eq!(
        (
            &grant["esf_cents"],
            &grant["land_cents"],
            &grant["grant_cents"]
        ),
        (&json!(6_000_000), &json!(1_000_000), &json!(7_000_000))
    );
    assert_eq!(
        (&grant["total_rate_bp"], &grant["esf_rate_bp"]),
        (&json!(7_000), &json!(6_000))
    );
    assert_eq!(grant["period_from"], "2026-09-01");
    assert_eq!(review["refusal"], Value::Null);
    assert_eq!(review["closed"], Value::Null);
    assert_eq!(review["last_sequence"], 7);
    let streams: Vec<&str> = body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["stream"].as_str().expect("stream"))
        .collect();
    assert_eq!(streams.len(), 9);
    assert_eq!(streams.iter().filter(|s| **s == "REVIEWS").count(), 7);
    db.drop_database().await;
}

#[tokio::test]
async fn a_review_projected_before_its_proposal_shows_once_the_proposal_arrives() {
    let mut db = TestDb::new().await;
    let id = Uuid::new_v4();
    db.review([opened(id), vote(id, "dgb", VoteChoice::Abstain)])
        .await;

    let (before, _) = get_json(&db.app(), &format!("/v1/proposals/{id}")).await;
    db.proposal([submitted(id, "non"), screened(id)]).await;
    let (after, body) = get_json(&db.app(), &format!("/v1/proposals/{id}")).await;

    assert_eq!(before, StatusCode::NOT_FOUND);
    assert_eq!(after, StatusCode::OK);
    assert_eq!(body["status"], "in_review");
    assert_eq!(body["review"]["status"], "in_review");
    assert_eq!(body["review"]["votes"][0]["vote"], "abstain");
    assert_eq!(body["review"]["statement"], Value::Null);
    assert_eq!(body["review"]["tally"], Value::Null);
    db.drop_database().await;
}

#[tokio::test]
async fn a_changed_vote_then_a_recusal_leaves_the_partner_without_a_vote() {
    let mut db = TestDb::new().await;
    let id = Uuid::new_v4();
    db.proposal([submitted(id, "non"), screened(id)]).await;
    db.review([
        opened(id),
        vote(id, "dgb", VoteChoice::Yes),
        vote(id, "dgb", VoteChoice::No),
    ])
    .await;
    let (_, changed) = get_json(&db.app(), &format!("/v1/proposals/{id}")).await;
    db.review([recusal(id, "dgb")]).await;

    let (_, recused) = get_json(&db.app(), &format!("/v1/proposals/{id}")).await;

    assert_eq!(
        changed["review"]["votes"].as_array().expect("votes").len(),
        1
    );
    assert_eq!(changed["review"]["votes"][0]["vote"], "no");
    assert_eq!(recused["review"]["votes"], json!([]));
    assert_eq!(recused["review"]["recusals"][0]["partner_id"], "dgb");
    assert_eq!(
        recused["review"]["recusals"][0]["reason"],
        "board member of the applicant"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn the_status_is_withdrawn_before_the_grant_then_the_reviews_then_the_proposals() {
    let mut db = TestDb::new().await;
    let [plain, reviewing, negative, withdrawn_after_statement, granted_then_withdrawn, refused] =
        [(); 6].map(|()| Uuid::new_v4());
    db.proposal([submitted(plain, "non")]).await;
    for id in [
        reviewing,
        negative,
        withdrawn_after_statement,
        granted_then_withdrawn,
        refused,
    ] {
        db.proposal([submitted(id, "non"), screened(id)]).await;
        db.review([opened(id)]).await;
    }
    db.review([statement(negative, Verdict::Negative)]).await;
    db.review([statement(withdrawn_after_statement, Verdict::Positive)])
        .await;
    db.proposal([withdrawn(withdrawn_after_statement)]).await;
    db.review([closed(withdrawn_after_statement)]).await;
    db.review([
        statement(granted_then_withdrawn, Verdict::Positive),
        grant(granted_then_withdrawn),
    ])
    .await;
    db.proposal([withdrawn(granted_then_withdrawn)]).await;
    db.review([statement(refused, Verdict::Positive), refusal(refused)])
        .await;
    let app = db.app();

    let expected = [
        (plain, "submitted"),
        (reviewing, "in_review"),
        (negative, "statement_negative"),
        (withdrawn_after_statement, "withdrawn"),
        (granted_then_withdrawn, "granted"),
        (refused, "refused"),
    ];
    for (id, status) in expected {
        let (_, detail) = get_json(&app, &format!("/v1/proposals/{id}")).await;
        assert_eq!(detail["status"], status, "{detail}");
        let (_, page) = get_json(&app, &format!("/v1/proposals?status={status}")).await;
        assert_eq!(ids(&page), [id.to_string()], "filter {status}");
    }
    let (_, detail) = get_json(&app, &format!("/v1/proposals/{withdrawn_after_statement}")).await;
    assert_eq!(detail["review"]["status"], "statement_positive");
    assert_eq!(detail["review"]["closed"]["reason"], "funded elsewhere");
    let (_, detail) = get_json(&app, &format!("/v1/proposals/{refused}")).await;
    assert_eq!(
        detail["review"]["refusal"]["reason"],
        "budget line exhausted"
    );
    assert_eq!(detail["review"]["grant"], Value::Null);
    let (_, plain_detail) = get_json(&app, &format!("/v1/proposals/{plain}")).await;
    assert_eq!(plain_detail["review"], Value::Null);
    db.drop_database().await;
}

#[tokio::test]
async fn alliances_show_their_roster_region_focus_areas_and_proposals_by_status() {
    let mut db = TestDb::new().await;
    let (first, second, third, elsewhere) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let (_, empty) = get_json(&db.app(), "/v1/alliances").await;
    db.alliance([
        registered("non", RegionCategory::Transition),
        registered("son", RegionCategory::MoreDeveloped),
        AllianceEvent::PartnerJoined(PartnerJoined {
            alliance_id: "non".into(),
            partner: partner("leuphana"),
        }),
    ])
    .await;
    for id in [first, second, third] {
        db.proposal([submitted(id, "non"), screened(id)]).await;
        db.review([opened(id)]).await;
    }
    db.proposal([submitted(elsewhere, "son")]).await;
    db.review([statement(first, Verdict::Positive), grant(first)])
        .await;
    db.proposal([withdrawn(second)]).await;
    let app = db.app();

    let (status, list) = get_json(&app, "/v1/alliances").await;
    let (detail_status, non) = get_json(&app, "/v1/alliances/non").await;

    assert_eq!(empty["items"], json!([]), "nothing before any registration");
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["alliance_id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, ["non", "son"]);
    assert_eq!(list["next_cursor"], Value::Null);
    assert_eq!(list["items"][1]["region"], "more_developed");
    assert_eq!(
        list["items"][1]["proposals_by_status"],
        json!({"submitted": 1})
    );
    assert_eq!(detail_status, StatusCode::OK, "{non}");
    assert_eq!(non["region"], "transition");
    assert_eq!(non["focus_areas"], json!(["dual_training", "good_work"]));
    let partners: Vec<&str> = non["partners"]
        .as_array()
        .expect("partners")
        .iter()
        .map(|p| p["id"].as_str().expect("id"))
        .collect();
    assert_eq!(partners, ["lk-harburg", "dgb", "leuphana"]);
    assert_eq!(
        non["proposals_by_status"],
        json!({"granted": 1, "withdrawn": 1, "in_review": 1})
    );
    assert_eq!(non["quorum"]["min_participation_bp"], 5001);
    assert_eq!(non["application_deadline"], "2027-06-30");
    let (_, page) = get_json(&app, "/v1/alliances?limit=1").await;
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, rest) = get_json(&app, &format!("/v1/alliances?limit=1&cursor={cursor}")).await;
    assert_eq!(rest["items"][0]["alliance_id"], "son");
    db.drop_database().await;
}

#[tokio::test]
async fn an_unknown_alliance_is_a_404_not_found_and_a_bad_query_a_400() {
    let mut db = TestDb::new().await;
    db.alliance([registered("non", RegionCategory::Transition)])
        .await;
    let app = db.app();

    let (status, body) = get_json(&app, "/v1/alliances/xyz").await;
    let (bad, bad_body) = get_json(&app, "/v1/alliances?region=transition").await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(bad, StatusCode::BAD_REQUEST);
    assert_eq!(bad_body["error"]["code"], "invalid_query");
    db.drop_database().await;
}

#[tokio::test]
async fn metrics_count_proposals_by_combined_status() {
    let mut db = TestDb::new().await;
    let (granted, withdrawn_one) = (Uuid::new_v4(), Uuid::new_v4());
    for id in [granted, withdrawn_one] {
        db.proposal([submitted(id, "non"), screened(id)]).await;
        db.review([opened(id), statement(id, Verdict::Positive)])
            .await;
    }
    db.review([grant(granted)]).await;
    db.proposal([withdrawn(withdrawn_one)]).await;

    let request = Request::get("/metrics")
        .body(Body::empty())
        .expect("request");
    let response = db.app().oneshot(request).await.expect("infallible");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).expect("utf-8");

    for line in [
        "buendel_proposals{status=\"granted\"} 1",
        "buendel_proposals{status=\"withdrawn\"} 1",
        "buendel_projection_checkpoint{stream=\"REVIEWS\"} 5",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    db.drop_database().await;
}
