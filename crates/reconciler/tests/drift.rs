//! The drift watch against the kube emulator: foreign deletes and edits are reported, our own
//! writes are not.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, OPERATOR_NS, cm, cms, deployment};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
};
use kube_emulator::Config;
use reconciler::{DriftChange, DriftEvent, DriftWatch};
use serde_json::{Value, json};
use std::time::Duration;

const DEBOUNCE: Duration = Duration::from_millis(200);

/// How long a test waits for something that should happen (generous for a loaded CI).
const WAIT: Duration = Duration::from_secs(30);

/// The module owning the sentinel objects of [`assert_no_drift_so_far`].
const SENTINEL: &str = "sentinel";

/// A ConfigMap and a Deployment the sentinel module owns (one per kind the tests drift, as
/// watches of different kinds are not ordered against each other).
fn sentinels() -> Vec<Value> {
    let mut d = deployment("sentinel");
    d["metadata"]["name"] = json!("sentinel");
    vec![cm("sentinel", "v"), d]
}

/// Applies the sentinels, starts the drift watch and waits until its watchers have listed.
async fn watching(h: &Harness) -> DriftWatch {
    h.apply(SENTINEL, sentinels()).await;
    let watch = h.reconciler.drift_watch(DEBOUNCE);
    tokio::time::timeout(WAIT, watch.listed())
        .await
        .expect("the drift watchers list within 30 s");
    watch
}

/// The next drift event; fails the test if none comes within [`WAIT`].
async fn expect_event(watch: &mut DriftWatch, what: &str) -> DriftEvent {
    tokio::time::timeout(WAIT, watch.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: no drift event within {WAIT:?}"))
        .expect("the drift watch runs")
}

/// Proves that nothing before it was reported as drift: deletes the sentinel of `kind`
/// (`ConfigMap` or `Deployment`) behind the reconciler's back and requires its drift event to
/// be the next one. Drift of the same kind is observed in order, so any earlier drift would come
/// first. The sentinel is restored afterwards.
async fn assert_no_drift_so_far(h: &Harness, watch: &mut DriftWatch, kind: &str, what: &str) {
    let (gvk, plural) = match kind {
        "ConfigMap" => (GroupVersionKind::gvk("", "v1", "ConfigMap"), "configmaps"),
        _ => (
            GroupVersionKind::gvk("apps", "v1", "Deployment"),
            "deployments",
        ),
    };
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<DynamicObject> = Api::namespaced_with(h.client.clone(), OPERATOR_NS, &resource);
    api.delete("sentinel", &DeleteParams::default())
        .await
        .unwrap();
    let event = expect_event(watch, "the sentinel's deletion").await;
    assert_eq!(event.module, SENTINEL, "{what}: {event:?}");
    assert_eq!(event.objects.len(), 1, "{what}: {event:?}");
    assert_eq!(event.objects[0].object.kind, kind);
    h.apply(SENTINEL, sentinels()).await;
}

#[tokio::test]
async fn deleting_a_managed_object_yields_a_drift_event() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 3)).await;
    let mut watch = watching(&h).await;
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    api.delete("a-1", &DeleteParams::default()).await.unwrap();
    let event = expect_event(&mut watch, "a foreign delete").await;
    assert_eq!(event.module, "mod-a");
    assert_eq!(event.objects.len(), 1);
    assert_eq!(event.objects[0].object.name, "a-1");
    assert_eq!(event.objects[0].change, DriftChange::Deleted);
    // Re-applying repairs it without another drift event.
    let report = h.apply("mod-a", cms("a", 3)).await;
    assert_eq!(report.created.len(), 1);
    assert_no_drift_so_far(&h, &mut watch, "ConfigMap", "the repair is not drift").await;
}

#[tokio::test]
async fn a_foreign_edit_yields_a_modified_event_debounced_per_module() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 2)).await;
    h.apply("mod-b", cms("b", 1)).await;
    let mut watch = watching(&h).await;
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    for name in ["a-0", "a-1", "a-0"] {
        let patch = json!({"data": {"k": "tampered"}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
    let event = expect_event(&mut watch, "foreign edits").await;
    assert_eq!(event.module, "mod-a");
    let names: Vec<_> = event
        .objects
        .iter()
        .map(|o| o.object.name.as_str())
        .collect();
    assert_eq!(names, ["a-0", "a-1"]);
    assert!(
        event
            .objects
            .iter()
            .all(|o| o.change == DriftChange::Modified)
    );
    assert_no_drift_so_far(&h, &mut watch, "ConfigMap", "one event for three edits").await;
}

#[tokio::test]
async fn our_own_applies_prunes_and_deletes_yield_no_drift() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 3)).await;
    let mut watch = watching(&h).await;
    // Updates, creations of a new kind, prunes and a module delete, all by the reconciler.
    let mut objects = vec![cm("a-0", "v2"), cm("a-1", "v2")];
    objects.push(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"x": "y"}}));
    h.apply("mod-a", objects.clone()).await;
    h.apply("mod-a", objects).await;
    h.apply("mod-b", cms("b", 2)).await;
    h.reconciler.delete_module("mod-b").await.unwrap();
    assert_no_drift_so_far(&h, &mut watch, "ConfigMap", "our own writes").await;
    // The watch of the new kind is alive: a foreign delete of the Secret is seen, and it is
    // the first event of that kind (our own Secret writes were not drift).
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(h.client.clone(), OPERATOR_NS);
    secrets.delete("s", &DeleteParams::default()).await.unwrap();
    let event = expect_event(&mut watch, "a foreign delete of the Secret").await;
    assert_eq!(event.module, "mod-a");
    assert_eq!(event.objects.len(), 1, "{event:?}");
    assert_eq!(event.objects[0].object.kind, "Secret");
}

