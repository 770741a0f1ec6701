//! The shell of the submission service: wiring of the runtime's reactor and command endpoint.
//!
//! Intake: the [`Reactor`] consumes INTAKE in lanes keyed by proposal id ([`INTAKE_LIMITS`]), so the
//! requests of one proposal are handled in order while different proposals proceed in parallel. A
//! valid request gets its receipt, then is decided and screened in one decision; an invalid one,
//! one whose id came before with another body, or one the domain refuses is dead-lettered with
//! every reason (source `intake`) and acked, so it never blocks the messages behind it. A transient
//! failure naks with a delay; on the last allowed delivery the message is dead-lettered.
//!
//! Commands: `<ns>.cmd.submission.{submit,revise,withdraw}` through the runtime's one command
//! endpoint ([`micro::serve_commands`]).
//!
//! Alliances: the built-in ones, and every alliance registered by command (`register_alliance`,
//! an Alliance aggregate in REVIEWS). A request naming an alliance this instance has not seen is
//! looked up in REVIEWS before it is refused, so a proposal for a newly registered alliance is
//! received like one for a built-in alliance.

use std::sync::Arc;

use anyhow::Context as _;
use serde::Deserialize;
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::ReviewStage;
use buendel_contract::reference::{builtin_alliances, Alliance, ProgramRules};
use buendel_contract::reply::FieldError;
use buendel_contract::Meta;
use buendel_runtime::micro::{self, CommandEnvelope, CommandError};
use buendel_runtime::reactor::{self, Delivery, Limits, Reaction, Reactor, Refusal, Spec, Verdict};
use buendel_runtime::repository::Outcome;
use buendel_runtime::store::Receipt;
use buendel_runtime::{CancellationToken, Clock, EventStore, Repository, StoreError};

use crate::domain::intake::{self, IntakeEvent, Rejected, Request};
use crate::domain::{Command, Proposal};

/// The service name: micro service, durable consumers, event `source`.
pub const SERVICE: &str = "submission";
/// The limits of the intake reactor: 256 lanes keyed by proposal, 16 queued per lane, 4,096
/// unacknowledged messages, 30 s ack wait, 5 deliveries of a failing message, naks from 500 ms.
pub const INTAKE_LIMITS: Limits = Limits {
    deliveries_max: 5,
    ack_wait_ms: 30_000,
    ack_pending_max: 4_096,
    lanes: 256,
    lane_queue_max: 16,
    nak_delay_ms: 500,
};

/// The dead-letter code of an intake event whose id was accepted before with another body.
pub const CONFLICTING_DUPLICATE: &str = "conflicting_duplicate";

/// The commands served over request/reply.
pub const COMMANDS: [&str; 3] = ["submit", "revise", "withdraw"];

/// The dead-letter code of an intake message over its publisher's rate.
pub const RATE_LIMITED: &str = "rate_limited";

/// How many intake messages one publisher (the last token of `<ns>.intake.<publisher>`, which the
/// server's permissions bind to its credential) may send: `per_s` a second on average, `burst` at
/// once, measured on the times the stream stored them (so a backlog read late is not limited).
/// `per_s` 0 is no limit. Each submission instance counts what it handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublisherRate {
    /// Messages per second on average.
    pub per_s: u32,
    /// Messages at once.
    pub burst: u32,
}

impl PublisherRate {
    /// 1,000 a second, 10,000 at once.
    pub const DEFAULT: Self = Self {
        per_s: 1_000,
        burst: 10_000,
    };
}

/// Publishers whose buckets are kept at once; a new one beyond it replaces the one heard from
/// longest ago (whose bucket would be nearly full again by then).
pub const PUBLISHERS_TRACKED_MAX: usize = 10_000;

/// One token bucket per publisher, in thousandths of a message.
#[derive(Debug)]
pub struct Buckets {
    rate: PublisherRate,
    buckets: std::sync::Mutex<std::collections::HashMap<String, (i64, i64)>>,
}

impl Buckets {
    /// Empty buckets (every publisher starts with a full one).
    pub fn new(rate: PublisherRate) -> Self {
        Self {
            rate,
            buckets: std::sync::Mutex::default(),
        }
    }

