//! What can be wrong with a hook's `--config`: every problem names its field path.

use crate::crontab::CrontabError;
use crate::jq::JqError;

/// Errors in a hook's `--config` output.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The output is neither YAML nor JSON.
    #[error("hook {hook}: --config printed neither YAML nor JSON")]
    Parse {
        /// Hook path relative to its hooks directory.
        hook: String,
        /// The YAML/JSON decoder's message (it names the line and column).
        #[source]
        source: serde_yaml::Error,
    },
    /// Some fields have the wrong shape or are invalid; every problem is listed.
    #[error("hook {hook}: invalid config: {}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// Hook path relative to its hooks directory.
        hook: String,
        /// Every problem, each naming its field path (`kubernetes[0].jqFilter`).
        errors: Vec<FieldError>,
    },
}

/// One invalid field of a hook config.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// Field path, e.g. `kubernetes[0].jqFilter` or `settings.executionBurst`.
    pub field: String,
    /// What is wrong with it (the message itself, not a cause: not a `#[source]`).
    pub problem: FieldProblem,
}

impl FieldError {
    pub(super) fn new(field: impl Into<String>, problem: impl Into<FieldProblem>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// What is wrong with a field of a hook config.
#[derive(Debug, thiserror::Error)]
pub enum FieldProblem {
    /// The field does not decode: unknown field, wrong type (the decoder's message).
    #[error("{0}")]
    Shape(String),
    /// The field is missing or empty.
    #[error("required")]
    Required,
    /// A name from a fixed set (event, operator, version) is not one of them.
    #[error("unknown {found:?} (expected {expected})")]
    Unknown {
        /// What the hook wrote.
        found: String,
        /// The accepted names.
        expected: &'static str,
    },
    /// A value has the wrong form.
    #[error("invalid {found:?} (expected {expected})")]
    Invalid {
        /// What the hook wrote.
        found: String,
        /// The expected form.
        expected: &'static str,
    },
    /// A lifecycle binding the hook's scope does not have.
    #[error("allowed only in {0} hooks")]
    OnlyIn(&'static str),
    /// The field breaks a rule of the protocol (stated in the message).
    #[error("{0}")]
    Rule(&'static str),
    /// A selector operator that needs values has none.
    #[error("required for operator {0}")]
    RequiredFor(String),
    /// A selector operator that takes no values has some.
    #[error("must be empty for operator {0}")]
    EmptyFor(String),
    /// `includeSnapshotsFrom` names no kubernetes binding of the hook.
    #[error("{0:?} is not the name of a kubernetes binding")]
    NoSuchBinding(String),
    /// The crontab does not parse.
    #[error(transparent)]
    Crontab(#[from] CrontabError),
    /// The jq filter does not compile.
    #[error(transparent)]
    Jq(#[from] JqError),
    /// The duration does not parse.
    #[error(transparent)]
    Duration(#[from] DurationError),
}

/// A Go duration string that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid duration {0:?} (expected e.g. 500ms, 3s, 1m30s)")]
pub struct DurationError(pub String);
