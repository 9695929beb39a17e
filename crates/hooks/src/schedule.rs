//! Schedule bindings: one timer task per binding, queueing a run on each cron tick.
//!
//! Ticks are computed from the wall clock after each one, so ticks missed while the process was
//! busy are not replayed, and a tick is dropped while the previous one is still queued.

use crate::binding_context::{BindingContext, ContextKind};
use crate::hook::Hook;
use crate::queue::{Queues, SnapshotRequest, Task};
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs the timer of `hook`'s schedule binding `index` until aborted.
pub(crate) async fn run_schedule(hook: Arc<Hook>, index: usize, queues: Arc<Queues>) {
    let b = &hook.config.schedules[index];
    loop {
        let Some(next) = b.schedule.upcoming(Utc).next() else {
            tracing::warn!(hook = %hook.name, binding = %b.name, "schedule has no future tick");
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        let request =
            SnapshotRequest::for_binding(&hook, b.group.as_deref(), &b.include_snapshots_from);
        let ctx = BindingContext {
            binding: b.name.clone(),
            kind: ContextKind::Schedule,
            group: b.group.clone(),
            snapshots: None,
            version: hook.config.version,
        };
        let task = Task {
            hook: hook.clone(),
            contexts: vec![(ctx, request)],
            allow_failure: b.allow_failure,
            queued_at: Instant::now(),
            schedule_binding: Some(b.name.clone()),
            done: Vec::new(),
        };
        queues.push(&b.queue, task);
    }
}
