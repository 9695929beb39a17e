//! The shipped modules (`modules/`), one end-to-end test each: the real binary installs the
//! module on the emulator (or, with `ADDON_OPERATOR_TEST_CLUSTER=1` and `KUBECONFIG`, on a
//! real cluster — see `e2e/mod.rs`), and the test follows a create, change and delete sequence
//! object by object through kubectl. Plus the offline checks of what the prometheus module
//! renders: `promtool check config` on its configuration, and every object through
//! k8s-openapi's types.

mod common;
mod e2e;

use std::process::Command;

use e2e::{OPERATOR_NS, TestCluster, module_state, require_jq, sorted, wait_until};
use serde_json::Value;

/// The ConfigMap data that enables only `module` of the shipped set, so each test watches one.
fn only(module_key: &str) -> Vec<(String, String)> {
    ["ingressNginx", "echoServer", "prometheus"]
        .into_iter()
        .filter(|key| *key != module_key)
        .map(|key| (format!("{key}Enabled"), "false".to_string()))
        .collect()
}

fn set_config(c: &TestCluster, data: &[(String, String)]) {
    let data: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    c.set_config(&data);
}

/// `addon-operator render` of the shipped modules with `args`, as JSON objects.
fn render(args: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_addon-operator"))
        .current_dir(common::repo_root())
        .env_remove("ADDON_OPERATOR_MODULES_DIR")
        .env("LOG_LEVEL", "warn")
        .args(["render", "--modules-dir", "modules", "-o", "json"])
        .args(args)
        .output()
        .expect("render runs");
    assert!(
        out.status.success(),
        "render {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("render -o json prints a JSON array")
}

/// Fails with an install hint when promtool is missing.
fn require_promtool() {
    e2e::require_tool(
        "promtool",
        "install Debian's prometheus package (`apt-get install --no-install-recommends \
         prometheus`; scripts/test.sh does)",
    );
}

/// The keys Prometheus accepts in a `kubernetes_sd_configs` entry, and the roles.
const K8S_SD_KEYS: &[&str] = &[
    "role",
    "namespaces",
    "selectors",
    "api_server",
    "kubeconfig_file",
    "attach_metadata",
];
const K8S_SD_ROLES: &[&str] = &[
    "node",
    "service",
    "pod",
    "endpoints",
    "endpointslice",
    "ingress",
];

/// Checks `prometheus.yml` with `promtool check config`.
///
/// Debian builds Prometheus without Kubernetes service discovery (see its NEWS.Debian), so
/// its promtool rejects `kubernetes_sd_configs`. Each one is checked here against the keys
/// and roles Prometheus documents, then replaced by an equivalent `file_sd_configs` entry, so
/// that promtool checks everything else: globals, relabelling (regexes included), jobs.
fn promtool_check(config_text: &str) -> Result<(), String> {
    let mut config: Value = yaml_json::from_slice(config_text.as_bytes())
        .map_err(|e| format!("prometheus.yml is not YAML: {e}"))?;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("targets.json"), "[]").expect("targets file");
    for job in config["scrape_configs"]
        .as_array_mut()
        .ok_or("no scrape_configs")?
    {
        let name = job["job_name"].as_str().unwrap_or_default().to_string();
        let Some(sd) = job
            .as_object_mut()
            .and_then(|j| j.remove("kubernetes_sd_configs"))
        else {
            continue;
        };
        for entry in sd.as_array().ok_or(format!("{name}: not a list"))? {
            let entry = entry.as_object().ok_or(format!("{name}: not a map"))?;
            if let Some(key) = entry.keys().find(|k| !K8S_SD_KEYS.contains(&k.as_str())) {
                return Err(format!("{name}: unknown kubernetes_sd_configs key {key}"));
            }
            let role = entry
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !K8S_SD_ROLES.contains(&role) {
                return Err(format!("{name}: unknown role {role:?}"));
            }
            if let Some(ns) = entry.get("namespaces") {
                let names = ns["names"]
                    .as_array()
                    .ok_or(format!("{name}: namespaces.names"))?;
                if names.iter().any(|n| !n.is_string()) {
                    return Err(format!("{name}: namespaces.names holds a non-string"));
                }
            }
        }
        job["file_sd_configs"] = serde_json::json!([{"files": [dir.path().join("targets.json")]}]);
    }
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, config.to_string()).expect("config file");
    let out = Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(&file)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && !text.contains("WARNING") {
        Ok(())
    } else {
        Err(text)
    }
}

