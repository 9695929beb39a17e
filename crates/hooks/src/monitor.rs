//! Kubernetes bindings: list-watches ([`cluster_access::ListWatch`]) feeding a binding's snapshot
//! and the hook's queue.
//!
//! # Guarantees
//! - The hook first gets one `Synchronization` with every selected object (after all watch
//!   streams of the binding listed), then `Event`s.
//! - A re-list (watch restart after `410 Gone`, a namespace entering the selection) is compared
//!   with the snapshot: objects that appeared give `Added`, changed ones `Modified`, vanished ones
//!   `Deleted`, unchanged ones nothing — no event is lost or repeated.
//! - `Modified` fires only when the filter result (or, without `jqFilter`, the object) changed.
//! - With `keepFullObjectsInMemory: false` only filter results are kept, during a relist too;
//!   with it (the default) each object is kept as its compact JSON text, LZ4-compressed
//!   ([`ObjectJson`]), not decoded, and written into binding contexts as it is.
//! - Watches recover by themselves: `410 Gone` relists at once, other errors back off by
//!   [`cluster_access::BackoffPolicy::WATCH`] and are logged once per interval with a count.
//!
//! Start-up is a small state machine, [`State`]: `Listing` → `Held` → `Running`.

use crate::binding_context::{BindingContext, ContextKind, ObjectAndFilterResult, ObjectJson};
use crate::config::KubernetesBinding;
use crate::hook::{BindingStore, Change, Hook, ObjKey, StoredObject};
use crate::queue::{Queues, SnapshotRequest, Task};
use crate::resources::ResolvedResource;
use cluster_access::{ListWatch, Update, UpdateStream};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, TypeMeta};
use kube::runtime::watcher;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;
use tokio_stream::StreamMap;

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

/// Where a binding is in its start-up.
enum State {
    /// The streams (and the namespace watch) have not all listed yet: the snapshot fills
    /// silently. Ends by handing the Synchronization to the engine.
    Listing {
        synced: SyncedTx,
        release: oneshot::Receiver<()>,
    },
    /// Synchronization handed over; events wait in `outbox` until the engine has queued every
    /// Synchronization of the set and releases the binding.
    Held {
        release: oneshot::Receiver<()>,
        outbox: Vec<Task>,
    },
    /// Events go to the queue as they come.
    Running,
}

/// The binding's streams.
struct Watches {
    /// Object streams by scope: a namespace, or `""` for all namespaces.
    objects: StreamMap<String, UpdateStream<(ObjKey, StoredObject)>>,
    /// Scopes that have not finished their first list.
    unlisted: HashSet<String>,
    /// The namespace watch, with `namespace.labelSelector` on a namespaced kind.
    namespaces: Option<NamespaceWatch>,
}

struct NamespaceWatch {
    updates: UpdateStream<String>,
    /// Namespaces the selector currently selects (each has an object stream).
    selected: BTreeSet<String>,
    listed: bool,
}

impl Watches {
    fn all_listed(&self) -> bool {
        self.unlisted.is_empty() && self.namespaces.as_ref().is_none_or(|n| n.listed)
    }
}

/// Objects per list page of a binding's (re)list. kube-runtime's default of 500 decodes 500
/// whole objects (`DynamicObject`s, several KB each) before the first is projected; the
/// allocator keeps that memory after the list. At 10,000 watched ConfigMaps pages of 100
/// cost 3.3 MiB less RSS for 80 more list requests, once per (re)list (docs/benchmarks.md).
const LIST_PAGE_SIZE: u32 = 100;

/// Turns watched objects into what the binding keeps: key, filter result and checksum.
struct Projection {
    hook: Arc<Hook>,
    index: usize,
    resource: ApiResource,
}

impl Projection {
    /// `None` for an object `nameSelector` leaves out (a single name is a field selector).
    fn project(&self, mut obj: DynamicObject) -> Option<(ObjKey, StoredObject)> {
        let b = &self.hook.config.kubernetes[self.index];
        let key = (
            obj.metadata.namespace.clone().unwrap_or_default(),
            obj.metadata.name.clone().unwrap_or_default(),
        );
        if b.names.len() >= 2 && !b.names.contains(&key.1) {
            return None;
        }
        if obj.types.is_none() {
            obj.types = Some(TypeMeta {
                api_version: self.resource.api_version.clone(),
                kind: self.resource.kind.clone(),
            });
        }
        // The object's JSON text is what the snapshot keeps (`keepFullObjectsInMemory`) and,
        // without a jqFilter, what the checksum covers; a jqFilter needs it decoded.
        let filter_result = b.jq_filter.as_ref().map(|f| {
            let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
            f.run(&value).unwrap_or_else(|e| {
                tracing::warn!(hook = %self.hook.name, binding = %b.name, error = %e, "jqFilter failed; filterResult is null");
                Value::Null
            })
        });
        let text = (b.keep_full_objects_in_memory || filter_result.is_none())
            .then(|| serde_json::to_string(&obj).unwrap_or_else(|_| "null".to_owned()));
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match (&filter_result, &text) {
            (Some(result), _) => result.to_string().hash(&mut h),
            (None, Some(text)) => text.hash(&mut h),
            (None, None) => {}
        }
        let object = text
            .filter(|_| b.keep_full_objects_in_memory)
            .map(|t| Arc::new(ObjectJson::from_json(t)));
        let stored = StoredObject {
            item: ObjectAndFilterResult {
                object,
                filter_result: filter_result.map(Arc::new),
            },
            checksum: h.finish(),
        };
        Some((key, stored))
    }
}

