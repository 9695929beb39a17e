//! `Capabilities`: what templates may ask about the cluster, as documented constants (the
//! same as Helm 4.2's offline default, so converted charts render as `helm template` does).

use serde_json::{Value, json};

/// The Kubernetes version templates see as `Capabilities.KubeVersion.Version` (and
/// `GitVersion`), e.g. in `semverCompare ">=1.19-0" Capabilities.KubeVersion.GitVersion`.
pub const KUBE_VERSION: &str = "v1.36.0";

/// The API group/versions templates see as `Capabilities.APIVersions` (`has "policy/v1"
/// Capabilities.APIVersions`): Helm 4.2's default set for offline renders.
pub const API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// The `Capabilities` object: `KubeVersion {Version, GitVersion, Major, Minor}` from
/// [`KUBE_VERSION`] and `APIVersions` from [`API_VERSIONS`].
pub(crate) fn capabilities() -> Value {
    let core = KUBE_VERSION.trim_start_matches('v');
    let mut parts = core.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    json!({
        "KubeVersion": {
            "Version": KUBE_VERSION,
            "GitVersion": KUBE_VERSION,
            "Major": major,
            "Minor": minor,
        },
        "APIVersions": API_VERSIONS,
    })
}
