//! Issue 8 §1 end to end: a missing ConfigMap and a failing `enabled` script are error states.
//! They keep the last good state and never delete; a watch records every DELETED event and
//! each test asserts that none was unexpected.

mod common;

use std::path::Path;

use common::{Cluster, Deletions, Launch, NS, eventually, write_hook};

/// Adds module `030-optional` (one ConfigMap `optional`), disabled unless the ConfigMap
/// enables it; with `script`, enabled statically and decided by an `enabled` script that
/// fails while the file `breaker` exists.
fn add_optional_module(c: &Cluster, breaker: Option<&Path>) {
    let dir = c.modules.join("030-optional");
    std::fs::create_dir_all(dir.join("templates")).expect("mkdir");
    std::fs::write(
        dir.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: optional\ndata:\n  a: b\n",
    )
    .expect("template");
    let enabled = breaker.is_some();
    std::fs::write(
        dir.join("values.yaml"),
        format!("optionalEnabled: {enabled}\n"),
    )
    .expect("values");
    if let Some(breaker) = breaker {
        write_hook(
            &dir.join("enabled"),
            "",
            &format!(
                r#"if [[ -e {} ]]; then echo "the script is broken" >&2; exit 1; fi
echo true > "$MODULE_ENABLED_RESULT"; echo "decided by the script" > "$MODULE_ENABLED_REASON""#,
                breaker.display()
            ),
        );
    }
}

fn replicas(c: &Cluster) -> Option<String> {
    c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
}

