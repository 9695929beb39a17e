//! Hook outputs: values patches, object patch operations and metric operations, parsed in full
//! before anything is applied so that a malformed file fails the run and changes nothing.

use crate::jq::JqFilter;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A malformed output file.
#[derive(Debug, thiserror::Error)]
#[error("hook {hook}: malformed {var} ({}): {reason}", .path.display())]
pub struct OutputError {
    /// Hook name.
    pub hook: String,
    /// The environment variable that named the file (`KUBERNETES_PATCH_PATH`, ...).
    pub var: &'static str,
    /// The file.
    pub path: PathBuf,
    /// What is wrong, with the document or line number.
    pub reason: String,
}

/// Everything a run produced, parsed and validated.
#[derive(Debug, Default)]
pub struct HookOutputs {
    /// RFC 6902 patch for in-memory values (`$VALUES_JSON_PATCH_PATH`).
    pub values_patch: json_patch::Patch,
    /// RFC 6902 patch for config values (`$CONFIG_VALUES_JSON_PATCH_PATH`).
    pub config_values_patch: json_patch::Patch,
    /// Object operations (`$KUBERNETES_PATCH_PATH`), in file order.
    pub object_patches: Vec<ObjectPatch>,
    /// Metric operations (`$METRICS_PATH`), in file order.
    pub metrics: Vec<MetricOp>,
}

/// How `Create*` treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    /// Fail if it exists.
    Create,
    /// Update it (the object replaces the live one; `.status` is not touched).
    CreateOrUpdate,
    /// Leave it alone.
    CreateIfNotExists,
}

/// Deletion propagation of the `Delete*` operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletePropagation {
    /// `Delete`: foreground, waits until the object is gone.
    Foreground,
    /// `DeleteInBackground`.
    Background,
    /// `DeleteNonCascading`: dependents are orphaned.
    Orphan,
}

/// Which object an operation targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// `apiVersion` if given (kind resolution uses it).
    pub api_version: Option<String>,
    /// Kind, plural or short name.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
}

/// One operation from `$KUBERNETES_PATCH_PATH`.
#[derive(Debug)]
pub enum ObjectPatch {
    /// `Create`, `CreateOrUpdate`, `CreateIfNotExists`.
    Create {
        /// Behaviour when the object exists.
        mode: CreateMode,
        /// The object (has apiVersion, kind, metadata.name).
        object: Value,
        /// Subresource to write (e.g. `status`).
        subresource: Option<String>,
    },
    /// `Delete`, `DeleteInBackground`, `DeleteNonCascading`; a missing object is not an error.
    Delete {
        /// Target.
        target: ObjectRef,
        /// Propagation policy.
        propagation: DeletePropagation,
    },
    /// `MergePatch`, `JSONPatch` or `JQPatch`.
    Patch {
        /// Target.
        target: ObjectRef,
        /// The patch.
        patch: PatchBody,
        /// Subresource to patch.
        subresource: Option<String>,
        /// A missing object is skipped instead of failing the run.
        ignore_missing_object: bool,
        /// `ignoreHookError`: a `status` patch applied even when the hook fails.
        ignore_hook_error: bool,
    },
}

impl ObjectPatch {
    /// Whether shell-operator applies this operation after a failed run: patches of the
    /// `status` subresource marked `ignoreHookError`.
    pub fn applies_on_hook_error(&self) -> bool {
        matches!(self, ObjectPatch::Patch { subresource: Some(s), ignore_hook_error: true, .. }
            if s.trim_start_matches('/') == "status")
    }
}

/// The body of a patch operation.
#[derive(Debug)]
pub enum PatchBody {
    /// RFC 7386 merge patch.
    Merge(Value),
    /// RFC 6902 JSON patch.
    Json(json_patch::Patch),
    /// jq filter applied to the live object, result written back with its resourceVersion.
    Jq(JqFilter),
}

/// What a metric operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricAction {
    /// Gauge: set the value.
    Set,
    /// Counter: add the value.
    Add,
    /// Histogram: observe the value.
    Observe,
    /// Drop series: a whole group (`{"group": g, "action": "expire"}`).
    Expire,
}

/// One line of `$METRICS_PATH`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricOp {
    /// Metric name (empty only for a group expire).
    pub name: String,
    /// What to do.
    pub action: MetricAction,
    /// Value for set/add/observe.
    pub value: f64,
    /// Labels (the engine adds `hook`).
    pub labels: std::collections::BTreeMap<String, String>,
    /// Group: a grouped op first expires the group's earlier series.
    pub group: Option<String>,
    /// Histogram buckets for `observe`.
    pub buckets: Option<Vec<f64>>,
}

