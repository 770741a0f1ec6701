//! The Postgres pool and the one migration history of the workspace (`migrations/`).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use buendel_contract::Namespace;

/// The workspace migrator: every read model table, in one history.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Pool limits, passed explicitly at the call site.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    /// Connections at most.
    pub max_connections: u32,
    /// How long to wait for a free connection.
    pub acquire_timeout_ms: u64,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout_ms: 5_000,
        }
    }
}

/// The connect options for a namespace: the URL's database, or the namespace's when it names none.
pub fn options(database_url: &str, namespace: &Namespace) -> anyhow::Result<PgConnectOptions> {
    let options = PgConnectOptions::from_str(database_url)
        .with_context(|| format!("DATABASE_URL {database_url:?} is not a Postgres URL"))?;
    let options = match options.get_database() {
        Some(_) => options,
        None => options.database(namespace.database()),
    };
    Ok(options.log_statements(tracing::log::LevelFilter::Trace))
}

fn unreachable_hint(options: &PgConnectOptions) -> String {
    format!(
        "cannot reach Postgres at {}:{}. Start it, e.g. \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or \
         `docker compose up -d postgres`, or point DATABASE_URL at a running server",
        options.get_host(),
        options.get_port()
    )
}

/// Creates the database if it does not exist yet (concurrent callers are fine).
pub async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let admin = options.clone().database("postgres");
    let mut conn = admin
        .connect()
        .await
        .with_context(|| unreachable_hint(options))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let statement = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        if let Err(error) = sqlx::query(&statement).execute(&mut conn).await {
            let duplicate = error
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "42P04" || code == "23505");
            if !duplicate {
                return Err(error).with_context(|| format!("creating database {name}"));
            }
        }
    }
    conn.close().await?;
    Ok(())
}

/// Drops a database (tests clean up after themselves).
pub async fn drop_database(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or_default().to_owned();
    let mut conn = options.clone().database("postgres").connect().await?;
    let statement = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        name.replace('"', "\"\"")
    );
    sqlx::query(&statement).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Creates the database if needed, connects a pool and runs the migrations.
pub async fn connect_and_migrate(
    database_url: &str,
    namespace: &Namespace,
    limits: PoolLimits,
) -> anyhow::Result<PgPool> {
    create_database_if_missing(&options(database_url, namespace)?).await?;
    let pool = connect(database_url, namespace, limits).await?;
    MIGRATOR.run(&pool).await.context("running migrations")?;
    Ok(pool)
}

/// Connects a pool to the namespace's database as it is: no database created, no migration (for
/// readers such as the auditor and the proof commands).
pub async fn connect(
    database_url: &str,
    namespace: &Namespace,
    limits: PoolLimits,
) -> anyhow::Result<PgPool> {
    let options = options(database_url, namespace)?;
    PgPoolOptions::new()
        .max_connections(limits.max_connections)
        .acquire_timeout(Duration::from_millis(limits.acquire_timeout_ms))
        .connect_with(options.clone())
        .await
        .with_context(|| unreachable_hint(&options))
}
