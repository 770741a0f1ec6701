//! `GET /v1/funds`, `GET /v1/funds/{id}` (optionally `?as_of=YYYY-MM-DD` and
//! `?known_at=<RFC 3339 time>`) and
//! `GET /v1/funds/{id}/entries` (JSON pages, or `?format=csv|xlsx` with one row per posting, column
//! names in English or with `?lang=de` in German; see [`crate::export`]).
//!
//! The figures are those of [`buendel_contract::ledger`] ("Balances"), per source and in total,
//! computed from the balance of each account kind by the contract's [`KindBalances`]: the current ones from
//! `fund_balances` (a handful of rows per fund, kept up to date by the projector), the ones `as_of`
//! a date from the postings with a value date on or before it. The ledger is bi-temporal: every
//! entry has its value date and its recording time (the event's `time`), so `known_at` gives the
//! books as they were known at a moment (only entries recorded by then), alone or with `as_of`:
//! "what did the books say on 30 June about 31 March". The trial balance is the sum of the
//! balances of all accounts (`account_balances`), which double entry keeps at zero per source; the
//! API computes it on every request and says whether it is zero. Money is integer cents.

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use buendel_contract::ledger::{is_valid_fund_id, AccountKind, KindBalances, SourceBalances};
use buendel_contract::Cents;

use crate::error::ApiError;
use crate::export::{self, Column, Format, Kind, Lang, Table};
use crate::page::{invalid_query, Page, PageRequest};
use crate::AppState;

/// The response header carrying the next cursor of a CSV export cut by `limit`.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

/// The query parameters of `GET /v1/funds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The query parameters of `GET /v1/funds/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    /// `YYYY-MM-DD`: the balances at the end of that day.
    as_of: Option<String>,
    /// RFC 3339: the balances as known at that moment (entries recorded by then).
    known_at: Option<String>,
}

/// The query parameters of `GET /v1/funds/{id}/entries`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// Entries per page (JSON: default 50; CSV: every entry unless given).
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    format: Option<String>,
    /// The export's column names: `en` (default) or `de`.
    lang: Option<String>,
}

/// A fund with its figures.
#[derive(Debug, Serialize)]
pub struct Fund {
    /// `<alliance>-<first year>-<last year>`.
    pub fund_id: String,
    /// The alliance it belongs to.
    pub alliance_id: String,
    /// The last day money may be reserved or committed; `null` until the budget is allocated.
    pub commit_deadline: Option<NaiveDate>,
    /// `null` for the current figures; the day whose end they describe with `?as_of`.
    pub as_of: Option<NaiveDate>,
    /// `null`, or the moment of `?known_at`: only entries recorded by then count.
    pub known_at: Option<DateTime<Utc>>,
    /// Entries booked (up to `as_of`, if given).
    pub entries: i64,
    /// The latest value date booked (up to `as_of`); `null` if none.
    pub last_value_date: Option<NaiveDate>,
    /// LEDGER stream sequence of the last entry (up to `as_of`); 0 if none.
    pub last_sequence: i64,
    /// The `hash` of the last entry (up to `as_of`): the head of the fund's hash chain.
    pub last_hash: Option<String>,
    /// The ESF+ figures, in cents.
    pub esf_plus: SourceBalances,
    /// The Land figures, in cents.
    pub land: SourceBalances,
    /// ESF+ plus Land, in cents.
    pub total: SourceBalances,
    /// The sum of the balances of all accounts of both sources: 0 by double entry.
    pub trial_balance_cents: i64,
    /// True when the balances of all accounts sum to zero in each source.
    pub trial_balance_zero: bool,
    /// Time of the fund's last event.
    pub updated_at: DateTime<Utc>,
}

/// A `funds` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Row {
    pub(crate) fund_id: String,
    pub(crate) alliance_id: String,
    pub(crate) commit_deadline: Option<NaiveDate>,
    last_value_date: NaiveDate,
    created_sequence: i64,
    last_sequence: i64,
    version: i64,
    last_hash: Option<String>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "fund_id, alliance_id, commit_deadline, last_value_date, created_sequence, \
    last_sequence, version, last_hash, updated_at";

