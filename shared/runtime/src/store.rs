//! The JetStream event store: the system of record.
//!
//! Streams are file-backed, `deny_delete`, `deny_purge`, no rollup, no age or size limits, with an
//! explicit duplicate window; a stream that exists with weaker settings is refused, never used.
//! An append publishes to one subject per aggregate with `Nats-Expected-Last-Subject-Sequence`
//! (optimistic concurrency) and `Nats-Msg-Id` = event id (dedupe inside the window). A load reads one
//! subject with an ordered consumer, which leaves no durable state on the server.
//!
//! A decision of several events is appended all or nothing: on a server with atomic batches
//! (2.12+, detected at connect, streams created with `allow_atomic`) as one batch (ADR-50) whose
//! first message carries the expected subject sequence; on an older server the caller records the
//! decision whole first ([`EventStore::record_decision`]) and any process completes one cut short
//! (see [`crate::repository`]).
//!
//! Fault seams ([`EventStore::arm`]), used only by tests, make the next append on a subject fail
//! between two events of a decision, or lose its acknowledgement after it was stored.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures::StreamExt as _;
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_contract::Namespace;

/// JetStream drops a re-publish of the same `Nats-Msg-Id` inside this window. Idempotency beyond it
/// comes from the aggregates' cause index (see [`crate::repository`]).
pub const DUPLICATE_WINDOW_S: u64 = 120;
/// INTAKE's duplicate window: the shortest the server allows. A publisher re-sending an event under
/// the same `Nats-Msg-Id` with another body must reach the submission service, which tells an exact
/// repeat (booked once, through the cause index) from a conflicting one (dead-lettered, see
/// [`EventStore::receipt`]); inside the window the server drops the second body and answers the
/// publisher `duplicate`, so the window is kept as short as it goes.
pub const INTAKE_DUPLICATE_WINDOW_MS: u64 = 100;
/// Atomic batches one process keeps open at once (the server allows 50 per stream, 1,000 in all).
pub const BATCHES_IN_FLIGHT_MAX: usize = 32;
/// How often a batch the server had no room for is tried again.
pub const BATCH_RETRIES_MAX: u32 = 8;
/// The first backoff before such a retry; it doubles each time (at most 64 times this).
pub const BATCH_BACKOFF_MIN_MS: u64 = 5;
/// How long the server may take to answer the start or the commit of an atomic batch.
pub const BATCH_REPLY_TIMEOUT_MS: u64 = 10_000;
/// How long one load may take before it is reported as unavailable.
pub const LOAD_TIMEOUT_MS: u64 = 30_000;

/// What can go wrong in the store, by kind, so callers can react to each deliberately.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else appended to the aggregate first: reload and decide again.
    #[error("conflict on {subject}: expected last sequence {expected}")]
    Conflict {
        /// The aggregate subject.
        subject: String,
        /// The last sequence we expected.
        expected: u64,
    },
    /// A stream exists with settings weaker than we require.
    #[error("stream {stream} exists with unsafe settings: {}", problems.join("; "))]
    WeakStream {
        /// The stream.
        stream: String,
        /// Every setting that is wrong.
        problems: Vec<String>,
    },
    /// A stored message cannot be read as an event.
    #[error("stored message {sequence} on {subject} is unreadable: {reason}")]
    Corrupt {
        /// The subject.
        subject: String,
        /// The stream sequence.
        sequence: u64,
        /// Why.
        reason: String,
    },
    /// NATS failed or timed out: transient, retry later.
    #[error("NATS unavailable: {0}")]
    Unavailable(String),
    /// The server did not take an atomic batch (`retry`: for lack of room, try again).
    #[error("batch refused: {reason}")]
    BatchRefused {
        /// Whether a new batch may succeed (the server had no room).
        retry: bool,
        /// What the server said.
        reason: String,
    },
}

impl StoreError {
    fn unavailable(error: impl std::fmt::Display) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

/// One stored message: its stream sequence and its bytes as published.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Stream sequence.
    pub sequence: u64,
    /// The subject it was published on.
    pub subject: String,
    /// The bytes as published.
    pub payload: Bytes,
    /// The W3C trace context in its headers ([`crate::trace`]), if any.
    pub trace: Option<crate::trace::TraceContext>,
}

/// One event to append: its id (the `Nats-Msg-Id`) and its JSON bytes.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The event id.
    pub id: Uuid,
    /// The serialized envelope.
    pub payload: Bytes,
}

/// The server-side limits of a durable consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerLimits {
    /// How long the server waits for an ack before redelivering.
    pub ack_wait_ms: u64,
    /// Unacknowledged messages at most.
    pub ack_pending_max: i64,
    /// Deliveries of one message at most.
    pub max_deliver: i64,
}

/// The receipt of an intake event id: the digest of the first body accepted under it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    /// The CloudEvents id.
    pub event_id: Uuid,
    /// SHA-256 (hex) of the RFC 8785 canonical JSON of the body, so whitespace and member order
    /// do not make two copies of one event differ.
    pub sha256: String,
    /// Where that body is in INTAKE.
    pub intake_sequence: u64,
}

