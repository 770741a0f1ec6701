//! The pure core of the audit: [`Verifier`] is fed the stored ledger messages in stream order and
//! checks each, stopping at the first bad one. No I/O, no async, no clock.
//!
//! Every message goes through two stages:
//!
//! 1. [`inspect`] (stateless, so it can run on many threads): the bytes are one JSON object; no
//!    number is a float; `hash` is the SHA-256 of the RFC 8785 canonical JSON of the object without
//!    `hash`, recomputed from the bytes as stored (parsed into a tree of what is stored, never
//!    re-serialized from a Rust struct, so any change of content is caught); the object decodes as
//!    `Envelope<LedgerEvent>` and re-encodes to the very same JSON (nothing unknown, nothing
//!    missing); its fund is the fund of its subject. The fast path reads the bytes into a
//!    [`Json`] tree that borrows their strings and accepts only bytes that are exactly the
//!    contract's encoding; anything else takes the full path over a `serde_json::Value`, which
//!    names the first check that fails.
//! 2. [`Verifier::push_inspected`] (in stream order): stream sequences are contiguous; an event id
//!    appears once; per fund, `prevhash` is the previous `hash` (or [`GENESIS_HASH`]), the aggregate
//!    `sequence` counts 1, 2, 3, ..., every event names its cause and a cause is booked by one
//!    append only, the journal entry is exactly what the amounts call for, and after folding the
//!    event with the ledger's own `Fund::apply`, `Fund::check_after` holds (every invariant of
//!    the fund, checked where the event can have changed it: equal to the full
//!    `Fund::check_invariants`, which [`Verifier::finish`] runs once more per fund at the end).
//! 3. At the end of every decision: when a linked event of a fund names another cause than the
//!    fund's last event, or when the replay ends, the state after the last event of that cause
//!    must have its waitlist served (`Fund::waitlist_served_check` on the fund's last value date):
//!    on or before the deadline, the head of the waitlist does not fit into what is available, for
//!    the decision that freed the money would have reserved it. A decision cut short after the
//!    event that frees money fails `waitlist_not_served`, naming that decision's last event. It is
//!    checked at decision boundaries only, never after a single event, because the reservations
//!    follow the event that frees the money within its decision. With `until_seq` the replay may
//!    stop inside a decision, so then the last decision of each fund is not checked at the end;
//!    and an online replay that reaches a decision being appended at that moment would see it cut
//!    short (until decisions are appended all at once).
//!
//! A cause booked by one append may produce several events (a release that serves the waitlist);
//! they are adjacent in the fund, and the shell gives them the ids `derived_event_id(cause, fund,
//! i)` for i = 0, 1, 2, ... The same cause again later in the fund, or an event right after the
//! append that is not its next derived id, is a second booking.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::Value;
use uuid::Uuid;

use buendel_contract::envelope::derived_event_id;
use buendel_contract::ledger::{LedgerEvent, SourceBalances, GENESIS_HASH};
use buendel_contract::{Aggregate as _, Envelope, EventKind as _};
use buendel_ledger::domain::Fund;

use crate::hashing::{members_sha256, Json};
use crate::report::{Check, Failure, FundSummary, Options, Report};

/// Whether the caller should keep feeding messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Feed the next message.
    Continue,
    /// Nothing more will be checked: a failure was found or `until_seq` was passed.
    Stop,
}

/// One message after the stateless checks of [`inspect`].
#[derive(Debug, PartialEq)]
pub struct Inspected {
    /// Its stream sequence.
    sequence: u64,
    /// Its fund as far as it can be told (event, envelope subject, NATS subject).
    fund_hint: Option<String>,
    /// The decoded event, or the first check it failed.
    outcome: Result<Box<Decoded>, Box<Failure>>,
}

