//! The causes booked on an aggregate, with the stream sequences of the events each produced: how a
//! retry of a command, or a redelivered event, is recognised and answered with what it booked the
//! first time.
//!
//! A fund keeps one entry per booking of its whole history (about a million at 100,000 proposals),
//! so an entry is kept small: a cause that is a UUID in its usual lowercase hyphenated form (every
//! command id and event id Bündel makes) is held as its 16 bytes, and a booking of one event, the
//! common case, as the 8 bytes of its sequence, with no allocation: 24 bytes an entry (a map of
//! the events themselves, id and type beside the sequence, took 64; one of `String` to
//! `Vec<AppendedEvent>` about 250). A retry, which is rare, reads its events back by sequence
//! ([`appended_of`]).

use std::collections::HashMap;

use serde::Deserialize;
use uuid::Uuid;

use buendel_contract::reply::AppendedEvent;

/// The UUID `cause` is, when it is written in lowercase hyphenated form, the one `Uuid` prints;
/// any other spelling stays text, so two spellings of one UUID stay two causes, as given.
fn usual_uuid(cause: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(cause).ok()?;
    let mut buffer = Uuid::encode_buffer();
    (id.hyphenated().encode_lower(&mut buffer) == cause).then_some(id)
}

/// Every cause booked on one aggregate, with the stream sequences of its events in the order
/// appended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Causes {
    /// The UUID causes that booked one event, by their 16 bytes: that event's sequence.
    ones: HashMap<Uuid, u64>,
    /// The UUID causes that booked several.
    many: HashMap<Uuid, Vec<u64>>,
    /// Every other cause, by its text.
    texts: HashMap<Box<str>, Vec<u64>>,
}

impl Causes {
    /// The stream sequences of the events `cause` booked, if it did.
    pub fn get(&self, cause: &str) -> Option<&[u64]> {
        match usual_uuid(cause) {
            Some(id) => match self.ones.get(&id) {
                Some(one) => Some(std::slice::from_ref(one)),
                None => self.many.get(&id).map(Vec::as_slice),
            },
            None => self.texts.get(cause).map(Vec::as_slice),
        }
    }

    /// Notes one more event of `cause`, after those it booked already.
    pub fn push(&mut self, cause: &str, sequence: u64) {
        let Some(id) = usual_uuid(cause) else {
            self.texts.entry(cause.into()).or_default().push(sequence);
            return;
        };
        if let Some(events) = self.many.get_mut(&id) {
            events.push(sequence);
        } else if let Some(first) = self.ones.remove(&id) {
            self.many.insert(id, vec![first, sequence]);
        } else {
            self.ones.insert(id, sequence);
        }
    }

    /// How many causes are booked.
    pub fn len(&self) -> usize {
        self.ones.len() + self.many.len() + self.texts.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The fields of a stored envelope a reply names.
#[derive(Deserialize)]
struct Named {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
}

/// A stored event as a reply names it: its id and type read from its bytes, and its sequence.
pub fn appended_of(sequence: u64, payload: &[u8]) -> Result<AppendedEvent, serde_json::Error> {
    let named: Named = serde_json::from_slice(payload)?;
    Ok(AppendedEvent {
        event_id: named.id,
        event_type: named.event_type,
        sequence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_answers_with_its_sequences_in_order_and_another_with_none() {
        let mut causes = Causes::default();
        let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        causes.push(id, 1);
        causes.push("review-7", 2);
        assert_eq!(causes.get(id), Some(&[1][..]));
        causes.push(id, 3);
        causes.push(id, 5);
        causes.push("review-7", 4);
        assert_eq!(causes.get(id), Some(&[1, 3, 5][..]));
        assert_eq!(causes.get("review-7"), Some(&[2, 4][..]));
        assert_eq!(causes.get("review-8"), None);
        assert_eq!(causes.len(), 2);
        assert!(!causes.is_empty());
    }

    #[test]
    fn two_spellings_of_one_uuid_are_two_causes() {
        let mut causes = Causes::default();
        causes.push("67e55044-10b1-426f-9247-bb680e5fe0c8", 1);
        assert_eq!(causes.get("67E55044-10B1-426F-9247-BB680E5FE0C8"), None);
        assert_eq!(causes.get("67e5504410b1426f9247bb680e5fe0c8"), None);
        causes.push("67E55044-10B1-426F-9247-BB680E5FE0C8", 2);
        assert_eq!(
            causes.get("67E55044-10B1-426F-9247-BB680E5FE0C8"),
            Some(&[2][..])
        );
        assert_eq!(causes.len(), 2);
    }

    #[test]
    fn a_stored_event_is_named_by_its_id_and_type() {
        let payload = br#"{"specversion":"1.0","id":"67e55044-10b1-426f-9247-bb680e5fe0c8","type":"buendel.test.v1","data":{}}"#;
        let appended = appended_of(7, payload).expect("an envelope");
        assert_eq!(appended.sequence, 7);
        assert_eq!(appended.event_type, "buendel.test.v1");
        assert_eq!(
            appended.event_id.to_string(),
            "67e55044-10b1-426f-9247-bb680e5fe0c8"
        );
        assert!(appended_of(7, b"{\"id\":1}").is_err());
    }
}
