//! The convergence loop: one `main` sequence that reacts to the ConfigMap, hook values
//! patches, drift, file changes and retries, and runs exactly the modules whose turn it is.
//!
//! The module lifecycle is split three ways: the [`Scheduler`] decides *when* a module runs
//! (its state, retries, backoff), the [`Runner`] does one run (*what* it does), and
//! [`crate::enabled::resolve`] decides whether a module is enabled. This loop wires them:
//! resolve → ask the scheduler → run → tell the scheduler and record the outcome
//! ([`crate::record`]). `converge.rs` is one pass of it, `reload.rs` the `dev` file reload.
//!
//! # Guarantees
//! - Module runs are sequential (addon-operator's `main` queue); a failing module is marked
//!   failed and retried with backoff, and never stops the others.
//! - An invalid ConfigMap change is rejected as a whole: the last good values stay and nothing
//!   is rendered, applied or deleted because of it.
//! - A module whose checksum (effective values + chart files) did not change is not run, so it
//!   causes no API writes.
//! - Shutdown and leadership are checked between steps: a running apply finishes first.
//! - Each run, disable and drift repair is a `tracing` span with fields `module` and `run_id`.

mod converge;
mod reload;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hooks::{HookEngine, HookSet, OrderBinding};
use kube::Client;
use reconciler::Reconciler;
use tokio::sync::mpsc;

use crate::config::ConfigSource;
use crate::control::{Control, changed_or_never};
use crate::runner::{Runner, absolute};
use crate::scheduler::Scheduler;
use crate::shared::{Event, Shared};

/// Settings of one operator instance.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Operator namespace: release namespace, ConfigMap and inventories live here.
    pub namespace: String,
    /// Name of the ConfigMap.
    pub config_map: String,
    /// Global hooks directory.
    pub global_hooks_dir: std::path::PathBuf,
    /// First retry delay of a failed module (doubles up to `retry_max`).
    pub retry_initial: Duration,
    /// Retry delay cap.
    pub retry_max: Duration,
    /// Debounce of drift events.
    pub drift_debounce: Duration,
    /// At startup, wait for a missing ConfigMap while modules are installed (`run`, `dev`);
    /// off, that is a startup error (`dev --once`).
    pub wait_for_config_map: bool,
}

/// The running operator.
pub struct Operator {
    shared: Arc<Shared>,
    events: mpsc::UnboundedReceiver<Event>,
    hooks: Arc<HookEngine>,
    settings: Settings,
    control: Control,
    config: ConfigSource,
    scheduler: Scheduler,
    runner: Runner,
    /// Id of the last module run, disable or repair (the `run_id` of their spans).
    last_run_id: u64,
    /// Keys of the modules the last convergence pass found enabled: a change of their
    /// sections alone runs them without another pass.
    enabled: std::collections::BTreeSet<String>,
    /// Fingerprints of the module hooks as loaded, so `dev` reloads edited ones.
    hook_files: reload::HookFiles,
    /// The ConfigMap and drift watch tasks, aborted on drop so nothing keeps watching a
    /// cluster (or the embedded API server) after the operator stopped.
    watches: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Operator {
    fn drop(&mut self) {
        for task in &self.watches {
            task.abort();
        }
    }
}

impl Operator {
    /// Builds the operator around loaded modules; nothing runs until [`Operator::start`].
    pub fn new(
        shared: Arc<Shared>,
        events: mpsc::UnboundedReceiver<Event>,
        client: Client,
        hooks: Arc<HookEngine>,
        settings: Settings,
        control: Control,
    ) -> Self {
        let reconciler = Reconciler::new(client.clone(), settings.namespace.clone());
        let policy = cluster_access::BackoffPolicy {
            initial: settings.retry_initial,
            max: settings.retry_max,
            ..cluster_access::BackoffPolicy::MODULE_RUN
        };
        Operator {
            config: ConfigSource::new(
                client,
                &settings.namespace,
                &settings.config_map,
                settings.wait_for_config_map,
                shared.clone(),
            ),
            runner: Runner::new(
                shared.clone(),
                hooks.clone(),
                reconciler,
                settings.namespace.clone(),
            ),
            scheduler: Scheduler::new(policy),
            shared,
            events,
            hooks,
            settings,
            control,
            last_run_id: 0,
            enabled: std::collections::BTreeSet::new(),
            hook_files: reload::HookFiles::default(),
            watches: Vec::new(),
        }
    }

