//! Hook configuration: what a hook prints for `--config`, validated and compiled.
//!
//! Two stages, like ripgrep's low-level/high-level arguments: [`raw`] records what the hook
//! declared (serde, unknown fields rejected), then [`HookConfig::parse`] validates every binding
//! (collecting all problems) and compiles jq filters, crontabs and selectors.

mod error;
mod raw;
mod selectors;
mod webhook;

pub use error::{ConfigError, DurationError, FieldError, FieldProblem};
pub use webhook::{
    AdmissionBinding, AdmissionKind, ConversionBinding, ConversionRule, FailurePolicy,
};

use crate::crontab::parse_crontab;
use crate::jq::JqFilter;
use raw::{RawConfig, RawKubernetes, RawKubernetesV0, RawSchedule};
use selectors::{field_selector, label_selector};
use std::collections::BTreeMap;
use std::time::Duration;

/// Whether a hook belongs to `global-hooks/` or to a module; decides which bindings are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookScope {
    /// A hook under the global hooks directory.
    Global,
    /// A hook under a module's `hooks/` directory.
    Module,
}

/// `configVersion` of the hook; v0 changes the binding-context format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigVersion {
    /// Legacy `onKubernetesEvent` hooks (no `configVersion`, or `v0`).
    V0,
    /// `configVersion: v1`.
    V1,
}

/// Bindings that run once at a lifecycle point, ordered by their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrderBinding {
    /// `onStartup` (global: at startup; module: when the module first runs).
    OnStartup,
    /// Global `beforeAll`: before modules converge.
    BeforeAll,
    /// Global `afterAll`: after every module converged.
    AfterAll,
    /// Module `beforeHelm`: before render and apply.
    BeforeHelm,
    /// Module `afterHelm`: after apply.
    AfterHelm,
    /// Module `beforeDeleteHelm`: before a disabled module's objects are deleted.
    BeforeDeleteHelm,
    /// Module `afterDeleteHelm`: after they were deleted.
    AfterDeleteHelm,
}

impl OrderBinding {
    /// The binding's name as it appears in `--config` and in the binding context.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnStartup => "onStartup",
            Self::BeforeAll => "beforeAll",
            Self::AfterAll => "afterAll",
            Self::BeforeHelm => "beforeHelm",
            Self::AfterHelm => "afterHelm",
            Self::BeforeDeleteHelm => "beforeDeleteHelm",
            Self::AfterDeleteHelm => "afterDeleteHelm",
        }
    }

    fn allowed_in(self, scope: HookScope) -> bool {
        match self {
            Self::OnStartup => true,
            Self::BeforeAll | Self::AfterAll => scope == HookScope::Global,
            _ => scope == HookScope::Module,
        }
    }
}

/// Kubernetes watch event types a hook can react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchEvent {
    /// An object appeared.
    Added,
    /// An object's filter result changed.
    Modified,
    /// An object disappeared.
    Deleted,
}

impl WatchEvent {
    /// The name used in configs and binding contexts (`Added`, `Modified`, `Deleted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "Added",
            Self::Modified => "Modified",
            Self::Deleted => "Deleted",
        }
    }
}

/// A validated hook configuration.
#[derive(Debug)]
pub struct HookConfig {
    /// Declared `configVersion`.
    pub version: ConfigVersion,
    /// Lifecycle bindings with their order numbers.
    pub orders: BTreeMap<OrderBinding, f64>,
    /// `schedule` bindings.
    pub schedules: Vec<ScheduleBinding>,
    /// `kubernetes` (or v0 `onKubernetesEvent`) bindings.
    pub kubernetes: Vec<KubernetesBinding>,
    /// `settings` rate limit.
    pub settings: Settings,
    /// `kubernetesValidating` bindings.
    pub validating: Vec<AdmissionBinding>,
    /// `kubernetesMutating` bindings.
    pub mutating: Vec<AdmissionBinding>,
    /// `kubernetesCustomResourceConversion` bindings.
    pub conversions: Vec<ConversionBinding>,
}

