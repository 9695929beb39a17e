//! Watch robustness: dropped watches, 410 relists, unknown kinds, CRDs created later.

use crate::common::*;
use hooks::{EngineError, HookSet, ResourceError};
use kube_emulator::{Config, Emulator};
use serde_json::json;
use std::collections::BTreeMap;

const RECORDER_CONFIG: &str = r#"configVersion: v1
kubernetes:
- name: cms
  apiVersion: v1
  kind: ConfigMap
  namespace: {nameSelector: {matchNames: [default]}}
  labelSelector: {matchLabels: {watched: "yes"}}
  jqFilter: .data"#;

/// One line per context: `<type> <watchEvent> <name>` (Synchronization lists every object).
fn recorder_body(out: &std::path::Path) -> String {
    format!(
        r#"jq -r '.[] | if .type == "Synchronization" then (.objects[] | "Synchronization - \(.object.metadata.name)")
  else "\(.type) \(.watchEvent) \(.object.metadata.name)" end' "$BINDING_CONTEXT_PATH" >> {}"#,
        out.display()
    )
}

/// Writes the recorder hook (`RECORDER_CONFIG`, `recorder_body`); returns its output file.
fn write_recorder(env: &Env) -> std::path::PathBuf {
    let out = env.out().join("events");
    write_hook(
        &env.hooks_dir(),
        "rec.sh",
        RECORDER_CONFIG,
        &recorder_body(&out),
    );
    out
}

/// Creates or updates ConfigMap `default/<name>` selected by the recorder, with data `v`.
async fn apply_watched(env: &Env, name: &str, v: &str) {
    env.apply(configmap(
        "default",
        name,
        json!({"watched": "yes"}),
        json!({ "v": v }),
    ))
    .await
}

fn count(events: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        *m.entry(e.clone()).or_insert(0) += 1;
    }
    m
}

/// How long a test waits for something that should happen (generous for a loaded CI).
const WAIT: u64 = 30;

/// Applies the watched ConfigMap `marker` and waits for the recorder's `Event Added marker`.
/// The recorder's runs are queued in order, so everything the watch reported before the marker
/// is then recorded: returns those lines (the marker's own line left out).
async fn lines_before_marker(env: &Env, out: &std::path::Path) -> Vec<String> {
    apply_watched(env, "marker", "0").await;
    let marker = "Event Added marker".to_string();
    let mut recorded = eventually("the marker's event", WAIT, || async {
        let l = lines(out);
        l.contains(&marker).then_some(l)
    })
    .await;
    let at = recorded.iter().position(|l| *l == marker).unwrap();
    recorded.truncate(at);
    recorded
}

#[tokio::test]
async fn watch_drops_injected_mid_test_lose_and_repeat_no_event() {
    let env = env().await;
    let out = write_recorder(&env);
    let engine = env.loaded_engine().await;
    apply_watched(&env, "cm-0", "0").await;
    engine.enable_kubernetes(&HookSet::Global).await.unwrap();
    for i in 1..=20 {
        apply_watched(&env, &format!("cm-{i}"), "0").await;
        if i % 5 == 0 {
            env.emu.controls().close_watches();
        }
    }
    for i in 1..=20 {
        apply_watched(&env, &format!("cm-{i}"), "1").await;
        if i % 7 == 0 {
            env.emu.controls().close_watches();
        }
    }
    let expected = 1 + 20 + 20;
    wait_lines(&out, expected, "every event delivered", WAIT).await;
    let events = lines_before_marker(&env, &out).await;
    let counts = count(&events);
    assert_eq!(
        counts.get("Synchronization - cm-0"),
        Some(&1),
        "{events:#?}"
    );
    for i in 1..=20 {
        assert_eq!(
            counts.get(&format!("Event Added cm-{i}")),
            Some(&1),
            "cm-{i} added once: {events:#?}"
        );
        assert_eq!(
            counts.get(&format!("Event Modified cm-{i}")),
            Some(&1),
            "cm-{i} modified once: {events:#?}"
        );
    }
    assert_eq!(events.len(), expected, "no duplicates: {events:#?}");
    let held = engine.metrics().engine_value(
        "addon_operator_kube_snapshot_objects",
        &[("binding", "cms"), ("hook", "rec.sh")],
    );
    assert_eq!(held, Some(22.0), "snapshot size gauge (with the marker)");
    engine.shutdown();
}

