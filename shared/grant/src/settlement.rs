//! The final report (Verwendungsnachweis) and the settlement of a grant.
//!
//! The final grant is recomputed from the eligible costs actually incurred, at the grant's rates,
//! with the one rounding rule ([`Split::compute`]). It is never above the grant decided: the
//! decision is a maximum, so each source is capped at its granted part (No. 2.1 ANBest-P: lower
//! eligible costs reduce the grant; the final report under No. 6 ANBest-P, to § 44 LHO). Money paid
//! above the final grant is to be repaid (§ 49a (1) VwVfG); the interest on it is
//! [`crate::interest()`].
//!
//! Per source:
//! - recovery = max(paid − final, 0): paid too much, to be repaid;
//! - final payment = max(final − paid, 0): still due to the beneficiary;
//! - released = granted − max(paid, final): the commitment no longer needed, freed.
//!
//! So in each source `paid − recovery + final payment = final` and
//! `final + recovery + released = granted` (equally `paid + final payment + released = granted`).

use serde::{Deserialize, Serialize};

use buendel_contract::ledger::{Amounts, Source};
use buendel_contract::{BasisPoints, Cents, Split};

/// The final grant: the split of `eligible` at `total` and `esf` rates, each source capped at its
/// part of `granted`. `None` when `esf > total`, an amount is negative, or a figure does not fit.
pub fn final_grant(
    eligible: Cents,
    total: BasisPoints,
    esf: BasisPoints,
    granted: Amounts,
) -> Option<Amounts> {
    if Source::ALL
        .iter()
        .any(|&source| granted.get(source) < Cents::ZERO)
    {
        return None;
    }
    let split = Split::compute(eligible, total, esf)?;
    Some(Amounts {
        esf_cents: split.esf_cents.min(granted.esf_cents),
        land_cents: split.land_cents.min(granted.land_cents),
    })
}

/// The settlement of a grant after its final report, per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The grant decided (the maximum).
    pub granted: Amounts,
    /// The grant recomputed from the final report.
    pub final_grant: Amounts,
    /// What was paid out.
    pub paid: Amounts,
    /// Paid above the final grant: to be recovered.
    pub recovery: Amounts,
    /// The final grant not yet paid: still to be paid.
    pub final_payment: Amounts,
    /// The commitment neither paid nor due: freed.
    pub released: Amounts,
}

