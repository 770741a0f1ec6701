//! The fund endpoints, the `money` of a proposal and the statuses the ledger decides, against a
//! real Postgres filled the way production fills it: ledger events decided by the real Fund
//! aggregate (`buendel_ledger::domain`), sealed into the hash chain, encoded as stored and applied
//! by the projector's `apply_batch`. Each test creates its own database and drops it at the end.
//!
//! The same fixtures fill every read model for the OpenAPI check: each documented endpoint is
//! requested and its body compared field by field with `docs/openapi.json` ([`openapi_check`]).

mod exports;
mod openapi_check;

use std::collections::{BTreeSet, HashMap};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{NaiveDate, TimeZone as _, Utc};
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt as _;
use uuid::Uuid;

use buendel_api::{app, AppState, OPENAPI_JSON};
use buendel_contract::alliance::{AllianceEvent, Registered};
use buendel_contract::deadletter::DeadLetter;
use buendel_contract::ledger::{seal, LedgerEvent, ReleaseReason, GENESIS_HASH};
use buendel_contract::ledger::{AccountKind, ProjectStatus};
use buendel_contract::proposal::{
    Applicant, ProjectType, ProposalEvent, RuleResult, Screened, Severity, Submitted, Terms,
    Withdrawn,
};
use buendel_contract::reference::{Partner, RegionCategory};
use buendel_contract::reply::FieldError;
use buendel_contract::review::{
    Closed, ConflictDeclared, GrantDecided, GrantRefused, Opened, QuorumRule, ReviewEvent,
    StatementIssued, Tally, Verdict, VoteChoice, VoteRecorded,
};
use buendel_contract::status::{CombinedStatus, ReviewStatus};
use buendel_contract::{Aggregate as _, BasisPoints, Cents, Envelope, EventKind, Meta, Namespace};
use buendel_ledger::domain::{Command, Fund};
use buendel_projector::{
    apply_batch, DeadLettersProjection, LedgerProjection, ProposalsProjection, ReviewsProjection,
};
use buendel_runtime::db::{self, PoolLimits};
use buendel_runtime::store::Stored;

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
const FUND: &str = "non-2021-2027";