#[tokio::test]
async fn a_status_only_update_is_not_drift_but_a_spec_or_label_change_is() {
    // The emulator writes a Deployment's status after each spec change, as its controller would.
    let h = Harness::start_with(Config {
        simulate_workloads: true,
        ..Config::default()
    })
    .await;
    h.apply("mod-a", vec![deployment("x")]).await;
    let api: Api<Deployment> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let applied = api.get("d").await.unwrap();
    assert!(applied.status.is_some(), "no simulated status");
    let mut watch = watching(&h).await;
    // A controller's status write: a new resourceVersion, the same generation.
    let status = json!({"status": {"readyReplicas": 0, "replicas": 1}});
    let updated = api
        .patch_status("d", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        applied.metadata.resource_version
    );
    assert_eq!(updated.metadata.generation, applied.metadata.generation);
    assert_no_drift_so_far(&h, &mut watch, "Deployment", "a status-only update").await;
    let foreign = [
        json!({"spec": {"replicas": 3}}),
        json!({"metadata": {"labels": {"someone": "else"}}}),
    ];
    for patch in foreign {
        api.patch("d", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        let event = expect_event(&mut watch, &format!("{patch}")).await;
        assert_eq!(event.module, "mod-a");
        assert_eq!(event.objects[0].object.name, "d");
        assert_eq!(event.objects[0].change, DriftChange::Modified);
        h.apply("mod-a", vec![deployment("x")]).await;
        assert_no_drift_so_far(&h, &mut watch, "Deployment", "the repair").await;
    }
}

#[tokio::test]
async fn a_delete_while_the_watch_reconnects_is_still_reported() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 2)).await;
    let mut watch = watching(&h).await;
    h.emu.controls().close_watches();
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    api.delete("a-0", &DeleteParams::default()).await.unwrap();
    let event = expect_event(&mut watch, "a delete while the watch restarted").await;
    assert_eq!(event.objects[0].object.name, "a-0");
    assert_eq!(event.objects[0].change, DriftChange::Deleted);
}

#[tokio::test]
async fn after_an_api_outage_longer_than_the_watch_history_drift_is_reported_again() {
    // A tiny watch history: writes during the outage push the resume point out of it, so the
    // resumed watches get 410 Gone and must relist.
    let h = Harness::start_with(Config {
        watch_history: 5,
        ..Config::default()
    })
    .await;
    h.apply("mod-a", cms("a", 2)).await;
    let mut watch = watching(&h).await;
    let controls = h.emu.controls();
    controls.fail_next(u32::MAX, Some("watch"), None, 500);
    controls.fail_next(u32::MAX, Some("list"), None, 500);
    controls.close_watches();
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    api.delete("a-0", &DeleteParams::default()).await.unwrap();
    for i in 0..10 {
        let noise: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("noise-{i}")}})).unwrap();
        api.create(&Default::default(), &noise).await.unwrap();
    }
    // The outage lasts until the watchers have failed a few times (their backoff grew).
    tokio::time::timeout(WAIT, async {
        while controls.injected() < 6 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the watchers retry during the outage");
    controls.clear_faults();
    let event = expect_event(&mut watch, "the delete during the outage").await;
    assert_eq!(event.module, "mod-a");
    assert_eq!(event.objects[0].object.name, "a-0");
    assert_eq!(event.objects[0].change, DriftChange::Deleted);
}

#[tokio::test]
async fn with_the_drift_watch_running_an_unchanged_apply_makes_no_request() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 10)).await;
    let _watch = watching(&h).await;
    h.reset();
    let report = h.apply("mod-a", cms("a", 10)).await;
    assert_eq!(report.unchanged.len(), 10);
    let counts = h.emu.controls().counts();
    assert_eq!(h.writes(), 0, "{counts:?}");
    // Live resourceVersions and the inventory both come from the watch-validated cache.
    assert_eq!(h.requests(), 0, "{counts:?}");
}

#[tokio::test]
async fn with_the_drift_watch_running_a_foreign_edit_is_still_reverted() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 2)).await;
    let mut watch = watching(&h).await;
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let patch = json!({"data": {"k": "tampered"}});
    api.patch("a-1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let event = expect_event(&mut watch, "a foreign edit").await;
    assert_eq!(event.objects[0].object.name, "a-1");
    h.reset();
    let report = h.apply("mod-a", cms("a", 2)).await;
    assert_eq!(report.updated.len(), 1);
    assert_eq!(report.unchanged.len(), 1);
    // No list: the cached resourceVersion differs, so one GET and one dry-run decide.
    assert_eq!(h.count("list", "configmaps"), 0);
    assert_eq!(h.count("get", "configmaps"), 1);
    assert_eq!(h.count("get", "secrets"), 0);
    assert_eq!(api.get("a-1").await.unwrap().data.unwrap()["k"], "v1");
    assert_no_drift_so_far(&h, &mut watch, "ConfigMap", "the revert").await;
}

#[tokio::test]
async fn an_inventory_written_by_another_replica_replaces_the_cached_one() {
    let h = Harness::start().await;
    h.apply("mod-a", vec![cm("a-0", "v")]).await;
    let _watch = watching(&h).await;
    // Another replica (say, after a leader change) applies the module with one more object.
    let other = reconciler::Reconciler::new(h.client.clone(), OPERATOR_NS);
    other
        .apply_module("mod-a", vec![cm("a-0", "v"), cm("x", "v")], &common::opts())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let inventory = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
        if inventory.objects.len() == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stale cached inventory: {inventory:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // So our next apply prunes what the other replica created: no orphan.
    let report = h.apply("mod-a", vec![cm("a-0", "v")]).await;
    let pruned: Vec<_> = report.pruned.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(pruned, ["x"]);
}
