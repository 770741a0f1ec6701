//! Money is integer cents (EUR) and rates are integer basis points. Never floats.
//!
//! The one rounding rule (design: domain-notes §3.4): a share of an amount at a rate is
//! `floor(amount × rate_bp / 10 000)`, computed in `i128` so it cannot overflow; a split into two
//! parts computes the first part by that rule and gives the second part the rest, so the parts always
//! sum exactly to the whole.

use serde::{Deserialize, Serialize};

/// 100 % in basis points.
pub const BP_PER_WHOLE: u32 = 10_000;

/// An amount of euro cents. Signed so that deltas (adjustments) can be expressed; balances assert ≥ 0.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct Cents(pub i64);

/// A rate in basis points: 7 000 = 70 %.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct BasisPoints(pub u32);

impl Cents {
    /// Zero cents.
    pub const ZERO: Cents = Cents(0);

    /// `floor(self × rate / 10 000)`; `None` if the amount is negative or the result does not fit.
    pub fn share(self, rate: BasisPoints) -> Option<Cents> {
        if self.0 < 0 {
            return None;
        }
        let wide = i128::from(self.0) * i128::from(rate.0) / i128::from(BP_PER_WHOLE);
        i64::try_from(wide).ok().map(Cents)
    }

    /// Checked addition.
    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// Checked subtraction.
    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).map(Cents)
    }

    /// Saturating addition, for projections and counters where overflow is impossible in practice.
    pub fn saturating_add(self, other: Cents) -> Cents {
        Cents(self.0.saturating_add(other.0))
    }
}

impl std::fmt::Display for Cents {
    /// Formats as euros with two decimals, e.g. `2340000.00`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// A grant split into its ESF+ and Land parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Split {
    /// The whole grant: `floor(eligible × total_rate / 10 000)`.
    pub grant_cents: Cents,
    /// The ESF+ part: `floor(eligible × esf_rate / 10 000)`.
    pub esf_cents: Cents,
    /// The Land part: `grant − esf`, so the parts always sum to the whole.
    pub land_cents: Cents,
}

impl Split {
    /// Splits the grant on `eligible` costs at `total` rate, of which `esf` is the ESF+ rate.
    ///
    /// `None` when `esf > total`, an amount is negative, or the result would not fit in `i64`.
    pub fn compute(eligible: Cents, total: BasisPoints, esf: BasisPoints) -> Option<Split> {
        if esf > total {
            return None;
        }
        let grant = eligible.share(total)?;
        let esf_part = eligible.share(esf)?;
        let land = grant.checked_sub(esf_part)?;
        Some(Split {
            grant_cents: grant,
            esf_cents: esf_part,
            land_cents: land,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_heidekreis_example_splits_as_in_the_domain_notes() {
        let split = Split::compute(Cents(30_000_000), BasisPoints(7_000), BasisPoints(6_000))
            .expect("valid split");
        assert_eq!(split.grant_cents, Cents(21_000_000));
        assert_eq!(split.esf_cents, Cents(18_000_000));
        assert_eq!(split.land_cents, Cents(3_000_000));
    }

    #[test]
    fn cents_display_as_euros() {
        assert_eq!(Cents(234_000_000).to_string(), "2340000.00");
        assert_eq!(Cents(-5).to_string(), "-0.05");
    }

    proptest! {
        #[test]
        fn a_split_always_sums_exactly_and_never_exceeds_its_rates(
            eligible in 0i64..=1_000_000_000_000,
            total in 0u32..=10_000,
            esf_share in 0u32..=10_000,
        ) {
            let esf = esf_share.min(total);
            let split = Split::compute(Cents(eligible), BasisPoints(total), BasisPoints(esf))
                .expect("in range");
            prop_assert_eq!(split.esf_cents.0 + split.land_cents.0, split.grant_cents.0);
            prop_assert!(split.grant_cents.0 <= eligible);
            prop_assert!(split.land_cents.0 >= 0);
            prop_assert!(i128::from(split.grant_cents.0) * 10_000 <= i128::from(eligible) * i128::from(total));
        }
    }
}
