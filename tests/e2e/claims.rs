//! Payment claims through the services: a grant's terms recorded with its commitment, a claim
//! submitted, sent back, resubmitted, verified with a cut and approved by a second officer (the
//! verifier refused with its own code), the disbursement to the cent in the API, the 80-day clock
//! as of chosen days, and the auditor's replay clean.

use chrono::{Days, NaiveDate};
use serde_json::Value;
use uuid::Uuid;

use buendel_audit::Options;
use buendel_contract::commands::{
    ApproveClaim, ClaimCut, CommandData, ResubmitClaim, ReturnClaim, SubmitClaim, VerifyClaim,
};
use buendel_contract::Cents;

use crate::helpers::{spawn_app, TestApp};
use crate::ledger::{allocation, ledger_ok};
use crate::review::{grant, positive_statement, proposal_in_review, send_json};

const FUND: &str = "non-2021-2027";

fn today() -> NaiveDate {
    buendel_testing::test_date()
}

fn day(offset: u64) -> NaiveDate {
    today() + Days::new(offset)
}

/// Sends `command` as `actor`; the reply as JSON.
async fn by<T: CommandData>(app: &TestApp, actor: &str, command: &T) -> Value {
    serde_json::to_value(app.send_by(actor, command).await).expect("json")
}

async fn accepted<T: CommandData>(app: &TestApp, actor: &str, command: &T) {
    let reply = by(app, actor, command).await;
    assert_eq!(reply["ok"], true, "{} by {actor} refused: {reply}", T::NAME);
}

async fn refused_with<T: CommandData>(app: &TestApp, actor: &str, command: &T, code: &str) {
    let reply = by(app, actor, command).await;
    assert_eq!(
        reply["ok"],
        false,
        "{} by {actor} accepted: {reply}",
        T::NAME
    );
    assert_eq!(reply["error"]["code"], code, "{reply}");
}

/// A claim for days 30..=120 of the grant period asking 15,000.00 ESF+ and 2,500.00 Land on
/// 25,000.00 declared (70 %, ESF+ 60 %).
fn claim(proposal_id: Uuid, claim_id: Uuid, from: u64, to: u64) -> SubmitClaim {
    SubmitClaim {
        fund_id: FUND.into(),
        proposal_id,
        claim_id,
        period_from: day(from),
        period_to: day(to),
        declared_eligible_cents: Cents(2_500_000),
        esf_cents: Cents(1_500_000),
        land_cents: Cents(250_000),
        receipts_reference: "BL-2027-Q1".into(),
    }
}

/// Pays `esf` + `land` to a granted project through a claim for days `from..=to` of the business
/// calendar (the grant period of `crate::review::grant` starts on day 30): submitted by the
/// project, verified in full by one officer, approved by another, paid today under `reference`.
pub async fn paid_by_claim(
    app: &TestApp,
    proposal_id: Uuid,
    (from, to): (u64, u64),
    reference: &str,
    (esf, land): (i64, i64),
) {
    let claim_id = Uuid::new_v4();
    // Enough expenditure for both parts at the grant's rates (ESF+ 60 %, Land 10 %).
    let declared = ((esf * 10 + 5) / 6).max(land * 10) + 100;
    let submit = SubmitClaim {
        declared_eligible_cents: Cents(declared),
        esf_cents: Cents(esf),
        land_cents: Cents(land),
        receipts_reference: format!("BL-{reference}"),
        ..claim(proposal_id, claim_id, from, to)
    };
    accepted(app, "traeger", &submit).await;
    let verify = VerifyClaim {
        fund_id: FUND.into(),
        proposal_id,
        claim_id,
        cuts: vec![],
    };
    accepted(app, "pruefer", &verify).await;
    let approve = ApproveClaim {
        fund_id: FUND.into(),
        proposal_id,
        claim_id,
        payment_reference: reference.into(),
        value_date: today(),
    };
    accepted(app, "freigabe", &approve).await;
}

/// The claims the API lists for `query`.
async fn listed(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, page) = app.get(&format!("/v1/claims?{query}")).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().expect("items").clone()
}

