//! Server-side apply of rendered module objects, in a staged order, with an inventory per module
//! for exact pruning and a drift watch.
//!
//! This crate knows nothing about charts, values or hooks: it takes already rendered objects
//! (`serde_json::Value`) and a `kube::Client`, and makes the cluster match them.
//!
//! - [`Reconciler`]: [`apply_module`](Reconciler::apply_module) (staged server-side apply with
//!   field manager `addon-operator`, unchanged objects not written, prune of what the module no
//!   longer renders), [`ensure_objects`](Reconciler::ensure_objects) (the same without prune,
//!   for a module's CRDs before its hooks start), [`delete_module`](Reconciler::delete_module),
//!   [`inventory`](Reconciler::inventory), [`drift_watch`](Reconciler::drift_watch).
//! - [`Inventory`]: what a module applied, one Secret per module in the operator namespace; the
//!   only thing pruning and deletion ever act on.
//! - [`sort_for_apply`] / [`stage_of`] / [`kind_rank`]: the apply order (Helm's kind order,
//!   CRDs and Namespaces first, custom resources last), pure and usable without a cluster.
//! - [`ApplyError`]: every failure names the module and the object.
//!
//! Ownership: an object belongs to at most one module (its `addon-operator.io/module` label),
//! and an existing object not created by addon-operator is written only if it asks to be
//! adopted ([`ADOPT_ANNOTATION`], or Helm's [`HELM_RELEASE_NAME_ANNOTATION`] naming the
//! module). Objects the module's live view does not vouch for are read and judged before
//! anything is written, so a refused object never enters an inventory. Inventory writes carry
//! resourceVersion preconditions, so a stale writer fails instead of overwriting.
//!
//! Unchanged objects are not written: an object is skipped when its content hash and live
//! resourceVersion equal those recorded at our last apply, and dry-run-compared otherwise. The
//! drift watch doubles as a cache of live resourceVersions (and of inventory Secrets), so with it
//! running an unchanged module costs no request at all.
//!
//! See `docs/reconciler.md` for the change-detection trade-off and the crash-safety argument.
//!
//! ```
//! use serde_json::json;
//! let mut objects = vec![
//!     json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}),
//!     json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
//! ];
//! reconciler::sort_for_apply(&mut objects);
//! assert_eq!(objects[0]["kind"], "Namespace");
//! assert_eq!(reconciler::stage_of("apps/v1", "Deployment"), reconciler::Stage::Workloads);
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod cluster;
mod discovery;
mod drift;
mod engine;
mod error;
mod inventory;
mod objref;
mod order;
mod ownership;
mod plan;
mod prepare;
mod reconciler;
mod report;
mod stages;
mod store;
mod survey;
mod tracker;

pub use drift::{DriftChange, DriftEvent, DriftWatch, DriftedObject};
pub use error::ApplyError;
pub use inventory::{
    DecodeError, INVENTORY_DATA_KEY, INVENTORY_LABEL, Inventory, InventoryEntry, Phase,
    secret_name as inventory_secret_name,
};
pub use objref::ObjectRef;
pub use order::{Stage, group_of, kind_rank, object_rank, object_stage, sort_for_apply, stage_of};
pub use ownership::{
    ADOPT_ANNOTATION, HELM_RELEASE_NAME_ANNOTATION, HELM_RELEASE_NAMESPACE_ANNOTATION,
};
pub use prepare::{
    InvalidObject, MANAGED_BY_LABEL, MANAGER, MODULE_LABEL, PrepareError, RECREATE_ANNOTATION,
};
pub use reconciler::Reconciler;
pub use report::{ApplyOptions, ApplyReport, DeleteReport};