fn prometheus_config(args: &[&str]) -> String {
    let objects = render(
        &[
            &[
                "--module",
                "prometheus",
                "-s",
                "prometheus/templates/configmap.yaml",
            ][..],
            args,
        ]
        .concat(),
    );
    objects[0]["data"]["prometheus.yml"]
        .as_str()
        .expect("the ConfigMap holds prometheus.yml")
        .to_string()
}

#[test]
fn the_rendered_prometheus_configuration_passes_promtool_check_config() {
    require_promtool();
    for args in [
        &[][..],
        &["--set", "prometheus.nodeExporter.enabled=false"][..],
        &[
            "--set",
            "prometheus.scrapeInterval=15s",
            "--set",
            "global.clusterName=prod-eu-1",
        ][..],
    ] {
        let config = prometheus_config(args);
        if let Err(problems) = promtool_check(&config) {
            panic!("with {args:?}, prometheus.yml fails the check:\n{problems}\n{config}");
        }
    }
}

#[test]
fn the_promtool_check_fails_a_broken_configuration() {
    require_promtool();
    let config = prometheus_config(&[]);
    let broken_regex = config.replace("(?::\\d+)?;(\\d+)", "(?::\\d+;(\\d+)");
    assert_ne!(
        broken_regex, config,
        "the relabel regex is where the test expects it"
    );
    assert!(
        promtool_check(&broken_regex).is_err(),
        "promtool checks the relabel regexes"
    );
    let bad_role = config.replacen("role: pod", "role: pods", 1);
    assert!(
        promtool_check(&bad_role).is_err(),
        "the test checks the service discovery roles"
    );
}

#[test]
fn the_scrape_jobs_cover_the_operator_annotated_pods_and_the_node_exporter() {
    let jobs = |args: &[&str]| -> Vec<String> {
        let config: Value =
            yaml_json::from_slice(prometheus_config(args).as_bytes()).expect("YAML");
        config["scrape_configs"]
            .as_array()
            .expect("scrape_configs")
            .iter()
            .map(|j| j["job_name"].as_str().expect("job_name").to_string())
            .collect()
    };
    assert_eq!(
        jobs(&[]),
        [
            "prometheus",
            "addon-operator",
            "kubernetes-pods",
            "node-exporter"
        ]
    );
    assert_eq!(
        jobs(&["--set", "prometheus.nodeExporter.enabled=false"]),
        ["prometheus", "addon-operator", "kubernetes-pods"]
    );
}

fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(object: &Value) {
    let typed: T = serde_json::from_value(object.clone())
        .unwrap_or_else(|e| panic!("{} is not valid: {e}\n{object:#}", object["kind"]));
    pretty_assertions::assert_eq!(
        &serde_json::to_value(&typed).expect("serializes"),
        object,
        "a field k8s-openapi does not know was dropped (misspelled or misplaced)"
    );
}

