//! The convergence loop: one `main` sequence that reacts to the ConfigMap, hook values
//! patches, drift and file changes, and re-runs exactly the modules whose inputs changed.
//!
//! # Guarantees
//! - Module runs are sequential (addon-operator's `main` queue); a failing module is marked
//!   failed and retried with backoff, and never stops the others.
//! - An invalid ConfigMap change is rejected as a whole: the last good values stay and nothing
//!   is rendered, applied or deleted because of it.
//! - A module whose checksum (effective values + chart files) did not change is not run, so it
//!   causes no API writes.
//! - Shutdown is checked between steps: a running apply finishes first.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hooks::{HookEngine, HookSet, OrderBinding};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};
use reconciler::Reconciler;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::configmap;
use crate::shared::{Event, Shared};
use crate::status::{ModuleState, ModuleStatus};

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

/// When the operator must stop working.
#[derive(Debug, Clone)]
pub struct Control {
    /// Leadership (always true without `--ha`).
    pub leading: watch::Receiver<bool>,
    /// Turns true on SIGTERM/SIGINT.
    pub shutdown: watch::Receiver<bool>,
}

/// Per-module bookkeeping of the loop.
#[derive(Debug, Default, Clone)]
pub(crate) struct ModuleRun {
    /// onStartup ran and bindings are enabled.
    pub started: bool,
    /// Checksum of the last successful run.
    pub checksum: Option<String>,
    /// Last resolved enabled state (`None`: not resolved yet).
    pub enabled: Option<bool>,
    /// Consecutive failures.
    pub failures: u32,
    /// When a failed module may be retried.
    pub retry_at: Option<Instant>,
    /// Consecutive failures of the `enabled` script.
    pub script_failures: u32,
    /// When a failed `enabled` script is run again.
    pub script_retry_at: Option<Instant>,
    /// Checksum the last attempt started with; a failed module whose inputs change since
    /// (e.g. the ConfigMap fixes a bad value) runs at once instead of waiting for its backoff.
    pub attempted: Option<String>,
}