/// A decision of several events, recorded whole before they are appended one by one (servers
/// without atomic batches): whoever loads the aggregate next completes it if it was cut short.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecisionRecord {
    /// The cause the decision answers (the events' `causationid`).
    pub cause: String,
    /// The aggregate subject.
    pub subject: String,
    /// The subject sequence the first event expects.
    pub expected_last: u64,
    /// The events in order: id and the exact JSON bytes (as text) to store.
    pub events: Vec<RecordedEvent>,
}

/// One event of a [`DecisionRecord`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordedEvent {
    /// The event id (its `Nats-Msg-Id`).
    pub id: Uuid,
    /// The envelope exactly as it is to be stored.
    pub payload: String,
}

/// A fault a test arms on the store: it fires once, on the next append to a matching subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The append stops after this many events of a decision were sent, as if the process died
    /// there (an atomic batch is never committed; a sequential append leaves the rest unwritten).
    CrashAfterEvents(usize),
    /// The append is stored but its acknowledgement is lost: the caller sees an error.
    LoseAck,
    /// The next append of more than this many events fails before anything is sent (a group
    /// commit's batch lost whole); smaller appends pass and leave it armed.
    FailBatchOver(usize),
}

/// Messages one batched direct get asks for: the whole history of a proposal or a review (a fund's
/// is read on with an ordered consumer).
const DIRECT_BATCH_MAX: usize = 64;

/// The armed fault, if any, and the subject prefix it fires on.
type Armed = Arc<Mutex<Option<(String, Fault)>>>;

/// What the connected server can do, detected from its version at connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// JetStream atomic batch publish (2.12+).
    pub atomic_batch: bool,
    /// Batched direct gets (2.11+): the messages of a subject from a sequence on, in one request.
    pub batch_get: bool,
}

impl Capabilities {
    /// The capabilities of a server that reports `version` (`2.12.8`, `v2.10.26`, `2.12.0-RC.1`).
    pub fn of_version(version: &str) -> Self {
        let numbers: Vec<u64> = version
            .trim_start_matches('v')
            .split(['.', '-'])
            .take(2)
            .map(|part| part.parse().unwrap_or(0))
            .collect();
        let (major, minor) = (
            numbers.first().copied().unwrap_or(0),
            numbers.get(1).copied().unwrap_or(0),
        );
        Self {
            atomic_batch: (major, minor) >= (2, 12),
            batch_get: (major, minor) >= (2, 11),
        }
    }
}

/// The event store of one namespace.
#[derive(Clone)]
pub struct EventStore {
    /// The JetStream context all calls go through.
    js: jetstream::Context,
    /// Names every stream and subject.
    ns: Namespace,
    /// Stream replicas to create with (1 on a laptop, 3 on a cluster).
    replicas: usize,
    /// What the server can do (atomic batches or not).
    capabilities: Capabilities,
    /// A fault armed by a test (never armed in the services).
    armed: Armed,
    /// Atomic batches this process has open at once (the server takes at most 50 per stream).
    batches: Arc<tokio::sync::Semaphore>,
    /// Only check the streams, never create or change them (a service with its own credentials;
    /// `buendel migrate` creates them).
    check_only: bool,
    /// The services over this store take only commands whose actor the subject names
    /// (`BUENDEL_ACTORS=authenticated`, see [`crate::micro`]).
    authenticated_actors: bool,
}

impl EventStore {
    /// An event store over a NATS connection; the server's capabilities are read from its version.
    pub fn new(client: async_nats::Client, ns: Namespace) -> Self {
        let capabilities = Capabilities::of_version(&client.server_info().version);
        Self {
            js: jetstream::new(client),
            ns,
            replicas: 1,
            capabilities,
            armed: Arc::default(),
            batches: Arc::new(tokio::sync::Semaphore::new(BATCHES_IN_FLIGHT_MAX)),
            check_only: false,
            authenticated_actors: false,
        }
    }

    /// Overrides the detected capabilities (to run the portable path on a new server).
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// What the server can do, as this store uses it.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// Arms a fault for the next append to a subject starting with `subject_prefix` (tests only).
    pub fn arm(&self, subject_prefix: impl Into<String>, fault: Fault) {
        if let Ok(mut armed) = self.armed.lock() {
            *armed = Some((subject_prefix.into(), fault));
        }
    }

    /// Takes the armed fault if it fires on `subject`.
    fn fault_for(&self, subject: &str, events: usize) -> Option<Fault> {
        let mut armed = self.armed.lock().ok()?;
        match &*armed {
            Some((_, Fault::FailBatchOver(n))) if events <= *n => None,
            Some((prefix, _)) if subject.starts_with(prefix.as_str()) => {
                armed.take().map(|(_, f)| f)
            }
            _ => None,
        }
    }

    /// [`EventStore::ensure_streams`] only checks: a missing stream, or one that needs a change,
    /// is an error that names `buendel migrate`.
    pub fn check_only(mut self, check_only: bool) -> Self {
        self.check_only = check_only;
        self
    }

