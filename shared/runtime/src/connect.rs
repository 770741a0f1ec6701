//! Reaching NATS and Postgres. When one is down, the error says which, where and how to start it.

use std::time::Duration;

use anyhow::Context as _;

/// How long to wait for NATS before saying it is unreachable.
pub const NATS_CONNECT_TIMEOUT_MS: u64 = 3_000;

/// Connects to NATS; `name` shows up in the server's connection list.
pub async fn nats(url: &str, name: &str) -> anyhow::Result<async_nats::Client> {
    let options = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_millis(NATS_CONNECT_TIMEOUT_MS))
        .request_timeout(Some(Duration::from_secs(10)));
    options.connect(url).await.with_context(|| {
        format!(
            "cannot reach NATS at {url}. Start it with JetStream enabled, e.g. \
             `nats-server -js -sd /var/lib/nats-server` or `docker compose up -d nats`, \
             or point NATS_URL at a running server"
        )
    })
}
