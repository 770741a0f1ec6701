//! The pure rules of a grant after its decision: no I/O, no clock, integer cents only.
//!
//! - [`base_rate`]: the base rate of § 247 BGB, as versioned data from the Deutsche Bundesbank. It
//!   changes on 1 January and 1 July. A day after the last half year listed has no known rate.
//! - [`interest`](mod@interest): a recovery bears interest at five percentage points above the base rate per year
//!   (§ 49a (3) VwVfG, in Lower Saxony through § 1 NVwVfG). Day count actual/365, one rounding
//!   (half to even) at the end.
//! - [`clock`]: a payment claim is paid within 80 days of its submission; the clock is paused while
//!   the claim is back with the beneficiary for missing information (Art. 74 (1) (b) Regulation (EU)
//!   2021/1060, "CPR").
//! - [`settlement`]: the final report (Verwendungsnachweis) recomputes the grant from the eligible
//!   costs actually incurred, with the one rounding rule, never above the grant decided; what was
//!   paid too much is recovered, what is still due is paid, the rest of the commitment is released.
//! - [`retention`]: documents are kept for five years from 31 December of the year of the last
//!   payment (Art. 82 CPR).

pub mod base_rate;
pub mod clock;
pub mod interest;
pub mod retention;
pub mod settlement;

pub use base_rate::{BaseRate, BaseRateTable, TableError};
pub use clock::{ClockError, ClockReading, PaymentClock, PAYMENT_DAYS};
pub use interest::{
    interest, on_balance, InterestError, InterestLine, InterestStatement, Movement, Repayment,
};
pub use retention::retention_until;
pub use settlement::{final_grant, settle, Settlement};
