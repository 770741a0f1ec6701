//! The funding ledger's read models, from the LEDGER stream (`<ns>.ledger.<fund_id>`).
//!
//! Every ledger event is one balanced journal entry ([`buendel_contract::ledger`]). A batch is
//! written in a fixed number of statements whatever its size, plus one per claim event:
//!
//! 1. `ledger_entries`: one row per event (`ON CONFLICT DO NOTHING RETURNING sequence`). Only the
//!    events whose row is new go on, so an event applied twice (a replay, even without the
//!    checkpoint) moves no balance twice.
//! 2. `proposal_timeline` (stream `LEDGER`): the new events that concern a project.
//! 3. `ledger_postings`: every posting of the new events.
//! 4. `account_balances` and `fund_balances`: the postings folded per account and per account kind
//!    in Rust ([`Effects::of`]), then added to the stored balances in one upsert each.
//! 5. `proposal_money`: each project's figures (moved by the same deltas) and its status.
//! 6. `grant_terms` and `claims`: one statement per claim event (few), see [`crate::claims`].
//! 7. `funds`: each fund's head (last sequence, version, hash, value date, commit deadline).
//!
//! Every statement but those of step 6 is one `UNNEST` over arrays. Rows are keyed so that the
//! set of rows does not depend on where batches start and end: an account touched in a batch gets its row even when the
//! batch moved it by zero in all, so a rebuild with other batch boundaries yields identical rows.
//!
//! The balances are folded from the postings and nothing else, exactly as
//! [`buendel_contract::ledger::AccountBook`] (and so the Fund aggregate) folds them, and turned
//! into a project's figures by the contract's one rule ([`KindBalances`]); the statuses are the
//! contract's [`LedgerEvent::project_change`], which the Fund aggregate's `apply` follows too.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use buendel_contract::ledger::{
    Account, KindBalances, LedgerEvent, ProjectChange, ProjectStatus, ReleaseReason, Source,
};
use buendel_contract::namespace::StreamKind;
use buendel_contract::EventKind as _;
use buendel_runtime::store::Stored;

use crate::projection::{Projection, ProjectionError};
use crate::timeline;

/// `proposal_id` of the fund accounts (budget, available, expired) in `account_balances`.
pub const FUND_ACCOUNT: Uuid = Uuid::nil();

/// Projects the LEDGER stream into `funds`, `ledger_entries`, `ledger_postings`,
/// `account_balances`, `fund_balances`, `proposal_money`, `proposal_timeline`, `grant_terms` and
/// `claims`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LedgerProjection;

/// A decoded LEDGER message.
type Decoded = crate::projection::Decoded<LedgerEvent>;

impl Projection for LedgerProjection {
    fn stream(&self) -> StreamKind {
        StreamKind::Ledger
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        sequence: u64,
        subject: &str,
        payload: &[u8],
    ) -> Result<(), ProjectionError> {
        let message = Stored {
            sequence,
            subject: subject.to_owned(),
            payload: payload.to_vec().into(),
            trace: None,
        };
        self.apply_many(conn, std::slice::from_ref(&message)).await
    }

    async fn apply_many(
        &self,
        conn: &mut PgConnection,
        messages: &[Stored],
    ) -> Result<(), ProjectionError> {
        let decoded = messages
            .iter()
            .map(|m| crate::projection::decode(m.sequence, &m.subject, &m.payload))
            .collect::<Result<Vec<Decoded>, _>>()?;
        let fresh = insert_entries(conn, &decoded).await?;
        if fresh.is_empty() {
            return Ok(());
        }
        let about_projects: Vec<&Decoded> = fresh
            .iter()
            .copied()
            .filter(|d| d.envelope.event.proposal_id().is_some())
            .collect();
        timeline::insert(conn, StreamKind::Ledger, &about_projects, |event| {
            event.proposal_id().unwrap_or(FUND_ACCOUNT)
        })
        .await?;
        let effects = Effects::of(&fresh)?;
        insert_postings(conn, &effects.postings).await?;
        add_account_balances(conn, &effects.accounts).await?;
        add_fund_balances(conn, &effects.kinds).await?;
        upsert_money(conn, &effects.projects).await?;
        crate::claims::apply(conn, &fresh).await?;
        upsert_funds(conn, &effects.funds).await
    }
}

