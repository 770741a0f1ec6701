//! Blue/green rebuilds: a new generation of the read models is built beside the live one, caught
//! up with the streams, and switched in for readers in one transaction.
//!
//! Layout of one [`rebuild`]:
//! 1. A session advisory lock ([`LOCK_KEY`]) on a connection of its own keeps two rebuilds of a
//!    namespace from interleaving; a rebuild that dies releases it with its connection.
//! 2. The generation is the schema [`NEXT_SCHEMA`] with a copy of every table in [`TABLES`]: the
//!    columns, defaults and checks (`LIKE ... INCLUDING ALL EXCLUDING INDEXES`), then every index
//!    and index-backed constraint under its own name, the storage options, the owner and the
//!    grants (which `LIKE` does not copy, and without which the API's role could not read the
//!    tables after the switch). It is created in one transaction, so it is there whole or not at
//!    all, and its schema comment names the migration it was made at.
//! 3. The same [`Projection`]s write into it, on a pool whose `search_path` is the generation
//!    (every statement of the projections names its tables unqualified), reading the streams with
//!    ordered consumers from the generation's own checkpoints + 1. The live projector's durable
//!    consumers are not touched: it keeps feeding the live tables meanwhile.
//! 4. The switch, once a pass over the streams found little left to apply: in one transaction on
//!    the lock's connection, `public.checkpoints` is locked `EXCLUSIVE` (the live projector's next
//!    batch waits; readers do not), the generation is caught up to at least every live checkpoint,
//!    the switch waits until no reader holds a snapshot older than the generation's last commit
//!    (an old repeatable-read snapshot would see the new tables only partly), then locks every
//!    table of both generations at once, moves the live ones to [`OLD_SCHEMA`] and the new ones to
//!    `public`, and commits. A lock not granted in time rolls the attempt back whole and it is
//!    tried again. Readers wait for the instant of the move and then see the complete new tables;
//!    prepared statements re-resolve the names (Postgres invalidates plans over moved tables).
//!    The live projector goes on from the generation's checkpoints, at or beyond its own, and
//!    skips what it already has.
//! 5. `DROP SCHEMA rebuild_old CASCADE`.
//!
//! A rebuild that stops before the switch leaves the generation with its checkpoints; the next one
//! resumes it (unless told to restart, or the migrations moved on since it was made).

use std::time::Duration;

use anyhow::Context as _;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, PgPool, Postgres, Row as _};

use buendel_contract::namespace::StreamKind;
use buendel_runtime::EventStore;

use crate::checkpoint::checkpoint;
use crate::projection::{stream_key, Projection};
use crate::quarantine::apply_isolating_on;
use crate::{DeadLettersProjection, LedgerProjection, ProposalsProjection, ReviewsProjection};
use crate::{STREAMS, TABLES};

/// The schema a new generation is built in.
pub const NEXT_SCHEMA: &str = "rebuild_next";

/// The schema the replaced generation is moved to by the switch, and dropped from.
pub const OLD_SCHEMA: &str = "rebuild_old";

/// The session advisory lock a rebuild holds (the database is the namespace's, so it is per
/// namespace): "bündel" in ASCII, and a 1.
pub const LOCK_KEY: i64 = 0x62_75_65_6e_64_65_6c_01;

/// Postgres error codes of a lock not granted in time (`lock_timeout`) and of a statement
/// cancelled by `statement_timeout`.
const LOCK_NOT_AVAILABLE: &str = "55P03";
const QUERY_CANCELED: &str = "57014";

