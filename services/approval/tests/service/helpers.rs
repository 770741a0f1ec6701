//! `spawn_app()`: the approval service alone in a fresh namespace on the real NATS, a way to feed
//! it proposal events (appended to PROPOSALS as the submission service would), to send it
//! commands, and to poll with a deadline.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use uuid::Uuid;

use buendel_approval::app::SERVICE;
use buendel_contract::alliance::{self, AllianceEvent};
use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{
    Applicant, ProjectType, ProposalEvent, Revised, Screened, Submitted, Terms, Withdrawn,
};
use buendel_contract::reply::Reply;
use buendel_contract::review::ReviewEvent;
use buendel_contract::{Envelope, EventKind, Meta, Namespace};
use buendel_runtime::store::Pending;
use buendel_runtime::{CancellationToken, EventStore};

/// How long a test waits for the service to reach a state before failing.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How often it looks.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// The approval service running in its own namespace.
pub struct TestApp {
    /// The namespace of this test.
    pub ns: Namespace,
    /// A NATS connection for requests.
    pub client: async_nats::Client,
    /// The event store of the namespace.
    pub store: EventStore,
    /// Stops the running service.
    shutdown: CancellationToken,
    /// The running service, until stopped.
    task: Option<JoinHandle<anyhow::Result<()>>>,
    /// Removes the namespace if the test ends before [`TestApp::cleanup`].
    guard: buendel_testing::NamespaceGuard,
}

/// Starts the approval service in a fresh namespace.
pub async fn spawn_app() -> TestApp {
    let ns = buendel_testing::fresh_namespace();
    let guard = buendel_testing::NamespaceGuard::new(buendel_testing::nats_url(), ns.clone());
    let client = buendel_runtime::connect::nats(&buendel_testing::nats_url(), "approval-tests")
        .await
        .expect("NATS is running");
    let store = EventStore::new(client.clone(), ns.clone());
    let mut app = TestApp {
        ns,
        client,
        store,
        shutdown: CancellationToken::new(),
        task: None,
        guard,
    };
    app.start();
    app
}

impl TestApp {
    /// Starts (again) the service.
    pub fn start(&mut self) {
        assert!(self.task.is_none(), "already running");
        self.shutdown = CancellationToken::new();
        let run = buendel_approval::run(
            self.client.clone(),
            self.store.clone(),
            buendel_testing::test_clock(),
            self.shutdown.clone(),
        );
        self.task = Some(tokio::spawn(run));
    }

    /// Stops the service and waits until it has.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await
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

    /// Appends proposal events to `<ns>.proposal.<id>`, as the submission service would.
    pub async fn append_proposal(&self, proposal_id: Uuid, events: Vec<ProposalEvent>) {
        self.streams_ready().await;
        let subject = self.ns.subject(StreamKind::Proposals, proposal_id);
        let meta = Meta {
            source: "/test/submission".into(),
            time: buendel_testing::test_now(),
            correlation_id: None,
            causation_id: None,
            actor: "test".into(),
        };
        for event in events {
            let stored = self
                .store
                .load(StreamKind::Proposals, &subject)
                .await
                .expect("proposal loads");
            let last = stored.last().map_or(0, |s| s.sequence);
            let version = stored.len() as u64 + 1;
            let envelope = Envelope::new(
                Uuid::new_v4(),
                proposal_id.to_string(),
                version,
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
        }
    }

    /// Waits until the service has created the streams.
    pub async fn streams_ready(&self) {
        eventually("the streams exist", || async {
            self.store
                .stream(StreamKind::Deadletter)
                .await
                .ok()
                .map(|_| ())
        })
        .await;
    }

    /// Publishes raw bytes onto a proposal subject (what a broken writer might do).
    pub async fn publish_raw_proposal(&self, proposal_id: Uuid, bytes: &[u8]) {
        self.streams_ready().await;
        let subject = self.ns.subject(StreamKind::Proposals, proposal_id);
        self.store
            .publish(&subject, Uuid::new_v4(), Bytes::copy_from_slice(bytes))
            .await
            .expect("published");
    }

    /// The events of one review, in order.
    pub async fn review_events(&self, proposal_id: Uuid) -> Vec<ReviewEvent> {
        let subject = self.ns.subject(StreamKind::Reviews, proposal_id);
        self.store
            .load(StreamKind::Reviews, &subject)
            .await
            .expect("review loads")
            .iter()
            .map(|s| {
                serde_json::from_slice::<Envelope<ReviewEvent>>(&s.payload)
                    .expect("a review event")
                    .event
            })
            .collect()
    }

    /// The events of one alliance, in order.
    pub async fn alliance_events(&self, alliance_id: &str) -> Vec<AllianceEvent> {
        let subject = self
            .ns
            .subject(StreamKind::Reviews, alliance::subject_id(alliance_id));
        self.store
            .load(StreamKind::Reviews, &subject)
            .await
            .expect("alliance loads")
            .iter()
            .map(|s| {
                serde_json::from_slice::<Envelope<AllianceEvent>>(&s.payload)
                    .expect("an alliance event")
                    .event
            })
            .collect()
    }

    /// The types of one review's events, in order.
    pub async fn review_types(&self, proposal_id: Uuid) -> Vec<&'static str> {
        self.review_events(proposal_id)
            .await
            .iter()
            .map(EventKind::event_type)
            .collect()
    }

    /// Waits until the review has `count` events; returns them.
    pub async fn review_with(&self, proposal_id: Uuid, count: usize) -> Vec<ReviewEvent> {
        eventually(
            &format!("{count} events on review {proposal_id}"),
            || async {
                let events = self.review_events(proposal_id).await;
                (events.len() >= count).then_some(events)
            },
        )
        .await
    }

