//! Hook engine benchmarks: dispatch overhead and memory per watched object.
//!
//! Run: `cargo bench -p hooks --bench hook_engine` (prints a Markdown table; needs bash).
//!
//! - Dispatch: a trivial bash hook bound to ConfigMaps; for each of N ConfigMaps created through
//!   the API, the engine's run report gives event observed → hook process spawned, and the whole
//!   run (event observed → outputs applied); the same for an engine that starts its hooks
//!   through a spawner, as the operator does (this binary serves as the spawner). Baseline: the same script run directly with
//!   `std::process::Command`, N times, in the same process: bare `status()`, with the
//!   engine's spawn options (own process group, piped output: std's `posix_spawn` path), and
//!   the same forced through fork + exec (what a `pre_exec` closure costs), also with 512 MiB
//!   resident in the parent; and the same spawn options through `tokio::process` in a task,
//!   the floor for any engine that runs processes on an async runtime.
//! - Memory: 10,000 ConfigMaps in the emulator (a separate process, so its memory is not counted);
//!   a fresh child process per mode enables one kubernetes binding and reports its RSS after the
//!   Synchronization list: `jqFilter` + `keepFullObjectsInMemory: false`, full objects, a
//!   `jqFilter` with full objects kept (the default), and a binding that selects nothing
//!   (baseline).
#![allow(clippy::unwrap_used, missing_docs)]

use futures::future::BoxFuture;
use hooks::{EngineOptions, Hook, HookEngine, HookHost, HookSet, ValuesPatches};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DISPATCH_RUNS: usize = 200;
const MEMORY_OBJECTS: usize = 10_000;

struct NoValues;

impl HookHost for NoValues {
    fn values(&self, _: &Hook) -> Value {
        json!({})
    }
    fn config_values(&self, _: &Hook) -> Value {
        json!({})
    }
    fn apply_values_patches<'a>(
        &'a self,
        _: &'a Hook,
        _: &'a [hooks::BindingContext],
        _: &'a ValuesPatches,
    ) -> BoxFuture<'a, Result<(), hooks::ValuesPatchError>> {
        Box::pin(async { Ok(()) })
    }
}

fn main() -> std::process::ExitCode {
    // The bench binary is also the spawner of the engine that runs hooks through one.
    if let Some(code) = hooks::serve_if_asked() {
        return code;
    }
    match std::env::var("HOOK_BENCH_ROLE").as_deref() {
        Ok("emulator") => emulator_child(),
        Ok("memory") => memory_child(),
        _ => parent(),
    }
    std::process::ExitCode::SUCCESS
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn client(url: &str) -> kube::Client {
    kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap()
}

fn emulator_child() {
    runtime().block_on(async {
        let emu = kube_emulator::Emulator::start().await.unwrap();
        println!("{}", emu.url());
        // Serve until the parent closes our stdin.
        tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new()))
            .await
            .unwrap()
            .unwrap();
    });
}

