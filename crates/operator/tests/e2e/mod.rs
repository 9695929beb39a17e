//! Harness of the end-to-end tests of the shipped modules and the examples
//! (`modules_shipped.rs`, `examples.rs`): one cluster per test, the real `addon-operator run`
//! binary on a copy of a module set, and `kubectl` as the independent client.
//!
//! The cluster is the kube-emulator on 127.0.0.1 with simulated workloads (Deployments,
//! StatefulSets and DaemonSets report ready, as controllers would) — unless
//! `ADDON_OPERATOR_TEST_CLUSTER=1` and `KUBECONFIG` are set: then the same test bodies run
//! against that real cluster. Use a throwaway cluster (kind, k3d): the tests create
//! cluster-scoped objects (CRDs, ClusterRoles, an IngressClass, StorageClasses, Nodes), run
//! one at a time, and at the end delete what their operator's inventories list, the
//! namespaces and the cluster-scoped objects they created themselves.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kube_emulator::{Config, Emulator};
use serde_json::Value;

use crate::common::{
    OperatorProcess, copy_dir, kubectl_for, kubectl_stdout, repo_root, require_kubectl,
};

/// The operator namespace of every test (not `addon-operator`, so a real cluster's own
/// installation is left alone).
pub const OPERATOR_NS: &str = "e2e-addon-operator";

/// How long a wait for an observable outcome may take before the test fails. Generous: a real
/// cluster pulls images and schedules pods.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Real-cluster tests share one cluster: they run one at a time.
static REAL_CLUSTER: Mutex<()> = Mutex::new(());

/// One cluster for one test; in real-cluster mode it cleans up after itself when dropped.
pub struct TestCluster {
    emu: Option<Emulator>,
    /// Scratch space: module set copies, operator logs, manifests.
    pub dir: tempfile::TempDir,
    /// The kubeconfig every client here uses.
    pub kubeconfig: PathBuf,
    /// Cluster-scoped objects and namespaces this test created (deleted in real-cluster mode).
    created: Mutex<Vec<Vec<String>>>,
    _serial: Option<MutexGuard<'static, ()>>,
}

impl TestCluster {
    /// The emulator with simulated workloads, or the real cluster when asked for; creates the
    /// operator namespace.
    pub async fn start() -> TestCluster {
        require_kubectl();
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster = match real_cluster_kubeconfig() {
            Some(kubeconfig) => TestCluster {
                emu: None,
                dir,
                kubeconfig,
                created: Mutex::new(Vec::new()),
                _serial: Some(REAL_CLUSTER.lock().unwrap_or_else(|e| e.into_inner())),
            },
            None => {
                let emu = Emulator::start_with(Config {
                    simulate_workloads: true,
                    ..Config::default()
                })
                .await
                .expect("the emulator starts");
                let kubeconfig = dir.path().join("kubeconfig");
                emu.write_kubeconfig(&kubeconfig)
                    .expect("kubeconfig written");
                TestCluster {
                    emu: Some(emu),
                    dir,
                    kubeconfig,
                    created: Mutex::new(Vec::new()),
                    _serial: None,
                }
            }
        };
        cluster.create_namespace(OPERATOR_NS);
        cluster
    }

    /// Whether this is a real cluster rather than the emulator.
    pub fn is_real(&self) -> bool {
        self.emu.is_none()
    }