/// `settings.executionMinInterval` / `executionBurst`: a token bucket per hook.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Minimal interval between runs (token refill period); `None` = unlimited.
    pub execution_min_interval: Option<Duration>,
    /// Runs allowed back to back before the interval applies (default 1).
    pub execution_burst: u32,
}

/// One `schedule` binding.
#[derive(Debug)]
pub struct ScheduleBinding {
    /// Binding name (`schedule` when not given).
    pub name: String,
    /// The crontab as declared.
    pub crontab: String,
    /// Compiled schedule.
    pub schedule: cron::Schedule,
    /// Errors are logged and not retried.
    pub allow_failure: bool,
    /// Queue name (`main` by default).
    pub queue: String,
    /// Group name: the hook gets a `Group` context instead.
    pub group: Option<String>,
    /// Kubernetes bindings whose snapshots go into the context.
    pub include_snapshots_from: Vec<String>,
}

/// One `kubernetes` binding.
#[derive(Debug)]
pub struct KubernetesBinding {
    /// Binding name (`kubernetes` when not given).
    pub name: String,
    /// `apiVersion` (`group/version` or `v1`), if given.
    pub api_version: Option<String>,
    /// Kind, plural or short name, matched case-insensitively.
    pub kind: String,
    /// `nameSelector.matchNames`.
    pub names: Vec<String>,
    /// Label selector in the API's string form, sent to the server.
    pub label_selector: Option<String>,
    /// Field selector in the API's string form, sent to the server.
    pub field_selector: Option<String>,
    /// `namespace.nameSelector.matchNames` (empty = all namespaces).
    pub namespaces: Vec<String>,
    /// `namespace.labelSelector` in string form: only namespaces carrying these labels.
    pub namespace_label_selector: Option<String>,
    /// Compiled `jqFilter`.
    pub jq_filter: Option<JqFilter>,
    /// Events that run the hook (`[]` = snapshot only).
    pub execute_hook_on_event: Vec<WatchEvent>,
    /// Run the hook with a `Synchronization` context.
    pub execute_hook_on_synchronization: bool,
    /// Startup waits for the Synchronization run.
    pub wait_for_synchronization: bool,
    /// Keep (and pass) full objects; `false` keeps only filter results.
    pub keep_full_objects_in_memory: bool,
    /// Errors are logged and not retried.
    pub allow_failure: bool,
    /// Queue name (`main` by default).
    pub queue: String,
    /// Group name.
    pub group: Option<String>,
    /// Kubernetes bindings whose snapshots go into the context.
    pub include_snapshots_from: Vec<String>,
}

impl HookConfig {
    /// Parses and validates `--config` output (YAML or JSON) of the hook named `hook`.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for output that is not YAML or JSON, [`ConfigError::Invalid`]
    /// listing every field of the wrong shape (unknown field, wrong type) and every invalid
    /// binding field (bad crontab, jq filter, selector operator, binding not
    /// allowed for the hook's scope, `includeSnapshotsFrom` naming no kubernetes binding, ...).
    pub fn parse(text: &str, hook: &str, scope: HookScope) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let raw = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            let document: serde_yaml::Value =
                serde_yaml::from_str(text).map_err(|source| ConfigError::Parse {
                    hook: hook.to_string(),
                    source,
                })?;
            raw_config(document, &mut errors)
        };
        let config = validate(raw, scope, &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                hook: hook.to_string(),
                errors,
            })
        }
    }

    /// True when the hook declares no binding at all (it would never run).
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
            && self.schedules.is_empty()
            && self.kubernetes.is_empty()
            && self.validating.is_empty()
            && self.mutating.is_empty()
            && self.conversions.is_empty()
    }

    /// The admission bindings, validating first.
    pub fn admission(&self) -> impl Iterator<Item = &AdmissionBinding> {
        self.validating.iter().chain(&self.mutating)
    }
}

