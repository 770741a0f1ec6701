//! Compares real response bodies with the response schemas of `docs/openapi.json`, field by field.
//!
//! [`Document::check`] walks a JSON value and its schema together: `$ref`s are resolved, `allOf`
//! parts merged, `oneOf` must match exactly one alternative and `anyOf` at least one; `type`,
//! `enum`, `minimum` and the `uuid`, `date` and `date-time` formats are checked; every required
//! field must be present and **no field may appear that the schema does not list** (an object
//! schema with `properties` is closed, whatever its `additionalProperties` says, unless that is a
//! schema, which then checks the extra fields); array items are checked one by one. It returns
//! every mismatch, each with the JSON path where it was found, so a body that gains or loses a
//! field fails with its name.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The OpenAPI document.
pub struct Document {
    root: Value,
}

/// The most `$ref`s followed in a row (a cycle of references is a broken document).
const REF_DEPTH_MAX: usize = 32;

impl Document {
    /// Parses the document.
    pub fn parse(json: &str) -> Self {
        Self {
            root: serde_json::from_str(json).expect("the OpenAPI document is JSON"),
        }
    }

    /// The documented response of `GET path` with `status`, its `$ref` resolved; `None` if the
    /// document has none.
    pub fn response(&self, path: &str, status: u16) -> Option<&Value> {
        let response = self
            .root
            .get("paths")?
            .get(path)?
            .get("get")?
            .get("responses")?
            .get(status.to_string())?;
        Some(self.resolve(response))
    }