async fn claim_as_of(app: &TestApp, claim_id: Uuid, as_of: NaiveDate) -> Value {
    app.get_until(&format!("/v1/claims/{claim_id}?as_of={as_of}"), |s, _| {
        s == 200
    })
    .await
}

#[tokio::test]
async fn a_claim_is_verified_by_one_officer_approved_by_another_and_paid_to_the_cent() {
    let app = spawn_app().await;
    ledger_ok(&app, &allocation(200_571_429, 33_428_571)).await;
    let proposal_id = proposal_in_review(&app).await;
    positive_statement(&app, proposal_id).await;
    let reply = send_json(&app, &grant(proposal_id)).await;
    assert_eq!(reply["ok"], true, "{reply}");

    // A claim outside the grant period (which starts on day 30) is refused with its reason.
    let first = Uuid::new_v4();
    refused_with(
        &app,
        "traeger",
        &claim(proposal_id, first, 29, 120),
        "outside_grant_period",
    )
    .await;
    accepted(&app, "traeger", &claim(proposal_id, first, 30, 120)).await;
    let submitted = claim_as_of(&app, first, today()).await;
    assert_eq!(submitted["status"], "submitted", "{submitted}");
    assert_eq!(submitted["clock"]["due_date"], day(80).to_string());
    assert_eq!(submitted["clock"]["days_left"], 80);

    // Sent back: the clock pauses; ten days later it reads ten days paused and the due date moved.
    let back = ReturnClaim {
        fund_id: FUND.into(),
        proposal_id,
        claim_id: first,
        missing: "payslips of the first month".into(),
    };
    accepted(&app, "pruefer", &back).await;
    let paused = app
        .get_until(&format!("/v1/claims/{first}?as_of={}", day(10)), |_, b| {
            b["status"] == "returned"
        })
        .await;
    assert_eq!(paused["clock"]["paused"], true, "{paused}");
    assert_eq!(paused["clock"]["days_paused"], 10);
    assert_eq!(paused["clock"]["due_date"], day(90).to_string());
    let again = ResubmitClaim {
        fund_id: FUND.into(),
        proposal_id,
        claim_id: first,
        receipts_reference: "BL-2027-Q1-b".into(),
    };
    accepted(&app, "traeger", &again).await;

    // Verified with a cut, by another than the submitter.
    let verify = VerifyClaim {
        fund_id: FUND.into(),
        proposal_id,
        claim_id: first,
        cuts: vec![ClaimCut {
            esf_cents: Cents(100_000),
            land_cents: Cents(0),
            reason: "receipt 3 lies outside the period".into(),
        }],
    };
    refused_with(&app, "traeger", &verify, "verifier_is_submitter").await;
    accepted(&app, "pruefer", &verify).await;

    // Four eyes: the verifier may not approve the payment; another officer does.
    let approve = ApproveClaim {
        fund_id: FUND.into(),
        proposal_id,
        claim_id: first,
        payment_reference: "NB-AUSZ-7001".into(),
        value_date: today(),
    };
    refused_with(&app, "pruefer", &approve, "four_eyes_violation").await;
    accepted(&app, "freigabe", &approve).await;

    let paid = app
        .get_until(&format!("/v1/claims/{first}?as_of={}", day(5)), |_, b| {
            b["status"] == "paid"
        })
        .await;
    assert_eq!(paid["accepted"]["esf_cents"], 1_400_000, "{paid}");
    assert_eq!(paid["accepted"]["land_cents"], 250_000);
    assert_eq!(paid["verified_by"], "pruefer");
    assert_eq!(paid["approved_by"], "freigabe");
    assert_eq!(paid["paid_on"], today().to_string());
    assert_eq!(paid["clock"]["overdue"], false);
    let fund = app
        .get_until(&format!("/v1/funds/{FUND}"), |_, b| {
            b["total"]["disbursed"] == 1_650_000
        })
        .await;
    assert_eq!(fund["esf_plus"]["disbursed"], 1_400_000, "{fund}");
    assert_eq!(fund["land"]["disbursed"], 250_000, "{fund}");

    // A second claim may not overlap the first, and stays open: due within ten days on day 75,
    // overdue on day 81, never listed as due on the day it was submitted.
    let second = Uuid::new_v4();
    refused_with(
        &app,
        "traeger",
        &claim(proposal_id, second, 120, 200),
        "claim_period_overlaps",
    )
    .await;
    accepted(&app, "traeger", &claim(proposal_id, second, 121, 200)).await;
    claim_as_of(&app, second, today()).await;
    let ids = |items: Vec<Value>| -> Vec<String> {
        items
            .iter()
            .map(|c| c["claim_id"].as_str().expect("id").to_owned())
            .collect()
    };
    let base = format!("proposal_id={proposal_id}");
    assert_eq!(
        ids(listed(
            &app,
            &format!("{base}&due_within_days=10&as_of={}", day(75))
        )
        .await),
        [second.to_string()]
    );
    assert!(listed(
        &app,
        &format!("{base}&due_within_days=10&as_of={}", today())
    )
    .await
    .is_empty());
    assert_eq!(
        ids(listed(&app, &format!("{base}&overdue=true&as_of={}", day(81))).await),
        [second.to_string()]
    );
    assert_eq!(listed(&app, &base).await.len(), 2);
    let (status, bad) = app.get("/v1/claims?status=lost").await;
    assert_eq!(status, 400, "{bad}");

    // The auditor's replay of the stream (claim rules included) and of the read models is clean.
    let report =
        buendel_audit::verify_online(&app.store, Some(&app.pool), &Options::default(), |_, _| {})
            .await
            .expect("verify");
    assert!(report.ok, "{}", buendel_audit::human(&report));
    app.cleanup().await;
}

