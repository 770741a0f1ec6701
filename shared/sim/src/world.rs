//! The simulated world: the services as processes over the in-memory store, the clients, the
//! seeded scheduler and its faults.
//!
//! Every step the scheduler picks one enabled action with the seed's generator: a process fetches
//! a delivery or handles one it fetched (lanes in any order, one lane in order, as the reactor),
//! a process answers a command, a client acts or retries, a process crashes or restarts, a
//! delivery is duplicated. The services decide with their real domains and policies and the
//! runtime's one mapping from verdicts to acks ([`reactor::disposition`]); only the I/O is
//! simulated.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use buendel_approval::domain::policy::{self, ReviewIntent};
use buendel_approval::domain::{Alliance, AllianceCommand, Review, ReviewError};
use buendel_contract::envelope::derived_event_id;
use buendel_contract::ledger::{seal, GENESIS_HASH};
use buendel_contract::money::{BasisPoints, Cents, Split};
use buendel_contract::namespace::{Namespace, StreamKind};
use buendel_contract::proposal::{ProposalEvent, ReviewStage};
use buendel_contract::reference::{builtin_alliances, ProgramRules};
use buendel_contract::review::{
    Opened, QuorumRule, ReviewEvent, Verdict as StatementVerdict, VoteChoice,
};
use buendel_contract::{DomainError, Envelope, Meta};
use buendel_ledger::domain::saga::{self, Intent, ReleaseWait};
use buendel_ledger::domain::{Command as LedgerCommand, Fund};
use buendel_runtime::reactor::{self, Disposition, Limits, Refusal, Verdict};
use buendel_runtime::repository::{Chain, Outcome};
use buendel_submission::domain::intake;
use buendel_submission::domain::{Command as ProposalCommand, Proposal};

use crate::rng::Rng;
use crate::shell::{Failed, Shell};
use crate::store::{Consumer, ConsumerLimits, Delivery, Store};
use crate::Config;

/// A process died at this write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash;

/// How many more writes a process gets through before it dies (`None`: it does not die now).
#[derive(Debug, Clone, Copy)]
pub struct Writes(Option<u32>);

impl Writes {
    /// A step that does not crash.
    pub fn unlimited() -> Self {
        Writes(None)
    }

    /// Takes one write: `Err(Crash)` when the process dies before it.
    pub fn spend(&mut self) -> Result<(), Crash> {
        match &mut self.0 {
            Some(0) => Err(Crash),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// What a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Intake and the proposals.
    Submission,
    /// The reviews.
    Approval,
    /// The funds.
    Ledger,
    /// The read model of the ledger.
    Projector,
}

impl Role {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Submission => "submission",
            Role::Approval => "approval",
            Role::Ledger => "ledger",
            Role::Projector => "projector",
        }
    }
}

/// The durable consumers, each read by the processes of one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Durable {
    /// Submission reads INTAKE.
    Intake,
    /// Submission records review outcomes from REVIEWS.
    SubmissionReviews,
    /// Approval reads PROPOSALS.
    ApprovalProposals,
    /// The ledger's saga reads REVIEWS.
    LedgerReviews,
    /// The projector reads LEDGER.
    ProjectorLedger,
}

impl Durable {
    /// Every durable.
    pub const ALL: [Durable; 5] = [
        Durable::Intake,
        Durable::SubmissionReviews,
        Durable::ApprovalProposals,
        Durable::LedgerReviews,
        Durable::ProjectorLedger,
    ];

    fn role(self) -> Role {
        match self {
            Durable::Intake | Durable::SubmissionReviews => Role::Submission,
            Durable::ApprovalProposals => Role::Approval,
            Durable::LedgerReviews => Role::Ledger,
            Durable::ProjectorLedger => Role::Projector,
        }
    }

    fn kind(self) -> StreamKind {
        match self {
            Durable::Intake => StreamKind::Intake,
            Durable::SubmissionReviews | Durable::LedgerReviews => StreamKind::Reviews,
            Durable::ApprovalProposals => StreamKind::Proposals,
            Durable::ProjectorLedger => StreamKind::Ledger,
        }
    }

    fn limits(self) -> Limits {
        match self {
            Durable::Intake => buendel_submission::app::INTAKE_LIMITS,
            Durable::SubmissionReviews => buendel_submission::app::REVIEW_LIMITS,
            Durable::ApprovalProposals => buendel_approval::app::PROPOSAL_LIMITS,
            Durable::LedgerReviews | Durable::ProjectorLedger => buendel_ledger::app::SAGA_LIMITS,
        }
    }

    /// Its name, as in the dead letters.
    pub fn name(self) -> &'static str {
        match self {
            Durable::Intake => "submission-intake",
            Durable::SubmissionReviews => "submission-reviews",
            Durable::ApprovalProposals => "approval-proposals",
            Durable::LedgerReviews => "ledger-reviews",
            Durable::ProjectorLedger => "projector-ledger",
        }
    }
}

/// One simulated millisecond-free second: the tick.
const TICK_MS: u64 = 1_000;

fn ticks(ms: u64) -> u64 {
    ms.div_ceil(TICK_MS).max(1)
}

/// What one process knows; lost when it crashes.
struct Memory {
    proposals: Shell<Proposal>,
    reviews: Shell<Review>,
    alliances: Shell<Alliance>,
    funds: Shell<Fund>,
    /// Fetched, not yet handled: (durable, delivery, lane).
    buffer: Vec<(Durable, Delivery, String)>,
}

impl Memory {
    fn new(namespace: &Namespace, config: &Config) -> Self {
        let mut memory = Self::fresh(namespace);
        let checks = !config.stale_refusals_stand;
        memory.proposals.checks_refusals = checks;
        memory.reviews.checks_refusals = checks;
        memory.alliances.checks_refusals = checks;
        memory.funds.checks_refusals = checks;
        memory
    }

    fn fresh(namespace: &Namespace) -> Self {
        Self {
            proposals: Shell::new(
                namespace.clone(),
                StreamKind::Proposals,
                "/buendel/submission",
            ),
            reviews: Shell::new(namespace.clone(), StreamKind::Reviews, "/buendel/approval"),
            alliances: Shell::new(namespace.clone(), StreamKind::Reviews, "/buendel/approval"),
            funds: Shell::new(
                namespace.clone(),
                StreamKind::Ledger,
                buendel_ledger::app::SOURCE,
            )
            .hash_chained(Chain {
                genesis: GENESIS_HASH,
                seal,
            }),
            buffer: Vec::new(),
        }
    }
}

/// One process of a service.
struct Process {
    role: Role,
    alive: bool,
    memory: Memory,
}

/// What a client asks.
#[derive(Debug, Clone)]
pub enum Ask {
    /// Open a fund.
    Allocate {
        fund_id: String,
        esf: Cents,
        land: Cents,
    },
    /// A partner's vote.
    Vote {
        proposal_id: Uuid,
        partner_id: String,
        vote: VoteChoice,
    },
    /// The alliance office's statement.
    Statement {
        proposal_id: Uuid,
        verdict: StatementVerdict,
    },
    /// The bank's grant.
    Grant {
        proposal_id: Uuid,
        opened: Box<Opened>,
    },
    /// The bank's refusal.
    Refuse { proposal_id: Uuid },
    /// The applicant withdraws.
    Withdraw { proposal_id: Uuid },
    /// A tranche paid through a payment claim: submitted by the project, verified by one
    /// officer, approved by another (three decisions, each under its own cause derived from the
    /// command id, so a retry finishes what a crash left half done).
    Disburse {
        proposal_id: Uuid,
        fund_id: String,
        esf: Cents,
        land: Cents,
        reference: String,
        /// The claim's period, a slice of the grant period.
        period: (NaiveDate, NaiveDate),
        /// The eligible expenditure declared.
        declared: Cents,
    },
}

impl Ask {
    fn role(&self) -> Role {
        match self {
            Ask::Allocate { .. } | Ask::Disburse { .. } => Role::Ledger,
            Ask::Vote { .. } | Ask::Statement { .. } | Ask::Grant { .. } | Ask::Refuse { .. } => {
                Role::Approval
            }
            Ask::Withdraw { .. } => Role::Submission,
        }
    }
}

/// A service's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Booked: the events appended now or before (the same for every retry).
    Booked(Vec<Uuid>),
    /// Refused with this code.
    Refused(String),
}

