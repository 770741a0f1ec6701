//! The log's signing key: one Ed25519 key per namespace, in the private-key form of Go's
//! `golang.org/x/mod/sumdb/note` (`PRIVATE+KEY+<name>+<key id>+<base64>`), read from a file or from
//! the environment and never printed or logged.
//!
//! Each log signs under its own origin as key name (`<name>/ledger`, `<name>/reviews`) with the
//! same key, so each has its own verifier key (`buendel audit key` prints both).

use std::path::Path;

use anyhow::Context as _;

use buendel_tlog::{KeyKind, Signer, Verifier};

use crate::Log;

/// The environment variable that may hold the private key itself.
pub const KEY_ENV: &str = "BUENDEL_LOG_KEY";

/// The environment variable that may name the file holding it.
pub const KEY_FILE_ENV: &str = "BUENDEL_LOG_KEY_FILE";

/// The signing key of a namespace's logs.
pub struct LogKey {
    /// The key as read (its name is the origin prefix).
    signer: Signer,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("name", &self.signer.name())
            .finish_non_exhaustive()
    }
}

impl LogKey {
    /// A new random key named `name` (`buendel/<namespace>` by convention).
    pub fn generate(name: &str) -> anyhow::Result<Self> {
        let signer = Signer::generate(name, KeyKind::Note)
            .with_context(|| format!("generating a key named {name:?}"))?;
        Ok(Self { signer })
    }

    /// Parses the private-key text.
    pub fn from_private_text(text: &str) -> anyhow::Result<Self> {
        let signer = Signer::from_private_text(text).context("reading the log's signing key")?;
        anyhow::ensure!(
            signer.kind() == KeyKind::Note,
            "the log's signing key must be an Ed25519 note key (type 0x01), not a witness's cosignature key"
        );
        Ok(Self { signer })
    }

    /// Reads the key from a file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the log's signing key from {}", path.display()))?;
        Self::from_private_text(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The key from `--log-key-file`, else [`KEY_ENV`], else the file named by [`KEY_FILE_ENV`];
    /// `None` when none is set.
    pub fn from_environment(file: Option<&Path>) -> anyhow::Result<Option<Self>> {
        if let Some(file) = file {
            return Self::read(file).map(Some);
        }
        if let Ok(text) = std::env::var(KEY_ENV) {
            return Self::from_private_text(&text)
                .with_context(|| format!("in ${KEY_ENV}"))
                .map(Some);
        }
        if let Ok(path) = std::env::var(KEY_FILE_ENV) {
            return Self::read(Path::new(&path)).map(Some);
        }
        Ok(None)
    }

    /// Writes the key to a new file readable by its owner only; refuses to overwrite one.
    pub fn write_new(&self, path: &Path) -> anyhow::Result<()> {
        write_secret(path, &self.signer.private_text())
    }

    /// The key's name: the prefix of both origins.
    pub fn name(&self) -> &str {
        self.signer.name()
    }

    /// The signer of one log: the same key under the log's origin as name.
    pub fn signer(&self, log: Log) -> anyhow::Result<Signer> {
        let origin = log.origin(self.signer.name());
        Signer::from_seed(&origin, KeyKind::Note, self.seed()?)
            .with_context(|| format!("naming the key {origin:?}"))
    }

    /// The key's 32-byte seed, from its private-key text (`…+base64(type || seed)`).
    fn seed(&self) -> anyhow::Result<[u8; 32]> {
        use base64::Engine as _;
        let text = self.signer.private_text();
        // PRIVATE+KEY+<name>+<id>+<base64>: names hold no `+`, base64 may.
        let encoded = text
            .splitn(5, '+')
            .nth(4)
            .ok_or_else(|| anyhow::anyhow!("the private key text has no key part"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .context("the private key's base64")?;
        let seed = bytes
            .get(1..)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                anyhow::anyhow!("the private key holds {} bytes, not 33", bytes.len())
            })?;
        Ok(seed)
    }

    /// The verifier key of one log, as auditors pin it.
    pub fn verifier(&self, log: Log) -> anyhow::Result<Verifier> {
        Ok(self.signer(log)?.verifier())
    }
}

/// Writes a secret to a new file (mode 0600 on Unix), refusing to overwrite one, and syncs it.
pub fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}
