//! Apply order: which kinds go first, and in which stage each object is applied.
//!
//! The order is Helm's kind sorter (also used by Argo CD inside a sync wave) with two changes:
//! CustomResourceDefinitions and Namespaces are forced into the first stage, because everything
//! else may live in a Namespace or be an instance of a CRD, and the stages group kinds so the
//! apply engine can wait between them (see [`Stage`]). Kinds this table does not know are
//! treated as custom resources and go last. Pruning and deletion use the reverse order.

/// A group of kinds applied together; stages are applied in declaration order.
///
/// The reconciler waits for the first stage to be ready (CRD `Established`, Namespace `Active`)
/// before applying the next one, because later objects can only be created once those exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// CustomResourceDefinitions and Namespaces.
    CrdsAndNamespaces,
    /// Cluster-scoped RBAC and configuration (ClusterRole, StorageClass, IngressClass, ...).
    ClusterConfig,
    /// Namespaced configuration (ServiceAccount, Secret, ConfigMap, Role, ...).
    NamespacedConfig,
    /// Workloads (Deployment, StatefulSet, Job, ...).
    Workloads,
    /// Services, Ingresses and APIServices: what exposes the workloads.
    Exposure,
    /// Everything the table does not know: custom resources.
    CustomResources,
}

/// One known kind: its API groups (`""` is the core group), and its stage.
struct KnownKind {
    kind: &'static str,
    groups: &'static [&'static str],
    stage: Stage,
}

