//! Binding-context golden tests: every context type, compared with checked-in JSON.
//! `GOLDEN_OVERWRITE=1 cargo test -p hooks --test engine golden` rewrites the files.

use crate::common::*;
use hooks::{HookSet, OrderBinding};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A hook body that saves each binding context as `<out>/<first group or binding>-<n>.json`,
/// renamed into place so that a test waiting for the file never reads half of it.
fn saver(out: &Path) -> String {
    format!(
        r#"shopt -s nullglob
b=$(jq -r '.[0].groupName // .[0].binding' "$BINDING_CONTEXT_PATH")
files=({out}/$b-*.json)
cp "$BINDING_CONTEXT_PATH" "{out}/.partial-$b"
mv "{out}/.partial-$b" "{out}/$b-${{#files[@]}}.json""#,
        out = out.display()
    )
}

/// Fields the API server sets and changes on its own (between servers, emulator versions and
/// runs): removed from every object's `metadata` before comparing, never from hook data such as
/// a `filterResult` that happens to use one of these names.
const SERVER_MANAGED: [&str; 8] = [
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Strips [`SERVER_MANAGED`] fields from the `metadata` of every object (a map with `kind`).
fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key("kind")
                && let Some(Value::Object(meta)) = m.get_mut("metadata")
            {
                SERVER_MANAGED.iter().for_each(|k| drop(meta.remove(*k)));
            }
            m.values_mut().for_each(normalize);
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// Compares the binding context in `file` with `tests/golden/<name>.json`, both normalised and
/// compared as JSON values (key order is not significant).
fn assert_golden(name: &str, file: &Path) {
    let mut actual: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    normalize(&mut actual);
    let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    if std::env::var_os("GOLDEN_OVERWRITE").is_some() {
        std::fs::write(&golden, &text).unwrap();
        return;
    }
    let expected_text = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with GOLDEN_OVERWRITE=1 to create it)",
            golden.display()
        )
    });
    let mut expected: Value = serde_json::from_str(&expected_text)
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", golden.display()));
    normalize(&mut expected);
    assert!(
        actual == expected,
        "binding context {name} differs from {}\nactual:\n{text}expected:\n{expected_text}",
        golden.display()
    );
}

#[test]
fn normalize_strips_server_fields_from_object_metadata_only() {
    let mut v = json!([{"object": {"kind": "ConfigMap", "metadata": {"name": "a", "uid": "u",
        "resourceVersion": "7", "creationTimestamp": "t", "generation": 2}},
        "filterResult": {"uid": "kept", "metadata": {"uid": "kept too"}}}]);
    normalize(&mut v);
    assert_eq!(
        v,
        json!([{"object": {"kind": "ConfigMap", "metadata": {"name": "a"}},
            "filterResult": {"uid": "kept", "metadata": {"uid": "kept too"}}}])
    );
}

async fn wait_file(path: PathBuf) -> PathBuf {
    eventually(&format!("{} written", path.display()), 30, || {
        let p = path.clone();
        async move { p.exists().then_some(p) }
    })
    .await
}

const KUBE_CONFIG: &str = r#"configVersion: v1
kubernetes:
- name: cms
  apiVersion: v1
  kind: ConfigMap
  namespace: {nameSelector: {matchNames: [golden]}}
  jqFilter: .data
- name: slim
  kind: cm
  namespace: {nameSelector: {matchNames: [golden]}}
  jqFilter: .metadata.name
  keepFullObjectsInMemory: false
  executeHookOnEvent: []
  queue: slim"#;

#[tokio::test]
async fn synchronization_and_event_contexts_match_golden_files() {
    let env = env().await;
    let out = env.out();
    env.apply(namespace("golden", json!({}))).await;
    env.apply(configmap(
        "golden",
        "a",
        json!({"app": "demo"}),
        json!({"x": "1"}),
    ))
    .await;
    write_hook(&env.hooks_dir(), "kube.sh", KUBE_CONFIG, &saver(&out));
    let engine = env.watching_engine().await;
    assert_golden(
        "synchronization_full_objects",
        &wait_file(out.join("cms-0.json")).await,
    );
    assert_golden(
        "synchronization_filter_results_only",
        &wait_file(out.join("slim-0.json")).await,
    );
    env.apply(configmap("golden", "b", json!({}), json!({"y": "1"})))
        .await;
    assert_golden("event_added", &wait_file(out.join("cms-1.json")).await);
    env.apply(configmap("golden", "b", json!({}), json!({"y": "2"})))
        .await;
    assert_golden("event_modified", &wait_file(out.join("cms-2.json")).await);
    // A change outside the filter result runs nothing: the next context is the deletion.
    env.apply(configmap(
        "golden",
        "b",
        json!({"unrelated": "change"}),
        json!({"y": "2"}),
    ))
    .await;
    delete(&env.client, configmap("golden", "b", json!({}), json!({}))).await;
    assert_golden("event_deleted", &wait_file(out.join("cms-3.json")).await);
    engine.shutdown();
}

