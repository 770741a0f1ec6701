//! What must hold after a chaos run, checked over the real streams and read models once the
//! system is quiet:
//!
//! - the auditor's replay of LEDGER ([`buendel_audit::verify_online`]): every hash link, balances
//!   equal to a recomputation from the postings, no overdraft, every cause booked once, the
//!   waitlist served, and the projections equal to the replay;
//! - every proposal published is submitted and screened exactly once;
//! - every positive statement has exactly one reservation or waitlist place;
//! - no event is stored twice, and no cause books the same event type for the same proposal twice;
//! - every command got an answer, every event an accepted command names is stored, and the same
//!   command id sent again gets the same answer;
//! - the read models equal a rebuild of them from sequence 1.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_runtime::EventStore;

use super::env::{poll, POLL_EVERY_MS};
use super::load::{Load, Sent};

/// Commands sent again at once when their answers are compared.
const RESEND_CONCURRENCY: usize = 8;

/// What the checks found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    /// Events, proposals, reservations or commands' events that should be stored and are not.
    pub lost: u64,
    /// Events, proposals, reservations or bookings stored more than once.
    pub doubled: u64,
    /// Commands whose answer changed when sent again with the same id.
    pub answers_changed: u64,
    /// Whether the auditor's replay found the ledger whole.
    pub audit_ok: bool,
    /// Ledger events the auditor replayed.
    pub audit_events: u64,
    /// Differences between the projections and the auditor's replay.
    pub projection_differences: usize,
    /// Whether every read model equals its rebuild from sequence 1.
    pub rebuild_equal: bool,
    /// Positive statements checked (each must have exactly one reservation or waitlist place).
    pub positive_statements: u64,
    /// Dead letters at the end, by code. The load sends only what the services should take (its
    /// bank grants only projects with money reserved), so each one is a violation: a message the
    /// system gave up on.
    pub dead_letters: BTreeMap<String, u64>,
    /// Every violation, in words.
    pub violations: Vec<String>,
}

impl Findings {
    fn violation(&mut self, what: impl Into<String>) {
        // The list is for people: the first hundred say enough.
        if self.violations.len() < 100 {
            self.violations.push(what.into());
        }
    }
}

/// Polls until every durable consumer has handled its whole stream and the projector has
/// projected every stream to its end, twice in a row; at most `limit`.
pub async fn quiescence(store: &EventStore, pool: &PgPool, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let mut previous = None;
    loop {
        let now = settled(store, pool).await;
        if now.is_some() && now == previous {
            return Ok(());
        }
        previous = now;
        anyhow::ensure!(
            Instant::now() < deadline,
            "the system did not quiesce within {} s (a stuck consumer?)",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(POLL_EVERY_MS * 5)).await;
    }
}

/// Every stream's last sequence, when nothing is pending anywhere.
async fn settled(store: &EventStore, pool: &PgPool) -> Option<Vec<u64>> {
    let mut lasts = Vec::new();
    for kind in StreamKind::ALL {
        let mut stream = store.stream(kind).await.ok()?;
        let last = stream.info().await.ok()?.state.last_sequence;
        let consumers: Vec<_> = stream.consumers().try_collect().await.ok()?;
        let busy = consumers.iter().any(|c| {
            c.config.durable_name.is_some() && (c.num_pending > 0 || c.num_ack_pending > 0)
        });
        if busy {
            return None;
        }
        if buendel_projector::STREAMS.contains(&kind) {
            let projected = buendel_projector::checkpoint::checkpoint(pool, kind)
                .await
                .ok()?;
            if projected < last {
                return None;
            }
        }
        lasts.push(last);
    }
    Some(lasts)
}

