//! Applying prepared objects stage by stage: skip what is unchanged, write what differs,
//! recreate on immutable-field errors when allowed, wait for CRDs and Namespaces.

use crate::cluster;
use crate::error::ApplyError;
use crate::inventory::InventoryEntry;
use crate::objref::ObjectKey;
use crate::order::Stage;
use crate::plan;
use crate::prepare::Prepared;
use crate::reconciler::Reconciler;
use crate::report::ApplyReport;
use crate::tracker::Seen;
use futures::{StreamExt, stream};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// What is known of a live object before applying: its resourceVersion, and the object itself
/// when it was listed (from the drift watch's cache only the resourceVersion is known).
#[derive(Debug, Clone)]
pub struct Live {
    /// `metadata.resourceVersion`.
    pub rv: String,
    /// The object, if listed.
    pub object: Option<Value>,
}

/// How one object ended up.
pub(crate) enum Outcome {
    Created,
    Updated,
    Recreated,
    Unchanged,
}

impl Reconciler {
    /// Applies the prepared objects stage by stage; returns the inventory entries.
    pub(crate) async fn apply_stages(
        &self,
        module: &str,
        prepared: &[Prepared],
        recorded: &BTreeMap<ObjectKey, &InventoryEntry>,
        live: &HashMap<ObjectKey, Live>,
        report: &mut ApplyReport,
    ) -> Result<Vec<InventoryEntry>, ApplyError> {
        let mut entries = Vec::with_capacity(prepared.len());
        for stage in prepared.chunk_by(|a, b| stage_of(a) == stage_of(b)) {
            let results: Vec<_> = stream::iter(stage)
                .map(|p| {
                    let key = p.object_ref.key();
                    self.apply_one(module, p, recorded.get(&key).copied(), live.get(&key))
                })
                .buffered(self.concurrency)
                .collect()
                .await;
            let mut errors = Vec::new();
            let mut to_wait = Vec::new();
            for (p, result) in stage.iter().zip(results) {
                match result {
                    Ok((outcome, object)) => {
                        let list = match outcome {
                            Outcome::Created => &mut report.created,
                            Outcome::Updated => &mut report.updated,
                            Outcome::Recreated => &mut report.recreated,
                            Outcome::Unchanged => &mut report.unchanged,
                        };
                        list.push(p.object_ref.clone());
                        if !cluster::is_ready(&object) {
                            to_wait.push(p);
                        }
                        entries.push(InventoryEntry {
                            object: p.object_ref.clone(),
                            hash: Some(p.hash.clone()),
                            resource_version: cluster::resource_version(&object),
                        });
                    }
                    Err(err) => errors.push(err),
                }
            }
            match errors.len() {
                0 => {}
                1 => return Err(errors.remove(0)),
                _ => {
                    return Err(ApplyError::Objects {
                        module: module.to_string(),
                        errors,
                    });
                }
            }
            for p in to_wait {
                self.wait_ready(module, p).await?;
            }
        }
        Ok(entries)
    }

    /// Applies one object unless it is already as desired; returns what happened and the
    /// object as the server returned it (or as listed; only its resourceVersion when skipped
    /// on the strength of the drift watch's cache, which knows nothing more).
    pub(crate) async fn apply_one(
        &self,
        module: &str,
        p: &Prepared,
        recorded: Option<&InventoryEntry>,
        live: Option<&Live>,
    ) -> Result<(Outcome, Value), ApplyError> {
        let api_error = |action, source| ApplyError::Api {
            module: module.to_string(),
            action,
            object: p.object_ref.clone(),
            source,
        };
        let unchanged = |live: &Live| {
            let object = live
                .object
                .clone()
                .unwrap_or_else(|| serde_json::json!({"metadata": {"resourceVersion": live.rv}}));
            (Outcome::Unchanged, object)
        };
        let action = plan::decide(&p.hash, recorded, live.map(|l| l.rv.as_str()));
        let mut exists = live.is_some();
        match (action, live) {
            (plan::Action::Skip, Some(live)) => {
                self.note_unchanged(module, p, &live.rv, live.object.as_ref());
                return Ok(unchanged(live));
            }
            (plan::Action::DryRun, Some(live)) => {
                let fetched = match &live.object {
                    Some(object) => Some(object.clone()),
                    None => cluster::get(&self.client, &p.resolved, &p.object_ref)
                        .await
                        .map_err(|e| api_error("get", e))?,
                };
                exists = fetched.is_some();
                if let Some(current) = fetched {
                    let dry =
                        cluster::apply(&self.client, &p.resolved, &p.object_ref, &p.body, true)
                            .await;
                    match dry {
                        Ok(dry) if plan::dry_run_is_noop(&dry, &current) => {
                            let rv = cluster::resource_version(&current).unwrap_or_default();
                            self.note_unchanged(module, p, &rv, Some(&current));
                            return Ok((Outcome::Unchanged, current));
                        }
                        // An immutable rejection is handled (and reported) by the real apply.
                        Ok(_) => {}
                        Err(err) if cluster::immutable_message(&err).is_some() => {}
                        Err(err) => return Err(api_error("dry-run apply", err)),
                    }
                }
            }
            _ => {}
        }
        let outcome = if exists {
            Outcome::Updated
        } else {
            Outcome::Created
        };
        self.write(module, p, outcome).await
    }

