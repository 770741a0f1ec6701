//! The load of a chaos run: the standard workload's proposals published to the intake, then each
//! one driven through its life by an operator (votes, an occasional recusal, the statement, the
//! bank's grant or refusal, some withdrawals; tranches, closing, the odd clawback and repayment).
//!
//! Every command is retried with the same command id until it is answered (a reply that is not
//! `unavailable`), and every command and its answer is recorded for the checks afterwards. A
//! proposal's content and its operator's choices come from the seed and the proposal's index.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use buendel_contract::ledger::ProjectStatus;
use buendel_contract::money::{BasisPoints, Cents, Split};
use buendel_contract::namespace::StreamKind;
use buendel_contract::reference::{builtin_alliances, RegionCategory};
use buendel_runtime::EventStore;

use super::env::poll;
use crate::bench::commands::{add_months, monthly_claim};
use crate::bench::workload::{proposal_event, Rng};

/// How long one request may go unanswered before it is sent again (same command id).
const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// Pause between two attempts of a command or a publish.
const RETRY_PAUSE_MS: u64 = 200;
/// How long a command may take, all its retries included, before it counts as unanswered.
pub const COMMAND_DEADLINE_S: u64 = 180;
/// How long a proposal may wait for one step of the services (screened, review open, money
/// committed) before it counts as stuck.
pub const STEP_DEADLINE_S: u64 = 180;

/// A committed project's money, as its claims draw on it.
struct Tranches<'a> {
    /// The fund.
    fund: &'a str,
    /// ESF+ committed, cents.
    esf: i64,
    /// Land committed, cents.
    land: i64,
    /// The eligible costs of the grant, cents.
    eligible: i64,
}

/// One command as sent, and what it got.
#[derive(Debug, Clone)]
pub struct Sent {
    /// `submission`, `approval` or `ledger`.
    pub service: &'static str,
    /// The command's name.
    pub name: &'static str,
    /// The request, command id included.
    pub payload: Value,
    /// The answer (`None`: none within [`COMMAND_DEADLINE_S`]).
    pub reply: Option<Value>,
}

/// What the load did, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadFigures {
    /// Proposals published to the intake.
    pub proposals_published: usize,
    /// Distinct commands (command ids) sent.
    pub commands: usize,
    /// Requests sent, retries included.
    pub requests: u64,
    /// Publishes to the intake, retries included.
    pub publishes: u64,
    /// Commands accepted.
    pub accepted: usize,
    /// Commands refused, per code (the workload sends valid commands; a refusal is reported, and
    /// its answer must not change either).
    pub refused: BTreeMap<String, usize>,
    /// Commands that got no answer at all (must be zero).
    pub unanswered: usize,
    /// Proposals that waited for a step of the services longer than allowed (must be zero).
    pub stuck: Vec<String>,
}

/// The clients of one run.
pub struct Load {
    /// The clients' NATS connection (to every node).
    client: async_nats::Client,
    /// The event store of the run's namespace (publishing, reading aggregates).
    store: EventStore,
    /// The read models (to see a project's money committed).
    pool: PgPool,
    /// The seed of the proposals and the operators' choices.
    seed: u64,
    /// The business date of the run (planned starts, value dates).
    today: NaiveDate,
    /// Set when the load's time is up: operators finish the proposal in hand and stop.
    stop: AtomicBool,
    /// The next proposal index.
    next: AtomicUsize,
    /// Requests sent, retries included.
    requests: AtomicU64,
    /// Publishes, retries included.
    publishes: AtomicU64,
    /// Every command and its answer.
    sent: Mutex<Vec<Sent>>,
    /// Every proposal published.
    published: Mutex<Vec<Uuid>>,
    /// Steps that waited too long.
    stuck: Mutex<Vec<String>>,
}

impl Load {
    /// The clients, before anything is sent.
    pub fn new(
        client: async_nats::Client,
        store: EventStore,
        pool: PgPool,
        seed: u64,
        today: NaiveDate,
    ) -> Self {
        Self {
            client,
            store,
            pool,
            seed,
            today,
            stop: AtomicBool::new(false),
            next: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            publishes: AtomicU64::new(0),
            sent: Mutex::new(Vec::new()),
            published: Mutex::new(Vec::new()),
            stuck: Mutex::new(Vec::new()),
        }
    }

