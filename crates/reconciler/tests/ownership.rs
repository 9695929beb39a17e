//! Ownership (issue 8 §1): one owner per object, adoption only when told, and a refused object
//! never enters an inventory, so nothing that is not ours is ever deleted.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, OPERATOR_NS, cm, names, opts};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams};
use reconciler::ApplyError;
use serde_json::{Value, json};

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

#[tokio::test]
async fn a_module_rendering_another_modules_object_is_refused_and_the_owner_keeps_it() {
    let h = Harness::start().await;
    h.apply("mod-a", vec![cm("shared", "a"), cm("a-only", "a")])
        .await;
    h.reset();
    let err = h
        .reconciler
        .apply_module("mod-b", vec![cm("shared", "b"), cm("b-only", "b")], &opts())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApplyError::OwnedByOtherModule { owner, object, .. }
            if owner == "mod-a" && object.name == "shared"),
        "{err}"
    );
    let message = err.to_string();
    for part in [
        "module mod-b:",
        "ConfigMap/addon-operator/shared",
        "belongs to module mod-a",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    assert_eq!(h.writes(), 0, "nothing of mod-b is applied");
    assert!(
        h.reconciler.inventory("mod-b").await.unwrap().is_none(),
        "the refused object is not even in a pending inventory"
    );
    assert_eq!(h.module_label("shared").await.as_deref(), Some("mod-a"));
    let shared = h.config_map("shared").await.unwrap();
    assert_eq!(shared.data.unwrap()["k"], "a");
    // Disabling the refused module deletes nothing; the owner still prunes and deletes it.
    h.reconciler.delete_module("mod-b").await.unwrap();
    assert!(h.config_map("shared").await.is_some());
    let report = h.reconciler.delete_module("mod-a").await.unwrap();
    assert_eq!(names(&report.deleted), ["a-only", "shared"]);
}

#[tokio::test]
async fn two_modules_creating_the_same_object_at_once_leave_it_to_exactly_one() {
    let h = Harness::start().await;
    // Requests take long enough for both applies to be between check and create together.
    h.emu
        .controls()
        .set_latency(std::time::Duration::from_millis(30));
    let opts = opts();
    let (a, b) = tokio::join!(
        h.reconciler
            .apply_module("mod-a", vec![namespace("shared"), cm("a", "a")], &opts),
        h.reconciler
            .apply_module("mod-b", vec![namespace("shared"), cm("b", "b")], &opts),
    );
    h.emu.controls().set_latency(std::time::Duration::ZERO);
    let (winner, loser, err) = match (a, b) {
        (Ok(_), Err(err)) => ("mod-a", "mod-b", err),
        (Err(err), Ok(_)) => ("mod-b", "mod-a", err),
        (a, b) => panic!("exactly one module may own the Namespace: {a:?} / {b:?}"),
    };
    assert!(
        matches!(&err, ApplyError::OwnedByOtherModule { owner, .. } if owner == winner),
        "{err}"
    );
    let api: Api<Namespace> = Api::all(h.client.clone());
    let live = api.get("shared").await.unwrap();
    assert_eq!(
        live.metadata.labels.unwrap()[reconciler::MODULE_LABEL],
        winner
    );
    assert!(h.reconciler.inventory(loser).await.unwrap().is_none());
    h.reconciler.delete_module(loser).await.unwrap();
    assert!(api.get_opt("shared").await.unwrap().is_some());
}

#[tokio::test]
async fn a_user_object_is_not_adopted_unless_told_and_the_error_says_how() {
    let h = Harness::start().await;
    h.create_user_config_map("settings", json!({})).await;
    h.reset();
    let err = h
        .reconciler
        .apply_module(
            "mod-a",
            vec![cm("settings", "ours"), cm("a-0", "v")],
            &opts(),
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, ApplyError::NotAdopted { .. }), "{err}");
    let command =
        "kubectl annotate configmaps settings -n addon-operator addon-operator.io/adopt=true";
    assert!(err.to_string().contains(command), "{err}");
    assert!(
        err.to_string()
            .contains("module mod-a: ConfigMap/addon-operator/settings"),
        "{err}"
    );
    assert_eq!(h.writes(), 0, "nothing is applied");
    assert!(h.reconciler.inventory("mod-a").await.unwrap().is_none());
    let live = h.config_map("settings").await.unwrap();
    assert!(live.metadata.labels.is_none(), "{:?}", live.metadata);
    assert_eq!(live.data.unwrap()["user"], "data");
}

#[tokio::test]
async fn an_adopted_object_enters_the_inventory_and_only_it_is_deleted_with_the_module() {
    let h = Harness::start().await;
    h.create_user_config_map("settings", json!({"addon-operator.io/adopt": "true"}))
        .await;
    h.create_user_config_map("untouched", json!({})).await;
    let report = h
        .apply("mod-a", vec![cm("settings", "ours"), cm("a-0", "v")])
        .await;
    assert_eq!(names(&report.adopted), ["settings"]);
    assert_eq!(names(&report.updated), ["settings"]);
    assert_eq!(h.module_label("settings").await.as_deref(), Some("mod-a"));
    assert_eq!(
        h.config_map("settings").await.unwrap().data.unwrap()["k"],
        "ours"
    );
    let inventory = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert_eq!(
        names(&inventory.refs().cloned().collect::<Vec<_>>()),
        ["a-0", "settings"]
    );
    // Adopted once, it is ours: the next identical apply writes nothing.
    h.reset();
    h.apply("mod-a", vec![cm("settings", "ours"), cm("a-0", "v")])
        .await;
    assert_eq!(h.writes(), 0);
    let report = h.reconciler.delete_module("mod-a").await.unwrap();
    assert_eq!(names(&report.deleted), ["a-0", "settings"]);
    assert!(h.config_map("untouched").await.is_some());
}

