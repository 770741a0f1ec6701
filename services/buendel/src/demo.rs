//! The demo: fictional projects for the two real alliances (domain-notes §3.7), published to the
//! intake as CloudEvents like any other publisher would. Ids are derived from the titles, so loading
//! the demo twice changes nothing.

use chrono::{Datelike as _, Months, NaiveDate};

use buendel_contract::commands::{
    AllocateBudget, ApproveClaim, CheckFinalReport, CloseProject, CommandData, DeclareConflict,
    IssueStatement, RecordGrant, RecordRefusal, RecordRepayment, ResubmitClaim, ReturnClaim,
    RevokeGrant, SubmitClaim, VerifyClaim, Vote, Withdraw,
};
use buendel_contract::ledger::{Effect, LegalBasis};
use buendel_contract::money::{BasisPoints, Cents, Split};
use buendel_contract::reference::{builtin_alliances, ProgramRules};
use buendel_contract::review::{Verdict, VoteChoice};
use serde_json::{json, Value};
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_runtime::{Clock, EventStore};

/// Where the demo drives a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Left in review, with one partner recused (conflict of interest).
    InReviewWithRecusal,
    /// Screened out (above the cost cap): nothing more happens.
    ScreeningFailed,
    /// The alliance's statement is negative.
    StatementNegative,
    /// Positive statement: the ledger reserved the money; the bank has not decided.
    FundsReserved,
    /// Positive statement after the budget ran out: waitlisted.
    Waitlisted,
    /// Granted, paid through payment claims verified and approved by two officers, with later
    /// claims in every other state (sent back, resubmitted, verified, submitted).
    Paying,
    /// Granted, paid in part, closed under budget (the rest freed).
    ClosedUnderBudget,
    /// Granted, paid, then its final report shows lower costs: the final grant is recomputed,
    /// what was paid beyond it recovered (bearing interest), and part of it repaid.
    ClawedBack,
    /// Granted, then revoked in part for the future (§ 49 VwVfG): the unpaid rest above what
    /// remains is freed.
    RevokedInPart,
    /// The bank refused the grant; the reservation was released.
    Refused,
    /// The applicant withdrew it during the review.
    Withdrawn,
}

/// One demo project.
struct Project {
    alliance: &'static str,
    title: &'static str,
    summary: &'static str,
    applicant: (&'static str, &'static str, &'static str),
    project_type: &'static str,
    focus_areas: &'static [&'static str],
    districts: &'static [&'static str],
    months_from_now: u32,
    duration_months: u16,
    eligible_cost_cents: i64,
    requested_rate_bp: u32,
    target: Target,
}

const fn project(
    alliance: &'static str,
    (title, summary): (&'static str, &'static str),
    applicant: (&'static str, &'static str, &'static str),
    focus_areas: &'static [&'static str],
    districts: &'static [&'static str],
    eligible_cost_cents: i64,
    target: Target,
) -> Project {
    Project {
        alliance,
        title,
        summary,
        applicant,
        project_type: "structure",
        focus_areas,
        districts,
        months_from_now: 3,
        duration_months: 30,
        eligible_cost_cents,
        requested_rate_bp: 7_000,
        target,
    }
}

