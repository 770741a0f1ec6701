//! The exports (`?format=csv|xlsx&lang=en|de`) of the journal, the proposals and the claims, read
//! back with `calamine` (XLSX) and `csv`, compared with the JSON the API shows of the same data;
//! the annual report (`GET /v1/report`) compared with the funds' figures `as_of` the year's end.
//!
//! A module of the `ledger` test binary (`tests/ledger.rs`), so it fills the read models with the same fixtures: the real Fund
//! aggregate's events, projected by the projector.

use std::io::Cursor;

use calamine::{Data, DataType as _, Reader as _, Xlsx};

use super::*;

pub(crate) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A response whose body is a file.
pub(crate) struct File {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    pub(crate) disposition: Option<String>,
    pub(crate) next_cursor: Option<String>,
    pub(crate) body: Vec<u8>,
}

impl File {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8")
    }
}

pub(crate) async fn get_file(app: &Router, uri: &str) -> File {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let (content_type, disposition, next_cursor) = (
        header("content-type").unwrap_or_default(),
        header("content-disposition"),
        header("x-next-cursor"),
    );
    let status = response.status();
    let body = response.into_body().collect().await.expect("body");
    File {
        status,
        content_type,
        disposition,
        next_cursor,
        body: body.to_bytes().to_vec(),
    }
}

/// A proposal submitted by an applicant in `district`, with its own title and costs.
pub(crate) fn submitted_in(id: Uuid, district: &str, title: &str, cost: i64) -> ProposalEvent {
    let ProposalEvent::Submitted(mut submitted) = submitted(id) else {
        panic!("submitted() is a Submitted event");
    };
    submitted.applicant.district = district.into();
    submitted.terms.districts = vec![district.into()];
    submitted.terms.title = title.into();
    submitted.terms.eligible_cost_cents = Cents(cost);
    ProposalEvent::Submitted(submitted)
}

/// The projects of [`programme`].
pub(crate) struct Projects {
    /// Harburg: the whole path through 2025 and 2026.
    pub(crate) granted: Uuid,
    /// Lüneburg: reserved in 2026; its title needs quoting in CSV.
    pub(crate) reserved: Uuid,
    /// Celle: committed in 2026 with two claims.
    pub(crate) claimed: Uuid,
    /// No proposal row: reserved in 2026.
    pub(crate) orphan: Uuid,
}

/// A title that needs every CSV quoting rule.
pub(crate) const AWKWARD_TITLE: &str = "Pflege; \"lernen\", neu\nzweite Zeile";

/// Three proposals in three districts and a project the proposals read model does not know; the
/// ledger: [`full_path`] (2025–2026) for the first, a reservation for the second and the
/// unknown one, a grant with two claims for the third (2026).
pub(crate) async fn programme() -> (TestDb, Projects) {
    let mut db = TestDb::new().await;
    let projects = Projects {
        granted: Uuid::new_v4(),
        reserved: Uuid::new_v4(),
        claimed: Uuid::new_v4(),
        orphan: Uuid::new_v4(),
    };
    db.proposal([
        submitted_in(projects.granted, "Harburg", "Pflege lernen", 10_000_000),
        submitted_in(projects.reserved, "Lüneburg", AWKWARD_TITLE, 2_500_000),
        submitted_in(projects.claimed, "Celle", "Handwerk digital", 30_000_000),
    ])
    .await;
    db.proposal([screened(projects.granted)]).await;
    db.ledger(full_path(projects.granted)).await;
    db.ledger([
        reserve(projects.reserved, 500_000, 100_000, day(2026, 4, 2)),
        reserve(projects.orphan, 70_000, 0, day(2026, 4, 3)),
    ])
    .await;
    db.ledger(claims(projects.claimed, Uuid::new_v4(), Uuid::new_v4()))
        .await;
    (db, projects)
}

