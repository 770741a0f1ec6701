//! Hostile commands: every command of the contract's table ([`commands::ALL`]), every field of its
//! `data` made hostile (missing, null, the wrong type, huge, overflowing, a bad date or id, a
//! control character, an unknown field beside it), and payloads that are no command at all, sent
//! over the real request/reply subjects. Each gets a JSON error reply with a stable code, none
//! times out, and the services answer as before afterwards.

use futures::StreamExt as _;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use buendel_contract::commands::{self, CommandSpec};

use crate::helpers::{spawn_app, submit, TestApp};

/// Requests in flight at once.
const AT_ONCE: usize = 16;

/// What the reply to a hostile request must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Must {
    /// Refused with exactly this code.
    Refuse(&'static str),
    /// Answered, refused or not (a null for an optional field is its absence; a negative amount
    /// may be a valid cut): if refused, with a stable code.
    Answer,
}

/// `schema` with a `$ref` into `defs` followed.
fn resolve<'a>(schema: &'a Value, defs: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            resolve(&defs[name], defs)
        }
        None => schema,
    }
}

/// The first JSON type `schema` allows other than `null`.
fn type_of(schema: &Value) -> &str {
    match &schema["type"] {
        Value::String(t) => t,
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ => "",
    }
}

/// A value of the shape `schema` describes (the required fields of objects only).
fn example(schema: &Value, defs: &Value) -> Value {
    let schema = resolve(schema, defs);
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[key].as_array() {
            let chosen = options
                .iter()
                .find(|o| type_of(resolve(o, defs)) != "null")
                .unwrap_or(&options[0]);
            return example(chosen, defs);
        }
    }
    match type_of(schema) {
        "string" => match schema["format"].as_str() {
            Some("uuid") => json!(Uuid::new_v4()),
            Some("date") => json!(buendel_testing::test_day(30)),
            _ => json!("hostile"),
        },
        "integer" => json!(100),
        "number" => json!(1),
        "boolean" => json!(true),
        "array" => json!([example(&schema["items"], defs)]),
        "object" => {
            let mut object = Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                object.insert(name.to_owned(), example(&schema["properties"][name], defs));
            }
            Value::Object(object)
        }
        _ => Value::Null,
    }
}

/// A value of another JSON type than `schema` allows.
fn wrong_type(schema: &Value) -> Value {
    match type_of(schema) {
        "string" | "" => json!(42),
        "integer" | "number" => json!("12"),
        "boolean" => json!("yes"),
        "array" => json!({"a": 1}),
        _ => json!(["x"]),
    }
}

/// The hostile variants of field `name` of `data` (the field's schema `schema`).
fn field_variants(
    data: &Map<String, Value>,
    name: &str,
    schema: &Value,
    required: bool,
) -> Vec<(String, Value, Must)> {
    let with = |value: Value| {
        let mut data = data.clone();
        data.insert(name.to_owned(), value);
        Value::Object(data)
    };
    let mut variants = vec![
        (
            "null",
            with(Value::Null),
            if required {
                Must::Refuse("invalid_input")
            } else {
                Must::Answer
            },
        ),
        (
            "wrong type",
            with(wrong_type(schema)),
            Must::Refuse("invalid_input"),
        ),
        (
            "huge string",
            with(json!("x".repeat(70_000))),
            Must::Refuse("too_large"),
        ),
        ("long string", with(json!("y".repeat(10_000))), Must::Answer),
        (
            "NUL in a string",
            with(json!("a\u{0}b")),
            Must::Refuse("control_character"),
        ),
        (
            "nested a hundred deep",
            with(json!("@@deep@@")),
            Must::Refuse("nesting_too_deep"),
        ),
    ];
    if required {
        let mut without = data.clone();
        without.remove(name);
        variants.push((
            "missing",
            Value::Object(without),
            Must::Refuse("invalid_input"),
        ));
    }
    match (type_of(schema), schema["format"].as_str()) {
        ("integer", _) => {
            variants.push(("negative", with(json!(-1)), Must::Answer));
            variants.push(("zero", with(json!(0)), Must::Answer));
            variants.push((
                "largest safe",
                with(json!(9_007_199_254_740_991_i64)),
                Must::Answer,
            ));
            variants.push((
                "beyond a double",
                with(json!(i64::MAX)),
                Must::Refuse("number_out_of_range"),
            ));
            variants.push((
                "a fraction",
                with(json!(1.5)),
                Must::Refuse("invalid_input"),
            ));
        }
        ("string", Some("date")) => {
            for bad in ["2026-02-30", "2026-1-05", "05.01.2026", "+2026-01-05", ""] {
                variants.push(("bad date", with(json!(bad)), Must::Refuse("invalid_input")));
            }
        }
        ("string", Some("uuid")) => {
            for bad in ["not-a-uuid", "", "00000000-0000-0000-0000-00000000000g"] {
                variants.push(("bad id", with(json!(bad)), Must::Refuse("invalid_input")));
            }
        }
        _ => {}
    }
    variants
        .into_iter()
        .map(|(what, data, must)| (format!("{name}: {what}"), data, must))
        .collect()
}

