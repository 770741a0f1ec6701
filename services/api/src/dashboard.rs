//! The figures the dashboard (`/`, [`crate::ui`]) plots that no other route gives, each computed
//! from the read models in one snapshot:
//!
//! - `GET /v1/pipeline` (`?alliance=`): per alliance, how many proposals reached each stage of the
//!   funnel (submitted, screened, in review, statement, granted, paid, closed) and where the others
//!   dropped off (screened out, negative, waitlisted, refused, withdrawn). A proposal's stages
//!   come from its combined status ([`crate::status`]) and, for one that was withdrawn, from how
//!   far its review went; the counts by status are those of `/v1/alliances`.
//! - `GET /v1/funds/{id}/history`: the burn-down: the fund's figures after each value date that
//!   booked something (the same figures `/v1/funds/{id}?as_of=` gives for that day), the commitment
//!   deadline, the end of eligibility, and a straight-line forecast of when the available money
//!   runs out or how much is left at the deadline, in whole cents by integer arithmetic.
//! - `GET /v1/decision-times` (`?alliance=`): by month of submission, the median and the 90th
//!   percentile of whole days from submission to the alliance's statement and to the bank's grant.
//! - `GET /v1/exceptions`: open recoveries (assessed and not repaid), the age of each
//!   transparency log's latest checkpoint and latest witnessed one, and the latest online audit
//!   that recorded its result (`buendel audit verify --record`) with the differences it found. Claims due and overdue, dead
//!   letters and quarantined events have their own routes (`/v1/claims?due_within_days=14`,
//!   `/v1/deadletters`, `/v1/quarantine`), which the dashboard reads as any client would.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use buendel_contract::ledger::SourceBalances;
use buendel_contract::reference::ProgramRules;
use buendel_contract::status::CombinedStatus;

use crate::error::ApiError;
use crate::page::invalid_query;
use crate::status::combine;
use crate::AppState;

/// The query parameters of `GET /v1/pipeline` and `GET /v1/decision-times`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllianceQuery {
    /// Only this alliance.
    alliance: Option<String>,
}

/// How many proposals reached each stage of the funnel.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stages {
    /// Every proposal.
    pub submitted: i64,
    /// Passed the screening.
    pub screened: i64,
    /// Its review was opened.
    pub in_review: i64,
    /// The alliance's statement is positive.
    pub statement: i64,
    /// The bank granted it.
    pub granted: i64,
    /// Something was paid out.
    pub paid: i64,
    /// Closed.
    pub closed: i64,
}

/// Where the proposals that did not go on stopped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DropOffs {
    /// An `error` rule of the screening failed.
    pub screened_out: i64,
    /// The alliance's statement was negative.
    pub negative: i64,
    /// Positive, but no money was left to reserve: waiting.
    pub waitlisted: i64,
    /// The bank refused the grant.
    pub refused: i64,
    /// The applicant withdrew.
    pub withdrawn: i64,
}

/// One alliance's funnel.
#[derive(Debug, Serialize)]
pub struct Pipeline {
    /// The alliance.
    pub alliance_id: String,
    /// Reached each stage.
    pub stages: Stages,
    /// Dropped off.
    pub drop_offs: DropOffs,
    /// Counted by combined status (as in `/v1/alliances`).
    pub by_status: BTreeMap<String, i64>,
}

/// `GET /v1/pipeline`.
#[derive(Debug, Serialize)]
pub struct PipelineList {
    /// One per alliance with proposals, by alliance id.
    pub items: Vec<Pipeline>,
}

/// What a proposal's row says about how far it went.
#[derive(Debug, Clone, Copy)]
struct Progress {
    status: CombinedStatus,
    review_opened: bool,
    statement_positive: bool,
    paid: bool,
}

