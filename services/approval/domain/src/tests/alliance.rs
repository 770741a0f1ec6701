//! Given/when/then, one test per rule of the Alliance aggregate.

use buendel_contract::aggregate::given;
use buendel_contract::alliance::{AllianceEvent, PartnerJoined, PartnerLeft};
use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::reference::{builtin_alliances, Partner, ProgramRules};
use buendel_contract::review::{QuorumRule, ReviewEvent};
use buendel_contract::{Aggregate, DomainError};

use super::{proposal_id, roster};
use crate::{Alliance, AllianceCommand, Command, Review};

fn non() -> buendel_contract::reference::Alliance {
    builtin_alliances().remove(0)
}

fn register_with(alliance: buendel_contract::reference::Alliance) -> AllianceCommand {
    AllianceCommand::Register {
        alliance,
        quorum: QuorumRule::default(),
        rules: ProgramRules::esf_plus_2021_2027(),
    }
}

fn register() -> AllianceCommand {
    register_with(non())
}

fn add(id: &str) -> AllianceCommand {
    AllianceCommand::AddPartner {
        partner: Partner {
            id: id.into(),
            name: format!("Partner {id}"),
        },
    }
}

fn remove(id: &str) -> AllianceCommand {
    AllianceCommand::RemovePartner {
        partner_id: id.into(),
        reason: "left the alliance".into(),
    }
}

/// Runs `commands` through `decide` and `apply`, failing the test if any is refused.
fn history(commands: &[AllianceCommand]) -> Vec<AllianceEvent> {
    let mut state = Alliance::default();
    let mut events = Vec::new();
    for command in commands {
        let decided = state
            .decide(command)
            .unwrap_or_else(|e| panic!("history command {} refused: {e}", command.name()));
        for event in decided {
            state = state.apply(&event);
            events.push(event);
        }
    }
    events
}

fn refused(commands: &[AllianceCommand], command: &AllianceCommand) -> &'static str {
    match given::<Alliance>(&history(commands)).decide(command) {
        Ok(events) => panic!("{} was accepted: {events:?}", command.name()),
        Err(error) => error.code(),
    }
}

fn accepted(commands: &[AllianceCommand], command: &AllianceCommand) -> AllianceEvent {
    let mut events = given::<Alliance>(&history(commands))
        .decide(command)
        .unwrap_or_else(|e| panic!("{} refused: {} ({e})", command.name(), e.code()));
    assert_eq!(events.len(), 1, "one event per command");
    events.remove(0)
}

#[test]
fn a_builtin_alliance_registers_with_its_roster_quorum_and_rules_version() {
    let AllianceEvent::Registered(registered) = accepted(&[], &register()) else {
        panic!("not registered")
    };
    assert_eq!(registered.alliance_id, "non");
    assert_eq!(registered.partners.len(), 14);
    assert_eq!(registered.quorum, QuorumRule::default());
    assert_eq!(registered.rules_version, "esf-plus-2021-2027/v1");
}

#[test]
fn an_alliance_is_registered_only_once() {
    assert_eq!(refused(&[register()], &register()), "already_registered");
}

#[test]
fn an_alliance_id_that_is_no_safe_subject_token_is_refused() {
    let mut alliance = non();
    alliance.id = "non.east".into();
    assert_eq!(
        refused(&[], &register_with(alliance)),
        "invalid_alliance_id"
    );
}

#[test]
fn an_alliance_without_a_name_is_refused() {
    let mut alliance = non();
    alliance.name = "  ".into();
    assert_eq!(refused(&[], &register_with(alliance)), "missing_name");
}

#[test]
fn an_alliance_without_partners_or_with_a_partner_twice_is_refused() {
    let mut empty = non();
    empty.partners.clear();
    assert_eq!(refused(&[], &register_with(empty)), "invalid_roster");
    let mut twice = non();
    twice.partners.push(twice.partners[0].clone());
    assert_eq!(refused(&[], &register_with(twice)), "invalid_roster");
}

#[test]
fn an_alliance_with_a_quorum_of_zero_is_refused() {
    let command = AllianceCommand::Register {
        alliance: non(),
        quorum: QuorumRule {
            min_participation_bp: BasisPoints(0),
        },
        rules: ProgramRules::esf_plus_2021_2027(),
    };
    assert_eq!(refused(&[], &command), "invalid_quorum_rule");
}