/// Keys whose value is a list of bindings: a malformed binding is reported by its index and
/// left out, so the others are still validated.
const BINDING_LISTS: [&str; 6] = [
    "schedule",
    "kubernetes",
    "onKubernetesEvent",
    "kubernetesValidating",
    "kubernetesMutating",
    "kubernetesCustomResourceConversion",
];

/// Stage one: the declared shape. A document that decodes is taken as is; otherwise every
/// top-level key (and every binding of a list) is decoded alone, each one that does not
/// decode is reported with its path, and the rest is kept so that stage two can check it too:
/// one run lists every problem.
fn raw_config(document: serde_yaml::Value, errors: &mut Vec<FieldError>) -> RawConfig {
    use serde_yaml::{Mapping, Value};
    let whole = match serde_yaml::from_value::<RawConfig>(document.clone()) {
        Ok(raw) => return raw,
        Err(err) => err,
    };
    let Value::Mapping(map) = document else {
        errors.push(FieldError::new(
            "(root)",
            FieldProblem::Shape(format!(
                "{whole} (expected a map such as {{configVersion: v1, onStartup: 1}})"
            )),
        ));
        return RawConfig::default();
    };
    let decodes = |key: &Value, value: Value| {
        serde_yaml::from_value::<RawConfig>(Value::Mapping(Mapping::from_iter([(
            key.clone(),
            value,
        )])))
    };
    let mut kept = Mapping::new();
    for (key, value) in map {
        let name = key
            .as_str()
            .map_or_else(|| format!("{key:?}"), str::to_string);
        match value {
            Value::Sequence(items) if BINDING_LISTS.contains(&name.as_str()) => {
                let mut good = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    match decodes(&key, Value::Sequence(vec![item.clone()])) {
                        Ok(_) => good.push(item),
                        Err(err) => errors.push(FieldError::new(
                            format!("{name}[{i}]"),
                            FieldProblem::Shape(err.to_string()),
                        )),
                    }
                }
                kept.insert(key, Value::Sequence(good));
            }
            value => match decodes(&key, value.clone()) {
                Ok(_) => {
                    kept.insert(key, value);
                }
                Err(err) => {
                    errors.push(FieldError::new(name, FieldProblem::Shape(err.to_string())))
                }
            },
        }
    }
    serde_yaml::from_value(Value::Mapping(kept)).unwrap_or_else(|err| {
        errors.push(FieldError::new(
            "(root)",
            FieldProblem::Shape(err.to_string()),
        ));
        RawConfig::default()
    })
}