impl Inspected {
    /// The stream sequence.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

/// A message that passed the stateless checks.
#[derive(Debug, PartialEq)]
struct Decoded {
    envelope: Envelope<LedgerEvent>,
    hash: String,
    prevhash: String,
}

/// One verified event, recorded for comparisons with the projections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    /// The fund.
    pub fund_id: String,
    /// The stream sequence.
    pub sequence: u64,
    /// The aggregate version (1 for the fund's first event).
    pub aggregate_sequence: u64,
    /// The event id.
    pub event_id: Uuid,
    /// The CloudEvents type.
    pub event_type: &'static str,
    /// Its `hash`.
    pub hash: String,
}

/// The result of a replay: the report, and what comparisons with other records need.
#[derive(Debug)]
pub struct Verified {
    /// The report (no differences yet).
    pub report: Report,
    /// The state of each fund in scope after its last verified event (not `as_of`).
    pub funds: BTreeMap<String, Fund>,
    /// Every verified event, when [`Verifier::record_entries`] asked for them.
    pub entries: Vec<EntryRecord>,
}

/// The figures of a fund frozen at the end of the `as_of` day.
#[derive(Debug, Clone)]
struct Snapshot {
    events: u64,
    last_sequence: Option<u64>,
    hash: Option<String>,
    esf_plus: SourceBalances,
    land: SourceBalances,
    total: SourceBalances,
    trial_balance_zero: bool,
}

impl Snapshot {
    /// The figures of the fund as the track has it now.
    fn of(track: &Track) -> Self {
        let fund = &track.fund;
        let balances = fund.balances();
        let included = track.events > 0;
        Self {
            events: fund.entries(),
            last_sequence: included.then_some(track.last_sequence),
            hash: track.last_hash.clone().filter(|_| included),
            esf_plus: balances.esf_plus,
            land: balances.land,
            total: balances.total,
            trial_balance_zero: balances.trial_balance_zero,
        }
    }
}

/// What the verifier knows about one fund.
#[derive(Debug, Default)]
struct Track {
    /// The folded state.
    fund: Fund,
    /// Verified events.
    events: u64,
    first_sequence: u64,
    last_sequence: u64,
    /// The head of the chain.
    last_hash: Option<String>,
    /// The id of the fund's last verified event.
    last_event_id: Option<Uuid>,
    /// Every cause booked, with the stream sequence of the append that booked it.
    causes: HashMap<String, u64>,
    /// The cause of the fund's last event (a run of one append continues with it).
    last_cause: Option<String>,
    /// The position of the fund's last event in its append (0 for the first).
    run_index: usize,
    /// Whether that append's ids are the shell's derived ids.
    run_derived: bool,
    /// The balances at the end of the `as_of` day, once an event after it was seen.
    snapshot: Option<Snapshot>,
}

/// Replays ledger messages in stream order and names the first bad one.
#[derive(Debug)]
pub struct Verifier {
    /// What to verify.
    options: Options,
    /// The sequence the first message must have (online: 1).
    expected_first: Option<u64>,
    /// The sequence the next message must have.
    next_sequence: Option<u64>,
    first_sequence: Option<u64>,
    last_sequence: Option<u64>,
    /// Messages read (all funds).
    messages: u64,
    /// Events verified (funds in scope).
    events: u64,
    /// Every event id verified (funds in scope).
    event_ids: HashSet<Uuid>,
    funds: BTreeMap<String, Track>,
    failure: Option<Failure>,
    /// Whether to keep an [`EntryRecord`] per event.
    record_entries: bool,
    entries: Vec<EntryRecord>,
}

impl Verifier {
    /// A verifier for `options`; the first message may have any sequence.
    pub fn new(options: Options) -> Self {
        Self {
            options,
            expected_first: None,
            next_sequence: None,
            first_sequence: None,
            last_sequence: None,
            messages: 0,
            events: 0,
            event_ids: HashSet::new(),
            funds: BTreeMap::new(),
            failure: None,
            record_entries: false,
            entries: Vec::new(),
        }
    }