/// Every limit of a rebuild, passed explicitly.
#[derive(Debug, Clone)]
pub struct RebuildLimits {
    /// Events per read from a stream and per transaction of the generation at most.
    pub batch_max: u64,
    /// The switch begins once a pass over every stream applied at most this many events (what
    /// is left is applied inside the switch, while the live projector waits).
    pub switch_gap_max: u64,
    /// Catch-up passes at most: streams that grow faster than the rebuild applies fail it.
    pub passes_max: u32,
    /// How long the switch waits for the live projector's batch in flight.
    pub checkpoints_lock_timeout_ms: u64,
    /// How long the switch waits for readers with snapshots older than the generation's last
    /// commit to finish.
    pub snapshots_wait_ms: u64,
    /// How long the switch waits for readers to let go of the tables. Below Postgres'
    /// `deadlock_timeout` (1 s by default), so that in a lock cycle with a reader the switch gives
    /// up first, and the reader never gets an error.
    pub tables_lock_timeout_ms: u64,
    /// Attempts at the switch at most; each one that does not get its locks is rolled back whole.
    pub switch_attempts_max: u32,
    /// Pause between two attempts at the switch (and at dropping the old generation).
    pub retry_pause_ms: u64,
    /// Connections of the generation's pool.
    pub connections_max: u32,
    /// Test seam: stop before the switch once this run applied at least this many events, leaving
    /// the generation to be resumed, as a rebuild that died.
    pub stop_after_events: Option<u64>,
}

impl Default for RebuildLimits {
    fn default() -> Self {
        Self {
            batch_max: 2_000,
            switch_gap_max: 2_000,
            passes_max: 50,
            checkpoints_lock_timeout_ms: 10_000,
            snapshots_wait_ms: 5_000,
            tables_lock_timeout_ms: 500,
            switch_attempts_max: 20,
            retry_pause_ms: 200,
            connections_max: 2,
            stop_after_events: None,
        }
    }
}

/// How far the generation has come on one stream, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The stream.
    pub stream: StreamKind,
    /// The generation's checkpoint of it.
    pub checkpoint: u64,
    /// The sequence it is being caught up to (the stream's head when the pass began, or the live
    /// checkpoint during the switch).
    pub target: u64,
    /// Events this run has applied so far, over every stream.
    pub applied: u64,
}

/// What a [`rebuild`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Whether it continued a generation an earlier rebuild left.
    pub resumed: bool,
    /// Events this run applied to the generation (those it skipped as quarantined included).
    pub applied: u64,
    /// Whether readers now read the new generation (false: stopped by
    /// [`RebuildLimits::stop_after_events`]; the generation waits to be resumed).
    pub switched: bool,
    /// The attempts the switch took.
    pub switch_attempts: u32,
    /// Whether the old generation is gone (if not, the next rebuild drops it first).
    pub old_dropped: bool,
    /// The generation's checkpoint per stream when it was switched in (or stopped).
    pub checkpoints: Vec<(StreamKind, u64)>,
}

/// Builds a new generation of the read models beside the live one and switches readers to it.
///
/// Needs the owner's rights (the role that runs `buendel migrate`): it creates schemas and moves
/// tables. The live projector may run meanwhile, and should: it keeps the live tables current, and
/// continues on the new ones after the switch. `restart` throws away a generation an earlier
/// rebuild left instead of resuming it. `progress` is called after every batch.
pub async fn rebuild(
    store: &EventStore,
    pool: &PgPool,
    limits: &RebuildLimits,
    restart: bool,
    progress: &mut (dyn FnMut(&Progress) + Send + Sync),
) -> anyhow::Result<Report> {
    let options = pool.connect_options().as_ref().clone();
    let mut control = PgConnection::connect_with(&options)
        .await
        .context("connecting the rebuild's control connection")?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut control)
        .await?;
    anyhow::ensure!(
        locked,
        "another rebuild of namespace {} is running (advisory lock {LOCK_KEY} is held)",
        store.namespace()
    );
    let result = rebuild_locked(store, &options, &mut control, limits, restart, progress).await;
    // Closing the connection releases the advisory lock (as a crash would).
    if let Err(error) = control.close().await {
        tracing::warn!(%error, "closing the rebuild's control connection failed");
    }
    result
}

async fn rebuild_locked(
    store: &EventStore,
    options: &PgConnectOptions,
    control: &mut PgConnection,
    limits: &RebuildLimits,
    restart: bool,
    progress: &mut (dyn FnMut(&Progress) + Send + Sync),
) -> anyhow::Result<Report> {
    // The leftover of a switch whose drop did not finish.
    drop_schema(control, OLD_SCHEMA, limits).await?;
    if restart {
        drop_schema(control, NEXT_SCHEMA, limits).await?;
    }
    let resumed = prepare_generation(control).await?;
    let generation = PgPoolOptions::new()
        .max_connections(limits.connections_max.max(1))
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.clone().options([("search_path", NEXT_SCHEMA)]))
        .await
        .context("connecting the generation's pool")?;
    let current: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&generation)
        .await?;
    anyhow::ensure!(
        current.as_deref() == Some(NEXT_SCHEMA),
        "the generation's pool writes to {current:?}, not {NEXT_SCHEMA}"
    );
    let mut run = Run {
        store,
        generation,
        limits,
        progress,
        applied: 0,
    };
    let result = run_generation(&mut run, control, resumed).await;
    run.generation.close().await;
    result
}

