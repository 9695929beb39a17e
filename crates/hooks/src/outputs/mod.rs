//! Hook outputs: values patches, object patch operations and metric operations, parsed in full
//! before anything is applied so that a malformed file fails the run and changes nothing.
//!
//! YAML goes through the workspace's `yaml-json` crate, so `1: a` in an object's data means
//! what it means to kubectl (the key `"1"`).

mod error;

pub use error::{MetricLineError, OperationError, OutputError, OutputFileError};

use crate::jq::JqFilter;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

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
    /// 1-based line of `$METRICS_PATH` where the operation starts (errors and logs name it).
    pub line: usize,
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
/// The first malformed file, naming the hook, the variable, the file and the document,
/// operation or line.
pub fn read_outputs(paths: &OutputPaths, hook: &str) -> Result<HookOutputs, OutputError> {
    fn read<T>(
        hook: &str,
        var: &'static str,
        path: &Path,
        parse: impl FnOnce(&str) -> Result<T, OutputFileError>,
    ) -> Result<T, OutputError> {
        // Most runs leave most outputs empty: a `stat` answers for them.
        let text = match std::fs::metadata(path) {
            Ok(m) if m.is_file() && m.len() == 0 => Ok(String::new()),
            _ => match std::fs::read_to_string(path) {
                Ok(s) => Ok(s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                Err(e) => Err(OutputFileError::Read(e)),
            },
        };
        text.and_then(|t| parse(&t)).map_err(|source| OutputError {
            hook: hook.into(),
            var,
            path: path.into(),
            source: Box::new(source),
        })
    }
    Ok(HookOutputs {
        values_patch: read(
            hook,
            "VALUES_JSON_PATCH_PATH",
            &paths.values_patch,
            parse_json_patch,
        )?,
        config_values_patch: read(
            hook,
            "CONFIG_VALUES_JSON_PATCH_PATH",
            &paths.config_values_patch,
            parse_json_patch,
        )?,
        object_patches: read(
            hook,
            "KUBERNETES_PATCH_PATH",
            &paths.kubernetes_patch,
            parse_object_patches,
        )?,
        metrics: read(hook, "METRICS_PATH", &paths.metrics, parse_metrics)?,
    })
}

/// A values patch file: one JSON array of operations, or a stream of operations/arrays (one per line).
///
/// # Errors
/// A document that is not JSON, or an element that is not an RFC 6902 operation.
pub fn parse_json_patch(text: &str) -> Result<json_patch::Patch, OutputFileError> {
    let mut ops = Vec::new();
    for (i, item) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let item = item.map_err(|source| OutputFileError::Json {
            document: i + 1,
            source,
        })?;
        match item {
            Value::Array(a) => ops.extend(a),
            other => ops.push(other),
        }
    }
    serde_json::from_value(Value::Array(ops)).map_err(OutputFileError::JsonPatch)
}