/// A command on its way to a service.
#[derive(Debug, Clone)]
struct Sent {
    command_id: Uuid,
    client: usize,
    ask: Ask,
}

/// What a client does next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// The operator opens the funds (client 0 only).
    Allocate(usize),
    /// Publish the proposal to the intake.
    Publish,
    /// Wait until its review is open.
    AwaitReview,
    /// Partner `i` of the roster votes.
    Vote(usize),
    /// The statement.
    Statement,
    /// Wait until the ledger booked the statement (reservation or waitlist place).
    AwaitBooking,
    /// The bank (or the applicant) decides.
    Bank,
    /// Tranche `i` is paid.
    Disburse(u32),
    /// Nothing more to do.
    Done,
}

/// What the bank will do once the statement is booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Grant,
    Refuse,
    Withdraw,
}

/// One client: the operator (client 0) or one proposal's applicant, partners, office and bank.
struct Client {
    proposal_id: Uuid,
    alliance_id: String,
    intake_id: Uuid,
    eligible: i64,
    rate: u32,
    positive: bool,
    ending: Ending,
    tranches: u32,
    withdraw_early: bool,
    phase: Phase,
    opened: Option<Opened>,
    statement_event: Option<Uuid>,
    /// The command waiting for its answer: (command id, what, sent at tick, attempts).
    outstanding: Option<(Uuid, Ask, u64, u32)>,
    /// Commands done so far (for unique ids).
    commands: u32,
}

/// Counts of what happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Steps taken.
    pub steps: u64,
    /// Processes killed.
    pub crashes: u64,
    /// Of which in the middle of handling something (between two writes).
    pub crashes_mid_step: u64,
    /// Processes started again.
    pub restarts: u64,
    /// Acks lost on the way.
    pub lost_acks: u64,
    /// Deliveries duplicated on purpose.
    pub duplicated_deliveries: u64,
    /// Replies lost on the way (the client times out).
    pub lost_replies: u64,
    /// Commands sent again with the same id.
    pub retries: u64,
    /// Intake messages published again with the same id and body.
    pub replayed_intake: u64,
    /// Intake messages published again with the same id and another body.
    pub conflicting_intake: u64,
    /// Deliveries naked for a retry.
    pub naks: u64,
    /// Deliveries handled.
    pub deliveries: u64,
    /// Projector batches committed.
    pub projector_commits: u64,
}

/// The projection: the ledger's read model, with its checkpoint (one transaction each batch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// The last LEDGER sequence applied.
    pub checkpoint: u64,
    /// Per fund, the balance of every account.
    pub books: BTreeMap<String, buendel_contract::ledger::AccountBook>,
    /// Entries per fund.
    pub entries: BTreeMap<String, u64>,
}

impl Projection {
    /// Folds one stored LEDGER message in (the projector's fold of postings).
    pub fn apply(&mut self, sequence: u64, payload: &[u8]) -> Result<(), String> {
        let envelope: Envelope<buendel_contract::ledger::LedgerEvent> =
            serde_json::from_slice(payload).map_err(|e| format!("LEDGER {sequence}: {e}"))?;
        let fund = envelope.event.fund_id().to_owned();
        let book = self.books.entry(fund.clone()).or_default();
        for posting in envelope.event.postings() {
            book.post(posting)
                .map_err(|e| format!("LEDGER {sequence}: {e}"))?;
        }
        *self.entries.entry(fund).or_default() += 1;
        self.checkpoint = sequence;
        Ok(())
    }

    /// The projection rebuilt from the whole stream.
    pub fn rebuild(store: &Store) -> Result<Self, String> {
        let mut projection = Self::default();
        for message in store.stream(StreamKind::Ledger).messages() {
            projection.apply(message.sequence, &message.payload)?;
        }
        Ok(projection)
    }
}

/// The world.
pub struct World {
    /// The seed's generator.
    rng: Rng,
    /// The configuration.
    pub config: Config,
    /// The namespace of every subject.
    pub namespace: Namespace,
    /// The streams.
    pub store: Store,
    consumers: BTreeMap<Durable, Consumer>,
    processes: Vec<Process>,
    inbox: Vec<Sent>,
    clients: Vec<Client>,
    /// Every answer a service gave, per command id, in order.
    pub answers: BTreeMap<Uuid, Vec<Answer>>,
    /// Answers on their way to the clients.
    replies: Vec<(usize, Uuid, Answer)>,
    /// The read model.
    pub projection: Projection,
    /// What happened.
    pub counts: Counts,
    /// The tick.
    pub now: u64,
    start: DateTime<Utc>,
    rules: ProgramRules,
    /// The trace so far.
    trace: Sha256,
    /// Intake ids published with good bodies: id → proposal.
    pub published: BTreeMap<Uuid, Uuid>,
    /// Dead letters expected (conflicting replays), by intake id.
    pub expected_dead_letters: BTreeSet<Uuid>,
    /// Faults, per mille per step.
    faults: Faults,
    /// A broken rule seen while acting (a refusal that does not stand), for the auditor.
    pub found: Option<(&'static str, String)>,
}

/// How often each fault strikes, per mille of the steps where it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Faults {
    /// A process is killed.
    pub crash_per_mille: u64,
    /// A handled delivery or command dies between two of its writes.
    pub crash_mid_step_per_mille: u64,
    /// An ack is lost.
    pub lost_ack_per_mille: u64,
    /// A reply is lost.
    pub lost_reply_per_mille: u64,
    /// A pending delivery is delivered again at once.
    pub duplicate_per_mille: u64,
    /// An intake message is published again.
    pub replay_per_mille: u64,
}

impl Faults {
    /// The faults of one seed: each between none and a lot.
    fn of(rng: &mut Rng, enabled: bool) -> Self {
        if !enabled {
            return Self {
                crash_per_mille: 0,
                crash_mid_step_per_mille: 0,
                lost_ack_per_mille: 0,
                lost_reply_per_mille: 0,
                duplicate_per_mille: 0,
                replay_per_mille: 0,
            };
        }
        Self {
            crash_per_mille: rng.below(15),
            crash_mid_step_per_mille: rng.below(60),
            lost_ack_per_mille: rng.below(100),
            lost_reply_per_mille: rng.below(200),
            duplicate_per_mille: rng.below(60),
            replay_per_mille: rng.below(100),
        }
    }
}

/// How long a client waits for an answer before it sends the same command again, in ticks.
const CLIENT_TIMEOUT_TICKS: u64 = 20;

impl World {
    /// A world for one seed.
    pub fn new(seed: u64, config: Config) -> Self {
        let mut rng = Rng::new(seed);
        let namespace = Namespace::new("sim").unwrap_or_else(|_| Namespace::default());
        let faults = Faults::of(&mut rng, config.faults);
        // The run starts at a moment of the business date chosen by the seed, so some runs cross
        // midnight.
        let seconds = i64::try_from(rng.below(86_400)).unwrap_or(0);
        let start = config
            .date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default()
            + Duration::seconds(seconds);
        let mut consumers = BTreeMap::new();
        for durable in Durable::ALL {
            let limits = durable.limits();
            consumers.insert(
                durable,
                Consumer::new(
                    durable.kind(),
                    ConsumerLimits {
                        ack_wait: ticks(limits.ack_wait_ms),
                        max_deliver: u32::try_from(
                            limits.deliveries_max + reactor::SPARE_DELIVERIES,
                        )
                        .unwrap_or(1),
                        ack_pending_max: usize::try_from(limits.ack_pending_max).unwrap_or(1),
                    },
                ),
            );
        }
        let mut processes = Vec::new();
        for (role, count) in [
            (Role::Submission, config.instances),
            (Role::Approval, config.instances),
            (Role::Ledger, config.instances),
            (Role::Projector, 1),
        ] {
            for _ in 0..count.max(1) {
                processes.push(Process {
                    role,
                    alive: true,
                    memory: Memory::new(&namespace, &config),
                });
            }
        }
        let alliances: Vec<String> = builtin_alliances().into_iter().map(|a| a.id).collect();
        let mut clients = vec![Client::operator()];
        for _ in 0..config.proposals {
            let alliance_id = alliances
                .get(usize::try_from(rng.below(2)).unwrap_or(0))
                .cloned()
                .unwrap_or_default();
            clients.push(Client::applicant(&mut rng, alliance_id));
        }
        let mut world = Self {
            rng,
            config,
            namespace,
            store: Store::default(),
            consumers,
            processes,
            inbox: Vec::new(),
            clients,
            answers: BTreeMap::new(),
            replies: Vec::new(),
            projection: Projection::default(),
            counts: Counts::default(),
            now: 0,
            start,
            rules: ProgramRules::esf_plus_2021_2027(),
            trace: Sha256::new(),
            published: BTreeMap::new(),
            expected_dead_letters: BTreeSet::new(),
            faults,
            found: None,
        };
        for index in 0..world.processes.len() {
            world.start_process(index);
        }
        world
    }