/// Inserts every event's entry row; returns the events whose row is new, in stream order.
async fn insert_entries<'a>(
    conn: &mut PgConnection,
    events: &'a [Decoded],
) -> Result<Vec<&'a Decoded>, ProjectionError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let n = events.len();
    let mut sequences = Vec::with_capacity(n);
    let mut fund_ids = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut event_ids = Vec::with_capacity(n);
    let mut event_types = Vec::with_capacity(n);
    let mut value_dates = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut proposal_ids = Vec::with_capacity(n);
    let mut prevhashes = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut causations = Vec::with_capacity(n);
    let mut correlations = Vec::with_capacity(n);
    let mut actors = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n);
    for d in events {
        let envelope = &d.envelope;
        if let Err(malformed) = envelope.event.check_entry() {
            // Projected as stored (the stream is the record); the auditor reports it too.
            tracing::warn!(sequence = d.sequence, %malformed, "ledger entry does not match its amounts");
        }
        sequences.push(d.sql_sequence);
        fund_ids.push(envelope.event.fund_id());
        versions.push(d.version);
        event_ids.push(envelope.id);
        event_types.push(envelope.event.event_type());
        value_dates.push(envelope.event.value_date());
        times.push(envelope.time);
        proposal_ids.push(envelope.event.proposal_id());
        prevhashes.push(envelope.prevhash.as_deref());
        hashes.push(envelope.hash.as_deref());
        causations.push(envelope.causationid.as_deref());
        correlations.push(envelope.correlationid.as_deref());
        actors.push(envelope.actor.as_str());
        data.push(d.data.get());
    }
    let inserted: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO ledger_entries (sequence, fund_id, version, event_id, event_type, value_date, \
             time, proposal_id, prevhash, hash, causationid, correlationid, actor, data) \
         SELECT u.sequence, u.fund_id, u.version, u.event_id, u.event_type, u.value_date, u.time, \
             u.proposal_id, u.prevhash, u.hash, u.causationid, u.correlationid, u.actor, \
             u.data::json \
         FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], \
                     $6::date[], $7::timestamptz[], $8::uuid[], $9::text[], $10::text[], \
                     $11::text[], $12::text[], $13::text[], $14::text[]) \
             AS u(sequence, fund_id, version, event_id, event_type, value_date, time, proposal_id, \
                  prevhash, hash, causationid, correlationid, actor, data) \
         ON CONFLICT DO NOTHING RETURNING sequence",
    )
    .bind(&sequences)
    .bind(fund_ids)
    .bind(versions)
    .bind(event_ids)
    .bind(event_types)
    .bind(value_dates)
    .bind(times)
    .bind(proposal_ids)
    .bind(prevhashes)
    .bind(hashes)
    .bind(causations)
    .bind(correlations)
    .bind(actors)
    .bind(data)
    .fetch_all(&mut *conn)
    .await?;
    let inserted: BTreeSet<i64> = inserted.into_iter().collect();
    if inserted.len() < events.len() {
        warn_about_duplicate_ids(conn, events, &inserted).await?;
    }
    Ok(events
        .iter()
        .filter(|d| inserted.contains(&d.sql_sequence))
        .collect())
}

