//! Applying prepared objects stage by stage: skip what is unchanged, write what differs,
//! recreate on immutable-field errors when allowed, wait for CRDs and Namespaces.

use crate::cluster::{self, Applied};
use crate::engine::Engine;
use crate::error::ApplyError;
use crate::inventory::InventoryEntry;
use crate::objref::ObjectKey;
use crate::order::Stage;
use crate::ownership::{Verdict, adopt_command};
use crate::plan;
use crate::prepare::Prepared;
use crate::report::ApplyReport;
use crate::survey::{Checked, Live, Survey};
use crate::tracker::Seen;
use futures::{StreamExt, stream};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// How one object ended up.
pub(crate) enum Outcome {
    Created,
    Updated,
    Recreated,
    Unchanged,
}

impl Engine {
    /// Applies the prepared objects stage by stage; returns the inventory entries.
    pub async fn apply_stages(
        &self,
        module: &str,
        prepared: &[Prepared],
        recorded: &BTreeMap<ObjectKey, &InventoryEntry>,
        survey: &Survey,
        report: &mut ApplyReport,
    ) -> Result<Vec<InventoryEntry>, ApplyError> {
        let mut entries = Vec::with_capacity(prepared.len());
        for stage in prepared.chunk_by(|a, b| stage_of(a) == stage_of(b)) {
            // Indices, not `&Prepared`: a closure over references makes the future's `Send`
            // unprovable (rust-lang/rust#102211), and callers spawn applies.
            let results: Vec<_> = stream::iter(0..stage.len())
                .map(|i| {
                    let p = &stage[i];
                    let key = p.object_ref.key();
                    self.apply_one(
                        module,
                        p,
                        recorded.get(&key).copied(),
                        survey.live.get(&key),
                        survey.checked.get(&key),
                    )
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
                        let checked = survey.checked.get(&p.object_ref.key());
                        if checked.is_some_and(|c| matches!(c.verdict, Verdict::Adopt(_))) {
                            report.adopted.push(p.object_ref.clone());
                        }
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
    /// on the strength of the drift watch's cache, which knows nothing more). `checked` is the
    /// ownership check's finding, when the object was read for it.
    async fn apply_one(
        &self,
        module: &str,
        p: &Prepared,
        recorded: Option<&InventoryEntry>,
        live: Option<&Live>,
        checked: Option<&Checked>,
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
        let body = body_for(p, checked);
        let action = plan::decide(&p.hash, recorded, live.map(|l| l.rv.as_str()));
        match (action, live) {
            (plan::Action::Skip, Some(live)) => {
                self.note_unchanged(module, p, &live.rv, live.object.as_ref());
                return Ok(unchanged(live));
            }
            // The survey read (or listed) every object it could not vouch for, so an object to
            // dry-run is at hand; without it, the write below decides.
            (
                plan::Action::DryRun,
                Some(Live {
                    object: Some(current),
                    ..
                }),
            ) => {
                let dry =
                    cluster::apply(&self.client, &p.resolved, &p.object_ref, &body, true).await;
                match dry {
                    Ok(dry) if plan::dry_run_is_noop(&dry.object, current) => {
                        let rv = cluster::resource_version(current).unwrap_or_default();
                        self.note_unchanged(module, p, &rv, Some(current));
                        return Ok((Outcome::Unchanged, current.clone()));
                    }
                    // An immutable rejection is handled (and reported) by the real apply.
                    Ok(_) => {}
                    Err(err) if cluster::immutable_message(&err).is_some() => {}
                    Err(err) => return Err(api_error("dry-run apply", err)),
                }
            }
            _ => {}
        }
        let outcome = if live.is_some() {
            Outcome::Updated
        } else {
            Outcome::Created
        };
        self.write(module, p, &body, outcome, checked).await
    }

    fn note_unchanged(&self, module: &str, p: &Prepared, rv: &str, current: Option<&Value>) {
        self.tracker
            .observed(module, &p.object_ref, &p.resolved, rv, current);
    }

    /// The real apply, with delete-and-recreate on immutable-field errors when opted in.
    ///
    /// An object the ownership check found absent must be created by this request (201): if
    /// it existed after all, someone created it after the check, and it is released again
    /// (see [`Engine::release_taken`]).
    async fn write(
        &self,
        module: &str,
        p: &Prepared,
        body: &Value,
        outcome: Outcome,
        checked: Option<&Checked>,
    ) -> Result<(Outcome, Value), ApplyError> {
        let expected_create = checked.is_some_and(|c| c.verdict == Verdict::Absent);
        self.tracker.begin(module, &p.object_ref, &p.resolved);
        let mut result = cluster::apply(&self.client, &p.resolved, &p.object_ref, body, false)
            .await
            .map(|applied| (outcome, applied));
        if let Err(err) = &result
            && let Some(message) = cluster::immutable_message(err)
        {
            // An object expected absent that rejects a change exists and is not ours: never
            // delete it to recreate it.
            result = if p.recreate_on_immutable && !expected_create {
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
        let written = result
            .as_ref()
            .ok()
            .and_then(|(_, a)| Seen::from_value(&a.object));
        self.tracker
            .finish(module, &p.object_ref, &p.resolved, written);
        if let Ok((_, applied)) = &result
            && expected_create
            && !applied.created
        {
            return Err(self.release_taken(module, p, &applied.object).await);
        }
        if let Err(err) = &result
            && cluster::is_not_found(err)
        {
            let gvk = &p.resolved.resource;
            self.discovery.invalidate(&gvk.group, &gvk.version);
        }
        result
            .map(|(outcome, applied)| (outcome, applied.object))
            .map_err(|source| ApplyError::Api {
                module: module.to_string(),
                action: "apply",
                object: p.object_ref.clone(),
                source,
            })
    }

    /// Someone created the object between our ownership check (absent) and our apply, which
    /// then wrote to their object. It must not become ours: the drift watch stops tracking it
    /// and our module label is removed, so no prune or delete of ours will ever touch it (both
    /// require the label). Returns the error reporting it.
    async fn release_taken(&self, module: &str, p: &Prepared, applied: &Value) -> ApplyError {
        self.tracker.forget(&p.object_ref);
        let rv = cluster::resource_version(applied).unwrap_or_default();
        let released = cluster::release(&self.client, &p.resolved, &p.object_ref, &rv).await;
        if let Err(err) = &released {
            tracing::error!(module, object = %p.object_ref, error = %err,
                "cannot remove the module label from an object created by someone else meanwhile");
        }
        ApplyError::CreatedMeanwhile {
            module: module.to_string(),
            object: p.object_ref.clone(),
            command: adopt_command(&p.object_ref, &p.resolved),
            label_removed: released.is_ok(),
        }
    }

    /// Deletes the object, waits until it is gone, applies it again.
    async fn recreate(&self, module: &str, p: &Prepared) -> Result<Applied, kube::Error> {
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

/// The body to send: the prepared object, with the resourceVersion the ownership check read as
/// a precondition (the server answers 409 if the object changed since the check).
fn body_for<'a>(p: &'a Prepared, checked: Option<&Checked>) -> Cow<'a, Value> {
    match checked.and_then(|c| c.rv.as_deref()) {
        Some(rv) => {
            let mut body = p.body.clone();
            body["metadata"]["resourceVersion"] = rv.into();
            Cow::Owned(body)
        }
        None => Cow::Borrowed(&p.body),
    }
}

fn stage_of(p: &Prepared) -> Stage {
    crate::order::stage_of(&p.object_ref.api_version, &p.object_ref.kind)
}
