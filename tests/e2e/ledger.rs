//! The funding ledger in the whole system: budgets, the saga with approval, tranches, closing,
//! clawbacks, the race for a budget with two ledger instances, and a replay after a lost ack, each
//! checked to the cent in the HTTP API (`/v1/funds/...` and the `money` of `/v1/proposals/{id}`).

use chrono::NaiveDate;
use futures::future::join_all;
use futures::StreamExt as _;
use serde_json::{json, Value};
use uuid::Uuid;

use buendel::system::{Parts, System};
use buendel_contract::commands::{
    AllocateBudget, AssessRecovery, CloseProject, CommandData, IssueStatement, RecordDisbursement,
    RecordRepayment, SubmitClaim,
};
use buendel_contract::namespace::StreamKind;
use buendel_contract::review::{ReviewEvent, Verdict, VoteChoice};
use buendel_contract::Cents;
use buendel_runtime::store::Stored;

use crate::helpers::{eventually, spawn_app, vote, TestApp};
use crate::review::{grant, positive_statement, proposal_in_review, send_json};

/// NON's fund for the funding period.
const FUND: &str = "non-2021-2027";
/// The last day money may be bound.
fn commit_deadline() -> NaiveDate {
    NaiveDate::from_ymd_opt(2027, 12, 31).expect("a date")
}
/// The grant of every proposal in these tests (30,000,000 eligible at 70 %, ESF+ at 60 %).
const GRANT_ESF: i64 = 18_000_000;
/// Its Land part.
const GRANT_LAND: i64 = 3_000_000;
/// Enough yes votes for the quorum of `non` (more than half of its 14 partners).
const QUORUM: [&str; 8] = [
    "lk-harburg",
    "lk-lueneburg",
    "lk-uelzen",
    "lk-luechow-dannenberg",
    "lk-celle",
    "lk-heidekreis",
    "ihklw",
    "hwk-bls",
];
/// How many proposals work at once while getting many into review.
const AT_ONCE: usize = 10;

/// Sends a typed command that must be accepted.
pub(crate) async fn ledger_ok<T: CommandData>(app: &TestApp, command: &T) {
    let reply = send_json(app, command).await;
    assert_eq!(reply["ok"], true, "{} refused: {reply}", T::NAME);
}

/// The allocation of NON's budget.
pub(crate) fn allocation(esf: i64, land: i64) -> AllocateBudget {
    AllocateBudget {
        fund_id: FUND.into(),
        esf_cents: Cents(esf),
        land_cents: Cents(land),
        commit_deadline: commit_deadline(),
    }
}

/// Allocates NON's budget.
async fn allocate(app: &TestApp, esf: i64, land: i64) {
    ledger_ok(app, &allocation(esf, land)).await;
}

/// A tranche paid to `proposal_id` today.
fn tranche(proposal_id: Uuid, reference: &str, esf: i64, land: i64) -> RecordDisbursement {
    RecordDisbursement {
        fund_id: FUND.into(),
        proposal_id,
        payment_reference: reference.into(),
        esf_cents: Cents(esf),
        land_cents: Cents(land),
        value_date: today(),
    }
}

/// A recovery assessed on `proposal_id`.
fn recovery(proposal_id: Uuid, esf: i64, land: i64, reason: &str) -> AssessRecovery {
    AssessRecovery {
        fund_id: FUND.into(),
        proposal_id,
        esf_cents: Cents(esf),
        land_cents: Cents(land),
        reason: reason.into(),
    }
}

/// Today, as the ledger's business date.
fn today() -> NaiveDate {
    buendel_testing::test_date()
}

/// The fund's figures of one source (or the total), as the API shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Figures {
    allocated: i64,
    available: i64,
    reserved: i64,
    committed: i64,
    disbursed: i64,
    recovered: i64,
    repaid: i64,
}

impl Figures {
    /// A fresh allocation of `allocated`.
    fn allocated(allocated: i64) -> Self {
        Self {
            allocated,
            available: allocated,
            ..Self::default()
        }
    }