    /// Operators finish the proposal in hand and take no new one.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Every command sent and its answer.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Every proposal published.
    pub fn published(&self) -> Vec<Uuid> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The figures so far.
    pub fn figures(&self) -> LoadFigures {
        let sent = self.sent();
        let mut figures = LoadFigures {
            proposals_published: self.published().len(),
            commands: sent.len(),
            requests: self.requests.load(Ordering::SeqCst),
            publishes: self.publishes.load(Ordering::SeqCst),
            stuck: self.stuck.lock().map(|s| s.clone()).unwrap_or_default(),
            ..LoadFigures::default()
        };
        for command in &sent {
            match &command.reply {
                None => figures.unanswered += 1,
                Some(reply) if reply["ok"] == true => figures.accepted += 1,
                Some(reply) => {
                    let code = reply["error"]["code"].as_str().unwrap_or("?").to_owned();
                    *figures.refused.entry(code).or_default() += 1;
                }
            }
        }
        figures
    }

    /// Allocates both funds for about `expected` proposals at half of what they would be
    /// granted, so that some are waitlisted and releases serve the waitlist.
    pub async fn allocate(&self, expected: u64, commit_deadline: NaiveDate) {
        let mut rng = Rng::new(self.seed ^ 0xA110_CA7E);
        // Average eligible costs 25,000,000 cents at 70 %: non 60 % ESF+ and 10 % Land,
        // son 40 % and 30 %; non gets two thirds of the proposals.
        for (fund, share, esf, land) in [
            ("non-2021-2027", 2, 15_000_000i64, 2_500_000i64),
            ("son-2021-2027", 1, 10_000_000, 7_500_000),
        ] {
            let projects = i64::try_from(expected * share / 3 / 2).unwrap_or(1).max(1);
            let data = json!({
                "fund_id": fund,
                "esf_cents": esf * projects,
                "land_cents": land * projects,
                "commit_deadline": commit_deadline,
            });
            self.command(&mut rng, "ledger", "allocate_budget", data)
                .await;
        }
    }

    /// One operator: takes the next proposal and drives it through its life, until stopped.
    pub async fn operate(self: Arc<Self>) {
        while !self.stop.load(Ordering::SeqCst) {
            let index = self.next.fetch_add(1, Ordering::SeqCst);
            if let Err(stuck) = self.drive(index).await {
                if let Ok(mut list) = self.stuck.lock() {
                    list.push(format!("proposal #{index}: {stuck:#}"));
                }
            }
        }
    }

