//! `values.schema.json` (JSON Schema, as Helm validates values) → `openapi/config-values.yaml`
//! (the OpenAPI schema subset addon-operator validates config values with).

use serde_json::{Map, Value};

/// Keywords of JSON Schema that OpenAPI schemas do not have and that are dropped.
const DROPPED: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "definitions",
    "$defs",
    "examples",
];

/// Converts a JSON Schema: local `$ref`s (`#/definitions/…`, `#/$defs/…`) are inlined, keywords
/// OpenAPI lacks are dropped, and every object schema with `properties` but no
/// `additionalProperties` gets `additionalProperties: true`, because Helm allows unknown keys
/// where addon-operator would otherwise forbid them.
pub fn openapi_from_json_schema(schema: &Value) -> Value {
    walk(schema, schema, 0)
}

fn walk(node: &Value, root: &Value, depth: usize) -> Value {
    match node {
        Value::Object(m) => {
            if let Some(target) = m.get("$ref").and_then(Value::as_str)
                && depth < 32
                && let Some(resolved) = resolve(root, target)
            {
                return walk(resolved, root, depth + 1);
            }
            let mut out = Map::new();
            for (k, v) in m {
                if DROPPED.contains(&k.as_str()) || k == "$ref" {
                    continue;
                }
                let converted = match k.as_str() {
                    // maps of schemas: keys are names, not keywords
                    "properties" | "patternProperties" => Value::Object(
                        v.as_object()
                            .map(|props| {
                                props
                                    .iter()
                                    .map(|(name, s)| (name.clone(), walk(s, root, depth)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    _ => walk(v, root, depth),
                };
                out.insert(k.clone(), converted);
            }
            if out.contains_key("properties") && !out.contains_key("additionalProperties") {
                out.insert("additionalProperties".into(), Value::Bool(true));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, root, depth)).collect()),
        other => other.clone(),
    }
}

fn resolve<'a>(root: &'a Value, target: &str) -> Option<&'a Value> {
    let pointer = target.strip_prefix('#')?;
    root.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_are_inlined_and_unknown_keys_stay_allowed() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "definitions": {"port": {"type": "integer", "minimum": 1}},
            "properties": {"port": {"$ref": "#/definitions/port"}, "extra": {"type": "object", "additionalProperties": false, "properties": {}}}
        });
        assert_eq!(
            openapi_from_json_schema(&schema),
            json!({
                "type": "object",
                "properties": {"port": {"type": "integer", "minimum": 1}, "extra": {"type": "object", "additionalProperties": false, "properties": {}}},
                "additionalProperties": true
            })
        );
    }
}
