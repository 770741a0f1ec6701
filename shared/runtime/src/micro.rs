//! Serving commands with the NATS micro service API (`$SRV.PING/INFO/STATS` discoverable).
//!
//! A service registers endpoints `<ns>.cmd.<service>.<command>` in the default queue group, so any
//! number of instances share the load. Every request is handled in its own task, bounded by a
//! semaphore; the reply is always JSON ([`buendel_contract::reply::Reply`]).

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use buendel_contract::ijson;
use buendel_contract::reply::{FieldError, Reply};
use buendel_contract::Namespace;

use crate::CancellationToken;

/// Requests handled at once per service instance.
pub const IN_FLIGHT_MAX: usize = 256;
/// The largest command payload accepted (a command is a few fields; the intake's limit is the same).
pub const PAYLOAD_BYTES_MAX: usize = 64 * 1024;

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

/// Registers `commands` of `service` and serves them until `shutdown`; `handle(command, payload)`
/// produces the reply. Returns once the endpoints are registered (so requests find a responder),
/// with the task that serves them.
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
    H: Fn(String, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
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
    for &command in commands {
        let mut endpoint = group
            .endpoint(command)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("registering {command}"))?;
        let handle = handle.clone();
        let limit = limit.clone();
        let shutdown = shutdown.clone();
        let command = command.to_owned();
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
                tasks.spawn(async move {
                    let payload = request.message.payload.clone();
                    let reply = match strict_payload(&payload) {
                        Some(refused) => refused,
                        None => handle(command, payload).await,
                    };
                    let bytes = serde_json::to_vec(&reply).unwrap_or_default();
                    if let Err(error) = request.respond(Ok(Bytes::from(bytes))).await {
                        tracing::warn!(%error, "reply not sent");
                    }
                    drop(permit);
                });
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
        });
    }
    Ok(tokio::spawn(async move {
        while endpoints.join_next().await.is_some() {}
        if let Err(error) = micro.stop().await {
            tracing::debug!(%error, "micro service stop");
        }
    }))
}