    /// Requires the first message to have stream sequence `sequence` (a replay from the start: 1).
    pub fn starting_at(mut self, sequence: u64) -> Self {
        self.expected_first = Some(sequence);
        self
    }

    /// Keeps an [`EntryRecord`] per verified event (for comparing with the projections).
    pub fn record_entries(mut self) -> Self {
        self.record_entries = true;
        self
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The first failure so far.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// Messages read so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Checks one stored message: its stream sequence, its subject (`None` when it is not known,
    /// as in an export file: then the envelope's own subject is checked only) and its bytes.
    pub fn push(&mut self, sequence: u64, subject: Option<&str>, bytes: &[u8]) -> Flow {
        if self.is_done(sequence) {
            return Flow::Stop;
        }
        if let (Some(wanted), Some(subject)) = (&self.options.fund, subject) {
            if subject_fund(subject) != wanted {
                // Another fund: only its place in the stream matters.
                return self.push_sequence(sequence);
            }
        }
        self.push_inspected(inspect(sequence, subject, bytes))
    }

    /// The in-order stage for a message [`inspect`] already checked.
    pub fn push_inspected(&mut self, inspected: Inspected) -> Flow {
        let sequence = inspected.sequence;
        if self.is_done(sequence) {
            return Flow::Stop;
        }
        if let Err(gap) = self.take_sequence(sequence) {
            let failure = Failure {
                fund_id: inspected.fund_hint.clone(),
                event_id: match &inspected.outcome {
                    Ok(decoded) => Some(decoded.envelope.id),
                    Err(failure) => failure.event_id,
                },
                ..gap
            };
            return self.fail(failure);
        }
        if let (Some(wanted), Some(fund)) = (&self.options.fund, &inspected.fund_hint) {
            if fund != wanted {
                return Flow::Continue;
            }
        }
        let decoded = match inspected.outcome {
            Ok(decoded) => *decoded,
            Err(failure) => return self.fail(*failure),
        };
        let Decoded {
            mut envelope,
            hash,
            prevhash,
        } = decoded;
        let fund_id = envelope.event.fund_id().to_owned();
        let track = self.funds.entry(fund_id.clone()).or_default();
        let cause = envelope.causationid.take();
        let linked = verify_link(track, &envelope, cause, &prevhash);
        // A linked event of another cause ends the fund's previous decision: check what must hold
        // at the end of one, naming that decision's last event.
        if let Ok(cause) = &linked {
            if let Some(failure) = decision_end(track, &fund_id, Some(cause)) {
                return self.fail(failure);
            }
        }
        let checked = linked.and_then(|cause| {
            verify_event(
                track,
                &mut self.event_ids,
                &envelope,
                cause,
                self.options.as_of,
                sequence,
            )
        });
        if let Err(reason) = checked {
            let (check, expected, found) = *reason;
            let failure = Failure {
                fund_id: Some(fund_id),
                sequence,
                event_id: Some(envelope.id),
                check,
                expected,
                found,
            };
            return self.fail(failure);
        }
        if track.events == 0 {
            track.first_sequence = sequence;
        }
        track.events += 1;
        track.last_sequence = sequence;
        track.last_event_id = Some(envelope.id);
        if self.record_entries {
            self.entries.push(EntryRecord {
                fund_id,
                sequence,
                aggregate_sequence: envelope.sequence,
                event_id: envelope.id,
                event_type: envelope.event.event_type(),
                hash: hash.clone(),
            });
        }
        track.last_hash = Some(hash);
        self.events += 1;
        Flow::Continue
    }

    /// Ends the replay and builds the report.
    pub fn finish(self) -> Verified {
        self.finish_inner(None)
    }

    /// Ends a replay that should have read every message up to `last_sequence` (the stream's last
    /// sequence, or `until_seq` if lower): a message missing at the end is a gap too.
    pub fn finish_at(self, last_sequence: u64) -> Verified {
        self.finish_inner(Some(last_sequence))
    }

    fn finish_inner(mut self, expected_last: Option<u64>) -> Verified {
        if let (None, Some(expected)) = (&self.failure, expected_last) {
            let read = self.last_sequence.unwrap_or(0);
            if read < expected {
                self.failure = Some(Failure {
                    fund_id: None,
                    sequence: read.saturating_add(1),
                    event_id: None,
                    check: Check::StreamSequence,
                    expected: format!("every stream sequence up to {expected}"),
                    found: format!("the last message read is at {read}"),
                });
            }
        }
        if self.failure.is_none() {
            self.failure = self.funds.iter().find_map(|(fund_id, track)| {
                let violation = track.fund.check_invariants().err()?;
                // `check_after` held after every event, so this is a fault of the incremental
                // check itself; the fund's last event is the first at which it shows.
                Some(Failure {
                    fund_id: Some(fund_id.clone()),
                    sequence: track.last_sequence,
                    event_id: track.last_event_id,
                    check: Check::Invariant,
                    expected: format!("the invariant {} holds", violation.code()),
                    found: violation.to_string(),
                })
            });
        }
        if self.failure.is_none() && !self.cut_by_until() {
            // The end of the stream ends every fund's last decision; the earliest failure first.
            self.failure = self
                .funds
                .iter()
                .filter_map(|(fund_id, track)| decision_end(track, fund_id, None))
                .min_by_key(|failure| failure.sequence);
        }
        let mut funds = BTreeMap::new();
        let mut summaries = Vec::with_capacity(self.funds.len());
        for (fund_id, mut track) in self.funds {
            if track.events == 0 {
                continue;
            }
            let frozen = track
                .snapshot
                .take()
                .unwrap_or_else(|| Snapshot::of(&track));
            summaries.push(FundSummary {
                fund_id: fund_id.clone(),
                events: track.events,
                first_sequence: track.first_sequence,
                last_sequence: track.last_sequence,
                final_hash: track.last_hash.unwrap_or_default(),
                balances_events: frozen.events,
                balances_last_sequence: frozen.last_sequence,
                balances_hash: frozen.hash,
                esf_plus: frozen.esf_plus,
                land: frozen.land,
                total: frozen.total,
                trial_balance_zero: frozen.trial_balance_zero,
            });
            funds.insert(fund_id, track.fund);
        }
        let mut report = Report {
            ok: false,
            options: self.options,
            messages: self.messages,
            first_sequence: self.first_sequence,
            last_sequence: self.last_sequence,
            events: self.events,
            funds: summaries,
            first_failure: self.failure,
            differences: Vec::new(),
            transparency: Vec::new(),
        };
        report.settle();
        Verified {
            report,
            funds,
            entries: self.entries,
        }
    }

    /// True when `until_seq` may have stopped the replay inside a decision: the last message read
    /// is at `until_seq` (when the stream ended before it, every decision read has ended).
    fn cut_by_until(&self) -> bool {
        self.options
            .until_seq
            .is_some_and(|until| self.last_sequence.is_some_and(|last| last >= until))
    }

    /// True once nothing more is checked.
    fn is_done(&self, sequence: u64) -> bool {
        self.failure.is_some() || self.options.until_seq.is_some_and(|until| sequence > until)
    }

    /// Takes a message of a fund outside `--fund` without inspecting it: only its stream sequence
    /// is checked.
    pub fn push_sequence(&mut self, sequence: u64) -> Flow {
        if self.is_done(sequence) {
            return Flow::Stop;
        }
        match self.take_sequence(sequence) {
            Ok(()) => Flow::Continue,
            Err(failure) => self.fail(failure),
        }
    }

    /// Checks that `sequence` is the next one and moves on.
    fn take_sequence(&mut self, sequence: u64) -> Result<(), Failure> {
        if let Some(expected) = self.next_sequence.or(self.expected_first) {
            if sequence != expected {
                let found = if sequence > expected {
                    format!(
                        "stream sequence {sequence}: {} message(s) missing",
                        sequence - expected
                    )
                } else {
                    format!("stream sequence {sequence} again or out of order")
                };
                return Err(Failure {
                    fund_id: None,
                    sequence,
                    event_id: None,
                    check: Check::StreamSequence,
                    expected: format!("stream sequence {expected}"),
                    found,
                });
            }
        }
        self.next_sequence = Some(sequence.saturating_add(1));
        self.first_sequence.get_or_insert(sequence);
        self.last_sequence = Some(sequence);
        self.messages += 1;
        Ok(())
    }

    fn fail(&mut self, failure: Failure) -> Flow {
        if self.failure.is_none() {
            self.failure = Some(failure);
        }
        Flow::Stop
    }
}

/// What a failed per-fund check says: which, expected, found.
type Reason = Box<(Check, String, String)>;

fn reason(check: Check, expected: impl Into<String>, found: impl Into<String>) -> Reason {
    Box::new((check, expected.into(), found.into()))
}

/// The checks that place an event in its fund: `prevhash` links it to the fund's last event, its
/// aggregate sequence is the next one, it names its cause. Returns the cause.
fn verify_link(
    track: &Track,
    envelope: &Envelope<LedgerEvent>,
    cause: Option<String>,
    prevhash: &str,
) -> Result<String, Reason> {
    let expected_prev = track.last_hash.as_deref().unwrap_or(GENESIS_HASH);
    if prevhash != expected_prev {
        let whose = if track.events == 0 {
            "the genesis hash: the fund's first event".to_owned()
        } else {
            format!(
                "the hash of the fund's event at sequence {}",
                track.last_sequence
            )
        };
        return Err(reason(
            Check::Prevhash,
            format!("{expected_prev} ({whose})"),
            prevhash,
        ));
    }
    let expected_version = track.events + 1;
    if envelope.sequence != expected_version {
        return Err(reason(
            Check::AggregateSequence,
            format!("aggregate sequence {expected_version}"),
            format!("aggregate sequence {}", envelope.sequence),
        ));
    }
    cause.ok_or_else(|| {
        reason(
            Check::MissingCause,
            "a causationid naming the command or review event",
            "none",
        )
    })
}

/// The waitlist check at the end of the fund's last decision (`waitlist_not_served`), when it has
/// ended: `next_cause` is the cause of the fund's next event (linked to the last one), `None` at
/// the end of the replay. Names the decision's last event: the state after it is the one at fault.
fn decision_end(track: &Track, fund_id: &str, next_cause: Option<&String>) -> Option<Failure> {
    if track.events == 0 || (next_cause.is_some() && next_cause == track.last_cause.as_ref()) {
        return None;
    }
    // The date the decision was booked on, wherever the check can fail (see the ledger's docs).
    let on = track.fund.last_value_date()?;
    let violation = track.fund.waitlist_served_check(on).err()?;
    Some(Failure {
        fund_id: Some(fund_id.to_owned()),
        sequence: track.last_sequence,
        event_id: track.last_event_id,
        check: Check::WaitlistNotServed,
        expected: "the head of the waitlist reserved in the decision that made it fit".to_owned(),
        found: violation.to_string(),
    })
}

/// The per-fund checks of a linked event, then the fold. On success the track has the event
/// applied (the caller updates counters and the chain head).
fn verify_event(
    track: &mut Track,
    event_ids: &mut HashSet<Uuid>,
    envelope: &Envelope<LedgerEvent>,
    cause: String,
    as_of: Option<NaiveDate>,
    sequence: u64,
) -> Result<(), Reason> {
    check_cause(track, envelope, cause, sequence)?;
    if !event_ids.insert(envelope.id) {
        return Err(reason(
            Check::DuplicateEvent,
            "an event id used once in the ledger",
            format!("{} used again", envelope.id),
        ));
    }
    if let Err(malformed) = envelope.event.check_entry() {
        return Err(reason(
            Check::Entry,
            "postings exactly as the amounts call for, each > 0",
            malformed.0,
        ));
    }
    if let Some(as_of) = as_of {
        if track.snapshot.is_none() && envelope.event.value_date() > as_of {
            track.snapshot = Some(Snapshot::of(track));
        }
    }
    track.fund = std::mem::take(&mut track.fund).apply(&envelope.event);
    // What this event can have changed, in O(its postings); the full scan runs once per fund at
    // the end (`Verifier::finish`).
    if let Err(violation) = track.fund.check_after(&envelope.event) {
        return Err(reason(
            Check::Invariant,
            format!("the invariant {} holds", violation.code()),
            violation.to_string(),
        ));
    }
    Ok(())
}

/// A cause is booked by one append: its events are adjacent in the fund, and when the append came
/// from the shell (its first id is `derived_event_id(cause, fund, 0)`) their ids are the derived
/// ids 0, 1, 2, ... in order.
fn check_cause(
    track: &mut Track,
    envelope: &Envelope<LedgerEvent>,
    cause: String,
    sequence: u64,
) -> Result<(), Reason> {
    let fund_id = envelope.event.fund_id();
    let booked = |track: &Track| track.causes.get(&cause).copied().unwrap_or(sequence);
    if track.last_cause.as_deref() == Some(cause.as_str()) {
        track.run_index += 1;
        let foreign = if track.run_derived {
            envelope.id != derived_event_id(&cause, fund_id, track.run_index)
        } else {
            envelope.id == derived_event_id(&cause, fund_id, 0)
        };
        if foreign {
            return Err(reason(
                Check::DuplicateCause,
                format!(
                    "the cause {cause} booked once (by the append at sequence {})",
                    booked(track)
                ),
                "an event of another append of the same cause right after it",
            ));
        }
        return Ok(());
    }
    if track.causes.contains_key(&cause) {
        return Err(reason(
            Check::DuplicateCause,
            format!(
                "the cause {cause} booked once (by the append at sequence {})",
                booked(track)
            ),
            "the cause booked again",
        ));
    }
    track.run_index = 0;
    track.run_derived = envelope.id == derived_event_id(&cause, fund_id, 0);
    track.causes.insert(cause.clone(), sequence);
    track.last_cause = Some(cause);
    Ok(())
}

/// The last token of a subject: the fund of `<ns>.ledger.<fund_id>`.
pub fn subject_fund(subject: &str) -> &str {
    subject.rsplit('.').next().unwrap_or(subject)
}

/// The stateless checks of one stored message (see the module docs), in this order: JSON, floats,
/// hash, schema, subject.
pub fn inspect(sequence: u64, subject: Option<&str>, bytes: &[u8]) -> Inspected {
    inspect_fast(sequence, subject, bytes).unwrap_or_else(|| inspect_full(sequence, subject, bytes))
}

/// [`inspect`] on the full path: the bytes parsed into a `serde_json::Value`.
pub(crate) fn inspect_full(sequence: u64, subject: Option<&str>, bytes: &[u8]) -> Inspected {
    let parsed: Result<Value, _> = serde_json::from_slice(bytes);
    let mut value = match parsed {
        Ok(value @ Value::Object(_)) => value,
        Ok(other) => {
            let found = format!("a JSON {}", kind(&other));
            return json_failure(sequence, subject, found);
        }
        Err(error) => return json_failure(sequence, subject, error.to_string()),
    };
    let fund_hint = value
        .pointer("/data/fund_id")
        .and_then(Value::as_str)
        .or_else(|| value.get("subject").and_then(Value::as_str))
        .or(subject.map(subject_fund))
        .map(str::to_owned);
    let event_id = value
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok());
    let outcome = decode(&mut value, bytes, subject).map_err(|reason| {
        let (check, expected, found) = *reason;
        Box::new(Failure {
            fund_id: fund_hint.clone(),
            sequence,
            event_id,
            check,
            expected,
            found,
        })
    });
    Inspected {
        sequence,
        fund_hint,
        outcome,
    }
}