/// Catches the generation up, switches it in and drops the old one.
async fn run_generation(
    run: &mut Run<'_>,
    control: &mut PgConnection,
    resumed: bool,
) -> anyhow::Result<Report> {
    let limits = run.limits;
    let mut passes = 0;
    loop {
        anyhow::ensure!(
            passes < limits.passes_max,
            "the generation did not catch up in {} passes: the streams grow faster than it applies",
            limits.passes_max
        );
        passes += 1;
        let mut heads = Vec::with_capacity(STREAMS.len());
        for kind in STREAMS {
            heads.push((kind, run.store.stream_last_sequence(kind).await?));
        }
        let applied = run.catch_up_all(&heads, true).await?;
        if run.stopped() {
            return Ok(Report {
                resumed,
                applied: run.applied,
                switched: false,
                switch_attempts: 0,
                old_dropped: true,
                checkpoints: run.checkpoints().await?,
            });
        }
        if applied <= limits.switch_gap_max {
            break;
        }
    }
    for table in TABLES {
        sqlx::query(&format!("ANALYZE {NEXT_SCHEMA}.{table}"))
            .execute(&run.generation)
            .await
            .with_context(|| format!("analysing {NEXT_SCHEMA}.{table}"))?;
    }
    let mut attempts = 0;
    let checkpoints = loop {
        anyhow::ensure!(
            attempts < limits.switch_attempts_max,
            "the switch did not get its locks in {} attempts",
            limits.switch_attempts_max
        );
        attempts += 1;
        if let Some(checkpoints) = switch(run, control).await? {
            break checkpoints;
        }
        tokio::time::sleep(Duration::from_millis(limits.retry_pause_ms)).await;
    };
    tracing::info!(attempts, "the new generation of the read models is live");
    let old_dropped = match drop_schema(control, OLD_SCHEMA, limits).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "the old generation stays until the next rebuild"
            );
            false
        }
    };
    Ok(Report {
        resumed,
        applied: run.applied,
        switched: true,
        switch_attempts: attempts,
        old_dropped,
        checkpoints,
    })
}

/// The catch-up state of one rebuild.
struct Run<'a> {
    store: &'a EventStore,
    /// Connections whose `search_path` is the generation.
    generation: PgPool,
    limits: &'a RebuildLimits,
    progress: &'a mut (dyn FnMut(&Progress) + Send + Sync),
    /// Events applied by this run.
    applied: u64,
}