    /// Whether a message of `publisher` stored at `at_ms` is within its rate (and takes its token).
    pub fn admit(&self, publisher: &str, at_ms: i64) -> bool {
        if self.rate.per_s == 0 {
            return true;
        }
        let full = i64::from(self.rate.burst) * 1_000;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !buckets.contains_key(publisher) && buckets.len() >= PUBLISHERS_TRACKED_MAX {
            let oldest = buckets
                .iter()
                .min_by_key(|(_, (_, last))| *last)
                .map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                buckets.remove(&oldest);
            }
        }
        let (tokens, last) = buckets.entry(publisher.to_owned()).or_insert((full, at_ms));
        // Messages of one publisher may be handled slightly out of order: an earlier time refills
        // nothing.
        let elapsed = at_ms.saturating_sub(*last).max(0);
        *tokens = tokens
            .saturating_add(elapsed.saturating_mul(i64::from(self.rate.per_s)))
            .min(full);
        *last = (*last).max(at_ms);
        if *tokens >= 1_000 {
            *tokens -= 1_000;
            true
        } else {
            false
        }
    }
}

/// The submission service's shell.
pub struct Submission {
    /// The time, as an input.
    clock: Clock,
    /// Proposal aggregates.
    repo: Repository<Proposal>,
    /// Known alliances: the built-in ones, then those registered by command, as seen.
    alliances: std::sync::RwLock<Vec<Alliance>>,
    /// Alliance aggregates (REVIEWS), to look up an alliance registered by command.
    registered: Repository<buendel_approval_domain::alliance::Alliance>,
    /// Every version of the program rules, oldest first.
    rules: Vec<ProgramRules>,
}

impl Submission {
    /// A submission service over an event store, with the built-in alliances and current rules.
    pub fn new(store: EventStore, clock: Clock) -> Self {
        Self {
            clock,
            repo: Repository::new(
                store.clone(),
                StreamKind::Proposals,
                format!("/buendel/{SERVICE}"),
            ),
            registered: Repository::new(store, StreamKind::Reviews, format!("/buendel/{SERVICE}")),
            alliances: std::sync::RwLock::new(builtin_alliances()),
            rules: ProgramRules::versions(),
        }
    }

    fn store(&self) -> &EventStore {
        self.repo.store()
    }

    /// The alliances known now (a handful).
    fn alliances(&self) -> Vec<Alliance> {
        self.alliances
            .read()
            .map(|known| known.clone())
            .unwrap_or_default()
    }

    fn is_known(&self, id: &str) -> bool {
        self.alliances
            .read()
            .is_ok_and(|known| known.iter().any(|a| a.id == id))
    }

    /// Looks `id` up among the alliances registered by command (REVIEWS) when it is not known
    /// yet; true when it is known afterwards.
    async fn learn_alliance(&self, id: &str) -> Result<bool, StoreError> {
        if self.is_known(id) {
            return Ok(true);
        }
        if !buendel_contract::alliance::is_valid_alliance_id(id) {
            return Ok(false);
        }
        let loaded = self
            .registered
            .load_fresh(&buendel_contract::alliance::subject_id(id))
            .await?;
        let Some(registered) = loaded.state.registered() else {
            return Ok(false);
        };
        let alliance = Alliance {
            id: registered.alliance_id.clone(),
            name: registered.name.clone(),
            region: registered.region,
            districts: registered.districts.clone(),
            focus_areas: registered.focus_areas.clone(),
            application_deadline: registered.application_deadline,
            partners: loaded.state.partners().to_vec(),
        };
        if let Ok(mut known) = self.alliances.write() {
            if !known.iter().any(|a| a.id == alliance.id) {
                known.push(alliance);
            }
        }
        Ok(true)
    }

    fn meta(&self, actor: &str, correlation: Option<String>, proposal_id: Uuid) -> Meta {
        Meta {
            source: self.repo.source().to_owned(),
            time: self.clock.now(),
            correlation_id: correlation.or_else(|| Some(proposal_id.to_string())),
            causation_id: None,
            actor: actor.to_owned(),
        }
    }

    /// Decides one request under `cause`, with its screening where it needs one (in the same
    /// decision: one atomic append).
    pub async fn handle(
        &self,
        cause: &str,
        meta: &Meta,
        request: &Request,
    ) -> Result<Outcome, CommandError> {
        let id = request.proposal_id().to_string();
        let today = meta.time.date_naive();
        let alliances = self.alliances();
        let decide = |state: &_| {
            request.decide_versioned(
                state,
                |id| alliances.iter().find(|a| a.id == id),
                &self.rules,
                today,
            )
        };
        // A submission is normally of a new proposal: decided on none without asking the server
        // first (one round trip fewer); an existing one makes the append conflict, and the
        // proposal is then loaded and the request decided again.
        let outcome = match request {
            Request::Submit(_) => {
                self.repo
                    .execute_assuming_new(&id, cause, meta, decide)
                    .await?
            }
            _ => self.repo.execute(&id, cause, meta, decide).await?,
        };
        Ok(outcome)
    }

