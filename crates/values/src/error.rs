//! Errors of the values crate: one enum, every variant saying what failed and where.

use std::fmt;

/// One problem found while building, validating, patching or decoding values.
///
/// Every variant names the section (`global` or a module's values key) or the ConfigMap key it
/// concerns, and, where it applies, the JSON pointer inside that section.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value does not satisfy its OpenAPI schema.
    #[error("{section}: {path}: {message}")]
    Schema {
        /// `global` or the module's values key.
        section: String,
        /// JSON pointer inside the section (`(root)` for the section itself).
        path: String,
        /// What the schema expected.
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
    /// A ConfigMap key is unknown, not camelCase, or its value is malformed.
    #[error("configmap key {key:?}: {message}")]
    ConfigMapKey {
        /// The offending ConfigMap data key.
        key: String,
        /// What is wrong and the expected form.
        message: String,
    },
    /// A ConfigMap value is not valid YAML.
    #[error("configmap key {key:?}: invalid yaml")]
    ConfigMapYaml {
        /// The ConfigMap data key holding the YAML.
        key: String,
        /// The YAML parser's error.
        #[source]
        source: serde_yaml::Error,
    },
    /// Encoding values back to YAML failed.
    #[error("configmap key {key:?}: cannot encode as yaml")]
    Encode {
        /// The ConfigMap data key being written.
        key: String,
        /// The YAML serializer's error.
        #[source]
        source: serde_yaml::Error,
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
    #[error("hook {hook}: patch path {path:?}: {message}")]
    PatchInvalid {
        /// The hook that produced the patch.
        hook: String,
        /// The offending JSON pointer.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `--set key.path=value` argument is malformed or names an unknown key.
    #[error("--set {arg:?}: {message}")]
    Set {
        /// The argument as given.
        arg: String,
        /// What is wrong and the expected form.
        message: String,
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