#[tokio::test]
async fn a_relist_after_410_reports_only_the_differences() {
    // A tiny watch history makes a resumed watch fall behind and get 410 Gone.
    let env = env_on(
        Emulator::start_with(Config {
            watch_history: 3,
            ..Default::default()
        })
        .await
        .unwrap(),
    );
    let emu = &env.emu;
    let out = write_recorder(&env);
    apply_watched(&env, "keep", "0").await;
    apply_watched(&env, "change", "0").await;
    apply_watched(&env, "remove", "0").await;
    let engine = env.watching_engine().await;
    wait_lines(&out, 3, "synchronization ran", WAIT).await;
    // While watches are closed, enough writes happen to push the resume point out of history.
    emu.controls().fail_next(1000, Some("watch"), None, 500);
    emu.controls().close_watches();
    apply_watched(&env, "change", "1").await;
    delete(
        &env.client,
        configmap("default", "remove", json!({}), json!({})),
    )
    .await;
    apply_watched(&env, "new", "0").await;
    for i in 0..5 {
        env.apply(configmap(
            "default",
            &format!("noise-{i}"),
            json!({}),
            json!({}),
        ))
        .await;
    }
    emu.controls().clear_faults();
    wait_lines(&out, 6, "differences delivered", WAIT).await;
    // Nothing more than the differences arrives before a later event.
    let events = lines_before_marker(&env, &out).await;
    assert_eq!(events.len(), 6, "{events:#?}");
    let tail: Vec<&str> = events[3..].iter().map(String::as_str).collect();
    let mut sorted = tail.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "Event Added new",
            "Event Deleted remove",
            "Event Modified change"
        ],
        "{events:#?}"
    );
    let errors = engine.metrics().engine_value(
        "addon_operator_kubernetes_client_watch_errors_total",
        &[("binding", "cms"), ("hook", "rec.sh")],
    );
    assert!(
        errors.unwrap_or(0.0) >= 1.0,
        "watch errors are counted: {errors:?}"
    );
    engine.shutdown();
}

#[tokio::test]
async fn unknown_kind_is_an_error_until_its_crd_exists() {
    let env = env().await;
    write_hook(
        &env.hooks_dir(),
        "crd.sh",
        "configVersion: v1\nkubernetes:\n- name: widgets\n  kind: wdg\n  jqFilter: .spec.size",
        &format!(
            r#"jq -c '.[] | .type' "$BINDING_CONTEXT_PATH" >> {}"#,
            env.out().join("runs").display()
        ),
    );
    let engine = env.loaded_engine().await;
    let err = engine
        .enable_kubernetes(&HookSet::Global)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::Resource { source: ResourceError::UnknownKind { kind, .. }, .. } if kind == "wdg"),
        "{err}"
    );
    assert!(
        chain(&err).contains("hook crd.sh, binding widgets: unknown kind \"wdg\""),
        "{err}"
    );
    env.apply(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .await;
    // The same engine picks the kind up once the CRD is served: a failed enable leaves the
    // hook set disabled, and discovery is re-run for a kind it did not know.
    eventually("CRD served", WAIT, || async {
        engine.enable_kubernetes(&HookSet::Global).await.ok()
    })
    .await;
    env.apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 3}}))
        .await;
    let runs = env.out().join("runs");
    eventually("widget event", WAIT, || async {
        lines(&runs)
            .contains(&"\"Event\"".to_string())
            .then_some(())
    })
    .await;
    assert_eq!(
        lines(&runs),
        ["\"Synchronization\"", "\"Event\""],
        "one Synchronization despite the failed first enable"
    );
    engine.shutdown();
}

const NS_SELECTOR_CONFIG: &str = r#"configVersion: v1
kubernetes:
- name: cms
  kind: ConfigMap
  namespace: {labelSelector: {matchLabels: {watch: "yes"}}}
  nameSelector: {matchNames: [one, two]}
  jqFilter: .metadata.name
  keepFullObjectsInMemory: false"#;

