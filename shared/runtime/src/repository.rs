//! The shell around an aggregate: load → decide → append, with bounded retries on conflict and
//! idempotency that lasts forever.
//!
//! Idempotency: every event names its cause (`causationid`: a command id, an intake event id or the
//! id of the event that triggered it). Loading an aggregate indexes those causes, so a cause that was
//! already booked, an hour or a year ago, returns the original events and appends nothing. Derived
//! event ids ([`buendel_contract::envelope::derived_event_id`]) make a retried append carry the same
//! `Nats-Msg-Id` as the first attempt.
//!
//! A bounded cache keeps recently used aggregates in memory with the stream sequence they were loaded
//! at; a stale entry is harmless: the append fails with a conflict and the aggregate is reloaded,
//! and a refusal (which appends nothing) is decided again on the current aggregate before it is
//! given, so no instance refuses on what another has changed since.
//!
//! A decision is all or nothing. On a server with atomic batches the store appends it as one. On an
//! older server its events go one by one, so the decision is recorded whole first
//! ([`EventStore::record_decision`]); a load that finds the aggregate ending in the first events of
//! its last recorded decision appends the rest (the exact bytes recorded) before anything else is
//! decided. A process that dies between two events of a decision therefore leaves it to whoever
//! touches the aggregate next, the redelivery of its own cause included; a cause counts as booked
//! only once all its events are.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use buendel_contract::envelope::derived_event_id;
use buendel_contract::namespace::StreamKind;
use buendel_contract::reply::AppendedEvent;
use buendel_contract::{Aggregate, Envelope, EventKind, Meta};

use crate::causes::{appended_of, Causes};
use crate::metrics;
use crate::store::{DecisionRecord, EventStore, Pending, RecordedEvent, StoreError};

/// How many times a command is decided again after a conflict before giving up.
pub const CONFLICT_RETRIES_MAX: u32 = 16;
/// Lock stripes serialising commands on one aggregate within a process.
pub const LOCK_STRIPES: usize = 1_024;
/// How many aggregates the cache holds at most.
pub const CACHE_ENTRIES_MAX: usize = 10_000;

/// An aggregate as loaded: its state, versions and cause index.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: A,
    /// The aggregate version (number of events).
    pub version: u64,
    /// The stream sequence of its last event (0 for a new aggregate).
    pub last_sequence: u64,
    /// Every cause booked on this aggregate, with the events it produced.
    pub causes: Causes,
    /// The `hash` of the last event, for hash-chained aggregates.
    pub last_hash: Option<String>,
    /// The trace context in the headers of the last event read from the store (one appended in
    /// this process carries the handling's own, [`crate::trace::current`]).
    pub trace: Option<crate::trace::TraceContext>,
}

impl<A: Aggregate> Default for Loaded<A> {
    fn default() -> Self {
        Self {
            state: A::default(),
            version: 0,
            last_sequence: 0,
            causes: Causes::default(),
            last_hash: None,
            trace: None,
        }
    }
}

impl<A: Aggregate> Loaded<A> {
    /// Folds one stored envelope in; one at or below the last sequence folded is already in
    /// (a read handed a message again, as after a node of the cluster died) and is skipped, so
    /// no event is ever folded twice (found by `buendel chaos`: a commitment counted twice was
    /// released twice).
    pub fn push(&mut self, sequence: u64, envelope: &Envelope<A::Event>) {
        if sequence <= self.last_sequence {
            tracing::warn!(
                sequence,
                last = self.last_sequence,
                "a message already folded was read again; skipped"
            );
            return;
        }
        self.state = std::mem::take(&mut self.state).apply(&envelope.event);
        self.record(sequence, envelope);
    }

    /// Takes a group's events in once [`plan_group`] has applied them: `state` is the aggregate
    /// after all of them, `appended` each event with its stream sequence. Nothing is applied
    /// twice.
    pub fn take_group<'e>(
        &mut self,
        state: A,
        appended: impl IntoIterator<Item = (&'e Envelope<A::Event>, u64)>,
    ) where
        A::Event: 'e,
    {
        self.state = state;
        for (envelope, sequence) in appended {
            self.record(sequence, envelope);
        }
    }

