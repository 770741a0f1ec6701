//! Fuzz targets (bolero) for what reads untrusted bytes: the intake parser, the command decoders
//! (the envelope and each command's `data`), the ledger event decoder and the audit verifier.
//!
//! Under `cargo test` each target runs its committed corpus (`tests/__fuzz__/<target>/corpus/`,
//! valid examples among them, which [`the_valid_examples_of_the_corpus_are_valid`] keeps so) and
//! then random inputs for a bounded number of iterations ([`ITERATIONS`], or
//! `BUENDEL_FUZZ_ITERATIONS` for a longer campaign, see `RELIABILITY.md`). Beyond "never
//! panics", each target checks a property of what it accepts.

use bolero::check;
use chrono::NaiveDate;
use serde_json::Value;

use buendel_contract::commands::{self, Service};
use buendel_contract::ledger::LedgerEvent;
use buendel_contract::reference::ProgramRules;
use buendel_runtime::micro;
use buendel_submission::domain::intake;

/// Random inputs per target under `cargo test`, after the corpus.
const ITERATIONS: usize = 20_000;

fn iterations() -> usize {
    std::env::var("BUENDEL_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ITERATIONS)
}

fn known_alliance(id: &str) -> bool {
    id == "non" || id == "son"
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default()
}

/// Every code the intake may dead-letter a message with at parse time.
const INTAKE_CODES: [&str; 9] = [
    "invalid_utf8",
    "not_json",
    "duplicate_member",
    "lone_surrogate",
    "number_out_of_range",
    "control_character",
    "nesting_too_deep",
    "too_large",
    "invalid_input",
];

#[test]
fn intake() {
    check!()
        .with_iterations(iterations())
        .for_each(|bytes: &[u8]| {
            match intake::validate_event(bytes, &known_alliance) {
                Ok(event) => {
                    assert!(bytes.len() <= intake::MESSAGE_BYTES_MAX);
                    // What is accepted is strict I-JSON, so every part reads it the same way.
                    assert!(buendel_contract::ijson::parse(bytes).is_ok());
                    assert_eq!(event.sha256.len(), 64);
                }
                Err(rejected) => {
                    assert!(INTAKE_CODES.contains(&rejected.code), "{}", rejected.code);
                    assert!(!rejected.reasons.is_empty(), "a refusal says why");
                }
            }
        });
}

/// Runs the service's own parser of command `spec` on `data`: `Some(accepted)`.
fn service_parses(spec: &commands::CommandSpec, data: &Value) -> Option<bool> {
    let rules = [ProgramRules::esf_plus_2021_2027()];
    match spec.service {
        Service::Submission => {
            let event_type = intake::event_type_of_command(spec.name)?;
            Some(intake::validate_data(event_type, data, "data", &known_alliance).is_ok())
        }
        Service::Approval => {
            buendel_approval::input::parse(spec.name, data, &rules).map(|r| r.is_ok())
        }
        Service::Ledger => {
            buendel_ledger::input::parse(spec.name, data, today(), "operator").map(|r| r.is_ok())
        }
    }
}

/// The first byte picks the command of [`commands::ALL`], the rest is the request's payload.
#[test]
fn commands() {
    check!()
        .with_iterations(iterations())
        .for_each(|input: &[u8]| {
            let Some((&pick, payload)) = input.split_first() else {
                return;
            };
            let spec = &commands::ALL[usize::from(pick) % commands::ALL.len()];
            if let Some(refused) = micro::strict_payload(payload) {
                assert!(!refused.is_ok());
                assert!(refused.code().is_some_and(|c| !c.is_empty()));
                return;
            }
            let Ok(envelope) = micro::envelope_of(payload) else {
                return;
            };
            let accepted = service_parses(spec, &envelope.data);
            assert!(accepted.is_some(), "{} has a parser", spec.id());
            if accepted == Some(true) {
                // The service accepts nothing its typed contract refuses.
                assert!(
                    (spec.accepts)(&envelope.data),
                    "{} accepted {} that its type refuses",
                    spec.id(),
                    envelope.data
                );
            }
        });
}

#[test]
fn ledger_event() {
    check!()
        .with_iterations(iterations())
        .for_each(|bytes: &[u8]| {
            let decoded = buendel_runtime::repository::decode::<LedgerEvent>(bytes);
            let inspected =
                buendel_audit::verifier::inspect(1, Some("fuzz.ledger.non-2021-2027"), bytes);
            assert_eq!(inspected.sequence(), 1);
            if let Ok(envelope) = decoded {
                // What decodes serializes again and decodes to the same.
                let again = serde_json::to_vec(&envelope).unwrap_or_default();
                let twice = buendel_runtime::repository::decode::<LedgerEvent>(&again);
                let same =
                    |e: &buendel_contract::Envelope<LedgerEvent>| serde_json::to_value(e).ok();
                assert!(twice.is_ok_and(|t| same(&t) == same(&envelope)));
            }
        });
}

/// The input is an export file: one stored ledger message per line, sequences 1, 2, 3, ...
#[test]
fn audit_verifier() {
    check!()
        .with_iterations(iterations())
        .for_each(|bytes: &[u8]| {
            let mut verifier =
                buendel_audit::Verifier::new(buendel_audit::Options::default()).starting_at(1);
            let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
            let mut pushed = 0;
            for (index, line) in lines.enumerate() {
                pushed += 1;
                if verifier.push(index as u64 + 1, None, line) == buendel_audit::Flow::Stop {
                    break;
                }
            }
            let verified = verifier.finish();
            assert!(verified.report.messages <= pushed);
            if verified.report.first_failure.is_none() {
                // A clean ledger never shows an overdrawn fund.
                for fund in &verified.report.funds {
                    assert!(fund.esf_plus.available.0 >= 0, "{fund:?}");
                    assert!(fund.land.available.0 >= 0, "{fund:?}");
                }
            }
        });
}

/// The committed corpus of `target`: (file name, bytes).
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/__fuzz__")
        .join(target)
        .join("corpus");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("an entry").path();
            let name = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("readable"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{target}: a few seeds");
    files
}

#[test]
fn the_valid_examples_of_the_corpus_are_valid() {
    for (name, bytes) in corpus("intake") {
        let valid = [
            "intake-submitted.json",
            "intake-revised.json",
            "intake-withdrawn.json",
        ];
        let verdict = intake::validate_event(&bytes, &known_alliance);
        assert_eq!(
            verdict.is_ok(),
            valid.contains(&name.as_str()),
            "{name}: {verdict:?}"
        );
    }
    for (name, bytes) in corpus("commands") {
        let spec = &commands::ALL[usize::from(bytes[0]) % commands::ALL.len()];
        let accepted = micro::envelope_of(&bytes[1..])
            .ok()
            .and_then(|envelope| service_parses(spec, &envelope.data));
        assert_eq!(accepted == Some(true), name != "cmd-not-json", "{name}");
    }
    for (name, bytes) in corpus("ledger_event") {
        let decoded = buendel_runtime::repository::decode::<LedgerEvent>(&bytes);
        assert!(decoded.is_ok(), "{name}: {decoded:?}");
    }
    for (name, bytes) in corpus("audit_verifier") {
        let mut verifier =
            buendel_audit::Verifier::new(buendel_audit::Options::default()).starting_at(1);
        for (index, line) in bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            verifier.push(index as u64 + 1, None, line);
        }
        let clean = verifier.finish().report.first_failure.is_none();
        let valid = ["demo_ledger.jsonl", "first_eight.jsonl"];
        assert_eq!(clean, valid.contains(&name.as_str()), "{name}");
    }
}
