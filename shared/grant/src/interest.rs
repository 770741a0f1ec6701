//! Interest on a recovery (§ 49a (3) VwVfG, in Lower Saxony through § 1 NVwVfG).
//!
//! The amount to be repaid bears interest at five percentage points (500 bp) above the base rate of
//! § 247 BGB per year, from `from` (the day the decision ceases to have effect, or the payment day
//! for money not used within two months — the caller chooses) up to the repayment.
//!
//! Day count actual/365: the interest of a period is
//! `principal × (base_bp + 500) × days / (10 000 × 365)` cents. The time is cut into periods at
//! every 1 January and 1 July (each at the base rate then in force) and at every repayment's value
//! date (a repayment reduces the principal from its value date on: that day already bears interest
//! on the reduced principal). The exact sum of all periods is kept as a fraction (an `i128`
//! numerator over 10 000 × 365) and rounded once at the end, half to even, to whole cents.
//!
//! The interest for money paid out and not used within two months (§ 49a (4) VwVfG) follows the
//! same rule; the caller passes the payment day as `from`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use buendel_contract::Cents;

use crate::base_rate::{half_year_end, BaseRateTable};

/// The surcharge over the base rate: five percentage points.
pub const SURCHARGE_BP: i32 = 500;

/// The day count convention.
pub const DAY_COUNT: &str = "actual/365";

/// The rounding rule.
pub const ROUNDING: &str = "half to even, once at the end";

/// The denominator of every numerator: 10 000 basis points × 365 days.
pub const DENOMINATOR: i128 = 10_000 * 365;

/// A payment of the beneficiary towards the principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repayment {
    /// The day the money counts as received; it bears no interest from this day on.
    pub value_date: NaiveDate,
    /// The amount repaid, > 0.
    pub cents: Cents,
}

/// One period of constant principal and rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterestLine {
    /// The first day bearing interest.
    pub from: NaiveDate,
    /// The day after the last day bearing interest (exclusive).
    pub until: NaiveDate,
    /// `until − from`, in days.
    pub days: i64,
    /// The principal outstanding during the period.
    pub principal_cents: Cents,
    /// The base rate in force during the period.
    pub base_rate_bp: i32,
    /// The interest rate: base rate + [`SURCHARGE_BP`].
    pub rate_bp: i32,
    /// `principal × rate × days`: the exact interest in units of 1 / [`DENOMINATOR`] cent.
    /// Written as a decimal string in JSON.
    #[serde(with = "i128_as_string")]
    pub numerator: i128,
}

/// The interest on a recovery for a span of days, line by line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterestStatement {
    /// The principal on `from`, before any repayment.
    pub principal_cents: Cents,
    /// The principal left after all repayments up to and including `until`.
    pub outstanding_cents: Cents,
    /// The first day bearing interest.
    pub from: NaiveDate,
    /// The end of the span (exclusive).
    pub until: NaiveDate,
    /// The version of the base-rate table used.
    pub table_version: String,
    /// The periods, in order; periods with no principal outstanding are left out.
    pub lines: Vec<InterestLine>,
    /// The interest: the sum of the lines' numerators over [`DENOMINATOR`], rounded half to even.
    pub interest_cents: Cents,
}

/// Why no interest could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterestError {
    /// A day bearing interest has no base rate in the table.
    #[error("no base rate is known for {day}")]
    BaseRateUnknown {
        /// The first such day.
        day: NaiveDate,
    },
    /// The span ends before it starts.
    #[error("the interest span ends before it starts")]
    UntilBeforeFrom,
    /// The principal is negative.
    #[error("the principal is negative")]
    NegativePrincipal,
    /// A repayment is zero or negative.
    #[error("a repayment is not positive")]
    RepaymentNotPositive,
    /// A repayment's value date is before the interest starts.
    #[error("a repayment's value date {value_date} is before the interest starts")]
    RepaymentBeforeStart {
        /// Its value date.
        value_date: NaiveDate,
    },
    /// A repayment's value date is after the end of the span.
    #[error("a repayment's value date is after the end of the interest span")]
    RepaymentAfterUntil,
    /// The repayments add up to more than the principal.
    #[error("the repayments add up to more than the principal")]
    RepaidMoreThanPrincipal,
    /// A figure does not fit.
    #[error("an amount overflowed")]
    Overflow,
}

