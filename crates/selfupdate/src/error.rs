//! Why a check failed: one kind per failure the issue lists, each with its metric label.

use std::fmt;

/// The kinds of failed checks; [`FailureKind::label`] is the `result` label of
/// `addon_operator_update_checks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    /// The registry did not answer (connection refused, DNS, timeout).
    Unreachable,
    /// The registry refused the credentials (401/403, token server refusal).
    Unauthorized,
    /// The repository or tag does not exist (404).
    NotFound,
    /// A manifest, index or image config could not be understood.
    Malformed,
    /// A manifest or config is over the 4 MiB limit.
    TooLarge,
    /// Fetched bytes do not hash to the digest they were fetched by.
    DigestMismatch,
    /// Any other registry answer (5xx, protocol violation).
    Registry,
    /// The operator's own Deployment does not exist or has no usable container.
    DeploymentMissing,
    /// The settings or the credentials Secret cannot be used.
    Config,
}

impl FailureKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "unreachable",
            FailureKind::Unauthorized => "unauthorized",
            FailureKind::NotFound => "not_found",
            FailureKind::Malformed => "malformed",
            FailureKind::TooLarge => "too_large",
            FailureKind::DigestMismatch => "digest_mismatch",
            FailureKind::Registry => "registry_error",
            FailureKind::DeploymentMissing => "deployment_missing",
            FailureKind::Config => "config_error",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Unreachable => "registry unreachable",
            FailureKind::Unauthorized => "unauthorized",
            FailureKind::NotFound => "not found",
            FailureKind::Malformed => "malformed manifest",
            FailureKind::TooLarge => "manifest over 4 MiB",
            FailureKind::DigestMismatch => "digest mismatch",
            FailureKind::Registry => "registry error",
            FailureKind::DeploymentMissing => "deployment missing",
            FailureKind::Config => "configuration error",
        })
    }
}

/// A failed registry operation, naming the repository, the tag or digest, and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{repository}:{reference}: {kind}: {detail}")]
pub struct CheckError {
    /// The repository.
    pub repository: String,
    /// The tag or digest asked for.
    pub reference: String,
    /// What kind of failure.
    pub kind: FailureKind,
    /// The cause, as the client or registry reported it (no credentials in it).
    pub detail: String,
}

impl CheckError {
    /// A failure of `kind` for `repository:reference`.
    pub fn new(
        repository: &str,
        reference: &str,
        kind: FailureKind,
        detail: impl Into<String>,
    ) -> Self {
        CheckError {
            repository: repository.to_string(),
            reference: reference.to_string(),
            kind,
            detail: detail.into(),
        }
    }
}
