//! One convergence pass: resolve every module's enabled state, disable what became disabled,
//! run what the scheduler says is due; runs of changed modules alone; plus drift repairs and
//! the orphan purge.

use std::collections::BTreeSet;

use hooks::{HookSet, OrderBinding};
use tokio::time::Instant;
use tracing::Instrument;

use super::Operator;
use crate::enabled::{self, EnabledDecision, Previous, ScriptOutcome};
use crate::record::{self, RunStart};
use crate::runner::in_maintenance;
use crate::status::RunKind;

/// A module as the pass sees it.
struct Candidate {
    key: String,
    name: String,
    flags: values::EnabledLayers,
    script: Option<std::path::PathBuf>,
}

impl Operator {
    /// Resolves enabled states, deletes newly disabled modules, runs every enabled module the
    /// scheduler says is due. `full` adds the global `beforeAll`/`afterAll` hooks around it.
    pub(super) async fn converge(&mut self, full: bool) {
        let started = Instant::now();
        if full {
            self.run_global(OrderBinding::BeforeAll).await;
        }
        let decisions = self.resolve_enabled().await;
        for (key, name, on) in &decisions {
            if *on == Some(false) && self.may_continue() {
                self.disable_module(key, name).await;
            }
        }
        for (key, name, on) in &decisions {
            match on {
                Some(true) if self.may_continue() => self.run_if_due(key, name).await,
                None => self.scheduler.postpone(key, Instant::now()),
                _ => {}
            }
        }
        if full && !*self.control.shutdown.borrow() {
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
        if *self.control.shutdown.borrow() {
            tracing::info!("stopping: not starting another module run");
            return false;
        }
        let leading = *self.control.leading.borrow();
        if !leading {
            tracing::warn!("lost the leader lease: not starting another module run");
        }
        leading
    }

    async fn run_global(&self, binding: OrderBinding) {
        if let Err(err) = self.hooks.run_order(&HookSet::Global, binding).await {
            tracing::error!(binding = binding.as_str(), error = %crate::errors::chain(&err), "global hook failed");
        }
    }

    /// Every module's enabled state, in order (see [`enabled::resolve`]): flags, then the
    /// `enabled` script of modules still enabled, which sees `global.enabledModules` = the
    /// modules enabled so far. Returns (key, name, state); `None`: leave the module as it is.
    async fn resolve_enabled(&mut self) -> Vec<(String, String, Option<bool>)> {
        let candidates: Vec<Candidate> = {
            let modules = self.shared.modules();
            modules
                .set
                .modules()
                .iter()
                .filter_map(|m| {
                    Some(Candidate {
                        key: m.key.clone(),
                        name: m.name.clone(),
                        flags: modules.store.enabled_layers(&m.key)?,
                        script: m.enabled_script.clone(),
                    })
                })
                .collect()
        };
        let mut enabled_names: Vec<String> = Vec::with_capacity(candidates.len());
        let mut result = Vec::with_capacity(candidates.len());
        for c in candidates {
            let outcome = self.enabled_script(&c, &enabled_names).await;
            let decision: EnabledDecision = enabled::resolve(&c.flags, &outcome);
            if decision.shown() {
                enabled_names.push(c.name.clone());
            }
            let enabled = decision.enabled;
            record::enabled(&self.shared, &c.key, &c.name, decision);
            result.push((c.key, c.name, enabled));
        }
        self.shared
            .modules()
            .store
            .set_enabled_modules(Some(enabled_names));
        self.enabled = result
            .iter()
            .filter(|(_, _, on)| *on == Some(true))
            .map(|(key, _, _)| key.clone())
            .collect();
        result
    }

    /// Runs, in module order, those of the modules `keys` that the last pass found enabled and
    /// whose turn it is: what a change of module sections alone asks (addon-operator's
    /// `ModuleRun`), without `enabled` scripts or a pass over every module.
    pub(super) async fn run_changed(&mut self, keys: &BTreeSet<String>) {
        // Looked up by key, not by a walk over every module: an edit of one module among 500
        // costs what it does among 10.
        let mut due: Vec<(usize, String, String)> = {
            let modules = self.shared.modules();
            keys.iter()
                .filter(|key| self.enabled.contains(*key))
                .filter_map(|key| {
                    let at = modules.set.position(key)?;
                    let name = modules.set.modules()[at].name.clone();
                    Some((at, key.clone(), name))
                })
                .collect()
        };
        due.sort_unstable_by_key(|(at, ..)| *at);
        for (_, key, name) in due {
            if !self.may_continue() {
                return;
            }
            self.run_if_due(&key, &name).await;
        }
    }

    /// Runs a module's `enabled` script if its flags enable it; on failure, finds out what the
    /// state was before and schedules the script's retry.
    async fn enabled_script(&mut self, c: &Candidate, enabled_so_far: &[String]) -> ScriptOutcome {
        self.scheduler.script_attempt(&c.key);
        let Some(script) = &c.script else {
            return ScriptOutcome::Absent;
        };
        if !c.flags.resolve().enabled {
            return ScriptOutcome::NotRun;
        }
        match self
            .runner
            .enabled_script(&c.key, &c.name, script, enabled_so_far)
            .await
        {
            Ok((enabled, reason)) => {
                self.scheduler.script_succeeded(&c.key);
                record::script_succeeded(&self.shared, &c.key);
                ScriptOutcome::Decided { enabled, reason }
            }
            Err(err) => {
                let previous = match self.scheduler.known_enabled(&c.key) {
                    Some(on) => Previous::Known(on),
                    None => match self.runner.has_inventory(&c.name).await {
                        Ok(on) => Previous::Inventory(on),
                        Err(err) => {
                            tracing::error!(module = %c.name, error = %crate::errors::chain_anyhow(&err), "cannot read the inventory");
                            Previous::Unknown
                        }
                    },
                };
                let retry = self.scheduler.script_failed(&c.key, Instant::now());
                record::script_failed(&self.shared, &c.key, &c.name, &err, retry);
                ScriptOutcome::Failed {
                    error: format!("{err:#}"),
                    previous,
                }
            }
        }
    }

    /// Runs module `key` if the scheduler says it is due, in a span of its own.
    async fn run_if_due(&mut self, key: &str, name: &str) {
        let current = self.runner.checksum(key).ok();
        let Some(trigger) = self
            .scheduler
            .trigger(key, current.as_deref(), Instant::now())
        else {
            return;
        };
        let run = RunStart::new(
            self.next_run_id(),
            key,
            name,
            RunKind::Run,
            trigger.as_str(),
        );
        let span = run.span();
        let start = self.scheduler.starts(key);
        async {
            tracing::info!(trigger = trigger.as_str(), "module run");
            let outcome = self.runner.run(key, name, start).await;
            if outcome.started {
                self.scheduler.started(key);
            }
            match outcome.result {
                Ok(applied) => {
                    self.scheduler.succeeded(key, applied.checksum.clone());
                    record::run_succeeded(&self.shared, &run, applied);
                }
                Err(err) => {
                    let retry = self.scheduler.failed(key, current, Instant::now());
                    record::run_failed(&self.shared, &run, &err, retry);
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// A disabled module: deleted once (see [`crate::runner::Runner::disable`]); a failed
    /// deletion is retried with the module's backoff without waiting for another event.
    async fn disable_module(&mut self, key: &str, name: &str) {
        let Some(was_enabled) = self.scheduler.disabling(key) else {
            return;
        };
        let run = RunStart::new(self.next_run_id(), key, name, RunKind::Disable, "disabled");
        let span = run.span();
        async {
            match self.runner.disable(name, was_enabled).await {
                Ok(report) => {
                    self.scheduler.disabled(key);
                    let deleted = report.map_or(0, |r| r.deleted.len());
                    record::disabled(&self.shared, &run, deleted);
                }
                Err(err) => {
                    let retry = self.scheduler.disable_failed(key, Instant::now());
                    record::disable_failed(&self.shared, &run, &err, retry);
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// Re-applies a converged module whose objects drifted, with its current values and
    /// without hooks; a failed repair is retried as a whole run with the module's backoff.
    pub(super) async fn repair_drift(&mut self, name: &str) {
        let key = {
            let modules = self.shared.modules();
            modules.set.get(name).map(|m| m.key.clone())
        };
        let Some(key) = key else { return };
        if !self.scheduler.repairable(&key) {
            return;
        }
        if in_maintenance(&self.shared.modules(), &key) {
            tracing::info!(module = %name, "maintenance NoResourceReconciliation: drift left alone");
            return;
        }
        let run = RunStart::new(
            self.next_run_id(),
            &key,
            name,
            RunKind::DriftRepair,
            "drift",
        );
        let span = run.span();
        async {
            match self.runner.repair(&key, name).await {
                Ok(report) => record::repaired(&self.shared, &run, &report),
                Err(err) => {
                    let attempted = self.runner.checksum(&key).ok();
                    let retry = self.scheduler.failed(&key, attempted, Instant::now());
                    record::repair_failed(&self.shared, &run, &err, retry);
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// Deletes the objects of inventories whose module no longer exists on disk.
    pub(super) async fn purge_orphan_inventories(&self) {
        let orphans: Vec<String> = match self.config.installed_modules().await {
            Ok(installed) => {
                let modules = self.shared.modules();
                installed
                    .into_iter()
                    .filter(|m| modules.set.get(m).is_none())
                    .collect()
            }
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "skipping the orphan purge");
                return;
            }
        };
        for module in orphans {
            match self.runner.reconciler().delete_module(&module).await {
                Ok(report) => {
                    tracing::info!(module = %module, deleted = report.deleted.len(), "module no longer exists; its objects were deleted")
                }
                Err(err) => {
                    tracing::error!(module = %module, error = %crate::errors::chain(&err), "purging a removed module failed")
                }
            }
        }
    }
}