/// `principal × rate × days / (10,000 × 365)`, rounded half to even: the § 49a rule written out
/// independently of `buendel_grant` for one period at one rate.
fn interest(principal: i64, rate_bp: i64, days: i64) -> i64 {
    let numerator = i128::from(principal) * i128::from(rate_bp) * i128::from(days);
    let (quotient, rest) = (numerator / 3_650_000, numerator % 3_650_000);
    let up = rest * 2 > 3_650_000 || (rest * 2 == 3_650_000 && quotient % 2 == 1);
    i64::try_from(quotient + i128::from(up)).expect("fits")
}

#[tokio::test]
async fn a_final_report_recovers_what_was_paid_beyond_it_with_interest_and_a_repayment_to_the_cent()
{
    use buendel_contract::commands::{ChargeInterest, CheckFinalReport, RecordInterestPayment};
    let app = spawn_app().await;
    ledger_ok(&app, &allocation(200_571_429, 33_428_571)).await;
    let proposal_id = proposal_in_review(&app).await;
    positive_statement(&app, proposal_id).await;
    let reply = send_json(&app, &grant(proposal_id)).await;
    assert_eq!(reply["ok"], true, "{reply}");
    // 17,500.00 paid through a claim: 15,000.00 ESF+ and 2,500.00 Land.
    let paid = Uuid::new_v4();
    accepted(&app, "traeger", &claim(proposal_id, paid, 30, 120)).await;
    let verify = VerifyClaim {
        fund_id: FUND.into(),
        proposal_id,
        claim_id: paid,
        cuts: vec![],
    };
    accepted(&app, "pruefer", &verify).await;
    let approve = ApproveClaim {
        fund_id: FUND.into(),
        proposal_id,
        claim_id: paid,
        payment_reference: "NB-AUSZ-8001".into(),
        value_date: today(),
    };
    accepted(&app, "freigabe", &approve).await;

    // The final report: 20,000.00 eligible → final grant 14,000.00 (12,000.00 + 2,000.00); of
    // the 17,500.00 paid, 3,000.00 ESF+ and 500.00 Land are recovered; the project is closed.
    let report = CheckFinalReport {
        fund_id: FUND.into(),
        proposal_id,
        report_reference: "VN-2027-1".into(),
        eligible_cost_cents: Cents(2_000_000),
    };
    accepted(&app, "pruefer", &report).await;
    let repay = buendel_contract::commands::RecordRepayment {
        fund_id: FUND.into(),
        proposal_id,
        esf_cents: Cents(100_000),
        land_cents: Cents(0),
        value_date: today(),
    };
    accepted(&app, "bank", &repay).await;
    let path = format!("/v1/proposals/{proposal_id}/recovery?as_of={}", day(30));
    let owed = app
        .get_until(&path, |s, b| {
            s == 200 && b["principal"]["repaid"]["total_cents"] == 100_000
        })
        .await;
    assert_eq!(owed["final_grant"]["esf_cents"], 1_200_000, "{owed}");
    assert_eq!(owed["final_grant"]["land_cents"], 200_000, "{owed}");
    assert_eq!(
        owed["principal"]["assessed"]["esf_cents"], 300_000,
        "{owed}"
    );
    assert_eq!(
        owed["principal"]["assessed"]["land_cents"], 50_000,
        "{owed}"
    );
    assert_eq!(owed["principal"]["owed"]["esf_cents"], 200_000, "{owed}");
    assert_eq!(owed["principal"]["owed"]["land_cents"], 50_000, "{owed}");
    let (_, money) = app.get(&format!("/v1/proposals/{proposal_id}")).await;
    assert_eq!(money["money"]["status"], "closed", "{money}");

    let covered = buendel_grant::base_rate::published().covered_until();
    let charge = ChargeInterest {
        fund_id: FUND.into(),
        proposal_id,
        until: day(1),
    };
    if day(31) <= covered {
        // Interest from the check's day, 31 days to the end of day 30, at the base rate of the
        // half year plus 5 points (every day of it in one half year of the table).
        let rate = i64::from(
            buendel_grant::base_rate::published()
                .rate_on(today())
                .expect("covered")
                + 500,
        );
        assert_eq!(
            rate,
            i64::from(
                buendel_grant::base_rate::published()
                    .rate_on(day(30))
                    .expect("covered")
            ) + 500
        );
        assert_eq!(
            owed["interest"]["accrued"]["esf_cents"],
            interest(200_000, rate, 31),
            "{owed}"
        );
        assert_eq!(
            owed["interest"]["accrued"]["land_cents"],
            interest(50_000, rate, 31),
            "{owed}"
        );
        // Charged for the day of the check, then paid: booked apart from the principal.
        accepted(&app, "bank", &charge).await;
        let (esf, land) = (interest(200_000, rate, 1), interest(50_000, rate, 1));
        let pay = RecordInterestPayment {
            fund_id: FUND.into(),
            proposal_id,
            esf_cents: Cents(esf),
            land_cents: Cents(land),
            value_date: today(),
        };
        accepted(&app, "bank", &pay).await;
        let settled = app
            .get_until(&path, |_, b| {
                b["interest"]["paid"]["total_cents"] == esf + land
            })
            .await;
        assert_eq!(
            settled["interest"]["charged"]["esf_cents"], esf,
            "{settled}"
        );
        assert_eq!(
            settled["interest"]["charged"]["land_cents"], land,
            "{settled}"
        );
        assert_eq!(
            settled["interest"]["owed"]["total_cents"],
            interest(200_000, rate, 31) + interest(50_000, rate, 31) - esf - land
        );
    } else {
        // The business date lies after the last half year of the base-rate table: no interest
        // can be computed, and both the ledger and the API say so.
        assert!(owed["interest"]["accrued"].is_null(), "{owed}");
        assert!(
            owed["interest"]["note"]
                .as_str()
                .is_some_and(|n| n.contains("base_rate_unknown")),
            "{owed}"
        );
        refused_with(&app, "bank", &charge, "base_rate_unknown").await;
    }
    let fund = app
        .get_until(&format!("/v1/funds/{FUND}"), |_, b| {
            b["total"]["repaid"] == 100_000
        })
        .await;
    assert_eq!(fund["total"]["recovered"], 350_000, "{fund}");
    assert_eq!(fund["total"]["disbursed"], 1_750_000, "{fund}");
    let report =
        buendel_audit::verify_online(&app.store, Some(&app.pool), &Options::default(), |_, _| {})
            .await
            .expect("verify");
    assert!(report.ok, "{}", buendel_audit::human(&report));
    app.cleanup().await;
}
