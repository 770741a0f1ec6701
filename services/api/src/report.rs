//! `GET /v1/report?year=YYYY[&alliance=..][&lang=en|de][&format=html|json]`: the programme's
//! annual report, a printable HTML page (the default) or the same figures as JSON.
//!
//! The figures come from the journal's postings (`ledger_postings`), summed per account kind and
//! turned into figures by the contract's one rule (`KindBalances`, through
//! [`crate::funds::figures`]), exactly as `GET /v1/funds/{id}?as_of=` computes them:
//! - `year_end`: every posting with a value date up to 31 December of the year, so a fund's
//!   `year_end` is its `GET /v1/funds/{id}?as_of=YYYY-12-31` (`esf_plus`, `land`, `total`);
//! - `during_year`: the postings with a value date in the year. Every figure is a sum of kind
//!   balances, so this is `year_end` minus the previous year's `year_end`, figure by figure
//!   (`committed` during the year is what was committed less what was released in it).
//!
//! Per fund (of the `alliance`, or all) and source: allocated, reserved, committed, disbursed,
//! recovered, available and the rest of the fund figures; `total` adds up the funds. Per district
//! (the project's `applicant_district`; `null` for a project the proposals read model does not
//! know): the figures of the project accounts (`ProjectBalances`), each project account counted in
//! its own project's district. The districts' figures add up to the funds' project figures.
//!
//! The HTML has its CSS inline (with `@media print`), no script and no external resource; every
//! text in it is escaped. Amounts are shown in euros from the integer cents (`1.234.567,89 €` in
//! German, `€1,234,567.89` in English) by [`euros`], which formats integers only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use buendel_contract::ledger::{ProjectBalances, SourceBalances};

use crate::error::ApiError;
use crate::export::Lang;
use crate::funds::figures;
use crate::page::invalid_query;
use crate::AppState;

/// The earliest year a report is asked for.
pub const YEAR_MIN: i32 = 1000;
/// The latest year a report is asked for.
pub const YEAR_MAX: i32 = 9999;

/// The query parameters of `GET /v1/report`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// The year, `YYYY` (required).
    year: Option<String>,
    /// Only the funds of this alliance.
    alliance: Option<String>,
    /// `en` (default) or `de`: the page's language and number format.
    lang: Option<String>,
    /// `html` (default) or `json`.
    format: Option<String>,
}

/// A set of figures per source and in total.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct BySource<T> {
    /// The ESF+ figures.
    pub esf_plus: T,
    /// The Land figures.
    pub land: T,
    /// Both.
    pub total: T,
}

/// One fund's figures in the year.
#[derive(Debug, Serialize)]
pub struct FundReport {
    /// The fund.
    pub fund_id: String,
    /// Its alliance.
    pub alliance_id: String,
    /// At the end of 31 December (= `GET /v1/funds/{id}?as_of=YYYY-12-31`).
    pub year_end: BySource<SourceBalances>,
    /// What the year's postings changed.
    pub during_year: BySource<SourceBalances>,
}

/// The funds added up.
#[derive(Debug, Serialize)]
pub struct TotalReport {
    /// At the end of 31 December.
    pub year_end: BySource<SourceBalances>,
    /// What the year's postings changed.
    pub during_year: BySource<SourceBalances>,
}

/// One district's project figures in the year.
#[derive(Debug, Serialize)]
pub struct DistrictReport {
    /// The projects' `applicant_district`; `null` for projects without a proposal row.
    pub district: Option<String>,
    /// At the end of 31 December.
    pub year_end: BySource<ProjectBalances>,
    /// What the year's postings changed.
    pub during_year: BySource<ProjectBalances>,
}