    /// Records on the proposal what its review decided (from REVIEWS), under the review event's
    /// id, so a redelivery records it once.
    async fn record_review(
        &self,
        proposal_id: Uuid,
        stage: ReviewStage,
        review_event_id: Uuid,
    ) -> Result<Outcome, CommandError> {
        let meta = self.meta(SERVICE, Some(proposal_id.to_string()), proposal_id);
        let command = Command::RecordReview {
            stage,
            review_event_id,
        };
        Ok(self
            .repo
            .execute(
                &proposal_id.to_string(),
                &review_event_id.to_string(),
                &meta,
                |state| buendel_contract::Aggregate::decide(state, &command),
            )
            .await?)
    }

    /// Handles one command.
    pub async fn command(
        &self,
        name: &str,
        envelope: CommandEnvelope,
    ) -> Result<Outcome, CommandError> {
        let event_type =
            intake::event_type_of_command(name).ok_or_else(|| CommandError::unknown(name))?;
        if let Some(alliance) = envelope.data.get("alliance_id").and_then(|a| a.as_str()) {
            self.learn_alliance(alliance)
                .await
                .map_err(|error| CommandError::Transient(error.to_string()))?;
        }
        let known = |id: &str| self.is_known(id);
        let request = intake::validate_data(event_type, &envelope.data, "data", &known)
            .map_err(CommandError::invalid)?;
        let meta = self.meta(
            envelope.actor(),
            envelope.correlation_id.clone(),
            request.proposal_id(),
        );
        self.handle(&envelope.cause(), &meta, &request).await
    }

    /// The receipt of a valid intake event: `None` when this body is the one in force under its id
    /// (the first, or an exact copy of it), the refusal when another body came first.
    ///
    /// The receipt is written before the decision: a crash in between leaves a receipt whose body
    /// is this one, so the redelivery goes on to decide (once, through the cause index).
    async fn receipt(
        &self,
        event: &IntakeEvent,
        sequence: u64,
    ) -> Result<Option<Refusal>, StoreError> {
        let ours = Receipt {
            event_id: event.id,
            sha256: event.sha256.clone(),
            intake_sequence: sequence,
        };
        let in_force = self.store().receipt(&ours).await?;
        if in_force.sha256 == ours.sha256 {
            return Ok(None);
        }
        Ok(Some(Refusal {
            code: CONFLICTING_DUPLICATE.to_owned(),
            event_id: Some(event.id.to_string()),
            event_type: None,
            reasons: vec![
                FieldError::new(
                    "id",
                    format!(
                        "event {} was accepted before with another body (INTAKE sequence {}); the first stays in force",
                        event.id, in_force.intake_sequence
                    ),
                ),
                FieldError::new("", format!("sha256 of the body in force: {}", in_force.sha256)),
                FieldError::new("", format!("sha256 of this body: {}", ours.sha256)),
            ],
        }))
    }

    /// Decides a valid intake event whose body is the one in force under its id.
    async fn decide_intake(&self, event: &IntakeEvent) -> Verdict {
        let meta = self.meta(
            &event.actor,
            event.correlation_id.clone(),
            event.request.proposal_id(),
        );
        match self
            .handle(&event.id.to_string(), &meta, &event.request)
            .await
        {
            Ok(_) => Verdict::Done,
            Err(CommandError::Refused { code, message, .. }) => Verdict::Refuse(Refusal {
                code,
                event_id: Some(event.id.to_string()),
                reasons: vec![FieldError::new("", message)],
                event_type: None,
            }),
            Err(CommandError::Transient(error)) => Verdict::Retry(error),
        }
    }
}

/// True when a refusal names an unknown alliance among its reasons.
fn names_unknown_alliance(rejected: &Rejected) -> bool {
    rejected
        .reasons
        .iter()
        .any(|r| r.field == "data.alliance_id" && r.reason.starts_with("unknown alliance"))
}

impl Submission {
    /// Looks up the alliance an intake message names; true when it is known now.
    async fn relearn(&self, payload: &[u8]) -> Result<bool, StoreError> {
        let alliance = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| v["data"]["alliance_id"].as_str().map(str::to_owned));
        match alliance {
            Some(id) => self.learn_alliance(&id).await,
            None => Ok(false),
        }
    }
}

/// The submission's reaction to INTAKE: limit each publisher's rate, validate, record the
/// receipt, decide and screen.
struct Intake(Arc<Submission>, Buckets);

impl Reaction for Intake {
    type Read = Result<IntakeEvent, Rejected>;

    fn read(&self, delivery: &Delivery) -> Self::Read {
        let known = |id: &str| self.0.is_known(id);
        intake::validate_event(&delivery.payload, &known)
    }

