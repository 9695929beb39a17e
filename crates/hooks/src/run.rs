//! One hook run: temp files and environment, the process, then outputs applied in order
//! (values via the host → object patches → metrics), all or nothing for malformed output.

use crate::binding_context::{BindingContext, to_json};
use crate::config::HookScope;
use crate::exec::{ExecError, LogFields, ProcessSpec, Usage, run_process};
use crate::hook::Hook;
use crate::metrics::MetricsStorage;
use crate::outputs::{MetricAction, OutputError, OutputPaths, parse_object_patches, read_outputs};
use crate::patcher::{PatchErrors, Patcher};
use crate::resources::ResourceCatalog;
use futures::future::BoxFuture;
use serde_json::Value;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Values patches of one run, handed to the [`HookHost`].
#[derive(Debug, Default)]
pub struct ValuesPatches {
    /// Patch of the in-memory values (`$VALUES_JSON_PATCH_PATH`).
    pub values: json_patch::Patch,
    /// Patch of the config values (`$CONFIG_VALUES_JSON_PATCH_PATH`).
    pub config_values: json_patch::Patch,
}

/// What the engine needs from the operator: values in, values patches out.
///
/// The engine never interprets values; the host applies the values rules (permissions, schema)
/// and may reject a patch, which fails the run before any object patch or metric is applied.
pub trait HookHost: Send + Sync + 'static {
    /// Values the hook sees in `$VALUES_PATH` (global hooks: the whole tree; module hooks:
    /// `global` plus the module's key).
    fn values(&self, hook: &Hook) -> Value;
    /// Config values the hook sees in `$CONFIG_VALUES_PATH`.
    fn config_values(&self, hook: &Hook) -> Value;
    /// Validates and applies the run's values patches (called only when one is non-empty).
    /// `contexts` are the run's binding contexts (binding names and kinds: addon-operator
    /// re-runs a module after `afterHelm`/schedule/kubernetes patches but not after
    /// `onStartup`, `beforeHelm` or `Synchronization`). `Err(reason)` rejects the patches and
    /// fails the run.
    fn apply_values_patches<'a>(
        &'a self,
        hook: &'a Hook,
        contexts: &'a [BindingContext],
        patches: &'a ValuesPatches,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// Errors of one hook run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The process failed, timed out or could not start.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// An output file is malformed; nothing was applied.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The host rejected the values patches; nothing else was applied.
    #[error("hook {hook}: values patch rejected: {reason}")]
    ValuesRejected {
        /// Hook name.
        hook: String,
        /// The host's reason.
        reason: String,
    },
    /// Object patches failed (the other operations of the run were applied).
    #[error("hook {hook}: {source}")]
    Patch {
        /// Hook name.
        hook: String,
        /// Every failed operation (the others were applied).
        #[source]
        source: Box<PatchErrors>,
    },
    /// The hook wrote object patches but the engine has no Kubernetes client.
    #[error("hook {hook}: object patches need a Kubernetes client")]
    NoClient {
        /// Hook name.
        hook: String,
    },
}

/// Result of a successful run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Hook name.
    pub hook: String,
    /// Binding that triggered the run (first context's binding for combined runs).
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
}

/// Outcome of a queued run (kubernetes and schedule bindings), broadcast by
/// [`crate::HookEngine::run_events`] for status pages, metrics and tests.
#[derive(Debug, Clone)]
pub struct RunEvent {
    /// Hook name.
    pub hook: String,
    /// Module of the hook (`None` for global hooks).
    pub module: Option<String>,
    /// Queue the run came from.
    pub queue: String,
    /// The report, or the error text; failures without `allowFailure` are retried after this.
    pub result: Result<RunReport, String>,
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
    /// Prefix of engine metric names (default `addon_operator_`).
    pub metric_prefix: String,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(600),
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(30),
            retry_jitter: Duration::from_secs(1),
            tmp_dir: std::env::temp_dir(),
            keep_tmp_files: false,
            field_manager: "addon-operator".into(),
            metric_prefix: "addon_operator_".into(),
        }
    }
}

