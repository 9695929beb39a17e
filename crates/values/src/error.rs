//! Errors of the values crate: one enum, every variant saying what failed and where.

use std::fmt;

/// One problem found while building, validating, patching or decoding values.
///
/// Every variant names the section (`global` or a module's values key) or the ConfigMap key it
/// concerns, and, where it applies, the JSON pointer inside that section.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value does not satisfy its OpenAPI schema. The message names the constraint and
    /// the value's type, never the value: config values hold secrets.
    #[error("{section}: {path}: {message}")]
    Schema {
        /// `global` or the module's values key.
        section: String,
        /// JSON pointer inside the section (`(root)` for the section itself).
        path: String,
        /// What the schema expected, e.g. `does not match "^[a-z]+$"`.
        message: String,
    },
    /// An OpenAPI schema could not be compiled.
    #[error("{section}: openapi/{file}: invalid schema: {message}")]
    SchemaCompile {
        /// `global` or the module's values key.
        section: String,
        /// `config-values.yaml` or `values.yaml`.
        file: &'static str,
        /// Why the compiler rejected it.
        message: String,
    },
    /// A section (static values, config values, patch result) is not a YAML/JSON map.
    #[error("{section}: {origin}: expected a map, got {found}")]
    NotAMap {
        /// `global` or the module's values key.
        section: String,
        /// Where the value came from (e.g. `static values`, `ConfigMap key "echoServer"`).
        origin: String,
        /// JSON type that was found instead.
        found: &'static str,
    },
    /// A `<key>Enabled` flag in a static values file is not a boolean.
    #[error("{file}: {flag}: expected true or false, got {found}")]
    StaticFlag {
        /// The values file (`modules/values.yaml` or the module's `values.yaml`).
        file: String,
        /// The flag key, e.g. `echoServerEnabled`.
        flag: String,
        /// JSON type that was found instead.
        found: &'static str,
    },
    /// A ConfigMap key is unknown, not camelCase, or its value is malformed.
    #[error("configmap key {key:?}: {problem}")]
    ConfigMapKey {
        /// The offending ConfigMap data key.
        key: String,
        /// What is wrong and the expected form.
        problem: KeyProblem,
    },
    /// A ConfigMap value is not valid YAML.
    #[error("configmap key {key:?}: invalid yaml")]
    ConfigMapYaml {
        /// The ConfigMap data key holding the YAML.
        key: String,
        /// The YAML parser's error (line and column, never the text).
        #[source]
        source: yaml_json::YamlError,
    },
    /// Encoding values back to YAML failed.
    #[error("configmap key {key:?}: cannot encode as yaml")]
    Encode {
        /// The ConfigMap data key being written.
        key: String,
        /// The YAML emitter's error.
        #[source]
        source: yaml_json::EmitError,
    },
    /// A hook patched a path it is not allowed to touch.
    #[error("hook {hook}: patch path {path:?} is not allowed: {allowed}")]
    PatchForbidden {
        /// The hook that produced the patch.
        hook: String,
        /// The offending JSON pointer.
        path: String,
        /// Which paths this hook may patch.
        allowed: String,
    },
    /// A JSON patch could not be applied; nothing was changed.
    #[error("hook {hook}: cannot apply json patch")]
    PatchApply {
        /// The hook that produced the patch.
        hook: String,
        /// The json-patch error (operation index, path, reason).
        #[source]
        source: json_patch::PatchError,
    },
    /// A patch operation is well-formed but not usable here (e.g. a non-boolean `*Enabled`).
    #[error("hook {hook}: patch path {path:?}: {problem}")]
    PatchInvalid {
        /// The hook that produced the patch.
        hook: String,
        /// The offending JSON pointer.
        path: String,
        /// What is wrong.
        problem: PatchProblem,
    },
    /// A `--set key.path=value` argument is malformed or names an unknown key. The message
    /// names the argument by position and its path, never the value.
    #[error("--set #{arg}{}: {problem}", path.as_ref().map(|p| format!(" {p}")).unwrap_or_default())]
    Set {
        /// 1-based position of the argument among the `--set` arguments.
        arg: usize,
        /// The `key.path` of the assignment, when the argument has one.
        path: Option<String>,
        /// What is wrong and the expected form.
        problem: SetProblem,
    },
    /// A module values key is not known to the store.
    #[error("unknown module values key {key:?}")]
    UnknownModule {
        /// The key asked for.
        key: String,
    },
    /// Two modules were registered with the same values key.
    #[error("module {name:?}: duplicate values key {key:?}")]
    DuplicateModule {
        /// The values key used twice.
        key: String,
        /// The module name of the second registration.
        name: String,
    },
}

