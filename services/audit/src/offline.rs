//! `buendel audit verify --file DIR/ledger.jsonl`: the same verification from an export, with no
//! NATS and no Postgres.
//!
//! Line i of `ledger.jsonl` is the stored message at the i-th stream sequence of the manifest
//! (`first_sequence` onwards, without `missing_sequences`; lines beyond the manifest continue the
//! count). The subject is not in the file: the envelope's own `subject` is checked against its
//! fund. Afterwards the file is compared with `manifest.json` (SHA-256, counts, final hashes); what
//! disagrees is listed in `differences`. Without a manifest the lines are sequences 1, 2, 3, ...
//! and the missing manifest is a difference.
//!
//! Speed: each line is parsed once into a `serde_json::Value`, hashed from it and decoded from it;
//! those stateless checks run on all cores in batches, the in-order checks and the fold on one.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read};
use std::path::Path;
use std::sync::mpsc;

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use buendel_contract::canonical::hex;

use crate::manifest::{Manifest, MANIFEST_FILE};
use crate::report::{Difference, Options, Report};
use crate::verifier::{inspect, Flow, Inspected, Verifier};
use crate::PROGRESS_EVERY;

/// How many lines are inspected in parallel at a time (progress is reported after each batch).
const BATCH_LINES: usize = PROGRESS_EVERY as usize;
/// How many inspected batches may wait for the in-order stage.
const BATCHES_IN_FLIGHT: usize = 2;