/// The balances of one fund by source and account kind, and the trial balance per source.
#[derive(Debug, Default)]
struct Book {
    /// `(source, account kind)` → balance.
    kinds: BTreeMap<(String, String), i128>,
    /// `source` → sum of all its account balances.
    trial: BTreeMap<String, i128>,
}

impl Book {
    fn fund(&self, row: &Row, as_of: Option<(View, Head)>) -> Fund {
        let esf_plus = figures(&self.kinds, "esf_plus");
        let land = figures(&self.kinds, "land");
        let trial_balance: i128 = self.trial.values().sum();
        let (entries, last_value_date, last_sequence, last_hash) = match &as_of {
            None => (
                row.version,
                Some(row.last_value_date),
                row.last_sequence,
                row.last_hash.clone(),
            ),
            Some((_, head)) => (
                head.version,
                head.value_date,
                head.sequence,
                head.hash.clone(),
            ),
        };
        Fund {
            fund_id: row.fund_id.clone(),
            alliance_id: row.alliance_id.clone(),
            commit_deadline: row.commit_deadline,
            as_of: as_of.as_ref().and_then(|(view, _)| view.as_of),
            known_at: as_of.as_ref().and_then(|(view, _)| view.known_at),
            entries,
            last_value_date,
            last_sequence,
            last_hash,
            esf_plus,
            land,
            total: esf_plus.plus(&land),
            trial_balance_cents: narrow(trial_balance).0,
            trial_balance_zero: self.trial.values().all(|sum| *sum == 0),
            updated_at: row.updated_at,
        }
    }
}

fn narrow(wide: i128) -> Cents {
    Cents(i64::try_from(wide).unwrap_or(if wide < 0 { i64::MIN } else { i64::MAX }))
}

/// A source's figures from its account-kind balances, by the contract's one rule
/// ([`KindBalances::fund_figures`], "Balances" in [`buendel_contract::ledger`]). A kind that is
/// not in the chart of accounts counts in no figure (only in the trial balance).
pub(crate) fn figures(kinds: &BTreeMap<(String, String), i128>, source: &str) -> SourceBalances {
    let mut balances = KindBalances::default();
    for kind in AccountKind::ALL {
        let key = (source.to_owned(), kind.as_str().to_owned());
        balances.add(kind, kinds.get(&key).copied().unwrap_or(0));
    }
    balances.fund_figures()
}

/// Books `cents` of one source from `credit` to `debit` into balances by `(source, kind)`: the
/// debited account grows, the credited one shrinks.
pub(crate) fn post(
    kinds: &mut BTreeMap<(String, String), i128>,
    source: String,
    debit: String,
    credit: String,
    cents: i64,
) {
    let cents = i128::from(cents);
    *kinds.entry((source.clone(), debit)).or_insert(0) += cents;
    *kinds.entry((source, credit)).or_insert(0) -= cents;
}

/// The last entry up to a date.
#[derive(Debug, Default)]
struct Head {
    sequence: i64,
    version: i64,
    value_date: Option<NaiveDate>,
    hash: Option<String>,
}