    /// Reads the figures of a `SourceBalances` object and checks the derived ones.
    fn of(balances: &Value) -> Self {
        let cents = |name: &str| {
            balances[name]
                .as_i64()
                .unwrap_or_else(|| panic!("{name} is integer cents in {balances}"))
        };
        let figures = Self {
            allocated: cents("allocated"),
            available: cents("available"),
            reserved: cents("reserved"),
            committed: cents("committed"),
            disbursed: cents("disbursed"),
            recovered: cents("recovered"),
            repaid: cents("repaid"),
        };
        assert_eq!(
            cents("unpaid"),
            figures.committed - figures.disbursed,
            "{balances}"
        );
        assert_eq!(
            cents("receivable"),
            figures.recovered - figures.repaid,
            "{balances}"
        );
        assert_eq!(cents("expired"), 0, "{balances}");
        assert_eq!(
            figures.allocated,
            figures.available + figures.reserved + figures.committed,
            "the whole is the sum of its parts: {balances}"
        );
        figures
    }

    /// Figure by figure sum.
    fn plus(self, other: Self) -> Self {
        Self {
            allocated: self.allocated + other.allocated,
            available: self.available + other.available,
            reserved: self.reserved + other.reserved,
            committed: self.committed + other.committed,
            disbursed: self.disbursed + other.disbursed,
            recovered: self.recovered + other.recovered,
            repaid: self.repaid + other.repaid,
        }
    }
}

/// A project's figures of one source, as `money` in `GET /v1/proposals/{id}` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Project {
    reserved: i64,
    committed: i64,
    disbursed: i64,
    recovered: i64,
    repaid: i64,
}

impl Project {
    /// Reads a `ProjectBalances` object and checks the derived figures.
    fn of(balances: &Value) -> Self {
        let cents = |name: &str| {
            balances[name]
                .as_i64()
                .unwrap_or_else(|| panic!("{name} is integer cents in {balances}"))
        };
        let project = Self {
            reserved: cents("reserved"),
            committed: cents("committed"),
            disbursed: cents("disbursed"),
            recovered: cents("recovered"),
            repaid: cents("repaid"),
        };
        assert_eq!(
            cents("unpaid"),
            project.committed - project.disbursed,
            "{balances}"
        );
        assert_eq!(
            cents("receivable"),
            project.recovered - project.repaid,
            "{balances}"
        );
        project
    }

    /// Figure by figure sum.
    fn plus(self, other: Self) -> Self {
        Self {
            reserved: self.reserved + other.reserved,
            committed: self.committed + other.committed,
            disbursed: self.disbursed + other.disbursed,
            recovered: self.recovered + other.recovered,
            repaid: self.repaid + other.repaid,
        }
    }
}

/// Waits until the API shows `entries` journal entries of the fund, then checks its figures per
/// source and in total to the cent, and the trial balance. Returns the fund as shown.
async fn assert_fund(app: &TestApp, entries: i64, esf: Figures, land: Figures) -> Value {
    let fund = app
        .get_until(&format!("/v1/funds/{FUND}"), |status, body| {
            status == 200 && body["entries"].as_i64() >= Some(entries)
        })
        .await;
    assert_eq!(
        fund["entries"], entries,
        "no entry more than expected: {fund}"
    );
    assert_eq!(Figures::of(&fund["esf_plus"]), esf, "ESF+: {fund}");
    assert_eq!(Figures::of(&fund["land"]), land, "Land: {fund}");
    assert_eq!(Figures::of(&fund["total"]), esf.plus(land), "total: {fund}");
    assert_eq!(fund["trial_balance_zero"], true, "{fund}");
    assert_eq!(fund["trial_balance_cents"], 0, "{fund}");
    assert_eq!(fund["commit_deadline"], commit_deadline().to_string());
    fund
}

