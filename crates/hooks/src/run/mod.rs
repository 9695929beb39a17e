//! One hook run, in four steps, each a function with its own error type:
//!
//! 1. **prepare** ([`prepare::prepare`], [`PrepareError`]): a fresh temp directory with the
//!    binding context, values and config values, empty output files, the environment;
//! 2. **execute** ([`crate::exec::run_process`], [`ExecError`]): the process in its own group,
//!    with a timeout;
//! 3. **read** ([`read_outputs`], [`OutputError`]): every output file parsed and validated
//!    before anything is applied, so a malformed file changes nothing;
//! 4. **apply** ([`Runner::apply`], [`ApplyError`]): values through the host, then object
//!    patches, then metrics.
//!
//! The metric labels of a run ([`RunLabels`]) are computed once, before the run, and used for
//! every engine metric and log line of it, whether it succeeds, fails or is retried.
//!
//! # Traces
//! Every run (each attempt of a retried task) is a `tracing` span named `hook` (at `error`
//! level, so a filter that lets any of its lines through keeps it) with the
//! fields `hook`, `binding`, `queue` and a `run_id` unique in the process
//! ([`RunLabels::span`]); its callers (queue workers, lifecycle runs, webhooks) run it inside,
//! so every line the run logs — its output, the values and object patches it causes, its
//! failure — carries them, in text and JSON logs, from whichever crate logs it. A successful
//! run of schedule bindings only is logged at `debug` (a hook ticking every second would fill
//! the log); every other success at `info`, every failure at `warn` or `error`.

mod apply;
mod prepare;

pub use apply::ApplyError;
pub use prepare::PrepareError;

use crate::binding_context::BindingContext;
use crate::config::HookScope;
use crate::exec::{ExecError, ProcessSpec, Usage, run_process};
use crate::exposition::MetricRefusal;
use crate::hook::Hook;
use crate::host::HookHost;
use crate::metrics::MetricsStorage;
use crate::outputs::{MetricAction, OutputError, read_outputs};
use crate::resources::ResourceCatalog;
use crate::spawner::SpawnerSlot;
pub(crate) use prepare::RunDirs;
use prepare::{Inputs, prepare};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Errors of one hook run, by step.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The temp files could not be prepared; the hook did not run.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The process failed, timed out or could not start.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// An output file is malformed; nothing was applied.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The outputs could not all be applied.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// Result of a successful run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Hook name.
    pub hook: String,
    /// The run's `binding` metric label: the group for a group run, else the (first)
    /// context's binding.
    pub binding: String,
    /// Number of binding contexts passed (more than 1 for combined runs).
    pub contexts: usize,
    /// Resources used.
    pub usage: Usage,
    /// From the (earliest) triggering event to the hook process being spawned.
    pub dispatch_latency: Duration,
    /// From the (earliest) triggering event to the outputs being applied.
    pub total: Duration,
    /// When the hook process was spawned.
    pub spawned_at: Instant,
    /// Metric operations that were refused (invalid for the exposition format); the run's
    /// other outputs were applied.
    pub refused_metrics: Vec<MetricRefusal>,
}

/// Outcome of a queued run (kubernetes and schedule bindings), broadcast by
/// [`crate::HookEngine::run_events`] for status pages, metrics and tests.
#[derive(Debug, Clone)]
pub struct RunEvent {
    /// Hook name.
    pub hook: String,
    /// Module of the hook (`None` for global hooks).
    pub module: Option<String>,
    /// The run's binding: the group for a group run, else the (first) context's binding
    /// (the `binding` metric label).
    pub binding: String,
    /// Queue the run came from.
    pub queue: String,
    /// Every combined binding allows failure: a failure is not retried.
    pub allow_failure: bool,
    /// The report, or the error; failures without `allowFailure` are retried after this.
    pub result: Result<RunReport, Arc<RunError>>,
}

/// Which webhook response file a run's caller reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFile {
    /// `$VALIDATING_RESPONSE_PATH` (= `$ADMISSION_RESPONSE_PATH`).
    Admission,
    /// `$CONVERSION_RESPONSE_PATH`.
    Conversion,
}