#[tokio::test]
async fn namespaces_joining_and_leaving_a_label_selector_bring_and_take_their_objects() {
    let env = env().await;
    let out = env.out().join("events");
    write_hook(
        &env.hooks_dir(),
        "ns.sh",
        NS_SELECTOR_CONFIG,
        &format!(
            r#"jq -r '.[] | if .type == "Synchronization" then "Synchronization \([.objects[].filterResult] | join(","))"
  else "\(.watchEvent) \(.filterResult)" end' "$BINDING_CONTEXT_PATH" >> {}"#,
            out.display()
        ),
    );
    env.apply(namespace("in", json!({"watch": "yes"}))).await;
    env.apply(namespace("later", json!({}))).await;
    for ns in ["in", "later"] {
        for name in ["one", "two", "three"] {
            env.apply(configmap(ns, name, json!({}), json!({}))).await;
        }
    }
    let engine = env.watching_engine().await;
    assert_eq!(
        lines(&out),
        ["Synchronization one,two"],
        "only selected names in labelled namespaces"
    );
    env.apply(namespace("later", json!({"watch": "yes"}))).await;
    let joined = wait_lines(&out, 3, "objects of the joining namespace arrive", WAIT).await;
    assert_eq!(joined[1..], ["Added one", "Added two"]);
    env.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "in"}}))
        .await;
    let left = wait_lines(&out, 5, "objects of the leaving namespace go", WAIT).await;
    assert_eq!(left[3..], ["Deleted one", "Deleted two"]);
    engine.shutdown();
}

/// A hook with a ConfigMap binding on `default` and a schedule every second, appending
/// `Event <name>` or the binding context's type to `out`.
fn write_ticking_watcher(dir: &std::path::Path, out: &std::path::Path) {
    write_hook(
        dir,
        "watch.sh",
        "configVersion: v1\nkubernetes:\n- name: cms\n  kind: ConfigMap\n  namespace: {nameSelector: {matchNames: [default]}}\nschedule:\n- name: t\n  crontab: '*/1 * * * * *'",
        &format!(
            r#"jq -r '.[] | if .type == "Event" then "Event \(.object.metadata.name)" else .type end' "$BINDING_CONTEXT_PATH" >> {}"#,
            out.display()
        ),
    );
}

#[tokio::test]
async fn disabling_a_module_stops_its_bindings_and_drops_its_snapshots() {
    let env = env().await;
    let out = env.out().join("runs");
    let hooks_dir = env.dir.path().join("modules/001-m/hooks");
    write_ticking_watcher(&hooks_dir, &out);
    // A global hook with the same bindings, in the same queue, stays enabled: what it sees
    // after the module's disable is what the module would have seen.
    let sentinel = env.out().join("sentinel");
    write_ticking_watcher(&env.hooks_dir(), &sentinel);
    let engine = env.watching_engine().await;
    engine.enable_schedules(&HookSet::Global);
    let m = HookSet::Module("m".into());
    let hooks = engine.load(m.clone(), &hooks_dir).await.unwrap();
    engine.enable_kubernetes(&m).await.unwrap();
    engine.enable_schedules(&m);
    // Enabling again while running does nothing (no second watch, no second Synchronization).
    engine.enable_kubernetes(&m).await.unwrap();
    engine.enable_schedules(&m);
    env.apply(configmap("default", "x", json!({}), json!({})))
        .await;
    eventually("event and tick", WAIT, || async {
        let l = lines(&out);
        (l.contains(&"Event x".to_string()) && l.contains(&"Schedule".to_string())).then_some(())
    })
    .await;
    let runs = lines(&out);
    let count = |what: &str| runs.iter().filter(|l| *l == what).count();
    assert_eq!(
        (count("Synchronization"), count("Event x")),
        (1, 1),
        "one watch per binding: {runs:?}"
    );
    engine.disable(&m);
    assert_eq!(hooks[0].snapshot_len(), 0);
    env.apply(configmap("default", "y", json!({}), json!({})))
        .await;
    // The sentinel's run for `y` comes after any module run that was in flight at the disable
    // (one task at a time per queue); then two more of its ticks pass.
    let ticks_at_y = eventually("the sentinel sees y", WAIT, || async {
        let l = lines(&sentinel);
        let at = l.iter().position(|x| x == "Event y")?;
        Some(at)
    })
    .await;
    let module_runs = lines(&out);
    eventually("two more sentinel ticks", WAIT, || async {
        let l = lines(&sentinel);
        (l[ticks_at_y..].iter().filter(|x| *x == "Schedule").count() >= 2).then_some(())
    })
    .await;
    assert_eq!(lines(&out), module_runs, "no runs after disable");
    assert!(
        !module_runs.contains(&"Event y".to_string()),
        "{module_runs:?}"
    );
    // Enabling again starts from a fresh Synchronization.
    engine.enable_kubernetes(&m).await.unwrap();
    assert_eq!(
        lines(&out).last().map(String::as_str),
        Some("Synchronization")
    );
    assert_eq!(hooks[0].snapshot_len(), 2);
    engine.shutdown();
}