    /// The startup sequence: ConfigMap, hooks, global onStartup, global bindings, then the first
    /// full convergence (`beforeAll` → modules in order → `afterAll`).
    ///
    /// # Errors
    /// An invalid ConfigMap at startup, a hook with an invalid config, a failing global
    /// `onStartup` hook or a global binding to an unknown kind (like addon-operator, the
    /// operator does not start half-configured).
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let Some(data) = self.config.startup(&self.control).await? else {
            return Ok(());
        };
        self.config.apply(data, true)?;
        self.load_hooks().await?;
        self.hooks
            .run_order(&HookSet::Global, OrderBinding::OnStartup)
            .await
            .context("global onStartup hook failed")?;
        self.hooks.enable_schedules(&HookSet::Global);
        self.hooks
            .enable_kubernetes(&HookSet::Global)
            .await
            .context("enabling global kubernetes bindings")?;
        self.purge_orphan_inventories().await;
        self.converge(true).await;
        Ok(())
    }

    /// Spawns the ConfigMap and drift watches that feed the loop.
    /// They stop when the operator is dropped.
    pub fn spawn_watches(&mut self) {
        let shared = self.shared.clone();
        let stream = self.config.watch();
        let configmap = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(data) = futures::StreamExt::next(&mut stream).await {
                shared.send(Event::ConfigMap(data));
            }
        });
        let shared = self.shared.clone();
        let mut drift = self
            .runner
            .reconciler()
            .drift_watch(self.settings.drift_debounce);
        let drift = tokio::spawn(async move {
            while let Some(event) = drift.recv().await {
                shared.send(Event::Drift(event.module));
            }
        });
        self.watches.extend([configmap, drift]);
    }

    /// Reacts to events and due retries until `shutdown` turns true or `leading` turns false.
    ///
    /// # Errors
    /// Leadership was lost: the caller must stop at once.
    pub async fn run_loop(&mut self) -> anyhow::Result<()> {
        let mut leading = self.control.leading.clone();
        let mut shutdown = self.control.shutdown.clone();
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            if !*leading.borrow() {
                anyhow::bail!("lost the leader lease; stopping all work");
            }
            tokio::select! {
                _ = changed_or_never(&mut shutdown) => {}
                _ = changed_or_never(&mut leading) => {}
                event = self.events.recv() => match event {
                    Some(event) => self.handle(event).await,
                    None => return Ok(()),
                },
                _ = self.scheduler.wakeup() => self.converge(false).await,
            }
        }
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::ConfigMap(None) => self.config.deleted(),
            Event::ConfigMap(Some(data)) => match self.config.apply(data, false) {
                // As addon-operator: the global section or an enabled flag changed ⇒ converge
                // every module; only module sections (or maintenance modes) ⇒ run those.
                Ok(change) if change.global || !change.enabled.is_empty() => {
                    self.converge(true).await
                }
                Ok(change) => {
                    let mut keys = change.modules;
                    keys.extend(change.maintenance);
                    self.run_changed(&keys).await
                }
                Err(err) => {
                    tracing::error!(error = %format!("{err:#}"), "ConfigMap change rejected; keeping the last good values")
                }
            },
            Event::ValuesChanged { config } => {
                if config {
                    self.config.persist().await;
                }
                self.converge(false).await;
            }
            Event::Drift(module) => self.repair_drift(&module).await,
            Event::FilesChanged => self.reload_files().await,
        }
    }

    /// Loads the global hooks and every module's hooks; an invalid hook config is fatal.
    async fn load_hooks(&mut self) -> anyhow::Result<()> {
        let dir = absolute(&self.settings.global_hooks_dir);
        if dir.is_dir() {
            let hooks = self
                .hooks
                .load(HookSet::Global, &dir)
                .await
                .context("loading global hooks")?;
            tracing::info!(count = hooks.len(), dir = %dir.display(), "global hooks loaded");
        }
        for (name, dir) in crate::filewatch::module_hook_dirs(&self.shared) {
            self.hooks
                .load(HookSet::Module(name.clone()), &dir)
                .await
                .with_context(|| format!("loading hooks of module {name}"))?;
            self.hook_files.loaded(&name, &dir);
        }
        Ok(())
    }

    /// The id of the next module run, disable or repair.
    fn next_run_id(&mut self) -> u64 {
        self.last_run_id += 1;
        self.last_run_id
    }
}