    /// The faults of this seed.
    pub fn faults(&self) -> Faults {
        self.faults
    }

    fn time(&self) -> DateTime<Utc> {
        self.start + Duration::seconds(i64::try_from(self.now).unwrap_or(0))
    }

    fn today(&self) -> NaiveDate {
        self.time().date_naive()
    }

    fn note(&mut self, line: &str) {
        self.trace.update(self.now.to_be_bytes());
        self.trace.update(line.as_bytes());
        self.trace.update(b"\n");
    }

    /// The hash of the trace: every action taken and every message stored, in order.
    pub fn trace_sha256(&self) -> String {
        let mut trace = self.trace.clone();
        for kind in [
            StreamKind::Intake,
            StreamKind::Proposals,
            StreamKind::Reviews,
            StreamKind::Ledger,
            StreamKind::Deadletter,
        ] {
            for message in self.store.stream(kind).messages() {
                trace.update(message.subject.as_bytes());
                trace.update(&message.payload);
            }
        }
        let digest = trace.finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn per_mille(&mut self, rate: u64) -> bool {
        rate > 0 && self.rng.below(1_000) < rate
    }

    /// Whether nothing is left to do: every client done, every command answered, every message
    /// acknowledged, every process up.
    pub fn quiescent(&self) -> bool {
        self.clients
            .iter()
            .all(|c| c.phase == Phase::Done && c.outstanding.is_none())
            && self.inbox.is_empty()
            && self.replies.is_empty()
            && self
                .processes
                .iter()
                .all(|p| p.alive && p.memory.buffer.is_empty())
            && self
                .consumers
                .values()
                .all(|c| c.caught_up(self.store.stream(c.kind)))
    }

    /// Clients that are not done, for a report.
    pub fn unfinished(&self) -> Vec<String> {
        self.clients
            .iter()
            .filter(|c| c.phase != Phase::Done || c.outstanding.is_some())
            .map(|c| format!("{} in {:?}", c.proposal_id, c.phase))
            .collect()
    }

    /// One step: one action chosen by the seed among those that can happen now.
    pub fn step(&mut self) -> Result<(), String> {
        self.now += 1;
        self.counts.steps += 1;
        // Faults first: a kill, a restart, a duplicate delivery.
        if self.per_mille(self.faults.crash_per_mille) {
            let alive: Vec<usize> = (0..self.processes.len())
                .filter(|i| self.processes[*i].alive)
                .collect();
            if let Some(index) = self.pick(&alive) {
                self.crash(index, "killed");
            }
        }
        let dead: Vec<usize> = (0..self.processes.len())
            .filter(|i| !self.processes[*i].alive)
            .collect();
        if !dead.is_empty() && self.rng.below(4) == 0 {
            if let Some(index) = self.pick(&dead) {
                self.restart(index);
            }
        }
        if self.per_mille(self.faults.duplicate_per_mille) {
            self.duplicate_delivery();
        }
        let mut actions: Vec<u8> = Vec::new();
        for process in self.processes.iter().filter(|p| p.alive) {
            actions.push(0); // fetch
            if !process.memory.buffer.is_empty() {
                actions.extend([1, 1, 1]); // handle
            }
        }
        if !self.inbox.is_empty() {
            actions.extend([2, 2]);
        }
        if !self.replies.is_empty() {
            actions.extend([3, 3]);
        }
        actions.extend([4, 4]);
        match self.pick(&actions) {
            Some(0) => self.fetch_any(),
            Some(1) => self.handle_any()?,
            Some(2) => self.serve_command()?,
            Some(3) => self.deliver_reply(),
            _ => self.client_acts()?,
        }
        Ok(())
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        let index = usize::try_from(self.rng.below(items.len() as u64)).unwrap_or(0);
        items.get(index).copied()
    }

    fn crash(&mut self, index: usize, why: &str) {
        let namespace = self.namespace.clone();
        let Some(process) = self.processes.get_mut(index) else {
            return;
        };
        process.alive = false;
        process.memory = Memory::new(&namespace, &self.config);
        self.counts.crashes += 1;
        let role = process.role.name();
        self.note(&format!("crash {role}#{index} {why}"));
    }

    fn restart(&mut self, index: usize) {
        if let Some(process) = self.processes.get_mut(index) {
            process.alive = true;
        }
        self.counts.restarts += 1;
        self.note(&format!("restart #{index}"));
        self.start_process(index);
    }

    /// What a process does when it starts: approval registers the built-in alliances (once, by
    /// their cause).
    fn start_process(&mut self, index: usize) {
        if self.processes.get(index).map(|p| p.role) != Some(Role::Approval) {
            return;
        }
        let meta = self.meta("approval", None, "/buendel/approval");
        let rules = self.rules.clone();
        let Some(process) = self.processes.get_mut(index) else {
            return;
        };
        for alliance in builtin_alliances() {
            let cause = format!("builtin/{}/v1", alliance.id);
            let id = buendel_contract::alliance::subject_id(&alliance.id);
            let command = AllianceCommand::Register {
                alliance,
                quorum: QuorumRule::default(),
                rules: rules.clone(),
            };
            let mut writes = Writes::unlimited();
            // Registered now or before (`already_registered`); an alliance that never got
            // registered leaves its reviews unopened, which the run reports as stuck.
            let _registered = process.memory.alliances.execute(
                &mut self.store,
                &mut writes,
                &id,
                &cause,
                &meta,
                |state| buendel_contract::Aggregate::decide(state, &command),
            );
        }
    }

    fn meta(&self, actor: &str, correlation: Option<String>, source: &str) -> Meta {
        Meta {
            source: source.to_owned(),
            time: self.time(),
            correlation_id: correlation,
            causation_id: None,
            actor: actor.to_owned(),
        }
    }

    fn duplicate_delivery(&mut self) {
        let durable = self.pick(&Durable::ALL);
        if let Some(durable) = durable {
            let now = self.now;
            if let Some(consumer) = self.consumers.get_mut(&durable) {
                if consumer.redeliver_one_now(now) {
                    self.counts.duplicated_deliveries += 1;
                    self.note(&format!("duplicate {}", durable.name()));
                }
            }
        }
    }

    /// A live process fetches one delivery from one of its role's durables.
    fn fetch_any(&mut self) {
        let alive: Vec<usize> = (0..self.processes.len())
            .filter(|i| self.processes[*i].alive)
            .collect();
        let Some(index) = self.pick(&alive) else {
            return;
        };
        let role = self.processes[index].role;
        let durables: Vec<Durable> = Durable::ALL
            .into_iter()
            .filter(|d| d.role() == role)
            .collect();
        let Some(durable) = self.pick(&durables) else {
            return;
        };
        let now = self.now;
        let Some(consumer) = self.consumers.get_mut(&durable) else {
            return;
        };
        let stream = self.store.stream(durable.kind());
        let Some(delivery) = consumer.fetch(stream, now) else {
            return;
        };
        let lane = lane_of(durable, stream, delivery.sequence);
        self.note(&format!(
            "fetch {}#{index} {} {} x{}",
            role.name(),
            durable.name(),
            delivery.sequence,
            delivery.delivered
        ));
        self.processes[index]
            .memory
            .buffer
            .push((durable, delivery, lane));
    }

    /// A live process with fetched deliveries handles one: the first of a lane chosen at random
    /// (lanes in any order, one lane in order).
    fn handle_any(&mut self) -> Result<(), String> {
        let busy: Vec<usize> = (0..self.processes.len())
            .filter(|i| self.processes[*i].alive && !self.processes[*i].memory.buffer.is_empty())
            .collect();
        let Some(index) = self.pick(&busy) else {
            return Ok(());
        };
        let buffer = &self.processes[index].memory.buffer;
        let mut heads: Vec<usize> = Vec::new();
        let mut lanes = BTreeSet::new();
        for (position, (_, _, lane)) in buffer.iter().enumerate() {
            if lanes.insert(lane.clone()) {
                heads.push(position);
            }
        }
        let Some(position) = self.pick(&heads) else {
            return Ok(());
        };
        let (durable, delivery, _) = self.processes[index].memory.buffer.remove(position);
        let mut writes = if self.per_mille(self.faults.crash_mid_step_per_mille) {
            Writes(Some(u32::try_from(self.rng.below(3)).unwrap_or(0)))
        } else {
            Writes::unlimited()
        };
        self.counts.deliveries += 1;
        let outcome = if durable == Durable::ProjectorLedger {
            self.project(delivery, &mut writes)
        } else {
            self.react(index, durable, delivery, &mut writes)
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(Stop::Crashed) => {
                self.counts.crashes_mid_step += 1;
                self.crash(index, "mid-step");
                Ok(())
            }
            Err(Stop::Broken(reason)) => Err(reason),
        }
    }

    /// Handles one delivery of a reactor and settles it as the runtime's reactor does.
    fn react(
        &mut self,
        index: usize,
        durable: Durable,
        delivery: Delivery,
        writes: &mut Writes,
    ) -> Result<(), Stop> {
        let Some(message) = self
            .store
            .stream(durable.kind())
            .get(delivery.sequence)
            .cloned()
        else {
            return Err(Stop::Broken(format!(
                "{} lost {}",
                durable.name(),
                delivery.sequence
            )));
        };
        let verdict = match durable {
            Durable::Intake => self.on_intake(index, &message, writes)?,
            Durable::SubmissionReviews => self.on_review_for_proposal(index, &message, writes)?,
            Durable::ApprovalProposals => self.on_proposal(index, &message, writes)?,
            Durable::LedgerReviews => self.on_review_for_fund(index, &message, writes)?,
            Durable::ProjectorLedger => Verdict::Done,
        };
        let limits = durable.limits();
        let disposition = reactor::disposition(verdict, i64::from(delivery.delivered), &limits);
        self.note(&format!(
            "{} {} -> {}",
            durable.name(),
            delivery.sequence,
            match &disposition {
                Disposition::Ack => "ack".to_owned(),
                Disposition::Nak(_) => "nak".to_owned(),
                Disposition::DeadLetter(refusal) => format!("dead letter {}", refusal.code),
            }
        ));
        match disposition {
            Disposition::Ack => self.ack(durable, delivery.sequence, writes),
            Disposition::Nak(delay) => {
                let delay = ticks(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
                let now = self.now;
                self.counts.naks += 1;
                if let Some(consumer) = self.consumers.get_mut(&durable) {
                    consumer.nak(delivery.sequence, now, delay);
                }
                Ok(())
            }
            Disposition::DeadLetter(refusal) => {
                writes.spend()?;
                let letter = json!({
                    "source": durable.name(),
                    "stream_sequence": delivery.sequence,
                    "subject": message.subject,
                    "code": refusal.code,
                    "event_id": refusal.event_id,
                    "reasons": refusal.reasons.iter().map(|r| r.reason.clone()).collect::<Vec<_>>(),
                });
                let id = derived_event_id(
                    durable.name(),
                    "deadletter",
                    usize::try_from(delivery.sequence).unwrap_or(0),
                );
                let subject = self
                    .namespace
                    .subject(StreamKind::Deadletter, durable.name());
                self.store.publish(
                    StreamKind::Deadletter,
                    &subject,
                    id,
                    serde_json::to_vec(&letter).unwrap_or_default(),
                );
                self.ack(durable, delivery.sequence, writes)
            }
        }
    }

    fn ack(&mut self, durable: Durable, sequence: u64, writes: &mut Writes) -> Result<(), Stop> {
        writes.spend()?;
        if self.per_mille(self.faults.lost_ack_per_mille) {
            self.counts.lost_acks += 1;
            self.note(&format!("ack lost {} {sequence}", durable.name()));
            return Ok(());
        }
        if let Some(consumer) = self.consumers.get_mut(&durable) {
            consumer.ack(sequence);
        }
        Ok(())
    }

    /// Submission: validate, receipt, decide and screen.
    fn on_intake(
        &mut self,
        index: usize,
        message: &crate::store::Message,
        writes: &mut Writes,
    ) -> Result<Verdict, Stop> {
        let alliances = builtin_alliances();
        let known = |id: &str| alliances.iter().any(|a| a.id == id);
        let event = match intake::validate_event(&message.payload, &known) {
            Ok(event) => event,
            Err(rejected) => {
                return Ok(Verdict::Refuse(Refusal {
                    code: rejected.code.to_owned(),
                    reasons: rejected.reasons,
                    event_id: rejected.event_id,
                    event_type: rejected.event_type,
                }))
            }
        };
        match self.store.receipts.get(&event.id) {
            Some((sha, _)) if *sha != event.sha256 => {
                return Ok(Verdict::Refuse(
                    Refusal::new(
                        buendel_submission::app::CONFLICTING_DUPLICATE,
                        format!("event {} was accepted before with another body", event.id),
                        vec![],
                    )
                    .about(Some(event.id.to_string()), None),
                ));
            }
            Some(_) => {}
            None => {
                writes.spend()?;
                self.store
                    .receipts
                    .insert(event.id, (event.sha256.clone(), message.sequence));
            }
        }
        let meta = self.meta(
            &event.actor,
            event
                .correlation_id
                .clone()
                .or_else(|| Some(event.request.proposal_id().to_string())),
            "/buendel/submission",
        );
        let today = self.today();
        let rules = self.rules.clone();
        let id = event.request.proposal_id().to_string();
        let cause = event.id.to_string();
        let process = &mut self.processes[index];
        let result = process.memory.proposals.execute(
            &mut self.store,
            writes,
            &id,
            &cause,
            &meta,
            |state| {
                event.request.decide(
                    state,
                    |id| alliances.iter().find(|a| a.id == id),
                    &rules,
                    today,
                )
            },
        );
        verdict_of(result, Some(event.id.to_string()))
    }

    /// Submission: a statement or a grant is recorded on the proposal.
    fn on_review_for_proposal(
        &mut self,
        index: usize,
        message: &crate::store::Message,
        writes: &mut Writes,
    ) -> Result<Verdict, Stop> {
        let Ok(envelope) = serde_json::from_slice::<Envelope<ReviewEvent>>(&message.payload) else {
            return Ok(Verdict::Done); // alliance events
        };
        let stage = match &envelope.event {
            ReviewEvent::StatementIssued(_) => ReviewStage::Statement,
            ReviewEvent::GrantDecided(_) => ReviewStage::Grant,
            _ => return Ok(Verdict::Done),
        };
        let proposal_id = envelope.event.proposal_id();
        let meta = self.meta(
            "submission",
            Some(proposal_id.to_string()),
            "/buendel/submission",
        );
        let command = ProposalCommand::RecordReview {
            stage,
            review_event_id: envelope.id,
        };
        let process = &mut self.processes[index];
        let result = process.memory.proposals.execute(
            &mut self.store,
            writes,
            &proposal_id.to_string(),
            &envelope.id.to_string(),
            &meta,
            |state| buendel_contract::Aggregate::decide(state, &command),
        );
        verdict_of(result, Some(envelope.id.to_string()))
    }

    /// Approval: a screened proposal opens its review (or revises it); a withdrawal closes it.
    fn on_proposal(
        &mut self,
        index: usize,
        message: &crate::store::Message,
        writes: &mut Writes,
    ) -> Result<Verdict, Stop> {
        let envelope: Envelope<ProposalEvent> = match serde_json::from_slice(&message.payload) {
            Ok(envelope) => envelope,
            Err(e) => return Err(Stop::Broken(format!("PROPOSALS {}: {e}", message.sequence))),
        };
        let proposal_id = envelope.event.proposal_id();
        let id = proposal_id.to_string();
        let cause = envelope.id.to_string();
        let meta = self.meta("approval", Some(id.clone()), "/buendel/approval");
        let rules = self.rules.clone();
        let process = &mut self.processes[index];
        let memory = &mut process.memory;
        match policy::on_proposal_event(&envelope.event) {
            ReviewIntent::Nothing => Ok(Verdict::Done),
            ReviewIntent::OpenFromHistory => Err(Stop::Broken(
                "a v1 screening in a simulated history".to_owned(),
            )),
            ReviewIntent::Open { alliance_id, terms } => {
                let alliance_subject = buendel_contract::alliance::subject_id(&alliance_id);
                let alliance = memory
                    .alliances
                    .load(&self.store, &alliance_subject)
                    .map_err(Stop::Broken)?;
                let Some(open) = alliance.state.open_review(
                    proposal_id,
                    &rules,
                    terms.eligible_cost_cents,
                    terms.requested_rate_bp,
                ) else {
                    return Ok(Verdict::Retry("the alliance is not registered yet".into()));
                };
                match memory
                    .reviews
                    .execute(&mut self.store, writes, &id, &cause, &meta, |s| {
                        buendel_contract::Aggregate::decide(s, &open)
                    }) {
                    Err(Failed::Domain(ReviewError::AlreadyOpened)) => {
                        let revise = buendel_approval::domain::Command::ReviseTerms {
                            eligible_cost_cents: terms.eligible_cost_cents,
                            requested_rate_bp: terms.requested_rate_bp,
                        };
                        let result = memory.reviews.execute(
                            &mut self.store,
                            writes,
                            &id,
                            &cause,
                            &meta,
                            |s| buendel_contract::Aggregate::decide(s, &revise),
                        );
                        verdict_of(result, Some(cause.clone()))
                    }
                    other => verdict_of(other, Some(cause.clone())),
                }
            }
            ReviewIntent::Close { reason } => {
                let close = buendel_approval::domain::Command::Close { reason };
                match memory
                    .reviews
                    .execute(&mut self.store, writes, &id, &cause, &meta, |s| {
                        buendel_contract::Aggregate::decide(s, &close)
                    }) {
                    Err(Failed::Domain(ReviewError::ReviewNotOpen | ReviewError::ReviewClosed)) => {
                        Ok(Verdict::Done)
                    }
                    other => verdict_of(other, Some(cause.clone())),
                }
            }
        }
    }

    /// The ledger's saga: a review event books its command on the fund.
    fn on_review_for_fund(
        &mut self,
        index: usize,
        message: &crate::store::Message,
        writes: &mut Writes,
    ) -> Result<Verdict, Stop> {
        let Ok(envelope) = serde_json::from_slice::<Envelope<ReviewEvent>>(&message.payload) else {
            return Ok(Verdict::Done); // alliance events
        };
        let intent = saga::intent(&envelope.event);
        if intent == Intent::Nothing {
            return Ok(Verdict::Done);
        }
        let today = self.today();
        let Some((fund_id, command)) = saga::carried(&envelope.event, today) else {
            return Err(Stop::Broken(format!(
                "REVIEWS {}: a v2 event that carries no fund",
                message.sequence
            )));
        };
        let proposal_id = envelope.event.proposal_id();
        let cause = envelope.id.to_string();
        let mut meta = self.meta(
            "ledger",
            Some(proposal_id.to_string()),
            buendel_ledger::app::SOURCE,
        );
        meta.causation_id = Some(cause.clone());
        let book = |world: &mut Self, writes: &mut Writes| {
            world.processes[index].memory.funds.execute(
                &mut world.store,
                writes,
                &fund_id,
                &cause,
                &meta,
                |fund| saga::decide_on(fund, &command),
            )
        };
        let result = book(self, writes);
        if let Err(Failed::Domain(error)) = &result {
            let code = error.code();
            if saga::may_wait_for_statement(&intent) && saga::release_refused(code, false).is_some()
            {
                let had_positive = saga::had_positive_statement(
                    self.store
                        .stream(StreamKind::Reviews)
                        .subject(&self.namespace.subject(StreamKind::Reviews, proposal_id))
                        .filter_map(|m| {
                            serde_json::from_slice::<Envelope<ReviewEvent>>(&m.payload).ok()
                        })
                        .map(|e| e.event),
                );
                match (saga::release_refused(code, had_positive), intent) {
                    // As the ledger does: book what came before (the statement) under its own
                    // cause, then this event; wait only if that did not bring it in.
                    (Some(ReleaseWait::ForTheStatement), _) => {
                        let subject = self.namespace.subject(StreamKind::Reviews, proposal_id);
                        let earlier: Vec<crate::store::Message> = self
                            .store
                            .stream(StreamKind::Reviews)
                            .subject(&subject)
                            .filter(|m| m.sequence < message.sequence)
                            .cloned()
                            .collect();
                        for m in &earlier {
                            // Refused for good or to be retried: left to its own delivery.
                            let _ = self.on_review_for_fund(index, m, writes)?;
                        }
                        let again = book(self, writes);
                        return match &again {
                            Err(Failed::Domain(error))
                                if saga::release_refused(error.code(), true).is_some() =>
                            {
                                Ok(Verdict::Retry(format!(
                                    "the positive statement of {proposal_id} is not booked yet"
                                )))
                            }
                            _ => verdict_of(again, Some(cause)),
                        };
                    }
                    (_, Intent::Release(_)) => return Ok(Verdict::Done),
                    (_, Intent::Commit { .. }) => {
                        let result = self.processes[index].memory.funds.execute(
                            &mut self.store,
                            writes,
                            &fund_id,
                            &cause,
                            &meta,
                            |fund| buendel_contract::Aggregate::decide(fund, &command),
                        );
                        return verdict_of(result, Some(cause));
                    }
                    _ => {}
                }
            }
        }
        verdict_of(result, Some(cause))
    }

    /// The projector: the deliveries continuing its checkpoint are applied with the checkpoint in
    /// one transaction, then acknowledged; a duplicate is acknowledged, a hole naked.
    fn project(&mut self, delivery: Delivery, writes: &mut Writes) -> Result<(), Stop> {
        let Some(message) = self
            .store
            .stream(StreamKind::Ledger)
            .get(delivery.sequence)
            .cloned()
        else {
            return Err(Stop::Broken(format!("LEDGER lost {}", delivery.sequence)));
        };
        let stored = buendel_runtime::store::Stored {
            sequence: message.sequence,
            subject: message.subject.clone(),
            payload: message.payload.clone().into(),
            trace: None,
        };
        let checkpoint = self.projection.checkpoint;
        let continuing = buendel_projector::checkpoint::continuing(checkpoint, &[stored]);
        if continuing.is_empty() {
            if delivery.sequence <= checkpoint {
                // Applied before (a redelivery after a crash between commit and ack).
                return self.ack(Durable::ProjectorLedger, delivery.sequence, writes);
            }
            let now = self.now;
            self.counts.naks += 1;
            if let Some(consumer) = self.consumers.get_mut(&Durable::ProjectorLedger) {
                consumer.nak(delivery.sequence, now, 1);
            }
            return Ok(());
        }
        writes.spend()?;
        let mut next = self.projection.clone();
        for stored in &continuing {
            next.apply(stored.sequence, &stored.payload)
                .map_err(Stop::Broken)?;
        }
        self.projection = next;
        self.counts.projector_commits += 1;
        self.note(&format!("projector commit {}", delivery.sequence));
        self.ack(Durable::ProjectorLedger, delivery.sequence, writes)
    }

    /// A live process of the command's service takes one command from the inbox (in any order)
    /// and answers it.
    fn serve_command(&mut self) -> Result<(), String> {
        let Some(position) = self.pick(&(0..self.inbox.len()).collect::<Vec<_>>()) else {
            return Ok(());
        };
        let sent = self.inbox.remove(position);
        let role = sent.ask.role();
        let alive: Vec<usize> = (0..self.processes.len())
            .filter(|i| self.processes[*i].alive && self.processes[*i].role == role)
            .collect();
        let Some(index) = self.pick(&alive) else {
            // No responder: the request is lost, the client times out.
            return Ok(());
        };
        let mut writes = if self.per_mille(self.faults.crash_mid_step_per_mille) {
            Writes(Some(0))
        } else {
            Writes::unlimited()
        };
        let answered = self.answer(index, &sent, &mut writes);
        if let Ok(Some(Answer::Refused(code))) = &answered {
            self.check_refusal(index, &sent, code);
        }
        match answered {
            Ok(Some(answer)) => {
                self.note(&format!("answer {} {answer:?}", sent.command_id));
                self.answers
                    .entry(sent.command_id)
                    .or_default()
                    .push(answer.clone());
                if self.per_mille(self.faults.lost_reply_per_mille) {
                    self.counts.lost_replies += 1;
                } else {
                    self.replies.push((sent.client, sent.command_id, answer));
                }
                Ok(())
            }
            Ok(None) => Ok(()), // transient: no answer, the client retries
            Err(Stop::Crashed) => {
                self.counts.crashes_mid_step += 1;
                self.crash(index, "mid-command");
                Ok(())
            }
            Err(Stop::Broken(reason)) => Err(reason),
        }
    }

    /// A refusal must stand on the aggregate as the store holds it: the command is decided again
    /// by a process with no cache that may not write, and must be refused with the same code.
    fn check_refusal(&mut self, index: usize, sent: &Sent, code: &str) {
        let fresh = Memory::fresh(&self.namespace);
        let kept = std::mem::replace(&mut self.processes[index].memory, fresh);
        let mut no_writes = Writes(Some(0));
        let again = self.answer(index, sent, &mut no_writes);
        self.processes[index].memory = kept;
        let stands = matches!(&again, Ok(Some(Answer::Refused(c))) if c == code);
        if !stands && self.found.is_none() {
            self.found = Some((
                "stale_refusal",
                format!(
                    "command {} ({:?}) was refused {code}, but on the store's copy it is {}",
                    sent.command_id,
                    sent.ask,
                    match again {
                        Ok(Some(answer)) => format!("{answer:?}"),
                        Ok(None) => "contended".to_owned(),
                        Err(Stop::Crashed) => "accepted (it would append)".to_owned(),
                        Err(Stop::Broken(reason)) => reason,
                    }
                ),
            ));
        }
    }

    fn answer(
        &mut self,
        index: usize,
        sent: &Sent,
        writes: &mut Writes,
    ) -> Result<Option<Answer>, Stop> {
        let cause = sent.command_id.to_string();
        let today = self.today();
        match &sent.ask {
            Ask::Allocate { fund_id, esf, land } => {
                let command = LedgerCommand::AllocateBudget {
                    fund_id: fund_id.clone(),
                    esf: *esf,
                    land: *land,
                    commit_deadline: NaiveDate::from_ymd_opt(2027, 12, 31).unwrap_or(today),
                    today,
                };
                self.ledger_command(index, fund_id, &cause, &command, writes)
            }
            Ask::Disburse {
                proposal_id,
                fund_id,
                esf,
                land,
                reference,
                period,
                declared,
            } => {
                let (high, low) = sent.command_id.as_u64_pair();
                let claim_id = Uuid::from_u64_pair(high ^ 0xC1A1_4000_0000_0000, low);
                let proposal_id = *proposal_id;
                let steps = [
                    LedgerCommand::SubmitClaim {
                        proposal_id,
                        claim: buendel_ledger::domain::claims::NewClaim {
                            claim_id,
                            period_from: period.0,
                            period_to: period.1,
                            declared_eligible: *declared,
                            asked: buendel_contract::ledger::Amounts::new(esf.0, land.0),
                            receipts_reference: format!("BL-{reference}"),
                        },
                        actor: "applicant".into(),
                        today,
                    },
                    LedgerCommand::VerifyClaim {
                        proposal_id,
                        claim_id,
                        cuts: Vec::new(),
                        actor: "verifier".into(),
                        today,
                    },
                    LedgerCommand::ApproveClaim {
                        proposal_id,
                        claim_id,
                        payment_reference: reference.clone(),
                        value_date: today,
                        actor: "approver".into(),
                        today,
                    },
                ];
                let mut answer = None;
                for (step, command) in ["submit", "verify", "approve"].iter().zip(&steps) {
                    let cause = format!("{cause}/{step}");
                    answer = self.ledger_command(index, fund_id, &cause, command, writes)?;
                    if !matches!(answer, Some(Answer::Booked(_))) {
                        break;
                    }
                }
                Ok(answer)
            }
            Ask::Vote {
                proposal_id,
                partner_id,
                vote,
            } => self.review_command(
                index,
                *proposal_id,
                &cause,
                partner_id,
                buendel_approval::domain::Command::Vote {
                    partner_id: partner_id.clone(),
                    vote: *vote,
                    comment: None,
                },
                writes,
            ),
            Ask::Statement {
                proposal_id,
                verdict,
            } => self.review_command(
                index,
                *proposal_id,
                &cause,
                "office",
                buendel_approval::domain::Command::IssueStatement {
                    verdict: *verdict,
                    conditions: vec![],
                },
                writes,
            ),
            Ask::Grant {
                proposal_id,
                opened,
            } => {
                let split = Split::compute(
                    opened.eligible_cost_cents,
                    opened.requested_rate_bp,
                    BasisPoints(opened.requested_rate_bp.0.min(opened.max_esf_rate_bp.0)),
                );
                let Some(split) = split else {
                    return Ok(Some(Answer::Refused("unsplittable".into())));
                };
                self.review_command(
                    index,
                    *proposal_id,
                    &cause,
                    "bank",
                    buendel_approval::domain::Command::RecordGrant {
                        bank_reference: format!("NB-{proposal_id}"),
                        eligible_cost_cents: opened.eligible_cost_cents,
                        total_rate_bp: opened.requested_rate_bp,
                        esf_rate_bp: BasisPoints(
                            opened.requested_rate_bp.0.min(opened.max_esf_rate_bp.0),
                        ),
                        esf_cents: split.esf_cents,
                        land_cents: split.land_cents,
                        period_from: opened.eligible_from,
                        period_to: opened.eligible_until,
                        amendment_reference: None,
                    },
                    writes,
                )
            }
            Ask::Refuse { proposal_id } => self.review_command(
                index,
                *proposal_id,
                &cause,
                "bank",
                buendel_approval::domain::Command::RecordRefusal {
                    bank_reference: format!("NB-{proposal_id}"),
                    reason: "the co-financing is not secured".into(),
                },
                writes,
            ),
            Ask::Withdraw { proposal_id } => {
                let alliances = builtin_alliances();
                let known = |id: &str| alliances.iter().any(|a| a.id == id);
                let data = json!({"proposal_id": proposal_id, "reason": "the partner left"});
                let event_type = intake::event_type_of_command("withdraw").unwrap_or_default();
                let request = match intake::validate_data(event_type, &data, "data", &known) {
                    Ok(request) => request,
                    Err(_) => return Ok(Some(Answer::Refused("invalid_command".into()))),
                };
                let meta = self.meta(
                    "applicant",
                    Some(proposal_id.to_string()),
                    "/buendel/submission",
                );
                let rules = self.rules.clone();
                let process = &mut self.processes[index];
                let result = process.memory.proposals.execute(
                    &mut self.store,
                    writes,
                    &proposal_id.to_string(),
                    &cause,
                    &meta,
                    |state| {
                        request.decide(
                            state,
                            |id| alliances.iter().find(|a| a.id == id),
                            &rules,
                            today,
                        )
                    },
                );
                answer_of(result)
            }
        }
    }

    fn ledger_command(
        &mut self,
        index: usize,
        fund_id: &str,
        cause: &str,
        command: &LedgerCommand,
        writes: &mut Writes,
    ) -> Result<Option<Answer>, Stop> {
        let mut meta = self.meta(
            "operator",
            Some(fund_id.to_owned()),
            buendel_ledger::app::SOURCE,
        );
        meta.causation_id = Some(cause.to_owned());
        let process = &mut self.processes[index];
        let result =
            process
                .memory
                .funds
                .execute(&mut self.store, writes, fund_id, cause, &meta, |fund| {
                    buendel_contract::Aggregate::decide(fund, command)
                });
        answer_of(result)
    }

    #[allow(clippy::too_many_arguments)]
    fn review_command(
        &mut self,
        index: usize,
        proposal_id: Uuid,
        cause: &str,
        actor: &str,
        command: buendel_approval::domain::Command,
        writes: &mut Writes,
    ) -> Result<Option<Answer>, Stop> {
        let meta = self.meta(actor, Some(proposal_id.to_string()), "/buendel/approval");
        let process = &mut self.processes[index];
        let result = process.memory.reviews.execute(
            &mut self.store,
            writes,
            &proposal_id.to_string(),
            cause,
            &meta,
            |review| buendel_contract::Aggregate::decide(review, &command),
        );
        answer_of(result)
    }

    fn deliver_reply(&mut self) {
        let Some(position) = self.pick(&(0..self.replies.len()).collect::<Vec<_>>()) else {
            return;
        };
        let (client, command_id, answer) = self.replies.remove(position);
        let Some(client) = self.clients.get_mut(client) else {
            return;
        };
        // A late reply to a command answered before, or to an older command, is dropped.
        let Some((_, ask, _, _)) = client
            .outstanding
            .take_if(|outstanding| outstanding.0 == command_id)
        else {
            return;
        };
        client.on_answer(&ask, &answer);
    }

    /// A client acts: sends its next command, retries one that timed out, or publishes.
    fn client_acts(&mut self) -> Result<(), String> {
        let busy: Vec<usize> = (0..self.clients.len())
            .filter(|i| {
                self.clients[*i].phase != Phase::Done || self.clients[*i].outstanding.is_some()
            })
            .collect();
        let Some(index) = self.pick(&busy) else {
            return Ok(());
        };
        // The operator opens the funds before anyone applies.
        if index > 0 && self.clients[0].phase != Phase::Done {
            return Ok(());
        }
        let now = self.now;
        if let Some((command_id, ask, sent_at, attempts)) = self.clients[index].outstanding.clone()
        {
            if now.saturating_sub(sent_at) >= CLIENT_TIMEOUT_TICKS {
                self.counts.retries += 1;
                self.note(&format!("retry {command_id} #{attempts}"));
                self.clients[index].outstanding =
                    Some((command_id, ask.clone(), now, attempts + 1));
                self.inbox.push(Sent {
                    command_id,
                    client: index,
                    ask,
                });
            }
            return Ok(());
        }
        let next = self.next_ask(index)?;
        if let Some(ask) = next {
            let client = &mut self.clients[index];
            client.commands += 1;
            let command_id = derived_event_id(
                &client.proposal_id.to_string(),
                "command",
                client.commands as usize,
            );
            client.outstanding = Some((command_id, ask.clone(), now, 1));
            self.note(&format!("send {command_id} {ask:?}"));
            self.inbox.push(Sent {
                command_id,
                client: index,
                ask,
            });
        }
        Ok(())
    }

    /// What the client asks next, or `None` when it waits or published instead.
    fn next_ask(&mut self, index: usize) -> Result<Option<Ask>, String> {
        let phase = self.clients[index].phase.clone();
        let client = &self.clients[index];
        let fund_id = buendel_contract::review::FundFacts::of(&client.alliance_id).fund_id;
        let proposal_id = client.proposal_id;
        let review_subject = self.namespace.subject(StreamKind::Reviews, proposal_id);
        Ok(match phase {
            Phase::Allocate(i) => {
                let alliances = builtin_alliances();
                let Some(alliance) = alliances.get(i) else {
                    self.clients[index].phase = Phase::Done;
                    return Ok(None);
                };
                let fund_id = buendel_contract::review::FundFacts::of(&alliance.id).fund_id;
                // Small budgets, so the waitlist is used.
                let esf =
                    Cents(i64::try_from(20_000_000 + self.rng.below(40_000_000)).unwrap_or(0));
                let land =
                    Cents(i64::try_from(5_000_000 + self.rng.below(10_000_000)).unwrap_or(0));
                Some(Ask::Allocate { fund_id, esf, land })
            }
            Phase::Publish => {
                self.publish(index);
                self.clients[index].phase = Phase::AwaitReview;
                None
            }
            Phase::AwaitReview => {
                let opened = self
                    .store
                    .stream(StreamKind::Reviews)
                    .subject(&review_subject)
                    .filter_map(|m| {
                        serde_json::from_slice::<Envelope<ReviewEvent>>(&m.payload).ok()
                    })
                    .find_map(|e| match e.event {
                        ReviewEvent::Opened(opened) => Some(opened),
                        _ => None,
                    });
                let screened_out = self.proposal_screened_out(proposal_id);
                let client = &mut self.clients[index];
                if let Some(opened) = opened {
                    client.opened = Some(opened);
                    client.phase = if client.withdraw_early {
                        Phase::Bank
                    } else {
                        Phase::Vote(0)
                    };
                } else if screened_out {
                    client.phase = Phase::Done;
                }
                None
            }
            Phase::Vote(i) => {
                let client = &mut self.clients[index];
                let partners = client
                    .opened
                    .as_ref()
                    .map(|o| o.partners.clone())
                    .unwrap_or_default();
                let Some(partner) = partners.get(i) else {
                    client.phase = Phase::Statement;
                    return Ok(None);
                };
                let vote = if client.positive {
                    VoteChoice::Yes
                } else {
                    VoteChoice::No
                };
                Some(Ask::Vote {
                    proposal_id,
                    partner_id: partner.id.clone(),
                    vote,
                })
            }
            Phase::Statement => {
                let client = &self.clients[index];
                let verdict = if client.positive {
                    StatementVerdict::Positive
                } else {
                    StatementVerdict::Negative
                };
                Some(Ask::Statement {
                    proposal_id,
                    verdict,
                })
            }
            Phase::AwaitBooking => {
                let statement = self.clients[index].statement_event;
                let booked = statement.is_some_and(|id| {
                    let cause = format!("\"causationid\":\"{id}\"");
                    self.store
                        .stream(StreamKind::Ledger)
                        .messages()
                        .iter()
                        .any(|m| contains(&m.payload, cause.as_bytes()))
                });
                if booked {
                    self.clients[index].phase = Phase::Bank;
                }
                None
            }
            Phase::Bank => {
                let client = &self.clients[index];
                match (client.ending, client.withdraw_early) {
                    (_, true) | (Ending::Withdraw, _) => Some(Ask::Withdraw { proposal_id }),
                    (Ending::Refuse, _) => Some(Ask::Refuse { proposal_id }),
                    // The bank grants a project that holds its reservation; one still on the
                    // waitlist is refused (a grant would have to top the reservation up from
                    // money the fund does not have: `commitment_shortfall`).
                    (Ending::Grant, _) if !self.holds_reservation(proposal_id) => {
                        Some(Ask::Refuse { proposal_id })
                    }
                    (Ending::Grant, _) => client.opened.clone().map(|opened| Ask::Grant {
                        proposal_id,
                        opened: Box::new(opened),
                    }),
                }
            }
            Phase::Disburse(n) => {
                let client = &mut self.clients[index];
                if n >= client.tranches {
                    client.phase = Phase::Done;
                    return Ok(None);
                }
                let opened = client.opened.clone();
                let Some(opened) = opened else {
                    client.phase = Phase::Done;
                    return Ok(None);
                };
                let cap = BasisPoints(opened.requested_rate_bp.0.min(opened.max_esf_rate_bp.0));
                let split =
                    Split::compute(opened.eligible_cost_cents, opened.requested_rate_bp, cap);
                let (esf, land) =
                    split.map_or((Cents(0), Cents(0)), |s| (s.esf_cents, s.land_cents));
                let tranches = i64::from(client.tranches.max(1));
                let share = |c: Cents| Cents(c.0 / tranches);
                // The n-th of equal slices of the grant period (the last takes the rest).
                let days = (opened.eligible_until - opened.eligible_from).num_days() + 1;
                let slice = days / tranches;
                let n_days = i64::from(n);
                let from = opened.eligible_from + Duration::days(n_days * slice);
                let to = if n_days + 1 >= tranches {
                    opened.eligible_until
                } else {
                    opened.eligible_from + Duration::days((n_days + 1) * slice - 1)
                };
                if slice == 0 {
                    client.phase = Phase::Done;
                    return Ok(None);
                }
                Some(Ask::Disburse {
                    proposal_id,
                    fund_id,
                    esf: share(esf),
                    land: share(land),
                    reference: format!("PAY-{proposal_id}-{n}"),
                    period: (from, to),
                    // A share of the eligible costs (and a euro more) covers a share of the grant.
                    declared: Cents(share(opened.eligible_cost_cents).0 + 100),
                })
            }
            Phase::Done => None,
        })
    }

    /// Whether the ledger reserved the proposal's money (from its statement or the waitlist).
    fn holds_reservation(&self, proposal_id: Uuid) -> bool {
        let id = proposal_id.to_string();
        let kind = format!("\"{}\"", buendel_contract::ledger::FUNDS_RESERVED_V1);
        self.store
            .stream(StreamKind::Ledger)
            .messages()
            .iter()
            .filter(|m| {
                contains(&m.payload, kind.as_bytes()) && contains(&m.payload, id.as_bytes())
            })
            .filter_map(|m| serde_json::from_slice::<Value>(&m.payload).ok())
            .any(|v| v["data"]["proposal_id"].as_str() == Some(id.as_str()))
    }

    fn proposal_screened_out(&self, proposal_id: Uuid) -> bool {
        let subject = self.namespace.subject(StreamKind::Proposals, proposal_id);
        self.store
            .stream(StreamKind::Proposals)
            .subject(&subject)
            .filter_map(|m| serde_json::from_slice::<Envelope<ProposalEvent>>(&m.payload).ok())
            .any(|e| matches!(e.event, ProposalEvent::Screened(s) if !s.passed))
    }

    /// Publishes the client's proposal to the intake, sometimes twice, sometimes again under its
    /// id with another body.
    fn publish(&mut self, index: usize) {
        let today = self.today();
        let client = &self.clients[index];
        let body = client.intake_body(today, "Projekt");
        let intake_id = client.intake_id;
        let proposal_id = client.proposal_id;
        let subject = self.namespace.subject(StreamKind::Intake, proposal_id);
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        self.store
            .publish(StreamKind::Intake, &subject, intake_id, bytes.clone());
        self.published.insert(intake_id, proposal_id);
        self.note(&format!("publish {intake_id}"));
        if self.per_mille(self.faults.replay_per_mille) {
            // The same id and body again (a publisher's retry): deduplicated by the server...
            self.store
                .publish(StreamKind::Intake, &subject, intake_id, bytes.clone());
            self.counts.replayed_intake += 1;
            // ...or past the dedupe window (another msg id, same event): the receipt catches it.
            let late = derived_event_id(&intake_id.to_string(), "late", 0);
            self.store
                .publish(StreamKind::Intake, &subject, late, bytes);
        }
        if self.per_mille(self.faults.replay_per_mille) {
            let other = serde_json::to_vec(&client_body_changed(&body)).unwrap_or_default();
            let msg_id = derived_event_id(&intake_id.to_string(), "other", 0);
            self.store
                .publish(StreamKind::Intake, &subject, msg_id, other);
            self.counts.conflicting_intake += 1;
            self.expected_dead_letters.insert(intake_id);
        }
    }
}

/// Whether `needle` occurs in `haystack` (a cheap look at stored bytes before any parsing).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn client_body_changed(body: &Value) -> Value {
    let mut other = body.clone();
    other["data"]["title"] = json!("Ein anderes Projekt unter derselben Id");
    other
}

/// Why a step stopped early.
#[derive(Debug)]
enum Stop {
    /// The process died.
    Crashed,
    /// The simulation itself is broken (a bug the run reports).
    Broken(String),
}

impl From<Crash> for Stop {
    fn from(_: Crash) -> Self {
        Stop::Crashed
    }
}

fn verdict_of<E: DomainError>(
    result: Result<Outcome, Failed<E>>,
    event_id: Option<String>,
) -> Result<Verdict, Stop> {
    match result {
        Ok(_) => Ok(Verdict::Done),
        Err(Failed::Domain(error)) => Ok(Verdict::Refuse(
            Refusal::new(error.code(), error.to_string(), error.details()).about(event_id, None),
        )),
        Err(Failed::Contended) => Ok(Verdict::Retry("contended".into())),
        Err(Failed::Corrupt(reason)) => Err(Stop::Broken(reason)),
        Err(Failed::Crashed) => Err(Stop::Crashed),
    }
}

fn answer_of<E: DomainError>(result: Result<Outcome, Failed<E>>) -> Result<Option<Answer>, Stop> {
    match result {
        Ok(outcome) => Ok(Some(Answer::Booked(
            outcome.events().iter().map(|e| e.event_id).collect(),
        ))),
        Err(Failed::Domain(error)) => Ok(Some(Answer::Refused(error.code().to_owned()))),
        Err(Failed::Contended) => Ok(None),
        Err(Failed::Corrupt(reason)) => Err(Stop::Broken(reason)),
        Err(Failed::Crashed) => Err(Stop::Crashed),
    }
}

/// The lane of a delivery, as the services key them: the ledger's saga by fund for an event that
/// books, everything else by its subject.
fn lane_of(durable: Durable, stream: &crate::store::Stream, sequence: u64) -> String {
    let Some(message) = stream.get(sequence) else {
        return String::new();
    };
    if durable == Durable::LedgerReviews {
        if let Ok(envelope) = serde_json::from_slice::<Envelope<ReviewEvent>>(&message.payload) {
            if let Some(fund) = envelope.event.fund() {
                return fund.fund_id.clone();
            }
        }
    }
    message.subject.clone()
}

impl Client {
    fn operator() -> Self {
        Self {
            proposal_id: Uuid::nil(),
            alliance_id: String::new(),
            intake_id: Uuid::nil(),
            eligible: 0,
            rate: 0,
            positive: false,
            ending: Ending::Grant,
            tranches: 0,
            withdraw_early: false,
            phase: Phase::Allocate(0),
            opened: None,
            statement_event: None,
            outstanding: None,
            commands: 0,
        }
    }