impl Monitor {
    fn binding(&self) -> &KubernetesBinding {
        &self.hook.config.kubernetes[self.index]
    }

    fn watch_name(&self, scope: &str) -> String {
        let b = self.binding();
        match scope {
            "" => format!("hook {} binding {}", self.hook.name, b.name),
            ns => format!("hook {} binding {} in {ns}", self.hook.name, b.name),
        }
    }

    fn object_stream(&self, namespace: Option<&str>) -> UpdateStream<(ObjKey, StoredObject)> {
        let ar = &self.resource.api_resource;
        let api: Api<DynamicObject> = match namespace {
            Some(ns) if self.resource.namespaced => {
                Api::namespaced_with(self.client.clone(), ns, ar)
            }
            _ => Api::all_with(self.client.clone(), ar),
        };
        let b = self.binding();
        let mut cfg = watcher::Config::default().page_size(LIST_PAGE_SIZE);
        if let Some(l) = &b.label_selector {
            cfg = cfg.labels(l);
        }
        if let Some(f) = &b.field_selector {
            cfg = cfg.fields(f);
        }
        let projection = Projection {
            hook: self.hook.clone(),
            index: self.index,
            resource: ar.clone(),
        };
        ListWatch::new(self.watch_name(namespace.unwrap_or_default())).stream(
            api,
            cfg,
            move |obj| projection.project(obj),
        )
    }