/// Engine-wide execution options.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Timeout of one run (default 10 minutes); the process group is killed after it.
    pub timeout: Duration,
    /// First retry delay of a failed task (default 5 s).
    pub retry_initial: Duration,
    /// Retry delay cap (default 30 s).
    pub retry_max: Duration,
    /// Upper bound of the random delay added to every retry (default 1 s, as addon-operator's
    /// `rand(0–1 s)`), so hooks failing at the same moment do not retry in lockstep. Zero makes
    /// retries deterministic (tests).
    pub retry_jitter: Duration,
    /// Where per-run temp directories are created (default: the system temp dir).
    pub tmp_dir: PathBuf,
    /// Keep the temp files of each run (debugging, like `DEBUG_KEEP_TMP_FILES`).
    pub keep_tmp_files: bool,
    /// Server-side field manager for object patches.
    pub field_manager: String,
    /// Prefix of engine metric names (default `addon_operator_`); hook metrics may not use it.
    pub metric_prefix: String,
    /// A small binary that serves as the engine's hook spawner when called with
    /// [`crate::SPAWNER_ARG`] (the operator's `addon-operator-hook-launcher`, whose `main` is
    /// [`crate::serve_if_asked`]), so the resource usage recorded is the hook's own; `None`
    /// starts hooks directly, and their max RSS then includes what they inherited from this
    /// process.
    pub launcher: Option<PathBuf>,
    /// Extra environment of every hook process, `--config` runs included: the operator's
    /// settings (`ADDON_OPERATOR_NAMESPACE`, ...), so a hook sees values given as flags as if
    /// they had been given as environment variables, as in addon-operator.
    pub env: Vec<(&'static str, OsString)>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(600),
            retry_initial: cluster_access::BackoffPolicy::HOOK_TASK.initial,
            retry_max: cluster_access::BackoffPolicy::HOOK_TASK.max,
            retry_jitter: cluster_access::BackoffPolicy::HOOK_TASK.jitter,
            tmp_dir: std::env::temp_dir(),
            keep_tmp_files: false,
            field_manager: "addon-operator".into(),
            metric_prefix: "addon_operator_".into(),
            launcher: None,
            env: Vec::new(),
        }
    }
}

/// The labels of one run's engine metrics and log lines, computed once per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunLabels {
    /// `global` or `module`: part of the metric names.
    scope: &'static str,
    hook: String,
    module: String,
    /// The group for a group run (its contexts may come from several bindings), else the
    /// first context's binding.
    binding: String,
    queue: String,
}

impl RunLabels {
    /// The labels of a run of `hook` from `queue` whose first binding context is `first`.
    pub(crate) fn new(hook: &Hook, first: Option<&BindingContext>, queue: &str) -> Self {
        let binding = first
            .map(|c| c.group.as_ref().unwrap_or(&c.binding).clone())
            .unwrap_or_default();
        Self {
            scope: match hook.scope {
                HookScope::Global => "global",
                HookScope::Module => "module",
            },
            hook: hook.name.clone(),
            module: hook.module.clone().unwrap_or_default(),
            binding,
            queue: queue.to_string(),
        }
    }

    /// The binding (or group) label: what a run event names as the failing binding.
    pub(crate) fn binding(&self) -> &str {
        &self.binding
    }

    fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("hook", self.hook.as_str()),
            ("module", self.module.as_str()),
            ("binding", self.binding.as_str()),
            ("queue", self.queue.as_str()),
        ]
    }

    /// A new `hook` span for one run of these labels, with the next `run_id`.
    ///
    /// At `error` level, so it is enabled whenever any event of the run is: a span below the
    /// log filter's level is disabled, and a run's warnings would lose its fields.
    pub(crate) fn span(&self) -> tracing::Span {
        static RUN_IDS: AtomicU64 = AtomicU64::new(1);
        let run_id = RUN_IDS.fetch_add(1, Ordering::Relaxed);
        tracing::error_span!(
            "hook",
            hook = %self.hook,
            binding = %self.binding,
            queue = %self.queue,
            run_id
        )
    }
}

/// Everything a run needs besides the hook.
pub(crate) struct Runner {
    pub host: Arc<dyn HookHost>,
    pub client: Option<kube::Client>,
    pub catalog: Option<ResourceCatalog>,
    pub metrics: Arc<MetricsStorage>,
    pub opts: EngineOptions,
    /// The runs' temp directories (under `opts.tmp_dir`).
    pub dirs: RunDirs,
    /// Starts the hooks (from `opts.launcher`).
    pub spawner: SpawnerSlot,
}

impl Runner {
    /// Runs `hook` once with `contexts`: prepare → execute → read → apply.
    ///
    /// # Errors
    /// [`RunError`] naming the step that failed. A failed process still gets its
    /// `ignoreHookError` status patches applied.
    pub(crate) async fn run(
        &self,
        hook: &Hook,
        contexts: &[BindingContext],
        labels: &RunLabels,
        queued_at: Instant,
    ) -> Result<RunReport, RunError> {
        let (report, _) = self
            .run_with(hook, contexts, labels, queued_at, self.opts.timeout, None)
            .await?;
        Ok(report)
    }

