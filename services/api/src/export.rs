//! Exports for an office: one small [`Table`] (columns with an English and a German name and a
//! [`Kind`]) rendered as CSV or XLSX, and the `format`/`lang` query parameters that choose them.
//!
//! Used by `GET /v1/funds/{id}/entries`, `GET /v1/proposals` and `GET /v1/claims` with
//! `?format=csv|xlsx` and `?lang=en|de`.
//!
//! Decisions (see also `docs/openapi.json`):
//! - **Money stays integer cents**, in CSV and in XLSX, in columns named `..._cents` (English) or
//!   `..._cent` (German). An XLSX cell is a double; every integer of magnitude up to 2^53 cents
//!   (90 trillion euros) is one exactly, so the cell holds exactly the ledger's integer and a sum
//!   in Excel is exact. No conversion to euros happens anywhere (a euro column would be a
//!   division by 100 in floating point). A number beyond 2^53, which no real amount reaches, is
//!   written as text rather than rounded.
//! - **CSV** is RFC 4180 quoting (a field is quoted when it holds the separator, a quote or a line
//!   break; quotes are doubled), UTF-8, lines ending in LF (as the journal's CSV always did).
//!   `lang=en`: `,` and no BOM. `lang=de`: `;` and a UTF-8 byte order mark, which German Excel
//!   needs to open the file as UTF-8 with its list separator. Dates are `YYYY-MM-DD`, times
//!   RFC 3339 in UTC, in both languages. Text is written as it is: a field starting with `=`
//!   stays that field (CSV is the exact data); the XLSX stores every text as a string cell, never
//!   as a formula, so it is the format to hand to Excel.
//! - **XLSX**: one worksheet, the header row in bold and frozen, an autofilter over the table,
//!   column widths from the longest value (capped), dates as date cells (`yyyy-mm-dd`, German
//!   `dd.mm.yyyy`), times as date-time cells in UTC to the second, integers and cents as numbers
//!   with the format `0`.
//! - **Size**: an export without `limit` holds every matching row up to [`EXPORT_ROWS_MAX`];
//!   beyond that it is refused with 400 `invalid_query` (ask with `limit` and `cursor`, the next
//!   cursor comes in the `x-next-cursor` header).

use std::fmt::Write as _;

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike as _, NaiveDate, Timelike as _, Utc};
use rust_xlsxwriter::{ExcelDateTime, Format as CellFormat, Workbook, Worksheet, XlsxError};

use crate::error::ApiError;
use crate::funds::NEXT_CURSOR_HEADER;

/// The most rows an export without `limit` holds; a larger one is refused with 400.
pub const EXPORT_ROWS_MAX: usize = 100_000;

/// The content type of CSV exports.
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// The content type of XLSX exports.
pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The UTF-8 byte order mark at the start of a German CSV.
pub const UTF8_BOM: &str = "\u{feff}";

/// The widest column of an XLSX export, in characters.
const XLSX_COLUMN_WIDTH_MAX: usize = 60;

/// The largest magnitude an `f64` holds every integer up to (2^53).
const F64_EXACT_INTEGER_MAX: i64 = 1 << 53;

/// What a response of an endpoint with exports is: its JSON, or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The endpoint's JSON (the default).
    Json,
    /// A CSV file.
    Csv,
    /// An XLSX workbook.
    Xlsx,
}

impl Format {
    /// `json` (or absent), `csv` or `xlsx`; anything else is 400 `invalid_query`.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("xlsx") => Ok(Format::Xlsx),
            Some(other) => Err(ApiError::InvalidQuery(format!(
                "format must be json, csv or xlsx, got {other:?}"
            ))),
        }
    }
}

/// The language of an export's column names (and of a report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English names, as in the JSON (the default).
    #[default]
    En,
    /// German names; German CSV conventions (`;`, BOM).
    De,
}

impl Lang {
    /// `en` (or absent) or `de`; anything else is 400 `invalid_query`.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw {
            None | Some("en") => Ok(Lang::En),
            Some("de") => Ok(Lang::De),
            Some(other) => Err(ApiError::InvalidQuery(format!(
                "lang must be en or de, got {other:?}"
            ))),
        }
    }
}

