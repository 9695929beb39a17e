//! Issue 15 benchmark: a chart converted by `addon-operator convert-chart`, rendered by the
//! module renderer, against Helm 4 rendering the original chart, measured in the same run.
//!
//! Run: `cargo bench -p operator --bench convert_chart` (release build). Its own setup
//! creates a Python venv under the target directory with the PyPI wheel `helm-python-sdk`
//! (Helm 4 in-process) if it is not there yet, as `refresh-fixtures.py` does.
//!
//! For every chart under `crates/convert/tests/charts/` that converts without problems, and
//! each values file of its goldens: Helm renders the chart ROUNDS × RENDERS times in one
//! Python process with the chart loaded once (each `Chart.render` call parses and executes the
//! templates, as Helm does on every install or upgrade); the module renderer renders the
//! converted module as many times with its templates compiled once (as the operator keeps a
//! `ChartRenderer` per module), and, separately, compile + render. Rounds alternate between
//! the two so that load changes on the shared machine hit both alike. It prints a markdown
//! table of medians and the ratios.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use charts::{ChartRenderer, ResourceScopes};
use serde_json::{Value, json};

const NAMESPACE: &str = "convert-test";
const ROUNDS: usize = 5;
const RENDERS: usize = 40;
const HELM_SDK: &str = "helm-python-sdk==0.2.2";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv with helm-python-sdk: created on first use.
fn helm_python() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let venv = target.join("helm4-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()?
            .success();
        if !ok {
            bail!(
                "creating the venv {} failed (is python3-venv installed?)",
                venv.display()
            );
        }
    }
    let ok = Command::new(&python)
        .args(["-m", "pip", "install", "-q", HELM_SDK])
        .status()?
        .success();
    if !ok {
        bail!("installing {HELM_SDK} into {} failed", venv.display());
    }
    Ok(python)
}