    /// [`Runner::run`] with its own timeout, also returning the text the hook wrote to the
    /// webhook response file `response` (read before the temp files go away).
    ///
    /// # Errors
    /// As [`Runner::run`].
    pub(crate) async fn run_with(
        &self,
        hook: &Hook,
        contexts: &[BindingContext],
        labels: &RunLabels,
        queued_at: Instant,
        timeout: Duration,
        response: Option<ResponseFile>,
    ) -> Result<(RunReport, Option<String>), RunError> {
        let inputs = Inputs {
            contexts,
            values: self.host.values(hook),
            config_values: self.host.config_values(hook),
        };
        let files = prepare(&hook.name, inputs, &self.dirs)?;
        let mut env = self.opts.env.clone();
        env.extend(files.env.iter().cloned());
        let executed = run_process(ProcessSpec {
            program: &hook.path,
            args: &[],
            env,
            cwd: &hook.dir(),
            timeout,
            hook: &hook.name,
            capture_stdout: false,
            spawner: Some(&self.spawner),
        })
        .await;
        // Outputs are read (and validated in full) before the temp files go away.
        let response_text = response.map(|r| {
            let path = match r {
                ResponseFile::Admission => &files.responses.admission,
                ResponseFile::Conversion => &files.responses.conversion,
            };
            std::fs::read_to_string(path).unwrap_or_default()
        });
        let read = match executed {
            Ok(process) => read_outputs(&files.outputs, &hook.name)
                .map(|outputs| (process, outputs))
                .map_err(RunError::from),
            Err(e) => {
                self.apply_on_hook_error(&files.outputs.kubernetes_patch)
                    .await;
                Err(e.into())
            }
        };
        if self.opts.keep_tmp_files {
            let kept = files.keep();
            tracing::info!(dir = %kept.display(), "kept hook temp files");
        } else {
            self.dirs.recycle(files);
        }
        let (process, outputs) = read?;
        let refused_metrics = self.apply(hook, contexts, outputs).await?;
        let usage = process.usage;
        let dispatch_latency = process.spawned_at.saturating_duration_since(queued_at);
        let routine = contexts
            .iter()
            .all(|c| matches!(c.kind, crate::binding_context::ContextKind::Schedule));
        self.record_success(labels, &usage, dispatch_latency, routine);
        let report = RunReport {
            hook: hook.name.clone(),
            binding: labels.binding.clone(),
            contexts: contexts.len(),
            usage,
            dispatch_latency,
            total: queued_at.elapsed(),
            spawned_at: process.spawned_at,
            refused_metrics,
        };
        Ok((report, response_text))
    }

    /// Engine metrics of a successful run: run time, CPU, RSS, the success counter and the
    /// time it waited to start; and its log line (`debug` for a `routine` schedule run).
    fn record_success(&self, labels: &RunLabels, usage: &Usage, waited: Duration, routine: bool) {
        let (p, scope) = (&self.opts.metric_prefix, labels.scope);
        let l = labels.pairs();
        for (name, action, value) in [
            (
                "run_seconds",
                MetricAction::Observe,
                usage.wall.as_secs_f64(),
            ),
            // Histograms, as addon-operator's.
            (
                "run_user_cpu_seconds",
                MetricAction::Observe,
                usage.user_cpu.as_secs_f64(),
            ),
            (
                "run_sys_cpu_seconds",
                MetricAction::Observe,
                usage.sys_cpu.as_secs_f64(),
            ),
            (
                "run_max_rss_bytes",
                MetricAction::Set,
                usage.max_rss_bytes as f64,
            ),
            ("success_total", MetricAction::Add, 1.0),
        ] {
            self.metrics
                .engine(&format!("{p}{scope}_hook_{name}"), &l, action, value);
        }
        self.metrics.engine(
            &format!("{p}task_wait_in_queue_seconds_total"),
            &l,
            MetricAction::Add,
            waited.as_secs_f64(),
        );
        let (wall_ms, user_cpu_ms, max_rss_bytes) = (
            usage.wall.as_millis() as u64,
            usage.user_cpu.as_millis() as u64,
            usage.max_rss_bytes,
        );
        if routine {
            tracing::debug!(wall_ms, user_cpu_ms, max_rss_bytes, "hook run succeeded");
        } else {
            tracing::info!(wall_ms, user_cpu_ms, max_rss_bytes, "hook run succeeded");
        }
    }

    /// Counts a failed run: `…_hook_allowed_errors_total` with `allowFailure`, else
    /// `…_hook_errors_total`.
    pub(crate) fn record_failure(&self, labels: &RunLabels, allowed: bool) {
        let counter = if allowed {
            "allowed_errors_total"
        } else {
            "errors_total"
        };
        let name = format!("{}{}_hook_{counter}", self.opts.metric_prefix, labels.scope);
        self.metrics
            .engine(&name, &labels.pairs(), MetricAction::Add, 1.0);
    }
}
