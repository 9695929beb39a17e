//! Self-update end to end (issue 10 §5): a real registry (`docker-registry`), the emulator,
//! the `addon-operator` binary with the shipped `self-update` hook, and kubectl. Each test
//! moves tags with `oci-client` and watches the operator's own Deployment.
//!
//! Nothing here waits on a clock: "nothing changed" is asserted after the operator reported
//! more successful (or failed) registry checks, read from its `/metrics`.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, NS, OperatorProcess};
use selfupdate::testing::{Pusher, TestAuth, TestRegistry};
use selfupdate::{
    ANNOTATION_APPROVED, ANNOTATION_AVAILABLE, ANNOTATION_CHANNEL, ANNOTATION_DIGEST,
    ANNOTATION_FIRST_SEEN, ANNOTATION_TIME, Credentials,
};

const WAIT: Duration = Duration::from_secs(30);

/// A cluster whose operator Deployment runs an image of the test registry.
struct Rig {
    registry: TestRegistry,
    pusher: Pusher,
    repo: String,
    cluster: Cluster,
}

impl Rig {
    async fn start(auth: TestAuth) -> Rig {
        let registry = TestRegistry::start_with(auth.clone());
        let credentials = match auth {
            TestAuth::Basic { username, password } => Credentials::Basic { username, password },
            _ => Credentials::Anonymous,
        };
        let repo = registry.repository("addon-operator");
        let cluster = Cluster::start("examples/basic").await;
        common::copy_dir(
            &common::repo_root().join("global-hooks"),
            &cluster.global_hooks,
        );
        Rig {
            pusher: Pusher::new(&credentials),
            registry,
            repo,
            cluster,
        }
    }

    /// Creates the operator's Deployment running `repo@digest`.
    fn deploy(&self, digest: &str) {
        let manifest = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "addon-operator", "namespace": NS},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "addon-operator"}},
                "template": {
                    "metadata": {"labels": {"app": "addon-operator"}},
                    "spec": {"containers": [
                        {"name": "sidecar", "image": "busybox:1"},
                        {"name": "addon-operator", "image": format!("{}@{digest}", self.repo)},
                    ]},
                },
            },
        });
        let file = self.cluster.dir.path().join("deployment.json");
        std::fs::write(&file, manifest.to_string()).expect("write deployment");
        self.cluster
            .kubectl(&["apply", "-f", file.to_str().expect("utf-8")]);
    }

    /// Writes `global.update` (YAML lines below `update:`) into the ConfigMap.
    fn configure(&self, update: &str) {
        let global = format!(
            "update:\n  repository: {}\n  insecure: true\n  interval: 1s\n{update}",
            self.repo
        );
        self.cluster.set_config(&[("global", &global)]);
    }

    async fn operator(&self) -> OperatorProcess {
        let mut op = self.cluster.operator(&[]);
        op.wait_converged().await;
        op
    }

    fn image(&self) -> String {
        self.cluster
            .jsonpath(
                "deployment",
                "addon-operator",
                "{.spec.template.spec.containers[1].image}",
            )
            .unwrap_or_default()
    }

    fn annotation(&self, key: &str) -> Option<String> {
        let escaped = key.replace('.', "\\.");
        self.cluster
            .jsonpath(
                "deployment",
                "addon-operator",
                &format!("{{.metadata.annotations.{escaped}}}"),
            )
            .filter(|v| !v.is_empty())
    }

    fn resource_version(&self) -> String {
        self.cluster
            .jsonpath(
                "deployment",
                "addon-operator",
                "{.metadata.resourceVersion}",
            )
            .unwrap_or_default()
    }

    fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repo)
    }

    /// Pushes an image labelled `version` under `tag` (or by digest only).
    async fn push(&self, tag: Option<&str>, version: &str) -> String {
        self.pusher.push_image(&self.repo, tag, Some(version)).await
    }

    /// `stable` at 1.0.0, the Deployment running it, `global.update` set, the operator
    /// converged; returns the operator and the running digest.
    async fn running(&self, update: &str) -> (OperatorProcess, String) {
        let first = self.push(Some("stable"), "1.0.0").await;
        self.deploy(&first);
        self.configure(update);
        (self.operator().await, first)
    }

    /// Waits until the Deployment runs `digest`.
    async fn until_runs(&self, op: &OperatorProcess, digest: &str, what: &str) {
        let pinned = self.pinned(digest);
        until(op, what, || self.image() == pinned).await;
    }
}