    /// The services over this store serve only commands on `<command>.as.<identity>`.
    pub fn require_authenticated_actors(mut self, required: bool) -> Self {
        self.authenticated_actors = required;
        self
    }

    /// Whether [`EventStore::require_authenticated_actors`] is set.
    pub fn authenticated_actors_required(&self) -> bool {
        self.authenticated_actors
    }

    /// Sets the replica count new streams are created with.
    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// The namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    /// The JetStream context (for consumers).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The configuration we require of a stream.
    pub fn stream_config(&self, kind: StreamKind) -> stream::Config {
        stream::Config {
            name: self.ns.stream(kind),
            subjects: vec![self.ns.stream_subjects(kind)],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            max_messages: -1,
            max_bytes: -1,
            max_messages_per_subject: -1,
            max_age: Duration::ZERO,
            max_message_size: 1024 * 1024,
            num_replicas: self.replicas,
            duplicate_window: match kind {
                StreamKind::Intake => Duration::from_millis(INTAKE_DUPLICATE_WINDOW_MS),
                _ => Duration::from_secs(DUPLICATE_WINDOW_S),
            },
            allow_rollup: false,
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            allow_atomic_publish: self.capabilities.atomic_batch,
            description: Some(format!("Bündel {} ({})", kind.suffix(), self.ns)),
            ..Default::default()
        }
    }

    /// Creates the streams, or verifies that existing ones are at least as safe as required.
    pub async fn ensure_streams(&self, kinds: &[StreamKind]) -> Result<(), StoreError> {
        for &kind in kinds {
            let wanted = self.stream_config(kind);
            match self.js.get_stream(&wanted.name).await {
                Ok(mut existing) => {
                    let info = existing.info().await.map_err(StoreError::unavailable)?;
                    let problems = weaknesses(&wanted, &info.config);
                    if !problems.is_empty() {
                        return Err(StoreError::WeakStream {
                            stream: wanted.name,
                            problems,
                        });
                    }
                    let shorter_window = kind == StreamKind::Intake
                        && info.config.duplicate_window > wanted.duplicate_window;
                    let atomic = wanted.allow_atomic_publish && !info.config.allow_atomic_publish;
                    if (shorter_window || atomic) && self.check_only {
                        return Err(StoreError::WeakStream {
                            stream: wanted.name,
                            problems: vec![
                                "its settings are older than this version's: run `buendel migrate`"
                                    .into(),
                            ],
                        });
                    }
                    if shorter_window || atomic {
                        // A stream created before conflicting duplicates were told apart, or on an
                        // older server: shorten INTAKE's window, allow atomic batches (the only
                        // settings we change on an existing stream).
                        let mut updated = info.config.clone();
                        if shorter_window {
                            updated.duplicate_window = wanted.duplicate_window;
                        }
                        updated.allow_atomic_publish |= wanted.allow_atomic_publish;
                        self.js
                            .update_stream(updated)
                            .await
                            .map_err(StoreError::unavailable)?;
                    }
                }
                Err(error) if is_not_found(&error) && self.check_only => {
                    return Err(StoreError::Unavailable(format!(
                        "stream {} does not exist: run `buendel migrate` first",
                        wanted.name
                    )));
                }
                Err(error) if is_not_found(&error) => {
                    let name = wanted.name.clone();
                    if let Err(create_error) = self.js.create_stream(wanted.clone()).await {
                        // Several services start at once and race to create the same stream:
                        // if another one won, verify its stream like any existing one.
                        let mut existing = self
                            .js
                            .get_stream(&name)
                            .await
                            .map_err(|_| StoreError::unavailable(create_error))?;
                        let info = existing.info().await.map_err(StoreError::unavailable)?;
                        let problems = weaknesses(&wanted, &info.config);
                        if !problems.is_empty() {
                            return Err(StoreError::WeakStream {
                                stream: name,
                                problems,
                            });
                        }
                    }
                }
                Err(error) => return Err(StoreError::unavailable(error)),
            }
        }
        Ok(())
    }

    /// Deletes every stream of the namespace (tests clean up after themselves; never in services).
    pub async fn delete_streams(&self) -> Result<(), StoreError> {
        for kind in StreamKind::ALL {
            let _missing_is_fine = self.js.delete_stream(self.ns.stream(kind)).await;
        }
        Ok(())
    }

