//! The registry of served resources: the built-in table and resources added by CRDs.
//!
//! Objects are stored per (group, plural), independent of version: every served version of a
//! resource reads and writes the same objects, with `apiVersion` rewritten on the way out
//! (the `None` conversion strategy of CRDs, applied to built-ins too).

use crate::columns::Column;
use crate::patch::ListTypes;
use serde_json::Value;

/// Everything the emulator knows about one resource in one group/version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group, `""` for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Plural resource name used in paths, e.g. `deployments`.
    pub plural: String,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names, e.g. `deploy`.
    pub short_names: Vec<String>,
    /// Categories, e.g. `all`.
    pub categories: Vec<String>,
    /// Whether a `/status` subresource is served (main writes then ignore `status`).
    pub status: bool,
    /// Whether a `/scale` subresource is advertised.
    pub scale: bool,
    /// Whether the resource is built in (has merge keys and strategic merge patch), as
    /// opposed to defined by a CRD.
    pub builtin: bool,
    /// Whether objects carry `metadata.generation` (workloads, CRDs, custom resources;
    /// not ConfigMaps, Secrets, Namespaces, RBAC, ...).
    pub generation: bool,
    /// Associative and set lists declared by a CRD's schema (empty for built-ins).
    pub list_types: ListTypes,
    /// A CRD version's `additionalPrinterColumns` (empty: the default columns).
    pub printer_columns: Vec<Column>,
    /// An access review: create-only, answered and never stored.
    pub review: bool,
}

/// The storage key of a resource: (group, plural).
pub type ResKey = (String, String);

impl ResourceInfo {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `obj` as this resource's version serves it: `apiVersion` and `kind` set (objects are
    /// stored once for every version).
    pub fn present(&self, mut obj: Value) -> Value {
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(self.api_version()));
            m.insert("kind".into(), Value::String(self.kind.clone()));
        }
        obj
    }

    /// The storage key (group, plural).
    pub fn key(&self) -> ResKey {
        (self.group.clone(), self.plural.clone())
    }

    /// Verbs served on the main resource.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.review {
            return vec!["create"];
        }
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// Served subresource names.
    pub fn subresources(&self) -> Vec<&'static str> {
        let mut subs = Vec::new();
        if self.status {
            subs.push("status");
        }
        if self.scale {
            subs.push("scale");
        }
        subs
    }
}

/// (group, version, plural, kind, namespaced, short names, flags: s=status c=scale
/// a=category all g=metadata.generation maintained r=access review, create-only)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static str,
);

