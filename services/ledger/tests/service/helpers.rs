//! `spawn_app()`: the ledger service in a fresh namespace on the real NATS (one or more instances),
//! review events appended to REVIEWS as the approval service would, operator commands over
//! request/reply, the fund as stored, and polling with a deadline.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{Days, NaiveDate};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use uuid::Uuid;

use buendel_contract::deadletter::DeadLetter;
use buendel_contract::ledger::{event_hash, seal, LedgerEvent, GENESIS_HASH};
use buendel_contract::money::{BasisPoints, Cents, Split};
use buendel_contract::namespace::StreamKind;
use buendel_contract::reference::{builtin_alliances, ProgramRules};
use buendel_contract::reply::Reply;
use buendel_contract::review::{
    Closed, GrantDecided, GrantRefused, Opened, QuorumRule, ReviewEvent, StatementIssued, Tally,
    Verdict,
};
use buendel_contract::{Envelope, Meta, Namespace};
use buendel_ledger::app::SERVICE;
use buendel_ledger::domain::Fund;
use buendel_runtime::repository::Loaded;
use buendel_runtime::store::Pending;
use buendel_runtime::{CancellationToken, EventStore};

/// How long a test waits for the service to reach a state before failing.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// How often it looks.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// NON's fund.
pub const NON: &str = "non-2021-2027";
/// SON's fund.
pub const SON: &str = "son-2021-2027";

/// One running ledger instance.
struct Instance {
    /// Stops it.
    shutdown: CancellationToken,
    /// Its task.
    task: JoinHandle<anyhow::Result<()>>,
}

/// The ledger service running in its own namespace.
pub struct TestApp {
    /// The namespace of this test.
    pub ns: Namespace,
    /// A NATS connection for requests.
    pub client: async_nats::Client,
    /// The event store of the namespace.
    pub store: EventStore,
    /// The running instances.
    instances: Vec<Instance>,
    /// Removes the namespace if the test ends before [`TestApp::cleanup`].
    guard: buendel_testing::NamespaceGuard,
}

/// Starts one ledger instance in a fresh namespace; ready when this returns.
pub async fn spawn_app() -> TestApp {
    let ns = buendel_testing::fresh_namespace();
    let guard = buendel_testing::NamespaceGuard::new(buendel_testing::nats_url(), ns.clone());
    let url = buendel_testing::nats_url();
    let client = buendel_runtime::connect::nats(&url, "ledger-tests")
        .await
        .expect("NATS is running");
    let store = EventStore::new(client.clone(), ns.clone());
    let mut app = TestApp {
        ns,
        client,
        store,
        instances: Vec::new(),
        guard,
    };
    app.start_instance().await;
    app
}

/// The business date the service uses.
pub fn today() -> NaiveDate {
    buendel_testing::test_date()
}

/// A commitment deadline comfortably in the future.
pub fn deadline() -> NaiveDate {
    today().checked_add_days(Days::new(365)).expect("a date")
}

impl TestApp {
    /// Starts one more instance (its own NATS connection), ready when this returns.
    pub async fn start_instance(&mut self) {
        let url = buendel_testing::nats_url();
        let client = buendel_runtime::connect::nats(&url, "ledger-instance")
            .await
            .expect("NATS is running");
        let store = EventStore::new(client.clone(), self.ns.clone());
        let shutdown = CancellationToken::new();
        let task = buendel_ledger::start(
            client,
            store,
            buendel_testing::test_clock(),
            buendel_ledger::Commit::default(),
            shutdown.clone(),
        )
        .await
        .expect("ledger starts");
        self.instances.push(Instance { shutdown, task });
    }

    /// Stops every instance and waits until they have.
    pub async fn stop(&mut self) {
        for instance in self.instances.drain(..) {
            instance.shutdown.cancel();
            instance
                .task
                .await
                .expect("service task did not panic")
                .expect("service stopped cleanly");
        }
    }

    /// Stops the service and deletes the namespace's streams.
    pub async fn cleanup(mut self) {
        self.stop().await;
        self.store.delete_streams().await.expect("streams deleted");
        self.guard.disarm();
    }

    /// Sends an operator command with a fresh command id.
    pub async fn command(&self, name: &str, data: Value) -> Reply {
        self.command_with_id(name, Uuid::new_v4(), data).await
    }

    /// Sends an operator command with a given command id.
    pub async fn command_with_id(&self, name: &str, command_id: Uuid, data: Value) -> Reply {
        self.command_as(name, command_id, "test-operator", data)
            .await
    }