/// Paths of the output files of one run.
#[derive(Debug, Clone)]
pub struct OutputPaths {
    /// `$VALUES_JSON_PATCH_PATH`.
    pub values_patch: PathBuf,
    /// `$CONFIG_VALUES_JSON_PATCH_PATH`.
    pub config_values_patch: PathBuf,
    /// `$KUBERNETES_PATCH_PATH`.
    pub kubernetes_patch: PathBuf,
    /// `$METRICS_PATH`.
    pub metrics: PathBuf,
}

/// Reads and validates every output file of a run.
///
/// # Errors
/// The first malformed file, naming the hook, the variable, the file and the document or line.
pub fn read_outputs(paths: &OutputPaths, hook: &str) -> Result<HookOutputs, OutputError> {
    let read = |var: &'static str, path: &Path| -> Result<String, OutputError> {
        match std::fs::read_to_string(path) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(OutputError {
                hook: hook.into(),
                var,
                path: path.into(),
                reason: e.to_string(),
            }),
        }
    };
    fn wrap<'a>(
        hook: &'a str,
        var: &'static str,
        path: &'a Path,
    ) -> impl Fn(String) -> OutputError + 'a {
        move |reason| OutputError {
            hook: hook.into(),
            var,
            path: path.into(),
            reason,
        }
    }
    let v = "VALUES_JSON_PATCH_PATH";
    let values_patch = parse_json_patch(&read(v, &paths.values_patch)?).map_err(wrap(
        hook,
        v,
        &paths.values_patch,
    ))?;
    let c = "CONFIG_VALUES_JSON_PATCH_PATH";
    let config_values_patch = parse_json_patch(&read(c, &paths.config_values_patch)?)
        .map_err(wrap(hook, c, &paths.config_values_patch))?;
    let k = "KUBERNETES_PATCH_PATH";
    let object_patches = parse_object_patches(&read(k, &paths.kubernetes_patch)?).map_err(wrap(
        hook,
        k,
        &paths.kubernetes_patch,
    ))?;
    let m = "METRICS_PATH";
    let metrics =
        parse_metrics(&read(m, &paths.metrics)?).map_err(wrap(hook, m, &paths.metrics))?;
    Ok(HookOutputs {
        values_patch,
        config_values_patch,
        object_patches,
        metrics,
    })
}

/// A values patch file: one JSON array of operations, or a stream of operations/arrays (one per line).
pub fn parse_json_patch(text: &str) -> Result<json_patch::Patch, String> {
    let mut ops = Vec::new();
    for (i, item) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let item = item.map_err(|e| format!("document {}: {e}", i + 1))?;
        match item {
            Value::Array(a) => ops.extend(a),
            other => ops.push(other),
        }
    }
    serde_json::from_value(Value::Array(ops))
        .map_err(|e| format!("invalid JSON patch operation: {e}"))
}

/// Splits a YAML multi-document or JSON stream into values; top-level arrays are flattened.
fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        for (i, item) in serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .enumerate()
        {
            out.push(item.map_err(|e| format!("document {}: {e}", i + 1))?);
        }
    } else {
        for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let v = Value::deserialize(doc).map_err(|e| format!("document {}: {e}", i + 1))?;
            out.push(v);
        }
    }
    Ok(out
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            v => vec![v],
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawOperation {
    operation: String,
    object: Option<Value>,
    api_version: Option<String>,
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
    merge_patch: Option<Value>,
    json_patch: Option<Value>,
    jq_filter: Option<String>,
    #[serde(default)]
    ignore_missing_object: bool,
    #[serde(default)]
    ignore_hook_error: bool,
}

/// Parses `$KUBERNETES_PATCH_PATH` (YAML documents or JSON objects/arrays).
pub fn parse_object_patches(text: &str) -> Result<Vec<ObjectPatch>, String> {
    documents(text)?
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            let raw: RawOperation =
                serde_json::from_value(doc).map_err(|e| format!("operation {}: {e}", i + 1))?;
            object_patch(raw).map_err(|e| format!("operation {}: {e}", i + 1))
        })
        .collect()
}

/// `object`/`mergePatch`/`jsonPatch` may be given as a map or as a string holding YAML/JSON.
fn inline_or_string(v: Value, field: &str) -> Result<Value, String> {
    match v {
        Value::String(s) => {
            serde_yaml::from_str(&s).map_err(|e| format!("{field}: invalid YAML/JSON string: {e}"))
        }
        v => Ok(v),
    }
}

