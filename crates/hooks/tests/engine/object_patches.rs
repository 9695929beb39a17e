//! Every object patch operation, through a hook's `$KUBERNETES_PATCH_PATH`.

use crate::common::*;
use hooks::{HookEngine, HookSet, OrderBinding, RunError};
use serde_json::json;

/// Runs a one-shot global hook that writes `ops` (YAML documents) as its object patches.
async fn run_ops(env: &Env, engine: &HookEngine, ops: &str) -> Result<(), RunError> {
    let dir = env.hooks_dir();
    let _ = std::fs::remove_dir_all(&dir);
    write_hook(
        &dir,
        "patch.sh",
        "configVersion: v1\nonStartup: 1",
        &format!("cat >> \"$KUBERNETES_PATCH_PATH\" <<'OPS'\n{ops}\nOPS"),
    );
    engine.load(HookSet::Global, &dir).await.unwrap();
    engine
        .run_order(&HookSet::Global, OrderBinding::OnStartup)
        .await
        .map(drop)
}

async fn cm_data(env: &Env, name: &str) -> Option<serde_json::Value> {
    get(&env.client, "v1", "ConfigMap", Some("default"), name)
        .await
        .map(|o| o["data"].clone())
}

#[tokio::test]
async fn create_variants_and_patch_variants_change_objects_as_documented() {
    let env = env().await;
    let engine = env.engine();
    let cm = |data: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: p, namespace: default}}\ndata: {data}"
        )
    };
    let create = |op: &str, data: &str| format!("operation: {op}\nobject:\n{}", indent(&cm(data)));
    run_ops(&env, &engine, &create("Create", "{a: '1'}"))
        .await
        .unwrap();
    assert_eq!(cm_data(&env, "p").await, Some(json!({"a": "1"})));
    let err = run_ops(&env, &engine, &create("Create", "{a: '2'}"))
        .await
        .unwrap_err();
    assert!(
        chain(&err).contains("object patch 1 (Create ConfigMap default/p): "),
        "{err}"
    );
    run_ops(&env, &engine, &create("CreateIfNotExists", "{a: '3'}"))
        .await
        .unwrap();
    assert_eq!(
        cm_data(&env, "p").await,
        Some(json!({"a": "1"})),
        "CreateIfNotExists leaves an existing object"
    );
    // `object` may also be a string holding YAML, like shell-operator accepts.
    run_ops(
        &env,
        &engine,
        &format!(
            "operation: CreateOrUpdate\nobject: |\n{}",
            indent(&cm("{a: '4'}"))
        ),
    )
    .await
    .unwrap();
    assert_eq!(cm_data(&env, "p").await, Some(json!({"a": "4"})));
    run_ops(&env, &engine, "operation: MergePatch\napiVersion: v1\nkind: ConfigMap\nnamespace: default\nname: p\nmergePatch: {data: {b: '5'}}")
        .await
        .unwrap();
    assert_eq!(cm_data(&env, "p").await, Some(json!({"a": "4", "b": "5"})));
    run_ops(&env, &engine, "operation: JSONPatch\nkind: configmaps\nnamespace: default\nname: p\njsonPatch: [{op: remove, path: /data/a}]")
        .await
        .unwrap();
    assert_eq!(cm_data(&env, "p").await, Some(json!({"b": "5"})));
    run_ops(&env, &engine, "operation: JQPatch\nkind: cm\nnamespace: default\nname: p\njqFilter: '.data.c = (.data.b + \"6\")'").await.unwrap();
    assert_eq!(cm_data(&env, "p").await, Some(json!({"b": "5", "c": "56"})));
    // A missing object fails the run unless ignoreMissingObject is set.
    let missing = "operation: MergePatch\nkind: ConfigMap\nnamespace: default\nname: nope\nmergePatch: {data: {x: y}}";
    let err = run_ops(&env, &engine, missing).await.unwrap_err();
    assert!(
        chain(&err).contains("MergePatch ConfigMap default/nope"),
        "{err}"
    );
    run_ops(
        &env,
        &engine,
        &format!("{missing}\nignoreMissingObject: true"),
    )
    .await
    .unwrap();
    run_ops(&env, &engine, "operation: JQPatch\nkind: ConfigMap\nnamespace: default\nname: nope\njqFilter: .\nignoreMissingObject: true").await.unwrap();
    engine.shutdown();
}

#[tokio::test]
async fn jq_patch_and_create_or_update_retry_on_conflict() {
    let env = env().await;
    let engine = env.engine();
    for (name, op) in [
        (
            "c",
            "operation: JQPatch\nkind: ConfigMap\nnamespace: default\nname: c\njqFilter: '.data.n = \"2\"'",
        ),
        (
            "u",
            "operation: CreateOrUpdate\nobject: {apiVersion: v1, kind: ConfigMap, metadata: {name: u, namespace: default}, data: {n: '2'}}",
        ),
    ] {
        env.apply(configmap("default", name, json!({}), json!({"n": "1"})))
            .await;
        let injected = env.emu.controls().injected();
        env.emu.controls().conflict_next_write();
        run_ops(&env, &engine, op).await.unwrap();
        assert_eq!(cm_data(&env, name).await, Some(json!({"n": "2"})), "{op}");
        assert_eq!(
            env.emu.controls().injected(),
            injected + 1,
            "the conflict was injected: {op}"
        );
    }
    engine.shutdown();
}