    /// The bookkeeping of one event folded in: versions, hash, and the cause it answers.
    fn record(&mut self, sequence: u64, envelope: &Envelope<A::Event>) {
        self.version = envelope.sequence;
        self.last_sequence = sequence;
        self.last_hash.clone_from(&envelope.hash);
        if let Some(cause) = &envelope.causationid {
            self.causes.push(cause, sequence);
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// New events were appended.
    Appended(Vec<AppendedEvent>),
    /// The cause was already booked: these are the events it produced then; nothing was appended.
    Duplicate(Vec<AppendedEvent>),
    /// The decision produced no event.
    Unchanged,
}

impl Outcome {
    /// The events appended now or before.
    pub fn events(&self) -> &[AppendedEvent] {
        match self {
            Outcome::Appended(events) | Outcome::Duplicate(events) => events,
            Outcome::Unchanged => &[],
        }
    }
}

/// Why a command did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E: std::error::Error> {
    /// The domain refused it.
    #[error(transparent)]
    Domain(E),
    /// Conflicts kept happening beyond [`CONFLICT_RETRIES_MAX`].
    #[error("gave up after {0} conflicting appends")]
    Contended(u32),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The shell of one aggregate type.
pub struct Repository<A: Aggregate> {
    /// Where the events live.
    store: EventStore,
    /// Which stream holds this aggregate type.
    kind: StreamKind,
    /// The service name written into `source`.
    source: String,
    /// Recently used aggregates; bounded, evicted oldest-first.
    cache: Mutex<Cache<A>>,
    /// For hash-chained aggregates (the ledger): how each new event is sealed.
    chain: Option<Chain<A::Event>>,
    /// Commands on one aggregate take turns within this process (see [`Repository::execute`]).
    stripes: Vec<tokio::sync::Mutex<()>>,
    /// Commands waiting to be decided in a group, per aggregate ([`Repository::execute_grouped`]).
    queues: Mutex<HashMap<String, VecDeque<Job<A>>>>,
}

/// A command waiting for its group.
struct Job<A: Aggregate> {
    cause: String,
    meta: Meta,
    command: A::Command,
    reply: tokio::sync::oneshot::Sender<Result<Outcome, ExecuteError<A::Error>>>,
}

/// Commands decided and appended together at most (their events stay far below the server's
/// limit of a batch, 1,000 messages).
pub const GROUP_MAX: usize = 64;

/// How the events of a hash-chained aggregate are sealed: `prevhash` and `hash` set on each.
pub struct Chain<E> {
    /// The `prevhash` of an aggregate's first event.
    pub genesis: &'static str,
    /// Sets `prevhash` and `hash` on an envelope whose other fields are final.
    pub seal: fn(&mut Envelope<E>, &str) -> Result<(), buendel_contract::canonical::NotCanonical>,
}

struct Cache<A> {
    entries: HashMap<String, Arc<Loaded<A>>>,
    order: VecDeque<String>,
}

impl<A: Aggregate> Repository<A> {
    /// A repository for aggregates in `kind`, writing events with `source`.
    pub fn new(store: EventStore, kind: StreamKind, source: impl Into<String>) -> Self {
        Self {
            store,
            kind,
            source: source.into(),
            cache: Mutex::new(Cache {
                entries: HashMap::new(),
                order: VecDeque::new(),
            }),
            chain: None,
            stripes: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Seals every new event into a hash chain per aggregate (`prevhash`, `hash`).
    pub fn hash_chained(mut self, chain: Chain<A::Event>) -> Self {
        self.chain = Some(chain);
        self
    }

    /// The event store.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// The `source` attribute of events written here.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The subject of an aggregate.
    pub fn subject(&self, id: &str) -> String {
        self.store.namespace().subject(self.kind, id)
    }

    /// Loads an aggregate from the cache or the store.
    pub async fn load(&self, id: &str) -> Result<Arc<Loaded<A>>, StoreError> {
        if let Some(hit) = self.cached(id) {
            return Ok(hit);
        }
        self.reload(id).await
    }

    /// Loads an aggregate and makes sure it is current: a cached copy is refreshed with whatever was
    /// appended since (one request when nothing was).
    pub async fn load_fresh(&self, id: &str) -> Result<Arc<Loaded<A>>, StoreError> {
        let loaded = self.load(id).await?;
        self.refresh(id, &loaded).await
    }

    /// Loads an aggregate from the store, bypassing the cache.
    pub async fn reload(&self, id: &str) -> Result<Arc<Loaded<A>>, StoreError> {
        self.refresh(id, &Arc::new(Loaded::default())).await
    }

    /// Brings a loaded aggregate up to date by reading only the events appended after it, so a
    /// conflict on a long aggregate (a fund with a year of bookings) costs what changed, not the
    /// whole history.
    pub async fn refresh(
        &self,
        id: &str,
        loaded: &Arc<Loaded<A>>,
    ) -> Result<Arc<Loaded<A>>, StoreError> {
        // A direct get may come from a replica that is behind: then the aggregate looks older than
        // it is, the append that follows conflicts, and the next refresh reads what it missed.
        let subject = self.subject(id);
        let last = self.store.last_sequence_direct(self.kind, &subject).await?;
        self.refresh_to(id, loaded, last).await
    }

    /// [`Repository::refresh`] to the last sequence the stream's leader reports: for a decision
    /// that appends nothing (a refusal, a no-op), whose staleness no expected sequence would
    /// catch, so a lagging replica must not answer it (`buendel chaos` once saw a claim's approval
    /// refused `claim_wrong_status` on a copy that lacked its verification).
    pub async fn refresh_from_leader(
        &self,
        id: &str,
        loaded: &Arc<Loaded<A>>,
    ) -> Result<Arc<Loaded<A>>, StoreError> {
        let subject = self.subject(id);
        let last = self.store.last_sequence(self.kind, &subject).await?;
        self.refresh_to(id, loaded, last).await
    }

    /// Reads what was appended after `loaded` up to `last`.
    async fn refresh_to(
        &self,
        id: &str,
        loaded: &Arc<Loaded<A>>,
        last: u64,
    ) -> Result<Arc<Loaded<A>>, StoreError> {
        let subject = self.subject(id);
        if last == loaded.last_sequence {
            return Ok(loaded.clone());
        }
        let mut next = if last > loaded.last_sequence {
            (**loaded).clone()
        } else {
            Loaded::<A>::default()
        };
        let from = next.last_sequence + 1;
        for stored in self.store.read(self.kind, &subject, from, last).await? {
            let envelope: Envelope<A::Event> =
                serde_json::from_slice(&stored.payload).map_err(|e| StoreError::Corrupt {
                    subject: subject.clone(),
                    sequence: stored.sequence,
                    reason: e.to_string(),
                })?;
            next.push(stored.sequence, &envelope);
            if stored.trace.is_some() {
                next.trace = stored.trace;
            }
        }
        if !self.store.capabilities().atomic_batch {
            self.complete_decision(id, &mut next).await?;
        }
        let next = Arc::new(next);
        self.remember(id, next.clone());
        Ok(next)
    }

    /// Appends the rest of the aggregate's last recorded decision if the aggregate ends with its
    /// first events (a process died between two of them). Another process completing it at the same
    /// time makes the append conflict: the aggregate is then read again, which shows it complete.
    async fn complete_decision(&self, id: &str, next: &mut Loaded<A>) -> Result<(), StoreError> {
        let Some(record) = self.store.last_decision(self.kind, id).await? else {
            return Ok(());
        };
        let Some(booked) = next.causes.get(&record.cause) else {
            return Ok(()); // never started: a conflict made its writer decide again
        };
        if booked.len() >= record.events.len() {
            return Ok(());
        }
        let booked = self.booked(booked).await?;
        let in_order = booked
            .iter()
            .zip(&record.events)
            .all(|(stored, recorded)| stored.event_id == recorded.id);
        if !in_order || booked.last().map(|b| b.sequence) != Some(next.last_sequence) {
            tracing::error!(
                subject = record.subject,
                cause = record.cause,
                "a decision cut short cannot be completed: other events follow it"
            );
            return Ok(());
        }
        let rest: Vec<Pending> = record.events[booked.len()..]
            .iter()
            .map(|event| Pending {
                id: event.id,
                payload: Bytes::from(event.payload.clone().into_bytes()),
            })
            .collect();
        tracing::warn!(
            subject = record.subject,
            cause = record.cause,
            missing = rest.len(),
            "completing a decision cut short"
        );
        match self
            .store
            .append(&record.subject, next.last_sequence, &rest)
            .await
        {
            Ok(sequences) => {
                for (pending, sequence) in rest.iter().zip(sequences) {
                    let envelope: Envelope<A::Event> = serde_json::from_slice(&pending.payload)
                        .map_err(|e| StoreError::Corrupt {
                            subject: record.subject.clone(),
                            sequence,
                            reason: e.to_string(),
                        })?;
                    next.push(sequence, &envelope);
                }
                Ok(())
            }
            Err(StoreError::Conflict { .. }) => {
                // Completed (or moved on) by someone else: read what they wrote.
                let fresh = Box::pin(self.refresh(id, &Arc::new(next.clone()))).await?;
                *next = (*fresh).clone();
                Ok(())
            }
            Err(other) => Err(other),
        }
    }

    /// Runs one command: skips a cause already booked, decides, appends, and retries on conflict.
    ///
    /// `decide` may be called several times (once per attempt) with fresher state each time.
    pub async fn execute<F>(
        &self,
        id: &str,
        cause: &str,
        meta: &Meta,
        decide: F,
    ) -> Result<Outcome, ExecuteError<A::Error>>
    where
        F: FnMut(&A) -> Result<Vec<A::Event>, A::Error>,
    {
        let _turn = self.turn(id).await;
        let loaded = self.load(id).await?;
        self.execute_from(id, cause, meta, loaded, decide).await
    }

    /// Like [`Repository::execute`], for a command that normally creates the aggregate: when it is
    /// not cached, decide on an empty aggregate and append expecting none. If one exists after all,
    /// the append conflicts, the aggregate is loaded, and the command is decided again. This saves
    /// a round trip to the server on the hot path of intake.
    pub async fn execute_assuming_new<F>(
        &self,
        id: &str,
        cause: &str,
        meta: &Meta,
        decide: F,
    ) -> Result<Outcome, ExecuteError<A::Error>>
    where
        F: FnMut(&A) -> Result<Vec<A::Event>, A::Error>,
    {
        let _turn = self.turn(id).await;
        let loaded = self.cached(id).unwrap_or_default();
        self.execute_from(id, cause, meta, loaded, decide).await
    }

    async fn execute_from<F>(
        &self,
        id: &str,
        cause: &str,
        meta: &Meta,
        mut loaded: Arc<Loaded<A>>,
        mut decide: F,
    ) -> Result<Outcome, ExecuteError<A::Error>>
    where
        F: FnMut(&A) -> Result<Vec<A::Event>, A::Error>,
    {
        let subject = self.subject(id);
        // Whether `loaded` was read from the store during this call. A refusal (or a decision to
        // change nothing) appends nothing, so no conflict would reveal a stale cached copy: it is
        // only given once the aggregate is current (another instance may have appended since).
        let mut current = false;
        for _attempt in 0..=CONFLICT_RETRIES_MAX {
            if let Some(sequences) = loaded.causes.get(cause) {
                let sequences = sequences.to_vec();
                return Ok(Outcome::Duplicate(self.booked(&sequences).await?));
            }
            // A handling that brought no trace continues the aggregate's.
            crate::trace::adopt(loaded.trace);
            let decided = decide(&loaded.state);
            if !current && decided.as_ref().map_or(true, Vec::is_empty) {
                loaded = self.refresh_from_leader(id, &loaded).await?;
                current = true;
                continue;
            }
            let events = decided.map_err(ExecuteError::Domain)?;
            if events.is_empty() {
                return Ok(Outcome::Unchanged);
            }
            let envelopes = self
                .envelopes(id, cause, meta, &loaded, events)
                .map_err(|reason| StoreError::Corrupt {
                    subject: subject.clone(),
                    sequence: 0,
                    reason,
                })?;
            let pending = pending_of(&envelopes).map_err(|e| StoreError::Corrupt {
                subject: subject.clone(),
                sequence: 0,
                reason: e.to_string(),
            })?;
            if pending.len() > 1 && !self.store.capabilities().atomic_batch {
                let record = DecisionRecord {
                    cause: cause.to_owned(),
                    subject: subject.clone(),
                    expected_last: loaded.last_sequence,
                    events: pending
                        .iter()
                        .map(|p| RecordedEvent {
                            id: p.id,
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                        })
                        .collect(),
                };
                self.store.record_decision(self.kind, id, &record).await?;
            }
            match self
                .store
                .append(&subject, loaded.last_sequence, &pending)
                .await
            {
                Ok(sequences) => {
                    let appended: Vec<AppendedEvent> = envelopes
                        .iter()
                        .zip(&sequences)
                        .map(|(envelope, sequence)| AppendedEvent::of(envelope, *sequence))
                        .collect();
                    self.fold_appended(id, loaded, None, &envelopes, &sequences);
                    return Ok(Outcome::Appended(appended));
                }
                Err(StoreError::Conflict { .. }) => {
                    tracing::debug!(subject, "conflict, reading what changed");
                    self.count_conflict();
                    loaded = self.refresh(id, &loaded).await?;
                    current = true;
                }
                Err(other) => {
                    self.forget(id);
                    return Err(other.into());
                }
            }
        }
        Err(ExecuteError::Contended(CONFLICT_RETRIES_MAX))
    }

    /// Group commit: like [`Repository::execute`], but commands that arrive for the aggregate
    /// while another is being appended wait, and are then decided one after another against the
    /// state in memory ([`plan_group`]) and appended as one atomic batch (at most [`GROUP_MAX`]);
    /// each answer waits for that batch's ack. A refusal, a duplicate and a command that decides
    /// nothing are answered as alone; a conflict decides the whole group again on the fresher
    /// aggregate; a batch that fails fails every command in it, each to be retried by its client
    /// with the same id (the events' ids derive from it, so a batch stored despite the error is
    /// found as a duplicate). On servers without atomic batches, commands run one by one
    /// ([`Repository::execute`]).
    pub async fn execute_grouped(
        &self,
        id: &str,
        cause: &str,
        meta: &Meta,
        command: A::Command,
    ) -> Result<Outcome, ExecuteError<A::Error>>
    where
        A::Command: Send + 'static,
    {
        if !self.store.capabilities().atomic_batch {
            return self
                .execute(id, cause, meta, |state| state.decide(&command))
                .await;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        if let Ok(mut queues) = self.queues.lock() {
            queues.entry(id.to_owned()).or_default().push_back(Job {
                cause: cause.to_owned(),
                meta: meta.clone(),
                command,
                reply,
            });
        }
        {
            // Whoever holds the turn decides what waits: every command's owner takes the turn
            // once after queueing, so each command is taken by one of them.
            let _turn = self.turn(id).await;
            let jobs: Vec<Job<A>> = match self.queues.lock() {
                Ok(mut queues) => {
                    let taken = queues.get_mut(id).map_or_else(Vec::new, |queue| {
                        let n = queue.len().min(GROUP_MAX);
                        queue.drain(..n).collect()
                    });
                    if queues.get(id).is_some_and(VecDeque::is_empty) {
                        queues.remove(id);
                    }
                    taken
                }
                Err(_) => Vec::new(),
            };
            if !jobs.is_empty() {
                self.commit_group(id, jobs).await;
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(ExecuteError::Store(StoreError::Unavailable(
                "the command's group ended without an answer".into(),
            )))
        })
    }

    /// Decides and appends one group, and answers each of its commands.
    async fn commit_group(&self, id: &str, jobs: Vec<Job<A>>) {
        let fail_all = |jobs: Vec<Job<A>>, reason: String| {
            for job in jobs {
                let _ = job
                    .reply
                    .send(Err(ExecuteError::Store(StoreError::Unavailable(
                        reason.clone(),
                    ))));
            }
        };
        let mut loaded = match self.load(id).await {
            Ok(loaded) => loaded,
            Err(error) => return fail_all(jobs, error.to_string()),
        };
        let subject = self.subject(id);
        let mut current = false;
        for _attempt in 0..=CONFLICT_RETRIES_MAX {
            let commands: Vec<GroupedCommand<'_, A>> = jobs
                .iter()
                .map(|job| (job.cause.as_str(), &job.meta, &job.command))
                .collect();
            let Group { plan, state } =
                match plan_group(self.chain.as_ref(), &self.source, id, &loaded, &commands) {
                    Ok(group) => group,
                    Err(reason) => return fail_all(jobs, reason),
                };
            // As alone: a refusal or a decision of nothing is only given on a current aggregate.
            let settled_without_events = plan
                .iter()
                .any(|p| matches!(p, Planned::Refused(_) | Planned::Unchanged));
            if !current && settled_without_events {
                match self.refresh_from_leader(id, &loaded).await {
                    Ok(fresh) => {
                        loaded = fresh;
                        current = true;
                        continue;
                    }
                    Err(error) => return fail_all(jobs, error.to_string()),
                }
            }
            let envelopes: Vec<&Envelope<A::Event>> = plan
                .iter()
                .flat_map(|p| match p {
                    Planned::Append(envelopes) => envelopes.iter().collect::<Vec<_>>(),
                    _ => Vec::new(),
                })
                .collect();
            let Some(state) = state else {
                return self.answer(jobs, plan, &[]).await;
            };
            let pending = match pending_of(envelopes.iter().copied()) {
                Ok(pending) => pending,
                Err(error) => return fail_all(jobs, error.to_string()),
            };
            match self
                .store
                .append(&subject, loaded.last_sequence, &pending)
                .await
            {
                Ok(sequences) => {
                    let events = envelopes.iter().copied();
                    self.fold_appended(id, loaded, Some(state), events, &sequences);
                    return self.answer(jobs, plan, &sequences).await;
                }
                Err(StoreError::Conflict { .. }) => {
                    self.count_conflict();
                    match self.refresh(id, &loaded).await {
                        Ok(fresh) => {
                            loaded = fresh;
                            current = true;
                        }
                        Err(error) => return fail_all(jobs, error.to_string()),
                    }
                }
                Err(other) => {
                    self.forget(id);
                    return fail_all(jobs, other.to_string());
                }
            }
        }
        for job in jobs {
            let _ = job
                .reply
                .send(Err(ExecuteError::Contended(CONFLICT_RETRIES_MAX)));
        }
    }

    /// The events booked at `sequences`, read back from the stream's leader to answer a retry
    /// (the cause index keeps only their sequences).
    async fn booked(&self, sequences: &[u64]) -> Result<Vec<AppendedEvent>, StoreError> {
        let mut events = Vec::with_capacity(sequences.len());
        for &sequence in sequences {
            let stored = self.store.get(self.kind, sequence).await?;
            let event =
                appended_of(sequence, &stored.payload).map_err(|e| StoreError::Corrupt {
                    subject: stored.subject.clone(),
                    sequence,
                    reason: e.to_string(),
                })?;
            events.push(event);
        }
        Ok(events)
    }

    /// Answers each command of a group, the duplicates with their events read back.
    async fn answer(&self, jobs: Vec<Job<A>>, plan: Vec<Planned<A>>, sequences: &[u64]) {
        let mut booked = Vec::with_capacity(plan.len());
        for planned in &plan {
            booked.push(match planned {
                Planned::Duplicate(at) => Some(self.booked(at).await),
                _ => None,
            });
        }
        answer(jobs, plan, booked, sequences);
    }

    fn envelopes(
        &self,
        id: &str,
        cause: &str,
        meta: &Meta,
        loaded: &Loaded<A>,
        events: Vec<A::Event>,
    ) -> Result<Vec<Envelope<A::Event>>, String> {
        envelopes_of(
            self.chain.as_ref(),
            &self.source,
            id,
            cause,
            meta,
            loaded,
            events,
        )
    }

    /// Commands on one aggregate take turns inside this process, so they do not conflict with each
    /// other (conflicts remain possible, and are handled, across processes). Striped: bounded memory,
    /// and two aggregates rarely share a stripe.
    async fn turn(&self, id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        let stripe = usize::try_from(hasher.finish() % LOCK_STRIPES as u64).unwrap_or(0);
        self.stripes[stripe].lock().await
    }

    /// Counts an append that conflicted and is tried again.
    fn count_conflict(&self) {
        let stream = self.kind.suffix();
        metrics::count(metrics::APPEND_CONFLICTS_TOTAL, &[("stream", stream)]);
        metrics::count(metrics::APPEND_RETRIES_TOTAL, &[("stream", stream)]);
    }

    /// Folds events just appended (with their stream sequences) into the cached aggregate, and
    /// remembers the trace they were stored with. `planned`, when given, is the aggregate after
    /// them as [`plan_group`] computed it: taken as it is, the events not applied again.
    fn fold_appended<'e>(
        &self,
        id: &str,
        loaded: Arc<Loaded<A>>,
        planned: Option<A>,
        envelopes: impl IntoIterator<Item = &'e Envelope<A::Event>>,
        sequences: &[u64],
    ) {
        let trace = crate::trace::current();
        self.fold_in_place(id, loaded, |folded| {
            let appended = envelopes.into_iter().zip(sequences.iter().copied());
            match planned {
                Some(state) => folded.take_group(state, appended),
                None => {
                    for (envelope, sequence) in appended {
                        folded.push(sequence, envelope);
                    }
                }
            }
            if trace.is_some() {
                folded.trace = trace;
            }
        });
    }

    /// Folds newly appended events into the cached aggregate in place. The cached copy is shared
    /// only with this command (commands take turns), so `make_mut` copies nothing; a copy per append
    /// would make a long aggregate (a fund with a year of bookings) quadratic.
    fn fold_in_place(&self, id: &str, loaded: Arc<Loaded<A>>, fold: impl FnOnce(&mut Loaded<A>)) {
        if let Ok(mut cache) = self.cache.lock() {
            if let Some(slot) = cache.entries.get_mut(id) {
                if Arc::ptr_eq(slot, &loaded) {
                    drop(loaded);
                    fold(Arc::make_mut(slot));
                    return;
                }
            }
        }
        let mut next = loaded;
        fold(Arc::make_mut(&mut next));
        self.remember(id, next);
    }

    fn cached(&self, id: &str) -> Option<Arc<Loaded<A>>> {
        self.cache.lock().ok()?.entries.get(id).cloned()
    }

    fn forget(&self, id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.entries.remove(id);
        }
    }

    fn remember(&self, id: &str, loaded: Arc<Loaded<A>>) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.entries.insert(id.to_owned(), loaded).is_none() {
            cache.order.push_back(id.to_owned());
        }
        while cache.entries.len() > CACHE_ENTRIES_MAX {
            let Some(oldest) = cache.order.pop_front() else {
                break;
            };
            cache.entries.remove(&oldest);
        }
    }
}

/// The envelopes of one decision on a loaded aggregate: the ids derived from the cause
/// ([`derived_event_id`]), the aggregate versions after the loaded one, `source`, the cause, and
/// for a hash-chained aggregate `prevhash` and `hash`. The one way events are sealed, used by
/// [`Repository`] and by the deterministic simulation's shell.
pub fn envelopes_of<A: Aggregate>(
    chain: Option<&Chain<A::Event>>,
    source: &str,
    id: &str,
    cause: &str,
    meta: &Meta,
    loaded: &Loaded<A>,
    events: Vec<A::Event>,
) -> Result<Vec<Envelope<A::Event>>, String> {
    envelopes_at(
        chain,
        source,
        id,
        cause,
        meta,
        loaded.version,
        loaded.last_hash.as_deref(),
        events,
    )
}

/// [`envelopes_of`] after an aggregate at `version` whose last event's hash is `last_hash`.
#[allow(clippy::too_many_arguments)]
pub fn envelopes_at<E: EventKind>(
    chain: Option<&Chain<E>>,
    source: &str,
    id: &str,
    cause: &str,
    meta: &Meta,
    version: u64,
    last_hash: Option<&str>,
    events: Vec<E>,
) -> Result<Vec<Envelope<E>>, String> {
    let mut prev = chain.map(|chain| last_hash.unwrap_or(chain.genesis).to_owned());
    let mut out = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        let version = version + 1 + index as u64;
        let event_id = derived_event_id(cause, id, index);
        let mut envelope = Envelope::new(event_id, id, version, event, meta);
        envelope.source = source.to_owned();
        envelope.causationid = Some(cause.to_owned());
        if let (Some(chain), Some(prevhash)) = (chain, &prev) {
            (chain.seal)(&mut envelope, prevhash).map_err(|e| e.to_string())?;
            prev.clone_from(&envelope.hash);
        }
        out.push(envelope);
    }
    Ok(out)
}

/// The events to append: each envelope's id and its JSON bytes.
fn pending_of<'e, E: EventKind + 'e>(
    envelopes: impl IntoIterator<Item = &'e Envelope<E>>,
) -> Result<Vec<Pending>, serde_json::Error> {
    envelopes
        .into_iter()
        .map(|envelope| {
            serde_json::to_vec(envelope).map(|bytes| Pending {
                id: envelope.id,
                payload: Bytes::from(bytes),
            })
        })
        .collect()
}

/// Answers each command of a group from its plan, the appended ones with the stream sequences
/// of their events (`sequences`, in the order of the plan's events).
fn answer<A: Aggregate>(
    jobs: Vec<Job<A>>,
    plan: Vec<Planned<A>>,
    booked: Vec<Option<Result<Vec<AppendedEvent>, StoreError>>>,
    sequences: &[u64],
) {
    let mut next = sequences.iter();
    let mut appended: Vec<Option<Vec<AppendedEvent>>> = Vec::with_capacity(plan.len());
    let mut results = Vec::with_capacity(plan.len());
    for (planned, booked) in plan.into_iter().zip(booked) {
        let (result, events) = match planned {
            Planned::Append(envelopes) => {
                let events: Vec<AppendedEvent> = envelopes
                    .iter()
                    .zip(next.by_ref())
                    .map(|(envelope, sequence)| AppendedEvent::of(envelope, *sequence))
                    .collect();
                (Ok(Outcome::Appended(events.clone())), Some(events))
            }
            Planned::Duplicate(_) => match booked {
                Some(Ok(events)) => (Ok(Outcome::Duplicate(events)), None),
                Some(Err(error)) => (Err(ExecuteError::Store(error)), None),
                None => (
                    Err(ExecuteError::Store(StoreError::Unavailable(
                        "a duplicate's events were not read".into(),
                    ))),
                    None,
                ),
            },
            Planned::DuplicateOf(first) => {
                let events = appended.get(first).cloned().flatten().unwrap_or_default();
                (Ok(Outcome::Duplicate(events)), None)
            }
            Planned::Refused(error) => (Err(ExecuteError::Domain(error)), None),
            Planned::Unchanged => (Ok(Outcome::Unchanged), None),
        };
        appended.push(events);
        results.push(result);
    }
    for (job, result) in jobs.into_iter().zip(results) {
        let _ = job.reply.send(result);
    }
}

/// What one command of a group comes to ([`plan_group`]).
#[derive(Debug)]
pub enum Planned<A: Aggregate> {
    /// Its cause was booked before: the stream sequences of its events.
    Duplicate(Vec<u64>),
    /// Its cause is that of an earlier command of the same group (a retry that arrived while the
    /// first was queued): the events of that one.
    DuplicateOf(usize),
    /// The domain refused it.
    Refused(A::Error),
    /// It decided nothing.
    Unchanged,
    /// These events, to be appended with the group.
    Append(Vec<Envelope<A::Event>>),
}

/// One command of a group: its cause, its meta and what it asks.
pub type GroupedCommand<'a, A> = (&'a str, &'a Meta, &'a <A as Aggregate>::Command);

