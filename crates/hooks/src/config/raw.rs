//! Stage one of `--config` parsing: the shape a hook may declare, as serde types.
//!
//! Unknown fields are rejected so that a typo (`executeHookOnEvents`) is an error naming the
//! field instead of a silently ignored setting.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything a hook may print for `--config`, v0 and v1 together; validation decides which
/// keys are allowed for the declared `configVersion` and the hook's kind.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub config_version: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub on_startup: Option<f64>,
    #[serde(default)]
    pub schedule: Vec<RawSchedule>,
    #[serde(default)]
    pub kubernetes: Vec<RawKubernetes>,
    #[serde(default)]
    pub on_kubernetes_event: Vec<RawKubernetesV0>,
    pub settings: Option<RawSettings>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub before_all: Option<f64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub after_all: Option<f64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub before_helm: Option<f64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub after_helm: Option<f64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub before_delete_helm: Option<f64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub after_delete_helm: Option<f64>,
    pub kubernetes_validating: Option<Vec<RawAdmission>>,
    pub kubernetes_mutating: Option<Vec<RawAdmission>>,
    pub kubernetes_custom_resource_conversion: Option<Vec<RawConversion>>,
}

/// One `kubernetesValidating` or `kubernetesMutating` binding (shell-operator's
/// `KubernetesAdmissionConfigV1`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawAdmission {
    #[serde(default)]
    pub name: String,
    pub group: Option<String>,
    #[serde(default)]
    pub include_snapshots_from: Vec<String>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
    pub failure_policy: Option<String>,
    pub label_selector: Option<RawLabelSelector>,
    pub namespace: Option<RawAdmissionNamespace>,
    pub side_effects: Option<String>,
    pub timeout_seconds: Option<i64>,
    #[serde(default)]
    pub match_conditions: Vec<RawMatchCondition>,
}

/// `namespace` of an admission binding: only `labelSelector` (the webhook's namespaceSelector).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawAdmissionNamespace {
    pub label_selector: RawLabelSelector,
}

/// A `RuleWithOperations` of an admission binding, as kube-apiserver's webhook configurations
/// hold it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawRule {
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub api_versions: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub operations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A `matchConditions` entry: a CEL expression the API server evaluates.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatchCondition {
    pub name: String,
    pub expression: String,
}

/// One `kubernetesCustomResourceConversion` binding.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawConversion {
    #[serde(default)]
    pub name: String,
    pub group: Option<String>,
    #[serde(default)]
    pub include_snapshots_from: Vec<String>,
    #[serde(default)]
    pub crd_name: String,
    #[serde(default)]
    pub conversions: Vec<RawConversionRule>,
}

/// A `fromVersion` → `toVersion` step a conversion hook performs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawConversionRule {
    pub from_version: String,
    pub to_version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawSchedule {
    pub name: Option<String>,
    pub crontab: String,
    #[serde(default)]
    pub allow_failure: bool,
    pub queue: Option<String>,
    pub group: Option<String>,
    #[serde(default)]
    pub include_snapshots_from: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawKubernetes {
    pub name: Option<String>,
    pub api_version: Option<String>,
    pub kind: String,
    pub name_selector: Option<RawNameSelector>,
    pub label_selector: Option<RawLabelSelector>,
    pub field_selector: Option<RawFieldSelector>,
    pub namespace: Option<RawNamespaceSelector>,
    pub jq_filter: Option<String>,
    pub execute_hook_on_event: Option<Vec<String>>,
    /// Deprecated alias of `executeHookOnEvent`.
    pub watch_event: Option<Vec<String>>,
    #[serde(default, deserialize_with = "bool_or_string")]
    pub execute_hook_on_synchronization: Option<bool>,
    #[serde(default, deserialize_with = "bool_or_string")]
    pub wait_for_synchronization: Option<bool>,
    #[serde(default, deserialize_with = "bool_or_string")]
    pub keep_full_objects_in_memory: Option<bool>,
    pub resynchronization_period: Option<String>,
    #[serde(default)]
    pub allow_failure: bool,
    pub queue: Option<String>,
    pub group: Option<String>,
    #[serde(default)]
    pub include_snapshots_from: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawKubernetesV0 {
    pub name: Option<String>,
    pub kind: String,
    #[serde(default)]
    pub event: Vec<String>,
    pub selector: Option<RawLabelSelector>,
    /// One object name (SO turns it into a `nameSelector`).
    pub object_name: Option<String>,
    pub namespace_selector: Option<RawNamespaceSelectorV0>,
    pub jq_filter: Option<String>,
    #[serde(default)]
    pub allow_failure: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawNamespaceSelectorV0 {
    #[serde(default)]
    pub match_names: Vec<String>,
    #[serde(default)]
    pub any: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawNameSelector {
    #[serde(default)]
    pub match_names: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawLabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<RawLabelExpression>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawLabelExpression {
    pub key: String,
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawFieldSelector {
    #[serde(default)]
    pub match_expressions: Vec<RawFieldExpression>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawFieldExpression {
    pub field: String,
    pub operator: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawNamespaceSelector {
    pub name_selector: Option<RawNameSelector>,
    pub label_selector: Option<RawLabelSelector>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawSettings {
    pub execution_min_interval: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub execution_burst: Option<f64>,
}

/// shell-operator's Go structs hold some numbers and booleans as strings (`executionBurst: "2"`,
/// `keepFullObjectsInMemory: "false"`), so both spellings are accepted.
#[derive(Deserialize)]
#[serde(untagged)]
enum Loose<T> {
    Value(T),
    Text(String),
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<Loose<f64>>::deserialize(d)? {
        None => Ok(None),
        Some(Loose::Value(v)) => Ok(Some(v)),
        Some(Loose::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected a number, got {t:?}"))),
    }
}

fn bool_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Loose<bool>>::deserialize(d)? {
        None => Ok(None),
        Some(Loose::Value(v)) => Ok(Some(v)),
        Some(Loose::Text(t)) => match t.trim() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom(format!(
                "expected true or false, got {t:?}"
            ))),
        },
    }
}
