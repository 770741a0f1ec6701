//! Unit tests of the audit: a ledger built with the real Fund aggregate and sealed as the ledger
//! shell seals it ([`Ledger`]), verified clean ([`clean`]), tampered with in every way the issue
//! lists ([`tamper`]), with a decision cut short before it served the waitlist ([`waitlist`]),
//! and written to and read back from an export file ([`file`]).

mod clean;
mod file;
mod tamper;
mod waitlist;

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone as _, Utc};
use uuid::Uuid;

use buendel_contract::envelope::derived_event_id;
use buendel_contract::ledger::{seal, LedgerEvent, ReleaseReason, GENESIS_HASH};
use buendel_contract::{Aggregate as _, Cents, Envelope, Meta};
use buendel_ledger::domain::{Command, Fund};

use crate::report::{Options, Report};
use crate::verifier::Verifier;

/// The two funds of the examples.
pub(crate) const NON: &str = "non-2021-2027";
pub(crate) const SON: &str = "son-2021-2027";

pub(crate) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

pub(crate) fn p(n: u128) -> Uuid {
    Uuid::from_u128(0xa0d1_0000 + n)
}

/// One stored message, as JetStream holds it.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub sequence: u64,
    pub subject: String,
    pub bytes: Vec<u8>,
}

/// A ledger built by deciding real commands on the real Fund aggregate, each decision appended
/// like the shell appends it: derived event ids, `causationid` = the command id, sealed.
#[derive(Default)]
pub(crate) struct Ledger {
    pub messages: Vec<Message>,
    /// Per fund: the state, the version and the head of the chain.
    pub funds: BTreeMap<String, (Fund, u64, String)>,
    /// Every event with its stream sequence, in order.
    pub events: Vec<(u64, LedgerEvent)>,
    commands: u64,
}

impl Ledger {
    /// Decides `command` on `fund_id` and appends the events under a fresh cause.
    pub fn run(&mut self, fund_id: &str, command: Command) -> Vec<u64> {
        self.commands += 1;
        let cause = format!("cmd-{}", self.commands);
        self.run_with_cause(fund_id, &cause, command)
    }

    /// Decides `command` and appends the events under `cause`.
    pub fn run_with_cause(&mut self, fund_id: &str, cause: &str, command: Command) -> Vec<u64> {
        let (fund, _, _) = self
            .funds
            .entry(fund_id.to_owned())
            .or_insert_with(|| (Fund::default(), 0, GENESIS_HASH.to_owned()));
        let events = fund.decide(&command).expect("the command is accepted");
        let mut sequences = Vec::new();
        for (index, event) in events.into_iter().enumerate() {
            let id = derived_event_id(cause, fund_id, index);
            sequences.push(self.append(fund_id, id, cause, event, None));
        }
        sequences
    }

    /// Appends one event as the shell would, with `prevhash` forged when given.
    pub fn append(
        &mut self,
        fund_id: &str,
        id: Uuid,
        cause: &str,
        event: LedgerEvent,
        forged_prevhash: Option<&str>,
    ) -> u64 {
        let (fund, version, head) = self
            .funds
            .entry(fund_id.to_owned())
            .or_insert_with(|| (Fund::default(), 0, GENESIS_HASH.to_owned()));
        let envelope = sealed(
            id,
            fund_id,
            *version + 1,
            cause,
            event.clone(),
            forged_prevhash.unwrap_or(head),
        );
        *fund = std::mem::take(fund).apply(&event);
        *version += 1;
        *head = envelope.hash.clone().expect("sealed");
        let sequence = self.messages.len() as u64 + 1;
        self.messages.push(Message {
            sequence,
            subject: format!("t.ledger.{fund_id}"),
            bytes: serde_json::to_vec(&envelope).expect("serialize"),
        });
        self.events.push((sequence, event));
        sequence
    }

    /// The state of a fund as the builder folded it.
    pub fn fund(&self, fund_id: &str) -> &Fund {
        &self.funds.get(fund_id).expect("known fund").0
    }

    /// The head of a fund's chain.
    pub fn head(&self, fund_id: &str) -> &str {
        &self.funds.get(fund_id).expect("known fund").2
    }

    /// The messages with their subjects, as an online replay sees them.
    pub fn online(&self) -> Vec<(u64, Option<String>, Vec<u8>)> {
        self.messages
            .iter()
            .map(|m| (m.sequence, Some(m.subject.clone()), m.bytes.clone()))
            .collect()
    }

    /// The bytes only, as lines of an export file.
    pub fn lines(&self) -> Vec<Vec<u8>> {
        self.messages.iter().map(|m| m.bytes.clone()).collect()
    }
}

