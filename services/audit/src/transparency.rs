//! The auditor's check of the transparency logs, trusting none of the log's own state: it
//! recomputes each tree from the stored messages, and demands of the signed checkpoint that
//!
//! - it is signed by a pinned log key whose name is its origin, and the origin is the log's
//!   (`…/ledger`, `…/reviews`), and by at least `witnesses_min` of the pinned witness keys;
//! - its size is not beyond the messages read (a checkpoint over events the stream no longer holds
//!   is a rewritten or truncated history) and its root is the recomputed root at its size;
//! - it extends the last checkpoint this auditor trusted (`--trusted FILE`): the recomputed root at
//!   that size is the trusted root, and its size is not below it. The trusted state is the
//!   auditor's own file, never chosen by the server; it moves forward only after a passing audit.
//!
//! [`TreeReplay`] is fed the leaves; [`check`] decides; [`Trusted`] is the file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use buendel_tlog::{leaf_hash, Checkpoint, Frontier, Hash, Note, Verifier};

/// The keys an auditor pins.
#[derive(Debug, Clone, Default)]
pub struct Pinned {
    /// The logs' verifier keys (each named by its origin).
    pub logs: Vec<Verifier>,
    /// The witnesses' verifier keys.
    pub witnesses: Vec<Verifier>,
    /// How many of the pinned witnesses must have cosigned.
    pub witnesses_min: usize,
}

/// What an auditor holds of one log from its last passing audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedCheckpoint {
    /// Its size.
    pub size: u64,
    /// Its root (base64).
    pub root: String,
    /// The checkpoint note as verified.
    pub checkpoint: String,
}

/// The auditor's trusted state, by origin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trusted {
    /// Per origin.
    pub logs: BTreeMap<String, TrustedCheckpoint>,
}

impl Trusted {
    /// Reads the file (empty when it does not exist yet).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        buendel_runtime::files::read_json_or_default(path)
            .context("reading the trusted checkpoints")
    }

    /// Writes the file atomically ([`buendel_runtime::files::write_json_atomically`]).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        buendel_runtime::files::write_json_atomically(path, self)
    }
}

/// A tree recomputed from the leaves in stream order, keeping the roots at the sizes asked for.
#[derive(Debug, Clone, Default)]
pub struct TreeReplay {
    /// The tree so far.
    frontier: Frontier,
    /// Sizes whose root is wanted, with the root once reached.
    wanted: BTreeMap<u64, Option<Hash>>,
}

impl TreeReplay {
    /// A replay that keeps the roots at `sizes`.
    pub fn new(sizes: impl IntoIterator<Item = u64>) -> Self {
        let mut wanted: BTreeMap<u64, Option<Hash>> =
            sizes.into_iter().map(|s| (s, None)).collect();
        if let Some(root) = wanted.get_mut(&0) {
            *root = Some(buendel_tlog::EMPTY_ROOT);
        }
        Self {
            frontier: Frontier::new(),
            wanted,
        }
    }

    /// Appends one leaf: a stored message's bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.push_hash(leaf_hash(bytes));
    }

    /// Appends one leaf hash.
    pub fn push_hash(&mut self, leaf: Hash) {
        self.frontier.push(leaf, |_, _| {});
        let size = self.frontier.size();
        if let Some(root) = self.wanted.get_mut(&size) {
            *root = Some(self.frontier.root());
        }
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The root now.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The root at a wanted size, once reached.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        self.wanted.get(&size).copied().flatten()
    }
}

/// One log as audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogReport {
    /// `ledger` or `reviews`.
    pub log: String,
    /// The checkpoint's origin.
    pub origin: Option<String>,
    /// Messages read (leaves recomputed).
    pub leaves: u64,
    /// The root recomputed over all of them (base64).
    pub root: String,
    /// The checkpoint's size.
    pub checkpoint_size: Option<u64>,
    /// Who signed it, of the pinned keys: the log, then each witness (with its timestamp).
    pub signed_by: Vec<String>,
    /// The trusted size it was checked against.
    pub trusted_size: Option<u64>,
    /// What is wrong, if anything: the audit fails.
    pub failure: Option<String>,
    /// When the failure is an event that differs from the one the log signed, and the export's
    /// leaf list locates it: its position (line of the export, stream sequence from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_differing_sequence: Option<u64>,
}