fn validate(raw: RawConfig, scope: HookScope, errors: &mut Vec<FieldError>) -> HookConfig {
    let version = match raw.config_version.as_deref() {
        None | Some("v0") => ConfigVersion::V0,
        Some("v1") => ConfigVersion::V1,
        Some(other) => {
            errors.push(FieldError::new(
                "configVersion",
                FieldProblem::Unknown {
                    found: other.into(),
                    expected: "v1 or v0",
                },
            ));
            ConfigVersion::V1
        }
    };
    let webhooks_v1 = |field: &'static str, set: bool, errors: &mut Vec<FieldError>| {
        if set && version == ConfigVersion::V0 {
            errors.push(FieldError::new(
                field,
                FieldProblem::Rule("requires configVersion: v1"),
            ));
        }
    };
    webhooks_v1(
        "kubernetesValidating",
        raw.kubernetes_validating.is_some(),
        errors,
    );
    webhooks_v1(
        "kubernetesMutating",
        raw.kubernetes_mutating.is_some(),
        errors,
    );
    webhooks_v1(
        "kubernetesCustomResourceConversion",
        raw.kubernetes_custom_resource_conversion.is_some(),
        errors,
    );
    let validating = webhook::admission_bindings(
        raw.kubernetes_validating.unwrap_or_default(),
        AdmissionKind::Validating,
        errors,
    );
    let mutating = webhook::admission_bindings(
        raw.kubernetes_mutating.unwrap_or_default(),
        AdmissionKind::Mutating,
        errors,
    );
    let conversions = webhook::conversion_bindings(
        raw.kubernetes_custom_resource_conversion
            .unwrap_or_default(),
        errors,
    );
    let mut orders = BTreeMap::new();
    for (binding, value) in [
        (OrderBinding::OnStartup, raw.on_startup),
        (OrderBinding::BeforeAll, raw.before_all),
        (OrderBinding::AfterAll, raw.after_all),
        (OrderBinding::BeforeHelm, raw.before_helm),
        (OrderBinding::AfterHelm, raw.after_helm),
        (OrderBinding::BeforeDeleteHelm, raw.before_delete_helm),
        (OrderBinding::AfterDeleteHelm, raw.after_delete_helm),
    ] {
        let Some(order) = value else { continue };
        if !binding.allowed_in(scope) {
            let only = if scope == HookScope::Global {
                "module"
            } else {
                "global"
            };
            errors.push(FieldError::new(
                binding.as_str(),
                FieldProblem::OnlyIn(only),
            ));
        } else if !order.is_finite() {
            errors.push(FieldError::new(
                binding.as_str(),
                FieldProblem::Invalid {
                    found: order.to_string(),
                    expected: "a finite number: the order",
                },
            ));
        } else {
            orders.insert(binding, order);
        }
    }
    let mut kubernetes = Vec::new();
    match version {
        ConfigVersion::V1 => {
            if !raw.on_kubernetes_event.is_empty() {
                errors.push(FieldError::new(
                    "onKubernetesEvent",
                    FieldProblem::Rule("a v0 binding, use `kubernetes` with configVersion v1"),
                ));
            }
            for (i, k) in raw.kubernetes.into_iter().enumerate() {
                kubernetes.push(kubernetes_v1(k, &format!("kubernetes[{i}]"), errors));
            }
        }
        ConfigVersion::V0 => {
            if !raw.kubernetes.is_empty() {
                errors.push(FieldError::new(
                    "kubernetes",
                    FieldProblem::Rule("requires configVersion: v1"),
                ));
            }
            for (i, k) in raw.on_kubernetes_event.into_iter().enumerate() {
                kubernetes.push(kubernetes_v0(k, &format!("onKubernetesEvent[{i}]"), errors));
            }
        }
    }
    let schedules = raw
        .schedule
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| schedule(s, &format!("schedule[{i}]"), errors))
        .collect::<Vec<_>>();
    let names: Vec<&str> = kubernetes.iter().map(|k| k.name.as_str()).collect();
    let mut check_includes = |path: String, includes: &[String]| {
        for inc in includes {
            if !names.contains(&inc.as_str()) {
                errors.push(FieldError::new(
                    format!("{path}.includeSnapshotsFrom"),
                    FieldProblem::NoSuchBinding(inc.clone()),
                ));
            }
        }
    };
    for (i, k) in kubernetes.iter().enumerate() {
        check_includes(format!("kubernetes[{i}]"), &k.include_snapshots_from);
    }
    for (i, s) in schedules.iter().enumerate() {
        check_includes(format!("schedule[{i}]"), &s.include_snapshots_from);
    }
    for (list, key) in [
        (&validating, "kubernetesValidating"),
        (&mutating, "kubernetesMutating"),
    ] {
        for (i, a) in list.iter().enumerate() {
            check_includes(format!("{key}[{i}]"), &a.include_snapshots_from);
        }
    }
    for (i, c) in conversions.iter().enumerate() {
        check_includes(
            format!("kubernetesCustomResourceConversion[{i}]"),
            &c.include_snapshots_from,
        );
    }
    let settings = settings(raw.settings, errors);
    HookConfig {
        version,
        orders,
        schedules,
        kubernetes,
        settings,
        validating,
        mutating,
        conversions,
    }
}

fn schedule(s: RawSchedule, path: &str, errors: &mut Vec<FieldError>) -> Option<ScheduleBinding> {
    match parse_crontab(&s.crontab) {
        Ok(schedule) => Some(ScheduleBinding {
            name: s.name.unwrap_or_else(|| "schedule".into()),
            crontab: s.crontab,
            schedule,
            allow_failure: s.allow_failure,
            queue: s.queue.unwrap_or_else(|| "main".into()),
            group: s.group,
            include_snapshots_from: s.include_snapshots_from,
        }),
        Err(e) => {
            errors.push(FieldError::new(format!("{path}.crontab"), e));
            None
        }
    }
}

