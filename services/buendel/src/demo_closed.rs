//! The demo's closed 2014–2020 period: forty fictional projects of the two alliances (twenty per
//! fund), all paid out, settled and closed by 2023, their documents under retention until 2027 or
//! 2028, one recovered with its interest. Brought in the way a real migration from the old books
//! would be: one decision per fund ([`Fund::import_closed`]), every step decided by the ledger's
//! own rules on its historic date, recorded now.

use chrono::{Days, NaiveDate};
use uuid::Uuid;

use buendel_contract::ledger::Amounts;
use buendel_contract::money::{BasisPoints, Cents, Split};
use buendel_contract::Meta;
use buendel_ledger::domain::import::{
    esf_of, ClosedPeriod, ClosedProject, ImportedPayment, ImportedRecovery,
};
use buendel_runtime::{Clock, EventStore};

use crate::demo::demo_id;

/// Projects per fund.
const PROJECTS_PER_FUND: u64 = 20;

/// The two funds of 2014–2020 with their rates (ESF+ and total, basis points).
const FUNDS: [(&str, u32, u32); 2] = [
    ("non-2014-2020", 6_000, 7_000),
    ("son-2014-2020", 4_000, 7_000),
];

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn after(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days)).unwrap_or(date)
}

/// The share `per_mille` of an amount per source, rounded down.
fn share(of: &Amounts, per_mille: i64) -> Amounts {
    Amounts::new(
        of.esf_cents.0 * per_mille / 1_000,
        of.land_cents.0 * per_mille / 1_000,
    )
}

/// The two periods, as their old books hold them.
pub fn periods() -> Vec<ClosedPeriod> {
    FUNDS
        .iter()
        .map(|&(fund_id, esf_bp, total_bp)| period(fund_id, esf_bp, total_bp))
        .collect()
}

fn period(fund_id: &str, esf_bp: u32, total_bp: u32) -> ClosedPeriod {
    let mut projects = Vec::new();
    for k in 0..PROJECTS_PER_FUND {
        // Eligible costs from 210,000.00 to 410,000.00 EUR.
        let eligible = Cents((210_000 + (k * 8 % 21) as i64 * 10_000) * 100);
        let Some(split) = Split::compute(eligible, BasisPoints(total_bp), BasisPoints(esf_bp))
        else {
            continue;
        };
        let granted = Amounts::new(split.esf_cents.0, split.land_cents.0);
        let reserved_on = after(day(2015, 3, 2), k * 61);
        let granted_on = after(reserved_on, 30);
        let reference = |n: u32| format!("ZA-{}-{k:02}-{n}", &fund_id[..3]);
        // Three tranches; one project in five used its whole grant, the rest 95 %.
        let last = if k % 5 == 0 { 400 } else { 350 };
        let final_on = after(day(2022, 3, 1), k * 20);
        let payments = vec![
            ImportedPayment {
                reference: reference(1),
                paid: share(&granted, 300),
                value_date: after(granted_on, 180),
            },
            ImportedPayment {
                reference: reference(2),
                paid: share(&granted, 300),
                value_date: after(granted_on, 540),
            },
            ImportedPayment {
                reference: reference(3),
                paid: share(&granted, last),
                value_date: final_on,
            },
        ];
        // The fourth project of each fund: 5 % recovered after an audit, repaid with interest.
        let closed_on = after(final_on, 45);
        let recovery = (k == 3).then(|| ImportedRecovery {
            principal: share(&granted, 50),
            reason: "Prüfung der Prüfbehörde 2023: Honorare ohne Vergabeverfahren".into(),
            assessed_on: after(closed_on, 200),
            repaid_on: after(closed_on, 380),
            interest_paid_on: after(closed_on, 410),
        });
        projects.push(ClosedProject {
            proposal_id: project_id(fund_id, k),
            granted,
            reserved_on,
            granted_on,
            payments,
            closed_on,
            recovery,
        });
    }
    // The budget: every grant and 2 % more, which was never bound and expired.
    let granted = projects
        .iter()
        .fold(Amounts::ZERO, |sum, p| sum.saturating_add(&p.granted));
    ClosedPeriod {
        fund_id: fund_id.to_owned(),
        allocated: share(&granted, 1_020),
        allocated_on: day(2015, 1, 15),
        commit_deadline: day(2020, 12, 31),
        projects,
    }
}

/// Imports both periods (a second call finds them booked and does nothing); a line for people.
pub async fn import(store: &EventStore, clock: Clock) -> anyhow::Result<String> {
    let repo = buendel_ledger::fund_repository(store.clone());
    let today = clock.today();
    let mut esf = Cents(0);
    let mut projects = 0;
    for period in periods() {
        let meta = Meta {
            source: buendel_ledger::app::SOURCE.into(),
            time: clock.now(),
            correlation_id: Some(period.fund_id.clone()),
            causation_id: None,
            actor: "import-2014-2020".into(),
        };
        let cause = demo_id("import", &period.fund_id).to_string();
        repo.execute(&period.fund_id, &cause, &meta, |fund| {
            fund.import_closed(&period, today)
        })
        .await
        .map_err(|error| anyhow::anyhow!("importing {}: {error}", period.fund_id))?;
        esf = Cents(esf.0 + esf_of(&period).0);
        projects += period.projects.len();
    }
    Ok(format!(
        "imported the closed 2014–2020 period: {projects} projects of non-2014-2020 and \
         son-2014-2020, {esf} EUR of ESF paid, all closed, one recovered with interest"
    ))
}

/// The id of an imported project (for tests and the README).
pub fn project_id(fund_id: &str, k: u64) -> Uuid {
    demo_id("proposal-2014-2020", &format!("{fund_id}/{k}"))
}