fn b64(hash: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// Before a log's leaves are read: the trusted checkpoint of the origin `note` names, and a replay
/// that keeps the roots `check` needs (at the checkpoint's size and at the trusted one's). The note
/// is only read here; `check` verifies it.
fn prepare<'t>(
    note: Option<&str>,
    trusted: &'t Trusted,
) -> (Option<&'t TrustedCheckpoint>, TreeReplay) {
    let checkpoint = note
        .and_then(|n| Note::parse(n).ok())
        .and_then(|n| Checkpoint::parse(&n.text).ok());
    let held = checkpoint
        .as_ref()
        .and_then(|c| trusted.logs.get(&c.origin));
    let sizes = checkpoint
        .map(|c| c.size)
        .into_iter()
        .chain(held.map(|h| h.size));
    (held, TreeReplay::new(sizes))
}

/// After a log's leaves are read: [`check`], the report kept, the trusted state moved forward if it
/// passed.
fn conclude(
    log: &str,
    note: Option<&str>,
    replay: &TreeReplay,
    pinned: &Pinned,
    held: Option<&TrustedCheckpoint>,
    next: &mut Trusted,
) -> LogReport {
    let (report, passed) = check(log, note, replay, pinned, held);
    if let (Some(passed), Some(origin)) = (passed, &report.origin) {
        next.logs.insert(origin.clone(), passed);
    }
    report
}

/// Checks the signed checkpoint `note` of `log` against the replayed tree, the pinned keys and the
/// trusted state. Returns the report and, when it passed, the new trusted checkpoint.
pub fn check(
    log: &str,
    note: Option<&str>,
    replay: &TreeReplay,
    pinned: &Pinned,
    trusted: Option<&TrustedCheckpoint>,
) -> (LogReport, Option<TrustedCheckpoint>) {
    let mut report = LogReport {
        log: log.to_owned(),
        origin: None,
        leaves: replay.size(),
        root: b64(&replay.root()),
        checkpoint_size: None,
        signed_by: Vec::new(),
        trusted_size: trusted.map(|t| t.size),
        failure: None,
        first_differing_sequence: None,
    };
    match check_inner(log, note, replay, pinned, trusted, &mut report) {
        Ok(next) => (report, Some(next)),
        Err(failure) => {
            report.failure = Some(failure);
            (report, None)
        }
    }
}

