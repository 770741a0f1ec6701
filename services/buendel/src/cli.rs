//! The command line: settings shared by every subcommand, and the subcommands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use buendel_contract::commands::{
    AddPartner, ChargeInterest, CheckFinalReport, ExpireUnbound, LockPeriod, PartnerInput,
    RecordInterestPayment, RegisterAlliance, ReleaseReservation, RemovePartner, Revise,
    RevokeGrant,
};
use buendel_contract::commands::{
    AdjustBudget, AllocateBudget, ApproveClaim, AssessRecovery, ClaimCut, CloseProject,
    CommandData, DeclareConflict, IssueStatement, RecordDisbursement, RecordGrant, RecordRefusal,
    RecordRepayment, ResubmitClaim, ReturnClaim, Submit, SubmitClaim, VerifyClaim, Vote, Withdraw,
};
use buendel_contract::ledger::{ReleaseReason, Source};
use buendel_contract::review::{Verdict, VoteChoice};
use buendel_contract::{BasisPoints, Cents};
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
    /// The transparency logs over LEDGER and REVIEWS: signed checkpoints, witnesses.
    Log,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run every service in one process: streams, migrations, HTTP API.
    Up {
        /// Where the HTTP API listens.
        #[arg(long, env = "BUENDEL_HTTP_ADDR", default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Also publish a set of realistic proposals for the two alliances (and make the
        /// transparency log's key if none is configured).
        #[arg(long)]
        demo: bool,
        /// The transparency log (it runs when a key is configured, and always with `--demo`).
        #[command(flatten)]
        log: buendel::tlog::LogArgs,
    },
    /// Run one service alone.
    Serve {
        /// Which service.
        #[arg(value_enum)]
        service: Service,
        /// Where the HTTP API listens (`serve api` only).
        #[arg(long, env = "BUENDEL_HTTP_ADDR", default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// The transparency log's key and witnesses (`serve log` only).
        #[command(flatten)]
        log: buendel::tlog::LogArgs,
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
    /// Revise a proposal under review: the `data` of a `revise` command (proposal id, the revised
    /// terms and the reason), from a JSON file.
    Revise {
        /// JSON file with the revision (`-` for standard input).
        file: PathBuf,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// List proposals as the API shows them (`GET /v1/proposals`), as a table or `--json`.
    Proposals {
        /// Only this status, e.g. `in_review`, `granted`, `waitlisted`.
        #[arg(long)]
        status: Option<String>,
        /// Only this alliance, e.g. `non`.
        #[arg(long)]
        alliance: Option<String>,
        /// Only this district (as publishers write it: `Lüneburg`, `03355`, ...).
        #[arg(long)]
        district: Option<String>,
        #[command(flatten)]
        page: QueryArgs,
    },
    /// List the funds with their balances (`GET /v1/funds`), as a table or `--json`.
    Funds {
        #[command(flatten)]
        page: QueryArgs,
    },
    /// Export a fund's journal, the proposals or the claims to a file, as the API exports them
    /// (`GET /v1/funds/{id}/entries`, `/v1/proposals`, `/v1/claims` with `?format=&lang=`).
    Export {
        /// What to export.
        what: ExportWhat,
        /// The file format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Xlsx)]
        format: ExportFormat,
        /// The column names: English (the API's field names) or German.
        #[arg(long, value_enum, default_value_t = ExportLang::En)]
        lang: ExportLang,
        /// `journal`: whose journal (required); `claims`: only this fund's claims.
        #[arg(long)]
        fund: Option<String>,
        /// `proposals`: only this alliance's.
        #[arg(long)]
        alliance: Option<String>,
        /// `proposals`, `claims`: only this status.
        #[arg(long)]
        status: Option<String>,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the programme's annual report (`GET /v1/report`) to a file: a printable HTML page
    /// or its figures as JSON.
    Report {
        /// The calendar year.
        #[arg(long)]
        year: u16,
        /// Only this alliance's funds.
        #[arg(long)]
        alliance: Option<String>,
        /// The page's language and number format.
        #[arg(long, value_enum, default_value_t = ExportLang::En)]
        lang: ExportLang,
        /// `html` (a printable page) or `json`.
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// List the dead letters (`GET /v1/deadletters`), as a table or `--json`.
    Deadletters {
        /// Only those of this source (`intake`, `approval`, `ledger`, ...).
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        page: QueryArgs,
    },
    /// Register an alliance or change its roster.
    Alliance {
        #[command(subcommand)]
        action: AllianceAction,
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
        #[arg(long, value_parser = wire::<VoteChoice>)]
        vote: VoteChoice,
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
        #[arg(long, value_parser = wire::<Verdict>)]
        verdict: Verdict,
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
    /// A payment claim (Mittelabruf): submit, verify (with cuts), send back, resubmit, approve.
    /// The actor (`--actor`) is recorded: the verifier may not be the submitter, the approver
    /// not the verifier (four eyes).
    Claim {
        /// What to do.
        #[command(subcommand)]
        action: ClaimAction,
    },
    /// Check a project's final report (Verwendungsnachweis): the final grant from the eligible
    /// costs incurred; frees the unused commitment, recovers what was paid beyond it.
    FinalReport {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// The report's reference.
        #[arg(long)]
        report: String,
        /// The eligible costs incurred, in cents.
        #[arg(long)]
        eligible_cost_cents: i64,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Withdraw (§ 48 VwVfG) or revoke (§ 49) a grant, leaving `--remaining-*` of it.
    Revoke {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// `vwvfg_48` (withdrawal) or `vwvfg_49` (revocation).
        #[arg(long, value_parser = wire::<buendel_contract::ledger::LegalBasis>)]
        legal_basis: buendel_contract::ledger::LegalBasis,
        /// `ex_tunc` (for the past: recovers what was paid beyond) or `ex_nunc`.
        #[arg(long, value_parser = wire::<buendel_contract::ledger::Effect>)]
        effect: buendel_contract::ledger::Effect,
        /// The ESF+ grant that remains, in cents (0: revoked in whole).
        #[arg(long, default_value_t = 0)]
        remaining_esf_cents: i64,
        /// The Land grant that remains, in cents.
        #[arg(long, default_value_t = 0)]
        remaining_land_cents: i64,
        /// The day a recovery bears interest from (YYYY-MM-DD).
        #[arg(long)]
        interest_from: chrono::NaiveDate,
        /// The decision's reference and grounds.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Lock a fund's accounting periods up to a day before today: no later entry may carry a
    /// value date in them.
    LockPeriod {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The last day locked (YYYY-MM-DD).
        #[arg(long)]
        until: chrono::NaiveDate,
        /// Why (the closing of the accounts).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Name the entry a later entry (booked in the open period) corrects.
    NoteCorrection {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The entry corrected (the fund's entry number, 1-based).
        #[arg(long)]
        corrects_entry: u64,
        /// The later entry that corrects it.
        #[arg(long)]
        by_entry: u64,
        /// What was wrong.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Interest on a recovery (§ 49a VwVfG): charge it up to a day, or record a payment of it.
    Interest {
        /// What to do.
        #[command(subcommand)]
        action: InterestAction,
    },
    /// Record a tranche paid directly to a project granted without recorded terms (a project
    /// granted with its terms is paid through `claim`; refused `claim_required`).
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
    /// Run the deterministic simulation of the saga under seeded faults (no servers needed).
    Sim {
        /// Seeds, size and output.
        #[command(flatten)]
        args: buendel::sim::SimArgs,
    },
    /// Run the services as processes on their own NATS cluster and Postgres, kill them under load,
    /// then check that nothing was lost or doubled.
    Chaos(buendel::chaos::ChaosArgs),
    /// Publish seeded hostile intake messages among good ones to a whole system in a fresh
    /// namespace (removed afterwards); print what became of each kind, and memory, as JSON.
    Hostile {
        /// The run.
        #[command(flatten)]
        args: buendel::hostile::HostileArgs,
    },
    /// A witness: a second party's process that cosigns the log's consistent checkpoints.
    Witness {
        /// What to do.
        #[command(subcommand)]
        action: buendel::tlog::WitnessAction,
    },
    /// The read models: rebuild them from the streams.
    Projections {
        /// What to do with them.
        #[command(subcommand)]
        action: ProjectionsAction,
    },
    /// The one set-up step with the owner's rights: create or update the streams, migrate the
    /// database and create its roles (`<ns>_writer` for the projector, `<ns>_reader` for the API
    /// and the auditor). Services started with `--setup check` only check what this made.
    Migrate,
    /// NATS credentials: one nkey per service, publisher, operator and partner, and the server's
    /// permissions for them.
    Creds {
        #[command(subcommand)]
        action: CredsAction,
    },
}

/// `buendel creds …`.
#[derive(Debug, clap::Subcommand)]
pub enum CredsAction {
    /// Write `<identity>.nk` (the nkey seed, mode 0600, kept if it exists) for the owner, every
    /// service and the identities named, and `auth.conf`, the server's `authorization` block with
    /// each identity's permissions in this namespace. Seeds are never printed.
    Generate {
        /// The directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// An intake publisher, e.g. `portal` (repeatable).
        #[arg(long = "publisher")]
        publishers: Vec<String>,
        /// An operator as ROLE.NAME, ROLE one of office, bank, verifier, approver (repeatable).
        #[arg(long = "operator")]
        operators: Vec<String>,
        /// A partner as ALLIANCE.PARTNER, e.g. `non.dgb` (repeatable).
        #[arg(long = "partner")]
        partners: Vec<String>,
        /// Every partner of the built-in alliances (`non`, `son`) too.
        #[arg(long)]
        builtin_partners: bool,
    },
}

/// `buendel claim …`: every action names the fund, the project and the claim.
#[derive(Debug, clap::Subcommand)]
pub enum ClaimAction {
    /// Submit a claim for a period of the grant; starts its 80-day clock.
    Submit {
        /// The fund, e.g. `non-2021-2027`.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// The claim's id (a fresh one when omitted; printed in the reply's events).
        #[arg(long)]
        claim: Option<uuid::Uuid>,
        /// First day of the period (YYYY-MM-DD).
        #[arg(long)]
        period_from: chrono::NaiveDate,
        /// Last day of the period (YYYY-MM-DD, inclusive).
        #[arg(long)]
        period_to: chrono::NaiveDate,
        /// The eligible expenditure declared, in cents.
        #[arg(long)]
        declared_eligible_cents: i64,
        /// ESF+ cents asked.
        #[arg(long)]
        esf_cents: i64,
        /// Land cents asked.
        #[arg(long)]
        land_cents: i64,
        /// The reference of the list of receipts (Belegliste).
        #[arg(long)]
        receipts: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Verify a claim: in full, or with cuts `--cut ESF_CENTS:LAND_CENTS:REASON` (repeatable).
    Verify {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// The claim.
        #[arg(long)]
        claim: uuid::Uuid,
        /// A cut: `ESF_CENTS:LAND_CENTS:REASON`.
        #[arg(long = "cut", value_parser = parse_cut)]
        cuts: Vec<ClaimCut>,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Send a claim back for missing information; its clock pauses.
    Return {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// The claim.
        #[arg(long)]
        claim: uuid::Uuid,
        /// What is missing.
        #[arg(long)]
        missing: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Answer a returned claim; its clock resumes.
    Resubmit {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// The claim.
        #[arg(long)]
        claim: uuid::Uuid,
        /// The reference of the completed list of receipts.
        #[arg(long)]
        receipts: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Approve the payment of a verified claim (never by its verifier); books the disbursement.
    Approve {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// The claim.
        #[arg(long)]
        claim: uuid::Uuid,
        /// The bank's payment reference.
        #[arg(long)]
        payment_reference: String,
        /// Value date (YYYY-MM-DD); never before the last one booked on the fund.
        #[arg(long)]
        value_date: chrono::NaiveDate,
        #[command(flatten)]
        common: CommandArgs,
    },
}

/// `buendel interest …`
#[derive(Debug, clap::Subcommand)]
pub enum InterestAction {
    /// Charge the interest due for the days before `--until`, less what was charged.
    Charge {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// Interest is charged for the days before this one (YYYY-MM-DD).
        #[arg(long)]
        until: chrono::NaiveDate,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Record interest the project paid.
    Pay {
        /// The fund.
        #[arg(long)]
        fund: String,
        /// The proposal (project).
        proposal: uuid::Uuid,
        /// ESF+ cents paid.
        #[arg(long)]
        esf_cents: i64,
        /// Land cents paid.
        #[arg(long)]
        land_cents: i64,
        /// Value date (YYYY-MM-DD).
        #[arg(long)]
        value_date: chrono::NaiveDate,
        #[command(flatten)]
        common: CommandArgs,
    },
}

/// Reads `ESF_CENTS:LAND_CENTS:REASON`.
fn parse_cut(text: &str) -> Result<ClaimCut, String> {
    let mut parts = text.splitn(3, ':');
    let mut cents = |what: &str| -> Result<Cents, String> {
        let part = parts.next().unwrap_or_default();
        part.parse::<i64>()
            .map(Cents)
            .map_err(|_| format!("{what} {part:?} is not an integer number of cents"))
    };
    let esf_cents = cents("ESF_CENTS")?;
    let land_cents = cents("LAND_CENTS")?;
    let reason = parts
        .next()
        .filter(|r| !r.trim().is_empty())
        .ok_or("a cut is ESF_CENTS:LAND_CENTS:REASON, with a reason")?;
    Ok(ClaimCut {
        esf_cents,
        land_cents,
        reason: reason.to_owned(),
    })
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
    /// Release a proposal's reservation (or waitlist place) by hand.
    Release {
        /// The fund.
        fund: String,
        /// The proposal.
        #[arg(long)]
        proposal: uuid::Uuid,
        /// Why (`withdrawn`, `refused`, `negative`, `expired`; the ledger's default when omitted).
        #[arg(long, value_parser = wire::<ReleaseReason>)]
        reason: Option<ReleaseReason>,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// After the commitment deadline: expire what was never bound.
    Expire {
        /// The fund.
        fund: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// Adjust one source by a signed amount.
    Adjust {
        /// The fund.
        fund: String,
        /// `esf_plus` or `land`.
        #[arg(long, value_parser = wire::<Source>)]
        source: Source,
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

/// `buendel alliance …`
#[derive(Debug, clap::Subcommand)]
pub enum AllianceAction {
    /// Register an alliance: the `data` of a `register_alliance` command, from a JSON file.
    Register {
        /// JSON file (`-` for standard input).
        file: PathBuf,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// A partner joins the alliance's roster.
    AddPartner {
        /// The alliance, e.g. `non`.
        alliance: String,
        /// The partner's id, e.g. `lk-harburg`.
        #[arg(long)]
        partner: String,
        /// The partner's name as people write it.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        common: CommandArgs,
    },
    /// A partner leaves the roster.
    RemovePartner {
        /// The alliance.
        alliance: String,
        /// The partner's id.
        #[arg(long)]
        partner: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: CommandArgs,
    },
}

/// What `buendel export` exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportWhat {
    /// A fund's journal: one row per posting.
    Journal,
    /// The proposals.
    Proposals,
    /// The payment claims.
    Claims,
}

/// The file format of `buendel export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// CSV (German: `;` and a byte order mark).
    Csv,
    /// An XLSX workbook.
    Xlsx,
}

/// The language of `buendel export` and `buendel report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportLang {
    /// English.
    En,
    /// German.
    De,
}

/// The format of `buendel report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// A printable HTML page.
    Html,
    /// The figures as JSON.
    Json,
}

fn value_name(value: impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// What every query subcommand takes.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// At most this many rows (the API's page size, 1 to 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// The `next_cursor` of an earlier page.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
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
    /// Write what an auditor takes home: ledger.jsonl, manifest.json, postings.csv, reviews.jsonl,
    /// and with the transparency log running ledger.checkpoint, reviews.checkpoint and the logs'
    /// leaf lists (ledger.leaves, reviews.leaves).
    Export {
        /// The directory to write into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the transparency logs' verifier keys (from the signing key; one line per log).
    Key {
        /// Only this log's.
        #[arg(long)]
        log: Option<buendel_transparency::Log>,
        /// The signing key file (see `up --help`).
        #[arg(long, env = "BUENDEL_LOG_KEY_FILE")]
        log_key_file: Option<PathBuf>,
    },
    /// Make a signing key for the transparency logs; prints both verifier keys.
    Keygen {
        /// The file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// The key's name, the prefix of both origins (default `buendel/<namespace>`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print the latest signed checkpoint of a log (signed now if the log has grown).
    Checkpoint {
        /// Which log.
        #[arg(long, default_value = "ledger")]
        log: buendel_transparency::Log,
    },
    /// Print an inclusion proof of an event (`--event-id`) or a consistency proof (`--from N`).
    Prove(buendel::tlog::ProveArgs),
    /// Check a proof bundle against pinned keys only, offline; exit 1 saying what failed.
    VerifyProof(buendel::tlog::VerifyProofArgs),
}

/// `buendel projections …`
#[derive(Debug, clap::Subcommand)]
pub enum ProjectionsAction {
    /// Build a new generation of the read models beside the live one, from every stream's
    /// sequence 1, and switch readers to it in one transaction once it has caught up; readers
    /// never see an empty or half-built table. Runs as the owner (it creates schemas and moves
    /// tables), with the projector running or not. A rebuild that stopped midway is resumed.
    Rebuild {
        /// Throw away the generation an earlier rebuild left, instead of resuming it.
        #[arg(long)]
        restart: bool,
    },
}

impl Cli {
    /// Runs the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = self.settings;
        match self.command {
            Command::Up { http, demo, log } => buendel::system::up(settings, http, demo, log).await,
            Command::Serve { service, http, log } => {
                let name = match service {
                    Service::Submission => "submission",
                    Service::Approval => "approval",
                    Service::Ledger => "ledger",
                    Service::Projector => "projector",
                    Service::Api => "api",
                    Service::Log => "log",
                };
                buendel::system::serve(settings, name, http, log).await
            }
            Command::Submit {
                file,
                command_id,
                actor,
            } => {
                let common = CommandArgs { command_id, actor };
                raw(&settings, common, Submit::SERVICE, Submit::NAME, &file).await
            }
            Command::Withdraw {
                proposal,
                reason,
                command_id,
                actor,
            } => {
                let command = Withdraw {
                    proposal_id: proposal,
                    reason,
                };
                buendel::commands::send_command(&settings, command_id, &actor, &command).await
            }
            Command::Vote {
                proposal,
                partner,
                vote,
                comment,
                common,
            } => {
                let command = Vote {
                    proposal_id: proposal,
                    partner_id: partner,
                    vote,
                    comment,
                };
                send(&settings, common, &command).await
            }
            Command::Recuse {
                proposal,
                partner,
                reason,
                common,
            } => {
                let command = DeclareConflict {
                    proposal_id: proposal,
                    partner_id: partner,
                    reason,
                };
                send(&settings, common, &command).await
            }
            Command::Statement {
                proposal,
                verdict,
                conditions,
                common,
            } => {
                let command = IssueStatement {
                    proposal_id: proposal,
                    verdict,
                    conditions: (!conditions.is_empty()).then_some(conditions),
                };
                send(&settings, common, &command).await
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
                let command = RecordGrant {
                    proposal_id: proposal,
                    bank_reference,
                    eligible_cost_cents: Cents(eligible_cost_cents),
                    total_rate_bp: BasisPoints(total_rate_bp),
                    esf_rate_bp: BasisPoints(esf_rate_bp),
                    esf_cents: Cents(esf_cents),
                    land_cents: Cents(land_cents),
                    period_from,
                    period_to,
                    amendment_reference,
                };
                send(&settings, common, &command).await
            }
            Command::Refuse {
                proposal,
                bank_reference,
                reason,
                common,
            } => {
                let command = RecordRefusal {
                    proposal_id: proposal,
                    bank_reference,
                    reason,
                };
                send(&settings, common, &command).await
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
                let command = AllocateBudget {
                    fund_id: fund,
                    esf_cents: Cents(esf_cents),
                    land_cents: Cents(land_cents),
                    commit_deadline,
                };
                send(&settings, common, &command).await
            }
            Command::Budget {
                action:
                    BudgetAction::Release {
                        fund,
                        proposal,
                        reason,
                        common,
                    },
            } => {
                let command = ReleaseReservation {
                    fund_id: fund,
                    proposal_id: proposal,
                    reason,
                };
                send(&settings, common, &command).await
            }
            Command::Budget {
                action: BudgetAction::Expire { fund, common },
            } => send(&settings, common, &ExpireUnbound { fund_id: fund }).await,
            Command::Revise { file, common } => {
                raw(&settings, common, Revise::SERVICE, Revise::NAME, &file).await
            }
            Command::Alliance { action } => alliance(&settings, action).await,
            Command::Proposals {
                status,
                alliance,
                district,
                page,
            } => {
                let filters = [
                    ("status", status),
                    ("alliance", alliance),
                    ("district", district),
                ];
                query(&settings, "/v1/proposals", &filters, page).await
            }
            Command::Funds { page } => query(&settings, "/v1/funds", &[], page).await,
            Command::Export {
                what,
                format,
                lang,
                fund,
                alliance,
                status,
                out,
            } => {
                let route = match (what, &fund, &alliance, &status) {
                    (ExportWhat::Journal, Some(fund), None, None) => {
                        format!("/v1/funds/{}/entries", percent_encode(fund))
                    }
                    (ExportWhat::Proposals, None, _, _) => "/v1/proposals".to_owned(),
                    (ExportWhat::Claims, _, None, _) => "/v1/claims".to_owned(),
                    _ => anyhow::bail!(
                        "buendel export journal takes --fund only (and needs it); proposals \
                         --alliance and --status; claims --fund and --status"
                    ),
                };
                let fund = fund.filter(|_| what == ExportWhat::Claims);
                let filters = [
                    ("fund_id", fund),
                    ("alliance", alliance),
                    ("status", status),
                    ("format", Some(value_name(format))),
                    ("lang", Some(value_name(lang))),
                ];
                download(&settings, &route, &filters, &out).await
            }
            Command::Report {
                year,
                alliance,
                lang,
                format,
                out,
            } => {
                let filters = [
                    ("year", Some(year.to_string())),
                    ("alliance", alliance),
                    ("lang", Some(value_name(lang))),
                    ("format", Some(value_name(format))),
                ];
                download(&settings, "/v1/report", &filters, &out).await
            }
            Command::Deadletters { source, page } => {
                query(&settings, "/v1/deadletters", &[("source", source)], page).await
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
                let command = AdjustBudget {
                    fund_id: fund,
                    source,
                    delta_cents: Cents(delta_cents),
                    reason,
                };
                send(&settings, common, &command).await
            }
            Command::Claim { action } => claim(&settings, action).await,
            Command::NoteCorrection {
                fund,
                corrects_entry,
                by_entry,
                reason,
                common,
            } => {
                let command = buendel_contract::commands::NoteCorrection {
                    fund_id: fund,
                    corrects_entry,
                    by_entry,
                    reason,
                };
                send(&settings, common, &command).await
            }
            Command::LockPeriod {
                fund,
                until,
                reason,
                common,
            } => {
                let command = LockPeriod {
                    fund_id: fund,
                    until,
                    reason,
                };
                send(&settings, common, &command).await
            }
            Command::FinalReport {
                fund,
                proposal,
                report,
                eligible_cost_cents,
                common,
            } => {
                let command = CheckFinalReport {
                    fund_id: fund,
                    proposal_id: proposal,
                    report_reference: report,
                    eligible_cost_cents: Cents(eligible_cost_cents),
                };
                send(&settings, common, &command).await
            }
            Command::Revoke {
                fund,
                proposal,
                legal_basis,
                effect,
                remaining_esf_cents,
                remaining_land_cents,
                interest_from,
                reason,
                common,
            } => {
                let command = RevokeGrant {
                    fund_id: fund,
                    proposal_id: proposal,
                    legal_basis,
                    effect,
                    remaining_esf_cents: Cents(remaining_esf_cents),
                    remaining_land_cents: Cents(remaining_land_cents),
                    interest_from,
                    reason,
                };
                send(&settings, common, &command).await
            }
            Command::Interest {
                action:
                    InterestAction::Charge {
                        fund,
                        proposal,
                        until,
                        common,
                    },
            } => {
                let command = ChargeInterest {
                    fund_id: fund,
                    proposal_id: proposal,
                    until,
                };
                send(&settings, common, &command).await
            }
            Command::Interest {
                action:
                    InterestAction::Pay {
                        fund,
                        proposal,
                        esf_cents,
                        land_cents,
                        value_date,
                        common,
                    },
            } => {
                let command = RecordInterestPayment {
                    fund_id: fund,
                    proposal_id: proposal,
                    esf_cents: Cents(esf_cents),
                    land_cents: Cents(land_cents),
                    value_date,
                };
                send(&settings, common, &command).await
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
                let command = RecordDisbursement {
                    fund_id: fund,
                    proposal_id: proposal,
                    payment_reference,
                    esf_cents: Cents(esf_cents),
                    land_cents: Cents(land_cents),
                    value_date,
                };
                send(&settings, common, &command).await
            }
            Command::Close {
                fund,
                proposal,
                common,
            } => {
                let command = CloseProject {
                    fund_id: fund,
                    proposal_id: proposal,
                };
                send(&settings, common, &command).await
            }
            Command::Recover {
                fund,
                proposal,
                esf_cents,
                land_cents,
                reason,
                common,
            } => {
                let command = AssessRecovery {
                    fund_id: fund,
                    proposal_id: proposal,
                    esf_cents: Cents(esf_cents),
                    land_cents: Cents(land_cents),
                    reason,
                };
                send(&settings, common, &command).await
            }
            Command::Repay {
                fund,
                proposal,
                esf_cents,
                land_cents,
                value_date,
                common,
            } => {
                let command = RecordRepayment {
                    fund_id: fund,
                    proposal_id: proposal,
                    esf_cents: Cents(esf_cents),
                    land_cents: Cents(land_cents),
                    value_date,
                };
                send(&settings, common, &command).await
            }
            Command::Publish { file } => buendel::commands::publish(&settings, &file).await,
            Command::Audit {
                action: AuditAction::Verify(args),
            } => buendel::audit::verify(&settings, args).await,
            Command::Audit {
                action: AuditAction::Export { out },
            } => buendel::audit::export(&settings, &out).await,
            Command::Audit {
                action: AuditAction::Key { log, log_key_file },
            } => {
                let args = buendel::tlog::LogArgs {
                    log_key_file,
                    witnesses: Vec::new(),
                    checkpoint_every_ms: 0,
                };
                buendel::tlog::key(&settings, &args, log)
            }
            Command::Audit {
                action: AuditAction::Keygen { out, name },
            } => buendel::tlog::keygen(&settings, &out, name.as_deref()),
            Command::Audit {
                action: AuditAction::Checkpoint { log },
            } => buendel::tlog::checkpoint(&settings, log).await,
            Command::Audit {
                action: AuditAction::Prove(args),
            } => buendel::tlog::prove(&settings, &args).await,
            Command::Audit {
                action: AuditAction::VerifyProof(args),
            } => buendel::tlog::verify_proof(&args),
            Command::Witness { action } => buendel::tlog::witness(action).await,
            Command::Bench { args, json } => {
                buendel::bench::run(settings, args, json).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Sim { args } => buendel::sim::run(&args),
            Command::Chaos(args) => buendel::chaos::main(settings, args).await,
            Command::Hostile { args } => {
                let report = buendel::hostile::run(settings, args).await?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(if report.failures.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Command::Projections {
                action: ProjectionsAction::Rebuild { restart },
            } => buendel::system::rebuild(&settings, restart).await,
            Command::Migrate => buendel::system::migrate(&settings).await,
            Command::Creds {
                action:
                    CredsAction::Generate {
                        out,
                        publishers,
                        operators,
                        mut partners,
                        builtin_partners,
                    },
            } => {
                if builtin_partners {
                    for alliance in buendel_contract::reference::builtin_alliances() {
                        for partner in &alliance.partners {
                            partners.push(format!("{}.{}", alliance.id, partner.id));
                        }
                    }
                }
                creds_generate(&settings, &out, &publishers, &operators, &partners)
            }
        }
    }
}

/// `buendel creds generate`: prints where each identity's seed is, never the seed.
fn creds_generate(
    settings: &Settings,
    out: &std::path::Path,
    publishers: &[String],
    operators: &[String],
    partners: &[String],
) -> anyhow::Result<ExitCode> {
    use buendel::creds::Identity;
    let mut extra = Vec::new();
    for p in publishers {
        extra.push(Identity::publisher(p)?);
    }
    for o in operators {
        extra.push(Identity::operator(o)?);
    }
    for p in partners {
        extra.push(Identity::partner(p)?);
    }
    let generated = buendel::creds::generate(&settings.namespace, out, &extra)?;
    for (identity, path, made) in &generated.seeds {
        let state = if *made { "new" } else { "kept" };
        println!("{identity:<32} {state:<4} {}", path.display());
    }
    println!(
        "server permissions: {} (include it from the nats-server configuration)",
        generated.config.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `buendel claim …`.
async fn claim(settings: &Settings, action: ClaimAction) -> anyhow::Result<ExitCode> {
    match action {
        ClaimAction::Submit {
            fund,
            proposal,
            claim,
            period_from,
            period_to,
            declared_eligible_cents,
            esf_cents,
            land_cents,
            receipts,
            common,
        } => {
            let command = SubmitClaim {
                fund_id: fund,
                proposal_id: proposal,
                claim_id: claim.unwrap_or_else(uuid::Uuid::new_v4),
                period_from,
                period_to,
                declared_eligible_cents: Cents(declared_eligible_cents),
                esf_cents: Cents(esf_cents),
                land_cents: Cents(land_cents),
                receipts_reference: receipts,
            };
            send(settings, common, &command).await
        }
        ClaimAction::Verify {
            fund,
            proposal,
            claim,
            cuts,
            common,
        } => {
            let command = VerifyClaim {
                fund_id: fund,
                proposal_id: proposal,
                claim_id: claim,
                cuts,
            };
            send(settings, common, &command).await
        }
        ClaimAction::Return {
            fund,
            proposal,
            claim,
            missing,
            common,
        } => {
            let command = ReturnClaim {
                fund_id: fund,
                proposal_id: proposal,
                claim_id: claim,
                missing,
            };
            send(settings, common, &command).await
        }
        ClaimAction::Resubmit {
            fund,
            proposal,
            claim,
            receipts,
            common,
        } => {
            let command = ResubmitClaim {
                fund_id: fund,
                proposal_id: proposal,
                claim_id: claim,
                receipts_reference: receipts,
            };
            send(settings, common, &command).await
        }
        ClaimAction::Approve {
            fund,
            proposal,
            claim,
            payment_reference,
            value_date,
            common,
        } => {
            let command = ApproveClaim {
                fund_id: fund,
                proposal_id: proposal,
                claim_id: claim,
                payment_reference,
                value_date,
            };
            send(settings, common, &command).await
        }
    }
}

/// Sends a typed operator command with the common arguments.
/// `buendel proposals|funds|deadletters`: one page of the API's list, read in process from the
/// read models, printed as the API's JSON or as a table; an API error is printed and exits 1.
async fn query(
    settings: &Settings,
    route: &str,
    filters: &[(&str, Option<String>)],
    page: QueryArgs,
) -> anyhow::Result<ExitCode> {
    let state = read_models(settings).await?;
    let mut params: Vec<(&str, String)> = filters
        .iter()
        .filter_map(|(name, value)| value.clone().map(|v| (*name, v)))
        .collect();
    params.push(("limit", page.limit.to_string()));
    if let Some(cursor) = page.cursor {
        params.push(("cursor", cursor));
    }
    let path = format!("{route}?{}", query_string(&params));
    let (status, body) = buendel_api::get_json(state, &path).await?;
    if page.json || status != 200 {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(if status == 200 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let items = body["items"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = items.iter().map(|item| row_of(route, item)).collect();
    print_table(header_of(route), &rows);
    if let Some(next) = body["next_cursor"].as_str() {
        println!("more: --cursor {next}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The API over the read models in Postgres, in process.
async fn read_models(settings: &Settings) -> anyhow::Result<buendel_api::AppState> {
    let pool = buendel_runtime::db::connect(
        &settings.database_url,
        &settings.namespace,
        buendel_runtime::db::PoolLimits::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot reach the read models in Postgres: {e:#}"))?;
    Ok(buendel_api::AppState::new(pool).with_clock(settings.clock))
}

/// `buendel export|report`: the API's answer to `GET route?filters`, read in process, written to
/// `out` as it is (a CSV or XLSX file, a report page); an API error is printed and exits 1.
async fn download(
    settings: &Settings,
    route: &str,
    filters: &[(&str, Option<String>)],
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let state = read_models(settings).await?;
    let params: Vec<(&str, String)> = filters
        .iter()
        .filter_map(|(name, value)| value.clone().map(|v| (*name, v)))
        .collect();
    let path = format!("{route}?{}", query_string(&params));
    let (status, body) = buendel_api::get_bytes(state, &path).await?;
    if status != 200 {
        eprintln!("{}", String::from_utf8_lossy(&body));
        return Ok(ExitCode::FAILURE);
    }
    std::fs::write(out, &body).map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
    eprintln!("wrote {} ({} bytes)", out.display(), body.len());
    Ok(ExitCode::SUCCESS)
}

/// `name=value&...`, every byte outside the unreserved set percent-encoded.
fn query_string(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Every byte outside the unreserved set percent-encoded (a query value or a path segment).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn header_of(route: &str) -> &'static [&'static str] {
    match route {
        "/v1/proposals" => &["proposal", "alliance", "status", "title"],
        "/v1/funds" => &[
            "fund",
            "entries",
            "allocated",
            "available",
            "committed",
            "disbursed",
            "trial balance",
        ],
        _ => &["sequence", "source", "code", "reason"],
    }
}

fn row_of(route: &str, item: &serde_json::Value) -> Vec<String> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let euros = |v: &serde_json::Value| Cents(v.as_i64().unwrap_or(0)).to_string();
    match route {
        "/v1/proposals" => vec![
            text(&item["proposal_id"]),
            text(&item["alliance_id"]),
            text(&item["status"]),
            text(&item["title"]),
        ],
        "/v1/funds" => vec![
            text(&item["fund_id"]),
            text(&item["entries"]),
            euros(&item["total"]["allocated"]),
            euros(&item["total"]["available"]),
            euros(&item["total"]["committed"]),
            euros(&item["total"]["disbursed"]),
            if item["trial_balance_zero"] == true {
                "zero"
            } else {
                "NOT ZERO"
            }
            .to_owned(),
        ],
        _ => vec![
            text(&item["dl_sequence"]),
            text(&item["source"]),
            text(&item["code"]),
            text(&item["reasons"][0]["reason"]),
        ],
    }
}

/// Columns padded to their widest cell (by characters), two spaces apart.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// `buendel alliance …`.
async fn alliance(settings: &Settings, action: AllianceAction) -> anyhow::Result<ExitCode> {
    match action {
        AllianceAction::Register { file, common } => {
            raw(
                settings,
                common,
                RegisterAlliance::SERVICE,
                RegisterAlliance::NAME,
                &file,
            )
            .await
        }
        AllianceAction::AddPartner {
            alliance,
            partner,
            name,
            common,
        } => {
            let command = AddPartner {
                alliance_id: alliance,
                partner: PartnerInput { id: partner, name },
            };
            send(settings, common, &command).await
        }
        AllianceAction::RemovePartner {
            alliance,
            partner,
            reason,
            common,
        } => {
            let command = RemovePartner {
                alliance_id: alliance,
                partner_id: partner,
                reason,
            };
            send(settings, common, &command).await
        }
    }
}

/// Sends a command's `data` from a JSON file as written (the service reports every bad field at
/// once, serde only the first).
async fn raw(
    settings: &Settings,
    common: CommandArgs,
    service: buendel_contract::commands::Service,
    name: &str,
    file: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let data = buendel::commands::read_json(file)?;
    buendel::commands::send(
        settings,
        service.as_str(),
        name,
        common.command_id,
        &common.actor,
        data,
    )
    .await
}

async fn send<T: CommandData>(
    settings: &Settings,
    common: CommandArgs,
    command: &T,
) -> anyhow::Result<ExitCode> {
    buendel::commands::send_command(settings, common.command_id, &common.actor, command).await
}

/// Reads a wire name (`yes`, `esf_plus`, ...) into its contract type, as the command's JSON does.
fn wire<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::*;

    /// The CLI subcommand of every command of the contract ([`buendel_contract::commands::ALL`]), as
    /// typed after `buendel`; a test checks that each exists and that none is missing.
    const COMMAND_SUBCOMMANDS: &[(&str, &[&str])] = &[
        ("submit", &["submit"]),
        ("revise", &["revise"]),
        ("withdraw", &["withdraw"]),
        ("declare_conflict", &["recuse"]),
        ("vote", &["vote"]),
        ("issue_statement", &["statement"]),
        ("record_grant", &["grant"]),
        ("record_refusal", &["refuse"]),
        ("register_alliance", &["alliance", "register"]),
        ("add_partner", &["alliance", "add-partner"]),
        ("remove_partner", &["alliance", "remove-partner"]),
        ("allocate_budget", &["budget", "allocate"]),
        ("adjust_budget", &["budget", "adjust"]),
        ("release_reservation", &["budget", "release"]),
        ("record_disbursement", &["disburse"]),
        ("close_project", &["close"]),
        ("assess_recovery", &["recover"]),
        ("record_repayment", &["repay"]),
        ("expire_unbound", &["budget", "expire"]),
        ("submit_claim", &["claim", "submit"]),
        ("verify_claim", &["claim", "verify"]),
        ("return_claim", &["claim", "return"]),
        ("resubmit_claim", &["claim", "resubmit"]),
        ("approve_claim", &["claim", "approve"]),
        ("check_final_report", &["final-report"]),
        ("revoke_grant", &["revoke"]),
        ("charge_interest", &["interest", "charge"]),
        ("record_interest_payment", &["interest", "pay"]),
        ("lock_period", &["lock-period"]),
        ("note_correction", &["note-correction"]),
    ];

    #[test]
    fn every_command_of_the_contract_has_a_cli_subcommand() {
        let cli = Cli::command();
        let names: Vec<&str> = buendel_contract::commands::ALL
            .iter()
            .map(|spec| spec.name)
            .collect();
        let mapped: Vec<&str> = COMMAND_SUBCOMMANDS.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            mapped, names,
            "one subcommand per command, in the contract's order"
        );
        for (name, path) in COMMAND_SUBCOMMANDS {
            let mut command = &cli;
            for part in *path {
                command = command
                    .find_subcommand(part)
                    .unwrap_or_else(|| panic!("{name}: no `buendel {}`", path.join(" ")));
            }
            assert!(
                command.get_subcommands().next().is_none(),
                "{name}: `buendel {}` is a group, not a command",
                path.join(" ")
            );
        }
    }

    #[test]
    fn a_query_subcommand_encodes_its_filters_as_the_api_reads_them() {
        let params = [
            ("district", "Lüneburg".to_owned()),
            ("status", "in_review".to_owned()),
            ("cursor", "a b&c".to_owned()),
        ];
        assert_eq!(
            query_string(&params),
            "district=L%C3%BCneburg&status=in_review&cursor=a%20b%26c"
        );
        let cli =
            parse(&["proposals", "--alliance", "non", "--limit", "5", "--json"]).expect("parsed");
        assert!(matches!(
            cli.command,
            Command::Proposals { ref alliance, page: QueryArgs { limit: 5, json: true, .. }, .. }
                if alliance.as_deref() == Some("non")
        ));
        assert!(parse(&["funds", "--limit", "many"]).is_err());
    }

    #[test]
    fn export_and_report_read_their_formats_and_languages_by_the_apis_names() {
        let cli = parse(&[
            "export",
            "journal",
            "--fund",
            "non-2021-2027",
            "--format",
            "csv",
            "--lang",
            "de",
            "--out",
            "j.csv",
        ])
        .expect("parsed");
        assert!(matches!(
            cli.command,
            Command::Export {
                what: ExportWhat::Journal,
                format: ExportFormat::Csv,
                lang: ExportLang::De,
                ..
            }
        ));
        let cli = parse(&["report", "--year", "2027", "--out", "r.html"]).expect("parsed");
        assert!(matches!(
            cli.command,
            Command::Report {
                year: 2027,
                format: ReportFormat::Html,
                lang: ExportLang::En,
                ..
            }
        ));
        assert_eq!(value_name(ExportFormat::Xlsx), "xlsx");
        assert_eq!(value_name(ReportFormat::Json), "json");
        assert_eq!(value_name(ExportLang::De), "de");
        assert!(parse(&["export", "ledger", "--out", "x"]).is_err());
        assert!(
            parse(&["report", "--year", "2027"]).is_err(),
            "--out is required"
        );
    }

    #[test]
    fn the_new_subcommands_read_their_arguments() {
        let id = "00000000-0000-0000-0000-000000000007";
        let cli = parse(&[
            "budget",
            "release",
            "non-2021-2027",
            "--proposal",
            id,
            "--reason",
            "withdrawn",
        ])
        .expect("parsed");
        assert!(matches!(
            cli.command,
            Command::Budget {
                action: BudgetAction::Release {
                    reason: Some(ReleaseReason::Withdrawn),
                    ..
                }
            }
        ));
        assert!(parse(&[
            "budget",
            "release",
            "non-2021-2027",
            "--proposal",
            id,
            "--reason",
            "lost"
        ])
        .is_err());
        let cli = parse(&[
            "alliance",
            "add-partner",
            "non",
            "--partner",
            "vhs-lg",
            "--name",
            "VHS Lüneburg",
        ])
        .expect("parsed");
        assert!(matches!(
            cli.command,
            Command::Alliance {
                action: AllianceAction::AddPartner { ref partner, .. }
            } if partner == "vhs-lg"
        ));
        assert!(
            parse(&["alliance", "remove-partner", "non", "--partner", "dgb"]).is_err(),
            "a reason is required"
        );
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("buendel").chain(args.iter().copied()))
    }

    #[test]
    fn group_commit_is_on_unless_turned_off() {
        assert!(parse(&["up"]).expect("parsed").settings.group_commit);
        for off in ["false", "0", "no", "off"] {
            let cli = parse(&["up", "--group-commit", off]).expect("parsed");
            assert!(!cli.settings.group_commit, "{off}");
        }
        assert!(
            parse(&["up", "--group-commit", "1"])
                .expect("parsed")
                .settings
                .group_commit
        );
        assert!(parse(&["up", "--group-commit", "maybe"]).is_err());
    }

    #[test]
    fn a_vote_is_read_into_its_contract_type_and_a_wrong_one_is_refused_by_the_cli() {
        let id = "00000000-0000-0000-0000-000000000007";
        let cli = parse(&["vote", id, "--partner", "dgb", "--vote", "abstain"]).expect("parsed");
        let Command::Vote { vote, .. } = cli.command else {
            panic!("not a vote")
        };
        assert_eq!(vote, VoteChoice::Abstain);
        let error =
            parse(&["vote", id, "--partner", "dgb", "--vote", "maybe"]).expect_err("refused");
        assert!(error.to_string().contains("maybe"), "{error}");
    }

    #[test]
    fn a_budget_adjustment_reads_its_source_and_a_negative_delta() {
        let args = [
            "budget",
            "adjust",
            "non-2021-2027",
            "--source",
            "esf_plus",
            "--delta-cents",
            "-100",
            "--reason",
            "cut",
        ];
        let cli = parse(&args).expect("parsed");
        let Command::Budget {
            action:
                BudgetAction::Adjust {
                    source,
                    delta_cents,
                    ..
                },
        } = cli.command
        else {
            panic!("not an adjustment")
        };
        assert_eq!((source, delta_cents), (Source::EsfPlus, -100));
    }
}
