//! Errors of the reconciler; every variant names the module and, where there is one, the object.

use crate::objref::ObjectRef;

/// Why an apply, delete or inventory read failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Rendered objects that cannot be applied as they are (no kind, no name, duplicates).
    /// Every problem is listed; nothing was applied.
    #[error("module {module}: {} invalid object(s): {}", problems.len(), problems.join("; "))]
    InvalidObjects {
        /// Module name.
        module: String,
        /// One message per problem, each naming the object (index or `Kind/ns/name`).
        problems: Vec<String>,
    },
    /// The render yielded no objects for a module whose inventory lists some; refused so that a
    /// broken render cannot delete a whole module (set `allow_empty` to allow it).
    #[error(
        "module {module}: render yielded zero objects but the inventory lists {previous}; refusing to prune everything (if the module may render nothing, annotate its Chart.yaml with `addon-operator.io/allow-empty-render: \"true\"`)"
    )]
    EmptyRender {
        /// Module name.
        module: String,
        /// How many objects the inventory lists.
        previous: usize,
    },
    /// The API server does not serve the object's kind (discovery failed or found nothing).
    #[error("module {module}: {object}: cannot resolve kind {kind} of {api_version} via discovery")]
    Discovery {
        /// Module name.
        module: String,
        /// The object as rendered, `Kind/namespace/name` (namespace only if it was rendered).
        object: String,
        /// `apiVersion` of the object.
        api_version: String,
        /// `kind` of the object.
        kind: String,
        /// The discovery failure, if the request itself failed.
        #[source]
        source: Option<kube::Error>,
    },
    /// The server rejected a change to an immutable field and the object did not opt in to
    /// recreation (annotation `addon-operator.io/recreate-on-immutable: "true"`).
    #[error(
        "module {module}: {object}: immutable field changed ({message}); annotate the object with addon-operator.io/recreate-on-immutable: \"true\" to allow delete and recreate"
    )]
    Immutable {
        /// Module name.
        module: String,
        /// The object.
        object: ObjectRef,
        /// The server's message.
        message: String,
    },
    /// A request about one object failed.
    #[error("module {module}: {action} {object} failed: {source}")]
    Api {
        /// Module name.
        module: String,
        /// What was being done (`apply`, `dry-run apply`, `delete`, `list`, ...).
        action: &'static str,
        /// The object.
        object: ObjectRef,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// Several objects of one stage failed; each failure is listed (nothing was pruned).
    #[error("module {module}: {} object(s) failed: {}", errors.len(), join(errors))]
    Objects {
        /// Module name.
        module: String,
        /// The failures, each an [`ApplyError`] naming its object.
        errors: Vec<ApplyError>,
    },
    /// A CRD or Namespace did not become Established/Active in time.
    #[error("module {module}: {object} not ready after {seconds}s ({condition})")]
    NotReady {
        /// Module name.
        module: String,
        /// The object waited for.
        object: ObjectRef,
        /// The condition expected (`Established`, `Active`, `deleted`).
        condition: &'static str,
        /// The timeout.
        seconds: u64,
    },
    /// Reading or writing the module's inventory Secret failed.
    #[error("module {module}: inventory secret {namespace}/{name}: {action} failed: {source}")]
    Inventory {
        /// Module name.
        module: String,
        /// Operator namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// `read` or `write`.
        action: &'static str,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The inventory Secret exists but cannot be decoded; nothing is pruned or deleted.
    #[error("module {module}: inventory secret {namespace}/{name} is corrupt: {source}")]
    CorruptInventory {
        /// Module name.
        module: String,
        /// Operator namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// Why it cannot be decoded.
        #[source]
        source: crate::inventory::DecodeError,
    },
}

fn join(errors: &[ApplyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
