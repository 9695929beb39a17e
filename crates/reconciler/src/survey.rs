//! Before anything is written: what is live of a module's objects, and whether the module may
//! write each of them (one owner per object, adoption only when told).
//!
//! Objects the module's live view vouches for need no request: listed by the module's label,
//! or seen by the drift watch at the very resourceVersion our last apply left. Every other
//! object (not in the inventory yet, listed only as pending, missing from the module's live view,
//! or written by someone since our apply) is read once and judged by [`judge`]; the read also
//! serves the dry-run that would otherwise fetch it. A refusal ends the apply before the pending
//! inventory is written, so a refused object never enters the inventory.

use crate::cluster;
use crate::engine::Engine;
use crate::error::ApplyError;
use crate::inventory::InventoryEntry;
use crate::objref::ObjectKey;
use crate::ownership::{ClaimGuard, Claims, Verdict, adopt_command, judge};
use crate::prepare::Prepared;
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What is known of a live object before applying: its resourceVersion, and the object itself
/// when it was listed or read (from the drift watch's cache only the resourceVersion is known).
#[derive(Debug, Clone)]
pub struct Live {
    /// `metadata.resourceVersion`.
    pub rv: String,
    /// The object, if listed or read.
    pub object: Option<Value>,
}

/// An object read just before the apply, and what it was found to be.
#[derive(Debug, Clone)]
pub struct Checked {
    /// [`Verdict::Absent`], [`Verdict::Ours`] or [`Verdict::Adopt`]: refusals end the apply.
    pub verdict: Verdict,
    /// The resourceVersion read (`None` when absent). Writes carry it as a precondition, so an
    /// object changed between the check and the write is not written (409).
    pub rv: Option<String>,
}

/// What the apply knows before writing.
#[derive(Debug, Default)]
pub struct Survey {
    /// Live objects by identity; objects known to be absent are missing.
    pub live: HashMap<ObjectKey, Live>,
    /// Objects read for the ownership check.
    pub checked: HashMap<ObjectKey, Checked>,
}

impl Engine {
    /// Surveys the module's rendered objects: their live state (`observe`: skipped on a module's
    /// first apply, when nothing recorded could be compared with it) and, for every object the
    /// live view does not vouch for, a read and an ownership verdict. Returns the survey and the
    /// claims on the checked objects, held until the apply ends.
    ///
    /// # Errors
    /// [`ApplyError::OwnedByOtherModule`], [`ApplyError::NotAdopted`] (all refusals at once, in
    /// [`ApplyError::Objects`] when several), or [`ApplyError::Api`] when a list or read fails.
    pub async fn survey(
        &self,
        module: &str,
        operator_namespace: &str,
        prepared: &[Prepared],
        recorded: &BTreeMap<ObjectKey, &InventoryEntry>,
        observe: bool,
        claims: &Arc<Claims>,
    ) -> Result<(Survey, ClaimGuard), ApplyError> {
        let mut live = if observe {
            self.observe(module, prepared).await?
        } else {
            HashMap::new()
        };
        let to_check: Vec<&Prepared> = prepared
            .iter()
            .filter(|p| {
                let key = p.object_ref.key();
                !vouched_for(recorded.get(&key).copied(), live.get(&key))
            })
            .collect();
        let (guard, taken) = claims.claim(module, to_check.iter().map(|p| p.object_ref.key()));
        let taken: HashMap<ObjectKey, String> = taken.into_iter().collect();
        let to_read: Vec<&Prepared> = to_check
            .iter()
            .copied()
            .filter(|p| !taken.contains_key(&p.object_ref.key()))
            .collect();
        // Indices, not `&Prepared`: see `apply_stages`.
        let reads: HashMap<ObjectKey, Option<Value>> = stream::iter(0..to_read.len())
            .map(|i| self.read_for_check(module, to_read[i]))
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut checked = HashMap::new();
        let mut refused = Vec::new();
        for p in to_check {
            let key = p.object_ref.key();
            let refuse_for = |owner: &str| ApplyError::OwnedByOtherModule {
                module: module.to_string(),
                object: p.object_ref.clone(),
                owner: owner.to_string(),
            };
            let Some(object) = reads.get(&key) else {
                if let Some(owner) = taken.get(&key) {
                    refused.push(refuse_for(owner));
                }
                continue;
            };
            let applied = recorded.get(&key).is_some_and(|e| e.hash.is_some());
            match judge(module, operator_namespace, object.as_ref(), applied) {
                Verdict::OwnedBy(owner) => refused.push(refuse_for(&owner)),
                Verdict::NotAdopted => refused.push(ApplyError::NotAdopted {
                    module: module.to_string(),
                    object: p.object_ref.clone(),
                    command: adopt_command(&p.object_ref, &p.resolved),
                }),
                verdict => {
                    let rv = object.as_ref().and_then(cluster::resource_version);
                    match object {
                        Some(object) => live.insert(
                            key.clone(),
                            Live {
                                rv: rv.clone().unwrap_or_default(),
                                object: Some(object.clone()),
                            },
                        ),
                        None => live.remove(&key),
                    };
                    checked.insert(key, Checked { verdict, rv });
                }
            }
        }
        match refused.len() {
            0 => Ok((Survey { live, checked }, guard)),
            1 => Err(refused.remove(0)),
            _ => Err(ApplyError::Objects {
                module: module.to_string(),
                errors: refused,
            }),
        }
    }

