//! The model auditor: what must hold after every step and at the end, checked from the stored
//! bytes, not from what the services believe.
//!
//! After every step (incrementally, on the messages stored since the last step):
//! - every cause is booked by one append only, on one aggregate (`cause_booked_twice`);
//! - every ledger entry's postings are exactly what its amounts call for (`journal_entry`);
//! - no source of a fund is ever overdrawn: every figure of the postings' fold stays ≥ 0
//!   (`overdrawn`);
//! - the waitlist is served in order: a reservation from the waitlist is its head
//!   (`waitlist_order`);
//! - a positive statement gets at most one reservation or waitlist place (`statement_booked_twice`);
//! - the projection equals the fold of the history up to its checkpoint (`projection`).
//!
//! At the end (all quiet): the audit service's own verifier passes over the whole LEDGER stream;
//! the fund's balances (its own fold) equal the recomputation from the postings, per source and
//! per project; every positive statement has exactly one reservation or waitlist place; a
//! withdrawn or refused proposal holds no money; every retry of a command got the answer of the
//! first; every proposal published was submitted exactly once; no message was dead-lettered or
//! given up on that should not have been; the projection equals a rebuild.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;
use uuid::Uuid;

use buendel_contract::ledger::{AccountBook, LedgerEvent, Source};
use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::ProposalEvent;
use buendel_contract::review::{ReviewEvent, Verdict};
use buendel_contract::{Aggregate, Envelope};
use buendel_ledger::domain::Fund;

use crate::world::{self, Answer, Projection, World};

/// A broken rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The step after which it was found.
    pub step: u64,
    /// The rule (stable, snake_case).
    pub check: &'static str,
    /// What was found.
    pub detail: String,
}

/// The auditor's incremental state.
#[derive(Debug, Default)]
pub struct Auditor {
    seen: BTreeMap<&'static str, u64>,
    /// (stream, subject, cause) → the append that booked it.
    causes: BTreeMap<(&'static str, String, String), u64>,
    /// LEDGER cause → its fund's subject.
    ledger_causes: BTreeMap<String, String>,
    books: BTreeMap<String, AccountBook>,
    waitlists: BTreeMap<String, VecDeque<Uuid>>,
    /// Statement event id → reservations or waitlist places booked for it.
    statement_bookings: BTreeMap<String, u32>,
    prefix: Projection,
}

fn name(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Proposals => "proposals",
        StreamKind::Reviews => "reviews",
        StreamKind::Ledger => "ledger",
        StreamKind::Intake => "intake",
        StreamKind::Deadletter => "deadletter",
        StreamKind::Receipts => "receipts",
        StreamKind::Decisions => "decisions",
    }
}

impl Auditor {
    /// Checks what was stored since the last call.
    pub fn after_step(&mut self, world: &World) -> Result<(), Violation> {
        let step = world.counts.steps;
        let fail = |check, detail| Violation {
            step,
            check,
            detail,
        };
        for kind in [
            StreamKind::Proposals,
            StreamKind::Reviews,
            StreamKind::Ledger,
        ] {
            let stream = world.store.stream(kind);
            let from = self.seen.get(name(kind)).copied().unwrap_or(0);
            for message in stream
                .messages()
                .iter()
                .skip(usize::try_from(from).unwrap_or(0))
            {
                let value: Value = serde_json::from_slice(&message.payload).map_err(|e| {
                    fail("json", format!("{} {}: {e}", name(kind), message.sequence))
                })?;
                let cause = value["causationid"].as_str().unwrap_or_default().to_owned();
                let key = (name(kind), message.subject.clone(), cause.clone());
                match self.causes.get(&key) {
                    Some(batch) if *batch != message.batch => {
                        return Err(fail(
                            "cause_booked_twice",
                            format!(
                                "{} {}: cause {cause} booked again on {}",
                                name(kind),
                                message.sequence,
                                message.subject
                            ),
                        ))
                    }
                    Some(_) => {}
                    None => {
                        self.causes.insert(key, message.batch);
                    }
                }
                if kind == StreamKind::Ledger {
                    if let Some(subject) = self.ledger_causes.get(&cause) {
                        if *subject != message.subject {
                            return Err(fail(
                                "cause_booked_twice",
                                format!(
                                    "cause {cause} booked on {subject} and {}",
                                    message.subject
                                ),
                            ));
                        }
                    } else {
                        self.ledger_causes
                            .insert(cause.clone(), message.subject.clone());
                    }
                    self.ledger_entry(message.sequence, &message.payload, &cause)
                        .map_err(|(check, detail)| fail(check, detail))?;
                }
            }
            self.seen.insert(name(kind), stream.last_sequence());
        }
        // The projection is the fold of the history up to its checkpoint.
        let checkpoint = world.projection.checkpoint;
        if checkpoint < self.prefix.checkpoint {
            return Err(fail(
                "projection",
                format!(
                    "the checkpoint went back from {} to {checkpoint}",
                    self.prefix.checkpoint
                ),
            ));
        }
        let ledger = world.store.stream(StreamKind::Ledger);
        while self.prefix.checkpoint < checkpoint {
            let sequence = self.prefix.checkpoint + 1;
            let Some(message) = ledger.get(sequence) else {
                return Err(fail(
                    "projection",
                    format!("checkpoint {checkpoint} beyond the stream"),
                ));
            };
            self.prefix
                .apply(sequence, &message.payload)
                .map_err(|e| fail("projection", e))?;
        }
        if self.prefix != world.projection {
            return Err(fail(
                "projection",
                format!("the projection at {checkpoint} differs from the fold of the history"),
            ));
        }
        Ok(())
    }

