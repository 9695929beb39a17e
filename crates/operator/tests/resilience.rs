//! Issue 5 end to end: a SIGKILL mid-apply leaves no orphan and causes no wrongful delete, and
//! two `--ha` replicas never both converge.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Cluster, NS, eventually};

/// `kind/namespace/name` of every object carrying the operator's managed-by label.
fn managed_objects(c: &Cluster) -> BTreeSet<String> {
    let out = c.kubectl(&[
        "get",
        "configmaps,services,deployments,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,ingressclasses",
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
            let bytes = base64_decode(value.as_str().unwrap_or_default());
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

fn base64_decode(s: &str) -> Vec<u8> {
    let out = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(s.as_bytes())?;
            child.wait_with_output()
        })
        .expect("base64 runs");
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_apply_then_restart_leaves_no_orphan_and_deletes_nothing_wrongly() {
    let c = Cluster::start("modules").await;
    // Slow every request down so the kill lands in the middle of the first apply.
    c.emu.controls().set_latency(Duration::from_millis(60));
    let mut first = c.operator(&[]);
    eventually("the first objects are written", || {
        c.emu.controls().writes() >= 4
    })
    .await;
    first.kill();
    let partial = managed_objects(&c);
    assert!(
        partial.len() < 12,
        "the kill should land mid-apply, found {partial:?}"
    );
    c.emu.controls().set_latency(Duration::ZERO);
    let mut second = c.operator(&[]);
    second.wait_converged().await;
    let managed = managed_objects(&c);
    let inventoried = inventoried_objects(&c);
    assert_eq!(
        managed.len(),
        12,
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
async fn two_ha_replicas_never_both_converge_and_the_standby_takes_over() {
    let c = Cluster::start("modules").await;
    let ha = ["--ha", "--lease-duration", "2"];
    let mut a = c.operator(&[&ha[..], &["--pod-name", "replica-a"]].concat());
    a.wait_converged().await;
    let mut b = c.operator(&[&ha[..], &["--pod-name", "replica-b"]].concat());
    eventually("the standby answers", || b.module_list().is_some()).await;
    c.set_config(&[("echoServer", "replicas: 4\n")]);
    eventually("the leader applies the edit", || {
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref()
            == Some("4")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !b.logs().contains("module converged"),
        "the standby converged while the leader held the lease:\n{}",
        b.logs()
    );
    assert_eq!(b.module_list().expect("standby status")["leader"], false);
    a.kill();
    eventually("the standby takes over", || {
        b.logs().contains("leading: this replica converges")
    })
    .await;
    b.wait_converged().await;
    c.set_config(&[("echoServer", "replicas: 5\n")]);
    eventually("the new leader applies edits", || {
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref()
            == Some("5")
    })
    .await;
    let lease = c.kubectl(&[
        "get",
        "lease",
        "addon-operator-leader-election",
        "-n",
        NS,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_eq!(lease, "replica-b");
}
