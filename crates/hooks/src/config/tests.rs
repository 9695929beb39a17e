use super::*;

fn parse(text: &str, scope: HookScope) -> Result<HookConfig, ConfigError> {
    HookConfig::parse(text, "hooks/test.sh", scope)
}

#[test]
fn a_full_v1_config_is_compiled() {
    let cfg = parse(
        r#"
configVersion: v1
onStartup: 10
schedule:
- name: every-min
  crontab: "*/1 * * * *"
  queue: cron
  includeSnapshotsFrom: [secrets]
kubernetes:
- name: secrets
  apiVersion: v1
  kind: Secret
  nameSelector: {matchNames: [registry]}
  labelSelector:
    matchLabels: {app: x}
    matchExpressions: [{key: tier, operator: In, values: [a, b]}, {key: gone, operator: DoesNotExist}]
  fieldSelector: {matchExpressions: [{field: type, operator: NotEquals, value: Opaque}]}
  namespace: {labelSelector: {matchLabels: {copy: "yes"}}}
  jqFilter: .data
  executeHookOnEvent: [Added]
  keepFullObjectsInMemory: false
settings: {executionMinInterval: 1m30s, executionBurst: 2}
"#,
        HookScope::Global,
    )
    .unwrap();
    assert_eq!(cfg.version, ConfigVersion::V1);
    assert_eq!(cfg.orders[&OrderBinding::OnStartup], 10.0);
    assert_eq!(cfg.schedules[0].queue, "cron");
    let k = &cfg.kubernetes[0];
    assert_eq!(
        k.label_selector.as_deref(),
        Some("app=x,tier in (a,b),!gone")
    );
    assert_eq!(
        k.field_selector.as_deref(),
        Some("type!=Opaque,metadata.name=registry")
    );
    assert_eq!(k.namespace_label_selector.as_deref(), Some("copy=yes"));
    assert_eq!(k.execute_hook_on_event, vec![WatchEvent::Added]);
    assert!(
        !k.keep_full_objects_in_memory
            && k.wait_for_synchronization
            && k.execute_hook_on_synchronization
    );
    assert_eq!(
        cfg.settings.execution_min_interval,
        Some(Duration::from_secs(90))
    );
    assert_eq!(cfg.settings.execution_burst, 2);
}

#[test]
fn json_configs_are_accepted() {
    let cfg = parse(r#"{"configVersion":"v1","afterHelm":5}"#, HookScope::Module).unwrap();
    assert_eq!(cfg.orders[&OrderBinding::AfterHelm], 5.0);
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let err = parse(
        r#"
configVersion: v1
beforeHelm: 1
schedule: [{crontab: "nope"}]
kubernetes:
- kind: Pod
  jqFilter: ".a | ("
  executeHookOnEvent: [Added, Created]
  labelSelector: {matchExpressions: [{key: a, operator: Like}]}
  includeSnapshotsFrom: [missing]
"#,
        HookScope::Global,
    )
    .unwrap_err();
    let ConfigError::Invalid { hook, errors } = &err else {
        panic!("{err}")
    };
    assert_eq!(hook, "hooks/test.sh");
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let all = all.join("\n");
    for needle in [
        "beforeHelm: allowed only in module hooks",
        "schedule[0].crontab",
        "kubernetes[0].jqFilter",
        "kubernetes[0].executeHookOnEvent: unknown \"Created\"",
        "kubernetes[0].labelSelector.matchExpressions[0].operator",
        "kubernetes[0].includeSnapshotsFrom: \"missing\"",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
}

#[test]
fn global_only_bindings_are_rejected_in_modules() {
    let err = parse("configVersion: v1\nbeforeAll: 1\n", HookScope::Module)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("beforeAll: allowed only in global hooks"),
        "{err}"
    );
}

#[test]
fn unknown_fields_are_a_parse_error_naming_the_field() {
    let err = parse(
        "configVersion: v1\nkubernetes: [{kind: Pod, executeHookOnEvents: []}]\n",
        HookScope::Global,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("hooks/test.sh") && err.contains("executeHookOnEvents"),
        "{err}"
    );
}

#[test]
fn v0_on_kubernetes_event_is_supported() {
    let cfg = parse(
        "onKubernetesEvent: [{kind: Pod, event: [add, delete], objectName: p, selector: {matchLabels: {a: b}}, namespaceSelector: {matchNames: [x]}}]\n",
        HookScope::Global,
    )
    .unwrap();
    assert_eq!(cfg.version, ConfigVersion::V0);
    let k = &cfg.kubernetes[0];
    assert_eq!(
        k.execute_hook_on_event,
        vec![WatchEvent::Added, WatchEvent::Deleted]
    );
    assert_eq!(k.namespaces, vec!["x".to_string()]);
    assert_eq!(
        k.names,
        vec!["p".to_string()],
        "objectName is a name selector"
    );
    assert!(!k.execute_hook_on_synchronization);
}

#[test]
fn durations_follow_go_syntax() {
    assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
    assert_eq!(parse_duration("1h2m3s").unwrap(), Duration::from_secs(3723));
    assert!(parse_duration("3 seconds").is_err());
}

#[test]
fn go_style_string_booleans_and_numbers_are_accepted() {
    let cfg = parse(
        r#"{"configVersion":"v1","onStartup":"5","settings":{"executionMinInterval":"1s","executionBurst":"3"},
            "kubernetes":[{"kind":"Pod","keepFullObjectsInMemory":"false","executeHookOnSynchronization":"false"}]}"#,
        HookScope::Global,
    )
    .unwrap();
    assert_eq!(cfg.orders[&OrderBinding::OnStartup], 5.0);
    assert_eq!(cfg.settings.execution_burst, 3);
    assert!(!cfg.kubernetes[0].keep_full_objects_in_memory);
    assert!(!cfg.kubernetes[0].execute_hook_on_synchronization);
    let err = parse(
        r#"{"configVersion":"v1","kubernetes":[{"kind":"Pod","keepFullObjectsInMemory":"nope"}]}"#,
        HookScope::Global,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("expected true or false"), "{err}");
}