    /// Appends events to one aggregate subject, in order, expecting `expected_last` as the stream
    /// sequence of the aggregate's last event (0 for a new aggregate). Returns the stream sequence
    /// of each appended event.
    ///
    /// Several events go as one atomic batch where the server has them; otherwise one by one, each
    /// expecting the previous one's sequence (the caller records the decision first, see
    /// [`EventStore::record_decision`]).
    pub async fn append(
        &self,
        subject: &str,
        expected_last: u64,
        events: &[Pending],
    ) -> Result<Vec<u64>, StoreError> {
        let fault = self.fault_for(subject, events.len());
        if let Some(Fault::FailBatchOver(_)) = fault {
            return Err(StoreError::Unavailable(format!(
                "fault seam: the batch of {} events was lost",
                events.len()
            )));
        }
        let sent = match fault {
            Some(Fault::CrashAfterEvents(n)) => n.min(events.len()),
            _ => events.len(),
        };
        let result = if events.len() > 1 && self.capabilities.atomic_batch {
            self.append_batch_retrying(subject, expected_last, events, sent)
                .await
        } else {
            self.append_each(subject, expected_last, &events[..sent])
                .await
        };
        match (fault, result) {
            (Some(Fault::CrashAfterEvents(n)), Ok(_)) => Err(StoreError::Unavailable(format!(
                "fault seam: the append stopped after {n} of {} events",
                events.len()
            ))),
            (Some(Fault::LoseAck), Ok(_)) => Err(StoreError::Unavailable(
                "fault seam: the append was stored, its acknowledgement lost".into(),
            )),
            (_, result) => result,
        }
    }

    /// One event after the other, each expecting the previous one's sequence.
    async fn append_each(
        &self,
        subject: &str,
        expected_last: u64,
        events: &[Pending],
    ) -> Result<Vec<u64>, StoreError> {
        let mut expected = expected_last;
        let mut sequences = Vec::with_capacity(events.len());
        let trace = crate::trace::current().map(|c| c.to_string());
        for event in events {
            let mut publish = jetstream::message::PublishMessage::build()
                .payload(event.payload.clone())
                .message_id(event.id.to_string())
                .expected_last_subject_sequence(expected);
            if let Some(trace) = &trace {
                publish = publish.header(crate::trace::HEADER, trace.as_str());
            }
            let ack = self
                .js
                .send_publish(subject.to_owned(), publish)
                .await
                .map_err(|e| publish_error(e, subject, expected))?
                .await
                .map_err(|e| publish_error(e, subject, expected))?;
            if ack.duplicate {
                // The same event id was stored moments ago (a retry inside the window): the
                // aggregate moved on without us, so reload and decide again.
                return Err(StoreError::Conflict {
                    subject: subject.to_owned(),
                    expected,
                });
            }
            expected = ack.sequence;
            sequences.push(ack.sequence);
        }
        Ok(sequences)
    }

    /// [`EventStore::append_batch`] with at most [`BATCHES_IN_FLIGHT_MAX`] open at once in this
    /// process, and again (a new batch, after a bounded backoff) when the server did not take it
    /// for lack of room: more batches in flight on the stream than it allows (other processes'
    /// too), which it reports as too many in flight or as a batch it does not know.
    async fn append_batch_retrying(
        &self,
        subject: &str,
        expected_last: u64,
        events: &[Pending],
        sent: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let mut attempt = 0;
        loop {
            let result = {
                let _permit = self
                    .batches
                    .acquire()
                    .await
                    .map_err(StoreError::unavailable)?;
                self.append_batch(subject, expected_last, events, sent)
                    .await
            };
            match result {
                Err(StoreError::BatchRefused { retry: true, .. })
                    if attempt < BATCH_RETRIES_MAX =>
                {
                    attempt += 1;
                    let token = subject.split('.').nth(1).unwrap_or_default();
                    let stream = StreamKind::ALL
                        .iter()
                        .find(|k| k.token() == token)
                        .map_or("", |k| k.suffix());
                    crate::metrics::count(
                        crate::metrics::APPEND_RETRIES_TOTAL,
                        &[("stream", stream)],
                    );
                    tracing::debug!(
                        subject,
                        attempt,
                        "no room for the batch on the server; again"
                    );
                    let delay_ms = BATCH_BACKOFF_MIN_MS.saturating_mul(1 << attempt.min(6));
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                }
                Err(StoreError::BatchRefused { reason, .. }) => {
                    return Err(StoreError::Unavailable(format!("batch refused: {reason}")))
                }
                other => return other,
            }
        }
    }

