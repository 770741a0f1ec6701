//! The race: 64 commands at once on one fund, served by three ledger instances, whose sum exceeds
//! what the fund (or the project) has: payment claims binding a project's commitment, then the
//! verifications and approvals of those accepted, and budget cuts. No overdraft, in the API and in the auditor's replay; each
//! answer right (accepted, or refused with the one right code); the accepted sum is what the
//! ledger shows; and each command sent again under its id gets the same answer.

use futures::future::join_all;
use serde_json::Value;
use uuid::Uuid;

use buendel::system::{Parts, System};
use buendel_contract::commands::{
    AdjustBudget, AllocateBudget, ApproveClaim, CommandData, SubmitClaim, VerifyClaim,
};
use buendel_contract::ledger::Source;
use buendel_contract::reply::Reply;
use buendel_contract::Cents;

use crate::helpers::{spawn_app, TestApp};
use crate::review::{grant, positive_statement, proposal_in_review, send_json};

/// NON's fund.
const FUND: &str = "non-2021-2027";
/// Commands sent at once.
const RACERS: usize = 64;
/// The commitment of the granted project ([`grant`]).
const COMMITTED_ESF: i64 = 18_000_000;
/// Its Land part.
const COMMITTED_LAND: i64 = 3_000_000;
/// The budget: room for the commitment and for 32 of the 64 cuts.
const ALLOCATED_ESF: i64 = COMMITTED_ESF + 32 * CUT_ESF;
/// The Land budget.
const ALLOCATED_LAND: i64 = 11_000_000;
/// One claim: 40 of them bind (and pay) the commitment exactly, in both sources.
const TRANCHE_ESF: i64 = COMMITTED_ESF / 40;
/// Its Land part.
const TRANCHE_LAND: i64 = COMMITTED_LAND / 40;
/// One cut of the ESF+ budget.
const CUT_ESF: i64 = 1_000_000;

/// Sends every command at once as the office, each under its own id; returns the replies in
/// order.
async fn race<T: CommandData>(app: &TestApp, commands: &[(Uuid, T)]) -> Vec<Reply> {
    race_by(app, "office", commands).await
}

/// [`race`] as `actor`.
async fn race_by<T: CommandData>(app: &TestApp, actor: &str, commands: &[(Uuid, T)]) -> Vec<Reply> {
    join_all(commands.iter().map(|(id, c)| {
        let payload = buendel::commands::envelope(*id, actor, c);
        app.command(T::SERVICE.as_str(), T::NAME, payload)
    }))
    .await
}

/// Checks that exactly `accepted` replies are accepted and the rest refused with `code`.
fn assert_split(replies: &[Reply], accepted: usize, code: &str) {
    let ok = replies.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, accepted, "{replies:#?}");
    for reply in replies.iter().filter(|r| !r.is_ok()) {
        assert_eq!(reply.code(), Some(code), "{reply:?}");
    }
}

/// Sends every command again under its id: each gets the answer it got the first time (the same
/// event and sequence, or the same refusal).
async fn assert_retries_answer_the_same<T: CommandData>(
    app: &TestApp,
    actor: &str,
    commands: &[(Uuid, T)],
    first: &[Reply],
) {
    let again = race_by(app, actor, commands).await;
    for (before, after) in first.iter().zip(&again) {
        match (before, after) {
            (
                Reply::Accepted {
                    event_id, sequence, ..
                },
                Reply::Accepted {
                    event_id: id,
                    sequence: seq,
                    duplicate,
                    ..
                },
            ) => {
                assert_eq!((event_id, sequence), (id, seq), "{after:?}");
                assert!(*duplicate, "a retry books nothing: {after:?}");
            }
            (Reply::Refused { .. }, Reply::Refused { .. }) => {
                assert_eq!(before.code(), after.code(), "{after:?}");
            }
            _ => panic!("another answer on retry: {before:?} then {after:?}"),
        }
    }
}

/// A ledger instance more on the app's namespace.
async fn another_ledger(app: &TestApp) -> System {
    System::start(
        &app.settings,
        Parts {
            ledger: true,
            ..Parts::none()
        },
    )
    .await
    .expect("another ledger starts")
}

/// The fund as the API shows it once it has `entries` journal entries.
async fn fund_with(app: &TestApp, entries: i64) -> Value {
    let fund = app
        .get_until(&format!("/v1/funds/{FUND}"), |status, body| {
            status == 200 && body["entries"].as_i64() >= Some(entries)
        })
        .await;
    assert_eq!(fund["entries"], entries, "{fund}");
    fund
}

