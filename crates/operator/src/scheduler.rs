//! The module scheduler: each module's lifecycle state, its retries and their backoff — *when*
//! a module runs. What a run does is the runner's (`runner.rs`); the loop (`operator.rs`,
//! `converge.rs`) asks the scheduler, runs, and tells it the outcome.
//!
//! # Guarantees
//! - A module runs when it has not converged in this process (first run, re-enabled, hooks
//!   reloaded), when its inputs (values and chart files) differ from its last success, or,
//!   after a failure, when its backoff has passed or its inputs differ from those it failed
//!   with (a fixed ConfigMap value runs it at once). Nothing else runs it.
//! - Backoff is [`BackoffPolicy::MODULE_RUN`] (with the operator's delays) in the module's
//!   consecutive failures; a success resets it.
//! - A module whose hooks cannot be loaded is blocked until its hooks load or its inputs change.
//! - Only a converged module is repaired after drift.

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_access::{BackoffPolicy, random_fraction};
use tokio::time::Instant;

/// Where a module is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// Not resolved or run in this process yet.
    Unknown,
    /// Enabled, and to run from the start: `onStartup` and bindings first (its hooks were
    /// reloaded).
    Pending,
    /// The last run succeeded with inputs of checksum `checksum`.
    Converged {
        /// Checksum of the values and chart files the run used.
        checksum: String,
    },
    /// The last run or drift repair failed.
    Failed {
        /// Checksum of the inputs it failed with (`None`: they could not be computed).
        attempted: Option<String>,
        /// Consecutive failures.
        failures: u32,
        /// When it is retried.
        retry_at: Instant,
    },
    /// Its hooks cannot be loaded (`dev`): runs again when they load or its inputs change.
    Blocked {
        /// Checksum of the inputs when its hooks failed to load.
        attempted: Option<String>,
    },
    /// Disabled: its objects are deleted, or it never had any.
    Disabled,
    /// Deleting it failed; the reconciler kept what it could not delete in the inventory.
    DisableFailed {
        /// Whether it had been enabled in this process before (its delete hooks run again).
        was_enabled: bool,
        /// Consecutive failures.
        failures: u32,
        /// When the deletion is retried.
        retry_at: Instant,
    },
}

/// Why a module runs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// It has not converged in this process: first run, re-enabled, or hooks reloaded.
    Start,
    /// Its values or chart files changed.
    InputsChanged,
    /// Its backoff after a failure has passed.
    RetryDue,
}

impl Trigger {
    /// How `module describe` and the logs say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::InputsChanged => "inputs changed",
            Trigger::RetryDue => "retry after failure",
        }
    }
}

/// One module's bookkeeping.
#[derive(Debug, Clone)]
struct Entry {
    lifecycle: Lifecycle,
    /// `onStartup` ran and the kubernetes and schedule bindings are enabled.
    bindings: bool,
    /// Consecutive failures of the `enabled` script and when it runs again.
    script_failures: u32,
    script_retry_at: Option<Instant>,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            lifecycle: Lifecycle::Unknown,
            bindings: false,
            script_failures: 0,
            script_retry_at: None,
        }
    }
}

/// Per-module lifecycle state, retries and backoff, by values key.
#[derive(Debug)]
pub struct Scheduler {
    policy: BackoffPolicy,
    modules: BTreeMap<String, Entry>,
}

impl Scheduler {
    /// A scheduler retrying with `policy`.
    pub fn new(policy: BackoffPolicy) -> Self {
        Scheduler {
            policy,
            modules: BTreeMap::new(),
        }
    }

    fn entry(&mut self, key: &str) -> &mut Entry {
        self.modules.entry(key.to_string()).or_default()
    }

    /// The module's lifecycle state.
    pub fn lifecycle(&self, key: &str) -> &Lifecycle {
        self.modules
            .get(key)
            .map_or(&Lifecycle::Unknown, |e| &e.lifecycle)
    }

    /// Whether this process ran (`Some(true)`) or disabled (`Some(false)`) the module.
    pub fn known_enabled(&self, key: &str) -> Option<bool> {
        match self.lifecycle(key) {
            Lifecycle::Unknown => None,
            Lifecycle::Disabled => Some(false),
            Lifecycle::DisableFailed { was_enabled, .. } => Some(*was_enabled).filter(|on| *on),
            _ => Some(true),
        }
    }