/// The annual report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The year.
    pub year: i32,
    /// The alliance asked for, or `null` for all.
    pub alliance_id: Option<String>,
    /// 1 January of the year.
    pub from: NaiveDate,
    /// 31 December of the year: the day whose end `year_end` describes.
    pub as_of: NaiveDate,
    /// Every fund with a posting up to `as_of`, by id.
    pub funds: Vec<FundReport>,
    /// The funds added up.
    pub total: TotalReport,
    /// Every district with a project posting up to `as_of`, by name (`null` last).
    pub districts: Vec<DistrictReport>,
}

/// Kind balances keyed by `(source, account kind)`, as [`figures`] takes them.
type Kinds = BTreeMap<(String, String), i128>;

/// The kind balances before the year and during it.
#[derive(Debug, Default, Clone)]
struct Sums {
    before: Kinds,
    during: Kinds,
}

impl Sums {
    fn add(&mut self, source: &str, kind: &str, before: i64, during: i64) {
        let key = (source.to_owned(), kind.to_owned());
        *self.before.entry(key.clone()).or_insert(0) += i128::from(before);
        *self.during.entry(key).or_insert(0) += i128::from(during);
    }

    fn merge(&mut self, other: &Sums) {
        for (key, cents) in &other.before {
            *self.before.entry(key.clone()).or_insert(0) += cents;
        }
        for (key, cents) in &other.during {
            *self.during.entry(key.clone()).or_insert(0) += cents;
        }
    }

    fn year_end(&self) -> Kinds {
        let mut end = self.before.clone();
        for (key, cents) in &self.during {
            *end.entry(key.clone()).or_insert(0) += cents;
        }
        end
    }
}

fn by_source(kinds: &Kinds) -> BySource<SourceBalances> {
    let esf_plus = figures(kinds, "esf_plus");
    let land = figures(kinds, "land");
    BySource {
        esf_plus,
        land,
        total: esf_plus.plus(&land),
    }
}

fn projects(of: BySource<SourceBalances>) -> BySource<ProjectBalances> {
    BySource {
        esf_plus: of.esf_plus.projects(),
        land: of.land.projects(),
        total: of.total.projects(),
    }
}

/// `YYYY` in [`YEAR_MIN`]..=[`YEAR_MAX`], or 400 `invalid_query`.
fn parse_year(raw: Option<&str>) -> Result<i32, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::InvalidQuery("year is required (YYYY)".to_owned()))?;
    raw.parse::<i32>()
        .ok()
        .filter(|year| raw.len() == 4 && (YEAR_MIN..=YEAR_MAX).contains(year))
        .ok_or_else(|| {
            ApiError::InvalidQuery(format!(
                "year {raw:?} is not a year from {YEAR_MIN} to {YEAR_MAX} (YYYY)"
            ))
        })
}

