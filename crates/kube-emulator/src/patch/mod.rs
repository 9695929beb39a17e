//! Patch engines: JSON merge patch, JSON patch, strategic merge patch and server-side apply.
//!
//! Built-in resources know the merge keys of their common lists (a static table, see
//! [`merge_keys`]); custom resources treat every list as atomic, which is what
//! kube-apiserver does for CRDs without `x-kubernetes-list-type: map`.

pub mod apply;
pub mod fieldset;
pub mod strategic;

use crate::status::{ApiError, ApiResult};
use serde_json::Value;

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

/// Primitive lists merged as sets (strategic merge patch) and owned per value (apply).
pub fn is_set_list(field: &str) -> bool {
    field == "finalizers"
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
    fn ports_should_be_keyed_by_container_port_or_port() {
        assert_eq!(
            merge_key("ports", &[json!({"containerPort": 80})]),
            Some("containerPort")
        );
        assert_eq!(merge_key("ports", &[json!({"port": 80})]), Some("port"));
        assert_eq!(merge_key("args", &[json!("x")]), None);
    }
}
