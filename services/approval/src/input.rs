//! Parsing command payloads: "parse, don't validate". Pure (no I/O), so it is tested without NATS.
//!
//! A command is `{"command_id": uuid, "actor"?: str, "correlation_id"?: str, "data": {..}}`. Its
//! `data` names the aggregate (`proposal_id` for a review, `alliance_id` for an alliance) and the
//! command's fields. Every malformed, missing or unknown field is reported at once, each with its
//! JSON path (`data.vote`), so a client fixes everything in one round trip.
//!
//! What is accepted is exactly what the contract's typed commands ([`buendel_contract::commands`])
//! describe, nested objects included (a partner or a quorum with an unknown field is refused);
//! `crate::input_tests` proves it. The value rules no type states (an alliance id that is a subject
//! token, a known rules version) are checked here as well.

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use buendel_contract::alliance::is_valid_alliance_id;
use buendel_contract::commands::{PartnerInput, QuorumInput};
use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::reference::{self, Partner, ProgramRules, RegionCategory};
use buendel_contract::reply::FieldError;
use buendel_contract::review::{QuorumRule, Verdict, VoteChoice};

use crate::domain::{AllianceCommand, Command};

/// A parsed command and the aggregate it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A command on the review of `proposal_id`.
    Review {
        /// The proposal (the review's aggregate id).
        proposal_id: Uuid,
        /// What is asked.
        command: Command,
    },
    /// A command on the alliance `alliance_id` (a valid subject token).
    Alliance {
        /// The alliance.
        alliance_id: String,
        /// What is asked.
        command: AllianceCommand,
    },
}

/// Parses the `data` of command `name`; `rules` are the program rules a registration may name.
///
/// `None` for a name that is no command of this service.
pub fn parse(
    name: &str,
    data: &Value,
    rules: &[ProgramRules],
) -> Option<Result<Request, Vec<FieldError>>> {
    let parsed = match name {
        "declare_conflict" => declare_conflict(data),
        "vote" => vote(data),
        "issue_statement" => issue_statement(data),
        "record_grant" => record_grant(data),
        "record_refusal" => record_refusal(data),
        "register_alliance" => register_alliance(data, rules),
        "add_partner" => add_partner(data),
        "remove_partner" => remove_partner(data),
        _ => return None,
    };
    Some(parsed)
}

/// Reads the fields of one `data` object, collecting every problem.
struct Fields<'a> {
    /// The object.
    data: &'a Map<String, Value>,
    /// Every problem found so far.
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// The fields of `data`, which must be an object with no field outside `allowed`.
    fn new(data: &'a Value, allowed: &[&str]) -> Result<Self, Vec<FieldError>> {
        let Value::Object(data) = data else {
            return Err(vec![FieldError::new("data", "must be a JSON object")]);
        };
        let errors = data
            .keys()
            .filter(|key| !allowed.contains(&key.as_str()))
            .map(|key| FieldError::new(format!("data.{key}"), "unknown field"))
            .collect();
        Ok(Self { data, errors })
    }

    /// A field that must be present and well-formed.
    fn required<T: DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        match self.data.get(name) {
            None | Some(Value::Null) => {
                self.errors
                    .push(FieldError::new(format!("data.{name}"), "is required"));
                None
            }
            Some(value) => self.decode(name, value),
        }
    }

    /// A field that may be absent (or null); present, it must be well-formed.
    fn optional<T: DeserializeOwned>(&mut self, name: &str) -> Option<Option<T>> {
        match self.data.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => self.decode(name, value).map(Some),
        }
    }

    fn decode<T: DeserializeOwned>(&mut self, name: &str, value: &Value) -> Option<T> {
        match T::deserialize(value) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                self.errors
                    .push(FieldError::new(format!("data.{name}"), error.to_string()));
                None
            }
        }
    }

    /// A required date, written exactly `YYYY-MM-DD`.
    fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let text: String = self.required(name)?;
        let date = buendel_contract::commands::parse_date(&text);
        if date.is_none() {
            self.errors.push(FieldError::new(
                format!("data.{name}"),
                format!("{text:?} is not a real date YYYY-MM-DD"),
            ));
        }
        date
    }

    /// An alliance id that is a safe subject token.
    fn alliance_id(&mut self) -> Option<String> {
        let id: String = self.required("alliance_id")?;
        if is_valid_alliance_id(&id) {
            Some(id)
        } else {
            self.errors.push(FieldError::new(
                "data.alliance_id",
                "use 1 to 32 characters a-z, 0-9 and _, starting with a letter",
            ));
            None
        }
    }

    /// The parsed value when every field was fine, or every problem found.
    fn finish<T>(self, parsed: Option<T>) -> Result<T, Vec<FieldError>> {
        match parsed {
            Some(parsed) if self.errors.is_empty() => Ok(parsed),
            Some(_) | None => Err(self.errors),
        }
    }
}

fn review(proposal_id: Uuid, command: Command) -> Request {
    Request::Review {
        proposal_id,
        command,
    }
}

