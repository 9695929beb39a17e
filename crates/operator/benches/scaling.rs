//! Issue 14 benchmark: how the operator's cost grows with the module set and with the number
//! of objects a hook binding watches.
//!
//! Run: `bench/scaling.sh` (= `cargo bench -p operator --bench scaling`; release build, then
//! about 3 minutes of measuring on 2 cores). It prints two Markdown tables;
//! `SCALING_PART=modules` or `SCALING_PART=watched` runs only one of them;
//! `SCALING_SIZES=500 SCALING_EDITS=200` measures one module set with more edits (for a
//! profiler attached to the operator pid the bench prints once it converged).
//!
//! - Module sets of 10, 50, 200 and 500 modules × 20 ConfigMaps (as `converge.rs` writes them):
//!   each in a fresh in-process emulator with the `addon-operator run` binary as a child
//!   process. Cold converge = start → `module list` says converged and a kube-rs watcher has
//!   seen every object; RSS of the operator after it; API requests of the cold start; then
//!   EDITS edits of one module's value in the `addon-operator` ConfigMap (rotating over the
//!   modules), each timed until the watcher saw the last of that module's 20 objects with the
//!   new value, with the requests each caused; the operator's CPU time while idle for 3 s
//!   after converging and over the edits (from `/proc/<pid>/stat`, so other load on the
//!   machine does not count); then its CPU time per edit that changes the last edited
//!   section's text but not its value (a comment): what the ConfigMap alone costs an edit.
//! - Watched objects: 1,000, 10,000 and 50,000 ConfigMaps (8 data keys, ~1 KiB of data each) in
//!   a namespace of their own, watched by one global hook binding with a `jqFilter` and
//!   `keepFullObjectsInMemory` at its default (true), no modules. Synchronization = operator
//!   start → its log says the binding synchronized; RSS after it. Baseline: the same operator
//!   whose binding selects none of them. Then, at 10,000, the other ways a binding keeps
//!   objects: filter results only (`keepFullObjectsInMemory: false`), and full objects whose data
//!   is random hex (what the snapshot's LZ4 compression cannot shrink).

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use serde_json::{Map, Value, json};

use common::{
    Cluster, OperatorProcess, STEP_TIMEOUT, mean, module_key, ms, object_name, percentile,
};

const SIZES: [usize; 4] = [10, 50, 200, 500];
const OBJECTS: usize = 20;
const EDITS: usize = 50;
/// Edits of a module section's text that change no value (a comment), per module set.
const SAME_VALUE_EDITS: usize = 100;
/// Quiet time after an edit that changes no value (nothing is applied; the CPU clock ticks
/// at 10 ms, so many such edits are needed).
const SAME_VALUE_SETTLE: Duration = Duration::from_millis(100);
const WATCHED: [usize; 3] = [1_000, 10_000, 50_000];
const WATCH_NS: &str = "bench-watch";
/// How long the idle operator's CPU use is measured before the edits.
const IDLE: Duration = Duration::from_secs(3);
/// Quiet time after a step, so late requests (the inventory) are counted and RSS settles.
const SETTLE: Duration = Duration::from_millis(300);
const LOG_LEVEL: &str = "info,kube=warn,hyper=warn";

fn main() -> ExitCode {
    common::main_with("scaling", run)
}

async fn run() -> Result<()> {
    // `SCALING_PART=modules` or `watched` runs one of the two tables.
    let part = std::env::var("SCALING_PART").unwrap_or_default();
    if part != "watched" {
        module_sets().await?;
    }
    if part != "modules" {
        watched_objects().await?;
    }
    Ok(())
}

async fn module_sets() -> Result<()> {
    let mut rows = Vec::new();
    for modules in env_list("SCALING_SIZES", &SIZES)? {
        eprintln!("bench: {modules} modules × {OBJECTS} objects ...");
        rows.push(module_set(modules).await?);
    }
    println!(
        "\n| modules × {OBJECTS} objects | cold converge | requests, cold | operator RSS | edit p50 | edit p99 | requests / edit | operator CPU / edit | operator CPU / edit changing no value | operator CPU, idle |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} × {OBJECTS} = {} | {:.2} s | {} | {:.1} MiB | {} | {} | {:.1} | {:.2} ms | {:.2} ms | {:.1} % |",
            r.modules,
            r.modules * OBJECTS,
            r.cold.as_secs_f64(),
            r.cold_requests,
            r.rss_kib as f64 / 1024.0,
            ms(percentile(&r.edits, 50)),
            ms(percentile(&r.edits, 99)),
            r.requests_per_edit,
            r.cpu_per_edit.as_secs_f64() * 1000.0,
            r.same_value_cpu.as_secs_f64() * 1000.0,
            r.idle_cpu * 100.0,
        );
    }
    Ok(())
}