/// What a column holds, which decides how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Text,
    /// An integer that is no money (a sequence, a count, basis points, days).
    Integer,
    /// Money in integer euro cents.
    Cents,
    /// A calendar day.
    Date,
    /// A moment, in UTC.
    Timestamp,
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name in English: the JSON field it shows.
    pub en: &'static str,
    /// Its name in German.
    pub de: &'static str,
    /// What it holds.
    pub kind: Kind,
}

impl Column {
    /// A column.
    pub const fn new(en: &'static str, de: &'static str, kind: Kind) -> Self {
        Self { en, de, kind }
    }

    /// Its name in `lang`.
    pub fn name(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.en,
            Lang::De => self.de,
        }
    }
}

/// One cell's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing (a JSON `null`).
    Empty,
    /// Text.
    Text(String),
    /// An integer (for [`Kind::Integer`] and [`Kind::Cents`]).
    Int(i64),
    /// A day.
    Date(NaiveDate),
    /// A moment.
    Time(DateTime<Utc>),
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::Text(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::Text(text.to_owned())
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}

impl From<i32> for Cell {
    fn from(n: i32) -> Self {
        Cell::Int(i64::from(n))
    }
}

impl From<NaiveDate> for Cell {
    fn from(day: NaiveDate) -> Self {
        Cell::Date(day)
    }
}

impl From<DateTime<Utc>> for Cell {
    fn from(time: DateTime<Utc>) -> Self {
        Cell::Time(time)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Empty, Into::into)
    }
}

impl Cell {
    /// The cell as CSV text (before quoting).
    fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(text) => text.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Date(day) => day.to_string(),
            Cell::Time(time) => time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        }
    }
}

/// A table to export: fixed columns, rows of cells in their order.
#[derive(Debug)]
pub struct Table {
    /// The columns.
    pub columns: &'static [Column],
    /// The rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table of these columns.
    pub fn new(columns: &'static [Column]) -> Self {
        Self {
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per column.
    pub fn push(&mut self, row: Vec<Cell>) {
        assert_eq!(row.len(), self.columns.len(), "one cell per column");
        self.rows.push(row);
    }

    /// The header line, without its line break.
    pub fn csv_header(&self, lang: Lang) -> String {
        let separator = csv_separator(lang);
        let names: Vec<String> = self
            .columns
            .iter()
            .map(|c| csv_field(c.name(lang), separator).into_owned())
            .collect();
        names.join(&separator.to_string())
    }

    /// The table as CSV (see the module docs for the conventions of each language).
    pub fn to_csv(&self, lang: Lang) -> String {
        let separator = csv_separator(lang);
        let mut out = String::with_capacity(128 * (self.rows.len() + 1));
        if lang == Lang::De {
            out.push_str(UTF8_BOM);
        }
        out.push_str(&self.csv_header(lang));
        out.push('\n');
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    out.push(separator);
                }
                let _ = write!(out, "{}", csv_field(&cell.text(), separator));
            }
            out.push('\n');
        }
        out
    }

    /// The table as an XLSX workbook with one worksheet named `sheet`.
    pub fn to_xlsx(&self, lang: Lang, sheet: &str) -> Result<Vec<u8>, XlsxError> {
        let mut workbook = Workbook::new();
        let worksheet = workbook.add_worksheet();
        worksheet.set_name(sheet)?;
        self.fill(worksheet, lang)?;
        workbook.save_to_buffer()
    }

    fn fill(&self, sheet: &mut Worksheet, lang: Lang) -> Result<(), XlsxError> {
        let header = CellFormat::new().set_bold();
        let date = CellFormat::new().set_num_format(match lang {
            Lang::En => "yyyy-mm-dd",
            Lang::De => "dd.mm.yyyy",
        });
        let time = CellFormat::new().set_num_format(match lang {
            Lang::En => "yyyy-mm-dd hh:mm:ss",
            Lang::De => "dd.mm.yyyy hh:mm:ss",
        });
        let integer = CellFormat::new().set_num_format("0");
        let mut widths: Vec<usize> = Vec::with_capacity(self.columns.len());
        for (col, column) in (0u16..).zip(self.columns) {
            sheet.write_string_with_format(0, col, column.name(lang), &header)?;
            widths.push(column.name(lang).chars().count());
        }
        for (row, cells) in (1u32..).zip(&self.rows) {
            for ((col, cell), column) in (0u16..).zip(cells).zip(self.columns) {
                let shown = match cell {
                    Cell::Empty => 0,
                    Cell::Text(text) => {
                        sheet.write_string(row, col, text)?;
                        text.chars().count()
                    }
                    Cell::Int(n) => {
                        match exact_f64(*n) {
                            Some(number) => {
                                sheet.write_number_with_format(row, col, number, &integer)?
                            }
                            None => sheet.write_string(row, col, n.to_string())?,
                        };
                        n.to_string().len()
                    }
                    Cell::Date(day) => match excel_date(*day) {
                        Some(excel) => {
                            sheet.write_datetime_with_format(row, col, excel, &date)?;
                            10
                        }
                        None => {
                            sheet.write_string(row, col, day.to_string())?;
                            day.to_string().len()
                        }
                    },
                    Cell::Time(moment) => match excel_time(moment) {
                        Some(excel) => {
                            sheet.write_datetime_with_format(row, col, excel, &time)?;
                            19
                        }
                        None => {
                            sheet.write_string(row, col, cell.text())?;
                            cell.text().len()
                        }
                    },
                };
                debug_assert!(fits(column.kind, cell), "{} holds {cell:?}", column.en);
                if let Some(width) = widths.get_mut(usize::from(col)) {
                    *width = (*width).max(shown);
                }
            }
        }
        for (col, width) in (0u16..).zip(&widths) {
            let width = u16::try_from((*width).min(XLSX_COLUMN_WIDTH_MAX) + 2).unwrap_or(20);
            sheet.set_column_width(col, width)?;
        }
        let last_row = u32::try_from(self.rows.len()).unwrap_or(u32::MAX);
        let last_col = u16::try_from(self.columns.len().saturating_sub(1)).unwrap_or(0);
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofilter(0, 0, last_row, last_col)?;
        Ok(())
    }
}