/// The stateless checks on the fast path: the stored bytes read into a tree that borrows from
/// them ([`Json`]), hashed from it, and decoded straight from the bytes, which must be exactly
/// the contract's encoding of the event ([`decode_exact`]). It only ever accepts: at any doubt (a
/// float, a name twice, a hash that differs, bytes another writer spaced or ordered, a check that
/// fails) it gives `None`, and [`inspect`] takes the full path, which names what is wrong.
pub(crate) fn inspect_fast(
    sequence: u64,
    subject: Option<&str>,
    bytes: &[u8],
) -> Option<Inspected> {
    let tree = Json::parse(bytes).ok()?;
    let Json::Obj(members) = &tree else {
        return None;
    };
    let hash = tree.get("hash")?.as_str()?;
    if members_sha256(members, "hash")? != hash {
        return None;
    }
    let envelope = decode_exact(bytes, hash)?;
    let decoded = checked(envelope, hash.to_owned(), subject).ok()?;
    // The bytes are the contract's encoding, so `data.fund_id`, the hint the full path reads, is
    // the decoded event's fund.
    Some(Inspected {
        sequence,
        fund_hint: Some(decoded.envelope.event.fund_id().to_owned()),
        outcome: Ok(decoded),
    })
}

fn json_failure(sequence: u64, subject: Option<&str>, found: String) -> Inspected {
    let fund_hint = subject.map(|s| subject_fund(s).to_owned());
    Inspected {
        sequence,
        fund_hint: fund_hint.clone(),
        outcome: Err(Box::new(Failure {
            fund_id: fund_hint,
            sequence,
            event_id: None,
            check: Check::Json,
            expected: "one JSON object".to_owned(),
            found,
        })),
    }
}