#[test]
fn wait_for_synchronization_false_needs_an_explicit_queue() {
    let cfg = parse(
        "configVersion: v1\nkubernetes:\n- {kind: Pod, waitForSynchronization: false}\n- {kind: Pod, waitForSynchronization: false, queue: q}\n",
        HookScope::Global,
    )
    .unwrap();
    assert!(cfg.kubernetes[0].wait_for_synchronization);
    assert!(!cfg.kubernetes[1].wait_for_synchronization);
}

#[test]
fn name_selector_conflicts_with_a_metadata_name_field_selector_and_api_versions_are_checked() {
    let err = parse(
        "configVersion: v1\nkubernetes:\n- kind: Pod\n  apiVersion: a/b/c\n  nameSelector: {matchNames: [x]}\n  fieldSelector: {matchExpressions: [{field: metadata.name, operator: '=', value: x}]}\n",
        HookScope::Global,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("kubernetes[0].nameSelector: fieldSelector 'metadata.name' and nameSelector.matchNames are mutually exclusive"), "{err}");
    assert!(
        err.contains("kubernetes[0].apiVersion: invalid \"a/b/c\""),
        "{err}"
    );
}

#[test]
fn resynchronization_period_is_accepted_and_ignored() {
    let cfg = parse(
        "configVersion: v1\nkubernetes: [{kind: Pod, resynchronizationPeriod: 10s}]\n",
        HookScope::Global,
    )
    .unwrap();
    assert_eq!(cfg.kubernetes.len(), 1);
}

#[test]
fn lifecycle_bindings_and_the_remaining_binding_fields_are_compiled() {
    let module = parse(
        r#"
configVersion: v1
beforeHelm: 1
afterHelm: 2
beforeDeleteHelm: 3
afterDeleteHelm: 4
schedule:
- {crontab: "0 * * * *", allowFailure: true, group: g}
kubernetes:
- name: pods
  kind: Pod
  namespace: {nameSelector: {matchNames: [a, b]}}
  executeHookOnSynchronization: false
  waitForSynchronization: false
  allowFailure: true
  queue: pods
  group: g
  includeSnapshotsFrom: [pods]
"#,
        HookScope::Module,
    )
    .unwrap();
    let orders: Vec<(OrderBinding, f64)> = module.orders.iter().map(|(b, o)| (*b, *o)).collect();
    assert_eq!(
        orders.len(),
        4,
        "every module lifecycle binding: {orders:?}"
    );
    for (binding, order) in [
        (OrderBinding::BeforeHelm, 1.0),
        (OrderBinding::AfterHelm, 2.0),
        (OrderBinding::BeforeDeleteHelm, 3.0),
        (OrderBinding::AfterDeleteHelm, 4.0),
    ] {
        assert_eq!(module.orders[&binding], order);
    }
    let s = &module.schedules[0];
    assert_eq!(
        (
            s.name.as_str(),
            s.allow_failure,
            s.group.as_deref(),
            s.queue.as_str()
        ),
        ("schedule", true, Some("g"), "main")
    );
    let k = &module.kubernetes[0];
    assert_eq!(k.namespaces, ["a", "b"]);
    assert!(!k.execute_hook_on_synchronization && !k.wait_for_synchronization && k.allow_failure);
    assert_eq!(
        (
            k.queue.as_str(),
            k.group.as_deref(),
            k.include_snapshots_from.as_slice()
        ),
        ("pods", Some("g"), ["pods".to_string()].as_slice())
    );
    let global = parse(
        "configVersion: v1\nbeforeAll: 1\nafterAll: 2\n",
        HookScope::Global,
    )
    .unwrap();
    assert_eq!(global.orders[&OrderBinding::BeforeAll], 1.0);
    assert_eq!(global.orders[&OrderBinding::AfterAll], 2.0);
}