    /// By proposal, so the requests of one proposal are handled in order; an unreadable message
    /// by its bytes.
    async fn lane(&self, delivery: &Delivery, read: &Self::Read) -> u64 {
        match read {
            Ok(event) => event.request.proposal_id().as_u128() as u64,
            Err(_) => reactor::hash_key(&delivery.payload),
        }
    }

    async fn handle(&self, delivery: &Delivery, read: Self::Read) -> Verdict {
        let publisher = delivery.subject.rsplit('.').next().unwrap_or_default();
        if !self.1.admit(publisher, delivery.published_ms) {
            let (event_id, event_type) = match &read {
                Ok(event) => (Some(event.id.to_string()), None),
                Err(rejected) => (rejected.event_id.clone(), rejected.event_type.clone()),
            };
            return Verdict::Refuse(Refusal {
                code: RATE_LIMITED.to_owned(),
                reasons: vec![FieldError::new(
                    "",
                    format!(
                        "publisher {publisher:?} sent more than {} messages a second ({} at \
                         once); the message is kept here, publish it again later",
                        self.1.rate.per_s, self.1.rate.burst
                    ),
                )],
                event_id,
                event_type,
            });
        }
        let read = match read {
            // An alliance this instance has not seen may have been registered by command since.
            Err(rejected) if names_unknown_alliance(&rejected) => {
                match self.0.relearn(&delivery.payload).await {
                    Ok(true) => {
                        let known = |id: &str| self.0.is_known(id);
                        intake::validate_event(&delivery.payload, &known)
                    }
                    Ok(false) => Err(rejected),
                    Err(error) => {
                        return Verdict::Retry(format!("alliance not looked up: {error}"))
                    }
                }
            }
            other => other,
        };
        let event = match read {
            Ok(event) => event,
            Err(rejected) => {
                return Verdict::Refuse(Refusal {
                    code: rejected.code.to_owned(),
                    reasons: rejected.reasons,
                    event_id: rejected.event_id,
                    event_type: rejected.event_type,
                })
            }
        };
        match self.0.receipt(&event, delivery.sequence).await {
            Err(error) => Verdict::Retry(format!("intake receipt not stored: {error}")),
            Ok(Some(conflict)) => Verdict::Refuse(conflict),
            Ok(None) => self.0.decide_intake(&event).await,
        }
    }
}

/// What the submission reads of a REVIEWS message: by type and subject only, so it depends on no
/// review event's shape.
#[derive(Debug)]
enum ReviewFact {
    /// A statement or a grant about a proposal.
    Reached {
        /// The proposal (the subject's last token).
        proposal_id: Uuid,
        /// How far the review came.
        stage: ReviewStage,
        /// The review event's id.
        event_id: Uuid,
    },
    /// Anything else (votes, alliance events, what cannot be read: the ledger letters that).
    Other,
}

/// The submission's reaction to REVIEWS: the statement and the grant are recorded on the proposal.
struct Reviews(Arc<Submission>);

impl Reaction for Reviews {
    type Read = ReviewFact;

    fn read(&self, delivery: &Delivery) -> ReviewFact {
        #[derive(Deserialize)]
        struct Typed {
            id: Uuid,
            #[serde(rename = "type")]
            event_type: String,
        }
        let token = delivery.subject.rsplit('.').next().unwrap_or_default();
        let (Ok(proposal_id), Ok(typed)) = (
            Uuid::parse_str(token),
            serde_json::from_slice::<Typed>(&delivery.payload),
        ) else {
            return ReviewFact::Other;
        };
        let stage = if typed
            .event_type
            .starts_with("buendel.review.statement_issued.")
        {
            ReviewStage::Statement
        } else if typed
            .event_type
            .starts_with("buendel.review.grant_decided.")
        {
            ReviewStage::Grant
        } else {
            return ReviewFact::Other;
        };
        ReviewFact::Reached {
            proposal_id,
            stage,
            event_id: typed.id,
        }
    }

    async fn lane(&self, delivery: &Delivery, _read: &ReviewFact) -> u64 {
        reactor::subject_key(&delivery.subject)
    }

    async fn handle(&self, _delivery: &Delivery, read: ReviewFact) -> Verdict {
        let ReviewFact::Reached {
            proposal_id,
            stage,
            event_id,
        } = read
        else {
            return Verdict::Done;
        };
        match self.0.record_review(proposal_id, stage, event_id).await {
            Ok(_) => Verdict::Done,
            Err(CommandError::Transient(error)) => Verdict::Retry(error),
            Err(CommandError::Refused {
                code,
                message,
                details,
            }) => Verdict::Refuse(
                Refusal::new(&code, message, details).about(Some(event_id.to_string()), None),
            ),
        }
    }
}