/// A sample of the operator's `/metrics`: the value of the line starting with `series`.
fn metric(op: &OperatorProcess, series: &str) -> f64 {
    op.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn checks(op: &OperatorProcess, result: &str) -> f64 {
    metric(
        op,
        &format!("addon_operator_update_checks_total{{hook=\"self-update\",result=\"{result}\"}}"),
    )
}

/// Waits until `check` holds (30 s), with the operator's log on timeout.
async fn until(op: &OperatorProcess, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}; operator log:\n{}",
            op.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the operator reported `more` further checks with `result`.
async fn more_checks(op: &OperatorProcess, result: &str, more: f64) {
    let start = checks(op, result);
    until(
        op,
        &format!("{more} more checks with result {result}"),
        || checks(op, result) >= start + more,
    )
    .await;
}

fn update_status(op: &OperatorProcess) -> serde_json::Value {
    let out = op.client(&["update", "status", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stable_tag_move_rolls_the_deployment_and_the_new_operator_stays_on_it() {
    let rig = Rig::start(TestAuth::Open).await;
    let (mut op, first) = rig.running("").await;
    more_checks(&op, "ok", 1.0).await;
    assert_eq!(rig.image(), rig.pinned(&first));
    assert_eq!(
        metric(&op, "addon_operator_update_available{hook=\"self-update\"}"),
        0.0
    );

    let second = rig.push(None, "1.1.0").await;
    rig.pusher.tag(&rig.repo, &second, "stable").await;
    rig.until_runs(&op, &second, "the Deployment runs the new digest")
        .await;
    assert_eq!(
        rig.annotation(ANNOTATION_CHANNEL).as_deref(),
        Some("stable")
    );
    assert_eq!(rig.annotation(ANNOTATION_DIGEST), Some(second.clone()));
    assert!(rig.annotation(ANNOTATION_TIME).is_some());
    let sidecar = rig.cluster.jsonpath(
        "deployment",
        "addon-operator",
        "{.spec.template.spec.containers[0].image}",
    );
    assert_eq!(
        sidecar.as_deref(),
        Some("busybox:1"),
        "only the operator container moves"
    );
    let info = format!(
        "addon_operator_update_info{{available_digest=\"{second}\",channel=\"stable\",current_digest=\"{second}\",hook=\"self-update\"}}"
    );
    until(&op, "the metrics report the new digest current", || {
        metric(&op, &info) == 1.0
    })
    .await;

    // The operator started with the new image reports it current and does nothing more.
    op.kill();
    let version = rig.resource_version();
    let op = rig.operator().await;
    more_checks(&op, "ok", 3.0).await;
    assert_eq!(
        rig.resource_version(),
        version,
        "no update loop:\n{}",
        op.logs()
    );
    assert_eq!(update_status(&op)["state"], "up to date");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_of_alpha_changes_nothing_until_the_channel_is_switched_to_alpha() {
    let rig = Rig::start(TestAuth::Open).await;
    let (op, stable) = rig.running("").await;
    let alpha = rig.push(Some("alpha"), "1.1.0").await;
    more_checks(&op, "ok", 3.0).await;
    assert_eq!(rig.image(), rig.pinned(&stable));

    rig.configure("  channel: alpha\n");
    rig.until_runs(&op, &alpha, "the Deployment follows alpha")
        .await;
    assert_eq!(rig.annotation(ANNOTATION_CHANNEL).as_deref(), Some("alpha"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_arch_index_is_followed_by_its_index_digest() {
    let rig = Rig::start(TestAuth::Open).await;
    let (op, _) = rig.running("").await;
    let index = rig
        .pusher
        .push_index(&rig.repo, "stable", Some("1.1.0"))
        .await;
    rig.until_runs(&op, &index, "the Deployment runs the index")
        .await;
    until(&op, "the status shows the index version", || {
        update_status(&op)["currentVersion"] == "1.1.0"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_to_a_more_stable_channel_holding_an_older_version_waits_for_it() {
    let rig = Rig::start(TestAuth::Open).await;
    let stable = rig.push(Some("stable"), "1.2.0").await;
    let alpha = rig.push(Some("alpha"), "1.3.0").await;
    rig.deploy(&stable);
    rig.configure("  channel: alpha\n");
    let op = rig.operator().await;
    rig.until_runs(&op, &alpha, "the Deployment follows alpha")
        .await;

    rig.configure("  channel: stable\n");
    until(&op, "the status says what it waits for", || {
        update_status(&op)["state"] == "waiting for stable to reach 1.3.0"
    })
    .await;
    more_checks(&op, "ok", 2.0).await;
    assert_eq!(rig.image(), rig.pinned(&alpha), "never downgraded");
    assert_eq!(
        metric(&op, "addon_operator_update_available{hook=\"self-update\"}"),
        0.0
    );

    let newer = rig.push(Some("stable"), "1.3.1").await;
    rig.until_runs(&op, &newer, "stable is followed once it passes 1.3.0")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_mode_records_the_digest_and_waits_for_approval() {
    let rig = Rig::start(TestAuth::Open).await;
    let (op, first) = rig.running("  mode: Manual\n").await;
    let second = rig.push(Some("stable"), "1.1.0").await;
    until(&op, "the available digest is recorded", || {
        rig.annotation(ANNOTATION_AVAILABLE) == Some(second.clone())
    })
    .await;
    until(&op, "the metric says an update is available", || {
        metric(&op, "addon_operator_update_available{hook=\"self-update\"}") == 1.0
    })
    .await;
    more_checks(&op, "ok", 2.0).await;
    assert_eq!(
        rig.image(),
        rig.pinned(&first),
        "not applied without approval"
    );

    rig.cluster.kubectl(&[
        "annotate",
        "deployment",
        "addon-operator",
        "-n",
        NS,
        &format!("{ANNOTATION_APPROVED}={second}"),
    ]);
    rig.until_runs(&op, &second, "the approved digest is applied")
        .await;
    assert_eq!(rig.annotation(ANNOTATION_AVAILABLE), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_in_the_past_blocks_the_update() {
    let rig = Rig::start(TestAuth::Open).await;
    // Today's window ended two hours ago (it may wrap past midnight; it never holds now).
    let now = chrono::Utc::now();
    let hhmm = |hours: i64| {
        (now - chrono::Duration::hours(hours))
            .format("%H:%M")
            .to_string()
    };
    let window = format!(
        "  windows:\n  - from: \"{}\"\n    to: \"{}\"\n",
        hhmm(3),
        hhmm(2)
    );
    let (op, first) = rig.running(&window).await;
    let second = rig.push(Some("stable"), "1.1.0").await;
    until(&op, "the update waits for the window", || {
        update_status(&op)["state"]
            .as_str()
            .is_some_and(|s| s.starts_with("waiting for an update window"))
    })
    .await;
    more_checks(&op, "ok", 2.0).await;
    assert_eq!(rig.image(), rig.pinned(&first));
    assert_eq!(rig.annotation(ANNOTATION_AVAILABLE), Some(second.clone()));

    rig.configure("");
    rig.until_runs(&op, &second, "without windows it applies")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_wave_waits_its_delay_from_the_first_sighting() {
    let rig = Rig::start(TestAuth::Open).await;
    let uid = rig.cluster.kubectl(&[
        "get",
        "namespace",
        "kube-system",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let (waves, wave) = (2..100)
        .map(|n| (n, selfupdate::wave_of(&uid, n)))
        .find(|(_, w)| *w >= 1)
        .expect("some wave count puts this cluster after wave 0");
    let (op, _) = rig
        .running(&format!("  waves: {waves}\n  waveDelay: 2s\n"))
        .await;
    until(&op, "the cluster UUID is discovered", || {
        update_status(&op)["wave"] == format!("{wave}/{waves}")
    })
    .await;
    let second = rig.push(Some("stable"), "1.1.0").await;
    until(&op, "the first sighting is recorded", || {
        rig.annotation(ANNOTATION_FIRST_SEEN).is_some()
    })
    .await;
    let first_seen = rig.annotation(ANNOTATION_FIRST_SEEN).expect("first seen");
    rig.until_runs(&op, &second, "the wave applies").await;
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).expect("RFC 3339");
    let applied = parse(&rig.annotation(ANNOTATION_TIME).expect("update time"));
    let earliest = parse(&first_seen) + chrono::Duration::seconds(2 * i64::from(wave));
    assert!(
        applied >= earliest,
        "wave {wave} applied at {applied}, before {earliest}"
    );
}

/// The failure cases share one shape: the channel has an update, the registry fails in one
/// way, the Deployment stays untouched while failures are reported, then the cause goes away
/// and the update is applied.
async fn assert_untouched_while_failing(
    rig: &Rig,
    op: &OperatorProcess,
    result: &str,
    current: &str,
) {
    let version = rig.resource_version();
    more_checks(op, result, 2.0).await;
    assert_eq!(rig.image(), rig.pinned(current));
    assert_eq!(rig.resource_version(), version, "nothing patched");
    let status = update_status(op);
    let error = status["lastError"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("{}:", rig.repo)), "{status}");
    assert!(
        op.logs()
            .contains(&format!("self-update: check of {}:", rig.repo)),
        "a log line names repository and tag:\n{}",
        op.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_is_down_leaves_the_deployment_alone_until_it_is_back() {
    let mut rig = Rig::start(TestAuth::Open).await;
    let (op, first) = rig.running("").await;
    more_checks(&op, "ok", 1.0).await;
    rig.registry.stop();
    assert_untouched_while_failing(&rig, &op, "unreachable", &first).await;
    assert!(
        update_status(&op)["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("registry unreachable"))
    );
    rig.registry.restart();
    let second = rig.push(Some("stable"), "1.1.0").await;
    rig.until_runs(&op, &second, "the update applies once the registry is back")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_leaves_the_deployment_alone_until_the_credentials_work() {
    let rig = Rig::start(TestAuth::Basic {
        username: "ci".into(),
        password: "s3cret".into(),
    })
    .await;
    let first = rig.push(Some("stable"), "1.0.0").await;
    let second = rig.push(Some("stable"), "1.1.0").await;
    rig.deploy(&first);
    let secret = |password: &str| {
        let auth = base64_encode(&format!("ci:{password}"));
        let config = format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            rig.registry.host()
        );
        rig.cluster.kubectl(&[
            "create",
            "secret",
            "generic",
            "pull",
            "-n",
            NS,
            "--type",
            "kubernetes.io/dockerconfigjson",
            &format!("--from-literal=.dockerconfigjson={config}"),
            "--dry-run=client",
            "-o",
            "json",
        ])
    };
    let apply = |manifest: String| {
        let file = rig.cluster.dir.path().join("secret.json");
        std::fs::write(&file, manifest).expect("write secret");
        rig.cluster
            .kubectl(&["apply", "-f", file.to_str().expect("utf-8")]);
    };
    apply(secret("wrong"));
    rig.configure("  credentialsSecret: pull\n");
    let op = rig.operator().await;
    assert_untouched_while_failing(&rig, &op, "unauthorized", &first).await;
    apply(secret("s3cret"));
    rig.until_runs(&op, &second, "the update applies with working credentials")
        .await;
    assert!(
        !op.logs().contains("s3cret"),
        "credentials never reach the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tag_leaves_the_deployment_alone_until_it_exists() {
    let rig = Rig::start(TestAuth::Open).await;
    let (op, first) = rig.running("  channel: rock-solid\n").await;
    assert_untouched_while_failing(&rig, &op, "not_found", &first).await;
    let solid = rig.push(Some("rock-solid"), "1.0.1").await;
    rig.until_runs(&op, &solid, "the tag is followed once it exists")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_manifest_leaves_the_deployment_alone_until_it_is_repaired() {
    let rig = Rig::start(TestAuth::Open).await;
    let first = rig.push(Some("stable"), "1.0.0").await;
    let second = rig.push(Some("next"), "1.1.0").await;
    // Serve the first manifest's bytes under the second digest, then move `stable` to it.
    let blob = rig.registry.blob_path(&second);
    let original = std::fs::read(&blob).expect("manifest blob");
    std::fs::copy(rig.registry.blob_path(&first), &blob).expect("corrupt the manifest");
    rig.registry.set_tag("addon-operator", "stable", &second);
    rig.deploy(&first);
    rig.configure("");
    let op = rig.operator().await;
    assert_untouched_while_failing(&rig, &op, "digest_mismatch", &first).await;
    std::fs::write(&blob, original).expect("repair the manifest");
    until(
        &op,
        "the update applies once the manifest is intact",
        || rig.image() == rig.pinned(&second),
    )
    .await;
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