    /// Why an enabled module must run now, if it must; `current` is the checksum of its inputs
    /// now (`None`: they cannot be computed, e.g. a values error; the run reports it).
    pub fn trigger(&self, key: &str, current: Option<&str>, now: Instant) -> Option<Trigger> {
        match self.lifecycle(key) {
            Lifecycle::Unknown
            | Lifecycle::Pending
            | Lifecycle::Disabled
            | Lifecycle::DisableFailed { .. } => Some(Trigger::Start),
            Lifecycle::Converged { checksum } => {
                (current != Some(checksum.as_str())).then_some(Trigger::InputsChanged)
            }
            Lifecycle::Failed {
                attempted,
                retry_at,
                ..
            } => {
                if *retry_at <= now {
                    Some(Trigger::RetryDue)
                } else {
                    (current != attempted.as_deref()).then_some(Trigger::InputsChanged)
                }
            }
            Lifecycle::Blocked { attempted } => {
                (current != attempted.as_deref()).then_some(Trigger::InputsChanged)
            }
        }
    }

    /// Whether the next run starts the module: `onStartup` and its bindings.
    pub fn starts(&self, key: &str) -> bool {
        !self.modules.get(key).is_some_and(|e| e.bindings)
    }

    /// `onStartup` ran and the bindings are enabled.
    pub fn started(&mut self, key: &str) {
        self.entry(key).bindings = true;
    }

    /// A run succeeded with inputs `checksum`.
    pub fn succeeded(&mut self, key: &str, checksum: String) {
        self.entry(key).lifecycle = Lifecycle::Converged { checksum };
    }

    /// A run (or drift repair) with inputs `attempted` failed; returns the delay until its retry.
    pub fn failed(&mut self, key: &str, attempted: Option<String>, now: Instant) -> Duration {
        let policy = self.policy;
        let entry = self.entry(key);
        let failures = match entry.lifecycle {
            Lifecycle::Failed { failures, .. } => failures + 1,
            _ => 1,
        };
        let delay = policy.delay(failures, random_fraction());
        entry.lifecycle = Lifecycle::Failed {
            attempted,
            failures,
            retry_at: now + delay,
        };
        delay
    }

    /// Whether a disabled module must be disabled now, and if so whether it was enabled in
    /// this process (then its delete hooks run even without an inventory).
    pub fn disabling(&self, key: &str) -> Option<bool> {
        match self.lifecycle(key) {
            Lifecycle::Disabled => None,
            Lifecycle::Unknown => Some(false),
            Lifecycle::DisableFailed { was_enabled, .. } => Some(*was_enabled),
            _ => Some(true),
        }
    }

    /// The module is disabled: its bindings are stopped, its objects deleted.
    pub fn disabled(&mut self, key: &str) {
        let entry = self.entry(key);
        entry.lifecycle = Lifecycle::Disabled;
        entry.bindings = false;
    }

    /// Deleting the module failed; returns the delay until the retry.
    pub fn disable_failed(&mut self, key: &str, now: Instant) -> Duration {
        let policy = self.policy;
        let entry = self.entry(key);
        let (was_enabled, failures) = match entry.lifecycle {
            Lifecycle::DisableFailed {
                was_enabled,
                failures,
                ..
            } => (was_enabled, failures + 1),
            Lifecycle::Unknown => (false, 1),
            _ => (true, 1),
        };
        let delay = policy.delay(failures, random_fraction());
        entry.lifecycle = Lifecycle::DisableFailed {
            was_enabled,
            failures,
            retry_at: now + delay,
        };
        delay
    }

    /// Whether drift of the module's objects is repaired: only when it has converged (a failed
    /// module's retry applies everything anyway).
    pub fn repairable(&self, key: &str) -> bool {
        matches!(self.lifecycle(key), Lifecycle::Converged { .. })
    }

    /// A due retry of a module that did not run (its state cannot be computed now) waits
    /// another backoff instead of waking the loop again at once.
    pub fn postpone(&mut self, key: &str, now: Instant) {
        let policy = self.policy;
        if let Some(Entry {
            lifecycle: Lifecycle::Failed {
                failures, retry_at, ..
            },
            ..
        }) = self.modules.get_mut(key)
            && *retry_at <= now
        {
            *retry_at = now + policy.delay(*failures, random_fraction());
        }
    }