/// Whether a cell is one a column of `kind` may hold (empty always is).
fn fits(kind: Kind, cell: &Cell) -> bool {
    matches!(
        (kind, cell),
        (_, Cell::Empty)
            | (Kind::Text, Cell::Text(_))
            | (Kind::Integer | Kind::Cents, Cell::Int(_))
            | (Kind::Date, Cell::Date(_))
            | (Kind::Timestamp, Cell::Time(_))
    )
}

/// The exact `f64` of an integer, if it has one (magnitude up to 2^53).
fn exact_f64(n: i64) -> Option<f64> {
    (-F64_EXACT_INTEGER_MAX..=F64_EXACT_INTEGER_MAX)
        .contains(&n)
        // Exact: every integer of this magnitude is a double.
        .then_some(n as f64)
}

/// A day as an Excel date, if Excel has it (1900 to 9999).
fn excel_date(day: NaiveDate) -> Option<ExcelDateTime> {
    let year = u16::try_from(day.year()).ok()?;
    let month = u8::try_from(day.month()).ok()?;
    let date = u8::try_from(day.day()).ok()?;
    ExcelDateTime::from_ymd(year, month, date).ok()
}

/// A moment as an Excel date-time in UTC, to the second.
fn excel_time(moment: &DateTime<Utc>) -> Option<ExcelDateTime> {
    let hour = u16::try_from(moment.hour()).ok()?;
    let minute = u8::try_from(moment.minute()).ok()?;
    let second = u8::try_from(moment.second()).ok()?;
    excel_date(moment.date_naive())?
        .and_hms(hour, minute, second)
        .ok()
}

fn csv_separator(lang: Lang) -> char {
    match lang {
        Lang::En => ',',
        Lang::De => ';',
    }
}

/// A CSV field, quoted (RFC 4180) when it holds the separator, a quote or a line break.
pub fn csv_field(field: &str, separator: char) -> std::borrow::Cow<'_, str> {
    if field.contains([separator, '"', '\n', '\r']) {
        std::borrow::Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(field)
    }
}

/// A table as the response `format` asks for (CSV or XLSX), as the attachment `<stem>.csv` or
/// `<stem>.xlsx`, with the next cursor in [`NEXT_CURSOR_HEADER`] when the export was cut by
/// `limit`. `sheet` names the XLSX worksheet.
pub fn respond(
    table: &Table,
    format: Format,
    lang: Lang,
    stem: &str,
    sheet: &str,
    next_cursor: Option<String>,
) -> Result<Response, ApiError> {
    let (content_type, extension, body) = match format {
        Format::Csv => (CSV_CONTENT_TYPE, "csv", table.to_csv(lang).into_bytes()),
        Format::Xlsx => (
            XLSX_CONTENT_TYPE,
            "xlsx",
            table
                .to_xlsx(lang, sheet)
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("writing XLSX")))?,
        ),
        Format::Json => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "respond is for files, not for JSON"
            )))
        }
    };
    let disposition = format!("attachment; filename=\"{}.{extension}\"", safe_stem(stem));
    let mut response = ([(CONTENT_TYPE, content_type)], body).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    if let Some(cursor) = next_cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(HeaderName::from_static(NEXT_CURSOR_HEADER), cursor);
    }
    Ok(response)
}

