//! Validation of what other services publish: a raw CloudEvent at intake, or a command payload.
//!
//! Serde stops at the first error; publishers must be told every reason at once. So validation walks
//! the JSON by hand, collects a [`FieldError`] per problem, and only builds typed values when there
//! are none. Limits are explicit: the size of the message, of every string and of every list.

use chrono::NaiveDate;
use serde_json::{Map, Value};
use uuid::Uuid;

use buendel_contract::money::{BasisPoints, Cents};
use buendel_contract::proposal::{
    Applicant, ProjectType, Submitted, Terms, REVISED_V1, SUBMITTED_V1, WITHDRAWN_V1,
};
use buendel_contract::reply::FieldError;
use buendel_contract::{canonical, ijson};

/// The largest message accepted at intake.
pub const MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// Longest title.
pub const TITLE_CHARS_MAX: usize = 200;
/// Longest summary.
pub const SUMMARY_CHARS_MAX: usize = 5_000;
/// Longest short string (names, kinds, districts, focus areas, references).
pub const NAME_CHARS_MAX: usize = 200;
/// Most entries in a list (focus areas, districts).
pub const LIST_ITEMS_MAX: usize = 16;
/// Longest project.
pub const DURATION_MONTHS_MAX: i64 = 120;
/// Largest amount we accept at all (1 billion EUR); the program caps are checked in screening.
pub const AMOUNT_CENTS_MAX: i64 = 100_000_000_000;

/// What an intake event asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `buendel.proposal.submitted.v1`
    Submit(Submitted),
    /// `buendel.proposal.revised.v1`
    Revise {
        /// The proposal.
        proposal_id: Uuid,
        /// The new terms.
        terms: Terms,
        /// Why.
        reason: String,
    },
    /// `buendel.proposal.withdrawn.v1`
    Withdraw {
        /// The proposal.
        proposal_id: Uuid,
        /// Why.
        reason: String,
    },
}

impl Request {
    /// The proposal the request is about.
    pub fn proposal_id(&self) -> Uuid {
        match self {
            Request::Submit(s) => s.proposal_id,
            Request::Revise { proposal_id, .. } | Request::Withdraw { proposal_id, .. } => {
                *proposal_id
            }
        }
    }
}

impl Request {
    /// Decides this request on a proposal, with its screening in the same decision when it
    /// changes the terms (a submission or a revision): the one decision the submission service
    /// appends, and the deterministic simulation too. `alliance` looks an alliance up by id.
    /// See [`Request::decide_versioned`] for the rules of a programme with several versions.
    pub fn decide<'a>(
        &self,
        state: &crate::Proposal,
        alliance: impl Fn(&str) -> Option<&'a buendel_contract::reference::Alliance>,
        rules: &buendel_contract::reference::ProgramRules,
        today: chrono::NaiveDate,
    ) -> Result<Vec<buendel_contract::proposal::ProposalEvent>, crate::ProposalError> {
        use crate::Command;
        use buendel_contract::Aggregate as _;
        let command = match self {
            Request::Submit(submitted) => Command::Submit(submitted.clone()),
            Request::Revise { terms, reason, .. } => Command::Revise {
                terms: terms.clone(),
                reason: reason.clone(),
            },
            Request::Withdraw { reason, .. } => Command::Withdraw {
                reason: reason.clone(),
            },
        };
        let mut events = state.decide(&command)?;
        if !matches!(self, Request::Withdraw { .. }) && !events.is_empty() {
            let after = events
                .iter()
                .fold(state.clone(), |state, event| state.apply(event));
            let screen = Command::Screen {
                alliance: alliance(&after.alliance_id).cloned(),
                rules: rules.clone(),
                today,
            };
            events.extend(after.decide(&screen)?);
        }
        Ok(events)
    }
}

impl Request {
    /// [`Request::decide`] under the version of the programme rules that applies: for a
    /// submission the version in force on `today` (its submission date), for a revision the
    /// version of the proposal's first screening (a new version never re-screens what was
    /// submitted before it), falling back to the version in force today when that version is not
    /// among `versions` or the proposal was never screened.
    pub fn decide_versioned<'a>(
        &self,
        state: &crate::Proposal,
        alliance: impl Fn(&str) -> Option<&'a buendel_contract::reference::Alliance>,
        versions: &[buendel_contract::reference::ProgramRules],
        today: chrono::NaiveDate,
    ) -> Result<Vec<buendel_contract::proposal::ProposalEvent>, crate::ProposalError> {
        use buendel_contract::reference::ProgramRules;
        let first = match self {
            Request::Revise { .. } => state
                .rules_version
                .as_deref()
                .and_then(|named| versions.iter().find(|v| v.version == named)),
            Request::Submit(_) | Request::Withdraw { .. } => None,
        };
        let fallback = ProgramRules::esf_plus_2021_2027();
        let rules = first
            .or_else(|| ProgramRules::in_force_on(versions, today))
            .unwrap_or(&fallback);
        self.decide(state, alliance, rules, today)
    }
}

