//! A ledger appended through the real repository verifies clean online and offline, with the same
//! summary; `--as-of`, `--fund` and `--until-seq` agree between the two.

use buendel_audit::manifest::LEDGER_FILE;
use buendel_audit::{export, human, verify_file, verify_online, Options};
use buendel_contract::Cents;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_ledger_built_through_the_repository_verifies_online_and_offline_alike() {
    let mut ledger = TestLedger::new().await;
    drive(&mut ledger).await;

    let mut calls = 0;
    let online = verify_online(&ledger.store, None, &Options::default(), |_, _| calls += 1)
        .await
        .expect("verified");
    assert!(online.ok, "{}", human(&online));
    assert!(calls >= 1);
    assert_eq!(online.events, 13);
    assert_eq!(
        (online.first_sequence, online.last_sequence),
        (Some(1), Some(13))
    );
    let non = online.fund(NON).expect("non");
    assert_eq!(non.total.allocated, Cents(234_000_000));
    assert_eq!(non.total.disbursed, Cents(20_500_000));
    assert_eq!(non.total.repaid, Cents(900_000));
    assert!(non.trial_balance_zero);

    let manifest = export(&ledger.store, &ledger.dir, |_, _| {})
        .await
        .expect("exported");
    assert_eq!(manifest.events, 13);
    assert_eq!(manifest.fund(NON).expect("non").final_hash, non.final_hash);
    let offline = verify_file(
        &ledger.dir.join(LEDGER_FILE),
        &Options::default(),
        |_, _| {},
    )
    .expect("verified");
    assert!(offline.ok, "{}", human(&offline));
    assert_eq!(
        offline, online,
        "identical reports, differences included (none)"
    );

    for options in [
        Options {
            as_of: Some(day(2025, 12, 31)),
            ..Options::default()
        },
        Options {
            fund: Some(SON.into()),
            ..Options::default()
        },
        Options {
            until_seq: Some(9),
            as_of: Some(day(2025, 4, 30)),
            ..Options::default()
        },
    ] {
        let online = verify_online(&ledger.store, None, &options, |_, _| {})
            .await
            .expect("verified");
        let offline =
            verify_file(&ledger.dir.join(LEDGER_FILE), &options, |_, _| {}).expect("verified");
        assert!(online.ok, "{options:?}: {}", human(&online));
        assert_eq!(offline.verification(), online.verification(), "{options:?}");
    }
    let mid = verify_online(
        &ledger.store,
        None,
        &Options {
            as_of: Some(day(2025, 12, 31)),
            ..Options::default()
        },
        |_, _| {},
    )
    .await
    .expect("verified");
    let non = mid.fund(NON).expect("non");
    assert_eq!(
        non.total.disbursed,
        Cents(1_750_000),
        "only the first tranche by then"
    );
    assert_eq!(non.total.committed, Cents(21_000_000));
    assert_eq!(non.balances_events, 5);

    ledger.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_ledger_verifies_and_exports_empty() {
    let ledger = TestLedger::new().await;
    let online = verify_online(&ledger.store, None, &Options::default(), |_, _| {})
        .await
        .expect("verified");
    assert!(online.ok);
    assert_eq!(online.events, 0);
    let manifest = export(&ledger.store, &ledger.dir, |_, _| {})
        .await
        .expect("exported");
    assert_eq!((manifest.events, manifest.last_sequence), (0, 0));
    let offline = verify_file(
        &ledger.dir.join(LEDGER_FILE),
        &Options::default(),
        |_, _| {},
    )
    .expect("verified");
    assert_eq!(offline, online);
    ledger.cleanup().await;
}

mod tampered {
    //! Each tampering of the issue, done on an export file, caught at the right first event.

    use std::path::{Path, PathBuf};

    use uuid::Uuid;

    use buendel_audit::manifest::{LEDGER_FILE, MANIFEST_FILE};
    use buendel_audit::{export, verify_file, Check, Failure, Options};
    use buendel_contract::envelope::derived_event_id;
    use buendel_contract::ledger::{seal, LedgerEvent, Source};
    use buendel_contract::{Aggregate as _, Cents, Envelope, Meta};
    use buendel_ledger::domain::Command;

    use crate::helpers::*;

    /// The exported lines, and a way to verify a tampered copy with the original manifest.
    struct Export {
        dir: PathBuf,
        lines: Vec<Vec<u8>>,
        copies: u32,
    }

    impl Export {
        fn verify(&mut self, lines: &[Vec<u8>]) -> Failure {
            self.copies += 1;
            let copy = self.dir.join(format!("tampered-{}", self.copies));
            std::fs::create_dir_all(&copy).expect("dir");
            std::fs::copy(self.dir.join(MANIFEST_FILE), copy.join(MANIFEST_FILE)).expect("copy");
            let mut bytes = Vec::new();
            for line in lines {
                bytes.extend_from_slice(line);
                bytes.push(b'\n');
            }
            std::fs::write(copy.join(LEDGER_FILE), bytes).expect("write");
            let report = verify_file(&copy.join(LEDGER_FILE), &Options::default(), |_, _| {})
                .expect("readable");
            assert!(!report.ok);
            report.first_failure.expect("a bad event is named")
        }

        fn envelope(&self, sequence: u64) -> Envelope<LedgerEvent> {
            serde_json::from_slice(&self.lines[(sequence - 1) as usize]).expect("envelope")
        }

        fn id(&self, sequence: u64) -> Uuid {
            self.envelope(sequence).id
        }
    }

    fn named(failure: &Failure) -> (Option<&str>, u64, Option<Uuid>, Check) {
        (
            failure.fund_id.as_deref(),
            failure.sequence,
            failure.event_id,
            failure.check,
        )
    }

    fn read_lines(path: &Path) -> Vec<Vec<u8>> {
        std::fs::read(path)
            .expect("file")
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// A valid next event of NON, sealed onto `prevhash` under `cause` with `id`.
    async fn next_event(
        ledger: &TestLedger,
        cause: &str,
        id: Uuid,
        prevhash: Option<&str>,
    ) -> Vec<u8> {
        let loaded = ledger.repo.reload(NON).await.expect("loaded");
        let event = loaded
            .state
            .decide(&Command::AdjustBudget {
                source: Source::Land,
                delta_cents: Cents(100),
                reason: "ministry letter".into(),
                today: day(2026, 12, 1),
            })
            .expect("accepted")
            .remove(0);
        let meta = Meta {
            source: "/buendel/ledger".into(),
            time: buendel_testing::test_now(),
            correlation_id: None,
            causation_id: None,
            actor: "operator".into(),
        };
        let mut envelope = Envelope::new(id, NON, loaded.version + 1, event, &meta);
        envelope.causationid = Some(cause.to_owned());
        let head = loaded.last_hash.clone().expect("a chain");
        seal(&mut envelope, prevhash.unwrap_or(&head)).expect("sealed");
        serde_json::to_vec(&envelope).expect("json")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_tampering_of_an_export_names_the_first_bad_event() {
        let mut ledger = TestLedger::new().await;
        drive(&mut ledger).await;
        export(&ledger.store, &ledger.dir, |_, _| {})
            .await
            .expect("exported");
        let mut file = Export {
            dir: ledger.dir.clone(),
            lines: read_lines(&ledger.dir.join(LEDGER_FILE)),
            copies: 0,
        };
        let lines = file.lines.clone();

        // One changed amount: the hash of that event.
        let mut changed = lines.clone();
        let text = String::from_utf8(changed[5].clone()).expect("utf8");
        changed[5] = text
            .replacen("\"esf_cents\":1500000", "\"esf_cents\":1500001", 1)
            .into_bytes();
        let failure = file.verify(&changed);
        assert_eq!(
            named(&failure),
            (Some(NON), 6, Some(file.id(6)), Check::Hash)
        );

        // One removed event: the next event of its fund no longer links.
        let mut removed = lines.clone();
        removed.remove(8);
        let failure = file.verify(&removed);
        assert_eq!(
            named(&failure),
            (Some(NON), 9, Some(file.id(10)), Check::Prevhash)
        );

        // Two swapped events: the later one, now first, does not link.
        let mut swapped = lines.clone();
        swapped.swap(8, 9);
        let failure = file.verify(&swapped);
        assert_eq!(
            named(&failure),
            (Some(NON), 9, Some(file.id(10)), Check::Prevhash)
        );

        // A recomputed hash on an altered event: the next link breaks.
        let mut envelope = file.envelope(6);
        let LedgerEvent::DisbursementRecorded(mut paid) = envelope.event.clone() else {
            panic!("a tranche");
        };
        paid.paid.esf_cents = Cents(1_000_000);
        envelope.event = LedgerEvent::DisbursementRecorded(paid).journaled();
        let prevhash = envelope.prevhash.clone().expect("prevhash");
        seal(&mut envelope, &prevhash).expect("sealed");
        let mut rehashed = lines.clone();
        rehashed[5] = serde_json::to_vec(&envelope).expect("json");
        let failure = file.verify(&rehashed);
        assert_eq!(
            named(&failure),
            (Some(NON), 7, Some(file.id(7)), Check::Prevhash)
        );

        // An event appended with a forged prevhash.
        let forged_id = Uuid::new_v4();
        let fork = file.envelope(12).hash.expect("hash");
        let mut appended = lines.clone();
        appended.push(next_event(&ledger, "cmd-forged", forged_id, Some(&fork)).await);
        let failure = file.verify(&appended);
        assert_eq!(
            named(&failure),
            (Some(NON), 14, Some(forged_id), Check::Prevhash)
        );

        // A duplicated cause: the reservation's command booked again, correctly chained.
        let cause = file.envelope(3).causationid.expect("cause");
        let duplicate_id = derived_event_id(&cause, NON, 0);
        let mut duplicated = lines.clone();
        duplicated.push(next_event(&ledger, &cause, duplicate_id, None).await);
        let failure = file.verify(&duplicated);
        assert_eq!(
            named(&failure),
            (Some(NON), 14, Some(duplicate_id), Check::DuplicateCause)
        );

        ledger.cleanup().await;
    }
}
