//! Settings shared by every binary: one `clap` struct with `env`, so `--help` documents it and
//! `.env.sample` lists it. Tests build it directly with a fresh namespace.

use buendel_contract::Namespace;

use crate::clock::Clock;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines, for development.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// What a process does with the namespace's streams and database at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Setup {
    /// Create the streams and migrate the database where needed (one process with full rights,
    /// the demo).
    #[default]
    Apply,
    /// Only check that the streams and the database schema exist and are safe (a service with its
    /// own credentials, after `buendel migrate`).
    Check,
}

/// Whose word a command's actor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Actors {
    /// The envelope declares the actor (a server without authentication, the demo).
    #[default]
    Declared,
    /// Only commands on `<command>.as.<identity>` are served: the server's permissions bind the
    /// identity to a credential (`buendel creds generate`).
    Authenticated,
}

/// Where NATS and Postgres are, and which namespace to work in.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// NATS server URL, or several separated by commas (the nodes of a cluster); JetStream must be
    /// enabled.
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    pub nats_url: String,
    /// Replicas of every stream this process creates (1 on a laptop, 3 on a cluster). An existing
    /// stream with fewer replicas is refused at start.
    #[arg(
        long = "replicas",
        env = "BUENDEL_STREAM_REPLICAS",
        default_value_t = 1,
        global = true
    )]
    pub replicas: usize,
    /// Postgres URL. When it names no database, the namespace's database is used (and created if
    /// missing).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432",
        global = true
    )]
    pub database_url: String,
    /// Prefix of every stream, subject and consumer, and the name of the database; namespaces are
    /// isolated from each other.
    #[arg(
        long,
        env = "BUENDEL_NAMESPACE",
        default_value = "buendel",
        global = true
    )]
    pub namespace: Namespace,
    /// Log format.
    #[arg(long, env = "BUENDEL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// The services' clock: `system`, or a business date YYYY-MM-DD to start on (for tests and
    /// demos; the time runs on from noon UTC of that date).
    #[arg(long, env = "BUENDEL_CLOCK", default_value = "system", global = true)]
    pub clock: Clock,
    /// The file with this process's NATS nkey seed (`buendel creds generate` writes one per
    /// identity); none on a server without authentication.
    #[arg(long, env = "NATS_NKEY", global = true)]
    pub nats_nkey: Option<std::path::PathBuf>,
    /// `apply`: create the streams and migrate the database at start; `check`: only check them
    /// (after `buendel migrate`, for a service with its own credentials).
    #[arg(long, env = "BUENDEL_SETUP", value_enum, default_value_t = Setup::Apply, global = true)]
    pub setup: Setup,
    /// `declared`: a command's envelope names its actor; `authenticated`: only commands on
    /// `<command>.as.<identity>` are served.
    #[arg(long, env = "BUENDEL_ACTORS", value_enum, default_value_t = Actors::Declared, global = true)]
    pub actors: Actors,
    /// The identity commands are sent as (`office.anna`, `partner.non.dgb`, ...): on
    /// `<command>.as.<identity>`, the subject the identity's credential may publish to.
    #[arg(long = "as", env = "BUENDEL_AS", global = true)]
    pub act_as: Option<String>,
    /// Intake messages one publisher may send a second on average (0: no limit); those beyond are
    /// dead-lettered as `rate_limited`, with their bytes.
    #[arg(
        long,
        env = "BUENDEL_INTAKE_RATE_PER_S",
        default_value_t = 1_000,
        global = true
    )]
    pub intake_rate_per_s: u32,
    /// Intake messages one publisher may send at once.
    #[arg(
        long,
        env = "BUENDEL_INTAKE_BURST",
        default_value_t = 10_000,
        global = true
    )]
    pub intake_burst: u32,
    /// Where the process serves `/healthz`, `/readyz` and `/metrics` (`serve` has one per
    /// service by default: submission 9181, approval 9182, ledger 9183, projector 9184, log 9185;
    /// `up` none unless given).
    #[arg(long, env = "BUENDEL_OPS_ADDR", global = true)]
    pub ops_addr: Option<std::net::SocketAddr>,
    /// A durable consumer with work whose ack floor has not moved for this long is stalled, and
    /// `/readyz` fails.
    #[arg(long, env = "BUENDEL_STALL_MS", default_value_t = crate::ops::STALL_MS, global = true)]
    pub stall_ms: u64,
    /// After an accepted command, wait until the read models have applied what it appended (read
    /// your writes), at most 10 s.
    #[arg(long, global = true)]
    pub wait: bool,
    /// Group commit on the ledger: commands on one fund that arrive while another is appended
    /// are decided together and appended as one batch (NATS 2.12+; older servers append one by
    /// one). On by default (BENCHMARKS.md); `--group-commit false` appends each command alone.
    /// Takes true/false, 1/0, yes/no, on/off.
    #[arg(
        long,
        env = "BUENDEL_GROUP_COMMIT",
        global = true,
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub group_commit: bool,
}

impl Settings {
    /// Local defaults with the given namespace (what tests use).
    pub fn local(namespace: Namespace) -> Self {
        Self {
            nats_url: "nats://127.0.0.1:4222".into(),
            replicas: 1,
            database_url: "postgres://postgres@127.0.0.1:5432".into(),
            namespace,
            log_format: LogFormat::Text,
            clock: Clock::system(),
            nats_nkey: None,
            setup: Setup::Apply,
            actors: Actors::Declared,
            act_as: None,
            intake_rate_per_s: 1_000,
            intake_burst: 10_000,
            ops_addr: None,
            stall_ms: crate::ops::STALL_MS,
            wait: false,
            group_commit: true,
        }
    }
}