impl Progress {
    /// Adds one proposal (`count` of the same kind) to the funnel.
    fn count_into(self, count: i64, stages: &mut Stages, drops: &mut DropOffs) {
        use CombinedStatus as S;
        // How far it got: 0 submitted .. 3 statement, 4 granted.
        let reached = match self.status {
            S::Submitted | S::ScreeningFailed => 0,
            S::InReview | S::StatementNegative => {
                if self.review_opened {
                    2
                } else {
                    1
                }
            }
            S::StatementPositive | S::Waitlisted | S::FundsReserved | S::Refused => 3,
            S::Granted | S::Closed => 4,
            S::Withdrawn => match (self.statement_positive, self.review_opened) {
                (true, _) => 3,
                (false, true) => 2,
                (false, false) => 0,
            },
        };
        stages.submitted += count;
        for (stage, at) in [
            (&mut stages.screened, 1),
            (&mut stages.in_review, 2),
            (&mut stages.statement, 3),
            (&mut stages.granted, 4),
        ] {
            if reached >= at {
                *stage += count;
            }
        }
        if reached >= 4 && self.paid {
            stages.paid += count;
        }
        match self.status {
            S::Closed => stages.closed += count,
            S::ScreeningFailed => drops.screened_out += count,
            S::StatementNegative => drops.negative += count,
            S::Waitlisted => drops.waitlisted += count,
            S::Refused => drops.refused += count,
            S::Withdrawn => drops.withdrawn += count,
            _ => {}
        }
    }
}

/// `GET /v1/pipeline`: the funnel of each alliance.
#[tracing::instrument(skip_all)]
pub async fn pipeline(
    State(state): State<AppState>,
    query: Result<Query<AllianceQuery>, QueryRejection>,
) -> Result<Json<PipelineList>, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        bool,
        bool,
        bool,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT p.alliance_id, p.status, r.review_status, m.status, \
             r.opened_at IS NOT NULL, COALESCE(r.statement_verdict = 'positive', FALSE), \
             COALESCE(m.esf_disbursed_cents + m.land_disbursed_cents > 0, FALSE), count(*) \
         FROM proposals p \
         LEFT JOIN proposal_reviews r ON r.proposal_id = p.proposal_id \
         LEFT JOIN proposal_money m ON m.proposal_id = p.proposal_id \
         WHERE $1::text IS NULL OR p.alliance_id = $1 \
         GROUP BY 1, 2, 3, 4, 5, 6, 7",
    )
    .bind(query.alliance)
    .fetch_all(&state.pool)
    .await?;
    let mut by_alliance: BTreeMap<String, Pipeline> = BTreeMap::new();
    for (alliance_id, proposal, review, money, opened, positive, paid, count) in rows {
        let status =
            combine(&proposal, review.as_deref(), money.as_deref()).map_err(ApiError::Internal)?;
        let entry = by_alliance
            .entry(alliance_id.clone())
            .or_insert_with(|| Pipeline {
                alliance_id,
                stages: Stages::default(),
                drop_offs: DropOffs::default(),
                by_status: BTreeMap::new(),
            });
        *entry
            .by_status
            .entry(status.as_str().to_owned())
            .or_insert(0) += count;
        Progress {
            status,
            review_opened: opened,
            statement_positive: positive,
            paid,
        }
        .count_into(count, &mut entry.stages, &mut entry.drop_offs);
    }
    Ok(Json(PipelineList {
        items: by_alliance.into_values().collect(),
    }))
}

/// The figures after one value date.
#[derive(Debug, Serialize)]
pub struct HistoryPoint {
    /// The value date.
    pub value_date: NaiveDate,
    /// ESF+.
    pub esf_plus: SourceBalances,
    /// Land.
    pub land: SourceBalances,
    /// Both.
    pub total: SourceBalances,
}