    fn namespace_stream(&self, selector: &str) -> UpdateStream<String> {
        let ar = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Namespace".into(),
            plural: "namespaces".into(),
        };
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let name = format!("{} (namespaces)", self.watch_name(""));
        ListWatch::new(name).stream(
            api,
            watcher::Config::default().labels(selector),
            |ns: DynamicObject| ns.metadata.name,
        )
    }

    fn start_watches(&self) -> Watches {
        let b = self.binding();
        let namespaces = b
            .namespace_label_selector
            .as_ref()
            .filter(|_| self.resource.namespaced)
            .map(|s| NamespaceWatch {
                updates: self.namespace_stream(s),
                selected: BTreeSet::new(),
                listed: false,
            });
        let mut watches = Watches {
            objects: StreamMap::new(),
            unlisted: HashSet::new(),
            namespaces,
        };
        if watches.namespaces.is_none() {
            // Without a namespace label selector the scopes are fixed; with one, they follow
            // the namespaces it selects.
            let scopes: Vec<Option<String>> =
                if self.resource.namespaced && !b.namespaces.is_empty() {
                    b.namespaces.iter().cloned().map(Some).collect()
                } else {
                    vec![None]
                };
            for scope in scopes {
                let key = scope.clone().unwrap_or_default();
                watches.unlisted.insert(key.clone());
                watches
                    .objects
                    .insert(key, self.object_stream(scope.as_deref()));
            }
        }
        watches
    }

    /// Runs until aborted, or until the engine gives up on the set before releasing it.
    pub(crate) async fn run(self, synced: SyncedTx, release: oneshot::Receiver<()>) {
        let mut watches = self.start_watches();
        let mut state = State::Listing { synced, release };
        loop {
            tokio::select! {
                released = released(&mut state) => {
                    if !released {
                        return;
                    }
                    if let State::Held { outbox, .. } = std::mem::replace(&mut state, State::Running) {
                        for task in outbox {
                            self.queues.push(&self.binding().queue, task);
                        }
                    }
                }
                Some((scope, update)) = watches.objects.next(), if !watches.objects.is_empty() => {
                    self.on_objects(&mut watches, &mut state, &scope, update);
                    let held = self.hook.snapshot_len_of(self.index);
                    self.queues.gauge_snapshot(&self.hook.name, &self.binding().name, held);
                }
                Some(update) = next_namespaces(&mut watches.namespaces) => {
                    self.on_namespaces(&mut watches, &mut state, update);
                }
                else => return,
            }
            self.synchronize_when_listed(&watches, &mut state);
        }
    }

    fn on_error(&self) {
        // The watch logged it (throttled) and backs off by itself; here it is only counted.
        self.queues
            .count_watch_error(&self.hook.name, &self.binding().name);
    }

    fn on_objects(
        &self,
        watches: &mut Watches,
        state: &mut State,
        scope: &str,
        update: Result<Update<(ObjKey, StoredObject)>, watcher::Error>,
    ) {
        match update {
            Ok(Update::Listed(listed)) => {
                watches.unlisted.remove(scope);
                self.reconcile_scope(state, scope, listed.into_iter().collect());
            }
            Ok(Update::Applied((key, item))) => {
                let change = self.store().apply(key, item);
                self.emit_all(state, change);
            }
            Ok(Update::Deleted((key, item))) => {
                let change = self.store().delete(&key, Some(item));
                self.emit_all(state, change);
            }
            Err(_) => self.on_error(),
        }
    }

    fn on_namespaces(
        &self,
        watches: &mut Watches,
        state: &mut State,
        update: Result<Update<String>, watcher::Error>,
    ) {
        let Some(ns) = watches.namespaces.as_ref() else {
            return;
        };
        let current = ns.selected.clone();
        match update {
            Ok(Update::Listed(names)) => {
                let listed: BTreeSet<String> = names.into_iter().collect();
                for gone in current.difference(&listed) {
                    self.drop_namespace(watches, state, gone);
                }
                for added in listed.difference(&current) {
                    self.add_namespace(watches, added);
                }
                if let Some(ns) = watches.namespaces.as_mut() {
                    ns.listed = true;
                }
            }
            Ok(Update::Applied(name)) if !current.contains(&name) => {
                self.add_namespace(watches, &name);
            }
            Ok(Update::Applied(_)) => {}
            Ok(Update::Deleted(name)) => self.drop_namespace(watches, state, &name),
            Err(_) => self.on_error(),
        }
    }

    fn add_namespace(&self, watches: &mut Watches, ns: &str) {
        // `namespace.nameSelector` together with `labelSelector`: both must match.
        let names = &self.binding().namespaces;
        if !names.is_empty() && !names.iter().any(|n| n == ns) {
            return;
        }
        if let Some(n) = watches.namespaces.as_mut() {
            n.selected.insert(ns.to_string());
        }
        watches.unlisted.insert(ns.to_string());
        watches
            .objects
            .insert(ns.to_string(), self.object_stream(Some(ns)));
    }

    fn drop_namespace(&self, watches: &mut Watches, state: &mut State, ns: &str) {
        if let Some(n) = watches.namespaces.as_mut() {
            n.selected.remove(ns);
        }
        watches.objects.remove(ns);
        watches.unlisted.remove(ns);
        self.reconcile_scope(state, ns, BTreeMap::new());
    }

    fn store(&self) -> std::sync::MutexGuard<'_, BindingStore> {
        self.hook.stores[self.index]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the snapshot of one scope in line with a fresh list, emitting the differences.
    fn reconcile_scope(
        &self,
        state: &mut State,
        scope: &str,
        listed: BTreeMap<ObjKey, StoredObject>,
    ) {
        let changes = self.store().relist(scope, listed);
        self.emit_all(state, changes.into_iter().map(|(_, c)| c));
    }

    /// While listing the store fills silently; afterwards changes become events, held until
    /// the engine releases the binding.
    fn emit_all(&self, state: &mut State, changes: impl IntoIterator<Item = Change>) {
        if let State::Listing { .. } = state {
            return;
        }
        let b = self.binding();
        for (event, object) in changes {
            if !b.execute_hook_on_event.contains(&event) {
                continue;
            }
            let task = self.task(ContextKind::Event {
                watch_event: event,
                object,
            });
            match state {
                State::Held { outbox, .. } => outbox.push(task),
                _ => self.queues.push(&b.queue, task),
            }
        }
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
        let snapshots =
            SnapshotRequest::for_binding(&self.hook, b.group.as_deref(), &b.include_snapshots_from);
        Task {
            hook: self.hook.clone(),
            contexts: vec![(ctx, snapshots)],
            allow_failure: b.allow_failure,
            queued_at: Instant::now(),
            schedule_binding: None,
            done: Vec::new(),
        }
    }

    /// `Listing` → `Held` once every stream listed: hands the Synchronization to the engine.
    fn synchronize_when_listed(&self, watches: &Watches, state: &mut State) {
        *state = match std::mem::replace(state, State::Running) {
            State::Listing { synced, release } if watches.all_listed() => {
                let b = self.binding();
                let objects = self.hook.snapshot(self.index);
                tracing::info!(hook = %self.hook.name, binding = %b.name, objects = objects.len(), "kubernetes binding synchronized");
                let task = b
                    .execute_hook_on_synchronization
                    .then(|| self.task(ContextKind::Synchronization { objects }));
                let _ = synced.send(task);
                State::Held {
                    release,
                    outbox: Vec::new(),
                }
            }
            other => other,
        };
    }
}

/// Resolves when a `Held` binding is released (`true`) or the engine gave up on it (`false`);
/// never in other states.
async fn released(state: &mut State) -> bool {
    match state {
        State::Held { release, .. } => release.await.is_ok(),
        _ => std::future::pending().await,
    }
}

async fn next_namespaces(
    namespaces: &mut Option<NamespaceWatch>,
) -> Option<Result<Update<String>, watcher::Error>> {
    match namespaces.as_mut() {
        Some(ns) => ns.updates.next().await,
        None => std::future::pending().await,
    }
}
