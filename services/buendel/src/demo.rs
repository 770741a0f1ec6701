//! The demo: fictional projects for the two real alliances (domain-notes §3.7), published to the
//! intake as CloudEvents like any other publisher would. Ids are derived from the titles, so loading
//! the demo twice changes nothing.

use chrono::{Datelike as _, Months, NaiveDate, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_runtime::EventStore;

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
}

const PROJECTS: &[Project] = &[
    Project {
        alliance: "non",
        title: "Ausbildungsbotschafter:innen Heidekreis",
        summary: "Trainees from local firms visit schools and tell pupils about dual training.",
        applicant: ("Bildungswerk Heidekreis e.V.", "verein", "heidekreis"),
        project_type: "structure",
        focus_areas: &["dual_training"],
        districts: &["heidekreis"],
        months_from_now: 3,
        duration_months: 36,
        eligible_cost_cents: 30_000_000,
        requested_rate_bp: 7_000,
    },
    Project {
        alliance: "non",
        title: "Welcome Center Nordostniedersachsen",
        summary: "One door for international skilled workers and the firms that hire them.",
        applicant: ("Wirtschaftsförderung Lüneburg GmbH", "gmbh", "lueneburg"),
        project_type: "structure",
        focus_areas: &["recruit_retain"],
        districts: &["lueneburg", "harburg", "celle"],
        months_from_now: 2,
        duration_months: 36,
        eligible_cost_cents: 48_000_000,
        requested_rate_bp: 7_000,
    },
    Project {
        alliance: "non",
        title: "Teilzeitausbildung & Familie",
        summary: "Part-time vocational training for parents, with childcare arranged.",
        applicant: ("Familienservice Uelzen gGmbH", "gmbh", "uelzen"),
        project_type: "structure",
        focus_areas: &["family_work", "dual_training"],
        districts: &["uelzen", "luechow_dannenberg"],
        months_from_now: 4,
        duration_months: 30,
        eligible_cost_cents: 21_000_000,
        requested_rate_bp: 7_000,
    },
    Project {
        alliance: "non",
        title: "Pflegehilfe für Langzeitarbeitslose",
        summary: "Qualifies long-term unemployed people as care assistants in Celle.",
        applicant: ("Jobcenter-Verbund Celle", "landkreis", "celle"),
        project_type: "unemployed",
        focus_areas: &["long_term_unemployed"],
        districts: &["celle"],
        months_from_now: 5,
        duration_months: 24,
        eligible_cost_cents: 42_000_000,
        requested_rate_bp: 7_000,
    },
    Project {
        alliance: "non",
        title: "Gute Arbeit im Handwerk",
        summary: "Advice on good working conditions for small craft businesses in Harburg.",
        applicant: ("Kreishandwerkerschaft Harburg", "kammer", "harburg"),
        project_type: "structure",
        focus_areas: &["good_work"],
        districts: &["harburg"],
        months_from_now: 6,
        duration_months: 36,
        eligible_cost_cents: 25_000_000,
        requested_rate_bp: 5_000,
    },
    Project {
        alliance: "non",
        title: "Digitalakademie XXL",
        summary: "A regional digital academy; above the cost cap, so it is screened out.",
        applicant: ("Digitalakademie Lüneburg GmbH", "gmbh", "lueneburg"),
        project_type: "structure",
        focus_areas: &["qualification_structures"],
        districts: &["lueneburg"],
        months_from_now: 3,
        duration_months: 36,
        eligible_cost_cents: 65_000_000,
        requested_rate_bp: 7_000,
    },
    Project {
        alliance: "son",
        title: "KI-Kompetenzen in der Pflege Wolfsburg",
        summary: "Care staff learn to work with AI-supported documentation.",
        applicant: ("Pflegenetz Wolfsburg e.V.", "verein", "wolfsburg"),
        project_type: "structure",
        focus_areas: &["care", "digital_transformation"],
        districts: &["wolfsburg"],
        months_from_now: 3,
        duration_months: 24,
        eligible_cost_cents: 40_000_000,
        requested_rate_bp: 7_000,
    },
    Project {
        alliance: "son",
        title: "Internationale Fachkräfte Salzgitter",
        summary: "Language and onboarding support for international hires in industry.",
        applicant: ("Integrationswerk Salzgitter gGmbH", "gmbh", "salzgitter"),
        project_type: "unemployed",
        focus_areas: &["international_talent", "recruit_retain"],
        districts: &["salzgitter", "peine"],
        months_from_now: 4,
        duration_months: 36,
        eligible_cost_cents: 35_000_000,
        requested_rate_bp: 6_500,
    },
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

fn event(project: &Project, today: NaiveDate) -> Value {
    let proposal_id = demo_id("proposal", project.title);
    json!({
        "specversion": "1.0",
        "id": demo_id("intake", project.title),
        "source": "/demo/portal",
        "type": "buendel.proposal.submitted.v1",
        "subject": proposal_id,
        "time": Utc::now(),
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
            "duration_months": project.duration_months,
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

/// Publishes the demo projects (and one malformed event, to show a dead letter) to the intake.
pub async fn load(_client: &async_nats::Client, store: &EventStore) -> anyhow::Result<String> {
    let today = Utc::now().date_naive();
    let subject = store.namespace().subject(StreamKind::Intake, "demo");
    for project in PROJECTS {
        let event = event(project, today);
        let id = demo_id("intake", project.title);
        store
            .publish(&subject, id, serde_json::to_vec(&event)?.into())
            .await?;
    }
    let mut broken = event(&PROJECTS[0], today);
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
    Ok(format!(
        "published {} proposals for non and son, and one malformed event that lands in the dead letters",
        PROJECTS.len()
    ))
}