/// Verifies an export file. `progress(done, total)` is called every [`PROGRESS_EVERY`] lines and
/// at the end (`total` from the manifest, 0 without one).
pub fn verify_file(
    path: &Path,
    options: &Options,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Report> {
    let manifest_path = path.with_file_name(MANIFEST_FILE);
    let manifest = if manifest_path.exists() {
        Some(Manifest::read(&manifest_path)?)
    } else {
        None
    };
    let total = manifest.as_ref().map_or(0, |m| m.events);
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut sha = Sha256::new();
    let mut sequences: Box<dyn Iterator<Item = u64>> = match &manifest {
        Some(m) => Box::new(m.sequences().chain(m.last_sequence.saturating_add(1)..)),
        None => Box::new(1..),
    };
    let verifier = Verifier::new(options.clone()).starting_at(1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut lines = 0_u64;
    // Batches are inspected on all cores while the previous one goes through the in-order stage.
    let (verifier, read) = std::thread::scope(|scope| -> anyhow::Result<(Verifier, u64)> {
        let (batches, received) = mpsc::sync_channel::<Vec<Item>>(BATCHES_IN_FLIGHT);
        let in_order = scope.spawn(move || {
            let mut verifier = verifier;
            'batches: for batch in received {
                for item in batch {
                    let flow = match item {
                        Item::Inspected(inspected) => verifier.push_inspected(inspected),
                        Item::Skipped(sequence) => verifier.push_sequence(sequence),
                    };
                    if flow == Flow::Stop {
                        break 'batches;
                    }
                }
            }
            verifier
        });
        let mut batch: Vec<(u64, Vec<u8>)> = Vec::with_capacity(BATCH_LINES);
        let mut stopped = false;
        loop {
            let mut line = Vec::with_capacity(1024);
            let read = reader
                .read_until(b'\n', &mut line)
                .with_context(|| format!("reading {}", path.display()))?;
            if read == 0 {
                break;
            }
            sha.update(&line);
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            let Some(sequence) = sequences.next() else {
                break;
            };
            lines += 1;
            batch.push((sequence, line));
            if batch.len() == BATCH_LINES {
                let inspected = inspect_batch(&batch, options, threads);
                batch.clear();
                progress(lines, total);
                if batches.send(inspected).is_err() {
                    // The in-order stage stopped at a failure: the rest is only hashed.
                    stopped = true;
                    break;
                }
            }
        }
        if !stopped && !batch.is_empty() {
            let _stopped_already = batches.send(inspect_batch(&batch, options, threads));
        }
        drop(batches);
        let verifier = match in_order.join() {
            Ok(verifier) => verifier,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        Ok((verifier, lines))
    })?;
    lines = read;
    // The file is hashed whole even when verification stopped early.
    lines +=
        hash_rest(&mut reader, &mut sha).with_context(|| format!("reading {}", path.display()))?;
    progress(lines, total);

    let verified = match &manifest {
        Some(m) => {
            let last = options
                .until_seq
                .map_or(m.last_sequence, |until| until.min(m.last_sequence));
            verifier.finish_at(last)
        }
        None => verifier.finish(),
    };
    let mut report = verified.report;
    report.differences = match &manifest {
        Some(m) => manifest_differences(m, &report, &hex(&sha.finalize()), lines),
        None => vec![Difference::new(
            "manifest",
            MANIFEST_FILE,
            "an export manifest next to the file",
            "none",
        )],
    };
    report.settle();
    Ok(report)
}

/// Hashes what is left of the file; returns how many lines it holds.
fn hash_rest(reader: &mut impl Read, sha: &mut Sha256) -> std::io::Result<u64> {
    let mut buffer = vec![0_u8; 1 << 20];
    let mut lines = 0_u64;
    let mut last = b'\n';
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        let part = &buffer[..read];
        sha.update(part);
        lines += part.iter().filter(|b| **b == b'\n').count() as u64;
        last = part[read - 1];
    }
    if last != b'\n' {
        lines += 1;
    }
    Ok(lines)
}

/// One line after the stateless stage.
enum Item {
    /// Inspected.
    Inspected(Inspected),
    /// Not inspected: `--fund` names another fund; only its sequence is checked.
    Skipped(u64),
}

/// Inspects a batch on up to `threads` threads, keeping the order.
fn inspect_batch(batch: &[(u64, Vec<u8>)], options: &Options, threads: usize) -> Vec<Item> {
    let wanted = |bytes: &[u8]| -> bool {
        // A cheap pre-filter for `--fund`: a line that does not even mention the fund is not
        // inspected. A line that does is inspected and filtered by the fund it names.
        options.fund.as_ref().is_none_or(|fund| {
            bytes
                .windows(fund.len())
                .any(|window| window == fund.as_bytes())
        })
    };
    let inspect_part = |part: &[(u64, Vec<u8>)]| -> Vec<Item> {
        part.iter()
            .map(|(sequence, bytes)| {
                if wanted(bytes) {
                    Item::Inspected(inspect(*sequence, None, bytes))
                } else {
                    Item::Skipped(*sequence)
                }
            })
            .collect()
    };
    let chunk = batch.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| scope.spawn(move || inspect_part(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(part) => part,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// What the file says otherwise than its manifest.
fn manifest_differences(
    manifest: &Manifest,
    report: &Report,
    sha256: &str,
    lines: u64,
) -> Vec<Difference> {
    let mut out = Vec::new();
    if sha256 != manifest.ledger_sha256 {
        out.push(Difference::new(
            "manifest",
            "ledger_sha256",
            sha256,
            &manifest.ledger_sha256,
        ));
    }
    if lines != manifest.events {
        out.push(Difference::new(
            "manifest",
            "events",
            lines,
            manifest.events,
        ));
    }
    let whole = report.first_failure.is_none()
        && report.options.fund.is_none()
        && report
            .options
            .until_seq
            .is_none_or(|until| until >= manifest.last_sequence);
    if !whole {
        return out;
    }
    for fund in &report.funds {
        let Some(listed) = manifest.fund(&fund.fund_id) else {
            out.push(Difference::new(
                "manifest",
                format!("fund {}", fund.fund_id),
                "in the file",
                "not listed",
            ));
            continue;
        };
        let key = |what: &str| format!("fund {} {what}", fund.fund_id);
        if fund.events != listed.events {
            out.push(Difference::new(
                "manifest",
                key("events"),
                fund.events,
                listed.events,
            ));
        }
        if fund.first_sequence != listed.first_sequence {
            out.push(Difference::new(
                "manifest",
                key("first_sequence"),
                fund.first_sequence,
                listed.first_sequence,
            ));
        }
        if fund.last_sequence != listed.last_sequence {
            out.push(Difference::new(
                "manifest",
                key("last_sequence"),
                fund.last_sequence,
                listed.last_sequence,
            ));
        }
        if fund.final_hash != listed.final_hash {
            out.push(Difference::new(
                "manifest",
                key("final_hash"),
                &fund.final_hash,
                &listed.final_hash,
            ));
        }
    }
    for listed in &manifest.funds {
        if report.fund(&listed.fund_id).is_none() {
            out.push(Difference::new(
                "manifest",
                format!("fund {}", listed.fund_id),
                "not in the file",
                "listed",
            ));
        }
    }
    out
}
