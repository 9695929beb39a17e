//! Hooks through the operator: bash + jq hooks in `global-hooks/` and a module's `hooks/`
//! change values and objects, and an `enabled` script decides about a module.

mod common;

use common::{Cluster, NS, eventually, require_jq, write_hook};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_patch_values_and_objects_and_enabled_scripts_decide() {
    require_jq();
    let c = Cluster::start("modules").await;
    write_hook(
        &c.global_hooks.join("001-cluster-name.sh"),
        r#"{"configVersion": "v1", "onStartup": 1}"#,
        r#"jq -n '[{"op":"add","path":"/global/clusterName","value":"from-global-hook"}]' > "$VALUES_JSON_PATCH_PATH""#,
    );
    let hooks = c.modules.join("020-echo-server/hooks");
    write_hook(
        &hooks.join("before-helm.sh"),
        r#"{"configVersion": "v1", "beforeHelm": 1}"#,
        r#"jq -n '[{"op":"add","path":"/echoServer/message","value":"patched by beforeHelm"}]' > "$VALUES_JSON_PATCH_PATH""#,
    );
    write_hook(
        &hooks.join("after-helm.sh"),
        r#"{"configVersion": "v1", "afterHelm": 1}"#,
        r#"cat > "$KUBERNETES_PATCH_PATH" <<'EOF'
{"operation": "CreateOrUpdate", "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "made-by-after-helm", "namespace": "addon-operator"}, "data": {"ok": "yes"}}}
EOF"#,
    );
    write_hook(
        &hooks.join("scale.sh"),
        r#"{"configVersion": "v1", "kubernetes": [{"name": "scaler", "kind": "ConfigMap", "labelSelector": {"matchLabels": {"scale": "echo"}}, "jqFilter": ".data.replicas", "executeHookOnSynchronization": false}]}"#,
        r#"replicas=$(jq -r '[.[] | select(.type == "Event") | .filterResult] | last // empty' "$BINDING_CONTEXT_PATH")
if [[ -n "$replicas" ]]; then
  jq -n --argjson r "$replicas" '[{"op":"add","path":"/echoServer/replicas","value":$r}]' > "$VALUES_JSON_PATCH_PATH"
fi"#,
    );
    let optional = c.modules.join("030-optional");
    std::fs::create_dir_all(optional.join("templates")).expect("mkdir");
    std::fs::write(optional.join("values.yaml"), "optionalEnabled: true\n").expect("values");
    std::fs::write(
        optional.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: optional\n",
    )
    .expect("template");
    write_hook(
        &optional.join("enabled"),
        "",
        r#"echo false > "$MODULE_ENABLED_RESULT"; echo "not on this cluster" > "$MODULE_ENABLED_REASON""#,
    );

    let mut op = c.operator(&[]);
    op.wait_converged().await;
    let data = c
        .jsonpath("configmap", "echo-server", "{.data}")
        .expect("echo-server ConfigMap");
    assert!(
        data.contains("patched by beforeHelm"),
        "beforeHelm values patch reached the render: {data}"
    );
    assert!(
        data.contains("from-global-hook"),
        "global onStartup patch reached the render: {data}"
    );
    assert!(
        c.exists("configmap", "made-by-after-helm", NS),
        "afterHelm object patch applied:\n{}",
        op.logs()
    );
    assert!(
        !c.exists("configmap", "optional", NS),
        "the enabled script disabled the module"
    );
    let status = op.module_list().expect("module list");
    assert_eq!(status["modules"]["optional"]["enabled"], false);
    assert!(
        status["modules"]["optional"]["enabledSource"]
            .as_str()
            .is_some_and(|s| s.contains("not on this cluster")),
        "{status}"
    );

    let global = op.client(&["global", "values", "-o", "json"]);
    let global: serde_json::Value =
        serde_json::from_slice(&global.stdout).expect("global values JSON");
    assert_eq!(global["global"]["clusterName"], "from-global-hook");
    let module = op.client(&["module", "values", "echo-server", "-o", "json"]);
    let module: serde_json::Value =
        serde_json::from_slice(&module.stdout).expect("module values JSON");
    assert_eq!(module["echoServer"]["message"], "patched by beforeHelm");
    assert_eq!(module["global"]["clusterName"], "from-global-hook");
    let unknown = op.client(&["module", "values", "nope"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no module named"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    c.kubectl(&[
        "create",
        "configmap",
        "scaler",
        "-n",
        NS,
        "--from-literal=replicas=6",
    ]);
    c.kubectl(&["label", "configmap", "scaler", "-n", NS, "scale=echo"]);
    eventually(
        "a kubernetes-bound hook's values patch re-renders the module",
        || {
            c.jsonpath("deployment", "echo-server", "{.spec.replicas}")
                .as_deref()
                == Some("6")
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_hook_config_stops_startup_naming_the_hook() {
    let c = Cluster::start("modules").await;
    write_hook(
        &c.global_hooks.join("broken.sh"),
        r#"{"configVersion": "v1", "schedule": [{"crontab": "not a crontab"}]}"#,
        "true",
    );
    let mut op = c.operator(&[]);
    let status = op.wait_exit("the operator refuses to start");
    assert!(!status.success());
    let logs = op.logs();
    assert!(logs.contains("broken.sh"), "{logs}");
    assert!(logs.contains("crontab"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_values_patches_from_hooks_are_written_back_to_the_configmap() {
    require_jq();
    let c = Cluster::start("modules").await;
    write_hook(
        &c.modules.join("020-echo-server/hooks/remember.sh"),
        r#"{"configVersion": "v1", "afterHelm": 1}"#,
        r#"jq -n '[{"op":"add","path":"/echoServer/message","value":"remembered"}]' > "$CONFIG_VALUES_JSON_PATCH_PATH""#,
    );
    c.set_config(&[("global", "clusterName: kept\n")]);
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    eventually("the ConfigMap holds the hook's config values", || {
        c.jsonpath("configmap", "addon-operator", "{.data.echoServer}")
            .is_some_and(|v| v.contains("remembered"))
    })
    .await;
    assert_eq!(
        c.jsonpath("configmap", "addon-operator", "{.data.global}")
            .as_deref(),
        Some("clusterName: kept\n"),
        "keys the hook did not touch are left as they were"
    );
    eventually("the persisted value is rendered", || {
        c.jsonpath("configmap", "echo-server", "{.data.message}")
            .as_deref()
            == Some("remembered")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_native_hook_puts_the_cluster_uuid_into_global_values() {
    let c = Cluster::start("modules").await;
    common::copy_dir(&common::repo_root().join("global-hooks"), &c.global_hooks);
    let template = c.modules.join("020-echo-server/templates/identity.yaml");
    std::fs::write(
        &template,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: identity\ndata:\n  uuid: {{#if Values.global.discovery}}{{quote Values.global.discovery.clusterUUID}}{{else}}\"unknown\"{{/if}}\n",
    )
    .expect("template");
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    let uid = c.kubectl(&[
        "get",
        "namespace",
        "kube-system",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    assert!(!uid.is_empty());
    eventually("the rendered ConfigMap carries the kube-system UID", || {
        c.jsonpath("configmap", "identity", "{.data.uuid}")
            .as_deref()
            == Some(uid.as_str())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crd_and_hooks_example_converges_and_follows_labelled_namespaces() {
    require_jq();
    let c = Cluster::start("examples/crd-and-hooks/modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    let status = op.module_list().expect("module list");
    assert_eq!(
        status["modules"]["backups"]["state"],
        "Ready",
        "{status}\n{}",
        op.logs()
    );
    assert!(
        c.kubectl_raw(&["get", "crd", "backupschedules.backups.example.com"])
            .status
            .success()
    );
    assert!(
        c.exists("backupschedules", "backups", NS),
        "the custom resource follows its CRD"
    );
    c.kubectl(&["create", "namespace", "team-a"]);
    c.kubectl(&[
        "label",
        "namespace",
        "team-a",
        "backups.example.com/enabled=true",
    ]);
    eventually("a BackupSchedule appears in the labelled namespace", || {
        c.exists("backupschedules", "backups", "team-a")
    })
    .await;
    c.kubectl(&[
        "label",
        "namespace",
        "team-a",
        "backups.example.com/enabled-",
    ]);
    eventually("it is pruned when the label goes", || {
        !c.exists("backupschedules", "backups", "team-a")
    })
    .await;
}

/// `queue list` in every format while a task waits in a named queue: the first run of a slow
/// hook holds the queue until the test releases it, the next event waits behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_list_shows_the_tasks_waiting_in_each_queue() {
    let c = Cluster::start("modules").await;
    let release = c.dir.path().join("release-the-slow-hook");
    let started = c.dir.path().join("slow-hook-started");
    write_hook(
        &c.global_hooks.join("slow.sh"),
        r#"{"configVersion": "v1", "kubernetes": [{"name": "slow", "kind": "ConfigMap", "labelSelector": {"matchLabels": {"queue-test": "slow"}}, "executeHookOnSynchronization": false, "queue": "slow"}]}"#,
        &format!(
            "touch {started}\nuntil [[ -e {release} ]]; do sleep 0.05; done",
            started = started.display(),
            release = release.display()
        ),
    );
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    for name in ["first", "second"] {
        c.kubectl(&["create", "configmap", name, "-n", NS, "--from-literal=a=b"]);
        c.kubectl(&["label", "configmap", name, "-n", NS, "queue-test=slow"]);
        eventually("the slow hook runs", || started.exists()).await;
    }
    let waiting = |format: &str| {
        let out = op.client(&["queue", "list", "-o", format]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    eventually("the second event waits in the slow queue", || {
        serde_json::from_str::<serde_json::Value>(&waiting("json"))
            .is_ok_and(|q| q["slow"].as_u64() == Some(1) && q["main"] == 0)
    })
    .await;
    let yaml: serde_json::Value = serde_yaml::from_str(&waiting("yaml")).expect("queue list YAML");
    assert_eq!(yaml["slow"], 1, "{yaml}");
    let text = waiting("text");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["QUEUE", "WAITING"], "{text}");
    assert!(rows.contains(&vec!["slow", "1"]), "{text}");
    assert!(rows.contains(&vec!["main", "0"]), "{text}");
    std::fs::write(&release, "").expect("release the hook");
    eventually("the slow queue drains", || {
        serde_json::from_str::<serde_json::Value>(&waiting("json")).is_ok_and(|q| q["slow"] == 0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_list_and_values_print_text_yaml_and_json() {
    let c = Cluster::start("modules").await;
    c.set_config(&[("echoServer", "message: from the configmap\n")]);
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    let print = |args: &[&str]| {
        let out = op.client(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = print(&["module", "list"]);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["MODULE", "ENABLED", "STATE", "OBJECTS", "ERROR"],
        "{text}"
    );
    assert!(
        rows.contains(&vec!["ingress-nginx", "true", "Ready", "9"]),
        "{text}"
    );
    assert!(
        rows.contains(&vec!["echo-server", "true", "Ready", "3"]),
        "{text}"
    );
    for format in ["yaml", "json"] {
        let listed: serde_json::Value =
            serde_yaml::from_str(&print(&["module", "list", "-o", format])).expect(format);
        assert_eq!(
            listed["modules"]["echo-server"]["state"], "Ready",
            "{format}"
        );
        let module: serde_json::Value =
            serde_yaml::from_str(&print(&["module", "values", "echo-server", "-o", format]))
                .expect(format);
        assert_eq!(
            module["echoServer"]["message"], "from the configmap",
            "{format}"
        );
        assert_eq!(module["global"]["clusterName"], "dev-cluster", "{format}");
        let global: serde_json::Value =
            serde_yaml::from_str(&print(&["global", "values", "-o", format])).expect(format);
        assert_eq!(global["global"]["clusterName"], "dev-cluster", "{format}");
        assert!(global.get("echoServer").is_none(), "{format}: {global}");
    }
    let default = print(&["module", "values", "echo-server"]);
    assert!(
        default.contains("message: from the configmap"),
        "module values prints YAML by default: {default}"
    );
}

/// The state letter of process `pid` (`R`, `S`, `Z`, ...), `None` once it is gone.
fn process_state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Gone, or a zombie nobody reaped yet: not running.
fn not_running(pid: &str) -> bool {
    matches!(process_state(pid), None | Some('Z'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hook_run_starts_from_one_spawner_that_goes_with_the_operator() {
    let c = Cluster::start("modules").await;
    let runs = c.dir.path().join("runs");
    let sleeper = c.dir.path().join("sleeper");
    write_hook(
        &c.global_hooks.join("ppid.sh"),
        r#"{"configVersion":"v1","schedule":[{"name":"tick","crontab":"* * * * * *","queue":"ticks"}]}"#,
        &format!(r#"echo "$PPID" >> {}"#, runs.display()),
    );
    write_hook(
        &c.global_hooks.join("sleeper.sh"),
        r#"{"configVersion":"v1","schedule":[{"name":"once","crontab":"* * * * * *","queue":"sleeper"}]}"#,
        &format!(r#"echo "$$" >> {}; sleep 300"#, sleeper.display()),
    );
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    let lines = |path: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    eventually("three scheduled runs", || lines(&runs).len() >= 3).await;
    eventually("the sleeper runs", || !lines(&sleeper).is_empty()).await;
    let parents = lines(&runs);
    assert!(
        parents.iter().all(|p| *p == parents[0]),
        "every run has the same parent, the spawner: {parents:?}"
    );
    let spawner = parents[0].clone();
    let operator = op.child.as_ref().expect("running").id().to_string();
    assert_ne!(
        spawner, operator,
        "hooks do not start from the operator itself"
    );
    let cmdline = std::fs::read(format!("/proc/{spawner}/cmdline")).expect("spawner cmdline");
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(
        cmdline.contains("addon-operator-hook-launcher") && cmdline.contains("__hook-spawner"),
        "the parent is the shipped launcher serving as spawner: {cmdline}"
    );
    // The operator is killed outright: the spawner sees its socket end, kills the running
    // hook's group and exits.
    let hook = lines(&sleeper)[0].clone();
    op.kill();
    eventually("the spawner exits with the operator", || {
        not_running(&spawner)
    })
    .await;
    eventually("the running hook is killed", || not_running(&hook)).await;
}