/// `GET /v1/funds`: funds in the order they were opened, with their current figures.
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Fund>>, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut snapshot = crate::snapshot(&state.pool).await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM funds WHERE created_sequence > $1 \
         ORDER BY created_sequence LIMIT $2"
    ))
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(&mut *snapshot)
    .await?;
    let page = page.page(rows, |row| row.created_sequence);
    let ids: Vec<String> = page.items.iter().map(|r| r.fund_id.clone()).collect();
    let mut books = current_books(&mut snapshot, &ids).await?;
    snapshot.commit().await?;
    Ok(Json(Page {
        items: page
            .items
            .iter()
            .map(|row| {
                books
                    .remove(&row.fund_id)
                    .unwrap_or_default()
                    .fund(row, None)
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// `GET /v1/funds/{id}`: one fund's figures, now or at the end of `as_of`.
#[tracing::instrument(skip_all, fields(fund_id = %id))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<GetQuery>, QueryRejection>,
) -> Result<Json<Fund>, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    let view = View {
        as_of: query.as_of.as_deref().map(parse_date).transpose()?,
        known_at: query.known_at.as_deref().map(parse_time).transpose()?,
    };
    let mut snapshot = crate::snapshot(&state.pool).await?;
    let row = fund_row(&mut snapshot, &id).await?;
    let fund = match (view.as_of, view.known_at) {
        (None, None) => {
            let mut books =
                current_books(&mut snapshot, std::slice::from_ref(&row.fund_id)).await?;
            books
                .remove(&row.fund_id)
                .unwrap_or_default()
                .fund(&row, None)
        }
        _ => {
            let book = book_as_of(&mut snapshot, &row.fund_id, &view).await?;
            let head = head_as_of(&mut snapshot, &row.fund_id, &view).await?;
            book.fund(&row, Some((view, head)))
        }
    };
    snapshot.commit().await?;
    Ok(Json(fund))
}

/// Which entries count: value date on or before `as_of`, recorded by `known_at`.
#[derive(Debug, Clone, Copy, Default)]
struct View {
    as_of: Option<NaiveDate>,
    known_at: Option<DateTime<Utc>>,
}

/// An RFC 3339 time, or 400 `invalid_query`.
fn parse_time(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::InvalidQuery(format!(
                "known_at {raw:?} is not an RFC 3339 time (2026-06-30T23:59:59Z)"
            ))
        })
}

/// A `YYYY-MM-DD` date, or 400 `invalid_query`.
fn parse_date(raw: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|_| raw.len() == 10)
        .ok_or_else(|| ApiError::InvalidQuery(format!("as_of {raw:?} is not a date (YYYY-MM-DD)")))
}

/// The fund's row: 400 `invalid_id` for an id that is no fund id, 404 `not_found` if unknown.
pub(crate) async fn fund_row(conn: &mut PgConnection, id: &str) -> Result<Row, ApiError> {
    if !is_valid_fund_id(id) {
        return Err(ApiError::InvalidId(format!(
            "{id:?} is not a fund id (<alliance>-<first year>-<last year>)"
        )));
    }
    let row: Option<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM funds WHERE fund_id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    row.ok_or_else(|| ApiError::NotFound(format!("no fund {id:?}")))
}

/// The current balances by kind (`fund_balances`) and the trial balance (`account_balances`) of
/// the given funds.
async fn current_books(
    conn: &mut PgConnection,
    fund_ids: &[String],
) -> Result<HashMap<String, Book>, sqlx::Error> {
    let kinds: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT fund_id, source, account_kind, balance_cents FROM fund_balances \
         WHERE fund_id = ANY($1)",
    )
    .bind(fund_ids)
    .fetch_all(&mut *conn)
    .await?;
    let trial: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT fund_id, source, SUM(balance_cents)::bigint FROM account_balances \
         WHERE fund_id = ANY($1) GROUP BY fund_id, source",
    )
    .bind(fund_ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut books: HashMap<String, Book> = HashMap::new();
    for (fund_id, source, kind, cents) in kinds {
        *books
            .entry(fund_id)
            .or_default()
            .kinds
            .entry((source, kind))
            .or_insert(0) += i128::from(cents);
    }
    for (fund_id, source, cents) in trial {
        *books
            .entry(fund_id)
            .or_default()
            .trial
            .entry(source)
            .or_insert(0) += i128::from(cents);
    }
    Ok(books)
}

/// The balances by kind and the trial balance of the entries `view` counts: value date on or
/// before `as_of`, recorded by `known_at`.
async fn book_as_of(
    conn: &mut PgConnection,
    fund_id: &str,
    view: &View,
) -> Result<Book, sqlx::Error> {
    let sums: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT p.source, p.debit_kind, p.credit_kind, SUM(p.amount_cents)::bigint \
         FROM ledger_postings p JOIN ledger_entries e ON e.sequence = p.sequence \
         WHERE p.fund_id = $1 AND ($2::date IS NULL OR p.value_date <= $2) \
           AND ($3::timestamptz IS NULL OR e.time <= $3) \
         GROUP BY p.source, p.debit_kind, p.credit_kind",
    )
    .bind(fund_id)
    .bind(view.as_of)
    .bind(view.known_at)
    .fetch_all(&mut *conn)
    .await?;
    let mut book = Book::default();
    for (source, debit, credit, cents) in sums {
        post(&mut book.kinds, source, debit, credit, cents);
    }
    for ((source, _), balance) in &book.kinds {
        *book.trial.entry(source.clone()).or_insert(0) += balance;
    }
    Ok(book)
}

