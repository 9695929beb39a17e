//! Issue 5 end to end: the `addon-operator run` binary against the kube-emulator, checked with
//! kubectl. Each test gets its own emulator, module copy and operator process.

mod common;

use std::sync::Arc;

use common::proxy::{Proxy, RequestLog};
use common::{Cluster, NS, eventually};

const INGRESS: [(&str, &str); 7] = [
    ("serviceaccount", "ingress-nginx"),
    ("configmap", "ingress-nginx-controller"),
    ("role", "ingress-nginx"),
    ("rolebinding", "ingress-nginx"),
    ("deployment", "ingress-nginx-controller"),
    ("service", "ingress-nginx-controller"),
    ("secret", "addon-operator-inventory-ingress-nginx"),
];
const ECHO: [(&str, &str); 3] = [
    ("configmap", "echo-server"),
    ("deployment", "echo-server"),
    ("service", "echo-server"),
];

fn writes_except_configmap_edits(c: &Cluster) -> Vec<((String, String), u64)> {
    c.emu
        .controls()
        .counts()
        .into_iter()
        .filter(|((verb, _), n)| {
            *n > 0
                && matches!(
                    verb.as_str(),
                    "create" | "update" | "patch" | "delete" | "deletecollection"
                )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_converge_applies_every_shipped_object_with_ownership_labels() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    for (kind, name) in INGRESS.iter().chain(ECHO.iter()) {
        assert!(
            c.exists(kind, name, NS),
            "{kind}/{name} missing:\n{}",
            op.logs()
        );
    }
    for (kind, name) in [
        ("clusterrole", "ingress-nginx"),
        ("clusterrolebinding", "ingress-nginx"),
        ("ingressclass", "nginx"),
    ] {
        assert!(
            c.kubectl_raw(&["get", kind, name]).status.success(),
            "{kind}/{name} missing"
        );
    }
    let labels = c
        .jsonpath("deployment", "echo-server", "{.metadata.labels}")
        .expect("echo-server exists");
    assert!(
        labels.contains(r#""app.kubernetes.io/managed-by":"addon-operator""#),
        "{labels}"
    );
    assert!(
        labels.contains(r#""addon-operator.io/module":"echo-server""#),
        "{labels}"
    );
    let status = op.module_list().expect("module list answers");
    assert_eq!(status["modules"]["echo-server"]["state"], "Ready");
    assert_eq!(status["modules"]["ingress-nginx"]["objects"], 9);
    let metrics = op.metrics();
    for line in [
        "addon_operator_convergence_total 1",
        "addon_operator_mm_module_enabled{module=\"echo-server\"} 1",
        "addon_operator_module_objects_applied_total{module=\"ingress-nginx\"} 9",
        "addon_operator_module_run_seconds_count{module=\"echo-server\"} 1",
    ] {
        assert!(
            metrics.contains(line),
            "missing {line:?} in /metrics:\n{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_edit_changes_replicas_and_writes_nothing_else() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    // The shipped set: ingress-nginx, echo-server and prometheus.
    const SHIPPED: usize = 3;
    assert_eq!(runs(&op), SHIPPED, "{}", op.logs());
    c.set_config(&[("global", "clusterName: e2e\n")]);
    eventually("every module ran again for the global change", || {
        runs(&op) == 2 * SHIPPED
    })
    .await;
    c.emu.controls().reset_counts();
    edit_echo_replicas_and_settle(&c, &op).await;
    let writes = writes_except_configmap_edits(&c);
    let unexpected: Vec<_> = writes
        .iter()
        .filter(|((_, resource), _)| {
            !matches!(resource.as_str(), "deployments" | "secrets" | "configmaps")
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "only the Deployment (and the inventory) may be written: {writes:?}"
    );
    let count = |verb: &str, res: &str| c.emu.controls().count(verb, res);
    assert_eq!(
        count("patch", "deployments") + count("update", "deployments"),
        1,
        "{writes:?}"
    );
    // The test's own ConfigMap patches (the edit and the barrier) are the only ConfigMap writes.
    assert_eq!(
        count("patch", "configmaps")
            + count("update", "configmaps")
            + count("create", "configmaps"),
        2,
        "{writes:?}"
    );
    assert_eq!(
        runs(&op),
        2 * SHIPPED + 1,
        "only echo-server ran again:\n{}",
        op.logs()
    );
}

/// As addon-operator: an edit of one module's section runs that module alone (`ModuleRun`), with
/// no `enabled` scripts and no pass over the other modules; a `global` edit converges every
/// module, `enabled` scripts included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_section_edit_runs_no_enabled_script_and_a_global_edit_does() {
    let c = Cluster::start("modules").await;
    let calls = c.dir.path().join("enabled-script-calls");
    common::write_hook(
        &c.modules.join("010-ingress-nginx/enabled"),
        "",
        &format!(
            "echo called >> '{}'\necho true > \"$MODULE_ENABLED_RESULT\"",
            calls.display()
        ),
    );
    let called = || {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    let at_start = called();
    assert!(at_start >= 1, "the enabled script ran at startup");
    let converged = runs(&op);

    edit_echo_replicas_and_settle(&c, &op).await;
    assert_eq!(
        called(),
        at_start,
        "a module section edit ran an enabled script"
    );
    assert_eq!(
        runs(&op),
        converged + 1,
        "only echo-server ran:\n{}",
        op.logs()
    );

    c.set_config(&[
        ("echoServer", "replicas: 3\n"),
        ("global", "clusterName: e2e\n"),
    ]);
    eventually("the global edit re-ran the enabled script", || {
        called() > at_start
    })
    .await;
}

/// A converged operator with nothing to do must sleep. Without webhook bindings the
/// webhook registration loop's CA channel is closed, and a `select!` on it once spun a whole
/// core (and slowed every edit of a large module set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converged_operator_with_nothing_to_do_uses_no_cpu() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let before = op.cpu_seconds();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let used = op.cpu_seconds() - before;
    assert!(
        used < 0.3,
        "the idle operator used {used:.2} s of CPU in 3 s (a busy loop?):\n{}",
        op.logs()
    );
}

/// How many module runs the operator has finished.
fn runs(op: &common::OperatorProcess) -> usize {
    op.logs().matches("module converged").count()
}

/// Sets echo-server's replicas to 3 in the ConfigMap, waits for the Deployment to show it and
/// for the operator to have handled every event so far.
async fn edit_echo_replicas_and_settle(c: &Cluster, op: &common::OperatorProcess) {
    c.set_config(&[("echoServer", "replicas: 3\n")]);
    eventually("replicas becomes 3", || {
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref()
            == Some("3")
    })
    .await;
    processed_every_event_so_far(c, op).await;
}

/// A barrier: the operator handles events one at a time, in order, so once it has rejected an
/// invalid ConfigMap edit made now, it has handled every event queued before it. (The
/// reconciler's own writes cause no drift events, so nothing can arrive later because of
/// them.) Leaves the ConfigMap invalid.
async fn processed_every_event_so_far(c: &Cluster, op: &common::OperatorProcess) {
    let rejected = || op.logs().matches("ConfigMap change rejected").count();
    let before = rejected();
    c.set_config(&[("echoServer", "replicas: not-a-number\n")]);
    eventually("the barrier edit is rejected", || rejected() > before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_module_deletes_exactly_its_objects() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    c.set_config(&[("echoServerEnabled", "false")]);
    eventually("echo-server objects are gone", || {
        ECHO.iter().all(|(k, n)| !c.exists(k, n, NS))
    })
    .await;
    for (kind, name) in INGRESS {
        assert!(
            c.exists(kind, name, NS),
            "{kind}/{name} of another module was deleted"
        );
    }
    assert!(
        !c.exists("secret", "addon-operator-inventory-echo-server", NS),
        "the inventory goes with the module"
    );
    eventually("module list shows Disabled", || {
        op.module_list()
            .is_some_and(|s| s["modules"]["echo-server"]["state"] == "Disabled")
    })
    .await;
    c.set_config(&[("echoServerEnabled", "true")]);
    eventually("echo-server comes back", || {
        ECHO.iter().all(|(k, n)| c.exists(k, n, NS))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_template_prunes_only_its_objects() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&["--watch-files"]);
    op.wait_converged().await;
    std::fs::remove_file(c.modules.join("020-echo-server/templates/service.yaml"))
        .expect("remove template");
    eventually("the Service is pruned", || {
        !c.exists("service", "echo-server", NS)
    })
    .await;
    assert!(c.exists("deployment", "echo-server", NS));
    assert!(c.exists("configmap", "echo-server", NS));
    assert!(c.exists("service", "ingress-nginx-controller", NS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_of_a_managed_object_is_undone() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    c.kubectl(&["delete", "configmap", "echo-server", "-n", NS]);
    eventually("the ConfigMap is re-created", || {
        c.exists("configmap", "echo-server", NS)
    })
    .await;
    c.scale("echo-server", 7);
    eventually("replicas drift is repaired", || {
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref()
            == Some("1")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configmap_changes_nothing_and_a_later_valid_change_applies() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    c.emu.controls().reset_counts();
    c.set_config(&[("echoServer", "replicas: many\n")]);
    eventually("the rejection is visible in module list", || {
        op.module_list().is_some_and(|s| {
            s["configError"]
                .as_str()
                .is_some_and(|e| e.contains("echoServer: /replicas"))
        })
    })
    .await;
    let metrics = op.metrics();
    assert!(
        metrics.contains("addon_operator_config_values_errors_total 1"),
        "{metrics}"
    );
    let writes = writes_except_configmap_edits(&c);
    assert!(
        writes.iter().all(|((_, res), _)| res == "configmaps"),
        "an invalid ConfigMap must not cause writes: {writes:?}"
    );
    assert_eq!(
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref(),
        Some("1")
    );
    c.set_config(&[("echoServer", "replicas: 2\n")]);
    eventually("the valid change applies", || {
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref()
            == Some("2")
    })
    .await;
    eventually("the error clears", || {
        op.module_list().is_some_and(|s| s["configError"].is_null())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_module_does_not_block_the_others() {
    let c = Cluster::start("modules").await;
    let broken = c.modules.join("015-broken/templates");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(
        c.modules.join("015-broken/values.yaml"),
        "brokenEnabled: true\n",
    )
    .expect("values");
    // Renders fine, but the cluster does not serve the kind (its CRD is not installed).
    std::fs::write(
        broken.join("widget.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: broken\nspec: {}\n",
    )
    .expect("template");
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    assert!(
        c.exists("deployment", "echo-server", NS),
        "a later module still converged:\n{}",
        op.logs()
    );
    let status = op.module_list().expect("module list");
    assert_eq!(status["modules"]["broken"]["state"], "Failed", "{status}");
    assert!(
        status["modules"]["broken"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("broken")),
        "{status}"
    );
    eventually("the failure is retried", || {
        op.logs().matches("module run failed").count() >= 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_converge_finishes_the_running_module_and_starts_no_other() {
    let c = Cluster::start("modules").await;
    let proxy = Proxy::start(&c, "op", Arc::new(RequestLog::default()), Some(3)).await;
    let mut op = c.operator_at(&proxy.kubeconfig, &[], &[]);
    eventually("ingress-nginx is being applied (a write held)", || {
        proxy.held() > 0
    })
    .await;
    op.signal("TERM");
    eventually("the operator took the signal", || {
        op.logs().contains("signal received")
    })
    .await;
    proxy.open();
    let status = op.wait_exit("the operator exits after the running module");
    assert_eq!(status.code(), Some(0), "{}", op.logs());
    assert!(
        c.exists("deployment", "ingress-nginx-controller", NS),
        "the running apply finished:\n{}",
        op.logs()
    );
    assert!(
        !c.exists("deployment", "echo-server", NS),
        "no module started after SIGTERM:\n{}",
        op.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_and_exits_zero() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    assert_eq!(op.terminate(), Some(0), "{}", op.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_removed_from_disk_is_deleted_on_the_next_start() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    op.terminate();
    std::fs::remove_dir_all(c.modules.join("020-echo-server")).expect("remove module");
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    eventually("the removed module's objects are gone", || {
        ECHO.iter().all(|(k, n)| !c.exists(k, n, NS))
    })
    .await;
    assert!(!c.exists("secret", "addon-operator-inventory-echo-server", NS));
    for (kind, name) in INGRESS {
        assert!(
            c.exists(kind, name, NS),
            "{kind}/{name} of a remaining module was deleted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_type_json_writes_one_json_object_per_line() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator_with_env(&[], &[("LOG_TYPE", "json"), ("LOG_LEVEL", "info")]);
    op.wait_converged().await;
    let logs = op.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.iter().any(|l| l.contains("module converged")),
        "{logs}"
    );
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value.get("level").is_some() && value.get("timestamp").is_some(),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_module_runs_at_once_when_its_values_are_fixed() {
    let c = Cluster::start("modules").await;
    let templates = c.modules.join("030-needs-value/templates");
    std::fs::create_dir_all(&templates).expect("mkdir");
    std::fs::write(
        c.modules.join("030-needs-value/values.yaml"),
        "needsValueEnabled: true\n",
    )
    .expect("values");
    std::fs::write(
        templates.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: needs-value\ndata:\n  name: {{required \"set needsValue.name in the ConfigMap\" Values.needsValue.name}}\n",
    )
    .expect("template");
    // A long backoff: only an input change can make the module run again within the test.
    let mut op = c.operator(&["--module-retry-delay", "60"]);
    op.wait_converged().await;
    let status = op.module_list().expect("module list");
    assert_eq!(
        status["modules"]["needs-value"]["state"], "Failed",
        "{status}"
    );
    assert!(
        status["modules"]["needs-value"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("set needsValue.name")),
        "{status}"
    );
    // An unrelated change converges other modules but does not retry the failed one early.
    c.set_config(&[("echoServer", "replicas: 2\n")]);
    eventually("the unrelated edit applies", || {
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref()
            == Some("2")
    })
    .await;
    assert_eq!(
        op.logs().matches("module run failed").count(),
        1,
        "{}",
        op.logs()
    );
    c.set_config(&[("needsValue", "name: fixed\n")]);
    eventually(
        "the fixed module converges without waiting for its backoff",
        || {
            c.jsonpath("configmap", "needs-value", "{.data.name}")
                .as_deref()
                == Some("fixed")
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_mode_applies_nothing_until_it_is_lifted() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    c.set_config(&[
        ("echoServerMaintenance", "NoResourceReconciliation"),
        ("echoServer", "replicas: 4\n"),
    ]);
    eventually("module list shows maintenance", || {
        op.module_list()
            .is_some_and(|s| s["modules"]["echo-server"]["maintenance"] == true)
    })
    .await;
    c.kubectl(&["delete", "configmap", "echo-server", "-n", NS]);
    eventually("the operator saw the drift and left it alone", || {
        op.logs().contains("drift left alone")
    })
    .await;
    assert_eq!(
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref(),
        Some("1"),
        "nothing applied in maintenance"
    );
    assert!(
        !c.exists("configmap", "echo-server", NS),
        "drift is left alone in maintenance"
    );
    c.set_config(&[("echoServerMaintenance", "")]);
    eventually("lifting maintenance applies the pending change", || {
        c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
            .as_deref()
            == Some("4")
    })
    .await;
    eventually("and repairs the drift", || {
        c.exists("configmap", "echo-server", NS)
    })
    .await;
}
