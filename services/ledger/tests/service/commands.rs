//! The operator commands over request/reply against the real NATS.

use chrono::Days;
use serde_json::json;
use uuid::Uuid;

use buendel_contract::ledger::{CLAIM_APPROVED_V1, COMMITMENT_RELEASED_V1};
use buendel_contract::reply::Reply;
use buendel_contract::review::Verdict;
use buendel_contract::Cents;
use buendel_ledger::domain::ProjectStatus;

use crate::helpers::*;

fn code(reply: &Reply) -> &str {
    reply.code().unwrap_or("accepted")
}

fn event_types(reply: &Reply) -> Vec<String> {
    match reply {
        Reply::Accepted { events, .. } => events.iter().map(|e| e.event_type.clone()).collect(),
        Reply::Refused { .. } => Vec::new(),
    }
}

#[tokio::test]
async fn the_operator_commands_move_money_and_refuse_with_their_codes() {
    let app = spawn_app().await;
    let split = standard_split();
    let (esf_budget, land_budget) = (split.esf_cents.0 * 10, split.land_cents.0 * 10);
    app.allocate(NON, esf_budget, land_budget).await;
    let again = app
        .command(
            "allocate_budget",
            json!({"fund_id": NON, "esf_cents": 1, "land_cents": 1, "commit_deadline": deadline().to_string()}),
        )
        .await;
    assert_eq!(code(&again), "already_allocated");

    let p = Uuid::new_v4();
    app.append_review(
        p,
        vec![
            opened(p, "non"),
            statement(p, Verdict::Positive),
            grant(p, ELIGIBLE_CENTS),
        ],
    )
    .await;
    eventually("the grant is committed", || async {
        let fund = app.fund(NON).await;
        (fund.state.project(p).map(|x| x.status) == Some(ProjectStatus::Committed)).then_some(())
    })
    .await;

    let pay = |reference: &str, esf: i64, land: i64, value_date: chrono::NaiveDate| {
        json!({
            "fund_id": NON,
            "proposal_id": p,
            "payment_reference": reference,
            "esf_cents": esf,
            "land_cents": land,
            "value_date": value_date.to_string(),
        })
    };
    // Granted with its terms: paid only through claims (four eyes), never directly.
    let direct = app
        .command("record_disbursement", pay("NB-0", 1, 0, today()))
        .await;
    assert_eq!(code(&direct), "claim_required");

    let claim = |claim_id: Uuid, month: u32, esf: i64, land: i64| {
        let from = chrono::NaiveDate::from_ymd_opt(2025, month, 1).expect("a date");
        let to = from
            .checked_add_months(chrono::Months::new(1))
            .and_then(|d| d.pred_opt())
            .expect("a date");
        json!({
            "fund_id": NON, "proposal_id": p, "claim_id": claim_id,
            "period_from": from.to_string(), "period_to": to.to_string(),
            "declared_eligible_cents": 1_000_000, "esf_cents": esf, "land_cents": land,
            "receipts_reference": format!("BL-2025-{month:02}"),
        })
    };
    let by = |actor: &'static str, name: &'static str, data: serde_json::Value| {
        let app = &app;
        async move { app.command_as(name, Uuid::new_v4(), actor, data).await }
    };
    let mut above = claim(Uuid::new_v4(), 1, split.esf_cents.0 + 1, 0);
    above["declared_eligible_cents"] = json!(ELIGIBLE_CENTS * 2);
    let above = by("traeger", "submit_claim", above).await;
    assert_eq!(code(&above), "claim_above_committed_remainder");

    // Two claims submitted and verified in full; the first approved (and retried), the second
    // refused for its value date or reference before it is approved.
    let (first_claim, second_claim) = (Uuid::new_v4(), Uuid::new_v4());
    for (claim_id, month, esf, land) in [(first_claim, 1, 199_999, 50_000), (second_claim, 2, 1, 0)]
    {
        let submitted = by("traeger", "submit_claim", claim(claim_id, month, esf, land)).await;
        assert!(submitted.is_ok(), "{submitted:?}");
        let check = json!({"fund_id": NON, "proposal_id": p, "claim_id": claim_id});
        let verified = by("pruefer", "verify_claim", check).await;
        assert!(verified.is_ok(), "{verified:?}");
    }
    let approve = |claim_id: Uuid, reference: &str, value_date: chrono::NaiveDate| {
        let mut data = pay(reference, 0, 0, value_date);
        data["claim_id"] = json!(claim_id);
        if let Some(fields) = data.as_object_mut() {
            fields.remove("esf_cents");
            fields.remove("land_cents");
        }
        data
    };
    let tranche = Uuid::new_v4();
    let first = app
        .command_as(
            "approve_claim",
            tranche,
            "freigabe",
            approve(first_claim, "NB-1", today()),
        )
        .await;
    assert_eq!(event_types(&first), [CLAIM_APPROVED_V1]);
    let retried = app
        .command_as(
            "approve_claim",
            tranche,
            "freigabe",
            approve(first_claim, "NB-1", today()),
        )
        .await;
    match (&first, &retried) {
        (
            Reply::Accepted { event_id, .. },
            Reply::Accepted {
                event_id: again,
                duplicate,
                ..
            },
        ) => {
            assert_eq!(event_id, again, "a retry returns the original event");
            assert!(*duplicate);
        }
        other => panic!("both accepted: {other:?}"),
    }
    let yesterday = today().checked_sub_days(Days::new(1)).expect("a date");
    let back_dated = by(
        "freigabe",
        "approve_claim",
        approve(second_claim, "NB-2", yesterday),
    )
    .await;
    assert_eq!(code(&back_dated), "back_dated");
    let tomorrow = today().checked_add_days(Days::new(1)).expect("a date");
    let future = by(
        "freigabe",
        "approve_claim",
        approve(second_claim, "NB-3", tomorrow),
    )
    .await;
    assert_eq!(code(&future), "value_date_in_future");
    let same_reference = by(
        "freigabe",
        "approve_claim",
        approve(second_claim, "NB-1", today()),
    )
    .await;
    assert_eq!(code(&same_reference), "duplicate_payment_reference");
    let second = by(
        "freigabe",
        "approve_claim",
        approve(second_claim, "NB-2", today()),
    )
    .await;
    assert_eq!(event_types(&second), [CLAIM_APPROVED_V1]);

    let recover = |esf: i64, land: i64| json!({"fund_id": NON, "proposal_id": p, "esf_cents": esf, "land_cents": land, "reason": "final report audited"});
    let too_much = app.command("assess_recovery", recover(200_001, 0)).await;
    assert_eq!(code(&too_much), "recovery_above_disbursed");

    let close = app
        .command("close_project", json!({"fund_id": NON, "proposal_id": p}))
        .await;
    assert_eq!(event_types(&close), [COMMITMENT_RELEASED_V1]);
    let fund = app.fund(NON).await;
    let balances = fund.state.balances();
    assert_eq!(balances.projects[&p].status, ProjectStatus::Closed);
    assert_eq!(balances.projects[&p].total.committed, Cents(250_000));
    assert_eq!(balances.projects[&p].total.unpaid, Cents(0));
    assert_eq!(
        balances.total.available,
        Cents(esf_budget + land_budget - 250_000),
        "what was committed and not paid is available again"
    );
    let closed_again = app
        .command("close_project", json!({"fund_id": NON, "proposal_id": p}))
        .await;
    assert_eq!(code(&closed_again), "already_closed");

    let recovery = app.command("assess_recovery", recover(200_000, 0)).await;
    assert!(recovery.is_ok(), "{recovery:?}");
    let repay = |esf: i64| json!({"fund_id": NON, "proposal_id": p, "esf_cents": esf, "land_cents": 0, "value_date": today().to_string()});
    let repaid = app.command("record_repayment", repay(150_000)).await;
    assert!(repaid.is_ok(), "{repaid:?}");
    let overpaid = app.command("record_repayment", repay(50_001)).await;
    assert_eq!(code(&overpaid), "repayment_above_recovery");

    let raised = app
        .command(
            "adjust_budget",
            json!({"fund_id": NON, "source": "land", "delta_cents": 1_000, "reason": "ministry letter"}),
        )
        .await;
    assert!(raised.is_ok(), "{raised:?}");
    let cut = app
        .command(
            "adjust_budget",
            json!({"fund_id": NON, "source": "esf_plus", "delta_cents": -(esf_budget + 1), "reason": "cut"}),
        )
        .await;
    assert_eq!(code(&cut), "adjustment_below_bound");
    let expire = app.command("expire_unbound", json!({"fund_id": NON})).await;
    assert_eq!(code(&expire), "deadline_not_passed");
    let release = app
        .command(
            "release_reservation",
            json!({"fund_id": NON, "proposal_id": p}),
        )
        .await;
    assert_eq!(code(&release), "already_closed");
    let not_open = app
        .command(
            "close_project",
            json!({"fund_id": SON, "proposal_id": Uuid::new_v4()}),
        )
        .await;
    assert_eq!(code(&not_open), "fund_not_open");

    let fund = app.fund(NON).await;
    let balances = fund.state.balances();
    assert_eq!(balances.esf_plus.recovered, Cents(200_000));
    assert_eq!(balances.esf_plus.repaid, Cents(150_000));
    assert_eq!(balances.esf_plus.receivable, Cents(50_000));
    assert_eq!(balances.land.allocated, Cents(land_budget + 1_000));
    assert!(balances.total.parts_sum_to_whole());
    assert!(balances.trial_balance_zero);
    fund.state.check_invariants().expect("the invariants hold");
    assert!(app.dead_letters().await.is_empty());
    app.assert_chains_verify().await;
    app.cleanup().await;
}