impl InterestError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            InterestError::BaseRateUnknown { .. } => "base_rate_unknown",
            InterestError::UntilBeforeFrom => "until_before_from",
            InterestError::NegativePrincipal | InterestError::RepaymentNotPositive => {
                "negative_amount"
            }
            InterestError::RepaymentBeforeStart { .. } => "repayment_before_interest_start",
            InterestError::RepaymentAfterUntil => "repayment_after_until",
            InterestError::RepaidMoreThanPrincipal => "repaid_more_than_principal",
            InterestError::Overflow => "overflow",
        }
    }
}

/// Rounds `numerator / DENOMINATOR` to whole cents, half to even; `None` if it does not fit.
pub fn round_half_even(numerator: i128) -> Option<Cents> {
    let quotient = numerator.div_euclid(DENOMINATOR);
    let twice_rest = numerator.rem_euclid(DENOMINATOR) * 2;
    let up = twice_rest > DENOMINATOR || (twice_rest == DENOMINATOR && quotient % 2 != 0);
    let rounded = if up {
        quotient.checked_add(1)?
    } else {
        quotient
    };
    i64::try_from(rounded).ok().map(Cents)
}

/// The interest on `principal` for the days `from` (inclusive) to `until` (exclusive), with the
/// principal reduced by each repayment from its value date on.
///
/// Repayments may come in any order; each must be > 0 and dated within `from ..= until`, and
/// together they may not exceed the principal. A repayment on `until` bears on no day of the span
/// but is counted in `outstanding_cents`. A period with no principal outstanding needs no base
/// rate; every other day must be covered by `table`.
pub fn interest(
    table: &BaseRateTable,
    principal: Cents,
    from: NaiveDate,
    until: NaiveDate,
    repayments: &[Repayment],
) -> Result<InterestStatement, InterestError> {
    if until < from {
        return Err(InterestError::UntilBeforeFrom);
    }
    if principal < Cents::ZERO {
        return Err(InterestError::NegativePrincipal);
    }
    let mut repayments = repayments.to_vec();
    repayments.sort_by_key(|repayment| repayment.value_date);
    let mut repaid = Cents::ZERO;
    for repayment in &repayments {
        if repayment.cents <= Cents::ZERO {
            return Err(InterestError::RepaymentNotPositive);
        }
        if repayment.value_date < from {
            return Err(InterestError::RepaymentBeforeStart {
                value_date: repayment.value_date,
            });
        }
        if repayment.value_date > until {
            return Err(InterestError::RepaymentAfterUntil);
        }
        repaid = repaid
            .checked_add(repayment.cents)
            .ok_or(InterestError::Overflow)?;
    }
    if repaid > principal {
        return Err(InterestError::RepaidMoreThanPrincipal);
    }
    // One principal from `from`, less each repayment from its value date: the running balance.
    let mut movements = Vec::with_capacity(repayments.len() + 1);
    movements.push(Movement {
        on: from,
        cents: principal.0,
    });
    movements.extend(repayments.iter().map(|r| Movement {
        on: r.value_date,
        cents: -r.cents.0,
    }));
    on_balance(table, &movements, until)
}

/// A change of the principal that bears interest: `cents > 0` is an amount to be repaid that
/// bears interest from `on` (an assessment, dated from its interest start); `cents < 0` a
/// repayment, which reduces the principal from its value date `on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// The day the change takes effect.
    pub on: NaiveDate,
    /// Signed: more principal (> 0) or a repayment (< 0).
    pub cents: i64,
}

