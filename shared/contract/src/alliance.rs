//! The Alliance aggregate's events (`buendel.alliance.*`): alliances as reference data with history.
//!
//! An alliance's partner roster decides who may vote on a proposal, so every change to it is an
//! event and an auditor can tell who could vote on what, and when: a review's `opened` event copies
//! the roster as it stood at that moment from these events.
//!
//! Subject: `<ns>.review.alliance-<alliance_id>` in the REVIEWS stream (see [`subject_id`]). No
//! stream of its own: the approval service writes both aggregates. Consumers of REVIEWS therefore see
//! these events too and must tell them apart by `type` (or by subject: review subjects end in a
//! proposal UUID, which never starts with `alliance-`, so the two cannot collide).

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::reference::{Partner, RegionCategory};
use crate::review::QuorumRule;
use crate::EventKind;

/// The prefix of an alliance's aggregate id on the REVIEWS stream.
pub const SUBJECT_PREFIX: &str = "alliance-";

/// The aggregate id (last subject token) of an alliance: `alliance-<alliance_id>`.
pub fn subject_id(alliance_id: &str) -> String {
    format!("{SUBJECT_PREFIX}{alliance_id}")
}

/// The longest alliance id accepted.
pub const ALLIANCE_ID_LEN_MAX: usize = 32;

/// Whether `id` is a valid alliance id: `[a-z][a-z0-9_]{0,31}`, so it is a safe subject token and
/// fits the fund ids of the ledger (`<alliance>-<first year>-<last year>`).
pub fn is_valid_alliance_id(id: &str) -> bool {
    let mut chars = id.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    starts_with_letter
        && id.len() <= ALLIANCE_ID_LEN_MAX
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `buendel.alliance.registered.v1`: an alliance and its initial partner roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Registered {
    /// Short id used in proposals, reviews and fund ids (`non`, `son`).
    pub alliance_id: String,
    /// Full name.
    pub name: String,
    /// Region category, which caps the ESF+ rate of its grants.
    pub region: RegionCategory,
    /// Districts the alliance covers.
    pub districts: Vec<String>,
    /// Focus areas (Handlungsfelder) its projects may serve.
    pub focus_areas: Vec<String>,
    /// The initial partner roster; later changes are `partner_joined` / `partner_left`.
    pub partners: Vec<Partner>,
    /// When the partners' votes are enough for a statement.
    pub quorum: QuorumRule,
    /// The version of the program rules its reviews apply.
    pub rules_version: String,
    /// Last day applications are accepted.
    pub application_deadline: NaiveDate,
}

/// `buendel.alliance.partner_joined.v1`: a partner joined the roster; reviews opened from now on
/// include it (reviews already open keep the roster they were opened with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PartnerJoined {
    /// The alliance.
    pub alliance_id: String,
    /// The new partner.
    pub partner: Partner,
}

/// `buendel.alliance.partner_left.v1`: a partner left the roster; reviews opened from now on leave
/// it out (reviews already open keep the roster they were opened with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PartnerLeft {
    /// The alliance.
    pub alliance_id: String,
    /// The partner who left.
    pub partner_id: String,
    /// Why.
    pub reason: String,
}

/// Every event of the Alliance aggregate. Published variants are never edited: add a `v2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AllianceEvent {
    /// See [`Registered`].
    #[serde(rename = "buendel.alliance.registered.v1")]
    Registered(Registered),
    /// See [`PartnerJoined`].
    #[serde(rename = "buendel.alliance.partner_joined.v1")]
    PartnerJoined(PartnerJoined),
    /// See [`PartnerLeft`].
    #[serde(rename = "buendel.alliance.partner_left.v1")]
    PartnerLeft(PartnerLeft),
}

/// `buendel.alliance.registered.v1`
pub const REGISTERED_V1: &str = "buendel.alliance.registered.v1";
/// `buendel.alliance.partner_joined.v1`
pub const PARTNER_JOINED_V1: &str = "buendel.alliance.partner_joined.v1";
/// `buendel.alliance.partner_left.v1`
pub const PARTNER_LEFT_V1: &str = "buendel.alliance.partner_left.v1";

impl EventKind for AllianceEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AllianceEvent::Registered(_) => REGISTERED_V1,
            AllianceEvent::PartnerJoined(_) => PARTNER_JOINED_V1,
            AllianceEvent::PartnerLeft(_) => PARTNER_LEFT_V1,
        }
    }

    fn all_types() -> &'static [&'static str] {
        &[REGISTERED_V1, PARTNER_JOINED_V1, PARTNER_LEFT_V1]
    }
}

impl AllianceEvent {
    /// The alliance this event belongs to.
    pub fn alliance_id(&self) -> &str {
        match self {
            AllianceEvent::Registered(e) => &e.alliance_id,
            AllianceEvent::PartnerJoined(e) => &e.alliance_id,
            AllianceEvent::PartnerLeft(e) => &e.alliance_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alliance_subject_can_never_be_a_review_subject() {
        let id = subject_id("non");
        assert_eq!(id, "alliance-non");
        assert!(uuid::Uuid::parse_str(&id).is_err());
    }

    #[test]
    fn alliance_ids_are_safe_subject_tokens() {
        assert!(is_valid_alliance_id("non"));
        assert!(is_valid_alliance_id("fkb_nordwest2"));
        for bad in [
            "",
            "Non",
            "1non",
            "no.n",
            "no>n",
            "no n",
            "no-n",
            &"a".repeat(33),
        ] {
            assert!(!is_valid_alliance_id(bad), "{bad:?} must be refused");
        }
    }

    #[test]
    fn an_alliance_event_travels_adjacently_tagged() {
        let event = AllianceEvent::PartnerLeft(PartnerLeft {
            alliance_id: "non".into(),
            partner_id: "dgb".into(),
            reason: "left the alliance".into(),
        });
        let json = serde_json::to_value(&event).expect("serialize");
        assert_eq!(json["type"], PARTNER_LEFT_V1);
        assert_eq!(json["data"]["partner_id"], "dgb");
        let back: AllianceEvent = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, event);
    }
}