async fn watched_objects() -> Result<()> {
    let base = watched(WATCHED[0], Watch::NONE).await?;
    let mut watch_rows = Vec::new();
    for objects in WATCHED {
        eprintln!("bench: {objects} watched objects ...");
        watch_rows.push(watched(objects, Watch::DEFAULT).await?);
    }
    println!(
        "\n| watched ConfigMaps (jqFilter, full objects kept) | Synchronization (operator start → synchronized) | operator RSS | per object over a binding that selects none ({:.1} MiB) |",
        base.rss_kib as f64 / 1024.0
    );
    println!("| --- | --- | --- | --- |");
    for w in &watch_rows {
        let per = (w.rss_kib as f64 - base.rss_kib as f64) * 1024.0 / w.objects as f64;
        println!(
            "| {} | {} | {:.1} MiB | {:.0} B |",
            w.objects,
            ms(w.sync),
            w.rss_kib as f64 / 1024.0,
            per
        );
    }
    by_mode(&base, &watch_rows).await
}

/// The per-object cost of each way a binding can keep 10,000 objects (issue 14 §2: "show the
/// per-object cost in each mode").
async fn by_mode(base: &WatchRow, rows: &[WatchRow]) -> Result<()> {
    let objects = 10_000;
    let default = rows
        .iter()
        .find(|r| r.objects == objects)
        .context("no 10,000 row")?;
    let modes = [
        (
            "`keepFullObjectsInMemory: false` (filter results only)",
            Watch {
                full: false,
                ..Watch::DEFAULT
            },
        ),
        (
            "full objects, data that does not compress (random hex)",
            Watch {
                random_data: true,
                ..Watch::DEFAULT
            },
        ),
    ];
    let mut measured = Vec::new();
    for (name, mode) in modes {
        eprintln!("bench: {objects} watched objects, {name} ...");
        measured.push((name, watched(objects, mode).await?));
    }
    println!(
        "\n| 10,000 watched ConfigMaps, jqFilter, kept as | operator RSS | per object over a binding that selects none |"
    );
    println!("| --- | --- | --- |");
    let rows = std::iter::once(("full objects (the default), the data above", default))
        .chain(measured.iter().map(|(n, r)| (*n, r)));
    for (name, r) in rows {
        let per = (r.rss_kib as f64 - base.rss_kib as f64) * 1024.0 / objects as f64;
        println!(
            "| {name} | {:.1} MiB | {per:.0} B |",
            r.rss_kib as f64 / 1024.0
        );
    }
    Ok(())
}

/// A comma-separated list of numbers from environment variable `name`, or `default` when it
/// is unset (for profiling one size: `SCALING_SIZES=500 SCALING_EDITS=200`).
fn env_list(name: &str, default: &[usize]) -> Result<Vec<usize>> {
    let Ok(text) = std::env::var(name) else {
        return Ok(default.to_vec());
    };
    text.split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .with_context(|| format!("{name}={text}: not a list of numbers"))
        })
        .collect()
}

/// What one module set measured.
struct ModuleRow {
    modules: usize,
    cold: Duration,
    cold_requests: u64,
    rss_kib: u64,
    edits: Vec<Duration>,
    requests_per_edit: f64,
    /// The operator's CPU time (user + system, all threads) over the edits, per edit: what an
    /// edit costs the operator whatever else the 2 cores are doing.
    cpu_per_edit: Duration,
    /// The operator's CPU use while idle after converging, in cores (0.01 = 1 % of one).
    idle_cpu: f64,
    /// The operator's CPU time per edit that changes a section's text but no value.
    same_value_cpu: Duration,
}

