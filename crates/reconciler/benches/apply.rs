//! Apply benchmark: 50 modules × 20 objects on the kube emulator, reconciler vs a plain loop.
//!
//! Run: `cargo bench -p reconciler --bench apply` (release build; about a minute on 2 cores).
//! Prints a Markdown table for docs/benchmarks.md ("Reconciler" section).
//!
//! Scenarios, each against a fresh in-process emulator on 127.0.0.1:
//! - cold: every module applied once (`apply_module` per module, in order, like a first
//!   converge) vs the baseline, a plain loop sending one server-side apply per object (the same
//!   labelled objects, the same field manager);
//! - unchanged: the same set applied again vs the baseline loop re-sending every object;
//! - both without and with the drift watch running (the operator runs it; its cache replaces
//!   the per-kind LISTs);
//! - one change (drift watch on): one ConfigMap of one module changed, `apply_module` of that
//!   module vs the minimum, one server-side apply of the changed object (p50/p99 over 30 edits).
//!
//! `RECONCILER_BENCH_CONCURRENCY=N` sets the reconciler's per-stage concurrency (default 8).
//!
//! Not criterion: each scenario is a multi-request sequence whose request counts matter as much
//! as its time, and cold runs need a fresh server, so the harness is a plain `main` that repeats
//! each scenario and reports medians.

#![allow(clippy::unwrap_used, missing_docs)]

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube_emulator::Emulator;
use reconciler::{ApplyOptions, ApplyReport, Reconciler};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const MODULES: usize = 50;
const OBJECTS: usize = 20;
const NS: &str = "addon-operator";
const REPEAT: usize = 5;
const EDITS: usize = 30;

fn module_objects(module: usize, edit: usize) -> Vec<Value> {
    let mut objects = Vec::with_capacity(OBJECTS);
    let name = |kind: &str, i: usize| format!("m{module}-{kind}-{i}");
    objects.push(
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name("sa", 0)}}),
    );
    objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name("role", 0)},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}));
    for i in 0..10 {
        let value = if i == 0 {
            format!("edit-{edit}")
        } else {
            format!("value-{i}")
        };
        objects.push(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name("cm", i)},
            "data": {"config.yaml": format!("key: {value}\nreplicas: {i}\n")}}),
        );
    }
    for i in 0..4 {
        objects.push(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name("secret", i)},
            "type": "Opaque", "data": {"token": "c2VjcmV0"}}),
        );
    }
    for i in 0..2 {
        let app = name("app", i);
        objects.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}},
              "template": {"metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27", "ports": [{"containerPort": 8080}]}]}}}}));
        objects.push(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": app},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        );
    }
    objects
}

struct Env {
    emu: Emulator,
    client: kube::Client,
}

async fn env() -> Env {
    let emu = Emulator::start().await.unwrap();
    let client = kube::Client::try_from(kube::Config::new(emu.url().parse().unwrap())).unwrap();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
    send_ssa(&client, &ns).await;
    Env { emu, client }
}

impl Env {
    fn requests(&self) -> u64 {
        self.emu.controls().counts().values().sum()
    }
    fn writes(&self) -> u64 {
        self.emu.controls().writes()
    }
    fn reset(&self) {
        self.emu.controls().reset_counts();
    }
}

/// The baseline: one server-side apply request, resource from a static plural guess.
async fn send_ssa(client: &kube::Client, object: &Value) {
    let (group, version) = object["apiVersion"]
        .as_str()
        .unwrap()
        .rsplit_once('/')
        .unwrap_or(("", "v1"));
    let kind = object["kind"].as_str().unwrap();
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let ar = ApiResource::from_gvk(&gvk);
    let name = object["metadata"]["name"].as_str().unwrap();
    let api: Api<DynamicObject> = if kind == "Namespace" {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), NS, &ar)
    };
    api.patch(
        name,
        &PatchParams::apply("baseline").force(),
        &Patch::Apply(object),
    )
    .await
    .unwrap();
}

/// The object as the reconciler sends it (its two labels), so both send the same bytes.
fn labelled(mut object: Value, module: usize) -> Value {
    object["metadata"]["labels"] = json!({
        "app.kubernetes.io/managed-by": "addon-operator",
        "addon-operator.io/module": format!("m{module}"),
    });
    object
}

async fn baseline_loop(client: &kube::Client, edit: usize) {
    for module in 0..MODULES {
        for object in module_objects(module, edit) {
            send_ssa(client, &labelled(object, module)).await;
        }
    }
}