/// A valid intake event.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeEvent {
    /// The CloudEvents id: the idempotency key of this request, forever.
    pub id: Uuid,
    /// Who published it.
    pub source: String,
    /// The `actor` extension, or the source.
    pub actor: String,
    /// The `correlationid` extension, if any.
    pub correlation_id: Option<String>,
    /// What it asks for.
    pub request: Request,
    /// SHA-256 (hex) of the event's RFC 8785 canonical JSON (of its bytes where it has none): two
    /// copies of one event share it, another body under the same id does not.
    pub sha256: String,
}

/// The dead-letter code of a message that is not a valid request (when no sharper code applies).
pub const INVALID_INPUT: &str = "invalid_input";
/// The dead-letter code of a message larger than [`MESSAGE_BYTES_MAX`].
pub const TOO_LARGE: &str = "too_large";

/// Best-effort facts about an invalid message, for the dead letter.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The stable code of the refusal: an [`ijson`] code (`duplicate_member`, `lone_surrogate`,
    /// `number_out_of_range`, `control_character`, ...), [`TOO_LARGE`] or [`INVALID_INPUT`].
    pub code: &'static str,
    /// The CloudEvents id, if readable.
    pub event_id: Option<String>,
    /// The CloudEvents type, if readable.
    pub event_type: Option<String>,
    /// Every reason found.
    pub reasons: Vec<FieldError>,
}

impl Default for Rejected {
    fn default() -> Self {
        Self {
            code: INVALID_INPUT,
            event_id: None,
            event_type: None,
            reasons: Vec::new(),
        }
    }
}

impl Rejected {
    /// A refusal of the whole input for problems of [`ijson::parse`]; the code is the first one's.
    fn strict(problems: Vec<ijson::Problem>) -> Self {
        Self {
            code: problems.first().map_or(INVALID_INPUT, |p| p.code),
            reasons: problems
                .into_iter()
                .map(|p| FieldError::new(p.field, p.reason))
                .collect(),
            ..Self::default()
        }
    }
}

/// Validates a raw intake message; `known_alliance` says whether an alliance id exists.
///
/// The bytes must be I-JSON without control characters in its strings ([`ijson::parse`]): what is
/// appended must read the same in every service, in Postgres and in the auditor.
pub fn validate_event(
    bytes: &[u8],
    known_alliance: &dyn Fn(&str) -> bool,
) -> Result<IntakeEvent, Rejected> {
    if bytes.len() > MESSAGE_BYTES_MAX {
        return Err(Rejected {
            code: TOO_LARGE,
            reasons: vec![FieldError::new(
                "",
                format!(
                    "message is {} bytes, at most {MESSAGE_BYTES_MAX}",
                    bytes.len()
                ),
            )],
            ..Rejected::default()
        });
    }
    let value: Value = ijson::parse(bytes).map_err(Rejected::strict)?;
    let Value::Object(envelope) = value else {
        return Err(Rejected {
            reasons: vec![FieldError::new("", "a CloudEvent must be a JSON object")],
            ..Rejected::default()
        });
    };
    let mut v = Fields::new(&envelope, "");
    let spec = v.string("specversion", 1, 8);
    if spec.as_deref().is_some_and(|s| s != "1.0") {
        v.error("specversion", "must be \"1.0\"");
    }
    let id = v.uuid("id");
    let source = v.string("source", 1, NAME_CHARS_MAX);
    let event_type = v.string("type", 1, NAME_CHARS_MAX);
    let actor = v.optional_string("actor", NAME_CHARS_MAX);
    let correlation_id = v.optional_string("correlationid", NAME_CHARS_MAX);
    let subject = v.optional_string("subject", NAME_CHARS_MAX);
    if let Some(content_type) = v.optional_string("datacontenttype", NAME_CHARS_MAX) {
        if content_type != "application/json" {
            v.error("datacontenttype", "must be application/json");
        }
    }
    if let Some(time) = v.optional_string("time", 64) {
        if chrono::DateTime::parse_from_rfc3339(&time).is_err() {
            v.error("time", "must be an RFC 3339 timestamp");
        }
    }
    let mut errors = std::mem::take(&mut v.errors);
    let request = match (event_type.as_deref(), envelope.get("data")) {
        (_, None) => {
            errors.push(FieldError::new("data", "is required"));
            None
        }
        (_, Some(data)) if !data.is_object() => {
            errors.push(FieldError::new("data", "must be an object"));
            None
        }
        (Some(t), Some(data)) => match validate_data(t, data, "data", known_alliance) {
            Ok(request) => Some(request),
            Err(mut more) => {
                errors.append(&mut more);
                None
            }
        },
        (None, Some(_)) => None,
    };
    if let (Some(subject), Some(request)) = (&subject, &request) {
        if *subject != request.proposal_id().to_string() {
            errors.push(FieldError::new("subject", "must equal data.proposal_id"));
        }
    }
    match (id, source, request) {
        (Some(id), Some(source), Some(request)) if errors.is_empty() => Ok(IntakeEvent {
            id,
            actor: actor.unwrap_or_else(|| source.clone()),
            source,
            correlation_id,
            request,
            sha256: body_sha256(&Value::Object(envelope), bytes),
        }),
        _ => Err(Rejected {
            code: if errors
                .iter()
                .any(|e| e.reason.contains(ijson::CONTROL_REASON))
            {
                ijson::CONTROL_CHARACTER
            } else {
                INVALID_INPUT
            },
            event_id: envelope
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            event_type,
            reasons: errors,
        }),
    }
}

