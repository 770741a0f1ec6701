//! `docs/asyncapi.yaml` compared with the contract, field by field.
//!
//! The document is written by hand; this test keeps it true. For every event type, every command
//! and the dead letter, the payload the document gives its message must have exactly the fields of
//! the schema generated from the Rust type: the same names (nested ones too, as `applicant.name` or
//! `partners[].id`), each required or not alike, each of the same type. `$ref`s are followed, into
//! the committed files under `schemas/` as well, and `allOf` parts merged, so the document may
//! reference the generated files or spell a payload out. Every channel and message the document
//! names must exist in the contract (a stream's subjects, a command's subject, an event type), and
//! every stream, command and event type must have its channel and message.
//!
//! Layout: [`Shape`] and [`shape_of`] (what is compared), [`differences`] (the comparer, with its
//! own unit tests on altered schemas below), then the checks of the document.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use buendel_contract::alliance::AllianceEvent;
use buendel_contract::commands::{self, CommandSpec};
use buendel_contract::ledger::LedgerEvent;
use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{self, ProposalEvent};
use buendel_contract::review::ReviewEvent;
use buendel_contract::schema::{self, DEADLETTER_V1};
use buendel_contract::EventKind;

/// The most `$ref`s followed into one another (a cycle is a broken document).
const REF_DEPTH_MAX: usize = 16;

/// Messages the runtime owns (its stores' records), not the contract: checked by name only.
const RUNTIME_MESSAGES: [&str; 2] = ["buendel.receipt.v1", "buendel.decision.v1"];

/// One field of a payload: required or not, and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    /// Whether the object it is in requires it.
    required: bool,
    /// Its type: `string`, `string(uuid)`, `integer`, `array<string>`, `object`, `enum[a|b]`, with
    /// `|null` when null is allowed.
    kind: String,
}

/// Every field of a payload by its path (`fund_id`, `applicant.name`, `partners[].id`).
type Shape = BTreeMap<String, Field>;