thread_local! {
    /// The contract's encoding of the last envelope decoded on this thread, reused.
    static ENCODED: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(4096));
}

/// The envelope, when the stored bytes are exactly the contract's encoding of it (with `hash`).
fn decode_exact(bytes: &[u8], hash: &str) -> Option<Envelope<LedgerEvent>> {
    let envelope: Envelope<LedgerEvent> = serde_json::from_slice(bytes).ok()?;
    if envelope.hash.as_deref() != Some(hash) {
        return None;
    }
    ENCODED.with(|buffer| {
        let mut out = buffer.borrow_mut();
        out.clear();
        serde_json::to_writer(&mut *out, &envelope).ok()?;
        (out.as_slice() == bytes).then_some(envelope)
    })
}

/// The envelope decoded from the stored object (without `hash`), which must encode back to the
/// very same object, member for member.
fn decode_by_members(value: &Value) -> Result<Envelope<LedgerEvent>, Reason> {
    let envelope = <Envelope<LedgerEvent> as serde::Deserialize>::deserialize(value)
        .map_err(|e| reason(Check::Schema, "an Envelope<LedgerEvent>", e.to_string()))?;
    let again = serde_json::to_value(&envelope)
        .map_err(|e| reason(Check::Schema, "an Envelope<LedgerEvent>", e.to_string()))?;
    if *value != again {
        let path =
            first_difference(value, &again, &mut String::new()).unwrap_or_else(|| "/".to_owned());
        return Err(reason(
            Check::Schema,
            "exactly the members the contract writes",
            format!("{path} differs from the contract's encoding"),
        ));
    }
    Ok(envelope)
}

