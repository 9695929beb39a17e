//! Issue 14 benchmark: the 200-object module of `render.rs` rendered by [`ChartRenderer`]
//! against Helm 4 rendering the equivalent Go-template chart (`common/chart200.rs` writes
//! both), measured in the same run, after checking that both give the same set of objects.
//!
//! Run: `bench/render-vs-helm.sh` (builds the release `addon-operator` for the process rows,
//! then runs `cargo bench -p charts --bench render_vs_helm`). Its setup creates a venv under
//! the target directory with the PyPI wheel `helm-python-sdk` (Helm 4 in-process) through
//! `bench/helm4-venv.sh`; `scripts/test.sh` never does.
//!
//! In-process, ROUNDS alternating rounds of RENDERS renders per side, so load changes on the
//! shared machine hit both alike:
//! - Helm 4: `Chart.render` of the chart loaded once (it parses and executes the Go templates
//!   on every call, as on every install or upgrade) and returns the manifests as text;
//! - module, compiled once: `ChartRenderer::render` (templating, YAML parse into objects,
//!   identity checks, namespace defaulting, duplicate check), with a value that every
//!   template prints changed before each render, so nothing rendered before can be reused;
//! - module, compile + render: a fresh `ChartRenderer` for every render.
//!
//! As processes (startup included), PROCESS_RUNS alternating runs each: `addon-operator
//! render -o yaml` of the module set against `python helm_render.py` (Python start, loading
//! Helm's library, the chart, one render, printing the manifest). The `addon-operator` binary
//! is `$ADDON_OPERATOR_BIN`, else `<target>/release/addon-operator`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "common/chart200.rs"]
mod chart200;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use charts::{ChartRenderer, ResourceScopes, discover};
use serde_json::{Value, json};

const NAMESPACE: &str = "bench-ns";
const ROUNDS: usize = 5;
const RENDERS: usize = 40;
const PROCESS_RUNS: usize = 15;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from)
}