/// The limits of the REVIEWS reactor: 32 lanes keyed by proposal, the rest as the intake's.
pub const REVIEW_LIMITS: Limits = Limits {
    lanes: 32,
    lane_queue_max: 64,
    ack_pending_max: 2_048,
    ..INTAKE_LIMITS
};

/// Starts the submission service: streams, command endpoints and the intake consumer are ready when
/// this returns; the returned task runs until `shutdown`. Each intake publisher is held to `rate`.
pub async fn start(
    client: async_nats::Client,
    store: EventStore,
    clock: Clock,
    rate: PublisherRate,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    store.ensure_streams(&StreamKind::ALL).await?;
    let service = Arc::new(Submission::new(store.clone(), clock));
    // The consumers are bound before the endpoints serve: a failure here leaves nothing running.
    let intake_spec = Spec {
        stream: StreamKind::Intake,
        service: SERVICE.to_owned(),
        letter_source: "intake".to_owned(),
        letter_origin: store.namespace().stream(StreamKind::Intake),
        limits: INTAKE_LIMITS,
    };
    let reactor = Reactor::bind(store.clone(), clock, intake_spec).await?;
    let reviews_spec = Spec::of_service(
        store.namespace(),
        StreamKind::Reviews,
        SERVICE,
        REVIEW_LIMITS,
    );
    let reviews = Reactor::bind(store.clone(), clock, reviews_spec).await?;
    let handler = service.clone();
    let local = shutdown.child_token();
    let commands = micro::serve_commands(
        client,
        &store,
        SERVICE,
        "Bündel submission: proposal intake and commands",
        &COMMANDS,
        move |name, envelope| {
            let service = handler.clone();
            async move { service.command(&name, envelope).await }
        },
        local.clone(),
    )
    .await?;
    Ok(tokio::spawn(async move {
        let recorded = tokio::spawn(reviews.run(Arc::new(Reviews(service.clone())), local.clone()));
        let intake = reactor
            .run(Arc::new(Intake(service, Buckets::new(rate))), local.clone())
            .await;
        local.cancel();
        let recorded = recorded.await.context("review task panicked")?;
        commands.await.context("command task panicked")?;
        intake.and(recorded)
    }))
}

/// Runs the submission service until `shutdown`.
pub async fn run(
    client: async_nats::Client,
    store: EventStore,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    start(client, store, clock, PublisherRate::DEFAULT, shutdown)
        .await?
        .await
        .context("submission task panicked")?
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const RATE: PublisherRate = PublisherRate {
        per_s: 10,
        burst: 3,
    };

    #[test]
    fn a_publisher_gets_its_burst_then_its_rate() {
        // Given a publisher allowed 10 a second, 3 at once
        let buckets = Buckets::new(RATE);
        // When it sends 4 at the same millisecond, then the fourth is over its rate
        let at_once: Vec<bool> = (0..4).map(|_| buckets.admit("portal", 1_000)).collect();
        assert_eq!(at_once, [true, true, true, false]);
        // And another publisher is not held to the first one's bucket
        assert!(buckets.admit("bank", 1_000));
        // When 100 ms pass, then one more token has come back, and no more
        assert!(buckets.admit("portal", 1_100));
        assert!(!buckets.admit("portal", 1_100));
        // And a message stored earlier (handled out of order) brings none back
        assert!(!buckets.admit("portal", 1_050));
        // When a long pause passes, then the bucket is full again, never fuller
        let after: Vec<bool> = (0..4).map(|_| buckets.admit("portal", 60_000)).collect();
        assert_eq!(after, [true, true, true, false]);
    }

    #[test]
    fn no_limit_admits_everything() {
        let buckets = Buckets::new(PublisherRate { per_s: 0, burst: 0 });
        assert!((0..10_000).all(|_| buckets.admit("bench", 5)));
    }

    proptest! {
        /// Over any window, a publisher is admitted at most its burst plus its rate times the
        /// window, whatever the times its messages were stored at.
        #[test]
        fn admitted_never_exceed_burst_plus_rate(mut times in proptest::collection::vec(0i64..20_000, 1..400)) {
            times.sort_unstable();
            let buckets = Buckets::new(RATE);
            let admitted = times.iter().filter(|t| buckets.admit("p", **t)).count() as i64;
            let span_ms = times[times.len() - 1] - times[0];
            let bound = i64::from(RATE.burst) + span_ms * i64::from(RATE.per_s) / 1_000;
            prop_assert!(admitted <= bound, "{admitted} > {bound}");
        }
    }
}