/// The projects, in the order the demo drives them (reservations are first come, first served).
const PROJECTS: &[Project] = &[
    project(
        "non",
        (
            "Ausbildungsbotschafter:innen Heidekreis",
            "Trainees from local firms visit schools and tell pupils about dual training.",
        ),
        ("Bildungswerk Heidekreis e.V.", "verein", "heidekreis"),
        &["dual_training"],
        &["heidekreis"],
        30_000_000,
        Target::Paying,
    ),
    project(
        "non",
        (
            "Welcome Center Nordostniedersachsen",
            "One door for international skilled workers and the firms that hire them.",
        ),
        ("Wirtschaftsförderung Lüneburg GmbH", "gmbh", "lueneburg"),
        &["recruit_retain"],
        &["lueneburg", "harburg", "celle"],
        48_000_000,
        Target::Paying,
    ),
    project(
        "non",
        (
            "Teilzeitausbildung & Familie",
            "Part-time vocational training for parents, with childcare arranged.",
        ),
        ("Familienservice Uelzen gGmbH", "gmbh", "uelzen"),
        &["family_work", "dual_training"],
        &["uelzen", "luechow_dannenberg"],
        21_000_000,
        Target::FundsReserved,
    ),
    Project {
        project_type: "unemployed",
        ..project(
            "non",
            (
                "Pflegehilfe für Langzeitarbeitslose",
                "Qualifies long-term unemployed people as care assistants in Celle.",
            ),
            ("Jobcenter-Verbund Celle", "landkreis", "celle"),
            &["long_term_unemployed"],
            &["celle"],
            42_000_000,
            Target::FundsReserved,
        )
    },
    Project {
        requested_rate_bp: 5_000,
        ..project(
            "non",
            (
                "Gute Arbeit im Handwerk",
                "Advice on good working conditions for small craft businesses in Harburg.",
            ),
            ("Kreishandwerkerschaft Harburg", "kammer", "harburg"),
            &["good_work"],
            &["harburg"],
            25_000_000,
            Target::InReviewWithRecusal,
        )
    },
    project(
        "non",
        (
            "Digitalakademie XXL",
            "A regional digital academy; above the cost cap, so it is screened out.",
        ),
        ("Digitalakademie Lüneburg GmbH", "gmbh", "lueneburg"),
        &["qualification_structures"],
        &["lueneburg"],
        65_000_000,
        Target::ScreeningFailed,
    ),
    project(
        "son",
        (
            "KI-Kompetenzen in der Pflege Wolfsburg",
            "Care staff learn to work with AI-supported documentation.",
        ),
        ("Pflegenetz Wolfsburg e.V.", "verein", "wolfsburg"),
        &["care", "digital_transformation"],
        &["wolfsburg"],
        40_000_000,
        Target::ClosedUnderBudget,
    ),
    Project {
        project_type: "unemployed",
        requested_rate_bp: 6_500,
        ..project(
            "son",
            (
                "Internationale Fachkräfte Salzgitter",
                "Language and onboarding support for international hires in industry.",
            ),
            ("Integrationswerk Salzgitter gGmbH", "gmbh", "salzgitter"),
            &["international_talent", "recruit_retain"],
            &["salzgitter", "peine"],
            35_000_000,
            Target::Refused,
        )
    },
    project(
        "non",
        (
            "Fachkräftescouts Harburg",
            "Scouts match school leavers with small firms; the final report shows lower costs.",
        ),
        ("Wirtschaftsverein Harburg e.V.", "verein", "harburg"),
        &["recruit_retain"],
        &["harburg"],
        40_000_000,
        Target::ClawedBack,
    ),
    project(
        "non",
        (
            "Duale Studienplätze Celle",
            "More dual study places with firms in Celle; withdrawn during the review.",
        ),
        ("Hochschulverbund Celle", "verein", "celle"),
        &["dual_training"],
        &["celle"],
        30_000_000,
        Target::Withdrawn,
    ),
    project(
        "non",
        (
            "Pflegeausbildung Heidekreis",
            "A care training centre; the partners see it covered by an existing programme.",
        ),
        ("Pflegeschule Heidekreis gGmbH", "gmbh", "heidekreis"),
        &["qualification_structures"],
        &["heidekreis"],
        20_000_000,
        Target::StatementNegative,
    ),
    project(
        "non",
        (
            "Regionales Bildungsnetzwerk Uelzen",
            "Schools, chambers and firms plan vocational orientation together.",
        ),
        ("Bildungsregion Uelzen e.V.", "verein", "uelzen"),
        &["qualification_structures"],
        &["uelzen"],
        50_000_000,
        Target::FundsReserved,
    ),
    project(
        "non",
        (
            "Pflegekräfte für Uelzen",
            "Retention programme for nurses in rural care homes.",
        ),
        ("Diakonie Uelzen", "verein", "uelzen"),
        &["recruit_retain", "good_work"],
        &["uelzen"],
        50_000_000,
        Target::RevokedInPart,
    ),
    project(
        "non",
        (
            "Azubi-Wohnen Lüneburg",
            "Affordable housing support for trainees from rural districts.",
        ),
        ("Studierendenwerk-Partner Lüneburg", "verein", "lueneburg"),
        &["dual_training"],
        &["lueneburg"],
        50_000_000,
        Target::FundsReserved,
    ),
    project(
        "non",
        (
            "Mobilitätsnetz Lüchow-Dannenberg",
            "Shuttle and ride-sharing to training sites; arrives after the budget is used up.",
        ),
        (
            "Landkreis Lüchow-Dannenberg",
            "landkreis",
            "luechow_dannenberg",
        ),
        &["dual_training"],
        &["luechow_dannenberg"],
        48_000_000,
        Target::Waitlisted,
    ),
];