impl Run<'_> {
    /// Whether the test seam says to stop.
    fn stopped(&self) -> bool {
        self.limits
            .stop_after_events
            .is_some_and(|limit| self.applied >= limit)
    }

    /// Catches every stream up to its target; returns the events applied.
    async fn catch_up_all(
        &mut self,
        targets: &[(StreamKind, u64)],
        may_stop: bool,
    ) -> anyhow::Result<u64> {
        let mut applied = 0;
        for &(kind, target) in targets {
            applied += match kind {
                StreamKind::Proposals => {
                    self.catch_up(&ProposalsProjection, target, may_stop)
                        .await?
                }
                StreamKind::Reviews => self.catch_up(&ReviewsProjection, target, may_stop).await?,
                StreamKind::Ledger => self.catch_up(&LedgerProjection, target, may_stop).await?,
                StreamKind::Deadletter => {
                    self.catch_up(&DeadLettersProjection, target, may_stop)
                        .await?
                }
                other => anyhow::bail!("the projector has no projection of {other:?}"),
            };
            if may_stop && self.stopped() {
                break;
            }
        }
        Ok(applied)
    }

    /// Applies one stream to the generation from its checkpoint + 1 up to at least `target`, in
    /// batches, each with its checkpoint in one transaction (events that cannot be projected are
    /// quarantined, as in the live projector).
    async fn catch_up<P: Projection>(
        &mut self,
        projection: &P,
        target: u64,
        may_stop: bool,
    ) -> anyhow::Result<u64> {
        let kind = projection.stream();
        let filter = self.store.namespace().stream_subjects(kind);
        let mut conn: PoolConnection<Postgres> = self.generation.acquire().await?;
        let mut applied = 0;
        loop {
            let from = checkpoint(&self.generation, kind).await?;
            if from >= target || (may_stop && self.stopped()) {
                return Ok(applied);
            }
            let until = target.min(from.saturating_add(self.limits.batch_max.max(1)));
            let messages = self
                .store
                .read(kind, &filter, from + 1, until)
                .await
                .with_context(|| format!("reading {} from {}", stream_key(kind), from + 1))?;
            let done = apply_isolating_on(&mut conn, projection, &messages)
                .await
                .with_context(|| format!("projecting {} into the generation", stream_key(kind)))?;
            anyhow::ensure!(
                done.checkpoint > from,
                "the generation made no progress on {} at {from}",
                stream_key(kind)
            );
            applied += done.checkpoint - from;
            self.applied += done.checkpoint - from;
            (self.progress)(&Progress {
                stream: kind,
                checkpoint: done.checkpoint,
                target,
                applied: self.applied,
            });
        }
    }

    /// The generation's checkpoint of every stream.
    async fn checkpoints(&self) -> anyhow::Result<Vec<(StreamKind, u64)>> {
        let mut out = Vec::with_capacity(STREAMS.len());
        for kind in STREAMS {
            out.push((kind, checkpoint(&self.generation, kind).await?));
        }
        Ok(out)
    }
}

