//! The online audit's second half: what the Postgres read models (migration
//! `20261125000003_ledger.sql`) say otherwise than the replayed ledger.
//!
//! Compared, for the funds in scope:
//!
//! - `ledger_entries`: at every stream sequence verified (and only there, so a projection that has
//!   read further is not blamed for it) the same fund, version, event id, type and hash; an entry
//!   the ledger does not have is a difference too.
//! - `funds`: version, last sequence, head of the chain, deadline, last value date.
//! - `account_balances` (every account) and `fund_balances` (per source and account kind).
//! - `proposal_money`: status, release reason, requested split and the figures per source.
//!
//! Balances are compared only for a fund the projection has at the same point as the replay (its
//! `funds.last_sequence` is the last event verified); otherwise that one difference is reported.
//! At most [`DIFFERENCES_MAX`] differences are listed, then how many more there were.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use futures::TryStreamExt as _;
use sqlx::PgPool;
use uuid::Uuid;

use buendel_contract::ledger::{AccountKind, ProjectBalances, ReleaseReason, Source};
use buendel_contract::Cents;
use buendel_ledger::domain::Fund;

use crate::report::Difference;
use crate::verifier::Verified;

/// The most differences one comparison lists.
pub const DIFFERENCES_MAX: usize = 10_000;

/// Collects differences up to the limit and counts the rest.
#[derive(Default)]
struct Differences {
    listed: Vec<Difference>,
    more: u64,
}

impl Differences {
    fn push(&mut self, kind: &str, key: String, ledger: impl ToString, other: impl ToString) {
        if self.listed.len() < DIFFERENCES_MAX {
            self.listed.push(Difference::new(kind, key, ledger, other));
        } else {
            self.more += 1;
        }
    }

    fn check<T: PartialEq + ToString>(&mut self, kind: &str, key: &str, ledger: T, other: T) {
        if ledger != other {
            self.push(kind, key.to_owned(), ledger, other);
        }
    }

    fn finish(mut self) -> Vec<Difference> {
        if self.more > 0 {
            self.listed.push(Difference::new(
                "truncated",
                "more differences",
                0,
                self.more,
            ));
        }
        self.listed
    }
}

/// Every difference between the replay and the projections.
pub async fn compare(pool: &PgPool, verified: &Verified) -> anyhow::Result<Vec<Difference>> {
    let mut out = Differences::default();
    let report = &verified.report;
    let only = report.options.fund.as_deref();
    let last = report.last_sequence.unwrap_or(0);
    compare_entries(pool, verified, only, last, &mut out).await?;
    let rows = funds(pool, only).await?;
    let mut at_same_point = Vec::new();
    for summary in &report.funds {
        let key = |what: &str| format!("{} {what}", summary.fund_id);
        let Some(row) = rows.get(&summary.fund_id) else {
            out.push("fund", summary.fund_id.clone(), "a fund", "no row");
            continue;
        };
        out.check(
            "fund",
            &key("last_sequence"),
            summary.last_sequence,
            row.last_sequence,
        );
        if summary.last_sequence != row.last_sequence {
            continue;
        }
        out.check("fund", &key("version"), summary.events, row.version);
        out.check_opt(
            "fund",
            &key("last_hash"),
            Some(summary.final_hash.clone()),
            row.last_hash.clone(),
        );
        if let Some(fund) = verified.funds.get(&summary.fund_id) {
            out.check_opt(
                "fund",
                &key("commit_deadline"),
                fund.commit_deadline(),
                row.commit_deadline,
            );
            out.check_opt(
                "fund",
                &key("last_value_date"),
                fund.last_value_date(),
                Some(row.last_value_date),
            );
            at_same_point.push((summary.fund_id.clone(), fund));
        }
    }
    if only.is_none() {
        for fund_id in rows.keys() {
            if report.fund(fund_id).is_none() {
                out.push("fund", fund_id.clone(), "no such fund", "a row");
            }
        }
    }
    for (fund_id, fund) in at_same_point {
        compare_balances(pool, &fund_id, fund, &mut out).await?;
        compare_money(pool, &fund_id, fund, &mut out).await?;
    }
    Ok(out.finish())
}

/// Displays an `Option` as its value or `none`.
struct Shown<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for Shown<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("none"),
        }
    }
}

impl<T: PartialEq> PartialEq for Shown<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Differences {
    fn check_opt<T: PartialEq + std::fmt::Display>(
        &mut self,
        kind: &str,
        key: &str,
        ledger: Option<T>,
        other: Option<T>,
    ) {
        self.check(kind, key, Shown(ledger), Shown(other));
    }
}