/// Events not inserted are replays of their own sequence, or (never decided by the ledger service)
/// a second event with an id already stored at another sequence: that one is skipped, and said so.
async fn warn_about_duplicate_ids(
    conn: &mut PgConnection,
    events: &[Decoded],
    inserted: &BTreeSet<i64>,
) -> Result<(), ProjectionError> {
    let skipped: Vec<i64> = events
        .iter()
        .map(|d| d.sql_sequence)
        .filter(|s| !inserted.contains(s))
        .collect();
    let stored: BTreeSet<i64> =
        sqlx::query_scalar("SELECT sequence FROM ledger_entries WHERE sequence = ANY($1)")
            .bind(&skipped)
            .fetch_all(conn)
            .await?
            .into_iter()
            .collect();
    for d in events {
        if !inserted.contains(&d.sql_sequence) && !stored.contains(&d.sql_sequence) {
            tracing::warn!(
                sequence = d.sequence,
                event_id = %d.envelope.id,
                "skipping a ledger event whose id is already stored at another sequence"
            );
        }
    }
    Ok(())
}

/// One `ledger_postings` row.
struct PostingRow<'a> {
    sequence: i64,
    index: i32,
    fund_id: &'a str,
    proposal_id: Option<Uuid>,
    source: &'static str,
    debit: Account,
    credit: Account,
    amount_cents: i64,
    value_date: NaiveDate,
}

/// `(fund, source, account kind, project or FUND_ACCOUNT)`.
type AccountKey<'a> = (&'a str, &'static str, &'static str, Uuid);
/// `(fund, source, account kind)`.
type KindKey<'a> = (&'a str, &'static str, &'static str);

/// What one batch of new events does to the balances, folded in memory.
#[derive(Default)]
struct Effects<'a> {
    /// Every posting, in stream and entry order.
    postings: Vec<PostingRow<'a>>,
    /// Balance change of every account touched (zero changes kept: the row must exist).
    accounts: BTreeMap<AccountKey<'a>, i128>,
    /// Balance change per fund, source and account kind.
    kinds: BTreeMap<KindKey<'a>, i128>,
    /// Each project touched: its figure changes and its last status change.
    projects: BTreeMap<Uuid, ProjectDelta<'a>>,
    /// Each fund touched: its new head.
    funds: BTreeMap<&'a str, FundHead<'a>>,
}

/// What a batch does to one project.
struct ProjectDelta<'a> {
    fund_id: &'a str,
    change: ProjectChange,
    /// The changes of its ESF+ account balances, by kind.
    esf: KindBalances,
    /// The changes of its Land account balances, by kind.
    land: KindBalances,
    last_sequence: i64,
    updated_at: DateTime<Utc>,
}

/// A fund's head after a batch.
struct FundHead<'a> {
    commit_deadline: Option<NaiveDate>,
    last_value_date: NaiveDate,
    created_sequence: i64,
    last_sequence: i64,
    version: i64,
    last_hash: Option<&'a str>,
    updated_at: DateTime<Utc>,
}