/// A stable id for a demo name.
pub fn demo_id(kind: &str, name: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("https://buendel.example/demo/{kind}/{name}").as_bytes(),
    )
}

fn first_of_month_after(today: NaiveDate, months: u32) -> NaiveDate {
    let day_one = today.with_day(1).unwrap_or(today);
    day_one
        .checked_add_months(Months::new(months))
        .unwrap_or(day_one)
}

/// The project's duration, shortened where it would run past the programme's eligibility end
/// (so the demo passes screening whatever the clock's date; it must still be before the
/// application deadline).
fn fitted_duration(project: &Project, today: NaiveDate) -> u16 {
    let start = first_of_month_after(today, project.months_from_now);
    let until = ProgramRules::esf_plus_2021_2027().eligible_until;
    let mut months = project.duration_months;
    while months > 1
        && start
            .checked_add_months(Months::new(u32::from(months)))
            .is_none_or(|end| end > until)
    {
        months -= 1;
    }
    months
}

fn event(project: &Project, clock: Clock) -> Value {
    let today = clock.today();
    let proposal_id = demo_id("proposal", project.title);
    json!({
        "specversion": "1.0",
        "id": demo_id("intake", project.title),
        "source": "/demo/portal",
        "type": "buendel.proposal.submitted.v1",
        "subject": proposal_id,
        "time": clock.now(),
        "datacontenttype": "application/json",
        "actor": "demo-portal",
        "data": {
            "proposal_id": proposal_id,
            "alliance_id": project.alliance,
            "applicant": {"name": project.applicant.0, "kind": project.applicant.1, "district": project.applicant.2},
            "title": project.title,
            "summary": project.summary,
            "project_type": project.project_type,
            "focus_areas": project.focus_areas,
            "districts": project.districts,
            "planned_start": first_of_month_after(today, project.months_from_now),
            "duration_months": fitted_duration(project, today),
            "eligible_cost_cents": project.eligible_cost_cents,
            "requested_rate_bp": project.requested_rate_bp,
        }
    })
}

/// The ids of the demo proposals, in the order they are published.
pub fn proposal_ids() -> Vec<Uuid> {
    PROJECTS
        .iter()
        .map(|p| demo_id("proposal", p.title))
        .collect()
}

/// The demo's budgets. The split of non's 2.34 million EUR between ESF+ and Land is not public: the
/// demo assumes 60 : 10 (domain notes §3.7). son's ESF+ 1.44 million EUR is real; its Land share of
/// 1.08 million EUR is assumed.
const BUDGETS: [(&str, i64, i64); 2] = [
    ("non-2021-2027", 200_571_429, 33_428_571),
    ("son-2021-2027", 144_000_000, 108_000_000),
];

/// The last day the demo's funds may bind money (the funding period's end).
const COMMIT_DEADLINE: NaiveDate = match NaiveDate::from_ymd_opt(2027, 12, 31) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

/// How long the demo waits for the services to catch up on one step.
const STEP_TIMEOUT_MS: u64 = 20_000;

struct Operator<'a> {
    client: &'a async_nats::Client,
    store: &'a EventStore,
}