/// The rows of a workbook's sheet (the header first).
fn sheet(file: &File, name: &str) -> Vec<Vec<Data>> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(file.body.clone())).expect("an XLSX workbook");
    let range = book
        .worksheet_range(name)
        .unwrap_or_else(|e| panic!("sheet {name}: {e}"));
    range.rows().map(<[Data]>::to_vec).collect()
}

/// The index of the header cell `name`.
fn column(rows: &[Vec<Data>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|cell| *cell == Data::String(name.to_owned()))
        .unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]))
}

/// An integer cell (an empty one is `None`); a fraction fails the test.
fn integer(cell: &Data) -> Option<i64> {
    match cell {
        Data::Empty => None,
        Data::Int(n) => Some(*n),
        Data::Float(f) => {
            assert_eq!(f.fract(), 0.0, "an integer cell holds {f}");
            Some(*f as i64)
        }
        other => panic!("not a number: {other:?}"),
    }
}

/// The sum of a column of integer cents (empty cells count 0).
fn sum(rows: &[Vec<Data>], name: &str) -> i64 {
    let at = column(rows, name);
    rows[1..]
        .iter()
        .map(|row| integer(&row[at]).unwrap_or(0))
        .sum()
}

/// The text cells of a column.
fn texts(rows: &[Vec<Data>], name: &str) -> Vec<String> {
    let at = column(rows, name);
    rows[1..]
        .iter()
        .map(|row| match &row[at] {
            Data::String(text) => text.clone(),
            other => panic!("{name}: not text: {other:?}"),
        })
        .collect()
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().expect("items").clone()
}

