//! What callers pass to and get back from the [`crate::Reconciler`].

use crate::objref::ObjectRef;

/// Options of one [`crate::Reconciler::apply_module`] call.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// The caller's checksum of the module's inputs (values and chart), stored in the inventory.
    pub checksum: String,
    /// Allow a render with zero objects to prune everything the inventory lists (a module whose
    /// Chart.yaml allows an empty render). Off: such a render is refused.
    pub allow_empty: bool,
    /// Namespace for namespaced objects rendered without one; `None`: the operator namespace.
    pub default_namespace: Option<String>,
}

/// What [`crate::Reconciler::apply_module`] did, object by object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Module name.
    pub module: String,
    /// Inventory revision after the apply.
    pub revision: u64,
    /// Objects that did not exist and were created.
    pub created: Vec<ObjectRef>,
    /// Existing objects that differed and were applied.
    pub updated: Vec<ObjectRef>,
    /// Objects deleted and recreated after an immutable-field rejection (opted in by annotation).
    pub recreated: Vec<ObjectRef>,
    /// Objects already as desired: no write.
    pub unchanged: Vec<ObjectRef>,
    /// Existing objects not created by addon-operator that this apply took into the module's
    /// inventory because they asked to be adopted (`addon-operator.io/adopt: "true"` or Helm's
    /// `meta.helm.sh/release-name` naming the module). Each is also listed as updated or
    /// unchanged.
    pub adopted: Vec<ObjectRef>,
    /// Objects of the previous inventory no longer rendered, now deleted (or already gone).
    pub pruned: Vec<ObjectRef>,
    /// Objects of the previous inventory no longer rendered that were left alone because they no
    /// longer carry this module's label (another module or a person took them over).
    pub prune_skipped: Vec<ObjectRef>,
    /// Whether the inventory Secret was written.
    pub inventory_written: bool,
}

impl ApplyReport {
    /// Number of object writes (applies, recreations, prunes), inventory writes excluded.
    pub fn object_writes(&self) -> usize {
        self.created.len() + self.updated.len() + self.recreated.len() + self.pruned.len()
    }
}

/// What [`crate::Reconciler::delete_module`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteReport {
    /// Module name.
    pub module: String,
    /// Objects deleted (background propagation).
    pub deleted: Vec<ObjectRef>,
    /// Objects of the inventory that were already gone.
    pub absent: Vec<ObjectRef>,
    /// Objects of the inventory left alone because they no longer carry the module's label.
    pub not_ours: Vec<ObjectRef>,
}
