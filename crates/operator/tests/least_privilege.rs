//! Issue 12 §1: least privilege, proven. The emulator authorizes with RBAC; the operator runs
//! with a token of the ServiceAccount bound only to the ClusterRole and Role `deploy/` ships
//! (what `addon-operator rbac` generates). It converges the shipped modules and global hooks,
//! runs their hooks, repairs drift and prunes with zero 403s; and without any one of the
//! rules, some step fails with a 403 that names the missing permission, in the operator's log.

mod common;

use std::path::PathBuf;

use common::{Cluster, Launch, NS, OperatorProcess, copy_dir, eventually, repo_root, require_jq};
use serde_json::Value;

/// The ServiceAccount, ClusterRole, Role and bindings `deploy/` ships.
fn shipped_rbac() -> Vec<Value> {
    let mut docs = Vec::new();
    for file in ["deploy/base/serviceaccount.yaml", "deploy/base/rbac.yaml"] {
        let text = std::fs::read_to_string(repo_root().join(file)).expect("the shipped file");
        let (parsed, err) = yaml_json::parse_stream(&text);
        assert!(err.is_none(), "{file}: {err:?}");
        docs.extend(parsed.into_iter().filter(|d| !d.is_null()));
    }
    docs
}

/// An emulator in authorization mode with the shipped global hooks and modules, `rbac`
/// applied by the administrator, and a kubeconfig presenting a token of the operator's
/// ServiceAccount.
async fn cluster_with(rbac: &[Value]) -> (Cluster, PathBuf) {
    let c = Cluster::start_with(
        "modules",
        kube_emulator::Config {
            authorization: true,
            ..kube_emulator::Config::default()
        },
    )
    .await;
    copy_dir(&repo_root().join("global-hooks"), &c.global_hooks);
    let docs: Vec<String> = rbac
        .iter()
        .map(|d| yaml_json::to_string(d).expect("YAML"))
        .collect();
    let file = c.dir.path().join("rbac.yaml");
    std::fs::write(&file, docs.join("---\n")).expect("write the RBAC objects");
    c.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        file.to_str().expect("UTF-8"),
    ]);
    let token = c.kubectl(&["create", "token", "addon-operator", "-n", NS]);
    let kubeconfig = c.dir.path().join("operator-kubeconfig");
    std::fs::write(&kubeconfig, c.emu.kubeconfig_with_token(token.trim()))
        .expect("write the operator's kubeconfig");
    (c, kubeconfig)
}

/// `addon-operator run --ha` as the operator's ServiceAccount.
fn operator(c: &Cluster, kubeconfig: &std::path::Path) -> OperatorProcess {
    c.launch(Launch {
        kubeconfig: Some(kubeconfig),
        extra: &["--ha", "--lease-duration", "2"],
        ..Launch::default()
    })
}