#[tokio::test]
async fn helm_ownership_metadata_naming_the_module_adopts_the_object() {
    let h = Harness::start().await;
    let helm = |release: &str, namespace: &str| json!({"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace});
    h.create_user_config_map("other-release", helm("mod-b", OPERATOR_NS))
        .await;
    h.create_user_config_map("other-namespace", helm("mod-a", "elsewhere"))
        .await;
    h.create_user_config_map("migrated", helm("mod-a", OPERATOR_NS))
        .await;
    for name in ["other-release", "other-namespace"] {
        let err = h
            .reconciler
            .apply_module("mod-a", vec![cm(name, "ours")], &opts())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ApplyError::NotAdopted { .. }),
            "{name}: {err}"
        );
    }
    let report = h.apply("mod-a", vec![cm("migrated", "ours")]).await;
    assert_eq!(names(&report.adopted), ["migrated"]);
    assert_eq!(h.module_label("migrated").await.as_deref(), Some("mod-a"));
    for name in ["other-release", "other-namespace"] {
        assert_eq!(h.module_label(name).await, None, "{name} was written");
    }
}

#[tokio::test]
async fn a_pending_entry_is_checked_again_so_a_user_object_created_after_a_failure_is_not_taken() {
    let h = Harness::start().await;
    h.apply("mod-a", vec![cm("a-0", "v")]).await;
    h.emu
        .controls()
        .fail_next(1, Some("patch"), Some("configmaps"), 500);
    h.reconciler
        .apply_module("mod-a", vec![cm("a-0", "v"), cm("new", "v")], &opts())
        .await
        .unwrap_err();
    let pending = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert!(pending.refs().any(|r| r.name == "new"), "{pending:?}");
    // Before the retry, a user creates an object of that name.
    h.create_user_config_map("new", json!({})).await;
    let err = h
        .reconciler
        .apply_module("mod-a", vec![cm("a-0", "v"), cm("new", "v")], &opts())
        .await
        .unwrap_err();
    assert!(matches!(&err, ApplyError::NotAdopted { .. }), "{err}");
    // The module stops rendering it: the pending entry is pruned without touching the object.
    let report = h.apply("mod-a", vec![cm("a-0", "v")]).await;
    assert_eq!(names(&report.prune_skipped), ["new"]);
    assert_eq!(
        h.config_map("new").await.unwrap().data.unwrap()["user"],
        "data"
    );
}

#[tokio::test]
async fn an_object_created_by_someone_else_after_the_check_is_released_not_adopted() {
    let h = Harness::start().await;
    // The other replica's create of `raced` waits until the user has created it.
    let (other, gate) = h.gated_reconciler("PATCH", "/configmaps/raced");
    let apply = tokio::spawn(async move {
        other
            .apply_module("mod-a", vec![cm("raced", "ours")], &opts())
            .await
    });
    gate.arrived().await;
    h.create_user_config_map("raced", json!({})).await;
    gate.open();
    let err = apply.await.unwrap().unwrap_err();
    assert!(
        matches!(
            &err,
            ApplyError::CreatedMeanwhile {
                label_removed: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("kubectl annotate configmaps raced"),
        "{err}"
    );
    assert_eq!(h.module_label("raced").await, None, "our label was removed");
    // Listed in the pending inventory, yet never deleted and never adopted silently.
    h.reconciler.delete_module("mod-a").await.unwrap();
    assert!(h.config_map("raced").await.is_some());
    let err = h
        .reconciler
        .apply_module("mod-a", vec![cm("raced", "ours")], &opts())
        .await
        .unwrap_err();
    assert!(matches!(&err, ApplyError::NotAdopted { .. }), "{err}");
}

#[tokio::test]
async fn an_adoption_is_not_written_when_the_object_changed_after_the_check() {
    let h = Harness::start().await;
    h.create_user_config_map("settings", json!({"addon-operator.io/adopt": "true"}))
        .await;
    // The first PATCH of `settings` is the dry-run that follows the ownership check.
    let (other, gate) = h.gated_reconciler("PATCH", "/configmaps/settings");
    let apply = tokio::spawn(async move {
        other
            .apply_module("mod-a", vec![cm("settings", "ours")], &opts())
            .await
    });
    gate.arrived().await;
    // Meanwhile the user withdraws the adoption.
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let withdraw = json!({"metadata": {"annotations": {"addon-operator.io/adopt": null}}});
    api.patch(
        "settings",
        &PatchParams::default(),
        &Patch::Merge(&withdraw),
    )
    .await
    .unwrap();
    gate.open();
    let err = apply.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, ApplyError::Api { source: kube::Error::Api(status), .. } if status.code == 409),
        "{err}"
    );
    let live = h.config_map("settings").await.unwrap();
    assert!(live.metadata.labels.is_none(), "{:?}", live.metadata);
    assert_eq!(live.data.unwrap()["user"], "data");
}
