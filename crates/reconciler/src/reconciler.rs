//! The [`Reconciler`]: apply a module's objects, prune what it no longer renders, delete it.

use crate::cluster::{self, DeleteOutcome};
use crate::discovery::DiscoveryCache;
use crate::error::ApplyError;
use crate::inventory::{Inventory, InventoryEntry, Phase, pending_union};
use crate::objref::{ObjectKey, ObjectRef};
use crate::plan::{prune_plan, sort_for_delete};
use crate::prepare::{Prepared, Resolved, crd_hints, gvk_of, prepare};
use crate::report::{ApplyOptions, ApplyReport, DeleteReport};
use crate::stages::Live;
use crate::store::InventoryStore;
use crate::tracker::Tracker;
use futures::{StreamExt, TryStreamExt, stream};
use kube::Client;
use kube::api::GroupVersionKind;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Applies modules' objects with server-side apply, keeps their inventories, prunes and deletes
/// exactly what they applied, and feeds the drift watch.
///
/// Cheap to clone (shared client, discovery cache and tracking state).
///
/// # Assumptions
/// One apply or delete per module at a time (the operator's per-module queue guarantees it);
/// different modules may be reconciled concurrently.
#[derive(Clone)]
pub struct Reconciler {
    pub(crate) client: Client,
    namespace: String,
    pub(crate) discovery: Arc<DiscoveryCache>,
    store: InventoryStore,
    pub(crate) tracker: Arc<Tracker>,
    pub(crate) concurrency: usize,
    pub(crate) ready_timeout: Duration,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("namespace", &self.namespace)
            .field("concurrency", &self.concurrency)
            .field("ready_timeout", &self.ready_timeout)
            .finish_non_exhaustive()
    }
}

impl Reconciler {
    /// A reconciler using `client`, keeping inventories in `namespace` (the operator namespace).
    pub fn new(client: Client, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        let tracker = Arc::<Tracker>::default();
        Reconciler {
            store: InventoryStore::new(client.clone(), &namespace, tracker.clone()),
            client,
            namespace,
            discovery: Arc::default(),
            tracker,
            concurrency: 8,
            ready_timeout: Duration::from_secs(60),
        }
    }

    /// How many requests of one stage run concurrently (default 8, minimum 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How long to wait for CRDs to be Established, Namespaces Active and recreated objects
    /// to disappear (default 60 s, Flux's default).
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Starts the drift watch: a stream of [`crate::DriftEvent`]s for objects this reconciler
    /// applied (or found unchanged) that someone else has since changed or deleted, debounced by
    /// `debounce` (200-500 ms is a good value) and grouped per module.
    ///
    /// # Guarantees
    /// The reconciler's own writes, prunes and deletes never produce an event. Objects applied
    /// before the watch started are covered too; kinds applied later get their watcher on their
    /// first apply.
    ///
    /// # Caveats
    /// Must be called inside a tokio runtime. Only objects applied by this process are tracked:
    /// after a restart, a module is covered once it has been applied again. Any foreign write
    /// counts, including status updates by controllers; re-applying such a module is cheap (a
    /// dry-run, no write).
    pub fn drift_watch(&self, debounce: Duration) -> crate::DriftWatch {
        crate::drift::start(self.client.clone(), self.tracker.clone(), debounce)
    }

    /// The operator namespace, where inventories live.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The module's inventory as stored, `None` if the module has none.
    ///
    /// # Errors
    /// [`ApplyError::Inventory`] or [`ApplyError::CorruptInventory`].
    pub async fn inventory(&self, module: &str) -> Result<Option<Inventory>, ApplyError> {
        self.store.read(module).await
    }