/// Splits an output file into its values as the engine reads it: a JSON stream when it starts
/// with `{` or `[`, else YAML documents; top-level arrays are flattened and empty documents
/// dropped. (`addon-operator hook test` prints the files with it.)
///
/// # Errors
/// The first document that does not parse, by its 1-based number.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, OutputFileError> {
    let trimmed = text.trim_start();
    let docs = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .enumerate()
            .map(|(i, item)| {
                item.map_err(|source| OutputFileError::Json {
                    document: i + 1,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        match yaml_json::parse_stream(text) {
            (docs, None) => docs,
            (_, Some((i, source))) => {
                return Err(OutputFileError::Yaml {
                    document: i + 1,
                    source,
                });
            }
        }
    };
    Ok(docs
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
///
/// # Errors
/// A document that does not parse, or the first invalid operation (1-based).
pub fn parse_object_patches(text: &str) -> Result<Vec<ObjectPatch>, OutputFileError> {
    parse_documents(text)?
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            serde_json::from_value(doc)
                .map_err(OperationError::Shape)
                .and_then(object_patch)
                .map_err(|source| OutputFileError::Operation {
                    index: i + 1,
                    source,
                })
        })
        .collect()
}

/// `object`/`mergePatch`/`jsonPatch` may be given as a map or as a string holding YAML/JSON.
fn inline_or_string(v: Value, field: &'static str) -> Result<Value, OperationError> {
    match v {
        Value::String(s) => {
            yaml_json::parse_one(&s).map_err(|source| OperationError::InlineText { field, source })
        }
        v => Ok(v),
    }
}

/// A required, non-empty field.
fn required<T>(v: Option<T>, field: &'static str) -> Result<T, OperationError> {
    v.ok_or(OperationError::Required(field))
}

fn object_patch(raw: RawOperation) -> Result<ObjectPatch, OperationError> {
    let non_empty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let target = |raw: &RawOperation| -> Result<ObjectRef, OperationError> {
        Ok(ObjectRef {
            api_version: non_empty(&raw.api_version),
            kind: required(non_empty(&raw.kind), "kind")?,
            namespace: non_empty(&raw.namespace),
            name: required(non_empty(&raw.name), "name")?,
        })
    };
    let patch = |body: PatchBody, raw: &RawOperation| -> Result<ObjectPatch, OperationError> {
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
            let object = inline_or_string(required(raw.object, "object")?, "object")?;
            for (ptr, field) in [
                ("/apiVersion", "object.apiVersion"),
                ("/kind", "object.kind"),
                ("/metadata/name", "object.metadata.name"),
            ] {
                if object
                    .pointer(ptr)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(OperationError::Required(field));
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
            let body = required(raw.merge_patch.clone(), "mergePatch")?;
            let body = inline_or_string(body, "mergePatch")?;
            if !body.is_object() {
                return Err(OperationError::MergePatchNotAMap);
            }
            patch(PatchBody::Merge(body), &raw)
        }
        "JSONPatch" => {
            let body =
                inline_or_string(required(raw.json_patch.clone(), "jsonPatch")?, "jsonPatch")?;
            let ops = serde_json::from_value(body).map_err(OperationError::JsonPatch)?;
            patch(PatchBody::Json(ops), &raw)
        }
        "JQPatch" => {
            let text = required(raw.jq_filter.clone(), "jqFilter")?;
            let filter = JqFilter::compile(&text).map_err(OperationError::JqFilter)?;
            patch(PatchBody::Jq(filter), &raw)
        }
        other => Err(OperationError::Unknown(other.to_string())),
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

/// Parses `$METRICS_PATH`: one JSON object per line (a JSON stream is accepted too). Each
/// operation records the 1-based line where it starts.
///
/// Only the shape is checked here; whether a name or label fits the exposition format is
/// decided when the operations are applied (`MetricsStorage::apply_hook_ops`), which refuses
/// such operations one by one instead of failing the run.
///
/// # Errors
/// The first line that is not JSON or not a metric operation.
pub fn parse_metrics(text: &str) -> Result<Vec<MetricOp>, OutputFileError> {
    let line_at = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<RawMetric>();
    let mut end = 0;
    loop {
        let rest = &text[end..];
        let line = line_at(end + rest.len() - rest.trim_start().len());
        let Some(item) = stream.next() else { break };
        let op = match item {
            Ok(raw) => metric(raw, line).map_err(|source| OutputFileError::Metric { line, source }),
            Err(e) => Err(OutputFileError::Metric {
                line: if e.line() > 0 { e.line() } else { line },
                source: MetricLineError::Json(e),
            }),
        }?;
        out.push(op);
        end = stream.byte_offset();
    }
    Ok(out)
}

fn metric(raw: RawMetric, line: usize) -> Result<MetricOp, MetricLineError> {
    let (action, value) = match (raw.action.as_deref(), raw.set, raw.add) {
        (None, Some(v), None) => (MetricAction::Set, Some(v)),
        (None, None, Some(v)) => (MetricAction::Add, Some(v)),
        (Some("set"), None, None) => (MetricAction::Set, raw.value),
        (Some("add"), None, None) => (MetricAction::Add, raw.value),
        (Some("observe"), None, None) => (MetricAction::Observe, raw.value),
        (Some("expire"), None, None) => (MetricAction::Expire, Some(0.0)),
        (Some(a), None, None) => return Err(MetricLineError::UnknownAction(a.to_string())),
        _ => return Err(MetricLineError::ActionCount),
    };
    let value = value.ok_or(MetricLineError::MissingValue)?;
    if action != MetricAction::Expire && raw.name.is_empty() {
        return Err(MetricLineError::MissingName);
    }
    if action == MetricAction::Observe {
        if raw.group.is_some() {
            return Err(MetricLineError::GroupedObserve);
        }
        if raw.buckets.is_none() {
            return Err(MetricLineError::MissingBuckets);
        }
    }
    Ok(MetricOp {
        name: raw.name,
        action,
        value,
        labels: raw.labels,
        group: raw.group,
        buckets: raw.buckets,
        line,
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
                .map_err(|e| crate::errtext::with_causes(&e))
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
        let err = parse_object_patches("operation: Create\nobject: {kind: X}\n")
            .map_err(|e| crate::errtext::with_causes(&e))
            .unwrap_err();
        assert!(
            err.contains("operation 1: object.apiVersion: required"),
            "{err}"
        );
        let err = parse_object_patches("{\"operation\":\"Delete\",\"kind\":\"Pod\"}")
            .map_err(|e| crate::errtext::with_causes(&e))
            .unwrap_err();
        assert!(err.contains("name: required"), "{err}");
        let err = parse_object_patches("operation: Explode\n")
            .map_err(|e| crate::errtext::with_causes(&e))
            .unwrap_err();
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
                .map_err(|e| crate::errtext::with_causes(&e))
                .unwrap_err()
                .contains("line 1: value")
        );
        assert!(
            parse_metrics("{\"action\":\"expire\"}").is_ok(),
            "expire without group clears the hook's implicit group"
        );
        let no_buckets = parse_metrics("{\"name\":\"h\",\"action\":\"observe\",\"value\":1}");
        assert!(
            no_buckets
                .map_err(|e| crate::errtext::with_causes(&e))
                .unwrap_err()
                .contains("buckets: required")
        );
        let both = parse_metrics("{\"name\":\"a\",\"set\":1,\"add\":1}");
        assert!(
            both.map_err(|e| crate::errtext::with_causes(&e))
                .unwrap_err()
                .contains("exactly one of")
        );
    }

    #[test]
    fn metric_operations_and_errors_name_the_line_they_start_on() {
        let text = "{\"name\":\"a\",\"set\":1}\n\n{\"name\":\"b\",\n \"add\":2}\n{\"name\":\"c\",\"set\":3}\n";
        let lines: Vec<usize> = parse_metrics(text)
            .unwrap()
            .iter()
            .map(|m| m.line)
            .collect();
        assert_eq!(lines, [1, 3, 5]);
        let err = parse_metrics("{\"name\":\"a\",\"set\":1}\n\n{\"name\":\"b\"}\n").unwrap_err();
        let err = crate::errtext::with_causes(&err);
        assert!(err.starts_with("line 3: exactly one of"), "{err}");
        let err = parse_metrics("{\"name\":\"a\",\"set\":1}\nnot json\n").unwrap_err();
        let err = crate::errtext::with_causes(&err);
        assert!(err.starts_with("line 2: expected"), "{err}");
    }

    #[test]
    fn yaml_objects_with_non_string_keys_read_as_kubectl_reads_them() {
        let ops = parse_object_patches(
            "operation: Create\nobject:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n  data:\n    1: a\n    true: b\n",
        )
        .unwrap();
        let ObjectPatch::Create { object, .. } = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(object["data"], json!({"1": "a", "true": "b"}));
        let ops = parse_object_patches(
            "operation: MergePatch\nkind: ConfigMap\nname: a\nmergePatch: \"data: {2: b}\"\n",
        )
        .unwrap();
        let ObjectPatch::Patch {
            patch: PatchBody::Merge(m),
            ..
        } = &ops[0]
        else {
            panic!("{ops:?}")
        };
        assert_eq!(m, &json!({"data": {"2": "b"}}));
    }
}