/// The query parameter `key` of a request URI, percent-decoded.
fn query_param(uri: &str, key: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    let raw = query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))?;
    let bytes = raw.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[tokio::test]
async fn label_field_and_single_name_selectors_are_sent_to_the_api_server() {
    // `kind` also matches case-insensitively (here: the singular name in lower case).
    let env = env().await;
    let out = env.out().join("sync");
    write_hook(
        &env.hooks_dir(),
        "sel.sh",
        r#"configVersion: v1
kubernetes:
- name: sel
  kind: configmap
  namespace: {nameSelector: {matchNames: [default]}}
  nameSelector: {matchNames: [only]}
  labelSelector: {matchExpressions: [{key: tier, operator: In, values: [web]}]}
  fieldSelector: {matchExpressions: [{field: metadata.namespace, operator: Equals, value: default}]}
  executeHookOnEvent: []"#,
        &format!(
            r#"jq -r '.[] | .objects[].object.metadata.name' "$BINDING_CONTEXT_PATH" >> {}"#,
            out.display()
        ),
    );
    for (name, tier) in [("only", "web"), ("other", "web"), ("only-db", "db")] {
        env.apply(configmap("default", name, json!({"tier": tier}), json!({})))
            .await;
    }
    let engine = env.loaded_engine().await;
    let (logs, guard) = capture_logs("kube_emulator=debug");
    engine.enable_kubernetes(&HookSet::Global).await.unwrap();
    drop(guard);
    assert_eq!(lines(&out), ["only"], "only the selected object");
    let lists: Vec<String> = logs
        .lines()
        .iter()
        .filter_map(|l| l["fields"]["uri"].as_str().map(String::from))
        .filter(|uri| uri.starts_with("/api/v1/namespaces/default/configmaps?"))
        .collect();
    assert!(!lists.is_empty(), "ConfigMap list/watch requests logged");
    for uri in &lists {
        assert_eq!(
            query_param(uri, "labelSelector").as_deref(),
            Some("tier in (web)"),
            "{uri}"
        );
        let mut fields: Vec<String> = query_param(uri, "fieldSelector")
            .unwrap_or_default()
            .split(',')
            .map(String::from)
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            ["metadata.name=only", "metadata.namespace=default"],
            "{uri}"
        );
    }
    engine.shutdown();
}

#[tokio::test]
async fn a_synchronization_over_several_list_pages_has_every_object_once() {
    // Bindings list in pages (100 objects each, to keep memory low): 250 selected objects
    // take three pages, and 30 not selected ones sit between them.
    let env = env().await;
    let out = write_recorder(&env);
    for i in 0..280 {
        let watched = if i % 9 == 4 { "no" } else { "yes" };
        env.apply(configmap(
            "default",
            &format!("cm-{i:03}"),
            json!({"watched": watched}),
            json!({"v": "1"}),
        ))
        .await;
    }
    let (logs, guard) = capture_logs("kube_emulator=debug");
    let engine = env.watching_engine().await;
    drop(guard);
    let synced = lines(&out);
    let expected: Vec<String> = (0..280)
        .filter(|i| i % 9 != 4)
        .map(|i| format!("Synchronization - cm-{i:03}"))
        .collect();
    assert_eq!(synced.len(), expected.len(), "{synced:?}");
    let mut sorted = synced.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "every selected object once");
    let pages = logs
        .lines()
        .iter()
        .filter_map(|l| l["fields"]["uri"].as_str().map(String::from))
        .filter(|uri| {
            uri.starts_with("/api/v1/namespaces/default/configmaps?") && !uri.contains("watch=true")
        })
        .count();
    assert!(
        pages >= 3,
        "the list took {pages} requests; expected pages of 100"
    );
    engine.shutdown();
}
