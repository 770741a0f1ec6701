//! Reaching NATS and Postgres. When one is down, the error says which, where and how to start it.

use std::time::Duration;

use anyhow::Context as _;

/// How long to wait for NATS before saying it is unreachable.
pub const NATS_CONNECT_TIMEOUT_MS: u64 = 3_000;

/// The servers of a `NATS_URL`: one URL, or several separated by commas (a cluster's nodes).
pub fn nats_servers(url: &str) -> anyhow::Result<Vec<async_nats::ServerAddr>> {
    let servers = url
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<async_nats::ServerAddr>()
                .with_context(|| format!("{part:?} in NATS_URL is not a NATS server URL"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!servers.is_empty(), "NATS_URL names no server");
    Ok(servers)
}

/// Connects to NATS (any of the servers `url` lists); `name` shows up in the server's connection
/// list.
pub async fn nats(url: &str, name: &str) -> anyhow::Result<async_nats::Client> {
    let servers = nats_servers(url)?;
    let options = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_millis(NATS_CONNECT_TIMEOUT_MS))
        .request_timeout(Some(Duration::from_secs(10)));
    options.connect(servers).await.with_context(|| {
        format!(
            "cannot reach NATS at {url}. Start it with JetStream enabled, e.g. \
             `nats-server -js -sd /var/lib/nats-server` or `docker compose up -d nats`, \
             or point NATS_URL at a running server"
        )
    })
}
