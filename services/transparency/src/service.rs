//! The log service: follows LEDGER and REVIEWS, appends every message as a leaf, signs checkpoints
//! on a cadence and on request, and has each cosigned by the witnesses.
//!
//! Crash safety: leaves and their nodes are written per batch in one transaction that also moves
//! the head ([`TreeStore::append`]), so a crash between reading the stream and committing loses
//! nothing (the next start reads from the head again) and books nothing twice (the head is checked
//! under its lock). A checkpoint is signed only over the persisted tree and only after the root of
//! the previous checkpoint's size, recomputed from the persisted nodes, equals that checkpoint's
//! root: the log never signs two inconsistent checkpoints, even over damaged tables. A crash
//! between signing and storing loses an unpublished signature, nothing else.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;

use buendel_runtime::{CancellationToken, Clock, EventStore};
use buendel_tlog::{
    leaf_hash, root_at, root_nodes, Checkpoint, ConsistencyBundle, Frontier, Signer,
};

use crate::tree::{Leaf, StoredCheckpoint, TreeError, TreeStore};
use crate::witness::{AddOutcome, WitnessClient};
use crate::{Log, LogKey};

/// Every limit of the log service, named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogServiceLimits {
    /// Messages read from a stream per scan.
    pub scan_max: u64,
    /// Leaves appended per transaction.
    pub batch_max: usize,
    /// How long to wait before looking at a stream again once caught up.
    pub idle_poll_ms: u64,
    /// A checkpoint is issued this often when the tree has grown.
    pub cadence_ms: u64,
    /// How long a witness may take to answer.
    pub witness_timeout_ms: u64,
    /// How long to wait after an error before trying again.
    pub retry_ms: u64,
}

impl Default for LogServiceLimits {
    fn default() -> Self {
        Self {
            scan_max: 10_000,
            batch_max: 2_000,
            idle_poll_ms: 200,
            cadence_ms: 10_000,
            witness_timeout_ms: 5_000,
            retry_ms: 1_000,
        }
    }
}

/// The subject on which a checkpoint is asked for on demand (`<ns>.tlog.checkpoint`); the request
/// names the log (`ledger` or `reviews`), the reply is the signed checkpoint or `error: ...`.
pub fn checkpoint_subject(namespace: &str) -> String {
    format!("{namespace}.tlog.checkpoint")
}

/// The log service of one namespace.
#[derive(Clone)]
pub struct LogService {
    /// The streams.
    store: EventStore,
    /// The tree.
    tree: TreeStore,
    /// One signer per log.
    signers: Arc<HashMap<Log, Signer>>,
    /// The witnesses each checkpoint is sent to.
    witnesses: Vec<WitnessClient>,
    /// When checkpoints are issued (its `now` is their `issued_at`).
    clock: Clock,
    /// Its limits.
    limits: LogServiceLimits,
}

/// Why a checkpoint could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The tables.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The persisted tree does not extend the last signed checkpoint: nothing is signed.
    #[error(
        "refusing to sign: the {log} tree's root at size {size} is {found}, but the checkpoint \
         signed at that size has {signed}"
    )]
    Inconsistent {
        /// The log.
        log: Log,
        /// The earlier checkpoint's size.
        size: u64,
        /// The root recomputed now (base64).
        found: String,
        /// The root signed then (base64).
        signed: String,
    },
    /// Signing or computing failed.
    #[error("{0}")]
    Other(String),
}

fn b64(hash: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(hash)
}

impl LogService {
    /// A log service signing with `key`.
    pub fn new(
        store: EventStore,
        tree: TreeStore,
        key: &LogKey,
        witnesses: Vec<WitnessClient>,
        clock: Clock,
        limits: LogServiceLimits,
    ) -> anyhow::Result<Self> {
        let mut signers = HashMap::new();
        for log in Log::ALL {
            signers.insert(log, key.signer(log)?);
        }
        Ok(Self {
            store,
            tree,
            signers: Arc::new(signers),
            witnesses,
            clock,
            limits,
        })
    }

    /// The tree it writes.
    pub fn tree(&self) -> &TreeStore {
        &self.tree
    }

    fn signer(&self, log: Log) -> Result<&Signer, IssueError> {
        self.signers
            .get(&log)
            .ok_or_else(|| IssueError::Other(format!("no signer for the {log} log")))
    }

