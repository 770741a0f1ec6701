//! The base rate (Basiszinssatz) of § 247 BGB, as versioned data.
//!
//! The base rate changes on 1 January and 1 July of each year (§ 247 (1) sentence 2 BGB). The
//! Deutsche Bundesbank publishes the new rate (§ 247 (2) BGB). The rates are data, not code: they
//! live in `data/base-rates.json`, compiled into the crate. Each entry gives the rate in force from
//! its `from` day to the end of that half year. A table has no gaps, so every day from the first
//! entry to [`BaseRateTable::covered_until`] has exactly one rate. No rate is known for a day
//! outside that range, and nothing is guessed for it.

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// The published table, as compiled into the crate.
const PUBLISHED_JSON: &str = include_str!("../data/base-rates.json");

/// The lowest base rate a table may hold: the rate plus the 500 bp surcharge stays above zero.
pub const MIN_RATE_BP: i32 = -499;

/// The highest base rate a table may hold (100 % a year).
pub const MAX_RATE_BP: i32 = 10_000;

/// The base rate in force from `from` to the end of that half year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRate {
    /// The first day: a 1 January or a 1 July.
    pub from: NaiveDate,
    /// The rate in basis points per year; may be negative.
    pub rate_bp: i32,
}

/// One version of the base-rate series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRateTable {
    /// The version: the `from` day of the last half year entered, e.g. `2026-01-01`.
    pub version: String,
    /// Where the values come from.
    pub source: String,
    /// How the values were entered and how to extend them.
    pub note: String,
    /// The rates, one per half year, ascending and without gaps.
    pub rates: Vec<BaseRate>,
}

/// Why a base-rate table was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The text is not a table in the expected JSON form.
    #[error("base-rate table is not valid JSON of the expected form: {message}")]
    Parse {
        /// The parser's message.
        message: String,
    },
    /// The table lists no rate.
    #[error("base-rate table lists no rate")]
    Empty,
    /// An entry does not start on a 1 January or a 1 July.
    #[error("base-rate entry {index}: {from} is not a 1 January or a 1 July")]
    NotHalfYearStart {
        /// The entry's index in `rates`.
        index: usize,
        /// Its `from` day.
        from: NaiveDate,
    },
    /// An entry is not the half year right after the one before it.
    #[error("base-rate entry {index}: {from} does not follow the previous half year, expected {expected}")]
    NotContiguous {
        /// The entry's index in `rates`.
        index: usize,
        /// Its `from` day.
        from: NaiveDate,
        /// The day it should have started.
        expected: NaiveDate,
    },
    /// An entry's rate is outside [`MIN_RATE_BP`] ..= [`MAX_RATE_BP`].
    #[error("base-rate entry {index}: rate {rate_bp} bp is outside -499 ..= 10000 bp")]
    RateOutOfRange {
        /// The entry's index in `rates`.
        index: usize,
        /// Its rate.
        rate_bp: i32,
    },
}

/// The first day of the next half year: the exclusive end of the half year that contains `day`.
///
/// For a day in the last half year chrono can represent, this is [`NaiveDate::MAX`].
pub fn half_year_end(day: NaiveDate) -> NaiveDate {
    let next = if day.month() <= 6 {
        NaiveDate::from_ymd_opt(day.year(), 7, 1)
    } else {
        day.year()
            .checked_add(1)
            .and_then(|year| NaiveDate::from_ymd_opt(year, 1, 1))
    };
    next.unwrap_or(NaiveDate::MAX)
}

/// True when `day` is a 1 January or a 1 July.
fn is_half_year_start(day: NaiveDate) -> bool {
    day.day() == 1 && (day.month() == 1 || day.month() == 7)
}

/// The published table, compiled in from `data/base-rates.json` and parsed once.
///
/// # Panics
///
/// If the compiled-in file does not pass [`from_json`]. A test proves that it does, so this cannot
/// happen in a tested build.
pub fn published() -> &'static BaseRateTable {
    static TABLE: OnceLock<BaseRateTable> = OnceLock::new();
    TABLE.get_or_init(|| match from_json(PUBLISHED_JSON) {
        Ok(table) => table,
        Err(error) => panic!("the compiled-in data/base-rates.json is invalid: {error}"),
    })
}