/// A straight line through the available money, from the first allocation to today (or the latest
/// value date, if later), carried forward.
#[derive(Debug, Serialize)]
pub struct Forecast {
    /// The first value date with money allocated.
    pub from: NaiveDate,
    /// Today, or the latest value date if later.
    pub to: NaiveDate,
    /// How much of the available money was bound per day on average, in cents (rounded down).
    pub bound_per_day_cents: i64,
    /// The day the available money reaches zero at that pace, if before the commitment deadline
    /// (or if there is none); `null` if it lasts or nothing is bound.
    pub runs_out_on: Option<NaiveDate>,
    /// What would be left at the commitment deadline at that pace; `null` if it runs out first
    /// or there is no deadline.
    pub left_at_deadline_cents: Option<i64>,
}

/// `GET /v1/funds/{id}/history`.
#[derive(Debug, Serialize)]
pub struct History {
    /// The fund.
    pub fund_id: String,
    /// The alliance.
    pub alliance_id: String,
    /// The last day money may be reserved or committed.
    pub commit_deadline: Option<NaiveDate>,
    /// The last day expenditure is eligible (ESF+ 2021–2027: 31 Dec 2029, CPR Art. 63(2);
    /// earlier periods: the end of the third year after the last).
    pub eligible_until: Option<NaiveDate>,
    /// Today on the service's clock: the last point's figures hold until then (or a later
    /// point is booked ahead, with a future value date).
    pub as_of: NaiveDate,
    /// One point per value date that booked something, oldest first.
    pub points: Vec<HistoryPoint>,
    /// `null` until money is allocated and a day has passed since.
    pub forecast: Option<Forecast>,
}

/// The last day of eligibility of a fund's period, from its id's years.
fn eligible_until(fund_id: &str) -> Option<NaiveDate> {
    let mut parts = fund_id.rsplitn(3, '-');
    let last: i32 = parts.next()?.parse().ok()?;
    let first: i32 = parts.next()?.parse().ok()?;
    let opens = NaiveDate::from_ymd_opt(first, 1, 1)?;
    let versions = ProgramRules::versions();
    match ProgramRules::in_force_on(&versions, opens) {
        Some(rules) if rules.effective_from <= opens => Some(rules.eligible_until),
        _ => NaiveDate::from_ymd_opt(last + 3, 12, 31),
    }
}

/// `GET /v1/funds/{id}/history`: the fund's figures over time.
#[tracing::instrument(skip_all, fields(fund_id = %id))]
pub async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<History>, ApiError> {
    let mut snapshot = crate::snapshot(&state.pool).await?;
    let row = crate::funds::fund_row(&mut snapshot, &id).await?;
    let sums: Vec<(NaiveDate, String, String, String, i64)> = sqlx::query_as(
        "SELECT value_date, source, debit_kind, credit_kind, SUM(amount_cents)::bigint \
         FROM ledger_postings WHERE fund_id = $1 \
         GROUP BY value_date, source, debit_kind, credit_kind ORDER BY value_date",
    )
    .bind(&row.fund_id)
    .fetch_all(&mut *snapshot)
    .await?;
    snapshot.commit().await?;
    let mut kinds: BTreeMap<(String, String), i128> = BTreeMap::new();
    let mut points = Vec::new();
    let mut sums = sums.into_iter().peekable();
    while let Some((day, source, debit, credit, cents)) = sums.next() {
        crate::funds::post(&mut kinds, source, debit, credit, cents);
        if sums.peek().is_some_and(|next| next.0 == day) {
            continue;
        }
        let esf_plus = crate::funds::figures(&kinds, "esf_plus");
        let land = crate::funds::figures(&kinds, "land");
        points.push(HistoryPoint {
            value_date: day,
            total: esf_plus.plus(&land),
            esf_plus,
            land,
        });
    }
    let as_of = state.clock.today();
    let forecast = forecast(&points, row.commit_deadline, as_of);
    Ok(Json(History {
        as_of,
        eligible_until: eligible_until(&row.fund_id),
        fund_id: row.fund_id,
        alliance_id: row.alliance_id,
        commit_deadline: row.commit_deadline,
        points,
        forecast,
    }))
}

