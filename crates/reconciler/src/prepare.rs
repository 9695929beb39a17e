//! Turning rendered objects into apply-ready ones: type and name checks, namespace defaulting,
//! ownership labels, identity and content hash.

use crate::objref::ObjectRef;
use kube::api::{ApiResource, GroupVersionKind};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Label naming the manager of every applied object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`] and the server-side-apply field manager.
pub const MANAGER: &str = "addon-operator";
/// Label naming the module that applied an object.
pub const MODULE_LABEL: &str = "addon-operator.io/module";
/// Annotation by which an object opts in to delete-and-recreate on immutable-field errors.
pub const RECREATE_ANNOTATION: &str = "addon-operator.io/recreate-on-immutable";

/// Why a rendered object cannot be applied as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// `apiVersion` or `kind` is missing or empty.
    #[error("apiVersion and kind are required")]
    MissingType,
    /// The object is not a mapping.
    #[error("object is not a mapping")]
    NotAMapping,
    /// `metadata` is not a mapping.
    #[error("metadata is not a mapping")]
    MetadataNotAMapping,
    /// `metadata.name` is missing or empty.
    #[error("metadata.name is missing")]
    MissingName,
    /// Two rendered objects have the same identity (group, kind, namespace, name).
    #[error("rendered more than once")]
    Duplicate,
}

/// One rendered object that cannot be applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {problem}")]
pub struct InvalidObject {
    /// The object: `Kind/namespace/name` when known, else its position (`object #3 (Kind)`).
    pub object: String,
    /// What is wrong with it.
    pub problem: PrepareError,
}

/// How to address a kind: its resource (plural) and whether it is namespaced.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The resource, for building request URLs.
    pub resource: ApiResource,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
}

/// A rendered object made ready to apply.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Identity.
    pub object_ref: ObjectRef,
    /// The object as it is sent (labels added, namespace set or removed).
    pub body: Value,
    /// Content hash of `body` (see [`content_hash`]).
    pub hash: String,
    /// How to address it.
    pub resolved: Resolved,
    /// Whether the object opted in to recreate on immutable-field errors.
    pub recreate_on_immutable: bool,
}

