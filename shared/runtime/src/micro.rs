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

use buendel_contract::reply::Reply;
use buendel_contract::Namespace;

use crate::CancellationToken;

/// Requests handled at once per service instance.
pub const IN_FLIGHT_MAX: usize = 256;

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
                    let reply = handle(command, request.message.payload.clone()).await;
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
