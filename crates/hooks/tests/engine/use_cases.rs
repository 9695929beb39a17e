//! The classic shell-operator examples, as bash + jq hooks.

use crate::common::*;
use hooks::HookSet;
use serde_json::json;

const SECRET_COPIER_CONFIG: &str = r#"configVersion: v1
kubernetes:
- name: namespaces
  apiVersion: v1
  kind: Namespace
  jqFilter: .metadata.name
  executeHookOnEvent: [Added]
  keepFullObjectsInMemory: false
  includeSnapshotsFrom: [registry]
- name: registry
  apiVersion: v1
  kind: Secret
  namespace: {nameSelector: {matchNames: [default]}}
  nameSelector: {matchNames: [registry-creds]}
  executeHookOnEvent: []
  executeHookOnSynchronization: false"#;

const SECRET_COPIER_BODY: &str = r#"
secret=$(jq -c '[.[] | .snapshots.registry[0].object // empty] | last' "$BINDING_CONTEXT_PATH")
[[ -z "$secret" || "$secret" == "null" ]] && exit 0
jq -c --argjson s "$secret" '
  [.[] | if .type == "Synchronization" then .objects[].filterResult else .filterResult end]
  | unique | .[] | select(. != "default") as $ns
  | {operation: "CreateOrUpdate",
     object: {apiVersion: "v1", kind: "Secret", type: $s.type, data: $s.data,
              metadata: {name: "registry-creds", namespace: $ns}}}' "$BINDING_CONTEXT_PATH" >> "$KUBERNETES_PATCH_PATH"
"#;

#[tokio::test]
async fn registry_secret_is_copied_into_every_new_namespace() {
    let env = env().await;
    env.apply(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "registry-creds", "namespace": "default"}, "data": {".dockerconfigjson": "e30="}}))
        .await;
    env.apply(namespace("before", json!({}))).await;
    write_hook(
        &env.hooks_dir(),
        "copy-secret.sh",
        SECRET_COPIER_CONFIG,
        SECRET_COPIER_BODY,
    );
    let engine = env.watching_engine().await;
    // Synchronization copied it into the namespaces that existed.
    let copied = get(
        &env.client,
        "v1",
        "Secret",
        Some("before"),
        "registry-creds",
    )
    .await
    .expect("copied at synchronization");
    assert_eq!(copied["data"][".dockerconfigjson"], "e30=");
    for ns in ["team-a", "team-b"] {
        env.apply(namespace(ns, json!({}))).await;
    }
    for ns in ["team-a", "team-b"] {
        let client = env.client.clone();
        eventually(&format!("secret copied into {ns}"), 30, || {
            let client = client.clone();
            async move { get(&client, "v1", "Secret", Some(ns), "registry-creds").await }
        })
        .await;
    }
    engine.shutdown();
}

const NETPOL_CONFIG: &str = r#"configVersion: v1
kubernetes:
- name: labelled-namespaces
  apiVersion: v1
  kind: Namespace
  labelSelector: {matchLabels: {network-policy: deny-all}}
  jqFilter: '{name: .metadata.name}'"#;

const NETPOL_BODY: &str = r#"
jq -c '.[] | (if .type == "Synchronization" then .objects[] | {ev: "Added", r: .filterResult} else {ev: .watchEvent, r: .filterResult} end)
  | if .ev == "Deleted" then
      {operation: "Delete", apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", namespace: .r.name, name: "deny-all"}
    else
      {operation: "CreateIfNotExists", object: {apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy",
        metadata: {name: "deny-all", namespace: .r.name}, spec: {podSelector: {}, policyTypes: ["Ingress"]}}}
    end' "$BINDING_CONTEXT_PATH" >> "$KUBERNETES_PATCH_PATH"
"#;

#[tokio::test]
async fn network_policy_follows_the_namespace_label() {
    let env = env().await;
    env.apply(namespace("locked", json!({"network-policy": "deny-all"})))
        .await;
    env.apply(namespace("open", json!({}))).await;
    write_hook(&env.hooks_dir(), "netpol.sh", NETPOL_CONFIG, NETPOL_BODY);
    let engine = env.watching_engine().await;
    let np = |ns: &'static str| {
        let client = env.client.clone();
        async move {
            get(
                &client,
                "networking.k8s.io/v1",
                "NetworkPolicy",
                Some(ns),
                "deny-all",
            )
            .await
        }
    };
    assert!(
        np("locked").await.is_some(),
        "synchronization created the policy"
    );
    assert!(np("open").await.is_none());
    env.apply(namespace("open", json!({"network-policy": "deny-all"})))
        .await;
    eventually("policy added when the label appears", 30, || np("open")).await;
    // Dropping the label makes the namespace leave the selection: a Deleted event.
    env.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "locked"}}))
        .await;
    eventually("policy removed when the label goes", 30, || async {
        np("locked").await.is_none().then_some(())
    })
    .await;
    engine.shutdown();
}

#[tokio::test]
async fn schedule_hook_writes_a_metric_every_second() {
    let env = env().await;
    let out = env.out().join("ticks");
    write_hook(
        &env.hooks_dir(),
        "tick.sh",
        "configVersion: v1\nschedule:\n- name: every-second\n  crontab: '*/1 * * * * *'",
        &format!(
            r#"echo tick >> {out}
jq -c '.[0] | {{name: "hook_last_binding_info", action: "set", value: 1, labels: {{binding: .binding, type: .type}}}}' "$BINDING_CONTEXT_PATH" >> "$METRICS_PATH"
echo '{{"name":"hook_ticks_total","action":"add","value":1}}' >> "$METRICS_PATH""#,
            out = out.display()
        ),
    );
    let engine = env.loaded_engine().await;
    engine.enable_schedules(&HookSet::Global);
    wait_lines(&out, 2, "two ticks", 30).await;
    let metrics = engine.metrics();
    let text = eventually("metric rendered", 30, || async {
        let t = metrics.render_hook_metrics();
        t.contains("hook_ticks_total").then_some(t)
    })
    .await;
    assert!(
        text.contains(
            r#"hook_last_binding_info{binding="every-second",hook="tick.sh",type="Schedule"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("# TYPE hook_ticks_total counter"), "{text}");
    let labels = [
        ("binding", "every-second"),
        ("hook", "tick.sh"),
        ("module", ""),
        ("queue", "main"),
    ];
    eventually("run histogram counts two runs", 30, || async {
        (metrics
            .engine_value("addon_operator_global_hook_run_seconds", &labels)
            .unwrap_or(0.0)
            >= 2.0)
            .then_some(())
    })
    .await;
    assert!(metrics.render_engine_metrics().contains(
        "addon_operator_global_hook_run_seconds_bucket{binding=\"every-second\",hook=\"tick.sh\""
    ));
    engine.shutdown();
}
