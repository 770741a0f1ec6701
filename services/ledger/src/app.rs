//! The shell of the ledger service: load → decide → append (hash-chained) → ack.
//!
//! Saga: a durable pull consumer on REVIEWS (`ledger_review`) feeds lanes keyed by the alliance, so
//! the review events of one fund are handled in stream order while different funds proceed in
//! parallel; other instances on the same durable take their share, and conflicts on the fund
//! subject are retried by the [`Repository`]. Each review event maps to at most one ledger command
//! ([`crate::saga`]), executed under the review event's id as its cause, so a redelivered,
//! duplicated or replayed event is booked once, forever. A command the Fund refuses (e.g.
//! `commitment_shortfall`, `fund_not_open`, or `invariant_violation`: `decide` checks every event
//! of a decision with the auditor's incremental check before returning it, so a decision that
//! would break an invariant is never appended) and an unreadable event are dead-lettered on
//! `<ns>.deadletter.ledger` with the code and every reason (for `invariant_violation`, the
//! violation's own code and text), then acked, so the operator sees them and they never block the
//! events behind them. A transient failure naks with a growing delay;
//! after [`SAGA_DELIVERIES_MAX`] deliveries the event is dead-lettered. Alliance events
//! (`buendel.alliance.*` on `<ns>.review.alliance-<id>`) are acked untouched.
//!
//! Commands: `<ns>.cmd.ledger.<command>` for the operator commands of
//! [`buendel_contract::ledger::COMMANDS`], parsed by [`crate::input`].
//!
//! Clock: the shell passes `today` (the date of its [`Clock`]) into every command; the domain never
//! reads a clock.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer, AckKind};
use futures::StreamExt as _;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use buendel_contract::deadletter::DeadLetter;
use buendel_contract::ledger::{seal, COMMANDS, GENESIS_HASH};
use buendel_contract::namespace::StreamKind;
use buendel_contract::reply::{FieldError, Reply};
use buendel_contract::review::{ReviewEvent, Verdict};
use buendel_contract::{Aggregate, DomainError, Envelope, Meta};
use buendel_runtime::repository::{decode, ExecuteError, Outcome};
use buendel_runtime::{CancellationToken, Chain, Clock, EventStore, Repository, StoreError};

use crate::domain::{Command, Fund, LedgerError};
use crate::input::{self, CommandPayload};
use crate::saga::{self, Intent, OpenedFacts};

/// The service name: micro service, durable consumer, dead-letter source.
pub const SERVICE: &str = "ledger";
/// The `source` of every ledger event.
pub const SOURCE: &str = "/buendel/ledger";
/// Deliveries of one review event before a transient failure dead-letters it.
pub const SAGA_DELIVERIES_MAX: i64 = 5;
/// Lanes handling review events in parallel (one alliance's fund always maps to the same lane).
pub const SAGA_LANES: usize = 64;
/// Messages queued per lane before the consumer waits.
pub const LANE_QUEUE_MAX: usize = 64;
/// Unacknowledged review events at most, per durable consumer.
pub const SAGA_ACK_PENDING_MAX: i64 = 1_024;
/// How long the server waits for an ack before redelivering.
pub const SAGA_ACK_WAIT_MS: u64 = 30_000;
/// Base delay of a nak after a transient failure (grows with the delivery count).
pub const NAK_DELAY_MS: u64 = 500;
/// How many reviews' opening facts are kept in memory at most (they never change).
pub const OPENED_CACHE_MAX: usize = 10_000;
/// The type prefix of the alliance events that share the REVIEWS stream.
const ALLIANCE_TYPE_PREFIX: &str = "buendel.alliance.";
/// The aggregate-id prefix of alliance subjects on REVIEWS (`<ns>.review.alliance-<id>`).
const ALLIANCE_SUBJECT_PREFIX: &str = "alliance-";

