//! The engine the operator drives: hook sets (global, per module), lifecycle runs, kubernetes
//! and schedule bindings, queues and metrics.

use crate::binding_context::{BindingContext, ContextKind};
use crate::config::{ConfigVersion, KubernetesBinding, OrderBinding};
use crate::discovery::{LoadError, load_hooks};
use crate::hook::Hook;
use crate::host::HookHost;
use crate::metrics::MetricsStorage;
use crate::monitor::Monitor;
use crate::queue::{Queues, Task};
use crate::resources::{ResourceCatalog, ResourceError};
use crate::run::{EngineOptions, RunError, RunEvent, RunLabels, RunReport, Runner};
use crate::schedule::run_schedule;
use crate::sync::lock;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Which hooks an operation is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookSet {
    /// Hooks of the global hooks directory.
    Global,
    /// Hooks of one module (by module name).
    Module(String),
}

/// Errors enabling bindings.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A kubernetes binding names a kind the cluster does not serve.
    #[error("hook {hook}, binding {binding}")]
    Resource {
        /// Hook name.
        hook: String,
        /// Binding name.
        binding: String,
        /// Cause (names the kind).
        #[source]
        source: ResourceError,
    },
    /// Kubernetes bindings exist but the engine was built without a client.
    #[error("hook {hook}: kubernetes bindings need a Kubernetes client")]
    NoClient {
        /// Hook name.
        hook: String,
    },
    /// A Synchronization run that startup waits for failed (only with `allowFailure`) or was
    /// abandoned because the set was disabled.
    #[error("hook {hook}: synchronization of binding {binding} did not complete")]
    Synchronization {
        /// Hook name.
        hook: String,
        /// Binding name.
        binding: String,
        /// Why.
        #[source]
        reason: SyncFailure,
    },
}

/// The hook engine.
///
/// # Caveats
/// Lifecycle runs ([`HookEngine::run_order`]) run in the caller's task and are not retried: the
/// operator decides (it already serializes them in its `main` sequence).
pub struct HookEngine {
    runner: Arc<Runner>,
    queues: Arc<Queues>,
    hooks: Mutex<HashMap<HookSet, Vec<Arc<Hook>>>>,
    tasks: Mutex<HashMap<HookSet, Vec<JoinHandle<()>>>>,
    /// (set, "kubernetes" | "schedule") currently enabled: enabling twice is a no-op.
    enabled: Mutex<HashSet<(HookSet, &'static str)>>,
}

impl HookEngine {
    /// Creates an engine. `client` may be `None` for offline use (no kubernetes bindings, no
    /// object patches).
    pub fn new(host: Arc<dyn HookHost>, client: Option<kube::Client>, opts: EngineOptions) -> Self {
        let runner = Arc::new(Runner {
            host,
            catalog: client.clone().map(ResourceCatalog::new),
            client,
            metrics: Arc::new(MetricsStorage::with_engine_prefix(&opts.metric_prefix)),
            dirs: crate::run::RunDirs::new(opts.tmp_dir.clone()),
            spawner: crate::spawner::SpawnerSlot::new(opts.launcher.clone()),
            opts,
        });
        Self {
            queues: Arc::new(Queues::new(runner.clone())),
            runner,
            hooks: Mutex::default(),
            tasks: Mutex::default(),
            enabled: Mutex::default(),
        }
    }

    /// Metric storage (hook metrics and engine metrics) for the operator's `/metrics` endpoints.
    pub fn metrics(&self) -> Arc<MetricsStorage> {
        self.runner.metrics.clone()
    }

    /// Outcomes of queued runs (kubernetes and schedule bindings), as they happen. Slow receivers
    /// miss events (the channel keeps the latest 256).
    pub fn run_events(&self) -> tokio::sync::broadcast::Receiver<RunEvent> {
        self.queues.subscribe()
    }

