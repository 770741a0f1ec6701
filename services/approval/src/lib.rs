//! The approval service: the alliance partners' review of a screened proposal, the alliance's
//! statement (Stellungnahme), and the bank's grant decision, all recorded as events on
//! `<ns>.review.<proposal_id>` (stream REVIEWS).
//!
//! - [`domain`]: the pure Review aggregate (no async, no I/O): commands, rules, errors, the tally.

pub mod domain;