    fn ledger_entry(
        &mut self,
        sequence: u64,
        payload: &[u8],
        cause: &str,
    ) -> Result<(), (&'static str, String)> {
        let envelope: Envelope<LedgerEvent> = serde_json::from_slice(payload)
            .map_err(|e| ("json", format!("LEDGER {sequence}: {e}")))?;
        let event = &envelope.event;
        event
            .check_entry()
            .map_err(|e| ("journal_entry", format!("LEDGER {sequence}: {e}")))?;
        let fund = event.fund_id().to_owned();
        let book = self.books.entry(fund.clone()).or_default();
        for posting in event.postings() {
            book.post(posting)
                .map_err(|e| ("overdrawn", format!("LEDGER {sequence}: {e}")))?;
        }
        for source in Source::ALL {
            let b = book.fund_balances(source);
            let figures = [
                ("available", b.available),
                ("reserved", b.reserved),
                ("committed", b.committed),
                ("unpaid", b.unpaid),
                ("disbursed", b.disbursed),
            ];
            if let Some((what, cents)) = figures.iter().find(|(_, c)| c.0 < 0) {
                return Err((
                    "overdrawn",
                    format!(
                        "LEDGER {sequence}: {fund} {source:?} {what} is {} cents",
                        cents.0
                    ),
                ));
            }
        }
        let queue = self.waitlists.entry(fund.clone()).or_default();
        match event {
            LedgerEvent::ReservationDeclined(declined) => {
                if !queue.contains(&declined.proposal_id) {
                    queue.push_back(declined.proposal_id);
                }
                *self.statement_bookings.entry(cause.to_owned()).or_default() += 1;
            }
            LedgerEvent::FundsReserved(reserved) => {
                if reserved.from_waitlist {
                    if queue.front() != Some(&reserved.proposal_id) {
                        return Err((
                            "waitlist_order",
                            format!(
                                "LEDGER {sequence}: {} reserved from the waitlist ahead of {:?}",
                                reserved.proposal_id,
                                queue.front()
                            ),
                        ));
                    }
                    queue.pop_front();
                } else {
                    if queue.contains(&reserved.proposal_id) {
                        return Err((
                            "waitlist_order",
                            format!(
                                "LEDGER {sequence}: {} reserved past the waitlist it is on",
                                reserved.proposal_id
                            ),
                        ));
                    }
                    *self.statement_bookings.entry(cause.to_owned()).or_default() += 1;
                }
            }
            LedgerEvent::ReservationReleased(released) => {
                queue.retain(|p| *p != released.proposal_id);
            }
            LedgerEvent::FundsCommitted(committed) => {
                queue.retain(|p| *p != committed.proposal_id);
            }
            _ => {}
        }
        if self.statement_bookings.get(cause).copied().unwrap_or(0) > 1 {
            return Err((
                "statement_booked_twice",
                format!(
                    "LEDGER {sequence}: the statement {cause} got a second reservation or place"
                ),
            ));
        }
        Ok(())
    }

