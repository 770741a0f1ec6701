//! The Alliance aggregate: an alliance's reference data with history (subject
//! `<ns>.review.alliance-<id>`, stream REVIEWS).
//!
//! Registered once with its initial roster; afterwards partners join and leave one event at a time,
//! so who could vote on what, and when, is on record. A review copies the roster as it stands when
//! the review opens ([`Alliance::open_review`]); reviews already open keep theirs.
//!
//! Rules (each refusal has its own code, see [`AllianceError`]):
//!
//! - Registered once (`already_registered`); every other command needs a registration first
//!   (`alliance_not_registered`).
//! - The id is a safe subject token (`invalid_alliance_id`), the name is not blank (`missing_name`),
//!   the roster is a valid one (`invalid_roster`), the quorum rule makes sense (`invalid_quorum_rule`).
//! - A partner joins once (`partner_already_member`), with a non-blank id and name
//!   (`invalid_partner`); only a member leaves (`partner_not_member`), giving a reason
//!   (`missing_reason`), and never the last one (`last_partner`): a review needs someone to vote.

use std::collections::BTreeSet;

use buendel_contract::alliance::{
    is_valid_alliance_id, AllianceEvent, PartnerJoined, PartnerLeft, Registered,
};
use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::reference::{self, Partner, ProgramRules};
use buendel_contract::reply::FieldError;
use buendel_contract::review::QuorumRule;
use buendel_contract::{Aggregate, DomainError};
use uuid::Uuid;

use super::review::PARTNERS_MAX;
use super::Command as ReviewCommand;

/// What may be asked of an alliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllianceCommand {
    /// Register the alliance with its initial roster.
    Register {
        /// The alliance as reference data (id, name, region, districts, focus areas, deadline, roster).
        alliance: reference::Alliance,
        /// When the partners' votes are enough for a statement.
        quorum: QuorumRule,
        /// The program rules its reviews apply (the shell looked them up by version).
        rules: ProgramRules,
    },
    /// A partner joins the roster.
    AddPartner {
        /// The new partner.
        partner: Partner,
    },
    /// A partner leaves the roster.
    RemovePartner {
        /// The partner's id.
        partner_id: String,
        /// Why; required.
        reason: String,
    },
}

impl AllianceCommand {
    /// The wire name, as in `<ns>.cmd.approval.<name>`.
    pub fn name(&self) -> &'static str {
        match self {
            AllianceCommand::Register { .. } => "register_alliance",
            AllianceCommand::AddPartner { .. } => "add_partner",
            AllianceCommand::RemovePartner { .. } => "remove_partner",
        }
    }
}

/// A refused alliance command. Codes are never renamed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllianceError {
    /// `already_registered`: the alliance exists.
    #[error("the alliance is already registered")]
    AlreadyRegistered,
    /// `alliance_not_registered`: no alliance with this id was registered.
    #[error("no alliance with this id is registered")]
    NotRegistered,
    /// `invalid_alliance_id`: ids are `[a-z][a-z0-9_]{0,31}`.
    #[error("alliance id {alliance_id:?} is invalid: use 1 to 32 characters a-z, 0-9 and _, starting with a letter")]
    InvalidAllianceId {
        /// The id given.
        alliance_id: String,
    },
    /// `missing_name`: the alliance needs a name.
    #[error("the alliance name is missing")]
    MissingName,
    /// `invalid_roster`: the roster is empty, too long, or has blank or repeated partner ids.
    #[error("the partner roster is invalid: {reason}")]
    InvalidRoster {
        /// What is wrong with it.
        reason: String,
    },
    /// `invalid_quorum_rule`: the quorum must require 1 to 10 000 basis points.
    #[error("a quorum rule needs 1 to 10000 basis points, not {min_participation_bp}")]
    InvalidQuorumRule {
        /// The rule's value.
        min_participation_bp: u32,
    },
    /// `invalid_partner`: a partner needs a non-blank id and name.
    #[error("a partner needs a non-blank id and name")]
    InvalidPartner,
    /// `partner_already_member`: the partner is on the roster.
    #[error("{partner_id} is already a partner of this alliance")]
    PartnerAlreadyMember {
        /// The partner.
        partner_id: String,
    },
    /// `partner_not_member`: the partner is not on the roster.
    #[error("{partner_id} is not a partner of this alliance")]
    PartnerNotMember {
        /// The id given.
        partner_id: String,
    },
    /// `last_partner`: the last partner cannot leave; a review needs someone to vote.
    #[error("{partner_id} is the last partner of this alliance and cannot leave")]
    LastPartner {
        /// The partner.
        partner_id: String,
    },
    /// `missing_reason`: leaving must say why.
    #[error("a reason is required")]
    MissingReason,
}