impl Operator<'_> {
    /// Sends a command with a stable id (so the demo can be loaded twice); retries while the
    /// services have not caught up yet (e.g. a review not opened, a grant not committed).
    async fn send<T: CommandData>(&self, key: &str, data: &T) -> anyhow::Result<Value> {
        self.send_by(key, "demo-office", data).await
    }

    /// [`Operator::send`] as `actor` (a project, a verifying or an approving officer).
    async fn send_by<T: CommandData>(
        &self,
        key: &str,
        actor: &str,
        data: &T,
    ) -> anyhow::Result<Value> {
        let command = T::NAME;
        let prefix = self.store.namespace().command_prefix(T::SERVICE.as_str());
        let payload = crate::commands::envelope(demo_id("command", key), actor, data);
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_millis(STEP_TIMEOUT_MS);
        loop {
            let reply = serde_json::to_value(
                crate::commands::request(self.client, &prefix, command, &payload).await?,
            )?;
            let code = reply["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let not_yet = matches!(
                code.as_str(),
                "review_not_open" | "unknown_project" | "not_committed" | "unavailable"
            );
            if !not_yet || std::time::Instant::now() > deadline {
                if reply["ok"] != true {
                    tracing::warn!(command, key, reply = %reply, "demo command refused");
                }
                return Ok(reply);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

fn fund_of(project: &Project) -> String {
    format!("{}-2021-2027", project.alliance)
}

fn grant_of(project: &Project, today: NaiveDate) -> Option<RecordGrant> {
    let region_esf_cap = if project.alliance == "son" {
        4_000
    } else {
        6_000
    };
    let esf_bp = project.requested_rate_bp.min(region_esf_cap);
    let split = Split::compute(
        Cents(project.eligible_cost_cents),
        BasisPoints(project.requested_rate_bp),
        BasisPoints(esf_bp),
    )?;
    let from = first_of_month_after(today, project.months_from_now);
    let to = from
        .checked_add_months(Months::new(u32::from(fitted_duration(project, today))))?
        .pred_opt()?;
    Some(RecordGrant {
        proposal_id: demo_id("proposal", project.title),
        bank_reference: format!(
            "NB-{}-{:04}",
            from.year(),
            project.eligible_cost_cents % 9973
        ),
        eligible_cost_cents: Cents(project.eligible_cost_cents),
        total_rate_bp: BasisPoints(project.requested_rate_bp),
        esf_rate_bp: BasisPoints(esf_bp),
        esf_cents: split.esf_cents,
        land_cents: split.land_cents,
        period_from: from,
        period_to: to,
        amendment_reference: None,
    })
}

/// Loads the demo: budgets, the projects through the intake, and every project driven to its
/// state with the same commands an operator would use. Ids are stable, so loading twice is safe.
pub async fn load(
    client: &async_nats::Client,
    store: &EventStore,
    clock: Clock,
) -> anyhow::Result<String> {
    let today = clock.today();
    let op = Operator { client, store };
    let closed = crate::demo_closed::import(store, clock).await?;
    for (fund, esf, land) in BUDGETS {
        let budget = AllocateBudget {
            fund_id: fund.to_owned(),
            esf_cents: Cents(esf),
            land_cents: Cents(land),
            commit_deadline: COMMIT_DEADLINE,
        };
        op.send(&format!("budget/{fund}"), &budget).await?;
    }
    let subject = store.namespace().subject(StreamKind::Intake, "demo");
    // A namespace the demo was loaded into before (another day, another instant) has its
    // proposals: the intake events are not published again, since their bodies (the submission
    // time, the planned start) would differ and each be dead-lettered as a conflicting duplicate.
    let first = demo_id("proposal", PROJECTS[0].title);
    let proposals = store.namespace().subject(StreamKind::Proposals, first);
    let loaded_before = store
        .last_sequence(StreamKind::Proposals, &proposals)
        .await?
        > 0;
    for project in PROJECTS.iter().filter(|_| !loaded_before) {
        let event = event(project, clock);
        store
            .publish(
                &subject,
                demo_id("intake", project.title),
                serde_json::to_vec(&event)?.into(),
            )
            .await?;
    }
    if !loaded_before {
        let mut broken = event(&PROJECTS[0], clock);
        broken["id"] = json!(demo_id("intake", "broken"));
        broken["data"]["proposal_id"] = json!(demo_id("proposal", "broken"));
        broken["data"]["eligible_cost_cents"] = json!(12_500.5);
        broken["data"]["alliance_id"] = json!("atlantis");
        store
            .publish(
                &subject,
                demo_id("intake", "broken"),
                serde_json::to_vec(&broken)?.into(),
            )
            .await?;
    }

    for project in PROJECTS {
        drive(&op, project, today).await?;
    }
    Ok(format!(
        "allocated non-2021-2027 (234,000,000 cents: ESF+ 200,571,429 + Land 33,428,571, split assumed 60:10) \
         and son-2021-2027 (ESF+ 144,000,000 + Land 108,000,000 assumed); drove {} projects through every state \
         (payment claims in every state, verified and approved by two officers; a final report with its \
         recovery and a repayment; a revocation in part), and published one malformed event that lands \
         in the dead letters; {closed}",
        PROJECTS.len()
    ))
}

async fn drive(op: &Operator<'_>, project: &Project, today: NaiveDate) -> anyhow::Result<()> {
    let id = demo_id("proposal", project.title);
    let key = |step: &str| format!("{}/{step}", project.title);
    if project.target == Target::ScreeningFailed {
        return Ok(());
    }
    let alliance = builtin_alliances()
        .into_iter()
        .find(|a| a.id == project.alliance);
    let partners: Vec<String> = alliance
        .map(|a| a.partners.into_iter().map(|p| p.id).collect())
        .unwrap_or_default();
    if project.target == Target::Withdrawn {
        let vote = Vote {
            proposal_id: id,
            partner_id: partners[0].clone(),
            vote: VoteChoice::Yes,
            comment: None,
        };
        op.send(&key("vote/0"), &vote).await?;
        let withdraw = Withdraw {
            proposal_id: id,
            reason: "merged into a state programme".into(),
        };
        op.send(&key("withdraw"), &withdraw).await?;
        return Ok(());
    }
    let mut voters = partners.iter();
    if project.target == Target::InReviewWithRecusal {
        // The chamber of crafts is the applicant's umbrella: it declares a conflict and is recused.
        let conflict = DeclareConflict {
            proposal_id: id,
            partner_id: "hwk-bls".into(),
            reason: "umbrella organisation of the applicant".into(),
        };
        op.send(&key("conflict"), &conflict).await?;
        for (n, partner) in voters.filter(|p| *p != "hwk-bls").take(4).enumerate() {
            let vote = Vote {
                proposal_id: id,
                partner_id: partner.clone(),
                vote: VoteChoice::Yes,
                comment: Some("fits the regional strategy".into()),
            };
            op.send(&key(&format!("vote/{n}")), &vote).await?;
        }
        return Ok(());
    }
    let quorum = partners.len() / 2 + 1;
    let negative = project.target == Target::StatementNegative;
    for (n, partner) in voters.by_ref().take(quorum).enumerate() {
        let vote = if negative == (n % 4 != 0) {
            VoteChoice::No
        } else {
            VoteChoice::Yes
        };
        let vote = Vote {
            proposal_id: id,
            partner_id: partner.clone(),
            vote,
            comment: None,
        };
        op.send(&key(&format!("vote/{n}")), &vote).await?;
    }
    let statement = IssueStatement {
        proposal_id: id,
        verdict: if negative {
            Verdict::Negative
        } else {
            Verdict::Positive
        },
        conditions: Some(vec![
            "quarterly progress report to the alliance office".into()
        ]),
    };
    op.send(&key("statement"), &statement).await?;
    match project.target {
        Target::StatementNegative | Target::FundsReserved | Target::Waitlisted => return Ok(()),
        Target::Refused => {
            let refusal = RecordRefusal {
                proposal_id: id,
                bank_reference: "NB-2027-R-0815".into(),
                reason: "co-financing not secured".into(),
            };
            op.send(&key("refusal"), &refusal).await?;
            return Ok(());
        }
        _ => {}
    }
    let Some(grant) = grant_of(project, today) else {
        return Ok(());
    };
    op.send(&key("grant"), &grant).await?;
    let fund = fund_of(project);
    let (esf, land) = (grant.esf_cents.0, grant.land_cents.0);
    match project.target {
        Target::Paying => return claims(op, project, &grant, today).await,
        Target::RevokedInPart => {
            let revoke = RevokeGrant {
                fund_id: fund,
                proposal_id: id,
                legal_basis: LegalBasis::Revocation,
                effect: Effect::ExNunc,
                remaining_esf_cents: Cents(esf / 5 * 4),
                remaining_land_cents: Cents(land / 5 * 4),
                interest_from: today,
                reason: "Bescheid W-2026-04: one of five modules dropped (§ 49 (2) No. 1 VwVfG)"
                    .into(),
            };
            op.send_by(&key("revocation"), "bewilligung-nbank", &revoke)
                .await?;
            return Ok(());
        }
        _ => {}
    }
    let tranches = match project.target {
        Target::ClosedUnderBudget | Target::ClawedBack => 2,
        _ => 0,
    };
    for n in 0..tranches {
        paid_claim(op, project, &grant, n, today).await?;
    }
    if project.target == Target::ClosedUnderBudget {
        let close = CloseProject {
            fund_id: fund.clone(),
            proposal_id: id,
        };
        op.send(&key("close"), &close).await?;
    }
    if project.target == Target::ClawedBack {
        // Half the grant was paid; the final report shows 40 % of the planned costs: the final
        // grant is recomputed at the grant's rates, what was paid beyond it is recovered (and
        // bears interest from today, § 49a VwVfG), half of that is repaid at once.
        let report = CheckFinalReport {
            fund_id: fund.clone(),
            proposal_id: id,
            report_reference: format!("VN-{}-{}", today.year(), &id.simple().to_string()[..6]),
            eligible_cost_cents: Cents(project.eligible_cost_cents / 10 * 4),
        };
        op.send_by(&key("final-report"), "pruefer-nbank", &report)
            .await?;
        let repayment = RecordRepayment {
            fund_id: fund,
            proposal_id: id,
            esf_cents: Cents(esf / 20),
            land_cents: Cents(land / 20),
            value_date: today,
        };
        op.send_by(&key("repayment"), "bank", &repayment).await?;
    }
    Ok(())
}

/// The `n`-th quarter of a grant paid through a claim in full: a quarter of the eligible costs
/// declared for the `n`-th quarter of the grant period, verified by one officer, approved by
/// another.
async fn paid_claim(
    op: &Operator<'_>,
    project: &Project,
    grant: &RecordGrant,
    n: u32,
    today: NaiveDate,
) -> anyhow::Result<()> {
    let id = grant.proposal_id;
    let fund = fund_of(project);
    let key = |step: &str| format!("{}/tranche/{n}/{step}", project.title);
    let declared = Cents(grant.eligible_cost_cents.0 / 4);
    let Some(asked) = Split::compute(declared, grant.total_rate_bp, grant.esf_rate_bp) else {
        return Ok(());
    };
    let claim_id = demo_id("claim", &key("claim"));
    let submit = quarter_claim(project, grant, claim_id, n, declared, &asked);
    let applicant = format!("traeger:{}", &id.simple().to_string()[..8]);
    op.send_by(&key("submit"), &applicant, &submit).await?;
    let verify = VerifyClaim {
        fund_id: fund.clone(),
        proposal_id: id,
        claim_id,
        cuts: vec![],
    };
    op.send_by(&key("verify"), "pruefer-nbank", &verify).await?;
    let approve = ApproveClaim {
        fund_id: fund,
        proposal_id: id,
        claim_id,
        payment_reference: format!("ZA-{}-{n}", &id.simple().to_string()[..8]),
        value_date: today,
    };
    op.send_by(&key("approve"), "freigabe-nbank", &approve)
        .await?;
    Ok(())
}

/// A claim for the `n`-th quarter of the grant period: `declared` eligible, `asked` per source.
fn quarter_claim(
    project: &Project,
    grant: &RecordGrant,
    claim_id: Uuid,
    n: u32,
    declared: Cents,
    asked: &Split,
) -> SubmitClaim {
    let (period_from, period_to) = quarter(grant, n);
    SubmitClaim {
        fund_id: fund_of(project),
        proposal_id: grant.proposal_id,
        claim_id,
        period_from,
        period_to,
        declared_eligible_cents: declared,
        esf_cents: asked.esf_cents,
        land_cents: asked.land_cents,
        receipts_reference: format!("BL-{}-Q{}", period_from.year(), n + 1),
    }
}

/// The `n`-th quarter of a grant period (its last day at the latest).
fn quarter(grant: &RecordGrant, n: u32) -> (NaiveDate, NaiveDate) {
    let from = grant
        .period_from
        .checked_add_months(Months::new(3 * n))
        .unwrap_or(grant.period_from);
    let to = from
        .checked_add_months(Months::new(3))
        .and_then(|d| d.pred_opt())
        .unwrap_or(from)
        .min(grant.period_to);
    (from, to)
}

/// A paying project's claims, one per quarter of the grant period, each a tenth of the grant:
/// the first paid (verified with a cut, approved by a second officer), the second sent back
/// (Heidekreis) or verified and waiting for approval, the third resubmitted or just submitted.
async fn claims(
    op: &Operator<'_>,
    project: &Project,
    grant: &RecordGrant,
    today: NaiveDate,
) -> anyhow::Result<()> {
    let id = grant.proposal_id;
    let fund = fund_of(project);
    let key = |step: &str| format!("{}/{step}", project.title);
    let applicant = format!("traeger:{}", &id.simple().to_string()[..8]);
    let heidekreis = project.title.contains("Heidekreis");
    let declared = Cents(grant.eligible_cost_cents.0 / 10);
    let Some(asked) = Split::compute(declared, grant.total_rate_bp, grant.esf_rate_bp) else {
        return Ok(());
    };
    for n in 0..3u32 {
        let claim_id = demo_id("claim", &key(&format!("claim/{n}")));
        let (period_from, _) = quarter(grant, n);
        let submit = quarter_claim(project, grant, claim_id, n, declared, &asked);
        op.send_by(&key(&format!("claim/{n}/submit")), &applicant, &submit)
            .await?;
        let verify = |cuts| VerifyClaim {
            fund_id: fund.clone(),
            proposal_id: id,
            claim_id,
            cuts,
        };
        match (n, heidekreis) {
            (0, _) => {
                let cut = buendel_contract::commands::ClaimCut {
                    esf_cents: Cents(asked.esf_cents.0 / 50),
                    land_cents: Cents(0),
                    reason: "receipt 4: catering is not an eligible cost".into(),
                };
                op.send_by(&key("claim/0/verify"), "pruefer-nbank", &verify(vec![cut]))
                    .await?;
                let approve = ApproveClaim {
                    fund_id: fund.clone(),
                    proposal_id: id,
                    claim_id,
                    payment_reference: format!("ZA-{}-C0", &id.simple().to_string()[..8]),
                    value_date: today,
                };
                op.send_by(&key("claim/0/approve"), "freigabe-nbank", &approve)
                    .await?;
            }
            (1, true) | (2, true) => {
                let back = ReturnClaim {
                    fund_id: fund.clone(),
                    proposal_id: id,
                    claim_id,
                    missing: "the payslips of the quarter's third month".into(),
                };
                op.send_by(&key(&format!("claim/{n}/return")), "pruefer-nbank", &back)
                    .await?;
                if n == 2 {
                    let again = ResubmitClaim {
                        fund_id: fund.clone(),
                        proposal_id: id,
                        claim_id,
                        receipts_reference: format!("BL-{}-Q3-b", period_from.year()),
                    };
                    op.send_by(&key("claim/2/resubmit"), &applicant, &again)
                        .await?;
                }
            }
            (1, false) => {
                op.send_by(&key("claim/1/verify"), "pruefer-nbank", &verify(vec![]))
                    .await?;
            }
            _ => {}
        }
    }
    Ok(())
}