    /// The checks at the end of a run, when everything is quiet.
    pub fn at_end(&mut self, world: &World) -> Result<(), Violation> {
        self.after_step(world)?;
        let step = world.counts.steps;
        let fail = |check, detail| Violation {
            step,
            check,
            detail,
        };
        let ledger = world.store.stream(StreamKind::Ledger);
        // The audit service's own verifier over every stored byte.
        let mut verifier = buendel_audit::verifier::Verifier::new(Default::default());
        for message in ledger.messages() {
            let _ = verifier.push(message.sequence, Some(&message.subject), &message.payload);
        }
        let verified = verifier.finish();
        if !verified.report.ok {
            return Err(fail(
                "audit",
                format!("{:?}", verified.report.first_failure),
            ));
        }
        // Each fund's own fold equals the recomputation from the postings.
        let mut funds: BTreeMap<String, Fund> = BTreeMap::new();
        for message in ledger.messages() {
            let envelope: Envelope<LedgerEvent> = serde_json::from_slice(&message.payload)
                .map_err(|e| fail("json", e.to_string()))?;
            let fund = funds
                .entry(envelope.event.fund_id().to_owned())
                .or_default();
            *fund = std::mem::take(fund).apply(&envelope.event);
        }
        for (fund_id, fund) in &funds {
            let balances = fund.balances();
            let book = self.books.get(fund_id).cloned().unwrap_or_default();
            if balances.esf_plus != book.fund_balances(Source::EsfPlus)
                || balances.land != book.fund_balances(Source::Land)
            {
                return Err(fail(
                    "balances",
                    format!("{fund_id}: the fund's balances differ from its postings"),
                ));
            }
            for (proposal_id, money) in &balances.projects {
                if money.esf_plus != book.project_balances(*proposal_id, Source::EsfPlus)
                    || money.land != book.project_balances(*proposal_id, Source::Land)
                {
                    return Err(fail(
                        "balances",
                        format!("{fund_id}: {proposal_id} differs from its postings"),
                    ));
                }
            }
        }
        // Reviews: each positive statement booked exactly once; a withdrawn or refused proposal
        // holds no money.
        let reviews = world.store.stream(StreamKind::Reviews);
        let mut ended: BTreeSet<Uuid> = BTreeSet::new();
        for message in reviews.messages() {
            let Ok(envelope) = serde_json::from_slice::<Envelope<ReviewEvent>>(&message.payload)
            else {
                continue;
            };
            match &envelope.event {
                ReviewEvent::StatementIssued(statement)
                    if statement.verdict == Verdict::Positive =>
                {
                    let booked = self
                        .statement_bookings
                        .get(&envelope.id.to_string())
                        .copied()
                        .unwrap_or(0);
                    if booked != 1 {
                        return Err(fail(
                            "statement_booked",
                            format!("the positive statement {} of {} has {booked} reservations or places", envelope.id, statement.proposal_id),
                        ));
                    }
                }
                ReviewEvent::GrantRefused(refused) => {
                    ended.insert(refused.proposal_id);
                }
                ReviewEvent::Closed(closed) => {
                    ended.insert(closed.proposal_id);
                }
                _ => {}
            }
        }
        for fund in funds.values() {
            let balances = fund.balances();
            for proposal_id in &ended {
                if let Some(money) = balances.projects.get(proposal_id) {
                    if money.total.reserved.0 != 0 || money.waitlist_position.is_some() {
                        return Err(fail(
                            "money_held",
                            format!("{proposal_id} ended without a grant but still holds {} cents or a place", money.total.reserved.0),
                        ));
                    }
                }
            }
        }
        // Every retry of a command got the answer of the first booking.
        for (command_id, answers) in &world.answers {
            let booked: BTreeSet<&Vec<Uuid>> = answers
                .iter()
                .filter_map(|a| match a {
                    Answer::Booked(ids) => Some(ids),
                    Answer::Refused(_) => None,
                })
                .collect();
            if booked.len() > 1 {
                return Err(fail(
                    "same_answer",
                    format!("command {command_id} was answered {answers:?}"),
                ));
            }
        }
        // Every proposal published was submitted exactly once.
        let proposals = world.store.stream(StreamKind::Proposals);
        let mut submitted: BTreeMap<Uuid, u32> = BTreeMap::new();
        for message in proposals.messages() {
            let envelope: Envelope<ProposalEvent> = serde_json::from_slice(&message.payload)
                .map_err(|e| fail("json", e.to_string()))?;
            if let ProposalEvent::Submitted(s) = &envelope.event {
                *submitted.entry(s.proposal_id).or_default() += 1;
            }
        }
        for proposal_id in world.published.values() {
            let count = submitted.get(proposal_id).copied().unwrap_or(0);
            if count != 1 {
                return Err(fail(
                    "submitted_once",
                    format!("{proposal_id} was submitted {count} times"),
                ));
            }
        }
        if submitted.len() != world::proposal_ids(world).len() {
            return Err(fail(
                "submitted_once",
                format!(
                    "{} proposals submitted, {} published",
                    submitted.len(),
                    world.published.len()
                ),
            ));
        }
        // Dead letters: only the conflicting replays, each once.
        let mut lettered: BTreeMap<String, u32> = BTreeMap::new();
        for message in world.store.stream(StreamKind::Deadletter).messages() {
            let letter: Value = serde_json::from_slice(&message.payload)
                .map_err(|e| fail("json", e.to_string()))?;
            let code = letter["code"].as_str().unwrap_or_default();
            let event_id = letter["event_id"].as_str().unwrap_or_default();
            let expected = code == buendel_submission::app::CONFLICTING_DUPLICATE
                && Uuid::parse_str(event_id)
                    .is_ok_and(|id| world.expected_dead_letters.contains(&id));
            if !expected {
                return Err(fail(
                    "dead_letter",
                    format!("unexpected dead letter: {letter}"),
                ));
            }
            *lettered.entry(event_id.to_owned()).or_default() += 1;
        }
        for id in &world.expected_dead_letters {
            if lettered.get(&id.to_string()).copied().unwrap_or(0) != 1 {
                return Err(fail(
                    "dead_letter",
                    format!("the conflicting replay of {id} was not dead-lettered once"),
                ));
            }
        }
        let exhausted = world::exhausted(world);
        if exhausted > 0 {
            return Err(fail(
                "given_up",
                format!("{exhausted} messages were given up after max deliver"),
            ));
        }
        let rebuilt = Projection::rebuild(&world.store).map_err(|e| fail("projection", e))?;
        if rebuilt != world.projection {
            return Err(fail(
                "projection",
                "the projection differs from a rebuild from the history".to_owned(),
            ));
        }
        Ok(())
    }
}
