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
    /// Partner review, the alliance's statement, the bank's decision.
    Approval,
    /// The funding ledger.
    Ledger,
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
    /// A partner's vote on a proposal (yes, no or abstain); it may be changed until the statement.
    Vote {
        /// The proposal.
        proposal: uuid::Uuid,
        /// The partner id (e.g. `lk-harburg`).
        #[arg(long)]
        partner: String,
        /// `yes`, `no` or `abstain`.
        #[arg(long)]
        vote: String,
        /// A comment for the record.
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// A partner declares a conflict of interest and is recused from one proposal.
    Recuse {
        /// The proposal.
        proposal: uuid::Uuid,
        /// The partner id.
        #[arg(long)]
        partner: String,
        /// The nature of the conflict.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// The alliance's statement (Stellungnahme): `positive` or `negative`; needs its quorum.
    Statement {
        /// The proposal.
        proposal: uuid::Uuid,
        /// `positive` or `negative`.
        #[arg(long)]
        verdict: String,
        /// Conditions attached to the statement (repeatable).
        #[arg(long = "condition")]
        conditions: Vec<String>,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// The bank's grant decision (Zuwendungsbescheid), amounts in cents and rates in basis points.
    Grant {
        /// The proposal.
        proposal: uuid::Uuid,
        /// The bank's reference.
        #[arg(long)]
        bank_reference: String,
        /// Eligible costs granted, cents.
        #[arg(long)]
        eligible_cost_cents: i64,
        /// Total rate, basis points (7000 = 70 %).
        #[arg(long)]
        total_rate_bp: u32,
        /// ESF+ rate, basis points.
        #[arg(long)]
        esf_rate_bp: u32,
        /// ESF+ share, cents.
        #[arg(long)]
        esf_cents: i64,
        /// Land share, cents.
        #[arg(long)]
        land_cents: i64,
        /// First day of the grant period (YYYY-MM-DD).
        #[arg(long)]
        period_from: chrono::NaiveDate,
        /// Last day of the grant period (YYYY-MM-DD).
        #[arg(long)]
        period_to: chrono::NaiveDate,
        /// The bank's reference allowing eligible costs above those screened.
        #[arg(long)]
        amendment_reference: Option<String>,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// The bank refuses the grant.
    Refuse {
        /// The proposal.
        proposal: uuid::Uuid,
        /// The bank's reference.
        #[arg(long)]
        bank_reference: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// A fund's budget: allocate it, or adjust one source with a reason.
    Budget {
        /// What to do.
        #[command(subcommand)]
        action: BudgetAction,
    },
    /// Record a tranche paid to a project (payment reference, cents per source, value date).
    Disburse {
        /// The fund, e.g. `non-2021-2027`.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// The bank's payment reference.
        #[arg(long)]
        payment_reference: String,
        /// ESF+ cents paid.
        #[arg(long)]
        esf_cents: i64,
        /// Land cents paid.
        #[arg(long)]
        land_cents: i64,
        /// Value date (YYYY-MM-DD); never before the last one booked on the fund.
        #[arg(long)]
        value_date: chrono::NaiveDate,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Close a project: what was committed and not paid is released.
    Close {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Assess a recovery (clawback) of money paid, at most what was disbursed.
    Recover {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// ESF+ cents to recover.
        #[arg(long)]
        esf_cents: i64,
        /// Land cents to recover.
        #[arg(long)]
        land_cents: i64,
        /// Why (legal basis, final report).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Record a repayment of an assessed recovery.
    Repay {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// ESF+ cents repaid.
        #[arg(long)]
        esf_cents: i64,
        /// Land cents repaid.
        #[arg(long)]
        land_cents: i64,
        /// Value date (YYYY-MM-DD).
        #[arg(long)]
        value_date: chrono::NaiveDate,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Publish a raw CloudEvent (JSON file) to the intake, like any other publisher.
    Publish {
        /// JSON file with the CloudEvent (`-` for standard input).
        file: PathBuf,
    },
    /// Verify the funding ledger from its first event (online or from an export), or export it.
    Audit {
        /// What to do.
        #[command(subcommand)]
        action: AuditAction,
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

/// `buendel budget …`
#[derive(Debug, clap::Subcommand)]
pub enum BudgetAction {
    /// Allocate a fund's budget (once).
    Allocate {
        /// The fund, e.g. `non-2021-2027`.
        fund: String,
        /// ESF+ cents.
        #[arg(long)]
        esf_cents: i64,
        /// Land cents.
        #[arg(long)]
        land_cents: i64,
        /// Last day money may be committed (YYYY-MM-DD).
        #[arg(long)]
        commit_deadline: chrono::NaiveDate,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Adjust one source by a signed amount.
    Adjust {
        /// The fund.
        fund: String,
        /// `esf_plus` or `land`.
        #[arg(long)]
        source: String,
        /// Signed cents.
        #[arg(long, allow_hyphen_values = true)]
        delta_cents: i64,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: CommandArgs,
    },
}

/// What every operator command takes.
#[derive(Debug, clap::Args)]
pub struct CommandArgs {
    /// Idempotency key (a fresh one when omitted); retry with the same key to be safe.
    #[arg(long)]
    pub command_id: Option<uuid::Uuid>,
    /// Who asks.
    #[arg(long, default_value = "operator")]
    pub actor: String,
}

/// `buendel audit …`
#[derive(Debug, clap::Subcommand)]
pub enum AuditAction {
    /// Replay LEDGER from sequence 1 (or `--file`), re-check every hash, entry and invariant,
    /// compare with the projections, print balances; exit 1 naming the first bad event.
    Verify(buendel::audit::VerifyArgs),
    /// Write what an auditor takes home: ledger.jsonl, manifest.json, postings.csv.
    Export {
        /// The directory to write into.
        #[arg(long)]
        out: PathBuf,
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
                    Service::Approval => "approval",
                    Service::Ledger => "ledger",
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
            Command::Vote {
                proposal,
                partner,
                vote,
                comment,
                common,
            } => {
                let data = serde_json::json!({"proposal_id": proposal, "partner_id": partner, "vote": vote, "comment": comment});
                approval(&settings, "vote", common, data).await
            }
            Command::Recuse {
                proposal,
                partner,
                reason,
                common,
            } => {
                let data = serde_json::json!({"proposal_id": proposal, "partner_id": partner, "reason": reason});
                approval(&settings, "declare_conflict", common, data).await
            }
            Command::Statement {
                proposal,
                verdict,
                conditions,
                common,
            } => {
                let data = serde_json::json!({"proposal_id": proposal, "verdict": verdict, "conditions": conditions});
                approval(&settings, "issue_statement", common, data).await
            }
            Command::Grant {
                proposal,
                bank_reference,
                eligible_cost_cents,
                total_rate_bp,
                esf_rate_bp,
                esf_cents,
                land_cents,
                period_from,
                period_to,
                amendment_reference,
                common,
            } => {
                let data = serde_json::json!({
                    "proposal_id": proposal, "bank_reference": bank_reference,
                    "eligible_cost_cents": eligible_cost_cents, "total_rate_bp": total_rate_bp,
                    "esf_rate_bp": esf_rate_bp, "esf_cents": esf_cents, "land_cents": land_cents,
                    "period_from": period_from, "period_to": period_to,
                    "amendment_reference": amendment_reference,
                });
                approval(&settings, "record_grant", common, data).await
            }
            Command::Refuse {
                proposal,
                bank_reference,
                reason,
                common,
            } => {
                let data = serde_json::json!({"proposal_id": proposal, "bank_reference": bank_reference, "reason": reason});
                approval(&settings, "record_refusal", common, data).await
            }
            Command::Budget {
                action:
                    BudgetAction::Allocate {
                        fund,
                        esf_cents,
                        land_cents,
                        commit_deadline,
                        common,
                    },
            } => {
                let data = serde_json::json!({"fund_id": fund, "esf_cents": esf_cents, "land_cents": land_cents, "commit_deadline": commit_deadline});
                ledger(&settings, "allocate_budget", common, data).await
            }
            Command::Budget {
                action:
                    BudgetAction::Adjust {
                        fund,
                        source,
                        delta_cents,
                        reason,
                        common,
                    },
            } => {
                let data = serde_json::json!({"fund_id": fund, "source": source, "delta_cents": delta_cents, "reason": reason});
                ledger(&settings, "adjust_budget", common, data).await
            }
            Command::Disburse {
                fund,
                proposal,
                payment_reference,
                esf_cents,
                land_cents,
                value_date,
                common,
            } => {
                let data = serde_json::json!({"fund_id": fund, "proposal_id": proposal, "payment_reference": payment_reference, "esf_cents": esf_cents, "land_cents": land_cents, "value_date": value_date});
                ledger(&settings, "record_disbursement", common, data).await
            }
            Command::Close {
                fund,
                proposal,
                common,
            } => {
                let data = serde_json::json!({"fund_id": fund, "proposal_id": proposal});
                ledger(&settings, "close_project", common, data).await
            }
            Command::Recover {
                fund,
                proposal,
                esf_cents,
                land_cents,
                reason,
                common,
            } => {
                let data = serde_json::json!({"fund_id": fund, "proposal_id": proposal, "esf_cents": esf_cents, "land_cents": land_cents, "reason": reason});
                ledger(&settings, "assess_recovery", common, data).await
            }
            Command::Repay {
                fund,
                proposal,
                esf_cents,
                land_cents,
                value_date,
                common,
            } => {
                let data = serde_json::json!({"fund_id": fund, "proposal_id": proposal, "esf_cents": esf_cents, "land_cents": land_cents, "value_date": value_date});
                ledger(&settings, "record_repayment", common, data).await
            }
            Command::Publish { file } => buendel::commands::publish(&settings, &file).await,
            Command::Audit {
                action: AuditAction::Verify(args),
            } => buendel::audit::verify(&settings, args).await,
            Command::Audit {
                action: AuditAction::Export { out },
            } => buendel::audit::export(&settings, &out).await,
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

async fn approval(
    settings: &Settings,
    command: &str,
    common: CommandArgs,
    data: serde_json::Value,
) -> anyhow::Result<ExitCode> {
    buendel::commands::send(
        settings,
        "approval",
        command,
        common.command_id,
        &common.actor,
        data,
    )
    .await
}

async fn ledger(
    settings: &Settings,
    command: &str,
    common: CommandArgs,
    data: serde_json::Value,
) -> anyhow::Result<ExitCode> {
    buendel::commands::send(
        settings,
        "ledger",
        command,
        common.command_id,
        &common.actor,
        data,
    )
    .await
}
