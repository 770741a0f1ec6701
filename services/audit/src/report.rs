//! What an audit says: the [`Report`] (serializable to JSON for `--json`), its parts, and
//! [`human`], the summary people read.
//!
//! A report is the same whether the ledger was read from JetStream or from an export file: the
//! verification part (`ok` aside) depends only on the stored events. `differences` is where the
//! two modes differ: online it lists what the Postgres projections say otherwise, offline what the
//! export's manifest says otherwise.

use std::fmt::Write as _;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use buendel_contract::ledger::SourceBalances;

/// What to verify; every field narrows the audit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// Only this fund (`--fund`); the stream sequences of all funds are still checked for gaps.
    pub fund: Option<String>,
    /// Stop after this stream sequence (`--until-seq`).
    pub until_seq: Option<u64>,
    /// Report balances at the end of this day (`--as-of`): the state after every event whose
    /// value date is on or before it. Every event is still verified.
    pub as_of: Option<NaiveDate>,
}

/// Which check an event failed. The wire name (snake_case) is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Stream sequences are contiguous from the first one (a gap is a deleted event).
    StreamSequence,
    /// The stored bytes are one JSON object.
    Json,
    /// No JSON number is a float (money is integer cents; canonical JSON refuses floats).
    Float,
    /// `hash` is the SHA-256 of the RFC 8785 canonical JSON of the event without `hash`.
    Hash,
    /// The event decodes as `Envelope<LedgerEvent>` and holds nothing the contract does not write.
    Schema,
    /// The event's fund is the fund of its subject (NATS subject and envelope `subject`).
    Subject,
    /// `prevhash` is the `hash` of the fund's previous event (or the genesis hash for its first).
    Prevhash,
    /// The aggregate `sequence` extension counts the fund's events 1, 2, 3, ...
    AggregateSequence,
    /// An event id appears once in the whole ledger.
    DuplicateEvent,
    /// Every ledger event names its cause (`causationid`).
    MissingCause,
    /// A cause (review event or command id) is booked by one append only.
    DuplicateCause,
    /// The journal entry is exactly what the event's amounts call for, every amount > 0.
    Entry,
    /// An invariant of the Fund aggregate holds after the event (`Fund::check_invariants`).
    Invariant,
    /// At the end of a decision (the fund's next event has another cause, or the stream ends), on
    /// or before the deadline, the head of the waitlist does not fit into what is available: the
    /// decision that freed the money reserved it (`Fund::waitlist_served_check`). Names the
    /// decision's last event.
    WaitlistNotServed,
}

impl Check {
    /// The stable wire name, e.g. `prevhash`.
    pub fn code(self) -> &'static str {
        match self {
            Check::StreamSequence => "stream_sequence",
            Check::Json => "json",
            Check::Float => "float",
            Check::Hash => "hash",
            Check::Schema => "schema",
            Check::Subject => "subject",
            Check::Prevhash => "prevhash",
            Check::AggregateSequence => "aggregate_sequence",
            Check::DuplicateEvent => "duplicate_event",
            Check::MissingCause => "missing_cause",
            Check::DuplicateCause => "duplicate_cause",
            Check::Entry => "entry",
            Check::Invariant => "invariant",
            Check::WaitlistNotServed => "waitlist_not_served",
        }
    }
}

/// The first bad event: where it is, which check failed, what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The fund, when it can be told (from the event, or else its subject).
    pub fund_id: Option<String>,
    /// The stream sequence of the event (offline: the manifest's first sequence + line index).
    pub sequence: u64,
    /// The event id, when it can be read.
    pub event_id: Option<Uuid>,
    /// Which check failed.
    pub check: Check,
    /// What the check expected.
    pub expected: String,
    /// What it found.
    pub found: String,
}

