//! Chart rendering benchmark: a module with 200 objects (50 template files × Deployment,
//! Service, ConfigMap and ServiceAccount, using partials, `toYaml`/`nindent`, `quote`,
//! `default`, `sha256sum`), generated in a temp dir.
//!
//! - `render_200_objects`: `ChartRenderer::render` (templating, YAML split and parse, object
//!   checks, namespace defaulting, duplicate check) with a compiled renderer;
//! - `parse_only_200_objects` (baseline): parsing the same objects' already-expanded YAML
//!   with serde_yaml, i.e. what the render would cost without templating;
//! - `compile_module`: `ChartRenderer::new` (done once per module and chart change).
//!
//! Run: `cargo bench -p charts --bench render` (about 30 s). Record the medians and the
//! render/parse ratio in docs/benchmarks.md ("Chart rendering").
#![allow(clippy::unwrap_used, missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use charts::{ChartRenderer, ResourceScopes, discover};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use serde_json::{Value, json};

const FILES: usize = 50;

const LABELS: &str = "app.kubernetes.io/name: {{name}}\napp.kubernetes.io/instance: {{@root.Release.Name}}\napp.kubernetes.io/version: {{quote @root.Values.bench.image.tag}}\n";

fn template(i: usize) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  labels:
    {{{{> labels name="app-{i}"}}}}
spec:
  replicas: {{{{default 1 Values.bench.replicas}}}}
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i}
  template:
    metadata:
      labels:
        {{{{> labels name="app-{i}"}}}}
      annotations:
        checksum/config: {{{{sha256sum (toJson Values.bench.config)}}}}
    spec:
      serviceAccountName: app-{i}
      {{{{#if Values.bench.nodeSelector}}}}
      nodeSelector:{{{{nindent 8 (toYaml Values.bench.nodeSelector)}}}}
      {{{{/if}}}}
      containers:
        - name: app
          image: {{{{quote (join ":" (list Values.bench.image.repository Values.bench.image.tag))}}}}
          args: [--port=8080, --name=app-{i}]
          ports:
            - name: http
              containerPort: 8080
          resources:{{{{nindent 12 (toYaml Values.bench.resources)}}}}
---
apiVersion: v1
kind: Service
metadata:
  name: app-{i}
  labels:
    {{{{> labels name="app-{i}"}}}}
spec:
  type: {{{{default "ClusterIP" Values.bench.serviceType}}}}
  selector:
    app.kubernetes.io/name: app-{i}
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{i}
  labels:
    {{{{> labels name="app-{i}"}}}}
data:{{{{nindent 2 (toYaml Values.bench.config)}}}}
  cluster: {{{{quote Values.global.clusterName}}}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app-{i}
  labels:
    {{{{> labels name="app-{i}"}}}}
"#
    )
}

fn values() -> Value {
    json!({
        "global": {"clusterName": "bench"},
        "bench": {
            "replicas": 3,
            "image": {"repository": "registry.example.com/app", "tag": "1.2.3"},
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "config": {"LOG_LEVEL": "info", "FEATURE_X": "true", "TIMEOUT": "30s"}
        }
    })
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let module_dir = dir.path().join("010-bench/templates");
    std::fs::create_dir_all(&module_dir).unwrap();
    std::fs::write(module_dir.join("_labels.hbs"), LABELS).unwrap();
    for i in 0..FILES {
        std::fs::write(module_dir.join(format!("app-{i:03}.yaml")), template(i)).unwrap();
    }
    let set = discover(&[dir.path().to_path_buf()]).unwrap();
    let module = &set.modules[0];
    let renderer = ChartRenderer::new(module).unwrap();
    let (values, scopes) = (values(), ResourceScopes::builtin());
    let objects = renderer.render(&values, "ops", &scopes).unwrap();
    assert_eq!(objects.len(), FILES * 4);

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