    /// Sends a command as `actor` with a given command id.
    pub async fn command_as(
        &self,
        name: &str,
        command_id: Uuid,
        actor: &str,
        data: Value,
    ) -> Reply {
        let payload = json!({"command_id": command_id, "actor": actor, "data": data});
        self.raw_command(name, serde_json::to_vec(&payload).expect("json"))
            .await
    }

    /// Sends raw bytes as a command.
    pub async fn raw_command(&self, name: &str, payload: Vec<u8>) -> Reply {
        let subject = format!("{}.{name}", self.ns.command_prefix(SERVICE));
        let reply = self
            .client
            .request(subject, Bytes::from(payload))
            .await
            .expect("a reply");
        serde_json::from_slice(&reply.payload).expect("a reply is JSON")
    }

    /// Allocates a fund's budget and checks it was accepted.
    pub async fn allocate(&self, fund_id: &str, esf: i64, land: i64) {
        let reply = self
            .command(
                "allocate_budget",
                json!({
                    "fund_id": fund_id,
                    "esf_cents": esf,
                    "land_cents": land,
                    "commit_deadline": deadline().to_string(),
                }),
            )
            .await;
        assert!(reply.is_ok(), "allocation refused: {reply:?}");
    }

    /// Appends review events to `<ns>.review.<proposal_id>` as the approval service would, and
    /// returns their event ids.
    pub async fn append_review(&self, proposal_id: Uuid, events: Vec<ReviewEvent>) -> Vec<Uuid> {
        let subject = self.ns.subject(StreamKind::Reviews, proposal_id);
        let meta = Meta {
            source: "/test/approval".into(),
            time: buendel_testing::test_now(),
            correlation_id: Some(proposal_id.to_string()),
            causation_id: None,
            actor: "test".into(),
        };
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            let stored = self
                .store
                .load(StreamKind::Reviews, &subject)
                .await
                .expect("review loads");
            let last = stored.last().map_or(0, |s| s.sequence);
            let envelope = Envelope::new(
                Uuid::new_v4(),
                proposal_id.to_string(),
                stored.len() as u64 + 1,
                event,
                &meta,
            );
            let pending = Pending {
                id: envelope.id,
                payload: Bytes::from(serde_json::to_vec(&envelope).expect("json")),
            };
            self.store
                .append(&subject, last, &[pending])
                .await
                .expect("appended");
            ids.push(envelope.id);
        }
        ids
    }

    /// Appends ledger events to a fund's subject directly, sealed into its chain under `cause`, as
    /// a writer that skips the Fund's rules (a bug, a forger) would. Returns their event ids.
    pub async fn append_ledger_raw(
        &self,
        fund_id: &str,
        cause: &str,
        events: Vec<LedgerEvent>,
    ) -> Vec<Uuid> {
        let subject = self.ns.subject(StreamKind::Ledger, fund_id);
        let meta = Meta {
            source: "/test/forger".into(),
            time: buendel_testing::test_now(),
            correlation_id: None,
            causation_id: Some(cause.to_owned()),
            actor: "test".into(),
        };
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            let stored = self
                .store
                .load(StreamKind::Ledger, &subject)
                .await
                .expect("fund loads");
            let last = stored.last().map_or(0, |s| s.sequence);
            let prevhash = stored.last().map_or(GENESIS_HASH.to_owned(), |s| {
                let value: Value = serde_json::from_slice(&s.payload).expect("json");
                value["hash"].as_str().expect("sealed").to_owned()
            });
            let mut envelope = Envelope::new(
                Uuid::new_v4(),
                fund_id,
                stored.len() as u64 + 1,
                event,
                &meta,
            );
            envelope.causationid = Some(cause.to_owned());
            seal(&mut envelope, &prevhash).expect("sealed");
            let pending = Pending {
                id: envelope.id,
                payload: Bytes::from(serde_json::to_vec(&envelope).expect("json")),
            };
            self.store
                .append(&subject, last, &[pending])
                .await
                .expect("appended");
            ids.push(envelope.id);
        }
        ids
    }

    /// Publishes bytes on a subject of REVIEWS under a fresh message id (a duplicate of an event
    /// the approval service wrote, or what a broken writer might publish).
    pub async fn publish_review_raw(&self, aggregate: &str, payload: Vec<u8>) {
        let subject = self.ns.subject(StreamKind::Reviews, aggregate);
        self.store
            .publish(&subject, Uuid::new_v4(), Bytes::from(payload))
            .await
            .expect("published");
    }

    /// The stored bytes of one review event.
    pub async fn review_bytes(&self, proposal_id: Uuid, event_id: Uuid) -> Vec<u8> {
        let subject = self.ns.subject(StreamKind::Reviews, proposal_id);
        let stored = self
            .store
            .load(StreamKind::Reviews, &subject)
            .await
            .expect("review loads");
        stored
            .into_iter()
            .find(|s| {
                serde_json::from_slice::<Value>(&s.payload).expect("json")["id"]
                    == event_id.to_string()
            })
            .expect("the event is stored")
            .payload
            .to_vec()
    }

    /// Waits until the saga's durable consumer has acknowledged every REVIEWS message.
    pub async fn saga_idle(&self) {
        let name = self.ns.durable(SERVICE, StreamKind::Reviews);
        eventually("the saga has acked every review event", || async {
            let last = self
                .store
                .stream_last_sequence(StreamKind::Reviews)
                .await
                .ok()?;
            let stream = self.store.stream(StreamKind::Reviews).await.ok()?;
            let info = stream.consumer_info(&name).await.ok()?;
            let idle = info.num_pending == 0
                && info.num_ack_pending == 0
                && info.delivered.stream_sequence >= last;
            idle.then_some(())
        })
        .await;
    }

    /// Deletes the saga's durable consumer (the next instance reads REVIEWS from sequence 1).
    pub async fn delete_saga_consumer(&self) {
        let name = self.ns.durable(SERVICE, StreamKind::Reviews);
        let stream = self
            .store
            .stream(StreamKind::Reviews)
            .await
            .expect("REVIEWS exists");
        stream
            .delete_consumer(&name)
            .await
            .expect("consumer deleted");
    }

    /// The fund as stored (not cached).
    pub async fn fund(&self, fund_id: &str) -> Arc<Loaded<Fund>> {
        buendel_ledger::fund_repository(self.store.clone())
            .reload(fund_id)
            .await
            .expect("fund loads")
    }

    /// Every stored event of a fund, in order.
    pub async fn fund_events(&self, fund_id: &str) -> Vec<Envelope<LedgerEvent>> {
        let subject = self.ns.subject(StreamKind::Ledger, fund_id);
        self.store
            .load(StreamKind::Ledger, &subject)
            .await
            .expect("fund loads")
            .iter()
            .map(|s| serde_json::from_slice(&s.payload).expect("a ledger event"))
            .collect()
    }

    /// The dead letters of the ledger service.
    pub async fn dead_letters(&self) -> Vec<DeadLetter> {
        let subject = self.ns.subject(StreamKind::Deadletter, SERVICE);
        self.store
            .load(StreamKind::Deadletter, &subject)
            .await
            .expect("dead letters load")
            .iter()
            .map(|s| serde_json::from_slice(&s.payload).expect("a dead letter"))
            .collect()
    }

    /// Waits for a dead letter with `code` and returns it.
    pub async fn dead_letter(&self, code: &str) -> DeadLetter {
        eventually(&format!("a dead letter {code}"), || async {
            self.dead_letters()
                .await
                .into_iter()
                .find(|letter| letter.code == code)
        })
        .await
    }

    /// Checks the hash chain of every fund in LEDGER, from the stored bytes: the first event links
    /// to the genesis value, each next one to the previous `hash`, and every `hash` recomputes.
    /// Returns how many events were verified.
    pub async fn assert_chains_verify(&self) -> usize {
        let last = self
            .store
            .stream_last_sequence(StreamKind::Ledger)
            .await
            .expect("LEDGER exists");
        let stored = self
            .store
            .read(
                StreamKind::Ledger,
                &self.ns.stream_subjects(StreamKind::Ledger),
                1,
                last,
            )
            .await
            .expect("LEDGER reads");
        let mut previous: BTreeMap<String, String> = BTreeMap::new();
        for message in &stored {
            let value: Value = serde_json::from_slice(&message.payload).expect("json");
            let hash = value["hash"].as_str().expect("every event has a hash");
            let prevhash = value["prevhash"]
                .as_str()
                .expect("every event has a prevhash");
            let expected = previous
                .get(&message.subject)
                .map_or(GENESIS_HASH, String::as_str);
            assert_eq!(
                prevhash, expected,
                "event {} of {} does not link to its predecessor",
                message.sequence, message.subject
            );
            assert_eq!(
                event_hash(&value).expect("canonical"),
                hash,
                "event {} of {} does not hash to its hash",
                message.sequence,
                message.subject
            );
            previous.insert(message.subject.clone(), hash.to_owned());
        }
        stored.len()
    }
}