fn declare_conflict(data: &Value) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["proposal_id", "partner_id", "reason"])?;
    let proposal_id = f.required::<Uuid>("proposal_id");
    let partner_id = f.required::<String>("partner_id");
    let reason = f.required::<String>("reason");
    let parsed = (|| {
        let command = Command::DeclareConflict {
            partner_id: partner_id?,
            reason: reason?,
        };
        Some(review(proposal_id?, command))
    })();
    f.finish(parsed)
}

fn vote(data: &Value) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["proposal_id", "partner_id", "vote", "comment"])?;
    let proposal_id = f.required::<Uuid>("proposal_id");
    let partner_id = f.required::<String>("partner_id");
    let vote = f.required::<VoteChoice>("vote");
    let comment = f.optional::<String>("comment");
    let parsed = (|| {
        let command = Command::Vote {
            partner_id: partner_id?,
            vote: vote?,
            comment: comment?,
        };
        Some(review(proposal_id?, command))
    })();
    f.finish(parsed)
}

fn issue_statement(data: &Value) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["proposal_id", "verdict", "conditions"])?;
    let proposal_id = f.required::<Uuid>("proposal_id");
    let verdict = f.required::<Verdict>("verdict");
    let conditions = f.optional::<Vec<String>>("conditions");
    let parsed = (|| {
        let command = Command::IssueStatement {
            verdict: verdict?,
            conditions: conditions?.unwrap_or_default(),
        };
        Some(review(proposal_id?, command))
    })();
    f.finish(parsed)
}

fn record_grant(data: &Value) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &[
            "proposal_id",
            "bank_reference",
            "eligible_cost_cents",
            "total_rate_bp",
            "esf_rate_bp",
            "esf_cents",
            "land_cents",
            "period_from",
            "period_to",
            "amendment_reference",
        ],
    )?;
    let proposal_id = f.required::<Uuid>("proposal_id");
    let bank_reference = f.required::<String>("bank_reference");
    let eligible_cost_cents = f.required::<Cents>("eligible_cost_cents");
    let total_rate_bp = f.required::<BasisPoints>("total_rate_bp");
    let esf_rate_bp = f.required::<BasisPoints>("esf_rate_bp");
    let esf_cents = f.required::<Cents>("esf_cents");
    let land_cents = f.required::<Cents>("land_cents");
    let period_from = f.date("period_from");
    let period_to = f.date("period_to");
    let amendment_reference = f.optional::<String>("amendment_reference");
    let parsed = (|| {
        let command = Command::RecordGrant {
            bank_reference: bank_reference?,
            eligible_cost_cents: eligible_cost_cents?,
            total_rate_bp: total_rate_bp?,
            esf_rate_bp: esf_rate_bp?,
            esf_cents: esf_cents?,
            land_cents: land_cents?,
            period_from: period_from?,
            period_to: period_to?,
            amendment_reference: amendment_reference?,
        };
        Some(review(proposal_id?, command))
    })();
    f.finish(parsed)
}

fn record_refusal(data: &Value) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["proposal_id", "bank_reference", "reason"])?;
    let proposal_id = f.required::<Uuid>("proposal_id");
    let bank_reference = f.required::<String>("bank_reference");
    let reason = f.required::<String>("reason");
    let parsed = (|| {
        let command = Command::RecordRefusal {
            bank_reference: bank_reference?,
            reason: reason?,
        };
        Some(review(proposal_id?, command))
    })();
    f.finish(parsed)
}

fn register_alliance(data: &Value, rules: &[ProgramRules]) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &[
            "alliance_id",
            "name",
            "region",
            "districts",
            "focus_areas",
            "partners",
            "quorum",
            "rules_version",
            "application_deadline",
        ],
    )?;
    let alliance_id = f.alliance_id();
    let name = f.required::<String>("name");
    let region = f.required::<RegionCategory>("region");
    let districts = f.optional::<Vec<String>>("districts");
    let focus_areas = f.optional::<Vec<String>>("focus_areas");
    let partners = f.required::<Vec<PartnerInput>>("partners");
    let quorum = f.optional::<QuorumInput>("quorum");
    let application_deadline = f.date("application_deadline");
    let rules = match f.optional::<String>("rules_version") {
        Some(None) => rules.last().cloned(),
        Some(Some(version)) => {
            let found = rules.iter().find(|r| r.version == version).cloned();
            if found.is_none() {
                let known: Vec<&str> = rules.iter().map(|r| r.version.as_str()).collect();
                f.errors.push(FieldError::new(
                    "data.rules_version",
                    format!(
                        "unknown rules version {version:?}; known: {}",
                        known.join(", ")
                    ),
                ));
            }
            found
        }
        None => None,
    };
    let parsed = (|| {
        let alliance_id = alliance_id?;
        let command = AllianceCommand::Register {
            alliance: reference::Alliance {
                id: alliance_id.clone(),
                name: name?,
                region: region?,
                districts: districts?.unwrap_or_default(),
                focus_areas: focus_areas?.unwrap_or_else(|| {
                    reference::COMMON_FOCUS_AREAS
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect()
                }),
                application_deadline: application_deadline?,
                partners: partners?.into_iter().map(Partner::from).collect(),
            },
            quorum: quorum?.map_or_else(QuorumRule::default, QuorumRule::from),
            rules: rules?,
        };
        Some(Request::Alliance {
            alliance_id,
            command,
        })
    })();
    f.finish(parsed)
}

