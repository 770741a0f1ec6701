//! An in-memory event store with the semantics the services rely on in JetStream: one sequence per
//! stream, per-subject optimistic concurrency (`Nats-Expected-Last-Subject-Sequence`), atomic
//! batches (all or nothing), `Nats-Msg-Id` dedupe, and durable pull consumers with an ack wait,
//! redelivery, naks with a delay and a maximum number of deliveries.
//!
//! Time is the simulation's tick; nothing here reads a clock or iterates a hash map.

use std::collections::{BTreeMap, HashMap};

use buendel_contract::namespace::StreamKind;
use uuid::Uuid;

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its stream sequence, from 1.
    pub sequence: u64,
    /// Its subject.
    pub subject: String,
    /// Its `Nats-Msg-Id`.
    pub msg_id: Uuid,
    /// The stored bytes.
    pub payload: Vec<u8>,
    /// The append it came with (one per atomic batch), so the auditor can tell decisions apart.
    pub batch: u64,
}

/// Why an append was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendError {
    /// The subject's last sequence was not the one expected.
    Conflict {
        /// What the subject's last sequence is.
        last: u64,
    },
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored at these sequences.
    Stored(Vec<u64>),
    /// Every message id was stored before (dedupe): their sequences; nothing was stored.
    Duplicate(Vec<u64>),
}

impl Appended {
    /// The sequences, stored now or before.
    pub fn sequences(&self) -> &[u64] {
        match self {
            Appended::Stored(s) | Appended::Duplicate(s) => s,
        }
    }
}

/// One stream.
#[derive(Debug, Default, Clone)]
pub struct Stream {
    messages: Vec<Message>,
    by_subject: HashMap<String, Vec<u64>>,
    ids: HashMap<Uuid, u64>,
}

impl Stream {
    /// Every message, in order.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The last sequence (0 when empty).
    pub fn last_sequence(&self) -> u64 {
        self.messages.len() as u64
    }

    /// The message at a sequence.
    pub fn get(&self, sequence: u64) -> Option<&Message> {
        let index = usize::try_from(sequence.checked_sub(1)?).ok()?;
        self.messages.get(index)
    }

    /// The messages of one subject, in order.
    pub fn subject(&self, subject: &str) -> impl Iterator<Item = &Message> {
        self.by_subject
            .get(subject)
            .into_iter()
            .flatten()
            .filter_map(|sequence| self.get(*sequence))
    }

    /// The last sequence of a subject (0 when it has none).
    pub fn last_of(&self, subject: &str) -> u64 {
        self.by_subject
            .get(subject)
            .and_then(|s| s.last().copied())
            .unwrap_or(0)
    }
}

/// The streams and the intake receipts.
#[derive(Debug, Default, Clone)]
pub struct Store {
    streams: BTreeMap<&'static str, Stream>,
    batches: u64,
    /// INTAKE receipts: event id → (sha256 of the body in force, its INTAKE sequence).
    pub receipts: BTreeMap<Uuid, (String, u64)>,
}

fn key(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Intake => "intake",
        StreamKind::Proposals => "proposals",
        StreamKind::Reviews => "reviews",
        StreamKind::Ledger => "ledger",
        StreamKind::Deadletter => "deadletter",
        StreamKind::Receipts => "receipts",
        StreamKind::Decisions => "decisions",
    }
}

impl Store {
    /// A stream (empty when nothing was ever written to it).
    pub fn stream(&self, kind: StreamKind) -> &Stream {
        static EMPTY: std::sync::OnceLock<Stream> = std::sync::OnceLock::new();
        self.streams
            .get(key(kind))
            .unwrap_or_else(|| EMPTY.get_or_init(Stream::default))
    }

    /// Appends a batch to one subject, all or nothing: refused when the subject's last sequence is
    /// not `expected_last` (`None`: no expectation); a batch whose ids were all stored before is a
    /// duplicate and stores nothing (JetStream's dedupe window is longer than any simulated run).
    pub fn append(
        &mut self,
        kind: StreamKind,
        subject: &str,
        expected_last: Option<u64>,
        batch: Vec<(Uuid, Vec<u8>)>,
    ) -> Result<Appended, AppendError> {
        let stream = self.streams.entry(key(kind)).or_default();
        let known: Vec<u64> = batch
            .iter()
            .filter_map(|(id, _)| stream.ids.get(id).copied())
            .collect();
        if !batch.is_empty() && known.len() == batch.len() {
            return Ok(Appended::Duplicate(known));
        }
        let last = stream.last_of(subject);
        if expected_last.is_some_and(|expected| expected != last) {
            return Err(AppendError::Conflict { last });
        }
        self.batches += 1;
        let mut sequences = Vec::with_capacity(batch.len());
        for (msg_id, payload) in batch {
            let sequence = stream.last_sequence() + 1;
            stream.messages.push(Message {
                sequence,
                subject: subject.to_owned(),
                msg_id,
                payload,
                batch: self.batches,
            });
            stream
                .by_subject
                .entry(subject.to_owned())
                .or_default()
                .push(sequence);
            stream.ids.insert(msg_id, sequence);
            sequences.push(sequence);
        }
        Ok(Appended::Stored(sequences))
    }

    /// Publishes one message without expectation (intake, dead letters), deduplicated by id.
    pub fn publish(
        &mut self,
        kind: StreamKind,
        subject: &str,
        msg_id: Uuid,
        payload: Vec<u8>,
    ) -> Appended {
        match self.append(kind, subject, None, vec![(msg_id, payload)]) {
            Ok(appended) => appended,
            // Unreachable without an expectation.
            Err(AppendError::Conflict { .. }) => Appended::Duplicate(vec![]),
        }
    }
}

