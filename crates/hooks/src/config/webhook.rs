//! The webhook bindings of a hook config: `kubernetesValidating`, `kubernetesMutating` and
//! `kubernetesCustomResourceConversion`, validated as shell-operator and kube-apiserver do.
//!
//! Selectors, rules and match conditions are kept as the JSON a webhook configuration holds,
//! so the operator writes them out unchanged.

use super::raw::{RawAdmission, RawConversion, RawRule};
use super::selectors::label_selector;
use super::{FieldError, FieldProblem};
use serde_json::Value;
use std::time::Duration;

/// Which admission webhook a binding serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdmissionKind {
    /// `kubernetesValidating`: a ValidatingWebhookConfiguration entry.
    Validating,
    /// `kubernetesMutating`: a MutatingWebhookConfiguration entry.
    Mutating,
}

impl AdmissionKind {
    /// The binding-context `type` (`Validating`, `Mutating`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validating => "Validating",
            Self::Mutating => "Mutating",
        }
    }

    /// The config key (`kubernetesValidating`, `kubernetesMutating`).
    pub fn config_key(self) -> &'static str {
        match self {
            Self::Validating => "kubernetesValidating",
            Self::Mutating => "kubernetesMutating",
        }
    }
}

/// What happens when the hook cannot answer: the webhook's `failurePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Refuse the request (the default, as in shell-operator and Kubernetes).
    Fail,
    /// Let the request through.
    Ignore,
}

impl FailurePolicy {
    /// The name used in configs (`Fail`, `Ignore`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "Fail",
            Self::Ignore => "Ignore",
        }
    }
}

/// One `kubernetesValidating` or `kubernetesMutating` binding.
#[derive(Debug, Clone)]
pub struct AdmissionBinding {
    /// The webhook's name (a domain of at least three segments), also the binding name.
    pub name: String,
    /// Validating or mutating.
    pub kind: AdmissionKind,
    /// `rules` as a webhook configuration holds them.
    pub rules: Vec<Value>,
    /// `labelSelector` as the webhook's `objectSelector`.
    pub object_selector: Option<Value>,
    /// `namespace.labelSelector` as the webhook's `namespaceSelector`.
    pub namespace_selector: Option<Value>,
    /// `failurePolicy` (default `Fail`).
    pub failure_policy: FailurePolicy,
    /// `sideEffects` (default `None`).
    pub side_effects: String,
    /// `timeoutSeconds` (default 10, 1 to 30).
    pub timeout: Duration,
    /// `matchConditions` as a webhook configuration holds them.
    pub match_conditions: Vec<Value>,
    /// `group`: only adds the group's snapshots (the context keeps its type).
    pub group: Option<String>,
    /// Kubernetes bindings whose snapshots go into the context (merged with the group's).
    pub include_snapshots_from: Vec<String>,
}

/// One `fromVersion` → `toVersion` step of a conversion binding; versions are `group/version`
/// or a bare version that matches any group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConversionRule {
    /// Source version.
    pub from_version: String,
    /// Produced version.
    pub to_version: String,
}

/// One `kubernetesCustomResourceConversion` binding.
#[derive(Debug, Clone)]
pub struct ConversionBinding {
    /// Binding name.
    pub name: String,
    /// The CRD whose conversion the hook serves (`plural.group`).
    pub crd_name: String,
    /// The steps the hook performs.
    pub conversions: Vec<ConversionRule>,
    /// `group`: only adds the group's snapshots.
    pub group: Option<String>,
    /// Kubernetes bindings whose snapshots go into the context.
    pub include_snapshots_from: Vec<String>,
}

