//! One reactor for every service: a durable consumer on a stream, lanes keyed by the aggregate the
//! message is about, and a handler that returns a [`Verdict`], which the reactor maps to an ack, a
//! nak with a delay, or a dead letter.
//!
//! - **Limits are explicit** ([`Limits`]): deliveries, ack wait, unacknowledged messages, lanes and
//!   their queues. The server's `max_deliver` is [`Limits::deliveries_max`] plus
//!   [`SPARE_DELIVERIES`]: the reactor dead-letters on the last delivery it is allowed, and the spare
//!   ones cover a crash during that last attempt, so a message is never dropped without a letter
//!   unless the process dies on it every time.
//! - **Order per key**: [`Reaction::lane`] names the key; messages of one key are handled one after
//!   another in stream order, different keys in parallel.
//! - **Verdicts** ([`disposition`], pure): `Done` acks; `Refuse` dead-letters (on
//!   `<ns>.deadletter.<source>`, id from the stream sequence, so a redelivery writes the same
//!   letter) and then acks; `Retry` naks with a delay that grows with the delivery count, and on the
//!   last allowed delivery dead-letters `retries_exhausted` with the last error. A dead letter that
//!   cannot be stored naks: nothing is acked before it is accounted for.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, AckKind};
use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use buendel_contract::deadletter::DeadLetter;
use buendel_contract::namespace::StreamKind;
use buendel_contract::reply::FieldError;
use buendel_contract::DomainError;

use crate::{CancellationToken, Clock, EventStore, StoreError};

/// Deliveries the server makes beyond [`Limits::deliveries_max`] (see the module docs).
pub const SPARE_DELIVERIES: i64 = 2;
/// The dead-letter code of a message that kept failing transiently.
pub const RETRIES_EXHAUSTED: &str = "retries_exhausted";

/// The limits of one reactor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deliveries of one message before a transient failure dead-letters it.
    pub deliveries_max: i64,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait_ms: u64,
    /// Unacknowledged messages at most (the server stops delivering beyond).
    pub ack_pending_max: i64,
    /// Lanes handled in parallel.
    pub lanes: usize,
    /// Messages queued per lane before the consumer waits.
    pub lane_queue_max: usize,
    /// Base delay of a nak (multiplied by the delivery count).
    pub nak_delay_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deliveries_max: 5,
            ack_wait_ms: 30_000,
            ack_pending_max: 1_024,
            lanes: 64,
            lane_queue_max: 64,
            nak_delay_ms: 500,
        }
    }
}

/// What a reactor consumes and where its dead letters go.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The stream consumed (the whole stream).
    pub stream: StreamKind,
    /// The durable consumer's service name (`<ns>_<service>_<stream>`).
    pub service: String,
    /// The dead letters' `source` and subject token (`<ns>.deadletter.<source>`).
    pub letter_source: String,
    /// What the dead-letter ids are derived from, with the stream sequence.
    pub letter_origin: String,
    /// The limits.
    pub limits: Limits,
}

impl Spec {
    /// A service's reactor on a whole stream: its dead letters on `<ns>.deadletter.<service>`, their
    /// ids derived from `<STREAM>/<service>` and the stream sequence.
    pub fn of_service(
        ns: &buendel_contract::Namespace,
        stream: StreamKind,
        service: &str,
        limits: Limits,
    ) -> Self {
        Self {
            stream,
            service: service.to_owned(),
            letter_source: service.to_owned(),
            letter_origin: format!("{}/{service}", ns.stream(stream)),
            limits,
        }
    }
}

/// One delivered message.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Its subject.
    pub subject: String,
    /// Its stored bytes.
    pub payload: Bytes,
    /// Its stream sequence.
    pub sequence: u64,
    /// How many times it was delivered, this time included.
    pub delivered: i64,
    /// When the stream stored it, in milliseconds since the epoch.
    pub published_ms: i64,
}

/// A refusal for good: a dead letter with a code and every reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refusal {
    /// Stable code, e.g. `invalid_event`.
    pub code: String,
    /// Every reason, the first the sentence for people.
    pub reasons: Vec<FieldError>,
    /// The event id, where it could be read.
    pub event_id: Option<String>,
    /// The event type, where it could be read.
    pub event_type: Option<String>,
}

impl Refusal {
    /// A refusal with one sentence and per-field details.
    pub fn new(code: &str, message: impl Into<String>, details: Vec<FieldError>) -> Self {
        let mut reasons = vec![FieldError::new("", message)];
        reasons.extend(details);
        Self {
            code: code.to_owned(),
            reasons,
            ..Self::default()
        }
    }

    /// A domain refusal.
    pub fn of<E: DomainError>(error: &E) -> Self {
        Self::new(error.code(), error.to_string(), error.details())
    }

    /// With the event's id and type, where known.
    pub fn about(mut self, event_id: Option<String>, event_type: Option<String>) -> Self {
        self.event_id = self.event_id.or(event_id);
        self.event_type = self.event_type.or(event_type);
        self
    }
}

