//! Issue 5 end to end: a SIGKILL mid-apply leaves no orphan and causes no wrongful delete
//! (the `--ha` tests are in `ha.rs`).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::proxy::{Proxy, RequestLog};
use common::{Cluster, NS, eventually};

/// Objects the shipped modules render: ingress-nginx 9, echo-server 3, prometheus 7.
const RENDERED: usize = 19;

/// `kind/namespace/name` of every object carrying the operator's managed-by label.
fn managed_objects(c: &Cluster) -> BTreeSet<String> {
    let out = c.kubectl(&[
        "get",
        "configmaps,services,deployments,statefulsets,daemonsets,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,ingressclasses",
        "-A",
        "-l",
        "app.kubernetes.io/managed-by=addon-operator",
        "-o",
        "jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}",
    ]);
    out.lines().map(str::to_string).collect()
}

/// `kind/namespace/name` of every object listed in an inventory Secret.
fn inventoried_objects(c: &Cluster) -> BTreeSet<String> {
    let out = c.kubectl(&[
        "get",
        "secrets",
        "-n",
        NS,
        "-l",
        "addon-operator.io/inventory",
        "-o",
        "json",
    ]);
    let list: serde_json::Value = serde_json::from_str(&out).expect("secret list JSON");
    let mut refs = BTreeSet::new();
    for secret in list["items"].as_array().into_iter().flatten() {
        for value in secret["data"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            let bytes = BASE64
                .decode(value.as_str().unwrap_or_default())
                .expect("inventory data is base64");
            let Ok(inventory) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            for entry in inventory["objects"].as_array().into_iter().flatten() {
                let o = entry.get("object").unwrap_or(entry);
                refs.insert(format!(
                    "{}/{}/{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["namespace"].as_str().unwrap_or_default(),
                    o["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    refs
}

/// Attempts the operator's client makes for one idempotent request that keeps getting 500s
/// (the request and its three quick retries).
const DELETE_ATTEMPTS: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_apply_then_restart_leaves_no_orphan_and_deletes_nothing_wrongly() {
    let c = Cluster::start("modules").await;
    // The first operator's object writes after the third wait at its proxy: the kill lands
    // in the middle of the first apply, whatever the machine's speed.
    let proxy = Proxy::start(&c, "first", Arc::new(RequestLog::default()), Some(3)).await;
    let mut first = c.operator_at(&proxy.kubeconfig, &[], &[]);
    eventually("the first operator is mid-apply", || proxy.held() > 0).await;
    first.kill();
    let partial = managed_objects(&c);
    assert!(
        partial.len() < RENDERED,
        "the kill should land mid-apply, found {partial:?}"
    );
    let mut second = c.operator(&[]);
    second.wait_converged().await;
    let managed = managed_objects(&c);
    let inventoried = inventoried_objects(&c);
    assert_eq!(
        managed.len(),
        RENDERED,
        "every rendered object exists after the restart: {managed:?}"
    );
    let orphans: Vec<_> = managed.difference(&inventoried).collect();
    assert!(
        orphans.is_empty(),
        "objects outside every inventory: {orphans:?} (inventory {inventoried:?})"
    );
    assert!(
        partial.is_subset(&managed),
        "an object applied before the kill was deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_while_the_api_server_fails_and_recovers_with_it() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&["--api-probe-interval", "0.2"]);
    op.wait_converged().await;
    assert_eq!(op.get("/readyz"), (200, "ready".to_string()));
    c.emu.controls().fail_percent(100, None, None, 500);
    eventually("/readyz reports the failing API server", || {
        op.get("/readyz").0 == 503
    })
    .await;
    let (_, why) = op.get("/readyz");
    assert!(why.contains("API server unreachable"), "{why}");
    assert!(why.contains("HTTP 500"), "{why}");
    assert_eq!(
        op.get("/healthz").0,
        200,
        "liveness does not follow the API"
    );
    c.emu.controls().clear_faults();
    eventually("/readyz is 200 again once the API answers", || {
        op.get("/readyz").0 == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_failed_while_disabling_a_module_is_retried() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    // The client repeats a delete that got a 500 three times at once; the fourth 500 reaches
    // the module run.
    c.emu
        .controls()
        .fail_next(DELETE_ATTEMPTS, Some("delete"), Some("services"), 500);
    c.set_config(&[("echoServerEnabled", "false")]);
    eventually("the failed delete is reported", || {
        op.logs().contains("module deletion failed")
    })
    .await;
    // No other event comes: only the module's own retry can finish the job.
    eventually("every echo-server object is deleted", || {
        !c.exists("service", "echo-server", NS)
            && !c.exists("deployment", "echo-server", NS)
            && !c.exists("secret", "addon-operator-inventory-echo-server", NS)
    })
    .await;
    eventually("module list shows Disabled", || {
        op.module_list()
            .is_some_and(|s| s["modules"]["echo-server"]["state"] == "Disabled")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_that_failed_is_retried() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&["--watch-files"]);
    op.wait_converged().await;
    // The client repeats a delete that got a 500 three times at once; the fourth 500 reaches
    // the module run.
    c.emu
        .controls()
        .fail_next(DELETE_ATTEMPTS, Some("delete"), Some("services"), 500);
    std::fs::remove_file(c.modules.join("020-echo-server/templates/service.yaml"))
        .expect("remove template");
    eventually("the failed prune is reported", || {
        op.logs().contains("module run failed")
    })
    .await;
    eventually("the Service is pruned by the retry", || {
        !c.exists("service", "echo-server", NS)
    })
    .await;
    assert!(c.exists("deployment", "echo-server", NS));
}

/// Faults hit only the operator's requests: while they are on, the test asks the operator
/// (debug socket) or makes no write of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_converges_through_500s_429s_conflicts_and_dropped_watches() {
    let c = Cluster::start("modules").await;
    let controls = c.emu.controls();
    let all_ready = |op: &common::OperatorProcess| {
        op.module_list().is_some_and(|s| {
            ["ingress-nginx", "echo-server"]
                .iter()
                .all(|m| s["modules"][m]["state"] == "Ready")
        })
    };
    controls.fail_percent(5, None, None, 500);
    controls.close_watches_every(std::time::Duration::from_millis(700));
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    eventually("every module is Ready despite 5 % 500s", || all_ready(&op)).await;
    controls.fail_percent(0, None, None, 500);
    let after_500s = controls.injected();
    assert!(after_500s > 0, "500s were injected");

    controls.fail_next(2, Some("patch"), Some("deployments"), 429);
    c.set_config(&[("echoServer", "replicas: 3\n")]);
    eventually("an edit applies despite two 429s", || {
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref()
            == Some("3")
    })
    .await;
    let after_429s = controls.injected();
    assert!(after_429s > after_500s, "429s were injected");

    c.kubectl(&["delete", "configmap", "echo-server", "-n", NS]);
    // The repair comes after the drift debounce: its first write gets the 409.
    controls.conflict_next_write();
    eventually(
        "drift is repaired despite a conflict and dropped watches",
        || c.exists("configmap", "echo-server", NS),
    )
    .await;
    controls.clear_faults();
    eventually("every module is Ready", || all_ready(&op)).await;
    assert_eq!(managed_objects(&c).len(), RENDERED);
}