    /// Runs kubectl; panics with its stderr when it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        kubectl_stdout(args, self.kubectl_raw(args))
    }

    /// Runs kubectl and returns its output, failing or not.
    pub fn kubectl_raw(&self, args: &[&str]) -> Output {
        self.kubectl_with_stdin(args, b"")
    }

    fn kubectl_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write;
        let mut child = kubectl_for(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(stdin)
            .expect("kubectl reads its input");
        child.wait_with_output().expect("kubectl exits")
    }

    /// `kubectl apply -f -` of `manifest`; remembers the cluster-scoped objects (namespaces
    /// included) for the clean-up of a real cluster.
    pub fn apply(&self, manifest: &str) {
        let out = self.kubectl_with_stdin(&["apply", "-f", "-", "-o", "json"], manifest.as_bytes());
        assert!(
            out.status.success(),
            "kubectl apply failed: {}\n{manifest}",
            String::from_utf8_lossy(&out.stderr)
        );
        let applied: Value = serde_json::from_slice(&out.stdout).expect("kubectl prints JSON");
        let objects = match applied["items"].as_array() {
            Some(items) => items.clone(),
            None => vec![applied],
        };
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        for object in objects
            .iter()
            .filter(|o| o["metadata"]["namespace"].is_null())
        {
            let target = vec![format!(
                "{}/{}",
                resource_of(&object["apiVersion"], &object["kind"]),
                object["metadata"]["name"].as_str().unwrap_or_default()
            )];
            if !created.contains(&target) {
                created.push(target);
            }
        }
    }

    /// Creates a namespace (deleted at the end in real-cluster mode).
    pub fn create_namespace(&self, name: &str) {
        self.apply(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
        ));
    }

    /// An object as JSON, or None when it does not exist. `namespace` None: cluster-scoped.
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let mut args = vec!["get", kind, name, "-o", "json"];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        let out = self.kubectl_raw(&args);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("NotFound") || stderr.contains("not found"),
                "kubectl {args:?} failed: {stderr}"
            );
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).expect("kubectl prints JSON"))
    }

    /// Names of the objects of `kind` in `namespace` (all namespaces: None) that carry the
    /// label selector `selector`, as `namespace/name` (or `name` when cluster-scoped).
    pub fn names(&self, kind: &str, namespace: Option<&str>, selector: &str) -> Vec<String> {
        let mut args = vec![
            "get",
            kind,
            "-l",
            selector,
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}",
        ];
        match namespace {
            Some(ns) => args.extend(["-n", ns]),
            None => args.push("-A"),
        }
        let mut names: Vec<String> = self
            .kubectl(&args)
            .lines()
            .map(|l| l.trim_start_matches('/').to_string())
            .collect();
        names.sort();
        names
    }

    /// Starts `addon-operator run` on a copy of `modules` (relative to the repository root)
    /// and, if given, of `global_hooks`, with the operator namespace in
    /// `ADDON_OPERATOR_NAMESPACE` (hooks read it there) and short retry delays.
    pub fn operator(&self, modules: &str, global_hooks: Option<&str>) -> OperatorProcess {
        let modules_copy = self.dir.path().join("modules");
        copy_dir(&repo_root().join(modules), &modules_copy);
        let hooks_copy = self.dir.path().join("global-hooks");
        match global_hooks {
            Some(dir) => copy_dir(&repo_root().join(dir), &hooks_copy),
            None => std::fs::create_dir_all(&hooks_copy).expect("global hooks dir"),
        }
        OperatorProcess::spawn(
            &self.kubeconfig,
            &modules_copy,
            &hooks_copy,
            self.dir.path(),
            &["--module-retry-delay", "0.5", "--hook-retry-delay", "0.5"],
            &[("ADDON_OPERATOR_NAMESPACE", OPERATOR_NS)],
        )
    }

    /// Sets keys of the operator's ConfigMap (creating it if needed), as a cluster admin does.
    pub fn set_config(&self, data: &[(&str, &str)]) {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        let patch = serde_json::json!({"data": data}).to_string();
        if self
            .get("configmap", Some(OPERATOR_NS), "addon-operator")
            .is_none()
        {
            self.kubectl(&["create", "configmap", "addon-operator", "-n", OPERATOR_NS]);
        }
        self.kubectl(&[
            "patch",
            "configmap",
            "addon-operator",
            "-n",
            OPERATOR_NS,
            "--type",
            "merge",
            "-p",
            &patch,
        ]);
    }

    /// Deletes, in real-cluster mode, everything the test's operator applied (from its
    /// inventories) and everything the test created; the emulator just goes away.
    fn clean_up_real_cluster(&self) {
        let mut targets = inventoried_objects(self);
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        targets.extend(created.drain(..).rev());
        for target in targets {
            let mut args: Vec<&str> = vec!["delete"];
            args.extend(target.iter().map(String::as_str));
            args.extend(["--ignore-not-found", "--wait=false"]);
            let _ = self.kubectl_raw(&args);
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if self.is_real() {
            self.clean_up_real_cluster();
        }
    }
}

/// The kubeconfig of the real cluster when `ADDON_OPERATOR_TEST_CLUSTER=1` asks for one.
fn real_cluster_kubeconfig() -> Option<PathBuf> {
    if std::env::var("ADDON_OPERATOR_TEST_CLUSTER").ok().as_deref() != Some("1") {
        return None;
    }
    let path = std::env::var_os("KUBECONFIG")
        .and_then(|v| std::env::split_paths(&v).next())
        .filter(|p| !p.as_os_str().is_empty());
    Some(path.unwrap_or_else(|| {
        panic!(
            "ADDON_OPERATOR_TEST_CLUSTER=1 needs KUBECONFIG naming the test cluster's kubeconfig"
        )
    }))
}

