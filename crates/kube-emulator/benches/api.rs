//! Emulator throughput, latency, watch fan-out and memory.
//!
//! Run: `cargo bench -p kube-emulator --bench api` (release build, ~1 minute on 2 cores).
//!
//! Criterion measures one kube-rs client on one connection against an in-process emulator
//! holding 10,000 ConfigMaps: GET /healthz (the HTTP floor, baseline), GET of a ConfigMap,
//! a server-side apply that changes the object, and one write reaching 100 watchers.
//! After Criterion, the bench prints concurrent throughput (16 clients) for the same
//! requests and the emulator binary's resident memory per 1,000 stored ConfigMaps.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchParams};
use kube_emulator::Emulator;
use serde_json::json;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

const STORED: usize = 10_000;
const WATCHERS: u64 = 100;

fn client(url: &str) -> kube::Client {
    kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap()
}

async fn fill(cms: &Api<ConfigMap>, n: usize) {
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let cms = cms.clone();
            tokio::spawn(async move {
                for i in (t..n).step_by(8) {
                    let cm: ConfigMap = serde_json::from_value(json!({
                        "metadata": {"name": format!("cm-{i:05}"), "labels": {"app": "bench"}},
                        "data": {"key": "value", "index": i.to_string()}
                    }))
                    .unwrap();
                    cms.create(&PostParams::default(), &cm).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

fn apply_body(i: u64) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-00042"}, "data": {"key": "value", "index": "42", "round": i.to_string()}})
}

struct Setup {
    rt: Runtime,
    emu: Emulator,
    cms: Api<ConfigMap>,
    raw: kube::Client,
}

fn setup() -> Setup {
    let rt = Runtime::new().unwrap();
    let (emu, cms, raw) = rt.block_on(async {
        let emu = Emulator::start().await.unwrap();
        let c = client(&emu.url());
        let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
        fill(&cms, STORED).await;
        (emu, cms, c)
    });
    Setup { rt, emu, cms, raw }
}

async fn healthz(c: &kube::Client) {
    let req = http::Request::get("/healthz").body(Vec::new()).unwrap();
    c.request_text(req).await.unwrap();
}

fn requests(c: &mut Criterion) {
    let s = setup();
    let mut g = c.benchmark_group("emulator_10k_configmaps");
    g.measurement_time(Duration::from_secs(3)).sample_size(50);
    g.bench_function("baseline_get_healthz", |b| {
        b.iter(|| s.rt.block_on(healthz(&s.raw)))
    });
    g.bench_function("get_configmap", |b| {
        b.iter(|| s.rt.block_on(s.cms.get("cm-04242")).unwrap())
    });
    let round = AtomicU64::new(0);
    let pp = PatchParams::apply("bench").force();
    g.bench_function("ssa_patch_configmap", |b| {
        b.iter(|| {
            let body = apply_body(round.fetch_add(1, Ordering::Relaxed));
            s.rt.block_on(s.cms.patch("cm-00042", &pp, &Patch::Apply(body)))
                .unwrap()
        })
    });
    let seen = Arc::new(AtomicU64::new(0));
    let notify = Arc::new(Notify::new());
    let watchers: Vec<_> = s.rt.block_on(async {
        let rv = s
            .cms
            .get("cm-00042")
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let mut handles = Vec::new();
        for _ in 0..WATCHERS {
            let wp = WatchParams::default()
                .fields("metadata.name=cm-00007")
                .disable_bookmarks();
            let mut stream = s.cms.watch(&wp, &rv).await.unwrap().boxed();
            let (seen, notify) = (seen.clone(), notify.clone());
            handles.push(tokio::spawn(async move {
                while let Some(Ok(_)) = stream.next().await {
                    seen.fetch_add(1, Ordering::SeqCst);
                    notify.notify_one();
                }
            }));
        }
        handles
    });
    let writes = AtomicU64::new(0);
    g.measurement_time(Duration::from_secs(5)).sample_size(30);
    g.bench_function("write_to_100_watchers", |b| {
        b.iter(|| {
            let n = writes.fetch_add(1, Ordering::Relaxed) + 1;
            s.rt.block_on(async {
                let patch = Patch::Merge(json!({"data": {"n": n.to_string()}}));
                s.cms
                    .patch("cm-00007", &PatchParams::default(), &patch)
                    .await
                    .unwrap();
                while seen.load(Ordering::SeqCst) < n * WATCHERS {
                    notify.notified().await;
                }
            })
        })
    });
    g.finish();
    for w in watchers {
        w.abort();
    }
    throughput(&s);
    s.rt.block_on(s.emu.shutdown());
}

/// Requests per second with 16 concurrent clients for `secs` seconds.
fn concurrent<F, Fut>(rt: &Runtime, secs: u64, make: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let make = Arc::new(make);
    rt.block_on(async {
        let count = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let tasks: Vec<_> = (0..16)
            .map(|w| {
                let (make, count) = (make.clone(), count.clone());
                tokio::spawn(async move {
                    let mut i = w * 1_000_000;
                    while Instant::now() < deadline {
                        make(i).await;
                        i += 1;
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    })
}

fn throughput(s: &Setup) {
    let raw = s.raw.clone();
    let floor = concurrent(&s.rt, 3, move |_| {
        let raw = raw.clone();
        async move { healthz(&raw).await }
    });
    let cms = s.cms.clone();
    let get = concurrent(&s.rt, 3, move |i| {
        let cms = cms.clone();
        async move {
            cms.get(&format!("cm-{:05}", i % STORED as u64))
                .await
                .unwrap();
        }
    });
    let cms = s.cms.clone();
    let ssa = concurrent(&s.rt, 3, move |i| {
        let cms = cms.clone();
        async move {
            let name = format!("cm-{:05}", i % STORED as u64);
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"round": i.to_string()}});
            cms.patch(
                &name,
                &PatchParams::apply("bench-concurrent").force(),
                &Patch::Apply(body),
            )
            .await
            .unwrap();
        }
    });
    println!("concurrent (16 clients, 3 s each, {STORED} ConfigMaps stored):");
    println!("  baseline GET /healthz : {floor:>8.0} req/s");
    println!(
        "  GET configmap         : {get:>8.0} req/s  ({:.2} x baseline)",
        get / floor
    );
    println!(
        "  SSA patch configmap   : {ssa:>8.0} req/s  ({:.2} x baseline)",
        ssa / floor
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Resident memory of the emulator binary per 1,000 ConfigMaps, with a watch history of
/// `history` events (history entries share the stored objects).
fn memory(history: usize) {
    let rt = Runtime::new().unwrap();
    let _guard = rt.enter();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kube-emulator"))
        .args(["--port", "0", "--watch-history", &history.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(url.trim()), "default");
    let before = rss_kib(child.id());
    rt.block_on(fill(&cms, STORED));
    let after = rss_kib(child.id());
    let per_1000 = (after.saturating_sub(before)) as f64 / (STORED as f64 / 1000.0);
    println!(
        "memory (--watch-history {history}): RSS {before} KiB empty -> {after} KiB with {STORED} ConfigMaps = {per_1000:.0} KiB per 1,000 ConfigMaps"
    );
    let _ = child.kill();
    let _ = child.wait();
}

criterion_group!(benches, requests);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    memory(10_000);
    memory(100);
}