    /// The module's `enabled` script is about to run (or no longer needs to): its pending
    /// retry is dropped.
    pub fn script_attempt(&mut self, key: &str) {
        self.entry(key).script_retry_at = None;
    }

    /// The `enabled` script failed; returns the delay until it runs again.
    pub fn script_failed(&mut self, key: &str, now: Instant) -> Duration {
        let policy = self.policy;
        let entry = self.entry(key);
        entry.script_failures += 1;
        let delay = policy.delay(entry.script_failures, random_fraction());
        entry.script_retry_at = Some(now + delay);
        delay
    }

    /// The `enabled` script succeeded: its backoff starts over.
    pub fn script_succeeded(&mut self, key: &str) {
        self.entry(key).script_failures = 0;
    }

    /// The module's hooks were reloaded: it runs from the start (`onStartup`, bindings).
    pub fn hooks_reloaded(&mut self, key: &str) {
        let entry = self.entry(key);
        entry.bindings = false;
        if !matches!(entry.lifecycle, Lifecycle::Disabled | Lifecycle::Unknown) {
            entry.lifecycle = Lifecycle::Pending;
        }
    }

    /// The module's hooks cannot be loaded: it waits until they load or its inputs change
    /// (running it with its old hooks would hide the error).
    pub fn hooks_broken(&mut self, key: &str, attempted: Option<String>) {
        let entry = self.entry(key);
        entry.bindings = false;
        entry.lifecycle = Lifecycle::Blocked { attempted };
    }