impl DomainError for AllianceError {
    fn code(&self) -> &'static str {
        match self {
            AllianceError::AlreadyRegistered => "already_registered",
            AllianceError::NotRegistered => "alliance_not_registered",
            AllianceError::InvalidAllianceId { .. } => "invalid_alliance_id",
            AllianceError::MissingName => "missing_name",
            AllianceError::InvalidRoster { .. } => "invalid_roster",
            AllianceError::InvalidQuorumRule { .. } => "invalid_quorum_rule",
            AllianceError::InvalidPartner => "invalid_partner",
            AllianceError::PartnerAlreadyMember { .. } => "partner_already_member",
            AllianceError::PartnerNotMember { .. } => "partner_not_member",
            AllianceError::LastPartner { .. } => "last_partner",
            AllianceError::MissingReason => "missing_reason",
        }
    }

    fn details(&self) -> Vec<FieldError> {
        let field = match self {
            AllianceError::InvalidAllianceId { .. } => "alliance_id",
            AllianceError::MissingName => "name",
            AllianceError::InvalidRoster { .. } => "partners",
            AllianceError::InvalidQuorumRule { .. } => "quorum.min_participation_bp",
            AllianceError::InvalidPartner => "partner",
            AllianceError::PartnerAlreadyMember { .. }
            | AllianceError::PartnerNotMember { .. }
            | AllianceError::LastPartner { .. } => "partner_id",
            AllianceError::MissingReason => "reason",
            AllianceError::AlreadyRegistered | AllianceError::NotRegistered => return Vec::new(),
        };
        vec![FieldError::new(field, self.to_string())]
    }
}

/// The state folded from an alliance's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alliance {
    /// The registration, once registered (its `partners` is the initial roster, not the current one).
    registered: Option<Registered>,
    /// The current roster, in the order partners joined.
    partners: Vec<Partner>,
}

impl Alliance {
    /// The registration facts, once registered.
    pub fn registered(&self) -> Option<&Registered> {
        self.registered.as_ref()
    }

    /// The current roster.
    pub fn partners(&self) -> &[Partner] {
        &self.partners
    }

    /// The `Open` of a review of a proposal submitted to this alliance, with the roster, region
    /// and quorum as they stand now; `None` when the alliance is not registered.
    pub fn open_review(
        &self,
        proposal_id: Uuid,
        rules: &ProgramRules,
        eligible_cost_cents: Cents,
        requested_rate_bp: BasisPoints,
    ) -> Option<ReviewCommand> {
        let registered = self.registered.as_ref()?;
        Some(ReviewCommand::Open {
            proposal_id,
            alliance_id: registered.alliance_id.clone(),
            partners: self.partners.clone(),
            region: registered.region,
            quorum: registered.quorum,
            rules: rules.clone(),
            eligible_cost_cents,
            requested_rate_bp,
        })
    }

    fn alliance_id(&self) -> Result<&str, AllianceError> {
        self.registered
            .as_ref()
            .map(|r| r.alliance_id.as_str())
            .ok_or(AllianceError::NotRegistered)
    }

    fn is_member(&self, partner_id: &str) -> bool {
        self.partners.iter().any(|p| p.id == partner_id)
    }
}

impl Aggregate for Alliance {
    type Event = AllianceEvent;
    type Command = AllianceCommand;
    type Error = AllianceError;

    fn apply(mut self, event: &AllianceEvent) -> Self {
        match event {
            AllianceEvent::Registered(e) => {
                self.partners.clone_from(&e.partners);
                self.registered = Some(e.clone());
            }
            AllianceEvent::PartnerJoined(e) => self.partners.push(e.partner.clone()),
            AllianceEvent::PartnerLeft(e) => self.partners.retain(|p| p.id != e.partner_id),
        }
        self
    }

