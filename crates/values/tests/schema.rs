//! OpenAPI handling: implied additionalProperties, defaults, x-extend, x-required-for-helm,
//! error reporting. Exercised through the store, the way the operator uses them.
#![allow(clippy::unwrap_used)]

use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use values::{
    Error, GlobalSpec, ModuleSpec, ValuesStore, apply_defaults, extend_values_schema,
    prepare_schema,
};

fn module(config: Option<Value>, values: Option<Value>, statics: Value) -> ModuleSpec {
    ModuleSpec {
        key: "m".into(),
        name: "m".into(),
        module_values: statics,
        config_schema: config,
        values_schema: values,
        ..Default::default()
    }
}

fn messages(errors: &values::Errors) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn additional_properties_false_is_implied_recursively_but_explicit_values_are_kept() {
    let prepared = prepare_schema(
        &json!({
            "type": "object",
            "properties": {
                "nested": {"type": "object", "properties": {"a": {"type": "string"}}},
                "list": {"type": "array", "items": {"type": "object", "properties": {"b": {}}}},
                "free": {"type": "object", "properties": {"c": {}}, "additionalProperties": true},
                "open": {"type": "object", "properties": {"d": {}}, "x-kubernetes-preserve-unknown-fields": true},
                "x-named-property": {"type": "string"}
            },
            "x-custom": 1
        }),
        false,
    );
    assert_eq!(prepared["additionalProperties"], json!(false));
    assert_eq!(
        prepared["properties"]["nested"]["additionalProperties"],
        json!(false)
    );
    assert_eq!(
        prepared["properties"]["list"]["items"]["additionalProperties"],
        json!(false)
    );
    assert_eq!(
        prepared["properties"]["free"]["additionalProperties"],
        json!(true)
    );
    assert!(
        prepared["properties"]["open"]
            .get("additionalProperties")
            .is_none()
    );
    assert!(
        prepared.get("x-custom").is_none(),
        "x-* keywords are stripped"
    );
    assert!(
        prepared["properties"].get("x-named-property").is_some(),
        "property names starting with x- are not keywords"
    );
}

#[test]
fn unknown_fields_anywhere_are_rejected_with_their_paths() {
    let schema = json!({
        "type": "object",
        "properties": {
            "nested": {"type": "object", "properties": {"a": {"type": "string"}}},
            "list": {"type": "array", "items": {"type": "object", "properties": {"b": {}}}}
        }
    });
    let error = ValuesStore::new(
        GlobalSpec::default(),
        vec![module(
            None,
            Some(schema),
            json!({"nested": {"a": "x", "typo": 1}, "list": [{"b": 1}, {"c": 2}], "extra": true}),
        )],
    )
    .unwrap_err();
    let text = messages(&error);
    assert_eq!(text.len(), 3, "{text:?}");
    for expected in [
        "m: /nested: unknown key(s) \"typo\" (the schema allows no other keys)",
        "m: /list/1: unknown key(s) \"c\" (the schema allows no other keys)",
        "m: (root): unknown key(s) \"extra\" (the schema allows no other keys)",
    ] {
        assert!(
            text.iter().any(|m| m == expected),
            "{expected} not in {text:#?}"
        );
    }
}

/// Issue 8 §5: config values and values a hook produced are rejected naming the path and the
/// constraint, never the value (they hold passwords).
#[test]
fn schema_errors_name_path_and_constraint_but_never_the_value() {
    const MARKER: &str = "SECRET-MARKER-9f3a";
    let config_schema = json!({
        "type": "object",
        "properties": {
            "password": {"type": "string", "pattern": "^[A-Za-z0-9]{20,}$"},
            "mode": {"type": "string", "enum": ["fast", "safe"]},
            "replicas": {"type": "integer"},
            "name": {"type": "string", "minLength": 40},
            "address": {"type": "string", "format": "ipv4"}
        }
    });
    let mut store = ValuesStore::new(
        GlobalSpec::default(),
        vec![module(Some(config_schema), None, json!({}))],
    )
    .unwrap();
    let config = values::ConfigValues::from_yaml_str(
        &format!(
            "m:\n  password: {MARKER}-\n  mode: {MARKER}\n  replicas: {MARKER}\n  name: {MARKER}\n  address: {MARKER}\n  extraKey: {MARKER}\n"
        ),
        store.known_keys(),
    )
    .unwrap();
    let errors = store.apply_config(config).unwrap_err();
    let text = messages(&errors);
    for expected in [
        "m: /password: does not match \"^[A-Za-z0-9]{20,}$\"",
        "m: /mode: must be one of [\"fast\",\"safe\"]",
        "m: /replicas: expected integer, got a string",
        "m: /name: must be at least 40 character(s) long",
        "m: /address: is not a valid \"ipv4\"",
    ] {
        assert!(
            text.iter().any(|m| m == expected),
            "{expected} not in {text:#?}"
        );
    }
    let unknown: Vec<_> = text
        .iter()
        .filter(|m| m.contains("unknown key(s) \"extraKey\""))
        .collect();
    assert_eq!(
        unknown.len(),
        1,
        "the extra key is named (keys are structure): {text:#?}"
    );

    // A hook's values patch is checked by the same schemas, with the same messages.
    let values_schema =
        json!({"type": "object", "properties": {"token": {"type": "string", "maxLength": 4}}});
    let mut store = ValuesStore::new(
        GlobalSpec::default(),
        vec![module(None, Some(values_schema), json!({}))],
    )
    .unwrap();
    let patch: values::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/m/token", "value": MARKER}
    ]))
    .unwrap();
    let source = values::PatchSource::ModuleHook {
        hook: "hooks/set-token".into(),
        key: "m".into(),
    };
    let errors = store
        .apply_patch(&source, values::PatchTarget::Values, &patch)
        .unwrap_err();
    assert_eq!(
        messages(&errors),
        ["m: /token: must be at most 4 character(s) long"]
    );
    for text in [text.join("\n"), errors.to_string()] {
        assert!(
            !text.contains(MARKER),
            "a value leaked into an error: {text}"
        );
    }
}

