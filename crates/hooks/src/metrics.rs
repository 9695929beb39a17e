//! Hook metrics: the series hooks write to `$METRICS_PATH`, plus the engine's own run metrics,
//! rendered in the Prometheus text exposition format.
//!
//! # Group semantics (shell-operator's code, see docs/hooks.md)
//! The operations of one run are applied as a batch. Every group named in the batch first loses
//! the series that group created in earlier runs; then the operations are applied. Operations
//! without `group` belong to the implicit group named after the hook, so a hook that emits
//! metrics replaces its previous set each run; histograms (`observe`) are the exception and
//! keep accumulating. `{"group": g, "action": "expire"}` only clears (without `group`: the
//! implicit group).
//!
//! # Guarantees
//! The rendered text always parses as the Prometheus exposition format: operations whose name
//! or labels break it, that collide with another type or a histogram's series, or that use the
//! engine's metric prefix are refused one by one ([`MetricRefusal`]), and label values are
//! escaped.

use crate::exposition::{self, HISTOGRAM_SUFFIXES, InvalidMetric, MetricRefusal};
use crate::outputs::{MetricAction, MetricOp};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;
use std::sync::Mutex;

/// Default histogram buckets (Prometheus client defaults).
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type Labels = BTreeMap<String, String>;

/// The family type an operation creates (`expire` creates none).
fn kind_of(action: MetricAction) -> Option<MetricType> {
    match action {
        MetricAction::Set => Some(MetricType::Gauge),
        MetricAction::Add => Some(MetricType::Counter),
        MetricAction::Observe => Some(MetricType::Histogram),
        MetricAction::Expire => None,
    }
}