    fn decide(&self, command: &AllianceCommand) -> Result<Vec<AllianceEvent>, AllianceError> {
        let event = match command {
            AllianceCommand::Register {
                alliance,
                quorum,
                rules,
            } => AllianceEvent::Registered(self.register(alliance, *quorum, rules)?),
            AllianceCommand::AddPartner { partner } => {
                AllianceEvent::PartnerJoined(self.add_partner(partner)?)
            }
            AllianceCommand::RemovePartner { partner_id, reason } => {
                AllianceEvent::PartnerLeft(self.remove_partner(partner_id, reason)?)
            }
        };
        Ok(vec![event])
    }
}

impl Alliance {
    fn register(
        &self,
        alliance: &reference::Alliance,
        quorum: QuorumRule,
        rules: &ProgramRules,
    ) -> Result<Registered, AllianceError> {
        if self.registered.is_some() {
            return Err(AllianceError::AlreadyRegistered);
        }
        if !is_valid_alliance_id(&alliance.id) {
            return Err(AllianceError::InvalidAllianceId {
                alliance_id: alliance.id.clone(),
            });
        }
        let name = alliance.name.trim();
        if name.is_empty() {
            return Err(AllianceError::MissingName);
        }
        check_roster(&alliance.partners)?;
        if !quorum.is_valid() {
            return Err(AllianceError::InvalidQuorumRule {
                min_participation_bp: quorum.min_participation_bp.0,
            });
        }
        Ok(Registered {
            alliance_id: alliance.id.clone(),
            name: name.to_owned(),
            region: alliance.region,
            districts: alliance.districts.clone(),
            focus_areas: alliance.focus_areas.clone(),
            partners: alliance.partners.clone(),
            quorum,
            rules_version: rules.version.clone(),
            application_deadline: alliance.application_deadline,
        })
    }

    fn add_partner(&self, partner: &Partner) -> Result<PartnerJoined, AllianceError> {
        let alliance_id = self.alliance_id()?;
        let (id, name) = (partner.id.trim(), partner.name.trim());
        if id.is_empty() || name.is_empty() {
            return Err(AllianceError::InvalidPartner);
        }
        if self.is_member(id) {
            return Err(AllianceError::PartnerAlreadyMember {
                partner_id: id.to_owned(),
            });
        }
        if self.partners.len() >= PARTNERS_MAX {
            return Err(AllianceError::InvalidRoster {
                reason: format!("it has {PARTNERS_MAX} partners already, the most allowed"),
            });
        }
        Ok(PartnerJoined {
            alliance_id: alliance_id.to_owned(),
            partner: Partner {
                id: id.to_owned(),
                name: name.to_owned(),
            },
        })
    }

    fn remove_partner(&self, partner_id: &str, reason: &str) -> Result<PartnerLeft, AllianceError> {
        let alliance_id = self.alliance_id()?;
        if !self.is_member(partner_id) {
            return Err(AllianceError::PartnerNotMember {
                partner_id: partner_id.to_owned(),
            });
        }
        if self.partners.len() == 1 {
            return Err(AllianceError::LastPartner {
                partner_id: partner_id.to_owned(),
            });
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(AllianceError::MissingReason);
        }
        Ok(PartnerLeft {
            alliance_id: alliance_id.to_owned(),
            partner_id: partner_id.to_owned(),
            reason: reason.to_owned(),
        })
    }
}

/// A roster is non-empty, at most [`PARTNERS_MAX`] long, and its ids and names are non-blank and
/// its ids distinct: the same rule a review's roster obeys, so every registered roster can open one.
fn check_roster(partners: &[Partner]) -> Result<(), AllianceError> {
    let invalid = |reason: String| Err(AllianceError::InvalidRoster { reason });
    if partners.is_empty() {
        return invalid("it has no partners".into());
    }
    if partners.len() > PARTNERS_MAX {
        return invalid(format!(
            "{} partners, at most {PARTNERS_MAX}",
            partners.len()
        ));
    }
    let mut seen = BTreeSet::new();
    for partner in partners {
        if partner.id.trim().is_empty() || partner.name.trim().is_empty() {
            return invalid("a partner has a blank id or name".into());
        }
        if !seen.insert(partner.id.as_str()) {
            return invalid(format!("{} appears twice", partner.id));
        }
    }
    Ok(())
}