fn watch_events(list: &[String], path: &str, errors: &mut Vec<FieldError>) -> Vec<WatchEvent> {
    let mut out = Vec::new();
    for e in list {
        match e.as_str() {
            "Added" => out.push(WatchEvent::Added),
            "Modified" => out.push(WatchEvent::Modified),
            "Deleted" => out.push(WatchEvent::Deleted),
            other => errors.push(FieldError::new(
                path,
                FieldProblem::Unknown {
                    found: other.into(),
                    expected: "Added, Modified or Deleted",
                },
            )),
        }
    }
    out
}

fn jq(filter: Option<String>, path: &str, errors: &mut Vec<FieldError>) -> Option<JqFilter> {
    let text = filter.filter(|f| !f.trim().is_empty())?;
    JqFilter::compile(&text)
        .map_err(|e| errors.push(FieldError::new(format!("{path}.jqFilter"), e)))
        .ok()
}

fn check_kind(kind: &str, path: &str, errors: &mut Vec<FieldError>) {
    if kind.trim().is_empty() {
        errors.push(FieldError::new(
            format!("{path}.kind"),
            FieldProblem::Required,
        ));
    }
}

fn kubernetes_v1(k: RawKubernetes, path: &str, errors: &mut Vec<FieldError>) -> KubernetesBinding {
    check_kind(&k.kind, path, errors);
    let events = match (k.execute_hook_on_event, k.watch_event) {
        (Some(e), _) | (None, Some(e)) => {
            watch_events(&e, &format!("{path}.executeHookOnEvent"), errors)
        }
        (None, None) => vec![WatchEvent::Added, WatchEvent::Modified, WatchEvent::Deleted],
    };
    if let Some(p) = &k.resynchronization_period {
        tracing::warn!(field = %format!("{path}.resynchronizationPeriod"), value = %p, "ignored: watches never need resynchronization here");
    }
    let names = k.name_selector.map(|n| n.match_names).unwrap_or_default();
    let by_field_name = k.field_selector.as_ref().is_some_and(|f| {
        f.match_expressions
            .iter()
            .any(|e| e.field == "metadata.name")
    });
    if !names.is_empty() && by_field_name {
        errors.push(FieldError::new(
            format!("{path}.nameSelector"),
            FieldProblem::Rule(
                "fieldSelector 'metadata.name' and nameSelector.matchNames are mutually exclusive",
            ),
        ));
    }
    if let Some(v) = k.api_version.as_deref().filter(|v| !v.is_empty()) {
        let parts: Vec<&str> = v.split('/').collect();
        if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
            errors.push(FieldError::new(
                format!("{path}.apiVersion"),
                FieldProblem::Invalid {
                    found: v.into(),
                    expected: "version or group/version, e.g. v1, apps/v1",
                },
            ));
        }
    }
    let mut field = k
        .field_selector
        .map(|f| field_selector(&f, &format!("{path}.fieldSelector"), errors))
        .unwrap_or_default();
    if let [only] = names.as_slice() {
        field.push(format!("metadata.name={only}"));
    }
    let (namespaces, ns_labels) = match k.namespace {
        Some(ns) => (
            ns.name_selector.map(|n| n.match_names).unwrap_or_default(),
            ns.label_selector.and_then(|l| {
                label_selector(&l, &format!("{path}.namespace.labelSelector"), errors)
            }),
        ),
        None => (Vec::new(), None),
    };
    // Like shell-operator, `waitForSynchronization: false` only counts with an explicit queue.
    let wait = !(k.wait_for_synchronization == Some(false) && k.queue.is_some());
    if k.wait_for_synchronization == Some(false) && k.queue.is_none() {
        tracing::warn!(field = %format!("{path}.waitForSynchronization"), "false is ignored without an explicit queue");
    }
    let queue = k.queue.unwrap_or_else(|| "main".into());
    KubernetesBinding {
        name: k.name.unwrap_or_else(|| "kubernetes".into()),
        api_version: k.api_version.filter(|v| !v.is_empty()),
        kind: k.kind,
        names,
        label_selector: k
            .label_selector
            .and_then(|l| label_selector(&l, &format!("{path}.labelSelector"), errors)),
        field_selector: (!field.is_empty()).then(|| field.join(",")),
        namespaces,
        namespace_label_selector: ns_labels,
        jq_filter: jq(k.jq_filter, path, errors),
        execute_hook_on_event: events,
        execute_hook_on_synchronization: k.execute_hook_on_synchronization.unwrap_or(true),
        wait_for_synchronization: wait,
        keep_full_objects_in_memory: k.keep_full_objects_in_memory.unwrap_or(true),
        allow_failure: k.allow_failure,
        queue,
        group: k.group,
        include_snapshots_from: k.include_snapshots_from,
    }
}