/// Where `$ref`s resolve: the document a schema sits in and the folder of that document.
#[derive(Clone)]
struct Base {
    root: Value,
    dir: PathBuf,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_to_json(yaml: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match yaml {
        Yaml::Real(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        other => panic!("a mapping key that is no string: {other:?}"),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Yaml::Null => Value::Null,
        other => panic!("unsupported YAML: {other:?}"),
    }
}

/// `docs/asyncapi.yaml` as JSON.
fn document() -> Value {
    let path = repo().join("docs/asyncapi.yaml");
    let text = std::fs::read_to_string(&path).expect("docs/asyncapi.yaml exists");
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("docs/asyncapi.yaml is YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    yaml_to_json(&docs[0])
}

/// `schema` with every `$ref` replaced by what it points to (its sibling keys kept), and every
/// `allOf` merged into one schema.
fn inline(schema: &Value, base: &Base, depth: usize) -> Value {
    assert!(
        depth < REF_DEPTH_MAX,
        "more than {REF_DEPTH_MAX} nested $refs"
    );
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let (target, target_base) = resolve(reference, base);
                if let Value::Object(resolved) = inline(&target, &target_base, depth + 1) {
                    out.extend(resolved);
                }
            }
            for (key, value) in map {
                match key.as_str() {
                    "$ref" | "$defs" => {}
                    "allOf" => {
                        for part in value.as_array().expect("allOf is a list") {
                            merge(&mut out, inline(part, base, depth + 1));
                        }
                    }
                    _ => {
                        out.insert(key.clone(), inline(value, base, depth));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| inline(v, base, depth)).collect()),
        other => other.clone(),
    }
}

/// Merges one `allOf` part: properties merged by name, `required` lists joined.
fn merge(into: &mut Map<String, Value>, part: Value) {
    let Value::Object(part) = part else { return };
    for (key, value) in part {
        match (key.as_str(), into.get_mut(&key), value) {
            ("properties", Some(Value::Object(have)), Value::Object(more)) => {
                for (name, schema) in more {
                    match (have.get_mut(&name), schema) {
                        (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
                        (_, schema) => {
                            have.insert(name, schema);
                        }
                    }
                }
            }
            ("required", Some(Value::Array(have)), Value::Array(more)) => have.extend(more),
            (_, _, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// The target of a `$ref`: `#/pointer` in the same document, or a file relative to it (with an
/// optional `#/pointer`).
fn resolve(reference: &str, base: &Base) -> (Value, Base) {
    let (file, pointer) = reference.split_once('#').unwrap_or((reference, ""));
    let target_base = if file.is_empty() {
        base.clone()
    } else {
        let path = base.dir.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("$ref {reference}: {} does not exist", path.display()));
        Base {
            root: serde_json::from_str(&text).expect("a referenced schema is JSON"),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    };
    let target = target_base
        .root
        .pointer(pointer)
        .unwrap_or_else(|| panic!("$ref {reference} does not resolve"))
        .clone();
    (target, target_base)
}

/// The type of one (inlined) schema, and its fields when it is an object or an array of objects.
fn kind_of(schema: &Value, path: &str, shape: &mut Shape) -> String {
    let mut nullable = false;
    let mut schema = schema.clone();
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array).cloned() {
        let (nulls, others): (Vec<Value>, Vec<Value>) =
            options.into_iter().partition(|o| o["type"] == "null");
        nullable = !nulls.is_empty();
        assert_eq!(
            others.len(),
            1,
            "{path}: anyOf of more than one type and null"
        );
        if let (Value::Object(outer), Value::Object(inner)) = (&mut schema, others[0].clone()) {
            outer.remove("anyOf");
            outer.extend(inner);
        }
    }
    let mut types: Vec<String> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if types.iter().any(|t| t == "null") {
        nullable = true;
        types.retain(|t| t != "null");
    }
    let alternatives = schema
        .get("oneOf")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut constants: Vec<String> = alternatives
        .iter()
        .filter_map(|a| a.get("const").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        constants.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    let kind = if constants.len() < alternatives.len() {
        // A tagged union: each alternative described whole, fields and all.
        let mut described: Vec<String> = alternatives.iter().map(describe).collect();
        described.sort();
        format!("oneOf[{}]", described.join("|"))
    } else if let Some(constant) = schema.get("const").and_then(Value::as_str) {
        format!("const({constant})")
    } else if !constants.is_empty() {
        constants.sort();
        format!("enum[{}]", constants.join("|"))
    } else {
        match types.as_slice() {
            [one] if one == "string" => match schema.get("format").and_then(Value::as_str) {
                Some(format) => format!("string({format})"),
                None => "string".to_owned(),
            },
            [one] if one == "array" => {
                let items = schema.get("items").cloned().unwrap_or(Value::Null);
                format!("array<{}>", kind_of(&items, &format!("{path}[]"), shape))
            }
            [one] if one == "object" => {
                fields_into(&schema, &format!("{path}."), shape);
                "object".to_owned()
            }
            [one] => one.clone(),
            [] => panic!("{path}: a schema without a type"),
            many => panic!("{path}: a schema of several types {many:?}"),
        }
    };
    if nullable {
        format!("{kind}|null")
    } else {
        kind
    }
}

/// One alternative of a `oneOf`, whole: its type and every field, e.g. `object{.kind:const(a)!}`.
fn describe(schema: &Value) -> String {
    let mut inner = Shape::new();
    let kind = kind_of(schema, "", &mut inner);
    let fields: Vec<String> = inner
        .iter()
        .map(|(path, f)| format!("{path}:{}{}", f.kind, if f.required { "!" } else { "" }))
        .collect();
    format!("{kind}{{{}}}", fields.join(","))
}

/// Adds the fields of an object schema to `shape`, each named `prefix` + its name.
fn fields_into(schema: &Value, prefix: &str, shape: &mut Shape) {
    let required: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for name in &required {
        assert!(
            properties.contains_key(*name),
            "{prefix}{name} is required but not a property"
        );
    }
    for (name, property) in properties {
        let path = format!("{prefix}{name}");
        let kind = kind_of(property, &path, shape);
        shape.insert(
            path,
            Field {
                required: required.contains(name.as_str()),
                kind,
            },
        );
    }
}

/// The shape of a payload schema given in a document at `base`.
fn shape_of(schema: &Value, base: &Base) -> Shape {
    let inlined = inline(schema, base, 0);
    let mut shape = Shape::new();
    fields_into(&inlined, "", &mut shape);
    shape
}

/// The shape of a generated schema (its `$ref`s point into its own `$defs`).
fn generated_shape(schema: &Value) -> Shape {
    let base = Base {
        root: schema.clone(),
        dir: repo().join("schemas"),
    };
    shape_of(schema, &base)
}

/// Every difference between what the document says and what the type has, one line each.
fn differences(documented: &Shape, generated: &Shape) -> Vec<String> {
    let mut out = Vec::new();
    for (path, field) in generated {
        match documented.get(path) {
            None => out.push(format!("{path}: missing from the document")),
            Some(doc) if doc.required != field.required => out.push(format!(
                "{path}: required is {} in the document, {} in the type",
                doc.required, field.required
            )),
            Some(doc) if doc.kind != field.kind => out.push(format!(
                "{path}: {} in the document, {} in the type",
                doc.kind, field.kind
            )),
            Some(_) => {}
        }
    }
    for path in documented.keys() {
        if !generated.contains_key(path) {
            out.push(format!("{path}: in the document, not in the type"));
        }
    }
    out
}

/// The document with the folder its `$ref`s are relative to.
fn document_base() -> Base {
    Base {
        root: document(),
        dir: repo().join("docs"),
    }
}

/// The messages of `components/messages` by their `name`.
fn messages_by_name(base: &Base) -> BTreeMap<String, Value> {
    let messages = base.root["components"]["messages"]
        .as_object()
        .expect("components.messages");
    messages
        .iter()
        .map(|(key, message)| {
            let name = message["name"]
                .as_str()
                .unwrap_or_else(|| panic!("message {key} has no name"));
            (name.to_owned(), message.clone())
        })
        .collect()
}

/// The shape a command's message must have: the envelope, with the command's `data`.
fn command_shape(command: &CommandSpec) -> Shape {
    let mut shape = Shape::new();
    let field = |required: bool, kind: &str| Field {
        required,
        kind: kind.to_owned(),
    };
    shape.insert("command_id".into(), field(true, "string(uuid)"));
    shape.insert("actor".into(), field(false, "string|null"));
    shape.insert("correlation_id".into(), field(false, "string|null"));
    shape.insert("data".into(), field(true, "object"));
    for (path, field) in generated_shape(&(command.schema)()) {
        shape.insert(format!("data.{path}"), field);
    }
    shape
}

fn assert_same(what: &str, documented: &Shape, generated: &Shape) {
    let found = differences(documented, generated);
    assert!(
        found.is_empty(),
        "docs/asyncapi.yaml drifted from the contract for {what}:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn every_event_payload_in_the_document_has_exactly_the_fields_of_its_type() {
    let base = document_base();
    let messages = messages_by_name(&base);
    for (event_type, schema) in schema::event_schemas() {
        let message = messages
            .get(event_type)
            .unwrap_or_else(|| panic!("no message named {event_type}"));
        let documented = shape_of(&message["payload"], &base);
        assert_same(event_type, &documented, &generated_shape(&schema));
    }
}

#[test]
fn every_command_message_in_the_document_has_the_envelope_and_exactly_the_fields_of_its_type() {
    let base = document_base();
    let messages = messages_by_name(&base);
    for command in commands::ALL {
        let id = command.id();
        let message = messages
            .get(&id)
            .unwrap_or_else(|| panic!("no message named {id}"));
        let documented = shape_of(&message["payload"], &base);
        assert_same(&id, &documented, &command_shape(&command));
    }
}

#[test]
fn the_dead_letter_in_the_document_has_exactly_the_fields_of_its_type() {
    let base = document_base();
    let messages = messages_by_name(&base);
    let message = messages.get(DEADLETTER_V1).expect("a dead-letter message");
    let documented = shape_of(&message["payload"], &base);
    assert_same(
        DEADLETTER_V1,
        &documented,
        &generated_shape(&schema::deadletter_schema()),
    );
}

#[test]
fn every_message_the_document_names_exists_in_the_contract() {
    let base = document_base();
    let mut known: BTreeSet<String> = schema::event_schemas()
        .into_iter()
        .map(|(t, _)| t.to_owned())
        .collect();
    known.extend(commands::ALL.iter().map(CommandSpec::id));
    known.insert(DEADLETTER_V1.to_owned());
    known.extend(RUNTIME_MESSAGES.map(str::to_owned));
    for name in messages_by_name(&base).keys() {
        assert!(
            known.contains(name),
            "message {name} is not in the contract"
        );
    }
}

/// The message names a channel carries (publish and subscribe, one message or `oneOf`).
fn channel_messages(base: &Base, channel: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for operation in ["publish", "subscribe"] {
        let Some(message) = channel.get(operation).map(|o| &o["message"]) else {
            continue;
        };
        let list = match message.get("oneOf").and_then(Value::as_array) {
            Some(list) => list.clone(),
            None => vec![message.clone()],
        };
        for message in list {
            let inlined = inline(&message, base, 0);
            let name = inlined["name"].as_str().expect("a message with a name");
            names.insert(name.to_owned());
        }
    }
    names
}

/// What each channel of the document must carry, by its name.
fn expected_channels() -> BTreeMap<String, BTreeSet<String>> {
    let set = |types: &[&str]| types.iter().map(|t| (*t).to_owned()).collect();
    let mut channels = BTreeMap::from([
        (
            "{ns}.intake.{channel}".to_owned(),
            set(&[
                proposal::SUBMITTED_V1,
                proposal::REVISED_V1,
                proposal::WITHDRAWN_V1,
            ]),
        ),
        (
            "{ns}.proposal.{proposal_id}".to_owned(),
            set(ProposalEvent::all_types()),
        ),
        (
            "{ns}.review.{proposal_id}".to_owned(),
            set(ReviewEvent::all_types()),
        ),
        (
            "{ns}.review.alliance-{alliance_id}".to_owned(),
            set(AllianceEvent::all_types()),
        ),
        (
            "{ns}.ledger.{fund_id}".to_owned(),
            set(LedgerEvent::all_types()),
        ),
        ("{ns}.deadletter.{source}".to_owned(), set(&[DEADLETTER_V1])),
        (
            "{ns}.receipt.{event_id}".to_owned(),
            set(&[RUNTIME_MESSAGES[0]]),
        ),
        (
            "{ns}.decision.{stream}.{aggregate}".to_owned(),
            set(&[RUNTIME_MESSAGES[1]]),
        ),
    ]);
    for command in commands::ALL {
        channels.insert(format!("{{ns}}.{}", command.id()), set(&[&command.id()]));
    }
    channels
}

#[test]
fn every_channel_is_a_subject_of_the_contract_and_carries_exactly_its_messages() {
    let base = document_base();
    let channels = base.root["channels"].as_object().expect("channels");
    let expected = expected_channels();
    for (name, channel) in channels {
        let Some(carries) = expected.get(name) else {
            panic!("channel {name} is no subject of the contract");
        };
        assert_eq!(&channel_messages(&base, channel), carries, "channel {name}");
    }
    for name in expected.keys() {
        assert!(
            channels.contains_key(name),
            "the document lacks channel {name}"
        );
    }
    for kind in StreamKind::ALL {
        let prefix = format!("{{ns}}.{}.", kind.token());
        assert!(
            channels.keys().any(|c| c.starts_with(&prefix)),
            "no channel for stream {}",
            kind.suffix()
        );
    }
}

#[test]
fn the_document_references_the_committed_schema_of_every_event_and_command() {
    let base = document_base();
    let messages = messages_by_name(&base);
    let mut stems: Vec<String> = schema::event_schemas()
        .into_iter()
        .map(|(t, _)| t.to_owned())
        .collect();
    stems.extend(commands::ALL.iter().map(CommandSpec::id));
    stems.push(DEADLETTER_V1.to_owned());
    for stem in stems {
        let payload = messages[&stem]["payload"].to_string();
        let reference = format!("../schemas/{stem}.json");
        assert!(
            payload.contains(&reference),
            "message {stem} does not reference {reference}"
        );
    }
}

// --- the comparer itself ---------------------------------------------------------------------

fn allocate_budget() -> Value {
    let spec = commands::ALL
        .iter()
        .find(|c| c.name == "allocate_budget")
        .expect("in the table");
    (spec.schema)()
}

#[test]
fn the_comparer_finds_nothing_between_a_schema_and_itself() {
    for (_, schema) in schema::committed_schemas() {
        let shape = generated_shape(&schema);
        assert!(!shape.is_empty());
        assert_eq!(differences(&shape, &shape), Vec::<String>::new());
    }
}

#[test]
fn the_comparer_reports_a_field_the_type_gained() {
    let documented = generated_shape(&allocate_budget());
    let mut gained = allocate_budget();
    gained["properties"]["reason"] = serde_json::json!({"type": "string"});
    gained["required"]
        .as_array_mut()
        .expect("required")
        .push("reason".into());
    assert_eq!(
        differences(&documented, &generated_shape(&gained)),
        ["reason: missing from the document"]
    );
}

#[test]
fn the_comparer_reports_a_field_the_type_lost() {
    let documented = generated_shape(&allocate_budget());
    let mut lost = allocate_budget();
    lost["properties"]
        .as_object_mut()
        .expect("properties")
        .remove("land_cents");
    lost["required"]
        .as_array_mut()
        .expect("required")
        .retain(|f| f != "land_cents");
    assert_eq!(
        differences(&documented, &generated_shape(&lost)),
        ["land_cents: in the document, not in the type"]
    );
}

#[test]
fn the_comparer_reports_a_field_that_became_optional_or_changed_its_type() {
    let documented = generated_shape(&allocate_budget());
    let mut optional = allocate_budget();
    optional["required"]
        .as_array_mut()
        .expect("required")
        .retain(|f| f != "commit_deadline");
    assert_eq!(
        differences(&documented, &generated_shape(&optional)),
        ["commit_deadline: required is true in the document, false in the type"]
    );
    let mut retyped = allocate_budget();
    retyped["properties"]["esf_cents"] = serde_json::json!({"type": "number"});
    assert_eq!(
        differences(&documented, &generated_shape(&retyped)),
        ["esf_cents: integer in the document, number in the type"]
    );
}

#[test]
fn the_comparer_reports_a_nested_field_and_an_enum_value() {
    let spec = commands::ALL
        .iter()
        .find(|c| c.name == "register_alliance")
        .expect("in the table");
    let generated = (spec.schema)();
    let documented = generated_shape(&generated);
    let mut nested = generated.clone();
    nested["$defs"]["PartnerInput"]["properties"]["email"] = serde_json::json!({"type": "string"});
    assert_eq!(
        differences(&documented, &generated_shape(&nested)),
        ["partners[].email: missing from the document"]
    );
    let mut region = generated;
    region["$defs"]["RegionCategory"]["oneOf"]
        .as_array_mut()
        .expect("oneOf")
        .push(serde_json::json!({"const": "outermost", "type": "string"}));
    assert_eq!(
        differences(&documented, &generated_shape(&region)),
        ["region: enum[more_developed|transition] in the document, enum[more_developed|outermost|transition] in the type"]
    );
}

#[test]
fn a_payload_written_out_in_the_document_is_compared_like_a_referenced_one() {
    let yaml = r#"
payload:
  allOf:
    - type: object
      required: [command_id, data]
      properties:
        command_id: {type: string, format: uuid}
        actor: {type: [string, "null"]}
        correlation_id: {type: [string, "null"]}
        data: {type: object}
    - properties:
        data:
          type: object
          required: [fund_id, esf_cents, land_cents, commit_deadline]
          properties:
            fund_id: {type: string}
            esf_cents: {type: integer}
            land_cents: {type: integer}
            commit_deadline: {type: string, format: date}
"#;
    let docs = yaml_rust2::YamlLoader::load_from_str(yaml).expect("YAML");
    let doc = yaml_to_json(&docs[0]);
    let base = Base {
        root: doc.clone(),
        dir: repo().join("docs"),
    };
    let spec = commands::ALL
        .iter()
        .find(|c| c.name == "allocate_budget")
        .expect("in the table");
    let documented = shape_of(&doc["payload"], &base);
    assert_eq!(
        differences(&documented, &command_shape(spec)),
        Vec::<String>::new()
    );
    let mut drifted = doc;
    drifted["payload"]["allOf"][1]["properties"]["data"]["properties"]
        .as_object_mut()
        .expect("properties")
        .remove("land_cents");
    drifted["payload"]["allOf"][1]["properties"]["data"]["required"]
        .as_array_mut()
        .expect("required")
        .retain(|f| f != "land_cents");
    let documented = shape_of(&drifted["payload"], &base);
    assert_eq!(
        differences(&documented, &command_shape(spec)),
        ["data.land_cents: missing from the document"]
    );
}