    /// Runs until `shutdown`: a follower per log, the cadence, the on-demand endpoint.
    pub async fn run(
        self,
        client: async_nats::Client,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for log in Log::ALL {
            let service = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move { service.follow(log, shutdown).await });
        }
        {
            let service = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move { service.cadence(shutdown).await });
        }
        {
            let service = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move { service.on_demand(client, shutdown).await });
        }
        tracing::info!("transparency log running");
        let mut result = Ok(());
        while let Some(joined) = tasks.join_next().await {
            let outcome = joined
                .context("a transparency log task panicked")
                .and_then(|r| r);
            if let Err(error) = outcome {
                shutdown.cancel();
                result = Err(error);
            }
        }
        result
    }

    /// Appends every message of the log's stream after the head, until `shutdown`.
    async fn follow(&self, log: Log, shutdown: CancellationToken) -> anyhow::Result<()> {
        while !shutdown.is_cancelled() {
            let wait_ms = match self.catch_up(log).await {
                Ok(0) => self.limits.idle_poll_ms,
                Ok(_) => 0,
                Err(error) => {
                    tracing::warn!(%error, %log, "transparency log: appending failed; retrying");
                    self.limits.retry_ms
                }
            };
            if wait_ms > 0 {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
                }
            }
        }
        Ok(())
    }

    /// Appends what the stream holds beyond the head (at most [`LogServiceLimits::scan_max`]
    /// messages); returns how many leaves were appended.
    pub async fn catch_up(&self, log: Log) -> anyhow::Result<u64> {
        let kind = log.stream();
        let head = self.tree.head(log).await?;
        let last = self
            .store
            .stream_last_sequence(kind)
            .await
            .with_context(|| format!("reading the {} stream", kind.suffix()))?;
        if last <= head.last_seq {
            return Ok(0);
        }
        let from = head.last_seq + 1;
        let to = last.min(head.last_seq.saturating_add(self.limits.scan_max));
        let filter = self.store.namespace().stream_subjects(kind);
        let mut leaves = Vec::new();
        self.store
            .scan(kind, &filter, from, to, |stored| {
                leaves.push(Leaf {
                    seq: stored.sequence,
                    event_id: event_id(&stored.payload),
                    hash: leaf_hash(&stored.payload),
                });
                Ok(())
            })
            .await
            .with_context(|| format!("reading {} from {from} to {to}", kind.suffix()))?;
        let mut frontier = self.tree.frontier_at(log, head.size).await?;
        for batch in leaves.chunks(self.limits.batch_max.max(1)) {
            frontier = self.tree.append(log, &frontier, batch).await?;
        }
        Ok(leaves.len() as u64)
    }

    async fn cadence(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut interval = tokio::time::interval(Duration::from_millis(self.limits.cadence_ms));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = interval.tick() => {}
            }
            for log in Log::ALL {
                if let Err(error) = self.issue(log).await {
                    tracing::error!(%error, %log, "transparency log: no checkpoint issued");
                }
            }
        }
    }

    async fn on_demand(
        &self,
        client: async_nats::Client,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let subject = checkpoint_subject(self.store.namespace().as_str());
        let mut requests = client
            .queue_subscribe(subject.clone(), "tlog".to_owned())
            .await
            .with_context(|| format!("subscribing to {subject}"))?;
        loop {
            let request = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                request = requests.next() => request,
            };
            let Some(request) = request else {
                anyhow::bail!("the subscription to {subject} ended");
            };
            let Some(reply) = request.reply.clone() else {
                continue;
            };
            let answer = match std::str::from_utf8(&request.payload)
                .ok()
                .and_then(|s| s.trim().parse::<Log>().ok())
            {
                None => "error: name the log, `ledger` or `reviews`".to_owned(),
                Some(log) => {
                    let issued = async {
                        self.catch_up(log).await?;
                        Ok::<_, anyhow::Error>(self.issue(log).await?)
                    }
                    .await;
                    match issued {
                        Ok(Some(checkpoint)) => checkpoint.cosigned,
                        Ok(None) => "error: the log is empty".to_owned(),
                        Err(error) => format!("error: {error:#}"),
                    }
                }
            };
            if let Err(error) = client.publish(reply, answer.into()).await {
                tracing::warn!(%error, "transparency log: answering a checkpoint request failed");
            }
        }
    }

    /// Issues a checkpoint over the persisted tree if it grew since the last one (else returns the
    /// last), then sends it to every witness. `None` for an empty log with no checkpoint.
    pub async fn issue(&self, log: Log) -> Result<Option<StoredCheckpoint>, IssueError> {
        let head = self.tree.head(log).await?;
        let latest = self.tree.latest_checkpoint(log).await?;
        if let Some(latest) = &latest {
            if latest.size >= head.size {
                return Ok(Some(latest.clone()));
            }
        }
        if head.size == 0 {
            return Ok(None);
        }
        let frontier = self.tree.frontier_at(log, head.size).await?;
        if let Some(previous) = &latest {
            let ids = root_nodes(previous.size);
            let nodes = self.tree.nodes(log, &ids).await?;
            let found = root_at(previous.size, |id| nodes.get(&id).copied()).map_err(|e| {
                IssueError::Other(format!("the root at size {}: {e}", previous.size))
            })?;
            if found != previous.root {
                return Err(IssueError::Inconsistent {
                    log,
                    size: previous.size,
                    found: b64(&found),
                    signed: b64(&previous.root),
                });
            }
        }
        let checkpoint = self.sign(log, &frontier)?;
        self.tree.insert_checkpoint(&checkpoint).await?;
        self.cosign(&checkpoint).await;
        Ok(self.tree.checkpoint(log, checkpoint.size).await?)
    }

    fn sign(&self, log: Log, frontier: &Frontier) -> Result<StoredCheckpoint, IssueError> {
        let signer = self.signer(log)?;
        let body = Checkpoint {
            origin: signer.name().to_owned(),
            size: frontier.size(),
            root: frontier.root(),
            extensions: Vec::new(),
        };
        let note = signer
            .sign_note(&body.to_text())
            .map_err(|e| IssueError::Other(format!("signing the {log} checkpoint: {e}")))?;
        Ok(StoredCheckpoint {
            log,
            size: body.size,
            root: body.root,
            cosigned: note.clone(),
            note,
            issued_at: self.clock.now(),
        })
    }

    /// Sends a checkpoint to every witness with a consistency proof from the last one it cosigned,
    /// and keeps the cosignatures they return. A witness that refuses or cannot be reached is
    /// logged and tried again with the next checkpoint.
    async fn cosign(&self, checkpoint: &StoredCheckpoint) {
        for witness in &self.witnesses {
            if let Err(error) = self.cosign_with(witness, checkpoint).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    witness = witness.url(),
                    log = %checkpoint.log,
                    size = checkpoint.size,
                    "a witness did not cosign"
                );
            }
        }
    }

    async fn cosign_with(
        &self,
        witness: &WitnessClient,
        checkpoint: &StoredCheckpoint,
    ) -> anyhow::Result<()> {
        let log = checkpoint.log;
        let mut old = self.tree.witness_size(log, witness.url()).await?;
        // One retry: a 409 tells the size the witness holds.
        for _ in 0..2 {
            if old > checkpoint.size {
                anyhow::bail!("the witness holds size {old}, beyond {}", checkpoint.size);
            }
            let proof =
                crate::proofs::consistency_hashes(&self.tree, log, old, checkpoint.size).await?;
            let body = ConsistencyBundle {
                old_size: old,
                proof,
                checkpoint: checkpoint.note.clone(),
            };
            match witness
                .add_checkpoint(&body.to_text(), self.limits.witness_timeout_ms)
                .await?
            {
                AddOutcome::Cosigned(lines) => {
                    self.tree
                        .add_cosignatures(log, checkpoint.size, &lines)
                        .await?;
                    self.tree
                        .set_witness_size(log, witness.url(), checkpoint.size)
                        .await?;
                    return Ok(());
                }
                AddOutcome::Conflict(size) => {
                    self.tree.set_witness_size(log, witness.url(), size).await?;
                    old = size;
                }
                AddOutcome::Refused { status, body } => {
                    anyhow::bail!("refused with {status}: {}", body.trim());
                }
            }
        }
        anyhow::bail!("the witness's size kept changing")
    }
}

/// The event id of a stored message, where it can be read.
fn event_id(payload: &[u8]) -> Option<uuid::Uuid> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: uuid::Uuid,
    }
    serde_json::from_slice::<Id>(payload).ok().map(|i| i.id)
}