/// The straight line through the available money from the first point with money allocated to
/// the last one, carried on to `today` when that is later (nothing was bound in between).
fn forecast(
    points: &[HistoryPoint],
    deadline: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<Forecast> {
    let first = points.iter().find(|p| p.total.allocated.0 > 0)?;
    let last = points.last()?;
    let to = last.value_date.max(today);
    let days = i128::from((to - first.value_date).num_days());
    if days == 0 {
        // No pace to draw a line from.
        return None;
    }
    // Bound since the first allocation: what was available then, plus what was allocated since,
    // less what is available now.
    let allocated_since = i128::from(last.total.allocated.0) - i128::from(first.total.allocated.0);
    let bound =
        i128::from(first.total.available.0) + allocated_since - i128::from(last.total.available.0);
    let available = i128::from(last.total.available.0);
    let narrow = |wide: i128| i64::try_from(wide).unwrap_or(i64::MAX);
    let bound_per_day = bound / days;
    let (runs_out_on, left) = if bound <= 0 {
        (None, deadline.map(|_| narrow(available)))
    } else {
        // Days until zero, rounded up: available / (bound / days).
        let days_left = (available * days + bound - 1) / bound;
        let runs_out = i64::try_from(days_left)
            .ok()
            .and_then(|d| to.checked_add_signed(chrono::Duration::days(d)));
        match (deadline, runs_out) {
            (Some(deadline), Some(day)) if day > deadline => {
                let to_deadline = i128::from((deadline - to).num_days().max(0));
                (None, Some(narrow(available - bound * to_deadline / days)))
            }
            (_, runs_out) => (runs_out, None),
        }
    };
    Some(Forecast {
        from: first.value_date,
        to,
        bound_per_day_cents: narrow(bound_per_day),
        runs_out_on,
        left_at_deadline_cents: left,
    })
}

/// The median and the 90th percentile of whole days.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Durations {
    /// How many proposals of the month got there.
    pub count: i64,
    /// The median (nearest rank); `null` without any.
    pub median_days: Option<i64>,
    /// The 90th percentile (nearest rank); `null` without any.
    pub p90_days: Option<i64>,
}

impl Durations {
    /// Of a list of day counts (sorted here).
    pub fn of(mut days: Vec<i64>) -> Self {
        days.sort_unstable();
        let rank = |per_mille: usize| -> Option<i64> {
            // Nearest rank: the smallest value with at least per_mille/1000 of the values at or
            // below it.
            let n = days.len();
            if n == 0 {
                return None;
            }
            let rank = (n * per_mille).div_ceil(1000).max(1);
            days.get(rank - 1).copied()
        };
        Durations {
            count: i64::try_from(days.len()).unwrap_or(i64::MAX),
            median_days: rank(500),
            p90_days: rank(900),
        }
    }
}

/// One month of submissions.
#[derive(Debug, Serialize)]
pub struct DecisionMonth {
    /// `YYYY-MM` of the submission.
    pub month: String,
    /// Proposals submitted that month.
    pub submitted: i64,
    /// From submission to the alliance's statement (positive or negative).
    pub to_statement: Durations,
    /// From submission to the bank's grant.
    pub to_grant: Durations,
}

/// `GET /v1/decision-times`.
#[derive(Debug, Serialize)]
pub struct DecisionTimes {
    /// By month, oldest first.
    pub items: Vec<DecisionMonth>,
}

