//! The module runner: *what* one run, disable or drift repair of a module does. It returns what
//! happened; when to run, status, metrics and backoff are the loop's and the scheduler's.
//!
//! - A run: the first time (or after its hooks were reloaded or it was re-enabled) the
//!   module's `crds/` are applied and waited for, then `onStartup`, then its kubernetes
//!   bindings (Synchronization) and schedules start; every time: `beforeHelm` → render →
//!   apply (prune included) → `afterHelm`.
//! - A disable: if the module ran or left an inventory, `beforeDeleteHelm` → delete its
//!   inventory's objects → `afterDeleteHelm`; then its bindings stop.
//! - A drift repair: render and apply with the current values, no hooks.
//!
//! # Guarantees
//! - A module's kubernetes bindings start only after its CRDs are Established, so a hook bound
//!   to the module's own kind finds it served (addon-operator's `ModuleEnsureCRDs`). Applying
//!   the CRDs first prunes nothing; they enter the module's inventory.
//! - In maintenance (`NoResourceReconciliation`) nothing is applied, CRDs included.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hooks::{HookEngine, HookSet, OrderBinding};
use reconciler::{ApplyOptions, ApplyReport, DeleteReport, Reconciler};
use serde_json::Value;

use crate::moduleset::LoadedModules;
use crate::render::render_module;
use crate::shared::Shared;

/// What a successful run applied.
#[derive(Debug)]
pub struct Applied {
    /// Checksum of the inputs the run rendered.
    pub checksum: String,
    /// What the apply did (empty in maintenance).
    pub report: ApplyReport,
    /// Rendered in maintenance: nothing was applied.
    pub maintenance: bool,
}

/// The outcome of a run.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run started the module's bindings (they stay started even if a later step failed).
    pub started: bool,
    /// What it applied, or why it failed.
    pub result: anyhow::Result<Applied>,
}

/// What a module run needs from the store, taken under one lock.
struct Prepared {
    objects: Vec<Value>,
    checksum: String,
    allow_empty: bool,
    maintenance: bool,
}

/// Runs, disables and repairs modules.
pub struct Runner {
    shared: Arc<Shared>,
    hooks: Arc<HookEngine>,
    reconciler: Reconciler,
    namespace: String,
}

impl Runner {
    /// A runner applying into the cluster of `reconciler`; `namespace` is the release namespace.
    pub fn new(
        shared: Arc<Shared>,
        hooks: Arc<HookEngine>,
        reconciler: Reconciler,
        namespace: String,
    ) -> Self {
        Runner {
            shared,
            hooks,
            reconciler,
            namespace,
        }
    }

    /// The reconciler (inventories, drift watch).
    pub fn reconciler(&self) -> &Reconciler {
        &self.reconciler
    }

    /// One run of module `key` (`name`); `start`: apply its CRDs, run `onStartup` and start its
    /// bindings first.
    pub async fn run(&self, key: &str, name: &str, start: bool) -> RunOutcome {
        let set = HookSet::Module(name.to_string());
        let mut started = false;
        let result = async {
            if start {
                self.ensure_crds(key, name).await?;
                self.hooks
                    .run_order(&set, OrderBinding::OnStartup)
                    .await
                    .context("onStartup hook failed")?;
                self.hooks
                    .enable_kubernetes(&set)
                    .await
                    .context("enabling kubernetes bindings")?;
                self.hooks.enable_schedules(&set);
                started = true;
            }
            self.hooks
                .run_order(&set, OrderBinding::BeforeHelm)
                .await
                .context("beforeHelm hook failed")?;
            let prepared = self.prepare(key)?;
            let report = if prepared.maintenance {
                tracing::info!("maintenance NoResourceReconciliation: rendered, nothing applied");
                ApplyReport {
                    module: name.to_string(),
                    ..ApplyReport::default()
                }
            } else {
                self.apply(
                    name,
                    prepared.objects,
                    &prepared.checksum,
                    prepared.allow_empty,
                )
                .await?
            };
            self.hooks
                .run_order(&set, OrderBinding::AfterHelm)
                .await
                .context("afterHelm hook failed")?;
            Ok(Applied {
                checksum: prepared.checksum,
                report,
                maintenance: prepared.maintenance,
            })
        }
        .await;
        RunOutcome { started, result }
    }

    /// Applies the module's `crds/` and waits until they are Established, pruning nothing.
    async fn ensure_crds(&self, key: &str, name: &str) -> anyhow::Result<()> {
        let crds: Vec<Value> = {
            let modules = self.shared.modules();
            if in_maintenance(&modules, key) {
                return Ok(());
            }
            let module = modules.set.by_key(key).context("unknown module")?;
            module.crds.iter().map(|crd| crd.object.clone()).collect()
        };
        if crds.is_empty() {
            return Ok(());
        }
        let report = self
            .reconciler
            .ensure_objects(name, crds)
            .await
            .with_context(|| format!("applying the CRDs of module {name}"))?;
        tracing::info!(
            applied = report.object_writes(),
            unchanged = report.unchanged.len(),
            "module CRDs established before its bindings start"
        );
        Ok(())
    }

