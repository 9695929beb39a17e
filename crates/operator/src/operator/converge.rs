//! One convergence pass and the module runs it is made of.

use anyhow::Context;
use cluster_access::{BackoffPolicy, random_fraction};
use hooks::{HookSet, OrderBinding};
use reconciler::ApplyOptions;
use serde_json::Value;
use tokio::time::Instant;

use crate::operator::Operator;
use crate::render::render_module;
use crate::status::ModuleState;

/// What a module run needs from the store, taken under one lock.
struct Prepared {
    name: String,
    objects: Vec<Value>,
    checksum: String,
    allow_empty: bool,
    /// `<key>Maintenance: NoResourceReconciliation`: render and hooks run, nothing is applied.
    maintenance: bool,
}

impl Operator {
    /// Resolves enabled states, deletes newly disabled modules, runs every enabled module whose
    /// inputs changed (or that has not run yet, or is due for a retry). `full` adds the global
    /// `beforeAll`/`afterAll` hooks around it.
    pub(crate) async fn converge(&mut self, full: bool) {
        let started = Instant::now();
        if full {
            self.run_global(OrderBinding::BeforeAll).await;
        }
        let enabled = self.resolve_enabled().await;
        for (key, on) in &enabled {
            if *on == Some(false) && self.may_continue() {
                self.disable_module(key).await;
            }
        }
        for (key, on) in &enabled {
            if *on == Some(true) && self.may_continue() && self.needs_run(key) {
                self.run_module(key).await;
            }
        }
        if full && !*self.shutdown.borrow() {
            self.run_global(OrderBinding::AfterAll).await;
            let elapsed = started.elapsed();
            self.shared.metrics.convergence_total.inc();
            self.shared
                .metrics
                .convergence_seconds
                .observe(elapsed.as_secs_f64());
            let mut status = self.shared.status();
            status.converged = true;
            status.convergences += 1;
            tracing::info!(elapsed_ms = elapsed.as_millis() as u64, "modules converged");
        }
    }

    /// False once the operator is stopping or lost the lease: the running step has finished,
    /// no other starts.
    fn may_continue(&self) -> bool {
        if *self.shutdown.borrow() {
            tracing::info!("stopping: not starting another module run");
            return false;
        }
        let leading = *self.leading.borrow();
        if !leading {
            tracing::warn!("lost the leader lease: not starting another module run");
        }
        leading
    }

    async fn run_global(&self, binding: OrderBinding) {
        if let Err(err) = self.hooks.run_order(&HookSet::Global, binding).await {
            tracing::error!(binding = binding.as_str(), error = %err, "global hook failed");
        }
    }

    fn needs_run(&self, key: &str) -> bool {
        let Some(run) = self.runs.get(key) else {
            return true;
        };
        let current = self.current_checksum(key).ok();
        if let Some(at) = run.retry_at {
            return at <= Instant::now() || current != run.attempted;
        }
        !run.started || run.checksum.is_none() || current != run.checksum
    }

    /// The kebab-case name of the module with values key `key`.
    fn module_name(&self, key: &str) -> String {
        let modules = self.shared.modules();
        modules.store.module_name(key).unwrap_or(key).to_string()
    }

    pub(crate) fn current_checksum(&self, key: &str) -> anyhow::Result<String> {
        let modules = self.shared.modules();
        checksum_of(&modules, key)
    }

    /// One module run: onStartup and bindings the first time, `beforeHelm`, render, apply
    /// (prune included), `afterHelm`. Failures mark the module failed and schedule a retry.
    pub(crate) async fn run_module(&mut self, key: &str) {
        let started = Instant::now();
        let name = self.module_name(key);
        let attempted = self.current_checksum(key).ok();
        self.runs.entry(key.to_string()).or_default().attempted = attempted;
        let outcome = self.run_module_steps(key, &name).await;
        let elapsed = started.elapsed();
        self.shared
            .metrics
            .module_run_seconds
            .with_label_values(&[name.as_str()])
            .observe(elapsed.as_secs_f64());
        let run = self.runs.entry(key.to_string()).or_default();
        run.enabled = Some(true);
        match outcome {
            Ok((checksum, report)) => {
                run.checksum = Some(checksum.clone());
                run.failures = 0;
                run.retry_at = None;
                let applied = report.object_writes();
                let total = report.created.len()
                    + report.updated.len()
                    + report.recreated.len()
                    + report.unchanged.len();
                self.shared
                    .metrics
                    .module_objects_applied
                    .with_label_values(&[name.as_str()])
                    .inc_by(applied as u64);
                self.shared
                    .metrics
                    .module_objects_pruned
                    .with_label_values(&[name.as_str()])
                    .inc_by(report.pruned.len() as u64);
                tracing::info!(module = %name, applied, unchanged = report.unchanged.len(), pruned = report.pruned.len(), elapsed_ms = elapsed.as_millis() as u64, "module converged");
                let maintenance = in_maintenance(&self.shared.modules(), key);
                self.set_status(key, |s| {
                    s.state = ModuleState::Ready;
                    s.maintenance = maintenance;
                    if !maintenance {
                        s.objects = total;
                    }
                    s.objects_applied = applied;
                    s.last_run_ms = elapsed.as_millis() as u64;
                    s.checksum = checksum;
                    s.error = None;
                });
            }
            Err(err) => {
                self.shared
                    .metrics
                    .module_run_errors
                    .with_label_values(&[name.as_str()])
                    .inc();
                self.fail_and_retry(key, &name, "module run failed", err);
                self.set_status(key, |s| s.last_run_ms = elapsed.as_millis() as u64);
            }
        }
    }