/// The repository of Fund aggregates: every appended event is sealed into its fund's hash chain.
pub fn fund_repository(store: EventStore) -> Repository<Fund> {
    Repository::new(store, StreamKind::Ledger, SOURCE).hash_chained(Chain {
        genesis: GENESIS_HASH,
        seal,
    })
}

/// The ledger service's shell.
pub struct Ledger {
    /// The time, as an input.
    clock: Clock,
    /// Fund aggregates, hash-chained.
    repo: Repository<Fund>,
    /// The money facts of opened reviews, by proposal id (frozen at opening, so safe to cache).
    opened: Mutex<HashMap<Uuid, OpenedFacts>>,
}

/// Why a command did not go through.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The Fund refused it: replied, or dead-lettered when it came from the saga.
    #[error(transparent)]
    Refused(#[from] LedgerError),
    /// NATS failed or conflicts persisted: retry later.
    #[error("transient: {0}")]
    Transient(String),
}

impl From<ExecuteError<LedgerError>> for HandleError {
    fn from(error: ExecuteError<LedgerError>) -> Self {
        match error {
            ExecuteError::Domain(e) => HandleError::Refused(e),
            other => HandleError::Transient(other.to_string()),
        }
    }
}

impl From<StoreError> for HandleError {
    fn from(error: StoreError) -> Self {
        HandleError::Transient(error.to_string())
    }
}

/// Why a review event was not booked.
#[derive(Debug)]
enum SagaError {
    /// Refused for good: dead-letter with this code and these reasons, then ack.
    Refused {
        /// Stable code, e.g. `commitment_shortfall`.
        code: String,
        /// Every reason, the first one the sentence for people.
        reasons: Vec<FieldError>,
    },
    /// Retry later (nak), dead-letter after [`SAGA_DELIVERIES_MAX`] deliveries.
    Transient(String),
}

impl SagaError {
    fn refused(code: &str, message: impl Into<String>, details: Vec<FieldError>) -> Self {
        let mut reasons = vec![FieldError::new("", message)];
        reasons.extend(details);
        SagaError::Refused {
            code: code.to_owned(),
            reasons,
        }
    }
}

impl From<StoreError> for SagaError {
    fn from(error: StoreError) -> Self {
        SagaError::Transient(error.to_string())
    }
}

/// A REVIEWS message as the dispatcher read it.
enum ReviewMessage {
    /// An alliance event: nothing to book.
    Alliance,
    /// A review event.
    Review(Box<Envelope<ReviewEvent>>),
    /// Not readable as a review event.
    Unreadable {
        /// Its `id`, if it has a readable one.
        event_id: Option<String>,
        /// Its `type`, if it has a readable one.
        event_type: Option<String>,
        /// Why it cannot be read.
        reason: String,
    },
}

/// Reads the `id` and `type` of a message that is not a valid review event.
#[derive(Deserialize)]
struct Loose {
    /// The event id, if any.
    #[serde(default)]
    id: Option<serde_json::Value>,
    /// The event type, if any.
    #[serde(default, rename = "type")]
    event_type: Option<String>,
}