/// Everything a run needs besides the hook.
pub(crate) struct Runner {
    pub host: Arc<dyn HookHost>,
    pub client: Option<kube::Client>,
    pub catalog: Option<ResourceCatalog>,
    pub metrics: Arc<MetricsStorage>,
    pub opts: EngineOptions,
}

impl Runner {
    /// Runs `hook` once with `contexts` and applies its outputs.
    pub(crate) async fn run(
        &self,
        hook: &Hook,
        contexts: &[BindingContext],
        queue: &str,
        queued_at: Instant,
    ) -> Result<RunReport, RunError> {
        let binding = contexts
            .first()
            .map(|c| c.group.clone().unwrap_or_else(|| c.binding.clone()))
            .unwrap_or_default();
        let log = LogFields {
            hook: hook.name.clone(),
            binding: binding.clone(),
            queue: queue.into(),
        };
        let result = self.run_inner(hook, contexts, &log).await;
        let scope = if hook.scope == HookScope::Global {
            "global"
        } else {
            "module"
        };
        let p = &self.opts.metric_prefix;
        let module = hook.module.clone().unwrap_or_default();
        let labels = [
            ("hook", hook.name.as_str()),
            ("module", module.as_str()),
            ("binding", binding.as_str()),
            ("queue", queue),
        ];
        match result {
            Ok((usage, spawned_at)) => {
                let m = &self.metrics;
                m.engine(
                    &format!("{p}{scope}_hook_run_seconds"),
                    &labels,
                    MetricAction::Observe,
                    usage.wall.as_secs_f64(),
                );
                m.engine(
                    &format!("{p}{scope}_hook_run_user_cpu_seconds"),
                    &labels,
                    MetricAction::Add,
                    usage.user_cpu.as_secs_f64(),
                );
                m.engine(
                    &format!("{p}{scope}_hook_run_sys_cpu_seconds"),
                    &labels,
                    MetricAction::Add,
                    usage.sys_cpu.as_secs_f64(),
                );
                m.engine(
                    &format!("{p}{scope}_hook_run_max_rss_bytes"),
                    &labels,
                    MetricAction::Set,
                    usage.max_rss_bytes as f64,
                );
                m.engine(
                    &format!("{p}{scope}_hook_success_total"),
                    &labels,
                    MetricAction::Add,
                    1.0,
                );
                tracing::info!(hook = %hook.name, binding = %binding, queue, wall_ms = usage.wall.as_millis() as u64,
                    user_cpu_ms = usage.user_cpu.as_millis() as u64, max_rss_bytes = usage.max_rss_bytes, "hook run succeeded");
                Ok(RunReport {
                    hook: hook.name.clone(),
                    binding,
                    contexts: contexts.len(),
                    usage,
                    dispatch_latency: spawned_at.saturating_duration_since(queued_at),
                    total: queued_at.elapsed(),
                    spawned_at,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// shell-operator applies `status` patches marked `ignoreHookError` even when the hook
    /// failed (a hook reporting its failure in a custom resource's status). Problems are logged;
    /// the run's own error is what the caller sees.
    async fn apply_on_hook_error(&self, hook: &Hook, path: &std::path::Path) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let ops: Vec<_> = match parse_object_patches(&text) {
            Ok(ops) => ops
                .into_iter()
                .filter(|op| op.applies_on_hook_error())
                .collect(),
            Err(e) => {
                tracing::warn!(hook = %hook.name, error = %e, "failed hook: object patches unreadable, none applied");
                return;
            }
        };
        let (false, Some(client), Some(catalog)) = (ops.is_empty(), &self.client, &self.catalog)
        else {
            return;
        };
        let patcher = Patcher {
            client,
            catalog,
            field_manager: &self.opts.field_manager,
        };
        if let Err(e) = patcher.apply_all(&ops).await {
            tracing::warn!(hook = %hook.name, error = %e, "failed hook: ignoreHookError status patch failed");
        }
    }

    async fn run_inner(
        &self,
        hook: &Hook,
        contexts: &[BindingContext],
        log: &LogFields,
    ) -> Result<(Usage, Instant), RunError> {
        let tmp_err = |path: PathBuf, source| {
            RunError::Exec(ExecError::TempFile {
                hook: hook.name.clone(),
                path,
                source,
            })
        };
        let dir = tempfile::Builder::new()
            .prefix("hook-run-")
            .tempdir_in(&self.opts.tmp_dir)
            .map_err(|e| tmp_err(self.opts.tmp_dir.clone(), e))?;
        let file = |n: &str| dir.path().join(n);
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(file(name), bytes).map_err(|e| tmp_err(file(name), e))
        };
        let ctx_json = to_json(contexts)
            .map_err(|e| tmp_err(file("binding_context.json"), std::io::Error::other(e)))?;
        write("binding_context.json", &ctx_json)?;
        let json = |v: &Value| serde_json::to_vec_pretty(v).unwrap_or_else(|_| b"{}".to_vec());
        write("values.json", &json(&self.host.values(hook)))?;
        write("config_values.json", &json(&self.host.config_values(hook)))?;
        let paths = OutputPaths {
            values_patch: file("values_json_patch.json"),
            config_values_patch: file("config_values_json_patch.json"),
            kubernetes_patch: file("kubernetes_patch.yaml"),
            metrics: file("metrics.json"),
        };
        for p in [
            &paths.values_patch,
            &paths.config_values_patch,
            &paths.kubernetes_patch,
            &paths.metrics,
        ] {
            std::fs::write(p, b"").map_err(|e| tmp_err(p.clone(), e))?;
        }
        let os = |p: PathBuf| OsString::from(p);
        let env = vec![
            ("BINDING_CONTEXT_PATH", os(file("binding_context.json"))),
            ("VALUES_PATH", os(file("values.json"))),
            ("CONFIG_VALUES_PATH", os(file("config_values.json"))),
            ("VALUES_JSON_PATCH_PATH", os(paths.values_patch.clone())),
            (
                "CONFIG_VALUES_JSON_PATCH_PATH",
                os(paths.config_values_patch.clone()),
            ),
            ("KUBERNETES_PATCH_PATH", os(paths.kubernetes_patch.clone())),
            ("METRICS_PATH", os(paths.metrics.clone())),
        ];
        let cwd = hook.dir();
        let out = run_process(ProcessSpec {
            program: &hook.path,
            args: &[],
            env,
            cwd: &cwd,
            timeout: self.opts.timeout,
            log,
            capture_stdout: false,
        })
        .await;
        if out.is_err() {
            self.apply_on_hook_error(hook, &paths.kubernetes_patch)
                .await;
        }
        // Outputs are read (and validated in full) before the temp dir goes away.
        let outputs = out.map_err(RunError::Exec).and_then(|o| {
            let parsed = read_outputs(&paths, &hook.name).map_err(RunError::Output)?;
            Ok((o, parsed))
        });
        if self.opts.keep_tmp_files {
            let kept = dir.keep();
            tracing::info!(hook = %hook.name, dir = %kept.display(), "kept hook temp files");
        }
        let (proc_out, outputs) = outputs?;
        if !outputs.values_patch.0.is_empty() || !outputs.config_values_patch.0.is_empty() {
            let patches = ValuesPatches {
                values: outputs.values_patch,
                config_values: outputs.config_values_patch,
            };
            self.host
                .apply_values_patches(hook, contexts, &patches)
                .await
                .map_err(|reason| RunError::ValuesRejected {
                    hook: hook.name.clone(),
                    reason,
                })?;
        }
        if !outputs.object_patches.is_empty() {
            let (Some(client), Some(catalog)) = (&self.client, &self.catalog) else {
                return Err(RunError::NoClient {
                    hook: hook.name.clone(),
                });
            };
            Patcher {
                client,
                catalog,
                field_manager: &self.opts.field_manager,
            }
            .apply_all(&outputs.object_patches)
            .await
            .map_err(|source| RunError::Patch {
                hook: hook.name.clone(),
                source: Box::new(source),
            })?;
        }
        self.metrics.apply_hook_ops(&hook.name, &outputs.metrics);
        Ok((proc_out.usage, proc_out.spawned_at))
    }
}