    /// One atomic batch (ADR-50): the first message expects the subject's last sequence and starts
    /// the batch; the last one commits it and is answered with the ack of the whole (one round
    /// trip). Only the first `sent` messages go out (fewer than all: the fault seam of a process
    /// dying mid-batch; the server abandons an uncommitted batch).
    async fn append_batch(
        &self,
        subject: &str,
        expected_last: u64,
        events: &[Pending],
        sent: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let client = self.js.client();
        let batch = Uuid::new_v4().to_string();
        let count = events.len();
        let trace = crate::trace::current().map(|c| c.to_string());
        for (index, event) in events.iter().enumerate().take(sent) {
            let mut headers = async_nats::HeaderMap::new();
            if let Some(trace) = &trace {
                headers.insert(crate::trace::HEADER, trace.as_str());
            }
            headers.insert("Nats-Batch-Id", batch.as_str());
            headers.insert("Nats-Batch-Sequence", (index + 1).to_string());
            headers.insert("Nats-Msg-Id", event.id.to_string());
            if index == 0 {
                headers.insert(
                    "Nats-Expected-Last-Subject-Sequence",
                    expected_last.to_string(),
                );
            }
            let commit = index + 1 == count;
            if commit {
                headers.insert("Nats-Batch-Commit", "1");
            }
            // Only the commit waits for an answer: the server checks the whole batch there (the
            // expected sequence included) and answers a batch it never saw start as incomplete.
            // One round trip per decision.
            if !commit {
                client
                    .publish_with_headers(subject.to_owned(), headers, event.payload.clone())
                    .await
                    .map_err(StoreError::unavailable)?;
                continue;
            }
            let reply = tokio::time::timeout(
                Duration::from_millis(BATCH_REPLY_TIMEOUT_MS),
                client.request_with_headers(subject.to_owned(), headers, event.payload.clone()),
            )
            .await
            .map_err(|_| StoreError::Unavailable(format!("no answer to a batch on {subject}")))?
            .map_err(StoreError::unavailable)?;
            if let Some(error) = batch_error(&reply.payload, subject, expected_last) {
                return Err(error);
            }
            if commit {
                let ack: jetstream::publish::PublishAck = serde_json::from_slice(&reply.payload)
                    .map_err(|e| StoreError::Unavailable(format!("unreadable batch ack: {e}")))?;
                let first = (ack.sequence + 1)
                    .checked_sub(count as u64)
                    .ok_or_else(|| StoreError::Unavailable("batch ack below its size".into()))?;
                return Ok((first..=ack.sequence).collect());
            }
        }
        Err(StoreError::Unavailable(format!(
            "the batch on {subject} was not committed ({sent} of {count} sent)"
        )))
    }

