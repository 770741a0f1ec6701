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

/// The environment variable naming the file that holds this process's NATS nkey seed.
pub const NATS_NKEY_ENV: &str = "NATS_NKEY";

/// Connects to NATS (any of the servers `url` lists) with the nkey whose seed is in the file
/// `NATS_NKEY` names, if it names one; `name` shows up in the server's connection list.
pub async fn nats(url: &str, name: &str) -> anyhow::Result<async_nats::Client> {
    let nkey = std::env::var_os(NATS_NKEY_ENV)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    nats_as(url, name, nkey.as_deref()).await
}

/// An nkey seed read from a file (`buendel creds generate` writes them): the first line that is a
/// user seed. The seed itself never reaches an error message or a log.
pub fn read_seed(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the nkey seed file {}", path.display()))?;
    let seed = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("SU"))
        .with_context(|| format!("{} holds no nkey user seed (a line SU...)", path.display()))?;
    nkeys::KeyPair::from_seed(seed)
        .map_err(|_| anyhow::anyhow!("{} holds an invalid nkey seed", path.display()))?;
    Ok(seed.to_owned())
}

/// The inbox prefix of the user with the nkey `public_key`: the server's permissions let each user
/// subscribe to its own inbox only, so no one else reads its replies.
pub fn inbox_prefix(public_key: &str) -> String {
    format!("_INBOX_{public_key}")
}

/// Connects as the user whose nkey seed is in `nkey` (none: no authentication, as on the demo's
/// server).
pub async fn nats_as(
    url: &str,
    name: &str,
    nkey: Option<&std::path::Path>,
) -> anyhow::Result<async_nats::Client> {
    let servers = nats_servers(url)?;
    let mut options = async_nats::ConnectOptions::new();
    if let Some(path) = nkey {
        let seed = read_seed(path)?;
        let public = nkeys::KeyPair::from_seed(&seed)
            .map_err(|_| anyhow::anyhow!("{} holds an invalid nkey seed", path.display()))?
            .public_key();
        options =
            async_nats::ConnectOptions::with_nkey(seed).custom_inbox_prefix(inbox_prefix(&public));
    }
    let options = options
        .name(name)
        .connection_timeout(Duration::from_millis(NATS_CONNECT_TIMEOUT_MS))
        .request_timeout(Some(Duration::from_secs(10)))
        .event_callback(|event| async move {
            // A permission the server refused: logged once, here, with what was refused.
            if let async_nats::Event::ServerError(error) = event {
                tracing::error!(%error, "the NATS server refused");
            }
        });
    let authenticated = nkey.is_some();
    options.connect(servers).await.map_err(|error| {
        let refused = error.kind() == async_nats::ConnectErrorKind::AuthorizationViolation;
        let hint = match (refused, authenticated) {
            (true, false) => format!(
                "NATS at {url} requires credentials: set {NATS_NKEY_ENV} (or --nats-nkey) to the \
                 file with this identity's nkey seed, from `buendel creds generate`"
            ),
            (true, true) => format!(
                "NATS at {url} refused the nkey of {NATS_NKEY_ENV}: the server's authorization \
                 does not list this user (include the auth.conf `buendel creds generate` wrote)"
            ),
            _ => format!(
                "cannot reach NATS at {url}. Start it with JetStream enabled, e.g. \
                 `nats-server -js -sd /var/lib/nats-server`, or point NATS_URL at a running \
                 server"
            ),
        };
        anyhow::Error::new(error).context(hint)
    })
}
