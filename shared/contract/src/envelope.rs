//! The CloudEvents 1.0 structured-JSON envelope.
//!
//! Every stored event is one JSON object: the CloudEvents context attributes, the typed `type` and
//! `data` (from an event enum such as [`crate::proposal::ProposalEvent`], adjacently tagged), and the
//! extensions `sequence` (aggregate version), `correlationid`, `causationid` and `actor`. Ledger
//! events also carry `prevhash` and `hash`. The `id` doubles as the `Nats-Msg-Id` header.

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

/// The only CloudEvents version we speak.
pub const SPEC_VERSION: &str = "1.0";
/// Structured mode: the whole event is JSON.
pub const CONTENT_TYPE: &str = "application/json";

/// A typed event enum that can travel in an [`Envelope`].
///
/// Implementations are adjacently tagged serde enums (`#[serde(tag = "type", content = "data")]`),
/// one variant per published event type, never edited once published.
pub trait EventKind: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The CloudEvents `type`, e.g. `buendel.proposal.submitted.v1`.
    fn event_type(&self) -> &'static str;
    /// Every event type of this enum, for schemas and the AsyncAPI check.
    fn all_types() -> &'static [&'static str];
}

/// One event with its CloudEvents context and Bündel extensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<E> {
    /// Always `1.0`.
    pub specversion: String,
    /// The event id; also the `Nats-Msg-Id`, so JetStream drops a re-publish inside its window.
    pub id: Uuid,
    /// Which service (or publisher) produced the event, a URI reference such as `/buendel/submission`.
    pub source: String,
    /// `type` and `data`.
    #[serde(flatten)]
    pub event: E,
    /// The aggregate id (the last token of the NATS subject).
    pub subject: String,
    /// When the event was decided.
    pub time: DateTime<Utc>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The aggregate version after this event: 1 for the first event of an aggregate.
    pub sequence: u64,
    /// Groups every event of one business flow (a saga uses its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlationid: Option<String>,
    /// What caused this event: a command id, an intake event id, or another event's id.
    /// The shell uses it for idempotency that lasts forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causationid: Option<String>,
    /// Who asked for it (a publisher, an operator, a service).
    pub actor: String,
    /// Ledger only: the `hash` of the previous event of the same fund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevhash: Option<String>,
    /// Ledger only: SHA-256 over the RFC 8785 canonical JSON of this event without `hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// The fields a shell fills in around a decided event.
#[derive(Debug, Clone)]
pub struct Meta {
    /// See [`Envelope::source`].
    pub source: String,
    /// See [`Envelope::time`].
    pub time: DateTime<Utc>,
    /// See [`Envelope::correlationid`].
    pub correlation_id: Option<String>,
    /// See [`Envelope::causationid`].
    pub causation_id: Option<String>,
    /// See [`Envelope::actor`].
    pub actor: String,
}

impl<E: EventKind> Envelope<E> {
    /// Wraps a decided event.
    pub fn new(id: Uuid, subject: impl Into<String>, sequence: u64, event: E, meta: &Meta) -> Self {
        Self {
            specversion: SPEC_VERSION.to_owned(),
            id,
            source: meta.source.clone(),
            event,
            subject: subject.into(),
            time: meta.time,
            datacontenttype: CONTENT_TYPE.to_owned(),
            sequence,
            correlationid: meta.correlation_id.clone(),
            causationid: meta.causation_id.clone(),
            actor: meta.actor.clone(),
            prevhash: None,
            hash: None,
        }
    }

    /// The CloudEvents `type`.
    pub fn event_type(&self) -> &'static str {
        self.event.event_type()
    }
}

/// A deterministic event id: the n-th event caused by `cause` on one aggregate.
///
/// A retry after a crash re-derives the same ids, so JetStream's `Nats-Msg-Id` dedupe and the
/// aggregate's cause index agree on what was already written.
pub fn derived_event_id(cause: &str, aggregate: &str, index: usize) -> Uuid {
    let name = format!("{cause}/{aggregate}/{index}");
    Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
}