/// Resumes the generation an earlier rebuild left, or creates one; returns whether it resumed.
async fn prepare_generation(control: &mut PgConnection) -> anyhow::Result<bool> {
    let migration: i64 =
        sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *control)
            .await
            .context("reading the migration history")?;
    let marker = format!("Bündel read models in the making, at migration {migration}");
    let existing: Option<Option<String>> = sqlx::query_scalar(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
    )
    .bind(NEXT_SCHEMA)
    .fetch_optional(&mut *control)
    .await?;
    match existing {
        Some(Some(found)) if found == marker => {
            tracing::info!("resuming the generation an earlier rebuild left");
            return Ok(true);
        }
        Some(found) => {
            tracing::warn!(?found, %marker, "the generation left was made at another migration; starting over");
            sqlx::query(&format!("DROP SCHEMA {NEXT_SCHEMA} CASCADE"))
                .execute(&mut *control)
                .await?;
        }
        None => {}
    }
    let mut tx = control.begin().await?;
    sqlx::query(&format!("CREATE SCHEMA {NEXT_SCHEMA}"))
        .execute(&mut *tx)
        .await?;
    for table in TABLES {
        copy_table(&mut tx, table)
            .await
            .with_context(|| format!("copying the shape of table {table}"))?;
    }
    sqlx::query(&format!(
        "COMMENT ON SCHEMA {NEXT_SCHEMA} IS '{}'",
        marker.replace('\'', "''")
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(false)
}

/// Creates `NEXT_SCHEMA.table` with the shape of `public.table`: columns, defaults, checks,
/// indexes and constraints under their names, storage options, owner and grants.
async fn copy_table(conn: &mut PgConnection, table: &str) -> anyhow::Result<()> {
    let live = format!("public.{table}");
    let next = format!("{NEXT_SCHEMA}.{table}");
    let unsupported: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM pg_constraint
                  WHERE contype = 'f' AND (conrelid = $1::regclass OR confrelid = $1::regclass))
              + (SELECT count(*) FROM pg_attribute a
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
                    AND (a.attidentity <> '' OR a.attgenerated <> ''
                         OR pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%'))",
    )
    .bind(&live)
    .fetch_one(&mut *conn)
    .await?;
    // A foreign key would tie the generations together, a sequence would be shared by both.
    anyhow::ensure!(
        unsupported == 0,
        "{live} has a foreign key, a sequence or a generated column, which a rebuild cannot copy"
    );
    sqlx::query(&format!(
        "CREATE TABLE {next} (LIKE {live} INCLUDING ALL EXCLUDING INDEXES)"
    ))
    .execute(&mut *conn)
    .await?;
    let constraints = sqlx::query(
        "SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint
          WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x') ORDER BY conname",
    )
    .bind(&live)
    .fetch_all(&mut *conn)
    .await?;
    for row in constraints {
        let (name, definition): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        sqlx::query(&format!(
            "ALTER TABLE {next} ADD CONSTRAINT {name} {definition}"
        ))
        .execute(&mut *conn)
        .await?;
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
          WHERE i.indrelid = $1::regclass
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                             WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                               AND c.contype IN ('p', 'u', 'x'))
          ORDER BY i.indexrelid::regclass::text",
    )
    .bind(&live)
    .fetch_all(&mut *conn)
    .await?;
    for definition in indexes {
        let on_live = format!(" ON {live} USING ");
        anyhow::ensure!(
            definition.matches(&on_live).count() == 1,
            "cannot move index definition {definition:?} to the generation"
        );
        let moved = definition.replacen(&on_live, &format!(" ON {next} USING "), 1);
        sqlx::query(&moved).execute(&mut *conn).await?;
    }
    let reloptions: Option<String> = sqlx::query_scalar(
        "SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = $1::regclass",
    )
    .bind(&live)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(reloptions) = reloptions.filter(|r| !r.is_empty()) {
        sqlx::query(&format!("ALTER TABLE {next} SET ({reloptions})"))
            .execute(&mut *conn)
            .await?;
    }
    let owner: String = sqlx::query_scalar(
        "SELECT quote_ident(pg_get_userbyid(relowner)) FROM pg_class WHERE oid = $1::regclass",
    )
    .bind(&live)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(&format!("ALTER TABLE {next} OWNER TO {owner}"))
        .execute(&mut *conn)
        .await?;
    let grants = sqlx::query(
        "SELECT a.privilege_type, a.is_grantable,
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
           FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
          WHERE c.oid = $1::regclass AND a.grantee <> c.relowner",
    )
    .bind(&live)
    .fetch_all(&mut *conn)
    .await?;
    for row in grants {
        let (privilege, grantable, grantee): (String, bool, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let option = if grantable { " WITH GRANT OPTION" } else { "" };
        sqlx::query(&format!("GRANT {privilege} ON {next} TO {grantee}{option}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One attempt at the switch; `None` when a lock was not granted in time (everything rolled
/// back), else the generation's checkpoints as switched in.
async fn switch(
    run: &mut Run<'_>,
    control: &mut PgConnection,
) -> anyhow::Result<Option<Vec<(StreamKind, u64)>>> {
    let limits = run.limits;
    let mut tx = control.begin().await?;
    set_local(&mut tx, "lock_timeout", limits.checkpoints_lock_timeout_ms).await?;
    // The live projector locks its checkpoint row first in every transaction, so once this lock
    // is granted none of its batches is in flight, and the next one waits until the commit.
    // Readers are not held up: EXCLUSIVE lets ACCESS SHARE through.
    let locked = sqlx::query("LOCK TABLE public.checkpoints IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await;
    if timed_out(&locked) {
        tracing::info!("the live projector held its checkpoints; trying the switch again");
        tx.rollback().await?;
        return Ok(None);
    }
    locked?;
    let mut live = Vec::with_capacity(STREAMS.len());
    for kind in STREAMS {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT last_sequence FROM public.checkpoints WHERE stream = $1")
                .bind(stream_key(kind))
                .fetch_optional(&mut *tx)
                .await?;
        live.push((kind, last.and_then(|l| u64::try_from(l).ok()).unwrap_or(0)));
    }
    run.catch_up_all(&live, false).await?;
    let checkpoints = run.checkpoints().await?;
    for (&(kind, live), &(_, next)) in live.iter().zip(&checkpoints) {
        anyhow::ensure!(
            next >= live,
            "the generation is at {next} of {}, behind the live {live}",
            stream_key(kind)
        );
    }
    if !older_snapshots_gone(&mut tx, limits).await? {
        tracing::info!("readers with older snapshots are still running; trying the switch again");
        tx.rollback().await?;
        return Ok(None);
    }
    // Every table of both generations at once, bounded as a whole: a reader that holds one of
    // them and waits for another makes this give up (and retry) rather than deadlock.
    set_local(&mut tx, "statement_timeout", limits.tables_lock_timeout_ms).await?;
    let every: Vec<String> = TABLES
        .iter()
        .flat_map(|t| [format!("public.{t}"), format!("{NEXT_SCHEMA}.{t}")])
        .collect();
    let locked = sqlx::query(&format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        every.join(", ")
    ))
    .execute(&mut *tx)
    .await;
    if timed_out(&locked) {
        tracing::info!("readers held the tables; trying the switch again");
        tx.rollback().await?;
        return Ok(None);
    }
    locked?;
    sqlx::query("SET LOCAL statement_timeout = DEFAULT")
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA {OLD_SCHEMA}"))
        .execute(&mut *tx)
        .await?;
    for table in TABLES {
        sqlx::query(&format!(
            "ALTER TABLE public.{table} SET SCHEMA {OLD_SCHEMA}"
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "ALTER TABLE {NEXT_SCHEMA}.{table} SET SCHEMA public"
        ))
        .execute(&mut *tx)
        .await?;
    }
    // Empty now; its comment (the resume marker) goes with it.
    sqlx::query(&format!("DROP SCHEMA {NEXT_SCHEMA}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(checkpoints))
}

/// Waits (up to `snapshots_wait_ms`) until no other session of this database holds a snapshot
/// taken before the generation's last commit; false if one still does.
///
/// A repeatable-read transaction takes its snapshot when its first statement is bound, before
/// that statement's locks: one that waited for the switch would read the new tables with an older
/// snapshot and miss what the generation committed after it. Sessions waiting for this
/// transaction's own locks (the live projector) are not waited for: they read in their own
/// statement's snapshot, taken again after the lock. Conservative: any `backend_xmin` before the
/// snapshot horizon counts, also of a snapshot that happens to be newer.
async fn older_snapshots_gone(
    conn: &mut PgConnection,
    limits: &RebuildLimits,
) -> anyhow::Result<bool> {
    // Every commit of the generation has an xid below this.
    let horizon: i64 =
        sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
            .fetch_one(&mut *conn)
            .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(limits.snapshots_wait_ms);
    loop {
        let older: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()
                AND backend_type = 'client backend' AND backend_xmin IS NOT NULL
                AND age(backend_xmin) > age((($1::bigint % 4294967296)::text)::xid)
                AND NOT (pg_backend_pid() = ANY (pg_blocking_pids(pid)))",
        )
        .bind(horizon)
        .fetch_one(&mut *conn)
        .await?;
        if older == 0 {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `SET LOCAL name = 'value ms'` in the current transaction.
async fn set_local(conn: &mut PgConnection, name: &str, ms: u64) -> anyhow::Result<()> {
    sqlx::query(&format!("SET LOCAL {name} = '{ms}ms'"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a statement failed because a lock was not granted in time.
fn timed_out<T>(result: &Result<T, sqlx::Error>) -> bool {
    let Err(sqlx::Error::Database(error)) = result else {
        return false;
    };
    error
        .code()
        .is_some_and(|code| code == LOCK_NOT_AVAILABLE || code == QUERY_CANCELED)
}

/// `DROP SCHEMA schema CASCADE` if it exists, retried while readers still hold its tables.
async fn drop_schema(
    conn: &mut PgConnection,
    schema: &str,
    limits: &RebuildLimits,
) -> anyhow::Result<()> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
        return Ok(());
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut tx = conn.begin().await?;
        set_local(&mut tx, "lock_timeout", limits.tables_lock_timeout_ms).await?;
        let dropped = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut *tx)
            .await;
        if timed_out(&dropped) && attempts < limits.switch_attempts_max {
            tx.rollback().await?;
            tokio::time::sleep(Duration::from_millis(limits.retry_pause_ms)).await;
            continue;
        }
        dropped.with_context(|| format!("dropping schema {schema}"))?;
        tx.commit().await?;
        return Ok(());
    }
}