/// The digest that tells two bodies under one event id apart: canonical JSON where the value has
/// one (every valid event but one carrying a float in an extension), the bytes otherwise.
pub fn body_sha256(value: &Value, bytes: &[u8]) -> String {
    use sha2::Digest as _;
    canonical::sha256_hex(value).unwrap_or_else(|_| canonical::hex(&sha2::Sha256::digest(bytes)))
}

/// The intake event type whose `data` command `name` carries (`submit` carries a `submitted`'s);
/// `None` for a name that is no command of this service. The names are the contract's
/// ([`buendel_contract::commands`]), whose typed `data` this module accepts exactly.
pub fn event_type_of_command(name: &str) -> Option<&'static str> {
    use buendel_contract::commands::{CommandData as _, Revise, Submit, Withdraw};
    match name {
        Submit::NAME => Some(SUBMITTED_V1),
        Revise::NAME => Some(REVISED_V1),
        Withdraw::NAME => Some(WITHDRAWN_V1),
        _ => None,
    }
}

/// Validates the `data` of one event type (also used for command payloads).
pub fn validate_data(
    event_type: &str,
    data: &Value,
    prefix: &str,
    known_alliance: &dyn Fn(&str) -> bool,
) -> Result<Request, Vec<FieldError>> {
    let Value::Object(map) = data else {
        return Err(vec![FieldError::new(prefix, "must be an object")]);
    };
    let mut v = Fields::new(map, prefix);
    let request = match event_type {
        SUBMITTED_V1 => {
            v.only(&[
                "proposal_id", "alliance_id", "applicant", "title", "summary", "project_type",
                "focus_areas", "districts", "planned_start", "duration_months",
                "eligible_cost_cents", "requested_rate_bp",
            ]);
            let proposal_id = v.uuid("proposal_id");
            let alliance_id = v.string("alliance_id", 1, 32);
            if let Some(alliance) = &alliance_id {
                if !known_alliance(alliance) {
                    v.error("alliance_id", format!("unknown alliance {alliance:?}"));
                }
            }
            let applicant = v.applicant("applicant");
            let terms = v.terms();
            match (proposal_id, alliance_id, applicant, terms) {
                (Some(proposal_id), Some(alliance_id), Some(applicant), Some(terms)) => {
                    Some(Request::Submit(Submitted { proposal_id, alliance_id, applicant, terms }))
                }
                _ => None,
            }
        }
        REVISED_V1 => {
            v.only(&[
                "proposal_id", "title", "summary", "project_type", "focus_areas", "districts",
                "planned_start", "duration_months", "eligible_cost_cents", "requested_rate_bp",
                "reason",
            ]);
            let proposal_id = v.uuid("proposal_id");
            let terms = v.terms();
            let reason = v.text("reason", 1, SUMMARY_CHARS_MAX);
            match (proposal_id, terms, reason) {
                (Some(proposal_id), Some(terms), Some(reason)) => {
                    Some(Request::Revise { proposal_id, terms, reason })
                }
                _ => None,
            }
        }
        WITHDRAWN_V1 => {
            v.only(&["proposal_id", "reason"]);
            let proposal_id = v.uuid("proposal_id");
            let reason = v.text("reason", 1, SUMMARY_CHARS_MAX);
            match (proposal_id, reason) {
                (Some(proposal_id), Some(reason)) => Some(Request::Withdraw { proposal_id, reason }),
                _ => None,
            }
        }
        other => {
            return Err(vec![FieldError::new(
                "type",
                format!(
                    "unknown type {other:?}: intake accepts {SUBMITTED_V1}, {REVISED_V1}, {WITHDRAWN_V1}"
                ),
            )])
        }
    };
    match request {
        Some(request) if v.errors.is_empty() => Ok(request),
        _ => Err(v.errors),
    }
}

