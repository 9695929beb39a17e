//! Recording what the lifecycle did: each outcome of a run, disable, drift repair or enabled
//! resolution goes to the module's status row (`module list`, `module describe`), the
//! operator metrics and the log, in one place.

use std::time::Duration;

use reconciler::{ApplyReport, ObjectRef};
use tokio::time::Instant;

use crate::enabled::EnabledDecision;
use crate::runner::Applied;
use crate::shared::Shared;
use crate::status::{ModuleState, ModuleStatus, ObjectStatus, RunKind, RunRecord};

/// A run, disable or repair in progress: its id, what and why, and when it started.
#[derive(Debug)]
pub struct RunStart {
    /// The run's id (also the `run_id` of its span).
    pub id: u64,
    /// Values key of the module.
    pub key: String,
    /// Name of the module.
    pub name: String,
    kind: RunKind,
    trigger: String,
    wall: chrono::DateTime<chrono::Utc>,
    at: Instant,
}

impl RunStart {
    /// Starts the clock of run `id` of module `key` (`name`).
    pub fn new(id: u64, key: &str, name: &str, kind: RunKind, trigger: &str) -> Self {
        RunStart {
            id,
            key: key.to_string(),
            name: name.to_string(),
            kind,
            trigger: trigger.to_string(),
            wall: chrono::Utc::now(),
            at: Instant::now(),
        }
    }

    /// The tracing span every line of the run is logged in: fields `module` and `run_id`.
    pub fn span(&self) -> tracing::Span {
        let name = self.name.as_str();
        match self.kind {
            RunKind::Run => tracing::info_span!("module_run", module = name, run_id = self.id),
            RunKind::Disable => {
                tracing::info_span!("module_disable", module = name, run_id = self.id)
            }
            RunKind::DriftRepair => {
                tracing::info_span!("drift_repair", module = name, run_id = self.id)
            }
        }
    }

    fn finish(&self, error: Option<String>, written: usize) -> (RunRecord, Duration) {
        let elapsed = self.at.elapsed();
        let record = RunRecord {
            id: self.id,
            kind: self.kind,
            trigger: self.trigger.clone(),
            started: self
                .wall
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms: elapsed.as_millis() as u64,
            error,
            written,
        };
        (record, elapsed)
    }
}

/// Updates module `key`'s row (created on first use), then derives its state and error.
pub fn row(shared: &Shared, key: &str, update: impl FnOnce(&mut ModuleStatus)) {
    let identity = {
        let modules = shared.modules();
        modules.set.by_key(key).map(|m| (m.name.clone(), m.order))
    };
    let Some((name, order)) = identity else {
        return;
    };
    let mut status = shared.status();
    let entry = status
        .modules
        .entry(name.clone())
        .or_insert_with(|| ModuleStatus {
            name,
            key: key.to_string(),
            order,
            ..ModuleStatus::default()
        });
    update(entry);
    entry.settle();
}

/// A module's enabled state was resolved. Every convergence pass resolves every module, so an
/// unchanged decision returns after one lookup: a pass costs the same whatever the module count.
pub fn enabled(shared: &Shared, key: &str, name: &str, decision: EnabledDecision) {
    let unchanged = shared
        .status()
        .modules
        .get(name)
        .is_some_and(|s| s.detail.enabled.as_ref() == Some(&decision));
    if unchanged {
        return;
    }
    shared
        .metrics
        .module_enabled
        .with_label_values(&[name])
        .set(i64::from(decision.shown()));
    row(shared, key, |s| {
        s.enabled = decision.shown();
        s.enabled_source = decision.source();
        s.detail.enabled = Some(decision);
    });
}

/// The `enabled` script failed (logged and shown until it succeeds).
pub fn script_failed(shared: &Shared, key: &str, name: &str, err: &anyhow::Error, retry: Duration) {
    let message = format!("enabled script failed: {err:#}");
    tracing::error!(module = %name, error = %message, retry_in_ms = retry.as_millis() as u64, "enabled script failed; the module keeps its previous state");
    row(shared, key, |s| s.detail.script_error = Some(message));
}

/// The `enabled` script succeeded: its error, if any, is gone.
pub fn script_succeeded(shared: &Shared, key: &str) {
    row(shared, key, |s| s.detail.script_error = None);
}

/// A run succeeded.
pub fn run_succeeded(shared: &Shared, run: &RunStart, applied: Applied) {
    let report = &applied.report;
    let written = report.object_writes();
    let (record, elapsed) = run.finish(None, written);
    let name = run.name.as_str();
    let m = &shared.metrics;
    m.module_run_seconds
        .with_label_values(&[name])
        .observe(elapsed.as_secs_f64());
    m.module_objects_applied
        .with_label_values(&[name])
        .inc_by(written as u64);
    m.module_objects_pruned
        .with_label_values(&[name])
        .inc_by(report.pruned.len() as u64);
    tracing::info!(
        applied = written,
        unchanged = report.unchanged.len(),
        pruned = report.pruned.len(),
        elapsed_ms = record.duration_ms,
        "module converged"
    );
    row(shared, &run.key, |s| {
        s.detail.phase = ModuleState::Ready;
        s.detail.run_error = None;
        s.maintenance = applied.maintenance;
        if !applied.maintenance {
            s.objects = report.created.len()
                + report.updated.len()
                + report.recreated.len()
                + report.unchanged.len();
            s.detail.objects = objects(report);
            s.detail.revision = report.revision;
        }
        s.objects_applied = written;
        s.last_run_ms = record.duration_ms;
        s.checksum = applied.checksum;
        s.push_run(record);
    });
}

