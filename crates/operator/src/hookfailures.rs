//! Failing hooks in `module list`: follows the hook engine's run events and keeps, per module
//! (and for global hooks), the hooks whose queued runs fail and are retried, with the binding
//! and the last error. A hook's next successful run removes it.
//!
//! The follower runs beside the loop, not in it: a module whose first run waits for a failing
//! Synchronization blocks the loop, and must show as failing meanwhile.

use std::sync::Arc;

use hooks::RunEvent;
use tokio::sync::{broadcast, watch};

use crate::shared::Shared;
use crate::status::{HookFailure, ModuleState};

/// Spawns the follower of `events`; it stops on shutdown or when the engine is gone.
pub fn spawn(
    shared: Arc<Shared>,
    mut events: broadcast::Receiver<RunEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => note(&shared, &event),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "hook run events missed; module list catches up with the next runs");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// Records one run event: a failure to be retried adds (or updates) the hook's entry, a
/// success removes it. Failures with `allowFailure` are tolerated by design and not shown;
/// events of a disabled module's hooks (a run that finished while it was disabled) are
/// ignored.
pub fn note(shared: &Shared, event: &RunEvent) {
    let mut status = shared.status();
    let failing = match &event.module {
        None => &mut status.failing_global_hooks,
        Some(module) => match status.modules.get_mut(module) {
            Some(row) if row.detail.phase != ModuleState::Disabled => &mut row.failing_hooks,
            _ => return,
        },
    };
    match &event.result {
        Ok(_) => failing.retain(|f| f.hook != event.hook),
        Err(_) if event.allow_failure => {}
        Err(err) => {
            let error = err.to_string();
            match failing.iter_mut().find(|f| f.hook == event.hook) {
                Some(known) => {
                    known.failures += 1;
                    known.binding = event.binding.clone();
                    known.queue = event.queue.clone();
                    known.error = error;
                }
                None => failing.push(HookFailure {
                    hook: event.hook.clone(),
                    binding: event.binding.clone(),
                    queue: event.queue.clone(),
                    error,
                    failures: 1,
                    since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                }),
            }
        }
    }
    if let Some(module) = &event.module
        && let Some(row) = status.modules.get_mut(module)
    {
        row.settle();
    }
}
