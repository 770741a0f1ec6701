//! The shell of the submission service: load → decide → append → ack.
//!
//! Intake: a durable pull consumer on INTAKE feeds lanes keyed by proposal id, so the requests of one
//! proposal are handled in order while different proposals proceed in parallel. A valid request is
//! decided and appended, then screened; an invalid one or one the domain refuses is dead-lettered
//! with every reason and acked, so it never blocks the messages behind it. A transient failure naks
//! with a delay; after [`INTAKE_DELIVERIES_MAX`] deliveries the message is dead-lettered.
//!
//! Commands: `<ns>.cmd.submission.{submit,revise,withdraw}` over the NATS micro service API.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer, AckKind};
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use buendel_contract::deadletter::DeadLetter;
use buendel_contract::namespace::StreamKind;
use buendel_contract::reference::{builtin_alliances, Alliance, ProgramRules};
use buendel_contract::reply::{FieldError, Reply};
use buendel_contract::{Aggregate as _, DomainError, Meta};
use buendel_runtime::repository::{ExecuteError, Outcome};
use buendel_runtime::store::Receipt;
use buendel_runtime::{CancellationToken, Clock, EventStore, Repository, StoreError};

use crate::domain::intake::{self, IntakeEvent, Rejected, Request};
use crate::domain::proposal::ReviewFacts;
use crate::domain::{Command, Proposal, ProposalError};

/// The service name: micro service, durable consumers, event `source`.
pub const SERVICE: &str = "submission";
/// Deliveries of one intake message before a transient failure dead-letters it.
pub const INTAKE_DELIVERIES_MAX: i64 = 5;
/// Lanes handling intake in parallel (one proposal always maps to the same lane).
pub const INTAKE_LANES: usize = 256;
/// Messages queued per lane before the consumer waits.
pub const LANE_QUEUE_MAX: usize = 16;
/// Unacknowledged intake messages at most.
pub const INTAKE_ACK_PENDING_MAX: i64 = 4_096;
/// How long the server waits for an ack before redelivering.
pub const INTAKE_ACK_WAIT_MS: u64 = 30_000;
/// Base delay of a nak after a transient failure (grows with the delivery count).
pub const NAK_DELAY_MS: u64 = 500;

/// The dead-letter code of an intake event whose id was accepted before with another body.
pub const CONFLICTING_DUPLICATE: &str = "conflicting_duplicate";

/// What becomes of one intake message.
enum Verdict {
    /// Decided (or already decided): ack.
    Done,
    /// Refused with a code: dead-letter, then ack.
    DeadLetter(String, Rejected),
    /// Failed transiently: nak with this delay.
    Retry(Duration),
}

/// The commands served over request/reply.
pub const COMMANDS: [&str; 3] = ["submit", "revise", "withdraw"];

/// The submission service's shell.
pub struct Submission {
    /// The time, as an input.
    clock: Clock,
    /// Proposal aggregates.
    repo: Repository<Proposal>,
    /// Known alliances (reference data).
    alliances: Vec<Alliance>,
    /// The program rules in force.
    rules: ProgramRules,
}

/// Why a request did not go through.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The domain refused it: a client error, dead-lettered or replied.
    #[error(transparent)]
    Refused(#[from] ProposalError),
    /// NATS failed or conflicts persisted: retry later.
    #[error("transient: {0}")]
    Transient(String),
}

