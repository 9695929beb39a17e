//! Kubernetes bindings: kube-rs watchers feeding a binding's snapshot and the hook's queue.
//!
//! # Guarantees
//! - The hook first gets one `Synchronization` with every selected object (after all watch
//!   streams of the binding listed), then `Event`s.
//! - A re-list (watch restart after `410 Gone`, a namespace entering the selection) is compared
//!   with the snapshot: objects that appeared give `Added`, changed ones `Modified`, vanished ones
//!   `Deleted`, unchanged ones nothing — no event is lost or repeated.
//! - `Modified` fires only when the filter result (or, without `jqFilter`, the object) changed.
//! - With `keepFullObjectsInMemory: false` only filter results are kept.

use crate::binding_context::{BindingContext, ContextKind, ObjectAndFilterResult};
use crate::config::{KubernetesBinding, WatchEvent};
use crate::hook::{BindingStore, Change, Hook, ObjKey, StoredObject};
use crate::queue::{Queues, SnapshotRequest, Task};
use crate::resources::ResolvedResource;
use futures::StreamExt;
use futures::stream::BoxStream;
use kube::api::{Api, DynamicObject, TypeMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;
use tokio_stream::StreamMap;

type WatchStream = BoxStream<'static, Result<Event<DynamicObject>, watcher::Error>>;

/// Sent once every stream of the binding has listed: the Synchronization task to queue (when
/// the binding runs the hook on synchronization). The engine queues the Synchronization tasks of
/// all bindings of a set, then releases the monitors, so a hook's snapshots are complete in its
/// Synchronization run and no Event overtakes it.
pub(crate) type SyncedTx = oneshot::Sender<Option<Task>>;

/// One running kubernetes binding.
pub(crate) struct Monitor {
    pub hook: Arc<Hook>,
    pub index: usize,
    pub resource: ResolvedResource,
    pub client: kube::Client,
    pub queues: Arc<Queues>,
}

struct State {
    streams: StreamMap<String, WatchStream>,
    /// Relist buffers by stream key.
    relist: BTreeMap<String, BTreeMap<ObjKey, StoredObject>>,
    /// Streams that have not finished their first list yet.
    pending_init: HashSet<String>,
    /// Namespaces selected by `namespace.labelSelector` (None without one).
    namespaces: Option<BTreeSet<String>>,
    ns_buffer: Option<BTreeSet<String>>,
    /// The namespace watcher finished its first list (always true without a label selector).
    ns_ready: bool,
    synced: bool,
    synced_tx: Option<SyncedTx>,
    /// Events are held until the engine released the monitor (after queueing Synchronization).
    released: bool,
    outbox: Vec<Task>,
}

impl Monitor {
    fn binding(&self) -> &KubernetesBinding {
        &self.hook.config.kubernetes[self.index]
    }

    fn stream(&self, namespace: Option<&str>) -> WatchStream {
        let ar = &self.resource.api_resource;
        let api: Api<DynamicObject> = match namespace {
            Some(ns) if self.resource.namespaced => {
                Api::namespaced_with(self.client.clone(), ns, ar)
            }
            _ => Api::all_with(self.client.clone(), ar),
        };
        let b = self.binding();
        let mut cfg = watcher::Config::default();
        if let Some(l) = &b.label_selector {
            cfg = cfg.labels(l);
        }
        if let Some(f) = &b.field_selector {
            cfg = cfg.fields(f);
        }
        watcher::watcher(api, cfg).default_backoff().boxed()
    }

    fn namespace_stream(&self, selector: &str) -> WatchStream {
        let ar = kube::discovery::ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Namespace".into(),
            plural: "namespaces".into(),
        };
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        watcher::watcher(api, watcher::Config::default().labels(selector))
            .default_backoff()
            .boxed()
    }

    /// Runs until aborted.
    pub(crate) async fn run(self, synced_tx: SyncedTx, mut release: oneshot::Receiver<()>) {
        let b = self.binding();
        let mut ns_stream = b
            .namespace_label_selector
            .as_ref()
            .filter(|_| self.resource.namespaced)
            .map(|s| self.namespace_stream(s));
        let mut st = State {
            streams: StreamMap::new(),
            relist: BTreeMap::new(),
            pending_init: HashSet::new(),
            namespaces: ns_stream.as_ref().map(|_| BTreeSet::new()),
            ns_buffer: None,
            ns_ready: ns_stream.is_none(),
            synced: false,
            synced_tx: Some(synced_tx),
            released: false,
            outbox: Vec::new(),
        };
        if ns_stream.is_none() {
            let scopes: Vec<Option<String>> =
                if self.resource.namespaced && !b.namespaces.is_empty() {
                    b.namespaces.iter().cloned().map(Some).collect()
                } else {
                    vec![None]
                };
            for scope in scopes {
                let key = scope.clone().unwrap_or_default();
                st.pending_init.insert(key.clone());
                st.streams.insert(key, self.stream(scope.as_deref()));
            }
        }
        loop {
            if st.released {
                for task in st.outbox.drain(..) {
                    self.queues.push(&b.queue, task);
                }
            }
            tokio::select! {
                r = &mut release, if !st.released => {
                    st.released = true;
                    if r.is_err() {
                        return; // the engine gave up on this set
                    }
                },
                Some((key, ev)) = st.streams.next(), if !st.streams.is_empty() => match ev {
                    Ok(ev) => {
                        self.on_event(&mut st, &key, ev);
                        self.queues.gauge_snapshot(&self.hook.name, &b.name, self.hook.snapshot_len_of(self.index));
                    }
                    Err(e) => self.on_error(&e),
                },
                Some(ev) = async { match ns_stream.as_mut() { Some(s) => s.next().await, None => None } }, if ns_stream.is_some() => match ev {
                    Ok(ev) => self.on_namespace_event(&mut st, ev),
                    Err(e) => self.on_error(&e),
                },
                else => return,
            }
        }
    }

    fn on_error(&self, e: &watcher::Error) {
        self.queues
            .count_watch_error(&self.hook.name, &self.binding().name);
        tracing::warn!(hook = %self.hook.name, binding = %self.binding().name, error = %e, "watch error; kube-rs watcher retries with backoff");
    }

    fn key_of(obj: &DynamicObject) -> ObjKey {
        (
            obj.metadata.namespace.clone().unwrap_or_default(),
            obj.metadata.name.clone().unwrap_or_default(),
        )
    }

    fn selected(&self, st: &State, key: &ObjKey) -> bool {
        let b = self.binding();
        (b.names.len() < 2 || b.names.contains(&key.1))
            && st.namespaces.as_ref().is_none_or(|ns| ns.contains(&key.0))
    }

    /// Filter result and checksum of an object, as the binding keeps it.
    fn item(&self, mut obj: DynamicObject) -> StoredObject {
        if obj.types.is_none() {
            let ar = &self.resource.api_resource;
            obj.types = Some(TypeMeta {
                api_version: ar.api_version.clone(),
                kind: ar.kind.clone(),
            });
        }
        let b = self.binding();
        let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
        let filter_result = b.jq_filter.as_ref().map(|f| {
            f.run(&value).unwrap_or_else(|e| {
                tracing::warn!(hook = %self.hook.name, binding = %b.name, error = %e, "jqFilter failed; filterResult is null");
                Value::Null
            })
        });
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let hashed = filter_result.as_ref().unwrap_or(&value);
        serde_json::to_string(hashed)
            .unwrap_or_default()
            .hash(&mut h);
        StoredObject {
            item: ObjectAndFilterResult {
                object: b.keep_full_objects_in_memory.then(|| Arc::new(value)),
                filter_result: filter_result.map(Arc::new),
            },
            checksum: h.finish(),
        }
    }

    fn on_event(&self, st: &mut State, key: &str, ev: Event<DynamicObject>) {
        let kind = match &ev {
            Event::Init => "init",
            Event::InitApply(_) => "init-apply",
            Event::InitDone => "init-done",
            Event::Apply(_) => "apply",
            Event::Delete(_) => "delete",
        };
        tracing::debug!(hook = %self.hook.name, binding = %self.binding().name, stream = key, event = kind, "watch event");
        match ev {
            Event::Init => {
                st.relist.insert(key.to_string(), BTreeMap::new());
            }
            Event::InitApply(obj) => {
                let k = Self::key_of(&obj);
                if self.selected(st, &k) {
                    let item = self.item(obj);
                    st.relist
                        .entry(key.to_string())
                        .or_default()
                        .insert(k, item);
                }
            }
            Event::InitDone => {
                let listed = st.relist.remove(key).unwrap_or_default();
                self.reconcile_scope(st, key, listed);
                st.pending_init.remove(key);
                self.maybe_synchronize(st);
            }
            Event::Apply(obj) => {
                let k = Self::key_of(&obj);
                if self.selected(st, &k) {
                    let item = self.item(obj);
                    self.upsert(st, k, item);
                }
            }
            Event::Delete(obj) => {
                let k = Self::key_of(&obj);
                let item = self.item(obj);
                self.remove(st, &k, Some(item));
            }
        }
    }

    /// Brings the snapshot of one stream's scope in line with a fresh list, emitting the
    /// differences as events once synchronized.
    fn store(&self) -> std::sync::MutexGuard<'_, BindingStore> {
        self.hook.stores[self.index]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the snapshot of one stream's scope in line with a fresh list, emitting the
    /// differences once synchronized.
    fn reconcile_scope(&self, st: &mut State, key: &str, listed: BTreeMap<ObjKey, StoredObject>) {
        let changes = self.store().relist(key, listed);
        self.emit_all(st, changes.into_iter().map(|(_, c)| c));
    }

    fn upsert(&self, st: &mut State, key: ObjKey, item: StoredObject) {
        let change = self.store().apply(key, item);
        self.emit_all(st, change);
    }

    fn remove(&self, st: &mut State, key: &ObjKey, last: Option<StoredObject>) {
        let change = self.store().delete(key, last);
        self.emit_all(st, change);
    }

    /// Before the Synchronization the store fills silently; afterwards changes become events.
    fn emit_all(&self, st: &mut State, changes: impl IntoIterator<Item = Change>) {
        if st.synced {
            for (event, object) in changes {
                self.emit(st, event, object);
            }
        }
    }

    fn snapshot_request(&self) -> SnapshotRequest {
        let b = self.binding();
        SnapshotRequest::for_binding(&self.hook, b.group.as_deref(), &b.include_snapshots_from)
    }

    fn task(&self, kind: ContextKind) -> Task {
        let b = self.binding();
        let ctx = BindingContext {
            binding: b.name.clone(),
            kind,
            group: b.group.clone(),
            snapshots: None,
            version: self.hook.config.version,
        };
        Task {
            hook: self.hook.clone(),
            contexts: vec![(ctx, self.snapshot_request())],
            allow_failure: b.allow_failure,
            queued_at: Instant::now(),
            schedule_binding: None,
            done: Vec::new(),
        }
    }

    fn emit(&self, st: &mut State, event: WatchEvent, object: ObjectAndFilterResult) {
        if !self.binding().execute_hook_on_event.contains(&event) {
            return;
        }
        st.outbox.push(self.task(ContextKind::Event {
            watch_event: event,
            object,
        }));
    }

    fn maybe_synchronize(&self, st: &mut State) {
        if st.synced || !st.ns_ready || !st.pending_init.is_empty() {
            return;
        }
        st.synced = true;
        let b = self.binding();
        let objects = self.hook.snapshot(self.index);
        tracing::info!(hook = %self.hook.name, binding = %b.name, objects = objects.len(), "kubernetes binding synchronized");
        let task = b
            .execute_hook_on_synchronization
            .then(|| self.task(ContextKind::Synchronization { objects }));
        if let Some(tx) = st.synced_tx.take() {
            let _ = tx.send(task);
        }
    }

    fn on_namespace_event(&self, st: &mut State, ev: Event<DynamicObject>) {
        match ev {
            Event::Init => st.ns_buffer = Some(BTreeSet::new()),
            Event::InitApply(ns) => {
                if let (Some(buf), Some(name)) = (st.ns_buffer.as_mut(), ns.metadata.name) {
                    buf.insert(name);
                }
            }
            Event::InitDone => {
                let listed = st.ns_buffer.take().unwrap_or_default();
                let current = st.namespaces.clone().unwrap_or_default();
                for gone in current.difference(&listed) {
                    self.drop_namespace(st, gone);
                }
                for added in listed.difference(&current) {
                    self.add_namespace(st, added);
                }
                st.ns_ready = true;
                self.maybe_synchronize(st);
            }
            Event::Apply(ns) => {
                if let Some(name) = ns.metadata.name
                    && !st.namespaces.as_ref().is_some_and(|n| n.contains(&name))
                {
                    self.add_namespace(st, &name);
                }
            }
            Event::Delete(ns) => {
                if let Some(name) = ns.metadata.name {
                    self.drop_namespace(st, &name);
                }
            }
        }
    }

    fn add_namespace(&self, st: &mut State, ns: &str) {
        // `namespace.nameSelector` together with `labelSelector`: both must match.
        let names = &self.binding().namespaces;
        if !names.is_empty() && !names.iter().any(|n| n == ns) {
            return;
        }
        if let Some(set) = st.namespaces.as_mut() {
            set.insert(ns.to_string());
        }
        st.pending_init.insert(ns.to_string());
        st.streams.insert(ns.to_string(), self.stream(Some(ns)));
    }

    fn drop_namespace(&self, st: &mut State, ns: &str) {
        if let Some(set) = st.namespaces.as_mut() {
            set.remove(ns);
        }
        st.streams.remove(ns);
        st.pending_init.remove(ns);
        st.relist.remove(ns);
        self.reconcile_scope(st, ns, BTreeMap::new());
        self.maybe_synchronize(st);
    }
}
