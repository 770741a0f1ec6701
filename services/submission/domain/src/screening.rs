//! Screening: the program rules applied to a proposal's terms, each rule reported on its own.
//!
//! A proposal that breaks a rule is accepted and screened out (not dead-lettered): the applicant
//! must be told why. Rules of severity `warning` are reported but do not fail the screening.

use chrono::{Months, NaiveDate};
use uuid::Uuid;

use buendel_contract::money::{BasisPoints, Split};
use buendel_contract::proposal::{
    ProjectType, RuleResult, Screened, ScreenedSubject, Severity, Terms,
};
use buendel_contract::reference::{Alliance, ProgramRules};

/// Applies every rule and records each result.
pub fn screen(
    proposal_id: Uuid,
    alliance_id: &str,
    terms: &Terms,
    alliance: Option<&Alliance>,
    rules: &ProgramRules,
    today: NaiveDate,
) -> Screened {
    let mut results = Vec::with_capacity(10);
    let mut rule = |name: &str, passed: bool, severity: Severity, message: String| {
        results.push(RuleResult {
            rule: name.to_owned(),
            passed,
            severity,
            message,
        });
    };

    match alliance {
        None => rule(
            "alliance_known",
            false,
            Severity::Error,
            "the alliance is not known".into(),
        ),
        Some(alliance) => {
            rule(
                "alliance_known",
                true,
                Severity::Error,
                format!("submitted to {}", alliance.name),
            );
            let deadline_ok = today <= alliance.application_deadline;
            rule(
                "application_deadline",
                deadline_ok,
                Severity::Error,
                format!(
                    "filed {today}, applications accepted until {}",
                    alliance.application_deadline
                ),
            );
            let unknown_areas: Vec<&str> = terms
                .focus_areas
                .iter()
                .filter(|a| !alliance.focus_areas.contains(a))
                .map(String::as_str)
                .collect();
            rule(
                "focus_areas_of_alliance",
                unknown_areas.is_empty(),
                Severity::Error,
                if unknown_areas.is_empty() {
                    "every focus area belongs to the alliance".into()
                } else {
                    format!(
                        "not focus areas of {}: {}",
                        alliance.id,
                        unknown_areas.join(", ")
                    )
                },
            );
            let outside: Vec<&str> = terms
                .districts
                .iter()
                .filter(|d| !alliance.districts.contains(d))
                .map(String::as_str)
                .collect();
            rule(
                "districts_in_region",
                outside.is_empty(),
                Severity::Error,
                if outside.is_empty() {
                    "every district lies in the alliance's region".into()
                } else {
                    format!(
                        "outside the region of {}: {} (its districts: {})",
                        alliance.id,
                        outside.join(", "),
                        buendel_contract::district::describe(&alliance.districts)
                    )
                },
            );
            let esf_cap = rules.max_esf_rate(alliance.region);
            let esf_rate = BasisPoints(esf_cap.0.min(terms.requested_rate_bp.0));
            let split =
                Split::compute(terms.eligible_cost_cents, terms.requested_rate_bp, esf_rate);
            rule(
                "esf_share_by_region",
                split.is_some(),
                Severity::Error,
                match split {
                    Some(s) => format!(
                        "{} region: ESF+ at most {} bp; planned grant {} EUR = ESF+ {} + Land {}",
                        alliance.region.as_str(),
                        esf_cap.0,
                        s.grant_cents,
                        s.esf_cents,
                        s.land_cents
                    ),
                    None => "the grant cannot be split".into(),
                },
            );
        }
    }

    let rate_ok = terms.requested_rate_bp <= rules.max_total_rate_bp;
    rule(
        "total_rate_cap",
        rate_ok,
        Severity::Error,
        format!(
            "requested {} bp, at most {} bp of eligible costs",
            terms.requested_rate_bp.0, rules.max_total_rate_bp.0
        ),
    );

    let cost = terms.eligible_cost_cents;
    let (cost_ok, cost_message) = match terms.project_type {
        ProjectType::Structure | ProjectType::Unemployed => (
            cost <= rules.max_eligible_structure_cents,
            format!(
                "eligible costs {cost} EUR, at most {} EUR for {} projects",
                rules.max_eligible_structure_cents,
                terms.project_type.as_str()
            ),
        ),
        ProjectType::Training => (
            rules.min_eligible_training_cents <= cost && cost <= rules.max_eligible_training_cents,
            format!(
                "eligible costs {cost} EUR, between {} and {} EUR for training projects",
                rules.min_eligible_training_cents, rules.max_eligible_training_cents
            ),
        ),
    };
    rule("eligible_cost_cap", cost_ok, Severity::Error, cost_message);

    let normal = rules.normal_duration(terms.project_type);
    let months = terms.duration_months;
    rule(
        "duration_hard_cap",
        months <= rules.max_duration_months,
        Severity::Error,
        format!("{months} months, at most {}", rules.max_duration_months),
    );
    rule(
        "duration_normal",
        months <= normal,
        Severity::Warning,
        format!("{months} months, normally at most {normal}"),
    );

    rule(
        "start_after_filing",
        terms.planned_start >= today,
        Severity::Error,
        format!(
            "planned start {}, filed {today}: the application must precede the start",
            terms.planned_start
        ),
    );
    let end = terms
        .planned_start
        .checked_add_months(Months::new(u32::from(months)));
    let window_ok = terms.planned_start >= rules.eligible_from
        && end.is_some_and(|end| end <= rules.eligible_until);
    rule(
        "eligibility_window",
        window_ok,
        Severity::Error,
        format!(
            "runs {} to {}, expenditure eligible {} to {}",
            terms.planned_start,
            end.map_or_else(|| "?".to_owned(), |e| e.to_string()),
            rules.eligible_from,
            rules.eligible_until
        ),
    );

    let passed = results
        .iter()
        .all(|r| r.passed || r.severity == Severity::Warning);
    Screened {
        proposal_id,
        passed,
        rules_version: rules.version.clone(),
        results,
        subject: Some(ScreenedSubject {
            alliance_id: alliance_id.to_owned(),
            terms: terms.clone(),
        }),
    }
}