fn decode(value: &mut Value, bytes: &[u8], subject: Option<&str>) -> Result<Box<Decoded>, Reason> {
    let Value::Object(members) = value else {
        return Err(reason(Check::Json, "one JSON object", "not an object"));
    };
    let hash = match members.remove("hash") {
        Some(Value::String(hash)) => hash,
        Some(other) => {
            return Err(reason(
                Check::Schema,
                "a string member hash",
                format!("a JSON {}", kind(&other)),
            ))
        }
        None => return Err(reason(Check::Schema, "a member hash", "none")),
    };
    // `event_hash` without its copy: the object here is ours and `hash` is already taken out. The
    // full path hashes with the contract's own canonical form, the reference the fast path is
    // tested against. Canonical JSON refuses floats, so a float anywhere fails here; then find
    // where it is.
    let recomputed = buendel_contract::canonical::sha256_hex(value).map_err(|e| {
        let found = first_float(value, &mut String::new()).map_or(e.0, |(path, number)| {
            format!("the float {number} at {path}")
        });
        reason(Check::Float, "integers only", found)
    })?;
    if recomputed != hash {
        return Err(reason(Check::Hash, recomputed, hash));
    }
    // Decoded and encoded again, the object must come back member for member. Fast path: the
    // typed decode straight from the stored bytes, encoded again into a reused buffer, gives the
    // very same bytes (what the shell stores), so the object is the contract's encoding; only
    // when the bytes differ (another writer's spacing or order, or a real difference) are the
    // objects compared member for member.
    let envelope = match decode_exact(bytes, &hash) {
        Some(envelope) => envelope,
        None => decode_by_members(value)?,
    };
    checked(envelope, hash, subject)
}

