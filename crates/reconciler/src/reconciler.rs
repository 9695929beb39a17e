//! The [`Reconciler`]: apply a module's objects, prune what it no longer renders, delete it.

use crate::cluster::DeleteOutcome;
use crate::engine::Engine;
use crate::error::ApplyError;
use crate::inventory::{Inventory, InventoryEntry, Phase, pending_union};
use crate::objref::ObjectRef;
use crate::ownership::Claims;
use crate::plan::{prune_plan, sort_for_delete};
use crate::prepare::{InvalidObject, PrepareError, Prepared, crd_hints, gvk_of, prepare};
use crate::report::{ApplyOptions, ApplyReport, DeleteReport};
use crate::store::InventoryStore;
use crate::tracker::Tracker;
use kube::Client;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Applies modules' objects with server-side apply, keeps their inventories, prunes and deletes
/// exactly what they applied, and feeds the drift watch.
///
/// Cheap to clone (shared client, discovery cache, tracking state and claims).
///
/// # Assumptions
/// One apply or delete per module at a time (the operator's per-module queue guarantees it);
/// different modules may be reconciled concurrently.
#[derive(Clone)]
pub struct Reconciler {
    engine: Engine,
    namespace: String,
    store: InventoryStore,
    claims: Arc<Claims>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("namespace", &self.namespace)
            .field("concurrency", &self.engine.concurrency)
            .field("ready_timeout", &self.engine.ready_timeout)
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
            engine: Engine {
                client,
                discovery: Arc::default(),
                tracker,
                concurrency: 8,
                ready_timeout: Duration::from_secs(60),
            },
            namespace,
            claims: Arc::default(),
        }
    }

    /// How many requests of one stage (or of one ownership check) run concurrently (default 8,
    /// minimum 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.engine.concurrency = concurrency.max(1);
        self
    }

    /// How long to wait for CRDs to be Established, Namespaces Active and recreated objects
    /// to disappear (default 60 s, Flux's default).
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.engine.ready_timeout = timeout;
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
        crate::drift::start(
            self.engine.client.clone(),
            self.engine.tracker.clone(),
            debounce,
        )
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
        Ok(self
            .store
            .read(module)
            .await?
            .map(|stored| stored.inventory))
    }

    /// Makes the cluster match `objects` for `module`: applies what differs, prunes what the
    /// module no longer renders, records the result in the module's inventory.
    ///
    /// Steps: prepare every object (labels, namespace, kind resolution, hash) → read the
    /// inventory → refuse an empty render → survey: live resourceVersions (drift-watch cache or
    /// one list per kind; skipped when the module has no inventory yet) and the ownership check
    /// of every object the module's live view does not vouch for → write a pending inventory if
    /// new objects will be created → apply stage by stage (waiting for CRDs/Namespaces after
    /// the first), skipping unchanged objects → prune → write the final inventory (only if
    /// something changed).
    ///
    /// # Guarantees
    /// - One owner per object: an object carrying another module's label, or being created by
    ///   another module's apply in this process, is refused ([`ApplyError::OwnedByOtherModule`]).
    /// - Adoption only when told: an existing object without a module label that the inventory
    ///   does not record as ours is written only if it carries `addon-operator.io/adopt: "true"`
    ///   or Helm's `meta.helm.sh/release-name` naming the module (and
    ///   `meta.helm.sh/release-namespace` the operator namespace, when present); otherwise it is
    ///   refused ([`ApplyError::NotAdopted`], with the `kubectl annotate` command).
    /// - A refusal happens before anything is written: nothing of the module is applied, and
    ///   the refused object never enters the inventory, not even the pending one.
    /// - A write after an ownership check carries the resourceVersion read as a precondition;
    ///   an object found absent must be created by our request (a 201), else it is released
    ///   ([`ApplyError::CreatedMeanwhile`]).
    /// - An unchanged object is not written: it is skipped when its content hash equals the
    ///   inventory's and its live resourceVersion equals the one our last apply returned, and
    ///   otherwise a server-side dry-run decides. A second identical apply makes zero writes.
    /// - Prune never deletes an object absent from the inventory, nor one that no longer carries
    ///   `addon-operator.io/module=<module>` (it is reported in `prune_skipped`), and deletes
    ///   with a uid precondition. A failed prune keeps the object in the inventory and is
    ///   reported as an error, so the caller's retry prunes it.
    /// - A failed preparation or apply prunes nothing and leaves the previous inventory entries
    ///   as they were (plus pending entries for objects this apply may have created).
    /// - Inventory writes are fenced by the resourceVersion they were computed from: a stale
    ///   writer gets [`ApplyError::InventoryConflict`] and overwrites nothing.
    /// - Crash safety: every object is created only after an inventory listing it is stored
    ///   (see `docs/reconciler.md`), so a process killed at any point leaves no orphan.
    ///
    /// # Errors
    /// [`ApplyError::InvalidObjects`], [`ApplyError::Discovery`], [`ApplyError::EmptyRender`],
    /// [`ApplyError::OwnedByOtherModule`], [`ApplyError::NotAdopted`],
    /// [`ApplyError::CreatedMeanwhile`], [`ApplyError::Immutable`], [`ApplyError::Api`],
    /// [`ApplyError::NotReady`], [`ApplyError::Objects`] (several failures of one step, or failed
    /// prunes), [`ApplyError::Inventory`], [`ApplyError::InventoryConflict`],
    /// [`ApplyError::CorruptInventory`].
    pub async fn apply_module(
        &self,
        module: &str,
        objects: Vec<Value>,
        opts: &ApplyOptions,
    ) -> Result<ApplyReport, ApplyError> {
        self.apply_objects(module, objects, opts, Mode::Converge)
            .await
    }

    /// Applies `objects` for `module` the way [`Reconciler::apply_module`] does — ownership
    /// checks, staged apply, waiting for CRDs to be Established and Namespaces Active — but
    /// prunes nothing: the module's other objects stay, and `objects` join its inventory.
    ///
    /// For what must exist before the rest of a module runs: its CRDs, before hooks bound to
    /// its own kinds start (addon-operator's `ModuleEnsureCRDs`). The module's next
    /// [`Reconciler::apply_module`] prunes as usual.
    ///
    /// # Guarantees
    /// - Every guarantee of [`Reconciler::apply_module`] about ownership, adoption, refusals,
    ///   unchanged objects, inventory fencing and crash safety.
    /// - No object is deleted, and every entry of the inventory stays; its checksum stays the
    ///   one of the module's last full apply, so that apply is not mistaken for this one.
    ///
    /// # Errors
    /// As [`Reconciler::apply_module`], except [`ApplyError::EmptyRender`]: an empty `objects`
    /// does nothing.
    pub async fn ensure_objects(
        &self,
        module: &str,
        objects: Vec<Value>,
    ) -> Result<ApplyReport, ApplyError> {
        if objects.is_empty() {
            return Ok(ApplyReport {
                module: module.to_string(),
                ..ApplyReport::default()
            });
        }
        self.apply_objects(module, objects, &ApplyOptions::default(), Mode::Ensure)
            .await
    }

    async fn apply_objects(
        &self,
        module: &str,
        objects: Vec<Value>,
        opts: &ApplyOptions,
        mode: Mode,
    ) -> Result<ApplyReport, ApplyError> {
        let default_namespace = opts.default_namespace.as_deref().unwrap_or(&self.namespace);
        let prepared = self.prepare_all(module, objects, default_namespace).await?;
        let stored = self.store.read(module).await?;
        let old = stored.as_ref().map(|s| &s.inventory);
        let previous = old.map_or(0, |i| i.objects.len());
        if mode == Mode::Converge && prepared.is_empty() && previous > 0 && !opts.allow_empty {
            return Err(ApplyError::EmptyRender {
                module: module.to_string(),
                previous,
            });
        }
        let recorded = old.map(Inventory::entries_by_key).unwrap_or_default();
        // On a module's first apply there is nothing recorded to compare live objects with, so
        // they are not listed: the ownership check reads each one instead.
        let (survey, _claims) = self
            .engine
            .survey(
                module,
                &self.namespace,
                &prepared,
                &recorded,
                old.is_some(),
                &self.claims,
            )
            .await?;
        let new_refs: Vec<ObjectRef> = prepared.iter().map(|p| p.object_ref.clone()).collect();
        let mut base = stored.as_ref().map(|s| s.resource_version.clone());
        let pending = pending_union(module, old, &new_refs, now());
        if let Some(pending) = &pending {
            base = Some(self.store.write(pending, base.as_deref()).await?);
        }
        let mut report = ApplyReport {
            module: module.to_string(),
            ..ApplyReport::default()
        };
        let mut objects = self
            .engine
            .apply_stages(module, &prepared, &recorded, &survey, &mut report)
            .await?;
        let (checksum, prune_errors) = match (mode, old) {
            (Mode::Converge, _) => {
                let kept = self.prune(module, old, &new_refs, &mut report).await;
                let (kept_entries, prune_errors): (Vec<_>, Vec<_>) = kept.into_iter().unzip();
                objects.extend(kept_entries);
                (opts.checksum.as_str(), prune_errors)
            }
            (Mode::Ensure, Some(old)) => {
                let applied: HashSet<_> = new_refs.iter().map(ObjectRef::key).collect();
                objects.extend(
                    old.objects
                        .iter()
                        .filter(|e| !applied.contains(&e.object.key()))
                        .cloned(),
                );
                (old.checksum.as_str(), Vec::new())
            }
            (Mode::Ensure, None) => ("", Vec::new()),
        };
        let changed = report.object_writes() > 0 || pending.is_some();
        let (revision, written) = self
            .record(module, old, objects, checksum, changed, base.as_deref())
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
        base: Option<&str>,
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
        self.store.write(&inventory, base).await?;
        Ok((inventory.revision, true))
    }

    /// Deletes every object of the module's inventory (reverse apply order, background
    /// propagation), then the inventory Secret.
    ///
    /// # Guarantees
    /// - Only objects listed in the inventory and still labelled
    ///   `addon-operator.io/module=<module>` are deleted (with a uid precondition).
    /// - If any delete fails, the error lists it and the inventory Secret is left as it was, so
    ///   calling `delete_module` again (the caller's retry, with backoff) finishes the job:
    ///   objects already deleted then count as absent.
    /// - The inventory Secret is deleted with a resourceVersion precondition: if another writer
    ///   changed it meanwhile, it stays ([`ApplyError::InventoryConflict`]).
    ///
    /// # Errors
    /// [`ApplyError::Objects`] listing failed deletes, [`ApplyError::Inventory`],
    /// [`ApplyError::InventoryConflict`], [`ApplyError::CorruptInventory`].
    pub async fn delete_module(&self, module: &str) -> Result<DeleteReport, ApplyError> {
        let mut report = DeleteReport {
            module: module.to_string(),
            ..DeleteReport::default()
        };
        let Some(stored) = self.store.read(module).await? else {
            return Ok(report);
        };
        let mut refs: Vec<ObjectRef> = stored.inventory.refs().cloned().collect();
        sort_for_delete(&mut refs);
        let mut errors = Vec::new();
        for object in refs {
            match self.engine.delete_one(module, &object).await {
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
        self.store.delete(module, &stored.resource_version).await?;
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
                problems.push(InvalidObject {
                    object: format!("object #{index}"),
                    problem: PrepareError::MissingType,
                });
                continue;
            };
            let resolved = match hints.get(&gvk) {
                Some(resolved) => resolved.clone(),
                None => match self
                    .engine
                    .resolve(module, &gvk, &rendered_name(&object))
                    .await
                {
                    Ok(resolved) => resolved,
                    Err(err) => {
                        errors.push(err);
                        continue;
                    }
                },
            };
            match prepare(module, object, resolved, default_namespace) {
                Ok(p) if !seen.insert(p.object_ref.key()) => problems.push(InvalidObject {
                    object: p.object_ref.to_string(),
                    problem: PrepareError::Duplicate,
                }),
                Ok(p) => prepared.push(p),
                Err(problem) => problems.push(InvalidObject {
                    object: format!("object #{index} ({})", gvk.kind),
                    problem,
                }),
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
            match self.engine.delete_one(module, &object).await {
                Ok(DeleteOutcome::Deleted | DeleteOutcome::Absent) => report.pruned.push(object),
                Ok(DeleteOutcome::NotOurs) => report.prune_skipped.push(object),
                Err(err) => failed.push((InventoryEntry::pending(object), err)),
            }
        }
        failed
    }
}

/// What an apply does with the module's objects it was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// They are no longer rendered: prune them.
    Converge,
    /// They are not part of this apply: keep them.
    Ensure,
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