    /// Records a decision whole on `<ns>.decision.<token>.<aggregate>` before its events are
    /// appended one by one (servers without atomic batches).
    pub async fn record_decision(
        &self,
        kind: StreamKind,
        aggregate: &str,
        record: &DecisionRecord,
    ) -> Result<(), StoreError> {
        let subject = self.decision_subject(kind, aggregate);
        let payload = serde_json::to_vec(record).map_err(StoreError::unavailable)?;
        let id = Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("decision/{}/{}", record.subject, record.expected_last).as_bytes(),
        );
        let publish = jetstream::message::PublishMessage::build()
            .payload(Bytes::from(payload))
            .message_id(id.to_string());
        self.js
            .send_publish(subject, publish)
            .await
            .map_err(StoreError::unavailable)?
            .await
            .map_err(StoreError::unavailable)?;
        Ok(())
    }

    /// The last decision recorded for an aggregate, if any.
    pub async fn last_decision(
        &self,
        kind: StreamKind,
        aggregate: &str,
    ) -> Result<Option<DecisionRecord>, StoreError> {
        let subject = self.decision_subject(kind, aggregate);
        let stream = self.stream(StreamKind::Decisions).await?;
        match stream.get_last_raw_message_by_subject(&subject).await {
            Ok(message) => serde_json::from_slice(&message.payload)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    subject,
                    sequence: message.sequence,
                    reason: e.to_string(),
                }),
            Err(error)
                if error.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
            {
                Ok(None)
            }
            Err(error) => Err(StoreError::unavailable(error)),
        }
    }

    fn decision_subject(&self, kind: StreamKind, aggregate: &str) -> String {
        format!(
            "{}.{}.{aggregate}",
            self.ns
                .stream_subjects(StreamKind::Decisions)
                .trim_end_matches(".>"),
            kind.token()
        )
    }

    /// Publishes a message without concurrency control (intake, dead letters).
    pub async fn publish(
        &self,
        subject: &str,
        id: Uuid,
        payload: Bytes,
    ) -> Result<u64, StoreError> {
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload)
            .message_id(id.to_string());
        let ack = self
            .js
            .send_publish(subject.to_owned(), publish)
            .await
            .map_err(StoreError::unavailable)?
            .await
            .map_err(StoreError::unavailable)?;
        Ok(ack.sequence)
    }

    /// Stores a refused input on `<ns>.deadletter.<source>`, with its id as `Nats-Msg-Id` (so
    /// dead-lettering the same message twice inside the window stores it once).
    pub async fn dead_letter(
        &self,
        letter: &buendel_contract::deadletter::DeadLetter,
    ) -> Result<u64, StoreError> {
        tracing::info!(
            source = letter.source,
            sequence = letter.stream_sequence,
            code = letter.code,
            reasons = letter.reasons.len(),
            "dead-lettered"
        );
        let payload = serde_json::to_vec(letter).map_err(StoreError::unavailable)?;
        let subject = self.ns.subject(StreamKind::Deadletter, &letter.source);
        self.publish(&subject, letter.id, Bytes::from(payload))
            .await
    }

    /// Records `receipt` unless its event id has one already; returns the receipt in force (ours,
    /// or the earlier one). First writer wins: the append expects the subject to be empty.
    pub async fn receipt(&self, receipt: &Receipt) -> Result<Receipt, StoreError> {
        let subject = self.ns.subject(StreamKind::Receipts, receipt.event_id);
        let payload = serde_json::to_vec(receipt).map_err(StoreError::unavailable)?;
        let pending = Pending {
            id: Uuid::new_v5(
                &Uuid::NAMESPACE_OID,
                format!("receipt/{}/{}", receipt.event_id, receipt.sha256).as_bytes(),
            ),
            payload: Bytes::from(payload),
        };
        match self.append(&subject, 0, &[pending]).await {
            Ok(_) => Ok(receipt.clone()),
            Err(StoreError::Conflict { .. }) => {
                let stream = self.stream(StreamKind::Receipts).await?;
                let stored = stream
                    .get_last_raw_message_by_subject(&subject)
                    .await
                    .map_err(StoreError::unavailable)?;
                serde_json::from_slice(&stored.payload).map_err(|e| StoreError::Corrupt {
                    subject,
                    sequence: stored.sequence,
                    reason: e.to_string(),
                })
            }
            Err(other) => Err(other),
        }
    }

    /// The stream sequence of the last message on a subject (0 when there is none).
    pub async fn last_sequence(&self, kind: StreamKind, subject: &str) -> Result<u64, StoreError> {
        let stream = self.stream(kind).await?;
        match stream.get_last_raw_message_by_subject(subject).await {
            Ok(message) => Ok(message.sequence),
            Err(error)
                if error.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
            {
                Ok(0)
            }
            Err(error) => Err(StoreError::unavailable(error)),
        }
    }

    /// The stream sequence of the last message on a subject (0 when there is none), by the server's
    /// direct get: cheaper than [`EventStore::last_sequence`], and on a cluster any replica may answer,
    /// so it may be behind. Only for reads whose staleness an append's expected sequence catches
    /// (the repository's loads); the stream must allow direct gets (ours do).
    pub async fn last_sequence_direct(
        &self,
        kind: StreamKind,
        subject: &str,
    ) -> Result<u64, StoreError> {
        let stream = self
            .js
            .get_stream_no_info(self.ns.stream(kind))
            .await
            .map_err(StoreError::unavailable)?;
        match stream.direct_get_last_for_subject(subject).await {
            Ok(message) => Ok(message.sequence),
            Err(error) if error.kind() == jetstream::stream::DirectGetErrorKind::NotFound => Ok(0),
            Err(error) => Err(StoreError::unavailable(error)),
        }
    }

    /// The message at `sequence` of a stream, from the stream's leader (a replica that is behind
    /// could lack it).
    pub async fn get(&self, kind: StreamKind, sequence: u64) -> Result<Stored, StoreError> {
        // A handle without the stream's info: the get is the only request.
        let stream = self
            .js
            .get_stream_no_info(self.ns.stream(kind))
            .await
            .map_err(StoreError::unavailable)?;
        let message = stream
            .get_raw_message(sequence)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(Stored {
            sequence,
            subject: message.subject.to_string(),
            payload: message.payload,
            trace: None,
        })
    }

    /// Reads every message of one subject, in stream order.
    pub async fn load(&self, kind: StreamKind, subject: &str) -> Result<Vec<Stored>, StoreError> {
        let last = self.last_sequence(kind, subject).await?;
        if last == 0 {
            return Ok(Vec::new());
        }
        self.read(kind, subject, 1, last).await
    }

    /// Reads the messages matching `filter` from `from_seq` up to and including `until_seq`.
    pub async fn read(
        &self,
        kind: StreamKind,
        filter: &str,
        from_seq: u64,
        until_seq: u64,
    ) -> Result<Vec<Stored>, StoreError> {
        let mut out = Vec::new();
        self.scan(kind, filter, from_seq, until_seq, |stored| {
            out.push(stored);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Streams the messages matching `filter` from `from_seq` to `until_seq` into `visit`, with an
    /// ordered consumer (no durable state on the server, gaps and restarts handled by the client).
    ///
    /// `until_seq` must be the sequence of a message that matches `filter` (the last one of an
    /// aggregate, as its leader reported it; the end of a stream every message of which matches):
    /// the read ends there and nowhere before, so a lagging replica cannot make it short, only slow.
    pub async fn scan(
        &self,
        kind: StreamKind,
        filter: &str,
        from_seq: u64,
        until_seq: u64,
        mut visit: impl FnMut(Stored) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if until_seq < from_seq {
            return Ok(());
        }
        let mut from_seq = from_seq;
        if self.capabilities.batch_get {
            match self
                .read_batch(kind, filter, from_seq, until_seq, &mut visit)
                .await?
            {
                None => return Ok(()),
                Some(next) => from_seq = next,
            }
        }
        let stream = self.stream(kind).await?;
        let config = consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from_seq.max(1),
            },
            ..Default::default()
        };
        let consumer = stream
            .create_consumer(config)
            .await
            .map_err(StoreError::unavailable)?;
        let mut messages = consumer.messages().await.map_err(StoreError::unavailable)?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(LOAD_TIMEOUT_MS);
        loop {
            let next = tokio::time::timeout_at(deadline, messages.next())
                .await
                .map_err(|_| StoreError::Unavailable(format!("reading {filter} timed out")))?;
            let Some(message) = next else {
                return Err(StoreError::Unavailable(format!(
                    "reading {filter} ended early"
                )));
            };
            let message = message.map_err(StoreError::unavailable)?;
            let info = message.info().map_err(StoreError::unavailable)?;
            let sequence = info.stream_sequence;
            if sequence > until_seq {
                return Ok(());
            }
            visit(Stored {
                sequence,
                subject: message.subject.to_string(),
                payload: message.payload.clone(),
                trace: crate::trace::from_headers(message.headers.as_ref()),
            })?;
            // Stop at `until_seq` only, not when the consumer reports nothing pending: on a
            // cluster the consumer may sit on a replica that is still catching up (a node that
            // just returned), whose "nothing pending" would silently cut the read short.
            if sequence >= until_seq {
                return Ok(());
            }
        }
    }

    /// The first messages matching `filter` from `from_seq` on, in one batched direct get (2.11+):
    /// the whole history of a proposal or a review in one round trip, where an ordered consumer
    /// costs the server a consumer to create and keep for its inactivity threshold (30 s), which
    /// at 100,000 proposals meant tens of thousands of idle consumers on one stream. `None` when
    /// the read reached `until_seq`; otherwise the sequence to go on from with a consumer (an
    /// aggregate longer than one batch, like a fund, or a replica that answered before it had
    /// caught up).
    async fn read_batch(
        &self,
        kind: StreamKind,
        filter: &str,
        from_seq: u64,
        until_seq: u64,
        visit: &mut impl FnMut(Stored) -> Result<(), StoreError>,
    ) -> Result<Option<u64>, StoreError> {
        let client = self.js.client();
        let inbox = client.new_inbox();
        let mut replies = client
            .subscribe(inbox.clone())
            .await
            .map_err(StoreError::unavailable)?;
        let request = serde_json::json!({
            "seq": from_seq.max(1),
            "next_by_subj": filter,
            "batch": DIRECT_BATCH_MAX,
        });
        client
            .publish_with_reply(
                format!("$JS.API.DIRECT.GET.{}", self.ns.stream(kind)),
                inbox,
                request.to_string().into(),
            )
            .await
            .map_err(StoreError::unavailable)?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(LOAD_TIMEOUT_MS);
        let mut next = from_seq;
        loop {
            let reply = tokio::time::timeout_at(deadline, replies.next())
                .await
                .map_err(|_| StoreError::Unavailable(format!("reading {filter} timed out")))?
                .ok_or_else(|| StoreError::Unavailable(format!("reading {filter} ended early")))?;
            if let Some(status) = reply.status {
                // 204 ends the batch, 404 says nothing matched from `next` on (a replica behind):
                // either way the consumer reads on from where this stopped.
                return match status.as_u16() {
                    204 | 404 => Ok(Some(next)),
                    _ => Err(StoreError::Unavailable(format!(
                        "reading {filter}: {status} {}",
                        reply.description.unwrap_or_default()
                    ))),
                };
            }
            let header = |name: &str| {
                reply
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str().to_owned())
            };
            let sequence = header("Nats-Sequence")
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    StoreError::Unavailable(format!("reading {filter}: a reply without a sequence"))
                })?;
            if sequence > until_seq {
                return Ok(None);
            }
            visit(Stored {
                sequence,
                subject: header("Nats-Subject").unwrap_or_else(|| filter.to_owned()),
                payload: reply.payload.clone(),
                trace: crate::trace::from_headers(reply.headers.as_ref()),
            })?;
            if sequence >= until_seq {
                return Ok(None);
            }
            next = sequence + 1;
        }
    }

    /// The messages of a durable pull consumer named after `service` on a whole stream (explicit
    /// acks, from the first message), created with `limits`, or updated to them where it exists
    /// with others. Every service that reacts to a stream reads it this way
    /// ([`crate::reactor`]), so a restart continues where the last acknowledged message left off.
    pub async fn durable_messages(
        &self,
        kind: StreamKind,
        service: &str,
        limits: ConsumerLimits,
    ) -> Result<consumer::pull::Stream, StoreError> {
        let name = self.ns.durable(service, kind);
        let stream = self.stream(kind).await?;
        let config = consumer::pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: consumer::AckPolicy::Explicit,
            deliver_policy: consumer::DeliverPolicy::All,
            ack_wait: Duration::from_millis(limits.ack_wait_ms),
            max_ack_pending: limits.ack_pending_max,
            max_deliver: limits.max_deliver,
            filter_subject: self.ns.stream_subjects(kind),
            ..Default::default()
        };
        // Create, or update an existing consumer to these limits (servers from 2.10 on); a server
        // that cannot update keeps the consumer as it is, with a warning.
        let consumer: consumer::PullConsumer = match stream.create_consumer(config.clone()).await {
            Ok(consumer) => consumer,
            Err(error) => {
                tracing::warn!(%error, consumer = name, "consumer limits not updated; using it as it is");
                stream.get_consumer(&name).await.map_err(|e| {
                    StoreError::Unavailable(format!("creating consumer {name}: {error}; {e}"))
                })?
            }
        };
        consumer
            .messages()
            .await
            .map_err(|e| StoreError::Unavailable(format!("consuming {name}: {e}")))
    }

    /// The last sequence of a whole stream (0 when empty).
    pub async fn stream_last_sequence(&self, kind: StreamKind) -> Result<u64, StoreError> {
        let mut stream = self.stream(kind).await?;
        let info = stream.info().await.map_err(StoreError::unavailable)?;
        Ok(info.state.last_sequence)
    }

    /// The JetStream handle of one stream.
    pub async fn stream(&self, kind: StreamKind) -> Result<stream::Stream, StoreError> {
        self.js
            .get_stream(self.ns.stream(kind))
            .await
            .map_err(StoreError::unavailable)
    }
}