/// A group of commands decided ([`plan_group`]).
pub struct Group<A: Aggregate> {
    /// What each command comes to, in the order given.
    pub plan: Vec<Planned<A>>,
    /// The aggregate after every event of the group applied (`None` when none is to be
    /// appended): once the batch is stored it becomes the aggregate ([`Loaded::take_group`]).
    pub state: Option<A>,
}

/// Decides a group of commands on one aggregate one after another, each against the state the
/// ones before it left (their events applied), exactly as they would be decided one by one: the
/// pure core of group commit ([`Repository::execute_grouped`]); a property test holds it to
/// deciding them singly.
pub fn plan_group<A: Aggregate>(
    chain: Option<&Chain<A::Event>>,
    source: &str,
    id: &str,
    loaded: &Loaded<A>,
    commands: &[GroupedCommand<'_, A>],
) -> Result<Group<A>, String> {
    // The state after the group's events so far, copied from the loaded one at the first event
    // (the Fund's collections are persistent, so the copy shares them).
    let mut working: Option<A> = None;
    let mut version = loaded.version;
    let mut hash = loaded.last_hash.clone();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::with_capacity(commands.len());
    for (index, (cause, meta, command)) in commands.iter().enumerate() {
        if let Some(sequences) = loaded.causes.get(cause) {
            out.push(Planned::Duplicate(sequences.to_vec()));
            continue;
        }
        if let Some(first) = seen.get(cause) {
            out.push(Planned::DuplicateOf(*first));
            continue;
        }
        let state = working.as_ref().unwrap_or(&loaded.state);
        let events = match state.decide(command) {
            Err(refused) => {
                out.push(Planned::Refused(refused));
                continue;
            }
            Ok(events) if events.is_empty() => {
                out.push(Planned::Unchanged);
                continue;
            }
            Ok(events) => events,
        };
        let envelopes = envelopes_at(
            chain,
            source,
            id,
            cause,
            meta,
            version,
            hash.as_deref(),
            events,
        )?;
        let mut next = working.take().unwrap_or_else(|| loaded.state.clone());
        for envelope in &envelopes {
            next = next.apply(&envelope.event);
        }
        working = Some(next);
        if let Some(last) = envelopes.last() {
            version = last.sequence;
            hash.clone_from(&last.hash);
        }
        seen.insert(cause, index);
        out.push(Planned::Append(envelopes));
    }
    Ok(Group {
        plan: out,
        state: working,
    })
}

/// Decodes a stored envelope of a given event enum.
pub fn decode<E: EventKind>(payload: &[u8]) -> Result<Envelope<E>, serde_json::Error> {
    serde_json::from_slice(payload)
}
