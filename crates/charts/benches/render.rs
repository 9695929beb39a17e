//! Chart rendering benchmark: a module with 200 objects (50 template files × Deployment,
//! Service, ConfigMap and ServiceAccount, using partials, `toYaml`/`nindent`, `quote`,
//! `default`, `sha256sum`; `common/chart200.rs`), generated in a temp dir.
//!
//! - `render_200_objects`: `ChartRenderer::render` (templating, YAML split and parse, object
//!   checks, namespace defaulting, duplicate check) with a compiled renderer;
//! - `parse_only_200_objects` (baseline): parsing the same objects' already-expanded YAML
//!   with serde_yaml, i.e. what the render would cost without templating;
//! - `compile_module`: `ChartRenderer::new` (done once per module and chart change).
//!
//! Run: `cargo bench -p charts --bench render` (about 30 s). Record the medians and the
//! render/parse ratio in docs/benchmarks.md ("Chart rendering").
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "common/chart200.rs"]
mod chart200;

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use charts::{ChartRenderer, ResourceScopes, discover};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use serde_json::Value;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let set = discover(&[chart200::write_module(dir.path())]).unwrap();
    let module = &set.modules()[0];
    let renderer = ChartRenderer::new(module).unwrap();
    let (values, scopes) = (chart200::values(), ResourceScopes::builtin());
    let objects = renderer.render(&values, "ops", &scopes).unwrap();
    assert_eq!(objects.len(), chart200::FILES * 4);

    // The baseline input: the same objects as expanded YAML, one stream.
    let mut expanded = String::new();
    for o in &objects {
        let _ = write!(
            expanded,
            "---\n{}",
            yaml_json::to_string(&o.object).unwrap()
        );
    }

    c.bench_function("render_200_objects", |b| {
        b.iter(|| renderer.render(black_box(&values), "ops", &scopes).unwrap())
    });
    c.bench_function("parse_only_200_objects", |b| {
        b.iter(|| {
            serde_yaml::Deserializer::from_str(black_box(&expanded))
                .map(|d| Value::deserialize(d).unwrap())
                .collect::<Vec<_>>()
        })
    });
    c.bench_function("compile_module", |b| {
        b.iter(|| ChartRenderer::new(black_box(module)).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