    async fn drive(&self, index: usize) -> anyhow::Result<()> {
        let mut rng = Rng::derive(self.seed, index as u64);
        let (proposal_id, event, planned) = proposal_event(&mut rng, index, self.today);
        self.publish(&event).await?;
        if let Ok(mut published) = self.published.lock() {
            published.push(proposal_id);
        }
        let ns = self.store.namespace().clone();
        let proposal_subject = ns.subject(StreamKind::Proposals, proposal_id);
        let passed = poll(
            &format!("{proposal_id} to be screened"),
            Duration::from_secs(STEP_DEADLINE_S),
            || async {
                let events = self
                    .store
                    .load(StreamKind::Proposals, &proposal_subject)
                    .await
                    .ok()?;
                events.iter().find_map(|stored| {
                    let event: Value = serde_json::from_slice(&stored.payload).ok()?;
                    let screened = event["type"]
                        .as_str()?
                        .starts_with("buendel.proposal.screened.");
                    screened.then(|| event["data"]["passed"] == true)
                })
            },
        )
        .await?;
        let Some(p) = planned.filter(|_| passed) else {
            return Ok(());
        };
        let review_subject = ns.subject(StreamKind::Reviews, proposal_id);
        poll(
            &format!("{proposal_id}'s review to open"),
            Duration::from_secs(STEP_DEADLINE_S),
            || async {
                let last = self
                    .store
                    .last_sequence(StreamKind::Reviews, &review_subject)
                    .await
                    .ok()?;
                (last > 0).then_some(())
            },
        )
        .await?;
        let alliances = builtin_alliances();
        let Some(alliance) = alliances.iter().find(|a| a.id == p.alliance_id) else {
            return Ok(());
        };
        let id = proposal_id;
        let roll = rng.below(100);
        if roll < 4 {
            let data = json!({"proposal_id": id, "reason": "the applicant merged it into another project"});
            self.command(&mut rng, "submission", "withdraw", data).await;
            return Ok(());
        }
        let mut partners = alliance.partners.iter();
        if rng.below(10) == 0 {
            if let Some(partner) = partners.next() {
                let data = json!({"proposal_id": id, "partner_id": partner.id, "reason": "partner of the applicant"});
                self.command(&mut rng, "approval", "declare_conflict", data)
                    .await;
            }
        }
        // More than half of the whole roster: a quorum with or without the recusal.
        let voters = alliance.partners.len() / 2 + 1;
        let negative = (4..8).contains(&roll);
        for (n, partner) in partners.take(voters).enumerate() {
            let vote = if negative == (n % 3 != 0) {
                "no"
            } else {
                "yes"
            };
            let data = json!({"proposal_id": id, "partner_id": partner.id, "vote": vote});
            self.command(&mut rng, "approval", "vote", data).await;
        }
        let verdict = if negative { "negative" } else { "positive" };
        let data = json!({"proposal_id": id, "verdict": verdict});
        let stated = self
            .command(&mut rng, "approval", "issue_statement", data)
            .await;
        if !stated || negative {
            return Ok(());
        }
        // The bank decides on a project whose money the fund has reserved; one still on the
        // waitlist has no budget behind it and is not granted (the ledger would refuse the
        // commitment, `commitment_shortfall`).
        let Some((_, status)) = self
            .money(id, &[ProjectStatus::Reserved, ProjectStatus::Waitlisted])
            .await?
        else {
            return Ok(());
        };
        if status == ProjectStatus::Waitlisted {
            return Ok(());
        }
        if roll < 12 {
            let data = json!({"proposal_id": id, "bank_reference": format!("NB-R-{id}"), "reason": "not eligible after the bank's check"});
            self.command(&mut rng, "approval", "record_refusal", data)
                .await;
            return Ok(());
        }
        let esf_bp = match alliance.region {
            RegionCategory::Transition => 6_000,
            RegionCategory::MoreDeveloped => 4_000,
        };
        let Some(split) = Split::compute(
            Cents(p.eligible_cents),
            BasisPoints(7_000),
            BasisPoints(esf_bp),
        ) else {
            return Ok(());
        };
        let grant = json!({
            "proposal_id": id, "bank_reference": format!("NB-{id}"),
            "eligible_cost_cents": p.eligible_cents, "total_rate_bp": 7_000, "esf_rate_bp": esf_bp,
            "esf_cents": split.esf_cents.0, "land_cents": split.land_cents.0,
            "period_from": p.planned_start, "period_to": add_months(&p.planned_start, p.duration_months),
        });
        if !self
            .command(&mut rng, "approval", "record_grant", grant)
            .await
        {
            return Ok(());
        }
        let Some(((fund, esf, land), _)) = self.money(id, &[ProjectStatus::Committed]).await?
        else {
            return Ok(());
        };
        let start = NaiveDate::parse_from_str(&p.planned_start, "%Y-%m-%d")?;
        let money = Tranches {
            fund: &fund,
            esf,
            land,
            eligible: p.eligible_cents,
        };
        self.pay_out(&mut rng, id, start, &money).await;
        Ok(())
    }

    /// Payment claims (each a month of the grant period, a quarter of the grant: submitted by
    /// the project, verified by one officer, approved by another), closing, and one time in
    /// twenty a clawback and its repayment.
    async fn pay_out(&self, rng: &mut Rng, id: Uuid, start: NaiveDate, money: &Tranches<'_>) {
        let base = json!({"fund_id": money.fund, "proposal_id": id});
        let (esf, land) = (money.esf, money.land);
        for n in 0..2 + rng.below(2) {
            let claim_id = Uuid::from_u64_pair(rng.next_u64(), rng.next_u64());
            let amounts = (money.eligible, esf, land);
            let today = json!(self.today);
            let Some(claim) = monthly_claim(&base, id, claim_id, start, n, amounts, &today) else {
                break;
            };
            if !self
                .command_as(rng, "ledger", "submit_claim", claim.submit, "traeger")
                .await
            {
                break;
            }
            if !self
                .command_as(rng, "ledger", "verify_claim", claim.verify, "pruefer")
                .await
            {
                break;
            }
            self.command_as(rng, "ledger", "approve_claim", claim.approve, "freigabe")
                .await;
        }
        self.command(rng, "ledger", "close_project", base.clone())
            .await;
        if rng.below(20) == 0 {
            let mut recovery = base.clone();
            recovery["esf_cents"] = json!(esf / 10);
            recovery["land_cents"] = json!(land / 10);
            recovery["reason"] = json!("final report: lower eligible costs");
            if self
                .command(rng, "ledger", "assess_recovery", recovery.clone())
                .await
            {
                let mut repayment = recovery;
                repayment.as_object_mut().map(|m| m.remove("reason"));
                repayment["value_date"] = json!(self.today);
                self.command(rng, "ledger", "record_repayment", repayment)
                    .await;
            }
        }
    }