/// A fresh namespace with its own migrated database, and the three streams' events so far.
struct TestDb {
    ns: Namespace,
    pool: PgPool,
    proposals: Stream,
    reviews: Stream,
    ledger: Ledger,
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
            proposals: Stream::default(),
            reviews: Stream::default(),
            ledger: Ledger::new(),
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
                self.proposals.event("proposal", &id, event)
            })
            .collect();
        apply_batch(&self.pool, &ProposalsProjection, &batch)
            .await
            .expect("PROPOSALS projected");
    }

    /// Appends REVIEWS events and projects them.
    async fn review(&mut self, events: impl IntoIterator<Item = ReviewEvent>) {
        let batch: Vec<Stored> = events
            .into_iter()
            .map(|event| {
                let id = event.proposal_id().to_string();
                self.reviews.event("review", &id, event)
            })
            .collect();
        apply_batch(&self.pool, &ReviewsProjection, &batch)
            .await
            .expect("REVIEWS projected");
    }

    /// Decides ledger commands with the real aggregate and projects their events.
    async fn ledger(&mut self, commands: impl IntoIterator<Item = Command>) {
        let batch: Vec<Stored> = commands
            .into_iter()
            .flat_map(|command| self.ledger.run(command))
            .collect();
        apply_batch(&self.pool, &LedgerProjection, &batch)
            .await
            .expect("LEDGER projected");
    }

    /// Appends REVIEWS events of alliances and projects them.
    async fn alliance(&mut self, events: impl IntoIterator<Item = AllianceEvent>) {
        let batch: Vec<Stored> = events
            .into_iter()
            .map(|event| {
                let id = format!("alliance-{}", event.alliance_id());
                self.reviews.event("review", &id, event)
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
#[derive(Default)]
struct Stream {
    next_sequence: u64,
    versions: HashMap<String, u64>,
}

impl Stream {
    fn event<E: EventKind>(&mut self, prefix: &str, aggregate: &str, event: E) -> Stored {
        let version = self.versions.entry(aggregate.to_owned()).or_insert(0);
        *version += 1;
        self.next_sequence += 1;
        let sequence = self.next_sequence;
        let envelope = Envelope::new(Uuid::new_v4(), aggregate, *version, event, &meta(sequence));
        Stored {
            sequence,
            subject: format!("t.{prefix}.{aggregate}"),
            payload: serde_json::to_vec(&envelope).expect("json").into(),
            trace: None,
        }
    }
}

fn meta(sequence: u64) -> Meta {
    Meta {
        source: "/buendel/test".into(),
        time: Utc
            .with_ymd_and_hms(2026, 4, 1, 9, 0, 0)
            .single()
            .expect("time")
            + chrono::Duration::seconds(i64::try_from(sequence).expect("small")),
        correlation_id: None,
        causation_id: Some(format!("cause-{sequence}")),
        actor: "operator:test".into(),
    }
}

/// One fund's history, decided by the real Fund aggregate and sealed into the hash chain.
struct Ledger {
    fund: Fund,
    last_hash: String,
    events: Vec<Envelope<LedgerEvent>>,
}

impl Ledger {
    fn new() -> Self {
        Self {
            fund: Fund::default(),
            last_hash: GENESIS_HASH.to_owned(),
            events: Vec::new(),
        }
    }

    fn run(&mut self, command: Command) -> Vec<Stored> {
        let events = self
            .fund
            .decide(&command)
            .unwrap_or_else(|e| panic!("{} was refused: {e}", command.name()));
        let mut stored = Vec::new();
        for event in events {
            self.fund = self.fund.clone().apply(&event);
            let sequence = u64::try_from(self.events.len()).expect("small") + 1;
            let mut envelope = Envelope::new(
                Uuid::new_v4(),
                FUND,
                self.fund.entries(),
                event,
                &meta(sequence),
            );
            seal(&mut envelope, &self.last_hash).expect("seal");
            self.last_hash = envelope.hash.clone().expect("sealed");
            stored.push(Stored {
                sequence,
                subject: format!("t.ledger.{FUND}"),
                payload: serde_json::to_vec(&envelope).expect("json").into(),
                trace: None,
            });
            self.events.push(envelope);
        }
        stored
    }

    /// The aggregate after the events with a value date on or before `date`.
    fn as_of(&self, date: NaiveDate) -> Fund {
        self.events
            .iter()
            .filter(|e| e.event.value_date() <= date)
            .fold(Fund::default(), |fund, e| fund.apply(&e.event))
    }

    fn postings(&self) -> usize {
        self.events.iter().map(|e| e.event.postings().len()).sum()
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn allocate(esf: i64, land: i64) -> Command {
    Command::AllocateBudget {
        fund_id: FUND.into(),
        esf: Cents(esf),
        land: Cents(land),
        commit_deadline: day(2027, 12, 31),
        today: day(2025, 1, 2),
    }
}

fn reserve(proposal: Uuid, esf: i64, land: i64, today: NaiveDate) -> Command {
    Command::Reserve {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        today,
    }
}

fn commit(proposal: Uuid, esf: i64, land: i64, today: NaiveDate) -> Command {
    Command::Commit {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        terms: None,
        today,
    }
}

fn disburse(proposal: Uuid, reference: &str, esf: i64, land: i64, on: NaiveDate) -> Command {
    Command::RecordDisbursement {
        proposal_id: proposal,
        payment_reference: reference.into(),
        esf: Cents(esf),
        land: Cents(land),
        value_date: on,
        today: on,
    }
}

fn close(proposal: Uuid, today: NaiveDate) -> Command {
    Command::CloseProject {
        proposal_id: proposal,
        today,
    }
}

fn release(proposal: Uuid, reason: ReleaseReason, today: NaiveDate) -> Command {
    Command::ReleaseReservation {
        proposal_id: proposal,
        reason,
        today,
    }
}

/// A grant with its terms and two claims: one paid through verification and approval (by two
/// officers), one left open; booked after [`full_path`] (its dates follow).
fn claims(project: Uuid, paid: Uuid, open: Uuid) -> Vec<Command> {
    let on = day(2026, 5, 4);
    let claim = |claim_id, from, to| Command::SubmitClaim {
        proposal_id: project,
        claim: buendel_ledger::domain::NewClaim {
            claim_id,
            period_from: from,
            period_to: to,
            declared_eligible: Cents(2_500_000),
            asked: buendel_contract::ledger::Amounts::new(1_500_000, 250_000),
            receipts_reference: "BL-1".into(),
        },
        actor: "traeger".into(),
        today: on,
    };
    vec![
        reserve(project, 18_000_000, 3_000_000, on),
        Command::Commit {
            proposal_id: project,
            esf: Cents(18_000_000),
            land: Cents(3_000_000),
            terms: Some(buendel_contract::ledger::GrantTerms {
                bank_reference: "NB-ZB-9".into(),
                eligible_cost_cents: Cents(30_000_000),
                total_rate_bp: BasisPoints(7_000),
                esf_rate_bp: BasisPoints(6_000),
                period_from: day(2026, 1, 1),
                period_to: day(2027, 12, 31),
            }),
            today: on,
        },
        claim(paid, day(2026, 1, 1), day(2026, 3, 31)),
        Command::VerifyClaim {
            proposal_id: project,
            claim_id: paid,
            cuts: vec![buendel_contract::ledger::ClaimCut {
                cut: buendel_contract::ledger::Amounts::new(100_000, 0),
                reason: "receipt 3".into(),
            }],
            actor: "pruefer".into(),
            today: on,
        },
        Command::ApproveClaim {
            proposal_id: project,
            claim_id: paid,
            payment_reference: "NB-C-1".into(),
            value_date: on,
            actor: "freigabe".into(),
            today: on,
        },
        claim(open, day(2026, 4, 1), day(2026, 6, 30)),
    ]
}

/// allocate → reserve → commit → two disbursements → close → recovery → repayment.
fn full_path(project: Uuid) -> Vec<Command> {
    vec![
        allocate(200_571_429, 33_428_571),
        reserve(project, 18_000_000, 3_000_000, day(2025, 2, 1)),
        commit(project, 17_000_000, 3_000_000, day(2025, 3, 1)),
        disburse(project, "NB-1", 1_500_000, 250_000, day(2025, 4, 15)),
        disburse(project, "NB-2", 10_000_000, 2_000_000, day(2025, 9, 30)),
        close(project, day(2026, 1, 15)),
        Command::AssessRecovery {
            proposal_id: project,
            esf: Cents(300_000),
            land: Cents(50_000),
            reason: "final report audited".into(),
            today: day(2026, 3, 1),
        },
        Command::RecordRepayment {
            proposal_id: project,
            esf: Cents(200_000),
            land: Cents(50_000),
            value_date: day(2026, 4, 1),
            today: day(2026, 4, 1),
        },
    ]
}

fn submitted(proposal_id: Uuid) -> ProposalEvent {
    ProposalEvent::Submitted(Submitted {
        proposal_id,
        alliance_id: "non".into(),
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
            planned_start: day(2026, 9, 1),
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

fn opened(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::Opened(Opened {
        proposal_id,
        alliance_id: "non".into(),
        partners: ["lk-harburg", "dgb"]
            .map(|id| Partner {
                id: id.into(),
                name: format!("Partner {id}"),
            })
            .to_vec(),
        quorum: QuorumRule::default(),
        region: RegionCategory::Transition,
        eligible_cost_cents: Cents(10_000_000),
        requested_rate_bp: BasisPoints(7_000),
        rules_version: "esf-plus-2021-2027.1".into(),
        max_total_rate_bp: BasisPoints(7_000),
        max_esf_rate_bp: BasisPoints(6_000),
        eligible_from: day(2021, 1, 1),
        eligible_until: day(2029, 12, 31),
    })
}

fn positive(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::StatementIssued(StatementIssued {
        money: None,
        proposal_id,
        verdict: Verdict::Positive,
        conditions: vec![],
        tally: Tally {
            yes: 2,
            no: 0,
            abstain: 0,
            recused: 0,
            eligible: 2,
        },
        quorum_met: true,
    })
}

fn grant(proposal_id: Uuid, esf: i64, land: i64) -> ReviewEvent {
    ReviewEvent::GrantDecided(GrantDecided {
        fund: None,
        proposal_id,
        bank_reference: "NB-2026-0042".into(),
        eligible_cost_cents: Cents(10_000_000),
        total_rate_bp: BasisPoints(7_000),
        esf_rate_bp: BasisPoints(6_000),
        esf_cents: Cents(esf),
        land_cents: Cents(land),
        period_from: day(2026, 9, 1),
        period_to: day(2028, 8, 31),
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

async fn get(app: &Router, uri: &str) -> (StatusCode, String, Option<String>, String) {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let content_type = header("content-type").unwrap_or_default();
    let next_cursor = header("x-next-cursor");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    // Lossy: an XLSX body is no text (its content type is all the OpenAPI check reads of it).
    let body = String::from_utf8_lossy(&body).into_owned();
    (status, content_type, next_cursor, body)
}

async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (status, _, _, body) = get(app, uri).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: {e}: {body}")),
    )
}

/// The fund's figures as the aggregate computes them, in the API's shape.
fn figures(fund: &Fund) -> Value {
    let balances = fund.balances();
    json!({
        "esf_plus": balances.esf_plus,
        "land": balances.land,
        "total": balances.total,
        "trial_balance_zero": balances.trial_balance_zero,
    })
}

fn figures_of(body: &Value) -> Value {
    json!({
        "esf_plus": body["esf_plus"],
        "land": body["land"],
        "total": body["total"],
        "trial_balance_zero": body["trial_balance_zero"],
    })
}

#[tokio::test]
async fn a_funds_figures_equal_the_aggregates_to_the_cent_now_and_as_of_a_middle_date() {
    let mut db = TestDb::new().await;
    let project = Uuid::new_v4();
    for command in full_path(project) {
        db.ledger([command]).await;
    }
    let app = db.app();

    let (status, now) = get_json(&app, &format!("/v1/funds/{FUND}")).await;
    let (_, middle) = get_json(&app, &format!("/v1/funds/{FUND}?as_of=2025-06-30")).await;
    let (_, before) = get_json(&app, &format!("/v1/funds/{FUND}?as_of=2024-12-31")).await;
    let (_, list) = get_json(&app, "/v1/funds").await;

    assert_eq!(status, StatusCode::OK, "{now}");
    assert_eq!(figures_of(&now), figures(&db.ledger.fund));
    assert_eq!(
        (
            &now["esf_plus"]["allocated"],
            &now["total"]["disbursed"],
            &now["total"]["recovered"],
            &now["total"]["repaid"],
        ),
        (
            &json!(200_571_429),
            &json!(13_750_000),
            &json!(350_000),
            &json!(250_000)
        ),
        "{now}"
    );
    assert_eq!(now["trial_balance_cents"], 0);
    assert_eq!(now["trial_balance_zero"], true);
    assert_eq!(now["commit_deadline"], "2027-12-31");
    assert_eq!(now["alliance_id"], "non");
    assert_eq!(now["entries"], 8);
    assert_eq!(now["last_hash"], json!(db.ledger.last_hash));
    assert_eq!(now["as_of"], Value::Null);

    let at_middle = db.ledger.as_of(day(2025, 6, 30));
    assert_eq!(figures_of(&middle), figures(&at_middle));
    assert_eq!(middle["as_of"], "2025-06-30");
    assert_eq!(
        middle["entries"], 4,
        "allocation, reservation, commitment, first tranche"
    );
    assert_eq!(middle["last_hash"], json!(db.ledger.events[3].hash));
    assert_eq!(middle["total"]["disbursed"], 1_750_000);
    assert_eq!(middle["trial_balance_cents"], 0);

    assert_eq!(before["entries"], 0);
    assert_eq!(before["last_hash"], Value::Null);
    assert_eq!(before["total"]["allocated"], 0);

    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["fund_id"], FUND);
    assert_eq!(figures_of(&items[0]), figures(&db.ledger.fund));
    db.drop_database().await;
}

#[tokio::test]
async fn a_claims_clock_as_of_an_earlier_day_reads_what_that_day_read() {
    // Given a claim submitted on 4 May, sent back on 14 May, returned on 24 May and paid on
    // 10 June (its clock last changed on 10 June),
    let mut db = TestDb::new().await;
    let (project, claim_id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut commands = vec![allocate(200_571_429, 33_428_571)];
    commands.extend(claims(project, Uuid::new_v4(), claim_id));
    let (project_id, claim) = (project, claim_id);
    commands.push(Command::ReturnClaim {
        proposal_id: project_id,
        claim_id: claim,
        missing: "payslips".into(),
        actor: "pruefer".into(),
        today: day(2026, 5, 14),
    });
    commands.push(Command::ResubmitClaim {
        proposal_id: project_id,
        claim_id: claim,
        receipts_reference: "BL-1-b".into(),
        today: day(2026, 5, 24),
    });
    commands.push(Command::VerifyClaim {
        proposal_id: project_id,
        claim_id: claim,
        cuts: vec![],
        actor: "pruefer".into(),
        today: day(2026, 5, 25),
    });
    commands.push(Command::ApproveClaim {
        proposal_id: project_id,
        claim_id: claim,
        payment_reference: "NB-C-2".into(),
        value_date: day(2026, 6, 10),
        actor: "freigabe".into(),
        today: day(2026, 6, 10),
    });
    db.ledger(commands).await;
    let app = db.app();
    let clock = |as_of: &'static str| {
        let app = app.clone();
        async move {
            let (status, body) =
                get_json(&app, &format!("/v1/claims/{claim_id}?as_of={as_of}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["clock"].clone()
        }
    };
    // when it is read as of a day in the pause, it reads paused with the pause so far;
    let paused = clock("2026-05-18").await;
    assert_eq!(paused["paused"], true, "{paused}");
    assert_eq!(paused["paid"], false, "{paused}");
    assert_eq!(paused["days_paused"], 4, "{paused}");
    assert_eq!(paused["days_running"], 10, "{paused}");
    // as of a day after the return, running with the whole pause;
    let running = clock("2026-06-01").await;
    assert_eq!(running["paused"], false, "{running}");
    assert_eq!(running["days_paused"], 10, "{running}");
    assert_eq!(running["days_running"], 18, "{running}");
    assert_eq!(running["due_date"], "2026-08-02", "{running}");
    // and as of the payment or later, stopped.
    let paid = clock("2026-07-01").await;
    assert_eq!(paid["paid"], true, "{paid}");
    assert_eq!(paid["days_running"], 27, "{paid}");
    db.drop_database().await;
}

#[tokio::test]
async fn the_books_as_known_at_a_moment_count_only_the_entries_recorded_by_then() {
    // Bi-temporal: entry k (1-based) is recorded at 2026-04-01 09:00:00 + k seconds; its value
    // date is its own. Known at the fourth entry's time, about 2025-12-31 and without a value
    // date, the books are the fold of the first four entries (filtered by value date).
    let mut db = TestDb::new().await;
    let project = Uuid::new_v4();
    for command in full_path(project) {
        db.ledger([command]).await;
    }
    let app = db.app();
    let recorded = |k: usize| db.ledger.events[k - 1].time;
    let known = |k: usize, as_of: Option<NaiveDate>| {
        db.ledger.events[..k]
            .iter()
            .filter(|e| as_of.is_none_or(|date| e.event.value_date() <= date))
            .fold(Fund::default(), |fund, e| fund.apply(&e.event))
    };
    for k in [1, 4, 6, 8] {
        let at = recorded(k).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let at = at.replace('+', "%2B");
        let (status, then) = get_json(&app, &format!("/v1/funds/{FUND}?known_at={at}")).await;
        assert_eq!(status, StatusCode::OK, "{then}");
        assert_eq!(
            figures_of(&then),
            figures(&known(k, None)),
            "known at entry {k}"
        );
        assert_eq!(then["entries"], k, "{then}");
        assert_eq!(then["known_at"], json!(recorded(k)), "{then}");
        let (_, both) = get_json(
            &app,
            &format!("/v1/funds/{FUND}?as_of=2025-06-30&known_at={at}"),
        )
        .await;
        assert_eq!(
            figures_of(&both),
            figures(&known(k, Some(day(2025, 6, 30)))),
            "known at entry {k} about 2025-06-30"
        );
    }
    let (status, bad) = get_json(&app, &format!("/v1/funds/{FUND}?known_at=2026-06-30")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    db.drop_database().await;
}

#[tokio::test]
async fn a_bad_date_fund_id_or_format_is_a_400_and_an_unknown_fund_a_404() {
    let mut db = TestDb::new().await;
    db.ledger([allocate(1_000, 100)]).await;
    let app = db.app();

    for (uri, code) in [
        (
            format!("/v1/funds/{FUND}?as_of=2025-13-01"),
            "invalid_query",
        ),
        (format!("/v1/funds/{FUND}?as_of=yesterday"), "invalid_query"),
        (format!("/v1/funds/{FUND}?when=2025-01-01"), "invalid_query"),
        (
            format!("/v1/funds/{FUND}/entries?format=xml"),
            "invalid_query",
        ),
        (format!("/v1/funds/{FUND}/entries?limit=0"), "invalid_query"),
        ("/v1/funds/not%20a%20fund".to_owned(), "invalid_id"),
        ("/v1/funds/NON-2021-2027/entries".to_owned(), "invalid_id"),
    ] {
        let (status, body) = get_json(&app, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"]["code"], code, "{uri}");
    }
    for uri in ["/v1/funds/son-2021-2027", "/v1/funds/son-2021-2027/entries"] {
        let (status, body) = get_json(&app, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    db.drop_database().await;
}

#[tokio::test]
async fn the_journal_is_paginated_with_postings_and_hashes_and_exports_one_csv_line_per_posting() {
    let mut db = TestDb::new().await;
    db.ledger(full_path(Uuid::new_v4())).await;
    let app = db.app();

    let mut entries = Vec::new();
    let mut uri = format!("/v1/funds/{FUND}/entries?limit=3");
    loop {
        let (status, page) = get_json(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        entries.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/funds/{FUND}/entries?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let (status, content_type, next, csv) =
        get(&app, &format!("/v1/funds/{FUND}/entries?format=csv")).await;
    let (_, _, cut_next, cut) = get(
        &app,
        &format!("/v1/funds/{FUND}/entries?format=csv&limit=2"),
    )
    .await;

    assert_eq!(entries.len(), db.ledger.events.len());
    for (entry, stored) in entries.iter().zip(&db.ledger.events) {
        assert_eq!(entry["hash"], json!(stored.hash));
        assert_eq!(entry["prevhash"], json!(stored.prevhash));
        assert_eq!(entry["type"], stored.event.event_type());
        let postings = entry["postings"].as_array().expect("postings");
        assert_eq!(postings.len(), stored.event.postings().len());
        assert_eq!(
            entry["data"]["postings"].as_array().expect("data").len(),
            postings.len()
        );
    }
    assert_eq!(entries[0]["prevhash"], GENESIS_HASH);
    assert_eq!(entries[1]["postings"][0]["debit"]["kind"], "reserved");
    assert!(entries[1]["postings"][0]["amount_cents"].is_i64());

    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/csv; charset=utf-8");
    assert_eq!(next, None);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "sequence,event_id,event_type,value_date,proposal_id,source,debit,credit,amount_cents,prevhash,hash"
    );
    assert_eq!(lines.len(), 1 + db.ledger.postings());
    assert!(lines[1..].iter().all(|l| l.split(',').count() == 11));
    let sum: i64 = lines[1..]
        .iter()
        .filter(|l| l.contains(",available,budget,"))
        .map(|l| {
            l.split(',')
                .nth(8)
                .expect("amount")
                .parse::<i64>()
                .expect("int")
        })
        .sum();
    assert_eq!(
        sum,
        200_571_429 + 33_428_571,
        "the allocation's two postings"
    );
    let first_two: usize = db.ledger.events[..2]
        .iter()
        .map(|e| e.event.postings().len())
        .sum();
    assert_eq!(cut.lines().count(), 1 + first_two);
    assert_eq!(cut_next.as_deref(), Some("2"));
    db.drop_database().await;
}

#[tokio::test]
async fn after_a_positive_statement_the_ledger_decides_the_status_and_the_money_is_shown() {
    let mut db = TestDb::new().await;
    let [waitlisted, reserved, granted, closed, refused, withdrawn] =
        [(); 6].map(|()| Uuid::new_v4());
    let all = [waitlisted, reserved, granted, closed, refused, withdrawn];
    db.proposal(all.iter().flat_map(|id| [submitted(*id), screened(*id)]))
        .await;
    db.review(all.iter().flat_map(|id| [opened(*id), positive(*id)]))
        .await;
    db.ledger([
        allocate(10_000_000, 2_000_000),
        reserve(reserved, 3_000_000, 500_000, day(2025, 2, 1)),
        reserve(granted, 3_000_000, 500_000, day(2025, 2, 1)),
        reserve(closed, 3_000_000, 500_000, day(2025, 2, 1)),
        reserve(refused, 500_000, 100_000, day(2025, 2, 1)),
        reserve(withdrawn, 400_000, 100_000, day(2025, 2, 1)),
        reserve(waitlisted, 8_000_000, 1_000_000, day(2025, 2, 2)),
    ])
    .await;
    let app = db.app();
    let (_, before_grant) = get_json(&app, &format!("/v1/proposals/{granted}")).await;

    db.review([
        grant(granted, 3_000_000, 500_000),
        grant(closed, 3_000_000, 500_000),
        refusal(refused),
    ])
    .await;
    db.proposal([ProposalEvent::Withdrawn(Withdrawn {
        proposal_id: withdrawn,
        reason: "funded elsewhere".into(),
    })])
    .await;
    db.ledger([
        commit(granted, 3_000_000, 500_000, day(2025, 3, 1)),
        commit(closed, 3_000_000, 500_000, day(2025, 3, 1)),
        disburse(closed, "NB-1", 1_000_000, 200_000, day(2025, 4, 1)),
        close(closed, day(2025, 5, 1)),
        release(refused, ReleaseReason::Refused, day(2025, 5, 2)),
        release(withdrawn, ReleaseReason::Withdrawn, day(2025, 5, 2)),
    ])
    .await;

    let mut statuses = Vec::new();
    for id in all {
        let (status, body) = get_json(&app, &format!("/v1/proposals/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        statuses.push(body["status"].as_str().expect("status").to_owned());
    }
    let (_, granted_body) = get_json(&app, &format!("/v1/proposals/{granted}")).await;
    let (_, closed_body) = get_json(&app, &format!("/v1/proposals/{closed}")).await;
    let (_, waiting_body) = get_json(&app, &format!("/v1/proposals/{waitlisted}")).await;
    let (_, funds_reserved) = get_json(&app, "/v1/proposals?status=funds_reserved").await;

    assert_eq!(before_grant["status"], "funds_reserved");
    assert_eq!(
        statuses,
        [
            "waitlisted",
            "funds_reserved",
            "granted",
            "closed",
            "refused",
            "withdrawn"
        ]
    );
    let money = &granted_body["money"];
    assert_eq!(money["fund_id"], FUND);
    assert_eq!(money["status"], "committed");
    let expected = db.ledger.fund.project_money(granted).expect("known");
    assert_eq!(money["esf_plus"], json!(expected.esf_plus));
    assert_eq!(money["land"], json!(expected.land));
    assert_eq!(money["total"], json!(expected.total));
    assert_eq!(money["esf_plus"]["committed"], 3_000_000);
    let closed_money = db.ledger.fund.project_money(closed).expect("known");
    assert_eq!(
        closed_body["money"]["esf_plus"],
        json!(closed_money.esf_plus)
    );
    assert_eq!(closed_body["money"]["total"]["disbursed"], 1_200_000);
    assert_eq!(closed_body["money"]["total"]["unpaid"], 0);
    assert_eq!(waiting_body["money"]["status"], "waitlisted");
    assert_eq!(
        waiting_body["money"]["requested"],
        json!({"esf_cents": 8_000_000, "land_cents": 1_000_000})
    );
    assert_eq!(waiting_body["money"]["total"]["reserved"], 0);
    let ledger_events = closed_body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["stream"] == "LEDGER")
        .count();
    assert_eq!(ledger_events, 4, "reserved, committed, disbursed, released");
    let listed: Vec<&str> = funds_reserved["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["proposal_id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, [reserved.to_string()]);
    let (_, fund) = get_json(&app, &format!("/v1/funds/{FUND}")).await;
    assert_eq!(figures_of(&fund), figures(&db.ledger.fund));
    db.drop_database().await;
}

/// Every documented `GET`: the templates a request below is described by.
struct Requests<'a> {
    app: Router,
    document: &'a openapi_check::Document,
    covered: BTreeSet<String>,
    mismatches: Vec<String>,
}

impl Requests<'_> {
    /// GETs `uri`; checks its status is documented for `template`, its content type is one the
    /// document lists, and a JSON body fits the schema field by field.
    async fn check(&mut self, template: &str, uri: &str) -> Value {
        let (status, content_type, _, body) = get(&self.app, uri).await;
        self.covered.insert(template.to_owned());
        let Some(response) = self.document.response(template, status.as_u16()) else {
            self.mismatches.push(format!(
                "{uri}: status {status} is not documented for {template}"
            ));
            return Value::Null;
        };
        // Media types are compared without their parameters (`; charset=utf-8`).
        let essence = |media: &str| {
            media
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let documented = response["content"].as_object().and_then(|content| {
            content
                .iter()
                .find(|(media, _)| essence(media) == essence(&content_type))
        });
        let Some((_, schema)) = documented else {
            self.mismatches.push(format!(
                "{uri}: content type {content_type:?} is not documented for {status}"
            ));
            return Value::Null;
        };
        if essence(&content_type) != "application/json" {
            return Value::Null;
        }
        let body: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: {e}: {body}"));
        for mismatch in self.document.check(&schema["schema"], &body) {
            self.mismatches
                .push(format!("{uri} ({status}): {mismatch}"));
        }
        body
    }
}

fn vote(proposal_id: Uuid, partner_id: &str, comment: Option<&str>) -> ReviewEvent {
    ReviewEvent::VoteRecorded(VoteRecorded {
        proposal_id,
        partner_id: partner_id.into(),
        vote: VoteChoice::Yes,
        comment: comment.map(str::to_owned),
    })
}

fn registered() -> AllianceEvent {
    AllianceEvent::Registered(Registered {
        alliance_id: "non".into(),
        name: "Fachkräftebündnis Nordost-Niedersachsen".into(),
        region: RegionCategory::Transition,
        districts: vec!["Harburg".into()],
        focus_areas: vec!["good_work".into()],
        partners: ["lk-harburg", "dgb"]
            .map(|id| Partner {
                id: id.into(),
                name: format!("Partner {id}"),
            })
            .to_vec(),
        quorum: QuorumRule::default(),
        rules_version: "esf-plus-2021-2027.1".into(),
        application_deadline: day(2027, 6, 30),
    })
}

fn dead_letter() -> Stored {
    let letter = DeadLetter {
        id: DeadLetter::id_for("INTAKE", 3),
        source: "intake".into(),
        subject: "t.intake.non".into(),
        stream_sequence: 3,
        event_id: Some("evt-1".into()),
        event_type: Some("buendel.proposal.submitted.v1".into()),
        code: "invalid_input".into(),
        reasons: vec![FieldError {
            field: "data.eligible_cost_cents".into(),
            reason: "must be an integer".into(),
        }],
        original_base64: DeadLetter::encode(b"{}"),
        rejected_at: Utc
            .with_ymd_and_hms(2026, 4, 2, 9, 0, 0)
            .single()
            .expect("time"),
    };
    Stored {
        sequence: 1,
        subject: "t.deadletter.intake".into(),
        payload: serde_json::to_vec(&letter).expect("json").into(),
        trace: None,
    }
}

#[tokio::test]
async fn every_documented_response_body_fits_its_openapi_schema_field_by_field() {
    let mut db = TestDb::new().await;
    let [granted, refused, withdrawn, fresh] = [(); 4].map(|()| Uuid::new_v4());
    db.alliance([registered()]).await;
    db.proposal([granted, refused, withdrawn, fresh].map(submitted))
        .await;
    db.proposal([granted, refused, withdrawn].map(screened))
        .await;
    db.proposal([ProposalEvent::Screened(Screened {
        proposal_id: granted,
        passed: true,
        rules_version: "esf-plus-2021-2027.1".into(),
        results: vec![RuleResult {
            rule: "duration".into(),
            passed: false,
            severity: Severity::Warning,
            message: "40 months is above the normal 36".into(),
        }],
        subject: None,
    })])
    .await;
    db.review([
        opened(granted),
        ReviewEvent::ConflictDeclared(ConflictDeclared {
            proposal_id: granted,
            partner_id: "dgb".into(),
            reason: "board member of the applicant".into(),
        }),
        vote(granted, "lk-harburg", Some("gut begründet")),
        positive(granted),
        opened(refused),
        vote(refused, "dgb", None),
        positive(refused),
        opened(withdrawn),
    ])
    .await;
    db.ledger(full_path(granted)).await;
    db.ledger([reserve(refused, 500_000, 100_000, day(2026, 4, 2))])
        .await;
    db.review([grant(granted, 17_000_000, 3_000_000), refusal(refused)])
        .await;
    db.ledger([release(refused, ReleaseReason::Refused, day(2026, 4, 3))])
        .await;
    let (paid_claim, open_claim) = (Uuid::new_v4(), Uuid::new_v4());
    db.ledger(claims(fresh, paid_claim, open_claim)).await;
    db.proposal([ProposalEvent::Withdrawn(Withdrawn {
        proposal_id: withdrawn,
        reason: "funded elsewhere".into(),
    })])
    .await;
    db.review([ReviewEvent::Closed(Closed {
        fund: None,
        proposal_id: withdrawn,
        reason: "funded elsewhere".into(),
    })])
    .await;
    apply_batch(&db.pool, &DeadLettersProjection, &[dead_letter()])
        .await
        .expect("DEADLETTER projected");
    sqlx::query(
        "INSERT INTO projection_quarantine (stream, sequence, subject, aggregate_id, event_id, \
             event_type, error) VALUES ('PROPOSALS', 99, $1, $2, NULL, NULL, 'not JSON')",
    )
    .bind(format!("t.proposal.{fresh}"))
    .bind(fresh.to_string())
    .execute(&db.pool)
    .await
    .expect("quarantine a message");
    let document = openapi_check::Document::parse(OPENAPI_JSON);
    let mut requests = Requests {
        app: db.app(),
        document: &document,
        covered: BTreeSet::new(),
        mismatches: Vec::new(),
    };

    let page = requests.check("/v1/proposals", "/v1/proposals").await;
    for id in [granted, refused, withdrawn, fresh] {
        requests
            .check("/v1/proposals/{id}", &format!("/v1/proposals/{id}"))
            .await;
    }
    requests
        .check("/v1/proposals/{id}", "/v1/proposals/nope")
        .await;
    let unknown = format!("/v1/proposals/{}", Uuid::new_v4());
    requests.check("/v1/proposals/{id}", &unknown).await;
    requests
        .check("/v1/proposals", "/v1/proposals?limit=0")
        .await;
    requests.check("/v1/alliances", "/v1/alliances").await;
    requests
        .check("/v1/alliances/{id}", "/v1/alliances/non")
        .await;
    requests
        .check("/v1/alliances/{id}", "/v1/alliances/nope")
        .await;
    requests.check("/v1/funds", "/v1/funds").await;
    let fund = format!("/v1/funds/{FUND}");
    requests.check("/v1/funds/{id}", &fund).await;
    let as_of = format!("{fund}?as_of=2025-06-30");
    requests.check("/v1/funds/{id}", &as_of).await;
    requests
        .check("/v1/funds/{id}", "/v1/funds/x?as_of=2025")
        .await;
    let entries = format!("{fund}/entries?limit=3");
    let journal = requests.check("/v1/funds/{id}/entries", &entries).await;
    let csv = format!("{fund}/entries?format=csv");
    requests.check("/v1/funds/{id}/entries", &csv).await;
    let xlsx = format!("{fund}/entries?format=xlsx&lang=de&limit=2");
    requests.check("/v1/funds/{id}/entries", &xlsx).await;
    for export in [
        "/v1/proposals?format=xlsx",
        "/v1/proposals?format=csv&lang=de&limit=1",
        "/v1/proposals?format=pdf",
    ] {
        requests.check("/v1/proposals", export).await;
    }
    for export in [
        "/v1/claims?format=csv&as_of=2026-07-01",
        "/v1/claims?format=xlsx&lang=de&as_of=2026-07-01",
        "/v1/claims?format=csv&lang=fr",
    ] {
        requests.check("/v1/claims", export).await;
    }
    requests.check("/v1/deadletters", "/v1/deadletters").await;
    requests.check("/v1/quarantine", "/v1/quarantine").await;
    let listed = requests
        .check("/v1/claims", "/v1/claims?as_of=2026-07-01")
        .await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    let due = format!("/v1/claims?proposal_id={fresh}&due_within_days=5&as_of=2026-07-20");
    let due = requests.check("/v1/claims", &due).await;
    assert_eq!(due["items"][0]["claim_id"], open_claim.to_string(), "{due}");
    assert_eq!(due["items"][0]["clock"]["days_left"], 3, "{due}");
    requests
        .check("/v1/claims", "/v1/claims?overdue=true&status=lost")
        .await;
    requests
        .check("/v1/claims/{id}", &format!("/v1/claims/{paid_claim}"))
        .await;
    for report in [
        "/v1/report?year=2026&format=json",
        "/v1/report?year=2025&format=json&alliance=non&lang=de",
        "/v1/report?year=2026&lang=de",
        "/v1/report?year=twenty",
    ] {
        requests.check("/v1/report", report).await;
    }
    requests
        .check("/v1/claims/{id}", &format!("/v1/claims/{}", Uuid::new_v4()))
        .await;
    requests.check("/v1/claims/{id}", "/v1/claims/x").await;
    let recovery = format!("/v1/proposals/{granted}/recovery?as_of=2026-04-30");
    let owed = requests
        .check("/v1/proposals/{id}/recovery", &recovery)
        .await;
    // 3,500.00 assessed on 2026-03-01 (3,000.00 + 500.00), 2,500.00 repaid on 2026-04-01; the
    // interest at 1.27 % + 5 = 6.27 %: ESF+ 300000·627·31 + 100000·627·30 = 7,712,100,000 →
    // 2,112.90 → 2,113 cents; Land 50000·627·31 = 971,850,000 → 266.26 → 266 cents.
    assert_eq!(owed["principal"]["owed"]["total_cents"], 100_000, "{owed}");
    assert_eq!(owed["interest"]["accrued"]["esf_cents"], 2_113, "{owed}");
    assert_eq!(owed["interest"]["accrued"]["land_cents"], 266, "{owed}");
    let unknown = format!("/v1/proposals/{granted}/recovery?as_of=2026-12-01");
    let unknown = requests
        .check("/v1/proposals/{id}/recovery", &unknown)
        .await;
    assert!(unknown["interest"]["accrued"].is_null(), "{unknown}");
    requests
        .check(
            "/v1/proposals/{id}/recovery",
            &format!("/v1/proposals/{}/recovery", Uuid::new_v4()),
        )
        .await;
    requests
        .check("/v1/proposals/{id}/recovery", "/v1/proposals/x/recovery")
        .await;
    let retention = requests
        .check("/v1/retention", "/v1/retention?limit=1")
        .await;
    assert_eq!(
        retention["items"][0]["retention_until"], "2030-12-31",
        "{retention}"
    );
    requests
        .check("/v1/retention", "/v1/retention?cursor=x")
        .await;
    // No log service ran: every log answer is a documented error (the 200s are text, checked
    // end to end in tests/e2e/transparency.rs).
    requests
        .check("/v1/logs/{log}/checkpoint", "/v1/logs/ledger/checkpoint")
        .await;
    let unknown_event = format!("/v1/logs/reviews/proof/{}", Uuid::new_v4());
    requests
        .check("/v1/logs/{log}/proof/{event_id}", &unknown_event)
        .await;
    requests
        .check("/v1/logs/{log}/proof/{event_id}", "/v1/logs/ledger/proof/x")
        .await;
    requests
        .check(
            "/v1/logs/{log}/consistency",
            "/v1/logs/ledger/consistency?from=0",
        )
        .await;
    requests
        .check(
            "/v1/logs/{log}/consistency",
            "/v1/logs/ledger/consistency?from=x",
        )
        .await;
    // The dashboard's figures, and the dashboard itself (text, not JSON)
    let history = requests
        .check("/v1/funds/{id}/history", &format!("{fund}/history"))
        .await;
    assert!(
        !history["points"].as_array().is_some_and(Vec::is_empty),
        "{history}"
    );
    requests
        .check("/v1/funds/{id}/history", "/v1/funds/x-1-2/history")
        .await;
    requests
        .check("/v1/funds/{id}/history", "/v1/funds/nope-2021-2027/history")
        .await;
    requests.check("/v1/pipeline", "/v1/pipeline").await;
    requests
        .check("/v1/pipeline", "/v1/pipeline?alliance=non&x=1")
        .await;
    requests
        .check("/v1/decision-times", "/v1/decision-times?alliance=non")
        .await;
    requests
        .check("/v1/decision-times", "/v1/decision-times?month=1")
        .await;
    requests.check("/v1/exceptions", "/v1/exceptions").await;
    requests
        .check("/v1/exceptions", "/v1/exceptions?min_seq=x")
        .await;
    requests.check("/", "/").await;
    requests.check("/ui/app.js", "/ui/app.js").await;
    requests.check("/ui/app.css", "/ui/app.css").await;
    requests.check("/healthz", "/healthz").await;
    requests.check("/readyz", "/readyz").await;
    requests.check("/metrics", "/metrics").await;
    requests.check("/openapi.json", "/openapi.json").await;

    assert_eq!(requests.mismatches, Vec::<String>::new());
    let documented: BTreeSet<String> = document.paths().into_iter().collect();
    assert_eq!(
        requests.covered, documented,
        "every documented path is requested"
    );
    assert_eq!(page["items"].as_array().map(Vec::len), Some(4), "{page}");
    assert!(journal["next_cursor"].is_string(), "{journal}");
    db.drop_database().await;
}

#[test]
fn the_statuses_and_account_kinds_the_document_lists_are_the_contracts() {
    let document: Value = serde_json::from_str(OPENAPI_JSON).expect("JSON");
    let schemas = &document["components"]["schemas"];
    let listed = |value: &Value| -> Vec<Value> { value.as_array().cloned().unwrap_or_default() };
    let names = |all: Vec<&str>| -> Vec<Value> { all.into_iter().map(Value::from).collect() };

    assert_eq!(
        listed(&schemas["Proposal"]["properties"]["status"]["examples"]),
        names(CombinedStatus::ALL.iter().map(|s| s.as_str()).collect())
    );
    assert_eq!(
        listed(&schemas["Review"]["properties"]["status"]["examples"]),
        names(ReviewStatus::ALL.iter().map(|s| s.as_str()).collect())
    );
    let mut money = names(ProjectStatus::ALL.iter().map(|s| s.as_str()).collect());
    money.push(Value::Null);
    assert_eq!(
        listed(&schemas["Money"]["properties"]["status"]["enum"]),
        money
    );
    assert_eq!(
        listed(&schemas["Account"]["properties"]["kind"]["enum"]),
        names(AccountKind::ALL.iter().map(|k| k.as_str()).collect())
    );
}