impl<'a> Effects<'a> {
    /// Folds the new events of a batch, in stream order.
    fn of(events: &[&'a Decoded]) -> Result<Self, ProjectionError> {
        let mut effects = Effects::default();
        for d in events {
            effects.add(d)?;
        }
        Ok(effects)
    }

    fn add(&mut self, d: &'a Decoded) -> Result<(), ProjectionError> {
        let event = &d.envelope.event;
        let fund_id = event.fund_id();
        let value_date = event.value_date();
        if let Some((proposal_id, change)) = event.project_change() {
            let project = self.project(proposal_id, fund_id, d);
            project.change = change.after(project.change);
        }
        for (index, posting) in event.postings().iter().enumerate() {
            let index = i32::try_from(index).map_err(|_| ProjectionError::OutOfRange {
                sequence: d.sequence,
                what: "posting index",
            })?;
            let source = posting.source.as_str();
            let cents = i128::from(posting.amount_cents.0);
            for (account, signed) in [(posting.debit, cents), (posting.credit, -cents)] {
                let owner = account.proposal_id();
                *self
                    .accounts
                    .entry((
                        fund_id,
                        source,
                        account.kind(),
                        owner.unwrap_or(FUND_ACCOUNT),
                    ))
                    .or_insert(0) += signed;
                *self
                    .kinds
                    .entry((fund_id, source, account.kind()))
                    .or_insert(0) += signed;
                if let Some(proposal_id) = owner {
                    let project = self.project(proposal_id, fund_id, d);
                    let figures = match posting.source {
                        Source::EsfPlus => &mut project.esf,
                        Source::Land => &mut project.land,
                    };
                    figures.add_account(&account, signed);
                }
            }
            self.postings.push(PostingRow {
                sequence: d.sql_sequence,
                index,
                fund_id,
                proposal_id: event.proposal_id(),
                source,
                debit: posting.debit,
                credit: posting.credit,
                amount_cents: posting.amount_cents.0,
                value_date,
            });
        }
        let commit_deadline = if let LedgerEvent::BudgetAllocated(e) = event {
            Some(e.commit_deadline)
        } else {
            None
        };
        let head = self.funds.entry(fund_id).or_insert(FundHead {
            commit_deadline: None,
            last_value_date: value_date,
            created_sequence: d.sql_sequence,
            last_sequence: d.sql_sequence,
            version: d.version,
            last_hash: None,
            updated_at: d.envelope.time,
        });
        // The first allocation sets the deadline, as in the Fund aggregate.
        head.commit_deadline = head.commit_deadline.or(commit_deadline);
        head.last_value_date = head.last_value_date.max(value_date);
        head.last_sequence = d.sql_sequence;
        head.version = d.version;
        head.last_hash = d.envelope.hash.as_deref();
        head.updated_at = d.envelope.time;
        Ok(())
    }

    /// The delta of a project, created empty; bookkeeping follows the last event touching it.
    fn project(
        &mut self,
        proposal_id: Uuid,
        fund_id: &'a str,
        d: &Decoded,
    ) -> &mut ProjectDelta<'a> {
        let project = self.projects.entry(proposal_id).or_insert(ProjectDelta {
            fund_id,
            change: ProjectChange::default(),
            esf: KindBalances::default(),
            land: KindBalances::default(),
            last_sequence: d.sql_sequence,
            updated_at: d.envelope.time,
        });
        project.last_sequence = d.sql_sequence;
        project.updated_at = d.envelope.time;
        project
    }
}

/// A balance change as a `bigint`; beyond it is [`ProjectionError::OutOfRange`] (only possible
/// with forged amounts: the ledger caps every amount far below).
fn cents(delta: i128, sequence: i64, what: &'static str) -> Result<i64, ProjectionError> {
    i64::try_from(delta).map_err(|_| ProjectionError::OutOfRange {
        sequence: u64::try_from(sequence).unwrap_or(0),
        what,
    })
}

