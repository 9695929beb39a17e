//! What a schema violation says: the constraint that failed, never the value that failed it.
//!
//! jsonschema's own messages quote the rejected value (`"hunter2" does not match "^[a-z]+$"`),
//! and config values hold passwords and tokens, so every message is rebuilt here from the error
//! kind: the keyword, the schema's side of the constraint (a pattern, a limit, the allowed
//! values of an `enum`) and the JSON type of the value. Property names are structure, not
//! values, and may be named.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError};
use serde_json::Value;

use crate::error::type_name;

/// The message for one violation: `does not match "^[a-z]+$"`, `expected integer, got a
/// string`, … The caller adds section and JSON path.
pub(crate) fn describe(error: &ValidationError<'_>) -> String {
    let found = type_name(error.instance());
    describe_kind(error.kind(), found)
}

fn describe_kind(kind: &ValidationErrorKind, found: &str) -> String {
    use ValidationErrorKind as K;
    match kind {
        K::Type { kind } => format!("expected {}, got {found}", expected_types(kind)),
        K::Enum { options } => format!("must be one of {}", compact(options)),
        K::Constant { expected_value } => format!("must be {}", compact(expected_value)),
        K::Pattern { pattern } => format!("does not match {pattern:?}"),
        K::BacktrackLimitExceeded { .. } | K::RegexEngineFailure { .. } => {
            "cannot be checked against its pattern (the regex engine gave up)".to_owned()
        }
        K::Format { format } => format!("is not a valid {format:?}"),
        K::MinLength { limit } => format!("must be at least {limit} character(s) long"),
        K::MaxLength { limit } => format!("must be at most {limit} character(s) long"),
        K::Minimum { limit } => format!("must be at least {limit}"),
        K::Maximum { limit } => format!("must be at most {limit}"),
        K::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
        K::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        K::MultipleOf { multiple_of } => format!("must be a multiple of {multiple_of}"),
        K::MinItems { limit } => format!("must have at least {limit} item(s)"),
        K::MaxItems { limit } => format!("must have at most {limit} item(s)"),
        K::AdditionalItems { limit } => format!("must have at most {limit} item(s)"),
        K::UniqueItems => "items must be unique".to_owned(),
        K::Contains => "no item matches the `contains` schema".to_owned(),
        K::MinProperties { limit } => format!("must have at least {limit} key(s)"),
        K::MaxProperties { limit } => format!("must have at most {limit} key(s)"),
        K::Required { property } => format!("missing required key {}", compact(property)),
        K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
            format!(
                "unknown key(s) {} (the schema allows no other keys)",
                quoted_list(unexpected)
            )
        }
        K::UnevaluatedItems { .. } => "has items the schema does not allow".to_owned(),
        K::PropertyNames { error } => format!("a key {}", describe(error)),
        K::AnyOf { .. } => "matches none of the `anyOf` schemas".to_owned(),
        K::OneOfNotValid { .. } => "matches none of the `oneOf` schemas".to_owned(),
        K::OneOfMultipleValid { .. } => "matches more than one of the `oneOf` schemas".to_owned(),
        K::Not { .. } => "must not match the `not` schema".to_owned(),
        K::FalseSchema => "is not allowed here (the schema is `false`)".to_owned(),
        K::ContentEncoding { content_encoding } => {
            format!("is not valid {content_encoding:?} content")
        }
        K::FromUtf8 { .. } => "decoded content is not UTF-8".to_owned(),
        K::ContentMediaType { content_media_type } => {
            format!("is not valid {content_media_type:?} content")
        }
        K::Custom { keyword, .. } => format!("fails the `{keyword}` rule"),
        K::Referencing(_) => {
            "cannot be checked: a `$ref` of the schema does not resolve".to_owned()
        }
    }
}

fn expected_types(kind: &TypeKind) -> String {
    let names: Vec<&str> = match kind {
        TypeKind::Single(single) => vec![single.as_str()],
        TypeKind::Multiple(set) => set.iter().map(JsonType::as_str).collect(),
    };
    match names.as_slice() {
        [] => "no type".to_owned(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// One-line JSON of a schema value (an `enum`'s options, a `const`).
fn compact(value: &Value) -> String {
    value.to_string()
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MARKER: &str = "SECRET-MARKER-9f3a";

    /// The messages for `instance` under `schema`, compiled as the store compiles schemas.
    fn messages(schema: Value, instance: Value) -> Vec<String> {
        messages_in(jsonschema::Draft::Draft4, schema, instance)
    }

    fn messages_in(draft: jsonschema::Draft, schema: Value, instance: Value) -> Vec<String> {
        let validator = jsonschema::options()
            .with_draft(draft)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        validator
            .iter_errors(&instance)
            .map(|e| describe(&e))
            .collect()
    }

    #[test]
    fn messages_name_the_constraint_and_never_the_value() {
        let cases = [
            (
                json!({"pattern": "^[A-Za-z0-9]{20,}$"}),
                "does not match \"^[A-Za-z0-9]{20,}$\"",
            ),
            (json!({"enum": ["a", "b"]}), "must be one of [\"a\",\"b\"]"),
            (json!({"type": "integer"}), "expected integer, got a string"),
            (
                json!({"type": ["integer", "null"]}),
                "expected null or integer, got a string",
            ),
            (
                json!({"minLength": 100}),
                "must be at least 100 character(s) long",
            ),
            (
                json!({"maxLength": 3}),
                "must be at most 3 character(s) long",
            ),
            (json!({"format": "ipv4"}), "is not a valid \"ipv4\""),
            (
                json!({"not": {"type": "string"}}),
                "must not match the `not` schema",
            ),
            (
                json!({"anyOf": [{"type": "integer"}, {"type": "boolean"}]}),
                "matches none of the `anyOf` schemas",
            ),
        ];
        for (schema, expected) in cases {
            let got = messages(schema.clone(), json!(MARKER));
            assert_eq!(got, vec![expected.to_owned()], "{schema}");
        }
        // `const` is not a Draft 4 keyword; a schema may still declare a later draft.
        let got = messages_in(
            jsonschema::Draft::Draft7,
            json!({"const": "x"}),
            json!(MARKER),
        );
        assert_eq!(got, vec!["must be \"x\"".to_owned()]);
    }

    #[test]
    fn keys_are_structure_and_may_be_named() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": false,
            "required": ["must"]
        });
        let got = messages(schema, json!({"a": MARKER, "extra": MARKER}));
        assert!(
            got.contains(&"missing required key \"must\"".to_owned()),
            "{got:?}"
        );
        assert!(
            got.contains(&"unknown key(s) \"extra\" (the schema allows no other keys)".to_owned()),
            "{got:?}"
        );
        assert!(got.iter().all(|m| !m.contains(MARKER)), "{got:?}");
    }

    #[test]
    fn numeric_and_collection_limits_name_the_limit() {
        assert_eq!(
            messages(json!({"minimum": 1}), json!(0)),
            ["must be at least 1"]
        );
        assert_eq!(
            messages(json!({"maxItems": 1}), json!([1, 2])),
            ["must have at most 1 item(s)"]
        );
        assert_eq!(
            messages(json!({"uniqueItems": true}), json!([1, 1])),
            ["items must be unique"]
        );
    }
}