fn add_partner(data: &Value) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["alliance_id", "partner"])?;
    let alliance_id = f.alliance_id();
    let partner = f.required::<PartnerInput>("partner");
    let parsed = (|| {
        Some(Request::Alliance {
            alliance_id: alliance_id?,
            command: AllianceCommand::AddPartner {
                partner: partner?.into(),
            },
        })
    })();
    f.finish(parsed)
}

fn remove_partner(data: &Value) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["alliance_id", "partner_id", "reason"])?;
    let alliance_id = f.alliance_id();
    let partner_id = f.required::<String>("partner_id");
    let reason = f.required::<String>("reason");
    let parsed = (|| {
        Some(Request::Alliance {
            alliance_id: alliance_id?,
            command: AllianceCommand::RemovePartner {
                partner_id: partner_id?,
                reason: reason?,
            },
        })
    })();
    f.finish(parsed)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rules() -> Vec<ProgramRules> {
        vec![ProgramRules::esf_plus_2021_2027()]
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_vote_is_parsed_with_its_proposal_and_comment() {
        let id = Uuid::new_v4();
        let data = json!({"proposal_id": id, "partner_id": "dgb", "vote": "yes", "comment": "gut"});
        let parsed = parse("vote", &data, &rules()).expect("a command");
        assert_eq!(
            parsed,
            Ok(Request::Review {
                proposal_id: id,
                command: Command::Vote {
                    partner_id: "dgb".into(),
                    vote: VoteChoice::Yes,
                    comment: Some("gut".into()),
                },
            })
        );
    }

    #[test]
    fn every_malformed_missing_or_unknown_field_is_reported_at_once() {
        let data = json!({"proposal_id": "nope", "vote": "maybe", "colour": "red"});
        let errors = parse("vote", &data, &rules())
            .expect("a command")
            .expect_err("refused");
        let mut found = fields(&errors);
        found.sort_unstable();
        assert_eq!(
            found,
            [
                "data.colour",
                "data.partner_id",
                "data.proposal_id",
                "data.vote"
            ]
        );
    }

    #[test]
    fn data_that_is_no_object_is_refused() {
        let errors = parse("vote", &json!([1]), &rules())
            .expect("a command")
            .expect_err("refused");
        assert_eq!(fields(&errors), ["data"]);
    }

    #[test]
    fn a_grant_with_fractional_cents_is_refused_on_that_field() {
        let data = json!({
            "proposal_id": Uuid::new_v4(), "bank_reference": "NB-1",
            "eligible_cost_cents": 100.5, "total_rate_bp": 7000, "esf_rate_bp": 6000,
            "esf_cents": 60, "land_cents": 10,
            "period_from": "2025-01-01", "period_to": "2027-12-31"
        });
        let errors = parse("record_grant", &data, &rules())
            .expect("a command")
            .expect_err("refused");
        assert_eq!(fields(&errors), ["data.eligible_cost_cents"]);
    }

    #[test]
    fn an_alliance_id_that_is_no_subject_token_is_refused_before_it_names_a_subject() {
        let data = json!({"alliance_id": "non.>", "partner": {"id": "x", "name": "X"}});
        let errors = parse("add_partner", &data, &rules())
            .expect("a command")
            .expect_err("refused");
        assert_eq!(fields(&errors), ["data.alliance_id"]);
    }

    #[test]
    fn a_registration_defaults_quorum_and_rules_and_refuses_an_unknown_rules_version() {
        let data = json!({
            "alliance_id": "tiny", "name": "Tiny", "region": "transition",
            "partners": [{"id": "a", "name": "A"}], "application_deadline": "2027-12-31"
        });
        let Some(Ok(Request::Alliance {
            command: AllianceCommand::Register { quorum, rules, .. },
            ..
        })) = parse("register_alliance", &data, &super::tests::rules())
        else {
            panic!("not parsed")
        };
        assert_eq!(quorum, QuorumRule::default());
        assert_eq!(rules.version, "esf-plus-2021-2027/v1");
        let mut unknown = data.clone();
        unknown["rules_version"] = json!("esf-2014-2020/v9");
        let errors = parse("register_alliance", &unknown, &super::tests::rules())
            .expect("a command")
            .expect_err("refused");
        assert_eq!(fields(&errors), ["data.rules_version"]);
    }

    #[test]
    fn an_unknown_command_is_not_parsed() {
        assert!(parse("delete_everything", &json!({}), &rules()).is_none());
    }
}
