//! `Chart.yaml`: the few fields the operator reads, and the `Chart` template context.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Chart.yaml annotation that lets a module render zero objects without the operator
/// refusing the render as suspicious (see `docs/templates.md`).
pub const ALLOW_EMPTY_RENDER_ANNOTATION: &str = "addon-operator.io/allow-empty-render";

/// Chart.yaml annotation that switches a module to Helm mode (`addon-operator convert-chart`
/// writes it): the templates' root is Helm's (`Values` is the module's own values section),
/// and a missing value renders as empty instead of failing, as in Helm (see
/// `docs/templates.md`).
pub const HELM_COMPAT_ANNOTATION: &str = "addon-operator.io/helm-compatible";

/// Version used when a module has no `Chart.yaml` (addon-operator writes the same default).
const DEFAULT_VERSION: &str = "0.1.0";

/// Parsed `Chart.yaml` of a module. The module name comes from the directory, never from
/// `name:` here (as in addon-operator).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartMeta {
    /// `name:` (the module name when absent).
    pub name: String,
    /// `version:` (`0.1.0` when absent).
    pub version: String,
    /// `appVersion:` if set.
    pub app_version: Option<String>,
    /// `description:` if set.
    pub description: Option<String>,
    /// `annotations:` with scalar values stringified.
    pub annotations: BTreeMap<String, String>,
    /// `true` when annotation `addon-operator.io/allow-empty-render` is `"true"`: a render
    /// with zero objects is then legitimate and must not be refused.
    pub allow_empty_render: bool,
    /// `true` when annotation `addon-operator.io/helm-compatible` is `"true"`: Helm mode.
    pub helm_compatible: bool,
}

impl ChartMeta {
    /// Reads the known fields of a parsed `Chart.yaml` (`Value::Null` when absent).
    pub fn from_raw(module_name: &str, raw: &Value) -> Self {
        let text = |k: &str| raw.get(k).and_then(scalar_string);
        let annotations: BTreeMap<String, String> = raw
            .get("annotations")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), scalar_string(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        let allow_empty_render = annotations
            .get(ALLOW_EMPTY_RENDER_ANNOTATION)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let helm_compatible = annotations
            .get(HELM_COMPAT_ANNOTATION)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Self {
            helm_compatible,
            name: text("name").unwrap_or_else(|| module_name.to_owned()),
            version: text("version").unwrap_or_else(|| DEFAULT_VERSION.to_owned()),
            app_version: text("appVersion"),
            description: text("description"),
            annotations,
            allow_empty_render,
        }
    }

    /// The `Chart` object templates see: every raw key, each also under its Helm-style
    /// capitalized name (`version` and `Version`), with `name`/`Name` and
    /// `version`/`Version` always present.
    pub fn template_context(&self, raw: &Value) -> Value {
        let mut out = Map::new();
        if let Some(m) = raw.as_object() {
            for (k, v) in m {
                out.insert(k.clone(), v.clone());
            }
        }
        out.insert("name".into(), Value::String(self.name.clone()));
        out.insert("version".into(), Value::String(self.version.clone()));
        let keys: Vec<String> = out.keys().cloned().collect();
        for k in keys {
            let cap = capitalize(&k);
            if cap != k && !out.contains_key(&cap) {
                let v = out[&k].clone();
                out.insert(cap, v);
            }
        }
        Value::Object(out)
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        _ => None,
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_chart_yaml_defaults_name_and_version() {
        let c = ChartMeta::from_raw("echo-server", &Value::Null);
        assert_eq!(
            (c.name.as_str(), c.version.as_str()),
            ("echo-server", "0.1.0")
        );
        assert!(!c.allow_empty_render);
        let ctx = c.template_context(&Value::Null);
        assert_eq!(ctx["Name"], "echo-server");
        assert_eq!(ctx["Version"], "0.1.0");
    }

    #[test]
    fn allow_empty_render_annotation_is_read_as_string_or_bool() {
        for v in [json!("true"), json!(true), json!("True")] {
            let raw = json!({"annotations": {ALLOW_EMPTY_RENDER_ANNOTATION: v}});
            assert!(ChartMeta::from_raw("m", &raw).allow_empty_render);
        }
        let raw = json!({"annotations": {ALLOW_EMPTY_RENDER_ANNOTATION: "false"}});
        assert!(!ChartMeta::from_raw("m", &raw).allow_empty_render);
    }

    #[test]
    fn template_context_has_raw_and_capitalized_keys() {
        let raw =
            json!({"name": "x", "version": "1.2.3", "appVersion": "4.5", "kubeVersion": ">=1.28"});
        let c = ChartMeta::from_raw("m", &raw);
        assert_eq!(c.app_version.as_deref(), Some("4.5"));
        let ctx = c.template_context(&raw);
        assert_eq!(ctx["AppVersion"], "4.5");
        assert_eq!(ctx["appVersion"], "4.5");
        assert_eq!(ctx["KubeVersion"], ">=1.28");
        assert_eq!(ctx["Name"], "x");
    }
}