/// A file name stem of ASCII letters, digits, `-` and `_` only (anything else becomes `_`).
fn safe_stem(stem: &str) -> String {
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// 400 `invalid_query` for an export without `limit` that would hold more than
/// [`EXPORT_ROWS_MAX`] rows (`rows` is what was read: at most one more than that).
pub fn check_size(rows: usize) -> Result<(), ApiError> {
    if rows > EXPORT_ROWS_MAX {
        return Err(ApiError::InvalidQuery(format!(
            "the export would hold more than {EXPORT_ROWS_MAX} rows: narrow the filters, or page \
             with limit and cursor (the next cursor comes in the {NEXT_CURSOR_HEADER} header)"
        )));
    }
    Ok(())
}

/// How many rows an export without `limit` reads: one more than it may hold, to know it is more.
pub fn export_fetch_limit() -> i64 {
    i64::try_from(EXPORT_ROWS_MAX).unwrap_or(i64::MAX) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[Column] = &[
        Column::new("name", "name", Kind::Text),
        Column::new("amount_cents", "betrag_cent", Kind::Cents),
        Column::new("value_date", "wertstellung", Kind::Date),
    ];

    fn table() -> Table {
        let mut table = Table::new(COLUMNS);
        let day = NaiveDate::from_ymd_opt(2026, 5, 4).expect("day");
        table.push(vec!["Müller; Söhne".into(), 123_456.into(), day.into()]);
        table.push(vec!["a,b \"c\"".into(), Cell::Empty, Cell::Empty]);
        table
    }

    #[test]
    fn an_english_csv_separates_by_comma_without_a_bom_and_quotes_only_what_it_must() {
        let csv = table().to_csv(Lang::En);
        assert_eq!(
            csv,
            "name,amount_cents,value_date\nMüller; Söhne,123456,2026-05-04\n\"a,b \"\"c\"\"\",,\n"
        );
    }

    #[test]
    fn a_german_csv_starts_with_a_bom_and_separates_by_semicolon() {
        let csv = table().to_csv(Lang::De);
        assert_eq!(
            csv,
            "\u{feff}name;betrag_cent;wertstellung\n\"Müller; Söhne\";123456;2026-05-04\n\
             \"a,b \"\"c\"\"\";;\n"
        );
    }

    #[test]
    fn an_integer_is_written_as_a_number_only_while_a_double_holds_it_exactly() {
        assert_eq!(exact_f64(0), Some(0.0));
        assert_eq!(exact_f64(-123_456), Some(-123_456.0));
        assert!(exact_f64(F64_EXACT_INTEGER_MAX).is_some());
        assert_eq!(exact_f64(F64_EXACT_INTEGER_MAX + 1), None);
        assert_eq!(exact_f64(i64::MIN), None);
    }

    #[test]
    fn an_unknown_format_or_language_is_an_invalid_query() {
        assert_eq!(Format::parse(None).expect("default"), Format::Json);
        assert_eq!(Format::parse(Some("xlsx")).expect("xlsx"), Format::Xlsx);
        assert!(Format::parse(Some("XLSX")).is_err());
        assert!(Format::parse(Some("pdf")).is_err());
        assert_eq!(Lang::parse(Some("de")).expect("de"), Lang::De);
        assert!(Lang::parse(Some("fr")).is_err());
    }

    #[test]
    fn a_file_name_keeps_only_safe_characters() {
        assert_eq!(safe_stem("journal-non-2021-2027"), "journal-non-2021-2027");
        assert_eq!(safe_stem("a\"b/c\r\n"), "a_b_c__");
    }

    #[test]
    fn a_workbook_is_written_for_every_kind_of_cell() {
        let bytes = table().to_xlsx(Lang::De, "Test").expect("xlsx");
        assert!(bytes.starts_with(b"PK"), "a zip file");
    }
}