#[derive(Debug, Clone)]
enum Series {
    Value(f64),
    Histogram {
        buckets: Vec<f64>,
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

#[derive(Debug)]
struct Family {
    kind: MetricType,
    series: BTreeMap<Labels, Series>,
}

#[derive(Debug, Default)]
struct Store {
    families: BTreeMap<String, Family>,
    /// (hook, group) → the series the group owns.
    groups: HashMap<(String, String), BTreeSet<(String, Labels)>>,
}

/// Thread-safe storage of hook metric series and engine run metrics.
#[derive(Debug, Default)]
pub struct MetricsStorage {
    hooks: Mutex<Store>,
    engine: Mutex<Store>,
    /// Names of the engine's and the operator's own metric families, refused as hook metric
    /// names (they share `/metrics`, where a name defined twice breaks the scrape).
    reserved: Mutex<BTreeSet<String>>,
    /// The `# HELP` text of the engine's families.
    help: BTreeMap<String, &'static str>,
}

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Only goes up (resets on restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets, with `_sum` and `_count`.
    Histogram,
}

impl MetricType {
    /// The name in `# TYPE` lines and in docs/metrics.md.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// One metric family the operator exports, as docs/metrics.md lists it: the one definition
/// the exposition's `# HELP` lines, the reserved names and the documentation come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDef {
    /// Full name, prefix included.
    pub name: String,
    /// Type.
    pub kind: MetricType,
    /// Label names.
    pub labels: &'static [&'static str],
    /// Meaning (the `# HELP` text).
    pub help: &'static str,
}

/// The labels of a hook run's metrics (a global hook's `module` is empty).
const RUN_LABELS: &[&str] = &["hook", "module", "binding", "queue"];

/// The engine's metrics: name (`{scope}` is `module` and `global`), type, labels, meaning.
const ENGINE_METRICS: &[(&str, MetricType, &[&str], &str)] = &[
    (
        "{scope}_hook_run_seconds",
        MetricType::Histogram,
        RUN_LABELS,
        "Wall time of successful hook runs, from the process start to its exit.",
    ),
    (
        "{scope}_hook_run_user_cpu_seconds",
        MetricType::Histogram,
        RUN_LABELS,
        "User CPU time of successful hook runs (the hook and the children it waited for).",
    ),
    (
        "{scope}_hook_run_sys_cpu_seconds",
        MetricType::Histogram,
        RUN_LABELS,
        "System CPU time of successful hook runs (the hook and the children it waited for).",
    ),
    (
        "{scope}_hook_run_max_rss_bytes",
        MetricType::Gauge,
        RUN_LABELS,
        "Peak resident memory of the last successful run: the hook's own (it starts from a small launcher) or that of a child it waited for.",
    ),
    (
        "{scope}_hook_success_total",
        MetricType::Counter,
        RUN_LABELS,
        "Successful hook runs.",
    ),
    (
        "{scope}_hook_errors_total",
        MetricType::Counter,
        RUN_LABELS,
        "Failed hook runs that are retried (no allowFailure).",
    ),
    (
        "{scope}_hook_allowed_errors_total",
        MetricType::Counter,
        RUN_LABELS,
        "Failed hook runs of bindings with allowFailure: logged, not retried.",
    ),
    (
        "task_wait_in_queue_seconds_total",
        MetricType::Counter,
        RUN_LABELS,
        "Seconds hook runs waited, from their triggering event to the hook process start (queue, rate limit, combining).",
    ),
    (
        "tasks_queue_length",
        MetricType::Gauge,
        &["queue"],
        "Tasks waiting in a hook queue (the running one not counted).",
    ),
    (
        "kube_snapshot_objects",
        MetricType::Gauge,
        &["hook", "binding"],
        "Objects a kubernetes binding holds in its snapshot.",
    ),
    (
        "kubernetes_client_watch_errors_total",
        MetricType::Counter,
        &["hook", "binding"],
        "Errors of a kubernetes binding's watch (each is retried with backoff; a 410 relists).",
    ),
];

/// Every metric of the hook engine under `prefix` (addon-operator's is `addon_operator_`),
/// module and global hook families apart.
pub fn engine_metrics(prefix: &str) -> Vec<MetricDef> {
    let mut out = Vec::new();
    for (name, kind, labels, help) in ENGINE_METRICS {
        let scopes: &[&str] = if name.contains("{scope}") {
            &["module", "global"]
        } else {
            &[""]
        };
        for scope in scopes {
            out.push(MetricDef {
                name: format!("{prefix}{}", name.replace("{scope}", scope)),
                kind: *kind,
                labels,
                help,
            });
        }
    }
    out
}

/// The `# HELP` text of every series a hook writes.
pub const HOOK_METRIC_HELP: &str = "Written by a hook to $METRICS_PATH.";

impl MetricsStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty storage whose hook metrics may not reuse the names of the engine's own
    /// metrics under `prefix` (they share `/metrics`, where a name defined twice breaks the
    /// scrape). Other names with the prefix stay allowed: shipped hooks such as `self-update`
    /// export `addon_operator_update_*`.
    pub fn with_engine_prefix(prefix: &str) -> Self {
        let defs = engine_metrics(prefix);
        let storage = Self {
            help: defs.iter().map(|d| (d.name.clone(), d.help)).collect(),
            ..Self::default()
        };
        storage.reserve(defs.into_iter().map(|d| d.name));
        storage
    }

    /// Reserves more metric family names (the operator's own registry), refused as hook
    /// metric names from now on.
    pub fn reserve(&self, names: impl IntoIterator<Item = String>) {
        self.reserved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(names);
    }