fn check_inner(
    log: &str,
    note: Option<&str>,
    replay: &TreeReplay,
    pinned: &Pinned,
    trusted: Option<&TrustedCheckpoint>,
    report: &mut LogReport,
) -> Result<TrustedCheckpoint, String> {
    let note_text = note.ok_or("no signed checkpoint of this log was found")?;
    let note = Note::parse(note_text).map_err(|e| format!("the checkpoint note: {e}"))?;
    let checkpoint =
        Checkpoint::parse(&note.text).map_err(|e| format!("the checkpoint body: {e}"))?;
    report.origin = Some(checkpoint.origin.clone());
    report.checkpoint_size = Some(checkpoint.size);
    if !checkpoint.origin.ends_with(&format!("/{log}")) {
        return Err(format!(
            "the checkpoint's origin {:?} is not a {log} log's",
            checkpoint.origin
        ));
    }
    let log_keys: Vec<Verifier> = pinned
        .logs
        .iter()
        .filter(|k| k.name() == checkpoint.origin)
        .cloned()
        .collect();
    if log_keys.is_empty() {
        return Err(format!(
            "no pinned log key is named {:?} (pin it with --log-key)",
            checkpoint.origin
        ));
    }
    let by_log = note
        .verify(&log_keys)
        .map_err(|e| format!("the log's signature: {e}"))?;
    report
        .signed_by
        .extend(by_log.iter().map(|v| v.name.clone()));
    if pinned.witnesses_min > 0 || !pinned.witnesses.is_empty() {
        let by_witnesses = match note.verify(&pinned.witnesses) {
            Ok(verified) => verified,
            Err(_) if pinned.witnesses_min == 0 => Vec::new(),
            Err(e) => return Err(format!("the witnesses' cosignatures: {e}")),
        };
        report
            .signed_by
            .extend(by_witnesses.iter().map(|v| match v.timestamp {
                Some(t) => format!("{} (cosigned at {t})", v.name),
                None => v.name.clone(),
            }));
        if by_witnesses.len() < pinned.witnesses_min {
            return Err(format!(
                "{} of the pinned witnesses cosigned, {} required",
                by_witnesses.len(),
                pinned.witnesses_min
            ));
        }
    }
    if checkpoint.size > replay.size() {
        return Err(format!(
            "the checkpoint covers {} events, the stream holds {}: signed history is missing",
            checkpoint.size,
            replay.size()
        ));
    }
    let root = replay
        .root_at(checkpoint.size)
        .ok_or_else(|| format!("the root at size {} was not kept", checkpoint.size))?;
    if root != checkpoint.root {
        return Err(format!(
            "the events' root at size {} is {}, the checkpoint signs {}",
            checkpoint.size,
            b64(&root),
            b64(&checkpoint.root)
        ));
    }
    if let Some(trusted) = trusted {
        if checkpoint.size < trusted.size {
            return Err(format!(
                "the checkpoint has {} leaves, fewer than the {} trusted before: the log went back",
                checkpoint.size, trusted.size
            ));
        }
        let at = replay
            .root_at(trusted.size)
            .ok_or_else(|| format!("the root at the trusted size {} was not kept", trusted.size))?;
        if b64(&at) != trusted.root {
            return Err(format!(
                "history rewritten: the events' root at the trusted size {} is {}, the checkpoint \
                 trusted before signs {}",
                trusted.size,
                b64(&at),
                trusted.root
            ));
        }
    }
    Ok(TrustedCheckpoint {
        size: checkpoint.size,
        root: b64(&checkpoint.root),
        checkpoint: note_text.to_owned(),
    })
}

/// The logs an auditor checks: `ledger` over LEDGER, `reviews` over REVIEWS.
pub const LOGS: [(&str, buendel_contract::namespace::StreamKind); 2] = [
    ("ledger", buendel_contract::namespace::StreamKind::Ledger),
    ("reviews", buendel_contract::namespace::StreamKind::Reviews),
];

/// The export file holding a log's stored messages, one per line.
pub fn messages_file(log: &str) -> String {
    format!("{log}.jsonl")
}

/// The export file listing the log's own leaf hashes (base64, one per line) up to its checkpoint.
/// Unauthenticated: it is used only to say which event differs, and only when its root is the
/// signed root.
pub fn leaves_file(log: &str) -> String {
    format!("{log}.leaves")
}

/// The first leaf whose recomputed hash is not the one `listed` (the log's own leaf hashes) holds,
/// once `listed` is shown to be the tree the checkpoint signs; `None` when it is not (a damaged or
/// forged list locates nothing) or no leaf differs.
pub fn first_differing_leaf(
    listed: &[Hash],
    signed_root: &Hash,
    recomputed: impl IntoIterator<Item = Hash>,
) -> Option<u64> {
    let mut frontier = Frontier::new();
    for leaf in listed {
        frontier.push(*leaf, |_, _| {});
    }
    if frontier.root() != *signed_root {
        return None;
    }
    listed
        .iter()
        .zip(recomputed)
        .position(|(signed, found)| *signed != found)
        .map(|index| index as u64)
}

/// The export file holding a log's latest signed checkpoint.
pub fn checkpoint_file(log: &str) -> String {
    format!("{log}.checkpoint")
}