/// What the handler made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Handled (or handled before): ack.
    Done,
    /// Failed transiently: retry later, with the error for the log and the last letter.
    Retry(String),
    /// Refused for good: dead-letter, then ack.
    Refuse(Refusal),
}

impl From<StoreError> for Verdict {
    fn from(error: StoreError) -> Self {
        Verdict::Retry(error.to_string())
    }
}

/// What the reactor does with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Acknowledge it.
    Ack,
    /// Ask for a redelivery after this delay.
    Nak(Duration),
    /// Store this dead letter, then acknowledge.
    DeadLetter(Refusal),
}

/// The one mapping from a verdict to what happens to the message.
pub fn disposition(verdict: Verdict, delivered: i64, limits: &Limits) -> Disposition {
    match verdict {
        Verdict::Done => Disposition::Ack,
        Verdict::Refuse(refusal) => Disposition::DeadLetter(refusal),
        Verdict::Retry(_) if delivered < limits.deliveries_max => {
            let factor = u64::try_from(delivered.max(1)).unwrap_or(1);
            Disposition::Nak(Duration::from_millis(
                limits.nak_delay_ms.saturating_mul(factor),
            ))
        }
        Verdict::Retry(error) => Disposition::DeadLetter(Refusal::new(
            RETRIES_EXHAUSTED,
            format!("failed {delivered} times, last: {error}"),
            vec![],
        )),
    }
}

/// A service's reaction to the messages of one stream.
pub trait Reaction: Send + Sync + 'static {
    /// What the dispatcher reads from a message before choosing its lane (no I/O).
    type Read: Send + 'static;

    /// Reads a message.
    fn read(&self, delivery: &Delivery) -> Self::Read;

    /// The lane key: messages with one key are handled in stream order.
    fn lane(&self, delivery: &Delivery, read: &Self::Read) -> impl Future<Output = u64> + Send;

    /// Handles a message.
    fn handle(&self, delivery: &Delivery, read: Self::Read)
        -> impl Future<Output = Verdict> + Send;
}

/// A reactor whose durable consumer is bound: messages flow once it runs.
pub struct Reactor {
    store: EventStore,
    clock: Clock,
    spec: Spec,
    messages: consumer::pull::Stream,
}

impl Reactor {
    /// Creates or updates the durable consumer of `spec` and binds to it.
    pub async fn bind(store: EventStore, clock: Clock, spec: Spec) -> Result<Self, StoreError> {
        let messages = store
            .durable_messages(spec.stream, &spec.service, consumer_limits(&spec.limits))
            .await?;
        Ok(Self {
            store,
            clock,
            spec,
            messages,
        })
    }

    /// Runs until `shutdown` or until the consumer ends; in-flight messages finish first.
    pub async fn run<R: Reaction>(
        mut self,
        reaction: Arc<R>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let limits = self.spec.limits;
        let lanes_max = limits.lanes.max(1);
        let mut lanes = Vec::with_capacity(lanes_max);
        let mut workers = JoinSet::new();
        let letters = Arc::new(Letters {
            store: self.store.clone(),
            clock: self.clock,
            source: self.spec.letter_source.clone(),
            origin: self.spec.letter_origin.clone(),
        });
        for _ in 0..lanes_max {
            let (tx, mut rx) =
                mpsc::channel::<(jetstream::Message, Delivery, R::Read)>(limits.lane_queue_max);
            lanes.push(tx);
            let reaction = reaction.clone();
            let letters = letters.clone();
            let kind = if self.spec.stream == StreamKind::Intake {
                "intake"
            } else {
                "react"
            };
            let service = self.spec.service.clone();
            workers.spawn(async move {
                while let Some((message, delivery, read)) = rx.recv().await {
                    let parent = crate::trace::from_headers(message.headers.as_ref());
                    let handling = crate::trace::span(kind, &service, &delivery.subject, parent);
                    let verdict =
                        crate::trace::within(handling, reaction.handle(&delivery, read)).await;
                    let disposition = disposition(verdict, delivery.delivered, &limits);
                    letters
                        .settle(&message, &delivery, disposition, &limits)
                        .await;
                }
            });
        }
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => break,
                next = self.messages.next() => next,
            };
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    tracing::warn!(%error, service = self.spec.service, "consumer error");
                    continue;
                }
                None => break,
            };
            let Ok(info) = message.info() else {
                tracing::error!(subject = %message.subject, "message without JetStream metadata");
                continue;
            };
            let delivery = Delivery {
                subject: message.subject.to_string(),
                payload: message.payload.clone(),
                sequence: info.stream_sequence,
                delivered: info.delivered,
                published_ms: i64::try_from(info.published.unix_timestamp_nanos() / 1_000_000)
                    .unwrap_or(i64::MAX),
            };
            if delivery.delivered > 1 {
                crate::metrics::count(
                    crate::metrics::REDELIVERIES_TOTAL,
                    &[
                        ("service", &self.spec.service),
                        ("stream", self.spec.stream.suffix()),
                    ],
                );
            }
            let read = reaction.read(&delivery);
            let key = reaction.lane(&delivery, &read).await;
            let lane = usize::try_from(key % lanes_max as u64).unwrap_or(0);
            if lanes[lane].send((message, delivery, read)).await.is_err() {
                break;
            }
        }
        drop(lanes);
        while workers.join_next().await.is_some() {}
        Ok(())
    }
}

