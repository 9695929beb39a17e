//! The discovery cache against the kube emulator: both lookups, one cache, refresh on a miss.

#![allow(clippy::unwrap_used)]

use cluster_access::{DiscoveryCache, DiscoveryError};
use kube::api::{Api, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube_emulator::Emulator;
use serde_json::json;

fn client(emu: &Emulator) -> kube::Client {
    kube::Client::try_from(kube::Config::new(emu.url().parse().unwrap())).unwrap()
}

fn crds(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "customresourcedefinitions");
    Api::all_with(client.clone(), &ar)
}

async fn create_widget_crd(client: &kube::Client) {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    crds(client)
        .patch(
            "widgets.example.com",
            &PatchParams::apply("test"),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn exact_kinds_and_kubectl_names_resolve_to_the_same_resources() {
    let emu = Emulator::start().await.unwrap();
    let client = client(&emu);
    let cache = DiscoveryCache::default();
    let cm = cache
        .resolve_gvk(&client, &GroupVersionKind::gvk("", "v1", "ConfigMap"))
        .await
        .unwrap()
        .expect("ConfigMaps are served");
    assert!(cm.namespaced);
    assert_eq!(cm.api_resource.plural, "configmaps");
    for name in ["cm", "ConfigMap", "configmaps"] {
        assert_eq!(cache.resolve_name(&client, None, name).await.unwrap(), cm);
    }
    let deploy = cache
        .resolve_name(&client, Some("apps/v1"), "deploy")
        .await
        .unwrap();
    assert_eq!(deploy.api_resource.kind, "Deployment");
    let missing = cache
        .resolve_gvk(
            &client,
            &GroupVersionKind::gvk("nope.example.com", "v1", "Nope"),
        )
        .await
        .unwrap();
    assert_eq!(missing, None, "a group-version the server does not serve");
}

#[tokio::test]
async fn a_crd_installed_later_is_found_and_a_forgotten_one_is_asked_for_again() {
    let emu = Emulator::start().await.unwrap();
    let client = client(&emu);
    let cache = DiscoveryCache::default();
    let err = cache.resolve_name(&client, None, "wdg").await.unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::UnknownKind { kind, .. } if kind == "wdg"),
        "{err}"
    );
    create_widget_crd(&client).await;
    let widget = cache.resolve_name(&client, None, "wdg").await.unwrap();
    assert_eq!(widget.api_resource.api_version, "example.com/v1");
    assert!(!widget.namespaced);
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    assert_eq!(
        cache.resolve_gvk(&client, &gvk).await.unwrap(),
        Some(widget.clone())
    );

    crds(&client)
        .delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        cache.resolve_gvk(&client, &gvk).await.unwrap(),
        Some(widget),
        "answered from the cache"
    );
    cache.invalidate("example.com", "v1");
    assert_eq!(cache.resolve_gvk(&client, &gvk).await.unwrap(), None);
    assert!(cache.resolve_name(&client, None, "wdg").await.is_err());
}