/// The bytes of a command envelope around `data` (with the deep-nesting marker expanded).
fn envelope(data: &Value) -> Vec<u8> {
    let text = json!({"command_id": Uuid::new_v4(), "actor": "hostile", "data": data}).to_string();
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    text.replacen("\"@@deep@@\"", &deep, 1).into_bytes()
}

/// Every hostile request of one command: per field, then payloads that are no command.
fn requests(spec: &CommandSpec) -> Vec<(String, Vec<u8>, Must)> {
    let schema = (spec.schema)();
    let defs = &schema["$defs"];
    let base = example(&schema, defs);
    assert!(
        (spec.accepts)(&base),
        "{}: the example {base} reads",
        spec.id()
    );
    let data = base.as_object().cloned().unwrap_or_default();
    let required = spec.required_fields();
    let mut out = Vec::new();
    for (name, field) in schema["properties"].as_object().into_iter().flatten() {
        let field = resolve(field, defs);
        for (what, data, must) in field_variants(&data, name, field, required.contains(name)) {
            out.push((what, envelope(&data), must));
        }
    }
    let mut unknown = data.clone();
    unknown.insert("surplus".into(), json!(1));
    out.push((
        "an unknown field".into(),
        envelope(&Value::Object(unknown)),
        Must::Refuse("invalid_input"),
    ));
    let whole: [(&str, Vec<u8>, &str); 9] = [
        ("not JSON", b"submit it!".to_vec(), "not_json"),
        ("nothing", Vec::new(), "not_json"),
        (
            "invalid UTF-8",
            b"{\"command_id\":\"\xff\xfe\",\"data\":{}}".to_vec(),
            "invalid_utf8",
        ),
        ("an array", b"[]".to_vec(), "invalid_input"),
        (
            "no command id",
            json!({"data": base}).to_string().into_bytes(),
            "invalid_input",
        ),
        (
            "a bad command id",
            json!({"command_id": "x", "data": base})
                .to_string()
                .into_bytes(),
            "invalid_input",
        ),
        (
            "data no object",
            json!({"command_id": Uuid::new_v4(), "data": 1})
                .to_string()
                .into_bytes(),
            "invalid_input",
        ),
        (
            "an unknown envelope member",
            json!({"command_id": Uuid::new_v4(), "data": base, "priority": "high"})
                .to_string()
                .into_bytes(),
            "invalid_input",
        ),
        (
            "truncated",
            {
                let mut bytes = envelope(&base);
                bytes.truncate(bytes.len() / 2);
                bytes
            },
            "not_json",
        ),
    ];
    for (what, bytes, code) in whole {
        out.push((what.to_owned(), bytes, Must::Refuse(code)));
    }
    out
}

/// Sends `payload` to `spec`'s subject; returns the reply as JSON (the test fails on a timeout or
/// a reply that is not JSON).
async fn send_raw(app: &TestApp, spec: &CommandSpec, payload: Vec<u8>) -> Value {
    let prefix = app.settings.namespace.command_prefix(spec.service.as_str());
    let subject = format!("{prefix}.{}", spec.name);
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        app.client.request(subject.clone(), payload.into()),
    )
    .await
    .unwrap_or_else(|_| panic!("{subject}: no reply in 10 s"))
    .unwrap_or_else(|e| panic!("{subject}: {e}"));
    serde_json::from_slice(&reply.payload)
        .unwrap_or_else(|e| panic!("{subject}: the reply is not JSON ({e})"))
}

/// Whether `code` looks like a stable code: lower-case words joined by underscores.
fn is_stable_code(code: &str) -> bool {
    !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

#[tokio::test]
async fn every_field_of_every_command_made_hostile_is_refused_with_a_stable_code_and_the_services_go_on(
) {
    let app = spawn_app().await;
    let cases: Vec<(&CommandSpec, String, Vec<u8>, Must)> = commands::ALL
        .iter()
        .flat_map(|spec| {
            requests(spec)
                .into_iter()
                .map(move |(what, bytes, must)| (spec, what, bytes, must))
        })
        .collect();
    assert!(cases.len() > 19 * 20, "{} cases", cases.len());
    let failures: Vec<String> = futures::stream::iter(cases)
        .map(|(spec, what, bytes, must)| {
            let app = &app;
            async move {
                let reply = send_raw(app, spec, bytes).await;
                let code = reply["error"]["code"].as_str().unwrap_or_default();
                let refused = reply["ok"] == false;
                let right = match must {
                    Must::Refuse(expected) => refused && code == expected,
                    Must::Answer => {
                        reply["ok"] == true
                            || (refused && is_stable_code(code) && code != "unavailable")
                    }
                };
                let has_message = !refused || reply["error"]["message"].is_string();
                (!(right && has_message))
                    .then(|| format!("{} {what}: expected {must:?}, got {reply}", spec.id()))
            }
        })
        .buffer_unordered(AT_ONCE)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Every service still answers: discovery, and a valid command.
    for service in commands::Service::ALL {
        let name = app.settings.namespace.service_name(service.as_str());
        app.client
            .request(format!("$SRV.PING.{name}"), bytes::Bytes::new())
            .await
            .unwrap_or_else(|e| panic!("{name} answers no ping: {e}"));
    }
    let reply = app.send(&submit(Uuid::new_v4())).await;
    assert!(reply.is_ok(), "{reply:?}");
    app.cleanup().await;
}
