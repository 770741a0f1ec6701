//! Serving commands with the NATS micro service API (`$SRV.PING/INFO/STATS` discoverable).
//!
//! A service registers endpoints `<ns>.cmd.<service>.<command>` in the default queue group, so any
//! number of instances share the load. Every request is handled in its own task, bounded by a
//! semaphore; the reply is always JSON ([`buendel_contract::reply::Reply`]).
//!
//! [`serve_commands`] is the one command endpoint every service uses: the payload is strict I-JSON
//! ([`strict_payload`]), the envelope is [`CommandEnvelope`] with unknown fields refused, and the
//! handler's result is mapped to the reply in one place ([`reply_of`]).
//!
//! **Authenticated actors.** Every command is served on two subjects: `<ns>.cmd.<service>.<command>`,
//! where the envelope declares its actor, and `<ns>.cmd.<service>.<command>.as.<identity>`, where the
//! subject names it (`as.partner.<alliance>.<partner>`, `as.verifier.<name>`, ...). The server's
//! permissions (`buendel creds`) let each identity publish only under its own name, so an actor
//! taken from the subject is one the server authenticated. A service whose store requires
//! authenticated actors ([`EventStore::require_authenticated_actors`]) refuses the first form
//! (`actor_not_authenticated`); every service refuses the second one when the envelope declares
//! another actor (`actor_mismatch`).

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use buendel_contract::ijson;
use buendel_contract::reply::{FieldError, Reply};
use buendel_contract::{DomainError, Namespace};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::repository::{ExecuteError, Outcome};
use crate::{CancellationToken, StoreError};

/// Requests handled at once per service instance.
pub const IN_FLIGHT_MAX: usize = 256;
/// The largest command payload accepted (a command is a few fields; the intake's limit is the same).
pub const PAYLOAD_BYTES_MAX: usize = 64 * 1024;
/// The most subject tokens an identity has after `.as.` (`partner.<alliance>.<partner>`).
pub const IDENTITY_TOKENS_MAX: usize = 3;