/// The group/version/kind of a rendered object, if it has `apiVersion` and `kind`.
pub fn gvk_of(object: &Value) -> Option<GroupVersionKind> {
    let api_version = object.get("apiVersion")?.as_str()?;
    let kind = object.get("kind")?.as_str()?;
    if api_version.is_empty() || kind.is_empty() {
        return None;
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Some(GroupVersionKind::gvk(group, version, kind))
}

/// Resources served by CustomResourceDefinitions in the same render, so their custom
/// resources can be addressed (and inventoried) before the CRD exists in the cluster.
pub fn crd_hints(objects: &[Value]) -> HashMap<GroupVersionKind, Resolved> {
    let mut hints = HashMap::new();
    for crd in objects
        .iter()
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
    {
        let spec = &crd["spec"];
        let (Some(group), Some(kind), Some(plural)) = (
            spec["group"].as_str(),
            spec["names"]["kind"].as_str(),
            spec["names"]["plural"].as_str(),
        ) else {
            continue;
        };
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        for version in spec["versions"].as_array().into_iter().flatten() {
            if let Some(version) = version["name"].as_str() {
                let gvk = GroupVersionKind::gvk(group, version, kind);
                let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
                hints.insert(
                    gvk,
                    Resolved {
                        resource,
                        namespaced,
                    },
                );
            }
        }
    }
    hints
}

/// The SHA-256 of the object's canonical JSON (keys sorted at every level), hex-encoded.
///
/// Canonical so that a template that reorders keys does not count as a change.
pub fn content_hash(object: &Value) -> String {
    let mut hasher = Sha256::new();
    write_canonical(object, &mut hasher);
    hex::encode(hasher.finalize())
}

fn write_canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            hasher.update(b"{");
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            for (key, item) in sorted {
                hasher.update(Value::String(key.clone()).to_string().as_bytes());
                hasher.update(b":");
                write_canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                write_canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

/// Prepares one rendered object: sets the namespace (default for namespaced kinds without one,
/// removed for cluster-scoped kinds), adds the ownership labels and computes identity and hash.
///
/// # Errors
/// [`PrepareError`] saying what is missing (`metadata.name`, a mapping) when the object cannot
/// be applied as rendered.
pub fn prepare(
    module: &str,
    mut object: Value,
    resolved: Resolved,
    default_namespace: &str,
) -> Result<Prepared, PrepareError> {
    let Some(body) = object.as_object_mut() else {
        return Err(PrepareError::NotAMapping);
    };
    let metadata = body
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return Err(PrepareError::MetadataNotAMapping);
    };
    let name = match metadata.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => return Err(PrepareError::MissingName),
    };
    let namespace = if resolved.namespaced {
        let ns = match metadata.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() => ns.to_string(),
            _ => default_namespace.to_string(),
        };
        metadata.insert("namespace".into(), Value::String(ns.clone()));
        Some(ns)
    } else {
        metadata.remove("namespace");
        None
    };
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }
    if let Some(labels) = labels.as_object_mut() {
        labels.insert(MANAGED_BY_LABEL.into(), MANAGER.into());
        labels.insert(MODULE_LABEL.into(), module.into());
    }
    let recreate_on_immutable = metadata
        .get("annotations")
        .and_then(|a| a.get(RECREATE_ANNOTATION))
        .and_then(Value::as_str)
        == Some("true");
    let object_ref = ObjectRef {
        api_version: resolved.resource.api_version.clone(),
        kind: resolved.resource.kind.clone(),
        namespace,
        name,
    };
    Ok(Prepared {
        object_ref,
        hash: content_hash(&object),
        body: object,
        resolved,
        recreate_on_immutable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolved(api_version: &str, kind: &str, namespaced: bool) -> Resolved {
        let value = json!({"apiVersion": api_version, "kind": kind});
        let gvk = gvk_of(&value).unwrap();
        Resolved {
            resource: ApiResource::from_gvk(&gvk),
            namespaced,
        }
    }

    #[test]
    fn prepare_should_add_labels_and_default_the_namespace() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"app": "x"}}});
        let p = prepare("mod-a", object, resolved("v1", "ConfigMap", true), "ops").unwrap();
        assert_eq!(p.body["metadata"]["namespace"], "ops");
        assert_eq!(p.body["metadata"]["labels"]["app"], "x");
        assert_eq!(p.body["metadata"]["labels"][MANAGED_BY_LABEL], MANAGER);
        assert_eq!(p.body["metadata"]["labels"][MODULE_LABEL], "mod-a");
        assert_eq!(p.object_ref.to_string(), "ConfigMap/ops/c");
        assert!(!p.recreate_on_immutable);
    }

    #[test]
    fn prepare_should_drop_the_namespace_of_cluster_scoped_objects() {
        let object = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "n", "namespace": "x",
              "annotations": {RECREATE_ANNOTATION: "true"}}});
        let p = prepare("m", object, resolved("v1", "Namespace", false), "ops").unwrap();
        assert!(p.body["metadata"].get("namespace").is_none());
        assert_eq!(p.object_ref.namespace, None);
        assert!(p.recreate_on_immutable);
    }

    #[test]
    fn prepare_should_reject_objects_without_a_name() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
        let err = prepare("m", object, resolved("v1", "ConfigMap", true), "ops").unwrap_err();
        assert_eq!(err, PrepareError::MissingName);
        assert!(err.to_string().contains("metadata.name"), "{err}");
    }

    #[test]
    fn hash_should_ignore_key_order_but_not_values() {
        let a = json!({"a": 1, "b": {"c": [1, 2], "d": "x"}});
        let b = json!({"b": {"d": "x", "c": [1, 2]}, "a": 1});
        let c = json!({"b": {"d": "x", "c": [2, 1]}, "a": 1});
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&c));
    }

    #[test]
    fn crd_hints_should_serve_every_version_with_the_declared_scope() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster",
              "names": {"kind": "Widget", "plural": "widgets"},
              "versions": [{"name": "v1"}, {"name": "v2"}]}});
        let hints = crd_hints(&[crd]);
        let v2 = &hints[&GroupVersionKind::gvk("example.com", "v2", "Widget")];
        assert_eq!(v2.resource.plural, "widgets");
        assert!(!v2.namespaced);
        assert_eq!(hints.len(), 2);
    }

    #[test]
    fn gvk_of_should_split_core_and_grouped_versions() {
        let core = gvk_of(&json!({"apiVersion": "v1", "kind": "Pod"})).unwrap();
        assert_eq!((core.group.as_str(), core.version.as_str()), ("", "v1"));
        let apps = gvk_of(&json!({"apiVersion": "apps/v1", "kind": "Deployment"})).unwrap();
        assert_eq!(apps.group, "apps");
        assert!(gvk_of(&json!({"kind": "Pod"})).is_none());
    }
}
