//! Export files: written by [`ExportWriter`] from stored messages, verified by [`verify_file`]
//! without NATS or Postgres, tampered with on disk.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use buendel_contract::canonical::hex;

use super::*;
use crate::export::{ExportWriter, POSTINGS_HEADER};
use crate::manifest::{Manifest, LEDGER_FILE, MANIFEST_FILE, POSTINGS_FILE};
use crate::report::Check;
use crate::verify_file;

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("buendel-audit-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn ledger(&self) -> PathBuf {
        self.0.join(LEDGER_FILE)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn export(ledger: &Ledger) -> (TempDir, Manifest) {
    let dir = TempDir::new();
    let manifest = write(&dir.0, &ledger.messages);
    (dir, manifest)
}

fn write(dir: &Path, messages: &[Message]) -> Manifest {
    let mut writer = ExportWriter::create(dir, "t", "T_LEDGER").expect("created");
    for message in messages {
        writer
            .push(message.sequence, &message.subject, &message.bytes)
            .expect("pushed");
    }
    writer.finish().expect("finished")
}

fn rewrite_lines(dir: &TempDir, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    std::fs::write(dir.ledger(), bytes).expect("written");
}

fn verify_path(dir: &TempDir, options: &Options) -> Report {
    verify_file(&dir.ledger(), options, |_, _| {}).expect("readable")
}

#[test]
fn an_export_verifies_offline_exactly_as_the_replay_did() {
    let ledger = sample();
    let (dir, manifest) = export(&ledger);
    let offline = verify_path(&dir, &Options::default());
    assert!(offline.ok, "{}", crate::human(&offline));
    assert!(offline.differences.is_empty());
    let online = verify(&ledger.online(), Options::default());
    assert_eq!(offline.verification(), online.verification());
    assert_eq!(manifest.events, 13);
    assert_eq!((manifest.first_sequence, manifest.last_sequence), (1, 13));
    let non = manifest.fund(NON).expect("non");
    assert_eq!(non.final_hash, ledger.head(NON));
    assert_eq!(non.events, 10);
}

#[test]
fn the_export_holds_the_stored_bytes_and_the_manifest_their_sha256() {
    let ledger = sample();
    let (dir, manifest) = export(&ledger);
    let file = std::fs::read(dir.ledger()).expect("file");
    let mut expected = Vec::new();
    for message in &ledger.messages {
        expected.extend_from_slice(&message.bytes);
        expected.push(b'\n');
    }
    assert_eq!(file, expected);
    assert_eq!(manifest.ledger_sha256, hex(&Sha256::digest(&file)));
    assert_eq!(manifest.ledger_bytes, file.len() as u64);
    let on_disk = Manifest::read(&dir.0.join(MANIFEST_FILE)).expect("manifest");
    assert_eq!(on_disk, manifest);

    let csv = std::fs::read_to_string(dir.0.join(POSTINGS_FILE)).expect("csv");
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some(POSTINGS_HEADER));
    let postings: usize = ledger.events.iter().map(|(_, e)| e.postings().len()).sum();
    let rows: Vec<&str> = rows.collect();
    assert_eq!(rows.len(), postings);
    assert!(rows[0].starts_with("1,"));
    assert!(
        rows[0].contains(",esf_plus,available,budget,200571429,"),
        "{}",
        rows[0]
    );
    assert_eq!(
        manifest.postings_sha256,
        hex(&Sha256::digest(csv.as_bytes()))
    );
}

#[test]
fn one_changed_amount_in_the_file_fails_that_events_hash_and_the_files_sha256() {
    let ledger = sample();
    let (dir, _) = export(&ledger);
    let mut lines = ledger.lines();
    let text = String::from_utf8(lines[5].clone()).expect("utf8");
    lines[5] = text
        .replacen("\"esf_cents\":1500000", "\"esf_cents\":1500001", 1)
        .into_bytes();
    rewrite_lines(&dir, &lines);
    let report = verify_path(&dir, &Options::default());
    let failure = report.first_failure.clone().expect("caught");
    assert_eq!((failure.sequence, failure.check), (6, Check::Hash));
    assert_eq!(
        failure.event_id,
        Some(envelope_of(&ledger.messages[5].bytes).id)
    );
    assert!(report.differences.iter().any(|d| d.key == "ledger_sha256"));
}

#[test]
fn a_removed_last_line_breaks_no_link_but_disagrees_with_the_manifest() {
    let ledger = sample();
    let (dir, _) = export(&ledger);
    let mut lines = ledger.lines();
    lines.pop();
    rewrite_lines(&dir, &lines);
    let report = verify_path(&dir, &Options::default());
    assert!(!report.ok);
    let failure = report
        .first_failure
        .clone()
        .expect("the last sequence is missing");
    assert_eq!(
        (failure.sequence, failure.check),
        (13, Check::StreamSequence)
    );
    let keys: Vec<&str> = report.differences.iter().map(|d| d.key.as_str()).collect();
    assert!(keys.contains(&"ledger_sha256"), "{keys:?}");
    assert!(keys.contains(&"events"), "{keys:?}");
}