/// `GET /v1/report`.
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<AppState>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(invalid_query)?;
    let year = parse_year(query.year.as_deref())?;
    let lang = Lang::parse(query.lang.as_deref())?;
    let html = match query.format.as_deref() {
        None | Some("html") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::InvalidQuery(format!(
                "format must be html or json, got {other:?}"
            )))
        }
    };
    let report = build(&state, year, query.alliance).await?;
    if html {
        let page = render_html(&report, lang);
        return Ok(([(CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response());
    }
    Ok(Json(report).into_response())
}

async fn build(state: &AppState, year: i32, alliance: Option<String>) -> Result<Report, ApiError> {
    let (Some(from), Some(as_of)) = (
        NaiveDate::from_ymd_opt(year, 1, 1),
        NaiveDate::from_ymd_opt(year, 12, 31),
    ) else {
        return Err(ApiError::InvalidQuery(format!("no calendar year {year}")));
    };
    let mut snapshot = crate::snapshot(&state.pool).await?;
    type FundRow = (String, String, String, String, String, i64, i64);
    let fund_rows: Vec<FundRow> = sqlx::query_as(
        "SELECT p.fund_id, f.alliance_id, p.source, p.debit_kind, p.credit_kind, \
             COALESCE(SUM(p.amount_cents) FILTER (WHERE p.value_date < $1), 0)::bigint, \
             COALESCE(SUM(p.amount_cents) FILTER (WHERE p.value_date >= $1), 0)::bigint \
         FROM ledger_postings p JOIN funds f ON f.fund_id = p.fund_id \
         WHERE p.value_date <= $2 AND ($3::text IS NULL OR f.alliance_id = $3) \
         GROUP BY p.fund_id, f.alliance_id, p.source, p.debit_kind, p.credit_kind",
    )
    .bind(from)
    .bind(as_of)
    .bind(alliance.as_deref())
    .fetch_all(&mut *snapshot)
    .await?;
    type DistrictRow = (Option<String>, String, String, i64, i64);
    let district_rows: Vec<DistrictRow> = sqlx::query_as(
        "WITH sides AS ( \
             SELECT fund_id, source, debit_kind AS kind, debit_proposal AS proposal_id, \
                 amount_cents AS cents, value_date \
             FROM ledger_postings WHERE debit_proposal IS NOT NULL AND value_date <= $2 \
             UNION ALL \
             SELECT fund_id, source, credit_kind, credit_proposal, -amount_cents, value_date \
             FROM ledger_postings WHERE credit_proposal IS NOT NULL AND value_date <= $2) \
         SELECT pr.applicant_district, s.source, s.kind, \
             COALESCE(SUM(s.cents) FILTER (WHERE s.value_date < $1), 0)::bigint, \
             COALESCE(SUM(s.cents) FILTER (WHERE s.value_date >= $1), 0)::bigint \
         FROM sides s JOIN funds f ON f.fund_id = s.fund_id \
         LEFT JOIN proposals pr ON pr.proposal_id = s.proposal_id \
         WHERE $3::text IS NULL OR f.alliance_id = $3 \
         GROUP BY pr.applicant_district, s.source, s.kind",
    )
    .bind(from)
    .bind(as_of)
    .bind(alliance.as_deref())
    .fetch_all(&mut *snapshot)
    .await?;
    snapshot.commit().await?;

    let mut funds: BTreeMap<String, (String, Sums)> = BTreeMap::new();
    for (fund_id, alliance_id, source, debit, credit, before, during) in fund_rows {
        let (_, sums) = funds
            .entry(fund_id)
            .or_insert_with(|| (alliance_id, Sums::default()));
        // A posting moves money from its credit account into its debit account.
        sums.add(&source, &debit, before, during);
        sums.add(&source, &credit, -before, -during);
    }
    let mut all = Sums::default();
    let funds: Vec<FundReport> = funds
        .into_iter()
        .map(|(fund_id, (alliance_id, sums))| {
            all.merge(&sums);
            FundReport {
                fund_id,
                alliance_id,
                year_end: by_source(&sums.year_end()),
                during_year: by_source(&sums.during),
            }
        })
        .collect();
    let mut districts: BTreeMap<Option<String>, Sums> = BTreeMap::new();
    for (district, source, kind, before, during) in district_rows {
        districts
            .entry(district)
            .or_default()
            .add(&source, &kind, before, during);
    }
    // `None` sorts first in a BTreeMap; the report lists it last.
    let mut districts: Vec<DistrictReport> = districts
        .into_iter()
        .map(|(district, sums)| DistrictReport {
            district,
            year_end: projects(by_source(&sums.year_end())),
            during_year: projects(by_source(&sums.during)),
        })
        .collect();
    districts.sort_by_key(|d| (d.district.is_none(), d.district.clone()));
    Ok(Report {
        year,
        alliance_id: alliance,
        from,
        as_of,
        funds,
        total: TotalReport {
            year_end: by_source(&all.year_end()),
            during_year: by_source(&all.during),
        },
        districts,
    })
}

/// An amount of integer cents in euros: `1.234.567,89 €` (German), `€1,234,567.89` (English);
/// a minus sign before a negative one. Integer arithmetic only.
pub fn euros(cents: i64, lang: Lang) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let magnitude = cents.unsigned_abs();
    let (whole, rest) = (magnitude / 100, magnitude % 100);
    let (thousands, decimal) = match lang {
        Lang::De => ('.', ','),
        Lang::En => (',', '.'),
    };
    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(thousands);
        }
        grouped.push(digit);
    }
    match lang {
        Lang::De => format!("{sign}{grouped}{decimal}{rest:02} €"),
        Lang::En => format!("{sign}€{grouped}{decimal}{rest:02}"),
    }
}

