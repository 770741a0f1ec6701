//! How fast an export is verified offline: `cargo test -p buendel-audit --release -- --ignored
//! offline_speed --nocapture` (sizes from `AUDIT_SPEED_FUNDS` and `AUDIT_SPEED_PROJECTS`).

use std::time::Instant;

use super::*;
use crate::export::ExportWriter;
use crate::manifest::LEDGER_FILE;
use crate::verify_file;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `funds` funds, each with `projects` projects reserved, committed, paid twice and closed.
fn large(funds: u64, projects: u64) -> Ledger {
    let mut ledger = Ledger::default();
    for f in 0..funds {
        let fund_id = format!("f{f}-2021-2027");
        ledger.run(
            &fund_id,
            Command::AllocateBudget {
                fund_id: fund_id.clone(),
                esf: Cents(1_000_000_000_000),
                land: Cents(100_000_000_000),
                commit_deadline: day(2027, 12, 31),
                today: day(2025, 1, 2),
            },
        );
        for n in 0..projects {
            let proposal = Uuid::from_u128(u128::from(f) << 64 | u128::from(n));
            let on = day(2025, 3, 1);
            ledger.run(&fund_id, reserve(proposal, 600_000, 100_000, on));
            ledger.run(
                &fund_id,
                Command::Commit {
                    proposal_id: proposal,
                    esf: Cents(600_000),
                    land: Cents(100_000),
                    today: on,
                },
            );
            ledger.run(
                &fund_id,
                disburse(proposal, &format!("A{n}"), 200_000, 0, on),
            );
            ledger.run(
                &fund_id,
                disburse(proposal, &format!("B{n}"), 300_000, 50_000, on),
            );
            ledger.run(
                &fund_id,
                Command::CloseProject {
                    proposal_id: proposal,
                    today: on,
                },
            );
        }
    }
    ledger
}

#[test]
#[ignore = "a measurement, run in release"]
fn offline_speed() {
    let funds = env_or("AUDIT_SPEED_FUNDS", 1_000);
    let projects = env_or("AUDIT_SPEED_PROJECTS", 100);
    let built = Instant::now();
    let ledger = large(funds, projects);
    let dir = std::env::temp_dir().join(format!("buendel-audit-speed-{}", Uuid::new_v4().simple()));
    let mut writer = ExportWriter::create(&dir, "t", "T_LEDGER").expect("created");
    for m in &ledger.messages {
        writer
            .push(m.sequence, &m.subject, &m.bytes)
            .expect("pushed");
    }
    let manifest = writer.finish().expect("written");
    let events = ledger.messages.len() as u64;
    eprintln!(
        "built and exported {events} events ({} bytes) in {:?}",
        manifest.ledger_bytes,
        built.elapsed()
    );
    drop(ledger);
    let started = Instant::now();
    let report =
        verify_file(&dir.join(LEDGER_FILE), &Options::default(), |_, _| {}).expect("verified");
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        report.ok,
        "{}",
        crate::human(&report)[..2000.min(crate::human(&report).len())].to_owned()
    );
    eprintln!(
        "verified {events} events offline in {elapsed:?}: {:.0} events/s",
        events as f64 / elapsed.as_secs_f64()
    );
}