/// Checks every log against its checkpoint in `notes` (by log name), replaying each stream from
/// sequence 1. Returns the reports and the trusted state moved forward for each log that passed.
pub async fn verify_logs_online(
    store: &buendel_runtime::EventStore,
    notes: &BTreeMap<String, String>,
    pinned: &Pinned,
    trusted: &Trusted,
) -> anyhow::Result<(Vec<LogReport>, Trusted)> {
    let mut reports = Vec::new();
    let mut next = trusted.clone();
    for (log, kind) in LOGS {
        let note = notes.get(log).map(String::as_str);
        let (held, mut replay) = prepare(note, trusted);
        let last = store
            .stream_last_sequence(kind)
            .await
            .with_context(|| format!("reading the {} stream", kind.suffix()))?;
        let filter = store.namespace().stream_subjects(kind);
        let mut from = 1;
        while from <= last {
            let to = from.saturating_add(crate::SCAN_CHUNK - 1).min(last);
            store
                .scan(kind, &filter, from, to, |stored| {
                    replay.push(&stored.payload);
                    Ok(())
                })
                .await
                .with_context(|| format!("reading {} from {from} to {to}", kind.suffix()))?;
            from = to + 1;
        }
        reports.push(conclude(log, note, &replay, pinned, held, &mut next));
    }
    Ok((reports, next))
}

/// [`verify_logs_online`] from an export directory: `ledger.jsonl` and `reviews.jsonl` (stored
/// bytes, one message per line) with `ledger.checkpoint` and `reviews.checkpoint`. A log whose
/// files are missing fails.
pub fn verify_logs_files(
    dir: &Path,
    pinned: &Pinned,
    trusted: &Trusted,
) -> anyhow::Result<(Vec<LogReport>, Trusted)> {
    let mut reports = Vec::new();
    let mut next = trusted.clone();
    for (log, _) in LOGS {
        let note = match std::fs::read_to_string(dir.join(checkpoint_file(log))) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", checkpoint_file(log)))
            }
        };
        let (held, mut replay) = prepare(note.as_deref(), trusted);
        let path = dir.join(messages_file(log));
        let present = match std::fs::File::open(&path) {
            Ok(file) => {
                replay_lines(file, &mut replay)
                    .with_context(|| format!("reading {}", path.display()))?;
                true
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
            Err(error) => return Err(error).with_context(|| format!("opening {}", path.display())),
        };
        let mut report = conclude(log, note.as_deref(), &replay, pinned, held, &mut next);
        if report.failure.is_some() && present {
            locate_in_files(dir, log, note.as_deref(), &mut report)?;
        }
        reports.push(report);
    }
    Ok((reports, next))
}

/// After a failed check of an export: where the log's leaf list (`<log>.leaves`) is the signed
/// tree, names the first event of `<log>.jsonl` that is not the one the log signed.
fn locate_in_files(
    dir: &Path,
    log: &str,
    note: Option<&str>,
    report: &mut LogReport,
) -> anyhow::Result<()> {
    let Some(checkpoint) = note
        .and_then(|n| Note::parse(n).ok())
        .and_then(|n| Checkpoint::parse(&n.text).ok())
    else {
        return Ok(());
    };
    let listed = match std::fs::read_to_string(dir.join(leaves_file(log))) {
        Ok(text) => text
            .lines()
            .map(|line| {
                base64::engine::general_purpose::STANDARD
                    .decode(line)
                    .ok()
                    .and_then(|b| Hash::try_from(b).ok())
            })
            .collect::<Option<Vec<Hash>>>(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("reading {}", leaves_file(log))),
    };
    let Some(listed) = listed else {
        return Ok(());
    };
    let path = dir.join(messages_file(log));
    let mut recomputed = Vec::with_capacity(listed.len());
    leaf_hashes(std::fs::File::open(&path)?, |hash| recomputed.push(hash))
        .with_context(|| format!("reading {}", path.display()))?;
    if let Some(index) = first_differing_leaf(&listed, &checkpoint.root, recomputed) {
        report.first_differing_sequence = Some(index + 1);
        if let Some(failure) = &mut report.failure {
            failure.push_str(&format!(
                "; the first event that is not the one the log signed is line {} of {} (leaf {index})",
                index + 1,
                messages_file(log)
            ));
        }
    }
    Ok(())
}

/// How many bytes of an export are read at a time.
const READ_CHUNK_BYTES: usize = 4 << 20;

