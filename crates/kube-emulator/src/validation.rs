//! Object validation: names, labels, and the CustomResourceDefinition rules the emulator
//! relies on. Every problem is reported in one 422 Invalid `Status`.

use crate::meta;
use crate::resources::ResourceInfo;
use crate::status::{ApiError, ApiResult, Cause};
use serde_json::Value;

/// kube's `ValidatePathSegmentName`: any name but `.` and `..`, without `/` or `%`.
fn path_segment_cause(name: &str) -> Option<Cause> {
    let problem = if name.is_empty() {
        return Some(Cause::new(
            "FieldValueRequired",
            "metadata.name",
            "Required value: name or generateName is required",
        ));
    } else if name == "." || name == ".." {
        format!("may not be '{name}'")
    } else if let Some(c) = ['/', '%'].into_iter().find(|c| name.contains(*c)) {
        format!("may not contain '{c}'")
    } else {
        return None;
    };
    Some(Cause::new(
        "FieldValueInvalid",
        "metadata.name",
        format!("Invalid value: {name:?}: {problem}"),
    ))
}

/// Validates an object about to be stored, listing every problem.
pub fn validate(info: &ResourceInfo, obj: &Value) -> ApiResult<()> {
    let name = meta::meta_str(obj, "name");
    let mut causes = Vec::new();
    let label_name = info.plural == "namespaces";
    if info.group == "rbac.authorization.k8s.io" {
        // RBAC objects only need a valid path segment (`system:discovery`), as in kube.
        causes.extend(path_segment_cause(name));
    } else if let Some(c) = meta::validate_name(name, "metadata.name", label_name) {
        causes.push(c);
    }
    causes.extend(meta::validate_labels(obj));
    if let Some(ann) = obj["metadata"].get("annotations")
        && ann
            .as_object()
            .is_some_and(|m| m.values().any(|v| !v.is_string()))
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "metadata.annotations",
            "Invalid value: annotation values must be strings",
        ));
    }
    if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
        causes.extend(crd_causes(obj));
    }
    if info.group.is_empty() && matches!(info.plural.as_str(), "configmaps" | "secrets") {
        causes.extend(string_map_causes(obj, "data"));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&info.kind, &info.group, name, causes))
    }
}

/// Fields kube-apiserver refuses to change, per (group, plural), as JSON pointers.
const IMMUTABLE: &[(&str, &str, &[&str])] = &[
    ("apps", "deployments", &["/spec/selector"]),
    ("apps", "replicasets", &["/spec/selector"]),
    ("apps", "daemonsets", &["/spec/selector"]),
    (
        "apps",
        "statefulsets",
        &[
            "/spec/selector",
            "/spec/serviceName",
            "/spec/volumeClaimTemplates",
        ],
    ),
    ("batch", "jobs", &["/spec/selector", "/spec/template"]),
    ("rbac.authorization.k8s.io", "rolebindings", &["/roleRef"]),
    (
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        &["/roleRef"],
    ),
    (
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        &["/spec/group", "/spec/names/plural", "/spec/scope"],
    ),
    ("", "services", &["/spec/clusterIP"]),
];

/// Validates an update against the stored object: immutable fields (selectors,
/// roleRefs, a Service's assigned clusterIP, data of `immutable: true` ConfigMaps and
/// Secrets) must not change. Every violation is listed.
pub fn validate_update(info: &ResourceInfo, old: &Value, new: &Value) -> ApiResult<()> {
    let mut causes = Vec::new();
    let pointers = IMMUTABLE
        .iter()
        .filter(|(g, p, _)| *g == info.group && *p == info.plural)
        .flat_map(|(_, _, ptrs)| ptrs.iter());
    for ptr in pointers {
        let before = old.pointer(ptr);
        let unset = before.is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        if !unset && before != new.pointer(ptr) {
            causes.push(immutable(&ptr[1..].replace('/', "."), new.pointer(ptr)));
        }
    }
    let locked = info.group.is_empty()
        && matches!(info.plural.as_str(), "configmaps" | "secrets")
        && old["immutable"].as_bool() == Some(true);
    if locked {
        for field in ["data", "binaryData", "stringData", "immutable"] {
            if old.get(field) != new.get(field) {
                causes.push(Cause::new(
                    "FieldValueForbidden",
                    field,
                    "Forbidden: field is immutable when `immutable` is set",
                ));
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &info.kind,
            &info.group,
            meta::meta_str(old, "name"),
            causes,
        ))
    }
}

fn immutable(field: &str, value: Option<&Value>) -> Cause {
    let shown = value.map(Value::to_string).unwrap_or_else(|| "null".into());
    Cause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {shown}: field is immutable"),
    )
}

