//! The operator's own Prometheus metrics, named as in addon-operator (`addon_operator_` prefix),
//! each defined once in [`OPERATOR_METRICS`]: the collectors, the names hook metrics may not
//! reuse and `docs/metrics.md` all come from that table (with the hook engine's
//! [`hooks::engine_metrics`]).

use std::time::Instant;

use hooks::MetricType;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// The operator's metrics: name (after the prefix), type, labels, meaning.
const OPERATOR_METRICS: &[(&str, MetricType, &[&str], &str)] = &[
    (
        "config_values_errors_total",
        MetricType::Counter,
        &[],
        "Rejected changes of the addon-operator ConfigMap (bad YAML, schema violation, unknown key); the last good values stay.",
    ),
    (
        "config_map_missing",
        MetricType::Gauge,
        &[],
        "1 while the addon-operator ConfigMap is missing (deleted, or absent at a restart with modules installed); the last good values stay and nothing is deleted.",
    ),
    (
        "module_run_seconds",
        MetricType::Histogram,
        &["module"],
        "Duration of module runs (hooks, render and apply).",
    ),
    (
        "module_run_errors_total",
        MetricType::Counter,
        &["module"],
        "Failed module runs (each is retried with backoff).",
    ),
    (
        "module_delete_errors_total",
        MetricType::Counter,
        &["module"],
        "Failed deletions of a disabled module (each is retried).",
    ),
    (
        "module_objects_applied_total",
        MetricType::Counter,
        &["module"],
        "Objects written by server-side apply (unchanged objects are not written).",
    ),
    (
        "module_objects_pruned_total",
        MetricType::Counter,
        &["module"],
        "Objects deleted because the module no longer renders them.",
    ),
    (
        "module_drift_repairs_total",
        MetricType::Counter,
        &["module"],
        "Re-applies caused by objects changed or deleted outside the operator.",
    ),
    (
        "mm_module_enabled",
        MetricType::Gauge,
        &["module"],
        "1 if the module is enabled, else 0.",
    ),
    (
        "convergence_total",
        MetricType::Counter,
        &[],
        "Completed convergences of all modules (the first one, and each after a global change).",
    ),
    (
        "convergence_seconds",
        MetricType::Histogram,
        &[],
        "Duration of convergences of all modules.",
    ),
    (
        "live_ticks",
        MetricType::Counter,
        &[],
        "Ten-second ticks since the process started: a flat line means the operator is stuck or gone.",
    ),
];

/// How often `live_ticks` ticks.
const TICK_SECONDS: u64 = 10;

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
    /// Ticks since the start, brought up to date on each render.
    live_ticks: IntCounter,
    started: Instant,
}

/// The definition of `name` (after the prefix) in [`OPERATOR_METRICS`].
fn def(
    name: &str,
) -> prometheus::Result<&'static (
    &'static str,
    MetricType,
    &'static [&'static str],
    &'static str,
)> {
    OPERATOR_METRICS
        .iter()
        .find(|d| d.0 == name)
        .ok_or_else(|| prometheus::Error::Msg(format!("metric {name} has no definition")))
}

impl Metrics {
    /// Creates and registers every metric under `prefix` (addon-operator's default is `addon_operator_`).
    pub fn new(prefix: &str) -> prometheus::Result<Self> {
        let opts = |n: &str| -> prometheus::Result<(Opts, &'static [&'static str])> {
            let (name, _, labels, help) = def(n)?;
            Ok((Opts::new(format!("{prefix}{name}"), *help), labels))
        };
        let counter = |n: &str| IntCounter::with_opts(opts(n)?.0);
        let gauge = |n: &str| IntGauge::with_opts(opts(n)?.0);
        let counters = |n: &str| {
            let (o, labels) = opts(n)?;
            IntCounterVec::new(o, labels)
        };
        let gauges = |n: &str| {
            let (o, labels) = opts(n)?;
            IntGaugeVec::new(o, labels)
        };
        let histograms = |n: &str| {
            let (o, labels) = opts(n)?;
            HistogramVec::new(HistogramOpts::from(o), labels)
        };
        let metrics = Metrics {
            config_values_errors: counter("config_values_errors_total")?,
            config_map_missing: gauge("config_map_missing")?,
            module_run_seconds: histograms("module_run_seconds")?,
            module_run_errors: counters("module_run_errors_total")?,
            module_delete_errors: counters("module_delete_errors_total")?,
            module_objects_applied: counters("module_objects_applied_total")?,
            module_objects_pruned: counters("module_objects_pruned_total")?,
            module_drift_repairs: counters("module_drift_repairs_total")?,
            module_enabled: gauges("mm_module_enabled")?,
            convergence_total: counter("convergence_total")?,
            convergence_seconds: Histogram::with_opts(HistogramOpts::from(
                opts("convergence_seconds")?.0,
            ))?,
            live_ticks: counter("live_ticks")?,
            started: Instant::now(),
            registry: Registry::new(),
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
            Box::new(self.live_ticks.clone()),
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
        let ticks = self.started.elapsed().as_secs() / TICK_SECONDS;
        self.live_ticks
            .inc_by(ticks.saturating_sub(self.live_ticks.get()));
        let encoder = prometheus::TextEncoder::new();
        encoder
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|err| format!("# failed to encode metrics: {err}\n"))
    }
}

#[cfg(test)]
mod tests;