/// The interest on a principal that several assessments and repayments change, for the days
/// before `until`: the same rule as [`interest`] (periods cut at every half year and every
/// movement, actual/365, rounded once at the end, half to even), on the running sum of the
/// movements. Movements on or after `until` change no interest. Refused when the principal
/// would go below zero.
pub fn on_balance(
    table: &BaseRateTable,
    movements: &[Movement],
    until: NaiveDate,
) -> Result<InterestStatement, InterestError> {
    let mut movements = movements.to_vec();
    // Stable: an assessment and a repayment on one day apply together.
    movements.sort_by_key(|movement| movement.on);
    let from = movements.first().map_or(until, |m| m.on.min(until));
    let mut assessed = Cents::ZERO;
    let mut outstanding = Cents::ZERO;
    let mut lines = Vec::new();
    let mut pending = movements.iter().peekable();
    let mut cursor = from;
    loop {
        while let Some(movement) = pending.next_if(|m| m.on <= cursor) {
            if movement.cents > 0 {
                assessed = assessed
                    .checked_add(Cents(movement.cents))
                    .ok_or(InterestError::Overflow)?;
            }
            outstanding = outstanding
                .checked_add(Cents(movement.cents))
                .ok_or(InterestError::Overflow)?;
            if outstanding < Cents::ZERO {
                return Err(InterestError::RepaidMoreThanPrincipal);
            }
        }
        if cursor >= until {
            break;
        }
        let mut end = half_year_end(cursor).min(until);
        if let Some(next) = pending.peek() {
            end = end.min(next.on);
        }
        if outstanding > Cents::ZERO {
            let base_rate_bp = table
                .rate_on(cursor)
                .ok_or(InterestError::BaseRateUnknown { day: cursor })?;
            let rate_bp = base_rate_bp
                .checked_add(SURCHARGE_BP)
                .ok_or(InterestError::Overflow)?;
            let days = (end - cursor).num_days();
            let numerator = i128::from(outstanding.0)
                .checked_mul(i128::from(rate_bp))
                .and_then(|n| n.checked_mul(i128::from(days)))
                .ok_or(InterestError::Overflow)?;
            lines.push(InterestLine {
                from: cursor,
                until: end,
                days,
                principal_cents: outstanding,
                base_rate_bp,
                rate_bp,
                numerator,
            });
        }
        cursor = end;
    }
    let total = lines.iter().try_fold(0i128, |sum, line| {
        sum.checked_add(line.numerator)
            .ok_or(InterestError::Overflow)
    })?;
    let interest_cents = round_half_even(total).ok_or(InterestError::Overflow)?;
    Ok(InterestStatement {
        principal_cents: assessed,
        outstanding_cents: outstanding,
        from,
        until,
        table_version: table.version.clone(),
        lines,
        interest_cents,
    })
}