/// Text escaped for HTML (element content and quoted attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's words in one language.
struct Words {
    html_lang: &'static str,
    title: &'static str,
    all_alliances: &'static str,
    alliance: &'static str,
    intro: &'static str,
    funds: &'static str,
    at_year_end: &'static str,
    during_year: &'static str,
    fund: &'static str,
    source: &'static str,
    total: &'static str,
    allocated: &'static str,
    reserved: &'static str,
    committed: &'static str,
    disbursed: &'static str,
    recovered: &'static str,
    available: &'static str,
    districts: &'static str,
    district: &'static str,
    unknown_district: &'static str,
    none: &'static str,
}

const EN: Words = Words {
    html_lang: "en",
    title: "Annual report",
    all_alliances: "all alliances",
    alliance: "Alliance",
    intro: "Figures from the funding ledger: every posting with a value date up to the end of \
            the year (year end) or within it (during the year). Amounts in euros.",
    funds: "Funds",
    at_year_end: "at year end",
    during_year: "during the year",
    fund: "Fund",
    source: "Source",
    total: "Total",
    allocated: "Budget allocated",
    reserved: "Reserved",
    committed: "Committed",
    disbursed: "Disbursed",
    recovered: "Recovered",
    available: "Available",
    districts: "Districts (applicant's district)",
    district: "District",
    unknown_district: "(unknown)",
    none: "No postings up to the end of this year.",
};

