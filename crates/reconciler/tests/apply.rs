//! apply_module / delete_module against the kube emulator: writes, inventory, prune, stages.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, OPERATOR_NS, cm, cms, names, opts};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use reconciler::{ApplyError, ApplyOptions, Phase, PrepareError};
use serde_json::json;

#[tokio::test]
async fn first_apply_creates_every_object_and_the_inventory() {
    let h = Harness::start().await;
    let mut objects = cms("a", 3);
    objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}));
    let report = h.apply("mod-a", objects).await;
    assert_eq!(names(&report.created), ["a-0", "a-1", "a-2", "demo"]);
    assert!(report.inventory_written);
    assert_eq!(report.revision, 1);

    let live = h.config_map("a-1").await.unwrap();
    let labels = live.metadata.labels.unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "addon-operator");
    assert_eq!(labels["addon-operator.io/module"], "mod-a");
    let managers: Vec<_> = live
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"addon-operator".to_string()),
        "{managers:?}"
    );

    let inventory = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert_eq!(inventory.phase, Phase::Applied);
    assert_eq!(inventory.checksum, "c1");
    assert_eq!(inventory.objects.len(), 4);
    // Namespaces are applied first, so they are listed first.
    assert_eq!(inventory.objects[0].object.kind, "Namespace");
    assert!(
        inventory
            .objects
            .iter()
            .all(|e| e.hash.is_some() && e.resource_version.is_some())
    );
}

#[tokio::test]
async fn second_identical_apply_makes_zero_writes() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 20)).await;
    h.reset();
    let report = h.apply("mod-a", cms("a", 20)).await;
    assert_eq!(h.writes(), 0, "requests: {:?}", h.emu.controls().counts());
    assert_eq!(report.unchanged.len(), 20);
    assert!(!report.inventory_written);
    assert_eq!(report.revision, 1);
    // One inventory read and one labelled list of the only kind involved.
    assert_eq!(h.requests(), 2, "requests: {:?}", h.emu.controls().counts());
}

#[tokio::test]
async fn changing_one_object_writes_exactly_that_object_and_the_inventory() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 5)).await;
    h.reset();
    let mut objects = cms("a", 5);
    objects[3] = cm("a-3", "v2");
    let report = h.apply("mod-a", objects).await;
    assert_eq!(names(&report.updated), ["a-3"]);
    assert_eq!(report.unchanged.len(), 4);
    assert_eq!(h.count("patch", "configmaps"), 1);
    // The inventory is replaced with a resourceVersion precondition (fenced write).
    assert_eq!(h.count("update", "secrets"), 1);
    assert_eq!(h.writes(), 2);
    assert_eq!(report.revision, 2);
    assert_eq!(h.config_map("a-3").await.unwrap().data.unwrap()["k"], "v2");
}

#[tokio::test]
async fn removing_an_object_prunes_only_it() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 3)).await;
    let mut objects = cms("a", 3);
    objects.remove(1);
    let report = h.apply("mod-a", objects).await;
    assert_eq!(names(&report.pruned), ["a-1"]);
    assert!(h.config_map("a-1").await.is_none());
    assert!(h.config_map("a-0").await.is_some());
    assert!(h.config_map("a-2").await.is_some());
    let inventory = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert_eq!(inventory.objects.len(), 2);
}

/// A ConfigMap carrying the module's labels but never applied by it (absent from its inventory).
async fn create_foreign(h: &Harness, name: &str, module: &str) {
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let foreign: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name,
        "labels": {"app.kubernetes.io/managed-by": "addon-operator", "addon-operator.io/module": module}}}))
    .unwrap();
    api.create(&PostParams::default(), &foreign).await.unwrap();
}

#[tokio::test]
async fn an_object_outside_the_inventory_is_never_deleted() {
    let h = Harness::start().await;
    create_foreign(&h, "foreign", "mod-a").await;
    h.apply("mod-a", cms("a", 2)).await;
    h.apply("mod-a", cms("a", 1)).await;
    let opts = ApplyOptions {
        allow_empty: true,
        ..opts()
    };
    let report = h
        .reconciler
        .apply_module("mod-a", vec![], &opts)
        .await
        .unwrap();
    assert_eq!(names(&report.pruned), ["a-0"]);
    h.reconciler.delete_module("mod-a").await.unwrap();
    assert!(h.config_map("foreign").await.is_some());
}

