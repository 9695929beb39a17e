//! Server-side apply of rendered module objects, in a staged order, with an inventory per module
//! for exact pruning and a drift watch.
//!
//! This crate knows nothing about charts, values or hooks: it takes already rendered objects
//! (`serde_json::Value`) and a `kube::Client`.
//!
//! - [`sort_for_apply`] / [`stage_of`] / [`kind_rank`]: the apply order (Helm's kind order,
//!   CRDs and Namespaces first, custom resources last).
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

mod order;

pub use order::{Stage, group_of, kind_rank, object_rank, object_stage, sort_for_apply, stage_of};