#[test]
fn every_prometheus_object_is_a_valid_kubernetes_object() {
    use k8s_openapi::api::{apps, core, rbac};
    for args in [
        &[][..],
        &[
            "--set",
            "prometheus.storage.storageClass=fast",
            "--set",
            "prometheus.retentionSize=50GB",
            "--set",
            "prometheus.storage.type=persistentVolumeClaim",
        ][..],
    ] {
        let objects = render(&[&["--module", "prometheus"][..], args].concat());
        let mut kinds: Vec<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().expect("kind"))
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            [
                "ClusterRole",
                "ClusterRoleBinding",
                "ConfigMap",
                "DaemonSet",
                "Service",
                "ServiceAccount",
                "StatefulSet"
            ]
        );
        for object in &objects {
            match object["kind"].as_str().expect("kind") {
                "ClusterRole" => round_trips::<rbac::v1::ClusterRole>(object),
                "ClusterRoleBinding" => round_trips::<rbac::v1::ClusterRoleBinding>(object),
                "ConfigMap" => round_trips::<core::v1::ConfigMap>(object),
                "DaemonSet" => round_trips::<apps::v1::DaemonSet>(object),
                "Service" => round_trips::<core::v1::Service>(object),
                "ServiceAccount" => round_trips::<core::v1::ServiceAccount>(object),
                "StatefulSet" => round_trips::<apps::v1::StatefulSet>(object),
                other => panic!("unexpected kind {other}"),
            }
        }
    }
}