/// A fund as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundSummary {
    /// The fund, e.g. `non-2021-2027`.
    pub fund_id: String,
    /// How many of its events were verified.
    pub events: u64,
    /// The stream sequence of its first verified event.
    pub first_sequence: u64,
    /// The stream sequence of its last verified event.
    pub last_sequence: u64,
    /// The `hash` of its last verified event: the head of its chain.
    pub final_hash: String,
    /// How many events the balances include (fewer than `events` with `as_of`).
    pub balances_events: u64,
    /// The stream sequence of the last event the balances include (`None`: none yet).
    pub balances_last_sequence: Option<u64>,
    /// The `hash` of that event: the head of the chain at the end of the `as_of` day.
    pub balances_hash: Option<String>,
    /// The ESF+ figures.
    pub esf_plus: SourceBalances,
    /// The Land figures.
    pub land: SourceBalances,
    /// ESF+ plus Land.
    pub total: SourceBalances,
    /// The balances of all accounts of each source sum to zero.
    pub trial_balance_zero: bool,
}

/// Something another record (a Postgres projection, the export manifest) says otherwise than the
/// ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// What was compared: `fund`, `fund_balance`, `entry`, `proposal_money`, `manifest`.
    pub kind: String,
    /// Which item, e.g. `non-2021-2027 esf_plus available` or `sequence 17`.
    pub key: String,
    /// What the ledger says.
    pub ledger: String,
    /// What the other record says.
    pub other: String,
}

impl Difference {
    /// A difference of `kind` on `key`.
    pub fn new(
        kind: &str,
        key: impl Into<String>,
        ledger: impl ToString,
        other: impl ToString,
    ) -> Self {
        Self {
            kind: kind.to_owned(),
            key: key.into(),
            ledger: ledger.to_string(),
            other: other.to_string(),
        }
    }
}

/// The result of an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True when every check held and nothing differs: the exit code is 0 exactly then.
    pub ok: bool,
    /// What was asked.
    pub options: Options,
    /// How many stream messages were read (all funds), from `first_sequence` to `last_sequence`.
    pub messages: u64,
    /// The first stream sequence read (`None` for an empty ledger).
    pub first_sequence: Option<u64>,
    /// The last stream sequence read.
    pub last_sequence: Option<u64>,
    /// How many ledger events of the funds in scope were verified.
    pub events: u64,
    /// Every fund in scope, by id.
    pub funds: Vec<FundSummary>,
    /// The first bad event, if any; verification stops there.
    pub first_failure: Option<Failure>,
    /// Every difference with the projections (online) or the manifest (offline).
    pub differences: Vec<Difference>,
    /// The transparency logs, when log keys were pinned (`--log-key`): each recomputed from the
    /// stored messages and checked against its signed checkpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transparency: Vec<crate::transparency::LogReport>,
}

impl Report {
    /// Recomputes `ok` after differences were added.
    pub fn settle(&mut self) {
        self.ok = self.first_failure.is_none()
            && self.differences.is_empty()
            && self.transparency.iter().all(|log| log.failure.is_none());
    }

    /// The report without `differences` (and with `ok` recomputed from the failure alone): what
    /// an online and an offline audit of the same ledger at the same point agree on.
    pub fn verification(&self) -> Report {
        let mut report = self.clone();
        report.differences.clear();
        report.transparency.clear();
        report.settle();
        report
    }

    /// The summary of one fund.
    pub fn fund(&self, fund_id: &str) -> Option<&FundSummary> {
        self.funds.iter().find(|f| f.fund_id == fund_id)
    }
}

