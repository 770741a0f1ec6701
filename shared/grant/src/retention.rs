//! How long a grant's documents are kept (Art. 82 (1) Regulation (EU) 2021/1060, "CPR").
//!
//! The documents are kept for five years from 31 December of the year in which the managing
//! authority made its last payment to the beneficiary. So they are kept until 31 December of the
//! fifth year after the year of the last payment. The period is interrupted by legal proceedings
//! or a duly justified request of the Commission (Art. 82 (2)); that is not modelled here.

use chrono::{Datelike, NaiveDate};

/// The last day the documents must be kept: 31 December of (the year of `last_payment` + 5).
///
/// For a payment so late that chrono cannot represent that day, [`NaiveDate::MAX`].
pub fn retention_until(last_payment: NaiveDate) -> NaiveDate {
    last_payment
        .year()
        .checked_add(5)
        .and_then(|year| NaiveDate::from_ymd_opt(year, 12, 31))
        .unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Days, Months};
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn a_payment_in_march_2025_is_kept_until_the_end_of_2030() {
        // Five years from 31 December 2025: 31 December 2030.
        assert_eq!(retention_until(day(2025, 3, 14)), day(2030, 12, 31));
    }

    #[test]
    fn a_payment_on_new_years_eve_is_kept_until_the_end_of_the_same_fifth_year() {
        assert_eq!(retention_until(day(2025, 12, 31)), day(2030, 12, 31));
        assert_eq!(retention_until(day(2025, 1, 1)), day(2030, 12, 31));
    }

    proptest! {
        #[test]
        fn retention_ends_on_a_31_december_at_least_five_years_after_the_payment(
            offset in 0u64..40_000,
        ) {
            let last_payment = day(1990, 1, 1) + Days::new(offset);
            let until = retention_until(last_payment);
            prop_assert_eq!((until.month(), until.day()), (12, 31));
            prop_assert_eq!(until.year(), last_payment.year() + 5);
            let five_years = last_payment.checked_add_months(Months::new(60)).expect("in range");
            prop_assert!(until > five_years - Days::new(1));
        }
    }
}
