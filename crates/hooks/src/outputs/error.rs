//! What can be wrong with a hook's output files: each error names the file and the document,
//! operation or line.

use crate::jq::JqError;
use std::path::PathBuf;

/// A malformed output file.
#[derive(Debug, thiserror::Error)]
#[error("hook {hook}: malformed {var} ({})", .path.display())]
pub struct OutputError {
    /// Hook name.
    pub hook: String,
    /// The environment variable that named the file (`KUBERNETES_PATCH_PATH`, ...).
    pub var: &'static str,
    /// The file.
    pub path: PathBuf,
    /// What is wrong, with the document, operation or line number.
    #[source]
    pub source: Box<OutputFileError>,
}

/// What is wrong with one output file.
#[derive(Debug, thiserror::Error)]
pub enum OutputFileError {
    /// The file exists but cannot be read.
    #[error("cannot read")]
    Read(#[source] std::io::Error),
    /// A JSON document of the file does not parse (1-based document number).
    #[error("document {document}")]
    Json {
        /// 1-based document number.
        document: usize,
        /// The decoder's message (names the line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A YAML document of the file does not parse or is not representable as JSON.
    #[error("document {document}")]
    Yaml {
        /// 1-based document number.
        document: usize,
        /// The YAML reader's error.
        #[source]
        source: yaml_json::YamlError,
    },
    /// A values patch holds something that is not an RFC 6902 operation.
    #[error("invalid JSON patch operation")]
    JsonPatch(#[source] serde_json::Error),
    /// An object patch operation is invalid (1-based operation number).
    #[error("operation {index}")]
    Operation {
        /// 1-based operation number in the file.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: OperationError,
    },
    /// A metric operation is invalid (1-based line of the file where it starts).
    #[error("line {line}")]
    Metric {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        #[source]
        source: MetricLineError,
    },
}

/// An invalid object patch operation.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// The operation has an unknown field or a field of the wrong type.
    #[error(transparent)]
    Shape(serde_json::Error),
    /// A field the operation needs is missing or empty.
    #[error("{0}: required")]
    Required(&'static str),
    /// `object`/`mergePatch`/`jsonPatch` given as a string that is not YAML or JSON.
    #[error("{field}: invalid YAML/JSON string")]
    InlineText {
        /// The field.
        field: &'static str,
        /// The YAML reader's error.
        #[source]
        source: yaml_json::YamlError,
    },
    /// `mergePatch` is not a map.
    #[error("mergePatch: must be a map")]
    MergePatchNotAMap,
    /// `jsonPatch` is not a list of RFC 6902 operations.
    #[error("jsonPatch")]
    JsonPatch(#[source] serde_json::Error),
    /// `jqFilter` does not compile.
    #[error("jqFilter")]
    JqFilter(#[source] JqError),
    /// `operation` names no known operation.
    #[error(
        "operation: unknown {0:?} (expected Create, CreateOrUpdate, CreateIfNotExists, Delete, \
         DeleteInBackground, DeleteNonCascading, MergePatch, JSONPatch or JQPatch)"
    )]
    Unknown(String),
}

/// An invalid line of `$METRICS_PATH`.
#[derive(Debug, thiserror::Error)]
pub enum MetricLineError {
    /// Not JSON, or a field is unknown or of the wrong type.
    #[error(transparent)]
    Json(serde_json::Error),
    /// `action` is not one of the four actions.
    #[error("action: unknown {0:?} (expected set, add, observe or expire)")]
    UnknownAction(String),
    /// None or several of `action`, `set`, `add`.
    #[error("exactly one of action, set or add is required")]
    ActionCount,
    /// `set`, `add` or `observe` without `value`.
    #[error("value: required for set, add and observe")]
    MissingValue,
    /// No `name` on an operation other than `expire`.
    #[error("name: required unless action is expire")]
    MissingName,
    /// `observe` with a `group`.
    #[error("observe: histograms cannot be grouped")]
    GroupedObserve,
    /// `observe` without `buckets`.
    #[error("buckets: required for observe")]
    MissingBuckets,
}