async fn module_set(modules: usize) -> Result<ModuleRow> {
    let dir = tempfile::tempdir().context("creating the temp dir")?;
    let modules_dir = common::generate_modules(dir.path(), modules, OBJECTS)?;
    let mut cluster = Cluster::start(dir.path(), "scaling").await?;
    cluster.create_operator_configmap().await?;
    let start = Instant::now();
    let hooks = dir.path().join("global-hooks");
    let mut op = OperatorProcess::spawn(dir.path(), &cluster, &modules_dir, &hooks, LOG_LEVEL)?;
    let deadline = start + STEP_TIMEOUT;
    while !op.converged().await? {
        ensure!(Instant::now() < deadline, "the operator did not converge");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let converged = start.elapsed();
    let all: HashMap<String, String> = (0..modules)
        .flat_map(|m| (0..OBJECTS).map(move |o| (object_name(&module_key(m), o), "v0".into())))
        .collect();
    let last = cluster.wait_values(&all).await?;
    let cold = converged.max(last - start);
    tokio::time::sleep(SETTLE).await;
    let cold_requests = cluster.requests(0).total;
    let rss_kib = op.rss_kib()?;
    let mut edits = Vec::new();
    let mut requests = Vec::new();
    let count = env_list("SCALING_EDITS", &[EDITS])?[0];
    eprintln!(
        "bench: converged; {count} edits (operator pid {}) ...",
        op.child.id()
    );
    let idle_start = (Instant::now(), op.cpu_time()?);
    tokio::time::sleep(IDLE).await;
    let idle = (op.cpu_time()?.saturating_sub(idle_start.1)).as_secs_f64()
        / idle_start.0.elapsed().as_secs_f64();
    let cpu_before = op.cpu_time()?;
    for i in 0..count {
        let key = module_key((i * 7) % modules);
        let value = format!("e{i}");
        cluster.drain();
        cluster.controls.reset_counts();
        let t0 = Instant::now();
        cluster.edit_module_value(&key, &value).await?;
        let expected = (0..OBJECTS)
            .map(|o| (object_name(&key, o), value.clone()))
            .collect();
        let last = cluster.wait_values(&expected).await?;
        edits.push(last - t0);
        tokio::time::sleep(SETTLE).await;
        requests.push(cluster.requests(1).total);
    }
    let cpu = op.cpu_time()?.saturating_sub(cpu_before);
    let same_value_cpu = same_value_edits(&mut cluster, &op, modules, count).await?;
    op.check_alive()?;
    Ok(ModuleRow {
        modules,
        cold,
        cold_requests,
        rss_kib,
        edits,
        requests_per_edit: mean(requests.into_iter()),
        cpu_per_edit: cpu / u32::try_from(count.max(1)).unwrap_or(u32::MAX),
        idle_cpu: idle,
        same_value_cpu,
    })
}

/// The operator's CPU time per ConfigMap edit that changes the text of the last edited
/// module's section but not its value (a comment line): what the ConfigMap alone costs an
/// edit (watch event, decoding, the diff against the last data), with no module run. Checks
/// that such an edit causes no write (the operator's periodic reads may fall in the window).
async fn same_value_edits(
    cluster: &mut Cluster,
    op: &OperatorProcess,
    modules: usize,
    edits: usize,
) -> Result<Duration> {
    let last = edits.checked_sub(1).context("no edits")?;
    let key = module_key((last * 7) % modules);
    let cpu_before = op.cpu_time()?;
    let mut writes = 0;
    let mut kinds: Vec<String> = Vec::new();
    for i in 0..SAME_VALUE_EDITS {
        cluster.controls.reset_counts();
        let text = format!("value: e{last}\n# unchanged value, edit {i}\n");
        cluster.set_module_section(&key, &text).await?;
        tokio::time::sleep(SAME_VALUE_SETTLE).await;
        let seen = cluster.requests(1);
        writes += seen.writes;
        kinds.extend(
            seen.by_kind
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|((verb, resource), n)| format!("edit {i}: {n} {verb} {resource}")),
        );
    }
    let cpu = op.cpu_time()?.saturating_sub(cpu_before);
    ensure!(
        writes == 0,
        "{SAME_VALUE_EDITS} edits that change no value caused {writes} writes; requests: {kinds:?}"
    );
    Ok(cpu / SAME_VALUE_EDITS as u32)
}

/// What one watch size measured.
struct WatchRow {
    objects: usize,
    sync: Duration,
    rss_kib: u64,
}