    /// Finds and configures the hooks of `set` under `dir` (global: the global hooks directory;
    /// module: the module's `hooks/` directory) and registers them, replacing earlier ones.
    /// Disable the set first if its bindings are running: running bindings keep the old hooks.
    pub async fn load(&self, set: HookSet, dir: &Path) -> Result<Vec<Arc<Hook>>, LoadError> {
        let module = match &set {
            HookSet::Global => None,
            HookSet::Module(m) => Some(m.as_str()),
        };
        let opts = &self.runner.opts;
        let hooks: Vec<Arc<Hook>> = load_hooks(dir, module, opts.timeout, &opts.env)
            .await?
            .into_iter()
            .map(Arc::new)
            .collect();
        lock(&self.hooks).insert(set, hooks.clone());
        Ok(hooks)
    }

    /// Registers already-built hooks for `set` (native or test hooks).
    pub fn register(&self, set: HookSet, hooks: Vec<Hook>) -> Vec<Arc<Hook>> {
        let hooks: Vec<Arc<Hook>> = hooks.into_iter().map(Arc::new).collect();
        lock(&self.hooks).insert(set, hooks.clone());
        hooks
    }

    /// The registered hooks of `set`, in path order.
    pub fn hooks(&self, set: &HookSet) -> Vec<Arc<Hook>> {
        lock(&self.hooks).get(set).cloned().unwrap_or_default()
    }

    /// Every registered hook, global ones first, then modules by name (webhook lookups).
    pub(crate) fn all_hooks(&self) -> Vec<Arc<Hook>> {
        let hooks = lock(&self.hooks);
        let mut sets: Vec<(&HookSet, &Vec<Arc<Hook>>)> = hooks.iter().collect();
        sets.sort_by_key(|(s, _)| match s {
            HookSet::Global => None,
            HookSet::Module(m) => Some(m.clone()),
        });
        sets.into_iter()
            .flat_map(|(_, h)| h.iter().cloned())
            .collect()
    }

    /// The runner, for webhook runs that bypass the queues.
    pub(crate) fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Runs every hook of `set` bound to `binding`, sorted by order then name, one after another.
    /// Lifecycle contexts other than `onStartup` carry the snapshots of all the hook's
    /// kubernetes bindings.
    ///
    /// # Errors
    /// The first failed run; later hooks do not run.
    pub async fn run_order(
        &self,
        set: &HookSet,
        binding: OrderBinding,
    ) -> Result<Vec<RunReport>, RunError> {
        let mut hooks: Vec<(f64, Arc<Hook>)> = self
            .hooks(set)
            .into_iter()
            .filter_map(|h| h.config.orders.get(&binding).map(|o| (*o, h.clone())))
            .collect();
        hooks.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        let mut reports = Vec::new();
        for (_, hook) in hooks {
            let snapshots = (binding != OrderBinding::OnStartup
                && hook.config.version == ConfigVersion::V1)
                .then(|| hook.snapshots(None));
            let ctx = BindingContext {
                binding: binding.as_str().into(),
                kind: ContextKind::Order(binding),
                group: None,
                snapshots,
                version: hook.config.version,
            };
            let labels = RunLabels::new(&hook, Some(&ctx), "main");
            let span = labels.span();
            let contexts = [ctx];
            let run = self.runner.run(&hook, &contexts, &labels, Instant::now());
            match run.instrument(span.clone()).await {
                Ok(report) => reports.push(report),
                Err(err) => {
                    span.in_scope(|| tracing::error!(error = %err, "hook failed"));
                    return Err(err);
                }
            }
        }
        Ok(reports)
    }

    /// Starts the kubernetes bindings of `set`: resolves kinds (re-running discovery for unknown
    /// ones), starts the watchers, queues each binding's Synchronization and waits until those
    /// with `waitForSynchronization` have run.
    ///
    /// Enabling an already enabled set does nothing; [`HookEngine::disable`] first to restart.
    ///
    /// # Errors
    /// An unknown kind (naming hook, binding and kind), or a waited-for Synchronization that
    /// failed with `allowFailure`. The set is then disabled, so a retry starts clean.
    pub async fn enable_kubernetes(&self, set: &HookSet) -> Result<(), EngineError> {
        if !lock(&self.enabled).insert((set.clone(), "kubernetes")) {
            return Ok(());
        }
        let result = self.start_kubernetes(set).await;
        if result.is_err() {
            // Leave nothing half-started: a retry begins from a clean state.
            self.disable(set);
        }
        result
    }

