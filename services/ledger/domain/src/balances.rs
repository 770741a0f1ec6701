//! The balances view of a fund: every figure per source and in total, for the fund and for each
//! project, as defined in [`buendel_contract::ledger`] ("Balances"). The API's read models, the
//! demo and the auditor's summary show these; balances `as_of` a date are this view after the
//! events whose value date is on or before it (value dates never go backwards, so that is a prefix).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

use buendel_contract::ledger::{Amounts, ProjectBalances, ReleaseReason, Source, SourceBalances};

use super::fund::{Fund, ProjectStatus};

/// Every figure of a fund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FundBalances {
    /// The fund's id (`None` before its budget is allocated).
    pub fund_id: Option<String>,
    /// The last day on which money may be reserved or committed.
    pub commit_deadline: Option<NaiveDate>,
    /// The latest value date booked.
    pub last_value_date: Option<NaiveDate>,
    /// How many events were applied.
    pub entries: u64,
    /// The ESF+ figures.
    pub esf_plus: SourceBalances,
    /// The Land figures.
    pub land: SourceBalances,
    /// ESF+ plus Land.
    pub total: SourceBalances,
    /// True when the balances of all accounts sum to zero in each source.
    pub trial_balance_zero: bool,
    /// Each project's money and status.
    pub projects: BTreeMap<Uuid, ProjectMoney>,
    /// The waitlist, first come first.
    pub waitlist: Vec<Uuid>,
}

/// One project's money in a fund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectMoney {
    /// Where it stands.
    pub status: ProjectStatus,
    /// Its 1-based place on the waitlist, if waitlisted.
    pub waitlist_position: Option<u32>,
    /// The split of its last reservation request.
    pub requested: Amounts,
    /// The granted split, once committed.
    pub granted: Option<Amounts>,
    /// Why its reservation was released, if it was.
    pub release_reason: Option<ReleaseReason>,
    /// The ESF+ figures.
    pub esf_plus: ProjectBalances,
    /// The Land figures.
    pub land: ProjectBalances,
    /// ESF+ plus Land.
    pub total: ProjectBalances,
}

impl Fund {
    /// Every figure, per source and in total, for the fund and each project.
    pub fn balances(&self) -> FundBalances {
        let esf_plus = self.book.fund_balances(Source::EsfPlus);
        let land = self.book.fund_balances(Source::Land);
        let projects = self
            .projects
            .keys()
            .filter_map(|id| self.project_money(*id).map(|money| (*id, money)))
            .collect();
        FundBalances {
            fund_id: self.scalars.fund_id.clone(),
            commit_deadline: self.scalars.commit_deadline,
            last_value_date: self.scalars.last_value_date,
            entries: self.scalars.entries,
            esf_plus,
            land,
            total: esf_plus.plus(&land),
            trial_balance_zero: Source::ALL.iter().all(|s| self.book.trial_balance(*s) == 0),
            projects,
            waitlist: self.waitlist.iter().copied().collect(),
        }
    }

    /// One project's money and status, if the fund has seen it.
    pub fn project_money(&self, proposal_id: Uuid) -> Option<ProjectMoney> {
        let project = self.projects.get(&proposal_id)?;
        let esf_plus = self.book.project_balances(proposal_id, Source::EsfPlus);
        let land = self.book.project_balances(proposal_id, Source::Land);
        let waitlist_position = self
            .waitlist
            .iter()
            .position(|id| *id == proposal_id)
            .and_then(|index| u32::try_from(index + 1).ok());
        Some(ProjectMoney {
            status: project.status,
            waitlist_position,
            requested: project.requested,
            granted: project.granted,
            release_reason: project.release_reason,
            esf_plus,
            land,
            total: esf_plus.plus(&land),
        })
    }
}