    /// Makes the cluster match `objects` for `module`: applies what differs, prunes what the
    /// module no longer renders, records the result in the module's inventory.
    ///
    /// Steps: prepare every object (labels, namespace, kind resolution, hash) → read the
    /// inventory → refuse an empty render → write a pending inventory if new objects will be
    /// created → look up live resourceVersions (drift-watch cache or one list per kind; skipped
    /// when the module has no inventory yet) → apply stage by stage (waiting for
    /// CRDs/Namespaces after the first), skipping unchanged objects → prune → write the final
    /// inventory (only if something changed).
    ///
    /// # Guarantees
    /// - An unchanged object is not written: it is skipped when its content hash equals the
    ///   inventory's and its live resourceVersion equals the one our last apply returned, and
    ///   otherwise a server-side dry-run decides. A second identical apply makes zero writes.
    /// - Prune never deletes an object absent from the inventory, nor one that no longer carries
    ///   `addon-operator.io/module=<module>` (it is reported in `prune_skipped`), and deletes
    ///   with a uid precondition.
    /// - A failed preparation or apply prunes nothing and leaves the previous inventory entries
    ///   as they were (plus pending entries for objects this apply may have created).
    /// - Crash safety: every object is created only after an inventory listing it is stored
    ///   (see `docs/reconciler.md`), so a process killed at any point leaves no orphan.
    ///
    /// # Errors
    /// [`ApplyError::InvalidObjects`], [`ApplyError::Discovery`], [`ApplyError::EmptyRender`],
    /// [`ApplyError::Immutable`], [`ApplyError::Api`], [`ApplyError::NotReady`],
    /// [`ApplyError::Objects`] (several failures of one stage, or failed prunes),
    /// [`ApplyError::Inventory`], [`ApplyError::CorruptInventory`].
    pub async fn apply_module(
        &self,
        module: &str,
        objects: Vec<Value>,
        opts: &ApplyOptions,
    ) -> Result<ApplyReport, ApplyError> {
        let default_namespace = opts.default_namespace.as_deref().unwrap_or(&self.namespace);
        let prepared = self.prepare_all(module, objects, default_namespace).await?;
        let old = self.store.read(module).await?;
        let previous = old.as_ref().map_or(0, |i| i.objects.len());
        if prepared.is_empty() && previous > 0 && !opts.allow_empty {
            return Err(ApplyError::EmptyRender {
                module: module.to_string(),
                previous,
            });
        }
        let new_refs: Vec<ObjectRef> = prepared.iter().map(|p| p.object_ref.clone()).collect();
        let pending = pending_union(module, old.as_ref(), &new_refs, now());
        if let Some(pending) = &pending {
            self.store.write(pending).await?;
        }
        // A module without an inventory has nothing recorded to compare against: every object
        // is applied (server-side apply of identical content is a no-op on the server), so
        // listing what is live would only cost requests.
        let live = match &old {
            Some(_) => self.observe(module, &prepared).await?,
            None => HashMap::new(),
        };
        let mut report = ApplyReport {
            module: module.to_string(),
            ..ApplyReport::default()
        };
        let recorded = old
            .as_ref()
            .map(Inventory::entries_by_key)
            .unwrap_or_default();
        let entries = self
            .apply_stages(module, &prepared, &recorded, &live, &mut report)
            .await?;
        let kept = self
            .prune(module, old.as_ref(), &new_refs, &mut report)
            .await;
        let (kept_entries, prune_errors): (Vec<_>, Vec<_>) = kept.into_iter().unzip();
        let mut objects = entries;
        objects.extend(kept_entries);
        let changed = report.object_writes() > 0 || pending.is_some();
        let (revision, written) = self
            .record(module, old.as_ref(), objects, &opts.checksum, changed)
            .await?;
        report.revision = revision;
        report.inventory_written = written;
        if prune_errors.is_empty() {
            Ok(report)
        } else {
            Err(ApplyError::Objects {
                module: module.to_string(),
                errors: prune_errors,
            })
        }
    }

    /// Writes the final inventory, unless nothing was written and it would record the same
    /// objects, hashes and checksum as the stored one; returns (revision, written).
    async fn record(
        &self,
        module: &str,
        old: Option<&Inventory>,
        objects: Vec<InventoryEntry>,
        checksum: &str,
        changed: bool,
    ) -> Result<(u64, bool), ApplyError> {
        let mut inventory = Inventory {
            module: module.to_string(),
            revision: old.map_or(0, |i| i.revision),
            phase: Phase::Applied,
            checksum: checksum.to_string(),
            updated_at: now(),
            objects,
        };
        let same = old.is_some_and(|o| o.phase == Phase::Applied && o.same_content(&inventory));
        if same && !changed {
            return Ok((inventory.revision, false));
        }
        inventory.revision += 1;
        self.store.write(&inventory).await?;
        Ok((inventory.revision, true))
    }

