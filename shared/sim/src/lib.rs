//! The deterministic simulation of the whole saga (`buendel sim`).
//!
//! One seed is one run: an operator opens the funds, applicants publish proposals to the intake,
//! partners vote, the office issues statements, the bank grants or refuses, applicants withdraw,
//! tranches are paid, each command retried with the same id until it is answered. The services
//! (two processes each of submission, approval and ledger, one projector) decide with their real
//! domains and policies over an in-memory store with JetStream's semantics ([`store`]), through a
//! shell that does what the runtime's repository does ([`shell`]), and settle deliveries with the
//! runtime's reactor mapping. The seed chooses every step and every fault: processes killed at
//! any step and between any two writes, duplicate and late deliveries, deliveries handled in any
//! order across subjects, lost acks, the projector dying between its commit and its ack, lost
//! replies and client retries, intake messages replayed with the same or another body.
//!
//! The model auditor ([`auditor`]) checks after every step and at the end. A run is a pure
//! function of its seed and configuration: [`Report::trace_sha256`] hashes every action and every
//! stored message, and running a seed twice gives the same hash.
//!
//! What it does not model: servers without atomic batches (2.10's decision records: the e2e
//! fault tests cover them), Postgres (the projection is the fold of the postings with its
//! checkpoint, committed in one step as the projector's transaction), and the wall-clock
//! behaviour of the real reactor's lanes (a process here handles the head of any lane).

pub mod auditor;
pub mod rng;
pub mod shell;
pub mod store;
pub mod world;

use chrono::NaiveDate;
use serde::Serialize;

pub use auditor::Violation;
pub use world::{Counts, Faults, World};

/// What one run simulates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The business date the run starts on.
    pub date: NaiveDate,
    /// Proposals (one client each).
    pub proposals: usize,
    /// Processes per service (submission, approval, ledger); the projector runs once.
    pub instances: usize,
    /// Whether the seed injects faults.
    pub faults: bool,
    /// Steps at most before the run counts as stuck.
    pub steps_max: u64,
    /// Puts back the bug the simulation found (regression seed 144): a refusal decided on a
    /// process's stale cached copy of an aggregate stands. Only for the test that shows the
    /// auditor catches it.
    pub stale_refusals_stand: bool,
}

impl Config {
    /// The standard run: 12 proposals, two processes per service, faults on.
    pub fn standard(date: NaiveDate) -> Self {
        Self {
            date,
            proposals: 12,
            instances: 2,
            faults: true,
            steps_max: 200_000,
            stale_refusals_stand: false,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The SHA-256 of the trace (hex).
    pub trace_sha256: String,
    /// The faults the seed chose.
    pub faults: Faults,
    /// What happened.
    pub counts: Counts,
    /// Messages per stream at the end.
    pub messages: std::collections::BTreeMap<&'static str, u64>,
    /// The first broken rule, if any.
    pub violation: Option<Violation>,
}

impl Report {
    /// Whether every check held.
    pub fn ok(&self) -> bool {
        self.violation.is_none()
    }
}

/// Runs one seed to the end (quiet) or to its first violation.
pub fn run(seed: u64, config: &Config) -> Report {
    let mut world = World::new(seed, config.clone());
    let mut auditor = auditor::Auditor::default();
    let violation = drive(&mut world, &mut auditor).err();
    let mut messages = std::collections::BTreeMap::new();
    for (name, kind) in [
        ("intake", buendel_contract::namespace::StreamKind::Intake),
        (
            "proposals",
            buendel_contract::namespace::StreamKind::Proposals,
        ),
        ("reviews", buendel_contract::namespace::StreamKind::Reviews),
        ("ledger", buendel_contract::namespace::StreamKind::Ledger),
        (
            "deadletter",
            buendel_contract::namespace::StreamKind::Deadletter,
        ),
    ] {
        messages.insert(name, world.store.stream(kind).last_sequence());
    }
    Report {
        seed,
        trace_sha256: world.trace_sha256(),
        faults: world.faults(),
        counts: world.counts.clone(),
        messages,
        violation,
    }
}

fn drive(world: &mut World, auditor: &mut auditor::Auditor) -> Result<(), Violation> {
    loop {
        if world.quiescent() {
            return auditor.at_end(world);
        }
        if world.counts.steps >= world.config.steps_max {
            return Err(Violation {
                step: world.counts.steps,
                check: "stuck",
                detail: format!(
                    "not quiet after {} steps: clients {:?}, durables {:?}",
                    world.counts.steps,
                    world.unfinished(),
                    world::backlog(world)
                ),
            });
        }
        world.step().map_err(|detail| Violation {
            step: world.counts.steps,
            check: "simulation",
            detail,
        })?;
        auditor.after_step(world)?;
    }
}

/// Runs seeds `first..first + count`, stopping at the first that fails.
pub fn run_many(first: u64, count: u64, config: &Config) -> (Vec<Report>, Option<Report>) {
    let mut passed = Vec::new();
    for seed in first..first.saturating_add(count) {
        let report = run(seed, config);
        if !report.ok() {
            return (passed, Some(report));
        }
        passed.push(report);
    }
    (passed, None)
}
