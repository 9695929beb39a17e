//! Issue 12 §3: `/metrics` after an end-to-end run (a module converged, hooks writing
//! metrics, failing hooks, a drift repair) is valid Prometheus text for `promtool check
//! metrics`, with no lint warning but those docs/metrics.md lists as forced by addon-operator
//! compatibility; and a hook's max RSS is its own, far below the operator's.

mod common;

use std::process::{Command, Stdio};

use common::{
    Cluster, NS, OperatorProcess, eventually, output_with_input_within, output_within, repo_root,
    write_hook,
};

/// Fails with an install hint when promtool is missing.
fn require_promtool() {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "promtool is not on PATH: install Debian's prometheus package (`apt-get install --no-install-recommends prometheus`; scripts/test.sh does)"
    );
}

/// `promtool check metrics` of `text`: its exit status success and its output.
fn promtool_check_metrics(text: &str) -> (bool, String) {
    let out = output_with_input_within(
        Command::new("promtool").args(["check", "metrics"]),
        text.as_bytes(),
        common::CHILD_TIMEOUT,
    );
    (out.status.success(), output_text(&out))
}

/// stdout then stderr of a finished command.
fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The metric names docs/metrics.md allows promtool lint warnings for.
fn allowed_lints() -> Vec<String> {
    let doc =
        std::fs::read_to_string(repo_root().join("docs/metrics.md")).expect("docs/metrics.md");
    let section = doc
        .split("## promtool")
        .nth(1)
        .expect("docs/metrics.md has a promtool section");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

/// The value of the first series of `/metrics` whose line starts with `prefix`.
fn value(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The operator process's peak resident memory (VmHWM), in bytes.
fn operator_peak_rss(op: &OperatorProcess) -> u64 {
    let pid = op.child.as_ref().expect("the operator runs").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

/// A module with a ConfigMap, and global hooks: one that does nothing, one that writes
/// metrics, one failing with `allowFailure`, one failing and retried.
fn setup(c: &Cluster) {
    c.write_modules(&[(
        "010-app",
        &[(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: b\n",
        )],
    )]);
    let hooks = &c.global_hooks;
    write_hook(
        &hooks.join("trivial.sh"),
        r#"{"configVersion":"v1","onStartup":1}"#,
        "exit 0",
    );
    write_hook(
        &hooks.join("reporter.sh"),
        r#"{"configVersion":"v1","onStartup":2}"#,
        r#"cat >> "$METRICS_PATH" <<'METRICS'
{"name":"app_widgets","action":"set","value":3,"labels":{"kind":"round"}}
{"name":"app_runs_total","action":"add","value":1}
{"name":"app_latency_seconds","action":"observe","value":0.2,"buckets":[0.1,1]}
METRICS"#,
    );
    write_hook(
        &hooks.join("flaky.sh"),
        r#"{"configVersion":"v1","schedule":[{"name":"every-second","crontab":"* * * * * *","allowFailure":true}]}"#,
        "echo 'not today' >&2; exit 1",
    );
    write_hook(
        &hooks.join("broken.sh"),
        r#"{"configVersion":"v1","schedule":[{"name":"tick","crontab":"* * * * * *","queue":"broken"}]}"#,
        "echo 'always broken' >&2; exit 2",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_an_end_to_end_run_pass_promtool_check_metrics() {
    require_promtool();
    let c = Cluster::start("modules").await;
    setup(&c);
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    c.kubectl(&["delete", "configmap", "app", "-n", NS]);
    eventually("the drift is repaired", || c.exists("configmap", "app", NS)).await;
    let p = "addon_operator_";
    eventually("every kind of series is there", || {
        let m = op.metrics();
        [
            format!("{p}module_drift_repairs_total{{module=\"app\"}}"),
            format!("{p}global_hook_allowed_errors_total{{"),
            format!("{p}global_hook_errors_total{{"),
            format!("{p}global_hook_run_max_rss_bytes{{"),
            format!("{p}task_wait_in_queue_seconds_total{{"),
            "app_latency_seconds_bucket{".into(),
            format!("{p}live_ticks"),
        ]
        .iter()
        .all(|s| value(&m, s).is_some_and(|v| v >= 0.0))
    })
    .await;
    let metrics = op.metrics();
    assert!(
        value(
            &metrics,
            &format!("{p}module_drift_repairs_total{{module=\"app\"}}")
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    for help in [
        format!("# HELP {p}global_hook_run_seconds Wall time"),
        "# HELP app_widgets Written by a hook to $METRICS_PATH.".to_string(),
        format!("# HELP {p}module_run_seconds Duration of module runs"),
    ] {
        assert!(metrics.contains(&help), "{help} in\n{metrics}");
    }
    let (ok, report) = promtool_check_metrics(&metrics);
    let allowed = allowed_lints();
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !allowed.iter().any(|a| l.starts_with(&format!("{a} "))))
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool check metrics (exit ok: {ok}) reports:\n{}\n--- /metrics\n{metrics}",
        unexpected.join("\n")
    );
    assert!(
        report.contains("addon_operator_live_ticks"),
        "the documented lint still applies (else remove it from docs/metrics.md):\n{report}"
    );
    assert_eq!(op.terminate(), Some(0), "{}", op.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trivial_hook_reports_its_own_max_rss_far_below_the_operators() {
    let c = Cluster::start("modules").await;
    setup(&c);
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    let series =
        "addon_operator_global_hook_run_max_rss_bytes{binding=\"onStartup\",hook=\"trivial.sh\"";
    let mut hook_rss = 0.0;
    eventually("the trivial hook's max RSS is recorded", || {
        hook_rss = value(&op.metrics(), series).unwrap_or(0.0);
        hook_rss > 0.0
    })
    .await;
    let operator_rss = operator_peak_rss(&op) as f64;
    assert!(
        hook_rss * 4.0 < operator_rss,
        "a trivial bash hook reports {hook_rss} bytes, the operator holds {operator_rss}: the hook's figure must be its own"
    );
    assert_eq!(op.terminate(), Some(0), "{}", op.logs());
}

/// The shipped alert rules parse (`promtool check rules`), pass their unit tests (`promtool
/// test rules`), and name only metrics docs/metrics.md documents.
#[test]
fn the_alert_rules_pass_promtool_and_name_only_documented_metrics() {
    require_promtool();
    let dir = repo_root().join("deploy/prometheus");
    for args in [
        ["check", "rules", "alerts.yaml"],
        ["test", "rules", "alerts_test.yaml"],
    ] {
        let out = output_within(
            Command::new("promtool").args(args).current_dir(&dir),
            common::CHILD_TIMEOUT,
        );
        assert!(
            out.status.success(),
            "promtool {}: {}",
            args.join(" "),
            output_text(&out)
        );
    }
    let rules = std::fs::read_to_string(dir.join("alerts.yaml")).expect("alerts.yaml");
    let doc =
        std::fs::read_to_string(repo_root().join("docs/metrics.md")).expect("docs/metrics.md");
    let named: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("addon_operator_"))
        .collect();
    assert!(named.len() >= 10, "the rules name the metrics: {named:?}");
    let undocumented: Vec<&&str> = named
        .iter()
        .filter(|m| !doc.contains(&format!("`{m}`")) && !doc.contains(&format!("`{m}{{")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "alerts.yaml names metrics docs/metrics.md does not list: {undocumented:?}"
    );
}