/// Parses and validates a table.
///
/// A table is valid when it lists at least one rate, every `from` is a 1 January or a 1 July,
/// each entry is the half year right after the one before it, and every rate is within
/// [`MIN_RATE_BP`] ..= [`MAX_RATE_BP`].
pub fn from_json(text: &str) -> Result<BaseRateTable, TableError> {
    let table: BaseRateTable = serde_json::from_str(text).map_err(|error| TableError::Parse {
        message: error.to_string(),
    })?;
    if table.rates.is_empty() {
        return Err(TableError::Empty);
    }
    let mut expected: Option<NaiveDate> = None;
    for (index, rate) in table.rates.iter().enumerate() {
        if !is_half_year_start(rate.from) {
            return Err(TableError::NotHalfYearStart {
                index,
                from: rate.from,
            });
        }
        if let Some(expected) = expected {
            if rate.from != expected {
                return Err(TableError::NotContiguous {
                    index,
                    from: rate.from,
                    expected,
                });
            }
        }
        if !(MIN_RATE_BP..=MAX_RATE_BP).contains(&rate.rate_bp) {
            return Err(TableError::RateOutOfRange {
                index,
                rate_bp: rate.rate_bp,
            });
        }
        expected = Some(half_year_end(rate.from));
    }
    Ok(table)
}

impl BaseRateTable {
    /// The base rate in force on `day`, in basis points; `None` before the first entry or after
    /// [`BaseRateTable::covered_until`].
    pub fn rate_on(&self, day: NaiveDate) -> Option<i32> {
        if day > self.covered_until() {
            return None;
        }
        let after = self.rates.partition_point(|rate| rate.from <= day);
        let index = after.checked_sub(1)?;
        self.rates.get(index).map(|rate| rate.rate_bp)
    }