const DE: Words = Words {
    html_lang: "de",
    title: "Jahresbericht",
    all_alliances: "alle Bündnisse",
    alliance: "Bündnis",
    intro: "Zahlen aus dem Förderbuch: alle Buchungen mit Wertstellung bis zum Jahresende \
            (Stand am Jahresende) oder im Jahr (Bewegungen im Jahr). Beträge in Euro.",
    funds: "Fonds",
    at_year_end: "Stand am Jahresende",
    during_year: "Bewegungen im Jahr",
    fund: "Fonds",
    source: "Quelle",
    total: "Gesamt",
    allocated: "Zugewiesenes Budget",
    reserved: "Reserviert",
    committed: "Bewilligt",
    disbursed: "Ausgezahlt",
    recovered: "Zurückgefordert",
    available: "Verfügbar",
    districts: "Kreise (Sitz des Antragstellers)",
    district: "Kreis",
    unknown_district: "(unbekannt)",
    none: "Keine Buchungen bis zum Ende dieses Jahres.",
};

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
margin:2rem;color:#111}h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;\
margin:1.5rem 0 .5rem}h3{font-size:1rem;margin:1rem 0 .25rem}p{margin:.25rem 0}\
table{border-collapse:collapse;margin:.25rem 0 1rem;font-size:.9rem}th,td{border:1px solid #bbb;\
padding:.2rem .5rem;text-align:left;vertical-align:top}th{background:#eee}\
td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
tr.sum td{font-weight:bold}\
@media print{@page{size:A4 landscape;margin:12mm}body{margin:0;font-size:9pt}\
table{font-size:8.5pt}thead{display:table-header-group}tr{break-inside:avoid}\
h2,h3{break-after:avoid}th{background:none}}";

/// The report as a page.
pub fn render_html(report: &Report, lang: Lang) -> String {
    let w = match lang {
        Lang::En => &EN,
        Lang::De => &DE,
    };
    let date = |day: NaiveDate| match lang {
        Lang::En => day.format("%Y-%m-%d").to_string(),
        Lang::De => day.format("%d.%m.%Y").to_string(),
    };
    let scope = match &report.alliance_id {
        Some(id) => format!("{} {}", w.alliance, escape(id)),
        None => w.all_alliances.to_owned(),
    };
    let mut page = String::with_capacity(16 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{} {} – {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>{} {}</h1>\n<p>{} · {} – {}</p>\n<p>{}</p>\n",
        w.html_lang,
        w.title,
        report.year,
        scope,
        w.title,
        report.year,
        scope,
        date(report.from),
        date(report.as_of),
        w.intro,
    );
    let _ = writeln!(page, "<h2>{}</h2>", w.funds);
    if report.funds.is_empty() {
        let _ = writeln!(page, "<p>{}</p>", w.none);
    }
    for (heading, year_end) in [(w.at_year_end, true), (w.during_year, false)] {
        if report.funds.is_empty() {
            break;
        }
        let _ = write!(
            page,
            "<h3>{heading}</h3>\n<table>\n<thead><tr><th>{}</th><th>{}</th>",
            w.fund, w.source
        );
        for name in [
            w.allocated,
            w.reserved,
            w.committed,
            w.disbursed,
            w.recovered,
            w.available,
        ] {
            let _ = write!(page, "<th class=\"n\">{name}</th>");
        }
        page.push_str("</tr></thead>\n<tbody>\n");
        // The funds added up, where there is more than one.
        let total = (report.funds.len() > 1).then(|| {
            let figures = if year_end {
                &report.total.year_end
            } else {
                &report.total.during_year
            };
            (w.total.to_owned(), figures, true)
        });
        let rows = report
            .funds
            .iter()
            .map(|f| {
                let figures = if year_end {
                    &f.year_end
                } else {
                    &f.during_year
                };
                (escape(&f.fund_id), figures, false)
            })
            .chain(total);
        for (name, figures, sum) in rows {
            for (source, balances) in [
                ("ESF+", &figures.esf_plus),
                ("Land", &figures.land),
                (w.total, &figures.total),
            ] {
                let class = if sum { " class=\"sum\"" } else { "" };
                let _ = write!(page, "<tr{class}><td>{name}</td><td>{source}</td>");
                for cents in [
                    balances.allocated,
                    balances.reserved,
                    balances.committed,
                    balances.disbursed,
                    balances.recovered,
                    balances.available,
                ] {
                    let _ = write!(page, "<td class=\"n\">{}</td>", euros(cents.0, lang));
                }
                page.push_str("</tr>\n");
            }
        }
        page.push_str("</tbody>\n</table>\n");
    }
    let _ = writeln!(page, "<h2>{}</h2>", w.districts);
    if report.districts.is_empty() {
        let _ = writeln!(page, "<p>{}</p>", w.none);
    } else {
        let _ = write!(
            page,
            "<table>\n<thead><tr><th rowspan=\"2\">{}</th><th colspan=\"4\">{}</th>\
             <th colspan=\"4\">{}</th></tr>\n<tr>",
            w.district, w.at_year_end, w.during_year
        );
        for _ in 0..2 {
            for name in [w.reserved, w.committed, w.disbursed, w.recovered] {
                let _ = write!(page, "<th class=\"n\">{name}</th>");
            }
        }
        page.push_str("</tr></thead>\n<tbody>\n");
        let mut sum = DistrictSum::default();
        for d in &report.districts {
            let name = d
                .district
                .as_deref()
                .map_or_else(|| w.unknown_district.to_owned(), escape);
            sum.add(d);
            let _ = write!(page, "<tr><td>{name}</td>");
            district_cells(&mut page, &d.year_end.total, &d.during_year.total, lang);
            page.push_str("</tr>\n");
        }
        let _ = write!(page, "<tr class=\"sum\"><td>{}</td>", w.total);
        district_cells(&mut page, &sum.year_end, &sum.during_year, lang);
        page.push_str("</tr>\n</tbody>\n</table>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// The districts added up (both sources).
#[derive(Default)]
struct DistrictSum {
    year_end: ProjectBalances,
    during_year: ProjectBalances,
}

impl DistrictSum {
    fn add(&mut self, district: &DistrictReport) {
        self.year_end = self.year_end.plus(&district.year_end.total);
        self.during_year = self.during_year.plus(&district.during_year.total);
    }
}

fn district_cells(page: &mut String, end: &ProjectBalances, during: &ProjectBalances, lang: Lang) {
    for balances in [end, during] {
        for cents in [
            balances.reserved,
            balances.committed,
            balances.disbursed,
            balances.recovered,
        ] {
            let _ = write!(page, "<td class=\"n\">{}</td>", euros(cents.0, lang));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_euros_group_thousands_by_dot_and_cents_by_comma() {
        assert_eq!(euros(0, Lang::De), "0,00 €");
        assert_eq!(euros(5, Lang::De), "0,05 €");
        assert_eq!(euros(99, Lang::De), "0,99 €");
        assert_eq!(euros(100, Lang::De), "1,00 €");
        assert_eq!(euros(123_456_789, Lang::De), "1.234.567,89 €");
        assert_eq!(euros(100_000, Lang::De), "1.000,00 €");
        assert_eq!(euros(99_999, Lang::De), "999,99 €");
    }

    #[test]
    fn a_negative_amount_has_a_minus_before_it_even_the_smallest() {
        assert_eq!(euros(-1, Lang::De), "-0,01 €");
        assert_eq!(euros(-123_456_789, Lang::De), "-1.234.567,89 €");
        assert_eq!(euros(-123_456_789, Lang::En), "-€1,234,567.89");
        assert_eq!(euros(i64::MIN, Lang::De), "-92.233.720.368.547.758,08 €");
        assert_eq!(euros(i64::MAX, Lang::De), "92.233.720.368.547.758,07 €");
    }

    #[test]
    fn english_euros_group_thousands_by_comma() {
        assert_eq!(euros(0, Lang::En), "€0.00");
        assert_eq!(euros(123_456_789, Lang::En), "€1,234,567.89");
        assert_eq!(euros(100_000_000, Lang::En), "€1,000,000.00");
    }

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            escape("<b>\"Tom\" & 'Jerry'</b>"),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
        assert_eq!(escape("Lüneburg"), "Lüneburg");
    }

    #[test]
    fn a_year_has_four_digits_and_is_in_range() {
        assert_eq!(parse_year(Some("2027")).expect("year"), 2027);
        for bad in ["27", "02027", "-202", "0999", "abcd", "", "2027.0"] {
            assert!(parse_year(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(parse_year(None).is_err());
    }

    #[test]
    fn the_page_escapes_district_names_and_shows_german_amounts() {
        let cents = buendel_contract::Cents(123_456_789);
        let balances = SourceBalances {
            allocated: cents,
            ..SourceBalances::default()
        };
        let figures = BySource {
            esf_plus: balances,
            land: SourceBalances::default(),
            total: balances,
        };
        let report = Report {
            year: 2026,
            alliance_id: Some("<non>".into()),
            from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("day"),
            as_of: NaiveDate::from_ymd_opt(2026, 12, 31).expect("day"),
            funds: vec![FundReport {
                fund_id: "non-2021-2027".into(),
                alliance_id: "non".into(),
                year_end: figures,
                during_year: BySource::default(),
            }],
            total: TotalReport {
                year_end: figures,
                during_year: BySource::default(),
            },
            districts: vec![DistrictReport {
                district: Some("<script>alert(1)</script>".into()),
                year_end: projects(figures),
                during_year: BySource::default(),
            }],
        };
        let page = render_html(&report, Lang::De);
        assert!(page.contains("1.234.567,89 €"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<script"));
        assert!(page.contains("Bündnis &lt;non&gt;"));
        assert!(page.contains("31.12.2026"));
        assert!(page.contains("@media print"));
        assert!(!page.contains("http"), "no external resource");
    }
}