/// `RECONCILER_BENCH_CONCURRENCY` overrides the per-stage concurrency (default 8).
fn reconciler_for(client: &kube::Client) -> Reconciler {
    let concurrency = std::env::var("RECONCILER_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    Reconciler::new(client.clone(), NS).with_concurrency(concurrency)
}

async fn reconcile_all(reconciler: &Reconciler, edit: usize) {
    for module in 0..MODULES {
        apply_edit(reconciler, module, edit).await;
    }
}

/// Applies module `m<module>` as rendered for `edit`.
async fn apply_edit(reconciler: &Reconciler, module: usize, edit: usize) -> ApplyReport {
    reconciler
        .apply_module(
            &format!("m{module}"),
            module_objects(module, edit),
            &ApplyOptions::default(),
        )
        .await
        .unwrap()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(mut samples: Vec<Duration>, p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(ours: Duration, base: Duration) -> String {
    format!("{:.2}×", ours.as_secs_f64() / base.as_secs_f64())
}

struct Row {
    scenario: &'static str,
    ours: (Duration, u64, u64),
    base: (Duration, u64, u64),
}

/// Cold apply and unchanged re-apply; `watch`: with the drift watch running (as in the
/// operator), whose cache replaces the per-kind LISTs.
async fn cold_and_unchanged(watch: bool) -> (Row, Row) {
    let (mut cold, mut cold_base, mut warm, mut warm_base) = (vec![], vec![], vec![], vec![]);
    let (mut cold_req, mut cold_base_req, mut warm_req, mut warm_base_req) =
        ((0, 0), (0, 0), (0, 0), (0, 0));
    for _ in 0..REPEAT {
        let e = env().await;
        let reconciler = reconciler_for(&e.client);
        let _drift = watch.then(|| reconciler.drift_watch(Duration::from_millis(300)));
        e.reset();
        let t = Instant::now();
        reconcile_all(&reconciler, 0).await;
        cold.push(t.elapsed());
        cold_req = (e.requests(), e.writes());
        if watch {
            // Let the watchers catch up with the cold apply's events.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        e.reset();
        let t = Instant::now();
        reconcile_all(&reconciler, 0).await;
        warm.push(t.elapsed());
        warm_req = (e.requests(), e.writes());

        let b = env().await;
        b.reset();
        let t = Instant::now();
        baseline_loop(&b.client, 0).await;
        cold_base.push(t.elapsed());
        cold_base_req = (b.requests(), b.writes());
        b.reset();
        let t = Instant::now();
        baseline_loop(&b.client, 0).await;
        warm_base.push(t.elapsed());
        warm_base_req = (b.requests(), b.writes());
    }
    let (cold_name, warm_name) = if watch {
        (
            "cold apply, drift watch on",
            "re-apply unchanged, drift watch on",
        )
    } else {
        (
            "cold apply, no drift watch",
            "re-apply unchanged, no drift watch",
        )
    };
    (
        Row {
            scenario: cold_name,
            ours: (median(cold), cold_req.0, cold_req.1),
            base: (median(cold_base), cold_base_req.0, cold_base_req.1),
        },
        Row {
            scenario: warm_name,
            ours: (median(warm), warm_req.0, warm_req.1),
            base: (median(warm_base), warm_base_req.0, warm_base_req.1),
        },
    )
}

async fn one_change() -> (Row, Duration, Duration) {
    let e = env().await;
    let reconciler = reconciler_for(&e.client);
    let _drift = reconciler.drift_watch(Duration::from_millis(300));
    reconcile_all(&reconciler, 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut ours, mut base) = (vec![], vec![]);
    let (mut ours_req, mut base_req) = ((0, 0), (0, 0));
    for edit in 1..=EDITS {
        let module = edit % MODULES;
        e.reset();
        let t = Instant::now();
        let report = apply_edit(&reconciler, module, edit).await;
        ours.push(t.elapsed());
        assert_eq!(report.updated.len(), 1, "exactly one object changed");
        ours_req = (e.requests(), e.writes());
        // The minimum: one SSA request for the changed object (a different value again).
        let changed = labelled(module_objects(module, edit + 1000).remove(2), module);
        e.reset();
        let t = Instant::now();
        send_ssa(&e.client, &changed).await;
        base.push(t.elapsed());
        base_req = (e.requests(), e.writes());
    }
    let (p99_ours, p99_base) = (
        percentile(ours.clone(), 0.99),
        percentile(base.clone(), 0.99),
    );
    (
        Row {
            scenario: "one ConfigMap changed, drift watch on (p50)",
            ours: (median(ours), ours_req.0, ours_req.1),
            base: (median(base), base_req.0, base_req.1),
        },
        p99_ours,
        p99_base,
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (cold, unchanged) = cold_and_unchanged(false).await;
        let (cold_watch, unchanged_watch) = cold_and_unchanged(true).await;
        let (change, p99_ours, p99_base) = one_change().await;
        println!("| scenario | reconciler: time | requests (writes) | baseline loop: time | requests (writes) | time ratio |");
        println!("|---|---|---|---|---|---|");
        for row in [&cold, &unchanged, &cold_watch, &unchanged_watch, &change] {
            println!(
                "| {} | {} | {} ({}) | {} | {} ({}) | {} |",
                row.scenario,
                ms(row.ours.0),
                row.ours.1,
                row.ours.2,
                ms(row.base.0),
                row.base.1,
                row.base.2,
                ratio(row.ours.0, row.base.0)
            );
        }
        println!(
            "| one ConfigMap changed, drift watch on (p99) | {} | | {} | | {} |",
            ms(p99_ours),
            ms(p99_base),
            ratio(p99_ours, p99_base)
        );
    });
}
