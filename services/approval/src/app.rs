//! The shell of the approval service: load → decide → append → ack.
//!
//! Start-up: the streams are ensured, then the built-in alliances are registered as Alliance
//! aggregates (idempotently: cause `builtin/<id>/v1`), so every review opens with a roster on record.
//!
//! PROPOSALS: a durable pull consumer (`approval_proposal`) feeds lanes keyed by proposal id, so the
//! events of one proposal are handled in order while different proposals proceed in parallel.
//! A `screened` event that passed opens the proposal's review with the terms as screened and the
//! alliance's roster as it stands then; the cause is the `screened` event's id, so a redelivery or a
//! restart opens exactly one review. A `withdrawn` event closes the review. A review opened already
//! (a revised proposal screened again) or never opened (a withdrawn one that failed screening) is a
//! no-op. An event that cannot be read or is refused is dead-lettered (source `approval`) and acked,
//! so it never blocks the events behind it; a transient failure naks with a delay, and on the last
//! delivery [`PROPOSAL_LIMITS`] allow the event is dead-lettered (the runtime's [`Reactor`]).
//!
//! Commands: `<ns>.cmd.approval.<command>` over the NATS micro service API (see [`COMMANDS`] and
//! [`crate::input`] for the payloads); the reply is the submission service's shape.
//!
//! The REVIEWS stream holds two aggregate types: reviews on `<ns>.review.<proposal_id>` and
//! alliances on `<ns>.review.alliance-<alliance_id>`. Consumers of REVIEWS see both and tell them
//! apart by `type`; a proposal id is a UUID, so the subjects never collide.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use uuid::Uuid;

use buendel_contract::alliance::{self, is_valid_alliance_id};
use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{ProposalEvent, Terms};
use buendel_contract::reference::{builtin_alliances, ProgramRules};
use buendel_contract::reply::FieldError;
use buendel_contract::review::QuorumRule;
use buendel_contract::{Aggregate as _, Envelope, Meta};
use buendel_runtime::micro::{self, CommandEnvelope, CommandError};
use buendel_runtime::reactor::{self, Delivery, Limits, Reaction, Reactor, Refusal, Spec, Verdict};
use buendel_runtime::repository::{ExecuteError, Loaded, Outcome};
use buendel_runtime::{CancellationToken, Clock, EventStore, Repository};

use crate::domain::policy::{self, ReviewIntent};
use crate::domain::{Alliance, AllianceCommand, AllianceError, Command, Review, ReviewError};
use crate::input::{self, Request};

/// The service name: micro service, durable consumer, event `source`, dead-letter source.
pub const SERVICE: &str = "approval";
/// The commands served over request/reply, `<ns>.cmd.approval.<command>`.
pub const COMMANDS: [&str; 8] = [
    "declare_conflict",
    "vote",
    "issue_statement",
    "record_grant",
    "record_refusal",
    "register_alliance",
    "add_partner",
    "remove_partner",
];
/// The limits of the PROPOSALS reactor: 32 lanes keyed by proposal, 64 queued per lane, 2,048
/// unacknowledged events, 30 s ack wait, 5 deliveries of a failing event, naks from 500 ms.
pub const PROPOSAL_LIMITS: Limits = Limits {
    deliveries_max: 5,
    ack_wait_ms: 30_000,
    ack_pending_max: 2_048,
    lanes: 32,
    lane_queue_max: 64,
    nak_delay_ms: 500,
};
/// Attempts to register the built-in alliances at start-up before giving up.
pub const REGISTER_ATTEMPTS_MAX: u64 = 5;