    async fn run_module_steps(
        &mut self,
        key: &str,
        name: &str,
    ) -> anyhow::Result<(String, reconciler::ApplyReport)> {
        let set = HookSet::Module(name.to_string());
        let first = !self.runs.get(key).is_some_and(|r| r.started);
        if first {
            self.hooks
                .run_order(&set, OrderBinding::OnStartup)
                .await
                .context("onStartup hook failed")?;
            self.hooks
                .enable_kubernetes(&set)
                .await
                .context("enabling kubernetes bindings")?;
            self.hooks.enable_schedules(&set);
            self.runs.entry(key.to_string()).or_default().started = true;
        }
        self.hooks
            .run_order(&set, OrderBinding::BeforeHelm)
            .await
            .context("beforeHelm hook failed")?;
        let prepared = self.prepare(key)?;
        let report = if prepared.maintenance {
            tracing::info!(module = %name, "maintenance NoResourceReconciliation: rendered, nothing applied");
            reconciler::ApplyReport {
                module: prepared.name.clone(),
                ..Default::default()
            }
        } else {
            let opts = ApplyOptions {
                checksum: prepared.checksum.clone(),
                allow_empty: prepared.allow_empty,
                default_namespace: None,
            };
            self.reconciler
                .apply_module(&prepared.name, prepared.objects, &opts)
                .await
                .with_context(|| format!("applying module {name}"))?
        };
        self.hooks
            .run_order(&set, OrderBinding::AfterHelm)
            .await
            .context("afterHelm hook failed")?;
        Ok((prepared.checksum, report))
    }

    /// Renders a module with its current values and computes its checksum, under one lock so
    /// both describe the same values.
    fn prepare(&self, key: &str) -> anyhow::Result<Prepared> {
        let modules = self.shared.modules();
        let module = modules.set.by_key(key).context("unknown module")?;
        let objects = render_module(&modules, key, &self.settings.namespace)?
            .into_iter()
            .map(|o| o.object)
            .collect();
        Ok(Prepared {
            name: module.name.clone(),
            objects,
            checksum: checksum_of(&modules, key)?,
            allow_empty: module.chart.allow_empty_render,
            maintenance: in_maintenance(&modules, key),
        })
    }

    /// A disabled module: if it ran or left an inventory, `beforeDeleteHelm`, delete its
    /// objects, `afterDeleteHelm`, and stop its bindings.
    async fn disable_module(&mut self, key: &str) {
        let name = self.module_name(key);
        let was = self.runs.get(key).and_then(|r| r.enabled);
        if was == Some(false) {
            return;
        }
        let has_inventory = match self.reconciler.inventory(&name).await {
            Ok(inventory) => inventory.is_some(),
            Err(err) => {
                tracing::error!(module = %name, error = %err, "cannot read the inventory; not deleting");
                return;
            }
        };
        let set = HookSet::Module(name.clone());
        let result: anyhow::Result<usize> = async {
            if has_inventory || was == Some(true) {
                self.hooks
                    .run_order(&set, OrderBinding::BeforeDeleteHelm)
                    .await
                    .context("beforeDeleteHelm hook failed")?;
                let report = self.reconciler.delete_module(&name).await?;
                self.hooks
                    .run_order(&set, OrderBinding::AfterDeleteHelm)
                    .await
                    .context("afterDeleteHelm hook failed")?;
                return Ok(report.deleted.len());
            }
            Ok(0)
        }
        .await;
        match result {
            Ok(deleted) => {
                self.hooks.disable(&set);
                self.runs.insert(
                    key.to_string(),
                    crate::operator::ModuleRun {
                        enabled: Some(false),
                        ..Default::default()
                    },
                );
                if deleted > 0 {
                    tracing::info!(module = %name, deleted, "module disabled; its objects were deleted");
                }
                self.set_status(key, |s| {
                    s.state = ModuleState::Disabled;
                    s.objects = 0;
                    s.error = None;
                });
            }
            Err(err) => {
                self.shared
                    .metrics
                    .module_delete_errors
                    .with_label_values(&[name.as_str()])
                    .inc();
                // The reconciler kept what it could not delete in the inventory; retry like a
                // failed apply, without waiting for an unrelated event.
                self.fail_and_retry(key, &name, "module deletion failed", err);
            }
        }
    }

