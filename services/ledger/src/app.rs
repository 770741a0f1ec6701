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
//! on the last delivery [`SAGA_LIMITS`] allow the event is dead-lettered. Alliance events
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

use anyhow::Context as _;
use serde::Deserialize;
use uuid::Uuid;

use buendel_contract::ledger::{seal, COMMANDS, GENESIS_HASH};
use buendel_contract::namespace::StreamKind;
use buendel_contract::reply::FieldError;
use buendel_contract::review::ReviewEvent;
use buendel_contract::{Envelope, Meta};
use buendel_runtime::micro::{self, CommandEnvelope, CommandError};
use buendel_runtime::reactor::{Delivery, Limits, Reaction, Reactor, Refusal, Spec, Verdict};
use buendel_runtime::repository::{decode, Outcome};
use buendel_runtime::{CancellationToken, Chain, Clock, EventStore, Repository, StoreError};

use crate::domain::{Command, Fund};
use crate::input;
use crate::saga::{self, Intent, OpenedFacts, ReleaseWait};

/// The service name: micro service, durable consumer, dead-letter source.
pub const SERVICE: &str = "ledger";
/// The `source` of every ledger event.
pub const SOURCE: &str = "/buendel/ledger";
/// The limits of the REVIEWS reactor (the saga): 64 lanes keyed by alliance (one fund's events in
/// order), 64 queued per lane, 1,024 unacknowledged events per instance, 30 s ack wait, 8
/// deliveries of a failing event, naks from 2 s.
pub const SAGA_LIMITS: Limits = Limits {
    deliveries_max: 8,
    ack_wait_ms: 30_000,
    ack_pending_max: 1_024,
    lanes: 64,
    lane_queue_max: 64,
    // A release or a grant waiting for its statement naks after 2, 4, ..., 14 s: 56 s in all,
    // longer than the ack wait after which a statement held by a killed instance comes again.
    nak_delay_ms: 2_000,
};
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
    /// How commands on one fund are appended.
    commit: Commit,
    /// The money facts of opened reviews, by proposal id (frozen at opening, so safe to cache).
    opened: Mutex<HashMap<Uuid, OpenedFacts>>,
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
    /// Retry later (nak), dead-letter on the last delivery [`SAGA_LIMITS`] allow.
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

impl From<CommandError> for SagaError {
    /// A refused booking is dead-lettered with its code and reasons; a transient one retried.
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Refused {
                code,
                message,
                details,
            } => SagaError::refused(&code, message, details),
            CommandError::Transient(error) => SagaError::Transient(error),
        }
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

/// How the ledger appends the commands on one fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Commit {
    /// Each command decided and appended alone, after the previous one's ack
    /// (`--group-commit false`).
    OneByOne,
    /// Group commit, the default: the commands that arrive while another is appended are
    /// decided together against the fund in memory and appended as one atomic batch
    /// ([`Repository::execute_grouped`]).
    #[default]
    Grouped,
}

impl Commit {
    /// [`Commit::Grouped`] when `grouped`, as the setting says.
    pub fn of(grouped: bool) -> Self {
        if grouped {
            Self::Grouped
        } else {
            Self::OneByOne
        }
    }
}