/// `kind.version.group` (`kind` for the core group), how kubectl names a kind unambiguously.
fn resource_of(api_version: &Value, kind: &Value) -> String {
    let (api_version, kind) = (
        api_version.as_str().unwrap_or_default(),
        kind.as_str().unwrap_or_default(),
    );
    match api_version.split_once('/') {
        Some((group, version)) => format!("{kind}.{version}.{group}"),
        None => kind.to_string(),
    }
}

/// `kind.version.group/name` of every object in the inventories of [`OPERATOR_NS`], cluster-scoped
/// ones and the namespaced ones outside the operator namespace, for `kubectl delete`.
fn inventoried_objects(cluster: &TestCluster) -> Vec<Vec<String>> {
    let out = cluster.kubectl_raw(&[
        "get",
        "secrets",
        "-n",
        OPERATOR_NS,
        "-l",
        reconciler::INVENTORY_LABEL,
        "-o",
        "json",
    ]);
    let Ok(list) = serde_json::from_slice::<Value>(&out.stdout) else {
        return Vec::new();
    };
    let mut targets = Vec::new();
    for secret in list["items"].as_array().into_iter().flatten() {
        let data = secret["data"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), base64_decode(v.as_str()?)?)))
            .collect();
        let Ok(inventory) = reconciler::Inventory::decode(&data) else {
            continue;
        };
        for entry in inventory.objects {
            let o = entry.object;
            let target = format!(
                "{}/{}",
                resource_of(&Value::from(o.api_version), &Value::from(o.kind)),
                o.name
            );
            match o.namespace {
                Some(ns) if ns != OPERATOR_NS => targets.push(vec![target, "-n".into(), ns]),
                Some(_) => {}
                None => targets.push(vec![target]),
            }
        }
    }
    targets
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let out = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take()?.write_all(text.as_bytes()).ok()?;
            child.wait_with_output().ok()
        })?;
    out.status.success().then_some(out.stdout)
}

/// Polls `check` every 100 ms until it holds; fails after [`PATIENCE`] naming `what` and
/// showing the operator's log.
pub async fn wait_until(what: &str, operator: &OperatorProcess, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting until {what}; operator log:\n{}",
            operator.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The state of `module` in `module list -o json` (`Ready`, `Failed`, `Disabled`, ...).
pub fn module_state(operator: &OperatorProcess, module: &str) -> Option<String> {
    operator
        .module_list()
        .and_then(|s| s["modules"][module]["state"].as_str().map(str::to_string))
}

/// A file of the repository, as text.
pub fn repo_file(path: &str) -> String {
    let full: PathBuf = repo_root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Whether `path` exists in the repository.
pub fn repo_has(path: &str) -> bool {
    Path::new(&repo_root()).join(path).exists()
}

/// The kinds a module of this repository renders, for [`TestCluster::module_objects`].
const RENDERED_KINDS: &str = "configmaps,secrets,services,serviceaccounts,deployments,statefulsets,\
daemonsets,clusterroles,clusterrolebindings,roles,rolebindings,ingressclasses,ingresses,\
networkpolicies,resourcequotas,namespaces,customresourcedefinitions";

impl TestCluster {
    /// `Kind namespace/name` (`Kind name` when cluster-scoped) of every object the operator
    /// applied for `module` (label `addon-operator.io/module`), sorted: the test compares
    /// the whole set, so an extra or a missing object fails it.
    pub fn module_objects(&self, module: &str) -> Vec<String> {
        // Inventory Secrets carry the module label too; they are the operator's, not the module's.
        let selector = format!(
            "{}={module},!{}",
            reconciler::MODULE_LABEL,
            reconciler::INVENTORY_LABEL
        );
        let out = self.kubectl(&[
            "get",
            RENDERED_KINDS,
            "-A",
            "-l",
            &selector,
            "-o",
            "jsonpath={range .items[*]}{.kind} {.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}",
        ]);
        let mut objects: Vec<String> = out.lines().map(|l| l.replace(" /", " ")).collect();
        objects.sort();
        objects
    }
}

/// Sorted owned strings, to compare with [`TestCluster::module_objects`].
pub fn sorted(items: &[&str]) -> Vec<String> {
    let mut items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    items.sort();
    items
}

/// Fails with `hint` when `program --version` does not run: a missing tool is a failure
/// that says how to install it, never a skipped test.
pub fn require_tool(program: &str, hint: &str) {
    let ok = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "{program} is not on PATH: {hint}");
}

/// Fails with an install hint when `jq` (used by the bash hooks) is missing.
pub fn require_jq() {
    require_tool(
        "jq",
        "the modules' and examples' hooks are bash + jq; install it with `apt-get install jq` \
         (scripts/test.sh does)",
    );
}
