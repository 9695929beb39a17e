//! The object store: objects per resource, one global resourceVersion counter, and the
//! bounded event history that watches replay from.
//!
//! All mutation goes through [`Store::put`] and [`Store::remove`], which bump the counter,
//! record the event and broadcast it, so watch streams and the history can never disagree.

use crate::meta;
use crate::resources::{Registry, ResKey};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
    /// The resource itself stopped being served (its CRD was deleted): watches on it end.
    ResourceRemoved,
}

/// One change, as recorded in the history and broadcast to watches.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// Which resource.
    pub key: ResKey,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for Deleted: the last state, with the new rv).
    pub object: Arc<Value>,
    /// The object before the change (Modified only), so selector watches can tell
    /// "stopped matching" (→ DELETED) from "started matching" (→ ADDED).
    pub old: Option<Arc<Value>>,
}

/// Events after a resourceVersion, and the receiver for the ones that follow.
pub type Subscription = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

/// (namespace, name); namespace is "" for cluster-scoped objects.
pub type ObjKey = (String, String);

/// Objects, the registry, the counter and the history, behind one lock.
#[derive(Debug)]
pub struct Store {
    /// Served resources (built-ins plus CRDs).
    pub registry: Registry,
    rv: u64,
    /// Shared with the history: an unchanged object is never copied.
    objects: HashMap<ResKey, BTreeMap<ObjKey, Arc<Value>>>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    compacted: u64,
    tx: broadcast::Sender<Arc<Event>>,
    /// Bumped on every change; the persistence writer watches it.
    pub changes: u64,
    /// Whether workload status is simulated ([`crate::Config::simulate_workloads`]).
    pub simulate_workloads: bool,
    /// Owner uid → its dependents, kept in step with `objects` (garbage collection).
    owners: HashMap<String, BTreeSet<(ResKey, ObjKey)>>,
    /// Namespace → number of objects in it (namespace termination).
    per_namespace: HashMap<String, usize>,
}

