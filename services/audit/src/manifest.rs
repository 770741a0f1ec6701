//! `manifest.json` of an export: what the auditor takes home besides the events, so the file can be
//! checked whole and read back with its stream sequences.
//!
//! `ledger.jsonl` holds the stored messages byte for byte, one per line, in stream order; the
//! manifest says which stream sequences they are (`first_sequence` to `last_sequence`, without
//! `missing_sequences`), how many events each fund has, the head of each fund's chain, and the
//! SHA-256 of both files.

use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The export format this crate writes and reads.
pub const FORMAT: &str = "buendel-ledger-export/1";
/// The events file.
pub const LEDGER_FILE: &str = "ledger.jsonl";
/// The manifest file.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The postings file.
pub const POSTINGS_FILE: &str = "postings.csv";

/// What an export holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The namespace it was exported from.
    pub namespace: String,
    /// The JetStream stream, e.g. `BUENDEL_LEDGER`.
    pub stream: String,
    /// When the export was written.
    pub exported_at: DateTime<Utc>,
    /// The stream sequence of the first line (1: the ledger from its first event).
    pub first_sequence: u64,
    /// The stream sequence of the last line (0 for an empty ledger).
    pub last_sequence: u64,
    /// Sequences in the range the stream did not deliver (always empty for a whole ledger).
    pub missing_sequences: Vec<u64>,
    /// How many lines (stored messages) `ledger.jsonl` has.
    pub events: u64,
    /// The `prevhash` of every fund's first event.
    pub genesis_hash: String,
    /// Every fund, by id.
    pub funds: Vec<ManifestFund>,
    /// Lowercase hex SHA-256 of `ledger.jsonl`.
    pub ledger_sha256: String,
    /// Its size in bytes.
    pub ledger_bytes: u64,
    /// Lowercase hex SHA-256 of `postings.csv`.
    pub postings_sha256: String,
    /// Sequences of messages that could not be read as ledger events (none in a sound ledger);
    /// they are in `ledger.jsonl` as stored but have no postings.
    pub unreadable_sequences: Vec<u64>,
}

/// One fund of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFund {
    /// The fund (the last token of its subject).
    pub fund_id: String,
    /// Its events in the file.
    pub events: u64,
    /// The stream sequence of its first event.
    pub first_sequence: u64,
    /// The stream sequence of its last event.
    pub last_sequence: u64,
    /// The `hash` of its last event.
    pub final_hash: String,
}

impl Manifest {
    /// Reads `manifest.json`.
    pub fn read(path: &Path) -> anyhow::Result<Manifest> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not an export manifest", path.display()))?;
        anyhow::ensure!(
            manifest.format == FORMAT,
            "{} has the format {:?}, not {FORMAT:?}",
            path.display(),
            manifest.format
        );
        Ok(manifest)
    }

    /// The stream sequence of each line, in order.
    pub fn sequences(&self) -> impl Iterator<Item = u64> + '_ {
        let mut missing = self.missing_sequences.iter().copied().peekable();
        (self.first_sequence..=self.last_sequence).filter(move |sequence| {
            while missing.peek().is_some_and(|m| m < sequence) {
                missing.next();
            }
            missing.peek() != Some(sequence)
        })
    }

    /// One fund.
    pub fn fund(&self, fund_id: &str) -> Option<&ManifestFund> {
        self.funds.iter().find(|f| f.fund_id == fund_id)
    }
}
