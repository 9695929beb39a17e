//! Patch engines: JSON merge patch, JSON patch, strategic merge patch and server-side apply.
//!
//! Built-in resources know the merge keys of their common lists (a static table, see
//! [`merge_key`]); custom resources use their CRD schema's `x-kubernetes-list-type`
//! annotations ([`ListTypes`]), and treat every other list as atomic, as kube-apiserver does.

pub mod apply;
pub mod fieldset;
pub mod strategic;

use crate::status::{ApiError, ApiResult};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The patch types of the `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type named by a `Content-Type` value, if any.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let mime = ct.split(';').next().unwrap_or_default().trim();
        match mime {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Merge keys of a list field of a built-in object, judged by the field name and the items.
///
/// The table covers the lists people patch: containers, init/ephemeral containers,
/// volumes, env, imagePullSecrets (by `name`), volumeMounts (`mountPath`), volumeDevices
/// (`devicePath`), ports (`containerPort` for container ports, `port` for service ports),
/// conditions (`type`), ownerReferences (`uid`), hostAliases (`ip`),
/// topologySpreadConstraints (`topologyKey`). Everything else is atomic.
pub fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let by_name = [
        "containers",
        "initContainers",
        "ephemeralContainers",
        "volumes",
        "env",
        "imagePullSecrets",
        "resourceClaims",
        "schedulingGates",
    ];
    let key = match field {
        f if by_name.contains(&f) => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    };
    let keyed = items.iter().all(|i| i.get(key).is_some());
    keyed.then_some(key)
}

/// The value of key field `field` of a list item, with Kubernetes' default for a missing
/// `protocol` (`TCP`) so that unset and explicit TCP name the same item.
pub fn key_value(item: &Value, field: &str) -> Value {
    match item.get(field) {
        Some(v) => v.clone(),
        None if field == "protocol" => Value::String("TCP".into()),
        None => Value::Null,
    }
}

/// Whether two list items have the same key.
pub fn same_item(a: &Value, b: &Value, keys: &[&str]) -> bool {
    keys.iter().all(|k| key_value(a, k) == key_value(b, k))
}

/// Primitive lists merged as sets (strategic merge patch) and owned per value (apply).
pub fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

/// The associative lists a CRD schema declares, by field name: `x-kubernetes-list-type:
/// map` (with the first of `x-kubernetes-list-map-keys`) and `x-kubernetes-list-type: set`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTypes {
    /// Field name → merge keys (`x-kubernetes-list-map-keys`).
    pub maps: BTreeMap<String, Vec<String>>,
    /// Field names of set lists.
    pub sets: BTreeSet<String>,
}

impl ListTypes {
    /// Collects the list annotations of an `openAPIV3Schema`.
    ///
    /// Lists are recognised by field name wherever they appear (an approximation of
    /// kube-apiserver's per-path schema).
    pub fn from_schema(schema: &Value) -> ListTypes {
        let mut out = ListTypes::default();
        out.walk(schema, "");
        out
    }

    fn walk(&mut self, schema: &Value, field: &str) {
        match schema["x-kubernetes-list-type"].as_str() {
            Some("map") => {
                let keys: Vec<String> = schema["x-kubernetes-list-map-keys"]
                    .as_array()
                    .map(|ks| {
                        ks.iter()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if !keys.is_empty() {
                    self.maps.insert(field.to_string(), keys);
                }
            }
            Some("set") => {
                self.sets.insert(field.to_string());
            }
            _ => {}
        }
        if let Some(props) = schema["properties"].as_object() {
            for (name, sub) in props {
                self.walk(sub, name);
            }
        }
        if schema["items"].is_object() {
            self.walk(&schema["items"], "");
        }
        if schema["additionalProperties"].is_object() {
            self.walk(&schema["additionalProperties"], "");
        }
    }
}

/// How the lists of one resource merge in server-side apply.
#[derive(Debug, Clone, Copy)]
pub enum Lists<'a> {
    /// Built-in resource: the static merge-key table.
    Builtin,
    /// Custom resource: its CRD schema's annotations (plus metadata's own lists).
    Custom(&'a ListTypes),
}

impl<'a> Lists<'a> {
    /// The key fields of list `field` with these `items`, if it is associative.
    ///
    /// Built-in ports are keyed by number *and* protocol, as in Kubernetes (so a DNS
    /// Service's UDP and TCP port 53 stay two items); see [`key_value`] for defaults.
    pub fn keys(&self, field: &str, items: &[Value]) -> Option<Vec<&'a str>> {
        let keys: Vec<&'a str> = match self {
            Lists::Builtin => match merge_key(field, items)? {
                "containerPort" => vec!["containerPort", "protocol"],
                "port" => vec!["port", "protocol"],
                key => vec![key],
            },
            Lists::Custom(types) => match types.maps.get(field) {
                Some(ks) => ks.iter().map(String::as_str).collect(),
                None if field == "ownerReferences" => vec!["uid"],
                None => return None,
            },
        };
        let primary = keys.first()?;
        items
            .iter()
            .all(|i| i.get(*primary).is_some())
            .then_some(keys)
    }

