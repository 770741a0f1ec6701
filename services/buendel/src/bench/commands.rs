//! The command phase: the partners review every screened proposal (votes, an occasional recusal),
//! the alliance issues its statement, the bank grants or refuses; some applicants withdraw.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use uuid::Uuid;

use buendel_contract::money::{BasisPoints, Cents, Split};
use buendel_contract::reference::{builtin_alliances, RegionCategory};
use buendel_contract::Namespace;

use super::stats::{per_second, Latencies, LatencySummary};
use super::workload::Rng;

/// One proposal of the workload, as the command phase needs it.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The proposal.
    pub proposal_id: Uuid,
    /// `non` or `son`.
    pub alliance_id: String,
    /// Eligible costs, cents.
    pub eligible_cents: i64,
    /// Planned start (`YYYY-MM-DD`).
    pub planned_start: String,
    /// Duration, months.
    pub duration_months: u64,
}

/// What the phase did.
#[derive(Debug, Default)]
pub struct PhaseResult {
    /// Commands sent.
    pub commands: usize,
    /// Commands refused (unexpectedly: the script only sends valid commands).
    pub refused: usize,
    /// Requests that got no reply.
    pub failed: usize,
    /// Commands per second.
    pub per_s: u64,
    /// Request → reply.
    pub latency: LatencySummary,
    /// Every latency, to combine phases.
    pub latencies: Latencies,
    /// Proposals that received a grant decision.
    pub granted: Vec<Planned>,
}

struct Sender {
    client: async_nats::Client,
    ns: Namespace,
    latencies: Latencies,
    commands: usize,
    refused: usize,
    failed: usize,
}

impl Sender {
    async fn send(&mut self, service: &str, command: &str, data: Value) -> bool {
        self.send_as(service, command, data, "bench").await
    }

    /// [`Sender::send`] by the named actor (a claim's four eyes are two officers).
    async fn send_as(&mut self, service: &str, command: &str, data: Value, actor: &str) -> bool {
        let subject = format!("{}.{command}", self.ns.command_prefix(service));
        let payload = json!({"command_id": Uuid::new_v4(), "actor": actor, "data": data});
        let Ok(bytes) = serde_json::to_vec(&payload) else {
            return false;
        };
        let sent = Instant::now();
        self.commands += 1;
        let reply = tokio::time::timeout(
            Duration::from_secs(30),
            self.client.request(subject, bytes.into()),
        )
        .await;
        self.latencies.record(sent.elapsed());
        match reply {
            Ok(Ok(message)) => {
                let ok = serde_json::from_slice::<Value>(&message.payload)
                    .is_ok_and(|v| v["ok"] == true);
                if !ok {
                    self.refused += 1;
                    tracing::debug!(command, reply = %String::from_utf8_lossy(&message.payload), "refused");
                }
                ok
            }
            _ => {
                self.failed += 1;
                false
            }
        }
    }
}