    /// The last day with a known rate: 30 June or 31 December of the last entry's half year.
    ///
    /// A table without rates (which [`from_json`] refuses) covers no day: [`NaiveDate::MIN`].
    pub fn covered_until(&self) -> NaiveDate {
        self.rates
            .last()
            .and_then(|last| half_year_end(last.from).pred_opt())
            .unwrap_or(NaiveDate::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn table_json(rates: &str) -> String {
        format!(r#"{{"version": "t", "source": "s", "note": "n", "rates": [{rates}]}}"#)
    }

    #[test]
    fn given_the_compiled_in_file_when_parsed_then_it_is_valid_and_covers_2014_to_mid_2026() {
        let table = from_json(PUBLISHED_JSON).expect("the published table is valid");
        assert_eq!(table.version, "2026-01-01");
        // 2014-01-01 ..= 2026-01-01: 12 years × 2 half years + 1 = 25 entries.
        assert_eq!(table.rates.len(), 25);
        assert_eq!(table.covered_until(), day(2026, 6, 30));
        assert_eq!(published(), &table);
    }

    #[test]
    fn given_the_published_table_when_asked_for_a_day_then_the_half_year_rate_is_given() {
        let table = published();
        assert_eq!(table.rate_on(day(2014, 1, 1)), Some(-63));
        assert_eq!(table.rate_on(day(2014, 6, 30)), Some(-63));
        assert_eq!(table.rate_on(day(2014, 7, 1)), Some(-73));
        assert_eq!(table.rate_on(day(2020, 3, 15)), Some(-88));
        assert_eq!(table.rate_on(day(2023, 7, 1)), Some(312));
        assert_eq!(table.rate_on(day(2024, 6, 30)), Some(362));
        assert_eq!(table.rate_on(day(2024, 7, 1)), Some(337));
        assert_eq!(table.rate_on(day(2026, 6, 30)), Some(127));
    }

    #[test]
    fn given_a_day_outside_the_table_when_asked_then_no_rate_is_known() {
        let table = published();
        assert_eq!(table.rate_on(day(2013, 12, 31)), None);
        assert_eq!(table.rate_on(day(2026, 7, 1)), None);
    }

    #[test]
    fn half_year_ends_are_1_july_and_1_january() {
        assert_eq!(half_year_end(day(2024, 1, 1)), day(2024, 7, 1));
        assert_eq!(half_year_end(day(2024, 6, 30)), day(2024, 7, 1));
        assert_eq!(half_year_end(day(2024, 7, 1)), day(2025, 1, 1));
        assert_eq!(half_year_end(day(2024, 12, 31)), day(2025, 1, 1));
        assert_eq!(half_year_end(NaiveDate::MAX), NaiveDate::MAX);
    }

    #[test]
    fn given_a_table_without_rates_when_parsed_then_it_is_refused() {
        assert_eq!(from_json(&table_json("")), Err(TableError::Empty));
    }

    #[test]
    fn given_text_that_is_not_a_table_when_parsed_then_it_is_refused() {
        assert!(matches!(
            from_json(r#"{"rates": 1}"#),
            Err(TableError::Parse { .. })
        ));
    }

    #[test]
    fn given_an_entry_not_on_a_half_year_start_when_parsed_then_its_index_is_named() {
        let json = table_json(
            r#"{"from": "2024-01-01", "rate_bp": 362}, {"from": "2024-07-02", "rate_bp": 337}"#,
        );
        assert_eq!(
            from_json(&json),
            Err(TableError::NotHalfYearStart {
                index: 1,
                from: day(2024, 7, 2)
            })
        );
    }

    #[test]
    fn given_a_gap_or_a_step_back_when_parsed_then_the_table_is_refused() {
        let gap = table_json(
            r#"{"from": "2024-01-01", "rate_bp": 362}, {"from": "2025-01-01", "rate_bp": 227}"#,
        );
        assert_eq!(
            from_json(&gap),
            Err(TableError::NotContiguous {
                index: 1,
                from: day(2025, 1, 1),
                expected: day(2024, 7, 1)
            })
        );
        let back = table_json(
            r#"{"from": "2024-07-01", "rate_bp": 337}, {"from": "2024-01-01", "rate_bp": 362}"#,
        );
        assert!(matches!(
            from_json(&back),
            Err(TableError::NotContiguous { index: 1, .. })
        ));
    }

    #[test]
    fn given_a_rate_that_would_make_the_interest_rate_zero_when_parsed_then_it_is_refused() {
        let json = table_json(r#"{"from": "2024-01-01", "rate_bp": -500}"#);
        assert_eq!(
            from_json(&json),
            Err(TableError::RateOutOfRange {
                index: 0,
                rate_bp: -500
            })
        );
        let json = table_json(r#"{"from": "2024-01-01", "rate_bp": 10001}"#);
        assert!(matches!(
            from_json(&json),
            Err(TableError::RateOutOfRange { index: 0, .. })
        ));
        let json = table_json(r#"{"from": "2024-01-01", "rate_bp": -499}"#);
        assert!(from_json(&json).is_ok());
    }

    proptest! {
        #[test]
        fn every_covered_day_has_the_rate_of_the_entry_whose_half_year_contains_it(
            offset in 0u64..4_600,
        ) {
            let table = published();
            let first = day(2014, 1, 1);
            let d = first + chrono::Days::new(offset);
            match table.rate_on(d) {
                Some(rate) => {
                    prop_assert!(d <= table.covered_until());
                    let entry = table
                        .rates
                        .iter()
                        .find(|r| r.from <= d && d < half_year_end(r.from))
                        .expect("a covered day lies in one entry's half year");
                    prop_assert_eq!(rate, entry.rate_bp);
                }
                None => prop_assert!(d > table.covered_until()),
            }
        }

        #[test]
        fn half_year_end_is_a_half_year_start_after_the_day_within_184_days(offset in 0u64..20_000) {
            let d = day(2000, 1, 1) + chrono::Days::new(offset);
            let end = half_year_end(d);
            prop_assert!(is_half_year_start(end));
            prop_assert!(end > d);
            prop_assert!((end - d).num_days() <= 184);
        }
    }
}