    fn note_unchanged(&self, module: &str, p: &Prepared, rv: &str, current: Option<&Value>) {
        self.tracker
            .observed(module, &p.object_ref, &p.resolved, rv, current);
    }

    /// The real apply, with delete-and-recreate on immutable-field errors when opted in.
    async fn write(
        &self,
        module: &str,
        p: &Prepared,
        outcome: Outcome,
    ) -> Result<(Outcome, Value), ApplyError> {
        self.tracker.begin(module, &p.object_ref, &p.resolved);
        let mut result = cluster::apply(&self.client, &p.resolved, &p.object_ref, &p.body, false)
            .await
            .map(|object| (outcome, object));
        if let Err(err) = &result
            && let Some(message) = cluster::immutable_message(err)
        {
            result = if p.recreate_on_immutable {
                self.recreate(module, p)
                    .await
                    .map(|o| (Outcome::Recreated, o))
            } else {
                self.tracker
                    .finish(module, &p.object_ref, &p.resolved, None);
                return Err(ApplyError::Immutable {
                    module: module.to_string(),
                    object: p.object_ref.clone(),
                    message,
                });
            };
        }
        let written = result.as_ref().ok().and_then(|(_, o)| Seen::from_value(o));
        self.tracker
            .finish(module, &p.object_ref, &p.resolved, written);
        if let Err(err) = &result
            && cluster::is_not_found(err)
        {
            let gvk = &p.resolved.resource;
            self.discovery.invalidate(&gvk.group, &gvk.version);
        }
        result.map_err(|source| ApplyError::Api {
            module: module.to_string(),
            action: "apply",
            object: p.object_ref.clone(),
            source,
        })
    }

    /// Deletes the object, waits until it is gone, applies it again.
    async fn recreate(&self, module: &str, p: &Prepared) -> Result<Value, kube::Error> {
        let api = cluster::api_for(&self.client, &p.resolved, p.object_ref.namespace.as_deref());
        tracing::info!(module, object = %p.object_ref, "recreating object after immutable-field rejection");
        match api
            .delete(&p.object_ref.name, &kube::api::DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(err) if cluster::is_not_found(&err) => {}
            Err(err) => return Err(err),
        }
        cluster::poll_until(
            &self.client,
            &p.resolved,
            &p.object_ref,
            self.ready_timeout,
            |o| o.is_none(),
        )
        .await?;
        cluster::apply(&self.client, &p.resolved, &p.object_ref, &p.body, false).await
    }

    /// Waits until a CRD is Established or a Namespace Active.
    async fn wait_ready(&self, module: &str, p: &Prepared) -> Result<(), ApplyError> {
        let ready = cluster::poll_until(
            &self.client,
            &p.resolved,
            &p.object_ref,
            self.ready_timeout,
            |o| o.is_some_and(cluster::is_ready),
        )
        .await
        .map_err(|source| ApplyError::Api {
            module: module.to_string(),
            action: "wait for",
            object: p.object_ref.clone(),
            source,
        })?;
        if ready {
            Ok(())
        } else {
            Err(ApplyError::NotReady {
                module: module.to_string(),
                object: p.object_ref.clone(),
                condition: cluster::readiness_condition(&p.object_ref.kind),
                seconds: self.ready_timeout.as_secs(),
            })
        }
    }
}

fn stage_of(p: &Prepared) -> Stage {
    crate::order::stage_of(&p.object_ref.api_version, &p.object_ref.kind)
}
