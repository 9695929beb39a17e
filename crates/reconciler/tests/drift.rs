//! The drift watch against the kube emulator: foreign deletes and edits are reported, our own
//! writes are not.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, OPERATOR_NS, cm, cms, deployment};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube_emulator::Config;
use reconciler::{DriftChange, DriftWatch};
use serde_json::json;
use std::time::Duration;

const DEBOUNCE: Duration = Duration::from_millis(200);

async fn next_event(watch: &mut DriftWatch, within: Duration) -> Option<reconciler::DriftEvent> {
    tokio::time::timeout(within, watch.recv())
        .await
        .ok()
        .flatten()
}

/// Asserts that the watch reports no drift within `within`.
async fn assert_quiet(watch: &mut DriftWatch, within: Duration, what: &str) {
    if let Some(event) = next_event(watch, within).await {
        panic!("{what}: {event:?}");
    }
}

/// The next drift event; fails the test if none comes within `within`.
async fn expect_event(
    watch: &mut DriftWatch,
    within: Duration,
    what: &str,
) -> reconciler::DriftEvent {
    next_event(watch, within)
        .await
        .unwrap_or_else(|| panic!("{what}"))
}

/// Lets the watchers list before the test acts, so their initial state is in.
async fn settle(watch: &mut DriftWatch) {
    assert_quiet(
        watch,
        Duration::from_millis(500),
        "unexpected drift at start",
    )
    .await;
}

#[tokio::test]
async fn deleting_a_managed_object_yields_a_drift_event_within_a_second() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 3)).await;
    let mut watch = h.reconciler.drift_watch(DEBOUNCE);
    settle(&mut watch).await;
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    api.delete("a-1", &DeleteParams::default()).await.unwrap();
    let event = expect_event(
        &mut watch,
        Duration::from_secs(1),
        "no drift event within 1 s",
    )
    .await;
    assert_eq!(event.module, "mod-a");
    assert_eq!(event.objects.len(), 1);
    assert_eq!(event.objects[0].object.name, "a-1");
    assert_eq!(event.objects[0].change, DriftChange::Deleted);
    // Re-applying repairs it without another drift event.
    let report = h.apply("mod-a", cms("a", 3)).await;
    assert_eq!(report.created.len(), 1);
    assert_quiet(&mut watch, Duration::from_millis(600), "unexpected drift").await;
}

#[tokio::test]
async fn a_foreign_edit_yields_a_modified_event_debounced_per_module() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 2)).await;
    h.apply("mod-b", cms("b", 1)).await;
    let mut watch = h.reconciler.drift_watch(DEBOUNCE);
    settle(&mut watch).await;
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    for name in ["a-0", "a-1", "a-0"] {
        let patch = json!({"data": {"k": "tampered"}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
    let event = expect_event(
        &mut watch,
        Duration::from_secs(1),
        "no drift event within 1 s",
    )
    .await;
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
    assert_quiet(&mut watch, Duration::from_millis(500), "unexpected drift").await;
}

#[tokio::test]
async fn our_own_applies_prunes_and_deletes_yield_no_drift() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 3)).await;
    let mut watch = h.reconciler.drift_watch(DEBOUNCE);
    settle(&mut watch).await;
    // Updates, creations of a new kind, prunes and a module delete, all by the reconciler.
    let mut objects = vec![cm("a-0", "v2"), cm("a-1", "v2")];
    objects.push(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"x": "y"}}));
    h.apply("mod-a", objects.clone()).await;
    h.apply("mod-a", objects).await;
    h.apply("mod-b", cms("b", 2)).await;
    h.reconciler.delete_module("mod-b").await.unwrap();
    assert_quiet(&mut watch, Duration::from_millis(800), "unexpected drift").await;
    // The watch is still alive: a foreign delete of the new kind is seen.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(h.client.clone(), OPERATOR_NS);
    secrets.delete("s", &DeleteParams::default()).await.unwrap();
    let event = expect_event(
        &mut watch,
        Duration::from_secs(1),
        "no drift for the secret",
    )
    .await;
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
    let mut watch = h.reconciler.drift_watch(DEBOUNCE);
    settle(&mut watch).await;
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
    assert_quiet(
        &mut watch,
        Duration::from_millis(600),
        "a status-only update was taken for drift",
    )
    .await;
    let foreign = [
        json!({"spec": {"replicas": 3}}),
        json!({"metadata": {"labels": {"someone": "else"}}}),
    ];
    for patch in foreign {
        api.patch("d", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        let what = format!("no drift event for {patch}");
        let event = expect_event(&mut watch, Duration::from_secs(1), &what).await;
        assert_eq!(event.objects[0].object.name, "d");
        assert_eq!(event.objects[0].change, DriftChange::Modified);
        h.apply("mod-a", vec![deployment("x")]).await;
        settle(&mut watch).await;
    }
}

#[tokio::test]
async fn a_delete_while_the_watch_reconnects_is_still_reported() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 2)).await;
    let mut watch = h.reconciler.drift_watch(DEBOUNCE);
    settle(&mut watch).await;
    h.emu.controls().close_watches();
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    api.delete("a-0", &DeleteParams::default()).await.unwrap();
    let event = expect_event(
        &mut watch,
        Duration::from_secs(2),
        "no drift after the watch restarted",
    )
    .await;
    assert_eq!(event.objects[0].object.name, "a-0");
    assert_eq!(event.objects[0].change, DriftChange::Deleted);
}

#[tokio::test]
async fn with_the_drift_watch_running_an_unchanged_apply_makes_no_request() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 10)).await;
    let mut watch = h.reconciler.drift_watch(DEBOUNCE);
    settle(&mut watch).await;
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
    let mut watch = h.reconciler.drift_watch(DEBOUNCE);
    settle(&mut watch).await;
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let patch = json!({"data": {"k": "tampered"}});
    api.patch("a-1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let event = expect_event(&mut watch, Duration::from_secs(1), "no drift event").await;
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
    assert_quiet(&mut watch, Duration::from_millis(600), "unexpected drift").await;
}

#[tokio::test]
async fn an_inventory_written_by_another_replica_replaces_the_cached_one() {
    let h = Harness::start().await;
    h.apply("mod-a", vec![cm("a-0", "v")]).await;
    let mut watch = h.reconciler.drift_watch(DEBOUNCE);
    settle(&mut watch).await;
    // Another replica (say, after a leader change) applies the module with one more object.
    let other = reconciler::Reconciler::new(h.client.clone(), OPERATOR_NS);
    other
        .apply_module("mod-a", vec![cm("a-0", "v"), cm("x", "v")], &common::opts())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
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