/// Every event of a stream, parsed.
async fn read_stream(store: &EventStore, kind: StreamKind) -> anyhow::Result<Vec<Value>> {
    let last = store.stream_last_sequence(kind).await?;
    let filter = store.namespace().stream_subjects(kind);
    let stored = store
        .read(kind, &filter, 1, last)
        .await
        .with_context(|| format!("reading {}", kind.suffix()))?;
    stored
        .iter()
        .map(|s| serde_json::from_slice(&s.payload).context("an event that is not JSON"))
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// The stream a service's commands append to.
fn stream_of(service: &str) -> StreamKind {
    match service {
        "submission" => StreamKind::Proposals,
        "approval" => StreamKind::Reviews,
        _ => StreamKind::Ledger,
    }
}

/// Checks the streams against what was published and answered.
pub async fn streams(
    store: &EventStore,
    published: &[Uuid],
    sent: &[Sent],
    findings: &mut Findings,
) -> anyhow::Result<()> {
    let mut streams = HashMap::new();
    for kind in [
        StreamKind::Proposals,
        StreamKind::Reviews,
        StreamKind::Ledger,
    ] {
        streams.insert(kind.suffix(), read_stream(store, kind).await?);
    }
    let mut ids: HashMap<&str, HashSet<String>> = HashMap::new();
    for (name, events) in &streams {
        let mut per_id: HashMap<String, u64> = HashMap::new();
        let mut per_booking: HashMap<(String, String, String), u64> = HashMap::new();
        for event in events {
            *per_id.entry(text(&event["id"])).or_default() += 1;
            let booking = (
                text(&event["causationid"]),
                text(&event["type"]),
                text(&event["data"]["proposal_id"]),
            );
            *per_booking.entry(booking).or_default() += 1;
        }
        for (id, n) in per_id.iter().filter(|(_, n)| **n > 1) {
            findings.doubled += n - 1;
            findings.violation(format!("{name}: event {id} stored {n} times"));
        }
        for ((cause, kind, proposal), n) in per_booking.iter().filter(|(_, n)| **n > 1) {
            findings.doubled += n - 1;
            findings.violation(format!(
                "{name}: cause {cause} booked {kind} for proposal {proposal:?} {n} times"
            ));
        }
        ids.insert(name, per_id.into_keys().collect());
    }
    for letter in read_stream(store, StreamKind::Deadletter).await? {
        *findings
            .dead_letters
            .entry(text(&letter["code"]))
            .or_default() += 1;
    }
    for (code, n) in findings.dead_letters.clone() {
        findings.violation(format!("{n} dead letter(s) with the code {code}"));
    }
    proposals(&streams["PROPOSALS"], published, findings);
    statements(&streams["REVIEWS"], &streams["LEDGER"], findings);
    for command in sent {
        let Some(reply) = command.reply.as_ref().filter(|r| r["ok"] == true) else {
            continue;
        };
        let stream = stream_of(command.service).suffix();
        let mut named: Vec<String> = reply["events"]
            .as_array()
            .map(|events| events.iter().map(|e| text(&e["event_id"])).collect())
            .unwrap_or_default();
        named.push(text(&reply["event_id"]));
        for id in named {
            if !ids.get(stream).is_some_and(|s| s.contains(&id)) {
                findings.lost += 1;
                findings.violation(format!(
                    "{} {}: accepted event {id} is not in {stream}",
                    command.service, command.name
                ));
            }
        }
    }
    Ok(())
}

/// Every proposal published is submitted and screened exactly once, and nothing else is.
fn proposals(events: &[Value], published: &[Uuid], findings: &mut Findings) {
    let mut submitted: HashMap<String, u64> = HashMap::new();
    let mut screened: HashMap<String, u64> = HashMap::new();
    for event in events {
        let kind = text(&event["type"]);
        let proposal = text(&event["data"]["proposal_id"]);
        if kind.starts_with("buendel.proposal.submitted.") {
            *submitted.entry(proposal).or_default() += 1;
        } else if kind.starts_with("buendel.proposal.screened.") {
            *screened.entry(proposal).or_default() += 1;
        }
    }
    for id in published {
        let id = id.to_string();
        for (what, counts) in [("submitted", &submitted), ("screened", &screened)] {
            match counts.get(&id).copied().unwrap_or(0) {
                1 => {}
                0 => {
                    findings.lost += 1;
                    findings.violation(format!("proposal {id} published, never {what}"));
                }
                n => {
                    findings.doubled += n - 1;
                    findings.violation(format!("proposal {id} {what} {n} times"));
                }
            }
        }
    }
    let known: HashSet<String> = published.iter().map(Uuid::to_string).collect();
    for id in submitted.keys().filter(|id| !known.contains(*id)) {
        findings.doubled += 1;
        findings.violation(format!("proposal {id} submitted but never published"));
    }
}

/// Every positive statement has exactly one reservation or one waitlist place.
fn statements(reviews: &[Value], ledger: &[Value], findings: &mut Findings) {
    let mut answers: HashMap<String, u64> = HashMap::new();
    for event in ledger {
        let kind = text(&event["type"]);
        if kind.starts_with("buendel.ledger.funds_reserved.")
            || kind.starts_with("buendel.ledger.reservation_declined.")
        {
            *answers.entry(text(&event["causationid"])).or_default() += 1;
        }
    }
    for event in reviews {
        let positive = text(&event["type"]).starts_with("buendel.review.statement_issued.")
            && event["data"]["verdict"] == "positive";
        if !positive {
            continue;
        }
        findings.positive_statements += 1;
        let id = text(&event["id"]);
        match answers.get(&id).copied().unwrap_or(0) {
            1 => {}
            0 => {
                findings.lost += 1;
                findings.violation(format!(
                    "positive statement {id} has neither a reservation nor a waitlist place"
                ));
            }
            n => {
                findings.doubled += n - 1;
                findings.violation(format!("positive statement {id} booked {n} times"));
            }
        }
    }
}

/// A reply as compared: an acceptance whole but for `duplicate` (true on a retry), a refusal by
/// its code (its message may quote balances that moved since).
fn comparable(reply: &Value) -> Value {
    if reply["ok"] != true {
        return reply["error"]["code"].clone();
    }
    let mut reply = reply.clone();
    if let Some(object) = reply.as_object_mut() {
        object.remove("duplicate");
    }
    reply
}

/// Every command got an answer, and sent again with the same id gets the same one.
pub async fn answers(load: &Load, sent: &[Sent], findings: &mut Findings) {
    let unanswered = sent.iter().filter(|s| s.reply.is_none()).count();
    if unanswered > 0 {
        findings.lost += unanswered as u64;
        findings.violation(format!("{unanswered} commands got no answer"));
    }
    let changed: Vec<String> = futures::stream::iter(sent.iter().filter(|s| s.reply.is_some()))
        .map(|command| async move {
            let again = load
                .answer(command.service, command.name, &command.payload)
                .await;
            let first = command.reply.as_ref().map(comparable);
            (again.as_ref().map(comparable) != first).then(|| {
                format!(
                    "{} {} {}: first {first:?}, then {again:?}",
                    command.service, command.name, command.payload["command_id"]
                )
            })
        })
        .buffer_unordered(RESEND_CONCURRENCY)
        .filter_map(|changed| async move { changed })
        .collect()
        .await;
    findings.answers_changed = changed.len() as u64;
    for change in changed {
        findings.violation(format!("answer changed: {change}"));
    }
}

/// The auditor's replay of LEDGER, compared with the projections.
pub async fn audit(
    store: &EventStore,
    pool: &PgPool,
    findings: &mut Findings,
) -> anyhow::Result<()> {
    let options = buendel_audit::Options::default();
    let report = buendel_audit::verify_online(store, Some(pool), &options, |_, _| {}).await?;
    findings.audit_ok = report.ok;
    findings.audit_events = report.messages;
    findings.projection_differences = report.differences.len();
    if let Some(failure) = &report.first_failure {
        findings.violation(format!("audit: {failure:?}"));
    }
    for difference in report.differences.iter().take(10) {
        findings.violation(format!(
            "projection differs from the replay: {difference:?}"
        ));
    }
    Ok(())
}

/// Per read model (checkpoints aside): its row count and an MD5 over its rows as JSON, in order.
pub async fn digest(pool: &PgPool) -> anyhow::Result<BTreeMap<&'static str, String>> {
    let mut digests = BTreeMap::new();
    for table in buendel_projector::TABLES {
        if table == "checkpoints" {
            continue;
        }
        let statement = format!(
            "SELECT count(*)::text || ':' || coalesce(md5(string_agg(j, '|' ORDER BY j)), '') \
             FROM (SELECT to_jsonb(t)::text AS j FROM {table} t) s"
        );
        let digest: String = sqlx::query_scalar(&statement)
            .fetch_one(pool)
            .await
            .with_context(|| format!("digesting {table}"))?;
        digests.insert(table, digest);
    }
    Ok(digests)
}

/// Waits until the projector has projected every stream to its end.
pub async fn projected(store: &EventStore, pool: &PgPool, limit: Duration) -> anyhow::Result<()> {
    let mut targets = Vec::new();
    for kind in buendel_projector::STREAMS {
        targets.push((kind, store.stream_last_sequence(kind).await?));
    }
    poll("the projector to replay every stream", limit, || async {
        for (kind, last) in &targets {
            let checkpoint = buendel_projector::checkpoint::checkpoint(pool, *kind)
                .await
                .ok()?;
            if checkpoint < *last {
                return None;
            }
        }
        Some(())
    })
    .await
}

/// Compares two digests of the read models.
pub fn compare_rebuild(
    live: &BTreeMap<&'static str, String>,
    rebuilt: &BTreeMap<&'static str, String>,
    findings: &mut Findings,
) {
    findings.rebuild_equal = live == rebuilt;
    for (table, digest) in live {
        let again = rebuilt.get(table).map_or("", String::as_str);
        if again != digest {
            findings.violation(format!(
                "read model {table} differs from its rebuild: {digest} then {again}"
            ));
        }
    }
}