fn write_hook(dir: &Path, config: &str) -> std::path::PathBuf {
    let p = dir.join("hook.sh");
    std::fs::write(
        &p,
        format!(
            "#!/bin/bash\nif [[ \"$1\" == --config ]]; then echo '{config}'; exit 0; fi\nexit 0\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn memory_child() {
    let url = std::env::var("HOOK_BENCH_URL").unwrap();
    let mode = std::env::var("HOOK_BENCH_MODE").unwrap();
    let binding = match mode.as_str() {
        "jq" => {
            r#"{"name":"cms","kind":"ConfigMap","labelSelector":{"matchLabels":{"bench":"mem"}},"jqFilter":".metadata.name","keepFullObjectsInMemory":false,"executeHookOnSynchronization":false}"#
        }
        "full" => {
            r#"{"name":"cms","kind":"ConfigMap","labelSelector":{"matchLabels":{"bench":"mem"}},"executeHookOnSynchronization":false}"#
        }
        // Issue 14's case: a jqFilter with keepFullObjectsInMemory at its default (true).
        "jq+full" => {
            r#"{"name":"cms","kind":"ConfigMap","labelSelector":{"matchLabels":{"bench":"mem"}},"jqFilter":".metadata.name","executeHookOnSynchronization":false}"#
        }
        _ => {
            r#"{"name":"cms","kind":"ConfigMap","labelSelector":{"matchLabels":{"bench":"none"}},"executeHookOnSynchronization":false}"#
        }
    };
    let dir = tempfile::tempdir().unwrap();
    write_hook(
        dir.path(),
        &format!(r#"{{"configVersion":"v1","kubernetes":[{binding}]}}"#),
    );
    runtime().block_on(async {
        let engine = HookEngine::new(Arc::new(NoValues), Some(client(&url)), EngineOptions::default());
        let hooks = engine.load(HookSet::Global, dir.path()).await.unwrap();
        let before = rss_kib("VmRSS:");
        let start = Instant::now();
        engine.enable_kubernetes(&HookSet::Global).await.unwrap();
        let list = start.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = rss_kib("VmRSS:");
        println!(
            "{}",
            json!({"mode": mode, "objects": hooks[0].snapshot_len(), "rss_before_kib": before, "rss_after_kib": after,
                   "hwm_kib": rss_kib("VmHWM:"), "list_ms": list.as_millis() as u64})
        );
    });
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn parent() {
    let exe = std::env::current_exe().unwrap();
    let mut emu = Command::new(&exe)
        .env("HOOK_BENCH_ROLE", "emulator")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(emu.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();
    let rt = runtime();
    rt.block_on(dispatch(&url));
    rt.block_on(create_configmaps(&url));
    println!(
        "\n| binding mode ({MEMORY_OBJECTS} ConfigMaps) | objects kept | RSS after list | per object (vs. empty binding) | Synchronization list |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let mut base = 0i64;
    let mut per = Vec::new();
    for mode in ["none", "jq", "full", "jq+full"] {
        let out = Command::new(&exe)
            .env("HOOK_BENCH_ROLE", "memory")
            .env("HOOK_BENCH_MODE", mode)
            .env("HOOK_BENCH_URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        let after = r["rss_after_kib"].as_i64().unwrap();
        if mode == "none" {
            base = after;
        }
        let per_obj = (after - base) as f64 * 1024.0 / MEMORY_OBJECTS as f64;
        per.push(per_obj);
        println!(
            "| {mode} | {} | {:.1} MiB | {:.0} B | {} ms |",
            r["objects"],
            after as f64 / 1024.0,
            per_obj,
            r["list_ms"]
        );
    }
    println!(
        "\nfull objects / jqFilter memory per object: {:.1}x",
        per[2] / per[1]
    );
    drop(emu.stdin.take());
    let _ = emu.wait();
}

/// A hook bound to ConfigMaps labelled `bench: <label>`, in a fresh directory.
fn watching_hook(label: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let script = write_hook(
        dir.path(),
        &format!(
            r#"{{"configVersion":"v1","kubernetes":[{{"name":"cms","kind":"ConfigMap","labelSelector":{{"matchLabels":{{"bench":"{label}"}}}},"executeHookOnSynchronization":false,"executeHookOnEvent":["Added"],"jqFilter":".metadata.name","keepFullObjectsInMemory":false}}]}}"#
        ),
    );
    (dir, script)
}

/// An engine running the hook in `dir`, its hooks started by a spawner when `spawner`.
async fn watching_engine(client: &kube::Client, dir: &Path, spawner: bool) -> HookEngine {
    let opts = EngineOptions {
        launcher: spawner.then(|| std::env::current_exe().unwrap()),
        ..EngineOptions::default()
    };
    let engine = HookEngine::new(Arc::new(NoValues), Some(client.clone()), opts);
    engine.load(HookSet::Global, dir).await.unwrap();
    engine.enable_kubernetes(&HookSet::Global).await.unwrap();
    engine
}

async fn dispatch(url: &str) {
    let (dir, script) = watching_hook("dispatch");
    let (spawned_dir, _) = watching_hook("spawned");
    let client = client(url);
    let engine = watching_engine(&client, dir.path(), false).await;
    let spawning = watching_engine(&client, spawned_dir.path(), true).await;
    let mut events = engine.run_events();
    let mut spawned_events = spawning.run_events();
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client,
        "default",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("", "v1", "ConfigMap"),
            "configmaps",
        ),
    );
    // The same script as an onStartup hook run by `run_order`: no watch, no queue.
    let order_dir = tempfile::tempdir().unwrap();
    write_hook(order_dir.path(), r#"{"configVersion":"v1","onStartup":1}"#);
    let offline = HookEngine::new(Arc::new(NoValues), None, EngineOptions::default());
    offline
        .load(HookSet::Global, order_dir.path())
        .await
        .unwrap();
    let (mut observed_to_spawn, mut whole, mut write_to_spawn) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut order_call, mut spawn_to_exit, mut direct, mut direct_piped) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut direct_forked = Vec::new();
    let mut direct_async = Vec::new();
    let (mut spawned_whole, mut spawned_to_exit) = (Vec::new(), Vec::new());
    // Each iteration measures every variant once, so load on the shared machine hits all alike.
    for i in 0..DISPATCH_RUNS {
        let cm: kube::api::DynamicObject =
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("d{i}"), "labels": {"bench": "dispatch"}}}))
            .unwrap();
        let t0 = Instant::now();
        api.create(&Default::default(), &cm).await.unwrap();
        let ev = events.recv().await.unwrap();
        let r = ev.result.unwrap();
        observed_to_spawn.push(r.dispatch_latency);
        whole.push(r.total);
        write_to_spawn.push(r.spawned_at.saturating_duration_since(t0));

        // The same hook in an engine that starts hooks through its spawner (as the operator).
        let cm: kube::api::DynamicObject =
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("s{i}"), "labels": {"bench": "spawned"}}}))
            .unwrap();
        api.create(&Default::default(), &cm).await.unwrap();
        let r = spawned_events.recv().await.unwrap().result.unwrap();
        spawned_whole.push(r.total);
        spawned_to_exit.push(r.usage.wall);

        let t0 = Instant::now();
        let r = offline
            .run_order(&HookSet::Global, hooks::OrderBinding::OnStartup)
            .await
            .unwrap();
        order_call.push(t0.elapsed());
        spawn_to_exit.push(r[0].usage.wall);

        let t0 = Instant::now();
        assert!(Command::new(&script).status().unwrap().success());
        direct.push(t0.elapsed());

        // Same spawn options as the engine (own process group, piped output read to the end, cwd).
        direct_piped.push(spawn_piped(&script, dir.path(), false));
        direct_forked.push(spawn_piped(&script, dir.path(), true));
        direct_async.push(spawn_on_runtime(&script, dir.path()).await);
    }
    for v in [
        &mut observed_to_spawn,
        &mut whole,
        &mut write_to_spawn,
        &mut direct,
        &mut direct_piped,
        &mut direct_forked,
        &mut order_call,
        &mut spawn_to_exit,
        &mut spawned_whole,
        &mut spawned_to_exit,
        &mut direct_async,
    ] {
        v.sort();
    }
    println!("| measure ({DISPATCH_RUNS} runs, trivial bash hook) | p50 | p99 |");
    println!("| --- | --- | --- |");
    for (name, v) in [
        (
            "watch event observed → hook process spawned",
            &observed_to_spawn,
        ),
        (
            "API create returned → hook process spawned",
            &write_to_spawn,
        ),
        (
            "engine: event observed → run finished, outputs applied",
            &whole,
        ),
        (
            "engine: `run_order(onStartup)` call (no watch, no queue)",
            &order_call,
        ),
        (
            "engine: hook process spawned → exited, pipes drained",
            &spawn_to_exit,
        ),
        (
            "engine with its spawner (the operator's way): event observed → outputs applied",
            &spawned_whole,
        ),
        (
            "engine with its spawner: spawn requested → exit reported, pipes drained",
            &spawned_to_exit,
        ),
        ("baseline: same script via std::process::Command", &direct),
        (
            "baseline with the engine's spawn options (process group, piped output)",
            &direct_piped,
        ),
        (
            "same, forced through fork + exec (as with a `pre_exec` closure)",
            &direct_forked,
        ),
        (
            "same spawn options, run on the runtime: `tokio::process::Command::output()` in a task",
            &direct_async,
        ),
    ] {
        println!(
            "| {name} | {} | {} |",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.99))
        );
    }
    let p50 = |v: &[Duration]| percentile(v, 0.5).as_secs_f64();
    println!(
        "\nwhole engine run / direct run (p50): {:.2}x against `status()`, {:.2}x against the same spawn options and output capture",
        p50(&whole) / p50(&direct),
        p50(&whole) / p50(&direct_piped)
    );
    println!(
        "engine with its spawner / direct run with the same spawn options and output capture (p50): {:.2}x",
        p50(&spawned_whole) / p50(&direct_piped)
    );
    println!(
        "tokio::process on the runtime / the same run blocking (p50): {:.2}x",
        p50(&direct_async) / p50(&direct_piped)
    );
    println!(
        "fork + exec / posix_spawn (p50): {:.2}x",
        p50(&direct_forked) / p50(&direct_piped)
    );
    engine.shutdown();
    spawning.shutdown();
    spawn_paths_with_ballast(&script, dir.path());
}

