//! Task queues: `main` plus named queues, one task at a time per queue, queues in parallel.
//!
//! # Guarantees
//! - Tasks of one queue run strictly one after another, in FIFO order; queues never wait for
//!   each other, so a failing hook blocks only its own queue.
//! - Adjacent tasks of the same hook are combined into one run with all their binding contexts;
//!   consecutive contexts of one group collapse into the last of them (shell-operator's rule).
//! - A failed run is retried after `retry_initial · 2^(n-1)`, capped at `retry_max`, plus a random
//!   jitter of up to `retry_jitter` (the workspace's one [`BackoffPolicy`]), unless every combined
//!   binding allows failure; each failure is logged and counted.
//! - Snapshots are taken right before each attempt, so they show the state at run time.

use crate::binding_context::BindingContext;
use crate::hook::Hook;
use crate::outputs::MetricAction;
use crate::run::{RunError, RunEvent, RunLabels, RunReport, Runner};
use crate::sync::lock;
use cluster_access::{BackoffPolicy, random_fraction};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{Notify, oneshot};
use tracing::Instrument;

/// Which snapshots a context wants filled in at run time.
#[derive(Debug, Clone)]
pub(crate) enum SnapshotRequest {
    /// No `snapshots` key.
    None,
    /// The named kubernetes bindings (`includeSnapshotsFrom`, or a group's bindings).
    Names(Vec<String>),
}

impl SnapshotRequest {
    /// What a binding's contexts include: `includeSnapshotsFrom` merged with, for a binding in a
    /// group, every kubernetes binding of that group (shell-operator's rule).
    pub(crate) fn for_binding(hook: &Hook, group: Option<&str>, include: &[String]) -> Self {
        let mut names: Vec<String> = include.to_vec();
        if let Some(g) = group {
            for k in hook
                .config
                .kubernetes
                .iter()
                .filter(|k| k.group.as_deref() == Some(g))
            {
                if !names.contains(&k.name) {
                    names.push(k.name.clone());
                }
            }
        }
        if names.is_empty() && group.is_none() {
            Self::None
        } else {
            Self::Names(names)
        }
    }
}

/// Outcome sent to whoever waits for a task (Synchronization with `waitForSynchronization`).
pub(crate) type Done = oneshot::Sender<Result<RunReport, Arc<RunError>>>;

/// One queued run request.
pub(crate) struct Task {
    pub hook: Arc<Hook>,
    pub contexts: Vec<(BindingContext, SnapshotRequest)>,
    pub allow_failure: bool,
    pub queued_at: Instant,
    /// Set for schedule tasks: a tick is dropped while one for the same binding is still queued.
    pub schedule_binding: Option<String>,
    pub done: Vec<Done>,
}

struct Queue {
    tasks: Mutex<VecDeque<Task>>,
    notify: Notify,
}