#[tokio::test]
async fn an_object_relabelled_for_another_module_is_not_pruned_by_the_old_one() {
    let h = Harness::start().await;
    h.apply("mod-a", vec![cm("shared", "a"), cm("a-only", "a")])
        .await;
    // A person (or an operator version before ownership checks) moved the object to mod-b.
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let relabel = json!({"metadata": {"labels": {"addon-operator.io/module": "mod-b"}}});
    api.patch(
        "shared",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&relabel),
    )
    .await
    .unwrap();
    let report = h.apply("mod-a", vec![cm("a-only", "a")]).await;
    assert_eq!(names(&report.prune_skipped), ["shared"]);
    assert!(h.config_map("shared").await.is_some());
}

#[tokio::test]
async fn delete_module_removes_exactly_its_objects_and_its_inventory() {
    let h = Harness::start().await;
    let mut a = cms("a", 3);
    a.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-a"}}));
    a.push(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns-a"},
        "stringData": {"x": "y"}}),
    );
    h.apply("mod-a", a).await;
    h.apply("mod-b", cms("b", 2)).await;
    let report = h.reconciler.delete_module("mod-a").await.unwrap();
    assert_eq!(names(&report.deleted), ["a-0", "a-1", "a-2", "ns-a", "s"]);
    // Reverse apply order: the Namespace goes last.
    assert_eq!(report.deleted.last().unwrap().kind, "Namespace");
    for name in ["a-0", "a-1", "a-2"] {
        assert!(h.config_map(name).await.is_none(), "{name} survived");
    }
    assert!(h.config_map("b-0").await.is_some());
    assert!(h.config_map("b-1").await.is_some());
    assert!(h.reconciler.inventory("mod-a").await.unwrap().is_none());
    assert!(h.reconciler.inventory("mod-b").await.unwrap().is_some());
    // Deleting a module without an inventory is a no-op.
    let again = h.reconciler.delete_module("mod-a").await.unwrap();
    assert!(again.deleted.is_empty());
}

#[tokio::test]
async fn crd_and_custom_resource_apply_in_one_go() {
    let h = Harness::start().await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
          "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
          "versions": [{"name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 3}});
    // The CR is rendered first; staging must still apply the CRD first.
    let report = h
        .apply("mod-crd", vec![widget.clone(), cm("c", "v"), crd.clone()])
        .await;
    assert_eq!(report.created.len(), 3);
    assert_eq!(report.created[0].kind, "CustomResourceDefinition");
    assert_eq!(report.created[2].kind, "Widget");
    let gvk = kube::api::GroupVersionKind::gvk("example.com", "v1", "Widget");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(h.client.clone(), OPERATOR_NS, &ar);
    assert_eq!(api.get("w1").await.unwrap().data["spec"]["size"], 3);
    h.reset();
    let again = h.apply("mod-crd", vec![widget, cm("c", "v"), crd]).await;
    assert_eq!(again.unchanged.len(), 3);
    assert_eq!(h.writes(), 0);
}

#[tokio::test]
async fn ensure_objects_applies_and_records_them_without_pruning_the_rest() {
    let h = Harness::start().await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
          "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
          "versions": [{"name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    h.apply("mod-a", cms("a", 2)).await;
    let report = h
        .reconciler
        .ensure_objects("mod-a", vec![crd.clone()])
        .await
        .unwrap();
    assert_eq!(names(&report.created), ["gadgets.example.com"]);
    assert!(report.pruned.is_empty());
    assert!(
        h.config_map("a-0").await.is_some() && h.config_map("a-1").await.is_some(),
        "the module's other objects stay"
    );
    let inventory = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    let mut recorded: Vec<&str> = inventory.refs().map(|r| r.name.as_str()).collect();
    recorded.sort();
    assert_eq!(recorded, ["a-0", "a-1", "gadgets.example.com"]);
    assert_eq!(
        inventory.checksum, "c1",
        "the checksum stays the last full apply's"
    );
    // Established: a Gadget can be created right away.
    let gvk = kube::api::GroupVersionKind::gvk("example.com", "v1", "Gadget");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "gadgets");
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(h.client.clone(), OPERATOR_NS, &ar);
    let gadget: kube::api::DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &gadget).await.unwrap();

    h.reset();
    let again = h
        .reconciler
        .ensure_objects("mod-a", vec![crd.clone()])
        .await
        .unwrap();
    assert_eq!(again.unchanged.len(), 1);
    assert_eq!(h.writes(), 0, "an unchanged ensure writes nothing");

    // The next full apply prunes as usual, the ensured object included if no longer rendered.
    let mut objects = cms("a", 1);
    objects.push(crd);
    let report = h.apply("mod-a", objects).await;
    assert_eq!(names(&report.pruned), ["a-1"]);
    assert!(
        h.reconciler
            .ensure_objects("mod-a", Vec::new())
            .await
            .unwrap()
            .created
            .is_empty()
    );
}

#[tokio::test]
async fn a_render_with_zero_objects_is_refused_unless_allowed() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 2)).await;
    let err = h
        .reconciler
        .apply_module("mod-a", vec![], &opts())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::EmptyRender { previous: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("mod-a"), "{err}");
    assert!(h.config_map("a-0").await.is_some());
    let allowed = ApplyOptions {
        allow_empty: true,
        ..opts()
    };
    let report = h
        .reconciler
        .apply_module("mod-a", vec![], &allowed)
        .await
        .unwrap();
    assert_eq!(report.pruned.len(), 2);
    // A module that never had objects may render none.
    h.apply("mod-empty", vec![]).await;
}