/// The built-in resources, in discovery order.
#[rustfmt::skip]
const BUILTINS: &[Row] = &[
    ("", "v1", "namespaces", "Namespace", false, &["ns"], "s"),
    ("", "v1", "configmaps", "ConfigMap", true, &["cm"], ""),
    ("", "v1", "secrets", "Secret", true, &[], ""),
    ("", "v1", "services", "Service", true, &["svc"], "sa"),
    ("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"], ""),
    ("", "v1", "endpoints", "Endpoints", true, &["ep"], ""),
    ("", "v1", "pods", "Pod", true, &["po"], "sag"),
    ("", "v1", "nodes", "Node", false, &["no"], "s"),
    ("", "v1", "events", "Event", true, &["ev"], ""),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, &["pvc"], "s"),
    ("", "v1", "persistentvolumes", "PersistentVolume", false, &["pv"], "s"),
    ("", "v1", "resourcequotas", "ResourceQuota", true, &["quota"], "s"),
    ("", "v1", "limitranges", "LimitRange", true, &["limits"], ""),
    ("", "v1", "replicationcontrollers", "ReplicationController", true, &["rc"], "scag"),
    ("apps", "v1", "deployments", "Deployment", true, &["deploy"], "scag"),
    ("apps", "v1", "daemonsets", "DaemonSet", true, &["ds"], "sag"),
    ("apps", "v1", "statefulsets", "StatefulSet", true, &["sts"], "scag"),
    ("apps", "v1", "replicasets", "ReplicaSet", true, &["rs"], "scag"),
    ("apps", "v1", "controllerrevisions", "ControllerRevision", true, &[], ""),
    ("batch", "v1", "jobs", "Job", true, &[], "sag"),
    ("batch", "v1", "cronjobs", "CronJob", true, &["cj"], "sag"),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", true, &["ing"], "sg"),
    ("networking.k8s.io", "v1", "ingressclasses", "IngressClass", false, &[], ""),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, &["netpol"], "g"),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", true, &[], ""),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true, &[], ""),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, &[], ""),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false, &[], ""),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, &["crd", "crds"], "sg"),
    ("coordination.k8s.io", "v1", "leases", "Lease", true, &[], ""),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, &["pdb"], "sg"),
    ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, &["hpa"], "sag"),
    ("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", false, &["pc"], ""),
    ("storage.k8s.io", "v1", "storageclasses", "StorageClass", false, &["sc"], ""),
    ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", false, &[], "g"),
    ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false, &[], "g"),
    ("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, &[], ""),
    ("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false, &[], "r"),
    ("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", false, &[], "r"),
];

/// All served resources: built-ins first, then CRD-defined ones in creation order.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: Vec<ResourceInfo>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl Registry {
    /// The registry with only the built-in resources.
    pub fn builtin() -> Registry {
        let resources = BUILTINS
            .iter()
            .map(
                |&(group, version, plural, kind, namespaced, shorts, flags)| ResourceInfo {
                    group: group.into(),
                    version: version.into(),
                    plural: plural.into(),
                    singular: kind.to_lowercase(),
                    kind: kind.into(),
                    namespaced,
                    short_names: shorts.iter().map(|s| s.to_string()).collect(),
                    categories: if flags.contains('a') {
                        vec!["all".into()]
                    } else {
                        vec![]
                    },
                    status: flags.contains('s'),
                    scale: flags.contains('c'),
                    builtin: true,
                    generation: flags.contains('g'),
                    list_types: ListTypes::default(),
                    printer_columns: Vec::new(),
                    review: flags.contains('r'),
                },
            )
            .collect();
        Registry { resources }
    }

    /// Every served resource, in discovery order.
    pub fn all(&self) -> &[ResourceInfo] {
        &self.resources
    }

    /// The resource served at `group`/`version`/`plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// Whether `group`/`version` serves anything.
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.resources
            .iter()
            .any(|r| r.group == group && r.version == version)
    }

    /// Groups in discovery order with their versions, preferred first (Kubernetes version
    /// priority: GA before beta before alpha, higher numbers first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for r in &self.resources {
            match groups.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version.clone());
                    }
                }
                None => groups.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        for (_, versions) in groups.iter_mut() {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        groups
    }

    /// Serves the resources a CRD object declares (replacing earlier ones of the same key).
    pub fn add_crd(&mut self, crd: &Value) {
        let infos = crd_resources(crd);
        if let Some(first) = infos.first() {
            let key = first.key();
            self.resources.retain(|r| r.key() != key);
        }
        self.resources.extend(infos);
    }

    /// Stops serving the resource stored under `key`.
    pub fn remove(&mut self, key: &ResKey) {
        self.resources.retain(|r| &r.key() != key);
    }
}

/// Sort key of a Kubernetes version string: `v2` > `v1` > `v1beta2` > `v1beta1` >
/// `v1alpha1` > anything else.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    let (level, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        return (0, 0, 0);
    };
    (level, major, minor)
}

/// The `ResourceInfo`s (one per served version) of a CRD object.
pub fn crd_resources(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = names["plural"].as_str().unwrap_or_default();
    let kind = names["kind"].as_str().unwrap_or_default();
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .map(|v| ResourceInfo {
            group: group.into(),
            version: v["name"].as_str().unwrap_or_default().into(),
            plural: plural.into(),
            singular: singular.clone(),
            kind: kind.into(),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status: v["subresources"]["status"].is_object(),
            scale: v["subresources"]["scale"].is_object(),
            builtin: false,
            generation: true,
            list_types: ListTypes::from_schema(&v["schema"]["openAPIV3Schema"]),
            printer_columns: crate::columns::printer_columns(v),
            review: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registry_should_serve_every_builtin_of_the_issue() {
        let reg = Registry::builtin();
        for (g, v, p) in [
            ("", "v1", "pods"),
            ("apps", "v1", "deployments"),
            ("autoscaling", "v2", "horizontalpodautoscalers"),
            (
                "admissionregistration.k8s.io",
                "v1",
                "mutatingwebhookconfigurations",
            ),
        ] {
            assert!(reg.find(g, v, p).is_some(), "{g}/{v}/{p}");
        }
        assert_eq!(reg.groups()[0], ("".to_string(), vec!["v1".to_string()]));
    }

    #[test]
    fn versions_should_sort_by_kubernetes_priority() {
        let mut vs = vec!["v1alpha1", "v1", "v2beta1", "v1beta2", "v2", "foo"];
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(
            vs,
            vec!["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn crd_should_yield_one_resource_per_served_version() {
        let crd = json!({"spec": {"group": "ex.io", "scope": "Cluster",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "subresources": {"status": {}}},
                         {"name": "v2", "served": true}, {"name": "v0", "served": false}]}});
        let infos = crd_resources(&crd);
        assert_eq!(infos.len(), 2);
        assert!(infos[0].status && !infos[1].status && !infos[0].namespaced);
        assert_eq!(infos[0].singular, "widget");
    }
}