/// Validates the admission bindings of one kind; `errors` collects every problem.
pub(super) fn admission_bindings(
    raw: Vec<RawAdmission>,
    kind: AdmissionKind,
    errors: &mut Vec<FieldError>,
) -> Vec<AdmissionBinding> {
    let mut out: Vec<AdmissionBinding> = Vec::new();
    for (i, a) in raw.into_iter().enumerate() {
        let path = format!("{}[{i}]", kind.config_key());
        check_webhook_name(&a.name, &format!("{path}.name"), errors);
        if out.iter().any(|b| b.name == a.name) {
            errors.push(FieldError::new(
                format!("{path}.name"),
                FieldProblem::Rule("another binding of this kind has the same name"),
            ));
        }
        for (r, rule) in a.rules.iter().enumerate() {
            check_rule(rule, &format!("{path}.rules[{r}]"), errors);
        }
        let failure_policy = match a.failure_policy.as_deref() {
            None | Some("Fail") => FailurePolicy::Fail,
            Some("Ignore") => FailurePolicy::Ignore,
            Some(other) => {
                errors.push(unknown(
                    format!("{path}.failurePolicy"),
                    other,
                    "Fail or Ignore",
                ));
                FailurePolicy::Fail
            }
        };
        let side_effects = a.side_effects.unwrap_or_else(|| "None".into());
        if !matches!(side_effects.as_str(), "None" | "NoneOnDryRun") {
            errors.push(unknown(
                format!("{path}.sideEffects"),
                &side_effects,
                "None or NoneOnDryRun",
            ));
        }
        let timeout = a.timeout_seconds.unwrap_or(10);
        if !(1..=30).contains(&timeout) {
            errors.push(FieldError::new(
                format!("{path}.timeoutSeconds"),
                FieldProblem::Invalid {
                    found: timeout.to_string(),
                    expected: "a number of seconds from 1 to 30",
                },
            ));
        }
        for (c, cond) in a.match_conditions.iter().enumerate() {
            if cond.name.trim().is_empty() || cond.expression.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("{path}.matchConditions[{c}]"),
                    FieldProblem::Rule("name and expression are required"),
                ));
            }
        }
        let object_selector = a.label_selector.map(|s| {
            label_selector(&s, &format!("{path}.labelSelector"), errors);
            to_json(&s)
        });
        let namespace_selector = a.namespace.map(|n| {
            let at = format!("{path}.namespace.labelSelector");
            label_selector(&n.label_selector, &at, errors);
            to_json(&n.label_selector)
        });
        out.push(AdmissionBinding {
            name: a.name,
            kind,
            rules: a.rules.iter().map(to_json).collect(),
            object_selector,
            namespace_selector,
            failure_policy,
            side_effects,
            timeout: Duration::from_secs(timeout.clamp(1, 30) as u64),
            match_conditions: a.match_conditions.iter().map(to_json).collect(),
            group: a.group,
            include_snapshots_from: a.include_snapshots_from,
        });
    }
    out
}

/// Validates the conversion bindings; `errors` collects every problem.
pub(super) fn conversion_bindings(
    raw: Vec<RawConversion>,
    errors: &mut Vec<FieldError>,
) -> Vec<ConversionBinding> {
    let mut out = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        let path = format!("kubernetesCustomResourceConversion[{i}]");
        if c.name.trim().is_empty() {
            errors.push(FieldError::new(
                format!("{path}.name"),
                FieldProblem::Required,
            ));
        }
        if c.crd_name.split('.').filter(|p| !p.is_empty()).count() < 2 {
            errors.push(FieldError::new(
                format!("{path}.crdName"),
                FieldProblem::Invalid {
                    found: c.crd_name.clone(),
                    expected: "a CRD name, <plural>.<group>",
                },
            ));
        }
        if c.conversions.is_empty() {
            errors.push(FieldError::new(
                format!("{path}.conversions"),
                FieldProblem::Required,
            ));
        }
        let mut conversions = Vec::new();
        for (r, rule) in c.conversions.into_iter().enumerate() {
            for (field, v) in [
                ("fromVersion", &rule.from_version),
                ("toVersion", &rule.to_version),
            ] {
                if v.trim().is_empty() || v.split('/').count() > 2 {
                    errors.push(FieldError::new(
                        format!("{path}.conversions[{r}].{field}"),
                        FieldProblem::Invalid {
                            found: v.clone(),
                            expected: "a version or group/version, e.g. v1 or stable.example.com/v1",
                        },
                    ));
                }
            }
            conversions.push(ConversionRule {
                from_version: rule.from_version,
                to_version: rule.to_version,
            });
        }
        out.push(ConversionBinding {
            name: c.name,
            crd_name: c.crd_name,
            conversions,
            group: c.group,
            include_snapshots_from: c.include_snapshots_from,
        });
    }
    out
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn unknown(field: String, found: &str, expected: &'static str) -> FieldError {
    FieldError::new(
        field,
        FieldProblem::Unknown {
            found: found.into(),
            expected,
        },
    )
}

