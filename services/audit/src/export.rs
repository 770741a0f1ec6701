//! `buendel audit export --out DIR`: what an auditor takes home.
//!
//! - `ledger.jsonl`: every stored LEDGER message, byte for byte as stored, one per line (`\n`), in
//!   stream order. A stored event is compact JSON and never holds a newline; one that did could not
//!   be exported byte for byte, and the export refuses it.
//! - `manifest.json` ([`Manifest`]): stream sequences, counts and final hashes per fund, SHA-256
//!   of the files.
//! - `postings.csv`: one row per posting, with a header, for a spreadsheet.
//!
//! The export trusts nothing but the stream: no read model is consulted. [`ExportWriter`] does the
//! writing from stored messages; [`export`] feeds it from JetStream.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use buendel_contract::canonical::hex;
use buendel_contract::ledger::{LedgerEvent, GENESIS_HASH};
use buendel_contract::namespace::StreamKind;
use buendel_contract::{Envelope, EventKind as _};
use buendel_runtime::EventStore;

use crate::manifest::{Manifest, ManifestFund, FORMAT, LEDGER_FILE, MANIFEST_FILE, POSTINGS_FILE};
use crate::verifier::subject_fund;
use crate::{PROGRESS_EVERY, SCAN_CHUNK};

/// The header of `postings.csv`.
pub const POSTINGS_HEADER: &str =
    "sequence,event_id,event_type,fund_id,value_date,proposal_id,source,debit,credit,amount_cents,hash";

/// Writes an export from stored messages fed in stream order.
pub struct ExportWriter {
    /// The output directory.
    dir: PathBuf,
    /// `ledger.jsonl`.
    ledger: HashingWriter,
    /// `postings.csv`.
    postings: HashingWriter,
    /// What goes into the manifest.
    manifest: Manifest,
    /// Per fund, by id.
    funds: BTreeMap<String, ManifestFund>,
    /// The sequence the next message should have.
    next_sequence: u64,
}

/// A buffered file writer that hashes what it writes.
struct HashingWriter {
    file: BufWriter<File>,
    sha: Sha256,
    bytes: u64,
}

impl HashingWriter {
    fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            file: BufWriter::with_capacity(1 << 20, file),
            sha: Sha256::new(),
            bytes: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.file.write_all(bytes)?;
        self.sha.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<(String, u64)> {
        self.file.flush()?;
        self.file
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        Ok((hex(&self.sha.finalize()), self.bytes))
    }
}

impl ExportWriter {
    /// Creates `dir` (if needed) and the files in it.
    pub fn create(dir: &Path, namespace: &str, stream: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let ledger = HashingWriter::create(&dir.join(LEDGER_FILE))?;
        let mut postings = HashingWriter::create(&dir.join(POSTINGS_FILE))?;
        postings.write(POSTINGS_HEADER.as_bytes())?;
        postings.write(b"\n")?;
        Ok(Self {
            dir: dir.to_owned(),
            ledger,
            postings,
            manifest: Manifest {
                format: FORMAT.to_owned(),
                namespace: namespace.to_owned(),
                stream: stream.to_owned(),
                exported_at: chrono::Utc::now(),
                first_sequence: 1,
                last_sequence: 0,
                missing_sequences: Vec::new(),
                events: 0,
                genesis_hash: GENESIS_HASH.to_owned(),
                funds: Vec::new(),
                ledger_sha256: String::new(),
                ledger_bytes: 0,
                postings_sha256: String::new(),
                unreadable_sequences: Vec::new(),
            },
            funds: BTreeMap::new(),
            next_sequence: 1,
        })
    }