impl Ledger {
    /// A ledger service over an event store.
    pub fn new(store: EventStore, clock: Clock, commit: Commit) -> Self {
        Self {
            clock,
            repo: fund_repository(store),
            commit,
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

    /// Runs one command on a fund under `cause` (a command id or a review event id); with group
    /// commit ([`Commit::Grouped`]) in a group with the commands
    /// that arrive for the fund meanwhile ([`Repository::execute_grouped`]): decided one after
    /// another against the fund in memory, appended as one atomic batch.
    pub async fn execute(
        &self,
        fund_id: &str,
        cause: &str,
        meta: &Meta,
        command: &Command,
    ) -> Result<Outcome, CommandError> {
        let outcome = if self.commit == Commit::Grouped {
            self.repo
                .execute_grouped(fund_id, cause, meta, command.clone())
                .await?
        } else {
            self.repo
                .execute(fund_id, cause, meta, |fund| {
                    buendel_contract::Aggregate::decide(fund, command)
                })
                .await?
        };
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

    /// Handles one operator command.
    pub async fn command(
        &self,
        name: &str,
        envelope: CommandEnvelope,
    ) -> Result<Outcome, CommandError> {
        let request = input::parse(name, &envelope.data, self.clock.today(), envelope.actor())
            .ok_or_else(|| CommandError::unknown(name))?
            .map_err(CommandError::invalid)?;
        let correlation = envelope.correlation_id.clone().or_else(|| {
            Some(
                request
                    .proposal_id()
                    .map_or_else(|| request.fund_id.clone(), |id| id.to_string()),
            )
        });
        let cause = envelope.cause();
        let meta = self.meta(envelope.actor(), correlation, &cause);
        self.execute(&request.fund_id, &cause, &meta, &request.command)
            .await
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
        Ok(self
            .review_envelopes(proposal_id)
            .await?
            .into_iter()
            .map(|envelope| envelope.event)
            .collect())
    }

    /// The review's stored envelopes, decoded, in stream order; unreadable ones are skipped.
    async fn review_envelopes(
        &self,
        proposal_id: Uuid,
    ) -> Result<Vec<Envelope<ReviewEvent>>, StoreError> {
        let subject = self
            .store()
            .namespace()
            .subject(StreamKind::Reviews, proposal_id);
        let stored = self.store().load(StreamKind::Reviews, &subject).await?;
        Ok(stored
            .iter()
            .filter_map(|message| decode::<ReviewEvent>(&message.payload).ok())
            .collect())
    }

    /// Books what the review's events before `envelope` in `history` (the review as stored) ask,
    /// each under its own cause (a no-op for those already booked): a grant or a release that
    /// overtook its statement brings the statement in first instead of waiting for its
    /// redelivery. An earlier event refused for good is left to its own delivery, which
    /// dead-letters it; a transient failure is this event's too.
    async fn book_earlier(
        &self,
        envelope: &Envelope<ReviewEvent>,
        history: Vec<Envelope<ReviewEvent>>,
    ) -> Result<(), SagaError> {
        for earlier in saga::earlier_bookings(history, envelope.id) {
            // The earlier events come before this one, so the recursion ends.
            match Box::pin(self.react(&earlier)).await {
                Ok(()) | Err(SagaError::Refused { .. }) => {}
                Err(transient @ SagaError::Transient(_)) => return Err(transient),
            }
        }
        Ok(())
    }

    /// The money facts of a review (its `opened` event as revised): cached, or read from the
    /// review's subject.
    async fn facts(&self, proposal_id: Uuid) -> Result<Option<OpenedFacts>, StoreError> {
        if let Some(facts) = self.cached_facts(proposal_id) {
            return Ok(Some(facts));
        }
        let opened = OpenedFacts::of_history(&self.review_events(proposal_id).await?);
        if let Some(facts) = &opened {
            self.remember(proposal_id, facts.clone());
        }
        Ok(opened)
    }

    /// The lane of a message: for an event that books, its alliance's, so one fund's bookings stay
    /// in order. A v2 event names its fund; for a v1 one the alliance comes from the review's
    /// facts, cached from its `opened` event, which the consumer sees first, and read from the
    /// store here only after a restart, once per review. An event that books nothing goes to its
    /// proposal's lane without any lookup.
    async fn lane_key(&self, subject: &str, message: &ReviewMessage) -> u64 {
        let mut hasher = DefaultHasher::new();
        match message {
            ReviewMessage::Review(envelope) => {
                let proposal_id = envelope.event.proposal_id();
                match &envelope.event {
                    ReviewEvent::Opened(opened) => {
                        self.remember(proposal_id, OpenedFacts::from(opened));
                    }
                    // Revisions come before the statement in stream order, so the statement
                    // is booked with the revised facts.
                    ReviewEvent::TermsRevised(revised) => {
                        if let Some(mut facts) = self.cached_facts(proposal_id) {
                            facts.revise(revised);
                            self.remember(proposal_id, facts);
                        }
                    }
                    _ => {}
                }
                if let Some(fund) = envelope.event.fund() {
                    // The event names its fund (v2): no lookup.
                    fund.alliance_id.hash(&mut hasher);
                } else if saga::intent(&envelope.event) == Intent::Nothing {
                    // It books nothing, so it needs no fund's lane (and no lookup).
                    proposal_id.hash(&mut hasher);
                } else {
                    match self.facts(proposal_id).await {
                        Ok(Some(facts)) => facts.alliance_id.hash(&mut hasher),
                        Ok(None) | Err(_) => proposal_id.hash(&mut hasher),
                    }
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
        let today = self.clock.today();
        // From v2 on the event carries its fund and split; a v1 event is booked with the facts
        // of the review's history.
        let (fund_id, command) = match saga::carried(&envelope.event, today) {
            Some((fund_id, command)) => (fund_id, Some(command)),
            None => {
                let Some(facts) = self.facts(proposal_id).await? else {
                    return Err(SagaError::refused(
                        "review_not_opened",
                        format!("the review of {proposal_id} has no opened event"),
                        vec![],
                    ));
                };
                let command = saga::command(intent.clone(), proposal_id, &facts, today).map_err(
                    |refusal| SagaError::refused(refusal.code(), refusal.to_string(), vec![]),
                )?;
                (facts.fund_id(), command)
            }
        };
        let Some(command) = command else {
            return Ok(());
        };
        let cause = envelope.id.to_string();
        let correlation = envelope
            .correlationid
            .clone()
            .or_else(|| Some(proposal_id.to_string()));
        let meta = self.meta(SERVICE, correlation, &cause);
        let book = || async {
            self.repo
                .execute(&fund_id, &cause, &meta, |fund| {
                    saga::decide_on(fund, &command)
                })
                .await
                .map_err(CommandError::from)
        };
        match book().await {
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
            Err(CommandError::Refused {
                code,
                message,
                details,
            }) if saga::may_wait_for_statement(&intent)
                && saga::release_refused(&code, false).is_some() =>
            {
                // The review as stored, read once: whether it had a positive statement (so the
                // fund should know it), and what came before this event.
                let history = self.review_envelopes(proposal_id).await?;
                let had_positive =
                    saga::had_positive_statement(history.iter().map(|stored| stored.event.clone()));
                match (saga::release_refused(&code, had_positive), &intent) {
                    // The statement is not booked yet: book it (and whatever else came before)
                    // now, then this event; wait only if that still did not bring it in.
                    (Some(ReleaseWait::ForTheStatement), _) => {
                        self.book_earlier(envelope, history).await?;
                        match book().await {
                            Ok(_) => Ok(()),
                            Err(CommandError::Refused { code, .. })
                                if saga::release_refused(&code, true).is_some() =>
                            {
                                Err(SagaError::Transient(format!(
                                    "the positive statement of {proposal_id} is not booked on \
                                     {fund_id} yet"
                                )))
                            }
                            Err(other) => Err(other.into()),
                        }
                    }
                    // Withdrawn or refused before any money was asked for: nothing to release.
                    (_, Intent::Release(_)) => Ok(()),
                    // A grant with no positive statement to wait for (a history from before the
                    // rule): booked as decided, reserving what it needs first.
                    (_, Intent::Commit { .. }) => self
                        .execute(&fund_id, &cause, &meta, &command)
                        .await
                        .map(|_| ())
                        .map_err(SagaError::from),
                    _ => Err(SagaError::refused(&code, message, details)),
                }
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// The ledger's reaction to REVIEWS: the saga.
struct Reviews(Arc<Ledger>);

impl Reaction for Reviews {
    type Read = ReviewMessage;

    fn read(&self, delivery: &Delivery) -> Self::Read {
        read_review_message(&delivery.subject, &delivery.payload)
    }

    async fn lane(&self, delivery: &Delivery, read: &Self::Read) -> u64 {
        self.0.lane_key(&delivery.subject, read).await
    }

    async fn handle(&self, _delivery: &Delivery, read: Self::Read) -> Verdict {
        let (event_id, event_type, result) = match read {
            ReviewMessage::Alliance => return Verdict::Done,
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
                self.0.react(&envelope).await,
            ),
        };
        match result {
            Ok(()) => Verdict::Done,
            Err(SagaError::Transient(error)) => Verdict::Retry(error),
            Err(SagaError::Refused { code, reasons }) => Verdict::Refuse(Refusal {
                code,
                reasons,
                event_id,
                event_type,
            }),
        }
    }
}

/// Starts the ledger service: streams, command endpoints and the REVIEWS consumer are ready when
/// this returns; the returned task runs until `shutdown`.
pub async fn start(
    client: async_nats::Client,
    store: EventStore,
    clock: Clock,
    commit: Commit,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    store.ensure_streams(&StreamKind::ALL).await?;
    let service = Arc::new(Ledger::new(store.clone(), clock, commit));
    // The consumer is bound before the endpoints serve: a failure here leaves nothing running.
    let spec = Spec::of_service(store.namespace(), StreamKind::Reviews, SERVICE, SAGA_LIMITS);
    let reactor = Reactor::bind(store.clone(), clock, spec).await?;
    let handler = service.clone();
    let local = shutdown.child_token();
    let commands = micro::serve_commands(
        client,
        &store,
        SERVICE,
        "Bündel ledger: the funding ledger, budgets and the saga with approval",
        &COMMANDS,
        move |name, envelope| {
            let service = handler.clone();
            async move { service.command(&name, envelope).await }
        },
        local.clone(),
    )
    .await?;
    Ok(tokio::spawn(async move {
        let saga = reactor.run(Arc::new(Reviews(service)), local.clone()).await;
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
    commit: Commit,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    start(client, store, clock, commit, shutdown)
        .await?
        .await
        .context("ledger task panicked")?
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
