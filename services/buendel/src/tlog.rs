//! The transparency log's commands: `buendel audit key|keygen|checkpoint|prove|verify-proof`,
//! the log's settings for `up` and `serve log`, and `buendel witness`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use buendel_audit::transparency::{Pinned, Trusted};
use buendel_runtime::db::{self, PoolLimits};
use buendel_runtime::{connect, EventStore, Settings};
use buendel_tlog::{
    verify_consistency, verify_inclusion_bundle, Checkpoint, ConsistencyBundle, InclusionBundle,
    KeyKind, Note, Signer, Verifier,
};
use buendel_transparency::service::checkpoint_subject;
use buendel_transparency::witness::Witness;
use buendel_transparency::{proofs, Log, LogKey, LogServiceLimits, TreeStore};

/// How long `audit checkpoint` waits for the log service.
const CHECKPOINT_REQUEST_TIMEOUT_MS: u64 = 10_000;

/// The transparency log's settings (`up`, `serve log`, and the commands that read its key).
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// The log's signing key file (`buendel audit keygen` makes one). Else `$BUENDEL_LOG_KEY`
    /// holds the key itself; else `.buendel/<namespace>.log.key` is used if it exists. Never
    /// printed.
    #[arg(long, env = "BUENDEL_LOG_KEY_FILE")]
    pub log_key_file: Option<PathBuf>,
    /// A witness's submission prefix (`http://host:port`); repeat, or separate by commas.
    #[arg(long = "witness", env = "BUENDEL_WITNESSES", value_delimiter = ',')]
    pub witnesses: Vec<String>,
    /// How often a checkpoint is signed when a log has grown, in milliseconds.
    #[arg(long, env = "BUENDEL_CHECKPOINT_EVERY_MS", default_value_t = 10_000)]
    pub checkpoint_every_ms: u64,
}

/// The key file `up --demo` makes and the commands fall back to.
pub fn default_key_path(settings: &Settings) -> PathBuf {
    PathBuf::from(".buendel").join(format!("{}.log.key", settings.namespace.as_str()))
}

impl LogArgs {
    /// The key, if one is configured (see [`LogArgs::log_key_file`]).
    pub fn key(&self, settings: &Settings) -> anyhow::Result<Option<LogKey>> {
        if let Some(key) = LogKey::from_environment(self.log_key_file.as_deref())? {
            return Ok(Some(key));
        }
        let default = default_key_path(settings);
        if default.exists() {
            return LogKey::read(&default).map(Some);
        }
        Ok(None)
    }

    /// The key, or an error saying how to make one.
    pub fn require_key(&self, settings: &Settings) -> anyhow::Result<LogKey> {
        self.key(settings)?.ok_or_else(|| {
            anyhow::anyhow!(
                "no signing key for the transparency log: pass --log-key-file, set \
                 $BUENDEL_LOG_KEY_FILE or $BUENDEL_LOG_KEY, or make {} with `buendel audit keygen \
                 --out {}`",
                default_key_path(settings).display(),
                default_key_path(settings).display()
            )
        })
    }

    /// The key, made at the default path first if none is configured (`up --demo`).
    pub fn key_or_make(&self, settings: &Settings) -> anyhow::Result<LogKey> {
        if let Some(key) = self.key(settings)? {
            return Ok(key);
        }
        let path = default_key_path(settings);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let key = LogKey::generate(&format!("buendel/{}", settings.namespace.as_str()))?;
        key.write_new(&path)?;
        eprintln!("made the transparency log's signing key {}", path.display());
        Ok(key)
    }

    /// The system part running the log with `key`.
    pub fn part(&self, key: LogKey) -> crate::system::LogPart {
        crate::system::LogPart {
            key: Arc::new(key),
            witnesses: self.witnesses.clone(),
            limits: LogServiceLimits {
                cadence_ms: self.checkpoint_every_ms.max(100),
                ..LogServiceLimits::default()
            },
        }
    }
}

/// `buendel audit keygen --out FILE [--name NAME]`.
pub fn keygen(settings: &Settings, out: &Path, name: Option<&str>) -> anyhow::Result<ExitCode> {
    let name = name.map_or_else(
        || format!("buendel/{}", settings.namespace.as_str()),
        str::to_owned,
    );
    let key = LogKey::generate(&name)?;
    key.write_new(out)?;
    eprintln!(
        "wrote the signing key to {} (keep it secret)",
        out.display()
    );
    for log in Log::ALL {
        println!("{}", key.verifier(log)?.vkey());
    }
    Ok(ExitCode::SUCCESS)
}