/// The last entry `view` counts.
async fn head_as_of(
    conn: &mut PgConnection,
    fund_id: &str,
    view: &View,
) -> Result<Head, sqlx::Error> {
    let head: Option<(i64, i64, NaiveDate, Option<String>)> = sqlx::query_as(
        "SELECT sequence, version, value_date, hash FROM ledger_entries \
         WHERE fund_id = $1 AND ($2::date IS NULL OR value_date <= $2) \
           AND ($3::timestamptz IS NULL OR time <= $3) ORDER BY sequence DESC LIMIT 1",
    )
    .bind(fund_id)
    .bind(view.as_of)
    .bind(view.known_at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(
        head.map_or_else(Head::default, |(sequence, version, value_date, hash)| {
            Head {
                sequence,
                version,
                value_date: Some(value_date),
                hash,
            }
        }),
    )
}

/// One account of a posting: `{"kind": .., "proposal_id": ..}` as in the events.
#[derive(Debug, Serialize)]
pub struct AccountRef {
    /// `budget`, `available`, `reserved`, `committed`, `disbursed`, `receivable`, `repaid`,
    /// `expired`.
    pub kind: String,
    /// The project of a project account; absent for the fund accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal_id: Option<Uuid>,
}

impl AccountRef {
    /// `available`, or `reserved:<proposal_id>` (as `Account`'s `Display`, used in CSV).
    fn label(&self) -> String {
        match self.proposal_id {
            Some(id) => format!("{}:{id}", self.kind),
            None => self.kind.clone(),
        }
    }
}

/// One posting of an entry.
#[derive(Debug, Serialize)]
pub struct PostingOut {
    /// Its place in the entry, from 0.
    pub index: i32,
    /// `esf_plus` or `land`.
    pub source: String,
    /// The account that receives the money.
    pub debit: AccountRef,
    /// The account the money leaves.
    pub credit: AccountRef,
    /// How much, in cents (> 0).
    pub amount_cents: i64,
}

/// One journal entry (one ledger event) with its postings and hashes.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// LEDGER stream sequence: the pagination key.
    pub sequence: i64,
    /// The fund's version after it (1 for the first entry).
    pub version: i64,
    /// The CloudEvents id.
    pub event_id: Uuid,
    /// The CloudEvents type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The day it takes effect.
    pub value_date: NaiveDate,
    /// When it was decided.
    pub time: DateTime<Utc>,
    /// The project, for entries about one.
    pub proposal_id: Option<Uuid>,
    /// What caused it (a command id or a review event id).
    pub causationid: Option<String>,
    /// The business flow it belongs to.
    pub correlationid: Option<String>,
    /// Who asked for it.
    pub actor: String,
    /// The previous entry's hash (the genesis hash for the first).
    pub prevhash: Option<String>,
    /// SHA-256 of the event's canonical JSON without `hash`.
    pub hash: Option<String>,
    /// The postings, in order (none for a declined reservation).
    pub postings: Vec<PostingOut>,
    /// The CloudEvents `data`, as published.
    pub data: serde_json::Value,
}

#[derive(Debug, sqlx::FromRow)]
struct EntryRow {
    sequence: i64,
    version: i64,
    event_id: Uuid,
    event_type: String,
    value_date: NaiveDate,
    time: DateTime<Utc>,
    proposal_id: Option<Uuid>,
    causationid: Option<String>,
    correlationid: Option<String>,
    actor: String,
    prevhash: Option<String>,
    hash: Option<String>,
    data: serde_json::Value,
}

#[derive(Debug, sqlx::FromRow)]
struct PostingRow {
    sequence: i64,
    index: i32,
    source: String,
    debit_kind: String,
    debit_proposal: Option<Uuid>,
    credit_kind: String,
    credit_proposal: Option<Uuid>,
    amount_cents: i64,
}