const fn known(kind: &'static str, groups: &'static [&'static str], stage: Stage) -> KnownKind {
    KnownKind {
        kind,
        groups,
        stage,
    }
}

const CORE: &[&str] = &[""];
const APPS: &[&str] = &["apps", "extensions"];
const RBAC: &[&str] = &["rbac.authorization.k8s.io"];
const NETWORKING: &[&str] = &["networking.k8s.io", "extensions"];

/// Helm's install order (Argo CD uses the same), CRDs and Namespaces moved to the front.
///
/// A flat table rather than a `match` so that the order, the groups and the stage of each kind
/// are read in one place; the rank of a kind is its index here.
const KINDS: &[KnownKind] = &[
    known("Namespace", CORE, Stage::CrdsAndNamespaces),
    known(
        "CustomResourceDefinition",
        &["apiextensions.k8s.io"],
        Stage::CrdsAndNamespaces,
    ),
    known(
        "PodSecurityPolicy",
        &["policy", "extensions"],
        Stage::ClusterConfig,
    ),
    known("StorageClass", &["storage.k8s.io"], Stage::ClusterConfig),
    known("PersistentVolume", CORE, Stage::ClusterConfig),
    known("ClusterRole", RBAC, Stage::ClusterConfig),
    known("ClusterRoleBinding", RBAC, Stage::ClusterConfig),
    known("IngressClass", &["networking.k8s.io"], Stage::ClusterConfig),
    known("NetworkPolicy", NETWORKING, Stage::NamespacedConfig),
    known("ResourceQuota", CORE, Stage::NamespacedConfig),
    known("LimitRange", CORE, Stage::NamespacedConfig),
    known("PodDisruptionBudget", &["policy"], Stage::NamespacedConfig),
    known("ServiceAccount", CORE, Stage::NamespacedConfig),
    known("Secret", CORE, Stage::NamespacedConfig),
    known("ConfigMap", CORE, Stage::NamespacedConfig),
    known("PersistentVolumeClaim", CORE, Stage::NamespacedConfig),
    known("Role", RBAC, Stage::NamespacedConfig),
    known("RoleBinding", RBAC, Stage::NamespacedConfig),
    known("DaemonSet", APPS, Stage::Workloads),
    known("Pod", CORE, Stage::Workloads),
    known("ReplicationController", CORE, Stage::Workloads),
    known("ReplicaSet", APPS, Stage::Workloads),
    known("Deployment", APPS, Stage::Workloads),
    known(
        "HorizontalPodAutoscaler",
        &["autoscaling"],
        Stage::Workloads,
    ),
    known("StatefulSet", APPS, Stage::Workloads),
    known("Job", &["batch"], Stage::Workloads),
    known("CronJob", &["batch"], Stage::Workloads),
    known("Service", CORE, Stage::Exposure),
    known("Ingress", NETWORKING, Stage::Exposure),
    known("APIService", &["apiregistration.k8s.io"], Stage::Exposure),
];

/// The API group of an `apiVersion` (`"apps/v1"` → `"apps"`, `"v1"` → `""`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

fn lookup(api_version: &str, kind: &str) -> Option<(usize, &'static KnownKind)> {
    let group = group_of(api_version);
    KINDS
        .iter()
        .enumerate()
        .find(|(_, k)| k.kind == kind && k.groups.contains(&group))
}

/// The position of a kind in apply order; lower ranks are applied first.
///
/// A kind matches the table only in its own API group, so a custom resource that happens to be
/// called `Deployment` in `example.com/v1` is ranked as a custom resource. Ranks follow the
/// stages: every kind of an earlier [`Stage`] ranks below every kind of a later one.
pub fn kind_rank(api_version: &str, kind: &str) -> u32 {
    lookup(api_version, kind).map_or(KINDS.len() as u32, |(index, _)| index as u32)
}

/// The stage in which an object of this kind is applied (custom resources for unknown kinds).
pub fn stage_of(api_version: &str, kind: &str) -> Stage {
    lookup(api_version, kind).map_or(Stage::CustomResources, |(_, k)| k.stage)
}

/// The `(apiVersion, kind)` of a rendered object; empty strings when absent.
fn type_of(object: &serde_json::Value) -> (&str, &str) {
    let field = |name| object.get(name).and_then(|v| v.as_str()).unwrap_or("");
    (field("apiVersion"), field("kind"))
}

/// The rank of a rendered object (see [`kind_rank`]).
pub fn object_rank(object: &serde_json::Value) -> u32 {
    let (api_version, kind) = type_of(object);
    kind_rank(api_version, kind)
}

/// The stage of a rendered object (see [`stage_of`]).
pub fn object_stage(object: &serde_json::Value) -> Stage {
    let (api_version, kind) = type_of(object);
    stage_of(api_version, kind)
}

/// Sorts rendered objects into apply order.
///
/// # Guarantees
/// The sort is stable: objects of the same rank keep the order the chart rendered them in, so
/// the output is deterministic for a given render. Objects without `apiVersion`/`kind` sort as
/// custom resources (the apply step reports them).
pub fn sort_for_apply(objects: &mut [serde_json::Value]) {
    objects.sort_by_key(object_rank);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api_version: &str, kind: &str, name: &str) -> serde_json::Value {
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}})
    }

    fn names(objects: &[serde_json::Value]) -> Vec<&str> {
        objects
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap_or(""))
            .collect()
    }

    #[test]
    fn ranks_follow_stages_so_sorting_by_rank_alone_is_staged() {
        let mut previous = Stage::CrdsAndNamespaces;
        for (index, k) in KINDS.iter().enumerate() {
            assert!(k.stage >= previous, "{} breaks the stage order", k.kind);
            previous = k.stage;
            for group in k.groups {
                let api_version = if group.is_empty() {
                    "v1".to_string()
                } else {
                    format!("{group}/v1")
                };
                assert_eq!(kind_rank(&api_version, k.kind), index as u32);
            }
        }
    }

    #[test]
    fn crds_and_namespaces_come_first_and_custom_resources_last() {
        let mut objects = vec![
            obj("example.com/v1", "Widget", "cr"),
            obj("apps/v1", "Deployment", "deploy"),
            obj("v1", "Service", "svc"),
            obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "crd"),
            obj("v1", "ConfigMap", "cm"),
            obj("rbac.authorization.k8s.io/v1", "ClusterRole", "cr-role"),
            obj("v1", "Namespace", "ns"),
        ];
        sort_for_apply(&mut objects);
        assert_eq!(
            names(&objects),
            ["ns", "crd", "cr-role", "cm", "deploy", "svc", "cr"]
        );
    }

    #[test]
    fn sort_is_stable_within_a_kind() {
        let mut objects = vec![
            obj("v1", "ConfigMap", "b"),
            obj("apps/v1", "Deployment", "d"),
            obj("v1", "ConfigMap", "a"),
            obj("v1", "ConfigMap", "c"),
        ];
        sort_for_apply(&mut objects);
        assert_eq!(names(&objects), ["b", "a", "c", "d"]);
    }

    #[test]
    fn a_kind_outside_its_group_is_a_custom_resource() {
        assert_eq!(
            stage_of("example.com/v1", "Deployment"),
            Stage::CustomResources
        );
        assert_eq!(stage_of("apps/v1", "Deployment"), Stage::Workloads);
        assert_eq!(stage_of("extensions/v1beta1", "Ingress"), Stage::Exposure);
        assert!(
            kind_rank("example.com/v1", "Deployment")
                > kind_rank("networking.k8s.io/v1", "Ingress")
        );
    }

    #[test]
    fn stages_group_the_helm_kinds_as_documented() {
        assert_eq!(stage_of("v1", "Namespace"), Stage::CrdsAndNamespaces);
        assert_eq!(
            stage_of("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
            Stage::CrdsAndNamespaces
        );
        assert_eq!(
            stage_of("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
            Stage::ClusterConfig
        );
        assert_eq!(stage_of("v1", "Secret"), Stage::NamespacedConfig);
        assert_eq!(stage_of("batch/v1", "CronJob"), Stage::Workloads);
        assert_eq!(stage_of("v1", "Service"), Stage::Exposure);
        assert_eq!(stage_of("v1", "Widget"), Stage::CustomResources);
    }

    #[test]
    fn objects_without_type_sort_last() {
        let mut objects = vec![json!({"metadata": {"name": "x"}}), obj("v1", "Secret", "s")];
        sort_for_apply(&mut objects);
        assert_eq!(names(&objects), ["s", "x"]);
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
    }
}
