//! The module lifecycle end to end (issues 9 §2 and 16 §2): failures are visible in
//! `module list` and `module describe`, fixed problems clear their errors, a module's CRDs are
//! served before its bindings start, edits made while the operator starts are not lost, and a
//! missing operator namespace is named with the command that creates it.

mod common;

use std::path::Path;

use common::{Cluster, NS, eventually, require_jq, write_hook};

fn module_row(status: &serde_json::Value, name: &str) -> serde_json::Value {
    status["modules"][name].clone()
}

fn assert_ready(op: &common::OperatorProcess, name: &str) {
    let status = op.module_list().expect("module list");
    assert_eq!(module_row(&status, name)["state"], "Ready", "{status}");
}

fn describe(op: &common::OperatorProcess, args: &[&str]) -> std::process::Output {
    let out = op.client(&[&["module", "describe"][..], args].concat());
    assert!(
        out.status.success(),
        "module describe {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        op.logs()
    );
    out
}

/// A hook of echo-server bound to ConfigMaps labelled `poke=echo`, failing (not on
/// Synchronization) while `breaker` exists.
fn add_poked_hook(c: &Cluster, breaker: &Path) {
    write_hook(
        &c.modules.join("020-echo-server/hooks/poked.sh"),
        r#"{"configVersion": "v1", "kubernetes": [{"name": "pokes", "kind": "ConfigMap", "labelSelector": {"matchLabels": {"poke": "echo"}}, "executeHookOnSynchronization": false}]}"#,
        &format!(
            r#"if [[ -e {} ]]; then echo "poke handler is broken" >&2; exit 1; fi"#,
            breaker.display()
        ),
    );
}

