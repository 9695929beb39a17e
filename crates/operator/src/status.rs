//! What the operator knows about itself and each module: served by `/modules` and
//! `/readyz`, printed by `addon-operator module list`; the detail `module describe` adds.
//!
//! A module's row has one `state` and one `error`, derived from its separate sources of
//! trouble ([`ModuleStatus::settle`]): the last run, its hooks' queued runs, its `enabled`
//! script and (in `dev`) its hook files. Each source is cleared by its own next success, so a
//! fixed problem never leaves a stale error behind another.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::enabled::EnabledDecision;

/// The state of one module.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum ModuleState {
    /// Not converged yet.
    #[default]
    Pending,
    /// Rendered and applied; the cluster matches.
    Ready,
    /// Something of the module fails (its run, a hook, its `enabled` script); it is retried.
    Failed,
    /// Disabled; its objects were deleted.
    Disabled,
}

/// A hook of a module whose queued runs (kubernetes or schedule bindings) fail and are retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookFailure {
    /// The hook (`<module>/hooks/<file>`).
    pub hook: String,
    /// The failing run's binding (its group for a group run).
    pub binding: String,
    /// The queue it runs in.
    pub queue: String,
    /// The last error.
    pub error: String,
    /// Consecutive failed runs.
    pub failures: u32,
    /// RFC 3339 time of the first of them.
    pub since: String,
}

/// One row of `module list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    /// Where the enabled state came from (the deciding layer, see `module describe`).
    pub enabled_source: String,
    /// Current state: `Failed` whenever `error` is set.
    pub state: ModuleState,
    /// Objects in the module's inventory after the last successful apply.
    pub objects: usize,
    /// Objects written by the last successful run.
    pub objects_applied: usize,
    /// Duration of the last run, in milliseconds.
    pub last_run_ms: u64,
    /// Checksum of values + chart files of the last successful run.
    pub checksum: String,
    /// What fails now, if anything: the last run's error, else hooks that cannot be loaded,
    /// else a failing hook (named with its binding), else the `enabled` script's error.
    pub error: Option<String>,
    /// `<key>Maintenance: NoResourceReconciliation`: rendered and hooks run, nothing applied.
    #[serde(default)]
    pub maintenance: bool,
    /// Hooks whose queued runs fail and are being retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_hooks: Vec<HookFailure>,
    /// What `module describe` adds; not part of the list.
    #[serde(skip)]
    pub detail: ModuleDetail,
}

/// How many runs `module describe` shows per module.
pub const RUN_HISTORY: usize = 10;

/// A module's detail: its problems by source, why it is enabled, its last runs and objects.
#[derive(Debug, Clone, Default)]
pub struct ModuleDetail {
    /// The lifecycle's own state (the last run, disable or repair).
    pub phase: ModuleState,
    /// The error of the last run, disable or drift repair, until one succeeds.
    pub run_error: Option<String>,
    /// The module's hooks cannot be loaded (`dev` edits), until they load.
    pub hooks_error: Option<String>,
    /// The `enabled` script's error, until it succeeds.
    pub script_error: Option<String>,
    /// The last enabled-state resolution, with every layer.
    pub enabled: Option<EnabledDecision>,
    /// The last runs, oldest first.
    pub runs: VecDeque<RunRecord>,
    /// The objects of the last apply, with what the apply did to each.
    pub objects: Vec<ObjectStatus>,
    /// Inventory revision after the last apply.
    pub revision: u64,
}

/// What a run of the lifecycle was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunKind {
    /// Hooks, render and apply.
    Run,
    /// `beforeDeleteHelm`, delete, `afterDeleteHelm`.
    Disable,
    /// A re-apply after drift, without hooks.
    DriftRepair,
}

/// One run, disable or drift repair of a module.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The run's id (the `run_id` field of its log lines).
    pub id: u64,
    /// What it was.
    pub kind: RunKind,
    /// Why it ran.
    pub trigger: String,
    /// RFC 3339 start time.
    pub started: String,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// The error, if it failed.
    pub error: Option<String>,
    /// Objects written (applied or deleted).
    pub written: usize,
}

/// One object of a module and what its last apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace, for namespaced objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// `Created`, `Configured`, `Recreated` or `Unchanged`.
    pub applied: String,
}

impl ModuleStatus {
    /// Derives `state` and `error` from the module's sources of trouble (see the module doc).
    pub fn settle(&mut self) {
        let d = &self.detail;
        let hook = self.failing_hooks.first().map(|f| {
            format!(
                "hook {} (binding {}, queue {}) failing, retrying: {}",
                f.hook, f.binding, f.queue, f.error
            )
        });
        self.error = d
            .run_error
            .clone()
            .or_else(|| d.hooks_error.clone())
            .or(hook)
            .or_else(|| d.script_error.clone());
        self.state = if self.error.is_some() {
            ModuleState::Failed
        } else {
            d.phase
        };
    }

    /// Records a finished run, keeping the last [`RUN_HISTORY`].
    pub fn push_run(&mut self, record: RunRecord) {
        let runs = &mut self.detail.runs;
        if runs.len() == RUN_HISTORY {
            runs.pop_front();
        }
        runs.push_back(record);
    }
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
    /// Why the last edit of the module files (`dev`) cannot be loaded, until one loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_error: Option<String>,
    /// Global hooks whose queued runs fail and are being retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_global_hooks: Vec<HookFailure>,
    /// Every module, by name.
    pub modules: BTreeMap<String, ModuleStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(hook: &str) -> HookFailure {
        HookFailure {
            hook: hook.into(),
            binding: "cms".into(),
            queue: "main".into(),
            error: "exit status 1".into(),
            failures: 2,
            since: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_module_whose_hook_fails_is_failed_with_the_hook_binding_and_error() {
        let mut row = ModuleStatus::default();
        row.detail.phase = ModuleState::Ready;
        row.failing_hooks.push(failure("m/hooks/a.sh"));
        row.settle();
        assert_eq!(row.state, ModuleState::Failed);
        assert_eq!(
            row.error.as_deref(),
            Some("hook m/hooks/a.sh (binding cms, queue main) failing, retrying: exit status 1")
        );
        row.failing_hooks.clear();
        row.settle();
        assert_eq!((row.state, row.error), (ModuleState::Ready, None));
    }

    #[test]
    fn each_source_of_trouble_clears_on_its_own_and_the_run_error_shows_first() {
        let mut row = ModuleStatus::default();
        row.detail.phase = ModuleState::Failed;
        row.detail.run_error = Some("render failed".into());
        row.detail.script_error = Some("enabled script failed".into());
        row.settle();
        assert_eq!(row.error.as_deref(), Some("render failed"));
        row.detail.phase = ModuleState::Ready;
        row.detail.run_error = None;
        row.settle();
        assert_eq!(row.error.as_deref(), Some("enabled script failed"));
        row.detail.script_error = None;
        row.settle();
        assert_eq!((row.state, row.error), (ModuleState::Ready, None));
    }

    #[test]
    fn the_run_history_keeps_the_last_runs_only() {
        let mut row = ModuleStatus::default();
        for id in 0..(RUN_HISTORY as u64 + 3) {
            row.push_run(RunRecord {
                id,
                kind: RunKind::Run,
                trigger: "first run".into(),
                started: String::new(),
                duration_ms: 1,
                error: None,
                written: 0,
            });
        }
        let ids: Vec<u64> = row.detail.runs.iter().map(|r| r.id).collect();
        assert_eq!(ids, (3..RUN_HISTORY as u64 + 3).collect::<Vec<_>>());
    }
}