/// The server-side limits of a reactor's durable consumer.
pub fn consumer_limits(limits: &Limits) -> crate::store::ConsumerLimits {
    crate::store::ConsumerLimits {
        ack_wait_ms: limits.ack_wait_ms,
        ack_pending_max: limits.ack_pending_max,
        max_deliver: limits.deliveries_max.saturating_add(SPARE_DELIVERIES),
    }
}

/// Where a reactor's dead letters go.
struct Letters {
    store: EventStore,
    clock: Clock,
    source: String,
    origin: String,
}

impl Letters {
    /// Carries out a disposition; a dead letter that cannot be stored naks instead of acking.
    async fn settle(
        &self,
        message: &jetstream::Message,
        delivery: &Delivery,
        disposition: Disposition,
        limits: &Limits,
    ) {
        let sequence = delivery.sequence;
        match disposition {
            Disposition::Nak(delay) => {
                tracing::warn!(
                    sequence,
                    delivered = delivery.delivered,
                    "failed transiently, nak"
                );
                if let Err(error) = message.ack_with(AckKind::Nak(Some(delay))).await {
                    tracing::warn!(%error, sequence, "nak not sent");
                }
                return;
            }
            Disposition::DeadLetter(mut refusal) => {
                crate::metrics::count(
                    crate::metrics::DEAD_LETTERS_TOTAL,
                    &[("source", &self.source), ("code", &refusal.code)],
                );
                // The origin is `<stream>/<service>`.
                let stream = self.origin.split('/').next().unwrap_or(&self.origin);
                let (original_base64, cut) = DeadLetter::kept(&delivery.payload, stream, sequence);
                refusal.reasons.extend(cut);
                let letter = DeadLetter {
                    id: DeadLetter::id_for(&self.origin, sequence),
                    source: self.source.clone(),
                    subject: delivery.subject.clone(),
                    stream_sequence: sequence,
                    event_id: refusal.event_id,
                    event_type: refusal.event_type,
                    code: refusal.code,
                    reasons: refusal.reasons,
                    original_base64,
                    rejected_at: self.clock.now(),
                };
                if let Err(error) = self.store.dead_letter(&letter).await {
                    tracing::warn!(%error, sequence, "dead letter not stored, nak");
                    let delay = Duration::from_millis(limits.nak_delay_ms);
                    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                    return;
                }
            }
            Disposition::Ack => {}
        }
        if let Err(error) = message.ack().await {
            tracing::warn!(%error, sequence, "ack not sent; the message will be redelivered and deduplicated");
        }
    }
}

/// A lane key from bytes (a subject, a payload), for messages without an aggregate id.
pub fn hash_key(bytes: &[u8]) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// A lane key from a UUID-shaped last subject token (`<ns>.<kind>.<uuid>`), else from the subject.
pub fn subject_key(subject: &str) -> u64 {
    let token = subject.rsplit('.').next().unwrap_or(subject);
    match uuid::Uuid::parse_str(token) {
        Ok(id) => id.as_u128() as u64,
        Err(_) => hash_key(subject.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            deliveries_max: 3,
            nak_delay_ms: 100,
            ..Limits::default()
        }
    }

    #[test]
    fn done_acks_and_a_refusal_dead_letters_at_once() {
        assert_eq!(disposition(Verdict::Done, 1, &limits()), Disposition::Ack);
        let refusal = Refusal::new("invalid_event", "no", vec![]);
        assert_eq!(
            disposition(Verdict::Refuse(refusal.clone()), 1, &limits()),
            Disposition::DeadLetter(refusal)
        );
    }

    #[test]
    fn a_retry_naks_with_a_growing_delay_until_the_last_delivery_dead_letters_it() {
        let retry = || Verdict::Retry("NATS down".into());
        assert_eq!(
            disposition(retry(), 1, &limits()),
            Disposition::Nak(Duration::from_millis(100))
        );
        assert_eq!(
            disposition(retry(), 2, &limits()),
            Disposition::Nak(Duration::from_millis(200))
        );
        let Disposition::DeadLetter(letter) = disposition(retry(), 3, &limits()) else {
            panic!("the third delivery is the last");
        };
        assert_eq!(letter.code, RETRIES_EXHAUSTED);
        assert!(letter.reasons[0]
            .reason
            .contains("failed 3 times, last: NATS down"));
    }

    #[test]
    fn the_server_delivers_a_spare_beyond_the_reactors_last() {
        assert_eq!(consumer_limits(&limits()).max_deliver, 3 + SPARE_DELIVERIES);
    }

    #[test]
    fn lane_keys_follow_the_aggregate_id_of_the_subject() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(
            subject_key(&format!("t.proposal.{id}")),
            id.as_u128() as u64
        );
        assert_eq!(
            subject_key("t.review.alliance-non"),
            subject_key("t.review.alliance-non")
        );
        assert_ne!(
            subject_key("t.review.alliance-non"),
            subject_key("t.review.alliance-son")
        );
    }
}
