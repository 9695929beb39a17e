//! Issue 8 §3 end to end: after an API outage the operator recovers without help. Its watches
//! back off (a bounded number of log lines), and once the API is back drift is repaired and hook
//! bindings fire again, although every watch resumes into `410 Gone`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{Cluster, NS};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};

/// A global hook recording the name of every ConfigMap labelled `recovery: probe` (named
/// `probe-<n>`) it gets an event for, one per line. Plain bash: the event contexts are all it
/// gets (`executeHookOnSynchronization: false`).
fn write_probe_hook(c: &Cluster) -> std::path::PathBuf {
    let out = c.dir.path().join("probe-events");
    let config = r#"{"configVersion": "v1", "kubernetes": [{"name": "probe", "kind": "ConfigMap", "labelSelector": {"matchLabels": {"recovery": "probe"}}, "executeHookOnSynchronization": false}]}"#;
    let script = format!(
        "#!/usr/bin/env bash\nset -euo pipefail\nif [[ \"${{1:-}}\" == \"--config\" ]]; then\n  echo '{config}'\n  exit 0\nfi\ngrep -o 'probe-[0-9]*' \"$BINDING_CONTEXT_PATH\" | sort -u >> {}\n",
        out.display()
    );
    let path = c.global_hooks.join("probe.sh");
    std::fs::write(&path, script).expect("write hook");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    out
}

async fn create_configmap(api: &Api<ConfigMap>, name: &str, labels: &[(&str, &str)]) {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    api.create(&PostParams::default(), &cm)
        .await
        .unwrap_or_else(|e| panic!("creating ConfigMap {name}: {e}"));
}

/// Polls `check` every 100 ms for up to `secs` seconds.
async fn wait_until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_api_outage_drift_is_repaired_and_hook_bindings_fire_again() {
    // A short watch history: the writes made during the outage push every watch's resume point
    // out of it, so each watch resumes into 410 Gone, as after a long outage.
    let c = Cluster::start_with(
        "modules",
        kube_emulator::Config {
            watch_history: 20,
            ..kube_emulator::Config::default()
        },
    )
    .await;
    let probe = write_probe_hook(&c);
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    assert!(c.exists("configmap", "echo-server", NS), "converged");

    let client = kube::Client::try_from(kube::Config::new(
        c.emu.url().parse().expect("emulator URL"),
    ))
    .expect("kube client");
    let api: Api<ConfigMap> = Api::namespaced(client, NS);
    let controls = c.emu.controls();
    // The outage: no watch and no list succeeds; open watches are cut.
    controls.fail_next(u32::MAX, Some("watch"), None, 500);
    controls.fail_next(u32::MAX, Some("list"), None, 500);
    controls.close_watches();
    let outage = Instant::now();
    // Meanwhile a managed object drifts, the probe hook's object appears, and the history
    // moves on.
    api.delete("echo-server", &DeleteParams::default())
        .await
        .expect("delete the managed ConfigMap");
    create_configmap(&api, "probe-1", &[("recovery", "probe")]).await;
    for i in 0..30 {
        create_configmap(&api, &format!("noise-{i}"), &[]).await;
    }
    // The outage lasts until the operator's watches failed often enough for their backoff to
    // reach its cap.
    wait_until("the watches retried during the outage", 60, || {
        controls.injected() >= 60
    })
    .await;
    let outage = outage.elapsed();
    controls.clear_faults();

    wait_until("the deleted managed ConfigMap is repaired", 60, || {
        c.exists("configmap", "echo-server", NS)
    })
    .await;
    wait_until("the probe hook got the event of probe-1", 60, || {
        std::fs::read_to_string(&probe).is_ok_and(|s| s.lines().any(|l| l == "probe-1"))
    })
    .await;
    // And a change after the outage reaches the hook as usual.
    create_configmap(&api, "probe-2", &[("recovery", "probe")]).await;
    wait_until("the probe hook got the event of probe-2", 60, || {
        std::fs::read_to_string(&probe).is_ok_and(|s| s.lines().any(|l| l == "probe-2"))
    })
    .await;

    let logs = op.logs();
    assert!(
        logs.contains("relisting at once"),
        "the watches resumed into 410 Gone and relisted at once:\n{logs}"
    );
    // Each watch logs its first failure and then at most one line per 30 s, with a count.
    let mut per_watch: std::collections::BTreeMap<&str, u64> = Default::default();
    for line in logs.lines().filter(|l| l.contains("watch failed")) {
        let watch = line
            .split_once("watch=")
            .and_then(|(_, rest)| rest.split_once(" error="))
            .map_or(line, |(watch, _)| watch);
        *per_watch.entry(watch).or_default() += 1;
    }
    let allowed = 1 + outage.as_secs() / 30;
    assert!(
        per_watch.len() >= 2,
        "the watches failed during the outage:\n{logs}"
    );
    assert!(
        per_watch.values().all(|n| *n <= allowed),
        "more than {allowed} failure lines for a watch in a {outage:?} outage: {per_watch:#?}"
    );
}