/// An envelope as the ledger shell builds it: `Envelope::new`, `causationid`, then `seal`.
pub(crate) fn sealed(
    id: Uuid,
    fund_id: &str,
    version: u64,
    cause: &str,
    event: LedgerEvent,
    prevhash: &str,
) -> Envelope<LedgerEvent> {
    let meta = Meta {
        source: "/buendel/ledger".into(),
        time: Utc
            .with_ymd_and_hms(2025, 3, 1, 9, 30, 0)
            .single()
            .expect("valid time"),
        correlation_id: None,
        causation_id: None,
        actor: "operator".into(),
    };
    let mut envelope = Envelope::new(id, fund_id, version, event, &meta);
    envelope.causationid = Some(cause.to_owned());
    seal(&mut envelope, prevhash).expect("sealed");
    envelope
}

/// Two funds through every state: allocation, reservation, waitlist, grant, two tranches, a
/// withdrawal, closing under budget (which serves the waitlist in the same append), a clawback
/// and its repayment.
pub(crate) fn sample() -> Ledger {
    let mut ledger = Ledger::default();
    ledger.run(
        NON,
        Command::AllocateBudget {
            fund_id: NON.into(),
            esf: Cents(200_571_429),
            land: Cents(33_428_571),
            commit_deadline: day(2027, 12, 31),
            today: day(2025, 1, 2),
        },
    );
    ledger.run(
        SON,
        Command::AllocateBudget {
            fund_id: SON.into(),
            esf: Cents(144_000_000),
            land: Cents(24_000_000),
            commit_deadline: day(2027, 12, 31),
            today: day(2025, 1, 2),
        },
    );
    ledger.run(NON, reserve(p(1), 18_000_000, 3_000_000, day(2025, 3, 1)));
    ledger.run(
        NON,
        Command::Commit {
            proposal_id: p(1),
            esf: Cents(18_000_000),
            land: Cents(3_000_000),
            terms: None,
            today: day(2025, 4, 1),
        },
    );
    ledger.run(SON, reserve(p(2), 6_000_000, 1_000_000, day(2025, 4, 2)));
    ledger.run(
        NON,
        disburse(p(1), "NB-1", 1_500_000, 250_000, day(2025, 4, 15)),
    );
    // Does not fit in ESF+ (182,571,429 available): declined and waitlisted.
    ledger.run(NON, reserve(p(3), 182_900_000, 30_000_000, day(2025, 5, 1)));
    ledger.run(
        SON,
        Command::ReleaseReservation {
            proposal_id: p(2),
            reason: ReleaseReason::Withdrawn,
            today: day(2025, 6, 1),
        },
    );
    ledger.run(
        NON,
        disburse(p(1), "NB-2", 16_100_000, 2_650_000, day(2026, 9, 30)),
    );
    // Frees 400,000 + 100,000 cents: now p3 fits and is reserved in the same append.
    ledger.run(
        NON,
        Command::CloseProject {
            proposal_id: p(1),
            today: day(2026, 10, 1),
        },
    );
    ledger.run(
        NON,
        Command::AssessRecovery {
            proposal_id: p(1),
            esf: Cents(800_000),
            land: Cents(100_000),
            reason: "final report audited".into(),
            today: day(2026, 10, 2),
        },
    );
    ledger.run(
        NON,
        Command::RecordRepayment {
            proposal_id: p(1),
            esf: Cents(800_000),
            land: Cents(100_000),
            value_date: day(2026, 11, 2),
            today: day(2026, 11, 2),
        },
    );
    ledger
}

pub(crate) fn reserve(proposal: Uuid, esf: i64, land: i64, today: NaiveDate) -> Command {
    Command::Reserve {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        today,
    }
}

pub(crate) fn disburse(
    proposal: Uuid,
    reference: &str,
    esf: i64,
    land: i64,
    on: NaiveDate,
) -> Command {
    Command::RecordDisbursement {
        proposal_id: proposal,
        payment_reference: reference.into(),
        esf: Cents(esf),
        land: Cents(land),
        value_date: on,
        today: on,
    }
}

/// Verifies messages given with their stream sequences and subjects.
pub(crate) fn verify(messages: &[(u64, Option<String>, Vec<u8>)], options: Options) -> Report {
    let mut verifier = Verifier::new(options).starting_at(1);
    for (sequence, subject, bytes) in messages {
        verifier.push(*sequence, subject.as_deref(), bytes);
    }
    verifier.finish().report
}

/// Verifies lines as an export file holds them: line i is stream sequence i + 1, no subject.
pub(crate) fn verify_lines(lines: &[Vec<u8>]) -> Report {
    let messages: Vec<_> = lines
        .iter()
        .enumerate()
        .map(|(i, bytes)| (i as u64 + 1, None, bytes.clone()))
        .collect();
    verify(&messages, Options::default())
}

/// The stored event at a position, decoded.
pub(crate) fn envelope_of(bytes: &[u8]) -> Envelope<LedgerEvent> {
    serde_json::from_slice(bytes).expect("an envelope")
}