/// Waits until the proposal shows `status` and the money of the fund's last entry (`fund`), then
/// checks the project's money to the cent.
async fn assert_money(
    app: &TestApp,
    proposal_id: Uuid,
    fund: &Value,
    status: &str,
    money_status: &str,
    esf: Project,
    land: Project,
) {
    let last = fund["last_sequence"].as_i64().expect("last_sequence");
    let body = app
        .get_until(&format!("/v1/proposals/{proposal_id}"), |_, body| {
            body["status"] == status && body["money"]["last_sequence"].as_i64() == Some(last)
        })
        .await;
    let money = &body["money"];
    assert_eq!(money["fund_id"], FUND);
    assert_eq!(money["status"], money_status, "{money}");
    assert_eq!(
        money["requested"],
        json!({"esf_cents": GRANT_ESF, "land_cents": GRANT_LAND})
    );
    assert_eq!(Project::of(&money["esf_plus"]), esf, "ESF+: {money}");
    assert_eq!(Project::of(&money["land"]), land, "Land: {money}");
    assert_eq!(
        Project::of(&money["total"]),
        esf.plus(land),
        "total: {money}"
    );
}

#[tokio::test]
async fn the_full_path_from_intake_to_granted_two_tranches_closing_under_budget_and_a_clawback_is_right_to_the_cent(
) {
    let app = spawn_app().await;
    let (esf_allocated, land_allocated) = (200_571_429, 33_428_571);
    let mut esf = Figures::allocated(esf_allocated);
    let mut land = Figures::allocated(land_allocated);

    // The budget.
    allocate(&app, esf_allocated, land_allocated).await;
    assert_fund(&app, 1, esf, land).await;
    let (_, funds) = app.get("/v1/funds").await;
    let listed = funds["items"].as_array().expect("a page of funds");
    assert_eq!(listed.len(), 1, "{funds}");
    assert_eq!(listed[0]["fund_id"], FUND);
    assert_eq!(listed[0]["alliance_id"], "non");
    assert_eq!(Figures::of(&listed[0]["total"]), esf.plus(land));

    // Intake → review → positive statement: the ledger reserves the requested grant.
    let proposal_id = proposal_in_review(&app).await;
    positive_statement(&app, proposal_id).await;
    esf.available -= GRANT_ESF;
    esf.reserved += GRANT_ESF;
    land.available -= GRANT_LAND;
    land.reserved += GRANT_LAND;
    let fund = assert_fund(&app, 2, esf, land).await;
    let mut esf_p = Project {
        reserved: GRANT_ESF,
        ..Project::default()
    };
    let mut land_p = Project {
        reserved: GRANT_LAND,
        ..Project::default()
    };
    assert_money(
        &app,
        proposal_id,
        &fund,
        "funds_reserved",
        "reserved",
        esf_p,
        land_p,
    )
    .await;

    // The bank grants what was reserved: committed.
    let reply = send_json(&app, &grant(proposal_id)).await;
    assert_eq!(reply["ok"], true, "{reply}");
    esf.reserved -= GRANT_ESF;
    esf.committed += GRANT_ESF;
    land.reserved -= GRANT_LAND;
    land.committed += GRANT_LAND;
    let fund = assert_fund(&app, 4, esf, land).await;
    esf_p = Project {
        committed: GRANT_ESF,
        ..Project::default()
    };
    land_p = Project {
        committed: GRANT_LAND,
        ..Project::default()
    };
    assert_money(
        &app,
        proposal_id,
        &fund,
        "granted",
        "committed",
        esf_p,
        land_p,
    )
    .await;

    // A project granted with its terms is paid only through claims (four eyes).
    let direct = send_json(&app, &tranche(proposal_id, "NB-AUSZ-0000", 100, 0)).await;
    assert_eq!(direct["error"]["code"], "claim_required", "{direct}");

    // Two tranches, each a claim submitted, verified and approved (three entries). The ledger
    // refuses value dates in the future and before the last one booked, and the allocation was
    // booked today: both are paid today.
    let tranches = [
        ("NB-AUSZ-0001", 5_000_000, 833_334),
        ("NB-AUSZ-0002", 4_000_000, 666_666),
    ];
    for (n, (reference, esf_paid, land_paid)) in tranches.into_iter().enumerate() {
        let from = 30 + 40 * n as u64;
        crate::claims::paid_by_claim(
            &app,
            proposal_id,
            (from, from + 39),
            reference,
            (esf_paid, land_paid),
        )
        .await;
        esf.disbursed += esf_paid;
        land.disbursed += land_paid;
        esf_p.disbursed += esf_paid;
        land_p.disbursed += land_paid;
        let fund = assert_fund(&app, 7 + 3 * n as i64, esf, land).await;
        assert_money(
            &app,
            proposal_id,
            &fund,
            "granted",
            "committed",
            esf_p,
            land_p,
        )
        .await;
    }
    assert_eq!((esf.disbursed, land.disbursed), (9_000_000, 1_500_000));

    // Closed under budget before the deadline: the unpaid rest is available again.
    let above = SubmitClaim {
        fund_id: FUND.into(),
        proposal_id,
        claim_id: Uuid::new_v4(),
        period_from: today() + chrono::Days::new(110),
        period_to: today() + chrono::Days::new(149),
        declared_eligible_cents: Cents(20_000_000),
        esf_cents: Cents(9_000_001),
        land_cents: Cents(0),
        receipts_reference: "BL-3".into(),
    };
    let refused = serde_json::to_value(app.send_by("traeger", &above).await).expect("json");
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(
        refused["error"]["code"], "claim_above_committed_remainder",
        "{refused}"
    );
    let close = CloseProject {
        fund_id: FUND.into(),
        proposal_id,
    };
    ledger_ok(&app, &close).await;
    let (esf_rest, land_rest) = (GRANT_ESF - 9_000_000, GRANT_LAND - 1_500_000);
    esf.committed -= esf_rest;
    esf.available += esf_rest;
    land.committed -= land_rest;
    land.available += land_rest;
    assert_eq!(esf.available, esf_allocated - 9_000_000);
    assert_eq!(land.available, land_allocated - 1_500_000);
    let fund = assert_fund(&app, 11, esf, land).await;
    esf_p.committed = 9_000_000;
    land_p.committed = 1_500_000;
    assert_money(&app, proposal_id, &fund, "closed", "closed", esf_p, land_p).await;

    // A clawback: a recovery assessed (at most what was paid) and repaid.
    let (esf_back, land_back) = (1_000_000, 166_667);
    let too_much = recovery(proposal_id, 9_000_001, 0, "more than was paid");
    let too_much = send_json(&app, &too_much).await;
    assert_eq!(too_much["ok"], false, "{too_much}");
    let assessed = recovery(
        proposal_id,
        esf_back,
        land_back,
        "ineligible costs in the final report",
    );
    ledger_ok(&app, &assessed).await;
    esf.recovered += esf_back;
    land.recovered += land_back;
    esf_p.recovered += esf_back;
    land_p.recovered += land_back;
    let fund = assert_fund(&app, 12, esf, land).await;
    assert_money(&app, proposal_id, &fund, "closed", "closed", esf_p, land_p).await;

    let repayment = RecordRepayment {
        fund_id: FUND.into(),
        proposal_id,
        esf_cents: Cents(esf_back),
        land_cents: Cents(land_back),
        value_date: today(),
    };
    ledger_ok(&app, &repayment).await;
    esf.repaid += esf_back;
    land.repaid += land_back;
    esf_p.repaid += esf_back;
    land_p.repaid += land_back;
    let fund = assert_fund(&app, 13, esf, land).await;
    assert_money(&app, proposal_id, &fund, "closed", "closed", esf_p, land_p).await;
    assert_eq!(
        esf,
        Figures {
            allocated: 200_571_429,
            available: 191_571_429,
            reserved: 0,
            committed: 9_000_000,
            disbursed: 9_000_000,
            recovered: 1_000_000,
            repaid: 1_000_000,
        }
    );

    // As of today the figures are the current ones; at the end of yesterday nothing was booked.
    let (status, now) = app
        .get(&format!("/v1/funds/{FUND}?as_of={}", today()))
        .await;
    assert_eq!(status, 200, "{now}");
    assert_eq!(Figures::of(&now["total"]), esf.plus(land), "{now}");
    assert_eq!(now["trial_balance_zero"], true);
    let yesterday = buendel_testing::test_date() - chrono::Days::new(1);
    let (status, before) = app
        .get(&format!("/v1/funds/{FUND}?as_of={yesterday}"))
        .await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["entries"], 0, "{before}");
    assert_eq!(Figures::of(&before["total"]), Figures::default());

    // The journal: thirteen entries (the grant's terms recorded with its commitment, each tranche
    // a claim submitted, verified and approved), hash-chained, every one balanced per source.
    let (status, page) = app.get(&format!("/v1/funds/{FUND}/entries")).await;
    assert_eq!(status, 200, "{page}");
    let entries = page["items"].as_array().expect("entries");
    let types: Vec<&str> = entries
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "buendel.ledger.budget_allocated.v1",
            "buendel.ledger.funds_reserved.v1",
            "buendel.ledger.funds_committed.v1",
            "buendel.ledger.grant_terms_recorded.v1",
            "buendel.ledger.claim_submitted.v1",
            "buendel.ledger.claim_verified.v1",
            "buendel.ledger.claim_approved.v1",
            "buendel.ledger.claim_submitted.v1",
            "buendel.ledger.claim_verified.v1",
            "buendel.ledger.claim_approved.v1",
            "buendel.ledger.commitment_released.v1",
            "buendel.ledger.recovery_assessed.v1",
            "buendel.ledger.repayment_received.v1",
        ]
    );
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prevhash"], pair[0]["hash"], "the chain is whole");
    }
    let paid_out: i64 = entries
        .iter()
        .flat_map(|e| e["postings"].as_array().expect("postings"))
        .filter(|p| p["debit"]["kind"] == "disbursed" && p["credit"]["kind"] == "committed")
        .map(|p| p["amount_cents"].as_i64().expect("cents"))
        .sum();
    assert_eq!(paid_out, 10_500_000);
    app.cleanup().await;
}