fn read_review_message(subject: &str, payload: &[u8]) -> ReviewMessage {
    let aggregate = subject.rsplit('.').next().unwrap_or_default();
    if aggregate.starts_with(ALLIANCE_SUBJECT_PREFIX) {
        return ReviewMessage::Alliance;
    }
    match decode::<ReviewEvent>(payload) {
        Ok(envelope) => ReviewMessage::Review(Box::new(envelope)),
        Err(error) => {
            let loose = serde_json::from_slice::<Loose>(payload).ok();
            let event_type = loose.as_ref().and_then(|l| l.event_type.clone());
            if event_type
                .as_deref()
                .is_some_and(|t| t.starts_with(ALLIANCE_TYPE_PREFIX))
            {
                return ReviewMessage::Alliance;
            }
            let event_id = loose.and_then(|l| l.id).map(|id| match id {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
            ReviewMessage::Unreadable {
                event_id,
                event_type,
                reason: format!("not a review event: {error}"),
            }
        }
    }
}

impl Ledger {
    /// A ledger service over an event store.
    pub fn new(store: EventStore, clock: Clock) -> Self {
        Self {
            clock,
            repo: fund_repository(store),
            opened: Mutex::new(HashMap::new()),
        }
    }

    /// The Fund repository (hash-chained).
    pub fn repository(&self) -> &Repository<Fund> {
        &self.repo
    }

    fn store(&self) -> &EventStore {
        self.repo.store()
    }

    /// Runs one command on a fund under `cause` (a command id or a review event id).
    pub async fn execute(
        &self,
        fund_id: &str,
        cause: &str,
        meta: &Meta,
        command: &Command,
    ) -> Result<Outcome, HandleError> {
        let outcome = self
            .repo
            .execute(fund_id, cause, meta, |fund| {
                Aggregate::decide(fund, command)
            })
            .await?;
        Ok(outcome)
    }

    fn meta(&self, actor: &str, correlation_id: Option<String>, causation_id: &str) -> Meta {
        Meta {
            source: self.repo.source().to_owned(),
            time: self.clock.now(),
            correlation_id,
            causation_id: Some(causation_id.to_owned()),
            actor: actor.to_owned(),
        }
    }

    /// Handles one operator command request and produces its reply.
    pub async fn command(&self, name: &str, payload: &[u8]) -> Reply {
        let parsed: CommandPayload = match serde_json::from_slice(payload) {
            Ok(parsed) => parsed,
            Err(e) => {
                return Reply::refused(
                    "invalid_input",
                    "the command is not {command_id, actor?, correlation_id?, data}",
                    vec![FieldError::new("", e.to_string())],
                )
            }
        };
        let request = match input::parse(name, &parsed.data, self.clock.today()) {
            None => {
                return Reply::refused("unknown_command", format!("no command {name:?}"), vec![])
            }
            Some(Err(details)) => {
                return Reply::refused("invalid_input", "the command data is invalid", details)
            }
            Some(Ok(request)) => request,
        };
        let actor = parsed.actor.unwrap_or_else(|| "operator".to_owned());
        let correlation = parsed.correlation_id.or_else(|| {
            Some(
                request
                    .proposal_id()
                    .map_or_else(|| request.fund_id.clone(), |id| id.to_string()),
            )
        });
        let cause = parsed.command_id.to_string();
        let meta = self.meta(&actor, correlation, &cause);
        match self
            .execute(&request.fund_id, &cause, &meta, &request.command)
            .await
        {
            Ok(outcome) => accepted_reply(outcome),
            Err(HandleError::Refused(e)) => Reply::refused(e.code(), e.to_string(), e.details()),
            Err(HandleError::Transient(error)) => {
                tracing::warn!(%error, command = name, "command failed transiently");
                Reply::refused(
                    "unavailable",
                    "temporarily unavailable, retry with the same command_id",
                    vec![],
                )
            }
        }
    }

    fn remember(&self, proposal_id: Uuid, facts: OpenedFacts) {
        let Ok(mut cache) = self.opened.lock() else {
            return;
        };
        if cache.len() >= OPENED_CACHE_MAX && !cache.contains_key(&proposal_id) {
            cache.clear();
        }
        cache.insert(proposal_id, facts);
    }

    fn cached_facts(&self, proposal_id: Uuid) -> Option<OpenedFacts> {
        self.opened.lock().ok()?.get(&proposal_id).cloned()
    }

    /// The review's stored events, decoded; unreadable ones are skipped (they are dead-lettered
    /// when the consumer reaches them).
    async fn review_events(&self, proposal_id: Uuid) -> Result<Vec<ReviewEvent>, StoreError> {
        let subject = self
            .store()
            .namespace()
            .subject(StreamKind::Reviews, proposal_id);
        let stored = self.store().load(StreamKind::Reviews, &subject).await?;
        Ok(stored
            .iter()
            .filter_map(|message| decode::<ReviewEvent>(&message.payload).ok())
            .map(|envelope| envelope.event)
            .collect())
    }

    /// The money facts of a review's `opened` event: cached, or read from the review's subject.
    async fn facts(&self, proposal_id: Uuid) -> Result<Option<OpenedFacts>, StoreError> {
        if let Some(facts) = self.cached_facts(proposal_id) {
            return Ok(Some(facts));
        }
        let opened = self
            .review_events(proposal_id)
            .await?
            .iter()
            .find_map(|event| match event {
                ReviewEvent::Opened(opened) => Some(OpenedFacts::from(opened)),
                ReviewEvent::ConflictDeclared(_)
                | ReviewEvent::VoteRecorded(_)
                | ReviewEvent::StatementIssued(_)
                | ReviewEvent::GrantDecided(_)
                | ReviewEvent::GrantRefused(_)
                | ReviewEvent::Closed(_) => None,
            });
        if let Some(facts) = &opened {
            self.remember(proposal_id, facts.clone());
        }
        Ok(opened)
    }

    /// Whether the review was ever given a positive statement (so the fund should know it).
    async fn had_positive_statement(&self, proposal_id: Uuid) -> Result<bool, StoreError> {
        Ok(self.review_events(proposal_id).await?.iter().any(|event| {
            matches!(event, ReviewEvent::StatementIssued(s) if s.verdict == Verdict::Positive)
        }))
    }

    /// The lane of a message: its alliance's, so one fund's events stay in order. The alliance
    /// comes from the review's `opened` event, which the consumer sees first; only after a restart
    /// is it read from the store here, once per review (the facts are then cached).
    async fn lane_key(&self, subject: &str, message: &ReviewMessage) -> u64 {
        let mut hasher = DefaultHasher::new();
        match message {
            ReviewMessage::Review(envelope) => {
                let proposal_id = envelope.event.proposal_id();
                if let ReviewEvent::Opened(opened) = &envelope.event {
                    self.remember(proposal_id, OpenedFacts::from(opened));
                }
                match self.facts(proposal_id).await {
                    Ok(Some(facts)) => facts.alliance_id.hash(&mut hasher),
                    Ok(None) | Err(_) => proposal_id.hash(&mut hasher),
                }
            }
            ReviewMessage::Alliance | ReviewMessage::Unreadable { .. } => {
                subject.hash(&mut hasher);
            }
        }
        hasher.finish()
    }

    /// Books what one review event asks of the ledger.
    async fn react(&self, envelope: &Envelope<ReviewEvent>) -> Result<(), SagaError> {
        let proposal_id = envelope.event.proposal_id();
        let intent = saga::intent(&envelope.event);
        if intent == Intent::Nothing {
            return Ok(());
        }
        let Some(facts) = self.facts(proposal_id).await? else {
            return Err(SagaError::refused(
                "review_not_opened",
                format!("the review of {proposal_id} has no opened event"),
                vec![],
            ));
        };
        let command = saga::command(intent, proposal_id, &facts, self.clock.today())
            .map_err(|refusal| SagaError::refused(refusal.code(), refusal.to_string(), vec![]))?;
        let Some(command) = command else {
            return Ok(());
        };
        let fund_id = facts.fund_id();
        let cause = envelope.id.to_string();
        let correlation = envelope
            .correlationid
            .clone()
            .or_else(|| Some(proposal_id.to_string()));
        let meta = self.meta(SERVICE, correlation, &cause);
        match self.execute(&fund_id, &cause, &meta, &command).await {
            Ok(outcome) => {
                tracing::debug!(
                    fund_id,
                    %proposal_id,
                    cause,
                    command = command.name(),
                    events = outcome.events().len(),
                    duplicate = matches!(outcome, Outcome::Duplicate(_)),
                    "review event booked"
                );
                Ok(())
            }
            Err(HandleError::Refused(
                LedgerError::UnknownProject { .. } | LedgerError::FundNotOpen,
            )) if matches!(intent, Intent::Release(_)) => {
                if self.had_positive_statement(proposal_id).await? {
                    // Reordered across instances: the statement is not booked yet. Retry later.
                    Err(SagaError::Transient(format!(
                        "the positive statement of {proposal_id} is not booked on {fund_id} yet"
                    )))
                } else {
                    // Withdrawn or refused before any money was asked for: nothing to release.
                    Ok(())
                }
            }
            Err(HandleError::Refused(e)) => {
                Err(SagaError::refused(e.code(), e.to_string(), e.details()))
            }
            Err(HandleError::Transient(error)) => Err(SagaError::Transient(error)),
        }
    }

    /// Handles one REVIEWS message: book, or dead-letter, then ack; nak on transient failure.
    async fn review(&self, message: jetstream::Message, read: ReviewMessage) {
        let Ok(info) = message.info() else {
            tracing::error!("review message without JetStream metadata");
            return;
        };
        let (sequence, delivered) = (info.stream_sequence, info.delivered);
        let (event_id, event_type, result) = match read {
            ReviewMessage::Alliance => (None, None, Ok(())),
            ReviewMessage::Unreadable {
                event_id,
                event_type,
                reason,
            } => (
                event_id,
                event_type,
                Err(SagaError::refused("unreadable_event", reason, vec![])),
            ),
            ReviewMessage::Review(envelope) => (
                Some(envelope.id.to_string()),
                Some(envelope.event_type().to_owned()),
                self.react(&envelope).await,
            ),
        };
        let letter = match result {
            Ok(()) => None,
            Err(SagaError::Transient(error)) if delivered < SAGA_DELIVERIES_MAX => {
                tracing::warn!(%error, sequence, delivered, "review event failed transiently, nak");
                let factor = u64::try_from(delivered.max(1)).unwrap_or(1);
                let delay = Duration::from_millis(NAK_DELAY_MS.saturating_mul(factor));
                if let Err(error) = message.ack_with(AckKind::Nak(Some(delay))).await {
                    tracing::warn!(%error, "nak not sent");
                }
                return;
            }
            Err(SagaError::Transient(error)) => Some((
                "retries_exhausted".to_owned(),
                vec![FieldError::new(
                    "",
                    format!("failed {delivered} times, last: {error}"),
                )],
            )),
            Err(SagaError::Refused { code, reasons }) => Some((code, reasons)),
        };
        if let Some((code, reasons)) = letter {
            let ns = self.store().namespace();
            let letter = DeadLetter {
                id: DeadLetter::id_for(
                    &format!("{}/{SERVICE}", ns.stream(StreamKind::Reviews)),
                    sequence,
                ),
                source: SERVICE.into(),
                subject: message.subject.to_string(),
                stream_sequence: sequence,
                event_id,
                event_type,
                code,
                reasons,
                original_base64: DeadLetter::encode(&message.payload),
                rejected_at: self.clock.now(),
            };
            if let Err(error) = self.dead_letter(&letter).await {
                tracing::warn!(%error, sequence, "dead letter not stored, nak");
                let delay = Duration::from_millis(NAK_DELAY_MS);
                let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                return;
            }
        }
        if let Err(error) = message.ack().await {
            tracing::warn!(%error, sequence, "ack not sent; the event will be redelivered and deduplicated");
        }
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.store().dead_letter(letter).await.map(|_| ())
    }
}

fn accepted_reply(outcome: Outcome) -> Reply {
    let reply = match outcome {
        Outcome::Appended(events) => Reply::accepted(events, false),
        Outcome::Duplicate(events) => Reply::accepted(events, true),
        Outcome::Unchanged => None,
    };
    reply.unwrap_or_else(|| Reply::refused("unchanged", "the command changed nothing", vec![]))
}

/// Starts the ledger service: streams, command endpoints and the REVIEWS consumer are ready when
/// this returns; the returned task runs until `shutdown`.
pub async fn start(
    client: async_nats::Client,
    store: EventStore,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    store.ensure_streams(&StreamKind::ALL).await?;
    let service = Arc::new(Ledger::new(store.clone(), clock));
    let handler = service.clone();
    let local = shutdown.child_token();
    let commands = buendel_runtime::micro::serve(
        client,
        store.namespace(),
        SERVICE,
        "Bündel ledger: the funding ledger, budgets and the saga with approval",
        &COMMANDS,
        move |name, payload| {
            let service = handler.clone();
            async move { service.command(&name, &payload).await }
        },
        local.clone(),
    )
    .await?;
    let messages = match review_messages(&store).await {
        Ok(messages) => messages,
        Err(error) => {
            local.cancel();
            let _ = commands.await;
            return Err(error);
        }
    };
    Ok(tokio::spawn(async move {
        let saga = consume_reviews(service, messages, local.clone()).await;
        local.cancel();
        commands.await.context("command task panicked")?;
        saga
    }))
}

/// Runs the ledger service until `shutdown`.
pub async fn run(
    client: async_nats::Client,
    store: EventStore,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    start(client, store, clock, shutdown)
        .await?
        .await
        .context("ledger task panicked")?
}

async fn review_messages(store: &EventStore) -> anyhow::Result<consumer::pull::Stream> {
    let messages = store
        .durable_messages(
            StreamKind::Reviews,
            SERVICE,
            SAGA_ACK_WAIT_MS,
            SAGA_ACK_PENDING_MAX,
        )
        .await?;
    Ok(messages)
}

async fn consume_reviews(
    service: Arc<Ledger>,
    mut messages: consumer::pull::Stream,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut lanes = Vec::with_capacity(SAGA_LANES);
    let mut workers = JoinSet::new();
    for _ in 0..SAGA_LANES {
        let (tx, mut rx) = mpsc::channel::<(jetstream::Message, ReviewMessage)>(LANE_QUEUE_MAX);
        lanes.push(tx);
        let service = service.clone();
        workers.spawn(async move {
            while let Some((message, read)) = rx.recv().await {
                service.review(message, read).await;
            }
        });
    }
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break,
            next = messages.next() => next,
        };
        let message = match next {
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                tracing::warn!(%error, "review consumer error");
                continue;
            }
            None => break,
        };
        let read = read_review_message(&message.subject, &message.payload);
        let key = service.lane_key(&message.subject, &read).await;
        let lane = usize::try_from(key % SAGA_LANES as u64).unwrap_or(0);
        if lanes[lane].send((message, read)).await.is_err() {
            break;
        }
    }
    drop(lanes);
    while workers.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alliance_events_are_recognised_by_subject_and_by_type() {
        let by_subject = read_review_message("t.review.alliance-non", b"{}");
        assert!(matches!(by_subject, ReviewMessage::Alliance));
        let by_type = read_review_message(
            "t.review.x",
            br#"{"type":"buendel.alliance.partner_joined.v1"}"#,
        );
        assert!(matches!(by_type, ReviewMessage::Alliance));
    }

    #[test]
    fn a_message_that_is_no_review_event_is_unreadable_with_what_could_be_read() {
        let read = read_review_message(
            "t.review.0000",
            br#"{"id":"abc","type":"buendel.review.unknown.v9"}"#,
        );
        let ReviewMessage::Unreadable {
            event_id,
            event_type,
            ..
        } = read
        else {
            panic!("unreadable");
        };
        assert_eq!(event_id.as_deref(), Some("abc"));
        assert_eq!(event_type.as_deref(), Some("buendel.review.unknown.v9"));
    }
}