fn config_error(status: &serde_json::Value) -> String {
    status["configError"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_configmap_keeps_the_last_values_deletes_nothing_and_recreating_it_resumes() {
    let c = Cluster::start("modules").await;
    add_optional_module(&c, None);
    c.set_config(&[("optionalEnabled", "true"), ("echoServer", "replicas: 3\n")]);
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    assert!(c.exists("configmap", "optional", NS), "{}", op.logs());
    assert_eq!(replicas(&c).as_deref(), Some("3"));
    let deletions = Deletions::record(&c).await;
    let by_the_test = ["ConfigMap/addon-operator/addon-operator"];
    c.kubectl(&["delete", "configmap", "addon-operator", "-n", NS]);
    eventually("module list says the ConfigMap was deleted", || {
        op.module_list()
            .is_some_and(|s| config_error(&s).contains("was deleted"))
    })
    .await;
    assert!(
        op.metrics().contains("addon_operator_config_map_missing 1"),
        "{}",
        op.metrics()
    );
    assert!(op.logs().contains("ConfigMap deleted"), "{}", op.logs());
    // Work goes on with the last good values: drift is repaired to them.
    c.scale("echo-server", 7);
    eventually("drift is repaired with the last good values", || {
        replicas(&c).as_deref() == Some("3")
    })
    .await;
    assert!(c.exists("configmap", "optional", NS));
    deletions.assert_only(&by_the_test, &op.logs());

    c.set_config(&[("optionalEnabled", "true"), ("echoServer", "replicas: 4\n")]);
    eventually("the recreated ConfigMap is applied", || {
        replicas(&c).as_deref() == Some("4")
    })
    .await;
    eventually("the error clears", || {
        op.module_list().is_some_and(|s| s["configError"].is_null())
    })
    .await;
    assert!(op.metrics().contains("addon_operator_config_map_missing 0"));
    assert!(c.exists("configmap", "optional", NS));
    deletions.assert_only(&by_the_test, &op.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_but_empty_configmap_is_an_empty_config() {
    let c = Cluster::start("modules").await;
    add_optional_module(&c, None);
    c.set_config(&[("optionalEnabled", "true")]);
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    assert!(c.exists("configmap", "optional", NS), "{}", op.logs());
    c.kubectl(&[
        "patch",
        "configmap",
        "addon-operator",
        "-n",
        NS,
        "--type",
        "json",
        "-p",
        r#"[{"op": "remove", "path": "/data"}]"#,
    ]);
    eventually(
        "the module enabled only by the ConfigMap is disabled",
        || !c.exists("configmap", "optional", NS),
    )
    .await;
    let status = op.module_list().expect("module list");
    assert!(status["configError"].is_null(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_without_the_configmap_waits_for_it_and_deletes_nothing() {
    let c = Cluster::start("modules").await;
    add_optional_module(&c, None);
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    assert!(
        c.exists("configmap", "addon-operator", NS),
        "the first start creates the ConfigMap empty:\n{}",
        op.logs()
    );
    c.set_config(&[("optionalEnabled", "true")]);
    eventually("the ConfigMap enables the module", || {
        c.exists("configmap", "optional", NS)
    })
    .await;
    op.terminate();
    c.kubectl(&["delete", "configmap", "addon-operator", "-n", NS]);
    let deletions = Deletions::record(&c).await;
    let mut op = c.operator(&[]);
    eventually(
        "module list says the operator waits for its ConfigMap",
        || {
            op.module_list()
                .is_some_and(|s| config_error(&s).contains("not found, but modules are installed"))
        },
    )
    .await;
    assert_eq!(op.get("/readyz").0, 503, "not ready while waiting");
    assert!(op.metrics().contains("addon_operator_config_map_missing 1"));
    c.set_config(&[("optionalEnabled", "true")]);
    op.wait_converged().await;
    assert!(c.exists("configmap", "optional", NS));
    deletions.assert_only(&[], &op.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_enabled_script_never_deletes_its_module() {
    let c = Cluster::start("modules").await;
    let breaker = c.dir.path().join("break-the-enabled-script");
    add_optional_module(&c, Some(&breaker));
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    assert!(c.exists("configmap", "optional", NS), "{}", op.logs());
    let deletions = Deletions::record(&c).await;

    // At runtime: a change makes the operator compute enabled states again.
    std::fs::write(&breaker, "").expect("break the script");
    c.set_config(&[("global", "clusterName: e2e\n")]);
    eventually(
        "module list shows the failure, the module still enabled",
        || {
            op.module_list().is_some_and(|s| {
                let row = &s["modules"]["optional"];
                row["enabled"] == true
                    && row["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("enabled script failed"))
            })
        },
    )
    .await;
    assert!(c.exists("configmap", "optional", NS));

    // At startup: no previous run; the inventory says the module was enabled.
    op.terminate();
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    let status = op.module_list().expect("module list");
    let row = &status["modules"]["optional"];
    assert_eq!(row["enabled"], true, "{status}");
    assert!(
        row["enabledSource"]
            .as_str()
            .is_some_and(|s| s.contains("failed; kept enabled")),
        "{status}"
    );
    assert!(op.logs().contains("the script is broken"), "{}", op.logs());
    assert!(c.exists("configmap", "optional", NS));
    deletions.assert_only(&[], &op.logs());

    // Fixed: the script is retried with the module's backoff, no other event needed.
    std::fs::remove_file(&breaker).expect("fix the script");
    eventually("the retried script decides again", || {
        op.module_list().is_some_and(|s| {
            s["modules"]["optional"]["enabledSource"]
                .as_str()
                .is_some_and(|e| e.contains("decided by the script"))
        })
    })
    .await;
    deletions.assert_only(&[], &op.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enabled_script_runs_with_a_relative_modules_dir() {
    let c = Cluster::start("modules").await;
    add_optional_module(&c, Some(&c.dir.path().join("never-created")));
    let mut op = c.launch(Launch {
        modules_dir: Some(Path::new("modules")),
        cwd: Some(c.dir.path()),
        ..Launch::default()
    });
    op.wait_converged().await;
    let status = op.module_list().expect("module list");
    let row = &status["modules"]["optional"];
    assert_eq!(row["enabled"], true, "{status}\n{}", op.logs());
    assert_eq!(row["enabledSource"], "EnabledScript: decided by the script");
    assert!(c.exists("configmap", "optional", NS));
}