/// A `funds` row.
struct FundRow {
    commit_deadline: Option<NaiveDate>,
    last_value_date: NaiveDate,
    last_sequence: u64,
    version: u64,
    last_hash: Option<String>,
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

async fn funds(pool: &PgPool, only: Option<&str>) -> anyhow::Result<BTreeMap<String, FundRow>> {
    type Row = (
        String,
        Option<NaiveDate>,
        NaiveDate,
        i64,
        i64,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT fund_id, commit_deadline, last_value_date, last_sequence, version, last_hash \
         FROM funds WHERE $1::text IS NULL OR fund_id = $1 ORDER BY fund_id",
    )
    .bind(only)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(fund_id, commit_deadline, last_value_date, last, version, hash)| {
                let row = FundRow {
                    commit_deadline,
                    last_value_date,
                    last_sequence: unsigned(last),
                    version: unsigned(version),
                    last_hash: hash,
                };
                (fund_id, row)
            },
        )
        .collect())
}

/// `ledger_entries` against the verified events, merged by stream sequence up to `last`.
async fn compare_entries(
    pool: &PgPool,
    verified: &Verified,
    only: Option<&str>,
    last: u64,
    out: &mut Differences,
) -> anyhow::Result<()> {
    type Row = (i64, String, i64, Uuid, String, Option<String>);
    let last = i64::try_from(last).unwrap_or(i64::MAX);
    let mut rows = sqlx::query_as::<_, Row>(
        "SELECT sequence, fund_id, version, event_id, event_type, hash FROM ledger_entries \
         WHERE sequence <= $1 AND ($2::text IS NULL OR fund_id = $2) ORDER BY sequence",
    )
    .bind(last)
    .bind(only)
    .fetch(pool);
    let mut expected = verified.entries.iter().peekable();
    let mut row = rows.try_next().await?;
    loop {
        let projected_sequence = row.as_ref().map(|r| unsigned(r.0));
        match (expected.peek(), projected_sequence) {
            (None, None) => break,
            (Some(entry), Some(sequence)) if entry.sequence == sequence => {
                let Some((_, fund_id, version, event_id, event_type, hash)) = row.take() else {
                    break;
                };
                let key = |what: &str| format!("sequence {sequence} {what}");
                out.check("entry", &key("fund_id"), entry.fund_id.clone(), fund_id);
                out.check(
                    "entry",
                    &key("version"),
                    entry.aggregate_sequence,
                    unsigned(version),
                );
                out.check("entry", &key("event_id"), entry.event_id, event_id);
                out.check(
                    "entry",
                    &key("event_type"),
                    entry.event_type.to_owned(),
                    event_type,
                );
                out.check_opt("entry", &key("hash"), Some(entry.hash.clone()), hash);
                expected.next();
                row = rows.try_next().await?;
            }
            (Some(entry), projected) if projected.is_none_or(|s| entry.sequence < s) => {
                out.push(
                    "entry",
                    format!("sequence {}", entry.sequence),
                    format!("{} {}", entry.event_type, entry.event_id),
                    "no row",
                );
                expected.next();
            }
            (_, Some(sequence)) => {
                if let Some((_, fund_id, _, event_id, event_type, _)) = row.take() {
                    out.push(
                        "entry",
                        format!("sequence {sequence}"),
                        "no such event",
                        format!("{fund_id} {event_type} {event_id}"),
                    );
                }
                row = rows.try_next().await?;
            }
            (Some(_), None) => break, // unreachable: handled above
        }
    }
    Ok(())
}

/// Per account and per account kind, what the fold says against `account_balances` and
/// `fund_balances`.
async fn compare_balances(
    pool: &PgPool,
    fund_id: &str,
    fund: &Fund,
    out: &mut Differences,
) -> anyhow::Result<()> {
    let mut accounts: BTreeMap<(String, String, Uuid), i64> = BTreeMap::new();
    let mut kinds: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (source, account, cents) in fund.book().accounts() {
        let proposal = account.proposal_id().unwrap_or(Uuid::nil());
        let key = (source.as_str().to_owned(), account.kind().to_owned());
        accounts.insert((key.0.clone(), key.1.clone(), proposal), cents.0);
        *kinds.entry(key).or_default() += cents.0;
    }
    let rows: Vec<(String, String, Uuid, i64)> = sqlx::query_as(
        "SELECT source, account_kind, proposal_id, balance_cents FROM account_balances \
         WHERE fund_id = $1",
    )
    .bind(fund_id)
    .fetch_all(pool)
    .await?;
    let mut projected: BTreeMap<(String, String, Uuid), i64> = BTreeMap::new();
    for (source, kind, proposal, cents) in rows {
        projected.insert((source, kind, proposal), cents);
    }
    let keys: BTreeSet<_> = accounts.keys().chain(projected.keys()).cloned().collect();
    for key in keys {
        let ledger = accounts.get(&key).copied().unwrap_or(0);
        let other = projected.get(&key).copied().unwrap_or(0);
        let (source, kind, proposal) = &key;
        let account = if proposal.is_nil() {
            kind.clone()
        } else {
            format!("{kind}:{proposal}")
        };
        out.check(
            "account_balance",
            &format!("{fund_id} {source} {account}"),
            Cents(ledger),
            Cents(other),
        );
    }

    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT source, account_kind, balance_cents FROM fund_balances WHERE fund_id = $1",
    )
    .bind(fund_id)
    .fetch_all(pool)
    .await?;
    let projected: BTreeMap<(String, String), i64> = rows
        .into_iter()
        .map(|(source, kind, cents)| ((source, kind), cents))
        .collect();
    for source in Source::ALL {
        for kind in AccountKind::ALL {
            let key = (source.as_str().to_owned(), kind.as_str().to_owned());
            let ledger = kinds.get(&key).copied().unwrap_or(0);
            let other = projected.get(&key).copied().unwrap_or(0);
            out.check(
                "fund_balance",
                &format!("{fund_id} {source} {kind}"),
                Cents(ledger),
                Cents(other),
            );
        }
    }
    for (source, kind) in projected.keys() {
        let known =
            Source::ALL.iter().any(|s| s.as_str() == source) && AccountKind::parse(kind).is_some();
        if !known {
            out.push(
                "fund_balance",
                format!("{fund_id} {source} {kind}"),
                "no such account",
                "a row",
            );
        }
    }
    Ok(())
}

