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

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::process::Command;

use common::{
    Cluster, NS, OperatorProcess, Requests, mean, module_key, ms, object_name, percentile,
    require_kubectl,
};

const MODULES: usize = 50;
const OBJECTS: usize = 20;
const EDITS: usize = 30;
/// Quiet time after an edit's last object, so late requests (the inventory) are counted.
const SETTLE: Duration = Duration::from_millis(300);

fn main() -> ExitCode {
    common::main_with("converge", run)
}

async fn run() -> Result<()> {
    require_kubectl().await?;
    let dir = tempfile::tempdir().context("creating the temp dir")?;
    let modules = common::generate_modules(dir.path(), MODULES, OBJECTS)?;
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

/// Object name → initial value, for all 1,000 objects.
fn cold_expected() -> HashMap<String, String> {
    (0..MODULES)
        .flat_map(|m| (0..OBJECTS).map(move |o| (object_name(&module_key(m), o), "v0".into())))
        .collect()
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

async fn bench_operator(dir: &Path, modules: &Path, edits: &[Edit]) -> Result<Outcome> {
    let mut cluster = Cluster::start(dir, "operator").await?;
    cluster.create_operator_configmap().await?;
    let start = Instant::now();
    let hooks = dir.join("global-hooks");
    let mut op =
        OperatorProcess::spawn(dir, &cluster, modules, &hooks, "info,kube=warn,hyper=warn")?;
    let deadline = start + common::STEP_TIMEOUT;
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
    let mut phases = Phases::default();
    for edit in edits {
        cluster.drain();
        cluster.controls.reset_counts();
        let wall0 = SystemTime::now();
        let t0 = Instant::now();
        cluster.edit_module_value(&edit.key, &edit.value).await?;
        let patched = t0.elapsed();
        let last = cluster.wait_values(&edit.expected()).await?;
        times.push(last - t0);
        tokio::time::sleep(SETTLE).await;
        requests.push(cluster.requests(1));
        phases.record(&op.log_lines(), wall0, patched, last - t0, &edit.key)?;
    }
    let note = format!(
        "operator: `module list` said converged after {:.2} s\n\n{}",
        converged.as_secs_f64(),
        phases.table()
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
    common::write(path, &docs.join("\n---\n"))?;
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
        cluster.controls.reset_counts();
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
        cluster.controls.reset_counts();
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

/// The module a JSON log line is about: its own `module` field, or its span's (a run's lines
/// carry it in the `module_run` span).
fn module_of(line: &Value) -> &Value {
    match &line["module"] {
        Value::Null => &line["span"]["module"],
        module => module,
    }
}

/// Where an operator edit's time goes, from the bench's clock and the operator's JSON log
/// (its `timestamp`s, microseconds): patch sent → the ConfigMap PATCH answered; → "config
/// values changed" logged (the watch event reached the operator, which decoded and validated
/// the ConfigMap); → the module run started (its "module converged" line minus `elapsed_ms`:
/// queueing); the run itself (checksum, render, 20 SSA requests, inventory); and its end →
/// the watcher saw the last object (negative when the objects arrive before the inventory
/// write ends the run).
#[derive(Default)]
struct Phases {
    patched: Vec<f64>,
    config_changed: Vec<f64>,
    queued: Vec<f64>,
    run: Vec<f64>,
    after_run: Vec<f64>,
}

impl Phases {
    /// Adds one edit: `patched` and `seen` are the bench's times after `wall0`.
    fn record(
        &mut self,
        lines: &[Value],
        wall0: SystemTime,
        patched: Duration,
        seen: Duration,
        key: &str,
    ) -> Result<()> {
        let t0 = wall0.duration_since(UNIX_EPOCH)?.as_secs_f64();
        let after = |message: &str, module: Option<&str>| {
            lines.iter().find_map(|l| {
                let at = log_time(l)?;
                (at >= t0 && l["message"] == message && module.is_none_or(|m| module_of(l) == m))
                    .then_some((at, l))
            })
        };
        let (changed, _) = after("config values changed", None)
            .context("no \"config values changed\" log line after the edit")?;
        let (converged, line) = after("module converged", Some(key)).with_context(|| {
            let tail: Vec<String> = lines.iter().rev().take(8).map(Value::to_string).collect();
            format!(
                "no \"module converged\" log line for {key}; the log's last lines, newest first:\n{}",
                tail.join("\n")
            )
        })?;
        let run = line["elapsed_ms"].as_f64().unwrap_or(0.0) / 1e3;
        self.patched.push(patched.as_secs_f64());
        self.config_changed.push(changed - t0);
        self.queued.push(converged - run - changed);
        self.run.push(run);
        self.after_run.push(seen.as_secs_f64() - (converged - t0));
        Ok(())
    }

    /// A Markdown table of the phases' medians.
    fn table(&self) -> String {
        let p50 = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or_default() * 1e3
        };
        let rows = [
            ("edit sent → ConfigMap PATCH answered", p50(&self.patched)),
            (
                "edit sent → operator logged \"config values changed\" (watch event, decode, validate)",
                p50(&self.config_changed),
            ),
            (
                "\"config values changed\" → module run started (queueing)",
                p50(&self.queued),
            ),
            (
                "module run (checksum, render, 20 SSA requests 8 in flight, inventory; ms resolution)",
                p50(&self.run),
            ),
            (
                "module run ended → watcher saw the last object",
                p50(&self.after_run),
            ),
        ];
        let mut out = String::from("| operator edit phase | p50 |\n| --- | --- |\n");
        for (name, ms) in rows {
            out.push_str(&format!("| {name} | {ms:.2} ms |\n"));
        }
        out
    }
}

/// The `timestamp` of a JSON log line (RFC 3339, UTC) in seconds since the epoch.
fn log_time(line: &Value) -> Option<f64> {
    let ts = line["timestamp"].as_str()?.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    let sec = t.next()?.parse::<f64>().ok()?;
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3_600.0 + min * 60.0 + sec)
}