/// Polls `probe` until it returns `Some`, or fails after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Eligible costs of the standard test proposal: 10 000.00 EUR.
pub const ELIGIBLE_CENTS: i64 = 1_000_000;
/// Its requested total rate: 70 %.
pub const RATE_BP: u32 = 7_000;

/// The split of the standard test proposal in NON (ESF+ capped at 60 %): 6 000 + 1 000 EUR.
pub fn standard_split() -> Split {
    Split::compute(
        Cents(ELIGIBLE_CENTS),
        BasisPoints(RATE_BP),
        BasisPoints(6_000),
    )
    .expect("splits")
}

/// A review opened for `alliance_id` with the standard request.
pub fn opened(proposal_id: Uuid, alliance_id: &str) -> ReviewEvent {
    opened_with(proposal_id, alliance_id, ELIGIBLE_CENTS, RATE_BP)
}

/// A review opened for `alliance_id` with eligible costs and a requested rate.
pub fn opened_with(proposal_id: Uuid, alliance_id: &str, eligible: i64, rate: u32) -> ReviewEvent {
    let alliance = builtin_alliances()
        .into_iter()
        .find(|a| a.id == alliance_id)
        .expect("a built-in alliance");
    let rules = ProgramRules::esf_plus_2021_2027();
    ReviewEvent::Opened(Opened {
        proposal_id,
        alliance_id: alliance.id.clone(),
        partners: alliance.partners.clone(),
        quorum: QuorumRule::default(),
        region: alliance.region,
        eligible_cost_cents: Cents(eligible),
        requested_rate_bp: BasisPoints(rate),
        rules_version: rules.version.clone(),
        max_total_rate_bp: rules.max_total_rate_bp,
        max_esf_rate_bp: rules.max_esf_rate(alliance.region),
        eligible_from: rules.eligible_from,
        eligible_until: rules.eligible_until,
    })
}