    /// Re-applies a module whose objects drifted, with its current values, without hooks.
    pub async fn repair(&self, key: &str, name: &str) -> anyhow::Result<ApplyReport> {
        let prepared = self.prepare(key)?;
        self.apply(
            name,
            prepared.objects,
            &prepared.checksum,
            prepared.allow_empty,
        )
        .await
    }

    async fn apply(
        &self,
        name: &str,
        objects: Vec<Value>,
        checksum: &str,
        allow_empty: bool,
    ) -> anyhow::Result<ApplyReport> {
        let opts = ApplyOptions {
            checksum: checksum.to_string(),
            allow_empty,
            default_namespace: None,
        };
        self.reconciler
            .apply_module(name, objects, &opts)
            .await
            .with_context(|| format!("applying module {name}"))
    }

    /// Disables module `name`: if it was enabled in this process or has an inventory, its
    /// delete hooks run around the deletion of its objects; then its bindings stop. `None`:
    /// there was nothing to delete.
    ///
    /// # Errors
    /// The inventory cannot be read (nothing is deleted), a delete hook failed, or objects
    /// could not be deleted (they stay in the inventory for the retry).
    pub async fn disable(
        &self,
        name: &str,
        was_enabled: bool,
    ) -> anyhow::Result<Option<DeleteReport>> {
        let has_inventory = self
            .reconciler
            .inventory(name)
            .await
            .context("cannot read the inventory; not deleting")?
            .is_some();
        let set = HookSet::Module(name.to_string());
        let report = if has_inventory || was_enabled {
            self.hooks
                .run_order(&set, OrderBinding::BeforeDeleteHelm)
                .await
                .context("beforeDeleteHelm hook failed")?;
            let report = self.reconciler.delete_module(name).await?;
            self.hooks
                .run_order(&set, OrderBinding::AfterDeleteHelm)
                .await
                .context("afterDeleteHelm hook failed")?;
            Some(report)
        } else {
            None
        };
        self.hooks.disable(&set);
        Ok(report)
    }

    /// Whether module `name` has an inventory: what says it was enabled before this process.
    ///
    /// # Errors
    /// The inventory cannot be read.
    pub async fn has_inventory(&self, name: &str) -> anyhow::Result<bool> {
        Ok(self.reconciler.inventory(name).await?.is_some())
    }

    /// Runs the module's `enabled` script with its values, `global.enabledModules` being the
    /// modules enabled before it; returns its verdict and reason.
    ///
    /// # Errors
    /// The values cannot be computed, or the script fails, cannot start or writes no verdict.
    pub async fn enabled_script(
        &self,
        key: &str,
        name: &str,
        script: &std::path::Path,
        enabled_so_far: &[String],
    ) -> anyhow::Result<(bool, Option<String>)> {
        let (values, config) = {
            let mut modules = self.shared.modules();
            modules
                .store
                .set_enabled_modules(Some(enabled_so_far.to_vec()));
            (
                modules.store.module_values(key)?,
                modules.store.module_config_values(key)?,
            )
        };
        // The script runs in its own directory: a path relative to ours would not resolve.
        let script = absolute(script);
        let result =
            hooks::run_enabled_script(&script, name, &values, &config, Duration::from_secs(60))
                .await?;
        Ok((result.enabled, result.reason))
    }

    /// The module's checksum now (values + chart files).
    ///
    /// # Errors
    /// Its values cannot be computed.
    pub fn checksum(&self, key: &str) -> anyhow::Result<String> {
        checksum_of(&self.shared.modules(), key)
    }

    /// Renders a module with its current values and computes its checksum, under one lock so
    /// both describe the same values.
    fn prepare(&self, key: &str) -> anyhow::Result<Prepared> {
        let modules = self.shared.modules();
        let module = modules.set.by_key(key).context("unknown module")?;
        let objects = render_module(&modules, key, &self.namespace)?
            .into_iter()
            .map(|o| o.object)
            .collect();
        Ok(Prepared {
            objects,
            checksum: checksum_of(&modules, key)?,
            allow_empty: module.chart.allow_empty_render,
            maintenance: in_maintenance(&modules, key),
        })
    }
}

/// The module's checksum (values + chart files), marked when it is in maintenance so that
/// entering or leaving maintenance counts as a change and re-runs the module.
fn checksum_of(modules: &LoadedModules, key: &str) -> anyhow::Result<String> {
    let files = modules.files_digests.get(key).context("unknown module")?;
    let checksum = modules.store.module_checksum(key, files)?;
    Ok(if in_maintenance(modules, key) {
        format!("{checksum}+maintenance")
    } else {
        checksum
    })
}

/// Whether `<key>Maintenance: NoResourceReconciliation` is set.
pub fn in_maintenance(modules: &LoadedModules, key: &str) -> bool {
    modules.store.config_values().maintenance.get(key)
        == Some(&values::Maintenance::NoResourceReconciliation)
}

/// `dir` made absolute, as hooks need (they run in their own directory).
pub fn absolute(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}
