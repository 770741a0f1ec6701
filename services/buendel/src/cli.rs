//! The command line: settings shared by every subcommand, and the subcommands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use buendel_runtime::Settings;

/// Bündel: the project lifecycle and funding ledger of regional skilled-worker alliances.
#[derive(Debug, clap::Parser)]
#[command(name = "buendel", version, about)]
pub struct Cli {
    /// Where NATS and Postgres are, and the namespace.
    #[command(flatten)]
    pub settings: Settings,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The services `serve` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    /// Proposal intake, commands and screening.
    Submission,
    /// Builds the Postgres read models from the streams.
    Projector,
    /// The read-only HTTP query API.
    Api,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run every service in one process: streams, migrations, HTTP API.
    Up {
        /// Where the HTTP API listens.
        #[arg(long, env = "BUENDEL_HTTP_ADDR", default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Also publish a set of realistic proposals for the two alliances.
        #[arg(long)]
        demo: bool,
    },
    /// Run one service alone.
    Serve {
        /// Which service.
        #[arg(value_enum)]
        service: Service,
        /// Where the HTTP API listens (`serve api` only).
        #[arg(long, env = "BUENDEL_HTTP_ADDR", default_value = "127.0.0.1:8080")]
        http: SocketAddr,
    },
    /// Submit a proposal: the `data` of a `buendel.proposal.submitted.v1` event, from a JSON file.
    Submit {
        /// JSON file with the proposal data (`-` for standard input).
        file: PathBuf,
        /// Idempotency key (a fresh one when omitted); retry with the same key to be safe.
        #[arg(long)]
        command_id: Option<uuid::Uuid>,
        /// Who asks.
        #[arg(long, default_value = "operator")]
        actor: String,
    },
    /// Withdraw a proposal.
    Withdraw {
        /// The proposal.
        proposal: uuid::Uuid,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Idempotency key.
        #[arg(long)]
        command_id: Option<uuid::Uuid>,
        /// Who asks.
        #[arg(long, default_value = "operator")]
        actor: String,
    },
    /// Publish a raw CloudEvent (JSON file) to the intake, like any other publisher.
    Publish {
        /// JSON file with the CloudEvent (`-` for standard input).
        file: PathBuf,
    },
    /// Measure throughput, latency, projection and memory against this machine's own limits.
    Bench {
        /// The workload.
        #[command(flatten)]
        args: buendel::bench::BenchArgs,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Drop the read models and rebuild them from the streams.
    Projections {
        /// What to do with them.
        #[command(subcommand)]
        action: ProjectionsAction,
    },
}

/// `buendel projections …`
#[derive(Debug, clap::Subcommand)]
pub enum ProjectionsAction {
    /// Truncate the read models and replay every stream from sequence 1.
    Rebuild,
}

impl Cli {
    /// Runs the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = self.settings;
        match self.command {
            Command::Up { http, demo } => buendel::system::up(settings, http, demo).await,
            Command::Serve { service, http } => {
                let name = match service {
                    Service::Submission => "submission",
                    Service::Projector => "projector",
                    Service::Api => "api",
                };
                buendel::system::serve(settings, name, http).await
            }
            Command::Submit {
                file,
                command_id,
                actor,
            } => {
                let data = buendel::commands::read_json(&file)?;
                buendel::commands::send(&settings, "submission", "submit", command_id, &actor, data)
                    .await
            }
            Command::Withdraw {
                proposal,
                reason,
                command_id,
                actor,
            } => {
                let data = serde_json::json!({"proposal_id": proposal, "reason": reason});
                buendel::commands::send(
                    &settings,
                    "submission",
                    "withdraw",
                    command_id,
                    &actor,
                    data,
                )
                .await
            }
            Command::Publish { file } => buendel::commands::publish(&settings, &file).await,
            Command::Bench { args, json } => {
                buendel::bench::run(settings, args, json).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Projections {
                action: ProjectionsAction::Rebuild,
            } => buendel::system::rebuild(&settings).await,
        }
    }
}