/// What is wrong with one ConfigMap data key or its value (never quoting the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// The key is neither `global` nor lowerCamel.
    #[error(
        "not a lowerCamel key (expected `global`, `<moduleKey>`, `<moduleKey>Enabled` or \
         `<moduleKey>Maintenance`, e.g. `certManager`)"
    )]
    NotCamel,
    /// The key is lowerCamel but names no module, flag or maintenance key.
    #[error("unknown key: no module has this values key")]
    Unknown,
    /// A section (`global`, `<moduleKey>`) holds something other than a map.
    #[error("expected a yaml map, got {found}")]
    NotAMap {
        /// JSON type that was found instead.
        found: &'static str,
    },
    /// A `<moduleKey>Enabled` value is not exactly `true` or `false`.
    #[error("expected \"true\" or \"false\" (lower-case)")]
    NotAFlag,
    /// A `<moduleKey>Maintenance` value is not a known mode.
    #[error("expected \"NoResourceReconciliation\" or empty")]
    NotAMaintenanceMode,
    /// A flag or maintenance entry of a `--config-values` document is a list or map.
    #[error("expected true/false or a string, got {found}")]
    NotAScalar {
        /// JSON type that was found instead.
        found: &'static str,
    },
}

/// What is wrong with a hook's patch operation that the permission rule allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchProblem {
    /// `move`, `copy` or `test` on a `*Enabled` flag.
    #[error("only add, replace and remove are supported on enabled flags")]
    FlagOperation,
    /// A `*Enabled` flag set to something other than a boolean.
    #[error("an enabled flag must be true or false, got {found}")]
    FlagNotBoolean {
        /// JSON type that was given.
        found: &'static str,
    },
    /// A `move`/`copy` between an enabled flag and a values section.
    #[error("move/copy between an enabled flag and values is not supported")]
    FlagAndValues,
}

/// What is wrong with one `--set` assignment.
#[derive(Debug, thiserror::Error)]
pub enum SetProblem {
    /// No `=` between path and value.
    #[error("missing `=` (expected key.path=value, e.g. echoServer.replicas=3)")]
    MissingEquals,
    /// `a..b`, a leading `.` or an empty path.
    #[error("empty path segment (expected key.path=value, e.g. echoServer.replicas=3)")]
    EmptySegment,
    /// `list[0` without `]`.
    #[error("unclosed `[` (expected key.list[0]=value)")]
    UnclosedIndex,
    /// `list[x]`: the index is not a number.
    #[error("array index is not a number (expected key.list[0]=value)")]
    BadIndex,
    /// `list[0]x`: text after an index that is not `.` or `[`.
    #[error("unexpected text after an index (expected key.list[0].field=value)")]
    TextAfterIndex,
    /// `[0]=x`: the path does not start with a ConfigMap key.
    #[error("the path must start with a key (expected key.path=value, e.g. echoServer.replicas=3)")]
    NoLeadingKey,
    /// The assignment is well-formed but its result is not acceptable config values.
    #[error("{0}")]
    Rejected(Box<Error>),
}

/// Every problem found by one operation; the operation changed nothing.
///
/// Displayed as one problem per line, so a rejected ConfigMap or render lists all of them.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<Error>);

impl Errors {
    /// Returns `Ok(value)` if no problem was collected, otherwise `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Errors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Adds one problem.
    pub fn push(&mut self, error: Error) {
        self.0.push(error);
    }

    /// True if no problem was collected.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Iterates the problems in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, Error> {
        self.0.iter()
    }
}

impl From<Error> for Errors {
    fn from(error: Error) -> Self {
        Errors(vec![error])
    }
}

impl Extend<Error> for Errors {
    fn extend<I: IntoIterator<Item = Error>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s):", self.0.len())?;
        for error in &self.0 {
            write!(f, "\n  {error}")?;
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                write!(f, ": {cause}")?;
                source = cause.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

/// Name of a JSON value's type, for error messages.
pub(crate) fn type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "a map",
    }
}
