//! The shell around an aggregate over the in-memory store, as the runtime's `Repository` does it
//! over JetStream: load (from a cache that may be stale) → skip a cause already booked → decide →
//! seal the envelopes the one way ([`envelopes_of`]) → append expecting the subject's last
//! sequence → on a conflict read what changed and decide again, at most
//! [`CONFLICT_RETRIES_MAX`] times; a refusal decided on a cached copy is decided again when the
//! store holds more.

use std::collections::BTreeMap;

use buendel_contract::namespace::{Namespace, StreamKind};
use buendel_contract::reply::AppendedEvent;
use buendel_contract::{Aggregate, Envelope, Meta};
use buendel_runtime::causes::appended_of;
use buendel_runtime::repository::{envelopes_of, Chain, Loaded, Outcome, CONFLICT_RETRIES_MAX};

use crate::store::{AppendError, Appended, Store};
use crate::world::{Crash, Writes};

/// Why a command did not go through.
#[derive(Debug)]
pub enum Failed<E> {
    /// The domain refused it.
    Domain(E),
    /// Conflicts kept happening.
    Contended,
    /// A stored event does not decode (never expected: the auditor reports it).
    Corrupt(String),
    /// The process died.
    Crashed,
}

impl<E> From<Crash> for Failed<E> {
    fn from(_: Crash) -> Self {
        Failed::Crashed
    }
}

/// One aggregate type's shell in one process.
pub struct Shell<A: Aggregate> {
    namespace: Namespace,
    kind: StreamKind,
    source: String,
    chain: Option<Chain<A::Event>>,
    /// What this process loaded or appended; lost when it crashes.
    cache: BTreeMap<String, Loaded<A>>,
    /// Whether a refusal on a cached copy is decided again on the store's (the runtime's rule
    /// since the simulation found refusals on stale copies; off only to show that finding).
    pub checks_refusals: bool,
}

impl<A: Aggregate> Shell<A> {
    /// A shell for aggregates in `kind`, writing events with `source`.
    pub fn new(namespace: Namespace, kind: StreamKind, source: &str) -> Self {
        Self {
            namespace,
            kind,
            source: source.to_owned(),
            chain: None,
            cache: BTreeMap::new(),
            checks_refusals: true,
        }
    }

    /// Seals every event into a hash chain per aggregate.
    pub fn hash_chained(mut self, chain: Chain<A::Event>) -> Self {
        self.chain = Some(chain);
        self
    }

    /// The subject of an aggregate.
    pub fn subject(&self, id: &str) -> String {
        self.namespace.subject(self.kind, id)
    }

    /// The aggregate as this process knows it: cached (possibly stale) or read.
    pub fn load(&mut self, store: &Store, id: &str) -> Result<Loaded<A>, String> {
        match self.cache.get(id) {
            Some(cached) => Ok(cached.clone()),
            None => self.refresh(store, id, Loaded::default()),
        }
    }

    /// Reads what was appended after `loaded`.
    pub fn refresh(
        &mut self,
        store: &Store,
        id: &str,
        mut loaded: Loaded<A>,
    ) -> Result<Loaded<A>, String> {
        let subject = self.subject(id);
        for message in store.stream(self.kind).subject(&subject) {
            if message.sequence <= loaded.last_sequence {
                continue;
            }
            let envelope: Envelope<A::Event> = serde_json::from_slice(&message.payload)
                .map_err(|e| format!("{subject} at {}: {e}", message.sequence))?;
            loaded.push(message.sequence, &envelope);
        }
        self.cache.insert(id.to_owned(), loaded.clone());
        Ok(loaded)
    }

    /// Runs one command under `cause`; every append is one write of `writes`.
    pub fn execute<F>(
        &mut self,
        store: &mut Store,
        writes: &mut Writes,
        id: &str,
        cause: &str,
        meta: &Meta,
        mut decide: F,
    ) -> Result<Outcome, Failed<A::Error>>
    where
        F: FnMut(&A) -> Result<Vec<A::Event>, A::Error>,
    {
        let subject = self.subject(id);
        let mut loaded = self.load(store, id).map_err(Failed::Corrupt)?;
        let mut refusal_checked = false;
        for _attempt in 0..=CONFLICT_RETRIES_MAX {
            if let Some(sequences) = loaded.causes.get(cause) {
                let stream = store.stream(self.kind);
                let mut events = Vec::with_capacity(sequences.len());
                for &sequence in sequences {
                    let message = stream
                        .get(sequence)
                        .ok_or_else(|| format!("{subject}: no message at {sequence}"))
                        .map_err(Failed::Corrupt)?;
                    let event = appended_of(sequence, &message.payload)
                        .map_err(|e| Failed::Corrupt(format!("{subject} at {sequence}: {e}")))?;
                    events.push(event);
                }
                return Ok(Outcome::Duplicate(events));
            }
            // A refusal or a decision to change nothing appends nothing, so no conflict would
            // reveal a stale cached copy: it is given only on the store's copy, as the runtime does.
            let decided = decide(&loaded.state);
            if !refusal_checked
                && self.checks_refusals
                && decided.as_ref().map_or(true, Vec::is_empty)
            {
                refusal_checked = true;
                loaded = self.refresh(store, id, loaded).map_err(Failed::Corrupt)?;
                continue;
            }
            let events = decided.map_err(Failed::Domain)?;
            if events.is_empty() {
                return Ok(Outcome::Unchanged);
            }
            let envelopes = envelopes_of(
                self.chain.as_ref(),
                &self.source,
                id,
                cause,
                meta,
                &loaded,
                events,
            )
            .map_err(Failed::Corrupt)?;
            let mut batch = Vec::with_capacity(envelopes.len());
            for envelope in &envelopes {
                let bytes =
                    serde_json::to_vec(envelope).map_err(|e| Failed::Corrupt(e.to_string()))?;
                batch.push((envelope.id, bytes));
            }
            writes.spend()?;
            match store.append(self.kind, &subject, Some(loaded.last_sequence), batch) {
                Ok(Appended::Stored(sequences)) => {
                    let appended = envelopes
                        .iter()
                        .zip(&sequences)
                        .map(|(envelope, sequence)| AppendedEvent::of(envelope, *sequence))
                        .collect();
                    for (envelope, sequence) in envelopes.iter().zip(&sequences) {
                        loaded.push(*sequence, envelope);
                    }
                    self.cache.insert(id.to_owned(), loaded);
                    return Ok(Outcome::Appended(appended));
                }
                // The ids are derived from the cause: stored before means booked before, which
                // the refreshed cause index answers.
                Ok(Appended::Duplicate(_)) | Err(AppendError::Conflict { .. }) => {
                    loaded = self.refresh(store, id, loaded).map_err(Failed::Corrupt)?;
                }
            }
        }
        Err(Failed::Contended)
    }
}
