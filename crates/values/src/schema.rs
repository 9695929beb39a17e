//! OpenAPI schemas of one values section: preparation, `x-extend`, defaults and validation.
//!
//! addon-operator's schemas are OpenAPI 3.0 flavoured JSON Schema (draft 4 semantics plus
//! `nullable` and `x-*` extensions). Before compiling them with `jsonschema` we
//! 1. imply `additionalProperties: false` on every object schema with `properties` and no
//!    `additionalProperties` (recursively, like addon-operator), unless it says
//!    `x-kubernetes-preserve-unknown-fields: true`,
//! 2. turn `nullable: true` into a `"null"` type,
//! 3. for the render variant, add `x-required-for-helm` fields to `required`,
//! 4. strip `x-*` keywords so they cannot be mistaken for anything by the compiler.
//!
//! Defaults are applied from the unprepared schema: a missing property with a `default` is set,
//! then defaults recurse into every object that exists (or that a default just created).
//! Defaults are taken from `properties`, `additionalProperties`, `items`, local `$ref`s and
//! `allOf` branches; `default`s inside `anyOf`/`oneOf` branches are not applied (which branch
//! applies is only known after validation; addon-operator ignores them too). The values are
//! still validated against every branch, so this never lets an invalid value through.
//!
//! Not supported, and rejected when the schema is loaded (an error naming the section, file
//! and JSON pointer) rather than silently validating less than the author wrote:
//! `x-deckhouse-validations` (CEL rules) and `$ref` to another document (only `#/...`
//! references inside the same file are resolved).
//!
//! A section without a schema file is not validated at all: without `config-values.yaml`
//! any config values are accepted, without `values.yaml` any effective values. This is
//! addon-operator's behaviour unless `STRICT_CHECK_VALUES_MODE_ENABLED` is set (not
//! implemented here).

use jsonschema::{Draft, Validator};
use serde_json::{Map, Value};

use crate::error::Error;

/// Keywords whose value is a map of name → subschema.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "dependentSchemas",
];
/// Keywords whose value is one subschema (or, for `items`, possibly an array of them).
const SCHEMA_SINGLES: &[&str] = &[
    "items",
    "additionalProperties",
    "additionalItems",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
];
/// Keywords whose value is an array of subschemas.
const SCHEMA_ARRAYS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];

/// Calls `visit` on `schema` and on every subschema below it, parents first, with the JSON
/// pointer of each subschema inside `schema` (`""` for the root).
fn for_each_schema_mut(schema: &mut Value, visit: &mut dyn FnMut(&str, &mut Map<String, Value>)) {
    walk(schema, "", visit);
}

fn walk(schema: &mut Value, at: &str, visit: &mut dyn FnMut(&str, &mut Map<String, Value>)) {
    let Value::Object(map) = schema else { return };
    visit(at, map);
    for (keyword, child) in map.iter_mut() {
        let at = format!("{at}/{}", escape(keyword));
        let kind = (
            SCHEMA_MAPS.contains(&keyword.as_str()),
            SCHEMA_SINGLES.contains(&keyword.as_str()),
            SCHEMA_ARRAYS.contains(&keyword.as_str()),
        );
        match (kind, child) {
            ((true, _, _), Value::Object(children)) => children
                .iter_mut()
                .for_each(|(name, child)| walk(child, &format!("{at}/{}", escape(name)), visit)),
            ((_, true, _) | (_, _, true), Value::Array(children)) => children
                .iter_mut()
                .enumerate()
                .for_each(|(i, child)| walk(child, &format!("{at}/{i}"), visit)),
            ((_, true, _), child) => walk(child, &at, visit),
            _ => {}
        }
    }
}

/// Escapes one JSON pointer segment (RFC 6901).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Schema features addon-operator supports and this crate does not. A schema using one is
/// rejected when it is loaded, naming where, instead of silently checking less than its
/// author wrote: CEL rules (`x-deckhouse-validations`) and `$ref`s to other documents.
fn unsupported_features(schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for_each_schema_mut(&mut schema.clone(), &mut |at, map| {
        let at = if at.is_empty() { "(root)" } else { at };
        if map.contains_key("x-deckhouse-validations") {
            found.push(format!(
                "{at}: `x-deckhouse-validations` (CEL rules) is not supported and would not be \
                 checked; express the rule with JSON Schema keywords or remove it"
            ));
        }
        if let Some(Value::String(target)) = map.get("$ref")
            && !target.starts_with('#')
        {
            found.push(format!(
                "{at}: `$ref: {target}` points to another document; only references inside \
                 the same file (`#/definitions/...`) are supported"
            ));
        }
    });
    found
}

