//! What a hook metric must look like to be written into the Prometheus text exposition format
//! without breaking the scrape of `/metrics`: one bad name there fails the whole page
//! (promtool: "text format parsing error"), so operations that break these rules are refused.
//!
//! Label values need no check: any string is valid once escaped (`\\`, `\"`, `\n`), which the
//! renderer does.

use crate::outputs::{MetricAction, MetricOp};

/// Why a hook's metric operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMetric {
    /// The metric name is not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("metric name {0:?} is invalid (expected [a-zA-Z_:][a-zA-Z0-9_:]*)")]
    Name(String),
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, or starts with the reserved `__`.
    #[error("label name {0:?} is invalid (expected [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")]
    LabelName(String),
    /// A histogram (`observe`) with a label `le`, which its buckets use.
    #[error("label name \"le\" is reserved for histogram buckets")]
    BucketLabel,
    /// The name is one of the engine's or the operator's own metrics (or one of their
    /// histogram series), which share `/metrics`: a name defined twice breaks the scrape.
    #[error("metric name {name:?} is one of the operator's own metrics")]
    Reserved {
        /// The metric name.
        name: String,
    },
    /// The metric exists with another type (a gauge written with `add`, ...).
    #[error("metric {name:?} is a {existing}, not a {requested}")]
    TypeConflict {
        /// The metric name.
        name: String,
        /// Its type in the storage.
        existing: &'static str,
        /// The type the operation asks for.
        requested: &'static str,
    },
    /// The name is one of a histogram's series (`<h>_bucket`, `<h>_sum`, `<h>_count`), or a
    /// histogram whose series would be named like an existing metric.
    #[error("metric {name:?} collides with the series of histogram {histogram:?}")]
    HistogramSeries {
        /// The metric name.
        name: String,
        /// The histogram it collides with.
        histogram: String,
    },
}

/// A metric operation of a run that was refused; the run's other outputs were kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("METRICS_PATH line {line}")]
pub struct MetricRefusal {
    /// 1-based line of `$METRICS_PATH` where the operation starts.
    pub line: usize,
    /// Why it was refused.
    #[source]
    pub reason: InvalidMetric,
}

/// The suffixes of a histogram's series.
pub(crate) const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

fn is_name(s: &str, colon: bool) -> bool {
    let ok = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    let mut chars = s.chars();
    chars.next().is_some_and(ok) && chars.all(|c| ok(c) || c.is_ascii_digit())
}

/// Checks an operation's own name and labels (collisions with stored metrics are the
/// storage's business). `reserved` holds the names of the engine's and the operator's own
/// metric families.
///
/// # Errors
/// The first rule the operation breaks.
pub(crate) fn check(
    op: &MetricOp,
    reserved: &std::collections::BTreeSet<String>,
) -> Result<(), InvalidMetric> {
    if op.action == MetricAction::Expire {
        return Ok(());
    }
    if !is_name(&op.name, true) {
        return Err(InvalidMetric::Name(op.name.clone()));
    }
    let family = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| op.name.strip_suffix(s))
        .unwrap_or(&op.name);
    if reserved.contains(&op.name) || reserved.contains(family) {
        return Err(InvalidMetric::Reserved {
            name: op.name.clone(),
        });
    }
    if let Some(bad) = op
        .labels
        .keys()
        .find(|k| !is_name(k, false) || k.starts_with("__"))
    {
        return Err(InvalidMetric::LabelName(bad.clone()));
    }
    if op.action == MetricAction::Observe && op.labels.contains_key("le") {
        return Err(InvalidMetric::BucketLabel);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, action: MetricAction, labels: &[(&str, &str)]) -> MetricOp {
        MetricOp {
            name: name.into(),
            action,
            value: 1.0,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            group: None,
            buckets: None,
            line: 1,
        }
    }

    #[test]
    fn names_and_label_names_follow_the_exposition_format() {
        let set = MetricAction::Set;
        for good in ["a", "_a:b_1", "ns:metric_total"] {
            assert_eq!(
                check(&op(good, set, &[("l_1", "v")]), &Default::default()),
                Ok(()),
                "{good}"
            );
        }
        for bad in ["", "1a", "bad metric{x=\"1\"} 1\nevil", "a-b", "é"] {
            assert_eq!(
                check(&op(bad, set, &[]), &Default::default()),
                Err(InvalidMetric::Name(bad.into()))
            );
        }
        for bad in ["bad label", "a:b", "__name__", "1x", ""] {
            assert_eq!(
                check(&op("m", set, &[(bad, "v")]), &Default::default()),
                Err(InvalidMetric::LabelName(bad.into()))
            );
        }
    }

    #[test]
    fn label_values_need_no_check_but_le_is_refused_on_histograms() {
        let any_value = op("m", MetricAction::Set, &[("x", "a\"b\\c\nd"), ("le", "1")]);
        assert_eq!(check(&any_value, &Default::default()), Ok(()));
        assert_eq!(
            check(
                &op("h", MetricAction::Observe, &[("le", "1")]),
                &Default::default()
            ),
            Err(InvalidMetric::BucketLabel)
        );
    }

    #[test]
    fn reserved_names_and_their_histogram_series_are_refused_and_expire_is_always_fine() {
        let reserved: std::collections::BTreeSet<String> =
            ["addon_operator_module_hook_run_seconds".to_string()].into();
        for name in [
            "addon_operator_module_hook_run_seconds",
            "addon_operator_module_hook_run_seconds_count",
        ] {
            assert!(matches!(
                check(&op(name, MetricAction::Add, &[]), &reserved),
                Err(InvalidMetric::Reserved { .. })
            ));
        }
        assert_eq!(
            check(
                &op("addon_operator_update_available", MetricAction::Set, &[]),
                &reserved
            ),
            Ok(())
        );
        assert_eq!(check(&op("", MetricAction::Expire, &[]), &reserved), Ok(()));
    }
}