    /// Applies the metric operations of one successful run of `hook` (adds the `hook` label).
    ///
    /// Operations that would break the exposition format are refused and returned; the others
    /// are applied. Groups named by refused operations still expire, as the hook asked.
    pub fn apply_hook_ops(&self, hook: &str, ops: &[MetricOp]) -> Vec<MetricRefusal> {
        let mut refused = Vec::new();
        let reserved = self
            .reserved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut store = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
        // Histograms never join the implicit group: expiring them each run would reset them.
        let group_of = |op: &MetricOp| match (&op.group, op.action) {
            (Some(g), _) => Some(g.clone()),
            (None, MetricAction::Observe) => None,
            (None, _) => Some(hook.to_string()),
        };
        let batch_groups: BTreeSet<String> = ops.iter().filter_map(group_of).collect();
        for g in &batch_groups {
            store.expire_group(hook, g);
        }
        for op in ops {
            if op.action == MetricAction::Expire {
                continue;
            }
            let mut labels = op.labels.clone();
            labels.insert("hook".into(), hook.into());
            let applied = exposition::check(op, &reserved).and_then(|()| {
                store.apply(
                    &op.name,
                    labels.clone(),
                    op.action,
                    op.value,
                    op.buckets.as_deref(),
                )
            });
            if let Err(reason) = applied {
                refused.push(MetricRefusal {
                    line: op.line,
                    reason,
                });
                continue;
            }
            if let Some(group) = group_of(op) {
                let key = (hook.to_string(), group);
                store
                    .groups
                    .entry(key)
                    .or_default()
                    .insert((op.name.clone(), labels));
            }
        }
        refused
    }

    /// Records an engine metric (counter add, gauge set or histogram observe).
    pub(crate) fn engine(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        action: MetricAction,
        value: f64,
    ) {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut store = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        // Engine names and labels are fixed by this crate and valid.
        let _ = store.apply(name, labels, action, value, None);
    }

    /// Reads one engine series (tests, debug output): counter/gauge value or histogram count.
    pub fn engine_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let store = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        match store.families.get(name)?.series.get(&labels)? {
            Series::Value(v) => Some(*v),
            Series::Histogram { count, .. } => Some(*count as f64),
        }
    }

    /// Hook-written series in Prometheus text format (addon-operator serves them at `/metrics/hooks`).
    pub fn render_hook_metrics(&self) -> String {
        self.hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .render(&|_| Some(HOOK_METRIC_HELP))
    }

    /// Engine series (`<prefix>hook_run_seconds`, errors, CPU, RSS, ...) in Prometheus text format.
    pub fn render_engine_metrics(&self) -> String {
        self.engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .render(&|name| self.help.get(name).copied())
    }
}

impl Store {
    fn expire_group(&mut self, hook: &str, group: &str) {
        let Some(owned) = self.groups.remove(&(hook.to_string(), group.to_string())) else {
            return;
        };
        for (name, labels) in owned {
            if let Some(f) = self.families.get_mut(&name) {
                f.series.remove(&labels);
                if f.series.is_empty() {
                    self.families.remove(&name);
                }
            }
        }
    }

    /// Applies one operation.
    ///
    /// # Errors
    /// [`InvalidMetric::TypeConflict`] when `name` exists with another type,
    /// [`InvalidMetric::HistogramSeries`] when it collides with a histogram's series.
    fn apply(
        &mut self,
        name: &str,
        labels: Labels,
        action: MetricAction,
        value: f64,
        buckets: Option<&[f64]>,
    ) -> Result<(), InvalidMetric> {
        let Some(kind) = kind_of(action) else {
            return Ok(());
        };
        self.check_histogram_series(name, kind)?;
        let family = self.families.entry(name.to_string()).or_insert(Family {
            kind,
            series: BTreeMap::new(),
        });
        if family.kind != kind {
            return Err(InvalidMetric::TypeConflict {
                name: name.into(),
                existing: family.kind.as_str(),
                requested: kind.as_str(),
            });
        }
        let series = family.series.entry(labels).or_insert_with(|| match kind {
            MetricType::Histogram => {
                let b = buckets
                    .map(<[f64]>::to_vec)
                    .unwrap_or_else(|| DEFAULT_BUCKETS.to_vec());
                Series::Histogram {
                    counts: vec![0; b.len()],
                    buckets: b,
                    sum: 0.0,
                    count: 0,
                }
            }
            _ => Series::Value(0.0),
        });
        match series {
            Series::Value(v) if kind == MetricType::Gauge => *v = value,
            Series::Value(v) => *v += value,
            Series::Histogram {
                buckets,
                counts,
                sum,
                count,
            } => {
                for (b, c) in buckets.iter().zip(counts.iter_mut()) {
                    if value <= *b {
                        *c += 1;
                    }
                }
                *sum += value;
                *count += 1;
            }
        }
        Ok(())
    }