    /// Deletes every object of the module's inventory (reverse apply order, background
    /// propagation), then the inventory Secret.
    ///
    /// # Guarantees
    /// Only objects listed in the inventory and still labelled `addon-operator.io/module=<module>`
    /// are deleted. If any delete fails, the inventory is kept so a retry can finish the job.
    ///
    /// # Errors
    /// [`ApplyError::Objects`] listing failed deletes, [`ApplyError::Inventory`],
    /// [`ApplyError::CorruptInventory`].
    pub async fn delete_module(&self, module: &str) -> Result<DeleteReport, ApplyError> {
        let mut report = DeleteReport {
            module: module.to_string(),
            ..DeleteReport::default()
        };
        let Some(inventory) = self.store.read(module).await? else {
            return Ok(report);
        };
        let mut refs: Vec<ObjectRef> = inventory.refs().cloned().collect();
        sort_for_delete(&mut refs);
        let mut errors = Vec::new();
        for object in refs {
            match self.delete_one(module, &object).await {
                Ok(DeleteOutcome::Deleted) => report.deleted.push(object),
                Ok(DeleteOutcome::Absent) => report.absent.push(object),
                Ok(DeleteOutcome::NotOurs) => report.not_ours.push(object),
                Err(err) => errors.push(err),
            }
        }
        if !errors.is_empty() {
            return Err(ApplyError::Objects {
                module: module.to_string(),
                errors,
            });
        }
        self.store.delete(module).await?;
        Ok(report)
    }

    /// Resolves, checks and prepares every rendered object, reporting every problem at once;
    /// returns them sorted into apply order.
    async fn prepare_all(
        &self,
        module: &str,
        objects: Vec<Value>,
        default_namespace: &str,
    ) -> Result<Vec<Prepared>, ApplyError> {
        let hints = crd_hints(&objects);
        let mut problems = Vec::new();
        let mut errors = Vec::new();
        let mut prepared: Vec<Prepared> = Vec::with_capacity(objects.len());
        let mut seen = HashSet::new();
        for (index, object) in objects.into_iter().enumerate() {
            let Some(gvk) = gvk_of(&object) else {
                problems.push(format!("object #{index}: apiVersion and kind are required"));
                continue;
            };
            let resolved = match hints.get(&gvk) {
                Some(resolved) => resolved.clone(),
                None => match self.resolve(module, &gvk, &rendered_name(&object)).await {
                    Ok(resolved) => resolved,
                    Err(err) => {
                        errors.push(err);
                        continue;
                    }
                },
            };
            match prepare(module, object, resolved, default_namespace) {
                Ok(p) if !seen.insert(p.object_ref.key()) => {
                    problems.push(format!("{}: rendered more than once", p.object_ref));
                }
                Ok(p) => prepared.push(p),
                Err(problem) => problems.push(format!("object #{index} ({}): {problem}", gvk.kind)),
            }
        }
        if !problems.is_empty() {
            errors.insert(
                0,
                ApplyError::InvalidObjects {
                    module: module.to_string(),
                    problems,
                },
            );
        }
        match errors.len() {
            0 => {
                prepared.sort_by_key(|p| p.object_ref.rank());
                Ok(prepared)
            }
            1 => Err(errors.remove(0)),
            _ => Err(ApplyError::Objects {
                module: module.to_string(),
                errors,
            }),
        }
    }

    async fn resolve(
        &self,
        module: &str,
        gvk: &GroupVersionKind,
        object: &str,
    ) -> Result<Resolved, ApplyError> {
        let failed = |source| ApplyError::Discovery {
            module: module.to_string(),
            object: object.to_string(),
            api_version: gvk.api_version(),
            kind: gvk.kind.clone(),
            source,
        };
        match self.discovery.resolve(&self.client, gvk).await {
            Ok(Some(resolved)) => Ok(resolved),
            Ok(None) => Err(failed(None)),
            Err(err) => Err(failed(Some(err))),
        }
    }