/// The human summary: status, balances per source and the final hash per fund, the first bad
/// event and every difference.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    let status = if report.ok { "OK" } else { "FAILED" };
    let range = match (report.first_sequence, report.last_sequence) {
        (Some(first), Some(last)) => format!("stream sequences {first}..={last}"),
        _ => "an empty ledger".to_owned(),
    };
    let _ = writeln!(
        out,
        "Ledger audit {status}: {} events of {} funds verified, {} messages read ({range})",
        report.events,
        report.funds.len(),
        report.messages
    );
    if let Some(fund) = &report.options.fund {
        let _ = writeln!(out, "Only fund {fund}.");
    }
    if let Some(until) = report.options.until_seq {
        let _ = writeln!(out, "Up to stream sequence {until}.");
    }
    if let Some(as_of) = report.options.as_of {
        let _ = writeln!(out, "Balances as of the end of {as_of}.");
    }
    for fund in &report.funds {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Fund {}: {} events, sequences {}..={}, balances after {} events",
            fund.fund_id,
            fund.events,
            fund.first_sequence,
            fund.last_sequence,
            fund.balances_events
        );
        let _ = writeln!(out, "  final hash {}", fund.final_hash);
        if fund.balances_events != fund.events {
            let _ = writeln!(
                out,
                "  balances at sequence {}, hash {}",
                fund.balances_last_sequence
                    .map_or_else(|| "(none)".to_owned(), |s| s.to_string()),
                fund.balances_hash.as_deref().unwrap_or("(none)")
            );
        }
        let _ = writeln!(
            out,
            "  {:<9}{:>17}{:>17}{:>17}{:>17}{:>17}{:>17}{:>17}{:>17}",
            "EUR",
            "allocated",
            "available",
            "reserved",
            "committed",
            "disbursed",
            "recovered",
            "repaid",
            "expired"
        );
        for (name, figures) in [
            ("esf_plus", &fund.esf_plus),
            ("land", &fund.land),
            ("total", &fund.total),
        ] {
            let _ = writeln!(
                out,
                "  {name:<9}{:>17}{:>17}{:>17}{:>17}{:>17}{:>17}{:>17}{:>17}",
                figures.allocated.to_string(),
                figures.available.to_string(),
                figures.reserved.to_string(),
                figures.committed.to_string(),
                figures.disbursed.to_string(),
                figures.recovered.to_string(),
                figures.repaid.to_string(),
                figures.expired.to_string()
            );
        }
        let trial = if fund.trial_balance_zero {
            "zero"
        } else {
            "NOT ZERO"
        };
        let _ = writeln!(out, "  trial balance: {trial}");
    }
    if let Some(failure) = &report.first_failure {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "First bad event: fund {}, sequence {}, event {}",
            failure.fund_id.as_deref().unwrap_or("(unknown)"),
            failure.sequence,
            failure
                .event_id
                .map_or_else(|| "(unknown)".to_owned(), |id| id.to_string())
        );
        let _ = writeln!(out, "  check:    {}", failure.check.code());
        let _ = writeln!(out, "  expected: {}", failure.expected);
        let _ = writeln!(out, "  found:    {}", failure.found);
    }
    if !report.differences.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{} differences:", report.differences.len());
        for difference in &report.differences {
            let _ = writeln!(
                out,
                "  {} {}: ledger {}, other {}",
                difference.kind, difference.key, difference.ledger, difference.other
            );
        }
    }
    for log in &report.transparency {
        let _ = writeln!(out);
        let status = if log.failure.is_none() {
            "OK"
        } else {
            "FAILED"
        };
        let _ = writeln!(
            out,
            "Transparency log {} {status}: {} leaves recomputed, root {}",
            log.log, log.leaves, log.root
        );
        if let (Some(origin), Some(size)) = (&log.origin, log.checkpoint_size) {
            let _ = writeln!(out, "  checkpoint: {origin} at size {size}");
        }
        if !log.signed_by.is_empty() {
            let _ = writeln!(out, "  signed by:  {}", log.signed_by.join(", "));
        }
        if let Some(size) = log.trusted_size {
            let _ = writeln!(out, "  extends the trusted checkpoint of size {size}");
        }
        if let Some(failure) = &log.failure {
            let _ = writeln!(out, "  failure:    {failure}");
        }
    }
    out
}