/// Replays a JSON Lines file: each line's bytes (without its `\n`) is a leaf. The leaf hashes of
/// a chunk are computed on every core; the tree is built in order.
pub fn replay_lines(file: impl std::io::Read, replay: &mut TreeReplay) -> std::io::Result<()> {
    leaf_hashes(file, |hash| replay.push_hash(hash))
}

/// The leaf hash of every line of a JSON Lines file, in order, into `sink`: reads in large
/// chunks, hashes each chunk's lines on every core. With a sink that only counts, this is the raw
/// SHA-256 throughput of the same bytes (the limit `buendel bench` measures the replay against).
pub fn leaf_hashes(
    mut file: impl std::io::Read,
    mut sink: impl FnMut(Hash),
) -> std::io::Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut buffer: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES * 2);
    let mut chunk = vec![0_u8; READ_CHUNK_BYTES];
    let mut hashes: Vec<Hash> = Vec::new();
    loop {
        let read = file.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
        let Some(end) = buffer.iter().rposition(|b| *b == b'\n') else {
            continue;
        };
        hash_lines(&buffer[..end], threads, &mut hashes);
        for hash in hashes.drain(..) {
            sink(hash);
        }
        buffer.drain(..=end);
    }
    if !buffer.is_empty() {
        sink(leaf_hash(&buffer));
    }
    Ok(())
}

/// The leaf hashes of the `\n`-separated lines of `bytes` (no trailing `\n`), in order.
fn hash_lines(bytes: &[u8], threads: usize, out: &mut Vec<Hash>) {
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let part = lines.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(part)
            .map(|part| scope.spawn(move || part.iter().map(|l| leaf_hash(l)).collect::<Vec<_>>()))
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(hashes) => out.extend(hashes),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
}

/// Writes `reviews.jsonl` (every REVIEWS message, byte for byte, in stream order), each log's
/// checkpoint file and each log's leaf list (`leaves`, by log name) into an export directory.
/// `notes` should be asked for before the streams are read, so that the export holds every
/// message the checkpoints cover.
pub async fn export_logs(
    store: &buendel_runtime::EventStore,
    dir: &Path,
    notes: &BTreeMap<String, String>,
    leaves: &BTreeMap<String, Vec<Hash>>,
) -> anyhow::Result<u64> {
    use std::io::Write as _;
    let kind = buendel_contract::namespace::StreamKind::Reviews;
    let path = dir.join(messages_file("reviews"));
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let last = store.stream_last_sequence(kind).await?;
    let filter = store.namespace().stream_subjects(kind);
    let mut written = 0_u64;
    let mut from = 1;
    while from <= last {
        let to = from.saturating_add(crate::SCAN_CHUNK - 1).min(last);
        let mut failed: Option<anyhow::Error> = None;
        store
            .scan(kind, &filter, from, to, |stored| {
                if failed.is_some() {
                    return Ok(());
                }
                if stored.payload.contains(&b'\n') {
                    failed = Some(anyhow::anyhow!(
                        "the REVIEWS message at sequence {} holds a newline",
                        stored.sequence
                    ));
                } else if let Err(error) = out
                    .write_all(&stored.payload)
                    .and_then(|()| out.write_all(b"\n"))
                {
                    failed = Some(anyhow::Error::new(error).context("writing reviews.jsonl"));
                } else {
                    written += 1;
                }
                Ok(())
            })
            .await?;
        if let Some(error) = failed {
            return Err(error);
        }
        from = to + 1;
    }
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    for (log, note) in notes {
        std::fs::write(dir.join(checkpoint_file(log)), note)
            .with_context(|| format!("writing {}", checkpoint_file(log)))?;
    }
    for (log, hashes) in leaves {
        let mut text = String::with_capacity(hashes.len() * 45);
        for hash in hashes {
            text.push_str(&b64(hash));
            text.push('\n');
        }
        std::fs::write(dir.join(leaves_file(log)), text)
            .with_context(|| format!("writing {}", leaves_file(log)))?;
    }
    Ok(written)
}