/// The venv's Python with helm-python-sdk, from `bench/helm4-venv.sh`.
fn helm_python() -> PathBuf {
    let out = Command::new(repo_root().join("bench/helm4-venv.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running bench/helm4-venv.sh");
    assert!(out.status.success(), "bench/helm4-venv.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn helm_script() -> PathBuf {
    repo_root().join("crates/convert/tests/helm_render.py")
}

/// Runs `helm_render.py` (args before the chart) for the chart's default values; returns its
/// JSON answer and the wall time of the whole process.
fn helm_process(python: &Path, extra: &[&str], chart: &Path) -> (Value, Duration) {
    let start = Instant::now();
    let mut child = Command::new(python)
        .arg(helm_script())
        .args(extra)
        .arg(chart)
        .args([chart200::NAME, NAMESPACE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting helm_render.py");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"[{"name": "default", "values": null}]"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let elapsed = start.elapsed();
    assert!(out.status.success(), "helm_render.py failed");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    (answer[0].clone(), elapsed)
}

/// An object as a canonical string (keys sorted at every level), for set comparison.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let s: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(s.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// Helm's manifest as objects, with the namespace the module renderer defaults (every kind of
/// the chart is namespaced).
fn helm_objects(manifest: &str) -> Vec<String> {
    let (docs, err) = yaml_json::parse_stream(manifest);
    assert!(err.is_none(), "Helm's manifest does not parse: {err:?}");
    let mut objects: Vec<String> = docs
        .into_iter()
        .filter(|d| !d.is_null())
        .map(|mut d| {
            d["metadata"]["namespace"] = json!(NAMESPACE);
            canonical(&d)
        })
        .collect();
    objects.sort();
    objects
}

fn our_objects(renderer: &ChartRenderer, values: &Value) -> Vec<String> {
    let rendered = renderer
        .render(values, NAMESPACE, &ResourceScopes::builtin())
        .unwrap();
    let mut objects: Vec<String> = rendered.iter().map(|o| canonical(&o.object)).collect();
    objects.sort();
    objects
}

/// The values with image tag `tag`: every template prints it, so each render differs from the
/// one before.
fn values_with_tag(base: &Value, tag: usize) -> Value {
    let mut v = base.clone();
    v["bench"]["image"]["tag"] = json!(format!("1.2.{tag}"));
    v
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn addon_operator() -> PathBuf {
    let bin = std::env::var_os("ADDON_OPERATOR_BIN").map_or_else(
        || target_dir().join("release/addon-operator"),
        PathBuf::from,
    );
    assert!(
        bin.is_file(),
        "{} not found: build it with `cargo build --release -p operator` (bench/render-vs-helm.sh does)",
        bin.display()
    );
    bin
}

fn operator_render(bin: &Path, modules: &Path) -> (String, Duration) {
    let start = Instant::now();
    let out = Command::new(bin)
        .args([
            "render",
            "--namespace",
            NAMESPACE,
            "-o",
            "yaml",
            "--modules-dir",
        ])
        .arg(modules)
        .env("LOG_LEVEL", "error")
        .output()
        .expect("running addon-operator render");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "addon-operator render failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8(out.stdout).unwrap(), elapsed)
}

fn main() {
    let python = helm_python();
    let bin = addon_operator();
    let dir = tempfile::tempdir().unwrap();
    let modules = chart200::write_module(dir.path());
    let chart = chart200::write_helm_chart(dir.path());
    let set = discover(std::slice::from_ref(&modules)).unwrap();
    let module = &set.modules()[0];
    let renderer = ChartRenderer::new(module).unwrap();
    let scopes = ResourceScopes::builtin();
    let values = chart200::values();

    // The same objects, from both renderers and from the `render` command.
    let (helm, _) = helm_process(&python, &[], &chart);
    let helm_set = helm_objects(helm["manifest"].as_str().expect("Helm rendered the chart"));
    let ours = our_objects(&renderer, &values);
    assert_eq!(ours.len(), chart200::FILES * 4);
    assert_eq!(helm_set.len(), ours.len(), "object counts differ");
    for (h, o) in helm_set.iter().zip(&ours) {
        assert_eq!(h, o, "Helm and the module render different objects");
    }
    let (text, _) = operator_render(&bin, &modules);
    assert_eq!(
        helm_objects(&text),
        ours,
        "`addon-operator render` printed other objects"
    );
    println!(
        "same objects: {} from Helm 4, ChartRenderer and `addon-operator render`",
        ours.len()
    );

    let (mut helm_t, mut ours_t, mut compile_t) = (Vec::new(), Vec::new(), Vec::new());
    let mut tag = 0;
    for _ in 0..ROUNDS {
        let (answer, _) = helm_process(&python, &["--bench", &RENDERS.to_string()], &chart);
        helm_t.extend(
            answer["seconds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| Duration::from_secs_f64(s.as_f64().unwrap())),
        );
        for _ in 0..RENDERS {
            tag += 1;
            let v = values_with_tag(&values, tag);
            let start = Instant::now();
            let objects = renderer.render(&v, NAMESPACE, &scopes).unwrap();
            ours_t.push(start.elapsed());
            std::hint::black_box(objects);
            let start = Instant::now();
            let fresh = ChartRenderer::new(module).unwrap();
            let objects = fresh.render(&v, NAMESPACE, &scopes).unwrap();
            compile_t.push(start.elapsed());
            std::hint::black_box(objects);
        }
    }
    let (mut helm_p, mut ours_p) = (Vec::new(), Vec::new());
    for _ in 0..PROCESS_RUNS {
        helm_p.push(helm_process(&python, &[], &chart).1);
        ours_p.push(operator_render(&bin, &modules).1);
    }
    let (h, o, c) = (median(&helm_t), median(&ours_t), median(&compile_t));
    let (hp, op) = (median(&helm_p), median(&ours_p));
    let x = |a: Duration, b: Duration| format!("{:.1}×", a.as_secs_f64() / b.as_secs_f64());
    println!(
        "\n{} templates, {} objects; in-process {} renders per side in {ROUNDS} alternating rounds; {PROCESS_RUNS} process runs per side\n",
        chart200::FILES,
        ours.len(),
        ROUNDS * RENDERS
    );
    println!("| what (median) | Helm 4 | module | Helm / module |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| render, in process (module compiled once) | {} | {} | **{}** |",
        ms(h),
        ms(o),
        x(h, o)
    );
    println!(
        "| compile + render, in process | {} | {} | {} |",
        ms(h),
        ms(c),
        x(h, c)
    );
    println!(
        "| whole process: `python helm_render.py` / `addon-operator render` | {} | {} | **{}** |",
        ms(hp),
        ms(op),
        x(hp, op)
    );
}