/// The identity a command subject names after `<prefix>.<command>.as.`, if it names a valid one:
/// 1 to [`IDENTITY_TOKENS_MAX`] tokens of `a-z`, `0-9`, `-` and `_`, joined by dots.
pub fn identity_of_subject(subject: &str, prefix: &str, command: &str) -> Option<String> {
    let rest = subject
        .strip_prefix(prefix)?
        .strip_prefix('.')?
        .strip_prefix(command)?
        .strip_prefix(".as.")?;
    let tokens: Vec<&str> = rest.split('.').collect();
    let valid = |t: &&str| {
        !t.is_empty()
            && t.len() <= 64
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    (tokens.len() <= IDENTITY_TOKENS_MAX && tokens.iter().all(valid)).then(|| rest.to_owned())
}

/// The refusal of a payload that is too large or not strict I-JSON ([`ijson::parse`]: unique
/// member names, no lone surrogates, numbers a double holds, no control characters but tab and
/// line breaks), the same rules as at the intake; `None` when it may go to the handler.
pub fn strict_payload(payload: &[u8]) -> Option<Reply> {
    if payload.len() > PAYLOAD_BYTES_MAX {
        return Some(Reply::refused(
            "too_large",
            format!(
                "the command is {} bytes, at most {PAYLOAD_BYTES_MAX}",
                payload.len()
            ),
            vec![],
        ));
    }
    let problems = ijson::parse(payload).err()?;
    let code = problems.first().map_or(ijson::NOT_JSON, |p| p.code);
    let details = problems
        .into_iter()
        .map(|p| FieldError::new(p.field, p.reason))
        .collect();
    Some(Reply::refused(
        code,
        "the command is not strict JSON (RFC 7493 I-JSON without control characters)",
        details,
    ))
}

/// Registers `commands` of `service` and serves them until `shutdown`, each on its plain subject and
/// on `<command>.as.>`; `handle(command, identity, payload)` produces the reply, with the identity
/// the subject names (`None` on the plain subject). Returns once the endpoints are registered (so
/// requests find a responder), with the task that serves them.
pub async fn serve<H, Fut>(
    client: async_nats::Client,
    ns: &Namespace,
    service: &str,
    description: &str,
    commands: &[&str],
    handle: H,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>>
where
    H: Fn(String, Option<String>, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let prefix = ns.command_prefix(service);
    let micro = async_nats::service::ServiceExt::service_builder(&client)
        .description(description)
        .start(
            ns.service_name(service),
            env!("CARGO_PKG_VERSION").to_owned(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("starting the {service} micro service"))?;
    let group = micro.group(ns.command_prefix(service));
    let limit = Arc::new(Semaphore::new(IN_FLIGHT_MAX));
    let mut endpoints = JoinSet::new();
    for (&command, bound) in commands.iter().flat_map(|c| [(c, false), (c, true)]) {
        let endpoint = if bound {
            group
                .endpoint_builder()
                .name(format!("{command}_as"))
                .add(format!("{command}.as.>"))
                .await
        } else {
            group.endpoint(command).await
        };
        let mut endpoint = endpoint
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("registering {command}"))?;
        let handle = handle.clone();
        let limit = limit.clone();
        let shutdown = shutdown.clone();
        let command = command.to_owned();
        let prefix = prefix.clone();
        let service_name = service.to_owned();
        endpoints.spawn(async move {
            let mut tasks = JoinSet::new();
            loop {
                let request = tokio::select! {
                    () = shutdown.cancelled() => break,
                    request = endpoint.next() => match request {
                        Some(request) => request,
                        None => break,
                    },
                };
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    break;
                };
                let handle = handle.clone();
                let command = command.clone();
                let identity = if bound {
                    identity_of_subject(request.message.subject.as_str(), &prefix, &command)
                        .ok_or(())
                } else {
                    Ok(String::new())
                };
                let parent = crate::trace::from_headers(request.message.headers.as_ref());
                let handling = crate::trace::span("command", &service_name, &command, parent);
                tasks.spawn(crate::trace::within(handling, async move {
                    let payload = request.message.payload.clone();
                    let reply = match (strict_payload(&payload), identity) {
                        (Some(refused), _) => refused,
                        (None, Err(())) => Reply::refused(
                            "invalid_identity",
                            "the subject names no valid identity after `.as.` (1 to 3 tokens of \
                             a-z, 0-9, - and _)",
                            vec![],
                        ),
                        (None, Ok(identity)) => {
                            let identity = (!identity.is_empty()).then_some(identity);
                            handle(command, identity, payload).await
                        }
                    };
                    let bytes = serde_json::to_vec(&reply).unwrap_or_default();
                    if let Err(error) = request.respond(Ok(Bytes::from(bytes))).await {
                        tracing::warn!(%error, "reply not sent");
                    }
                    drop(permit);
                }));
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
        });
    }
    // The endpoints' subscriptions reach the server before this returns: the server handles one
    // connection's messages in order, so once a request on this connection is answered, it has
    // every subscription made before it, and a request sent on another connection right after
    // finds its responder.
    client
        .request(
            format!("$SRV.PING.{}", ns.service_name(service)),
            Bytes::new(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("registering the {service} endpoints"))?;
    Ok(tokio::spawn(async move {
        while endpoints.join_next().await.is_some() {}
        if let Err(error) = micro.stop().await {
            tracing::debug!(%error, "micro service stop");
        }
    }))
}

/// The envelope of every command: an idempotency key, who asks, a correlation and the data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandEnvelope {
    /// Idempotency key; a retry with the same id returns the original outcome, forever.
    pub command_id: Uuid,
    /// Who asks (defaults to [`DEFAULT_ACTOR`]); the identity the subject names where it names one.
    #[serde(default)]
    pub actor: Option<String>,
    /// Whether the actor is the identity the command's subject names (which the server's
    /// permissions bind to a credential), not one the envelope declares.
    #[serde(skip)]
    pub authenticated: bool,
    /// Optional correlation id (each service defaults it to the aggregate the command is about).
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// The command's data, typed per command (`buendel_contract::commands`).
    pub data: Value,
}

/// The actor of a command that names none.
pub const DEFAULT_ACTOR: &str = "operator";

impl CommandEnvelope {
    /// Who asks.
    pub fn actor(&self) -> &str {
        self.actor.as_deref().unwrap_or(DEFAULT_ACTOR)
    }

    /// The cause the command is booked under: its id.
    pub fn cause(&self) -> String {
        self.command_id.to_string()
    }
}

/// Why a command did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Refused for good: the reply says why; retrying changes nothing.
    #[error("{code}: {message}")]
    Refused {
        /// The stable code.
        code: String,
        /// A sentence for people.
        message: String,
        /// Per-field reasons.
        details: Vec<FieldError>,
    },
    /// NATS failed or conflicts persisted: the client retries with the same command id.
    #[error("transient: {0}")]
    Transient(String),
}

impl CommandError {
    /// A refusal with a code.
    pub fn refused(code: &str, message: impl Into<String>, details: Vec<FieldError>) -> Self {
        CommandError::Refused {
            code: code.to_owned(),
            message: message.into(),
            details,
        }
    }

    /// A domain refusal.
    pub fn of<E: DomainError>(error: &E) -> Self {
        Self::refused(error.code(), error.to_string(), error.details())
    }

    /// Command data that does not fit its type, with every reason.
    pub fn invalid(details: Vec<FieldError>) -> Self {
        Self::refused("invalid_input", "the command data is invalid", details)
    }

    /// A command the service does not serve.
    pub fn unknown(name: &str) -> Self {
        Self::refused("unknown_command", format!("no command {name:?}"), vec![])
    }

    /// The code of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            CommandError::Refused { code, .. } => Some(code),
            CommandError::Transient(_) => None,
        }
    }
}

