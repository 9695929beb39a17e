//! The metric definitions against what is registered and against docs/metrics.md.
#![allow(clippy::unwrap_used)]

use super::*;

use hooks::MetricDef;

const PREFIX: &str = "addon_operator_";

/// Every metric the operator itself exports under `prefix`.
pub fn operator_metrics(prefix: &str) -> Vec<MetricDef> {
    OPERATOR_METRICS
        .iter()
        .map(|(name, kind, labels, help)| MetricDef {
            name: format!("{prefix}{name}"),
            kind: *kind,
            labels,
            help,
        })
        .collect()
}

/// docs/metrics.md, from the repository root.
fn doc_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md")
}

const BEGIN: &str = "<!-- BEGIN GENERATED from the metric definitions: GOLDEN_OVERWRITE=1 cargo test -p operator --bin addon-operator metrics -->";
const END: &str = "<!-- END GENERATED -->";

fn table(defs: &[MetricDef]) -> String {
    let mut out = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for d in defs {
        let labels: Vec<String> = d.labels.iter().map(|l| format!("`{l}`")).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            d.name,
            d.kind.as_str(),
            labels.join(", "),
            d.help.replace('|', "\\|")
        ));
    }
    out
}

/// The generated part of docs/metrics.md.
fn generated() -> String {
    format!(
        "{BEGIN}\n\n### The operator (`crates/operator/src/metrics.rs`)\n\n{}\n### The hook engine (`crates/hooks/src/metrics.rs`)\n\nOne family per scope: `module_hook_*` for module hooks, `global_hook_*` for global hooks (their `module` label is empty).\n\n{}\n{END}",
        table(&operator_metrics(PREFIX)),
        table(&hooks::engine_metrics(PREFIX)),
    )
}

#[test]
fn every_registered_family_has_one_definition_of_its_type() {
    let metrics = Metrics::new(PREFIX).unwrap();
    let mut registered = metrics.family_names();
    registered.sort();
    let mut defined: Vec<String> = operator_metrics(PREFIX)
        .into_iter()
        .map(|d| d.name)
        .collect();
    defined.sort();
    assert_eq!(registered, defined);
    for family in metrics.registry.gather() {
        let def = operator_metrics(PREFIX)
            .into_iter()
            .find(|d| d.name == family.name())
            .unwrap();
        let kind = match family.get_field_type() {
            prometheus::proto::MetricType::COUNTER => MetricType::Counter,
            prometheus::proto::MetricType::GAUGE => MetricType::Gauge,
            _ => MetricType::Histogram,
        };
        assert_eq!(kind, def.kind, "{}", def.name);
        assert_eq!(family.help(), def.help);
    }
}

#[test]
fn docs_metrics_md_lists_every_metric_from_the_definitions() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let (Some(start), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("{} lacks the generated section markers", path.display())
    };
    let current = &doc[start..end + END.len()];
    let fresh = generated();
    if std::env::var_os("GOLDEN_OVERWRITE").is_some() && current != fresh {
        std::fs::write(&path, doc.replace(current, &fresh)).unwrap();
        return;
    }
    assert!(
        current == fresh,
        "docs/metrics.md is stale: run GOLDEN_OVERWRITE=1 cargo test -p operator --bin addon-operator metrics\n--- generated\n{fresh}"
    );
}

/// Every metric addon-operator (`pkg/metrics/metrics.go`) and shell-operator
/// (`pkg/metrics/metrics.go`) register, without the prefix.
const THEIRS: &[&str] = &[
    "binding_count",
    "config_values_errors_total",
    "modules_discover_errors_total",
    "module_delete_errors_total",
    "module_run_seconds",
    "module_run_errors_total",
    "modules_helm_release_redeployed_total",
    "modules_absent_resources_total",
    "mm_module_info",
    "mm_module_maintenance",
    "module_hook_run_seconds",
    "module_hook_run_user_cpu_seconds",
    "module_hook_run_sys_cpu_seconds",
    "module_hook_run_max_rss_bytes",
    "module_hook_allowed_errors_total",
    "module_hook_errors_total",
    "module_hook_success_total",
    "global_hook_run_seconds",
    "global_hook_run_user_cpu_seconds",
    "global_hook_run_sys_cpu_seconds",
    "global_hook_run_max_rss_bytes",
    "global_hook_allowed_errors_total",
    "global_hook_errors_total",
    "global_hook_success_total",
    "convergence_seconds",
    "convergence_total",
    "module_helm_seconds",
    "helm_operation_seconds",
    "helm_fallback_total",
    "d8_telemetry_helm_fallback_total",
    "task_wait_in_queue_seconds_total",
    "tasks_queue_length",
    "live_ticks",
    "tasks_queue_action_duration_seconds",
    "d8_telemetry_tasks_queue_compaction_in_queue_tasks",
    "d8_telemetry_tasks_queue_compaction_reached",
    "hook_enable_kubernetes_bindings_seconds",
    "hook_enable_kubernetes_bindings_errors_total",
    "hook_enable_kubernetes_bindings_success",
    "hook_run_seconds",
    "hook_run_user_cpu_seconds",
    "hook_run_sys_cpu_seconds",
    "hook_run_max_rss_bytes",
    "hook_run_errors_total",
    "hook_run_allowed_errors_total",
    "hook_run_success_total",
    "kube_snapshot_objects",
    "kube_jq_filter_duration_seconds",
    "kube_event_duration_seconds",
    "kubernetes_client_watch_errors_total",
];

#[test]
fn the_compatibility_table_places_every_addon_operator_and_shell_operator_metric() {
    let doc = std::fs::read_to_string(doc_path()).unwrap_or_default();
    let ours: Vec<String> = operator_metrics(PREFIX)
        .into_iter()
        .chain(hooks::engine_metrics(PREFIX))
        .map(|d| d.name)
        .collect();
    for name in THEIRS {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/metrics.md has no compatibility row for {name}"));
        let cells: Vec<&str> = row.split(" | ").collect();
        assert!(cells.len() >= 4, "{row}");
        match cells[2].trim() {
            "present" => assert!(
                ours.contains(&format!("{PREFIX}{name}")),
                "{name} is marked present but is not defined here"
            ),
            "absent" => assert!(
                cells[3].trim().trim_end_matches('|').trim().len() > 10,
                "{name}: an absent metric needs its reason"
            ),
            other => panic!("{name}: the third cell says {other:?}, expected present or absent"),
        }
    }
}