/// The error in a batch reply, if it is one: a wrong last sequence or a message id already stored is
/// a conflict (reload and decide again), anything else is unavailable.
fn batch_error(payload: &[u8], subject: &str, expected: u64) -> Option<StoreError> {
    if payload.is_empty() {
        return None; // the batch was started
    }
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let error = value.get("error")?;
    let code = error.get("err_code").and_then(serde_json::Value::as_u64);
    let conflict = [
        jetstream::ErrorCode::STREAM_WRONG_LAST_SEQUENCE.0,
        STREAM_WRONG_LAST_SEQUENCE_CONSTANT,
        jetstream::ErrorCode::ATOMIC_PUBLISH_CONTAINS_DUPLICATE_MESSAGE.0,
    ];
    if code.is_some_and(|c| conflict.contains(&c)) {
        return Some(StoreError::Conflict {
            subject: subject.to_owned(),
            expected,
        });
    }
    let no_room = [
        jetstream::ErrorCode::ATOMIC_PUBLISH_TOO_MANY_INFLIGHT.0,
        ATOMIC_PUBLISH_INCOMPLETE_BATCH,
    ];
    Some(StoreError::BatchRefused {
        retry: code.is_some_and(|c| no_room.contains(&c)),
        reason: error.to_string(),
    })
}