#[test]
fn a_roster_change_on_an_unregistered_alliance_is_refused() {
    assert_eq!(refused(&[], &add("new")), "alliance_not_registered");
    assert_eq!(refused(&[], &remove("dgb")), "alliance_not_registered");
}

#[test]
fn a_new_partner_joins_the_roster() {
    let event = accepted(&[register()], &add("ihk-stade"));
    assert_eq!(
        event,
        AllianceEvent::PartnerJoined(PartnerJoined {
            alliance_id: "non".into(),
            partner: Partner {
                id: "ihk-stade".into(),
                name: "Partner ihk-stade".into(),
            },
        })
    );
    let state = given::<Alliance>(&history(&[register(), add("ihk-stade")]));
    assert_eq!(state.partners().len(), 15);
}

#[test]
fn a_partner_already_on_the_roster_cannot_join_again() {
    assert_eq!(
        refused(&[register()], &add("dgb")),
        "partner_already_member"
    );
}

#[test]
fn a_partner_with_a_blank_id_or_name_cannot_join() {
    let blank_name = AllianceCommand::AddPartner {
        partner: Partner {
            id: "x".into(),
            name: " ".into(),
        },
    };
    assert_eq!(refused(&[register()], &blank_name), "invalid_partner");
    assert_eq!(refused(&[register()], &add(" ")), "invalid_partner");
}

#[test]
fn a_partner_leaves_the_roster_with_a_reason() {
    let event = accepted(&[register()], &remove("dgb"));
    assert_eq!(
        event,
        AllianceEvent::PartnerLeft(PartnerLeft {
            alliance_id: "non".into(),
            partner_id: "dgb".into(),
            reason: "left the alliance".into(),
        })
    );
    let state = given::<Alliance>(&history(&[register(), remove("dgb")]));
    assert_eq!(state.partners().len(), 13);
    assert!(state.partners().iter().all(|p| p.id != "dgb"));
}

#[test]
fn a_partner_not_on_the_roster_cannot_leave() {
    assert_eq!(
        refused(&[register()], &remove("nobody")),
        "partner_not_member"
    );
}

#[test]
fn leaving_needs_a_reason() {
    let command = AllianceCommand::RemovePartner {
        partner_id: "dgb".into(),
        reason: "".into(),
    };
    assert_eq!(refused(&[register()], &command), "missing_reason");
}

#[test]
fn the_last_partner_cannot_leave() {
    let mut alliance = non();
    alliance.partners = roster(1);
    assert_eq!(
        refused(&[register_with(alliance)], &remove("p0")),
        "last_partner"
    );
}

#[test]
fn a_partner_who_left_can_join_again() {
    let event = accepted(&[register(), remove("dgb")], &add("dgb"));
    assert!(matches!(event, AllianceEvent::PartnerJoined(_)));
}

#[test]
fn a_review_is_opened_with_the_roster_as_it_stands_then() {
    let alliance = given::<Alliance>(&history(&[register(), remove("dgb"), add("ihk-stade")]));
    let open = alliance
        .open_review(
            proposal_id(),
            &ProgramRules::esf_plus_2021_2027(),
            Cents(30_000_000),
            BasisPoints(7_000),
        )
        .expect("registered");
    let Command::Open { partners, .. } = &open else {
        panic!("not an open")
    };
    assert_eq!(partners.len(), 14);
    assert!(partners.iter().any(|p| p.id == "ihk-stade"));
    assert!(partners.iter().all(|p| p.id != "dgb"));
    let events = Review::default().decide(&open).expect("opens");
    let ReviewEvent::Opened(opened) = &events[0] else {
        panic!("not opened")
    };
    assert_eq!(opened.alliance_id, "non");
    assert_eq!(&opened.partners, partners);
}

#[test]
fn an_unregistered_alliance_opens_no_review() {
    let open = Alliance::default().open_review(
        proposal_id(),
        &ProgramRules::esf_plus_2021_2027(),
        Cents(1),
        BasisPoints(1),
    );
    assert!(open.is_none());
}
