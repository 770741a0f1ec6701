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

/// Connects a pool to the namespace's database and checks that every migration of this version
/// has been applied (`buendel migrate`), without applying any: a service with its own role cannot.
pub async fn connect_and_check(
    database_url: &str,
    namespace: &Namespace,
    limits: PoolLimits,
) -> anyhow::Result<PgPool> {
    let pool = connect(database_url, namespace, limits).await?;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&pool)
            .await
            .with_context(|| {
                format!(
                    "the database of namespace {namespace} has no migration history: run `buendel \
                     migrate` first"
                )
            })?;
    let missing: Vec<i64> = MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the database of namespace {namespace} lacks {} of this version's {} migrations (first \
         {}): run `buendel migrate` first",
        missing.len(),
        MIGRATOR.iter().count(),
        missing.first().copied().unwrap_or_default()
    );
    Ok(pool)
}

/// The Postgres roles of a namespace: the projector writes the read models, the API and the
/// online auditor only read them; the owner (who migrates) is the role of `DATABASE_URL` at
/// `buendel migrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `<ns>_writer`: reads and writes rows, never the schema.
    Writer,
    /// `<ns>_reader`: reads rows.
    Reader,
}

impl Role {
    /// Both roles.
    pub const ALL: [Role; 2] = [Role::Writer, Role::Reader];

    /// The role's name for `namespace` (namespaces are `[a-z][a-z0-9_]*`, so it needs no quoting).
    pub fn name(self, namespace: &Namespace) -> String {
        match self {
            Role::Writer => format!("{namespace}_writer"),
            Role::Reader => format!("{namespace}_reader"),
        }
    }
}

/// Creates the namespace's roles where missing (with LOGIN and no password: set one with `ALTER
/// ROLE ... PASSWORD` or authenticate them by `pg_hba.conf`) and grants them exactly their rights on
/// every table there is and will be (default privileges of the migrating owner).
pub async fn create_roles(pool: &PgPool, namespace: &Namespace) -> anyhow::Result<()> {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await?;
    let database = database.replace('"', "\"\"");
    for role in Role::ALL {
        let name = role.name(namespace);
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(&name)
                .fetch_one(pool)
                .await?;
        if !exists {
            let created = sqlx::query(&format!("CREATE ROLE {name} LOGIN"))
                .execute(pool)
                .await;
            if let Err(error) = created {
                // Another migrate created it meanwhile.
                let duplicate = error
                    .as_database_error()
                    .and_then(|e| e.code())
                    .is_some_and(|code| code == "42710" || code == "23505");
                if !duplicate {
                    return Err(error).with_context(|| format!("creating role {name}"));
                }
            }
        }
        let rows = match role {
            Role::Writer => "SELECT, INSERT, UPDATE, DELETE",
            Role::Reader => "SELECT",
        };
        let statements = [
            format!("GRANT CONNECT, TEMPORARY ON DATABASE \"{database}\" TO {name}"),
            format!("GRANT USAGE ON SCHEMA public TO {name}"),
            format!("REVOKE CREATE ON SCHEMA public FROM {name}"),
            format!("GRANT {rows} ON ALL TABLES IN SCHEMA public TO {name}"),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {name}"),
            format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {rows} ON TABLES TO {name}"),
            format!(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {name}"
            ),
        ];
        for statement in statements {
            sqlx::query(&statement)
                .execute(pool)
                .await
                .with_context(|| format!("granting {name} its rights: {statement}"))?;
        }
    }
    Ok(())
}

/// Drops the namespace's roles (tests clean up after themselves), on a database other than the
/// namespace's (which must be dropped first, taking the roles' privileges with it).
pub async fn drop_roles(options: &PgConnectOptions, namespace: &Namespace) -> anyhow::Result<()> {
    let mut conn = options.clone().database("postgres").connect().await?;
    for role in Role::ALL {
        sqlx::query(&format!("DROP ROLE IF EXISTS {}", role.name(namespace)))
            .execute(&mut conn)
            .await?;
    }
    conn.close().await?;
    Ok(())
}