/// kube-apiserver's `IsFullyQualifiedName`: a DNS subdomain of at least three segments.
fn check_webhook_name(name: &str, path: &str, errors: &mut Vec<FieldError>) {
    if name.is_empty() {
        errors.push(FieldError::new(path, FieldProblem::Required));
        return;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let labels: Vec<&str> = name.split('.').collect();
    if name.len() > 253 || !labels.iter().all(|l| label_ok(l)) || labels.len() < 3 {
        errors.push(FieldError::new(
            path,
            FieldProblem::Invalid {
                found: name.into(),
                expected: "a lower-case domain with at least three segments, e.g. policy.example.com",
            },
        ));
    }
}

/// kube-apiserver's `ValidateRuleWithOperations`, as shell-operator copies it.
fn check_rule(rule: &RawRule, path: &str, errors: &mut Vec<FieldError>) {
    let rule_err = |errors: &mut Vec<FieldError>, field: &str, problem: FieldProblem| {
        errors.push(FieldError::new(format!("{path}.{field}"), problem));
    };
    const OPERATIONS: [&str; 5] = ["*", "CREATE", "UPDATE", "DELETE", "CONNECT"];
    for (field, list) in [
        ("operations", &rule.operations),
        ("apiGroups", &rule.api_groups),
        ("apiVersions", &rule.api_versions),
        ("resources", &rule.resources),
    ] {
        if list.is_empty() {
            rule_err(errors, field, FieldProblem::Required);
        } else if list.len() > 1 && list.iter().any(|s| s == "*") {
            rule_err(
                errors,
                field,
                FieldProblem::Rule("if '*' is present, nothing else may be listed"),
            );
        }
        if list.iter().any(String::is_empty) && field != "apiGroups" {
            rule_err(
                errors,
                field,
                FieldProblem::Rule("entries must not be empty"),
            );
        }
    }
    for op in &rule.operations {
        if !OPERATIONS.contains(&op.as_str()) {
            rule_err(
                errors,
                "operations",
                FieldProblem::Unknown {
                    found: op.clone(),
                    expected: "CREATE, UPDATE, DELETE, CONNECT or *",
                },
            );
        }
    }
    if let Some(scope) = &rule.scope
        && !matches!(scope.as_str(), "Cluster" | "Namespaced" | "*")
    {
        rule_err(
            errors,
            "scope",
            FieldProblem::Unknown {
                found: scope.clone(),
                expected: "Cluster, Namespaced or *",
            },
        );
    }
    if rule.resources.iter().any(|r| r == "*/*") && rule.resources.len() > 1 {
        rule_err(
            errors,
            "resources",
            FieldProblem::Rule("if '*/*' is present, nothing else may be listed"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::{HookConfig, HookScope};
    use super::*;

    #[test]
    fn admission_bindings_get_shell_operator_defaults() {
        let cfg = HookConfig::parse(
            r#"
configVersion: v1
kubernetes: [{name: pods, kind: Pod}]
kubernetesValidating:
- name: private-repo-policy.example.com
  includeSnapshotsFrom: [pods]
  namespace: {labelSelector: {matchLabels: {name: example-204}}}
  rules:
  - {apiGroups: [stable.example.com], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [crontabs], scope: Namespaced}
kubernetesMutating:
- name: add.label.example.com
  failurePolicy: Ignore
  timeoutSeconds: 3
  labelSelector: {matchExpressions: [{key: skip, operator: DoesNotExist}]}
  rules: [{apiGroups: [apps], apiVersions: ["*"], operations: ["*"], resources: [deployments]}]
kubernetesCustomResourceConversion:
- name: alpha1_to_alpha2
  crdName: crontabs.stable.example.com
  conversions: [{fromVersion: stable.example.com/v1alpha1, toVersion: stable.example.com/v1alpha2}]
"#,
            "h",
            HookScope::Module,
        )
        .unwrap();
        let v = &cfg.validating[0];
        assert_eq!(v.failure_policy, FailurePolicy::Fail);
        assert_eq!(v.side_effects, "None");
        assert_eq!(v.timeout, Duration::from_secs(10));
        assert_eq!(
            v.namespace_selector,
            Some(serde_json::json!({"matchLabels": {"name": "example-204"}}))
        );
        assert_eq!(v.rules[0]["scope"], "Namespaced");
        let m = &cfg.mutating[0];
        assert_eq!(
            (m.failure_policy, m.timeout),
            (FailurePolicy::Ignore, Duration::from_secs(3))
        );
        assert_eq!(
            m.object_selector,
            Some(
                serde_json::json!({"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]})
            )
        );
        assert_eq!(
            cfg.conversions[0].conversions[0].to_version,
            "stable.example.com/v1alpha2"
        );
        assert!(!cfg.is_empty());
    }

    #[test]
    fn every_webhook_problem_is_reported_with_its_field() {
        let err = HookConfig::parse(
            r#"
configVersion: v1
kubernetesValidating:
- name: short.name
  failurePolicy: Sometimes
  sideEffects: Some
  timeoutSeconds: 60
  includeSnapshotsFrom: [nothing]
  rules: [{apiGroups: ["*", apps], apiVersions: [v1], operations: [PATCH], resources: [pods], scope: Everywhere}]
kubernetesCustomResourceConversion:
- name: c
  crdName: crontabs
  conversions: []
"#,
            "h",
            HookScope::Global,
        )
        .unwrap_err()
        .to_string();
        for field in [
            "kubernetesValidating[0].name",
            "kubernetesValidating[0].failurePolicy",
            "kubernetesValidating[0].sideEffects",
            "kubernetesValidating[0].timeoutSeconds",
            "kubernetesValidating[0].includeSnapshotsFrom",
            "kubernetesValidating[0].rules[0].apiGroups",
            "kubernetesValidating[0].rules[0].operations",
            "kubernetesValidating[0].rules[0].scope",
            "kubernetesCustomResourceConversion[0].crdName",
            "kubernetesCustomResourceConversion[0].conversions",
        ] {
            assert!(err.contains(field), "{field} missing from: {err}");
        }
    }
}