    /// Whether list `field` is a set of primitives.
    pub fn is_set(&self, field: &str) -> bool {
        match self {
            Lists::Builtin => is_set_list(field),
            Lists::Custom(types) => types.sets.contains(field) || is_set_list(field),
        }
    }
}

/// Applies an RFC 6902 JSON patch to a copy of `obj`.
pub fn json_patch(obj: &Value, body: &Value) -> ApiResult<Value> {
    let patch: json_patch::Patch = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid json patch: {e}")))?;
    let mut out = obj.clone();
    json_patch::patch(&mut out, &patch.0).map_err(|e| {
        ApiError::new(
            crate::status::ErrorKind::Invalid,
            format!("the json patch could not be applied: {e}"),
        )
    })?;
    Ok(out)
}

/// Applies an RFC 7386 JSON merge patch to a copy of `obj`.
pub fn merge_patch(obj: &Value, body: &Value) -> ApiResult<Value> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "invalid merge patch: the body must be a JSON object",
        ));
    }
    let mut out = obj.clone();
    json_patch::merge(&mut out, body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types_should_select_patch_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
    }

    #[test]
    fn merge_and_json_patches_should_follow_their_rfcs() {
        let obj = json!({"data": {"a": "1", "b": "2"}});
        let merged = merge_patch(&obj, &json!({"data": {"a": null, "c": "3"}})).unwrap();
        assert_eq!(merged, json!({"data": {"b": "2", "c": "3"}}));
        let patched = json_patch(
            &obj,
            &json!([{"op": "replace", "path": "/data/a", "value": "x"}]),
        )
        .unwrap();
        assert_eq!(patched["data"]["a"], "x");
        assert!(
            json_patch(
                &obj,
                &json!([{"op": "test", "path": "/data/a", "value": "no"}])
            )
            .is_err()
        );
    }

    #[test]
    fn crd_schemas_should_declare_map_and_set_lists() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "rules": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
                          "items": {"type": "object", "properties": {"hosts": {"type": "array", "x-kubernetes-list-type": "set"}}}},
                "args": {"type": "array"}}}}});
        let types = ListTypes::from_schema(&schema);
        let lists = Lists::Custom(&types);
        assert_eq!(lists.keys("rules", &[json!({"id": 1})]), Some(vec!["id"]));
        assert_eq!(lists.keys("rules", &[json!({"other": 1})]), None);
        assert_eq!(lists.keys("args", &[json!("a")]), None);
        assert_eq!(
            lists.keys("containers", &[json!({"name": "a"})]),
            None,
            "no built-in table for custom resources"
        );
        assert!(lists.is_set("hosts") && lists.is_set("finalizers") && !lists.is_set("args"));
    }

    #[test]
    fn apply_should_key_ports_by_number_and_protocol() {
        let ports = [json!({"port": 53, "protocol": "UDP"}), json!({"port": 53})];
        assert_eq!(
            Lists::Builtin.keys("ports", &ports),
            Some(vec!["port", "protocol"])
        );
        assert!(!same_item(&ports[0], &ports[1], &["port", "protocol"]));
        assert!(same_item(
            &ports[1],
            &json!({"port": 53, "protocol": "TCP"}),
            &["port", "protocol"]
        ));
    }

    #[test]
    fn ports_should_be_keyed_by_container_port_or_port() {
        assert_eq!(
            merge_key("ports", &[json!({"containerPort": 80})]),
            Some("containerPort")
        );
        assert_eq!(merge_key("ports", &[json!({"port": 80})]), Some("port"));
        assert_eq!(merge_key("args", &[json!("x")]), None);
    }
}