    fn applicant(rng: &mut Rng, alliance_id: String) -> Self {
        let proposal_id = Uuid::from_u64_pair(rng.next_u64(), rng.next_u64());
        let intake_id = Uuid::from_u64_pair(rng.next_u64(), rng.next_u64());
        // About one in ten is above the cost cap and screened out.
        let eligible = if rng.below(10) == 0 {
            60_000_000
        } else {
            5_000_000 + i64::try_from(rng.below(30_000_000)).unwrap_or(0)
        };
        let ending = match rng.below(10) {
            0..=5 => Ending::Grant,
            6 | 7 => Ending::Refuse,
            _ => Ending::Withdraw,
        };
        Self {
            proposal_id,
            alliance_id,
            intake_id,
            eligible,
            rate: 7_000,
            positive: rng.below(5) != 0,
            ending,
            tranches: u32::try_from(rng.below(3)).unwrap_or(0),
            withdraw_early: rng.below(12) == 0,
            phase: Phase::Publish,
            opened: None,
            statement_event: None,
            outstanding: None,
            commands: 0,
        }
    }

    fn intake_body(&self, today: NaiveDate, title: &str) -> Value {
        let start = today + chrono::Days::new(30);
        json!({
            "specversion": "1.0",
            "id": self.intake_id,
            "source": "/sim/portal",
            "type": "buendel.proposal.submitted.v1",
            "subject": self.proposal_id,
            "datacontenttype": "application/json",
            "data": {
                "proposal_id": self.proposal_id,
                "alliance_id": self.alliance_id,
                "applicant": {"name": "Bildungsträger Lüneburg e. V.", "kind": "verein", "district": "lueneburg"},
                "title": title,
                "summary": "Fachkräfte für die Pflege in der Region gewinnen und halten.",
                "project_type": "structure",
                "focus_areas": ["dual_training"],
                "districts": ["lueneburg"],
                "planned_start": start,
                "duration_months": 12,
                "eligible_cost_cents": self.eligible,
                "requested_rate_bp": self.rate,
            }
        })
    }