#[test]
fn defaults_fill_missing_fields_and_recurse_into_existing_or_defaulted_objects() {
    let schema = json!({
        "type": "object",
        "definitions": {"port": {"type": "integer", "default": 80}},
        "properties": {
            "replicas": {"type": "integer", "default": 2},
            "present": {"type": "object", "properties": {"inner": {"default": "i"}}},
            "created": {"type": "object", "default": {}, "properties": {"deep": {"default": true}}},
            "absent": {"type": "object", "properties": {"never": {"default": 1}}},
            "port": {"$ref": "#/definitions/port"},
            "items": {"type": "array", "items": {"type": "object", "properties": {"w": {"default": 1}}}},
            "all": {"allOf": [{"type": "object", "properties": {"z": {"default": "z"}}}]}
        }
    });
    let mut value = json!({"replicas": 5, "present": {}, "items": [{}, {"w": 3}], "all": {}});
    apply_defaults(&schema, &mut value);
    assert_eq!(
        value,
        json!({
            "replicas": 5,
            "present": {"inner": "i"},
            "items": [{"w": 1}, {"w": 3}],
            "all": {"z": "z"},
            "created": {"deep": true},
            "port": 80
        })
    );
}

#[test]
fn x_extend_inherits_config_schema_properties_required_and_definitions() {
    let config = json!({
        "type": "object",
        "definitions": {"d": {"type": "string"}},
        "required": ["a"],
        "properties": {"a": {"type": "string"}, "shared": {"type": "string"}},
        "x-doc": "config"
    });
    let values = json!({
        "x-extend": {"schema": "config-values.yaml"},
        "type": "object",
        "required": ["internal"],
        "properties": {"internal": {"type": "object"}, "shared": {"type": "integer"}}
    });
    let extended = extend_values_schema(&values, Some(&config));
    assert_eq!(extended["required"], json!(["internal", "a"]));
    assert_eq!(extended["properties"]["a"], json!({"type": "string"}));
    assert_eq!(
        extended["properties"]["shared"],
        json!({"type": "integer"}),
        "own entries win"
    );
    assert_eq!(extended["definitions"]["d"], json!({"type": "string"}));
    assert_eq!(extended["x-doc"], json!("config"));
    assert!(extended.get("x-extend").is_none());
    assert_eq!(
        extend_values_schema(&json!({"type": "object"}), Some(&config)),
        json!({"type": "object"})
    );
}

#[test]
fn x_required_for_helm_is_enforced_only_when_validating_for_render() {
    let values = json!({
        "type": "object",
        "x-required-for-helm": ["image"],
        "properties": {
            "image": {"type": "string"},
            "tls": {"type": "object", "default": {}, "x-required-for-helm": ["cert"], "properties": {"cert": {"type": "string"}}}
        }
    });
    let store = ValuesStore::new(
        GlobalSpec::default(),
        vec![module(None, Some(values), json!({}))],
    )
    .unwrap();
    let errors = store.validate_for_render("m").unwrap_err();
    let text = messages(&errors);
    assert_eq!(text.len(), 2, "{text:?}");
    assert!(
        text.iter()
            .any(|m| m.starts_with("m: (root): ") && m.contains("image"))
    );
    assert!(
        text.iter()
            .any(|m| m.starts_with("m: /tls: ") && m.contains("cert"))
    );
    assert!(matches!(
        store.validate_for_render("nope").unwrap_err().0[0],
        Error::UnknownModule { .. }
    ));
}