    /// Every documented path.
    pub fn paths(&self) -> Vec<String> {
        self.root["paths"]
            .as_object()
            .map(|paths| paths.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A schema of `components/schemas`.
    pub fn schema(&self, name: &str) -> &Value {
        &self.root["components"]["schemas"][name]
    }

    /// Follows `$ref`s until a value without one.
    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        for _ in 0..REF_DEPTH_MAX {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return value;
            };
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{reference} is not a local reference"));
            value = self
                .root
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} does not resolve"));
        }
        panic!("more than {REF_DEPTH_MAX} references in a row")
    }

    /// Every mismatch between `body` and `schema`, as `<JSON path>: <what>`; empty when it fits.
    pub fn check(&self, schema: &Value, body: &Value) -> Vec<String> {
        let mut out = Vec::new();
        self.check_at(schema, body, "$", &mut out);
        out.sort();
        out
    }

    fn check_at(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        let schema = self.flatten(schema);
        let schema = schema.as_ref();
        if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
            self.check_alternatives(alternatives, value, at, true, out);
        }
        if let Some(alternatives) = schema.get("anyOf").and_then(Value::as_array) {
            self.check_alternatives(alternatives, value, at, false, out);
        }
        if let Some(types) = schema.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !allowed.iter().any(|t| is_of_type(value, t)) {
                out.push(format!(
                    "{at}: expected {allowed:?}, found {}",
                    type_of(value)
                ));
                return;
            }
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            if !values.contains(value) {
                let allowed = Value::Array(values.clone());
                out.push(format!("{at}: {value} is not one of {allowed}"));
            }
        }
        if let (Some(minimum), Some(number)) = (
            schema.get("minimum").and_then(Value::as_i64),
            value.as_i64(),
        ) {
            if number < minimum {
                out.push(format!("{at}: {number} is below the minimum {minimum}"));
            }
        }
        if let (Some(format), Some(text)) =
            (schema.get("format").and_then(Value::as_str), value.as_str())
        {
            if !fits_format(format, text) {
                out.push(format!("{at}: {text:?} is not a {format}"));
            }
        }
        match value {
            Value::Object(members) => self.check_object(schema, members, at, out),
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (index, item) in items.iter().enumerate() {
                        self.check_at(item_schema, item, &format!("{at}[{index}]"), out);
                    }
                }
            }
            _ => {
                if schema.get("properties").is_some() && schema.get("type").is_none() {
                    out.push(format!(
                        "{at}: expected an object, found {}",
                        type_of(value)
                    ));
                }
            }
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        members: &Map<String, Value>,
        at: &str,
        out: &mut Vec<String>,
    ) {
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !members.contains_key(required) {
                out.push(format!("{at}: the required field {required:?} is missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let extra = schema
            .get("additionalProperties")
            .filter(|extra| extra.is_object());
        for (name, member) in members {
            let here = format!("{at}.{name}");
            match (properties.and_then(|p| p.get(name)), extra) {
                (Some(property), _) => self.check_at(property, member, &here, out),
                (None, Some(extra)) => self.check_at(extra, member, &here, out),
                (None, None) if properties.is_some() => {
                    out.push(format!("{here}: the schema does not list this field"));
                }
                (None, None) => {} // a free-form object (e.g. an event's `data`)
            }
        }
    }

    /// `oneOf` (exactly one alternative fits) or `anyOf` (at least one).
    fn check_alternatives(
        &self,
        alternatives: &[Value],
        value: &Value,
        at: &str,
        exactly_one: bool,
        out: &mut Vec<String>,
    ) {
        let results: Vec<Vec<String>> = alternatives
            .iter()
            .map(|alternative| self.check(alternative, value))
            .collect();
        let fitting = results.iter().filter(|errors| errors.is_empty()).count();
        if fitting == 0 {
            let closest = results.iter().min_by_key(|errors| errors.len());
            out.push(format!("{at}: no alternative fits"));
            for error in closest.into_iter().flatten() {
                // The alternative was checked from its own root: show where in the body.
                out.push(error.replacen('$', at, 1));
            }
        } else if exactly_one && fitting > 1 {
            out.push(format!("{at}: {fitting} alternatives of a oneOf fit"));
        }
    }

    /// The schema with its `$ref` resolved and its `allOf` parts merged into it (properties and
    /// required fields added up, the first `type` and `additionalProperties` kept).
    fn flatten<'a>(&'a self, schema: &'a Value) -> Cow<'a, Value> {
        let schema = self.resolve(schema);
        let Some(parts) = schema.get("allOf").and_then(Value::as_array) else {
            return Cow::Borrowed(schema);
        };
        let mut merged = schema.as_object().cloned().unwrap_or_default();
        merged.remove("allOf");
        for part in parts {
            let part = self.flatten(part);
            let Some(part) = part.as_object() else {
                continue;
            };
            for (key, value) in part {
                match (key.as_str(), merged.get_mut(key)) {
                    ("properties", Some(Value::Object(properties))) => {
                        if let Value::Object(more) = value {
                            properties.extend(more.clone());
                        }
                    }
                    ("required", Some(Value::Array(required))) => {
                        if let Value::Array(more) = value {
                            required.extend(more.iter().cloned());
                        }
                    }
                    (_, Some(_)) => {}
                    (_, None) => {
                        merged.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        Cow::Owned(Value::Object(merged))
    }
}

fn is_of_type(value: &Value, json_type: &str) -> bool {
    match json_type {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => false,
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn fits_format(format: &str, text: &str) -> bool {
    match format {
        "uuid" => Uuid::parse_str(text).is_ok(),
        "date" => NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        "date-time" => DateTime::parse_from_rfc3339(text).is_ok(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document() -> Document {
        Document::parse(buendel_api::OPENAPI_JSON)
    }

    /// A `Money` body that fits the document.
    fn money() -> Value {
        let figures = json!({
            "reserved": 0, "committed": 300, "unpaid": 150, "disbursed": 150,
            "recovered": 50, "receivable": 30, "repaid": 20
        });
        json!({
            "fund_id": "non-2021-2027",
            "status": "committed",
            "release_reason": null,
            "requested": {"esf_cents": 250, "land_cents": 50},
            "esf_plus": figures,
            "land": figures,
            "total": figures,
            "last_sequence": 7,
            "updated_at": "2026-04-01T09:00:07Z"
        })
    }

    #[test]
    fn a_body_that_fits_its_schema_has_no_mismatch() {
        let document = document();
        assert_eq!(
            document.check(document.schema("Money"), &money()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_body_with_a_field_the_schema_does_not_list_fails_with_that_field() {
        let document = document();
        let mut body = money();
        body["esf_plus"]["interest"] = json!(5);

        let errors = document.check(document.schema("Money"), &body);

        assert_eq!(
            errors,
            ["$.esf_plus.interest: the schema does not list this field"]
        );
    }

    #[test]
    fn a_body_without_a_required_field_fails_with_that_field() {
        let document = document();
        let mut body = money();
        body.as_object_mut().expect("object").remove("fund_id");

        let errors = document.check(document.schema("Money"), &body);

        assert_eq!(errors, ["$: the required field \"fund_id\" is missing"]);
    }

    #[test]
    fn array_items_nullable_alternatives_and_all_of_parts_are_checked_one_by_one() {
        let document = document();
        let mut bad = money();
        bad["requested"] = json!({"esf_cents": 250});
        let page = json!({"items": [money(), bad], "next_cursor": null});
        let schema = json!({
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Money"}},
                "next_cursor": {"type": ["string", "null"]}
            }
        });

        let errors = document.check(&schema, &page);

        assert_eq!(
            errors,
            [
                "$.items[1].requested: no alternative fits",
                "$.items[1].requested: the required field \"land_cents\" is missing",
            ]
        );
        let detail = document.schema("ProposalDetail");
        let errors = document.check(detail, &json!({"proposal_id": "not-a-uuid"}));
        assert!(
            errors.contains(&"$.proposal_id: \"not-a-uuid\" is not a uuid".to_owned()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"$: the required field \"timeline\" is missing".to_owned()),
            "the allOf parts are merged: {errors:?}"
        );
    }

    #[test]
    fn a_wrong_type_or_a_value_outside_the_enum_is_a_mismatch() {
        let document = document();
        let mut body = money();
        body["last_sequence"] = json!("7");
        body["status"] = json!("granted");

        let errors = document.check(document.schema("Money"), &body);

        assert_eq!(
            errors,
            [
                "$.last_sequence: expected [\"integer\"], found a string",
                "$.status: \"granted\" is not one of \
                 [\"waitlisted\",\"reserved\",\"committed\",\"closed\",\"released\",null]",
            ]
        );
    }
}