fn kubernetes_v0(
    k: RawKubernetesV0,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> KubernetesBinding {
    check_kind(&k.kind, path, errors);
    let mut events = Vec::new();
    let list = if k.event.is_empty() {
        vec!["add".into(), "update".into(), "delete".into()]
    } else {
        k.event
    };
    for e in &list {
        match e.as_str() {
            "add" => events.push(WatchEvent::Added),
            "update" => events.push(WatchEvent::Modified),
            "delete" => events.push(WatchEvent::Deleted),
            other => errors.push(FieldError::new(
                format!("{path}.event"),
                FieldProblem::Unknown {
                    found: other.into(),
                    expected: "add, update or delete",
                },
            )),
        }
    }
    let namespaces = k
        .namespace_selector
        .filter(|n| !n.any)
        .map(|n| n.match_names)
        .unwrap_or_default();
    KubernetesBinding {
        name: k.name.unwrap_or_else(|| "onKubernetesEvent".into()),
        api_version: None,
        kind: k.kind,
        names: k
            .object_name
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect(),
        label_selector: k
            .selector
            .and_then(|l| label_selector(&l, &format!("{path}.selector"), errors)),
        field_selector: None,
        namespaces,
        namespace_label_selector: None,
        jq_filter: jq(k.jq_filter, path, errors),
        execute_hook_on_event: events,
        // As SO's `HookConfigV0.ConvertAndCheck`, which leaves these false: no Synchronization
        // run (objects existing at startup only fill the snapshot) and nothing to wait for.
        execute_hook_on_synchronization: false,
        wait_for_synchronization: false,
        keep_full_objects_in_memory: true,
        allow_failure: k.allow_failure,
        queue: "main".into(),
        group: None,
        include_snapshots_from: Vec::new(),
    }
}

fn settings(raw: Option<raw::RawSettings>, errors: &mut Vec<FieldError>) -> Settings {
    let Some(raw) = raw else {
        return Settings {
            execution_min_interval: None,
            execution_burst: 1,
        };
    };
    let interval = raw.execution_min_interval.and_then(|s| {
        parse_duration(&s)
            .map_err(|e| errors.push(FieldError::new("settings.executionMinInterval", e)))
            .ok()
    });
    let burst = match raw.execution_burst {
        None => 1,
        Some(b) if b >= 1.0 && b.fract() == 0.0 && b <= f64::from(u32::MAX) => b as u32,
        Some(b) => {
            errors.push(FieldError::new(
                "settings.executionBurst",
                FieldProblem::Invalid {
                    found: b.to_string(),
                    expected: "a whole number of at least 1",
                },
            ));
            1
        }
    };
    Settings {
        execution_min_interval: interval,
        execution_burst: burst,
    }
}

/// Parses a Go duration string (`500ms`, `3s`, `1m30s`, `1h`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError(s.to_string());
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::from_secs_f64(value * secs);
        rest = &rest[unit_end..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