#[tokio::test]
async fn lifecycle_schedule_group_and_v0_contexts_match_golden_files() {
    let env = env().await;
    let out = env.out();
    env.apply(namespace("golden", json!({}))).await;
    env.apply(configmap("golden", "a", json!({}), json!({"x": "1"})))
        .await;
    env.apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "golden"}, "data": {"k": "dg=="}})).await;
    let global = env.hooks_dir();
    write_hook(
        &global,
        "10-startup.sh",
        "configVersion: v1\nonStartup: 1\nbeforeAll: 5",
        &saver(&out),
    );
    write_hook(
        &global,
        "20-schedule.sh",
        r#"configVersion: v1
kubernetes:
- name: snap
  kind: ConfigMap
  namespace: {nameSelector: {matchNames: [golden]}}
  jqFilter: '{name: .metadata.name, data: .data}'
  keepFullObjectsInMemory: false
  executeHookOnSynchronization: false
  executeHookOnEvent: []
schedule:
- name: tick
  crontab: '*/1 * * * * *'
  includeSnapshotsFrom: [snap]
  queue: tick"#,
        &saver(&out),
    );
    write_hook(
        &global,
        "30-group.sh",
        r#"configVersion: v1
kubernetes:
- name: group-cms
  kind: ConfigMap
  namespace: {nameSelector: {matchNames: [golden]}}
  jqFilter: .metadata.name
  keepFullObjectsInMemory: false
  group: pair
  queue: pair
- name: group-secrets
  kind: Secret
  namespace: {nameSelector: {matchNames: [golden]}}
  jqFilter: .data
  keepFullObjectsInMemory: false
  group: pair
  queue: pair"#,
        &saver(&out),
    );
    write_hook(
        &global,
        "40-v0.sh",
        "onKubernetesEvent:\n- name: legacy\n  kind: ConfigMap\n  event: [add]\n  namespaceSelector: {matchNames: [golden]}",
        &saver(&out),
    );
    let module_hooks = env.dir.path().join("modules/010-demo/hooks");
    write_hook(
        &module_hooks,
        "before.sh",
        "configVersion: v1\nbeforeHelm: 1\nkubernetes:\n- name: mod-cms\n  kind: ConfigMap\n  namespace: {nameSelector: {matchNames: [golden]}}\n  jqFilter: .data.x\n  executeHookOnSynchronization: false",
        &saver(&out),
    );
    let engine = env.engine();
    engine.load(HookSet::Global, &global).await.unwrap();
    let demo = HookSet::Module("demo".into());
    let loaded = engine.load(demo.clone(), &module_hooks).await.unwrap();
    assert_eq!(loaded[0].name, "demo/hooks/before.sh");

    engine
        .run_order(&HookSet::Global, OrderBinding::OnStartup)
        .await
        .unwrap();
    assert_golden("on_startup", &out.join("onStartup-0.json"));
    engine.enable_kubernetes(&HookSet::Global).await.unwrap();
    assert_golden("group", &wait_file(out.join("pair-0.json")).await);
    engine.enable_schedules(&HookSet::Global);
    assert_golden(
        "schedule_with_snapshots",
        &wait_file(out.join("tick-0.json")).await,
    );
    engine
        .run_order(&HookSet::Global, OrderBinding::BeforeAll)
        .await
        .unwrap();
    assert_golden("before_all", &out.join("beforeAll-0.json"));
    engine.enable_kubernetes(&demo).await.unwrap();
    engine
        .run_order(&demo, OrderBinding::BeforeHelm)
        .await
        .unwrap();
    assert_golden("before_helm_with_snapshots", &out.join("beforeHelm-0.json"));
    env.apply(configmap("golden", "v0", json!({}), json!({})))
        .await;
    assert_golden("v0_event", &wait_file(out.join("legacy-0.json")).await);
    engine.shutdown();
}