/// The running operator.
pub struct Operator {
    pub(crate) shared: Arc<Shared>,
    pub(crate) events: mpsc::UnboundedReceiver<Event>,
    pub(crate) client: Client,
    pub(crate) reconciler: Reconciler,
    pub(crate) hooks: Arc<HookEngine>,
    pub(crate) settings: Settings,
    pub(crate) cm_api: Api<ConfigMap>,
    /// ConfigMap data as last seen or written.
    pub(crate) cm_data: BTreeMap<String, String>,
    /// The ConfigMap was deleted: the last good values stay until it is recreated.
    pub(crate) config_map_missing: bool,
    pub(crate) runs: BTreeMap<String, ModuleRun>,
    /// Leadership (always true without `--ha`); checked before every module run so a lost
    /// lease stops work between two applies, not only between two events.
    pub(crate) leading: watch::Receiver<bool>,
    /// Turns true on SIGTERM/SIGINT; checked before every module run.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The ConfigMap and drift watch tasks, aborted on drop so nothing keeps watching a
    /// cluster (or the embedded API server) after the operator stopped.
    watches: Vec<tokio::task::JoinHandle<()>>,
    /// Fingerprint of each module's `hooks/` when it was loaded, so `dev` reloads edited hooks.
    pub(crate) hook_fingerprints: BTreeMap<String, crate::filewatch::Fingerprint>,
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
        let cm_api = Api::namespaced(client.clone(), &settings.namespace);
        Operator {
            shared,
            events,
            client,
            reconciler,
            hooks,
            settings,
            cm_api,
            cm_data: BTreeMap::new(),
            config_map_missing: false,
            runs: BTreeMap::new(),
            leading: control.leading,
            shutdown: control.shutdown,
            watches: Vec::new(),
            hook_fingerprints: BTreeMap::new(),
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
        self.ensure_namespace().await?;
        let Some(data) = self.startup_config().await? else {
            return Ok(());
        };
        self.apply_config_data(data, true)?;
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
        let stream = configmap::watch(self.cm_api.clone(), &self.settings.config_map);
        let configmap = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(data) = futures::StreamExt::next(&mut stream).await {
                shared.send(Event::ConfigMap(data));
            }
        });
        let shared = self.shared.clone();
        let mut drift = self.reconciler.drift_watch(self.settings.drift_debounce);
        let drift = tokio::spawn(async move {
            while let Some(event) = drift.recv().await {
                shared.send(Event::Drift(event.module));
            }
        });
        self.watches.extend([configmap, drift]);
    }

    /// Reacts to events until `shutdown` turns true or `leading` turns false.
    ///
    /// # Errors
    /// Leadership was lost: the caller must stop at once.
    pub async fn run_loop(&mut self) -> anyhow::Result<()> {
        let mut leading = self.leading.clone();
        let mut shutdown = self.shutdown.clone();
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            if !*leading.borrow() {
                anyhow::bail!("lost the leader lease; stopping all work");
            }
            let retry_at = self.next_retry();
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = changed_or_never(&mut leading) => {}
                event = self.events.recv() => match event {
                    Some(event) => self.handle(event).await,
                    None => return Ok(()),
                },
                _ = sleep_until(retry_at) => self.converge(false).await,
            }
        }
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::ConfigMap(None) => self.config_map_deleted(),
            Event::ConfigMap(Some(data)) => match self.apply_config_data(data, false) {
                Ok(full) => self.converge(full).await,
                Err(err) => {
                    tracing::error!(error = %format!("{err:#}"), "ConfigMap change rejected; keeping the last good values")
                }
            },
            Event::ValuesChanged { config } => {
                if config {
                    self.persist_config().await;
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
        for (name, dir) in self.module_hook_dirs() {
            self.hooks
                .load(HookSet::Module(name.clone()), &dir)
                .await
                .with_context(|| format!("loading hooks of module {name}"))?;
            self.hook_fingerprints
                .insert(name, crate::filewatch::fingerprint(&[dir]));
        }
        Ok(())
    }

    /// Every module's `hooks/` directory, absolute (hooks run in their own directory, so they
    /// are started by absolute path).
    pub(crate) fn module_hook_dirs(&self) -> Vec<(String, std::path::PathBuf)> {
        let modules = self.shared.modules();
        modules
            .set
            .modules
            .iter()
            .filter_map(|m| {
                m.hooks_dir
                    .as_deref()
                    .map(|d| (m.name.clone(), absolute(d)))
            })
            .collect()
    }

    async fn ensure_namespace(&self) -> anyhow::Result<()> {
        use k8s_openapi::api::core::v1::Namespace;
        let api: Api<Namespace> = Api::all(self.client.clone());
        if api
            .get_opt(&self.settings.namespace)
            .await
            .context("reading the operator namespace")?
            .is_none()
        {
            anyhow::bail!(
                "operator namespace {} does not exist (create it, or set ADDON_OPERATOR_NAMESPACE)",
                self.settings.namespace
            );
        }
        Ok(())
    }

    fn next_retry(&self) -> Option<Instant> {
        self.runs
            .values()
            .flat_map(|r| [r.retry_at, r.script_retry_at])
            .flatten()
            .min()
    }

    /// Records a module's status row.
    pub(crate) fn set_status(&self, key: &str, update: impl FnOnce(&mut ModuleStatus)) {
        let row = {
            let modules = self.shared.modules();
            modules.set.by_key(key).map(|m| (m.name.clone(), m.order))
        };
        let Some((name, order)) = row else { return };
        let mut status = self.shared.status();
        let entry = status
            .modules
            .entry(name.clone())
            .or_insert_with(|| ModuleStatus {
                name,
                key: key.to_string(),
                order,
                enabled: false,
                enabled_source: String::new(),
                state: ModuleState::Pending,
                objects: 0,
                objects_applied: 0,
                last_run_ms: 0,
                checksum: String::new(),
                error: None,
                maintenance: false,
            });
        update(entry);
    }
}

/// `dir` made absolute, as hooks need (they run in their own directory).
pub(crate) fn absolute(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Resolves when the value changes; never, once the sender is gone (leadership that cannot
/// change any more, e.g. without `--ha`).
pub(crate) async fn changed_or_never(rx: &mut watch::Receiver<bool>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