/// Serde for an `i128` as a decimal string: JSON numbers above 2^53 are not safe to read.
mod i128_as_string {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Writes the number as a decimal string.
    pub fn serialize<S: Serializer>(value: &i128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i128, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base_rate::published;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn sum_of_numerators(statement: &InterestStatement) -> i128 {
        statement.lines.iter().map(|line| line.numerator).sum()
    }

    #[test]
    fn a_recovery_across_a_base_rate_change_bears_each_half_years_rate() {
        let statement = interest(
            published(),
            Cents(900_000),
            day(2024, 5, 1),
            day(2024, 9, 1),
            &[],
        )
        .expect("covered span");
        // 2024-05-01 .. 2024-07-01: 31 + 30 = 61 days at 362 + 500 = 862 bp:
        //   900 000 × 862 × 61 = 47 323 800 000.
        // 2024-07-01 .. 2024-09-01: 31 + 31 = 62 days at 337 + 500 = 837 bp:
        //   900 000 × 837 × 62 = 46 704 600 000.
        // Sum 94 028 400 000 / 3 650 000 = 25 761 rest 750 000 (< 1 825 000): 25 761 cents.
        assert_eq!(900_000i128 * 862 * 61, 47_323_800_000);
        assert_eq!(900_000i128 * 837 * 62, 46_704_600_000);
        assert_eq!(94_028_400_000i128 / 3_650_000, 25_761);
        assert_eq!(94_028_400_000i128 % 3_650_000, 750_000);
        let [first, second] = statement.lines.as_slice() else {
            panic!("two lines expected, got {:?}", statement.lines);
        };
        assert_eq!(
            (first.from, first.until, first.days),
            (day(2024, 5, 1), day(2024, 7, 1), 61)
        );
        assert_eq!((first.base_rate_bp, first.rate_bp), (362, 862));
        assert_eq!(first.numerator, 47_323_800_000);
        assert_eq!(
            (second.from, second.until, second.days),
            (day(2024, 7, 1), day(2024, 9, 1), 62)
        );
        assert_eq!((second.base_rate_bp, second.rate_bp), (337, 837));
        assert_eq!(second.numerator, 46_704_600_000);
        assert_eq!(statement.interest_cents, Cents(25_761));
        assert_eq!(statement.outstanding_cents, Cents(900_000));
        assert_eq!(statement.table_version, "2026-01-01");
    }

    #[test]
    fn a_repayment_reduces_the_principal_from_its_value_date() {
        let statement = interest(
            published(),
            Cents(900_000),
            day(2024, 5, 1),
            day(2024, 9, 1),
            &[Repayment {
                value_date: day(2024, 8, 1),
                cents: Cents(400_000),
            }],
        )
        .expect("covered span");
        // 2024-05-01 .. 2024-07-01: 61 days, 900 000 at 862 bp: 900 000 × 862 × 61 = 47 323 800 000.
        // 2024-07-01 .. 2024-08-01: 31 days, 900 000 at 837 bp: 900 000 × 837 × 31 = 23 352 300 000.
        // 2024-08-01 .. 2024-09-01: 31 days, 500 000 at 837 bp: 500 000 × 837 × 31 = 12 973 500 000.
        // Sum 83 649 600 000 / 3 650 000 = 22 917 rest 2 550 000 (> 1 825 000): 22 918 cents.
        assert_eq!(900_000i128 * 837 * 31, 23_352_300_000);
        assert_eq!(500_000i128 * 837 * 31, 12_973_500_000);
        assert_eq!(
            47_323_800_000i128 + 23_352_300_000 + 12_973_500_000,
            83_649_600_000
        );
        assert_eq!(83_649_600_000i128 / 3_650_000, 22_917);
        assert_eq!(83_649_600_000i128 % 3_650_000, 2_550_000);
        let numerators: Vec<i128> = statement.lines.iter().map(|l| l.numerator).collect();
        assert_eq!(
            numerators,
            vec![47_323_800_000, 23_352_300_000, 12_973_500_000]
        );
        let third = &statement.lines[2];
        assert_eq!(third.from, day(2024, 8, 1));
        assert_eq!(third.principal_cents, Cents(500_000));
        assert_eq!(statement.interest_cents, Cents(22_918));
        assert_eq!(statement.outstanding_cents, Cents(500_000));
    }

    #[test]
    fn an_exact_half_cent_rounds_to_the_even_cent() {
        // A tie needs principal × rate × days = (2q + 1) × 1 825 000 = (2q + 1) × 2³ × 5⁵ × 73.
        // With 862 bp (= 2 × 431) and 73 days, principal 5 387 500 (= 2² × 5⁵ × 431) gives
        //   5 387 500 × 862 × 73 = 339 014 825 000 = 185 761 × 1 825 000 (185 761 = 431², odd),
        //   so 339 014 825 000 / 3 650 000 = 92 880.5: quotient 92 880 is even, stays 92 880.
        // Three times the principal, 16 162 500, gives 1 017 041 475 000 = 557 283 × 1 825 000
        //   = 278 641.5 × 3 650 000: quotient 278 641 is odd, goes up to 278 642.
        // 2024-01-01 .. 2024-03-14 is 31 + 29 + 13 = 73 days at 362 + 500 = 862 bp.
        assert_eq!(5_387_500i128 * 862 * 73, 339_013_825_000);
        assert_eq!(339_013_825_000i128 % 3_650_000, 1_825_000);
        assert_eq!(339_013_825_000i128 / 3_650_000, 92_880);
        assert_eq!(16_162_500i128 * 862 * 73, 1_017_041_475_000);
        assert_eq!(16_162_500i128 * 862 * 73 % 3_650_000, 1_825_000);
        assert_eq!(16_162_500i128 * 862 * 73 / 3_650_000, 278_641);
        let even = interest(
            published(),
            Cents(5_387_500),
            day(2024, 1, 1),
            day(2024, 3, 14),
            &[],
        )
        .expect("covered span");
        assert_eq!(even.lines.len(), 1);
        assert_eq!(even.lines[0].days, 73);
        assert_eq!(even.interest_cents, Cents(92_880));
        let odd = interest(
            published(),
            Cents(16_162_500),
            day(2024, 1, 1),
            day(2024, 3, 14),
            &[],
        )
        .expect("covered span");
        assert_eq!(odd.interest_cents, Cents(278_642));
    }

    #[test]
    fn rounding_is_half_to_even_and_exact_elsewhere() {
        assert_eq!(round_half_even(0), Some(Cents(0)));
        assert_eq!(round_half_even(1_824_999), Some(Cents(0)));
        assert_eq!(round_half_even(1_825_000), Some(Cents(0)));
        assert_eq!(round_half_even(1_825_001), Some(Cents(1)));
        assert_eq!(round_half_even(3_650_000 + 1_825_000), Some(Cents(2)));
        assert_eq!(round_half_even(-1_825_000), Some(Cents(0)));
        assert_eq!(round_half_even(-3_650_000 - 1_825_000), Some(Cents(-2)));
        assert_eq!(round_half_even(i128::MAX), None);
    }

    #[test]
    fn during_the_negative_base_rate_the_interest_is_412_bp() {
        let statement = interest(
            published(),
            Cents(1_000_000),
            day(2020, 1, 1),
            day(2021, 1, 1),
            &[],
        )
        .expect("covered span");
        // 2020 is a leap year: 182 days (to 1 July) + 184 days = 366 days, all at −88 + 500 = 412 bp.
        //   1 000 000 × 412 × 182 = 74 984 000 000; 1 000 000 × 412 × 184 = 75 808 000 000.
        //   Sum 150 792 000 000 / 3 650 000 = 41 312 rest 3 200 000 (> 1 825 000): 41 313 cents.
        // Actual/365 counts the 366th day too, so a leap year bears slightly more than 4.12 %.
        assert_eq!(1_000_000i128 * 412 * 182, 74_984_000_000);
        assert_eq!(1_000_000i128 * 412 * 184, 75_808_000_000);
        assert_eq!(150_792_000_000i128 / 3_650_000, 41_312);
        assert_eq!(150_792_000_000i128 % 3_650_000, 3_200_000);
        let rates: Vec<(i32, i32, i64)> = statement
            .lines
            .iter()
            .map(|l| (l.base_rate_bp, l.rate_bp, l.days))
            .collect();
        assert_eq!(rates, vec![(-88, 412, 182), (-88, 412, 184)]);
        assert_eq!(statement.interest_cents, Cents(41_313));
    }

    #[test]
    fn given_a_day_after_the_table_when_interest_is_asked_then_it_is_refused() {
        let table = published();
        assert_eq!(table.covered_until(), day(2026, 6, 30));
        let error = interest(
            table,
            Cents(100_000),
            day(2026, 6, 1),
            day(2026, 7, 15),
            &[],
        )
        .expect_err("2026-07-01 has no rate yet");
        assert_eq!(
            error,
            InterestError::BaseRateUnknown {
                day: day(2026, 7, 1)
            }
        );
        assert_eq!(error.code(), "base_rate_unknown");
        // Up to and including 30 June 2026 is fine.
        assert!(interest(table, Cents(100_000), day(2026, 6, 1), day(2026, 7, 1), &[]).is_ok());
    }

    #[test]
    fn given_a_principal_repaid_before_the_table_ends_when_interest_is_asked_then_no_rate_is_needed(
    ) {
        let statement = interest(
            published(),
            Cents(100_000),
            day(2026, 6, 1),
            day(2027, 1, 1),
            &[Repayment {
                value_date: day(2026, 6, 11),
                cents: Cents(100_000),
            }],
        )
        .expect("no day after the table bears interest");
        // 10 days at 127 + 500 = 627 bp: 100 000 × 627 × 10 = 627 000 000;
        // 627 000 000 / 3 650 000 = 171 rest 2 850 000 (> 1 825 000): 172 cents.
        assert_eq!(100_000i128 * 627 * 10, 627_000_000);
        assert_eq!(statement.lines.len(), 1);
        assert_eq!(statement.interest_cents, Cents(172));
        assert_eq!(statement.outstanding_cents, Cents::ZERO);
    }

    #[test]
    fn given_an_empty_span_then_there_is_no_interest_and_no_line() {
        let statement = interest(
            published(),
            Cents(900_000),
            day(2024, 5, 1),
            day(2024, 5, 1),
            &[],
        )
        .expect("empty span");
        assert!(statement.lines.is_empty());
        assert_eq!(statement.interest_cents, Cents::ZERO);
    }

    #[test]
    fn invalid_inputs_are_refused_with_their_codes() {
        let t = published();
        let (from, until) = (day(2024, 5, 1), day(2024, 9, 1));
        let repay = |value_date, cents| Repayment {
            value_date,
            cents: Cents(cents),
        };
        let cases: Vec<(Result<InterestStatement, InterestError>, &str)> = vec![
            (interest(t, Cents(1), until, from, &[]), "until_before_from"),
            (interest(t, Cents(-1), from, until, &[]), "negative_amount"),
            (
                interest(t, Cents(10), from, until, &[repay(from, 0)]),
                "negative_amount",
            ),
            (
                interest(t, Cents(10), from, until, &[repay(day(2024, 4, 30), 1)]),
                "repayment_before_interest_start",
            ),
            (
                interest(t, Cents(10), from, until, &[repay(day(2024, 9, 2), 1)]),
                "repayment_after_until",
            ),
            (
                interest(
                    t,
                    Cents(10),
                    from,
                    until,
                    &[repay(from, 6), repay(until, 5)],
                ),
                "repaid_more_than_principal",
            ),
        ];
        for (result, code) in cases {
            assert_eq!(result.map_err(|e| e.code()), Err(code));
        }
    }

    #[test]
    fn given_interest_beyond_i64_cents_when_computed_then_it_is_refused_as_overflow() {
        // At the highest base rate, 10 000 + 500 = 10 500 bp, a year of 365 days bears 105 %:
        // i64::MAX cents × 1.05 does not fit in i64.
        let table = crate::base_rate::from_json(
            r#"{"version": "t", "source": "s", "note": "n", "rates": [
                {"from": "2024-01-01", "rate_bp": 10000}, {"from": "2024-07-01", "rate_bp": 10000}]}"#,
        )
        .expect("valid table");
        let error = interest(
            &table,
            Cents(i64::MAX),
            day(2024, 1, 1),
            day(2025, 1, 1),
            &[],
        )
        .expect_err("too large");
        assert_eq!(error.code(), "overflow");
    }

    #[test]
    fn a_repayment_on_until_counts_in_the_outstanding_amount_only() {
        let (from, until) = (day(2024, 5, 1), day(2024, 9, 1));
        let with = interest(
            published(),
            Cents(900_000),
            from,
            until,
            &[Repayment {
                value_date: until,
                cents: Cents(900_000),
            }],
        )
        .expect("covered span");
        assert_eq!(with.interest_cents, Cents(25_761));
        assert_eq!(with.outstanding_cents, Cents::ZERO);
    }

    #[test]
    fn the_numerator_is_written_as_a_decimal_string() {
        let line = InterestLine {
            from: day(2024, 5, 1),
            until: day(2024, 7, 1),
            days: 61,
            principal_cents: Cents(900_000),
            base_rate_bp: 362,
            rate_bp: 862,
            numerator: 47_323_800_000,
        };
        let json = serde_json::to_value(&line).expect("serialisable");
        assert_eq!(json["numerator"], "47323800000");
        let back: InterestLine = serde_json::from_value(json).expect("readable");
        assert_eq!(back, line);
    }

    /// The days from 2014-01-01 (the table's first day) to 2026-07-01 (the day after its last).
    const COVERED_DAYS: u64 = 4_564;

    fn covered_day(offset: u64) -> NaiveDate {
        day(2014, 1, 1) + chrono::Days::new(offset)
    }

    fn span() -> impl Strategy<Value = (NaiveDate, NaiveDate)> {
        (0..=COVERED_DAYS, 0..=COVERED_DAYS).prop_map(|(a, b)| {
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            (covered_day(a), covered_day(b))
        })
    }

    #[test]
    fn the_published_table_ends_where_the_properties_assume() {
        assert_eq!(covered_day(COVERED_DAYS), day(2026, 7, 1));
        assert_eq!(published().covered_until(), day(2026, 6, 30));
    }

    #[test]
    fn two_assessments_and_a_repayment_bear_interest_on_the_running_balance() {
        // 9,000.00 from 2024-05-01 and 1,000.00 more from 2024-08-01, 4,000.00 repaid on
        // 2024-08-01: the balance is 9,000.00 for 61 days at 862 bp, 9,000.00 for 31 days at
        // 837 bp, then 6,000.00 for 31 days at 837 bp:
        // 900000*862*61 + 900000*837*31 + 600000*837*31
        //   = 47_323_800_000 + 23_352_300_000 + 15_568_200_000 = 86_244_300_000
        // / 3_650_000 = 23_628.57… → 23_629 cents.
        let movements = [
            Movement {
                on: day(2024, 5, 1),
                cents: 900_000,
            },
            Movement {
                on: day(2024, 8, 1),
                cents: 100_000,
            },
            Movement {
                on: day(2024, 8, 1),
                cents: -400_000,
            },
        ];
        let statement = on_balance(published(), &movements, day(2024, 9, 1)).expect("interest");
        assert_eq!(sum_of_numerators(&statement), 86_244_300_000);
        assert_eq!(statement.interest_cents, Cents(23_629));
        assert_eq!(statement.principal_cents, Cents(1_000_000));
        assert_eq!(statement.outstanding_cents, Cents(600_000));
        let too_much = [
            movements[0],
            Movement {
                on: day(2024, 6, 1),
                cents: -900_001,
            },
        ];
        assert_eq!(
            on_balance(published(), &too_much, day(2024, 9, 1)),
            Err(InterestError::RepaidMoreThanPrincipal)
        );
    }

    proptest! {
        /// Interest with a repayment equals the day-by-day sum written out independently: each
        /// day bears the principal outstanding that day at that day's rate.
        #[test]
        fn interest_is_the_sum_over_its_days(
            principal in 1i64..100_000_000,
            start in 0u64..700,
            span in 0u64..700,
            repaid in 0i64..100_000_000,
            after in 0u64..700,
        ) {
            let from = day(2020, 1, 1) + chrono::Days::new(start);
            let until = from + chrono::Days::new(span);
            let repaid = repaid.min(principal);
            let on = from + chrono::Days::new(after.min(span));
            let repayments: Vec<Repayment> = (repaid > 0)
                .then_some(Repayment { value_date: on, cents: Cents(repaid) })
                .into_iter()
                .collect();
            let statement = interest(published(), Cents(principal), from, until, &repayments)
                .expect("interest");
            let mut numerator = 0i128;
            let mut today = from;
            while today < until {
                let owed = if repaid > 0 && today >= on { principal - repaid } else { principal };
                let rate = published().rate_on(today).expect("a rate") + SURCHARGE_BP;
                numerator += i128::from(owed) * i128::from(rate);
                today = today + chrono::Days::new(1);
            }
            prop_assert_eq!(sum_of_numerators(&statement), numerator);
            prop_assert_eq!(Some(statement.interest_cents), round_half_even(numerator));
        }


        #[test]
        fn splitting_a_span_at_any_day_keeps_the_exact_sum(
            principal in 0i64..=1_000_000_000_000,
            (from, until) in span(),
            split in 0u64..=COVERED_DAYS,
            repay_at in 0u64..=COVERED_DAYS,
            repay_part in 1i64..=1_000,
        ) {
            let d = covered_day(split).clamp(from, until);
            let value_date = covered_day(repay_at).clamp(from, until);
            let repaid = principal / 1_000 * repay_part;
            let repayments: Vec<Repayment> = if repaid > 0 {
                vec![Repayment { value_date, cents: Cents(repaid) }]
            } else {
                vec![]
            };
            let whole = interest(published(), Cents(principal), from, until, &repayments)
                .expect("covered");
            let first_repayments: Vec<Repayment> =
                repayments.iter().copied().filter(|r| r.value_date <= d).collect();
            let second_repayments: Vec<Repayment> =
                repayments.iter().copied().filter(|r| r.value_date > d).collect();
            let first = interest(published(), Cents(principal), from, d, &first_repayments)
                .expect("covered");
            let second = interest(published(), first.outstanding_cents, d, until, &second_repayments)
                .expect("covered");
            prop_assert_eq!(
                sum_of_numerators(&first) + sum_of_numerators(&second),
                sum_of_numerators(&whole)
            );
            prop_assert_eq!(second.outstanding_cents, whole.outstanding_cents);
        }

        #[test]
        fn interest_grows_with_the_principal(
            a in 0i64..=1_000_000_000_000,
            b in 0i64..=1_000_000_000_000,
            (from, until) in span(),
        ) {
            let (small, large) = if a <= b { (a, b) } else { (b, a) };
            let i_small = interest(published(), Cents(small), from, until, &[]).expect("covered");
            let i_large = interest(published(), Cents(large), from, until, &[]).expect("covered");
            prop_assert!(i_small.interest_cents <= i_large.interest_cents);
        }

        #[test]
        fn interest_grows_with_the_end_of_the_span(
            principal in 0i64..=1_000_000_000_000,
            (from, early) in span(),
            later in 0u64..=COVERED_DAYS,
        ) {
            let late = covered_day(later).max(early);
            let i_early = interest(published(), Cents(principal), from, early, &[]).expect("covered");
            let i_late = interest(published(), Cents(principal), from, late, &[]).expect("covered");
            prop_assert!(i_early.interest_cents <= i_late.interest_cents);
        }

        #[test]
        fn a_repayment_never_increases_the_interest(
            principal in 1i64..=1_000_000_000_000,
            (from, until) in span(),
            repay_at in 0u64..=COVERED_DAYS,
            repay_part in 1i64..=1_000,
        ) {
            let value_date = covered_day(repay_at).clamp(from, until);
            let repaid = (principal / 1_000 * repay_part).max(1);
            let without = interest(published(), Cents(principal), from, until, &[]).expect("covered");
            let with = interest(
                published(),
                Cents(principal),
                from,
                until,
                &[Repayment { value_date, cents: Cents(repaid) }],
            )
            .expect("covered");
            prop_assert!(with.interest_cents <= without.interest_cents);
            prop_assert_eq!(with.outstanding_cents, Cents(principal - repaid));
        }

        #[test]
        fn zero_principal_bears_no_interest(from in 0i64..=20_000, len in 0i64..=20_000) {
            // Any dates, even far outside the table: no day bears interest, so no rate is needed.
            let from = day(2000, 1, 1) + chrono::Duration::days(from);
            let until = from + chrono::Duration::days(len);
            let statement = interest(published(), Cents::ZERO, from, until, &[]).expect("nothing to rate");
            prop_assert!(statement.lines.is_empty());
            prop_assert_eq!(statement.interest_cents, Cents::ZERO);
        }

        #[test]
        fn the_interest_is_the_rounded_sum_of_the_exact_lines(
            principal in 0i64..=1_000_000_000_000,
            (from, until) in span(),
        ) {
            let statement = interest(published(), Cents(principal), from, until, &[]).expect("covered");
            let sum = sum_of_numerators(&statement);
            // Half to even, written out independently of round_half_even.
            let (q, r) = (sum / 3_650_000, sum % 3_650_000);
            let expected = if r > 1_825_000 || (r == 1_825_000 && q % 2 == 1) { q + 1 } else { q };
            prop_assert_eq!(i128::from(statement.interest_cents.0), expected);
            for line in &statement.lines {
                prop_assert_eq!(
                    line.numerator,
                    i128::from(line.principal_cents.0) * i128::from(line.rate_bp) * i128::from(line.days)
                );
                prop_assert_eq!(line.rate_bp, line.base_rate_bp + SURCHARGE_BP);
                prop_assert_eq!(line.days, (line.until - line.from).num_days());
            }
            let days: i64 = statement.lines.iter().map(|l| l.days).sum();
            if principal > 0 {
                prop_assert_eq!(days, (until - from).num_days());
            }
        }
    }
}
