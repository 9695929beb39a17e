//! The examples (`examples/<name>/`), one end-to-end test each: the real binary runs the
//! example's `modules/` and `global-hooks/` on the emulator with simulated workloads (or, with
//! `ADDON_OPERATOR_TEST_CLUSTER=1` and `KUBECONFIG`, on a real cluster — see `e2e/mod.rs`),
//! and the test follows the create, change and delete sequences the example's README promises,
//! object by object through kubectl.

mod common;
mod e2e;

use e2e::{OPERATOR_NS, TestCluster, module_state, require_jq, sorted, wait_until};
use serde_json::Value;

/// The `metadata.resourceVersion` of an object, to show that a change elsewhere left it alone.
fn version(c: &TestCluster, kind: &str, namespace: Option<&str>, name: &str) -> Option<String> {
    c.get(kind, namespace, name).and_then(|o| {
        o["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_example_installs_follows_config_and_deletes_a_disabled_module() {
    let c = TestCluster::start().await;
    let mut op = c.operator("examples/basic/modules", None);
    op.wait_converged().await;
    let ns = OPERATOR_NS;
    assert_eq!(
        c.module_objects("hello"),
        sorted(&[
            &format!("ConfigMap {ns}/hello"),
            &format!("Deployment {ns}/hello")
        ])
    );
    assert_eq!(
        c.module_objects("widgets"),
        sorted(&["CustomResourceDefinition widgets.example.com"])
    );
    // A first run may fail while the new CRD is being served (then it is retried): converged
    // means the first pass ended, not that every module succeeded in it.
    wait_until("the Widget exists", &op, || {
        c.get("widgets", None, "example-widget").is_some()
    })
    .await;
    let widget = c
        .get("widgets", None, "example-widget")
        .expect("the Widget");
    assert_eq!(widget["spec"]["size"], "small");
    let greeting = c.get("configmap", Some(ns), "hello").expect("ConfigMap");
    assert_eq!(greeting["data"]["greeting"], "Hello, example");

    c.set_config(&[("hello", "replicas: 3\ngreeting: Hi\n")]);
    wait_until("hello follows its config values", &op, || {
        c.get("deployment", Some(ns), "hello")
            .is_some_and(|d| d["spec"]["replicas"] == 3)
            && c.get("configmap", Some(ns), "hello")
                .is_some_and(|m| m["data"]["greeting"] == "Hi, example")
    })
    .await;
    c.set_config(&[("widgetsEnabled", "false")]);
    wait_until("the disabled module's Widget is deleted", &op, || {
        c.get("widgets", None, "example-widget").is_none()
    })
    .await;
    assert_eq!(module_state(&op, "widgets").as_deref(), Some("Disabled"));
    assert_eq!(c.module_objects("hello").len(), 2, "hello is left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_and_hooks_example_follows_labelled_namespaces_and_its_config() {
    require_jq();
    let c = TestCluster::start().await;
    let mut op = c.operator("examples/crd-and-hooks/modules", None);
    op.wait_converged().await;
    let ns = OPERATOR_NS;
    let schedules =
        |c: &TestCluster| c.names("backupschedules", None, "app.kubernetes.io/managed-by");
    assert_eq!(schedules(&c), [format!("{ns}/backups")], "{}", op.logs());

    c.create_namespace("e2e-team-a");
    c.kubectl(&[
        "label",
        "namespace",
        "e2e-team-a",
        "backups.example.com/enabled=true",
    ]);
    wait_until(
        "a BackupSchedule appears in the labelled namespace",
        &op,
        || schedules(&c) == [format!("{ns}/backups"), "e2e-team-a/backups".to_string()],
    )
    .await;
    c.set_config(&[("backups", "retentionDays: 30\n")]);
    wait_until("both schedules keep 30 days", &op, || {
        [Some(ns), Some("e2e-team-a")].iter().all(|n| {
            c.get("backupschedule", *n, "backups")
                .is_some_and(|b| b["spec"]["retentionDays"] == 30)
        })
    })
    .await;
    c.kubectl(&[
        "label",
        "namespace",
        "e2e-team-a",
        "backups.example.com/enabled-",
    ]);
    wait_until("the schedule is pruned when the label goes", &op, || {
        schedules(&c) == [format!("{ns}/backups")]
    })
    .await;
}

const APP: &str = "apiVersion: platform.example.com/v1alpha1
kind: App
metadata:
  name: NAME
  namespace: e2e-team-a
spec:
  image: nginx:1.27
  replicas: REPLICAS
  port: 80
  host: NAME.example.com
  env:
    GREETING: hello from NAME
";

fn app(name: &str, replicas: u32) -> String {
    APP.replace("NAME", name)
        .replace("REPLICAS", &replicas.to_string())
}

fn app_objects(name: &str) -> Vec<String> {
    ["Deployment", "Ingress", "Service"]
        .iter()
        .map(|kind| format!("{kind} e2e-team-a/{name}"))
        .collect()
}

/// Whether App `name` reports `ready` ready replicas for its current generation.
fn app_status_is(c: &TestCluster, name: &str, ready: u64) -> bool {
    c.get("app", Some("e2e-team-a"), name).is_some_and(|a| {
        a["status"]["readyReplicas"] == ready
            && a["status"]["observedGeneration"] == a["metadata"]["generation"]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_platform_turns_each_app_into_exactly_its_objects_and_reports_status() {
    require_jq();
    let c = TestCluster::start().await;
    let mut op = c.operator("examples/app-platform/modules", None);
    op.wait_converged().await;
    // The CRD is the module's own (crds/), served before its hook's bindings start.
    let crd = sorted(&["CustomResourceDefinition apps.platform.example.com"]);
    assert_eq!(c.module_objects("app-platform"), crd);
    c.create_namespace("e2e-team-a");

    c.apply(&app("web", 2));
    wait_until("web's Deployment, Service and Ingress exist", &op, || {
        c.module_objects("app-platform") == sorted_union(&crd, &app_objects("web"))
    })
    .await;
    let deployment = c
        .get("deployment", Some("e2e-team-a"), "web")
        .expect("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.27");
    assert_eq!(container["ports"][0]["containerPort"], 80);
    assert_eq!(
        container["env"],
        serde_json::json!([{"name": "GREETING", "value": "hello from web"}])
    );
    let service = c
        .get("service", Some("e2e-team-a"), "web")
        .expect("Service");
    assert_eq!(
        service["spec"]["selector"]["platform.example.com/app"],
        "web"
    );
    let ingress = c
        .get("ingress", Some("e2e-team-a"), "web")
        .expect("Ingress");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "web.example.com");
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "web"
    );
    wait_until("web reports 2 ready replicas", &op, || {
        app_status_is(&c, "web", 2)
    })
    .await;
    let table = c.kubectl(&["get", "apps", "-n", "e2e-team-a"]);
    assert!(
        table.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&"web")
                && cols.contains(&"nginx:1.27")
                && cols.last() == Some(&"2")
        }),
        "kubectl get apps shows the App with its ready replicas:\n{table}"
    );

    let web_version = version(&c, "deployment", Some("e2e-team-a"), "web");
    c.apply(&app("api", 1));
    wait_until("api's objects join web's", &op, || {
        c.module_objects("app-platform")
            == sorted_union(
                &crd,
                &sorted_union(&app_objects("web"), &app_objects("api")),
            )
    })
    .await;
    wait_until("api reports 1 ready replica", &op, || {
        app_status_is(&c, "api", 1)
    })
    .await;
    assert_eq!(
        version(&c, "deployment", Some("e2e-team-a"), "web"),
        web_version,
        "creating api leaves web's Deployment alone"
    );

    let api_version = version(&c, "deployment", Some("e2e-team-a"), "api");
    c.apply(&app("web", 3));
    wait_until("web scales to 3 and reports it", &op, || {
        c.get("deployment", Some("e2e-team-a"), "web")
            .is_some_and(|d| d["spec"]["replicas"] == 3)
            && app_status_is(&c, "web", 3)
    })
    .await;
    assert_eq!(
        version(&c, "deployment", Some("e2e-team-a"), "api"),
        api_version,
        "changing web leaves api's Deployment alone"
    );

    c.kubectl(&["delete", "app", "api", "-n", "e2e-team-a"]);
    wait_until("api's objects are pruned, web's stay", &op, || {
        c.module_objects("app-platform") == sorted_union(&crd, &app_objects("web"))
    })
    .await;
    c.kubectl(&["delete", "app", "web", "-n", "e2e-team-a"]);
    wait_until(
        "the last App's objects are pruned too; the CRD stays",
        &op,
        || c.module_objects("app-platform") == crd,
    )
    .await;
}

fn sorted_union(a: &[String], b: &[String]) -> Vec<String> {
    let mut all: Vec<String> = a.iter().chain(b).cloned().collect();
    all.sort();
    all
}

const REGISTRY_SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: registry-credentials
  namespace: NAMESPACE
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: CONFIG
";

/// Base64 of `{"auths":{"registry.example.com":{"auth":"first"}}}` and of the same with `second`.
const FIRST: &str = "eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlLmNvbSI6eyJhdXRoIjoiZmlyc3QifX19";
const SECOND: &str = "eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlLmNvbSI6eyJhdXRoIjoic2Vjb25kIn19fQ==";

/// The `.dockerconfigjson` of the copy in `namespace`, or None when there is none.
fn copy_in(c: &TestCluster, namespace: &str) -> Option<Value> {
    c.get("secret", Some(namespace), "registry-credentials")
        .map(|s| s["data"][".dockerconfigjson"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_secret_is_copied_into_every_namespace_and_kept_updated() {
    require_jq();
    let c = TestCluster::start().await;
    c.create_namespace("e2e-a");
    c.create_namespace("e2e-opt-out");
    c.kubectl(&[
        "label",
        "namespace",
        "e2e-opt-out",
        "registry-secret.example.com/copy=false",
    ]);
    let source = |config: &str| {
        REGISTRY_SECRET
            .replace("NAMESPACE", OPERATOR_NS)
            .replace("CONFIG", config)
    };
    c.apply(&source(FIRST));
    let source_data = |c: &TestCluster| copy_in(c, OPERATOR_NS).expect("the source exists");
    let first = source_data(&c);
    let mut op = c.operator(
        "examples/registry-secret/modules",
        Some("examples/registry-secret/global-hooks"),
    );
    op.wait_converged().await;
    wait_until("the namespaces get a copy", &op, || {
        copy_in(&c, "e2e-a") == Some(first.clone()) && copy_in(&c, "default") == Some(first.clone())
    })
    .await;
    let copy = c
        .get("secret", Some("e2e-a"), "registry-credentials")
        .expect("copy");
    assert_eq!(copy["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(
        copy["metadata"]["labels"]["registry-secret.example.com/copy-of"],
        "registry-credentials"
    );
    assert_eq!(
        copy_in(&c, "e2e-opt-out"),
        None,
        "opted-out namespace is left alone"
    );

    c.create_namespace("e2e-later");
    wait_until("a namespace created later gets a copy", &op, || {
        copy_in(&c, "e2e-later") == Some(first.clone())
    })
    .await;

    c.kubectl(&[
        "label",
        "namespace",
        "e2e-a",
        "registry-secret.example.com/copy=false",
    ]);
    c.apply(&source(SECOND));
    let second = source_data(&c);
    assert_ne!(first, second);
    wait_until("the copies follow the source", &op, || {
        copy_in(&c, "e2e-later") == Some(second.clone())
            && copy_in(&c, "default") == Some(second.clone())
    })
    .await;
    assert_eq!(
        copy_in(&c, "e2e-a"),
        Some(first),
        "a namespace that opted out keeps what it has"
    );
    assert_eq!(copy_in(&c, "e2e-opt-out"), None);

    c.kubectl(&[
        "delete",
        "secret",
        "registry-credentials",
        "-n",
        "e2e-later",
    ]);
    wait_until("a deleted copy comes back", &op, || {
        copy_in(&c, "e2e-later") == Some(second.clone())
    })
    .await;
    // The copies are no module's objects: remove them (on a real cluster too).
    drop(op);
    c.kubectl(&[
        "delete",
        "secrets",
        "-A",
        "-l",
        "registry-secret.example.com/copy-of=registry-credentials",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_egress_policy_follows_the_namespace_label() {
    require_jq();
    let c = TestCluster::start().await;
    c.create_namespace("e2e-open");
    c.kubectl(&[
        "label",
        "namespace",
        "e2e-open",
        "egress.example.com/internet=allowed",
    ]);
    c.create_namespace("e2e-closed");
    let mut op = c.operator("examples/namespace-egress/modules", None);
    op.wait_converged().await;
    let policy = |ns: &str| format!("NetworkPolicy {ns}/allow-internet-egress");
    wait_until("the labelled namespace has the policy", &op, || {
        c.module_objects("namespace-egress") == [policy("e2e-open")]
    })
    .await;
    let object = c
        .get("networkpolicy", Some("e2e-open"), "allow-internet-egress")
        .expect("policy");
    assert_eq!(object["spec"]["policyTypes"], serde_json::json!(["Egress"]));
    assert_eq!(object["spec"]["podSelector"], serde_json::json!({}));
    assert_eq!(
        object["spec"]["egress"],
        serde_json::json!([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])
    );

    c.kubectl(&[
        "label",
        "namespace",
        "e2e-closed",
        "egress.example.com/internet=allowed",
    ]);
    wait_until("a newly labelled namespace gets the policy", &op, || {
        c.module_objects("namespace-egress")
            == sorted(&[&policy("e2e-closed"), &policy("e2e-open")])
    })
    .await;
    c.set_config(&[("namespaceEgress", "exceptCidrs: [10.0.0.0/8]\n")]);
    wait_until("the config change reaches every policy", &op, || {
        ["e2e-open", "e2e-closed"].iter().all(|ns| {
            c.get("networkpolicy", Some(ns), "allow-internet-egress")
                .is_some_and(|p| {
                    p["spec"]["egress"][0]["to"][0]["ipBlock"]["except"]
                        == serde_json::json!(["10.0.0.0/8"])
                })
        })
    })
    .await;
    c.kubectl(&[
        "label",
        "namespace",
        "e2e-open",
        "egress.example.com/internet-",
    ]);
    wait_until("removing the label removes the policy", &op, || {
        c.module_objects("namespace-egress") == [policy("e2e-closed")]
    })
    .await;
}

/// `key:effect` of the Node's taints, sorted.
fn taints(c: &TestCluster, node: &str) -> Vec<String> {
    let node = c.get("node", None, node).expect("the Node exists");
    let mut taints: Vec<String> = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{}:{}",
                t["key"].as_str().unwrap_or_default(),
                t["effect"].as_str().unwrap_or_default()
            )
        })
        .collect();
    taints.sort();
    taints
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_taints_follow_the_node_labels_and_leave_other_taints_alone() {
    require_jq();
    let c = TestCluster::start().await;
    c.apply(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: e2e-node-1\n  labels:\n    \
         taints.example.com/gpu: NoSchedule\nspec:\n  taints:\n    - key: e2e-foreign\n      \
         effect: NoExecute\n",
    );
    let mut op = c.operator("examples/node-taints/modules", None);
    op.wait_converged().await;
    assert!(
        c.module_objects("node-taints").is_empty(),
        "a module of hooks only"
    );
    // A real cluster's node controller may add taints of its own: compare only ours.
    let ours = |c: &TestCluster, node: &str| -> Vec<String> {
        taints(c, node)
            .into_iter()
            .filter(|t| {
                t.starts_with("gpu:") || t.starts_with("dedicated:") || t.starts_with("e2e-")
            })
            .collect()
    };
    wait_until("the labelled node gets its taint", &op, || {
        ours(&c, "e2e-node-1") == ["e2e-foreign:NoExecute", "gpu:NoSchedule"]
    })
    .await;

    c.kubectl(&[
        "label",
        "node",
        "e2e-node-1",
        "--overwrite",
        "taints.example.com/gpu=NoExecute",
        "taints.example.com/dedicated=PreferNoSchedule",
    ]);
    wait_until(
        "changed and added labels change and add taints",
        &op,
        || {
            ours(&c, "e2e-node-1")
                == [
                    "dedicated:PreferNoSchedule",
                    "e2e-foreign:NoExecute",
                    "gpu:NoExecute",
                ]
        },
    )
    .await;
    c.kubectl(&["label", "node", "e2e-node-1", "taints.example.com/gpu-"]);
    wait_until("a removed label removes its taint only", &op, || {
        ours(&c, "e2e-node-1") == ["dedicated:PreferNoSchedule", "e2e-foreign:NoExecute"]
    })
    .await;

    c.apply(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: e2e-node-2\n  labels:\n    \
         taints.example.com/gpu: NoSchedule\n    taints.example.com/typo: NoSchedul\n",
    );
    wait_until(
        "a node that joins later is tainted, invalid effects ignored",
        &op,
        || ours(&c, "e2e-node-2") == ["gpu:NoSchedule"],
    )
    .await;
    assert!(
        !taints(&c, "e2e-node-2")
            .iter()
            .any(|t| t.starts_with("typo")),
        "an unknown effect makes no taint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_from_cluster_module_follows_its_crd_and_the_tenants() {
    require_jq();
    let c = TestCluster::start().await;
    let mut op = c.operator(
        "examples/values-from-cluster/modules",
        Some("examples/values-from-cluster/global-hooks"),
    );
    op.wait_converged().await;
    let status = op.module_list().expect("module list");
    assert_eq!(status["modules"]["tenants"]["enabled"], false, "{status}");
    assert!(
        status["modules"]["tenants"]["enabledSource"]
            .as_str()
            .is_some_and(|s| s.contains("tenants.example.com is not installed")),
        "{status}"
    );

    c.apply(&e2e::repo_file(
        "examples/values-from-cluster/tenant-crd.yaml",
    ));
    wait_until("the CRD enables the module", &op, || {
        module_state(&op, "tenants").as_deref() == Some("Ready")
    })
    .await;
    c.apply(&e2e::repo_file("examples/values-from-cluster/tenant.yaml"));
    wait_until("the Tenant gets its Namespace and quota", &op, || {
        c.module_objects("tenants")
            == sorted(&[
                "Namespace tenant-acme",
                "ResourceQuota tenant-acme/tenant-quota",
            ])
    })
    .await;
    let quota = c
        .get("resourcequota", Some("tenant-acme"), "tenant-quota")
        .expect("quota");
    assert_eq!(
        quota["spec"]["hard"],
        serde_json::json!({"requests.cpu": "8", "requests.memory": "16Gi", "pods": "20"})
    );

    c.kubectl(&[
        "patch",
        "tenant",
        "acme",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"quota":{"pods":50}}}"#,
    ]);
    wait_until("the quota follows the Tenant", &op, || {
        c.get("resourcequota", Some("tenant-acme"), "tenant-quota")
            .is_some_and(|q| q["spec"]["hard"]["pods"] == "50")
    })
    .await;

    c.kubectl(&["delete", "crd", "tenants.example.com"]);
    wait_until(
        "without its CRD the module is disabled and its objects deleted",
        &op,
        || {
            module_state(&op, "tenants").as_deref() == Some("Disabled")
                && c.module_objects("tenants").is_empty()
        },
    )
    .await;
}