/// Walks one JSON object, collecting errors.
pub struct Fields<'a> {
    /// The object.
    map: &'a Map<String, Value>,
    /// The JSON path of the object, for error fields.
    prefix: String,
    /// Every problem found so far.
    pub errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// Starts walking `map` located at `prefix`.
    pub fn new(map: &'a Map<String, Value>, prefix: &str) -> Self {
        Self {
            map,
            prefix: prefix.to_owned(),
            errors: Vec::new(),
        }
    }

    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// Records an error on a field.
    pub fn error(&mut self, key: &str, reason: impl Into<String>) {
        let field = self.path(key);
        self.errors.push(FieldError::new(field, reason));
    }

    /// Refuses members not in `allowed`.
    pub fn only(&mut self, allowed: &[&str]) {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            self.error(&key, "unknown field");
        }
    }

    fn required(&mut self, key: &str) -> Option<&'a Value> {
        let value = self.map.get(key);
        if value.is_none() || value.is_some_and(Value::is_null) {
            self.error(key, "is required");
            return None;
        }
        value
    }

    /// A required string of `min..=max` characters.
    pub fn string(&mut self, key: &str, min: usize, max: usize) -> Option<String> {
        let value = self.required(key)?;
        self.check_string(key, value, min, max)
    }

    /// An optional string of at most `max` characters.
    pub fn optional_string(&mut self, key: &str, max: usize) -> Option<String> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => self.check_string(key, value, 1, max),
        }
    }

    /// A required free text (summary, reason) of `min..=max` characters: line breaks and tabs allowed.
    pub fn text(&mut self, key: &str, min: usize, max: usize) -> Option<String> {
        let value = self.required(key)?;
        let Some(s) = value.as_str() else {
            self.error(key, "must be a string");
            return None;
        };
        if let Some(reason) = ijson::text_problem(s) {
            self.error(key, reason);
            return None;
        }
        self.check_length(key, s, min, max)
    }

    fn check_string(&mut self, key: &str, value: &Value, min: usize, max: usize) -> Option<String> {
        let Some(s) = value.as_str() else {
            self.error(key, "must be a string");
            return None;
        };
        if let Some(reason) = ijson::single_line_problem(s) {
            self.error(key, reason);
            return None;
        }
        self.check_length(key, s, min, max)
    }

    fn check_length(&mut self, key: &str, s: &str, min: usize, max: usize) -> Option<String> {
        let chars = s.chars().count();
        if chars < min || chars > max {
            self.error(
                key,
                format!("must have {min} to {max} characters, has {chars}"),
            );
            return None;
        }
        Some(s.to_owned())
    }

    /// A required UUID.
    pub fn uuid(&mut self, key: &str) -> Option<Uuid> {
        let s = self.string(key, 1, 64)?;
        match Uuid::parse_str(&s) {
            Ok(id) => Some(id),
            Err(_) => {
                self.error(key, "must be a UUID");
                None
            }
        }
    }

    /// A required integer in `min..=max`; a float is refused by name.
    pub fn integer(&mut self, key: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.required(key)?;
        let Value::Number(n) = value else {
            self.error(key, "must be an integer");
            return None;
        };
        let Some(i) = n.as_i64() else {
            let reason = if n.is_f64() {
                "must be an integer, not a float (money is integer cents, rates are basis points)"
            } else {
                "is out of range"
            };
            self.error(key, reason);
            return None;
        };
        if i < min || i > max {
            self.error(key, format!("must be between {min} and {max}, is {i}"));
            return None;
        }
        Some(i)
    }

    /// A required calendar date `YYYY-MM-DD` that exists.
    pub fn date(&mut self, key: &str) -> Option<NaiveDate> {
        let s = self.string(key, 10, 10)?;
        match buendel_contract::commands::parse_date(&s) {
            Some(date) => Some(date),
            None => {
                self.error(key, format!("{s:?} is not a real date YYYY-MM-DD"));
                None
            }
        }
    }

    /// A required list of 1..=LIST_ITEMS_MAX distinct short strings.
    pub fn string_list(&mut self, key: &str) -> Option<Vec<String>> {
        let value = self.required(key)?;
        let Some(items) = value.as_array() else {
            self.error(key, "must be an array of strings");
            return None;
        };
        if items.is_empty() || items.len() > LIST_ITEMS_MAX {
            self.error(
                key,
                format!(
                    "must have 1 to {LIST_ITEMS_MAX} entries, has {}",
                    items.len()
                ),
            );
            return None;
        }
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s) if ijson::single_line_problem(s).is_some() => {
                    let reason = ijson::single_line_problem(s).unwrap_or_default();
                    self.error(&format!("{key}[{i}]"), reason);
                }
                Some(s) if !s.is_empty() && s.chars().count() <= NAME_CHARS_MAX => {
                    if out.iter().any(|o| o == s) {
                        self.error(&format!("{key}[{i}]"), format!("{s:?} is listed twice"));
                    }
                    out.push(s.to_owned());
                }
                _ => self.error(&format!("{key}[{i}]"), "must be a non-empty short string"),
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    fn applicant(&mut self, key: &str) -> Option<Applicant> {
        let value = self.required(key)?;
        let Some(map) = value.as_object() else {
            self.error(key, "must be an object {name, kind, district}");
            return None;
        };
        let mut inner = Fields::new(map, &self.path(key));
        inner.only(&["name", "kind", "district"]);
        let name = inner.string("name", 1, NAME_CHARS_MAX);
        let kind = inner.string("kind", 1, 64);
        let district = inner.string("district", 1, 64);
        self.errors.append(&mut inner.errors);
        Some(Applicant {
            name: name?,
            kind: kind?,
            // Official names in any spelling and district keys become the district's id.
            district: buendel_contract::district::normalised_id(&district?),
        })
    }

    /// The terms a submission or revision carries.
    fn terms(&mut self) -> Option<Terms> {
        let title = self.string("title", 1, TITLE_CHARS_MAX);
        let summary = self.text("summary", 1, SUMMARY_CHARS_MAX);
        let project_type = self
            .string("project_type", 1, 32)
            .and_then(|t| match t.as_str() {
                "structure" => Some(ProjectType::Structure),
                "unemployed" => Some(ProjectType::Unemployed),
                "training" => Some(ProjectType::Training),
                _ => {
                    self.error(
                        "project_type",
                        "must be one of structure, unemployed, training",
                    );
                    None
                }
            });
        let focus_areas = self.string_list("focus_areas");
        let districts = self.string_list("districts").and_then(|list| {
            // Official names in any spelling and district keys become the district's id; two
            // spellings of one district are one district listed twice.
            let mut ids: Vec<String> = Vec::with_capacity(list.len());
            for (i, written) in list.iter().enumerate() {
                let id = buendel_contract::district::normalised_id(written);
                if ids.contains(&id) {
                    self.error(
                        &format!("districts[{i}]"),
                        format!("{written:?} names {id}, which is listed already"),
                    );
                    return None;
                }
                ids.push(id);
            }
            Some(ids)
        });
        let planned_start = self.date("planned_start");
        let duration = self.integer("duration_months", 1, DURATION_MONTHS_MAX);
        let eligible = self.integer("eligible_cost_cents", 1, AMOUNT_CENTS_MAX);
        let rate = self.integer("requested_rate_bp", 1, 10_000);
        Some(Terms {
            title: title?,
            summary: summary?,
            project_type: project_type?,
            focus_areas: focus_areas?,
            districts: districts?,
            planned_start: planned_start?,
            duration_months: u16::try_from(duration?).ok()?,
            eligible_cost_cents: Cents(eligible?),
            requested_rate_bp: BasisPoints(u32::try_from(rate?).ok()?),
        })
    }
}