/// The approval service's shell.
pub struct Approval {
    /// The time, as an input.
    clock: Clock,
    /// Review aggregates, `<ns>.review.<proposal_id>`.
    reviews: Repository<Review>,
    /// Alliance aggregates, `<ns>.review.alliance-<alliance_id>`.
    alliances: Repository<Alliance>,
    /// The program rules an alliance may name, by version; the last is the one in force.
    rules: Vec<ProgramRules>,
    /// When each alliance was last refreshed from the stream.
    alliance_refreshed: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

/// How stale an alliance's roster may be when a review is opened (another instance's change).
pub const ALLIANCE_REFRESH_MS: u64 = 1_000;

impl Approval {
    /// An approval service over an event store, knowing the current program rules.
    pub fn new(store: EventStore, clock: Clock) -> Self {
        let source = format!("/buendel/{SERVICE}");
        Self {
            clock,
            reviews: Repository::new(store.clone(), StreamKind::Reviews, source.clone()),
            alliances: Repository::new(store, StreamKind::Reviews, source),
            rules: vec![ProgramRules::esf_plus_2021_2027()],
            alliance_refreshed: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn store(&self) -> &EventStore {
        self.reviews.store()
    }

    fn meta(&self, actor: &str, correlation_id: Option<String>) -> Meta {
        Meta {
            source: self.reviews.source().to_owned(),
            time: self.clock.now(),
            correlation_id,
            causation_id: None,
            actor: actor.to_owned(),
        }
    }

    /// Registers the built-in alliances with their real rosters, once: a second start finds the
    /// cause `builtin/<id>/v1` booked, and an alliance an operator registered first is kept.
    pub async fn register_builtins(&self) -> Result<(), CommandError> {
        let rules = ProgramRules::esf_plus_2021_2027();
        for alliance in builtin_alliances() {
            let cause = format!("builtin/{}/v1", alliance.id);
            let id = alliance::subject_id(&alliance.id);
            let meta = self.meta(SERVICE, Some(id.clone()));
            let command = AllianceCommand::Register {
                alliance,
                quorum: QuorumRule::default(),
                rules: rules.clone(),
            };
            match self
                .alliances
                .execute(&id, &cause, &meta, |state| state.decide(&command))
                .await
            {
                Ok(_) | Err(ExecuteError::Domain(AllianceError::AlreadyRegistered)) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Ok(())
    }

    /// Handles one command.
    pub async fn command(
        &self,
        name: &str,
        envelope: CommandEnvelope,
    ) -> Result<Outcome, CommandError> {
        if !COMMANDS.contains(&name) {
            return Err(CommandError::unknown(name));
        }
        let request = input::parse(name, &envelope.data, &self.rules)
            .ok_or_else(|| CommandError::unknown(name))?
            .map_err(CommandError::invalid)?;
        let cause = envelope.cause();
        let correlation = envelope.correlation_id.clone();
        match &request {
            Request::Review {
                proposal_id,
                command,
            } => {
                let id = proposal_id.to_string();
                let alliance = partner_binding(&envelope, command)?;
                let meta = self.meta(envelope.actor(), correlation.or(Some(id.clone())));
                Ok(self
                    .reviews
                    .execute(&id, &cause, &meta, |state| {
                        // A partner's identity votes only in its own alliance's reviews.
                        if let (Some(alliance), Some(opened)) = (alliance, state.opened()) {
                            if opened.alliance_id != alliance {
                                return Err(ReviewError::UnknownPartner {
                                    partner_id: envelope.actor().to_owned(),
                                });
                            }
                        }
                        state.decide(command)
                    })
                    .await?)
            }
            Request::Alliance {
                alliance_id,
                command,
            } => {
                let id = alliance::subject_id(alliance_id);
                let meta = self.meta(envelope.actor(), correlation.or(Some(id.clone())));
                Ok(self
                    .alliances
                    .execute(&id, &cause, &meta, |state| state.decide(command))
                    .await?)
            }
        }
    }

    /// What one proposal event means for its review.
    async fn react(
        &self,
        envelope: &Envelope<ProposalEvent>,
        sequence: u64,
    ) -> Result<(), CommandError> {
        let proposal_id = envelope.event.proposal_id();
        let cause = envelope.id.to_string();
        let correlation = envelope
            .correlationid
            .clone()
            .or_else(|| Some(proposal_id.to_string()));
        let meta = self.meta(SERVICE, correlation);
        match policy::on_proposal_event(&envelope.event) {
            ReviewIntent::Nothing => Ok(()),
            ReviewIntent::Open { alliance_id, terms } => {
                self.open(proposal_id, &cause, &meta, &alliance_id, &terms)
                    .await
            }
            ReviewIntent::OpenFromHistory => {
                let (alliance_id, terms) = self.screened_terms(proposal_id, sequence).await?;
                self.open(proposal_id, &cause, &meta, &alliance_id, &terms)
                    .await
            }
            ReviewIntent::Close { reason } => {
                self.close(proposal_id, &cause, &meta, &Command::Close { reason })
                    .await
            }
        }
    }

    /// Opens the review of a proposal whose screening passed, with the terms as screened and the
    /// alliance's roster as it stands now; a review open already (a revision screened again) goes
    /// on with the revised terms.
    async fn open(
        &self,
        proposal_id: Uuid,
        cause: &str,
        meta: &Meta,
        alliance_id: &str,
        terms: &Terms,
    ) -> Result<(), CommandError> {
        let id = proposal_id.to_string();
        let not_registered = || CommandError::of(&AllianceError::NotRegistered);
        if !is_valid_alliance_id(alliance_id) {
            return Err(not_registered());
        }
        let alliance = self.alliance(alliance_id).await?;
        let version = alliance
            .state
            .registered()
            .map(|r| r.rules_version.clone())
            .ok_or_else(not_registered)?;
        let rules = self
            .rules
            .iter()
            .find(|r| r.version == version)
            .ok_or_else(|| CommandError::Refused {
                code: "unknown_rules_version".into(),
                message: format!(
                    "the alliance names rules {version:?}, which this service does not know"
                ),
                details: vec![],
            })?;
        let open = alliance
            .state
            .open_review(
                proposal_id,
                rules,
                terms.eligible_cost_cents,
                terms.requested_rate_bp,
            )
            .ok_or_else(not_registered)?;
        // A review is opened once, so decide on a new aggregate without looking it up first: if it
        // exists after all (a redelivery, a re-screening), the append conflicts and the cause index
        // or `already_opened` says so.
        match self
            .reviews
            .execute_assuming_new(&id, cause, meta, |state| state.decide(&open))
            .await
        {
            Ok(outcome) => {
                tracing::info!(%proposal_id, alliance_id, events = outcome.events().len(), "review opened");
                Ok(())
            }
            Err(ExecuteError::Domain(ReviewError::AlreadyOpened)) => {
                let revise = Command::ReviseTerms {
                    eligible_cost_cents: terms.eligible_cost_cents,
                    requested_rate_bp: terms.requested_rate_bp,
                };
                let outcome = self
                    .reviews
                    .execute(&id, cause, meta, |state| state.decide(&revise))
                    .await?;
                tracing::info!(%proposal_id, events = outcome.events().len(), "review terms revised");
                Ok(())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The alliance as it stands, refreshed from the stream at most every
    /// [`ALLIANCE_REFRESH_MS`]: a roster change by another instance is seen within that time, and
    /// opening a review does not look the alliance up on the server every time (finding the last
    /// message of a subject written long ago costs the server more the longer the stream grows).
    async fn alliance(&self, alliance_id: &str) -> Result<Arc<Loaded<Alliance>>, CommandError> {
        let id = alliance::subject_id(alliance_id);
        let due = self.alliance_refreshed.lock().map_or(true, |seen| {
            seen.get(&id)
                .is_none_or(|at| at.elapsed() >= Duration::from_millis(ALLIANCE_REFRESH_MS))
        });
        if !due {
            return Ok(self.alliances.load(&id).await?);
        }
        let fresh = self.alliances.load_fresh(&id).await?;
        if let Ok(mut seen) = self.alliance_refreshed.lock() {
            seen.insert(id, std::time::Instant::now());
        }
        Ok(fresh)
    }

    /// Closes the review of a withdrawn proposal; one that was never opened needs nothing.
    async fn close(
        &self,
        proposal_id: Uuid,
        cause: &str,
        meta: &Meta,
        close: &Command,
    ) -> Result<(), CommandError> {
        let id = proposal_id.to_string();
        match self
            .reviews
            .execute(&id, cause, meta, |state| state.decide(close))
            .await
        {
            Ok(_) => Ok(()),
            Err(ExecuteError::Domain(ReviewError::ReviewNotOpen | ReviewError::ReviewClosed)) => {
                Ok(())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The alliance and terms of a proposal as they stood at stream sequence `until` (a stored v1
    /// `screened` event, which does not carry them), read from PROPOSALS, so a later revision never
    /// changes what is reviewed. A v2 screening carries them and needs no read (nor any cache).
    async fn screened_terms(
        &self,
        proposal_id: Uuid,
        until: u64,
    ) -> Result<(String, Terms), CommandError> {
        let subject = self
            .store()
            .namespace()
            .subject(StreamKind::Proposals, proposal_id);
        let stored = self
            .store()
            .read(StreamKind::Proposals, &subject, 1, until)
            .await?;
        let mut events = Vec::with_capacity(stored.len());
        for message in stored {
            let envelope: Envelope<ProposalEvent> = serde_json::from_slice(&message.payload)
                .map_err(|e| CommandError::Refused {
                    code: "unreadable_proposal".into(),
                    message: format!(
                        "event {} of the proposal cannot be read: {e}",
                        message.sequence
                    ),
                    details: vec![],
                })?;
            events.push(envelope.event);
        }
        fold_terms(&events).ok_or_else(|| CommandError::Refused {
            code: "unknown_proposal".into(),
            message: "the proposal has no submitted event".into(),
            details: vec![],
        })
    }
}

/// The approval's reaction to PROPOSALS: open a review on a passed screening, close it on a
/// withdrawal.
struct Proposals(Arc<Approval>);

impl Reaction for Proposals {
    type Read = Result<Envelope<ProposalEvent>, String>;

    fn read(&self, delivery: &Delivery) -> Self::Read {
        serde_json::from_slice(&delivery.payload).map_err(|e| e.to_string())
    }

    /// By the proposal id of the subject, so one proposal's events stay in order.
    async fn lane(&self, delivery: &Delivery, _read: &Self::Read) -> u64 {
        reactor::subject_key(&delivery.subject)
    }

    async fn handle(&self, delivery: &Delivery, read: Self::Read) -> Verdict {
        let envelope = match read {
            Ok(envelope) => envelope,
            Err(reason) => {
                let (id, kind) = loose_id_and_type(&delivery.payload);
                return Verdict::Refuse(
                    Refusal::new(
                        "invalid_event",
                        reason.clone(),
                        vec![FieldError::new("", reason)],
                    )
                    .about(id, kind),
                );
            }
        };
        match self.0.react(&envelope, delivery.sequence).await {
            Ok(()) => Verdict::Done,
            Err(CommandError::Transient(error)) => Verdict::Retry(error),
            Err(CommandError::Refused {
                code,
                message,
                details,
            }) => {
                let reasons = if details.is_empty() {
                    vec![FieldError::new("", message)]
                } else {
                    details
                };
                Verdict::Refuse(Refusal {
                    code,
                    reasons,
                    event_id: Some(envelope.id.to_string()),
                    event_type: Some(envelope.event_type().to_owned()),
                })
            }
        }
    }
}

/// The alliance and current terms after `events` (a proposal's history): `None` before `submitted`.
/// For a vote or a recusal on an authenticated subject: the alliance of the partner the identity
/// is (`partner.<alliance>.<partner>`), after checking that it is the partner the command names;
/// `None` for every other command, and for a declared actor where declared actors are served.
fn partner_binding<'a>(
    envelope: &'a CommandEnvelope,
    command: &Command,
) -> Result<Option<&'a str>, CommandError> {
    let partner_id = match command {
        Command::Vote { partner_id, .. } | Command::DeclareConflict { partner_id, .. } => {
            partner_id
        }
        _ => return Ok(None),
    };
    if !envelope.authenticated {
        return Ok(None);
    }
    let identity = envelope.actor();
    let mut tokens = identity.split('.');
    match (tokens.next(), tokens.next(), tokens.next(), tokens.next()) {
        (Some("partner"), Some(alliance), Some(partner), None) if partner == partner_id => {
            Ok(Some(alliance))
        }
        _ => Err(CommandError::refused(
            "not_this_partner",
            format!(
                "{identity:?} may not vote or recuse as {partner_id:?}: only the identity \
                 partner.<alliance>.{partner_id} may"
            ),
            vec![FieldError::new(
                "partner_id",
                "must be the authenticated partner",
            )],
        ))
        .inspect_err(|refused| tracing::warn!(%refused, "a vote or recusal in another's name")),
    }
}

fn fold_terms(events: &[ProposalEvent]) -> Option<(String, Terms)> {
    let mut current: Option<(String, Terms)> = None;
    for event in events {
        match event {
            ProposalEvent::Submitted(e) => current = Some((e.alliance_id.clone(), e.terms.clone())),
            ProposalEvent::Revised(e) => {
                if let Some((_, terms)) = &mut current {
                    terms.clone_from(&e.terms);
                }
            }
            ProposalEvent::Screened(_)
            | ProposalEvent::Withdrawn(_)
            | ProposalEvent::ReviewRecorded(_) => {}
        }
    }
    current
}

/// The `id` and `type` of a message that is no valid proposal event, where they can be read.
fn loose_id_and_type(payload: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(payload) else {
        return (None, None);
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    (text("id"), text("type"))
}

/// Starts the approval service: streams, built-in alliances, command endpoints and the PROPOSALS
/// consumer are ready when this returns; the returned task runs until `shutdown`.
pub async fn start(
    client: async_nats::Client,
    store: EventStore,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    store.ensure_streams(&StreamKind::ALL).await?;
    let service = Arc::new(Approval::new(store.clone(), clock));
    register_builtins(&service, &shutdown).await?;
    // The consumer is bound before the endpoints serve: a failure here leaves nothing running.
    let spec = Spec::of_service(
        store.namespace(),
        StreamKind::Proposals,
        SERVICE,
        PROPOSAL_LIMITS,
    );
    let reactor = Reactor::bind(store.clone(), clock, spec).await?;
    let handler = service.clone();
    let local = shutdown.child_token();
    let commands = micro::serve_commands(
        client,
        &store,
        SERVICE,
        "Bündel approval: partner review, statement and grant decision",
        &COMMANDS,
        move |name, envelope| {
            let service = handler.clone();
            async move { service.command(&name, envelope).await }
        },
        local.clone(),
    )
    .await?;
    Ok(tokio::spawn(async move {
        let consumed = reactor
            .run(Arc::new(Proposals(service)), local.clone())
            .await;
        local.cancel();
        commands.await.context("command task panicked")?;
        consumed
    }))
}

/// Runs the approval service until `shutdown`.
pub async fn run(
    client: async_nats::Client,
    store: EventStore,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    start(client, store, clock, shutdown)
        .await?
        .await
        .context("approval task panicked")?
}

/// Registers the built-in alliances, retrying transient failures a bounded number of times.
async fn register_builtins(service: &Approval, shutdown: &CancellationToken) -> anyhow::Result<()> {
    for attempt in 1..=REGISTER_ATTEMPTS_MAX {
        match service.register_builtins().await {
            Ok(()) => return Ok(()),
            Err(CommandError::Transient(error)) if attempt < REGISTER_ATTEMPTS_MAX => {
                tracing::warn!(%error, attempt, "registering the built-in alliances failed, retrying");
                let delay = Duration::from_millis(PROPOSAL_LIMITS.nak_delay_ms * attempt);
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(error) => {
                return Err(anyhow::anyhow!("{error}"))
                    .context("registering the built-in alliances")
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use buendel_contract::money::{BasisPoints, Cents};
    use buendel_contract::proposal::{Applicant, ProjectType, Revised, Submitted, Withdrawn};
    use chrono::NaiveDate;

    use super::*;

    fn terms(eligible: i64) -> Terms {
        Terms {
            title: "t".into(),
            summary: "s".into(),
            project_type: ProjectType::Structure,
            focus_areas: vec![],
            districts: vec![],
            planned_start: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            duration_months: 36,
            eligible_cost_cents: Cents(eligible),
            requested_rate_bp: BasisPoints(7_000),
        }
    }

    fn bound(identity: &str) -> CommandEnvelope {
        micro::authenticate(
            micro::envelope_of(
                br#"{"command_id":"7f1b6a52-8d0c-4c67-9d43-3f2a5a3f4b11","data":{}}"#,
            )
            .expect("envelope"),
            Some(identity.to_owned()),
            true,
        )
        .expect("bound")
    }

    fn vote(partner_id: &str) -> Command {
        Command::Vote {
            partner_id: partner_id.into(),
            vote: buendel_contract::review::VoteChoice::Yes,
            comment: None,
        }
    }

    #[test]
    fn an_authenticated_partner_votes_only_as_itself() {
        // Given partner dgb of afnon, authenticated by the subject it published to
        let envelope = bound("partner.afnon.dgb");
        // When it votes as itself, then its alliance is what the review must belong to
        assert_eq!(
            partner_binding(&envelope, &vote("dgb")).expect("itself"),
            Some("afnon")
        );
        // When it votes as hwk-bls, then it is refused
        let refused = partner_binding(&envelope, &vote("hwk-bls")).expect_err("another partner");
        assert_eq!(refused.code(), Some("not_this_partner"));
        // And an officer's identity cannot vote at all
        let officer = partner_binding(&bound("office.anna"), &vote("dgb")).expect_err("officer");
        assert_eq!(officer.code(), Some("not_this_partner"));
        // And a declared actor (no credentials, the demo) is not bound
        let declared = micro::envelope_of(
            br#"{"command_id":"7f1b6a52-8d0c-4c67-9d43-3f2a5a3f4b11","actor":"x","data":{}}"#,
        )
        .expect("envelope");
        assert_eq!(
            partner_binding(&declared, &vote("dgb")).expect("declared"),
            None
        );
    }

    #[test]
    fn the_terms_under_review_are_the_last_ones_before_the_screening() {
        let id = Uuid::nil();
        let events = vec![
            ProposalEvent::Submitted(Submitted {
                proposal_id: id,
                alliance_id: "non".into(),
                applicant: Applicant {
                    name: "a".into(),
                    kind: "verein".into(),
                    district: "celle".into(),
                },
                terms: terms(100),
            }),
            ProposalEvent::Revised(Revised {
                proposal_id: id,
                terms: terms(200),
                reason: "r".into(),
            }),
            ProposalEvent::Withdrawn(Withdrawn {
                proposal_id: id,
                reason: "w".into(),
            }),
        ];
        let (alliance, terms) = fold_terms(&events).expect("submitted");
        assert_eq!(alliance, "non");
        assert_eq!(terms.eligible_cost_cents, Cents(200));
        assert!(fold_terms(&events[1..]).is_none());
    }
}