fn module_state(op: &OperatorProcess, module: &str) -> String {
    op.module_list()
        .and_then(|l| l["modules"][module]["state"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_rbac_lets_the_operator_do_everything_with_zero_403s() {
    require_jq();
    let (c, kubeconfig) = cluster_with(&shipped_rbac()).await;
    let mut op = operator(&c, &kubeconfig);
    op.wait_converged().await;
    for module in ["ingress-nginx", "echo-server", "prometheus"] {
        eventually(&format!("{module} is Ready"), || {
            module_state(&op, module) == "Ready"
        })
        .await;
    }
    assert!(
        c.exists("daemonset", "node-exporter", NS),
        "node exporter rendered"
    );
    // Drift: an object deleted behind the operator's back comes back.
    c.kubectl(&["delete", "configmap", "echo-server", "-n", NS]);
    eventually("the deleted ConfigMap is restored", || {
        c.exists("configmap", "echo-server", NS)
    })
    .await;
    // Hooks: a default StorageClass makes the prometheus hook delete the StatefulSet (its
    // storage changes) before the render recreates it with a claim.
    let storage_class = serde_json::json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "fast", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.com/fast",
    });
    let file = c.dir.path().join("sc.json");
    std::fs::write(&file, storage_class.to_string()).expect("write");
    c.kubectl(&["create", "-f", file.to_str().expect("UTF-8")]);
    // Prune: the node exporter goes when it is turned off; the config change also re-runs the
    // prometheus module and so its beforeHelm hook.
    c.set_config(&[("prometheus", "nodeExporter:\n  enabled: false\n")]);
    eventually("the node exporter is pruned", || {
        !c.exists("daemonset", "node-exporter", NS)
    })
    .await;
    eventually(
        "the StatefulSet is recreated with a claim of the default class",
        || {
            c.jsonpath(
                "statefulset",
                "prometheus",
                "{.spec.volumeClaimTemplates[0].spec.storageClassName}",
            )
            .as_deref()
                == Some("fast")
        },
    )
    .await;
    eventually("prometheus is Ready again", || {
        module_state(&op, "prometheus") == "Ready"
    })
    .await;
    let denials = c.emu.controls().denials();
    assert!(
        denials.is_empty(),
        "the shipped RBAC must be enough; the API server refused:\n{}\n--- operator log\n{}",
        denials.join("\n"),
        op.logs()
    );
    assert!(!op.logs().contains("forbidden"), "{}", op.logs());
}

/// `rbac` without rule `index` of the document `doc` (a ClusterRole or Role), and what the
/// rule grants, as the 403 messages name it (a quoted resource or URL).
fn without_rule(rbac: &[Value], doc: usize, index: usize) -> (Vec<Value>, Vec<String>) {
    let mut cut = rbac.to_vec();
    let rules = cut[doc]["rules"].as_array_mut().expect("rules");
    let rule = rules.remove(index);
    let named: Vec<String> = ["resources", "nonResourceURLs", "resourceNames"]
        .iter()
        .flat_map(|k| rule[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(|s| format!("{s:?}")))
        .collect();
    (cut, named)
}

/// Runs the operator on a fresh cluster with `rbac` until the API server refuses something
/// naming one of `named`; returns that refusal once the operator's log shows it too.
async fn first_refusal(rbac: &[Value], named: &[String]) -> String {
    let (c, kubeconfig) = cluster_with(rbac).await;
    let op = operator(&c, &kubeconfig);
    let mut refusal = None;
    wait_for(&op, &format!("a refusal naming {named:?}"), || {
        let denials = c.emu.controls().denials();
        refusal = denials
            .into_iter()
            .find(|d| named.iter().any(|n| d.contains(n.as_str())));
        refusal.is_some()
    })
    .await;
    let refusal = refusal.unwrap_or_default();
    let head = refusal.lines().next().unwrap_or_default().to_string();
    wait_for(&op, &format!("the operator logs {head:?}"), || {
        let logs = op.logs();
        logs.contains(&head) || logs.contains(&head.replace('"', "\\\""))
    })
    .await;
    refusal
}

/// Without `bind` on a role a module renders, its binding can be written only once the role
/// exists (the API server checks `bind`, then looks the role up to compare rules): made
/// visible by failing the role's first writes, so its binding comes first. Returns once the
/// operator logs the API server's answer (404 for the role).
async fn binding_before_its_role(rbac: &[Value], plural: &str, role: &str) {
    let (c, kubeconfig) = cluster_with(rbac).await;
    // Every module that writes such a role fails it for a while, whatever the modules' order.
    c.emu
        .controls()
        .fail_next(50, Some("patch"), Some(plural), 500);
    let op = operator(&c, &kubeconfig);
    let answer = format!("{plural}.rbac.authorization.k8s.io \\\"{role}\\\" not found");
    wait_for(&op, &format!("the operator logs {answer}"), || {
        op.logs().contains(&answer)
    })
    .await;
}

/// Polls `check` for up to 60 s; fails with the operator's log.
async fn wait_for(op: &OperatorProcess, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            op.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_one_rule_some_step_fails_naming_the_missing_permission() {
    require_jq();
    let rbac = shipped_rbac();
    let mut checked = 0;
    for (doc, role) in rbac.iter().enumerate() {
        if !matches!(role["kind"].as_str(), Some("ClusterRole" | "Role")) {
            continue;
        }
        let kind = role["kind"].as_str().unwrap_or_default();
        for index in 0..role["rules"].as_array().map_or(0, Vec::len) {
            let rule = &role["rules"][index];
            let (cut, named) = without_rule(&rbac, doc, index);
            if rule["verbs"] == serde_json::json!(["bind"]) {
                let plural = rule["resources"][0].as_str().unwrap_or_default();
                let name = rule["resourceNames"][0].as_str().unwrap_or_default();
                binding_before_its_role(&cut, plural, name).await;
            } else {
                let refusal = first_refusal(&cut, &named).await;
                assert!(
                    refusal.contains("is forbidden: User \"system:serviceaccount:addon-operator:addon-operator\" cannot")
                        || refusal.contains("is attempting to grant RBAC permissions not currently held"),
                    "{kind} rule {index} ({named:?}): {refusal}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} rules checked");
}