impl<E: DomainError> From<ExecuteError<E>> for CommandError {
    fn from(error: ExecuteError<E>) -> Self {
        match error {
            ExecuteError::Domain(e) => CommandError::of(&e),
            other => CommandError::Transient(other.to_string()),
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        CommandError::Transient(error.to_string())
    }
}

/// The one mapping from a command's result to its reply.
pub fn reply_of(result: Result<Outcome, CommandError>) -> Reply {
    let unchanged = || Reply::refused("unchanged", "the command changed nothing", vec![]);
    match result {
        Ok(Outcome::Appended(events)) => Reply::accepted(events, false).unwrap_or_else(unchanged),
        Ok(Outcome::Duplicate(events)) => Reply::accepted(events, true).unwrap_or_else(unchanged),
        Ok(Outcome::Unchanged) => unchanged(),
        Err(CommandError::Refused {
            code,
            message,
            details,
        }) => Reply::refused(code, message, details),
        Err(CommandError::Transient(error)) => {
            tracing::warn!(%error, "command failed transiently");
            Reply::refused(
                "unavailable",
                "temporarily unavailable, retry with the same command_id",
                vec![],
            )
        }
    }
}

/// Parses a command's envelope (unknown fields refused).
pub fn envelope_of(payload: &[u8]) -> Result<CommandEnvelope, CommandError> {
    serde_json::from_slice(payload).map_err(|e| {
        CommandError::refused(
            "invalid_input",
            "the command is not {command_id, actor?, correlation_id?, data}",
            vec![FieldError::new("", e.to_string())],
        )
    })
}

/// Binds the envelope's actor to the identity its subject names: a declared actor must be that
/// identity; without one, a process that requires authenticated actors refuses the command.
pub fn authenticate(
    mut envelope: CommandEnvelope,
    identity: Option<String>,
    required: bool,
) -> Result<CommandEnvelope, CommandError> {
    match identity {
        Some(identity) => {
            if let Some(declared) = envelope.actor.as_deref().filter(|d| *d != identity) {
                return Err(CommandError::refused(
                    "actor_mismatch",
                    format!(
                        "the envelope declares the actor {declared:?}, the subject names {identity:?}"
                    ),
                    vec![FieldError::new("actor", "must be the subject's identity or absent")],
                ));
            }
            envelope.actor = Some(identity);
            envelope.authenticated = true;
            Ok(envelope)
        }
        None if required => Err(CommandError::refused(
            "actor_not_authenticated",
            "this deployment takes commands only on `<command>.as.<identity>`, the subject your \
             credential may publish to",
            vec![],
        )),
        None => Ok(envelope),
    }
}

/// Serves `commands` of `service` until `shutdown`: every request is checked ([`strict_payload`],
/// [`envelope_of`]) and handed to `handle(command, envelope)`, whose result becomes the reply
/// ([`reply_of`]).
pub async fn serve_commands<H, Fut>(
    client: async_nats::Client,
    store: &crate::EventStore,
    service: &str,
    description: &str,
    commands: &[&str],
    handle: H,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>>
where
    H: Fn(String, CommandEnvelope) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Outcome, CommandError>> + Send + 'static,
{
    let service_name = service.to_owned();
    let required = store.authenticated_actors_required();
    serve(
        client,
        store.namespace(),
        service,
        description,
        commands,
        move |command, identity, payload| {
            let handle = handle.clone();
            let service_name = service_name.clone();
            async move {
                let started = std::time::Instant::now();
                let name = command.clone();
                let result = match envelope_of(&payload).and_then(|envelope| {
                    authenticate(envelope, identity, required).inspect_err(|refused| {
                        tracing::warn!(%refused, "command refused: its actor is not authenticated");
                    })
                }) {
                    Ok(envelope) => handle(command, envelope).await,
                    Err(refused) => Err(refused),
                };
                let outcome = match &result {
                    Ok(Outcome::Appended(_)) => "accepted",
                    Ok(Outcome::Duplicate(_)) => "duplicate",
                    Ok(Outcome::Unchanged) => "unchanged",
                    Err(CommandError::Refused { code, .. }) => code.as_str(),
                    Err(CommandError::Transient(_)) => "unavailable",
                };
                let service = service_name.as_str();
                crate::metrics::count(
                    crate::metrics::COMMANDS_TOTAL,
                    &[
                        ("service", service),
                        ("command", &name),
                        ("outcome", outcome),
                    ],
                );
                if result.is_err() {
                    crate::metrics::count(
                        crate::metrics::COMMAND_REFUSALS_TOTAL,
                        &[("service", service), ("code", outcome)],
                    );
                }
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                crate::metrics::global().observe_ms(
                    crate::metrics::COMMAND_DURATION_MS,
                    &[("service", service)],
                    ms,
                );
                let stream = buendel_contract::commands::Service::ALL
                    .into_iter()
                    .find(|s| s.as_str() == service)
                    .map(|s| s.stream().suffix());
                match stream {
                    Some(stream) => reply_of(result).in_stream(stream),
                    None => reply_of(result),
                }
            }
        },
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_the_tokens_after_as() {
        let prefix = "t1.cmd.approval";
        let of = |s: &str| identity_of_subject(s, prefix, "vote");
        assert_eq!(
            of("t1.cmd.approval.vote.as.partner.afnon.dgb").as_deref(),
            Some("partner.afnon.dgb")
        );
        assert_eq!(
            of("t1.cmd.approval.vote.as.office").as_deref(),
            Some("office")
        );
        assert_eq!(of("t1.cmd.approval.vote.as.a.b.c.d"), None, "four tokens");
        assert_eq!(of("t1.cmd.approval.vote.as.Office"), None, "upper case");
        assert_eq!(
            of("t1.cmd.approval.vote_x.as.office"),
            None,
            "another command"
        );
        assert_eq!(of("t1.cmd.approval.vote"), None, "no identity");
    }

    fn envelope(actor: Option<&str>) -> CommandEnvelope {
        CommandEnvelope {
            command_id: Uuid::from_u128(7),
            actor: actor.map(str::to_owned),
            authenticated: false,
            correlation_id: None,
            data: Value::Null,
        }
    }

    #[test]
    fn a_bound_identity_becomes_the_actor_and_a_different_declared_one_is_refused() {
        let bound =
            authenticate(envelope(None), Some("verifier.anna".into()), false).expect("bound");
        assert_eq!(bound.actor(), "verifier.anna");
        assert!(bound.authenticated);
        let same = authenticate(
            envelope(Some("verifier.anna")),
            Some("verifier.anna".into()),
            false,
        )
        .expect("the same actor may be declared");
        assert!(same.authenticated);
        let other = authenticate(
            envelope(Some("approver.ben")),
            Some("verifier.anna".into()),
            false,
        )
        .expect_err("another actor");
        assert_eq!(other.code(), Some("actor_mismatch"));
        let declared = authenticate(envelope(Some("approver.ben")), None, false).expect("declared");
        assert!(!declared.authenticated);
        assert_eq!(declared.actor(), "approver.ben");
        let unauthenticated = authenticate(envelope(Some("approver.ben")), None, true)
            .expect_err("a declared actor where authenticated ones are required");
        assert_eq!(unauthenticated.code(), Some("actor_not_authenticated"));
        let bound_anyway = authenticate(envelope(None), Some("approver.ben".into()), true)
            .expect("a bound actor is always taken");
        assert!(bound_anyway.authenticated);
    }

    #[test]
    fn an_envelope_with_an_unknown_field_is_refused() {
        let error = envelope_of(
            br#"{"command_id":"7f1b6a52-8d0c-4c67-9d43-3f2a5a3f4b11","data":{},"acter":"x"}"#,
        )
        .expect_err("refused");
        assert_eq!(error.code(), Some("invalid_input"));
        let CommandError::Refused { details, .. } = error else {
            panic!("refused");
        };
        assert!(details[0].reason.contains("acter"), "{details:?}");
    }

    #[test]
    fn an_envelope_without_actor_is_the_operators() {
        let envelope =
            envelope_of(br#"{"command_id":"7f1b6a52-8d0c-4c67-9d43-3f2a5a3f4b11","data":{}}"#)
                .expect("valid");
        assert_eq!(envelope.actor(), DEFAULT_ACTOR);
        assert_eq!(envelope.cause(), "7f1b6a52-8d0c-4c67-9d43-3f2a5a3f4b11");
    }

    #[test]
    fn results_map_to_replies_in_one_place() {
        assert_eq!(reply_of(Ok(Outcome::Unchanged)).code(), Some("unchanged"));
        assert_eq!(
            reply_of(Err(CommandError::Transient("down".into()))).code(),
            Some("unavailable")
        );
        let refused = CommandError::refused("fund_not_open", "no", vec![]);
        assert_eq!(reply_of(Err(refused)).code(), Some("fund_not_open"));
    }
}