/// A `proposal_money` row.
#[derive(sqlx::FromRow)]
struct MoneyRow {
    proposal_id: Uuid,
    status: Option<String>,
    release_reason: Option<String>,
    requested_esf_cents: Option<i64>,
    requested_land_cents: Option<i64>,
    esf_reserved_cents: i64,
    esf_committed_cents: i64,
    esf_disbursed_cents: i64,
    esf_recovered_cents: i64,
    esf_repaid_cents: i64,
    land_reserved_cents: i64,
    land_committed_cents: i64,
    land_disbursed_cents: i64,
    land_recovered_cents: i64,
    land_repaid_cents: i64,
}

/// Each project's money against `proposal_money`.
async fn compare_money(
    pool: &PgPool,
    fund_id: &str,
    fund: &Fund,
    out: &mut Differences,
) -> anyhow::Result<()> {
    let rows: Vec<MoneyRow> = sqlx::query_as(
        "SELECT proposal_id, status, release_reason, requested_esf_cents, requested_land_cents, \
         esf_reserved_cents, esf_committed_cents, esf_disbursed_cents, esf_recovered_cents, \
         esf_repaid_cents, land_reserved_cents, land_committed_cents, land_disbursed_cents, \
         land_recovered_cents, land_repaid_cents FROM proposal_money WHERE fund_id = $1",
    )
    .bind(fund_id)
    .fetch_all(pool)
    .await?;
    let mut projected: BTreeMap<Uuid, MoneyRow> =
        rows.into_iter().map(|row| (row.proposal_id, row)).collect();
    for proposal_id in fund.projects().keys() {
        let Some(money) = fund.project_money(*proposal_id) else {
            continue;
        };
        let Some(row) = projected.remove(proposal_id) else {
            out.push(
                "proposal_money",
                format!("{proposal_id}"),
                money.status.as_str(),
                "no row",
            );
            continue;
        };
        let key = |what: &str| format!("{proposal_id} {what}");
        out.check_opt(
            "proposal_money",
            &key("status"),
            Some(money.status.as_str().to_owned()),
            row.status,
        );
        let reason = money
            .release_reason
            .map(|reason| ReleaseReason::as_str(reason).to_owned());
        out.check_opt(
            "proposal_money",
            &key("release_reason"),
            reason,
            row.release_reason,
        );
        // No request yet (NULL) is a request of zero, as the fold has it.
        let requested = [
            (
                "esf_plus",
                money.requested.esf_cents,
                row.requested_esf_cents,
            ),
            ("land", money.requested.land_cents, row.requested_land_cents),
        ];
        for (source, ledger, other) in requested {
            out.check(
                "proposal_money",
                &key(&format!("requested {source}")),
                ledger,
                Cents(other.unwrap_or(0)),
            );
        }
        let esf = [
            row.esf_reserved_cents,
            row.esf_committed_cents,
            row.esf_disbursed_cents,
            row.esf_recovered_cents,
            row.esf_repaid_cents,
        ];
        let land = [
            row.land_reserved_cents,
            row.land_committed_cents,
            row.land_disbursed_cents,
            row.land_recovered_cents,
            row.land_repaid_cents,
        ];
        for (source, ledger, other) in [
            ("esf_plus", money.esf_plus.stored(), esf),
            ("land", money.land.stored(), land),
        ] {
            for ((name, ledger), other) in ProjectBalances::STORED.iter().zip(ledger).zip(other) {
                out.check(
                    "proposal_money",
                    &key(&format!("{source} {name}")),
                    ledger,
                    Cents(other),
                );
            }
        }
    }
    for proposal_id in projected.keys() {
        out.push(
            "proposal_money",
            format!("{proposal_id}"),
            "no such project",
            "a row",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_beyond_the_limit_are_counted_not_listed() {
        let mut out = Differences::default();
        for n in 0..DIFFERENCES_MAX + 3 {
            out.push("entry", format!("sequence {n}"), 1, 2);
        }
        let listed = out.finish();
        assert_eq!(listed.len(), DIFFERENCES_MAX + 1);
        assert_eq!(listed.last().map(|d| d.other.as_str()), Some("3"));
    }
}
