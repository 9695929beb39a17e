//! Cost of a ConfigMap edit in the values store: decode + validate + re-layer 50 modules.
//!
//! Run: `cargo bench -p values --bench config_change`
//!
//! Baseline in the same run: the minimum work of a ConfigMap edit without this crate's rules —
//! parse every section's YAML and deep-merge it over the static values, no schema, no defaults.
//! The ratio of the two is the price of validation, defaults and change detection.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use values::{ConfigValues, GlobalSpec, ModuleSpec, ValuesStore, merge_layers};

const MODULES: usize = 50;

fn key(i: usize) -> String {
    format!("module{i}")
}

fn schema() -> Value {
    let mut properties = serde_json::Map::new();
    for field in 0..8 {
        properties.insert(
            format!("field{field}"),
            json!({"type": "string", "default": "d"}),
        );
    }
    properties.insert(
        "replicas".into(),
        json!({"type": "integer", "minimum": 1, "default": 1}),
    );
    properties.insert(
        "resources".into(),
        json!({"type": "object", "default": {}, "properties": {
            "cpu": {"type": "string", "default": "100m"},
            "memory": {"type": "string", "default": "128Mi"}
        }}),
    );
    json!({"type": "object", "properties": properties})
}

fn statics() -> Value {
    json!({"image": {"repo": "r", "tag": "1"}, "nodeSelector": {"a": "b"}, "tolerations": [{"key": "k"}]})
}

fn store() -> ValuesStore {
    let modules = (0..MODULES)
        .map(|i| ModuleSpec {
            key: key(i),
            name: format!("module-{i}"),
            module_values: statics(),
            module_enabled: Some(true),
            config_schema: Some(schema()),
            values_schema: Some(json!({
                "x-extend": {"schema": "config-values.yaml"},
                "type": "object",
                "properties": {
                    "image": {"type": "object", "additionalProperties": true},
                    "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
                    "tolerations": {"type": "array", "items": {"type": "object", "additionalProperties": true}}
                }
            })),
            ..Default::default()
        })
        .collect();
    ValuesStore::new(GlobalSpec::default(), modules).unwrap()
}

fn data(replicas: u32) -> BTreeMap<String, String> {
    let mut data: BTreeMap<String, String> = (0..MODULES)
        .map(|i| {
            (
                key(i),
                "replicas: 2\nfield3: x\nresources:\n  cpu: 200m\n".to_string(),
            )
        })
        .collect();
    data.insert(key(7), format!("replicas: {replicas}\n"));
    data.insert("global".into(), "clusterName: c\n".into());
    data
}

fn bench(c: &mut Criterion) {
    let mut store = store();
    let known = store.known_keys().clone();
    let edits = [data(3), data(4)];
    let mut group = c.benchmark_group("configmap_edit_50_modules");
    group.bench_function("baseline_yaml_and_merge_only", |b| {
        let statics = statics();
        let mut n = 0;
        b.iter(|| {
            n += 1;
            let merged: Vec<Value> = edits[n % 2]
                .values()
                .map(|yaml| {
                    let config: Value = yaml_json::parse_one(yaml).unwrap();
                    merge_layers([&statics, &config])
                })
                .collect();
            black_box(merged)
        })
    });
    group.bench_function("decode_and_apply_config", |b| {
        let mut n = 0;
        b.iter(|| {
            n += 1;
            let config = ConfigValues::decode(&edits[n % 2], &known).unwrap();
            black_box(store.apply_config(config).unwrap())
        })
    });
    group.finish();
    let files: BTreeMap<String, Vec<u8>> = (0..20)
        .map(|i| (format!("templates/t{i}.yaml"), vec![b'x'; 2048]))
        .collect();
    c.bench_function("files_digest_20_files_of_2k", |b| {
        b.iter(|| black_box(values::files_digest(&files)))
    });
    let digest = values::files_digest(&files);
    c.bench_function("module_checksum", |b| {
        b.iter(|| black_box(store.module_checksum(&key(7), &digest).unwrap()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