/// `JSStreamWrongLastSequenceConstantErr` ("wrong last sequence", without the number): what a
/// batch gets from 2.12 when the subject moved on, a conflict like the numbered one (found by
/// `buendel chaos`: it was reported as unavailable).
const STREAM_WRONG_LAST_SEQUENCE_CONSTANT: u64 = 10_164;

/// `JSAtomicPublishIncompleteBatchErr`: the server does not know the batch, as when it had no room
/// for it when it started.
const ATOMIC_PUBLISH_INCOMPLETE_BATCH: u64 = 10_176;

fn is_not_found(error: &jetstream::context::GetStreamError) -> bool {
    matches!(
        error.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(e)
            if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

fn publish_error(
    error: jetstream::context::PublishError,
    subject: &str,
    expected: u64,
) -> StoreError {
    match error.kind() {
        jetstream::context::PublishErrorKind::WrongLastSequence => StoreError::Conflict {
            subject: subject.to_owned(),
            expected,
        },
        _ => StoreError::unavailable(error),
    }
}

/// Every way an existing stream is weaker than the one we want.
fn weaknesses(wanted: &stream::Config, actual: &stream::Config) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    check(
        actual.storage == stream::StorageType::File,
        format!("storage is {:?}, not file", actual.storage),
    );
    check(actual.deny_delete, "deny_delete is off".into());
    check(actual.deny_purge, "deny_purge is off".into());
    check(!actual.allow_rollup, "rollup is allowed".into());
    check(
        actual.max_age.is_zero(),
        format!("max_age is {:?}, not unlimited", actual.max_age),
    );
    check(
        actual.max_bytes < 0,
        format!("max_bytes is {}, not unlimited", actual.max_bytes),
    );
    check(
        actual.max_messages < 0,
        format!("max_messages is {}, not unlimited", actual.max_messages),
    );
    check(
        actual.max_messages_per_subject < 0,
        format!(
            "max_messages_per_subject is {}, not unlimited",
            actual.max_messages_per_subject
        ),
    );
    check(
        actual.retention == stream::RetentionPolicy::Limits,
        format!("retention is {:?}, not limits", actual.retention),
    );
    check(
        actual.subjects == wanted.subjects,
        format!(
            "subjects are {:?}, not {:?}",
            actual.subjects, wanted.subjects
        ),
    );
    check(
        !actual.duplicate_window.is_zero(),
        "no duplicate window".into(),
    );
    check(
        actual.num_replicas >= wanted.num_replicas,
        format!(
            "{} replica(s), fewer than the {} asked for",
            actual.num_replicas, wanted.num_replicas
        ),
    );
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_that_allows_purge_or_expiry_is_weak() {
        let store_config = stream::Config {
            name: "X".into(),
            subjects: vec!["x.>".into()],
            storage: stream::StorageType::File,
            max_messages: -1,
            max_bytes: -1,
            max_messages_per_subject: -1,
            deny_delete: true,
            deny_purge: true,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        assert!(weaknesses(&store_config, &store_config).is_empty());
        let weak = stream::Config {
            deny_purge: false,
            max_age: Duration::from_secs(60),
            storage: stream::StorageType::Memory,
            ..store_config.clone()
        };
        let problems = weaknesses(&store_config, &weak);
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