#[tokio::test]
async fn sixty_four_concurrent_claims_and_cuts_on_one_fund_across_three_ledgers_never_overdraw_it()
{
    let app = spawn_app().await;
    let others = [another_ledger(&app).await, another_ledger(&app).await];
    let allocation = AllocateBudget {
        fund_id: FUND.into(),
        esf_cents: Cents(ALLOCATED_ESF),
        land_cents: Cents(ALLOCATED_LAND),
        commit_deadline: chrono::NaiveDate::from_ymd_opt(2027, 12, 31).expect("a date"),
    };
    assert!(app.send(&allocation).await.is_ok());
    let proposal_id = proposal_in_review(&app).await;
    positive_statement(&app, proposal_id).await;
    let reply = send_json(&app, &grant(proposal_id)).await;
    assert_eq!(reply["ok"], true, "{reply}");
    // The saga books the statement and the grant (how many entries that takes is its business).
    let fund = app
        .get_until(&format!("/v1/funds/{FUND}"), |status, body| {
            status == 200 && body["esf_plus"]["committed"] == COMMITTED_ESF
        })
        .await;
    assert!(fund["entries"].as_i64().is_some(), "{fund}");
    // The decision that committed is stored whole; the projection may not show all of it yet.
    let before = i64::try_from(crate::ledger::fund_events(&app).await.len()).expect("a count");

    // 64 claims (each for its own day of the grant period) of which 40 bind the commitment
    // exactly; the rest ask more than is left.
    let claims: Vec<(Uuid, SubmitClaim)> = (0..RACERS)
        .map(|i| {
            let claim = SubmitClaim {
                fund_id: FUND.into(),
                proposal_id,
                claim_id: Uuid::new_v4(),
                period_from: buendel_testing::test_day(30 + i as i64),
                period_to: buendel_testing::test_day(30 + i as i64),
                declared_eligible_cents: Cents(TRANCHE_ESF * 2),
                esf_cents: Cents(TRANCHE_ESF),
                land_cents: Cents(TRANCHE_LAND),
                receipts_reference: format!("BL-{i}"),
            };
            (Uuid::new_v4(), claim)
        })
        .collect();
    let submitted = race_by(&app, "traeger", &claims).await;
    assert_split(&submitted, 40, "claim_above_committed_remainder");
    let accepted: Vec<&SubmitClaim> = claims
        .iter()
        .zip(&submitted)
        .filter(|(_, reply)| reply.is_ok())
        .map(|((_, claim), _)| claim)
        .collect();
    // The 40 verified and approved at once, by two officers: every one paid.
    let verifications: Vec<(Uuid, VerifyClaim)> = accepted
        .iter()
        .map(|claim| {
            let verify = VerifyClaim {
                fund_id: FUND.into(),
                proposal_id,
                claim_id: claim.claim_id,
                cuts: vec![],
            };
            (Uuid::new_v4(), verify)
        })
        .collect();
    let verified = race_by(&app, "pruefer", &verifications).await;
    assert_split(&verified, 40, "");
    let approvals: Vec<(Uuid, ApproveClaim)> = accepted
        .iter()
        .enumerate()
        .map(|(i, claim)| {
            let approve = ApproveClaim {
                fund_id: FUND.into(),
                proposal_id,
                claim_id: claim.claim_id,
                payment_reference: format!("ZA-{i}"),
                value_date: buendel_testing::test_date(),
            };
            (Uuid::new_v4(), approve)
        })
        .collect();
    let paid = race_by(&app, "freigabe", &approvals).await;
    assert_split(&paid, 40, "");

    // 64 cuts of the ESF+ budget of which 32 fit what is available.
    let cuts: Vec<(Uuid, AdjustBudget)> = (0..RACERS)
        .map(|i| {
            let cut = AdjustBudget {
                fund_id: FUND.into(),
                source: Source::EsfPlus,
                delta_cents: Cents(-CUT_ESF),
                reason: format!("cut {i}"),
            };
            (Uuid::new_v4(), cut)
        })
        .collect();
    let cut = race(&app, &cuts).await;
    assert_split(&cut, 32, "adjustment_below_bound");

    assert_retries_answer_the_same(&app, "traeger", &claims, &submitted).await;
    assert_retries_answer_the_same(&app, "freigabe", &approvals, &paid).await;
    assert_retries_answer_the_same(&app, "office", &cuts, &cut).await;

    // What the API shows: the accepted sums, to the cent, and no overdraft.
    let fund = fund_with(&app, before + 3 * 40 + 32).await;
    let esf = &fund["esf_plus"];
    let land = &fund["land"];
    assert_eq!(esf["disbursed"], 40 * TRANCHE_ESF, "{fund}");
    assert_eq!(land["disbursed"], 40 * TRANCHE_LAND, "{fund}");
    assert_eq!(esf["unpaid"], 0, "{fund}");
    assert_eq!(esf["allocated"], ALLOCATED_ESF - 32 * CUT_ESF, "{fund}");
    assert_eq!(esf["available"], 0, "{fund}");
    assert_eq!(land["available"], ALLOCATED_LAND - COMMITTED_LAND, "{fund}");
    assert_eq!(fund["trial_balance_zero"], true, "{fund}");

    // What the auditor recomputes from the hash-chained events agrees.
    app.assert_audit_clean().await;
    let report = buendel_audit::online::verify_online(
        &app.store,
        None,
        &buendel_audit::report::Options::default(),
        |_, _| {},
    )
    .await
    .expect("the audit runs");
    let summary = report
        .funds
        .iter()
        .find(|f| f.fund_id == FUND)
        .expect("the fund");
    assert_eq!(summary.events, before as u64 + 3 * 40 + 32);
    assert_eq!(summary.esf_plus.disbursed, Cents(40 * TRANCHE_ESF));
    assert_eq!(summary.land.disbursed, Cents(40 * TRANCHE_LAND));
    assert_eq!(summary.esf_plus.available, Cents(0));
    assert!(summary.esf_plus.available.0 >= 0 && summary.land.available.0 >= 0);
    assert!(summary.trial_balance_zero);

    for system in others {
        let pool = system.pool.clone();
        system.stop().await.expect("stops");
        pool.close().await;
    }
    app.cleanup().await;
}