impl PostingRow {
    fn into_posting(self) -> PostingOut {
        PostingOut {
            index: self.index,
            source: self.source,
            debit: AccountRef {
                kind: self.debit_kind,
                proposal_id: self.debit_proposal,
            },
            credit: AccountRef {
                kind: self.credit_kind,
                proposal_id: self.credit_proposal,
            },
            amount_cents: self.amount_cents,
        }
    }
}

/// `GET /v1/funds/{id}/entries`: the fund's journal in stream order, as JSON pages or as CSV.
#[tracing::instrument(skip_all, fields(fund_id = %id))]
pub async fn entries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<EntriesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    let format = Format::parse(query.format.as_deref())?;
    let lang = Lang::parse(query.lang.as_deref())?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let row = fund_row(&mut *state.pool.acquire().await?, &id).await?;
    if format != Format::Json {
        let limit = query.limit.map(|_| page);
        let (table, next_cursor) =
            journal_table(&state.pool, &row.fund_id, page.after, limit).await?;
        let stem = format!("journal-{}", row.fund_id);
        return export::respond(&table, format, lang, &stem, "Journal", next_cursor);
    }
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT sequence, version, event_id, event_type, value_date, time, proposal_id, \
             causationid, correlationid, actor, prevhash, hash, data \
         FROM ledger_entries WHERE fund_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
    )
    .bind(&row.fund_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(&state.pool)
    .await?;
    let page = page.page(rows, |entry| entry.sequence);
    let sequences: Vec<i64> = page.items.iter().map(|e| e.sequence).collect();
    let postings: Vec<PostingRow> = sqlx::query_as(
        "SELECT sequence, index, source, debit_kind, debit_proposal, credit_kind, \
             credit_proposal, amount_cents \
         FROM ledger_postings WHERE sequence = ANY($1) ORDER BY sequence, index",
    )
    .bind(&sequences)
    .fetch_all(&state.pool)
    .await?;
    let mut by_entry: HashMap<i64, Vec<PostingOut>> = HashMap::new();
    for posting in postings {
        by_entry
            .entry(posting.sequence)
            .or_default()
            .push(posting.into_posting());
    }
    let items = page
        .items
        .into_iter()
        .map(|e| Entry {
            postings: by_entry.remove(&e.sequence).unwrap_or_default(),
            sequence: e.sequence,
            version: e.version,
            event_id: e.event_id,
            event_type: e.event_type,
            value_date: e.value_date,
            time: e.time,
            proposal_id: e.proposal_id,
            causationid: e.causationid,
            correlationid: e.correlationid,
            actor: e.actor,
            prevhash: e.prevhash,
            hash: e.hash,
            data: e.data,
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: page.next_cursor,
    })
    .into_response())
}

/// The header line of the CSV export (`lang=en`), the English names of [`JOURNAL_COLUMNS`].
pub const CSV_HEADER: &str = "sequence,event_id,event_type,value_date,proposal_id,source,debit,\
credit,amount_cents,prevhash,hash";

/// The columns of the journal's export: one row per posting.
pub const JOURNAL_COLUMNS: &[Column] = &[
    Column::new("sequence", "sequenz", Kind::Integer),
    Column::new("event_id", "ereignis_id", Kind::Text),
    Column::new("event_type", "ereignistyp", Kind::Text),
    Column::new("value_date", "wertstellung", Kind::Date),
    Column::new("proposal_id", "antrag_id", Kind::Text),
    Column::new("source", "quelle", Kind::Text),
    Column::new("debit", "soll", Kind::Text),
    Column::new("credit", "haben", Kind::Text),
    Column::new("amount_cents", "betrag_cent", Kind::Cents),
    Column::new("prevhash", "vorheriger_hash", Kind::Text),
    Column::new("hash", "hash", Kind::Text),
];

#[derive(Debug, sqlx::FromRow)]
struct CsvRow {
    sequence: i64,
    event_id: Uuid,
    event_type: String,
    value_date: NaiveDate,
    proposal_id: Option<Uuid>,
    #[sqlx(flatten)]
    posting: PostingRow,
    prevhash: Option<String>,
    hash: Option<String>,
}