/// All queues and their workers.
pub(crate) struct Queues {
    runner: Arc<Runner>,
    events: tokio::sync::broadcast::Sender<RunEvent>,
    /// Wakes every task waiting out a retry backoff, so it checks whether its hook was stopped
    /// or asked to retry at once ([`Queues::wake_retries`]).
    wake: Notify,
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Queues {
    pub(crate) fn new(runner: Arc<Runner>) -> Self {
        Self {
            runner,
            events: tokio::sync::broadcast::channel(256).0,
            wake: Notify::new(),
            queues: Mutex::default(),
            workers: Mutex::default(),
        }
    }

    fn queue(self: &Arc<Self>, name: &str) -> Arc<Queue> {
        let mut queues = lock(&self.queues);
        if let Some(q) = queues.get(name) {
            return q.clone();
        }
        let q = Arc::new(Queue {
            tasks: Mutex::default(),
            notify: Notify::new(),
        });
        queues.insert(name.to_string(), q.clone());
        let worker = tokio::spawn(worker(self.clone(), name.to_string(), q.clone()));
        lock(&self.workers).push(worker);
        q
    }

    /// Counts a watch error of a kubernetes binding (`<prefix>kubernetes_client_watch_errors_total`).
    pub(crate) fn count_watch_error(&self, hook: &str, binding: &str) {
        let name = format!(
            "{}kubernetes_client_watch_errors_total",
            self.runner.opts.metric_prefix
        );
        self.runner.metrics.engine(
            &name,
            &[("hook", hook), ("binding", binding)],
            MetricAction::Add,
            1.0,
        );
    }

    /// Receiver of the outcome of every queued run.
    pub(crate) fn subscribe(&self) -> tokio::sync::broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    /// Appends a task; a schedule tick is dropped when the same binding is still waiting.
    pub(crate) fn push(self: &Arc<Self>, queue: &str, task: Task) {
        let q = self.queue(queue);
        {
            let mut tasks = lock(&q.tasks);
            if let Some(b) = &task.schedule_binding {
                let pending = tasks.iter().any(|t| {
                    Arc::ptr_eq(&t.hook, &task.hook) && t.schedule_binding.as_ref() == Some(b)
                });
                if pending {
                    tracing::debug!(hook = %task.hook.name, binding = %b, queue, "schedule tick skipped: previous one still queued");
                    return;
                }
            }
            tasks.push_back(task);
            self.gauge_queue_length(queue, tasks.len());
        }
        q.notify.notify_one();
    }

    /// `<prefix>tasks_queue_length{queue}`: tasks waiting in a queue.
    fn gauge_queue_length(&self, queue: &str, len: usize) {
        let name = format!("{}tasks_queue_length", self.runner.opts.metric_prefix);
        self.runner
            .metrics
            .engine(&name, &[("queue", queue)], MetricAction::Set, len as f64);
    }

    /// `<prefix>kube_snapshot_objects{hook,binding}`: objects held by a kubernetes binding.
    pub(crate) fn gauge_snapshot(&self, hook: &str, binding: &str, len: usize) {
        let name = format!("{}kube_snapshot_objects", self.runner.opts.metric_prefix);
        self.runner.metrics.engine(
            &name,
            &[("hook", hook), ("binding", binding)],
            MetricAction::Set,
            len as f64,
        );
    }

    /// Drops queued tasks of hooks matching `pred` (a disabled module's hooks), and ends the
    /// backoff of their failed tasks, so their queues go on at once.
    pub(crate) fn remove_tasks(&self, pred: impl Fn(&Hook) -> bool) {
        for q in lock(&self.queues).values() {
            lock(&q.tasks).retain(|t| !pred(&t.hook));
        }
        self.wake_retries();
    }

    /// Wakes every task waiting out a retry backoff: a stopped hook's task ends, one whose hook
    /// has `retry_now` set runs again at once, the others go on waiting.
    pub(crate) fn wake_retries(&self) {
        self.wake.notify_waiters();
    }

    /// Waits out the backoff `delay` of a failed task of `hook`; returns false when the hook
    /// was stopped meanwhile (the task is dropped), true when it is time to retry: the delay
    /// passed, or the hook was asked to retry at once.
    async fn backoff(&self, hook: &Hook, delay: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + delay;
        loop {
            // Registered before the flags are read, so a wake between the two is not lost.
            let woken = self.wake.notified();
            futures::pin_mut!(woken);
            woken.as_mut().enable();
            if hook.stopped.load(Ordering::SeqCst) {
                return false;
            }
            if hook.retry_now.swap(false, Ordering::SeqCst) {
                return true;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return true,
                _ = woken => {}
            }
        }
    }

    /// Tasks waiting (not running) per queue.
    pub(crate) fn lengths(&self) -> std::collections::BTreeMap<String, usize> {
        lock(&self.queues)
            .iter()
            .map(|(name, q)| (name.clone(), lock(&q.tasks).len()))
            .collect()
    }

    /// Number of tasks waiting (not running) in all queues.
    pub(crate) fn pending(&self) -> usize {
        lock(&self.queues)
            .values()
            .map(|q| lock(&q.tasks).len())
            .sum()
    }

    /// Stops every worker; a running hook's process group is killed as its run is dropped.
    pub(crate) fn shutdown(&self) {
        for w in lock(&self.workers).drain(..) {
            w.abort();
        }
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Pops the head task, waits for the hook's rate limit, then merges adjacent tasks of the hook.
async fn next_task(q: &Queue) -> Task {
    loop {
        let popped = lock(&q.tasks).pop_front();
        let Some(mut task) = popped else {
            q.notify.notified().await;
            continue;
        };
        if let Some(limiter) = &task.hook.limiter {
            let wait = limiter.lock().await.acquire(Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let mut tasks = lock(&q.tasks);
        while tasks
            .front()
            .is_some_and(|t| Arc::ptr_eq(&t.hook, &task.hook))
        {
            let Some(next) = tasks.pop_front() else { break };
            task.contexts.extend(next.contexts);
            task.allow_failure &= next.allow_failure;
            task.queued_at = task.queued_at.min(next.queued_at);
            task.done.extend(next.done);
            task.schedule_binding = None;
        }
        dedup_groups(&mut task.contexts);
        return task;
    }
}

/// Consecutive contexts of one group collapse into the last of them, as shell-operator's
/// `combineBindingContextForHook` does: a `Group` context carries only the group's snapshots
/// (filled at run time), so the earlier ones would repeat it.
fn dedup_groups(contexts: &mut Vec<(BindingContext, SnapshotRequest)>) {
    let next_groups: Vec<Option<String>> = contexts
        .iter()
        .skip(1)
        .map(|(c, _)| c.group.clone())
        .chain(std::iter::once(None))
        .collect();
    let mut next = next_groups.into_iter();
    contexts.retain(|(c, _)| {
        let next = next.next().flatten();
        c.group.is_none() || c.group != next
    });
}

async fn worker(queues: Arc<Queues>, name: String, q: Arc<Queue>) {
    loop {
        let task = next_task(&q).await;
        let waiting = lock(&q.tasks).len();
        queues.gauge_queue_length(&name, waiting);
        run_task(&queues, &name, task).await;
    }
}

async fn run_task(queues: &Arc<Queues>, queue: &str, mut task: Task) {
    let labels = RunLabels::new(&task.hook, task.contexts.first().map(|(c, _)| c), queue);
    let mut attempt = 0;
    loop {
        if task.hook.stopped.load(Ordering::SeqCst) {
            return;
        }
        // Each attempt is a run of its own: a span with a new run_id.
        let span = labels.span();
        let retry = attempt_once(queues, queue, &mut task, &labels, &mut attempt)
            .instrument(span)
            .await;
        match retry {
            Some(delay) => {
                if !queues.backoff(&task.hook, delay).await {
                    return;
                }
            }
            None => return,
        }
    }
}

/// One attempt of `task`: runs it, reports the outcome, and logs a failure; returns the
/// delay before the next attempt, `None` when the task is done.
async fn attempt_once(
    queues: &Arc<Queues>,
    queue: &str,
    task: &mut Task,
    labels: &RunLabels,
    attempt: &mut u32,
) -> Option<std::time::Duration> {
    // At debug: the start of the run in its span, when the rate limit let it go.
    tracing::debug!(attempt = *attempt, "hook run started");
    let runner = &queues.runner;
    let hook = &task.hook;
    let contexts: Vec<BindingContext> = task
        .contexts
        .iter()
        .map(|(c, req)| {
            let mut c = c.clone();
            c.snapshots = match req {
                SnapshotRequest::None => None,
                SnapshotRequest::Names(n) => Some(hook.snapshots(Some(n))),
            };
            c
        })
        .collect();
    let result = runner
        .run(hook, &contexts, labels, task.queued_at)
        .await
        .map_err(Arc::new);
    let _ = queues.events.send(RunEvent {
        hook: hook.name.clone(),
        module: hook.module.clone(),
        binding: labels.binding().to_string(),
        queue: queue.to_string(),
        allow_failure: task.allow_failure,
        result: result.clone(),
    });
    let err = match result {
        Ok(report) => {
            for d in task.done.drain(..) {
                let _ = d.send(Ok(report.clone()));
            }
            return None;
        }
        Err(e) => e,
    };
    *attempt += 1;
    runner.record_failure(labels, task.allow_failure);
    let error = crate::errtext::with_causes(&err);
    if task.allow_failure {
        tracing::warn!(error = %error, "hook failed; allowFailure set, not retried");
        for d in task.done.drain(..) {
            let _ = d.send(Err(err.clone()));
        }
        return None;
    }
    let o = &runner.opts;
    let policy = BackoffPolicy {
        initial: o.retry_initial,
        max: o.retry_max,
        jitter: o.retry_jitter,
    };
    let delay = policy.delay(*attempt, random_fraction());
    tracing::error!(attempt = *attempt, retry_in_ms = delay.as_millis() as u64, error = %error, "hook failed; will retry");
    Some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(binding: &str, group: Option<&str>) -> (BindingContext, SnapshotRequest) {
        let c = BindingContext {
            binding: binding.into(),
            kind: crate::binding_context::ContextKind::Schedule,
            group: group.map(Into::into),
            snapshots: None,
            version: crate::config::ConfigVersion::V1,
        };
        (c, SnapshotRequest::None)
    }

    #[test]
    fn group_snapshots_merge_with_include_snapshots_from() {
        let cfg = crate::config::HookConfig::parse(
            "configVersion: v1\nkubernetes:\n- {name: a, kind: Pod, group: g}\n- {name: b, kind: Pod}\n- {name: c, kind: Pod, group: g}\n",
            "h",
            crate::config::HookScope::Global,
        )
        .unwrap();
        let hook = Hook::new(
            "h".into(),
            "/h".into(),
            crate::config::HookScope::Global,
            None,
            cfg,
        );
        let SnapshotRequest::Names(n) =
            SnapshotRequest::for_binding(&hook, Some("g"), &["b".into(), "a".into()])
        else {
            panic!("group bindings get snapshots")
        };
        assert_eq!(n, ["b", "a", "c"]);
        assert!(matches!(
            SnapshotRequest::for_binding(&hook, None, &[]),
            SnapshotRequest::None
        ));
    }

    #[test]
    fn consecutive_contexts_of_a_group_collapse_into_the_last() {
        let mut contexts = vec![
            ctx("a", Some("g")),
            ctx("b", Some("g")),
            ctx("c", None),
            ctx("d", Some("g")),
            ctx("e", Some("h")),
            ctx("f", Some("h")),
            ctx("x", None),
            ctx("y", None),
        ];
        dedup_groups(&mut contexts);
        let names: Vec<&str> = contexts.iter().map(|(c, _)| c.binding.as_str()).collect();
        assert_eq!(names, ["b", "c", "d", "f", "x", "y"]);
    }
}