/// A run failed; it is retried in `retry`.
pub fn run_failed(shared: &Shared, run: &RunStart, err: &anyhow::Error, retry: Duration) {
    let message = format!("{err:#}");
    let (record, elapsed) = run.finish(Some(message.clone()), 0);
    let name = run.name.as_str();
    shared
        .metrics
        .module_run_seconds
        .with_label_values(&[name])
        .observe(elapsed.as_secs_f64());
    shared
        .metrics
        .module_run_errors
        .with_label_values(&[name])
        .inc();
    tracing::error!(error = %message, retry_in_ms = retry.as_millis() as u64, "module run failed");
    failed(shared, run, message, record);
}

/// A drift repair succeeded.
pub fn repaired(shared: &Shared, run: &RunStart, report: &ApplyReport) {
    let (record, _) = run.finish(None, report.object_writes());
    shared
        .metrics
        .module_drift_repairs
        .with_label_values(&[run.name.as_str()])
        .inc();
    tracing::info!(repaired = report.object_writes(), "drift repaired");
    row(shared, &run.key, |s| {
        s.detail.objects = objects(report);
        s.detail.revision = report.revision;
        s.push_run(record);
    });
}

/// A drift repair failed; the module is retried as a whole run in `retry`.
pub fn repair_failed(shared: &Shared, run: &RunStart, err: &anyhow::Error, retry: Duration) {
    let message = format!("{err:#}");
    let (record, _) = run.finish(Some(message.clone()), 0);
    tracing::error!(error = %message, retry_in_ms = retry.as_millis() as u64, "drift repair failed");
    failed(shared, run, message, record);
}

/// A module was disabled; `deleted` objects were deleted.
pub fn disabled(shared: &Shared, run: &RunStart, deleted: usize) {
    let (record, _) = run.finish(None, deleted);
    if deleted > 0 {
        tracing::info!(deleted, "module disabled; its objects were deleted");
    }
    row(shared, &run.key, |s| {
        s.detail.phase = ModuleState::Disabled;
        s.detail.run_error = None;
        s.detail.hooks_error = None;
        s.failing_hooks.clear();
        s.objects = 0;
        s.detail.objects.clear();
        s.push_run(record);
    });
}

/// Deleting a disabled module failed; it is retried in `retry`.
pub fn disable_failed(shared: &Shared, run: &RunStart, err: &anyhow::Error, retry: Duration) {
    let message = format!("{err:#}");
    let (record, _) = run.finish(Some(message.clone()), 0);
    shared
        .metrics
        .module_delete_errors
        .with_label_values(&[run.name.as_str()])
        .inc();
    tracing::error!(error = %message, retry_in_ms = retry.as_millis() as u64, "module deletion failed");
    failed(shared, run, message, record);
}

fn failed(shared: &Shared, run: &RunStart, message: String, record: RunRecord) {
    row(shared, &run.key, |s| {
        s.detail.phase = ModuleState::Failed;
        s.last_run_ms = record.duration_ms;
        s.detail.run_error = Some(message);
        s.push_run(record);
    });
}

/// The module's hooks cannot be loaded (shown until they load).
pub fn hooks_broken(shared: &Shared, key: &str, name: &str, err: &dyn std::fmt::Display) {
    let message = format!("module hooks cannot be loaded: {err}");
    tracing::error!(module = %name, error = %message);
    row(shared, key, |s| {
        s.detail.hooks_error = Some(message);
        s.failing_hooks.clear();
    });
}

/// The module's hooks were (re)loaded: earlier load errors and hook failures are gone.
pub fn hooks_loaded(shared: &Shared, key: &str) {
    row(shared, key, |s| {
        s.detail.hooks_error = None;
        s.failing_hooks.clear();
    });
}

/// Each object of an apply report with what the apply did to it.
fn objects(report: &ApplyReport) -> Vec<ObjectStatus> {
    let mut objects: Vec<ObjectStatus> = [
        (&report.created, "Created"),
        (&report.updated, "Configured"),
        (&report.recreated, "Recreated"),
        (&report.unchanged, "Unchanged"),
    ]
    .into_iter()
    .flat_map(|(refs, applied)| refs.iter().map(move |r| object(r, applied)))
    .collect();
    objects.sort_by(|a, b| (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name)));
    objects
}

fn object(r: &ObjectRef, applied: &str) -> ObjectStatus {
    ObjectStatus {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        applied: applied.to_string(),
    }
}