/// `GET /v1/decision-times`: how long decisions take, by month of submission.
#[tracing::instrument(skip_all)]
pub async fn decision_times(
    State(state): State<AppState>,
    query: Result<Query<AllianceQuery>, QueryRejection>,
) -> Result<Json<DecisionTimes>, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    type Row = (DateTime<Utc>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT p.submitted_at, r.statement_issued_at, \
             (SELECT min(t.time) FROM proposal_timeline t \
              WHERE t.proposal_id = p.proposal_id \
                AND t.event_type LIKE 'buendel.review.grant\\_decided.%') \
         FROM proposals p LEFT JOIN proposal_reviews r ON r.proposal_id = p.proposal_id \
         WHERE $1::text IS NULL OR p.alliance_id = $1",
    )
    .bind(query.alliance)
    .fetch_all(&state.pool)
    .await?;
    let days = |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).num_days().max(0);
    /// Submitted, days to the statement, days to the grant.
    type Month = (i64, Vec<i64>, Vec<i64>);
    let mut months: BTreeMap<(i32, u32), Month> = BTreeMap::new();
    for (submitted, statement, grant) in rows {
        let month = months
            .entry((submitted.year(), submitted.month()))
            .or_default();
        month.0 += 1;
        if let Some(at) = statement {
            month.1.push(days(submitted, at));
        }
        if let Some(at) = grant {
            month.2.push(days(submitted, at));
        }
    }
    Ok(Json(DecisionTimes {
        items: months
            .into_iter()
            .map(
                |((year, month), (submitted, statement, grant))| DecisionMonth {
                    month: format!("{year:04}-{month:02}"),
                    submitted,
                    to_statement: Durations::of(statement),
                    to_grant: Durations::of(grant),
                },
            )
            .collect(),
    }))
}

/// A recovery assessed and not yet repaid in full.
#[derive(Debug, Serialize)]
pub struct OpenRecovery {
    /// The project.
    pub proposal_id: Uuid,
    /// Its fund.
    pub fund_id: String,
    /// Clawback principal assessed, both sources, in cents.
    pub recovered_cents: i64,
    /// Repaid so far, in cents.
    pub repaid_cents: i64,
    /// Still owed, in cents.
    pub outstanding_cents: i64,
}

/// The latest checkpoints of a transparency log.
#[derive(Debug, Serialize)]
pub struct LogAge {
    /// `ledger` or `reviews`.
    pub log: String,
    /// Size of the latest checkpoint.
    pub size: i64,
    /// When it was issued.
    pub issued_at: Option<DateTime<Utc>>,
    /// Seconds since, on the service's clock.
    pub age_s: Option<i64>,
    /// Size of the latest checkpoint a witness cosigned; `null` if none was.
    pub witnessed_size: Option<i64>,
    /// When that one was issued.
    pub witnessed_at: Option<DateTime<Utc>>,
    /// Seconds since.
    pub witnessed_age_s: Option<i64>,
}

/// The latest online audit that left its result (`buendel audit verify --record`).
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct AuditRun {
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// Whether everything held.
    pub ok: bool,
    /// The last LEDGER sequence it read.
    pub last_sequence: Option<i64>,
    /// Ledger events verified.
    pub events: i64,
    /// The first bad event, if any.
    pub failure: Option<serde_json::Value>,
    /// How many differences with the projections it listed.
    pub difference_count: i32,
    /// The differences (kind, key, what the ledger says, what the projection says).
    pub differences: serde_json::Value,
}

/// `GET /v1/exceptions`.
#[derive(Debug, Serialize)]
pub struct Exceptions {
    /// The moment the ages are measured at (the service's clock).
    pub now: DateTime<Utc>,
    /// Recoveries with money still owed, largest first (at most 100).
    pub open_recoveries: Vec<OpenRecovery>,
    /// How many recoveries are open in all.
    pub open_recoveries_total: i64,
    /// Each transparency log.
    pub logs: Vec<LogAge>,
    /// The latest recorded online audit; `null` if none was recorded.
    pub latest_audit: Option<AuditRun>,
}

/// The most open recoveries listed.
const OPEN_RECOVERIES_MAX: i64 = 100;