    /// Waits until the project's money has one of the `wanted` statuses and answers its fund,
    /// ESF+ and Land cents committed and the status; `None` once the ledger has released it
    /// instead (or put it on the waitlist, when that is not wanted).
    async fn money(
        &self,
        id: Uuid,
        wanted: &[ProjectStatus],
    ) -> anyhow::Result<Option<((String, i64, i64), ProjectStatus)>> {
        poll(
            &format!("{id}'s money to be {wanted:?}"),
            Duration::from_secs(STEP_DEADLINE_S),
            || async {
                let row: Option<(String, Option<String>, i64, i64)> = sqlx::query_as(
                    "SELECT fund_id, status, esf_committed_cents, land_committed_cents \
                     FROM proposal_money WHERE proposal_id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .ok()?;
                let (fund, status, esf, land) = row?;
                let status = ProjectStatus::parse(status.as_deref()?)?;
                if wanted.contains(&status) {
                    Some(Some(((fund, esf, land), status)))
                } else if matches!(status, ProjectStatus::Waitlisted | ProjectStatus::Released) {
                    Some(None)
                } else {
                    None
                }
            },
        )
        .await
    }

    /// Publishes an intake event, again with the same id until JetStream acknowledges it.
    async fn publish(&self, event: &Value) -> anyhow::Result<()> {
        let id = event["id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| anyhow::anyhow!("an intake event without an id"))?;
        let bytes = bytes::Bytes::from(serde_json::to_vec(event)?);
        let subject = self.store.namespace().subject(StreamKind::Intake, "chaos");
        poll(
            &format!("intake event {id} to be stored"),
            Duration::from_secs(COMMAND_DEADLINE_S),
            || async {
                self.publishes.fetch_add(1, Ordering::SeqCst);
                let sent = self.store.publish(&subject, id, bytes.clone());
                match tokio::time::timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), sent).await {
                    Ok(Ok(_)) => Some(()),
                    _ => None,
                }
            },
        )
        .await
    }

    /// Sends a command, again with the same id until it is answered; records it. True when
    /// accepted.
    async fn command(
        &self,
        rng: &mut Rng,
        service: &'static str,
        name: &'static str,
        data: Value,
    ) -> bool {
        self.command_as(rng, service, name, data, "chaos").await
    }

    /// [`Load::command`] by the named actor (the four eyes of a claim are two officers).
    async fn command_as(
        &self,
        rng: &mut Rng,
        service: &'static str,
        name: &'static str,
        data: Value,
        actor: &str,
    ) -> bool {
        let command_id = Uuid::from_u64_pair(rng.next_u64(), rng.next_u64());
        let payload = json!({"command_id": command_id, "actor": actor, "data": data});
        let reply = self.answer(service, name, &payload).await;
        let accepted = reply.as_ref().is_some_and(|r| r["ok"] == true);
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(Sent {
                service,
                name,
                payload,
                reply,
            });
        }
        accepted
    }

    /// The answer to a command, asking again with the same payload until one comes that is not
    /// `unavailable`, for at most [`COMMAND_DEADLINE_S`].
    pub async fn answer(&self, service: &str, name: &str, payload: &Value) -> Option<Value> {
        let subject = format!("{}.{name}", self.store.namespace().command_prefix(service));
        let bytes = bytes::Bytes::from(serde_json::to_vec(payload).ok()?);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(COMMAND_DEADLINE_S);
        while tokio::time::Instant::now() < deadline {
            self.requests.fetch_add(1, Ordering::SeqCst);
            let request = self.client.request(subject.clone(), bytes.clone());
            if let Ok(Ok(message)) =
                tokio::time::timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), request).await
            {
                if let Ok(reply) = serde_json::from_slice::<Value>(&message.payload) {
                    if reply["error"]["code"] != "unavailable" {
                        return Some(reply);
                    }
                }
            }
            // A pause between attempts, so that a service that is down is not flooded.
            tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
        }
        None
    }
}