fn object_patch(raw: RawOperation) -> Result<ObjectPatch, String> {
    let target = |raw: &RawOperation| -> Result<ObjectRef, String> {
        let kind = raw
            .kind
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or("kind: required")?;
        let name = raw
            .name
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or("name: required")?;
        Ok(ObjectRef {
            api_version: raw.api_version.clone().filter(|v| !v.is_empty()),
            kind,
            namespace: raw.namespace.clone().filter(|v| !v.is_empty()),
            name,
        })
    };
    let patch = |body: PatchBody, raw: &RawOperation| -> Result<ObjectPatch, String> {
        Ok(ObjectPatch::Patch {
            target: target(raw)?,
            patch: body,
            subresource: raw.subresource.clone(),
            ignore_missing_object: raw.ignore_missing_object,
            ignore_hook_error: raw.ignore_hook_error,
        })
    };
    let delete = |propagation, raw: &RawOperation| {
        Ok(ObjectPatch::Delete {
            target: target(raw)?,
            propagation,
        })
    };
    match raw.operation.as_str() {
        op @ ("Create" | "CreateOrUpdate" | "CreateIfNotExists") => {
            let object = inline_or_string(raw.object.ok_or("object: required")?, "object")?;
            for (ptr, what) in [
                ("/apiVersion", "apiVersion"),
                ("/kind", "kind"),
                ("/metadata/name", "metadata.name"),
            ] {
                if object
                    .pointer(ptr)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(format!("object.{what}: required"));
                }
            }
            let mode = match op {
                "Create" => CreateMode::Create,
                "CreateOrUpdate" => CreateMode::CreateOrUpdate,
                _ => CreateMode::CreateIfNotExists,
            };
            Ok(ObjectPatch::Create {
                mode,
                object,
                subresource: raw.subresource,
            })
        }
        "Delete" => delete(DeletePropagation::Foreground, &raw),
        "DeleteInBackground" => delete(DeletePropagation::Background, &raw),
        "DeleteNonCascading" => delete(DeletePropagation::Orphan, &raw),
        "MergePatch" => {
            let body = inline_or_string(
                raw.merge_patch.clone().ok_or("mergePatch: required")?,
                "mergePatch",
            )?;
            if !body.is_object() {
                return Err("mergePatch: must be a map".into());
            }
            patch(PatchBody::Merge(body), &raw)
        }
        "JSONPatch" => {
            let body = inline_or_string(
                raw.json_patch.clone().ok_or("jsonPatch: required")?,
                "jsonPatch",
            )?;
            let ops = serde_json::from_value(body).map_err(|e| format!("jsonPatch: {e}"))?;
            patch(PatchBody::Json(ops), &raw)
        }
        "JQPatch" => {
            let text = raw.jq_filter.clone().ok_or("jqFilter: required")?;
            let filter = JqFilter::compile(&text).map_err(|e| format!("jqFilter: {e}"))?;
            patch(PatchBody::Jq(filter), &raw)
        }
        other => Err(format!(
            "operation: unknown {other:?} (expected Create, CreateOrUpdate, CreateIfNotExists, Delete, \
             DeleteInBackground, DeleteNonCascading, MergePatch, JSONPatch or JQPatch)"
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    #[serde(default)]
    name: String,
    action: Option<String>,
    value: Option<f64>,
    set: Option<f64>,
    add: Option<f64>,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    group: Option<String>,
    buckets: Option<Vec<f64>>,
}

/// Parses `$METRICS_PATH`: one JSON object per line (a JSON stream is accepted too).
pub fn parse_metrics(text: &str) -> Result<Vec<MetricOp>, String> {
    let mut out = Vec::new();
    for (i, item) in serde_json::Deserializer::from_str(text)
        .into_iter::<RawMetric>()
        .enumerate()
    {
        let at = |e: String| format!("metric {}: {e}", i + 1);
        let raw = item.map_err(|e| at(e.to_string()))?;
        out.push(metric(raw).map_err(at)?);
    }
    Ok(out)
}

fn metric(raw: RawMetric) -> Result<MetricOp, String> {
    let (action, value) = match (raw.action.as_deref(), raw.set, raw.add) {
        (None, Some(v), None) => (MetricAction::Set, Some(v)),
        (None, None, Some(v)) => (MetricAction::Add, Some(v)),
        (Some("set"), None, None) => (MetricAction::Set, raw.value),
        (Some("add"), None, None) => (MetricAction::Add, raw.value),
        (Some("observe"), None, None) => (MetricAction::Observe, raw.value),
        (Some("expire"), None, None) => (MetricAction::Expire, Some(0.0)),
        (Some(a), None, None) => {
            return Err(format!(
                "action: unknown {a:?} (expected set, add, observe or expire)"
            ));
        }
        _ => return Err("exactly one of action, set or add is required".into()),
    };
    let value = value.ok_or("value: required for set, add and observe")?;
    if action != MetricAction::Expire && raw.name.is_empty() {
        return Err("name: required unless action is expire".into());
    }
    if action == MetricAction::Observe {
        if raw.group.is_some() {
            return Err("observe: histograms cannot be grouped".into());
        }
        if raw.buckets.is_none() {
            return Err("buckets: required for observe".into());
        }
    }
    Ok(MetricOp {
        name: raw.name,
        action,
        value,
        labels: raw.labels,
        group: raw.group,
        buckets: raw.buckets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_patches_accept_arrays_and_json_lines() {
        let p = parse_json_patch(
            "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]\n{\"op\":\"remove\",\"path\":\"/b\"}\n",
        )
        .unwrap();
        assert_eq!(p.0.len(), 2);
        assert!(parse_json_patch("").unwrap().0.is_empty());
        assert!(
            parse_json_patch("{\"op\":\"frob\"}")
                .unwrap_err()
                .contains("invalid JSON patch")
        );
    }

    #[test]
    fn object_patches_parse_from_yaml_documents_and_json() {
        let ops = parse_object_patches(
            "operation: Create\nobject: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n---\n\
             operation: JQPatch\nkind: ConfigMap\nname: a\nnamespace: n\njqFilter: .data.x = \"1\"\n---\n\
             operation: DeleteNonCascading\nkind: Pod\nname: p\n",
        )
        .unwrap();
        assert_eq!(ops.len(), 3);
        assert!(matches!(
            ops[2],
            ObjectPatch::Delete {
                propagation: DeletePropagation::Orphan,
                ..
            }
        ));
        let ops = parse_object_patches(
            r#"{"operation":"MergePatch","kind":"Deployment","name":"d","mergePatch":"spec: {replicas: 1}","subresource":"scale"}"#,
        )
        .unwrap();
        let ObjectPatch::Patch {
            patch: PatchBody::Merge(m),
            subresource,
            ..
        } = &ops[0]
        else {
            panic!()
        };
        assert_eq!(
            (m, subresource.as_deref()),
            (&json!({"spec": {"replicas": 1}}), Some("scale"))
        );
    }

    #[test]
    fn malformed_object_patches_say_which_operation_and_field() {
        let err = parse_object_patches("operation: Create\nobject: {kind: X}\n").unwrap_err();
        assert!(
            err.contains("operation 1: object.apiVersion: required"),
            "{err}"
        );
        let err = parse_object_patches("{\"operation\":\"Delete\",\"kind\":\"Pod\"}").unwrap_err();
        assert!(err.contains("name: required"), "{err}");
        let err = parse_object_patches("operation: Explode\n").unwrap_err();
        assert!(err.contains("unknown \"Explode\""), "{err}");
    }

    #[test]
    fn metrics_parse_every_action_and_shorthand() {
        let m = parse_metrics(
            "{\"name\":\"a\",\"action\":\"set\",\"value\":1,\"labels\":{\"x\":\"y\"}}\n\
             {\"name\":\"b\",\"add\":2}\n{\"name\":\"c\",\"action\":\"observe\",\"value\":0.5,\"buckets\":[1]}\n\
             {\"group\":\"g\",\"action\":\"expire\"}\n",
        )
        .unwrap();
        let actions: Vec<_> = m.iter().map(|m| m.action).collect();
        assert_eq!(
            actions,
            [
                MetricAction::Set,
                MetricAction::Add,
                MetricAction::Observe,
                MetricAction::Expire
            ]
        );
        assert!(
            parse_metrics("{\"name\":\"a\",\"action\":\"set\"}")
                .unwrap_err()
                .contains("metric 1: value")
        );
        assert!(
            parse_metrics("{\"action\":\"expire\"}").is_ok(),
            "expire without group clears the hook's implicit group"
        );
        let no_buckets = parse_metrics("{\"name\":\"h\",\"action\":\"observe\",\"value\":1}");
        assert!(no_buckets.unwrap_err().contains("buckets: required"));
        let both = parse_metrics("{\"name\":\"a\",\"set\":1,\"add\":1}");
        assert!(both.unwrap_err().contains("exactly one of"));
    }
}