/// The checks of a decoded envelope that need no other event: spec version and content type,
/// `prevhash` present, the fund of its subjects.
fn checked(
    mut envelope: Envelope<LedgerEvent>,
    hash: String,
    subject: Option<&str>,
) -> Result<Box<Decoded>, Reason> {
    envelope.hash = Some(hash.clone());
    if envelope.specversion != buendel_contract::envelope::SPEC_VERSION
        || envelope.datacontenttype != buendel_contract::envelope::CONTENT_TYPE
    {
        return Err(reason(
            Check::Schema,
            "specversion 1.0, datacontenttype application/json",
            format!("{}, {}", envelope.specversion, envelope.datacontenttype),
        ));
    }
    let Some(prevhash) = envelope.prevhash.clone() else {
        return Err(reason(Check::Schema, "a member prevhash", "none"));
    };
    let fund_id = envelope.event.fund_id();
    if envelope.subject != fund_id {
        return Err(reason(
            Check::Subject,
            format!("envelope subject {fund_id}"),
            format!("envelope subject {}", envelope.subject),
        ));
    }
    if let Some(subject) = subject {
        if subject_fund(subject) != fund_id {
            return Err(reason(
                Check::Subject,
                format!("a subject ending in .ledger.{fund_id}"),
                subject,
            ));
        }
    }
    Ok(Box::new(Decoded {
        envelope,
        hash,
        prevhash,
    }))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The path and text of the first number that is not an integer.
fn first_float(value: &Value, path: &mut String) -> Option<(String, String)> {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => Some((display_path(path), n.to_string())),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("/{i}"));
            let found = first_float(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(members) => members.iter().find_map(|(key, item)| {
            let len = path.len();
            path.push('/');
            path.push_str(key);
            let found = first_float(item, path);
            path.truncate(len);
            found
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => None,
    }
}

/// The path of the first place where `stored` and `encoded` differ.
fn first_difference(stored: &Value, encoded: &Value, path: &mut String) -> Option<String> {
    match (stored, encoded) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, item) in a {
                let len = path.len();
                path.push('/');
                path.push_str(key);
                let found = match b.get(key) {
                    Some(other) => first_difference(item, other, path),
                    None => Some(format!("{} (unknown member)", display_path(path))),
                };
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            b.keys()
                .find(|key| !a.contains_key(*key))
                .map(|key| format!("{}/{key} (missing member)", display_path(path)))
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().find_map(|(i, (x, y))| {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                let found = first_difference(x, y, path);
                path.truncate(len);
                found
            })
        }
        (a, b) if a == b => None,
        _ => Some(display_path(path)),
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}