/// The limits of one durable consumer, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerLimits {
    /// How long a delivery may go unacknowledged before it is delivered again.
    pub ack_wait: u64,
    /// Deliveries of one message at most (the server's `max_deliver`).
    pub max_deliver: u32,
    /// Unacknowledged messages at most.
    pub ack_pending_max: usize,
}

/// One delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The stream sequence.
    pub sequence: u64,
    /// How often it was delivered, this time included.
    pub delivered: u32,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    delivered: u32,
    /// The tick from which it may be delivered again.
    due: u64,
}

/// A durable pull consumer over one stream.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Its stream.
    pub kind: StreamKind,
    limits: ConsumerLimits,
    /// The next sequence never delivered.
    next: u64,
    pending: BTreeMap<u64, Pending>,
    /// Messages given up on after `max_deliver` deliveries.
    pub exhausted: u64,
}

impl Consumer {
    /// A consumer from the start of a stream.
    pub fn new(kind: StreamKind, limits: ConsumerLimits) -> Self {
        Self {
            kind,
            limits,
            next: 1,
            pending: BTreeMap::new(),
            exhausted: 0,
        }
    }

    /// The next delivery at tick `now`: a pending message whose ack wait (or nak delay) ran out,
    /// oldest first, else the next new one while fewer than `ack_pending_max` are pending.
    pub fn fetch(&mut self, stream: &Stream, now: u64) -> Option<Delivery> {
        let due = self
            .pending
            .iter()
            .find(|(_, p)| p.due <= now)
            .map(|(sequence, _)| *sequence);
        if let Some(sequence) = due {
            let pending = self.pending.get_mut(&sequence)?;
            if pending.delivered >= self.limits.max_deliver {
                self.pending.remove(&sequence);
                self.exhausted += 1;
                return self.fetch(stream, now);
            }
            pending.delivered += 1;
            pending.due = now + self.limits.ack_wait;
            return Some(Delivery {
                sequence,
                delivered: pending.delivered,
            });
        }
        if self.next > stream.last_sequence() || self.pending.len() >= self.limits.ack_pending_max {
            return None;
        }
        let sequence = self.next;
        self.next += 1;
        self.pending.insert(
            sequence,
            Pending {
                delivered: 1,
                due: now + self.limits.ack_wait,
            },
        );
        Some(Delivery {
            sequence,
            delivered: 1,
        })
    }

    /// Acknowledges a delivery (a late ack of a message delivered again since is still an ack).
    pub fn ack(&mut self, sequence: u64) {
        self.pending.remove(&sequence);
    }

    /// Asks for a delivery again after `delay` ticks.
    pub fn nak(&mut self, sequence: u64, now: u64, delay: u64) {
        if let Some(pending) = self.pending.get_mut(&sequence) {
            pending.due = now + delay;
        }
    }

    /// Makes one pending message due at once, as if its ack wait had run out early (a duplicate
    /// delivery while the first may still be handled); `false` when none is pending.
    pub fn redeliver_one_now(&mut self, now: u64) -> bool {
        match self.pending.values_mut().find(|p| p.due > now) {
            Some(pending) => {
                pending.due = now;
                true
            }
            None => false,
        }
    }

    /// Whether every message of the stream was acknowledged (or given up on).
    pub fn caught_up(&self, stream: &Stream) -> bool {
        self.pending.is_empty() && self.next > stream.last_sequence()
    }

    /// Unacknowledged messages.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn an_append_expecting_an_older_last_sequence_conflicts_and_stores_nothing() {
        let mut store = Store::default();
        let first = store.append(
            StreamKind::Ledger,
            "a",
            Some(0),
            vec![(id(1), b"1".to_vec())],
        );
        assert_eq!(first, Ok(Appended::Stored(vec![1])));
        let stale = store.append(
            StreamKind::Ledger,
            "a",
            Some(0),
            vec![(id(2), b"2".to_vec())],
        );
        assert_eq!(stale, Err(AppendError::Conflict { last: 1 }));
        assert_eq!(store.stream(StreamKind::Ledger).last_sequence(), 1);
        let other = store.append(
            StreamKind::Ledger,
            "b",
            Some(0),
            vec![(id(3), b"3".to_vec())],
        );
        assert_eq!(other, Ok(Appended::Stored(vec![2])));
    }

    #[test]
    fn a_batch_whose_ids_were_stored_is_a_duplicate() {
        let mut store = Store::default();
        let batch = vec![(id(1), b"1".to_vec()), (id(2), b"2".to_vec())];
        assert_eq!(
            store.append(StreamKind::Ledger, "a", Some(0), batch.clone()),
            Ok(Appended::Stored(vec![1, 2]))
        );
        assert_eq!(
            store.append(StreamKind::Ledger, "a", Some(0), batch),
            Ok(Appended::Duplicate(vec![1, 2]))
        );
    }

    #[test]
    fn an_unacknowledged_delivery_comes_again_after_the_ack_wait_until_max_deliver() {
        let mut store = Store::default();
        store.publish(StreamKind::Intake, "i", id(1), b"x".to_vec());
        let limits = ConsumerLimits {
            ack_wait: 10,
            max_deliver: 2,
            ack_pending_max: 8,
        };
        let mut consumer = Consumer::new(StreamKind::Intake, limits);
        let stream = store.stream(StreamKind::Intake).clone();
        assert_eq!(consumer.fetch(&stream, 0).map(|d| d.delivered), Some(1));
        assert_eq!(consumer.fetch(&stream, 9), None);
        assert_eq!(consumer.fetch(&stream, 10).map(|d| d.delivered), Some(2));
        assert_eq!(consumer.fetch(&stream, 20), None);
        assert_eq!(consumer.exhausted, 1);
        assert!(consumer.caught_up(&stream));
    }
}