/// Applies `x-extend: {schema: config-values.yaml}`: the values schema inherits the config
/// schema's definitions, required, properties, patternProperties, title, description and `x-*`
/// keywords (its own entries win on conflict).
pub fn extend_values_schema(values: &Value, config: Option<&Value>) -> Value {
    let mut result = values.clone();
    let extends = values
        .pointer("/x-extend/schema")
        .and_then(Value::as_str)
        .is_some_and(|file| file == "config-values.yaml");
    let (Some(Value::Object(config)), true, Value::Object(target)) = (config, extends, &mut result)
    else {
        return result;
    };
    for (keyword, inherited) in config {
        let is_map = matches!(
            keyword.as_str(),
            "definitions" | "properties" | "patternProperties"
        );
        match target.get_mut(keyword) {
            None if is_map || keyword == "required" || is_inherited_scalar(keyword) => {
                target.insert(keyword.clone(), inherited.clone());
            }
            Some(Value::Object(own)) if is_map => {
                if let Value::Object(inherited) = inherited {
                    for (name, schema) in inherited {
                        own.entry(name.clone()).or_insert_with(|| schema.clone());
                    }
                }
            }
            Some(Value::Array(own)) if keyword == "required" => {
                for name in inherited.as_array().into_iter().flatten() {
                    if !own.contains(name) {
                        own.push(name.clone());
                    }
                }
            }
            _ => {}
        }
    }
    target.remove("x-extend");
    result
}

fn is_inherited_scalar(keyword: &str) -> bool {
    keyword == "title" || keyword == "description" || keyword.starts_with("x-")
}

/// Returns the schema as it is compiled: implied `additionalProperties: false`, `nullable`
/// translated, `x-required-for-helm` merged into `required` if `for_render`, `x-*` stripped.
pub fn prepare(schema: &Value, for_render: bool) -> Value {
    let mut prepared = schema.clone();
    for_each_schema_mut(&mut prepared, &mut |_, map| {
        if for_render {
            add_required_for_helm(map);
        }
        let preserves_unknown =
            map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        if map.contains_key("properties")
            && !map.contains_key("additionalProperties")
            && !preserves_unknown
        {
            map.insert("additionalProperties".into(), Value::Bool(false));
        }
        translate_nullable(map);
        map.retain(|keyword, _| !keyword.starts_with("x-"));
    });
    prepared
}

fn add_required_for_helm(map: &mut Map<String, Value>) {
    let Some(Value::Array(extra)) = map.get("x-required-for-helm").cloned() else {
        return;
    };
    let required = map
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(required) = required {
        for name in extra {
            if !required.contains(&name) {
                required.push(name);
            }
        }
    }
}

fn translate_nullable(map: &mut Map<String, Value>) {
    if map.remove("nullable") != Some(Value::Bool(true)) {
        return;
    }
    match map.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            map.insert("type".into(), serde_json::json!([single, "null"]));
        }
        Some(Value::Array(types)) if !types.contains(&Value::from("null")) => {
            types.push(Value::from("null"));
        }
        _ => {}
    }
    if let Some(Value::Array(allowed)) = map.get_mut("enum")
        && !allowed.contains(&Value::Null)
    {
        allowed.push(Value::Null);
    }
}

/// Applies the schema's `default`s to `value` (see the module docs for the recursion rule).
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    apply_defaults_at(schema, schema, value, 0);
}

/// Deepest `$ref` chain followed while applying defaults; a cycle stops here instead of looping.
const MAX_DEPTH: usize = 64;

fn apply_defaults_at(root: &Value, schema: &Value, value: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let schema = resolve_ref(root, schema);
    // Only allOf: defaults inside anyOf/oneOf branches are ambiguous (addon-operator ignores them).
    for sub in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        apply_defaults_at(root, sub, value, depth + 1);
    }
    match value {
        Value::Object(object) => apply_object_defaults(root, schema, object, depth),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for item in items {
                    apply_defaults_at(root, item_schema, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}

fn apply_object_defaults(
    root: &Value,
    schema: &Value,
    object: &mut Map<String, Value>,
    depth: usize,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    for (name, property) in properties.into_iter().flatten() {
        let property = resolve_ref(root, property);
        if !object.contains_key(name)
            && let Some(default) = property.get("default")
        {
            object.insert(name.clone(), default.clone());
        }
        if let Some(child) = object.get_mut(name) {
            apply_defaults_at(root, property, child, depth + 1);
        }
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|s| s.is_object()) {
        for (name, child) in object.iter_mut() {
            if properties.is_none_or(|p| !p.contains_key(name)) {
                apply_defaults_at(root, additional, child, depth + 1);
            }
        }
    }
}

/// Follows a local `$ref` (`#/definitions/...`); anything else is returned unchanged.
fn resolve_ref<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..MAX_DEPTH {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return current;
        };
        match reference.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(target) => current = target,
            None => return current,
        }
    }
    current
}

