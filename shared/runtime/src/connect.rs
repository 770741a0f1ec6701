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
/// The PEM file of the certificate authority NATS's certificate must chain to: set, the
/// connection requires TLS (also asked for by `tls://` URLs).
pub const NATS_CA_FILE_ENV: &str = "NATS_CA_FILE";
/// The PEM files of this process's client certificate and key, for a server that verifies them.
pub const NATS_CERT_FILE_ENV: &str = "NATS_CERT_FILE";
/// See [`NATS_CERT_FILE_ENV`].
pub const NATS_KEY_FILE_ENV: &str = "NATS_KEY_FILE";

/// A path from the environment, if the variable is set and not empty.
fn env_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
}

/// TLS to NATS: a CA to verify the server by, and a client certificate and key. Either one makes
/// the connection require TLS; none leaves it to the URL (`tls://`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// The PEM file of the certificate authority.
    pub ca: Option<std::path::PathBuf>,
    /// The PEM files of the client certificate and its key.
    pub client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Tls {
    /// As `NATS_CA_FILE`, `NATS_CERT_FILE` and `NATS_KEY_FILE` say.
    pub fn from_env() -> anyhow::Result<Self> {
        let client = match (env_path(NATS_CERT_FILE_ENV), env_path(NATS_KEY_FILE_ENV)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => anyhow::bail!("set both {NATS_CERT_FILE_ENV} and {NATS_KEY_FILE_ENV}, or neither"),
        };
        Ok(Self {
            ca: env_path(NATS_CA_FILE_ENV),
            client,
        })
    }

    fn apply(
        &self,
        mut options: async_nats::ConnectOptions,
    ) -> anyhow::Result<async_nats::ConnectOptions> {
        if let Some(ca) = &self.ca {
            anyhow::ensure!(
                ca.exists(),
                "the NATS CA file {} does not exist",
                ca.display()
            );
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some((cert, key)) = &self.client {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        Ok(options)
    }
}

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
/// server), with TLS as the environment asks for it ([`Tls::from_env`]).
pub async fn nats_as(
    url: &str,
    name: &str,
    nkey: Option<&std::path::Path>,
) -> anyhow::Result<async_nats::Client> {
    nats_with(url, name, nkey, &Tls::from_env()?).await
}

/// [`nats_as`] with the TLS given.
pub async fn nats_with(
    url: &str,
    name: &str,
    nkey: Option<&std::path::Path>,
    tls: &Tls,
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
    let options = tls
        .apply(options)?
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