    /// Reads one object for the ownership check (`None`: absent).
    async fn read_for_check(
        &self,
        module: &str,
        p: &Prepared,
    ) -> Result<(ObjectKey, Option<Value>), ApplyError> {
        cluster::get(&self.client, &p.resolved, &p.object_ref)
            .await
            .map(|object| (p.object_ref.key(), object))
            .map_err(|source| ApplyError::Api {
                module: module.to_string(),
                action: "read (ownership check)",
                object: p.object_ref.clone(),
                source,
            })
    }

    /// Lists the module's objects of one resource (by the module's label).
    async fn list_for_observe<'p>(
        &self,
        module: &str,
        p: &'p Prepared,
    ) -> Result<(&'p Prepared, Vec<Value>), ApplyError> {
        cluster::list_owned(&self.client, &p.resolved, module)
            .await
            .map(|items| (p, items))
            .map_err(|source| ApplyError::Api {
                module: module.to_string(),
                action: "list",
                object: p.object_ref.clone(),
                source,
            })
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
        // Indices, not `&Prepared`: see `apply_stages`.
        let lists = stream::iter(0..to_list.len())
            .map(|i| {
                let p = to_list[i];
                self.list_for_observe(module, p)
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
}

/// Whether the module's live view proves the object is the module's, so no read is needed:
/// it was listed by the module's label (the object is known), or the drift watch sees it at the
/// resourceVersion our last apply left (nobody has written it since, so our label is on it).
fn vouched_for(recorded: Option<&InventoryEntry>, live: Option<&Live>) -> bool {
    let Some(live) = live else {
        return false;
    };
    live.object.is_some()
        || recorded.is_some_and(|e| {
            e.hash.is_some() && e.resource_version.as_deref() == Some(live.rv.as_str())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objref::ObjectRef;

    fn entry(hash: Option<&str>, rv: Option<&str>) -> InventoryEntry {
        InventoryEntry {
            object: ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("ns".into()),
                name: "c".into(),
            },
            hash: hash.map(Into::into),
            resource_version: rv.map(Into::into),
        }
    }

    fn cached(rv: &str) -> Live {
        Live {
            rv: rv.into(),
            object: None,
        }
    }

    #[test]
    fn listed_objects_and_objects_untouched_since_our_apply_need_no_read() {
        let listed = Live {
            rv: "9".into(),
            object: Some(serde_json::json!({})),
        };
        assert!(vouched_for(None, Some(&listed)));
        let applied = entry(Some("h"), Some("5"));
        assert!(vouched_for(Some(&applied), Some(&cached("5"))));
    }

    #[test]
    fn new_pending_missing_or_foreign_written_objects_are_read() {
        let applied = entry(Some("h"), Some("5"));
        assert!(!vouched_for(Some(&applied), None), "missing from the view");
        assert!(
            !vouched_for(Some(&applied), Some(&cached("6"))),
            "written since"
        );
        let pending = entry(None, None);
        assert!(!vouched_for(Some(&pending), Some(&cached("5"))));
        assert!(
            !vouched_for(None, Some(&cached("5"))),
            "not in the inventory"
        );
    }
}