    /// Waits until the service's PROPOSALS consumer has acknowledged every event in the stream.
    pub async fn caught_up(&self) {
        eventually("the PROPOSALS consumer caught up", || async {
            let last = self
                .store
                .stream_last_sequence(StreamKind::Proposals)
                .await
                .ok()?;
            let stream = self.store.stream(StreamKind::Proposals).await.ok()?;
            let name = self.ns.durable(SERVICE, StreamKind::Proposals);
            let mut consumer: PullConsumer = stream.get_consumer(&name).await.ok()?;
            let info = consumer.info().await.ok()?;
            let done = info.delivered.stream_sequence >= last
                && info.num_pending == 0
                && info.num_ack_pending == 0;
            done.then_some(())
        })
        .await;
    }

    /// Deletes the service's durable PROPOSALS consumer: the next start re-reads from the start.
    pub async fn forget_consumer_position(&self) {
        let stream = self
            .store
            .stream(StreamKind::Proposals)
            .await
            .expect("stream");
        let name = self.ns.durable(SERVICE, StreamKind::Proposals);
        stream.delete_consumer(&name).await.expect("deleted");
    }

    /// Sends `<ns>.cmd.approval.<name>` with a fresh command id.
    pub async fn command(&self, name: &str, data: Value) -> Reply {
        self.command_with_id(name, Uuid::new_v4(), data).await
    }

    /// Sends `<ns>.cmd.approval.<name>` with a given command id, retrying until the service answers.
    pub async fn command_with_id(&self, name: &str, command_id: Uuid, data: Value) -> Reply {
        let subject = format!("{}.{name}", self.ns.command_prefix(SERVICE));
        let payload = serde_json::to_vec(&json!({
            "command_id": command_id,
            "actor": "test-operator",
            "data": data,
        }))
        .expect("json");
        eventually(&format!("a reply to {name}"), || async {
            let reply = self
                .client
                .request(subject.clone(), payload.clone().into())
                .await
                .ok()?;
            Some(serde_json::from_slice::<Reply>(&reply.payload).expect("a reply"))
        })
        .await
    }

    /// Registers a small alliance `id` with partners `a`, `b`, `c` (quorum: more than half).
    pub async fn register_small_alliance(&self, id: &str) {
        let reply = self
            .command(
                "register_alliance",
                json!({
                    "alliance_id": id,
                    "name": format!("Testbündnis {id}"),
                    "region": "transition",
                    "partners": [
                        {"id": "a", "name": "A"},
                        {"id": "b", "name": "B"},
                        {"id": "c", "name": "C"},
                    ],
                    "application_deadline": "2027-12-31",
                }),
            )
            .await;
        assert!(reply.is_ok(), "{reply:?}");
    }

    /// A proposal of `alliance_id` submitted and screened as passed; waits until its review opened.
    pub async fn open_review(&self, alliance_id: &str) -> Uuid {
        let proposal_id = Uuid::new_v4();
        self.append_proposal(
            proposal_id,
            vec![
                submitted(proposal_id, alliance_id),
                screened(proposal_id, true),
            ],
        )
        .await;
        self.review_with(proposal_id, 1).await;
        proposal_id
    }
}

/// Polls `probe` until it yields a value, failing the test after [`DEADLINE`].
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
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Terms of 300 000.00 EUR eligible costs at 70 % (the Heidekreis example).
pub fn terms(eligible_cost_cents: i64) -> Terms {
    Terms {
        title: "Ausbildungsbotschafter:innen Heidekreis".into(),
        summary: "Trainees visit schools.".into(),
        project_type: ProjectType::Structure,
        focus_areas: vec!["dual_training".into()],
        districts: vec!["heidekreis".into()],
        planned_start: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
        duration_months: 24,
        eligible_cost_cents: Cents(eligible_cost_cents),
        requested_rate_bp: BasisPoints(7_000),
    }
}

/// `submitted` of a proposal to `alliance_id`.
pub fn submitted(proposal_id: Uuid, alliance_id: &str) -> ProposalEvent {
    ProposalEvent::Submitted(Submitted {
        proposal_id,
        alliance_id: alliance_id.into(),
        applicant: Applicant {
            name: "Bildungswerk Heidekreis e.V.".into(),
            kind: "verein".into(),
            district: "heidekreis".into(),
        },
        terms: terms(30_000_000),
    })
}

/// `screened`, passed or not.
pub fn screened(proposal_id: Uuid, passed: bool) -> ProposalEvent {
    ProposalEvent::Screened(Screened {
        proposal_id,
        passed,
        rules_version: "esf-plus-2021-2027/v1".into(),
        results: vec![],
        subject: None,
    })
}

/// `revised` to new eligible costs.
pub fn revised(proposal_id: Uuid, eligible_cost_cents: i64) -> ProposalEvent {
    ProposalEvent::Revised(Revised {
        proposal_id,
        terms: terms(eligible_cost_cents),
        reason: "costs corrected".into(),
    })
}

/// `withdrawn`.
pub fn withdrawn(proposal_id: Uuid) -> ProposalEvent {
    ProposalEvent::Withdrawn(Withdrawn {
        proposal_id,
        reason: "the applicant withdrew".into(),
    })
}

/// The error code of a refused reply (panics on an accepted one).
pub fn code(reply: &Reply) -> &str {
    reply
        .code()
        .unwrap_or_else(|| panic!("accepted, not refused: {reply:?}"))
}

/// The types of the events an accepted reply names (panics on a refusal).
pub fn types(reply: &Reply) -> Vec<String> {
    match reply {
        Reply::Accepted { events, .. } => events.iter().map(|e| e.event_type.clone()).collect(),
        Reply::Refused { error, .. } => panic!("refused: {error:?}"),
    }
}