    /// A histogram `h` renders `h_bucket`, `h_sum` and `h_count`; a second family with one of
    /// those names makes the text unparseable ("second TYPE line for metric name").
    fn check_histogram_series(&self, name: &str, kind: MetricType) -> Result<(), InvalidMetric> {
        let collision = |histogram: &str| InvalidMetric::HistogramSeries {
            name: name.into(),
            histogram: histogram.into(),
        };
        if kind == MetricType::Histogram {
            for suffix in HISTOGRAM_SUFFIXES {
                if self.families.contains_key(&format!("{name}{suffix}")) {
                    return Err(collision(name));
                }
            }
            return Ok(());
        }
        for suffix in HISTOGRAM_SUFFIXES {
            if let Some(base) = name.strip_suffix(suffix)
                && self
                    .families
                    .get(base)
                    .is_some_and(|f| f.kind == MetricType::Histogram)
            {
                return Err(collision(base));
            }
        }
        Ok(())
    }

    /// The families in the text format, each with `# HELP` (when `help` knows it) and
    /// `# TYPE` lines.
    fn render(&self, help: &dyn Fn(&str) -> Option<&'static str>) -> String {
        let mut out = String::new();
        for (name, family) in &self.families {
            if let Some(text) = help(name) {
                let _ = writeln!(out, "# HELP {name} {text}");
            }
            let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
            for (labels, series) in &family.series {
                match series {
                    Series::Value(v) => {
                        let _ = writeln!(out, "{name}{} {}", fmt_labels(labels, None), fmt_num(*v));
                    }
                    Series::Histogram {
                        buckets,
                        counts,
                        sum,
                        count,
                    } => {
                        for (b, c) in buckets.iter().zip(counts) {
                            let le = fmt_num(*b);
                            let _ =
                                writeln!(out, "{name}_bucket{} {c}", fmt_labels(labels, Some(&le)));
                        }
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {count}",
                            fmt_labels(labels, Some("+Inf"))
                        );
                        let _ = writeln!(
                            out,
                            "{name}_sum{} {}",
                            fmt_labels(labels, None),
                            fmt_num(*sum)
                        );
                        let _ = writeln!(out, "{name}_count{} {count}", fmt_labels(labels, None));
                    }
                }
            }
        }
        out
    }
}