#[tokio::test]
async fn invalid_objects_are_all_reported_and_nothing_is_applied() {
    let h = Harness::start().await;
    let objects = vec![
        cm("ok", "v"),
        json!({"kind": "ConfigMap", "metadata": {"name": "no-version"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
        cm("ok", "twice"),
    ];
    h.reset();
    let err = h
        .reconciler
        .apply_module("mod-a", objects, &opts())
        .await
        .unwrap_err();
    let ApplyError::InvalidObjects { problems, .. } = &err else {
        panic!("unexpected error {err}");
    };
    let kinds: Vec<_> = problems.iter().map(|p| p.problem.clone()).collect();
    assert_eq!(
        kinds,
        [
            PrepareError::MissingType,
            PrepareError::MissingName,
            PrepareError::Duplicate
        ],
        "{problems:?}"
    );
    assert!(
        err.to_string()
            .contains("ConfigMap/addon-operator/ok: rendered more than once"),
        "{err}"
    );
    assert_eq!(h.writes(), 0);
    let unknown =
        json!({"apiVersion": "nothing.example.com/v1", "kind": "Ghost", "metadata": {"name": "g"}});
    let err = h
        .reconciler
        .apply_module("mod-a", vec![unknown], &opts())
        .await
        .unwrap_err();
    assert!(matches!(err, ApplyError::Discovery { .. }), "{err}");
    assert!(err.to_string().contains("nothing.example.com/v1"), "{err}");
    assert!(err.to_string().contains("module mod-a: Ghost/g:"), "{err}");
}

#[tokio::test]
async fn a_failure_mid_apply_prunes_nothing_and_keeps_the_inventory_entries() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 3)).await;
    let before = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    let mut objects = vec![cm("a-0", "changed"), cm("new", "v")];
    objects.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
          "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}));
    h.emu
        .controls()
        .fail_next(1, Some("patch"), Some("deployments"), 500);
    let err = h
        .reconciler
        .apply_module("mod-a", objects, &opts())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApplyError::Api { action: "apply", object, .. } if object.kind == "Deployment"),
        "{err}"
    );
    assert!(
        err.to_string().contains("Deployment/addon-operator/d"),
        "{err}"
    );
    for name in ["a-1", "a-2"] {
        assert!(h.config_map(name).await.is_some(), "{name} was pruned");
    }
    let after = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    // Old entries untouched; the objects this apply meant to create are listed as pending.
    assert_eq!(after.objects[..3], before.objects[..]);
    assert_eq!(after.phase, Phase::Pending);
    assert_eq!(
        names(&after.refs().cloned().collect::<Vec<_>>()),
        ["a-0", "a-1", "a-2", "d", "new"]
    );
    // The retry converges and prunes.
    let report = h
        .apply("mod-a", vec![cm("a-0", "changed"), cm("new", "v")])
        .await;
    assert_eq!(names(&report.pruned), ["a-1", "a-2", "d"]);
    assert_eq!(
        h.reconciler
            .inventory("mod-a")
            .await
            .unwrap()
            .unwrap()
            .phase,
        Phase::Applied
    );
}