async fn insert_postings(
    conn: &mut PgConnection,
    postings: &[PostingRow<'_>],
) -> Result<(), ProjectionError> {
    if postings.is_empty() {
        return Ok(());
    }
    let n = postings.len();
    let mut sequences = Vec::with_capacity(n);
    let mut indexes = Vec::with_capacity(n);
    let mut fund_ids = Vec::with_capacity(n);
    let mut proposal_ids = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    let mut debit_kinds = Vec::with_capacity(n);
    let mut debit_proposals = Vec::with_capacity(n);
    let mut credit_kinds = Vec::with_capacity(n);
    let mut credit_proposals = Vec::with_capacity(n);
    let mut amounts = Vec::with_capacity(n);
    let mut value_dates = Vec::with_capacity(n);
    for p in postings {
        sequences.push(p.sequence);
        indexes.push(p.index);
        fund_ids.push(p.fund_id);
        proposal_ids.push(p.proposal_id);
        sources.push(p.source);
        debit_kinds.push(p.debit.kind());
        debit_proposals.push(p.debit.proposal_id());
        credit_kinds.push(p.credit.kind());
        credit_proposals.push(p.credit.proposal_id());
        amounts.push(p.amount_cents);
        value_dates.push(p.value_date);
    }
    sqlx::query(
        "INSERT INTO ledger_postings (sequence, index, fund_id, proposal_id, source, debit_kind, \
             debit_proposal, credit_kind, credit_proposal, amount_cents, value_date) \
         SELECT * FROM UNNEST($1::bigint[], $2::integer[], $3::text[], $4::uuid[], $5::text[], \
                              $6::text[], $7::uuid[], $8::text[], $9::uuid[], $10::bigint[], \
                              $11::date[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(sequences)
    .bind(indexes)
    .bind(fund_ids)
    .bind(proposal_ids)
    .bind(sources)
    .bind(debit_kinds)
    .bind(debit_proposals)
    .bind(credit_kinds)
    .bind(credit_proposals)
    .bind(amounts)
    .bind(value_dates)
    .execute(conn)
    .await?;
    Ok(())
}

async fn add_account_balances(
    conn: &mut PgConnection,
    accounts: &BTreeMap<AccountKey<'_>, i128>,
) -> Result<(), ProjectionError> {
    if accounts.is_empty() {
        return Ok(());
    }
    let mut fund_ids = Vec::with_capacity(accounts.len());
    let mut sources = Vec::with_capacity(accounts.len());
    let mut kinds = Vec::with_capacity(accounts.len());
    let mut proposal_ids = Vec::with_capacity(accounts.len());
    let mut deltas = Vec::with_capacity(accounts.len());
    for ((fund_id, source, kind, proposal_id), delta) in accounts {
        fund_ids.push(*fund_id);
        sources.push(*source);
        kinds.push(*kind);
        proposal_ids.push(*proposal_id);
        deltas.push(cents(*delta, 0, "account balance change")?);
    }
    sqlx::query(
        "INSERT INTO account_balances AS a (fund_id, source, account_kind, proposal_id, balance_cents) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::uuid[], $5::bigint[]) \
         ON CONFLICT (fund_id, source, account_kind, proposal_id) DO UPDATE \
             SET balance_cents = a.balance_cents + EXCLUDED.balance_cents",
    )
    .bind(fund_ids)
    .bind(sources)
    .bind(kinds)
    .bind(proposal_ids)
    .bind(deltas)
    .execute(conn)
    .await?;
    Ok(())
}

async fn add_fund_balances(
    conn: &mut PgConnection,
    kinds: &BTreeMap<KindKey<'_>, i128>,
) -> Result<(), ProjectionError> {
    if kinds.is_empty() {
        return Ok(());
    }
    let mut fund_ids = Vec::with_capacity(kinds.len());
    let mut sources = Vec::with_capacity(kinds.len());
    let mut account_kinds = Vec::with_capacity(kinds.len());
    let mut deltas = Vec::with_capacity(kinds.len());
    for ((fund_id, source, kind), delta) in kinds {
        fund_ids.push(*fund_id);
        sources.push(*source);
        account_kinds.push(*kind);
        deltas.push(cents(*delta, 0, "fund balance change")?);
    }
    sqlx::query(
        "INSERT INTO fund_balances AS b (fund_id, source, account_kind, balance_cents) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
         ON CONFLICT (fund_id, source, account_kind) DO UPDATE \
             SET balance_cents = b.balance_cents + EXCLUDED.balance_cents",
    )
    .bind(fund_ids)
    .bind(sources)
    .bind(account_kinds)
    .bind(deltas)
    .execute(conn)
    .await?;
    Ok(())
}

/// The ten figure columns of `proposal_money` (the
/// [`ProjectBalances::stored`](buendel_contract::ledger::ProjectBalances::stored) figures of ESF+,
/// then of Land), as arrays of changes.
#[derive(Default)]
struct FigureColumns {
    columns: [Vec<i64>; 10],
}

impl FigureColumns {
    fn push(&mut self, project: &ProjectDelta<'_>) -> Result<(), ProjectionError> {
        let out_of_range = || ProjectionError::OutOfRange {
            sequence: u64::try_from(project.last_sequence).unwrap_or(0),
            what: "project figure",
        };
        let esf = project
            .esf
            .checked_project_figures()
            .ok_or_else(out_of_range)?;
        let land = project
            .land
            .checked_project_figures()
            .ok_or_else(out_of_range)?;
        let values = esf.stored().into_iter().chain(land.stored());
        for (column, value) in self.columns.iter_mut().zip(values) {
            column.push(value.0);
        }
        Ok(())
    }
}

async fn upsert_money(
    conn: &mut PgConnection,
    projects: &BTreeMap<Uuid, ProjectDelta<'_>>,
) -> Result<(), ProjectionError> {
    if projects.is_empty() {
        return Ok(());
    }
    let n = projects.len();
    let mut proposal_ids = Vec::with_capacity(n);
    let mut fund_ids = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut requested_esf = Vec::with_capacity(n);
    let mut requested_land = Vec::with_capacity(n);
    let mut figures = FigureColumns::default();
    let mut last_sequences = Vec::with_capacity(n);
    let mut updated = Vec::with_capacity(n);
    for (proposal_id, project) in projects {
        proposal_ids.push(*proposal_id);
        fund_ids.push(project.fund_id);
        statuses.push(project.change.status.map(ProjectStatus::as_str));
        reasons.push(project.change.release_reason.map(ReleaseReason::as_str));
        requested_esf.push(project.change.requested.map(|r| r.esf_cents.0));
        requested_land.push(project.change.requested.map(|r| r.land_cents.0));
        figures.push(project)?;
        last_sequences.push(project.last_sequence);
        updated.push(project.updated_at);
    }
    let [er, ec, ed, erc, erp, lr, lc, ld, lrc, lrp] = figures.columns;
    sqlx::query(
        "INSERT INTO proposal_money AS m (proposal_id, fund_id, status, release_reason, \
             requested_esf_cents, requested_land_cents, \
             esf_reserved_cents, esf_committed_cents, esf_disbursed_cents, esf_recovered_cents, \
             esf_repaid_cents, land_reserved_cents, land_committed_cents, land_disbursed_cents, \
             land_recovered_cents, land_repaid_cents, last_sequence, updated_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                              $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], \
                              $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], \
                              $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], \
                              $18::timestamptz[]) \
         ON CONFLICT (proposal_id) DO UPDATE SET \
             status = COALESCE(EXCLUDED.status, m.status), \
             release_reason = COALESCE(EXCLUDED.release_reason, m.release_reason), \
             requested_esf_cents = COALESCE(EXCLUDED.requested_esf_cents, m.requested_esf_cents), \
             requested_land_cents = COALESCE(EXCLUDED.requested_land_cents, m.requested_land_cents), \
             esf_reserved_cents = m.esf_reserved_cents + EXCLUDED.esf_reserved_cents, \
             esf_committed_cents = m.esf_committed_cents + EXCLUDED.esf_committed_cents, \
             esf_disbursed_cents = m.esf_disbursed_cents + EXCLUDED.esf_disbursed_cents, \
             esf_recovered_cents = m.esf_recovered_cents + EXCLUDED.esf_recovered_cents, \
             esf_repaid_cents = m.esf_repaid_cents + EXCLUDED.esf_repaid_cents, \
             land_reserved_cents = m.land_reserved_cents + EXCLUDED.land_reserved_cents, \
             land_committed_cents = m.land_committed_cents + EXCLUDED.land_committed_cents, \
             land_disbursed_cents = m.land_disbursed_cents + EXCLUDED.land_disbursed_cents, \
             land_recovered_cents = m.land_recovered_cents + EXCLUDED.land_recovered_cents, \
             land_repaid_cents = m.land_repaid_cents + EXCLUDED.land_repaid_cents, \
             last_sequence = GREATEST(m.last_sequence, EXCLUDED.last_sequence), \
             updated_at = CASE WHEN EXCLUDED.last_sequence > m.last_sequence \
                               THEN EXCLUDED.updated_at ELSE m.updated_at END",
    )
    .bind(proposal_ids)
    .bind(fund_ids)
    .bind(statuses)
    .bind(reasons)
    .bind(requested_esf)
    .bind(requested_land)
    .bind(er)
    .bind(ec)
    .bind(ed)
    .bind(erc)
    .bind(erp)
    .bind(lr)
    .bind(lc)
    .bind(ld)
    .bind(lrc)
    .bind(lrp)
    .bind(last_sequences)
    .bind(updated)
    .execute(conn)
    .await?;
    Ok(())
}

/// The alliance part of a fund id (`non` of `non-2021-2027`); the whole id if it has no years.
pub fn alliance_of(fund_id: &str) -> &str {
    let mut parts = fund_id.rsplitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(alliance)) => alliance,
        _ => fund_id,
    }
}