/// The ownerReference uids of an object.
fn owner_uids(obj: &Value) -> Vec<String> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Store {
    /// An empty store keeping `history_limit` events for watch resumption.
    pub fn new(history_limit: usize) -> Store {
        let (tx, _) = broadcast::channel(history_limit.clamp(1024, 65_536));
        Store {
            registry: Registry::builtin(),
            rv: 1,
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 1,
            tx,
            changes: 0,
            simulate_workloads: false,
            owners: HashMap::new(),
            per_namespace: HashMap::new(),
        }
    }

    /// The current (latest) resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// Restores the counter (persistence); history restarts there.
    pub fn set_rv(&mut self, rv: u64) {
        self.rv = rv.max(self.rv);
        self.compacted = self.rv;
    }

    /// One object.
    pub fn get(&self, key: &ResKey, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
            .map(Arc::as_ref)
    }

    /// Objects of a resource in `ns` (all namespaces when `None`), sorted by (namespace, name).
    pub fn list<'a>(
        &'a self,
        key: &ResKey,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.list_after(key, ns, None)
    }

    /// [`Store::list`] from just after the key `after` (a page's last object).
    ///
    /// # Guarantees
    /// The walk starts at the first object it yields, found by a range search: it never
    /// visits the objects of other namespaces or those before `after`, so reading a list
    /// page by page costs the size of the list once, not once per page.
    pub fn list_after<'a>(
        &'a self,
        key: &ResKey,
        ns: Option<&'a str>,
        after: Option<&ObjKey>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        let first = ns.map(|n| (n.to_string(), String::new()));
        let start = match (after, first) {
            (Some(after), Some(first)) if *after < first => Bound::Included(first),
            (Some(after), _) => Bound::Excluded(after.clone()),
            (None, Some(first)) => Bound::Included(first),
            (None, None) => Bound::Unbounded,
        };
        self.objects
            .get(key)
            .map(|m| m.range((start, Bound::Unbounded)))
            .into_iter()
            .flatten()
            .take_while(move |((ons, _), _)| ns.is_none_or(|n| n == ons))
            .map(|(_, v)| v.as_ref())
    }

    /// Every stored (resource, object) pair, for persistence and garbage collection.
    pub fn all(&self) -> impl Iterator<Item = (&ResKey, &Value)> {
        self.objects
            .iter()
            .flat_map(|(k, m)| m.values().map(move |v| (k, v.as_ref())))
    }

    /// Stores `obj` under a new resourceVersion (set in the object) and emits ADDED or MODIFIED.
    pub fn put(&mut self, key: &ResKey, mut obj: Value) -> Value {
        self.rv += 1;
        let rv = self.rv;
        meta::metadata_mut(&mut obj)
            .insert("resourceVersion".into(), Value::String(rv.to_string()));
        let okey = (
            meta::meta_str(&obj, "namespace").to_string(),
            meta::meta_str(&obj, "name").to_string(),
        );
        let shared = Arc::new(obj);
        let old = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert(okey.clone(), shared.clone());
        self.reindex(key, &okey, old.as_deref(), Some(&shared));
        let kind = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.emit(Event {
            rv,
            key: key.clone(),
            kind,
            object: shared.clone(),
            old,
        });
        Arc::unwrap_or_clone(shared)
    }

    /// Loads an object as-is (persistence), without an event.
    pub fn load(&mut self, key: &ResKey, obj: Value) {
        let okey = (
            meta::meta_str(&obj, "namespace").to_string(),
            meta::meta_str(&obj, "name").to_string(),
        );
        let obj = Arc::new(obj);
        let old = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert(okey.clone(), obj.clone());
        self.reindex(key, &okey, old.as_deref(), Some(&obj));
    }

    /// Removes an object, emitting DELETED carrying a new resourceVersion.
    pub fn remove(&mut self, key: &ResKey, ns: &str, name: &str) -> Option<Value> {
        let okey = (ns.to_string(), name.to_string());
        let mut obj = Arc::unwrap_or_clone(self.objects.get_mut(key)?.remove(&okey)?);
        self.reindex(key, &okey, Some(&obj), None);
        self.rv += 1;
        let rv = self.rv;
        meta::metadata_mut(&mut obj)
            .insert("resourceVersion".into(), Value::String(rv.to_string()));
        self.emit(Event {
            rv,
            key: key.clone(),
            kind: EventType::Deleted,
            object: Arc::new(obj.clone()),
            old: None,
        });
        Some(obj)
    }

    /// Drops every remaining object of a resource without events and ends the watches on
    /// it (its CRD is gone).
    pub fn drop_resource(&mut self, key: &ResKey) {
        for (okey, obj) in self.objects.remove(key).unwrap_or_default() {
            self.reindex(key, &okey, Some(&obj), None);
        }
        self.emit(Event {
            rv: self.rv,
            key: key.clone(),
            kind: EventType::ResourceRemoved,
            object: Arc::new(Value::Null),
            old: None,
        });
    }

    /// Keeps the owner and namespace indexes in step with one object's change.
    fn reindex(&mut self, key: &ResKey, okey: &ObjKey, old: Option<&Value>, new: Option<&Value>) {
        let entry = (key.clone(), okey.clone());
        for uid in old.map(owner_uids).unwrap_or_default() {
            if let Some(set) = self.owners.get_mut(&uid) {
                set.remove(&entry);
                if set.is_empty() {
                    self.owners.remove(&uid);
                }
            }
        }
        for uid in new.map(owner_uids).unwrap_or_default() {
            self.owners.entry(uid).or_default().insert(entry.clone());
        }
        if okey.0.is_empty() {
            return;
        }
        match (old.is_some(), new.is_some()) {
            (false, true) => *self.per_namespace.entry(okey.0.clone()).or_default() += 1,
            (true, false) => {
                if let Some(n) = self.per_namespace.get_mut(&okey.0) {
                    *n = n.saturating_sub(1);
                }
            }
            _ => {}
        }
    }

    /// The objects whose ownerReferences name `uid`, as (resource, namespace, name).
    pub fn dependents(&self, uid: &str) -> Vec<(ResKey, String, String)> {
        self.owners
            .get(uid)
            .map(|set| {
                set.iter()
                    .map(|(k, (ns, name))| (k.clone(), ns.clone(), name.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many objects live in namespace `ns`.
    pub fn namespace_len(&self, ns: &str) -> usize {
        self.per_namespace.get(ns).copied().unwrap_or(0)
    }

    fn emit(&mut self, event: Event) {
        let event = Arc::new(event);
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        self.changes += 1;
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(event);
    }

    /// Events after `rv` (oldest first) plus a receiver for later ones, atomically, or
    /// `Err(oldest)` when `rv` is older than the retained history.
    pub fn subscribe_from(&self, rv: u64) -> Result<Subscription, u64> {
        if rv < self.compacted {
            return Err(self.compacted);
        }
        let past = self.history.iter().filter(|e| e.rv > rv).cloned().collect();
        Ok((past, self.tx.subscribe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> ResKey {
        ("".into(), "configmaps".into())
    }

    #[test]
    fn every_change_should_bump_the_global_counter_and_be_replayable() {
        let mut s = Store::new(10);
        let a = s.put(&key(), json!({"metadata": {"name": "a", "namespace": "d"}}));
        let b = s.put(&key(), json!({"metadata": {"name": "a", "namespace": "d"}}));
        assert_eq!(meta::meta_str(&a, "resourceVersion"), "2");
        assert_eq!(meta::meta_str(&b, "resourceVersion"), "3");
        s.remove(&key(), "d", "a");
        let (past, _) = s.subscribe_from(2).unwrap();
        let kinds: Vec<_> = past.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventType::Modified, EventType::Deleted]);
    }

    #[test]
    fn owner_and_namespace_indexes_should_follow_changes() {
        let mut s = Store::new(10);
        let owned = |uid: &str| json!({"metadata": {"name": "a", "namespace": "d", "ownerReferences": [{"uid": uid}]}});
        s.put(&key(), owned("u1"));
        assert_eq!(s.dependents("u1").len(), 1);
        assert_eq!(s.namespace_len("d"), 1);
        s.put(&key(), owned("u2"));
        assert!(s.dependents("u1").is_empty());
        assert_eq!(s.dependents("u2")[0].2, "a");
        assert_eq!(s.namespace_len("d"), 1);
        s.remove(&key(), "d", "a");
        assert!(s.dependents("u2").is_empty());
        assert_eq!(s.namespace_len("d"), 0);
    }

    #[test]
    fn listing_after_a_key_should_start_there_and_stay_in_the_namespace() {
        let mut s = Store::new(10);
        for ns in ["a", "b", "c"] {
            for name in ["x", "y", "z"] {
                s.put(&key(), json!({"metadata": {"name": name, "namespace": ns}}));
            }
        }
        let names = |ns: Option<&str>, after: Option<(&str, &str)>| -> Vec<String> {
            let after = after.map(|(n, m)| (n.to_string(), m.to_string()));
            s.list_after(&key(), ns, after.as_ref())
                .map(|o| {
                    format!(
                        "{}/{}",
                        meta::meta_str(o, "namespace"),
                        meta::meta_str(o, "name")
                    )
                })
                .collect()
        };
        assert_eq!(names(Some("b"), None), ["b/x", "b/y", "b/z"]);
        assert_eq!(names(Some("b"), Some(("b", "x"))), ["b/y", "b/z"]);
        assert_eq!(names(Some("b"), Some(("a", "z"))), ["b/x", "b/y", "b/z"]);
        assert!(names(Some("b"), Some(("c", "a"))).is_empty());
        assert!(names(Some("d"), None).is_empty());
        assert_eq!(names(None, Some(("b", "z"))), ["c/x", "c/y", "c/z"]);
        assert_eq!(names(None, None).len(), 9);
    }

    #[test]
    fn resuming_before_the_retained_history_should_fail() {
        let mut s = Store::new(2);
        for i in 0..5 {
            s.put(
                &key(),
                json!({"metadata": {"name": format!("n{i}"), "namespace": "d"}}),
            );
        }
        assert!(s.subscribe_from(2).is_err());
        assert!(s.subscribe_from(s.current_rv() - 1).is_ok());
    }
}
