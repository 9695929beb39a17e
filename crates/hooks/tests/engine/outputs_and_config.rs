//! Malformed `--config` and malformed outputs: clear errors, nothing applied.

use crate::common::*;
use hooks::{HookSet, OrderBinding, RunError};
use serde_json::json;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn malformed_configs_are_reported_with_hook_and_field() {
    let env = env().await;
    let dir = env.hooks_dir();
    write_hook(
        &dir,
        "a-typo.sh",
        "configVersion: v1\nkubernetes:\n- kind: Pod\n  jqFiltr: .x",
        "",
    );
    write_hook(
        &dir,
        "b-bad-cron.sh",
        "configVersion: v1\nschedule:\n- crontab: '61 * * * *'",
        "",
    );
    write_hook(&dir, "c-not-yaml.sh", "{configVersion: v1, [", "");
    write_hook(&dir, "d-fine.sh", "configVersion: v1\nonStartup: 1", "");
    let engine = env.engine();
    let err = engine.load(HookSet::Global, &dir).await.unwrap_err();
    let text = err.to_string();
    assert_eq!(err.0.len(), 3, "{text}");
    assert!(
        text.contains("hook a-typo.sh: invalid config: kubernetes[0]: unknown field `jqFiltr`"),
        "{text}"
    );
    assert!(
        text.contains(
            "hook b-bad-cron.sh: invalid config: schedule[0].crontab: crontab \"61 * * * *\": \
             field 1 (minute) \"61\" is invalid"
        ),
        "{text}"
    );
    assert!(
        text.contains("hook c-not-yaml.sh: --config printed neither YAML nor JSON: ")
            && text.contains("at line 2 column 1"),
        "the decoder's position follows once: {text}"
    );
}

#[tokio::test]
async fn malformed_output_fails_the_run_and_applies_nothing() {
    let env = env().await;
    let dir = env.hooks_dir();
    write_hook(
        &dir,
        "bad.sh",
        "configVersion: v1\nonStartup: 1",
        r#"echo '[{"op":"add","path":"/global/x","value":1}]' > "$VALUES_JSON_PATCH_PATH"
echo '{"operation":"Create","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"should-not-exist","namespace":"default"}}}' > "$KUBERNETES_PATCH_PATH"
echo '{"name":"m","action":"set","value":1}' > "$METRICS_PATH"
echo 'this is not json' >> "$METRICS_PATH""#,
    );
    let engine = env.loaded_engine().await;
    let err = engine
        .run_order(&HookSet::Global, OrderBinding::OnStartup)
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Output(_)), "{err}");
    let text = chain(&err);
    assert!(
        text.starts_with("hook bad.sh: malformed METRICS_PATH (")
            && text.contains("metrics.json): line 2:"),
        "{text}"
    );
    assert!(
        get(
            &env.client,
            "v1",
            "ConfigMap",
            Some("default"),
            "should-not-exist"
        )
        .await
        .is_none()
    );
    assert!(
        env.host.applied.lock().unwrap().is_empty(),
        "values patch not applied"
    );
    assert_eq!(engine.metrics().render_hook_metrics(), "");
}

#[tokio::test]
async fn a_rejected_values_patch_stops_object_patches_and_metrics() {
    let env = env().await;
    let dir = env.hooks_dir();
    write_hook(
        &dir,
        "patcher.sh",
        "configVersion: v1\nonStartup: 1",
        r#"jq -n '[{op: "add", path: "/global/seen", value: (input.global | length)}]' "$VALUES_PATH" > "$VALUES_JSON_PATCH_PATH"
echo '[{"op":"add","path":"/global/fromConfig","value":true}]' > "$CONFIG_VALUES_JSON_PATCH_PATH"
echo '{"operation":"Create","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"made","namespace":"default"}}}' > "$KUBERNETES_PATCH_PATH"
echo '{"name":"made_total","action":"add","value":1}' > "$METRICS_PATH""#,
    );
    let engine = env.loaded_engine().await;
    env.host.reject.store(true, Ordering::SeqCst);
    let err = engine
        .run_order(&HookSet::Global, OrderBinding::OnStartup)
        .await
        .unwrap_err();
    assert_eq!(
        chain(&err),
        "hook patcher.sh: values patch rejected: CONFIG_VALUES_JSON_PATCH_PATH refused: global.bad: not allowed by the test host"
    );
    assert!(
        get(&env.client, "v1", "ConfigMap", Some("default"), "made")
            .await
            .is_none()
    );
    assert_eq!(engine.metrics().render_hook_metrics(), "");
    env.host.reject.store(false, Ordering::SeqCst);
    engine
        .run_order(&HookSet::Global, OrderBinding::OnStartup)
        .await
        .unwrap();
    let applied = env.host.applied.lock().unwrap().clone();
    assert_eq!(applied.len(), 1);
    let (hook, binding, values, config) = &applied[0];
    assert_eq!(
        (hook.as_str(), binding.as_str()),
        ("patcher.sh", "onStartup")
    );
    assert_eq!(
        values,
        &json!([{"op": "add", "path": "/global/seen", "value": 0}])
    );
    assert_eq!(
        config,
        &json!([{"op": "add", "path": "/global/fromConfig", "value": true}])
    );
    assert!(
        get(&env.client, "v1", "ConfigMap", Some("default"), "made")
            .await
            .is_some()
    );
    assert!(
        engine
            .metrics()
            .render_hook_metrics()
            .contains("made_total{hook=\"patcher.sh\"} 1")
    );
}

/// The `native_counter` binary of this crate: cargo builds it before the integration tests.
fn native_counter_binary() -> std::path::PathBuf {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_native_counter"));
    assert!(
        bin.exists(),
        "{} missing: cargo builds it before the tests",
        bin.display()
    );
    bin
}

#[tokio::test]
async fn a_native_hook_runs_through_a_two_line_script() {
    let env = env().await;
    env.apply(configmap("default", "a", json!({}), json!({})))
        .await;
    env.apply(configmap("default", "b", json!({}), json!({})))
        .await;
    let dir = env.hooks_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("native-counter");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {} \"$@\"\n",
            native_counter_binary().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let engine = env.watching_engine().await;
    // Lifecycle bindings other than onStartup carry the snapshots of the hook's bindings.
    let reports = engine
        .run_order(&HookSet::Global, OrderBinding::BeforeAll)
        .await
        .unwrap();
    assert_eq!(reports[0].hook, "native-counter");
    let values = env.host.values.lock().unwrap().clone();
    assert_eq!(values["global"]["configMaps"], 2);
    assert!(
        engine
            .metrics()
            .render_hook_metrics()
            .contains("native_counter_config_maps{hook=\"native-counter\"} 2")
    );
}
