//! What the operator knows about itself and each module: served by `/modules` and
//! `/readyz`, printed by `addon-operator module list`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The state of one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum ModuleState {
    /// Not converged yet.
    Pending,
    /// Rendered and applied; the cluster matches.
    Ready,
    /// The last run failed; it is retried with backoff.
    Failed,
    /// Disabled; its objects were deleted.
    Disabled,
}

/// One row of `module list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleStatus {
    /// kebab-case name.
    pub name: String,
    /// Values key.
    pub key: String,
    /// Order from the directory name.
    pub order: u32,
    /// Enabled after the whole chain (flags and `enabled` script).
    pub enabled: bool,
    /// Where the enabled state came from.
    pub enabled_source: String,
    /// Current state.
    pub state: ModuleState,
    /// Objects in the module's inventory after the last successful apply.
    pub objects: usize,
    /// Objects written by the last successful run.
    pub objects_applied: usize,
    /// Duration of the last run, in milliseconds.
    pub last_run_ms: u64,
    /// Checksum of values + chart files of the last successful run.
    pub checksum: String,
    /// The last error, if the last run failed.
    pub error: Option<String>,
    /// `<key>Maintenance: NoResourceReconciliation`: rendered and hooks run, nothing applied.
    #[serde(default)]
    pub maintenance: bool,
}

/// The operator's state as a whole.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorStatus {
    /// The first full convergence finished (readiness).
    pub converged: bool,
    /// Whether this replica leads (always true without `--ha`).
    pub leader: bool,
    /// Completed convergences.
    pub convergences: u64,
    /// Why the last ConfigMap change was rejected, while it stays rejected.
    pub config_error: Option<String>,
    /// Every module, by name.
    pub modules: BTreeMap<String, ModuleStatus>,
}
