//! Errors of the reconciler; every variant names the module and, where there is one, the object.

use crate::objref::ObjectRef;
use crate::prepare::InvalidObject;

/// Why an apply, delete or inventory read failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Rendered objects that cannot be applied as they are (no kind, no name, duplicates).
    /// Every problem is listed; nothing was applied.
    #[error("module {module}: {} invalid object(s): {}", problems.len(), join(problems))]
    InvalidObjects {
        /// Module name.
        module: String,
        /// One entry per problem, each naming the object (index or `Kind/ns/name`).
        problems: Vec<InvalidObject>,
    },
    /// The object carries another module's `addon-operator.io/module` label (or another module
    /// of this process is creating it right now): one owner per object, so this module may not
    /// apply it. Nothing of the module was applied; the owner keeps the object.
    #[error(
        "module {module}: {object} belongs to module {owner} (label addon-operator.io/module={owner}); an object belongs to at most one module, so module {module} may not apply it"
    )]
    OwnedByOtherModule {
        /// Module name (the one refused).
        module: String,
        /// The object.
        object: ObjectRef,
        /// The module that owns it.
        owner: String,
    },
    /// The object exists, was not created by addon-operator and does not ask to be adopted.
    /// Nothing of the module was applied; the object was left as it is.
    #[error(
        "module {module}: {object} exists and was not created by addon-operator; it is adopted only when it says so: to let module {module} manage it (and delete it when the module is disabled), run `{command}` (or give it Helm's annotation meta.helm.sh/release-name={module})"
    )]
    NotAdopted {
        /// Module name.
        module: String,
        /// The object.
        object: ObjectRef,
        /// The `kubectl annotate` command that adopts it.
        command: String,
    },
    /// The object was absent when checked but existed when applied: someone created it in
    /// between. The apply wrote to it; it was not adopted (the module label was removed again,
    /// unless `label_removed` is false).
    #[error(
        "module {module}: {object} was created by someone else between the ownership check and the apply; the apply wrote to it but did not adopt it ({}); to let module {module} manage it, run `{command}`",
        if *label_removed { "its addon-operator.io/module label was removed" } else { "removing its addon-operator.io/module label failed: remove it by hand" }
    )]
    CreatedMeanwhile {
        /// Module name.
        module: String,
        /// The object.
        object: ObjectRef,
        /// The `kubectl annotate` command that adopts it.
        command: String,
        /// Whether our label could be removed from it.
        label_removed: bool,
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
    #[error("module {module}: {action} {object} failed")]
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
    #[error("module {module}: inventory secret {namespace}/{name}: {action} failed")]
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
    /// The inventory Secret changed since this process read it (or was created when we meant
    /// to create it): another writer, such as a new leader, wrote it. Nothing was overwritten;
    /// a retry reads the inventory again.
    #[error(
        "module {module}: inventory secret {secret} was written by someone else since this process read it; {action} refused (resourceVersion precondition), retry reads it again"
    )]
    InventoryConflict {
        /// Module name.
        module: String,
        /// The Secret, `namespace/name`.
        secret: String,
        /// `write` or `delete`.
        action: &'static str,
        /// The 409 answer.
        #[source]
        source: kube::Error,
    },
    /// The inventory Secret exists but cannot be decoded; nothing is pruned or deleted.
    #[error("module {module}: inventory secret {namespace}/{name} is corrupt")]
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

/// The errors separated by `; `, each with its causes (`error: cause: cause`).
fn join<T: std::error::Error>(errors: &[T]) -> String {
    errors
        .iter()
        .map(|e| {
            let mut text = e.to_string();
            let mut cause = e.source();
            while let Some(next) = cause {
                text.push_str(": ");
                text.push_str(&next.to_string());
                cause = next.source();
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}