/// `GET /v1/exceptions`: what needs someone's attention beyond claims and dead letters.
#[tracing::instrument(skip_all)]
pub async fn exceptions(State(state): State<AppState>) -> Result<Json<Exceptions>, ApiError> {
    let now = state.clock.now();
    let mut snapshot = crate::snapshot(&state.pool).await?;
    let open = "FROM proposal_money \
        WHERE esf_recovered_cents + land_recovered_cents > esf_repaid_cents + land_repaid_cents";
    let recoveries: Vec<(Uuid, String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT proposal_id, fund_id, esf_recovered_cents + land_recovered_cents, \
             esf_repaid_cents + land_repaid_cents {open} \
         ORDER BY esf_recovered_cents + land_recovered_cents - esf_repaid_cents \
             - land_repaid_cents DESC, proposal_id LIMIT $1"
    ))
    .bind(OPEN_RECOVERIES_MAX)
    .fetch_all(&mut *snapshot)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) {open}"))
        .fetch_one(&mut *snapshot)
        .await?;
    type LogRow = (
        String,
        Option<i64>,
        Option<DateTime<Utc>>,
        Option<i64>,
        Option<DateTime<Utc>>,
    );
    let logs: Vec<LogRow> = sqlx::query_as(
        "SELECT h.log, c.size, c.issued_at, w.size, w.issued_at FROM tlog_heads h \
         LEFT JOIN LATERAL (SELECT size, issued_at FROM tlog_checkpoints \
             WHERE log = h.log ORDER BY size DESC LIMIT 1) c ON TRUE \
         LEFT JOIN LATERAL (SELECT size, issued_at FROM tlog_checkpoints \
             WHERE log = h.log AND cosigned <> note ORDER BY size DESC LIMIT 1) w ON TRUE \
         ORDER BY h.log",
    )
    .fetch_all(&mut *snapshot)
    .await?;
    let latest_audit: Option<AuditRun> = sqlx::query_as(
        "SELECT finished_at, ok, last_sequence, events, failure, difference_count, differences \
         FROM audit_runs ORDER BY finished_at DESC, run_id LIMIT 1",
    )
    .fetch_optional(&mut *snapshot)
    .await?;
    snapshot.commit().await?;
    let age = |at: Option<DateTime<Utc>>| at.map(|at| (now - at).num_seconds().max(0));
    Ok(Json(Exceptions {
        now,
        open_recoveries: recoveries
            .into_iter()
            .map(|(proposal_id, fund_id, recovered, repaid)| OpenRecovery {
                proposal_id,
                fund_id,
                recovered_cents: recovered,
                repaid_cents: repaid,
                outstanding_cents: recovered.saturating_sub(repaid),
            })
            .collect(),
        open_recoveries_total: total,
        logs: logs
            .into_iter()
            .map(
                |(log, size, issued_at, witnessed_size, witnessed_at)| LogAge {
                    log,
                    size: size.unwrap_or(0),
                    age_s: age(issued_at),
                    issued_at,
                    witnessed_size,
                    witnessed_age_s: age(witnessed_at),
                    witnessed_at,
                },
            )
            .collect(),
        latest_audit,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use buendel_contract::Cents;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("date")
    }

    fn point(day: &str, allocated: i64, available: i64) -> HistoryPoint {
        let figures = SourceBalances {
            allocated: Cents(allocated),
            available: Cents(available),
            ..SourceBalances::default()
        };
        HistoryPoint {
            value_date: day.parse().expect("date"),
            esf_plus: figures,
            land: SourceBalances::default(),
            total: figures,
        }
    }

    #[test]
    fn given_money_bound_steadily_when_forecast_then_it_runs_out_on_the_day_the_line_reaches_zero()
    {
        // 1,000 allocated on day 0, 600 left after 10 days: 40 a day, 15 more days.
        let points = [
            point("2026-01-01", 1_000, 1_000),
            point("2026-01-11", 1_000, 600),
        ];
        let forecast =
            forecast(&points, "2027-12-31".parse().ok(), day("2026-01-11")).expect("forecast");
        assert_eq!(forecast.bound_per_day_cents, 40);
        assert_eq!(forecast.runs_out_on, "2026-01-26".parse().ok());
        assert_eq!(forecast.left_at_deadline_cents, None);
    }

    #[test]
    fn given_quiet_days_since_the_last_booking_when_forecast_then_the_pace_slows() {
        // 400 bound in the first 10 days, nothing in the 10 since: 20 a day from today on.
        let points = [
            point("2026-01-01", 1_000, 1_000),
            point("2026-01-11", 1_000, 600),
        ];
        let forecast = forecast(&points, None, day("2026-01-21")).expect("forecast");
        assert_eq!(
            (forecast.to, forecast.bound_per_day_cents),
            (day("2026-01-21"), 20)
        );
        assert_eq!(forecast.runs_out_on, Some(day("2026-02-20")));
    }

    #[test]
    fn given_a_deadline_before_the_money_runs_out_when_forecast_then_it_says_what_is_left() {
        let points = [
            point("2026-01-01", 1_000, 1_000),
            point("2026-01-11", 1_000, 600),
        ];
        let forecast =
            forecast(&points, "2026-01-16".parse().ok(), day("2026-01-02")).expect("forecast");
        assert_eq!(forecast.runs_out_on, None);
        assert_eq!(forecast.left_at_deadline_cents, Some(400));
    }

    #[test]
    fn given_nothing_bound_when_forecast_then_everything_is_left() {
        let points = [
            point("2026-01-01", 1_000, 1_000),
            point("2026-02-01", 1_000, 1_000),
        ];
        let forecast =
            forecast(&points, "2026-12-31".parse().ok(), day("2026-02-01")).expect("forecast");
        assert_eq!(forecast.bound_per_day_cents, 0);
        assert_eq!(forecast.runs_out_on, None);
        assert_eq!(forecast.left_at_deadline_cents, Some(1_000));
        assert!(super::forecast(&[point("2026-01-01", 0, 0)], None, day("2026-02-01")).is_none());
        assert!(super::forecast(&[point("2026-01-01", 9, 9)], None, day("2026-01-01")).is_none());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(Durations::of(vec![]), Durations::default());
        let of = Durations::of((1..=10).rev().collect());
        assert_eq!(
            (of.count, of.median_days, of.p90_days),
            (10, Some(5), Some(9))
        );
        let one = Durations::of(vec![7]);
        assert_eq!((one.median_days, one.p90_days), (Some(7), Some(7)));
    }

    #[test]
    fn eligibility_ends_with_the_programme_rules_or_three_years_after_an_older_period() {
        assert_eq!(eligible_until("non-2021-2027"), "2029-12-31".parse().ok());
        assert_eq!(eligible_until("son-2014-2020"), "2023-12-31".parse().ok());
    }

    #[test]
    fn given_each_status_when_counted_then_the_funnel_never_widens() {
        use CombinedStatus as S;
        let all = [
            S::Submitted,
            S::ScreeningFailed,
            S::InReview,
            S::StatementPositive,
            S::StatementNegative,
            S::Waitlisted,
            S::FundsReserved,
            S::Granted,
            S::Closed,
            S::Refused,
            S::Withdrawn,
        ];
        let mut stages = Stages::default();
        let mut drops = DropOffs::default();
        for status in all {
            for (opened, positive, paid) in [(false, false, false), (true, true, true)] {
                Progress {
                    status,
                    review_opened: opened,
                    statement_positive: positive,
                    paid,
                }
                .count_into(1, &mut stages, &mut drops);
            }
        }
        let s = stages;
        assert_eq!(s.submitted, 22);
        assert!(s.submitted >= s.screened && s.screened >= s.in_review);
        assert!(s.in_review >= s.statement && s.statement >= s.granted);
        assert!(s.granted >= s.paid && s.granted >= s.closed);
        assert_eq!(
            (drops.screened_out, drops.negative, drops.waitlisted),
            (2, 2, 2)
        );
        assert_eq!((drops.refused, drops.withdrawn, s.closed), (2, 2, 2));
    }
}