    /// The answer to the outstanding command moves the client on.
    fn on_answer(&mut self, ask: &Ask, answer: &Answer) {
        let refused = matches!(answer, Answer::Refused(_));
        self.phase = match (&self.phase, answer) {
            (Phase::Allocate(i), _) => Phase::Allocate(i + 1),
            (Phase::Vote(i), _) => Phase::Vote(i + 1),
            (Phase::Statement, Answer::Booked(ids)) => {
                self.statement_event = ids.first().copied();
                if self.positive {
                    Phase::AwaitBooking
                } else {
                    Phase::Done
                }
            }
            (Phase::Statement, Answer::Refused(_)) => Phase::Done,
            (Phase::Bank, Answer::Booked(_)) if matches!(ask, Ask::Grant { .. }) => {
                Phase::Disburse(0)
            }
            (Phase::Bank, _) => Phase::Done,
            (Phase::Disburse(n), _) if !refused => Phase::Disburse(n + 1),
            (Phase::Disburse(_), _) => Phase::Done,
            (other, _) => other.clone(),
        };
    }
}

/// The proposal ids of the clients, with what each ended as (for the auditor's end checks).
pub fn proposal_ids(world: &World) -> Vec<Uuid> {
    world
        .clients
        .iter()
        .skip(1)
        .map(|c| c.proposal_id)
        .collect()
}

/// Durables still holding messages, for a report.
pub fn backlog(world: &World) -> Vec<String> {
    world
        .consumers
        .iter()
        .filter(|(_, c)| !c.caught_up(world.store.stream(c.kind)))
        .map(|(d, c)| format!("{} pending {}", d.name(), c.pending()))
        .collect()
}

/// Messages a durable gave up on.
pub fn exhausted(world: &World) -> u64 {
    world.consumers.values().map(|c| c.exhausted).sum()
}