/// The default StorageClass of the cluster (a real one may have one), or None.
fn default_storage_class(c: &TestCluster) -> Option<String> {
    let list: Value =
        serde_json::from_str(&c.kubectl(&["get", "storageclasses", "-o", "json"])).expect("JSON");
    let mut defaults: Vec<(String, String)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|sc| {
            sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        })
        .map(|sc| {
            (
                sc["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                sc["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    defaults.sort();
    defaults.pop().map(|(_, name)| name)
}

/// `(class, size)` of the StatefulSet's data claim template, or None for an emptyDir.
fn data_claim(statefulset: &Value) -> Option<(Option<String>, String)> {
    let claims = statefulset["spec"]["volumeClaimTemplates"].as_array()?;
    let claim = claims.iter().find(|c| c["metadata"]["name"] == "data")?;
    Some((
        claim["spec"]["storageClassName"]
            .as_str()
            .map(str::to_string),
        claim["spec"]["resources"]["requests"]["storage"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ))
}

fn has_empty_dir_data_volume(statefulset: &Value) -> bool {
    statefulset["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|v| v["name"] == "data" && v["emptyDir"].is_object())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_installs_then_follows_storage_node_exporter_and_disable_changes() {
    require_jq();
    let c = TestCluster::start().await;
    let cluster_default = default_storage_class(&c);
    set_config(&c, &only("prometheus"));
    let mut op = c.operator("modules", None);
    op.wait_converged().await;
    assert_eq!(
        module_state(&op, "prometheus").as_deref(),
        Some("Ready"),
        "{}",
        op.logs()
    );
    let ns = OPERATOR_NS;
    assert_eq!(
        c.module_objects("prometheus"),
        sorted(&[
            "ClusterRole prometheus",
            "ClusterRoleBinding prometheus",
            &format!("ConfigMap {ns}/prometheus-config"),
            &format!("DaemonSet {ns}/node-exporter"),
            &format!("Service {ns}/prometheus"),
            &format!("ServiceAccount {ns}/prometheus"),
            &format!("StatefulSet {ns}/prometheus"),
        ])
    );
    let role = c
        .get("clusterrole", None, "prometheus")
        .expect("ClusterRole");
    assert_eq!(
        role["rules"][0]["resources"],
        serde_json::json!(["nodes", "pods", "services", "endpoints"])
    );
    assert_eq!(
        role["rules"][0]["verbs"],
        serde_json::json!(["get", "list", "watch"])
    );
    let binding = c
        .get("clusterrolebinding", None, "prometheus")
        .expect("binding");
    assert_eq!(binding["subjects"][0]["namespace"], ns);
    let service = c.get("service", Some(ns), "prometheus").expect("Service");
    assert_eq!(service["spec"]["ports"][0]["port"], 9090);
    let config = c
        .get("configmap", Some(ns), "prometheus-config")
        .expect("ConfigMap");
    assert!(
        config["data"]["prometheus.yml"]
            .as_str()
            .is_some_and(|t| t.contains("job_name: node-exporter"))
    );

    // Storage: the cluster's default class when it has one (the emulator has none: emptyDir).
    let sts = c
        .get("statefulset", Some(ns), "prometheus")
        .expect("StatefulSet");
    match &cluster_default {
        Some(class) => assert_eq!(data_claim(&sts), Some((Some(class.clone()), "20Gi".into()))),
        None => {
            assert_eq!(data_claim(&sts), None, "no default StorageClass: no claim");
            assert!(has_empty_dir_data_volume(&sts), "{sts:#}");
        }
    }
    wait_until("the StatefulSet reports its pod ready", &op, || {
        c.get("statefulset", Some(ns), "prometheus")
            .is_some_and(|s| s["status"]["readyReplicas"] == 1)
    })
    .await;

    let uid = |c: &TestCluster| {
        c.get("statefulset", Some(ns), "prometheus")
            .map(|s| s["metadata"]["uid"].clone())
    };
    let first_uid = uid(&c);

    // A new default class counts at the module's next run, here a config change.
    c.apply(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: e2e-fast\n  \
         annotations:\n    storageclass.kubernetes.io/is-default-class: \"true\"\n\
         provisioner: example.com/none\n",
    );
    c.set_config(&[("prometheus", "retention: 30d\n")]);
    wait_until(
        "the StatefulSet is recreated with a claim of the new default class",
        &op,
        || {
            c.get("statefulset", Some(ns), "prometheus")
                .is_some_and(|s| {
                    data_claim(&s) == Some((Some("e2e-fast".into()), "20Gi".into()))
                        && s["spec"]["template"]["spec"]["containers"][0]["args"]
                            .as_array()
                            .is_some_and(|a| {
                                a.iter().any(|x| x == "--storage.tsdb.retention.time=30d")
                            })
                })
        },
    )
    .await;
    let sts = c
        .get("statefulset", Some(ns), "prometheus")
        .expect("StatefulSet");
    assert!(
        !has_empty_dir_data_volume(&sts),
        "the claim replaces the emptyDir: {sts:#}"
    );
    if cluster_default.as_deref() != Some("e2e-fast") {
        assert_ne!(
            uid(&c),
            first_uid,
            "hooks/storage-class recreated the StatefulSet"
        );
    }

    // Explicit emptyDir, then no node exporter: each change reaches exactly its objects.
    c.set_config(&[(
        "prometheus",
        "retention: 30d\nstorage:\n  type: emptyDir\n  size: 5Gi\nnodeExporter:\n  enabled: false\n",
    )]);
    wait_until("the StatefulSet is back on an emptyDir of 5Gi", &op, || {
        c.get("statefulset", Some(ns), "prometheus")
            .is_some_and(|s| {
                data_claim(&s).is_none()
                    && s["spec"]["template"]["spec"]["volumes"]
                        .as_array()
                        .is_some_and(|v| v.iter().any(|v| v["emptyDir"]["sizeLimit"] == "5Gi"))
            })
    })
    .await;
    wait_until("the node exporter is pruned", &op, || {
        c.get("daemonset", Some(ns), "node-exporter").is_none()
    })
    .await;
    let config = c
        .get("configmap", Some(ns), "prometheus-config")
        .expect("ConfigMap");
    assert!(
        !config["data"]["prometheus.yml"]
            .as_str()
            .is_some_and(|t| t.contains("node-exporter")),
        "the node-exporter job goes with its DaemonSet"
    );
    assert_eq!(c.module_objects("prometheus").len(), 6);

    c.set_config(&[("prometheusEnabled", "false")]);
    wait_until("every prometheus object is deleted", &op, || {
        c.module_objects("prometheus").is_empty()
    })
    .await;
    assert!(c.get("clusterrole", None, "prometheus").is_none());
}

fn is_default_class(c: &TestCluster, name: &str) -> bool {
    c.get("ingressclass", None, name).is_some_and(|class| {
        class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] == "true"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_nginx_installs_and_never_makes_a_second_default_ingress_class() {
    require_jq();
    let c = TestCluster::start().await;
    let mut config = only("ingressNginx");
    config.push((
        "ingressNginx".into(),
        "isDefaultClass: true\nreplicas: 1\n".into(),
    ));
    set_config(&c, &config);
    let mut op = c.operator("modules", None);
    op.wait_converged().await;
    let ns = OPERATOR_NS;
    assert_eq!(
        c.module_objects("ingress-nginx"),
        sorted(&[
            "ClusterRole ingress-nginx",
            "ClusterRoleBinding ingress-nginx",
            "IngressClass nginx",
            &format!("ConfigMap {ns}/ingress-nginx-controller"),
            &format!("Deployment {ns}/ingress-nginx-controller"),
            &format!("Role {ns}/ingress-nginx"),
            &format!("RoleBinding {ns}/ingress-nginx"),
            &format!("Service {ns}/ingress-nginx-controller"),
            &format!("ServiceAccount {ns}/ingress-nginx"),
        ]),
        "{}",
        op.logs()
    );
    let deployment = c
        .get("deployment", Some(ns), "ingress-nginx-controller")
        .expect("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert!(
        is_default_class(&c, "nginx"),
        "no other default: nginx becomes it"
    );

    c.apply(
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: e2e-other\n  \
         annotations:\n    ingressclass.kubernetes.io/is-default-class: \"true\"\n\
         spec:\n  controller: example.com/other\n",
    );
    wait_until(
        "nginx stops being the default next to another default",
        &op,
        || !is_default_class(&c, "nginx"),
    )
    .await;
    c.kubectl(&["delete", "ingressclass", "e2e-other"]);
    wait_until(
        "nginx is the default again once the other one is gone",
        &op,
        || is_default_class(&c, "nginx"),
    )
    .await;

    c.set_config(&[("ingressNginx", "isDefaultClass: true\nreplicas: 3\n")]);
    wait_until("the controller scales to 3", &op, || {
        c.get("deployment", Some(ns), "ingress-nginx-controller")
            .is_some_and(|d| d["spec"]["replicas"] == 3)
    })
    .await;
    c.set_config(&[("ingressNginxEnabled", "false")]);
    wait_until("every ingress-nginx object is deleted", &op, || {
        c.module_objects("ingress-nginx").is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_server_installs_follows_its_message_and_is_deleted_when_disabled() {
    let c = TestCluster::start().await;
    set_config(&c, &only("echoServer"));
    let mut op = c.operator("modules", None);
    op.wait_converged().await;
    let ns = OPERATOR_NS;
    assert_eq!(
        c.module_objects("echo-server"),
        sorted(&[
            &format!("ConfigMap {ns}/echo-server"),
            &format!("Deployment {ns}/echo-server"),
            &format!("Service {ns}/echo-server"),
        ])
    );
    let checksum = |c: &TestCluster| {
        c.get("deployment", Some(ns), "echo-server")
            .map(|d| d["spec"]["template"]["metadata"]["annotations"]["checksum/message"].clone())
    };
    let before = checksum(&c);
    c.set_config(&[("echoServer", "message: changed by the e2e test\n")]);
    wait_until("the ConfigMap carries the new message", &op, || {
        c.get("configmap", Some(ns), "echo-server")
            .is_some_and(|m| m["data"]["message"] == "changed by the e2e test")
    })
    .await;
    assert_ne!(checksum(&c), before, "the pods roll with the message");
    c.set_config(&[("echoServerEnabled", "false")]);
    wait_until("every echo-server object is deleted", &op, || {
        c.module_objects("echo-server").is_empty()
    })
    .await;
}