/// The alliance's statement.
pub fn statement(proposal_id: Uuid, verdict: Verdict) -> ReviewEvent {
    ReviewEvent::StatementIssued(StatementIssued {
        money: None,
        proposal_id,
        verdict,
        conditions: vec![],
        tally: Tally {
            yes: 10,
            no: 1,
            abstain: 0,
            recused: 0,
            eligible: 14,
        },
        quorum_met: true,
    })
}

/// The bank's grant of `eligible` costs at 70 % (60 % ESF+).
pub fn grant(proposal_id: Uuid, eligible: i64) -> ReviewEvent {
    let split =
        Split::compute(Cents(eligible), BasisPoints(RATE_BP), BasisPoints(6_000)).expect("splits");
    ReviewEvent::GrantDecided(GrantDecided {
        fund: None,
        proposal_id,
        bank_reference: format!("NB-{}", &proposal_id.simple().to_string()[..8]),
        eligible_cost_cents: Cents(eligible),
        total_rate_bp: BasisPoints(RATE_BP),
        esf_rate_bp: BasisPoints(6_000),
        esf_cents: split.esf_cents,
        land_cents: split.land_cents,
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).expect("date"),
        period_to: NaiveDate::from_ymd_opt(2026, 12, 31).expect("date"),
        amendment: None,
    })
}

/// The bank's refusal.
pub fn refused(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::GrantRefused(GrantRefused {
        fund: None,
        proposal_id,
        bank_reference: "NB-REF".into(),
        reason: "budget line closed".into(),
    })
}

/// The withdrawal's closing of the review.
pub fn closed(proposal_id: Uuid) -> ReviewEvent {
    ReviewEvent::Closed(Closed {
        fund: None,
        proposal_id,
        reason: "withdrawn by the applicant".into(),
    })
}

/// The events of a fund, grouped by cause in order of appearance: (cause, event types).
pub fn causes(events: &[Envelope<LedgerEvent>]) -> Vec<(String, Vec<&'static str>)> {
    let mut out: Vec<(String, Vec<&'static str>)> = Vec::new();
    for envelope in events {
        let cause = envelope
            .causationid
            .clone()
            .expect("every event names its cause");
        match out.last_mut() {
            Some((last, types)) if *last == cause => types.push(envelope.event_type()),
            _ => out.push((cause, vec![envelope.event_type()])),
        }
    }
    out
}

/// Asserts no cause appears in two separate bookings of a fund.
pub fn assert_each_cause_once(events: &[Envelope<LedgerEvent>]) {
    let grouped = causes(events);
    let mut seen = std::collections::BTreeSet::new();
    for (cause, _) in &grouped {
        assert!(seen.insert(cause.clone()), "cause {cause} booked twice");
    }
}