/// Runs `script` as the engine does (own process group, piped output read to the end, cwd);
/// with `forked`, also sets the process's own uid, which makes std fork and exec instead of
/// `posix_spawn`, as a `pre_exec` closure would (the workspace forbids the `unsafe` a
/// `pre_exec` closure needs, and the cost is the fork either way).
fn spawn_piped(script: &Path, dir: &Path, forked: bool) -> Duration {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let t0 = Instant::now();
    let mut cmd = Command::new(script);
    cmd.current_dir(dir).stdin(Stdio::null()).process_group(0);
    if forked {
        cmd.uid(std::fs::metadata("/proc/self").unwrap().uid());
    }
    assert!(cmd.output().unwrap().status.success());
    t0.elapsed()
}

/// Runs `script` as [`spawn_piped`] does, but in a task on the runtime with tokio's own process
/// API: what any async engine pays to run a process, before any hook protocol.
async fn spawn_on_runtime(script: &Path, dir: &Path) -> Duration {
    let (script, dir) = (script.to_path_buf(), dir.to_path_buf());
    let t0 = Instant::now();
    let out = tokio::spawn(async move {
        tokio::process::Command::new(&script)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .process_group(0)
            .output()
            .await
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    t0.elapsed()
}

/// posix_spawn against fork + exec when the parent holds BALLAST_MIB of memory, as an operator
/// with large snapshots does: fork copies the page tables of everything resident.
fn spawn_paths_with_ballast(script: &Path, dir: &Path) {
    const BALLAST_MIB: usize = 512;
    let ballast: Vec<u8> = vec![1; BALLAST_MIB << 20];
    std::hint::black_box(&ballast);
    let (mut spawned, mut forked) = (Vec::new(), Vec::new());
    for _ in 0..DISPATCH_RUNS / 2 {
        spawned.push(spawn_piped(script, dir, false));
        forked.push(spawn_piped(script, dir, true));
    }
    spawned.sort();
    forked.sort();
    println!(
        "\nwith {BALLAST_MIB} MiB resident in the parent ({} runs each): posix_spawn p50 {}, fork + exec p50 {} ({:.2}x)",
        spawned.len(),
        ms(percentile(&spawned, 0.5)),
        ms(percentile(&forked, 0.5)),
        percentile(&forked, 0.5).as_secs_f64() / percentile(&spawned, 0.5).as_secs_f64()
    );
}

async fn create_configmaps(url: &str) {
    use futures::StreamExt;
    let client = client(url);
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client,
        "default",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("", "v1", "ConfigMap"),
            "configmaps",
        ),
    );
    let data: serde_json::Map<String, Value> = (0..8)
        .map(|k| (format!("key-{k}"), json!(format!("value {k} ").repeat(12))))
        .collect();
    futures::stream::iter(0..MEMORY_OBJECTS)
        .map(|i| {
            let api = api.clone();
            let cm: kube::api::DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("m{i}"), "labels": {"bench": "mem", "app": "memory-benchmark"},
                             "annotations": {"note": "a typical small ConfigMap"}},
                "data": data}))
            .unwrap();
            async move { api.create(&Default::default(), &cm).await.unwrap() }
        })
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
}