/// The day before `date` plus `months`: the last day of a period of that many months.
pub fn add_months(date: &str, months: u64) -> String {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.checked_add_months(chrono::Months::new(u32::try_from(months).unwrap_or(0))))
        .and_then(|d| d.pred_opt())
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// Drives the review of every planned proposal with `concurrency` operators working in parallel.
pub async fn review_phase(
    client: &async_nats::Client,
    ns: &Namespace,
    planned: &[Planned],
    concurrency: usize,
    seed: u64,
) -> anyhow::Result<PhaseResult> {
    let alliances = Arc::new(builtin_alliances());
    let granted = Arc::new(Mutex::new(Vec::new()));
    let planned = Arc::new(planned.to_vec());
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..concurrency {
        let (alliances, granted, planned) = (alliances.clone(), granted.clone(), planned.clone());
        let mut sender = Sender {
            client: client.clone(),
            ns: ns.clone(),
            latencies: Latencies::default(),
            commands: 0,
            refused: 0,
            failed: 0,
        };
        tasks.spawn(async move {
            let mut rng = Rng::derive(seed, worker as u64);
            for p in planned.iter().skip(worker).step_by(concurrency) {
                let Some(alliance) = alliances.iter().find(|a| a.id == p.alliance_id) else { continue };
                let id = p.proposal_id;
                let roll = rng.below(100);
                if roll < 4 {
                    sender.send("submission", "withdraw", json!({"proposal_id": id, "reason": "the applicant merged it into another project"})).await;
                    continue;
                }
                let mut partners = alliance.partners.iter();
                if rng.below(10) == 0 {
                    if let Some(partner) = partners.next() {
                        sender.send("approval", "declare_conflict", json!({"proposal_id": id, "partner_id": partner.id, "reason": "partner of the applicant"})).await;
                    }
                }
                // More than half of the whole roster: a quorum with or without the recusal.
                let voters = alliance.partners.len() / 2 + 1;
                let negative = (4..8).contains(&roll);
                for (n, partner) in partners.take(voters).enumerate() {
                    let vote = if negative == (n % 3 != 0) { "no" } else { "yes" };
                    sender.send("approval", "vote", json!({"proposal_id": id, "partner_id": partner.id, "vote": vote})).await;
                }
                let verdict = if negative { "negative" } else { "positive" };
                if !sender.send("approval", "issue_statement", json!({"proposal_id": id, "verdict": verdict})).await || negative {
                    continue;
                }
                if roll < 12 {
                    sender.send("approval", "record_refusal", json!({"proposal_id": id, "bank_reference": format!("NB-R-{id}"), "reason": "not eligible after the bank's check"})).await;
                    continue;
                }
                let esf_bp = match alliance.region {
                    RegionCategory::Transition => 6_000,
                    RegionCategory::MoreDeveloped => 4_000,
                };
                let Some(split) = Split::compute(Cents(p.eligible_cents), BasisPoints(7_000), BasisPoints(esf_bp)) else { continue };
                let grant = json!({
                    "proposal_id": id, "bank_reference": format!("NB-{id}"),
                    "eligible_cost_cents": p.eligible_cents, "total_rate_bp": 7_000, "esf_rate_bp": esf_bp,
                    "esf_cents": split.esf_cents.0, "land_cents": split.land_cents.0,
                    "period_from": p.planned_start, "period_to": add_months(&p.planned_start, p.duration_months),
                });
                if sender.send("approval", "record_grant", grant).await {
                    granted.lock().await.push(p.clone());
                }
            }
            sender
        });
    }
    let mut result = PhaseResult::default();
    let mut latencies = Latencies::default();
    while let Some(done) = tasks.join_next().await {
        let sender = done?;
        result.commands += sender.commands;
        result.refused += sender.refused;
        result.failed += sender.failed;
        latencies.extend(sender.latencies);
    }
    result.per_s = per_second(result.commands, started.elapsed());
    result.latency = latencies.summary();
    result.latencies = latencies;
    result.granted = std::mem::take(&mut *granted.lock().await);
    Ok(result)
}

/// The data of one payment claim's three commands, as the workloads send them.
pub struct ClaimSteps {
    /// `submit_claim`.
    pub submit: Value,
    /// `verify_claim` (accepted in full).
    pub verify: Value,
    /// `approve_claim`.
    pub approve: Value,
}

/// The `n`-th monthly payment claim of a committed project, as the bench and `buendel chaos` send
/// it (`base` holds its fund and proposal `id`): the `n`-th month of the grant period from
/// `start`, a quarter of the commitment (`esf`, `land`) asked on a quarter of the `eligible`
/// costs and a euro more, paid under `ZA-<proposal>-<n>` on `value_date`. `None` past the
/// calendar.
pub fn monthly_claim(
    base: &Value,
    id: Uuid,
    claim_id: Uuid,
    start: chrono::NaiveDate,
    n: u64,
    (eligible, esf, land): (i64, i64, i64),
    value_date: &Value,
) -> Option<ClaimSteps> {
    let month = |k: u64| start.checked_add_months(chrono::Months::new(u32::try_from(k).ok()?));
    let (from, next) = (month(n)?, month(n + 1)?);
    let mut submit = base.clone();
    submit["claim_id"] = json!(claim_id);
    submit["period_from"] = json!(from);
    submit["period_to"] = json!(next.pred_opt().unwrap_or(from));
    submit["declared_eligible_cents"] = json!(eligible / 4 + 100);
    submit["esf_cents"] = json!(esf / 4);
    submit["land_cents"] = json!(land / 4);
    submit["receipts_reference"] = json!(format!("BL-{}-{n}", id.simple()));
    let mut verify = base.clone();
    verify["claim_id"] = json!(claim_id);
    let mut approve = verify.clone();
    approve["payment_reference"] = json!(format!("ZA-{}-{n}", id.simple()));
    approve["value_date"] = value_date.clone();
    Some(ClaimSteps {
        submit,
        verify,
        approve,
    })
}

