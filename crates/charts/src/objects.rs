//! Rendered objects: identity, the built-in scope table, namespace defaulting and duplicate
//! detection.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::RenderError;

/// One object produced by a module.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    /// Where it came from: `<module-name>/templates/<file>` or `<module-name>/crds/<file>`.
    pub source: String,
    /// The object (has `apiVersion`, `kind`, `metadata.name`; namespaced objects have
    /// `metadata.namespace`).
    pub object: Value,
}

/// Built-in cluster-scoped kinds as `(group, kind)`; everything else built in is namespaced.
const BUILTIN_CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"),
];

/// Which kinds are cluster-scoped: the built-in table plus custom kinds from CRDs.
///
/// Kinds that are in neither are treated as namespaced (most custom resources are); register
/// the CRDs of a module set with [`ResourceScopes::add_crds`] so that cluster-scoped custom
/// kinds are not given a namespace.
#[derive(Debug, Clone, Default)]
pub struct ResourceScopes {
    /// kind → group → namespaced (looked up by `&str`, without allocating, for every object).
    custom: HashMap<String, HashMap<String, bool>>,
}

impl ResourceScopes {
    /// Only the built-in table.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Records the scope (`spec.scope`: `Namespaced` or `Cluster`) of each
    /// CustomResourceDefinition among `objects`; other objects are ignored.
    pub fn add_crds<'a>(&mut self, objects: impl IntoIterator<Item = &'a Value>) {
        for crd in objects {
            if crd.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            let spec = &crd["spec"];
            if let (Some(group), Some(kind)) = (
                spec["group"].as_str(),
                spec.pointer("/names/kind").and_then(Value::as_str),
            ) {
                self.insert(group, kind, spec["scope"].as_str() != Some("Cluster"));
            }
        }
    }

    /// Declares one custom kind's scope directly (e.g. from API discovery).
    pub fn insert(&mut self, group: &str, kind: &str, namespaced: bool) {
        self.custom
            .entry(kind.to_owned())
            .or_default()
            .insert(group.to_owned(), namespaced);
    }

    /// Whether objects of `kind` in API group `group` (`""` for core) are namespaced.
    pub fn is_namespaced(&self, group: &str, kind: &str) -> bool {
        if BUILTIN_CLUSTER_SCOPED
            .iter()
            .any(|(g, k)| *k == kind && *g == group)
        {
            return false;
        }
        self.custom
            .get(kind)
            .and_then(|groups| groups.get(group))
            .copied()
            .unwrap_or(true)
    }
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Checks one rendered document and fills its namespace; returns its identity
/// (`group/kind namespace/name`).
pub(crate) fn normalize(
    doc: &mut Value,
    file: &str,
    document: usize,
    namespace: &str,
    scopes: &ResourceScopes,
) -> Result<String, RenderError> {
    let invalid = |message: String| RenderError::InvalidObject {
        file: file.to_owned(),
        document,
        message,
    };
    let Some(obj) = doc.as_object_mut() else {
        return Err(invalid(
            "is not a YAML mapping (a Kubernetes object)".into(),
        ));
    };
    let (id, namespaced, has_namespace) = {
        let api_version = text(obj.get("apiVersion"));
        let kind = text(obj.get("kind"));
        let meta = obj.get("metadata");
        let name = text(meta.and_then(|m| m.get("name")));
        let (Some(api_version), Some(kind), Some(name)) = (api_version, kind, name) else {
            let missing: Vec<&str> = [
                (api_version.is_none(), "apiVersion"),
                (kind.is_none(), "kind"),
                (name.is_none(), "metadata.name"),
            ]
            .into_iter()
            .filter_map(|(missing, field)| missing.then_some(field))
            .collect();
            return Err(invalid(format!("missing {}", missing.join(", "))));
        };
        if !meta.is_some_and(Value::is_object) {
            return Err(invalid("metadata is not a mapping".into()));
        }
        let group = api_group(api_version);
        let namespaced = scopes.is_namespaced(group, kind);
        let own = text(meta.and_then(|m| m.get("namespace")));
        // kubectl ignores a namespace on cluster-scoped objects; it is dropped below so the
        // apply path and inventory key are right.
        let ns = if namespaced {
            own.unwrap_or(namespace)
        } else {
            ""
        };
        (
            format!("{group}/{kind} {ns}/{name}"),
            namespaced,
            own.is_some(),
        )
    };
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if !namespaced {
            meta.remove("namespace");
        } else if !has_namespace {
            meta.insert("namespace".into(), Value::String(namespace.to_owned()));
        }
    }
    Ok(id)
}

fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Tracks identities seen so far and reports a second object with the same one.
#[derive(Default)]
pub(crate) struct DuplicateCheck<'a> {
    /// Identity → (file, document) that rendered it first.
    seen: HashMap<String, (&'a str, usize)>,
}

impl<'a> DuplicateCheck<'a> {
    pub(crate) fn check(
        &mut self,
        id: String,
        file: &'a str,
        document: usize,
    ) -> Result<(), RenderError> {
        match self.seen.entry(id) {
            std::collections::hash_map::Entry::Occupied(first) => {
                let (first_file, first_document) = *first.get();
                Err(RenderError::Duplicate {
                    object: first.key().clone(),
                    first: format!("{first_file} document {first_document}"),
                    second: format!("{file} document {document}"),
                })
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert((file, document));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(doc: &mut Value, scopes: &ResourceScopes) -> Result<String, RenderError> {
        normalize(doc, "m/templates/a.yaml", 1, "ops", scopes)
    }

    #[test]
    fn namespaced_objects_without_namespace_get_the_release_namespace() {
        let mut d =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}});
        assert_eq!(
            norm(&mut d, &ResourceScopes::builtin()).unwrap(),
            "apps/Deployment ops/x"
        );
        assert_eq!(d["metadata"]["namespace"], "ops");
        let mut d = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}});
        assert_eq!(
            norm(&mut d, &ResourceScopes::builtin()).unwrap(),
            "/ConfigMap other/x"
        );
    }

    #[test]
    fn cluster_scoped_objects_never_carry_a_namespace() {
        let mut d = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "x", "namespace": "ops"}});
        norm(&mut d, &ResourceScopes::builtin()).unwrap();
        assert!(d["metadata"].get("namespace").is_none());
    }

    #[test]
    fn crd_scopes_decide_for_custom_kinds() {
        let crd = json!({"kind": "CustomResourceDefinition", "spec": {"group": "example.com",
            "scope": "Cluster", "names": {"kind": "Widget"}}});
        let mut scopes = ResourceScopes::builtin();
        assert!(scopes.is_namespaced("example.com", "Widget"));
        scopes.add_crds([&crd]);
        assert!(!scopes.is_namespaced("example.com", "Widget"));
        scopes.insert("example.com", "Gadget", false);
        assert!(!scopes.is_namespaced("example.com", "Gadget"));
    }

    #[test]
    fn objects_missing_identity_fields_are_rejected_naming_them() {
        let mut d = json!({"kind": "ConfigMap", "metadata": {}});
        let e = norm(&mut d, &ResourceScopes::builtin()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m/templates/a.yaml: document 1: missing apiVersion, metadata.name"
        );
        let e = norm(&mut json!(["a"]), &ResourceScopes::builtin()).unwrap_err();
        assert!(e.to_string().contains("not a YAML mapping"), "{e}");
    }

    #[test]
    fn duplicates_cite_both_origins() {
        let mut c = DuplicateCheck::default();
        c.check("apps/Deployment ops/x".into(), "a.yaml", 1)
            .unwrap();
        let e = c
            .check("apps/Deployment ops/x".into(), "b.yaml", 2)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "duplicate object apps/Deployment ops/x: rendered by a.yaml document 1 and b.yaml document 2"
        );
    }
}