fn fmt_num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::parse_metrics;

    #[test]
    fn ops_render_as_prometheus_text_with_the_hook_label() {
        let m = MetricsStorage::new();
        let ops = parse_metrics(
            r#"{"name":"g","action":"set","value":2,"labels":{"a":"x"}}
{"name":"c","action":"add","value":1.5}
{"name":"c","action":"add","value":1}
{"name":"h","action":"observe","value":0.3,"buckets":[0.1,1]}"#,
        )
        .unwrap();
        assert_eq!(m.apply_hook_ops("h.sh", &ops), []);
        let text = m.render_hook_metrics();
        for line in [
            "# TYPE c counter\nc{hook=\"h.sh\"} 2.5",
            "g{a=\"x\",hook=\"h.sh\"} 2",
            "h_bucket{hook=\"h.sh\",le=\"0.1\"} 0",
            "h_bucket{hook=\"h.sh\",le=\"1\"} 1",
            "h_bucket{hook=\"h.sh\",le=\"+Inf\"} 1",
            "h_count{hook=\"h.sh\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn ungrouped_series_are_replaced_each_run_but_histograms_accumulate() {
        let m = MetricsStorage::new();
        let run1 = r#"{"name":"g","action":"set","value":1,"labels":{"n":"old"}}
{"name":"h","action":"observe","value":1,"buckets":[5]}"#;
        assert_eq!(m.apply_hook_ops("x", &parse_metrics(run1).unwrap()), []);
        let run2 = r#"{"name":"g","action":"set","value":2,"labels":{"n":"new"}}
{"name":"h","action":"observe","value":2,"buckets":[5]}"#;
        assert_eq!(m.apply_hook_ops("x", &parse_metrics(run2).unwrap()), []);
        let text = m.render_hook_metrics();
        assert!(
            !text.contains("old") && text.contains("g{hook=\"x\",n=\"new\"} 2"),
            "{text}"
        );
        assert!(text.contains("h_count{hook=\"x\"} 2"), "{text}");
        assert_eq!(
            m.apply_hook_ops("x", &parse_metrics(r#"{"action":"expire"}"#).unwrap()),
            []
        );
        let text = m.render_hook_metrics();
        assert!(!text.contains("g{") && text.contains("h_count"), "{text}");
    }

    #[test]
    fn a_group_replaces_its_earlier_series_and_expire_clears_it() {
        let m = MetricsStorage::new();
        let run1 = parse_metrics(
            r#"{"name":"q","group":"g","action":"set","value":1,"labels":{"n":"a"}}
{"name":"q","group":"g","action":"set","value":1,"labels":{"n":"b"}}
{"name":"other","group":"keep","action":"set","value":7}"#,
        )
        .unwrap();
        assert_eq!(m.apply_hook_ops("h", &run1), []);
        let run2 = parse_metrics(
            r#"{"name":"q","group":"g","action":"set","value":5,"labels":{"n":"b"}}"#,
        )
        .unwrap();
        assert_eq!(m.apply_hook_ops("h", &run2), []);
        let text = m.render_hook_metrics();
        assert!(
            !text.contains("n=\"a\"")
                && text.contains("q{hook=\"h\",n=\"b\"} 5")
                && text.contains("other"),
            "{text}"
        );
        let expire = parse_metrics(r#"{"group":"keep","action":"expire"}"#).unwrap();
        assert_eq!(m.apply_hook_ops("h", &expire), []);
        assert!(!m.render_hook_metrics().contains("other"));
    }

    #[test]
    fn colliding_operations_are_refused_by_line_and_the_others_applied() {
        let m = MetricsStorage::with_engine_prefix("addon_operator_");
        let ops = parse_metrics(
            r#"{"name":"h","action":"observe","value":1,"buckets":[1]}
{"name":"h_count","action":"set","value":1}
{"name":"g","action":"set","value":1}
{"name":"g","action":"add","value":1}
{"name":"addon_operator_global_hook_run_seconds","action":"set","value":1}
{"name":"ok","action":"set","value":2,"labels":{"bad label":"x"}}
{"name":"ok","action":"set","value":3}"#,
        )
        .unwrap();
        let refused: Vec<(usize, String)> = m
            .apply_hook_ops("x", &ops)
            .into_iter()
            .map(|r| (r.line, r.reason.to_string()))
            .collect();
        assert_eq!(
            refused,
            [
                (
                    2,
                    "metric \"h_count\" collides with the series of histogram \"h\"".into()
                ),
                (4, "metric \"g\" is a gauge, not a counter".into()),
                (
                    5,
                    "metric name \"addon_operator_global_hook_run_seconds\" is one of the operator's own metrics".into()
                ),
                (
                    6,
                    "label name \"bad label\" is invalid (expected [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)".into()
                ),
            ]
        );
        let text = m.render_hook_metrics();
        for kept in [
            "h_count{hook=\"x\"} 1",
            "g{hook=\"x\"} 1",
            "ok{hook=\"x\"} 3",
        ] {
            assert!(text.contains(kept), "{kept} in\n{text}");
        }
        let histogram_after_gauge = parse_metrics(
            r#"{"name":"g_sum","action":"set","value":1}
{"name":"g","action":"observe","value":1,"buckets":[1]}"#,
        )
        .unwrap();
        let refused = m.apply_hook_ops("y", &histogram_after_gauge);
        assert_eq!(
            refused.iter().map(|r| r.line).collect::<Vec<_>>(),
            [2],
            "a histogram whose series exist as other metrics is refused"
        );
    }
}