/// A compiled schema and its source (kept for defaults).
#[derive(Debug)]
pub struct Compiled {
    source: Value,
    validator: Validator,
}

impl Compiled {
    /// The schema as written (after `x-extend`), used to apply defaults.
    pub fn source(&self) -> &Value {
        &self.source
    }
}

/// The compiled schemas of one section (`global` or a module), built once and reused.
#[derive(Debug, Default)]
pub struct SectionSchemas {
    config: Option<Compiled>,
    values: Option<Compiled>,
    render: Option<Validator>,
}

impl SectionSchemas {
    /// Compiles `config-values.yaml` and `values.yaml` (with `x-extend` resolved) of `section`.
    pub fn compile(
        section: &str,
        config: Option<&Value>,
        values: Option<&Value>,
    ) -> Result<Self, Vec<Error>> {
        let mut errors = unsupported(section, "config-values.yaml", config);
        errors.extend(unsupported(section, "values.yaml", values));
        if !errors.is_empty() {
            // The compiler's own message for the same problem would only repeat it, less clearly.
            return Err(errors);
        }
        let mut build = |source: &Value, file: &'static str, for_render: bool| {
            compile_one(section, file, &prepare(source, for_render))
                .map_err(|e| errors.push(e))
                .ok()
        };
        let config_compiled = config.and_then(|source| {
            build(source, "config-values.yaml", false).map(|validator| Compiled {
                source: source.clone(),
                validator,
            })
        });
        let values_source = values.map(|v| extend_values_schema(v, config));
        let values_compiled = values_source.as_ref().and_then(|source| {
            build(source, "values.yaml", false).map(|validator| Compiled {
                source: source.clone(),
                validator,
            })
        });
        // Compiled only if the plain variant compiled, so a bad schema is reported once.
        let render = values_source
            .as_ref()
            .filter(|_| values_compiled.is_some())
            .and_then(|source| build(source, "values.yaml", true));
        if errors.is_empty() {
            Ok(Self {
                config: config_compiled,
                values: values_compiled,
                render,
            })
        } else {
            Err(errors)
        }
    }

    /// The config-values schema, if the section has one.
    pub fn config(&self) -> Option<&Compiled> {
        self.config.as_ref()
    }

    /// The values schema (with `x-extend` applied), if the section has one.
    pub fn values(&self) -> Option<&Compiled> {
        self.values.as_ref()
    }

    /// Validates config values (defaults already applied); every violation is returned.
    pub fn validate_config(&self, section: &str, value: &Value) -> Vec<Error> {
        self.config
            .as_ref()
            .map(|c| collect(section, &c.validator, value))
            .unwrap_or_default()
    }

    /// Validates effective values against `values.yaml`; every violation is returned.
    pub fn validate_values(&self, section: &str, value: &Value) -> Vec<Error> {
        self.values
            .as_ref()
            .map(|c| collect(section, &c.validator, value))
            .unwrap_or_default()
    }

    /// Validates effective values against `values.yaml` with `x-required-for-helm` enforced.
    pub fn validate_render(&self, section: &str, value: &Value) -> Vec<Error> {
        self.render
            .as_ref()
            .map(|v| collect(section, v, value))
            .unwrap_or_default()
    }
}

/// [`unsupported_features`] of one file, as compile errors.
fn unsupported(section: &str, file: &'static str, schema: Option<&Value>) -> Vec<Error> {
    schema
        .map(unsupported_features)
        .unwrap_or_default()
        .into_iter()
        .map(|message| Error::SchemaCompile {
            section: section.to_owned(),
            file,
            message,
        })
        .collect()
}

fn compile_one(section: &str, file: &'static str, schema: &Value) -> Result<Validator, Error> {
    jsonschema::options()
        .with_draft(Draft::Draft4)
        .build(schema)
        .map_err(|e| Error::SchemaCompile {
            section: section.to_owned(),
            file,
            message: e.to_string(),
        })
}

fn collect(section: &str, validator: &Validator, value: &Value) -> Vec<Error> {
    validator
        .iter_errors(value)
        .map(|e| {
            let path = e.instance_path().as_str();
            Error::Schema {
                section: section.to_owned(),
                path: if path.is_empty() {
                    "(root)".to_owned()
                } else {
                    path.to_owned()
                },
                message: crate::violation::describe(&e),
            }
        })
        .collect()
}