fn poke(c: &Cluster) {
    let file = c.dir.path().join("poke.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: poke\n  namespace: {NS}\n  labels:\n    poke: echo\n"
        ),
    )
    .expect("write poke");
    c.kubectl(&["apply", "-f", file.to_str().expect("utf-8")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_whose_hook_fails_and_retries_is_listed_as_failed_with_hook_binding_and_error_until_it_succeeds()
 {
    let c = Cluster::start("modules").await;
    let breaker = c.dir.path().join("broken");
    std::fs::write(&breaker, "").expect("breaker");
    add_poked_hook(&c, &breaker);
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    assert_ready(&op, "echo-server");

    poke(&c);
    eventually("module list shows the failing hook", || {
        op.module_list().is_some_and(|s| {
            let row = module_row(&s, "echo-server");
            row["state"] == "Failed"
                && row["error"].as_str().is_some_and(|e| {
                    e.contains("poked.sh")
                        && e.contains("pokes")
                        && e.contains("poke handler is broken")
                })
        })
    })
    .await;
    let status = op.module_list().expect("module list");
    let failing = &module_row(&status, "echo-server")["failingHooks"][0];
    assert_eq!(failing["binding"], "pokes", "{status}");
    assert_eq!(failing["queue"], "main", "{status}");
    let text = String::from_utf8_lossy(&op.client(&["module", "list"]).stdout).into_owned();
    assert!(
        text.lines().any(|l| l.starts_with("echo-server")
            && l.contains("Failed")
            && l.contains("poked.sh")
            && l.ends_with("poke handler is broken")),
        "the whole error on the module's row:\n{text}"
    );

    std::fs::remove_file(&breaker).expect("fix the hook");
    eventually("the hook's next successful run clears the error", || {
        op.module_list().is_some_and(|s| {
            let row = module_row(&s, "echo-server");
            row["state"] == "Ready" && row["error"].is_null() && row.get("failingHooks").is_none()
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_run_error_clears_and_a_later_error_is_shown_instead_of_the_stale_one() {
    let c = Cluster::start("modules").await;
    let dir = c.modules.join("030-needs-value");
    std::fs::create_dir_all(dir.join("templates")).expect("mkdir");
    std::fs::write(dir.join("values.yaml"), "needsValueEnabled: true\n").expect("values");
    std::fs::write(
        dir.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: needs-value\ndata:\n  name: {{required \"set needsValue.name\" Values.needsValue.name}}\n  port: {{quote (required \"set needsValue.port\" Values.needsValue.port)}}\n",
    )
    .expect("template");
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    let error = |op: &common::OperatorProcess| {
        op.module_list()
            .map(|s| module_row(&s, "needs-value")["error"].clone())
    };
    let first = error(&op).expect("module list");
    assert!(
        first
            .as_str()
            .is_some_and(|e| e.contains("set needsValue.name")),
        "{first}"
    );

    c.set_config(&[("needsValue", "name: a\nport: \"1\"\n")]);
    eventually("the fixed module is Ready with no error", || {
        op.module_list().is_some_and(|s| {
            let row = module_row(&s, "needs-value");
            row["state"] == "Ready" && row["error"].is_null()
        })
    })
    .await;

    c.set_config(&[("needsValue", "name: a\n")]);
    eventually("the new error is shown, not the old one", || {
        error(&op).is_some_and(|e| {
            e.as_str().is_some_and(|e| {
                e.contains("set needsValue.port") && !e.contains("needsValue.name")
            })
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_describe_says_which_layer_decided_and_shows_hooks_objects_and_runs() {
    let c = Cluster::start("modules").await;
    write_hook(
        &c.modules.join("010-ingress-nginx/hooks/watch.sh"),
        r#"{"configVersion": "v1", "kubernetes": [{"name": "secrets", "kind": "Secret", "queue": "slow", "executeHookOnSynchronization": false}]}"#,
        "true",
    );
    c.set_config(&[("echoServerEnabled", "false")]);
    let mut op = c.operator(&[]);
    op.wait_converged().await;

    let out = describe(&op, &["echo-server"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("Name:           echo-server\n"), "{text}");
    assert!(text.contains("Enabled:        false\n"), "{text}");
    assert!(text.contains("Enabled by:     ConfigMap\n"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("ConfigMap") && l.ends_with("<- decided")),
        "{text}"
    );

    let out = describe(&op, &["ingressNginx", "-o", "json"]);
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(d["name"], "ingress-nginx", "{d}");
    assert_eq!(d["state"], "Ready", "{d}");
    assert_eq!(d["enabledBy"]["decidedBy"], "CommonValues", "{d}");
    let bindings = d["hooks"]
        .as_array()
        .expect("hooks")
        .iter()
        .find(|h| h["name"].as_str().is_some_and(|n| n.ends_with("watch.sh")))
        .map(|h| h["bindings"].clone())
        .unwrap_or_else(|| panic!("watch.sh listed: {d}"));
    assert_eq!(bindings[0]["binding"], "kubernetes", "{d}");
    assert_eq!(bindings[0]["name"], "secrets", "{d}");
    assert_eq!(bindings[0]["queue"], "slow", "{d}");
    let objects = d["objects"].as_array().expect("objects");
    assert!(
        objects
            .iter()
            .any(|o| o["kind"] == "Deployment" && o["applied"] == "Created"),
        "{d}"
    );
    let run = &d["runs"][0];
    assert_eq!(run["kind"], "Run", "{d}");
    assert_eq!(run["trigger"], "start", "{d}");
    assert!(run["error"].is_null(), "{d}");
    assert!(run["durationMs"].is_u64(), "{d}");
    // A run's lines, from any crate, carry its module and run id.
    let span = format!(
        "module_run{{module=\"ingress-nginx\" run_id={}}}",
        run["id"]
    );
    let logs = op.logs();
    for line in ["module run", "module converged"] {
        assert!(
            logs.lines().any(|l| l.contains(&span) && l.contains(line)),
            "no {line:?} line in {span}:\n{logs}"
        );
    }
    assert!(
        logs.lines()
            .any(|l| l.contains("module_run{module=\"prometheus\" run_id=")
                && l.contains("hooks::run: hook run succeeded")),
        "a hook run's line carries its module run's span:\n{logs}"
    );

    let out = describe(&op, &["echo-server", "-o", "yaml"]);
    let y: serde_json::Value = serde_yaml::from_slice(&out.stdout).expect("yaml");
    assert_eq!(y["enabledBy"]["decidedBy"], "ConfigMap", "{y}");

    let missing = op.client(&["module", "describe", "no-such-module"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no-such-module"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_bound_to_its_modules_own_crd_starts_after_the_crd_is_established() {
    require_jq();
    let c = Cluster::start("modules").await;
    let dir = c.modules.join("040-widgets");
    std::fs::create_dir_all(dir.join("crds")).expect("mkdir");
    std::fs::create_dir_all(dir.join("templates")).expect("mkdir");
    std::fs::write(dir.join("values.yaml"), "widgetsEnabled: true\n").expect("values");
    std::fs::write(
        dir.join("crds/widgets.yaml"),
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#,
    )
    .expect("crd");
    std::fs::write(
        dir.join("templates/widget.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: first\nspec:\n  size: 1\n",
    )
    .expect("template");
    write_hook(
        &dir.join("hooks/count.sh"),
        r#"{"configVersion": "v1", "kubernetes": [{"name": "widgets", "apiVersion": "example.com/v1", "kind": "Widget"}]}"#,
        "true",
    );
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    let status = op.module_list().expect("module list");
    let row = module_row(&status, "widgets");
    assert_eq!(row["state"], "Ready", "{status}\n{}", op.logs());
    assert!(row["error"].is_null(), "{status}");
    assert!(c.exists("widget", "first", NS), "{}", op.logs());
    assert!(
        op.logs()
            .contains("module CRDs established before its bindings start"),
        "{}",
        op.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_during_the_first_convergence_is_applied_by_the_file_watch() {
    let c = Cluster::start("modules").await;
    let release = c.dir.path().join("release");
    let holding = c.dir.path().join("holding");
    // echo-server's onStartup waits until the test has edited its template.
    write_hook(
        &c.modules.join("020-echo-server/hooks/hold.sh"),
        r#"{"configVersion": "v1", "onStartup": 1}"#,
        &format!(
            "touch {1}; for _ in $(seq 1 600); do [[ -e {0} ]] && exit 0; sleep 0.1; done; echo 'never released' >&2; exit 1",
            release.display(),
            holding.display()
        ),
    );
    let mut op = c.operator(&["--watch-files"]);
    eventually("echo-server's onStartup is running", || holding.exists()).await;
    let template = c.modules.join("020-echo-server/templates/configmap.yaml");
    let text = std::fs::read_to_string(&template).expect("template");
    std::fs::write(&template, format!("{text}  edited: \"yes\"\n")).expect("edit");
    std::fs::write(&release, "").expect("release");
    op.wait_converged().await;
    eventually("the edit made during startup is applied", || {
        c.jsonpath("configmap", "echo-server", "{.data.edited}")
            .as_deref()
            == Some("yes")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_without_the_operator_namespace_stops_and_names_the_command_that_creates_it() {
    let c = Cluster::start("modules").await;
    c.kubectl(&["delete", "namespace", NS]);
    eventually("the namespace is gone", || {
        !c.kubectl_raw(&["get", "namespace", NS]).status.success()
    })
    .await;
    let mut op = c.operator(&[]);
    let status = op.wait_exit("the operator refuses to start");
    assert!(!status.success());
    let logs = op.logs();
    assert!(
        logs.contains("kubectl create namespace addon-operator"),
        "{logs}"
    );
    assert!(
        !c.kubectl_raw(&["get", "namespace", NS]).status.success(),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_fixed_on_disk_is_retried_at_once_not_after_its_backoff() {
    let c = Cluster::start("modules").await;
    let hook = c.modules.join("020-echo-server/hooks/sync.sh");
    let config = r#"{"configVersion": "v1", "kubernetes": [{"name": "cms", "kind": "ConfigMap"}]}"#;
    // Its Synchronization fails, so echo-server's first run waits for it: only a retry of the
    // queued task (not a reload by the loop) can get the operator past it.
    write_hook(&hook, config, "echo 'sync handler is broken' >&2; exit 1");
    let mut op = c.launch(common::Launch {
        extra: &["--watch-files", "--hook-retry-delay", "3600"],
        ..common::Launch::default()
    });
    eventually("the Synchronization failed once", || {
        op.logs().contains("sync handler is broken")
    })
    .await;
    write_hook(&hook, config, "true");
    op.wait_converged().await;
    assert_ready(&op, "echo-server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_global_hook_is_listed_above_the_modules_until_it_succeeds() {
    let c = Cluster::start("modules").await;
    let breaker = c.dir.path().join("broken");
    std::fs::write(&breaker, "").expect("breaker");
    write_hook(
        &c.global_hooks.join("pokes.sh"),
        r#"{"configVersion": "v1", "kubernetes": [{"name": "pokes", "kind": "ConfigMap", "labelSelector": {"matchLabels": {"poke": "echo"}}, "executeHookOnSynchronization": false}]}"#,
        &format!(
            r#"if [[ -e {} ]]; then echo "global poke handler is broken" >&2; exit 1; fi"#,
            breaker.display()
        ),
    );
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    poke(&c);
    eventually("module list names the failing global hook", || {
        let text = String::from_utf8_lossy(&op.client(&["module", "list"]).stdout).into_owned();
        text.lines().any(|l| {
            l.starts_with("Global hook pokes.sh (binding pokes, queue main) failing, retrying:")
                && l.contains("global poke handler is broken")
        })
    })
    .await;
    let status = op.module_list().expect("module list");
    assert_eq!(
        status["failingGlobalHooks"][0]["binding"], "pokes",
        "{status}"
    );
    std::fs::remove_file(&breaker).expect("fix the hook");
    eventually("the hook's next success clears it", || {
        op.module_list()
            .is_some_and(|s| s.get("failingGlobalHooks").is_none())
    })
    .await;
}