fn string_map_causes(obj: &Value, field: &str) -> Vec<Cause> {
    let Some(map) = obj.get(field).and_then(Value::as_object) else {
        return Vec::new();
    };
    map.iter()
        .filter(|(_, v)| !v.is_string())
        .map(|(k, _)| {
            Cause::new(
                "FieldValueInvalid",
                &format!("{field}[{k}]"),
                "Invalid value: must be a string",
            )
        })
        .collect()
}

fn crd_causes(obj: &Value) -> Vec<Cause> {
    let spec = &obj["spec"];
    let mut causes = Vec::new();
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    if group.is_empty() || !group.contains('.') {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.group",
            format!("Invalid value: {group:?}: should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.plural",
            "Required value",
        ));
    }
    if kind.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.kind",
            "Required value",
        ));
    }
    let builtin = crate::resources::Registry::builtin();
    if builtin
        .all()
        .iter()
        .any(|r| r.group == group && r.plural == plural)
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.names.plural",
            format!("Invalid value: {plural:?}: {plural}.{group} is served by a built-in resource"),
        ));
    }
    let expected = format!("{plural}.{group}");
    let name = meta::meta_str(obj, "name");
    if name != expected {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if !matches!(spec["scope"].as_str(), Some("Namespaced" | "Cluster")) {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "spec.scope",
            "Unsupported value: supported values: \"Cluster\", \"Namespaced\"",
        ));
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.versions",
            "Required value: must have exactly one version marked as storage version",
        ));
    }
    let storage = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count();
    if !versions.is_empty() && storage != 1 {
        causes.push(Cause::new("FieldValueInvalid", "spec.versions", format!("Invalid value: must have exactly one version marked as storage version, found {storage}")));
    }
    for (i, v) in versions.iter().enumerate() {
        if v["name"].as_str().unwrap_or_default().is_empty() {
            causes.push(Cause::new(
                "FieldValueRequired",
                &format!("spec.versions[{i}].name"),
                "Required value",
            ));
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    #[test]
    fn crd_validation_should_report_every_problem() {
        let reg = Registry::builtin();
        let info = reg
            .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .unwrap();
        let err = validate(
            info,
            &json!({"metadata": {"name": "bad"}, "spec": {"group": "x", "names": {}}}),
        )
        .unwrap_err();
        assert_eq!(err.kind.code(), 422);
        let fields: Vec<_> = err.causes.iter().map(|c| c.field.as_str()).collect();
        for f in [
            "spec.group",
            "spec.names.plural",
            "spec.names.kind",
            "metadata.name",
            "spec.scope",
            "spec.versions",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn immutable_fields_should_be_refused_on_update() {
        let reg = Registry::builtin();
        let deploy = reg.find("apps", "v1", "deployments").unwrap();
        let old = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "1"}}, "replicas": 1}});
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(2);
        assert!(validate_update(deploy, &old, &new).is_ok());
        new["spec"]["selector"] = json!({"matchLabels": {"a": "2"}});
        let err = validate_update(deploy, &old, &new).unwrap_err();
        assert_eq!(err.causes[0].field, "spec.selector");
        assert!(
            err.message.contains("field is immutable"),
            "{}",
            err.message
        );

        let cm = reg.find("", "v1", "configmaps").unwrap();
        let old = json!({"metadata": {"name": "c"}, "data": {"a": "1"}, "immutable": true});
        let new = json!({"metadata": {"name": "c"}, "data": {"a": "2"}, "immutable": true});
        assert!(validate_update(cm, &old, &new).is_err());
        let svc = reg.find("", "v1", "services").unwrap();
        let old = json!({"metadata": {"name": "s"}, "spec": {}});
        let new = json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "10.0.0.1"}});
        assert!(
            validate_update(svc, &old, &new).is_ok(),
            "an unset clusterIP may be set"
        );
    }

    #[test]
    fn crds_must_not_shadow_builtins() {
        let reg = Registry::builtin();
        let info = reg
            .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .unwrap();
        let crd = json!({"metadata": {"name": "deployments.apps"}, "spec": {"group": "apps", "scope": "Namespaced",
            "names": {"plural": "deployments", "kind": "Deployment"}, "versions": [{"name": "v9", "storage": true}]}});
        let err = validate(info, &crd).unwrap_err();
        assert!(
            err.causes.iter().any(|c| c.message.contains("built-in")),
            "{:?}",
            err.causes
        );
    }

    #[test]
    fn configmap_data_values_must_be_strings() {
        let reg = Registry::builtin();
        let info = reg.find("", "v1", "configmaps").unwrap();
        assert!(
            validate(
                info,
                &json!({"metadata": {"name": "c"}, "data": {"a": "1"}})
            )
            .is_ok()
        );
        assert!(validate(info, &json!({"metadata": {"name": "c"}, "data": {"a": 1}})).is_err());
    }
}
