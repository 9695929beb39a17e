//! The operator's own Prometheus metrics, named as in addon-operator (`addon_operator_` prefix).

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Every metric the operator itself exports; hook metrics are rendered next to them.
#[derive(Clone)]
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// Rejected ConfigMap changes (bad YAML, schema violation, unknown key).
    pub config_values_errors: IntCounter,
    /// 1 while the ConfigMap is missing (deleted, or absent at a restart): the last good
    /// values stay and nothing is disabled or deleted.
    pub config_map_missing: IntGauge,
    /// Time spent converging one module (render + apply), by module.
    pub module_run_seconds: HistogramVec,
    /// Failed module runs, by module.
    pub module_run_errors: IntCounterVec,
    /// Failed module deletions, by module.
    pub module_delete_errors: IntCounterVec,
    /// Objects written by server-side apply, by module.
    pub module_objects_applied: IntCounterVec,
    /// Objects pruned (deleted because no longer rendered), by module.
    pub module_objects_pruned: IntCounterVec,
    /// Drift repairs (an applied object changed or deleted by someone else), by module.
    pub module_drift_repairs: IntCounterVec,
    /// 1 if the module is enabled, else 0, by module.
    pub module_enabled: IntGaugeVec,
    /// Completed full convergences.
    pub convergence_total: IntCounter,
    /// Duration of full convergences.
    pub convergence_seconds: Histogram,
}

impl Metrics {
    /// Creates and registers every metric under `prefix` (addon-operator's default is `addon_operator_`).
    pub fn new(prefix: &str) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let name = |n: &str| format!("{prefix}{n}");
        let counter = |n: &str, help: &str| IntCounter::with_opts(Opts::new(name(n), help));
        let by_module =
            |n: &str, help: &str| IntCounterVec::new(Opts::new(name(n), help), &["module"]);
        let metrics = Metrics {
            config_values_errors: counter(
                "config_values_errors_total",
                "Rejected changes of the addon-operator ConfigMap.",
            )?,
            config_map_missing: IntGauge::with_opts(Opts::new(
                name("config_map_missing"),
                "1 while the addon-operator ConfigMap is missing; the last good values stay.",
            ))?,
            module_run_seconds: HistogramVec::new(
                HistogramOpts::new(name("module_run_seconds"), "Duration of module runs."),
                &["module"],
            )?,
            module_run_errors: by_module("module_run_errors_total", "Failed module runs.")?,
            module_delete_errors: by_module(
                "module_delete_errors_total",
                "Failed module deletions.",
            )?,
            module_objects_applied: by_module(
                "module_objects_applied_total",
                "Objects written by server-side apply.",
            )?,
            module_objects_pruned: by_module(
                "module_objects_pruned_total",
                "Objects deleted because the module no longer renders them.",
            )?,
            module_drift_repairs: by_module(
                "module_drift_repairs_total",
                "Re-applies caused by objects changed or deleted outside the operator.",
            )?,
            module_enabled: IntGaugeVec::new(
                Opts::new(name("mm_module_enabled"), "1 if the module is enabled."),
                &["module"],
            )?,
            convergence_total: counter(
                "convergence_total",
                "Completed convergences of all modules.",
            )?,
            convergence_seconds: Histogram::with_opts(HistogramOpts::new(
                name("convergence_seconds"),
                "Duration of convergences.",
            ))?,
            registry,
        };
        metrics.register_all()?;
        Ok(metrics)
    }

    /// Every collector of the operator, once (registration and [`Metrics::family_names`]).
    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.config_values_errors.clone()),
            Box::new(self.config_map_missing.clone()),
            Box::new(self.module_run_seconds.clone()),
            Box::new(self.module_run_errors.clone()),
            Box::new(self.module_delete_errors.clone()),
            Box::new(self.module_objects_applied.clone()),
            Box::new(self.module_objects_pruned.clone()),
            Box::new(self.module_drift_repairs.clone()),
            Box::new(self.module_enabled.clone()),
            Box::new(self.convergence_total.clone()),
            Box::new(self.convergence_seconds.clone()),
        ]
    }

    fn register_all(&self) -> prometheus::Result<()> {
        for collector in self.collectors() {
            self.registry.register(collector)?;
        }
        Ok(())
    }

    /// The names of the operator's metric families, which hook metrics may not reuse (they
    /// share `/metrics`).
    pub fn family_names(&self) -> Vec<String> {
        self.collectors()
            .iter()
            .flat_map(|c| c.desc().into_iter().map(|d| d.fq_name.clone()))
            .collect()
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        let encoder = prometheus::TextEncoder::new();
        encoder
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|err| format!("# failed to encode metrics: {err}\n"))
    }
}
