//! Reference data: alliances, region categories and the versioned program rules.
//!
//! The two real alliances of the design are built in, so intake can tell a known alliance from an
//! unknown one from the first start. Rules are values with a version string; screening records which
//! version it applied, so a later rule change never silently re-judges an old proposal.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::money::{BasisPoints, Cents};
use crate::proposal::ProjectType;

/// EU region category; it caps the ESF+ share (CPR Art. 112(3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegionCategory {
    /// Transition region (Lüneburg): ESF+ at most 60 %.
    Transition,
    /// More developed region (Braunschweig): ESF+ at most 40 %.
    MoreDeveloped,
}

impl RegionCategory {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RegionCategory::Transition => "transition",
            RegionCategory::MoreDeveloped => "more_developed",
        }
    }
}

/// One partner of an alliance, who may review and vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Partner {
    /// Stable id, e.g. `lk-harburg`.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// An alliance as the services need to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alliance {
    /// Short id used in events and fund ids (`non`, `son`).
    pub id: String,
    /// Full name.
    pub name: String,
    /// Region category, which caps the ESF+ rate.
    pub region: RegionCategory,
    /// Districts the alliance covers.
    pub districts: Vec<String>,
    /// Focus areas (Handlungsfelder) projects may serve.
    pub focus_areas: Vec<String>,
    /// Last day applications are accepted.
    pub application_deadline: NaiveDate,
    /// The partner roster.
    pub partners: Vec<Partner>,
}

/// The six focus areas every alliance has.
pub const COMMON_FOCUS_AREAS: [&str; 6] = [
    "dual_training",
    "recruit_retain",
    "good_work",
    "family_work",
    "qualification_structures",
    "long_term_unemployed",
];

