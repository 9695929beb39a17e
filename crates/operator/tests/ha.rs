//! Issue 8 §2 end to end: never two writers. Each `--ha` replica reaches the emulator through
//! its own logging proxy, so every request is attributed to the replica that sent it.

mod common;

use std::sync::Arc;

use common::proxy::{Entry, Proxy, RequestLog};
use common::{Cluster, NS, OperatorProcess, eventually};

fn ha_replica(c: &Cluster, proxy: &Proxy, name: &str) -> OperatorProcess {
    c.operator_at(
        &proxy.kubeconfig,
        &["--ha", "--lease-duration", "2", "--pod-name", name],
        &[],
    )
}

fn lease_holder(c: &Cluster) -> String {
    c.kubectl(&[
        "get",
        "lease",
        "addon-operator-leader-election",
        "-n",
        NS,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ])
}

/// One run of the scenario: A is paused mid-converge, B takes over, A is resumed.
async fn paused_leader_resumes_after_a_takeover(round: usize) {
    let c = Cluster::start("modules").await;
    let log = Arc::new(RequestLog::default());
    let proxy_a = Proxy::start(&c, "a", log.clone(), Some(1)).await;
    let proxy_b = Proxy::start(&c, "b", log.clone(), None).await;
    let mut a = ha_replica(&c, &proxy_a, "replica-a");
    eventually(
        "replica a is mid-converge, a write held at its proxy",
        || proxy_a.held() > 0,
    )
    .await;
    let mut b = ha_replica(&c, &proxy_b, "replica-b");
    eventually("replica b watches the lease", || {
        log.of("b").iter().any(Entry::is_lease)
    })
    .await;
    a.signal("STOP");
    // What A had sent before the pause reaches the API server, as bytes in a socket would.
    proxy_a.open();
    eventually("replica b takes the lease", || {
        log.of("b").iter().any(Entry::is_write)
    })
    .await;
    let takeover = log
        .of("b")
        .into_iter()
        .find(Entry::is_write)
        .expect("b's first write")
        .seq;
    b.wait_converged().await;
    a.signal("CONT");
    let status = a.wait_exit("the resumed replica notices it lost the lease and exits");
    assert!(!status.success(), "round {round}: {}", a.logs());
    let late: Vec<Entry> = log
        .of("a")
        .into_iter()
        .filter(|e| e.seq > takeover && e.is_write())
        .collect();
    assert!(
        late.is_empty(),
        "round {round}: the old leader wrote after the new leader's first write: {late:#?}\n{}",
        a.logs()
    );
    assert!(
        a.logs().contains("write refused"),
        "round {round}: the resumed leader still had writes to make; the fence refused them:\n{}",
        a.logs()
    );
    assert_eq!(lease_holder(&c), "replica-b", "round {round}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_resumed_after_a_takeover_makes_no_write() {
    for round in 1..=3 {
        paused_leader_resumes_after_a_takeover(round).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ha_replicas_never_both_converge_and_the_standby_takes_over() {
    let c = Cluster::start("modules").await;
    let log = Arc::new(RequestLog::default());
    let proxy_a = Proxy::start(&c, "a", log.clone(), None).await;
    let proxy_b = Proxy::start(&c, "b", log.clone(), None).await;
    let mut a = ha_replica(&c, &proxy_a, "replica-a");
    a.wait_converged().await;
    let mut b = ha_replica(&c, &proxy_b, "replica-b");
    eventually("the standby answers", || b.module_list().is_some()).await;
    c.set_config(&[("echoServer", "replicas: 4\n")]);
    eventually("the leader applies the edit", || {
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref()
            == Some("4")
    })
    .await;
    // Longer than a lease duration of the standby's polling (every 2/3.5 s).
    eventually("the standby polled the lease eight times", || {
        log.of("b").iter().filter(|e| e.is_lease()).count() >= 8
    })
    .await;
    let standby_writes: Vec<Entry> = log.of("b").into_iter().filter(Entry::is_write).collect();
    assert!(
        standby_writes.is_empty(),
        "the standby wrote while the leader held the lease: {standby_writes:#?}"
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
    assert_eq!(lease_holder(&c), "replica-b");
}