/// One chart × values pair.
struct Case {
    chart: String,
    values_name: String,
    values_file: Option<PathBuf>,
    module_values: Value,
    helm: Vec<f64>,
    ours: Vec<f64>,
    ours_compile: Vec<f64>,
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn values_file(fixture: &Path, name: &str) -> Option<PathBuf> {
    if name == "default" {
        return None;
    }
    [
        fixture.join("chart/ci").join(format!("{name}.yaml")),
        fixture.join("chart").join(format!("{name}.yaml")),
        fixture.join("values").join(format!("{name}.yaml")),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

fn helm_times(python: &Path, fixture: &Path, name: &str, cases: &[&Case]) -> Result<Vec<Vec<f64>>> {
    let jobs: Vec<Value> = cases
        .iter()
        .map(|c| json!({"name": c.values_name, "values": c.values_file}))
        .collect();
    let script = repo_root().join("crates/convert/tests/helm_render.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(["--bench", &RENDERS.to_string()])
        .arg(fixture.join("chart"))
        .args([name, NAMESPACE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    serde_json::to_writer(child.stdin.take().context("stdin")?, &jobs)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("helm_render.py --bench failed for {name}");
    }
    let results: Vec<Value> = serde_json::from_slice(&out.stdout)?;
    Ok(results
        .iter()
        .map(|r| {
            r["seconds"]
                .as_array()
                .map(|s| s.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default()
        })
        .collect())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn run() -> Result<()> {
    let python = helm_python()?;
    let helpers: Vec<String> = charts::HELPERS.iter().map(|h| h.name.to_owned()).collect();
    let fixtures_dir = repo_root().join("crates/convert/tests/charts");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&fixtures_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("chart/Chart.yaml").is_file())
        .collect();
    fixtures.sort();
    let work = tempfile::tempdir()?;
    let mut table = Vec::new();
    for fixture in &fixtures {
        let name = fixture
            .file_name()
            .context("name")?
            .to_string_lossy()
            .into_owned();
        let chart = convert::ChartFiles::read(&fixture.join("chart"))?;
        let key = charts::values_key(&name);
        let options = convert::Options {
            name: name.clone(),
            key: key.clone(),
            helpers: helpers.clone(),
            allow_partial: false,
        };
        let conversion = convert::convert(&chart, &options);
        if !conversion.problems.is_empty() {
            println!(
                "{name}: does not convert ({} problems), not measured",
                conversion.problems.len()
            );
            continue;
        }
        let template_bytes: usize = chart
            .files
            .iter()
            .filter(|(p, _)| p.starts_with("templates/") && !p.starts_with("templates/tests/"))
            .map(|(_, b)| b.len())
            .sum();
        let modules = work.path().join(&name);
        for (rel, content) in &conversion.files {
            let path = modules.join(&name).join(rel);
            std::fs::create_dir_all(path.parent().context("parent")?)?;
            std::fs::write(path, content)?;
        }
        let set = charts::discover(&[modules]).map_err(|e| anyhow::anyhow!("{e}"))?;
        let module = &set.modules()[0];
        let mut cases = Vec::new();
        for entry in std::fs::read_dir(fixture.join("golden"))? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let values_name = path
                .file_stem()
                .context("stem")?
                .to_string_lossy()
                .into_owned();
            let file = values_file(fixture, &values_name);
            let mut section = module.static_values.get(&key).cloned().unwrap_or(json!({}));
            if let Some(f) = &file {
                let mut over: Value = serde_yaml::from_str(&std::fs::read_to_string(f)?)?;
                let cx = convert::EmitContext {
                    helpers: helpers.clone(),
                    ..Default::default()
                };
                if !convert::values_to_handlebars(&mut over, &cx).is_empty() {
                    bail!("{}: templates in values do not convert", f.display());
                }
                merge(&mut section, &over);
            }
            cases.push(Case {
                chart: format!("{name} ({template_bytes} B of templates)"),
                values_name,
                values_file: file,
                module_values: json!({"global": {}, key.clone(): section}),
                helm: Vec::new(),
                ours: Vec::new(),
                ours_compile: Vec::new(),
            });
        }
        cases.sort_by(|a, b| a.values_name.cmp(&b.values_name));
        let scopes = ResourceScopes::builtin();
        let renderer = ChartRenderer::new(module).map_err(|e| anyhow::anyhow!("{e}"))?;
        for _ in 0..ROUNDS {
            let refs: Vec<&Case> = cases.iter().collect();
            let helm = helm_times(&python, fixture, &name, &refs)?;
            for (case, times) in cases.iter_mut().zip(helm) {
                case.helm.extend(times);
                for _ in 0..RENDERS {
                    let start = Instant::now();
                    let objects = renderer
                        .render(&case.module_values, NAMESPACE, &scopes)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    case.ours.push(start.elapsed().as_secs_f64());
                    std::hint::black_box(objects);
                    let start = Instant::now();
                    let fresh = ChartRenderer::new(module).map_err(|e| anyhow::anyhow!("{e}"))?;
                    let objects = fresh
                        .render(&case.module_values, NAMESPACE, &scopes)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    case.ours_compile.push(start.elapsed().as_secs_f64());
                    std::hint::black_box(objects);
                }
            }
        }
        table.extend(cases);
    }
    let ms = |s: f64| format!("{:.3} ms", s * 1e3);
    println!(
        "\n| chart | values | Helm 4 render (median) | converted module: render | ratio | compile + render | ratio |"
    );
    println!("|---|---|---|---|---|---|---|");
    for c in &table {
        let (h, o, oc) = (median(&c.helm), median(&c.ours), median(&c.ours_compile));
        println!(
            "| {} | {} | {} | {} | {:.2} | {} | {:.2} |",
            c.chart,
            c.values_name,
            ms(h),
            ms(o),
            o / h,
            ms(oc),
            oc / h
        );
    }
    println!(
        "\n{} renders per side per pair, in {ROUNDS} alternating rounds.",
        ROUNDS * RENDERS
    );
    Ok(())
}