#[test]
fn nullable_allows_null_and_x_keywords_do_not_break_compilation() {
    let values = json!({
        "type": "object",
        "x-examples": [{"a": null}],
        "properties": {"a": {"type": "string", "nullable": true, "x-doc-default": "x"}}
    });
    let store = ValuesStore::new(
        GlobalSpec::default(),
        vec![module(None, Some(values), json!({"a": null}))],
    );
    assert!(store.is_ok(), "{:?}", store.err().map(|e| e.to_string()));
}

#[test]
fn invalid_schemas_are_reported_with_section_and_file() {
    let error = ValuesStore::new(
        GlobalSpec {
            config_schema: Some(json!({"type": "object", "properties": {"a": {"type": 7}}})),
            ..Default::default()
        },
        vec![module(
            None,
            Some(json!({"type": "object", "properties": {"a": {"minimum": "x"}}})),
            json!({}),
        )],
    )
    .unwrap_err();
    let text = messages(&error);
    assert_eq!(text.len(), 2, "{text:?}");
    assert!(
        text[0].starts_with("global: openapi/config-values.yaml: invalid schema"),
        "{}",
        text[0]
    );
    assert!(
        text[1].starts_with("m: openapi/values.yaml: invalid schema"),
        "{}",
        text[1]
    );
}

#[test]
fn unsupported_schema_features_are_rejected_naming_file_and_pointer() {
    let config = json!({
        "type": "object",
        "x-deckhouse-validations": [{"expression": "self.a > 1", "message": "a > 1"}],
        "properties": {"a": {"type": "integer"}}
    });
    let values = json!({
        "type": "object",
        "properties": {
            "tls": {"$ref": "common.yaml#/definitions/tls"},
            "list": {"type": "array", "items": [{"$ref": "#/definitions/ok"}, {"$ref": "other.json"}]}
        },
        "definitions": {"ok": {"type": "string"}}
    });
    let error = ValuesStore::new(
        GlobalSpec::default(),
        vec![module(Some(config), Some(values), json!({}))],
    )
    .unwrap_err();
    let text = messages(&error);
    assert_eq!(text.len(), 3, "reported once each: {text:#?}");
    assert!(text[0].starts_with(
        "m: openapi/config-values.yaml: invalid schema: (root): `x-deckhouse-validations` (CEL rules) is not supported"
    ), "{}", text[0]);
    assert!(text.iter().any(|m| m.starts_with(
        "m: openapi/values.yaml: invalid schema: /properties/tls: `$ref: common.yaml#/definitions/tls` points to another document"
    )), "{text:#?}");
    assert!(
        text.iter().any(|m| m.starts_with(
            "m: openapi/values.yaml: invalid schema: /properties/list/items/1: `$ref: other.json`"
        )),
        "{text:#?}"
    );
}

#[test]
fn defaults_come_from_all_of_but_not_from_any_of_or_one_of_branches_which_still_validate() {
    let open = |property: Value| json!({"additionalProperties": true, "properties": property});
    let values = json!({
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "allOf": [open(json!({"a": {"default": "x"}}))],
        "anyOf": [open(json!({"b": {"default": 1}}))],
        "oneOf": [open(json!({"b": {"default": 2}}))]
    });
    let store = ValuesStore::new(
        GlobalSpec::default(),
        vec![module(None, Some(values.clone()), json!({}))],
    )
    .unwrap();
    assert_eq!(store.module_values("m").unwrap()["m"], json!({"a": "x"}));
    let error = ValuesStore::new(
        GlobalSpec::default(),
        vec![module(None, Some(values), json!({"b": "not a number"}))],
    )
    .unwrap_err();
    assert!(
        messages(&error).iter().any(|m| m.starts_with("m: /b: ")),
        "{:?}",
        messages(&error)
    );
}

#[test]
fn sections_without_a_schema_accept_any_values_like_addon_operator() {
    let mut store = ValuesStore::new(
        GlobalSpec::default(),
        vec![module(None, None, json!({"anything": [1, {"goes": true}]}))],
    )
    .unwrap();
    let data = std::collections::BTreeMap::from([(
        "m".to_string(),
        "unknownField: 1\nnested: {x: [true]}\n".to_string(),
    )]);
    let config = values::ConfigValues::decode(&data, store.known_keys()).unwrap();
    store.apply_config(config).unwrap();
    assert_eq!(
        store.module_values("m").unwrap()["m"],
        json!({"anything": [1, {"goes": true}], "unknownField": 1, "nested": {"x": [true]}})
    );
    store.validate_for_render("m").unwrap();
}