    /// What is live of the module's objects, by identity: from the drift watch's cache for kinds
    /// it has synced, otherwise one labelled list request per resource.
    async fn observe(
        &self,
        module: &str,
        prepared: &[Prepared],
    ) -> Result<HashMap<ObjectKey, Live>, ApplyError> {
        let mut by_resource: HashMap<(String, String, String), Vec<&Prepared>> = HashMap::new();
        for p in prepared {
            let r = &p.resolved.resource;
            by_resource
                .entry((r.group.clone(), r.version.clone(), r.plural.clone()))
                .or_default()
                .push(p);
        }
        let mut live = HashMap::new();
        let mut to_list = Vec::new();
        for objects in by_resource.into_values() {
            let r = &objects[0].resolved.resource;
            let keys: Vec<ObjectKey> = objects.iter().map(|p| p.object_ref.key()).collect();
            match self.tracker.live_of(&r.group, &r.kind, &keys) {
                Some(rvs) => live.extend(
                    rvs.into_iter()
                        .map(|(key, rv)| (key, Live { rv, object: None })),
                ),
                None => to_list.push(objects[0]),
            }
        }
        let lists = stream::iter(to_list)
            .map(|p| async move {
                cluster::list_owned(&self.client, &p.resolved, module)
                    .await
                    .map(|items| (p, items))
                    .map_err(|source| ApplyError::Api {
                        module: module.to_string(),
                        action: "list",
                        object: p.object_ref.clone(),
                        source,
                    })
            })
            .buffer_unordered(self.concurrency)
            .try_collect::<Vec<_>>()
            .await?;
        for (p, items) in lists {
            let group = &p.resolved.resource.group;
            let kind = &p.resolved.resource.kind;
            for item in items {
                let (name, namespace) = cluster::name_and_namespace(&item);
                let rv = cluster::resource_version(&item).unwrap_or_default();
                let key = (group.clone(), kind.clone(), namespace, name);
                live.insert(
                    key,
                    Live {
                        rv,
                        object: Some(item),
                    },
                );
            }
        }
        Ok(live)
    }

    /// Prunes objects of `old` missing from `new` in reverse apply order; returns the entries
    /// that could not be pruned (kept in the inventory for a retry) with their errors.
    async fn prune(
        &self,
        module: &str,
        old: Option<&Inventory>,
        new: &[ObjectRef],
        report: &mut ApplyReport,
    ) -> Vec<(InventoryEntry, ApplyError)> {
        let Some(old) = old else {
            return Vec::new();
        };
        let mut failed = Vec::new();
        for object in prune_plan(old.refs(), new) {
            match self.delete_one(module, &object).await {
                Ok(DeleteOutcome::Deleted | DeleteOutcome::Absent) => report.pruned.push(object),
                Ok(DeleteOutcome::NotOurs) => report.prune_skipped.push(object),
                Err(err) => failed.push((InventoryEntry::pending(object), err)),
            }
        }
        failed
    }

    /// Guarded delete of one inventory object (see [`cluster::delete_owned`]); a kind the
    /// server no longer serves means the object cannot exist.
    async fn delete_one(
        &self,
        module: &str,
        object: &ObjectRef,
    ) -> Result<DeleteOutcome, ApplyError> {
        let value = serde_json::json!({"apiVersion": object.api_version, "kind": object.kind});
        let Some(gvk) = gvk_of(&value) else {
            return Ok(DeleteOutcome::Absent);
        };
        let resolved = match self.discovery.resolve(&self.client, &gvk).await {
            Ok(Some(resolved)) => resolved,
            Ok(None) => return Ok(DeleteOutcome::Absent),
            Err(source) => {
                return Err(ApplyError::Discovery {
                    module: module.to_string(),
                    object: object.to_string(),
                    api_version: object.api_version.clone(),
                    kind: object.kind.clone(),
                    source: Some(source),
                });
            }
        };
        self.tracker.forget(object);
        cluster::delete_owned(&self.client, &resolved, object, module)
            .await
            .map_err(|source| ApplyError::Api {
                module: module.to_string(),
                action: "delete",
                object: object.clone(),
                source,
            })
    }
}

/// `Kind/namespace/name` of a rendered object, with whatever parts it has.
fn rendered_name(object: &Value) -> String {
    let part = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    [
        part(&object["kind"]),
        part(&object["metadata"]["namespace"]),
        part(&object["metadata"]["name"]),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("/")
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rendered_name_shows_whatever_identifies_the_object() {
        let full = json!({"kind": "Widget", "metadata": {"namespace": "ns", "name": "w"}});
        assert_eq!(rendered_name(&full), "Widget/ns/w");
        let partial = json!({"kind": "Widget", "metadata": {"name": ""}});
        assert_eq!(rendered_name(&partial), "Widget");
    }
}