    async fn start_kubernetes(&self, set: &HookSet) -> Result<(), EngineError> {
        // Resolve every kind first, so an unknown one starts no watch at all.
        let mut monitors = Vec::new();
        for hook in self.hooks(set) {
            hook.stopped.store(false, Ordering::SeqCst);
            for index in 0..hook.config.kubernetes.len() {
                monitors.push(self.monitor(&hook, index).await?);
            }
        }
        let mut starting: Vec<Starting> = monitors
            .into_iter()
            .map(|m| self.spawn_monitor(set, m))
            .collect();
        // Queue every Synchronization only after all bindings of the set listed, so snapshots
        // of sibling bindings are complete; then let the monitors pass on their events.
        for binding in &mut starting {
            binding.listed().await?;
        }
        for binding in &mut starting {
            binding.queue_synchronization(&self.queues);
        }
        for binding in &mut starting {
            binding.release();
        }
        for binding in &mut starting {
            binding.synchronized().await?;
        }
        Ok(())
    }

    /// The monitor of binding `index` of `hook`, its kind resolved through discovery.
    async fn monitor(&self, hook: &Arc<Hook>, index: usize) -> Result<Monitor, EngineError> {
        let (Some(client), Some(catalog)) = (&self.runner.client, &self.runner.catalog) else {
            return Err(EngineError::NoClient {
                hook: hook.name.clone(),
            });
        };
        let b = &hook.config.kubernetes[index];
        let resource = catalog
            .resolve(b.api_version.as_deref(), &b.kind)
            .await
            .map_err(|source| EngineError::Resource {
                hook: hook.name.clone(),
                binding: b.name.clone(),
                source,
            })?;
        Ok(Monitor {
            hook: hook.clone(),
            index,
            resource,
            client: client.clone(),
            queues: self.queues.clone(),
        })
    }

    /// Spawns a monitor as a task of `set`; it lists, then waits to be released.
    fn spawn_monitor(&self, set: &HookSet, monitor: Monitor) -> Starting {
        let (synced_tx, synced) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        let (hook, index) = (monitor.hook.clone(), monitor.index);
        lock(&self.tasks)
            .entry(set.clone())
            .or_default()
            .push(tokio::spawn(monitor.run(synced_tx, release_rx)));
        Starting {
            hook,
            index,
            synced: Some(synced),
            task: None,
            release: Some(release),
            done: None,
        }
    }
    /// Starts the schedule bindings of `set`.
    pub fn enable_schedules(&self, set: &HookSet) {
        if !lock(&self.enabled).insert((set.clone(), "schedule")) {
            return;
        }
        for hook in self.hooks(set) {
            hook.stopped.store(false, Ordering::SeqCst);
            for index in 0..hook.config.schedules.len() {
                let handle = tokio::spawn(run_schedule(hook.clone(), index, self.queues.clone()));
                lock(&self.tasks)
                    .entry(set.clone())
                    .or_default()
                    .push(handle);
            }
        }
    }

    /// Stops the bindings of `set` (a disabled module): watchers and timers end, queued tasks are
    /// dropped, retries stop and snapshots are cleared. Lifecycle runs stay possible.
    pub fn disable(&self, set: &HookSet) {
        lock(&self.enabled).retain(|(s, _)| s != set);
        for t in lock(&self.tasks).remove(set).unwrap_or_default() {
            t.abort();
        }
        let hooks = self.hooks(set);
        for h in &hooks {
            h.stopped.store(true, Ordering::SeqCst);
            for s in &h.stores {
                let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.objects.clear();
            }
        }
        self.queues
            .remove_tasks(|h| hooks.iter().any(|x| std::ptr::eq(x.as_ref(), h)));
    }

    /// Ends the backoff of every failed task of `set`'s hooks: each runs again at once. For a
    /// hook whose file was edited (`dev`): the fix is tried now, not at the next backoff tick.
    /// A hook with no failed task is not run; its next failure waits out no backoff once.
    pub fn retry_now(&self, set: &HookSet) {
        for hook in self.hooks(set) {
            hook.retry_now.store(true, Ordering::SeqCst);
        }
        self.queues.wake_retries();
    }