    /// Marks the module failed with `err` (log, `module list`) and schedules its retry with the
    /// module's backoff (capped exponential in its consecutive failures).
    fn fail_and_retry(&mut self, key: &str, name: &str, what: &str, err: anyhow::Error) {
        let policy = module_backoff(&self.settings);
        let run = self.runs.entry(key.to_string()).or_default();
        run.failures += 1;
        let delay = policy.delay(run.failures, random_fraction());
        run.retry_at = Some(Instant::now() + delay);
        let message = format!("{err:#}");
        tracing::error!(module = %name, error = %message, retry_in_ms = delay.as_millis() as u64, "{what}");
        self.set_status(key, |s| {
            s.state = ModuleState::Failed;
            s.error = Some(message);
        });
    }

    /// Re-applies a module whose objects drifted, with its current values and without hooks.
    pub(crate) async fn repair_drift(&mut self, name: &str) {
        let key = {
            let modules = self.shared.modules();
            modules.set.get(name).map(|m| m.key.clone())
        };
        let Some(key) = key else { return };
        let ready = self.runs.get(&key).is_some_and(|r| {
            r.enabled == Some(true) && r.checksum.is_some() && r.retry_at.is_none()
        });
        if !ready {
            return;
        }
        if in_maintenance(&self.shared.modules(), &key) {
            tracing::info!(module = %name, "maintenance NoResourceReconciliation: drift left alone");
            return;
        }
        let result = async {
            let prepared = self.prepare(&key)?;
            let opts = ApplyOptions {
                checksum: prepared.checksum,
                allow_empty: prepared.allow_empty,
                default_namespace: None,
            };
            Ok::<_, anyhow::Error>(
                self.reconciler
                    .apply_module(name, prepared.objects, &opts)
                    .await?,
            )
        }
        .await;
        match result {
            Ok(report) => {
                self.shared
                    .metrics
                    .module_drift_repairs
                    .with_label_values(&[name])
                    .inc();
                tracing::info!(module = %name, repaired = report.object_writes(), "drift repaired");
            }
            Err(err) => {
                // Retried like a failed run (a whole run, with the module's backoff): a repair
                // that hit a transient error must not wait for an unrelated event.
                let attempted = self.current_checksum(&key).ok();
                self.runs.entry(key.clone()).or_default().attempted = attempted;
                self.fail_and_retry(&key, name, "drift repair failed", err);
            }
        }
    }

    /// Deletes the objects of inventories whose module no longer exists on disk.
    pub(crate) async fn purge_orphan_inventories(&self) {
        let known: Vec<String> = self
            .shared
            .modules()
            .set
            .modules
            .iter()
            .map(|m| m.name.clone())
            .collect();
        let orphans = match self.installed_modules().await {
            Ok(installed) => installed.into_iter().filter(|m| !known.contains(m)),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "skipping the orphan purge");
                return;
            }
        };
        for module in orphans {
            match self.reconciler.delete_module(&module).await {
                Ok(report) => {
                    tracing::info!(module = %module, deleted = report.deleted.len(), "module no longer exists; its objects were deleted")
                }
                Err(err) => {
                    tracing::error!(module = %module, error = %err, "purging a removed module failed")
                }
            }
        }
    }
}

/// The module's checksum (values + chart files), marked when it is in maintenance so that
/// entering or leaving maintenance counts as a change and re-runs the module.
fn checksum_of(modules: &crate::moduleset::LoadedModules, key: &str) -> anyhow::Result<String> {
    let module = modules.set.by_key(key).context("unknown module")?;
    let checksum = modules.store.module_checksum(key, module.chart_files())?;
    Ok(if in_maintenance(modules, key) {
        format!("{checksum}+maintenance")
    } else {
        checksum
    })
}

/// Whether `<key>Maintenance: NoResourceReconciliation` is set.
fn in_maintenance(modules: &crate::moduleset::LoadedModules, key: &str) -> bool {
    modules.store.config_values().maintenance.get(key)
        == Some(&values::Maintenance::NoResourceReconciliation)
}

/// The module retry policy: the workspace's [`BackoffPolicy::MODULE_RUN`] with the delays the
/// operator was started with (`--retry-initial`/`--retry-max` in tests).
pub(crate) fn module_backoff(settings: &crate::operator::Settings) -> BackoffPolicy {
    BackoffPolicy {
        initial: settings.retry_initial,
        max: settings.retry_max,
        ..BackoffPolicy::MODULE_RUN
    }
}
