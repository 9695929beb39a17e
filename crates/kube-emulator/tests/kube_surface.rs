//! The protocol surface through kube-rs: version and health endpoints, discovery and serving of
//! every built-in resource, cluster-scoped CRDs, and list selectors with every operator.
#![allow(clippy::unwrap_used)]

mod common;

use common::{client, server_names, start_with_configmaps};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope};
use kube_emulator::{Emulator, KUBERNETES_VERSION};
use serde_json::json;
use std::collections::BTreeSet;

#[tokio::test]
async fn version_and_health_endpoints_should_answer() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let version = c.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, KUBERNETES_VERSION);
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "33")
    );
    for path in ["/healthz", "/readyz", "/livez"] {
        let req = http::Request::get(path).body(Vec::new()).unwrap();
        assert_eq!(c.request_text(req).await.unwrap().trim(), "ok", "{path}");
    }
    emu.shutdown().await;
}

/// (group, version, kind, plural, namespaced) of every built-in the emulator must serve.
const BUILTINS: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("", "v1", "Secret", "secrets", true),
    ("", "v1", "Service", "services", true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true),
    ("", "v1", "Endpoints", "endpoints", true),
    ("", "v1", "Pod", "pods", true),
    ("", "v1", "Node", "nodes", false),
    ("", "v1", "Event", "events", true),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
    ),
    ("apps", "v1", "Deployment", "deployments", true),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("apps", "v1", "StatefulSet", "statefulsets", true),
    ("apps", "v1", "ReplicaSet", "replicasets", true),
    ("batch", "v1", "Job", "jobs", true),
    ("batch", "v1", "CronJob", "cronjobs", true),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true),
    (
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        false,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    ),
    ("coordination.k8s.io", "v1", "Lease", "leases", true),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
    (
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
    ),
    (
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
    ),
];

#[tokio::test]
async fn discovery_should_describe_and_serve_every_builtin_resource() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let discovery = Discovery::new(c.clone()).run().await.unwrap();
    for &(group, version, kind, plural, namespaced) in BUILTINS {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("discovery lacks {gvk:?}"));
        assert_eq!(ar.plural, plural, "{kind}");
        let expected = if namespaced {
            Scope::Namespaced
        } else {
            Scope::Cluster
        };
        assert_eq!(caps.scope, expected, "{kind}");
        let all: Api<DynamicObject> = Api::all_with(c.clone(), &ar);
        all.list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("listing {plural} failed: {e}"));
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_cluster_scoped_crd_should_serve_cluster_scoped_objects() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd).unwrap(),
    )
    .await
    .unwrap();
    let discovery = Discovery::new(c.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Gadget"))
        .unwrap();
    assert_eq!(caps.scope, Scope::Cluster);
    let gadgets: Api<DynamicObject> = Api::all_with(c, &ar);
    let g: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"}}),
    )
    .unwrap();
    gadgets.create(&PostParams::default(), &g).await.unwrap();
    let got = gadgets.get("g1").await.unwrap();
    assert_eq!(got.metadata.namespace, None);
    emu.shutdown().await;
}

fn labelled(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

#[tokio::test]
async fn list_selectors_should_support_every_operator() {
    let (emu, cms) = start_with_configmaps().await;
    for cm in [
        labelled("a", json!({"app": "x", "tier": "fe"})),
        labelled("b", json!({"app": "y"})),
        labelled("c", json!({})),
    ] {
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let cases = [
        ("app=x", vec!["a"]),
        ("app==x", vec!["a"]),
        ("app!=x", vec!["b", "c"]),
        ("app in (x,y)", vec!["a", "b"]),
        ("app notin (x)", vec!["b", "c"]),
        ("app", vec!["a", "b"]),
        ("!app", vec!["c"]),
        ("app=x,tier", vec!["a"]),
    ];
    for (selector, want) in cases {
        let got = server_names(&cms, &ListParams::default().labels(selector)).await;
        let want: BTreeSet<String> = want.into_iter().map(String::from).collect();
        assert_eq!(got, want, "labelSelector {selector}");
    }
    // fieldSelector on metadata.namespace, across namespaces.
    let nss: Api<Namespace> = Api::all(client(&emu));
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap(),
    )
    .await
    .unwrap();
    let other: Api<ConfigMap> = Api::namespaced(client(&emu), "other");
    other
        .create(&PostParams::default(), &labelled("d", json!({})))
        .await
        .unwrap();
    let everywhere: Api<ConfigMap> = Api::all(client(&emu));
    let in_other = ListParams::default().fields("metadata.namespace=other");
    assert_eq!(
        server_names(&everywhere, &in_other).await,
        BTreeSet::from(["d".to_string()])
    );
    let not_a = ListParams::default().fields("metadata.name!=a,metadata.namespace=default");
    assert_eq!(
        server_names(&everywhere, &not_a).await,
        BTreeSet::from(["b".to_string(), "c".to_string()])
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_crd_status_subresource_should_be_served_where_declared() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    common::create_widget_crd(&c).await;
    let api_for = |version: &str| -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk("example.com", version, "Widget");
        let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, "widgets");
        Api::namespaced_with(c.clone(), "default", &ar)
    };
    let (v1, v2) = (api_for("v1"), api_for("v2"));
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1",
        "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}))
    .unwrap();
    v1.create(&PostParams::default(), &w).await.unwrap();
    let status = Patch::Merge(json!({"status": {"ready": true}}));
    let pp = PatchParams::default();
    let patched = v1.patch_status("w", &pp, &status).await.unwrap();
    assert_eq!(patched.data["status"]["ready"], true);
    // With the subresource, a main-resource write leaves status alone.
    let main = Patch::Merge(json!({"spec": {"size": 2}, "status": {"ready": false}}));
    let after = v1.patch("w", &pp, &main).await.unwrap();
    assert_eq!(after.data["status"]["ready"], true);
    assert_eq!(after.data["spec"]["size"], 2);
    // v2 declares no status subresource.
    let err = v2.patch_status("w", &pp, &status).await.unwrap_err();
    assert_eq!(common::error_code(err).0, 404);
    emu.shutdown().await;
}