#[tokio::test]
async fn an_unchanged_object_written_by_someone_else_is_checked_by_dry_run_not_rewritten() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 2)).await;
    // Someone adds an unrelated annotation: the live resourceVersion moves.
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let patch = json!({"metadata": {"annotations": {"someone": "else"}}});
    api.patch(
        "a-0",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .unwrap();
    let rv = h.config_map("a-0").await.unwrap().metadata.resource_version;
    let report = h.apply("mod-a", cms("a", 2)).await;
    assert_eq!(report.unchanged.len(), 2);
    assert_eq!(
        h.config_map("a-0").await.unwrap().metadata.resource_version,
        rv
    );
    // But someone changing a field we own is reverted.
    let patch = json!({"data": {"k": "tampered"}});
    api.patch(
        "a-1",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .unwrap();
    let report = h.apply("mod-a", cms("a", 2)).await;
    assert_eq!(names(&report.updated), ["a-1"]);
    assert_eq!(h.config_map("a-1").await.unwrap().data.unwrap()["k"], "v1");
}

#[tokio::test]
async fn a_pending_inventory_left_by_a_crash_is_pruned_without_orphans_or_wrongful_deletes() {
    use k8s_openapi::api::core::v1::Secret;
    let h = Harness::start().await;
    h.apply("mod-a", vec![cm("a-0", "v")]).await;
    // The state a SIGKILL mid-apply leaves: a pending inventory listing the old object plus the
    // two the apply meant to create; one of them was created (with our labels), the other name
    // belongs to someone else's object that we never applied.
    create_foreign(&h, "created-before-crash", "mod-a").await;
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let theirs: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "theirs"}})).unwrap();
    api.create(&PostParams::default(), &theirs).await.unwrap();
    let mut pending = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    pending.phase = Phase::Pending;
    for name in ["created-before-crash", "theirs"] {
        let mut entry = pending.objects[0].clone();
        entry.object.name = name.into();
        entry.hash = None;
        entry.resource_version = None;
        pending.objects.push(entry);
    }
    let secrets: Api<Secret> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let data: std::collections::BTreeMap<_, _> = pending
        .encode()
        .into_iter()
        .map(|(k, v)| (k, k8s_openapi::ByteString(v)))
        .collect();
    let patch = json!({"data": data});
    secrets
        .patch(
            &reconciler::inventory_secret_name("mod-a"),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();

    // The restarted operator renders only a-0.
    let report = h.apply("mod-a", vec![cm("a-0", "v")]).await;
    assert_eq!(names(&report.pruned), ["created-before-crash"]);
    assert_eq!(names(&report.prune_skipped), ["theirs"]);
    assert!(h.config_map("created-before-crash").await.is_none());
    assert!(h.config_map("theirs").await.is_some());
    let inventory = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert_eq!(inventory.phase, Phase::Applied);
    assert_eq!(inventory.objects.len(), 1);
}

#[tokio::test]
async fn a_failed_delete_keeps_the_inventory_so_calling_delete_module_again_finishes_it() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 3)).await;
    h.emu
        .controls()
        .fail_next(1, Some("delete"), Some("configmaps"), 500);
    let err = h.reconciler.delete_module("mod-a").await.unwrap_err();
    let ApplyError::Objects { errors, .. } = &err else {
        panic!("unexpected error {err}");
    };
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        matches!(
            &errors[0],
            ApplyError::Api {
                action: "delete",
                ..
            }
        ),
        "{err}"
    );
    let mut survivors = Vec::new();
    for name in ["a-0", "a-1", "a-2"] {
        if h.config_map(name).await.is_some() {
            survivors.push(name);
        }
    }
    assert_eq!(survivors.len(), 1, "exactly the failed delete survives");
    let inventory = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert_eq!(inventory.objects.len(), 3, "the inventory still lists it");
    // The retry deletes what is left and then the inventory.
    let report = h.reconciler.delete_module("mod-a").await.unwrap();
    assert_eq!(names(&report.deleted), survivors);
    assert_eq!(report.absent.len(), 2);
    assert!(h.config_map(survivors[0]).await.is_none());
    assert!(h.reconciler.inventory("mod-a").await.unwrap().is_none());
}

#[tokio::test]
async fn a_failed_prune_keeps_the_object_in_the_inventory_so_the_retry_prunes_it() {
    let h = Harness::start().await;
    h.apply("mod-a", cms("a", 3)).await;
    h.emu
        .controls()
        .fail_next(1, Some("delete"), Some("configmaps"), 500);
    let err = h
        .reconciler
        .apply_module("mod-a", cms("a", 1), &opts())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApplyError::Objects { errors, .. } if errors.len() == 1),
        "{err}"
    );
    let inventory = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    let listed = names(&inventory.refs().cloned().collect::<Vec<_>>());
    assert_eq!(
        listed.len(),
        2,
        "a-0 and the object that failed to go: {listed:?}"
    );
    let failed = listed.iter().find(|n| *n != "a-0").unwrap().clone();
    assert!(h.config_map(&failed).await.is_some());
    let report = h.apply("mod-a", cms("a", 1)).await;
    assert_eq!(names(&report.pruned), [failed.as_str()]);
    assert!(h.config_map(&failed).await.is_none());
}