    /// Tasks waiting in each queue (not counting running ones), for status pages.
    pub fn queue_lengths(&self) -> std::collections::BTreeMap<String, usize> {
        self.queues.lengths()
    }

    /// What the kubernetes bindings of the hook named `name` hold now, by binding name (as
    /// its next binding context's `snapshots` would carry them); `None` when no registered hook
    /// has that name. Served by `addon-operator hook snapshots`.
    pub fn snapshots(&self, name: &str) -> Option<crate::Snapshots> {
        self.all_hooks()
            .into_iter()
            .find(|h| h.name == name)
            .map(|h| h.snapshots(None))
    }

    /// Names of every registered hook, global ones first (see [`HookEngine::snapshots`]).
    pub fn hook_names(&self) -> Vec<String> {
        self.all_hooks().iter().map(|h| h.name.clone()).collect()
    }

    /// Tasks waiting in all queues (not counting running ones).
    pub fn pending_tasks(&self) -> usize {
        self.queues.pending()
    }

    /// Stops every binding and queue worker.
    pub fn shutdown(&self) {
        let sets: Vec<HookSet> = lock(&self.tasks).keys().cloned().collect();
        for s in sets {
            self.disable(&s);
        }
        self.queues.shutdown();
    }
}

/// Why a Synchronization that start-up waits for did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    /// The binding's watcher ended before it listed.
    #[error("the watcher stopped")]
    WatcherStopped,
    /// The run was dropped because the hook's bindings were disabled meanwhile.
    #[error("the run was abandoned (bindings disabled)")]
    Abandoned,
    /// The run failed (a hook with `allowFailure`, which is not retried).
    #[error(transparent)]
    Run(Arc<RunError>),
}

/// A kubernetes binding on its way through start-up: listed → Synchronization queued →
/// released → (with `waitForSynchronization`) Synchronization run.
struct Starting {
    hook: Arc<Hook>,
    index: usize,
    /// Answers the Synchronization task once the monitor listed.
    synced: Option<oneshot::Receiver<Option<Task>>>,
    /// The Synchronization task, between listing and queueing.
    task: Option<Task>,
    /// Lets the monitor pass its events on.
    release: Option<oneshot::Sender<()>>,
    /// The outcome of a Synchronization run startup waits for.
    done: Option<oneshot::Receiver<Result<RunReport, Arc<RunError>>>>,
}

impl Starting {
    fn config(&self) -> &KubernetesBinding {
        &self.hook.config.kubernetes[self.index]
    }

    fn error(&self, reason: SyncFailure) -> EngineError {
        EngineError::Synchronization {
            hook: self.hook.name.clone(),
            binding: self.config().name.clone(),
            reason,
        }
    }

    /// Waits until the monitor listed every stream.
    async fn listed(&mut self) -> Result<(), EngineError> {
        let Some(synced) = self.synced.take() else {
            return Ok(());
        };
        self.task = synced
            .await
            .map_err(|_| self.error(SyncFailure::WatcherStopped))?;
        Ok(())
    }

    /// Queues the Synchronization run (if the binding runs the hook on it).
    fn queue_synchronization(&mut self, queues: &Arc<Queues>) {
        let Some(mut task) = self.task.take() else {
            return;
        };
        if self.config().wait_for_synchronization {
            let (tx, done) = oneshot::channel();
            task.done.push(tx);
            self.done = Some(done);
        }
        queues.push(&self.config().queue, task);
    }

    fn release(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }

    /// Waits for the Synchronization run, with `waitForSynchronization`.
    async fn synchronized(&mut self) -> Result<(), EngineError> {
        let Some(done) = self.done.take() else {
            return Ok(());
        };
        match done.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.error(SyncFailure::Run(e))),
            Err(_) => Err(self.error(SyncFailure::Abandoned)),
        }
    }
}

impl Drop for HookEngine {
    fn drop(&mut self) {
        for (_, tasks) in lock(&self.tasks).drain() {
            for t in tasks {
                t.abort();
            }
        }
        self.queues.shutdown();
    }
}