/// One row per posting of the entries after `after`: all of them (at most
/// [`export::EXPORT_ROWS_MAX`] postings, else 400), or those of `limit` entries with the next
/// cursor.
async fn journal_table(
    pool: &PgPool,
    fund_id: &str,
    after: i64,
    limit: Option<PageRequest>,
) -> Result<(Table, Option<String>), ApiError> {
    let mut until = i64::MAX;
    let mut next_cursor = None;
    if let Some(page) = limit {
        let sequences: Vec<i64> = sqlx::query_scalar(
            "SELECT sequence FROM ledger_entries WHERE fund_id = $1 AND sequence > $2 \
             ORDER BY sequence LIMIT $3",
        )
        .bind(fund_id)
        .bind(after)
        .bind(page.fetch_limit())
        .fetch_all(pool)
        .await?;
        let cut = page.page(sequences, |s| *s);
        until = cut.items.last().copied().unwrap_or(after);
        next_cursor = cut.next_cursor;
    }
    let rows: Vec<CsvRow> = sqlx::query_as(
        "SELECT p.sequence, e.event_id, e.event_type, p.value_date, p.proposal_id, \
             p.index, p.source, p.debit_kind, p.debit_proposal, p.credit_kind, p.credit_proposal, \
             p.amount_cents, e.prevhash, e.hash \
         FROM ledger_postings p JOIN ledger_entries e ON e.sequence = p.sequence \
         WHERE p.fund_id = $1 AND p.sequence > $2 AND p.sequence <= $3 \
         ORDER BY p.sequence, p.index LIMIT $4",
    )
    .bind(fund_id)
    .bind(after)
    .bind(until)
    .bind(export::export_fetch_limit())
    .fetch_all(pool)
    .await?;
    export::check_size(rows.len())?;
    let mut table = Table::new(JOURNAL_COLUMNS);
    for row in rows {
        let posting = row.posting.into_posting();
        table.push(vec![
            row.sequence.into(),
            row.event_id.to_string().into(),
            row.event_type.into(),
            row.value_date.into(),
            row.proposal_id.map(|p| p.to_string()).into(),
            posting.source.into(),
            posting.debit.label().into(),
            posting.credit.label().into(),
            posting.amount_cents.into(),
            row.prevhash.into(),
            row.hash.into(),
        ]);
    }
    Ok((table, next_cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_year_month_day_and_nothing_else() {
        assert!(parse_date("2025-06-30").is_ok());
        for bad in [
            "2025-6-30",
            "2025-02-30",
            "30.06.2025",
            "",
            "2025-06-30T00:00:00",
        ] {
            assert!(parse_date(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_csv_field_is_quoted_only_when_it_must_be() {
        let csv_field = |field| export::csv_field(field, ',');
        assert_eq!(csv_field("reserved:abc"), "reserved:abc");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(export::csv_field("a;b", ';'), "\"a;b\"");
    }

    #[test]
    fn the_journals_english_header_is_the_csv_header_it_always_had() {
        assert_eq!(Table::new(JOURNAL_COLUMNS).csv_header(Lang::En), CSV_HEADER);
        assert_eq!(
            Table::new(JOURNAL_COLUMNS).csv_header(Lang::De),
            "sequenz;ereignis_id;ereignistyp;wertstellung;antrag_id;quelle;soll;haben;\
             betrag_cent;vorheriger_hash;hash"
        );
    }

    #[test]
    fn the_figures_are_the_contracts_of_the_stored_kinds_and_unknown_kinds_count_in_none() {
        let kinds: BTreeMap<(String, String), i128> = [
            ("budget", -1_000),
            ("available", 600),
            ("reserved", 100),
            ("committed", 150),
            ("disbursed", 100),
            ("receivable", 30),
            ("repaid", 20),
            ("payable", 7),
        ]
        .into_iter()
        .map(|(kind, cents)| (("land".to_owned(), kind.to_owned()), cents))
        .collect();
        let land = figures(&kinds, "land");
        assert_eq!(land.allocated, Cents(1_000));
        assert_eq!(land.committed, Cents(300));
        assert_eq!(land.unpaid, Cents(150));
        assert_eq!(land.disbursed, Cents(150));
        assert_eq!(land.recovered, Cents(50));
        assert!(land.parts_sum_to_whole());
        assert_eq!(figures(&kinds, "esf_plus"), SourceBalances::default());
    }
}