fn partners(list: &[(&str, &str)]) -> Vec<Partner> {
    list.iter()
        .map(|(id, name)| Partner {
            id: (*id).to_owned(),
            name: (*name).to_owned(),
        })
        .collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The built-in alliances: Nordostniedersachsen (`non`) and Südostniedersachsen (`son`).
pub fn builtin_alliances() -> Vec<Alliance> {
    let deadline = NaiveDate::from_ymd_opt(2027, 12, 31).unwrap_or_default();
    let non = Alliance {
        id: "non".into(),
        name: "Allianz für Fachkräfte Nordostniedersachsen".into(),
        region: RegionCategory::Transition,
        districts: strings(&[
            "harburg",
            "lueneburg",
            "uelzen",
            "luechow_dannenberg",
            "celle",
            "heidekreis",
        ]),
        focus_areas: strings(&COMMON_FOCUS_AREAS),
        application_deadline: deadline,
        partners: partners(&[
            ("lk-harburg", "Landkreis Harburg"),
            ("lk-lueneburg", "Landkreis Lüneburg"),
            ("lk-uelzen", "Landkreis Uelzen"),
            ("lk-luechow-dannenberg", "Landkreis Lüchow-Dannenberg"),
            ("lk-celle", "Landkreis Celle"),
            ("lk-heidekreis", "Landkreis Heidekreis"),
            ("ihklw", "IHK Lüneburg-Wolfsburg"),
            ("hwk-bls", "Handwerkskammer Braunschweig-Lüneburg-Stade"),
            (
                "agv-lueneburg",
                "Arbeitgeberverband Lüneburg-Nordostniedersachsen",
            ),
            ("dgb", "DGB Nordost-Niedersachsen"),
            ("aa-lueneburg-uelzen", "Agentur für Arbeit Lüneburg-Uelzen"),
            ("aa-celle", "Agentur für Arbeit Celle"),
            ("leuphana", "Leuphana Universität Lüneburg"),
            ("ostfalia", "Ostfalia Hochschule"),
        ]),
    };
    let mut son_partners = vec![
        ("stadt-braunschweig", "Stadt Braunschweig"),
        ("stadt-wolfsburg", "Stadt Wolfsburg"),
        ("stadt-salzgitter", "Stadt Salzgitter"),
        ("lk-gifhorn", "Landkreis Gifhorn"),
        ("lk-goslar", "Landkreis Goslar"),
        ("lk-helmstedt", "Landkreis Helmstedt"),
        ("lk-peine", "Landkreis Peine"),
        ("lk-wolfenbuettel", "Landkreis Wolfenbüttel"),
        ("ihklw", "IHK Lüneburg-Wolfsburg"),
        ("ihk-braunschweig", "IHK Braunschweig"),
        ("hwk-bls", "Handwerkskammer Braunschweig-Lüneburg-Stade"),
        ("afdr", "Allianz für die Region GmbH"),
        ("dgb-so", "DGB Region SüdOstNiedersachsen"),
        (
            "aa-braunschweig-goslar",
            "Agentur für Arbeit Braunschweig-Goslar",
        ),
        ("aa-helmstedt", "Agentur für Arbeit Helmstedt"),
        ("aa-hildesheim", "Agentur für Arbeit Hildesheim (Peine)"),
        ("jc-braunschweig", "Jobcenter Braunschweig"),
        ("jc-wolfsburg", "Jobcenter Wolfsburg"),
        ("tu-braunschweig", "Technische Universität Braunschweig"),
        ("ostfalia", "Ostfalia Hochschule"),
        ("tu-clausthal", "TU Clausthal"),
        (
            "agv-region-braunschweig",
            "Arbeitgeberverband Region Braunschweig",
        ),
        ("nbank-beratung", "Regionale Beratung (Fördernetzwerk)"),
        ("vw-ag", "Volkswagen AG"),
        ("salzgitter-ag", "Salzgitter AG"),
        ("wolfsburg-ag", "WOLFSBURG AG"),
        ("bbs-verbund", "Berufsbildende Schulen der Region"),
        (
            "kreishandwerkerschaft",
            "Kreishandwerkerschaft Braunschweig-Gifhorn",
        ),
    ];
    son_partners.truncate(28);
    let mut son_focus = strings(&COMMON_FOCUS_AREAS);
    son_focus.extend(strings(&[
        "digital_transformation",
        "care",
        "international_talent",
    ]));
    let son = Alliance {
        id: "son".into(),
        name: "Fachkräftebündnis Südostniedersachsen".into(),
        region: RegionCategory::MoreDeveloped,
        districts: strings(&[
            "braunschweig",
            "wolfsburg",
            "salzgitter",
            "gifhorn",
            "goslar",
            "helmstedt",
            "peine",
            "wolfenbuettel",
        ]),
        focus_areas: son_focus,
        application_deadline: deadline,
        partners: partners(&son_partners),
    };
    vec![non, son]
}

/// The program rules, versioned. Screening and grant checks read them; nothing is hard-coded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramRules {
    /// Recorded in every `screened` event.
    pub version: String,
    /// The first day this version is in force: a proposal is screened under the version in force
    /// on the day it was submitted ([`ProgramRules::in_force_on`]).
    pub effective_from: NaiveDate,
    /// Total grant at most this share of eligible costs.
    pub max_total_rate_bp: BasisPoints,
    /// ESF+ share cap in a transition region.
    pub max_esf_rate_transition_bp: BasisPoints,
    /// ESF+ share cap in a more developed region.
    pub max_esf_rate_more_developed_bp: BasisPoints,
    /// Eligible-cost cap for structure projects and projects for the unemployed.
    pub max_eligible_structure_cents: Cents,
    /// Eligible-cost range for training projects.
    pub min_eligible_training_cents: Cents,
    /// See `min_eligible_training_cents`.
    pub max_eligible_training_cents: Cents,
    /// Normal duration of structure/unemployed projects (longer is a warning).
    pub normal_duration_months: u16,
    /// Normal duration of training projects (longer is a warning).
    pub normal_duration_training_months: u16,
    /// Hard cap on duration: beyond it the project cannot end inside the eligibility window anyway.
    pub max_duration_months: u16,
    /// First day expenditure is eligible.
    pub eligible_from: NaiveDate,
    /// Last day expenditure is eligible.
    pub eligible_until: NaiveDate,
}

