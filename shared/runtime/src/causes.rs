//! The causes booked on an aggregate, with the events each produced: how a retry of a command, or a
//! redelivered event, is recognised and answered with what it booked the first time.
//!
//! A fund keeps one entry per booking of its whole history (about a million at 100,000 proposals),
//! so an entry is kept small: a cause that is a UUID in its usual lowercase hyphenated form (every
//! command id and event id Bündel makes) is held as its 16 bytes, and a booking of one event, the
//! common case, needs no allocation. A `HashMap<String, Vec<AppendedEvent>>` took about 250 bytes
//! per booking; this takes about 80.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use uuid::Uuid;

use buendel_contract::reply::AppendedEvent;

/// One event a cause booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookedEvent {
    /// The event id.
    pub event_id: Uuid,
    /// Its stream sequence.
    pub sequence: u64,
    /// The CloudEvents type.
    pub event_type: &'static str,
}

impl BookedEvent {
    /// As a reply names it.
    pub fn appended(&self) -> AppendedEvent {
        AppendedEvent {
            event_id: self.event_id,
            event_type: self.event_type.to_owned(),
            sequence: self.sequence,
        }
    }
}

/// The UUID `cause` is, when it is written in lowercase hyphenated form, the one `Uuid` prints;
/// any other spelling stays text, so two spellings of one UUID stay two causes, as given.
fn usual_uuid(cause: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(cause).ok()?;
    let mut buffer = Uuid::encode_buffer();
    (id.hyphenated().encode_lower(&mut buffer) == cause).then_some(id)
}

/// The events of one cause: one inline, or several.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Booked {
    One(BookedEvent),
    Many(Vec<BookedEvent>),
}

impl Booked {
    fn events(&self) -> &[BookedEvent] {
        match self {
            Booked::One(event) => std::slice::from_ref(event),
            Booked::Many(events) => events,
        }
    }
}

/// Every cause booked on one aggregate, with its events in the order appended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Causes {
    /// The causes that are UUIDs in the usual form, by their 16 bytes.
    uuids: HashMap<Uuid, Booked>,
    /// Every other cause, by its text.
    texts: HashMap<Box<str>, Booked>,
}

impl Causes {
    /// The events `cause` booked, if it did.
    pub fn get(&self, cause: &str) -> Option<&[BookedEvent]> {
        match usual_uuid(cause) {
            Some(id) => self.uuids.get(&id),
            None => self.texts.get(cause),
        }
        .map(Booked::events)
    }

    /// The events `cause` booked, as a reply names them.
    pub fn appended(&self, cause: &str) -> Option<Vec<AppendedEvent>> {
        self.get(cause)
            .map(|events| events.iter().map(BookedEvent::appended).collect())
    }

    /// Notes one more event of `cause`, after those it booked already.
    pub fn push(&mut self, cause: &str, event: BookedEvent) {
        match usual_uuid(cause) {
            Some(id) => add(self.uuids.entry(id), event),
            None => add(self.texts.entry(cause.into()), event),
        }
    }

    /// How many causes are booked.
    pub fn len(&self) -> usize {
        self.uuids.len() + self.texts.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.uuids.is_empty() && self.texts.is_empty()
    }
}

/// Adds one event to a cause's entry: the first inline, the next ones after it.
fn add<K>(entry: Entry<'_, K, Booked>, event: BookedEvent) {
    match entry {
        Entry::Vacant(vacant) => {
            vacant.insert(Booked::One(event));
        }
        Entry::Occupied(mut occupied) => {
            let booked = occupied.get_mut();
            match booked {
                Booked::One(first) => *booked = Booked::Many(vec![*first, event]),
                Booked::Many(events) => events.push(event),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> BookedEvent {
        BookedEvent {
            event_id: Uuid::from_u128(u128::from(n)),
            sequence: n,
            event_type: "buendel.test.v1",
        }
    }

    #[test]
    fn a_cause_answers_with_its_events_in_order_and_another_with_none() {
        let mut causes = Causes::default();
        let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        causes.push(id, event(1));
        causes.push("review-7", event(2));
        causes.push(id, event(3));
        assert_eq!(causes.get(id), Some(&[event(1), event(3)][..]));
        assert_eq!(causes.get("review-7"), Some(&[event(2)][..]));
        assert_eq!(causes.get("review-8"), None);
        assert_eq!(causes.len(), 2);
        let appended = causes.appended(id).expect("booked");
        assert_eq!(appended[1].sequence, 3);
        assert_eq!(appended[1].event_type, "buendel.test.v1");
    }

    #[test]
    fn two_spellings_of_one_uuid_are_two_causes() {
        let mut causes = Causes::default();
        causes.push("67e55044-10b1-426f-9247-bb680e5fe0c8", event(1));
        assert_eq!(causes.get("67E55044-10B1-426F-9247-BB680E5FE0C8"), None);
        assert_eq!(causes.get("67e5504410b1426f9247bb680e5fe0c8"), None);
        causes.push("67E55044-10B1-426F-9247-BB680E5FE0C8", event(2));
        assert_eq!(
            causes.get("67E55044-10B1-426F-9247-BB680E5FE0C8"),
            Some(&[event(2)][..])
        );
        assert_eq!(causes.len(), 2);
    }
}
