//! A fresh namespace with the LEDGER stream, the ledger's hash-chained Fund repository, and a
//! ledger driven through every state with real commands.

use std::path::PathBuf;

use chrono::NaiveDate;
use uuid::Uuid;

use buendel_contract::ledger::ReleaseReason;
use buendel_contract::namespace::StreamKind;
use buendel_contract::{Aggregate as _, Cents, Meta, Namespace};
use buendel_ledger::app::fund_repository;
use buendel_ledger::domain::{Command, Fund};
use buendel_runtime::{EventStore, Repository, Settings};

/// The two funds.
pub const NON: &str = "non-2021-2027";
pub const SON: &str = "son-2021-2027";

/// A namespace of its own with LEDGER, and a directory for exports.
pub struct TestLedger {
    /// The settings of the namespace (local NATS and Postgres).
    pub settings: Settings,
    /// The event store.
    pub store: EventStore,
    /// The ledger's Fund repository.
    pub repo: Repository<Fund>,
    /// A temporary directory.
    pub dir: PathBuf,
    commands: u64,
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

pub fn p(n: u128) -> Uuid {
    Uuid::from_u128(0x1a7e_0000 + n)
}

impl TestLedger {
    /// A fresh namespace with its streams.
    pub async fn new() -> Self {
        let suffix = Uuid::new_v4().simple().to_string();
        let ns = Namespace::new(format!("t{}", &suffix[..12])).expect("valid namespace");
        let settings = Settings {
            nats_url: buendel_testing::nats_url(),
            ..Settings::local(ns.clone())
        };
        let client = buendel_runtime::connect::nats(&settings.nats_url, "audit-test")
            .await
            .expect("NATS is running");
        let store = EventStore::new(client, ns);
        store
            .ensure_streams(&StreamKind::ALL)
            .await
            .expect("streams");
        let dir = std::env::temp_dir().join(format!("buendel-audit-{suffix}"));
        Self {
            settings,
            repo: fund_repository(store.clone()),
            store,
            dir,
            commands: 0,
        }
    }

    /// Runs a command on a fund under a fresh command id, as the operator commands do.
    pub async fn run(&mut self, fund_id: &str, command: Command) {
        self.commands += 1;
        let cause = format!("cmd-{}", self.commands);
        let meta = Meta {
            source: self.repo.source().to_owned(),
            time: buendel_testing::test_now(),
            correlation_id: None,
            causation_id: Some(cause.clone()),
            actor: "operator".into(),
        };
        self.repo
            .execute(fund_id, &cause, &meta, |fund| fund.decide(&command))
            .await
            .expect("the command is accepted");
    }

    /// Deletes the streams and the export directory.
    pub async fn cleanup(self) {
        self.store.delete_streams().await.expect("streams deleted");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn reserve(proposal: Uuid, esf: i64, land: i64, today: NaiveDate) -> Command {
    Command::Reserve {
        proposal_id: proposal,
        esf: Cents(esf),
        land: Cents(land),
        today,
    }
}

fn disburse(proposal: Uuid, reference: &str, esf: i64, land: i64, on: NaiveDate) -> Command {
    Command::RecordDisbursement {
        proposal_id: proposal,
        payment_reference: reference.into(),
        esf: Cents(esf),
        land: Cents(land),
        value_date: on,
        today: on,
    }
}

/// Two funds through every state: allocation, reservation, waitlist, grant, two tranches, a
/// withdrawal, closing under budget (serving the waitlist in the same append), a clawback and its
/// repayment. 13 events; the value dates run from 2 January 2025 to 2 November 2026.
pub async fn drive(ledger: &mut TestLedger) {
    for (fund_id, esf, land) in [
        (NON, 200_571_429, 33_428_571),
        (SON, 144_000_000, 24_000_000),
    ] {
        ledger
            .run(
                fund_id,
                Command::AllocateBudget {
                    fund_id: fund_id.into(),
                    esf: Cents(esf),
                    land: Cents(land),
                    commit_deadline: day(2027, 12, 31),
                    today: day(2025, 1, 2),
                },
            )
            .await;
    }
    ledger
        .run(NON, reserve(p(1), 18_000_000, 3_000_000, day(2025, 3, 1)))
        .await;
    ledger
        .run(
            NON,
            Command::Commit {
                proposal_id: p(1),
                esf: Cents(18_000_000),
                land: Cents(3_000_000),
                terms: None,
                today: day(2025, 4, 1),
            },
        )
        .await;
    ledger
        .run(SON, reserve(p(2), 6_000_000, 1_000_000, day(2025, 4, 2)))
        .await;
    ledger
        .run(
            NON,
            disburse(p(1), "NB-1", 1_500_000, 250_000, day(2025, 4, 15)),
        )
        .await;
    ledger
        .run(NON, reserve(p(3), 182_900_000, 30_000_000, day(2025, 5, 1)))
        .await;
    ledger
        .run(
            SON,
            Command::ReleaseReservation {
                proposal_id: p(2),
                reason: ReleaseReason::Withdrawn,
                today: day(2025, 6, 1),
            },
        )
        .await;
    ledger
        .run(
            NON,
            disburse(p(1), "NB-2", 16_100_000, 2_650_000, day(2026, 9, 30)),
        )
        .await;
    ledger
        .run(
            NON,
            Command::CloseProject {
                proposal_id: p(1),
                today: day(2026, 10, 1),
            },
        )
        .await;
    ledger
        .run(
            NON,
            Command::AssessRecovery {
                proposal_id: p(1),
                esf: Cents(800_000),
                land: Cents(100_000),
                reason: "final report audited".into(),
                today: day(2026, 10, 2),
            },
        )
        .await;
    ledger
        .run(
            NON,
            Command::RecordRepayment {
                proposal_id: p(1),
                esf: Cents(800_000),
                land: Cents(100_000),
                value_date: day(2026, 11, 2),
                today: day(2026, 11, 2),
            },
        )
        .await;
}