/// What the watched-objects operator's binding selects and keeps, and what the objects hold.
#[derive(Clone, Copy)]
struct Watch {
    /// The binding selects the objects (else none of them: the baseline).
    selected: bool,
    /// `keepFullObjectsInMemory`.
    full: bool,
    /// Each data value is random hex instead of a repeated phrase: the case compression cannot
    /// help.
    random_data: bool,
}

impl Watch {
    const NONE: Watch = Watch {
        selected: false,
        full: true,
        random_data: false,
    };
    const DEFAULT: Watch = Watch {
        selected: true,
        full: true,
        random_data: false,
    };
}

/// `objects` ConfigMaps in their own namespace and an operator whose one global hook binding
/// watches them or selects none of them, as `mode` says.
async fn watched(objects: usize, mode: Watch) -> Result<WatchRow> {
    let selected = mode.selected;
    let dir = tempfile::tempdir().context("creating the temp dir")?;
    let modules_dir = common::generate_modules(dir.path(), 0, 0)?;
    let mut cluster = Cluster::start(dir.path(), "watch").await?;
    cluster.create_operator_configmap().await?;
    create_watched(&cluster.client, objects, mode.random_data).await?;
    let hooks = dir.path().join("global-hooks");
    std::fs::create_dir_all(&hooks).context("creating the global hooks dir")?;
    let label = if selected { "watched" } else { "nothing" };
    let config = json!({"configVersion": "v1", "kubernetes": [{
        "name": "configmaps", "apiVersion": "v1", "kind": "ConfigMap",
        "namespace": {"nameSelector": {"matchNames": [WATCH_NS]}},
        "labelSelector": {"matchLabels": {"bench": label}},
        "jqFilter": ".metadata.name",
        "keepFullObjectsInMemory": mode.full,
        "executeHookOnSynchronization": false
    }]});
    let hook = hooks.join("watch.sh");
    common::write(
        &hook,
        &format!("#!/bin/sh\nif [ \"$1\" = --config ]; then echo '{config}'; fi\n"),
    )?;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
        .context("making the hook executable")?;
    let start = Instant::now();
    let mut op = OperatorProcess::spawn(dir.path(), &cluster, &modules_dir, &hooks, LOG_LEVEL)?;
    let deadline = start + STEP_TIMEOUT;
    let sync = loop {
        op.check_alive()?;
        let synced = op.log_lines().iter().any(|l| {
            l["message"] == "kubernetes binding synchronized"
                && l["objects"].as_u64() == Some(if selected { objects as u64 } else { 0 })
        });
        if synced {
            break start.elapsed();
        }
        ensure!(Instant::now() < deadline, "the binding never synchronized");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !op.converged().await? {
        ensure!(Instant::now() < deadline, "the operator did not converge");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(SETTLE).await;
    Ok(WatchRow {
        objects,
        sync,
        rss_kib: op.rss_kib()?,
    })
}

/// Creates `count` ConfigMaps (8 keys, ~1 KiB of data each) labelled `bench: watched` in
/// [`WATCH_NS`]; each value a repeated phrase, or with `random_data` 96 random hex digits.
async fn create_watched(client: &kube::Client, count: usize, random_data: bool) -> Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": WATCH_NS}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .context("creating the watched namespace")?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), WATCH_NS);
    let data: Map<String, Value> = (0..8)
        .map(|k| (format!("key-{k}"), json!(format!("value {k} ").repeat(12))))
        .collect();
    let results: Vec<Result<()>> = futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            let data = match random_data {
                false => data.clone(),
                true => (0..8u64)
                    .map(|k| (format!("key-{k}"), json!(random_hex(i as u64 * 8 + k))))
                    .collect(),
            };
            let cm = json!({"metadata": {"name": format!("w{i}"),
                "labels": {"bench": "watched", "app": "scaling-benchmark"},
                "annotations": {"note": "a typical small ConfigMap"}},
                "data": data});
            async move {
                let cm: ConfigMap = serde_json::from_value(cm)?;
                api.create(&PostParams::default(), &cm)
                    .await
                    .context("creating a watched ConfigMap")?;
                Ok(())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(())
}

/// 96 hex digits that look random and differ for every `seed` (splitmix64), so nothing repeats
/// within or across objects.
fn random_hex(seed: u64) -> String {
    let mut state = seed;
    (0..6)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            format!("{:016x}", z ^ (z >> 31))
        })
        .collect()
}