/// Starts one more ledger instance on the app's namespace (its own connection and shutdown).
async fn another_ledger(app: &TestApp) -> System {
    System::start(
        &app.settings,
        Parts {
            ledger: true,
            ..Parts::none()
        },
    )
    .await
    .expect("a second ledger starts")
}

/// Stops a system started beside the app's and closes its pool.
async fn stop(system: System) {
    let pool = system.pool.clone();
    system.stop().await.expect("stops cleanly");
    pool.close().await;
}

/// Puts `count` proposals of `non` into review, [`AT_ONCE`] at a time, and gives each the votes
/// of the quorum.
async fn proposals_with_quorum(app: &TestApp, count: usize) -> Vec<Uuid> {
    futures::stream::iter(0..count)
        .map(|_| async {
            let proposal_id = proposal_in_review(app).await;
            for partner in QUORUM {
                let reply = send_json(app, &vote(proposal_id, partner, VoteChoice::Yes)).await;
                assert_eq!(reply["ok"], true, "{reply}");
            }
            proposal_id
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await
}

/// The proposals of `non` the API lists with `status`.
async fn listed_with(app: &TestApp, status: &str) -> Vec<Uuid> {
    let (code, page) = app
        .get(&format!(
            "/v1/proposals?alliance=non&status={status}&limit=500"
        ))
        .await;
    assert_eq!(code, 200, "{page}");
    assert!(page["next_cursor"].is_null(), "one page: {page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| {
            p["proposal_id"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok())
                .expect("a proposal id")
        })
        .collect()
}

#[tokio::test]
async fn fifty_concurrent_proposals_racing_for_a_budget_that_covers_ten_reserve_exactly_ten_and_waitlist_forty_with_two_ledger_instances(
) {
    let app = spawn_app().await;
    let second = another_ledger(&app).await;
    allocate(&app, 10 * GRANT_ESF, 10 * GRANT_LAND).await;

    let mut proposals = proposals_with_quorum(&app, 50).await;
    let statements: Vec<IssueStatement> = proposals
        .iter()
        .map(|&proposal_id| IssueStatement {
            proposal_id,
            verdict: Verdict::Positive,
            conditions: None,
        })
        .collect();
    for reply in join_all(statements.iter().map(|s| send_json(&app, s))).await {
        assert_eq!(reply["ok"], true, "{reply}");
    }

    // Every statement handled once: the allocation plus 50 reservations or declines.
    let esf = Figures {
        allocated: 10 * GRANT_ESF,
        reserved: 10 * GRANT_ESF,
        ..Figures::default()
    };
    let land = Figures {
        allocated: 10 * GRANT_LAND,
        reserved: 10 * GRANT_LAND,
        ..Figures::default()
    };
    assert_fund(&app, 51, esf, land).await;
    eventually("10 funds_reserved and 40 waitlisted in the API", || async {
        let reserved = listed_with(&app, "funds_reserved").await;
        let waitlisted = listed_with(&app, "waitlisted").await;
        (reserved.len() + waitlisted.len() == 50).then_some(())
    })
    .await;
    let mut reserved = listed_with(&app, "funds_reserved").await;
    let waitlisted = listed_with(&app, "waitlisted").await;
    assert_eq!(reserved.len(), 10);
    assert_eq!(waitlisted.len(), 40);
    reserved.extend(waitlisted);
    reserved.sort();
    proposals.sort();
    assert_eq!(reserved, proposals, "each proposal exactly once");

    // The journal agrees: one entry per statement, ten reservations of exactly one grant each.
    let (status, page) = app
        .get(&format!("/v1/funds/{FUND}/entries?limit=500"))
        .await;
    assert_eq!(status, 200, "{page}");
    let entries = page["items"].as_array().expect("entries");
    let of_type = |t: &str| {
        entries
            .iter()
            .filter(|e| e["type"] == format!("buendel.ledger.{t}.v1"))
            .collect::<Vec<_>>()
    };
    let reservations = of_type("funds_reserved");
    assert_eq!(reservations.len(), 10);
    assert_eq!(of_type("reservation_declined").len(), 40);
    for entry in reservations {
        assert_eq!(
            entry["data"]["reserved"],
            json!({"esf_cents": GRANT_ESF, "land_cents": GRANT_LAND}),
            "{entry}"
        );
    }
    let mut causes: Vec<&str> = entries
        .iter()
        .skip(1)
        .map(|e| e["causationid"].as_str().expect("a cause"))
        .collect();
    causes.sort_unstable();
    causes.dedup();
    assert_eq!(causes.len(), 50, "every statement booked once");

    stop(second).await;
    app.cleanup().await;
}

/// The ledger's durable consumer on REVIEWS.
fn saga_consumer(app: &TestApp) -> String {
    app.settings
        .namespace
        .durable("ledger", StreamKind::Reviews)
}

/// Every stored event of the fund, as stored.
pub(crate) async fn fund_events(app: &TestApp) -> Vec<(u64, bytes::Bytes)> {
    let subject = app.settings.namespace.subject(StreamKind::Ledger, FUND);
    app.store
        .load(StreamKind::Ledger, &subject)
        .await
        .expect("the fund loads")
        .into_iter()
        .map(
            |Stored {
                 sequence, payload, ..
             }| (sequence, payload),
        )
        .collect()
}

#[tokio::test]
async fn a_ledger_instance_killed_between_appending_and_acking_books_nothing_twice() {
    let mut app = spawn_app().await;
    allocate(&app, 2 * GRANT_ESF, 2 * GRANT_LAND).await;
    let granted = proposal_in_review(&app).await;
    positive_statement(&app, granted).await;
    let reply = send_json(&app, &grant(granted)).await;
    assert_eq!(reply["ok"], true, "{reply}");
    let reserved = proposal_in_review(&app).await;
    positive_statement(&app, reserved).await;
    let esf = Figures {
        allocated: 2 * GRANT_ESF,
        reserved: GRANT_ESF,
        committed: GRANT_ESF,
        ..Figures::default()
    };
    let land = Figures {
        allocated: 2 * GRANT_LAND,
        reserved: GRANT_LAND,
        committed: GRANT_LAND,
        ..Figures::default()
    };
    let fund_before = assert_fund(&app, 5, esf, land).await;
    let before = fund_events(&app).await;
    assert_eq!(
        before.len(),
        5,
        "allocation, two reservations, a commitment and its terms"
    );
    let ledger_last = app
        .store
        .stream_last_sequence(StreamKind::Ledger)
        .await
        .expect("LEDGER");

    // The ledger dies after appending; nothing it read from REVIEWS counts as acked.
    app.stop_services().await;
    let reviews = app
        .store
        .stream(StreamKind::Reviews)
        .await
        .expect("REVIEWS");
    reviews
        .delete_consumer(&saga_consumer(&app))
        .await
        .expect("the saga's consumer is deleted");
    let reviews_last = app
        .store
        .stream_last_sequence(StreamKind::Reviews)
        .await
        .expect("REVIEWS");

    // A fresh ledger and the projector re-read REVIEWS from sequence 1.
    let restarted = System::start(
        &app.settings,
        Parts {
            ledger: true,
            projector: true,
            ..Parts::none()
        },
    )
    .await
    .expect("a fresh ledger and projector start");
    eventually("the new ledger has acked all of REVIEWS", || async {
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            reviews.get_consumer(&saga_consumer(&app)).await.ok()?;
        let info = consumer.info().await.ok()?;
        (info.ack_floor.stream_sequence >= reviews_last
            && info.num_pending == 0
            && info.num_ack_pending == 0)
            .then_some(())
    })
    .await;

    assert_eq!(fund_events(&app).await, before, "LEDGER is as it was");
    assert_eq!(
        app.store
            .stream_last_sequence(StreamKind::Ledger)
            .await
            .expect("LEDGER"),
        ledger_last,
        "nothing new in LEDGER"
    );
    let dead_letters = app
        .store
        .load(
            StreamKind::Deadletter,
            &app.settings
                .namespace
                .subject(StreamKind::Deadletter, "ledger"),
        )
        .await
        .expect("dead letters load");
    assert!(dead_letters.is_empty(), "the replay refused nothing");
    let (_, fund_after) = app.get(&format!("/v1/funds/{FUND}")).await;
    for figure in ["entries", "last_hash", "esf_plus", "land", "total"] {
        assert_eq!(fund_after[figure], fund_before[figure], "{figure}");
    }

    // The next bookings are the fund's sixth to eighth entries (a claim paid), and the API
    // follows them to the cent.
    crate::claims::paid_by_claim(&app, granted, (30, 60), "NB-AUSZ-0101", (1_000_000, 0)).await;
    let esf = Figures {
        disbursed: 1_000_000,
        ..esf
    };
    assert_fund(&app, 8, esf, land).await;
    assert_eq!(fund_events(&app).await[..5], before[..]);
    let (_, money) = app.get(&format!("/v1/proposals/{reserved}")).await;
    assert_eq!(money["status"], "funds_reserved", "{money}");
    assert_eq!(
        Project::of(&money["money"]["total"]).reserved,
        GRANT_ESF + GRANT_LAND
    );

    stop(restarted).await;
    app.cleanup().await;
}

/// The `data` of a revision of a proposal submitted with [`crate::helpers::submitted_data`], with
/// new eligible costs.
fn revision(proposal_id: Uuid, eligible_cost_cents: i64) -> Value {
    let mut data = crate::helpers::submitted_data(proposal_id);
    let map = data.as_object_mut().expect("an object");
    map.remove("alliance_id");
    map.remove("applicant");
    map.insert("eligible_cost_cents".into(), json!(eligible_cost_cents));
    map.insert("reason".into(), json!("a smaller first year"));
    data
}

#[tokio::test]
async fn a_revision_before_the_statement_reaches_the_review_and_the_reservation_and_after_it_is_refused(
) {
    let app = spawn_app().await;
    allocate(&app, 100_000_000, 20_000_000).await;
    let proposal_id = proposal_in_review(&app).await;

    // Revised from 300,000.00 to 200,000.00 EUR eligible before the statement.
    let reply = app
        .command(
            "submission",
            "revise",
            json!({"command_id": Uuid::new_v4(), "data": revision(proposal_id, 20_000_000)}),
        )
        .await;
    assert!(reply.is_ok(), "{reply:?}");
    let subject = app
        .store
        .namespace()
        .subject(StreamKind::Reviews, proposal_id);
    let revised = eventually("the review goes on with the revised terms", || async {
        let stored = app.store.load(StreamKind::Reviews, &subject).await.ok()?;
        stored.iter().find_map(|m| {
            match buendel_runtime::repository::decode::<ReviewEvent>(&m.payload)
                .ok()?
                .event
            {
                ReviewEvent::TermsRevised(revised) => Some(revised),
                _ => None,
            }
        })
    })
    .await;
    assert_eq!(revised.eligible_cost_cents.0, 20_000_000);

    // The positive statement reserves 70 % of the revised costs, split 60:10.
    positive_statement(&app, proposal_id).await;
    let body = app
        .get_until(&format!("/v1/proposals/{proposal_id}"), |_, body| {
            body["status"] == "funds_reserved"
        })
        .await;
    let money = &body["money"];
    assert_eq!(
        Project::of(&money["esf_plus"]).reserved,
        12_000_000,
        "{money}"
    );
    assert_eq!(Project::of(&money["land"]).reserved, 2_000_000, "{money}");

    // After the statement the terms stand: once the submission has recorded it on the proposal
    // (from REVIEWS), a revision is refused.
    let proposal_subject = app
        .store
        .namespace()
        .subject(StreamKind::Proposals, proposal_id);
    eventually("the statement recorded on the proposal", || async {
        let stored = app
            .store
            .load(StreamKind::Proposals, &proposal_subject)
            .await
            .ok()?;
        stored
            .iter()
            .any(|m| {
                String::from_utf8_lossy(&m.payload)
                    .contains("\"type\":\"buendel.proposal.review_recorded.v1\"")
            })
            .then_some(())
    })
    .await;
    let reply = app
        .command(
            "submission",
            "revise",
            json!({"command_id": Uuid::new_v4(), "data": revision(proposal_id, 10_000_000)}),
        )
        .await;
    assert_eq!(reply.code(), Some("already_decided"), "{reply:?}");
    app.assert_audit_clean().await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_read_that_asks_for_its_write_sees_it_and_one_that_asks_too_much_is_told_how_far_it_got()
{
    // Given the projector running beside the ledger
    let app = spawn_app().await;
    // When a command is accepted, then its reply names the position of what it appended
    let reply = app.send(&allocation(1_000_000, 200_000)).await;
    let position = reply.position().expect("the reply names its stream");
    assert!(position.starts_with("LEDGER:"), "{position}");
    // And a read at least at that position sees the allocation at once, without polling
    let (status, fund) = app
        .get(&format!("/v1/funds/{FUND}?min_seq={position}"))
        .await;
    assert_eq!(status, 200, "{fund}");
    assert_eq!(fund["esf_plus"]["allocated"], 1_000_000, "{fund}");
    let sequence: u64 = position["LEDGER:".len()..].parse().expect("sequence");
    assert_eq!(fund["last_sequence"], sequence, "{fund}");
    // And the `Consistency` header does the same
    let request = axum::http::Request::get(format!("/v1/funds/{FUND}"))
        .header("Consistency", &position)
        .body(axum::body::Body::empty())
        .expect("request");
    let router = buendel_api::app(buendel_api::AppState::new(app.pool.clone()));
    let response = tower::ServiceExt::oneshot(router, request)
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    // When a read asks for a position the read models have not reached, then it is told so, with
    // the position they have reached
    let (status, body) = app
        .get(&format!("/v1/funds?min_seq=LEDGER:{}", sequence + 1_000))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "not_yet_projected", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("applied sequence {sequence}"))),
        "{body}"
    );
    // And a malformed position is refused, as is a NUL in any parameter (found by schemathesis: it
    // reached Postgres and failed there, 500)
    let (status, body) = app.get("/v1/funds?min_seq=INTAKE:1").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");
    let (status, body) = app.get("/v1/proposals?focus_area=%00").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");
    app.cleanup().await;
}
