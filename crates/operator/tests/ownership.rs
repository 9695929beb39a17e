//! Issue 8 §1 end to end: one owner per object and adoption only when told, with the real
//! `addon-operator run` binary on the kube-emulator. Every test records every DELETED watch
//! event and asserts that none was unexpected.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, DeletedEvents, NS, OperatorProcess};

const CONFIGMAPS: (&str, &str, &str) = ("v1", "ConfigMap", "configmaps");
const NAMESPACES: (&str, &str, &str) = ("v1", "Namespace", "namespaces");
const CRDS: (&str, &str, &str) = (
    "apiextensions.k8s.io/v1",
    "CustomResourceDefinition",
    "customresourcedefinitions",
);
const WIDGETS: (&str, &str, &str) = ("example.com/v1", "Widget", "widgets");

const SHARED_NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shared\n";
const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    kind: Widget
    plural: widgets
    singular: widget
    listKind: WidgetList
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
";

fn config_map(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  from: module\n"
    )
}

/// The `module list` entry of a module.
fn module(op: &OperatorProcess, name: &str) -> serde_json::Value {
    op.module_list().expect("module list answers")["modules"][name].clone()
}

/// Waits up to 30 s (a failed module retries with a growing backoff) for a module state.
async fn wait_state(op: &OperatorProcess, name: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while module(op, name)["state"] != state {
        assert!(
            Instant::now() < deadline,
            "module {name} is not {state} after 30 s: {}\n{}",
            module(op, name),
            op.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn error_of(op: &OperatorProcess, name: &str) -> String {
    module(op, name)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn assert_mentions(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
}

/// Starts the operator on two modules rendering `object`; the first owns it, the second is
/// `Failed` with an error naming both modules and the object.
async fn start_with_second_refused(
    c: &Cluster,
    first: &str,
    second: &str,
    object: &str,
) -> OperatorProcess {
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    wait_state(&op, first, "Ready").await;
    wait_state(&op, second, "Failed").await;
    assert_mentions(
        &error_of(&op, second),
        &[
            &format!("module {second}"),
            object,
            &format!("belongs to module {first}"),
        ],
    );
    op
}

fn label(c: &Cluster, kind: &str, name: &str, namespace: Option<&str>) -> String {
    let path = "jsonpath={.metadata.labels.addon-operator\\.io/module}";
    let mut args = vec!["get", kind, name, "-o", path];
    if let Some(ns) = namespace {
        args.extend(["-n", ns]);
    }
    c.kubectl(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_rendered_by_two_modules_stays_with_the_first_and_nothing_is_deleted() {
    let c = Cluster::start("modules").await;
    let first_cm = config_map("first", "shared");
    let second_cm = config_map("second", "shared");
    c.write_modules(&[
        (
            "010-first",
            &[("ns.yaml", SHARED_NAMESPACE), ("cm.yaml", &first_cm)],
        ),
        (
            "020-second",
            &[("ns.yaml", SHARED_NAMESPACE), ("cm.yaml", &second_cm)],
        ),
    ]);
    let deletes = DeletedEvents::watch(&c, &[CONFIGMAPS, NAMESPACES]).await;
    let op = start_with_second_refused(&c, "first", "second", "Namespace/shared").await;
    assert_eq!(label(&c, "namespace", "shared", None), "first");
    assert!(
        !c.exists("configmap", "second", "shared"),
        "nothing of the refused module is applied"
    );
    // A user keeps data in the shared Namespace; disabling the refused module deletes nothing.
    c.kubectl(&[
        "create",
        "configmap",
        "user-data",
        "-n",
        "shared",
        "--from-literal=k=v",
    ]);
    c.set_config(&[("secondEnabled", "false")]);
    wait_state(&op, "second", "Disabled").await;
    assert!(c.exists("configmap", "user-data", "shared"));
    assert!(c.exists("configmap", "first", "shared"));
    deletes.flush(&c, CONFIGMAPS, true).await;
    deletes.flush(&c, NAMESPACES, false).await;
    assert_eq!(deletes.deleted(), Vec::<String>::new(), "{}", op.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_rendered_by_two_modules_stays_with_the_first_and_no_custom_resource_is_deleted() {
    let c = Cluster::start("modules").await;
    let widget = format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: owned\n  namespace: {NS}\nspec:\n  size: 1\n"
    );
    c.write_modules(&[
        (
            "010-widgets",
            &[("crd.yaml", WIDGET_CRD), ("widget.yaml", &widget)],
        ),
        ("020-widgets-copy", &[("crd.yaml", WIDGET_CRD)]),
    ]);
    let deletes = DeletedEvents::watch(&c, &[CONFIGMAPS, CRDS]).await;
    let op = start_with_second_refused(
        &c,
        "widgets",
        "widgets-copy",
        "CustomResourceDefinition/widgets.example.com",
    )
    .await;
    assert_eq!(label(&c, "crd", "widgets.example.com", None), "widgets");
    let widget_deletes = DeletedEvents::watch(&c, &[WIDGETS]).await;
    let user_widget = c.dir.path().join("user-widget.yaml");
    std::fs::write(
        &user_widget,
        format!("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: users\n  namespace: {NS}\nspec:\n  size: 9\n"),
    )
    .expect("write the user's widget");
    c.kubectl(&["create", "-f", user_widget.to_str().expect("utf-8")]);
    c.set_config(&[("widgetsCopyEnabled", "false")]);
    wait_state(&op, "widgets-copy", "Disabled").await;
    assert!(
        c.kubectl_raw(&["get", "crd", "widgets.example.com"])
            .status
            .success()
    );
    for name in ["owned", "users"] {
        assert!(c.exists("widgets", name, NS), "widget {name} is gone");
    }
    widget_deletes.flush(&c, WIDGETS, true).await;
    deletes.flush(&c, CONFIGMAPS, true).await;
    assert_eq!(widget_deletes.deleted(), Vec::<String>::new());
    assert_eq!(deletes.deleted(), Vec::<String>::new(), "{}", op.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_object_is_refused_until_annotated_then_adopted_and_only_it_is_deleted() {
    let c = Cluster::start("modules").await;
    c.kubectl(&[
        "create",
        "configmap",
        "settings",
        "-n",
        NS,
        "--from-literal=from=user",
    ]);
    c.kubectl(&[
        "create",
        "configmap",
        "unrelated",
        "-n",
        NS,
        "--from-literal=from=user",
    ]);
    let settings = config_map("settings", NS);
    let own = config_map("app-own", NS);
    c.write_modules(&[(
        "010-app",
        &[("settings.yaml", &settings), ("own.yaml", &own)],
    )]);
    let deletes = DeletedEvents::watch(&c, &[CONFIGMAPS]).await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    wait_state(&op, "app", "Failed").await;
    let error = error_of(&op, "app");
    assert_mentions(
        &error,
        &[
            "module app",
            "ConfigMap/addon-operator/settings",
            "not created by addon-operator",
        ],
    );
    assert_eq!(label(&c, "configmap", "settings", Some(NS)), "");
    assert_eq!(
        c.jsonpath("configmap", "settings", "{.data.from}")
            .as_deref(),
        Some("user")
    );
    // The error says how to adopt: run exactly that.
    let command = error
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no `kubectl ...` command in: {error}"));
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(args[0], "kubectl", "{command}");
    c.kubectl(&args[1..]);
    wait_state(&op, "app", "Ready").await;
    assert_eq!(label(&c, "configmap", "settings", Some(NS)), "app");
    assert_eq!(
        c.jsonpath("configmap", "settings", "{.data.from}")
            .as_deref(),
        Some("module")
    );
    c.set_config(&[("appEnabled", "false")]);
    wait_state(&op, "app", "Disabled").await;
    assert!(c.exists("configmap", "unrelated", NS));
    deletes.flush(&c, CONFIGMAPS, true).await;
    assert_eq!(
        deletes.deleted(),
        [
            "ConfigMap/addon-operator/app-own",
            "ConfigMap/addon-operator/settings"
        ],
        "only the module's object and the adopted one go:\n{}",
        op.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_ownership_metadata_naming_the_module_adopts_what_addon_operator_released() {
    let c = Cluster::start("modules").await;
    let helm_object = |name: &str, release: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {NS}\n  labels:\n    app.kubernetes.io/managed-by: Helm\n  annotations:\n    meta.helm.sh/release-name: {release}\n    meta.helm.sh/release-namespace: {NS}\ndata:\n  from: helm\n"
        )
    };
    let file = c.dir.path().join("helm.yaml");
    std::fs::write(
        &file,
        format!(
            "{}---\n{}",
            helm_object("legacy", "app"),
            helm_object("other-release", "other")
        ),
    )
    .expect("write the Helm release's objects");
    c.kubectl(&["create", "-f", file.to_str().expect("utf-8")]);
    let legacy = config_map("legacy", NS);
    c.write_modules(&[("010-app", &[("legacy.yaml", &legacy)])]);
    let deletes = DeletedEvents::watch(&c, &[CONFIGMAPS]).await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    wait_state(&op, "app", "Ready").await;
    assert_eq!(label(&c, "configmap", "legacy", Some(NS)), "app");
    assert_eq!(
        c.jsonpath("configmap", "legacy", "{.data.from}").as_deref(),
        Some("module")
    );
    c.set_config(&[("appEnabled", "false")]);
    wait_state(&op, "app", "Disabled").await;
    assert!(c.exists("configmap", "other-release", NS));
    deletes.flush(&c, CONFIGMAPS, true).await;
    assert_eq!(
        deletes.deleted(),
        ["ConfigMap/addon-operator/legacy"],
        "{}",
        op.logs()
    );
}