impl From<ExecuteError<ProposalError>> for HandleError {
    fn from(error: ExecuteError<ProposalError>) -> Self {
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

/// The payload of a command: an idempotency key, who asks, and the event data.
#[derive(Debug, Deserialize)]
struct CommandPayload {
    /// Idempotency key; a retry with the same id returns the original outcome, forever.
    command_id: Uuid,
    /// Who asks (defaults to `operator`).
    #[serde(default)]
    actor: Option<String>,
    /// Optional correlation id (defaults to the proposal id).
    #[serde(default)]
    correlation_id: Option<String>,
    /// The same `data` an intake event of the matching type carries.
    data: Value,
}

impl Submission {
    /// A submission service over an event store, with the built-in alliances and current rules.
    pub fn new(store: EventStore, clock: Clock) -> Self {
        Self {
            clock,
            repo: Repository::new(store, StreamKind::Proposals, format!("/buendel/{SERVICE}")),
            alliances: builtin_alliances(),
            rules: ProgramRules::esf_plus_2021_2027(),
        }
    }

    fn store(&self) -> &EventStore {
        self.repo.store()
    }

    fn alliance(&self, id: &str) -> Option<&Alliance> {
        self.alliances.iter().find(|a| a.id == id)
    }

    fn meta(&self, actor: &str, correlation: Option<String>, proposal_id: Uuid) -> Meta {
        Meta {
            source: self.repo.source().to_owned(),
            time: self.clock.now(),
            correlation_id: correlation.or_else(|| Some(proposal_id.to_string())),
            causation_id: None,
            actor: actor.to_owned(),
        }
    }

    /// Decides one request under `cause`, with its screening where it needs one (in the same
    /// decision). The second outcome is kept for the reply's shape; it is always `Unchanged`.
    pub async fn handle(
        &self,
        cause: &str,
        meta: &Meta,
        request: &Request,
    ) -> Result<(Outcome, Outcome), HandleError> {
        let id = request.proposal_id().to_string();
        let command = match request {
            Request::Submit(submitted) => Command::Submit(submitted.clone()),
            Request::Revise {
                terms,
                reason,
                proposal_id,
            } => Command::Revise {
                terms: terms.clone(),
                reason: reason.clone(),
                review: self.review_facts(*proposal_id).await?,
            },
            Request::Withdraw {
                reason,
                proposal_id,
            } => Command::Withdraw {
                reason: reason.clone(),
                review: self.review_facts(*proposal_id).await?,
            },
        };
        let screens = !matches!(request, Request::Withdraw { .. });
        let today = meta.time.date_naive();
        // A submission or a revision and its screening are one decision: one atomic append.
        let outcome = self
            .repo
            .execute(&id, cause, meta, |state| {
                let mut events = state.decide_command(&command)?;
                if screens && !events.is_empty() {
                    let after = events
                        .iter()
                        .fold(state.clone(), |state, event| state.apply(event));
                    let screen = Command::Screen {
                        alliance: self.alliance(&after.alliance_id).cloned(),
                        rules: self.rules.clone(),
                        today,
                    };
                    events.extend(after.decide_command(&screen)?);
                }
                Ok(events)
            })
            .await?;
        Ok((outcome, Outcome::Unchanged))
    }

    /// What the review context knows: read from the proposal's review subject, by event type only,
    /// so this service does not depend on the review contract.
    async fn review_facts(&self, proposal_id: Uuid) -> Result<ReviewFacts, StoreError> {
        let subject = self
            .store()
            .namespace()
            .subject(StreamKind::Reviews, proposal_id);
        let mut facts = ReviewFacts::default();
        let stored = match self.store().load(StreamKind::Reviews, &subject).await {
            Ok(stored) => stored,
            Err(StoreError::Unavailable(_)) if !self.reviews_stream_exists().await => Vec::new(),
            Err(other) => return Err(other),
        };
        for message in stored {
            #[derive(Deserialize)]
            struct Typed {
                #[serde(rename = "type")]
                event_type: String,
            }
            if let Ok(Typed { event_type }) = serde_json::from_slice(&message.payload) {
                facts.statement_issued |=
                    event_type.starts_with("buendel.review.statement_issued.");
                facts.granted |= event_type.starts_with("buendel.review.grant_decided.");
            }
        }
        Ok(facts)
    }

    async fn reviews_stream_exists(&self) -> bool {
        self.store().stream(StreamKind::Reviews).await.is_ok()
    }

    /// Handles one command request and produces its reply.
    pub async fn command(&self, name: &str, payload: &[u8]) -> Reply {
        let event_type = match name {
            "submit" => buendel_contract::proposal::SUBMITTED_V1,
            "revise" => buendel_contract::proposal::REVISED_V1,
            "withdraw" => buendel_contract::proposal::WITHDRAWN_V1,
            other => {
                return Reply::refused("unknown_command", format!("no command {other:?}"), vec![])
            }
        };
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
        let known = |id: &str| self.alliance(id).is_some();
        let request = match intake::validate_data(event_type, &parsed.data, "data", &known) {
            Ok(request) => request,
            Err(details) => {
                return Reply::refused("invalid_input", "the command data is invalid", details)
            }
        };
        let actor = parsed.actor.unwrap_or_else(|| "operator".to_owned());
        let meta = self.meta(&actor, parsed.correlation_id, request.proposal_id());
        match self
            .handle(&parsed.command_id.to_string(), &meta, &request)
            .await
        {
            Ok((outcome, screened)) => accepted_reply(&outcome, &screened),
            Err(HandleError::Refused(e)) => Reply::refused(e.code(), e.to_string(), e.details()),
            Err(HandleError::Transient(e)) => {
                tracing::warn!(error = %e, command = name, "command failed transiently");
                Reply::refused(
                    "unavailable",
                    "temporarily unavailable, retry with the same command_id",
                    vec![],
                )
            }
        }
    }

    /// Handles one intake message: append, or dead-letter, then ack; nak on transient failure.
    async fn intake(&self, message: jetstream::Message, validated: Result<IntakeEvent, Rejected>) {
        let Ok(info) = message.info() else {
            tracing::error!("intake message without JetStream metadata");
            return;
        };
        let (sequence, delivered) = (info.stream_sequence, info.delivered);
        let verdict = match validated {
            Err(rejected) => Verdict::DeadLetter(rejected.code.to_owned(), rejected),
            Ok(event) => match self.receipt(&event, sequence).await {
                Err(error) => {
                    tracing::warn!(%error, sequence, "intake receipt not stored");
                    Verdict::Retry(Duration::from_millis(NAK_DELAY_MS))
                }
                Ok(Some(conflict)) => {
                    Verdict::DeadLetter(CONFLICTING_DUPLICATE.to_owned(), conflict)
                }
                Ok(None) => self.decide_intake(&event, sequence, delivered).await,
            },
        };
        let letter = match verdict {
            Verdict::Done => None,
            Verdict::DeadLetter(code, rejected) => Some((code, rejected)),
            Verdict::Retry(delay) => {
                if let Err(error) = message.ack_with(AckKind::Nak(Some(delay))).await {
                    tracing::warn!(%error, "nak not sent");
                }
                return;
            }
        };
        if let Some((code, rejected)) = letter {
            let subject = message.subject.to_string();
            if let Err(error) = self
                .dead_letter(&subject, sequence, &message.payload, &code, rejected)
                .await
            {
                tracing::warn!(%error, sequence, "dead letter not stored, nak");
                let _ = message
                    .ack_with(AckKind::Nak(Some(Duration::from_millis(NAK_DELAY_MS))))
                    .await;
                return;
            }
        }
        if let Err(error) = message.ack().await {
            tracing::warn!(%error, sequence, "ack not sent; the message will be redelivered and deduplicated");
        }
    }

    /// The receipt of a valid intake event: `None` when this body is the one in force under its id
    /// (the first, or an exact copy of it), the refusal when another body came first.
    ///
    /// The receipt is written before the decision: a crash in between leaves a receipt whose body
    /// is this one, so the redelivery goes on to decide (once, through the cause index).
    async fn receipt(
        &self,
        event: &IntakeEvent,
        sequence: u64,
    ) -> Result<Option<Rejected>, StoreError> {
        let ours = Receipt {
            event_id: event.id,
            sha256: event.sha256.clone(),
            intake_sequence: sequence,
        };
        let in_force = self.store().receipt(&ours).await?;
        if in_force.sha256 == ours.sha256 {
            return Ok(None);
        }
        Ok(Some(Rejected {
            code: CONFLICTING_DUPLICATE,
            event_id: Some(event.id.to_string()),
            event_type: None,
            reasons: vec![
                FieldError::new(
                    "id",
                    format!(
                        "event {} was accepted before with another body (INTAKE sequence {}); the first stays in force",
                        event.id, in_force.intake_sequence
                    ),
                ),
                FieldError::new("", format!("sha256 of the body in force: {}", in_force.sha256)),
                FieldError::new("", format!("sha256 of this body: {}", ours.sha256)),
            ],
        }))
    }

    /// Decides a valid intake event whose body is the one in force under its id.
    async fn decide_intake(&self, event: &IntakeEvent, sequence: u64, delivered: i64) -> Verdict {
        let meta = self.meta(
            &event.actor,
            event.correlation_id.clone(),
            event.request.proposal_id(),
        );
        let rejected = |reason: String| Rejected {
            event_id: Some(event.id.to_string()),
            reasons: vec![FieldError::new("", reason)],
            ..Rejected::default()
        };
        match self
            .handle(&event.id.to_string(), &meta, &event.request)
            .await
        {
            Ok(_) => Verdict::Done,
            Err(HandleError::Refused(e)) => {
                Verdict::DeadLetter(e.code().to_owned(), rejected(e.to_string()))
            }
            Err(HandleError::Transient(error)) if delivered < INTAKE_DELIVERIES_MAX => {
                tracing::warn!(%error, sequence, delivered, "intake failed transiently, nak");
                Verdict::Retry(Duration::from_millis(
                    NAK_DELAY_MS * u64::try_from(delivered.max(1)).unwrap_or(1),
                ))
            }
            Err(HandleError::Transient(error)) => Verdict::DeadLetter(
                "retries_exhausted".to_owned(),
                rejected(format!("failed {delivered} times, last: {error}")),
            ),
        }
    }

    async fn dead_letter(
        &self,
        subject: &str,
        sequence: u64,
        original: &[u8],
        code: &str,
        rejected: Rejected,
    ) -> Result<(), StoreError> {
        let ns = self.store().namespace();
        let letter = DeadLetter {
            id: DeadLetter::id_for(&ns.stream(StreamKind::Intake), sequence),
            source: "intake".into(),
            subject: subject.to_owned(),
            stream_sequence: sequence,
            event_id: rejected.event_id,
            event_type: rejected.event_type,
            code: code.to_owned(),
            reasons: rejected.reasons,
            original_base64: DeadLetter::encode(original),
            rejected_at: self.clock.now(),
        };
        self.store().dead_letter(&letter).await?;
        Ok(())
    }
}

impl Proposal {
    fn decide_command(
        &self,
        command: &Command,
    ) -> Result<Vec<buendel_contract::proposal::ProposalEvent>, ProposalError> {
        buendel_contract::Aggregate::decide(self, command)
    }
}

fn accepted_reply(outcome: &Outcome, screened: &Outcome) -> Reply {
    let mut events = outcome.events().to_vec();
    events.extend_from_slice(screened.events());
    let duplicate =
        matches!(outcome, Outcome::Duplicate(_)) && !matches!(screened, Outcome::Appended(_));
    Reply::accepted(events, duplicate)
        .unwrap_or_else(|| Reply::refused("unchanged", "the command changed nothing", vec![]))
}

/// Starts the submission service: streams, command endpoints and the intake consumer are ready when
/// this returns; the returned task runs until `shutdown`.
pub async fn start(
    client: async_nats::Client,
    store: EventStore,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    store.ensure_streams(&StreamKind::ALL).await?;
    let service = Arc::new(Submission::new(store.clone(), clock));
    let handler = service.clone();
    let commands = buendel_runtime::micro::serve(
        client,
        store.namespace(),
        SERVICE,
        "Bündel submission: proposal intake and commands",
        &COMMANDS,
        move |name, payload| {
            let service = handler.clone();
            async move { service.command(&name, &payload).await }
        },
        shutdown.clone(),
    )
    .await?;
    let messages = intake_messages(&store).await?;
    Ok(tokio::spawn(async move {
        let intake = consume_intake(service, messages, shutdown.clone()).await;
        shutdown.cancel();
        commands.await.context("command task panicked")?;
        intake
    }))
}

/// Runs the submission service until `shutdown`.
pub async fn run(
    client: async_nats::Client,
    store: EventStore,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    start(client, store, clock, shutdown)
        .await?
        .await
        .context("submission task panicked")?
}

async fn intake_messages(store: &EventStore) -> anyhow::Result<consumer::pull::Stream> {
    let messages = store
        .durable_messages(
            StreamKind::Intake,
            SERVICE,
            INTAKE_ACK_WAIT_MS,
            INTAKE_ACK_PENDING_MAX,
        )
        .await?;
    Ok(messages)
}

async fn consume_intake(
    service: Arc<Submission>,
    mut messages: consumer::pull::Stream,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut lanes = Vec::with_capacity(INTAKE_LANES);
    let mut workers = JoinSet::new();
    for _ in 0..INTAKE_LANES {
        let (tx, mut rx) =
            mpsc::channel::<(jetstream::Message, Result<IntakeEvent, Rejected>)>(LANE_QUEUE_MAX);
        lanes.push(tx);
        let service = service.clone();
        workers.spawn(async move {
            while let Some((message, validated)) = rx.recv().await {
                service.intake(message, validated).await;
            }
        });
    }
    let known = |id: &str| service.alliance(id).is_some();
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break,
            next = messages.next() => next,
        };
        let message = match next {
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                tracing::warn!(%error, "intake consumer error");
                continue;
            }
            None => break,
        };
        let validated = intake::validate_event(&message.payload, &known);
        let key = match &validated {
            Ok(event) => event.request.proposal_id().as_u128() as u64,
            Err(_) => {
                let mut hasher = DefaultHasher::new();
                message.payload.hash(&mut hasher);
                hasher.finish()
            }
        };
        let lane = usize::try_from(key % INTAKE_LANES as u64).unwrap_or(0);
        if lanes[lane].send((message, validated)).await.is_err() {
            break;
        }
    }
    drop(lanes);
    while workers.join_next().await.is_some() {}
    Ok(())
}