/// A project with money committed, as the ledger phase needs it.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The proposal.
    pub proposal_id: Uuid,
    /// Its fund.
    pub fund_id: String,
    /// ESF+ committed, cents.
    pub esf_cents: i64,
    /// Land committed, cents.
    pub land_cents: i64,
    /// The first day of the grant period.
    pub period_from: chrono::NaiveDate,
    /// The grant's eligible costs, cents.
    pub eligible_cents: i64,
}

/// Pays two or three tranches to every committed project, each through a payment claim (submitted,
/// verified by one officer, approved by another: three commands), and closes it; one in twenty is
/// then clawed back in part and repays.
pub async fn ledger_phase(
    client: &async_nats::Client,
    ns: &Namespace,
    projects: &[Committed],
    concurrency: usize,
    seed: u64,
    today: chrono::NaiveDate,
) -> anyhow::Result<PhaseResult> {
    let today = today.to_string();
    let projects = Arc::new(projects.to_vec());
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..concurrency {
        let projects = projects.clone();
        let today = today.clone();
        let mut sender = Sender {
            client: client.clone(),
            ns: ns.clone(),
            latencies: Latencies::default(),
            commands: 0,
            refused: 0,
            failed: 0,
        };
        tasks.spawn(async move {
            let mut rng = Rng::derive(seed ^ 0x5EED, worker as u64);
            for p in projects.iter().skip(worker).step_by(concurrency) {
                let base = json!({"fund_id": p.fund_id, "proposal_id": p.proposal_id});
                let tranches = 2 + rng.below(2);
                for n in 0..tranches {
                    let money = (p.eligible_cents, p.esf_cents, p.land_cents);
                    let Some(claim) = monthly_claim(
                        &base,
                        p.proposal_id,
                        Uuid::new_v4(),
                        p.period_from,
                        n,
                        money,
                        &json!(today),
                    ) else {
                        break;
                    };
                    if !sender
                        .send_as("ledger", "submit_claim", claim.submit, "traeger")
                        .await
                        || !sender
                            .send_as("ledger", "verify_claim", claim.verify, "pruefer")
                            .await
                    {
                        break;
                    }
                    sender
                        .send_as("ledger", "approve_claim", claim.approve, "freigabe")
                        .await;
                }
                sender.send("ledger", "close_project", base.clone()).await;
                if rng.below(20) == 0 {
                    let mut recovery = base.clone();
                    recovery["esf_cents"] = json!(p.esf_cents / 10);
                    recovery["land_cents"] = json!(p.land_cents / 10);
                    recovery["reason"] = json!("final report: lower eligible costs");
                    if sender
                        .send("ledger", "assess_recovery", recovery.clone())
                        .await
                    {
                        let mut repayment = recovery;
                        repayment.as_object_mut().map(|m| m.remove("reason"));
                        repayment["value_date"] = json!(today);
                        sender.send("ledger", "record_repayment", repayment).await;
                    }
                }
            }
            sender
        });
    }
    let mut result = PhaseResult::default();
    let mut latencies = Latencies::default();
    while let Some(done) = tasks.join_next().await {
        let sender = done?;
        result.commands += sender.commands;
        result.refused += sender.refused;
        result.failed += sender.failed;
        latencies.extend(sender.latencies);
    }
    result.per_s = per_second(result.commands, started.elapsed());
    result.latency = latencies.summary();
    result.latencies = latencies;
    Ok(result)
}