#[tokio::test]
async fn an_invalid_command_reports_every_field_and_floats_by_name() {
    let app = spawn_app().await;
    let reply = app
        .command(
            "record_disbursement",
            json!({
                "fund_id": "NON 2021",
                "proposal_id": "not-a-uuid",
                "esf_cents": 1.5,
                "land_cents": "100",
                "value_date": "2025-13-01",
                "colour": "blue",
            }),
        )
        .await;
    let Reply::Refused { error, .. } = &reply else {
        panic!("refused: {reply:?}");
    };
    assert_eq!(error.code, "invalid_input");
    let mut fields: Vec<&str> = error.details.iter().map(|d| d.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "data.colour",
            "data.esf_cents",
            "data.fund_id",
            "data.land_cents",
            "data.payment_reference",
            "data.proposal_id",
            "data.value_date",
        ]
    );
    let float = error
        .details
        .iter()
        .find(|d| d.field == "data.esf_cents")
        .expect("esf_cents reported");
    assert!(float.reason.contains("float"), "{float:?}");

    let no_envelope = app
        .raw_command("close_project", b"{\"data\":{}}".to_vec())
        .await;
    assert_eq!(code(&no_envelope), "invalid_input");
    let nothing_written = app
        .store
        .stream_last_sequence(buendel_contract::namespace::StreamKind::Ledger)
        .await
        .expect("LEDGER exists");
    assert_eq!(nothing_written, 0);
    app.cleanup().await;
}