#[tokio::test]
async fn status_subresource_is_patched_separately() {
    let env = env().await;
    let engine = env.engine();
    apply_deployment(&env).await;
    run_ops(
        &env,
        &engine,
        "operation: MergePatch\napiVersion: apps/v1\nkind: Deployment\nnamespace: default\nname: d\nsubresource: status\nmergePatch: {status: {observedGeneration: 7}}",
    )
    .await
    .unwrap();
    let d = get(&env.client, "apps/v1", "Deployment", Some("default"), "d")
        .await
        .unwrap();
    assert_eq!(d["status"]["observedGeneration"], 7);
    assert_eq!(d["spec"]["replicas"], 1);
    engine.shutdown();
}

#[tokio::test]
async fn delete_variants_apply_their_propagation_policy() {
    let env = env().await;
    let engine = env.engine();
    for name in ["fg", "bg", "orphan"] {
        env.apply(configmap("default", name, json!({}), json!({})))
            .await;
        let owner = get(&env.client, "v1", "ConfigMap", Some("default"), name)
            .await
            .unwrap();
        let uid = owner["metadata"]["uid"].as_str().unwrap().to_string();
        let mut dep = configmap("default", &format!("{name}-dep"), json!({}), json!({}));
        dep["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": uid}]);
        env.apply(dep).await;
    }
    run_ops(
        &env,
        &engine,
        "operation: Delete\nkind: ConfigMap\nnamespace: default\nname: fg\n---\n\
         operation: DeleteInBackground\nkind: ConfigMap\nnamespace: default\nname: bg\n---\n\
         operation: DeleteNonCascading\nkind: ConfigMap\nnamespace: default\nname: orphan\n---\n\
         operation: Delete\nkind: ConfigMap\nnamespace: default\nname: never-existed",
    )
    .await
    .unwrap();
    for name in ["fg", "bg", "orphan"] {
        assert!(cm_data(&env, name).await.is_none(), "{name} deleted");
    }
    eventually("foreground delete removes the dependent", 30, || async {
        cm_data(&env, "fg-dep").await.is_none().then_some(())
    })
    .await;
    eventually("background GC removes the dependent", 30, || async {
        cm_data(&env, "bg-dep").await.is_none().then_some(())
    })
    .await;
    // Orphaning removes the owner reference in the same request, so the garbage collector
    // can never take the dependent later: checking it now is enough.
    let orphan = get(
        &env.client,
        "v1",
        "ConfigMap",
        Some("default"),
        "orphan-dep",
    )
    .await
    .expect("non-cascading delete keeps the dependent");
    assert!(
        orphan["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "and orphans it: {orphan}"
    );
    engine.shutdown();
}

/// Creates Deployment `default/d` with one replica.
async fn apply_deployment(env: &Env) {
    env.apply(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]}}}}))
        .await
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

#[tokio::test]
async fn status_patches_marked_ignore_hook_error_apply_even_when_the_hook_fails() {
    let env = env().await;
    let engine = env.engine();
    apply_deployment(&env).await;
    let dir = env.hooks_dir();
    write_hook(
        &dir,
        "failing.sh",
        "configVersion: v1\nonStartup: 1",
        r#"cat >> "$KUBERNETES_PATCH_PATH" <<'OPS'
operation: MergePatch
apiVersion: apps/v1
kind: Deployment
namespace: default
name: d
subresource: /status
ignoreHookError: true
mergePatch: {status: {observedGeneration: 42}}
---
operation: MergePatch
apiVersion: apps/v1
kind: Deployment
namespace: default
name: d
ignoreHookError: true
mergePatch: {spec: {replicas: 5}}
OPS
exit 1"#,
    );
    engine.load(HookSet::Global, &dir).await.unwrap();
    let err = engine
        .run_order(&HookSet::Global, OrderBinding::OnStartup)
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Exec(_)), "{err}");
    let d = get(&env.client, "apps/v1", "Deployment", Some("default"), "d")
        .await
        .unwrap();
    assert_eq!(
        d["status"]["observedGeneration"], 42,
        "status patch applied despite the failure"
    );
    assert_eq!(
        d["spec"]["replicas"], 1,
        "only status patches apply on hook error"
    );
}

#[tokio::test]
async fn a_failed_operation_does_not_stop_later_ones_and_every_failure_is_reported() {
    let env = env().await;
    let engine = env.engine();
    let err = run_ops(
        &env,
        &engine,
        "operation: MergePatch\nkind: ConfigMap\nnamespace: default\nname: missing-1\nmergePatch: {data: {a: b}}\n---\n\
         operation: Create\nobject: {apiVersion: v1, kind: ConfigMap, metadata: {name: made, namespace: default}}\n---\n\
         operation: Delete\nkind: NoSuchKind\nname: x",
    )
    .await
    .unwrap_err();
    let text = chain(&err);
    assert!(
        text.contains("object patch 1 (MergePatch ConfigMap default/missing-1)"),
        "{text}"
    );
    assert!(
        text.contains("object patch 3 (Delete NoSuchKind x): unknown kind \"NoSuchKind\""),
        "{text}"
    );
    assert!(cm_data(&env, "made").await.is_some(), "operation 2 applied");
}

/// Issue 16 §1: YAML goes through the shared yaml-json crate, so a non-string key reads as
/// kubectl reads it; serde_yaml straight into JSON refused `1: a`.
#[tokio::test]
async fn an_object_with_non_string_keys_in_its_data_is_created_as_kubectl_would() {
    let env = env().await;
    let engine = env.engine();
    run_ops(
        &env,
        &engine,
        "operation: Create\nobject:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: numeric-keys, namespace: default}\n  data:\n    1: a\n    true: b",
    )
    .await
    .unwrap();
    assert_eq!(
        cm_data(&env, "numeric-keys").await,
        Some(json!({"1": "a", "true": "b"}))
    );
    engine.shutdown();
}