async fn upsert_funds(
    conn: &mut PgConnection,
    funds: &BTreeMap<&str, FundHead<'_>>,
) -> Result<(), ProjectionError> {
    if funds.is_empty() {
        return Ok(());
    }
    let n = funds.len();
    let mut fund_ids = Vec::with_capacity(n);
    let mut alliance_ids = Vec::with_capacity(n);
    let mut deadlines = Vec::with_capacity(n);
    let mut value_dates = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    let mut last_sequences = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut updated = Vec::with_capacity(n);
    for (fund_id, head) in funds {
        fund_ids.push(*fund_id);
        alliance_ids.push(alliance_of(fund_id));
        deadlines.push(head.commit_deadline);
        value_dates.push(head.last_value_date);
        created.push(head.created_sequence);
        last_sequences.push(head.last_sequence);
        versions.push(head.version);
        hashes.push(head.last_hash);
        updated.push(head.updated_at);
    }
    sqlx::query(
        "INSERT INTO funds AS f (fund_id, alliance_id, commit_deadline, last_value_date, \
             created_sequence, last_sequence, version, last_hash, updated_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::date[], $4::date[], $5::bigint[], \
                              $6::bigint[], $7::bigint[], $8::text[], $9::timestamptz[]) \
         ON CONFLICT (fund_id) DO UPDATE SET \
             commit_deadline = COALESCE(f.commit_deadline, EXCLUDED.commit_deadline), \
             last_value_date = GREATEST(f.last_value_date, EXCLUDED.last_value_date), \
             last_sequence = EXCLUDED.last_sequence, \
             version = EXCLUDED.version, \
             last_hash = EXCLUDED.last_hash, \
             updated_at = EXCLUDED.updated_at \
         WHERE f.last_sequence < EXCLUDED.last_sequence",
    )
    .bind(fund_ids)
    .bind(alliance_ids)
    .bind(deadlines)
    .bind(value_dates)
    .bind(created)
    .bind(last_sequences)
    .bind(versions)
    .bind(hashes)
    .bind(updated)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use buendel_contract::ledger::ProjectBalances;

    #[test]
    fn the_alliance_of_a_fund_is_the_part_before_its_years() {
        assert_eq!(alliance_of("non-2021-2027"), "non");
        assert_eq!(alliance_of("my-alliance-2021-2027"), "my-alliance");
        assert_eq!(alliance_of("odd"), "odd");
    }

    #[test]
    fn a_project_account_counts_in_every_figure_it_is_part_of() {
        let p = Uuid::from_u128(7);
        let mut figures = KindBalances::default();
        figures.add_account(&Account::Repaid { proposal_id: p }, 5);
        figures.add_account(&Account::Disbursed { proposal_id: p }, 10);
        let project = ProjectDelta {
            fund_id: "non-2021-2027",
            change: ProjectChange::default(),
            esf: figures,
            land: KindBalances::default(),
            last_sequence: 1,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let mut columns = FigureColumns::default();
        columns.push(&project).expect("in range");
        let esf: Vec<i64> = columns.columns[..5].iter().flatten().copied().collect();
        assert_eq!(esf, [0, 15, 15, 5, 5]);
        assert_eq!(ProjectBalances::STORED[1], "committed");
    }
}