    /// When the loop must wake up for a retry (of a run, a deletion or an `enabled` script).
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.modules
            .values()
            .flat_map(|e| {
                let retry = match e.lifecycle {
                    Lifecycle::Failed { retry_at, .. }
                    | Lifecycle::DisableFailed { retry_at, .. } => Some(retry_at),
                    _ => None,
                };
                [retry, e.script_retry_at]
            })
            .flatten()
            .min()
    }

    /// Resolves at [`Scheduler::next_wakeup`]; never when nothing is to be retried.
    pub async fn wakeup(&self) {
        match self.next_wakeup() {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn scheduler() -> Scheduler {
        Scheduler::new(BackoffPolicy::MODULE_RUN)
    }

    fn sum(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn a_module_runs_first_then_only_when_its_inputs_change() {
        let mut s = scheduler();
        let now = Instant::now();
        assert_eq!(
            s.trigger("m", sum("a").as_deref(), now),
            Some(Trigger::Start)
        );
        assert!(s.starts("m"));
        s.started("m");
        s.succeeded("m", "a".into());
        assert!(!s.starts("m"));
        assert_eq!(s.trigger("m", Some("a"), now), None);
        tokio::time::advance(S(3600)).await;
        assert_eq!(
            s.trigger("m", Some("a"), Instant::now()),
            None,
            "time alone runs nothing"
        );
        assert_eq!(
            s.trigger("m", Some("b"), Instant::now()),
            Some(Trigger::InputsChanged)
        );
        assert_eq!(s.next_wakeup(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_module_is_retried_when_its_backoff_has_passed_and_the_backoff_doubles() {
        let mut s = scheduler();
        let start = Instant::now();
        assert_eq!(s.failed("m", sum("a"), start), S(5));
        assert_eq!(s.trigger("m", Some("a"), Instant::now()), None);
        tokio::time::advance(Duration::from_millis(4999)).await;
        assert_eq!(s.trigger("m", Some("a"), Instant::now()), None);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(
            s.trigger("m", Some("a"), Instant::now()),
            Some(Trigger::RetryDue)
        );
        let delays: Vec<Duration> = (0..4)
            .map(|_| s.failed("m", sum("a"), Instant::now()))
            .collect();
        assert_eq!(delays, [S(10), S(20), S(30), S(30)], "capped at 30 s");
        s.succeeded("m", "a".into());
        assert_eq!(
            s.failed("m", sum("a"), Instant::now()),
            S(5),
            "reset by a success"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_module_whose_inputs_change_runs_at_once() {
        let mut s = scheduler();
        s.failed("m", sum("bad"), Instant::now());
        assert_eq!(s.trigger("m", Some("bad"), Instant::now()), None);
        assert_eq!(
            s.trigger("m", Some("fixed"), Instant::now()),
            Some(Trigger::InputsChanged)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_wakes_exactly_at_the_earliest_retry() {
        let mut s = scheduler();
        let start = Instant::now();
        s.failed("a", sum("x"), start);
        s.failed("a", sum("x"), start); // 10 s
        s.script_failed("b", start); // 5 s
        s.disable_failed("c", start); // 5 s
        assert_eq!(s.next_wakeup(), Some(start + S(5)));
        s.wakeup().await;
        assert_eq!(
            Instant::now(),
            start + S(5),
            "paused time jumps to the deadline"
        );
        s.script_attempt("b");
        s.disabled("c");
        s.wakeup().await;
        assert_eq!(Instant::now(), start + S(10));
        s.succeeded("a", "x".into());
        let never = tokio::time::timeout(S(3600), s.wakeup()).await;
        assert!(never.is_err(), "nothing to retry: the wakeup never fires");
    }

    #[tokio::test(start_paused = true)]
    async fn a_due_retry_that_cannot_run_now_waits_another_backoff() {
        let mut s = scheduler();
        s.failed("m", sum("a"), Instant::now());
        tokio::time::advance(S(5)).await;
        s.postpone("m", Instant::now());
        assert_eq!(s.next_wakeup(), Some(Instant::now() + S(5)));
        assert_eq!(s.trigger("m", Some("a"), Instant::now()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_converged_module_is_repaired_after_drift() {
        let mut s = scheduler();
        assert!(!s.repairable("m"));
        s.started("m");
        s.succeeded("m", "a".into());
        assert!(s.repairable("m"));
        s.failed("m", sum("a"), Instant::now());
        assert!(!s.repairable("m"), "the retry applies everything anyway");
    }

    #[tokio::test(start_paused = true)]
    async fn a_module_with_broken_hooks_waits_for_an_edit_and_reloaded_hooks_start_over() {
        let mut s = scheduler();
        s.started("m");
        s.succeeded("m", "a".into());
        s.hooks_broken("m", sum("a"));
        tokio::time::advance(S(86_400)).await;
        assert_eq!(s.trigger("m", Some("a"), Instant::now()), None);
        assert_eq!(s.next_wakeup(), None);
        assert_eq!(
            s.trigger("m", Some("b"), Instant::now()),
            Some(Trigger::InputsChanged)
        );
        s.hooks_reloaded("m");
        assert!(s.starts("m"), "onStartup and bindings again");
        assert_eq!(
            s.trigger("m", Some("a"), Instant::now()),
            Some(Trigger::Start)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn disabling_happens_once_and_a_failed_deletion_is_retried_with_backoff() {
        let mut s = scheduler();
        assert_eq!(
            s.disabling("m"),
            Some(false),
            "unknown: the inventory decides"
        );
        s.started("m");
        s.succeeded("m", "a".into());
        assert_eq!(s.disabling("m"), Some(true));
        let start = Instant::now();
        assert_eq!(s.disable_failed("m", start), S(5));
        assert_eq!(s.disable_failed("m", start), S(10));
        assert_eq!(s.disabling("m"), Some(true), "its delete hooks run again");
        assert_eq!(s.next_wakeup(), Some(start + S(10)));
        s.disabled("m");
        assert_eq!(s.disabling("m"), None);
        assert_eq!(s.known_enabled("m"), Some(false));
        assert!(s.starts("m"), "re-enabled, it starts from onStartup");
        assert_eq!(
            s.trigger("m", Some("a"), Instant::now()),
            Some(Trigger::Start)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_enabled_script_is_retried_with_its_own_backoff() {
        let mut s = scheduler();
        let start = Instant::now();
        assert_eq!(s.script_failed("m", start), S(5));
        assert_eq!(s.script_failed("m", start), S(10));
        s.script_attempt("m");
        assert_eq!(s.next_wakeup(), None);
        s.script_succeeded("m");
        assert_eq!(s.script_failed("m", start), S(5));
        assert_eq!(
            s.known_enabled("m"),
            None,
            "the script says nothing about runs"
        );
    }
}