/// `buendel audit key [--log L]`: the verifier keys auditors pin.
pub fn key(settings: &Settings, args: &LogArgs, log: Option<Log>) -> anyhow::Result<ExitCode> {
    let key = args.require_key(settings)?;
    for each in Log::ALL {
        if log.is_none_or(|l| l == each) {
            println!("{}", key.verifier(each)?.vkey());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks the running log service for a fresh checkpoint of `log`.
pub async fn request_checkpoint(
    client: &async_nats::Client,
    settings: &Settings,
    log: Log,
) -> anyhow::Result<String> {
    let subject = checkpoint_subject(settings.namespace.as_str());
    let reply = tokio::time::timeout(
        Duration::from_millis(CHECKPOINT_REQUEST_TIMEOUT_MS),
        client.request(subject.clone(), log.as_str().to_owned().into()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the transparency log did not answer on {subject} in time"))?
    .with_context(|| {
        format!("no transparency log answers on {subject}: is `buendel serve log` (or `up`) running with a key?")
    })?;
    let text = String::from_utf8(reply.payload.to_vec()).context("the checkpoint is not UTF-8")?;
    if let Some(error) = text.strip_prefix("error: ") {
        anyhow::bail!("the {log} log: {error}");
    }
    Ok(text)
}

/// `buendel audit checkpoint [--log L]`: the latest signed checkpoint (issued now if the log grew).
pub async fn checkpoint(settings: &Settings, log: Log) -> anyhow::Result<ExitCode> {
    let client = connect::nats_as(
        &settings.nats_url,
        "buendel-audit",
        settings.nats_nkey.as_deref(),
    )
    .await?;
    print!("{}", request_checkpoint(&client, settings, log).await?);
    Ok(ExitCode::SUCCESS)
}

async fn pool(settings: &Settings) -> anyhow::Result<sqlx::PgPool> {
    db::connect(
        &settings.database_url,
        &settings.namespace,
        PoolLimits::default(),
    )
    .await
    .context("cannot reach the transparency log's tables in Postgres")
}

/// What `audit prove` proves.
#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    /// An inclusion proof of this event (`c2sp.org/tlog-proof@v1`, the event's stored bytes in
    /// `extra`).
    #[arg(long, conflicts_with = "from")]
    pub event_id: Option<uuid::Uuid>,
    /// A consistency proof from the tree of this size to the latest checkpoint.
    #[arg(long)]
    pub from: Option<u64>,
    /// With `--from`: to the checkpoint of this size instead of the latest.
    #[arg(long, requires = "from")]
    pub to: Option<u64>,
    /// Which log (`--event-id` looks in both when omitted; `--from` needs it, default ledger).
    #[arg(long)]
    pub log: Option<Log>,
}

/// `buendel audit prove`.
pub async fn prove(settings: &Settings, args: &ProveArgs) -> anyhow::Result<ExitCode> {
    let tree = TreeStore::new(pool(settings).await?);
    if let Some(from) = args.from {
        let log = args.log.unwrap_or(Log::Ledger);
        let bundle = proofs::consistency(&tree, log, from, args.to).await?;
        print!("{}", bundle.to_text());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(event_id) = args.event_id else {
        anyhow::bail!("name what to prove: --event-id ID or --from N");
    };
    let logs: Vec<Log> = args.log.map_or_else(|| Log::ALL.to_vec(), |l| vec![l]);
    let mut last_error = None;
    for log in logs {
        match proofs::inclusion(&tree, log, event_id).await {
            Ok((mut bundle, seq)) => {
                let client = connect::nats_as(
                    &settings.nats_url,
                    "buendel-audit",
                    settings.nats_nkey.as_deref(),
                )
                .await?;
                let store = EventStore::new(client, settings.namespace.clone());
                let kind = log.stream();
                let filter = store.namespace().stream_subjects(kind);
                let stored = store.read(kind, &filter, seq, seq).await?;
                bundle.extra = stored.into_iter().next().map(|s| s.payload.to_vec());
                print!("{}", bundle.to_text());
                return Ok(ExitCode::SUCCESS);
            }
            Err(proofs::ProofError::UnknownEvent(..)) => {
                last_error = Some(anyhow::anyhow!("no event {event_id} in the {log} log"));
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no event {event_id}")))
}

/// The keys an auditor pins on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct PinArgs {
    /// A log's verifier key (`buendel audit key` prints them); repeat for both logs.
    #[arg(long = "log-key")]
    pub log_keys: Vec<String>,
    /// A witness's verifier key; repeat for several.
    #[arg(long = "witness-key")]
    pub witness_keys: Vec<String>,
    /// How many of the pinned witnesses must have cosigned (default: all of them).
    #[arg(long)]
    pub witnesses_min: Option<usize>,
}

impl PinArgs {
    /// The parsed keys.
    pub fn pinned(&self) -> anyhow::Result<Pinned> {
        let parse = |vkey: &String| {
            Verifier::parse(vkey).with_context(|| format!("the verifier key {vkey:?}"))
        };
        let logs = self
            .log_keys
            .iter()
            .map(parse)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let witnesses = self
            .witness_keys
            .iter()
            .map(parse)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let witnesses_min = self.witnesses_min.unwrap_or(witnesses.len());
        anyhow::ensure!(
            witnesses_min <= witnesses.len(),
            "--witnesses-min {witnesses_min} but only {} witness keys pinned",
            witnesses.len()
        );
        Ok(Pinned {
            logs,
            witnesses,
            witnesses_min,
        })
    }

    /// Whether any log key is pinned (the transparency check runs only then).
    pub fn any(&self) -> bool {
        !self.log_keys.is_empty()
    }
}

/// `audit verify-proof`.
#[derive(Debug, clap::Args)]
pub struct VerifyProofArgs {
    /// The bundle: a `c2sp.org/tlog-proof@v1` inclusion proof, or a consistency proof (`old N`,
    /// hashes, checkpoint) as `audit prove --from` prints it.
    pub file: PathBuf,
    /// The pinned keys.
    #[command(flatten)]
    pub pins: PinArgs,
    /// The event's stored bytes (one line of an export); else the bundle's `extra` is used.
    #[arg(long)]
    pub event: Option<PathBuf>,
    /// For a consistency proof: the earlier checkpoint this auditor trusts (a file).
    #[arg(long)]
    pub trusted: Option<PathBuf>,
}

/// `buendel audit verify-proof FILE`: checks a bundle against pinned keys only, offline.
pub fn verify_proof(args: &VerifyProofArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let pinned = args.pins.pinned()?;
    anyhow::ensure!(!pinned.logs.is_empty(), "pin the log's key with --log-key");
    let outcome = if text.starts_with("c2sp.org/tlog-proof@v1\n") {
        verify_inclusion_text(&text, args, &pinned)
    } else {
        verify_consistency_text(&text, args, &pinned)
    };
    match outcome {
        Ok(summary) => {
            println!("OK: {summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            println!("FAILED: {error:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn log_key_for<'p>(
    checkpoint_note: &str,
    pinned: &'p Pinned,
) -> anyhow::Result<(Checkpoint, &'p Verifier)> {
    let note = Note::parse(checkpoint_note).context("the checkpoint")?;
    let checkpoint = Checkpoint::parse(&note.text).context("the checkpoint body")?;
    let key = pinned
        .logs
        .iter()
        .find(|k| k.name() == checkpoint.origin)
        .ok_or_else(|| anyhow::anyhow!("no pinned log key is named {:?}", checkpoint.origin))?;
    Ok((checkpoint, key))
}

fn verify_inclusion_text(
    text: &str,
    args: &VerifyProofArgs,
    pinned: &Pinned,
) -> anyhow::Result<String> {
    let bundle = InclusionBundle::parse(text).context("the proof bundle")?;
    let leaf = match &args.event {
        Some(path) => {
            let mut bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            bytes
        }
        None => bundle.extra.clone().ok_or_else(|| {
            anyhow::anyhow!("the bundle holds no event bytes (`extra`): pass --event FILE")
        })?,
    };
    let (_, key) = log_key_for(&bundle.checkpoint, pinned)?;
    let (checkpoint, verified) =
        verify_inclusion_bundle(&bundle, &leaf, key, &pinned.witnesses, pinned.witnesses_min)?;
    let signers: Vec<String> = verified.iter().map(|v| v.name.clone()).collect();
    Ok(format!(
        "leaf {} is in {} at size {}, signed by {}",
        bundle.index,
        checkpoint.origin,
        checkpoint.size,
        signers.join(", ")
    ))
}

fn verify_consistency_text(
    text: &str,
    args: &VerifyProofArgs,
    pinned: &Pinned,
) -> anyhow::Result<String> {
    let bundle = ConsistencyBundle::parse(text).context("the consistency bundle")?;
    let (new, key) = log_key_for(&bundle.checkpoint, pinned)?;
    Note::parse(&bundle.checkpoint)?
        .verify(std::slice::from_ref(key))
        .context("the new checkpoint's signature")?;
    let trusted_path = args.trusted.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "a consistency proof is checked from a checkpoint you trust: pass --trusted FILE"
        )
    })?;
    let trusted_text = std::fs::read_to_string(trusted_path)
        .with_context(|| format!("reading {}", trusted_path.display()))?;
    let (old, old_key) = log_key_for(&trusted_text, pinned)?;
    Note::parse(&trusted_text)?
        .verify(std::slice::from_ref(old_key))
        .context("the trusted checkpoint's signature")?;
    anyhow::ensure!(
        old.origin == new.origin,
        "the checkpoints are of different logs"
    );
    anyhow::ensure!(
        bundle.old_size == old.size,
        "the proof starts at size {}, the trusted checkpoint has {}",
        bundle.old_size,
        old.size
    );
    verify_consistency(old.size, new.size, &old.root, &new.root, &bundle.proof)
        .context("the consistency proof")?;
    Ok(format!(
        "{} at size {} extends the trusted checkpoint of size {}",
        new.origin, new.size, old.size
    ))
}

/// Fresh checkpoints of both logs from the running log service, by log name; a log that cannot be
/// asked is left out (its check then fails for want of a checkpoint).
pub async fn fresh_checkpoints(
    client: &async_nats::Client,
    settings: &Settings,
) -> BTreeMap<String, String> {
    let mut notes = BTreeMap::new();
    for log in Log::ALL {
        match request_checkpoint(client, settings, log).await {
            Ok(note) => {
                notes.insert(log.as_str().to_owned(), note);
            }
            Err(error) => eprintln!("the {log} log's checkpoint: {error:#}"),
        }
    }
    notes
}

/// Loads the auditor's trusted state (`--trusted FILE`), empty without one.
pub fn load_trusted(path: Option<&Path>) -> anyhow::Result<Trusted> {
    path.map_or_else(|| Ok(Trusted::default()), Trusted::load)
}

/// `buendel witness …`
#[derive(Debug, clap::Subcommand)]
pub enum WitnessAction {
    /// Cosign the checkpoints of the logs it trusts (C2SP tlog-witness `POST /add-checkpoint`).
    Serve {
        /// The witness's cosignature key file (`buendel witness keygen` makes one).
        #[arg(long, env = "BUENDEL_WITNESS_KEY_FILE")]
        key: PathBuf,
        /// A log's verifier key it trusts; repeat for several logs.
        #[arg(long = "log-key", required = true)]
        log_keys: Vec<String>,
        /// Its own storage: the latest cosigned checkpoint per log, and the evidence of refusals.
        #[arg(long, env = "BUENDEL_WITNESS_STATE")]
        state: PathBuf,
        /// Where it listens.
        #[arg(long, env = "BUENDEL_WITNESS_ADDR", default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
    /// Make a witness key (type 0x04, timestamped Ed25519 cosignatures); prints its verifier key.
    Keygen {
        /// The file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// The witness's name, e.g. `witness.nbank.example`.
        #[arg(long)]
        name: String,
    },
    /// Print a witness key file's verifier key.
    Key {
        /// The witness's key file.
        #[arg(long, env = "BUENDEL_WITNESS_KEY_FILE")]
        key: PathBuf,
    },
}

fn read_witness_key(path: &Path) -> anyhow::Result<Signer> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let signer =
        Signer::from_private_text(&text).with_context(|| format!("in {}", path.display()))?;
    anyhow::ensure!(
        signer.kind() == KeyKind::Cosignature,
        "{} is not a witness key (type 0x04)",
        path.display()
    );
    Ok(signer)
}

/// `buendel witness …`.
pub async fn witness(action: WitnessAction) -> anyhow::Result<ExitCode> {
    match action {
        WitnessAction::Keygen { out, name } => {
            let signer = Signer::generate(&name, KeyKind::Cosignature)?;
            buendel_transparency::keys::write_secret(&out, &signer.private_text())?;
            eprintln!(
                "wrote the witness key to {} (keep it secret)",
                out.display()
            );
            println!("{}", signer.verifier().vkey());
            Ok(ExitCode::SUCCESS)
        }
        WitnessAction::Key { key } => {
            println!("{}", read_witness_key(&key)?.verifier().vkey());
            Ok(ExitCode::SUCCESS)
        }
        WitnessAction::Serve {
            key,
            log_keys,
            state,
            listen,
        } => {
            let signer = read_witness_key(&key)?;
            let logs = log_keys
                .iter()
                .map(|v| Verifier::parse(v).with_context(|| format!("the log key {v:?}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let witness = Arc::new(Witness::open(signer, logs, &state)?);
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            eprintln!(
                "witness {} listening on http://{}",
                witness.verifier().vkey(),
                listener.local_addr()?
            );
            let shutdown = buendel_runtime::CancellationToken::new();
            tokio::spawn(crate::system::until_signal(shutdown.clone()));
            witness.serve(listener, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