/// Settles a grant: what to recover, what to pay and what to release, per source.
///
/// `None` when an amount is negative, or in a source the payments or the final grant exceed the
/// grant decided.
pub fn settle(granted: Amounts, final_grant: Amounts, paid: Amounts) -> Option<Settlement> {
    let mut settlement = Settlement {
        granted,
        final_grant,
        paid,
        recovery: Amounts::ZERO,
        final_payment: Amounts::ZERO,
        released: Amounts::ZERO,
    };
    for source in Source::ALL {
        let (granted, final_grant, paid) = (
            granted.get(source),
            final_grant.get(source),
            paid.get(source),
        );
        if final_grant < Cents::ZERO || paid < Cents::ZERO {
            return None;
        }
        if final_grant > granted || paid > granted {
            return None;
        }
        let recovery = paid.checked_sub(final_grant)?.max(Cents::ZERO);
        let final_payment = final_grant.checked_sub(paid)?.max(Cents::ZERO);
        let released = granted.checked_sub(paid.max(final_grant))?;
        settlement.recovery.set(source, recovery);
        settlement.final_payment.set(source, final_payment);
        settlement.released.set(source, released);
    }
    Some(settlement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_final_report_below_the_plan_recovers_what_was_paid_too_much() {
        // Decision: 300 000.00 EUR eligible at 70 % (ESF+ 60 %): 210 000.00 granted,
        // ESF+ 180 000.00, Land 30 000.00.
        let decided = Split::compute(Cents(30_000_000), BasisPoints(7_000), BasisPoints(6_000))
            .expect("valid split");
        let granted = Amounts {
            esf_cents: decided.esf_cents,
            land_cents: decided.land_cents,
        };
        assert_eq!(granted, Amounts::new(18_000_000, 3_000_000));
        // Final report: 280 000.00 eligible. 280 000.00 × 70 % = 196 000.00; ESF+ × 60 % =
        // 168 000.00; Land 196 000.00 − 168 000.00 = 28 000.00. Both below the granted parts.
        let final_amounts = final_grant(
            Cents(28_000_000),
            BasisPoints(7_000),
            BasisPoints(6_000),
            granted,
        )
        .expect("valid");
        assert_eq!(final_amounts, Amounts::new(16_800_000, 2_800_000));
        assert_eq!(final_amounts.total(), Some(Cents(19_600_000)));
        // Paid 205 000.00: ESF+ 175 000.00, Land 30 000.00.
        let paid = Amounts::new(17_500_000, 3_000_000);
        let settlement = settle(granted, final_amounts, paid).expect("valid");
        // Recovery: ESF+ 175 000 − 168 000 = 7 000.00; Land 30 000 − 28 000 = 2 000.00; 9 000.00.
        assert_eq!(settlement.recovery, Amounts::new(700_000, 200_000));
        assert_eq!(settlement.recovery.total(), Some(Cents(900_000)));
        // Nothing is still due: paid ≥ final in both sources.
        assert_eq!(settlement.final_payment, Amounts::ZERO);
        // Released: ESF+ 180 000 − max(175 000, 168 000) = 5 000.00; Land 30 000 − max(30 000,
        // 28 000) = 0.
        assert_eq!(settlement.released, Amounts::new(500_000, 0));
        // Check: final + recovery + released = granted: ESF+ 168 000 + 7 000 + 5 000 = 180 000;
        // Land 28 000 + 2 000 + 0 = 30 000.
    }

    #[test]
    fn a_final_report_above_the_plan_is_capped_at_the_grant_decided() {
        let granted = Amounts::new(18_000_000, 3_000_000);
        // 320 000.00 eligible would give ESF+ 192 000.00, Land 32 000.00: capped at 180 000 / 30 000.
        let capped = final_grant(
            Cents(32_000_000),
            BasisPoints(7_000),
            BasisPoints(6_000),
            granted,
        )
        .expect("valid");
        assert_eq!(capped, granted);
        // Paid 150 000.00 (ESF+ 130 000, Land 20 000): the rest is still to be paid, nothing freed.
        let settlement =
            settle(granted, capped, Amounts::new(13_000_000, 2_000_000)).expect("valid");
        assert_eq!(settlement.final_payment, Amounts::new(5_000_000, 1_000_000));
        assert_eq!(settlement.recovery, Amounts::ZERO);
        assert_eq!(settlement.released, Amounts::ZERO);
    }

    #[test]
    fn invalid_settlements_are_refused() {
        let granted = Amounts::new(100, 100);
        assert_eq!(settle(granted, Amounts::new(101, 0), Amounts::ZERO), None);
        assert_eq!(settle(granted, Amounts::ZERO, Amounts::new(0, 101)), None);
        assert_eq!(settle(granted, Amounts::new(-1, 0), Amounts::ZERO), None);
        assert_eq!(settle(granted, Amounts::ZERO, Amounts::new(0, -1)), None);
        assert_eq!(
            final_grant(Cents(100), BasisPoints(5_000), BasisPoints(6_000), granted),
            None
        );
        assert_eq!(
            final_grant(Cents(-1), BasisPoints(7_000), BasisPoints(6_000), granted),
            None
        );
        assert_eq!(
            final_grant(
                Cents(100),
                BasisPoints(7_000),
                BasisPoints(6_000),
                Amounts::new(-1, 0)
            ),
            None
        );
    }

    proptest! {
        #[test]
        fn a_settlement_accounts_for_every_cent_of_the_grant(
            granted_esf in 0i64..=1_000_000_000_000,
            granted_land in 0i64..=1_000_000_000_000,
            final_part in (0u32..=10_000, 0u32..=10_000),
            paid_part in (0u32..=10_000, 0u32..=10_000),
        ) {
            let granted = Amounts::new(granted_esf, granted_land);
            let part = |amount: i64, bp: u32| Cents(amount).share(BasisPoints(bp)).expect("in range");
            let final_amounts = Amounts {
                esf_cents: part(granted_esf, final_part.0),
                land_cents: part(granted_land, final_part.1),
            };
            let paid = Amounts {
                esf_cents: part(granted_esf, paid_part.0),
                land_cents: part(granted_land, paid_part.1),
            };
            let s = settle(granted, final_amounts, paid).expect("valid");
            for source in Source::ALL {
                let (g, f, p) = (granted.get(source).0, final_amounts.get(source).0, paid.get(source).0);
                let (r, fp, rel) = (s.recovery.get(source).0, s.final_payment.get(source).0, s.released.get(source).0);
                prop_assert_eq!(p - r + fp, f);
                prop_assert_eq!(f + r + rel, g);
                prop_assert_eq!(p + fp + rel, g);
                prop_assert!(r == 0 || fp == 0);
                prop_assert!(r >= 0 && fp >= 0 && rel >= 0);
            }
        }

        #[test]
        fn the_final_grant_never_exceeds_the_grant_decided_nor_the_recomputed_split(
            planned in 0i64..=1_000_000_000_000,
            actual in 0i64..=1_000_000_000_000,
            total in 0u32..=10_000,
            esf_share in 0u32..=10_000,
        ) {
            let esf = esf_share.min(total);
            let rates = (BasisPoints(total), BasisPoints(esf));
            let decided = Split::compute(Cents(planned), rates.0, rates.1).expect("in range");
            let granted = Amounts { esf_cents: decided.esf_cents, land_cents: decided.land_cents };
            let recomputed = Split::compute(Cents(actual), rates.0, rates.1).expect("in range");
            let f = final_grant(Cents(actual), rates.0, rates.1, granted).expect("valid");
            prop_assert!(f.esf_cents <= granted.esf_cents && f.land_cents <= granted.land_cents);
            prop_assert!(f.esf_cents <= recomputed.esf_cents && f.land_cents <= recomputed.land_cents);
            if actual <= planned {
                // Lower costs: ESF+ is exactly the recomputed share (floor is monotone).
                prop_assert_eq!(f.esf_cents, recomputed.esf_cents);
            }
        }
    }
}