#[test]
fn swapped_events_of_two_funds_keep_each_chain_but_not_the_files_sha256() {
    let ledger = sample();
    let (dir, _) = export(&ledger);
    let mut lines = ledger.lines();
    lines.swap(7, 8);
    rewrite_lines(&dir, &lines);
    let report = verify_path(&dir, &Options::default());
    assert_eq!(report.first_failure, None);
    assert!(!report.ok);
    let keys: Vec<&str> = report.differences.iter().map(|d| d.key.as_str()).collect();
    assert!(keys.contains(&"ledger_sha256"), "{keys:?}");
    assert!(
        keys.contains(&"fund son-2021-2027 last_sequence"),
        "{keys:?}"
    );
}

#[test]
fn a_line_appended_to_the_file_is_checked_as_the_next_sequence() {
    let mut ledger = sample();
    let (dir, _) = export(&ledger);
    let event = LedgerEvent::FundsExpired(buendel_contract::ledger::FundsExpired {
        fund_id: NON.into(),
        expired: buendel_contract::ledger::Amounts::new(1, 0),
        value_date: day(2028, 1, 2),
        postings: Vec::new(),
    })
    .journaled();
    let id = Uuid::from_u128(0xa99);
    ledger.append(NON, id, "cmd-late", event, Some(GENESIS_HASH));
    rewrite_lines(&dir, &ledger.lines());
    let report = verify_path(&dir, &Options::default());
    let failure = report.first_failure.clone().expect("caught");
    assert_eq!(
        (failure.sequence, failure.event_id, failure.check),
        (14, Some(id), Check::Prevhash)
    );
    assert!(report.differences.iter().any(|d| d.key == "events"));
}

#[test]
fn a_file_without_its_manifest_is_read_from_sequence_one_and_says_so() {
    let ledger = sample();
    let (dir, _) = export(&ledger);
    std::fs::remove_file(dir.0.join(MANIFEST_FILE)).expect("removed");
    let report = verify_path(&dir, &Options::default());
    assert_eq!(report.first_failure, None);
    assert_eq!(report.events, 13);
    assert_eq!(report.differences.len(), 1);
    assert!(!report.ok);
}

#[test]
fn a_file_is_verified_for_one_fund_up_to_a_sequence() {
    let ledger = sample();
    let (dir, _) = export(&ledger);
    let options = Options {
        fund: Some(NON.into()),
        until_seq: Some(9),
        as_of: Some(day(2025, 4, 30)),
    };
    let offline = verify_path(&dir, &options);
    let online = verify(&ledger.online()[..9], options.clone());
    assert!(offline.ok, "{}", crate::human(&offline));
    assert_eq!(offline.verification(), online.verification());
    let non = offline.fund(NON).expect("non");
    assert_eq!((non.events, non.last_sequence), (6, 9));
    assert_eq!(
        non.balances_events, 4,
        "up to the first tranche on 15 April"
    );
}

#[test]
fn progress_is_reported_with_the_manifests_total() {
    let ledger = sample();
    let (dir, _) = export(&ledger);
    let mut calls = Vec::new();
    verify_file(&dir.ledger(), &Options::default(), |done, total| {
        calls.push((done, total))
    })
    .expect("verified");
    assert_eq!(calls.last(), Some(&(13, 13)));
}

#[test]
fn a_stored_message_holding_a_newline_cannot_be_exported_byte_for_byte() {
    let dir = TempDir::new();
    let mut writer = ExportWriter::create(&dir.0, "t", "T_LEDGER").expect("created");
    let refused = writer.push(1, "t.ledger.non-2021-2027", b"{\n}");
    assert!(refused.is_err());
}

#[test]
fn missing_sequences_are_skipped_when_lines_are_numbered() {
    let ledger = sample();
    let dir = TempDir::new();
    let mut messages = ledger.messages.clone();
    messages.remove(4);
    let manifest = write(&dir.0, &messages);
    assert_eq!(manifest.missing_sequences, vec![5]);
    let numbered: Vec<u64> = manifest.sequences().collect();
    assert_eq!(numbered.len(), 12);
    assert!(!numbered.contains(&5));
    let report = verify_path(&dir, &Options::default());
    let failure = report.first_failure.clone().expect("the gap");
    assert_eq!(
        (failure.sequence, failure.check),
        (6, Check::StreamSequence)
    );
    let online: Vec<_> = messages
        .iter()
        .map(|m| (m.sequence, Some(m.subject.clone()), m.bytes.clone()))
        .collect();
    assert_eq!(
        report.verification(),
        verify(&online, Options::default()).verification()
    );
}