fn json_sum(items: &[Value], pointer: &str) -> i64 {
    items
        .iter()
        .map(|item| item.pointer(pointer).and_then(Value::as_i64).unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn the_xlsx_of_the_journal_the_proposals_and_the_claims_reads_back_with_the_apis_rows_and_totals(
) {
    let (db, _) = programme().await;
    let app = db.app();

    let (_, journal) = get_json(&app, &format!("/v1/funds/{FUND}/entries?limit=500")).await;
    let entries = items(&journal);
    let postings: Vec<Value> = entries
        .iter()
        .flat_map(|entry| entry["postings"].as_array().expect("postings").clone())
        .collect();
    let file = get_file(&app, &format!("/v1/funds/{FUND}/entries?format=xlsx")).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.content_type, XLSX);
    assert_eq!(
        file.disposition.as_deref(),
        Some("attachment; filename=\"journal-non-2021-2027.xlsx\"")
    );
    let rows = sheet(&file, "Journal");
    assert_eq!(rows.len(), 1 + postings.len());
    assert_eq!(postings.len(), db.ledger.postings());
    assert_eq!(
        sum(&rows, "amount_cents"),
        json_sum(&postings, "/amount_cents")
    );
    let value_date = column(&rows, "value_date");
    assert_eq!(
        rows[1][value_date].as_date(),
        Some(day(2025, 1, 2)),
        "a date cell: {:?}",
        rows[1][value_date]
    );
    assert_eq!(
        texts(&rows, "hash")[0],
        entries[0]["hash"].as_str().expect("hash")
    );

    let (_, proposals) = get_json(&app, "/v1/proposals?limit=500").await;
    let proposals = items(&proposals);
    let file = get_file(&app, "/v1/proposals?format=xlsx").await;
    assert_eq!(file.content_type, XLSX);
    let rows = sheet(&file, "Proposals");
    assert_eq!(rows.len(), 1 + proposals.len());
    assert_eq!(proposals.len(), 3);
    assert_eq!(
        sum(&rows, "eligible_cost_cents"),
        json_sum(&proposals, "/eligible_cost_cents")
    );
    assert_eq!(
        texts(&rows, "proposal_id"),
        proposals
            .iter()
            .map(|p| p["proposal_id"].as_str().expect("id").to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(texts(&rows, "title")[1], AWKWARD_TITLE);
    let (_, celle) = get_json(&app, "/v1/proposals?district=Celle").await;
    let file = get_file(&app, "/v1/proposals?format=xlsx&district=Celle").await;
    let rows = sheet(&file, "Proposals");
    assert_eq!(rows.len(), 1 + items(&celle).len(), "the filter applies");
    assert_eq!(texts(&rows, "applicant_district"), ["Celle"]);

    let (_, claims) = get_json(&app, "/v1/claims?as_of=2026-07-01&limit=500").await;
    let claims = items(&claims);
    let file = get_file(&app, "/v1/claims?format=xlsx&as_of=2026-07-01").await;
    let rows = sheet(&file, "Claims");
    assert_eq!(rows.len(), 1 + claims.len());
    assert_eq!(claims.len(), 2);
    for (column, pointer) in [
        ("asked_total_cents", "/asked/total_cents"),
        ("asked_esf_cents", "/asked/esf_cents"),
        ("accepted_total_cents", "/accepted/total_cents"),
        ("declared_eligible_cents", "/declared_eligible_cents"),
        ("clock_days_left", "/clock/days_left"),
    ] {
        assert_eq!(sum(&rows, column), json_sum(&claims, pointer), "{column}");
    }
    assert_eq!(json_sum(&claims, "/accepted/total_cents"), 1_650_000);

    for (uri, sheet_name, first, amount) in [
        (
            format!("/v1/funds/{FUND}/entries?format=xlsx&lang=de"),
            "Journal",
            "sequenz",
            "betrag_cent",
        ),
        (
            "/v1/proposals?format=xlsx&lang=de".to_owned(),
            "Anträge",
            "antrag_id",
            "förderfähige_kosten_cent",
        ),
        (
            "/v1/claims?format=xlsx&lang=de&as_of=2026-07-01".to_owned(),
            "Mittelabrufe",
            "abruf_id",
            "beantragt_gesamt_cent",
        ),
    ] {
        let file = get_file(&app, &uri).await;
        let rows = sheet(&file, sheet_name);
        assert_eq!(rows[0][0], Data::String(first.to_owned()), "{uri}");
        let english = uri.replace("&lang=de", "");
        let english_rows = sheet(&get_file(&app, &english).await, &english_sheet(sheet_name));
        assert_eq!(rows.len(), english_rows.len(), "{uri}");
        let english_amount = english_rows[0][column(&rows, amount)].clone();
        let Data::String(english_amount) = english_amount else {
            panic!("a header");
        };
        assert_eq!(
            sum(&rows, amount),
            sum(&english_rows, &english_amount),
            "{uri}"
        );
    }
    db.drop_database().await;
}

fn english_sheet(german: &str) -> String {
    match german {
        "Anträge" => "Proposals",
        "Mittelabrufe" => "Claims",
        other => other,
    }
    .to_owned()
}

#[tokio::test]
async fn a_csv_parses_back_to_the_jsons_fields_and_a_german_one_has_a_bom_and_semicolons() {
    let (db, projects) = programme().await;
    let app = db.app();
    let (_, proposals) = get_json(&app, "/v1/proposals?limit=500").await;
    let proposals = items(&proposals);

    let german = get_file(&app, "/v1/proposals?format=csv&lang=de").await;
    assert_eq!(german.status, StatusCode::OK);
    assert_eq!(german.content_type, "text/csv; charset=utf-8");
    assert_eq!(
        german.disposition.as_deref(),
        Some("attachment; filename=\"proposals.csv\"")
    );
    let text = german.text();
    let body = text.strip_prefix('\u{feff}').expect("a UTF-8 BOM first");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(body.as_bytes());
    let headers = reader.headers().expect("a header").clone();
    assert_eq!(&headers[0], "antrag_id");
    assert_eq!(&headers[3], "titel");
    assert_eq!(&headers[13], "förderfähige_kosten_cent");
    let records: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("RFC 4180");
    assert_eq!(records.len(), proposals.len());
    for (record, proposal) in records.iter().zip(&proposals) {
        assert_eq!(&record[0], proposal["proposal_id"].as_str().expect("id"));
        assert_eq!(&record[3], proposal["title"].as_str().expect("title"));
        assert_eq!(
            &record[8],
            proposal["applicant"]["district"]
                .as_str()
                .expect("district")
        );
        assert_eq!(
            record[13].parse::<i64>().expect("integer cents"),
            proposal["eligible_cost_cents"].as_i64().expect("cents")
        );
        assert_eq!(
            &record[17],
            proposal["submitted_at"].as_str().expect("time")
        );
    }
    assert_eq!(&records[1][3], AWKWARD_TITLE);
    assert_eq!(
        proposals[1]["proposal_id"],
        json!(projects.reserved.to_string())
    );

    let english = get_file(&app, "/v1/claims?format=csv&as_of=2026-07-01").await;
    let text = english.text();
    assert!(
        text.starts_with("claim_id,proposal_id,fund_id,status,"),
        "no BOM: {text}"
    );
    let (_, claims) = get_json(&app, "/v1/claims?as_of=2026-07-01").await;
    let claims = items(&claims);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("a header").clone();
    let at = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let records: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("RFC 4180");
    assert_eq!(records.len(), claims.len());
    for (record, claim) in records.iter().zip(&claims) {
        assert_eq!(
            &record[at("claim_id")],
            claim["claim_id"].as_str().expect("id")
        );
        assert_eq!(
            record[at("asked_total_cents")]
                .parse::<i64>()
                .expect("cents"),
            claim["asked"]["total_cents"].as_i64().expect("cents")
        );
        assert_eq!(
            &record[at("clock_due_date")],
            claim["clock"]["due_date"].as_str().expect("date")
        );
        let cuts: Value = serde_json::from_str(&record[at("cuts")]).expect("JSON");
        assert_eq!(cuts, claim["cuts"]);
    }

    let journal = get_file(
        &app,
        &format!("/v1/funds/{FUND}/entries?format=csv&lang=de"),
    )
    .await;
    let text = journal.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "\u{feff}sequenz;ereignis_id;ereignistyp;wertstellung;antrag_id;quelle;soll;haben;\
         betrag_cent;vorheriger_hash;hash"
    );
    assert_eq!(lines.len(), 1 + db.ledger.postings());
    assert!(lines[1..].iter().all(|l| l.split(';').count() == 11));
    db.drop_database().await;
}

#[tokio::test]
async fn an_export_with_limit_holds_one_page_and_names_the_next_in_its_header() {
    let (db, _) = programme().await;
    let app = db.app();
    let (_, all) = get_json(&app, "/v1/proposals").await;
    let ids: Vec<String> = items(&all)
        .iter()
        .map(|p| p["proposal_id"].as_str().expect("id").to_owned())
        .collect();

    let first = get_file(&app, "/v1/proposals?format=csv&limit=2").await;
    let cursor = first.next_cursor.clone().expect("a next cursor");
    let rest = get_file(
        &app,
        &format!("/v1/proposals?format=csv&limit=2&cursor={cursor}"),
    )
    .await;
    let first_ids: Vec<String> = csv::Reader::from_reader(first.text().as_bytes())
        .records()
        .map(|record| record.expect("RFC 4180")[0].to_owned())
        .collect();
    let rest_rows = sheet(
        &get_file(
            &app,
            &format!("/v1/proposals?format=xlsx&limit=2&cursor={cursor}"),
        )
        .await,
        "Proposals",
    );

    assert_eq!(first_ids, ids[..2]);
    assert_eq!(rest.next_cursor, None);
    assert_eq!(texts(&rest_rows, "proposal_id"), ids[2..]);
    assert!(rest.text().contains(&ids[2]));
    let (_, claims_page) = get_json(&app, "/v1/claims?as_of=2026-07-01&limit=1").await;
    let claims = get_file(&app, "/v1/claims?format=csv&as_of=2026-07-01&limit=1").await;
    assert_eq!(
        claims.next_cursor.as_deref(),
        claims_page["next_cursor"].as_str()
    );
    assert_eq!(
        csv::Reader::from_reader(claims.text().as_bytes())
            .records()
            .count(),
        1
    );
    db.drop_database().await;
}

#[tokio::test]
async fn an_unknown_format_or_language_is_a_400_invalid_query() {
    let (db, _) = programme().await;
    let app = db.app();
    for uri in [
        format!("/v1/funds/{FUND}/entries?format=pdf"),
        format!("/v1/funds/{FUND}/entries?format=csv&lang=fr"),
        "/v1/proposals?format=XLSX".to_owned(),
        "/v1/proposals?format=csv&lang=en-GB".to_owned(),
        "/v1/claims?format=ods".to_owned(),
        "/v1/claims?format=xlsx&lang=".to_owned(),
        "/v1/report?year=2026&format=pdf".to_owned(),
        "/v1/report?year=2026&lang=fr".to_owned(),
        "/v1/report?year=26".to_owned(),
        "/v1/report?year=0999".to_owned(),
        "/v1/report".to_owned(),
    ] {
        let (status, body) = get_json(&app, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{uri}");
    }
    db.drop_database().await;
}

/// `year_end` − `previous`, figure by figure, of two JSON objects of integer figures.
fn difference(year_end: &Value, previous: &Value) -> Value {
    let figures = year_end.as_object().expect("figures");
    Value::Object(
        figures
            .iter()
            .map(|(name, cents)| {
                let before = previous[name].as_i64().expect("cents");
                (name.clone(), json!(cents.as_i64().expect("cents") - before))
            })
            .collect(),
    )
}

#[tokio::test]
async fn the_reports_year_end_figures_are_the_funds_as_of_figures_and_the_year_is_their_change() {
    let (db, projects) = programme().await;
    let app = db.app();
    let sources = ["esf_plus", "land", "total"];

    for year in [2025, 2026] {
        let (status, report) = get_json(&app, &format!("/v1/report?year={year}&format=json")).await;
        let (_, fund) = get_json(&app, &format!("/v1/funds/{FUND}?as_of={year}-12-31")).await;
        let (_, before) =
            get_json(&app, &format!("/v1/funds/{FUND}?as_of={}-12-31", year - 1)).await;

        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["as_of"], format!("{year}-12-31"));
        let funds = report["funds"].as_array().expect("funds");
        assert_eq!(funds.len(), 1, "{report}");
        for source in sources {
            assert_eq!(
                funds[0]["year_end"][source], fund[source],
                "{year} {source}"
            );
            assert_eq!(report["total"]["year_end"][source], fund[source]);
            assert_eq!(
                funds[0]["during_year"][source],
                difference(&fund[source], &before[source]),
                "{year} {source}"
            );
        }
        let districts = report["districts"].as_array().expect("districts");
        for figure in ["reserved", "committed", "disbursed", "recovered", "repaid"] {
            let by_district: i64 = districts
                .iter()
                .map(|d| d["year_end"]["total"][figure].as_i64().expect("cents"))
                .sum();
            assert_eq!(
                json!(by_district),
                fund["total"][figure],
                "{year}: the districts add up to the fund's {figure}"
            );
        }
    }

    let (_, report) = get_json(&app, "/v1/report?year=2026&format=json").await;
    let names: Vec<&Value> = report["districts"]
        .as_array()
        .expect("districts")
        .iter()
        .map(|d| &d["district"])
        .collect();
    assert_eq!(
        names,
        [
            &json!("Celle"),
            &json!("Harburg"),
            &json!("Lüneburg"),
            &Value::Null
        ],
        "by name, the project without a proposal row last"
    );
    let district = |name: &Value| {
        report["districts"]
            .as_array()
            .expect("districts")
            .iter()
            .find(|d| &d["district"] == name)
            .cloned()
            .expect("listed")
    };
    // Harburg: 20,000.00 committed in 2025 (17,000.00 + 3,000.00), closed in 2026 at what was
    // paid (13,750.00); 3,500.00 recovered in 2026.
    let harburg = district(&json!("Harburg"));
    assert_eq!(harburg["year_end"]["total"]["committed"], 13_750_000);
    assert_eq!(harburg["during_year"]["total"]["committed"], -6_250_000);
    assert_eq!(harburg["during_year"]["total"]["recovered"], 350_000);
    assert_eq!(
        district(&json!("Lüneburg"))["year_end"]["land"]["reserved"],
        100_000
    );
    assert_eq!(
        district(&Value::Null)["year_end"]["total"]["reserved"],
        70_000
    );
    assert_eq!(
        district(&json!("Celle"))["year_end"]["total"]["committed"],
        21_000_000
    );
    assert_eq!(
        district(&json!("Celle"))["year_end"]["total"]["disbursed"],
        1_650_000,
        "the paid claim"
    );
    let (_, earlier) = get_json(&app, "/v1/report?year=2024&format=json").await;
    assert_eq!(earlier["funds"], json!([]), "nothing booked up to 2024");
    let (_, other) = get_json(&app, "/v1/report?year=2026&format=json&alliance=son").await;
    assert_eq!(other["funds"], json!([]));
    assert_eq!(other["districts"], json!([]));
    assert_eq!(other["alliance_id"], "son");
    let (_, ours) = get_json(&app, "/v1/report?year=2026&format=json&alliance=non").await;
    assert_eq!(ours["funds"], report["funds"]);
    assert!(projects.orphan != projects.granted);
    db.drop_database().await;
}

#[tokio::test]
async fn the_reports_page_shows_the_figures_formatted_in_german_and_escapes_every_text() {
    let (mut db, _) = programme().await;
    let scripted = Uuid::new_v4();
    db.proposal([submitted_in(
        scripted,
        "<script>alert(1)</script>",
        "x",
        1_000,
    )])
    .await;
    db.ledger([reserve(scripted, 1_000, 0, day(2026, 5, 5))])
        .await;
    let app = db.app();
    let (_, fund) = get_json(&app, &format!("/v1/funds/{FUND}?as_of=2026-12-31")).await;

    let german = get_file(&app, "/v1/report?year=2026&lang=de").await;
    let english = get_file(&app, "/v1/report?year=2026").await;

    assert_eq!(german.status, StatusCode::OK);
    assert_eq!(german.content_type, "text/html; charset=utf-8");
    let page = german.text();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<html lang=\"de\">"));
    assert!(page.contains("Jahresbericht 2026"));
    assert!(page.contains("31.12.2026"));
    // 2,005,714.29 ESF+ and 334,285.71 Land allocated, 2,340,000.00 in all.
    assert_eq!(fund["esf_plus"]["allocated"], 200_571_429);
    assert!(
        page.contains("<td class=\"n\">2.005.714,29 €</td>"),
        "{page}"
    );
    assert!(page.contains("<td class=\"n\">334.285,71 €</td>"));
    assert!(page.contains("<td class=\"n\">2.340.000,00 €</td>"));
    let committed = fund["total"]["committed"].as_i64().expect("cents");
    assert_eq!(committed, 13_750_000 + 21_000_000);
    assert!(page.contains("<td class=\"n\">347.500,00 €</td>"), "{page}");
    assert!(
        page.contains("<tr><td>Lüneburg</td><td class=\"n\">6.000,00 €</td>"),
        "reserved: {page}"
    );
    assert!(page.contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
    assert!(page.contains("(unbekannt)"));
    assert!(page.contains("@media print"));
    assert!(!page.contains("<script"), "no script, every text escaped");
    assert!(!page.contains("src="), "no external resource");
    let english = english.text();
    assert!(english.contains("<html lang=\"en\">"));
    assert!(
        english.contains("<td class=\"n\">€2,005,714.29</td>"),
        "{english}"
    );
    assert!(english.contains("Annual report 2026"));
    db.drop_database().await;
}