    /// Appends one stored message.
    pub fn push(&mut self, sequence: u64, subject: &str, payload: &[u8]) -> anyhow::Result<()> {
        anyhow::ensure!(
            sequence >= self.next_sequence,
            "stream sequence {sequence} after {}: messages out of order",
            self.next_sequence.saturating_sub(1)
        );
        anyhow::ensure!(
            !payload.contains(&b'\n'),
            "the message at stream sequence {sequence} holds a newline: it cannot be one line of \
             JSON Lines byte for byte"
        );
        self.manifest
            .missing_sequences
            .extend(self.next_sequence..sequence);
        self.next_sequence = sequence + 1;
        self.manifest.last_sequence = sequence;
        self.manifest.events += 1;
        self.ledger.write(payload)?;
        self.ledger.write(b"\n")?;

        let fund_id = subject_fund(subject);
        let hash = match serde_json::from_slice::<Envelope<LedgerEvent>>(payload) {
            Ok(envelope) => {
                self.write_postings(sequence, &envelope)?;
                envelope.hash
            }
            Err(_) => {
                self.manifest.unreadable_sequences.push(sequence);
                serde_json::from_slice::<serde_json::Value>(payload)
                    .ok()
                    .and_then(|v| v.get("hash").and_then(|h| h.as_str()).map(str::to_owned))
            }
        };
        let fund = self
            .funds
            .entry(fund_id.to_owned())
            .or_insert_with(|| ManifestFund {
                fund_id: fund_id.to_owned(),
                events: 0,
                first_sequence: sequence,
                last_sequence: sequence,
                final_hash: String::new(),
            });
        fund.events += 1;
        fund.last_sequence = sequence;
        fund.final_hash = hash.unwrap_or_default();
        Ok(())
    }

    fn write_postings(
        &mut self,
        sequence: u64,
        envelope: &Envelope<LedgerEvent>,
    ) -> anyhow::Result<()> {
        let event = &envelope.event;
        let proposal = event
            .proposal_id()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let hash = envelope.hash.as_deref().unwrap_or_default();
        for posting in event.postings() {
            let row = [
                sequence.to_string(),
                envelope.id.to_string(),
                event.event_type().to_owned(),
                event.fund_id().to_owned(),
                event.value_date().to_string(),
                proposal.clone(),
                posting.source.as_str().to_owned(),
                posting.debit.to_string(),
                posting.credit.to_string(),
                posting.amount_cents.0.to_string(),
                hash.to_owned(),
            ];
            let line = row
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(",");
            self.postings.write(line.as_bytes())?;
            self.postings.write(b"\n")?;
        }
        Ok(())
    }

    /// Closes the files and writes `manifest.json`; the export ends at its last message.
    pub fn finish(self) -> anyhow::Result<Manifest> {
        let last = self.manifest.last_sequence;
        self.finish_at(last)
    }

    /// Closes the files and writes `manifest.json` for an export of the stream up to
    /// `last_sequence`: sequences after the last message read are listed as missing.
    pub fn finish_at(self, last_sequence: u64) -> anyhow::Result<Manifest> {
        let mut manifest = self.manifest;
        if last_sequence > manifest.last_sequence {
            manifest
                .missing_sequences
                .extend(self.next_sequence..=last_sequence);
            manifest.last_sequence = last_sequence;
        }
        let (ledger_sha256, ledger_bytes) = self.ledger.finish()?;
        let (postings_sha256, _) = self.postings.finish()?;
        manifest.ledger_sha256 = ledger_sha256;
        manifest.ledger_bytes = ledger_bytes;
        manifest.postings_sha256 = postings_sha256;
        manifest.funds = self.funds.into_values().collect();
        let path = self.dir.join(MANIFEST_FILE);
        let mut json = serde_json::to_vec_pretty(&manifest)?;
        json.push(b'\n');
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
        Ok(manifest)
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// Exports LEDGER as it stands now (up to its last sequence when the export starts) into
/// `out_dir`. `progress(done, total)` is called every [`PROGRESS_EVERY`] messages and at the end.
pub async fn export(
    store: &EventStore,
    out_dir: &Path,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Manifest> {
    let kind = StreamKind::Ledger;
    let namespace = store.namespace();
    let last = store
        .stream_last_sequence(kind)
        .await
        .context("reading the LEDGER stream")?;
    let mut writer = ExportWriter::create(out_dir, namespace.as_str(), &namespace.stream(kind))?;
    let filter = namespace.stream_subjects(kind);
    let mut failed: Option<anyhow::Error> = None;
    let mut done = 0_u64;
    let mut from = 1;
    while from <= last && failed.is_none() {
        let to = from.saturating_add(SCAN_CHUNK - 1).min(last);
        store
            .scan(kind, &filter, from, to, |stored| {
                if failed.is_none() {
                    if let Err(error) =
                        writer.push(stored.sequence, &stored.subject, &stored.payload)
                    {
                        failed = Some(error);
                    }
                    done += 1;
                    if done.is_multiple_of(PROGRESS_EVERY) {
                        progress(done, last);
                    }
                }
                Ok(())
            })
            .await
            .with_context(|| format!("reading LEDGER from {from} to {to}"))?;
        from = to + 1;
    }
    if let Some(error) = failed {
        return Err(error);
    }
    progress(done, last);
    writer.finish_at(last)
}