impl ProgramRules {
    /// The ESF+ 2021–2027 rules of "Unterstützung Regionaler Fachkräftebündnisse" (design.md).
    pub fn esf_plus_2021_2027() -> Self {
        Self {
            version: "esf-plus-2021-2027/v1".into(),
            effective_from: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default(),
            max_total_rate_bp: BasisPoints(7_000),
            max_esf_rate_transition_bp: BasisPoints(6_000),
            max_esf_rate_more_developed_bp: BasisPoints(4_000),
            max_eligible_structure_cents: Cents(50_000_000),
            min_eligible_training_cents: Cents(1_000_000),
            max_eligible_training_cents: Cents(20_000_000),
            normal_duration_months: 36,
            normal_duration_training_months: 24,
            max_duration_months: 108,
            eligible_from: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default(),
            eligible_until: NaiveDate::from_ymd_opt(2029, 12, 31).unwrap_or_default(),
        }
    }

    /// Every version of the programme's rules, oldest first. A new version is added here with
    /// its `effective_from`; it screens what is submitted from that day on and never re-screens
    /// what was submitted before (a revision is screened under the version of its first
    /// screening).
    pub fn versions() -> Vec<ProgramRules> {
        vec![ProgramRules::esf_plus_2021_2027()]
    }

    /// The version in force on `day` among `versions` (oldest first): the last one effective on
    /// or before it, or the first when `day` is before every one; `None` only for no versions.
    pub fn in_force_on(versions: &[ProgramRules], day: NaiveDate) -> Option<&ProgramRules> {
        versions
            .iter()
            .rev()
            .find(|v| v.effective_from <= day)
            .or_else(|| versions.first())
    }

    /// The ESF+ cap of a region category.
    pub fn max_esf_rate(&self, region: RegionCategory) -> BasisPoints {
        match region {
            RegionCategory::Transition => self.max_esf_rate_transition_bp,
            RegionCategory::MoreDeveloped => self.max_esf_rate_more_developed_bp,
        }
    }

    /// The normal duration of a project type.
    pub fn normal_duration(&self, project_type: ProjectType) -> u16 {
        match project_type {
            ProjectType::Training => self.normal_duration_training_months,
            ProjectType::Structure | ProjectType::Unemployed => self.normal_duration_months,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_in_force_on_a_day_is_the_last_one_effective_by_then() {
        let v1 = ProgramRules::esf_plus_2021_2027();
        let mut v2 = v1.clone();
        v2.version = "esf-plus-2021-2027/v2".into();
        v2.effective_from = NaiveDate::from_ymd_opt(2026, 7, 1).expect("a date");
        let versions = [v1, v2];
        let on = |y, m, d| {
            ProgramRules::in_force_on(&versions, NaiveDate::from_ymd_opt(y, m, d).expect("a date"))
                .map(|v| v.version.as_str())
        };
        assert_eq!(on(2026, 6, 30), Some("esf-plus-2021-2027/v1"));
        assert_eq!(on(2026, 7, 1), Some("esf-plus-2021-2027/v2"));
        assert_eq!(on(2019, 1, 1), Some("esf-plus-2021-2027/v1"));
        assert_eq!(ProgramRules::in_force_on(&[], NaiveDate::MIN), None);
    }

    #[test]
    fn the_builtin_alliances_have_their_real_partner_counts() {
        let alliances = builtin_alliances();
        assert_eq!(alliances[0].id, "non");
        assert_eq!(alliances[0].partners.len(), 14);
        assert_eq!(alliances[1].id, "son");
        assert_eq!(alliances[1].partners.len(), 28);
    }
}
